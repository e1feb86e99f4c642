/*
 * share.c, shareop.c: the driver's side of a shared stack (share.h is the wire protocol).
 * keep.c hands the stack to a keeper.
 */
#ifndef NC_SHARESRV_H
#define NC_SHARESRV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "netcore.h"

struct netcore_stack;
struct nc_sock;
struct event;
struct nc_share_rep; /* share.h */

/* The server's fds sit in an epoll set of their own (epfd), watched by the event loop or
 * netcore_step. */
struct nc_share_conn {
    struct nc_share_conn *next;
    int fd;
    pid_t pid;
    uid_t uid;
    /* A CONNECT whose reply waits for the outcome, under the stack lock: */
    struct nc_sock *wait_sock;   /* the socket, or NULL; held (nc__sock_hold of wait_id)
                                    until answered or forgotten: its memory stays */
    int wait_id;
    int wait_fd;                 /* our copy of its program end: it lives meanwhile */
    uint32_t wait_seq;
    bool wait_ready;             /* the outcome is in (nc__share_sock_changed) */
};
struct nc_share {
    int epfd;                    /* the server's epoll set */
    int wake_efd;                /* waiting CONNECTs to answer */
    int spare_fd;                /* /dev/null, closed to accept a refusal when out of fds */
    struct event *ev;            /* epfd in the event loop (threaded stacks) */
    pthread_mutex_t mu;          /* one handler at a time */
    struct netcore_rendezvous rv; /* lock and listening socket, once serving */
    uid_t owner;                 /* the uid that claimed (the run directory's owner) */
    struct nc_share_conn *conns; /* changed under the stack lock */
    _Atomic int nconns;
    int max_conns;               /* connection cap: from RLIMIT_NOFILE (netcore_share_serve) */
    uint64_t refused, over_limit, dropped, bad;
    bool gone;                   /* fds closed in a forked child or a driver that handed over */
};
/* With the stack, after the event base (NULL in manual mode); at stop, before it goes. */
int nc__share_setup(struct netcore_stack *st);
void nc__share_teardown(struct netcore_stack *st);
/* The server's epoll fd (netcore_step polls it), or -1; its events, without the lock. */
int nc__share_epfd(struct netcore_stack *st);
void nc__share_events(struct netcore_stack *st);
/* A forked child: closes the server's fds (only close()). */
void nc__share_fork_child(struct netcore_stack *st);
/* The server's fds into out (a keeper keeps them); returns how many. */
int nc__share_fds(struct netcore_stack *st, int *out, int cap);

/* Sends rep on control connection fd, with pass_fd (>= 0) as SCM_RIGHTS; 0 or -errno (-EIO: a
 * short write). Never waits (MSG_DONTWAIT). */
int nc__share_reply(int fd, const struct nc_share_rep *rep, int pass_fd);
/* Forgets c (a waiting CONNECT's socket is put back), closes its fd and frees it. Takes the
 * stack lock. */
void nc__share_conn_close(struct netcore_stack *st, struct nc_share_conn *c);
/* Reads c's requests again (reading), or watches only for its hang-up (a reply waits). */
void nc__share_watch(struct netcore_stack *st, struct nc_share_conn *c, bool reading);
/* shareop.c: one request of connection c (epoll events ev); a waiting CONNECT's answer. */
void nc__share_request(struct netcore_stack *st, struct nc_share_conn *c, uint32_t ev);
void nc__share_connect_done(struct netcore_stack *st, struct nc_share_conn *c);

/* share.c: registers fd as a control connection of pid/uid (CHANNEL, accept); 0 or -errno
 * (fd still the caller's then). Takes the stack lock. */
int nc__share_conn_add(struct netcore_stack *st, int fd, pid_t pid, uid_t uid);
/* share.c: soft RLIMIT_NOFILE raised to the hard limit (a server, a keeper); the limit now. */
long nc__share_raise_nofile(void);

/* share.c: a relayed socket's state changed (a connect ended). Called under the stack lock
 * on whichever thread pumped: no netcore_* call from there. relay.c has a weak no-op. */
void nc__share_sock_changed(struct netcore_stack *st, struct nc_sock *s);

#endif /* NC_SHARESRV_H */
