/*
 * Large TCP segments on a large-MTU link. Debian's lwIP caps its MSS at 1460 both in what it
 * advertises and in what it sends (TCP_MSS), which keeps a 65000-byte TAP link at 1500-byte
 * frames and one system call per 1.4 KB. lwIP accepts segments larger than TCP_MSS, so we
 * (1) rewrite the MSS option of our outgoing SYN and SYN-ACK to the link's MTU - 40, fixing the
 * TCP checksum incrementally (RFC 1624), so the peer sends large segments, and (2) after an
 * incoming SYN or SYN-ACK, raise the pcb's send MSS to what the peer advertised, capped by
 * our MTU, so lwIP sends large segments too.
 */
#include <string.h>

#include <lwip/priv/tcp_priv.h>
#include <lwip/tcp.h>

#include "internal.h"

/* Finds the MSS option of a TCP SYN in an IPv4 packet; returns a pointer to its value. */
static uint8_t *mss_option(uint8_t *ip, size_t len, uint8_t **tcp_out)
{
    if (len < 20 || (ip[0] >> 4) != 4 || ip[9] != 6)
        return NULL;
    size_t ihl = (size_t)(ip[0] & 0xf) * 4;
    if ((ip[6] & 0x3f) != 0 || ip[7] != 0) /* a fragment */
        return NULL;
    if (len < ihl + 20)
        return NULL;
    uint8_t *tcp = ip + ihl;
    size_t doff = (size_t)(tcp[12] >> 4) * 4;
    if (!(tcp[13] & 0x02) || doff < 20 || len < ihl + doff)
        return NULL;
    *tcp_out = tcp;
    for (size_t i = 20; i < doff;) {
        uint8_t kind = tcp[i];
        if (kind == 0)
            break;
        if (kind == 1) {
            i++;
            continue;
        }
        if (i + 1 >= doff || tcp[i + 1] < 2 || i + tcp[i + 1] > doff)
            break;
        if (kind == 2 && tcp[i + 1] == 4)
            return tcp + i + 2;
        i += tcp[i + 1];
    }
    return NULL;
}

void nc__mss_rewrite_out(struct netcore_stack *st, uint8_t *ip, size_t len)
{
    uint8_t *tcp;
    uint8_t *opt = mss_option(ip, len, &tcp);
    if (opt == NULL)
        return;
    uint16_t old = (uint16_t)(opt[0] << 8 | opt[1]);
    uint16_t mss = (uint16_t)(st->dev.mtu - 40);
    if (mss <= old)
        return;
    opt[0] = (uint8_t)(mss >> 8);
    opt[1] = (uint8_t)mss;
    /* RFC 1624: HC' = ~(~HC + ~m + m'). The option sits at an even offset. */
    uint32_t sum = (uint16_t)~(tcp[16] << 8 | tcp[17]);
    sum += (uint16_t)~old;
    sum += mss;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    uint16_t c = (uint16_t)~sum;
    tcp[16] = (uint8_t)(c >> 8);
    tcp[17] = (uint8_t)c;
}

uint16_t nc__mss_peek_syn(const uint8_t *ip, size_t len, uint16_t *sport, uint16_t *dport)
{
    uint8_t *tcp;
    const uint8_t *opt = mss_option((uint8_t *)ip, len, &tcp);
    if (opt == NULL)
        return 0;
    *sport = (uint16_t)(tcp[0] << 8 | tcp[1]);
    *dport = (uint16_t)(tcp[2] << 8 | tcp[3]);
    return (uint16_t)(opt[0] << 8 | opt[1]);
}

void nc__mss_raise(struct netcore_stack *st, uint16_t peer_mss, uint16_t lport, uint16_t rport)
{
    uint16_t cap = (uint16_t)(st->dev.mtu - 40);
    uint16_t mss = peer_mss < cap ? peer_mss : cap;
    for (struct tcp_pcb *p = tcp_active_pcbs; p != NULL; p = p->next) {
        if (p->local_port == lport && p->remote_port == rport) {
            if (p->mss < mss) {
                p->mss = mss;
                /* lwIP sized the initial window for 1460-byte segments and never splits a
                 * queued segment to fit it: start with two of the new size (RFC 5681). */
                if (p->cwnd < 2 * (tcpwnd_size_t)mss)
                    p->cwnd = 2 * (tcpwnd_size_t)mss;
            }
            return;
        }
    }
}
