/*
 * sem_poll: readiness of a TCP socket (and a pipe beside it) through poll, select and epoll,
 * compared with the kernel. Usage: sem_poll ECHO_IP ECHO_PORT (a kernel-side echo server).
 * Prints "FAIL: sem_poll: ..." for each failed case and exits 1 if any failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 5000

static const char *ip;
static int port;

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "FAIL: sem_poll: %s: ", __func__);                            \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
            return -1;                                                                    \
        }                                                                                 \
    } while (0)

static int connect_echo(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, ip, &a.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) != 0) {
        fprintf(stderr, "FAIL: sem_poll: connect %s:%d: %s\n", ip, port, strerror(errno));
        exit(1);
    }
    return s;
}

/* Sends one byte to the echo server; its echo makes s readable. */
static int ping(int s, char c)
{
    return send(s, &c, 1, 0) == 1 ? 0 : -1;
}

/* Reads exactly n echoed bytes. */
static int eat(int s, int n)
{
    char buf[64];
    while (n > 0) {
        ssize_t k = recv(s, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf), 0);
        if (k <= 0)
            return -1;
        n -= (int)k;
    }
    return 0;
}

/* poll: POLLOUT when connected, POLLIN when the peer sends, the pipe reported beside it. */
static int case_poll(int s, int p[2])
{
    struct pollfd f[2] = { { .fd = s, .events = POLLIN | POLLOUT },
                           { .fd = p[0], .events = POLLIN } };
    int n = poll(f, 2, 0);
    CHECK(n == 1 && f[0].revents == POLLOUT && f[1].revents == 0,
          "idle: poll=%d revents sock=%#x pipe=%#x, want 1, POLLOUT, 0", n, f[0].revents,
          f[1].revents);
    /* The echo wakes a poll that also waits on the (empty) pipe. */
    CHECK(ping(s, 'a') == 0, "send");
    f[0].events = POLLIN;
    n = poll(f, 2, WAIT_MS);
    CHECK(n == 1 && f[0].revents == POLLIN && f[1].revents == 0,
          "echo: poll=%d revents sock=%#x pipe=%#x, want 1, POLLIN, 0", n, f[0].revents,
          f[1].revents);
    /* Both ready: one call reports both. */
    CHECK(write(p[1], "x", 1) == 1, "write pipe");
    f[0].events = POLLIN | POLLOUT;
    n = poll(f, 2, WAIT_MS);
    CHECK(n == 2 && f[0].revents == (POLLIN | POLLOUT) && f[1].revents == POLLIN,
          "both: poll=%d revents sock=%#x pipe=%#x, want 2, POLLIN|POLLOUT, POLLIN", n,
          f[0].revents, f[1].revents);
    char c;
    CHECK(eat(s, 1) == 0 && read(p[0], &c, 1) == 1, "read back");
    f[0].events = POLLIN;
    n = poll(f, 2, 0);
    CHECK(n == 0, "drained: poll=%d revents sock=%#x pipe=%#x, want 0", n, f[0].revents,
          f[1].revents);
    return 0;
}

/* select: the same through fd_sets. */
static int case_select(int s, int p[2])
{
    fd_set r, w;
    struct timeval tv = { 0, 0 };
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(s, &r);
    FD_SET(p[0], &r);
    FD_SET(s, &w);
    int maxfd = (s > p[0] ? s : p[0]) + 1;
    int n = select(maxfd, &r, &w, NULL, &tv);
    CHECK(n == 1 && FD_ISSET(s, &w) && !FD_ISSET(s, &r) && !FD_ISSET(p[0], &r),
          "idle: select=%d (sock r=%d w=%d, pipe r=%d), want 1 (0 1 0)", n, FD_ISSET(s, &r),
          FD_ISSET(s, &w), FD_ISSET(p[0], &r));
    CHECK(ping(s, 'b') == 0, "send");
    FD_ZERO(&r);
    FD_SET(s, &r);
    FD_SET(p[0], &r);
    tv = (struct timeval){ WAIT_MS / 1000, 0 };
    n = select(maxfd, &r, NULL, NULL, &tv);
    CHECK(n == 1 && FD_ISSET(s, &r) && !FD_ISSET(p[0], &r),
          "echo: select=%d (sock r=%d, pipe r=%d), want 1 (1 0)", n, FD_ISSET(s, &r),
          FD_ISSET(p[0], &r));
    CHECK(write(p[1], "x", 1) == 1, "write pipe");
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(s, &r);
    FD_SET(p[0], &r);
    FD_SET(s, &w);
    tv = (struct timeval){ WAIT_MS / 1000, 0 };
    n = select(maxfd, &r, &w, NULL, &tv);
    CHECK(n == 3 && FD_ISSET(s, &r) && FD_ISSET(s, &w) && FD_ISSET(p[0], &r),
          "data: select=%d (sock r=%d w=%d, pipe r=%d), want 3 (1 1 1)", n, FD_ISSET(s, &r),
          FD_ISSET(s, &w), FD_ISSET(p[0], &r));
    char c;
    CHECK(eat(s, 1) == 0 && read(p[0], &c, 1) == 1, "read back");
    return 0;
}

static int ep_add(int ep, int fd, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.fd = fd };
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Waits on ep; returns the count and the events reported for fd (0 if not reported). */
static int ep_wait(int ep, int fd, int ms, uint32_t *got)
{
    struct epoll_event evs[8];
    int n = epoll_wait(ep, evs, 8, ms);
    *got = 0;
    for (int i = 0; i < n; i++)
        if (evs[i].data.fd == fd)
            *got = evs[i].events;
    return n;
}

/* Level-triggered: reported again while unread, the pipe in the same set too. */
static int case_epoll_lt(int s, int p[2])
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    uint32_t got;
    CHECK(ep >= 0 && ep_add(ep, s, EPOLLIN) == 0 && ep_add(ep, p[0], EPOLLIN) == 0,
          "epoll setup: %s", strerror(errno));
    int n = ep_wait(ep, s, 0, &got);
    CHECK(n == 0, "idle: epoll_wait=%d, want 0", n);
    CHECK(ping(s, 'c') == 0, "send");
    n = ep_wait(ep, s, WAIT_MS, &got);
    CHECK(n == 1 && got == EPOLLIN, "echo: epoll_wait=%d sock=%#x, want 1, EPOLLIN", n, got);
    CHECK(write(p[1], "x", 1) == 1, "write pipe");
    n = ep_wait(ep, s, WAIT_MS, &got);
    CHECK(n == 2 && got == EPOLLIN, "unread + pipe: epoll_wait=%d sock=%#x, want 2, EPOLLIN",
          n, got);
    n = ep_wait(ep, s, 0, &got);
    CHECK(n == 2 && got == EPOLLIN, "unread: epoll_wait=%d sock=%#x, want 2, EPOLLIN again",
          n, got);
    char c;
    CHECK(eat(s, 1) == 0 && read(p[0], &c, 1) == 1, "read back");
    n = ep_wait(ep, s, 0, &got);
    CHECK(n == 0, "drained: epoll_wait=%d sock=%#x, want 0", n, got);
    close(ep);
    return 0;
}

/* Edge-triggered: reported once per arrival, not again while unread. */
static int case_epoll_et(int s)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    uint32_t got;
    CHECK(ep >= 0 && ep_add(ep, s, EPOLLIN | EPOLLET) == 0, "epoll setup: %s",
          strerror(errno));
    int n = ep_wait(ep, s, 0, &got);
    CHECK(n == 0, "idle: epoll_wait=%d, want 0", n);
    CHECK(ping(s, 'd') == 0, "send");
    n = ep_wait(ep, s, WAIT_MS, &got);
    CHECK(n == 1 && got == EPOLLIN, "first arrival: epoll_wait=%d sock=%#x, want 1, EPOLLIN",
          n, got);
    n = ep_wait(ep, s, 0, &got);
    CHECK(n == 0, "unread, nothing new: epoll_wait=%d sock=%#x, want 0 (edge already reported)",
          n, got);
    CHECK(ping(s, 'e') == 0, "send");
    n = ep_wait(ep, s, WAIT_MS, &got);
    CHECK(n == 1 && got == EPOLLIN,
          "second arrival while unread: epoll_wait=%d sock=%#x, want 1, EPOLLIN", n, got);
    CHECK(eat(s, 2) == 0, "read back");
    n = ep_wait(ep, s, 0, &got);
    CHECK(n == 0, "drained: epoll_wait=%d, want 0", n);
    close(ep);
    return 0;
}

/* EPOLLONESHOT: one report, then silence until EPOLL_CTL_MOD re-arms. */
static int case_epoll_oneshot(int s)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    uint32_t got;
    CHECK(ep >= 0 && ep_add(ep, s, EPOLLIN | EPOLLONESHOT) == 0, "epoll setup: %s",
          strerror(errno));
    CHECK(ping(s, 'f') == 0, "send");
    int n = ep_wait(ep, s, WAIT_MS, &got);
    CHECK(n == 1 && got == EPOLLIN, "arrival: epoll_wait=%d sock=%#x, want 1, EPOLLIN", n, got);
    n = ep_wait(ep, s, 0, &got);
    CHECK(n == 0, "disarmed: epoll_wait=%d sock=%#x, want 0", n, got);
    struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.fd = s };
    CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev) == 0, "EPOLL_CTL_MOD: %s", strerror(errno));
    n = ep_wait(ep, s, WAIT_MS, &got);
    CHECK(n == 1 && got == EPOLLIN, "re-armed, unread: epoll_wait=%d sock=%#x, want 1, EPOLLIN",
          n, got);
    n = ep_wait(ep, s, 0, &got);
    CHECK(n == 0, "disarmed again: epoll_wait=%d sock=%#x, want 0", n, got);
    CHECK(eat(s, 1) == 0, "read back");
    close(ep);
    return 0;
}

/* An epoll fd inside poll: readable when the socket in its set is. */
static int case_epoll_in_poll(int s)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    uint32_t got;
    CHECK(ep >= 0 && ep_add(ep, s, EPOLLIN) == 0, "epoll setup: %s", strerror(errno));
    struct pollfd f = { .fd = ep, .events = POLLIN };
    int n = poll(&f, 1, 0);
    CHECK(n == 0, "idle: poll(epfd)=%d revents=%#x, want 0", n, f.revents);
    CHECK(ping(s, 'g') == 0, "send");
    n = poll(&f, 1, WAIT_MS);
    CHECK(n == 1 && f.revents == POLLIN, "data: poll(epfd)=%d revents=%#x, want 1, POLLIN", n,
          f.revents);
    n = ep_wait(ep, s, 0, &got);
    CHECK(n == 1 && got == EPOLLIN, "then epoll_wait=%d sock=%#x, want 1, EPOLLIN", n, got);
    CHECK(eat(s, 1) == 0, "read back");
    n = poll(&f, 1, 0);
    CHECK(n == 0, "drained: poll(epfd)=%d revents=%#x, want 0", n, f.revents);
    close(ep);
    return 0;
}

/* Two epoll sets on one socket: both report it, in either order, level- and edge-triggered. */
static int case_two_sets(int s)
{
    int a = epoll_create1(EPOLL_CLOEXEC), b = epoll_create1(EPOLL_CLOEXEC);
    int c = epoll_create1(EPOLL_CLOEXEC), d = epoll_create1(EPOLL_CLOEXEC);
    uint32_t got;
    CHECK(a >= 0 && b >= 0 && c >= 0 && d >= 0 && ep_add(a, s, EPOLLIN) == 0 &&
          ep_add(b, s, EPOLLIN) == 0 && ep_add(c, s, EPOLLIN | EPOLLET) == 0 &&
          ep_add(d, s, EPOLLIN | EPOLLET) == 0,
          "epoll setup: %s", strerror(errno));
    CHECK(ping(s, 'h') == 0, "send");
    int n = ep_wait(a, s, WAIT_MS, &got);
    CHECK(n == 1 && got == EPOLLIN, "set A: epoll_wait=%d sock=%#x, want 1, EPOLLIN", n, got);
    n = ep_wait(b, s, WAIT_MS, &got);
    CHECK(n == 1 && got == EPOLLIN, "set B: epoll_wait=%d sock=%#x, want 1, EPOLLIN", n, got);
    n = ep_wait(a, s, 0, &got);
    CHECK(n == 1 && got == EPOLLIN, "set A again: epoll_wait=%d sock=%#x, want 1, EPOLLIN", n,
          got);
    n = ep_wait(d, s, WAIT_MS, &got);
    CHECK(n == 1 && got == EPOLLIN, "ET set D: epoll_wait=%d sock=%#x, want 1, EPOLLIN", n,
          got);
    n = ep_wait(c, s, WAIT_MS, &got);
    CHECK(n == 1 && got == EPOLLIN, "ET set C: epoll_wait=%d sock=%#x, want 1, EPOLLIN", n,
          got);
    CHECK(eat(s, 1) == 0, "read back");
    n = ep_wait(a, s, 0, &got);
    int m = ep_wait(b, s, 0, &got);
    CHECK(n == 0 && m == 0, "drained: epoll_wait A=%d B=%d, want 0 0", n, m);
    close(a);
    close(b);
    close(c);
    close(d);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: sem_poll ECHO_IP ECHO_PORT\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    ip = argv[1];
    port = atoi(argv[2]);
    int p[2];
    if (pipe(p) != 0) {
        perror("pipe");
        return 1;
    }
    int failed = 0;
    /* A fresh connection per case, so that one failure leaves no bytes behind for the next. */
    struct {
        const char *name;
        int (*fn)(int, int[2]);
    } pipe_cases[] = { { "poll", case_poll }, { "select", case_select },
                       { "epoll_lt", case_epoll_lt } };
    for (size_t i = 0; i < sizeof(pipe_cases) / sizeof(pipe_cases[0]); i++) {
        int s = connect_echo();
        if (pipe_cases[i].fn(s, p) != 0) {
            failed++;
            char c; /* empty the pipe for the next case */
            struct pollfd f = { .fd = p[0], .events = POLLIN };
            while (poll(&f, 1, 0) == 1 && read(p[0], &c, 1) == 1) {
            }
        } else {
            printf("ok: %s\n", pipe_cases[i].name);
        }
        close(s);
    }
    struct {
        const char *name;
        int (*fn)(int);
    } cases[] = { { "epoll_et", case_epoll_et },
                  { "epoll_oneshot", case_epoll_oneshot },
                  { "epoll_in_poll", case_epoll_in_poll },
                  { "two_epoll_sets", case_two_sets } };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int s = connect_echo();
        if (cases[i].fn(s) != 0)
            failed++;
        else
            printf("ok: %s\n", cases[i].name);
        close(s);
    }
    return failed != 0;
}
