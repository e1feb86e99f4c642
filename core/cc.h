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
void nc__cc_loss(struct tcp_pcb *pcb, uint32_t cwnd);
void nc__cc_timeout(struct tcp_pcb *pcb, bool first);
void nc__cc_recovery(struct tcp_pcb *pcb);

#endif /* NC_CC_H */
