/*
 * Live stats: a running process publishes its counters and socket table on a unix socket,
 * DIR/PID.sock, which `netcore stat` reads (like onload_stackdump, without shared memory: a
 * connection gets one text dump, then EOF). DIR is NETCORE_STAT (default
 * /tmp/netcore-UID, made 0700); NETCORE_STAT=off publishes nothing. Only a threaded stack
 * publishes: the netstack thread answers from its event loop.
 *
 * The dump is built under the stack lock and written after it is let go, without ever
 * blocking: the netstack thread's timers and device wait behind anything it does. What the
 * socket does not take at once (a dump of a few thousand sockets is larger than a unix
 * socket's buffer) waits in the client's own buffer for the socket to drain. That costs at
 * most STAT_CLIENTS dumps of memory: a client beyond them, or one that takes nothing for
 * STAT_STALL_S seconds, is dropped (counted in the dump). Before, the thread wrote with a
 * 200 ms send timeout per write, and a client that connected and did not read stopped timers
 * and the device for up to 400 ms each time (test_ops_stat_slow.sh).
 */
#include "stat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <lwip/ip_addr.h>
#include <lwip/priv/tcp_priv.h>
#include <lwip/tcp.h>
#include <lwip/udp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "addr.h"
#include "netcore.h"
#include "rendezvous.h"
#include "ring.h"
#include "sharesrv.h"
#include "shimapi.h"
#include "sock.h"
#include "stack.h"
#include "sys.h"

#define STAT_CLIENTS 4 /* dumps being written at once */
#define STAT_STALL_S 2 /* seconds a client may take nothing before it is dropped */

struct buf {
    char *p;
    size_t len, cap;
};

struct nc_stat_client {
    struct nc_stat_client *next;
    struct netcore_stack *st;
    int fd;
    struct event *ev;
    char *out;
    size_t len, off;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
    if (b->len >= b->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->len = b->len + (size_t)n < b->cap ? b->len + (size_t)n : b->cap - 1;
}

static const char *state_name(const struct nc_sock *s)
{
    if (s->type == SOCK_STREAM && s->pcb.tcp != NULL &&
        atomic_load(&s->state) != NC_ST_LISTEN)
        return tcp_debug_state_str(s->pcb.tcp->state);
    switch (atomic_load(&s->state)) {
    case NC_ST_NEW: return "NEW";
    case NC_ST_BOUND: return "BOUND";
    case NC_ST_LISTEN: return "LISTEN";
    case NC_ST_CONNECTING: return "CONNECTING";
    case NC_ST_CONNECTED: return "CONNECTED";
    default: return "CLOSED";
    }
}

/*
 * Frames the kernel dropped on their way to us since the device was made: its queue towards
 * netcore (txqueuelen frames) was full because nobody read the device for a while, e.g. the
 * process descheduled. A dropped SYN-ACK or first segment costs its sender a retransmission
 * timeout (a second for a handshake), so it is worth seeing. -1: not readable here (/sys of
 * another namespace).
 */
static long long tap_tx_dropped(const char *ifname)
{
    char path[64 + IFNAMSIZ], text[32];
    snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/tx_dropped", ifname);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    text[n] = '\0';
    char *end;
    long long v = strtoll(text, &end, 10);
    return end != text && v >= 0 ? v : -1;
}

/* Caller holds the lock. */
static void dump(struct netcore_stack *st, struct buf *b)
{
    struct netcore_stats x = st->stats;
    int tw = 0;
    for (struct tcp_pcb *p = tcp_tw_pcbs; p != NULL; p = p->next)
        tw++;
    char ip[16];
    inet_ntop(AF_INET, &st->cfg.ip, ip, sizeof(ip));
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double up = (double)(now.tv_sec - st->started.tv_sec) +
                (double)(now.tv_nsec - st->started.tv_nsec) / 1e9;
    char ip6[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &st->cfg.ip6, ip6, sizeof(ip6));
    put(b, "netcore[%d] on %s (pool device %d) %s/%d %s/%d MTU %d, up %.1f s%s\n",
        (int)getpid(), st->dev.name, st->dev.index, ip, st->cfg.prefix, ip6, st->cfg.prefix6,
        st->dev.mtu, up, st->dev_down ? ", DEVICE DOWN" : "");
    put(b, "frames   rx %llu (%llu bytes)  tx %llu (%llu bytes)  tx errors %llu\n",
        (unsigned long long)x.rx_frames, (unsigned long long)x.rx_bytes,
        (unsigned long long)x.tx_frames, (unsigned long long)x.tx_bytes,
        (unsigned long long)x.tx_errors);
    put(b, "offload  %s  GSO frames rx %llu  tx %llu\n",
        st->dev.tso ? "TSO+csum" : st->dev.vnet > 0 ? "csum" : "off",
        (unsigned long long)x.rx_gso, (unsigned long long)x.tx_gso);
    long long kq = tap_tx_dropped(st->dev.name);
    char kqs[24] = "?";
    if (kq >= 0 && st->tap_drops0 >= 0)
        snprintf(kqs, sizeof(kqs), "%lld", kq - st->tap_drops0);
    put(b, "dropped  malformed %llu  not for us %llu  udp queue full %llu  accept queue full "
        "%llu  time-wait evicted %llu  by the kernel (device queue full) %s\n",
        (unsigned long long)x.rx_dropped_malformed, (unsigned long long)x.rx_dropped_foreign,
        (unsigned long long)x.udp_dropped, (unsigned long long)x.accept_overflows,
        (unsigned long long)x.time_wait_evicted, kqs);
    put(b, "tcp      retransmission timeouts %llu  stale ACKs dropped %llu  pcb walks %llu  "
        "time-wait reused %llu\n",
        (unsigned long long)x.rto_timeouts, (unsigned long long)x.stale_acks,
        (unsigned long long)x.pcb_walks, (unsigned long long)x.time_wait_reused);
    put(b, "rings    %zu bytes held  cap %zu (0: none)  refused %llu\n", nc__ring_held(),
        st->cfg.ring_mem, (unsigned long long)nc__ring_refused());
    put(b, "stat     clients dropped %llu\n", (unsigned long long)st->stat_dropped);
    const struct nc_share *sh = st->share;
    if (sh != NULL && !sh->gone && sh->rv.listen_fd >= 0)
        put(b, "share    %d control connections  refused %llu  over limit %llu  dropped %llu  "
            "bad requests %llu  on %s\n", atomic_load(&sh->nconns),
            (unsigned long long)sh->refused, (unsigned long long)sh->over_limit,
            (unsigned long long)sh->dropped, (unsigned long long)sh->bad, sh->rv.path);
    put(b, "sockets  %d of %d  time-wait %d\n", st->nsocks, st->cfg.max_sockets, tw);
    put(b, "%5s %-5s %-12s %-26s %-26s %8s %8s %4s %6s\n", "ID", "PROTO", "STATE", "LOCAL",
        "REMOTE", "SEND-Q", "RECV-Q", "RTX", "DROPS");
    for (int i = 0; i < st->cfg.max_sockets; i++) {
        struct nc_sock *s = atomic_load(&st->socks[i]);
        if (s == NULL)
            continue;
        char l[64] = "*:*", r[64] = "*:*";
        size_t sq = 0, rq = 0;
        unsigned rtx = 0;
        if (s->type == SOCK_STREAM) {
            struct tcp_pcb *p = s->pcb.tcp;
            if (p != NULL) {
                nc__addr_str(l, sizeof(l), &p->local_ip, p->local_port);
                if (atomic_load(&s->state) != NC_ST_LISTEN) {
                    nc__addr_str(r, sizeof(r), &p->remote_ip, p->remote_port);
                    rtx = p->nrtx;
                    /* sent, not yet acknowledged (modulo 2^32, as sequence numbers are) */
                    sq = (size_t)(uint32_t)(p->snd_lbb - p->lastack);
                }
            }
            if (atomic_load(&s->state) == NC_ST_LISTEN)
                rq = (size_t)atomic_load(&s->lis.aq_count); /* connections waiting for accept */
            else {
                sq += nc__ring_used(&s->tcp.tx);
                rq = nc__ring_used(&s->tcp.rx);
            }
        } else if (s->pcb.udp != NULL) {
            struct udp_pcb *p = s->pcb.udp;
            nc__addr_str(l, sizeof(l), &p->local_ip, p->local_port);
            if (p->flags & UDP_FLAGS_CONNECTED)
                nc__addr_str(r, sizeof(r), &p->remote_ip, p->remote_port);
            rq = s->udp.dq_bytes;
        }
        put(b, "%5d %-5s %-12s %-26s %-26s %8zu %8zu %4u %6llu\n", s->id,
            s->type == SOCK_STREAM ? "tcp" : "udp", state_name(s), l, r, sq, rq, rtx,
            (unsigned long long)(s->type == SOCK_DGRAM ? s->udp.drops : 0));
    }
}

size_t netcore_stat_dump(struct netcore_stack *st, char *out, size_t cap)
{
    struct buf b = { out, 0, cap };
    if (cap == 0)
        return 0;
    out[0] = '\0';
    nc__lock(st);
    dump(st, &b);
    nc__unlock(st);
    return b.len;
}

/* Writes what the client's socket takes now; true when the dump is out or the client gone. */
static bool write_some(struct nc_stat_client *c)
{
    while (c->off < c->len) {
        int w = nc__sys_send(c->fd, c->out + c->off, c->len - c->off,
                             MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w == -EINTR)
            continue;
        if (w < 0)
            return w != -EAGAIN;
        c->off += (size_t)w;
    }
    return true;
}

static void client_free(struct nc_stat_client *c)
{
    struct nc_stat_client **pp = &c->st->stat_clients;
    while (*pp != NULL && *pp != c)
        pp = &(*pp)->next;
    if (*pp == c) {
        *pp = c->next;
        c->st->stat_nclients--;
    }
    if (c->ev != NULL)
        event_free(c->ev);
    if (c->fd >= 0)
        nc__sys_close(c->fd);
    free(c->out);
    free(c);
}

static void on_client(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct nc_stat_client *c = arg;
    if (what & EV_TIMEOUT) {
        c->st->stat_dropped++; /* took nothing for STAT_STALL_S */
        client_free(c);
        return;
    }
    if (write_some(c))
        client_free(c);
}

static void on_stat(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct netcore_stack *st = arg;
    int cfd = nc__fd_high(
        (int)nc__raw_syscall(SYS_accept4, fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (cfd < 0)
        return;
    size_t cap = 4096 + (size_t)st->cfg.max_sockets * 128;
    struct nc_stat_client *c = st->stat_nclients < STAT_CLIENTS ? calloc(1, sizeof(*c)) : NULL;
    if (c != NULL)
        c->out = malloc(cap);
    if (c == NULL || c->out == NULL) {
        st->stat_dropped++; /* too many at once, or no memory for one more */
        if (c != NULL)
            free(c);
        nc__sys_close(cfd);
        return;
    }
    c->st = st;
    c->fd = cfd;
    c->len = netcore_stat_dump(st, c->out, cap);
    c->next = st->stat_clients;
    st->stat_clients = c;
    st->stat_nclients++;
    if (write_some(c)) {
        client_free(c);
        return;
    }
    /* EV_PERSIST with a timeout: the timeout starts again at every write it allows. */
    struct timeval stall = { STAT_STALL_S, 0 };
    c->ev = event_new(st->base, cfd, EV_WRITE | EV_PERSIST, on_client, c);
    if (c->ev == NULL || event_add(c->ev, &stall) != 0) {
        st->stat_dropped++;
        client_free(c);
    }
}

void nc__stat_open(struct netcore_stack *st)
{
    st->stat_fd = -1;
    if (!strcmp(st->cfg.stat_dir, "off") || st->base == NULL)
        return;
    st->tap_drops0 = tap_tx_dropped(st->dev.name);
    char dir[sizeof(st->cfg.stat_dir)];
    if (st->cfg.stat_dir[0] != '\0')
        snprintf(dir, sizeof(dir), "%s", st->cfg.stat_dir);
    else
        snprintf(dir, sizeof(dir), "/tmp/netcore-%u", (unsigned)geteuid());
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char why[256] = "";
    int rc = nc__private_dir(dir, "NETCORE_STAT", why, sizeof(why)); /* rendezvous.c */
    if (rc == 0 && snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%d.sock", dir,
                            (int)getpid()) >= (int)sizeof(sa.sun_path))
        rc = -ENAMETOOLONG;
    int fd = rc == 0 ? nc__fd_high((int)nc__raw_syscall(SYS_socket, AF_UNIX,
                                                        SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                                                        0))
                     : -1;
    if (rc == 0 && fd < 0)
        rc = -errno;
    if (rc == 0) {
        /* Bound under a temporary name and renamed once it listens: `netcore stat` takes a
         * refused connection for a dead process and removes its socket. */
        struct sockaddr_un tmp = sa;
        if (snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s/.%d.sock", dir, (int)getpid()) >=
            (int)sizeof(tmp.sun_path))
            rc = -ENAMETOOLONG;
        else {
            unlink(tmp.sun_path);
            if (nc__raw_syscall(SYS_bind, fd, &tmp, sizeof(tmp)) != 0 ||
                nc__raw_syscall(SYS_listen, fd, 4) != 0 ||
                rename(tmp.sun_path, sa.sun_path) != 0) {
                rc = -errno;
                unlink(tmp.sun_path);
            }
        }
    }
    if (rc == 0) {
        st->ev_stat = event_new(st->base, fd, EV_READ | EV_PERSIST, on_stat, st);
        if (st->ev_stat == NULL || event_add(st->ev_stat, NULL) != 0)
            rc = -ENOMEM;
    }
    if (rc != 0) {
        if (why[0] != '\0')
            nc__log(NETCORE_LOG_WARN, "cannot publish stats: %s", why);
        else
            nc__log(NETCORE_LOG_WARN, "NETCORE_STAT: cannot publish stats in %s: %s", dir,
                    strerror(-rc));
        if (fd >= 0)
            nc__sys_close(fd);
        if (st->ev_stat != NULL)
            event_free(st->ev_stat);
        st->ev_stat = NULL;
        return;
    }
    st->stat_fd = fd;
    snprintf(st->stat_path, sizeof(st->stat_path), "%s", sa.sun_path);
    nc__log(NETCORE_LOG_INFO, "stats on %s (netcore stat %d)", st->stat_path, (int)getpid());
}

void netcore_stat_close(struct netcore_stack *st)
{
    if (st == NULL || st->stat_fd < 0)
        return;
    unlink(st->stat_path);
    st->stat_path[0] = '\0';
}

void nc__stat_free_clients(struct netcore_stack *st)
{
    while (st->stat_clients != NULL)
        client_free(st->stat_clients);
}

/* The stats socket and its clients' fds into out (a keeper keeps them); returns how many. */
int nc__stat_fds(struct netcore_stack *st, int *out, int cap)
{
    int n = 0;
    if (st->stat_fd >= 0 && n < cap)
        out[n++] = st->stat_fd;
    for (struct nc_stat_client *c = st->stat_clients; c != NULL; c = c->next)
        if (c->fd >= 0 && n < cap)
            out[n++] = c->fd;
    return n;
}

/* After the event loop is gone (netcore_stop) or in a forked child: the fds only. */
void nc__stat_release(struct netcore_stack *st, bool unlink_path)
{
    for (struct nc_stat_client *c = st->stat_clients; c != NULL; c = c->next)
        if (c->fd >= 0) {
            nc__sys_close(c->fd);
            c->fd = -1;
        }
    if (st->stat_fd < 0)
        return;
    if (unlink_path && st->stat_path[0] != '\0')
        unlink(st->stat_path);
    nc__sys_close(st->stat_fd);
    st->stat_fd = -1;
}
