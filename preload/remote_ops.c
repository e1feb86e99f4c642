/*
 * The control calls on relayed sockets (remote.c has the map and the exchange): each is one
 * request to the driver, whose netcore_* call answers as it does for the fast path. What the
 * kernel keeps on the fd itself stays there: O_NONBLOCK, FD_CLOEXEC, SO_RCVTIMEO and
 * SO_SNDTIMEO (read, write, poll and the token wait of accept honour them natively).
 * Each function returns what the libc call would, errno set.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../core/share.h"
#include "shim.h"

static void req_init(struct nc_share_req *q)
{
    memset(q, 0, sizeof(*q));
}

/* A sockaddr into the request; -EINVAL when it cannot be one. */
static int req_addr(struct nc_share_req *q, const struct sockaddr *addr, socklen_t len)
{
    if ((int)len < 0 || len > NC_SHARE_DATA)
        return -EINVAL;
    if (len > 0 && addr == NULL)
        return -EFAULT;
    if (len > 0)
        memcpy(q->data, addr, len);
    q->len = (uint16_t)len;
    return 0;
}

/* The kernel's move_addr_to_user, for replies here and datagrams in remote_io.c. */
int nc__addr_out(const void *src, socklen_t size, struct sockaddr *addr, socklen_t *len)
{
    if (addr == NULL)
        return 0;
    if (len == NULL)
        return -EFAULT;
    if ((int)*len < 0)
        return -EINVAL;
    memcpy(addr, src, *len < size ? *len : size);
    *len = size;
    return 0;
}

/* The NC_RK_* bits of a SOCKET, ACCEPT or IDENTIFY reply's info, or -EPROTO. */
static int rep_kind(const struct nc_share_rep *p)
{
    int family = (int)p->b[NC_SHARE_INFO_FAMILY];
    int type = (int)(p->b[NC_SHARE_INFO_TYPE] & ~NC_SHARE_LISTENING);
    if ((family != AF_INET && family != AF_INET6) || (type != SOCK_STREAM && type != SOCK_DGRAM))
        return -EPROTO;
    int k = NC_RK_VALID | type | (family == AF_INET6 ? NC_RK_INET6 : 0);
    if (p->b[NC_SHARE_INFO_TYPE] & NC_SHARE_LISTENING)
        k |= NC_RK_LISTENING;
    return k;
}

/*
 * A new socket's fd from a reply (close-on-exec, blocking) made what the program asked for
 * and entered in the map with bits k; the fd, or -1 with errno set (the fd closed).
 */
static int new_fd(int fd, int k, int flags)
{
    int e = 0;
    if ((flags & SOCK_NONBLOCK) && LIBC(fcntl)(fd, F_SETFL, O_NONBLOCK) != 0)
        e = errno;
    if (e == 0 && !(flags & SOCK_CLOEXEC) && LIBC(fcntl)(fd, F_SETFD, 0) != 0)
        e = errno;
    if (e == 0 && nc__fd_set_remote(fd, k, INT_MIN) != 0)
        e = EMFILE;
    if (e != 0) {
        LIBC(close)(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int nc__remote_socket(int domain, int type, int protocol)
{
    struct nc_share_req q;
    struct nc_share_rep p;
    int fd;
    req_init(&q);
    q.a[0] = domain;
    q.a[1] = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    q.a[2] = protocol;
    long r = nc__remote_rpc(NC_OP_SOCKET, -1, &q, &p, &fd);
    if (r >= 0 && fd < 0)
        r = -EPROTO;
    int k = r >= 0 ? rep_kind(&p) : 0;
    if (k < 0) {
        LIBC(close)(fd);
        r = k;
    }
    if (r < 0)
        return (int)nc__ret(r);
    if ((k & NC_RK_TYPE) == SOCK_STREAM)
        k |= NC_RK_UNCONN;
    return new_fd(fd, k, type);
}

/* Could fd be a relayed socket's program end: an unnamed AF_UNIX stream or seqpacket socket?
 * Asked of the kernel, so that an fd that cannot be one costs no request (nor a stack). */
static bool maybe_relayed(int fd)
{
    int v;
    socklen_t l = sizeof(v);
    if (LIBC(getsockopt)(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) != 0 || v != AF_UNIX)
        return false;
    l = sizeof(v);
    if (LIBC(getsockopt)(fd, SOL_SOCKET, SO_TYPE, &v, &l) != 0 ||
        (v != SOCK_STREAM && v != SOCK_SEQPACKET))
        return false;
    struct sockaddr_storage a;
    l = sizeof(a);
    return LIBC(getsockname)(fd, (struct sockaddr *)&a, &l) == 0 && l == sizeof(sa_family_t);
}

int nc__remote_identify(int fd)
{
    int saved = errno;
    bool maybe = maybe_relayed(fd);
    errno = saved;
    if (!maybe)
        return -EBADF;
    int rc = nc__shim_start();
    if (rc != 0)
        return rc;
    if (!nc__remote_shared())
        return -EBADF; /* NETCORE_STACK=own: no other process's sockets here */
    struct nc_share_req q;
    struct nc_share_rep p;
    req_init(&q);
    long r = nc__remote_rpc(NC_OP_IDENTIFY, fd, &q, &p, NULL);
    if (r < 0)
        return (int)r;
    int k = rep_kind(&p);
    if (k < 0)
        return k;
    /* Connected or not: a read or write on an unconnected one must fail, not wait. */
    if (!(k & NC_RK_LISTENING)) {
        req_init(&q);
        r = nc__remote_rpc(NC_OP_GETPEERNAME, fd, &q, &p, NULL);
        if (r == 0 && (k & NC_RK_TYPE) == SOCK_DGRAM)
            k |= NC_RK_PEER;
        else if (r == -ENOTCONN && (k & NC_RK_TYPE) == SOCK_STREAM)
            k |= NC_RK_UNCONN;
    }
    return nc__fd_set_remote(fd, k, INT_MIN);
}

/*
 * A loopback (or NETCORE_PASSTHROUGH) address for a socket that has none yet: the kernel's
 * socket takes its fd number, as passthru.c does for the fast path. The blocking mode and
 * close-on-exec carry over; options set before are the driver's and are lost.
 */
static int handoff(int fd, int k)
{
    int fl = LIBC(fcntl)(fd, F_GETFL);
    int fdf = LIBC(fcntl)(fd, F_GETFD);
    int type = (k & NC_RK_TYPE) | (fl >= 0 && (fl & O_NONBLOCK) ? SOCK_NONBLOCK : 0);
    int ks = LIBC(socket)(k & NC_RK_INET6 ? AF_INET6 : AF_INET, type, 0);
    if (ks < 0)
        return -1;
    int r = LIBC(dup3)(ks, fd, fdf >= 0 && (fdf & FD_CLOEXEC) ? O_CLOEXEC : 0);
    LIBC(close)(ks);
    if (r < 0)
        return -1;
    nc__fd_clear_remote(fd);
    return 0;
}

int nc__remote_bind(int fd, int k, const struct sockaddr *addr, socklen_t len)
{
    if (k & NC_RK_GONE) /* its driver is gone (remote_gone.c): the fd is no socket now */
        return (int)nc__ret(-ENETDOWN);
    if (nc__passthrough(addr, len) && handoff(fd, k) == 0)
        return LIBC(bind)(fd, addr, len);
    struct nc_share_req q;
    struct nc_share_rep p;
    req_init(&q);
    long r = req_addr(&q, addr, len);
    if (r == 0)
        r = nc__remote_rpc(NC_OP_BIND, fd, &q, &p, NULL);
    return (int)nc__ret(r);
}


/* "listening on ADDR:PORT" at NETCORE_LOG=info, as core/tcp.c says it for the driver. */
static void say_listening(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        port = ntohs(a->sin6_port);
    }
    /* as core/tcp.c's: "*" for a wildcard IPv4 clients reach, "[::]" for an IPv6-only one */
    int v6only = 0;
    socklen_t olen = sizeof(v6only);
    if (ss.ss_family == AF_INET6 &&
        getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &olen) != 0)
        v6only = 0;
    if (ss.ss_family == AF_INET6 && (strcmp(host, "::") != 0 || v6only))
        nc__log(NETCORE_LOG_INFO, "listening on [%s]:%u", host, port);
    else
        nc__log(NETCORE_LOG_INFO, "listening on %s:%u",
                strcmp(host, "::") == 0 || strcmp(host, "0.0.0.0") == 0 ? "*" : host, port);
}

int nc__remote_listen(int fd, int k, int backlog)
{
    (void)k;
    struct nc_share_req q;
    struct nc_share_rep p;
    req_init(&q);
    q.a[0] = backlog;
    long r = nc__remote_rpc(NC_OP_LISTEN, fd, &q, &p, NULL);
    if (r == 0) {
        nc__remote_bits(fd, NC_RK_LISTENING, NC_RK_UNCONN);
        /* The driver's stack says it on its own stderr; this program's says it too, as a
         * program driving its stack does (for operators, and a readiness line for tests). */
        if (nc__log_on(NETCORE_LOG_INFO))
            say_listening(fd);
    }
    return (int)nc__ret(r);
}

/*
 * The driver keeps one token byte unread in a listener's fd while its accept queue holds a
 * connection: each accept takes the token (if it is there) and asks; a blocking accept that
 * finds the queue empty waits for the next token with the kernel (MSG_PEEK, so the token
 * stays for whichever process gets there first), which gives it SO_RCVTIMEO, EINTR and
 * SA_RESTART exactly as a kernel accept has them.
 */
int nc__remote_accept4(int fd, int k, struct sockaddr *addr, socklen_t *len, int flags)
{
    if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
        return (int)nc__ret(-EINVAL);
    if (k & NC_RK_GONE)
        return (int)nc__ret(-ENETDOWN);
    if (addr != NULL && len == NULL)
        return (int)nc__ret(-EFAULT);
    if (addr != NULL && (int)*len < 0)
        return (int)nc__ret(-EINVAL);
    bool listening = (k & NC_RK_LISTENING) != 0;
    int eofs = 0;
    int saved = errno; /* the token's EAGAIN is no business of the program's */
    for (;;) {
        char b;
        if (listening) {
            LIBC(recv)(fd, &b, 1, MSG_DONTWAIT);
            errno = saved;
        }
        struct nc_share_req q;
        struct nc_share_rep p;
        int nfd;
        req_init(&q);
        long r = nc__remote_rpc(NC_OP_ACCEPT, fd, &q, &p, &nfd);
        /* listen() came from another process holding the socket (EAGAIN says listening) */
        if ((r >= 0 || r == -EAGAIN) && !listening) {
            nc__remote_bits(fd, NC_RK_LISTENING, NC_RK_UNCONN);
            listening = true;
        }
        if (r >= 0) {
            int nk = nfd >= 0 ? rep_kind(&p) : -EPROTO;
            if (nk < 0) {
                if (nfd >= 0)
                    LIBC(close)(nfd);
                return (int)nc__ret(nk);
            }
            int e = nc__addr_out(p.data, p.len, addr, len);
            if (e != 0) {
                LIBC(close)(nfd);
                return (int)nc__ret(e);
            }
            return new_fd(nfd, nk & ~NC_RK_LISTENING, flags);
        }
        if (r != -EAGAIN || !listening)
            return (int)nc__ret(r);
        int fl = LIBC(fcntl)(fd, F_GETFL);
        if (fl < 0 || (fl & O_NONBLOCK))
            return (int)nc__ret(-EAGAIN);
        ssize_t n = LIBC(recv)(fd, &b, 1, MSG_PEEK);
        if (n < 0)
            return -1; /* EINTR, EAGAIN (SO_RCVTIMEO): errno set by the kernel */
        if (n == 0 && ++eofs > 1) /* the driver closed its end: the listener is gone */
            return (int)nc__ret(-EINVAL);
    }
}

/* SO_SNDTIMEO of the fd in ms (-1: none), which bounds a blocking connect as in the kernel. */
static int send_timeout(int fd)
{
    struct timeval tv;
    socklen_t l = sizeof(tv);
    if (LIBC(getsockopt)(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &l) != 0 ||
        (tv.tv_sec == 0 && tv.tv_usec == 0))
        return -1;
    long long ms = (long long)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* The failure of a connect that a poll waited for (nc__remote_poll_connecting), kept for
 * the SO_ERROR that follows, as the kernel keeps it; by fd number, cleared by a connect. */
#define PENDING_FDS 4096
static _Atomic int pending_err[PENDING_FDS];

int nc__remote_connect(int fd, int k, const struct sockaddr *addr, socklen_t len)
{
    if (k & NC_RK_GONE)
        return (int)nc__ret(-ENETDOWN);
    if ((k & NC_RK_UNCONN) && nc__passthrough(addr, len) && handoff(fd, k) == 0)
        return LIBC(connect)(fd, addr, len);
    struct nc_share_req q;
    struct nc_share_rep p;
    req_init(&q);
    long r = req_addr(&q, addr, len);
    if (r != 0)
        return (int)nc__ret(r);
    int fl = LIBC(fcntl)(fd, F_GETFL);
    bool wait = (k & NC_RK_TYPE) == SOCK_STREAM && fl >= 0 && !(fl & O_NONBLOCK);
    q.a[0] = wait;
    if (fd >= 0 && fd < PENDING_FDS)
        atomic_store(&pending_err[fd], 0); /* a new connect: no failure of an older one */
    r = nc__remote_rpc_wait(NC_OP_CONNECT, fd, &q, &p, NULL, wait, wait ? send_timeout(fd) : -1);
    if ((k & NC_RK_TYPE) == SOCK_DGRAM) {
        if (r == 0 && len >= sizeof(sa_family_t) && addr->sa_family == AF_UNSPEC)
            nc__remote_bits(fd, 0, NC_RK_PEER);
        else if (r == 0)
            nc__remote_bits(fd, NC_RK_PEER, 0);
        return (int)nc__ret(r);
    }
    /* Interrupted or out of SO_SNDTIMEO's time, the connect goes on (the driver's reply is
     * dropped with the connection): as in the kernel, EINTR, or EINPROGRESS. ETIMEDOUT is the
     * connect's own failure (no answer to the SYNs), the driver's reply, passed on. */
    if (r == -ETIME)
        r = -EINPROGRESS;
    if (r == -EINPROGRESS || r == -EINTR || r == -EALREADY)
        nc__remote_bits(fd, NC_RK_CONNECTING, NC_RK_UNCONN);
    else if (r == 0 || r == -EISCONN)
        nc__remote_bits(fd, 0, NC_RK_CONNECTING | NC_RK_UNCONN);
    else
        nc__remote_bits(fd, 0, NC_RK_CONNECTING);
    return (int)nc__ret(r);
}

/*
 * The outcome of a connect under way: poll says a relayed socket is writable at once (its
 * socketpair has room), so on a blocking fd SO_ERROR and getpeername ask the driver to wait
 * for it, and answer what the kernel would have once the connection is made or has failed.
 * A non-blocking fd must not block there (an event loop asks SO_ERROR as soon as poll says
 * writable): the driver is asked how it stands now (a0 = 2), and -EALREADY says the connect
 * is still under way, which the callers answer as the kernel does meanwhile (SO_ERROR 0,
 * getpeername ENOTCONN); the socket stays marked connecting.
 */
int nc__remote_poll_connecting(int fd, int timeout_ms)
{
    if (fd < 0 || fd >= PENDING_FDS)
        return 1;
    struct nc_share_req q;
    struct nc_share_rep p;
    req_init(&q);
    /* No time to wait: how it stands now (a poll with timeout 0, as event loops make). */
    q.a[0] = timeout_ms == 0 ? 2 : 1;
    long r = nc__remote_rpc_wait(NC_OP_CONNECT, fd, &q, &p, NULL, timeout_ms != 0, timeout_ms);
    if (r == -ETIME || r == -EALREADY)
        return 0; /* still connecting when the poll's time ran out */
    if (r == -EINTR)
        return -EINTR;
    if (r == -ENETDOWN)
        return 1; /* the poll reports what it finds (the driver's end closed) */
    if (r < 0)
        atomic_store(&pending_err[fd], (int)-r);
    else
        nc__remote_bits(fd, 0, NC_RK_CONNECTING);
    return 1;
}

static long connect_outcome(int fd)
{
    /* A failure a poll already waited for: reported now, once. */
    int e = fd >= 0 && fd < PENDING_FDS ? atomic_exchange(&pending_err[fd], 0) : 0;
    if (e != 0) {
        nc__remote_bits(fd, 0, NC_RK_CONNECTING);
        return -e;
    }
    struct nc_share_req q;
    struct nc_share_rep p;
    req_init(&q);
    int fl = LIBC(fcntl)(fd, F_GETFL);
    bool wait = fl < 0 || !(fl & O_NONBLOCK);
    q.a[0] = wait ? 1 : 2;
    long r = nc__remote_rpc_wait(NC_OP_CONNECT, fd, &q, &p, NULL, wait, -1);
    if (r != -EINTR && r != -ENETDOWN && r != -EALREADY)
        nc__remote_bits(fd, 0, NC_RK_CONNECTING);
    return r;
}

int nc__remote_shutdown(int fd, int k, int how)
{
    (void)k;
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
        return (int)nc__ret(-EINVAL);
    struct nc_share_req q;
    struct nc_share_rep p;
    req_init(&q);
    q.a[0] = how;
    long r = nc__remote_rpc(NC_OP_SHUTDOWN, fd, &q, &p, NULL);
    /* The socketpair itself stays open both ways (its hang-up means the last close): what
     * the program writes after SHUT_WR would be read and dropped by the driver, where the
     * kernel says EPIPE. This process says it; another holding the socket does not know. */
    if (r == 0 && how != SHUT_RD)
        nc__remote_bits(fd, NC_RK_WRSHUT, 0);
    /* UDP: the driver then ends the program's end (a read of 0); without it, a read of 0
     * means the driver is gone (remote_io.c). ENOTCONN (not connected) marks it shut too. */
    if ((r == 0 || r == -ENOTCONN) && how != SHUT_WR)
        nc__remote_bits(fd, NC_RK_RDSHUT, 0);
    return (int)nc__ret(r);
}

static int name_call(int op, int fd, struct sockaddr *addr, socklen_t *len)
{
    if (len == NULL || addr == NULL)
        return (int)nc__ret(-EFAULT);
    if ((int)*len < 0)
        return (int)nc__ret(-EINVAL);
    struct nc_share_req q;
    struct nc_share_rep p;
    req_init(&q);
    long r = nc__remote_rpc(op, fd, &q, &p, NULL);
    if (r == 0)
        r = nc__addr_out(p.data, p.len, addr, len);
    return (int)nc__ret(r);
}

int nc__remote_getsockname(int fd, int k, struct sockaddr *addr, socklen_t *len)
{
    (void)k;
    return name_call(NC_OP_GETSOCKNAME, fd, addr, len);
}

int nc__remote_getpeername(int fd, int k, struct sockaddr *addr, socklen_t *len)
{
    if (k & NC_RK_CONNECTING) {
        long r = connect_outcome(fd);
        if (r == -EALREADY)
            r = -ENOTCONN; /* still connecting, as the kernel says meanwhile */
        if (r == -EINTR || r == -ENETDOWN || r == -ENOTCONN)
            return (int)nc__ret(r);
    }
    return name_call(NC_OP_GETPEERNAME, fd, addr, len);
}

/* An int option's value out, as the kernel copies it: at most *len bytes of it. */
static int put_int(void *val, socklen_t *len, int v)
{
    socklen_t l = *len < sizeof(int) ? *len : sizeof(int);
    memcpy(val, &v, l);
    *len = l;
    return 0;
}

int nc__remote_getsockopt(int fd, int k, int level, int name, void *val, socklen_t *len)
{
    if (len == NULL || val == NULL)
        return (int)nc__ret(-EFAULT);
    if ((int)*len < 0)
        return (int)nc__ret(-EINVAL);
    if (level == SOL_SOCKET) {
        switch (name) {
        case SO_TYPE:
            return put_int(val, len, k & NC_RK_TYPE);
        case SO_DOMAIN:
            return put_int(val, len, k & NC_RK_INET6 ? AF_INET6 : AF_INET);
        case SO_PROTOCOL:
            return put_int(val, len,
                           (k & NC_RK_TYPE) == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP);
        case SO_ACCEPTCONN:
            if (k & NC_RK_LISTENING)
                return put_int(val, len, 1);
            break;
        case SO_RCVTIMEO:
        case SO_SNDTIMEO:
            if (k & NC_RK_GONE)
                return (int)nc__ret(-ENETDOWN);
            return LIBC(getsockopt)(fd, level, name, val, len);
        case SO_ERROR:
            if (k & NC_RK_CONNECTING) {
                long r = connect_outcome(fd);
                if (r == -EALREADY) /* still connecting: no error yet, as in the kernel */
                    return put_int(val, len, 0);
                if (r == -EINTR || r == -ENETDOWN)
                    return (int)nc__ret(r);
                if (r < 0) {
                    /* Reported once, as SO_ERROR takes it: the driver's copy goes too. */
                    int v;
                    socklen_t l = sizeof(v);
                    nc__remote_getsockopt(fd, k & ~NC_RK_CONNECTING, level, name, &v, &l);
                }
                return put_int(val, len, (int)-r);
            }
            break;
        default:
            break;
        }
    }
    struct nc_share_req q;
    struct nc_share_rep p;
    req_init(&q);
    q.a[0] = level;
    q.a[1] = name;
    q.a[2] = *len < NC_SHARE_DATA ? *len : NC_SHARE_DATA;
    long r = nc__remote_rpc(NC_OP_GETSOCKOPT, fd, &q, &p, NULL);
    if (r < 0)
        return (int)nc__ret(r);
    size_t l = p.len < *len ? p.len : *len;
    memcpy(val, p.data, l);
    *len = (socklen_t)l;
    return 0;
}

int nc__remote_setsockopt(int fd, int k, int level, int name, const void *val, socklen_t len)
{
    if ((int)len < 0)
        return (int)nc__ret(-EINVAL);
    if (len > 0 && val == NULL)
        return (int)nc__ret(-EFAULT);
    if (k & NC_RK_GONE)
        return (int)nc__ret(-ENETDOWN);
    /* The kernel waits on the fd: its timeouts are the fd's. */
    if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO ||
                                name == SO_RCVTIMEO_NEW || name == SO_SNDTIMEO_NEW))
        return LIBC(setsockopt)(fd, level, name, val, len);
    struct nc_share_req q;
    struct nc_share_rep p;
    req_init(&q);
    q.a[0] = level;
    q.a[1] = name;
    /* No option netcore has is larger; the kernel reads only the size it needs, too. */
    size_t l = len < NC_SHARE_DATA ? len : NC_SHARE_DATA;
    memcpy(q.data, val, l);
    q.len = (uint16_t)l;
    return (int)nc__ret(nc__remote_rpc(NC_OP_SETSOCKOPT, fd, &q, &p, NULL));
}

int nc__remote_ioctl(int fd, int k, unsigned long req, void *arg)
{
    switch (req) {
    case FIONBIO:
    case FIOCLEX:
    case FIONCLEX:
    case FIOASYNC:
    case FIOSETOWN:
    case SIOCSPGRP:
    case FIOGETOWN:
    case SIOCGPGRP:
        return LIBC(ioctl)(fd, req, arg);
    case FIONREAD: {
        if (k & NC_RK_GONE)
            return (int)nc__ret(-ENETDOWN);
        if (k & NC_RK_LISTENING)
            return (int)nc__ret(-EINVAL);
        int n;
        if (LIBC(ioctl)(fd, FIONREAD, &n) != 0)
            return -1;
        /* A datagram's message starts with its header. */
        if ((k & NC_RK_TYPE) == SOCK_DGRAM)
            n = n >= (int)sizeof(struct nc_share_dgram) ? n - (int)sizeof(struct nc_share_dgram)
                                                        : 0;
        if (arg == NULL)
            return (int)nc__ret(-EFAULT);
        *(int *)arg = n;
        return 0;
    }
    case SIOCOUTQ:
    case SIOCOUTQNSD: {
        if (k & NC_RK_LISTENING)
            return (int)nc__ret(-EINVAL);
        struct nc_share_req q;
        struct nc_share_rep p;
        req_init(&q);
        q.a[0] = (int64_t)req;
        long r = nc__remote_rpc(NC_OP_IOCTL, fd, &q, &p, NULL);
        if (r < 0)
            return (int)nc__ret(r);
        /* What the driver has not even read from the socketpair is unsent too. */
        int pend = 0;
        if (LIBC(ioctl)(fd, SIOCOUTQ, &pend) != 0 || pend < 0)
            pend = 0;
        if (arg == NULL)
            return (int)nc__ret(-EFAULT);
        *(int *)arg = (int)r + pend;
        return 0;
    }
    case SIOCATMARK:
        if ((k & NC_RK_TYPE) != SOCK_STREAM)
            return (int)nc__ret(-ENOTTY);
        if (arg == NULL)
            return (int)nc__ret(-EFAULT);
        *(int *)arg = 0; /* urgent data comes inline: never at a mark */
        return 0;
    default:
        return (int)nc__ret(-ENOTTY);
    }
}
