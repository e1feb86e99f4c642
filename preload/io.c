/*
 * Data calls: send/recv in all their forms, and read/write/readv/writev/preadv2/pwritev2/
 * sendfile on our fds.
 * EPIPE on a TCP socket raises SIGPIPE unless MSG_NOSIGNAL, as the kernel does (a UDP
 * socket shut for writing says EPIPE without the signal).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

static ssize_t do_send(int h, const void *buf, size_t len, int flags,
                       const struct sockaddr *to, socklen_t tolen)
{
    ssize_t n;
    do {
        n = netcore_sendto(nc_stack, h, buf, len, flags, to, tolen);
    } while (n == -EINTR && nc__restart_after_eintr(h, true));
    if (n == -EPIPE && !(flags & MSG_NOSIGNAL) && nc__stream(h))
        raise(SIGPIPE);
    return n;
}

static ssize_t do_recv(int h, void *buf, size_t len, int flags, struct sockaddr *from,
                       socklen_t *fromlen)
{
    ssize_t n;
    do {
        n = netcore_recvfrom(nc_stack, h, buf, len, flags, from, fromlen);
    } while (n == -EINTR && nc__restart_after_eintr(h, false));
    return n;
}

/* One buffer to or from an fd of ours (d.to is not libc): the core's, or a relayed socket's
 * (remote_io.c). Negative errno. */
static ssize_t send_buf(int fd, struct nc_dest d, const void *buf, size_t len, int flags,
                        const struct sockaddr *to, socklen_t tolen)
{
    if (d.to == NC_TO_CORE)
        return do_send(d.h, buf, len, flags, to, tolen);
    struct iovec v = { (void *)buf, len };
    return nc__remote_send(fd, d.h, &v, 1, flags, to, tolen);
}

static ssize_t recv_buf(int fd, struct nc_dest d, void *buf, size_t len, int flags,
                        struct sockaddr *from, socklen_t *fromlen)
{
    if (d.to == NC_TO_CORE)
        return do_recv(d.h, buf, len, flags, from, fromlen);
    struct iovec v = { buf, len };
    return nc__remote_recv(fd, d.h, &v, 1, flags, from, fromlen, NULL);
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    struct nc_dest d = nc__fd_route(fd);
    if (d.to == NC_TO_LIBC)
        return LIBC(send)(fd, buf, len, flags);
    return nc__ret(send_buf(fd, d, buf, len, flags, NULL, 0));
}

/* A first datagram to a pass-through address makes the socket a kernel one (passthru.c). */
ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
               socklen_t tolen)
{
    struct nc_dest d = nc__fd_route_addr(fd, to, tolen);
    if (d.to == NC_TO_LIBC)
        return LIBC(sendto)(fd, buf, len, flags, to, tolen);
    return nc__ret(send_buf(fd, d, buf, len, flags, to, tolen));
}

ssize_t write(int fd, const void *buf, size_t len)
{
    struct nc_dest d = nc__fd_route(fd);
    if (d.to == NC_TO_LIBC)
        return LIBC(write)(fd, buf, len);
    return nc__ret(send_buf(fd, d, buf, len, 0, NULL, 0));
}

/*
 * Writes all of buf to fd, ours or the kernel's: EINTR is retried, and EAGAIN from a
 * non-blocking fd waits for POLLOUT when wait is set (splice's bounce buffer, whose bytes have
 * nowhere else to go once taken) or ends the write (a stdio cookie stream: a kernel FILE on a
 * non-blocking socket gets a short write and EAGAIN too). Returns len; -errno when nothing
 * could be written; the count written when a later write fails (the next write on fd meets
 * the error again, as after any short write).
 */
ssize_t nc__write_all(int fd, const void *buf, size_t len, bool wait)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, (const char *)buf + done, len - done);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        int err = n < 0 ? errno : EIO;
        if (err == EAGAIN && wait) {
            struct pollfd p = { .fd = fd, .events = POLLOUT };
            if (poll(&p, 1, -1) >= 0 || errno == EINTR)
                continue;
            err = errno;
        }
        if (err == EINTR)
            continue;
        return done > 0 ? (ssize_t)done : -err;
    }
    return (ssize_t)done;
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    struct nc_dest d = nc__fd_route(fd);
    if (d.to == NC_TO_LIBC)
        return LIBC(recv)(fd, buf, len, flags);
    return nc__ret(recv_buf(fd, d, buf, len, flags, NULL, NULL));
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
                 socklen_t *fromlen)
{
    struct nc_dest d = nc__fd_route(fd);
    if (d.to == NC_TO_LIBC)
        return LIBC(recvfrom)(fd, buf, len, flags, from, fromlen);
    return nc__ret(recv_buf(fd, d, buf, len, flags, from, fromlen));
}

ssize_t read(int fd, void *buf, size_t len)
{
    struct nc_dest d = nc__fd_route(fd);
    if (d.to == NC_TO_LIBC)
        return LIBC(read)(fd, buf, len);
    /* A read of nothing returns 0 at once on a kernel socket, whatever its state ("match
     * SYS5 behaviour" in sock_read_iter); a recv of nothing waits for data instead. */
    if (len == 0)
        return 0;
    return nc__ret(recv_buf(fd, d, buf, len, 0, NULL, NULL));
}

ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
    if (len > buflen)
        abort(); /* what glibc's fortify check does */
    return recv(fd, buf, len, flags);
}

ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                       struct sockaddr *from, socklen_t *fromlen)
{
    if (len > buflen)
        abort();
    return recvfrom(fd, buf, len, flags, from, fromlen);
}

ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
    if (len > buflen)
        abort();
    return read(fd, buf, len);
}

static size_t iov_total(const struct iovec *iov, int n)
{
    size_t t = 0;
    for (int i = 0; i < n; i++)
        t += iov[i].iov_len;
    return t;
}

/* The kernel's UIO_MAXIOV: more is EINVAL for readv/writev, EMSGSIZE in a msghdr. */
#define IOV_MAX_N 1024

/*
 * Vectored calls gather into one buffer so a message stays one datagram and a TCP write
 * is one ring copy. Large vectors are bounded by what one call may move.
 */
#define VEC_MAX (1u << 20)

/* One buffer for a vector of n > 1 entries (p NULL: no memory), and its size. */
struct vec_buf {
    char *p;
    size_t len; /* the vector's, bounded by VEC_MAX */
};

static struct vec_buf vec_buffer(const struct iovec *iov, int n)
{
    size_t total = iov_total(iov, n);
    if (total > VEC_MAX)
        total = VEC_MAX;
    return (struct vec_buf){ malloc(total ? total : 1), total };
}

static ssize_t send_iov(int h, const struct iovec *iov, int n, int flags,
                        const struct sockaddr *to, socklen_t tolen)
{
    if (n == 1)
        return do_send(h, iov[0].iov_base, iov[0].iov_len, flags, to, tolen);
    struct vec_buf b = vec_buffer(iov, n);
    if (b.p == NULL)
        return -ENOBUFS;
    size_t off = 0;
    for (int i = 0; i < n && off < b.len; i++) {
        size_t k = iov[i].iov_len < b.len - off ? iov[i].iov_len : b.len - off;
        memcpy(b.p + off, iov[i].iov_base, k);
        off += k;
    }
    ssize_t r = do_send(h, b.p, b.len, flags, to, tolen);
    free(b.p);
    return r;
}

static ssize_t recv_iov(int h, const struct iovec *iov, int n, int flags,
                        struct sockaddr *from, socklen_t *fromlen)
{
    if (n == 1)
        return do_recv(h, iov[0].iov_base, iov[0].iov_len, flags, from, fromlen);
    struct vec_buf b = vec_buffer(iov, n);
    if (b.p == NULL)
        return -ENOBUFS;
    ssize_t r = do_recv(h, b.p, b.len, flags, from, fromlen);
    size_t got = r > 0 ? (size_t)r : 0;
    if ((flags & MSG_TRUNC) && got > b.len)
        got = b.len;
    size_t off = 0;
    for (int i = 0; i < n && off < got; i++) {
        size_t k = iov[i].iov_len < got - off ? iov[i].iov_len : got - off;
        memcpy(iov[i].iov_base, b.p + off, k);
        off += k;
    }
    free(b.p);
    return r;
}

/* The RWF_ flags a socket accepts; others are EOPNOTSUPP (kiocb_set_rw_flags). */
#define RWF_KNOWN (RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND)

/*
 * readv, writev, preadv2 and pwritev2 on an fd of ours: readv and writev are the other two
 * at offset -1 without flags, as in the kernel (vfs_readv, vfs_writev). At offset -1 they
 * read or write at the file position: on a socket that is recv/send, RWF_NOWAIT meaning
 * MSG_DONTWAIT (sock_read_iter). Any other offset is ESPIPE, as for pread on a socket (and on
 * the eventfd: pread, pwrite, preadv and pwritev are left to the kernel). A vector of nothing
 * is 0 at once: the kernel does not take it to the socket (no empty datagram is sent).
 */
static ssize_t rw_vec(int fd, struct nc_dest d, const struct iovec *iov, int n, off_t off,
                      int flags, bool sending)
{
    if (n < 0 || n > IOV_MAX_N)
        return -EINVAL;
    if (flags & ~RWF_KNOWN)
        return -EOPNOTSUPP;
    if (off != -1)
        return -ESPIPE;
    if (iov_total(iov, n) == 0)
        return 0;
    int mf = flags & RWF_NOWAIT ? MSG_DONTWAIT : 0;
    if (d.to == NC_TO_REMOTE)
        return sending ? nc__remote_send(fd, d.h, iov, n, mf, NULL, 0)
                       : nc__remote_recv(fd, d.h, iov, n, mf, NULL, NULL, NULL);
    return sending ? send_iov(d.h, iov, n, mf, NULL, 0) : recv_iov(d.h, iov, n, mf, NULL, NULL);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
    struct nc_dest d = nc__fd_route(fd);
    if (d.to == NC_TO_LIBC)
        return LIBC(writev)(fd, iov, n);
    return nc__ret(rw_vec(fd, d, iov, n, -1, 0, true));
}

ssize_t readv(int fd, const struct iovec *iov, int n)
{
    struct nc_dest d = nc__fd_route(fd);
    if (d.to == NC_TO_LIBC)
        return LIBC(readv)(fd, iov, n);
    return nc__ret(rw_vec(fd, d, iov, n, -1, 0, false));
}

ssize_t preadv2(int fd, const struct iovec *iov, int n, off_t off, int flags)
{
    struct nc_dest d = nc__fd_route(fd);
    if (d.to == NC_TO_LIBC)
        return LIBC(preadv2)(fd, iov, n, off, flags);
    return nc__ret(rw_vec(fd, d, iov, n, off, flags, false));
}

ssize_t pwritev2(int fd, const struct iovec *iov, int n, off_t off, int flags)
{
    struct nc_dest d = nc__fd_route(fd);
    if (d.to == NC_TO_LIBC)
        return LIBC(pwritev2)(fd, iov, n, off, flags);
    return nc__ret(rw_vec(fd, d, iov, n, off, flags, true));
}

ssize_t preadv64v2(int fd, const struct iovec *iov, int n, off64_t off, int flags)
{
    return preadv2(fd, iov, n, off, flags);
}

ssize_t pwritev64v2(int fd, const struct iovec *iov, int n, off64_t off, int flags)
{
    return pwritev2(fd, iov, n, off, flags);
}

/* One message of sendmsg/sendmmsg on an fd of ours. */
static ssize_t sendmsg_one(int fd, struct nc_dest d, const struct msghdr *msg, int flags)
{
    if (msg->msg_iovlen > IOV_MAX_N)
        return -EMSGSIZE;
    if (d.to == NC_TO_REMOTE)
        return nc__remote_send(fd, d.h, msg->msg_iov, (int)msg->msg_iovlen, flags,
                               msg->msg_name, msg->msg_namelen);
    return send_iov(d.h, msg->msg_iov, (int)msg->msg_iovlen, flags, msg->msg_name,
                    msg->msg_namelen);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    struct nc_dest d = nc__fd_route(fd);
    if (d.to == NC_TO_LIBC) {
        nc__convert_rights(msg); /* a netcore socket sent with SCM_RIGHTS goes relayed */
        return LIBC(sendmsg)(fd, msg, flags);
    }
    if (msg == NULL)
        return nc__ret(-EFAULT);
    /* A first datagram to a pass-through address: the socket becomes a kernel one. */
    if (d.to == NC_TO_CORE && msg->msg_iovlen <= IOV_MAX_N &&
        nc__passthrough(msg->msg_name, msg->msg_namelen) && nc__handoff(fd, d.h) == 0)
        return LIBC(sendmsg)(fd, msg, flags);
    return nc__ret(sendmsg_one(fd, d, msg, flags));
}

static ssize_t recvmsg_one(int fd, struct nc_dest d, struct msghdr *msg, int flags)
{
    if (msg == NULL)
        return -EFAULT;
    if (msg->msg_iovlen > IOV_MAX_N)
        return -EMSGSIZE;
    if (d.to == NC_TO_REMOTE) {
        socklen_t nl = msg->msg_namelen;
        int mf;
        ssize_t r = nc__remote_recv(fd, d.h, msg->msg_iov, (int)msg->msg_iovlen, flags,
                                    msg->msg_name, msg->msg_name != NULL ? &nl : NULL, &mf);
        if (r < 0)
            return r;
        msg->msg_namelen = msg->msg_name != NULL ? nl : 0;
        msg->msg_flags = mf;
        msg->msg_controllen = 0;
        return r;
    }
    size_t cap = iov_total(msg->msg_iov, (int)msg->msg_iovlen);
    struct sockaddr_storage from;
    socklen_t fromlen = sizeof(from);
    /* Ask for the datagram's full length so truncation can be reported in msg_flags. */
    ssize_t n = recv_iov(d.h, msg->msg_iov, (int)msg->msg_iovlen, flags | MSG_TRUNC,
                         msg->msg_name != NULL ? (struct sockaddr *)&from : NULL,
                         msg->msg_name != NULL ? &fromlen : NULL);
    if (n < 0)
        return n;
    msg->msg_flags = 0;
    if ((size_t)n > cap) {
        msg->msg_flags |= MSG_TRUNC;
        if (!(flags & MSG_TRUNC))
            n = (ssize_t)cap;
    }
    if (msg->msg_name != NULL) {
        socklen_t k = msg->msg_namelen < fromlen ? msg->msg_namelen : fromlen;
        memcpy(msg->msg_name, &from, k);
        msg->msg_namelen = fromlen;
    }
    msg->msg_controllen = 0;
    return n;
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    struct nc_dest d = nc__fd_route(fd);
    if (d.to == NC_TO_LIBC) {
        ssize_t n = LIBC(recvmsg)(fd, msg, flags);
        if (n >= 0 && !nc__in_stack_thread)
            nc__adopt_rights(msg); /* a relayed socket received is one of ours */
        return n;
    }
    return nc__ret(recvmsg_one(fd, d, msg, flags));
}

/*
 * sendmmsg/recvmmsg on an fd of ours: message after message until one fails. The count done
 * is returned, or the first message's error when none was done (the kernel's rule: a later
 * error is left for the next call to meet).
 */
static int mmsg(int fd, struct nc_dest d, struct mmsghdr *vec, unsigned int vlen, int flags,
                bool sending)
{
    unsigned int i;
    for (i = 0; i < vlen; i++) {
        ssize_t n;
        if (sending) {
            n = sendmsg_one(fd, d, &vec[i].msg_hdr, flags);
        } else {
            /* After the first datagram, take only what is already there (MSG_WAITFORONE). */
            int f = i > 0 && (flags & MSG_WAITFORONE) ? flags | MSG_DONTWAIT : flags;
            n = recvmsg_one(fd, d, &vec[i].msg_hdr, f & ~MSG_WAITFORONE);
        }
        if (n < 0) {
            if (i == 0)
                return (int)nc__ret(n);
            break;
        }
        vec[i].msg_len = (unsigned int)n;
    }
    return (int)i;
}

int sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
    struct nc_dest d = nc__fd_route(fd);
    if (d.to == NC_TO_LIBC)
        return LIBC(sendmmsg)(fd, vec, vlen, flags);
    return mmsg(fd, d, vec, vlen, flags, true);
}

int recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags, struct timespec *tmo)
{
    struct nc_dest d = nc__fd_route(fd);
    if (d.to == NC_TO_LIBC)
        return LIBC(recvmmsg)(fd, vec, vlen, flags, tmo);
    return mmsg(fd, d, vec, vlen, flags, false);
}

/* The most one sendfile to a socket moves; a heap buffer, as thread stacks may be small. */
#define SENDFILE_MAX (64 * 1024)

ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
    int h;
    if (OURS(in, h))
        return nc__ret(nc__sendfile_from(in, out, off, count));
    /* A relayed TCP socket is a kernel stream socket: sendfile to it is the kernel's. A
     * relayed UDP one needs its datagram header: through the bounce buffer below. */
    struct nc_dest d = nc__fd_route(out);
    if (d.to == NC_TO_LIBC || (d.to == NC_TO_REMOTE && (d.h & NC_RK_TYPE) == SOCK_STREAM))
        return LIBC(sendfile)(out, in, off, count);
    /* Read at the offset and move it only by what was sent, so a short or failed send
     * leaves the rest of the file where the next call will find it. */
    off_t pos = off != NULL ? *off : lseek(in, 0, SEEK_CUR);
    if (pos < 0)
        return -1;
    size_t want = count < SENDFILE_MAX ? count : SENDFILE_MAX;
    char *buf = malloc(want);
    if (buf == NULL)
        return nc__ret(-ENOMEM);
    ssize_t w = pread(in, buf, want, pos);
    if (w > 0)
        w = send_buf(out, d, buf, (size_t)w, 0, NULL, 0);
    else
        w = w < 0 ? -errno : 0;
    free(buf);
    if (w <= 0)
        return nc__ret(w);
    if (off != NULL)
        *off = pos + w;
    else
        lseek(in, pos + w, SEEK_SET);
    return w;
}

/* The name programs built with _FILE_OFFSET_BITS=64 call (off_t is 64 bits here anyway). */
ssize_t sendfile64(int out, int in, off64_t *off, size_t count)
{
    return sendfile(out, in, off, count);
}
