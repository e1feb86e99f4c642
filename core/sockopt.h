/* sockopt.c: the socket options a program sets and reads. */
#ifndef NC_SOCKOPT_H
#define NC_SOCKOPT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#define NC_DEFAULT_TTL 64 /* Linux's default IP_TTL, also ours (lwIP's own is 255) */

/*
 * What setsockopt recorded, read by getsockopt and by the TCP and UDP code. An accepted
 * connection starts with a copy of its listener's, as a kernel socket is cloned from it.
 */
struct nc_opts {
    int rcvtimeo_ms, sndtimeo_ms; /* 0: none */
    bool reuseaddr, reuseport, keepalive, nodelay, broadcast, oobinline, recverr, cork;
    bool linger_on;
    int linger_s;
    int priority, rcvlowat;
    int ttl;                     /* IP_TTL; -1: the default, NC_DEFAULT_TTL */
    int tos, pmtudisc;
    int mc_ttl;                  /* IP_MULTICAST_TTL */
    bool mc_loop;                /* IP_MULTICAST_LOOP: our own sockets hear what we send */
    struct in_addr mc_addr;      /* IP_MULTICAST_IF (there is one interface: only shown) */
    int user_mss, user_timeout;  /* TCP_MAXSEG (0: none), TCP_USER_TIMEOUT in ms */
    int keepidle, keepintvl, keepcnt; /* seconds, seconds, probes */
    uint8_t cc;                  /* TCP_CONGESTION, an nc_cc_algo (cc.h); 0: the stack's */
};

/* The options of a new socket: the kernel's defaults. */
void nc__opts_default(struct nc_opts *o);

#endif /* NC_SOCKOPT_H */
