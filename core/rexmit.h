/* rexmit.c: what lwIP retransmits: SACK scoreboard, recovery, RACK's reordering timer. */
#ifndef NC_REXMIT_H
#define NC_REXMIT_H

#include <stdbool.h>
#include <stdint.h>

struct netcore_stack;
struct tcp_pcb;

/* Under the stack lock; st is pcb's stack (offload.c keeps its real MSS). */
/* Before lwIP retransmits the head of pcb's unacked queue, cut it to what the
 * peer lacks: its acknowledged front dropped, one real MSS kept (the rest queued behind). */
void nc__rexmit_cut(struct netcore_stack *st, struct tcp_pcb *pcb);
/* The SACK blocks of an ACK for pcb's scoreboard; in fast recovery, queue every
 * hole the scoreboard shows lost and not yet resent (true: some were; tcp_output sends them);
 * recovery begins (on, with what is resent already) or ends; how far it resent. */
void nc__rexmit_sack(struct tcp_pcb *pcb, uint32_t ackno, const uint32_t (*blocks)[2],
                     unsigned nblocks);
bool nc__rexmit_holes(struct netcore_stack *st, struct tcp_pcb *pcb);
void nc__rexmit_recovery(struct tcp_pcb *pcb, bool on, uint32_t high_rxt);
uint32_t nc__rexmit_high(struct tcp_pcb *pcb);
/* When RACK's reordering timer of pcb is due (rto.c runs it; srtt in ms): a hole
 * the SACK blocks show and nothing resent, or a retransmission unconfirmed; in recovery, what
 * it does when it fires (true: holes were queued, to send). */
bool nc__rexmit_timer(struct tcp_pcb *pcb, uint32_t srtt, uint32_t *due);
bool nc__rexmit_fire(struct netcore_stack *st, struct tcp_pcb *pcb, uint32_t srtt);
/* The bytes pcb's scoreboard holds SACKed above the cumulative ACK; false when the
 * connection has no scoreboard (a peer without SACK, or no block seen yet). */
bool nc__rexmit_sacked(const struct tcp_pcb *pcb, uint32_t *bytes);

#endif /* NC_REXMIT_H */
