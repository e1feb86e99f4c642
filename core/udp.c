/*
 * UDP over lwIP's raw API. Received datagrams wait in a per-socket queue bounded by
 * udp_queue; a datagram arriving at a full queue is dropped and counted, as the kernel does
 * when a socket's receive buffer is full. Everything here runs under the stack lock.
 */
#include "sock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lwip/igmp.h>
#include <lwip/ip.h>
#include <lwip/pbuf.h>
#include <lwip/udp.h>

#include "addr.h"
#include "cfg.h"
#include "errmap.h"
#include "port.h"
#include "shimapi.h"
#include "sockopt.h"
#include "stack.h"

#define UDP_MAX_PAYLOAD 65507
/* IPv6 allows 65527 (its length field leaves the IPv6 header out), but lwIP builds a packet
 * in one pbuf chain whose length is 16 bits, IPv6 header included: beyond this it failed
 * with ENOBUFS, as if it might succeed later. */
#define UDP6_MAX_PAYLOAD (0xffff - 40 - 8)

/* lwIP's receive callback: arg is the socket (udp_recv in nc__udp_open and disconnect; the
 * pcb goes before the socket, in nc__udp_close). */
static void on_recv(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                    u16_t port)
{
    struct nc_sock *s = arg;
    struct netcore_stack *st = s->st;
    (void)pcb;
    struct nc_dgram *d = malloc(sizeof(*d) + p->tot_len);
    if (d == NULL) {
        st->stats.udp_dropped++;
        s->udp.drops++;
        pbuf_free(p);
        return;
    }
    d->next = NULL;
    d->len = pbuf_copy_partial(p, d->data, p->tot_len, 0);
    nc__addr_make(st, s->family, addr, port, &d->from);
    pbuf_free(p);
    nc__mutex_lock(&s->udp.dq_mu);
    /* Bounded in datagrams and in bytes (the receive buffer size), like SO_RCVBUF. */
    if (atomic_load(&s->udp.dq_count) >= st->cfg.udp_queue ||
        s->udp.dq_bytes + d->len > st->cfg.rcvbuf) {
        nc__mutex_unlock(&s->udp.dq_mu);
        st->stats.udp_dropped++;
        s->udp.drops++;
        free(d);
        return;
    }
    *s->udp.dq_tail = d;
    s->udp.dq_tail = &d->next;
    s->udp.dq_bytes += d->len;
    atomic_fetch_add(&s->udp.dq_count, 1);
    nc__mutex_unlock(&s->udp.dq_mu);
    nc__sock_notify(s);
}

/* Gives s a new pcb, unbound, with the socket's options: socket(), and a disconnect that
 * gives a port back. The pcb it had, if any, is the caller's to remove. */
static int new_pcb(struct nc_sock *s)
{
    /* udp_bind gives a dual-stack pcb the bound address's type. */
    struct udp_pcb *pcb = udp_new_ip_type(nc__addr_pcb_type(s));
    if (pcb == NULL)
        return -ENOMEM;
    udp_recv(pcb, on_recv, s);
    s->pcb.udp = pcb;
    nc__udp_apply_ip(s);
    return 0;
}

int nc__udp_open(struct netcore_stack *st, struct nc_sock *s)
{
    (void)st;
    return new_pcb(s);
}

/* The limited broadcast address, or our IPv4 subnet's. */
static bool broadcast(const struct netcore_stack *st, const ip_addr_t *ip)
{
    return IP_IS_V4_VAL(*ip) && nc__cfg_broadcast(&st->cfg, ip_2_ip4(ip)->addr);
}

/* nc__port_bind's bind for UDP: lwIP's udp_bind checks the port's other users itself. */
static err_t bind_one(void *pcb, const ip_addr_t *ip, u16_t port)
{
    return udp_bind(pcb, ip, port);
}

/* Binds an unbound socket before lwIP would pick a port itself: 0 or -errno (port.c). */
static int autobind(struct netcore_stack *st, struct nc_sock *s)
{
    if (s->pcb.udp->local_port != 0)
        return 0;
    return nc__port_bind(st, s->pcb.udp, nc__addr_any(s), 0, bind_one);
}

static void update_local(struct netcore_stack *st, struct nc_sock *s)
{
    nc__addr_make(st, s->family, &s->pcb.udp->local_ip, s->pcb.udp->local_port, &s->local);
}

int nc__udp_bind(struct netcore_stack *st, struct nc_sock *s, const union nc_sockaddr *a)
{
    if (s->pcb.udp->local_port != 0)
        return -EINVAL;
    return nc__port_bind_sock(st, s, a, bind_one);
}

/*
 * connect(AF_UNSPEC): no peer any more, and as in the kernel's udp_disconnect, a port the
 * program did not choose goes back (lwIP cannot unbind a pcb: the socket gets a new one;
 * queued datagrams stay).
 */
static int disconnect(struct netcore_stack *st, struct nc_sock *s)
{
    udp_disconnect(s->pcb.udp);
    nc__addr_make(st, s->family, NULL, 0, &s->peer);
    ip_addr_t ip;
    u16_t port = s->bound_user ? nc__addr_ip(st, s, &s->bound, &ip) : 0;
    if (port == 0) {
        struct udp_pcb *old = s->pcb.udp;
        int rc = new_pcb(s);
        if (rc != 0)
            return rc;
        udp_remove(old);
        nc__addr_make(st, s->family, s->bound_user ? &ip : NULL, 0, &s->local);
    } else {
        update_local(st, s); /* connect showed the route's source address */
    }
    atomic_store(&s->state, s->pcb.udp->local_port ? NC_ST_BOUND : NC_ST_NEW);
    return 0;
}

/* a == NULL (AF_UNSPEC) dissolves the association, like connect(AF_UNSPEC) on Linux. */
int nc__udp_connect(struct netcore_stack *st, struct nc_sock *s, const union nc_sockaddr *a)
{
    if (a == NULL)
        return disconnect(st, s);
    ip_addr_t ip;
    u16_t port = nc__addr_ip(st, s, a, &ip);
    int rc = nc__addr_reach(s, &s->pcb.udp->local_ip, &ip);
    if (rc != 0)
        return rc;
    if (broadcast(st, &ip) && !s->opt.broadcast)
        return -EACCES; /* broadcasts only with SO_BROADCAST */
    /* No free port: EAGAIN, as the kernel's inet_autobind says. */
    rc = autobind(st, s);
    if (rc != 0)
        return rc == -EADDRINUSE ? -EAGAIN : rc;
    err_t e = udp_connect(s->pcb.udp, &ip, port);
    if (e != ERR_OK)
        return -nc__err_to_errno(e);
    nc__addr_make(st, s->family, &ip, port, &s->peer);
    update_local(st, s);
    if (ip_addr_isany(&s->pcb.udp->local_ip) && IP_IS_V4_VAL(ip)) {
        ip_addr_t src; /* the source the route picks, as the kernel shows */
        ip_addr_set_ip4_u32_val(src, st->cfg.ip.s_addr);
        nc__addr_make(st, s->family, &src, s->pcb.udp->local_port, &s->local);
    }
    atomic_store(&s->state, NC_ST_CONNECTED);
    return 0;
}

ssize_t nc__udp_sendto(struct netcore_stack *st, struct nc_sock *s, const void *buf,
                       size_t len, const union nc_sockaddr *to)
{
    if (to == NULL && atomic_load(&s->state) != NC_ST_CONNECTED)
        return -EDESTADDRREQ;
    ip_addr_t ip;
    u16_t port = 0;
    if (to != NULL) {
        port = nc__addr_ip(st, s, to, &ip);
        int rc = nc__addr_reach(s, &s->pcb.udp->local_ip, &ip);
        if (rc != 0)
            return rc;
    }
    if (broadcast(st, to != NULL ? &ip : &s->pcb.udp->remote_ip) && !s->opt.broadcast)
        return -EACCES; /* broadcasts only with SO_BROADCAST */
    const ip_addr_t *dst = to != NULL ? &ip : &s->pcb.udp->remote_ip;
    if (len > (IP_IS_V6(dst) ? UDP6_MAX_PAYLOAD : UDP_MAX_PAYLOAD))
        return -EMSGSIZE;
    int pending = atomic_exchange(&s->so_error, 0);
    if (pending != 0)
        return -pending; /* what ICMP reported fails this send, once, as in the kernel */
    if (atomic_load(&s->wr_shut))
        return -EPIPE; /* after SHUT_WR; no SIGPIPE for a datagram socket */
    if (buf == NULL && len > 0)
        return -EFAULT;
    if (st->dev_down)
        return -ENETDOWN;
    if (autobind(st, s) != 0)
        return -EAGAIN; /* no free ephemeral port, as the kernel says */
    struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)len, PBUF_RAM);
    if (p == NULL)
        return -ENOBUFS;
    if (len > 0)
        memcpy(p->payload, buf, len);
    err_t e;
    if (to != NULL) {
        e = udp_sendto(s->pcb.udp, p, &ip, port);
    } else {
        e = udp_send(s->pcb.udp, p);
    }
    pbuf_free(p);
    if (s->pcb.udp->local_port != 0 && atomic_load(&s->state) == NC_ST_NEW) {
        update_local(st, s);
        atomic_store(&s->state, NC_ST_BOUND);
    }
    if (e == ERR_RTE)
        return -ENETUNREACH;
    if (e != ERR_OK)
        return -nc__err_to_errno(e);
    return (ssize_t)len;
}

ssize_t nc__udp_recvfrom(struct netcore_stack *st, struct nc_sock *s, void *buf, size_t len,
                         int flags, union nc_sockaddr *from)
{
    (void)st;
    nc__mutex_lock(&s->udp.dq_mu);
    struct nc_dgram *d = s->udp.dq_head;
    if (d == NULL) {
        nc__mutex_unlock(&s->udp.dq_mu);
        return -EAGAIN;
    }
    size_t n = d->len < len ? d->len : len;
    bool fault = buf == NULL && n > 0; /* the kernel drops the datagram it cannot copy */
    if (!fault && n > 0)
        memcpy(buf, d->data, n); /* buf may be NULL when n is 0 (UBSan) */
    if (from != NULL)
        *from = d->from;
    size_t full = d->len;
    if (!(flags & MSG_PEEK)) {
        s->udp.dq_head = d->next;
        if (s->udp.dq_head == NULL)
            s->udp.dq_tail = &s->udp.dq_head;
        s->udp.dq_bytes -= d->len;
        atomic_fetch_sub(&s->udp.dq_count, 1);
    } else {
        d = NULL;
    }
    nc__mutex_unlock(&s->udp.dq_mu);
    free(d);
    if (fault)
        return -EFAULT;
    return (ssize_t)((flags & MSG_TRUNC) ? full : n);
}

void nc__udp_apply_ip(struct nc_sock *s)
{
    struct udp_pcb *pcb = s->pcb.udp;
    if (pcb == NULL)
        return;
    pcb->ttl = (u8_t)(s->opt.ttl < 0 ? NC_DEFAULT_TTL : s->opt.ttl);
    pcb->tos = (u8_t)s->opt.tos;
    udp_set_multicast_ttl(pcb, (u8_t)s->opt.mc_ttl);
    if (s->opt.mc_loop)
        udp_set_flags(pcb, UDP_FLAGS_MULTICAST_LOOP);
    else
        udp_clear_flags(pcb, UDP_FLAGS_MULTICAST_LOOP);
}

/*
 * Group membership as the kernel's __ip_mc_join_group and ip_mc_leave_group decide it; lwIP's
 * IGMP counts the sockets in each group of the netif. The interface is ours when named by
 * our address, by INADDR_ANY (our default route) or by any index (we have one).
 */
int nc__udp_membership(struct netcore_stack *st, struct nc_sock *s, struct in_addr group,
                       struct in_addr iface, int ifindex, bool join)
{
    bool ours = ifindex != 0 || iface.s_addr == htonl(INADDR_ANY) ||
                iface.s_addr == st->cfg.ip.s_addr;
    int i;
    for (i = 0; i < s->udp.ngroups; i++)
        if (s->udp.groups[i].group.s_addr == group.s_addr &&
            (ifindex != 0 || iface.s_addr == htonl(INADDR_ANY) ||
             s->udp.groups[i].iface.s_addr == iface.s_addr))
            break;
    ip4_addr_t g = { group.s_addr };
    if (join) {
        if (!IN_MULTICAST(ntohl(group.s_addr)))
            return -EINVAL;
        if (!ours)
            return -ENODEV;
        if (i < s->udp.ngroups)
            return -EADDRINUSE;
        if (s->udp.ngroups == NC_MAX_GROUPS)
            return -ENOBUFS;
        if (s->udp.groups == NULL &&
            (s->udp.groups = calloc(NC_MAX_GROUPS, sizeof(*s->udp.groups))) == NULL)
            return -ENOBUFS; /* the kernel's answer when its membership list gets no memory */
        err_t e = igmp_joingroup_netif(st->netif, &g);
        if (e != ERR_OK)
            return -nc__err_to_errno(e);
        s->udp.groups[s->udp.ngroups].group = group;
        s->udp.groups[s->udp.ngroups].iface = iface;
        s->udp.ngroups++;
        return 0;
    }
    if (i == s->udp.ngroups)
        return -EADDRNOTAVAIL;
    igmp_leavegroup_netif(st->netif, &g);
    s->udp.groups[i] = s->udp.groups[--s->udp.ngroups];
    return 0;
}

void nc__udp_close(struct netcore_stack *st, struct nc_sock *s)
{
    while (s->udp.ngroups > 0) {
        ip4_addr_t g = { s->udp.groups[--s->udp.ngroups].group.s_addr };
        igmp_leavegroup_netif(st->netif, &g);
    }
    if (s->pcb.udp != NULL)
        udp_remove(s->pcb.udp);
    s->pcb.udp = NULL;
    nc__sock_free(st, s);
}

bool nc__udp_unbound(const struct nc_sock *s)
{
    return s->pcb.udp != NULL && s->pcb.udp->local_port == 0;
}
