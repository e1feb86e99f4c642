/*
 * TAP offloads (NETCORE_OFFLOAD; dev.c opens the TAP with IFF_VNET_HDR and TUNSETOFFLOAD).
 * Every frame on the device then starts with a struct virtio_net_hdr, as between QEMU and a
 * virtio-net guest:
 *  - received: the kernel hands us TCP super-segments of up to 64 KB (gso_type TCPV4/TCPV6,
 *    the IP length covering all of it) instead of 44 frames of 1500 bytes, and marks
 *    NEEDS_CSUM when the TCP/UDP checksum field holds only the pseudo-header sum (the data
 *    never left the machine, so nothing corrupted it) or DATA_VALID when it checked the sum.
 *    lwIP would verify that sum and drop the segment: for such a frame the pump turns lwIP's
 *    TCP and UDP checks off on the netif while lwIP takes it in (LWIP_CHECKSUM_CTRL_PER_NETIF,
 *    netif.c), and on again after.
 *  - sent: lwIP builds segments of up to 64 KB (syn.c raises the connection's pcb->mss when
 *    TSO is on, keeping the connection's real MSS here), and dev_send marks those longer than
 *    the real MSS as gso_type TCPV4/TCPV6 with gso_size = that MSS and a partial checksum
 *    (the kernel requires NEEDS_CSUM with GSO and sums each segment it cuts). The kernel
 *    delivers such a frame to a local socket whole, and cuts it only where a path needs it.
 *    lwIP would split them into IP fragments first (its netif MTU stays the link's 1500, so
 *    that UDP and ICMP are fragmented as they must be): its IP output calls nc__ip4_frag and
 *    nc__ip6_frag below instead (lwip.am), which pass TCP packets on unfragmented.
 *
 * Over IPv6 the segment size also follows the path MTU lwIP learnt from Packet Too Big
 * messages (nd6's destination cache), for which lwIP would otherwise have fragmented.
 */
#include "offload.h"

#include <string.h>

#include <linux/virtio_net.h>

#include <lwip/inet_chksum.h>
#include <lwip/ip.h>
#include <lwip/ip4_frag.h>
#include <lwip/ip6_frag.h>
#include <lwip/nd6.h>
#include <lwip/netif.h>
#include <lwip/pbuf.h>
#include <lwip/tcp.h>

#include "netcore.h"
#include "rxframe.h"
#include "shimapi.h"
#include "stack.h"

#define ETH_HDR 14
/* The longest frame lwIP can hold (16-bit pbuf lengths) less Ethernet, IPv6 and TCP headers
 * with the most options: the data of one super-segment. */
#define SUPER_DATA (0xffff - ETH_HDR - 40 - 60)

/* The offset of the TCP or UDP header in an Ethernet frame and its protocol (6, 17), or 0:
 * IPv4 without fragments, IPv6 with TCP or UDP as its first next header (what the kernel
 * offloads). For our own frames (nc__vnet_tx): received ones are parsed by rxframe.c. */
static size_t l4_offset(const uint8_t *f, size_t len, int *proto)
{
    uint16_t type = (uint16_t)(f[12] << 8 | f[13]);
    const uint8_t *ip = f + ETH_HDR;
    size_t off;
    if (type == 0x0800) {
        if ((ip[6] & 0x3f) != 0 || ip[7] != 0)
            return 0;
        *proto = ip[9];
        off = ETH_HDR + (size_t)(ip[0] & 0xf) * 4;
    } else if (type == 0x86dd) {
        *proto = ip[6];
        off = ETH_HDR + 40;
    } else {
        return 0;
    }
    if ((*proto != 6 && *proto != 17) || off + (*proto == 6 ? 20 : 8) > len)
        return 0;
    return off;
}

/*
 * A partial checksum the kernel left for us at a header the parse did not find (rxframe.c):
 * IPv6 with an upper-layer header behind one we do not walk. The kernel's contract for
 * NEEDS_CSUM is the sum of [csum_start, end of packet) into csum_start + csum_offset, the
 * field holding the pseudo-header sum already, whatever the protocol: so it is finished here
 * as the kernel finishes one for a device without offloads, and lwIP checks it as any other.
 * 0 goes as 0xffff, the same sum, which UDP needs (0: no checksum).
 */
static void finish_partial(struct nc_frame *fr, size_t start, size_t field)
{
    size_t end = fr->l3 + fr->ip_len;
    uint16_t c = inet_chksum(fr->data + start, (u16_t)(end - start));
    if (c == 0)
        c = 0xffff;
    memcpy(fr->data + field, &c, 2); /* in network order already */
}

bool nc__vnet_rx(struct netcore_stack *st, struct nc_frame *fr)
{
    struct virtio_net_hdr h;
    memcpy(&h, fr->vnet, sizeof(h));
    fr->vouched = false;
    uint8_t gso = h.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
    /* the TCP or UDP header the kernel offloads for: whole in what arrived */
    int proto = fr->l4 != 0 && !fr->frag ? fr->proto : 0;
    size_t l4 = (proto == 6 || proto == 17) && fr->l4 + (proto == 6 ? 20u : 8u) <= fr->len
                    ? fr->l4 : 0;
    if (h.flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID))
        goto bad;
    if (gso != VIRTIO_NET_HDR_GSO_NONE) {
        /* Only what TUNSETOFFLOAD offered: TCP over the IP version it names. */
        if ((gso != VIRTIO_NET_HDR_GSO_TCPV4 && gso != VIRTIO_NET_HDR_GSO_TCPV6) ||
            (gso == VIRTIO_NET_HDR_GSO_TCPV6) != (fr->ver == 6) || l4 == 0 || proto != 6 ||
            h.gso_size == 0)
            goto bad;
        st->stats.rx_gso++;
    }
    if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        size_t start = h.csum_start, field = start + h.csum_offset;
        if (field + 2 > fr->l3 + fr->ip_len)
            goto bad;
        /* The sum must be where our parser finds the segment's own checksum field, or the
         * vouch would cover something else. */
        if (l4 != 0 && start == l4 && h.csum_offset == (proto == 6 ? 16 : 6)) {
            fr->vouched = true;
        } else if (l4 == 0 && fr->ver == 6 && !fr->frag && fr->l4 != 0 && start >= fr->l4) {
            finish_partial(fr, start, field);
        } else {
            goto bad;
        }
    } else if ((h.flags & VIRTIO_NET_HDR_F_DATA_VALID) && l4 != 0) {
        fr->vouched = true;
    }
    return true;
bad:
    st->stats.rx_dropped_malformed++;
    nc__log(NETCORE_LOG_DEBUG, "frame of %zu bytes dropped: bad virtio_net_hdr (flags 0x%x "
            "gso 0x%x size %u csum %u+%u)", fr->len, h.flags, h.gso_type, h.gso_size,
            h.csum_start, h.csum_offset);
    return false;
}

/* The key of a connection in the real-MSS table: its remote address and both ports. */
static unsigned mss_hash(bool v6, const uint8_t *raddr, uint16_t lport, uint16_t rport)
{
    uint32_t h = 2166136261u; /* FNV-1a: a few bytes, no adversary gains by colliding */
    for (int i = 0; i < (v6 ? 16 : 4); i++)
        h = (h ^ raddr[i]) * 16777619u;
    h = (h ^ lport) * 16777619u;
    h = (h ^ rport) * 16777619u;
    return h;
}

static struct nc_mss_ent *mss_find(struct netcore_stack *st, bool v6, const uint8_t *raddr,
                                   uint16_t lport, uint16_t rport, bool for_insert)
{
    unsigned h = mss_hash(v6, raddr, lport, rport);
    struct nc_mss_ent *free_slot = NULL;
    for (unsigned i = 0; i < NC_MSS_PROBES; i++) {
        struct nc_mss_ent *e = &st->mss_tab[(h + i) % NC_MSS_TAB];
        if (e->mss == 0) {
            if (free_slot == NULL)
                free_slot = e;
            continue;
        }
        if (e->v6 == v6 && e->lport == lport && e->rport == rport &&
            !memcmp(e->raddr, raddr, v6 ? 16 : 4))
            return e;
    }
    if (!for_insert)
        return NULL;
    /* Full around this key: the first slot gives way (its connection falls back to the
     * link's MSS, which only a peer that asked for less would mind). */
    return free_slot != NULL ? free_slot : &st->mss_tab[h % NC_MSS_TAB];
}

/*
 * Records the real MSS of a connection whose pcb->mss syn.c raised: only those below the
 * link's (the link's is what nc__vnet_tx assumes otherwise), so the table holds the rare
 * connections to peers that asked for less, and a connection reusing an address and ports
 * forgets what the last one asked.
 */
void nc__offload_mss_set(struct netcore_stack *st, bool v6, const uint8_t *raddr,
                         uint16_t lport, uint16_t rport, uint16_t mss, uint16_t link_mss)
{
    struct nc_mss_ent *e = mss_find(st, v6, raddr, lport, rport, mss < link_mss);
    if (e == NULL)
        return;
    if (mss >= link_mss) {
        e->mss = 0;
        return;
    }
    e->v6 = v6;
    memset(e->raddr, 0, sizeof(e->raddr));
    memcpy(e->raddr, raddr, v6 ? 16 : 4);
    e->lport = lport;
    e->rport = rport;
    e->mss = mss;
}

/*
 * The real MSS of a connection (what the peer asked for, capped by the link): pcb->mss itself
 * unless syn.c raised it for TSO. For what a program sees (TCP_MAXSEG, TCP_INFO) and for
 * Nagle's "short segment", which lwIP would judge by the super-segment size. st: the
 * stack the pcb is on, whose table holds the real MSS.
 */
uint16_t nc__offload_real_mss(struct netcore_stack *st, const struct tcp_pcb *pcb)
{
    bool v6 = IP_IS_V6_VAL(pcb->remote_ip);
    if (!st->dev.tso)
        return pcb->mss;
    uint16_t link = (uint16_t)(st->dev.mtu - (v6 ? 60 : 40));
    if (pcb->mss <= link)
        return pcb->mss;
    const uint8_t *raddr = v6 ? (const uint8_t *)ip_2_ip6(&pcb->remote_ip)->addr
                              : (const uint8_t *)&ip_2_ip4(&pcb->remote_ip)->addr;
    const struct nc_mss_ent *e = mss_find(st, v6, raddr, pcb->local_port, pcb->remote_port,
                                          false);
    return e != NULL ? e->mss : link;
}

uint16_t nc__offload_super_mss(uint16_t real)
{
    if (real == 0)
        return 0;
    unsigned n = SUPER_DATA / real;
    return (uint16_t)(n > 0 ? n * real : real);
}

/* The folded pseudo-header sum of a TCP or UDP segment of l4_len bytes, not inverted: what
 * the checksum field holds with NEEDS_CSUM (the kernel's CHECKSUM_PARTIAL). */
static uint16_t pseudo_sum(const uint8_t *ip, bool v6, int proto, uint32_t l4_len)
{
    uint32_t sum = (uint32_t)proto + (l4_len >> 16) + (l4_len & 0xffff);
    const uint8_t *a = v6 ? ip + 8 : ip + 12;
    for (int i = 0; i < (v6 ? 32 : 8); i += 2)
        sum += (uint32_t)(a[i] << 8 | a[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

/*
 * With TUN_F_CSUM the kernel finishes TCP and UDP checksums that we mark NEEDS_CSUM, as it
 * does for its own sockets on a NIC with checksum offload: lwIP then sums no data at all
 * (LWIP_CHECKSUM_ON_COPY is off, lwipopts.h). perf of a bulk sender had lwIP's sum at 6.5%
 * of netcore's CPU, for sums the kernel computed again anyway for every GSO segment it cut.
 * nc__vnet_tx marks every TCP and UDP frame; what cannot be marked is finished here
 * (nc__ip4_frag, nc__ip6_frag: IP fragments; dev_send: UDP-Lite, whose sum covers only
 * part of the datagram). ICMP and IP header sums stay lwIP's: short, and not ours to mark.
 * Packets to our own addresses never reach the device: run_looped (stack.c) takes them in
 * without checking their TCP and UDP sums, like the kernel's loopback.
 */
void nc__offload_csum_setup(struct netcore_stack *st)
{
    if (st->dev.csum)
        NETIF_SET_CHECKSUM_CTRL(st->netif, NETIF_CHECKSUM_ENABLE_ALL &
                                ~(NETIF_CHECKSUM_GEN_TCP | NETIF_CHECKSUM_GEN_UDP));
}

/*
 * Computes in software the TCP, UDP or UDP-Lite checksum that lwIP left to the device on
 * netif, for the whole IP packet p (payload at its IP header, which is in the first pbuf):
 * for packets the kernel cannot finish (to be fragmented, UDP-Lite). Anything else, and a
 * fragment, is left alone.
 */
void nc__offload_csum_finish(struct netif *netif, struct pbuf *p)
{
    const uint8_t *ip = p->payload;
    if (p->len < 20)
        return;
    bool v6 = ip[0] >> 4 == 6;
    size_t hl = v6 ? 40 : (size_t)(ip[0] & 0xf) * 4;
    int proto = v6 ? ip[6] : ip[9];
    size_t field = proto == 6 ? 16 : 6;
    u8_t gen = proto == 6 ? NETIF_CHECKSUM_GEN_TCP : NETIF_CHECKSUM_GEN_UDP;
    if ((proto != 6 && proto != 17 && proto != 136) || (netif->chksum_flags & gen) ||
        (v6 && p->len < 40) || hl < 20 || hl > p->len || p->tot_len < hl + field + 2 ||
        (!v6 && ((ip[6] & 0x3f) != 0 || ip[7] != 0)))
        return; /* not ours to finish, or already a fragment */
    ip4_addr_t s4, d4;
    ip6_addr_t s6, d6;
    if (v6) {
        memcpy(s6.addr, ip + 8, 16);
        memcpy(d6.addr, ip + 24, 16);
        ip6_addr_clear_zone(&s6);
        ip6_addr_clear_zone(&d6);
    } else {
        memcpy(&s4.addr, ip + 12, 4);
        memcpy(&d4.addr, ip + 16, 4);
    }
    if (pbuf_remove_header(p, hl) != 0)
        return;
    uint8_t zero[2] = { 0, 0 };
    pbuf_take_at(p, zero, 2, (u16_t)field);
    u16_t len = p->tot_len, cover = len;
    if (proto == 136) {
        /* UDP-Lite: the coverage in the length field; 0 or out of range means all, as lwIP */
        cover = (u16_t)(pbuf_get_at(p, 4) << 8 | pbuf_get_at(p, 5));
        if (cover < 8 || cover > len)
            cover = len;
    }
    u16_t c = v6 ? ip6_chksum_pseudo_partial(p, (u8_t)proto, len, cover, &s6, &d6)
                 : inet_chksum_pseudo_partial(p, (u8_t)proto, len, cover, &s4, &d4);
    if (c == 0 && proto != 6)
        c = 0xffff; /* 0 is "no checksum" for UDP */
    pbuf_take_at(p, &c, 2, (u16_t)field); /* lwIP's sums are in network order already */
    pbuf_add_header(p, hl);
}

/*
 * Fills the header for an outgoing frame f (first pbuf: head bytes of len in all). With
 * TUN_F_CSUM every TCP and UDP frame goes with NEEDS_CSUM and the pseudo-header sum in its
 * checksum field (lwIP left it unsummed, nc__offload_csum_setup). A TCP segment with more
 * data than the connection's real MSS becomes a GSO frame. ARP, ICMP, fragments and UDP-Lite
 * go out as lwIP made them.
 */
void nc__vnet_tx(struct netcore_stack *st, uint8_t *f, size_t head, size_t len,
                 struct virtio_net_hdr *h)
{
    memset(h, 0, sizeof(*h));
    int proto = 0;
    size_t l4 = st->dev.csum && head >= ETH_HDR + 28 ? l4_offset(f, head, &proto) : 0;
    if (l4 == 0)
        return;
    bool v6 = f[12] == 0x86;
    const uint8_t *ip = f + ETH_HDR;
    size_t l4_len = v6 ? (size_t)(ip[4] << 8 | ip[5]) : (size_t)(ip[2] << 8 | ip[3]) -
                                                         (l4 - ETH_HDR);
    size_t doff = proto == 6 ? (size_t)(f[l4 + 12] >> 4) * 4 : 8;
    if (l4_len < doff || l4 + l4_len > len || l4 + doff > head || (proto == 6 && doff < 20))
        return;
    uint8_t *field = f + l4 + (proto == 6 ? 16 : 6);
    uint16_t c = pseudo_sum(ip, v6, proto, (uint32_t)l4_len);
    field[0] = (uint8_t)(c >> 8);
    field[1] = (uint8_t)c;
    h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h->hdr_len = (uint16_t)(l4 + doff);
    h->csum_start = (uint16_t)l4;
    h->csum_offset = proto == 6 ? 16 : 6;
    if (!st->dev.tso || proto != 6)
        return;
    const uint8_t *tcp = f + l4;
    size_t data = l4_len - doff;
    uint16_t link = (uint16_t)(st->dev.mtu - (v6 ? 60 : 40));
    uint16_t mss = link;
    struct nc_mss_ent *e = mss_find(st, v6, f + ETH_HDR + (v6 ? 24 : 16),
                                    (uint16_t)(tcp[0] << 8 | tcp[1]),
                                    (uint16_t)(tcp[2] << 8 | tcp[3]), false);
    if (e != NULL)
        mss = e->mss;
    if (v6 && st->netif != NULL) {
        /* A path MTU lwIP learnt from a Packet Too Big (it would have fragmented for it). */
        ip6_addr_t dst;
        memcpy(dst.addr, f + ETH_HDR + 24, 16);
        ip6_addr_clear_zone(&dst);
        ip6_addr_assign_zone(&dst, IP6_UNICAST, st->netif);
        uint16_t pmtu = nd6_get_destination_mtu(&dst, st->netif);
        if (pmtu >= 1280 && pmtu - 60 < mss)
            mss = (uint16_t)(pmtu - 60);
    }
    /* Options ride in every segment the kernel cuts: the data per segment shrinks by them. */
    if (mss <= doff - 20 + 8)
        return;
    mss = (uint16_t)(mss - (doff - 20));
    if (data <= mss)
        return;
    h->gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
    h->gso_size = mss;
    st->stats.tx_gso++;
}

/*
 * lwIP's IPv4 and IPv6 output call these instead of ip4_frag and ip6_frag (lwip.am compiles
 * ip4.c and ip6.c with the names changed: lwIP has no option for it). With TSO a TCP packet
 * longer than the link's MTU is a super-segment for the kernel to cut, not a packet to
 * fragment; everything else is fragmented by lwIP as before.
 */
err_t nc__ip4_frag(struct pbuf *p, struct netif *netif, const ip4_addr_t *dest);
err_t nc__ip6_frag(struct pbuf *p, struct netif *netif, const ip6_addr_t *dest);

err_t nc__ip4_frag(struct pbuf *p, struct netif *netif, const ip4_addr_t *dest)
{
    const struct netcore_stack *st = netif->state;
    const uint8_t *ip = p->payload;
    if (st != NULL && st->dev.tso && p->len >= 20 && ip[9] == 6 && p->tot_len <= 0xffff - ETH_HDR)
        return netif->output(netif, p, dest);
    nc__offload_csum_finish(netif, p); /* the kernel cannot finish a fragmented one */
    return ip4_frag(p, netif, dest);
}

err_t nc__ip6_frag(struct pbuf *p, struct netif *netif, const ip6_addr_t *dest)
{
    const struct netcore_stack *st = netif->state;
    const uint8_t *ip = p->payload;
    if (st != NULL && st->dev.tso && p->len >= 40 && ip[6] == 6 && p->tot_len <= 0xffff - ETH_HDR)
        return netif->output_ip6(netif, p, dest);
    nc__offload_csum_finish(netif, p);
    return ip6_frag(p, netif, dest);
}
