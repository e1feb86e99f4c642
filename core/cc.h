/* cc.c: congestion control around lwIP's. */
#ifndef NC_CC_H
#define NC_CC_H

#include <stdbool.h>
#include <stdint.h>

struct tcp_pcb;

/* Pure: RFC 6928's initial window for
 * smss; the ssthresh after a loss, NC_CC_BETA of min(cwnd, snd_wnd) and at least floor; the
 * window in recovery, ssthresh + 3 smss + what the peer SACKed. On a pcb: the initial window
 * once established; a loss detected by duplicate ACKs or SACK (lwIP entered fast recovery;
 * cwnd: its window before); a timeout (first: not in fast recovery or after another timeout,
 * so ssthresh is reduced); the window in recovery after an ACK. */
#define NC_CC_BETA_NUM 7
#define NC_CC_BETA_DEN 10
uint32_t nc__cc_iw(uint32_t smss);
uint32_t nc__cc_ssthresh(uint32_t cwnd, uint32_t snd_wnd, uint32_t floor);
uint32_t nc__cc_recovery_cwnd(uint32_t ssthresh, uint32_t smss, uint32_t sacked);
void nc__cc_established(struct tcp_pcb *pcb);
void nc__cc_recovery(struct tcp_pcb *pcb);

/* The algorithms TCP_CONGESTION names (Linux's names): reno halves the window on a loss;
 * cubic leaves 0.7 of it (its growth stays Reno's); bbr keeps a model of the path (below).
 * 0 in a socket's options: the stack's default, the kernel's net.ipv4.tcp_congestion_control
 * as this process sees it (cubic when unreadable or not one of these, Linux's own default). */
enum nc_cc_algo { NC_CC_DEFAULT, NC_CC_RENO, NC_CC_CUBIC, NC_CC_BBR };
int nc__cc_algo_parse(const char *name); /* an nc_cc_algo, or -ENOENT */
const char *nc__cc_algo_name(int algo);
int nc__cc_system_default(void);

/*
 * bbr's model, per connection with data in flight (rto.c keeps it beside the pcb's timer):
 * the delivery rate, the most of the last NC_CC_BW_N samples of at least a round trip each
 * (bytes acknowledged or SACKed, per second), and the least round trip seen (new data sent
 * until acknowledged; never a retransmission's). Its window, twice rate x round trip, is a
 * floor under the loss-based one: a loss never takes the window below it, and between
 * losses the window is raised to it. Random loss then leaves the rate alone; a queue that
 * fills does not raise the rate the window follows.
 */
#define NC_CC_BW_N 10
/* What a connection may queue in lwIP (sent and not acknowledged, or not yet sent): tcp.c
 * gives each connection the least; bbr raises it to twice its window, up to the most, the
 * kernel's tcp_wmem[2] (as the kernel grows a send buffer to twice its window): through
 * loss, a hole holds the queue's head for a round trip or more while the window is full. */
#define NC_CC_SNDBUF_MIN (1u << 20)
#define NC_CC_SNDBUF_MAX (4u << 20)
struct nc_cc {
    uint8_t algo;              /* resolved: never NC_CC_DEFAULT */
    uint8_t bw_i;              /* next slot of bw */
    bool timing;               /* a round-trip sample is under way */
    uint32_t rtt_seq;          /* it ends when this is acknowledged ... */
    uint32_t snd_max;          /* (the highest snd_nxt seen: only new data starts one) */
    uint64_t rtt_at;           /* ... sent then, us */
    uint32_t min_rtt;          /* us; 0: no sample yet */
    uint32_t base;             /* delivered bytes count from this sequence number */
    uint32_t d0;               /* delivered when the rate sample under way began ... */
    uint64_t t0;               /* ... then, us; 0: none under way */
    uint64_t bw[NC_CC_BW_N];   /* bytes per second */
};
void nc__cc_reset(struct nc_cc *c, int algo, const struct tcp_pcb *pcb);
/* Samples under way dropped and counted again from pcb's sequence numbers; the rate and the
 * least round trip kept. */
void nc__cc_resync(struct nc_cc *c, const struct tcp_pcb *pcb);
/* After lwIP took an ACK or sent: the model's samples (now: us, CLOCK_MONOTONIC), and the
 * window raised to the model's outside recovery. */
void nc__cc_update(struct nc_cc *c, struct tcp_pcb *pcb, uint64_t now);
uint32_t nc__cc_target(const struct nc_cc *c); /* bytes; 0: no model yet */
/* A loss (c: the connection's, NULL for cubic's rules) and a timeout; a round-trip sample
 * under way is dropped (a retransmission would lengthen it). */
void nc__cc_loss(struct tcp_pcb *pcb, uint32_t cwnd, struct nc_cc *c);
void nc__cc_timeout(struct tcp_pcb *pcb, bool first, struct nc_cc *c);

#endif /* NC_CC_H */
