/*
 * Relayed sockets, the client side (core/share.h has the design and the wire protocol).
 *
 * A relayed socket's fd is one end of a socketpair whose other end the driver's netstack
 * thread pumps. Data, readiness, O_NONBLOCK, SO_RCVTIMEO/SO_SNDTIMEO, dup, fork, exec and
 * SCM_RIGHTS are therefore the kernel's business; what the shim adds is the socket's control
 * calls, each one request and one reply on a control connection to the driver. This file
 * keeps the fd map's entries for those fds, the control connections (one per thread, so a
 * reply that waits, a blocking connect, holds up only its own thread) and the exchange
 * itself; remote_ops.c has the calls, remote_io.c the data path.
 *
 * The driver may die at any moment: a connection that reads EOF or ECONNRESET means it is
 * gone, and the call fails with ENETDOWN. The connection is forgotten; the next call opens
 * a new one (a new driver may exist by then, though it will not know the old sockets). Its
 * listeners and UDP sockets are then made inert (remote_gone.c), so that no event loop spins
 * on their hang-up.
 */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/share.h"
#include "shim.h"

bool nc__remote_client;

/* The configuration whose rendezvous the control connections reach (set at start). */
static struct netcore_config rcfg;
static _Atomic bool have_cfg;

/* fd map entries */

int nc__remote_kind(int fd)
{
    int e = nc__fd_entry(fd);
    if (e >= 0)
        return -1;
    return (-e & NC_RK_CHAN) ? -1 : -e;
}

int nc__remote_adopt(int fd, int family, int type, bool listening)
{
    if (family != AF_INET && family != AF_INET6)
        return -EAFNOSUPPORT;
    if (type != SOCK_STREAM && type != SOCK_DGRAM)
        return -EPROTOTYPE;
    int k = NC_RK_VALID | type | (family == AF_INET6 ? NC_RK_INET6 : 0);
    if (listening)
        k |= NC_RK_LISTENING;
    return nc__fd_set_remote(fd, k, INT_MIN);
}

int nc__remote_next(int from)
{
    int n = nc__fd_map_len();
    for (int fd = from < 0 ? 0 : from; fd < n; fd++)
        if (nc__remote_kind(fd) >= 0)
            return fd;
    return -1;
}

int nc__remote_dup(int newfd, int k)
{
    if (newfd < 0)
        return newfd;
    if (nc__fd_set_remote(newfd, k, INT_MIN) != 0) {
        LIBC(close)(newfd);
        errno = EMFILE;
        return -1;
    }
    return newfd;
}

/* Sets and clears bits of fd's entry, if it is still the relayed socket it was. */
void nc__remote_bits(int fd, int set, int clear)
{
    for (int tries = 0; tries < 64; tries++) {
        int k = nc__remote_kind(fd);
        if (k < 0 || nc__fd_set_remote(fd, (k | set) & ~clear, k) == 0)
            return;
    }
}

/* control connections */

struct chan {
    int fd;          /* -1 once closed (or closed by the program behind our back) */
    uint32_t seq;    /* the last request's number; never 0 (a refusal's) */
    bool denied;     /* this thread may not connect (EACCES after a privilege drop): spare */
    struct chan *next;
};
/* Every thread's connection, for fork (the child closes them all) and for a close() of one
 * of their fds by the program. */
static pthread_mutex_t chans_mu = PTHREAD_MUTEX_INITIALIZER;
static struct chan *chans;
static __thread struct chan *my_chan;
/*
 * A connection opened before a privilege drop, for the threads that cannot open their own
 * after it (the run directory is the old uid's: EACCES). The driver checked this process's
 * credentials when it accepted the connection, as the kernel checks a socket's when it is
 * opened. It carries only NC_OP_CHANNEL, which never waits: the driver answers with a new
 * connection of the same credentials, which becomes such a thread's own (a blocking connect
 * then holds up only its thread, and one given up on costs only that channel); a forked child
 * gets one as its spare (the parent's are closed in the child). A driver without
 * NC_OP_CHANNEL (no_channels): the spare carries every request of those threads, one at a
 * time, as before.
 */
static struct chan *spare;
static pthread_mutex_t spare_mu = PTHREAD_MUTEX_INITIALIZER;
static bool no_channels;
/* The channel asked for the child in fork's prepare handler (the child's spare), or -1. */
static int fork_chan = -1;
static pthread_key_t chan_key;
static pthread_once_t chan_key_once = PTHREAD_ONCE_INIT;
/*
 * Set while this thread is in a request: a signal handler that makes a call which needs one
 * (a getsockopt, a send that met EPIPE) must not use the thread's connection, whose reply it
 * would take and drop as not its own, leaving the interrupted call waiting forever. It gets a
 * temporary connection (rpc_temp).
 */
static __thread volatile sig_atomic_t rpc_busy;

static void chan_close(struct chan *c)
{
    if (c->fd >= 0) {
        nc__fd_clear_remote(c->fd);
        LIBC(close)(c->fd);
        c->fd = -1;
    }
}

/* At thread exit: the thread's connection goes (the driver forgets what it had pending). */
static void chan_free(void *p)
{
    struct chan *c = p;
    pthread_mutex_lock(&chans_mu);
    for (struct chan **pp = &chans; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    chan_close(c);
    pthread_mutex_unlock(&chans_mu);
    if (my_chan == c) /* a later destructor's close may still ask: it opens a new one */
        my_chan = NULL;
    free(c);
}

static void chan_key_init(void)
{
    pthread_key_create(&chan_key, chan_free);
}

void nc__remote_forget(int fd)
{
    int e = nc__fd_entry(fd);
    if (e >= 0)
        return;
    if (-e & NC_RK_CHAN) {
        /* The program closes one of our connections (a close-all loop): it is closing the fd
         * itself, so only forget it; its thread opens another at its next call. */
        pthread_mutex_lock(&chans_mu);
        for (struct chan *c = chans; c != NULL; c = c->next)
            if (c->fd == fd)
                c->fd = -1;
        pthread_mutex_unlock(&chans_mu);
    }
    nc__fd_clear_remote(fd);
}

/* A new connection's fd out of the way, and marked in the fd map: a close() of it by the
 * program is noticed (nc__remote_forget). */
static int chan_own(int fd)
{
    /* Above the numbers the program would get without the shim (a program or a test may
     * count on them): where the core keeps its own fds. */
    fd = nc__fd_high(fd);
    nc__fd_set_remote(fd, NC_RK_CHAN, INT_MIN);
    return fd;
}

static int spare_channel(bool nested);

/* No driver listening where it should: the stack is gone (ENETDOWN to the program). */
static int conn_error(int rc)
{
    return rc == -ENOENT || rc == -ECONNREFUSED || rc == -ECONNRESET || rc == -EPIPE
               ? -ENETDOWN : rc;
}

/* This thread's connection, opened if it has none; 0 or -errno (message in err). */
static int chan_get(struct chan **out, char *err, size_t errlen)
{
    struct chan *c = my_chan;
    if (c != NULL && c->fd >= 0) {
        *out = c;
        return 0;
    }
    if (!atomic_load(&have_cfg)) {
        snprintf(err, errlen, "no stack configured");
        return -ENETDOWN;
    }
    pthread_once(&chan_key_once, chan_key_init);
    if (c == NULL) {
        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        c->fd = -1;
        pthread_mutex_lock(&chans_mu);
        c->next = chans;
        chans = c;
        pthread_mutex_unlock(&chans_mu);
        my_chan = c;
        pthread_setspecific(chan_key, c);
    }
    int fd = -EACCES;
    if (!c->denied) {
        fd = netcore_share_connect(&rcfg, err, errlen);
        if (fd == -EACCES && spare != NULL)
            c->denied = true; /* no use trying again for every call */
    }
    if (c->denied) {
        /* A channel of the spare's credentials; without NC_OP_CHANNEL, -EACCES says to use
         * the spare itself (rpc_wait). */
        if (no_channels)
            return -EACCES;
        fd = spare_channel(false);
        if (fd == -EINVAL)
            return -EACCES;
        if (fd < 0)
            snprintf(err, errlen, "no channel from the spare control connection: %s",
                     strerror(-fd));
    }
    if (fd < 0)
        return conn_error(fd);
    fd = chan_own(fd);
    pthread_mutex_lock(&chans_mu);
    c->fd = fd;
    pthread_mutex_unlock(&chans_mu);
    *out = c;
    return 0;
}

static void chan_drop(struct chan *c)
{
    pthread_mutex_lock(&chans_mu);
    chan_close(c);
    pthread_mutex_unlock(&chans_mu);
}

/*
 * Before fork, ahead of every lock of the prepare handlers (the request may go to this very
 * process's netstack thread): a process that holds a spare cannot open a connection after
 * its privilege drop, and nor can its child, whose copies of ours are closed. So the driver
 * makes one for the child (NC_OP_CHANNEL), which becomes the child's spare. Not while this
 * thread holds a counted lock: the keeper's fork (core/keep.c) holds the stack lock with the
 * netstack thread stopped, and its child drives, it needs no connection.
 */
void nc__remote_fork_channel(void)
{
    fork_chan = -1;
    if (spare == NULL || !atomic_load(&have_cfg) || nc__crit_depth != 0)
        return;
    if (no_channels)
        return;
    int saved = errno;
    int fd = spare_channel(rpc_busy != 0);
    if (fd < 0 && fd != -EINVAL) { /* the spare is gone: ask on the thread's connection */
        struct nc_share_req q;
        struct nc_share_rep p;
        int nfd;
        memset(&q, 0, sizeof(q));
        long r = nc__remote_rpc(NC_OP_CHANNEL, -1, &q, &p, &nfd);
        if (r >= 0 && nfd < 0)
            r = -EPROTO;
        if (r < 0 && nfd >= 0)
            LIBC(close)(nfd);
        fd = r < 0 ? (int)r : nfd;
    }
    if (fd >= 0)
        fork_chan = chan_own(fd);
    else
        nc__log(NETCORE_LOG_DEBUG, "fork: no control connection for the child: %s",
                strerror(-fd));
    errno = saved;
}

/* Not spare_mu: a blocking connect may hold it long. The child closes the spare anyway. */
void nc__remote_fork_prepare(void)
{
    pthread_mutex_lock(&chans_mu);
}

/* Also after a fork that failed: the child's channel is not ours to keep. */
void nc__remote_fork_parent(void)
{
    pthread_mutex_unlock(&chans_mu);
    if (fork_chan >= 0) {
        nc__fd_clear_remote(fork_chan);
        LIBC(close)(fork_chan);
        fork_chan = -1;
    }
}

/* The connections are the parent's: a request from here would mix with its own. The
 * channel asked for in the prepare handler is this process's spare. */
void nc__remote_fork_child(void)
{
    for (struct chan *c = chans; c != NULL; c = c->next)
        chan_close(c);
    pthread_mutex_init(&chans_mu, NULL);
    pthread_mutex_init(&spare_mu, NULL);
    if (fork_chan >= 0 && spare != NULL) {
        spare->fd = fork_chan;
        spare->seq = 0;
    } else if (fork_chan >= 0) {
        nc__fd_clear_remote(fork_chan);
        LIBC(close)(fork_chan);
    }
    fork_chan = -1;
}

/* the exchange */

/* Closes every fd a control message carried, but keep (if not NULL) gets the first one. */
static void take_one(int fd, void *arg)
{
    int *keep = arg;
    if (keep != NULL && *keep < 0)
        *keep = fd;
    else
        LIBC(close)(fd);
}

static void take_fds(struct msghdr *m, int *keep)
{
    nc__each_passed_fd(m, take_one, keep);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * One request on connection cfd and its reply: sends req (op and seq filled by the caller)
 * with fd as SCM_RIGHTS when fd >= 0, and waits for the reply that carries req's seq. A reply
 * with another seq is dropped (its fds closed); seq 0 with an error is the driver refusing
 * this process. An fd in the reply goes to *fd_out when the caller wants one and the reply
 * is a success (close-on-exec: MSG_CMSG_CLOEXEC), else it is closed. wait says the reply
 * may take long (a blocking connect): a signal then ends the wait with -EINTR, and
 * timeout_ms (-1: none) with -ETIME, not -ETIMEDOUT, which is the driver's reply when the
 * connection itself timed out; in both cases the caller must close the connection, whose
 * reply is still to come. Other calls wait through signals (their replies come at
 * once). Returns the reply's rc, -ENETDOWN when the driver is gone, -EPROTO for a reply
 * that is not one. *spent is set when the connection cannot carry another request (those
 * cases, and a refusal).
 */
long nc__remote_exchange(int cfd, struct nc_share_req *req, int fd, struct nc_share_rep *rep,
                         int *fd_out, bool wait, int timeout_ms, bool *spent)
{
    if (fd_out != NULL)
        *fd_out = -1;
    *spent = true;
    ssize_t n = nc__sys_sendmsg_fd(cfd, req, sizeof(*req), fd, MSG_NOSIGNAL);
    /* A driver that refuses this process replies and closes at once, maybe before our
     * request: the send fails, and the refusal waits to be read. */
    int send_err = n < 0 ? (int)-n : 0;
    if (send_err != 0 && send_err != EPIPE && send_err != ECONNRESET)
        return conn_error(-send_err);
    if (send_err != 0)
        wait = false;
    /* A peer that closes with our request unread leaves ECONNRESET, which the next recvmsg
     * reports before the messages still queued (a refusal): read once more for those. */
    bool reset = false;
    int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : 0;
    for (;;) {
        if (wait) {
            int left = -1;
            if (timeout_ms >= 0) {
                int64_t l = deadline - now_ms();
                left = l < 0 ? 0 : (l > INT_MAX ? INT_MAX : (int)l);
            }
            struct pollfd p = { .fd = cfd, .events = POLLIN };
            int r = LIBC(poll)(&p, 1, left);
            if (r < 0 && errno == EINTR)
                return -EINTR;
            if (r == 0)
                return -ETIME;
        }
        /* Room for more fds than one: a reply with several is wrong, and every one of them
         * must be closed, not left behind as MSG_CTRUNC would. */
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(sizeof(int) * 8)];
        } rc;
        struct iovec riov = { rep, sizeof(*rep) };
        struct msghdr rm = { .msg_iov = &riov, .msg_iovlen = 1, .msg_control = rc.buf,
                             .msg_controllen = sizeof(rc.buf) };
        bool last = send_err != 0 || reset;
        n = LIBC(recvmsg)(cfd, &rm, MSG_CMSG_CLOEXEC | (last ? MSG_DONTWAIT : 0));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == ECONNRESET && !reset) {
            reset = true;
            wait = false;
            continue;
        }
        if (n < 0 && reset)
            return -ENETDOWN;
        if (n <= 0 && send_err != 0)
            return conn_error(-send_err);
        if (n < 0)
            return conn_error(-errno);
        if (n == 0)
            return -ENETDOWN;
        bool whole = (size_t)n >= offsetof(struct nc_share_rep, data) &&
                     rep->magic == NC_SHARE_MAGIC && rep->len <= NC_SHARE_DATA &&
                     (size_t)n >= offsetof(struct nc_share_rep, data) + rep->len;
        if (!whole) {
            take_fds(&rm, NULL);
            return -EPROTO;
        }
        if (rep->seq == 0 && rep->rc < 0) { /* refused, or the driver is full */
            take_fds(&rm, NULL);
            return rep->rc < -4095 ? -EPROTO : rep->rc;
        }
        if (rep->seq != req->seq || send_err != 0) {
            take_fds(&rm, NULL);
            if (send_err != 0)
                return conn_error(-send_err);
            continue;
        }
        bool want = fd_out != NULL && rep->rc >= 0;
        take_fds(&rm, want ? fd_out : NULL);
        if (rep->rc < -4095 || rep->rc > INT_MAX) {
            if (fd_out != NULL && *fd_out >= 0)
                LIBC(close)(*fd_out);
            return -EPROTO;
        }
        *spent = false;
        return rep->rc;
    }
}

/* One request on connection c (its seq numbers; see nc__remote_exchange). */
static long chan_exchange(struct chan *c, int op, int fd, struct nc_share_req *req,
                          struct nc_share_rep *rep, int *fd_out, bool wait, int timeout_ms,
                          bool *spent)
{
    if (++c->seq == 0)
        c->seq = 1;
    req->magic = NC_SHARE_MAGIC;
    req->seq = c->seq;
    req->op = (uint16_t)op;
    req->pad = 0;
    return nc__remote_exchange(c->fd, req, fd, rep, fd_out, wait, timeout_ms, spent);
}

/* A new connection with c's credentials (NC_OP_CHANNEL on c): its fd (close-on-exec, not
 * yet moved nor marked), or -errno; c is dropped when the exchange spent it. */
static int channel_on(struct chan *c)
{
    struct nc_share_req q;
    struct nc_share_rep p;
    int nfd;
    bool spent;
    memset(&q, 0, sizeof(q));
    long r = chan_exchange(c, NC_OP_CHANNEL, -1, &q, &p, &nfd, false, -1, &spent);
    if (spent)
        chan_drop(c);
    if (r >= 0 && nfd < 0)
        r = -EPROTO;
    /* A driver that does not know the op (EINVAL; EBADF: one that takes it for an op on a
     * socket, whose fd is missing): no use asking again, the spare serves as it is. */
    if (r == -EINVAL || r == -EBADF) {
        no_channels = true;
        r = -EINVAL;
    }
    if (r < 0)
        return (int)r;
    return nfd;
}

/* A channel from the spare (see spare); -EINVAL: the driver has no NC_OP_CHANNEL. nested: in
 * a signal handler that may have interrupted this thread holding spare_mu (-EAGAIN then). */
static int spare_channel(bool nested)
{
    if (nested) {
        if (pthread_mutex_trylock(&spare_mu) != 0)
            return -EAGAIN;
    } else {
        pthread_mutex_lock(&spare_mu);
    }
    int fd = spare->fd >= 0 ? channel_on(spare) : -ENETDOWN;
    pthread_mutex_unlock(&spare_mu);
    return fd;
}

/*
 * The spare was lost (the program closed it, or a request the spare carried was given up
 * with its reply still to come) while this thread's connection works: a channel of this one
 * takes its place, for the threads and the children that need one.
 */
static void spare_renew(struct chan *c)
{
    if (spare == NULL || spare->fd >= 0 || no_channels || c->fd < 0)
        return;
    int fd = channel_on(c);
    if (fd < 0)
        return;
    fd = chan_own(fd);
    pthread_mutex_lock(&spare_mu);
    pthread_mutex_lock(&chans_mu);
    bool take = spare->fd < 0;
    if (take) {
        spare->fd = fd;
        spare->seq = 0;
    }
    pthread_mutex_unlock(&chans_mu);
    pthread_mutex_unlock(&spare_mu);
    if (!take) {
        nc__fd_clear_remote(fd);
        LIBC(close)(fd);
    }
}

/*
 * A request made while this thread is already in one (a signal handler's call): on a
 * connection of its own, closed after the reply. Nothing that may block on a lock this
 * thread could hold: the spare's lock is only tried.
 */
static long rpc_temp(int op, int fd, struct nc_share_req *req, struct nc_share_rep *rep,
                     int *fd_out, bool wait, int timeout_ms)
{
    if (!atomic_load(&have_cfg))
        return -ENETDOWN;
    char err[128];
    struct chan *mine = my_chan;
    int cfd = -EACCES;
    if (mine == NULL || !mine->denied)
        cfd = netcore_share_connect(&rcfg, err, sizeof(err));
    if (cfd == -EACCES && spare != NULL && !no_channels)
        cfd = spare_channel(true);
    if (cfd < 0)
        return conn_error(cfd);
    struct chan t = { .fd = cfd };
    bool spent;
    long r = chan_exchange(&t, op, fd, req, rep, fd_out, wait, timeout_ms, &spent);
    LIBC(close)(cfd);
    return r;
}

/* One request on this thread's connection (see nc__remote_exchange); *lost is set when the
 * connection was there and the driver is found gone on it. */
static long rpc_chan(int op, int fd, struct nc_share_req *req, struct nc_share_rep *rep,
                     int *fd_out, bool wait, int timeout_ms, bool *lost)
{
    char err[256];
    struct chan *c;
    int rc = chan_get(&c, err, sizeof(err));
    if (rc == -EACCES && spare != NULL) {
        /* A driver without NC_OP_CHANNEL: the spare itself, one request at a time. */
        pthread_mutex_lock(&spare_mu);
        long r = -ENETDOWN;
        if (spare->fd >= 0) {
            bool spent;
            r = chan_exchange(spare, op, fd, req, rep, fd_out, wait, timeout_ms, &spent);
            if (spent)
                chan_drop(spare);
        }
        pthread_mutex_unlock(&spare_mu);
        return r;
    }
    if (rc != 0) {
        nc__log(NETCORE_LOG_DEBUG, "no control connection: %s", err);
        return rc;
    }
    bool spent;
    long r = chan_exchange(c, op, fd, req, rep, fd_out, wait, timeout_ms, &spent);
    /* The driver is gone (or broke the protocol, or refused us), or it still owes the reply
     * of a wait we gave up. */
    if (spent)
        chan_drop(c);
    else if (spare != NULL && spare->fd < 0)
        spare_renew(c);
    *lost = spent && r == -ENETDOWN;
    if (r == -EPROTO)
        nc__log(NETCORE_LOG_WARN, "a reply from the stack's driver that is not one "
                "(op %d): a driver of another build?", op);
    return r;
}

/* fd is a relayed socket of a dead driver, made inert (remote_gone.c). */
static bool gone(int fd)
{
    int k = nc__remote_kind(fd);
    return k >= 0 && (k & NC_RK_GONE);
}

static long rpc_wait(int op, int fd, struct nc_share_req *req, struct nc_share_rep *rep,
                     int *fd_out, bool wait, int timeout_ms)
{
    if (fd_out != NULL)
        *fd_out = -1;
    /* A socket of a dead driver (remote_gone.c): no driver to ask. */
    if (gone(fd))
        return -ENETDOWN;
    if (rpc_busy)
        return rpc_temp(op, fd, req, rep, fd_out, wait, timeout_ms);
    rpc_busy = 1;
    bool lost = false;
    long r = rpc_chan(op, fd, req, rep, fd_out, wait, timeout_ms, &lost);
    rpc_busy = 0;
    /* The driver may be gone (or a new one does not know the socket: EBADF): its listeners
     * and UDP sockets must not be ready for ever. */
    if (lost || r == -ENETDOWN || (r == -EBADF && fd >= 0)) {
        nc__remote_gone(fd, lost);
        if (gone(fd))
            r = -ENETDOWN;
    }
    return r;
}

/* errno as the program left it: a call that succeeds does not change it (nginx logs errno
 * beside a read of 0), and ours try things that fail on the way (a connect, a token). */
long nc__remote_rpc_wait(int op, int fd, struct nc_share_req *req, struct nc_share_rep *rep,
                         int *fd_out, bool wait, int timeout_ms)
{
    int saved = errno;
    long r = rpc_wait(op, fd, req, rep, fd_out, wait, timeout_ms);
    errno = saved;
    return r;
}

long nc__remote_rpc(int op, int fd, struct nc_share_req *req, struct nc_share_rep *rep,
                    int *fd_out)
{
    return nc__remote_rpc_wait(op, fd, req, rep, fd_out, false, -1);
}

/* start */

void nc__remote_setup(const struct netcore_config *cfg)
{
    rcfg = *cfg;
    /* The default directory is named after the effective uid: the one of now, the stack's,
     * not the one a later setuid gives. */
    if (rcfg.run_dir[0] == '\0')
        snprintf(rcfg.run_dir, sizeof(rcfg.run_dir), "/tmp/netcore-%u", (unsigned)geteuid());
    atomic_store(&have_cfg, true);
}

bool nc__remote_shared(void)
{
    return atomic_load(&have_cfg);
}

void nc__remote_keep_spare(void)
{
    if (!atomic_load(&have_cfg) || spare != NULL)
        return;
    char err[256];
    int fd = netcore_share_connect(&rcfg, err, sizeof(err));
    if (fd < 0) {
        nc__log(NETCORE_LOG_DEBUG, "no spare control connection: %s", err);
        return;
    }
    struct chan *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        LIBC(close)(fd);
        return;
    }
    c->fd = chan_own(fd);
    pthread_mutex_lock(&chans_mu);
    c->next = chans;
    chans = c;
    pthread_mutex_unlock(&chans_mu);
    spare = c;
}

/*
 * Client mode: opens this thread's connection and asks one harmless question (IDENTIFY of no
 * fd, which a driver answers with an error) so that a driver that refuses this process says
 * so now, once, rather than on every socket call. The driver's pid is the connection's peer.
 */
int nc__remote_attach(const struct netcore_config *cfg, char *err, size_t errlen)
{
    nc__remote_setup(cfg);
    struct chan *c;
    int rc = chan_get(&c, err, errlen);
    if (rc == -EACCES) {
        return rc;
    }
    if (rc != 0)
        return rc;
    struct ucred cr = { 0, 0, 0 };
    socklen_t crlen = sizeof(cr);
    LIBC(getsockopt)(c->fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen);
    struct nc_share_req q;
    struct nc_share_rep p;
    memset(&q, 0, sizeof(q));
    long r = nc__remote_rpc(NC_OP_IDENTIFY, -1, &q, &p, NULL);
    if (r == -EACCES) {
        snprintf(err, errlen, "the stack of %s is driven by pid %d (uid %d), which lets only "
                 "its own uid or root use it; this process runs as uid %d",
                 cfg->ifname, (int)cr.pid, (int)cr.uid, (int)geteuid());
        return (int)r;
    }
    if (r == -ENETDOWN || r == -EPROTO) {
        snprintf(err, errlen, "the driver of the stack of %s (pid %d) %s", cfg->ifname,
                 (int)cr.pid, r == -EPROTO ? "does not speak this build's protocol"
                                             : "went away");
        return (int)r;
    }
    nc__remote_client = true;
    nc__log(NETCORE_LOG_INFO, "attached to the stack of %s driven by pid %d", cfg->ifname,
            (int)cr.pid);
    return 0;
}
