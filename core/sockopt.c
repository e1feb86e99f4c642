/*
 * Socket options: setsockopt and getsockopt for SOL_SOCKET, IPPROTO_TCP and IPPROTO_IP, with
 * the kernel's checks of levels, names, lengths and values. Most options only record a value
 * (struct nc_opts) that getsockopt reports and the TCP and UDP code read; TTL, TOS, Nagle and
 * keepalive reach into lwIP's pcb.
 */
#include "sockopt.h"

#include <errno.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <string.h>

#include "cc.h"
#include "netcore.h"
#include "rto.h"
#include "sock.h"
#include "stack.h"

/* The kernel's defaults and bounds (Linux 6.x: net/ipv4/tcp.c, include/net/tcp.h). */
#define DEFAULT_KEEPIDLE 7200
#define DEFAULT_KEEPINTVL 75
#define DEFAULT_KEEPCNT 9
#define MAX_KEEPIDLE 32767
#define MAX_KEEPINTVL 32767
#define MAX_KEEPCNT 127
#define MSS_DEFAULT 536 /* what an unconnected socket reports for TCP_MAXSEG */
#define MSS_MIN 88
#define MSS_MAX 32767
#define ECN_MASK 3      /* TCP owns the ECN bits of IP_TOS */

void nc__opts_default(struct nc_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->rcvlowat = 1;
    o->ttl = -1;
    o->pmtudisc = IP_PMTUDISC_WANT;
    o->mc_ttl = 1;
    o->mc_loop = true;
    o->keepidle = DEFAULT_KEEPIDLE;
    o->keepintvl = DEFAULT_KEEPINTVL;
    o->keepcnt = DEFAULT_KEEPCNT;
}

static void apply_ip(struct nc_sock *s)
{
    if (s->type == SOCK_STREAM)
        nc__tcp_apply_ip(s);
    else
        nc__udp_apply_ip(s);
}

/* An int value: the kernel wants at least an int's length, then a readable buffer. */
static int int_in(const void *val, socklen_t len, int *out)
{
    if (len < (socklen_t)sizeof(int))
        return -EINVAL;
    if (val == NULL)
        return -EFAULT;
    memcpy(out, val, sizeof(int));
    return 0;
}

/*
 * Copies an option's value out as the kernel does: *len bytes, at most size, and the count
 * back in *len. A NULL buffer is fine when nothing is copied.
 */
static int opt_out(void *val, socklen_t *len, const void *v, size_t size)
{
    size_t n = *len;
    if (n > size)
        n = size;
    if (n > 0) {
        if (val == NULL)
            return -EFAULT;
        memcpy(val, v, n);
    }
    *len = (socklen_t)n;
    return 0;
}

static int set_timeout(int *ms, const void *val, socklen_t len)
{
    struct timeval tv;
    if (len < (socklen_t)sizeof(tv))
        return -EINVAL;
    memcpy(&tv, val, sizeof(tv));
    if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
        return -EDOM;
    if (tv.tv_sec < 0) {
        *ms = 0; /* the kernel takes a negative timeout for none */
        return 0;
    }
    if (tv.tv_sec > 0x7fffffff / 1000) {
        /* Beyond what the ms count holds: no timeout, as below, but without letting
         * tv_sec * 1000 overflow first (UBSan, fuzz_api: regress/api/timeval-overflow). */
        *ms = 0;
        return 0;
    }
    long long t = (long long)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
    *ms = t > INT_MAX ? 0 : (int)t;
    return 0;
}

/* SOL_SOCKET, v the int at val (SO_LINGER and the timeouts read their own struct). */
static int set_socket(struct nc_sock *s, int name, int v, const void *val, socklen_t len)
{
    struct nc_opts *o = &s->opt;
    switch (name) {
    case SO_RCVTIMEO: return set_timeout(&o->rcvtimeo_ms, val, len);
    case SO_SNDTIMEO: return set_timeout(&o->sndtimeo_ms, val, len);
    case SO_LINGER: {
        struct linger l;
        if (len < (socklen_t)sizeof(l))
            return -EINVAL;
        memcpy(&l, val, sizeof(l));
        o->linger_on = l.l_onoff != 0;
        if (l.l_onoff)
            o->linger_s = l.l_linger; /* turning it off keeps the time, as in the kernel */
        return 0;
    }
    case SO_REUSEADDR: o->reuseaddr = v != 0; return 0;
    case SO_REUSEPORT: o->reuseport = v != 0; return 0; /* lwIP shares no port: recorded */
    case SO_KEEPALIVE:
        o->keepalive = v != 0;
        if (s->type == SOCK_STREAM)
            nc__tcp_set_keepalive(s);
        return 0;
    case SO_BROADCAST: o->broadcast = v != 0; return 0;
    case SO_OOBINLINE: o->oobinline = v != 0; return 0; /* urgent data always comes inline */
    case SO_PRIORITY: o->priority = v; return 0;
    case SO_RCVLOWAT: o->rcvlowat = v < 0 ? INT_MAX : v == 0 ? 1 : v; return 0;
    case SO_SNDBUF: /* the rings are sized by NETCORE_SNDBUF/RCVBUF */
    case SO_RCVBUF: return 0;
    default: return -ENOPROTOOPT;
    }
}

static int set_tcp(struct nc_sock *s, int name, int v)
{
    struct nc_opts *o = &s->opt;
    switch (name) {
    case TCP_NODELAY:
        o->nodelay = v != 0;
        nc__tcp_set_nodelay(s);
        return 0;
    case TCP_KEEPIDLE:
    case TCP_KEEPINTVL:
    case TCP_KEEPCNT: {
        int max = name == TCP_KEEPCNT ? MAX_KEEPCNT
                  : name == TCP_KEEPIDLE ? MAX_KEEPIDLE : MAX_KEEPINTVL;
        if (v < 1 || v > max)
            return -EINVAL;
        *(name == TCP_KEEPIDLE ? &o->keepidle
          : name == TCP_KEEPINTVL ? &o->keepintvl : &o->keepcnt) = v;
        nc__tcp_set_keepalive(s);
        return 0;
    }
    case TCP_MAXSEG: /* recorded and reported; lwIP's MSS comes from the route and syn.c */
        if (v != 0 && (v < MSS_MIN || v > MSS_MAX))
            return -EINVAL;
        o->user_mss = v;
        return 0;
    case TCP_CORK: o->cork = v != 0; return 0; /* recorded; segments are not held back */
    case TCP_USER_TIMEOUT:
        if (v < 0)
            return -EINVAL;
        o->user_timeout = v;
        return 0;
    case TCP_QUICKACK: /* netcore acknowledges at once anyway */
    case TCP_DEFER_ACCEPT:
    case TCP_FASTOPEN:
        return 0;
    default: return -ENOPROTOOPT;
    }
}

/* IP_ADD_MEMBERSHIP and IP_DROP_MEMBERSHIP: a struct ip_mreq, or ip_mreqn. */
static int set_membership(struct netcore_stack *st, struct nc_sock *s, int name,
                          const void *val, socklen_t len)
{
    if (s->type == SOCK_STREAM)
        return -EPROTO;
    if (len < (socklen_t)sizeof(struct ip_mreq))
        return -EINVAL;
    if (val == NULL)
        return -EFAULT;
    struct ip_mreqn m;
    memset(&m, 0, sizeof(m));
    memcpy(&m, val, len >= sizeof(m) ? sizeof(m) : sizeof(struct ip_mreq));
    return nc__udp_membership(st, s, m.imr_multiaddr, m.imr_address, m.imr_ifindex,
                              name == IP_ADD_MEMBERSHIP);
}

/* IP_MULTICAST_IF: a struct in_addr, ip_mreq or ip_mreqn naming our interface, or none. */
static int set_multicast_if(struct netcore_stack *st, struct nc_sock *s, const void *val,
                            socklen_t len)
{
    if (s->type == SOCK_STREAM || len < (socklen_t)sizeof(struct in_addr))
        return -EINVAL;
    if (val == NULL)
        return -EFAULT;
    struct ip_mreqn m;
    memset(&m, 0, sizeof(m));
    if (len >= sizeof(struct ip_mreqn))
        memcpy(&m, val, sizeof(m));
    else if (len >= sizeof(struct ip_mreq))
        memcpy(&m, val, sizeof(struct ip_mreq));
    else
        memcpy(&m.imr_address, val, sizeof(m.imr_address));
    if (m.imr_ifindex == 0 && m.imr_address.s_addr != htonl(INADDR_ANY) &&
        m.imr_address.s_addr != st->cfg.ip.s_addr)
        return -EADDRNOTAVAIL;
    s->opt.mc_addr = m.imr_address;
    return 0;
}

/* IP-level int options take one byte as well as an int, as in the kernel. */
static int set_ip(struct netcore_stack *st, struct nc_sock *s, int name, const void *val,
                  socklen_t len)
{
    if (name == IP_ADD_MEMBERSHIP || name == IP_DROP_MEMBERSHIP)
        return set_membership(st, s, name, val, len);
    if (name == IP_MULTICAST_IF)
        return set_multicast_if(st, s, val, len);
    if (name != IP_TTL && name != IP_TOS && name != IP_RECVERR && name != IP_MTU_DISCOVER &&
        name != IP_MULTICAST_TTL && name != IP_MULTICAST_LOOP)
        return -ENOPROTOOPT;
    int v = 0;
    if (len > 0 && val == NULL)
        return -EFAULT;
    if (len >= (socklen_t)sizeof(int)) {
        memcpy(&v, val, sizeof(v));
    } else if (len >= 1) {
        unsigned char b;
        memcpy(&b, val, 1);
        v = b;
    }
    struct nc_opts *o = &s->opt;
    switch (name) {
    case IP_TTL:
        if (len < 1 || (v != -1 && (v < 1 || v > 255)))
            return -EINVAL;
        o->ttl = v;
        break;
    case IP_TOS:
        if (s->type == SOCK_STREAM)
            v = (v & ~ECN_MASK) | (o->tos & ECN_MASK);
        o->tos = v & 0xff;
        break;
    case IP_RECVERR: o->recverr = v != 0; return 0;
    case IP_MULTICAST_TTL:
        if (s->type == SOCK_STREAM || len < 1)
            return -EINVAL;
        if (v == -1)
            v = 1;
        if (v < 0 || v > 255)
            return -EINVAL;
        o->mc_ttl = v;
        break;
    case IP_MULTICAST_LOOP:
        if (len < 1)
            return -EINVAL;
        o->mc_loop = v != 0;
        break;
    default: /* IP_MTU_DISCOVER */
        if (v < IP_PMTUDISC_DONT || v > IP_PMTUDISC_OMIT)
            return -EINVAL;
        o->pmtudisc = v;
        return 0;
    }
    apply_ip(s);
    return 0;
}

/* IPPROTO_IPV6 on an AF_INET6 socket: IPV6_V6ONLY, and values only recorded by the kernel. */
static int set_ipv6(struct nc_sock *s, int name, int v)
{
    switch (name) {
    case IPV6_V6ONLY:
        /* Only before the socket has a port, as in the kernel. */
        if (s->type == SOCK_STREAM ? atomic_load(&s->state) != NC_ST_NEW : !nc__udp_unbound(s))
            return -EINVAL;
        s->v6only = v != 0;
        return 0;
    case IPV6_TCLASS:
    case IPV6_UNICAST_HOPS:
    case IPV6_RECVERR:
    case IPV6_MTU_DISCOVER:
        return 0;
    default: return -ENOPROTOOPT;
    }
}

/* TCP_CONGESTION: a name of up to 15 bytes, NUL-terminated or not, as the kernel reads it;
 * one it has no algorithm for is ENOENT. */
static int set_congestion(struct nc_sock *s, const void *val, socklen_t len)
{
    if ((int)len < 1)
        return -EINVAL;
    if (val == NULL)
        return -EFAULT;
    char name[16];
    size_t n = len < sizeof(name) - 1 ? len : sizeof(name) - 1;
    memcpy(name, val, n);
    name[n] = '\0';
    int a = nc__cc_algo_parse(name);
    if (a < 0)
        return a;
    s->opt.cc = (uint8_t)a;
    return 0;
}

/*
 * setsockopt for a socket held. IPPROTO_IP takes a byte as well as an int; the other levels'
 * values are read once here as an int, which is also the least any of their structs takes.
 */
static int setsockopt_held(struct netcore_stack *st, struct nc_sock *s, int level, int name,
                           const void *val, socklen_t len)
{
    if (level == IPPROTO_IP)
        return set_ip(st, s, name, val, len);
    if (level != SOL_SOCKET && !(level == IPPROTO_TCP && s->type == SOCK_STREAM) &&
        !(level == IPPROTO_IPV6 && s->family == AF_INET6))
        return -ENOPROTOOPT; /* the kernel's IP layer answers for levels nobody knows */
    if (level == IPPROTO_TCP && name == TCP_CONGESTION)
        return set_congestion(s, val, len);
    int v;
    int rc = int_in(val, len, &v);
    if (rc != 0)
        return rc;
    if (level == SOL_SOCKET)
        return set_socket(s, name, v, val, len);
    return level == IPPROTO_TCP ? set_tcp(s, name, v) : set_ipv6(s, name, v);
}

int netcore_setsockopt(struct netcore_stack *st, int id, int level, int name, const void *val,
                       socklen_t len)
{
    struct nc_sock *s = nc__sock_hold(st, id);
    if (s == NULL)
        return -EBADF;
    nc__lock(st);
    int rc = setsockopt_held(st, s, level, name, val, len);
    nc__run_pending_and_unlock(st);
    nc__sock_put(st, id);
    return rc;
}

static int get_socket(struct netcore_stack *st, struct nc_sock *s, int name, void *val,
                      socklen_t *len)
{
    const struct nc_opts *o = &s->opt;
    int v;
    switch (name) {
    case SO_RCVTIMEO:
    case SO_SNDTIMEO: {
        int ms = name == SO_RCVTIMEO ? o->rcvtimeo_ms : o->sndtimeo_ms;
        struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
        return opt_out(val, len, &tv, sizeof(tv));
    }
    case SO_LINGER: {
        struct linger l = { o->linger_on, o->linger_s };
        return opt_out(val, len, &l, sizeof(l));
    }
    case SO_PEERCRED: {
        /* An IP peer has no credentials: the kernel says pid 0 and the invalid ids. */
        struct ucred u = { 0, (uid_t)-1, (gid_t)-1 };
        return opt_out(val, len, &u, sizeof(u));
    }
    case SO_BINDTODEVICE:
        *len = 0; /* bound to no device */
        return 0;
    case SO_ERROR: v = atomic_exchange(&s->so_error, 0); break;
    case SO_TYPE: v = s->type; break;
    case SO_DOMAIN: v = s->family; break;
    case SO_PROTOCOL: v = s->type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP; break;
    case SO_ACCEPTCONN: v = atomic_load(&s->state) == NC_ST_LISTEN; break;
    case SO_REUSEADDR: v = o->reuseaddr; break;
    case SO_REUSEPORT: v = o->reuseport; break;
    case SO_KEEPALIVE: v = o->keepalive; break;
    case SO_BROADCAST: v = o->broadcast; break;
    case SO_OOBINLINE: v = o->oobinline; break;
    case SO_PRIORITY: v = o->priority; break;
    case SO_RCVLOWAT: v = o->rcvlowat; break;
    case SO_SNDBUF: v = (int)st->cfg.sndbuf; break;
    case SO_RCVBUF: v = (int)st->cfg.rcvbuf; break;
    default: return -ENOPROTOOPT;
    }
    return opt_out(val, len, &v, sizeof(v));
}

/* TCP_INFO from lwIP's figures; the rest of struct tcp_info stays zero. */
static void tcp_info(struct netcore_stack *st, struct nc_sock *s, struct tcp_info *out)
{
    struct nc_tcpinfo ti;
    memset(out, 0, sizeof(*out));
    nc__lock(st);
    nc__tcp_info(s, &ti);
    nc__unlock(st);
    out->tcpi_state = (uint8_t)ti.state;
    out->tcpi_retransmits = (uint8_t)ti.retrans;
    out->tcpi_rto = ti.rto_us;
    out->tcpi_snd_mss = ti.mss;
    out->tcpi_rcv_mss = ti.mss;
    out->tcpi_unacked = ti.unacked_segs;
    out->tcpi_rtt = ti.rtt_us;
    out->tcpi_rttvar = ti.rttvar_us;
    out->tcpi_snd_ssthresh = ti.ssthresh;
    out->tcpi_snd_cwnd = ti.cwnd_segs;
    out->tcpi_advmss = ti.mss;
    out->tcpi_rcv_space = ti.rcv_wnd;
}

static int get_tcp(struct netcore_stack *st, struct nc_sock *s, int name, void *val,
                   socklen_t *len)
{
    const struct nc_opts *o = &s->opt;
    int v;
    switch (name) {
    case TCP_INFO: {
        struct tcp_info ti;
        tcp_info(st, s, &ti);
        return opt_out(val, len, &ti, sizeof(ti));
    }
    case TCP_CONGESTION: { /* the kernel's TCP_CA_NAME_MAX bytes, the name NUL-padded */
        char name[16] = "";
        strcpy(name, nc__cc_algo_name(o->cc != NC_CC_DEFAULT ? o->cc : nc__rto_cc_default(st)));
        return opt_out(val, len, name, sizeof(name));
    }
    case TCP_NODELAY: v = o->nodelay; break;
    case TCP_MAXSEG:
        v = nc__tcp_mss(s);
        if (v == 0)
            v = o->user_mss != 0 ? o->user_mss : MSS_DEFAULT;
        break;
    case TCP_KEEPIDLE: v = o->keepidle; break;
    case TCP_KEEPINTVL: v = o->keepintvl; break;
    case TCP_KEEPCNT: v = o->keepcnt; break;
    case TCP_CORK: v = o->cork; break;
    case TCP_USER_TIMEOUT: v = o->user_timeout; break;
    case TCP_QUICKACK: v = 1; break;
    default: return -ENOPROTOOPT;
    }
    return opt_out(val, len, &v, sizeof(v));
}

/* The kernel's IP level hands a small value back as one byte when asked for less than int. */
static int get_ip(struct nc_sock *s, int name, void *val, socklen_t *len)
{
    int n = (int)*len, v;
    if (name == IP_MULTICAST_IF)
        return opt_out(val, len, &s->opt.mc_addr, sizeof(s->opt.mc_addr));
    switch (name) {
    case IP_TTL: v = s->opt.ttl < 0 ? NC_DEFAULT_TTL : s->opt.ttl; break;
    case IP_TOS: v = s->opt.tos; break;
    case IP_RECVERR: v = s->opt.recverr; break;
    case IP_MTU_DISCOVER: v = s->opt.pmtudisc; break;
    case IP_MULTICAST_TTL: v = s->opt.mc_ttl; break;
    case IP_MULTICAST_LOOP: v = s->opt.mc_loop; break;
    default: return -ENOPROTOOPT;
    }
    if (n > 0 && n < (int)sizeof(int) && v >= 0 && v <= 255) {
        unsigned char b = (unsigned char)v;
        return opt_out(val, len, &b, 1);
    }
    return opt_out(val, len, &v, sizeof(v));
}

/* getsockopt for a socket held. */
static int getsockopt_held(struct netcore_stack *st, struct nc_sock *s, int level, int name,
                           void *val, socklen_t *len)
{
    if (level == SOL_SOCKET || (level == IPPROTO_TCP && s->type == SOCK_STREAM) ||
        level == IPPROTO_IP || (level == IPPROTO_IPV6 && s->family == AF_INET6)) {
        if (len == NULL)
            return -EFAULT;
        if ((int)*len < 0)
            return -EINVAL;
        if (level == SOL_SOCKET)
            return get_socket(st, s, name, val, len);
        if (level == IPPROTO_TCP)
            return get_tcp(st, s, name, val, len);
        if (level == IPPROTO_IPV6) {
            if (name != IPV6_V6ONLY)
                return -ENOPROTOOPT;
            int v = s->v6only;
            return opt_out(val, len, &v, sizeof(v));
        }
        return get_ip(s, name, val, len);
    }
    return -EOPNOTSUPP; /* the kernel's IP layer, for a level it does not know */
}

int netcore_getsockopt(struct netcore_stack *st, int id, int level, int name, void *val,
                       socklen_t *len)
{
    struct nc_sock *s = nc__sock_hold(st, id);
    if (s == NULL)
        return -EBADF;
    int rc = getsockopt_held(st, s, level, name, val, len);
    nc__sock_put(st, id);
    return rc;
}
