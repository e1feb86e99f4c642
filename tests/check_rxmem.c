/*
 * check_rxmem: what a peer's data costs in memory while the program does not read it
 * (core/tcpdata.c), against a TCP peer this test plays by hand (handpeer.h).
 *
 * Received data the program has not read waits in lwIP's pbufs up to the advertised window
 * (1 MiB). A pbuf costs a hundred bytes or so beside its payload (the struct, the frame's
 * headers, malloc's own), so a peer sending one byte per segment would make a 1 MiB window
 * cost ~100 MiB; the kernel, for the same reason, counts a buffer's true size against the
 * receive buffer and collapses small segments into full pages. Here: what the stack holds
 * for unread data stays within a small multiple of the data.
 */
#include <check.h>
#include <errno.h>
#include <malloc.h>
#include <sys/socket.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "handpeer.h"

#define TINY_SEGS 30000
/* Bytes held per byte unread, at the most, and the fixed part (rings, lwIP's pcb, tables). */
#define HELD_PER_BYTE 4
#define HELD_FIXED (256 * 1024)

/* A receive ring of 4 KiB: nearly all of the data waits in pbufs. */
static void small_rcvbuf(struct netcore_config *c)
{
    c->rcvbuf = 4096;
}

static size_t heap_used(void)
{
    return mallinfo2().uordblks;
}

START_TEST(tiny_segments_bounded)
{
    struct hp h;
    struct hp_seg sg[64];
    hp_start_with(&h, small_rcvbuf);
    hp_connect(&h, false, NULL);
    size_t before = heap_used();
    uint32_t seq = HP_ISS + 1, acked = 0;
    for (int i = 0; i < TINY_SEGS; i++) {
        hp_send(&h, seq++, h.iss + 1, HP_ACK, 65535, NULL, 0, 1);
        if (i % 32 != 31 && i != TINY_SEGS - 1)
            continue;
        int n = hp_collect(&h, sg, 64);
        for (int k = 0; k < n; k++)
            acked = sg[k].ack;
    }
    /* Every byte taken (acknowledged), none read yet. */
    ck_assert_uint_eq(acked, seq);
    size_t grown = heap_used() - before;
    printf("%d unread bytes in 1-byte segments: %zu bytes of heap\n", TINY_SEGS, grown);
    ck_assert_msg(grown <= (size_t)TINY_SEGS * HELD_PER_BYTE + HELD_FIXED,
                  "%d unread bytes in 1-byte segments hold %zu bytes of heap", TINY_SEGS, grown);
    /* And all of it reads back, in order (the test sends zeros). */
    static char buf[TINY_SEGS];
    size_t got = 0;
    while (got < TINY_SEGS) {
        ssize_t r = netcore_recv(h.st, h.s, buf + got, sizeof(buf) - got, MSG_DONTWAIT);
        if (r == -EAGAIN) {
            hp_collect(&h, sg, 64);
            continue;
        }
        ck_assert_int_gt(r, 0);
        got += (size_t)r;
    }
    for (size_t i = 0; i < got; i++)
        ck_assert_int_eq(buf[i], 0);
    hp_stop(&h);
}
END_TEST

/*
 * The same segments out of order (the first byte missing): lwIP queues them on the pcb's
 * out-of-order list, which nothing else bounds but the window; beyond TCP_OOSEQ_MAX_PBUFS
 * (core/lwipopts.h) the tail is dropped, and the peer sends it again after the hole.
 */
START_TEST(tiny_segments_out_of_order_bounded)
{
    struct hp h;
    struct hp_seg sg[64];
    hp_start(&h);
    hp_connect(&h, true, NULL);
    size_t before = heap_used();
    uint32_t seq = HP_ISS + 2; /* HP_ISS + 1 comes last */
    for (int i = 0; i < TINY_SEGS; i++) {
        hp_send(&h, seq++, h.iss + 1, HP_ACK, 65535, NULL, 0, 1);
        if (i % 32 == 31 || i == TINY_SEGS - 1)
            hp_collect(&h, sg, 64);
    }
    size_t grown = heap_used() - before;
    printf("%d bytes in 1-byte segments behind a hole: %zu bytes of heap\n", TINY_SEGS, grown);
    ck_assert_msg(grown <= (size_t)TINY_SEGS * HELD_PER_BYTE + HELD_FIXED,
                  "%d bytes in 1-byte segments behind a hole hold %zu bytes of heap", TINY_SEGS,
                  grown);
    /* The hole filled: what was kept of the queue is taken with it, in order. */
    hp_send(&h, HP_ISS + 1, h.iss + 1, HP_ACK, 65535, NULL, 0, 1);
    int n = hp_collect(&h, sg, 64);
    ck_assert_int_gt(n, 0);
    uint32_t acked = sg[n - 1].ack;
    ck_assert_uint_gt(acked, HP_ISS + 2);
    ck_assert_uint_le(acked, seq);
    static char buf[TINY_SEGS + 1];
    ssize_t r = netcore_recv(h.st, h.s, buf, sizeof(buf), MSG_DONTWAIT);
    ck_assert_int_gt(r, 0);
    hp_stop(&h);
}
END_TEST

static Suite *rxmem_suite(void)
{
    Suite *s = suite_create("rxmem");
    TCase *tc = tcase_create("unread");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, tiny_segments_bounded);
    tcase_add_test(tc, tiny_segments_out_of_order_bounded);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(rxmem_suite());
    srunner_set_fork_status(sr, CK_FORK); /* lwIP is a singleton: a process per test */
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
