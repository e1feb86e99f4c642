/*
 * Frames from the wire, played by hand to one netcore stack in manual mode (wirefix.h):
 * short, foreign, misaddressed and random frames are dropped and counted, never answered
 * wrongly, never crash the stack; and a close that wakes calls blocked on the socket.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "blocked.h"
#include "netcore.h"
#include "wirefix.h"

START_TEST(frames_dropped_and_counted)
{
    int peer;
    struct netcore_stack *st = wf_raw_stack(&peer);
    uint8_t f[1514];
    memset(f, 0, sizeof(f));
    wf_put(peer, f, 5); /* runt */
    memcpy(f, "\x02\x00\x00\x00\x00\x99", 6); /* someone else's MAC */
    f[12] = 0x08;
    wf_put(peer, f, 60);
    memcpy(f, "\x02\x00\x00\x00\x00\x02", 6); /* ours, unknown ethertype */
    f[12] = 0x12;
    f[13] = 0x34;
    wf_put(peer, f, 60);
    f[12] = 0x08; /* IPv4 with a broken header: bad length, bad checksum */
    f[13] = 0x00;
    f[14] = 0x4f;
    wf_put(peer, f, 60);
    netcore_step(st, 0);
    struct netcore_stats s;
    netcore_get_stats(st, &s);
    ck_assert_uint_eq(s.rx_frames, 4);
    ck_assert_uint_eq(s.rx_dropped_malformed, 2);
    ck_assert_uint_eq(s.rx_dropped_foreign, 2);
    ck_assert(wf_answers_arp(st, peer));
    netcore_stop(st);
    close(peer);
}
END_TEST

/* An ICMP echo request from 198.18.0.1 with our MAC, to dst (network order bytes). */
static size_t echo_frame(uint8_t *f, const uint8_t dst[4])
{
    static const uint8_t head[34] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00,
                                      0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0,
                                      198, 18, 0, 1 };
    memcpy(f, head, 30);
    memcpy(f + 30, dst, 4);
    uint32_t sum = 0;
    for (int i = 14; i < 34; i += 2)
        sum += (uint32_t)(f[i] << 8 | f[i + 1]);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = ~sum & 0xffff;
    f[24] = (uint8_t)(sum >> 8);
    f[25] = (uint8_t)sum;
    /* ICMP echo request id 1 seq 1, no payload: checksum ~(0x0800 + 1 + 1) */
    static const uint8_t icmp[8] = { 8, 0, 0xf7, 0xfd, 0, 1, 0, 1 };
    memcpy(f + 34, icmp, 8);
    memset(f + 42, 0, 18);
    return 60;
}

static bool echo_replied(int peer)
{
    uint8_t r[2048];
    ssize_t n;
    bool got = false;
    while ((n = recv(peer, r, sizeof(r), MSG_DONTWAIT)) > 0)
        if (n >= 42 && r[12] == 0x08 && r[13] == 0 && r[23] == 1 && r[34] == 0)
            got = true;
    return got;
}

/* A well-formed packet with our MAC but another IP address is someone else's: dropped and
 * counted, never answered (we do not forward); the same packet to our address is. */
START_TEST(frames_for_other_ip_dropped)
{
    int peer;
    struct netcore_stack *st = wf_raw_stack(&peer);
    uint8_t f[64];
    struct netcore_stats s;
    static const uint8_t ours[4] = { 198, 18, 0, 2 }, other[4] = { 198, 18, 0, 9 },
                         far[4] = { 203, 0, 113, 5 };
    wf_put(peer, f, echo_frame(f, other));
    wf_put(peer, f, echo_frame(f, far));
    netcore_step(st, 0);
    ck_assert(!echo_replied(peer));
    netcore_get_stats(st, &s);
    ck_assert_uint_eq(s.rx_dropped_foreign, 2);
    wf_put(peer, f, echo_frame(f, ours));
    netcore_step(st, 0);
    /* lwIP may resolve 198.18.0.1 by ARP first: let it learn the address, and ask again. */
    bool replied = echo_replied(peer);
    if (!replied) {
        ck_assert(wf_answers_arp(st, peer));
        wf_put(peer, f, echo_frame(f, ours));
        netcore_step(st, 0);
        replied = echo_replied(peer);
    }
    ck_assert(replied);
    netcore_get_stats(st, &s);
    ck_assert_uint_eq(s.rx_dropped_foreign, 2);
    netcore_stop(st);
    close(peer);
}
END_TEST

/* 20,000 random frames, half of them addressed to us as IPv4/ARP/IPv6: no crash, and the
 * stack still answers afterwards. */
START_TEST(frames_random_garbage)
{
    int peer;
    struct netcore_stack *st = wf_raw_stack(&peer);
    int one = 1 << 22;
    setsockopt(peer, SOL_SOCKET, SO_SNDBUF, &one, sizeof(one));
    unsigned seed = 12345;
    static const uint8_t types[3][2] = { { 8, 0 }, { 8, 6 }, { 0x86, 0xdd } };
    uint8_t f[1514];
    for (int i = 0; i < 20000; i++) {
        size_t len = (size_t)rand_r(&seed) % sizeof(f);
        for (size_t k = 0; k < len; k++)
            f[k] = (uint8_t)rand_r(&seed);
        if (len > 14 && (i & 1)) {
            memcpy(f, "\x02\x00\x00\x00\x00\x02", 6);
            memcpy(f + 12, types[i % 3], 2);
        }
        if (len > 0)
            wf_put(peer, f, len);
        if (i % 64 == 0)
            netcore_step(st, 0);
        uint8_t sink[2048];
        while (recv(peer, sink, sizeof(sink), MSG_DONTWAIT) > 0)
            ;
    }
    netcore_step(st, 0);
    ck_assert(wf_answers_arp(st, peer));
    netcore_stop(st);
    close(peer);
}
END_TEST

/* A close in one thread while another is blocked on the same socket: the blocked call
 * returns EBADF and nothing is used after it is freed (valgrind runs this suite). */
struct blocked {
    struct netcore_stack *st;
    int s;
    bool accept;
    ssize_t rc;
    _Atomic pid_t tid;
};

static void *call_blocked(void *arg)
{
    struct blocked *b = arg;
    char buf[16];
    atomic_store(&b->tid, gettid());
    b->rc = b->accept ? netcore_accept(b->st, b->s, NULL, NULL, 0)
                      : netcore_recv(b->st, b->s, buf, sizeof(buf), 0);
    return NULL;
}

START_TEST(close_while_blocked)
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, wf_wire), 0);
    struct netcore_stack *st = wf_start_stack(wf_wire[0], false, 0, NULL);
    ck_assert_ptr_nonnull(st);
    struct blocked b[2] = { { st, wf_udp_bound(st, 7000), false, 1, 0 },
                            { st, wf_listen_on(st, 7001, 4), true, 1, 0 } };
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, call_blocked, &b[i]);
    /* Closed once each thread sleeps in its call (netcore's wait on the socket). */
    for (int i = 0; i < 2; i++)
        ck_assert(thread_blocked(&b[i].tid, 5000));
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(netcore_close(st, b[i].s), 0);
        pthread_join(t[i], NULL);
        ck_assert_int_eq(b[i].rc, -EBADF);
    }
    struct netcore_stats stats;
    netcore_get_stats(st, &stats);
    ck_assert_int_eq(stats.sockets, 0);
    netcore_stop(st);
    close(wf_wire[1]);
}
END_TEST

static Suite *wire_frames_suite(void)
{
    Suite *s = suite_create("wire_frames");
    TCase *t_frames = tcase_create("frames");
    tcase_add_checked_fixture(t_frames, wf_setup, wf_teardown);
    tcase_add_test(t_frames, frames_dropped_and_counted);
    tcase_add_test(t_frames, frames_for_other_ip_dropped);
    tcase_add_test(t_frames, frames_random_garbage);
    tcase_add_test(t_frames, close_while_blocked);
    suite_add_tcase(s, t_frames);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(wire_frames_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
