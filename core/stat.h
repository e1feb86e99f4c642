/* stat.c: the stats socket (netcore stat). */
#ifndef NC_STAT_H
#define NC_STAT_H

#include <stdbool.h>

struct netcore_stack;

/* Opens it after the event base exists. */
void nc__stat_open(struct netcore_stack *st);
/* Closes the listening socket and the clients' (a forked child: nothing else). */
void nc__stat_release(struct netcore_stack *st, bool unlink_path);
/* Frees the clients' events and dumps; before the event base goes (netcore_stop). */
void nc__stat_free_clients(struct netcore_stack *st);
/* The stats socket and its clients' fds into out; returns how many (keep.c). */
int nc__stat_fds(struct netcore_stack *st, int *out, int cap);

#endif /* NC_STAT_H */
