/*
 * shareop: one control request of a client (share.h), done by the driver.
 *
 * Everything in a request is the client's say: the message is taken whole or refused
 * (size, magic, op, length, padding, the fds and control messages that came with it), every
 * a[] must fit an int, addresses and option values are copied into buffers of our own with
 * their lengths checked, and a socket is named only by the fd passed with the request,
 * looked up among the relayed sockets by its inode (relay.c): a number a client made up
 * names nothing. A bad request gets its error as the reply and the connection goes on; a
 * client that does not read its replies is dropped. The passed fds are closed through
 * closer.c (anything but an AF_UNIX socket is closed off this thread), and the socket a
 * request names is held (nc__sock_hold) for as long as the request uses it.
 *
 * The work is done by the public netcore_* calls, which take the stack lock themselves, so
 * the handler runs without it. It runs on the netstack thread, which must never wait: every
 * relayed socket is non-blocking in the core (netcore_export), so accept says EAGAIN and
 * connect EINPROGRESS. A CONNECT that asks for the outcome leaves its reply pending: the
 * connection is not read meanwhile (epoll: only its hang-up), and relay.c's
 * nc__share_sock_changed says when the state has left CONNECTING.
 */
#include "sharesrv.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sockios.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "closer.h"
#include "netcore.h"
#include "relay.h"
#include "share.h"
#include "shimapi.h"
#include "sock.h"
#include "stack.h"
#include "sys.h"

#define REQ_FDS 8 /* room to receive (and then close) more fds than a request may carry */

static bool as_int(int64_t v, int *out)
{
    if (v < INT_MIN || v > INT_MAX)
        return false;
    *out = (int)v;
    return true;
}

/* b[] of SOCKET, ACCEPT and IDENTIFY replies. */
static void info(struct netcore_stack *st, int id, struct nc_share_rep *rep)
{
    struct nc_sock *s = nc__sock_hold(st, id);
    if (s == NULL)
        return;
    rep->b[NC_SHARE_INFO_FAMILY] = s->family;
    rep->b[NC_SHARE_INFO_TYPE] =
        s->type | (atomic_load(&s->state) == NC_ST_LISTEN ? NC_SHARE_LISTENING : 0);
    nc__sock_put(st, id);
}

/*
 * The relayed socket whose program end fd is, or -EBADF (a pipe, someone else's socket),
 * held (nc__sock_hold) on success. Only an AF_UNIX socket is looked at further (fstat in
 * nc__relay_find): SO_DOMAIN touches no filesystem, where fstat of a file on a hung mount
 * would stop the netstack thread. The hold is taken after the lookup, so the lookup is
 * made again: the slot cannot be emptied and reused while held, and the second lookup proves
 * it is still fd's socket (it may have closed, and another taken its slot, in between).
 */
static int sock_of(struct netcore_stack *st, int fd)
{
    if (!nc__fd_is_unix(fd))
        return -EBADF;
    int id = nc__relay_find(st, fd);
    if (id < 0)
        return -EBADF;
    struct nc_sock *s = nc__sock_hold(st, id);
    if (s == NULL)
        return -EBADF;
    if (s->relay == NULL || nc__relay_find(st, fd) != id) {
        nc__sock_put(st, id);
        return -EBADF;
    }
    return id;
}

static int addr_in(const struct nc_share_req *q, struct sockaddr_storage *ss)
{
    if (q->len > sizeof(*ss))
        return -EINVAL; /* what the kernel says of an address longer than it can hold */
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, q->data, q->len);
    return 0;
}

static void addr_out(struct nc_share_rep *rep, const struct sockaddr_storage *ss,
                     socklen_t len)
{
    if (len > sizeof(*ss))
        len = sizeof(*ss);
    memcpy(rep->data, ss, len);
    rep->len = len;
}

/* Hands socket id to the client: its program end becomes the reply's fd (closed on failure). */
static int export_to(struct netcore_stack *st, int id, struct nc_share_rep *rep, int *out_fd)
{
    info(st, id, rep);
    int fd = netcore_export(st, id);
    if (fd < 0) {
        netcore_close(st, id);
        return fd;
    }
    *out_fd = fd;
    return 0;
}

/*
 * What a blocking connect() returns once the connect is no longer under way, asked as
 * api.c's connect_held asks after its wait; 0 when there was none to report. Caller holds
 * the lock.
 */
static int outcome(struct netcore_stack *st, struct nc_sock *s)
{
    if (s->type != SOCK_STREAM)
        return 0;
    int rc = nc__tcp_connect(st, s, NULL, 0);
    return rc == -EISCONN ? 0 : rc;
}

/* CONNECT; *waiting when the reply waits for the outcome (fd kept in c meanwhile). */
static int op_connect(struct netcore_stack *st, struct nc_share_conn *c,
                      const struct nc_share_req *q, int id, int fd, bool *waiting)
{
    if (q->a[0] != 0 && q->a[0] != 1 && q->a[0] != 2)
        return -EINVAL;
    if (q->a[0] == 2) {
        /* The status now, for an O_NONBLOCK fd: a client must not wait for the outcome
         * where the kernel would answer at once (SO_ERROR 0, getpeername ENOTCONN). */
        struct nc_sock *s = nc__sock_hold(st, id);
        if (s == NULL)
            return -EBADF;
        nc__lock(st);
        int rc = atomic_load(&s->state) == NC_ST_CONNECTING ? -EALREADY : outcome(st, s);
        nc__run_pending_and_unlock(st);
        nc__sock_put(st, id);
        return rc;
    }
    bool wait = q->a[0] == 1;
    if (q->len > 0 || !wait) {
        struct sockaddr_storage ss;
        int rc = addr_in(q, &ss);
        if (rc != 0)
            return rc;
        rc = netcore_connect(st, id, (struct sockaddr *)&ss, q->len);
        /* EALREADY too: a blocking connect on a socket already connecting waits with it. */
        if (!wait || (rc != -EINPROGRESS && rc != -EALREADY))
            return rc;
    }
    struct nc_sock *s = nc__sock_hold(st, id);
    if (s == NULL)
        return -EBADF;
    int rc = 0;
    nc__lock(st);
    if (atomic_load(&s->state) == NC_ST_CONNECTING) {
        /* The hold keeps s until the answer (connect_done) or the connection goes
         * (wait_forget): the program end alone does not, a holder may shut it in the kernel
         * and the relay then closes the socket. */
        c->wait_sock = s;
        c->wait_id = id;
        c->wait_fd = nc__fd_high(fd); /* kept a while: above the program's numbers */
        c->wait_seq = q->seq;
        c->wait_ready = false;
        *waiting = true;
    } else {
        rc = outcome(st, s); /* over already, or none under way */
    }
    nc__run_pending_and_unlock(st);
    if (!*waiting)
        nc__sock_put(st, id);
    return rc;
}

/* CHANNEL: a new control connection of c's process, registered here, its other end
 * returned. Our end is non-blocking like an accepted one; the client's blocks. */
static int op_channel(struct netcore_stack *st, struct nc_share_conn *c, int *out_fd)
{
    int sv[2];
    if (nc__raw_syscall(SYS_socketpair, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return -errno;
    sv[0] = nc__fd_high(sv[0]);
    int rc = 0;
    if (nc__raw_syscall(SYS_fcntl, sv[0], F_SETFL, O_NONBLOCK | O_RDWR) != 0)
        rc = -errno;
    if (rc == 0)
        rc = nc__share_conn_add(st, sv[0], c->pid, c->uid); /* the asker's credentials */
    if (rc != 0) {
        nc__sys_close(sv[0]);
        nc__sys_close(sv[1]);
        return rc;
    }
    *out_fd = sv[1];
    return 0;
}

/* Fields and fds of a request as received; 0 or the error to reply. */
static int check(const struct nc_share_req *q, long n, int flags, int nfds, bool foreign)
{
    if (n != (long)sizeof(*q) || (flags & (MSG_TRUNC | MSG_CTRUNC)) || foreign)
        return -EINVAL;
    if (q->magic != NC_SHARE_MAGIC || q->pad != 0 || q->len > NC_SHARE_DATA)
        return -EINVAL;
    if (q->op < NC_OP_SOCKET || q->op >= NC_OP_MAX || nfds > 1)
        return -EINVAL;
    if (q->op == NC_OP_SOCKET || q->op == NC_OP_CHANNEL)
        return nfds == 0 ? 0 : -EINVAL;
    return nfds == 1 ? 0 : -EBADF;
}

/* One op on socket id (held by dispatch; -1 for SOCKET and CHANNEL). */
static int do_op(struct netcore_stack *st, struct nc_share_conn *c,
                 const struct nc_share_req *q, int id, int fd, struct nc_share_rep *rep,
                 int *out_fd, bool *waiting)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    uint64_t val[NC_SHARE_DATA / sizeof(uint64_t)]; /* an option value, aligned */
    int a0, a1, a2, rc;
    switch (q->op) {
    case NC_OP_CHANNEL:
        return op_channel(st, c, out_fd);
    case NC_OP_SOCKET:
        if (!as_int(q->a[0], &a0) || !as_int(q->a[1], &a1) || !as_int(q->a[2], &a2))
            return -EINVAL;
        id = netcore_socket(st, a0, (a1 & ~SOCK_CLOEXEC) | SOCK_NONBLOCK, a2);
        return id < 0 ? id : export_to(st, id, rep, out_fd);
    case NC_OP_IDENTIFY:
        info(st, id, rep);
        return 0;
    case NC_OP_BIND:
        rc = addr_in(q, &ss);
        return rc != 0 ? rc : netcore_bind(st, id, (struct sockaddr *)&ss, q->len);
    case NC_OP_LISTEN:
        return as_int(q->a[0], &a0) ? netcore_listen(st, id, a0) : -EINVAL;
    case NC_OP_ACCEPT: {
        int nid = netcore_accept(st, id, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK);
        if (nid < 0)
            return nid;
        rc = export_to(st, nid, rep, out_fd);
        if (rc == 0)
            addr_out(rep, &ss, len);
        return rc;
    }
    case NC_OP_CONNECT:
        return op_connect(st, c, q, id, fd, waiting);
    case NC_OP_SHUTDOWN:
        if (!as_int(q->a[0], &a0) || (a0 != SHUT_RD && a0 != SHUT_WR && a0 != SHUT_RDWR))
            return -EINVAL;
        return nc__relay_shutdown(st, id, a0);
    case NC_OP_GETSOCKNAME:
    case NC_OP_GETPEERNAME:
        if (q->op == NC_OP_GETSOCKNAME)
            rc = netcore_getsockname(st, id, (struct sockaddr *)&ss, &len);
        else
            rc = netcore_getpeername(st, id, (struct sockaddr *)&ss, &len);
        if (rc == 0)
            addr_out(rep, &ss, len);
        return rc;
    case NC_OP_SETSOCKOPT:
        if (!as_int(q->a[0], &a0) || !as_int(q->a[1], &a1))
            return -EINVAL;
        memcpy(val, q->data, q->len);
        return netcore_setsockopt(st, id, a0, a1, val, q->len);
    case NC_OP_GETSOCKOPT: {
        if (!as_int(q->a[0], &a0) || !as_int(q->a[1], &a1) || !as_int(q->a[2], &a2) || a2 < 0)
            return -EINVAL;
        socklen_t cap = a2 > NC_SHARE_DATA ? NC_SHARE_DATA : (socklen_t)a2, vlen = cap;
        memset(val, 0, sizeof(val));
        rc = netcore_getsockopt(st, id, a0, a1, val, &vlen);
        if (rc == 0) {
            rep->len = vlen < cap ? vlen : cap;
            memcpy(rep->data, val, rep->len);
        }
        return rc;
    }
    case NC_OP_STATUS:
        return nc__relay_status(st, id);
    case NC_OP_IOCTL:
        if (q->a[0] != SIOCOUTQ && q->a[0] != SIOCOUTQNSD)
            return -EINVAL;
        return netcore_queued_bytes(st, id, q->a[0] == SIOCOUTQNSD);
    default:
        return -EINVAL;
    }
}

/* Holds the socket fd names across the op: a close meanwhile cannot free it under us. */
static int dispatch(struct netcore_stack *st, struct nc_share_conn *c,
                    const struct nc_share_req *q, int fd, struct nc_share_rep *rep,
                    int *out_fd, bool *waiting)
{
    if (q->op == NC_OP_SOCKET || q->op == NC_OP_CHANNEL)
        return do_op(st, c, q, -1, fd, rep, out_fd, waiting);
    int id = sock_of(st, fd);
    if (id < 0)
        return id;
    int rc = do_op(st, c, q, id, fd, rep, out_fd, waiting);
    nc__sock_put(st, id);
    return rc;
}

/* Sends rep (and pass_fd); a client that does not take it is dropped. */
static void answer(struct netcore_stack *st, struct nc_share_conn *c,
                   const struct nc_share_rep *rep, int pass_fd)
{
    int rc = nc__share_reply(c->fd, rep, pass_fd);
    if (rc == 0)
        return;
    st->share->dropped++;
    nc__log(NETCORE_LOG_DEBUG, "control connection of pid %d dropped: reply: %s", (int)c->pid,
            strerror(-rc));
    nc__share_conn_close(st, c);
}

void nc__share_request(struct netcore_stack *st, struct nc_share_conn *c, uint32_t ev)
{
    if (c->wait_sock != NULL) {
        /* Not read while a reply waits: only its hang-up is reported. */
        if (ev & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))
            nc__share_conn_close(st, c);
        return;
    }
    struct nc_share_req q;
    union {
        char buf[CMSG_SPACE(sizeof(int) * REQ_FDS)];
        struct cmsghdr align;
    } cm;
    struct iovec iov = { &q, sizeof(q) };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
                         .msg_controllen = sizeof(cm.buf) };
    memset(&q, 0, sizeof(q));
    long n = nc__raw_syscall(SYS_recvmsg, c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            nc__share_conn_close(st, c);
        return;
    }
    int fds[REQ_FDS], nfds = 0;
    bool foreign = false;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h != NULL; h = CMSG_NXTHDR(&mh, h)) {
        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) {
            foreign = true; /* nothing else is asked for (no SO_PASSCRED) */
            continue;
        }
        size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(fd));
            if (nfds < REQ_FDS)
                fds[nfds++] = fd;
            else
                nc__close_passed(fd);
        }
    }
    if (n == 0 && nfds == 0 && !foreign) {
        nc__share_conn_close(st, c); /* the client is gone */
        return;
    }
    struct nc_share_rep rep;
    memset(&rep, 0, sizeof(rep));
    rep.magic = NC_SHARE_MAGIC;
    rep.seq = n >= (long)(2 * sizeof(uint32_t)) ? q.seq : 0;
    int out_fd = -1;
    bool waiting = false;
    int rc = check(&q, n, mh.msg_flags, nfds, foreign);
    if (rc == -EINVAL)
        st->share->bad++; /* malformed (an fd missing is how a client probes, IDENTIFY) */
    if (rc == 0)
        rc = dispatch(st, c, &q, nfds > 0 ? fds[0] : -1, &rep, &out_fd, &waiting);
    for (int i = waiting ? 1 : 0; i < nfds; i++)
        nc__close_passed(fds[i]); /* the client's choice: maybe not one to close here */
    if (waiting) {
        nc__share_watch(st, c, false);
        return;
    }
    rep.rc = rc;
    answer(st, c, &rep, out_fd);
    if (out_fd >= 0)
        nc__sys_close(out_fd); /* the client has its copy, or never will: either way */
}

void nc__share_connect_done(struct netcore_stack *st, struct nc_share_conn *c)
{
    nc__lock(st);
    struct nc_sock *s = c->wait_sock;
    int id = c->wait_id;
    /* Held: s is memory of ours still, but is it the relayed socket of the wait? */
    bool gone = s != NULL && (s->relay == NULL || st->socks[id] != s);
    if (s == NULL || !c->wait_ready ||
        (!gone && atomic_load(&s->state) == NC_ST_CONNECTING)) {
        c->wait_ready = false; /* connecting again: wait on */
        nc__run_pending_and_unlock(st);
        return;
    }
    /* Forgotten before outcome() runs: a notify it causes finds no waiter to mark. */
    c->wait_sock = NULL;
    c->wait_ready = false;
    struct nc_share_rep rep;
    memset(&rep, 0, sizeof(rep));
    rep.magic = NC_SHARE_MAGIC;
    rep.seq = c->wait_seq;
    rep.rc = gone ? -ECONNABORTED : outcome(st, s);
    int fd = c->wait_fd;
    c->wait_fd = -1;
    nc__run_pending_and_unlock(st);
    nc__sock_put(st, id);
    nc__sys_close(fd);
    nc__share_watch(st, c, true);
    answer(st, c, &rep, -1);
}
