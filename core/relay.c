/*
 * relay.c — the driver's side of relayed sockets (share.h).
 *
 * A relayed socket is held by the program (in this process or any other) as one end of an
 * AF_UNIX socketpair, "the program end"; the driver keeps the other end, rfd, and moves
 * bytes between it and the socket: TCP through a SOCK_STREAM pair, rx ring -> rfd and
 * rfd -> tx ring, straight between the rings and the kernel (readv/sendmsg on ring spans,
 * no copy of our own); UDP through a SOCK_SEQPACKET pair, one message per datagram behind a
 * struct nc_share_dgram. The rings stay what they were for an in-process program: the relay
 * is their producer or consumer in the program's place, under the same tx_mu/rx_mu, so data
 * already in them when a socket is exported keeps its order.
 *
 * Who pumps: whoever holds the stack lock, when one of two things happens.
 *  - rfd became readable, writable or hung up. Every rfd is in one epoll set of our own,
 *    edge-triggered, which is one event of the netstack thread's loop (netcore_step polls it
 *    in manual mode). epoll_ctl may be called from any thread, libevent's base may not: so
 *    netcore_export works on a program thread (fork's prepare handler) without the base.
 *  - the socket changed: data arrived, lwIP freed send space, the connect ended, a reset.
 *    nc__sock_notify (always under the lock) tells us, often from inside lwIP's callbacks,
 *    where moving data would re-enter lwIP (a refill of rx from within rx_fill). So notify
 *    only queues the relay, and nc__run_pending pumps the queue before the lock goes.
 * Edge-triggered readiness is enough because a pump always does all it can: it reads rfd
 * until EAGAIN unless the ring is full or the socket not connected, and those end with a
 * change of the socket (lwIP takes from tx, the connect completes), which queues it again.
 * A pump a socket change brings reads rfd only if no read found it empty since its last
 * EPOLLIN (readable): most changes are data for the program, and a read that finds nothing
 * each time cost a third of nginx's requests per second.
 *
 * Measured (scratch merge with share.c and remote.c, 2 cores): nginx (daemon, 2 workers)
 * attached to a driver, every socket relayed, wrk -c16 3 s: 33-37k requests/s against
 * 36-48k for the same nginx on the kernel in the namespace (21.8k before that change).
 *
 * Hang-up: the kernel reports EPOLLHUP on rfd only when both directions of it are shut. We
 * never shut rfd for reading, and a client never shuts its end (share.h: shutdown is a
 * request to the driver), so EPOLLHUP means every copy of the program end is closed, in
 * every process. Then the socket is closed as netcore_close does, once what the program
 * wrote before is in the tx ring: FIN after it, or a reset when the program left unread data
 * behind (the kernel sets ECONNRESET on rfd then, and its own close would reset too).
 */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <event2/event.h>

#include "addr.h"
#include "closer.h"
#include "netcore.h"
#include "ring.h"
#include "share.h"
#include "sharesrv.h"
#include "shimapi.h"
#include "sock.h"
#include "stack.h"
#include "sys.h"

#define BUCKETS 256       /* inode hash of the program ends (nc__relay_find) */
#define UDP_BUDGET 64     /* datagrams taken from one program end per pump */
#define DISCARD_BUDGET 16 /* reads of bytes to drop per pump: a program writing without end
                             must not hold the netstack thread */
#define EPOLL_BATCH 64
#define MAX_DGRAM 65535   /* payload room: a larger message is malformed anyway */

struct nc_relay {
    struct nc_relay_tab *tab;
    struct nc_sock *s;
    struct nc_relay *prev, *next; /* every relay of the stack */
    struct nc_relay *hnext;       /* same inode bucket */
    struct nc_relay *qnext;       /* queued for a pump */
    bool queued;
    int rfd;                      /* the driver's end (non-blocking) */
    uint64_t dev, ino;            /* the program end's identity */
    uint32_t gen;                 /* tells a stale epoll event from this relay's */
    uint32_t events;              /* epoll interest now */
    int state;                    /* the socket's state at the last pump */
    bool hup;                     /* every copy of the program end is closed */
    bool readable;                /* rfd may hold bytes: no read since its last EPOLLIN
                                     found it empty (saves a read per socket change) */
    bool rdhup;                   /* an end of stream is in the pair (EPOLLRDHUP seen) */
    bool rd_eof;                  /* rfd has nothing more to read, ever */
    bool eof_sent;                /* shutdown(rfd, SHUT_WR) done: the program reads EOF */
    bool tx_discard;              /* the program shut its sending side: drop what comes */
    bool shut_pending;            /* SHUT_WR asked: FIN after shut_quota more bytes */
    size_t shut_quota;
    bool reset;                   /* the program closed with data unread: reset */
};

struct nc_relay_tab {
    int epfd;
    struct event *ev;
    struct nc_relay *all;
    struct nc_relay *qhead, **qtail;
    int qlen;
    struct nc_relay *hash[BUCKETS];
    _Atomic int count;
    uint32_t gen;
    _Atomic uint64_t bad;         /* program datagrams dropped: malformed or refused */
    /* Datagram payloads and bytes to discard pass through here, under the stack lock
     * (MAX_DGRAM bytes, from the first export: a stack no one shares never needs it). */
    uint8_t *scratch;
};

/* Raw system calls: the shim interposes the libc ones (sys.c). */
static long rc_of(long r)
{
    return r < 0 ? -errno : r;
}

static long rf_readv(int fd, struct iovec *iov, int n)
{
    return rc_of(nc__raw_syscall(SYS_readv, fd, iov, n));
}

static long rf_sendv(int fd, struct iovec *iov, int n)
{
    struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };
    return rc_of(nc__raw_syscall(SYS_sendmsg, fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL));
}

static void rf_shut_wr(int fd)
{
    nc__raw_syscall(SYS_shutdown, fd, SHUT_WR);
}

static int rf_ioctl(int fd, unsigned long req)
{
    int v = 0;
    return nc__raw_syscall(SYS_ioctl, fd, req, &v) == 0 ? v : -errno;
}

static uint64_t tag(const struct nc_relay *r)
{
    return (uint64_t)r->gen << 32 | (uint32_t)r->s->id;
}

static int set_events(struct nc_relay *r, uint32_t events, int op)
{
    struct epoll_event ev = { .events = events, .data.u64 = tag(r) };
    if (nc__raw_syscall(SYS_epoll_ctl, r->tab->epfd, op, r->rfd, &ev) != 0)
        return -errno;
    r->events = events;
    return 0;
}

/* EPOLLOUT only while something waits for room in the program end: else every read the
 * program makes would wake the netstack. */
static void want_out(struct nc_relay *r, bool on)
{
    uint32_t events = EPOLLIN | EPOLLRDHUP | EPOLLET | (on ? EPOLLOUT : 0u);
    if (events != r->events)
        set_events(r, events, EPOLL_CTL_MOD);
}

static void enqueue(struct nc_relay *r)
{
    struct nc_relay_tab *t = r->tab;
    if (r->queued)
        return;
    r->queued = true;
    r->qnext = NULL;
    *t->qtail = r;
    t->qtail = &r->qnext;
    t->qlen++;
}

static struct nc_relay *dequeue(struct nc_relay_tab *t)
{
    struct nc_relay *r = t->qhead;
    if (r == NULL)
        return NULL;
    t->qhead = r->qnext;
    if (t->qhead == NULL)
        t->qtail = &t->qhead;
    t->qlen--;
    r->queued = false;
    return r;
}

static void unqueue(struct nc_relay *r)
{
    struct nc_relay_tab *t = r->tab;
    if (!r->queued)
        return;
    struct nc_relay **pp = &t->qhead;
    while (*pp != r)
        pp = &(*pp)->qnext;
    *pp = r->qnext;
    if (t->qtail == &r->qnext)
        t->qtail = pp;
    t->qlen--;
    r->queued = false;
}

/* Closes the driver's end and forgets the relay; the socket stays as it is. */
static void relay_free(struct nc_relay *r)
{
    struct nc_relay_tab *t = r->tab;
    /* Closing rfd would drop it from the set too, but not while a forked child that never
     * ran its atfork handler still holds a copy. */
    nc__raw_syscall(SYS_epoll_ctl, t->epfd, EPOLL_CTL_DEL, r->rfd, NULL);
    nc__sys_close(r->rfd);
    unqueue(r);
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        t->all = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    struct nc_relay **pp = &t->hash[r->ino % BUCKETS];
    while (*pp != r)
        pp = &(*pp)->hnext;
    *pp = r->hnext;
    r->s->relay = NULL;
    atomic_fetch_sub(&t->count, 1);
    free(r);
}

/*
 * A read of rfd found its end: 0 when the program end was shut for writing or closed, and
 * ECONNRESET only when it was closed with data unread (the kernel's unix_release_sock sets
 * it on our end then): the program is gone, and its close is a reset.
 */
static void read_ended(struct nc_relay *r, long k)
{
    r->rd_eof = true;
    if (k == -ECONNRESET) {
        r->hup = true;
        r->reset = true;
    }
}

/* Reads and drops what the program end holds (after a shutdown, on a listener). */
static void discard(struct nc_relay *r)
{
    for (int i = 0; !r->rd_eof && r->readable; i++) {
        if (i == DISCARD_BUDGET) {
            enqueue(r); /* the rest on the next round */
            return;
        }
        long k = rc_of(nc__raw_syscall(SYS_read, r->rfd, r->tab->scratch, MAX_DGRAM));
        if (k == -EINTR)
            continue;
        if (k == -EAGAIN) {
            r->readable = false;
            return;
        }
        if (k <= 0)
            read_ended(r, k);
    }
}

/* The program end shut its sending side: nothing more arrives after what is in the pair. */
static bool rcv_shut(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLRDHUP };
    return nc__raw_syscall(SYS_ppoll, &p, 1, &(struct timespec){ 0, 0 }, NULL, 0) == 1 &&
           (p.revents & (POLLRDHUP | POLLHUP));
}

/* SHUT_WR from the program: FIN once the tx ring is sent; later bytes are dropped. */
static void end_tx(struct netcore_stack *st, struct nc_relay *r, struct nc_sock *s)
{
    r->shut_pending = false;
    r->tx_discard = true;
    if (atomic_load(&s->state) == NC_ST_CONNECTED)
        nc__tcp_shutdown(st, s, false, true);
}

/* rfd into the tx ring until EAGAIN, the end, or a full ring; caller holds tx_mu. Returns
 * true if it read anything. No memory for the ring: the bytes wait in the pair, and the
 * socket's poll (tcpdata.c on_poll) brings us back. */
static bool fill_tx(struct netcore_stack *st, struct nc_relay *r, struct nc_sock *s)
{
    bool got = false;
    if (r->readable && nc__ring_alloc(&s->tcp.tx, st->cfg.ring_mem) != 0) {
        s->tcp.tx_nomem = true;
        return false;
    }
    while (r->readable) {
        struct iovec sp[2];
        int n = nc__ring_write_spans(&s->tcp.tx, sp, r->shut_pending ? r->shut_quota : SIZE_MAX);
        if (n == 0)
            break; /* full: lwIP's progress (nc__tcp_flush -> notify) brings us back */
        size_t room = sp[0].iov_len + (n == 2 ? sp[1].iov_len : 0);
        long k = rf_readv(r->rfd, sp, n);
        if (k == -EINTR)
            continue;
        if (k == -EAGAIN) {
            r->readable = false;
            break;
        }
        if (k <= 0) {
            read_ended(r, k);
            break;
        }
        nc__ring_produce(&s->tcp.tx, (size_t)k);
        got = true;
        if (r->shut_pending)
            r->shut_quota -= (size_t)k;
        /* A short read drained the pair (a stream read takes all there is). An end of
         * stream behind the data raises no edge of its own after the one that reported it
         * (EPOLLRDHUP): then read on to it. */
        if ((size_t)k < room && !r->rdhup) {
            r->readable = false;
            break;
        }
    }
    return got;
}

/*
 * TCP, program -> lwIP: rfd into the tx ring, then what nc__tcp_send does after writing
 * (here we hold the lock: flush at once). An app thread of this process may still be in
 * nc__tcp_send on the socket (a socket converted at fork while a thread was in send): the
 * ring has one producer at a time, so we try tx_mu and come back if it is busy.
 */
static void tcp_in(struct netcore_stack *st, struct nc_relay *r, struct nc_sock *s)
{
    if (r->rd_eof)
        return;
    int state = atomic_load(&s->state);
    /* After the program's SHUT_WR, an error, or the end of the connection on both sides,
     * nothing it writes can be sent: the pair must not fill and block it forever. */
    if (r->tx_discard || atomic_load(&s->wr_shut) || state == NC_ST_CLOSED ||
        (state == NC_ST_CONNECTED && s->pcb.tcp == NULL)) {
        discard(r);
        return;
    }
    if (state != NC_ST_CONNECTED) {
        /* Not connected yet: what the program wrote waits in the pair until it is. Closed
         * before that, the socket goes and the bytes with it. */
        if (r->hup)
            r->rd_eof = true;
        return;
    }
    bool got = false;
    if (r->readable) {
        if (!nc__mutex_trylock(&s->tcp.tx_mu)) {
            enqueue(r);
            return;
        }
        got = fill_tx(st, r, s);
        nc__mutex_unlock(&s->tcp.tx_mu);
    }
    if (r->shut_pending && r->shut_quota == 0)
        end_tx(st, r, s);
    else if (got)
        nc__tcp_flush(st, s);
    if (r->rd_eof && !r->hup && !r->tx_discard && !r->reset)
        end_tx(st, r, s); /* the program end was shut in the kernel, not through us */
}

/*
 * TCP, lwIP -> program: the rx ring into rfd, then what nc__tcp_recv does after consuming
 * (rx_full: refill from what lwIP holds). Once the ring is empty after the peer's FIN or an
 * error, the program reads EOF (the error waits for NC_OP_STATUS). Returns true when rfd is
 * full and data waits.
 */
static bool tcp_out(struct netcore_stack *st, struct nc_relay *r, struct nc_sock *s)
{
    int state = atomic_load(&s->state);
    if (r->hup || r->eof_sent || (state != NC_ST_CONNECTED && state != NC_ST_CLOSED))
        return false;
    if (!nc__mutex_trylock(&s->tcp.rx_mu)) {
        enqueue(r);
        return false;
    }
    bool blocked = false;
    bool drop = atomic_load(&s->rd_shut);
    for (;;) {
        struct iovec sp[2];
        int n = nc__ring_read_spans(&s->tcp.rx, sp);
        if (n == 0)
            break;
        size_t want = sp[0].iov_len + (n == 2 ? sp[1].iov_len : 0);
        long k = drop ? (long)want : rf_sendv(r->rfd, sp, n);
        if (k == -EINTR)
            continue;
        if (k == -EAGAIN) {
            blocked = true;
            break;
        }
        if (k < 0) {
            drop = true; /* the program end is gone: nothing will read it */
            continue;
        }
        nc__ring_consume(&s->tcp.rx, (size_t)k);
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_exchange(&s->tcp.rx_full, false))
            nc__tcp_refill(st, s);
        if ((size_t)k < want) {
            blocked = true;
            break;
        }
    }
    nc__mutex_unlock(&s->tcp.rx_mu);
    /* The end before the ring, as recv reads them (tcpapp.c): data marked before an EOF is
     * in the ring once the EOF is seen. */
    bool end = atomic_load(&s->tcp.rx_eof) || atomic_load(&s->rd_shut) || state == NC_ST_CLOSED;
    if (!blocked && end && nc__ring_used(&s->tcp.rx) == 0) {
        rf_shut_wr(r->rfd);
        r->eof_sent = true;
    }
    return blocked;
}

/*
 * A listener: one token byte stays unread in the program end while connections wait, so
 * the program's poll/select/epoll (and a blocking recv(MSG_PEEK) standing in for accept)
 * wake; the client takes the byte before each NC_OP_ACCEPT. The program never writes here:
 * whatever it sends is dropped.
 */
static void listen_pump(struct nc_relay *r, struct nc_sock *s)
{
    /* EPOLLOUT stays on: a client taking the token frees its room, an edge that brings us
     * back here. So a token taken by a client that then never asked (killed, or its
     * request failed before it reached us) is put back while connections still wait. */
    want_out(r, true);
    discard(r);
    if (r->hup || atomic_load(&s->lis.aq_count) == 0)
        return;
    if (rf_ioctl(r->rfd, SIOCOUTQ) == 0)
        nc__raw_syscall(SYS_sendto, r->rfd, "a", 1, MSG_DONTWAIT | MSG_NOSIGNAL, NULL, 0);
}

/* One datagram from the program: header checked field by field, as netcore_sendto would. */
static void udp_send_one(struct netcore_stack *st, struct nc_relay *r, struct nc_sock *s,
                         const struct nc_share_dgram *h, size_t len)
{
    union nc_sockaddr a, ep;
    socklen_t alen = 0;
    memset(&a, 0, sizeof(a));
    if (h->family == AF_INET) {
        a.in.sin_family = AF_INET;
        a.in.sin_port = h->port;
        memcpy(&a.in.sin_addr, h->addr, 4);
        alen = sizeof(a.in);
    } else if (h->family == AF_INET6) {
        a.in6.sin6_family = AF_INET6;
        a.in6.sin6_port = h->port;
        a.in6.sin6_scope_id = h->scope;
        memcpy(&a.in6.sin6_addr, h->addr, 16);
        alen = sizeof(a.in6);
    } else if (h->family != 0) {
        r->tab->bad++;
        return;
    }
    if (alen != 0 && nc__addr_parse(st, s, &a.sa, alen, NC_ADDR_SENDTO, &ep) != 0) {
        r->tab->bad++;
        return;
    }
    /* No one to tell of an error (EDESTADDRREQ, ENETUNREACH...): the datagram is lost, as
     * one the network drops. */
    if (nc__udp_sendto(st, s, r->tab->scratch, len, alen != 0 ? &ep : NULL) < 0)
        r->tab->bad++;
}

/* UDP, program -> lwIP. Returns true when the program end is drained (or ended). */
static bool udp_in(struct netcore_stack *st, struct nc_relay *r, struct nc_sock *s, int budget)
{
    struct nc_relay_tab *t = r->tab;
    for (int i = 0; i < budget && !r->rd_eof && r->readable; i++) {
        struct nc_share_dgram h;
        struct iovec iov[2] = { { &h, sizeof(h) }, { t->scratch, MAX_DGRAM } };
        struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
        long k = rc_of(nc__raw_syscall(SYS_recvmsg, r->rfd, &m, MSG_DONTWAIT));
        if (k == -EINTR)
            continue;
        if (k == -EAGAIN) {
            r->readable = false;
            return true;
        }
        if (k < 0 || (k == 0 && rcv_shut(r->rfd))) {
            r->rd_eof = true;
            break;
        }
        if ((size_t)k < sizeof(h) || (m.msg_flags & MSG_TRUNC)) {
            t->bad++;
            continue;
        }
        if (r->tx_discard || atomic_load(&s->wr_shut))
            continue; /* after SHUT_WR: the program's send would have failed */
        udp_send_one(st, r, s, &h, (size_t)k - sizeof(h));
    }
    if (r->rd_eof || !r->readable)
        return true;
    enqueue(r); /* more may wait: the next round, so one program cannot hold the stack */
    return false;
}

/* UDP, lwIP -> program: the receive queue, each datagram behind its source. */
static bool udp_out(struct nc_relay *r, struct nc_sock *s)
{
    if (r->hup || r->eof_sent)
        return false;
    bool blocked = false;
    bool drop = atomic_load(&s->rd_shut);
    for (;;) {
        /* Taken off the queue before it is sent: an app thread of ours may be reading the
         * queue too, and a datagram must go to one reader only. */
        nc__mutex_lock(&s->udp.dq_mu);
        struct nc_dgram *d = s->udp.dq_head;
        if (d != NULL) {
            s->udp.dq_head = d->next;
            if (s->udp.dq_head == NULL)
                s->udp.dq_tail = &s->udp.dq_head;
            s->udp.dq_bytes -= d->len;
            atomic_fetch_sub(&s->udp.dq_count, 1);
        }
        nc__mutex_unlock(&s->udp.dq_mu);
        if (d == NULL)
            break;
        if (!drop) {
            struct nc_share_dgram h = { .family = (uint16_t)d->from.sa.sa_family };
            if (d->from.sa.sa_family == AF_INET) {
                h.port = d->from.in.sin_port;
                memcpy(h.addr, &d->from.in.sin_addr, 4);
            } else {
                h.port = d->from.in6.sin6_port;
                h.scope = d->from.in6.sin6_scope_id;
                memcpy(h.addr, &d->from.in6.sin6_addr, 16);
            }
            struct iovec iov[2] = { { &h, sizeof(h) }, { d->data, d->len } };
            long k = rf_sendv(r->rfd, iov, 2);
            if (k == -EAGAIN || k == -EINTR) {
                /* Back to the head of the queue, to wait for room (EPOLLOUT). */
                nc__mutex_lock(&s->udp.dq_mu);
                d->next = s->udp.dq_head;
                if (s->udp.dq_head == NULL)
                    s->udp.dq_tail = &d->next;
                s->udp.dq_head = d;
                s->udp.dq_bytes += d->len;
                atomic_fetch_add(&s->udp.dq_count, 1);
                nc__mutex_unlock(&s->udp.dq_mu);
                blocked = true;
                break;
            }
            if (k < 0 && k != -EMSGSIZE)
                drop = true; /* the program end is gone */
        }
        free(d);
    }
    if (!blocked && atomic_load(&s->rd_shut)) {
        rf_shut_wr(r->rfd);
        r->eof_sent = true;
    }
    return blocked;
}

/* Every copy of the program end is closed: netcore_close's work. */
static void close_relayed(struct netcore_stack *st, struct nc_relay *r)
{
    struct nc_sock *s = r->s;
    int err = 0;
    socklen_t len = sizeof(err);
    if (!r->reset && s->type == SOCK_STREAM &&
        nc__raw_syscall(SYS_getsockopt, r->rfd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
        err == ECONNRESET)
        r->reset = true;
    bool reset = r->reset;
    relay_free(r);
    atomic_store(&s->app_closed, true);
    nc__share_sock_changed(st, s); /* a CONNECT waiting on it is answered (share.c) */
    nc__sock_wake(s);
    if (s->type == SOCK_DGRAM) {
        nc__udp_close(st, s);
        return;
    }
    if (reset) {
        s->opt.linger_on = true; /* as SO_LINGER 0: the kernel resets on unread data */
        s->opt.linger_s = 0;
    }
    nc__tcp_close(st, s);
}

/* Does all the socket and rfd allow now; ev: the epoll events that brought us, or 0. */
static void pump(struct netcore_stack *st, struct nc_relay *r, uint32_t ev)
{
    struct nc_sock *s = r->s;
    bool blocked = false;
    if (ev & EPOLLHUP)
        r->hup = true;
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
        r->readable = true;
    if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        r->rdhup = true;
    /* First: share.c answers a waiting connect before the program can see its end's EOF. */
    int state = atomic_load(&s->state);
    if (state != r->state) {
        r->state = state;
        nc__share_sock_changed(st, s);
    }
    if (s->type == SOCK_DGRAM) {
        udp_in(st, r, s, UDP_BUDGET);
        blocked = udp_out(r, s);
        if (r->hup)
            r->rd_eof = true; /* what the program sent last is not worth waiting for */
    } else if (atomic_load(&s->state) == NC_ST_LISTEN) {
        listen_pump(r, s);
        if (r->hup)
            r->rd_eof = true;
    } else {
        tcp_in(st, r, s);
        blocked = tcp_out(st, r, s);
    }
    if (r->hup && r->rd_eof) {
        close_relayed(st, r);
        return;
    }
    want_out(r, blocked);
}

static void on_ready(evutil_socket_t fd, short what, void *arg)
{
    struct netcore_stack *st = arg;
    (void)fd;
    (void)what;
    nc__lock(st);
    nc__relay_events(st);
    nc__run_pending_and_unlock(st);
}

int nc__epwatch_open(struct event_base *base, void (*cb)(int, short, void *), void *arg,
                     int *epfd, struct event **ev)
{
    *ev = NULL;
    *epfd = nc__fd_high((int)rc_of(nc__raw_syscall(SYS_epoll_create1, EPOLL_CLOEXEC)));
    if (*epfd < 0) {
        int err = *epfd;
        *epfd = -1;
        return err;
    }
    if (base != NULL) {
        *ev = event_new(base, *epfd, EV_READ | EV_PERSIST, cb, arg);
        if (*ev == NULL || event_add(*ev, NULL) < 0) {
            nc__epwatch_close(epfd, ev);
            return -ENOMEM;
        }
    }
    return 0;
}

void nc__epwatch_close(int *epfd, struct event **ev)
{
    if (*ev != NULL)
        event_free(*ev);
    *ev = NULL;
    nc__sys_clear_fd(epfd);
}

int nc__relay_setup(struct netcore_stack *st)
{
    struct nc_relay_tab *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -ENOMEM;
    t->qtail = &t->qhead;
    int rc = nc__epwatch_open(st->base, on_ready, st, &t->epfd, &t->ev);
    if (rc != 0) {
        free(t);
        return rc;
    }
    st->relays = t;
    return 0;
}

void nc__relay_teardown(struct netcore_stack *st)
{
    struct nc_relay_tab *t = st->relays;
    if (t == NULL)
        return;
    /* Every socket is freed by now, and its relay with it (nc__sock_free): nothing should be
     * left, and what is cannot reach its socket any more. */
    for (struct nc_relay *r = t->all, *next; r != NULL; r = next) {
        next = r->next;
        nc__sys_close(r->rfd);
        free(r);
    }
    t->all = NULL;
    nc__epwatch_close(&t->epfd, &t->ev);
    free(t->scratch);
    free(t);
    st->relays = NULL;
}

int nc__relay_epfd(struct netcore_stack *st)
{
    return st->relays != NULL ? st->relays->epfd : -1;
}

void nc__relay_events(struct netcore_stack *st)
{
    struct nc_relay_tab *t = st->relays;
    if (t == NULL || t->all == NULL)
        return;
    struct epoll_event ev[EPOLL_BATCH];
    long n = nc__raw_syscall(SYS_epoll_pwait, t->epfd, ev, EPOLL_BATCH, 0, NULL, 0);
    for (long i = 0; i < n; i++) {
        uint32_t id = (uint32_t)ev[i].data.u64;
        uint32_t gen = (uint32_t)(ev[i].data.u64 >> 32);
        if (id >= (uint32_t)st->cfg.max_sockets)
            continue;
        struct nc_sock *s = st->socks[id];
        /* A relay freed by an earlier event of this batch, its slot maybe reused. */
        if (s == NULL || s->relay == NULL || s->relay->gen != gen)
            continue;
        pump(st, s->relay, ev[i].events);
    }
}

bool nc__relay_pending(struct netcore_stack *st)
{
    return st->relays != NULL && st->relays->qhead != NULL;
}

void nc__relay_run(struct netcore_stack *st)
{
    struct nc_relay_tab *t = st->relays;
    if (t == NULL)
        return;
    /* What is queued now; a relay queued again while pumping waits for the next round. */
    for (int n = t->qlen; n > 0; n--) {
        struct nc_relay *r = dequeue(t);
        if (r == NULL)
            break;
        pump(st, r, 0);
    }
}

void nc__relay_notify(struct nc_sock *s)
{
    if (s->relay != NULL)
        enqueue(s->relay);
}

void nc__relay_detach(struct netcore_stack *st, struct nc_sock *s)
{
    if (s->relay != NULL) {
        relay_free(s->relay);
        nc__share_sock_changed(st, s); /* a CONNECT waiting on it is answered (share.c) */
    }
}

/* Caller holds the lock. */
static int export_locked(struct netcore_stack *st, int id)
{
    struct nc_relay_tab *t = st->relays;
    struct nc_sock *s = st->socks[id];
    if (s == NULL || atomic_load(&s->app_closed) || atomic_load(&s->in_aq))
        return -EBADF;
    if (t == NULL)
        return -ENOTSUP;
    if (s->relay != NULL)
        return -EALREADY;
    if (t->scratch == NULL && (t->scratch = malloc(MAX_DGRAM)) == NULL)
        return -ENOMEM;
    int sv[2];
    int type = s->type == SOCK_STREAM ? SOCK_STREAM : SOCK_SEQPACKET;
    if (nc__raw_syscall(SYS_socketpair, AF_UNIX, type | SOCK_CLOEXEC, 0, sv) != 0)
        return -errno;
    sv[0] = nc__fd_high(sv[0]); /* the driver's end; the program end is the program's fd */
    struct stat sb;
    struct nc_relay *r = calloc(1, sizeof(*r));
    int err = -ENOMEM;
    if (r == NULL)
        goto fail;
    if (nc__raw_syscall(SYS_fcntl, sv[0], F_SETFL, O_NONBLOCK) != 0 ||
        nc__raw_syscall(SYS_fstat, sv[1], &sb) != 0) {
        err = -errno;
        goto fail;
    }
    r->tab = t;
    r->s = s;
    r->rfd = sv[0];
    r->dev = sb.st_dev;
    r->ino = sb.st_ino;
    r->gen = ++t->gen;
    r->state = atomic_load(&s->state);
    r->readable = true;
    err = set_events(r, EPOLLIN | EPOLLRDHUP | EPOLLET, EPOLL_CTL_ADD);
    if (err != 0)
        goto fail;
    r->next = t->all;
    if (t->all != NULL)
        t->all->prev = r;
    t->all = r;
    r->hnext = t->hash[r->ino % BUCKETS];
    t->hash[r->ino % BUCKETS] = r;
    atomic_fetch_add(&t->count, 1);
    s->relay = r;
    /* The eventfd was the program's fd of the socket; the program end replaces it at every
     * fd number it had (convert.c). Nobody signals or waits on it from now on, and its
     * number may be one of those fds (a program that dup2'd onto it), so it is let go of
     * now rather than written to later. */
    if (s->efd >= 0) {
        nc__sys_close(s->efd);
        s->efd = -1;
    }
    /* Every call share.c makes on it runs on the netstack thread, which must never wait. */
    atomic_store(&s->nonblock, true);
    enqueue(r); /* what the rings hold already, a listener's token */
    return sv[1];
fail:
    free(r);
    nc__sys_close(sv[0]);
    nc__sys_close(sv[1]);
    return err;
}

int netcore_export(struct netcore_stack *st, int id)
{
    if (st == NULL || id < 0 || id >= st->cfg.max_sockets)
        return -EBADF;
    nc__lock(st);
    int rc = export_locked(st, id);
    nc__run_pending_and_unlock(st); /* pumps it */
    return rc;
}

int nc__relay_find(struct netcore_stack *st, int fd)
{
    struct stat sb;
    /* SO_DOMAIN first: fstat of a client's file on a hung mount would block (closer.c). */
    if (st->relays == NULL || !nc__fd_is_unix(fd) || nc__raw_syscall(SYS_fstat, fd, &sb) != 0 ||
        !S_ISSOCK(sb.st_mode))
        return -EBADF;
    int id = -EBADF;
    nc__lock(st);
    for (struct nc_relay *r = st->relays->hash[(uint64_t)sb.st_ino % BUCKETS]; r != NULL;
         r = r->hnext) {
        if (r->ino == (uint64_t)sb.st_ino && r->dev == (uint64_t)sb.st_dev) {
            id = r->s->id;
            break;
        }
    }
    nc__unlock(st);
    return id;
}

/* The relayed socket id, under the lock; NULL if it is not one. */
static struct nc_sock *relayed(struct netcore_stack *st, int id)
{
    if (id < 0 || id >= st->cfg.max_sockets)
        return NULL;
    struct nc_sock *s = st->socks[id];
    return s != NULL && s->relay != NULL ? s : NULL;
}

static int shutdown_locked(struct netcore_stack *st, struct nc_sock *s, bool rd, bool wr)
{
    struct nc_relay *r = s->relay;
    int state = atomic_load(&s->state);
    if (s->type == SOCK_DGRAM) {
        if (wr && !atomic_load(&s->wr_shut)) {
            /* What the program sent before shutdown still goes out (as much as a few
             * budgets take: a program that goes on sending meanwhile loses the rest). Its
             * EPOLLIN may not have been seen yet: read. */
            r->readable = true;
            for (int i = 0; i < 16 && !udp_in(st, r, s, UDP_BUDGET); i++)
                ;
            atomic_store(&s->wr_shut, true);
            r->tx_discard = true;
        }
        if (rd)
            atomic_store(&s->rd_shut, true);
        nc__sock_notify(s);
        /* As netcore_shutdown: marked shut, but ENOTCONN when not connected. */
        return state == NC_ST_CONNECTED ? 0 : -ENOTCONN;
    }
    if (state == NC_ST_LISTEN || state == NC_ST_CONNECTING)
        return nc__tcp_shutdown(st, s, rd, wr);
    if (state != NC_ST_CONNECTED)
        return -ENOTCONN;
    s->tcp.connect_reported = true; /* connect() now says EISCONN, as in the kernel */
    if (rd)
        nc__tcp_shutdown(st, s, true, false); /* the pump drops rx and ends the program's */
    if (wr && !r->shut_pending && !r->tx_discard && !atomic_load(&s->wr_shut)) {
        /* The FIN goes after every byte the program wrote before asking: those are in the
         * pair now. What it writes later is dropped. */
        int queued = rf_ioctl(r->rfd, FIONREAD);
        r->readable = true; /* their EPOLLIN may not have been seen yet */
        r->rdhup = true;    /* and no short read may stop the reading before the quota */
        r->shut_pending = true;
        r->shut_quota = queued > 0 ? (size_t)queued : 0;
        tcp_in(st, r, s);
    }
    enqueue(r);
    return 0;
}

int nc__relay_shutdown(struct netcore_stack *st, int id, int how)
{
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
        return -EINVAL;
    nc__lock(st);
    struct nc_sock *s = relayed(st, id);
    int rc = s != NULL ? shutdown_locked(st, s, how != SHUT_WR, how != SHUT_RD) : -EBADF;
    nc__run_pending_and_unlock(st);
    return rc;
}

int nc__relay_status(struct netcore_stack *st, int id)
{
    nc__lock(st);
    struct nc_sock *s = relayed(st, id);
    int rc = s != NULL ? -atomic_exchange(&s->so_error, 0) : -EBADF;
    nc__unlock(st);
    return rc;
}

int nc__relay_count(struct netcore_stack *st)
{
    return st->relays != NULL ? atomic_load(&st->relays->count) : 0;
}

uint64_t nc__relay_dropped(struct netcore_stack *st)
{
    return st->relays != NULL ? atomic_load(&st->relays->bad) : 0;
}

/* Every fd of the table, for nc__relay_fds and nc__relay_fork_child (sys.h). */
static void each_fd(struct nc_relay_tab *t, nc_fd_visit *visit, void *arg)
{
    for (struct nc_relay *r = t->all; r != NULL; r = r->next)
        visit(&r->rfd, arg);
    visit(&t->epfd, arg);
}

int nc__relay_fds(struct netcore_stack *st, int *out, int cap)
{
    struct nc_fd_list l = { out, cap, 0 };
    if (st->relays != NULL)
        each_fd(st->relays, nc__fd_list, &l);
    return l.n;
}

void nc__relay_fork_child(struct netcore_stack *st)
{
    if (st->relays != NULL)
        each_fd(st->relays, nc__fd_clear, NULL);
}
