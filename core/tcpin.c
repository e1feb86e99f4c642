/*
 * A guard in front of lwIP's tcp_input.
 *
 * lwIP 2.1.3's tcp_receive takes an empty segment exactly 2^31 from rcv_nxt for one that
 * overlaps rcv_nxt (its wrapping comparison holds both ways at that distance) and then fails
 * the assertion "insane offset!", which aborts the process: one segment from anyone on the
 * link (tests/fuzz/regress/frames/seq-half-space). A segment that far outside any window is
 * never valid, so segments 2^30 or more either way from what their connection expects are
 * dropped here and counted as malformed.
 *
 * The check sits on tcp_input, after lwIP has reassembled IPv4 fragments and walked IPv6
 * extension headers, so neither hides a segment from it: liblwip calls tcp_input through its
 * PLT, so this definition comes first and passes the rest on to lwIP's own.
 */
#include <dlfcn.h>

#include <lwip/ip.h>
#include <lwip/pbuf.h>
#include <lwip/priv/tcp_priv.h>
#include <lwip/prot/tcp.h>
#include <lwip/tcp.h>

#include "internal.h"

static bool far_off(const struct tcp_hdr *h)
{
    if (TCPH_FLAGS(h) & TCP_SYN)
        return false; /* a SYN starts its own sequence space */
    uint16_t sport = lwip_ntohs(h->src), dport = lwip_ntohs(h->dest);
    uint32_t seq = lwip_ntohl(h->seqno);
    for (struct tcp_pcb *p = tcp_active_pcbs; p != NULL; p = p->next) {
        if (p->local_port != dport || p->remote_port != sport || p->state < SYN_RCVD ||
            !ip_addr_cmp_zoneless(&p->remote_ip, ip_current_src_addr()))
            continue;
        uint32_t d = seq - p->rcv_nxt;
        return d >= 0x40000000u && d <= 0xc0000000u;
    }
    return false;
}

static void (*lwip_tcp_input)(struct pbuf *, struct netif *);

/* Called by netcore_start: finds lwIP's own tcp_input, and makes a program that links the core
 * library statically take this file along (its tcp_input is otherwise referenced by nothing
 * the linker sees; AM_LDFLAGS exports it). */
void nc__tcpin_resolve(void)
{
    if (lwip_tcp_input == NULL)
        lwip_tcp_input = (void (*)(struct pbuf *, struct netif *))dlsym(RTLD_NEXT, "tcp_input");
}

void tcp_input(struct pbuf *p, struct netif *inp)
{
    nc__tcpin_resolve();
    if (p->len >= TCP_HLEN && far_off((const struct tcp_hdr *)p->payload)) {
        if (nc__stack != NULL)
            nc__stack->stats.rx_dropped_malformed++;
        pbuf_free(p);
        return;
    }
    lwip_tcp_input(p, inp);
}
