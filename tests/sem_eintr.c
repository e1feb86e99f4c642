/*
 * sem_eintr: blocking calls interrupted by a signal handler, compared with the kernel.
 * Usage: sem_eintr IP PORT — the peer stays quiet until it receives "D", then sends "hello"
 * one second later. Prints "FAIL: sem_eintr: ..." per failed case; exits 1 if any failed.
 *
 * Without SA_RESTART a blocking recv fails with EINTR; with SA_RESTART it restarts (and completes
 * when the data comes), except when the socket has SO_RCVTIMEO, where the kernel says EINTR.
 * poll and epoll_wait are never restarted. A handler that leaves a blocked recv by siglongjmp
 * leaves the connection working.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define ALARM_MS 200

static volatile sig_atomic_t alarms;

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "FAIL: sem_eintr: %s: ", __func__);                           \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
            return -1;                                                                    \
        }                                                                                 \
    } while (0)

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

static void handler(int flags)
{
    struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = flags };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
}

/* One SIGALRM in ALARM_MS. */
static void arm(void)
{
    struct itimerval it = { .it_value = { 0, ALARM_MS * 1000 } };
    setitimer(ITIMER_REAL, &it, NULL);
}

static void disarm(void)
{
    struct itimerval it = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &it, NULL);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

/* The peer's "hello" (sent in one write), of which buf holds the first n bytes: reads the
 * rest if it came in pieces (buf holds 16). 0, or -1 having said why. */
static int hello_rest(int s, char *buf, ssize_t n)
{
    while (n < 5) {
        ssize_t k = recv(s, buf + n, 16 - (size_t)n, 0);
        CHECK(k > 0, "recv rest: %zd", k);
        n += k;
    }
    CHECK(n == 5 && memcmp(buf, "hello", 5) == 0, "got %zd bytes '%.*s', want 'hello'", n,
          (int)n, buf);
    return 0;
}

/* No SA_RESTART: recv fails with EINTR once the handler has run. */
static int case_no_restart(int s)
{
    char buf[16];
    handler(0);
    alarms = 0;
    long t0 = now_ms();
    arm();
    ssize_t n = recv(s, buf, sizeof(buf), 0);
    int err = errno;
    long dt = now_ms() - t0;
    disarm();
    CHECK(n == -1 && err == EINTR, "recv=%zd errno=%s, want -1 EINTR", n,
          n < 0 ? strerror(err) : "-");
    CHECK(alarms == 1, "handler ran %d times, want 1", (int)alarms);
    CHECK(dt >= ALARM_MS - 10 && dt < ALARM_MS + 1000, "EINTR after %ld ms, want ~%d", dt,
          ALARM_MS);
    return 0;
}

/* SA_RESTART but SO_RCVTIMEO set: the kernel does not restart, EINTR. */
static int case_restart_with_timeout(int s)
{
    char buf[16];
    struct timeval tv = { 5, 0 };
    CHECK(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0, "SO_RCVTIMEO: %s",
          strerror(errno));
    handler(SA_RESTART);
    alarms = 0;
    arm();
    ssize_t n = recv(s, buf, sizeof(buf), 0);
    int err = errno;
    disarm();
    tv = (struct timeval){ 0, 0 };
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    CHECK(n == -1 && err == EINTR, "recv=%zd errno=%s, want -1 EINTR", n,
          n < 0 ? strerror(err) : "-");
    CHECK(alarms == 1, "handler ran %d times, want 1", (int)alarms);
    return 0;
}

/* poll and epoll_wait are never restarted, SA_RESTART or not. */
static int case_poll_not_restarted(int s)
{
    handler(SA_RESTART);
    alarms = 0;
    struct pollfd f = { .fd = s, .events = POLLIN };
    arm();
    int n = poll(&f, 1, -1);
    int err = errno;
    disarm();
    CHECK(n == -1 && err == EINTR, "poll=%d errno=%s, want -1 EINTR", n,
          n < 0 ? strerror(err) : "-");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = s };
    CHECK(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) == 0, "epoll setup: %s",
          strerror(errno));
    arm();
    n = epoll_wait(ep, &ev, 1, -1);
    err = errno;
    disarm();
    close(ep);
    CHECK(n == -1 && err == EINTR, "epoll_wait=%d errno=%s, want -1 EINTR", n,
          n < 0 ? strerror(err) : "-");
    CHECK(alarms == 2, "handler ran %d times, want 2", (int)alarms);
    return 0;
}

/* SA_RESTART: the handler runs, recv goes on waiting and returns the data sent 1 s later. */
static int case_restart(int s)
{
    char buf[16];
    handler(SA_RESTART);
    alarms = 0;
    CHECK(send(s, "D", 1, 0) == 1, "send: %s", strerror(errno));
    arm();
    ssize_t n = recv(s, buf, sizeof(buf), 0);
    int err = errno;
    disarm();
    CHECK(n > 0, "recv=%zd errno=%s, want the peer's data (restarted after the handler)", n,
          n < 0 ? strerror(err) : "-");
    CHECK(hello_rest(s, buf, n) == 0, "the peer's answer");
    CHECK(alarms == 1, "handler ran %d times, want 1", (int)alarms);
    return 0;
}

static sigjmp_buf jump_env;

static void on_alarm_jump(int sig)
{
    (void)sig;
    alarms++;
    siglongjmp(jump_env, 1);
}

/*
 * A handler leaves a blocked recv by siglongjmp (alarm and siglongjmp: an old way to time a
 * call out); the peer's answer to a D then still comes, seen by epoll_wait. On netcore a
 * blocked recv first spins on the device, holding it from the netstack thread
 * (core/devwatch.c; test_sem_eintr.sh's second run spins 1 s, so the alarm comes inside the
 * spin): a hold that went along with the jump would leave the device unread, and epoll_wait,
 * which does not spin, would wait in vain.
 */
static int case_recv_longjmp(int s)
{
    char buf[16];
    struct sigaction sa = { .sa_handler = on_alarm_jump };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    alarms = 0;
    CHECK(send(s, "D", 1, 0) == 1, "send: %s", strerror(errno));
    if (sigsetjmp(jump_env, 1) == 0) {
        arm();
        ssize_t n = recv(s, buf, sizeof(buf), 0);
        int err = errno;
        disarm();
        CHECK(0, "recv=%zd errno=%s, want the handler to leave it", n,
              n < 0 ? strerror(err) : "-");
    }
    disarm();
    CHECK(alarms == 1, "handler ran %d times, want 1", (int)alarms);
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = s };
    CHECK(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) == 0, "epoll: %s", strerror(errno));
    int k = epoll_wait(ep, &ev, 1, 5000);
    close(ep);
    CHECK(k == 1, "epoll_wait=%d, want the peer's answer within 5 s", k);
    return hello_rest(s, buf, 0);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: sem_eintr IP PORT\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])) };
    inet_pton(AF_INET, argv[1], &a.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) != 0) {
        fprintf(stderr, "FAIL: sem_eintr: connect %s:%s: %s\n", argv[1], argv[2],
                strerror(errno));
        return 1;
    }
    struct {
        const char *name;
        int (*fn)(int);
    } cases[] = { { "no SA_RESTART: recv EINTR", case_no_restart },
                  { "SA_RESTART + SO_RCVTIMEO: recv EINTR", case_restart_with_timeout },
                  { "SA_RESTART: poll/epoll_wait EINTR", case_poll_not_restarted },
                  { "SA_RESTART: recv restarted", case_restart },
                  { "recv left by siglongjmp", case_recv_longjmp } };
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].fn(s) != 0)
            failed++;
        else
            printf("ok: %s\n", cases[i].name);
    }
    close(s);
    return failed != 0;
}
