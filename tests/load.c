/*
 * load: many concurrent TCP connections, every byte checked. The same program is the kernel-
 * side peer (run plainly) and the program under test (run under the shim), so both ends of the
 * load test are the same code on different stacks.
 *
 *   load client ADDR PORT CONNS BYTES   open CONNS connections at once, wait until all are up,
 *                                       send BYTES on each and check the echo; only when every
 *                                       echo is complete shut all down, so all CONNS are open
 *                                       at the same time on both ends.
 *   load server ADDR PORT CONNS         echo server: echo each connection until EOF, then close;
 *                                       exit after CONNS connections.
 *
 * Each connection's bytes come from its own xorshift stream (seeded by the connection's index,
 * sent as the first 4 bytes), so the receiver can check content without storing it. The last
 * line is "load: <role> conns=N max_open=M bytes=B hwm_kb=K errors=E" for the script to check.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { CHUNK = 16384, DEADLINE_S = 120 };

struct conn {
    int fd;
    uint32_t index;
    uint64_t tx_state, rx_state; /* xorshift states of the two directions' generators */
    uint64_t sent, got;          /* payload bytes, not counting the 4-byte index */
    int hdr_got;                 /* server: bytes of the index header read so far */
    unsigned char hdr[4];
    int state;                   /* client: 0 connecting, 1 up, 2 echoed, 3 shut, 4 done */
    size_t pend_off, pend_len;   /* server: echo bytes read but not yet written */
    unsigned char pend[CHUNK];
};

static unsigned long errors;
static long long started_ms;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *what)
{
    fprintf(stderr, "load: %s: %s\n", what, strerror(errno));
    exit(2);
}

static uint64_t seed(uint32_t index)
{
    return 0x9e3779b97f4a7c15ULL * (index + 1) | 1;
}

/* One byte of a connection's stream; the state is the position. */
static unsigned char next_byte(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return (unsigned char)(x >> 32);
}

static long hwm_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* 1,000 connections need more descriptors than the default soft limit of 1,024 on either
 * stack (netcore also uses one per epoll registration), as they would for any server. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void parse_addr(const char *ip, const char *port, struct sockaddr_in *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)atoi(port));
    if (inet_pton(AF_INET, ip, &sa->sin_addr) != 1) {
        fprintf(stderr, "load: bad address %s\n", ip);
        exit(2);
    }
}

static void watch(int ep, struct conn *c, uint32_t events, int op)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };
    if (epoll_ctl(ep, op, c->fd, &ev) < 0)
        die("epoll_ctl");
}

static void check_deadline(void)
{
    if (now_ms() - started_ms > DEADLINE_S * 1000L) {
        fprintf(stderr, "load: gave up after %d s\n", DEADLINE_S);
        exit(3);
    }
}

/* ------------------------------------------------------------------------------ client */

static int client_send(struct conn *c, uint64_t bytes)
{
    unsigned char buf[CHUNK];
    while (c->sent < bytes) {
        size_t n = 0;
        if (c->sent == 0 && c->hdr_got == 0) {
            memcpy(buf, &c->index, 4);
            n = 4;
        }
        uint64_t st = c->tx_state;
        size_t payload = 0;
        while (n < sizeof(buf) && c->sent + payload < bytes) {
            buf[n++] = next_byte(&st);
            payload++;
        }
        ssize_t w = send(c->fd, buf, n, MSG_NOSIGNAL);
        if (w < 0)
            return errno == EAGAIN ? 0 : -errno;
        /* A short write: rewind the generator to what actually left. */
        size_t hdr = c->hdr_got == 0 && c->sent == 0 ? 4 : 0;
        if ((size_t)w < hdr) {
            fprintf(stderr, "load: short header write\n");
            exit(2);
        }
        c->hdr_got = 4;
        for (size_t i = 0; i < (size_t)w - hdr; i++)
            next_byte(&c->tx_state);
        c->sent += (size_t)w - hdr;
    }
    return 1;
}

static int client_recv(struct conn *c, uint64_t bytes)
{
    unsigned char buf[CHUNK];
    for (;;) {
        ssize_t r = recv(c->fd, buf, sizeof(buf), 0);
        if (r < 0)
            return errno == EAGAIN ? 0 : -errno;
        if (r == 0)
            return c->got == bytes ? 2 : -EPIPE;
        for (ssize_t i = 0; i < r; i++)
            if (next_byte(&c->rx_state) != buf[i]) {
                if (errors++ < 5)
                    fprintf(stderr, "load: conn %u: byte %llu differs\n", c->index,
                            (unsigned long long)(c->got + (uint64_t)i));
            }
        c->got += (uint64_t)r;
        if (c->got > bytes)
            return -EMSGSIZE;
    }
}

static int run_client(const struct sockaddr_in *sa, unsigned conns, uint64_t bytes)
{
    struct conn *cs = calloc(conns, sizeof(*cs));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!cs || ep < 0)
        die("setup");
    for (unsigned i = 0; i < conns; i++) {
        struct conn *c = &cs[i];
        c->index = i;
        c->tx_state = c->rx_state = seed(i);
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (c->fd < 0)
            die("socket");
        if (connect(c->fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 && errno != EINPROGRESS)
            die("connect");
        watch(ep, c, EPOLLOUT, EPOLL_CTL_ADD);
    }
    unsigned up = 0, echoed = 0, done = 0, max_open = 0;
    struct epoll_event evs[256];
    while (done < conns) {
        check_deadline();
        int n = epoll_wait(ep, evs, 256, 1000);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int k = 0; k < n; k++) {
            struct conn *c = evs[k].data.ptr;
            int rc;
            if (c->state == 0) {
                int err = 0;
                socklen_t len = sizeof(err);
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err) {
                    errno = err;
                    die("connect (SO_ERROR)");
                }
                c->state = 1;
                /* Hold until every connection is up: then all are open at once. */
                watch(ep, c, 0, EPOLL_CTL_MOD);
                if (++up == conns) {
                    max_open = up;
                    for (unsigned i = 0; i < conns; i++)
                        watch(ep, &cs[i], EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
                }
                continue;
            }
            if (c->state == 1) {
                if ((rc = client_send(c, bytes)) < 0 || (rc = client_recv(c, bytes)) < 0) {
                    errno = -rc;
                    die("transfer");
                }
                if (c->sent == bytes)
                    watch(ep, c, EPOLLIN, EPOLL_CTL_MOD);
                if (c->got == bytes) {
                    c->state = 2;
                    watch(ep, c, 0, EPOLL_CTL_MOD);
                    if (++echoed == conns)
                        for (unsigned i = 0; i < conns; i++) {
                            shutdown(cs[i].fd, SHUT_WR);
                            cs[i].state = 3;
                            watch(ep, &cs[i], EPOLLIN, EPOLL_CTL_MOD);
                        }
                }
                continue;
            }
            if (c->state == 3) {
                rc = client_recv(c, bytes);
                if (rc < 0) {
                    errno = -rc;
                    die("waiting for EOF");
                }
                if (rc == 2) {
                    c->state = 4;
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    close(c->fd);
                    done++;
                }
            }
        }
    }
    printf("load: client conns=%u max_open=%u bytes=%llu hwm_kb=%ld errors=%lu\n", done, max_open,
           (unsigned long long)bytes * conns * 2, hwm_kb(), errors);
    close(ep);
    free(cs);
    return errors ? 1 : 0;
}

/* ------------------------------------------------------------------------------ server */

/* Read what there is and write it back; returns 1 at EOF with nothing left to echo. */
static int server_echo(struct conn *c)
{
    for (;;) {
        while (c->pend_len > 0) {
            ssize_t w = send(c->fd, c->pend + c->pend_off, c->pend_len, MSG_NOSIGNAL);
            if (w < 0)
                return errno == EAGAIN ? 0 : -errno;
            c->pend_off += (size_t)w;
            c->pend_len -= (size_t)w;
        }
        ssize_t r = recv(c->fd, c->pend, sizeof(c->pend), 0);
        if (r < 0)
            return errno == EAGAIN ? 0 : -errno;
        if (r == 0)
            return 1;
        size_t off = 0;
        while (c->hdr_got < 4 && off < (size_t)r)
            c->hdr[c->hdr_got++] = c->pend[off++];
        if (c->hdr_got == 4 && c->got == 0 && off > 0) {
            memcpy(&c->index, c->hdr, 4);
            c->rx_state = seed(c->index);
        }
        for (size_t i = off; i < (size_t)r; i++)
            if (next_byte(&c->rx_state) != c->pend[i] && errors++ < 5)
                fprintf(stderr, "load: server conn %u: byte %llu differs\n", c->index,
                        (unsigned long long)(c->got + i - off));
        c->got += (size_t)r - off;
        /* The echo carries the payload only: the client checks it against the same stream. */
        c->pend_off = off;
        c->pend_len = (size_t)r - off;
    }
}

static int run_server(const struct sockaddr_in *sa, unsigned conns)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (lfd < 0 || ep < 0)
        die("socket");
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(lfd, (const struct sockaddr *)sa, sizeof(*sa)) < 0)
        die("bind");
    if (listen(lfd, 4096) < 0)
        die("listen");
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
        die("epoll_ctl");
    printf("load: listening\n");
    fflush(stdout);
    unsigned accepted = 0, done = 0, open_now = 0, max_open = 0;
    uint64_t total = 0;
    struct epoll_event evs[256];
    while (done < conns) {
        int n = epoll_wait(ep, evs, 256, 1000);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        if (accepted > 0)
            check_deadline();
        for (int k = 0; k < n; k++) {
            struct conn *c = evs[k].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (accepted++ == 0)
                        started_ms = now_ms();
                    c = calloc(1, sizeof(*c));
                    if (!c)
                        die("calloc");
                    c->fd = fd;
                    watch(ep, c, EPOLLIN | EPOLLOUT | EPOLLET, EPOLL_CTL_ADD);
                    if (++open_now > max_open)
                        max_open = open_now;
                }
                if (errno != EAGAIN)
                    die("accept4");
                continue;
            }
            int rc = server_echo(c);
            if (rc < 0) {
                errno = -rc;
                die("echo");
            }
            if (rc == 1) {
                total += c->got;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                free(c);
                open_now--;
                done++;
            }
        }
    }
    printf("load: server conns=%u max_open=%u bytes=%llu hwm_kb=%ld errors=%lu\n", done, max_open,
           (unsigned long long)total * 2, hwm_kb(), errors);
    close(lfd);
    close(ep);
    return errors ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa;
    setvbuf(stdout, NULL, _IOLBF, 0);
    raise_nofile();
    started_ms = now_ms();
    if (argc == 6 && strcmp(argv[1], "client") == 0) {
        parse_addr(argv[2], argv[3], &sa);
        return run_client(&sa, (unsigned)atoi(argv[4]), strtoull(argv[5], NULL, 10));
    }
    if (argc == 5 && strcmp(argv[1], "server") == 0) {
        parse_addr(argv[2], argv[3], &sa);
        return run_server(&sa, (unsigned)atoi(argv[4]));
    }
    fprintf(stderr, "usage: load client ADDR PORT CONNS BYTES | load server ADDR PORT CONNS\n");
    return 2;
}
