/*
 * The program's signal handlers, as seen by netcore.
 *
 * SA_RESTART for blocking netcore calls. The kernel restarts a blocking recv/send/accept
 * interrupted by a handler installed with SA_RESTART (unless the socket has a timeout), and
 * fails it with EINTR otherwise. Our waits cannot tell which signal interrupted them, so we
 * track the handlers the program installs: while any caught signal lacks SA_RESTART an
 * interrupted call fails with EINTR (programs that install such a handler expect it);
 * otherwise it restarts. signal() is BSD-style in glibc, that is with SA_RESTART.
 *
 * Handlers that use netcore sockets. send() and close() are async-signal-safe in the kernel,
 * and programs call them from handlers (a SIGCHLD handler closing a connection, a timer
 * handler sending a keepalive). Ours take mutexes; a handler that interrupts a thread
 * holding one and then needs it waits for itself forever. We install our own handler in
 * front of each of the program's (as Onload does): it runs the program's at once, unless the
 * thread holds a counted lock (core/shimapi.h), in which case it records the signal and returns;
 * the thread's last unlock runs the recorded handlers, with the handler's mask, before the
 * netcore call returns. The alternatives cost more or do less: blocking signals around each
 * lock is two system calls per lock on the data path, and lock-free paths for a handler's
 * calls (a trylock, a close deferred to the command queue) would cover send and close but
 * not the rest a handler may call.
 *
 * What a deferred run differs in: the handler runs a little later on the same thread, on
 * the thread's stack (not the SA_ONSTACK one), with a ucontext of that moment, not of the
 * interruption; several arrivals of one signal while deferred run it once (as the kernel
 * merges standard signals; queued real-time signals merge too). Faults (SIGSEGV, SIGBUS,
 * SIGILL, SIGFPE, SIGTRAP, SIGSYS) are never wrapped: they must run where they happen. Nor is
 * SIGABRT: netcore aborting under one of its locks (a failed assertion) would have its signal
 * deferred, glibc's abort() then resets it to SIG_DFL and the program's crash handler never
 * runs. (Telling a signal the thread raised itself from another thread's pthread_kill is not
 * possible from siginfo: both are SI_TKILL from our own pid.)
 *
 * The deferred signals' siginfo is kept in a small table per thread, not one per signal: the
 * table is initial-exec TLS (no __tls_get_addr in signal context), which every thread pays
 * for, and the static TLS block has little room to spare. Only the first 48 bytes are kept:
 * all a signal that is not a fault carries (sender, value, child status and times).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "shim.h"

static _Atomic unsigned char no_restart[NSIG];
static _Atomic int no_restart_count;

/* The program's handler per signal, under a sequence count: sigaction writes (one writer at
 * a time, signals blocked); our handler reads, again if a write overlapped. */
static struct {
    _Atomic unsigned seq;
    struct sigaction act;
} prog[NSIG];
static pthread_mutex_t write_mu = PTHREAD_MUTEX_INITIALIZER;

/* Taken in the fork prepare handler, with every signal blocked (the mask to restore). */
static sigset_t fork_mask;

_Static_assert(NSIG - 1 <= 64, "deferred is a 64-bit mask, one bit per signal");

/* Signals deferred on this thread: a bit each (signal n is bit n - 1). */
static NC_TLS _Atomic uint64_t deferred; /* changed by our handler on this thread too */

/* Their siginfo: the first INFO_BYTES of it, in one of INFO_SLOTS slots (sig 0: free). Only
 * this thread and its handlers touch them: our handler claims a slot (a handler for another
 * signal may interrupt it), run_deferred frees it after the copy. */
#define INFO_SLOTS 4
#define INFO_BYTES 48
_Static_assert(INFO_BYTES <= sizeof(siginfo_t) &&
                   offsetof(siginfo_t, si_stime) + sizeof(clock_t) <= INFO_BYTES &&
                   offsetof(siginfo_t, si_value) + sizeof(union sigval) <= INFO_BYTES &&
                   offsetof(siginfo_t, si_fd) + sizeof(int) <= INFO_BYTES,
               "the siginfo of a signal that is not a fault fits in INFO_BYTES");
static NC_TLS struct {
    _Atomic int sig;
    unsigned char info[INFO_BYTES];
} deferred_info[INFO_SLOTS];

static bool caught(const struct sigaction *a)
{
    return (a->sa_flags & SA_SIGINFO) ? a->sa_sigaction != NULL
                                      : a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN;
}

static void record(int sig, const struct sigaction *act)
{
    if (sig <= 0 || sig >= NSIG || act == NULL)
        return;
    unsigned char now = caught(act) && !(act->sa_flags & SA_RESTART);
    unsigned char was = atomic_exchange(&no_restart[sig], now);
    atomic_fetch_add(&no_restart_count, (int)now - (int)was);
}

static bool wrappable(int sig)
{
    switch (sig) {
    case SIGSEGV: case SIGBUS: case SIGILL: case SIGFPE: case SIGTRAP: case SIGSYS:
    case SIGABRT: case SIGKILL: case SIGSTOP:
        return false;
    default:
        return sig > 0 && sig < NSIG;
    }
}

static void load(int sig, struct sigaction *out)
{
    for (;;) {
        unsigned seq = atomic_load_explicit(&prog[sig].seq, memory_order_acquire);
        if (seq & 1)
            continue; /* a write on another thread, a few instructions long */
        memcpy(out, &prog[sig].act, sizeof(*out));
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&prog[sig].seq, memory_order_relaxed) == seq)
            return;
    }
}

static void store(int sig, const struct sigaction *act)
{
    atomic_fetch_add_explicit(&prog[sig].seq, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    memcpy(&prog[sig].act, act, sizeof(*act));
    atomic_fetch_add_explicit(&prog[sig].seq, 1, memory_order_release);
}

static void call(int sig, siginfo_t *info, void *uc)
{
    struct sigaction a;
    load(sig, &a);
    if (!caught(&a))
        return; /* the program has just set SIG_DFL or SIG_IGN: the signal came before */
    nc__crit_handled = nc__crit_handled + 1;
    /* A blocked call spinning on the device holds it (devwatch.c): a handler that leaves by
     * siglongjmp must not take the hold along. */
    nc__devwatch_drop_held();
    _Atomic(uint32_t) *w = nc__crit_wait;
    if (w != NULL)
        atomic_fetch_add(w, 1); /* a FUTEX_WAIT about to start returns at once (shimapi.h) */
    if (a.sa_flags & SA_SIGINFO)
        a.sa_sigaction(sig, info, uc);
    else
        a.sa_handler(sig);
}

/* Keeps sig's siginfo while it is deferred: its slot, else a free one; with all four taken
 * (four other signals deferred at once) the handler gets a siginfo of si_signo and SI_KERNEL. */
static void keep_info(int sig, const siginfo_t *info)
{
    int i;
    for (i = 0; i < INFO_SLOTS; i++) {
        if (atomic_load(&deferred_info[i].sig) == sig)
            break; /* deferred again: the latest siginfo, as one merged signal */
    }
    for (int j = 0; i == INFO_SLOTS && j < INFO_SLOTS; j++) {
        int free = 0;
        if (atomic_compare_exchange_strong(&deferred_info[j].sig, &free, sig))
            i = j;
    }
    if (i < INFO_SLOTS)
        memcpy(deferred_info[i].info, info, INFO_BYTES);
}

/* Takes sig's siginfo out of the table (see keep_info). */
static void take_info(int sig, siginfo_t *out)
{
    memset(out, 0, sizeof(*out));
    out->si_signo = sig;
    out->si_code = SI_KERNEL;
    for (int i = 0; i < INFO_SLOTS; i++) {
        if (atomic_load(&deferred_info[i].sig) == sig) {
            memcpy(out, deferred_info[i].info, INFO_BYTES);
            atomic_store(&deferred_info[i].sig, 0);
            return;
        }
    }
}

/*
 * A signal waits while the thread holds a counted lock, and also while one deferred earlier
 * waits: the thread is then between its last unlock's decrement and that unlock's look at
 * nc__crit_pending, or in run_deferred, and will run both. Run at once there, this handler
 * would meet the deferred one at its own first netcore call's unlock, and run it inside
 * itself, which the kernel never does while the handler's signal is blocked
 * (tests/check_shim_signal: a handler sending numbered bytes sent one number twice).
 */
static void trampoline(int sig, siginfo_t *info, void *uc)
{
    if (nc__crit_depth > 0 || nc__crit_pending) {
        keep_info(sig, info);
        atomic_fetch_or(&deferred, (uint64_t)1 << (sig - 1));
        nc__crit_pending = 1;
        return;
    }
    call(sig, info, uc);
}

/*
 * nc__crit_hook: runs the handlers deferred on this thread, called at its last counted
 * unlock. Each runs as the kernel would have run it: the handler's mask (and the signal
 * itself, unless SA_NODEFER) blocked meanwhile, errno kept for the interrupted call.
 */
static void run_deferred(void)
{
    while (nc__crit_pending) {
        nc__crit_enter(); /* what arrives while we pick joins the set, and sets the flag */
        nc__crit_pending = 0;
        uint64_t set = atomic_load(&deferred);
        /* A signal blocked here now (this is a handler's own netcore call, with its signal
         * and mask blocked, or a section of the shim's with every signal blocked) goes back
         * to the kernel, which delivers it once it is unblocked, as it would have: run here,
         * a handler would run inside itself. Its siginfo becomes tgkill's. */
        sigset_t blocked;
        pthread_sigmask(SIG_BLOCK, NULL, &blocked);
        for (uint64_t b = set; b != 0; b &= b - 1) {
            int s = __builtin_ctzll(b) + 1;
            if (sigismember(&blocked, s) != 1)
                continue;
            siginfo_t gone;
            take_info(s, &gone);
            atomic_fetch_and(&deferred, ~(b & -b));
            set &= ~(b & -b);
            nc__raw_syscall(SYS_tgkill, (long)getpid(), nc__raw_syscall(SYS_gettid), (long)s);
        }
        int sig = set != 0 ? __builtin_ctzll(set) + 1 : 0;
        siginfo_t info;
        if (sig != 0) {
            take_info(sig, &info);
            if (atomic_fetch_and(&deferred, ~((uint64_t)1 << (sig - 1))) !=
                (uint64_t)1 << (sig - 1))
                nc__crit_pending = 1; /* others left */
        }
        nc__crit_depth = nc__crit_depth - 1; /* not nc__crit_leave: no recursion */
        if (sig == 0)
            continue; /* set empty; the flag says whether one came since */
        struct sigaction a;
        load(sig, &a);
        sigset_t mask = a.sa_mask, old;
        if (!(a.sa_flags & SA_NODEFER))
            sigaddset(&mask, sig);
        int saved = errno;
        ucontext_t uc;
        getcontext(&uc);
        pthread_sigmask(SIG_BLOCK, &mask, &old);
        call(sig, &info, &uc);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        errno = saved;
    }
}

/*
 * Around fork (from the shim's atfork handlers): no sigaction is halfway through its write,
 * so the child's copy of prog[] is whole and write_mu free. Every signal is blocked meanwhile:
 * a handler on this thread that called sigaction would wait for write_mu, held by itself.
 */
void nc__signal_fork_prepare(void)
{
    sigset_t all, mask;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &mask);
    pthread_mutex_lock(&write_mu);
    fork_mask = mask;
}

void nc__signal_fork_parent(void)
{
    sigset_t mask = fork_mask;
    pthread_mutex_unlock(&write_mu);
    pthread_sigmask(SIG_SETMASK, &mask, NULL);
}

/* In the child, also forgets what was deferred: those signals were the parent's. */
void nc__signal_fork_child(void)
{
    sigset_t mask = fork_mask;
    atomic_store(&deferred, 0);
    for (int i = 0; i < INFO_SLOTS; i++)
        atomic_store(&deferred_info[i].sig, 0);
    nc__crit_pending = 0;
    pthread_mutex_init(&write_mu, NULL); /* held by this thread's copy */
    pthread_sigmask(SIG_SETMASK, &mask, NULL);
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (!wrappable(sig)) {
        int rc = LIBC(sigaction)(sig, act, old);
        if (rc == 0)
            record(sig, act);
        return rc;
    }
    nc__crit_hook = run_deferred;
    /* One writer at a time, and no handler of ours on this thread while it writes (one
     * would wait for the write to end). Two system calls, on a rare path. */
    sigset_t all, mask;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &mask);
    pthread_mutex_lock(&write_mu);
    struct sigaction was;
    load(sig, &was);
    struct sigaction k;
    const struct sigaction *kact = act;
    if (act != NULL && caught(act)) {
        k = *act;
        k.sa_flags |= SA_SIGINFO;
        k.sa_sigaction = trampoline;
        kact = &k;
    }
    int rc = LIBC(sigaction)(sig, kact, old);
    if (rc == 0 && act != NULL) {
        store(sig, act);
        record(sig, act);
    }
    if (rc == 0 && old != NULL && (old->sa_flags & SA_SIGINFO) &&
        old->sa_sigaction == trampoline)
        *old = was; /* the program sees its own handler */
    pthread_mutex_unlock(&write_mu);
    pthread_sigmask(SIG_SETMASK, &mask, NULL);
    return rc;
}

sighandler_t signal(int sig, sighandler_t handler)
{
    struct sigaction act = { .sa_handler = handler, .sa_flags = SA_RESTART }, old;
    sigemptyset(&act.sa_mask);
    if (sig > 0 && sig < NSIG)
        sigaddset(&act.sa_mask, sig);
    if (sigaction(sig, &act, &old) < 0)
        return SIG_ERR;
    return old.sa_handler;
}

bool nc__restart_after_eintr(int h, bool sending)
{
    if (atomic_load(&no_restart_count) != 0)
        return false;
    /* With SO_RCVTIMEO/SO_SNDTIMEO the kernel answers EINTR even under SA_RESTART. */
    struct timeval tv;
    socklen_t len = sizeof(tv);
    if (netcore_getsockopt(nc_stack, h, SOL_SOCKET, sending ? SO_SNDTIMEO : SO_RCVTIMEO, &tv,
                           &len) != 0)
        return false;
    return tv.tv_sec == 0 && tv.tv_usec == 0;
}
