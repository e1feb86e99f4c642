/* ackpol.c: when received TCP data is acknowledged. */
#ifndef NC_ACKPOL_H
#define NC_ACKPOL_H

struct netcore_stack;
struct nc_sock;
struct pbuf;
struct tcp_pcb;

/* Under the stack lock. */
/* In the recv callback, before the data goes to the socket: ACK due now or left pending. */
void nc__ack_recv(struct netcore_stack *st, struct nc_sock *s, struct tcp_pcb *pcb,
                  const struct pbuf *p);
/* At the end of a device batch: sends the pending ACKs. */
void nc__ack_flush(struct netcore_stack *st);

#endif /* NC_ACKPOL_H */
