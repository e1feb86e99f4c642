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

#endif /* NC_RTO_H */
