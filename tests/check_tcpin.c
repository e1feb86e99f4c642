/*
 * tcpin.c: the guards around lwIP's tcp_input, against a TCP peer this test plays by hand
 * (handpeer.h) on the controllable clock. Without them lwIP 2.1.3 aborts the test process
 * (the first two cases) or the connection stalls (the third). The last five cases are the loss
 * recovery tcpin.c adds around lwIP's sender (NewReno partial ACKs, SACKed duplicate ACKs,
 * every SACKed hole resent at once, a lost retransmission, a flight's lost tail and a lost
 * retransmission sent while an older one was being judged resent before the retransmission
 * timer).
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "handpeer.h"

static uint64_t malformed(struct hp *h)
{
    struct netcore_stats s;
    netcore_get_stats(h->st, &s);
    return s.rx_dropped_malformed;
}

/* The connection still carries data both ways: 5 bytes from the peer at seq, acknowledged
 * up to ack, arrive; 5 bytes sent go out at once, from next. */
static void still_works(struct hp *h, uint32_t seq, uint32_t ack, uint32_t next)
{
    struct hp_seg sg[8];
    hp_send(h, seq, ack, HP_ACK, 65535, NULL, 0, 5);
    hp_collect(h, sg, 8);
    char buf[16];
    ck_assert_int_eq(netcore_recv(h->st, h->s, buf, sizeof(buf), 0), 5);
    ck_assert_int_eq(netcore_send(h->st, h->s, "after", 5, 0), 5);
    ck_assert_int_eq(hp_collect(h, sg, 8), 1);
    ck_assert_uint_eq(sg[0].seq, next);
    ck_assert_uint_eq(sg[0].len, 5);
}

/* A bare FIN 2^31 from rcv_nxt: lwIP took it for one overlapping rcv_nxt and asserted
 * "insane offset!". */
START_TEST(half_space_segment)
{
    struct hp h;
    hp_start(&h);
    hp_connect(&h, false, NULL);
    hp_send(&h, HP_ISS + 1 + 0x80000000u, h.iss + 1, HP_FIN | HP_ACK, 65535, NULL, 0, 0);
    struct hp_seg sg[8];
    ck_assert_int_eq(hp_collect(&h, sg, 8), 0);
    ck_assert_uint_eq(malformed(&h), 1);
    still_works(&h, HP_ISS + 1, h.iss + 1, h.iss + 1);
    hp_stop(&h);
}
END_TEST

/*
 * A SYN|ACK half a sequence space away, to a connection in SYN-RCVD: lwIP takes its ACK and
 * hands the segment to tcp_receive, which aborted on "insane offset!" (the guard used to let
 * every SYN through; tests/fuzz/regress/frames/synack-half-space). It is dropped, and the
 * handshake then completes.
 */
START_TEST(synack_half_space)
{
    struct hp h;
    hp_start(&h);
    int l = netcore_socket(h.st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(l, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(8080) };
    ck_assert_int_eq(netcore_bind(h.st, l, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(netcore_listen(h.st, l, 4), 0);
    h.port = 8080;
    hp_send(&h, HP_ISS, 0, HP_SYN, 65535, NULL, 0, 0);
    struct hp_seg sg[8];
    int n = 0;
    for (int i = 0; i < 10 && n == 0; i++) /* the first rounds answer its ARP request */
        n = hp_collect(&h, sg, 8);
    ck_assert_int_eq(n, 1);
    ck_assert_uint_eq(sg[0].flags & (HP_SYN | HP_ACK), HP_SYN | HP_ACK);
    uint32_t iss = sg[0].seq;
    hp_send(&h, HP_ISS + 1 + 0x80000000u, iss + 1, HP_SYN | HP_ACK, 65535, NULL, 0, 0);
    ck_assert_int_eq(hp_collect(&h, sg, 8), 0);
    ck_assert_uint_eq(malformed(&h), 1);
    hp_send(&h, HP_ISS + 1, iss + 1, HP_ACK, 65535, NULL, 0, 0);
    hp_collect(&h, sg, 8);
    int c = netcore_accept(h.st, l, NULL, NULL, 0);
    ck_assert_int_ge(c, 0);
    netcore_close(h.st, c);
    netcore_close(h.st, l);
    hp_stop(&h);
}
END_TEST

/*
 * The peer acknowledges the first of two segments and closes its window; the retransmission
 * timeout puts the second back on the unsent queue, which starts the persist timer as it
 * does not fit the window; the peer's late ACK for the second empties that queue. lwIP's next
 * slow-timer tick asserted "persist ticking with empty send buffer". Nothing is probed while
 * there is nothing to send, and new data goes out at once into the reopened window.
 */
START_TEST(persist_after_late_ack)
{
    struct hp h;
    hp_start(&h);
    hp_connect(&h, false, NULL);
    uint32_t seq = hp_send_full(&h, 2);
    hp_send(&h, HP_ISS + 1, seq + HP_MSS, HP_ACK, 0, NULL, 0, 0);
    struct hp_seg sg[8];
    hp_collect(&h, sg, 8);
    netcore_clock_advance(1000); /* the timeout before the first RTT sample */
    ck_assert_int_eq(hp_collect(&h, sg, 8), 0); /* the window is closed: nothing resent */
    struct netcore_stats s;
    netcore_get_stats(h.st, &s);
    ck_assert_uint_eq(s.rto_timeouts, 1);
    hp_send(&h, HP_ISS + 1, seq + 2 * HP_MSS, HP_ACK, 65535, NULL, 0, 0);
    hp_collect(&h, sg, 8);
    for (int i = 0; i < 20; i++) { /* 10 s of lwIP's 500 ms slow timer */
        netcore_clock_advance(500);
        ck_assert_int_eq(hp_collect(&h, sg, 8), 0);
    }
    still_works(&h, HP_ISS + 1, seq + 2 * HP_MSS, seq + 2 * HP_MSS);
    hp_stop(&h);
}
END_TEST

/*
 * An ACK of data never sent, with a window of zero, is dropped: lwIP took its window and
 * ignored the window of every true ACK after it, so the connection stalled on persist probes.
 * A segment with data and such an ACK is dropped too, its data not taken.
 */
START_TEST(ack_of_unsent_data)
{
    struct hp h;
    hp_start(&h);
    hp_connect(&h, false, NULL);
    uint32_t seq = hp_send_full(&h, 1);
    hp_send(&h, HP_ISS + 1, seq + 100000, HP_ACK, 0, NULL, 0, 0);
    hp_send(&h, HP_ISS + 1, seq + 100000, HP_ACK, 0, NULL, 0, 5);
    struct hp_seg sg[8];
    ck_assert_int_eq(hp_collect(&h, sg, 8), 0);
    ck_assert_uint_eq(malformed(&h), 2);
    char buf[16];
    ck_assert_int_eq(netcore_recv(h.st, h.s, buf, sizeof(buf), 0), -EAGAIN);
    hp_send(&h, HP_ISS + 1, seq + HP_MSS, HP_ACK, 65535, NULL, 0, 0);
    hp_collect(&h, sg, 8);
    still_works(&h, HP_ISS + 1, seq + HP_MSS, seq + HP_MSS);
    hp_stop(&h);
}
END_TEST

/* Sends the stack an ACK of ack with the test's usual window. */
static void ack_to(struct hp *h, uint32_t ack)
{
    hp_send(h, HP_ISS + 1, ack, HP_ACK, 65535, NULL, 0, 0);
}

/* Did the stack send the full segment at seq among what it sends now? */
static bool resends(struct hp *h, uint32_t seq)
{
    struct hp_seg sg[16];
    int n = hp_collect(h, sg, 16);
    bool found = false;
    for (int i = 0; i < n; i++)
        found |= sg[i].seq == seq && sg[i].len == HP_MSS;
    return found;
}

/*
 * Two segments of one flight lost (the second and the fourth of six): three duplicate ACKs
 * resend the second, and the partial ACK that follows (up to the fourth) resends the fourth
 * at once (NewReno), not after three more duplicates or the retransmission timer.
 */
START_TEST(partial_ack_resends_next_hole)
{
    struct hp h;
    hp_start(&h);
    hp_connect(&h, false, NULL);
    uint32_t seq = hp_send_full(&h, 1);
    netcore_clock_advance(10);
    ack_to(&h, seq + HP_MSS); /* an RTT sample of 10 ms */
    struct hp_seg sg[4];
    hp_collect(&h, sg, 4);
    seq = hp_send_full(&h, 3); /* slow start: room for six segments after these */
    ack_to(&h, seq + 3 * HP_MSS);
    hp_collect(&h, sg, 4);
    seq = hp_send_full(&h, 6);
    ack_to(&h, seq + HP_MSS); /* the first arrived, the second did not */
    for (int i = 0; i < 3; i++)
        ack_to(&h, seq + HP_MSS); /* the third, fifth and sixth arrived */
    ck_assert_msg(resends(&h, seq + HP_MSS), "no fast retransmit of the second segment");
    ack_to(&h, seq + 3 * HP_MSS); /* the second again, and the third: the fourth is missing */
    ck_assert_msg(resends(&h, seq + 3 * HP_MSS), "the partial ACK did not resend the fourth");
    ack_to(&h, seq + 6 * HP_MSS); /* all of it */
    hp_collect(&h, sg, 4);
    struct netcore_stats st;
    netcore_get_stats(h.st, &st);
    ck_assert_uint_eq(st.rto_timeouts, 0);
    still_works(&h, HP_ISS + 1, seq + 6 * HP_MSS, seq + 6 * HP_MSS);
    hp_stop(&h);
}
END_TEST

/* An ACK of ack with window win and one SACK block [left, right). */
static void sack_to(struct hp *h, uint32_t ack, uint16_t win, uint32_t left, uint32_t right)
{
    uint8_t opt[12] = { 1, 1, 5, 10 };
    for (int i = 0; i < 4; i++) {
        opt[4 + i] = (uint8_t)(left >> (24 - 8 * i));
        opt[8 + i] = (uint8_t)(right >> (24 - 8 * i));
    }
    hp_send(h, HP_ISS + 1, ack, HP_ACK, win, opt, sizeof(opt), 0);
}

/*
 * Duplicate ACKs whose window grows, as a Linux receiver's does while it queues what arrived
 * out of order: lwIP counts none of them, but once they SACK three segments above the hole
 * the hole is sent again, without waiting for the retransmission timer.
 */
START_TEST(sacked_dupacks_with_growing_window)
{
    struct hp h;
    hp_start(&h);
    hp_connect(&h, true, NULL);
    uint32_t seq = hp_send_full(&h, 1);
    netcore_clock_advance(10);
    ack_to(&h, seq + HP_MSS);
    struct hp_seg sg[4];
    hp_collect(&h, sg, 4);
    seq = hp_send_full(&h, 3);
    ack_to(&h, seq + 3 * HP_MSS);
    hp_collect(&h, sg, 4);
    seq = hp_send_full(&h, 6);
    hp_send(&h, HP_ISS + 1, seq + HP_MSS, HP_ACK, 40000, NULL, 0, 0); /* the second is lost */
    sack_to(&h, seq + HP_MSS, 41000, seq + 2 * HP_MSS, seq + 3 * HP_MSS);
    sack_to(&h, seq + HP_MSS, 42000, seq + 2 * HP_MSS, seq + 4 * HP_MSS);
    ck_assert_msg(!resends(&h, seq + HP_MSS), "resent with two segments SACKed above");
    sack_to(&h, seq + HP_MSS, 43000, seq + 2 * HP_MSS, seq + 5 * HP_MSS);
    ck_assert_msg(resends(&h, seq + HP_MSS), "no retransmission with three segments SACKed");
    ack_to(&h, seq + 6 * HP_MSS);
    hp_collect(&h, sg, 4);
    struct netcore_stats st;
    netcore_get_stats(h.st, &st);
    ck_assert_uint_eq(st.rto_timeouts, 0);
    still_works(&h, HP_ISS + 1, seq + 6 * HP_MSS, seq + 6 * HP_MSS);
    hp_stop(&h);
}
END_TEST

/* An ACK of ack with the test's usual window and SACK blocks [b[i][0], b[i][1]), i < n <= 4. */
static void sack_blocks_to(struct hp *h, uint32_t ack, const uint32_t (*b)[2], int n)
{
    uint8_t opt[36] = { 1, 1, 5, (uint8_t)(2 + 8 * n) };
    for (int k = 0; k < n; k++)
        for (int i = 0; i < 4; i++) {
            opt[4 + 8 * k + i] = (uint8_t)(b[k][0] >> (24 - 8 * i));
            opt[8 + 8 * k + i] = (uint8_t)(b[k][1] >> (24 - 8 * i));
        }
    hp_send(h, HP_ISS + 1, ack, HP_ACK, 65535, opt, 4 + 8 * (size_t)n, 0);
}

/*
 * Two segments of one flight of eight lost (the second and the fourth), the others SACKed as
 * a Linux receiver reports them, the newest block first: the third duplicate ACK resends the
 * second, and once three segments are SACKed above the fourth, the next duplicate ACK resends
 * the fourth too (rexmit.c's scoreboard), in the same round trip, not a round trip later on
 * the partial ACK. The partial ACK that follows resends nothing more: both holes are on
 * their way.
 */
START_TEST(sack_resends_every_hole)
{
    struct hp h;
    hp_start(&h);
    hp_connect(&h, true, NULL);
    uint32_t seq = hp_send_full(&h, 1);
    netcore_clock_advance(10);
    ack_to(&h, seq + HP_MSS);
    struct hp_seg sg[16];
    hp_collect(&h, sg, 16);
    seq = hp_send_full(&h, 3);
    ack_to(&h, seq + 3 * HP_MSS);
    hp_collect(&h, sg, 16);
    seq = hp_send_full(&h, 6);
    ack_to(&h, seq + 6 * HP_MSS);
    hp_collect(&h, sg, 16);
    seq = hp_send_full(&h, 8);
    uint32_t a = seq + HP_MSS, m = HP_MSS;
    ack_to(&h, a); /* the first arrived */
    const uint32_t d1[][2] = { { seq + 2 * m, seq + 3 * m } };
    const uint32_t d2[][2] = { { seq + 4 * m, seq + 5 * m }, { seq + 2 * m, seq + 3 * m } };
    const uint32_t d3[][2] = { { seq + 4 * m, seq + 6 * m }, { seq + 2 * m, seq + 3 * m } };
    const uint32_t d4[][2] = { { seq + 4 * m, seq + 7 * m }, { seq + 2 * m, seq + 3 * m } };
    sack_blocks_to(&h, a, d1, 1);
    sack_blocks_to(&h, a, d2, 2);
    ck_assert_msg(!resends(&h, a), "resent after two duplicate ACKs");
    sack_blocks_to(&h, a, d3, 2);
    ck_assert_msg(resends(&h, a), "no fast retransmit of the second segment");
    sack_blocks_to(&h, a, d4, 2);
    ck_assert_msg(resends(&h, seq + 3 * m),
                  "the fourth not resent with three segments SACKed above it");
    ack_to(&h, seq + 3 * m); /* the second's retransmission arrived: a partial ACK */
    int n = hp_collect(&h, sg, 16);
    for (int i = 0; i < n; i++)
        ck_assert_msg(sg[i].len == 0, "resent %zu bytes at %u after the partial ACK",
                      sg[i].len, sg[i].seq - seq);
    ack_to(&h, seq + 8 * m);
    hp_collect(&h, sg, 16);
    struct netcore_stats st;
    netcore_get_stats(h.st, &st);
    ck_assert_uint_eq(st.rto_timeouts, 0);
    still_works(&h, HP_ISS + 1, seq + 8 * m, seq + 8 * m);
    hp_stop(&h);
}
END_TEST

/* A connection whose flights of 1 and 3 segments were acknowledged 10 ms after they left
 * (an RTT of 10 ms, a window that lets the next flight out whole); a flight of n more is out,
 * 10 ms ago. Returns where it starts. */
static uint32_t warmed_flight(struct hp *h, int n)
{
    struct hp_seg sg[16];
    hp_start(h);
    hp_connect(h, true, NULL);
    uint32_t seq = hp_send_full(h, 1);
    netcore_clock_advance(10);
    ack_to(h, seq + HP_MSS);
    hp_collect(h, sg, 16);
    seq = hp_send_full(h, 3);
    netcore_clock_advance(10);
    ack_to(h, seq + 3 * HP_MSS);
    hp_collect(h, sg, 16);
    seq = hp_send_full(h, n);
    netcore_clock_advance(10);
    return seq;
}

/* Advances the clock 5 ms at a time until the full segment at seq is resent: the ms that
 * took, 150 (less than the 200 ms retransmission timer) when it was not. */
static int ms_until_resent(struct hp *h, uint32_t seq)
{
    int ms = 0;
    while (ms < 150 && !resends(h, seq)) {
        netcore_clock_advance(5);
        ms += 5;
    }
    return ms;
}

/* Everything acknowledged up to end: no retransmission timer fired, the connection still
 * carries data both ways, and the test's stack goes. */
static void acked_to_end(struct hp *h, uint32_t end)
{
    struct hp_seg sg[16];
    ack_to(h, end);
    hp_collect(h, sg, 16);
    struct netcore_stats st;
    netcore_get_stats(h->st, &st);
    ck_assert_uint_eq(st.rto_timeouts, 0);
    still_works(h, HP_ISS + 1, end, end);
    hp_stop(h);
}

/*
 * The fast retransmission of a hole is lost too, and nothing sent after it can tell (all of
 * the flight is SACKed, no new data): it is resent once a round trip and a quarter have gone
 * by without its ACK (rexmit.c, RACK's timer), long before the 200 ms retransmission timer.
 */
START_TEST(lost_retransmission_resent)
{
    struct hp h;
    uint32_t seq = warmed_flight(&h, 6);
    struct hp_seg sg[16];
    uint32_t a = seq + HP_MSS, m = HP_MSS;
    ack_to(&h, a);
    for (uint32_t k = 3; k <= 5; k++) {
        const uint32_t b[][2] = { { seq + 2 * m, seq + k * m } };
        sack_blocks_to(&h, a, b, 1);
    }
    ck_assert_msg(resends(&h, a), "no fast retransmit of the second segment");
    const uint32_t all[][2] = { { seq + 2 * m, seq + 6 * m } };
    sack_blocks_to(&h, a, all, 1); /* the rest arrived; the retransmission is lost */
    hp_collect(&h, sg, 16);
    int ms = ms_until_resent(&h, a);
    ck_assert_msg(ms < 150, "the lost retransmission waited for the retransmission timer");
    acked_to_end(&h, seq + 6 * m);
}
END_TEST

/*
 * The tail of a flight lost: of six segments the fifth, so only one segment is SACKed above
 * it and no three duplicate ACKs come. It is resent a quarter of an RTT after that SACK
 * (RACK's reordering timer), not after the 200 ms retransmission timer.
 */
START_TEST(tail_hole_resent)
{
    struct hp h;
    uint32_t seq = warmed_flight(&h, 6);
    uint32_t m = HP_MSS, a = seq + 4 * m;
    ack_to(&h, a);
    const uint32_t b[][2] = { { seq + 5 * m, seq + 6 * m } };
    sack_blocks_to(&h, a, b, 1);
    int ms = ms_until_resent(&h, a);
    ck_assert_msg(ms < 150, "the tail's hole waited for the retransmission timer");
    acked_to_end(&h, seq + 6 * m);
}
END_TEST

/*
 * Two holes in a flight of eight (the second and the fifth): the second is resent on the
 * third duplicate ACK, the fifth once three segments are SACKed above it, while the first
 * retransmission's mark stands. The first retransmission arrives (a partial ACK up to the
 * fifth); the second is lost, and no new data follows to tell. When the old mark is judged
 * it covers nothing left to resend; the fifth's retransmission gets a mark of its own and is
 * resent a round trip and a quarter later. Before, it had none and waited for the 200 ms
 * retransmission timer (2-3 times in 16 MiB through 5% loss).
 */
START_TEST(retransmission_after_mark_resent)
{
    struct hp h;
    uint32_t seq = warmed_flight(&h, 8);
    struct hp_seg sg[16];
    uint32_t m = HP_MSS, a = seq + m;
    ack_to(&h, a);
    const uint32_t d1[][2] = { { seq + 2 * m, seq + 3 * m } };
    const uint32_t d2[][2] = { { seq + 2 * m, seq + 4 * m } };
    const uint32_t d3[][2] = { { seq + 5 * m, seq + 6 * m }, { seq + 2 * m, seq + 4 * m } };
    sack_blocks_to(&h, a, d1, 1);
    sack_blocks_to(&h, a, d2, 1);
    sack_blocks_to(&h, a, d3, 2);
    ck_assert_msg(resends(&h, a), "no fast retransmit of the second segment");
    netcore_clock_advance(2);
    const uint32_t d4[][2] = { { seq + 5 * m, seq + 8 * m }, { seq + 2 * m, seq + 4 * m } };
    sack_blocks_to(&h, a, d4, 2);
    ck_assert_msg(resends(&h, seq + 4 * m), "the fifth not resent with three SACKed above");
    netcore_clock_advance(8);
    const uint32_t rest[][2] = { { seq + 5 * m, seq + 8 * m } };
    sack_blocks_to(&h, seq + 4 * m, rest, 1); /* the second's retransmission arrived */
    hp_collect(&h, sg, 16);
    int ms = ms_until_resent(&h, seq + 4 * m);
    ck_assert_msg(ms < 150, "the second retransmission waited for the retransmission timer");
    acked_to_end(&h, seq + 8 * m);
}
END_TEST

static Suite *tcpin_suite(void)
{
    Suite *s = suite_create("tcpin");
    TCase *tf = tcase_create("far_off");
    tcase_add_test(tf, half_space_segment);
    tcase_add_test(tf, synack_half_space);
    suite_add_tcase(s, tf);
    TCase *tp = tcase_create("persist");
    tcase_add_test(tp, persist_after_late_ack);
    suite_add_tcase(s, tp);
    TCase *tu = tcase_create("unsent_ack");
    tcase_add_test(tu, ack_of_unsent_data);
    suite_add_tcase(s, tu);
    TCase *tr = tcase_create("newreno");
    tcase_add_test(tr, partial_ack_resends_next_hole);
    tcase_add_test(tr, sacked_dupacks_with_growing_window);
    tcase_add_test(tr, sack_resends_every_hole);
    tcase_add_test(tr, lost_retransmission_resent);
    tcase_add_test(tr, tail_hole_resent);
    tcase_add_test(tr, retransmission_after_mark_resent);
    suite_add_tcase(s, tr);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tcpin_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
