/*
 * rto.c: netcore's own retransmission timer and its stale-ACK filter, against a TCP peer this
 * test plays by hand over the wire device, on the controllable clock. The stack is the client
 * at 198.18.0.2; the test answers its ARP and SYN as 198.18.0.1 and then ACKs (or does not)
 * what it sends.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netcore.h"

#define MSS 1460
#define PEER_ISS 5000u

static const uint8_t our_mac[6] = { 2, 0, 0, 0, 0, 2 }, peer_mac[6] = { 2, 0, 0, 0, 0, 1 };
static const uint8_t our_ip[4] = { 198, 18, 0, 2 }, peer_ip[4] = { 198, 18, 0, 1 };

struct conn {
    struct netcore_stack *st;
    int wire;          /* the test's end of the wire */
    int s;             /* the stack's socket */
    uint16_t port;     /* the stack's port */
    uint32_t iss;      /* the stack's initial sequence number */
};

/* A segment the stack sent. */
struct seg {
    uint32_t seq, ack;
    uint8_t flags;
    size_t len;
};

static uint16_t csum(const uint8_t *p, size_t n, uint32_t sum)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        sum += (uint32_t)p[n - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Sends the stack a segment from 198.18.0.1:80, without data; a SYN carries MSS 1460. */
static void send_seg(struct conn *c, uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win)
{
    uint8_t f[14 + 20 + 24];
    size_t tcplen = (flags & 0x02) ? 24 : 20;
    memset(f, 0, sizeof(f));
    memcpy(f, our_mac, 6);
    memcpy(f + 6, peer_mac, 6);
    f[12] = 0x08;
    uint8_t *ip = f + 14, *tcp = ip + 20;
    ip[0] = 0x45;
    put16(ip + 2, 20 + tcplen);
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = 6;
    memcpy(ip + 12, peer_ip, 4);
    memcpy(ip + 16, our_ip, 4);
    put16(ip + 10, csum(ip, 20, 0));
    put16(tcp, 80);
    put16(tcp + 2, c->port);
    put32(tcp + 4, seq);
    put32(tcp + 8, ack);
    tcp[12] = (uint8_t)(tcplen / 4 << 4);
    tcp[13] = flags;
    put16(tcp + 14, win);
    if (flags & 0x02) {
        tcp[20] = 2;
        tcp[21] = 4;
        put16(tcp + 22, MSS);
    }
    uint32_t pseudo = (uint32_t)(198 << 8 | 18) * 2 + (0 << 8 | 1) + (0 << 8 | 2) + 6 +
                      (uint32_t)tcplen;
    put16(tcp + 16, csum(tcp, tcplen, pseudo));
    ck_assert_int_eq(send(c->wire, f, 14 + 20 + tcplen, 0), (ssize_t)(14 + 20 + tcplen));
}

/*
 * Runs the stack once and collects the TCP segments it sent; answers its ARP requests.
 * Returns the number of segments stored in out (at most max).
 */
static int collect(struct conn *c, struct seg *out, int max)
{
    netcore_step(c->st, 0);
    int n = 0;
    uint8_t f[2048];
    ssize_t len;
    while ((len = recv(c->wire, f, sizeof(f), MSG_DONTWAIT)) > 0) {
        if (len >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 1) {
            uint8_t r[42] = { 0 };
            memcpy(r, our_mac, 6);
            memcpy(r + 6, peer_mac, 6);
            memcpy(r + 12, f + 12, 8); /* ARP, Ethernet/IPv4 */
            r[21] = 2;                 /* reply */
            memcpy(r + 22, peer_mac, 6);
            memcpy(r + 28, peer_ip, 4);
            memcpy(r + 32, our_mac, 6);
            memcpy(r + 38, our_ip, 4);
            ck_assert_int_eq(send(c->wire, r, sizeof(r), 0), (ssize_t)sizeof(r));
            netcore_step(c->st, 0);
            continue;
        }
        if (len < 54 || f[12] != 0x08 || f[13] != 0x00 || f[23] != 6 || n == max)
            continue;
        const uint8_t *ip = f + 14, *tcp = ip + (ip[0] & 0xf) * 4;
        size_t total = (size_t)(ip[2] << 8 | ip[3]);
        c->port = (uint16_t)(tcp[0] << 8 | tcp[1]);
        out[n].seq = get32(tcp + 4);
        out[n].ack = get32(tcp + 8);
        out[n].flags = tcp[13];
        out[n].len = total - (size_t)(ip[0] & 0xf) * 4 - (size_t)(tcp[12] >> 4) * 4;
        n++;
    }
    return n;
}

/* A connected socket, the handshake answered by hand. */
static void establish(struct conn *c)
{
    int sv[2];
    netcore_clock_manual(1);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    c->wire = sv[1];
    struct netcore_config cfg;
    netcore_config_defaults(&cfg);
    cfg.device = NETCORE_DEV_WIRE;
    cfg.wire_fd = sv[0];
    char err[256];
    ck_assert_msg(netcore_start(&cfg, NETCORE_MANUAL, &c->st, err, sizeof(err)) == 0, "%s", err);
    c->s = netcore_socket(c->st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(c->s, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(80) };
    memcpy(&a.sin_addr, peer_ip, 4);
    ck_assert_int_eq(netcore_connect(c->st, c->s, (struct sockaddr *)&a, sizeof(a)),
                     -EINPROGRESS);
    struct seg sg[4];
    int n = 0;
    for (int i = 0; i < 10 && n == 0; i++)
        n = collect(c, sg, 4);
    ck_assert_int_eq(n, 1);
    ck_assert_uint_eq(sg[0].flags & 0x12, 0x02); /* SYN */
    c->iss = sg[0].seq;
    send_seg(c, PEER_ISS, c->iss + 1, 0x12, 65535);
    n = collect(c, sg, 4);
    ck_assert_int_eq(n, 1); /* the ACK of the handshake */
    ck_assert_uint_ne(netcore_poll(c->st, c->s, POLLOUT) & POLLOUT, 0);
}

static void teardown(struct conn *c)
{
    netcore_stop(c->st);
    netcore_clock_manual(0);
    close(c->wire);
}

/* Sends n full segments from the socket; returns the sequence number of the first. */
static uint32_t send_segments(struct conn *c, int n)
{
    static char buf[8 * MSS];
    struct seg sg[8];
    ck_assert_int_eq(netcore_send(c->st, c->s, buf, (size_t)n * MSS, 0), n * MSS);
    int got = collect(c, sg, 8);
    ck_assert_int_eq(got, n);
    for (int i = 0; i < n; i++)
        ck_assert_uint_eq(sg[i].len, MSS);
    return sg[0].seq;
}

/* ms until the stack sends seq again, advancing the clock 5 ms at a time (-1: not in 5 s). */
static int until_resent(struct conn *c, uint32_t seq)
{
    struct seg sg[8];
    for (int ms = 0; ms <= 5000; ms += 5) {
        int n = collect(c, sg, 8);
        for (int i = 0; i < n; i++)
            if (sg[i].seq == seq && sg[i].len > 0)
                return ms;
        netcore_clock_advance(5);
    }
    return -1;
}

/* One segment acknowledged after 10 ms: the connection has an RTT of 10 ms. */
static uint32_t sample_rtt(struct conn *c)
{
    uint32_t seq = send_segments(c, 1);
    netcore_clock_advance(10);
    send_seg(c, PEER_ISS + 1, seq + MSS, 0x10, 65535);
    struct seg sg[4];
    collect(c, sg, 4);
    return seq + MSS;
}

/*
 * With a 10 ms RTT the first retransmission comes at the 200 ms floor, the next after twice
 * that: lwIP on its own waits whole 500 ms ticks, 2.5 s at this point of a connection.
 */
START_TEST(rto_200ms_then_backoff)
{
    struct conn c;
    establish(&c);
    sample_rtt(&c);
    uint32_t seq = send_segments(&c, 2);
    int first = until_resent(&c, seq);
    ck_assert_msg(first >= 200 && first <= 210, "first retransmission after %d ms", first);
    int second = until_resent(&c, seq);
    ck_assert_msg(second >= 400 && second <= 410, "second retransmission %d ms later", second);
    struct netcore_stats s;
    netcore_get_stats(c.st, &s);
    ck_assert_uint_eq(s.rto_timeouts, 2);
    teardown(&c);
}
END_TEST

/* Before the first RTT sample the timer is 1 s (RFC 6298), not lwIP's 3 s. */
START_TEST(rto_initial_1s)
{
    struct conn c;
    establish(&c);
    uint32_t seq = send_segments(&c, 2);
    int first = until_resent(&c, seq);
    ck_assert_msg(first >= 1000 && first <= 1010, "first retransmission after %d ms", first);
    teardown(&c);
}
END_TEST

/*
 * Three duplicate ACKs with an older ACK among them (reordering on the path) still make a
 * fast retransmit: the old ACK is dropped before lwIP, which would reset its count.
 */
START_TEST(stale_ack_keeps_dupacks)
{
    struct conn c;
    establish(&c);
    uint32_t acked = sample_rtt(&c);
    uint32_t seq = send_segments(&c, 3);
    send_seg(&c, PEER_ISS + 1, seq + MSS, 0x10, 65535); /* the first arrived ... */
    send_seg(&c, PEER_ISS + 1, seq + MSS, 0x10, 65535); /* ... two duplicates ... */
    send_seg(&c, PEER_ISS + 1, seq + MSS, 0x10, 65535);
    send_seg(&c, PEER_ISS + 1, acked, 0x10, 65535);     /* ... an old ACK, late ... */
    send_seg(&c, PEER_ISS + 1, seq + MSS, 0x10, 65535); /* ... and the third duplicate */
    struct seg sg[8];
    int n = collect(&c, sg, 8);
    bool resent = false;
    for (int i = 0; i < n; i++)
        resent |= sg[i].seq == seq + MSS && sg[i].len == MSS;
    ck_assert_msg(resent, "no fast retransmit of the second segment");
    struct netcore_stats s;
    netcore_get_stats(c.st, &s);
    ck_assert_uint_eq(s.stale_acks, 1);
    ck_assert_uint_eq(s.rto_timeouts, 0);
    teardown(&c);
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
