/*
 * epoll over netcore sockets. Each registration of a netcore socket in an epoll set gets an
 * eventfd of its own (a "watch" in the core): the kernel's epoll set holds that eventfd
 * (EPOLLIN, with the program's EPOLLET/EPOLLONESHOT), tagged so epoll_wait can tell it apart,
 * and the program's own events and data live in a registry here. The netstack signals the
 * watch on every change into a state the registration asked for. epoll_wait drains it,
 * reads the real state and reports that; a level-triggered registration that is still ready
 * is signalled again so it keeps being reported. Separate eventfds keep sets independent:
 * draining one never hides an edge from another.
 *
 * A kernel fd is the kernel's business, except when the program's data for it carries the
 * tag in its top bits (any 64-bit value may: a counter, a hash, a pointer's bits): it is
 * then registered with the tag too, and its data kept here as an "alias" registration
 * (wfd -1), so that epoll_wait can give it back rather than take it for one of ours.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

#define TAG (0x6e63ULL << 48)
#define TAG_MASK 0xffff000000000000ULL
#define BUCKETS 1024

struct reg {
    struct reg *next;
    int epfd, fd, h;
    int wfd;         /* this registration's eventfd, in the kernel's epoll set; -1: alias */
    uint32_t events; /* the program's */
    epoll_data_t data;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct reg *table[BUCKETS];
static int nregs;
/* Registrations per fd, as a socket or as an epoll set, so close() of anything else does
 * not have to search (fds beyond the array are searched). */
#define MARKS NC_FD_MAX
static _Atomic unsigned short marks[MARKS];

static void mark(int fd, int delta)
{
    if (fd >= 0 && fd < MARKS)
        atomic_fetch_add(&marks[fd], (unsigned short)delta);
}

static struct reg **find(int epfd, int fd)
{
    struct reg **pp = &table[(unsigned)fd % BUCKETS];
    while (*pp != NULL && !((*pp)->epfd == epfd && (*pp)->fd == fd))
        pp = &(*pp)->next;
    return pp;
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

static struct reg *new_reg(int epfd, int fd)
{
    struct reg *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->epfd = epfd;
    r->fd = fd;
    r->next = table[(unsigned)fd % BUCKETS];
    table[(unsigned)fd % BUCKETS] = r;
    nregs++;
    mark(fd, +1);
    mark(epfd, +1);
    return r;
}

static void drop(struct reg **pp)
{
    struct reg *r = *pp;
    *pp = r->next;
    if (r->wfd >= 0) {
        netcore_unwatch(nc_stack, r->h, r->wfd);
        LIBC(close)(r->wfd); /* also leaves the kernel's epoll set */
    }
    mark(r->fd, -1);
    mark(r->epfd, -1);
    free(r);
    nregs--;
}

/*
 * A socket not registered in epfd: ENOENT, unless epfd is no epoll set at all (EBADF,
 * EINVAL). The kernel answers that itself: the program's fd is never in a set (its
 * registration's eventfd is).
 */
static int missing(int epfd, int op, int fd, struct epoll_event *ev)
{
    return LIBC(epoll_ctl)(epfd, op, fd, ev) < 0 ? -errno : -ENOENT;
}

static int ctl(int epfd, int op, int fd, int h, struct epoll_event *ev)
{
    struct reg **pp = find(epfd, fd);
    struct reg *r = *pp;
    if (op == EPOLL_CTL_DEL) {
        if (r == NULL)
            return missing(epfd, op, fd, ev);
        drop(pp);
        return 0;
    }
    if (op != EPOLL_CTL_ADD && op != EPOLL_CTL_MOD)
        return -EINVAL;
    if (ev == NULL)
        return -EFAULT;
    if (op == EPOLL_CTL_ADD && r != NULL)
        return -EEXIST;
    if (op == EPOLL_CTL_MOD && r == NULL)
        return missing(epfd, op, fd, ev);
    struct epoll_event kev = {
        .events = EPOLLIN | (ev->events & (EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE)),
        .data.u64 = TAG | (uint32_t)fd,
    };
    if (op == EPOLL_CTL_MOD) {
        if (LIBC(epoll_ctl)(epfd, EPOLL_CTL_MOD, r->wfd, &kev) < 0)
            return -errno;
    } else {
        int wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (wfd == epfd) { /* took the lowest free number: epfd was not open */
            LIBC(close)(wfd);
            return -EBADF;
        }
        if (wfd < 0 || LIBC(epoll_ctl)(epfd, EPOLL_CTL_ADD, wfd, &kev) < 0) {
            int e = errno;
            if (wfd >= 0)
                LIBC(close)(wfd);
            return -e;
        }
        r = new_reg(epfd, fd);
        if (r == NULL) {
            LIBC(close)(wfd);
            return -ENOMEM;
        }
        r->wfd = wfd;
        r->h = h;
    }
    r->events = ev->events;
    r->data = ev->data;
    return netcore_watch(nc_stack, h, r->wfd, poll_bits(r->events));
}

/*
 * A kernel fd whose data has the tag (alias), or whose alias is withdrawn (EPOLL_CTL_DEL, or
 * EPOLL_CTL_MOD to other data): the kernel's own call, with the tag and fd as data for an
 * alias, and the registry kept in step with what the kernel accepted. Caller holds mu.
 */
static int ctl_alias(int epfd, int op, int fd, struct epoll_event *ev)
{
    bool alias = op != EPOLL_CTL_DEL && ev != NULL && (ev->data.u64 & TAG_MASK) == TAG;
    struct epoll_event kev;
    if (alias)
        kev = (struct epoll_event){ .events = ev->events, .data.u64 = TAG | (uint32_t)fd };
    if (LIBC(epoll_ctl)(epfd, op, fd, alias ? &kev : ev) < 0)
        return -errno;
    struct reg **pp = find(epfd, fd);
    if (!alias) {
        if (*pp != NULL)
            drop(pp);
        return 0;
    }
    struct reg *r = *pp != NULL ? *pp : new_reg(epfd, fd);
    if (r == NULL) {
        LIBC(epoll_ctl)(epfd, EPOLL_CTL_DEL, fd, NULL);
        return -ENOMEM;
    }
    r->wfd = -1;
    r->h = -1;
    r->events = ev->events;
    r->data = ev->data;
    return 0;
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    int h;
    if (nc__in_stack_thread)
        return LIBC(epoll_ctl)(epfd, op, fd, ev);
    if ((h = nc__fd_handle(fd)) < 0) {
        /* Only tagged data, or an alias that may be withdrawn, needs more than the kernel. */
        bool tagged = (op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD) && ev != NULL &&
                      (ev->data.u64 & TAG_MASK) == TAG;
        bool withdraw = (op == EPOLL_CTL_DEL || op == EPOLL_CTL_MOD) && nc__epoll_known(fd);
        if (!tagged && !withdraw)
            return LIBC(epoll_ctl)(epfd, op, fd, ev);
        nc__mutex_lock(&mu);
        int rc = ctl_alias(epfd, op, fd, ev);
        nc__mutex_unlock(&mu);
        return (int)nc__ret(rc);
    }
    if (epfd == fd)
        return (int)nc__ret(-EINVAL);
    nc__mutex_lock(&mu);
    int rc = ctl(epfd, op, fd, h, ev);
    nc__mutex_unlock(&mu);
    return (int)nc__ret(rc);
}

/*
 * A forked child: the registrations are of the parent's sockets (core/fork.c). Forget them;
 * closing the child's copies of their eventfds leaves the parent's epoll sets as they are
 * (an fd leaves an epoll set only when its last copy is closed).
 */
void nc__epoll_atfork_child(void)
{
    pthread_mutex_init(&mu, NULL); /* another thread may have held it at fork */
    for (int b = 0; b < BUCKETS; b++) {
        struct reg **pp = &table[b];
        while (*pp != NULL) {
            struct reg *r = *pp;
            if (r->wfd < 0) { /* an alias: the kernel fd and the set are the child's too */
                pp = &r->next;
                continue;
            }
            *pp = r->next;
            nc__raw_syscall(SYS_close, r->wfd);
            mark(r->fd, -1);
            mark(r->epfd, -1);
            free(r);
            nregs--;
        }
    }
}

bool nc__epoll_known(int fd)
{
    return nregs != 0 && (fd < 0 || fd >= MARKS || atomic_load(&marks[fd]) != 0);
}

void nc__epoll_handoff(int fd)
{
    if (nregs == 0 || (fd >= 0 && fd < MARKS && atomic_load(&marks[fd]) == 0))
        return;
    nc__mutex_lock(&mu);
    struct reg **pp = &table[(unsigned)fd % BUCKETS];
    while (*pp != NULL) {
        struct reg *r = *pp;
        if (r->fd != fd) {
            pp = &r->next;
            continue;
        }
        /* The kernel's own epoll now watches the socket: same set, events and data, so a
         * connect under way or a reply to a first datagram is reported as before. */
        struct epoll_event ev = { .events = r->events, .data = r->data };
        (void)LIBC(epoll_ctl)(r->epfd, EPOLL_CTL_ADD, fd, &ev);
        drop(pp);
    }
    nc__mutex_unlock(&mu);
}

void nc__epoll_forget_fd(int fd)
{
    if (nregs == 0 || (fd >= 0 && fd < MARKS && atomic_load(&marks[fd]) == 0))
        return;
    nc__mutex_lock(&mu);
    for (int b = 0; b < BUCKETS; b++) {
        struct reg **pp = &table[b];
        while (*pp != NULL) {
            if ((*pp)->fd == fd || (*pp)->epfd == fd)
                drop(pp);
            else
                pp = &(*pp)->next;
        }
    }
    nc__mutex_unlock(&mu);
}

/* Rewrites tagged events in place into what the program registered; returns the count.
 * Events without the tag (a program's kernel fds) are counted without the lock. */
static int translate(int epfd, struct epoll_event *evs, int n)
{
    int out = 0;
    while (out < n && (evs[out].data.u64 & TAG_MASK) != TAG)
        out++;
    if (out == n)
        return n;
    nc__mutex_lock(&mu);
    for (int i = out; i < n; i++) {
        if ((evs[i].data.u64 & TAG_MASK) != TAG) {
            evs[out++] = evs[i];
            continue;
        }
        int fd = (int)(uint32_t)evs[i].data.u64;
        struct reg *r = *find(epfd, fd);
        if (r == NULL)
            continue;
        if (r->wfd < 0) { /* an alias: the kernel's events, the program's data */
            evs[out].events = evs[i].events;
            evs[out++].data = r->data;
            continue;
        }
        nc__efd_drain(r->wfd);
        unsigned want = poll_bits(r->events) | EPOLLERR | EPOLLHUP;
        unsigned got = nc__ready(r->h, want) & want;
        if (got == 0) {
            if (r->events & EPOLLONESHOT) {
                /* The kernel disarmed the watch on this stale wake-up; the program cannot
                 * know it must re-arm, so we do. */
                struct epoll_event kev = { .events = EPOLLIN | EPOLLONESHOT |
                                                     (r->events & EPOLLET),
                                           .data.u64 = TAG | (uint32_t)fd };
                LIBC(epoll_ctl)(epfd, EPOLL_CTL_MOD, r->wfd, &kev);
            }
            continue;
        }
        if (!(r->events & (EPOLLONESHOT | EPOLLET)))
            nc__efd_signal(r->wfd); /* still ready: level-triggered sets report it again */
        evs[out].events = got;
        evs[out].data = r->data;
        out++;
    }
    nc__mutex_unlock(&mu);
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
    if (nc__in_stack_thread || (nc_stack == NULL && nregs == 0))
        return LIBC(epoll_pwait)(epfd, evs, max, timeout, mask);
    int64_t deadline = timeout > 0 ? now_ms() + timeout : -1; /* 0: no clock to read */
    for (;;) {
        int left = timeout;
        if (deadline >= 0) {
            int64_t d = deadline - now_ms();
            left = d > 0 ? (int)d : 0;
        }
        bool sleeps = nc_stack != NULL && left != 0;
        if (sleeps)
            nc__devwatch_idle(nc_stack, +1);
        int n = LIBC(epoll_pwait)(epfd, evs, max, left, mask);
        if (sleeps) {
            int e = errno;
            nc__devwatch_idle(nc_stack, -1);
            errno = e;
        } else if (n == 0 && nc_stack != NULL) {
            nc__devwatch_claim(nc_stack); /* nothing yet: it comes through the device */
        }
        if (n <= 0)
            return n;
        n = translate(epfd, evs, n);
        if (n == 0 && left == 0 && nc_stack != NULL)
            nc__devwatch_claim(nc_stack); /* only stale wake-ups: as above */
        if (n > 0 || left == 0)
            return n;
    }
}

int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
    return epoll_pwait(epfd, evs, max, timeout, NULL);
}

/* epoll_pwait with a timespec (glibc 2.35+): the same wait, its timeout rounded up to whole
 * milliseconds so that it never ends early. */
int epoll_pwait2(int epfd, struct epoll_event *evs, int max, const struct timespec *tmo,
                 const sigset_t *mask)
{
    if (nc__in_stack_thread || (nc_stack == NULL && nregs == 0))
        return LIBC(epoll_pwait2)(epfd, evs, max, tmo, mask);
    if (tmo != NULL && (tmo->tv_sec < 0 || tmo->tv_nsec < 0 || tmo->tv_nsec >= 1000000000)) {
        errno = EINVAL;
        return -1;
    }
    int64_t ms = -1;
    if (tmo != NULL) {
        ms = (int64_t)tmo->tv_sec * 1000 + (tmo->tv_nsec + 999999) / 1000000;
        if (ms > INT32_MAX)
            ms = INT32_MAX;
    }
    return epoll_pwait(epfd, evs, max, (int)ms, mask);
}
