/*
 * Loopback goes to the kernel. lwIP has no loopback interface of ours and neither
 * 127.0.0.0/8 nor ::1 is on the TAP, so a socket the program binds or connects to a loopback
 * address (also ::ffff:127.x.y.z on an AF_INET6 socket) is handed to the kernel under the
 * same fd number: a program can talk to a local helper (a database, a resolver stub) and to
 * the network at once. The hand-off happens before the socket has an address in netcore,
 * carrying over what the program set: blocking mode, close-on-exec, SO_REUSEADDR,
 * SO_KEEPALIVE, TCP_NODELAY, SO_RCVTIMEO, SO_SNDTIMEO, IPV6_V6ONLY.
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "shim.h"

bool nc__is_loopback(const struct sockaddr *a, socklen_t len)
{
    if (a == NULL || len < (socklen_t)sizeof(struct sockaddr_in))
        return false;
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)a;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    /* 24 bytes: the kernel takes a sockaddr_in6 without sin6_scope_id (RFC 2133). */
    if (a->sa_family != AF_INET6 || len < 24)
        return false;
    const struct in6_addr *in6 = &((const struct sockaddr_in6 *)a)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(in6) || (IN6_IS_ADDR_V4MAPPED(in6) && in6->s6_addr[12] == 127);
}

static void carry(int h, int k, int level, int name, socklen_t size)
{
    char v[sizeof(struct timeval)];
    socklen_t len = size;
    if (netcore_getsockopt(nc_stack, h, level, name, v, &len) == 0)
        LIBC(setsockopt)(k, level, name, v, len);
}

int nc__handoff(int fd, int h)
{
    struct sockaddr_storage self;
    socklen_t slen = sizeof(self);
    /* sin_port and sin6_port sit at the same offset */
    if (netcore_getsockname(nc_stack, h, (struct sockaddr *)&self, &slen) == 0 &&
        ((struct sockaddr_in *)&self)->sin_port != 0)
        return -EINVAL; /* already has a netcore address: it stays a netcore socket */
    int type = 0, family = 0;
    socklen_t tlen = sizeof(type);
    int rc = netcore_getsockopt(nc_stack, h, SOL_SOCKET, SO_TYPE, &type, &tlen);
    tlen = sizeof(family);
    if (rc == 0)
        rc = netcore_getsockopt(nc_stack, h, SOL_SOCKET, SO_DOMAIN, &family, &tlen);
    if (rc != 0)
        return rc;
    int nb = netcore_get_nonblock(nc_stack, h);
    int fdfl = LIBC(fcntl)(fd, F_GETFD);
    int k = LIBC(socket)(family, type | (nb > 0 ? SOCK_NONBLOCK : 0) | SOCK_CLOEXEC, 0);
    if (k < 0)
        return -errno;
    if (family == AF_INET6)
        carry(h, k, IPPROTO_IPV6, IPV6_V6ONLY, sizeof(int));
    carry(h, k, SOL_SOCKET, SO_REUSEADDR, sizeof(int));
    carry(h, k, SOL_SOCKET, SO_KEEPALIVE, sizeof(int));
    carry(h, k, SOL_SOCKET, SO_RCVTIMEO, sizeof(struct timeval));
    carry(h, k, SOL_SOCKET, SO_SNDTIMEO, sizeof(struct timeval));
    if (type == SOCK_STREAM)
        carry(h, k, IPPROTO_TCP, TCP_NODELAY, sizeof(int));
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
