/*
 * The program's side of a TCP socket: send and recv on the connection's rings without the
 * stack lock (the netstack's side is tcpdata.c: the two meet only in the rings, the tx_idle
 * and rx_full flags and a kick), and the options and figures that setsockopt, getsockopt and
 * ioctl read or write on the pcb (those under the stack lock: the pcb is tcp.c's and may go
 * at any time without it).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>

#include <lwip/ip.h>
#include <lwip/tcp.h>
#include <lwip/priv/tcp_priv.h>

#include "addr.h"
#include "cfg.h"
#include "devwatch.h"
#include "errmap.h"
#include "netcore.h"
#include "offload.h"
#include "relay.h"
#include "ring.h"
#include "sock.h"
#include "rto.h"
#include "shimapi.h"
#include "sockopt.h"
#include "stack.h"

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
    size_t n = nc__ring_used(&s->tcp.tx); /* not handed to lwIP yet */
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

/*
 * The wait of a send or recv that can go no further now: lets go of mu (the call's ring
 * lock), sleeps until s has events or timeout_ms ends, and on waking takes mu again and
 * returns 0. Else mu stays free and the result is what the call returns: the bytes moved so
 * far (a partial transfer is reported first, as in the kernel), else -EAGAIN when the time
 * ran out or the wait's error (-EINTR...).
 */
static ssize_t wait_unlocked(struct nc_sock *s, pthread_mutex_t *mu, unsigned events,
                             int timeout_ms, sig_atomic_t handled, size_t done)
{
    nc__mutex_unlock(mu);
    int r = nc__sock_wait(s, events, timeout_ms, handled);
    if (r <= 0)
        return done > 0 ? (ssize_t)done : r == 0 ? -EAGAIN : r;
    nc__mutex_lock(mu);
    return 0;
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
    nc__mutex_lock(&s->tcp.tx_mu);
    for (;;) {
        if (atomic_load(&s->so_error) != 0) {
            nc__mutex_unlock(&s->tcp.tx_mu);
            /* After a partial write the error waits for the next call, as in the kernel. */
            return done > 0 ? (ssize_t)done : -atomic_exchange(&s->so_error, 0);
        }
        int state = atomic_load(&s->state);
        if (state == NC_ST_CONNECTING) {
            if (timeout == 0) {
                nc__mutex_unlock(&s->tcp.tx_mu);
                return -EAGAIN;
            }
        } else if (state != NC_ST_CONNECTED || atomic_load(&s->wr_shut)) {
            /* Not connected at all is EPIPE too (and SIGPIPE): Linux, not POSIX's ENOTCONN. */
            nc__mutex_unlock(&s->tcp.tx_mu);
            return done > 0 ? (ssize_t)done : -EPIPE;
        } else {
            if (buf == NULL && len > 0) {
                nc__mutex_unlock(&s->tcp.tx_mu);
                return -EFAULT;
            }
            if (done < len && s->tcp.tx.buf == NULL) {
                /* No memory for the ring: nothing to wait for, as the kernel's ENOBUFS. */
                int err = nc__ring_alloc(&s->tcp.tx, st->cfg.ring_mem);
                if (err != 0) {
                    nc__mutex_unlock(&s->tcp.tx_mu);
                    return done > 0 ? (ssize_t)done : -ENOBUFS;
                }
            }
            /* send(NULL, 0) is valid: no pointer arithmetic on NULL (UBSan) */
            size_t n = done < len
                           ? nc__ring_write(&s->tcp.tx, (const uint8_t *)buf + done, len - done)
                           : 0;
            done += n;
            if (n > 0) {
                atomic_thread_fence(memory_order_seq_cst);
                if (atomic_exchange(&s->tcp.tx_idle, false))
                    nc__kick(st, s, NC_KICK_TX);
            }
            if (done == len)
                break;
            nc__sock_settle(s); /* the ring is full: no longer writable */
            if (timeout == 0)
                break;
        }
        ssize_t r = wait_unlocked(s, &s->tcp.tx_mu, POLLOUT, nc__left_ms(&deadline, timeout),
                                  handled, done);
        if (r != 0)
            return r;
    }
    nc__mutex_unlock(&s->tcp.tx_mu);
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
    nc__mutex_lock(&s->tcp.rx_mu);
    for (;;) {
        size_t n;
        if (buf == NULL && len > 0 && nc__ring_used(&s->tcp.rx) > 0) {
            nc__mutex_unlock(&s->tcp.rx_mu); /* only a copy finds out, as in the kernel */
            return -EFAULT;
        }
        /* recv(NULL, ...) with nothing there waits or says EAGAIN like any other: no
         * pointer arithmetic on NULL, no copy (UBSan) */
        if (done == len || buf == NULL) {
            n = 0;
        } else if (flags & MSG_PEEK) {
            n = nc__ring_peek(&s->tcp.rx, (uint8_t *)buf + done, len - done);
        } else {
            n = nc__ring_read(&s->tcp.rx, (uint8_t *)buf + done, len - done);
            if (n > 0) {
                atomic_thread_fence(memory_order_seq_cst);
                if (atomic_exchange(&s->tcp.rx_full, false))
                    nc__kick(st, s, NC_KICK_RX);
            }
        }
        done += n;
        if (n > 0 && !(flags & MSG_PEEK))
            nc__sock_settle(s);
        if ((done == len && len > 0) || (done > 0 && !(flags & MSG_WAITALL)) ||
            (flags & MSG_PEEK && n > 0))
            break;
        /* What ends the call, read before the ring is: the netstack puts data in the ring
         * before it marks the EOF, error or close that follows it, so data that came before
         * an end seen here is in the ring now. Read after, an end marked between the two
         * reads passed for one with nothing before it: the peer's last bytes and its FIN in
         * one batch were lost to an EOF (connrate, about 1 run in 4 with both threads on
         * one CPU). */
        bool eof = atomic_load(&s->tcp.rx_eof) || atomic_load(&s->rd_shut);
        bool err = atomic_load(&s->so_error) != 0;
        state = atomic_load(&s->state);
        if (nc__ring_used(&s->tcp.rx) > 0) {
            if (len == 0)
                break;
            continue;
        }
        if (eof)
            break;
        int e = err ? atomic_exchange(&s->so_error, 0) : 0;
        if (e != 0) {
            nc__mutex_unlock(&s->tcp.rx_mu);
            return done > 0 ? (ssize_t)done : -e;
        }
        if (state == NC_ST_CLOSED)
            break;
        if (state != NC_ST_CONNECTED && state != NC_ST_CONNECTING) {
            nc__mutex_unlock(&s->tcp.rx_mu); /* disconnected under a blocked recv */
            return done > 0 ? (ssize_t)done : -ENOTCONN;
        }
        if (timeout == 0) {
            nc__mutex_unlock(&s->tcp.rx_mu);
            if (done == 0)
                nc__devwatch_claim(s->st); /* what it looks for comes through the device */
            return done > 0 ? (ssize_t)done : -EAGAIN;
        }
        ssize_t r = wait_unlocked(s, &s->tcp.rx_mu, POLLIN, nc__left_ms(&deadline, timeout),
                                  handled, done);
        if (r != 0)
            return r;
    }
    nc__mutex_unlock(&s->tcp.rx_mu);
    return (ssize_t)done;
}
