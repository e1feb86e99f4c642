/*
 * A guard around lwIP's etharp_input, against a short ARP frame.
 *
 * lwIP 2.1.3's etharp_input reads the 28-byte ARP header in place without checking that the
 * frame holds it: a truncated ARP frame from anyone on the link makes it read past the end
 * of the received frame (ethernet_input checks only the Ethernet header), and the sender's
 * address it then takes into the ARP table comes from whatever lies after the frame on the
 * heap. Found by the frames fuzzer once lwIP itself was built with AddressSanitizer
 * (tests/fuzz/regress/frames/arp-short). Such a frame is dropped here and counted as
 * malformed; the kernel ignores an ARP packet shorter than its header too.
 *
 * Like tcpin.c's guard it sits in front of lwIP's function: lwIP's etharp.c is compiled with
 * its etharp_input renamed nc__lwip_etharp_input (lwip.am), so ethernet_input calls this one.
 */
#include "arpin.h"

#include <lwip/etharp.h>
#include <lwip/pbuf.h>
#include <lwip/prot/etharp.h>

#include "hidden.h"
#include "stack.h"

/* lwIP's own etharp_input, under the name lwip.am gives it */
void nc__lwip_etharp_input(struct pbuf *p, struct netif *netif);

static void guard(struct pbuf *p, struct netif *netif) __attribute__((alias("etharp_input")));

/* Called by netcore_start, as nc__tcpin_ours (see there). */
bool nc__arpin_ours(void)
{
    return nc__same_fn((void *)etharp_input, (void *)guard);
}

NC_HIDDEN void etharp_input(struct pbuf *p, struct netif *netif)
{
    /* lwIP reads the header from the first pbuf only: its length is what counts. */
    if (p->len < SIZEOF_ETHARP_HDR) {
        struct netcore_stack *st = netif->state; /* our one interface's (netif.c) */
        st->stats.rx_dropped_malformed++;
        pbuf_free(p);
        return;
    }
    nc__lwip_etharp_input(p, netif);
}
