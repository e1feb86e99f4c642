/*
 * Some addresses go to the kernel. lwIP has no loopback interface of ours and 127.0.0.0/8 is
 * not on the TAP, so a socket the program binds or connects (or sends a first datagram) to a
 * loopback address, or to a range listed in NETCORE_PASSTHROUGH, is handed to the kernel
 * under the same fd number: a program can talk to a local helper (a database, a resolver
 * stub) or a network the TAP does not reach, and to the netcore network at once. The hand-off
 * happens before the socket has an address in netcore, carrying over what the program set:
 * blocking mode, close-on-exec, IPV6_V6ONLY and the socket options in the table below. ::1
 * and ::ffff:127.x.y.z on an AF_INET6 socket are loopback too; IPv4 ranges also match their
 * IPv4-mapped form on AF_INET6 sockets.
 *
 * NETCORE_PASSTHROUGH is a comma-separated list of IPv4 or IPv6 ranges, ADDR/PREFIX or ADDR
 * (a single address), at most PASS_MAX of them, read when the stack starts.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

#define PASS_MAX 16

/* A range: IPv4 ranges are kept as IPv4-mapped IPv6 ones (::ffff:a.b.c.d/96+prefix), so one
 * comparison serves AF_INET sockets, mapped addresses on AF_INET6 sockets and IPv6 ranges. */
static struct {
    struct in6_addr net;
    int prefix;
} pass[PASS_MAX];
static int npass;

static bool in_range(const struct in6_addr *a, const struct in6_addr *net, int prefix)
{
    int full = prefix / 8, rest = prefix % 8;
    if (memcmp(a->s6_addr, net->s6_addr, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t m = (uint8_t)(0xff << (8 - rest));
    return (a->s6_addr[full] & m) == (net->s6_addr[full] & m);
}

static void mapped(struct in6_addr *out, const struct in_addr *v4)
{
    memset(out, 0, sizeof(*out));
    out->s6_addr[10] = out->s6_addr[11] = 0xff;
    memcpy(&out->s6_addr[12], v4, 4);
}

int nc__passthrough_parse(const char *v, char *err, size_t errlen)
{
    npass = 0;
    if (v == NULL)
        return 0;
    const char *p = v;
    while (true) {
        const char *end = strchr(p, ',');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        char item[64];
        if (n == 0 || n >= sizeof(item)) {
            snprintf(err, errlen, "NETCORE_PASSTHROUGH=\"%s\": %s; expected ADDR[/PREFIX] "
                     "ranges separated by commas, e.g. 10.0.0.0/8,192.0.2.7,fd00::/8", v,
                     n == 0 ? "an empty range" : "a range too long");
            return -EINVAL;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        char *slash = strchr(item, '/');
        if (slash != NULL)
            *slash = '\0';
        bool six = strchr(item, ':') != NULL;
        long max = six ? 128 : 32, prefix = max;
        if (slash != NULL) {
            char *e;
            prefix = strtol(slash + 1, &e, 10);
            if (slash[1] == '\0' || *e != '\0' || prefix < 0 || prefix > max) {
                snprintf(err, errlen, "NETCORE_PASSTHROUGH=\"%s\": bad prefix \"%s\" in "
                         "\"%.*s\"; expected 0-%ld", v, slash + 1, (int)n, p, max);
                return -EINVAL;
            }
        }
        if (npass == PASS_MAX) {
            snprintf(err, errlen, "NETCORE_PASSTHROUGH=\"%s\": more than %d ranges", v,
                     PASS_MAX);
            return -EINVAL;
        }
        struct in_addr a4;
        if (six ? inet_pton(AF_INET6, item, &pass[npass].net) != 1
                : inet_pton(AF_INET, item, &a4) != 1) {
            snprintf(err, errlen, "NETCORE_PASSTHROUGH=\"%s\": \"%s\" is not an IPv4 or "
                     "IPv6 address", v, item);
            return -EINVAL;
        }
        if (!six)
            mapped(&pass[npass].net, &a4);
        pass[npass].prefix = (int)(six ? prefix : 96 + prefix);
        npass++;
        if (end == NULL)
            return 0;
        p = end + 1;
    }
}

bool nc__passthrough(const struct sockaddr *a, socklen_t len)
{
    if (a == NULL || len < (socklen_t)sizeof(struct sockaddr_in))
        return false;
    struct in6_addr x;
    if (a->sa_family == AF_INET) {
        mapped(&x, &((const struct sockaddr_in *)a)->sin_addr);
    } else {
        /* 24 bytes: the kernel takes a sockaddr_in6 without sin6_scope_id (RFC 2133). */
        if (a->sa_family != AF_INET6 || len < 24)
            return false;
        memcpy(&x, &((const struct sockaddr_in6 *)a)->sin6_addr, sizeof(x));
        if (IN6_IS_ADDR_LOOPBACK(&x))
            return true;
    }
    if (IN6_IS_ADDR_V4MAPPED(&x) && x.s6_addr[12] == 127)
        return true;
    for (int i = 0; i < npass; i++)
        if (in_range(&x, &pass[i].net, pass[i].prefix))
            return true;
    return false;
}

/*
 * What the kernel socket inherits, level by level (IPPROTO_TCP's for a stream only). Values
 * still at the defaults (the kernel's too) are set all the same: cheaper than asking first.
 */
static const int socket_opts[] = { SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE, SO_BROADCAST,
                                   SO_OOBINLINE, SO_PRIORITY, SO_RCVLOWAT, SO_LINGER,
                                   SO_RCVTIMEO, SO_SNDTIMEO };
static const int ip_opts[] = { IP_TOS, IP_TTL, IP_RECVERR, IP_MTU_DISCOVER };
static const int ip6_opts[] = { IPV6_V6ONLY };
static const int tcp_opts[] = { TCP_NODELAY, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT,
                                TCP_CORK, TCP_USER_TIMEOUT };

/*
 * Copies the n options names[] of level from netcore socket h to kernel socket k. Each
 * value is as long as getsockopt says (an int, a struct linger, a struct timeval): the
 * buffer fits the largest.
 */
static void carry(int h, int k, int level, const int *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char v[sizeof(struct timeval)];
        socklen_t len = sizeof(v);
        if (netcore_getsockopt(nc_stack, h, level, names[i], v, &len) == 0)
            LIBC(setsockopt)(k, level, names[i], v, len);
    }
}

#define N_OPTS(a) (sizeof(a) / sizeof((a)[0]))

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
        carry(h, k, IPPROTO_IPV6, ip6_opts, N_OPTS(ip6_opts));
    carry(h, k, SOL_SOCKET, socket_opts, N_OPTS(socket_opts));
    carry(h, k, IPPROTO_IP, ip_opts, N_OPTS(ip_opts));
    if (type == SOCK_STREAM)
        carry(h, k, IPPROTO_TCP, tcp_opts, N_OPTS(tcp_opts));
    /* Put the kernel socket in place of the eventfd at the program's fd number (dup3 swaps
     * it atomically), then forget the netcore side. */
    if (LIBC(dup3)(k, fd, fdfl >= 0 && (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
        int e = errno;
        LIBC(close)(k);
        return -e;
    }
    LIBC(close)(k);
    nc__epoll_handoff(fd);
    int left = nc__fd_unbind(fd, &h);
    if (left == 0)
        netcore_close(nc_stack, h);
    return 0;
}

struct nc_dest nc__fd_route_addr(int fd, const struct sockaddr *a, socklen_t len)
{
    struct nc_dest d = nc__fd_route(fd);
    if (d.to == NC_TO_CORE && nc__passthrough(a, len) && nc__handoff(fd, d.h) == 0)
        return (struct nc_dest){ NC_TO_LIBC, 0 };
    return d;
}
