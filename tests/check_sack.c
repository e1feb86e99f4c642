/*
 * SACK (RFC 2018) from lwIP's LWIP_TCP_SACK_OUT (lwipopts.h): SACK-permitted in the handshake
 * and SACK blocks in the ACKs the stack sends for data that arrived out of order, against a
 * TCP peer this test plays by hand (handpeer.h).
 */
#include <arpa/inet.h>
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "handpeer.h"
#include "netcore.h"

#define SEG 1000 /* bytes of data per segment the test sends */

/* The test's segment i (0-based) of SEG bytes. */
static void send_data(struct hp *h, int i)
{
    hp_send(h, HP_ISS + 1 + (uint32_t)i * SEG, h->iss + 1, HP_ACK, 65535, NULL, 0, SEG);
}

/* The last ACK the stack sends after the segments so far; fails when it sends none. */
static struct hp_seg last_ack(struct hp *h)
{
    struct hp_seg sg[16];
    int n = hp_collect(h, sg, 16);
    ck_assert_int_gt(n, 0);
    ck_assert_uint_ne(sg[n - 1].flags & HP_ACK, 0);
    return sg[n - 1];
}

/* Checks that seg reports exactly the given blocks, in that order: segment numbers [a, b). */
static void want_blocks(const struct hp_seg *seg, int n, const int (*blocks)[2])
{
    size_t len = 0;
    const uint8_t *b = hp_option(seg, 5, &len);
    if (n == 0) {
        ck_assert_msg(b == NULL, "SACK option where none is due");
        return;
    }
    ck_assert_msg(b != NULL, "no SACK option");
    ck_assert_uint_eq(len, 8u * (size_t)n);
    for (int i = 0; i < n; i++, b += 8) {
        uint32_t left = ntohl(*(const uint32_t *)(const void *)b);
        uint32_t right = ntohl(*(const uint32_t *)(const void *)(b + 4));
        ck_assert_uint_eq(left, HP_ISS + 1 + (uint32_t)blocks[i][0] * SEG);
        ck_assert_uint_eq(right, HP_ISS + 1 + (uint32_t)blocks[i][1] * SEG);
    }
}

START_TEST(syn_offers_sack)
{
    struct hp h;
    struct hp_seg syn;
    size_t len = 99;
    hp_start(&h);
    hp_connect(&h, false, &syn);
    ck_assert_ptr_nonnull(hp_option(&syn, 4, &len));
    ck_assert_uint_eq(len, 0);
    hp_stop(&h);
}
END_TEST

/* Segments 0 2 4 1 3 arrive: each ACK reports the holes' far sides, newest first. */
START_TEST(blocks_for_holes)
{
    struct hp h;
    hp_start(&h);
    hp_connect(&h, true, NULL);
    send_data(&h, 0);
    send_data(&h, 2);
    struct hp_seg a = last_ack(&h);
    ck_assert_uint_eq(a.ack, HP_ISS + 1 + SEG);
    want_blocks(&a, 1, (const int[][2]){ { 2, 3 } });
    send_data(&h, 4);
    a = last_ack(&h);
    ck_assert_uint_eq(a.ack, HP_ISS + 1 + SEG);
    want_blocks(&a, 2, (const int[][2]){ { 4, 5 }, { 2, 3 } });
    send_data(&h, 1);
    a = last_ack(&h);
    ck_assert_uint_eq(a.ack, HP_ISS + 1 + 3 * SEG);
    want_blocks(&a, 1, (const int[][2]){ { 4, 5 } });
    send_data(&h, 3);
    netcore_clock_advance(500); /* the ACK of in-order data may be delayed */
    a = last_ack(&h);
    ck_assert_uint_eq(a.ack, HP_ISS + 1 + 5 * SEG);
    want_blocks(&a, 0, NULL);
    hp_stop(&h);
}
END_TEST

/* Adjacent out-of-order segments make one block; more than four ranges report four: the
 * newest, then the most recently reported ones (RFC 2018 section 4). */
START_TEST(blocks_merge_and_cap)
{
    struct hp h;
    hp_start(&h);
    hp_connect(&h, true, NULL);
    send_data(&h, 2);
    send_data(&h, 3);
    struct hp_seg a = last_ack(&h);
    want_blocks(&a, 1, (const int[][2]){ { 2, 4 } });
    for (int i = 5; i <= 11; i += 2)
        send_data(&h, i);
    a = last_ack(&h);
    want_blocks(&a, 4, (const int[][2]){ { 11, 12 }, { 9, 10 }, { 7, 8 }, { 5, 6 } });
    hp_stop(&h);
}
END_TEST

/* A peer that did not offer SACK gets plain duplicate ACKs. */
START_TEST(no_blocks_unless_offered)
{
    struct hp h;
    hp_start(&h);
    hp_connect(&h, false, NULL);
    send_data(&h, 1);
    struct hp_seg a = last_ack(&h);
    ck_assert_uint_eq(a.ack, HP_ISS + 1);
    want_blocks(&a, 0, NULL);
    hp_stop(&h);
}
END_TEST

/* A listener's SYN-ACK offers SACK exactly when the SYN did. */
static void syn_ack_case(bool offer)
{
    struct hp h;
    hp_start(&h);
    int l = netcore_socket(h.st, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(8080) };
    ck_assert_int_eq(netcore_bind(h.st, l, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(netcore_listen(h.st, l, 4), 0);
    h.port = 8080;
    static const uint8_t mss_sack[8] = { 2, 4, HP_MSS >> 8, HP_MSS & 0xff, 1, 1, 4, 2 };
    hp_send(&h, HP_ISS, 0, HP_SYN, 65535, mss_sack, offer ? 8 : 4, 0);
    struct hp_seg sg[4];
    int n = 0;
    for (int i = 0; i < 10 && n == 0; i++)
        n = hp_collect(&h, sg, 4);
    ck_assert_int_eq(n, 1);
    ck_assert_uint_eq(sg[0].flags & (HP_SYN | HP_ACK), HP_SYN | HP_ACK);
    size_t len;
    ck_assert_int_eq(hp_option(&sg[0], 4, &len) != NULL, offer);
    hp_stop(&h);
}

START_TEST(syn_ack_answers_offer)
{
    syn_ack_case(true);
}
END_TEST

START_TEST(syn_ack_without_offer)
{
    syn_ack_case(false);
}
END_TEST

static Suite *sack_suite(void)
{
    Suite *s = suite_create("sack");
    TCase *th = tcase_create("handshake");
    tcase_add_test(th, syn_offers_sack);
    tcase_add_test(th, syn_ack_answers_offer);
    tcase_add_test(th, syn_ack_without_offer);
    suite_add_tcase(s, th);
    TCase *tb = tcase_create("blocks");
    tcase_add_test(tb, blocks_for_holes);
    tcase_add_test(tb, blocks_merge_and_cap);
    tcase_add_test(tb, no_blocks_unless_offered);
    suite_add_tcase(s, tb);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sack_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
