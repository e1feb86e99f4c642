/*
 * check_port: the port allocator of TCP and UDP (core/port.c) and the bind errors it gives.
 *
 * Each test gets its own stack on the wire device in manual mode (a socketpair, nothing on
 * the other end); Check's fork mode gives each its own process, as lwIP is a singleton.
 * Conflicts run the same calls on kernel sockets on loopback first, on a port the kernel
 * says is free, and netcore must give the same result, which is also asserted exactly.
 * Exhaustion narrows the stack's ephemeral range to two ports (its ip_local_port_range).
 * A peer that resets our FIN has its tuple kept away from the next connects (port.c): a
 * peer played by hand (handpeer.c) does that on a range of two ports.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "handpeer.h"
#include "netcore.h"
#include "stack.h" /* the stack's port range and unprivileged port start */

#define MAX_SOCKETS 8
#define OUR_IP "198.18.0.2"      /* netcore_config_defaults() */
#define FOREIGN_IP "198.18.0.77" /* on our subnet, not ours */
#define PEER_IP "198.18.0.1"     /* the gateway: where a connect goes */

static struct netcore_stack *st;
static int sv[2] = { -1, -1 };

static void setup(void)
{
    struct netcore_config c;
    char err[256] = "";

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    netcore_config_defaults(&c);
    c.device = NETCORE_DEV_WIRE;
    c.wire_fd = sv[0];
    c.max_sockets = MAX_SOCKETS;
    int rc = netcore_start(&c, NETCORE_MANUAL, &st, err, sizeof(err));
    ck_assert_msg(rc == 0, "netcore_start: %s (%d)", err, rc);
}

static void teardown(void)
{
    netcore_stop(st); /* closes sv[0] */
    st = NULL;
    close(sv[1]);
}

static struct sockaddr_in sin4(const char *ip, uint16_t port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

    ck_assert_int_eq(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    return a;
}

/*
 * The same calls on either side: kernel sockets (returning -errno like the core) or
 * netcore's. "ours" is the address a socket of the side may bind: 127.0.0.1 or OUR_IP.
 */
struct side {
    const char *ours;
    int (*socket)(int type);
    int (*bind)(int s, const char *ip, uint16_t port);
    int (*reuse)(int s);
    int (*listen)(int s);
    void (*close)(int s);
};

static int k_socket(int type)
{
    int s = socket(AF_INET, type, 0);

    ck_assert_int_ge(s, 0);
    return s;
}

static int k_bind(int s, const char *ip, uint16_t port)
{
    struct sockaddr_in a = sin4(ip, port);

    return bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 ? 0 : -errno;
}

static int k_reuse(int s)
{
    int on = 1;

    return setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == 0 ? 0 : -errno;
}

static int k_listen(int s)
{
    return listen(s, 4) == 0 ? 0 : -errno;
}

static void k_close(int s)
{
    close(s);
}

static int n_socket(int type)
{
    int s = netcore_socket(st, AF_INET, type | SOCK_NONBLOCK, 0);

    ck_assert_int_ge(s, 0);
    return s;
}

static int n_bind(int s, const char *ip, uint16_t port)
{
    struct sockaddr_in a = sin4(ip, port);

    return netcore_bind(st, s, (struct sockaddr *)&a, sizeof(a));
}

static int n_reuse(int s)
{
    int on = 1;

    return netcore_setsockopt(st, s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
}

static int n_listen(int s)
{
    return netcore_listen(st, s, 4);
}

static void n_close(int s)
{
    ck_assert_int_eq(netcore_close(st, s), 0);
}

static const struct side kernel = { "127.0.0.1", k_socket, k_bind, k_reuse, k_listen, k_close };
static const struct side ours = { OUR_IP, n_socket, n_bind, n_reuse, n_listen, n_close };

/* A port of type free on the kernel's loopback now (the kernel's own choice). */
static uint16_t free_port(int type)
{
    struct sockaddr_in a = sin4("0.0.0.0", 0);
    socklen_t len = sizeof(a);
    int s = k_socket(type);

    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

/*
 * Two sockets of types ta and tb on one port: a binds (first_any: the wildcard), optionally
 * listens, then b binds to the side's own address. Both sides take SO_REUSEADDR when reuse.
 * Returns b's bind result on the side.
 */
static int second_bind(const struct side *sd, int ta, int tb, bool first_any, bool reuse,
                       bool listening, uint16_t port)
{
    int a = sd->socket(ta), b = sd->socket(tb);

    if (reuse) {
        ck_assert_int_eq(sd->reuse(a), 0);
        ck_assert_int_eq(sd->reuse(b), 0);
    }
    ck_assert_int_eq(sd->bind(a, first_any ? "0.0.0.0" : sd->ours, port), 0);
    if (listening)
        ck_assert_int_eq(sd->listen(a), 0);
    int rc = sd->bind(b, sd->ours, port);
    sd->close(a);
    sd->close(b);
    return rc;
}

/* Runs second_bind on the kernel, then on netcore: both must give want. */
static void same_as_kernel(int ta, int tb, bool first_any, bool reuse, bool listening, int want)
{
    uint16_t port = free_port(ta);
    int k = second_bind(&kernel, ta, tb, first_any, reuse, listening, port);
    int n = second_bind(&ours, ta, tb, first_any, reuse, listening, port);

    ck_assert_msg(k == want, "kernel: %d, expected %d (port %u)", k, want, port);
    ck_assert_msg(n == want, "netcore: %d, kernel and expected %d (port %u)", n, want, port);
}

/* conflicts: an explicit port in use */

START_TEST(test_tcp_same_address)
{
    same_as_kernel(SOCK_STREAM, SOCK_STREAM, false, false, false, -EADDRINUSE);
}
END_TEST

START_TEST(test_tcp_under_wildcard)
{
    same_as_kernel(SOCK_STREAM, SOCK_STREAM, true, false, false, -EADDRINUSE);
}
END_TEST

START_TEST(test_tcp_reuseaddr_bound)
{
    same_as_kernel(SOCK_STREAM, SOCK_STREAM, false, true, false, 0);
}
END_TEST

START_TEST(test_tcp_reuseaddr_listener)
{
    same_as_kernel(SOCK_STREAM, SOCK_STREAM, false, true, true, -EADDRINUSE);
}
END_TEST

START_TEST(test_udp_same_address)
{
    same_as_kernel(SOCK_DGRAM, SOCK_DGRAM, false, false, false, -EADDRINUSE);
}
END_TEST

START_TEST(test_udp_under_wildcard)
{
    same_as_kernel(SOCK_DGRAM, SOCK_DGRAM, true, false, false, -EADDRINUSE);
}
END_TEST

START_TEST(test_udp_reuseaddr)
{
    same_as_kernel(SOCK_DGRAM, SOCK_DGRAM, false, true, false, 0);
}
END_TEST

START_TEST(test_tcp_udp_apart)
{
    same_as_kernel(SOCK_STREAM, SOCK_DGRAM, false, false, false, 0);
}
END_TEST

/* The address must be ours (EADDRNOTAVAIL); a socket binds once (EINVAL). */
START_TEST(test_foreign_address)
{
    int t = _i ? SOCK_DGRAM : SOCK_STREAM;
    int k = kernel.socket(t), n = ours.socket(t);

    ck_assert_int_eq(kernel.bind(k, "192.0.2.1", 0), -EADDRNOTAVAIL); /* TEST-NET-1 */
    ck_assert_int_eq(ours.bind(n, FOREIGN_IP, 0), -EADDRNOTAVAIL);
    kernel.close(k);
    ours.close(n);
}
END_TEST

START_TEST(test_bind_twice)
{
    int t = _i ? SOCK_DGRAM : SOCK_STREAM;
    int k = kernel.socket(t), n = ours.socket(t);

    ck_assert_int_eq(kernel.bind(k, "127.0.0.1", 0), 0);
    ck_assert_int_eq(kernel.bind(k, "127.0.0.1", 0), -EINVAL);
    ck_assert_int_eq(ours.bind(n, OUR_IP, 0), 0);
    ck_assert_int_eq(ours.bind(n, OUR_IP, 0), -EINVAL);
    kernel.close(k);
    ours.close(n);
}
END_TEST

/* privileged: ports below ip_unprivileged_port_start without CAP_NET_BIND_SERVICE */

/* Drops CAP_NET_BIND_SERVICE from this thread's effective set (this test's process). */
static void drop_bind_cap(void)
{
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];

    ck_assert_int_eq(syscall(SYS_capget, &h, d), 0);
    d[0].effective &= ~(1u << CAP_NET_BIND_SERVICE);
    ck_assert_int_eq(syscall(SYS_capset, &h, d), 0);
}

START_TEST(test_privileged_port)
{
    int t = _i ? SOCK_DGRAM : SOCK_STREAM;

    /* The namespace's figure, read as the kernel's own check reads it. */
    ck_assert_int_gt(st->port_unpriv, 1);
    uint16_t low = (uint16_t)(st->port_unpriv - 1);
    drop_bind_cap();
    int k = kernel.socket(t), n = ours.socket(t);

    ck_assert_int_eq(kernel.bind(k, "127.0.0.1", low), -EACCES);
    ck_assert_int_eq(ours.bind(n, OUR_IP, low), -EACCES);
    /* Before the socket's state: a bound socket says EACCES too, not EINVAL. */
    ck_assert_int_eq(kernel.bind(k, "127.0.0.1", 0), 0);
    ck_assert_int_eq(kernel.bind(k, "127.0.0.1", low), -EACCES);
    ck_assert_int_eq(ours.bind(n, OUR_IP, 0), 0);
    ck_assert_int_eq(ours.bind(n, OUR_IP, low), -EACCES);
    kernel.close(k);
    ours.close(n);
}
END_TEST

START_TEST(test_privileged_with_cap)
{
    /* With the capability (root, as in CI) a low port binds; without it, EACCES. */
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];

    ck_assert_int_eq(syscall(SYS_capget, &h, d), 0);
    bool cap = d[0].effective & (1u << CAP_NET_BIND_SERVICE);
    int n = ours.socket(SOCK_STREAM);

    ck_assert_int_eq(ours.bind(n, OUR_IP, 80), cap ? 0 : -EACCES);
    ours.close(n);
}
END_TEST

/* ephemeral: port 0 */

static uint16_t local_port(int s)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);

    ck_assert_int_eq(netcore_getsockname(st, s, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

START_TEST(test_range_from_namespace)
{
    int lo, hi;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%d %d", &lo, &hi), 2);
    fclose(f);
    ck_assert_int_eq(st->port_lo, lo);
    ck_assert_int_eq(st->port_hi, hi);
    for (int i = 0; i < 4; i++) {
        int s = ours.socket(i & 1 ? SOCK_DGRAM : SOCK_STREAM);

        ck_assert_int_eq(ours.bind(s, "0.0.0.0", 0), 0);
        uint16_t p = local_port(s);
        ck_assert_msg(p >= lo && p <= hi, "port %u outside %d-%d", p, lo, hi);
        ours.close(s);
    }
}
END_TEST

/* Narrows the range to lo..lo+1 and fills it with two sockets of type; returns them. */
static void fill_range(int type, uint16_t lo, int out[2])
{
    st->port_lo = lo;
    st->port_hi = (uint16_t)(lo + 1);
    for (int i = 0; i < 2; i++) {
        out[i] = ours.socket(type);
        ck_assert_int_eq(ours.bind(out[i], "0.0.0.0", 0), 0);
    }
    /* Both ports, whichever came first: the search walks the whole range. */
    ck_assert_int_eq(local_port(out[0]) + local_port(out[1]), 2 * lo + 1);
}

START_TEST(test_tcp_exhausted)
{
    int full[2];
    struct sockaddr_in peer = sin4(PEER_IP, 80);

    fill_range(SOCK_STREAM, 40000, full);
    int s = ours.socket(SOCK_STREAM);
    ck_assert_int_eq(ours.bind(s, "0.0.0.0", 0), -EADDRINUSE);   /* inet_csk_get_port */
    ck_assert_int_eq(netcore_listen(st, s, 4), -EADDRINUSE);      /* inet_csk_listen_start */
    ck_assert_int_eq(netcore_connect(st, s, (struct sockaddr *)&peer, sizeof(peer)),
                     -EADDRNOTAVAIL);                             /* __inet_hash_connect */
    /* A port given back is found again. */
    uint16_t freed = local_port(full[1]);
    ours.close(full[1]);
    ck_assert_int_eq(ours.bind(s, "0.0.0.0", 0), 0);
    ck_assert_int_eq(local_port(s), freed);
    ours.close(s);
    ours.close(full[0]);
}
END_TEST

START_TEST(test_udp_exhausted)
{
    int full[2];
    struct sockaddr_in peer = sin4(PEER_IP, 9);

    fill_range(SOCK_DGRAM, 40000, full);
    int s = ours.socket(SOCK_DGRAM);
    ck_assert_int_eq(ours.bind(s, "0.0.0.0", 0), -EADDRINUSE); /* udp_lib_get_port */
    ck_assert_int_eq(netcore_connect(st, s, (struct sockaddr *)&peer, sizeof(peer)),
                     -EAGAIN);                                 /* inet_autobind */
    ck_assert_int_eq(netcore_sendto(st, s, "x", 1, 0, (struct sockaddr *)&peer, sizeof(peer)),
                     -EAGAIN);
    /* A port given back is found again, also by the autobind of a send. */
    uint16_t freed = local_port(full[0]);
    ours.close(full[0]);
    ck_assert_int_eq(netcore_sendto(st, s, "x", 1, 0, (struct sockaddr *)&peer, sizeof(peer)),
                     1);
    ck_assert_int_eq(local_port(s), freed);
    ours.close(s);
    ours.close(full[1]);
}
END_TEST

/* The stack connects to the hand peer from a port of its two-port range; returns the port,
 * and leaves h->s connecting with its SYN sent. */
static uint16_t hp_syn_port(struct hp *h)
{
    hp_syn(h, NULL);
    return h->port;
}

/* Drops the connect in progress (a reset goes out; the port is free again at once). */
static void hp_drop(struct hp *h)
{
    struct hp_seg sg[4];
    ck_assert_int_eq(netcore_close(h->st, h->s), 0);
    ck_assert_int_eq(hp_collect(h, sg, 4), 1);
    ck_assert_uint_ne(sg[0].flags & HP_RST, 0);
}

START_TEST(test_reset_fin_keeps_port)
{
    struct hp h;
    struct hp_seg sg[4];

    hp_start(&h);
    h.st->port_lo = 40000;
    h.st->port_hi = 40001;
    hp_connect(&h, false, NULL);
    uint16_t kept = h.port;
    /* The peer closes first; we close, and our FIN acknowledges its (LAST_ACK). */
    hp_send(&h, HP_ISS + 1, h.iss + 1, HP_FIN | HP_ACK, 65535, NULL, 0, 0);
    hp_collect(&h, sg, 4);
    ck_assert_int_eq(netcore_close(h.st, h.s), 0);
    ck_assert_int_eq(hp_collect(&h, sg, 4), 1);
    ck_assert_uint_eq(sg[0].flags & (HP_FIN | HP_ACK), HP_FIN | HP_ACK);
    /* It answers the FIN with a reset, as a Linux peer whose close() it met does. */
    hp_send(&h, HP_ISS + 2, 0, HP_RST, 0, NULL, 0, 0);
    ck_assert_int_eq(hp_collect(&h, sg, 4), 0);
    /* A random walk from a random start takes either port: 12 connects that all pass the
     * reset one are chance once in 4096 without the rule. */
    for (int i = 0; i < 12; i++) {
        uint16_t p = hp_syn_port(&h);
        ck_assert_msg(p != kept, "connect %d took port %u, reset by the same peer", i, p);
        hp_drop(&h);
    }
    /* Another peer port may take it: the rule is per tuple. */
    bool other = false;
    for (int i = 0; i < 32 && !other; i++) {
        h.s = netcore_socket(h.st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        struct sockaddr_in a = sin4(PEER_IP, 81);
        ck_assert_int_eq(netcore_connect(h.st, h.s, (struct sockaddr *)&a, sizeof(a)),
                         -EINPROGRESS);
        ck_assert_int_ge(hp_collect(&h, sg, 4), 1);
        other = h.port == kept;
        hp_drop(&h);
    }
    ck_assert_msg(other, "port %u never taken towards another peer port", kept);
    /* 60 s later (the peer's tcp_fin_timeout) the tuple is free again. */
    netcore_clock_advance(60001);
    bool again = false;
    for (int i = 0; i < 32 && !again; i++) {
        again = hp_syn_port(&h) == kept;
        hp_drop(&h);
    }
    ck_assert_msg(again, "port %u still kept after 60 s", kept);
    hp_stop(&h);
}
END_TEST

static Suite *port_suite(void)
{
    Suite *s = suite_create("port");
    TCase *tc = tcase_create("conflict");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_tcp_same_address);
    tcase_add_test(tc, test_tcp_under_wildcard);
    tcase_add_test(tc, test_tcp_reuseaddr_bound);
    tcase_add_test(tc, test_tcp_reuseaddr_listener);
    tcase_add_test(tc, test_udp_same_address);
    tcase_add_test(tc, test_udp_under_wildcard);
    tcase_add_test(tc, test_udp_reuseaddr);
    tcase_add_test(tc, test_tcp_udp_apart);
    tcase_add_loop_test(tc, test_foreign_address, 0, 2);
    tcase_add_loop_test(tc, test_bind_twice, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("privileged");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_privileged_port, 0, 2);
    tcase_add_test(tc, test_privileged_with_cap);
    suite_add_tcase(s, tc);

    tc = tcase_create("ephemeral");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_range_from_namespace);
    tcase_add_test(tc, test_tcp_exhausted);
    tcase_add_test(tc, test_udp_exhausted);
    suite_add_tcase(s, tc);
    tc = tcase_create("reset_fin");
    tcase_add_test(tc, test_reset_fin_keeps_port);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(port_suite());
    int failed;

    /* lwIP is a per-process singleton: each test needs its own process. */
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
