/*
 * share.h — one stack shared by every process that uses it (issue 14).
 *
 * The process that first needs a stack for a device drives it, as before: its netstack
 * thread runs lwIP, and its own sockets take the in-process fast path (rings + eventfd). Any
 * socket that another process may hold — the parent's sockets at fork, those an exec'd image
 * inherits, one sent with SCM_RIGHTS, every socket of a process that attached to a stack it
 * does not drive — is *relayed*: the program's fd is one end of an AF_UNIX socketpair, and
 * the driver's netstack thread moves bytes between the other end and lwIP (relay.c). The
 * kernel then gives every process the open-file semantics of a shared description (dup,
 * fork, exec, SCM_RIGHTS, close of one copy, poll/select/epoll, EPOLLEXCLUSIVE, O_NONBLOCK,
 * SO_RCVTIMEO on the fd) by itself, and the driver learns that the last copy is gone when
 * its end reports EPOLLHUP. Nothing is shared in memory: everything a client says arrives as
 * a message on a control connection (share.c), checked field by field, and a socket is named
 * by passing its fd (SCM_RIGHTS), never by a number a client could make up.
 *
 * Control connection: AF_UNIX SOCK_SEQPACKET to the rendezvous
 *   $NETCORE_RUNDIR/stack-IFNAME-NETNS.sock   (NETCORE_RUNDIR default /tmp/netcore-EUID, a
 *   directory of the effective uid, mode 0700), guarded by stack-IFNAME-NETNS.lock, which the
 *   driver holds with flock(LOCK_EX) for as long as it drives (the kernel lets go when the
 *   driver dies, even by SIGKILL). IFNAME is cfg.ifname (the pool's first device), NETNS the
 *   inode of /proc/self/ns/net. One request, one reply; a client uses one connection per
 *   thread, so a reply that waits (a blocking connect) holds up only its own thread.
 *   The driver checks SO_PEERCRED when it accepts: the stack's uid or root, else it sends a
 *   reply of -EACCES (seq 0) and closes.
 */
#ifndef NC_SHARE_H
#define NC_SHARE_H

#include <stdint.h>

#define NC_SHARE_MAGIC 0x6e637301u /* "ncs" + protocol version 1: both ends from one build */
#define NC_SHARE_DATA 256          /* sockaddr, option value (TCP_INFO is the largest) */

enum nc_share_op {
    /* No fd passed. a0 domain, a1 type (SOCK_STREAM or SOCK_DGRAM, flags masked), a2
     * protocol. Reply: rc 0, the new socket's program end as the reply's fd (SOCK_CLOEXEC;
     * the client sets O_NONBLOCK/FD_CLOEXEC as the program asked), info in b[]. */
    NC_OP_SOCKET = 1,
    /* Every op below passes the socket's program end (the fd the client holds) as
     * SCM_RIGHTS, exactly one; the driver finds the socket by that fd's inode. */
    NC_OP_IDENTIFY,    /* reply rc 0 and info in b[]; -EBADF if not a socket of this stack */
    NC_OP_BIND,        /* data: sockaddr (len bytes) */
    NC_OP_LISTEN,      /* a0 backlog */
    /* Never waits: rc -EAGAIN when the queue is empty. Reply: the new connection's program
     * end as the fd, its peer's sockaddr in data, info in b[]. */
    NC_OP_ACCEPT,
    /* data: sockaddr (len bytes). a0 = 0: rc at once (0, -EINPROGRESS, -errno). a0 = 1: the
     * reply waits for the outcome (0 or -errno). len 0 with a0 = 1: only wait for the outcome
     * of a connect already under way (rc 0 at once when none is). a0 = 2 (data ignored): the
     * status now, never waits: -EALREADY while a connect is under way, else its outcome as
     * a0 = 1 would report it (for SO_ERROR/getpeername on an O_NONBLOCK fd). A socket closed
     * while a reply waits is answered -ECONNABORTED. */
    NC_OP_CONNECT,
    NC_OP_SHUTDOWN,    /* a0 how (SHUT_RD, SHUT_WR, SHUT_RDWR) */
    NC_OP_GETSOCKNAME, /* reply data: sockaddr */
    NC_OP_GETPEERNAME, /* reply data: sockaddr */
    NC_OP_SETSOCKOPT,  /* a0 level, a1 name, data: the value */
    NC_OP_GETSOCKOPT,  /* a0 level, a1 name, a2 the program's length; reply data: value */
    /* The error a read that found EOF or EPIPE should report: rc -errno (taken, as SO_ERROR
     * is) or 0 for a genuine end of stream. */
    NC_OP_STATUS,
    NC_OP_IOCTL,       /* a0 SIOCOUTQ or SIOCOUTQNSD: rc bytes */
    /* No fd passed. A new control connection with the asking connection's credentials (the
     * driver checks the same uid/pid as for this one): rc 0, the client's end of a fresh
     * SOCK_SEQPACKET pair as the reply's fd (SOCK_CLOEXEC, blocking). For a process that can
     * no longer open the rendezvous (privileges dropped: a forked child's, a lost spare).
     * -EAGAIN beyond the connection cap. */
    NC_OP_CHANNEL,
    NC_OP_MAX
};

/* A request is one message of exactly sizeof(struct nc_share_req) bytes, with at most one
 * fd; anything else is answered with -EINVAL (-EBADF: the fd an op needs is missing or not a
 * relayed socket of the stack) and every fd that came with it is closed. A reply is one
 * message of sizeof(struct nc_share_rep) bytes, seq echoed (0 when the request was too short
 * to have one). */
struct nc_share_req {
    uint32_t magic;
    uint32_t seq;      /* the client's number, echoed in the reply */
    uint16_t op;       /* enum nc_share_op */
    uint16_t len;      /* bytes of data used, <= NC_SHARE_DATA */
    uint32_t pad;      /* 0 */
    int64_t a[3];
    uint8_t data[NC_SHARE_DATA];
};

/* b[] of SOCKET, ACCEPT and IDENTIFY replies */
#define NC_SHARE_INFO_FAMILY 0 /* b[0]: AF_INET or AF_INET6 */
#define NC_SHARE_INFO_TYPE 1   /* b[1]: SOCK_STREAM or SOCK_DGRAM, | NC_SHARE_LISTENING */
#define NC_SHARE_LISTENING 0x10000

struct nc_share_rep {
    uint32_t magic;
    uint32_t seq;
    int64_t rc;        /* >= 0, or a negative errno */
    int64_t b[2];
    uint32_t len;      /* bytes of data used */
    uint32_t pad;
    uint8_t data[NC_SHARE_DATA];
};

/*
 * A relayed UDP socket's socketpair is SOCK_SEQPACKET: one message per datagram, this
 * header first, both ways. From the program: the destination (family 0: the connected
 * peer). To the program: the source.
 */
struct nc_share_dgram {
    uint16_t family;   /* AF_INET, AF_INET6, or 0 */
    uint16_t port;     /* network order */
    uint32_t scope;    /* IPv6 scope id */
    uint8_t addr[16];  /* IPv4 in the first 4 bytes */
};

#endif /* NC_SHARE_H */
