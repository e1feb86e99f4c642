/*
 * share: the driver's control connections (share.h); the rendezvous is rendezvous.c.
 *
 * Every fd of the server (the listening socket, the connections, an eventfd for answers
 * that become due on other threads) sits in an epoll set of its own, created with the
 * stack. The stack's event loop watches that one fd (netcore_step polls it in manual mode),
 * so registering a connection is an epoll_ctl, safe from any thread, never a change to
 * libevent's base, which only the netstack thread may touch. Requests are handled without
 * the stack lock, by the public netcore_* calls, which take it (shareop.c). A keeper
 * inherits the set as it is (keep.c).
 *
 * A process the driver refuses (SO_PEERCRED: neither the stack's uid nor root) gets one
 * reply, magic and seq 0 with rc -EACCES, and the connection closes: the client reads it as
 * the answer to its first request. A process beyond the connection cap (conns_cap: a
 * quarter of the fd limit, at least SHARE_CONNS) gets -EAGAIN the same way.
 *
 * Whatever fd a client passes is looked at only through getsockopt(SO_DOMAIN) before it is
 * known to be an AF_UNIX socket, and closed by closer.c unless it is one: fstat or close of
 * a file on a hung mount, or of a lingering TCP socket, must not stop the netstack thread.
 */
#include "sharesrv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <event2/event.h>

#include "closer.h"
#include "netcore.h"
#include "relay.h"
#include "share.h"
#include "shimapi.h"
#include "sock.h"
#include "stack.h"
#include "sys.h"

/* Control connections served at once, at least: each costs an fd and a small struct. The cap
 * grows with the fd limit (a quarter of it): the rest is for relays and the program. */
#define SHARE_CONNS 256
#define SHARE_BATCH 32 /* epoll events taken per turn of the loop */

/* epoll by number: the shim interposes epoll_ctl and epoll_wait for the program's sets. */
static int ep_ctl(int epfd, int op, int fd, void *ptr, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = ptr };
    return nc__raw_syscall(SYS_epoll_ctl, epfd, op, fd, &ev) == 0 ? 0 : -errno;
}

/* A connection's events: its requests (reading), or only its hang-up (a reply waits). */
void nc__share_watch(struct netcore_stack *st, struct nc_share_conn *c, bool reading)
{
    (void)ep_ctl(st->share->epfd, EPOLL_CTL_MOD, c->fd, c,
                 reading ? EPOLLIN | EPOLLRDHUP : EPOLLRDHUP);
}

/* Caller holds the stack lock. */
static void conn_unlink(struct nc_share *sh, struct nc_share_conn *c)
{
    for (struct nc_share_conn **p = &sh->conns; *p != NULL; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            atomic_fetch_sub(&sh->nconns, 1);
            return;
        }
}

/*
 * Forgets a waiting CONNECT: its copy of the program end goes. Caller holds the lock.
 * Returns the slot whose hold the caller lets go of (nc__sock_put) once it has unlocked
 * (a put may free the socket, which takes the lock), or -1.
 */
static int wait_forget(struct nc_share_conn *c)
{
    int held = c->wait_sock != NULL ? c->wait_id : -1;
    nc__sys_clear_fd(&c->wait_fd);
    c->wait_sock = NULL;
    c->wait_ready = false;
    return held;
}

void nc__share_conn_close(struct netcore_stack *st, struct nc_share_conn *c)
{
    struct nc_share *sh = st->share;
    nc__lock(st);
    conn_unlink(sh, c);
    int held = wait_forget(c);
    nc__unlock(st);
    if (held >= 0)
        nc__sock_put(st, held);
    /* Out of the set by name: a forked child's copy of the fd would keep it there. */
    (void)ep_ctl(sh->epfd, EPOLL_CTL_DEL, c->fd, NULL, 0);
    nc__sys_close(c->fd);
    free(c);
}

int nc__share_reply(int fd, const struct nc_share_rep *rep, int pass_fd)
{
    long n = nc__sys_sendmsg_fd(fd, rep, sizeof(*rep), pass_fd, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0)
        return (int)n;
    return n == (long)sizeof(*rep) ? 0 : -EIO;
}

/*
 * One reply, then the connection is closed: a refused process. Whatever it sent already is
 * read and dropped first (fds closed): a unix socket closed with unread data resets its
 * peer, whose next read then fails with ECONNRESET instead of returning the reply.
 */
static void refuse(int fd, int rc)
{
    nc__raw_syscall(SYS_shutdown, fd, SHUT_RD); /* nothing more comes in */
    for (int i = 0; i < 64; i++) {
        char junk[64];
        union {
            char buf[CMSG_SPACE(sizeof(int) * 8)];
            struct cmsghdr align;
        } cm;
        struct iovec iov = { junk, sizeof(junk) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
                             .msg_controllen = sizeof(cm.buf) };
        if (nc__raw_syscall(SYS_recvmsg, fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) <= 0)
            break;
        for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h != NULL; h = CMSG_NXTHDR(&mh, h)) {
            if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
                continue;
            for (size_t k = 0; k < (h->cmsg_len - CMSG_LEN(0)) / sizeof(int); k++) {
                int got;
                memcpy(&got, CMSG_DATA(h) + k * sizeof(int), sizeof(got));
                nc__close_passed(got); /* a refused process's fd: anything */
            }
        }
    }
    struct nc_share_rep rep;
    memset(&rep, 0, sizeof(rep));
    rep.magic = NC_SHARE_MAGIC;
    rep.rc = rc;
    (void)nc__share_reply(fd, &rep, -1);
    nc__sys_close(fd);
}

static void on_accept(struct netcore_stack *st, struct nc_share *sh)
{
    for (int i = 0; i < SHARE_BATCH; i++) {
        int fd = (int)nc__raw_syscall(SYS_accept4, sh->rv.listen_fd, NULL, NULL,
                                      SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            fd = -errno;
        else
            fd = nc__fd_high(fd);
        if (fd == -EINTR || fd == -ECONNABORTED)
            continue;
        if ((fd == -EMFILE || fd == -ENFILE) && sh->spare_fd >= 0) {
            /* Out of fds: the listener would stay readable and the loop spin on it. The
             * spare fd makes room to take the connection and say why it is refused. */
            if (sh->over_limit++ == 0)
                nc__log(NETCORE_LOG_WARN, "accept on %s: %s: a process refused (EAGAIN)",
                        sh->rv.path, strerror(-fd));
            nc__sys_close(sh->spare_fd);
            fd = (int)nc__raw_syscall(SYS_accept4, sh->rv.listen_fd, NULL, NULL,
                                      SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd >= 0)
                refuse(fd, -EAGAIN);
            sh->spare_fd = nc__fd_high((int)nc__raw_syscall(SYS_openat, AT_FDCWD,
                                                            "/dev/null", O_RDONLY | O_CLOEXEC));
            continue;
        }
        if (fd < 0) {
            if (fd != -EAGAIN)
                nc__log(NETCORE_LOG_WARN, "accept on %s: %s", sh->rv.path, strerror(-fd));
            return;
        }
        struct ucred cr;
        socklen_t len = sizeof(cr);
        if (nc__raw_syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0) {
            nc__sys_close(fd);
            continue;
        }
        if (cr.uid != sh->owner && cr.uid != 0 && cr.uid != geteuid()) {
            sh->refused++;
            nc__log(NETCORE_LOG_WARN, "refused a process of uid %u (pid %d): not the stack's uid",
                    (unsigned)cr.uid, (int)cr.pid);
            refuse(fd, -EACCES);
            continue;
        }
        int rc = nc__share_conn_add(st, fd, cr.pid, cr.uid);
        if (rc != 0)
            refuse(fd, rc);
    }
}

static int conns_cap(const struct nc_share *sh)
{
    return sh->max_conns > SHARE_CONNS ? sh->max_conns : SHARE_CONNS;
}

/* On failure fd stays the caller's (accept refuses it; CHANNEL closes it). */
int nc__share_conn_add(struct netcore_stack *st, int fd, pid_t pid, uid_t uid)
{
    struct nc_share *sh = st->share;
    struct nc_share_conn *c = NULL;
    if (atomic_load(&sh->nconns) < conns_cap(sh))
        c = calloc(1, sizeof(*c));
    if (c == NULL) {
        if (sh->over_limit++ == 0)
            nc__log(NETCORE_LOG_WARN, "more than %d processes or threads attached: pid %d "
                    "refused (EAGAIN)", conns_cap(sh), (int)pid);
        return -EAGAIN;
    }
    c->fd = fd;
    c->pid = pid;
    c->uid = uid;
    c->wait_fd = -1;
    c->wait_id = -1;
    if (ep_ctl(sh->epfd, EPOLL_CTL_ADD, fd, c, EPOLLIN | EPOLLRDHUP) != 0) {
        free(c);
        return -ENOMEM;
    }
    nc__lock(st);
    c->next = sh->conns;
    sh->conns = c;
    atomic_fetch_add(&sh->nconns, 1);
    nc__unlock(st);
    nc__log(NETCORE_LOG_DEBUG, "control connection from pid %d (uid %u)", (int)pid,
            (unsigned)uid);
    return 0;
}

/* Answers the CONNECTs whose outcome nc__share_sock_changed saw arrive. */
static void answer_waits(struct netcore_stack *st, struct nc_share *sh)
{
    nc__efd_drain(sh->wake_efd);
    for (;;) {
        struct nc_share_conn *due = NULL;
        nc__lock(st);
        for (struct nc_share_conn *c = sh->conns; c != NULL && due == NULL; c = c->next)
            if (c->wait_ready)
                due = c;
        nc__unlock(st);
        if (due == NULL)
            return;
        nc__share_connect_done(st, due);
    }
}

void nc__share_events(struct netcore_stack *st)
{
    struct nc_share *sh = st->share;
    if (sh == NULL || sh->gone || sh->epfd < 0)
        return;
    /* One handler at a time (the netstack thread, or netcore_step's caller). */
    if (!nc__mutex_trylock(&sh->mu))
        return;
    struct epoll_event evs[SHARE_BATCH];
    int n = (int)nc__raw_syscall(SYS_epoll_pwait, sh->epfd, evs, SHARE_BATCH, 0, NULL, 8);
    bool wake = false;
    for (int i = 0; i < n; i++) {
        void *p = evs[i].data.ptr;
        if (p == &sh->rv)
            on_accept(st, sh);
        else if (p == &sh->wake_efd)
            wake = true;
        else
            nc__share_request(st, p, evs[i].events);
    }
    /* Last: an answer that fails frees its connection, which may have an event in evs. */
    if (wake)
        answer_waits(st, sh);
    nc__mutex_unlock(&sh->mu);
}

int nc__share_epfd(struct netcore_stack *st)
{
    return st->share != NULL && !st->share->gone ? st->share->epfd : -1;
}

static void on_share_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    nc__share_events(arg);
}

int nc__share_setup(struct netcore_stack *st)
{
    struct nc_share *sh = calloc(1, sizeof(*sh));
    if (sh == NULL)
        return -ENOMEM;
    sh->rv.lock_fd = sh->rv.listen_fd = -1;
    pthread_mutex_init(&sh->mu, NULL);
    sh->wake_efd = nc__sys_eventfd();
    sh->spare_fd = nc__fd_high(
        (int)nc__raw_syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC));
    int rc = nc__epwatch_open(st->base, on_share_event, st, &sh->epfd, &sh->ev);
    if (rc == 0 && sh->wake_efd < 0)
        rc = sh->wake_efd;
    if (rc == 0)
        rc = ep_ctl(sh->epfd, EPOLL_CTL_ADD, sh->wake_efd, &sh->wake_efd, EPOLLIN);
    st->share = sh;
    if (rc != 0)
        nc__share_teardown(st);
    return rc;
}

int netcore_share_serve(struct netcore_stack *st, struct netcore_rendezvous *rv)
{
    struct nc_share *sh = st->share;
    if (rv == NULL || rv->listen_fd < 0 || rv->lock_fd < 0)
        return -EINVAL;
    if (sh == NULL || sh->gone)
        return -EINVAL; /* a stack of its own (cfg.share 0) serves nobody */
    if (sh->rv.listen_fd >= 0)
        return -EBUSY;
    /* Clients of the uid that claimed: the run directory's owner. */
    char dir[sizeof(rv->path)];
    snprintf(dir, sizeof(dir), "%s", rv->path);
    char *slash = strrchr(dir, '/');
    struct stat sb;
    if (slash != NULL)
        *slash = '\0';
    sh->owner = slash != NULL && lstat(dir, &sb) == 0 ? sb.st_uid : geteuid();
    nc__lock(st);
    sh->rv = *rv;
    nc__unlock(st);
    int rc = ep_ctl(sh->epfd, EPOLL_CTL_ADD, rv->listen_fd, &sh->rv, EPOLLIN);
    if (rc != 0) {
        nc__lock(st);
        sh->rv.lock_fd = sh->rv.listen_fd = -1;
        nc__unlock(st);
        return rc;
    }
    /* Ours now: a release by the caller must not close what we serve. */
    rv->lock_fd = rv->listen_fd = -1;
    /* The program's own fd limit is left as it is (a select() program counts on it; the
     * keeper, a process of ours, raises its own): a quarter of it, at least 256. */
    struct rlimit rl;
    long quarter = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                       ? (long)(rl.rlim_cur / 4)
                       : 65536;
    sh->max_conns = quarter > 65536 ? 65536 : (int)quarter; /* conns_cap: at least 256 */
    nc__log(NETCORE_LOG_INFO, "serving the stack on %s", sh->rv.path);
    return 0;
}

/*
 * Every relayed socket and control connection costs the driver an fd, for every process:
 * with the usual soft limit of 1024, a thousand relayed sockets would make accept, socket
 * and connect fail with EMFILE for all of them. The keeper raises its soft limit to the hard
 * one (the kernel's own ceiling for this process), as servers handling many clients do; a
 * driver that is the program itself keeps the program's limit. Returns the soft limit now.
 */
long nc__share_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur != rl.rlim_max) {
        struct rlimit up = { rl.rlim_max, rl.rlim_max };
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl.rlim_cur = rl.rlim_max;
    }
    return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)1 << 30 ? 1L << 30
                                                                          : (long)rl.rlim_cur;
}

int netcore_share_users(struct netcore_stack *st)
{
    struct nc_share *sh = st->share;
    return (sh != NULL && !sh->gone ? atomic_load(&sh->nconns) : 0) + nc__relay_count(st);
}

/*
 * Under the stack lock, on whichever thread pumped the relay: no netcore_* call here.
 * Also when the socket stops being relayed (relay.c: its program end closed or shut in the
 * kernel, or the socket freed): s->relay is NULL then, and its waiters are answered
 * -ECONNABORTED (nc__share_connect_done) even while it still says CONNECTING.
 */
void nc__share_sock_changed(struct netcore_stack *st, struct nc_sock *s)
{
    struct nc_share *sh = st->share;
    if (sh == NULL || sh->gone ||
        (s->relay != NULL && atomic_load(&s->state) == NC_ST_CONNECTING))
        return;
    bool any = false;
    for (struct nc_share_conn *c = sh->conns; c != NULL; c = c->next)
        if (c->wait_sock == s && !c->wait_ready) {
            c->wait_ready = true;
            any = true;
        }
    if (any)
        nc__efd_signal(sh->wake_efd);
}

/* Every fd of the server, for nc__share_fds and nc__share_fork_child (sys.h). */
static void each_fd(struct nc_share *sh, nc_fd_visit *visit, void *arg)
{
    int *fixed[] = { &sh->epfd, &sh->wake_efd, &sh->spare_fd, &sh->rv.lock_fd,
                     &sh->rv.listen_fd };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        visit(fixed[i], arg);
    for (struct nc_share_conn *c = sh->conns; c != NULL; c = c->next) {
        visit(&c->fd, arg);
        visit(&c->wait_fd, arg);
    }
}

int nc__share_fds(struct netcore_stack *st, int *out, int cap)
{
    struct nc_fd_list l = { out, cap, 0 };
    if (st->share != NULL && !st->share->gone)
        each_fd(st->share, nc__fd_list, &l);
    return l.n;
}

/*
 * Closes every fd of the server, nothing else (a forked child, or a driver handing over):
 * only close(). The memory stays reachable (nothing is freed in a child); the server is
 * marked gone, so nothing here is served or counted any more.
 */
void nc__share_fork_child(struct netcore_stack *st)
{
    struct nc_share *sh = st->share;
    if (sh == NULL)
        return;
    sh->gone = true;
    /* The lock's flock belongs to the open file, which the parent still holds: closing our
     * copy keeps it; the socket's name is the parent's. */
    each_fd(sh, nc__fd_clear, NULL);
    for (struct nc_share_conn *c = sh->conns; c != NULL; c = c->next)
        c->wait_sock = NULL; /* the parent's hold, not ours to put */
}

/* netcore_stop, with the netstack thread gone: before the event base is freed. */
void nc__share_teardown(struct netcore_stack *st)
{
    struct nc_share *sh = st->share;
    if (sh == NULL)
        return;
    while (sh->conns != NULL)
        nc__share_conn_close(st, sh->conns);
    nc__epwatch_close(&sh->epfd, &sh->ev);
    nc__sys_clear_fd(&sh->wake_efd);
    nc__sys_clear_fd(&sh->spare_fd);
    netcore_share_release(&sh->rv);
    pthread_mutex_destroy(&sh->mu);
    free(sh);
    st->share = NULL;
}
