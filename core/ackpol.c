/*
 * When received TCP data is acknowledged.
 *
 * lwIP acknowledges every second segment at the end of its input and leaves the other one to
 * its 250 ms fast timer; netcore used to acknowledge every segment at once instead, because a
 * kernel peer's Nagle holds a request's short tail until its data is acknowledged. With TAP
 * offloads a received frame is a super-segment of tens of KB, and every ACK netcore writes to
 * the TAP runs the peer kernel's ACK processing and its next transmission inside that write(),
 * on the receiving program's CPU time: most of what receiving costs beyond copying.
 *
 * So, as a kernel receiver does, an ACK is sent at once only where the peer needs it soon:
 *  - the first segments of a connection (the peer's slow start grows by what is acknowledged);
 *  - out-of-order data just filled in, or holes still open (lwIP acknowledges the out-of-order
 *    segments themselves at once, with SACK blocks);
 *  - the peer has used half the window we last told it of: it must hear from us before it
 *    runs out (the bound on what is left unacknowledged);
 *  - the connection is not plainly established (a FIN came, or ours went);
 *  - a segment that did not come through the device pump (looped to our own address:
 *    nc__ack_flush would not see its batch end). IPv4 and IPv6 alike (until 2026-12-02 an
 *    IPv6 segment came without its record and was acknowledged at once: 1.04 ACKs per
 *    received frame of iperf3 -R over IPv6 against 0.60 over IPv4, now 0.59).
 * Every other ACK is left pending and sent when the device batch ends (nc__pump_device: the
 * queue is empty or the batch limit hit): no added latency when the queue drains, a
 * delayed-ACK timer of zero instead of lwIP's 250 ms, and one ACK for all the segments of a
 * batch. Waiting longer (for the end of the peer's write, PSH) stalls a peer limited by its
 * congestion window, which then retransmits on its loss-probe timer. Data the program sends
 * in the meantime carries the ACK instead.
 */
#include "ackpol.h"

#include <lwip/tcp.h>
#include <lwip/priv/tcp_priv.h>

#include "rto.h"
#include "rxframe.h"
#include "sock.h"
#include "stack.h"

/* Data segments at the start of a connection acknowledged each at once (the kernel's
 * quick-ACK mode covers about as many). */
#define QUICK_SEGS 8

/* What the peer may still send before it reaches the right edge we last announced. */
static u32_t peer_window(const struct tcp_pcb *pcb)
{
    s32_t left = (s32_t)(pcb->rcv_ann_right_edge - pcb->rcv_nxt);
    return left > 0 ? (u32_t)left : 0;
}

/*
 * As lwIP delivers received data p to the socket (on_recv, before it goes to rx): leaves
 * the connection's ACK either due now (lwIP sends it at the end of its input) or pending
 * until nc__ack_flush.
 */
void nc__ack_recv(struct netcore_stack *st, struct nc_sock *s, struct tcp_pcb *pcb,
                  const struct pbuf *p)
{
    const struct nc_tcpseg *seg = st->rx_seg;
    bool start = s->tcp.rx_quick < QUICK_SEGS;
    if (start)
        s->tcp.rx_quick++;
    /* The segment brought more or less than what was delivered: a hole it filled (lwIP
     * chains the queued data behind it) or a partial retransmission. */
    bool quick = seg == NULL || !seg->tcp || seg->len != p->tot_len || p->next != NULL ||
                 pcb->ooseq != NULL || pcb->state != ESTABLISHED || start ||
                 peer_window(pcb) < TCP_WND_MAX(pcb) / 2;
    if (quick) {
        tcp_ack_now(pcb);
        return;
    }
    /* lwIP's own tcp_ack may have made it due (every second segment): pending instead. */
    tcp_clear_flags(pcb, TF_ACK_NOW);
    tcp_set_flags(pcb, TF_ACK_DELAY);
    st->ack_owed = true;
}

/*
 * At the end of each device batch, under the stack lock: sends the ACKs nc__ack_recv left
 * pending. A walk of the active connections, only after a batch that left one.
 */
void nc__ack_flush(struct netcore_stack *st)
{
    if (!st->ack_owed)
        return;
    st->ack_owed = false;
    for (struct tcp_pcb *pcb = tcp_active_pcbs; pcb != NULL; pcb = pcb->next) {
        if (pcb->flags & TF_ACK_DELAY) {
            tcp_ack_now(pcb);
            tcp_output(pcb);
            nc__rto_output(st, pcb); /* data it may have sent along */
        }
    }
}
