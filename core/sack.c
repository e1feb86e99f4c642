/*
 * Selective acknowledgements (RFC 2018) on the receiving side, added to lwIP's frames on their
 * way out. Debian's lwIP is built without LWIP_TCP_SACK_OUT: a sender facing a netcore
 * receiver learns of one hole per round trip from duplicate ACKs, and with the large segments
 * of syn.c a flight is a handful of segments, so nearly every loss costs the kernel sender a
 * retransmission timeout (32 MiB from the kernel through 5% loss, 10 ms of delay and more:
 * 10-16 s, against 1.3-2.2 s between two kernels; 3.4-8 s with the blocks, and at a 1500-byte
 * MTU as fast as the kernel). lwIP keeps what arrives out of order on pcb->ooseq, so the
 * blocks are there to be reported:
 *  - our SYN offers SACK-permitted, and our SYN-ACK does when the peer's SYN did; the
 *    connection then carries TF_SACK, a flag lwIP's build leaves unused;
 *  - every pure ACK of such a connection whose out-of-order queue is not empty gets up to
 *    four SACK blocks, the one holding the segment that just arrived first.
 * Both grow the frame by a few bytes of options, so IP length and both checksums are redone.
 */
#include <string.h>

#include <lwip/priv/tcp_priv.h>
#include <lwip/tcp.h>

#include "internal.h"

#define MAX_BLOCKS 4 /* 36 bytes of options: no timestamps in this build */
/* The connection negotiated SACK: lwIP's own TF_SACK bit, which nothing in a build without
 * LWIP_TCP_SACK_OUT sets, tests or clears. */
#define NC_TF_SACK 0x1000U

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t sum)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        sum += (uint32_t)p[n - 1] << 8;
    return sum;
}

/* Inserts opt (a multiple of 4 bytes) at the end of the TCP header of the IPv4 packet ip, of
 * length len, and redoes lengths and checksums. Returns the new length. */
static size_t add_options(uint8_t *ip, size_t len, const uint8_t *opt, size_t n)
{
    size_t ihl = (size_t)(ip[0] & 0xf) * 4;
    uint8_t *tcp = ip + ihl;
    size_t doff = (size_t)(tcp[12] >> 4) * 4;
    memmove(tcp + doff + n, tcp + doff, len - ihl - doff);
    memcpy(tcp + doff, opt, n);
    tcp[12] = (uint8_t)(((doff + n) / 4) << 4 | (tcp[12] & 0x0f));
    len += n;
    ip[2] = (uint8_t)(len >> 8);
    ip[3] = (uint8_t)len;
    ip[10] = ip[11] = 0;
    uint16_t c = (uint16_t)~fold(sum16(ip, ihl, 0));
    ip[10] = (uint8_t)(c >> 8);
    ip[11] = (uint8_t)c;
    size_t tcplen = len - ihl;
    tcp[16] = tcp[17] = 0;
    uint32_t pseudo = sum16(ip + 12, 8, 0) + 6 + (uint32_t)tcplen;
    c = (uint16_t)~fold(sum16(tcp, tcplen, pseudo));
    tcp[16] = (uint8_t)(c >> 8);
    tcp[17] = (uint8_t)c;
    return len;
}

/* The connection sending the IPv4 packet ip. */
static struct tcp_pcb *find_pcb(struct netcore_stack *st, const uint8_t *ip,
                                const uint8_t *tcp)
{
    return nc__pcb_find_raw(st, false, ip + 16, (uint16_t)(tcp[2] << 8 | tcp[3]),
                            (uint16_t)(tcp[0] << 8 | tcp[1]));
}

/* The SYN lwIP is handling now answers with the SYN-ACK being sent: did it offer SACK? */
static bool syn_offered(const struct netcore_stack *st, const uint8_t *ip, const uint8_t *tcp)
{
    const struct nc_syn *syn = st->syn_rx;
    if (syn == NULL || syn->ack)
        return false;
    uint32_t raddr;
    memcpy(&raddr, ip + 16, 4);
    return !syn->v6 && memcmp(syn->saddr, &raddr, 4) == 0 &&
           syn->sport == (uint16_t)(tcp[2] << 8 | tcp[3]) &&
           syn->dport == (uint16_t)(tcp[0] << 8 | tcp[1]) && syn->sack;
}

/* Writes the SACK option for pcb's out-of-order queue into opt; returns its length. The range
 * holding the segment that just arrived comes first (RFC 2018), then the lowest others. */
static size_t blocks(const struct netcore_stack *st, const struct tcp_pcb *pcb, uint8_t *opt)
{
    /* The segment lwIP is handling, if it is this connection's (lwIP's callbacks may make
     * another connection send while it handles one). */
    const struct nc_tcpseg *in = st->rx_seg;
    if (in != NULL && (in->sport != pcb->remote_port || in->dport != pcb->local_port ||
                       !IP_IS_V4_VAL(pcb->remote_ip) ||
                       in->saddr != ip_2_ip4(&pcb->remote_ip)->addr))
        in = NULL;
    uint32_t l[MAX_BLOCKS], r[MAX_BLOCKS];
    int n = 1; /* slot 0 is for the newest range */
    bool newest = false;
    const struct tcp_seg *s = pcb->ooseq;
    while (s != NULL) {
        /* tcp_input turned the header of a received segment to host order. */
        uint32_t left = s->tcphdr->seqno, right = left + TCP_TCPLEN(s);
        for (s = s->next; s != NULL && TCP_SEQ_LEQ(s->tcphdr->seqno, right); s = s->next)
            if (TCP_SEQ_GT(s->tcphdr->seqno + TCP_TCPLEN(s), right))
                right = s->tcphdr->seqno + TCP_TCPLEN(s); /* contiguous: one range */
        int slot = n;
        if (!newest && in != NULL && in->len > 0 && TCP_SEQ_LEQ(left, in->seq) &&
            TCP_SEQ_LT(in->seq, right)) {
            slot = 0;
            newest = true;
        } else if (n < MAX_BLOCKS) {
            n++;
        } else {
            continue; /* no room: the highest ranges go unreported */
        }
        l[slot] = left;
        r[slot] = right;
    }
    int first = newest ? 0 : 1;
    if (n == first)
        return 0;
    opt[0] = opt[1] = 1; /* NOP NOP: the blocks stay 4-byte aligned */
    opt[2] = 5;
    opt[3] = (uint8_t)(2 + 8 * (n - first));
    uint8_t *b = opt + 4;
    for (int i = first; i < n; i++, b += 8) {
        b[0] = (uint8_t)(l[i] >> 24);
        b[1] = (uint8_t)(l[i] >> 16);
        b[2] = (uint8_t)(l[i] >> 8);
        b[3] = (uint8_t)l[i];
        b[4] = (uint8_t)(r[i] >> 24);
        b[5] = (uint8_t)(r[i] >> 16);
        b[6] = (uint8_t)(r[i] >> 8);
        b[7] = (uint8_t)r[i];
    }
    return 4 + 8 * (size_t)(n - first);
}

size_t nc__sack_out(struct netcore_stack *st, uint8_t *ip, size_t len, size_t cap)
{
    if (len < 40 || (ip[0] >> 4) != 4 || ip[9] != 6 || (size_t)(ip[2] << 8 | ip[3]) != len)
        return len;
    size_t ihl = (size_t)(ip[0] & 0xf) * 4;
    uint8_t *tcp = ip + ihl;
    if (len < ihl + 20)
        return len;
    size_t doff = (size_t)(tcp[12] >> 4) * 4;
    uint8_t flags = tcp[13];
    if (flags & 0x02) { /* SYN */
        static const uint8_t perm[4] = { 1, 1, 4, 2 };
        bool offer = !(flags & 0x10);
        if (!offer) {
            const struct tcp_pcb *pcb = find_pcb(st, ip, tcp);
            offer = syn_offered(st, ip, tcp) || (pcb != NULL && (pcb->flags & NC_TF_SACK));
        }
        if (!offer || doff + 4 > 60 || len + 4 > cap)
            return len;
        return add_options(ip, len, perm, sizeof(perm));
    }
    /* A pure ACK: ACK (and PSH) only, no data. */
    if ((flags & ~0x08) != 0x10 || len != ihl + doff)
        return len;
    const struct tcp_pcb *pcb = find_pcb(st, ip, tcp);
    if (pcb == NULL || !(pcb->flags & NC_TF_SACK) || pcb->ooseq == NULL)
        return len;
    uint8_t opt[4 + 8 * MAX_BLOCKS];
    size_t n = blocks(st, pcb, opt);
    /* Fewer blocks where options or the buffer have no room; n is 4 + 8 per block, and a
     * size_t taken below zero would reach add_options as a huge count. */
    while (n >= 12 && (doff + n > 60 || len + n > cap))
        n -= 8;
    if (n < 12 || doff + n > 60 || len + n > cap)
        return len;
    opt[3] = (uint8_t)(n - 2);
    return add_options(ip, len, opt, n);
}

void nc__sack_syn_done(struct tcp_pcb *pcb, const struct nc_syn *syn)
{
    /* We offer SACK in every SYN and answer an offer in every SYN-ACK: either way the
     * connection has it when the peer's SYN or SYN-ACK carried SACK-permitted. */
    if (syn->sack)
        tcp_set_flags(pcb, NC_TF_SACK);
}
