/*
 * A guard around lwIP's udp_input, against an assertion of lwIP 2.1.3 that a peer reaches
 * from the wire and that aborts the process.
 *
 * Debian's liblwip is built with LWIP_UDPLITE, so IPv4 and IPv6 hand UDP-Lite datagrams (IP
 * protocol 136) to udp_input, which checksums the bytes the datagram's coverage field names
 * (ip_chksum_pseudo_partial). A coverage larger than the datagram makes that sum run out of
 * packet with the length left above 0x7fff, and its assertion "delete me" (inet_chksum.c,
 * line 416) fails: one datagram from anyone on the link (found by the frames fuzzer;
 * tests/fuzz/regress/frames/udplite-coverage). RFC 3828
 * 3.1 says such a datagram MUST be discarded, so it is dropped here before lwIP sees it and
 * counted as malformed.
 *
 * Like tcpin.c's guard it sits on the function lwIP calls through its PLT, after IPv4
 * reassembly and IPv6 extension headers: p starts at the UDP header and holds the datagram.
 */
#include <dlfcn.h>

#include <lwip/ip.h>
#include <lwip/pbuf.h>
#include <lwip/prot/udp.h>
#include <lwip/udp.h>

#include "internal.h"

static void (*lwip_udp_input)(struct pbuf *, struct netif *);

/* Called by netcore_start, as nc__tcpin_resolve (see there). */
void nc__udpin_resolve(void)
{
    if (lwip_udp_input == NULL)
        lwip_udp_input = (void (*)(struct pbuf *, struct netif *))dlsym(RTLD_NEXT, "udp_input");
}

void udp_input(struct pbuf *p, struct netif *inp)
{
    nc__udpin_resolve();
    if (ip_current_header_proto() == IP_PROTO_UDPLITE && p->len >= UDP_HLEN) {
        const struct udp_hdr *h = p->payload;
        if (lwip_ntohs(h->len) > p->tot_len) { /* the coverage, for UDP-Lite */
            if (nc__stack != NULL)
                nc__stack->stats.rx_dropped_malformed++;
            pbuf_free(p);
            return;
        }
    }
    lwip_udp_input(p, inp);
}
