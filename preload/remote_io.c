/*
 * Data on relayed sockets (remote.c): the kernel moves it, through the socketpair whose other
 * end the driver pumps. Blocking, O_NONBLOCK, SO_RCVTIMEO/SO_SNDTIMEO, MSG_PEEK/DONTWAIT/
 * WAITALL, EINTR and SA_RESTART are then the kernel's own. What is added:
 * - TCP: an end of stream or a broken pipe may stand for a connection error (a reset, a
 *   timeout) that the socketpair cannot carry: the driver is asked (NC_OP_STATUS) and its
 *   error reported instead. A listener's fd carries accept tokens, never data.
 * - UDP: the socketpair is SOCK_SEQPACKET, one message per datagram with a struct
 *   nc_share_dgram in front naming the destination (sending) or the source (receiving).
 * Negative errno returns; io.c sets errno.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/share.h"
#include "shim.h"

/* The kernel's UIO_MAXIOV: a vector of the program's plus our header must not pass it. */
#define IOV_LIMIT 1024

/* What a read that met the end of the stream, or a write that met EPIPE, reports: ENETDOWN
 * when the driver is gone, or a new one does not know the socket. */
static long status(int fd)
{
    struct nc_share_req q;
    struct nc_share_rep p;
    memset(&q, 0, sizeof(q));
    long r = nc__remote_rpc(NC_OP_STATUS, fd, &q, &p, NULL);
    return r == -EBADF || r == -ENOTSOCK ? -ENETDOWN : r;
}

/*
 * A TCP socket this process saw created and never connected: the driver does not read or
 * write its socketpair, so a read would wait forever where the kernel says ENOTCONN. Another
 * process holding the same socket may have connected it since: ask before failing.
 */
static bool unconnected(int fd)
{
    struct nc_share_req q;
    struct nc_share_rep p;
    memset(&q, 0, sizeof(q));
    long r = nc__remote_rpc(NC_OP_GETPEERNAME, fd, &q, &p, NULL);
    if (r == 0)
        nc__remote_bits(fd, 0, NC_RK_UNCONN);
    return r == -ENOTCONN;
}

/* The iovec [head, iov...] in out (n + 1 entries); malloc'd when large, else in small. */
static struct iovec *with_head(struct iovec *small, int nsmall, void *head, size_t hlen,
                               const struct iovec *iov, int n)
{
    struct iovec *v = n + 1 <= nsmall ? small : malloc(sizeof(*v) * (size_t)(n + 1));
    if (v == NULL)
        return NULL;
    v[0].iov_base = head;
    v[0].iov_len = hlen;
    if (n > 0)
        memcpy(v + 1, iov, sizeof(*v) * (size_t)n);
    return v;
}

static int dgram_to(struct nc_share_dgram *h, int k, const struct sockaddr *to,
                    socklen_t tolen)
{
    memset(h, 0, sizeof(*h));
    if (to == NULL || tolen == 0)
        return (k & NC_RK_PEER) ? 0 : -EDESTADDRREQ;
    if (tolen < sizeof(sa_family_t) || (int)tolen < 0)
        return -EINVAL;
    switch (to->sa_family) {
    case AF_UNSPEC:
        return (k & NC_RK_PEER) ? 0 : -EDESTADDRREQ;
    case AF_INET: {
        struct sockaddr_in a;
        if (tolen < sizeof(a))
            return -EINVAL;
        memcpy(&a, to, sizeof(a));
        h->family = AF_INET;
        h->port = a.sin_port;
        memcpy(h->addr, &a.sin_addr, 4);
        return 0;
    }
    case AF_INET6: {
        struct sockaddr_in6 a;
        if (!(k & NC_RK_INET6))
            return -EAFNOSUPPORT;
        if (tolen < 24) /* SIN6_LEN_RFC2133: no scope id, as the kernel accepts */
            return -EINVAL;
        memset(&a, 0, sizeof(a));
        memcpy(&a, to, tolen < sizeof(a) ? tolen : sizeof(a));
        h->family = AF_INET6;
        h->port = a.sin6_port;
        h->scope = tolen >= sizeof(a) ? a.sin6_scope_id : 0;
        memcpy(h->addr, &a.sin6_addr, 16);
        return 0;
    }
    default:
        return k & NC_RK_INET6 ? -EINVAL : -EAFNOSUPPORT;
    }
}

/* A received datagram's source out to the program (truncated to *fromlen, as the kernel). */
static int dgram_from(const struct nc_share_dgram *h, struct sockaddr *from, socklen_t *fromlen)
{
    struct sockaddr_storage ss;
    socklen_t l;
    memset(&ss, 0, sizeof(ss));
    if (h->family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = h->port;
        a->sin6_scope_id = h->scope;
        memcpy(&a->sin6_addr, h->addr, 16);
        l = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = h->port;
        memcpy(&a->sin_addr, h->addr, 4);
        l = sizeof(*a);
    }
    return nc__addr_out(&ss, l, from, fromlen);
}

ssize_t nc__remote_send(int fd, int k, const struct iovec *iov, int n, int flags,
                        const struct sockaddr *to, socklen_t tolen)
{
    int f = (flags & MSG_DONTWAIT) | MSG_NOSIGNAL;
    if (k & NC_RK_GONE) /* its driver is gone (remote_gone.c): the fd is no socket now */
        return -ENETDOWN;
    if ((k & (NC_RK_TYPE | NC_RK_WRSHUT)) == (SOCK_DGRAM | NC_RK_WRSHUT))
        return -EPIPE; /* no SIGPIPE for a datagram socket, as the kernel */
    if ((k & NC_RK_TYPE) == SOCK_DGRAM) {
        struct nc_share_dgram h;
        int rc = dgram_to(&h, k, to, tolen);
        if (rc == -EDESTADDRREQ && !(k & NC_RK_PEER)) {
            /* connected by another process holding the socket? */
            struct nc_share_req q;
            struct nc_share_rep p;
            memset(&q, 0, sizeof(q));
            if (nc__remote_rpc(NC_OP_GETPEERNAME, fd, &q, &p, NULL) == 0) {
                nc__remote_bits(fd, NC_RK_PEER, 0);
                rc = 0;
            }
        }
        if (rc != 0)
            return rc;
        /* The largest datagram an IP packet carries: the socketpair would take more. */
        size_t total = 0;
        for (int i = 0; i < n; i++)
            total += iov[i].iov_len;
        if (total > ((k & NC_RK_INET6) ? 65527u : 65507u))
            return -EMSGSIZE;
        /* The header takes a vector entry: a full UIO_MAXIOV of the program's goes through
         * one buffer. */
        char *gather = NULL;
        struct iovec one;
        if (n >= IOV_LIMIT) {
            gather = malloc(total ? total : 1);
            if (gather == NULL)
                return -ENOBUFS;
            size_t off = 0;
            for (int i = 0; i < n; i++) {
                memcpy(gather + off, iov[i].iov_base, iov[i].iov_len);
                off += iov[i].iov_len;
            }
            one = (struct iovec){ gather, total };
            iov = &one;
            n = 1;
        }
        struct iovec small[8];
        struct iovec *v = with_head(small, 8, &h, sizeof(h), iov, n);
        if (v == NULL) {
            free(gather);
            return -ENOBUFS;
        }
        struct msghdr m = { .msg_iov = v, .msg_iovlen = (size_t)n + 1 };
        ssize_t r = LIBC(sendmsg)(fd, &m, f);
        int e = errno;
        free(gather);
        if (v != small)
            free(v);
        if (r < 0 && e == EPIPE) { /* the driver closed its end */
            nc__remote_gone(fd, false);
            return -ENETDOWN;
        }
        if (r < 0)
            return -e;
        return r >= (ssize_t)sizeof(h) ? r - (ssize_t)sizeof(h) : 0;
    }
    long e;
    if ((k & (NC_RK_LISTENING | NC_RK_WRSHUT)) || ((k & NC_RK_UNCONN) && unconnected(fd))) {
        e = -EPIPE;
    } else {
        struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n };
        ssize_t r = LIBC(sendmsg)(fd, &m, f);
        if (r >= 0)
            return r;
        if (errno != EPIPE)
            return -errno;
        e = status(fd);
        if (e >= 0)
            e = -EPIPE;
    }
    if (e == -EPIPE && !(flags & MSG_NOSIGNAL))
        raise(SIGPIPE);
    return e;
}

static ssize_t recv_dgram1(int fd, int k, const struct iovec *iov, int n, int flags,
                           struct sockaddr *from, socklen_t *fromlen, int *msg_flags);

/* A full UIO_MAXIOV of the program's (the header takes an entry) through one buffer. */
static ssize_t recv_dgram(int fd, int k, const struct iovec *iov, int n, int flags,
                          struct sockaddr *from, socklen_t *fromlen, int *msg_flags)
{
    if (n < IOV_LIMIT)
        return recv_dgram1(fd, k, iov, n, flags, from, fromlen, msg_flags);
    size_t cap = 0;
    for (int i = 0; i < n && cap < 65536; i++)
        cap += iov[i].iov_len;
    if (cap > 65536)
        cap = 65536;
    char *buf = malloc(cap ? cap : 1);
    if (buf == NULL)
        return -ENOBUFS;
    struct iovec one = { buf, cap };
    ssize_t r = recv_dgram1(fd, k, &one, 1, flags, from, fromlen, msg_flags);
    size_t got = r > 0 ? ((size_t)r < cap ? (size_t)r : cap) : 0;
    for (int i = 0, off = 0; i < n && (size_t)off < got; i++) {
        size_t k = iov[i].iov_len < got - (size_t)off ? iov[i].iov_len : got - (size_t)off;
        memcpy(iov[i].iov_base, buf + off, k);
        off += (int)k;
    }
    free(buf);
    return r;
}

/*
 * A read of 0 bytes from the SEQPACKET end: every datagram carries a header, so this is no
 * empty datagram but the end of the pair. The driver ends it after a shutdown(SHUT_RD) of the
 * socket (this process's, or another holder's: then it is alive and reports no error), and
 * the kernel ends it when the driver dies: a 0 then would look like an empty datagram to the
 * program, forever. What the read reports: 0 after a SHUT_RD, else the driver's error, or
 * ENETDOWN when it is gone or no longer knows the socket (a new driver: EBADF).
 */
static ssize_t dgram_eof(int fd, int k, struct sockaddr *from, socklen_t *fromlen)
{
    long e = 0;
    if (!(k & NC_RK_RDSHUT)) {
        e = status(fd);
        if (e == -EPROTO)
            e = -ENETDOWN;
        if (e > 0)
            e = 0;
    }
    if (e == 0 && from != NULL && fromlen != NULL)
        *fromlen = 0; /* no sender */
    return e;
}

static ssize_t recv_dgram1(int fd, int k, const struct iovec *iov, int n, int flags,
                           struct sockaddr *from, socklen_t *fromlen, int *msg_flags)
{
    struct nc_share_dgram h;
    struct iovec small[8];
    struct iovec *v = with_head(small, 8, &h, sizeof(h), iov, n);
    if (v == NULL)
        return -ENOBUFS;
    int f = flags & (MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC);
    ssize_t r;
    for (;;) {
        struct msghdr m = { .msg_iov = v, .msg_iovlen = (size_t)n + 1 };
        r = LIBC(recvmsg)(fd, &m, f);
        if (r < 0) {
            r = -errno;
            break;
        }
        if (r == 0) {
            r = dgram_eof(fd, k, from, fromlen);
            break;
        }
        if (r < (ssize_t)sizeof(h)) { /* not a datagram: drop it, take the next */
            if (f & MSG_PEEK)
                LIBC(recv)(fd, &h, sizeof(h), MSG_DONTWAIT);
            continue;
        }
        if (msg_flags != NULL)
            *msg_flags = m.msg_flags & MSG_TRUNC;
        int e = dgram_from(&h, from, fromlen);
        r = e != 0 ? e : r - (ssize_t)sizeof(h);
        break;
    }
    if (v != small)
        free(v);
    return r;
}

ssize_t nc__remote_recv(int fd, int k, const struct iovec *iov, int n, int flags,
                        struct sockaddr *from, socklen_t *fromlen, int *msg_flags)
{
    if (msg_flags != NULL)
        *msg_flags = 0;
    if (flags & MSG_ERRQUEUE)
        return -EAGAIN; /* nothing ever waits in netcore's error queue */
    if (k & NC_RK_GONE)
        return -ENETDOWN;
    if ((k & NC_RK_TYPE) == SOCK_DGRAM)
        return recv_dgram(fd, k, iov, n, flags, from, fromlen, msg_flags);
    if ((k & NC_RK_LISTENING) || ((k & NC_RK_UNCONN) && unconnected(fd)))
        return -ENOTCONN;
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n };
    ssize_t r = LIBC(recvmsg)(fd, &m, flags & (MSG_PEEK | MSG_DONTWAIT | MSG_WAITALL));
    if (r < 0)
        return -errno;
    if (r == 0 && total > 0) {
        long e = status(fd);
        if (e < 0)
            return e;
    }
    if (from != NULL) {
        /* A stream has no sender per message: the kernel hands back a 0-byte address. */
        if (fromlen == NULL)
            return -EFAULT;
        if ((int)*fromlen < 0)
            return -EINVAL;
        *fromlen = 0;
    }
    return r;
}
