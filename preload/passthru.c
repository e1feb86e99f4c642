/*
 * Loopback goes to the kernel. lwIP has no loopback interface of ours and 127.0.0.0/8 is not
 * on the TAP, so a socket the program binds or connects to a loopback address is handed to
 * the kernel under the same fd number: a program can talk to a local helper (a database, a
 * resolver stub) and to the network at once. The hand-off happens before the socket has an
 * address in netcore, carrying over what the program set: blocking mode, close-on-exec and
 * the socket options in the table below.
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "shim.h"

bool nc__is_loopback(const struct sockaddr *a, socklen_t len)
{
    if (a == NULL || len < (socklen_t)sizeof(struct sockaddr_in) || a->sa_family != AF_INET)
        return false;
    const struct sockaddr_in *in = (const struct sockaddr_in *)a;
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
}

static void carry(int h, int k, int level, int name, socklen_t size)
{
    char v[sizeof(struct timeval)];
    socklen_t len = size;
    if (netcore_getsockopt(nc_stack, h, level, name, v, &len) == 0)
        LIBC(setsockopt)(k, level, name, v, len);
}

/* What the kernel socket inherits; stream: TCP only. Values still at the defaults (the
 * kernel's too) are set all the same: cheaper than asking first. */
static const struct carried {
    int level, name;
    socklen_t size;
    bool stream;
} carried[] = {
    { SOL_SOCKET, SO_REUSEADDR, sizeof(int), false },
    { SOL_SOCKET, SO_REUSEPORT, sizeof(int), false },
    { SOL_SOCKET, SO_KEEPALIVE, sizeof(int), false },
    { SOL_SOCKET, SO_BROADCAST, sizeof(int), false },
    { SOL_SOCKET, SO_OOBINLINE, sizeof(int), false },
    { SOL_SOCKET, SO_PRIORITY, sizeof(int), false },
    { SOL_SOCKET, SO_RCVLOWAT, sizeof(int), false },
    { SOL_SOCKET, SO_LINGER, sizeof(struct linger), false },
    { SOL_SOCKET, SO_RCVTIMEO, sizeof(struct timeval), false },
    { SOL_SOCKET, SO_SNDTIMEO, sizeof(struct timeval), false },
    { IPPROTO_IP, IP_TOS, sizeof(int), false },
    { IPPROTO_IP, IP_TTL, sizeof(int), false },
    { IPPROTO_IP, IP_RECVERR, sizeof(int), false },
    { IPPROTO_IP, IP_MTU_DISCOVER, sizeof(int), false },
    { IPPROTO_TCP, TCP_NODELAY, sizeof(int), true },
    { IPPROTO_TCP, TCP_KEEPIDLE, sizeof(int), true },
    { IPPROTO_TCP, TCP_KEEPINTVL, sizeof(int), true },
    { IPPROTO_TCP, TCP_KEEPCNT, sizeof(int), true },
    { IPPROTO_TCP, TCP_CORK, sizeof(int), true },
    { IPPROTO_TCP, TCP_USER_TIMEOUT, sizeof(int), true },
};

int nc__handoff(int fd, int h)
{
    struct sockaddr_in self;
    socklen_t slen = sizeof(self);
    if (netcore_getsockname(nc_stack, h, (struct sockaddr *)&self, &slen) == 0 &&
        self.sin_port != 0)
        return -EINVAL; /* already has a netcore address: it stays a netcore socket */
    int type = 0;
    socklen_t tlen = sizeof(type);
    int rc = netcore_getsockopt(nc_stack, h, SOL_SOCKET, SO_TYPE, &type, &tlen);
    if (rc != 0)
        return rc;
    int nb = netcore_get_nonblock(nc_stack, h);
    int fdfl = LIBC(fcntl)(fd, F_GETFD);
    int k = LIBC(socket)(AF_INET, type | (nb > 0 ? SOCK_NONBLOCK : 0) | SOCK_CLOEXEC, 0);
    if (k < 0)
        return -errno;
    for (size_t i = 0; i < sizeof(carried) / sizeof(carried[0]); i++)
        if (!carried[i].stream || type == SOCK_STREAM)
            carry(h, k, carried[i].level, carried[i].name, carried[i].size);
    /* Put the kernel socket in place of the eventfd at the program's fd number (dup3 swaps
     * it atomically), then forget the netcore side. */
    if (LIBC(dup3)(k, fd, fdfl >= 0 && (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
        int e = errno;
        LIBC(close)(k);
        return -e;
    }
    LIBC(close)(k);
    nc__epoll_forget_fd(fd);
    int left = nc__fd_unbind(fd, &h);
    if (left == 0)
        netcore_close(nc_stack, h);
    return 0;
}
