/* rto.c: millisecond retransmission timer and stale-ACK filter for lwIP's sender. */
#ifndef NC_RTO_H
#define NC_RTO_H

struct netcore_stack;
struct tcp_pcb;

struct nc_rto_tab;
/* The table, one entry per socket; 0 or -ENOMEM. Freed (its timer stopped) by
 * nc__rto_free. */
int nc__rto_init(struct netcore_stack *st);
void nc__rto_free(struct netcore_stack *st);
/* After tcp_output on pcb outside lwIP's input. */
void nc__rto_output(struct netcore_stack *st, struct tcp_pcb *pcb);
/* pcb's congestion control state (cc.c), its algorithm brought up to date with its socket's;
 * NULL while it has never had data in flight, or the table was full. The stack's default
 * algorithm (an nc_cc_algo). */
struct nc_cc *nc__rto_cc(struct netcore_stack *st, const struct tcp_pcb *pcb);
int nc__rto_cc_default(const struct netcore_stack *st);

#endif /* NC_RTO_H */
