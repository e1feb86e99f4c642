/*
 * check_close: how a connection the peer closes first ends (core/tcp.c), against a TCP peer
 * this test plays by hand (handpeer.h) on the controllable clock.
 *
 * The ACK of the peer's FIN waits for what the stack sends next, as the kernel's does: a
 * program that reads the EOF and closes answers with one FIN+ACK, one that sends answers
 * with data that carries the ACK, and one that does neither acknowledges within 40 ms,
 * before the peer would retransmit its FIN (200 ms at the least).
 *
 * A connection the stack closed first rests in TIME-WAIT; a client reusing its port is let
 * in where Linux lets it in (core/tcp.c nc__tcp_tw_input): a SYN beyond the old connection's
 * sequence numbers opens a new one, and an RST at rcv_nxt ends the TIME-WAIT.
 */
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdbool.h>
#include <stdint.h>

#include "handpeer.h"

/* Connected, then the peer's FIN; asserts that nothing answers it at once. */
static void peer_fin(struct hp *h)
{
    struct hp_seg sg[4];
    hp_connect(h, false, NULL);
    hp_send(h, HP_ISS + 1, h->iss + 1, HP_FIN | HP_ACK, 65535, NULL, 0, 0);
    ck_assert_int_eq(hp_collect(h, sg, 4), 0);
    char c;
    ck_assert_int_eq(netcore_recv(h->st, h->s, &c, 1, 0), 0); /* the EOF */
}

START_TEST(fin_ack_on_our_fin)
{
    struct hp h;
    struct hp_seg sg[4];
    hp_start(&h);
    peer_fin(&h);
    ck_assert_int_eq(netcore_close(h.st, h.s), 0);
    ck_assert_int_eq(hp_collect(&h, sg, 4), 1);
    ck_assert_uint_eq(sg[0].flags & (HP_FIN | HP_ACK | HP_RST), HP_FIN | HP_ACK);
    ck_assert_uint_eq(sg[0].ack, HP_ISS + 2);
    ck_assert_uint_eq(sg[0].seq, h.iss + 1);
    hp_stop(&h);
}
END_TEST

START_TEST(fin_ack_on_data)
{
    struct hp h;
    struct hp_seg sg[4];
    hp_start(&h);
    peer_fin(&h);
    ck_assert_int_eq(netcore_send(h.st, h.s, "x", 1, 0), 1);
    ck_assert_int_eq(hp_collect(&h, sg, 4), 1);
    ck_assert_uint_eq(sg[0].len, 1);
    ck_assert_uint_eq(sg[0].flags & (HP_FIN | HP_ACK), HP_ACK);
    ck_assert_uint_eq(sg[0].ack, HP_ISS + 2);
    hp_stop(&h);
}
END_TEST

START_TEST(fin_ack_by_timer)
{
    struct hp h;
    struct hp_seg sg[4];
    hp_start(&h);
    peer_fin(&h);
    netcore_clock_advance(39);
    ck_assert_int_eq(hp_collect(&h, sg, 4), 0);
    netcore_clock_advance(1);
    ck_assert_int_eq(hp_collect(&h, sg, 4), 1);
    ck_assert_uint_eq(sg[0].flags & (HP_SYN | HP_FIN | HP_RST | HP_ACK), HP_ACK);
    ck_assert_uint_eq(sg[0].len, 0);
    ck_assert_uint_eq(sg[0].ack, HP_ISS + 2);
    /* Acknowledged once: the socket's later FIN is the only segment after. */
    netcore_clock_advance(500);
    ck_assert_int_eq(hp_collect(&h, sg, 4), 0);
    ck_assert_int_eq(netcore_close(h.st, h.s), 0);
    ck_assert_int_eq(hp_collect(&h, sg, 4), 1);
    ck_assert_uint_eq(sg[0].flags & (HP_FIN | HP_ACK), HP_FIN | HP_ACK);
    hp_stop(&h);
}
END_TEST

/* A FIN that reaches a connection which sent its own already (FIN_WAIT) is acknowledged at
 * once: nothing else will carry it. */
START_TEST(fin_after_ours_at_once)
{
    struct hp h;
    struct hp_seg sg[4];
    hp_start(&h);
    hp_connect(&h, false, NULL);
    ck_assert_int_eq(netcore_shutdown(h.st, h.s, 1 /* SHUT_WR */), 0);
    ck_assert_int_eq(hp_collect(&h, sg, 4), 1);
    ck_assert_uint_ne(sg[0].flags & HP_FIN, 0);
    hp_send(&h, HP_ISS + 1, h.iss + 2, HP_FIN | HP_ACK, 65535, NULL, 0, 0);
    ck_assert_int_eq(hp_collect(&h, sg, 4), 1);
    ck_assert_uint_eq(sg[0].flags & (HP_FIN | HP_ACK), HP_ACK);
    ck_assert_uint_eq(sg[0].ack, HP_ISS + 2);
    hp_stop(&h);
}
END_TEST

#define LPORT 8080

/* The stack listens on LPORT (returned), accepts the test's connection from port 80 and closes
 * it first; the test's FIN answers, and the accepted connection rests in TIME-WAIT. */
static int tw_server(struct hp *h)
{
    struct hp_seg sg[4];
    static const uint8_t mss[4] = { 2, 4, HP_MSS >> 8, HP_MSS & 0xff };
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(LPORT) };
    hp_start(h);
    int l = netcore_socket(h->st, AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(l, 0);
    ck_assert_int_eq(netcore_bind(h->st, l, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(netcore_listen(h->st, l, 4), 0);
    h->port = LPORT;
    hp_send(h, HP_ISS, 0, HP_SYN, 65535, mss, sizeof(mss), 0);
    ck_assert_int_eq(hp_collect(h, sg, 4), 1);
    ck_assert_uint_eq(sg[0].flags & (HP_SYN | HP_ACK), HP_SYN | HP_ACK);
    h->iss = sg[0].seq;
    hp_send(h, HP_ISS + 1, h->iss + 1, HP_ACK, 65535, NULL, 0, 0);
    hp_collect(h, sg, 4);
    int c = netcore_accept(h->st, l, NULL, NULL, 0);
    ck_assert_int_ge(c, 0);
    ck_assert_int_eq(netcore_close(h->st, c), 0);
    ck_assert_int_eq(hp_collect(h, sg, 4), 1);
    ck_assert_uint_ne(sg[0].flags & HP_FIN, 0);
    hp_send(h, HP_ISS + 1, h->iss + 2, HP_FIN | HP_ACK, 65535, NULL, 0, 0);
    ck_assert_int_eq(hp_collect(h, sg, 4), 1);
    ck_assert_uint_eq(sg[0].flags & (HP_SYN | HP_FIN | HP_RST | HP_ACK), HP_ACK);
    ck_assert_uint_eq(sg[0].ack, HP_ISS + 2);
    struct netcore_stats x;
    netcore_get_stats(h->st, &x);
    ck_assert_int_eq(x.time_wait, 1);
    return l;
}

/* The test's SYN with sequence number isn is answered with a SYN-ACK; the handshake ends and
 * listener l accepts the connection. */
static void tw_connects(struct hp *h, int l, uint32_t isn)
{
    struct hp_seg sg[4];
    static const uint8_t mss[4] = { 2, 4, HP_MSS >> 8, HP_MSS & 0xff };
    hp_send(h, isn, 0, HP_SYN, 65535, mss, sizeof(mss), 0);
    ck_assert_int_eq(hp_collect(h, sg, 4), 1);
    ck_assert_uint_eq(sg[0].flags & (HP_SYN | HP_RST | HP_ACK), HP_SYN | HP_ACK);
    ck_assert_uint_eq(sg[0].ack, isn + 1);
    hp_send(h, isn + 1, sg[0].seq + 1, HP_ACK, 65535, NULL, 0, 0);
    hp_collect(h, sg, 4);
    ck_assert_int_ge(netcore_accept(h->st, l, NULL, NULL, 0), 0);
}

/* A SYN whose sequence number lies beyond the TIME-WAIT's rcv_nxt opens a new connection
 * (lwIP alone answered it with the old connection's ACK, or with RST inside its window). */
START_TEST(tw_syn_beyond_reopens)
{
    struct hp h;
    int l = tw_server(&h);
    tw_connects(&h, l, HP_ISS + 100000);
    struct netcore_stats x;
    netcore_get_stats(h.st, &x);
    ck_assert_uint_eq(x.time_wait_reused, 1);
    hp_stop(&h);
}
END_TEST

/* A SYN behind rcv_nxt gets the old connection's ACK; the client's RST to it (at rcv_nxt)
 * ends the TIME-WAIT, where lwIP alone ignored it for 2 MSL, so the SYN's retransmission
 * connects. */
START_TEST(tw_rst_ends_it)
{
    struct hp h;
    struct hp_seg sg[4];
    static const uint8_t mss[4] = { 2, 4, HP_MSS >> 8, HP_MSS & 0xff };
    int l = tw_server(&h);
    const uint32_t isn2 = HP_ISS - 100000;
    hp_send(&h, isn2, 0, HP_SYN, 65535, mss, sizeof(mss), 0);
    ck_assert_int_eq(hp_collect(&h, sg, 4), 1);
    ck_assert_uint_eq(sg[0].flags & (HP_SYN | HP_RST | HP_ACK), HP_ACK);
    ck_assert_uint_eq(sg[0].ack, HP_ISS + 2);
    /* An RST off rcv_nxt is ignored: the TIME-WAIT stands. */
    hp_send(&h, HP_ISS + 3, 0, HP_RST, 0, NULL, 0, 0);
    ck_assert_int_eq(hp_collect(&h, sg, 4), 0);
    hp_send(&h, isn2, 0, HP_SYN, 65535, mss, sizeof(mss), 0);
    ck_assert_int_eq(hp_collect(&h, sg, 4), 1);
    ck_assert_uint_eq(sg[0].flags & (HP_SYN | HP_RST | HP_ACK), HP_ACK);
    hp_send(&h, sg[0].ack, 0, HP_RST, 0, NULL, 0, 0);
    ck_assert_int_eq(hp_collect(&h, sg, 4), 0);
    tw_connects(&h, l, isn2);
    hp_stop(&h);
}
END_TEST

static Suite *close_suite(void)
{
    Suite *s = suite_create("close");
    TCase *tc = tcase_create("fin_ack");
    tcase_add_test(tc, fin_ack_on_our_fin);
    tcase_add_test(tc, fin_ack_on_data);
    tcase_add_test(tc, fin_ack_by_timer);
    tcase_add_test(tc, fin_after_ours_at_once);
    suite_add_tcase(s, tc);
    tc = tcase_create("time_wait");
    tcase_add_test(tc, tw_syn_beyond_reopens);
    tcase_add_test(tc, tw_rst_ends_it);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(close_suite());
    srunner_set_fork_status(sr, CK_FORK); /* lwIP is a singleton: a process per test */
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
