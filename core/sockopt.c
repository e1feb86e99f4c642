/*
 * Socket options: setsockopt and getsockopt for SOL_SOCKET, IPPROTO_TCP and IPPROTO_IP, with
 * the kernel's checks of levels, names and lengths. Most options only record a value that
 * the TCP and UDP code read; a few reach into lwIP's pcb.
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <string.h>

#include "internal.h"

static int int_opt(const void *val, socklen_t len, int *out)
{
    if (val == NULL)
        return -EFAULT;
    if (len < (socklen_t)sizeof(int))
        return -EINVAL;
    memcpy(out, val, sizeof(int));
    return 0;
}

static int tv_opt(const void *val, socklen_t len, int *ms)
{
    struct timeval tv;
    if (val == NULL)
        return -EFAULT;
    if (len < (socklen_t)sizeof(tv))
        return -EINVAL;
    memcpy(&tv, val, sizeof(tv));
    if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
        return -EDOM;
    if (tv.tv_sec < 0) {
        *ms = 0;
        return 0;
    }
    long long t = (long long)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
    *ms = t > 0x7fffffff ? 0 : (int)t;
    return 0;
}

int netcore_setsockopt(struct netcore_stack *st, int id, int level, int name, const void *val,
                       socklen_t len)
{
    GET_SOCK(st, id, s);
    int v = 0, rc;
    if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO)) {
        int ms;
        rc = tv_opt(val, len, &ms);
        if (rc == 0) {
            if (name == SO_RCVTIMEO)
                s->rcvtimeo_ms = ms;
            else
                s->sndtimeo_ms = ms;
        }
        return rc;
    }
    if (level == SOL_SOCKET && name == SO_LINGER)
        return val == NULL ? -EFAULT : len < (socklen_t)sizeof(struct linger) ? -EINVAL : 0;
    rc = int_opt(val, len, &v);
    if (rc != 0)
        return rc;
    nc__lock(st);
    rc = 0;
    if (level == SOL_SOCKET) {
        switch (name) {
        case SO_REUSEADDR: s->reuseaddr = v != 0; break;
        case SO_REUSEPORT: break; /* accepted; lwIP has no port sharing */
        case SO_KEEPALIVE:
            s->keepalive = v != 0;
            if (s->type == SOCK_STREAM)
                nc__tcp_set_keepalive(s);
            break;
        case SO_SNDBUF: /* accepted; the rings are sized by NETCORE_SNDBUF/RCVBUF */
        case SO_RCVBUF:
        case SO_BROADCAST:
        case SO_OOBINLINE:
        case SO_PRIORITY:
        case SO_RCVLOWAT:
            break;
        default: rc = -ENOPROTOOPT; break;
        }
    } else if (level == IPPROTO_TCP && s->type == SOCK_STREAM) {
        switch (name) {
        case TCP_NODELAY:
            s->nodelay = v != 0;
            nc__tcp_set_nodelay(s);
            break;
        case TCP_KEEPIDLE:
        case TCP_KEEPINTVL:
        case TCP_KEEPCNT:
            if (v < 1) {
                rc = -EINVAL;
                break;
            }
            nc__tcp_keepalive_param(s, name == TCP_KEEPIDLE ? 0 : name == TCP_KEEPINTVL ? 1 : 2,
                                    (unsigned)v);
            break;
        case TCP_QUICKACK:
        case TCP_CORK:
        case TCP_DEFER_ACCEPT:
        case TCP_FASTOPEN:
        case TCP_USER_TIMEOUT:
            break;
        default: rc = -ENOPROTOOPT; break;
        }
    } else if (level == IPPROTO_IP) {
        switch (name) {
        case IP_TOS:
        case IP_TTL:
        case IP_RECVERR:
        case IP_MTU_DISCOVER:
            break;
        default: rc = -ENOPROTOOPT; break;
        }
    } else {
        rc = -ENOPROTOOPT;
    }
    nc__unlock(st);
    return rc;
}

int netcore_getsockopt(struct netcore_stack *st, int id, int level, int name, void *val,
                       socklen_t *len)
{
    GET_SOCK(st, id, s);
    if (val == NULL || len == NULL)
        return -EFAULT;
    if ((int)*len < 0)
        return -EINVAL;
    int v;
    if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO)) {
        int ms = name == SO_RCVTIMEO ? s->rcvtimeo_ms : s->sndtimeo_ms;
        struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
        size_t n = *len < sizeof(tv) ? *len : sizeof(tv);
        memcpy(val, &tv, n);
        *len = (socklen_t)n;
        return 0;
    }
    if (level == SOL_SOCKET) {
        switch (name) {
        case SO_ERROR: v = atomic_exchange(&s->so_error, 0); break;
        case SO_TYPE: v = s->type; break;
        case SO_DOMAIN: v = AF_INET; break;
        case SO_PROTOCOL: v = s->type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP; break;
        case SO_ACCEPTCONN: v = atomic_load(&s->state) == NC_ST_LISTEN; break;
        case SO_REUSEADDR: v = s->reuseaddr; break;
        case SO_KEEPALIVE: v = s->keepalive; break;
        case SO_SNDBUF: v = (int)st->cfg.sndbuf; break;
        case SO_RCVBUF: v = (int)st->cfg.rcvbuf; break;
        case SO_LINGER: {
            struct linger l = { 0, 0 };
            size_t n = *len < sizeof(l) ? *len : sizeof(l);
            memcpy(val, &l, n);
            *len = (socklen_t)n;
            return 0;
        }
        default: return -ENOPROTOOPT;
        }
    } else if (level == IPPROTO_TCP && s->type == SOCK_STREAM) {
        switch (name) {
        case TCP_NODELAY: v = s->nodelay; break;
        case TCP_MAXSEG: v = nc__tcp_mss(s); break;
        case TCP_INFO: {
            struct nc_tcpinfo ti;
            struct tcp_info out;
            memset(&out, 0, sizeof(out));
            nc__lock(st);
            nc__tcp_info(s, &ti);
            nc__unlock(st);
            out.tcpi_state = (uint8_t)ti.state;
            out.tcpi_retransmits = (uint8_t)ti.retrans;
            out.tcpi_rto = ti.rto_us;
            out.tcpi_snd_mss = ti.mss;
            out.tcpi_rcv_mss = ti.mss;
            out.tcpi_unacked = ti.unacked_segs;
            out.tcpi_rtt = ti.rtt_us;
            out.tcpi_rttvar = ti.rttvar_us;
            out.tcpi_snd_ssthresh = ti.ssthresh;
            out.tcpi_snd_cwnd = ti.cwnd_segs;
            out.tcpi_advmss = ti.mss;
            out.tcpi_rcv_space = ti.rcv_wnd;
            size_t n = *len < sizeof(out) ? *len : sizeof(out);
            memcpy(val, &out, n);
            *len = (socklen_t)n;
            return 0;
        }
        case TCP_CONGESTION: {
            static const char algo[] = "newreno"; /* lwIP's congestion control */
            size_t n = *len < sizeof(algo) ? *len : sizeof(algo);
            memcpy(val, algo, n);
            *len = (socklen_t)n;
            return 0;
        }
        default: return -ENOPROTOOPT;
        }
    } else {
        return -ENOPROTOOPT;
    }
    size_t n = *len < sizeof(v) ? *len : sizeof(v);
    memcpy(val, &v, n);
    *len = (socklen_t)n;
    return 0;
}
