/* stack.c: the netstack, its lock and what runs when the lock is let go. */
#ifndef NC_STACK_H
#define NC_STACK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cmdq.h"
#include "dev.h"
#include "netcore.h"
#include "offload.h"
#include "port.h"

struct event_base;
struct event;
struct netif;
struct pbuf;
struct nc_sock;
struct nc_stat_client;
struct nc_rto_tab;
struct nc_tcpseg;
struct nc_pcbmap;
struct nc_relay_tab;
struct nc_share;

struct netcore_stack {
    struct netcore_config cfg;
    int pcap_fd;                 /* NETCORE_PCAP capture file, or -1 */
    int stat_fd;                 /* NETCORE_STAT listening socket, or -1 (stat.c) */
    long long tap_drops0;        /* the device's tx_dropped when stats began, or -1 (stat.c) */
    char stat_path[108];
    struct event *ev_stat;
    struct nc_stat_client *stat_clients; /* dumps still being written (stat.c) */
    int stat_nclients;
    uint64_t stat_dropped;       /* stats clients given up: too many, or not reading */
    struct timespec started;
    pthread_mutex_t lock;        /* whoever holds it owns lwIP */
    pthread_t thread;
    bool threaded;
    bool dev_down;               /* the device went away: ENETDOWN from now on */
    bool netdown_pending;        /* connections still to fail with ENETDOWN */
    int port_unpriv;             /* ip_unprivileged_port_start: lower ports need a capability */
    uint16_t port_lo, port_hi;   /* ip_local_port_range: where port 0 binds (port.c) */
    struct nc_port_avoid port_avoid[NC_PORT_AVOID]; /* tuples a connect passes over (port.c) */
    int port_avoid_next;         /* the entry the next one takes (the oldest) */
    bool fin_ack_armed;          /* the timer of delayed FIN ACKs is set (tcp.c) */
    bool neigh_armed;            /* the timer of unresolved next hops is set (neigh.c) */
    _Atomic bool stopping;
    struct nc_dev dev;
    struct netif *netif;
    struct nc_cmdq cmdq;
    struct event_base *base;
    struct event *ev_dev, *ev_cmd, *ev_timer;
    uint32_t timer_due;          /* sys_now() when the armed timer fires; 0 if none */
    int dev_watch;               /* epoll set of the device for ev_dev, or -1 (devwatch.c) */
    _Atomic int spinners;        /* threads polling the device in nc__spin */
    bool tx_held;                /* a program thread under the lock sent: devwatch held */
    _Atomic int lazy;            /* a hold counted in spinners that no thread owns (devwatch.c) */
    _Atomic int sleepers;        /* program threads asleep in a wait netcore serves */
    _Atomic int holds_seen;      /* a hold was taken since the last linger tick */
    _Atomic int linger_ok;       /* the linger tick is running: a hold may be left lazy */
    _Atomic int linger_asked;    /* a hold asked the netstack thread to start the tick */
    _Atomic unsigned lazy_gen;   /* lazy holds left so far */
    unsigned tick_gen;           /* netstack thread: lazy_gen at the last tick */
    bool linger_on;              /* netstack thread: ev_linger is pending */
    struct event *ev_linger;
    int tx_answers;              /* frames the kernel answers it with, at most (devwatch.c) */

    struct nc_sock *_Atomic *socks; /* table, max_sockets entries */
    _Atomic int *refs;           /* per slot: API calls inside (nc__sock_hold) */
    struct nc_sock *_Atomic *zombie; /* per slot: freed socket waiting for its callers */
    int nsocks;
    struct netcore_stats stats;
    bool bindv6only;             /* the kernel's IPV6_V6ONLY default (net.ipv6.bindv6only) */
    struct nc_rto_tab *rto;      /* rto.c */
    struct nc_tcpseg *rx_seg;    /* the TCP segment lwIP is handling now, or NULL */
    bool ack_owed;               /* an ACK left pending until the batch ends (ackpol.c) */
    bool pumping;                /* inside nc__pump_device's batch (netif.c) */
    struct nc_sock *notify_list; /* sockets owed a notify at the batch's end (sock.c) */
    struct nc_pcbmap *pcbmap;    /* pcbmap.c */
    uint8_t *frame;              /* receive buffer, one frame */
    size_t frame_cap;
    struct nc_relay_tab *relays; /* relayed sockets (relay.c) */
    struct nc_share *share;      /* control connections of a shared stack (share.c) */
    bool keeping;                /* handed to a keeper (keep.c): fork handlers leave it be */
    struct nc_mss_ent mss_tab[NC_MSS_TAB]; /* offload.c */
    struct pbuf *rx_spare;       /* with offloads: the pbuf the next frame is read into
                                    (netif.c) */
};

/* CLOCK_MONOTONIC in microseconds: the machine's clock, never the tests' manual one. */
uint64_t nc__mono_us(void);
/* Takes the stack lock: whoever holds it owns lwIP and the sockets. */
void nc__lock(struct netcore_stack *st);
/* Lock held: runs what others left to the holder (queued commands, looped packets, relays,
 * ENETDOWN, devwatch's answers) and has the netstack thread re-arm its timer if needed. */
void nc__run_pending(struct netcore_stack *st);
/* Only releases the lock: after a section that changed nothing (reads). */
void nc__unlock(struct netcore_stack *st);
/* nc__run_pending, then nc__unlock: how a section that changed lwIP or a socket ends. */
void nc__run_pending_and_unlock(struct netcore_stack *st);
/* Lock held: runs the queued commands and the kicked sockets' TX and RX. */
void nc__run_queue(struct netcore_stack *st);
/* Hands work to whoever owns the stack: runs it now if the lock is free, else queues a kick. */
void nc__kick(struct netcore_stack *st, struct nc_sock *s, unsigned what);

/* The netstack thread ends (joined) and starts again (keep.c). */
void nc__thread_stop(struct netcore_stack *st);
int nc__thread_start(struct netcore_stack *st);
/* Some connection still has data to deliver. Caller holds the lock. */
bool nc__undelivered(struct netcore_stack *st);

/*
 * lwIP is one per process, and so is the stack it runs on: set by netcore_start (which
 * refuses a second), cleared by netcore_stop and by netcore_fork_forget in a child. Not for
 * the data path, which gets the stack from lwIP: the netif's state, a pcb's socket (->st).
 */
extern struct netcore_stack *nc__stack;

#endif /* NC_STACK_H */
