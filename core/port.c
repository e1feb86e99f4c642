/*
 * Ports: the one allocator of TCP and UDP, with the kernel's rules and errors.
 *
 * - A port below net.ipv4.ip_unprivileged_port_start needs CAP_NET_BIND_SERVICE: EACCES,
 *   checked before the socket's state, as inet_bind does.
 * - Port 0 takes a free port of net.ipv4.ip_local_port_range (read once per stack, as the
 *   kernel reads it per namespace), trying each in turn from a random start, as the
 *   kernel's inet_csk_find_open_port and udp_lib_get_port do: a random start keeps ports
 *   hard to guess, the walk finds the last free one. Exhausted: EADDRINUSE for bind() and
 *   listen(); connect() says EADDRNOTAVAIL and sendto() EAGAIN instead (their callers).
 * - An explicit port in use: EADDRINUSE, from the protocol's conflict check (tcp.c, and
 *   lwIP's udp_bind), which nc__port_bind calls through its bind function.
 *
 * Tuples kept away. A Linux peer that closes first can answer our FIN with a reset and keep
 * the connection for net.ipv4.tcp_fin_timeout (60 s) as a TIME-WAIT entry still waiting for
 * that FIN (substate FIN_WAIT2), which answers a new SYN on the same tuple with a reset: the
 * next connect from that port fails with ECONNREFUSED. The kernel does this when our FIN
 * comes while the peer's close() is still turning its socket into TIME-WAIT (__tcp_close
 * runs tcp_time_wait and then the backlog, where the FIN meets a closed socket; "we still
 * can lose it now", says tcp_rcv_state_process of a neighbouring case), a window of a few
 * microseconds that a kernel client, woken by the FIN, rarely hits, and netcore's client,
 * spinning on the device, does: bench/connrate met it once in ~375,000 connections, and at
 * thousands of connections a second a random port comes back to the same peer within
 * seconds, well inside the 60 s. tcp.c now acknowledges the peer's FIN with our own FIN, as
 * the kernel does, which the peer takes in one step; an ACK that still goes ahead of our FIN
 * (on data the program sends after the peer's FIN, then a close) leaves the window open. So
 * a reset that lwIP accepts in LAST_ACK or CLOSING (after the peer's FIN and ours) keeps that
 * local port away from that peer and port for 60 s: a connect to it walks past the port. The
 * last NC_PORT_AVOID such tuples are kept.
 */
#include "port.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>

#include <lwip/err.h>
#include <lwip/ip.h>
#include <lwip/ip_addr.h>
#include <lwip/priv/tcp_priv.h>
#include <lwip/sys.h>
#include <lwip/tcp.h>
#include <lwip/udp.h>

#include "addr.h"
#include "errmap.h"
#include "pcbmap.h"
#include "rxframe.h"
#include "shimapi.h"
#include "sock.h"
#include "stack.h"
#include "sys.h"

/* How long a tuple is kept away: Linux's default net.ipv4.tcp_fin_timeout, in ms. */
#define AVOID_MS 60000u

/* Linux's default ip_local_port_range, for a namespace whose file cannot be read. */
#define EPHEMERAL_LO 32768
#define EPHEMERAL_HI 60999

/* Reads a /proc/sys file of this namespace into buf; its length, or -1. */
static int read_proc(const char *path, char *buf, size_t cap)
{
    int fd = (int)nc__raw_syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int n = nc__sys_read(fd, buf, cap - 1);
    nc__sys_close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return n;
}

void nc__port_setup(struct netcore_stack *st)
{
    char buf[32];
    int lo, hi;
    st->port_unpriv = 1024; /* the kernel's default */
    if (read_proc("/proc/sys/net/ipv4/ip_unprivileged_port_start", buf, sizeof(buf)) > 0 &&
        sscanf(buf, "%d", &lo) == 1)
        st->port_unpriv = lo;
    st->port_lo = EPHEMERAL_LO;
    st->port_hi = EPHEMERAL_HI;
    if (read_proc("/proc/sys/net/ipv4/ip_local_port_range", buf, sizeof(buf)) > 0 &&
        sscanf(buf, "%d %d", &lo, &hi) == 2 && lo > 0 && lo <= hi && hi <= 65535) {
        st->port_lo = (uint16_t)lo;
        st->port_hi = (uint16_t)hi;
    }
}

bool nc__port_privileged(const struct netcore_stack *st, uint16_t port)
{
    if (port == 0 || port >= st->port_unpriv)
        return false;
    /* The calling thread's effective capabilities decide, as for the kernel's bind. */
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];
    if (nc__raw_syscall(SYS_capget, &h, d) != 0)
        return false;
    return !(d[0].effective & (1u << CAP_NET_BIND_SERVICE));
}

/* The peer of an lwIP address as the avoid table keeps it. */
static void peer_key(const ip_addr_t *ip, uint32_t addr[4], bool *v6)
{
    memset(addr, 0, 4 * sizeof(uint32_t));
    *v6 = IP_IS_V6_VAL(*ip);
    if (*v6)
        memcpy(addr, ip_2_ip6(ip)->addr, 16);
    else
        addr[0] = ip_2_ip4(ip)->addr;
}

/* Is lport kept away from addr:rport at now? */
static bool avoided(const struct netcore_stack *st, const uint32_t addr[4], bool v6,
                    uint16_t rport, uint16_t lport, uint32_t now)
{
    for (int i = 0; i < NC_PORT_AVOID; i++) {
        const struct nc_port_avoid *a = &st->port_avoid[i];
        if (a->until != 0 && (int32_t)(a->until - now) > 0 && a->lport == lport &&
            a->rport == rport && a->v6 == v6 && memcmp(a->addr, addr, sizeof(a->addr)) == 0)
            return true;
    }
    return false;
}

/* Binds port 0 for nc__port_bind, or for a connect to peer:rport when peer is not NULL. */
static int bind_any(struct netcore_stack *st, void *pcb, const struct ip_addr *ip,
                    const struct ip_addr *peer, uint16_t rport, nc_port_bind_fn bind)
{
    uint32_t addr[4];
    bool v6 = false, check = false;
    uint32_t now = 0;
    if (peer != NULL) {
        peer_key(peer, addr, &v6);
        now = sys_now();
        for (int i = 0; i < NC_PORT_AVOID && !check; i++)
            check = st->port_avoid[i].until != 0;
    }
    unsigned n = (unsigned)st->port_hi - st->port_lo + 1;
    unsigned start = nc__rand() % n;
    for (unsigned i = 0; i < n; i++) {
        uint16_t port = (uint16_t)(st->port_lo + (start + i) % n);
        if (check && avoided(st, addr, v6, rport, port, now))
            continue;
        err_t e = bind(pcb, ip, port);
        if (e != ERR_USE)
            return e == ERR_OK ? 0 : -nc__err_to_errno(e);
    }
    return -EADDRINUSE;
}

int nc__port_bind(struct netcore_stack *st, void *pcb, const struct ip_addr *ip, uint16_t port,
                  nc_port_bind_fn bind)
{
    if (port != 0) {
        err_t e = bind(pcb, ip, port);
        return e == ERR_OK ? 0 : -nc__err_to_errno(e);
    }
    return bind_any(st, pcb, ip, NULL, 0, bind);
}

int nc__port_connect(struct netcore_stack *st, void *pcb, const struct ip_addr *ip,
                     const struct ip_addr *peer, uint16_t rport, nc_port_bind_fn bind)
{
    return bind_any(st, pcb, ip, peer, rport, bind);
}

void nc__port_rst_in(struct netcore_stack *st, const struct nc_frame *fr)
{
    const struct nc_tcpseg *t = &fr->tcp;
    if (!t->tcp || !(t->flags & TCP_RST))
        return;
    struct tcp_pcb *p = nc__pcb_find_raw(st, fr->ver == 6, fr->src, t->sport, t->dport);
    if (p == NULL || (p->state != LAST_ACK && p->state != CLOSING))
        return;
    /* Only a reset lwIP takes (tcp_process): one outside the window changes nothing. */
    if (!TCP_SEQ_BETWEEN(t->seq, p->rcv_nxt, p->rcv_nxt + p->rcv_wnd))
        return;
    struct nc_port_avoid *a = &st->port_avoid[st->port_avoid_next];
    st->port_avoid_next = (st->port_avoid_next + 1) % NC_PORT_AVOID;
    peer_key(&p->remote_ip, a->addr, &a->v6);
    a->rport = p->remote_port;
    a->lport = p->local_port;
    a->until = sys_now() + AVOID_MS;
    if (a->until == 0)
        a->until = 1; /* 0 marks a free entry */
    nc__log(NETCORE_LOG_DEBUG, "port %u: reset after our FIN; kept from its peer's port %u "
            "for %u s", a->lport, a->rport, AVOID_MS / 1000);
}

int nc__port_bind_sock(struct netcore_stack *st, struct nc_sock *s, const union nc_sockaddr *a,
                       nc_port_bind_fn bind)
{
    struct ip_pcb *pcb = s->pcb.ip;
    if (s->opt.reuseaddr)
        ip_set_option(pcb, SOF_REUSEADDR);
    ip_addr_t ip;
    u16_t port = nc__addr_ip(st, s, a, &ip);
    int rc = nc__port_bind(st, pcb, &ip, port, bind);
    if (rc != 0)
        return rc;
    /* The port chosen for port 0: lwIP keeps it outside the fields the two pcbs share. */
    port = s->type == SOCK_STREAM ? s->pcb.tcp->local_port : s->pcb.udp->local_port;
    nc__addr_make(st, s->family, &pcb->local_ip, port, &s->local);
    s->bound = *a;
    s->bound_user = true;
    atomic_store(&s->state, NC_ST_BOUND);
    return 0;
}
