/*
 * sem_mtsock: two threads on one socket, compared with the kernel. Usage:
 * sem_mtsock IP HOLD_PORT HELLO_PORT — HOLD_PORT accepts and never reads nor sends,
 * HELLO_PORT answers "hello" a second after a "D" arrives.
 *
 * A first thread blocks on a socket (recv, send on a full buffer, accept, UDP recv, poll);
 * once it sleeps (/proc/self/task/TID/stat says S), the main thread makes a call on the same
 * socket that must not wait for it: MSG_DONTWAIT or O_NONBLOCK answers at once, SO_RCVTIMEO /
 * SO_SNDTIMEO set after the first thread blocked expire on time, a second poller is woken for
 * its own event. A call that would wait for the first thread is bounded by a watchdog that
 * releases the first thread (shutdown) after WATCHDOG_MS, so a failure is reported, not hung.
 * Prints "FAIL: sem_mtsock: ..." per failed case; exits 1 if any.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#define WATCHDOG_MS 3000 /* a call that waits for the other thread is released after this */
#define AT_ONCE_MS 1000  /* a call that must not wait returns within this (hang detection) */
#define TMO_MS 300       /* SO_RCVTIMEO / SO_SNDTIMEO of the second call */
#define POLL_MS 5000     /* a poller not woken gives up after this */

static const char *ip;
static int hold_port, hello_port;

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "FAIL: sem_mtsock: %s: ", __func__);                          \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
            return -1;                                                                    \
        }                                                                                 \
    } while (0)

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static int connect_to(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, ip, &a.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) != 0) {
        fprintf(stderr, "FAIL: sem_mtsock: connect %s:%d: %s\n", ip, port, strerror(errno));
        exit(1);
    }
    return s;
}

static int set_tmo(int s, int name, int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    return setsockopt(s, SOL_SOCKET, name, &tv, sizeof(tv));
}

/* The first thread: one blocking call, its result, and its thread id once it started. */
enum op { OP_RECV, OP_SEND, OP_ACCEPT, OP_POLL, OP_SELECT, OP_EPOLL };
struct blocker {
    enum op op;
    int s;
    short events;        /* OP_POLL, OP_SELECT (POLLIN: read set, POLLOUT: write set), OP_EPOLL */
    int ep;              /* OP_EPOLL: a set shared with another thread, or -1: one of its own */
    bool fifo;           /* run under SCHED_FIFO (the poll cases) */
    _Atomic pid_t tid;
    _Atomic bool started;
    long rc, ms;
    int err;
    short revents;
};

static void *blocker_main(void *arg)
{
    struct blocker *b = arg;
    static char big[1 << 20];
    char buf[16];
    b->tid = (pid_t)syscall(SYS_gettid);
    int ep = b->ep;
    if (b->op == OP_EPOLL && ep < 0) {
        struct epoll_event ev = { .events = (uint32_t)b->events };
        ep = epoll_create1(0);
        epoll_ctl(ep, EPOLL_CTL_ADD, b->s, &ev);
    }
    long t0 = now_ms();
    b->started = true; /* about to block */
    switch (b->op) {
    case OP_RECV:
        b->rc = recv(b->s, buf, sizeof(buf), 0);
        break;
    case OP_SEND: /* more than every buffer on the way holds: blocks until shut down */
        b->rc = 0;
        for (int i = 0; i < 64; i++) {
            ssize_t n = send(b->s, big, sizeof(big), MSG_NOSIGNAL);
            if (n < 0) {
                b->rc = -1;
                break;
            }
        }
        break;
    case OP_ACCEPT:
        b->rc = accept(b->s, NULL, NULL);
        break;
    case OP_POLL: {
        struct pollfd p = { .fd = b->s, .events = b->events };
        b->rc = poll(&p, 1, POLL_MS);
        b->revents = p.revents;
        break;
    }
    case OP_SELECT: {
        fd_set set;
        FD_ZERO(&set);
        FD_SET(b->s, &set);
        struct timeval tv = { POLL_MS / 1000, 0 };
        bool rd = b->events == POLLIN;
        b->rc = select(b->s + 1, rd ? &set : NULL, rd ? NULL : &set, NULL, &tv);
        b->revents = b->rc == 1 ? b->events : 0;
        break;
    }
    case OP_EPOLL: {
        struct epoll_event ev;
        b->rc = epoll_wait(ep, &ev, 1, POLL_MS);
        b->revents = b->rc == 1 ? (short)ev.events : 0;
        break;
    }
    }
    b->err = errno;
    b->ms = now_ms() - t0;
    if (b->op == OP_ACCEPT && b->rc >= 0)
        close((int)b->rc);
    if (b->op == OP_EPOLL && b->ep < 0)
        close(ep);
    return NULL;
}

/* 'S' (or whatever) from /proc/self/task/TID/stat. */
static char task_state(pid_t tid)
{
    char path[64], line[512];
    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return '?';
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    char *p = strrchr(line, ')');
    return p != NULL && p[1] == ' ' ? p[2] : '?';
}

/* Starts b and returns once its thread sleeps in its call (bounded: 5 s). */
static int start_blocker(pthread_t *t, struct blocker *b)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (b->fifo) {
        /* The poller that drains first: it runs before any other thread of the process
         * (all on one CPU) as soon as it is woken. */
        struct sched_param sp = { .sched_priority = 1 };
        pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
        pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
        pthread_attr_setschedparam(&attr, &sp);
    }
    int rc = pthread_create(t, &attr, blocker_main, b);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        fprintf(stderr, "FAIL: sem_mtsock: pthread_create: %s\n", strerror(rc));
        return -1;
    }
    long end = now_ms() + 5000;
    while (!b->started || task_state(b->tid) != 'S') {
        if (now_ms() > end) {
            fprintf(stderr, "FAIL: sem_mtsock: the first thread never blocked\n");
            return -1;
        }
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    return 0;
}

/* Releases the first thread (shutdown) if the main thread's call has not returned in time. */
struct watchdog {
    pthread_t t;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done, fired;
    int s, how;
};

static void *watchdog_main(void *arg)
{
    struct watchdog *w = arg;
    struct timespec end;
    clock_gettime(CLOCK_REALTIME, &end);
    end.tv_sec += WATCHDOG_MS / 1000;
    pthread_mutex_lock(&w->mu);
    while (!w->done && pthread_cond_timedwait(&w->cv, &w->mu, &end) == 0)
        ;
    if (!w->done) {
        w->fired = true;
        shutdown(w->s, w->how);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void watchdog_start(struct watchdog *w, int s, int how)
{
    *w = (struct watchdog){ .s = s, .how = how };
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_create(&w->t, NULL, watchdog_main, w);
}

/* Stops the watchdog; true if it had to release the first thread. */
static bool watchdog_stop(struct watchdog *w)
{
    pthread_mutex_lock(&w->mu);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->t, NULL);
    return w->fired;
}

/* Fills s's send path (the peer never reads) until it stays unwritable for 300 ms. */
static int fill(int s)
{
    static char chunk[65536];
    long end = now_ms() + 10000;
    for (;;) {
        while (send(s, chunk, sizeof(chunk), MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
            ;
        if (errno != EAGAIN)
            return -1;
        struct pollfd p = { .fd = s, .events = POLLOUT };
        if (poll(&p, 1, 300) == 0)
            return 0;
        if (now_ms() > end)
            return -1;
    }
}

/* recv with MSG_DONTWAIT (or on an O_NONBLOCK socket) beside a blocked recv: EAGAIN at once. */
static int recv_beside(bool by_fcntl)
{
    int s = connect_to(hold_port);
    struct blocker b = { .op = OP_RECV, .s = s };
    pthread_t t;
    if (start_blocker(&t, &b) != 0)
        return -1;
    if (by_fcntl)
        fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
    struct watchdog w;
    watchdog_start(&w, s, SHUT_RD);
    char buf[16];
    long t0 = now_ms();
    ssize_t n = recv(s, buf, sizeof(buf), by_fcntl ? 0 : MSG_DONTWAIT);
    int err = errno;
    long dt = now_ms() - t0;
    bool fired = watchdog_stop(&w);
    shutdown(s, SHUT_RD); /* the kernel's blocked recv returns 0 */
    pthread_join(t, NULL);
    close(s);
    const char *how = by_fcntl ? "O_NONBLOCK" : "MSG_DONTWAIT";
    CHECK(!fired && dt < AT_ONCE_MS, "%s recv took %.1f s, want EAGAIN at once%s", how,
          dt / 1000.0, fired ? " (returned once the blocked recv was released)" : "");
    CHECK(n == -1 && err == EAGAIN, "%s recv=%zd (%s), want -1 EAGAIN", how, n,
          strerror(err));
    CHECK(b.rc == 0, "the blocked recv returned %ld (%s) after SHUT_RD, want 0", b.rc,
          strerror(b.err));
    return 0;
}

static int case_recv_dontwait(void)
{
    return recv_beside(false);
}

static int case_recv_nonblock(void)
{
    return recv_beside(true);
}

/* SO_RCVTIMEO set while another thread is blocked in recv holds for the next recv. */
static int case_recv_rcvtimeo(void)
{
    int s = connect_to(hold_port);
    struct blocker b = { .op = OP_RECV, .s = s };
    pthread_t t;
    if (start_blocker(&t, &b) != 0)
        return -1;
    set_tmo(s, SO_RCVTIMEO, TMO_MS);
    struct watchdog w;
    watchdog_start(&w, s, SHUT_RD);
    char buf[16];
    long t0 = now_ms();
    ssize_t n = recv(s, buf, sizeof(buf), 0);
    int err = errno;
    long dt = now_ms() - t0;
    bool fired = watchdog_stop(&w);
    shutdown(s, SHUT_RD);
    pthread_join(t, NULL);
    close(s);
    CHECK(!fired && dt >= TMO_MS - 50 && dt < TMO_MS + AT_ONCE_MS,
          "recv with SO_RCVTIMEO %d ms returned after %.1f s%s", TMO_MS, dt / 1000.0,
          fired ? " (once the blocked recv was released)" : "");
    CHECK(n == -1 && err == EAGAIN, "recv=%zd (%s), want -1 EAGAIN", n, strerror(err));
    return 0;
}

/*
 * send beside a send blocked on a full buffer: MSG_DONTWAIT answers at once (EAGAIN, or a
 * few bytes if space just came back); with SO_SNDTIMEO it returns once the timeout expires.
 */
static int send_beside(bool timeo)
{
    int s = connect_to(hold_port);
    CHECK(fill(s) == 0, "could not fill the send buffer: %s", strerror(errno));
    struct blocker b = { .op = OP_SEND, .s = s };
    pthread_t t;
    if (start_blocker(&t, &b) != 0)
        return -1;
    if (timeo)
        set_tmo(s, SO_SNDTIMEO, TMO_MS);
    struct watchdog w;
    watchdog_start(&w, s, SHUT_RDWR);
    static char buf[1 << 20];
    long t0 = now_ms();
    ssize_t n = send(s, buf, sizeof(buf), (timeo ? 0 : MSG_DONTWAIT) | MSG_NOSIGNAL);
    int err = errno;
    long dt = now_ms() - t0;
    bool fired = watchdog_stop(&w);
    shutdown(s, SHUT_RDWR); /* the blocked send fails with EPIPE */
    pthread_join(t, NULL);
    close(s);
    const char *how = timeo ? "SO_SNDTIMEO" : "MSG_DONTWAIT";
    CHECK(!fired && dt < (timeo ? TMO_MS : 0) + AT_ONCE_MS,
          "%s send took %.1f s, want %s%s", how, dt / 1000.0,
          timeo ? "the timeout" : "EAGAIN at once",
          fired ? " (returned once the blocked send was released)" : "");
    CHECK((n == -1 && err == EAGAIN) || (n > 0 && n < (ssize_t)sizeof(buf)),
          "%s send=%zd (%s), want EAGAIN or a part", how, n, strerror(err));
    CHECK(b.rc == -1 && b.err == EPIPE, "the blocked send: %ld (%s), want -1 EPIPE", b.rc,
          strerror(b.err));
    return 0;
}

static int case_send_dontwait(void)
{
    return send_beside(false);
}

static int case_send_sndtimeo(void)
{
    return send_beside(true);
}

/* accept on an O_NONBLOCK listener beside a blocked accept: EAGAIN at once. */
static int case_accept_nonblock(void)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    CHECK(l >= 0 && bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 4) == 0,
          "listen: %s", strerror(errno));
    struct blocker b = { .op = OP_ACCEPT, .s = l };
    pthread_t t;
    if (start_blocker(&t, &b) != 0)
        return -1;
    fcntl(l, F_SETFL, fcntl(l, F_GETFL) | O_NONBLOCK);
    struct watchdog w;
    watchdog_start(&w, l, SHUT_RD);
    long t0 = now_ms();
    int c = accept(l, NULL, NULL);
    int err = errno;
    long dt = now_ms() - t0;
    bool fired = watchdog_stop(&w);
    shutdown(l, SHUT_RD); /* a blocked accept fails with EINVAL */
    pthread_join(t, NULL);
    close(l);
    CHECK(!fired && dt < AT_ONCE_MS, "O_NONBLOCK accept took %.1f s, want EAGAIN at once",
          dt / 1000.0);
    CHECK(c == -1 && err == EAGAIN, "accept=%d (%s), want -1 EAGAIN", c, strerror(err));
    CHECK(b.rc == -1 && b.err == EINVAL, "the blocked accept: %ld (%s), want -1 EINVAL",
          b.rc, strerror(b.err));
    return 0;
}

/* UDP: recv with MSG_DONTWAIT beside a blocked recv (SO_RCVTIMEO ends that one). */
static int case_udp_dontwait(void)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    CHECK(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0, "bind: %s",
          strerror(errno));
    set_tmo(s, SO_RCVTIMEO, 1000);
    struct blocker b = { .op = OP_RECV, .s = s };
    pthread_t t;
    if (start_blocker(&t, &b) != 0)
        return -1;
    char buf[16];
    long t0 = now_ms();
    ssize_t n = recv(s, buf, sizeof(buf), MSG_DONTWAIT);
    int err = errno;
    long dt = now_ms() - t0;
    pthread_join(t, NULL);
    close(s);
    CHECK(dt < AT_ONCE_MS, "MSG_DONTWAIT recv took %.1f s, want EAGAIN at once", dt / 1000.0);
    CHECK(n == -1 && err == EAGAIN, "recv=%zd (%s), want -1 EAGAIN", n, strerror(err));
    CHECK(b.rc == -1 && b.err == EAGAIN, "the blocked recv: %ld (%s), want its timeout",
          b.rc, strerror(b.err));
    return 0;
}

/*
 * UDP: shutdown(SHUT_RD) in another thread ends a blocked recv with 0, as it ends a TCP one
 * (its SO_RCVTIMEO bounds the wait otherwise). An unconnected socket is shut too, though the
 * call says ENOTCONN: programs stop a receiving thread this way.
 */
static int udp_shutdown(bool connected)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    if (connected) {
        a.sin_port = htons((uint16_t)hold_port);
        inet_pton(AF_INET, ip, &a.sin_addr);
    }
    CHECK(s >= 0 && (connected ? connect(s, (struct sockaddr *)&a, sizeof(a))
                               : bind(s, (struct sockaddr *)&a, sizeof(a))) == 0,
          "connect/bind: %s", strerror(errno));
    set_tmo(s, SO_RCVTIMEO, WATCHDOG_MS);
    struct blocker b = { .op = OP_RECV, .s = s };
    pthread_t t;
    if (start_blocker(&t, &b) != 0)
        return -1;
    int rc = shutdown(s, SHUT_RD);
    int err = errno;
    pthread_join(t, NULL);
    char buf[16];
    ssize_t n = recv(s, buf, sizeof(buf), MSG_DONTWAIT);
    int err2 = errno;
    close(s);
    if (connected)
        CHECK(rc == 0, "shutdown: %s", strerror(err));
    else
        CHECK(rc == -1 && err == ENOTCONN, "shutdown: %d (%s), want -1 ENOTCONN", rc,
              strerror(err));
    CHECK(b.rc == 0 && b.ms < AT_ONCE_MS, "the blocked recv: %ld (%s) after %.1f s, want 0 at "
          "once", b.rc, strerror(b.err), b.ms / 1000.0);
    CHECK(n == -1 && err2 == EAGAIN, "a MSG_DONTWAIT recv after: %zd (%s), want -1 EAGAIN", n,
          strerror(err2));
    return 0;
}

static int case_udp_shutdown(void)
{
    return udp_shutdown(true);
}

static int case_udp_shutdown_unconnected(void)
{
    return udp_shutdown(false);
}

/* Pins every thread of the process to one CPU (the poll cases), or back to `all`. */
static void pin_all(const cpu_set_t *set)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            sched_setaffinity(atoi(e->d_name), sizeof(*set), set);
    if (d != NULL)
        closedir(d);
}

/*
 * Two threads poll one socket; `event` makes the second one's events happen and not the
 * first's. Every thread runs on one CPU and the first poller under SCHED_FIFO: when the
 * socket's wake-up comes, the first poller runs before the second can look at the socket,
 * the interleaving in which a poller that takes a wake-up meant for another loses it.
 */
static int two_pollers(int s, enum op op, int ep, short first, short second,
                       int (*event)(int s), const char *what)
{
    cpu_set_t all, one;
    sched_getaffinity(0, sizeof(all), &all);
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    pin_all(&one);
    struct blocker a = { .op = op, .s = s, .events = first, .ep = ep, .fifo = true };
    struct blocker b = { .op = op, .s = s, .events = second, .ep = ep };
    pthread_t ta, tb;
    int rc = -1;
    if (start_blocker(&ta, &a) != 0)
        goto out;
    if (start_blocker(&tb, &b) != 0) {
        shutdown(s, SHUT_RDWR);
        pthread_join(ta, NULL);
        goto out;
    }
    rc = event(s);
    pthread_join(tb, NULL);
    shutdown(s, SHUT_RDWR); /* ends the first poll, if its event did not come */
    pthread_join(ta, NULL);
out:
    pin_all(&all);
    CHECK(rc == 0, "%s: the event failed: %s", what, strerror(errno));
    CHECK(b.rc == 1 && (b.revents & second), "%s: the second poller got %ld (revents %#x) "
          "after %.1f s, want its event at once", what, b.rc, (unsigned)b.revents,
          b.ms / 1000.0);
    CHECK(b.ms < POLL_MS - AT_ONCE_MS, "%s: the second poller took %.1f s", what,
          b.ms / 1000.0);
    return 0;
}

static int shut_wr(int s)
{
    return shutdown(s, SHUT_WR);
}

static int say_d(int s)
{
    return send(s, "D", 1, 0) == 1 ? 0 : -1;
}

/* One thread polls for POLLIN, another for POLLOUT; the socket becomes writable only. */
static int in_out(enum op op, const char *what)
{
    int s = connect_to(hold_port);
    CHECK(fill(s) == 0, "could not fill the send buffer: %s", strerror(errno));
    int rc = two_pollers(s, op, -1, POLLIN, POLLOUT, shut_wr, what);
    close(s);
    return rc;
}

static int case_poll_in_out(void)
{
    return in_out(OP_POLL, "poll POLLIN + POLLOUT");
}

static int case_select_in_out(void)
{
    return in_out(OP_SELECT, "select read + write");
}

/* Each thread its own epoll set (netcore: each registration its own eventfd). */
static int case_epoll_in_out(void)
{
    return in_out(OP_EPOLL, "two epoll sets EPOLLIN + EPOLLOUT");
}

/*
 * Two threads poll for POLLIN; data arrives. The first to wake takes the socket's wake-up;
 * the second must still be woken (netcore: the first passes it on as it leaves).
 */
static int case_poll_in_in(void)
{
    int s = connect_to(hello_port);
    int rc = two_pollers(s, OP_POLL, -1, POLLIN, POLLIN, say_d, "poll POLLIN + POLLIN");
    close(s);
    return rc;
}

/*
 * Two threads wait in one level-triggered epoll set for the socket's EPOLLIN; data arrives.
 * The kernel wakes one waiter and, the socket still ready, the other; netcore signals the
 * registration's eventfd again after the first reports it.
 */
static int case_epoll_shared(void)
{
    int s = connect_to(hello_port);
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN };
    CHECK(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) == 0, "epoll: %s", strerror(errno));
    int rc = two_pollers(s, OP_EPOLL, ep, POLLIN, POLLIN, say_d, "one epoll set, two waiters");
    close(ep);
    close(s);
    return rc;
}

/* epoll_wait on ep: exactly one event, with data `want`. */
static int one_event(int ep, uint64_t want, const char *after)
{
    struct epoll_event out[4];
    int n = epoll_wait(ep, out, 4, 1000);
    CHECK(n == 1, "after %s: epoll_wait=%d, want the pipe's event", after, n);
    CHECK(out[0].data.u64 == want, "after %s: data %#llx, want %#llx", after,
          (unsigned long long)out[0].data.u64, (unsigned long long)want);
    return 0;
}

/*
 * A kernel fd in an epoll set, its data with netcore's tag in the top 16 bits: reported with
 * that data, through EPOLL_CTL_MOD to other data and back, and gone after EPOLL_CTL_DEL.
 */
static int case_epoll_tag(void)
{
    int p[2], ep = epoll_create1(0);
    CHECK(ep >= 0 && pipe(p) == 0, "epoll/pipe: %s", strerror(errno));
    CHECK(write(p[1], "x", 1) == 1, "write: %s", strerror(errno));
    uint64_t tagged = 0x6e63ULL << 48 | 7;
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tagged }, out[4];
    int rc, reported = 0; /* epoll_ctl's result; one_event's */
    if ((rc = epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev)) != 0 ||
        (reported = one_event(ep, tagged, "ADD")) != 0)
        goto out;
    ev.data.u64 = 5;
    if ((rc = epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev)) != 0 ||
        (reported = one_event(ep, 5, "MOD")) != 0)
        goto out;
    ev.data.u64 = tagged + 1;
    if ((rc = epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev)) != 0 ||
        (reported = one_event(ep, tagged + 1, "MOD back")) != 0)
        goto out;
    if ((rc = epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL)) != 0)
        goto out;
    rc = epoll_wait(ep, out, 4, 0);
out:
    close(p[0]);
    close(p[1]);
    close(ep);
    if (reported != 0)
        return -1; /* one_event said why */
    CHECK(rc == 0, "epoll_ctl or epoll_wait after DEL: %d (%s), want 0", rc, strerror(errno));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: sem_mtsock IP HOLD_PORT HELLO_PORT\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    ip = argv[1];
    hold_port = atoi(argv[2]);
    hello_port = atoi(argv[3]);
    static const struct {
        const char *name;
        int (*fn)(void);
    } cases[] = {
        { "recv MSG_DONTWAIT beside a blocked recv", case_recv_dontwait },
        { "recv O_NONBLOCK beside a blocked recv", case_recv_nonblock },
        { "recv SO_RCVTIMEO beside a blocked recv", case_recv_rcvtimeo },
        { "send MSG_DONTWAIT beside a blocked send", case_send_dontwait },
        { "send SO_SNDTIMEO beside a blocked send", case_send_sndtimeo },
        { "accept O_NONBLOCK beside a blocked accept", case_accept_nonblock },
        { "UDP recv MSG_DONTWAIT beside a blocked recv", case_udp_dontwait },
        { "UDP shutdown(SHUT_RD) ends a blocked recv", case_udp_shutdown },
        { "UDP shutdown(SHUT_RD), unconnected, ends a blocked recv",
          case_udp_shutdown_unconnected },
        { "poll POLLIN and POLLOUT pollers both woken", case_poll_in_out },
        { "select read and write sets both woken", case_select_in_out },
        { "two epoll sets, EPOLLIN and EPOLLOUT, both woken", case_epoll_in_out },
        { "poll two POLLIN pollers both woken", case_poll_in_in },
        { "one epoll set, two waiting threads both woken", case_epoll_shared },
        { "epoll kernel fd with tag-like data", case_epoll_tag },
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long t0 = now_ms();
        if (cases[i].fn() != 0)
            failed++;
        else
            printf("ok: %s (%.2f s)\n", cases[i].name, (now_ms() - t0) / 1000.0);
    }
    return failed != 0;
}
