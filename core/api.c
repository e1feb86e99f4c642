/*
 * The public socket API: argument checks in the kernel's order, the stack lock around lwIP
 * calls, and the blocking/non-blocking/timeout policy around them. TCP data calls run
 * without the stack lock (the rings of tcpapp.c and tcpdata.c).
 */
#include "netcore.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "devwatch.h"
#include "port.h"
#include "ring.h"
#include "shimapi.h"
#include "sock.h"
#include "stack.h"
#include "sys.h"

/*
 * What the kernel checks of every address argument before the protocol sees it
 * (move_addr_to_kernel): a negative length or one beyond sockaddr_storage is EINVAL, an
 * address that cannot be read EFAULT; a zero length reads nothing (the protocol then says
 * EINVAL).
 */
static int addr_arg(const struct sockaddr *a, socklen_t len)
{
    if ((int)len < 0 || len > sizeof(struct sockaddr_storage))
        return -EINVAL;
    if (len > 0 && a == NULL)
        return -EFAULT;
    return 0;
}

/*
 * One call on a socket, as lwIP's api_msg carries one to its thread: which call and its
 * arguments. call_held holds the socket for it (-EBADF when the handle names none), runs it and
 * puts the socket back, so no call can miss the put on one of its ways out.
 */
enum call_op {
    CALL_BIND, CALL_LISTEN, CALL_ACCEPT, CALL_CONNECT, CALL_SENDTO, CALL_RECVFROM,
    CALL_SHUTDOWN, CALL_CLOSE, CALL_GETSOCKNAME, CALL_GETPEERNAME, CALL_SET_NONBLOCK,
    CALL_GET_NONBLOCK, CALL_READABLE, CALL_QUEUED, CALL_FD, CALL_POLL, CALL_WANT, CALL_WANTED,
    CALL_WAIT, CALL_WATCH, CALL_UNWATCH,
};

struct call {
    enum call_op op;
    int flags;                   /* accept, connect, sendto, recvfrom */
    int arg;                     /* listen's backlog, shutdown's how, set_nonblock's on,
                                  * queued_bytes' unsent_only, want's delta, wait's timeout,
                                  * watch's and unwatch's eventfd */
    unsigned events;             /* poll, want, wait, watch */
    sig_atomic_t handled;        /* wait: nc__crit_handled before the socket was held */
    const void *data;            /* sendto */
    void *buf;                   /* recvfrom */
    size_t len;                  /* sendto, recvfrom */
    const struct sockaddr *addr; /* bind, connect, sendto: an address given */
    socklen_t addrlen;
    struct sockaddr *out;        /* accept, recvfrom, getsockname, getpeername: one returned */
    socklen_t *outlen;
    int *fd;                     /* accept: the program's descriptor, made here (or NULL) */
};

static inline ssize_t call_held(struct netcore_stack *st, int id, const struct call *c)
    __attribute__((always_inline));

/* netcore_socket, and with prog_fd netcore_socket_fd. */
static int open_socket(struct netcore_stack *st, int domain, int type, int protocol,
                       int *prog_fd)
{
    /* The kernel's order: flag bits, then family, then type, protocol range, protocol. */
    int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (base < 0 || base > 0xf)
        return -EINVAL;
    if (domain != AF_INET && domain != AF_INET6)
        return -EAFNOSUPPORT;
    if (base >= 11)
        return -EINVAL;
    if (protocol < 0 || protocol >= IPPROTO_MAX)
        return -EINVAL;
    if (base == SOCK_STREAM) {
        if (protocol != 0 && protocol != IPPROTO_TCP)
            return -EPROTONOSUPPORT;
    } else if (base == SOCK_DGRAM) {
        if (protocol != 0 && protocol != IPPROTO_UDP)
            return -EPROTONOSUPPORT;
    } else {
        return -ESOCKTNOSUPPORT;
    }
    struct nc_sock *s;
    nc__lock(st);
    int rc = prog_fd == NULL ? nc__sock_alloc(st, domain, base, &s)
                             : nc__sock_alloc_fd(st, domain, base, (type & SOCK_CLOEXEC) != 0,
                                                 prog_fd, &s);
    if (rc == 0) {
        rc = base == SOCK_STREAM ? nc__tcp_open(st, s) : nc__udp_open(st, s);
        if (rc != 0) {
            nc__sock_free(st, s);
            if (prog_fd != NULL)
                nc__sys_close(*prog_fd);
        } else {
            rc = s->id;
        }
    }
    if (rc >= 0 && (type & SOCK_NONBLOCK))
        atomic_store(&s->nonblock, true);
    nc__run_pending_and_unlock(st);
    return rc;
}

int netcore_socket(struct netcore_stack *st, int domain, int type, int protocol)
{
    return open_socket(st, domain, type, protocol, NULL);
}

int netcore_socket_fd(struct netcore_stack *st, int domain, int type, int protocol, int *fd)
{
    return open_socket(st, domain, type, protocol, fd);
}

/* bind for a socket held. */
static int bind_held(struct netcore_stack *st, struct nc_sock *s, const struct sockaddr *addr,
                     socklen_t len)
{
    int rc = addr_arg(addr, len);
    if (rc != 0)
        return rc;
    if (len == 0)
        return -EINVAL;
    union nc_sockaddr a;
    rc = nc__addr_parse(st, s, addr, len, NC_ADDR_BIND, &a);
    if (rc != 0)
        return rc;
    if (nc__port_privileged(st, ntohs(a.in.sin_port))) /* sin_port and sin6_port are one field */
        return -EACCES;
    nc__lock(st);
    rc = s->type == SOCK_STREAM ? nc__tcp_bind(st, s, &a) : nc__udp_bind(st, s, &a);
    nc__run_pending_and_unlock(st);
    return rc;
}

int netcore_bind(struct netcore_stack *st, int id, const struct sockaddr *addr, socklen_t len)
{
    return (int)call_held(st, id, &(struct call){.op = CALL_BIND, .addr = addr, .addrlen = len});
}

/* listen for a socket held. */
static int listen_held(struct netcore_stack *st, struct nc_sock *s, int backlog)
{
    if (s->type != SOCK_STREAM)
        return -EOPNOTSUPP;
    nc__lock(st);
    int rc = nc__tcp_listen(st, s, backlog);
    nc__run_pending_and_unlock(st);
    return rc;
}

int netcore_listen(struct netcore_stack *st, int id, int backlog)
{
    return (int)call_held(st, id, &(struct call){.op = CALL_LISTEN, .arg = backlog});
}

/*
 * accept for a socket held; with prog_fd, the program's descriptor too (see
 * netcore_accept_fd), made with the connection's eventfd as it leaves the queue.
 */
static int accept_held(struct netcore_stack *st, struct nc_sock *s, struct sockaddr *addr,
                       socklen_t *len, int flags, int *prog_fd)
{
    if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
        return -EINVAL; /* checked before the socket's kind, as the kernel does */
    if (s->type != SOCK_STREAM)
        return -EOPNOTSUPP;
    sig_atomic_t handled = nc__crit_handled; /* a handler from here on interrupts us */
    int timeout = nc__sock_timeout(s, 0, false);
    int64_t deadline = 0; /* another thread may take what woke us */
    for (;;) {
        int nid = -1;
        nc__lock(st);
        int rc = nc__tcp_accept(st, s, prog_fd, (flags & SOCK_CLOEXEC) != 0, &nid);
        nc__run_pending_and_unlock(st);
        if (rc == 0) {
            nc__sock_settle(s);
            struct nc_sock *ns = st->socks[nid];
            if (flags & SOCK_NONBLOCK)
                atomic_store(&ns->nonblock, true);
            if (addr != NULL) {
                rc = nc__addr_copyout(&ns->peer, addr, len);
                if (rc != 0) {
                    netcore_close(st, nid);
                    if (prog_fd != NULL)
                        nc__sys_close(*prog_fd);
                    return rc;
                }
            }
            return nid;
        }
        if (rc == -EAGAIN && timeout == 0)
            nc__devwatch_claim(st); /* what it looks for comes through the device */
        if (rc != -EAGAIN || timeout == 0)
            return rc;
        int r = nc__sock_wait(s, POLLIN, nc__left_ms(&deadline, timeout), handled);
        if (r < 0)
            return r;
        if (r == 0)
            return -EAGAIN;
    }
}

int netcore_accept(struct netcore_stack *st, int id, struct sockaddr *addr, socklen_t *len,
                   int flags)
{
    return (int)call_held(st, id, &(struct call){.op = CALL_ACCEPT, .out = addr, .outlen = len,
                                                 .flags = flags});
}

int netcore_accept_fd(struct netcore_stack *st, int id, struct sockaddr *addr, socklen_t *len,
                      int flags, int *fd)
{
    return (int)call_held(st, id, &(struct call){.op = CALL_ACCEPT, .out = addr, .outlen = len,
                                                 .flags = flags, .fd = fd});
}

/* connect for a socket held; flags: MSG_DONTWAIT makes it non-blocking (MSG_FASTOPEN). */
static int connect_held(struct netcore_stack *st, struct nc_sock *s,
                        const struct sockaddr *addr, socklen_t len, int flags)
{
    sig_atomic_t handled = nc__crit_handled; /* a handler from here on interrupts us */
    int rc = addr_arg(addr, len);
    if (rc != 0)
        return rc;
    if (len < sizeof(sa_family_t))
        return -EINVAL;
    if (addr->sa_family == AF_UNSPEC) {
        nc__lock(st);
        rc = s->type == SOCK_DGRAM ? nc__udp_connect(st, s, NULL) : nc__tcp_disconnect(st, s);
        nc__run_pending_and_unlock(st);
        return rc;
    }
    union nc_sockaddr a;
    /* A TCP socket already connected or connecting says so before it looks at the address. */
    int bad = nc__addr_parse(st, s, addr, len, NC_ADDR_CONNECT, &a);
    if (bad != 0 && s->type == SOCK_DGRAM)
        return bad;
    nc__lock(st);
    rc = s->type == SOCK_STREAM ? nc__tcp_connect(st, s, bad ? NULL : &a, bad)
                                : nc__udp_connect(st, s, &a);
    nc__run_pending_and_unlock(st);
    if (rc != -EINPROGRESS && rc != -EALREADY)
        return rc;
    int timeout = nc__sock_timeout(s, flags, true);
    if (timeout == 0)
        return rc;
    int r = nc__sock_wait(s, POLLOUT, timeout, handled);
    if (r < 0)
        return r;
    if (r == 0)
        return rc; /* SO_SNDTIMEO expired: EINPROGRESS, or EALREADY for a connect again */
    nc__lock(st);
    rc = nc__tcp_connect(st, s, bad ? NULL : &a, bad);
    nc__run_pending_and_unlock(st);
    return rc;
}

int netcore_connect(struct netcore_stack *st, int id, const struct sockaddr *addr,
                    socklen_t len)
{
    return (int)call_held(st, id, &(struct call){.op = CALL_CONNECT, .addr = addr, .addrlen = len});
}

ssize_t netcore_send(struct netcore_stack *st, int id, const void *buf, size_t len, int flags)
{
    return netcore_sendto(st, id, buf, len, flags, NULL, 0);
}

/* sendto for a socket held. */
static ssize_t sendto_held(struct netcore_stack *st, struct nc_sock *s, const void *buf,
                           size_t len, int flags, const struct sockaddr *to, socklen_t tolen)
{
    if (to != NULL) {
        int rc = addr_arg(to, tolen);
        if (rc != 0)
            return rc;
    }
    if (s->type == SOCK_STREAM) {
        int state = atomic_load(&s->state);
        if ((flags & MSG_FASTOPEN) && to != NULL &&
            (state == NC_ST_NEW || state == NC_ST_BOUND)) {
            /* Connect, then send, as the kernel's fast open does without a cookie: a
             * non-blocking one says EINPROGRESS and has sent nothing. */
            int rc = connect_held(st, s, to, tolen, flags);
            if (rc != 0)
                return rc;
        }
        return nc__tcp_send(st, s, buf, len, flags); /* the kernel ignores a TCP address */
    }
    /* udp_sendmsg's order: size, flags, then the address. */
    if (len > 0xffff)
        return -EMSGSIZE;
    if (flags & MSG_OOB)
        return -EOPNOTSUPP;
    /* AF_UNSPEC on an AF_INET6 socket means "no address", as in the kernel. */
    if (to != NULL && s->family == AF_INET6 && tolen >= (socklen_t)sizeof(sa_family_t) &&
        to->sa_family == AF_UNSPEC)
        to = NULL;
    union nc_sockaddr a;
    if (to != NULL) {
        int rc = tolen == 0 ? -EINVAL : nc__addr_parse(st, s, to, tolen, NC_ADDR_SENDTO, &a);
        if (rc != 0)
            return rc;
    }
    nc__lock(st);
    ssize_t n = nc__udp_sendto(st, s, buf, len, to != NULL ? &a : NULL);
    nc__run_pending_and_unlock(st);
    return n;
}

ssize_t netcore_sendto(struct netcore_stack *st, int id, const void *buf, size_t len, int flags,
                       const struct sockaddr *to, socklen_t tolen)
{
    return call_held(st, id, &(struct call){.op = CALL_SENDTO, .data = buf, .len = len,
                                            .flags = flags, .addr = to, .addrlen = tolen});
}

ssize_t netcore_recv(struct netcore_stack *st, int id, void *buf, size_t len, int flags)
{
    return netcore_recvfrom(st, id, buf, len, flags, NULL, NULL);
}

/* recvfrom for a socket held. */
static ssize_t recvfrom_held(struct netcore_stack *st, struct nc_sock *s, void *buf, size_t len,
                             int flags, struct sockaddr *from, socklen_t *fromlen)
{
    if (flags & MSG_ERRQUEUE)
        return -EAGAIN; /* nothing ever waits in netcore's error queue */
    if (s->type == SOCK_STREAM) {
        ssize_t n = nc__tcp_recv(st, s, buf, len, flags & ~MSG_TRUNC);
        if (n >= 0 && from != NULL) {
            /* A stream has no sender per message: the kernel hands back a 0-byte address. */
            if (fromlen == NULL)
                return -EFAULT;
            if ((int)*fromlen < 0)
                return -EINVAL;
            *fromlen = 0;
        }
        return n;
    }
    sig_atomic_t handled = nc__crit_handled; /* a handler from here on interrupts us */
    int timeout = nc__sock_timeout(s, flags, false);
    int64_t deadline = 0; /* another thread may take what woke us */
    for (;;) {
        union nc_sockaddr a;
        ssize_t n = nc__udp_recvfrom(st, s, buf, len, flags, &a);
        int e = n == -EAGAIN ? atomic_exchange(&s->so_error, 0) : 0;
        if (e != 0)
            return -e;
        if (n >= 0) {
            if (!(flags & MSG_PEEK))
                nc__sock_settle(s);
            if (from != NULL) {
                int rc = nc__addr_copyout(&a, from, fromlen);
                if (rc != 0)
                    return rc;
            }
            return n;
        }
        if (n == -EAGAIN && timeout == 0)
            nc__devwatch_claim(st); /* what it looks for comes through the device */
        if (n != -EAGAIN || timeout == 0)
            return n;
        if (atomic_load(&s->rd_shut))
            return 0; /* shut for reading: a blocking recv ends, a non-blocking one EAGAIN */
        int r = nc__sock_wait(s, POLLIN, nc__left_ms(&deadline, timeout), handled);
        if (r < 0)
            return r;
        if (r == 0)
            return -EAGAIN;
    }
}

ssize_t netcore_recvfrom(struct netcore_stack *st, int id, void *buf, size_t len, int flags,
                         struct sockaddr *from, socklen_t *fromlen)
{
    return call_held(st, id, &(struct call){.op = CALL_RECVFROM, .buf = buf, .len = len,
                                            .flags = flags, .out = from, .outlen = fromlen});
}

/* shutdown for a socket held. */
static int shutdown_held(struct netcore_stack *st, struct nc_sock *s, int how)
{
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
        return -EINVAL;
    bool rd = how != SHUT_WR, wr = how != SHUT_RD;
    if (s->type == SOCK_DGRAM) {
        /* The kernel marks an unconnected socket shut too, though it says ENOTCONN (its
         * "hack to wake up other listeners"): programs end a thread blocked in recvfrom
         * this way. That recv returns 0, a later send fails with EPIPE. */
        if (rd)
            atomic_store(&s->rd_shut, true);
        if (wr)
            atomic_store(&s->wr_shut, true);
        nc__lock(st);
        nc__sock_notify(s);
        nc__run_pending_and_unlock(st);
        return atomic_load(&s->state) == NC_ST_CONNECTED ? 0 : -ENOTCONN;
    }
    nc__lock(st);
    int rc = nc__tcp_shutdown(st, s, rd, wr);
    nc__run_pending_and_unlock(st);
    return rc;
}

int netcore_shutdown(struct netcore_stack *st, int id, int how)
{
    return (int)call_held(st, id, &(struct call){.op = CALL_SHUTDOWN, .arg = how});
}

/* close for a socket held: the put after it, the last one out, frees it (nc__sock_hold). */
static void close_held(struct netcore_stack *st, struct nc_sock *s)
{
    nc__lock(st);
    atomic_store(&s->app_closed, true);
    nc__sock_wake(s); /* calls blocked on it in other threads return EBADF */
    if (s->type == SOCK_STREAM)
        nc__tcp_close(st, s);
    else
        nc__udp_close(st, s);
    nc__run_pending_and_unlock(st);
}

int netcore_close(struct netcore_stack *st, int id)
{
    return (int)call_held(st, id, &(struct call){.op = CALL_CLOSE});
}

/* getsockname for a socket held. */
static int getsockname_held(struct netcore_stack *st, struct nc_sock *s, struct sockaddr *addr,
                            socklen_t *len)
{
    nc__lock(st);
    union nc_sockaddr a = s->local;
    nc__unlock(st); /* only read */
    return nc__addr_copyout(&a, addr, len);
}

int netcore_getsockname(struct netcore_stack *st, int id, struct sockaddr *addr, socklen_t *len)
{
    return (int)call_held(st, id, &(struct call){.op = CALL_GETSOCKNAME, .out = addr,
                                                 .outlen = len});
}

int netcore_getpeername(struct netcore_stack *st, int id, struct sockaddr *addr, socklen_t *len)
{
    return (int)call_held(st, id, &(struct call){.op = CALL_GETPEERNAME, .out = addr,
                                                 .outlen = len});
}

int netcore_set_nonblock(struct netcore_stack *st, int id, int on)
{
    return (int)call_held(st, id, &(struct call){.op = CALL_SET_NONBLOCK, .arg = on});
}

int netcore_get_nonblock(struct netcore_stack *st, int id)
{
    return (int)call_held(st, id, &(struct call){.op = CALL_GET_NONBLOCK});
}

/* The FIONREAD of a socket held. */
static int readable_held(struct nc_sock *s)
{
    if (s->type == SOCK_STREAM && atomic_load(&s->state) == NC_ST_LISTEN)
        return -EINVAL;
    if (s->type == SOCK_STREAM)
        return (int)nc__ring_used(&s->tcp.rx);
    nc__mutex_lock(&s->udp.dq_mu);
    int n = s->udp.dq_head != NULL ? (int)s->udp.dq_head->len : 0;
    nc__mutex_unlock(&s->udp.dq_mu);
    return n;
}

int netcore_readable_bytes(struct netcore_stack *st, int id)
{
    return (int)call_held(st, id, &(struct call){.op = CALL_READABLE});
}

/* The SIOCOUTQ (SIOCOUTQNSD if unsent_only) of a socket held. */
static int queued_held(struct netcore_stack *st, struct nc_sock *s, bool unsent_only)
{
    if (s->type != SOCK_STREAM)
        return 0; /* a datagram: lwIP sends it before sendto returns */
    if (atomic_load(&s->state) == NC_ST_LISTEN)
        return -EINVAL;
    nc__lock(st);
    int n = nc__tcp_queued(s, unsent_only);
    nc__unlock(st); /* only read */
    return n;
}

int netcore_queued_bytes(struct netcore_stack *st, int id, int unsent_only)
{
    return (int)call_held(st, id, &(struct call){.op = CALL_QUEUED, .arg = unsent_only});
}

int netcore_fd(struct netcore_stack *st, int id)
{
    return (int)call_held(st, id, &(struct call){.op = CALL_FD});
}

unsigned netcore_poll(struct netcore_stack *st, int id, unsigned events)
{
    ssize_t ready = call_held(st, id, &(struct call){.op = CALL_POLL, .events = events});
    return ready == -EBADF ? POLLNVAL : (unsigned)ready;
}

void netcore_want(struct netcore_stack *st, int id, unsigned events, int delta)
{
    /* A socket gone has no waiters to count: its -EBADF is nothing to report. */
    call_held(st, id, &(struct call){.op = CALL_WANT, .events = events, .arg = delta});
}

unsigned netcore_wanted(struct netcore_stack *st, int id)
{
    ssize_t wanted = call_held(st, id, &(struct call){.op = CALL_WANTED});
    return wanted == -EBADF ? 0 : (unsigned)wanted;
}

int netcore_wait(struct netcore_stack *st, int id, unsigned events, int timeout_ms)
{
    return (int)call_held(st, id, &(struct call){.op = CALL_WAIT, .events = events,
                                                 .arg = timeout_ms, .handled = nc__crit_handled});
}

int netcore_watch(struct netcore_stack *st, int id, int efd, unsigned events)
{
    return (int)call_held(st, id, &(struct call){.op = CALL_WATCH, .arg = efd, .events = events});
}

/* unwatch for a socket held: under the stack lock, so no netstack signal is in flight to efd
 * once it returns. */
static int unwatch_held(struct netcore_stack *st, struct nc_sock *s, int efd)
{
    nc__lock(st);
    int rc = nc__sock_unwatch(s, efd);
    nc__unlock(st); /* only the socket's list of watches changed */
    return rc;
}

int netcore_unwatch(struct netcore_stack *st, int id, int efd)
{
    return (int)call_held(st, id, &(struct call){.op = CALL_UNWATCH, .arg = efd});
}

/*
 * Runs call c on socket id, held for it. Returns -EBADF for a bad or closed handle, else what
 * the call returns. The calls that do no more than read or set one field are here whole.
 * Inlined into each public function, whose op is a constant: the switch and the record fold
 * away, and the call costs what it did written out. One shared copy cost ~30 instructions a
 * call more (callgrind, netcore_poll, netcore_recvfrom EAGAIN and netcore_fd on a UDP
 * socket: 369 -> 462 a round of the three), in its prologue and the switch.
 */
static inline ssize_t call_held(struct netcore_stack *st, int id, const struct call *c)
{
    struct nc_sock *s = nc__sock_hold(st, id);
    if (s == NULL)
        return -EBADF;
    ssize_t rc = 0;
    switch (c->op) {
    case CALL_BIND:
        rc = bind_held(st, s, c->addr, c->addrlen);
        break;
    case CALL_LISTEN:
        rc = listen_held(st, s, c->arg);
        break;
    case CALL_ACCEPT:
        rc = accept_held(st, s, c->out, c->outlen, c->flags, c->fd);
        break;
    case CALL_CONNECT:
        rc = connect_held(st, s, c->addr, c->addrlen, c->flags);
        break;
    case CALL_SENDTO:
        rc = sendto_held(st, s, c->data, c->len, c->flags, c->addr, c->addrlen);
        break;
    case CALL_RECVFROM:
        rc = recvfrom_held(st, s, c->buf, c->len, c->flags, c->out, c->outlen);
        break;
    case CALL_SHUTDOWN:
        rc = shutdown_held(st, s, c->arg);
        break;
    case CALL_CLOSE:
        close_held(st, s);
        break;
    case CALL_GETSOCKNAME:
        rc = getsockname_held(st, s, c->out, c->outlen);
        break;
    case CALL_GETPEERNAME:
        rc = atomic_load(&s->state) == NC_ST_CONNECTED
                 ? nc__addr_copyout(&s->peer, c->out, c->outlen)
                 : -ENOTCONN;
        break;
    case CALL_SET_NONBLOCK:
        atomic_store(&s->nonblock, c->arg != 0);
        break;
    case CALL_GET_NONBLOCK:
        rc = atomic_load(&s->nonblock) ? 1 : 0;
        break;
    case CALL_READABLE:
        rc = readable_held(s);
        break;
    case CALL_QUEUED:
        rc = queued_held(st, s, c->arg != 0);
        break;
    case CALL_FD:
        rc = s->efd;
        break;
    case CALL_POLL:
        rc = nc__sock_ready(s) & (c->events | POLLERR | POLLHUP);
        break;
    case CALL_WANT:
        nc__sock_want(s, c->events, c->arg);
        break;
    case CALL_WANTED:
        rc = nc__sock_wanted(s);
        break;
    case CALL_WAIT:
        rc = nc__sock_wait(s, c->events, c->arg, c->handled);
        break;
    case CALL_WATCH:
        rc = nc__sock_watch(s, c->arg, c->events);
        break;
    case CALL_UNWATCH:
        rc = unwatch_held(st, s, c->arg);
        break;
    }
    nc__sock_put(st, id);
    return rc;
}
