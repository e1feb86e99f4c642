/*
 * sem_timeout: SO_RCVTIMEO, SO_SNDTIMEO and poll/select/epoll timeouts, compared with the kernel.
 * Usage: sem_timeout IP QUIET_PORT SINK_PORT — QUIET_PORT accepts and never sends, SINK_PORT
 * accepts and never reads. Prints "FAIL: sem_timeout: ..." per failed case; exits 1 if any.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TMO_MS 300
#define SLACK_MS 500

static const char *ip;

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "FAIL: sem_timeout: %s: ", __func__);                         \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
            return -1;                                                                    \
        }                                                                                 \
    } while (0)

#define IN_WINDOW(ms) ((ms) >= TMO_MS && (ms) <= TMO_MS + SLACK_MS)

static int connect_to(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, ip, &a.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) != 0) {
        fprintf(stderr, "FAIL: sem_timeout: connect %s:%d: %s\n", ip, port, strerror(errno));
        exit(1);
    }
    return s;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static int set_tmo(int s, int name, int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    return setsockopt(s, SOL_SOCKET, name, &tv, sizeof(tv));
}

/* SO_RCVTIMEO: recv on a quiet connection fails with EAGAIN after the timeout. */
static int case_rcvtimeo(int port)
{
    int s = connect_to(port);
    CHECK(set_tmo(s, SO_RCVTIMEO, TMO_MS) == 0, "setsockopt SO_RCVTIMEO: %s", strerror(errno));
    struct timeval tv;
    socklen_t len = sizeof(tv);
    CHECK(getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, &len) == 0 && len == sizeof(tv) &&
              tv.tv_sec == 0 && tv.tv_usec == TMO_MS * 1000,
          "getsockopt SO_RCVTIMEO: %ld.%06ld s (len %u), want 0.%06d", (long)tv.tv_sec,
          (long)tv.tv_usec, len, TMO_MS * 1000);
    char buf[16];
    long t0 = now_ms();
    ssize_t n = recv(s, buf, sizeof(buf), 0);
    int err = errno;
    long dt = now_ms() - t0;
    CHECK(n == -1 && err == EAGAIN, "recv=%zd errno=%s, want -1 EAGAIN", n, strerror(err));
    CHECK(IN_WINDOW(dt), "recv returned after %ld ms, want %d..%d", dt, TMO_MS,
          TMO_MS + SLACK_MS);
    /* read() follows the same option. */
    t0 = now_ms();
    n = read(s, buf, sizeof(buf));
    err = errno;
    dt = now_ms() - t0;
    CHECK(n == -1 && err == EAGAIN && IN_WINDOW(dt), "read=%zd errno=%s after %ld ms", n,
          strerror(err), dt);
    close(s);
    return 0;
}

/* poll, select and epoll_wait with nothing ready return 0 after their timeout. */
static int case_wait_timeouts(int port)
{
    int s = connect_to(port);
    struct pollfd f = { .fd = s, .events = POLLIN };
    long t0 = now_ms();
    int n = poll(&f, 1, TMO_MS);
    long dt = now_ms() - t0;
    CHECK(n == 0 && IN_WINDOW(dt), "poll=%d revents=%#x after %ld ms, want 0 after %d ms", n,
          f.revents, dt, TMO_MS);
    fd_set r;
    FD_ZERO(&r);
    FD_SET(s, &r);
    struct timeval tv = { 0, TMO_MS * 1000 };
    t0 = now_ms();
    n = select(s + 1, &r, NULL, NULL, &tv);
    dt = now_ms() - t0;
    CHECK(n == 0 && !FD_ISSET(s, &r) && IN_WINDOW(dt),
          "select=%d after %ld ms, want 0 after %d ms", n, dt, TMO_MS);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = s };
    CHECK(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) == 0, "epoll setup: %s",
          strerror(errno));
    t0 = now_ms();
    n = epoll_wait(ep, &ev, 1, TMO_MS);
    dt = now_ms() - t0;
    CHECK(n == 0 && IN_WINDOW(dt), "epoll_wait=%d after %ld ms, want 0 after %d ms", n, dt,
          TMO_MS);
    close(ep);
    close(s);
    return 0;
}

/*
 * SO_SNDTIMEO: against a peer that never reads, blocking sends fill every buffer; the one that
 * can no longer finish returns what it copied (a partial count) or -1/EAGAIN if it copied
 * nothing, after the timeout.
 */
static int case_sndtimeo(int port)
{
    int s = connect_to(port);
    CHECK(set_tmo(s, SO_SNDTIMEO, TMO_MS) == 0, "setsockopt SO_SNDTIMEO: %s", strerror(errno));
    static char buf[65536];
    memset(buf, 'z', sizeof(buf));
    long total = 0, dt = 0;
    ssize_t n = 0;
    int err = 0;
    while (total < 256L << 20) {
        long t0 = now_ms();
        n = send(s, buf, sizeof(buf), MSG_NOSIGNAL);
        err = errno;
        dt = now_ms() - t0;
        if (n != (ssize_t)sizeof(buf))
            break;
        total += n;
    }
    CHECK(n != (ssize_t)sizeof(buf), "sent %ld bytes to a peer that never reads, no timeout",
          total);
    CHECK((n == -1 && err == EAGAIN) || (n > 0 && n < (ssize_t)sizeof(buf)),
          "send after %ld bytes: %zd errno=%s, want a partial count or -1 EAGAIN", total, n,
          n < 0 ? strerror(err) : "-");
    CHECK(IN_WINDOW(dt), "send returned %zd after %ld ms, want %d..%d ms", n, dt, TMO_MS,
          TMO_MS + SLACK_MS);
    printf("sndtimeo: %ld bytes sent before the send that returned %zd\n", total, n);
    close(s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: sem_timeout IP QUIET_PORT SINK_PORT\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    ip = argv[1];
    int quiet = atoi(argv[2]), sink = atoi(argv[3]);
    int failed = 0;
    if (case_rcvtimeo(quiet) != 0)
        failed++;
    else
        printf("ok: rcvtimeo\n");
    if (case_wait_timeouts(quiet) != 0)
        failed++;
    else
        printf("ok: poll/select/epoll timeouts\n");
    if (case_sndtimeo(sink) != 0)
        failed++;
    else
        printf("ok: sndtimeo\n");
    return failed != 0;
}
