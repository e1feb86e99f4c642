/*
 * Two netcore stacks in two processes joined by the wire device (a datagram socketpair):
 * TCP and UDP end to end without root. lwIP is a per-process singleton, so each test forks
 * a peer: the child runs the "server" stack at 198.18.0.1, the parent the "client" at .2.
 * The parent and child also share a pipe for the few steps that need ordering.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blocked.h"
#include "netcore.h"

#define SERVER_IP "198.18.0.1"
#define CLIENT_IP "198.18.0.2"
#define SERVER_IP6 "2001:db8::1"
#define CLIENT_IP6 "2001:db8::2"
#define SERVER_LL "fe80::ff:fe00:1" /* link-local from MAC 02:00:00:00:00:01 */
#define CLIENT_LL "fe80::ff:fe00:2"
#define WIRE_SCOPE 1                /* the wire device's scope id (no kernel interface) */

static int sync_c2p[2], sync_p2c[2]; /* child→parent, parent→child */

static struct netcore_stack *start_stack(int fd, bool server, int flags,
                                         void (*tweak)(struct netcore_config *))
{
    struct netcore_config c;
    netcore_config_defaults(&c);
    c.device = NETCORE_DEV_WIRE;
    c.wire_fd = fd;
    inet_pton(AF_INET, server ? SERVER_IP : CLIENT_IP, &c.ip);
    inet_pton(AF_INET, server ? CLIENT_IP : SERVER_IP, &c.gw);
    inet_pton(AF_INET6, server ? SERVER_IP6 : CLIENT_IP6, &c.ip6);
    c.mac[5] = server ? 1 : 2;
    if (tweak != NULL)
        tweak(&c);
    struct netcore_stack *st = NULL;
    char err[256];
    int rc = netcore_start(&c, flags, &st, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "netcore_start: %s\n", err);
        return NULL;
    }
    return st;
}

static struct sockaddr_in sin_of(const char *ip, int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static void sig_send(int fd, char c)
{
    ck_assert_int_eq(write(fd, &c, 1), 1);
}

static char sig_wait(int fd)
{
    char c = 0;
    ck_assert_int_eq(read(fd, &c, 1), 1);
    return c;
}

typedef int (*server_fn)(struct netcore_stack *st);

static pid_t peer_pid;
static int wire[2];
static void (*server_tweak)(struct netcore_config *);
static void (*client_tweak)(struct netcore_config *);

/* Forks the server process; returns the client stack in the parent. */
static struct netcore_stack *spawn(server_fn fn, int client_flags)
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, wire), 0);
    ck_assert_int_eq(pipe(sync_c2p), 0);
    ck_assert_int_eq(pipe(sync_p2c), 0);
    int big = 4 << 20;
    setsockopt(wire[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    setsockopt(wire[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    peer_pid = fork();
    ck_assert_int_ge(peer_pid, 0);
    if (peer_pid == 0) {
        close(wire[0]);
        struct netcore_stack *st = start_stack(wire[1], true, 0, server_tweak);
        if (st == NULL)
            _exit(2);
        int rc = fn(st);
        /* Stopping the stack drops what it still has to send: wait for the client. */
        sig_wait(sync_p2c[0]);
        netcore_stop(st);
        _exit(rc);
    }
    close(wire[1]);
    struct netcore_stack *st = start_stack(wire[0], false, client_flags, client_tweak);
    ck_assert_ptr_nonnull(st);
    return st;
}

static void reap(struct netcore_stack *st)
{
    int status = 0;
    sig_send(sync_p2c[1], 'E');
    ck_assert_int_eq(waitpid(peer_pid, &status, 0), peer_pid);
    netcore_stop(st);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "server failed: status %d",
                  status);
}

static int listen_on(struct netcore_stack *st, int port, int backlog)
{
    int s = netcore_socket(st, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = sin_of("0.0.0.0", port);
    if (s < 0 || netcore_bind(st, s, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        netcore_listen(st, s, backlog) != 0)
        return -1;
    return s;
}

static int connect_to(struct netcore_stack *st, int port)
{
    int s = netcore_socket(st, AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s, 0);
    struct sockaddr_in a = sin_of(SERVER_IP, port);
    int rc = netcore_connect(st, s, (struct sockaddr *)&a, sizeof(a));
    ck_assert_msg(rc == 0, "connect: %s", strerror(-rc));
    return s;
}

/* Echo server: one connection, echo until EOF, close. */
static int echo_server(struct netcore_stack *st)
{
    int l = listen_on(st, 7, 4);
    if (l < 0)
        return 3;
    sig_send(sync_c2p[1], 'L');
    int c = netcore_accept(st, l, NULL, NULL, 0);
    if (c < 0)
        return 4;
    static char buf[65536];
    for (;;) {
        ssize_t n = netcore_recv(st, c, buf, sizeof(buf), 0);
        if (n < 0) {
            fprintf(stderr, "echo server: recv: %s\n", strerror((int)-n));
            return 5;
        }
        if (n == 0)
            break;
        ssize_t k = netcore_send(st, c, buf, (size_t)n, 0);
        if (k != n) {
            fprintf(stderr, "echo server: send %zd of %zd: %s\n", k, n,
                    k < 0 ? strerror((int)-k) : "short");
            return 6;
        }
    }
    netcore_close(st, c);
    netcore_close(st, l);
    return 0;
}

static uint8_t pattern(size_t i)
{
    uint32_t x = (uint32_t)i * 2654435761u;
    return (uint8_t)(x >> 24 ^ i >> 13);
}

struct writer {
    struct netcore_stack *st;
    int s;
    size_t total, chunk_max;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    uint8_t *buf = malloc(w->chunk_max);
    size_t off = 0;
    unsigned seed = 1;
    while (off < w->total) {
        size_t n = 1 + (size_t)rand_r(&seed) % w->chunk_max;
        if (n > w->total - off)
            n = w->total - off;
        for (size_t i = 0; i < n; i++)
            buf[i] = pattern(off + i);
        ssize_t k = netcore_send(w->st, w->s, buf, n, 0);
        if (k <= 0)
            break;
        off += (size_t)k;
    }
    netcore_shutdown(w->st, w->s, SHUT_WR);
    free(buf);
    return (void *)off;
}

/* Runs server fn and streams total bytes through it from a socket connect_fn opens. */
static void echo_through(server_fn fn, int (*connect_fn)(struct netcore_stack *, int),
                         size_t total, size_t chunk_max)
{
    struct netcore_stack *st = spawn(fn, 0);
    sig_wait(sync_c2p[0]);
    int s = connect_fn(st, 7);
    struct writer w = { st, s, total, chunk_max };
    pthread_t t;
    pthread_create(&t, NULL, writer_main, &w);
    static uint8_t buf[100000];
    size_t got = 0, bad = (size_t)-1;
    for (;;) {
        ssize_t n = netcore_recv(st, s, buf, sizeof(buf), 0);
        ck_assert_msg(n >= 0, "recv: %s", strerror((int)-n));
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n && bad == (size_t)-1; i++)
            if (buf[i] != pattern(got + (size_t)i))
                bad = got + (size_t)i;
        got += (size_t)n;
    }
    void *sent;
    pthread_join(t, &sent);
    ck_assert_uint_eq((size_t)sent, total);
    ck_assert_uint_eq(got, total);
    ck_assert_msg(bad == (size_t)-1, "first differing byte at %zu", bad);
    netcore_close(st, s);
    reap(st);
}

static void echo_roundtrip(size_t total, size_t chunk_max)
{
    echo_through(echo_server, connect_to, total, chunk_max);
}

START_TEST(tcp_echo_16mib)
{
    echo_roundtrip(16u << 20, 65536);
}
END_TEST

START_TEST(tcp_small_writes)
{
    echo_roundtrip(1u << 20, 100);
}
END_TEST

/* Half-close: the server counts bytes until EOF, then answers with the count. */
static int count_server(struct netcore_stack *st)
{
    int l = listen_on(st, 7, 4);
    sig_send(sync_c2p[1], 'L');
    int c = netcore_accept(st, l, NULL, NULL, 0);
    char buf[4096];
    size_t total = 0;
    ssize_t n;
    while ((n = netcore_recv(st, c, buf, sizeof(buf), 0)) > 0)
        total += (size_t)n;
    if (n < 0)
        return 3;
    int len = snprintf(buf, sizeof(buf), "%zu", total);
    if (netcore_send(st, c, buf, (size_t)len, 0) != len)
        return 4;
    netcore_close(st, c);
    netcore_close(st, l);
    return 0;
}

START_TEST(tcp_half_close)
{
    struct netcore_stack *st = spawn(count_server, 0);
    sig_wait(sync_c2p[0]);
    int s = connect_to(st, 7);
    static char data[300000];
    memset(data, 'x', sizeof(data));
    ck_assert_int_eq(netcore_send(st, s, data, sizeof(data), 0), sizeof(data));
    ck_assert_int_eq(netcore_shutdown(st, s, SHUT_WR), 0);
    ck_assert_int_eq(netcore_send(st, s, "y", 1, 0), -EPIPE);
    char reply[64] = { 0 };
    size_t got = 0;
    ssize_t n;
    while ((n = netcore_recv(st, s, reply + got, sizeof(reply) - 1 - got, 0)) > 0)
        got += (size_t)n;
    ck_assert_int_eq(n, 0);
    ck_assert_str_eq(reply, "300000");
    netcore_close(st, s);
    reap(st);
}
END_TEST

/* Reset: the server closes with unread data, which the kernel turns into a RST. */
static int rst_server(struct netcore_stack *st)
{
    int l = listen_on(st, 7, 4);
    sig_send(sync_c2p[1], 'L');
    int c = netcore_accept(st, l, NULL, NULL, 0);
    char b;
    if (netcore_recv(st, c, &b, 1, 0) != 1)
        return 3;
    netcore_close(st, c); /* one byte left unread */
    sig_wait(sync_p2c[0]);
    netcore_close(st, l);
    return 0;
}

START_TEST(tcp_reset)
{
    struct netcore_stack *st = spawn(rst_server, 0);
    sig_wait(sync_c2p[0]);
    int s = connect_to(st, 7);
    ck_assert_int_eq(netcore_send(st, s, "ab", 2, 0), 2);
    char b;
    ck_assert_int_eq(netcore_recv(st, s, &b, 1, 0), -ECONNRESET);
    ck_assert_int_eq(netcore_recv(st, s, &b, 1, 0), 0);
    ck_assert_int_eq(netcore_send(st, s, "c", 1, 0), -EPIPE);
    sig_send(sync_p2c[1], 'D');
    netcore_close(st, s);
    reap(st);
}
END_TEST

/*
 * Ring memory on demand: an idle connection holds none, a ring gets its buffer with data and
 * gives it back after a slow tick (500 ms) or two without any; the connection goes on.
 */
static uint64_t ring_bytes(struct netcore_stack *st)
{
    struct netcore_stats x;
    netcore_get_stats(st, &x);
    return x.ring_bytes;
}

/* Polls until the rings hold `want` bytes; there is no event for a release (a timer's). */
static bool ring_bytes_become(struct netcore_stack *st, uint64_t want, int ms)
{
    for (int i = 0; i < ms / 20; i++) {
        if (ring_bytes(st) == want)
            return true;
        usleep(20 * 1000);
    }
    return ring_bytes(st) == want;
}

static void echo_once(struct netcore_stack *st, int s, const char *msg)
{
    size_t len = strlen(msg);
    char back[64] = { 0 };
    ck_assert_int_eq(netcore_send(st, s, msg, len, 0), (ssize_t)len);
    size_t got = 0;
    while (got < len) {
        ssize_t n = netcore_recv(st, s, back + got, sizeof(back) - 1 - got, 0);
        ck_assert_int_gt(n, 0);
        got += (size_t)n;
    }
    ck_assert_str_eq(back, msg);
}

START_TEST(tcp_ring_on_demand)
{
    struct netcore_stack *st = spawn(echo_server, 0);
    sig_wait(sync_c2p[0]);
    int s = connect_to(st, 7);
    ck_assert_uint_eq(ring_bytes(st), 0); /* established and idle: no ring memory */
    echo_once(st, s, "hello");
    ck_assert_uint_gt(ring_bytes(st), 0); /* both rings just carried data */
    ck_assert_msg(ring_bytes_become(st, 0, 3000), "rings still hold %llu bytes",
                  (unsigned long long)ring_bytes(st));
    echo_once(st, s, "again"); /* memory back on demand */
    netcore_close(st, s);
    reap(st);
}
END_TEST

/*
 * NETCORE_RING_MEM for one ring: while the send ring holds it, the echo waits in lwIP
 * (window closed, nothing dropped) until the idle send ring gives it back; while the
 * receive ring holds it, send says ENOBUFS.
 */
static void one_ring(struct netcore_config *c)
{
    c->sndbuf = c->rcvbuf = 65536;
    c->ring_mem = 65536;
}

START_TEST(tcp_ring_mem_cap)
{
    client_tweak = one_ring;
    struct netcore_stack *st = spawn(echo_server, 0);
    client_tweak = NULL;
    sig_wait(sync_c2p[0]);
    int s = connect_to(st, 7);
    char back[8] = { 0 };
    ck_assert_int_eq(netcore_send(st, s, "hello", 5, 0), 5);
    /* Blocks until the echo finds room: the send ring idle a tick, released. */
    ck_assert_int_eq(netcore_recv(st, s, back, 5, MSG_WAITALL), 5);
    ck_assert_str_eq(back, "hello");
    struct netcore_stats x;
    netcore_get_stats(st, &x);
    ck_assert_uint_ge(x.ring_refused, 1);
    ck_assert_uint_eq(x.ring_bytes, 65536); /* the receive ring's */
    ck_assert_int_eq(netcore_send(st, s, "again", 5, 0), -ENOBUFS);
    ck_assert(ring_bytes_become(st, 0, 3000));
    echo_once(st, s, "again");
    netcore_close(st, s);
    reap(st);
}
END_TEST

static int idle_server(struct netcore_stack *st)
{
    (void)st;
    sig_send(sync_c2p[1], 'L');
    sig_wait(sync_p2c[0]);
    return 0;
}

START_TEST(tcp_refused)
{
    struct netcore_stack *st = spawn(idle_server, 0);
    sig_wait(sync_c2p[0]);
    int s = netcore_socket(st, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = sin_of(SERVER_IP, 9);
    ck_assert_int_eq(netcore_connect(st, s, (struct sockaddr *)&a, sizeof(a)), -ECONNREFUSED);
    sig_send(sync_p2c[1], 'D');
    netcore_close(st, s);
    reap(st);
}
END_TEST

/* Connect timeout: nobody answers ARP; the controllable clock runs lwIP's SYN retries. */
START_TEST(tcp_connect_timeout)
{
    netcore_clock_manual(1);
    struct netcore_stack *st = spawn(idle_server, NETCORE_MANUAL);
    sig_wait(sync_c2p[0]);
    int s = netcore_socket(st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = sin_of("198.18.0.99", 80);
    ck_assert_int_eq(netcore_connect(st, s, (struct sockaddr *)&a, sizeof(a)), -EINPROGRESS);
    int steps = 0;
    while (netcore_poll(st, s, POLLOUT) == 0 && steps < 10000) {
        netcore_clock_advance(250);
        netcore_step(st, 0);
        steps++;
    }
    ck_assert_uint_ne(netcore_poll(st, s, POLLOUT) & POLLERR, 0);
    int err = 0;
    socklen_t len = sizeof(err);
    ck_assert_int_eq(netcore_getsockopt(st, s, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    ck_assert_int_eq(err, ETIMEDOUT);
    /* lwIP gives up after its SYN retries: minutes of simulated time, not of test time. */
    ck_assert_int_gt(steps, 4 * 10);
    sig_send(sync_p2c[1], 'D');
    netcore_close(st, s);
    reap(st);
}
END_TEST

/* Backlog overflow: with backlog 2, three connections may wait for accept() (the kernel's
 * queue is full only beyond the backlog); further SYNs are dropped (the client retries, as
 * with the kernel); once the server accepts, they get through. */
static void backlog_tweak(struct netcore_config *c)
{
    c->backlog = 2;
}

static int backlog_server(struct netcore_stack *st)
{
    int l = listen_on(st, 7, 100); /* capped to NETCORE_BACKLOG=2 */
    sig_send(sync_c2p[1], 'L');
    sig_wait(sync_p2c[0]);
    struct netcore_stats stats;
    netcore_get_stats(st, &stats);
    if (stats.accept_overflows < 2) {
        fprintf(stderr, "backlog server: %llu SYNs dropped, want >= 2\n",
                (unsigned long long)stats.accept_overflows);
        return 3;
    }
    for (int i = 0; i < 5; i++) {
        int c = netcore_accept(st, l, NULL, NULL, 0);
        if (c < 0 || netcore_send(st, c, "ok", 2, 0) != 2)
            return 4;
        netcore_close(st, c);
    }
    netcore_set_nonblock(st, l, 1);
    if (netcore_accept(st, l, NULL, NULL, 0) != -EAGAIN)
        return 6;
    netcore_close(st, l);
    return 0;
}

START_TEST(tcp_backlog_overflow)
{
    server_tweak = backlog_tweak;
    struct netcore_stack *st = spawn(backlog_server, 0);
    sig_wait(sync_c2p[0]);
    int s[5];
    char b[4];
    for (int i = 0; i < 5; i++) {
        s[i] = netcore_socket(st, AF_INET, SOCK_STREAM | (i >= 3 ? SOCK_NONBLOCK : 0), 0);
        struct sockaddr_in a = sin_of(SERVER_IP, 7);
        ck_assert_int_eq(netcore_connect(st, s[i], (struct sockaddr *)&a, sizeof(a)),
                         i < 3 ? 0 : -EINPROGRESS);
    }
    /* The queue is full: the fourth and fifth handshakes do not complete. */
    ck_assert_int_eq(netcore_wait(st, s[3], POLLOUT, 300), 0);
    ck_assert_int_eq(netcore_poll(st, s[4], POLLOUT), 0);
    sig_send(sync_p2c[1], 'A');
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(netcore_wait(st, s[i], POLLOUT, 20000), POLLOUT);
        netcore_set_nonblock(st, s[i], 0);
        ck_assert_int_eq(netcore_recv(st, s[i], b, 2, MSG_WAITALL), 2);
        ck_assert_int_eq(memcmp(b, "ok", 2), 0);
    }
    for (int i = 0; i < 5; i++)
        netcore_close(st, s[i]);
    reap(st);
}
END_TEST

/* UDP echo on port 5000; a datagram "burst" asks for 100 datagrams to the sender's port
 * 6000 followed by one to port 6001. */
static int udp_server(struct netcore_stack *st)
{
    int u = netcore_socket(st, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = sin_of("0.0.0.0", 5000);
    if (netcore_bind(st, u, (struct sockaddr *)&a, sizeof(a)) != 0)
        return 3;
    sig_send(sync_c2p[1], 'L');
    static char buf[65536];
    for (;;) {
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        ssize_t n = netcore_recvfrom(st, u, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
        if (n < 0)
            return 4;
        if (n == 4 && memcmp(buf, "done", 4) == 0)
            break;
        if (n == 5 && memcmp(buf, "burst", 5) == 0) {
            struct sockaddr_in to = from;
            to.sin_port = htons(6000);
            for (int i = 0; i < 100; i++)
                netcore_sendto(st, u, buf, 10, 0, (struct sockaddr *)&to, sizeof(to));
            to.sin_port = htons(6001);
            netcore_sendto(st, u, "end", 3, 0, (struct sockaddr *)&to, sizeof(to));
            continue;
        }
        if (netcore_sendto(st, u, buf, (size_t)n, 0, (struct sockaddr *)&from, fl) != n)
            return 5;
    }
    netcore_close(st, u);
    return 0;
}

static int udp_bound(struct netcore_stack *st, int port)
{
    int u = netcore_socket(st, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = sin_of("0.0.0.0", port);
    ck_assert_int_eq(netcore_bind(st, u, (struct sockaddr *)&a, sizeof(a)), 0);
    return u;
}

START_TEST(udp_datagrams)
{
    struct netcore_stack *st = spawn(udp_server, 0);
    sig_wait(sync_c2p[0]);
    int u = netcore_socket(st, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in srv = sin_of(SERVER_IP, 5000);
    ck_assert_int_eq(netcore_connect(st, u, (struct sockaddr *)&srv, sizeof(srv)), 0);
    static char out[1400], in[2000];
    for (size_t i = 0; i < sizeof(out); i++)
        out[i] = (char)pattern(i);
    size_t sizes[] = { 1, 100, 1400, 0, 7 };
    for (size_t i = 0; i < 5; i++)
        ck_assert_int_eq(netcore_send(st, u, out, sizes[i], 0), (ssize_t)sizes[i]);
    for (size_t i = 0; i < 5; i++) {
        ssize_t n = netcore_recv(st, u, in, sizeof(in), 0);
        ck_assert_int_eq(n, (ssize_t)sizes[i]); /* boundaries kept */
        ck_assert_int_eq(memcmp(in, out, sizes[i]), 0);
    }
    /* Truncation: the rest of the datagram is discarded; MSG_TRUNC tells the real size. */
    ck_assert_int_eq(netcore_send(st, u, out, 100, 0), 100);
    ck_assert_int_eq(netcore_send(st, u, out, 100, 0), 100);
    ck_assert_int_eq(netcore_recv(st, u, in, 10, 0), 10);
    ck_assert_int_eq(netcore_recv(st, u, in, 10, MSG_TRUNC), 100);
    ck_assert_int_eq(netcore_recv(st, u, in, 10, MSG_DONTWAIT), -EAGAIN);
    ck_assert_int_eq(netcore_send(st, u, "done", 4, 0), 4);
    netcore_close(st, u);
    reap(st);
}
END_TEST

START_TEST(udp_queue_overflow)
{
    struct netcore_stack *st = spawn(udp_server, 0);
    sig_wait(sync_c2p[0]);
    int sink = udp_bound(st, 6000), marker = udp_bound(st, 6001);
    struct sockaddr_in srv = sin_of(SERVER_IP, 5000);
    ck_assert_int_eq(netcore_sendto(st, marker, "burst", 5, 0, (struct sockaddr *)&srv,
                                    sizeof(srv)), 5);
    char buf[64];
    ck_assert_int_eq(netcore_recv(st, marker, buf, sizeof(buf), 0), 3); /* after the 100 */
    int got = 0;
    while (netcore_recv(st, sink, buf, sizeof(buf), MSG_DONTWAIT) == 10)
        got++;
    struct netcore_stats stats;
    netcore_get_stats(st, &stats);
    ck_assert_int_eq(got, 64);
    ck_assert_uint_eq(stats.udp_dropped, 36);
    ck_assert_int_eq(netcore_sendto(st, marker, "done", 4, 0, (struct sockaddr *)&srv,
                                    sizeof(srv)), 4);
    netcore_close(st, sink);
    netcore_close(st, marker);
    reap(st);
}
END_TEST

/* Accepts connections until one sends "q"; each gets its byte echoed then closed. */
static int cycle_server(struct netcore_stack *st)
{
    int l = listen_on(st, 7, 64);
    sig_send(sync_c2p[1], 'L');
    for (;;) {
        int c = netcore_accept(st, l, NULL, NULL, 0);
        if (c < 0)
            return 3;
        char b;
        if (netcore_recv(st, c, &b, 1, 0) != 1)
            return 4;
        if (b == 'q') {
            netcore_close(st, c);
            break;
        }
        if (netcore_send(st, c, &b, 1, 0) != 1)
            return 5;
        char z;
        if (netcore_recv(st, c, &z, 1, 0) != 0) /* wait for the client's FIN */
            return 6;
        netcore_close(st, c);
    }
    netcore_close(st, l);
    return 0;
}

static void one_cycle(struct netcore_stack *st, char b)
{
    int s = connect_to(st, 7);
    char r;
    ck_assert_int_eq(netcore_send(st, s, &b, 1, 0), 1);
    if (b != 'q')
        ck_assert_int_eq(netcore_recv(st, s, &r, 1, 0), 1);
    netcore_close(st, s);
}

static size_t heap_in_use(struct netcore_stack *st)
{
    /* Let TIME-WAIT run out: 2 MSL is 120 s of lwIP time. */
    netcore_clock_manual(1);
    for (int i = 0; i < 1000; i++) { /* lwIP's slow timer ticks once per step */
        netcore_clock_advance(250);
        netcore_step(st, 0);
    }
    struct netcore_stats stats;
    netcore_get_stats(st, &stats);
    ck_assert_int_eq(stats.time_wait, 0);
    ck_assert_int_eq(stats.sockets, 0);
    return mallinfo2().uordblks;
}

START_TEST(tcp_10k_cycles)
{
    mallopt(M_ARENA_MAX, 1); /* all threads in one arena, so mallinfo2 sees everything */
    struct netcore_stack *st = spawn(cycle_server, 0);
    sig_wait(sync_c2p[0]);
    for (int i = 0; i < 200; i++)
        one_cycle(st, 'x');
    size_t before = heap_in_use(st);
    struct netcore_stats s0;
    netcore_get_stats(st, &s0);
    for (int i = 0; i < 10000; i++)
        one_cycle(st, 'x');
    struct netcore_stats s1;
    netcore_step(st, 0); /* the cap is applied on every timer tick and step */
    netcore_get_stats(st, &s1);
    ck_assert_int_le(s1.time_wait, 1024); /* capped */
    ck_assert_uint_gt(s1.time_wait_evicted, 0);
    size_t after = heap_in_use(st);
    one_cycle(st, 'q');
    ck_assert_msg(after <= before + 16384, "heap grew from %zu to %zu bytes", before, after);
    reap(st);
}
END_TEST

/* Frames from the wire that are short, foreign or garbage are dropped and counted. */
static struct netcore_stack *raw_stack_with(int *peer, void (*tweak)(struct netcore_config *))
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, wire), 0);
    *peer = wire[1];
    struct netcore_stack *st = start_stack(wire[0], false, NETCORE_MANUAL, tweak);
    ck_assert_ptr_nonnull(st);
    return st;
}

static struct netcore_stack *raw_stack(int *peer)
{
    return raw_stack_with(peer, NULL);
}

static void put(int fd, const void *f, size_t len)
{
    ck_assert_int_eq(send(fd, f, len, 0), (ssize_t)len);
}

/* An ARP request for our address; returns true when the stack answers it. */
static bool answers_arp(struct netcore_stack *st, int peer)
{
    uint8_t f[42] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06,
                      0, 1, 0x08, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 198, 18, 0, 1,
                      0, 0, 0, 0, 0, 0, 198, 18, 0, 2 };
    put(peer, f, sizeof(f));
    netcore_step(st, 0);
    uint8_t r[2048];
    ssize_t n;
    while ((n = recv(peer, r, sizeof(r), MSG_DONTWAIT)) > 0)
        if (n >= 42 && r[12] == 0x08 && r[13] == 0x06 && r[21] == 2 && r[31] == 2)
            return true; /* ARP reply from 198.18.0.2 */
    return false;
}

START_TEST(frames_dropped_and_counted)
{
    int peer;
    struct netcore_stack *st = raw_stack(&peer);
    uint8_t f[1514];
    memset(f, 0, sizeof(f));
    put(peer, f, 5); /* runt */
    memcpy(f, "\x02\x00\x00\x00\x00\x99", 6); /* someone else's MAC */
    f[12] = 0x08;
    put(peer, f, 60);
    memcpy(f, "\x02\x00\x00\x00\x00\x02", 6); /* ours, unknown ethertype */
    f[12] = 0x12;
    f[13] = 0x34;
    put(peer, f, 60);
    f[12] = 0x08; /* IPv4 with a broken header: bad length, bad checksum */
    f[13] = 0x00;
    f[14] = 0x4f;
    put(peer, f, 60);
    netcore_step(st, 0);
    struct netcore_stats s;
    netcore_get_stats(st, &s);
    ck_assert_uint_eq(s.rx_frames, 4);
    ck_assert_uint_eq(s.rx_dropped_malformed, 2);
    ck_assert_uint_eq(s.rx_dropped_foreign, 2);
    ck_assert(answers_arp(st, peer));
    netcore_stop(st);
    close(peer);
}
END_TEST

/* An ICMP echo request from 198.18.0.1 with our MAC, to dst (network order bytes). */
static size_t echo_frame(uint8_t *f, const uint8_t dst[4])
{
    static const uint8_t head[34] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00,
                                      0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0,
                                      198, 18, 0, 1 };
    memcpy(f, head, 30);
    memcpy(f + 30, dst, 4);
    uint32_t sum = 0;
    for (int i = 14; i < 34; i += 2)
        sum += (uint32_t)(f[i] << 8 | f[i + 1]);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = ~sum & 0xffff;
    f[24] = (uint8_t)(sum >> 8);
    f[25] = (uint8_t)sum;
    /* ICMP echo request id 1 seq 1, no payload: checksum ~(0x0800 + 1 + 1) */
    static const uint8_t icmp[8] = { 8, 0, 0xf7, 0xfd, 0, 1, 0, 1 };
    memcpy(f + 34, icmp, 8);
    memset(f + 42, 0, 18);
    return 60;
}

static bool echo_replied(int peer)
{
    uint8_t r[2048];
    ssize_t n;
    bool got = false;
    while ((n = recv(peer, r, sizeof(r), MSG_DONTWAIT)) > 0)
        if (n >= 42 && r[12] == 0x08 && r[13] == 0 && r[23] == 1 && r[34] == 0)
            got = true;
    return got;
}

/* A well-formed packet with our MAC but another IP address is someone else's: dropped and
 * counted, never answered (we do not forward); the same packet to our address is. */
START_TEST(frames_for_other_ip_dropped)
{
    int peer;
    struct netcore_stack *st = raw_stack(&peer);
    uint8_t f[64];
    struct netcore_stats s;
    static const uint8_t ours[4] = { 198, 18, 0, 2 }, other[4] = { 198, 18, 0, 9 },
                         far[4] = { 203, 0, 113, 5 };
    put(peer, f, echo_frame(f, other));
    put(peer, f, echo_frame(f, far));
    netcore_step(st, 0);
    ck_assert(!echo_replied(peer));
    netcore_get_stats(st, &s);
    ck_assert_uint_eq(s.rx_dropped_foreign, 2);
    put(peer, f, echo_frame(f, ours));
    netcore_step(st, 0);
    /* lwIP may resolve 198.18.0.1 by ARP first: let it learn the address, and ask again. */
    bool replied = echo_replied(peer);
    if (!replied) {
        ck_assert(answers_arp(st, peer));
        put(peer, f, echo_frame(f, ours));
        netcore_step(st, 0);
        replied = echo_replied(peer);
    }
    ck_assert(replied);
    netcore_get_stats(st, &s);
    ck_assert_uint_eq(s.rx_dropped_foreign, 2);
    netcore_stop(st);
    close(peer);
}
END_TEST

/* 20,000 random frames, half of them addressed to us as IPv4/ARP/IPv6: no crash, and the
 * stack still answers afterwards. */
START_TEST(frames_random_garbage)
{
    int peer;
    struct netcore_stack *st = raw_stack(&peer);
    int one = 1 << 22;
    setsockopt(peer, SOL_SOCKET, SO_SNDBUF, &one, sizeof(one));
    unsigned seed = 12345;
    static const uint8_t types[3][2] = { { 8, 0 }, { 8, 6 }, { 0x86, 0xdd } };
    uint8_t f[1514];
    for (int i = 0; i < 20000; i++) {
        size_t len = (size_t)rand_r(&seed) % sizeof(f);
        for (size_t k = 0; k < len; k++)
            f[k] = (uint8_t)rand_r(&seed);
        if (len > 14 && (i & 1)) {
            memcpy(f, "\x02\x00\x00\x00\x00\x02", 6);
            memcpy(f + 12, types[i % 3], 2);
        }
        if (len > 0)
            put(peer, f, len);
        if (i % 64 == 0)
            netcore_step(st, 0);
        uint8_t sink[2048];
        while (recv(peer, sink, sizeof(sink), MSG_DONTWAIT) > 0)
            ;
    }
    netcore_step(st, 0);
    ck_assert(answers_arp(st, peer));
    netcore_stop(st);
    close(peer);
}
END_TEST

/* A close in one thread while another is blocked on the same socket: the blocked call
 * returns EBADF and nothing is used after it is freed (valgrind runs this suite). */
struct blocked {
    struct netcore_stack *st;
    int s;
    bool accept;
    ssize_t rc;
    _Atomic pid_t tid;
};

static void *call_blocked(void *arg)
{
    struct blocked *b = arg;
    char buf[16];
    atomic_store(&b->tid, gettid());
    b->rc = b->accept ? netcore_accept(b->st, b->s, NULL, NULL, 0)
                      : netcore_recv(b->st, b->s, buf, sizeof(buf), 0);
    return NULL;
}

START_TEST(close_while_blocked)
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, wire), 0);
    struct netcore_stack *st = start_stack(wire[0], false, 0, NULL);
    ck_assert_ptr_nonnull(st);
    struct blocked b[2] = { { st, udp_bound(st, 7000), false, 1, 0 },
                            { st, listen_on(st, 7001, 4), true, 1, 0 } };
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, call_blocked, &b[i]);
    /* Closed once each thread sleeps in its call (netcore's wait on the socket). */
    for (int i = 0; i < 2; i++)
        ck_assert(thread_blocked(&b[i].tid, 5000));
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(netcore_close(st, b[i].s), 0);
        pthread_join(t[i], NULL);
        ck_assert_int_eq(b[i].rc, -EBADF);
    }
    struct netcore_stats stats;
    netcore_get_stats(st, &stats);
    ck_assert_int_eq(stats.sockets, 0);
    netcore_stop(st);
    close(wire[1]);
}
END_TEST

/* The peer closes first; we read EOF, shut our side, and close once our FIN is
 * acknowledged (lwIP has then dropped the connection): the socket is freed. */
static int close_first_server(struct netcore_stack *st)
{
    int l = listen_on(st, 7, 4);
    sig_send(sync_c2p[1], 'L');
    for (int i = 0; i < 3; i++) {
        int c = netcore_accept(st, l, NULL, NULL, 0);
        if (c < 0)
            return 3;
        netcore_close(st, c);
    }
    netcore_close(st, l);
    return 0;
}

START_TEST(tcp_peer_closes_first)
{
    struct netcore_stack *st = spawn(close_first_server, 0);
    sig_wait(sync_c2p[0]);
    for (int i = 0; i < 3; i++) {
        int s = connect_to(st, 7);
        char b;
        ck_assert_int_eq(netcore_recv(st, s, &b, 1, 0), 0);
        ck_assert_int_eq(netcore_shutdown(st, s, SHUT_WR), 0);
        /* No event says "our FIN was acknowledged": watch TCP_INFO's state, bounded. */
        struct tcp_info ti;
        for (int k = 0; k < 500; k++) {
            socklen_t len = sizeof(ti);
            ck_assert_int_eq(netcore_getsockopt(st, s, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
            if (ti.tcpi_state == TCP_CLOSE)
                break;
            usleep(10000);
        }
        ck_assert_int_eq(ti.tcpi_state, TCP_CLOSE);
        ck_assert_int_eq(netcore_close(st, s), 0);
        struct netcore_stats stats;
        netcore_get_stats(st, &stats);
        ck_assert_int_eq(stats.sockets, 0);
    }
    reap(st);
}
END_TEST

/* IPv6: the same stacks also hold 2001:db8::1 and ::2, and link-local addresses. */

static struct sockaddr_in6 sin6_of(const char *ip, int port)
{
    struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
    ck_assert_int_eq(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
    if (IN6_IS_ADDR_LINKLOCAL(&a.sin6_addr))
        a.sin6_scope_id = WIRE_SCOPE;
    return a;
}

/* "addr port" (with "%scope" when there is one) of a sockaddr_in6 of length 28. */
static void name6(const struct sockaddr_in6 *a, socklen_t len, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (len != sizeof(*a) || a->sin6_family != AF_INET6) {
        snprintf(out, outlen, "bad sockaddr: len %u family %d", len, a->sin6_family);
        return;
    }
    inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
    if (a->sin6_scope_id != 0)
        snprintf(out, outlen, "%s%%%u %u", ip, a->sin6_scope_id, ntohs(a->sin6_port));
    else
        snprintf(out, outlen, "%s %u", ip, ntohs(a->sin6_port));
}

/* An AF_INET6 TCP listener on [::]:port, dual-stack unless v6only. */
static int listen6_on(struct netcore_stack *st, int port, int v6only)
{
    int s = netcore_socket(st, AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = sin6_of("::", port);
    if (s < 0 ||
        netcore_setsockopt(st, s, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) != 0 ||
        netcore_bind(st, s, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        netcore_listen(st, s, 8) != 0)
        return -1;
    return s;
}

static int connect6(struct netcore_stack *st, const char *ip, int port)
{
    int s = netcore_socket(st, AF_INET6, SOCK_STREAM, 0);
    ck_assert_int_ge(s, 0);
    struct sockaddr_in6 a = sin6_of(ip, port);
    int rc = netcore_connect(st, s, (struct sockaddr *)&a, sizeof(a));
    ck_assert_msg(rc == 0, "connect [%s]:%d: %s", ip, port, strerror(-rc));
    return s;
}

static int connect_to6(struct netcore_stack *st, int port)
{
    return connect6(st, SERVER_IP6, port);
}

/* Echo server on a dual-stack [::]:7 that checks the peer's address is 2001:db8::2. */
static int echo6_server(struct netcore_stack *st)
{
    int l = listen6_on(st, 7, 0);
    if (l < 0)
        return 3;
    sig_send(sync_c2p[1], 'L');
    struct sockaddr_in6 peer;
    socklen_t len = sizeof(peer);
    int c = netcore_accept(st, l, (struct sockaddr *)&peer, &len, 0);
    char name[80];
    name6(&peer, len, name, sizeof(name));
    if (c < 0 || strncmp(name, CLIENT_IP6 " ", strlen(CLIENT_IP6) + 1) != 0) {
        fprintf(stderr, "echo6 server: accept %d from %s\n", c, name);
        return 4;
    }
    static char buf[65536];
    ssize_t n;
    while ((n = netcore_recv(st, c, buf, sizeof(buf), 0)) > 0)
        if (netcore_send(st, c, buf, (size_t)n, 0) != n)
            return 5;
    netcore_close(st, c);
    netcore_close(st, l);
    return n == 0 ? 0 : 6;
}

START_TEST(tcp6_echo)
{
    echo_through(echo6_server, connect_to6, 4u << 20, 65536);
}
END_TEST

/*
 * Dual stack: the server answers each connection with what it sees, "peer | local"; IPv4
 * clients appear IPv4-mapped. The client connects over IPv4 from an AF_INET socket, over
 * IPv4 from an AF_INET6 socket (::ffff:198.18.0.1), over IPv6 and link-local.
 */
static int whoami_server(struct netcore_stack *st)
{
    int l = listen6_on(st, 7, 0);
    if (l < 0)
        return 3;
    sig_send(sync_c2p[1], 'L');
    for (int i = 0; i < 4; i++) {
        struct sockaddr_in6 peer, self;
        socklen_t plen = sizeof(peer), slen = sizeof(self);
        int c = netcore_accept(st, l, (struct sockaddr *)&peer, &plen, 0);
        if (c < 0 || netcore_getsockname(st, c, (struct sockaddr *)&self, &slen) != 0)
            return 4;
        char p[80], me[80], msg[200];
        name6(&peer, plen, p, sizeof(p));
        name6(&self, slen, me, sizeof(me));
        int n = snprintf(msg, sizeof(msg), "%s | %s", p, me);
        if (netcore_send(st, c, msg, (size_t)n, 0) != n)
            return 5;
        char z;
        netcore_recv(st, c, &z, 1, 0); /* the client's close */
        netcore_close(st, c);
    }
    netcore_close(st, l);
    return 0;
}

/* Reads the server's answer on s, minus the port numbers that vary, and closes s. */
static void answer(struct netcore_stack *st, int s, char *out, size_t outlen)
{
    char buf[200] = { 0 };
    ck_assert_int_gt(netcore_recv(st, s, buf, sizeof(buf) - 1, 0), 0);
    char a[80], b[80];
    unsigned pa, pb;
    ck_assert_msg(sscanf(buf, "%79s %u | %79s %u", a, &pa, b, &pb) == 4, "answer '%s'", buf);
    ck_assert_uint_eq(pb, 7);
    snprintf(out, outlen, "%s | %s", a, b);
    netcore_close(st, s);
}

START_TEST(tcp6_dual_stack)
{
    struct netcore_stack *st = spawn(whoami_server, 0);
    sig_wait(sync_c2p[0]);
    char got[200];

    answer(st, connect_to(st, 7), got, sizeof(got));
    ck_assert_str_eq(got, "::ffff:" CLIENT_IP " | ::ffff:" SERVER_IP);

    int s = connect6(st, "::ffff:" SERVER_IP, 7);
    struct sockaddr_in6 a;
    socklen_t len = sizeof(a);
    char name[80];
    ck_assert_int_eq(netcore_getpeername(st, s, (struct sockaddr *)&a, &len), 0);
    name6(&a, len, name, sizeof(name));
    ck_assert_str_eq(name, "::ffff:" SERVER_IP " 7");
    len = sizeof(a);
    ck_assert_int_eq(netcore_getsockname(st, s, (struct sockaddr *)&a, &len), 0);
    name6(&a, len, name, sizeof(name));
    ck_assert_msg(strncmp(name, "::ffff:" CLIENT_IP " ", strlen(CLIENT_IP) + 8) == 0, "%s", name);
    answer(st, s, got, sizeof(got));
    ck_assert_str_eq(got, "::ffff:" CLIENT_IP " | ::ffff:" SERVER_IP);

    answer(st, connect6(st, SERVER_IP6, 7), got, sizeof(got));
    ck_assert_str_eq(got, CLIENT_IP6 " | " SERVER_IP6);

    s = connect6(st, SERVER_LL, 7);
    len = sizeof(a);
    ck_assert_int_eq(netcore_getsockname(st, s, (struct sockaddr *)&a, &len), 0);
    name6(&a, len, name, sizeof(name));
    ck_assert_msg(strncmp(name, CLIENT_LL "%1 ", strlen(CLIENT_LL) + 3) == 0, "%s", name);
    answer(st, s, got, sizeof(got));
    ck_assert_str_eq(got, CLIENT_LL "%1 | " SERVER_LL "%1");
    reap(st);
}
END_TEST

/* IPV6_V6ONLY: an IPv6-only listener resets IPv4 connections and takes IPv6 ones. */
static int v6only_server(struct netcore_stack *st)
{
    int l = listen6_on(st, 7, 1);
    if (l < 0)
        return 3;
    sig_send(sync_c2p[1], 'L');
    int c = netcore_accept(st, l, NULL, NULL, 0);
    if (c < 0 || netcore_send(st, c, "6", 1, 0) != 1)
        return 4;
    sig_wait(sync_p2c[0]);
    netcore_close(st, c);
    netcore_close(st, l);
    return 0;
}

START_TEST(tcp6_v6only)
{
    struct netcore_stack *st = spawn(v6only_server, 0);
    sig_wait(sync_c2p[0]);
    int s = netcore_socket(st, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = sin_of(SERVER_IP, 7);
    ck_assert_int_eq(netcore_connect(st, s, (struct sockaddr *)&a, sizeof(a)), -ECONNREFUSED);
    netcore_close(st, s);
    /* From an AF_INET6 socket too, and an IPv6-only client cannot even try. */
    s = netcore_socket(st, AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 m = sin6_of("::ffff:" SERVER_IP, 7);
    ck_assert_int_eq(netcore_connect(st, s, (struct sockaddr *)&m, sizeof(m)), -ECONNREFUSED);
    netcore_close(st, s);
    s = netcore_socket(st, AF_INET6, SOCK_STREAM, 0);
    int one = 1;
    ck_assert_int_eq(netcore_setsockopt(st, s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)), 0);
    ck_assert_int_eq(netcore_connect(st, s, (struct sockaddr *)&m, sizeof(m)), -ENETUNREACH);
    netcore_close(st, s);
    s = connect6(st, SERVER_IP6, 7);
    char b;
    ck_assert_int_eq(netcore_recv(st, s, &b, 1, 0), 1);
    ck_assert_int_eq(b, '6');
    sig_send(sync_p2c[1], 'D');
    netcore_close(st, s);
    reap(st);
}
END_TEST

/* UDP echo on a dual-stack [::]:5000 that prefixes each answer with the sender it saw. */
static int udp6_server(struct netcore_stack *st)
{
    int u = netcore_socket(st, AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 a = sin6_of("::", 5000);
    if (netcore_bind(st, u, (struct sockaddr *)&a, sizeof(a)) != 0)
        return 3;
    sig_send(sync_c2p[1], 'L');
    for (;;) {
        char buf[256], out[400];
        struct sockaddr_in6 from;
        socklen_t fl = sizeof(from);
        ssize_t n = netcore_recvfrom(st, u, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&from,
                                     &fl);
        if (n < 0)
            return 4;
        buf[n] = '\0';
        if (strcmp(buf, "done") == 0)
            break;
        char name[80];
        name6(&from, fl, name, sizeof(name));
        int k = snprintf(out, sizeof(out), "%s | %s", name, buf);
        /* The answer goes back to the address as seen: IPv4-mapped ones over IPv4. */
        if (netcore_sendto(st, u, out, (size_t)k, 0, (struct sockaddr *)&from, fl) != k)
            return 5;
    }
    netcore_close(st, u);
    return 0;
}

/* Sends msg on u to `to`, returns the answer and who sent it. */
static void udp_ask(struct netcore_stack *st, int u, const struct sockaddr *to, socklen_t tl,
                    const char *msg, char *got, size_t gotlen, struct sockaddr_storage *from,
                    socklen_t *fl)
{
    ck_assert_int_eq(netcore_sendto(st, u, msg, strlen(msg), 0, to, tl), (ssize_t)strlen(msg));
    ssize_t n = netcore_recvfrom(st, u, got, gotlen - 1, 0, (struct sockaddr *)from, fl);
    ck_assert_int_gt(n, 0);
    got[n] = '\0';
}

START_TEST(udp6_datagrams)
{
    struct netcore_stack *st = spawn(udp6_server, 0);
    sig_wait(sync_c2p[0]);
    char got[400], exp[200], name[80];
    struct sockaddr_storage from;
    socklen_t fl;

    int u6 = netcore_socket(st, AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 srv6 = sin6_of(SERVER_IP6, 5000);
    fl = sizeof(from);
    udp_ask(st, u6, (struct sockaddr *)&srv6, sizeof(srv6), "v6", got, sizeof(got), &from, &fl);
    name6((struct sockaddr_in6 *)&from, fl, name, sizeof(name));
    ck_assert_str_eq(name, SERVER_IP6 " 5000");
    struct sockaddr_in6 self;
    socklen_t sl = sizeof(self);
    ck_assert_int_eq(netcore_getsockname(st, u6, (struct sockaddr *)&self, &sl), 0);
    snprintf(exp, sizeof(exp), CLIENT_IP6 " %u | v6", ntohs(self.sin6_port));
    ck_assert_str_eq(got, exp);

    /* The same AF_INET6 socket reaches IPv4 by a mapped address, or a plain sockaddr_in. */
    struct sockaddr_in6 srv_m = sin6_of("::ffff:" SERVER_IP, 5000);
    fl = sizeof(from);
    udp_ask(st, u6, (struct sockaddr *)&srv_m, sizeof(srv_m), "m", got, sizeof(got), &from, &fl);
    name6((struct sockaddr_in6 *)&from, fl, name, sizeof(name));
    ck_assert_str_eq(name, "::ffff:" SERVER_IP " 5000");
    snprintf(exp, sizeof(exp), "::ffff:" CLIENT_IP " %u | m", ntohs(self.sin6_port));
    ck_assert_str_eq(got, exp);
    struct sockaddr_in srv4 = sin_of(SERVER_IP, 5000);
    fl = sizeof(from);
    udp_ask(st, u6, (struct sockaddr *)&srv4, sizeof(srv4), "4", got, sizeof(got), &from, &fl);
    name6((struct sockaddr_in6 *)&from, fl, name, sizeof(name));
    ck_assert_str_eq(name, "::ffff:" SERVER_IP " 5000");

    /* An AF_INET client: the server saw it mapped; the answer came back over IPv4. */
    int u4 = netcore_socket(st, AF_INET, SOCK_DGRAM, 0);
    fl = sizeof(from);
    udp_ask(st, u4, (struct sockaddr *)&srv4, sizeof(srv4), "plain", got, sizeof(got), &from,
            &fl);
    ck_assert_uint_eq(fl, sizeof(struct sockaddr_in));
    ck_assert_msg(strncmp(got, "::ffff:" CLIENT_IP " ", strlen(CLIENT_IP) + 8) == 0, "%s", got);

    /* Link-local, and a short buffer: the name is cut, its length still says 28. */
    struct sockaddr_in6 ll = sin6_of(SERVER_LL, 5000);
    fl = 8;
    udp_ask(st, u6, (struct sockaddr *)&ll, sizeof(ll), "ll", got, sizeof(got), &from, &fl);
    ck_assert_uint_eq(fl, sizeof(struct sockaddr_in6));
    snprintf(exp, sizeof(exp), CLIENT_LL "%%1 %u | ll", ntohs(self.sin6_port));
    ck_assert_str_eq(got, exp);

    /* A connected socket learns of a closed port from ICMPv6 port unreachable. */
    int c = netcore_socket(st, AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 closed = sin6_of(SERVER_IP6, 5999);
    ck_assert_int_eq(netcore_connect(st, c, (struct sockaddr *)&closed, sizeof(closed)), 0);
    ck_assert_int_eq(netcore_send(st, c, "x", 1, 0), 1);
    char b;
    struct timeval tv = { .tv_sec = 5 };
    netcore_setsockopt(st, c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ck_assert_int_eq(netcore_recv(st, c, &b, 1, 0), -ECONNREFUSED);

    ck_assert_int_eq(netcore_sendto(st, u6, "done", 4, 0, (struct sockaddr *)&srv6,
                                    sizeof(srv6)), 4);
    netcore_close(st, c);
    netcore_close(st, u4);
    netcore_close(st, u6);
    reap(st);
}
END_TEST

/* IPv6 frames from the wire: checked, counted, and answered as neighbour discovery needs. */
static void mtu9000(struct netcore_config *c)
{
    c->mtu = 9000;
}

static uint16_t sum16(uint32_t sum, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)(p[len - 1] << 8);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

/*
 * An Ethernet frame to dmac carrying an IPv6 packet src -> dst with next header nh and the
 * given payload, whose checksum (at csum_off in the payload) is filled in. Returns its length.
 */
static size_t frame6(uint8_t *f, const uint8_t dmac[6], const char *src, const char *dst,
                     uint8_t nh, const uint8_t *payload, size_t plen, size_t csum_off)
{
    static const uint8_t smac[6] = { 2, 0, 0, 0, 0, 1 };
    memcpy(f, dmac, 6);
    memcpy(f + 6, smac, 6);
    f[12] = 0x86;
    f[13] = 0xdd;
    uint8_t *ip = f + 14;
    memset(ip, 0, 40);
    ip[0] = 0x60;
    ip[4] = (uint8_t)(plen >> 8);
    ip[5] = (uint8_t)plen;
    ip[6] = nh;
    ip[7] = 255;
    inet_pton(AF_INET6, src, ip + 8);
    inet_pton(AF_INET6, dst, ip + 24);
    memcpy(ip + 40, payload, plen);
    uint8_t *pl = ip + 40;
    pl[csum_off] = pl[csum_off + 1] = 0;
    uint32_t pseudo = sum16(0, ip + 8, 32) + (uint32_t)plen + nh;
    uint16_t c = (uint16_t)~sum16(pseudo, pl, plen);
    pl[csum_off] = (uint8_t)(c >> 8);
    pl[csum_off + 1] = (uint8_t)c;
    return 14 + 40 + plen;
}

/* Collects what the stack sent: whether an IPv6 frame of next header nh and first payload
 * byte `type` went out, with its payload copied into out. */
static bool sent6(int peer, uint8_t nh, uint8_t type, uint8_t *out, size_t outlen)
{
    uint8_t r[9100];
    ssize_t n;
    bool got = false;
    while ((n = recv(peer, r, sizeof(r), MSG_DONTWAIT)) > 0) {
        if (got || n < 14 + 40 + 1 || r[12] != 0x86 || r[13] != 0xdd || r[14 + 6] != nh)
            continue;
        if (nh == 58 ? r[54] != type : (r[54 + 13] & 0x12) != type)
            continue;
        got = true;
        memcpy(out, r + 54, (size_t)n - 54 < outlen ? (size_t)n - 54 : outlen);
    }
    return got;
}

START_TEST(frames_ipv6)
{
    int peer;
    struct netcore_stack *st = raw_stack_with(&peer, mtu9000);
    static const uint8_t ours[6] = { 2, 0, 0, 0, 0, 2 }, mld[6] = { 0x33, 0x33, 0, 0, 0, 0x16 },
                         sol[6] = { 0x33, 0x33, 0xff, 0, 0, 2 };
    uint8_t f[200], echo[8] = { 128, 0, 0, 0, 0, 1, 0, 1 }, out[64];
    struct netcore_stats s;
    size_t n;

    /* Malformed: an IPv4 header under the IPv6 ethertype; a payload longer than the frame. */
    n = frame6(f, ours, SERVER_IP6, CLIENT_IP6, 58, echo, sizeof(echo), 2);
    f[14] = 0x45;
    put(peer, f, n);
    n = frame6(f, ours, SERVER_IP6, CLIENT_IP6, 58, echo, sizeof(echo), 2);
    f[14 + 5] = 100;
    put(peer, f, n);
    /* Foreign: another host's address, a group we are not in, another solicited-node group. */
    put(peer, f, frame6(f, ours, SERVER_IP6, "2001:db8::99", 58, echo, sizeof(echo), 2));
    put(peer, f, frame6(f, mld, SERVER_IP6, "ff02::16", 58, echo, sizeof(echo), 2));
    put(peer, f, frame6(f, sol, SERVER_IP6, "ff02::1:ff00:99", 58, echo, sizeof(echo), 2));
    netcore_step(st, 0);
    netcore_get_stats(st, &s);
    ck_assert_uint_eq(s.rx_dropped_malformed, 2);
    ck_assert_uint_eq(s.rx_dropped_foreign, 3);
    ck_assert(!sent6(peer, 58, 129, out, sizeof(out)));

    /* Neighbour solicitation for our address, to its solicited-node group: we advertise our
     * MAC, and learn the sender's from its option. */
    uint8_t ns[32] = { 135, 0 };
    inet_pton(AF_INET6, CLIENT_IP6, ns + 8);
    ns[24] = 1; /* source link-layer address option */
    ns[25] = 1;
    memcpy(ns + 26, (const uint8_t[]){ 2, 0, 0, 0, 0, 1 }, 6);
    put(peer, f, frame6(f, sol, SERVER_IP6, "ff02::1:ff00:2", 58, ns, sizeof(ns), 2));
    netcore_step(st, 0);
    ck_assert(sent6(peer, 58, 136, out, sizeof(out)));
    uint8_t target[16];
    inet_pton(AF_INET6, CLIENT_IP6, target);
    ck_assert_mem_eq(out + 8, target, 16);
    ck_assert_int_eq(out[24], 2); /* target link-layer address option: our MAC */
    ck_assert_mem_eq(out + 26, ours, 6);

    /* Echo to our address is answered. */
    put(peer, f, frame6(f, ours, SERVER_IP6, CLIENT_IP6, 58, echo, sizeof(echo), 2));
    netcore_step(st, 0);
    ck_assert(sent6(peer, 58, 129, out, sizeof(out)));

    /* A SYN to an IPv6 listener: the SYN-ACK offers the link's MTU less 60 bytes of headers
     * (our MSS rewriting covers IPv6 as it does IPv4). */
    int l = netcore_socket(st, AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 any = sin6_of("::", 80);
    ck_assert_int_eq(netcore_bind(st, l, (struct sockaddr *)&any, sizeof(any)), 0);
    ck_assert_int_eq(netcore_listen(st, l, 4), 0);
    uint8_t syn[24] = { 0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02, 0xff, 0xff,
                        0, 0, 0, 0, 2, 4, 0x22, 0xec }; /* MSS 8940 */
    put(peer, f, frame6(f, ours, SERVER_IP6, CLIENT_IP6, 6, syn, sizeof(syn), 16));
    netcore_step(st, 0);
    ck_assert(sent6(peer, 6, 0x12, out, sizeof(out)));
    ck_assert_int_eq(out[20], 2); /* lwIP puts MSS first */
    ck_assert_int_eq(out[22] << 8 | out[23], 9000 - 60);

    /* ISNs hash all 128 bits of the addresses: the same SYN from hosts that differ only in
     * the low bits gets unrelated sequence numbers, not the 4 us clock's few steps apart. */
    uint32_t isn[3];
    isn[0] = (uint32_t)out[4] << 24 | out[5] << 16 | out[6] << 8 | out[7];
    for (int i = 1; i < 3; i++) {
        char src[INET6_ADDRSTRLEN];
        snprintf(src, sizeof(src), "2001:db8::%d", 2 + i);
        put(peer, f, frame6(f, sol, src, "ff02::1:ff00:2", 58, ns, sizeof(ns), 2));
        put(peer, f, frame6(f, ours, src, CLIENT_IP6, 6, syn, sizeof(syn), 16));
        netcore_step(st, 0);
        ck_assert(sent6(peer, 6, 0x12, out, sizeof(out)));
        isn[i] = (uint32_t)out[4] << 24 | out[5] << 16 | out[6] << 8 | out[7];
    }
    uint32_t spread = 0;
    for (int i = 0; i < 3; i++) {
        uint32_t d = isn[i] - isn[(i + 1) % 3];
        d = d < 0x80000000u ? d : -d;
        spread = d > spread ? d : spread;
    }
    ck_assert_msg(spread > 1000000, "ISNs %08x %08x %08x", isn[0], isn[1], isn[2]);
    netcore_get_stats(st, &s);
    ck_assert_uint_eq(s.rx_dropped_malformed, 2);
    ck_assert_uint_eq(s.rx_dropped_foreign, 3);
    netcore_stop(st);
    close(peer);
}
END_TEST

/* Puts an 8-byte destination-options header (Pad6) in front of the payload of frame6's
 * frame f of n bytes; the upper layer's checksum stays right. Returns the new length. */
static size_t dest_opts6(uint8_t *f, size_t n)
{
    uint8_t *ip = f + 14;
    memmove(ip + 48, ip + 40, n - 54);
    memset(ip + 40, 0, 8);
    ip[40] = ip[6];
    ip[42] = 1; /* PadN of 4 bytes */
    ip[43] = 4;
    ip[6] = 60;
    uint16_t plen = (uint16_t)((ip[4] << 8 | ip[5]) + 8);
    ip[4] = (uint8_t)(plen >> 8);
    ip[5] = (uint8_t)plen;
    return n + 8;
}

/* An ICMPv6 error behind an extension header still reaches the connection it quotes: the
 * frame's parse walks to the upper-layer header for every stage (core/rxframe.c). */
START_TEST(frames_ipv6_extension_header)
{
    int peer;
    struct netcore_stack *st = raw_stack_with(&peer, mtu9000);
    static const uint8_t ours[6] = { 2, 0, 0, 0, 0, 2 }, sol[6] = { 0x33, 0x33, 0xff, 0, 0, 2 };
    uint8_t f[200], out[64];
    /* the peer's MAC, from its neighbour solicitation (see frames_ipv6) */
    uint8_t ns[32] = { 135, 0 };
    inet_pton(AF_INET6, CLIENT_IP6, ns + 8);
    ns[24] = 1;
    ns[25] = 1;
    memcpy(ns + 26, (const uint8_t[]){ 2, 0, 0, 0, 0, 1 }, 6);
    put(peer, f, frame6(f, sol, SERVER_IP6, "ff02::1:ff00:2", 58, ns, sizeof(ns), 2));
    netcore_step(st, 0);
    ck_assert(sent6(peer, 58, 136, out, sizeof(out)));

    int c = netcore_socket(st, AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in6 to = sin6_of(SERVER_IP6, 5999);
    ck_assert_int_eq(netcore_connect(st, c, (struct sockaddr *)&to, sizeof(to)), -EINPROGRESS);
    netcore_step(st, 0);
    ck_assert(sent6(peer, 6, 0x02, out, sizeof(out)));
    /* port unreachable quoting our SYN's header and ports */
    uint8_t err[8 + 40 + 8] = { 1, 4 };
    uint8_t *q = err + 8;
    q[0] = 0x60;
    q[5] = 20;
    q[6] = 6;
    q[7] = 64;
    inet_pton(AF_INET6, CLIENT_IP6, q + 8);
    inet_pton(AF_INET6, SERVER_IP6, q + 24);
    memcpy(q + 40, out, 8);
    size_t n = frame6(f, ours, SERVER_IP6, CLIENT_IP6, 58, err, sizeof(err), 2);
    put(peer, f, dest_opts6(f, n));
    netcore_step(st, 0);
    int e = 0;
    socklen_t el = sizeof(e);
    ck_assert_int_eq(netcore_getsockopt(st, c, SOL_SOCKET, SO_ERROR, &e, &el), 0);
    ck_assert_int_eq(e, ECONNREFUSED);
    struct netcore_stats s;
    netcore_get_stats(st, &s);
    ck_assert_uint_eq(s.rx_dropped_malformed, 0);
    netcore_close(st, c);
    netcore_stop(st);
    close(peer);
}
END_TEST

static Suite *wire_suite(void)
{
    Suite *s = suite_create("wire");
    TCase *tc = tcase_create("tcp");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, tcp_echo_16mib);
    tcase_add_test(tc, tcp_small_writes);
    tcase_add_test(tc, tcp_half_close);
    tcase_add_test(tc, tcp_reset);
    tcase_add_test(tc, tcp_refused);
    tcase_add_test(tc, tcp_connect_timeout);
    tcase_add_test(tc, tcp_backlog_overflow);
    tcase_add_test(tc, tcp_peer_closes_first);
    tcase_add_test(tc, tcp_ring_on_demand);
    tcase_add_test(tc, tcp_ring_mem_cap);
    suite_add_tcase(s, tc);
    TCase *tu = tcase_create("udp");
    tcase_add_test(tu, udp_datagrams);
    tcase_add_test(tu, udp_queue_overflow);
    suite_add_tcase(s, tu);
    TCase *tf = tcase_create("frames");
    tcase_add_test(tf, frames_dropped_and_counted);
    tcase_add_test(tf, frames_for_other_ip_dropped);
    tcase_add_test(tf, frames_random_garbage);
    tcase_add_test(tf, close_while_blocked);
    suite_add_tcase(s, tf);
    TCase *t6 = tcase_create("ipv6");
    tcase_set_timeout(t6, 60);
    tcase_add_test(t6, tcp6_echo);
    tcase_add_test(t6, tcp6_dual_stack);
    tcase_add_test(t6, tcp6_v6only);
    tcase_add_test(t6, udp6_datagrams);
    tcase_add_test(t6, frames_ipv6);
    tcase_add_test(t6, frames_ipv6_extension_header);
    suite_add_tcase(s, t6);
        TCase *tg = tcase_create("gc");
    tcase_set_timeout(tg, 300);
    tcase_add_test(tg, tcp_10k_cycles);
    suite_add_tcase(s, tg);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    SRunner *sr = srunner_create(wire_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
