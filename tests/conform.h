/*
 * conform: errno conformance of netcore with the kernel. Every case runs twice in one
 * process under the shim: once through the libc calls (which the shim sends to netcore) and
 * once through raw syscall() (which reaches the kernel's own stack directly), and the two
 * outcomes must match: return value, errno, and the out values a case records.
 */
#ifndef CONFORM_H
#define CONFORM_H

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/* One stack's socket calls: kernel (raw syscalls) or netcore (libc, through the shim). */
struct ops {
    const char *name;
    struct in_addr self; /* this stack's own address */
    int (*socket)(int, int, int);
    int (*bind)(int, const struct sockaddr *, socklen_t);
    int (*listen)(int, int);
    int (*accept)(int, struct sockaddr *, socklen_t *);
    int (*accept4)(int, struct sockaddr *, socklen_t *, int);
    int (*connect)(int, const struct sockaddr *, socklen_t);
    ssize_t (*send)(int, const void *, size_t, int);
    ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
    ssize_t (*recv)(int, void *, size_t, int);
    ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
    ssize_t (*sendmsg)(int, const struct msghdr *, int);
    ssize_t (*recvmsg)(int, struct msghdr *, int);
    int (*sendmmsg)(int, struct mmsghdr *, unsigned int, int);
    int (*recvmmsg)(int, struct mmsghdr *, unsigned int, int, struct timespec *);
    ssize_t (*readv)(int, const struct iovec *, int);
    ssize_t (*writev)(int, const struct iovec *, int);
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*write)(int, const void *, size_t);
    int (*shutdown)(int, int);
    int (*getsockopt)(int, int, int, void *, socklen_t *);
    int (*setsockopt)(int, int, int, const void *, socklen_t);
    int (*getsockname)(int, struct sockaddr *, socklen_t *);
    int (*getpeername)(int, struct sockaddr *, socklen_t *);
    int (*fcntl)(int, int, long);
    int (*ioctl)(int, unsigned long, void *);
    int (*poll)(struct pollfd *, nfds_t, int);
    int (*epoll_create1)(int);
    int (*epoll_ctl)(int, int, int, struct epoll_event *);
    int (*epoll_wait)(int, struct epoll_event *, int, int);
    int (*dup)(int);
    int (*close)(int);
};
extern const struct ops conform_kernel; /* also drives every peer, in both columns */

/* Addresses shared by both columns. */
struct env {
    struct in_addr peer;   /* the kernel's side of the TAP: peers listen here */
    struct in_addr unused; /* on the TAP's subnet, nobody answers ARP for it */
    struct in_addr unused2; /* the next one: for a case whose result depends on when an
                             * address resolution fails, so none is pending from another */
    struct in_addr bcast;  /* the TAP subnet's broadcast address (a /24) */
};
extern struct env conform_env;

/* What one run of a case left behind; the two columns' outcomes are compared. */
struct outcome {
    long ret;
    int err;       /* errno after the call under test, 0 when it succeeded */
    bool is_fd;    /* ret is a new fd: compared as "fd", not by number */
    bool broken;   /* a setup step failed: the case proves nothing */
    char out[160]; /* out values and earlier steps, in the order the case recorded them */
};

#define CX_MAX_FDS 16
#define WAIT_MS 3000 /* the longest a case waits for something the other side does */

/* One run of one case on one stack. */
struct cx {
    const struct ops *o;
    uint16_t port; /* this case's ports: port (own use), port+1 (peer), port+2 (closed),
                    * port+3 (fence) */
    struct outcome r;
    int fds[CX_MAX_FDS], nfds;   /* the column's fds, closed through o after the case */
    int kfds[CX_MAX_FDS], nkfds; /* peers' kernel fds */
    int listener;                /* kernel listener on peer:port+1, or -1 */
};

struct conform_case {
    const char *name;
    void (*run)(struct cx *c);
    const char *known; /* NULL, or why a difference is accepted (printed as KNOWN) */
};

/* Case tables, one per family (a NULL name ends each). */
extern const struct conform_case conform_fd_cases[];
extern const struct conform_case conform_addr_cases[];
extern const struct conform_case conform_opt_cases[];
extern const struct conform_case conform_io_cases[];
extern const struct conform_case conform_conn_cases[];
extern const struct conform_case conform_msg_cases[];
extern const struct conform_case conform_epoll_cases[];

/* Records the call under test; everything a case notes afterwards goes into out. */
#define CALL(c, expr)                                                                     \
    do {                                                                                  \
        errno = 0;                                                                        \
        long r_ = (long)(expr);                                                           \
        (c)->r.ret = r_;                                                                  \
        (c)->r.err = r_ < 0 ? errno : 0;                                                  \
    } while (0)

/* Like CALL for calls that return a new fd, which the case keeps (closed after it). */
#define CALL_FD(c, expr)                                                                  \
    do {                                                                                  \
        CALL(c, expr);                                                                    \
        (c)->r.is_fd = true;                                                              \
        if ((c)->r.ret >= 0)                                                              \
            track(c, (int)(c)->r.ret);                                                    \
    } while (0)

/* A setup step that must succeed; otherwise the case is marked broken and ends. */
#define NEED(c, cond, what)                                                               \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            broken(c, what);                                                              \
            return;                                                                       \
        }                                                                                 \
    } while (0)

void track(struct cx *c, int fd);
void track_peer(struct cx *c, int fd);
/* Closes one of the case's fds now (through the column's ops) and forgets it. */
int drop(struct cx *c, int fd);
void broken(struct cx *c, const char *what);
const char *err_name(int e); /* "EINVAL" */
/* Appends to out. */
void outf(struct cx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends "label=ret" or "label=-1/ENAME" for a step whose result matters too. */
void note(struct cx *c, const char *label, long ret);
/*
 * Appends an address as SELF/PEER/ANY/dotted, its port as P/P+1/P+2/eph/0, and its length;
 * remote: the address names the far end (getpeername, recvfrom, accept).
 */
void note_addr(struct cx *c, const char *label, const struct sockaddr_in *a, socklen_t len,
               bool remote);

struct sockaddr_in sin_of(struct in_addr a, uint16_t port);
struct sockaddr_in sin_any(uint16_t port);
struct sockaddr_in sin_self(const struct cx *c, uint16_t port);
struct sockaddr_in sin_peer(uint16_t port);
#define SA(x) ((struct sockaddr *)&(x))

/* A new socket of the column's stack (type may carry SOCK_NONBLOCK/SOCK_CLOEXEC), or -1. */
int sock(struct cx *c, int type);
/* A TCP socket connected to a kernel peer; *peer is the peer's accepted socket. */
int connected(struct cx *c, int *peer);
/* A UDP socket connected to peer:port+1. */
int udp_connected(struct cx *c);
/* The column's listener on ANY:port (SO_REUSEADDR) with a kernel peer's connection
 * waiting to be accepted; *peer is the peer's socket. */
int listening(struct cx *c, int *peer);
/* A TCP socket accepted by the column's listener on ANY:port from a kernel peer. */
int accepted(struct cx *c, int *peer);
/* The kernel listener on peer:port+1 (made on first use). */
int peer_listener(struct cx *c);
/* Polls fd through the column until one of events shows (or ms pass); returns revents. */
int wait_for(struct cx *c, int fd, short events, int ms);
/* True (and consumed) when a SIGPIPE is pending for this thread. */
bool took_sigpipe(void);
/* A TCP socket whose non-blocking connect to an address nobody answers is in progress. */
int connecting(struct cx *c);
/* The peer p resets its connection to s (SO_LINGER 0, close); true once s has seen it. */
bool peer_reset(struct cx *c, int s, int p);
/* A kernel UDP socket on peer:port+1. */
int udp_peer(struct cx *c);
/*
 * Waits until the column's stack has taken in everything kernel peers sent it before: a
 * datagram sent after them, from the peer's address to the column's own (port+3), arrives
 * behind them. The TAP's queue (pfifo_fast: all of them in one band) passes them in order and
 * netcore takes them in order, in one thread; the kernel delivers its local traffic in order
 * through the loopback device. True once the datagram is there.
 * For what has no event of its own on the column's socket (a reset of a connection still in
 * the accept queue, data after SHUT_RD, the second of two datagrams).
 */
bool fence(struct cx *c);

/* A UDP socket of the column on ANY:port that has received msgs[0..n) from the peer. */
int udp_with(struct cx *c, const char *const *msgs, int n);
/* A connected TCP socket with "hello" from the peer waiting in it. */
int with_hello(struct cx *c);
struct sockaddr_in with_family(struct sockaddr_in a, int family);

/* Notes of out values: data received, the socket's names, SO_ERROR. */
void note_data(struct cx *c, const char *buf, long n);
void note_name(struct cx *c, int s);
void note_peer(struct cx *c, int s);
void note_so_error(struct cx *c, int s);

#endif /* CONFORM_H */
