/*
 * TCP over lwIP's raw API: a connection's life, from the pcb's side. Opening, binding (the
 * kernel's port conflict rule), listening and the accept queue, connecting, lwIP's error
 * callback (on_err: lwIP has freed the pcb), the way back to an unconnected socket (reopen),
 * shutdown and close, and the ends no program asked for: the device going away and the
 * TIME-WAIT cap.
 *
 * The three TCP files split one socket between them (tcppriv.h has what they share):
 *  - tcp.c (this file) owns s->pcb.tcp: it sets it and registers the callbacks on it
 *    (attach), and it cuts them (nc__tcp_detach) before the pcb or the socket goes (but
 *    for the stack's teardown, stack.c, which lets every pcb go at once);
 *  - tcpdata.c moves bytes between the rings and lwIP under the stack lock (lwIP's recv,
 *    sent and poll callbacks, nc__tcp_flush), and hands a closed socket's last step back
 *    here once its send ring has drained (nc__tcp_finish_close);
 *  - tcpapp.c is the program's side: send and recv on the rings without the stack lock,
 *    and the options and figures (TCP_INFO, SIOCOUTQ) read from the pcb under it.
 * Every lwIP call here runs under the stack lock.
 */
#include "sock.h"

#include <errno.h>
#include <string.h>

#include <lwip/ip.h>
#include <lwip/tcp.h>
#include <lwip/priv/tcp_priv.h>
#include <lwip/timeouts.h>

#include "ackpol.h"
#include "addr.h"
#include "cfg.h"
#include "errmap.h"
#include "neigh.h"
#include "netcore.h"
#include "offload.h"
#include "pcbmap.h"
#include "port.h"
#include "relay.h"
#include "ring.h"
#include "rxframe.h"
#include "cc.h"
#include "rto.h"
#include "shimapi.h"
#include "sockopt.h"
#include "stack.h"
#include "tcppriv.h"

static void on_err(void *arg, err_t err);

static void attach(struct nc_sock *s, struct tcp_pcb *pcb)
{
    s->pcb.tcp = pcb;
    tcp_arg(pcb, s);
    tcp_err(pcb, on_err);
    tcp_recv(pcb, nc__tcp_on_recv);
    tcp_sent(pcb, nc__tcp_on_sent);
    /* Every slow tick (500 ms), as lwIP's own poll of a pcb without one: its tcp_output
     * after each poll keeps its pace. */
    tcp_poll(pcb, nc__tcp_on_poll, 1);
}

/* Cuts the socket loose from its pcb, so lwIP never calls back into freed memory. */
struct tcp_pcb *nc__tcp_detach(struct nc_sock *s)
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
    if (s->tcp.tx.cap != 0)
        return 0;
    int err = nc__ring_init(&s->tcp.tx, st->cfg.sndbuf);
    if (err == 0)
        err = nc__ring_init(&s->tcp.rx, st->cfg.rcvbuf);
    if (err != 0) {
        nc__ring_free(&s->tcp.tx);
        return err;
    }
    atomic_store(&s->tcp.tx_idle, true);
    return 0;
}

/*
 * Debian's lwIP has a 64 KiB - 1 send buffer (TCP_SND_BUF), so a 64 KiB write leaves one
 * byte behind until an ACK frees room, and Nagle then holds that byte for the peer's
 * delayed ACK. snd_buf is 32 bits with window scaling and lwIP only adds acknowledged bytes
 * back to it, so a connection can start with more. It bounds the flight: at 256 KiB a 10 ms
 * round trip capped a sender at ~25 MB/s, below the kernel's (whose send buffer grows to
 * 4 MiB), and a hole left by a loss holds the buffer's head for a round trip more. 1 MiB:
 * bench/loss.sh, 4 MiB at 10 ms RTT, 1% loss 0.49 -> 0.43 s, 5% 0.70 -> 0.46 s. bbr grows it
 * with the path, up to 4 MiB (cc.c).
 */
#define SND_BUF NC_CC_SNDBUF_MIN

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
    /* bind(), or the autobind before connect and listen, narrows a dual-stack pcb. */
    struct tcp_pcb *pcb = tcp_new_ip_type(nc__addr_pcb_type(s));
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
    return nc__port_bind_sock(st, s, a, bind_one);
}

static err_t on_accept(void *arg, struct tcp_pcb *npcb, err_t err)
{
    struct nc_sock *ls = arg;
    if (ls == NULL || err != ERR_OK || npcb == NULL)
        return ERR_VAL;
    struct netcore_stack *st = ls->st;
    struct nc_sock *s;
    if (atomic_load(&ls->lis.aq_count) >= ls->lis.aq_cap ||
        nc__sock_alloc_conn(st, ls->family, &s) != 0) {
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
    s->tcp.connect_reported = true;
    atomic_store(&s->state, NC_ST_CONNECTED);
    atomic_store(&s->in_aq, true);
    ls->lis.aq[(ls->lis.aq_head + atomic_load(&ls->lis.aq_count)) % ls->lis.aq_cap] = s->id;
    atomic_fetch_add(&ls->lis.aq_count, 1);
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
    s->lis.aq = calloc((size_t)backlog, sizeof(*s->lis.aq));
    if (s->lis.aq == NULL)
        return -ENOMEM;
    s->lis.aq_cap = backlog;
    err_t e = ERR_OK;
    struct tcp_pcb *lpcb = tcp_listen_with_backlog_and_err(s->pcb.tcp, 255, &e);
    if (lpcb == NULL) {
        free(s->lis.aq);
        s->lis.aq = NULL;
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

/* The first connection of s's queue, which is not empty. */
static int dequeue(struct netcore_stack *st, struct nc_sock *s)
{
    int id = s->lis.aq[s->lis.aq_head];
    atomic_store(&st->socks[id]->in_aq, false);
    s->lis.aq_head = (s->lis.aq_head + 1) % s->lis.aq_cap;
    atomic_fetch_sub(&s->lis.aq_count, 1);
    if (s->relay != NULL)
        nc__relay_notify(s); /* a relayed listener's token for the next one */
    return id;
}

int nc__tcp_accept(struct netcore_stack *st, struct nc_sock *s, int *prog_fd, bool cloexec,
                   int *newid)
{
    if (atomic_load(&s->state) != NC_ST_LISTEN)
        return -EINVAL;
    if (atomic_load(&s->lis.aq_count) == 0)
        return -EAGAIN;
    int efd = nc__sock_make_efd(prog_fd, cloexec);
    if (efd < 0)
        return efd;
    *newid = dequeue(st, s);
    st->socks[*newid]->efd = efd;
    return 0;
}

/* Resets a listener's queue: connections lwIP accepted but the program never took. */
static void drop_backlog(struct netcore_stack *st, struct nc_sock *s)
{
    while (atomic_load(&s->lis.aq_count) > 0) {
        struct nc_sock *c = st->socks[dequeue(st, s)];
        struct tcp_pcb *pcb = nc__tcp_detach(c);
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
 * gets what it read before the emptying, or nothing.)
 */
static void reopen(struct netcore_stack *st, struct nc_sock *s)
{
    int state = atomic_load(&s->state);
    struct tcp_pcb *old = nc__tcp_detach(s);
    if (state == NC_ST_LISTEN) {
        drop_backlog(st, s);
        free(s->lis.aq);
        s->lis.aq = NULL;
        s->lis.aq_cap = s->lis.aq_head = 0;
        if (old != NULL)
            tcp_close(old);
    } else if (old != NULL) {
        tcp_abort(old);
    }
    nc__tcp_rx_drop(s);
    /* rx is emptied with the reader kept out: its chunks are received pbufs, which the next
     * data's lend frees once they count as read, and a thread copying out of one meanwhile
     * would read freed memory. A reader holds rx_mu only while it copies (never while it
     * waits, nor while it wants the stack lock: nc__kick only tries it), so this wait is
     * short. */
    nc__mutex_lock(&s->tcp.rx_mu);
    nc__ring_consume(&s->tcp.rx, nc__ring_used(&s->tcp.rx));
    /* An unconnected socket has no poll to give its rings' memory back: now. */
    nc__ring_release(&s->tcp.rx);
    nc__mutex_unlock(&s->tcp.rx_mu);
    nc__ring_consume(&s->tcp.tx, nc__ring_used(&s->tcp.tx));
    /* tx's the same way, unless a thread is in a call on it (then at the next connection's
     * first idle tick). */
    if (nc__mutex_trylock(&s->tcp.tx_mu)) {
        nc__ring_release(&s->tcp.tx);
        nc__mutex_unlock(&s->tcp.tx_mu);
    }
    atomic_store(&s->tcp.tx_idle, true);
    atomic_store(&s->tcp.rx_full, false);
    atomic_store(&s->tcp.rx_eof, false);
    atomic_store(&s->rd_shut, false);
    atomic_store(&s->wr_shut, false);
    atomic_store(&s->tcp.fin_sent, false);
    bool reset = state == NC_ST_CONNECTED || state == NC_ST_CONNECTING;
    atomic_store(&s->so_error, reset ? ECONNRESET : 0);
    atomic_store(&s->conn_error, 0);
    s->tcp.fin_pending = false;
    s->tcp.rx_quick = 0;
    s->tcp.icmp_error = 0;
    s->tcp.connect_reported = false;
    addr_from(s, &s->peer, NULL, 0);
    ip_addr_t ip;
    u16_t port = s->bound_user ? nc__addr_ip(st, s, &s->bound, &ip) : 0;
    addr_from(s, &s->local, s->bound_user ? &ip : NULL, ntohs(s->local.in.sin_port));
    atomic_store(&s->state, NC_ST_NEW);
    struct tcp_pcb *pcb = tcp_new_ip_type(nc__addr_pcb_type(s));
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
        if (!s->tcp.connect_reported) {
            s->tcp.connect_reported = true;
            return 0;
        }
        return -EISCONN;
    case NC_ST_LISTEN:
        return -EISCONN;
    case NC_ST_CLOSED: {
        if (s->tcp.connect_reported)
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
        err = nc__port_connect(st, s->pcb.tcp, nc__addr_any(s), &ip, port, bind_one);
        if (err != 0)
            return err == -EADDRINUSE ? -EADDRNOTAVAIL : err;
    }
    err_t e = tcp_connect(s->pcb.tcp, &ip, port, on_connected);
    if (e == ERR_RTE)
        return -ENETUNREACH;
    if (e != ERR_OK)
        return -nc__err_to_errno(e);
    addr_from(s, &s->local, &s->pcb.tcp->local_ip, s->pcb.tcp->local_port);
    s->tcp.connect_reported = false;
    atomic_store(&s->so_error, 0); /* what an earlier disconnect left is forgotten */
    atomic_store(&s->state, NC_ST_CONNECTING);
    nc__neigh_watch(st, s);
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
    } else if (s->tcp.icmp_error != 0) {
        e = s->tcp.icmp_error;
    } else if (state == NC_ST_CONNECTING) {
        e = err == ERR_RST ? ECONNREFUSED : ETIMEDOUT;
    } else if (err == ERR_RST && (atomic_load(&s->tcp.rx_eof) || s->tcp.fin_pending)) {
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
        if (s->tcp.rx_pending != NULL)
            s->tcp.fin_pending = true;
        else
            atomic_store(&s->tcp.rx_eof, true);
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

/* Frees a closed socket once lwIP has taken over its connection's end. */
void nc__tcp_finish_close(struct netcore_stack *st, struct nc_sock *s)
{
    struct tcp_pcb *pcb = s->pcb.tcp;
    if (pcb != NULL) {
        nc__tcp_detach(s);
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
        s->tcp.connect_reported = true; /* connect() now says EISCONN, as in the kernel */
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
        struct tcp_pcb *lpcb = nc__tcp_detach(s);
        if (lpcb != NULL)
            tcp_close(lpcb);
        nc__sock_free(st, s);
        return;
    }
    bool unread = nc__ring_used(&s->tcp.rx) > 0 || s->tcp.rx_pending != NULL;
    bool linger0 = s->opt.linger_on && s->opt.linger_s == 0; /* SO_LINGER 0: abort */
    if (state == NC_ST_CONNECTING || (state == NC_ST_CONNECTED && (unread || linger0))) {
        struct tcp_pcb *pcb = nc__tcp_detach(s);
        if (pcb != NULL)
            tcp_abort(pcb);
        nc__sock_free(st, s);
        return;
    }
    if (state == NC_ST_CONNECTED && s->pcb.tcp != NULL) {
        /* Linger until tx drains: nc__tcp_flush finishes the close. Data arriving meanwhile
         * resets the connection (tcpdata.c), as in the kernel. */
        nc__tcp_flush(st, s);
        return;
    }
    nc__tcp_finish_close(st, s);
}

/*
 * The ACK of the peer's FIN, when it ends the peer's side of an established connection,
 * waits for what we send next (our FIN, or data) for up to FIN_ACK_MS, as the kernel's own
 * does (tcp_fin() enters its "ping-pong" mode and the ACK goes out delayed): the usual
 * program reads the EOF and closes, and the peer gets one FIN+ACK instead of an ACK and then
 * a FIN. One frame less per connection, and the peer's close sees our ACK and FIN at once
 * (port.c, "Tuples kept away", for what a Linux peer may do with a FIN that follows its
 * ACK within microseconds). A program that keeps the socket open still acknowledges within
 * FIN_ACK_MS, well before the peer's FIN would be retransmitted (200 ms at the least).
 */
#define FIN_ACK_MS 40

static void fin_ack_due(void *arg)
{
    struct netcore_stack *st = arg;
    st->fin_ack_armed = false;
    for (struct tcp_pcb *pcb = tcp_active_pcbs; pcb != NULL; pcb = pcb->next) {
        if (pcb->state == CLOSE_WAIT && (pcb->flags & TF_ACK_DELAY)) {
            tcp_ack_now(pcb);
            tcp_output(pcb);
        }
    }
}

void nc__tcp_fin_ack(struct netcore_stack *st, struct tcp_pcb *pcb)
{
    /* Only the ACK lwIP's FIN handling made due now: out-of-order data still waiting wants
     * its ACK at once (with its SACK blocks). */
    if (pcb->state != CLOSE_WAIT || !(pcb->flags & TF_ACK_NOW) || pcb->ooseq != NULL)
        return;
    tcp_clear_flags(pcb, TF_ACK_NOW);
    tcp_set_flags(pcb, TF_ACK_DELAY);
    /* One timer for every connection: armed anew at each FIN it would take a turn of the
     * netstack thread per connection (stack.c re-arms its sleep for an earlier timer). */
    if (!st->fin_ack_armed) {
        st->fin_ack_armed = true;
        sys_timeout(FIN_ACK_MS, fin_ack_due, st);
    }
}

void nc__tcp_fin_ack_stop(struct netcore_stack *st)
{
    if (st->fin_ack_armed)
        sys_untimeout(fin_ack_due, st);
    st->fin_ack_armed = false;
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
            struct tcp_pcb *pcb = nc__tcp_detach(s);
            tcp_abort(pcb);
            nc__sock_free(st, s);
            continue;
        }
        s->tcp.icmp_error = ENETDOWN;
        tcp_abort(s->pcb.tcp); /* on_err reports icmp_error */
    }
}

/*
 * lwIP never lets a SYN reopen a tuple it holds in TIME-WAIT (a SYN inside the old receive
 * window gets an RST: connect() fails ECONNREFUSED; any other an ACK) and ignores an RST
 * there (RFC 1337). A client that reuses the port -- a kernel client does, once its port
 * range wraps under a high connection rate to one server, and the server closing first holds
 * the TIME-WAIT -- then met a refusal, or waited out the 2 MSL (120 s) and timed out.
 * Linux, on the same segments: a SYN whose sequence number lies beyond the old connection's
 * is a new incarnation (RFC 1122 4.2.2.13), and an RST at rcv_nxt ends the TIME-WAIT
 * (net.ipv4.tcp_rfc1337 off, its default). Either drops the pcb here, so that the SYN reaches
 * the listener, as it would on Linux.
 */
void nc__tcp_tw_input(struct netcore_stack *st, const struct nc_frame *fr)
{
    const struct nc_tcpseg *t = &fr->tcp;
    if (!t->tcp || tcp_tw_pcbs == NULL)
        return;
    bool syn = (t->flags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) == TCP_SYN;
    if (!syn && !(t->flags & TCP_RST))
        return;
    struct tcp_pcb *pcb = nc__pcb_find_tw_raw(st, fr->ver == 6, fr->src, t->sport, t->dport);
    if (pcb == NULL || !(syn ? TCP_SEQ_GT(t->seq, pcb->rcv_nxt) : t->seq == pcb->rcv_nxt))
        return;
    tcp_abort(pcb); /* in TIME-WAIT: off the list and freed, no RST sent */
    st->stats.time_wait_reused++;
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
