/* addr.c: socket addresses at the API boundary. */
#ifndef NC_ADDR_H
#define NC_ADDR_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct ip_addr; /* lwIP's ip_addr_t */
struct netcore_stack;

/*
 * addr.c: socket addresses at the API boundary. A program's sockaddr becomes an endpoint:
 * a union nc_sockaddr whose family is that of the address it names (AF_INET for IPv4, also
 * when an AF_INET6 socket gave it IPv4-mapped), checked, with scope ids validated.
 */
union nc_sockaddr {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
};

enum nc_addr_use { NC_ADDR_BIND, NC_ADDR_CONNECT, NC_ADDR_SENDTO };

struct nc_sock;
/*
 * Reads a sockaddr the program gave for use on socket s into an endpoint, with the kernel's
 * checks and errors for the socket's family (IPv4-mapped and, for UDP, AF_INET addresses on
 * an AF_INET6 socket mean IPv4; link-local needs our scope id; a bind address must be ours
 * or a wildcard; a destination must be on our links; a wildcard destination means us).
 */
int nc__addr_parse(const struct netcore_stack *st, const struct nc_sock *s,
                   const struct sockaddr *a, socklen_t len, enum nc_addr_use use,
                   union nc_sockaddr *ep);
/* "ADDR:PORT" for lwIP's address and port, "*" for the wildcard and port 0 (stat, logs). */
void nc__addr_str(char *out, size_t cap, const struct ip_addr *ip, uint16_t port);
/* lwIP's address of an endpoint of socket s (a wildcard: nc__addr_any); returns the port. */
uint16_t nc__addr_ip(const struct netcore_stack *st, const struct nc_sock *s,
                     const union nc_sockaddr *ep, struct ip_addr *ip);
/* What the program sees for lwIP's ip:port (NULL: the wildcard) on a socket of `family`. */
void nc__addr_make(const struct netcore_stack *st, int family, const struct ip_addr *ip,
                   uint16_t port, union nc_sockaddr *out);
/* Copies a to the program's buffer cut to *len; *len becomes the full size. */
int nc__addr_copyout(const union nc_sockaddr *a, struct sockaddr *out, socklen_t *len);
/* The wildcard a socket binds to: 0.0.0.0, "::" with IPV6_V6ONLY, else both families. */
const struct ip_addr *nc__addr_any(const struct nc_sock *s);
/*
 * The lwIP address type a new pcb of socket s starts with: IPv4 for AF_INET, else
 * dual-stack (IPADDR_TYPE_ANY), which bind() or the autobind narrows (nc__addr_any).
 */
uint8_t nc__addr_pcb_type(const struct nc_sock *s);
/* 0 if a pcb bound to local can send to dst, else the kernel's errno for it (negative). */
int nc__addr_reach(const struct nc_sock *s, const struct ip_addr *local,
                   const struct ip_addr *dst);

#endif /* NC_ADDR_H */
