/*
 * The hooks netcore gives lwIP (LWIP_HOOK_FILENAME in lwipopts.h): lwIP's sources include this
 * file after their own headers, so the hooks' prototypes can use lwIP's types.
 */
#ifndef NETCORE_LWIPHOOKS_H
#define NETCORE_LWIPHOOKS_H

#include <lwip/ip_addr.h>

/* RFC 6528 initial sequence numbers (iss.c) */
u32_t nc__tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
                  u16_t remote_port);

#endif /* NETCORE_LWIPHOOKS_H */
