/*
 * One received frame, parsed once (rxframe.c) into the record every receive stage reads.
 * (Named rxframe: the fuzz build puts core/ and tests/fuzz/ objects in one directory, and
 * tests/fuzz/frame.c has the plain name.)
 *
 *   nc__pump_device (netif.c: read, capture, injected loss)
 *     -> nc__frame_parse   link, IP and TCP headers, the virtio_net_hdr (offload.c):
 *                          every validity check, every drop counted
 *     -> nc__frame_dispatch
 *          -> nc__icmp_input / nc__icmp6_input   ICMP errors to errno (icmp.c)
 *          -> nc__syn_in, nc__syn_over_backlog   a SYN for a full accept queue (syn.c)
 *          -> nc__rto_input    the connection's pcb, found once (pcbmap.c); stale ACKs (rto.c)
 *          -> nc__netif_input  the frame into a pbuf, lwIP's input (netif.c)
 *          -> nc__syn_tune, nc__rto_input_done   after lwIP took it
 *
 * lwIP's own input cannot carry the record: the TCP part of the frame lwIP is taking in is
 * at st->rx_seg for tcpin.c while it does (the one piece of ambient state), and its pcb is
 * kept valid there by pcbmap.c.
 */
#ifndef NC_RXFRAME_H
#define NC_RXFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct netcore_stack;
struct tcp_pcb;

/* The TCP header of a frame, when it has a whole one (tcp). */
struct nc_tcpseg {
    bool tcp;                    /* a whole TCP header (IPv4 or IPv6, not a fragment) */
    bool v6;
    uint32_t saddr[4];           /* the sender as on the wire (IPv4: saddr[0]; tcpin.c matches
                                    it) */
    uint16_t sport, dport;
    uint32_t seq, ack;           /* host order */
    uint16_t wnd;                /* as on the wire, unscaled */
    uint8_t flags;               /* TCP_FIN ... TCP_CWR */
    uint16_t hlen;               /* header with options */
    size_t len;                  /* payload bytes */
    uint16_t mss;                /* SYN: the MSS option, 0 without one */
    bool sack;                   /* SYN: SACK-permitted */
    struct tcp_pcb *pcb;         /* IPv4: its active connection, or NULL (nc__rto_input;
                                    pcbmap.c keeps it valid) */
};

struct nc_frame {
    uint8_t *data;               /* the frame from its link header (TUN: the IP header); valid
                                    until lwIP's input, which may free it */
    size_t len;                  /* bytes read, without the virtio_net_hdr */
    const uint8_t *vnet;         /* the virtio_net_hdr read before it, or NULL */
    uint8_t ver;                 /* IP version 4 or 6; 0: ARP */
    uint8_t proto;               /* upper-layer protocol (IPv6: past extension headers) */
    bool frag;                   /* an IP fragment: no upper-layer header to read */
    bool frag_over;              /* an IPv6 fragment lwIP could not reassemble safely */
    uint16_t l3;                 /* offset of the IP header (or ARP) */
    uint16_t l4;                 /* offset of the upper-layer header; 0: none that fits */
    size_t ip_len;               /* the IP packet's length as its header says (Ethernet
                                    may pad the frame beyond it) */
    uint8_t src[16], dst[16];    /* IP addresses as on the wire (IPv4: 4 bytes) */
    bool vouched;                /* the kernel vouched for the TCP/UDP checksum (offload.c) */
    struct nc_tcpseg tcp;
};

/*
 * Checks and parses the frame f of len bytes (after the virtio_net_hdr vnet, or NULL) into
 * fr. false: drop it; counted already (malformed, foreign). Caller holds the stack lock.
 */
bool nc__frame_parse(struct netcore_stack *st, struct nc_frame *fr, const uint8_t *vnet,
                     uint8_t *f, size_t len);
/* Hands a parsed frame to each receive stage in turn, the last being lwIP's input. */
void nc__frame_dispatch(struct netcore_stack *st, struct nc_frame *fr);
/*
 * The options of a TCP header tcp of doff bytes: *mss_at the offset of the MSS option's
 * value (0: none), *sack SACK-permitted. For a received SYN and for our own (syn.c).
 */
void nc__tcp_opts(const uint8_t *tcp, size_t doff, size_t *mss_at, bool *sack);
/*
 * Walks the options of a TCP header tcp of doff bytes, *i from 20 (the first option): the
 * offset of the next option of two or more bytes (its kind at tcp[at], its length at
 * tcp[at + 1]), *i past it; NOPs are stepped over. 0 at the end of the list, at the end of
 * the header, or at an option whose length does not fit: what follows one cannot be read.
 */
size_t nc__tcp_opt_next(const uint8_t *tcp, size_t doff, size_t *i);

/* The stages, in their files. ICMP and ICMPv6 errors for the connections they quote. */
void nc__icmp_input(struct netcore_stack *st, const struct nc_frame *fr);
void nc__icmp6_input(struct netcore_stack *st, const struct nc_frame *fr);
/* offload.c, from nc__frame_parse: checks the virtio_net_hdr; false: drop the frame
 * (counted). Sets fr->vouched when the kernel vouches for the TCP/UDP checksum, and finishes
 * a partial one at a header the parse did not reach. */
bool nc__vnet_rx(struct netcore_stack *st, struct nc_frame *fr);
/* rto.c: the segment's pcb into fr->tcp.pcb; false to drop a pure ACK older than seen.
 * nc__rto_input_done after lwIP handled the segment. */
bool nc__rto_input(struct netcore_stack *st, struct nc_frame *fr);
void nc__rto_input_done(struct netcore_stack *st, const struct nc_tcpseg *seg);
/* netif.c: lwIP takes the frame in (false: it did not). */
bool nc__netif_input(struct netcore_stack *st, struct nc_frame *fr);

#endif
