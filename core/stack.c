/*
 * The netstack: lwIP, its device and its timers, owned by whoever holds the stack lock.
 *
 * The netstack thread sleeps in a libevent loop on the device fd, the command-queue eventfd
 * and a timer armed from sys_timeouts_sleeptime(). Program threads take the lock themselves
 * for control calls and, when it is free, for data-path kicks, so a send needs no thread hop;
 * when the lock is busy a kick waits in the command queue for the lock holder, who drains
 * the queue before letting go. The same loop can be driven by hand with netcore_step().
 */
#include "stack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <lwip/init.h>
#include <lwip/netif.h>
#include <lwip/priv/tcp_priv.h>
#include <lwip/tcp.h>
#include <lwip/sys.h>
#include <lwip/timeouts.h>
#include <lwip/udp.h>

#include "arpin.h"
#include "chksum.h"
#include "cmdq.h"
#include "dev.h"
#include "devwatch.h"
#include "hidden.h"
#include "iss.h"
#include "neigh.h"
#include "netcore.h"
#include "netif.h"
#include "pcap.h"
#include "pcbmap.h"
#include "port.h"
#include "relay.h"
#include "ring.h"
#include "rto.h"
#include "sharesrv.h"
#include "shimapi.h"
#include "sock.h"
#include "stat.h"
#include "sys.h"
#include "tcpin.h"
#include "udpin.h"

struct netcore_stack *nc__stack;
__thread int nc__in_stack_thread;

/* clock: what lwIP's sys_now() sees. */
static _Atomic int clock_is_manual;
static _Atomic uint32_t clock_manual_ms;

uint64_t nc__mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint32_t mono_ms(void)
{
    return (uint32_t)(nc__mono_us() / 1000u);
}

NC_HIDDEN u32_t sys_now(void)
{
    return atomic_load(&clock_is_manual) ? atomic_load(&clock_manual_ms) : mono_ms();
}

void netcore_clock_manual(int on)
{
    if (on && !atomic_load(&clock_is_manual))
        atomic_store(&clock_manual_ms, mono_ms());
    atomic_store(&clock_is_manual, on != 0);
}

void netcore_clock_advance(uint32_t ms)
{
    atomic_fetch_add(&clock_manual_ms, ms);
}

uint32_t netcore_clock_now(void)
{
    return sys_now();
}

static u32_t self_now(void) __attribute__((alias("sys_now")));

/*
 * Packets a pcb sends to one of our own addresses (a connection to 198.18.0.2 or 2001:db8::2
 * from the program itself) wait on the interface's loop queue (LWIP_NETIF_LOOPBACK, NO_SYS):
 * they are delivered before whoever holds the stack lock lets go (nc__run_pending), as a
 * command is. netif_poll delivers until the queue is empty, so also what delivering queues in turn
 * (a looped SYN's SYN-ACK). Caller holds the stack lock.
 */
static void run_looped(void)
{
    struct netif *n;
    NETIF_FOREACH(n) {
        if (n->loop_first == NULL)
            continue;
        /* What lwIP sent to our own addresses never left memory: its TCP and UDP sums go
         * unchecked, as on the kernel's loopback. With TUN_F_CSUM lwIP did not even compute
         * them (offload.c), and checking would drop every such packet. */
        u8_t sums = n->chksum_flags;
        NETIF_SET_CHECKSUM_CTRL(n, sums & ~(NETIF_CHECKSUM_CHECK_TCP | NETIF_CHECKSUM_CHECK_UDP));
        netif_poll(n);
        NETIF_SET_CHECKSUM_CTRL(n, sums);
    }
}

static bool now_ours(void)
{
    return nc__same_fn((void *)sys_now, (void *)self_now);
}

/* Which of the functions netcore gives lwIP is not the one lwIP calls (nc__tcpin_ours), or
 * NULL when all are. */
static const char *lwip_replacement_lost(void)
{
    static const struct {
        bool (*ours)(void);
        const char *name;
    } given[] = {
        { nc__tcpin_ours, "tcp_input" },
        { nc__udpin_ours, "udp_input" },
        { nc__arpin_ours, "etharp_input" },
        { now_ours, "sys_now" },
        { nc__chksum_ours, "nc__chksum" },
        { nc__iss_ours, "nc__tcp_isn" },
        { nc__pcbmap_ours, "memp_free" },
    };
    for (size_t i = 0; i < sizeof(given) / sizeof(given[0]); i++)
        if (!given[i].ours())
            return given[i].name;
    return NULL;
}

void nc__lock(struct netcore_stack *st)
{
    nc__mutex_lock(&st->lock);
}

void nc__run_queue(struct netcore_stack *st)
{
    struct nc_cmd c;
    struct nc_sock *s;
    unsigned what;
    int got;
    while ((got = nc__cmdq_pop(&st->cmdq, &c, &s, &what)) != 0) {
        if (got == 1) {
            if (c.type == NC_CMD_FN && c.fn != NULL)
                c.fn(c.arg);
            continue;
        }
        if (s->type != SOCK_STREAM)
            continue;
        if (what & NC_KICK_RX)
            nc__tcp_refill(st, s);
        if (what & NC_KICK_TX)
            nc__tcp_flush(st, s); /* may free s */
    }
}

static void start_linger(struct netcore_stack *st);

static void arm_timer(struct netcore_stack *st)
{
    u32_t sleep = sys_timeouts_sleeptime();
    if (sleep == SYS_TIMEOUTS_SLEEPTIME_INFINITE) {
        evtimer_del(st->ev_timer);
        st->timer_due = 0;
        return;
    }
    struct timeval tv = { .tv_sec = sleep / 1000, .tv_usec = (sleep % 1000) * 1000 };
    evtimer_add(st->ev_timer, &tv);
    st->timer_due = sys_now() + sleep;
    if (st->timer_due == 0)
        st->timer_due = 1;
}

#define TIMER_SLACK_MS 10

/* Rounds of relay pumping one nc__run_pending does; then the netstack thread takes over. */
#define RELAY_ROUNDS 8

/* Times one nc__run_pending takes in the kernel's answers to what it sent (devwatch.c). */
#define SETTLE_PASSES 2

/*
 * What a lock holder owes the others before it lets go: kicks and commands other threads
 * queued meanwhile (they found the lock taken and counted on its holder), packets lwIP sent
 * to our own addresses, connections still to fail after the device went down, relayed
 * sockets that changed, the kernel's answers to a handshake this thread sent (devwatch.c),
 * and, when a timer lwIP started is due before the netstack thread's, its re-arming.
 * Caller holds the lock, and keeps it.
 */
void nc__run_pending(struct netcore_stack *st)
{
    for (int pass = 0;; pass++) {
        for (int round = 0;; round++) {
            nc__run_queue(st);
            run_looped();
            if (st->netdown_pending) {
                st->netdown_pending = false;
                netif_set_link_down(st->netif);
                nc__tcp_netdown(st);
            }
            /* Relayed sockets that changed under the lock (relay.c): pumping them may queue
             * more work (a flush, a packet to ourselves), and that work may change them
             * again. */
            if (!nc__relay_pending(st))
                break;
            if (round == RELAY_ROUNDS) {
                nc__efd_signal(st->cmdq.efd); /* still busy: not all on this caller */
                break;
            }
            nc__relay_run(st);
        }
        if (!st->tx_held || pass == SETTLE_PASSES)
            break;
        nc__devwatch_settle(st, true); /* may send, and hold again */
    }
    nc__devwatch_settle(st, false);
    if (st->threaded) {
        if (nc__in_stack_thread) {
            arm_timer(st);
            start_linger(st);
        } else {
            /* A call from a program thread may have started a timer (tcp_tmr, ARP, a
             * retransmission) that is due before the thread's armed one: have the thread
             * re-arm. Not for a few milliseconds' difference: waking the thread costs a
             * context switch and a turn at this lock, on every connect when the new timer
             * is a retransmission timer only a little earlier than the armed one. */
            u32_t sleep = sys_timeouts_sleeptime();
            if (sleep != SYS_TIMEOUTS_SLEEPTIME_INFINITE &&
                (st->timer_due == 0 ||
                 (int32_t)(sys_now() + sleep + TIMER_SLACK_MS - st->timer_due) < 0))
                nc__efd_signal(st->cmdq.efd);
        }
    }
}

/* Only lets go of the lock: for a holder that changed nothing lwIP or a socket shows (what
 * others queued meanwhile woke the netstack thread, or netcore_step, through the eventfd). */
void nc__unlock(struct netcore_stack *st)
{
    nc__mutex_unlock(&st->lock);
}

void nc__run_pending_and_unlock(struct netcore_stack *st)
{
    nc__run_pending(st);
    nc__unlock(st);
}

void nc__kick(struct netcore_stack *st, struct nc_sock *s, unsigned what)
{
    if (nc__mutex_trylock(&st->lock)) {
        if (what & NC_KICK_RX)
            nc__tcp_refill(st, s);
        if (what & NC_KICK_TX)
            nc__tcp_flush(st, s);
        nc__run_pending_and_unlock(st);
        return;
    }
    nc__cmdq_kick(&st->cmdq, s, what);
}

static void on_device(evutil_socket_t fd, short what, void *arg)
{
    struct netcore_stack *st = arg;
    (void)fd;
    (void)what;
    nc__lock(st);
    nc__pump_device(st, st->cfg.rx_batch);
    sys_check_timeouts();
    nc__run_pending_and_unlock(st);
}

static void on_command(evutil_socket_t fd, short what, void *arg)
{
    struct netcore_stack *st = arg;
    (void)fd;
    (void)what;
    nc__cmdq_clear_wake(&st->cmdq);
    if (atomic_load(&st->stopping)) {
        event_base_loopbreak(st->base);
        return;
    }
    nc__lock(st);
    nc__run_pending_and_unlock(st); /* the queued commands are what woke us */
}

/* The linger tick (devwatch.c): a lazy hold goes within two. Each tick is a wake-up of this
 * thread, on the program's CPU when it is pinned: at 1 ms, with a ping-pong's lazy hold
 * claimed at every tick, sockperf's pinned p99 rose 15-19 -> 20-23 us; at 4 ms, claiming
 * only a hold no thread renewed, it is the same as without lingering. */
#define LINGER_MS 4

static bool add_linger(struct netcore_stack *st)
{
    struct timeval tv = { .tv_sec = 0, .tv_usec = LINGER_MS * 1000 };
    st->linger_on = evtimer_add(st->ev_linger, &tv) == 0;
    return st->linger_on;
}

/* On the netstack thread: a hold was taken, and asked for the tick. */
static void start_linger(struct netcore_stack *st)
{
    if (st->linger_on || !atomic_load(&st->holds_seen) || st->ev_linger == NULL)
        return;
    if (add_linger(st))
        atomic_store(&st->linger_ok, 1);
}

static void on_linger(evutil_socket_t fd, short what, void *arg)
{
    struct netcore_stack *st = arg;
    (void)fd;
    (void)what;
    st->linger_on = false;
    /* Holds were taken this tick: on. The tick cleared holds_seen, so start_linger's test
     * would say no. Without a timer nothing may linger. */
    if (nc__devwatch_tick(st) && !add_linger(st))
        nc__devwatch_stop_linger(st);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct netcore_stack *st = arg;
    (void)fd;
    (void)what;
    nc__lock(st);
    sys_check_timeouts();
    nc__tcp_tw_cap(st);
    nc__run_pending_and_unlock(st);
}

static void *thread_main(void *arg)
{
    struct netcore_stack *st = arg;
    nc__in_stack_thread = 1;
    nc__lock(st);
    nc__run_pending_and_unlock(st); /* arms the timer */
    event_base_dispatch(st->base);
    return NULL;
}

int netcore_step(struct netcore_stack *st, int timeout_ms)
{
    struct pollfd p[4] = {
        { .fd = st->dev_down ? -1 : st->dev.fd, .events = POLLIN },
        { .fd = st->cmdq.efd, .events = POLLIN },
        { .fd = nc__relay_epfd(st), .events = POLLIN },  /* relayed sockets (relay.c) */
        { .fd = nc__share_epfd(st), .events = POLLIN }, /* control connections (share.c) */
    };
    if (timeout_ms != 0) {
        nc__lock(st);
        u32_t sleep = sys_timeouts_sleeptime();
        nc__unlock(st);
        if (!atomic_load(&clock_is_manual) && sleep != SYS_TIMEOUTS_SLEEPTIME_INFINITE &&
            (timeout_ms < 0 || sleep < (u32_t)timeout_ms))
            timeout_ms = (int)sleep;
        struct timespec ts = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L };
        nc__raw_syscall(SYS_ppoll, p, 4, timeout_ms < 0 ? NULL : &ts, NULL, 0);
    }
    nc__cmdq_clear_wake(&st->cmdq);
    nc__lock(st);
    nc__relay_events(st);
    int n = st->dev_down ? 0 : nc__pump_device(st, 1024);
    sys_check_timeouts();
    nc__tcp_tw_cap(st);
    nc__run_pending_and_unlock(st);
    nc__share_events(st); /* takes the lock per request, as the public calls do */
    return n;
}

/*
 * Starts the netstack thread on a stack whose loop is set up. The program's handlers never
 * run on it: its calls go to libc untouched (nc__in_stack_thread), and it holds the stack
 * lock most of its time.
 */
int nc__thread_start(struct netcore_stack *st)
{
    atomic_store(&st->stopping, false);
    st->threaded = true;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = -pthread_create(&st->thread, NULL, thread_main, st);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        st->threaded = false;
    return rc;
}

/* Ends the netstack thread between two turns of its loop and waits for it. */
void nc__thread_stop(struct netcore_stack *st)
{
    atomic_store(&st->stopping, true);
    nc__efd_signal(st->cmdq.efd);
    pthread_join(st->thread, NULL);
    st->threaded = false;
}

static int base_setup(struct netcore_stack *st)
{
    struct event_config *ec = event_config_new();
    if (ec == NULL)
        return -ENOMEM;
    event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
    st->base = event_base_new_with_config(ec);
    event_config_free(ec);
    if (st->base == NULL)
        return -ENOMEM;
    /* The device through an epoll set a spinning caller can disarm (devwatch.c). */
    int rc = nc__devwatch_open(st);
    if (rc < 0)
        return rc;
    st->ev_dev = event_new(st->base, st->dev_watch, EV_READ | EV_PERSIST, on_device, st);
    st->ev_cmd = event_new(st->base, st->cmdq.efd, EV_READ | EV_PERSIST, on_command, st);
    st->ev_timer = evtimer_new(st->base, on_timer, st);
    st->ev_linger = evtimer_new(st->base, on_linger, st);
    if (st->ev_dev == NULL || st->ev_cmd == NULL || st->ev_timer == NULL || st->ev_linger == NULL)
        return -ENOMEM;
    if (event_add(st->ev_dev, NULL) < 0 || event_add(st->ev_cmd, NULL) < 0)
        return -EIO;
    return 0;
}

static void base_teardown(struct netcore_stack *st)
{
    if (st->ev_stat != NULL)
        event_free(st->ev_stat);
    st->ev_stat = NULL;
    nc__stat_free_clients(st);
    nc__stat_release(st, true);
    if (st->ev_dev != NULL)
        event_free(st->ev_dev);
    if (st->ev_cmd != NULL)
        event_free(st->ev_cmd);
    if (st->ev_timer != NULL)
        event_free(st->ev_timer);
    if (st->ev_linger != NULL)
        event_free(st->ev_linger);
    st->ev_linger = NULL;
    st->linger_on = false;
    atomic_store(&st->linger_ok, 0);
    if (st->base != NULL)
        event_base_free(st->base);
    st->ev_dev = st->ev_cmd = st->ev_timer = NULL;
    st->base = NULL;
    nc__devwatch_close(st);
}

/* Aborts every connection and frees every socket. Caller holds the lock. */
static void drop_all(struct netcore_stack *st)
{
    for (int i = 0; i < st->cfg.max_sockets; i++) {
        struct nc_sock *s = st->socks[i];
        if (s == NULL)
            continue;
        if (s->type == SOCK_DGRAM) {
            nc__udp_close(st, s);
            continue;
        }
        struct tcp_pcb *pcb = s->pcb.tcp;
        s->pcb.tcp = NULL;
        if (pcb != NULL) {
            tcp_arg(pcb, NULL);
            if (pcb->state == LISTEN) {
                tcp_close(pcb);
            } else {
                tcp_err(pcb, NULL);
                tcp_abort(pcb);
            }
        }
        nc__sock_free(st, s);
    }
    /* Connections the program already closed but lwIP still finishes (FIN, TIME-WAIT). */
    while (tcp_active_pcbs != NULL)
        tcp_abort(tcp_active_pcbs);
    while (tcp_tw_pcbs != NULL)
        tcp_abort(tcp_tw_pcbs);
}

/*
 * The kernel's default for IPV6_V6ONLY in this network namespace (net.ipv6.bindv6only),
 * read the way the kernel's own sockets would see it; off when unreadable, as on Linux.
 */
static bool read_bindv6only(void)
{
    char c = '0';
    int fd = (int)nc__raw_syscall(SYS_openat, AT_FDCWD, "/proc/sys/net/ipv6/bindv6only",
                                  O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    if (nc__sys_read(fd, &c, 1) != 1)
        c = '0';
    nc__sys_close(fd);
    return c == '1';
}

/* Last, on a stop or a failed start: the memory of st that netcore_start allocated. */
static void stack_free(struct netcore_stack *st)
{
    free(st->socks);
    free(st->refs);
    free(st->zombie);
    free(st->frame);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

/* nc__stat_open cannot fail the start: statistics are an aid, not a part of the stack. */
static int stat_setup(struct netcore_stack *st)
{
    nc__stat_open(st);
    return 0;
}

/* Control connections, for a shared stack only (not for a stack of its own). */
static int share_setup(struct netcore_stack *st)
{
    return st->cfg.share ? nc__share_setup(st) : 0;
}

/*
 * What netcore_start sets up, in order, once the device is open and lwIP initialised; the
 * teardown under its fail: label undoes any of them. what is err's text when setup fails,
 * followed by strerror of its errno when errno_text. manual: also for a stack the program
 * steps itself (NETCORE_MANUAL: no libevent, no thread).
 */
static const struct {
    int (*setup)(struct netcore_stack *st);
    const char *what;
    bool errno_text, manual;
} steps[] = {
    { nc__iss_setup, "initial sequence numbers", false, true },
    { nc__rto_init, "out of memory for the retransmission timers", false, true },
    { nc__pcbmap_init, "out of memory for the connection map", false, true },
    { nc__netif_setup, "lwIP interface setup failed", false, true },
    { base_setup, "libevent setup failed", false, false },
    { nc__relay_setup, "relay setup", true, true },
    /* Before the thread: it then owns the statistics' event, and the control socket's is in
     * its base. */
    { stat_setup, "statistics", false, false },
    { share_setup, "control connections", true, true },
    { nc__thread_start, "pthread_create", true, false },
};

int netcore_start(const struct netcore_config *cfg, int flags, struct netcore_stack **out,
                  char *err, size_t errlen)
{
    static bool lwip_ready;
    char dummy[8];
    if (err == NULL) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    if (nc__stack != NULL) {
        snprintf(err, errlen, "a netcore stack is already running in this process");
        return -EBUSY;
    }
    struct netcore_stack *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    st->cfg = *cfg;
    if (st->cfg.rx_batch <= 0) /* a configuration made without netcore_config_defaults */
        st->cfg.rx_batch = 64;
    nc__port_setup(st);
    st->bindv6only = read_bindv6only();
    pthread_mutex_init(&st->lock, NULL);
    st->dev.fd = -1;
    st->pcap_fd = -1;
    st->stat_fd = -1;
    st->dev_watch = -1;
    clock_gettime(CLOCK_MONOTONIC, &st->started);
    netcore_log_level(cfg->log_level);
    int rc = -ENOMEM;
    st->socks = calloc((size_t)cfg->max_sockets, sizeof(*st->socks));
    st->refs = calloc((size_t)cfg->max_sockets, sizeof(*st->refs));
    st->zombie = calloc((size_t)cfg->max_sockets, sizeof(*st->zombie));
    if (st->socks == NULL || st->refs == NULL || st->zombie == NULL) {
        snprintf(err, errlen, "out of memory for %d sockets", cfg->max_sockets);
        goto fail;
    }
    rc = nc__cmdq_init(&st->cmdq, cfg->cmd_queue);
    if (rc != 0) {
        snprintf(err, errlen, "command queue: %s", strerror(-rc));
        goto fail;
    }
    rc = nc__dev_open(cfg, &st->dev, err, errlen);
    if (rc != 0)
        goto fail;
    if (st->dev.index > 0) {
        /* The kth device of the pool: the kth address and MAC after the configured ones, so
         * that processes sharing the namespace's bridge are distinct hosts on it. */
        st->cfg.ip.s_addr = htonl(ntohl(st->cfg.ip.s_addr) + (uint32_t)st->dev.index);
        st->cfg.mac[5] = (uint8_t)(st->cfg.mac[5] + st->dev.index);
        unsigned low = (unsigned)(st->cfg.ip6.s6_addr[14] << 8 | st->cfg.ip6.s6_addr[15]) +
                       (unsigned)st->dev.index; /* the link-local one follows the MAC */
        st->cfg.ip6.s6_addr[14] = (uint8_t)(low >> 8);
        st->cfg.ip6.s6_addr[15] = (uint8_t)low;
    }
    rc = nc__pcap_open(st, err, errlen);
    if (rc != 0)
        goto fail;
    /* A frame of the MTU (and a VLAN tag); with offloads, the header and a 64 KB TCP
     * super-segment, the most the kernel hands over (offload.c). */
    st->frame_cap = st->dev.vnet > 0 ? st->dev.vnet + 14 + 0xffff + 4
                                     : (size_t)st->dev.mtu + 14 + 4;
    st->frame = malloc(st->frame_cap);
    if (st->frame == NULL) {
        rc = -ENOMEM;
        snprintf(err, errlen, "out of memory for a %zu-byte frame", st->frame_cap);
        goto fail;
    }
    const char *lost = lwip_replacement_lost();
    if (lost != NULL) {
        /* A program or a library loaded ahead of libnetcore.so defines the same name: lwIP
         * would run without netcore's guard, clock, checksum or ISNs. */
        rc = -ELIBBAD;
        snprintf(err, errlen, "lwIP's calls to %s reach another definition than netcore's "
                 "(the program or a library it loads defines %s)", lost, lost);
        goto fail;
    }
    if (!lwip_ready) {
        /* lwIP keeps its timer list for the life of the process: initialise it once. */
        lwip_init();
        lwip_ready = true;
    }
    nc__stack = st;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        if ((flags & NETCORE_MANUAL) && !steps[i].manual)
            continue;
        rc = steps[i].setup(st);
        if (rc != 0) {
            snprintf(err, errlen, "%s%s%s", steps[i].what, steps[i].errno_text ? ": " : "",
                     steps[i].errno_text ? strerror(-rc) : "");
            goto fail;
        }
    }
    if (nc__log_on(NETCORE_LOG_INFO)) {
        char ip[16], gw[16];
        inet_ntop(AF_INET, &st->cfg.ip, ip, sizeof(ip));
        inet_ntop(AF_INET, &st->cfg.gw, gw, sizeof(gw));
        const uint8_t *m = st->cfg.mac;
        nc__log(NETCORE_LOG_INFO,
                "stack up on %s (pool device %d): %s/%d via %s, "
                "MAC %02x:%02x:%02x:%02x:%02x:%02x, MTU %d, %d sockets", st->dev.name,
                st->dev.index, ip, st->cfg.prefix, gw, m[0], m[1], m[2], m[3], m[4], m[5],
                st->dev.mtu, st->cfg.max_sockets);
    }
    *out = st;
    return 0;
fail:
    nc__share_teardown(st);
    nc__relay_teardown(st);
    base_teardown(st);
    nc__netif_teardown(st);
    nc__rto_free(st);
    nc__pcbmap_free(st);
    nc__dev_close(&st->dev);
    nc__pcap_close(st);
    nc__cmdq_destroy(&st->cmdq);
    if (nc__stack == st)
        nc__stack = NULL;
    stack_free(st);
    return rc;
}

void netcore_stop(struct netcore_stack *st)
{
    /* A stack handed to a keeper is the keeper's, and its lock stays held (keep.c). */
    if (st == NULL || st->keeping)
        return;
    if (st->threaded)
        nc__thread_stop(st);
    nc__lock(st);
    nc__run_queue(st);
    run_looped();
    drop_all(st);
    run_looped(); /* the resets drop_all sent to our own addresses: free them */
    /* Sockets still parked for calls that never returned (a program bug): free them now. */
    for (int i = 0; i < st->cfg.max_sockets; i++) {
        struct nc_sock *z = atomic_exchange(&st->zombie[i], NULL);
        if (z != NULL)
            nc__sock_final_free(st, z);
    }
    nc__netif_teardown(st);
    nc__rto_free(st);
    nc__tcp_fin_ack_stop(st);
    nc__neigh_stop(st);
    nc__pcbmap_free(st);
    nc__relay_teardown(st); /* every relayed socket went with drop_all */
    nc__mutex_unlock(&st->lock);
    /* The device before the rendezvous' lock: whoever takes the lock next opens it. */
    nc__dev_close(&st->dev);
    nc__share_teardown(st);
    base_teardown(st);
    nc__pcap_close(st);
    nc__cmdq_destroy(&st->cmdq);
    nc__stack = NULL;
    stack_free(st);
    nc__ring_spare_flush();
}

void netcore_get_stats(struct netcore_stack *st, struct netcore_stats *out)
{
    nc__lock(st);
    *out = st->stats;
    out->sockets = st->nsocks;
    int tw = 0;
    for (struct tcp_pcb *p = tcp_tw_pcbs; p != NULL; p = p->next)
        tw++;
    out->time_wait = tw;
    out->ring_bytes = nc__ring_held();
    out->ring_refused = nc__ring_refused();
    nc__unlock(st);
}

/* Caller holds the lock: true while some connection still has data to deliver. */
bool nc__undelivered(struct netcore_stack *st)
{
    for (int i = 0; i < st->cfg.max_sockets; i++)
        if (st->socks[i] != NULL && st->socks[i]->type == SOCK_STREAM &&
            st->socks[i]->pcb.tcp != NULL && st->socks[i]->relay == NULL)
            return true; /* a closed socket still lingering on its send ring */
    for (struct tcp_pcb *p = tcp_active_pcbs; p != NULL; p = p->next)
        if (p->unsent != NULL || p->unacked != NULL)
            return true;
    return false;
}

int netcore_drain(struct netcore_stack *st, int timeout_ms)
{
    if (st->keeping)
        return 0; /* the keeper delivers what this process's sockets had to send */
    for (int i = 0; i < st->cfg.max_sockets; i++) {
        struct nc_sock *s = st->socks[i];
        /* A relayed socket is not the program's: it lives while some process has it. */
        if (s != NULL && !atomic_load(&s->app_closed) && s->relay == NULL)
            netcore_close(st, i);
    }
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        nc__lock(st);
        bool busy = nc__undelivered(st);
        nc__unlock(st);
        if (!busy)
            return 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (ms >= timeout_ms)
            return -ETIMEDOUT;
        if (!st->threaded)
            netcore_step(st, 10);
        else
            nanosleep(&(struct timespec){ 0, 5 * 1000000L }, NULL); /* the thread delivers */
    }
}
