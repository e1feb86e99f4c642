/*
 * UDP over lwIP's raw API. Received datagrams wait in a per-socket queue bounded by
 * udp_queue; a datagram arriving at a full queue is dropped and counted, as the kernel does
 * when a socket's receive buffer is full. Everything here runs under the stack lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lwip/ip.h>
#include <lwip/pbuf.h>
#include <lwip/udp.h>

#include "internal.h"

#define UDP_MAX_PAYLOAD 65507

static void on_recv(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                    u16_t port)
{
    struct nc_sock *s = arg;
    struct netcore_stack *st = nc__stack;
    (void)pcb;
    struct nc_dgram *d = s != NULL ? malloc(sizeof(*d) + p->tot_len) : NULL;
    if (d == NULL) {
        st->stats.udp_dropped++;
        if (s != NULL)
            s->drops++;
        pbuf_free(p);
        return;
    }
    d->next = NULL;
    d->len = pbuf_copy_partial(p, d->data, p->tot_len, 0);
    nc__addr_make(st, s->family, addr, port, &d->from);
    pbuf_free(p);
    pthread_mutex_lock(&s->dq_mu);
    /* Bounded in datagrams and in bytes (the receive buffer size), like SO_RCVBUF. */
    if (atomic_load(&s->dq_count) >= st->cfg.udp_queue ||
        s->dq_bytes + d->len > st->cfg.rcvbuf) {
        pthread_mutex_unlock(&s->dq_mu);
        st->stats.udp_dropped++;
        s->drops++;
        free(d);
        return;
    }
    *s->dq_tail = d;
    s->dq_tail = &d->next;
    s->dq_bytes += d->len;
    atomic_fetch_add(&s->dq_count, 1);
    pthread_mutex_unlock(&s->dq_mu);
    nc__sock_notify(s);
}

int nc__udp_open(struct netcore_stack *st, struct nc_sock *s)
{
    (void)st;
    /* An AF_INET6 pcb is dual-stack until bound; udp_bind takes the bound address's type. */
    struct udp_pcb *pcb = udp_new_ip_type(s->family == AF_INET ? IPADDR_TYPE_V4
                                                               : IPADDR_TYPE_ANY);
    if (pcb == NULL)
        return -ENOMEM;
    udp_recv(pcb, on_recv, s);
    s->pcb.udp = pcb;
    return 0;
}

/* Port 0 means a random free ephemeral port (iss.c), not lwIP's rand()-driven choice. */
static err_t bind_port(struct udp_pcb *pcb, const ip_addr_t *ip, u16_t port)
{
    if (port != 0)
        return udp_bind(pcb, ip, port);
    for (int i = 0; i < 64; i++) {
        err_t e = udp_bind(pcb, ip, nc__random_port());
        if (e != ERR_USE)
            return e;
    }
    return udp_bind(pcb, ip, 0);
}

/* Binds an unbound socket before lwIP would pick a port itself. */
static err_t autobind(struct nc_sock *s)
{
    return s->pcb.udp->local_port != 0 ? ERR_OK : bind_port(s->pcb.udp, nc__addr_any(s), 0);
}

static void update_local(struct netcore_stack *st, struct nc_sock *s)
{
    nc__addr_make(st, s->family, &s->pcb.udp->local_ip, s->pcb.udp->local_port, &s->local);
}

int nc__udp_bind(struct netcore_stack *st, struct nc_sock *s, const union nc_sockaddr *a)
{
    if (s->pcb.udp->local_port != 0)
        return -EINVAL;
    if (s->reuseaddr)
        ip_set_option(s->pcb.udp, SOF_REUSEADDR);
    ip_addr_t ip;
    u16_t port = nc__addr_ip(st, s, a, &ip);
    err_t e = bind_port(s->pcb.udp, &ip, port);
    if (e != ERR_OK)
        return -nc__err_to_errno(e);
    update_local(st, s);
    atomic_store(&s->state, NC_ST_BOUND);
    return 0;
}

/* a == NULL (AF_UNSPEC) dissolves the association, like connect(AF_UNSPEC) on Linux. */
int nc__udp_connect(struct netcore_stack *st, struct nc_sock *s, const union nc_sockaddr *a)
{
    if (a == NULL) {
        udp_disconnect(s->pcb.udp);
        nc__addr_make(st, s->family, NULL, 0, &s->peer);
        atomic_store(&s->state, s->pcb.udp->local_port ? NC_ST_BOUND : NC_ST_NEW);
        return 0;
    }
    ip_addr_t ip;
    u16_t port = nc__addr_ip(st, s, a, &ip);
    int rc = nc__addr_reach(s, &s->pcb.udp->local_ip, &ip);
    if (rc != 0)
        return rc;
    err_t e = autobind(s);
    if (e == ERR_OK)
        e = udp_connect(s->pcb.udp, &ip, port);
    if (e != ERR_OK)
        return -nc__err_to_errno(e);
    nc__addr_make(st, s->family, &ip, port, &s->peer);
    update_local(st, s);
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
    if (len > UDP_MAX_PAYLOAD)
        return -EMSGSIZE;
    if (st->dev_down)
        return -ENETDOWN;
    if (autobind(s) != ERR_OK)
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
    pthread_mutex_lock(&s->dq_mu);
    struct nc_dgram *d = s->dq_head;
    if (d == NULL) {
        pthread_mutex_unlock(&s->dq_mu);
        return -EAGAIN;
    }
    size_t n = d->len < len ? d->len : len;
    if (n > 0)
        memcpy(buf, d->data, n); /* buf may be NULL when len is 0 */
    if (from != NULL)
        *from = d->from;
    size_t full = d->len;
    if (!(flags & MSG_PEEK)) {
        s->dq_head = d->next;
        if (s->dq_head == NULL)
            s->dq_tail = &s->dq_head;
        s->dq_bytes -= d->len;
        atomic_fetch_sub(&s->dq_count, 1);
    } else {
        d = NULL;
    }
    pthread_mutex_unlock(&s->dq_mu);
    free(d);
    return (ssize_t)((flags & MSG_TRUNC) ? full : n);
}

void nc__udp_close(struct netcore_stack *st, struct nc_sock *s)
{
    if (s->pcb.udp != NULL)
        udp_remove(s->pcb.udp);
    s->pcb.udp = NULL;
    nc__sock_free(st, s);
}

bool nc__udp_unbound(const struct nc_sock *s)
{
    return s->pcb.udp != NULL && s->pcb.udp->local_port == 0;
}
