/* tcpin.c: the guard in front of lwIP's tcp_input (see there). */
#ifndef NC_TCPIN_H
#define NC_TCPIN_H

#include <stdbool.h>
#include <stdint.h>

struct netcore_stack;
struct tcp_pcb;

/* Does lwIP's call reach the guard? */
bool nc__tcpin_ours(void);

/* RACK's reordering timer of pcb fired (rto.c runs it; srtt in ms): what recovery does
 * then (nc__rexmit_fire), and the segments go out. Under the lock of st, pcb's stack. */
void nc__tcpin_reorder(struct netcore_stack *st, struct tcp_pcb *pcb, uint32_t srtt);

#endif /* NC_TCPIN_H */
