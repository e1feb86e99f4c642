/*
 * A received frame, parsed once and handed to each receive stage (rxframe.h lists them).
 *
 * The parse does every check a frame must pass before any stage reads it, and counts each
 * drop: shorter than a header, not for us (someone else's MAC or address, an ethertype we do
 * not speak), an IP header that is not whole and consistent, a bad virtio_net_hdr. What is
 * wrong further in (a TCP header cut short, bad options) is left for lwIP to drop, as before:
 * the record then says there is no TCP header (tcp.tcp false) and the stages pass it by.
 */
#include "rxframe.h"

#include <string.h>

#include <lwip/ip6_addr.h>
#include <lwip/netif.h>

#include "netcore.h"
#include "port.h"
#include "shimapi.h"
#include "stack.h"
#include "sock.h"
#include "syn.h"

#define ETH_HDR 14
#define IP6_HDR 40

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* An IPv4 header that is whole and consistent, with a good checksum. */
static bool ipv4_ok(const uint8_t *ip, size_t len)
{
    size_t ihl = (size_t)(ip[0] & 0xf) * 4;
    size_t total = be16(ip + 2);
    if ((ip[0] >> 4) != 4 || ihl < 20 || ihl > len || total < ihl || total > len)
        return false;
    uint32_t sum = 0;
    for (size_t i = 0; i < ihl; i += 2)
        sum += be16(ip + i);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return sum == 0xffff;
}

/* An IPv6 header that is whole, with a payload that fits in what arrived (Ethernet may
 * pad a short frame, so the frame can be longer). */
static bool ipv6_ok(const uint8_t *ip, size_t len)
{
    return len >= IP6_HDR && (ip[0] >> 4) == 6 && IP6_HDR + (size_t)be16(ip + 4) <= len;
}

/*
 * An IPv6 packet for this host: one of our addresses, the all-nodes group, or the
 * solicited-node group of one of our addresses (neighbour discovery). Anything else is
 * someone else's: other hosts' unicast (Debian's lwIP is built to forward it) and groups we
 * are not in (the kernel's MLD reports to ff02::16, its own DAD probes).
 */
static bool ipv6_for_us(const struct netcore_stack *st, const uint8_t *ip)
{
    static const uint8_t allnodes[16] = { 0xff, 0x02, [15] = 1 };
    static const uint8_t solicited[13] = { 0xff, 0x02, [11] = 1, [12] = 0xff };
    const uint8_t *dst = ip + 24;
    bool sol = !memcmp(dst, solicited, sizeof(solicited));
    if (!memcmp(dst, allnodes, sizeof(allnodes)))
        return true;
    for (int i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++) {
        if (!ip6_addr_isvalid(netif_ip6_addr_state(st->netif, i)))
            continue;
        const uint8_t *a = (const uint8_t *)netif_ip6_addr(st->netif, i)->addr;
        if (sol ? !memcmp(dst + 13, a + 13, 3) : !memcmp(dst, a, 16))
            return true;
    }
    return false;
}

/*
 * An IPv4 packet for this host: our address, a broadcast (all ones or our subnet's) or a
 * multicast group. Anything else is someone else's, dropped before our ICMP error handling
 * and SYN checks look at it (we do not forward).
 */
static bool ipv4_for_us(const struct netcore_stack *st, const uint8_t *ip)
{
    uint32_t dst;
    memcpy(&dst, ip + 16, 4);
    uint32_t h = ntohl(dst);
    uint32_t mask = st->cfg.prefix == 0 ? 0 : ~0u << (32 - st->cfg.prefix);
    uint32_t ours = ntohl(st->cfg.ip.s_addr);
    return dst == st->cfg.ip.s_addr || h == 0xffffffffu || (h >> 28) == 0xe ||
           (mask != 0 && mask != ~0u && (h & mask) == (ours & mask) && (h | mask) == ~0u);
}

/*
 * The link layer: an Ethernet frame for us (our MAC, broadcast or multicast) carrying IPv4,
 * IPv6 or ARP; sets fr->ver and fr->l3. false: dropped, counted.
 */
static bool eth_ok(struct netcore_stack *st, struct nc_frame *fr)
{
    const uint8_t *f = fr->data;
    if (fr->len < ETH_HDR + 20) {
        /* shorter than a header plus the smallest IPv4/ARP payload */
        st->stats.rx_dropped_malformed++;
        return false;
    }
    bool multicast = (f[0] & 1) != 0; /* includes broadcast */
    if (!multicast && memcmp(f, st->cfg.mac, 6) != 0) {
        st->stats.rx_dropped_foreign++;
        return false;
    }
    uint16_t type = be16(f + 12);
    if (type != 0x0800 && type != 0x0806 && type != 0x86dd) {
        st->stats.rx_dropped_foreign++;
        return false;
    }
    fr->l3 = ETH_HDR;
    fr->ver = type == 0x0800 ? 4 : type == 0x86dd ? 6 : 0;
    return true;
}

/* The IP header at fr->l3: whole, consistent and for us. false: dropped, counted. */
static bool ip_ok(struct netcore_stack *st, struct nc_frame *fr)
{
    const uint8_t *ip = fr->data + fr->l3;
    size_t len = fr->len - fr->l3;
    if (fr->ver == 4 ? !ipv4_ok(ip, len) : !ipv6_ok(ip, len)) {
        st->stats.rx_dropped_malformed++;
        return false;
    }
    if (fr->ver == 4 ? !ipv4_for_us(st, ip) : !ipv6_for_us(st, ip)) {
        st->stats.rx_dropped_foreign++;
        return false;
    }
    return true;
}

/*
 * IPv6: the upper-layer protocol and where its header starts, past the extension headers
 * lwIP walks too (hop-by-hop, routing, destination options, fragment). Another header
 * (AH, ESP, mobility...) is the upper-layer protocol as far as we are concerned.
 */
static void ip6_upper(struct nc_frame *fr, const uint8_t *ip, size_t end)
{
    uint8_t nh = ip[6];
    size_t off = IP6_HDR;
    while (nh == 0 || nh == 43 || nh == 60 || nh == 44) {
        if (off + 8 > end) {
            off = 0; /* cut short: lwIP drops it */
            break;
        }
        if (nh == 44) {
            /* A fragment, even the first, is no whole segment until lwIP reassembles it.
             * lwIP reassembles into one pbuf chain, whose lengths are 16 bits: a datagram
             * longer than that reassembled (the headers before the fragment header, its
             * offset, its data) fails an assertion in ip6_reass, which aborts. A datagram
             * the kernel takes (up to 65575 bytes in all) can be that long. lwIP rebuilds
             * it with the first fragment's headers, which a later fragment does not show:
             * so only fragments with none before the fragment header are taken (a
             * fragmented packet with hop-by-hop or destination options is all but unknown),
             * and for those the sum is exact. */
            size_t frag_end = off + (be16(ip + off + 2) & 0xfff8u) + (end - off - 8);
            fr->frag_over = off != IP6_HDR || frag_end > 0xffff;
            fr->frag = true;
            nh = ip[off];
            off = 0;
            break;
        }
        size_t ext = ((size_t)ip[off + 1] + 1) * 8;
        nh = ip[off];
        off += ext;
    }
    fr->proto = nh;
    fr->l4 = off != 0 && off <= end ? (uint16_t)(fr->l3 + off) : 0;
}

size_t nc__tcp_opt_next(const uint8_t *tcp, size_t doff, size_t *i)
{
    while (*i < doff && tcp[*i] == 1)
        (*i)++;
    size_t at = *i;
    if (at + 1 >= doff || tcp[at] == 0 || tcp[at + 1] < 2 || at + tcp[at + 1] > doff)
        return 0;
    *i += tcp[at + 1];
    return at;
}

void nc__tcp_opts(const uint8_t *tcp, size_t doff, size_t *mss_at, bool *sack)
{
    *mss_at = 0;
    *sack = false;
    size_t i = 20, at;
    while ((at = nc__tcp_opt_next(tcp, doff, &i)) != 0) {
        if (tcp[at] == 2 && tcp[at + 1] == 4)
            *mss_at = at + 2;
        else if (tcp[at] == 4 && tcp[at + 1] == 2)
            *sack = true;
    }
}

/* The TCP header at fr->l4, when it is whole within the IP packet. */
static void tcp_parse(struct nc_frame *fr)
{
    struct nc_tcpseg *t = &fr->tcp;
    size_t end = fr->l3 + fr->ip_len;
    const uint8_t *tcp = fr->data + fr->l4;
    if (fr->l4 + 20u > end)
        return;
    size_t doff = (size_t)(tcp[12] >> 4) * 4;
    if (doff < 20 || fr->l4 + doff > end)
        return;
    t->tcp = true;
    t->v6 = fr->ver == 6;
    memcpy(t->saddr, fr->src, t->v6 ? 16 : 4);
    t->sport = be16(tcp);
    t->dport = be16(tcp + 2);
    t->seq = be32(tcp + 4);
    t->ack = be32(tcp + 8);
    t->flags = tcp[13];
    t->wnd = be16(tcp + 14);
    t->hlen = (uint16_t)doff;
    t->len = end - fr->l4 - doff;
    if (t->flags & 0x02) {
        size_t mss_at;
        nc__tcp_opts(tcp, doff, &mss_at, &t->sack);
        t->mss = mss_at != 0 ? be16(tcp + mss_at) : 0;
    }
}

/* The upper layer of a checked IP packet: protocol, addresses, where the header is. */
static void l4_parse(struct nc_frame *fr)
{
    const uint8_t *ip = fr->data + fr->l3;
    if (fr->ver == 4) {
        size_t ihl = (size_t)(ip[0] & 0xf) * 4;
        fr->ip_len = be16(ip + 2);
        fr->proto = ip[9];
        fr->frag = (ip[6] & 0x3f) != 0 || ip[7] != 0;
        fr->l4 = fr->frag ? 0 : (uint16_t)(fr->l3 + ihl);
        memcpy(fr->src, ip + 12, 4);
        memcpy(fr->dst, ip + 16, 4);
    } else {
        fr->ip_len = IP6_HDR + (size_t)be16(ip + 4);
        memcpy(fr->src, ip + 8, 16);
        memcpy(fr->dst, ip + 24, 16);
        ip6_upper(fr, ip, fr->ip_len);
    }
    if (fr->proto == 6 && fr->l4 != 0)
        tcp_parse(fr);
}

bool nc__frame_parse(struct netcore_stack *st, struct nc_frame *fr, const uint8_t *vnet,
                     uint8_t *f, size_t len)
{
    memset(fr, 0, sizeof(*fr));
    fr->data = f;
    fr->len = len;
    fr->vnet = vnet;
    if (len > 0xffff) {
        /* lwIP's pbuf lengths are 16 bits, and the read buffer holds MTU + 18 bytes, up to
         * 65539 (with offloads: a 64 KB super-segment and a little more): pbuf_alloc would
         * get the length cut to 16 bits and the copy would overrun the pbuf. No frame lwIP
         * can take is this long. */
        st->stats.rx_dropped_malformed++;
        return false;
    }
    bool ok;
    if (st->dev.is_eth) {
        ok = eth_ok(st, fr) && (fr->ver == 0 || ip_ok(st, fr));
    } else {
        fr->ver = len > 0 ? f[0] >> 4 : 0;
        ok = len >= 20 && (fr->ver == 4 || fr->ver == 6);
        if (!ok)
            st->stats.rx_dropped_malformed++;
        ok = ok && ip_ok(st, fr);
    }
    if (!ok) {
        nc__log(NETCORE_LOG_DEBUG, "frame of %zu bytes dropped: malformed or not for us", len);
        return false;
    }
    if (fr->ver != 0)
        l4_parse(fr);
    if (fr->frag_over) {
        st->stats.rx_dropped_malformed++;
        nc__log(NETCORE_LOG_DEBUG, "IPv6 fragment dropped: options before its fragment header, "
                "or its datagram would pass 65535 bytes");
        return false;
    }
    return vnet == NULL || nc__vnet_rx(st, fr);
}

void nc__frame_dispatch(struct netcore_stack *st, struct nc_frame *fr)
{
    /* ICMP errors before lwIP, which answers only echo (and, for IPv6, ND and MLD). */
    if (fr->ver == 4 && fr->proto == 1 && fr->l4 != 0)
        nc__icmp_input(st, fr);
    else if (fr->ver == 6 && fr->proto == 58 && fr->l4 != 0)
        nc__icmp6_input(st, fr);
    struct nc_syn syn;
    bool is_syn = nc__syn_in(fr, &syn);
    if (is_syn && nc__syn_over_backlog(st, &syn))
        return;
    nc__tcp_tw_input(st, fr);
    if (!nc__rto_input(st, fr))
        return;
    nc__port_rst_in(st, fr);
    if (nc__netif_input(st, fr) && is_syn)
        nc__syn_tune(st, &syn);
    nc__rto_input_done(st, &fr->tcp);
}
