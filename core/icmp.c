/*
 * ICMP and ICMPv6 errors to errno. lwIP 2.1 does not tell TCP or UDP about destination-
 * unreachable messages, so we read them on the way in: like the kernel, a connection still in
 * SYN-SENT fails at once (EHOSTUNREACH, ENETUNREACH, ECONNREFUSED...), and a connected UDP
 * socket gets the error on its next call. Established TCP connections ignore them (soft
 * errors). IPv6 follows the kernel's icmpv6_err_convert: a connected UDP socket only takes
 * the "fatal" codes (port unreachable, prohibited), the others being soft for it.
 */
#include "rxframe.h"

#include <errno.h>
#include <string.h>

#include <lwip/priv/tcp_priv.h>
#include <lwip/tcp.h>
#include <lwip/udp.h>

#include "pcbmap.h"
#include "sock.h"
#include "stack.h"

static int unreach_errno(uint8_t code)
{
    switch (code) {
    case 0:  return ENETUNREACH;   /* net unreachable */
    case 1:  return EHOSTUNREACH;  /* host unreachable */
    case 2:  return ENOPROTOOPT;   /* protocol unreachable */
    case 3:  return ECONNREFUSED;  /* port unreachable */
    case 6:  return ENETUNREACH;   /* destination net unknown */
    case 7:  return EHOSTDOWN;     /* destination host unknown */
    case 9:
    case 10:
    case 13: return EHOSTUNREACH;  /* administratively prohibited */
    default: return 0;             /* fragmentation needed and the rest: not an error here */
    }
}

/* ICMPv6 destination unreachable (type 1) codes, as the kernel converts them. */
static int unreach6_errno(uint8_t code, bool *fatal)
{
    *fatal = code == 1 || code >= 4;
    switch (code) {
    case 0:  return ENETUNREACH;   /* no route */
    case 1:  return EACCES;        /* administratively prohibited */
    case 2:                        /* beyond the scope of the source */
    case 3:  return EHOSTUNREACH;  /* address unreachable */
    case 4:  return ECONNREFUSED;  /* port unreachable */
    case 5:                        /* source address failed policy */
    case 6:  return EACCES;        /* reject route */
    default: return 0;
    }
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Whether a pcb's peer is dst, an IPv4 (4 bytes) or IPv6 (16 bytes) address as on the
 * wire. IPv6 compares without the zone, which our quoted packet does not carry. */
static bool peer_is(const ip_addr_t *peer, bool v6, const uint8_t *dst)
{
    if (v6)
        return IP_IS_V6_VAL(*peer) && memcmp(ip_2_ip6(peer)->addr, dst, 16) == 0;
    return IP_IS_V4_VAL(*peer) && memcmp(&ip_2_ip4(peer)->addr, dst, 4) == 0;
}

/*
 * Fails the connection (TCP in SYN-SENT) or, when udp, flags the connected UDP socket that
 * sent the packet quoted in an ICMP or ICMPv6 error: its protocol, our port, the destination
 * and its port.
 */
static void fail_sender(struct netcore_stack *st, bool v6, uint8_t proto, uint16_t sport,
                        const uint8_t *dst, uint16_t dport, int e, bool udp)
{
    if (proto == 6) {
        struct tcp_pcb *p = nc__pcb_find_raw(st, v6, dst, dport, sport);
        if (p == NULL || p->state != SYN_SENT)
            return;
        struct nc_sock *s = p->callback_arg;
        if (s != NULL)
            s->tcp.icmp_error = e;
        tcp_abort(p); /* on_err reports icmp_error */
    } else if (proto == 17 && udp) {
        for (struct udp_pcb *p = udp_pcbs; p != NULL; p = p->next) {
            if (p->local_port != sport || !(p->flags & UDP_FLAGS_CONNECTED) ||
                p->remote_port != dport || !peer_is(&p->remote_ip, v6, dst))
                continue;
            struct nc_sock *s = p->recv_arg;
            if (s != NULL) {
                atomic_store(&s->so_error, e);
                nc__sock_notify(s);
            }
            return;
        }
    }
}

/* The frame is ICMP over IPv4 with its header at fr->l4 (rxframe.c). */
void nc__icmp_input(struct netcore_stack *st, const struct nc_frame *fr)
{
    size_t len = fr->l3 + fr->ip_len - fr->l4; /* ICMP header and after */
    if (len < 8 + 20 + 8)
        return;
    const uint8_t *icmp = fr->data + fr->l4;
    if (icmp[0] != 3)
        return;
    int e = unreach_errno(icmp[1]);
    if (e == 0)
        return;
    const uint8_t *in = icmp + 8; /* the datagram we sent */
    size_t ihl2 = (size_t)(in[0] & 0xf) * 4;
    if (ihl2 < 20 || len < 8 + ihl2 + 8)
        return;
    uint16_t sport = be16(in + ihl2), dport = be16(in + ihl2 + 2);
    fail_sender(st, false, in[9], sport, in + 16, dport, e, true);
}

/* The frame is ICMPv6 with its header at fr->l4, past any extension headers (rxframe.c). */
void nc__icmp6_input(struct netcore_stack *st, const struct nc_frame *fr)
{
    /* the ICMPv6 header, the quoted IPv6 header and the quoted ports */
    size_t len = fr->l3 + fr->ip_len - fr->l4;
    if (len < 8 + 40 + 4)
        return;
    const uint8_t *icmp = fr->data + fr->l4;
    if (icmp[0] != 1)
        return;
    bool fatal;
    int e = unreach6_errno(icmp[1], &fatal);
    if (e == 0)
        return;
    const uint8_t *in = icmp + 8; /* the packet we sent; lwIP adds no extension headers */
    fail_sender(st, true, in[6], be16(in + 40), in + 24, be16(in + 42), e, fatal);
}
