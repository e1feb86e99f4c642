/* port.c: the port allocator of TCP and UDP (see there). */
#ifndef NC_PORT_H
#define NC_PORT_H

#include <stdbool.h>
#include <stdint.h>

struct netcore_stack;
struct nc_frame;

/*
 * A connection's tuple that a new connect must not take for a while: its peer reset our FIN
 * and may still hold the tuple (port.c, "Tuples kept away").
 */
#define NC_PORT_AVOID 64
struct nc_port_avoid {
    uint32_t until;              /* sys_now() when it may be taken again; 0: a free entry */
    uint32_t addr[4];            /* the peer, as on the wire (IPv4: addr[0]) */
    uint16_t rport, lport;
    bool v6;
};

struct ip_addr;
/* Reads the namespace's unprivileged port start and ephemeral range (netcore_start). */
void nc__port_setup(struct netcore_stack *st);
/* bind() to port needs a capability the calling thread lacks: the call's -EACCES. */
bool nc__port_privileged(const struct netcore_stack *st, uint16_t port);
/* The protocol's bind of pcb to ip:port, with its conflict check (ERR_USE: in use). */
typedef int8_t (*nc_port_bind_fn)(void *pcb, const struct ip_addr *ip, uint16_t port);
/* Binds pcb to ip:port through bind; port 0: a free ephemeral port. 0 or -errno
 * (-EADDRINUSE: the port is taken, or port 0 found the ephemeral range full). */
int nc__port_bind(struct netcore_stack *st, void *pcb, const struct ip_addr *ip, uint16_t port,
                  nc_port_bind_fn bind);
struct nc_sock;
union nc_sockaddr;
/* bind() of a TCP or UDP socket whose protocol has found it may bind (tcp.c, udp.c): its pcb to
 * a through bind (nc__port_bind), then the socket bound there. 0 or -errno. Stack lock held. */
int nc__port_bind_sock(struct netcore_stack *st, struct nc_sock *s, const union nc_sockaddr *a,
                       nc_port_bind_fn bind);
/* nc__port_bind of port 0 for a connect to peer:rport, passing over the ports kept away from
 * that peer (nc__port_rst_in). */
int nc__port_connect(struct netcore_stack *st, void *pcb, const struct ip_addr *ip,
                     const struct ip_addr *peer, uint16_t rport, nc_port_bind_fn bind);
/* A received segment, before lwIP's input: a reset answering our FIN keeps its port away
 * from its peer. Caller holds the stack lock. */
void nc__port_rst_in(struct netcore_stack *st, const struct nc_frame *fr);

#endif /* NC_PORT_H */
