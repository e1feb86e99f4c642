/*
 * TCP between two netcore stacks joined by the wire device (wirefix.h): bulk echo, half-close,
 * reset, refusal, connect timeout, backlog overflow, the peer closing first, and ring memory
 * on demand and under NETCORE_RING_MEM.
 */
#include <check.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netcore.h"
#include "wirefix.h"

/* Echo server: one connection, echo until EOF, close. */
static int echo_server(struct netcore_stack *st)
{
    int l = wf_listen_on(st, WF_PORT, 4);
    if (l < 0)
        return 3;
    wf_sig_send(wf_c2p[1], 'L');
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

static void echo_roundtrip(size_t total, size_t chunk_max)
{
    wf_echo_through(echo_server, wf_connect_to, total, chunk_max);
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
    int l = wf_listen_on(st, WF_PORT, 4);
    wf_sig_send(wf_c2p[1], 'L');
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
    struct netcore_stack *st = wf_spawn(count_server, 0);
    int s = wf_connect_to(st, WF_PORT);
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
    wf_reap(st);
}
END_TEST

/* Reset: the server closes with unread data, which the kernel turns into a RST. */
static int rst_server(struct netcore_stack *st)
{
    int l = wf_listen_on(st, WF_PORT, 4);
    wf_sig_send(wf_c2p[1], 'L');
    int c = netcore_accept(st, l, NULL, NULL, 0);
    char b;
    if (netcore_recv(st, c, &b, 1, 0) != 1)
        return 3;
    netcore_close(st, c); /* one byte left unread */
    wf_sig_wait(wf_p2c[0]);
    netcore_close(st, l);
    return 0;
}

START_TEST(tcp_reset)
{
    struct netcore_stack *st = wf_spawn(rst_server, 0);
    int s = wf_connect_to(st, WF_PORT);
    ck_assert_int_eq(netcore_send(st, s, "ab", 2, 0), 2);
    char b;
    ck_assert_int_eq(netcore_recv(st, s, &b, 1, 0), -ECONNRESET);
    ck_assert_int_eq(netcore_recv(st, s, &b, 1, 0), 0);
    ck_assert_int_eq(netcore_send(st, s, "c", 1, 0), -EPIPE);
    wf_sig_send(wf_p2c[1], 'D');
    netcore_close(st, s);
    wf_reap(st);
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
    struct netcore_stack *st = wf_spawn(echo_server, 0);
    int s = wf_connect_to(st, WF_PORT);
    ck_assert_uint_eq(ring_bytes(st), 0); /* established and idle: no ring memory */
    echo_once(st, s, "hello");
    ck_assert_uint_gt(ring_bytes(st), 0); /* both rings just carried data */
    ck_assert_msg(ring_bytes_become(st, 0, 3000), "rings still hold %llu bytes",
                  (unsigned long long)ring_bytes(st));
    echo_once(st, s, "again"); /* memory back on demand */
    netcore_close(st, s);
    wf_reap(st);
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
    wf_client_tweak = one_ring;
    struct netcore_stack *st = wf_spawn(echo_server, 0);
    wf_client_tweak = NULL;
    int s = wf_connect_to(st, WF_PORT);
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
    wf_reap(st);
}
END_TEST

static int idle_server(struct netcore_stack *st)
{
    (void)st;
    wf_sig_send(wf_c2p[1], 'L');
    wf_sig_wait(wf_p2c[0]);
    return 0;
}

START_TEST(tcp_refused)
{
    struct netcore_stack *st = wf_spawn(idle_server, 0);
    int s = netcore_socket(st, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = wf_sin_of(SERVER_IP, 9);
    ck_assert_int_eq(netcore_connect(st, s, (struct sockaddr *)&a, sizeof(a)), -ECONNREFUSED);
    wf_sig_send(wf_p2c[1], 'D');
    netcore_close(st, s);
    wf_reap(st);
}
END_TEST

/* Nobody answers ARP: the connect fails with EHOSTUNREACH once 3 s of the controllable
 * clock have passed, as the kernel's does when its 3 probes go unanswered (neigh.c); it
 * said ETIMEDOUT after lwIP's SYN retries, minutes of simulated time. */
START_TEST(tcp_connect_timeout)
{
    netcore_clock_manual(1);
    struct netcore_stack *st = wf_spawn(idle_server, NETCORE_MANUAL);
    int s = netcore_socket(st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = wf_sin_of("198.18.0.99", 80);
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
    ck_assert_int_eq(err, EHOSTUNREACH);
    ck_assert_int_ge(steps, 3000 / 250);
    ck_assert_int_le(steps, 5000 / 250);
    wf_sig_send(wf_p2c[1], 'D');
    netcore_close(st, s);
    wf_reap(st);
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
    int l = wf_listen_on(st, WF_PORT, 100); /* capped to NETCORE_BACKLOG=2 */
    wf_sig_send(wf_c2p[1], 'L');
    wf_sig_wait(wf_p2c[0]);
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
    wf_server_tweak = backlog_tweak;
    struct netcore_stack *st = wf_spawn(backlog_server, 0);
    int s[5];
    char b[4];
    for (int i = 0; i < 5; i++) {
        s[i] = netcore_socket(st, AF_INET, SOCK_STREAM | (i >= 3 ? SOCK_NONBLOCK : 0), 0);
        struct sockaddr_in a = wf_sin_of(SERVER_IP, WF_PORT);
        ck_assert_int_eq(netcore_connect(st, s[i], (struct sockaddr *)&a, sizeof(a)),
                         i < 3 ? 0 : -EINPROGRESS);
    }
    /* The queue is full: the fourth and fifth handshakes do not complete. */
    ck_assert_int_eq(netcore_wait(st, s[3], POLLOUT, 300), 0);
    ck_assert_int_eq(netcore_poll(st, s[4], POLLOUT), 0);
    wf_sig_send(wf_p2c[1], 'A');
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(netcore_wait(st, s[i], POLLOUT, 20000), POLLOUT);
        netcore_set_nonblock(st, s[i], 0);
        ck_assert_int_eq(netcore_recv(st, s[i], b, 2, MSG_WAITALL), 2);
        ck_assert_int_eq(memcmp(b, "ok", 2), 0);
    }
    for (int i = 0; i < 5; i++)
        netcore_close(st, s[i]);
    wf_reap(st);
}
END_TEST

/* The peer closes first; we read EOF, shut our side, and close once our FIN is
 * acknowledged (lwIP has then dropped the connection): the socket is freed. */
static int close_first_server(struct netcore_stack *st)
{
    int l = wf_listen_on(st, WF_PORT, 4);
    wf_sig_send(wf_c2p[1], 'L');
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
    struct netcore_stack *st = wf_spawn(close_first_server, 0);
    for (int i = 0; i < 3; i++) {
        int s = wf_connect_to(st, WF_PORT);
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
    wf_reap(st);
}
END_TEST

static Suite *wire_tcp_suite(void)
{
    Suite *s = suite_create("wire_tcp");
    TCase *t_tcp = tcase_create("tcp");
    tcase_add_checked_fixture(t_tcp, wf_setup, wf_teardown);
    tcase_set_timeout(t_tcp, 120);
    tcase_add_test(t_tcp, tcp_echo_16mib);
    tcase_add_test(t_tcp, tcp_small_writes);
    tcase_add_test(t_tcp, tcp_half_close);
    tcase_add_test(t_tcp, tcp_reset);
    tcase_add_test(t_tcp, tcp_refused);
    tcase_add_test(t_tcp, tcp_connect_timeout);
    tcase_add_test(t_tcp, tcp_backlog_overflow);
    tcase_add_test(t_tcp, tcp_peer_closes_first);
    tcase_add_test(t_tcp, tcp_ring_on_demand);
    tcase_add_test(t_tcp, tcp_ring_mem_cap);
    suite_add_tcase(s, t_tcp);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(wire_tcp_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
