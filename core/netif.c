/*
 * lwIP network interface glue: frames between the device fd and lwIP.
 *
 * Received frames are copied into PBUF_RAM pbufs: Debian's lwIP build has a 616-byte
 * PBUF_POOL element that pbuf code overruns with full-size frames (DESIGN.md).
 */
#include "netif.h"

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

#include "ackpol.h"
#include "devwatch.h"
#include "netcore.h"
#include "offload.h"
#include "pcap.h"
#include "rxframe.h"
#include "shimapi.h"
#include "sock.h"
#include "stack.h"
#include "syn.h"
#include "sys.h"

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
 * Reads up to max_frames frames from the device (without blocking) and feeds them to lwIP.
 * Caller holds the stack lock. Returns the number of frames read.
 */
/*
 * With offloads most of what arrives is TCP super-segments of tens of KB: those are read
 * straight into the pbuf lwIP gets (rx_spare) instead of being copied there from the read
 * buffer, which was a sizeable part of receiving. A frame shorter than RX_KEEP_MIN is copied
 * into a pbuf of its own size and the spare stays for the next read: lwIP may hold a
 * received pbuf for a while (out-of-order data, a full receive ring), and the spare's 64 KB
 * should not sit behind a 60-byte ACK. A frame longer than the spare spills into the read
 * buffer and is dropped.
 *
 * The spare could be 0xffff long: pbuf lengths are 16 bits, and with MEM_LIBC_MALLOC
 * lwIP's mem_size_t is a size_t, so pbuf_alloc's sum with its header does not overflow. But
 * measured (2026-12-02, a receiving iperf3 on the sandbox TAP, busy machine) a 0xffff spare
 * cost more CPU per GB received than 65504 in each of three series of alternating runs
 * (medians 0.91 against 0.77 s/GB, 1.26 against 1.21, 0.80 against 0.65), the throughput
 * within the noise, for a cause not found: 65504 stays.
 *
 * The spare handed over keeps its whole allocation: pbuf_realloc's mem_trim does nothing
 * with libc's malloc. RX_KEEP_MIN bounds that to less than twice the data held, and what
 * lwIP holds is bounded by its windows (TCP_WND of data and out-of-order segments per
 * connection): a trim (a realloc that glibc does in place for a chunk this size, but that
 * may move it) would cost a call per super-segment to win back at most half of that.
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

/*
 * The last receive stage (rxframe.h): lwIP takes the frame in. Returns whether it did
 * (false: it was dropped, here for want of memory or by lwIP).
 */
bool nc__netif_input(struct netcore_stack *st, struct nc_frame *fr)
{
    struct pbuf *p;
    u16_t len = (u16_t)fr->len; /* at most 0xffff (nc__frame_parse) */
    if (st->rx_spare != NULL && fr->data == st->rx_spare->payload && len >= RX_KEEP_MIN) {
        p = st->rx_spare;
        st->rx_spare = NULL;
        pbuf_realloc(p, len);
    } else {
        p = pbuf_alloc(PBUF_RAW, len, PBUF_RAM);
        if (p == NULL) {
            st->stats.rx_dropped_malformed++;
            return false;
        }
        memcpy(p->payload, fr->data, len);
    }
    /* The kernel vouched for the frame's TCP or UDP checksum (offload.c): lwIP does not
     * sum it again, for this frame only. */
    u8_t sums = st->netif->chksum_flags; /* nc__offload_csum_setup's */
    if (fr->vouched)
        NETIF_SET_CHECKSUM_CTRL(st->netif, sums & ~(NETIF_CHECKSUM_CHECK_TCP |
                                                    NETIF_CHECKSUM_CHECK_UDP));
    /* the segment, its pcb looked up by rto.c, for tcpin.c and ackpol.c */
    st->rx_seg = fr->tcp.tcp ? &fr->tcp : NULL;
    bool taken = st->netif->input(p, st->netif) == ERR_OK;
    if (!taken)
        pbuf_free(p);
    if (fr->vouched)
        NETIF_SET_CHECKSUM_CTRL(st->netif, sums);
    st->rx_seg = NULL;
    return taken;
}

/*
 * Reads up to max_frames frames from the device (without blocking), and parses and
 * dispatches each (rxframe.h). Caller holds the stack lock. Returns the number of frames
 * read.
 *
 * One frame per read: a TAP fd has no recvmmsg (it is a character device, not a socket),
 * and IFF_MULTI_QUEUE gives more fds, one queue each, not more frames per call. With offloads
 * a super-segment carries up to 44 MTU-sized frames, which is the batching the device allows.
 * perf of an iperf3 receiving through the sandbox TAP (bench/profile-2026-12-02.txt): the
 * reads take 17-18% of the process, nearly all of it copying the data out, which no
 * batching saves; readv's own entry is under 0.1%. So no multiqueue: it would only spread
 * the same copies over more fds.
 */
int nc__pump_device(struct netcore_stack *st, int max_frames)
{
    int n = 0;
    st->pumping = true;
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
        struct nc_frame fr;
        if (nc__frame_parse(st, &fr, vnet > 0 ? st->frame : NULL, frame, (size_t)len))
            nc__frame_dispatch(st, &fr);
    }
    st->pumping = false;
    /* Readers first: they copy out on their own CPU while the ACKs are written. */
    nc__sock_notify_flush(st);
    nc__ack_flush(st);
    return n;
}
