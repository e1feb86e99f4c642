/*
 * rto.c: netcore's own retransmission timer and its stale-ACK filter, against a TCP peer this
 * test plays by hand (handpeer.h) on the controllable clock: the stack connects, sends, and
 * the test ACKs what it sends, or does not.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>

#include "handpeer.h"

/* ms until the stack sends seq again, advancing the clock 5 ms at a time (-1: not in 5 s). */
static int until_resent(struct hp *h, uint32_t seq)
{
    struct hp_seg sg[8];
    for (int ms = 0; ms <= 5000; ms += 5) {
        int n = hp_collect(h, sg, 8);
        for (int i = 0; i < n; i++)
            if (sg[i].seq == seq && sg[i].len > 0)
                return ms;
        netcore_clock_advance(5);
    }
    return -1;
}

/* One segment acknowledged after 10 ms: the connection has an RTT of 10 ms. */
static uint32_t sample_rtt(struct hp *h)
{
    uint32_t seq = hp_send_full(h, 1);
    netcore_clock_advance(10);
    hp_send(h, HP_ISS + 1, seq + HP_MSS, HP_ACK, 65535, NULL, 0, 0);
    struct hp_seg sg[4];
    hp_collect(h, sg, 4);
    return seq + HP_MSS;
}

/*
 * With a 10 ms RTT the first retransmission comes at the 200 ms floor, the next after twice
 * that: lwIP on its own waits whole 500 ms ticks, 2.5 s at this point of a connection.
 */
START_TEST(rto_200ms_then_backoff)
{
    struct hp h;
    hp_start(&h);
    hp_connect(&h, false, NULL);
    sample_rtt(&h);
    uint32_t seq = hp_send_full(&h, 2);
    int first = until_resent(&h, seq);
    ck_assert_msg(first >= 200 && first <= 210, "first retransmission after %d ms", first);
    int second = until_resent(&h, seq);
    ck_assert_msg(second >= 400 && second <= 410, "second retransmission %d ms later", second);
    struct netcore_stats s;
    netcore_get_stats(h.st, &s);
    ck_assert_uint_eq(s.rto_timeouts, 2);
    hp_stop(&h);
}
END_TEST

/* Before the first RTT sample the timer is 1 s (RFC 6298), not lwIP's 3 s. */
START_TEST(rto_initial_1s)
{
    struct hp h;
    hp_start(&h);
    hp_connect(&h, false, NULL);
    uint32_t seq = hp_send_full(&h, 2);
    int first = until_resent(&h, seq);
    ck_assert_msg(first >= 1000 && first <= 1010, "first retransmission after %d ms", first);
    hp_stop(&h);
}
END_TEST

/*
 * Three duplicate ACKs with an older ACK among them (reordering on the path) still make a
 * fast retransmit: the old ACK is dropped before lwIP, which would reset its count.
 */
START_TEST(stale_ack_keeps_dupacks)
{
    struct hp h;
    hp_start(&h);
    hp_connect(&h, false, NULL);
    uint32_t acked = sample_rtt(&h);
    uint32_t seq = hp_send_full(&h, 3);
    hp_send(&h, HP_ISS + 1, seq + HP_MSS, HP_ACK, 65535, NULL, 0, 0); /* the first arrived ... */
    hp_send(&h, HP_ISS + 1, seq + HP_MSS, HP_ACK, 65535, NULL, 0, 0); /* ... two duplicates ... */
    hp_send(&h, HP_ISS + 1, seq + HP_MSS, HP_ACK, 65535, NULL, 0, 0);
    hp_send(&h, HP_ISS + 1, acked, HP_ACK, 65535, NULL, 0, 0);     /* ... an old ACK, late ... */
    hp_send(&h, HP_ISS + 1, seq + HP_MSS, HP_ACK, 65535, NULL, 0, 0); /* ... and the third duplicate */
    struct hp_seg sg[8];
    int n = hp_collect(&h, sg, 8);
    bool resent = false;
    for (int i = 0; i < n; i++)
        resent |= sg[i].seq == seq + HP_MSS && sg[i].len == HP_MSS;
    ck_assert_msg(resent, "no fast retransmit of the second segment");
    struct netcore_stats s;
    netcore_get_stats(h.st, &s);
    ck_assert_uint_eq(s.stale_acks, 1);
    ck_assert_uint_eq(s.rto_timeouts, 0);
    hp_stop(&h);
}
END_TEST

static Suite *rto_suite(void)
{
    Suite *s = suite_create("rto");
    TCase *tc = tcase_create("timer");
    tcase_add_test(tc, rto_200ms_then_backoff);
    tcase_add_test(tc, rto_initial_1s);
    suite_add_tcase(s, tc);
    TCase *ta = tcase_create("stale_ack");
    tcase_add_test(ta, stale_ack_keeps_dupacks);
    suite_add_tcase(s, ta);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(rto_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
