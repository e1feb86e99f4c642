/*
 * Retransmissions of one real segment, not of a super-segment. With TAP offloads (offload.c)
 * lwIP's segments are super-segments of up to ~64 KB (syn.c raises pcb->mss), which the
 * kernel cuts at the real MSS on the way out. A loss on the wire is one real segment, but
 * lwIP retransmits whole segments of its queue: the 64 KB around the lost 1448 bytes, most
 * of it already received, and, when the peer has acknowledged part of that segment (lwIP
 * never trims a partly acknowledged segment), the acknowledged part again too. At 1% loss
 * every retransmission costs ~45 frames, each as likely to be lost as the first.
 *
 * So before lwIP retransmits the first unacknowledged segment (fast retransmit, NewReno's
 * partial ACK, the retransmission timer), that segment is cut: what the peer acknowledged
 * already is dropped from its front, and what stays is split after one real MSS, the rest
 * becoming a segment of its own behind it on the unacked queue. The queue keeps its order and
 * its accounts: snd_queuelen is kept by lwIP's split, and the dropped front goes back to
 * snd_buf as when lwIP frees an acknowledged segment (lwIP counts freed segments there, not
 * acknowledged bytes: a front dropped without it would be lost from the send buffer for
 * good); snd_nxt is untouched, and the retransmission timer is the connection's as before.
 * lwIP's tcp_split_unsent_seg does the splitting: it works on the unsent queue's head, so the
 * unacked queue stands in for it for the call.
 */
#include "rexmit.h"

#include <stdlib.h>
#include <string.h>

#include <lwip/priv/tcp_priv.h>
#include <lwip/sys.h>
#include <lwip/tcp.h>

#include "offload.h"

/* Splits the head of pcb's unacked queue after len bytes; false when it could not. */
static bool split_unacked_head(struct tcp_pcb *pcb, u16_t len)
{
    struct tcp_seg *unsent = pcb->unsent;
#if TCP_OVERSIZE
    /* lwIP's split clears this when the piece it makes is last on "its" queue; the real
     * unsent queue's last segment is another one. */
    u16_t oversize = pcb->unsent_oversize;
#endif
    struct tcp_seg *seg = pcb->unacked;
    bool fin = (TCPH_FLAGS(seg->tcphdr) & TCP_FIN) != 0;
    pcb->unsent = seg;
    err_t err = tcp_split_unsent_seg(pcb, len);
    /* lwIP gives the FIN to the second piece but leaves it on the first too (its
     * TCPH_SET_FLAG only adds flags): the first would end the stream in the middle. */
    if (err == ERR_OK && fin)
        TCPH_UNSET_FLAG(seg->tcphdr, TCP_FIN);
    pcb->unacked = pcb->unsent;
    pcb->unsent = unsent;
#if TCP_OVERSIZE
    pcb->unsent_oversize = oversize;
#endif
    return err == ERR_OK;
}

void nc__rexmit_cut(struct netcore_stack *st, struct tcp_pcb *pcb)
{
    struct tcp_seg *seg = pcb->unacked;
    if (seg == NULL || seg->p->ref != 1) /* the device still holds it: leave it be */
        return;
    uint16_t real = nc__offload_real_mss(st, pcb);
    if (real == 0 || real >= pcb->mss)
        return; /* no super-segments on this connection */
    uint32_t seqno = lwip_ntohl(seg->tcphdr->seqno);
    uint32_t acked = pcb->lastack - seqno;
    if (TCP_SEQ_GT(pcb->lastack, seqno) && acked < seg->len && acked <= pcb->mss &&
        !(TCPH_FLAGS(seg->tcphdr) & TCP_SYN)) {
        if (!split_unacked_head(pcb, (u16_t)acked))
            return;
        pcb->unacked = seg->next;
        pcb->snd_queuelen -= pbuf_clen(seg->p);
        pcb->snd_buf += seg->len; /* what lwIP does for a segment it frees on an ACK */
        tcp_seg_free(seg);
        seg = pcb->unacked;
    }
    if (seg->len > real)
        split_unacked_head(pcb, real);
}

/*
 * A SACK scoreboard for fast recovery (RFC 6675, in part). The NewReno of tcpin.c resends one
 * hole per round trip: the segment after each partial ACK. A Linux receiver reports every
 * block it holds above the cumulative ACK, the newest first, and at 5% loss a flight has a
 * hole every twenty segments: recovery then lasts as many round trips as there are holes,
 * or ends in a timeout. So the blocks of the ACKs a connection receives while it has data in
 * flight are kept (merged; those at or below the cumulative ACK forgotten), and in recovery
 * every hole below the highest SACKed byte that has three segments' worth SACKed above it
 * (RFC 6675's IsLost, by bytes) is resent once: HighRxt marks how far retransmission went.
 * A hole is resent by cutting the unacked segments at its edges (as above) and moving the
 * pieces inside it back to the unsent queue, in order, as lwIP's tcp_rexmit moves its head;
 * tcp_output then sends them and puts them back on the unacked queue in order. A
 * retransmission can be lost too: when data sent after it is SACKed and it is not (RACK's
 * rule, RFC 8985, by sequence instead of time, the link keeping order), the holes are resent
 * again at once (those the judged retransmissions covered; see holes()) instead of after the
 * retransmission timer; and when nothing sent after it comes back to tell (a receive window
 * that lets nothing more out), a retransmission not SACKed a quarter of an RTT after its own
 * round trip counts as lost. Likewise a hole with less than three segments SACKed above it
 * (a flight's tail) counts as lost once a quarter of an RTT has passed since the last SACK
 * (RACK's reordering timer; rto.c runs both). Only what fits the window now is moved, so
 * that tcp_output sends it at once: lwIP's tcp_write appends new data to the last unsent
 * segment, which must not be an old one. The scoreboard goes with the pcb (lwIP's ext arg
 * destroy callback).
 */
#define SB_BLOCKS 64 /* a 1 MiB flight at 5% loss has ~36 holes */

struct scoreboard {
    uint32_t high_rxt; /* retransmitted in this recovery up to here */
    uint32_t rxt_mark; /* snd_nxt when the oldest retransmission not yet judged went out */
    uint32_t rxt_at;   /* sys_now() then */
    uint32_t mark_high; /* high_rxt then: what went out before rxt_mark */
    uint32_t redo_end; /* to resend again what is not SACKed below here, when redo */
    bool redo;
    uint32_t ack_at;   /* sys_now() of the last ACK with SACK blocks */
    bool marked;       /* rxt_mark is set: a retransmission is on its way */
    unsigned n;
    struct {
        uint32_t l, r;
    } b[SB_BLOCKS]; /* SACKed, sorted, disjoint, above the cumulative ACK */
};

static u8_t sb_id;
static bool sb_ready;

static void sb_destroyed(u8_t id, void *data)
{
    (void)id;
    free(data);
}

static const struct tcp_ext_arg_callbacks sb_callbacks = { .destroy = sb_destroyed };

static struct scoreboard *sb_get(struct tcp_pcb *pcb, bool make)
{
    if (!sb_ready) {
        if (!make)
            return NULL;
        sb_id = tcp_ext_arg_alloc_id();
        sb_ready = true;
    }
    struct scoreboard *sb = tcp_ext_arg_get(pcb, sb_id);
    if (sb == NULL && make) {
        sb = calloc(1, sizeof(*sb));
        if (sb == NULL)
            return NULL;
        tcp_ext_arg_set_callbacks(pcb, sb_id, &sb_callbacks);
        tcp_ext_arg_set(pcb, sb_id, sb);
    }
    return sb;
}

/* Forgets what the cumulative ACK covers. */
static void sb_prune(struct scoreboard *sb, uint32_t ack)
{
    unsigned k = 0;
    for (unsigned i = 0; i < sb->n; i++) {
        if (!TCP_SEQ_GT(sb->b[i].r, ack))
            continue;
        sb->b[k] = sb->b[i];
        if (TCP_SEQ_LT(sb->b[k].l, ack))
            sb->b[k].l = ack;
        k++;
    }
    sb->n = k;
}

static void sb_add(struct scoreboard *sb, uint32_t l, uint32_t r)
{
    unsigned i = 0;
    while (i < sb->n && TCP_SEQ_LT(sb->b[i].r, l))
        i++;
    /* blocks i.. that touch [l, r) merge into it */
    unsigned j = i;
    while (j < sb->n && !TCP_SEQ_GT(sb->b[j].l, r)) {
        if (TCP_SEQ_LT(sb->b[j].l, l))
            l = sb->b[j].l;
        if (TCP_SEQ_GT(sb->b[j].r, r))
            r = sb->b[j].r;
        j++;
    }
    if (j == i && sb->n == SB_BLOCKS) {
        if (i == SB_BLOCKS)
            return; /* full, and above all: the highest blocks matter least for holes */
        sb->n--;    /* the highest block gives way */
        if (j > sb->n)
            j = sb->n;
    }
    unsigned tail = sb->n - j;
    memmove(&sb->b[i + 1], &sb->b[j], tail * sizeof(sb->b[0]));
    sb->b[i].l = l;
    sb->b[i].r = r;
    sb->n = i + 1 + tail;
}

void nc__rexmit_sack(struct tcp_pcb *pcb, uint32_t ackno, const uint32_t (*blocks)[2],
                     unsigned nblocks)
{
    struct scoreboard *sb = sb_get(pcb, nblocks > 0);
    if (sb == NULL)
        return;
    sb_prune(sb, ackno);
    if (nblocks > 0)
        sb->ack_at = sys_now();
    for (unsigned i = 0; i < nblocks; i++) {
        uint32_t l = blocks[i][0], r = blocks[i][1];
        if (!TCP_SEQ_GT(r, l) || r - l >= 0x40000000u || !TCP_SEQ_GT(r, ackno) ||
            TCP_SEQ_GT(r, pcb->snd_nxt))
            continue; /* a D-SACK, or nonsense */
        sb_add(sb, TCP_SEQ_LT(l, ackno) ? ackno : l, r);
    }
}

/* Moves seg, the successor of *prev on the unacked queue, to its place on the unsent queue. */
static void to_unsent(struct tcp_pcb *pcb, struct tcp_seg **prev, struct tcp_seg *seg)
{
    *prev = seg->next;
    struct tcp_seg **cur = &pcb->unsent;
    uint32_t seqno = lwip_ntohl(seg->tcphdr->seqno);
    while (*cur != NULL && TCP_SEQ_LT(lwip_ntohl((*cur)->tcphdr->seqno), seqno))
        cur = &(*cur)->next;
    seg->next = *cur;
    *cur = seg;
#if TCP_OVERSIZE
    if (seg->next == NULL)
        pcb->unsent_oversize = 0;
#endif
}

/* Splits seg (on the unacked queue) after len bytes, the rest following it. */
static bool split_at(struct tcp_pcb *pcb, struct tcp_seg *seg, u16_t len)
{
    struct tcp_seg *unacked = pcb->unacked;
    pcb->unacked = seg;
    bool ok = split_unacked_head(pcb, len);
    pcb->unacked = unacked;
    return ok;
}

/* Queues what the unacked queue holds of [a, b) for retransmission, up to the window's
 * edge; returns where it stopped (b when all of it was queued). */
static uint32_t queue_hole(struct tcp_pcb *pcb, uint32_t a, uint32_t b, uint32_t edge)
{
    struct tcp_seg **prev = &pcb->unacked;
    while (*prev != NULL) {
        struct tcp_seg *seg = *prev;
        uint32_t s = lwip_ntohl(seg->tcphdr->seqno), e = s + seg->len;
        if (!TCP_SEQ_GT(e, a)) {
            prev = &seg->next;
            continue;
        }
        if (!TCP_SEQ_LT(s, b))
            return b; /* the rest of the hole is not on the unacked queue */
        if (seg->p->ref != 1 || seg->len == 0 || (TCPH_FLAGS(seg->tcphdr) & (TCP_SYN | TCP_FIN)))
            return TCP_SEQ_GT(s, a) ? s : a;
        if (TCP_SEQ_LT(s, a)) {
            if (!split_at(pcb, seg, (u16_t)(a - s)))
                return a;
            prev = &seg->next;
            continue;
        }
        if (TCP_SEQ_GT(e, b)) {
            if (!split_at(pcb, seg, (u16_t)(b - s)))
                return s;
            e = b;
        }
        if (TCP_SEQ_GT(e, edge))
            return s;
        to_unsent(pcb, prev, seg);
        a = e;
    }
    return b;
}

/* Queues the holes between start and end (the scoreboard's blocks bound them), each once
 * three segments' worth is SACKed above it unless force; *reached: how far it went. */
static bool walk(struct netcore_stack *st, struct tcp_pcb *pcb, struct scoreboard *sb,
                 uint32_t start, uint32_t end, bool force, uint32_t edge, uint32_t *reached)
{
    uint16_t real = nc__offload_real_mss(st, pcb);
    bool queued = false;
    uint32_t above = 0; /* SACKed above the hole before block i */
    for (unsigned i = 0; i < sb->n; i++)
        above += sb->b[i].r - sb->b[i].l;
    for (unsigned i = 0; i < sb->n && TCP_SEQ_LT(start, end);
         above -= sb->b[i].r - sb->b[i].l, i++) {
        if (TCP_SEQ_GT(sb->b[i].l, start)) {
            if (above < 3u * real && !force)
                break;
            uint32_t stop = TCP_SEQ_LT(sb->b[i].l, end) ? sb->b[i].l : end;
            uint32_t got = queue_hole(pcb, start, stop, edge);
            if (got != start) {
                queued = true;
                start = got;
            }
            if (got != stop)
                break; /* the window, or a segment lwIP holds */
        }
        if (TCP_SEQ_GT(sb->b[i].r, start))
            start = sb->b[i].r;
    }
    *reached = start;
    return queued;
}

/*
 * A retransmission is judged lost when data sent after it is SACKed and it is not (or by the
 * timer, nc__rexmit_fire): the mark is the oldest retransmission not judged yet, so that the
 * holes resent since, at 5% loss on nearly every ACK, do not keep moving it (which left a lost
 * retransmission to wait until recovery ran dry: 16 MiB, 5% loss, episodes of ~90 ms at a
 * 12 ms RTT). What the mark covered and is not SACKed is resent again; retransmissions
 * after it are judged by the next mark.
 */
static bool holes(struct netcore_stack *st, struct tcp_pcb *pcb, bool force)
{
    struct scoreboard *sb = sb_get(pcb, false);
    if (sb == NULL || sb->n == 0 || !(pcb->flags & TF_INFR) || pcb->unacked == NULL)
        return false;
    uint16_t real = nc__offload_real_mss(st, pcb);
    tcpwnd_size_t wnd = pcb->cwnd < pcb->snd_wnd ? pcb->cwnd : pcb->snd_wnd;
    uint32_t edge = pcb->lastack + wnd;
    if (sb->marked && TCP_SEQ_GEQ(sb->b[sb->n - 1].r, sb->rxt_mark + 3u * real)) {
        sb->redo = true;
        sb->redo_end = sb->mark_high;
        sb->marked = false;
    }
    bool queued = false;
    uint32_t reached;
    if (sb->redo && TCP_SEQ_GT(sb->redo_end, pcb->lastack)) {
        queued = walk(st, pcb, sb, pcb->lastack, sb->redo_end, true, edge, &reached);
        if (TCP_SEQ_LT(reached, sb->redo_end))
            sb->redo_end = reached; /* the rest when the window allows */
        else
            sb->redo = false;
    } else {
        sb->redo = false;
    }
    uint32_t start = TCP_SEQ_GT(sb->high_rxt, pcb->lastack) ? sb->high_rxt : pcb->lastack;
    if (walk(st, pcb, sb, start, pcb->snd_nxt, force, edge, &reached)) {
        queued = true;
        sb->high_rxt = reached;
    }
    /* A new mark for what went out since the last: also when a judgement resent nothing
     * (what it covered was acknowledged meanwhile), else the retransmissions sent while it
     * stood would have none, and one of them lost waited for the retransmission timer
     * (16 MiB, 5% loss: 2-3 timeouts a run). Its clock starts now, later than they went out:
     * they are judged no sooner than they should be. */
    if (!sb->marked && (queued || TCP_SEQ_GT(sb->high_rxt, pcb->lastack))) {
        sb->rxt_mark = pcb->snd_nxt;
        sb->rxt_at = sys_now();
        sb->mark_high = TCP_SEQ_GT(sb->high_rxt, pcb->lastack) ? sb->high_rxt : pcb->lastack;
        sb->marked = true;
    }
    return queued;
}

void nc__rexmit_recovery(struct tcp_pcb *pcb, bool on, uint32_t high_rxt)
{
    struct scoreboard *sb = sb_get(pcb, false);
    if (sb == NULL)
        return;
    sb->high_rxt = high_rxt;
    sb->rxt_mark = pcb->snd_nxt;
    sb->rxt_at = sys_now();
    sb->mark_high = high_rxt;
    sb->marked = on;
    sb->redo = false;
}

uint32_t nc__rexmit_high(struct tcp_pcb *pcb)
{
    struct scoreboard *sb = sb_get(pcb, false);
    return sb != NULL ? sb->high_rxt : pcb->lastack;
}

bool nc__rexmit_sacked(const struct tcp_pcb *pcb, uint32_t *bytes)
{
    const struct scoreboard *sb = sb_ready ? tcp_ext_arg_get(pcb, sb_id) : NULL;
    if (sb == NULL)
        return false;
    uint32_t n = 0;
    for (unsigned i = 0; i < sb->n; i++) {
        uint32_t l = TCP_SEQ_GT(sb->b[i].l, pcb->lastack) ? sb->b[i].l : pcb->lastack;
        if (TCP_SEQ_GT(sb->b[i].r, l))
            n += sb->b[i].r - l;
    }
    *bytes = n;
    return true;
}

bool nc__rexmit_holes(struct netcore_stack *st, struct tcp_pcb *pcb)
{
    return holes(st, pcb, false);
}

/* Is there a hole below the highest SACKed byte that this recovery has not resent? */
static bool unrepaired(const struct scoreboard *sb, const struct tcp_pcb *pcb)
{
    uint32_t start = pcb->lastack;
    if ((pcb->flags & TF_INFR) && TCP_SEQ_GT(sb->high_rxt, start))
        start = sb->high_rxt;
    for (unsigned i = 0; i < sb->n; i++) {
        if (TCP_SEQ_GT(sb->b[i].l, start))
            return true;
        if (TCP_SEQ_GT(sb->b[i].r, start))
            start = sb->b[i].r;
    }
    return false;
}

bool nc__rexmit_timer(struct tcp_pcb *pcb, uint32_t srtt, uint32_t *due)
{
    struct scoreboard *sb = sb_get(pcb, false);
    if (sb == NULL || sb->n == 0 || pcb->unacked == NULL)
        return false;
    bool any = false;
    if (sb->marked && (pcb->flags & TF_INFR)) {
        *due = sb->rxt_at + srtt + srtt / 4 + 2;
        any = true;
    }
    if (unrepaired(sb, pcb)) {
        uint32_t d = sb->ack_at + srtt / 4 + 2;
        if (!any || TCP_SEQ_LT(d, *due))
            *due = d;
        any = true;
    }
    return any;
}

bool nc__rexmit_fire(struct netcore_stack *st, struct tcp_pcb *pcb, uint32_t srtt)
{
    struct scoreboard *sb = sb_get(pcb, false);
    if (sb == NULL || !(pcb->flags & TF_INFR))
        return false;
    uint32_t now = sys_now();
    if (sb->marked && TCP_SEQ_GEQ(now, sb->rxt_at + srtt + srtt / 4 + 2)) {
        sb->redo = true; /* what it resent is lost again */
        sb->redo_end = sb->mark_high;
        sb->marked = false;
    }
    sb->ack_at = now; /* not again before the next reordering window */
    return holes(st, pcb, true);
}
