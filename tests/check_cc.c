/*
 * check_cc — cc.c's window arithmetic, with exact values: the initial window (RFC 6928), the
 * ssthresh after a loss (beta 0.7, floors), the window in fast recovery, and what a loss and
 * a timeout do to a pcb without offloads (pcb->mss the real MSS) and with them (a
 * super-segment of 44 x 1460 bytes, syn.c); TCP_CONGESTION's names, reno's halving, and
 * bbr's model fed a made-up flight: its round trip, rate, window floor and send queue.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lwip/priv/tcp_priv.h>
#include <lwip/tcp.h>

#include "cc.h"

#define SUPER (44u * 1460u)

static struct tcp_pcb pcb;

static void setup(void)
{
    memset(&pcb, 0, sizeof(pcb));
    pcb.state = ESTABLISHED;
    pcb.mss = 1460;
    pcb.snd_wnd = 1u << 20;
}

static void teardown(void)
{
}

START_TEST(iw_rfc6928)
{
    ck_assert_uint_eq(nc__cc_iw(1460), 14600);
    ck_assert_uint_eq(nc__cc_iw(1448), 14480);
    ck_assert_uint_eq(nc__cc_iw(536), 5360);  /* 10 segments are below 14600 bytes */
    ck_assert_uint_eq(nc__cc_iw(9000), 18000); /* 2 segments are above */
    ck_assert_uint_eq(nc__cc_iw(SUPER), 2 * SUPER);
}
END_TEST

START_TEST(iw_established)
{
    pcb.cwnd = 4380; /* lwIP's own: 3 segments */
    nc__cc_established(&pcb);
    ck_assert_uint_eq(pcb.cwnd, 14600);
    pcb.cwnd = 20000; /* larger already: kept */
    nc__cc_established(&pcb);
    ck_assert_uint_eq(pcb.cwnd, 20000);
    pcb.mss = SUPER;
    pcb.cwnd = 2 * SUPER; /* syn.c's two super-segments */
    nc__cc_established(&pcb);
    ck_assert_uint_eq(pcb.cwnd, 2 * SUPER);
}
END_TEST

START_TEST(ssthresh_beta)
{
    ck_assert_uint_eq(nc__cc_ssthresh(100000, 1u << 20, 2920), 70000);
    ck_assert_uint_eq(nc__cc_ssthresh(100000, 50000, 2920), 35000); /* the peer's window */
    ck_assert_uint_eq(nc__cc_ssthresh(4000, 1u << 20, 2920), 2920);  /* the floor */
    ck_assert_uint_eq(nc__cc_ssthresh(321200, 1u << 20, 2 * SUPER), 224840);
    ck_assert_uint_eq(nc__cc_ssthresh(150000, 1u << 20, 2 * SUPER), 2 * SUPER);
    /* no overflow at the top of the range */
    ck_assert_uint_eq(nc__cc_ssthresh(UINT32_MAX, UINT32_MAX, 0), 3006477106u);
}
END_TEST

START_TEST(loss_reduces)
{
    pcb.cwnd = 53460; /* lwIP's tcp_rexmit_fast: half of it + 3 segments, replaced */
    pcb.ssthresh = 50000;
    nc__cc_loss(&pcb, 100000, NULL);
    ck_assert_uint_eq(pcb.ssthresh, 70000);
    ck_assert_uint_eq(pcb.cwnd, 70000 + 3 * 1460);
}
END_TEST

START_TEST(loss_reduces_super)
{
    pcb.mss = SUPER;
    nc__cc_loss(&pcb, 5 * SUPER, NULL);
    ck_assert_uint_eq(pcb.ssthresh, 224840);
    ck_assert_uint_eq(pcb.cwnd, 224840 + 3 * SUPER);
    nc__cc_loss(&pcb, 150000, NULL); /* below two super-segments: lwIP sends whole ones */
    ck_assert_uint_eq(pcb.ssthresh, 2 * SUPER);
    ck_assert_uint_eq(pcb.cwnd, 5 * SUPER);
}
END_TEST

START_TEST(timeout_one_segment)
{
    pcb.cwnd = 100000;
    pcb.bytes_acked = 1234;
    nc__cc_timeout(&pcb, true, NULL);
    ck_assert_uint_eq(pcb.ssthresh, 70000);
    ck_assert_uint_eq(pcb.cwnd, 1460);
    ck_assert_uint_eq(pcb.bytes_acked, 0);
    /* the timer backing off: ssthresh stays */
    nc__cc_timeout(&pcb, false, NULL);
    ck_assert_uint_eq(pcb.ssthresh, 70000);
    ck_assert_uint_eq(pcb.cwnd, 1460);
    /* a first timeout with a window of one segment: 0.7 of it, the floor of two */
    nc__cc_timeout(&pcb, true, NULL);
    ck_assert_uint_eq(pcb.ssthresh, 2920);
    ck_assert_uint_eq(pcb.cwnd, 1460);
}
END_TEST

START_TEST(recovery_window)
{
    ck_assert_uint_eq(nc__cc_recovery_cwnd(70000, 1460, 0), 74380);
    ck_assert_uint_eq(nc__cc_recovery_cwnd(70000, 1460, 14600), 88980);
    ck_assert_uint_eq(nc__cc_recovery_cwnd(2 * SUPER, SUPER, 43800), 5 * SUPER + 43800);
    ck_assert_uint_eq(nc__cc_recovery_cwnd(UINT32_MAX - 10, 1460, 100), UINT32_MAX);
}
END_TEST

/* Without a SACK scoreboard (a peer without SACK), recovery keeps lwIP's own window. */
START_TEST(recovery_no_sack)
{
    pcb.flags = TF_INFR;
    pcb.ssthresh = 70000;
    pcb.cwnd = 80000;
    nc__cc_recovery(&pcb);
    ck_assert_uint_eq(pcb.cwnd, 80000);
}
END_TEST

START_TEST(algo_names)
{
    ck_assert_int_eq(nc__cc_algo_parse("reno"), NC_CC_RENO);
    ck_assert_int_eq(nc__cc_algo_parse("cubic"), NC_CC_CUBIC);
    ck_assert_int_eq(nc__cc_algo_parse("bbr"), NC_CC_BBR);
    ck_assert_int_eq(nc__cc_algo_parse("newreno"), -ENOENT);
    ck_assert_int_eq(nc__cc_algo_parse("bb"), -ENOENT);
    ck_assert_int_eq(nc__cc_algo_parse(""), -ENOENT);
    ck_assert_str_eq(nc__cc_algo_name(NC_CC_BBR), "bbr");
    ck_assert_str_eq(nc__cc_algo_name(NC_CC_DEFAULT), "cubic"); /* never a name of nothing */
    int d = nc__cc_system_default();
    ck_assert(d == NC_CC_RENO || d == NC_CC_CUBIC || d == NC_CC_BBR);
}
END_TEST

START_TEST(reno_halves)
{
    struct nc_cc c;
    nc__cc_reset(&c, NC_CC_RENO, &pcb);
    nc__cc_loss(&pcb, 100000, &c);
    ck_assert_uint_eq(pcb.ssthresh, 50000);
    ck_assert_uint_eq(pcb.cwnd, 50000 + 3 * 1460);
    nc__cc_reset(&c, NC_CC_CUBIC, &pcb);
    nc__cc_loss(&pcb, 100000, &c);
    ck_assert_uint_eq(pcb.ssthresh, 70000);
}
END_TEST

static struct tcp_seg inflight; /* pcb.unacked: data is in flight */

/* One round trip of a bbr flight: `bytes` queued and sent at t us, all acknowledged rtt us
 * later (lwIP's accounting: the room, snd_buf, taken on the write and given back on the
 * ACK, before netcore looks). */
static void round_trip(struct nc_cc *c, uint32_t bytes, uint64_t t, uint32_t rtt)
{
    pcb.unacked = &inflight;
    pcb.snd_nxt += bytes;
    pcb.snd_lbb = pcb.snd_nxt;
    pcb.snd_buf -= bytes;
    nc__cc_update(c, &pcb, t);
    pcb.lastack = pcb.snd_nxt;
    pcb.snd_buf += bytes;
    nc__cc_update(c, &pcb, t + rtt);
}

/* A connection under algo with nothing in flight: the initial window, tcp.c's send room. */
static void connection(struct nc_cc *c, int algo)
{
    pcb.lastack = pcb.snd_nxt = pcb.snd_lbb = 1000;
    pcb.cwnd = 14600;
    pcb.snd_buf = NC_CC_SNDBUF_MIN;
    nc__cc_reset(c, algo, &pcb);
}

START_TEST(bbr_model)
{
    struct nc_cc c;
    connection(&c, NC_CC_BBR);
    ck_assert_uint_eq(nc__cc_target(&c), 0); /* no sample yet */
    /* 100000 bytes a 10 ms round trip: 10 MB/s, a window of twice 100000 bytes */
    round_trip(&c, 100000, 1000, 10000);
    ck_assert_uint_eq(c.min_rtt, 10000);
    ck_assert_uint_eq(nc__cc_target(&c), 200000);
    ck_assert_uint_eq(pcb.cwnd, 200000); /* raised to the model's */
    /* a slower round trip (a queue) leaves the least; a slower rate, the most of them */
    round_trip(&c, 50000, 20000, 25000);
    ck_assert_uint_eq(c.min_rtt, 10000);
    ck_assert_uint_eq(nc__cc_target(&c), 200000);
    /* a loss takes the window to no less than the model's, and drops a sample under way */
    c.timing = true;
    nc__cc_loss(&pcb, 100000, &c);
    ck_assert_uint_eq(pcb.ssthresh, 200000);
    ck_assert(!c.timing);
    /* in recovery the window is recovery's: not raised */
    pcb.flags = TF_INFR;
    pcb.cwnd = 1000;
    round_trip(&c, 1000, 60000, 10000);
    ck_assert_uint_eq(pcb.cwnd, 1000);
    pcb.flags = 0;
    ck_assert_uint_eq(pcb.snd_buf, NC_CC_SNDBUF_MIN); /* 2 x 200000 is below the least */
    /* 1.5 MB a round trip: a window of 3 MB, a send queue of 4 MiB, the most */
    round_trip(&c, 1500000, 100000, 10000);
    ck_assert_uint_eq(nc__cc_target(&c), 3000000);
    ck_assert_uint_eq(pcb.cwnd, 3000000);
    ck_assert_uint_eq(pcb.snd_buf, NC_CC_SNDBUF_MAX);
    /* grown once: not again for the same model, nor for one started over (rto.c makes a
     * new entry for a connection it lost track of) */
    round_trip(&c, 1500000, 120000, 10000);
    ck_assert_uint_eq(pcb.snd_buf, NC_CC_SNDBUF_MAX);
    nc__cc_reset(&c, NC_CC_BBR, &pcb);
    round_trip(&c, 1500000, 140000, 10000);
    round_trip(&c, 1500000, 160000, 10000);
    ck_assert_uint_eq(nc__cc_target(&c), 3000000);
    ck_assert_uint_eq(pcb.snd_buf, NC_CC_SNDBUF_MAX);
    /* idle: no sample spans it */
    pcb.unacked = NULL;
    nc__cc_update(&c, &pcb, 200000);
    ck_assert_uint_eq(c.t0, 0);
    /* a break in the sequence numbers (lwIP's timers sent unseen): the counters start over,
     * the path's figures stay */
    pcb.lastack += 777777;
    pcb.snd_nxt = pcb.snd_lbb = pcb.lastack;
    c.timing = true;
    nc__cc_resync(&c, &pcb);
    ck_assert(!c.timing);
    ck_assert_uint_eq(c.base, pcb.lastack);
    ck_assert_uint_eq(c.min_rtt, 10000);
    ck_assert_uint_eq(nc__cc_target(&c), 3000000);
}
END_TEST

/* cubic and reno keep no model: their window is never raised by one. */
START_TEST(cubic_no_model)
{
    struct nc_cc c;
    connection(&c, NC_CC_CUBIC);
    round_trip(&c, 100000, 1000, 10000);
    ck_assert_uint_eq(nc__cc_target(&c), 0);
    ck_assert_uint_eq(pcb.cwnd, 14600);
}
END_TEST

static TCase *tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    return tc;
}

int main(void)
{
    Suite *s = suite_create("cc");
    TCase *tc = tcase("initial window");
    tcase_add_test(tc, iw_rfc6928);
    tcase_add_test(tc, iw_established);
    suite_add_tcase(s, tc);
    tc = tcase("loss");
    tcase_add_test(tc, ssthresh_beta);
    tcase_add_test(tc, loss_reduces);
    tcase_add_test(tc, loss_reduces_super);
    suite_add_tcase(s, tc);
    tc = tcase("timeout");
    tcase_add_test(tc, timeout_one_segment);
    suite_add_tcase(s, tc);
    tc = tcase("algorithms");
    tcase_add_test(tc, algo_names);
    tcase_add_test(tc, reno_halves);
    tcase_add_test(tc, bbr_model);
    tcase_add_test(tc, cubic_no_model);
    suite_add_tcase(s, tc);
    tc = tcase("recovery");
    tcase_add_test(tc, recovery_window);
    tcase_add_test(tc, recovery_no_sack);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
