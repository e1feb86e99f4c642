/* cmdq.c: the netstack's command queue (contract: cmdq.c). */
#ifndef NC_CMDQ_H
#define NC_CMDQ_H

#include <pthread.h>

struct nc_sock;

/*
 * cmdq: bounded multi-producer queue of commands for the netstack, woken by an eventfd.
 * Push fails with -EAGAIN when full. Each socket also has one intrusive "kick" slot
 * (nc__cmdq_kick) that never fails, so a close or a ring kick can never be lost.
 */
enum nc_cmd_type {
    NC_CMD_FN,      /* run fn(arg) under the stack lock */
    NC_CMD_TX,      /* socket's send ring has data or a shutdown/close is pending */
    NC_CMD_RX,      /* receiver freed space in the socket's receive ring */
};
struct nc_cmd {
    enum nc_cmd_type type;
    void (*fn)(void *arg);
    void *arg;
};
struct nc_cmdq {
    pthread_mutex_t mu;
    struct nc_cmd *slots;
    int cap, head, count;
    struct nc_sock *kick_head; /* intrusive list of kicked sockets */
    struct nc_sock **kick_tail;
    int efd;                   /* eventfd the netstack waits on */
};
/* cap commands and the eventfd: 0, -EINVAL, -ENOMEM or the eventfd's -errno. */
int nc__cmdq_init(struct nc_cmdq *q, int cap);
void nc__cmdq_destroy(struct nc_cmdq *q);
/* Queues c and wakes the netstack if the queue was idle; -EAGAIN when full. */
int nc__cmdq_push(struct nc_cmdq *q, const struct nc_cmd *c);
/* Adds what (NC_KICK_*) to s's kick slot, queued once; wakes the netstack if idle. */
void nc__cmdq_kick(struct nc_cmdq *q, struct nc_sock *s, unsigned what);
/* Pops one command (1), or one kicked socket into *ks with its kick bits (2), or 0. */
int nc__cmdq_pop(struct nc_cmdq *q, struct nc_cmd *c, struct nc_sock **ks, unsigned *what);
/* Forgets a socket's pending kick; used before the socket is freed. */
void nc__cmdq_forget(struct nc_cmdq *q, struct nc_sock *s);
/* Drains the eventfd, before the netstack runs what woke it. */
void nc__cmdq_clear_wake(struct nc_cmdq *q);

#endif /* NC_CMDQ_H */
