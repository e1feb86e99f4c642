/*
 * Congestion control for lwIP's sender, set around lwIP's input (tcpin.c), its SYN handling
 * (syn.c) and netcore's retransmission timer (rto.c), without patching lwIP. lwIP 2.1.3
 * does Reno: a window of 3 segments at first, half the flight on a loss, and in fast
 * recovery a window counted from the cumulative ACK. Three things of its change here:
 *
 *  - the initial window is RFC 6928's ten segments (min(10 MSS, max(2 MSS, 14600))), as
 *    Linux's: lwIP's 3 leave a short transfer at a 10 ms RTT several round trips behind;
 *  - a loss (fast recovery, or a timeout) leaves 0.7 of the window, CUBIC's beta
 *    (RFC 9438 4.6) and Linux's, instead of half (reno, by name, keeps half): through random
 *    loss of 1% at 1500 bytes, every round trip has a loss, and each cut costs a run of
 *    round trips to grow back;
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
 *
 * Which rules a connection follows is the kernel's choice, by name (TCP_CONGESTION, else
 * net.ipv4.tcp_congestion_control): a program gets what it would get on the kernel. Under
 * "bbr" a model of the path is a floor under all of the above (cc.h): the kernel's BBR does
 * not cut its rate at a loss, and a loss-based sender at 1% random loss stays at a fraction
 * of the path (16 MiB at 10 ms RTT: 2.5x BBR's time with the 0.7 cut, 1.0x with the model).
 * Unlike BBR it does not pace and has no ProbeRTT: its round trip only falls, so a path whose
 * delay grows gets a smaller floor, never a larger one.
 */
#include "cc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <lwip/priv/tcp_priv.h>
#include <lwip/tcp.h>

#include "rexmit.h"

uint32_t nc__cc_iw(uint32_t smss)
{
    uint32_t two = 2 * smss, ten = 10 * smss;
    uint32_t w = two > 14600 ? two : 14600;
    return w < ten ? w : ten;
}

/* num/10 of min(cwnd, snd_wnd), at least floor. */
static uint32_t cut(uint32_t cwnd, uint32_t snd_wnd, uint32_t floor, unsigned num)
{
    uint64_t w = cwnd < snd_wnd ? cwnd : snd_wnd;
    w = w * num / 10u;
    return w > floor ? (uint32_t)w : floor;
}

uint32_t nc__cc_ssthresh(uint32_t cwnd, uint32_t snd_wnd, uint32_t floor)
{
    return cut(cwnd, snd_wnd, floor, NC_CC_BETA_NUM * 10u / NC_CC_BETA_DEN);
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

/* The ssthresh after a loss: the algorithm's share of the window, not below bbr's model. */
static uint32_t reduced(const struct tcp_pcb *pcb, uint32_t cwnd, const struct nc_cc *c)
{
    bool reno = c != NULL && c->algo == NC_CC_RENO;
    uint32_t w = reno ? cut(cwnd, pcb->snd_wnd, 2u * pcb->mss, 5)
                      : nc__cc_ssthresh(cwnd, pcb->snd_wnd, 2u * pcb->mss);
    uint32_t model = c != NULL ? nc__cc_target(c) : 0; /* 0 but for bbr */
    return model > w ? model : w;
}

void nc__cc_loss(struct tcp_pcb *pcb, uint32_t cwnd, struct nc_cc *c)
{
    if (c != NULL)
        c->timing = false;
    /* lwIP set cwnd to ssthresh + 3 segments (RFC 5681's inflation for the three duplicate
     * ACKs that left the network), and so does this, for the new ssthresh. */
    pcb->ssthresh = reduced(pcb, cwnd, c);
    pcb->cwnd = nc__cc_recovery_cwnd(pcb->ssthresh, pcb->mss, 0);
    nc__cc_recovery(pcb);
}

void nc__cc_timeout(struct tcp_pcb *pcb, bool first, struct nc_cc *c)
{
    if (c != NULL)
        c->timing = false;
    /* A timeout in fast recovery, or after another, keeps the ssthresh that episode set, as
     * Linux does: the window then is an inflated one, or already a single segment. bbr too
     * starts again from one segment (go-back-N resends the whole flight); its model brings
     * the window back once what was outstanding is acknowledged (TF_RTO cleared). */
    if (first)
        pcb->ssthresh = reduced(pcb, pcb->cwnd, c);
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

static const char *const names[] = { [NC_CC_RENO] = "reno", [NC_CC_CUBIC] = "cubic",
                                      [NC_CC_BBR] = "bbr" };

int nc__cc_algo_parse(const char *name)
{
    for (int a = NC_CC_RENO; a <= NC_CC_BBR; a++)
        if (strcmp(name, names[a]) == 0)
            return a;
    return -ENOENT;
}

const char *nc__cc_algo_name(int algo)
{
    return algo >= NC_CC_RENO && algo <= NC_CC_BBR ? names[algo] : names[NC_CC_CUBIC];
}

int nc__cc_system_default(void)
{
#ifdef NETCORE_FUZZ
    return NC_CC_CUBIC; /* the same runs whatever the machine's setting */
#else
    char buf[32] = "";
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_congestion_control", "re");
    if (f == NULL)
        return NC_CC_CUBIC;
    if (fgets(buf, sizeof(buf), f) == NULL)
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    int a = nc__cc_algo_parse(buf);
    return a > 0 ? a : NC_CC_CUBIC;
#endif
}

void nc__cc_reset(struct nc_cc *c, int algo, const struct tcp_pcb *pcb)
{
    memset(c, 0, sizeof(*c));
    c->algo = (uint8_t)(algo > NC_CC_DEFAULT && algo <= NC_CC_BBR ? algo : NC_CC_CUBIC);
    c->base = pcb->lastack;
    c->snd_max = pcb->snd_nxt;
}

void nc__cc_resync(struct nc_cc *c, const struct tcp_pcb *pcb)
{
    c->timing = false;
    c->t0 = 0;
    c->base = pcb->lastack;
    c->snd_max = pcb->snd_nxt;
}

uint32_t nc__cc_target(const struct nc_cc *c)
{
    if (c->algo != NC_CC_BBR || c->min_rtt == 0)
        return 0;
    uint64_t bw = 0;
    for (int i = 0; i < NC_CC_BW_N; i++)
        if (c->bw[i] > bw)
            bw = c->bw[i];
    /* Twice the path's bytes in flight (BBR's cwnd_gain), at most 64 MiB: far above any
     * send buffer here. bw is below 2^40 and min_rtt below 2^32: no overflow. */
    uint64_t w = bw / 1000u * c->min_rtt / 1000u * 2u;
    return w < (64u << 20) ? (uint32_t)w : (64u << 20);
}

void nc__cc_update(struct nc_cc *c, struct tcp_pcb *pcb, uint64_t now)
{
    if (c->algo != NC_CC_BBR)
        return;
    /* The round trip: new data's, until the cumulative ACK covers it. A hole below it only
     * makes a sample longer, which the least of them passes over. */
    if (c->timing && TCP_SEQ_GEQ(pcb->lastack, c->rtt_seq)) {
        uint64_t rtt = now - c->rtt_at;
        if (rtt > 0 && rtt < UINT32_MAX && (c->min_rtt == 0 || rtt < c->min_rtt))
            c->min_rtt = (uint32_t)rtt;
        c->timing = false;
    }
    if (TCP_SEQ_GT(pcb->snd_nxt, c->snd_max)) {
        /* Only data this call finds in flight: what went out and came back between two
         * looks (lwIP's timers send too) would time as a few microseconds. */
        if (!c->timing && TCP_SEQ_GT(pcb->snd_nxt, pcb->lastack)) {
            c->timing = true;
            c->rtt_seq = pcb->snd_nxt;
            c->rtt_at = now;
        }
        c->snd_max = pcb->snd_nxt;
    }
    /* The rate: what reached the peer (acknowledged, or SACKed above the ACK) over at least
     * a round trip (ACKs come in bursts), while data is in flight. */
    uint32_t sacked = 0;
    (void)nc__rexmit_sacked(pcb, &sacked);
    uint32_t d = pcb->lastack - c->base + sacked;
    if (pcb->unacked == NULL && pcb->unsent == NULL) {
        c->t0 = 0; /* idle: a sample over an idle time says nothing of the path */
    } else if (c->t0 == 0) {
        c->t0 = now;
        c->d0 = d;
    } else {
        uint64_t span = now - c->t0, least = c->min_rtt > 1000u ? c->min_rtt : 1000u;
        int32_t got = (int32_t)(d - c->d0);
        if (got < 0) {
            /* SACKed bytes the scoreboard let go (it keeps 64 blocks): start over from here
             * rather than count back. */
            c->t0 = now;
            c->d0 = d;
        } else if (span >= least) {
            uint64_t bw = (uint64_t)got * 1000000u / span;
            c->bw[c->bw_i] = bw < (1ull << 40) ? bw : (1ull << 40);
            c->bw_i = (uint8_t)((c->bw_i + 1) % NC_CC_BW_N);
            c->t0 = now;
            c->d0 = d;
        }
    }
    /* Outside recovery and a timeout's go-back-N, the window is at least the model's. */
    uint32_t w = nc__cc_target(c);
    if (!(pcb->flags & (TF_INFR | TF_RTO)) && w > pcb->cwnd)
        pcb->cwnd = w;
    /* The queue, twice the window. lwIP's snd_buf is the room left: what the queue may hold
     * is that and what it holds (from the oldest byte not acknowledged to the last queued),
     * so the room grows by what the bound grows, never counted twice. */
    uint32_t q = w < NC_CC_SNDBUF_MAX / 2 ? 2u * w : NC_CC_SNDBUF_MAX;
    uint32_t held = TCP_SEQ_GT(pcb->snd_lbb, pcb->lastack) ? pcb->snd_lbb - pcb->lastack : 0;
    uint64_t cap = (uint64_t)pcb->snd_buf + held;
    if (q > cap && pcb->state == ESTABLISHED)
        pcb->snd_buf += (tcpwnd_size_t)(q - cap);
}
