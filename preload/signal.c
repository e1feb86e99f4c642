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
 * thread holds a counted lock (core/crit.h), in which case it records the signal and returns;
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
 * SIGILL, SIGFPE, SIGTRAP, SIGSYS) are never wrapped: they must run where they happen.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>

#include "shim.h"

static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);
static _Atomic unsigned char no_restart[NSIG];
static _Atomic int no_restart_count;

/* The program's handler per signal, under a sequence count: sigaction writes (one writer at
 * a time, signals blocked); our handler reads, again if a write overlapped. */
static struct {
    _Atomic unsigned seq;
    struct sigaction act;
} prog[NSIG];
static pthread_mutex_t write_mu = PTHREAD_MUTEX_INITIALIZER;

/* Signals deferred on this thread: a bit each (signal n is bit n - 1), and their siginfo. */
static __thread _Atomic uint64_t deferred; /* changed by our handler on this thread too */
static __thread siginfo_t deferred_info[NSIG];

static void record(int sig, const struct sigaction *act)
{
    if (sig <= 0 || sig >= NSIG || act == NULL)
        return;
    bool caught = !(act->sa_flags & SA_SIGINFO) ? act->sa_handler != SIG_DFL &&
                                                      act->sa_handler != SIG_IGN
                                                : act->sa_sigaction != NULL;
    unsigned char now = caught && !(act->sa_flags & SA_RESTART);
    unsigned char was = atomic_exchange(&no_restart[sig], now);
    atomic_fetch_add(&no_restart_count, (int)now - (int)was);
}

static bool wrappable(int sig)
{
    switch (sig) {
    case SIGSEGV: case SIGBUS: case SIGILL: case SIGFPE: case SIGTRAP: case SIGSYS:
    case SIGKILL: case SIGSTOP:
        return false;
    default:
        return sig > 0 && sig < NSIG && sig <= 64;
    }
}

static bool caught(const struct sigaction *a)
{
    return (a->sa_flags & SA_SIGINFO) ? a->sa_sigaction != NULL
                                      : a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN;
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
    if (a.sa_flags & SA_SIGINFO)
        a.sa_sigaction(sig, info, uc);
    else
        a.sa_handler(sig);
}

static void trampoline(int sig, siginfo_t *info, void *uc)
{
    if (nc__crit_depth > 0) {
        deferred_info[sig] = *info;
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
        int sig = set != 0 ? __builtin_ctzll(set) + 1 : 0;
        siginfo_t info;
        if (sig != 0) {
            info = deferred_info[sig];
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

void nc__signal_atfork_child(void)
{
    atomic_store(&deferred, 0);
    nc__crit_pending = 0;
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (real_sigaction == NULL)
        real_sigaction = (__typeof__(real_sigaction))dlsym(RTLD_NEXT, "sigaction");
    if (!wrappable(sig)) {
        int rc = real_sigaction(sig, act, old);
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
    int rc = real_sigaction(sig, kact, old);
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
