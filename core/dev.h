/* dev.c: the device frames come and go through (TAP, TUN, wire). */
#ifndef NC_DEV_H
#define NC_DEV_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

#include "netcore.h"

/* device: one frame per read/write on an fd (TAP, TUN, wire). */
struct nc_dev {
    int fd;
    int index;        /* position in the TAP pool (0: cfg.ifname itself) */
    char name[IFNAMSIZ]; /* the device taken */
    bool is_eth;     /* Ethernet frames (TAP, wire) or bare IP packets (TUN) */
    int mtu;          /* IP MTU in use */
    unsigned ifindex; /* the scope id of our link-local addresses: the kernel's index of the
                         TAP/TUN (what if_nametoindex gives the program), 1 on the wire */
    size_t vnet;      /* bytes of virtio_net_hdr before every frame (0: plain frames) */
    bool tso;         /* the kernel takes TCP super-segments (TUN_F_TSO4/6) and partial
                         checksums from us, and hands us the same (offload.c) */
    bool csum;        /* the kernel takes partial TCP/UDP checksums (TUN_F_CSUM): lwIP leaves
                         them to it (offload.c) */
};
int nc__dev_open(const struct netcore_config *cfg, struct nc_dev *dev, char *err, size_t errlen);
void nc__dev_close(struct nc_dev *dev);

#endif /* NC_DEV_H */
