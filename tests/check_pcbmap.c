/*
 * pcbmap.c: the hash from a segment's addresses and ports to its connection, against a TCP
 * peer this test plays by hand (handpeer.h). A connection's segments are found without a walk
 * of lwIP's list once the first lookup has found it; a pcb lwIP frees leaves the map (under
 * `./netcore test --valgrind` a forgotten entry would be a read of freed memory here); a
 * connection in TIME-WAIT is known without a walk.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>

#include "handpeer.h"

static uint64_t walks(struct hp *h)
{
    struct netcore_stats s;
    netcore_get_stats(h->st, &s);
    return s.pcb_walks;
}

/* 5 bytes from the peer at seq (acknowledging ack) reach the program, and 5 bytes sent go
 * out at next; returns the peer's next sequence number. */
static uint32_t exchange(struct hp *h, uint32_t seq, uint32_t ack, uint32_t next)
{
    struct hp_seg sg[8];
    hp_send(h, seq, ack, HP_ACK, 65535, NULL, 0, 5);
    hp_collect(h, sg, 8);
    char buf[16];
    ck_assert_int_eq(netcore_recv(h->st, h->s, buf, sizeof(buf), 0), 5);
    ck_assert_int_eq(netcore_send(h->st, h->s, "hello", 5, 0), 5);
    ck_assert_int_eq(hp_collect(h, sg, 8), 1);
    ck_assert_uint_eq(sg[0].seq, next);
    ck_assert_uint_eq(sg[0].len, 5);
    return seq + 5;
}

/* Segments both ways: the SYN-ACK's lookup walked the list once, and nothing after it. */
START_TEST(one_walk_per_connection)
{
    struct hp h;
    hp_start(&h);
    hp_connect(&h, false, NULL);
    ck_assert_uint_eq(walks(&h), 1);
    uint32_t seq = HP_ISS + 1, next = h.iss + 1;
    for (int i = 0; i < 20; i++, next += 5)
        seq = exchange(&h, seq, next, next);
    ck_assert_uint_eq(walks(&h), 1);
    hp_stop(&h);
}
END_TEST

/*
 * The peer resets the connection: lwIP frees its pcb, and the map forgets it. A segment for
 * the old connection then finds nothing (the stack answers it with a reset), and a new
 * connection works as the first did.
 */
START_TEST(freed_pcb_forgotten)
{
    struct hp h;
    hp_start(&h);
    hp_connect(&h, false, NULL);
    uint32_t next = h.iss + 1;
    exchange(&h, HP_ISS + 1, next, next);
    next += 5;
    hp_send(&h, HP_ISS + 6, next, HP_RST | HP_ACK, 65535, NULL, 0, 0);
    struct hp_seg sg[8];
    hp_collect(&h, sg, 8);
    char buf[16];
    ck_assert_int_eq(netcore_recv(h.st, h.s, buf, sizeof(buf), 0), -ECONNRESET);
    hp_send(&h, HP_ISS + 6, next, HP_ACK, 65535, NULL, 0, 5);
    ck_assert_int_eq(hp_collect(&h, sg, 8), 1);
    ck_assert_uint_ne(sg[0].flags & HP_RST, 0);
    ck_assert_uint_eq(walks(&h), 2); /* the stale segment's lookup found nothing to hash */
    netcore_close(h.st, h.s);
    hp_connect(&h, false, NULL);
    next = h.iss + 1;
    for (int i = 0; i < 5; i++, next += 5)
        exchange(&h, HP_ISS + 1 + 5 * (uint32_t)i, next, next);
    ck_assert_uint_eq(walks(&h), 3);
    hp_stop(&h);
}
END_TEST

/*
 * A connection the peer opened: its pcb is found where lwIP's input put it (one walk, to the
 * head of the list). After the stack closes first and the peer's FIN puts the connection in
 * TIME-WAIT, a retransmitted FIN is known to belong to no active connection without a walk,
 * and lwIP answers it from TIME-WAIT with an ACK.
 */
START_TEST(passive_then_time_wait)
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
    h.iss = sg[0].seq;
    hp_send(&h, HP_ISS + 1, h.iss + 1, HP_ACK, 65535, NULL, 0, 0);
    hp_collect(&h, sg, 8);
    h.s = netcore_accept(h.st, l, NULL, NULL, 0);
    ck_assert_int_ge(h.s, 0);
    uint32_t seq = HP_ISS + 1, next = h.iss + 1;
    for (int i = 0; i < 5; i++, next += 5)
        seq = exchange(&h, seq, next, next);
    uint64_t w = walks(&h);
    ck_assert_uint_le(w, 1);
    ck_assert_int_eq(netcore_shutdown(h.st, h.s, SHUT_WR), 0);
    ck_assert_int_eq(hp_collect(&h, sg, 8), 1); /* our FIN */
    ck_assert_uint_ne(sg[0].flags & HP_FIN, 0);
    hp_send(&h, seq, next + 1, HP_FIN | HP_ACK, 65535, NULL, 0, 0);
    ck_assert_int_eq(hp_collect(&h, sg, 8), 1); /* its ACK: TIME-WAIT */
    hp_send(&h, seq, next + 1, HP_FIN | HP_ACK, 65535, NULL, 0, 0);
    ck_assert_int_eq(hp_collect(&h, sg, 8), 1); /* answered from TIME-WAIT */
    ck_assert_uint_eq(sg[0].ack, seq + 1);
    ck_assert_uint_eq(walks(&h), w);
    netcore_close(h.st, h.s);
    netcore_close(h.st, l);
    hp_stop(&h);
}
END_TEST

static Suite *pcbmap_suite(void)
{
    Suite *s = suite_create("pcbmap");
    TCase *tc = tcase_create("lookup");
    tcase_add_test(tc, one_walk_per_connection);
    tcase_add_test(tc, freed_pcb_forgotten);
    tcase_add_test(tc, passive_then_time_wait);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pcbmap_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
