/*
 * TCP over lwIP's raw API.
 *
 * Data moves through two rings per connection so the program never waits for the netstack
 * on the data path: send() copies into tx and kicks the netstack only when it had gone idle
 * (tx_idle); the netstack drains tx into tcp_write as lwIP's send buffer allows. Received
 * pbufs are copied into rx and acknowledged to the peer with tcp_recved as they land there;
 * what does not fit stays in rx_pending, unacknowledged, so the advertised window closes and
 * a slow reader stalls the sender. recv() kicks the netstack only when it is holding data
 * (rx_full). Every lwIP call here runs under the stack lock.
 */
#include "sock.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>

#include <lwip/ip.h>
#include <lwip/tcp.h>
#include <lwip/priv/tcp_priv.h>

#include "ackpol.h"
#include "addr.h"
#include "cfg.h"
#include "errmap.h"
#include "netcore.h"
#include "offload.h"
#include "port.h"
#include "relay.h"
#include "ring.h"
#include "rto.h"
#include "shimapi.h"
#include "sockopt.h"
#include "stack.h"

static void on_err(void *arg, err_t err);
static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err);
static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len);
static err_t on_poll(void *arg, struct tcp_pcb *pcb);

static void attach(struct nc_sock *s, struct tcp_pcb *pcb)
{
    s->pcb.tcp = pcb;
    tcp_arg(pcb, s);
    tcp_err(pcb, on_err);
    tcp_recv(pcb, on_recv);
    tcp_sent(pcb, on_sent);
    /* Every slow tick (500 ms), as lwIP's own poll of a pcb without one: its tcp_output
     * after each poll keeps its pace. */
    tcp_poll(pcb, on_poll, 1);
}

/* Cuts the socket loose from its pcb, so lwIP never calls back into freed memory. */
static struct tcp_pcb *detach(struct nc_sock *s)
{
    struct tcp_pcb *pcb = s->pcb.tcp;
    if (pcb != NULL) {
        tcp_arg(pcb, NULL);
        if (pcb->state != LISTEN) {
            tcp_err(pcb, NULL);
            tcp_recv(pcb, NULL);
            tcp_sent(pcb, NULL);
            tcp_poll(pcb, NULL, 0);
        } else {
            tcp_accept(pcb, NULL);
        }
    }
    s->pcb.tcp = NULL;
    return pcb;
}

static void addr_from(struct nc_sock *s, union nc_sockaddr *sa, const ip_addr_t *ip,
                      u16_t port)
{
    nc__addr_make(s->st, s->family, ip, port, sa);
}

/* Sizes the rings; their memory comes with the first byte either way (ring.c). */
static int alloc_rings(struct netcore_stack *st, struct nc_sock *s)
{
    if (s->tx.cap != 0)
        return 0;
    int err = nc__ring_init(&s->tx, st->cfg.sndbuf);
    if (err == 0)
        err = nc__ring_init(&s->rx, st->cfg.rcvbuf);
    if (err != 0) {
        nc__ring_free(&s->tx);
        return err;
    }
    atomic_store(&s->tx_idle, true);
    return 0;
}

/*
 * Debian's lwIP has a 64 KiB - 1 send buffer (TCP_SND_BUF), so a 64 KiB write leaves one
 * byte behind until an ACK frees room, and Nagle then holds that byte for the peer's
 * delayed ACK. snd_buf is 32 bits with window scaling and lwIP only adds acknowledged bytes
 * back to it, so a connection can start with more. It bounds the flight: at 256 KiB a 10 ms
 * round trip capped a sender at ~25 MB/s, below the kernel's (whose send buffer grows to
 * 4 MiB), and a hole left by a loss holds the buffer's head for a round trip more. 1 MiB:
 * bench/loss.sh, 4 MiB at 10 ms RTT, 1% loss 0.49 -> 0.43 s, 5% 0.70 -> 0.46 s.
 */
#define SND_BUF (16u * 65536)

static void apply_options(struct nc_sock *s)
{
    if (s->pcb.tcp != NULL && s->pcb.tcp->state != LISTEN && s->pcb.tcp->snd_buf < SND_BUF)
        s->pcb.tcp->snd_buf = SND_BUF;
    if (s->opt.nodelay)
        nc__tcp_set_nodelay(s);
    nc__tcp_set_keepalive(s);
    nc__tcp_apply_ip(s);
}

int nc__tcp_open(struct netcore_stack *st, struct nc_sock *s)
{
    (void)st;
    /* An AF_INET6 pcb starts dual-stack; bind() or the autobind before connect and listen
     * narrows it (nc__addr_any: "::" when IPV6_V6ONLY). */
    struct tcp_pcb *pcb = tcp_new_ip_type(s->family == AF_INET ? IPADDR_TYPE_V4
                                                               : IPADDR_TYPE_ANY);
    if (pcb == NULL)
        return -ENOMEM;
    attach(s, pcb);
    nc__tcp_apply_ip(s);
    return 0;
}

/* The families a local address takes connections for: a dual-stack wildcard both. */
static unsigned sides(const ip_addr_t *a)
{
    return IP_IS_ANY_TYPE_VAL(*a) ? 3u : IP_IS_V6_VAL(*a) ? 2u : 1u;
}

/*
 * The kernel's rule for a port in use (inet_csk_bind_conflict): sockets share a port when
 * their addresses differ and neither is a wildcard of the other's family, or when both set
 * SO_REUSEADDR and the one there is not listening; a TIME-WAIT entry counts with the options
 * of its socket. lwIP compares only pcbs on the same side of "IPv6 or not" (a dual-stack
 * wildcard, IPADDR_TYPE_ANY, is on the IPv4 side but covers IPv6 too), lets SO_REUSEADDR
 * sockets share a port with a listener and skips TIME-WAIT for them.
 */
static bool port_taken(const struct tcp_pcb *pcb, const ip_addr_t *ip, u16_t port)
{
    bool reuse = ip_get_option(pcb, SOF_REUSEADDR);
    for (int i = 0; i < NUM_TCP_PCB_LISTS; i++) {
        for (const struct tcp_pcb *p = *tcp_pcb_lists[i]; p != NULL; p = p->next) {
            if (p == pcb || p->local_port != port || !(sides(&p->local_ip) & sides(ip)))
                continue;
            if (!ip_addr_isany(&p->local_ip) && !ip_addr_isany(ip) &&
                !ip_addr_cmp(&p->local_ip, ip))
                continue;
            if (reuse && ip_get_option(p, SOF_REUSEADDR) && p->state != LISTEN)
                continue;
            return true;
        }
    }
    return false;
}

/* nc__port_bind's bind for TCP: the kernel's conflict rule in front of lwIP's tcp_bind. */
static err_t bind_one(void *pcb, const ip_addr_t *ip, u16_t port)
{
    return port_taken(pcb, ip, port) ? ERR_USE : tcp_bind(pcb, ip, port);
}

int nc__tcp_bind(struct netcore_stack *st, struct nc_sock *s, const union nc_sockaddr *a)
{
    if (atomic_load(&s->state) != NC_ST_NEW || s->pcb.tcp == NULL)
        return -EINVAL;
    if (s->opt.reuseaddr)
        ip_set_option(s->pcb.tcp, SOF_REUSEADDR);
    ip_addr_t ip;
    u16_t port = nc__addr_ip(st, s, a, &ip);
    int rc = nc__port_bind(st, s->pcb.tcp, &ip, port, bind_one);
    if (rc != 0)
        return rc;
    addr_from(s, &s->local, &s->pcb.tcp->local_ip, s->pcb.tcp->local_port);
    s->bound = *a;
    s->bound_user = true;
    atomic_store(&s->state, NC_ST_BOUND);
    return 0;
}

static err_t on_accept(void *arg, struct tcp_pcb *npcb, err_t err)
{
    struct nc_sock *ls = arg;
    if (ls == NULL || err != ERR_OK || npcb == NULL)
        return ERR_VAL;
    struct netcore_stack *st = ls->st;
    struct nc_sock *s;
    if (atomic_load(&ls->aq_count) >= ls->aq_cap ||
        nc__sock_alloc(st, ls->family, SOCK_STREAM, &s) != 0) {
        /* A full accept queue refuses the connection rather than queueing without bound. */
        st->stats.accept_overflows++;
        tcp_abort(npcb);
        return ERR_ABRT;
    }
    if (alloc_rings(st, s) != 0) {
        nc__sock_free(st, s);
        st->stats.accept_overflows++;
        tcp_abort(npcb);
        return ERR_ABRT;
    }
    attach(s, npcb);
    s->v6only = ls->v6only;
    s->opt = ls->opt;
    apply_options(s);
    addr_from(s, &s->local, &npcb->local_ip, npcb->local_port);
    addr_from(s, &s->peer, &npcb->remote_ip, npcb->remote_port);
    s->connect_reported = true;
    atomic_store(&s->state, NC_ST_CONNECTED);
    atomic_store(&s->in_aq, true);
    ls->aq[(ls->aq_head + atomic_load(&ls->aq_count)) % ls->aq_cap] = s->id;
    atomic_fetch_add(&ls->aq_count, 1);
    nc__sock_notify(ls);
    return ERR_OK;
}

int nc__tcp_listen(struct netcore_stack *st, struct nc_sock *s, int backlog)
{
    int state = atomic_load(&s->state);
    /* As the kernel with somaxconn: a negative or too large backlog is the cap, and the queue
     * is full only beyond backlog, so listen(fd, 0) still takes one connection. */
    if (backlog < 0 || backlog > st->cfg.backlog)
        backlog = st->cfg.backlog;
    backlog++;
    if (state == NC_ST_LISTEN)
        return 0; /* the kernel only adjusts the backlog; ours stays as first set */
    if (state != NC_ST_NEW && state != NC_ST_BOUND)
        return -EINVAL;
    if (state == NC_ST_NEW) {
        union nc_sockaddr any;
        nc__addr_make(st, s->family, NULL, 0, &any); /* the wildcard, port 0 */
        int err = nc__tcp_bind(st, s, &any);
        if (err != 0)
            return err;
    }
    s->aq = calloc((size_t)backlog, sizeof(*s->aq));
    if (s->aq == NULL)
        return -ENOMEM;
    s->aq_cap = backlog;
    err_t e = ERR_OK;
    struct tcp_pcb *lpcb = tcp_listen_with_backlog_and_err(s->pcb.tcp, 255, &e);
    if (lpcb == NULL) {
        free(s->aq);
        s->aq = NULL;
        return -nc__err_to_errno(e);
    }
    s->pcb.tcp = lpcb;
    tcp_arg(lpcb, s);
    tcp_accept(lpcb, on_accept);
    atomic_store(&s->state, NC_ST_LISTEN);
    if (nc__log_on(NETCORE_LOG_INFO)) {
        /* For operators, and for tests waiting on a server that prints nothing itself. */
        char a[IPADDR_STRLEN_MAX + 8];
        nc__addr_str(a, sizeof(a), &lpcb->local_ip, lpcb->local_port);
        nc__log(NETCORE_LOG_INFO, "listening on %s", a);
    }
    return 0;
}

int nc__tcp_accept(struct netcore_stack *st, struct nc_sock *s, int *newid)
{
    if (atomic_load(&s->state) != NC_ST_LISTEN)
        return -EINVAL;
    if (atomic_load(&s->aq_count) == 0)
        return -EAGAIN;
    *newid = s->aq[s->aq_head];
    atomic_store(&st->socks[*newid]->in_aq, false);
    s->aq_head = (s->aq_head + 1) % s->aq_cap;
    atomic_fetch_sub(&s->aq_count, 1);
    if (s->relay != NULL)
        nc__relay_notify(s); /* a relayed listener's token for the next one */
    return 0;
}

/* Resets a listener's queue: connections lwIP accepted but the program never took. */
static void drop_backlog(struct netcore_stack *st, struct nc_sock *s)
{
    while (atomic_load(&s->aq_count) > 0) {
        int id;
        nc__tcp_accept(st, s, &id);
        struct nc_sock *c = st->socks[id];
        struct tcp_pcb *pcb = detach(c);
        if (pcb != NULL)
            tcp_abort(pcb);
        nc__sock_free(st, c);
    }
}

/*
 * Makes s an unconnected socket again, as the kernel's tcp_disconnect does after a failed
 * connect, on connect(AF_UNSPEC) and on shutdown of a listener or of a connect in progress:
 * a connection is reset (SO_ERROR then says ECONNRESET), a listener stops, the queues are
 * emptied, and only an address and port the program chose stay bound. getsockname goes on
 * showing the old port, as the kernel's does. (A thread reading the socket at that moment
 * races with the emptying of rx, as the program itself asked for.)
 */
static void reopen(struct netcore_stack *st, struct nc_sock *s)
{
    int state = atomic_load(&s->state);
    struct tcp_pcb *old = detach(s);
    if (state == NC_ST_LISTEN) {
        drop_backlog(st, s);
        free(s->aq);
        s->aq = NULL;
        s->aq_cap = s->aq_head = 0;
        if (old != NULL)
            tcp_close(old);
    } else if (old != NULL) {
        tcp_abort(old);
    }
    nc__tcp_rx_drop(s);
    nc__ring_consume(&s->rx, nc__ring_used(&s->rx));
    nc__ring_consume(&s->tx, nc__ring_used(&s->tx));
    /* An unconnected socket has no poll to give its rings' memory back: now, unless a
     * thread is in a call on the ring (then at the next connection's first idle tick). */
    if (nc__mutex_trylock(&s->rx_mu)) {
        nc__ring_release(&s->rx);
        nc__mutex_unlock(&s->rx_mu);
    }
    if (nc__mutex_trylock(&s->tx_mu)) {
        nc__ring_release(&s->tx);
        nc__mutex_unlock(&s->tx_mu);
    }
    atomic_store(&s->tx_idle, true);
    atomic_store(&s->rx_full, false);
    atomic_store(&s->rx_eof, false);
    atomic_store(&s->rd_shut, false);
    atomic_store(&s->wr_shut, false);
    atomic_store(&s->fin_sent, false);
    bool reset = state == NC_ST_CONNECTED || state == NC_ST_CONNECTING;
    atomic_store(&s->so_error, reset ? ECONNRESET : 0);
    atomic_store(&s->conn_error, 0);
    s->fin_pending = false;
    s->rx_quick = 0;
    s->icmp_error = 0;
    s->connect_reported = false;
    addr_from(s, &s->peer, NULL, 0);
    ip_addr_t ip;
    u16_t port = s->bound_user ? nc__addr_ip(st, s, &s->bound, &ip) : 0;
    addr_from(s, &s->local, s->bound_user ? &ip : NULL, ntohs(s->local.in.sin_port));
    atomic_store(&s->state, NC_ST_NEW);
    struct tcp_pcb *pcb = tcp_new_ip_type(s->family == AF_INET ? IPADDR_TYPE_V4
                                                               : IPADDR_TYPE_ANY);
    if (pcb == NULL) {
        atomic_store(&s->state, NC_ST_CLOSED); /* out of memory: it can only be closed */
    } else {
        attach(s, pcb);
        if (s->opt.reuseaddr)
            ip_set_option(pcb, SOF_REUSEADDR);
        nc__tcp_apply_ip(s);
        if (port != 0 && nc__port_bind(st, pcb, &ip, port, bind_one) == 0) {
            addr_from(s, &s->local, &pcb->local_ip, pcb->local_port);
            atomic_store(&s->state, NC_ST_BOUND);
        }
    }
    nc__sock_notify(s); /* a blocked accept or recv sees the socket is no longer there */
}

int nc__tcp_disconnect(struct netcore_stack *st, struct nc_sock *s)
{
    int state = atomic_load(&s->state);
    if (state != NC_ST_NEW && state != NC_ST_BOUND)
        reopen(st, s);
    return 0;
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
    struct nc_sock *s = arg;
    (void)pcb;
    if (s == NULL || err != ERR_OK)
        return ERR_OK;
    addr_from(s, &s->local, &pcb->local_ip, pcb->local_port);
    atomic_store(&s->state, NC_ST_CONNECTED);
    apply_options(s);
    nc__tcp_flush(s->st, s);
    nc__sock_notify(s);
    return ERR_OK;
}

int nc__tcp_connect(struct netcore_stack *st, struct nc_sock *s, const union nc_sockaddr *a,
                    int bad)
{
    switch (atomic_load(&s->state)) {
    case NC_ST_CONNECTING:
        return -EALREADY;
    case NC_ST_CONNECTED:
        if (!s->connect_reported) {
            s->connect_reported = true;
            return 0;
        }
        return -EISCONN;
    case NC_ST_LISTEN:
        return -EISCONN;
    case NC_ST_CLOSED: {
        if (s->connect_reported)
            return -EISCONN; /* it was connected; that it ended since changes nothing */
        /* The connect failed (or the connection ended before connect said it was up):
         * report why once, ECONNABORTED when SO_ERROR took it; the socket is then
         * unconnected, and a next connect starts over, as in the kernel. */
        int e = atomic_exchange(&s->so_error, 0);
        reopen(st, s);
        return e != 0 ? -e : -ECONNABORTED;
    }
    default:
        break;
    }
    if (a == NULL)
        return bad;
    if (s->pcb.tcp == NULL)
        return -EINVAL;
    if (st->dev_down)
        return -ENETDOWN;
    ip_addr_t ip;
    u16_t port = nc__addr_ip(st, s, a, &ip);
    if (IP_IS_V4_VAL(ip) && (ip4_addr_ismulticast(ip_2_ip4(&ip)) ||
                             nc__cfg_broadcast(&st->cfg, ip_2_ip4(&ip)->addr)))
        return -ENETUNREACH; /* TCP has no broadcast route */
    int err = nc__addr_reach(s, &s->pcb.tcp->local_ip, &ip);
    if (err != 0)
        return err;
    err = alloc_rings(st, s);
    if (err != 0)
        return err;
    addr_from(s, &s->peer, &ip, port);
    if (s->pcb.tcp->local_port == 0) {
        /* No free port: the kernel's connect says EADDRNOTAVAIL (its bind EADDRINUSE). */
        err = nc__port_bind(st, s->pcb.tcp, nc__addr_any(s), 0, bind_one);
        if (err != 0)
            return err == -EADDRINUSE ? -EADDRNOTAVAIL : err;
    }
    err_t e = tcp_connect(s->pcb.tcp, &ip, port, on_connected);
    if (e == ERR_RTE)
        return -ENETUNREACH;
    if (e != ERR_OK)
        return -nc__err_to_errno(e);
    addr_from(s, &s->local, &s->pcb.tcp->local_ip, s->pcb.tcp->local_port);
    s->connect_reported = false;
    atomic_store(&s->so_error, 0); /* what an earlier disconnect left is forgotten */
    atomic_store(&s->state, NC_ST_CONNECTING);
    return -EINPROGRESS;
}

static void on_err(void *arg, err_t err)
{
    struct nc_sock *s = arg;
    if (s == NULL)
        return;
    s->pcb.tcp = NULL; /* lwIP has freed it */
    int state = atomic_load(&s->state);
    int e;
    if (err == ERR_CLSD) {
        e = 0; /* both directions closed normally */
    } else if (s->icmp_error != 0) {
        e = s->icmp_error;
    } else if (state == NC_ST_CONNECTING) {
        e = err == ERR_RST ? ECONNREFUSED : ETIMEDOUT;
    } else if (err == ERR_RST && (atomic_load(&s->rx_eof) || s->fin_pending)) {
        e = EPIPE; /* reset after the peer's FIN: the kernel's tcp_reset says EPIPE */
    } else {
        e = err == ERR_RST ? ECONNRESET : err == ERR_ABRT ? ETIMEDOUT : nc__err_to_errno(err);
    }
    if (atomic_load(&s->app_closed)) {
        nc__sock_free(s->st, s);
        return;
    }
    if (e == 0) {
        /* Both directions ended normally: like a FIN, behind any data not yet in rx. */
        if (s->rx_pending != NULL)
            s->fin_pending = true;
        else
            atomic_store(&s->rx_eof, true);
        nc__sock_notify(s);
        return;
    }
    if (e != 0) {
        atomic_store(&s->so_error, e);
        atomic_store(&s->conn_error, e);
    }
    atomic_store(&s->state, NC_ST_CLOSED);
    nc__sock_notify(s);
}

/* Gives len bytes of receive window back to the peer (lwIP's tcp_recved takes 16 bits). */
static void recved(struct tcp_pcb *pcb, size_t len)
{
    for (size_t left = len; left > 0;) {
        u16_t k = left > 0xffff ? 0xffff : (u16_t)left;
        tcp_recved(pcb, k);
        left -= k;
    }
}

/*
 * Appends a received chain to rx_pending without allocating: the chains are linked one behind
 * the other through their last pbuf's next, and rx takes them a pbuf at a time (by len; a
 * chain's 16-bit tot_len still counts only its own pbufs). lwIP hands over single-reference
 * pbufs (one per frame, chained when out-of-order data joins), so unlinking one is safe.
 */
static void pend(struct nc_sock *s, struct pbuf *p)
{
    if (s->rx_pending == NULL)
        s->rx_pending = p;
    else
        s->rx_pend_last->next = p;
    while (p->next != NULL)
        p = p->next;
    s->rx_pend_last = p;
}

/* Takes the head pbuf off rx_pending and frees it. */
static void unpend_head(struct nc_sock *s)
{
    struct pbuf *p = s->rx_pending;
    s->rx_pending = p->next;
    p->next = NULL;
    pbuf_free(p);
}

void nc__tcp_rx_drop(struct nc_sock *s)
{
    while (s->rx_pending != NULL)
        unpend_head(s);
}

/* Copies pending received data into rx; acknowledges what landed there. */
static void rx_fill(struct nc_sock *s)
{
    /* No memory for the ring: the data waits in rx_pending and its window is not given
     * back (recved), so the peer stops at a closed window; on_poll tries again. */
    if (s->rx.buf == NULL && s->rx_pending != NULL &&
        nc__ring_alloc(&s->rx, nc__stack->cfg.ring_mem) != 0)
        return;
    for (;;) {
        size_t moved = 0;
        while (s->rx_pending != NULL && nc__ring_space(&s->rx) > 0) {
            struct pbuf *p = s->rx_pending;
            size_t n = nc__ring_write(&s->rx, p->payload, p->len);
            moved += n;
            if (n < p->len)
                pbuf_remove_header(p, n); /* rx is full: the rest waits */
            else
                unpend_head(s);
        }
        if (moved > 0) {
            if (s->pcb.tcp != NULL)
                recved(s->pcb.tcp, moved);
            nc__sock_notify(s);
        }
        if (s->rx_pending == NULL) {
            if (s->fin_pending) {
                s->fin_pending = false;
                atomic_store(&s->rx_eof, true);
                nc__sock_notify(s);
            }
            return;
        }
        /* Ask the reader to kick us when it frees space; re-check in case it just did. */
        atomic_store(&s->rx_full, true);
        atomic_thread_fence(memory_order_seq_cst);
        if (nc__ring_space(&s->rx) == 0 || !atomic_exchange(&s->rx_full, false))
            return;
    }
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    struct nc_sock *s = arg;
    (void)err;
    if (s == NULL) {
        /* Data for a socket the program closed: the kernel answers with a reset. */
        if (p != NULL) {
            pbuf_free(p);
            tcp_abort(pcb);
            return ERR_ABRT;
        }
        return ERR_OK;
    }
    if (p != NULL && atomic_load(&s->app_closed)) {
        /* The program closed this socket while it still had data to send. */
        pbuf_free(p);
        detach(s);
        tcp_abort(pcb);
        nc__sock_free(nc__stack, s);
        return ERR_ABRT;
    }
    if (p == NULL) {
        if (s->rx_pending != NULL)
            s->fin_pending = true;
        else
            atomic_store(&s->rx_eof, true);
        nc__sock_notify(s);
        return ERR_OK;
    }
    /* Against a kernel peer's Nagle, lwIP's own delayed ACK (every other segment, the rest
     * at its 250 ms timer) stalls request/response: ackpol.c decides instead. */
    nc__ack_recv(nc__stack, s, pcb, p);
    pend(s, p);
    rx_fill(s);
    return ERR_OK;
}

void nc__tcp_refill(struct netcore_stack *st, struct nc_sock *s)
{
    (void)st;
    if (s->rx_pending != NULL)
        rx_fill(s);
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
    struct nc_sock *s = arg;
    (void)pcb;
    (void)len;
    if (s != NULL)
        nc__tcp_flush(s->st, s);
    return ERR_OK;
}

/*
 * Every slow tick. A ring that stayed empty a whole tick gives its memory back, so an idle
 * connection holds none; a busy one keeps its buffers (a ring in use is never idle). The
 * program's side of the ring is kept out by its mutex meanwhile.
 * Also tries again what found no memory: pending received data, a relay's writes.
 */
static err_t on_poll(void *arg, struct tcp_pcb *pcb)
{
    struct nc_sock *s = arg;
    (void)pcb;
    if (s == NULL)
        return ERR_OK;
    /* The mutex first: a program thread allocates tx under tx_mu (its buf pointer is not
     * ours to read meanwhile). A busy mutex means a busy ring: not idle this tick. */
    if (nc__mutex_trylock(&s->rx_mu)) {
        if (nc__ring_idle(&s->rx))
            nc__ring_release(&s->rx);
        nc__mutex_unlock(&s->rx_mu);
    }
    if (nc__mutex_trylock(&s->tx_mu)) {
        if (nc__ring_idle(&s->tx))
            nc__ring_release(&s->tx);
        nc__mutex_unlock(&s->tx_mu);
    }
    if (s->rx_pending != NULL && s->rx.buf == NULL)
        rx_fill(s);
    if (s->tx_nomem && s->relay != NULL) {
        s->tx_nomem = false;
        nc__relay_notify(s);
    }
    return ERR_OK;
}

/* Frees a closed socket once lwIP has taken over its connection's end. */
static void finish_close(struct netcore_stack *st, struct nc_sock *s)
{
    struct tcp_pcb *pcb = s->pcb.tcp;
    if (pcb != NULL) {
        detach(s);
        /* lwIP takes a window short of its own maximum for unread data and resets; we
         * already reset when data was unread (nc__tcp_close). */
        if (pcb->flags & TF_WND_SCALE)
            pcb->rcv_wnd = TCP_WND;
        if (tcp_close(pcb) != ERR_OK) {
            /* Out of memory for the FIN: lwIP keeps the pcb; retry from the sent/poll path. */
            attach(s, pcb);
            return;
        }
    }
    nc__sock_free(st, s);
    nc__tcp_tw_cap(st);
}

/*
 * Nagle as Linux does it (Minshall's variant): a short segment may go out as long as no
 * other short segment is unacknowledged. lwIP's classic Nagle holds the short tail of every
 * write until all data is acknowledged, which against a delayed-ACK peer costs 40 ms per
 * request/response when a write is not a multiple of the MSS.
 */
static void output_minshall(struct netcore_stack *st, struct tcp_pcb *pcb)
{
    if (tcp_nagle_disabled(pcb)) {
        tcp_output(pcb);
        return;
    }
    /* Short: below the real MSS, not below a TSO super-segment (offload.c). */
    uint16_t mss = nc__offload_real_mss(st, pcb);
    for (struct tcp_seg *seg = pcb->unacked; seg != NULL; seg = seg->next) {
        if (seg->len < mss) {
            tcp_output(pcb);
            return;
        }
    }
    tcp_nagle_disable(pcb);
    tcp_output(pcb);
    tcp_nagle_enable(pcb);
}

/*
 * Moves data from tx into lwIP while it has room, then sends the FIN the program asked for
 * once tx is empty. Called on a kick, when lwIP frees send space, and after connecting.
 */
void nc__tcp_flush(struct netcore_stack *st, struct nc_sock *s)
{
    struct tcp_pcb *pcb = s->pcb.tcp;
    if (pcb == NULL || atomic_load(&s->state) != NC_ST_CONNECTED)
        return;
    bool wrote = false;
    for (;;) {
        struct iovec sp[2];
        if (nc__ring_read_spans(&s->tx, sp) == 0) {
            atomic_store(&s->tx_idle, true);
            atomic_thread_fence(memory_order_seq_cst);
            if (nc__ring_used(&s->tx) == 0 || !atomic_exchange(&s->tx_idle, false))
                break;
            continue;
        }
        size_t room = pcb->snd_buf;
        if (room == 0)
            break;
        size_t n = sp[0].iov_len < room ? sp[0].iov_len : room;
        if (n > 0xf000)
            n = 0xf000; /* tcp_write takes 16 bits; a round cut avoids 1-byte segments */
        u8_t fl = TCP_WRITE_FLAG_COPY;
        if (n < nc__ring_used(&s->tx))
            fl |= TCP_WRITE_FLAG_MORE;
        if (tcp_write(pcb, sp[0].iov_base, (u16_t)n, fl) != ERR_OK)
            break; /* out of segments: on_sent continues */
        nc__ring_consume(&s->tx, n);
        wrote = true;
    }
    if (wrote) {
        output_minshall(st, pcb);
        nc__rto_output(st, pcb);
        nc__sock_notify(s);
    }
    if (nc__ring_used(&s->tx) != 0)
        return;
    if (atomic_load(&s->app_closed)) {
        finish_close(st, s);
    } else if (atomic_load(&s->wr_shut) && !atomic_load(&s->fin_sent)) {
        if (tcp_shutdown(pcb, 0, 1) == ERR_OK)
            atomic_store(&s->fin_sent, true);
    }
}

int nc__tcp_shutdown(struct netcore_stack *st, struct nc_sock *s, bool rd, bool wr)
{
    switch (atomic_load(&s->state)) {
    case NC_ST_LISTEN:
    case NC_ST_CONNECTING:
        /* The kernel stops a listener shut for reading (a thread blocked in accept gets
         * EINVAL: programs use this to end an accept loop) and drops a connect in
         * progress; either way the socket is unconnected again. */
        if (rd || atomic_load(&s->state) == NC_ST_CONNECTING)
            reopen(st, s);
        return 0;
    case NC_ST_CONNECTED:
        s->connect_reported = true; /* connect() now says EISCONN, as in the kernel */
        break;
    default:
        return -ENOTCONN;
    }
    if (rd) {
        atomic_store(&s->rd_shut, true);
        nc__sock_notify(s);
    }
    if (wr && !atomic_load(&s->wr_shut)) {
        atomic_store(&s->wr_shut, true);
        nc__tcp_flush(st, s);
        nc__sock_notify(s);
    }
    return 0;
}

/*
 * The program closed the socket. Queued send data is still delivered (graceful close);
 * unread received data makes it a reset, as in the kernel.
 */
void nc__tcp_close(struct netcore_stack *st, struct nc_sock *s)
{
    /* A relayed socket closed by the driver itself (netcore_close, netcore_drain): the
     * program end reads EOF now, not once the connection has lingered out. */
    nc__relay_detach(st, s);
    int state = atomic_load(&s->state);
    if (state == NC_ST_LISTEN) {
        /* Connections accepted by lwIP but never taken by the program are reset. */
        drop_backlog(st, s);
        struct tcp_pcb *lpcb = detach(s);
        if (lpcb != NULL)
            tcp_close(lpcb);
        nc__sock_free(st, s);
        return;
    }
    bool unread = nc__ring_used(&s->rx) > 0 || s->rx_pending != NULL;
    bool linger0 = s->opt.linger_on && s->opt.linger_s == 0; /* SO_LINGER 0: abort */
    if (state == NC_ST_CONNECTING || (state == NC_ST_CONNECTED && (unread || linger0))) {
        struct tcp_pcb *pcb = detach(s);
        if (pcb != NULL)
            tcp_abort(pcb);
        nc__sock_free(st, s);
        return;
    }
    if (state == NC_ST_CONNECTED && s->pcb.tcp != NULL) {
        /* Linger until tx drains: nc__tcp_flush finishes the close. Data arriving meanwhile
         * resets the connection (on_recv), as in the kernel. */
        nc__tcp_flush(st, s);
        return;
    }
    finish_close(st, s);
}

void nc__tcp_set_nodelay(struct nc_sock *s)
{
    if (s->pcb.tcp == NULL || s->pcb.tcp->state == LISTEN)
        return;
    if (s->opt.nodelay)
        tcp_nagle_disable(s->pcb.tcp);
    else
        tcp_nagle_enable(s->pcb.tcp);
}

void nc__tcp_set_keepalive(struct nc_sock *s)
{
    struct tcp_pcb *pcb = s->pcb.tcp;
    if (pcb == NULL)
        return;
    if (s->opt.keepalive)
        ip_set_option(pcb, SOF_KEEPALIVE);
    else
        ip_reset_option(pcb, SOF_KEEPALIVE);
    if (pcb->state == LISTEN)
        return; /* a listen pcb has no timers; accepted connections get theirs */
    pcb->keep_idle = (u32_t)s->opt.keepidle * 1000;
    pcb->keep_intvl = (u32_t)s->opt.keepintvl * 1000;
    pcb->keep_cnt = (u32_t)s->opt.keepcnt;
}

void nc__tcp_apply_ip(struct nc_sock *s)
{
    if (s->pcb.tcp == NULL)
        return;
    s->pcb.tcp->ttl = (u8_t)(s->opt.ttl < 0 ? NC_DEFAULT_TTL : s->opt.ttl);
    s->pcb.tcp->tos = (u8_t)s->opt.tos;
}

int nc__tcp_queued(struct nc_sock *s, bool unsent_only)
{
    size_t n = nc__ring_used(&s->tx); /* not handed to lwIP yet */
    struct tcp_pcb *pcb = s->pcb.tcp;
    if (pcb != NULL && atomic_load(&s->state) == NC_ST_CONNECTED)
        n += pcb->snd_lbb - (unsent_only ? pcb->snd_nxt : pcb->lastack);
    return n > INT_MAX ? INT_MAX : (int)n;
}

int nc__tcp_mss(struct nc_sock *s)
{
    struct tcp_pcb *pcb = s->pcb.tcp;
    if (pcb == NULL || atomic_load(&s->state) != NC_ST_CONNECTED)
        return 0;
    return nc__offload_real_mss(s->st, pcb);
}

void nc__tcp_info(struct nc_sock *s, struct nc_tcpinfo *ti)
{
    /* lwIP's states in order CLOSED..TIME_WAIT, as Linux numbers them */
    static const int linux_state[] = { 7, 10, 2, 3, 1, 4, 5, 8, 11, 9, 6 };
    memset(ti, 0, sizeof(*ti));
    struct tcp_pcb *pcb = s->pcb.tcp;
    if (pcb == NULL) {
        ti->state = atomic_load(&s->state) == NC_ST_LISTEN ? 10 : 7;
        return;
    }
    ti->state = pcb->state <= TIME_WAIT ? linux_state[pcb->state] : 7;
    if (pcb->state == LISTEN)
        return;
    unsigned tick_us = TCP_SLOW_INTERVAL * 1000;
    ti->mss = nc__offload_real_mss(s->st, pcb); /* windows in real segments, as Linux counts */
    ti->rto_us = (unsigned)pcb->rto * tick_us;
    ti->rtt_us = (unsigned)(pcb->sa >> 3) * tick_us;
    ti->rttvar_us = (unsigned)(pcb->sv >> 2) * tick_us;
    ti->cwnd_segs = ti->mss ? (unsigned)(pcb->cwnd / ti->mss) : 0;
    ti->ssthresh = ti->mss ? (unsigned)(pcb->ssthresh / ti->mss) : 0;
    ti->snd_wnd = (unsigned)pcb->snd_wnd;
    ti->rcv_wnd = (unsigned)pcb->rcv_wnd;
    ti->retrans = pcb->nrtx;
    for (struct tcp_seg *seg = pcb->unacked; seg != NULL; seg = seg->next)
        ti->unacked_segs++;
}

void nc__tcp_netdown(struct netcore_stack *st)
{
    for (int i = 0; i < st->cfg.max_sockets; i++) {
        struct nc_sock *s = st->socks[i];
        if (s == NULL || s->type != SOCK_STREAM || s->pcb.tcp == NULL)
            continue;
        int state = atomic_load(&s->state);
        if (state != NC_ST_CONNECTING && state != NC_ST_CONNECTED)
            continue; /* unbound, bound and listening sockets live on, as in the kernel */
        if (atomic_load(&s->app_closed)) {
            struct tcp_pcb *pcb = detach(s);
            tcp_abort(pcb);
            nc__sock_free(st, s);
            continue;
        }
        s->icmp_error = ENETDOWN;
        tcp_abort(s->pcb.tcp); /* on_err reports icmp_error */
    }
}

/* Keeps lwIP's TIME-WAIT list at most time_wait_max long, dropping the oldest. */
void nc__tcp_tw_cap(struct netcore_stack *st)
{
    int n = 0;
    struct tcp_pcb *last = NULL;
    for (struct tcp_pcb *p = tcp_tw_pcbs; p != NULL; p = p->next) {
        n++;
        last = p;
    }
    while (n > st->cfg.time_wait_max && last != NULL) {
        /* The list is newest first: walk to the tail's predecessor each time. */
        struct tcp_pcb *victim = last;
        struct tcp_pcb *prev = NULL;
        for (struct tcp_pcb *p = tcp_tw_pcbs; p != victim; p = p->next)
            prev = p;
        tcp_abort(victim);
        st->stats.time_wait_evicted++;
        n--;
        last = prev;
    }
    st->stats.time_wait = n;
}

/*
 * App side: copy into tx; kick the netstack if it had gone idle. tx_mu makes the program's
 * threads one producer of the ring; it is let go while the call waits for space, so that
 * another thread's non-blocking send (or one with its own SO_SNDTIMEO) never waits behind a
 * blocked one, as on the kernel, which releases the socket lock in sk_stream_wait_memory.
 */
ssize_t nc__tcp_send(struct netcore_stack *st, struct nc_sock *s, const void *buf, size_t len,
                     int flags)
{
    size_t done = 0;
    sig_atomic_t handled = nc__crit_handled; /* a handler from here on interrupts us */
    int timeout = nc__sock_timeout(s, flags, true);
    int64_t deadline = 0;
    nc__mutex_lock(&s->tx_mu);
    for (;;) {
        if (atomic_load(&s->so_error) != 0) {
            nc__mutex_unlock(&s->tx_mu);
            /* After a partial write the error waits for the next call, as in the kernel. */
            return done > 0 ? (ssize_t)done : -atomic_exchange(&s->so_error, 0);
        }
        int state = atomic_load(&s->state);
        if (state == NC_ST_CONNECTING) {
            if (timeout == 0) {
                nc__mutex_unlock(&s->tx_mu);
                return -EAGAIN;
            }
        } else if (state != NC_ST_CONNECTED || atomic_load(&s->wr_shut)) {
            /* Not connected at all is EPIPE too (and SIGPIPE): Linux, not POSIX's ENOTCONN. */
            nc__mutex_unlock(&s->tx_mu);
            return done > 0 ? (ssize_t)done : -EPIPE;
        } else {
            if (buf == NULL && len > 0) {
                nc__mutex_unlock(&s->tx_mu);
                return -EFAULT;
            }
            if (done < len && s->tx.buf == NULL) {
                /* No memory for the ring: nothing to wait for, as the kernel's ENOBUFS. */
                int err = nc__ring_alloc(&s->tx, st->cfg.ring_mem);
                if (err != 0) {
                    nc__mutex_unlock(&s->tx_mu);
                    return done > 0 ? (ssize_t)done : -ENOBUFS;
                }
            }
            /* send(NULL, 0) is valid: no pointer arithmetic on NULL (UBSan) */
            size_t n = done < len
                           ? nc__ring_write(&s->tx, (const uint8_t *)buf + done, len - done)
                           : 0;
            done += n;
            if (n > 0) {
                atomic_thread_fence(memory_order_seq_cst);
                if (atomic_exchange(&s->tx_idle, false))
                    nc__kick(st, s, NC_KICK_TX);
            }
            if (done == len)
                break;
            nc__sock_settle(s); /* the ring is full: no longer writable */
            if (timeout == 0)
                break;
        }
        nc__mutex_unlock(&s->tx_mu);
        int r = nc__sock_wait(s, POLLOUT, nc__left_ms(&deadline, timeout), handled);
        if (r <= 0) {
            if (done > 0)
                return (ssize_t)done;
            return r == 0 ? -EAGAIN : r;
        }
        nc__mutex_lock(&s->tx_mu);
    }
    nc__mutex_unlock(&s->tx_mu);
    return done > 0 || len == 0 ? (ssize_t)done : -EAGAIN;
}

/*
 * App side: copy out of rx; kick the netstack if it holds data that did not fit. rx_mu makes
 * the program's threads one consumer of the ring; it is let go while the call waits, as
 * tx_mu in nc__tcp_send (the kernel's sk_wait_data releases the socket lock too).
 */
ssize_t nc__tcp_recv(struct netcore_stack *st, struct nc_sock *s, void *buf, size_t len,
                     int flags)
{
    size_t done = 0;
    sig_atomic_t handled = nc__crit_handled; /* a handler from here on interrupts us */
    int timeout = nc__sock_timeout(s, flags, false);
    int64_t deadline = 0;
    int state = atomic_load(&s->state);
    if (state == NC_ST_LISTEN)
        return -ENOTCONN;
    if (flags & MSG_OOB)
        return -EINVAL; /* urgent data arrives inline: there is never any to take apart */
    if (state == NC_ST_NEW || state == NC_ST_BOUND)
        return -ENOTCONN;
    /* Length 0 still waits for data (or EOF, an error), as the kernel's does. */
    nc__mutex_lock(&s->rx_mu);
    for (;;) {
        size_t n;
        if (buf == NULL && len > 0 && nc__ring_used(&s->rx) > 0) {
            nc__mutex_unlock(&s->rx_mu); /* only a copy finds out, as in the kernel */
            return -EFAULT;
        }
        /* recv(NULL, ...) with nothing there waits or says EAGAIN like any other: no
         * pointer arithmetic on NULL, no copy (UBSan) */
        if (done == len || buf == NULL) {
            n = 0;
        } else if (flags & MSG_PEEK) {
            n = nc__ring_peek(&s->rx, (uint8_t *)buf + done, len - done);
        } else {
            n = nc__ring_read(&s->rx, (uint8_t *)buf + done, len - done);
            if (n > 0) {
                atomic_thread_fence(memory_order_seq_cst);
                if (atomic_exchange(&s->rx_full, false))
                    nc__kick(st, s, NC_KICK_RX);
            }
        }
        done += n;
        if (n > 0 && !(flags & MSG_PEEK))
            nc__sock_settle(s);
        if ((done == len && len > 0) || (done > 0 && !(flags & MSG_WAITALL)) ||
            (flags & MSG_PEEK && n > 0))
            break;
        if (nc__ring_used(&s->rx) > 0) {
            if (len == 0)
                break;
            continue;
        }
        if (atomic_load(&s->rx_eof) || atomic_load(&s->rd_shut))
            break;
        int e = atomic_exchange(&s->so_error, 0);
        if (e != 0) {
            nc__mutex_unlock(&s->rx_mu);
            return done > 0 ? (ssize_t)done : -e;
        }
        state = atomic_load(&s->state);
        if (state == NC_ST_CLOSED)
            break;
        if (state != NC_ST_CONNECTED && state != NC_ST_CONNECTING) {
            nc__mutex_unlock(&s->rx_mu); /* disconnected under a blocked recv */
            return done > 0 ? (ssize_t)done : -ENOTCONN;
        }
        if (timeout == 0) {
            nc__mutex_unlock(&s->rx_mu);
            return done > 0 ? (ssize_t)done : -EAGAIN;
        }
        nc__mutex_unlock(&s->rx_mu);
        int r = nc__sock_wait(s, POLLIN, nc__left_ms(&deadline, timeout), handled);
        if (r <= 0) {
            if (done > 0)
                return (ssize_t)done;
            return r == 0 ? -EAGAIN : r;
        }
        nc__mutex_lock(&s->rx_mu);
    }
    nc__mutex_unlock(&s->rx_mu);
    return (ssize_t)done;
}
