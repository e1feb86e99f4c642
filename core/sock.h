/*
 * sock.c, tcp.c, udp.c: struct nc_sock and the socket calls of the core, together until the
 * socket and tcp.c are split per protocol.
 */
#ifndef NC_SOCK_H
#define NC_SOCK_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "ring.h"
#include "sockopt.h"

struct netcore_stack;
struct nc_relay;     /* relay.c */
struct pbuf;
struct ip_pcb;
struct tcp_pcb;
struct udp_pcb;

/* socket */
enum nc_state {
    NC_ST_NEW,
    NC_ST_BOUND,
    NC_ST_LISTEN,
    NC_ST_CONNECTING,
    NC_ST_CONNECTED,
    NC_ST_CLOSED,   /* connection ended: reset, error, or both directions closed */
};

#define NC_KICK_TX 0x1u
#define NC_KICK_RX 0x2u

struct nc_dgram {
    struct nc_dgram *next;
    union nc_sockaddr from;
    size_t len;
    uint8_t data[];
};

struct nc_watch {
    struct nc_watch *next;
    int efd;
    unsigned events;
};

#define NC_MAX_GROUPS 20   /* groups per socket, as the kernel's igmp_max_memberships */

/* A TCP connection's part of a socket: its rings and the flags between the two sides of
 * them (tcpdata.c is the netstack's side, tcpapp.c and relay.c the program's). */
struct nc_tcp {
    _Atomic bool rx_full;        /* netstack holds data that did not fit in rx: kick RX */
    _Atomic bool tx_idle;        /* netstack will not look at tx until kicked: kick TX */
    _Atomic bool rx_eof;         /* peer sent FIN and everything before it is in rx */
    _Atomic bool fin_sent;
    bool fin_pending;            /* FIN arrived behind rx_pending */
    uint8_t rx_quick;            /* data segments acknowledged at once so far (ackpol.c) */
    bool connect_reported;       /* EINPROGRESS connect's outcome already reported */
    bool tx_nomem;               /* a relay found no memory for tx: on_poll retries */
    int icmp_error;              /* errno from an ICMP error that aborted the connect */
    bool neigh_due;              /* a connect's next hop to look at (neigh.c) */
    uint32_t syn_at;             /* sys_now() of the connect (neigh.c) */
    struct nc_ring tx, rx;
    pthread_mutex_t tx_mu, rx_mu; /* serialise app threads on one socket */
    struct pbuf *rx_pending;      /* received but not yet in rx (ring full), oldest first: */
    struct pbuf *rx_pend_last;    /* the received chains linked one behind the other */
    uint8_t *rx_coll_end;         /* rx_pend_last is a collapse buffer ending here (tcpdata.c),
                                   * or NULL */
};

/* A TCP listener's part: accepted sockets not yet taken by accept() (ids), under the stack
 * lock. */
struct nc_listen {
    int *aq;
    int aq_cap, aq_head;
    _Atomic int aq_count;
};

/* A UDP socket's part: received datagrams, under dq_mu (not the stack lock: recv never
 * waits for it), and its multicast groups. */
struct nc_udp {
    pthread_mutex_t dq_mu;
    struct nc_dgram *dq_head, **dq_tail;
    _Atomic int dq_count;
    size_t dq_bytes;
    uint64_t drops;              /* datagrams dropped on a full queue (netcore stat) */
    struct nc_group {            /* IP_ADD_MEMBERSHIP: groups this socket joined, room for */
        struct in_addr group, iface; /* NC_MAX_GROUPS from the first join (most sockets */
    } *groups;                   /* join none: 160 bytes of every socket before) */
    int ngroups;
};

/*
 * A socket: what every socket has, then its protocol's part, chosen by type at socket()
 * and never changed. A SOCK_STREAM socket has both TCP parts, not a union of them: a
 * listener goes back to an unconnected socket that may connect (reopen() in tcp.c, on
 * shutdown or connect(AF_UNSPEC)), and the connection part's mutexes live as long as the
 * socket, as program threads may hold them across that change.
 */
struct nc_sock {
    struct netcore_stack *st;    /* its stack: lwIP's callbacks get the socket as their arg */
    int id;
    int type;                    /* SOCK_STREAM or SOCK_DGRAM */
    int family;                  /* AF_INET or AF_INET6 */
    bool v6only;                 /* IPV6_V6ONLY: an AF_INET6 socket that takes no IPv4 */
    int efd;                     /* eventfd given to the program */
    _Atomic int state;           /* enum nc_state */
    _Atomic int so_error;        /* pending error (positive errno), read by SO_ERROR */
    _Atomic int conn_error;      /* sticky error of the connection (ECONNRESET...) */
    _Atomic bool nonblock;
    _Atomic bool rd_shut;        /* SHUT_RD by the program */
    _Atomic bool wr_shut;        /* SHUT_WR by the program: FIN after the send ring */
    _Atomic bool app_closed;
    _Atomic bool in_aq;          /* waits in a listener's accept queue: not the program's yet */
    _Atomic int wait_in, wait_out; /* poll/epoll waiters for readable / writable (eventfd) */
    _Atomic uint32_t seq;        /* futex word bumped by every notify (blocking calls) */
    struct nc_watch *watches;    /* extra eventfds, one per epoll registration */
    _Atomic int nwatches;
    pthread_mutex_t watch_mu;
    _Atomic int futex_waiters;
    bool notify_owed;            /* on the stack's notify_list (nc__sock_notify_later) */
    struct nc_sock *notify_next;
    struct nc_opts opt;          /* setsockopt's values (sockopt.c) */

    union {
        struct ip_pcb *ip;       /* the fields both kinds start with (lwIP's IP_PCB), as in
                                  * lwIP's own netconn */
        struct tcp_pcb *tcp;
        struct udp_pcb *udp;
    } pcb;
    union nc_sockaddr local, peer;
    union nc_sockaddr bound;     /* what the program bound (bound_user): a disconnect keeps */
    bool bound_user;             /* the address, and the port unless it was 0 */

    /* relayed (relay.c): another process holds the socket through a socketpair; set and
     * cleared under the stack lock */
    struct nc_relay *relay;

    /* cmdq kick slot */
    struct nc_sock *kick_next;
    unsigned kick_bits;
    bool kicked;

    union {
        struct {                 /* SOCK_STREAM */
            struct nc_tcp tcp;
            struct nc_listen lis;
        };
        struct nc_udp udp;       /* SOCK_DGRAM */
    };
};

/* sock.c */
/*
 * An API call holds the socket it works on, so a close in another thread (which frees the
 * socket once the netstack is done with it) cannot free it under the call.
 * Returns NULL for a bad or closed handle (the call's -EBADF); else the caller puts it back
 * with nc__sock_put on every way out.
 */
struct nc_sock *nc__sock_hold(struct netcore_stack *st, int id);
void nc__sock_put(struct netcore_stack *st, int id);
/* Releases a socket's memory and eventfd; caller holds the lock, nobody holds the socket. */
void nc__sock_final_free(struct netcore_stack *st, struct nc_sock *s);
/* Wakes every thread blocked on the socket (close). */
void nc__sock_wake(struct nc_sock *s);
int nc__sock_alloc(struct netcore_stack *st, int family, int type, struct nc_sock **out);
/* nc__sock_alloc for a program's socket(): *prog_fd is a descriptor of the program's on the
 * socket's eventfd, at the lowest free number, FD_CLOEXEC with cloexec; the caller's to close
 * (also when the socket is freed at once). */
int nc__sock_alloc_fd(struct netcore_stack *st, int family, int type, bool cloexec,
                      int *prog_fd, struct nc_sock **out);
/* nc__sock_alloc for a connection lwIP accepted: efd -1 until accept takes it. */
int nc__sock_alloc_conn(struct netcore_stack *st, int family, struct nc_sock **out);
/* A socket's eventfd, the stack's (high, FD_CLOEXEC), or -errno; with prog_fd, *prog_fd is
 * a descriptor of the program's on the same file at the lowest free number (FD_CLOEXEC with
 * cloexec), the caller's to close; -1 on failure. */
int nc__sock_make_efd(int *prog_fd, bool cloexec);
void nc__sock_free(struct netcore_stack *st, struct nc_sock *s);
unsigned nc__sock_ready(struct nc_sock *s);
/* Signals the eventfd if the current state satisfies what a waiter asked for. */
void nc__sock_notify(struct nc_sock *s);
/* Lock held: nc__sock_notify, but inside a device batch (nc__pump_device) only once per
 * socket, at the batch's end (nc__sock_notify_flush). */
void nc__sock_notify_later(struct nc_sock *s);
/* Lock held, at the end of a device batch: the notifications nc__sock_notify_later left. */
void nc__sock_notify_flush(struct netcore_stack *st);
void nc__sock_want(struct nc_sock *s, unsigned events, int delta);
/* The events registered with nc__sock_want that are ready now. */
unsigned nc__sock_wanted(struct nc_sock *s);
/* App side, after consuming: clears a stale eventfd signal nothing registered is ready for. */
void nc__sock_settle(struct nc_sock *s);
int nc__sock_watch(struct nc_sock *s, int efd, unsigned events);
int nc__sock_unwatch(struct nc_sock *s, int efd);
/* Waits for any of `events`; returns ready bits, 0, -EBADF, or -EINTR when a handler of the
 * program ran on this thread since the API call began (since: nc__crit_handled then). */
int nc__sock_wait(struct nc_sock *s, unsigned events, int timeout_ms, sig_atomic_t since);
int nc__sock_timeout(struct nc_sock *s, int flags, bool sending);
/* One deadline for a whole call that may wait several times, fixed at its first wait. */
int nc__left_ms(int64_t *deadline, int timeout_ms);
bool nc__spin(struct nc_sock *s, unsigned mask, int timeout_ms, sig_atomic_t since);

/* TCP: tcp.c, tcpdata.c, tcpapp.c (under the stack lock unless noted) */
/* tcp.c */
int nc__tcp_open(struct netcore_stack *st, struct nc_sock *s);
int nc__tcp_bind(struct netcore_stack *st, struct nc_sock *s, const union nc_sockaddr *a);
int nc__tcp_listen(struct netcore_stack *st, struct nc_sock *s, int backlog);
/* Takes the first connection of s's queue and gives it its eventfd (nc__sock_make_efd, with
 * prog_fd and cloexec): -EINVAL not listening, -EAGAIN nothing queued, or the eventfd's
 * error (-EMFILE...), the connection left queued, as the kernel's accept finds no fd first. */
int nc__tcp_accept(struct netcore_stack *st, struct nc_sock *s, int *prog_fd, bool cloexec,
                   int *newid);
/* a: where to, or NULL when the address was unusable for the reason bad (-EINVAL...): a
 * socket connected or connecting reports that first, as the kernel does. */
int nc__tcp_connect(struct netcore_stack *st, struct nc_sock *s, const union nc_sockaddr *a,
                    int bad);
/* tcpdata.c */
void nc__tcp_flush(struct netcore_stack *st, struct nc_sock *s);
void nc__tcp_refill(struct netcore_stack *st, struct nc_sock *s);
/* Frees what was received but never reached rx. */
void nc__tcp_rx_drop(struct nc_sock *s);
/* tcp.c */
int nc__tcp_shutdown(struct netcore_stack *st, struct nc_sock *s, bool rd, bool wr);
/* connect(AF_UNSPEC): drops any connection or listen; the socket is unconnected again. */
int nc__tcp_disconnect(struct netcore_stack *st, struct nc_sock *s);
void nc__tcp_close(struct netcore_stack *st, struct nc_sock *s);
/* tcpapp.c */
void nc__tcp_set_nodelay(struct nc_sock *s);
/* SO_KEEPALIVE and the TCP_KEEP* figures of s->opt into the pcb. */
void nc__tcp_set_keepalive(struct nc_sock *s);
/* IP_TTL and IP_TOS of s->opt into the pcb. */
void nc__tcp_apply_ip(struct nc_sock *s);
/* Bytes not yet acknowledged by the peer, or only those not yet sent (SIOCOUTQ[NSD]). */
int nc__tcp_queued(struct nc_sock *s, bool unsent_only);
/* The connection's MSS, 0 when not connected. */
int nc__tcp_mss(struct nc_sock *s);
/* What TCP_INFO reports, from lwIP's pcb (zeros when the connection is gone). */
struct nc_tcpinfo {
    int state;                   /* Linux TCP_* state number */
    unsigned mss, rto_us, rtt_us, rttvar_us, cwnd_segs, ssthresh, snd_wnd, rcv_wnd, retrans;
    unsigned unacked_segs;
};
void nc__tcp_info(struct nc_sock *s, struct nc_tcpinfo *ti);
/* tcp.c */
void nc__tcp_tw_cap(struct netcore_stack *st);
struct nc_frame;
/* Before lwIP's input: a SYN or RST for a tuple in TIME-WAIT ends it where Linux's would. */
void nc__tcp_tw_input(struct netcore_stack *st, const struct nc_frame *fr);
/* Cancels the timer of nc__tcp_fin_ack (lwIP's timer list outlives the stack). */
void nc__tcp_fin_ack_stop(struct netcore_stack *st);
/* The device went away: every connection of the program fails with ENETDOWN. */
void nc__tcp_netdown(struct netcore_stack *st);

/* tcpapp.c: the program's side, without the stack lock. */
ssize_t nc__tcp_send(struct netcore_stack *st, struct nc_sock *s, const void *buf, size_t len,
                     int flags);
ssize_t nc__tcp_recv(struct netcore_stack *st, struct nc_sock *s, void *buf, size_t len,
                     int flags);

/* udp.c (under the stack lock, but for nc__udp_recvfrom) */
int nc__udp_open(struct netcore_stack *st, struct nc_sock *s);
int nc__udp_bind(struct netcore_stack *st, struct nc_sock *s, const union nc_sockaddr *a);
int nc__udp_connect(struct netcore_stack *st, struct nc_sock *s, const union nc_sockaddr *a);
ssize_t nc__udp_sendto(struct netcore_stack *st, struct nc_sock *s, const void *buf,
                       size_t len, const union nc_sockaddr *to);
/* Returns the datagram's full length with MSG_TRUNC, else the bytes copied. */
ssize_t nc__udp_recvfrom(struct netcore_stack *st, struct nc_sock *s, void *buf, size_t len,
                         int flags, union nc_sockaddr *from);
void nc__udp_close(struct netcore_stack *st, struct nc_sock *s);
void nc__udp_apply_ip(struct nc_sock *s);
/* IP_ADD_MEMBERSHIP (join) or IP_DROP_MEMBERSHIP of group on the interface named by its
 * address iface or index ifindex. */
int nc__udp_membership(struct netcore_stack *st, struct nc_sock *s, struct in_addr group,
                       struct in_addr iface, int ifindex, bool join);
/* The socket has no port yet (IPV6_V6ONLY may still change). */
bool nc__udp_unbound(const struct nc_sock *s);

#endif /* NC_SOCK_H */
