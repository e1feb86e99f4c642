/* relay.c: relayed sockets, the driver's side (share.h). */
#ifndef NC_RELAY_H
#define NC_RELAY_H

#include <stdbool.h>
#include <stdint.h>

struct netcore_stack;
struct nc_sock;
struct nc_relay;
struct nc_relay_tab;
struct event;
struct event_base;

/*
 * An epoll set of the stack's own, as relay.c and share.c each keep one: *epfd a new epoll
 * fd (moved high, close-on-exec) and, given an event base (threaded stacks; NULL: manual
 * mode, netcore_step polls the fd), *ev its persistent read event calling cb(fd, what, arg).
 * Returns 0, or the negative errno with nothing left open (*epfd -1, *ev NULL).
 */
int nc__epwatch_open(struct event_base *base, void (*cb)(int, short, void *), void *arg,
                     int *epfd, struct event **ev);
/* Frees what nc__epwatch_open made, the event before its fd; either may be unset (-1, NULL). */
void nc__epwatch_close(int *epfd, struct event **ev);

/* Under the stack lock unless noted. */
/* At start, after the event base exists (NULL base: manual mode); at stop, after every
 * socket is freed. */
int nc__relay_setup(struct netcore_stack *st);
void nc__relay_teardown(struct netcore_stack *st);
/* The epoll fd of every relay's driver end (netcore_step polls it in manual mode), or -1. */
int nc__relay_epfd(struct netcore_stack *st);
/* Pumps the relays the epoll fd reports ready. */
void nc__relay_events(struct netcore_stack *st);
/* Relays whose socket changed (nc__sock_notify) wait to be pumped: true if any. */
bool nc__relay_pending(struct netcore_stack *st);
/* Pumps them (nc__run_pending, after the command queue). */
void nc__relay_run(struct netcore_stack *st);
/* nc__sock_notify of a relayed socket: pump it before the lock is let go. */
void nc__relay_notify(struct nc_sock *s);
/* The socket is being freed: closes its driver end (nc__sock_free). */
void nc__relay_detach(struct netcore_stack *st, struct nc_sock *s);
/* These take the stack lock themselves (share.c calls them unlocked). */
/* The id of the relayed socket whose program end is the same socket as fd, or -EBADF. */
int nc__relay_find(struct netcore_stack *st, int fd);
/* shutdown() of a relayed socket: SHUT_WR after what the program has written so far. */
int nc__relay_shutdown(struct netcore_stack *st, int id, int how);
/* The error a read that found EOF reports (-ECONNRESET...), taken once; else 0. */
int nc__relay_status(struct netcore_stack *st, int id);
/* Relayed sockets alive (no lock needed). */
int nc__relay_count(struct netcore_stack *st);
/* Datagrams from program ends dropped: malformed, or refused by the socket (no lock). */
uint64_t nc__relay_dropped(struct netcore_stack *st);
/* The fds the relays own (each driver end, then the epoll fd) into out; returns how many
 * (a keeper keeps them open). */
int nc__relay_fds(struct netcore_stack *st, int *out, int cap);
/* In a forked child: closes every fd the relays own; only close() (async-signal-safe). */
void nc__relay_fork_child(struct netcore_stack *st);

#endif /* NC_RELAY_H */
