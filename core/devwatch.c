/*
 * devwatch: the netstack thread leaves the device to a program thread that is polling it.
 *
 * A blocked call spins for a while before it sleeps (nc__spin), reading the device itself:
 * the answer it waits for is usually a few microseconds away. The netstack thread meanwhile
 * sleeps in epoll on the same device, so the kernel wakes it for every frame that arrives,
 * the spinner's answer included: an IPI and a context switch in the sender's path (the
 * peer's, or our own writev when the kernel answers within it, as it does a SYN), then a
 * thread that competes with the spinner for the stack lock, and whichever loses sleeps on
 * the lock's futex. Profiled on bench/connrate: a sixth of the client's time went to waking
 * the netstack thread and to lock handoffs between the two (futex wait/wake, 17 futex calls
 * per connection), and in sockperf ping-pong the thread woke once per message only to find
 * the work done.
 *
 * So the thread watches the device through an epoll set of its own (dev_watch), which
 * libevent watches in turn. While any thread spins, the device's entry in it is disarmed
 * (events 0): frames wake nobody, and the spinner reads them. The last spinner to leave arms
 * it again; EPOLL_CTL_MOD looks at the device's readiness at once, so a frame that came
 * after the spinner's last read wakes the thread then, and nothing waits unread. The counter
 * orders the two transitions: only 0->1 disarms and only 1->0 arms, and a thread arms only
 * after its own disarm returned, so the set ends armed whenever nobody spins (an
 * interleaving can leave it armed during a spin, which costs only the wake-ups of before).
 * Two epoll_ctl calls per spin, against a wake-up of tens of microseconds on these VMs
 * (DESIGN.md, "Wake-ups are expensive").
 *
 * The kernel answers some frames before our writev returns, in the writer's context: a SYN
 * with its SYN-ACK, a FIN with its ACK, a new connection's first data with an ACK (a kernel
 * peer's quick-ACK mode). Those answers woke the thread before the caller could start to
 * spin, so a program thread that sends such a frame under the stack lock holds the device
 * from just before the write, and nc__run_pending takes the answers itself (settle) before
 * it lets go. Not for every frame: the hold costs two epoll_ctl calls per send, which a
 * ping-pong's request pays for nothing (its answer comes from the peer program, later, when
 * the caller spins anyway): p50 +1-2 us of 31. bench/connrate, client CPU per connection and
 * voluntary context switches: 93-105 us and 3-5 before devwatch, 75-85 us and 1.8 holding
 * for SYN and FIN, 55-65 us and 0.0-0.1 with the first two data segments too (pcbmap.c
 * counts them).
 */
#include "devwatch.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "netif.h"
#include "pcbmap.h"
#include "shimapi.h"
#include "stack.h"
#include "sys.h"

int nc__devwatch_open(struct netcore_stack *st)
{
    atomic_store(&st->spinners, 0);
    /* Up with the stack's other fds, away from the numbers programs pick (sys.c). */
    st->dev_watch = nc__fd_high((int)nc__raw_syscall(SYS_epoll_create1, EPOLL_CLOEXEC));
    if (st->dev_watch < 0)
        return -errno;
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = st->dev.fd };
    if (nc__raw_syscall(SYS_epoll_ctl, st->dev_watch, EPOLL_CTL_ADD, st->dev.fd, &ev) != 0) {
        int e = -errno;
        nc__devwatch_close(st);
        return e;
    }
    return 0;
}

void nc__devwatch_close(struct netcore_stack *st)
{
    nc__sys_clear_fd(&st->dev_watch);
}

/*
 * A keeper (keep.c) inherits the set, which is the exiting driver's as well: one of the
 * driver's threads caught spinning by the fork could leave it disarmed, and the copied
 * counter above 0, for good. The keeper, alone now, takes a set of its own under the same
 * number (libevent's event names that number) with the device armed.
 */
void nc__devwatch_reset(struct netcore_stack *st)
{
    atomic_store(&st->spinners, 0);
    atomic_store(&st->lazy, 0);
    atomic_store(&st->sleepers, 0);
    atomic_store(&st->linger_ok, 0);
    atomic_store(&st->linger_asked, 0);
    st->tx_held = false;
    if (st->dev_watch < 0)
        return;
    int old = st->dev_watch;
    st->dev_watch = -1;
    if (nc__devwatch_open(st) < 0) {
        st->dev_watch = old; /* shared still, and armed unless a spinner was caught */
        return;
    }
    if (nc__raw_syscall(SYS_dup3, st->dev_watch, old, O_CLOEXEC) < 0) {
        nc__sys_close(st->dev_watch);
        st->dev_watch = old;
        return;
    }
    nc__sys_close(st->dev_watch);
    st->dev_watch = old;
}

static void arm(struct netcore_stack *st, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.fd = st->dev.fd };
    /* Fails only with the device gone (closed: the kernel dropped the entry), when there
     * is nothing left to watch. Raw: the shim's epoll_ctl is for the program's sets. */
    (void)nc__raw_syscall(SYS_epoll_ctl, st->dev_watch, EPOLL_CTL_MOD, st->dev.fd, &ev);
}

bool nc__devwatch_hold(struct netcore_stack *st)
{
    if (!st->cfg.spin_own || !st->threaded || st->dev_watch < 0 || st->dev_down)
        return false;
    atomic_store(&st->holds_seen, 1);
    if (atomic_load(&st->lazy) != 0 && atomic_exchange(&st->lazy, 0) != 0)
        return true; /* the lazy hold, counted and disarmed already, is ours now */
    if (!atomic_load(&st->linger_ok) && atomic_exchange(&st->linger_asked, 1) == 0)
        nc__efd_signal(st->cmdq.efd); /* start the tick: later releases may linger */
    if (atomic_fetch_add(&st->spinners, 1) == 0)
        arm(st, 0);
    return true;
}

void nc__devwatch_release(struct netcore_stack *st)
{
    if (atomic_fetch_sub(&st->spinners, 1) == 1)
        arm(st, EPOLLIN);
}

/* A handler that left by siglongjmp between taking the lazy hold and letting it go would
 * leave a count nobody owns, and the process deaf: the signal waits (nc__crit_enter). */
void nc__devwatch_claim(struct netcore_stack *st)
{
    if (atomic_load(&st->lazy) == 0)
        return;
    nc__crit_enter();
    if (atomic_exchange(&st->lazy, 0) != 0)
        nc__devwatch_release(st);
    nc__crit_leave();
}

/*
 * Lingering. A program thread that lets go of the device after a connect, a first send or a
 * recv that got its answer usually comes back within microseconds for the next one, and
 * takes the device again: two epoll_ctl calls per hold, six per connection of
 * bench/connrate, and any frame that lands between a release and the next hold (the
 * server's FIN just behind its response) wakes the netstack thread, on the program's own
 * CPU when it is pinned. So such a release leaves its hold lazy: counted, the device still
 * disarmed, owned by no thread. The next hold, by any thread, takes it over without a
 * system call. Everything that would wait on the netstack thread lets it go first:
 *  - a program thread about to sleep in a wait netcore serves (nc__devwatch_idle);
 *  - the linger tick, every LINGER_MS on the netstack thread while holds are being taken,
 *    for a lazy hold no thread left anew since the tick before: the bound, two ticks, on
 *    how long a frame can wait when every thread went off to other work.
 * A release lingers only while the tick runs (linger_ok) and no thread sleeps in a wait;
 * each side rechecks the other's flag after its own store (sequentially consistent), so a
 * lazy hold is never left behind a sleeper or a stopped tick.
 */
void nc__devwatch_release_lazy(struct netcore_stack *st)
{
    if (!atomic_load(&st->linger_ok) || atomic_load(&st->sleepers) > 0) {
        nc__devwatch_release(st);
        return;
    }
    atomic_fetch_add(&st->lazy_gen, 1);
    if (atomic_exchange(&st->lazy, 1) != 0)
        nc__devwatch_release(st); /* one lazy hold is enough: ours goes */
    if (atomic_load(&st->sleepers) > 0 || !atomic_load(&st->linger_ok))
        nc__devwatch_claim(st);
}

void nc__devwatch_idle(struct netcore_stack *st, int delta)
{
    atomic_fetch_add(&st->sleepers, delta);
    if (delta > 0)
        nc__devwatch_claim(st);
}

bool nc__devwatch_tick(struct netcore_stack *st)
{
    /* Only a lazy hold no thread has renewed since the last tick: one that busy threads
     * keep leaving and taking over would come back at once, for two epoll_ctl calls. */
    unsigned gen = atomic_load(&st->lazy_gen);
    if (gen == st->tick_gen)
        nc__devwatch_claim(st);
    st->tick_gen = gen;
    if (atomic_exchange(&st->holds_seen, 0) != 0)
        return true;
    nc__devwatch_stop_linger(st);
    return false;
}

void nc__devwatch_stop_linger(struct netcore_stack *st)
{
    atomic_store(&st->linger_ok, 0);
    atomic_store(&st->linger_asked, 0);
    nc__devwatch_claim(st); /* one left between the last claim and linger_ok's store */
}

/*
 * The hold of a thread that spins on the device outside the stack lock (nc__spin). It is the
 * thread's so that the shim's signal wrapper can let go of it (nc__devwatch_drop_held) before
 * a handler of the program runs: a handler that leaves the call by siglongjmp -- alarm() and
 * siglongjmp are an old way to time a recv out -- would otherwise take the hold along, leaving
 * the device disarmed for good and the process deaf to the network.
 * thread_hold is set before the hold is taken: a signal in between releases a hold not yet
 * counted, which only leaves the next hold without its disarm (spinners one low, healed when
 * it returns to 0); set after, the same signal would leak the hold.
 */
static NC_TLS struct netcore_stack *_Atomic thread_hold;

bool nc__devwatch_hold_thread(struct netcore_stack *st)
{
    /* A handler between the count and the disarm would release, arm, and then see our
     * disarm land: the device deaf with nobody holding it. The signal waits. */
    nc__crit_enter();
    atomic_store(&thread_hold, st);
    bool held = nc__devwatch_hold(st);
    if (!held)
        atomic_store(&thread_hold, NULL);
    nc__crit_leave();
    return held;
}

void nc__devwatch_drop_held(void)
{
    struct netcore_stack *st = atomic_exchange(&thread_hold, NULL);
    if (st != NULL)
        nc__devwatch_release(st);
}

void nc__devwatch_drop_held_lazy(void)
{
    nc__crit_enter(); /* the hold is nobody's between the exchange and the release */
    struct netcore_stack *st = atomic_exchange(&thread_hold, NULL);
    if (st != NULL)
        nc__devwatch_release_lazy(st);
    nc__crit_leave();
}

/* The TCP flags of an IPv4 or IPv6 (no extension headers) packet, 0 for anything else. */
static uint8_t tcp_flags(const uint8_t *ip, size_t len)
{
    if (len >= 20 && (ip[0] >> 4) == 4 && ip[9] == 6 && len >= (size_t)(ip[0] & 0xf) * 4 + 14)
        return ip[(ip[0] & 0xf) * 4 + 13];
    if (len >= 40 + 14 && (ip[0] >> 4) == 6 && ip[6] == 6)
        return ip[40 + 13];
    return 0;
}

/*
 * How many answers settle reads. A pump to the empty queue ends in a readv that says
 * EAGAIN, one per hold: three per connection of bench/connrate (connect, first data, close).
 * A SYN has one answer (SYN-ACK or reset), and so has a FIN (its ACK; the peer's own FIN
 * comes when its program closes): settle reads that many frames and stops, which saves the
 * EAGAIN of the SYN's and the FIN's holds. Not after data: the peer's program, woken inside
 * our writev, has often answered by the time its ACK is read (connrate: the response and
 * the server's FIN behind the ACK, 2 frames per first request in 2), and what settle leaves
 * would wake the netstack thread once the release arms the device (the kernel finds it
 * readable): a wake-up to save a readv. A frame beyond the count is not lost either way.
 */
void nc__devwatch_tx(struct netcore_stack *st, const uint8_t *ip, size_t len)
{
    if (nc__in_stack_thread || !st->cfg.spin_own)
        return;
    uint8_t fl = tcp_flags(ip, len);
    bool syn_fin = (fl & (0x01 | 0x02)) != 0;
    if (!syn_fin && !(fl != 0 && nc__pcb_young_send(st, ip, len)))
        return;
    if (!st->tx_held) {
        if (!nc__devwatch_hold(st))
            return;
        st->tx_held = true;
        st->tx_answers = 0;
    }
    if (!syn_fin)
        st->tx_answers = st->cfg.rx_batch; /* to the empty queue */
    else if (st->tx_answers < st->cfg.rx_batch)
        st->tx_answers++;
}

void nc__devwatch_settle(struct netcore_stack *st, bool read)
{
    if (!st->tx_held)
        return;
    st->tx_held = false;
    if (read)
        nc__pump_device(st, st->tx_answers);
    nc__devwatch_release_lazy(st);
}
