/*
 * What tcp.c and tcpdata.c share, and nothing else includes: the pcb's owner (tcp.c) and
 * the data path (tcpdata.c) call each other only through these. Under the stack lock.
 */
#ifndef NC_TCPPRIV_H
#define NC_TCPPRIV_H

#include <lwip/tcp.h>

#include "sock.h"

struct netcore_stack;

/* tcp.c: cuts s loose from its pcb (no more callbacks with s as their arg) and returns the
 * pcb, or NULL when it had none; s->pcb.tcp is NULL after. */
struct tcp_pcb *nc__tcp_detach(struct nc_sock *s);
/* tcp.c: the program closed s and its send ring is empty: hands the connection's end to
 * lwIP (FIN) and frees s, or, out of memory for the FIN, leaves s attached to try again
 * from the sent and poll callbacks. */
void nc__tcp_finish_close(struct netcore_stack *st, struct nc_sock *s);
/* tcp.c: the peer's FIN just moved pcb to CLOSE_WAIT (lwIP's recv callback, FIN): its ACK
 * waits for what we send next, at most a few tens of ms. */
void nc__tcp_fin_ack(struct netcore_stack *st, struct tcp_pcb *pcb);

/* tcpdata.c: lwIP's recv, sent and poll callbacks, registered by tcp.c's attach. arg is
 * the socket, or NULL once detached. */
err_t nc__tcp_on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err);
err_t nc__tcp_on_sent(void *arg, struct tcp_pcb *pcb, u16_t len);
err_t nc__tcp_on_poll(void *arg, struct tcp_pcb *pcb);

#endif
