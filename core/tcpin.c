/*
 * Guards around lwIP's tcp_input, against two assertions of lwIP 2.1.3 that a peer reaches
 * from the wire and that abort the process, and against a window taken from an ACK of data
 * never sent.
 *
 * "insane offset!": tcp_receive takes a segment without data (a bare FIN) exactly 2^31 from
 * rcv_nxt for one that overlaps rcv_nxt (its wrapping comparison holds both ways at that
 * distance) and then fails the assertion: one segment from anyone on the link
 * (tests/check_tcpin.c; tests/fuzz/regress/frames/seq-half-space). A segment that far
 * outside any window is never valid, so segments 2^30 or more either way from what their
 * connection expects are dropped before lwIP sees them and counted as malformed.
 *
 * "tcp_slowtmr: persist ticking with empty send buffer" (tcp.c, line 1238): after a
 * retransmission timeout lwIP puts every unacknowledged segment back on the unsent queue, and
 * tcp_output starts the persist timer when the head of that queue does not fit the peer's
 * window (a window of zero, or shrunk below one segment). Only tcp_output stops the timer
 * again, when a segment fits; but the peer's ACK for what was sent before the timeout frees
 * those segments from the unsent queue (tcp_receive), and with the queue empty tcp_output
 * has nothing to fit: the timer stays on with nothing to probe, and the next slow-timer tick
 * asserts. A peer does this by acknowledging part of the data with its window closed, as a
 * slow reader does, and the rest late, after the timeout (tests/check_tcpin.c; tests/fuzz/
 * regress/frames/persist-late-ack). With nothing left unsent there is nothing for the
 * persist timer to do, so after lwIP has taken a segment in, the timer of its connection is
 * stopped when the queue is empty, as tcp_output would have done; new data starts it again
 * if the window is still closed.
 *
 * An ACK beyond snd_nxt (data never sent) is to be dropped (RFC 9293 3.10.7.4), but lwIP's
 * tcp_receive takes the segment's window first and records that ACK as the last window
 * update (snd_wl2). The peer's later, true ACKs are all below it, so no window they announce
 * is taken again: one such segment with a window of zero, in the peer's window, stalls the
 * connection on persist probes, a byte per probe, until lwIP gives up on it
 * (tests/check_tcpin.c; the fuzzer reached the persist assertion through such a window,
 * tests/fuzz/regress/frames/persist-acked-empty). So such a segment is dropped here, as
 * Linux drops it (without the ACK RFC 9293 asks for, which two stacks could answer each
 * other with), and counted as malformed.
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

/* The segment netif.c is handing to lwIP, when this is it (an IPv4 segment, not one that
 * lwIP reassembled from fragments): its connection was looked up already (rto.c). */
static struct nc_tcpseg *current(const ip_addr_t *src, uint16_t sport, uint16_t dport)
{
    struct nc_tcpseg *seg = nc__stack != NULL ? nc__stack->rx_seg : NULL;
    if (seg == NULL || !IP_IS_V4(src) || ip_2_ip4(src)->addr != seg->saddr ||
        seg->sport != sport || seg->dport != dport)
        return NULL;
    return seg;
}

/* The connection past SYN-RCVD that a segment from src:sport to dst:dport belongs to, or
 * NULL. */
static struct tcp_pcb *connection(const ip_addr_t *src, uint16_t sport, const ip_addr_t *dst,
                                  uint16_t dport)
{
    const struct nc_tcpseg *seg = current(src, sport, dport);
    struct tcp_pcb *p = seg != NULL ? seg->pcb : nc__pcb_find(nc__stack, src, sport, dport, dst);
    if (p == NULL || p->state < SYN_RCVD || !ip_addr_cmp_zoneless(&p->local_ip, dst))
        return NULL;
    return p;
}

static bool far_off(const struct tcp_hdr *h, const struct tcp_pcb *p)
{
    /* A SYN with an ACK counts too: in SYN-RCVD lwIP takes its ACK and passes the segment to
     * tcp_receive like any other (tests/fuzz/regress/frames/synack-half-space). */
    if (p == NULL)
        return false;
    uint32_t d = lwip_ntohl(h->seqno) - p->rcv_nxt;
    return d >= 0x40000000u && d <= 0xc0000000u;
}

static bool acks_unsent(const struct tcp_hdr *h, const struct tcp_pcb *p)
{
    uint8_t fl = TCPH_FLAGS(h);
    if (p == NULL || p->state < ESTABLISHED || !(fl & TCP_ACK) || (fl & (TCP_SYN | TCP_RST)))
        return false; /* lwIP answers a bad ACK in SYN-RCVD with a reset, as it should */
    return TCP_SEQ_GT(lwip_ntohl(h->ackno), p->snd_nxt);
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

/*
 * The guards apply to a segment of a known connection; a bare SYN (no ACK: a new connection,
 * or one lwIP answers with an ACK and drops) never reaches tcp_receive, and costs no lookup.
 * lwIP's input leaves the persist timer on with nothing unsent only on a connection whose
 * timer was on already, or by a segment that closes the window; only then is the connection
 * looked at again after input: the segment's own lookup when netif.c made one (pcbmap.c
 * clears it if lwIP freed the pcb), else looked up again on addresses kept from before:
 * lwIP's per-packet globals are not ours after its input.
 */
void tcp_input(struct pbuf *p, struct netif *inp)
{
    nc__tcpin_resolve();
    if (p->len < TCP_HLEN) {
        lwip_tcp_input(p, inp); /* lwIP drops it */
        return;
    }
    const struct tcp_hdr *h = p->payload;
    uint16_t sport = lwip_ntohs(h->src), dport = lwip_ntohs(h->dest);
    bool recheck = h->wnd == 0;
    if ((TCPH_FLAGS(h) & (TCP_SYN | TCP_ACK)) != TCP_SYN) {
        struct tcp_pcb *pcb = connection(ip_current_src_addr(), sport,
                                         ip_current_dest_addr(), dport);
        if (far_off(h, pcb) || acks_unsent(h, pcb)) {
            if (nc__stack != NULL)
                nc__stack->stats.rx_dropped_malformed++;
            pbuf_free(p);
            return;
        }
        recheck = recheck || (pcb != NULL && pcb->persist_backoff > 0);
    }
    if (!recheck) {
        lwip_tcp_input(p, inp);
        return;
    }
    ip_addr_t src, dst;
    ip_addr_copy(src, *ip_current_src_addr());
    ip_addr_copy(dst, *ip_current_dest_addr());
    const struct nc_tcpseg *seg = current(&src, sport, dport);
    lwip_tcp_input(p, inp); /* frees p */
    struct tcp_pcb *pcb = seg != NULL ? seg->pcb : connection(&src, sport, &dst, dport);
    if (pcb != NULL && pcb->persist_backoff > 0 && pcb->unsent == NULL)
        pcb->persist_backoff = 0;
}
