/*
 * poll, ppoll, select, pselect over a mix of netcore sockets and kernel fds, in one kernel
 * call: our fds are eventfds, so the kernel waits on them beside the rest. For each of ours
 * we register interest with the core (which then signals the eventfd on the transitions we
 * care about), translate the real socket state into revents, and drain the eventfd before
 * re-checking so no wake-up is lost and none repeats.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <limits.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "shim.h"

#define STACK_FDS 64

/* The kernel refuses a poll of more entries than RLIMIT_NOFILE (EINVAL) before it reads the
 * array, so a short array with a large count is never read past its end: the shim reads
 * the array too (which entries are ours), and must refuse first. */
static int fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur > INT_MAX)
        return INT_MAX;
    return (int)rl.rlim_cur;
}

/*
 * select's count as the kernel takes it: cut to the size of the process's fd table (its
 * FDSize, no fd can be open beyond it), so a count above FD_SETSIZE reads no more of the sets
 * than the kernel would. Asked of /proc only for such a count; FD_SETSIZE when unknown.
 */
static int select_count(int nfds)
{
    if (nfds <= FD_SETSIZE)
        return nfds;
    char buf[2048];
    int fd = (int)nc__raw_syscall(SYS_openat, AT_FDCWD, "/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return FD_SETSIZE;
    long len = nc__raw_syscall(SYS_read, fd, buf, sizeof(buf) - 1);
    nc__raw_syscall(SYS_close, fd);
    buf[len > 0 ? len : 0] = '\0';
    const char *f = strstr(buf, "\nFDSize:");
    long size = f != NULL ? strtol(f + 8, NULL, 10) : 0;
    if (size <= 0)
        return FD_SETSIZE;
    return nfds < size ? nfds : (int)size;
}

/* The kernel's checks of a poll's arguments, in its order: the timeout, then the count
 * (asked of getrlimit only for more than STACK_FDS entries, which a limit that low refuses
 * rarely enough). 0 or -EINVAL. */
static int poll_args(nfds_t n, const struct timespec *tmo)
{
    if (tmo != NULL && (tmo->tv_sec < 0 || tmo->tv_nsec < 0 || tmo->tv_nsec >= 1000000000L))
        return -EINVAL;
    if (n > STACK_FDS && n > (nfds_t)fd_limit())
        return -EINVAL;
    return 0;
}

/* fd_set bits by hand: glibc's FD_ISSET aborts (fortify) for fd >= FD_SETSIZE, and select's
 * sets may be longer than an fd_set when nfds says so, as the kernel reads them. */
#define SET_BITS (8 * (int)sizeof(unsigned long))
static bool bit_isset(const fd_set *s, int fd)
{
    return (((const unsigned long *)(const void *)s)[fd / SET_BITS] >> (fd % SET_BITS)) & 1;
}

static void bit_set(fd_set *s, int fd)
{
    ((unsigned long *)(void *)s)[fd / SET_BITS] |= 1UL << (fd % SET_BITS);
}

/* The first nfds bits cleared, as the kernel writes back whole words up to nfds. */
static void bits_zero(fd_set *s, int nfds)
{
    memset(s, 0, (size_t)(nfds + SET_BITS - 1) / SET_BITS * sizeof(unsigned long));
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* An entry of the call: its socket's handle (-1 for a kernel fd), and whether its k entry
 * waits on an eventfd of the call's own (move_to_own) rather than the socket's shared one.
 * The flag, not the fd number, says so: another thread may close fds[i].fd meanwhile, and
 * the own eventfd may then get that number. */
struct ent {
    int h;
    bool own;
};

static short our_revents(int h, short events)
{
    unsigned want = (unsigned short)events | POLLERR | POLLHUP;
    return (short)(nc__ready(h, want) & want);
}

/*
 * fds[i] woke on its socket's shared eventfd k[i].fd and drained it, but none of its events
 * are ready: if the socket is ready for what another poller registered, the wake-up was that
 * poller's. Every entry of the socket (e[j].h == e[i].h) then moves to a watch on an eventfd of
 * the call's own for this socket, put in k in place of the shared one; the watch comes
 * before the shared registration is withdrawn, so no change is missed in between, and
 * withdrawing signals the shared eventfd again for the others. One eventfd per socket: a
 * consumer of the socket drains a watch's eventfd once the socket is not ready for it
 * (nc__sock_settle), which must not take another socket's signal. Only threads sharing a
 * socket get here.
 */
static void move_to_own(const struct pollfd *fds, struct pollfd *k, struct ent *e, nfds_t n,
                        nfds_t i)
{
    unsigned mine = (unsigned short)fds[i].events | POLLERR | POLLHUP;
    int h = e[i].h;
    if ((netcore_wanted(nc_stack, h) & ~mine) == 0)
        return;
    int own = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (own < 0)
        return; /* stays on the shared eventfd: woken again until the other poller leaves */
    unsigned all = 0;
    for (nfds_t j = 0; j < n; j++)
        if (e[j].h == h)
            all |= (unsigned short)fds[j].events;
    if (netcore_watch(nc_stack, h, own, all) != 0) {
        LIBC(close)(own);
        return;
    }
    for (nfds_t j = 0; j < n; j++) {
        if (e[j].h == h) {
            netcore_want(nc_stack, h, (unsigned short)fds[j].events, -1);
            k[j].fd = own;
            e[j].own = true;
        }
    }
}

/* Withdraws what the call registered for its netcore sockets (after move_to_own too). */
static void leave(const struct pollfd *fds, const struct pollfd *k, struct ent *e, nfds_t n)
{
    for (nfds_t i = 0; i < n; i++) {
        int h = e[i].h;
        if (h < 0)
            continue;
        if (!e[i].own) {
            netcore_want(nc_stack, h, (unsigned short)fds[i].events, -1);
            continue;
        }
        netcore_unwatch(nc_stack, h, k[i].fd); /* under the stack lock: nothing in flight */
        LIBC(close)(k[i].fd);
        for (nfds_t j = i; j < n; j++)
            if (e[j].h == h)
                e[j].h = -1; /* the socket's other entries shared that eventfd: done */
    }
}

/* The shared implementation; tmo NULL waits forever. */
static int mixed_poll(struct pollfd *fds, nfds_t n, const struct timespec *tmo,
                      const sigset_t *mask)
{
    struct ent estack[STACK_FDS];
    struct pollfd kstack[STACK_FDS];
    struct ent *e = estack;
    struct pollfd *k = kstack;
    int ours = 0;
    for (nfds_t i = 0; i < n; i++)
        if (nc__fd_handle(fds[i].fd) >= 0)
            ours++;
    if (ours == 0)
        return LIBC(ppoll)(fds, n, tmo, mask);
    if (n > STACK_FDS) {
        e = malloc(n * sizeof(*e));
        k = malloc(n * sizeof(*k));
        if (e == NULL || k == NULL) {
            free(e);
            free(k);
            errno = ENOMEM;
            return -1;
        }
    }
    for (nfds_t i = 0; i < n; i++) {
        e[i] = (struct ent){ .h = nc__fd_handle(fds[i].fd), .own = false };
        k[i] = fds[i];
        if (e[i].h >= 0) {
            netcore_want(nc_stack, e[i].h, (unsigned short)fds[i].events, +1);
            k[i].events = POLLIN;
        }
    }
    int64_t deadline = tmo != NULL ? now_ns() + tmo->tv_sec * 1000000000LL + tmo->tv_nsec : -1;
    int total;
    for (;;) {
        total = 0;
        for (nfds_t i = 0; i < n; i++) {
            if (e[i].h >= 0) {
                fds[i].revents = our_revents(e[i].h, fds[i].events);
                total += fds[i].revents != 0;
            }
        }
        struct timespec left = { 0, 0 }, *lp = &left;
        if (total == 0) {
            if (deadline < 0) {
                lp = NULL;
            } else {
                int64_t d = deadline - now_ns();
                if (d > 0) {
                    left.tv_sec = d / 1000000000;
                    left.tv_nsec = d % 1000000000;
                }
            }
        }
        bool sleeps = nc_stack != NULL && (lp == NULL || lp->tv_sec > 0 || lp->tv_nsec > 0);
        if (sleeps)
            nc__devwatch_idle(nc_stack, +1);
        int rc = LIBC(ppoll)(k, n, lp, mask);
        if (sleeps)
            nc__devwatch_idle(nc_stack, -1);
        if (rc < 0) {
            total = -1;
            break;
        }
        total = 0;
        for (nfds_t i = 0; i < n; i++) {
            if (e[i].h < 0) {
                fds[i].revents = k[i].revents;
            } else {
                bool woke = (k[i].revents & POLLIN) != 0;
                if (woke)
                    nc__efd_drain(k[i].fd);
                fds[i].revents = our_revents(e[i].h, fds[i].events);
                if (woke && fds[i].revents == 0 && !e[i].own)
                    move_to_own(fds, k, e, n, i);
            }
            total += fds[i].revents != 0;
        }
        if (total > 0 || (deadline >= 0 && now_ns() >= deadline))
            break;
    }
    if (total == 0 && nc_stack != NULL)
        nc__devwatch_claim(nc_stack); /* nothing yet: it comes through the device */
    int saved = errno;
    leave(fds, k, e, n);
    if (e != estack) {
        free(e);
        free(k);
    }
    errno = saved;
    return total;
}

/*
 * A relayed socket is writable as soon as its connect starts (its socketpair has room). A
 * poll of that one socket for POLLOUT is how a program waits for its connect with a time
 * limit (Python's socket.connect with a timeout, libcurl's wait for one connection): there
 * the outcome is waited for, within the poll's time, so the poll says what the kernel's
 * would. 0: the time ran out first; -1 with errno: interrupted; 1: poll on.
 */
/* Not inlined: glibc declares poll's array write-only (fortify), and the check would follow
 * the read into poll's body. */
__attribute__((noinline)) static int connecting_one(struct pollfd *fds, nfds_t n,
                                                    int timeout_ms)
{
    if (n != 1 || !(fds[0].events & POLLOUT) || nc__in_stack_thread)
        return 1;
    int k = nc__remote_kind(fds[0].fd);
    if (k < 0 || !(k & NC_RK_CONNECTING))
        return 1;
    int r = nc__remote_poll_connecting(fds[0].fd, timeout_ms);
    if (r == 0)
        fds[0].revents = 0;
    return r < 0 ? (int)nc__ret(r) : r;
}

/*
 * The poll of a process without a stack of its own: its netcore fds are relayed, the kernel's
 * own. A relayed listener or UDP socket that reports POLLHUP has lost its driver: it is made
 * inert (remote_gone.c), and the poll goes on without it, as a kernel's never reports one, so
 * that a loop that only polls does not spin on it either.
 */
static int client_poll(struct pollfd *fds, nfds_t n, const struct timespec *tmo,
                       const sigset_t *mask)
{
    int64_t deadline = tmo != NULL ? now_ns() + tmo->tv_sec * 1000000000LL + tmo->tv_nsec : -1;
    struct timespec left = tmo != NULL ? *tmo : (struct timespec){ 0, 0 };
    for (;;) {
        int rc = LIBC(ppoll)(fds, n, tmo != NULL ? &left : NULL, mask);
        if (rc <= 0 || !nc__remote_client)
            return rc;
        int hidden = 0;
        for (nfds_t i = 0; i < n; i++) {
            if (!(fds[i].revents & POLLHUP) || nc__remote_kind(fds[i].fd) < 0)
                continue;
            nc__remote_gone(fds[i].fd, false);
            int k = nc__remote_kind(fds[i].fd);
            if (k >= 0 && (k & NC_RK_GONE)) {
                fds[i].revents = 0;
                hidden++;
            }
        }
        if (hidden < rc)
            return rc - hidden;
        if (deadline >= 0) {
            int64_t d = deadline - now_ns();
            if (d <= 0)
                return 0;
            left = (struct timespec){ d / 1000000000, d % 1000000000 };
        }
    }
}

static int ts_ms(const struct timespec *tmo)
{
    if (tmo == NULL)
        return -1;
    long long ms = (long long)tmo->tv_sec * 1000 + (tmo->tv_nsec + 999999) / 1000000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *tmo, const sigset_t *mask)
{
    int bad = poll_args(n, tmo);
    if (bad != 0)
        return (int)nc__ret(bad);
    int c = connecting_one(fds, n, ts_ms(tmo));
    if (c <= 0)
        return c;
    if (nc__in_stack_thread)
        return LIBC(ppoll)(fds, n, tmo, mask);
    if (nc_stack == NULL)
        return client_poll(fds, n, tmo, mask);
    return mixed_poll(fds, n, tmo, mask);
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    int bad = poll_args(n, NULL);
    if (bad != 0)
        return (int)nc__ret(bad);
    int c = connecting_one(fds, n, timeout);
    if (c <= 0)
        return c;
    if (nc__in_stack_thread)
        return LIBC(poll)(fds, n, timeout);
    struct timespec ts = { timeout / 1000, (long)(timeout % 1000) * 1000000L };
    if (nc_stack == NULL)
        return client_poll(fds, n, timeout < 0 ? NULL : &ts, NULL);
    return mixed_poll(fds, n, timeout < 0 ? NULL : &ts, NULL);
}

int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
    if (fdslen / sizeof(*fds) < n)
        abort();
    return poll(fds, n, timeout);
}

int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *tmo, const sigset_t *mask,
                size_t fdslen)
{
    if (fdslen / sizeof(*fds) < n)
        abort();
    return ppoll(fds, n, tmo, mask);
}

/*
 * select on top of poll: the kernel's own mapping of POLL bits to the three sets. Like the
 * kernel, a count beyond the process's fd table is cut to it (select_count; sets longer
 * than an fd_set are read up to it); only a negative one is refused.
 */
static int mixed_select(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *tmo,
                        const sigset_t *mask)
{
    if (nfds < 0 ||
        (tmo != NULL && (tmo->tv_sec < 0 || tmo->tv_nsec < 0 || tmo->tv_nsec >= 1000000000L))) {
        errno = EINVAL;
        return -1;
    }
    nfds = select_count(nfds);
    struct pollfd pstack[FD_SETSIZE], *p = pstack;
    if (nfds > FD_SETSIZE && (p = malloc((size_t)nfds * sizeof(*p))) == NULL) {
        errno = ENOMEM;
        return -1;
    }
    int n = 0;
    for (int fd = 0; fd < nfds; fd++) {
        short ev = 0;
        if (r != NULL && bit_isset(r, fd))
            ev |= POLLIN;
        if (w != NULL && bit_isset(w, fd))
            ev |= POLLOUT;
        if (e != NULL && bit_isset(e, fd))
            ev |= POLLPRI;
        if (ev != 0)
            p[n++] = (struct pollfd){ .fd = fd, .events = ev };
    }
    int count = mixed_poll(p, (nfds_t)n, tmo, mask);
    for (int i = 0; count >= 0 && i < n; i++)
        if (p[i].revents & POLLNVAL) {
            errno = EBADF;
            count = -1;
        }
    if (count < 0)
        goto out;
    if (r != NULL)
        bits_zero(r, nfds);
    if (w != NULL)
        bits_zero(w, nfds);
    if (e != NULL)
        bits_zero(e, nfds);
    count = 0;
    for (int i = 0; i < n; i++) {
        short re = p[i].revents, ev = p[i].events;
        if ((ev & POLLIN) && (re & (POLLIN | POLLHUP | POLLERR))) {
            bit_set(r, p[i].fd);
            count++;
        }
        if ((ev & POLLOUT) && (re & (POLLOUT | POLLERR))) {
            bit_set(w, p[i].fd);
            count++;
        }
        if ((ev & POLLPRI) && (re & POLLPRI)) {
            bit_set(e, p[i].fd);
            count++;
        }
    }
out:
    if (p != pstack)
        free(p);
    return count;
}

static bool any_ours(int nfds, fd_set *r, fd_set *w, fd_set *e)
{
    if (nc_stack == NULL || nc__in_stack_thread)
        return false;
    nfds = select_count(nfds);
    for (int fd = 0; fd < nfds && fd < NC_FD_MAX; fd++)
        if (((r != NULL && bit_isset(r, fd)) || (w != NULL && bit_isset(w, fd)) ||
             (e != NULL && bit_isset(e, fd))) && nc__fd_handle(fd) >= 0)
            return true;
    return false;
}

/* Left out of a select's answer: the read set's relayed sockets that lost their driver (see
 * client_poll); the number of bits cleared. */
static int drop_dead(int nfds, fd_set *r, fd_set *w, fd_set *e)
{
    int hidden = 0;
    for (int fd = 0; fd < nfds; fd++) {
        if (!FD_ISSET(fd, r) || nc__remote_kind(fd) < 0)
            continue;
        nc__remote_gone(fd, false);
        int k = nc__remote_kind(fd);
        if (k < 0 || !(k & NC_RK_GONE))
            continue;
        FD_CLR(fd, r);
        hidden++;
        if (w != NULL && FD_ISSET(fd, w)) {
            FD_CLR(fd, w);
            hidden++;
        }
        if (e != NULL && FD_ISSET(fd, e)) {
            FD_CLR(fd, e);
            hidden++;
        }
    }
    return hidden;
}

/*
 * select (ps false: tv, which the kernel counts down) and pselect (ps: tmo, mask) of a client
 * (see client_poll): a dead relayed listener or UDP socket is reported readable, made inert,
 * and left out; when nothing else is ready the call waits on with the sets it was given.
 */
static int client_select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv,
                         const struct timespec *tmo, const sigset_t *mask, bool ps)
{
    if (!nc__remote_client || nc__in_stack_thread || r == NULL || nfds < 0 ||
        nfds > FD_SETSIZE)
        return ps ? LIBC(pselect)(nfds, r, w, e, tmo, mask) : LIBC(select)(nfds, r, w, e, tv);
    fd_set r0 = *r, w0, e0;
    if (w != NULL)
        w0 = *w;
    if (e != NULL)
        e0 = *e;
    int64_t deadline = tmo != NULL ? now_ns() + tmo->tv_sec * 1000000000LL + tmo->tv_nsec : -1;
    struct timespec left = tmo != NULL ? *tmo : (struct timespec){ 0, 0 };
    for (;;) {
        int rc = ps ? LIBC(pselect)(nfds, r, w, e, tmo != NULL ? &left : NULL, mask)
                    : LIBC(select)(nfds, r, w, e, tv);
        if (rc <= 0)
            return rc;
        int hidden = drop_dead(nfds, r, w, e);
        if (hidden < rc)
            return rc - hidden;
        *r = r0;
        if (w != NULL)
            *w = w0;
        if (e != NULL)
            *e = e0;
        if (deadline >= 0) {
            int64_t d = deadline - now_ns();
            left = d > 0 ? (struct timespec){ d / 1000000000, d % 1000000000 }
                         : (struct timespec){ 0, 0 };
        }
    }
}

int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
    if (!any_ours(nfds, r, w, e))
        return client_select(nfds, r, w, e, tv, NULL, NULL, false);
    struct timespec ts;
    if (tv != NULL) {
        if (tv->tv_sec < 0 || tv->tv_usec < 0) {
            errno = EINVAL;
            return -1;
        }
        ts.tv_sec = tv->tv_sec + tv->tv_usec / 1000000;
        ts.tv_nsec = (tv->tv_usec % 1000000) * 1000;
    }
    return mixed_select(nfds, r, w, e, tv != NULL ? &ts : NULL, NULL);
}

int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *tmo,
            const sigset_t *mask)
{
    if (!any_ours(nfds, r, w, e))
        return client_select(nfds, r, w, e, NULL, tmo, mask, true);
    return mixed_select(nfds, r, w, e, tmo, mask);
}
