/*
 * keep: a keeper process takes over a shared stack from a driver that exits or execs.
 *
 * Other processes hold relayed sockets of the stack and control connections to it; the
 * stack's whole state (lwIP's pcbs, timers, the rings, the relays) is memory of the
 * driver's, with pointers into it. fork() copies all of it as it is, so the child can go on
 * driving where the parent stopped, which no other process could. The parent's netstack
 * thread is stopped (joined) first, so the copy has no half-done loop iteration in it and
 * libevent's base is idle; the stack lock is held across the fork, and the shim's fork
 * handlers leave a stack being kept alone (st->keeping).
 *
 * The keeper keeps only the stack's own fds, closes the exiting program's sockets as its
 * exit would (netcore_drain), and drives the stack until nobody uses it and what the closed
 * connections had to send is delivered, or NETCORE_LINGER seconds (default 10) after the
 * last user left. Then it removes the rendezvous' name (still its own: it holds the lock)
 * and exits; the kernel lets go of the lock and the device with it.
 */
#include "netcore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "closer.h"
#include "dev.h"
#include "devwatch.h"
#include "pcap.h"
#include "relay.h"
#include "sharesrv.h"
#include "shimapi.h"
#include "sock.h"
#include "stack.h"
#include "stat.h"
#include "sys.h"

#define KEEP_TICK_MS 100 /* how often the keeper looks at its users when nothing happens */

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The fds the stack owns, sorted, into a malloc'd array; *n gets the count. */
static int *own_fds(struct netcore_stack *st, int *n)
{
    int cap = 16 + 3 * st->cfg.max_sockets + 2 * 256 + 64;
    for (int i = 0; i < st->cfg.max_sockets; i++) {
        struct nc_sock *s = st->socks[i];
        for (struct nc_watch *w = s != NULL ? s->watches : NULL; w != NULL; w = w->next)
            cap++;
    }
    int *fds = malloc((size_t)cap * sizeof(int));
    if (fds == NULL)
        return NULL;
    int k = 0;
    int fixed[] = { st->dev.fd, st->cmdq.efd, st->pcap_fd, st->stat_fd };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        fds[k++] = fixed[i];
    for (int i = 0; i < st->cfg.max_sockets; i++) {
        /* Eventfds: the program's fds of its own sockets, and the epoll registrations'
         * (the netstack signals them while the sockets live). */
        struct nc_sock *s = st->socks[i], *z = st->zombie[i];
        if (s != NULL) {
            fds[k++] = s->efd;
            for (struct nc_watch *w = s->watches; w != NULL; w = w->next)
                fds[k++] = w->efd;
        }
        if (z != NULL && z != s)
            fds[k++] = z->efd;
    }
    k += nc__stat_fds(st, fds + k, cap - k);
    k += nc__share_fds(st, fds + k, cap - k);
    k += nc__relay_fds(st, fds + k, cap - k);
    qsort(fds, (size_t)k, sizeof(int), cmp_int);
    *n = k;
    return fds;
}

/*
 * Closes every fd that is not the stack's: the keeper must not hold the program's files,
 * pipes (a shell waiting for EOF) or relayed sockets' program ends (their relays would never
 * see the last copy close). epoll instances stay: they hold no file open, and one of them is
 * libevent's, which event_reinit replaces.
 */
static void close_foreign(struct netcore_stack *st)
{
    int n = 0;
    int *own = own_fds(st, &n);
    DIR *d = opendir("/proc/self/fd");
    if (own == NULL || d == NULL) {
        free(own);
        if (d != NULL)
            closedir(d);
        nc__log(NETCORE_LOG_WARN, "keeper: cannot list its fds; the program's stay open");
        return;
    }
    int *doomed = NULL, ndoomed = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || *end != '\0' || fd <= 2 ||
            fd == dirfd(d))
            continue;
        int key = (int)fd;
        if (bsearch(&key, own, (size_t)n, sizeof(int), cmp_int) != NULL)
            continue;
        char link[64], target[32];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", key);
        ssize_t len = readlink(link, target, sizeof(target) - 1);
        if (len > 0) {
            target[len] = '\0';
            if (!strcmp(target, "anon_inode:[eventpoll]"))
                continue;
        }
        if (ndoomed == cap) {
            int *more = realloc(doomed, (size_t)(cap = cap ? 2 * cap : 64) * sizeof(int));
            if (more == NULL)
                break;
            doomed = more;
        }
        doomed[ndoomed++] = key;
    }
    closedir(d);
    /* The program's TCP sockets with SO_LINGER, files on a hung mount: closed off this
     * thread (closer.c), which is about to serve every client of the stack. */
    for (int i = 0; i < ndoomed; i++)
        nc__close_passed(doomed[i]);
    free(doomed);
    free(own);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg; /* only wakes the loop, so that the keeper looks at its users */
}

/* The keeper, in the child; never returns. The stack lock is held (taken before fork). */
static void __attribute__((noreturn)) keeper(struct netcore_stack *st)
{
    /* This thread is the netstack thread now: the shim passes its calls to libc as they
     * are (dup2, close, sigaction below). */
    nc__in_stack_thread = 1;
    setsid();
    prctl(PR_SET_NAME, "netcore-keeper"); /* what ps and top show for it */
    /* Not the exiting program's cwd: a keeper there would keep its mount busy. */
    if (chdir("/") != 0)
        nc__log(NETCORE_LOG_DEBUG, "keeper: chdir /: %s", strerror(errno));
    (void)nc__share_raise_nofile(); /* every relay is an fd of its own (share.c) */
    /* The program's handlers are its own business, not the keeper's; a relay writing to a
     * pair whose last reader just went must not kill it. */
    struct sigaction dfl = { .sa_handler = SIG_DFL }, ign = { .sa_handler = SIG_IGN };
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, sig == SIGPIPE ? &ign : &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd = 0; nul >= 0 && fd <= 2; fd++)
        dup2(nul, fd);
    if (nul > 2)
        nc__sys_close(nul);
    close_foreign(st);
    /* Its stats under its own pid (netcore stat PID), no longer the exiting driver's. */
    char *slash = strrchr(st->stat_path, '/');
    if (st->stat_fd >= 0 && slash != NULL) {
        char to[sizeof(st->stat_path)];
        int n = snprintf(to, sizeof(to), "%.*s/%d.sock", (int)(slash - st->stat_path),
                         st->stat_path, (int)getpid());
        if (n > 0 && (size_t)n < sizeof(to) && rename(st->stat_path, to) == 0)
            memcpy(st->stat_path, to, sizeof(to));
    }
    nc__devwatch_reset(st); /* before event_reinit, which watches it again */
    if (st->base != NULL && event_reinit(st->base) != 0)
        nc__log(NETCORE_LOG_WARN, "keeper: event_reinit failed; some fds are not watched");
    atomic_store(&st->stopping, false);
    st->threaded = st->base != NULL;
    st->keeping = false;
    nc__run_pending_and_unlock(st);
    /* The exiting program's own sockets close as at its exit; relayed ones are others'. */
    for (int i = 0; i < st->cfg.max_sockets; i++) {
        struct nc_sock *s = st->socks[i];
        if (s != NULL && s->relay == NULL && !atomic_load(&s->app_closed) &&
            !atomic_load(&s->in_aq))
            netcore_close(st, i);
    }
    int64_t linger = st->cfg.linger_s * (int64_t)1000;
    struct event *tick = NULL;
    if (st->base != NULL) {
        struct timeval tv = { 0, KEEP_TICK_MS * 1000 };
        tick = event_new(st->base, -1, EV_PERSIST, on_tick, NULL);
        if (tick != NULL)
            event_add(tick, &tv);
    }
    int64_t idle_since = -1;
    for (;;) {
        if (st->base != NULL)
            event_base_loop(st->base, EVLOOP_ONCE);
        else
            netcore_step(st, KEEP_TICK_MS);
        if (netcore_share_users(st) > 0) {
            idle_since = -1;
            continue;
        }
        nc__lock(st);
        bool busy = nc__undelivered(st);
        nc__unlock(st);
        if (!busy)
            break;
        if (idle_since < 0)
            idle_since = now_ms();
        if (now_ms() - idle_since >= linger) {
            nc__log(NETCORE_LOG_WARN, "keeper: data still undelivered after %lld s "
                    "(NETCORE_LINGER)", (long long)(linger / 1000));
            break;
        }
    }
    /* The device first: the next driver opens it once it has the lock, which goes at exit. */
    nc__dev_close(&st->dev);
    if (st->share != NULL && st->share->rv.path[0] != '\0')
        unlink(st->share->rv.path);
    nc__stat_release(st, true);
    nc__log(NETCORE_LOG_INFO, "keeper: no user left, the stack on %s ends", st->dev.name);
    _exit(0);
}

int netcore_share_keep(struct netcore_stack *st)
{
    if (st == NULL || st->share == NULL || st->share->gone || st->share->rv.listen_fd < 0 ||
        st->keeping)
        return -EINVAL; /* not a stack this process serves */
    bool threaded = st->threaded;
    if (threaded)
        nc__thread_stop(st);
    nc__lock(st);
    st->keeping = true;
    pid_t pid = fork();
    if (pid == 0)
        keeper(st);
    if (pid < 0) {
        int rc = -errno;
        st->keeping = false;
        nc__run_pending_and_unlock(st);
        if (threaded && nc__thread_start(st) != 0)
            nc__log(NETCORE_LOG_ERROR, "netstack thread lost after a failed fork");
        nc__log(NETCORE_LOG_WARN, "no keeper for the stack: fork: %s", strerror(-rc));
        return rc;
    }
    /* This process drives no more: the keeper's copies of the device, the server and the
     * relays are the ones in use. The lock stays held (see netcore.h): nothing here may run
     * lwIP again. */
    st->dev_down = true;
    nc__dev_close(&st->dev);
    nc__pcap_close(st);
    nc__stat_release(st, false); /* the keeper goes on publishing under this name */
    nc__share_fork_child(st);
    nc__relay_fork_child(st);
    nc__log(NETCORE_LOG_INFO, "stack handed to keeper %d", (int)pid);
    return pid;
}
