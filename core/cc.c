/*
 * Congestion control for lwIP's sender, set around lwIP's input (tcpin.c), its SYN handling
 * (syn.c) and netcore's retransmission timer (rto.c), without patching lwIP. lwIP 2.1.3
 * does Reno: a window of 3 segments at first, half the flight on a loss, and in fast
 * recovery a window counted from the cumulative ACK. Three things of its change here:
 *
 *  - the initial window is RFC 6928's ten segments (min(10 MSS, max(2 MSS, 14600))), as
 *    Linux's: lwIP's 3 leave a short transfer at a 10 ms RTT several round trips behind;
 *  - a loss (fast recovery, or a timeout) leaves 0.7 of the window, CUBIC's beta
 *    (RFC 9438 4.6) and Linux's, instead of half: through random loss of 1% at 1500 bytes,
 *    every round trip has a loss, and each halving costs a run of round trips to grow back;
 *  - in fast recovery with SACK, the window grows by what the peer SACKs, as RFC 5681's
 *    grows by a segment per duplicate ACK: lwIP's window in recovery reaches from the
 *    cumulative ACK, and a Linux receiver's duplicate ACKs never inflate it (their window
 *    grows with each segment queued out of order, so lwIP does not count them as
 *    duplicates), so recovery sent nothing new past ssthresh + 3 segments until the first
 *    hole was repaired, a round trip at least, more when a retransmission was lost too
 *    (16 MiB through 5% loss: 1.6 of 2.0 s in recovery). The window in recovery is ssthresh, plus
 *    lwIP's 3 segments, plus the bytes SACKed above the cumulative ACK (RFC 6675's pipe
 *    without its lost-segment rule: a hole not yet resent still counts as in flight).
 *
 * Growth between losses stays lwIP's: slow start by bytes acknowledged (RFC 3465, L = 2
 * segments), then one segment per window acknowledged. With TAP offloads a segment of lwIP's
 * is a super-segment (syn.c raises pcb->mss to ~44 real segments), and so is its floor of two
 * segments for ssthresh, which the window never goes below; the reduction above is in bytes
 * and the same either way.
 */
#include "cc.h"

#include <lwip/priv/tcp_priv.h>
#include <lwip/tcp.h>

#include "rexmit.h"

uint32_t nc__cc_iw(uint32_t smss)
{
    uint32_t two = 2 * smss, ten = 10 * smss;
    uint32_t w = two > 14600 ? two : 14600;
    return w < ten ? w : ten;
}

uint32_t nc__cc_ssthresh(uint32_t cwnd, uint32_t snd_wnd, uint32_t floor)
{
    uint64_t w = cwnd < snd_wnd ? cwnd : snd_wnd;
    w = w * NC_CC_BETA_NUM / NC_CC_BETA_DEN;
    return w > floor ? (uint32_t)w : floor;
}

uint32_t nc__cc_recovery_cwnd(uint32_t ssthresh, uint32_t smss, uint32_t sacked)
{
    uint64_t w = (uint64_t)ssthresh + 3u * (uint64_t)smss + sacked;
    return w > UINT32_MAX ? UINT32_MAX : (uint32_t)w;
}

void nc__cc_established(struct tcp_pcb *pcb)
{
    uint32_t iw = nc__cc_iw(pcb->mss);
    if (pcb->cwnd < iw)
        pcb->cwnd = iw;
}

void nc__cc_loss(struct tcp_pcb *pcb, uint32_t cwnd)
{
    /* lwIP set cwnd to ssthresh + 3 segments (RFC 5681's inflation for the three duplicate
     * ACKs that left the network), and so does this, for the new ssthresh. */
    pcb->ssthresh = nc__cc_ssthresh(cwnd, pcb->snd_wnd, 2u * pcb->mss);
    pcb->cwnd = nc__cc_recovery_cwnd(pcb->ssthresh, pcb->mss, 0);
    nc__cc_recovery(pcb);
}

void nc__cc_timeout(struct tcp_pcb *pcb, bool first)
{
    /* A timeout in fast recovery, or after another, keeps the ssthresh that episode set, as
     * Linux does: the window then is an inflated one, or already a single segment. */
    if (first)
        pcb->ssthresh = nc__cc_ssthresh(pcb->cwnd, pcb->snd_wnd, 2u * pcb->mss);
    pcb->cwnd = pcb->mss;
    pcb->bytes_acked = 0;
}

void nc__cc_recovery(struct tcp_pcb *pcb)
{
    /* Not after a timeout in recovery (lwIP keeps TF_INFR through one): go-back-N starts
     * from one segment until what was outstanding then is acknowledged (TF_RTO). */
    uint32_t sacked;
    if ((pcb->flags & (TF_INFR | TF_RTO)) == TF_INFR && nc__rexmit_sacked(pcb, &sacked))
        pcb->cwnd = nc__cc_recovery_cwnd(pcb->ssthresh, pcb->mss, sacked);
}
