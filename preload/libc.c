/*
 * The shim's ground floor: the real libc symbols, the lazily started stack, and the map from
 * program fds to netcore sockets.
 *
 * A netcore socket reaches the program as a descriptor of the socket's eventfd: a real
 * kernel fd, so poll/select/epoll can wait on it beside ordinary fds, and fd numbers behave
 * (dup2 onto 0-2, close-all loops). The core keeps a descriptor of its own, high, for its
 * signalling (socket() gets the eventfd made at the lowest free number and the core a copy,
 * netcore_socket_fd; accept a dup of the core's); the program owns its descriptors, and the
 * socket is closed when the last of them is.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

struct nc_libc nc_libc;
struct netcore_stack *nc_stack;
static pid_t stack_pid; /* the process that started nc_stack */
/* Set in a forked child until it starts a stack of its own: nc_stack is then the parent's. */
static _Atomic bool forked;
/* Counted (core/shimapi.h): netcore_start takes and lets go of counted locks, and a handler
 * deferred there must not run while start_mu is held (one that opens a socket would take it
 * again); the same for the handlers deferred under the fork handlers' locks. */
static pthread_mutex_t start_mu = PTHREAD_MUTEX_INITIALIZER;

/* NETCORE_STACK=shared (the default): this process drives its device's stack for every
 * process that uses it, or is a client of the one that does (nc__remote_client). */
static bool shared;

/* The stack whose lock the prepare handler took (this process's own), or NULL. */
static struct netcore_stack *fork_locked;

/* Set while netcore_share_keep forks the keeper: that fork is the stack's own, not the
 * program's, and must not relay the program's sockets (the keeper closes them; the export
 * would wait for the stack lock the keep holds). */
static bool handing_over;

/* Before fork: no stack is being started (start_mu) and lwIP is between two operations (the
 * stack lock), so the child's copy is consistent. Registered once, at load. */
static void on_fork_prepare(void)
{
    /* A shared stack: the child may use any socket of ours (convert.c). Before the locks:
     * the export takes the stack lock itself, and the channel for a child after a privilege
     * drop is a request, maybe to this process's own netstack thread. Not for the keeper's
     * fork: that thread is stopped and the stack lock held then. */
    if (!handing_over) {
        nc__remote_fork_channel();
        nc__convert_at_fork();
    }
    nc__mutex_lock(&start_mu);
    fork_locked = !atomic_load(&forked) ? nc_stack : NULL;
    netcore_fork_prepare(fork_locked);
    nc__signal_fork_prepare();
    nc__remote_fork_prepare();
}

static void on_fork_parent(void)
{
    nc__remote_fork_parent();
    nc__signal_fork_parent();
    netcore_fork_parent(fork_locked);
    fork_locked = NULL;
    nc__mutex_unlock(&start_mu); /* runs what was deferred meanwhile */
}

/*
 * A child: the parent's sockets stay the parent's (see core/fork.c). Each fd that was one is
 * made an unconnected socket, so that every call on it in the child fails with ENOTCONN
 * (poll says POLLHUP) instead of reading the parent's eventfd; closing it is harmless. With
 * NETCORE_STACK=own, new sockets get a stack of the child's own, on the next free device of
 * the pool. Shared: the parent goes on driving its stack, and the child is its client from
 * birth (the relayed fds it inherited are the same sockets as the parent's; its control
 * connections are the parent's, and closed here).
 */
static void on_fork_child(void)
{
    nc__convert_fork_child();
    netcore_fork_child(fork_locked); /* also lets go of its lock in this copy */
    fork_locked = NULL;
    nc__remote_fork_child();
    if (nc_stack != NULL && shared) {
        nc_stack = NULL; /* the parent's copy: left as it is, never used */
        nc__remote_client = true;
    } else if (nc_stack != NULL) {
        atomic_store(&forked, true);
    }
    /* Held by this thread's copy: start afresh. Not through nc__mutex_unlock: a signal
     * deferred under it was the parent's (nc__signal_fork_child forgets it). */
    pthread_mutex_init(&start_mu, NULL);
    nc__crit_depth = nc__crit_depth - 1;
    nc__epoll_atfork_child();
    nc__signal_fork_child();
    nc__poison_mapped(true);
}

static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;

#define RESOLVE(name) nc_libc.name = (__typeof__(nc_libc.name))dlsym(RTLD_NEXT, #name)

static void resolve_all(void)
{
    RESOLVE(socket);
    RESOLVE(socketpair);
    RESOLVE(bind);
    RESOLVE(listen);
    RESOLVE(accept);
    RESOLVE(accept4);
    RESOLVE(connect);
    RESOLVE(send);
    RESOLVE(sendto);
    RESOLVE(sendmsg);
    RESOLVE(sendmmsg);
    RESOLVE(recv);
    RESOLVE(recvfrom);
    RESOLVE(recvmsg);
    RESOLVE(recvmmsg);
    RESOLVE(read);
    RESOLVE(write);
    RESOLVE(readv);
    RESOLVE(writev);
    RESOLVE(sendfile);
    RESOLVE(preadv2);
    RESOLVE(pwritev2);
    RESOLVE(splice);
    RESOLVE(syscall);
    nc__raw_syscall = nc_libc.syscall; /* the core's raw calls bypass syscall.c */
    RESOLVE(close);
    RESOLVE(close_range);
    RESOLVE(shutdown);
    RESOLVE(getsockopt);
    RESOLVE(setsockopt);
    RESOLVE(getsockname);
    RESOLVE(getpeername);
    RESOLVE(fcntl);
    RESOLVE(ioctl);
    RESOLVE(dup);
    RESOLVE(dup2);
    RESOLVE(dup3);
    RESOLVE(poll);
    RESOLVE(ppoll);
    RESOLVE(select);
    RESOLVE(pselect);
    RESOLVE(epoll_create);
    RESOLVE(epoll_create1);
    RESOLVE(epoll_ctl);
    RESOLVE(epoll_wait);
    RESOLVE(epoll_pwait);
    RESOLVE(epoll_pwait2);
    RESOLVE(fstat);
    RESOLVE(fstatat);
    RESOLVE(statx);
    RESOLVE(stat);
    RESOLVE(__fxstat);
    RESOLVE(__fxstatat);
    RESOLVE(__xstat);
    RESOLVE(fstatfs);
    RESOLVE(lseek);
    RESOLVE(isfdtype);
    RESOLVE(sockatmark);
    RESOLVE(closefrom);
    RESOLVE(fdopen);
    RESOLVE(fclose);
    RESOLVE(execve);
    RESOLVE(execvpe);
    RESOLVE(fexecve);
    RESOLVE(posix_spawn);
    RESOLVE(posix_spawnp);
    RESOLVE(posix_spawn_file_actions_init);
    RESOLVE(posix_spawn_file_actions_destroy);
    RESOLVE(posix_spawn_file_actions_addopen);
    RESOLVE(posix_spawn_file_actions_addclose);
    RESOLVE(posix_spawn_file_actions_adddup2);
    RESOLVE(posix_spawn_file_actions_addchdir_np);
    RESOLVE(posix_spawn_file_actions_addfchdir_np);
    RESOLVE(posix_spawn_file_actions_addclosefrom_np);
    RESOLVE(posix_spawn_file_actions_addtcsetpgrp_np);
    RESOLVE(getaddrinfo);
    RESOLVE(freeaddrinfo);
    RESOLVE(gai_strerror);
    RESOLVE(getnameinfo);
    RESOLVE(gethostbyname);
    RESOLVE(gethostbyname2);
    RESOLVE(gethostbyname_r);
    RESOLVE(gethostbyname2_r);
    RESOLVE(gethostbyaddr);
    RESOLVE(gethostbyaddr_r);
    RESOLVE(sigaction);
    RESOLVE(setuid);
    RESOLVE(seteuid);
    RESOLVE(setreuid);
    RESOLVE(setresuid);
    RESOLVE(capset);
}

void nc__libc_resolve(void)
{
    pthread_once(&resolve_once, resolve_all);
}

/* Only NETCORE_LOG, for the constructor: the rest waits for the stack to start. */
static const char *log_var_only(const char *name)
{
    return strcmp(name, "NETCORE_LOG") == 0 ? getenv(name) : NULL;
}

/*
 * Says, at NETCORE_LOG=info and above, that the library is loaded: a program the preload
 * cannot reach would print nothing, so a user can tell the two apart. A bad NETCORE_LOG
 * says nothing here; the stack's start names it, as for every variable.
 */
static void say_loaded(void)
{
    struct netcore_config cfg;
    char err[256];
    netcore_config_defaults(&cfg);
    if (netcore_config_from_env(&cfg, log_var_only, err, sizeof(err)) != 0)
        return;
    netcore_log_level(cfg.log_level);
    if (cfg.log_level < NETCORE_LOG_INFO)
        return;
    char exe[256];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    nc__log(NETCORE_LOG_INFO, "libnetcore.so loaded in %s: its TCP and UDP sockets run on "
            "netcore", n > 0 ? exe : "this program");
}

__attribute__((constructor)) static void shim_init(void)
{
    nc__libc_resolve();
    pthread_atfork(on_fork_prepare, on_fork_parent, on_fork_child);
    say_loaded();
}

/*
 * At exit the kernel would close our sockets and go on delivering their data; the stack
 * dies with the process, so deliver it now, for at most NETCORE_LINGER seconds.
 */
__attribute__((destructor)) static void shim_fini(void)
{
    if (nc_stack == NULL || stack_pid != getpid() || atomic_load(&forked))
        return;
    if (nc__keep_if_used("exit"))
        return;
    netcore_stat_close(nc_stack);
    struct netcore_config cfg;
    char err[256];
    int secs = nc__shim_config(&cfg, err, sizeof(err)) == 0 ? cfg.linger_s : 10;
    if (secs > 0 && netcore_drain(nc_stack, secs * 1000) != 0)
        nc__log(NETCORE_LOG_WARN, "exit: data still undelivered after %d s (NETCORE_LINGER)",
                secs);
}

/*
 * Other processes still use the stack this one drives (relayed sockets, attached clients):
 * a keeper drives it on, and delivers this program's data too, while this process goes.
 * True when the stack is the keeper's now.
 */
bool nc__keep_if_used(const char *when)
{
    if (!nc__shared_driver() || netcore_share_users(nc_stack) == 0)
        return false;
    handing_over = true;
    int pid = netcore_share_keep(nc_stack);
    handing_over = false;
    if (pid > 0) {
        nc__handed_off();
        return true;
    }
    nc__log(NETCORE_LOG_ERROR, "%s: no keeper for the stack (%s): the processes using it "
            "lose their sockets", when, strerror(-pid));
    return false;
}

/* The NETCORE_* variables as the one parse found them (see nc__shim_config). */
static pthread_once_t config_once = PTHREAD_ONCE_INIT;
static struct netcore_config config;
static int config_rc;
static char config_err[512];

static void parse_config(void)
{
    netcore_config_defaults(&config);
    config_rc = netcore_config_from_env(&config, NULL, config_err, sizeof(config_err));
}

/*
 * The NETCORE_* variables are parsed once in a process image, at the first call that needs
 * them (the stack's start, a name lookup, a received socket's check), and every part of the
 * shim reads that one result: the stack and the resolver (NETCORE_DNS) cannot disagree, and
 * a bad value is named once, by the core's parser, in the message returned in err.
 * Returns 0 with *cfg filled, or the parser's negative errno. Any thread, any time.
 */
int nc__shim_config(struct netcore_config *cfg, char *err, size_t errlen)
{
    pthread_once(&config_once, parse_config);
    *cfg = config;
    if (config_rc != 0)
        snprintf(err, errlen, "%s", config_err);
    return config_rc;
}

/*
 * Does a process drive this device's shared stack now (its rendezvous lock is held)? Asked
 * by a process that has not used netcore yet before it takes a socket it received for one
 * of the stack's: it must not start a stack (and take the TAP) for whatever socketpair end
 * a program passes it. A claim that succeeds is let go at once.
 */
bool nc__driver_running(void)
{
    struct netcore_config cfg;
    char err[256];
    if (nc__shim_config(&cfg, err, sizeof(err)) != 0 || !cfg.share)
        return false;
    struct netcore_rendezvous rv;
    int rc = netcore_share_claim(&cfg, &rv, err, sizeof(err));
    if (rc == 1)
        netcore_share_release(&rv);
    return rc == 0;
}

/* This process drives a shared stack (its sockets may be relayed: convert.c). */
bool nc__shared_driver(void)
{
    return shared && nc_stack != NULL && !nc__remote_client && !atomic_load(&forked) &&
           stack_pid == getpid();
}

/* The stack went to a keeper: this process is one of its clients from its next call on
 * (start() sees forked in shared mode). */
void nc__handed_off(void)
{
    atomic_store(&forked, true);
}

/* fd map: one array for both kinds of netcore fd, so an fd that is neither costs one load */
static _Atomic int *fdmap;    /* handle + 1; -(remote bits) for a relayed fd; 0: not ours */
static int fdmap_len;
static _Atomic int *refs;     /* program fds per handle */
static atomic_int nmapped;    /* fds in the map: a scan of none costs nothing */
static int nrefs;

int nc__fd_handle(int fd)
{
    if (fd < 0 || fd >= fdmap_len || fdmap == NULL)
        return -1;
    int v = atomic_load_explicit(&fdmap[fd], memory_order_acquire);
    return v > 0 ? v - 1 : -1;
}

int nc__fd_entry(int fd)
{
    if (fd < 0 || fd >= fdmap_len || fdmap == NULL)
        return 0;
    return atomic_load_explicit(&fdmap[fd], memory_order_acquire);
}

int nc__fd_lookup(int fd)
{
    if (nc__in_stack_thread || fd < 0 || fd >= fdmap_len || fdmap == NULL)
        return 0;
    int v = atomic_load_explicit(&fdmap[fd], memory_order_acquire);
    return v < 0 && (-v & NC_RK_CHAN) ? 0 : v;
}

/*
 * Relayed fds (remote.c) in the same array, as negative values: fdmap_len bounds both, and
 * the socket handles of the fast path never see them (nc__fd_handle says -1).
 */
int nc__fd_set_remote(int fd, int bits, int expect)
{
    if (fd < 0 || fd >= fdmap_len || fdmap == NULL)
        return -EMFILE;
    if (expect == INT_MIN) {
        int old = atomic_exchange_explicit(&fdmap[fd], -bits, memory_order_release);
        if (old > 0) /* the fd number was a fast-path socket's, closed behind our back */
            atomic_fetch_sub(&refs[old - 1], 1);
        return 0;
    }
    int e = -expect;
    return atomic_compare_exchange_strong(&fdmap[fd], &e, -bits) ? 0 : -EAGAIN;
}

void nc__fd_clear_remote(int fd)
{
    if (fd < 0 || fd >= fdmap_len || fdmap == NULL)
        return;
    int v = atomic_load(&fdmap[fd]);
    if (v < 0)
        atomic_compare_exchange_strong(&fdmap[fd], &v, 0);
}

int nc__fd_map_len(void)
{
    return fdmap != NULL ? fdmap_len : 0;
}

int nc__fd_next(int from)
{
    if (atomic_load_explicit(&nmapped, memory_order_relaxed) == 0 || fdmap == NULL ||
        nc_stack == NULL || atomic_load(&forked))
        return -1;
    for (int fd = from < 0 ? 0 : from; fd < fdmap_len; fd++)
        if (atomic_load_explicit(&fdmap[fd], memory_order_relaxed) > 0)
            return fd;
    return -1;
}

void nc__unpoison_mapped(void)
{
    if (fdmap == NULL || nc_stack == NULL || atomic_load(&forked))
        return;
    for (int fd = 0; fd < fdmap_len; fd++) {
        int h = atomic_load_explicit(&fdmap[fd], memory_order_relaxed) - 1;
        if (h < 0)
            continue;
        int efd = netcore_fd(nc_stack, h);
        long fl = nc__raw_syscall(SYS_fcntl, fd, F_GETFD);
        if (efd >= 0)
            nc__raw_syscall(SYS_dup3, efd, fd, fl >= 0 && (fl & FD_CLOEXEC) ? O_CLOEXEC : 0);
    }
}

void nc__poison_mapped(bool forget)
{
    if (fdmap == NULL)
        return;
    int poison = -1;
    for (int fd = 0; fd < fdmap_len; fd++) {
        /* Relayed fds (< 0) are real sockets of the driver's: a child keeps them as they are. */
        if (atomic_load_explicit(&fdmap[fd], memory_order_relaxed) <= 0)
            continue;
        if (forget && atomic_exchange(&fdmap[fd], 0) > 0)
            atomic_fetch_sub(&nmapped, 1);
        if (poison < 0)
            poison = (int)nc__raw_syscall(SYS_socket, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (poison < 0) {
            /* No socket to stand in (out of descriptors): better a closed fd (EBADF) than
             * the parent's eventfd, whose wake-ups a read here would take. */
            if (forget)
                nc__raw_syscall(SYS_close, fd);
            continue;
        }
        long fl = nc__raw_syscall(SYS_fcntl, fd, F_GETFD);
        nc__raw_syscall(SYS_dup3, poison, fd, fl >= 0 && (fl & FD_CLOEXEC) ? O_CLOEXEC : 0);
    }
    if (poison >= 0)
        nc__raw_syscall(SYS_close, poison);
    if (forget && refs != NULL)
        for (int i = 0; i < nrefs; i++)
            atomic_store(&refs[i], 0);
}

int nc__fd_bind(int fd, int handle)
{
    if (fd < 0 || fd >= fdmap_len)
        return -EMFILE;
    atomic_fetch_add(&refs[handle], 1);
    if (atomic_exchange_explicit(&fdmap[fd], handle + 1, memory_order_release) <= 0)
        atomic_fetch_add(&nmapped, 1);
    return 0;
}

int nc__fd_unbind(int fd, int *handle)
{
    if (fd < 0 || fd >= fdmap_len || fdmap == NULL)
        return -1;
    int v = atomic_load(&fdmap[fd]);
    if (v <= 0 || !atomic_compare_exchange_strong(&fdmap[fd], &v, 0))
        return -1;
    int h = v - 1;
    atomic_fetch_sub(&nmapped, 1);
    *handle = h;
    return atomic_fetch_sub(&refs[h], 1) - 1;
}

int nc__fd_adopt(int handle, int fd)
{
    int rc = nc__fd_bind(fd, handle);
    if (rc != 0) {
        LIBC(close)(fd);
        netcore_close(nc_stack, handle);
        return rc;
    }
    return fd;
}

static int start_error;

/*
 * The shared stack: drive it when no process does (and serve the others), else attach to the
 * driver. The claim and the attach may race a driver that is exiting (its lock is free a
 * moment after we found it held): try again a few times. *refused is set when the driver
 * answered that this process may not use its stack.
 */
static int start_shared(const struct netcore_config *cfg, bool *refused, char *err,
                        size_t errlen)
{
    int rc = -ENETDOWN;
    /* The lock held but nobody listening: a driver between its bind and its listen, or one
     * going away (its name removed, the lock not yet let go at its exit). Both last
     * moments, with nothing to wait on (flock has no time limit, and a live driver holds
     * the lock for good): claim again after 1, 2, 4 ... 512 ms, about a second in all. */
    for (int tries = 0; tries < 11; tries++) {
        if (tries > 0) {
            struct timespec ts = { 0, (1L << (tries - 1)) * 1000000L };
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
        }
        struct netcore_rendezvous rv;
        rc = netcore_share_claim(cfg, &rv, err, errlen);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            rc = netcore_start(cfg, 0, &nc_stack, err, errlen);
            if (rc != 0) {
                netcore_share_release(&rv);
                return rc;
            }
            nc__remote_setup(cfg);
            int s = netcore_share_serve(nc_stack, &rv);
            if (s != 0) /* this process keeps its stack; no other can use it */
                nc__log(NETCORE_LOG_WARN, "cannot serve other processes on %s: %s",
                        rv.path, strerror(-s));
            return 0;
        }
        rc = nc__remote_attach(cfg, err, errlen);
        if (rc == -EACCES) {
            *refused = true;
            return rc;
        }
        if (rc != -ENOENT && rc != -ECONNREFUSED && rc != -ENETDOWN)
            return rc;
    }
    return rc;
}

/*
 * Starts this process's stack, or attaches to the shared one (once; a forked child's first
 * call in NETCORE_STACK=own starts its own; in shared mode a forked child is a client from
 * birth). A failure says why on stderr and sticks: later calls get the same errno without a
 * word. Made early, before a privilege drop (quiet), a failure is only logged at info and does
 * not stick: the program may never open a socket (setpriv, su), and if it does, its socket()
 * tries again and says why then.
 */
static int start(bool quiet)
{
    if ((nc_stack != NULL || nc__remote_client) && !atomic_load(&forked))
        return 0;
    nc__mutex_lock(&start_mu);
    int rc = 0;
    if (atomic_load(&forked) && shared) {
        /* The stack is driven by another process now (this one handed it to a keeper): it
         * is one of its clients, like any other. */
        nc_stack = NULL;
        atomic_store(&forked, false);
        start_error = 0;
    } else if (atomic_load(&forked)) {
        /* A forked child's first socket: leave the parent's stack behind, start afresh. */
        netcore_fork_forget(nc_stack);
        nc_stack = NULL;
        start_error = 0;
    }
    if (nc_stack != NULL || nc__remote_client || start_error != 0) {
        rc = -start_error;
        goto out;
    }
    struct rlimit rl;
    if (fdmap == NULL) {
        fdmap_len = NC_FD_MAX;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
            rl.rlim_max < (rlim_t)fdmap_len)
            fdmap_len = (int)rl.rlim_max;
    }
    struct netcore_config cfg;
    char err[512];
    bool refused = false;
    rc = nc__shim_config(&cfg, err, sizeof(err));
    if (rc == 0)
        rc = nc__passthrough_parse(getenv("NETCORE_PASSTHROUGH"), err, sizeof(err));
    if (rc == 0 && fdmap == NULL) {
        fdmap = calloc((size_t)fdmap_len, sizeof(*fdmap));
        refs = calloc((size_t)cfg.max_sockets, sizeof(*refs));
        nrefs = cfg.max_sockets;
        if (fdmap == NULL || refs == NULL) {
            snprintf(err, sizeof(err), "out of memory for the fd map");
            rc = -ENOMEM;
        }
    }
    if (rc == 0 && cfg.share) {
        shared = true;
        rc = start_shared(&cfg, &refused, err, sizeof(err));
    } else if (rc == 0) {
        shared = false;
        rc = netcore_start(&cfg, 0, &nc_stack, err, sizeof(err));
    }
    if (rc != 0) {
        if (quiet) {
            nc__log(NETCORE_LOG_INFO, "no stack before the privilege drop: %s", err);
        } else {
            if (refused)
                nc__log(NETCORE_LOG_ERROR, "the stack's driver refused this process: %s", err);
            else
                nc__log(NETCORE_LOG_ERROR, "cannot start the stack: %s", err);
            start_error = -rc;
        }
        goto out;
    }
    if (nc_stack != NULL)
        stack_pid = getpid();
    atomic_store(&forked, false); /* only now: nc_stack is this process's own again */
out:
    nc__mutex_unlock(&start_mu);
    return rc;
}

int nc__shim_start(void)
{
    return start(false);
}

int nc__shim_start_quiet(void)
{
    return start(true);
}

unsigned nc__ready(int handle, unsigned events)
{
    return netcore_poll(nc_stack, handle, events);
}

bool nc__stream(int handle)
{
    int type = 0;
    socklen_t len = sizeof(type);
    return netcore_getsockopt(nc_stack, handle, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
           type == SOCK_STREAM;
}
