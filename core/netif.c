/*
 * lwIP network interface glue: frames between the device fd and lwIP.
 *
 * Received frames are copied into PBUF_RAM pbufs: Debian's lwIP build has a 616-byte
 * PBUF_POOL element that pbuf code overruns with full-size frames (DESIGN.md).
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include <event2/event.h>
#include <linux/virtio_net.h>
#include <string.h>

#include <lwip/etharp.h>
#include <lwip/ethip6.h>
#include <lwip/init.h>
#include <lwip/ip.h>
#include <lwip/ip4.h>
#include <lwip/ip6.h>
#include <lwip/netif.h>
#include <lwip/pbuf.h>
#include <lwip/priv/tcp_priv.h>
#include <lwip/tcp.h>
#include <lwip/tcpip.h>
#include <netif/ethernet.h>

#include "internal.h"

#define ETH_HDR 14
#define IP6_HDR 40

/* The IP version of a frame's payload from its ethertype (TAP, wire) or first nibble (TUN);
 * 0 for ARP and the rest. */
static int ip_version(const struct netcore_stack *st, const uint8_t *f, size_t len)
{
    if (!st->dev.is_eth)
        return len > 0 ? f[0] >> 4 : 0;
    if (len < ETH_HDR)
        return 0;
    uint16_t type = (uint16_t)(f[12] << 8 | f[13]);
    return type == 0x0800 ? 4 : type == 0x86dd ? 6 : 0;
}

static err_t dev_send(struct netif *netif, struct pbuf *p)
{
    struct netcore_stack *st = netif->state;
    struct iovec iov[17];
    struct virtio_net_hdr vh;
    int n = 0;
    if (st->dev.vnet > 0) {
        /* iov[0]: the offload header (offload.c); the frame follows */
        iov[n].iov_base = &vh;
        iov[n].iov_len = st->dev.vnet;
        n++;
    }
    size_t hdr = st->dev.is_eth ? ETH_HDR : 0;
    uint8_t *f = p->payload;
    int ver = ip_version(st, f, p->len);
    /* lwIP's own SYNs: an IPv4 or IPv6 header (no extension headers) and TCP. */
    if ((ver == 4 && p->len > hdr + 40 && f[hdr + 9] == 6) ||
        (ver == 6 && p->len > hdr + IP6_HDR + 20 && f[hdr + 6] == 6))
        nc__syn_out(st, f + hdr, p->len - hdr);
    int first = n;
    for (struct pbuf *q = p; q != NULL && n < 17; q = q->next) {
        iov[n].iov_base = q->payload;
        iov[n].iov_len = q->len;
        n++;
    }
    if (st->dev.csum && ver != 0 && p->len >= hdr + (ver == 4 ? 20 : IP6_HDR) &&
        f[hdr + (ver == 4 ? 9 : 6)] == 136) {
        /* UDP-Lite: its sum covers part of the datagram, which NEEDS_CSUM cannot say */
        pbuf_remove_header(p, hdr);
        nc__offload_csum_finish(netif, p);
        pbuf_add_header(p, hdr);
    }
    if (st->dev.vnet > 0)
        nc__vnet_tx(st, iov[first].iov_base, iov[first].iov_len, p->tot_len, &vh);
    if (st->dev_down)
        return ERR_IF;
    nc__devwatch_tx(st, f + hdr, p->len - hdr);
    int r = nc__sys_writev(st->dev.fd, iov, n);
    /* With TUN_F_CSUM the capture shows TCP/UDP frames with only the pseudo-header sum, as
     * tcpdump does on a host whose NIC sums them (offload.c). */
    if (r > 0)
        nc__pcap_frame(st, iov + first, n - first);
    if (r < 0 && r != -EAGAIN && r != -ENOBUFS && r != -EINTR)
        nc__dev_down(st, -r);
    if (r < 0) {
        /* The frame is lost like on a full NIC queue; TCP retransmits it. */
        st->stats.tx_errors++;
        return ERR_IF;
    }
    st->stats.tx_frames++;
    st->stats.tx_bytes += (uint64_t)r - st->dev.vnet;
    return ERR_OK;
}

static err_t tun_output(struct netif *netif, struct pbuf *p, const ip4_addr_t *dst)
{
    (void)dst;
    return dev_send(netif, p);
}

static err_t tun_output6(struct netif *netif, struct pbuf *p, const ip6_addr_t *dst)
{
    (void)dst;
    return dev_send(netif, p);
}

static err_t netif_init_cb(struct netif *netif)
{
    struct netcore_stack *st = netif->state;
    netif->name[0] = 'n';
    netif->name[1] = 'c';
    netif->mtu = (u16_t)st->dev.mtu;
    if (st->dev.is_eth) {
        netif->hwaddr_len = 6;
        memcpy(netif->hwaddr, st->cfg.mac, 6);
        netif->output = etharp_output;
        netif->output_ip6 = ethip6_output;
        netif->linkoutput = dev_send;
        /* MLD6: lwIP joins the solicited-node group of each address, without which it drops
         * the kernel's neighbour solicitations for them. */
        netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET |
                       NETIF_FLAG_MLD6;
    } else {
        netif->output = tun_output;
        netif->output_ip6 = tun_output6;
        netif->linkoutput = dev_send;
        netif->flags = 0;
    }
    netif->flags |= NETIF_FLAG_IGMP; /* sockets may join multicast groups */
    return ERR_OK;
}

/*
 * IPv6: the link-local address from the MAC (EUI-64, RFC 4291), which neighbour discovery
 * with the kernel runs on, and NETCORE_IP6. Both are preferred at once: Debian's lwIP would
 * first run duplicate address detection, leaving them unusable for a second or two after
 * every start, and this private link has no one else to collide with (the kernel side is
 * set up with nodad too). No router solicitations either: we configure statically and the
 * kernel side is no router.
 */
static int ip6_setup(struct netcore_stack *st)
{
    struct netif *n = st->netif;
    s8_t idx;
    ip6_addr_t a;
    if (st->dev.is_eth)
        netif_create_ip6_linklocal_address(n, 1);
    memcpy(a.addr, st->cfg.ip6.s6_addr, 16);
    ip6_addr_clear_zone(&a);
    if (netif_add_ip6_address(n, &a, &idx) != ERR_OK)
        return -ENOMEM;
    for (int i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++)
        if (ip6_addr_istentative(netif_ip6_addr_state(n, i)))
            netif_ip6_addr_set_state(n, (s8_t)i, IP6_ADDR_PREFERRED);
    n->rs_count = 0;
    return 0;
}

int nc__netif_setup(struct netcore_stack *st)
{
    st->netif = calloc(1, sizeof(*st->netif));
    if (st->netif == NULL)
        return -ENOMEM;
    ip4_addr_t ip, mask, gw;
    ip.addr = st->cfg.ip.s_addr;
    gw.addr = st->cfg.gw.s_addr;
    mask.addr = st->cfg.prefix == 0 ? 0 : htonl(~0u << (32 - st->cfg.prefix));
    if (netif_add(st->netif, &ip, &mask, &gw, st, netif_init_cb,
                  st->dev.is_eth ? ethernet_input : ip_input) == NULL) {
        free(st->netif);
        st->netif = NULL;
        return -ENOMEM;
    }
    nc__offload_csum_setup(st);
    netif_set_default(st->netif);
    netif_set_link_up(st->netif);
    netif_set_up(st->netif);
    return ip6_setup(st);
}

void nc__netif_teardown(struct netcore_stack *st)
{
    if (st->rx_spare != NULL)
        pbuf_free(st->rx_spare);
    st->rx_spare = NULL;
    if (st->netif == NULL)
        return;
    netif_set_down(st->netif);
    netif_remove(st->netif);
    free(st->netif);
    st->netif = NULL;
}


/* An IPv4 header that is whole and consistent, with a good checksum. */
static bool ipv4_ok(const uint8_t *ip, size_t len)
{
    size_t ihl = (size_t)(ip[0] & 0xf) * 4;
    size_t total = (size_t)(ip[2] << 8 | ip[3]);
    if ((ip[0] >> 4) != 4 || ihl < 20 || ihl > len || total < ihl || total > len)
        return false;
    uint32_t sum = 0;
    for (size_t i = 0; i < ihl; i += 2)
        sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return sum == 0xffff;
}

/* An IPv6 header that is whole, with a payload that fits in what arrived (Ethernet may
 * pad a short frame, so the frame can be longer). */
static bool ipv6_ok(const uint8_t *ip, size_t len)
{
    return len >= IP6_HDR && (ip[0] >> 4) == 6 &&
           IP6_HDR + (size_t)(ip[4] << 8 | ip[5]) <= len;
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
 * The device is gone (TAP deleted: EBADFD/EIO; wire peer closed). Like the kernel when an
 * interface disappears: every connection fails with ENETDOWN and new ones are refused with
 * it; the stack stops watching the device, so nothing spins on its error. Caller holds the
 * stack lock.
 */
void nc__dev_down(struct netcore_stack *st, int why)
{
    if (st->dev_down)
        return;
    st->dev_down = true;
    st->stats.tx_errors++;
    nc__log(NETCORE_LOG_ERROR, "device %s: %s: network down", st->dev.name, strerror(why));
    if (st->ev_dev != NULL)
        event_del(st->ev_dev);
    /* This may run inside lwIP's output for some pcb: the connections are failed when the
     * lock is let go (nc__unlock), not under lwIP's feet. */
    st->netdown_pending = true;
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

/* Drops what is not an Ethernet frame for us, counting why. Returns true to keep it. */
static bool eth_frame_ok(struct netcore_stack *st, const uint8_t *f, size_t len)
{
    if (len < ETH_HDR + 20) {
        /* shorter than a header plus the smallest IPv4/ARP payload */
        st->stats.rx_dropped_malformed++;
        return false;
    }
    bool multicast = (f[0] & 1) != 0; /* includes broadcast */
    if (!multicast && memcmp(f, st->cfg.mac, 6) != 0) {
        st->stats.rx_dropped_foreign++;
        return false;
    }
    uint16_t type = (uint16_t)(f[12] << 8 | f[13]);
    if (type != 0x0800 && type != 0x0806 && type != 0x86dd) {
        st->stats.rx_dropped_foreign++;
        return false;
    }
    if (type == 0x0800 && !ipv4_ok(f + ETH_HDR, len - ETH_HDR)) {
        st->stats.rx_dropped_malformed++;
        return false;
    }
    if (type == 0x0800 && !ipv4_for_us(st, f + ETH_HDR)) {
        st->stats.rx_dropped_foreign++;
        return false;
    }
    if (type == 0x86dd && !ipv6_ok(f + ETH_HDR, len - ETH_HDR)) {
        st->stats.rx_dropped_malformed++;
        return false;
    }
    if (type == 0x86dd && !ipv6_for_us(st, f + ETH_HDR)) {
        st->stats.rx_dropped_foreign++;
        return false;
    }
    return true;
}

static bool ip_packet_ok(struct netcore_stack *st, const uint8_t *f, size_t len)
{
    int ver = len > 0 ? f[0] >> 4 : 0;
    if (len < 20 || (ver == 4 && !ipv4_ok(f, len)) || (ver == 6 && !ipv6_ok(f, len)) ||
        (ver != 4 && ver != 6)) {
        st->stats.rx_dropped_malformed++;
        return false;
    }
    if (ver == 4 ? !ipv4_for_us(st, f) : !ipv6_for_us(st, f)) {
        st->stats.rx_dropped_foreign++;
        return false;
    }
    return true;
}


/*
 * Reads up to max_frames frames from the device (without blocking) and feeds them to lwIP.
 * Caller holds the stack lock. Returns the number of frames read.
 */
/*
 * With offloads most of what arrives is TCP super-segments of tens of KB: those are read
 * straight into the pbuf lwIP gets (rx_spare, as long as the longest PBUF_RAM pbuf that a
 * 16-bit heap size allows) instead of being copied there from the read buffer, which was a
 * sizeable part of receiving. A frame shorter than RX_KEEP_MIN is copied into a pbuf of its
 * own size and the spare stays for the next read: lwIP may hold a received pbuf for a while
 * (out-of-order data, a full receive ring), and the spare's 64 KB should not sit behind a
 * 60-byte ACK. A frame longer than the spare spills into the read buffer and is dropped.
 */
#define RX_SPARE_LEN 65504
#define RX_KEEP_MIN 32768

/* Reads a frame; *frame: where it starts after the offload header (NULL: too long). */
static int read_frame(struct netcore_stack *st, uint8_t **frame)
{
    size_t vnet = st->dev.vnet;
    *frame = st->frame + vnet;
    if (vnet == 0)
        return nc__sys_read(st->dev.fd, st->frame, st->frame_cap);
    if (st->rx_spare == NULL)
        st->rx_spare = pbuf_alloc(PBUF_RAW, RX_SPARE_LEN, PBUF_RAM);
    if (st->rx_spare == NULL)
        return nc__sys_read(st->dev.fd, st->frame, st->frame_cap);
    struct iovec iov[3] = {
        { st->frame, vnet },
        { st->rx_spare->payload, RX_SPARE_LEN },
        { st->frame + vnet, st->frame_cap - vnet },
    };
    int len = nc__sys_readv(st->dev.fd, iov, 3);
    *frame = len > 0 && (size_t)len > vnet + RX_SPARE_LEN ? NULL : st->rx_spare->payload;
    return len;
}

int nc__pump_device(struct netcore_stack *st, int max_frames)
{
    int n = 0;
    while (n < max_frames) {
        uint8_t *frame;
        int len = read_frame(st, &frame);
        size_t vnet = st->dev.vnet;
        if (len >= 0 && (size_t)len <= vnet) {
            st->stats.rx_dropped_malformed++; /* an empty datagram on the wire */
            n++;
            continue;
        }
        if (len < 0) {
            if (len != -EAGAIN && len != -EINTR)
                nc__dev_down(st, -len); /* the TAP was deleted (EBADFD, EIO) */
            break;
        }
        n++;
        st->stats.rx_frames++;
        /* From here on the frame without the offload header (offload.c) */
        len -= (int)vnet;
        if (frame == NULL) {
            st->stats.rx_dropped_malformed++; /* longer than the spare: spilled over */
            continue;
        }
        if (st->pcap_fd >= 0) {
            struct iovec v = { frame, (size_t)len };
            nc__pcap_frame(st, &v, 1);
        }
        if (st->cfg.drop_every > 0 && st->stats.rx_frames % (uint64_t)st->cfg.drop_every == 0)
            continue; /* injected loss (tests) */
        st->stats.rx_bytes += (uint64_t)len;
        if (len > 0xffff) {
            /* lwIP's pbuf lengths are 16 bits, and the read buffer holds MTU + 18 bytes, up
             * to 65539 (with offloads: a 64 KB super-segment and a little more): pbuf_alloc
             * would get the length cut to 16 bits and the copy below would overrun the pbuf.
             * No frame lwIP can take is this long. */
            st->stats.rx_dropped_malformed++;
            continue;
        }
        bool ok = st->dev.is_eth ? eth_frame_ok(st, frame, (size_t)len)
                                 : ip_packet_ok(st, frame, (size_t)len);
        if (!ok) {
            nc__log(NETCORE_LOG_DEBUG, "frame of %d bytes dropped: malformed or not for us", len);
            continue;
        }
        bool vouched = false;
        if (vnet > 0 && !nc__vnet_rx(st, st->frame, frame, (size_t)len, &vouched))
            continue;
        const uint8_t *ip = st->dev.is_eth ? frame + ETH_HDR : frame;
        size_t iplen = st->dev.is_eth ? (size_t)len - ETH_HDR : (size_t)len;
        int ver = ip_version(st, frame, (size_t)len);
        /* ICMP errors before lwIP, which answers only echo (and, for IPv6, ND and MLD). */
        if (ver == 4 && ip[9] == 1)
            nc__icmp_input(st, ip, iplen);
        else if (ver == 6 && ip[6] == 58)
            nc__icmp6_input(st, ip, iplen);
        struct nc_syn syn;
        bool is_syn = ver != 0 && nc__syn_in(ip, iplen, &syn);
        if (is_syn && nc__syn_over_backlog(st, &syn))
            continue;
        struct nc_tcpseg seg = { .tcp = false };
        if (ver == 4 && !nc__rto_input(st, ip, iplen, &seg))
            continue;
        struct pbuf *p;
        if (st->rx_spare != NULL && frame == st->rx_spare->payload && len >= RX_KEEP_MIN) {
            p = st->rx_spare;
            st->rx_spare = NULL;
            pbuf_realloc(p, (u16_t)len);
        } else {
            p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);
            if (p == NULL) {
                st->stats.rx_dropped_malformed++;
                continue;
            }
            memcpy(p->payload, frame, (size_t)len);
        }
        /* The kernel vouched for the frame's TCP or UDP checksum (offload.c): lwIP does not
         * sum it again, for this frame only. */
        u8_t sums = st->netif->chksum_flags; /* nc__offload_csum_setup's */
        if (vouched)
            NETIF_SET_CHECKSUM_CTRL(st->netif, sums & ~(NETIF_CHECKSUM_CHECK_TCP |
                                                        NETIF_CHECKSUM_CHECK_UDP));
        st->rx_seg = seg.tcp ? &seg : NULL; /* its pcb, for tcpin.c (pcbmap.c) */
        if (st->netif->input(p, st->netif) != ERR_OK)
            pbuf_free(p);
        else if (is_syn)
            nc__syn_tune(st, &syn);
        if (vouched)
            NETIF_SET_CHECKSUM_CTRL(st->netif, sums);
        st->rx_seg = NULL;
        nc__rto_input_done(st, &seg);
    }
    nc__ack_flush(st);
    return n;
}
