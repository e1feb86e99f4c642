/*
 * conform cases: socket options. What getsockopt reports (defaults and values set before),
 * how lengths are checked and trimmed, and which levels and names are refused.
 */
#include <arpa/inet.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/time.h>

#include "conform.h"

/* getsockopt of an int-sized option with buffer length len; notes value and length. */
static void get_int(struct cx *c, int s, int level, int name, socklen_t len)
{
    int v = -1;
    CALL(c, c->o->getsockopt(s, level, name, &v, &len));
    if (c->r.ret == 0)
        outf(c, "v=%d len=%u", v, (unsigned)len);
}

#define GET_CASE(fn, type, level, name, len)                                              \
    static void fn(struct cx *c)                                                          \
    {                                                                                     \
        int s = sock(c, type);                                                            \
        NEED(c, s >= 0, "socket");                                                        \
        get_int(c, s, level, name, len);                                                  \
    }

GET_CASE(so_type_tcp, SOCK_STREAM, SOL_SOCKET, SO_TYPE, 4)
GET_CASE(so_type_udp, SOCK_DGRAM, SOL_SOCKET, SO_TYPE, 4)
GET_CASE(so_domain, SOCK_STREAM, SOL_SOCKET, SO_DOMAIN, 4)
GET_CASE(so_protocol_tcp, SOCK_STREAM, SOL_SOCKET, SO_PROTOCOL, 4)
GET_CASE(so_protocol_udp, SOCK_DGRAM, SOL_SOCKET, SO_PROTOCOL, 4)
GET_CASE(so_acceptconn_fresh, SOCK_STREAM, SOL_SOCKET, SO_ACCEPTCONN, 4)
GET_CASE(so_error_fresh, SOCK_STREAM, SOL_SOCKET, SO_ERROR, 4)
GET_CASE(so_type_len2, SOCK_STREAM, SOL_SOCKET, SO_TYPE, 2)
GET_CASE(so_type_len8, SOCK_DGRAM, SOL_SOCKET, SO_TYPE, 8)
GET_CASE(so_type_len_neg, SOCK_STREAM, SOL_SOCKET, SO_TYPE, (socklen_t)-1)
GET_CASE(so_reuseaddr_default, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR, 4)
GET_CASE(so_keepalive_default, SOCK_STREAM, SOL_SOCKET, SO_KEEPALIVE, 4)
GET_CASE(so_broadcast_default, SOCK_DGRAM, SOL_SOCKET, SO_BROADCAST, 4)
GET_CASE(so_oobinline_default, SOCK_STREAM, SOL_SOCKET, SO_OOBINLINE, 4)
GET_CASE(so_priority_default, SOCK_STREAM, SOL_SOCKET, SO_PRIORITY, 4)
GET_CASE(so_rcvlowat_default, SOCK_STREAM, SOL_SOCKET, SO_RCVLOWAT, 4)
GET_CASE(so_unknown_get, SOCK_STREAM, SOL_SOCKET, 9999, 4)
GET_CASE(level_unknown_tcp_get, SOCK_STREAM, 9999, 1, 4)
GET_CASE(level_unknown_udp_get, SOCK_DGRAM, 9999, 1, 4)
GET_CASE(level_tcp_on_udp_get, SOCK_DGRAM, IPPROTO_TCP, TCP_NODELAY, 4)
GET_CASE(tcp_unknown_get, SOCK_STREAM, IPPROTO_TCP, 9999, 4)
GET_CASE(tcp_nodelay_default, SOCK_STREAM, IPPROTO_TCP, TCP_NODELAY, 4)
GET_CASE(tcp_maxseg_fresh, SOCK_STREAM, IPPROTO_TCP, TCP_MAXSEG, 4)
GET_CASE(tcp_keepidle_default, SOCK_STREAM, IPPROTO_TCP, TCP_KEEPIDLE, 4)
GET_CASE(tcp_keepintvl_default, SOCK_STREAM, IPPROTO_TCP, TCP_KEEPINTVL, 4)
GET_CASE(tcp_keepcnt_default, SOCK_STREAM, IPPROTO_TCP, TCP_KEEPCNT, 4)
GET_CASE(ip_ttl_default, SOCK_STREAM, IPPROTO_IP, IP_TTL, 4)
GET_CASE(ip_tos_default, SOCK_DGRAM, IPPROTO_IP, IP_TOS, 4)
GET_CASE(ip_ttl_len1, SOCK_DGRAM, IPPROTO_IP, IP_TTL, 1)
GET_CASE(ip_unknown_get, SOCK_DGRAM, IPPROTO_IP, 9999, 4)
GET_CASE(mcast_ttl_default, SOCK_DGRAM, IPPROTO_IP, IP_MULTICAST_TTL, 4)
GET_CASE(mcast_loop_default, SOCK_DGRAM, IPPROTO_IP, IP_MULTICAST_LOOP, 4)
GET_CASE(ip_ttl_len2, SOCK_STREAM, IPPROTO_IP, IP_TTL, 2)
GET_CASE(ip_mtu_discover_default, SOCK_STREAM, IPPROTO_IP, IP_MTU_DISCOVER, 4)
GET_CASE(so_reuseport_default, SOCK_STREAM, SOL_SOCKET, SO_REUSEPORT, 4)
GET_CASE(tcp_nodelay_len_neg, SOCK_STREAM, IPPROTO_TCP, TCP_NODELAY, (socklen_t)-1)
GET_CASE(tcp_cork_default, SOCK_STREAM, IPPROTO_TCP, TCP_CORK, 4)
GET_CASE(tcp_user_timeout_default, SOCK_STREAM, IPPROTO_TCP, TCP_USER_TIMEOUT, 4)

static void so_acceptconn_listening(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0 && c->o->listen(s, 1) == 0, "listen");
    get_int(c, s, SOL_SOCKET, SO_ACCEPTCONN, 4);
}

static void get_val_null(struct cx *c, socklen_t len)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    CALL(c, c->o->getsockopt(s, SOL_SOCKET, SO_TYPE, NULL, &len));
    outf(c, "len=%u", (unsigned)len);
}

static void so_type_val_null(struct cx *c) { get_val_null(c, 4); }
static void so_type_val_null_len0(struct cx *c) { get_val_null(c, 0); }

static void so_type_len_null(struct cx *c)
{
    int s = sock(c, SOCK_STREAM), v;
    NEED(c, s >= 0, "socket");
    CALL(c, c->o->getsockopt(s, SOL_SOCKET, SO_TYPE, &v, NULL));
}

/* setsockopt of an int, then (when it worked) what getsockopt reads back. */
static void set_int(struct cx *c, int type, int level, int name, int v, socklen_t len)
{
    int s = sock(c, type);
    NEED(c, s >= 0, "socket");
    int buf[2] = { v, 0 }; /* lengths up to 8 read defined bytes */
    CALL(c, c->o->setsockopt(s, level, name, buf, len));
    int got = -1;
    socklen_t gl = sizeof(got);
    if (c->r.ret == 0 && c->o->getsockopt(s, level, name, &got, &gl) == 0)
        outf(c, "v=%d", got);
}

#define SET_CASE(fn, type, level, name, v, len)                                           \
    static void fn(struct cx *c) { set_int(c, type, level, name, v, len); }

SET_CASE(set_reuseaddr, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR, 5, 4)
SET_CASE(set_reuseaddr_len2, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR, 1, 2)
SET_CASE(set_reuseaddr_len0, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR, 1, 0)
SET_CASE(set_reuseaddr_len8, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR, 1, 8)
SET_CASE(set_keepalive, SOCK_STREAM, SOL_SOCKET, SO_KEEPALIVE, 1, 4)
SET_CASE(set_broadcast, SOCK_DGRAM, SOL_SOCKET, SO_BROADCAST, 3, 4)
SET_CASE(set_oobinline, SOCK_STREAM, SOL_SOCKET, SO_OOBINLINE, 1, 4)
SET_CASE(set_priority, SOCK_STREAM, SOL_SOCKET, SO_PRIORITY, 6, 4)
SET_CASE(set_rcvlowat, SOCK_STREAM, SOL_SOCKET, SO_RCVLOWAT, 10, 4)
SET_CASE(set_rcvlowat0, SOCK_STREAM, SOL_SOCKET, SO_RCVLOWAT, 0, 4)
SET_CASE(set_unknown, SOCK_STREAM, SOL_SOCKET, 9999, 1, 4)
SET_CASE(set_level_unknown_tcp, SOCK_STREAM, 9999, 1, 1, 4)
SET_CASE(set_level_unknown_udp, SOCK_DGRAM, 9999, 1, 1, 4)
SET_CASE(set_level_tcp_on_udp, SOCK_DGRAM, IPPROTO_TCP, TCP_NODELAY, 1, 4)
SET_CASE(set_tcp_unknown, SOCK_STREAM, IPPROTO_TCP, 9999, 1, 4)
SET_CASE(set_nodelay, SOCK_STREAM, IPPROTO_TCP, TCP_NODELAY, 7, 4)
SET_CASE(set_nodelay_len2, SOCK_STREAM, IPPROTO_TCP, TCP_NODELAY, 1, 2)
SET_CASE(set_keepidle, SOCK_STREAM, IPPROTO_TCP, TCP_KEEPIDLE, 60, 4)
SET_CASE(set_keepidle0, SOCK_STREAM, IPPROTO_TCP, TCP_KEEPIDLE, 0, 4)
SET_CASE(set_keepidle_big, SOCK_STREAM, IPPROTO_TCP, TCP_KEEPIDLE, 40000, 4)
SET_CASE(set_keepintvl_big, SOCK_STREAM, IPPROTO_TCP, TCP_KEEPINTVL, 32768, 4)
SET_CASE(set_keepcnt, SOCK_STREAM, IPPROTO_TCP, TCP_KEEPCNT, 5, 4)
SET_CASE(set_keepcnt_big, SOCK_STREAM, IPPROTO_TCP, TCP_KEEPCNT, 128, 4)
SET_CASE(set_ttl, SOCK_DGRAM, IPPROTO_IP, IP_TTL, 10, 4)
SET_CASE(set_ttl0, SOCK_STREAM, IPPROTO_IP, IP_TTL, 0, 4)
SET_CASE(set_ttl_big, SOCK_STREAM, IPPROTO_IP, IP_TTL, 256, 4)
SET_CASE(set_ttl_default, SOCK_STREAM, IPPROTO_IP, IP_TTL, -1, 4)
SET_CASE(set_tos_tcp, SOCK_STREAM, IPPROTO_IP, IP_TOS, 0xff, 4)
SET_CASE(set_tos_udp, SOCK_DGRAM, IPPROTO_IP, IP_TOS, 0xff, 4)
SET_CASE(set_ip_unknown, SOCK_DGRAM, IPPROTO_IP, 9999, 1, 4)
SET_CASE(set_mcast_ttl, SOCK_DGRAM, IPPROTO_IP, IP_MULTICAST_TTL, 5, 4)
SET_CASE(set_mcast_ttl_big, SOCK_DGRAM, IPPROTO_IP, IP_MULTICAST_TTL, 256, 4)
SET_CASE(set_mcast_ttl_default, SOCK_DGRAM, IPPROTO_IP, IP_MULTICAST_TTL, -1, 4)
SET_CASE(set_mcast_loop, SOCK_DGRAM, IPPROTO_IP, IP_MULTICAST_LOOP, 0, 4)
SET_CASE(set_reuseport, SOCK_STREAM, SOL_SOCKET, SO_REUSEPORT, 1, 4)
SET_CASE(set_maxseg, SOCK_STREAM, IPPROTO_TCP, TCP_MAXSEG, 1000, 4)
SET_CASE(set_maxseg_small, SOCK_STREAM, IPPROTO_TCP, TCP_MAXSEG, 50, 4)
SET_CASE(set_cork, SOCK_STREAM, IPPROTO_TCP, TCP_CORK, 1, 4)
SET_CASE(set_user_timeout, SOCK_STREAM, IPPROTO_TCP, TCP_USER_TIMEOUT, 5000, 4)
SET_CASE(set_user_timeout_neg, SOCK_STREAM, IPPROTO_TCP, TCP_USER_TIMEOUT, -1, 4)
SET_CASE(set_mtu_discover, SOCK_DGRAM, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO, 4)
SET_CASE(set_mtu_discover_bad, SOCK_DGRAM, IPPROTO_IP, IP_MTU_DISCOVER, 7, 4)
SET_CASE(set_recverr, SOCK_DGRAM, IPPROTO_IP, IP_RECVERR, 1, 4)

static void set_val_null(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    CALL(c, c->o->setsockopt(s, SOL_SOCKET, SO_REUSEADDR, NULL, 4));
}

static void set_ttl_byte(struct cx *c)
{
    int s = sock(c, SOCK_DGRAM);
    NEED(c, s >= 0, "socket");
    unsigned char ttl = 17;
    CALL(c, c->o->setsockopt(s, IPPROTO_IP, IP_TTL, &ttl, 1));
    get_int(c, s, IPPROTO_IP, IP_TTL, 4);
}

/* SO_LINGER */

static void linger_set(struct cx *c, int onoff, int secs, socklen_t len)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    struct linger l = { onoff, secs };
    CALL(c, c->o->setsockopt(s, SOL_SOCKET, SO_LINGER, &l, len));
    struct linger got = { -1, -1 };
    socklen_t gl = sizeof(got);
    if (c->o->getsockopt(s, SOL_SOCKET, SO_LINGER, &got, &gl) == 0)
        outf(c, "linger=%d,%d len=%u", got.l_onoff, got.l_linger, (unsigned)gl);
}

static void linger_off_keeps_time(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    struct linger on = { 1, 5 }, off = { 0, 7 }, got = { -1, -1 };
    NEED(c, c->o->setsockopt(s, SOL_SOCKET, SO_LINGER, &on, sizeof(on)) == 0, "linger on");
    CALL(c, c->o->setsockopt(s, SOL_SOCKET, SO_LINGER, &off, sizeof(off)));
    socklen_t gl = sizeof(got);
    if (c->o->getsockopt(s, SOL_SOCKET, SO_LINGER, &got, &gl) == 0)
        outf(c, "linger=%d,%d", got.l_onoff, got.l_linger);
}

static void linger_default(struct cx *c) { linger_set(c, 0, 0, sizeof(struct linger)); }
static void linger_on(struct cx *c) { linger_set(c, 1, 5, sizeof(struct linger)); }
static void linger_short(struct cx *c) { linger_set(c, 1, 5, 4); }

/* SO_RCVTIMEO / SO_SNDTIMEO */

static void timeo_set(struct cx *c, int name, long sec, long usec, socklen_t len)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    struct timeval tv = { sec, usec };
    CALL(c, c->o->setsockopt(s, SOL_SOCKET, name, &tv, len));
    struct timeval got = { -1, -1 };
    socklen_t gl = sizeof(got);
    if (c->o->getsockopt(s, SOL_SOCKET, name, &got, &gl) == 0)
        outf(c, "tv=%ld.%06ld len=%u", (long)got.tv_sec, (long)got.tv_usec, (unsigned)gl);
}

static void rcvtimeo(struct cx *c) { timeo_set(c, SO_RCVTIMEO, 1, 500000, sizeof(struct timeval)); }
static void rcvtimeo_usec_big(struct cx *c)
{
    timeo_set(c, SO_RCVTIMEO, 1, 1000000, sizeof(struct timeval));
}
static void sndtimeo_negative(struct cx *c)
{
    timeo_set(c, SO_SNDTIMEO, -1, 0, sizeof(struct timeval));
}
static void sndtimeo_short(struct cx *c) { timeo_set(c, SO_SNDTIMEO, 1, 0, 8); }

static void timeo_get_len8(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    struct timeval tv = { 2, 0 };
    NEED(c, c->o->setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0, "set");
    long v[2] = { -1, -1 };
    socklen_t l = 8;
    CALL(c, c->o->getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, v, &l));
    outf(c, "sec=%ld len=%u", v[0], (unsigned)l);
}

/* An accepted socket starts with its listener's options, as a clone of it. */
static void inherited(struct cx *c)
{
    const struct ops *o = c->o, *k = &conform_kernel;
    int one = 1, idle = 77, l = sock(c, SOCK_STREAM);
    struct timeval tv = { 2, 0 };
    struct sockaddr_in any = sin_any(c->port), self = sin_self(c, c->port);
    NEED(c, l >= 0, "socket");
    NEED(c, o->setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 &&
                o->setsockopt(l, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) == 0 &&
                o->setsockopt(l, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0 &&
                o->setsockopt(l, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) == 0,
         "options");
    NEED(c, o->bind(l, SA(any), sizeof(any)) == 0 && o->listen(l, 1) == 0, "listen");
    int p = k->socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    NEED(c, p >= 0, "peer");
    track_peer(c, p);
    NEED(c, k->connect(p, SA(self), sizeof(self)) == 0, "peer connect");
    CALL_FD(c, o->accept(l, NULL, NULL));
    NEED(c, c->r.ret >= 0, "accept");
    int s = (int)c->r.ret, v[3] = { -1, -1, -1 };
    socklen_t len = sizeof(tv);
    o->getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, &len);
    len = sizeof(int);
    o->getsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &v[0], &len);
    o->getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v[1], &len);
    o->getsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &v[2], &len);
    outf(c, "rcvtimeo=%ld keepalive=%d nodelay=%d keepidle=%d", (long)tv.tv_sec, v[0], v[1],
         v[2]);
}

/* buffer sizes: the values are configuration (ring sizes), only the call is compared */

static void bufsize(struct cx *c, int name)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    int v = 1 << 16;
    note(c, "set", c->o->setsockopt(s, SOL_SOCKET, name, &v, sizeof(v)));
    socklen_t l = sizeof(v);
    CALL(c, c->o->getsockopt(s, SOL_SOCKET, name, &v, &l));
    outf(c, "len=%u", (unsigned)l);
}

static void sndbuf(struct cx *c) { bufsize(c, SO_SNDBUF); }
static void rcvbuf(struct cx *c) { bufsize(c, SO_RCVBUF); }

/* TCP_INFO: the state and the length (the rest is the stack's own figures) */

static void tcp_info_state(struct cx *c, int how)
{
    int p, s;
    if (how == 2) {
        s = connected(c, &p);
    } else {
        s = sock(c, SOCK_STREAM);
        if (s >= 0 && how == 1 && c->o->listen(s, 1) != 0)
            s = -1;
    }
    NEED(c, s >= 0, "socket");
    struct tcp_info ti;
    memset(&ti, 0, sizeof(ti));
    socklen_t l = sizeof(ti);
    CALL(c, c->o->getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &l));
    outf(c, "state=%u len=%s", ti.tcpi_state, l == sizeof(ti) ? "full" : "short");
}

static void tcp_info_fresh(struct cx *c) { tcp_info_state(c, 0); }
static void tcp_info_listen(struct cx *c) { tcp_info_state(c, 1); }
static void tcp_info_connected(struct cx *c) { tcp_info_state(c, 2); }

static void peercred(struct cx *c)
{
    int p, s = connected(c, &p);
    NEED(c, s >= 0, "connect");
    struct ucred u = { -1, 0, 0 };
    socklen_t l = sizeof(u);
    CALL(c, c->o->getsockopt(s, SOL_SOCKET, SO_PEERCRED, &u, &l));
    outf(c, "pid=%d uid=%d gid=%d len=%u", u.pid, (int)u.uid, (int)u.gid, (unsigned)l);
}

static void bindtodevice_get(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    char name[16] = "x";
    socklen_t l = sizeof(name);
    CALL(c, c->o->getsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, name, &l));
    outf(c, "len=%u", (unsigned)l);
}

static void bindtodevice_get_short(struct cx *c)
{
    int s = sock(c, SOCK_DGRAM);
    NEED(c, s >= 0, "socket");
    char name[16] = "x";
    socklen_t l = 8;
    CALL(c, c->o->getsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, name, &l));
    outf(c, "len=%u", (unsigned)l);
}

/* multicast membership: join, join again, leave, bad groups and interfaces */

static void membership(struct cx *c, int type, const char *group, const char *iface,
                       socklen_t len, int steps)
{
    int s = sock(c, type);
    NEED(c, s >= 0, "socket");
    struct ip_mreq m;
    inet_pton(AF_INET, group, &m.imr_multiaddr);
    if (strcmp(iface, "SELF") == 0)
        m.imr_interface = c->o->self;
    else
        inet_pton(AF_INET, iface, &m.imr_interface);
    if (steps & 1)
        note(c, "join", c->o->setsockopt(s, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof(m)));
    CALL(c, c->o->setsockopt(s, IPPROTO_IP, steps & 2 ? IP_DROP_MEMBERSHIP : IP_ADD_MEMBERSHIP,
                             &m, len));
    if (steps & 4)
        note(c, "drop", c->o->setsockopt(s, IPPROTO_IP, IP_DROP_MEMBERSHIP, &m, sizeof(m)));
}

#define MREQ ((socklen_t)sizeof(struct ip_mreq))
/* The interface is named by its address: with INADDR_ANY the kernel would need a route to
 * the group, which the test namespace has not (netcore has its default route). */
static void join(struct cx *c) { membership(c, SOCK_DGRAM, "224.0.0.251", "SELF", MREQ, 4); }
static void join_twice(struct cx *c) { membership(c, SOCK_DGRAM, "224.0.0.251", "SELF", MREQ, 1); }
static void join_unicast(struct cx *c) { membership(c, SOCK_DGRAM, "198.18.0.7", "SELF", MREQ, 0); }
static void join_short(struct cx *c) { membership(c, SOCK_DGRAM, "224.0.0.251", "SELF", 4, 0); }
static void join_foreign_iface(struct cx *c)
{
    membership(c, SOCK_DGRAM, "224.0.0.251", "192.0.2.1", MREQ, 0);
}
static void join_tcp(struct cx *c) { membership(c, SOCK_STREAM, "224.0.0.251", "SELF", MREQ, 0); }
static void drop_unjoined(struct cx *c)
{
    membership(c, SOCK_DGRAM, "224.0.0.251", "SELF", MREQ, 2);
}
static void drop_joined(struct cx *c) { membership(c, SOCK_DGRAM, "224.0.0.251", "SELF", MREQ, 3); }

static void multicast_if(struct cx *c, int type, const char *addr, socklen_t len)
{
    int s = sock(c, type);
    NEED(c, s >= 0, "socket");
    struct ip_mreq m = { .imr_multiaddr = { 0 } };
    if (strcmp(addr, "SELF") == 0)
        m.imr_interface = c->o->self;
    else
        inet_pton(AF_INET, addr, &m.imr_interface);
    /* length 4 is a bare struct in_addr: the interface's address only */
    CALL(c, c->o->setsockopt(s, IPPROTO_IP, IP_MULTICAST_IF,
                             len == 4 ? (void *)&m.imr_interface : (void *)&m, len));
    struct in_addr got = { 0x01010101 };
    socklen_t gl = sizeof(got);
    if (c->o->getsockopt(s, IPPROTO_IP, IP_MULTICAST_IF, &got, &gl) == 0)
        outf(c, "if=%s len=%u", got.s_addr == c->o->self.s_addr ? "SELF"
                                : got.s_addr == 0 ? "ANY" : "other", (unsigned)gl);
}

static void mcast_if_self(struct cx *c) { multicast_if(c, SOCK_DGRAM, "SELF", 4); }
static void mcast_if_mreq(struct cx *c) { multicast_if(c, SOCK_DGRAM, "SELF", 8); }
static void mcast_if_foreign(struct cx *c) { multicast_if(c, SOCK_DGRAM, "192.0.2.1", 4); }
static void mcast_if_tcp(struct cx *c) { multicast_if(c, SOCK_STREAM, "SELF", 4); }
static void mcast_if_short(struct cx *c) { multicast_if(c, SOCK_DGRAM, "SELF", 2); }

/* A group member hears a datagram the peer sends to the group (out of the TAP). */
static void multicast_receive(struct cx *c, bool own)
{
    int s = sock(c, SOCK_DGRAM);
    struct sockaddr_in any = sin_any(c->port);
    NEED(c, s >= 0 && c->o->bind(s, SA(any), sizeof(any)) == 0, "bind");
    struct ip_mreq m = { .imr_interface = c->o->self };
    inet_pton(AF_INET, "239.1.2.3", &m.imr_multiaddr);
    NEED(c, c->o->setsockopt(s, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof(m)) == 0, "join");
    const struct ops *so = own ? c->o : &conform_kernel; /* who sends */
    int tx = so->socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    NEED(c, tx >= 0, "sender");
    if (own)
        track(c, tx);
    else
        track_peer(c, tx);
    struct in_addr via = own ? c->o->self : conform_env.peer;
    NEED(c, so->setsockopt(tx, IPPROTO_IP, IP_MULTICAST_IF, &via, sizeof(via)) == 0, "IF");
    struct sockaddr_in g = sin_of(m.imr_multiaddr, c->port);
    NEED(c, so->sendto(tx, "group", 5, 0, SA(g), sizeof(g)) == 5, "sendto");
    outf(c, "revents=%#x", wait_for(c, s, POLLIN, WAIT_MS));
    char b[8];
    CALL(c, c->o->recv(s, b, sizeof(b), MSG_DONTWAIT));
    note_data(c, b, c->r.ret);
}

static void multicast_from_peer(struct cx *c) { multicast_receive(c, false); }
static void multicast_looped(struct cx *c) { multicast_receive(c, true); }

static void tcp_congestion(struct cx *c)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    char name[16] = "";
    socklen_t l = sizeof(name);
    CALL(c, c->o->getsockopt(s, IPPROTO_TCP, TCP_CONGESTION, name, &l));
    outf(c, "%s", name);
}

/* TCP_CONGESTION set to algo (len bytes of it), then read back. */
static void tcp_congestion_set(struct cx *c, const char *algo, socklen_t len)
{
    int s = sock(c, SOCK_STREAM);
    NEED(c, s >= 0, "socket");
    CALL(c, c->o->setsockopt(s, IPPROTO_TCP, TCP_CONGESTION, algo, len));
    char name[16] = "";
    socklen_t l = sizeof(name);
    NEED(c, c->o->getsockopt(s, IPPROTO_TCP, TCP_CONGESTION, name, &l) == 0, "getsockopt");
    outf(c, "%s len %u", name, (unsigned)l);
}

static void tcp_congestion_cubic(struct cx *c) { tcp_congestion_set(c, "cubic", 6); }
static void tcp_congestion_reno(struct cx *c) { tcp_congestion_set(c, "reno", 4); }
static void tcp_congestion_unknown(struct cx *c) { tcp_congestion_set(c, "nosuch", 7); }
static void tcp_congestion_cut(struct cx *c) { tcp_congestion_set(c, "cubic", 3); }
static void tcp_congestion_empty(struct cx *c) { tcp_congestion_set(c, "reno", 0); }

const struct conform_case conform_opt_cases[] = {
    { "getsockopt: SO_TYPE TCP", so_type_tcp, NULL },
    { "getsockopt: SO_TYPE UDP", so_type_udp, NULL },
    { "getsockopt: SO_DOMAIN", so_domain, NULL },
    { "getsockopt: SO_PROTOCOL TCP", so_protocol_tcp, NULL },
    { "getsockopt: SO_PROTOCOL UDP", so_protocol_udp, NULL },
    { "getsockopt: SO_ACCEPTCONN fresh", so_acceptconn_fresh, NULL },
    { "getsockopt: SO_ACCEPTCONN listening", so_acceptconn_listening, NULL },
    { "getsockopt: SO_ERROR fresh", so_error_fresh, NULL },
    { "getsockopt: length 2", so_type_len2, NULL },
    { "getsockopt: length 8", so_type_len8, NULL },
    { "getsockopt: length -1", so_type_len_neg, NULL },
    { "getsockopt: NULL value", so_type_val_null, NULL },
    { "getsockopt: NULL value, length 0", so_type_val_null_len0, NULL },
    { "getsockopt: NULL length", so_type_len_null, NULL },
    { "getsockopt: SO_REUSEADDR default", so_reuseaddr_default, NULL },
    { "getsockopt: SO_KEEPALIVE default", so_keepalive_default, NULL },
    { "getsockopt: SO_BROADCAST default", so_broadcast_default, NULL },
    { "getsockopt: SO_OOBINLINE default", so_oobinline_default, NULL },
    { "getsockopt: SO_PRIORITY default", so_priority_default, NULL },
    { "getsockopt: SO_RCVLOWAT default", so_rcvlowat_default, NULL },
    { "getsockopt: unknown SOL_SOCKET option", so_unknown_get, NULL },
    { "getsockopt: unknown level, TCP", level_unknown_tcp_get, NULL },
    { "getsockopt: unknown level, UDP", level_unknown_udp_get, NULL },
    { "getsockopt: IPPROTO_TCP on UDP", level_tcp_on_udp_get, NULL },
    { "getsockopt: unknown TCP option", tcp_unknown_get, NULL },
    { "getsockopt: TCP_NODELAY default", tcp_nodelay_default, NULL },
    { "getsockopt: TCP_MAXSEG unconnected", tcp_maxseg_fresh, NULL },
    { "getsockopt: TCP_KEEPIDLE default", tcp_keepidle_default, NULL },
    { "getsockopt: TCP_KEEPINTVL default", tcp_keepintvl_default, NULL },
    { "getsockopt: TCP_KEEPCNT default", tcp_keepcnt_default, NULL },
    { "getsockopt: IP_TTL default", ip_ttl_default, NULL },
    { "getsockopt: IP_TOS default", ip_tos_default, NULL },
    { "getsockopt: IP_TTL length 1", ip_ttl_len1, NULL },
    { "getsockopt: unknown IP option", ip_unknown_get, NULL },
    { "getsockopt: IP_TTL length 2", ip_ttl_len2, NULL },
    { "getsockopt: IP_MTU_DISCOVER default", ip_mtu_discover_default, NULL },
    { "getsockopt: SO_REUSEPORT default", so_reuseport_default, NULL },
    { "getsockopt: TCP_NODELAY length -1", tcp_nodelay_len_neg, NULL },
    { "getsockopt: TCP_CORK default", tcp_cork_default, NULL },
    { "getsockopt: TCP_USER_TIMEOUT default", tcp_user_timeout_default, NULL },
    { "setsockopt: SO_REUSEADDR 5", set_reuseaddr, NULL },
    { "setsockopt: length 2", set_reuseaddr_len2, NULL },
    { "setsockopt: length 0", set_reuseaddr_len0, NULL },
    { "setsockopt: length 8", set_reuseaddr_len8, NULL },
    { "setsockopt: NULL value", set_val_null, NULL },
    { "setsockopt: SO_KEEPALIVE", set_keepalive, NULL },
    { "setsockopt: SO_BROADCAST 3", set_broadcast, NULL },
    { "setsockopt: SO_OOBINLINE", set_oobinline, NULL },
    { "setsockopt: SO_PRIORITY 6", set_priority, NULL },
    { "setsockopt: SO_RCVLOWAT 10", set_rcvlowat, NULL },
    { "setsockopt: SO_RCVLOWAT 0", set_rcvlowat0, NULL },
    { "setsockopt: unknown SOL_SOCKET option", set_unknown, NULL },
    { "setsockopt: unknown level, TCP", set_level_unknown_tcp, NULL },
    { "setsockopt: unknown level, UDP", set_level_unknown_udp, NULL },
    { "setsockopt: IPPROTO_TCP on UDP", set_level_tcp_on_udp, NULL },
    { "setsockopt: unknown TCP option", set_tcp_unknown, NULL },
    { "setsockopt: TCP_NODELAY 7", set_nodelay, NULL },
    { "setsockopt: TCP_NODELAY length 2", set_nodelay_len2, NULL },
    { "setsockopt: TCP_KEEPIDLE 60", set_keepidle, NULL },
    { "setsockopt: TCP_KEEPIDLE 0", set_keepidle0, NULL },
    { "setsockopt: TCP_KEEPIDLE 40000", set_keepidle_big, NULL },
    { "setsockopt: TCP_KEEPINTVL 32768", set_keepintvl_big, NULL },
    { "setsockopt: TCP_KEEPCNT 5", set_keepcnt, NULL },
    { "setsockopt: TCP_KEEPCNT 128", set_keepcnt_big, NULL },
    { "setsockopt: IP_TTL 10", set_ttl, NULL },
    { "setsockopt: IP_TTL 0", set_ttl0, NULL },
    { "setsockopt: IP_TTL 256", set_ttl_big, NULL },
    { "setsockopt: IP_TTL -1 (default)", set_ttl_default, NULL },
    { "setsockopt: IP_TTL as one byte", set_ttl_byte, NULL },
    { "setsockopt: IP_TOS 0xff TCP", set_tos_tcp, NULL },
    { "setsockopt: IP_TOS 0xff UDP", set_tos_udp, NULL },
    { "setsockopt: unknown IP option", set_ip_unknown, NULL },
    { "setsockopt: SO_REUSEPORT", set_reuseport, NULL },
    { "setsockopt: TCP_MAXSEG 1000, unconnected", set_maxseg, NULL },
    { "setsockopt: TCP_MAXSEG 50", set_maxseg_small, NULL },
    { "setsockopt: TCP_CORK", set_cork, NULL },
    { "setsockopt: TCP_USER_TIMEOUT 5000", set_user_timeout, NULL },
    { "setsockopt: TCP_USER_TIMEOUT -1", set_user_timeout_neg, NULL },
    { "setsockopt: IP_MTU_DISCOVER IP_PMTUDISC_DO", set_mtu_discover, NULL },
    { "setsockopt: IP_MTU_DISCOVER 7", set_mtu_discover_bad, NULL },
    { "setsockopt: IP_RECVERR", set_recverr, NULL },
    { "SO_LINGER: default", linger_default, NULL },
    { "SO_LINGER: on, 5 s", linger_on, NULL },
    { "SO_LINGER: length 4", linger_short, NULL },
    { "SO_LINGER: off again keeps the time", linger_off_keeps_time, NULL },
    { "accept: options inherited from the listener", inherited, NULL },
    { "SO_RCVTIMEO: 1.5 s", rcvtimeo, NULL },
    { "SO_RCVTIMEO: tv_usec 1000000", rcvtimeo_usec_big, NULL },
    { "SO_SNDTIMEO: negative", sndtimeo_negative, NULL },
    { "SO_SNDTIMEO: length 8", sndtimeo_short, NULL },
    { "SO_RCVTIMEO: get with length 8", timeo_get_len8, NULL },
    { "SO_SNDBUF: set and get (length only)", sndbuf, NULL },
    { "SO_RCVBUF: set and get (length only)", rcvbuf, NULL },
    { "TCP_INFO: fresh", tcp_info_fresh, NULL },
    { "TCP_INFO: listening", tcp_info_listen, NULL },
    { "TCP_INFO: connected", tcp_info_connected, NULL },
    { "getsockopt: IP_MULTICAST_TTL default", mcast_ttl_default, NULL },
    { "getsockopt: IP_MULTICAST_LOOP default", mcast_loop_default, NULL },
    { "setsockopt: IP_MULTICAST_TTL 5", set_mcast_ttl, NULL },
    { "setsockopt: IP_MULTICAST_TTL 256", set_mcast_ttl_big, NULL },
    { "setsockopt: IP_MULTICAST_TTL -1", set_mcast_ttl_default, NULL },
    { "setsockopt: IP_MULTICAST_LOOP 0", set_mcast_loop, NULL },
    { "IP_MULTICAST_IF: own address", mcast_if_self, NULL },
    { "IP_MULTICAST_IF: struct ip_mreq", mcast_if_mreq, NULL },
    { "IP_MULTICAST_IF: foreign address", mcast_if_foreign, NULL },
    { "IP_MULTICAST_IF: TCP", mcast_if_tcp, NULL },
    { "IP_MULTICAST_IF: length 2", mcast_if_short, NULL },
    { "IP_ADD_MEMBERSHIP: join, drop", join, NULL },
    { "IP_ADD_MEMBERSHIP: twice", join_twice, NULL },
    { "IP_ADD_MEMBERSHIP: unicast group", join_unicast, NULL },
    { "IP_ADD_MEMBERSHIP: length 4", join_short, NULL },
    { "IP_ADD_MEMBERSHIP: foreign interface", join_foreign_iface, NULL },
    { "IP_ADD_MEMBERSHIP: TCP", join_tcp, NULL },
    { "IP_DROP_MEMBERSHIP: not joined", drop_unjoined, NULL },
    { "IP_DROP_MEMBERSHIP: joined", drop_joined, NULL },
    { "multicast: a member hears the peer", multicast_from_peer, NULL },
    { "multicast: a member hears its own stack", multicast_looped, NULL },
    { "SO_PEERCRED: TCP", peercred, NULL },
    { "SO_BINDTODEVICE: get, not bound", bindtodevice_get, NULL },
    { "SO_BINDTODEVICE: get, length 8", bindtodevice_get_short, NULL },
    { "TCP_CONGESTION: default", tcp_congestion, NULL },
    { "TCP_CONGESTION: set cubic", tcp_congestion_cubic, NULL },
    { "TCP_CONGESTION: set reno, no NUL", tcp_congestion_reno, NULL },
    { "TCP_CONGESTION: unknown name", tcp_congestion_unknown, NULL },
    { "TCP_CONGESTION: name cut by its length", tcp_congestion_cut, NULL },
    { "TCP_CONGESTION: length 0", tcp_congestion_empty, NULL },
    { NULL, NULL, NULL },
};
