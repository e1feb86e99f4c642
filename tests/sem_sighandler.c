/*
 * sem_sighandler: a signal handler that uses sockets, compared with the kernel. Usage:
 * sem_sighandler IP PORT (a kernel-side echo server).
 *
 * The kernel's send(), socket() and close() are async-signal-safe. Another thread signals the
 * main thread (SIGUSR1) in a loop, while the main thread loops on socket calls that take
 * netcore's locks: names and options (the stack lock), epoll_ctl and epoll_wait (the epoll
 * registry), sends and receives. Each run of the handler sends one byte, numbered, on a
 * connection of its own, sends and reads on the main loop's connection (whose ring locks the
 * interrupted thread may hold), opens and closes a socket, and closes one of a set of dups
 * that are registered in an epoll set. Passes when HANDLED runs happened and every byte came back from
 * the echo server in order; a handler that deadlocks against the thread it interrupted hangs
 * the program instead (alarm: exits on SIGALRM).
 * Then a process-directed signal (kill) that every thread of the program blocks: it waits
 * until the main thread unblocks it and runs there, as with the kernel, never on a thread of
 * netcore's own (where the handler's send would not reach netcore).
 * Prints "FAIL: sem_sighandler: ..." on failure; exits 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define HANDLED 3000 /* handler runs before the main loop stops */
#define NDUPS 200    /* dups the handler closes, one per run, registered in an epoll set */
#define LIMIT_S 40   /* the whole run; a deadlock ends in SIGALRM */

static struct sockaddr_in peer;
static int hs;                  /* the handler's connection */
static int hs2;                 /* the SIGUSR2 handler's */
static int ms = -1;             /* the main loop's, which the handler also sends and reads on */
static int dups[NDUPS];
static volatile sig_atomic_t runs, handler_errors, ndup_closed;
static volatile sig_atomic_t usr2_runs, usr2_errors;
static atomic_bool done;
static pthread_t main_thread;

static void fail(const char *what)
{
    printf("FAIL: sem_sighandler: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int connect_peer(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&peer, sizeof(peer)) != 0)
        fail("connect");
    return s;
}

static void on_usr1(int sig)
{
    (void)sig;
    int saved = errno;
    uint8_t b = (uint8_t)runs;
    if (send(hs, &b, 1, MSG_NOSIGNAL) != 1)
        handler_errors = handler_errors + 1;
    /* The connection the interrupted thread may be sending or receiving on (its ring's lock). */
    uint8_t junk[16];
    if (send(ms, &b, 1, MSG_NOSIGNAL) != 1 ||
        (recv(ms, junk, sizeof(junk), MSG_DONTWAIT) < 0 && errno != EAGAIN))
        handler_errors = handler_errors + 1;
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0 || close(s) != 0)
        handler_errors = handler_errors + 1;
    if (ndup_closed < NDUPS) {
        if (close(dups[ndup_closed]) != 0)
            handler_errors = handler_errors + 1;
        ndup_closed = ndup_closed + 1;
    }
    runs = runs + 1;
    errno = saved;
}

static void on_usr2(int sig)
{
    (void)sig;
    int saved = errno;
    uint8_t b = 0xa5;
    if (send(hs2, &b, 1, MSG_NOSIGNAL) != 1)
        usr2_errors = usr2_errors + 1;
    usr2_runs = usr2_runs + 1;
    errno = saved;
}

/* SIGUSR2 sent to the process while every thread of the program blocks it. */
static void blocked_process_signal(void)
{
    struct sigaction sa = { .sa_handler = on_usr2, .sa_flags = SA_RESTART };
    sigemptyset(&sa.sa_mask);
    sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    if (sigaction(SIGUSR2, &sa, NULL) != 0 || pthread_sigmask(SIG_BLOCK, &usr2, NULL) != 0 ||
        kill(getpid(), SIGUSR2) != 0)
        fail("SIGUSR2 setup");
    /* A thread that does not block it takes the signal at once (the kernel wakes it), and
     * then it is no longer pending for the process. Nothing happens if none can: give a
     * thread that could take it a second to do so, with socket calls meanwhile. */
    for (int i = 0; i < 1000; i++) {
        sigset_t pending;
        struct sockaddr_in a;
        socklen_t len = sizeof(a);
        if (sigpending(&pending) != 0 || getsockname(ms, (struct sockaddr *)&a, &len) != 0)
            fail("sigpending/getsockname");
        if (!sigismember(&pending, SIGUSR2))
            break;
        poll(NULL, 0, 1);
    }
    if (usr2_runs != 0) {
        printf("FAIL: sem_sighandler: a blocked SIGUSR2 ran its handler on another thread\n");
        exit(1);
    }
    if (pthread_sigmask(SIG_UNBLOCK, &usr2, NULL) != 0)
        fail("pthread_sigmask");
    uint8_t b = 0;
    if (usr2_runs != 1 || usr2_errors != 0 || recv(hs2, &b, 1, 0) != 1 || b != 0xa5) {
        printf("FAIL: sem_sighandler: SIGUSR2 after unblocking: %d runs, %d failed sends, "
               "byte %#x\n", (int)usr2_runs, (int)usr2_errors, b);
        exit(1);
    }
}

static void *signaller(void *arg)
{
    (void)arg;
    while (!atomic_load(&done)) {
        pthread_kill(main_thread, SIGUSR1);
        sched_yield();
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: sem_sighandler IP PORT\n");
        return 2;
    }
    peer.sin_family = AF_INET;
    peer.sin_port = htons((uint16_t)atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &peer.sin_addr) != 1)
        return 2;
    alarm(LIMIT_S);
    hs = connect_peer();
    hs2 = connect_peer();
    ms = connect_peer();
    int c = socket(AF_INET, SOCK_STREAM, 0);
    int ep = epoll_create1(0), ep_dups = epoll_create1(0);
    if (c < 0 || ep < 0 || ep_dups < 0)
        fail("socket/epoll_create1");
    for (int i = 0; i < NDUPS; i++) {
        struct epoll_event ev = { .events = EPOLLOUT, .data.fd = i };
        dups[i] = dup(c);
        if (dups[i] < 0 || epoll_ctl(ep_dups, EPOLL_CTL_ADD, dups[i], &ev) != 0)
            fail("dup/epoll_ctl");
    }
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = ms };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, ms, &ev) != 0)
        fail("epoll_ctl ADD");

    struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
        fail("sigaction");
    main_thread = pthread_self();
    pthread_t t;
    if (pthread_create(&t, NULL, signaller, NULL) != 0)
        fail("pthread_create");

    size_t got = 0;
    unsigned long loops = 0;
    uint8_t buf[4096];
    while (runs < HANDLED) {
        struct sockaddr_in a;
        socklen_t len = sizeof(a);
        int one = 1;
        struct epoll_event out[4];
        uint8_t b = (uint8_t)loops;
        ev.events = loops & 1 ? EPOLLIN : EPOLLIN | EPOLLOUT;
        if (getsockname(ms, (struct sockaddr *)&a, &len) != 0 ||
            setsockopt(ms, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
            epoll_ctl(ep, EPOLL_CTL_MOD, ms, &ev) != 0 || epoll_wait(ep, out, 4, 0) < 0 ||
            send(ms, &b, 1, 0) != 1)
            fail("main loop call");
        if (recv(ms, buf, sizeof(buf), MSG_DONTWAIT) < 0 && errno != EAGAIN && errno != EINTR)
            fail("recv (main connection)");
        /* The handler's bytes, as far as they came back. */
        ssize_t n = recv(hs, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            fail("recv (handler's connection)");
        for (ssize_t i = 0; i < n; i++, got++)
            if (buf[i] != (uint8_t)got) {
                printf("FAIL: sem_sighandler: byte %zu is %u, want %u\n", got, buf[i],
                       (uint8_t)got);
                return 1;
            }
        loops++;
    }
    atomic_store(&done, true);
    pthread_join(t, NULL);
    int total = runs;
    while (got < (size_t)total) {
        ssize_t n = recv(hs, buf, sizeof(buf), 0);
        if (n <= 0)
            fail("recv (the handler's last bytes)");
        for (ssize_t i = 0; i < n; i++, got++)
            if (buf[i] != (uint8_t)got) {
                printf("FAIL: sem_sighandler: byte %zu is %u, want %u\n", got, buf[i],
                       (uint8_t)got);
                return 1;
            }
    }
    if (handler_errors != 0) {
        printf("FAIL: sem_sighandler: %d calls failed in the handler\n", (int)handler_errors);
        return 1;
    }
    printf("ok: %d handler runs (%d dups closed) over %lu loops, %zu bytes back in order\n",
           total, (int)ndup_closed, loops, got);
    blocked_process_signal();
    printf("ok: a process-directed signal blocked by the program waited for its unblocking\n");
    return 0;
}
