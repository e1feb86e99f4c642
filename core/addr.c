/*
 * Socket addresses at the API boundary. Programs speak sockaddr_in or sockaddr_in6, in the
 * family of their socket; lwIP speaks typed, zoned ip_addr_t. This file checks what comes in
 * and converts both ways with the kernel's rules, so tcp.c and udp.c get endpoints that are
 * already valid and need not know the socket's family:
 *  - an AF_INET6 socket reaches IPv4 through IPv4-mapped addresses (::ffff:a.b.c.d) unless
 *    IPV6_V6ONLY is set, and shows its IPv4 peers mapped (accept, getpeername, recvfrom);
 *  - its dual-stack wildcard is lwIP's IPADDR_TYPE_ANY address, which lwIP's TCP listeners
 *    and UDP pcbs match against both families; with IPV6_V6ONLY it is the IPv6 "::";
 *  - a link-local address carries a scope id: the kernel's index of our TAP (what the
 *    program's if_nametoindex returns), lwIP's zone of our netif inside.
 * Every error is what Linux returns for the same call on a kernel socket (tests/check_addr.c
 * holds the calls and the kernel's answers).
 */
#include "addr.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <lwip/ip_addr.h>
#include <lwip/netif.h>

#include "cfg.h"
#include "sock.h"
#include "stack.h"

/* RFC 2133's sockaddr_in6 had no sin6_scope_id; the kernel still takes its 24 bytes. */
#define SIN6_LEN_RFC2133 24

/* True when the first `prefix` bits of a and b are equal. */
static bool same_prefix(const uint8_t *a, const uint8_t *b, int prefix)
{
    int bytes = prefix / 8, bits = prefix % 8;
    if (memcmp(a, b, (size_t)bytes) != 0)
        return false;
    return bits == 0 || ((a[bytes] ^ b[bytes]) & (0xff00 >> bits)) == 0;
}

/* One of our IPv6 addresses, global or link-local (set up at start, never changed). */
static bool ours6(const struct netcore_stack *st, const struct in6_addr *a)
{
    for (int i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++)
        if (ip6_addr_isvalid(netif_ip6_addr_state(st->netif, i)) &&
            !memcmp(netif_ip6_addr(st->netif, i)->addr, a->s6_addr, 16))
            return true;
    return false;
}

/*
 * An IPv4 address for bind or as a destination; 0.0.0.0 as a destination means us. A socket
 * may bind our address, the wildcard, a broadcast address or a multicast group; a datagram
 * to port 0 is EINVAL.
 */
static int take_v4(const struct netcore_stack *st, uint32_t addr, uint16_t port,
                   enum nc_addr_use use, union nc_sockaddr *ep)
{
    ep->in.sin_family = AF_INET;
    ep->in.sin_port = htons(port);
    ep->in.sin_addr.s_addr = addr;
    if (use == NC_ADDR_BIND)
        return addr == INADDR_ANY || addr == st->cfg.ip.s_addr ||
                       nc__cfg_broadcast(&st->cfg, addr) || IN_MULTICAST(ntohl(addr))
                   ? 0
                   : -EADDRNOTAVAIL;
    if (use == NC_ADDR_SENDTO && port == 0)
        return -EINVAL;
    if (use == NC_ADDR_CONNECT && addr == INADDR_ANY)
        ep->in.sin_addr = st->cfg.ip; /* like the kernel: connect to self */
    return 0;
}

/*
 * A sockaddr_in. The kernel takes AF_UNSPEC for AF_INET where old programs zeroed the
 * whole address: bind to INADDR_ANY, and a UDP destination.
 */
static int parse_in(const struct netcore_stack *st, const struct sockaddr *a, socklen_t len,
                    enum nc_addr_use use, union nc_sockaddr *ep)
{
    struct sockaddr_in in;
    if (len < (socklen_t)sizeof(in))
        return -EINVAL;
    memcpy(&in, a, sizeof(in));
    bool unspec_ok = use == NC_ADDR_SENDTO ||
                     (use == NC_ADDR_BIND && in.sin_addr.s_addr == htonl(INADDR_ANY));
    if (a->sa_family != AF_INET && (a->sa_family != AF_UNSPEC || !unspec_ok))
        return -EAFNOSUPPORT;
    return take_v4(st, in.sin_addr.s_addr, ntohs(in.sin_port), use, ep);
}

/* Link-local unicast, or multicast of interface or link scope: needs a scope id. */
static bool scoped(const struct in6_addr *a)
{
    return IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_MC_NODELOCAL(a) ||
           IN6_IS_ADDR_MC_LINKLOCAL(a);
}

/*
 * The scope id of a scoped address must name our link. The kernel wants one (EINVAL, or
 * ENETUNREACH for sendto, without) and has no route through an interface we are not
 * (ENODEV for bind, which looks the device up first).
 */
static int check_scope(const struct netcore_stack *st, uint32_t scope, enum nc_addr_use use)
{
    if (scope == 0)
        return use == NC_ADDR_SENDTO ? -ENETUNREACH : -EINVAL;
    if (scope != st->dev.ifindex)
        return use == NC_ADDR_BIND ? -ENODEV : -ENETUNREACH;
    return 0;
}

static int parse_in6(const struct netcore_stack *st, const struct nc_sock *s,
                     const struct sockaddr *a, socklen_t len, enum nc_addr_use use,
                     union nc_sockaddr *ep)
{
    struct sockaddr_in6 in6;
    if (len < SIN6_LEN_RFC2133)
        return -EINVAL;
    if (a->sa_family != AF_INET6)
        return use == NC_ADDR_SENDTO ? -EINVAL : -EAFNOSUPPORT;
    memset(&in6, 0, sizeof(in6));
    memcpy(&in6, a, len < (socklen_t)sizeof(in6) ? (size_t)len : sizeof(in6));
    if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) {
        if (s->v6only)
            return use == NC_ADDR_BIND ? -EINVAL : -ENETUNREACH;
        uint32_t v4;
        memcpy(&v4, &in6.sin6_addr.s6_addr[12], 4);
        return take_v4(st, v4, ntohs(in6.sin6_port), use, ep);
    }
    ep->in6.sin6_family = AF_INET6;
    ep->in6.sin6_port = in6.sin6_port;
    ep->in6.sin6_addr = in6.sin6_addr;
    const struct in6_addr *ip = &in6.sin6_addr;
    bool multicast = IN6_IS_ADDR_MULTICAST(ip);
    if (multicast && (use == NC_ADDR_BIND || s->type == SOCK_STREAM)) {
        /* No TCP to a group; UDP group membership is not implemented. */
        return use != NC_ADDR_BIND ? -ENETUNREACH
                                   : s->type == SOCK_STREAM ? -EINVAL : -EADDRNOTAVAIL;
    }
    if (scoped(ip)) {
        int rc = check_scope(st, in6.sin6_scope_id, use);
        if (rc != 0)
            return rc;
        ep->in6.sin6_scope_id = in6.sin6_scope_id;
    }
    if (use == NC_ADDR_BIND)
        return IN6_IS_ADDR_UNSPECIFIED(ip) || ours6(st, ip) ? 0 : -EADDRNOTAVAIL;
    if (IN6_IS_ADDR_UNSPECIFIED(ip)) {
        if (use == NC_ADDR_CONNECT)
            ep->in6.sin6_addr = st->cfg.ip6; /* as 0.0.0.0: connect to self */
        return 0;
    }
    /* Our links: the link-local one and NETCORE_IP6's prefix. No IPv6 router is known. */
    if (!multicast && !scoped(ip) &&
        !same_prefix(ip->s6_addr, st->cfg.ip6.s6_addr, st->cfg.prefix6))
        return -ENETUNREACH;
    return 0;
}

int nc__addr_parse(const struct netcore_stack *st, const struct nc_sock *s,
                   const struct sockaddr *a, socklen_t len, enum nc_addr_use use,
                   union nc_sockaddr *ep)
{
    if (a == NULL)
        return -EFAULT;
    memset(ep, 0, sizeof(*ep));
    if (s->family == AF_INET)
        return parse_in(st, a, len, use, ep);
    if (s->type == SOCK_DGRAM && use != NC_ADDR_BIND &&
        len >= (socklen_t)sizeof(sa_family_t) && a->sa_family == AF_INET) {
        /* The kernel hands connect and sendto with a plain sockaddr_in on an AF_INET6 UDP
         * socket to its IPv4 code, unless the socket is IPv6-only. */
        if (s->v6only)
            return use == NC_ADDR_CONNECT ? -EAFNOSUPPORT : -ENETUNREACH;
        return parse_in(st, a, len, use, ep);
    }
    return parse_in6(st, s, a, len, use, ep);
}

uint16_t nc__addr_ip(const struct netcore_stack *st, const struct nc_sock *s,
                     const union nc_sockaddr *ep, ip_addr_t *ip)
{
    memset(ip, 0, sizeof(*ip));
    if (ep->sa.sa_family == AF_INET) {
        ip_addr_set_ip4_u32_val(*ip, ep->in.sin_addr.s_addr);
        return ntohs(ep->in.sin_port);
    }
    if (IN6_IS_ADDR_UNSPECIFIED(&ep->in6.sin6_addr)) {
        ip_addr_copy(*ip, *nc__addr_any(s));
        return ntohs(ep->in6.sin6_port);
    }
    ip6_addr_t *ip6 = ip_2_ip6(ip);
    memcpy(ip6->addr, ep->in6.sin6_addr.s6_addr, 16);
    IP_SET_TYPE_VAL(*ip, IPADDR_TYPE_V6);
    /* lwIP's zone is its index of our netif; the program's scope id is the kernel's. */
    if (ep->in6.sin6_scope_id != 0)
        ip6_addr_set_zone(ip6, netif_get_index(st->netif));
    return ntohs(ep->in6.sin6_port);
}

void nc__addr_make(const struct netcore_stack *st, int family, const ip_addr_t *ip,
                   uint16_t port, union nc_sockaddr *out)
{
    memset(out, 0, sizeof(*out));
    if (family == AF_INET) {
        out->in.sin_family = AF_INET;
        out->in.sin_port = htons(port);
        out->in.sin_addr.s_addr = ip != NULL && IP_IS_V4_VAL(*ip) ? ip_2_ip4(ip)->addr : 0;
        return;
    }
    out->in6.sin6_family = AF_INET6;
    out->in6.sin6_port = htons(port);
    if (ip == NULL || IP_IS_ANY_TYPE_VAL(*ip))
        return; /* "::" */
    if (IP_IS_V4_VAL(*ip)) {
        out->in6.sin6_addr.s6_addr[10] = 0xff;
        out->in6.sin6_addr.s6_addr[11] = 0xff;
        memcpy(&out->in6.sin6_addr.s6_addr[12], &ip_2_ip4(ip)->addr, 4);
        return;
    }
    memcpy(out->in6.sin6_addr.s6_addr, ip_2_ip6(ip)->addr, 16);
    if (ip6_addr_has_scope(ip_2_ip6(ip), IP6_UNKNOWN))
        out->in6.sin6_scope_id = st->dev.ifindex;
}

int nc__addr_copyout(const union nc_sockaddr *a, struct sockaddr *out, socklen_t *len)
{
    socklen_t full = a->sa.sa_family == AF_INET6 ? (socklen_t)sizeof(a->in6)
                                                 : (socklen_t)sizeof(a->in);
    if (len == NULL)
        return -EFAULT;
    if ((int)*len < 0)
        return -EINVAL;
    socklen_t n = *len < full ? *len : full;
    if (n > 0 && out == NULL)
        return -EFAULT;
    if (n > 0)
        memcpy(out, a, n);
    *len = full;
    return 0;
}

const ip_addr_t *nc__addr_any(const struct nc_sock *s)
{
    if (s->family == AF_INET)
        return IP4_ADDR_ANY;
    return s->v6only ? IP6_ADDR_ANY : IP_ANY_TYPE;
}

uint8_t nc__addr_pcb_type(const struct nc_sock *s)
{
    return s->family == AF_INET ? IPADDR_TYPE_V4 : IPADDR_TYPE_ANY;
}

int nc__addr_reach(const struct nc_sock *s, const ip_addr_t *local, const ip_addr_t *dst)
{
    if (s->family == AF_INET)
        return 0;
    if (IP_IS_V4_VAL(*dst))
        return s->v6only || IP_IS_V6_VAL(*local) ? -ENETUNREACH : 0; /* bound to IPv6 */
    return IP_IS_V4_VAL(*local) ? -EAFNOSUPPORT : 0; /* bound to an IPv4-mapped address */
}

void nc__addr_str(char *out, size_t cap, const ip_addr_t *ip, uint16_t port)
{
    /* "*" is any address of either family (a dual-stack or IPv4 wildcard); an IPv6-only
     * wildcard, which IPv4 clients cannot reach, reads "[::]" as in ss(8), and an IPv6
     * address is bracketed, its port apart from its last group. */
    char a[IPADDR_STRLEN_MAX + 2];
    if (ip == NULL || (ip_addr_isany(ip) && !IP_IS_V6_VAL(*ip)))
        snprintf(a, sizeof(a), "*");
    else if (IP_IS_V6_VAL(*ip)) {
        char b[IPADDR_STRLEN_MAX] = "::";
        if (!ip_addr_isany(ip))
            ipaddr_ntoa_r(ip, b, sizeof(b));
        for (char *c = b; *c != '\0'; c++)
            if (*c >= 'A' && *c <= 'F')
                *c = (char)(*c - 'A' + 'a'); /* lwIP writes hex in capitals; ss(8) does not */
        snprintf(a, sizeof(a), "[%s]", b);
    } else
        ipaddr_ntoa_r(ip, a, sizeof(a));
    if (port == 0)
        snprintf(out, cap, "%s:*", a);
    else
        snprintf(out, cap, "%s:%u", a, port);
}
