/*
 * The TCP data path between a connection's two rings and lwIP, under the stack lock.
 *
 * Data moves through two rings per connection so the program never waits for the netstack
 * on the data path: send() copies into tx and kicks the netstack only when it had gone idle
 * (tx_idle); the netstack drains tx into tcp_write as lwIP's send buffer allows
 * (nc__tcp_flush, again from on_sent as ACKs free room). Received pbufs themselves go into
 * rx, a chunk ring (ring.c): recv copies from their payloads, and they are freed here once
 * read. They are acknowledged to the peer with tcp_recved as they land there; what does not
 * fit stays in rx_pending, unacknowledged, so the advertised window closes and a slow reader
 * stalls the sender. recv() kicks the netstack only when it is holding data (rx_full:
 * nc__tcp_refill).
 * When ACKs go out is ackpol.c's to say.
 *
 * tcp.c registers this file's callbacks on the pcb and owns the pcb's life; a socket the
 * program closed goes back to it (nc__tcp_finish_close) once tx is empty. tcpapp.c is the
 * other side of both rings.
 */
#include <string.h>

#include <lwip/tcp.h>
#include <lwip/priv/tcp_priv.h>

#include "ackpol.h"
#include "addr.h"
#include "cfg.h"
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
#include "tcppriv.h"

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
    if (s->tcp.rx_pending == NULL)
        s->tcp.rx_pending = p;
    else
        s->tcp.rx_pend_last->next = p;
    while (p->next != NULL)
        p = p->next;
    s->tcp.rx_pend_last = p;
    s->tcp.rx_coll_end = NULL;
}

/*
 * Small segments behind unread data are copied together (the kernel's tcp_collapse does the
 * same for its receive queue). Each received pbuf costs a hundred bytes or so beside its
 * payload (the struct, the frame's headers, malloc's own), and what waits in rx_pending is
 * bounded only by the window: a peer sending one byte per segment to a program that does not
 * read made the 1 MiB window cost ~90 MiB (tests/check_rxmem). A pbuf of at most
 * COLLAPSE_MAX bytes arriving while data waits is copied into a collapse buffer of
 * COLLAPSE_CAP at rx_pending's tail, and freed: what waits then costs a few percent beyond
 * the data. A program that reads as data comes finds rx_pending empty and is not charged a
 * copy.
 */
#define COLLAPSE_MAX 512
#define COLLAPSE_CAP 4000

/* Copies q's bytes to rx_pending's tail collapse buffer, starting a new one when the tail is
 * none or full; false (q untouched) when no memory. */
static bool collapse(struct nc_sock *s, const struct pbuf *q)
{
    struct pbuf *t = s->tcp.rx_pend_last;
    uint8_t *end = s->tcp.rx_coll_end;
    if (end == NULL || (size_t)(end - ((uint8_t *)t->payload + t->len)) < q->len) {
        t = pbuf_alloc(PBUF_RAW, COLLAPSE_CAP, PBUF_RAM);
        if (t == NULL)
            return false;
        end = (uint8_t *)t->payload + COLLAPSE_CAP;
        t->len = t->tot_len = 0;
        pend(s, t);
        s->tcp.rx_coll_end = end;
    }
    /* Bytes lent off t's front (lend_head) stay before its payload: the end is still the
     * end. */
    memcpy((uint8_t *)t->payload + t->len, q->payload, q->len);
    t->len = (u16_t)(t->len + q->len);
    t->tot_len = t->len;
    return true;
}

/* pend, with a chain's small pbufs collapsed while data waits. */
static void pend_collapsing(struct nc_sock *s, struct pbuf *p)
{
    if (s->tcp.rx_pending == NULL && p->next == NULL) {
        pend(s, p); /* the usual case: nothing waits */
        return;
    }
    while (p != NULL) {
        struct pbuf *q = p;
        p = q->next;
        q->next = NULL;
        q->tot_len = q->len;
        if (s->tcp.rx_pending != NULL && q->len <= COLLAPSE_MAX && collapse(s, q))
            pbuf_free(q);
        else
            pend(s, q);
    }
}

/* Takes the head pbuf off rx_pending and frees it. */
static void unpend_head(struct nc_sock *s)
{
    struct pbuf *p = s->tcp.rx_pending;
    s->tcp.rx_pending = p->next;
    p->next = NULL;
    pbuf_free(p);
}

void nc__tcp_rx_drop(struct nc_sock *s)
{
    while (s->tcp.rx_pending != NULL)
        unpend_head(s);
}

/* rx's owners go back to lwIP as the program has read them (under the stack lock). */
static void drop_pbuf(void *owner)
{
    pbuf_free(owner);
}

/* Lends what it can of the head pbuf of rx_pending to rx; returns the bytes lent. */
static size_t lend_head(struct nc_sock *s)
{
    struct pbuf *p = s->tcp.rx_pending;
    if (p->len == 0) {
        unpend_head(s);
        return 0;
    }
    size_t room = nc__ring_lend_room(&s->tcp.rx);
    if (room == 0)
        return 0;
    if (room >= p->len) {
        size_t n = p->len;
        nc__ring_lend(&s->tcp.rx, p->payload, n, p);
        s->tcp.rx_pending = p->next; /* rx holds its reference now */
        p->next = NULL;
        return n;
    }
    /* rx is nearly full: its first bytes go, with a reference of their own; the rest waits. */
    pbuf_ref(p);
    nc__ring_lend(&s->tcp.rx, p->payload, room, p);
    pbuf_remove_header(p, room);
    return room;
}

/* Moves pending received data into rx; acknowledges what landed there. */
static void rx_fill(struct nc_sock *s)
{
    /* No memory for the ring: the data waits in rx_pending and its window is not given
     * back (recved), so the peer stops at a closed window; on_poll tries again. */
    if (s->tcp.rx.buf == NULL && s->tcp.rx_pending != NULL &&
        nc__ring_alloc_chunks(&s->tcp.rx, s->st->cfg.ring_mem, drop_pbuf) != 0)
        return;
    for (;;) {
        size_t moved = 0;
        while (s->tcp.rx_pending != NULL) {
            bool empty = s->tcp.rx_pending->len == 0;
            size_t n = lend_head(s);
            if (n == 0 && !empty)
                break; /* rx is full */
            moved += n;
        }
        if (moved > 0) {
            if (s->pcb.tcp != NULL)
                recved(s->pcb.tcp, moved);
            nc__sock_notify_later(s);
        }
        if (s->tcp.rx_pending == NULL) {
            if (s->tcp.fin_pending) {
                s->tcp.fin_pending = false;
                atomic_store(&s->tcp.rx_eof, true);
                nc__sock_notify_later(s);
            }
            return;
        }
        /* Ask the reader to kick us when it frees space; re-check in case it just did. */
        atomic_store(&s->tcp.rx_full, true);
        atomic_thread_fence(memory_order_seq_cst);
        if (nc__ring_lend_room(&s->tcp.rx) == 0 || !atomic_exchange(&s->tcp.rx_full, false))
            return;
    }
}

err_t nc__tcp_on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
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
        nc__tcp_detach(s);
        tcp_abort(pcb);
        nc__sock_free(s->st, s);
        return ERR_ABRT;
    }
    if (p == NULL) {
        if (s->tcp.rx_pending != NULL)
            s->tcp.fin_pending = true;
        else
            atomic_store(&s->tcp.rx_eof, true);
        nc__tcp_fin_ack(s->st, pcb);
        nc__sock_notify(s);
        return ERR_OK;
    }
    /* Against a kernel peer's Nagle, lwIP's own delayed ACK (every other segment, the rest
     * at its 250 ms timer) stalls request/response: ackpol.c decides instead. */
    nc__ack_recv(s->st, s, pcb, p);
    pend_collapsing(s, p);
    rx_fill(s);
    return ERR_OK;
}

void nc__tcp_refill(struct netcore_stack *st, struct nc_sock *s)
{
    (void)st;
    if (s->tcp.rx_pending != NULL)
        rx_fill(s);
}

err_t nc__tcp_on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
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
err_t nc__tcp_on_poll(void *arg, struct tcp_pcb *pcb)
{
    struct nc_sock *s = arg;
    (void)pcb;
    if (s == NULL)
        return ERR_OK;
    /* The mutex first: a program thread allocates tx under tx_mu (its buf pointer is not
     * ours to read meanwhile). A busy mutex means a busy ring: not idle this tick. */
    if (nc__mutex_trylock(&s->tcp.rx_mu)) {
        /* The pbufs the program read since the last data came go back (the next lend would
         * free them otherwise); with the reader kept out, as after a reopen's emptying. */
        nc__ring_reclaim(&s->tcp.rx);
        if (nc__ring_idle(&s->tcp.rx))
            nc__ring_release(&s->tcp.rx);
        nc__mutex_unlock(&s->tcp.rx_mu);
    }
    if (nc__mutex_trylock(&s->tcp.tx_mu)) {
        if (nc__ring_idle(&s->tcp.tx))
            nc__ring_release(&s->tcp.tx);
        nc__mutex_unlock(&s->tcp.tx_mu);
    }
    if (s->tcp.rx_pending != NULL && s->tcp.rx.buf == NULL)
        rx_fill(s);
    if (s->tcp.tx_nomem && s->relay != NULL) {
        s->tcp.tx_nomem = false;
        nc__relay_notify(s);
    }
    return ERR_OK;
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
        if (nc__ring_read_spans(&s->tcp.tx, sp) == 0) {
            atomic_store(&s->tcp.tx_idle, true);
            atomic_thread_fence(memory_order_seq_cst);
            if (nc__ring_used(&s->tcp.tx) == 0 || !atomic_exchange(&s->tcp.tx_idle, false))
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
        if (n < nc__ring_used(&s->tcp.tx))
            fl |= TCP_WRITE_FLAG_MORE;
        if (tcp_write(pcb, sp[0].iov_base, (u16_t)n, fl) != ERR_OK)
            break; /* out of segments: on_sent continues */
        nc__ring_consume(&s->tcp.tx, n);
        wrote = true;
    }
    if (wrote) {
        output_minshall(st, pcb);
        nc__rto_output(st, pcb);
        nc__sock_notify_later(s); /* tx has room: once per batch of ACKs */
    }
    if (nc__ring_used(&s->tcp.tx) != 0)
        return;
    if (atomic_load(&s->app_closed)) {
        nc__tcp_finish_close(st, s);
    } else if (atomic_load(&s->wr_shut) && !atomic_load(&s->tcp.fin_sent)) {
        if (tcp_shutdown(pcb, 0, 1) == ERR_OK)
            atomic_store(&s->tcp.fin_sent, true);
    }
}
