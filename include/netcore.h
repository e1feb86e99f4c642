/*
 * netcore — a userspace TCP/IP stack (lwIP) that one thread owns, with a BSD-like C API.
 *
 * Every function returns a negative errno on failure, never sets errno. Socket calls block
 * like the kernel's: a socket is blocking unless created with SOCK_NONBLOCK or switched with
 * netcore_set_nonblock(); MSG_DONTWAIT makes one call non-blocking; SO_RCVTIMEO/SO_SNDTIMEO
 * bound the wait. A blocking wait returns -EINTR when a signal handler runs.
 *
 * lwIP is a process-wide singleton, so at most one stack runs per process.
 */
#ifndef NETCORE_H
#define NETCORE_H

#include <net/if.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

enum netcore_device {
    NETCORE_DEV_TAP,  /* Ethernet frames on a TAP device (ARP, real use) */
    NETCORE_DEV_TUN,  /* IP packets on a TUN device (no link layer) */
    NETCORE_DEV_WIRE, /* Ethernet frames over a datagram fd (socketpair): tests, fuzzing */
};

struct netcore_config {
    enum netcore_device device;
    char ifname[IFNAMSIZ];   /* NETCORE_TAP: TAP/TUN device name */
    int wire_fd;             /* NETCORE_DEV_WIRE: fd carrying one frame per datagram */
    struct in_addr ip;       /* NETCORE_IP: address/prefix */
    int prefix;
    struct in_addr gw;       /* NETCORE_GW */
    struct in6_addr ip6;     /* NETCORE_IP6: address/prefix (the link-local address comes
                                from the MAC) */
    int prefix6;             /* 64..128: lwIP takes a static address's /64 as on-link */
    struct in_addr dns;      /* NETCORE_DNS: the DNS server the preload shim's resolver asks;
                                0.0.0.0: the gateway */
    uint8_t mac[6];          /* NETCORE_MAC */
    int mtu;                 /* NETCORE_MTU; 0: the device's MTU */
    size_t sndbuf;           /* NETCORE_SNDBUF: bytes in each TCP socket's send ring */
    size_t rcvbuf;           /* NETCORE_RCVBUF: bytes in each TCP socket's receive ring */
    size_t ring_mem;         /* NETCORE_RING_MEM: bytes the rings of all sockets may hold at
                                once (a ring has memory only while it carries data); beyond
                                it send says ENOBUFS and received data waits (the peer
                                meets a closed window). 0 (default): no cap but
                                max_sockets x both rings */
    int max_sockets;         /* NETCORE_MAX_SOCKETS: socket table size (EMFILE beyond) */
    int backlog;             /* NETCORE_BACKLOG: cap on listen() backlog */
    int udp_queue;           /* NETCORE_UDP_QUEUE: datagrams queued per UDP socket */
    int cmd_queue;           /* NETCORE_CMD_QUEUE: queued commands (EAGAIN beyond) */
    int time_wait_max;       /* NETCORE_TIME_WAIT_MAX: TIME-WAIT entries kept */
    int spin_us;             /* NETCORE_SPIN_US: a blocked call polls the device this long
                                before it sleeps (0: sleep at once) */
    int drop_every;          /* NETCORE_DROP_EVERY: fault injection for tests, drop every
                                Nth received frame (0: none) */
    int log_level;           /* NETCORE_LOG: NETCORE_LOG_ERROR (default) ... NETCORE_LOG_DEBUG */
    char pcap[256];          /* NETCORE_PCAP: capture file ("%p": the pid), "" for none */
    char stat_dir[96];       /* NETCORE_STAT: directory of the stats socket PID.sock ("":
                                /tmp/netcore-UID; "off": none) */
    int tap_pool;            /* NETCORE_TAP_POOL: TAP devices to try, ifname first, then the
                                same name numbered up (nctap0, nctap1, ...): the first one no
                                other process holds is taken, and the kth adds k to the
                                addresses and the MAC. 1 (the default when NETCORE_TAP,
                                NETCORE_IP, NETCORE_IP6 or NETCORE_MAC is given): ifname
                                only */
    int share;               /* NETCORE_STACK: 1 "shared" (default): one stack per device,
                                shared by every process of the uid in the namespace; 0 "own":
                                a stack of this process's own, from the pool */
    char run_dir[96];        /* NETCORE_RUNDIR: directory of the shared stacks' rendezvous
                                ("": /tmp/netcore-EUID) */
    int offload;             /* NETCORE_OFFLOAD: 1 "on" (default): a TAP exchanges 64 KB TCP
                                segments and partial checksums with the kernel through its
                                virtio_net_hdr (TSO/GSO, checksum offload); 0 "off": plain
                                frames of the MTU */
    /* The spin and batching trade-off; NETCORE_PROFILE sets all three at once. */
    int spin_own;            /* NETCORE_SPIN_OWN: 1: while a call spins (spin_us), frames do
                                not wake the netstack thread, the caller takes them; 0: the
                                thread wakes for each and works beside the caller */
    int rx_batch;            /* NETCORE_RX_BATCH: frames one pass over the device takes
                                before the stack turns to commands and timers */
    int wire_vnet;           /* NETCORE_DEV_WIRE: 1: every frame starts with a struct
                                virtio_net_hdr and the wire takes what a TAP with offloads
                                takes (TSO, partial checksums): the offload path for tests
                                and fuzzing; 0 (default): plain frames */
    int linger_s;            /* NETCORE_LINGER: seconds a program's exit (or a keeper) waits
                                for its sockets' unsent data to be delivered; 0: not at all */
};

/* NETCORE_LOG levels: messages on stderr prefixed "netcore[PID]: ". */
enum { NETCORE_LOG_ERROR, NETCORE_LOG_WARN, NETCORE_LOG_INFO, NETCORE_LOG_DEBUG };
/* Sets the level for the whole process (netcore_start sets it from the configuration). */
void netcore_log_level(int level);

/* Fills *cfg with the defaults (DESIGN.md: 198.18.0.2/24 via 198.18.0.1 and 2001:db8::2/64
 * on nctap0). */
void netcore_config_defaults(struct netcore_config *cfg);

/*
 * Overrides *cfg from NETCORE_* environment variables taken from getenv-like lookup `get`
 * (NULL: the process environment). On a bad value returns -EINVAL and writes a message naming
 * the variable and the value into err.
 */
int netcore_config_from_env(struct netcore_config *cfg, const char *(*get)(const char *),
                            char *err, size_t errlen);

struct netcore_stack;

/* Start flags. */
#define NETCORE_MANUAL 0x1 /* no thread: the caller drives the stack with netcore_step() */

/*
 * Starts the stack: opens the device, brings up lwIP, and unless NETCORE_MANUAL starts the
 * netstack thread. On failure returns negative errno and a message in err saying what failed
 * and what to do.
 */
int netcore_start(const struct netcore_config *cfg, int flags, struct netcore_stack **out,
                  char *err, size_t errlen);

/*
 * fork(), for a process that runs a stack: call prepare before fork (it takes the stack
 * lock), parent in the parent after it, child in the child (closes the device and the
 * sockets' descriptors; no allocation). A child that wants sockets of its own calls
 * netcore_fork_forget on the inherited stack, then netcore_start: the inherited stack and its
 * connections stay the parent's and cannot be used in the child.
 */
void netcore_fork_prepare(struct netcore_stack *st);
void netcore_fork_parent(struct netcore_stack *st);
void netcore_fork_child(struct netcore_stack *st);
void netcore_fork_forget(struct netcore_stack *st);

/* Stops the thread (joins it), aborts remaining connections, frees everything, closes fds. */
void netcore_stop(struct netcore_stack *st);

/*
 * One step of the loop, for stacks started with NETCORE_MANUAL: waits up to timeout_ms
 * (0: no wait, -1: until something happens) for a device frame or a queued command, then
 * processes queued commands, pumps device input, and runs due lwIP timers.
 * Returns the number of frames and commands processed.
 */
int netcore_step(struct netcore_stack *st, int timeout_ms);

/* The clock lwIP sees (sys_now). Manual mode freezes it; advance moves it forward. */
void netcore_clock_manual(int on);
void netcore_clock_advance(uint32_t ms);
uint32_t netcore_clock_now(void);

/*
 * What the kernel does for a process that exits: closes its open sockets and goes on
 * delivering what they still had to send. Closes every socket the program still has, then
 * waits up to timeout_ms until every connection's data is sent and acknowledged.
 * Returns 0, or -ETIMEDOUT with data still undelivered.
 */
int netcore_drain(struct netcore_stack *st, int timeout_ms);

/* Counters of the device and the socket layer. */
struct netcore_stats {
    uint64_t rx_frames, tx_frames, rx_bytes, tx_bytes;
    uint64_t rx_dropped_malformed; /* too short, bad header */
    uint64_t rx_dropped_foreign;   /* not for our MAC */
    uint64_t tx_errors;
    uint64_t udp_dropped;          /* datagrams dropped on a full receive queue */
    uint64_t accept_overflows;     /* connections refused on a full accept queue */
    uint64_t time_wait_evicted;    /* TIME-WAIT entries removed above the cap */
    uint64_t time_wait_reused;     /* TIME-WAIT entries a new SYN or an RST ended (Linux's
                                      rules: nc__tcp_tw_input) */
    uint64_t rto_timeouts;         /* retransmission timeouts fired by netcore's own timer */
    uint64_t stale_acks;           /* pure ACKs older than seen, dropped before lwIP */
    uint64_t rx_gso, tx_gso;       /* TCP super-segments received / sent through the TAP's
                                      offloads (NETCORE_OFFLOAD) */
    uint64_t pcb_walks;            /* segment lookups the pcb hash could not answer */
    int sockets;                   /* sockets in the table */
    int time_wait;                 /* lwIP TIME-WAIT entries */
    /* socket rings: memory on demand (NETCORE_RING_MEM) */
    uint64_t ring_bytes;           /* bytes the rings hold now (idle connections: none) */
    uint64_t ring_refused;         /* ring memory refused: over NETCORE_RING_MEM, or none left */
};
void netcore_get_stats(struct netcore_stack *st, struct netcore_stats *out);

/* The text `netcore stat` shows: counters and the socket table, NUL-terminated in out (cut
 * at cap). Returns its length. */
size_t netcore_stat_dump(struct netcore_stack *st, char *out, size_t cap);
/* Removes the stats socket's name (at exit; the stack keeps running). */
void netcore_stat_close(struct netcore_stack *st);

/*
 * Sockets: handles are small integers >= 0. AF_INET and AF_INET6; SOCK_STREAM and SOCK_DGRAM.
 * An AF_INET6 socket is dual-stack unless IPV6_V6ONLY is set (the default follows
 * /proc/sys/net/ipv6/bindv6only): IPv4 peers appear as ::ffff:a.b.c.d.
 */
int netcore_socket(struct netcore_stack *st, int domain, int type, int protocol);
/* netcore_socket, and in *fd a descriptor of the caller's on the socket's eventfd (the
 * file netcore_fd() gives) at the lowest free number, as socket(2) would give it, with
 * FD_CLOEXEC if type has SOCK_CLOEXEC: the shim's socket(), in two system calls where
 * netcore_socket and a dup of netcore_fd() take four. The caller closes *fd. */
int netcore_socket_fd(struct netcore_stack *st, int domain, int type, int protocol, int *fd);
int netcore_bind(struct netcore_stack *st, int s, const struct sockaddr *addr, socklen_t len);
int netcore_listen(struct netcore_stack *st, int s, int backlog);
int netcore_accept(struct netcore_stack *st, int s, struct sockaddr *addr, socklen_t *len,
                   int flags);
/* netcore_accept, and in *fd a descriptor of the caller's on the new socket's eventfd at the
 * lowest free number, as accept4(2) would give it, FD_CLOEXEC with SOCK_CLOEXEC in flags:
 * the shim's accept4(), in two system calls where netcore_accept and a dup of netcore_fd()
 * take four. When no descriptor can be made (-EMFILE...), the connection stays queued, as
 * the kernel's does. The caller closes *fd. */
int netcore_accept_fd(struct netcore_stack *st, int s, struct sockaddr *addr, socklen_t *len,
                      int flags, int *fd);
int netcore_connect(struct netcore_stack *st, int s, const struct sockaddr *addr,
                    socklen_t len);
ssize_t netcore_send(struct netcore_stack *st, int s, const void *buf, size_t len, int flags);
ssize_t netcore_recv(struct netcore_stack *st, int s, void *buf, size_t len, int flags);
ssize_t netcore_sendto(struct netcore_stack *st, int s, const void *buf, size_t len, int flags,
                       const struct sockaddr *to, socklen_t tolen);
ssize_t netcore_recvfrom(struct netcore_stack *st, int s, void *buf, size_t len, int flags,
                         struct sockaddr *from, socklen_t *fromlen);
int netcore_shutdown(struct netcore_stack *st, int s, int how);
int netcore_close(struct netcore_stack *st, int s);
int netcore_getsockname(struct netcore_stack *st, int s, struct sockaddr *addr, socklen_t *len);
int netcore_getpeername(struct netcore_stack *st, int s, struct sockaddr *addr, socklen_t *len);
int netcore_setsockopt(struct netcore_stack *st, int s, int level, int name, const void *val,
                       socklen_t len);
int netcore_getsockopt(struct netcore_stack *st, int s, int level, int name, void *val,
                       socklen_t *len);
int netcore_set_nonblock(struct netcore_stack *st, int s, int on);
int netcore_get_nonblock(struct netcore_stack *st, int s);
/* Bytes ready to read (FIONREAD); -EINVAL for a listening socket. */
int netcore_readable_bytes(struct netcore_stack *st, int s);
/* Bytes sent but not acknowledged yet plus those still to send (SIOCOUTQ), or only the
 * latter (unsent_only: SIOCOUTQNSD); -EINVAL for a listening socket. */
int netcore_queued_bytes(struct netcore_stack *st, int s, int unsent_only);

/*
 * Readiness. netcore_fd() is the socket's eventfd: it becomes readable when the socket's
 * state changes into one a waiter registered with netcore_want(st, s, events, +1) (and
 * withdraws with -1 when done waiting). netcore_poll() returns the
 * current POLLIN/POLLOUT/POLLERR/POLLHUP/POLLRDHUP bits (no wait); netcore_wait() waits up to
 * timeout_ms (-1: forever) for any of `events` and returns the bits, 0 on timeout, or -EINTR.
 */
int netcore_fd(struct netcore_stack *st, int s);
unsigned netcore_poll(struct netcore_stack *st, int s, unsigned events);
void netcore_want(struct netcore_stack *st, int s, unsigned events, int delta);
/*
 * The events registered with netcore_want, by every waiter, that are ready now. Several
 * waiters share the eventfd: one that drained it and finds none of its own events ready
 * took a wake-up another needed when this has bits beyond its own. It then waits on a
 * netcore_watch of its own instead (the eventfd would wake it at once again), and its
 * netcore_want(..., -1) signals the eventfd again for the others.
 */
unsigned netcore_wanted(struct netcore_stack *st, int s);
int netcore_wait(struct netcore_stack *st, int s, unsigned events, int timeout_ms);

/*
 * Extra eventfds for a socket (the preload shim gives each epoll registration its own, so
 * edge-triggered sets never steal each other's wake-ups): the netstack signals efd whenever
 * the socket moves into a state matching events (plus POLLERR/POLLHUP), and the socket's
 * consumers drain it when nothing in events is ready any more. Adding an efd already
 * watched updates its events. The caller keeps ownership of efd; unwatch before closing it.
 */
int netcore_watch(struct netcore_stack *st, int s, int efd, unsigned events);
int netcore_unwatch(struct netcore_stack *st, int s, int efd);

/*
 * Sharing one stack between processes (core/share.h has the design). The driver is the
 * process that runs the stack; clients reach it through its rendezvous.
 */
struct netcore_rendezvous {
    int lock_fd;     /* flock(LOCK_EX) held while this process drives, or -1 */
    int listen_fd;   /* SOCK_SEQPACKET listening at path, or -1 */
    char path[108];  /* the socket's path */
};
/*
 * Takes the device's rendezvous (cfg.ifname in this network namespace, under cfg.run_dir):
 * 1 when no process drives it and this one now must (lock held, socket bound and
 * listening: call netcore_share_serve after netcore_start, or netcore_share_release); 0 when
 * a driver exists (connect with netcore_share_connect); a negative errno with a message in err
 * naming NETCORE_RUNDIR (-EACCES: a run directory that is not the effective uid's own
 * directory of mode 0700, or a symbolic link; -ENOENT: its parent is missing; the directory
 * itself is made 0700 when missing; -ENAMETOOLONG: the socket's path would not fit).
 * Of processes claiming at once, exactly one gets 1. rv is filled in all cases (-1 fds).
 */
int netcore_share_claim(const struct netcore_config *cfg, struct netcore_rendezvous *rv,
                        char *err, size_t errlen);
/* Removes the socket's name (while the lock is still held) and closes both fds. */
void netcore_share_release(struct netcore_rendezvous *rv);
/*
 * Serves clients on rv from st's loop (the netstack thread, or netcore_step in manual mode);
 * st owns rv from here on (rv's fds are set to -1) and releases it in netcore_stop. May be
 * called from any thread. -EINVAL: rv holds no claim, or st was started with cfg.share 0.
 */
int netcore_share_serve(struct netcore_stack *st, struct netcore_rendezvous *rv);
/*
 * A new control connection to the driver (SOCK_SEQPACKET, SOCK_CLOEXEC), or -errno with a
 * message in err (-ENOENT/-ECONNREFUSED: no driver; the run directory's errors as claim's).
 * A driver that refuses this process (not the stack's uid nor root: -EACCES; too many
 * connections: -EAGAIN) accepts, then sends one reply with seq 0 and that rc and closes:
 * the client reads it as the reply to its first request.
 */
int netcore_share_connect(const struct netcore_config *cfg, char *err, size_t errlen);
/*
 * Makes socket s relayed: returns a new fd (SOCK_CLOEXEC), the program's end of it from now
 * on, or -errno. s then lives until every copy of that fd is closed; the handle s is no
 * longer the caller's (do not netcore_close it). Data already in s's rings keeps its order.
 */
int netcore_export(struct netcore_stack *st, int s);
/* Relayed sockets and attached clients: what the stack must outlive this process for. */
int netcore_share_users(struct netcore_stack *st);
/*
 * Hands the stack to a keeper: forks a process that drives it (every socket not relayed is
 * closed there, its data delivered as at exit) until no user is left, plus up to
 * NETCORE_LINGER seconds (default 10) for that data, then removes the rendezvous' name and
 * exits, which releases the lock and the device. Call with no other thread of this process
 * using the stack; the netstack thread is joined first. Returns the keeper's pid (>0) to the
 * caller, which no longer drives st: its copies of the device, the rendezvous, the control
 * connections and the relays' fds are closed, and the stack lock stays held by the calling
 * thread (the caller is about to exit or exec; netcore_drain and netcore_stop do nothing on
 * st any more). From here on the process is a client like any other. -EINVAL: st
 * does not serve a rendezvous; -errno of fork (the stack then runs on as before).
 */
int netcore_share_keep(struct netcore_stack *st);

#ifdef __cplusplus
}
#endif
#endif /* NETCORE_H */
