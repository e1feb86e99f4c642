/* syn.c: handshake options for a fast link (large MSS). */
#ifndef NC_SYN_H
#define NC_SYN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct netcore_stack;
struct nc_frame;

/* A SYN's or SYN-ACK's handshake options, read before lwIP handles it (nc__syn_in). */
struct nc_syn {
    bool v6;
    uint8_t saddr[16];           /* the sender's address as on the wire (IPv4: 4 bytes) */
    uint16_t sport, dport, mss;
    bool ack;                    /* SYN-ACK */
    bool sack;                   /* SACK-permitted offered */
};
/* Our SYN or SYN-ACK going out (the IP packet ip, len bytes): its MSS option raised to
 * the link's MTU less the headers, the checksum fixed. Other packets pass unchanged. */
void nc__syn_out(struct netcore_stack *st, uint8_t *ip, size_t len);
/* A received SYN (with or without ACK) of the frame: its handshake options into *out. */
bool nc__syn_in(const struct nc_frame *fr, struct nc_syn *out);
/* After lwIP handled the SYN or SYN-ACK syn: the connection's send MSS raised to what the
 * peer asked for (capped by the link; with TSO, its super-segment MSS), once. */
void nc__syn_tune(struct netcore_stack *st, const struct nc_syn *syn);
/* A connection request for a listener whose accept queue, with the handshakes under way,
 * is full: drop it, as the kernel does (counted). */
bool nc__syn_over_backlog(struct netcore_stack *st, const struct nc_syn *syn);

#endif /* NC_SYN_H */
