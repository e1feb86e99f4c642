/*
 * Socket table and readiness.
 *
 * Two ways to wait. Blocking calls in the core sleep on a per-socket futex word that every
 * notify bumps (nc__sock_wait). The program's poll/select/epoll sleep on the socket's
 * eventfd, which the netstack signals when the socket moves into a state that some poller
 * registered for (wait_in/wait_out counts, plus errors and hang-up, which every poller wants);
 * pollers drain it, re-check the state, and pass the signal on when they leave.
 */
#include "sock.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lwip/pbuf.h>

#include "addr.h"
#include "cmdq.h"
#include "devwatch.h"
#include "netif.h"
#include "relay.h"
#include "ring.h"
#include "shimapi.h"
#include "sockopt.h"
#include "stack.h"
#include "sys.h"

/*
 * Lifetime: API calls count themselves in refs[slot] while they use a socket. When the
 * netstack is done with a socket (nc__sock_free, under the stack lock) it empties the slot
 * and parks the socket in zombie[slot]; whoever then sees refs[slot] at zero with a zombie
 * parked — the netstack at once, or the last call leaving — frees it under the lock. Nothing
 * touches the socket after dropping its count, and a slot is reused only when it has neither
 * calls nor a zombie.
 */
struct nc_sock *nc__sock_hold(struct netcore_stack *st, int id)
{
    if (st == NULL || id < 0 || id >= st->cfg.max_sockets)
        return NULL;
    atomic_fetch_add(&st->refs[id], 1);
    struct nc_sock *s = st->socks[id];
    /* A connection still in an accept queue has no handle yet, as in the kernel: its
     * listener owns it, and a close through a guessed handle (or netcore_drain closing
     * every slot) would free it under the listener's queue. */
    if (s == NULL || atomic_load(&s->app_closed) || atomic_load(&s->in_aq)) {
        nc__sock_put(st, id);
        return NULL;
    }
    return s;
}

/* Caller holds the stack lock. */
static void reap_slot(struct netcore_stack *st, int id)
{
    if (atomic_load(&st->refs[id]) != 0)
        return;
    struct nc_sock *z = atomic_exchange(&st->zombie[id], NULL);
    if (z != NULL)
        nc__sock_final_free(st, z);
}

void nc__sock_put(struct netcore_stack *st, int id)
{
    if (atomic_fetch_sub(&st->refs[id], 1) == 1 && atomic_load(&st->zombie[id]) != NULL) {
        nc__lock(st);
        reap_slot(st, id);
        nc__run_pending_and_unlock(st);
    }
}

/*
 * The wake goes to the kernel only when a call sleeps or is about to (futex_waiters, which
 * nc__sock_wait counts before its first look at seq): a close and a free each made a
 * FUTEX_WAKE per connection that woke nobody. Both are seq_cst, so a waiter we do not see
 * counted reads the new seq, and what was stored before it, in its first look.
 */
void nc__sock_wake(struct nc_sock *s)
{
    atomic_fetch_add(&s->seq, 1);
    if (atomic_load(&s->futex_waiters) > 0)
        nc__raw_syscall(SYS_futex, &s->seq, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/*
 * The eventfd is the stack's, high (sys.c), made as one and moved up: three system calls.
 * With prog_fd, a program's socket() or accept() is being served, which needs a descriptor
 * of its own at the lowest free number: the eventfd is made there, and the stack's copy
 * dup'ed up from it; two, where a dup down after the three made four.
 */
int nc__sock_make_efd(int *prog_fd, bool cloexec)
{
    if (prog_fd == NULL)
        return nc__sys_eventfd();
    *prog_fd = (int)nc__raw_syscall(SYS_eventfd2, 0, EFD_NONBLOCK | (cloexec ? EFD_CLOEXEC : 0));
    if (*prog_fd < 0)
        return -errno;
    int efd = nc__fd_high_dup(*prog_fd);
    if (efd < 0) {
        nc__sys_close(*prog_fd);
        *prog_fd = -1;
    }
    return efd;
}

/*
 * Caller holds the stack lock. With_efd false: a connection lwIP accepted, which gets its
 * eventfd only when accept() takes it from the queue (nc__tcp_accept): nobody can wait on
 * it before, and every signal and drain skips efd -1 (as in a forked child, fork.c).
 */
static int sock_alloc(struct netcore_stack *st, int family, int type, bool with_efd,
                      int *prog_fd, bool cloexec, struct nc_sock **out)
{
    int id;
    for (id = 0; id < st->cfg.max_sockets; id++)
        if (st->socks[id] == NULL && atomic_load(&st->refs[id]) == 0 &&
            atomic_load(&st->zombie[id]) == NULL)
            break;
    if (id == st->cfg.max_sockets)
        return -EMFILE;
    struct nc_sock *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->efd = with_efd ? nc__sock_make_efd(prog_fd, cloexec) : -1;
    if (s->efd < 0 && with_efd) {
        int err = s->efd;
        free(s);
        return err;
    }
    s->st = st;
    s->id = id;
    s->type = type;
    s->family = family;
    s->v6only = family == AF_INET6 && st->bindv6only;
    atomic_init(&s->state, NC_ST_NEW);
    pthread_mutex_init(&s->watch_mu, NULL);
    if (type == SOCK_STREAM) {
        pthread_mutex_init(&s->tcp.tx_mu, NULL);
        pthread_mutex_init(&s->tcp.rx_mu, NULL);
    } else {
        pthread_mutex_init(&s->udp.dq_mu, NULL);
        s->udp.dq_tail = &s->udp.dq_head;
    }
    nc__addr_make(st, family, NULL, 0, &s->local);
    nc__addr_make(st, family, NULL, 0, &s->peer);
    nc__opts_default(&s->opt);
    st->socks[id] = s;
    st->nsocks++;
    *out = s;
    return 0;
}

int nc__sock_alloc(struct netcore_stack *st, int family, int type, struct nc_sock **out)
{
    return sock_alloc(st, family, type, true, NULL, false, out);
}

int nc__sock_alloc_fd(struct netcore_stack *st, int family, int type, bool cloexec,
                      int *prog_fd, struct nc_sock **out)
{
    return sock_alloc(st, family, type, true, prog_fd, cloexec, out);
}

int nc__sock_alloc_conn(struct netcore_stack *st, int family, struct nc_sock **out)
{
    return sock_alloc(st, family, SOCK_STREAM, false, NULL, false, out);
}

/* Caller holds the stack lock; the socket no longer has a pcb. */
void nc__sock_free(struct netcore_stack *st, struct nc_sock *s)
{
    if (s->relay != NULL)
        nc__relay_detach(st, s); /* the program end reads EOF */
    nc__cmdq_forget(&st->cmdq, s);
    if (s->notify_owed) {
        /* Freed in the middle of a batch: the wake below stands for the notify it was owed. */
        struct nc_sock **pp = &st->notify_list;
        while (*pp != s)
            pp = &(*pp)->notify_next;
        *pp = s->notify_next;
        s->notify_owed = false;
    }
    nc__sock_wake(s);
    /* Empty the slot, park the socket, then look at the count (see nc__sock_hold). */
    st->socks[s->id] = NULL;
    atomic_store(&st->zombie[s->id], s);
    reap_slot(st, s->id);
}

void nc__sock_final_free(struct netcore_stack *st, struct nc_sock *s)
{
    /* nc__sock_free forgot the socket's kick, but a call still holding it may have kicked
     * since: its trylock failed, the holder let go before the kick went in, and nothing
     * has run the queue yet (check_cmdq's lifetime test). No kick can come after this: every
     * kicker holds the socket, and the count is zero. */
    nc__cmdq_forget(&st->cmdq, s);
    if (s->efd >= 0)
        nc__sys_close(s->efd);
    if (s->type == SOCK_STREAM) {
        nc__ring_free(&s->tcp.tx);
        nc__ring_free(&s->tcp.rx);
        nc__tcp_rx_drop(s);
        free(s->lis.aq);
        pthread_mutex_destroy(&s->tcp.tx_mu);
        pthread_mutex_destroy(&s->tcp.rx_mu);
    } else {
        while (s->udp.dq_head != NULL) {
            struct nc_dgram *d = s->udp.dq_head;
            s->udp.dq_head = d->next;
            free(d);
        }
        free(s->udp.groups);
        pthread_mutex_destroy(&s->udp.dq_mu);
    }
    while (s->watches != NULL) {
        struct nc_watch *x = s->watches;
        s->watches = x->next;
        free(x);
    }
    pthread_mutex_destroy(&s->watch_mu);
    st->nsocks--;
    free(s);
}

unsigned nc__sock_ready(struct nc_sock *s)
{
    unsigned r = 0;
    if (atomic_load(&s->app_closed))
        return POLLNVAL | POLLERR | POLLHUP; /* closed under a blocked call */
    int state = atomic_load(&s->state);
    if (atomic_load(&s->so_error) != 0)
        r |= POLLERR;
    if (s->type == SOCK_DGRAM) {
        bool rd_shut = atomic_load(&s->rd_shut);
        if (atomic_load(&s->udp.dq_count) > 0 || rd_shut)
            r |= POLLIN;
        if (rd_shut)
            r |= POLLRDHUP;
        if (rd_shut && atomic_load(&s->wr_shut))
            r |= POLLHUP; /* datagram_poll: both directions shut */
        return r | POLLOUT;
    }
    switch (state) {
    case NC_ST_NEW:
    case NC_ST_BOUND:
        return r | POLLOUT | POLLHUP;
    case NC_ST_LISTEN:
        return atomic_load(&s->lis.aq_count) > 0 ? r | POLLIN : r;
    case NC_ST_CONNECTING:
        return r;
    case NC_ST_CONNECTED: {
        bool eof = atomic_load(&s->tcp.rx_eof) || atomic_load(&s->rd_shut);
        if (nc__ring_used(&s->tcp.rx) > 0 || eof)
            r |= POLLIN;
        if (eof)
            r |= POLLRDHUP;
        if (atomic_load(&s->wr_shut) || nc__ring_space(&s->tcp.tx) > 0)
            r |= POLLOUT;
        if (eof && atomic_load(&s->wr_shut))
            r |= POLLHUP;
        return r;
    }
    default: /* NC_ST_CLOSED */
        return r | POLLIN | POLLOUT | POLLHUP | POLLRDHUP;
    }
}

static unsigned wanted(struct nc_sock *s)
{
    unsigned w = 0;
    if (atomic_load(&s->wait_in) > 0)
        w |= POLLIN | POLLRDHUP;
    if (atomic_load(&s->wait_out) > 0)
        w |= POLLOUT;
    return w ? w | POLLERR | POLLHUP : 0;
}

/* Caller holds the stack lock (a relayed socket is pumped before it is let go). */
void nc__sock_notify(struct nc_sock *s)
{
    if (s->relay != NULL)
        nc__relay_notify(s);
    /* Pairs with the fence in nc__sock_wait: either the waiter sees the new state, or we
     * see its registration. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&s->futex_waiters) > 0) {
        atomic_fetch_add(&s->seq, 1);
        nc__raw_syscall(SYS_futex, &s->seq, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    }
    unsigned w = wanted(s);
    unsigned ready = w != 0 || atomic_load(&s->nwatches) > 0 ? nc__sock_ready(s) : 0;
    if ((ready & w) != 0 && s->efd >= 0)
        nc__efd_signal(s->efd);
    if (atomic_load(&s->nwatches) > 0) {
        nc__mutex_lock(&s->watch_mu);
        for (struct nc_watch *x = s->watches; x != NULL; x = x->next)
            if (ready & (x->events | POLLERR | POLLHUP))
                nc__efd_signal(x->efd);
        nc__mutex_unlock(&s->watch_mu);
    }
}

/*
 * Within a device batch, every segment moved into a socket's ring used to notify: a futex
 * wake and an eventfd write per segment, and a reader woken (or its poll returning) for each
 * one while the batch still had more for it. The batch ends when the device queue is empty
 * (or the batch limit is hit), so one notify there loses no readiness and adds no latency to
 * a request/response: the last segment of a message is the last of its batch. Outside a
 * batch (a reader's refill, looped packets, timers) the notify goes out at once.
 */
void nc__sock_notify_later(struct nc_sock *s)
{
    struct netcore_stack *st = s->st;
    if (!st->pumping) {
        nc__sock_notify(s);
        return;
    }
    if (s->notify_owed)
        return;
    s->notify_owed = true;
    s->notify_next = st->notify_list;
    st->notify_list = s;
}

void nc__sock_notify_flush(struct netcore_stack *st)
{
    while (st->notify_list != NULL) {
        struct nc_sock *s = st->notify_list;
        st->notify_list = s->notify_next;
        s->notify_next = NULL;
        s->notify_owed = false;
        nc__sock_notify(s);
    }
}

int nc__sock_watch(struct nc_sock *s, int efd, unsigned events)
{
    nc__mutex_lock(&s->watch_mu);
    struct nc_watch *x = s->watches;
    while (x != NULL && x->efd != efd)
        x = x->next;
    if (x == NULL) {
        x = calloc(1, sizeof(*x));
        if (x == NULL) {
            nc__mutex_unlock(&s->watch_mu);
            return -ENOMEM;
        }
        x->efd = efd;
        x->next = s->watches;
        s->watches = x;
        atomic_fetch_add(&s->nwatches, 1);
    }
    x->events = events;
    nc__mutex_unlock(&s->watch_mu);
    atomic_thread_fence(memory_order_seq_cst);
    /* Already ready: let the watcher see it now, not at the next transition. */
    if (nc__sock_ready(s) & (events | POLLERR | POLLHUP))
        nc__efd_signal(efd);
    return 0;
}

int nc__sock_unwatch(struct nc_sock *s, int efd)
{
    nc__mutex_lock(&s->watch_mu);
    struct nc_watch **pp = &s->watches;
    while (*pp != NULL && (*pp)->efd != efd)
        pp = &(*pp)->next;
    struct nc_watch *x = *pp;
    if (x != NULL) {
        *pp = x->next;
        atomic_fetch_sub(&s->nwatches, 1);
    }
    nc__mutex_unlock(&s->watch_mu);
    free(x);
    return x != NULL ? 0 : -ENOENT;
}

void nc__sock_want(struct nc_sock *s, unsigned events, int delta)
{
    if (events & (POLLIN | POLLRDHUP | POLLPRI))
        atomic_fetch_add(&s->wait_in, delta);
    if (events & POLLOUT)
        atomic_fetch_add(&s->wait_out, delta);
    if (delta < 0) {
        /* The leaving waiter may have drained a signal another one still needs. */
        unsigned w = wanted(s);
        if (w != 0 && (nc__sock_ready(s) & w) != 0 && s->efd >= 0)
            nc__efd_signal(s->efd);
    }
}

unsigned nc__sock_wanted(struct nc_sock *s)
{
    unsigned w = wanted(s);
    return w != 0 ? nc__sock_ready(s) & w : 0;
}

static void settle_one(struct nc_sock *s, int efd, unsigned w)
{
    if ((nc__sock_ready(s) & w) != 0)
        return;
    /* Drain, then look again: a signal that raced with the drain is put back. */
    nc__efd_drain(efd);
    atomic_thread_fence(memory_order_seq_cst);
    if ((nc__sock_ready(s) & w) != 0)
        nc__efd_signal(efd);
}

void nc__sock_settle(struct nc_sock *s)
{
    unsigned w = wanted(s);
    if (w != 0 && s->efd >= 0)
        settle_one(s, s->efd, w);
    if (atomic_load(&s->nwatches) > 0) {
        nc__mutex_lock(&s->watch_mu);
        for (struct nc_watch *x = s->watches; x != NULL; x = x->next)
            settle_one(s, x->efd, x->events | POLLERR | POLLHUP);
        nc__mutex_unlock(&s->watch_mu);
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Before sleeping, a blocked caller may poll the device itself for a while (spin_us) and run
 * what arrives under the stack lock: the answer it waits for is often a few microseconds
 * away, and a sleeping hand-off through the netstack thread costs two wake-ups.
 * Returns true when the socket became ready; false when the spin ended, or when a handler of
 * the program ran since the call began (nc__crit_handled moved from since).
 */
/* The most a spin may have found waiting and still leave its hold lingering. */
#define LINGER_BYTES 4096

static bool short_answer(struct nc_sock *s)
{
    return s->type != SOCK_STREAM || atomic_load(&s->state) != NC_ST_CONNECTED ||
           nc__ring_used(&s->tcp.rx) <= LINGER_BYTES;
}

bool nc__spin(struct nc_sock *s, unsigned mask, int timeout_ms, sig_atomic_t since)
{
    struct netcore_stack *st = s->st;
    if (st->cfg.spin_us <= 0 || timeout_ms == 0)
        return false;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool held = false;
    bool ready = false;
    for (unsigned i = 0;; i++) {
        /* One pass first: what is queued already costs no hold (two epoll_ctl calls). */
        if (i == 1)
            held = nc__devwatch_hold_thread(st);
        if (nc__sock_ready(s) & mask) {
            ready = true;
            break;
        }
        if (nc__crit_handled != since)
            break; /* a handler ran: the caller's EINTR (nc__sock_wait) */
        if (nc__mutex_trylock(&st->lock)) {
            nc__pump_device(st, st->cfg.rx_batch);
            nc__run_pending_and_unlock(st);
        }
        if ((i & 15) == 15) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            long us = (t.tv_sec - t0.tv_sec) * 1000000 + (t.tv_nsec - t0.tv_nsec) / 1000;
            if (us >= st->cfg.spin_us)
                break;
        }
    }
    /* Unless a handler's wrapper did. A thread that got a short answer (a response, a
     * connection, an EOF) usually comes back for the next within microseconds: its hold
     * lingers (devwatch.c). Not while data streams: the netstack thread reads the device
     * beside a program busy with what it got, or with what it sends. */
    if (held) {
        if (ready && !(mask & POLLOUT) && short_answer(s))
            nc__devwatch_drop_held_lazy();
        else
            nc__devwatch_drop_held();
    }
    return ready;
}

/*
 * Blocking calls inside the core wait on a futex word that every notify bumps, not on the
 * eventfd: several threads may block on one socket for different things (a reader and a
 * writer), and draining a shared eventfd would take a wake-up from the one it was meant for.
 * The eventfd stays for the program's poll/select/epoll.
 *
 * since is nc__crit_handled as the API call found it on entry: a handler of the program that
 * ran since then interrupts the call (-EINTR), as the kernel's call would have been. The
 * snapshot must come from the entry, not from here: every caller lets go of a counted lock
 * (a ring's, the stack's) just before, and that unlock is where a signal deferred during the
 * copy or under the stack lock has its handler run. A handler that runs at depth 0 between
 * our last look and the futex's own comparison bumps the word we are about to wait on
 * (nc__crit_wait, see shimapi.h), so FUTEX_WAIT returns at once and the loop looks again.
 */
int nc__sock_wait(struct nc_sock *s, unsigned events, int timeout_ms, sig_atomic_t since)
{
    unsigned mask = events | POLLERR | POLLHUP;
    int64_t deadline = 0; /* fixed at the first sleep (nc__left_ms) */
    int result;
    if (atomic_load(&s->app_closed))
        return -EBADF;
    if (nc__spin(s, mask, timeout_ms, since))
        return (int)(nc__sock_ready(s) & mask);
    atomic_fetch_add(&s->futex_waiters, 1);
    nc__devwatch_idle(s->st, +1);
    _Atomic uint32_t *outer = nc__crit_wait; /* a handler's call interrupted ours */
    nc__crit_wait = &s->seq;
    for (;;) {
        uint32_t seq = atomic_load(&s->seq);
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load(&s->app_closed)) {
            result = -EBADF; /* another thread closed it */
            break;
        }
        unsigned r = nc__sock_ready(s) & mask;
        if (r != 0) {
            result = (int)r;
            break;
        }
        if (nc__crit_handled != since) {
            /* A handler ran while we were not asleep in the futex (spinning, deferred until
             * a lock was let go, or just now): the kernel's call would have been interrupted. */
            result = -EINTR;
            break;
        }
        struct timespec ts, *tsp = NULL;
        if (timeout_ms >= 0) {
            int left = nc__left_ms(&deadline, timeout_ms);
            if (left == 0) {
                result = 0;
                break;
            }
            ts.tv_sec = left / 1000;
            ts.tv_nsec = (long)(left % 1000) * 1000000L;
            tsp = &ts;
        }
        long rc = nc__raw_syscall(SYS_futex, &s->seq, FUTEX_WAIT_PRIVATE, seq, tsp, NULL, 0);
        if (rc < 0 && errno == EINTR) {
            result = -EINTR;
            break;
        }
    }
    nc__crit_wait = outer;
    nc__devwatch_idle(s->st, -1);
    atomic_fetch_sub(&s->futex_waiters, 1);
    return result;
}

/*
 * A blocking call that may wait more than once (its item taken by another thread in between,
 * a partial transfer) keeps one deadline for the whole call, so that SO_RCVTIMEO/SO_SNDTIMEO
 * bound the call and not each wait. The deadline (*deadline, 0 until then) is fixed at the
 * call's first wait: a call that never waits, and every non-blocking (0) or unbounded (-1)
 * one, reads no clock. Returns what is left for nc__sock_wait (-1: forever, 0: expired).
 */
int nc__left_ms(int64_t *deadline, int timeout_ms)
{
    if (timeout_ms <= 0)
        return timeout_ms;
    int64_t now = now_ms();
    if (*deadline == 0) {
        *deadline = now + timeout_ms;
        return timeout_ms;
    }
    int64_t d = *deadline - now;
    return d > 0 ? (int)d : 0;
}

/* How long a blocking call may wait: 0 for non-blocking, -1 forever, else ms. */
int nc__sock_timeout(struct nc_sock *s, int flags, bool sending)
{
    if ((flags & MSG_DONTWAIT) || atomic_load(&s->nonblock))
        return 0;
    int t = sending ? s->opt.sndtimeo_ms : s->opt.rcvtimeo_ms;
    return t > 0 ? t : -1;
}
