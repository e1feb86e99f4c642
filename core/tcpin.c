/*
 * Guards around lwIP's tcp_input, against two assertions of lwIP 2.1.3 that a peer reaches
 * from the wire and that abort the process.
 *
 * "insane offset!": tcp_receive takes an empty segment exactly 2^31 from rcv_nxt for one that
 * overlaps rcv_nxt (its wrapping comparison holds both ways at that distance) and then fails
 * the assertion: one segment from anyone on the link (tests/fuzz/regress/frames/
 * seq-half-space). A segment that far outside any window is never valid, so segments 2^30 or
 * more either way from what their connection expects are dropped before lwIP sees them and
 * counted as malformed.
 *
 * "tcp_slowtmr: persist ticking with empty send buffer" (tcp.c, line 1238): after a
 * retransmission timeout lwIP puts every unacknowledged segment back on the unsent queue, and
 * tcp_output starts the persist timer when the head of that queue does not fit the peer's
 * window (a window of zero, or shrunk below one segment). Only tcp_output stops the timer
 * again, when a segment fits; but the peer's ACK for what was sent before the timeout frees
 * those segments from the unsent queue (tcp_receive), and with the queue empty tcp_output
 * has nothing to fit: the timer stays on with nothing to probe, and the next slow-timer tick
 * asserts. A peer does this by acknowledging late while its window is closed, as a slow
 * reader does (tests/check_rto.c, persist_after_late_ack; tests/fuzz/regress/frames/
 * persist-acked-empty). With nothing left unsent there is nothing for the persist timer to
 * do, so after lwIP has taken a segment in, the timer of its connection is stopped when the
 * queue is empty, as tcp_output would have done; new data starts it again if the window is
 * still closed.
 *
 * The guards sit on tcp_input, after lwIP has reassembled IPv4 fragments and walked IPv6
 * extension headers, so neither hides a segment from them: liblwip calls tcp_input through
 * its PLT, so this definition comes first and passes the segment on to lwIP's own.
 */
#include <dlfcn.h>

#include <lwip/ip.h>
#include <lwip/pbuf.h>
#include <lwip/priv/tcp_priv.h>
#include <lwip/prot/tcp.h>
#include <lwip/tcp.h>

#include "internal.h"

/* The connection past SYN-RCVD that a segment from src with these ports belongs to, or
 * NULL. */
static struct tcp_pcb *connection(const ip_addr_t *src, uint16_t sport, uint16_t dport)
{
    for (struct tcp_pcb *p = tcp_active_pcbs; p != NULL; p = p->next)
        if (p->local_port == dport && p->remote_port == sport && p->state >= SYN_RCVD &&
            ip_addr_cmp_zoneless(&p->remote_ip, src))
            return p;
    return NULL;
}

static bool far_off(const struct tcp_hdr *h, const struct tcp_pcb *p)
{
    if (p == NULL || (TCPH_FLAGS(h) & TCP_SYN))
        return false; /* a SYN starts its own sequence space */
    uint32_t d = lwip_ntohl(h->seqno) - p->rcv_nxt;
    return d >= 0x40000000u && d <= 0xc0000000u;
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
    if (p->len < TCP_HLEN) {
        lwip_tcp_input(p, inp); /* lwIP drops it */
        return;
    }
    const struct tcp_hdr *h = p->payload;
    uint16_t sport = lwip_ntohs(h->src), dport = lwip_ntohs(h->dest);
    ip_addr_t src; /* kept: lwIP's per-packet globals are not ours to rely on after its input */
    ip_addr_copy(src, *ip_current_src_addr());
    if (far_off(h, connection(&src, sport, dport))) {
        if (nc__stack != NULL)
            nc__stack->stats.rx_dropped_malformed++;
        pbuf_free(p);
        return;
    }
    lwip_tcp_input(p, inp); /* frees p; the pcb may be gone, so it is looked up again */
    struct tcp_pcb *pcb = connection(&src, sport, dport);
    if (pcb != NULL && pcb->persist_backoff > 0 && pcb->unsent == NULL)
        pcb->persist_backoff = 0;
}
