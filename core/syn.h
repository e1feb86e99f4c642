/* syn.c: handshake options for a fast link (large MSS). */
#ifndef NC_SYN_H
#define NC_SYN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct netcore_stack;
struct nc_frame;

struct nc_syn {
    bool v6;
    uint8_t saddr[16];           /* the sender's address as on the wire (IPv4: 4 bytes) */
    uint16_t sport, dport, mss;
    bool ack;                    /* SYN-ACK */
    bool sack;                   /* SACK-permitted offered */
};
void nc__syn_out(struct netcore_stack *st, uint8_t *ip, size_t len);
/* A received SYN (with or without ACK) of the frame: its handshake options into *out. */
bool nc__syn_in(const struct nc_frame *fr, struct nc_syn *out);
void nc__syn_tune(struct netcore_stack *st, const struct nc_syn *syn);
bool nc__syn_over_backlog(struct netcore_stack *st, const struct nc_syn *syn);

#endif /* NC_SYN_H */
