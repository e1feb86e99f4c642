/*
 * Socket life cycle and control calls: socket, bind, listen, accept, connect, shutdown,
 * close, names, options, and the fd calls (dup*, fcntl, ioctl) that must know our fds.
 * Anything that is not a netcore socket goes to libc unchanged.
 */
#include <fcntl.h>
#include <linux/close_range.h>
#include <stdint.h>
#include <stdio.h>
#include <stdarg.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "shim.h"

/*
 * The sockets netcore can serve: TCP and UDP over IPv4. Any other protocol (ping sockets,
 * SCTP, MPTCP) and every bad argument go to the kernel, which answers as it would without
 * the shim: a socket of its own, or the errno a program expects.
 */
static bool ours_type(int domain, int type, int protocol)
{
    int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (domain != AF_INET && domain != AF_INET6)
        return false;
    if (base == SOCK_STREAM)
        return protocol == 0 || protocol == IPPROTO_TCP;
    if (base == SOCK_DGRAM)
        return protocol == 0 || protocol == IPPROTO_UDP;
    return false;
}

int socket(int domain, int type, int protocol)
{
    if (nc__in_stack_thread || !ours_type(domain, type, protocol))
        return LIBC(socket)(domain, type, protocol);
    int rc = nc__shim_start();
    if (rc != 0)
        return (int)nc__ret(rc);
    if (nc_stack == NULL) /* attached to a stack another process drives */
        return nc__remote_socket(domain, type, protocol);
    int h = netcore_socket(nc_stack, domain, type, protocol);
    if (h < 0)
        return (int)nc__ret(h);
    return (int)nc__ret(nc__fd_open(h, type & SOCK_CLOEXEC));
}

int socketpair(int domain, int type, int protocol, int sv[2])
{
    return LIBC(socketpair)(domain, type, protocol, sv);
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    int h = nc__fd_lookup(fd);
    if (h < 0)
        return nc__remote_bind(fd, -h, addr, len);
    if (h-- == 0)
        return LIBC(bind)(fd, addr, len);
    if (nc__passthrough(addr, len) && nc__handoff(fd, h) == 0)
        return LIBC(bind)(fd, addr, len);
    return (int)nc__ret(netcore_bind(nc_stack, h, addr, len));
}

int listen(int fd, int backlog)
{
    int h = nc__fd_lookup(fd);
    if (h < 0)
        return nc__remote_listen(fd, -h, backlog);
    if (h-- == 0)
        return LIBC(listen)(fd, backlog);
    return (int)nc__ret(netcore_listen(nc_stack, h, backlog));
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    int h = nc__fd_lookup(fd);
    if (h < 0)
        return nc__remote_accept4(fd, -h, addr, len, flags);
    if (h-- == 0)
        return LIBC(accept4)(fd, addr, len, flags);
    int nh;
    do {
        nh = netcore_accept(nc_stack, h, addr, len, flags);
    } while (nh == -EINTR && nc__restart_after_eintr(h, false));
    if (nh < 0)
        return (int)nc__ret(nh);
    return (int)nc__ret(nc__fd_open(nh, flags & SOCK_CLOEXEC));
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    int h = nc__fd_lookup(fd);
    if (h < 0)
        return nc__remote_accept4(fd, -h, addr, len, 0);
    if (h == 0)
        return LIBC(accept)(fd, addr, len);
    return accept4(fd, addr, len, 0);
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    int h = nc__fd_lookup(fd);
    if (h < 0)
        return nc__remote_connect(fd, -h, addr, len);
    if (h-- == 0)
        return LIBC(connect)(fd, addr, len);
    if (nc__passthrough(addr, len) && nc__handoff(fd, h) == 0)
        return LIBC(connect)(fd, addr, len);
    /* An interrupted connect goes on in the background, as in the kernel. */
    return (int)nc__ret(netcore_connect(nc_stack, h, addr, len));
}

int shutdown(int fd, int how)
{
    int h = nc__fd_lookup(fd);
    if (h < 0)
        return nc__remote_shutdown(fd, -h, how);
    if (h-- == 0)
        return LIBC(shutdown)(fd, how);
    return (int)nc__ret(netcore_shutdown(nc_stack, h, how));
}

/* Drops fd's reference to its socket; the last one closes the socket. */
static void release(int fd)
{
    int h;
    int left = nc__fd_unbind(fd, &h);
    if (left == 0)
        netcore_close(nc_stack, h);
}

int close(int fd)
{
    if (nc__in_stack_thread)
        return LIBC(close)(fd);
    nc__epoll_forget_fd(fd);
    int e = nc__fd_entry(fd);
    if (e > 0)
        release(fd);
    else if (e < 0)
        nc__remote_forget(fd);
    return LIBC(close)(fd);
}

/* close_range and fclose close fds inside libc, where our close() does not see them. */
int close_range(unsigned int first, unsigned int last, int flags)
{
    if (LIBC(close_range) == NULL)
        return (int)nc__ret(-ENOSYS);
    /* UNSHARE closes only in the caller's private copy of the fd table. */
    if (!nc__in_stack_thread && !(flags & (CLOSE_RANGE_CLOEXEC | CLOSE_RANGE_UNSHARE))) {
        for (unsigned int fd = first; fd <= last && fd < NC_FD_MAX; fd++) {
            int e = nc__fd_entry((int)fd);
            if (e != 0 || nc__epoll_known((int)fd)) {
                nc__epoll_forget_fd((int)fd);
                if (e > 0)
                    release((int)fd);
                else if (e < 0)
                    nc__remote_forget((int)fd);
            }
            if (fd == last)
                break;
        }
    }
    return LIBC(close_range)(first, last, flags);
}

/*
 * stdio reads and writes through libc-internal entry points that the shim cannot see, so a
 * FILE on a netcore socket is a cookie stream over our own read/write/close. (fileno() of
 * such a stream is -1: a program that polls it must poll the fd it passed to fdopen.)
 */
static ssize_t cookie_read(void *c, char *buf, size_t len)
{
    return read((int)(intptr_t)c, buf, len);
}

static ssize_t cookie_write(void *c, const char *buf, size_t len)
{
    /* stdio takes a short count for an error: the bytes written, or 0 (never -1), errno set. */
    ssize_t n = nc__write_all((int)(intptr_t)c, buf, len, false);
    if (n < 0) {
        errno = (int)-n;
        return 0;
    }
    return n;
}

static int cookie_close(void *c)
{
    return close((int)(intptr_t)c);
}

FILE *fdopen(int fd, const char *mode)
{
    if (nc__in_stack_thread || nc__fd_handle(fd) < 0)
        return LIBC(fdopen)(fd, mode);
    cookie_io_functions_t io = { cookie_read, cookie_write, NULL, cookie_close };
    return fopencookie((void *)(intptr_t)fd, mode, io);
}

int fclose(FILE *f)
{
    int fd = f != NULL ? fileno(f) : -1;
    if (!nc__in_stack_thread && fd >= 0 && nc__fd_handle(fd) >= 0) {
        fflush(f); /* through our write(), while the fd is still ours */
        nc__epoll_forget_fd(fd);
        release(fd);
    } else if (!nc__in_stack_thread && fd >= 0 && nc__fd_entry(fd) < 0) {
        nc__epoll_forget_fd(fd);
        nc__remote_forget(fd);
    }
    return LIBC(fclose)(f);
}

int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
    int h = nc__fd_lookup(fd);
    if (h < 0)
        return nc__remote_getsockname(fd, -h, addr, len);
    if (h-- == 0)
        return LIBC(getsockname)(fd, addr, len);
    return (int)nc__ret(netcore_getsockname(nc_stack, h, addr, len));
}

int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
    int h = nc__fd_lookup(fd);
    if (h < 0)
        return nc__remote_getpeername(fd, -h, addr, len);
    if (h-- == 0)
        return LIBC(getpeername)(fd, addr, len);
    return (int)nc__ret(netcore_getpeername(nc_stack, h, addr, len));
}

int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    int h = nc__fd_lookup(fd);
    if (h < 0)
        return nc__remote_getsockopt(fd, -h, level, name, val, len);
    if (h-- == 0)
        return LIBC(getsockopt)(fd, level, name, val, len);
    return (int)nc__ret(netcore_getsockopt(nc_stack, h, level, name, val, len));
}

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    int h = nc__fd_lookup(fd);
    if (h < 0)
        return nc__remote_setsockopt(fd, -h, level, name, val, len);
    if (h-- == 0)
        return LIBC(setsockopt)(fd, level, name, val, len);
    return (int)nc__ret(netcore_setsockopt(nc_stack, h, level, name, val, len));
}

/* A new fd from the kernel that refers to the same eventfd as one of ours. */
static int adopt(int newfd, int h)
{
    if (newfd >= 0 && nc__fd_bind(newfd, h) != 0) {
        LIBC(close)(newfd);
        errno = EMFILE;
        return -1;
    }
    return newfd;
}

int dup(int fd)
{
    int h = nc__fd_lookup(fd);
    if (h < 0)
        return nc__remote_dup(LIBC(dup)(fd), -h);
    if (h-- == 0)
        return LIBC(dup)(fd);
    return adopt(LIBC(dup)(fd), h);
}

int dup3(int old, int new, int flags)
{
    if (nc__in_stack_thread)
        return LIBC(dup3)(old, new, flags);
    int h = nc__fd_lookup(old);
    if (old == new)
        return LIBC(dup3)(old, new, flags); /* EINVAL from the kernel */
    int r = LIBC(dup3)(old, new, flags);
    if (r < 0)
        return r;
    /* dup3 closed whatever new was: let go of it first. */
    nc__epoll_forget_fd(new);
    int e = nc__fd_entry(new);
    if (e > 0)
        release(new);
    else if (e < 0)
        nc__remote_forget(new);
    if (h < 0)
        return nc__remote_dup(r, -h);
    return h > 0 ? adopt(r, h - 1) : r;
}

int dup2(int old, int new)
{
    if (nc__in_stack_thread || old == new)
        return LIBC(dup2)(old, new);
    return dup3(old, new, 0);
}

static int do_fcntl(int fd, int cmd, long arg)
{
    int h = nc__fd_lookup(fd);
    if (h < 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
        return nc__remote_dup(LIBC(fcntl)(fd, cmd, arg), -h);
    if (h <= 0) /* a relayed socket's flags are its fd's */
        return LIBC(fcntl)(fd, cmd, arg);
    h--;
    switch (cmd) {
    case F_GETFL: {
        int nb = netcore_get_nonblock(nc_stack, h);
        return nb < 0 ? (int)nc__ret(nb) : O_RDWR | (nb ? O_NONBLOCK : 0);
    }
    case F_SETFL:
        return (int)nc__ret(netcore_set_nonblock(nc_stack, h, (arg & O_NONBLOCK) != 0));
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
        return adopt(LIBC(fcntl)(fd, cmd, arg), h);
    default:
        return LIBC(fcntl)(fd, cmd, arg);
    }
}

int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    long arg = va_arg(ap, long);
    va_end(ap);
    return do_fcntl(fd, cmd, arg);
}

/*
 * The same function under two more names: fcntl64, what glibc 2.28+ headers call under
 * _FILE_OFFSET_BITS=64, and __fcntl, glibc's public double-underscore name (alias.c).
 */
int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));
int __fcntl(int fd, int cmd, ...) __attribute__((alias("fcntl")));

int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    int h = nc__fd_lookup(fd);
    if (h < 0)
        return nc__remote_ioctl(fd, -h, req, arg);
    if (h-- == 0)
        return LIBC(ioctl)(fd, req, arg);
    switch (req) {
    case FIONBIO:
        if (arg == NULL)
            return (int)nc__ret(-EFAULT);
        return (int)nc__ret(netcore_set_nonblock(nc_stack, h, *(int *)arg != 0));
    case FIONREAD:   /* SIOCINQ */
    case TIOCOUTQ:   /* SIOCOUTQ */
    case SIOCOUTQNSD:
    case SIOCATMARK: {
        int n;
        if (req == FIONREAD)
            n = netcore_readable_bytes(nc_stack, h);
        else if (req == SIOCATMARK)
            n = nc__stream(h) ? 0 : -ENOTTY; /* urgent data comes inline: never at a mark */
        else
            n = netcore_queued_bytes(nc_stack, h, req == SIOCOUTQNSD);
        if (n < 0)
            return (int)nc__ret(n);
        if (arg == NULL)
            return (int)nc__ret(-EFAULT);
        *(int *)arg = n;
        return 0;
    }
    default:
        return (int)nc__ret(-ENOTTY);
    }
}
