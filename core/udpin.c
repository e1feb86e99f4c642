/*
 * A guard around lwIP's udp_input, against an assertion of lwIP 2.1.3 that a peer reaches
 * from the wire and that aborts the process.
 *
 * lwipopts.h keeps LWIP_UDPLITE on, as Debian's build has it, so IPv4 and IPv6 hand UDP-Lite
 * datagrams (IP protocol 136) to udp_input, which checksums the bytes the datagram's coverage
 * field names (ip_chksum_pseudo_partial). A coverage larger than the datagram makes that sum run out of
 * packet with the length left above 0x7fff, and its assertion "delete me" (inet_chksum.c,
 * line 416) fails: one datagram from anyone on the link (found by the frames fuzzer;
 * tests/fuzz/regress/frames/udplite-coverage). RFC 3828
 * 3.1 says such a datagram MUST be discarded, so it is dropped here before lwIP sees it and
 * counted as malformed.
 *
 * Like tcpin.c's guard it sits on udp_input, after IPv4 reassembly and IPv6 extension
 * headers (p starts at the UDP header and holds the datagram): lwIP's udp.c is compiled with
 * its udp_input renamed nc__lwip_udp_input (lwip.am).
 */
#include "udpin.h"

#include <lwip/ip.h>
#include <lwip/pbuf.h>
#include <lwip/prot/udp.h>
#include <lwip/udp.h>

#include "hidden.h"
#include "stack.h"

/* lwIP's own udp_input, under the name lwip.am gives it */
void nc__lwip_udp_input(struct pbuf *p, struct netif *inp);

static void guard(struct pbuf *p, struct netif *inp) __attribute__((alias("udp_input")));

/* Called by netcore_start, as nc__tcpin_ours (see there). */
bool nc__udpin_ours(void)
{
    return nc__same_fn((void *)udp_input, (void *)guard);
}

NC_HIDDEN void udp_input(struct pbuf *p, struct netif *inp)
{
    if (ip_current_header_proto() == IP_PROTO_UDPLITE && p->len >= UDP_HLEN) {
        const struct udp_hdr *h = p->payload;
        if (lwip_ntohs(h->len) > p->tot_len) { /* the coverage, for UDP-Lite */
            struct netcore_stack *st = inp->state; /* our one interface's (netif.c) */
            st->stats.rx_dropped_malformed++;
            pbuf_free(p);
            return;
        }
    }
    nc__lwip_udp_input(p, inp);
}
