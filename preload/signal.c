/*
 * SA_RESTART for blocking netcore calls. The kernel restarts a blocking recv/send/accept
 * interrupted by a handler installed with SA_RESTART (unless the socket has a timeout), and
 * fails it with EINTR otherwise. Our waits cannot tell which signal interrupted them, so we
 * track the handlers the program installs: while any caught signal lacks SA_RESTART an
 * interrupted call fails with EINTR (programs that install such a handler expect it);
 * otherwise it restarts. signal() is BSD-style in glibc, that is with SA_RESTART.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>

#include "shim.h"

static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);
static _Atomic unsigned char no_restart[NSIG];
static _Atomic int no_restart_count;

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

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (real_sigaction == NULL)
        real_sigaction = (__typeof__(real_sigaction))dlsym(RTLD_NEXT, "sigaction");
    int rc = real_sigaction(sig, act, old);
    if (rc == 0)
        record(sig, act);
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
