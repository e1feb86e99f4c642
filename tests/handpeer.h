/*
 * handpeer: a TCP peer played by hand over the wire device, for Check suites that need to
 * see and shape single segments (check_rto, check_sack, check_tcpin). The stack under test
 * runs in manual mode at 198.18.0.2 on the controllable clock; the test is 198.18.0.1, port
 * 80, and answers the stack's ARP requests itself. Failures are Check assertions.
 */
#ifndef NC_TESTS_HANDPEER_H
#define NC_TESTS_HANDPEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netcore.h"

#define HP_MSS 1460
#define HP_ISS 5000u /* the test's initial sequence number */

#define HP_FIN 0x01
#define HP_SYN 0x02
#define HP_RST 0x04
#define HP_ACK 0x10

struct hp {
    struct netcore_stack *st;
    int wire;          /* the test's end of the wire */
    int s;             /* the stack's socket */
    uint16_t port;     /* the stack's port */
    uint32_t iss;      /* the stack's initial sequence number */
};

/* A segment the stack sent, with its TCP options. */
struct hp_seg {
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t win;
    size_t len;        /* payload bytes */
    uint8_t opt[40];
    size_t optlen;
};

/* A stack on the wire, nothing connected yet. */
void hp_start(struct hp *h);
/* The same with its configuration changed by tweak first. */
void hp_start_with(struct hp *h, void (*tweak)(struct netcore_config *));
void hp_stop(struct hp *h);
/* Sends the stack a segment of len payload bytes (zeros), with TCP options opt (a multiple of
 * 4 bytes). */
void hp_send(struct hp *h, uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win,
             const uint8_t *opt, size_t optlen, size_t len);
/* Runs the stack once; returns the segments it sent (at most max), answering ARP. */
int hp_collect(struct hp *h, struct hp_seg *out, int max);
/* For a stack that runs its own thread (not a struct hp's): waits up to ms (each time a
 * frame comes) for the next TCP segment the stack sends on h->wire, answering ARP
 * meanwhile; true with *seg filled and h->port learnt. */
bool hp_wait_seg(struct hp *h, struct hp_seg *seg, int ms);
/* The stack's socket h->s connects to the test: returns once its SYN went out (in *syn when
 * syn is not NULL), h->iss and h->port learnt. */
void hp_syn(struct hp *h, struct hp_seg *syn);
/* The stack connects to the test; the test's SYN-ACK offers MSS HP_MSS and, if sack,
 * SACK-permitted. syn, when not NULL, receives the stack's SYN. */
void hp_connect(struct hp *h, bool sack, struct hp_seg *syn);
/* The stack's socket sends n full segments (n <= 8), which the test sees go out; returns the
 * sequence number of the first. */
uint32_t hp_send_full(struct hp *h, int n);
/* Sends a UDP datagram of len bytes from the test (198.18.0.1, port sport) to the stack
 * (198.18.0.2, port dport) over wire, the test's end of any wire device (the stack need not
 * be a struct hp's: the shim's suites hand the other end to the shim's stack). */
void hp_udp_in(int wire, uint16_t sport, uint16_t dport, const void *data, size_t len);
/* The value of TCP option kind in seg (its bytes after kind and length), or NULL. */
const uint8_t *hp_option(const struct hp_seg *seg, uint8_t kind, size_t *len);

#endif /* NC_TESTS_HANDPEER_H */
