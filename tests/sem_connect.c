/*
 * sem_connect: non-blocking connect (EINPROGRESS, POLLOUT, SO_ERROR, connect again) and refused
 * connections, compared with the kernel. Usage: sem_connect IP OPEN_PORT CLOSED_PORT — an echo
 * server listens on OPEN_PORT, nothing on CLOSED_PORT. Prints "FAIL: sem_connect: ..." per
 * failed case; exits 1 if any failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 5000

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "FAIL: sem_connect: %s: ", __func__);                         \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
            return -1;                                                                    \
        }                                                                                 \
    } while (0)

static struct sockaddr_in open_addr, closed_addr;

static const char *err_name(int rc, int err)
{
    return rc < 0 ? strerror(err) : "-";
}

static int so_error(int s)
{
    int e = -1;
    socklen_t len = sizeof(e);
    if (getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
        return -errno;
    return e;
}

/*
 * Non-blocking connect: EINPROGRESS, then POLLOUT and SO_ERROR 0. The kernel answers a second
 * connect on the now established socket with 0 (it completes the connect) and a third with
 * EISCONN. The socket then carries data.
 */
static int case_nonblocking(void)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CHECK(s >= 0, "socket: %s", strerror(errno));
    int rc = connect(s, (struct sockaddr *)&open_addr, sizeof(open_addr));
    int err = errno;
    CHECK(rc == -1 && err == EINPROGRESS, "connect=%d errno=%s, want -1 EINPROGRESS", rc,
          err_name(rc, err));
    struct pollfd f = { .fd = s, .events = POLLOUT };
    rc = poll(&f, 1, WAIT_MS);
    CHECK(rc == 1 && f.revents == POLLOUT, "poll=%d revents=%#x, want 1, POLLOUT", rc,
          f.revents);
    CHECK((err = so_error(s)) == 0, "SO_ERROR=%d (%s), want 0", err, strerror(abs(err)));
    rc = connect(s, (struct sockaddr *)&open_addr, sizeof(open_addr));
    err = errno;
    CHECK(rc == 0, "second connect=%d errno=%s, want 0 (as the kernel)", rc, err_name(rc, err));
    rc = connect(s, (struct sockaddr *)&open_addr, sizeof(open_addr));
    err = errno;
    CHECK(rc == -1 && err == EISCONN, "third connect=%d errno=%s, want -1 EISCONN", rc,
          err_name(rc, err));
    struct sockaddr_in peer;
    socklen_t len = sizeof(peer);
    CHECK(getpeername(s, (struct sockaddr *)&peer, &len) == 0 &&
              peer.sin_port == open_addr.sin_port &&
              peer.sin_addr.s_addr == open_addr.sin_addr.s_addr,
          "getpeername: %s", strerror(errno));
    CHECK(send(s, "ping", 4, 0) == 4, "send: %s", strerror(errno));
    char buf[8];
    f.events = POLLIN;
    CHECK(poll(&f, 1, WAIT_MS) == 1 && recv(s, buf, sizeof(buf), 0) == 4 &&
              memcmp(buf, "ping", 4) == 0,
          "no echo: %s", strerror(errno));
    close(s);
    return 0;
}

/* Blocking connect to a port with no listener: ECONNREFUSED. */
static int case_refused_blocking(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s >= 0, "socket: %s", strerror(errno));
    int rc = connect(s, (struct sockaddr *)&closed_addr, sizeof(closed_addr));
    int err = errno;
    CHECK(rc == -1 && err == ECONNREFUSED, "connect=%d errno=%s, want -1 ECONNREFUSED", rc,
          err_name(rc, err));
    CHECK((err = so_error(s)) == 0, "SO_ERROR after the failed connect=%d, want 0 (reported)",
          err);
    close(s);
    return 0;
}

/* Non-blocking: EINPROGRESS, then POLLOUT|POLLERR|POLLHUP, SO_ERROR ECONNREFUSED once, then 0. */
static int case_refused_nonblocking(void)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CHECK(s >= 0, "socket: %s", strerror(errno));
    int rc = connect(s, (struct sockaddr *)&closed_addr, sizeof(closed_addr));
    int err = errno;
    CHECK(rc == -1 && err == EINPROGRESS, "connect=%d errno=%s, want -1 EINPROGRESS", rc,
          err_name(rc, err));
    struct pollfd f = { .fd = s, .events = POLLOUT };
    rc = poll(&f, 1, WAIT_MS);
    CHECK(rc == 1 && f.revents == (POLLOUT | POLLERR | POLLHUP),
          "poll=%d revents=%#x, want 1, POLLOUT|POLLERR|POLLHUP", rc, f.revents);
    CHECK((err = so_error(s)) == ECONNREFUSED, "SO_ERROR=%d (%s), want ECONNREFUSED", err,
          strerror(abs(err)));
    CHECK((err = so_error(s)) == 0, "SO_ERROR read twice=%d, want 0 (cleared by the first)",
          err);
    close(s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: sem_connect IP OPEN_PORT CLOSED_PORT\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    open_addr = (struct sockaddr_in){ .sin_family = AF_INET,
                                      .sin_port = htons((uint16_t)atoi(argv[2])) };
    inet_pton(AF_INET, argv[1], &open_addr.sin_addr);
    closed_addr = open_addr;
    closed_addr.sin_port = htons((uint16_t)atoi(argv[3]));
    struct {
        const char *name;
        int (*fn)(void);
    } cases[] = { { "non-blocking connect", case_nonblocking },
                  { "refused, blocking", case_refused_blocking },
                  { "refused, non-blocking", case_refused_nonblocking } };
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].fn() != 0)
            failed++;
        else
            printf("ok: %s\n", cases[i].name);
    }
    return failed != 0;
}
