/*
 * Retransmission timing for lwIP's sender, in milliseconds.
 *
 * Debian's lwIP times retransmissions in ticks of its 500 ms slow timer. An RTT shorter than a
 * tick measures as 0 or 1 tick, the RTO settles at 2-3 ticks and backs off from there, so each
 * lost segment stalls a netcore sender for 1-1.5 s where the kernel waits 200 ms (measured
 * through 5% loss: 8 MiB took 32 s to send, 2.3 s to receive from the kernel; 1.7-5 s to
 * send with this timer). With the large segments of syn.c a flight is a handful of segments, three
 * duplicate ACKs rarely follow a loss, and nearly every loss waits for the RTO. So each
 * connection also gets a timer of its own (RFC 6298):
 *  - the RTT is sampled one segment at a time and never across a retransmission (Karn); the
 *    RTO is srtt + 4 rttvar, at least 200 ms as in Linux, 1 s before the first sample, and
 *    doubles on each expiry without progress;
 *  - on expiry netcore does what lwIP's slow timer does on its own: ssthresh reduced (by
 *    cc.c's rule), cwnd to one segment, every unacknowledged segment sent again (go-back-N).
 * It only ever fires sooner than lwIP's timer would: once the backed-off RTO reaches lwIP's
 * own, lwIP's timer takes over until the next progress, so a dead peer is given up on after
 * TCP_MAXRTX retransmissions on lwIP's schedule, as before.
 *
 * lwIP also counts duplicate ACKs the 4.4BSD way: an ACK older than one already seen, which
 * reordering on the path produces, resets the count, and fast retransmit never comes. Such an
 * ACK carries nothing new (RFC 793 lets it be ignored; Linux does), so a pure one is dropped
 * here before lwIP sees it.
 *
 * The state is kept per pcb in a table of its own, not in the socket: a connection the
 * program has closed still has its last send buffer to deliver. Entries of pcbs that left
 * the active list are swept when the timer runs or the table fills.
 */
#include "rto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lwip/priv/tcp_priv.h>
#include <lwip/tcp.h>
#include <lwip/sys.h>
#include <lwip/timeouts.h>

#include "cc.h"
#include "pcbmap.h"
#include "rexmit.h"
#include "rxframe.h"
#include "sock.h"
#include "stack.h"
#include "tcpin.h"

#define RTO_MIN 200u      /* ms, Linux's TCP_RTO_MIN */
#define RTO_INITIAL 1000u /* ms, before the first RTT sample (RFC 6298 2.1) */
#define RTO_OFF 0xff      /* backoff: lwIP's timer is the sooner one until progress */

struct nc_rto {
    const struct tcp_pcb *pcb; /* NULL: free */
    int next;                  /* hash chain or free list, -1 ends */
    uint32_t raddr;            /* the connection, to tell a new pcb at a freed one's address */
    uint16_t lport, rport;
    uint32_t lastack;          /* pcb->lastack when last looked at */
    uint32_t snd_max;          /* highest pcb->snd_nxt seen */
    uint32_t since;            /* sys_now() of the last progress, first send or expiry */
    uint32_t sample_seq;       /* an RTT sample ends when this is acknowledged ... */
    uint32_t sample_at;        /* ... and started then */
    int32_t srtt8, rttvar4;    /* ms scaled by 8 and by 4; srtt8 < 0: no sample yet */
    uint8_t nrtx;              /* pcb->nrtx when last looked at */
    uint8_t backoff;
    bool timing;               /* a sample is under way */
    bool seen;                 /* found on the active list by the current sweep */
    struct nc_cc cc;           /* congestion control's model (cc.c) */
};

struct nc_rto_tab {
    struct nc_rto *e;
    int *bucket;
    int cap, nbuckets, free, used;
    bool armed;                /* the check is in lwIP's timer list ... */
    uint32_t due;              /* ... for this sys_now() */
    int cc_default;            /* the kernel's congestion control, when a socket sets none */
};

static size_t hash(const struct tcp_pcb *pcb, int n)
{
    uintptr_t v = (uintptr_t)pcb;
    return (size_t)((v >> 4) ^ (v >> 12)) % (size_t)n;
}

int nc__rto_init(struct netcore_stack *st)
{
    struct nc_rto_tab *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -ENOMEM;
    /* One per socket; a connection still finishing after its socket closed takes one too,
     * and goes without when none is left (lwIP's own timer still covers it). */
    t->cap = st->cfg.max_sockets;
    t->nbuckets = t->cap;
    t->e = calloc((size_t)t->cap, sizeof(*t->e));
    t->bucket = malloc((size_t)t->nbuckets * sizeof(*t->bucket));
    if (t->e == NULL || t->bucket == NULL) {
        free(t->e);
        free(t->bucket);
        free(t);
        return -ENOMEM;
    }
    for (int i = 0; i < t->nbuckets; i++)
        t->bucket[i] = -1;
    for (int i = 0; i < t->cap; i++)
        t->e[i].next = i + 1 < t->cap ? i + 1 : -1;
    t->free = 0;
    t->cc_default = nc__cc_system_default();
    st->rto = t;
    return 0;
}

static void check(void *arg);

void nc__rto_free(struct netcore_stack *st)
{
    if (st->rto == NULL)
        return;
    /* lwIP's timer list outlives the stack (stack.c): leave nothing pointing at it. */
    if (st->rto->armed)
        sys_untimeout(check, st);
    free(st->rto->e);
    free(st->rto->bucket);
    free(st->rto);
    st->rto = NULL;
}

static struct nc_rto *find(struct nc_rto_tab *t, const struct tcp_pcb *pcb)
{
    for (int i = t->bucket[hash(pcb, t->nbuckets)]; i >= 0; i = t->e[i].next)
        if (t->e[i].pcb == pcb)
            return &t->e[i];
    return NULL;
}

static void drop(struct nc_rto_tab *t, struct nc_rto *r)
{
    int idx = (int)(r - t->e);
    int *link = &t->bucket[hash(r->pcb, t->nbuckets)];
    while (*link != idx)
        link = &t->e[*link].next;
    *link = r->next;
    r->pcb = NULL;
    r->next = t->free;
    t->free = idx;
    t->used--;
}

/* Forgets the pcbs not marked seen, then clears the marks. */
static void sweep_unseen(struct nc_rto_tab *t)
{
    for (int i = 0; i < t->cap; i++) {
        if (t->e[i].pcb != NULL && !t->e[i].seen)
            drop(t, &t->e[i]);
        t->e[i].seen = false;
    }
}

/* Forgets the pcbs that are no longer on lwIP's active list (closed, TIME-WAIT, freed). */
static void sweep(struct nc_rto_tab *t)
{
    for (struct tcp_pcb *p = tcp_active_pcbs; p != NULL; p = p->next) {
        struct nc_rto *r = find(t, p);
        if (r != NULL)
            r->seen = true;
    }
    sweep_unseen(t);
}

/* The congestion control pcb's socket set (TCP_CONGESTION; a connection not yet accepted
 * has its listener's), else the stack's; once the program closed the socket (no callback
 * argument), what the connection had (cur, if not 0), as the kernel keeps a socket's. */
static int algo(const struct nc_rto_tab *t, const struct tcp_pcb *pcb, int cur)
{
    const struct nc_sock *s = pcb->callback_arg;
    if (s == NULL)
        return cur != NC_CC_DEFAULT ? cur : t->cc_default;
    return s->opt.cc != NC_CC_DEFAULT ? s->opt.cc : t->cc_default;
}

/* The algorithm brought up to date; a change starts its model over. */
static void cc_sync(const struct nc_rto_tab *t, struct nc_rto *r, const struct tcp_pcb *pcb)
{
    int a = algo(t, pcb, r->cc.algo);
    if (a != r->cc.algo)
        nc__cc_reset(&r->cc, a, pcb);
}

static void reset(const struct nc_rto_tab *t, struct nc_rto *r, const struct tcp_pcb *pcb,
                  uint32_t now)
{
    r->raddr = ip_2_ip4(&pcb->remote_ip)->addr;
    r->lport = pcb->local_port;
    r->rport = pcb->remote_port;
    r->lastack = r->snd_max = pcb->lastack;
    r->since = now;
    r->srtt8 = -1;
    r->rttvar4 = 0;
    r->nrtx = pcb->nrtx;
    r->backoff = 0;
    r->timing = false;
    nc__cc_reset(&r->cc, algo(t, pcb, NC_CC_DEFAULT), pcb);
}

/*
 * The sequence counters picked up again where the pcb is, the path's estimates kept (the
 * smoothed round trip, bbr's rate and least round trip): the same tuple with a break in its
 * sequence numbers, either data lwIP's own timers sent and had acknowledged unseen (a
 * zero-window probe, a segment split for a small window: before, each persist episode
 * cost the connection its round-trip estimate, bbr's model and its rate, and a loss before
 * the next sample waited out the initial 1 s timeout), or a new connection of the same
 * tuple at a freed pcb's address, for which the last one's path figures are the best there
 * are (Linux keeps them per destination).
 */
static void resync(struct nc_rto *r, const struct tcp_pcb *pcb, uint32_t now)
{
    r->lastack = r->snd_max = pcb->lastack;
    r->since = now;
    r->nrtx = pcb->nrtx;
    r->backoff = 0;
    r->timing = false;
    nc__cc_resync(&r->cc, pcb);
}

/* The pcb's entry, made when missing; NULL when the table is full of live connections. */
static struct nc_rto *entry(struct nc_rto_tab *t, const struct tcp_pcb *pcb, uint32_t now)
{
    struct nc_rto *r = find(t, pcb);
    if (r != NULL) {
        /* A pcb freed and allocated again for another connection at the same address. */
        if (r->raddr != ip_2_ip4(&pcb->remote_ip)->addr || r->lport != pcb->local_port ||
            r->rport != pcb->remote_port)
            reset(t, r, pcb, now);
        else if (TCP_SEQ_LT(pcb->lastack, r->lastack) || TCP_SEQ_GT(pcb->lastack, r->snd_max))
            resync(r, pcb, now);
        return r;
    }
    if (t->free < 0)
        sweep(t);
    if (t->free < 0)
        return NULL;
    int idx = t->free;
    r = &t->e[idx];
    t->free = r->next;
    size_t h = hash(pcb, t->nbuckets);
    r->pcb = pcb;
    r->next = t->bucket[h];
    t->bucket[h] = idx;
    t->used++;
    reset(t, r, pcb, now);
    return r;
}

/* The timeout now in force, ms: RFC 6298's RTO doubled per expiry without progress. */
static uint32_t timeout(const struct nc_rto *r)
{
    uint32_t rto = RTO_INITIAL;
    if (r->srtt8 >= 0) {
        uint32_t var = r->rttvar4 > 0 ? (uint32_t)r->rttvar4 : 1;
        rto = (uint32_t)(r->srtt8 >> 3) + var;
    }
    if (rto < RTO_MIN)
        rto = RTO_MIN;
    for (int i = 0; i < r->backoff && rto < 120000; i++)
        rto *= 2;
    return rto;
}

static void sample(struct nc_rto *r, uint32_t m)
{
    if (r->srtt8 < 0) {
        r->srtt8 = (int32_t)(m << 3);
        r->rttvar4 = (int32_t)(m << 1);
        return;
    }
    int32_t err = (int32_t)m - (r->srtt8 >> 3);
    r->srtt8 += err;
    if (err < 0)
        err = -err;
    r->rttvar4 += err - (r->rttvar4 >> 2);
}

/* Catches up with what lwIP did to the connection since the last look. */
static void observe(struct nc_rto *r, const struct tcp_pcb *pcb, uint32_t now)
{
    if (pcb->nrtx != r->nrtx) {
        /* lwIP retransmitted by itself (fast retransmit, its own RTO): no RTT sample from
         * this flight, and the timer starts over as lwIP's did. */
        if (pcb->nrtx > r->nrtx) {
            r->timing = false;
            r->since = now;
        }
        r->nrtx = pcb->nrtx;
    }
    if (pcb->lastack != r->lastack) {
        if (r->timing && TCP_SEQ_GEQ(pcb->lastack, r->sample_seq)) {
            sample(r, now - r->sample_at);
            r->timing = false;
        }
        r->lastack = pcb->lastack;
        r->since = now;
        r->backoff = 0;
    }
    if (TCP_SEQ_GT(pcb->snd_nxt, r->snd_max)) {
        if (r->snd_max == r->lastack)
            r->since = now; /* the flight was empty: the timer starts with this send */
        if (!r->timing) {
            r->timing = true;
            r->sample_seq = pcb->snd_nxt;
            r->sample_at = now;
        }
        r->snd_max = pcb->snd_nxt;
    }
}

/* What lwIP's tcp_slowtmr does when its retransmission timer expires. */
static void expire(struct netcore_stack *st, struct nc_rto *r, struct tcp_pcb *pcb,
                   uint32_t now)
{
    r->since = now;
    bool first = !(pcb->flags & (TF_INFR | TF_RTO));
    nc__rexmit_cut(st, pcb);
    if (tcp_rexmit_rto_prepare(pcb) != ERR_OK)
        return;
    nc__cc_timeout(pcb, first, &r->cc);
    pcb->rtime = 0; /* lwIP's own timer starts over */
    nc__rexmit_recovery(pcb, false, pcb->lastack); /* go-back-N resends the holes anyway */
    tcp_rexmit_rto_commit(pcb);
    r->nrtx = pcb->nrtx;
    r->timing = false;
    r->backoff++;
    st->stats.rto_timeouts++;
}

/*
 * RACK's reordering timer (RFC 8985 6.2) for rexmit.c's scoreboard: a hole below SACKed data
 * that has waited a quarter of an RTT past the last SACK, however little is SACKed above it
 * (a flight's tail), or a retransmission no ACK confirmed a quarter of an RTT after its own
 * round trip (when the peer's window lets nothing new out after it, no SACK would tell). Both
 * would otherwise wait for the retransmission timer, 200 ms at least. *due: when.
 */
static bool lost_timer(const struct nc_rto *r, struct tcp_pcb *pcb, uint32_t *due)
{
    return r->srtt8 >= 0 && nc__rexmit_timer(pcb, (uint32_t)(r->srtt8 >> 3), due);
}

static void arm(struct netcore_stack *st, uint32_t due, uint32_t now)
{
    struct nc_rto_tab *t = st->rto;
    if (t->armed && TCP_SEQ_LEQ(t->due, due))
        return;
    if (t->armed)
        sys_untimeout(check, st);
    t->armed = true;
    t->due = due;
    sys_timeout(TCP_SEQ_GT(due, now) ? due - now : 1, check, st);
}

/*
 * The timer: fires what has expired, sweeps the table and sets itself for the next expiry.
 * Runs from sys_check_timeouts(), under the stack lock.
 */
static void check(void *arg)
{
    struct netcore_stack *st = arg;
    struct nc_rto_tab *t = st->rto;
    uint32_t now = sys_now(), next = 0;
    bool any = false;
    t->armed = false;
    for (struct tcp_pcb *p = tcp_active_pcbs; p != NULL; p = p->next) {
        struct nc_rto *r = find(t, p);
        if (r == NULL)
            continue;
        r->seen = true;
        if (p->state < ESTABLISHED || p->unacked == NULL || r->backoff == RTO_OFF)
            continue;
        observe(r, p, now);
        uint32_t lost_due;
        if (lost_timer(r, p, &lost_due) && TCP_SEQ_GEQ(now, lost_due)) {
            nc__tcpin_reorder(st, p, (uint32_t)(r->srtt8 >> 3));
            observe(r, p, now);
        }
        uint32_t due = r->since + timeout(r);
        if (lost_timer(r, p, &lost_due) && TCP_SEQ_LT(lost_due, due))
            due = TCP_SEQ_GT(lost_due, now) ? lost_due : now + 1;
        if (TCP_SEQ_GEQ(now, due)) {
            if (timeout(r) >= (uint32_t)p->rto * TCP_SLOW_INTERVAL) {
                r->backoff = RTO_OFF; /* lwIP's timer is sooner from here on */
                continue;
            }
            expire(st, r, p, now);
            due = now + timeout(r);
        }
        if (!any || TCP_SEQ_LT(due, next))
            next = due;
        any = true;
    }
    sweep_unseen(t);
    if (any)
        arm(st, next, now);
}

void nc__rto_output(struct netcore_stack *st, struct tcp_pcb *pcb)
{
    if (pcb == NULL || pcb->state < ESTABLISHED || pcb->state == TIME_WAIT)
        return;
    uint32_t now = sys_now();
    /* A connection gets an entry with its first data in flight. */
    struct nc_rto *r = pcb->snd_nxt != pcb->lastack ? entry(st->rto, pcb, now)
                                                     : find(st->rto, pcb);
    if (r == NULL)
        return;
    observe(r, pcb, now);
    cc_sync(st->rto, r, pcb); /* setsockopt may have changed it */
    /* bbr's samples, while data is in flight and until the model has seen it all land
     * (a receiving connection's ACKs carry nothing for it: no clock read for them). */
    if (r->cc.algo == NC_CC_BBR && (pcb->unacked != NULL || pcb->unsent != NULL ||
                                    r->cc.t0 != 0 || r->cc.timing))
        nc__cc_update(&r->cc, pcb, nc__mono_us());
    if (pcb->unacked == NULL || r->backoff == RTO_OFF)
        return;
    uint32_t due = r->since + timeout(r), lost_due;
    if (lost_timer(r, pcb, &lost_due) && TCP_SEQ_LT(lost_due, due))
        due = lost_due;
    arm(st, due, now);
}

struct nc_cc *nc__rto_cc(struct netcore_stack *st, const struct tcp_pcb *pcb)
{
    struct nc_rto *r = find(st->rto, pcb);
    if (r == NULL)
        return NULL;
    cc_sync(st->rto, r, pcb); /* setsockopt may have changed it */
    return &r->cc;
}

int nc__rto_cc_default(const struct netcore_stack *st)
{
    return st->rto->cc_default;
}

/*
 * The receive stage: the segment's one connection lookup, kept in the record for tcpin.c and
 * for after lwIP's input (pcbmap.c clears it if lwIP frees the pcb). A bare SYN has no
 * connection yet.
 */
bool nc__rto_input(struct netcore_stack *st, struct nc_frame *fr)
{
    struct nc_tcpseg *seg = &fr->tcp;
    if (!seg->tcp)
        return true;
    if ((seg->flags & 0x12) != 0x02)
        seg->pcb = nc__pcb_find_raw(st, seg->v6, fr->src, seg->sport, seg->dport);
    /* A pure ACK: ACK (and PSH) only, no data. */
    if ((seg->flags & ~0x08) != 0x10 || seg->len != 0)
        return true;
    struct tcp_pcb *pcb = seg->pcb;
    if (pcb == NULL || pcb->state < ESTABLISHED)
        return true;
    if (!TCP_SEQ_LT(seg->ack, pcb->lastack))
        return true;
    st->stats.stale_acks++;
    return false;
}

void nc__rto_input_done(struct netcore_stack *st, const struct nc_tcpseg *seg)
{
    if (seg->tcp)
        nc__rto_output(st, seg->pcb);
}
