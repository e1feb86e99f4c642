/*
 * epoll over netcore sockets. The program's epoll set really holds our eventfd (EPOLLIN,
 * keeping the program's EPOLLET/EPOLLONESHOT), tagged so epoll_wait can tell it apart; the
 * program's own events and data live in a registry here. While registered, the socket
 * counts a waiter for those events, so the netstack signals the eventfd on every transition
 * into readiness. epoll_wait drains the eventfd, reads the real state and reports it; when
 * the socket is still ready it signals again, which keeps level-triggered sets (and other
 * sets watching the same socket) reporting it.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

#define TAG (0x6e63ULL << 48) /* no user-space pointer has these top bits */
#define BUCKETS 1024

struct reg {
    struct reg *next;
    int epfd, fd, h;
    uint32_t events; /* the program's */
    epoll_data_t data;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct reg *table[BUCKETS];
static int nregs;

static struct reg **find(int epfd, int fd)
{
    struct reg **pp = &table[(unsigned)fd % BUCKETS];
    while (*pp != NULL && !((*pp)->epfd == epfd && (*pp)->fd == fd))
        pp = &(*pp)->next;
    return pp;
}

static void signal_fd(int fd)
{
    uint64_t one = 1;
    (void)syscall(SYS_write, fd, &one, sizeof(one));
}

static void drain(int fd)
{
    uint64_t v;
    (void)syscall(SYS_read, fd, &v, sizeof(v));
}

static unsigned poll_bits(uint32_t ev)
{
    return ev & (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI);
}

int epoll_create(int size)
{
    return LIBC(epoll_create)(size);
}

int epoll_create1(int flags)
{
    return LIBC(epoll_create1)(flags);
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    int h;
    if (nc__in_stack_thread || (h = nc__fd_handle(fd)) < 0)
        return LIBC(epoll_ctl)(epfd, op, fd, ev);
    if (op != EPOLL_CTL_DEL && ev == NULL) {
        errno = EFAULT;
        return -1;
    }
    struct epoll_event kev = { 0 };
    if (ev != NULL) {
        kev.events = EPOLLIN | (ev->events & (EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE));
        kev.data.u64 = TAG | (uint32_t)fd;
    }
    pthread_mutex_lock(&mu);
    int rc = LIBC(epoll_ctl)(epfd, op, fd, &kev);
    if (rc == 0) {
        struct reg **pp = find(epfd, fd);
        struct reg *r = *pp;
        if (op == EPOLL_CTL_DEL) {
            if (r != NULL) {
                *pp = r->next;
                netcore_want(nc_stack, r->h, poll_bits(r->events), -1);
                free(r);
                nregs--;
            }
        } else {
            if (r == NULL) {
                r = calloc(1, sizeof(*r));
                if (r == NULL) {
                    LIBC(epoll_ctl)(epfd, EPOLL_CTL_DEL, fd, NULL);
                    pthread_mutex_unlock(&mu);
                    errno = ENOMEM;
                    return -1;
                }
                r->epfd = epfd;
                r->fd = fd;
                r->next = table[(unsigned)fd % BUCKETS];
                table[(unsigned)fd % BUCKETS] = r;
                nregs++;
            } else {
                netcore_want(nc_stack, r->h, poll_bits(r->events), -1);
            }
            r->h = h;
            r->events = ev->events;
            r->data = ev->data;
            netcore_want(nc_stack, h, poll_bits(r->events), +1);
            /* Already ready: make the set see it now, not at the next transition. */
            if (nc__ready(h, poll_bits(r->events) | EPOLLERR | EPOLLHUP) != 0)
                signal_fd(fd);
        }
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

void nc__epoll_forget_fd(int fd)
{
    if (nregs == 0)
        return;
    pthread_mutex_lock(&mu);
    for (int b = 0; b < BUCKETS; b++) {
        struct reg **pp = &table[b];
        while (*pp != NULL) {
            struct reg *r = *pp;
            if (r->fd == fd || r->epfd == fd) {
                *pp = r->next;
                netcore_want(nc_stack, r->h, poll_bits(r->events), -1);
                free(r);
                nregs--;
            } else {
                pp = &r->next;
            }
        }
    }
    pthread_mutex_unlock(&mu);
}

/* Rewrites tagged events in place into what the program registered; returns the count. */
static int translate(int epfd, struct epoll_event *evs, int n)
{
    int out = 0;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < n; i++) {
        if ((evs[i].data.u64 & 0xffff000000000000ULL) != TAG) {
            evs[out++] = evs[i];
            continue;
        }
        int fd = (int)(uint32_t)evs[i].data.u64;
        struct reg *r = *find(epfd, fd);
        if (r == NULL)
            continue;
        drain(fd);
        unsigned want = poll_bits(r->events) | EPOLLERR | EPOLLHUP;
        unsigned got = nc__ready(r->h, want) & want;
        if (got == 0)
            continue;
        if (!(r->events & EPOLLONESHOT))
            signal_fd(fd); /* still ready: level-triggered sets report it again */
        evs[out].events = got;
        evs[out].data = r->data;
        out++;
    }
    pthread_mutex_unlock(&mu);
    return out;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout, const sigset_t *mask)
{
    if (nc__in_stack_thread || nc_stack == NULL)
        return LIBC(epoll_pwait)(epfd, evs, max, timeout, mask);
    int64_t deadline = timeout >= 0 ? now_ms() + timeout : -1;
    for (;;) {
        int left = timeout;
        if (deadline >= 0) {
            int64_t d = deadline - now_ms();
            left = d > 0 ? (int)d : 0;
        }
        int n = LIBC(epoll_pwait)(epfd, evs, max, left, mask);
        if (n <= 0)
            return n;
        n = translate(epfd, evs, n);
        if (n > 0 || left == 0)
            return n;
    }
}

int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
    return epoll_pwait(epfd, evs, max, timeout, NULL);
}
