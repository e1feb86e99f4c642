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
    int fd;
    int h = netcore_socket_fd(nc_stack, domain, type, protocol, &fd);
    if (h < 0)
        return (int)nc__ret(h);
    return (int)nc__ret(nc__fd_adopt(h, fd));
}

int socketpair(int domain, int type, int protocol, int sv[2])
{
    return LIBC(socketpair)(domain, type, protocol, sv);
}

/*
 * Calls of one signature share their routing: each passes its three ends, the core's, the
 * relayed socket's (which sets errno itself) and libc's. bind and connect name an address,
 * which may hand the socket to the kernel (passthru.c); listen and shutdown take an int;
 * getsockname and getpeername give an address.
 */
static int addr_in(int fd, const struct sockaddr *addr, socklen_t len,
                   int (*core)(struct netcore_stack *, int, const struct sockaddr *, socklen_t),
                   int (*remote)(int, int, const struct sockaddr *, socklen_t),
                   int (*libc)(int, const struct sockaddr *, socklen_t))
{
    struct nc_dest d = nc__fd_route_addr(fd, addr, len);
    switch (d.to) {
    case NC_TO_CORE: return (int)nc__ret(core(nc_stack, d.h, addr, len));
    case NC_TO_REMOTE: return remote(fd, d.h, addr, len);
    default: return libc(fd, addr, len);
    }
}

static int int_in(int fd, int arg, int (*core)(struct netcore_stack *, int, int),
                  int (*remote)(int, int, int), int (*libc)(int, int))
{
    struct nc_dest d = nc__fd_route(fd);
    switch (d.to) {
    case NC_TO_CORE: return (int)nc__ret(core(nc_stack, d.h, arg));
    case NC_TO_REMOTE: return remote(fd, d.h, arg);
    default: return libc(fd, arg);
    }
}

static int addr_out(int fd, struct sockaddr *addr, socklen_t *len,
                    int (*core)(struct netcore_stack *, int, struct sockaddr *, socklen_t *),
                    int (*remote)(int, int, struct sockaddr *, socklen_t *),
                    int (*libc)(int, struct sockaddr *, socklen_t *))
{
    struct nc_dest d = nc__fd_route(fd);
    switch (d.to) {
    case NC_TO_CORE: return (int)nc__ret(core(nc_stack, d.h, addr, len));
    case NC_TO_REMOTE: return remote(fd, d.h, addr, len);
    default: return libc(fd, addr, len);
    }
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    return addr_in(fd, addr, len, netcore_bind, nc__remote_bind, LIBC(bind));
}

int listen(int fd, int backlog)
{
    return int_in(fd, backlog, netcore_listen, nc__remote_listen, LIBC(listen));
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    struct nc_dest d = nc__fd_route(fd);
    if (d.to == NC_TO_REMOTE)
        return nc__remote_accept4(fd, d.h, addr, len, flags);
    if (d.to == NC_TO_LIBC)
        return LIBC(accept4)(fd, addr, len, flags);
    int nh, nfd;
    do {
        nh = netcore_accept_fd(nc_stack, d.h, addr, len, flags, &nfd);
    } while (nh == -EINTR && nc__restart_after_eintr(d.h, false));
    if (nh < 0)
        return (int)nc__ret(nh);
    return (int)nc__ret(nc__fd_adopt(nh, nfd));
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    if (nc__fd_route(fd).to == NC_TO_LIBC)
        return LIBC(accept)(fd, addr, len);
    return accept4(fd, addr, len, 0);
}

/* An interrupted connect goes on in the background, as in the kernel. */
int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    return addr_in(fd, addr, len, netcore_connect, nc__remote_connect, LIBC(connect));
}

int shutdown(int fd, int how)
{
    return int_in(fd, how, netcore_shutdown, nc__remote_shutdown, LIBC(shutdown));
}

/* Drops fd's reference to its socket; the last one closes the socket. */
static void release(int fd)
{
    int h;
    int left = nc__fd_unbind(fd, &h);
    if (left == 0)
        netcore_close(nc_stack, h);
}

/* fd is about to be closed, or replaced (dup3): the shim lets go of what it knew of it. */
static void forget(int fd)
{
    nc__epoll_forget_fd(fd);
    int e = nc__fd_entry(fd);
    if (e > 0)
        release(fd);
    else if (e < 0)
        nc__remote_forget(fd);
}

int close(int fd)
{
    if (!nc__in_stack_thread)
        forget(fd);
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
            if (nc__fd_entry((int)fd) != 0 || nc__epoll_known((int)fd))
                forget((int)fd);
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
    int e = !nc__in_stack_thread && fd >= 0 ? nc__fd_entry(fd) : 0;
    if (e > 0)
        fflush(f); /* through our write(), while the fd is still ours */
    if (e != 0)
        forget(fd);
    return LIBC(fclose)(f);
}

int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
    return addr_out(fd, addr, len, netcore_getsockname, nc__remote_getsockname,
                    LIBC(getsockname));
}

int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
    return addr_out(fd, addr, len, netcore_getpeername, nc__remote_getpeername,
                    LIBC(getpeername));
}

int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    struct nc_dest d = nc__fd_route(fd);
    switch (d.to) {
    case NC_TO_CORE: return (int)nc__ret(netcore_getsockopt(nc_stack, d.h, level, name, val, len));
    case NC_TO_REMOTE: return nc__remote_getsockopt(fd, d.h, level, name, val, len);
    default: return LIBC(getsockopt)(fd, level, name, val, len);
    }
}

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    struct nc_dest d = nc__fd_route(fd);
    switch (d.to) {
    case NC_TO_CORE: return (int)nc__ret(netcore_setsockopt(nc_stack, d.h, level, name, val, len));
    case NC_TO_REMOTE: return nc__remote_setsockopt(fd, d.h, level, name, val, len);
    default: return LIBC(setsockopt)(fd, level, name, val, len);
    }
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
    struct nc_dest d = nc__fd_route(fd);
    switch (d.to) {
    case NC_TO_CORE: return adopt(LIBC(dup)(fd), d.h);
    case NC_TO_REMOTE: return nc__remote_dup(LIBC(dup)(fd), d.h);
    default: return LIBC(dup)(fd);
    }
}

int dup3(int old, int new, int flags)
{
    if (nc__in_stack_thread)
        return LIBC(dup3)(old, new, flags);
    struct nc_dest d = nc__fd_route(old);
    if (old == new)
        return LIBC(dup3)(old, new, flags); /* EINVAL from the kernel */
    int r = LIBC(dup3)(old, new, flags);
    if (r < 0)
        return r;
    forget(new); /* dup3 closed whatever new was */
    if (d.to == NC_TO_REMOTE)
        return nc__remote_dup(r, d.h);
    return d.to == NC_TO_CORE ? adopt(r, d.h) : r;
}

int dup2(int old, int new)
{
    if (nc__in_stack_thread || old == new)
        return LIBC(dup2)(old, new);
    return dup3(old, new, 0);
}

static int do_fcntl(int fd, int cmd, long arg)
{
    struct nc_dest d = nc__fd_route(fd);
    if (d.to == NC_TO_REMOTE && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
        return nc__remote_dup(LIBC(fcntl)(fd, cmd, arg), d.h);
    if (d.to != NC_TO_CORE) /* a relayed socket's flags are its fd's */
        return LIBC(fcntl)(fd, cmd, arg);
    int h = d.h;
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
    struct nc_dest d = nc__fd_route(fd);
    if (d.to == NC_TO_REMOTE)
        return nc__remote_ioctl(fd, d.h, req, arg);
    if (d.to == NC_TO_LIBC)
        return LIBC(ioctl)(fd, req, arg);
    int h = d.h;
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
