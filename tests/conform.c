/*
 * conform: runs every case of the tables (conform_*.c) on the kernel's stack and on netcore
 * in one process, and prints one table row per case: the kernel's outcome, netcore's, and
 * ok, DIFF, KNOWN (a documented difference) or BROKEN (a setup step failed).
 *
 * Usage, under the shim inside the test namespace: conform PEER_IP NETCORE_IP UNUSED_IP
 * (CONFORM_ONLY=text runs only the cases whose name contains text). Exits 1 on any DIFF or
 * BROKEN row, 99 when not running on netcore at all.
 *
 * The libc socket calls reach the shim (netcore); the raw syscall() ones reach the kernel
 * and never pass through the shim, so kernel-column fds never enter the shim's fd map. Each
 * stack is given equivalent addresses: its own (SELF: the kernel's 198.18.0.1, netcore's
 * 198.18.0.2), and kernel peers on 198.18.0.1 (PEER), made by the test itself with raw
 * syscalls, serve both columns.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "conform.h"

struct env conform_env;

/* kernel column: raw system calls */
static int k_socket(int d, int t, int p) { return (int)syscall(SYS_socket, d, t, p); }
static int k_bind(int fd, const struct sockaddr *a, socklen_t l)
{
    return (int)syscall(SYS_bind, fd, a, l);
}
static int k_listen(int fd, int b) { return (int)syscall(SYS_listen, fd, b); }
static int k_accept(int fd, struct sockaddr *a, socklen_t *l)
{
    return (int)syscall(SYS_accept, fd, a, l);
}
static int k_accept4(int fd, struct sockaddr *a, socklen_t *l, int f)
{
    return (int)syscall(SYS_accept4, fd, a, l, f);
}
static int k_connect(int fd, const struct sockaddr *a, socklen_t l)
{
    return (int)syscall(SYS_connect, fd, a, l);
}
static ssize_t k_send(int fd, const void *b, size_t n, int f)
{
    return syscall(SYS_sendto, fd, b, n, f, NULL, 0);
}
static ssize_t k_sendto(int fd, const void *b, size_t n, int f, const struct sockaddr *a,
                        socklen_t l)
{
    return syscall(SYS_sendto, fd, b, n, f, a, l);
}
static ssize_t k_recv(int fd, void *b, size_t n, int f)
{
    return syscall(SYS_recvfrom, fd, b, n, f, NULL, NULL);
}
static ssize_t k_recvfrom(int fd, void *b, size_t n, int f, struct sockaddr *a, socklen_t *l)
{
    return syscall(SYS_recvfrom, fd, b, n, f, a, l);
}
static ssize_t k_read(int fd, void *b, size_t n) { return syscall(SYS_read, fd, b, n); }
static ssize_t k_write(int fd, const void *b, size_t n) { return syscall(SYS_write, fd, b, n); }
static int k_shutdown(int fd, int how) { return (int)syscall(SYS_shutdown, fd, how); }
static int k_getsockopt(int fd, int lv, int nm, void *v, socklen_t *l)
{
    return (int)syscall(SYS_getsockopt, fd, lv, nm, v, l);
}
static int k_setsockopt(int fd, int lv, int nm, const void *v, socklen_t l)
{
    return (int)syscall(SYS_setsockopt, fd, lv, nm, v, l);
}
static int k_getsockname(int fd, struct sockaddr *a, socklen_t *l)
{
    return (int)syscall(SYS_getsockname, fd, a, l);
}
static int k_getpeername(int fd, struct sockaddr *a, socklen_t *l)
{
    return (int)syscall(SYS_getpeername, fd, a, l);
}
static int k_fcntl(int fd, int cmd, long arg) { return (int)syscall(SYS_fcntl, fd, cmd, arg); }
static int k_ioctl(int fd, unsigned long req, void *arg)
{
    return (int)syscall(SYS_ioctl, fd, req, arg);
}
static int k_poll(struct pollfd *f, nfds_t n, int ms) { return (int)syscall(SYS_poll, f, n, ms); }
static int k_dup(int fd) { return (int)syscall(SYS_dup, fd); }
static int k_close(int fd) { return (int)syscall(SYS_close, fd); }

const struct ops conform_kernel = {
    "kernel",      { 0 },         k_socket,      k_bind,     k_listen,   k_accept,
    k_accept4,     k_connect,     k_send,        k_sendto,   k_recv,     k_recvfrom,
    k_read,        k_write,       k_shutdown,    k_getsockopt, k_setsockopt, k_getsockname,
    k_getpeername, k_fcntl,       k_ioctl,       k_poll,     k_dup,      k_close,
};
static struct ops kernel_ops;

/* netcore column: the libc calls, which the shim takes */
static int l_fcntl(int fd, int cmd, long arg) { return fcntl(fd, cmd, arg); }
static int l_ioctl(int fd, unsigned long req, void *arg) { return ioctl(fd, req, arg); }

static struct ops netcore_ops = {
    "netcore",   { 0 },      socket,     bind,       listen,     accept,     accept4,
    connect,     send,       sendto,     recv,       recvfrom,   read,       write,
    shutdown,    getsockopt, setsockopt, getsockname, getpeername, l_fcntl,  l_ioctl,
    poll,        dup,        close,
};

/* helpers for the cases */

void track(struct cx *c, int fd)
{
    if (c->nfds < CX_MAX_FDS)
        c->fds[c->nfds++] = fd;
}

void track_peer(struct cx *c, int fd)
{
    if (c->nkfds < CX_MAX_FDS)
        c->kfds[c->nkfds++] = fd;
}

int drop(struct cx *c, int fd)
{
    for (int i = 0; i < c->nfds; i++) {
        if (c->fds[i] == fd) {
            c->fds[i] = c->fds[--c->nfds];
            break;
        }
    }
    return c->o->close(fd);
}

void outf(struct cx *c, const char *fmt, ...)
{
    size_t used = strlen(c->r.out);
    if (used + 1 >= sizeof(c->r.out))
        return;
    if (used > 0)
        c->r.out[used++] = ' ';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->r.out + used, sizeof(c->r.out) - used, fmt, ap);
    va_end(ap);
}

static const char *err_name(int e)
{
    const char *n = strerrorname_np(e);
    return n != NULL ? n : "E?";
}

void broken(struct cx *c, const char *what)
{
    int e = errno;
    c->r.broken = true;
    outf(c, "SETUP %s: %s", what, e != 0 ? err_name(e) : "unexpected result");
}

void note(struct cx *c, const char *label, long ret)
{
    int e = errno;
    if (ret < 0)
        outf(c, "%s=%ld/%s", label, ret, err_name(e));
    else
        outf(c, "%s=%ld", label, ret);
}

static void port_name(const struct cx *c, uint16_t p, char *buf, size_t len)
{
    if (p == 0)
        snprintf(buf, len, "0");
    else if (p >= c->port && p <= c->port + 2)
        snprintf(buf, len, p == c->port ? "P" : "P+%d", p - c->port);
    else
        snprintf(buf, len, "eph");
}

void note_addr(struct cx *c, const char *label, const struct sockaddr_in *a, socklen_t len,
               bool remote)
{
    /* The kernel's own address is its SELF and both columns' PEER: the caller says which
     * side of a connection the address names. */
    in_addr_t first = remote ? conform_env.peer.s_addr : c->o->self.s_addr;
    char host[INET_ADDRSTRLEN], port[8], fam[16] = "";
    if (a->sin_family != AF_INET)
        snprintf(fam, sizeof(fam), "fam%d:", a->sin_family);
    if (a->sin_addr.s_addr == first)
        snprintf(host, sizeof(host), remote ? "PEER" : "SELF");
    else if (a->sin_addr.s_addr == c->o->self.s_addr)
        snprintf(host, sizeof(host), "SELF");
    else if (a->sin_addr.s_addr == conform_env.peer.s_addr)
        snprintf(host, sizeof(host), "PEER");
    else if (a->sin_addr.s_addr == htonl(INADDR_ANY))
        snprintf(host, sizeof(host), "ANY");
    else
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    port_name(c, ntohs(a->sin_port), port, sizeof(port));
    outf(c, "%s=%s%s:%s/%u", label, fam, host, port, (unsigned)len);
}

struct sockaddr_in sin_of(struct in_addr a, uint16_t port)
{
    struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr = a };
    return s;
}

struct sockaddr_in sin_any(uint16_t port)
{
    struct in_addr any = { htonl(INADDR_ANY) };
    return sin_of(any, port);
}

struct sockaddr_in sin_self(const struct cx *c, uint16_t port)
{
    return sin_of(c->o->self, port);
}

struct sockaddr_in sin_peer(uint16_t port)
{
    return sin_of(conform_env.peer, port);
}

int sock(struct cx *c, int type)
{
    int fd = c->o->socket(AF_INET, type, 0);
    if (fd >= 0)
        track(c, fd);
    return fd;
}

int peer_listener(struct cx *c)
{
    if (c->listener >= 0)
        return c->listener;
    const struct ops *k = &conform_kernel;
    int l = k->socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0)
        return -1;
    track_peer(c, l);
    int one = 1;
    struct timeval tv = { 3, 0 }; /* a lost connection fails the case, not the run */
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 1));
    if (k->setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        k->setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        k->bind(l, SA(a), sizeof(a)) < 0 || k->listen(l, 16) < 0)
        return -1;
    c->listener = l;
    return l;
}

int connected(struct cx *c, int *peer)
{
    int l = peer_listener(c);
    int s = sock(c, SOCK_STREAM);
    if (l < 0 || s < 0)
        return -1;
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 1));
    if (c->o->connect(s, SA(a), sizeof(a)) < 0)
        return -1;
    int p = conform_kernel.accept4(l, NULL, NULL, SOCK_CLOEXEC);
    if (p < 0)
        return -1;
    track_peer(c, p);
    *peer = p;
    return s;
}

int udp_connected(struct cx *c)
{
    int s = sock(c, SOCK_DGRAM);
    if (s < 0)
        return -1;
    struct sockaddr_in a = sin_peer((uint16_t)(c->port + 1));
    return c->o->connect(s, SA(a), sizeof(a)) < 0 ? -1 : s;
}

int listening(struct cx *c, int *peer)
{
    const struct ops *o = c->o, *k = &conform_kernel;
    int l = sock(c, SOCK_STREAM);
    if (l < 0)
        return -1;
    int one = 1;
    struct timeval tv = { 3, 0 };
    struct sockaddr_in any = sin_any(c->port), self = sin_self(c, c->port);
    if (o->setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        o->setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        o->bind(l, SA(any), sizeof(any)) < 0 || o->listen(l, 8) < 0)
        return -1;
    int p = k->socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (p < 0)
        return -1;
    track_peer(c, p);
    if (k->connect(p, SA(self), sizeof(self)) < 0)
        return -1;
    /* The handshake is done on the peer's side; wait until the listener has it too. */
    if (!(wait_for(c, l, POLLIN, 3000) & POLLIN))
        return -1;
    *peer = p;
    return l;
}

int accepted(struct cx *c, int *peer)
{
    int l = listening(c, peer);
    int s = l < 0 ? -1 : c->o->accept4(l, NULL, NULL, 0);
    if (s >= 0)
        track(c, s);
    return s;
}

int wait_for(struct cx *c, int fd, short events, int ms)
{
    struct pollfd f = { .fd = fd, .events = events };
    int n = c->o->poll(&f, 1, ms);
    return n > 0 ? f.revents : n;
}

bool took_sigpipe(void)
{
    sigset_t pending, pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    if (sigpending(&pending) != 0 || !sigismember(&pending, SIGPIPE))
        return false;
    struct timespec zero = { 0, 0 };
    return sigtimedwait(&pipe, NULL, &zero) == SIGPIPE;
}

/* the runner */

static const char *current; /* "case name (column)", for the watchdog */

/* A case that hangs ends the run, naming the case, instead of running into make's limit. */
static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "conform: timed out in case ";
    write(2, msg, sizeof(msg) - 1);
    write(2, current, strlen(current));
    write(2, "\n", 1);
    _exit(1);
}

#define CASE_SECONDS 15

static struct outcome run_case(const struct conform_case *cc, const struct ops *o,
                               uint16_t port)
{
    struct cx c = { .o = o, .port = port, .listener = -1 };
    char name[128];
    snprintf(name, sizeof(name), "%s (%s)", cc->name, o->name);
    current = name;
    alarm(CASE_SECONDS);
    cc->run(&c);
    alarm(0);
    for (int i = 0; i < c.nfds; i++)
        o->close(c.fds[i]);
    for (int i = 0; i < c.nkfds; i++)
        conform_kernel.close(c.kfds[i]);
    took_sigpipe(); /* a stray one must not show in the next case */
    return c.r;
}

static void show(const struct outcome *r, char *buf, size_t len)
{
    int n;
    if (r->ret < 0)
        n = snprintf(buf, len, "%ld %s", r->ret, err_name(r->err));
    else if (r->is_fd)
        n = snprintf(buf, len, "fd");
    else
        n = snprintf(buf, len, "%ld", r->ret);
    if (r->out[0] != '\0' && n >= 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, " [%s]", r->out);
}

static bool same(const struct outcome *a, const struct outcome *b)
{
    bool ret_same = a->ret == b->ret || (a->is_fd && b->is_fd && a->ret >= 0 && b->ret >= 0);
    return ret_same && a->err == b->err && strcmp(a->out, b->out) == 0;
}

/* The libc side must really be netcore: its sockets are eventfds. */
static bool on_netcore(void)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0)
        return false;
    char path[64], link[64] = "";
    snprintf(path, sizeof(path), "/proc/self/fd/%d", s);
    ssize_t n = readlink(path, link, sizeof(link) - 1);
    close(s);
    return n > 0 && strstr(link, "eventfd") != NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4 || inet_pton(AF_INET, argv[1], &conform_env.peer) != 1 ||
        inet_pton(AF_INET, argv[2], &netcore_ops.self) != 1 ||
        inet_pton(AF_INET, argv[3], &conform_env.unused) != 1) {
        fprintf(stderr, "usage: conform PEER_IP NETCORE_IP UNUSED_IP\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!on_netcore()) {
        fprintf(stderr, "conform: libc sockets are not netcore's: run under the shim\n");
        return 99;
    }
    conform_env.bcast.s_addr = conform_env.peer.s_addr | htonl(0xff);
    kernel_ops = conform_kernel;
    kernel_ops.self = conform_env.peer;
    /* Cases check SIGPIPE themselves, as a pending signal. */
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigprocmask(SIG_BLOCK, &pipe, NULL);
    struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);

    const struct conform_case *tables[] = { conform_fd_cases, conform_addr_cases,
                                            conform_opt_cases, conform_io_cases };
    const char *only = getenv("CONFORM_ONLY");
    int counts[4] = { 0 }; /* ok, KNOWN, DIFF, BROKEN */
    int index = 0;
    printf("%-48s | %-36s | %-36s | verdict\n", "case", "kernel", "netcore");
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
        for (const struct conform_case *cc = tables[t]; cc->name != NULL; cc++, index++) {
            if (only != NULL && strstr(cc->name, only) == NULL)
                continue;
            uint16_t port = (uint16_t)(20000 + 4 * index);
            struct outcome k = run_case(cc, &kernel_ops, port);
            struct outcome n = run_case(cc, &netcore_ops, port);
            int v = k.broken || n.broken ? 3 : same(&k, &n) ? 0 : cc->known ? 1 : 2;
            static const char *verdict[] = { "ok", "KNOWN", "DIFF", "BROKEN" };
            char ks[256], ns[256];
            show(&k, ks, sizeof(ks));
            show(&n, ns, sizeof(ns));
            printf("%-48s | %-36s | %-36s | %s", cc->name, ks, ns, verdict[v]);
            if (v == 1)
                printf(" (%s)", cc->known);
            printf("\n");
            counts[v]++;
        }
    }
    printf("conform: %d ok, %d KNOWN, %d DIFF, %d BROKEN\n", counts[0], counts[1], counts[2],
           counts[3]);
    return counts[2] + counts[3] > 0;
}
