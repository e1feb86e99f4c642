/*
 * Ports: the one allocator of TCP and UDP, with the kernel's rules and errors.
 *
 * - A port below net.ipv4.ip_unprivileged_port_start needs CAP_NET_BIND_SERVICE: EACCES,
 *   checked before the socket's state, as inet_bind does.
 * - Port 0 takes a free port of net.ipv4.ip_local_port_range (read once per stack, as the
 *   kernel reads it per namespace), trying each in turn from a random start, as the
 *   kernel's inet_csk_find_open_port and udp_lib_get_port do: a random start keeps ports
 *   hard to guess, the walk finds the last free one. Exhausted: EADDRINUSE for bind() and
 *   listen(); connect() says EADDRNOTAVAIL and sendto() EAGAIN instead (their callers).
 * - An explicit port in use: EADDRINUSE, from the protocol's conflict check (tcp.c, and
 *   lwIP's udp_bind), which nc__port_bind calls through its bind function.
 */
#include "port.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <sys/syscall.h>

#include <lwip/err.h>
#include <lwip/ip.h>
#include <lwip/ip_addr.h>
#include <lwip/tcp.h>
#include <lwip/udp.h>

#include "addr.h"
#include "errmap.h"
#include "shimapi.h"
#include "sock.h"
#include "stack.h"
#include "sys.h"

/* Linux's default ip_local_port_range, for a namespace whose file cannot be read. */
#define EPHEMERAL_LO 32768
#define EPHEMERAL_HI 60999

/* Reads a /proc/sys file of this namespace into buf; its length, or -1. */
static int read_proc(const char *path, char *buf, size_t cap)
{
    int fd = (int)nc__raw_syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int n = nc__sys_read(fd, buf, cap - 1);
    nc__sys_close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return n;
}

void nc__port_setup(struct netcore_stack *st)
{
    char buf[32];
    int lo, hi;
    st->port_unpriv = 1024; /* the kernel's default */
    if (read_proc("/proc/sys/net/ipv4/ip_unprivileged_port_start", buf, sizeof(buf)) > 0 &&
        sscanf(buf, "%d", &lo) == 1)
        st->port_unpriv = lo;
    st->port_lo = EPHEMERAL_LO;
    st->port_hi = EPHEMERAL_HI;
    if (read_proc("/proc/sys/net/ipv4/ip_local_port_range", buf, sizeof(buf)) > 0 &&
        sscanf(buf, "%d %d", &lo, &hi) == 2 && lo > 0 && lo <= hi && hi <= 65535) {
        st->port_lo = (uint16_t)lo;
        st->port_hi = (uint16_t)hi;
    }
}

bool nc__port_privileged(const struct netcore_stack *st, uint16_t port)
{
    if (port == 0 || port >= st->port_unpriv)
        return false;
    /* The calling thread's effective capabilities decide, as for the kernel's bind. */
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];
    if (nc__raw_syscall(SYS_capget, &h, d) != 0)
        return false;
    return !(d[0].effective & (1u << CAP_NET_BIND_SERVICE));
}

int nc__port_bind(struct netcore_stack *st, void *pcb, const struct ip_addr *ip, uint16_t port,
                  nc_port_bind_fn bind)
{
    if (port != 0) {
        err_t e = bind(pcb, ip, port);
        return e == ERR_OK ? 0 : -nc__err_to_errno(e);
    }
    unsigned n = (unsigned)st->port_hi - st->port_lo + 1;
    unsigned start = nc__rand() % n;
    for (unsigned i = 0; i < n; i++) {
        err_t e = bind(pcb, ip, (uint16_t)(st->port_lo + (start + i) % n));
        if (e != ERR_USE)
            return e == ERR_OK ? 0 : -nc__err_to_errno(e);
    }
    return -EADDRINUSE;
}

int nc__port_bind_sock(struct netcore_stack *st, struct nc_sock *s, const union nc_sockaddr *a,
                       nc_port_bind_fn bind)
{
    struct ip_pcb *pcb = s->pcb.ip;
    if (s->opt.reuseaddr)
        ip_set_option(pcb, SOF_REUSEADDR);
    ip_addr_t ip;
    u16_t port = nc__addr_ip(st, s, a, &ip);
    int rc = nc__port_bind(st, pcb, &ip, port, bind);
    if (rc != 0)
        return rc;
    /* The port chosen for port 0: lwIP keeps it outside the fields the two pcbs share. */
    port = s->type == SOCK_STREAM ? s->pcb.tcp->local_port : s->pcb.udp->local_port;
    nc__addr_make(st, s->family, &pcb->local_ip, port, &s->local);
    s->bound = *a;
    s->bound_user = true;
    atomic_store(&s->state, NC_ST_BOUND);
    return 0;
}
