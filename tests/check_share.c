/*
 * check_share: the driver's side of a shared stack (core/share.c, shareop.c, keep.c): the
 * rendezvous (claim, release, connect, the run directory's checks), the control server's
 * replies to good and bad requests, the refusal of another uid, and the keeper.
 *
 * No root needed, no TAP: the stacks run on the wire device (a socketpair nobody reads the
 * other end of) and the run directory is under a mkdtemp directory of each test. The cases
 * that need root (a directory of another owner, a client of another uid) say so and pass
 * without it.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sockios.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "closer.h" /* nc__share_sock_changed, nc__relay_find: what relay.c calls */
#include "handpeer.h"
#include "netcore.h"
#include "relay.h"
#include "share.h"
#include "sharesrv.h"
#include "shimapi.h"
#include "stack.h"

static char top[64], run[96];
static struct netcore_config cfg;
static char err[512];

static void setup(void)
{
    snprintf(top, sizeof(top), "/tmp/ncshare.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(top));
    snprintf(run, sizeof(run), "%s/run", top);
    netcore_config_defaults(&cfg);
    snprintf(cfg.run_dir, sizeof(cfg.run_dir), "%s", run);
    err[0] = '\0';
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
    if (system(cmd) != 0)
        fprintf(stderr, "check_share: could not remove %s\n", top);
}

/* The rendezvous socket's path as claim makes it. */
static void sock_path(char *out, size_t cap)
{
    struct stat ns;
    unsigned long long ino = stat("/proc/self/ns/net", &ns) == 0 ? ns.st_ino : 0;
    ck_assert_int_lt(snprintf(out, cap, "%s/stack-%s-%llu.sock", run, cfg.ifname, ino),
                     (int)cap);
}

/* rendezvous */

START_TEST(claim_twice)
{
    struct netcore_rendezvous a, b;
    ck_assert_int_eq(netcore_share_claim(&cfg, &a, err, sizeof(err)), 1);
    ck_assert_int_ge(a.lock_fd, 0);
    ck_assert_int_ge(a.listen_fd, 0);
    char path[108];
    sock_path(path, sizeof(path));
    ck_assert_str_eq(a.path, path);
    struct stat sb;
    ck_assert_int_eq(lstat(run, &sb), 0);
    ck_assert(S_ISDIR(sb.st_mode));
    ck_assert_int_eq(sb.st_mode & 0777, 0700);
    ck_assert_int_eq(lstat(path, &sb), 0);
    ck_assert(S_ISSOCK(sb.st_mode));
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    /* A second claim, even from this process (another open of the lock), finds a driver. */
    ck_assert_int_eq(netcore_share_claim(&cfg, &b, err, sizeof(err)), 0);
    ck_assert_int_eq(b.lock_fd, -1);
    ck_assert_int_eq(b.listen_fd, -1);
    int fd = netcore_share_connect(&cfg, err, sizeof(err));
    ck_assert_msg(fd >= 0, "connect: %s", err);
    close(fd);
    netcore_share_release(&a);
    ck_assert_int_eq(a.lock_fd, -1);
    ck_assert_int_ne(access(path, F_OK), 0); /* the name went with the lock */
    fd = netcore_share_connect(&cfg, err, sizeof(err));
    ck_assert_int_eq(fd, -ENOENT);
    ck_assert_msg(strstr(err, "no process drives the stack") != NULL, "message: %s", err);
    ck_assert_int_eq(netcore_share_claim(&cfg, &a, err, sizeof(err)), 1);
    netcore_share_release(&a);
}
END_TEST

/* A child claims and tells the parent (1 byte: the claim's result), then waits for a byte
 * or its death; kill it or let it _exit without releasing. */
static pid_t driver_child(int *to_child)
{
    int up[2], down[2];
    ck_assert_int_eq(pipe(up), 0);
    ck_assert_int_eq(pipe(down), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(up[0]);
        close(down[1]);
        struct netcore_rendezvous rv;
        char r = (char)netcore_share_claim(&cfg, &rv, NULL, 0);
        if (write(up[1], &r, 1) != 1)
            _exit(3);
        char c;
        if (read(down[0], &c, 1) < 0)
            _exit(4);
        _exit(0); /* no release: a driver that died */
    }
    close(up[1]);
    close(down[0]);
    char r = 0;
    ck_assert_int_eq(read(up[0], &r, 1), 1);
    ck_assert_int_eq(r, 1);
    close(up[0]);
    *to_child = down[1];
    return pid;
}

START_TEST(claim_after_driver_died)
{
    char path[108];
    sock_path(path, sizeof(path));
    int ctl;
    pid_t pid = driver_child(&ctl);
    struct netcore_rendezvous rv;
    ck_assert_int_eq(netcore_share_claim(&cfg, &rv, err, sizeof(err)), 0);
    int fd = netcore_share_connect(&cfg, err, sizeof(err));
    ck_assert_msg(fd >= 0, "connect to the child's: %s", err);
    close(fd);
    /* Killed outright: the kernel lets go of its flock. */
    kill(pid, SIGKILL);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    close(ctl);
    ck_assert_int_eq(access(path, F_OK), 0); /* its name is left behind... */
    fd = netcore_share_connect(&cfg, err, sizeof(err));
    ck_assert_int_eq(fd, -ECONNREFUSED); /* ...and nobody listens there */
    ck_assert_int_eq(netcore_share_claim(&cfg, &rv, err, sizeof(err)), 1);
    struct stat before;
    ck_assert_int_eq(stat(path, &before), 0);
    fd = netcore_share_connect(&cfg, err, sizeof(err));
    ck_assert_msg(fd >= 0, "connect to the new driver: %s", err);
    close(fd);
    netcore_share_release(&rv);
    /* A child that exits without releasing is just as dead. */
    pid = driver_child(&ctl);
    close(ctl);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(netcore_share_claim(&cfg, &rv, err, sizeof(err)), 1);
    netcore_share_release(&rv);
}
END_TEST

/* Many processes claim at once: exactly one drives. */
START_TEST(claim_race)
{
    enum { N = 12 };
    int go[2], res[2], done[2];
    ck_assert_int_eq(pipe(go), 0);
    ck_assert_int_eq(pipe(res), 0);
    ck_assert_int_eq(pipe(done), 0);
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            close(go[1]);
            close(done[1]);
            char c;
            if (read(go[0], &c, 1) != 0) /* EOF: everyone starts together */
                _exit(3);
            struct netcore_rendezvous rv;
            char r = (char)netcore_share_claim(&cfg, &rv, NULL, 0);
            if (write(res[1], &r, 1) != 1)
                _exit(3);
            if (read(done[0], &c, 1) != 0) /* hold what was won until all have tried */
                _exit(3);
            _exit(0);
        }
    }
    close(go[0]);
    close(done[0]);
    close(res[1]);
    close(go[1]);
    int drivers = 0, clients = 0;
    for (int i = 0; i < N; i++) {
        char r;
        ck_assert_int_eq(read(res[0], &r, 1), 1);
        if (r == 1)
            drivers++;
        else if (r == 0)
            clients++;
    }
    close(done[1]);
    for (int i = 0; i < N; i++)
        waitpid(pids[i], NULL, 0);
    ck_assert_int_eq(drivers, 1);
    ck_assert_int_eq(clients, N - 1);
}
END_TEST

START_TEST(rundir_mode)
{
    ck_assert_int_eq(mkdir(run, 0700), 0);
    ck_assert_int_eq(chmod(run, 0755), 0);
    struct netcore_rendezvous rv;
    ck_assert_int_eq(netcore_share_claim(&cfg, &rv, err, sizeof(err)), -EACCES);
    ck_assert_msg(strstr(err, "NETCORE_RUNDIR") == err && strstr(err, "mode 0755") &&
                      strstr(err, "chmod 700"), "message: %s", err);
    ck_assert_int_eq(rv.lock_fd, -1);
    ck_assert_int_eq(netcore_share_connect(&cfg, err, sizeof(err)), -EACCES);
    ck_assert_int_eq(chmod(run, 0700), 0);
    ck_assert_int_eq(netcore_share_claim(&cfg, &rv, err, sizeof(err)), 1);
    netcore_share_release(&rv);
}
END_TEST

/* The claim fails with -e and a message that starts with start and says says. */
static void claim_fails(int e, const char *start, const char *says)
{
    struct netcore_rendezvous rv;
    ck_assert_int_eq(netcore_share_claim(&cfg, &rv, err, sizeof(err)), -e);
    ck_assert_msg(!strncmp(err, start, strlen(start)) && strstr(err, says) != NULL,
                  "message: %s", err);
}

START_TEST(rundir_symlink)
{
    char real[128];
    snprintf(real, sizeof(real), "%s/real", top);
    ck_assert_int_eq(mkdir(real, 0700), 0);
    ck_assert_int_eq(symlink(real, run), 0);
    claim_fails(EACCES, "NETCORE_RUNDIR", "symbolic link");
}
END_TEST

START_TEST(rundir_other_owner)
{
    if (geteuid() != 0) {
        fprintf(stderr, "check_share: rundir_other_owner needs root (chown): skipped\n");
        return;
    }
    ck_assert_int_eq(mkdir(run, 0700), 0);
    ck_assert_int_eq(chown(run, 65534, 65534), 0);
    claim_fails(EACCES, "NETCORE_RUNDIR", "belongs to uid 65534");
}
END_TEST

START_TEST(rundir_missing_parent)
{
    snprintf(cfg.run_dir, sizeof(cfg.run_dir), "%s/no/such", top);
    claim_fails(ENOENT, "NETCORE_RUNDIR: mkdir", "");
}
END_TEST

START_TEST(rundir_too_long)
{
    /* Fits NETCORE_RUNDIR, not the socket's sun_path once the name is added. */
    char dir[96];
    int n = snprintf(dir, sizeof(dir), "%s/", top);
    memset(dir + n, 'd', sizeof(dir) - 1 - (size_t)n);
    dir[sizeof(dir) - 1] = '\0';
    snprintf(cfg.run_dir, sizeof(cfg.run_dir), "%s", dir);
    claim_fails(ENAMETOOLONG, "", "too long");
}
END_TEST

/* the control server */

static struct netcore_stack *st;
static int wire[2];
static int ctl; /* a control connection */
static uint32_t next_seq = 1;

/* A threaded stack on the wire device that serves the rendezvous. */
static struct netcore_stack *start_served_on(int fd);

static struct netcore_stack *start_served(void)
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, wire), 0);
    return start_served_on(wire[0]);
}

/* The stack at 198.18.0.2 on wire end fd, serving the rendezvous. */
static struct netcore_stack *start_served_on(int fd)
{
    struct netcore_rendezvous rv;
    ck_assert_int_eq(netcore_share_claim(&cfg, &rv, err, sizeof(err)), 1);
    struct netcore_config c = cfg;
    c.device = NETCORE_DEV_WIRE;
    c.wire_fd = fd;
    struct netcore_stack *s = NULL;
    int rc = netcore_start(&c, 0, &s, err, sizeof(err));
    ck_assert_msg(rc == 0, "netcore_start: %s", err);
    ck_assert_int_eq(netcore_share_serve(s, &rv), 0);
    ck_assert_int_eq(rv.listen_fd, -1); /* the stack's now */
    return s;
}

static void serve_setup(void)
{
    setup();
    st = start_served();
    ctl = netcore_share_connect(&cfg, err, sizeof(err));
    ck_assert_msg(ctl >= 0, "connect: %s", err);
}

static void serve_teardown(void)
{
    if (ctl >= 0)
        close(ctl);
    netcore_stop(st);
    close(wire[1]);
    teardown();
}

static void req_init(struct nc_share_req *q, int op)
{
    memset(q, 0, sizeof(*q));
    q->magic = NC_SHARE_MAGIC;
    q->seq = next_seq++;
    q->op = (uint16_t)op;
}

/* Sends len bytes of buf with nfds fds. */
static void send_raw(int c, const void *buf, size_t len, const int *fds, int nfds)
{
    union {
        char b[CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } cm;
    struct iovec iov = { (void *)buf, len };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (nfds > 0) {
        memset(&cm, 0, sizeof(cm));
        mh.msg_control = cm.b;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(h), fds, sizeof(int) * (size_t)nfds);
    }
    ck_assert_int_eq(sendmsg(c, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

/* Receives one reply (5 s at most); *fd gets the fd it carried, or -1. */
static void recv_rep(int c, struct nc_share_rep *rep, int *fd)
{
    struct pollfd p = { .fd = c, .events = POLLIN };
    ck_assert_msg(poll(&p, 1, 5000) == 1, "no reply within 5 s");
    union {
        char b[CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } cm;
    struct iovec iov = { rep, sizeof(*rep) };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b,
                         .msg_controllen = sizeof(cm.b) };
    memset(rep, 0, sizeof(*rep));
    ssize_t n = recvmsg(c, &mh, MSG_CMSG_CLOEXEC);
    ck_assert_msg(n == (ssize_t)sizeof(*rep), "reply of %zd bytes (%s), want %zu", n,
                  n < 0 ? strerror(errno) : "short", sizeof(*rep));
    ck_assert_uint_eq(rep->magic, NC_SHARE_MAGIC);
    int got = -1;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h != NULL; h = CMSG_NXTHDR(&mh, h)) {
        ck_assert_int_eq(h->cmsg_type, SCM_RIGHTS);
        ck_assert_uint_eq(h->cmsg_len, CMSG_LEN(sizeof(int)));
        ck_assert_int_eq(got, -1);
        memcpy(&got, CMSG_DATA(h), sizeof(int));
    }
    if (fd != NULL)
        *fd = got;
    else if (got >= 0)
        close(got);
}

/* One request on socket fd (-1: none); returns rc, the reply in *rep, a passed fd in *out. */
static int64_t rpc(struct nc_share_req *q, int fd, struct nc_share_rep *rep, int *out)
{
    send_raw(ctl, q, sizeof(*q), &fd, fd >= 0 ? 1 : 0);
    recv_rep(ctl, rep, out);
    ck_assert_uint_eq(rep->seq, q->seq);
    return rep->rc;
}

/* SOCKET; returns the program end. */
static int new_socket(int domain, int type)
{
    struct nc_share_req q;
    struct nc_share_rep rep;
    int fd = -1;
    req_init(&q, NC_OP_SOCKET);
    q.a[0] = domain;
    q.a[1] = type;
    ck_assert_int_eq(rpc(&q, -1, &rep, &fd), 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(rep.b[NC_SHARE_INFO_FAMILY], domain);
    ck_assert_int_eq(rep.b[NC_SHARE_INFO_TYPE], type);
    ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    return fd;
}

static void req_addr(struct nc_share_req *q, const char *ip, int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, ip, &a.sin_addr);
    memcpy(q->data, &a, sizeof(a));
    q->len = sizeof(a);
}

START_TEST(serve_tcp)
{
    struct nc_share_req q;
    struct nc_share_rep rep;
    int fd = new_socket(AF_INET, SOCK_STREAM);
    int users = netcore_share_users(st);
    ck_assert_int_ge(users, 2); /* this connection and the socket */

    req_init(&q, NC_OP_BIND);
    req_addr(&q, "0.0.0.0", 8080);
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), 0);
    req_init(&q, NC_OP_GETSOCKNAME);
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), 0);
    ck_assert_uint_eq(rep.len, sizeof(struct sockaddr_in));
    struct sockaddr_in a;
    memcpy(&a, rep.data, sizeof(a));
    ck_assert_int_eq(a.sin_family, AF_INET);
    ck_assert_int_eq(ntohs(a.sin_port), 8080);

    req_init(&q, NC_OP_SETSOCKOPT);
    q.a[0] = SOL_SOCKET;
    q.a[1] = SO_REUSEADDR;
    int one = 1;
    memcpy(q.data, &one, sizeof(one));
    q.len = sizeof(one);
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), 0);
    req_init(&q, NC_OP_GETSOCKOPT);
    q.a[0] = SOL_SOCKET;
    q.a[1] = SO_REUSEADDR;
    q.a[2] = 1000; /* capped to NC_SHARE_DATA */
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), 0);
    ck_assert_uint_eq(rep.len, sizeof(int));
    int v;
    memcpy(&v, rep.data, sizeof(v));
    ck_assert_int_eq(v, 1);

    req_init(&q, NC_OP_GETPEERNAME);
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), -ENOTCONN);

    req_init(&q, NC_OP_LISTEN);
    q.a[0] = 16;
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), 0);
    req_init(&q, NC_OP_IDENTIFY);
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), 0);
    ck_assert_int_eq(rep.b[NC_SHARE_INFO_FAMILY], AF_INET);
    ck_assert_int_eq(rep.b[NC_SHARE_INFO_TYPE], SOCK_STREAM | NC_SHARE_LISTENING);
    req_init(&q, NC_OP_ACCEPT); /* nothing queued: never waits */
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), -EAGAIN);
    req_init(&q, NC_OP_IOCTL);
    q.a[0] = SIOCOUTQ;
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), -EINVAL); /* a listener has no send queue */

    /* A second socket on the same port: the kernel's EADDRINUSE, through the driver. */
    int fd2 = new_socket(AF_INET, SOCK_STREAM);
    req_init(&q, NC_OP_BIND);
    req_addr(&q, "198.18.0.2", 8080);
    ck_assert_int_eq(rpc(&q, fd2, &rep, NULL), -EADDRINUSE);
    req_init(&q, NC_OP_IOCTL);
    q.a[0] = SIOCOUTQNSD;
    ck_assert_int_eq(rpc(&q, fd2, &rep, NULL), 0);
    req_init(&q, NC_OP_STATUS);
    ck_assert_int_eq(rpc(&q, fd2, &rep, NULL), 0);
    req_init(&q, NC_OP_SHUTDOWN);
    q.a[0] = SHUT_WR;
    ck_assert_int_eq(rpc(&q, fd2, &rep, NULL), -ENOTCONN);
    close(fd2);
    close(fd);
}
END_TEST

START_TEST(serve_udp)
{
    struct nc_share_req q;
    struct nc_share_rep rep;
    int fd = new_socket(AF_INET6, SOCK_DGRAM);
    struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(5353) };
    req_init(&q, NC_OP_BIND);
    memcpy(q.data, &a, sizeof(a));
    q.len = sizeof(a);
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), 0);
    req_init(&q, NC_OP_GETSOCKNAME);
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), 0);
    ck_assert_uint_eq(rep.len, sizeof(a));
    memcpy(&a, rep.data, sizeof(a));
    ck_assert_int_eq(ntohs(a.sin6_port), 5353);
    /* UDP connect: no wait, even when asked to. */
    req_init(&q, NC_OP_CONNECT);
    req_addr(&q, "198.18.0.1", 53);
    q.a[0] = 1;
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), 0);
    req_init(&q, NC_OP_GETPEERNAME);
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), 0);
    ck_assert_uint_eq(rep.len, sizeof(a));
    req_init(&q, NC_OP_LISTEN);
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), -EOPNOTSUPP);
    req_init(&q, NC_OP_SOCKET);
    q.a[0] = AF_UNIX;
    q.a[1] = SOCK_DGRAM;
    ck_assert_int_eq(rpc(&q, -1, &rep, NULL), -EAFNOSUPPORT);
    req_init(&q, NC_OP_SOCKET);
    q.a[0] = AF_INET;
    q.a[1] = SOCK_RAW;
    ck_assert_int_eq(rpc(&q, -1, &rep, NULL), -ESOCKTNOSUPPORT);
    close(fd);
}
END_TEST

/* A connect that fails: a waiting CONNECT is answered with the outcome. The wire's other
 * end answers nothing, so the connect is to an address that cannot be reached at once. */
START_TEST(serve_connect)
{
    struct nc_share_req q;
    struct nc_share_rep rep;
    int fd = new_socket(AF_INET, SOCK_STREAM);
    /* Not on our link and no route: fails before any packet, with the kernel's errno. */
    req_init(&q, NC_OP_CONNECT);
    req_addr(&q, "255.255.255.255", 80);
    q.a[0] = 1;
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), -ENETUNREACH);
    /* Waiting for a connect that is not under way: 0 at once. */
    req_init(&q, NC_OP_CONNECT);
    q.a[0] = 1;
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), 0);
    /* Without the wait: under way (the SYN goes into the silent wire). */
    req_init(&q, NC_OP_CONNECT);
    req_addr(&q, "198.18.0.1", 80);
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), -EINPROGRESS);
    req_init(&q, NC_OP_CONNECT);
    req_addr(&q, "198.18.0.1", 80);
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), -EALREADY);
    /* The status now (an O_NONBLOCK fd's SO_ERROR): still under way. */
    req_init(&q, NC_OP_CONNECT);
    q.a[0] = 2;
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), -EALREADY);
    req_init(&q, NC_OP_CONNECT);
    q.a[0] = 3;
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), -EINVAL);
    /* A waiting CONNECT holds its reply; the client gives up (closes): nothing breaks, and
     * a new connection is served. */
    req_init(&q, NC_OP_CONNECT);
    q.a[0] = 1;
    send_raw(ctl, &q, sizeof(q), &fd, 1);
    struct pollfd p = { .fd = ctl, .events = POLLIN };
    ck_assert_int_eq(poll(&p, 1, 200), 0);
    close(ctl);
    ctl = netcore_share_connect(&cfg, err, sizeof(err));
    ck_assert_int_ge(ctl, 0);
    req_init(&q, NC_OP_IDENTIFY);
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), 0);
    close(fd);
}
END_TEST

/* After each bad request, the same connection still answers a good one. */
static void still_serves(int fd)
{
    struct nc_share_req q;
    struct nc_share_rep rep;
    req_init(&q, NC_OP_IDENTIFY);
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), 0);
    ck_assert_int_eq(rep.b[NC_SHARE_INFO_TYPE], SOCK_STREAM);
}

/* A bad request: the reply's rc, with the request's seq when one was there. */
static int64_t bad(const void *buf, size_t len, const int *fds, int nfds, uint32_t seq)
{
    struct nc_share_rep rep;
    send_raw(ctl, buf, len, fds, nfds);
    recv_rep(ctl, &rep, NULL);
    ck_assert_uint_eq(rep.seq, seq);
    ck_assert_uint_eq(rep.len, 0);
    return rep.rc;
}

/* The driver closed every copy of a pipe end we passed: its reader sees EOF. */
static void closed_by_driver(int rd)
{
    struct pollfd p = { .fd = rd, .events = POLLIN };
    ck_assert_int_eq(poll(&p, 1, 5000), 1);
    char c;
    ck_assert_int_eq(read(rd, &c, 1), 0);
    close(rd);
}

START_TEST(garbage)
{
    int fd = new_socket(AF_INET, SOCK_STREAM);
    struct nc_share_req q;
    char big[sizeof(q) + 64];

    req_init(&q, NC_OP_IDENTIFY);
    ck_assert_int_eq(bad(&q, 10, &fd, 1, q.seq), -EINVAL); /* short */
    still_serves(fd);
    req_init(&q, NC_OP_IDENTIFY);
    memset(big, 0, sizeof(big));
    memcpy(big, &q, sizeof(q));
    ck_assert_int_eq(bad(big, sizeof(big), &fd, 1, q.seq), -EINVAL); /* long */
    still_serves(fd);
    ck_assert_int_eq(bad(big, 3, NULL, 0, 0), -EINVAL); /* too short for a seq */
    still_serves(fd);
    req_init(&q, NC_OP_IDENTIFY);
    q.magic ^= 1;
    ck_assert_int_eq(bad(&q, sizeof(q), &fd, 1, q.seq), -EINVAL);
    still_serves(fd);
    int ops[] = { 0, NC_OP_MAX, 0xffff };
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        req_init(&q, ops[i]);
        ck_assert_int_eq(bad(&q, sizeof(q), &fd, 1, q.seq), -EINVAL);
        still_serves(fd);
    }
    req_init(&q, NC_OP_BIND);
    q.len = NC_SHARE_DATA + 1;
    ck_assert_int_eq(bad(&q, sizeof(q), &fd, 1, q.seq), -EINVAL);
    still_serves(fd);
    req_init(&q, NC_OP_BIND); /* fits the message, not a sockaddr */
    q.len = NC_SHARE_DATA;
    ck_assert_int_eq(bad(&q, sizeof(q), &fd, 1, q.seq), -EINVAL);
    req_init(&q, NC_OP_IDENTIFY);
    q.pad = 1;
    ck_assert_int_eq(bad(&q, sizeof(q), &fd, 1, q.seq), -EINVAL);
    still_serves(fd);
    req_init(&q, NC_OP_BIND); /* no fd */
    req_addr(&q, "0.0.0.0", 1234);
    ck_assert_int_eq(bad(&q, sizeof(q), NULL, 0, q.seq), -EBADF);
    still_serves(fd);
    req_init(&q, NC_OP_LISTEN);
    q.a[0] = INT64_MAX;
    ck_assert_int_eq(bad(&q, sizeof(q), &fd, 1, q.seq), -EINVAL);
    req_init(&q, NC_OP_SHUTDOWN);
    q.a[0] = 7;
    ck_assert_int_eq(bad(&q, sizeof(q), &fd, 1, q.seq), -EINVAL);
    req_init(&q, NC_OP_GETSOCKOPT);
    q.a[0] = SOL_SOCKET;
    q.a[1] = SO_TYPE;
    q.a[2] = -1;
    ck_assert_int_eq(bad(&q, sizeof(q), &fd, 1, q.seq), -EINVAL);
    req_init(&q, NC_OP_IOCTL);
    q.a[0] = FIONREAD; /* the client answers that one itself */
    ck_assert_int_eq(bad(&q, sizeof(q), &fd, 1, q.seq), -EINVAL);
    still_serves(fd);

    /* Two fds: refused, and both closed by the driver. */
    int p1[2], p2[2];
    ck_assert_int_eq(pipe(p1), 0);
    ck_assert_int_eq(pipe(p2), 0);
    int two[2] = { p1[1], p2[1] };
    req_init(&q, NC_OP_IDENTIFY);
    ck_assert_int_eq(bad(&q, sizeof(q), two, 2, q.seq), -EINVAL);
    close(p1[1]);
    close(p2[1]);
    closed_by_driver(p1[0]);
    closed_by_driver(p2[0]);
    still_serves(fd);
    /* A pipe is not a socket of ours. */
    ck_assert_int_eq(pipe(p1), 0);
    req_init(&q, NC_OP_IDENTIFY);
    ck_assert_int_eq(bad(&q, sizeof(q), &p1[1], 1, q.seq), -EBADF);
    close(p1[1]);
    closed_by_driver(p1[0]);
    /* Nor is a socket it did not make. */
    int sp[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    req_init(&q, NC_OP_GETSOCKNAME);
    ck_assert_int_eq(bad(&q, sizeof(q), &sp[0], 1, q.seq), -EBADF);
    close(sp[0]);
    close(sp[1]);
    /* SOCKET names no socket: an fd with it is wrong. */
    req_init(&q, NC_OP_SOCKET);
    q.a[0] = AF_INET;
    q.a[1] = SOCK_STREAM;
    ck_assert_int_eq(bad(&q, sizeof(q), &fd, 1, q.seq), -EINVAL);
    still_serves(fd);
    close(fd);
    /* netcore stat counts the malformed messages above (not a missing fd, nor calls that
     * failed). */
    static char dump[1 << 16];
    netcore_stat_dump(st, dump, sizeof(dump));
    ck_assert_msg(strstr(dump, "share    1 control connections  refused 0  over limit 0  "
                               "dropped 0  bad requests 11  on ") != NULL, "dump: %s", dump);
}
END_TEST

/* A client that goes away in the middle, and an empty message: the server goes on. */
START_TEST(client_gone)
{
    int fd = new_socket(AF_INET, SOCK_STREAM);
    for (int i = 0; i < 20; i++) {
        int c = netcore_share_connect(&cfg, err, sizeof(err));
        ck_assert_int_ge(c, 0);
        struct nc_share_req q;
        req_init(&q, NC_OP_IDENTIFY);
        send_raw(c, &q, sizeof(q), &fd, 1);
        close(c); /* before the reply */
    }
    still_serves(fd);
    close(fd);
}
END_TEST

/* A process of another uid gets one reply, -EACCES with seq 0, and the connection ends. */
START_TEST(other_uid_refused)
{
    if (geteuid() != 0) {
        fprintf(stderr, "check_share: other_uid_refused needs root (setresuid): skipped\n");
        return;
    }
    char path[108];
    sock_path(path, sizeof(path));
    /* Let uid 65534 reach the socket (the driver checks the directory only at claim). */
    ck_assert_int_eq(chmod(top, 0711), 0);
    ck_assert_int_eq(chmod(run, 0711), 0);
    ck_assert_int_eq(chmod(path, 0666), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
            _exit(10);
        int c = socket(AF_UNIX, SOCK_SEQPACKET, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof(sa)) != 0)
            _exit(11);
        struct nc_share_req q;
        req_init(&q, NC_OP_SOCKET);
        q.a[0] = AF_INET;
        q.a[1] = SOCK_STREAM;
        (void)send(c, &q, sizeof(q), MSG_NOSIGNAL);
        struct nc_share_rep rep;
        struct pollfd p = { .fd = c, .events = POLLIN };
        int pr = poll(&p, 1, 5000);
        ssize_t got = pr == 1 ? recv(c, &rep, sizeof(rep), 0) : -2;
        if (got != sizeof(rep)) {
            fprintf(stderr, "poll %d recv %zd: %s\n", pr, got, strerror(errno));
            _exit(12);
        }
        if (rep.magic != NC_SHARE_MAGIC || rep.seq != 0 || rep.rc != -EACCES)
            _exit(13);
        if (poll(&p, 1, 5000) != 1 || recv(c, &rep, sizeof(rep), 0) != 0)
            _exit(14); /* then EOF: no socket was made */
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    ck_assert_int_eq(netcore_share_users(st), 1); /* only our own connection */
}
END_TEST

/* More control connections than the server takes: the one beyond gets -EAGAIN. */
START_TEST(too_many_connections)
{
    enum { LIMIT = 256 };
    static int cs[LIMIT + 1];
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 2 * LIMIT + 64) {
        rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* Each one answered before the next: the server has taken it. ctl is one already. */
    int fd = new_socket(AF_INET, SOCK_STREAM);
    for (int i = 0; i < LIMIT - 1; i++) {
        cs[i] = netcore_share_connect(&cfg, err, sizeof(err));
        ck_assert_msg(cs[i] >= 0, "connect %d: %s", i, err);
        struct nc_share_req q;
        struct nc_share_rep rep;
        req_init(&q, NC_OP_IDENTIFY);
        send_raw(cs[i], &q, sizeof(q), &fd, 1);
        recv_rep(cs[i], &rep, NULL);
        ck_assert_int_eq(rep.rc, 0);
    }
    int extra = netcore_share_connect(&cfg, err, sizeof(err));
    ck_assert_int_ge(extra, 0);
    struct nc_share_rep rep;
    recv_rep(extra, &rep, NULL);
    ck_assert_int_eq(rep.rc, -EAGAIN);
    ck_assert_uint_eq(rep.seq, 0);
    close(extra);
    for (int i = 0; i < LIMIT - 1; i++)
        close(cs[i]);
    still_serves(fd);
    close(fd);
}
END_TEST

/* CHANNEL: a second control connection of this process, made by the driver; it serves
 * requests like one made through the rendezvous and counts as a user. */
START_TEST(channel)
{
    struct nc_share_req q;
    struct nc_share_rep rep;
    req_init(&q, NC_OP_IDENTIFY);
    ck_assert_int_eq(rpc(&q, -1, &rep, NULL), -EBADF); /* ctl is accepted: counted */
    int users = netcore_share_users(st);
    int ch = -1;
    req_init(&q, NC_OP_CHANNEL);
    ck_assert_int_eq(rpc(&q, -1, &rep, &ch), 0);
    ck_assert_int_ge(ch, 0);
    ck_assert_int_eq(netcore_share_users(st), users + 1);
    int type = 0;
    socklen_t len = sizeof(type);
    ck_assert_int_eq(getsockopt(ch, SOL_SOCKET, SO_TYPE, &type, &len), 0);
    ck_assert_int_eq(type, SOCK_SEQPACKET);
    ck_assert_int_eq(fcntl(ch, F_GETFL) & O_NONBLOCK, 0); /* the client's end blocks */
    /* Requests on it: a socket made there is one of the stack, known on ctl too. */
    int keep = ctl;
    ctl = ch;
    int fd = new_socket(AF_INET, SOCK_STREAM);
    ctl = keep;
    req_init(&q, NC_OP_IDENTIFY);
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), 0);
    /* A CHANNEL carries no fd. */
    req_init(&q, NC_OP_CHANNEL);
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), -EINVAL);
    close(ch);
    still_serves(fd);
    for (int i = 0; i < 500 && netcore_share_users(st) != users + 1; i++)
        usleep(10000); /* the hang-up is the driver's thread's to see */
    ck_assert_int_eq(netcore_share_users(st), users + 1); /* ctl's + the socket's relay */
    close(fd);
}
END_TEST

/* The fork handlers hold the server's mutex too: a request in hand when the address space
 * is copied would leave its fds in the child (review item 5). */
START_TEST(fork_prepare_holds_server)
{
    netcore_fork_prepare(st);
    ck_assert(!nc__mutex_trylock(&st->share->mu));
    netcore_fork_parent(st);
    ck_assert(nc__mutex_trylock(&st->share->mu));
    nc__mutex_unlock(&st->share->mu);
    int fd = new_socket(AF_INET, SOCK_STREAM);
    still_serves(fd);
    close(fd);
}
END_TEST

/* A server raises its soft fd limit to the hard one and takes connections by that limit
 * (review item 8): every relay is an fd of the driver's. */
START_TEST(nofile_raised)
{
    /* Serving leaves the program's limit alone and caps connections at a quarter of it
     * (at least 256); the keeper's raise is its own (nc__share_raise_nofile). */
    struct rlimit rl = { 2048, 4096 };
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    st = start_served();
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    ck_assert_uint_eq(rl.rlim_cur, 2048);
    ck_assert_int_eq(st->share->max_conns, 512);
    ck_assert_int_eq(nc__share_raise_nofile(), 4096);
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    ck_assert_uint_eq(rl.rlim_cur, 4096);
    netcore_stop(st);
    close(wire[1]);
}
END_TEST

/* The small fd limit too_many_connections counts on: a cap of 256. */
static void serve_small_setup(void)
{
    struct rlimit rl = { 1024, 1024 };
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    serve_setup();
}

/* a waiting CONNECT, over the hand-played peer (manual mode) */

static struct hp hp;

static void hp_setup(void)
{
    setup();
    hp_start(&hp);
    struct netcore_rendezvous rv;
    ck_assert_int_eq(netcore_share_claim(&cfg, &rv, err, sizeof(err)), 1);
    ck_assert_int_eq(netcore_share_serve(hp.st, &rv), 0);
    ctl = netcore_share_connect(&cfg, err, sizeof(err));
    ck_assert_msg(ctl >= 0, "connect: %s", err);
}

static void hp_teardown(void)
{
    close(ctl);
    hp_stop(&hp);
    teardown();
}

/* The reply to what was sent on ctl, driving the manual stack meanwhile (5 s at most). */
static void step_until_reply(struct nc_share_rep *rep, int *fd)
{
    struct pollfd p = { .fd = ctl, .events = POLLIN };
    for (int i = 0; i < 500; i++) {
        netcore_step(hp.st, 0);
        if (poll(&p, 1, 10) == 1)
            break;
    }
    recv_rep(ctl, rep, fd);
}

static int64_t hp_rpc(struct nc_share_req *q, int fd, struct nc_share_rep *rep, int *out)
{
    send_raw(ctl, q, sizeof(*q), &fd, fd >= 0 ? 1 : 0);
    step_until_reply(rep, out);
    ck_assert_uint_eq(rep->seq, q->seq);
    return rep->rc;
}

/* Sends a waiting CONNECT to the peer; returns the stack's SYN, the reply still pending. */
static struct hp_seg connect_pending(int fd, struct nc_share_req *q)
{
    req_init(q, NC_OP_CONNECT);
    req_addr(q, "198.18.0.1", 80);
    q->a[0] = 1;
    send_raw(ctl, q, sizeof(*q), &fd, 1);
    struct hp_seg sg[4];
    int n = 0;
    for (int i = 0; i < 10 && n == 0; i++)
        n = hp_collect(&hp, sg, 4);
    ck_assert_int_eq(n, 1);
    ck_assert_uint_eq(sg[0].flags & (HP_SYN | HP_ACK), HP_SYN);
    struct pollfd p = { .fd = ctl, .events = POLLIN };
    ck_assert_int_eq(poll(&p, 1, 0), 0); /* no answer before the outcome */
    return sg[0];
}

/* A TCP socket made by NC_OP_SOCKET; its program end. */
static int rpc_tcp_socket(void)
{
    struct nc_share_req q;
    struct nc_share_rep rep;
    int fd = -1;
    req_init(&q, NC_OP_SOCKET);
    q.a[0] = AF_INET;
    q.a[1] = SOCK_STREAM;
    ck_assert_int_eq(hp_rpc(&q, -1, &rep, &fd), 0);
    return fd;
}

/* What relay.c does when it pumps a relayed socket whose state changed (a no-op when it
 * did it already). */
static void state_changed(int fd)
{
    int id = nc__relay_find(hp.st, fd);
    ck_assert_int_ge(id, 0);
    nc__lock(hp.st);
    nc__share_sock_changed(hp.st, hp.st->socks[id]);
    nc__run_pending_and_unlock(hp.st);
}

START_TEST(connect_wait_established)
{
    struct nc_share_req q, c;
    struct nc_share_rep rep;
    int fd = rpc_tcp_socket();
    struct hp_seg syn = connect_pending(fd, &c);
    hp_send(&hp, HP_ISS, syn.seq + 1, HP_SYN | HP_ACK, 65535, NULL, 0, 0);
    netcore_step(hp.st, 0);
    state_changed(fd);
    step_until_reply(&rep, NULL);
    ck_assert_uint_eq(rep.seq, c.seq);
    ck_assert_int_eq(rep.rc, 0);
    /* The connection reads again: the peer's name. */
    req_init(&q, NC_OP_GETPEERNAME);
    ck_assert_int_eq(hp_rpc(&q, fd, &rep, NULL), 0);
    struct sockaddr_in a;
    memcpy(&a, rep.data, sizeof(a));
    ck_assert_int_eq(ntohs(a.sin_port), 80);
    ck_assert_uint_eq(a.sin_addr.s_addr, htonl(0xc6120001));
    /* Connected: a second connect says so, a wait for none under way says 0. */
    req_init(&q, NC_OP_CONNECT);
    req_addr(&q, "198.18.0.1", 80);
    ck_assert_int_eq(hp_rpc(&q, fd, &rep, NULL), -EISCONN);
    req_init(&q, NC_OP_CONNECT);
    q.a[0] = 1;
    ck_assert_int_eq(hp_rpc(&q, fd, &rep, NULL), 0);
    close(fd);
}
END_TEST

START_TEST(connect_wait_refused)
{
    struct nc_share_req q, c;
    struct nc_share_rep rep;
    int fd = rpc_tcp_socket();
    struct hp_seg syn = connect_pending(fd, &c);
    hp_send(&hp, 0, syn.seq + 1, HP_RST | HP_ACK, 0, NULL, 0, 0);
    netcore_step(hp.st, 0);
    state_changed(fd);
    step_until_reply(&rep, NULL);
    ck_assert_uint_eq(rep.seq, c.seq);
    ck_assert_int_eq(rep.rc, -ECONNREFUSED);
    /* Reported once; the socket may connect again. */
    req_init(&q, NC_OP_CONNECT);
    q.a[0] = 1;
    ck_assert_int_eq(hp_rpc(&q, fd, &rep, NULL), 0);
    close(fd);
}
END_TEST

/* CONNECT a0 = 2: the status now, never a wait (an O_NONBLOCK fd's SO_ERROR, getpeername). */
START_TEST(connect_status_now)
{
    struct nc_share_req q;
    struct nc_share_rep rep;
    int fd = rpc_tcp_socket();
    req_init(&q, NC_OP_CONNECT);
    q.a[0] = 2;
    ck_assert_int_eq(hp_rpc(&q, fd, &rep, NULL), 0); /* none under way */
    req_init(&q, NC_OP_CONNECT);
    req_addr(&q, "198.18.0.1", 80);
    ck_assert_int_eq(hp_rpc(&q, fd, &rep, NULL), -EINPROGRESS);
    struct hp_seg sg[4];
    int n = 0;
    for (int i = 0; i < 10 && n == 0; i++)
        n = hp_collect(&hp, sg, 4);
    ck_assert_int_eq(n, 1);
    req_init(&q, NC_OP_CONNECT);
    q.a[0] = 2;
    ck_assert_int_eq(hp_rpc(&q, fd, &rep, NULL), -EALREADY);
    hp_send(&hp, 0, sg[0].seq + 1, HP_RST | HP_ACK, 0, NULL, 0, 0);
    netcore_step(hp.st, 0);
    req_init(&q, NC_OP_CONNECT);
    q.a[0] = 2;
    ck_assert_int_eq(hp_rpc(&q, fd, &rep, NULL), -ECONNREFUSED);
    req_init(&q, NC_OP_CONNECT);
    q.a[0] = 2;
    ck_assert_int_eq(hp_rpc(&q, fd, &rep, NULL), 0); /* reported once, as SO_ERROR */
    close(fd);
}
END_TEST

/* A waiting CONNECT whose socket closes under it: the holder shuts the program end in the
 * kernel (EPOLLHUP at the driver's end although the driver holds a copy), the relay closes
 * the socket. The wait holds the socket, and is answered -ECONNABORTED (review item 6). */
START_TEST(connect_wait_socket_closed)
{
    struct nc_share_req q, c;
    struct nc_share_rep rep;
    int fd = rpc_tcp_socket();
    (void)connect_pending(fd, &c);
    struct nc_share_conn *w = hp.st->share->conns;
    ck_assert_ptr_nonnull(w);
    ck_assert_ptr_nonnull(w->wait_sock);
    int id = w->wait_id;
    ck_assert_int_gt(w->wait_fd, fd); /* moved above the program's numbers (item 12) */
    ck_assert_int_eq(shutdown(fd, SHUT_RDWR), 0);
    step_until_reply(&rep, NULL);
    ck_assert_uint_eq(rep.seq, c.seq);
    ck_assert_int_eq(rep.rc, -ECONNABORTED);
    /* The hold is let go: the slot is free again once the stack is done with it. */
    ck_assert_int_eq(atomic_load(&hp.st->refs[id]), 0);
    req_init(&q, NC_OP_IDENTIFY);
    ck_assert_int_eq(hp_rpc(&q, fd, &rep, NULL), -EBADF);
    close(fd);
}
END_TEST

/*
 * An fd a client passes that is not an AF_UNIX socket is not closed on the netstack thread
 * (review item 3): a kernel TCP socket with SO_LINGER and unsent data would hold close() for
 * its linger time there, the stack stopped for everyone. Manual mode: netcore_step is the
 * netstack thread, so the reply comes at once or after the linger.
 */
START_TEST(foreign_fd_closed_off_thread)
{
    int lst = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(a);
    ck_assert_int_ge(lst, 0);
    if (bind(lst, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lst, 1) != 0 ||
        getsockname(lst, (struct sockaddr *)&a, &alen) != 0) {
        fprintf(stderr, "foreign_fd_closed_off_thread: no loopback, skipped\n");
        close(lst);
        return;
    }
    int k = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int small = 4096;
    setsockopt(k, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    ck_assert_int_eq(connect(k, (struct sockaddr *)&a, sizeof(a)), 0);
    /* The listener never accepts nor reads: what k sends stays unsent once the peer's
     * window is full. */
    fcntl(k, F_SETFL, O_NONBLOCK);
    static char junk[65536];
    for (int i = 0; i < 1000 && send(k, junk, sizeof(junk), MSG_NOSIGNAL) > 0; i++)
        ;
    int outq = 0;
    ck_assert_int_eq(ioctl(k, SIOCOUTQ, &outq), 0);
    ck_assert_int_gt(outq, 0);
    fcntl(k, F_SETFL, 0);
    struct linger lg = { 1, 3 };
    ck_assert_int_eq(setsockopt(k, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    unsigned long closed = nc__closer_count();
    struct nc_share_req q;
    struct nc_share_rep rep;
    req_init(&q, NC_OP_IDENTIFY);
    send_raw(ctl, &q, sizeof(q), &k, 1);
    close(k); /* the copy in flight is the last one: the driver's close is the lingering one */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    step_until_reply(&rep, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_uint_eq(rep.seq, q.seq);
    ck_assert_int_eq(rep.rc, -EBADF);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_msg(took < 1.0, "the reply took %.2f s: closed on the netstack thread", took);
    /* The next request is answered at once too. */
    req_init(&q, NC_OP_IDENTIFY);
    ck_assert_int_eq(hp_rpc(&q, -1, &rep, NULL), -EBADF);
    /* And the closer thread did close it (after its linger). */
    for (int i = 0; i < 1000 && nc__closer_count() == closed; i++)
        usleep(10000);
    ck_assert_uint_gt(nc__closer_count(), closed);
    close(lst);
}
END_TEST

/* The client gives up on a waiting CONNECT (closes its connection): the driver forgets the
 * reply and lets go of its copy of the socket when the outcome comes. */
START_TEST(connect_wait_abandoned)
{
    struct nc_share_req q, c;
    struct nc_share_rep rep;
    int fd = rpc_tcp_socket();
    struct hp_seg syn = connect_pending(fd, &c);
    close(ctl);
    for (int i = 0; i < 5; i++)
        netcore_step(hp.st, 0);
    ck_assert_int_eq(netcore_share_users(hp.st), nc__relay_count(hp.st));
    hp_send(&hp, HP_ISS, syn.seq + 1, HP_SYN | HP_ACK, 65535, NULL, 0, 0);
    netcore_step(hp.st, 0);
    state_changed(fd);
    ctl = netcore_share_connect(&cfg, err, sizeof(err));
    ck_assert_int_ge(ctl, 0);
    req_init(&q, NC_OP_GETPEERNAME);
    ck_assert_int_eq(hp_rpc(&q, fd, &rep, NULL), 0);
    close(fd);
}
END_TEST

/* Out of fds in the driver: a process that connects is refused (EAGAIN), and the driver
 * neither spins on its listener nor stops serving once fds are free again. */
START_TEST(out_of_fds)
{
    int fd = new_socket(AF_INET, SOCK_STREAM);
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur > 4096) {
        rl.rlim_cur = 4096; /* this test process only: it takes every fd below */
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    int go[2];
    ck_assert_int_eq(pipe(go), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char c;
        if (read(go[0], &c, 1) != 1)
            _exit(10);
        int k = netcore_share_connect(&cfg, NULL, 0);
        if (k < 0)
            _exit(11);
        struct nc_share_rep rep;
        struct pollfd p = { .fd = k, .events = POLLIN };
        if (poll(&p, 1, 5000) != 1)
            _exit(12);
        ssize_t got = recv(k, &rep, sizeof(rep), 0);
        if (got == 0)
            _exit(20); /* closed unanswered */
        if (got != sizeof(rep))
            _exit(12);
        _exit(rep.magic == NC_SHARE_MAGIC && rep.seq == 0 && rep.rc == -EAGAIN ? 0 : 13);
    }
    /* Every fd of this process taken. */
    static int held[4096];
    int n = 0;
    while (n < 4096 && (held[n] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        n++;
    ck_assert_int_eq(errno, EMFILE);
    ck_assert_int_eq(write(go[1], "g", 1), 1);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    for (int i = 0; i < n; i++)
        close(held[i]);
    /* Under valgrind, which closes an fd the kernel gave beyond its own limit, the accept
     * that fails has taken the connection: it ends unanswered. */
    bool vg = getenv("NETCORE_VALGRIND") != NULL && !strcmp(getenv("NETCORE_VALGRIND"), "1");
    ck_assert_msg(WIFEXITED(status) &&
                      (WEXITSTATUS(status) == 0 || (vg && WEXITSTATUS(status) == 20)),
                  "child status %d", status);
    still_serves(fd);
    int c2 = netcore_share_connect(&cfg, err, sizeof(err));
    ck_assert_int_ge(c2, 0);
    close(c2);
    close(fd);
    close(go[0]);
    close(go[1]);
}
END_TEST

/* keeper */

/*
 * Waits up to 10 s for a keeper (this process is its subreaper) to exit; kills it when it
 * does not, so that a failing test leaves no keeper behind. Returns its wait status. Woken
 * by SIGCHLD (sigtimedwait; valgrind has no pidfd_open).
 */
static int wait_keeper(pid_t pid)
{
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    struct timespec end, now;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += 10;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        ck_assert_int_eq(r, 0);
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (end.tv_sec - now.tv_sec) * 1000 + (end.tv_nsec - now.tv_nsec) / 1000000;
        if (ms <= 0)
            break;
        struct timespec left = { ms / 1000, (ms % 1000) * 1000000 };
        sigtimedwait(&chld, NULL, &left); /* a child ended, or the time is up */
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    ck_abort_msg("the keeper did not end within 10 s (killed)");
    return status;
}

/* This process becomes the subreaper (a keeper, the driver's child, comes back to it) and
 * forks a driver, with the pipes up (driver to test) and down (test to driver), each side
 * keeping its own ends; 0 in the driver. */
static pid_t fork_driver(int up[2], int down[2])
{
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    ck_assert_int_eq(pipe(up), 0);
    ck_assert_int_eq(pipe(down), 0);
    pid_t driver = fork();
    ck_assert_int_ge(driver, 0);
    if (driver == 0) {
        close(up[0]);
        close(down[1]);
    } else {
        close(up[1]);
        close(down[0]);
    }
    return driver;
}

/*
 * A driver process hands its stack to a keeper and exits; the keeper answers the client
 * that stayed, and once that client is gone, removes the rendezvous' name and exits, and
 * the device is free for the next driver. This process is the subreaper, so the keeper
 * (the driver's child) comes back to it.
 */
START_TEST(keeper)
{
    int up[2], down[2];
    pid_t driver = fork_driver(up, down);
    if (driver == 0) {
        struct netcore_stack *s = start_served();
        char c = 's';
        if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) != 1)
            _exit(3);
        /* A client is attached: it is why the stack must outlive this process. */
        if (chdir(top) != 0) /* the keeper must not stay here (review item 13) */
            _exit(5);
        int k = netcore_share_keep(s);
        if (write(up[1], &k, sizeof(k)) != sizeof(k))
            _exit(3);
        _exit(k > 0 ? 0 : 4);
    }
    char path[108], ch;
    sock_path(path, sizeof(path));
    ck_assert_int_eq(read(up[0], &ch, 1), 1); /* serving */
    int c = netcore_share_connect(&cfg, err, sizeof(err));
    ck_assert_msg(c >= 0, "connect: %s", err);
    struct nc_share_req q;
    struct nc_share_rep rep;
    req_init(&q, NC_OP_SOCKET); /* answered: the driver has taken the connection */
    q.a[0] = AF_PACKET;
    q.a[1] = SOCK_STREAM;
    send_raw(c, &q, sizeof(q), NULL, 0);
    recv_rep(c, &rep, NULL);
    ck_assert_int_eq(rep.rc, -EAFNOSUPPORT);
    ck_assert_int_eq(write(down[1], "k", 1), 1);
    int keeper_pid = 0;
    ck_assert_int_eq(read(up[0], &keeper_pid, sizeof(keeper_pid)), sizeof(keeper_pid));
    close(up[0]);
    close(down[1]);
    ck_assert_int_gt(keeper_pid, 0);
    int status;
    ck_assert_int_eq(waitpid(driver, &status, 0), driver);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "driver status %d", status);
    /* The driver is gone; its keeper answers. */
    req_init(&q, NC_OP_SOCKET);
    q.a[0] = AF_INET;
    q.a[1] = SOCK_SEQPACKET;
    send_raw(c, &q, sizeof(q), NULL, 0);
    recv_rep(c, &rep, NULL);
    ck_assert_uint_eq(rep.seq, q.seq);
    ck_assert_int_eq(rep.rc, -ESOCKTNOSUPPORT);
    /* It answers: it has left the exiting program's directory (it would pin its mount). */
    char link[64], cwd[64];
    snprintf(link, sizeof(link), "/proc/%d/cwd", keeper_pid);
    ssize_t n = readlink(link, cwd, sizeof(cwd) - 1);
    ck_assert_int_gt(n, 0);
    cwd[n] = '\0';
    ck_assert_str_eq(cwd, "/");
    struct netcore_rendezvous rv;
    ck_assert_int_eq(netcore_share_claim(&cfg, &rv, err, sizeof(err)), 0); /* still driven */
    /* The last user leaves: the keeper ends, and with it the lock and the name. */
    close(c);
    status = wait_keeper(keeper_pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "keeper status %d", status);
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_assert_int_eq(netcore_share_claim(&cfg, &rv, err, sizeof(err)), 1);
    netcore_share_release(&rv);
}
END_TEST

/*
 * A relayed socket is a user too: the keeper outlives the control connection while the
 * socket's program end is open anywhere, and ends when its last copy is closed (relay.c
 * sees the hang-up and closes the socket).
 */
START_TEST(keeper_relayed)
{
    int up[2], down[2];
    pid_t driver = fork_driver(up, down);
    if (driver == 0) {
        struct netcore_stack *s = start_served();
        /* A socket of the driver's own, not relayed: the keeper closes it as at exit. */
        int own = netcore_socket(s, AF_INET, SOCK_STREAM, 0);
        char c = 's';
        if (own < 0 || write(up[1], &c, 1) != 1 || read(down[0], &c, 1) != 1)
            _exit(3);
        int k = netcore_share_keep(s);
        if (write(up[1], &k, sizeof(k)) != sizeof(k))
            _exit(3);
        _exit(k > 0 ? 0 : 4);
    }
    char ch;
    ck_assert_int_eq(read(up[0], &ch, 1), 1);
    ctl = netcore_share_connect(&cfg, err, sizeof(err));
    ck_assert_msg(ctl >= 0, "connect: %s", err);
    int fd = new_socket(AF_INET, SOCK_STREAM);
    struct nc_share_req q;
    struct nc_share_rep rep;
    req_init(&q, NC_OP_BIND);
    req_addr(&q, "0.0.0.0", 7000);
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), 0);
    req_init(&q, NC_OP_LISTEN);
    q.a[0] = 8;
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), 0);
    ck_assert_int_eq(write(down[1], "k", 1), 1);
    int keeper_pid = 0, status;
    ck_assert_int_eq(read(up[0], &keeper_pid, sizeof(keeper_pid)), sizeof(keeper_pid));
    ck_assert_int_gt(keeper_pid, 0);
    ck_assert_int_eq(waitpid(driver, &status, 0), driver);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "driver status %d", status);
    close(up[0]);
    close(down[1]);
    /* Without a control connection the keeper stays for the socket: a new one finds it. */
    close(ctl);
    ctl = netcore_share_connect(&cfg, err, sizeof(err));
    ck_assert_msg(ctl >= 0, "connect to the keeper: %s", err);
    req_init(&q, NC_OP_IDENTIFY);
    ck_assert_int_eq(rpc(&q, fd, &rep, NULL), 0);
    ck_assert_int_eq(rep.b[NC_SHARE_INFO_TYPE], SOCK_STREAM | NC_SHARE_LISTENING);
    close(ctl);
    ctl = -1;
    close(fd);
    status = wait_keeper(keeper_pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "keeper status %d", status);
    struct netcore_rendezvous rv;
    ck_assert_int_eq(netcore_share_claim(&cfg, &rv, err, sizeof(err)), 1);
    netcore_share_release(&rv);
}
END_TEST

/*
 * The exiting driver's own connection still had data to send: the keeper closes it as the
 * driver's exit would and delivers the rest. The peer is a second stack (198.18.0.1) in a
 * process of its own at the other end of the wire, which counts what it receives.
 */
enum { KEEP_BYTES = 1 << 20 };

static void __attribute__((noreturn)) counting_peer(int fd, int result, int stop)
{
    struct netcore_config c;
    netcore_config_defaults(&c);
    c.device = NETCORE_DEV_WIRE;
    c.wire_fd = fd;
    inet_pton(AF_INET, "198.18.0.1", &c.ip);
    inet_pton(AF_INET, "198.18.0.2", &c.gw);
    inet_pton(AF_INET6, "2001:db8::1", &c.ip6);
    c.mac[5] = 1;
    c.share = 0;
    struct netcore_stack *ps = NULL;
    if (netcore_start(&c, 0, &ps, NULL, 0) != 0)
        _exit(2);
    int l = netcore_socket(ps, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(80) };
    if (l < 0 || netcore_bind(ps, l, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        netcore_listen(ps, l, 4) != 0)
        _exit(3);
    long total = -1;
    if (write(result, &total, sizeof(total)) != sizeof(total)) /* listening */
        _exit(4);
    int cs = netcore_accept(ps, l, NULL, NULL, 0);
    static char buf[65536];
    ssize_t n;
    total = 0;
    while (cs >= 0 && (n = netcore_recv(ps, cs, buf, sizeof(buf), 0)) > 0)
        total += n;
    if (write(result, &total, sizeof(total)) != sizeof(total))
        _exit(4);
    char ch;
    if (read(stop, &ch, 1) < 0) /* the connection's last ACK must reach the keeper */
        _exit(5);
    netcore_stop(ps);
    _exit(0);
}

/* A keeper test with a peer: the wire's driver end, the counting peer (its results on res;
 * closing stop ends it) and the pipes to the driver (fork_driver's). */
struct scene {
    int w0, res, stop;
    int up[2], down[2];
    pid_t peer;
};

/* A counting peer on a new wire, listening. */
static void scene_start(struct scene *k)
{
    int w[2], res[2], stop[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, w), 0);
    int big = 4 << 20;
    setsockopt(w[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    setsockopt(w[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    ck_assert_int_eq(pipe(res), 0);
    ck_assert_int_eq(pipe(stop), 0);
    k->peer = fork();
    ck_assert_int_ge(k->peer, 0);
    if (k->peer == 0) {
        close(w[0]);
        close(stop[1]);
        counting_peer(w[1], res[1], stop[0]);
    }
    close(w[1]);
    close(res[1]);
    close(stop[0]);
    k->w0 = w[0];
    k->res = res[0];
    k->stop = stop[1];
    long total = 0;
    ck_assert_int_eq(read(k->res, &total, sizeof(total)), sizeof(total)); /* listening */
}

/* In the driver process: its served stack on the wire, and *c connected to the peer's port
 * 80 (exit 3 if not). */
static struct netcore_stack *driver_connected(struct scene *k, int *c)
{
    struct netcore_stack *s = start_served_on(k->w0);
    *c = netcore_socket(s, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(80) };
    inet_pton(AF_INET, "198.18.0.1", &a.sin_addr);
    if (*c < 0 || netcore_connect(s, *c, (struct sockaddr *)&a, sizeof(a)) != 0)
        _exit(3);
    return s;
}

/* The driver has said it is connected and waits for the word to hand over. */
static void scene_driver_ready(struct scene *k)
{
    close(k->w0);
    char ch;
    ck_assert_int_eq(read(k->up[0], &ch, 1), 1);
}

/* A client attaches (a user: the stack must stay), the driver hands its stack to a keeper and
 * exits 0; returns the keeper's pid, the client's connection in *c. */
static int scene_hand_over(struct scene *k, pid_t driver, int *c)
{
    *c = netcore_share_connect(&cfg, err, sizeof(err));
    ck_assert_msg(*c >= 0, "connect: %s", err);
    struct nc_share_req q;
    struct nc_share_rep rep;
    req_init(&q, NC_OP_SOCKET); /* answered: the driver has taken the connection */
    q.a[0] = AF_PACKET;
    send_raw(*c, &q, sizeof(q), NULL, 0);
    recv_rep(*c, &rep, NULL);
    ck_assert_int_eq(write(k->down[1], "k", 1), 1);
    int keeper_pid = 0, status;
    ck_assert_int_eq(read(k->up[0], &keeper_pid, sizeof(keeper_pid)), sizeof(keeper_pid));
    ck_assert_int_gt(keeper_pid, 0);
    ck_assert_int_eq(waitpid(driver, &status, 0), driver);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "driver status %d", status);
    return keeper_pid;
}

static void scene_end(struct scene *k)
{
    close(k->res);
    close(k->up[0]);
    close(k->down[1]);
}

START_TEST(keeper_delivers)
{
    struct scene k;
    scene_start(&k);
    pid_t driver = fork_driver(k.up, k.down);
    if (driver == 0) {
        int c;
        struct netcore_stack *s = driver_connected(&k, &c);
        static char data[KEEP_BYTES];
        memset(data, 'k', sizeof(data));
        /* Blocking: returns with up to a send ring's worth still to go. */
        if (netcore_send(s, c, data, sizeof(data), 0) != (ssize_t)sizeof(data))
            _exit(4);
        char ch = 's';
        if (write(k.up[1], &ch, 1) != 1 || read(k.down[0], &ch, 1) != 1)
            _exit(5);
        int kp = netcore_share_keep(s);
        if (write(k.up[1], &kp, sizeof(kp)) != sizeof(kp))
            _exit(6);
        _exit(kp > 0 ? 0 : 7); /* without closing c: the keeper does, as exit would */
    }
    scene_driver_ready(&k);
    int c, keeper_pid = scene_hand_over(&k, driver, &c), status;
    /* Everything the driver sent arrives, then its FIN, with the driver gone. */
    long total = 0;
    ck_assert_int_eq(read(k.res, &total, sizeof(total)), sizeof(total));
    ck_assert_int_eq(total, KEEP_BYTES);
    close(c);
    status = wait_keeper(keeper_pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "keeper status %d", status);
    close(k.stop);
    ck_assert_int_eq(waitpid(k.peer, &status, 0), k.peer);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "peer status %d", status);
    scene_end(&k);
}
END_TEST

/*
 * A peer that takes nothing more: once its last user left, the keeper waits NETCORE_LINGER
 * seconds for the driver's data, no longer, and ends.
 */
START_TEST(keeper_linger)
{
    struct scene k;
    scene_start(&k);
    pid_t driver = fork_driver(k.up, k.down);
    if (driver == 0) {
        cfg.linger_s = 1; /* NETCORE_LINGER=1, in this process only */
        int c;
        struct netcore_stack *s = driver_connected(&k, &c);
        char ch = 's';
        if (write(k.up[1], &ch, 1) != 1 || read(k.down[0], &ch, 1) != 1)
            _exit(5);
        static char data[65536];
        if (netcore_send(s, c, data, sizeof(data), MSG_DONTWAIT) <= 0) /* never ACKed */
            _exit(4);
        int kp = netcore_share_keep(s);
        if (write(k.up[1], &kp, sizeof(kp)) != sizeof(kp))
            _exit(6);
        _exit(kp > 0 ? 0 : 7);
    }
    scene_driver_ready(&k);
    ck_assert_int_eq(kill(k.peer, SIGSTOP), 0); /* connected; from now on nothing is ACKed */
    int c, keeper_pid = scene_hand_over(&k, driver, &c), status;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    close(c); /* the last user */
    status = wait_keeper(keeper_pid);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "keeper status %d", status);
    ck_assert_msg(s >= 0.9 && s < 5, "keeper ended %.2f s after its last user (linger 1 s)", s);
    kill(k.peer, SIGKILL);
    waitpid(k.peer, NULL, 0);
    close(k.stop);
    scene_end(&k);
}
END_TEST

/* A stack in manual mode (no netstack thread, no event loop) is kept too: the keeper
 * drives it with netcore_step. */
START_TEST(keeper_manual)
{
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int up[2];
    ck_assert_int_eq(pipe(up), 0);
    pid_t driver = fork();
    ck_assert_int_ge(driver, 0);
    if (driver == 0) {
        close(up[0]);
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, wire), 0);
        struct netcore_rendezvous rv;
        if (netcore_share_claim(&cfg, &rv, NULL, 0) != 1)
            _exit(2);
        struct netcore_config c = cfg;
        c.device = NETCORE_DEV_WIRE;
        c.wire_fd = wire[0];
        struct netcore_stack *s = NULL;
        if (netcore_start(&c, NETCORE_MANUAL, &s, NULL, 0) != 0 ||
            netcore_share_serve(s, &rv) != 0)
            _exit(3);
        char ch = 's';
        if (write(up[1], &ch, 1) != 1)
            _exit(4);
        /* Driven by hand until the client is attached. */
        while (netcore_share_users(s) == 0)
            netcore_step(s, 100);
        int k = netcore_share_keep(s);
        if (write(up[1], &k, sizeof(k)) != sizeof(k))
            _exit(5);
        _exit(k > 0 ? 0 : 6);
    }
    close(up[1]);
    char ch;
    ck_assert_int_eq(read(up[0], &ch, 1), 1);
    int c = netcore_share_connect(&cfg, err, sizeof(err));
    ck_assert_msg(c >= 0, "connect: %s", err);
    int keeper_pid = 0, status;
    ck_assert_int_eq(read(up[0], &keeper_pid, sizeof(keeper_pid)), sizeof(keeper_pid));
    ck_assert_int_gt(keeper_pid, 0);
    ck_assert_int_eq(waitpid(driver, &status, 0), driver);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "driver status %d", status);
    struct nc_share_req q;
    struct nc_share_rep rep;
    req_init(&q, NC_OP_SOCKET); /* answered by the keeper */
    q.a[0] = AF_PACKET;
    send_raw(c, &q, sizeof(q), NULL, 0);
    recv_rep(c, &rep, NULL);
    ck_assert_uint_eq(rep.seq, q.seq);
    ck_assert_int_eq(rep.rc, -EAFNOSUPPORT);
    close(c);
    status = wait_keeper(keeper_pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "keeper status %d", status);
    close(up[0]);
}
END_TEST

/* fork: the child closes its copies of the server's fds; the parent serves on. */
START_TEST(fork_child_lets_go)
{
    int fd = new_socket(AF_INET, SOCK_STREAM);
    netcore_fork_prepare(st);
    pid_t pid = fork();
    if (pid == 0) {
        netcore_fork_child(st);
        /* A claim in the child finds the parent's lock held (the child's copy is closed,
         * the parent's stays). */
        struct netcore_rendezvous rv;
        _exit(netcore_share_claim(&cfg, &rv, NULL, 0) == 0 ? 0 : 1);
    }
    netcore_fork_parent(st);
    ck_assert_int_ge(pid, 0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    still_serves(fd);
    close(fd);
}
END_TEST

static Suite *share_suite(void)
{
    Suite *s = suite_create("share");
    TCase *tc = tcase_create("rendezvous");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, claim_twice);
    tcase_add_test(tc, claim_after_driver_died);
    tcase_add_test(tc, claim_race);
    tcase_add_test(tc, rundir_mode);
    tcase_add_test(tc, rundir_symlink);
    tcase_add_test(tc, rundir_other_owner);
    tcase_add_test(tc, rundir_missing_parent);
    tcase_add_test(tc, rundir_too_long);
    suite_add_tcase(s, tc);

    tc = tcase_create("serve");
    tcase_add_checked_fixture(tc, serve_setup, serve_teardown);
    tcase_add_test(tc, serve_tcp);
    tcase_add_test(tc, serve_udp);
    tcase_add_test(tc, serve_connect);
    tcase_add_test(tc, garbage);
    tcase_add_test(tc, client_gone);
    tcase_add_test(tc, other_uid_refused);
    tcase_add_test(tc, channel);
    tcase_add_test(tc, fork_prepare_holds_server);
    tcase_add_test(tc, fork_child_lets_go);
    tcase_add_test(tc, out_of_fds);
    suite_add_tcase(s, tc);

    tc = tcase_create("serve-small");
    tcase_add_checked_fixture(tc, serve_small_setup, serve_teardown);
    tcase_add_test(tc, too_many_connections);
    suite_add_tcase(s, tc);

    tc = tcase_create("nofile");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, nofile_raised);
    suite_add_tcase(s, tc);

    tc = tcase_create("connect");
    tcase_add_checked_fixture(tc, hp_setup, hp_teardown);
    tcase_add_test(tc, connect_wait_established);
    tcase_add_test(tc, connect_wait_refused);
    tcase_add_test(tc, connect_wait_abandoned);
    tcase_add_test(tc, connect_status_now);
    tcase_add_test(tc, connect_wait_socket_closed);
    tcase_add_test(tc, foreign_fd_closed_off_thread);
    suite_add_tcase(s, tc);

    tc = tcase_create("keeper");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, keeper);
    tcase_add_test(tc, keeper_relayed);
    tcase_add_test(tc, keeper_delivers);
    tcase_add_test(tc, keeper_linger);
    tcase_add_test(tc, keeper_manual);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(share_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
