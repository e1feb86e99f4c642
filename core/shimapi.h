/*
 * shimapi.h: what the core gives the preload shim beyond the public API (netcore.h).
 *
 * The shim (preload/) reaches the core through include/netcore.h and this header only, plus
 * share.h: that one is not a call interface but the wire protocol of relayed sockets, spoken
 * between processes by a driver (core/relay.c, share.c, shareop.c) and a client
 * (preload/remote*.c), and it stays a header of its own that both ends include. preload/ is
 * built with include/ alone on its path (Makefile.am), so each of the two crossings is spelt
 * "../core/..." where it is made. The core uses all of this too: its files include this
 * header, and each name is declared here once.
 *
 * Four things, each because the shim cannot do without it:
 *  - critical sections against signal handlers: the shim's own locks are counted with the
 *    core's, and its handler wrapper reads the count (below);
 *  - nc__in_stack_thread: the core marks its own threads, whose calls the shim passes on;
 *  - raw system calls: the kernel by number, past the shim's interposers;
 *  - the log: one line format and one NETCORE_LOG level for the shim's messages and the core's.
 */
#ifndef NC_SHIMAPI_H
#define NC_SHIMAPI_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * Critical sections against signal handlers.
 *
 * The kernel's send() and close() are async-signal-safe: a program may call them from a
 * handler. Ours take mutexes (the stack lock, the command queue's, a socket's watch list,
 * the shim's epoll registry), and a handler that interrupts its own thread while that thread
 * holds one would wait for itself forever. So a thread counts the locks it holds
 * (nc__crit_depth); the shim's handler wrapper (preload/signal.c) defers a signal arriving
 * while the count is not zero, and the last unlock runs what was deferred, on the same thread,
 * before the call returns. That costs two thread-local increments per lock, no system call
 * on the data path (blocking the signals around each lock would cost two).
 *
 * Locks held across a sleep must not be counted: a deferred handler would wait for the sleep
 * to end, and with SA_RESTART the kernel restarts the sleep without returning to us.
 *
 * What callers must keep to:
 *  - nc__mutex_unlock (and nc__crit_leave) may run the program's handlers, which may call
 *    back into netcore (send, close, a whole blocking recv): at a counted unlock that brings
 *    the count to 0, the caller's state must be what another call may see and change.
 *  - No uncounted lock may be held around a counted one: the counted one's unlock would run
 *    handlers while the uncounted lock is held, and a handler that takes it waits for itself.
 *  - A blocking call takes its nc__crit_handled snapshot at entry, before its first counted
 *    lock: the handlers run at that lock's unlock interrupt the call (nc__sock_wait).
 */
/* initial-exec: a plain load, no __tls_get_addr call, on every lock of the data path (the
 * shim is loaded with the program, so its TLS is in the static block). */
#define NC_TLS __thread __attribute__((tls_model("initial-exec")))
extern NC_TLS volatile sig_atomic_t nc__crit_depth;   /* counted locks held */
extern NC_TLS volatile sig_atomic_t nc__crit_pending; /* a signal waits for depth 0 */
/* The program's handlers run on this thread so far, at once or deferred (set by the shim):
 * a blocking call whose thread ran one fails with EINTR, as a kernel call would, also when
 * the signal came while it polled the device instead of sleeping. */
extern NC_TLS volatile sig_atomic_t nc__crit_handled;
/* The futex word this thread is about to sleep on in a blocking call, or NULL. The shim bumps
 * it after running a handler (an atomic add, async-signal-safe), so that a handler that runs
 * between the call's last look at nc__crit_handled and FUTEX_WAIT makes the wait return at
 * once instead of sleeping through the interruption. */
extern NC_TLS _Atomic(uint32_t) *volatile nc__crit_wait;
/* Lets go of the device hold of this thread's spin, if any (devwatch.c): the shim's signal
 * wrapper calls it before a handler runs, which may leave the call by siglongjmp.
 * Async-signal-safe. */
void nc__devwatch_drop_held(void);
/* A program thread starts (+1) or ends (-1) a sleep in a wait netcore serves (poll, epoll, a
 * blocking call): the netstack thread must watch the device meanwhile (devwatch.c). */
struct netcore_stack;
void nc__devwatch_idle(struct netcore_stack *st, int delta);
/* Lets go of a hold left lingering, if any: a program thread found nothing it looked for,
 * and what it waits for comes through the device (devwatch.c). */
void nc__devwatch_claim(struct netcore_stack *st);
/* Runs the handlers deferred on this thread (set by the shim; NULL without it). */
extern void (*nc__crit_hook)(void);
/* crit.c: calls nc__crit_hook if set (nothing in a program without the shim). */
void nc__crit_run(void);

/* A lock that is not a pthread mutex (or a section that must not be interrupted) is counted
 * by hand: enter before taking it, leave after letting it go. The leave that brings the count
 * to 0 runs what was deferred meanwhile, as nc__mutex_unlock does. */
static inline void nc__crit_enter(void)
{
    nc__crit_depth = nc__crit_depth + 1;
}

static inline void nc__crit_leave(void)
{
    nc__crit_depth = nc__crit_depth - 1;
    if (nc__crit_depth == 0 && nc__crit_pending)
        nc__crit_run();
}

/* A counted mutex: no handler of the program runs on this thread while it is held. */
static inline void nc__mutex_lock(pthread_mutex_t *m)
{
    nc__crit_enter();
    pthread_mutex_lock(m);
}

/* True with m held and counted; false with nothing held and the count as it was. */
static inline bool nc__mutex_trylock(pthread_mutex_t *m)
{
    nc__crit_enter();
    if (pthread_mutex_trylock(m) == 0)
        return true;
    nc__crit_leave();
    return false;
}

/* Releases m, then, if it was this thread's last counted lock, runs the program's handlers
 * deferred meanwhile (they may re-enter netcore: see the contract above). */
static inline void nc__mutex_unlock(pthread_mutex_t *m)
{
    pthread_mutex_unlock(m);
    nc__crit_leave();
}

/* stack.c: this thread is one of the core's own (the netstack loop's, a keeper's; set by the
 * core, before the thread makes any call). The shim passes such a thread's calls to libc
 * untouched: the core's sockets and fds are never the program's netcore sockets. */
extern __thread int nc__in_stack_thread;

/* sys.c: the kernel by number. It starts as syscall; the shim points it at libc's own when
 * it resolves libc (in libnetcore.so the name syscall binds to the shim's interposer), so a
 * raw call of the core or the shim never takes the interposer's dispatch. */
extern long (*nc__raw_syscall)(long nr, ...);
/* sys.c: moves an fd of netcore's own above the numbers programs choose (FD_CLOEXEC kept);
 * returns the new fd, or fd itself if it is negative, already high, or nothing is free. */
int nc__fd_high(int fd);
/* sys.c: an eventfd's counter raised by one, or read to zero, by raw system calls (the eventfd
 * of a netcore socket is in the shim's fd map: read() and write() would take it for the
 * socket). Errors are ignored: EAGAIN means already signalled, or empty. */
void nc__efd_signal(int efd);
void nc__efd_drain(int efd);
/* sys.c: len bytes of buf as one message on the unix socket fd, with pass_fd as SCM_RIGHTS
 * when it is >= 0, by a raw sendmsg retried on EINTR: how both ends of share.h's control
 * connection send. Returns the bytes sent, or -errno. */
long nc__sys_sendmsg_fd(int fd, const void *buf, size_t len, int pass_fd, int flags);

/* log.c: one line on stderr, "netcore[PID]: ...", in one write(2), if NETCORE_LOG lets level
 * through (netcore_log_level sets it); nc__log_on says whether it would. No stdio lock is
 * taken: the netstack thread may log while a program thread is inside stdio. */
void nc__log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool nc__log_on(int level);

#endif /* NC_SHIMAPI_H */
