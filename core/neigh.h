/* neigh.c: a connect whose next hop never answers ARP or neighbour discovery. */
#ifndef NC_NEIGH_H
#define NC_NEIGH_H

struct netcore_stack;
struct nc_sock;

/* A connect of s has just sent its SYN: looked at again in NC_NEIGH_WAIT_MS. Lock held. */
void nc__neigh_watch(struct netcore_stack *st, struct nc_sock *s);
/* The timer off (the stack's end; a forked child's copy). */
void nc__neigh_stop(struct netcore_stack *st);

#endif /* NC_NEIGH_H */
