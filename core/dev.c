/*
 * Devices: one frame per read() and per write() on a file descriptor.
 *   TAP  — Ethernet frames from /dev/net/tun with IFF_TAP|IFF_NO_PI.
 *   TUN  — bare IP packets from /dev/net/tun with IFF_TUN|IFF_NO_PI (no ARP).
 *   wire — Ethernet frames over a datagram socket (socketpair) the caller hands in.
 */
#include "dev.h"

#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdlib.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "netcore.h"
#include "shimapi.h"
#include "sys.h"

/* Whether network device name exists in this network namespace. */
static bool dev_exists(const char *name)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    /* A raw socket syscall keeps the query away from the preload shim. */
    int sk = (int)nc__raw_syscall(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sk < 0)
        return true; /* cannot tell: let TUNSETIFF say what is wrong */
    bool found = ioctl(sk, SIOCGIFINDEX, &ifr) == 0 || errno != ENODEV;
    nc__raw_syscall(SYS_close, sk);
    return found;
}

/* The kth name of the pool that starts at base: "nctap0" → "nctap0", "nctap1", ...; a name
 * without a trailing number gets one ("tap" → "tap", "tap1", ...). False if it is too long. */
static bool pool_name(const char *base, int k, char out[IFNAMSIZ])
{
    size_t len = strlen(base), digits = 0;
    while (digits < len && isdigit((unsigned char)base[len - 1 - digits]))
        digits++;
    if (k == 0)
        return snprintf(out, IFNAMSIZ, "%s", base) < IFNAMSIZ;
    /* As netcore up numbers them: the trailing number, whatever its length, plus k. */
    long first = digits > 0 && digits < 10 ? strtol(base + len - digits, NULL, 10) : 0;
    return snprintf(out, IFNAMSIZ, "%.*s%ld", (int)(len - digits), base, first + k) < IFNAMSIZ;
}

/*
 * Offloads (NETCORE_OFFLOAD): what QEMU's tap backend does. With IFF_VNET_HDR every frame
 * read or written carries a struct virtio_net_hdr first; TUNSETOFFLOAD then tells the kernel
 * it may hand us TCP super-segments up to 64 KB with only the pseudo-header summed
 * (TUN_F_TSO4/6, TUN_F_CSUM), and it takes the same from us, segmenting them where a path
 * needs it. The header is the plain 10-byte one (the kernel's default size, so no
 * TUNSETVNETHDRSZ): its 12-byte mergeable-buffers form only adds num_buffers, which a TAP
 * never uses, and at 10 bytes a frame read into an 8-aligned buffer has its IP header
 * 8-aligned (10 + 14 = 24). No USO (TUN_F_USO4/6): the kernel would then hand us UDP
 * super-datagrams that we would have to cut into datagrams ourselves; UDP stays per
 * datagram. The features stay on the device after we close it, so a process without
 * offloads clears them (flags 0): the kernel would otherwise write 64 KB frames to a reader
 * that expects frames of the MTU.
 */
static void set_offloads(int fd, struct nc_dev *dev, bool want)
{
    static const unsigned tries[] = {
        TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN,
        TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6,
        TUN_F_CSUM,
    };
    dev->tso = false;
    dev->csum = false;
    if (want && dev->vnet > 0) {
        for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
            if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)tries[i]) == 0) {
                dev->tso = (tries[i] & TUN_F_TSO4) != 0;
                dev->csum = true; /* every try offers TUN_F_CSUM */
                nc__log(NETCORE_LOG_DEBUG, "%s: offloads 0x%x (TSO %s)", dev->name, tries[i],
                        dev->tso ? "on" : "off");
                return;
            }
            nc__log(NETCORE_LOG_DEBUG, "TUNSETOFFLOAD %s 0x%x: %s", dev->name, tries[i],
                    strerror(errno));
        }
    }
    if (ioctl(fd, TUNSETOFFLOAD, 0ul) != 0)
        nc__log(NETCORE_LOG_DEBUG, "TUNSETOFFLOAD %s 0: %s", dev->name, strerror(errno));
}

static int open_tun(const struct netcore_config *cfg, struct nc_dev *dev, char *err,
                    size_t errlen)
{
    const char *kind = cfg->device == NETCORE_DEV_TAP ? "TAP" : "TUN";
    int fd = nc__fd_high((int)nc__raw_syscall(SYS_openat, AT_FDCWD, "/dev/net/tun",
                                              O_RDWR | O_CLOEXEC | O_NONBLOCK));
    if (fd < 0) {
        int e = errno;
        if (e == EACCES || e == EPERM)
            snprintf(err, errlen,
                     "open /dev/net/tun for %s %s: %s — run as root inside the namespace "
                     "that holds it (./netcore up; ./netcore run -- CMD)",
                     kind, cfg->ifname, strerror(e));
        else
            snprintf(err, errlen, "open /dev/net/tun for %s %s: %s (is the tun module loaded?)",
                     kind, cfg->ifname, strerror(e));
        return -e;
    }
    /*
     * The pool: every process needs a device of its own (a TAP carries one stack), so take
     * the first one no other process holds: TUNSETIFF says EBUSY for those. A name that does
     * not exist ends the pool; TUNSETIFF would create a fresh device there, attached to
     * nothing.
     */
    struct ifreq ifr;
    int k, e = 0, pool = cfg->tap_pool > 0 ? cfg->tap_pool : 1;
    /* The vnet flag is taken per attach (TUNSETIFF sets the device's flags anew), so every
     * process of a pool chooses for itself. The TUN device stays on plain packets. */
    bool vnet = cfg->offload && cfg->device == NETCORE_DEV_TAP;
    for (k = 0; k < pool; k++) {
        memset(&ifr, 0, sizeof(ifr));
        ifr.ifr_flags = (short)((cfg->device == NETCORE_DEV_TAP ? IFF_TAP : IFF_TUN) | IFF_NO_PI |
                                (vnet ? IFF_VNET_HDR : 0));
        if (!pool_name(cfg->ifname, k, ifr.ifr_name) || !dev_exists(ifr.ifr_name)) {
            e = k == 0 ? ENODEV : EBUSY;
            break;
        }
        if (ioctl(fd, TUNSETIFF, &ifr) == 0) {
            e = 0;
            break;
        }
        e = errno;
        if (e == EINVAL && vnet) {
            /* A kernel without IFF_VNET_HDR for this device: plain frames, same device. */
            nc__log(NETCORE_LOG_DEBUG, "TUNSETIFF %s with IFF_VNET_HDR: %s; no offloads",
                    ifr.ifr_name, strerror(e));
            vnet = false;
            k--;
            continue;
        }
        if (e != EBUSY)
            break;
    }
    if (e == 0)
        goto attached;
    if (e == ENODEV)
        snprintf(err, errlen,
                 "%s %s does not exist in this network namespace: create it with ./netcore "
                 "up (as root), then run the program with ./netcore run -- CMD; or create a "
                 "persistent one owned by your user (ip tuntap add dev %s mode %s user $USER) "
                 "and set NETCORE_TAP to it",
                 kind, ifr.ifr_name, ifr.ifr_name,
                 cfg->device == NETCORE_DEV_TAP ? "tap" : "tun");
    else if (e == EBUSY)
        snprintf(err, errlen,
                 "all %d %s devices of the pool from %s are held by other processes: "
                 "./netcore up --pool N makes more (NETCORE_TAP_POOL tries more)",
                 k, kind, cfg->ifname);
    else
        snprintf(err, errlen,
                 "TUNSETIFF %s: %s — run as root inside the namespace that holds the %s "
                 "(./netcore up; ./netcore run -- CMD), or create a persistent %s owned by "
                 "your user (ip tuntap add dev %s mode %s user $USER) and set NETCORE_TAP",
                 ifr.ifr_name, strerror(e), kind, kind, ifr.ifr_name,
                 cfg->device == NETCORE_DEV_TAP ? "tap" : "tun");
    nc__raw_syscall(SYS_close, fd);
    return -e;
attached:
    dev->fd = fd;
    dev->index = k;
    snprintf(dev->name, sizeof(dev->name), "%s", ifr.ifr_name);
    dev->is_eth = cfg->device == NETCORE_DEV_TAP;
    dev->mtu = cfg->mtu;
    dev->ifindex = 1;
    dev->vnet = vnet ? sizeof(struct virtio_net_hdr) : 0;
    set_offloads(fd, dev, vnet);
    /* SIOCGIFMTU and SIOCGIFINDEX need a socket; a raw syscall keeps it away from the
     * preload shim. The kernel's index of the device is the scope id a program on netcore
     * gets from if_nametoindex for its link-local addresses. */
    int sk = (int)nc__raw_syscall(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sk >= 0 && ioctl(sk, SIOCGIFINDEX, &ifr) == 0 && ifr.ifr_ifindex > 0)
        dev->ifindex = (unsigned)ifr.ifr_ifindex;
    if (dev->mtu == 0) {
        if (sk >= 0 && ioctl(sk, SIOCGIFMTU, &ifr) == 0)
            dev->mtu = ifr.ifr_mtu;
        if (dev->mtu < 576 || dev->mtu > 65521)
            dev->mtu = 1500;
    }
    if (sk >= 0)
        nc__raw_syscall(SYS_close, sk);
    return 0;
}

int nc__dev_open(const struct netcore_config *cfg, struct nc_dev *dev, char *err, size_t errlen)
{
    dev->fd = -1;
    switch (cfg->device) {
    case NETCORE_DEV_TAP:
    case NETCORE_DEV_TUN:
        return open_tun(cfg, dev, err, errlen);
    case NETCORE_DEV_WIRE: {
        if (cfg->wire_fd < 0) {
            snprintf(err, errlen, "wire device: no fd given (wire_fd)");
            return -EBADF;
        }
        int fl = fcntl(cfg->wire_fd, F_GETFL);
        if (fl < 0 || fcntl(cfg->wire_fd, F_SETFL, fl | O_NONBLOCK) < 0) {
            int e = errno;
            snprintf(err, errlen, "wire device fd %d: %s", cfg->wire_fd, strerror(e));
            return -e;
        }
        dev->fd = cfg->wire_fd;
        dev->index = 0;
        snprintf(dev->name, sizeof(dev->name), "wire");
        dev->is_eth = true;
        /* plain frames, unless a test or the fuzzer plays a TAP with offloads */
        dev->vnet = cfg->wire_vnet ? sizeof(struct virtio_net_hdr) : 0;
        dev->tso = cfg->wire_vnet != 0;
        dev->csum = cfg->wire_vnet != 0;
        dev->mtu = cfg->mtu != 0 ? cfg->mtu : 1500;
        dev->ifindex = 1; /* no kernel device: lwIP's own index of its only netif */
        return 0;
    }
    }
    snprintf(err, errlen, "unknown device kind %d", (int)cfg->device);
    return -EINVAL;
}

void nc__dev_close(struct nc_dev *dev)
{
    nc__sys_clear_fd(&dev->fd);
}
