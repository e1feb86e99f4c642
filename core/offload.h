/* offload.c: the TAP's virtio_net_hdr offloads (TSO, partial checksums). */
#ifndef NC_OFFLOAD_H
#define NC_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct netcore_stack;
struct netif;
struct pbuf;
struct tcp_pcb;

/* offload.c: connections whose real MSS is below the link's (the peer asked for less) */
#define NC_MSS_TAB 256
#define NC_MSS_PROBES 8
struct nc_mss_ent {
    uint8_t raddr[16];           /* remote address (IPv4: first 4 bytes) */
    uint16_t lport, rport;
    uint16_t mss;                /* 0: a free slot */
    bool v6;
};

/* offload.c: the TAP's virtio_net_hdr (dev.c opens it; see offload.c) */
struct virtio_net_hdr;
/* Fills h for an outgoing frame f (head contiguous bytes of len); may make it a GSO frame. */
void nc__vnet_tx(struct netcore_stack *st, uint8_t *f, size_t head, size_t len,
                 struct virtio_net_hdr *h);
/* With TUN_F_CSUM: lwIP's TCP and UDP checksum generation off on the netif (offload.c). */
void nc__offload_csum_setup(struct netcore_stack *st);
/* Sums in software what lwIP left to the kernel but it cannot finish (p at the IP header). */
void nc__offload_csum_finish(struct netif *netif, struct pbuf *p);
/* The real MSS of a connection whose pcb->mss was raised (nc__offload_super_mss). */
void nc__offload_mss_set(struct netcore_stack *st, bool v6, const uint8_t *raddr,
                         uint16_t lport, uint16_t rport, uint16_t mss, uint16_t link_mss);
/* The pcb->mss for TSO: the most whole segments of real bytes in one 64 KB frame. */
uint16_t nc__offload_super_mss(uint16_t real);
/* A connection's real MSS, whatever syn.c made its pcb->mss. */
uint16_t nc__offload_real_mss(struct netcore_stack *st, const struct tcp_pcb *pcb);

#endif /* NC_OFFLOAD_H */
