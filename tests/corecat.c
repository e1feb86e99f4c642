/*
 * corecat — a small netcat on the core API (include/netcore.h), not on the preload shim: the
 * tool the TAP tests drive against kernel-side peers.
 *
 *   corecat connect IP PORT   TCP client
 *   corecat listen PORT       TCP server for one connection (on 0.0.0.0); says
 *                             "corecat: listening on 0.0.0.0:PORT" on stderr once it listens
 *   corecat udp IP PORT       each stdin line (newline included) is one datagram; after each
 *                             one, replies go to stdout, waiting at most REPLY_MS for the
 *                             first; after the last line, stragglers for TAIL_MS
 *
 * TCP pumps both directions at once: stdin → socket, then shutdown(SHUT_WR) at stdin EOF;
 * socket → stdout until the peer's EOF (a thread of its own). The stack comes from the
 * environment (NETCORE_TAP, NETCORE_IP, ... as in netcore_config_from_env) and runs its own
 * thread. Errors go to stderr as `corecat: CALL [ADDR]: reason`, exit status 1.
 *
 * Standard input and output use libc read/write: nothing is preloaded here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "netcore.h"

#define BUF_SIZE 65536
#define REPLY_MS 1000    /* udp: longest wait for the reply to a line */
#define TAIL_MS 200      /* udp: wait for late replies after the last line */
#define LINGER_MS 5000   /* TCP: longest wait for a closed connection to go quiet */
#define QUIET_MS 200     /* ... judged quiet after this long without a frame */

static struct netcore_stack *st;

static void usage(void)
{
    fprintf(stderr, "usage: corecat connect IP PORT | corecat listen PORT | "
                    "corecat udp IP PORT\n");
    exit(2);
}

static void die(const char *what, const char *where, int neg_errno)
{
    if (where != NULL)
        fprintf(stderr, "corecat: %s %s: %s\n", what, where, strerror(-neg_errno));
    else
        fprintf(stderr, "corecat: %s: %s\n", what, strerror(-neg_errno));
    if (st != NULL)
        netcore_stop(st);
    exit(1);
}

static int parse_port(const char *s)
{
    char *end;
    errno = 0;
    long p = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || p < 0 || p > 65535) {
        fprintf(stderr, "corecat: bad port '%s'\n", s);
        exit(2);
    }
    return (int)p;
}

static struct sockaddr_in parse_addr(const char *ip, const char *port)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
        fprintf(stderr, "corecat: bad IPv4 address '%s'\n", ip);
        exit(2);
    }
    a.sin_port = htons((uint16_t)parse_port(port));
    return a;
}

static void addr_str(const struct sockaddr_in *a, char *out, size_t len)
{
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
    snprintf(out, len, "%s:%u", ip, ntohs(a->sin_port));
}

/* Writes all of buf to fd, retrying short writes and EINTR. Returns 0 or negative errno. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Sends all of buf on TCP socket s. Returns 0 or negative errno. */
static int send_all(int s, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = netcore_send(st, s, buf, len, 0);
        if (n == -EINTR)
            continue;
        if (n < 0)
            return (int)n;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

struct rx_job {
    int sock;
    int err;          /* negative errno of the failed call, 0 when the peer's EOF came */
    const char *what; /* the failed call */
};

/* Socket → stdout until the peer's EOF or an error. */
static void *rx_main(void *arg)
{
    struct rx_job *job = arg;
    static char buf[BUF_SIZE];
    for (;;) {
        ssize_t n = netcore_recv(st, job->sock, buf, sizeof(buf), 0);
        if (n == -EINTR)
            continue;
        if (n < 0) {
            job->err = (int)n;
            job->what = "recv";
            return NULL;
        }
        if (n == 0)
            return NULL;
        int rc = write_all(STDOUT_FILENO, buf, (size_t)n);
        if (rc < 0) {
            job->err = rc;
            job->what = "write stdout";
            return NULL;
        }
    }
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * netcore_stop aborts connections still in the stack, and the API cannot tell when lwIP has
 * had the last of a closed socket's data acknowledged. Wait (at most LINGER_MS) until the
 * socket table is empty (send ring handed to lwIP) and no frame has moved for QUIET_MS.
 */
static void linger(void)
{
    long long end = now_ms() + LINGER_MS, quiet_since = now_ms();
    uint64_t frames = UINT64_MAX;
    while (now_ms() < end) {
        struct netcore_stats s;
        netcore_get_stats(st, &s);
        uint64_t f = s.rx_frames + s.tx_frames;
        if (s.sockets != 0 || f != frames)
            quiet_since = now_ms();
        else if (now_ms() - quiet_since >= QUIET_MS)
            return;
        frames = f;
        usleep(20000);
    }
}

/*
 * Pumps both directions of a connected TCP socket, closes it and lingers. Returns the exit
 * status after printing any error.
 */
static int pump(int s)
{
    struct rx_job job = { .sock = s };
    pthread_t rx;
    int rc = pthread_create(&rx, NULL, rx_main, &job);
    if (rc != 0)
        die("pthread_create", NULL, -rc);

    static char buf[BUF_SIZE];
    const char *what = NULL;
    int err = 0;
    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = -errno;
            what = "read stdin";
            break;
        }
        if (n == 0)
            break;
        err = send_all(s, buf, (size_t)n);
        if (err < 0) {
            what = "send";
            break;
        }
    }
    if (what == NULL) {
        err = netcore_shutdown(st, s, SHUT_WR);
        if (err < 0)
            what = "shutdown";
    }
    pthread_join(rx, NULL);
    int status = 0;
    if (what != NULL) {
        fprintf(stderr, "corecat: %s: %s\n", what, strerror(-err));
        status = 1;
    }
    if (job.what != NULL) {
        fprintf(stderr, "corecat: %s: %s\n", job.what, strerror(-job.err));
        status = 1;
    }
    netcore_close(st, s);
    linger();
    return status;
}

static int do_connect(const char *ip, const char *port)
{
    struct sockaddr_in a = parse_addr(ip, port);
    char where[32];
    addr_str(&a, where, sizeof(where));
    int s = netcore_socket(st, AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        die("socket", NULL, s);
    int rc;
    do
        rc = netcore_connect(st, s, (struct sockaddr *)&a, sizeof(a));
    while (rc == -EINTR);
    if (rc < 0)
        die("connect", where, rc);
    return pump(s);
}

static int do_listen(const char *port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
    a.sin_port = htons((uint16_t)parse_port(port));
    char where[32];
    addr_str(&a, where, sizeof(where));
    int l = netcore_socket(st, AF_INET, SOCK_STREAM, 0);
    if (l < 0)
        die("socket", NULL, l);
    int one = 1;
    netcore_setsockopt(st, l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int rc = netcore_bind(st, l, (struct sockaddr *)&a, sizeof(a));
    if (rc < 0)
        die("bind", where, rc);
    rc = netcore_listen(st, l, 1);
    if (rc < 0)
        die("listen", where, rc);
    fprintf(stderr, "corecat: listening on %s\n", where); /* tests wait for this line */
    int s;
    do
        s = netcore_accept(st, l, NULL, NULL, 0);
    while (s == -EINTR);
    if (s < 0)
        die("accept", where, s);
    netcore_close(st, l); /* one connection: later ones are refused */
    return pump(s);
}

/*
 * Prints the datagrams queued on s, waiting up to wait_ms for one when none has been printed
 * yet (all of wait_ms when `all`). Returns 0 or negative errno (an ICMP error from the peer
 * surfaces here, e.g. -ECONNREFUSED).
 */
static int udp_drain(int s, int wait_ms, bool all)
{
    static char buf[BUF_SIZE];
    long long end = now_ms() + wait_ms;
    bool got = false;
    for (;;) {
        ssize_t n = netcore_recv(st, s, buf, sizeof(buf), MSG_DONTWAIT);
        if (n >= 0) {
            int rc = write_all(STDOUT_FILENO, buf, (size_t)n);
            if (rc < 0)
                return rc;
            got = true;
            continue;
        }
        if (n != -EAGAIN)
            return (int)n;
        long long left = end - now_ms();
        if (left <= 0 || (got && !all))
            return 0;
        int r = netcore_wait(st, s, POLLIN, (int)left);
        if (r < 0 && r != -EINTR)
            return r;
    }
}

static int do_udp(const char *ip, const char *port)
{
    struct sockaddr_in a = parse_addr(ip, port);
    char where[32];
    addr_str(&a, where, sizeof(where));
    int s = netcore_socket(st, AF_INET, SOCK_DGRAM, 0);
    if (s < 0)
        die("socket", NULL, s);
    int rc = netcore_connect(st, s, (struct sockaddr *)&a, sizeof(a));
    if (rc < 0)
        die("connect", where, rc);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        ssize_t n = netcore_send(st, s, line, (size_t)len, 0);
        if (n < 0) {
            free(line);
            die("send", where, (int)n);
        }
        rc = udp_drain(s, REPLY_MS, false);
        if (rc < 0) {
            free(line);
            die("recv", where, rc);
        }
    }
    free(line);
    if (ferror(stdin))
        die("read stdin", NULL, -EIO);
    rc = udp_drain(s, TAIL_MS, true);
    if (rc < 0)
        die("recv", where, rc);
    netcore_close(st, s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    const char *mode = argv[1];
    bool tcp_connect = !strcmp(mode, "connect"), udp = !strcmp(mode, "udp");
    if ((tcp_connect || udp) ? argc != 4 : strcmp(mode, "listen") || argc != 3)
        usage();
    signal(SIGPIPE, SIG_IGN); /* a closed stdout is reported as EPIPE */

    struct netcore_config cfg;
    char err[512];
    netcore_config_defaults(&cfg);
    if (netcore_config_from_env(&cfg, NULL, err, sizeof(err)) < 0) {
        fprintf(stderr, "corecat: %s\n", err);
        return 1;
    }
    int rc = netcore_start(&cfg, 0, &st, err, sizeof(err));
    if (rc < 0) {
        st = NULL;
        fprintf(stderr, "corecat: netcore_start: %s\n", err);
        return 1;
    }
    int status = tcp_connect ? do_connect(argv[2], argv[3])
                 : udp       ? do_udp(argv[2], argv[3])
                             : do_listen(argv[2]);
    netcore_stop(st);
    return status;
}
