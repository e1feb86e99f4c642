/* pcbmap.c: the active connection (SYN-SENT to LAST-ACK) of a segment, by hash. */
#ifndef NC_PCBMAP_H
#define NC_PCBMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct netcore_stack;
struct ip_addr;
struct tcp_pcb;

struct nc_pcbmap;
/* The map, sized for every socket, the TIME-WAIT cap and some handshakes; 0 or -ENOMEM.
 * Freed by nc__pcbmap_free. */
int nc__pcbmap_init(struct netcore_stack *st);
void nc__pcbmap_free(struct netcore_stack *st);
/* Whether lwIP's memp_free calls reach pcbmap.c's (netcore_start checks). */
bool nc__pcbmap_ours(void);
/* Primes the map with a pcb whose addresses and ports are final. */
void nc__pcbmap_add(struct netcore_stack *st, struct tcp_pcb *pcb);
/* The active pcb from remote:rport to our lport (and local, unless NULL), or NULL. */
struct tcp_pcb *nc__pcb_find(struct netcore_stack *st, const struct ip_addr *remote,
                             uint16_t rport, uint16_t lport, const struct ip_addr *local);
/* The IPv4 packet ip (len bytes at hand) is one of the first data segments its connection
 * sends (counted here). */
bool nc__pcb_young_send(struct netcore_stack *st, const uint8_t *ip, size_t len);
/* The same for an address as on the wire: 4 bytes, or 16 when v6. */
struct tcp_pcb *nc__pcb_find_raw(struct netcore_stack *st, bool v6, const uint8_t *remote,
                                 uint16_t rport, uint16_t lport);
/* The tuple's pcb in TIME-WAIT, or NULL (the map, else a walk of lwIP's TIME-WAIT list). */
struct tcp_pcb *nc__pcb_find_tw_raw(struct netcore_stack *st, bool v6, const uint8_t *remote,
                                    uint16_t rport, uint16_t lport);

#endif /* NC_PCBMAP_H */
