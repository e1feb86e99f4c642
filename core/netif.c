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
#include <string.h>

#include <lwip/etharp.h>
#include <lwip/ethip6.h>
#include <lwip/init.h>
#include <lwip/ip.h>
#include <lwip/ip4.h>
#include <lwip/netif.h>
#include <lwip/pbuf.h>
#include <lwip/tcpip.h>
#include <netif/ethernet.h>

#include "internal.h"

#define ETH_HDR 14

static err_t dev_send(struct netif *netif, struct pbuf *p)
{
    struct netcore_stack *st = netif->state;
    struct iovec iov[16];
    int n = 0;
    size_t hdr = st->dev.is_eth ? ETH_HDR : 0;
    uint8_t *f = p->payload;
    if (p->len > hdr + 40 && (!st->dev.is_eth || (f[12] == 0x08 && f[13] == 0x00)) &&
        (f[hdr] >> 4) == 4 && f[hdr + 9] == 6)
        nc__syn_out(st, f + hdr, p->len - hdr);
    for (struct pbuf *q = p; q != NULL && n < 16; q = q->next) {
        iov[n].iov_base = q->payload;
        iov[n].iov_len = q->len;
        n++;
    }
    if (st->dev_down)
        return ERR_IF;
    int r = nc__sys_writev(st->dev.fd, iov, n);
    if (r < 0 && r != -EAGAIN && r != -ENOBUFS && r != -EINTR)
        nc__dev_down(st, -r);
    if (r < 0) {
        /* The frame is lost like on a full NIC queue; TCP retransmits it. */
        st->stats.tx_errors++;
        return ERR_IF;
    }
    st->stats.tx_frames++;
    st->stats.tx_bytes += (uint64_t)r;
    return ERR_OK;
}

static err_t tun_output(struct netif *netif, struct pbuf *p, const ip4_addr_t *dst)
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
        netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
    } else {
        netif->output = tun_output;
        netif->linkoutput = dev_send;
        netif->flags = 0;
    }
    netif->flags |= NETIF_FLAG_IGMP; /* sockets may join multicast groups */
    return ERR_OK;
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
    netif_set_default(st->netif);
    netif_set_link_up(st->netif);
    netif_set_up(st->netif);
    return 0;
}

void nc__netif_teardown(struct netcore_stack *st)
{
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
    fprintf(stderr, "netcore[%d]: device %s: %s: network down\n", (int)getpid(),
            st->cfg.device == NETCORE_DEV_WIRE ? "wire" : st->cfg.ifname, strerror(why));
    if (st->ev_dev != NULL)
        event_del(st->ev_dev);
    /* This may run inside lwIP's output for some pcb: the connections are failed when the
     * lock is let go (nc__unlock), not under lwIP's feet. */
    st->netdown_pending = true;
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
    return true;
}

static bool ip_packet_ok(struct netcore_stack *st, const uint8_t *f, size_t len)
{
    if (len < 20 || ((f[0] >> 4) != 4 && (f[0] >> 4) != 6) ||
        ((f[0] >> 4) == 4 && !ipv4_ok(f, len))) {
        st->stats.rx_dropped_malformed++;
        return false;
    }
    return true;
}

/*
 * Reads up to max_frames frames from the device (without blocking) and feeds them to lwIP.
 * Caller holds the stack lock. Returns the number of frames read.
 */
int nc__pump_device(struct netcore_stack *st, int max_frames)
{
    int n = 0;
    while (n < max_frames) {
        int len = nc__sys_read(st->dev.fd, st->frame, st->frame_cap);
        if (len == 0) {
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
        if (st->cfg.drop_every > 0 && st->stats.rx_frames % (uint64_t)st->cfg.drop_every == 0)
            continue; /* injected loss (tests) */
        st->stats.rx_bytes += (uint64_t)len;
        bool ok = st->dev.is_eth ? eth_frame_ok(st, st->frame, (size_t)len)
                                 : ip_packet_ok(st, st->frame, (size_t)len);
        if (!ok)
            continue;
        const uint8_t *ip = st->dev.is_eth ? st->frame + ETH_HDR : st->frame;
        size_t iplen = st->dev.is_eth ? (size_t)len - ETH_HDR : (size_t)len;
        bool ipv4 = st->dev.is_eth ? st->frame[12] == 0x08 && st->frame[13] == 0x00
                                   : (ip[0] >> 4) == 4;
        if (ipv4 && iplen >= 20 && ip[9] == 1)
            nc__icmp_input(st, ip, iplen); /* before lwIP, which answers only echo */
        struct nc_syn syn;
        bool is_syn = ipv4 && nc__syn_in(ip, iplen, &syn);
        if (is_syn && nc__syn_over_backlog(st, &syn))
            continue;
        struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);
        if (p == NULL) {
            st->stats.rx_dropped_malformed++;
            continue;
        }
        memcpy(p->payload, st->frame, (size_t)len);
        if (st->netif->input(p, st->netif) != ERR_OK)
            pbuf_free(p);
        else if (is_syn)
            nc__syn_tune(st, &syn);
    }
    return n;
}

/*
 * Packets to our own address. lwIP's loopback (LWIP_NETIF_LOOPBACK) queues them on the netif
 * and, built for its tcpip thread, asks that thread to deliver them via tcpip_try_callback,
 * which without tcpip_init asserts and aborts the program (a connect to our own IP did). The
 * library calls it through its PLT, so this definition takes its place: it only marks the
 * queue, and whoever holds the stack lock delivers it before letting go (nc__unlock).
 */
err_t tcpip_try_callback(tcpip_callback_fn fn, void *ctx)
{
    if (fn != (tcpip_callback_fn)netif_poll || nc__stack == NULL)
        return ERR_VAL; /* nothing else of lwIP's may run outside our lock */
    (void)ctx;
    nc__stack->loop_pending = true;
    return ERR_OK;
}

void nc__netif_loop(struct netcore_stack *st)
{
    /* Bounded: each round may answer itself (SYN, SYN-ACK, ACK...). */
    for (int i = 0; i < 64 && st->loop_pending && st->netif != NULL; i++) {
        st->loop_pending = false;
        netif_poll(st->netif);
    }
}
