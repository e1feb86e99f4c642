/*
 * check_addr: socket addresses at the API boundary (core/addr.c) — AF_INET6 sockets, their
 * dual-stack wildcard and IPv4-mapped addresses, link-local scope ids, IPV6_V6ONLY, and the
 * errors of bind, connect and sendto. Every expected value is what Linux returned for the
 * same call on a kernel socket in a namespace set up by `netcore up` (the addresses swapped
 * for ours).
 *
 * Each test gets its own stack on the wire device in manual mode (nothing on the other end),
 * with 198.18.0.2, 2001:db8::2 and fe80::ff:fe00:2 (from MAC 02:00:00:00:00:02); the wire
 * device's scope id is 1. Check's fork mode gives every test a fresh process.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "netcore.h"

#define OUR_IP "198.18.0.2"
#define OUR_IP6 "2001:db8::2"
#define OUR_LL "fe80::ff:fe00:2"
#define PEER_IP6 "2001:db8::1"
#define SCOPE 1 /* the wire device's */

static struct netcore_stack *st;
static int sv[2] = { -1, -1 };

static void setup(void)
{
    struct netcore_config c;
    char err[256];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    netcore_config_defaults(&c);
    c.device = NETCORE_DEV_WIRE;
    c.wire_fd = sv[0];
    int rc = netcore_start(&c, NETCORE_MANUAL, &st, err, sizeof(err));
    ck_assert_msg(rc == 0, "netcore_start: %s (%d)", err, rc);
}

static void teardown(void)
{
    netcore_stop(st);
    st = NULL;
    close(sv[1]);
}

static struct sockaddr_in6 sin6(const char *ip, int port, unsigned scope)
{
    struct sockaddr_in6 a;

    memset(&a, 0, sizeof(a));
    a.sin6_family = AF_INET6;
    a.sin6_port = htons((uint16_t)port);
    a.sin6_scope_id = scope;
    ck_assert_int_eq(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
    return a;
}

static struct sockaddr_in sin4(const char *ip, int port)
{
    struct sockaddr_in a;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    ck_assert_int_eq(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    return a;
}

/* An AF_INET6 socket; v6only < 0 leaves the default. */
static int sock6(int type, int v6only)
{
    int s = netcore_socket(st, AF_INET6, type, 0);

    ck_assert_int_ge(s, 0);
    if (v6only >= 0)
        ck_assert_int_eq(netcore_setsockopt(st, s, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
                                            sizeof(v6only)), 0);
    return s;
}

static int bind6(int s, const char *ip, int port, unsigned scope)
{
    struct sockaddr_in6 a = sin6(ip, port, scope);

    return netcore_bind(st, s, (struct sockaddr *)&a, sizeof(a));
}

static int connect6(int s, const char *ip, int port, unsigned scope)
{
    struct sockaddr_in6 a = sin6(ip, port, scope);

    return netcore_connect(st, s, (struct sockaddr *)&a, sizeof(a));
}

static ssize_t sendto6(int s, const char *ip, int port, unsigned scope)
{
    struct sockaddr_in6 a = sin6(ip, port, scope);

    return netcore_sendto(st, s, "x", 1, 0, (struct sockaddr *)&a, sizeof(a));
}

/* "addr port scope" of getsockname (peer == 0) or getpeername; checks family and length. */
static const char *name_of(int s, int peer)
{
    static char out[96];
    struct sockaddr_in6 a;
    socklen_t len = sizeof(a);
    char ip[INET6_ADDRSTRLEN];

    memset(&a, 0xa5, sizeof(a));
    int rc = peer ? netcore_getpeername(st, s, (struct sockaddr *)&a, &len)
                  : netcore_getsockname(st, s, (struct sockaddr *)&a, &len);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(len, sizeof(a));
    ck_assert_int_eq(a.sin6_family, AF_INET6);
    ck_assert_uint_eq(a.sin6_flowinfo, 0);
    inet_ntop(AF_INET6, &a.sin6_addr, ip, sizeof(ip));
    snprintf(out, sizeof(out), "%s %u %u", ip, ntohs(a.sin6_port), a.sin6_scope_id);
    return out;
}

static int v6only_of(int s)
{
    int v = -1;
    socklen_t len = sizeof(v);

    ck_assert_int_eq(netcore_getsockopt(st, s, IPPROTO_IPV6, IPV6_V6ONLY, &v, &len), 0);
    ck_assert_uint_eq(len, sizeof(v));
    return v;
}

/* socket and names */

START_TEST(test_socket6)
{
    int s = sock6(_i ? SOCK_DGRAM : SOCK_STREAM, -1);
    int v = 0;
    socklen_t len = sizeof(v);

    ck_assert_str_eq(name_of(s, 0), ":: 0 0");
    ck_assert_int_eq(netcore_getsockopt(st, s, SOL_SOCKET, SO_DOMAIN, &v, &len), 0);
    ck_assert_int_eq(v, AF_INET6);
    /* The default is the namespace's net.ipv6.bindv6only, 0 unless changed. */
    FILE *f = fopen("/proc/sys/net/ipv6/bindv6only", "r");
    int want = 0;
    if (f != NULL) {
        if (fscanf(f, "%d", &want) != 1)
            want = 0;
        fclose(f);
    }
    ck_assert_int_eq(v6only_of(s), want);
}
END_TEST

START_TEST(test_name_truncated)
{
    int s = sock6(SOCK_STREAM, -1);
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    uint8_t want[sizeof(a)];

    ck_assert_int_eq(bind6(s, OUR_IP6, 5000, 0), 0);
    /* A sockaddr_in-sized buffer gets the first 16 bytes; the length says 28. */
    ck_assert_int_eq(netcore_getsockname(st, s, (struct sockaddr *)&a, &len), 0);
    ck_assert_uint_eq(len, sizeof(struct sockaddr_in6));
    struct sockaddr_in6 full = sin6(OUR_IP6, 5000, 0);
    memcpy(want, &full, sizeof(want));
    ck_assert_mem_eq(&a, want, sizeof(a));
    /* No buffer and a zero length: only the length. */
    len = 0;
    ck_assert_int_eq(netcore_getsockname(st, s, NULL, &len), 0);
    ck_assert_uint_eq(len, sizeof(struct sockaddr_in6));
}
END_TEST

/* bind */

START_TEST(test_bind6_good)
{
    int type = _i ? SOCK_DGRAM : SOCK_STREAM;
    int a = sock6(type, -1), b = sock6(type, -1), c = sock6(type, -1), d = sock6(type, -1);

    ck_assert_int_eq(bind6(a, OUR_IP6, 5001, 0), 0);
    ck_assert_str_eq(name_of(a, 0), OUR_IP6 " 5001 0");
    /* A scope id on a global address is ignored. */
    ck_assert_int_eq(bind6(b, OUR_IP6, 5002, 99), 0);
    ck_assert_str_eq(name_of(b, 0), OUR_IP6 " 5002 0");
    ck_assert_int_eq(bind6(c, OUR_LL, 5003, SCOPE), 0);
    ck_assert_str_eq(name_of(c, 0), OUR_LL " 5003 1");
    /* Our IPv4 address, mapped: the socket is then an IPv4 one. */
    ck_assert_int_eq(bind6(d, "::ffff:" OUR_IP, 5004, 0), 0);
    ck_assert_str_eq(name_of(d, 0), "::ffff:" OUR_IP " 5004 0");
}
END_TEST

START_TEST(test_bind6_short)
{
    int type = _i ? SOCK_DGRAM : SOCK_STREAM;
    int s = sock6(type, -1);
    struct sockaddr_in6 a = sin6("::", 5005, 0);
    struct sockaddr_in in = sin4(OUR_IP, 5005);
    struct sockaddr_storage big;

    ck_assert_int_eq(netcore_bind(st, s, (struct sockaddr *)&in, sizeof(in)), -EINVAL);
    memset(&big, 0, sizeof(big));
    memcpy(&big, &in, sizeof(in));
    ck_assert_int_eq(netcore_bind(st, s, (struct sockaddr *)&big, sizeof(a)), -EAFNOSUPPORT);
    ck_assert_int_eq(netcore_bind(st, s, (struct sockaddr *)&a, 23), -EINVAL);
    /* RFC 2133's 24 bytes, without sin6_scope_id, are enough. */
    ck_assert_int_eq(netcore_bind(st, s, (struct sockaddr *)&a, 24), 0);
    ck_assert_str_eq(name_of(s, 0), ":: 5005 0");
}
END_TEST

START_TEST(test_bind6_bad)
{
    int type = _i ? SOCK_DGRAM : SOCK_STREAM;
    int s = sock6(type, -1), v6 = sock6(type, 1);

    ck_assert_int_eq(bind6(s, "2001:db8::99", 5006, 0), -EADDRNOTAVAIL);
    ck_assert_int_eq(bind6(s, "2001:db9::2", 5006, 0), -EADDRNOTAVAIL);
    ck_assert_int_eq(bind6(s, OUR_LL, 5006, 0), -EINVAL);       /* link-local needs a scope */
    ck_assert_int_eq(bind6(s, OUR_LL, 5006, 99), -ENODEV);      /* no such interface */
    ck_assert_int_eq(bind6(s, "fe80::1", 5006, SCOPE), -EADDRNOTAVAIL);
    ck_assert_int_eq(bind6(s, "::ffff:198.18.0.99", 5006, 0), -EADDRNOTAVAIL);
    ck_assert_int_eq(bind6(v6, "::ffff:" OUR_IP, 5006, 0), -EINVAL);
    if (type == SOCK_STREAM)
        ck_assert_int_eq(bind6(s, "ff02::1", 5006, SCOPE), -EINVAL);
    ck_assert_str_eq(name_of(s, 0), ":: 0 0"); /* still unbound */
    ck_assert_int_eq(bind6(s, "::", 5006, 0), 0);
}
END_TEST

/*
 * Ports shared between the families: a dual-stack [::] holds the port for both, an IPv6-only
 * [::] and 0.0.0.0 can share it. lwIP alone would let a dual-stack and an IPv6 socket share
 * a TCP port (tcp.c closes that gap).
 */
START_TEST(test_bind_families)
{
    int type = _i ? SOCK_DGRAM : SOCK_STREAM;
    int dual = sock6(type, 0), only = sock6(type, 1), v4 = netcore_socket(st, AF_INET, type, 0);
    struct sockaddr_in any4 = sin4("0.0.0.0", 5007);

    ck_assert_int_eq(bind6(dual, "::", 5007, 0), 0);
    ck_assert_int_eq(bind6(only, "::", 5007, 0), -EADDRINUSE);
    ck_assert_int_eq(netcore_bind(st, v4, (struct sockaddr *)&any4, sizeof(any4)), -EADDRINUSE);

    ck_assert_int_eq(bind6(only, "::", 5008, 0), 0);
    any4.sin_port = htons(5008);
    ck_assert_int_eq(netcore_bind(st, v4, (struct sockaddr *)&any4, sizeof(any4)), 0);
    int dual2 = sock6(type, 0), spec = sock6(type, 0);
    ck_assert_int_eq(bind6(dual2, "::", 5008, 0), -EADDRINUSE);
    ck_assert_int_eq(bind6(spec, OUR_IP6, 5008, 0), -EADDRINUSE);
}
END_TEST

/* options */

START_TEST(test_v6only_option)
{
    int type = _i ? SOCK_DGRAM : SOCK_STREAM;
    int s = sock6(type, -1), v4 = netcore_socket(st, AF_INET, type, 0);
    int v = 7;
    socklen_t len = sizeof(v);

    ck_assert_int_eq(netcore_setsockopt(st, s, IPPROTO_IPV6, IPV6_V6ONLY, &v, 1), -EINVAL);
    ck_assert_int_eq(netcore_setsockopt(st, s, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v)), 0);
    ck_assert_int_eq(v6only_of(s), 1);
    v = 0;
    ck_assert_int_eq(netcore_setsockopt(st, s, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v)), 0);
    ck_assert_int_eq(v6only_of(s), 0);
    ck_assert_int_eq(bind6(s, OUR_IP6, 5009, 0), 0);
    /* Fixed once the socket has a port. */
    ck_assert_int_eq(netcore_setsockopt(st, s, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v)), -EINVAL);
    /* Other common IPv6 options are taken; IPv4 ones too, as the kernel does. */
    v = 64;
    ck_assert_int_eq(netcore_setsockopt(st, s, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &v, sizeof(v)), 0);
    ck_assert_int_eq(netcore_setsockopt(st, s, IPPROTO_IPV6, IPV6_TCLASS, &v, sizeof(v)), 0);
    ck_assert_int_eq(netcore_setsockopt(st, s, IPPROTO_IP, IP_TOS, &v, sizeof(v)), 0);
    /* No IPv6 level on an AF_INET socket. */
    ck_assert_int_eq(netcore_getsockopt(st, v4, IPPROTO_IPV6, IPV6_V6ONLY, &v, &len), -EOPNOTSUPP);
    ck_assert_int_eq(netcore_setsockopt(st, v4, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v)),
                     -ENOPROTOOPT);
}
END_TEST

/* connect */

START_TEST(test_connect6_errors)
{
    int s = netcore_socket(st, AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in in = sin4("198.18.0.1", 80);
    struct sockaddr_storage big;

    ck_assert_int_eq(netcore_connect(st, s, (struct sockaddr *)&in, sizeof(in)), -EINVAL);
    memset(&big, 0, sizeof(big));
    memcpy(&big, &in, sizeof(in));
    ck_assert_int_eq(netcore_connect(st, s, (struct sockaddr *)&big, 28), -EAFNOSUPPORT);
    ck_assert_int_eq(connect6(s, "fe80::1", 80, 0), -EINVAL);
    ck_assert_int_eq(connect6(s, "fe80::1", 80, 99), -ENETUNREACH);
    ck_assert_int_eq(connect6(s, "ff02::1", 80, SCOPE), -ENETUNREACH);
    ck_assert_int_eq(connect6(s, "2001:db9::1", 80, 0), -ENETUNREACH); /* no route */
    /* None of that touched the socket: a good address still connects. */
    ck_assert_int_eq(connect6(s, PEER_IP6, 80, 0), -EINPROGRESS);
    ck_assert_int_eq(strncmp(name_of(s, 0), OUR_IP6 " ", strlen(OUR_IP6) + 1), 0);
}
END_TEST

START_TEST(test_connect6_families)
{
    int only = netcore_socket(st, AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int on = 1;

    ck_assert_int_eq(netcore_setsockopt(st, only, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)), 0);
    ck_assert_int_eq(connect6(only, "::ffff:198.18.0.1", 80, 0), -ENETUNREACH);
    /* Bound to IPv6, a socket cannot reach IPv4; bound to IPv4-mapped, not IPv6. */
    int b6 = netcore_socket(st, AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_eq(bind6(b6, OUR_IP6, 0, 0), 0);
    ck_assert_int_eq(connect6(b6, "::ffff:198.18.0.1", 80, 0), -ENETUNREACH);
    int b4 = netcore_socket(st, AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_eq(bind6(b4, "::ffff:" OUR_IP, 0, 0), 0);
    ck_assert_int_eq(connect6(b4, PEER_IP6, 80, 0), -EAFNOSUPPORT);
    /* A dual-stack socket reaches IPv4 from its IPv4 address, shown mapped. */
    int d = netcore_socket(st, AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_eq(connect6(d, "::ffff:198.18.0.1", 80, 0), -EINPROGRESS);
    ck_assert_int_eq(strncmp(name_of(d, 0), "::ffff:" OUR_IP " ", strlen(OUR_IP) + 8), 0);
    /* Link-local with our scope id. */
    int ll = netcore_socket(st, AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_eq(connect6(ll, "fe80::1", 80, SCOPE), -EINPROGRESS);
    const char *n = name_of(ll, 0);
    ck_assert_int_eq(strncmp(n, OUR_LL " ", strlen(OUR_LL) + 1), 0);
    ck_assert_str_eq(n + strlen(n) - 2, " 1");
}
END_TEST

START_TEST(test_udp6_connect)
{
    int u = sock6(SOCK_DGRAM, -1), only = sock6(SOCK_DGRAM, 1);
    struct sockaddr_in in = sin4("198.18.0.1", 53);

    /* A plain sockaddr_in on an AF_INET6 UDP socket is IPv4, shown mapped. */
    ck_assert_int_eq(netcore_connect(st, u, (struct sockaddr *)&in, sizeof(in)), 0);
    ck_assert_str_eq(name_of(u, 1), "::ffff:198.18.0.1 53 0");
    ck_assert_int_eq(netcore_connect(st, only, (struct sockaddr *)&in, sizeof(in)),
                     -EAFNOSUPPORT);
    ck_assert_int_eq(connect6(only, "::ffff:198.18.0.1", 53, 0), -ENETUNREACH);
    ck_assert_int_eq(connect6(only, "fe80::1", 53, 0), -EINVAL);
    ck_assert_int_eq(connect6(only, PEER_IP6, 53, 0), 0);
    ck_assert_str_eq(name_of(only, 1), PEER_IP6 " 53 0");
}
END_TEST

/* sendto */

START_TEST(test_sendto6)
{
    int u = sock6(SOCK_DGRAM, -1), only = sock6(SOCK_DGRAM, 1);
    struct sockaddr_in in = sin4("198.18.0.1", 53);
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    struct sockaddr unspec = { .sa_family = AF_UNSPEC };
    struct sockaddr_in6 a = sin6(PEER_IP6, 53, 0);

    ck_assert_int_eq(netcore_sendto(st, u, "x", 1, 0, (struct sockaddr *)&un, 28), -EINVAL);
    ck_assert_int_eq(netcore_sendto(st, u, "x", 1, 0, (struct sockaddr *)&a, 23), -EINVAL);
    ck_assert_int_eq(sendto6(u, "fe80::1", 53, 0), -ENETUNREACH);
    ck_assert_int_eq(sendto6(u, "fe80::1", 53, 99), -ENETUNREACH);
    ck_assert_int_eq(sendto6(u, "2001:db9::1", 53, 0), -ENETUNREACH);
    ck_assert_int_eq(netcore_sendto(st, u, "x", 1, 0, &unspec, sizeof(unspec)), -EDESTADDRREQ);
    ck_assert_str_eq(name_of(u, 0), ":: 0 0"); /* nothing went out: still unbound */
    /* IPv4 from an AF_INET6 socket, by a sockaddr_in: bound to the dual-stack wildcard. */
    ck_assert_int_eq(netcore_sendto(st, u, "x", 1, 0, (struct sockaddr *)&in, sizeof(in)), 1);
    ck_assert_int_eq(strncmp(name_of(u, 0), ":: ", 3), 0);
    ck_assert_int_eq(sendto6(u, PEER_IP6, 53, 0), 1);
    ck_assert_int_eq(sendto6(u, "fe80::1", 53, SCOPE), 1);
    ck_assert_int_eq(netcore_sendto(st, only, "x", 1, 0, (struct sockaddr *)&in, sizeof(in)),
                     -ENETUNREACH);
    ck_assert_int_eq(sendto6(only, "::ffff:198.18.0.1", 53, 0), -ENETUNREACH);
}
END_TEST

static Suite *addr_suite(void)
{
    Suite *s = suite_create("addr");
    TCase *tc;

    tc = tcase_create("names");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_socket6, 0, 2);
    tcase_add_test(tc, test_name_truncated);
    suite_add_tcase(s, tc);

    tc = tcase_create("bind");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_bind6_good, 0, 2);
    tcase_add_loop_test(tc, test_bind6_short, 0, 2);
    tcase_add_loop_test(tc, test_bind6_bad, 0, 2);
    tcase_add_loop_test(tc, test_bind_families, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("options");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_v6only_option, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("connect");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_connect6_errors);
    tcase_add_test(tc, test_connect6_families);
    tcase_add_test(tc, test_udp6_connect);
    suite_add_tcase(s, tc);

    tc = tcase_create("sendto");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_sendto6);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(addr_suite());

    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
