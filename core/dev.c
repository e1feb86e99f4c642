/*
 * Devices: one frame per read() and per write() on a file descriptor.
 *   TAP  — Ethernet frames from /dev/net/tun with IFF_TAP|IFF_NO_PI.
 *   TUN  — bare IP packets from /dev/net/tun with IFF_TUN|IFF_NO_PI (no ARP).
 *   wire — Ethernet frames over a datagram socket (socketpair) the caller hands in.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

static int open_tun(const struct netcore_config *cfg, struct nc_dev *dev, char *err,
                    size_t errlen)
{
    const char *kind = cfg->device == NETCORE_DEV_TAP ? "TAP" : "TUN";
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
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
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = (short)((cfg->device == NETCORE_DEV_TAP ? IFF_TAP : IFF_TUN) | IFF_NO_PI);
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", cfg->ifname);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        snprintf(err, errlen,
                 "TUNSETIFF %s: %s — run as root inside the namespace that holds the %s "
                 "(./netcore up; ./netcore run -- CMD), or create a persistent %s owned by "
                 "your user (ip tuntap add dev %s mode %s user $USER) and set NETCORE_TAP",
                 cfg->ifname, strerror(e), kind, kind, cfg->ifname,
                 cfg->device == NETCORE_DEV_TAP ? "tap" : "tun");
        syscall(SYS_close, fd);
        return -e;
    }
    dev->fd = fd;
    dev->is_eth = cfg->device == NETCORE_DEV_TAP;
    dev->mtu = cfg->mtu;
    dev->ifindex = 1;
    /* SIOCGIFMTU and SIOCGIFINDEX need a socket; a raw syscall keeps it away from the
     * preload shim. The kernel's index of the device is the scope id a program on netcore
     * gets from if_nametoindex for its link-local addresses. */
    int sk = (int)syscall(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sk >= 0 && ioctl(sk, SIOCGIFINDEX, &ifr) == 0 && ifr.ifr_ifindex > 0)
        dev->ifindex = (unsigned)ifr.ifr_ifindex;
    if (dev->mtu == 0) {
        if (sk >= 0 && ioctl(sk, SIOCGIFMTU, &ifr) == 0)
            dev->mtu = ifr.ifr_mtu;
        if (dev->mtu < 576 || dev->mtu > 65521)
            dev->mtu = 1500;
    }
    if (sk >= 0)
        syscall(SYS_close, sk);
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
        dev->is_eth = true;
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
    if (dev->fd >= 0)
        nc__sys_close(dev->fd);
    dev->fd = -1;
}
