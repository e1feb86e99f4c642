/*
 * UDP between two netcore stacks joined by the wire device (wirefix.h): datagram boundaries
 * and truncation, and the receive queue's limit (NETCORE_UDP_QUEUE) counted in udp_dropped.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "netcore.h"
#include "wirefix.h"

/* UDP echo on port 5000; a datagram "burst" asks for 100 datagrams to the sender's port
 * 6000 followed by one to port 6001. */
static int udp_server(struct netcore_stack *st)
{
    int u = netcore_socket(st, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = wf_sin_of("0.0.0.0", 5000);
    if (netcore_bind(st, u, (struct sockaddr *)&a, sizeof(a)) != 0)
        return 3;
    wf_sig_send(wf_c2p[1], 'L');
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

START_TEST(udp_datagrams)
{
    struct netcore_stack *st = wf_spawn(udp_server, 0);
    int u = netcore_socket(st, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in srv = wf_sin_of(SERVER_IP, 5000);
    ck_assert_int_eq(netcore_connect(st, u, (struct sockaddr *)&srv, sizeof(srv)), 0);
    static char out[1400], in[2000];
    for (size_t i = 0; i < sizeof(out); i++)
        out[i] = (char)wf_pattern(i);
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
    wf_reap(st);
}
END_TEST

START_TEST(udp_queue_overflow)
{
    struct netcore_stack *st = wf_spawn(udp_server, 0);
    int sink = wf_udp_bound(st, 6000), marker = wf_udp_bound(st, 6001);
    struct sockaddr_in srv = wf_sin_of(SERVER_IP, 5000);
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
    wf_reap(st);
}
END_TEST

static Suite *wire_udp_suite(void)
{
    Suite *s = suite_create("wire_udp");
    TCase *t_udp = tcase_create("udp");
    tcase_add_checked_fixture(t_udp, wf_setup, wf_teardown);
    tcase_add_test(t_udp, udp_datagrams);
    tcase_add_test(t_udp, udp_queue_overflow);
    suite_add_tcase(s, t_udp);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(wire_udp_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
