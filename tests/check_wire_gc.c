/*
 * Resources over many connections between two netcore stacks on the wire device (wirefix.h):
 * 10,000 connect/close cycles leave TIME-WAIT capped and the heap where it was.
 */
#include <check.h>
#include <malloc.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "netcore.h"
#include "wirefix.h"

/* Accepts connections until one sends "q"; each gets its byte echoed then closed. */
static int cycle_server(struct netcore_stack *st)
{
    int l = wf_listen_on(st, WF_PORT, 64);
    wf_sig_send(wf_c2p[1], 'L');
    for (;;) {
        int c = netcore_accept(st, l, NULL, NULL, 0);
        if (c < 0)
            return 3;
        char b;
        if (netcore_recv(st, c, &b, 1, 0) != 1)
            return 4;
        if (b == 'q') {
            netcore_close(st, c);
            break;
        }
        if (netcore_send(st, c, &b, 1, 0) != 1)
            return 5;
        char z;
        if (netcore_recv(st, c, &z, 1, 0) != 0) /* wait for the client's FIN */
            return 6;
        netcore_close(st, c);
    }
    netcore_close(st, l);
    return 0;
}

static void one_cycle(struct netcore_stack *st, char b)
{
    int s = wf_connect_to(st, WF_PORT);
    char r;
    ck_assert_int_eq(netcore_send(st, s, &b, 1, 0), 1);
    if (b != 'q')
        ck_assert_int_eq(netcore_recv(st, s, &r, 1, 0), 1);
    netcore_close(st, s);
}

static size_t heap_in_use(struct netcore_stack *st)
{
    /* Let TIME-WAIT run out: 2 MSL is 120 s of lwIP time. */
    netcore_clock_manual(1);
    for (int i = 0; i < 1000; i++) { /* lwIP's slow timer ticks once per step */
        netcore_clock_advance(250);
        netcore_step(st, 0);
    }
    struct netcore_stats stats;
    netcore_get_stats(st, &stats);
    ck_assert_int_eq(stats.time_wait, 0);
    ck_assert_int_eq(stats.sockets, 0);
    return mallinfo2().uordblks;
}

START_TEST(tcp_10k_cycles)
{
    mallopt(M_ARENA_MAX, 1); /* all threads in one arena, so mallinfo2 sees everything */
    struct netcore_stack *st = wf_spawn(cycle_server, 0);
    for (int i = 0; i < 200; i++)
        one_cycle(st, 'x');
    size_t before = heap_in_use(st);
    struct netcore_stats s0;
    netcore_get_stats(st, &s0);
    for (int i = 0; i < 10000; i++)
        one_cycle(st, 'x');
    struct netcore_stats s1;
    netcore_step(st, 0); /* the cap is applied on every timer tick and step */
    netcore_get_stats(st, &s1);
    ck_assert_int_le(s1.time_wait, 1024); /* capped */
    ck_assert_uint_gt(s1.time_wait_evicted, 0);
    size_t after = heap_in_use(st);
    one_cycle(st, 'q');
    ck_assert_msg(after <= before + 16384, "heap grew from %zu to %zu bytes", before, after);
    wf_reap(st);
}
END_TEST

static Suite *wire_gc_suite(void)
{
    Suite *s = suite_create("wire_gc");
    TCase *t_gc = tcase_create("gc");
    tcase_add_checked_fixture(t_gc, wf_setup, wf_teardown);
    tcase_set_timeout(t_gc, 300);
    tcase_add_test(t_gc, tcp_10k_cycles);
    suite_add_tcase(s, t_gc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(wire_gc_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
