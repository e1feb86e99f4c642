/*
 * Guards around lwIP's tcp_input, against two assertions of lwIP 2.1.3 that a peer reaches
 * from the wire and that abort the process, and against a window taken from an ACK of data
 * never sent; and NewReno's partial ACKs for lwIP's sender (below).
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
 * extension headers, so neither hides a segment from them: lwIP's tcp_in.c is compiled with
 * its tcp_input renamed nc__lwip_tcp_input (lwip.am), so IPv4 and IPv6 call this definition,
 * which passes the segment on to lwIP's own.
 */
#include "tcpin.h"

#include <stdint.h>
#include <string.h>

#include <lwip/ip.h>
#include <lwip/pbuf.h>
#include <lwip/priv/tcp_priv.h>
#include <lwip/prot/tcp.h>
#include <lwip/tcp.h>

#include "cc.h"
#include "hidden.h"
#include "offload.h"
#include "pcbmap.h"
#include "rexmit.h"
#include "rto.h"
#include "rxframe.h"
#include "stack.h"

/* The segment netif.c is handing to lwIP, when this is it (not one that lwIP reassembled
 * from IPv4 fragments): its connection was looked up already (rto.c). */
static struct nc_tcpseg *current(struct netcore_stack *st, const ip_addr_t *src,
                                  uint16_t sport, uint16_t dport)
{
    struct nc_tcpseg *seg = st->rx_seg;
    if (seg == NULL || seg->sport != sport || seg->dport != dport)
        return NULL;
    if (seg->v6 ? !IP_IS_V6(src) || memcmp(ip_2_ip6(src)->addr, seg->saddr, 16) != 0
                : !IP_IS_V4(src) || ip_2_ip4(src)->addr != seg->saddr[0])
        return NULL;
    return seg;
}

/* The connection past SYN-RCVD that a segment from src:sport to dst:dport belongs to, or
 * NULL. */
static struct tcp_pcb *connection(struct netcore_stack *st, const ip_addr_t *src,
                                  uint16_t sport, const ip_addr_t *dst, uint16_t dport)
{
    const struct nc_tcpseg *seg = current(st, src, sport, dport);
    struct tcp_pcb *p = seg != NULL ? seg->pcb : nc__pcb_find(st, src, sport, dport, dst);
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

/* lwIP's own tcp_input, under the name lwip.am gives it */
void nc__lwip_tcp_input(struct pbuf *p, struct netif *inp);

/* The same function as tcp_input, by a name nothing outside this file can take. */
static void guard(struct pbuf *p, struct netif *inp) __attribute__((alias("tcp_input")));

/* Called by netcore_start: does lwIP's call reach this guard? In libnetcore.so a program or a
 * library loaded before it that defines its own tcp_input would take lwIP's call instead. */
bool nc__tcpin_ours(void)
{
    return nc__same_fn((void *)tcp_input, (void *)guard);
}

/*
 * NewReno's partial ACKs (RFC 6582). lwIP 2.1.3's sender does Reno: the third duplicate ACK
 * resends the first unacknowledged segment and enters fast recovery, and the first ACK of new
 * data leaves it, also when it stops short of what was sent before the loss (a partial ACK:
 * a second segment of that flight was lost too). That segment then waits for three more
 * duplicate ACKs, which a shrunken flight rarely yields, or for the retransmission timer:
 * through 1% loss at a 1500-byte MTU most of a netcore sender's time. So around lwIP's input:
 *  - when a duplicate ACK makes lwIP enter fast recovery, the connection's highest sequence
 *    sent is kept as its recovery point (an ext arg of the pcb);
 *  - when lwIP leaves fast recovery on an ACK below that point, the next unacknowledged
 *    segment is sent again at once and the connection stays in recovery, its window deflated
 *    by what the ACK covered plus one segment (RFC 6582 3.2 step 4); an ACK at or past the
 *    point ends recovery as lwIP does.
 * It costs a second lookup only for ACKs that may start recovery or arrive during it.
 *
 * lwIP also counts a duplicate ACK only when the peer's window is unchanged (RFC 5681's
 * definition), and a Linux receiver grows its window with every out-of-order segment it
 * queues: none of its duplicate ACKs count, and every loss waits for the timer. Such ACKs
 * carry SACK blocks (lwIP offers SACK, lwipopts.h), which lwIP's sender ignores. So an ACK
 * that repeats the last one and SACKs at least three segments' worth above it (RFC 6675's
 * loss rule for the first hole) starts lwIP's fast retransmit and recovery itself when lwIP's
 * own count did not. (Three segments of the peer's: with TAP offloads pcb->mss is a
 * super-segment of ~45 of them, offload.c.)
 *
 * With SACK blocks, a retransmission is one real segment (rexmit.c cuts lwIP's
 * super-segments), and every ACK's blocks go to rexmit.c's scoreboard: on entering recovery,
 * on each duplicate ACK in it and on each partial ACK, every hole it shows lost is resent
 * once, not one per round trip; a partial ACK resends the segment after it only when the
 * scoreboard has not resent it already.
 */
_Static_assert(sizeof(void *) >= 8, "the recovery point and its flag share a pointer");
#define RECOVER_SET ((uint64_t)1 << 32)
static u8_t recover_id;
static bool recover_ready;

static void set_recover(struct tcp_pcb *pcb, bool on, uint32_t seq)
{
    if (!recover_ready) {
        recover_id = tcp_ext_arg_alloc_id();
        recover_ready = true;
    }
    tcp_ext_arg_set(pcb, recover_id, on ? (void *)(uintptr_t)(RECOVER_SET | seq) : NULL);
}

static bool get_recover(const struct tcp_pcb *pcb, uint32_t *seq)
{
    if (!recover_ready)
        return false;
    uint64_t v = (uint64_t)(uintptr_t)tcp_ext_arg_get(pcb, recover_id);
    *seq = (uint32_t)v;
    return (v & RECOVER_SET) != 0;
}

enum { NR_NONE, NR_ENTER, NR_PARTIAL, NR_SACKED, NR_DUP };
struct nr {
    struct netcore_stack *st;    /* the stack the segment came in on */
    int what;
    struct tcp_pcb *pcb;
    uint32_t lastack;
    tcpwnd_size_t cwnd;
};

/* The blocks of the SACK option of h (hlen bytes of header in the pbuf), at most 4. */
static unsigned sack_blocks(const struct tcp_hdr *h, size_t hlen, uint32_t (*out)[2])
{
    const uint8_t *o = (const uint8_t *)h;
    unsigned n = 0;
    size_t i = TCP_HLEN, at;
    while ((at = nc__tcp_opt_next(o, hlen, &i)) != 0) {
        if (o[at] != 5)
            continue;
        for (size_t b = at + 2; b + 8 <= at + o[at + 1] && n < 4; b += 8) {
            out[n][0] = (uint32_t)o[b] << 24 | (uint32_t)o[b + 1] << 16 |
                        (uint32_t)o[b + 2] << 8 | o[b + 3];
            out[n][1] = (uint32_t)o[b + 4] << 24 | (uint32_t)o[b + 5] << 16 |
                        (uint32_t)o[b + 6] << 8 | o[b + 7];
            n++;
        }
    }
    return n;
}

/* Bytes the blocks report above ackno. */
static uint32_t sacked_above(const uint32_t (*b)[2], unsigned n, uint32_t ackno)
{
    uint32_t total = 0;
    for (unsigned i = 0; i < n; i++)
        if (TCP_SEQ_GT(b[i][0], ackno) && TCP_SEQ_GT(b[i][1], b[i][0]) &&
            b[i][1] - b[i][0] < 0x40000000u)
            total += b[i][1] - b[i][0];
    return total;
}

/* Before lwIP's input: may this segment start fast recovery, or end it? */
static void nr_before(struct nr *nr, struct tcp_pcb *pcb, const struct tcp_hdr *h, u16_t tot,
                      u16_t first_len)
{
    struct netcore_stack *st = nr->st;
    nr->what = NR_NONE;
    uint8_t fl = TCPH_FLAGS(h);
    if (pcb == NULL || pcb->state < ESTABLISHED || !(fl & TCP_ACK) ||
        (fl & (TCP_SYN | TCP_RST)) || pcb->unacked == NULL)
        return;
    uint32_t ackno = lwip_ntohl(h->ackno);
    size_t hlen = TCPH_HDRLEN_BYTES(h);
    uint32_t blocks[4][2];
    unsigned nb = 0;
    if (hlen > TCP_HLEN && hlen <= first_len && TCP_SEQ_GEQ(ackno, pcb->lastack))
        nb = sack_blocks(h, hlen, blocks);
    nc__rexmit_sack(pcb, ackno, (const uint32_t (*)[2])blocks, nb);
    if (pcb->flags & TF_INFR) {
        if (TCP_SEQ_GT(ackno, pcb->lastack))
            nr->what = NR_PARTIAL;
        else if (ackno == pcb->lastack && nb > 0)
            nr->what = NR_DUP; /* new blocks may show more holes */
    } else if (ackno == pcb->lastack && tot == hlen) {
        if (sacked_above((const uint32_t (*)[2])blocks, nb, ackno) >=
            3u * nc__offload_real_mss(st, pcb))
            nr->what = NR_SACKED;
        else if (pcb->dupacks >= 2)
            nr->what = NR_ENTER;
        if (nr->what == NR_ENTER)
            nc__rexmit_cut(st, pcb); /* lwIP's fast retransmit is one real segment */
    }
    nr->pcb = pcb;
    nr->lastack = pcb->lastack;
    nr->cwnd = pcb->cwnd;
}

/* Where the first segment of pcb's queues ends: the one just resent. */
static uint32_t head_end(const struct tcp_pcb *pcb)
{
    const struct tcp_seg *seg = pcb->unacked;
    if (pcb->unsent != NULL && (seg == NULL || TCP_SEQ_LT(lwip_ntohl(pcb->unsent->tcphdr->seqno),
                                                         lwip_ntohl(seg->tcphdr->seqno))))
        seg = pcb->unsent;
    return seg != NULL ? lwip_ntohl(seg->tcphdr->seqno) + seg->len : pcb->lastack;
}

static void output(struct netcore_stack *st, struct tcp_pcb *pcb)
{
    tcp_output(pcb);
    nc__rto_output(st, pcb);
}

/* Recovery begins: the head went out again; the other holes the SACK blocks show follow.
 * cwnd: the window before the loss, which cc.c reduces. */
static void enter(struct netcore_stack *st, struct tcp_pcb *pcb, tcpwnd_size_t cwnd)
{
    nc__cc_loss(pcb, cwnd, nc__rto_cc(st, pcb));
    set_recover(pcb, true, pcb->snd_nxt);
    nc__rexmit_recovery(pcb, true, head_end(pcb));
    nc__rexmit_holes(st, pcb);
    output(st, pcb);
}

/* RACK's reordering timer fired (rto.c): the holes the SACK blocks show are lost, however
 * little is SACKed above them (the tail of a flight: no three segments follow the hole). */
void nc__tcpin_reorder(struct netcore_stack *st, struct tcp_pcb *pcb, uint32_t srtt)
{
    if (!(pcb->flags & TF_INFR)) {
        uint32_t lastack = pcb->lastack;
        tcpwnd_size_t cwnd = pcb->cwnd;
        nc__rexmit_cut(st, pcb);
        tcp_rexmit_fast(pcb);
        if (!(pcb->flags & TF_INFR) || pcb->lastack != lastack)
            return;
        nc__cc_loss(pcb, cwnd, nc__rto_cc(st, pcb));
        set_recover(pcb, true, pcb->snd_nxt);
        nc__rexmit_recovery(pcb, true, head_end(pcb));
    }
    nc__cc_recovery(pcb);
    nc__rexmit_fire(st, pcb, srtt);
    output(st, pcb);
}

/* After lwIP's input, pcb being the connection looked up again (NULL: gone). */
static void nr_after(const struct nr *nr, struct tcp_pcb *pcb)
{
    struct netcore_stack *st = nr->st;
    if (pcb == NULL || pcb != nr->pcb)
        return;
    if (nr->what == NR_SACKED && !(pcb->flags & TF_INFR) && pcb->lastack == nr->lastack &&
        pcb->unacked != NULL) {
        nc__rexmit_cut(st, pcb);
        tcp_rexmit_fast(pcb); /* what lwIP does on its third duplicate ACK */
        if (pcb->flags & TF_INFR)
            enter(st, pcb, nr->cwnd);
        return;
    }
    if (nr->what == NR_ENTER || nr->what == NR_SACKED) {
        if (pcb->flags & TF_INFR)
            enter(st, pcb, nr->cwnd);
        return;
    }
    if (nr->what == NR_DUP) {
        /* New blocks: the window grows by what they SACK (cc.c), more holes may show. */
        if (pcb->flags & TF_INFR) {
            tcpwnd_size_t cwnd = pcb->cwnd;
            nc__cc_recovery(pcb);
            if (nc__rexmit_holes(st, pcb) || pcb->cwnd > cwnd)
                output(st, pcb);
        }
        return;
    }
    uint32_t recover;
    if (!get_recover(pcb, &recover))
        return;
    if ((pcb->flags & TF_INFR) || !TCP_SEQ_GT(pcb->lastack, nr->lastack))
        return;
    if (!TCP_SEQ_LT(pcb->lastack, recover) || pcb->unacked == NULL) {
        set_recover(pcb, false, 0); /* a full ACK: recovery is over */
        nc__rexmit_recovery(pcb, false, 0);
        return;
    }
    tcpwnd_size_t acked = pcb->lastack - nr->lastack;
    tcpwnd_size_t cwnd = nr->cwnd > acked ? nr->cwnd - acked : 0;
    if (acked >= pcb->mss)
        cwnd += pcb->mss;
    if (cwnd < pcb->mss)
        cwnd = pcb->mss;
    /* The segment after the partial ACK is resent, unless the scoreboard resent it already
     * in this recovery (then its ACK is a round trip away, not lost). */
    if (!TCP_SEQ_GT(nc__rexmit_high(pcb), pcb->lastack)) {
        nc__rexmit_cut(st, pcb);
        if (tcp_rexmit(pcb) != ERR_OK)
            return;
        nc__rexmit_recovery(pcb, true, head_end(pcb));
    }
    pcb->cwnd = cwnd;
    tcp_set_flags(pcb, TF_INFR);
    nc__cc_recovery(pcb); /* with SACK: ssthresh and what is SACKed, in place of the above */
    nc__rexmit_holes(st, pcb);
    output(st, pcb);
}

/*
 * The guards apply to a segment of a known connection; a bare SYN (no ACK: a new connection,
 * or one lwIP answers with an ACK and drops) never reaches tcp_receive, and costs no lookup.
 * lwIP's input leaves the persist timer on with nothing unsent only on a connection whose
 * timer was on already, or by a segment that closes the window; only then is the connection
 * looked at again after input: the segment's own lookup when netif.c made one (pcbmap.c
 * clears it if lwIP freed the pcb), else looked up again on addresses kept from before:
 * lwIP's per-packet globals are not ours after its input. The stack is the netif's state
 * (netif.c): the one interface lwIP has.
 */
NC_HIDDEN void tcp_input(struct pbuf *p, struct netif *inp)
{
    if (p->len < TCP_HLEN) {
        nc__lwip_tcp_input(p, inp); /* lwIP drops it */
        return;
    }
    const struct tcp_hdr *h = p->payload;
    uint16_t sport = lwip_ntohs(h->src), dport = lwip_ntohs(h->dest);
    bool recheck = h->wnd == 0, opening = false;
    struct netcore_stack *st = inp->state;
    struct nr nr = { .st = st, .what = NR_NONE };
    if ((TCPH_FLAGS(h) & (TCP_SYN | TCP_ACK)) != TCP_SYN) {
        struct tcp_pcb *pcb = connection(st, ip_current_src_addr(), sport,
                                         ip_current_dest_addr(), dport);
        if (far_off(h, pcb) || acks_unsent(h, pcb)) {
            st->stats.rx_dropped_malformed++;
            pbuf_free(p);
            return;
        }
        recheck = recheck || (pcb != NULL && pcb->persist_backoff > 0);
        opening = pcb != NULL && pcb->state == SYN_RCVD;
        nr_before(&nr, pcb, h, p->tot_len, p->len);
        recheck = recheck || nr.what != NR_NONE || opening;
    }
    if (!recheck) {
        nc__lwip_tcp_input(p, inp);
        return;
    }
    ip_addr_t src, dst;
    ip_addr_copy(src, *ip_current_src_addr());
    ip_addr_copy(dst, *ip_current_dest_addr());
    const struct nc_tcpseg *seg = current(st, &src, sport, dport);
    nc__lwip_tcp_input(p, inp); /* frees p */
    struct tcp_pcb *pcb = seg != NULL ? seg->pcb : connection(st, &src, sport, &dst, dport);
    if (nr.what != NR_NONE)
        nr_after(&nr, pcb);
    if (opening && pcb != NULL && pcb->state >= ESTABLISHED)
        nc__cc_established(pcb); /* lwIP has just set its own initial window */
    if (pcb != NULL && pcb->persist_backoff > 0 && pcb->unsent == NULL)
        pcb->persist_backoff = 0;
}
