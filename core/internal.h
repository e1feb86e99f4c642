/* Private header of the core: shared types and cross-file functions (nc__*). */
#ifndef NC_INTERNAL_H
#define NC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "rxframe.h"
#include "shimapi.h"
#include "netcore.h"

struct event_base;
struct event;
struct pbuf;
struct tcp_pcb;
struct udp_pcb;
struct netif;
struct ip_addr; /* lwIP's ip_addr_t */
struct nc_relay;     /* relay.c */
struct nc_relay_tab;
struct nc_share;     /* share.c */
struct nc_share_rep; /* share.h */

/* ring: single-producer single-consumer byte ring; capacity is a power of two. The buffer
 * comes on demand and goes back when the ring stays empty (ring.c has the rules). */
struct nc_ring {
    uint8_t *buf;            /* NULL while the ring holds no memory */
    size_t cap;              /* 0 until sized */
    _Atomic size_t head;     /* total bytes written (producer) */
    _Atomic size_t tail;     /* total bytes read (consumer) */
    size_t mark;             /* head at the last nc__ring_idle */
};
/* Sizes the ring (cap a power of two, else -EINVAL); no memory yet. */
int nc__ring_init(struct nc_ring *r, size_t cap);
/* Producer, before writing: gives the ring its buffer if it has none. 0, -ENOMEM, or
 * -ENOBUFS when rings would then hold more than limit bytes in all (0: no limit). */
int nc__ring_alloc(struct nc_ring *r, size_t limit);
/* Gives the buffer back if the ring is empty; true if it did. The caller is one side of the
 * ring and keeps the other out (holds its mutex). */
bool nc__ring_release(struct nc_ring *r);
/* True if the ring holds a buffer, is empty, and nothing was written to it since the last
 * call (the netstack asks every poll interval: a ring idle for a whole one is released). */
bool nc__ring_idle(struct nc_ring *r);
/* Frees the buffer and unsizes the ring (the socket goes). */
void nc__ring_free(struct nc_ring *r);
/* Bytes of buffer rings hold now, in all; allocations refused so far. */
size_t nc__ring_held(void);
uint64_t nc__ring_refused(void);
/* Frees the buffers kept for the next connections (netcore_stop). */
void nc__ring_spare_flush(void);
size_t nc__ring_used(const struct nc_ring *r);
size_t nc__ring_space(const struct nc_ring *r);
size_t nc__ring_write(struct nc_ring *r, const void *src, size_t len);
size_t nc__ring_read(struct nc_ring *r, void *dst, size_t len);
size_t nc__ring_peek(const struct nc_ring *r, void *dst, size_t len);
/* Up to two contiguous readable spans, without consuming them. Returns the span count. */
int nc__ring_read_spans(const struct nc_ring *r, struct iovec sp[2]);
void nc__ring_consume(struct nc_ring *r, size_t len);
/* Up to two contiguous writable spans of at most max bytes in all, for the producer to fill
 * (readv straight into the ring); nc__ring_produce then publishes what it wrote. */
int nc__ring_write_spans(const struct nc_ring *r, struct iovec sp[2], size_t max);
void nc__ring_produce(struct nc_ring *r, size_t len);

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
int nc__cmdq_init(struct nc_cmdq *q, int cap);
void nc__cmdq_destroy(struct nc_cmdq *q);
int nc__cmdq_push(struct nc_cmdq *q, const struct nc_cmd *c);
void nc__cmdq_kick(struct nc_cmdq *q, struct nc_sock *s, unsigned what);
/* Pops one command (1), or one kicked socket into *ks with its kick bits (2), or 0. */
int nc__cmdq_pop(struct nc_cmdq *q, struct nc_cmd *c, struct nc_sock **ks, unsigned *what);
void nc__cmdq_forget(struct nc_cmdq *q, struct nc_sock *s);
void nc__cmdq_clear_wake(struct nc_cmdq *q);

/* device: one frame per read/write on an fd (TAP, TUN, wire). */
struct nc_dev {
    int fd;
    int index;        /* position in the TAP pool (0: cfg.ifname itself) */
    char name[IFNAMSIZ]; /* the device taken */
    bool is_eth;     /* Ethernet frames (TAP, wire) or bare IP packets (TUN) */
    int mtu;          /* IP MTU in use */
    unsigned ifindex; /* the scope id of our link-local addresses: the kernel's index of the
                         TAP/TUN (what if_nametoindex gives the program), 1 on the wire */
    size_t vnet;      /* bytes of virtio_net_hdr before every frame (0: plain frames) */
    bool tso;         /* the kernel takes TCP super-segments (TUN_F_TSO4/6) and partial
                         checksums from us, and hands us the same (offload.c) */
    bool csum;        /* the kernel takes partial TCP/UDP checksums (TUN_F_CSUM): lwIP leaves
                         them to it (offload.c) */
};
int nc__dev_open(const struct netcore_config *cfg, struct nc_dev *dev, char *err, size_t errlen);
void nc__dev_close(struct nc_dev *dev);

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

/*
 * addr.c: socket addresses at the API boundary. A program's sockaddr becomes an endpoint:
 * a union nc_sockaddr whose family is that of the address it names (AF_INET for IPv4, also
 * when an AF_INET6 socket gave it IPv4-mapped), checked, with scope ids validated.
 */
union nc_sockaddr {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
};

enum nc_addr_use { NC_ADDR_BIND, NC_ADDR_CONNECT, NC_ADDR_SENDTO };

struct nc_sock;
/*
 * Reads a sockaddr the program gave for use on socket s into an endpoint, with the kernel's
 * checks and errors for the socket's family (IPv4-mapped and, for UDP, AF_INET addresses on
 * an AF_INET6 socket mean IPv4; link-local needs our scope id; a bind address must be ours
 * or a wildcard; a destination must be on our links; a wildcard destination means us).
 */
int nc__addr_parse(const struct netcore_stack *st, const struct nc_sock *s,
                   const struct sockaddr *a, socklen_t len, enum nc_addr_use use,
                   union nc_sockaddr *ep);
/* "ADDR:PORT" for lwIP's address and port, "*" for the wildcard and port 0 (stat, logs). */
void nc__addr_str(char *out, size_t cap, const struct ip_addr *ip, uint16_t port);
/* lwIP's address of an endpoint of socket s (a wildcard: nc__addr_any); returns the port. */
uint16_t nc__addr_ip(const struct netcore_stack *st, const struct nc_sock *s,
                     const union nc_sockaddr *ep, struct ip_addr *ip);
/* What the program sees for lwIP's ip:port (NULL: the wildcard) on a socket of `family`. */
void nc__addr_make(const struct netcore_stack *st, int family, const struct ip_addr *ip,
                   uint16_t port, union nc_sockaddr *out);
/* Copies a to the program's buffer cut to *len; *len becomes the full size. */
int nc__addr_copyout(const union nc_sockaddr *a, struct sockaddr *out, socklen_t *len);
/* The wildcard a socket binds to: 0.0.0.0, "::" with IPV6_V6ONLY, else both families. */
const struct ip_addr *nc__addr_any(const struct nc_sock *s);
/* 0 if a pcb bound to local can send to dst, else the kernel's errno for it (negative). */
int nc__addr_reach(const struct nc_sock *s, const struct ip_addr *local,
                   const struct ip_addr *dst);

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
#define NC_DEFAULT_TTL 64 /* Linux's default IP_TTL, also ours (lwIP's own is 255) */

/*
 * What setsockopt recorded, read by getsockopt and by the TCP and UDP code. An accepted
 * connection starts with a copy of its listener's, as a kernel socket is cloned from it.
 */
struct nc_opts {
    int rcvtimeo_ms, sndtimeo_ms; /* 0: none */
    bool reuseaddr, reuseport, keepalive, nodelay, broadcast, oobinline, recverr, cork;
    bool linger_on;
    int linger_s;
    int priority, rcvlowat;
    int ttl;                     /* IP_TTL; -1: the default, NC_DEFAULT_TTL */
    int tos, pmtudisc;
    int mc_ttl;                  /* IP_MULTICAST_TTL */
    bool mc_loop;                /* IP_MULTICAST_LOOP: our own sockets hear what we send */
    struct in_addr mc_addr;      /* IP_MULTICAST_IF (there is one interface: only shown) */
    int user_mss, user_timeout;  /* TCP_MAXSEG (0: none), TCP_USER_TIMEOUT in ms */
    int keepidle, keepintvl, keepcnt; /* seconds, seconds, probes */
};

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
    struct nc_ring tx, rx;
    pthread_mutex_t tx_mu, rx_mu; /* serialise app threads on one socket */
    struct pbuf *rx_pending;      /* received but not yet in rx (ring full), oldest first: */
    struct pbuf *rx_pend_last;    /* the received chains linked one behind the other */
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
    struct nc_opts opt;          /* setsockopt's values (sockopt.c) */

    union {
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

/* The netstack. */
/* offload.c: connections whose real MSS is below the link's (the peer asked for less) */
#define NC_MSS_TAB 256
#define NC_MSS_PROBES 8
struct nc_mss_ent {
    uint8_t raddr[16];           /* remote address (IPv4: first 4 bytes) */
    uint16_t lport, rport;
    uint16_t mss;                /* 0: a free slot */
    bool v6;
};

struct netcore_stack {
    struct netcore_config cfg;
    int pcap_fd;                 /* NETCORE_PCAP capture file, or -1 */
    int stat_fd;                 /* NETCORE_STAT listening socket, or -1 (stat.c) */
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

    struct nc_sock *_Atomic *socks; /* table, max_sockets entries */
    _Atomic int *refs;           /* per slot: API calls inside (nc__sock_hold) */
    struct nc_sock *_Atomic *zombie; /* per slot: freed socket waiting for its callers */
    int nsocks;
    struct netcore_stats stats;
    bool bindv6only;             /* the kernel's IPV6_V6ONLY default (net.ipv6.bindv6only) */
    struct nc_rto_tab *rto;      /* rto.c */
    struct nc_tcpseg *rx_seg;    /* the TCP segment lwIP is handling now, or NULL */
    bool ack_owed;               /* an ACK left pending until the batch ends (ackpol.c) */
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

/* stack.c */
void nc__lock(struct netcore_stack *st);
/* Lock held: runs what others left to the holder (queued commands, looped packets, relays,
 * ENETDOWN, devwatch's answers) and has the netstack thread re-arm its timer if needed. */
void nc__run_pending(struct netcore_stack *st);
/* Only releases the lock: after a section that changed nothing (reads). */
void nc__unlock(struct netcore_stack *st);
/* nc__run_pending, then nc__unlock: how a section that changed lwIP or a socket ends. */
void nc__run_pending_and_unlock(struct netcore_stack *st);
void nc__run_queue(struct netcore_stack *st);
/* Hands work to whoever owns the stack: runs it now if the lock is free, else queues a kick. */
void nc__kick(struct netcore_stack *st, struct nc_sock *s, unsigned what);
int nc__pump_device(struct netcore_stack *st, int max_frames);
void nc__dev_down(struct netcore_stack *st, int why);
int nc__netif_setup(struct netcore_stack *st);
void nc__netif_teardown(struct netcore_stack *st);

/* ackpol.c: when received TCP data is acknowledged; under the stack lock */
/* In the recv callback, before the data goes to the socket: ACK due now or left pending. */
void nc__ack_recv(struct netcore_stack *st, struct nc_sock *s, struct tcp_pcb *pcb,
                  const struct pbuf *p);
/* At the end of a device batch: sends the pending ACKs. */
void nc__ack_flush(struct netcore_stack *st);

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
void nc__sock_free(struct netcore_stack *st, struct nc_sock *s);
unsigned nc__sock_ready(struct nc_sock *s);
/* Signals the eventfd if the current state satisfies what a waiter asked for. */
void nc__sock_notify(struct nc_sock *s);
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
int nc__tcp_accept(struct netcore_stack *st, struct nc_sock *s, int *newid);
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

/* syn.c: handshake options for a fast link (large MSS) */
struct nc_syn {
    bool v6;
    uint8_t saddr[16];           /* the sender's address as on the wire (IPv4: 4 bytes) */
    uint16_t sport, dport, mss;
    bool ack;                    /* SYN-ACK */
    bool sack;                   /* SACK-permitted offered */
};
void nc__syn_out(struct netcore_stack *st, uint8_t *ip, size_t len);
/* A received SYN (with or without ACK) of the frame: its handshake options into *out. */
bool nc__syn_in(const struct nc_frame *fr, struct nc_syn *out);
void nc__syn_tune(struct netcore_stack *st, const struct nc_syn *syn);
bool nc__syn_over_backlog(struct netcore_stack *st, const struct nc_syn *syn);

/* rto.c: millisecond retransmission timer and stale-ACK filter for lwIP's sender */
struct nc_rto_tab;
int nc__rto_init(struct netcore_stack *st);
void nc__rto_free(struct netcore_stack *st);
/* After tcp_output on pcb outside lwIP's input. */
void nc__rto_output(struct netcore_stack *st, struct tcp_pcb *pcb);

/* devwatch.c: the netstack thread sleeps on the device only while nobody spins on it */
int nc__devwatch_open(struct netcore_stack *st);
void nc__devwatch_close(struct netcore_stack *st);
/* In a keeper: a set of its own under the same number, armed, nobody spinning. */
void nc__devwatch_reset(struct netcore_stack *st);
/* A thread starts polling the device: frames wake the netstack thread no more. Returns
 * false when there is nothing to hold (no thread, no device); else release it after. */
bool nc__devwatch_hold(struct netcore_stack *st);
void nc__devwatch_release(struct netcore_stack *st);
/* The IP packet ip (len bytes of it at hand) is about to go out, the lock held: a program
 * thread sending a SYN, a FIN or a new connection's first data holds the device until it
 * unlocks. */
void nc__devwatch_tx(struct netcore_stack *st, const uint8_t *ip, size_t len);
/* In nc__run_pending: takes the answers to what was sent, then lets go of the hold. */
void nc__devwatch_settle(struct netcore_stack *st);
void nc__devwatch_drop(struct netcore_stack *st);

/* pcbmap.c: the active connection (SYN-SENT to LAST-ACK) of a segment, by hash */
struct nc_pcbmap;
int nc__pcbmap_init(struct netcore_stack *st);
void nc__pcbmap_free(struct netcore_stack *st);
/* Whether lwIP's memp_free calls reach pcbmap.c's (netcore_start checks). */
bool nc__pcbmap_ours(void);
/* Primes the map with a pcb whose addresses and ports are final. */
void nc__pcbmap_add(struct netcore_stack *st, struct tcp_pcb *pcb);
/* The active pcb from remote:rport to our lport (and local, unless NULL), or NULL. */
struct tcp_pcb *nc__pcb_find(struct netcore_stack *st, const struct ip_addr *remote,
                             uint16_t rport, uint16_t lport, const struct ip_addr *local);
/* The IPv4 packet ip (len bytes at hand) is one of the first data segments its connection
 * sends (counted here). */
bool nc__pcb_young_send(struct netcore_stack *st, const uint8_t *ip, size_t len);
/* The same for an address as on the wire: 4 bytes, or 16 when v6. */
struct tcp_pcb *nc__pcb_find_raw(struct netcore_stack *st, bool v6, const uint8_t *remote,
                                 uint16_t rport, uint16_t lport);

/* port.c: the port allocator of TCP and UDP (see there) */
struct ip_addr;
/* Reads the namespace's unprivileged port start and ephemeral range (netcore_start). */
void nc__port_setup(struct netcore_stack *st);
/* bind() to port needs a capability the calling thread lacks: the call's -EACCES. */
bool nc__port_privileged(const struct netcore_stack *st, uint16_t port);
/* The protocol's bind of pcb to ip:port, with its conflict check (ERR_USE: in use). */
typedef int8_t (*nc_port_bind_fn)(void *pcb, const struct ip_addr *ip, uint16_t port);
/* Binds pcb to ip:port through bind; port 0: a free ephemeral port. 0 or -errno
 * (-EADDRINUSE: the port is taken, or port 0 found the ephemeral range full). */
int nc__port_bind(struct netcore_stack *st, void *pcb, const struct ip_addr *ip, uint16_t port,
                  nc_port_bind_fn bind);

/* config.c: the limited broadcast address, or the broadcast address of our subnet */
bool nc__cfg_broadcast(const struct netcore_config *cfg, in_addr_t a);

/* sockopt.c */
void nc__opts_default(struct nc_opts *o);

/* errno.c */
int nc__err_to_errno(int lwip_err);

/* sys.c: raw syscalls, so the core never re-enters the preload shim (nc__raw_syscall,
 * nc__fd_high and the eventfd pair are in shimapi.h: the shim uses them too) */
int nc__sys_read(int fd, void *buf, size_t len);
int nc__sys_readv(int fd, const struct iovec *iov, int n);
int nc__sys_write(int fd, const void *buf, size_t len);
int nc__sys_send(int fd, const void *buf, size_t len, int flags);
int nc__sys_writev(int fd, const struct iovec *iov, int n);
int nc__sys_close(int fd);
int nc__sys_poll1(int fd, short events, int timeout_ms);
int nc__sys_eventfd(void);

extern struct netcore_stack *nc__stack; /* lwIP is a singleton: the running stack, or NULL */

/* tcpin.c, udpin.c: the guards in front of lwIP's tcp_input and udp_input (see there):
 * does lwIP's call reach the guard? */
bool nc__tcpin_ours(void);
bool nc__udpin_ours(void);
bool nc__arpin_ours(void); /* arpin.c: the same for etharp_input */
/* What lwIP calls through lwipopts.h and lwiphooks.h: does lwIP's call reach netcore's
 * function (chksum.c, iss.c, stack.c)? */
bool nc__chksum_ours(void);
bool nc__iss_ours(void);
/* Is the function the name resolves to (the dynamic linker's choice) the one at alias, a
 * local alias of the definition? Through volatile copies: clang folds the comparison of a
 * name with its own alias to "different" at compile time. */
/* For the functions netcore gives lwIP under lwIP's own names (tcp_input, udp_input,
 * etharp_input, memp_free, sys_now): libnetcore.so does not export them, so lwIP's calls bind
 * to netcore's inside the library, and a program that defines the same names (or loads
 * Debian's liblwip, whose calls would otherwise land in netcore's lwIP) keeps its own. */
#define NC_HIDDEN __attribute__((visibility("hidden")))
static inline bool nc__same_fn(void *name, void *alias)
{
    void *volatile a = name, *volatile b = alias;
    return a == b;
}

/* offload.c: the TAP's virtio_net_hdr (dev.c opens it; see offload.c) */
struct virtio_net_hdr;
/* Fills h for an outgoing frame f (head contiguous bytes of len); may make it a GSO frame. */
void nc__vnet_tx(struct netcore_stack *st, uint8_t *f, size_t head, size_t len,
                 struct virtio_net_hdr *h);
/* With TUN_F_CSUM: lwIP's TCP and UDP checksum generation off on the netif (offload.c). */
void nc__offload_csum_setup(struct netcore_stack *st);
/* Sums in software what lwIP left to the kernel but it cannot finish (p at the IP header). */
void nc__offload_csum_finish(struct netif *netif, struct pbuf *p);
/* The real MSS of a connection whose pcb->mss was raised (nc__offload_super_mss). */
void nc__offload_mss_set(struct netcore_stack *st, bool v6, const uint8_t *raddr,
                         uint16_t lport, uint16_t rport, uint16_t mss, uint16_t link_mss);
/* The pcb->mss for TSO: the most whole segments of real bytes in one 64 KB frame. */
uint16_t nc__offload_super_mss(uint16_t real);
/* A connection's real MSS, whatever syn.c made its pcb->mss. */
uint16_t nc__offload_real_mss(const struct tcp_pcb *pcb);
/* rexmit.c: before lwIP retransmits the head of pcb's unacked queue, cut it to what the
 * peer lacks: its acknowledged front dropped, one real MSS kept (the rest queued behind). */
void nc__rexmit_cut(struct tcp_pcb *pcb);
/* rexmit.c: the SACK blocks of an ACK for pcb's scoreboard; in fast recovery, queue every
 * hole the scoreboard shows lost and not yet resent (true: some were; tcp_output sends them);
 * recovery begins (on, with what is resent already) or ends; how far it resent. */
void nc__rexmit_sack(struct tcp_pcb *pcb, uint32_t ackno, const uint32_t (*blocks)[2],
                     unsigned nblocks);
bool nc__rexmit_holes(struct tcp_pcb *pcb);
void nc__rexmit_recovery(struct tcp_pcb *pcb, bool on, uint32_t high_rxt);
uint32_t nc__rexmit_high(struct tcp_pcb *pcb);
/* rexmit.c: when RACK's reordering timer of pcb is due (rto.c runs it; srtt in ms): a hole
 * the SACK blocks show and nothing resent, or a retransmission unconfirmed; in recovery, what
 * it does when it fires (true: holes were queued, to send). tcpin.c: the timer fired. */
bool nc__rexmit_timer(struct tcp_pcb *pcb, uint32_t srtt, uint32_t *due);
bool nc__rexmit_fire(struct tcp_pcb *pcb, uint32_t srtt);
void nc__tcpin_reorder(struct tcp_pcb *pcb, uint32_t srtt);
/* rexmit.c: the bytes pcb's scoreboard holds SACKed above the cumulative ACK; false when the
 * connection has no scoreboard (a peer without SACK, or no block seen yet). */
bool nc__rexmit_sacked(const struct tcp_pcb *pcb, uint32_t *bytes);

/* cc.c: congestion control around lwIP's (see there). Pure: RFC 6928's initial window for
 * smss; the ssthresh after a loss, NC_CC_BETA of min(cwnd, snd_wnd) and at least floor; the
 * window in recovery, ssthresh + 3 smss + what the peer SACKed. On a pcb: the initial window
 * once established; a loss detected by duplicate ACKs or SACK (lwIP entered fast recovery;
 * cwnd: its window before); a timeout (first: not in fast recovery or after another timeout,
 * so ssthresh is reduced); the window in recovery after an ACK. */
#define NC_CC_BETA_NUM 7
#define NC_CC_BETA_DEN 10
uint32_t nc__cc_iw(uint32_t smss);
uint32_t nc__cc_ssthresh(uint32_t cwnd, uint32_t snd_wnd, uint32_t floor);
uint32_t nc__cc_recovery_cwnd(uint32_t ssthresh, uint32_t smss, uint32_t sacked);
void nc__cc_established(struct tcp_pcb *pcb);
void nc__cc_loss(struct tcp_pcb *pcb, uint32_t cwnd);
void nc__cc_timeout(struct tcp_pcb *pcb, bool first);
void nc__cc_recovery(struct tcp_pcb *pcb);

/* stat.c: the stats socket (netcore stat); open after the event base exists. */
void nc__stat_open(struct netcore_stack *st);
/* Closes the listening socket and the clients' (a forked child: nothing else). */
void nc__stat_release(struct netcore_stack *st, bool unlink_path);
/* Frees the clients' events and dumps; before the event base goes (netcore_stop). */
void nc__stat_free_clients(struct netcore_stack *st);
/* The stats socket and its clients' fds into out; returns how many (keep.c). */
int nc__stat_fds(struct netcore_stack *st, int *out, int cap);

/*
 * share.c, shareop.c, keep.c: the driver's side of a shared stack (share.h). The server's
 * fds sit in an epoll set of their own (epfd), watched by the event loop or netcore_step.
 */
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
/* rendezvous.c: a run or stats directory of the effective uid, mode 0700 (made if missing). */
int nc__private_dir(const char *dir, const char *var, char *err, size_t errlen);
int nc__share_reply(int fd, const struct nc_share_rep *rep, int pass_fd);
void nc__share_conn_close(struct netcore_stack *st, struct nc_share_conn *c);
/* Reads c's requests again (reading), or watches only for its hang-up (a reply waits). */
void nc__share_watch(struct netcore_stack *st, struct nc_share_conn *c, bool reading);
/* shareop.c: one request of connection c (epoll events ev); a waiting CONNECT's answer. */
void nc__share_request(struct netcore_stack *st, struct nc_share_conn *c, uint32_t ev);
void nc__share_connect_done(struct netcore_stack *st, struct nc_share_conn *c);
/* closer.c: an fd a client passed is an AF_UNIX socket (getsockopt SO_DOMAIN: no
 * filesystem touched); closes a passed fd without waiting on the calling thread (anything
 * but an AF_UNIX socket goes to the closer thread); fds that thread closed so far. */
bool nc__fd_is_unix(int fd);
void nc__close_passed(int fd);
unsigned long nc__closer_count(void);
/* share.c: registers fd as a control connection of pid/uid (CHANNEL, accept); 0 or -errno
 * (fd still the caller's then). Takes the stack lock. */
int nc__share_conn_add(struct netcore_stack *st, int fd, pid_t pid, uid_t uid);
/* share.c: soft RLIMIT_NOFILE raised to the hard limit (a server, a keeper); the limit now. */
long nc__share_raise_nofile(void);
/* stack.c: the netstack thread ends (joined) and starts again (keep.c). */
void nc__thread_stop(struct netcore_stack *st);
int nc__thread_start(struct netcore_stack *st);
/* stack.c: some connection still has data to deliver. Caller holds the lock. */
bool nc__undelivered(struct netcore_stack *st);

/*
 * relay.c: relayed sockets, the driver's side (share.h). Under the stack lock unless noted.
 */
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
/* share.c: a relayed socket's state changed (a connect ended). Called under the stack lock
 * on whichever thread pumped: no netcore_* call from there. relay.c has a weak no-op. */
void nc__share_sock_changed(struct netcore_stack *st, struct nc_sock *s);

/* pcap.c: NETCORE_PCAP capture (no-ops without it). */
int nc__pcap_open(struct netcore_stack *st, char *err, size_t errlen);
void nc__pcap_frame(struct netcore_stack *st, const struct iovec *iov, int n);
void nc__pcap_close(struct netcore_stack *st);

#endif /* NC_INTERNAL_H */
