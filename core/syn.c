/*
 * TCP options of the handshake, tuned for a fast TAP link (and, with TAP offloads, the
 * super-segments of offload.c). lwIP's MSS is capped at 1460 (TCP_MSS), which keeps a
 * 65000-byte TAP link at 1500-byte frames. lwIP accepts larger segments, so:
 *  - on the way out, the MSS option of our SYN and SYN-ACK is rewritten to the link's MTU
 *    less the IP and TCP headers (40 bytes over IPv4, 60 over IPv6), fixing the TCP checksum
 *    incrementally (RFC 1624), so the peer sends large segments;
 *  - on the way in, after lwIP has handled a SYN or SYN-ACK, the pcb's send MSS is raised to
 *    what the peer advertised (capped by our MTU).
 * The large receive window is lwIP's own (TCP_WND and TCP_RCV_SCALE in lwipopts.h).
 */
#include "syn.h"

#include <string.h>

#include <lwip/priv/tcp_priv.h>
#include <lwip/tcp.h>

#include "cc.h"
#include "netcore.h"
#include "offload.h"
#include "pcbmap.h"
#include "rxframe.h"
#include "shimapi.h"
#include "sock.h"
#include "stack.h"

/* The smallest real MSS sent as GSO super-segments (offload.c). */
#define TSO_MIN_MSS 88

struct syn_opts {
    uint8_t *tcp;   /* TCP header */
    uint8_t *mss;   /* value of the MSS option, or NULL */
    bool sack;      /* SACK-permitted */
};

/* IP and TCP headers, without options. */
static unsigned headers(bool v6)
{
    return v6 ? 60 : 40;
}

/*
 * Finds the options of our own TCP SYN (with or without ACK) in an IPv4 packet, or in an
 * IPv6 packet whose next header is TCP (lwIP sends no extension headers).
 */
static bool parse_syn(uint8_t *ip, size_t len, struct syn_opts *o)
{
    size_t ihl;
    if (len >= 40 && (ip[0] >> 4) == 6) {
        if (ip[6] != 6)
            return false;
        ihl = 40;
    } else {
        if (len < 20 || (ip[0] >> 4) != 4 || ip[9] != 6)
            return false;
        ihl = (size_t)(ip[0] & 0xf) * 4;
        if ((ip[6] & 0x3f) != 0 || ip[7] != 0) /* a fragment */
            return false;
    }
    if (len < ihl + 20)
        return false;
    uint8_t *tcp = ip + ihl;
    size_t doff = (size_t)(tcp[12] >> 4) * 4;
    if (!(tcp[13] & 0x02) || doff < 20 || len < ihl + doff)
        return false;
    size_t mss_at;
    o->tcp = tcp;
    nc__tcp_opts(tcp, doff, &mss_at, &o->sack);
    o->mss = mss_at != 0 ? tcp + mss_at : NULL;
    return true;
}

/* Replaces the 16-bit word at TCP offset off (even) and fixes the checksum (RFC 1624). */
static void set_word(uint8_t *tcp, size_t off, uint16_t val)
{
    uint16_t old = (uint16_t)(tcp[off] << 8 | tcp[off + 1]);
    tcp[off] = (uint8_t)(val >> 8);
    tcp[off + 1] = (uint8_t)val;
    uint32_t sum = (uint16_t)~(tcp[16] << 8 | tcp[17]);
    sum += (uint16_t)~old;
    sum += val;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    uint16_t c = (uint16_t)~sum;
    tcp[16] = (uint8_t)(c >> 8);
    tcp[17] = (uint8_t)c;
}

void nc__syn_out(struct netcore_stack *st, uint8_t *ip, size_t len)
{
    struct syn_opts o;
    if (!parse_syn(ip, len, &o))
        return;
    if (o.mss != NULL && st->dev.mtu > 1500) {
        uint16_t old = (uint16_t)(o.mss[0] << 8 | o.mss[1]);
        uint16_t mss = (uint16_t)(st->dev.mtu - headers((ip[0] >> 4) == 6));
        if (mss > old)
            set_word(o.tcp, (size_t)(o.mss - o.tcp), mss);
    }
}

bool nc__syn_in(const struct nc_frame *fr, struct nc_syn *out)
{
    const struct nc_tcpseg *t = &fr->tcp;
    if (!t->tcp || !(t->flags & 0x02))
        return false;
    out->v6 = fr->ver == 6;
    memcpy(out->saddr, fr->src, sizeof(out->saddr));
    out->sport = t->sport;
    out->dport = t->dport;
    out->mss = t->mss;
    out->ack = (t->flags & 0x10) != 0;
    out->sack = t->sack;
    return true;
}

/*
 * A connection request for a listener whose accept queue, counting handshakes under way,
 * is full: the kernel drops such a SYN (the client retries), and so do we. lwIP would answer
 * every SYN (its backlog option is off in Debian's build), growing without bound under a
 * SYN flood.
 */
bool nc__syn_over_backlog(struct netcore_stack *st, const struct nc_syn *syn)
{
    if (syn->ack)
        return false;
    struct tcp_pcb_listen *l = tcp_listen_pcbs.listen_pcbs;
    while (l != NULL && l->local_port != syn->dport)
        l = l->next;
    if (l == NULL || l->callback_arg == NULL)
        return false;
    struct nc_sock *s = l->callback_arg;
    int queued = atomic_load(&s->lis.aq_count);
    for (struct tcp_pcb *p = tcp_active_pcbs; p != NULL && queued < s->lis.aq_cap; p = p->next)
        if (p->state == SYN_RCVD && p->local_port == syn->dport)
            queued++;
    if (queued < s->lis.aq_cap)
        return false;
    st->stats.accept_overflows++;
    nc__log(NETCORE_LOG_DEBUG, "port %u: accept queue full (%d), SYN dropped", syn->dport,
            s->lis.aq_cap);
    return true;
}

void nc__syn_tune(struct netcore_stack *st, const struct nc_syn *syn)
{
    /* A SYN-ACK's pcb is in the map from the segment's lookup (rto.c); a SYN's was made by
     * lwIP's input just now, at the head of the active list, where the lookup's walk starts. */
    struct tcp_pcb *p = nc__pcb_find_raw(st, syn->v6, syn->saddr, syn->sport, syn->dport);
    /* Once per connection: a SYN that lwIP takes on a connection tuned already (one spoofed
     * onto its addresses and ports, which lwIP answers with an ACK) changes nothing here. */
    if (p == NULL || p->mss > TCP_MSS)
        return;
    /* An active open: lwIP set its initial window on this SYN-ACK (a passive one's is set on
     * the handshake's last ACK, tcpin.c). */
    if (syn->ack && p->state == ESTABLISHED && p->snd_nxt == p->lastack)
        nc__cc_established(p);
    /* RFC 5681: the initial slow-start threshold "arbitrarily high". lwIP starts it at
     * TCP_SND_BUF (64 KiB), which ends slow start long before a fast path is full; a
     * threshold lwIP has already lowered after a loss stays. */
    if (p->ssthresh == TCP_SND_BUF)
        p->ssthresh = (tcpwnd_size_t)~(tcpwnd_size_t)0 >> 1;
    uint16_t cap = (uint16_t)(st->dev.mtu - headers(syn->v6));
    uint16_t mss = syn->mss < cap ? syn->mss : cap;
    if (st->dev.tso) {
        /* TSO (offload.c): lwIP cuts the stream into super-segments of whole real segments
         * and the kernel cuts them again at the real MSS, kept aside for it. Without an MSS
         * option the peer takes RFC 9293's defaults. lwIP counts its congestion window in
         * bytes but starts it, and after a timeout restarts it, at a few pcb->mss, and sends
         * nothing that does not fit: so the window starts at two super-segments, as below. */
        uint16_t real = syn->mss != 0 ? mss : (syn->v6 ? 1220 : 536);
        /* A peer asking for a tiny MSS gets segments of it as lwIP makes them: as a GSO size
         * it would have the kernel cut a super-segment into thousands of packets (Linux
         * itself refuses an MSS below 48: tcp_min_snd_mss). */
        if (real < TSO_MIN_MSS)
            return;
        nc__offload_mss_set(st, syn->v6, syn->saddr, syn->dport, syn->sport, real, cap);
        mss = nc__offload_super_mss(real);
    }
    if ((st->dev.tso || syn->mss > TCP_MSS) && p->mss < mss) {
        p->mss = mss;
        /* lwIP sized the initial window for 1460-byte segments and never splits a queued
         * segment to fit it: start with two of the new size (RFC 5681). */
        if (p->cwnd < 2 * (tcpwnd_size_t)mss)
            p->cwnd = 2 * (tcpwnd_size_t)mss;
    }
}
