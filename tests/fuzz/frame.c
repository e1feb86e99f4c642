/*
 * tests/fuzz/frame.c — frame builders and the checksum fix-up (see frame.h).
 */
#include <string.h>

#include "frame.h"

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* One's-complement sum of len bytes, added to sum (not folded). */
static uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += get16(p + i);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    return sum;
}

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void eth(struct fz_frame *f, const uint8_t dst[6], const uint8_t src[6], uint16_t type)
{
    memcpy(f->b, dst, 6);
    memcpy(f->b + 6, src, 6);
    put16(f->b + 12, type);
    f->len = FZ_ETH_HDR;
}

void fz_arp(struct fz_frame *f, const uint8_t dst[6], const uint8_t src[6], uint16_t op,
            const uint8_t sha[6], uint32_t spa, const uint8_t tha[6], uint32_t tpa)
{
    eth(f, dst, src, 0x0806);
    uint8_t *a = f->b + FZ_ETH_HDR;
    put16(a, 1);          /* Ethernet */
    put16(a + 2, 0x0800); /* IPv4 */
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, op);
    memcpy(a + 8, sha, 6);
    put32(a + 14, spa);
    memcpy(a + 18, tha, 6);
    put32(a + 24, tpa);
    f->len += 28;
}

void fz_ip4(struct fz_frame *f, const uint8_t dst[6], const uint8_t src[6], uint32_t saddr,
            uint32_t daddr, uint8_t proto, uint16_t frag, const void *payload, size_t len)
{
    static uint16_t id = 1;
    eth(f, dst, src, 0x0800);
    if (len > sizeof(f->b) - FZ_ETH_HDR - 20)
        len = sizeof(f->b) - FZ_ETH_HDR - 20;
    uint8_t *ip = f->b + FZ_ETH_HDR;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + len));
    put16(ip + 4, id++);
    put16(ip + 6, frag);
    ip[8] = 64;
    ip[9] = proto;
    put32(ip + 12, saddr);
    put32(ip + 16, daddr);
    if (len > 0)
        memcpy(ip + 20, payload, len);
    f->len += 20 + len;
    fz_fix_sums(f->b, f->len);
}

void fz_tcp4(struct fz_frame *f, const uint8_t dst[6], const uint8_t src[6],
             const struct fz_tcp *t)
{
    uint8_t seg[FZ_FRAME_MAX];
    size_t hl = 20 + t->optlen;
    memset(seg, 0, 20);
    put16(seg, t->sport);
    put16(seg + 2, t->dport);
    put32(seg + 4, t->seq);
    put32(seg + 8, t->ack);
    seg[12] = (uint8_t)((hl / 4) << 4);
    seg[13] = t->flags;
    put16(seg + 14, t->win);
    if (t->optlen > 0)
        memcpy(seg + 20, t->opt, t->optlen);
    if (t->len > 0)
        memcpy(seg + hl, t->data, t->len);
    fz_ip4(f, dst, src, t->saddr, t->daddr, 6, 0x4000, seg, hl + t->len);
}

void fz_udp4(struct fz_frame *f, const uint8_t dst[6], const uint8_t src[6], uint32_t saddr,
             uint32_t daddr, uint16_t sport, uint16_t dport, const void *data, size_t len)
{
    uint8_t dg[FZ_FRAME_MAX];
    put16(dg, sport);
    put16(dg + 2, dport);
    put16(dg + 4, (uint16_t)(8 + len));
    put16(dg + 6, 0);
    if (len > 0)
        memcpy(dg + 8, data, len);
    fz_ip4(f, dst, src, saddr, daddr, 17, 0, dg, 8 + len);
}

void fz_icmp4(struct fz_frame *f, const uint8_t dst[6], const uint8_t src[6], uint32_t saddr,
              uint32_t daddr, uint8_t type, uint8_t code, uint32_t rest, const void *data,
              size_t len)
{
    uint8_t m[FZ_FRAME_MAX];
    m[0] = type;
    m[1] = code;
    put16(m + 2, 0);
    put32(m + 4, rest);
    if (len > 0)
        memcpy(m + 8, data, len);
    fz_ip4(f, dst, src, saddr, daddr, 1, 0, m, 8 + len);
}

void fz_ip6(struct fz_frame *f, const uint8_t dst[6], const uint8_t src[6],
            const uint8_t saddr[16], const uint8_t daddr[16], uint8_t next, uint8_t hops,
            const void *payload, size_t len)
{
    eth(f, dst, src, 0x86dd);
    uint8_t *ip = f->b + FZ_ETH_HDR;
    memset(ip, 0, 8);
    ip[0] = 0x60;
    put16(ip + 4, (uint16_t)len);
    ip[6] = next;
    ip[7] = hops;
    memcpy(ip + 8, saddr, 16);
    memcpy(ip + 24, daddr, 16);
    if (len > 0)
        memcpy(ip + 40, payload, len);
    f->len += 40 + len;
    fz_fix_sums(f->b, f->len);
}

/* Where protocol proto keeps its checksum, or 0 for one we leave alone. */
static size_t sum_offset(uint8_t proto, size_t l4len)
{
    switch (proto) {
    case 6: return l4len >= 20 ? 16 : 0;
    case 17: return l4len >= 8 ? 6 : 0;
    case 1:
    case 58: return l4len >= 4 ? 2 : 0;
    default: return 0;
    }
}

static void fix_l4(uint8_t *l4, size_t l4len, uint8_t proto, uint32_t pseudo)
{
    size_t off = sum_offset(proto, l4len);
    if (off == 0)
        return;
    put16(l4 + off, 0);
    uint16_t c = fold(sum16(l4, l4len, pseudo));
    if (c == 0 && proto == 17)
        c = 0xffff; /* zero means "no checksum" in UDP */
    put16(l4 + off, c);
}

static void fix_ip4(uint8_t *ip, size_t len)
{
    if (len < 20 || (ip[0] >> 4) != 4)
        return;
    size_t ihl = (size_t)(ip[0] & 0xf) * 4;
    if (ihl < 20 || ihl > len)
        return;
    put16(ip + 10, 0);
    put16(ip + 10, fold(sum16(ip, ihl, 0)));
    size_t total = get16(ip + 2);
    if (total < ihl || total > len || (get16(ip + 6) & 0x3fff) != 0)
        return; /* truncated, or a fragment: its checksum covers the whole datagram */
    uint8_t proto = ip[9];
    uint32_t pseudo = 0;
    if (proto != 1)
        pseudo = sum16(ip + 12, 8, proto + (uint32_t)(total - ihl));
    fix_l4(ip + ihl, total - ihl, proto, pseudo);
}

static void fix_ip6(uint8_t *ip, size_t len)
{
    if (len < 40 || (ip[0] >> 4) != 6)
        return;
    size_t plen = get16(ip + 4);
    if (40 + plen > len)
        return;
    uint8_t next = ip[6];
    if (next != 6 && next != 17 && next != 58)
        return;
    uint32_t pseudo = sum16(ip + 8, 32, next + (uint32_t)plen);
    fix_l4(ip + 40, plen, next, pseudo);
}

void fz_fix_sums(uint8_t *f, size_t len)
{
    if (len < FZ_ETH_HDR)
        return;
    uint16_t type = get16(f + 12);
    if (type == 0x0800)
        fix_ip4(f + FZ_ETH_HDR, len - FZ_ETH_HDR);
    else if (type == 0x86dd)
        fix_ip6(f + FZ_ETH_HDR, len - FZ_ETH_HDR);
}
