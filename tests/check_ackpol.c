/*
 * ackpol.c: when the stack acknowledges received data, against a TCP peer this test plays by
 * hand (handpeer.h). Every burst below is sent before the stack runs, so the stack reads it in
 * one device batch (the wire's datagram queue holds 10 frames): the ACKs seen after one
 * hp_collect are those of one batch, in the order the stack sent them.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>

#include "handpeer.h"

/* The peer sends n segments of len bytes from seq, all before the stack runs. */
static uint32_t burst(struct hp *h, uint32_t seq, int n, size_t len)
{
    for (int i = 0; i < n; i++, seq += (uint32_t)len)
        hp_send(h, seq, h->iss + 1, HP_ACK, 65535, NULL, 0, len);
    return seq;
}

/* Runs the stack once; asserts that it sent only pure ACKs, and returns how many. */
static int acks(struct hp *h, struct hp_seg *sg, int max)
{
    int n = hp_collect(h, sg, max);
    for (int i = 0; i < n; i++) {
        ck_assert_uint_eq(sg[i].flags & (HP_SYN | HP_FIN | HP_RST | HP_ACK), HP_ACK);
        ck_assert_uint_eq(sg[i].len, 0);
    }
    return n;
}

/* A connection past its quick start: the first 8 data segments, each acknowledged at once,
 * as a kernel's quick-ACK mode does (the peer's slow start grows with every ACK). Returns
 * the peer's next sequence number. */
static uint32_t started(struct hp *h)
{
    hp_connect(h, true, NULL);
    struct hp_seg sg[16];
    uint32_t seq = burst(h, HP_ISS + 1, 8, HP_MSS);
    ck_assert_int_eq(acks(h, sg, 16), 8);
    for (int i = 0; i < 8; i++)
        ck_assert_uint_eq(sg[i].ack, HP_ISS + 1 + (uint32_t)(i + 1) * HP_MSS);
    return seq;
}

/* Past the start, a burst of full segments read in one batch gets one ACK, for all of it,
 * sent when the batch ends: lwIP alone would acknowledge every second one (and the rest at
 * its 250 ms timer), netcore used to acknowledge each. */
START_TEST(burst_one_ack)
{
    struct hp h;
    hp_start(&h);
    uint32_t seq = started(&h);
    struct hp_seg sg[16];
    for (int round = 0; round < 3; round++) {
        seq = burst(&h, seq, 6, HP_MSS);
        ck_assert_int_eq(acks(&h, sg, 16), 1);
        ck_assert_uint_eq(sg[0].ack, seq);
        ck_assert_uint_gt(sg[0].win, 0);
    }
    /* A request's short tail alone: no timer to wait for either. */
    seq = burst(&h, seq, 1, 100);
    ck_assert_int_eq(acks(&h, sg, 16), 1);
    ck_assert_uint_eq(sg[0].ack, seq);
    char buf[4 * HP_MSS];
    size_t total = 26 * HP_MSS + 100;
    for (size_t got = 0; got < total;) {
        ssize_t n = netcore_recv(h.st, h.s, buf, sizeof(buf), 0);
        ck_assert_int_gt(n, 0);
        got += (size_t)n;
    }
    hp_stop(&h);
}
END_TEST

/* Out-of-order data is acknowledged at once (lwIP's duplicate ACK with a SACK block), and so
 * is the segment that fills the hole; what follows in the same batch waits for its end. */
START_TEST(hole_filled_acked_at_once)
{
    struct hp h;
    hp_start(&h);
    uint32_t seq = started(&h);
    hp_send(&h, seq + HP_MSS, h.iss + 1, HP_ACK, 65535, NULL, 0, HP_MSS); /* out of order */
    hp_send(&h, seq, h.iss + 1, HP_ACK, 65535, NULL, 0, HP_MSS);          /* fills the hole */
    burst(&h, seq + 2 * HP_MSS, 2, HP_MSS);
    struct hp_seg sg[16];
    ck_assert_int_eq(acks(&h, sg, 16), 3);
    ck_assert_uint_eq(sg[0].ack, seq); /* duplicate */
    size_t len;
    ck_assert_ptr_nonnull(hp_option(&sg[0], 5, &len));
    ck_assert_uint_eq(sg[1].ack, seq + 2 * HP_MSS);
    ck_assert_uint_eq(sg[2].ack, seq + 4 * HP_MSS);
    hp_stop(&h);
}
END_TEST

/* A FIN is acknowledged with the data before it, at once. */
START_TEST(fin_acked_at_once)
{
    struct hp h;
    hp_start(&h);
    uint32_t seq = started(&h);
    seq = burst(&h, seq, 2, HP_MSS);
    hp_send(&h, seq, h.iss + 1, HP_ACK | HP_FIN, 65535, NULL, 0, 10);
    struct hp_seg sg[16];
    int n = acks(&h, sg, 16);
    ck_assert_int_ge(n, 1);
    ck_assert_uint_eq(sg[n - 1].ack, seq + 10 + 1);
    hp_stop(&h);
}
END_TEST

static Suite *ackpol_suite(void)
{
    Suite *s = suite_create("ackpol");
    TCase *tb = tcase_create("batch");
    tcase_add_test(tb, burst_one_ack);
    suite_add_tcase(s, tb);
    TCase *tq = tcase_create("quick");
    tcase_add_test(tq, hole_filled_acked_at_once);
    tcase_add_test(tq, fin_acked_at_once);
    suite_add_tcase(s, tq);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ackpol_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
