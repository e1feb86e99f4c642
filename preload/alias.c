/*
 * libc entry points that reach a socket by another name or through a libc-internal call the
 * shim does not see, each mapped onto the interposed call:
 *
 * - glibc's public double-underscore names (version GLIBC_2.2.5, linked by old binaries and
 *   some libraries): __close, __connect, __dup2, __fcntl, __lseek, __poll, __read, __select,
 *   __send, __write; __fcntl is fcntl itself under a second symbol (socket.c). (The
 *   GLIBC_PRIVATE ones, __recv, __socket, __sendmmsg..., only glibc's own libraries can
 *   link.)
 * - sockatmark: glibc's asks its internal ioctl(SIOCATMARK), which the eventfd refuses.
 * - closefrom: glibc's calls its internal close_range, so the fd map would keep the closed
 *   sockets (and their sockets open); our close_range lets go of them first.
 */
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "shim.h"

int __close(int fd)
{
    return close(fd);
}

int __connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    return connect(fd, addr, len);
}

int __dup2(int old, int new)
{
    return dup2(old, new);
}

off_t __lseek(int fd, off_t off, int whence)
{
    return lseek(fd, off, whence);
}

int __poll(struct pollfd *fds, nfds_t n, int timeout)
{
    return poll(fds, n, timeout);
}

ssize_t __read(int fd, void *buf, size_t len)
{
    return read(fd, buf, len);
}

int __select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
    return select(nfds, r, w, e, tv);
}

ssize_t __send(int fd, const void *buf, size_t len, int flags)
{
    return send(fd, buf, len, flags);
}

ssize_t __write(int fd, const void *buf, size_t len)
{
    return write(fd, buf, len);
}

int sockatmark(int fd)
{
    int h;
    if (!OURS(fd, h))
        return LIBC(sockatmark)(fd);
    int at;
    return ioctl(fd, SIOCATMARK, &at) < 0 ? -1 : at;
}

void closefrom(int lowfd)
{
    /* glibc's closes from 0 when lowfd is negative */
    if (close_range(lowfd < 0 ? 0U : (unsigned int)lowfd, ~0U, 0) == 0)
        return;
    LIBC(closefrom)(lowfd); /* no close_range in this kernel: glibc's /proc walk */
}
