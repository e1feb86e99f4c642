/*
 * check_close: how a connection the peer closes first ends (core/tcp.c), against a TCP peer
 * this test plays by hand (handpeer.h) on the controllable clock.
 *
 * The ACK of the peer's FIN waits for what the stack sends next, as the kernel's does: a
 * program that reads the EOF and closes answers with one FIN+ACK, one that sends answers
 * with data that carries the ACK, and one that does neither acknowledges within 40 ms,
 * before the peer would retransmit its FIN (200 ms at the least).
 */
#include <check.h>
#include <poll.h>
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

static Suite *close_suite(void)
{
    Suite *s = suite_create("close");
    TCase *tc = tcase_create("fin_ack");
    tcase_add_test(tc, fin_ack_on_our_fin);
    tcase_add_test(tc, fin_ack_on_data);
    tcase_add_test(tc, fin_ack_by_timer);
    tcase_add_test(tc, fin_after_ours_at_once);
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
