/* handpeer: see handpeer.h. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handpeer.h"

static const uint8_t our_mac[6] = { 2, 0, 0, 0, 0, 2 }, peer_mac[6] = { 2, 0, 0, 0, 0, 1 };
static const uint8_t our_ip[4] = { 198, 18, 0, 2 }, peer_ip[4] = { 198, 18, 0, 1 };

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

/* The Ethernet and IPv4 headers of a frame from the test to the stack, protocol proto with
 * l4len bytes after the IP header; returns where those bytes go. */
static uint8_t *ip_head(uint8_t *f, uint8_t proto, size_t l4len)
{
    memcpy(f, our_mac, 6);
    memcpy(f + 6, peer_mac, 6);
    f[12] = 0x08;
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    put16(ip + 2, 20 + l4len);
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = proto;
    memcpy(ip + 12, peer_ip, 4);
    memcpy(ip + 16, our_ip, 4);
    put16(ip + 10, csum(ip, 20, 0));
    return ip + 20;
}

/* The TCP/UDP pseudo-header's sum for a segment of l4len bytes from the test to the stack. */
static uint32_t pseudo(uint8_t proto, size_t l4len)
{
    return (uint32_t)(peer_ip[0] << 8 | peer_ip[1]) + (uint32_t)(peer_ip[2] << 8 | peer_ip[3]) +
           (uint32_t)(our_ip[0] << 8 | our_ip[1]) + (uint32_t)(our_ip[2] << 8 | our_ip[3]) +
           proto + (uint32_t)l4len;
}

void hp_start(struct hp *h)
{
    hp_start_with(h, NULL);
}

void hp_start_with(struct hp *h, void (*tweak)(struct netcore_config *))
{
    int sv[2];
    memset(h, 0, sizeof(*h));
    netcore_clock_manual(1);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    h->wire = sv[1];
    struct netcore_config cfg;
    netcore_config_defaults(&cfg);
    cfg.device = NETCORE_DEV_WIRE;
    cfg.wire_fd = sv[0];
    if (tweak != NULL)
        tweak(&cfg);
    char err[256];
    ck_assert_msg(netcore_start(&cfg, NETCORE_MANUAL, &h->st, err, sizeof(err)) == 0, "%s",
                  err);
}

void hp_stop(struct hp *h)
{
    netcore_stop(h->st);
    netcore_clock_manual(0);
    close(h->wire);
}

void hp_send(struct hp *h, uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win,
             const uint8_t *opt, size_t optlen, size_t len)
{
    static uint8_t f[14 + 20 + 60 + 1500];
    size_t tcplen = 20 + optlen + len;
    ck_assert(optlen % 4 == 0 && optlen <= 40 && len <= 1500);
    memset(f, 0, sizeof(f));
    uint8_t *tcp = ip_head(f, 6, tcplen);
    put16(tcp, 80);
    put16(tcp + 2, h->port);
    put32(tcp + 4, seq);
    put32(tcp + 8, ack);
    tcp[12] = (uint8_t)((20 + optlen) / 4 << 4);
    tcp[13] = flags;
    put16(tcp + 14, win);
    if (optlen > 0)
        memcpy(tcp + 20, opt, optlen);
    put16(tcp + 16, csum(tcp, tcplen, pseudo(6, tcplen)));
    ck_assert_int_eq(send(h->wire, f, 14 + 20 + tcplen, 0), (ssize_t)(14 + 20 + tcplen));
}

void hp_udp_in(int wire, uint16_t sport, uint16_t dport, const void *data, size_t len)
{
    static uint8_t f[14 + 20 + 8 + 1472];
    size_t udplen = 8 + len;
    ck_assert_uint_le(len, 1472);
    memset(f, 0, 14 + 20 + 8);
    uint8_t *udp = ip_head(f, 17, udplen);
    put16(udp, sport);
    put16(udp + 2, dport);
    put16(udp + 4, udplen);
    memcpy(udp + 8, data, len);
    /* 0 means "no checksum" to UDP over IPv4; a computed 0 goes out as 0xffff */
    uint16_t sum = csum(udp, udplen, pseudo(17, udplen));
    put16(udp + 6, sum == 0 ? 0xffff : sum);
    ck_assert_int_eq(send(wire, f, 14 + 20 + udplen, 0), (ssize_t)(14 + 20 + udplen));
}

/* Answers an ARP request for the test's address. */
static void arp_reply(struct hp *h)
{
    uint8_t r[42] = { 0 };
    memcpy(r, our_mac, 6);
    memcpy(r + 6, peer_mac, 6);
    r[12] = 0x08;
    r[13] = 0x06;
    r[15] = 1;    /* Ethernet */
    r[16] = 0x08; /* IPv4 */
    r[18] = 6;
    r[19] = 4;
    r[21] = 2;    /* reply */
    memcpy(r + 22, peer_mac, 6);
    memcpy(r + 28, peer_ip, 4);
    memcpy(r + 32, our_mac, 6);
    memcpy(r + 38, our_ip, 4);
    ck_assert_int_eq(send(h->wire, r, sizeof(r), 0), (ssize_t)sizeof(r));
}

static bool arp_request(const uint8_t *f, ssize_t len)
{
    return len >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 1;
}

/* A TCP segment in frame f into *seg (h->port learnt from it); false for any other frame. */
static bool parse_seg(struct hp *h, const uint8_t *f, ssize_t len, struct hp_seg *seg)
{
    if (len < 54 || f[12] != 0x08 || f[13] != 0x00 || f[23] != 6)
        return false;
    const uint8_t *ip = f + 14, *tcp = ip + (ip[0] & 0xf) * 4;
    size_t ihl = (size_t)(ip[0] & 0xf) * 4, doff = (size_t)(tcp[12] >> 4) * 4;
    h->port = (uint16_t)(tcp[0] << 8 | tcp[1]);
    seg->seq = get32(tcp + 4);
    seg->ack = get32(tcp + 8);
    seg->flags = tcp[13];
    seg->win = (uint16_t)(tcp[14] << 8 | tcp[15]);
    seg->len = (size_t)(ip[2] << 8 | ip[3]) - ihl - doff;
    seg->optlen = doff - 20;
    memcpy(seg->opt, tcp + 20, seg->optlen);
    return true;
}

int hp_collect(struct hp *h, struct hp_seg *out, int max)
{
    netcore_step(h->st, 0);
    int n = 0;
    uint8_t f[2048];
    ssize_t len;
    while ((len = recv(h->wire, f, sizeof(f), MSG_DONTWAIT)) > 0) {
        if (arp_request(f, len)) {
            arp_reply(h);
            netcore_step(h->st, 0);
            continue;
        }
        if (n < max && parse_seg(h, f, len, &out[n]))
            n++;
    }
    return n;
}

bool hp_wait_seg(struct hp *h, struct hp_seg *seg, int ms)
{
    uint8_t f[2048];
    for (;;) {
        struct pollfd p = { .fd = h->wire, .events = POLLIN };
        if (poll(&p, 1, ms) != 1)
            return false;
        ssize_t len = recv(h->wire, f, sizeof(f), MSG_DONTWAIT);
        if (arp_request(f, len))
            arp_reply(h);
        else if (parse_seg(h, f, len, seg))
            return true;
    }
}

void hp_syn(struct hp *h, struct hp_seg *syn)
{
    h->s = netcore_socket(h->st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(h->s, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(80) };
    memcpy(&a.sin_addr, peer_ip, 4);
    ck_assert_int_eq(netcore_connect(h->st, h->s, (struct sockaddr *)&a, sizeof(a)),
                     -EINPROGRESS);
    struct hp_seg sg[4];
    int n = 0;
    for (int i = 0; i < 10 && n == 0; i++)
        n = hp_collect(h, sg, 4);
    ck_assert_int_eq(n, 1);
    ck_assert_uint_eq(sg[0].flags & (HP_SYN | HP_ACK), HP_SYN);
    if (syn != NULL)
        *syn = sg[0];
    h->iss = sg[0].seq;
}

void hp_connect(struct hp *h, bool sack, struct hp_seg *syn)
{
    hp_syn(h, syn);
    static const uint8_t mss_sack[8] = { 2, 4, HP_MSS >> 8, HP_MSS & 0xff, 1, 1, 4, 2 };
    hp_send(h, HP_ISS, h->iss + 1, HP_SYN | HP_ACK, 65535, mss_sack, sack ? 8 : 4, 0);
    struct hp_seg sg[4];
    int n = hp_collect(h, sg, 4);
    ck_assert_int_eq(n, 1); /* the ACK of the handshake */
    ck_assert_uint_ne(netcore_poll(h->st, h->s, POLLOUT) & POLLOUT, 0);
}

uint32_t hp_send_full(struct hp *h, int n)
{
    static char buf[8 * HP_MSS];
    struct hp_seg sg[8];
    ck_assert_int_le(n, 8);
    ck_assert_int_eq(netcore_send(h->st, h->s, buf, (size_t)n * HP_MSS, 0), n * HP_MSS);
    int got = hp_collect(h, sg, 8);
    ck_assert_int_eq(got, n);
    for (int i = 0; i < n; i++)
        ck_assert_uint_eq(sg[i].len, HP_MSS);
    return sg[0].seq;
}

const uint8_t *hp_option(const struct hp_seg *seg, uint8_t kind, size_t *len)
{
    for (size_t i = 0; i < seg->optlen;) {
        uint8_t k = seg->opt[i];
        if (k == 0)
            break;
        if (k == 1) {
            i++;
            continue;
        }
        if (i + 1 >= seg->optlen || seg->opt[i + 1] < 2 || i + seg->opt[i + 1] > seg->optlen)
            break;
        if (k == kind) {
            *len = seg->opt[i + 1] - 2u;
            return seg->opt + i + 2;
        }
        i += seg->opt[i + 1];
    }
    return NULL;
}
