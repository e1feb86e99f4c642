/*
 * conform: runs every case of the tables (conform_*.c) on the kernel's stack and on netcore
 * in one process, and prints one table row per case: the kernel's outcome, netcore's, and
 * ok, DIFF, KNOWN (a documented difference) or BROKEN (a setup step failed).
 *
 * Usage, under the shim inside the test namespace: conform PEER_IP NETCORE_IP UNUSED_IP
 * (CONFORM_ONLY=text runs only the cases whose name contains text). Exits 1 on any DIFF or
 * BROKEN row, 99 when not running on netcore at all.
 *
 * The libc socket calls reach the shim (netcore); the raw system calls, made through libc's
 * own syscall() (the shim interposes syscall() too), reach the kernel and never pass through
 * the shim, so kernel-column fds never enter the shim's fd map. Each
 * stack is given equivalent addresses: its own (SELF: the kernel's 198.18.0.1, netcore's
 * 198.18.0.2), and kernel peers on 198.18.0.1 (PEER), made by the test itself with raw
 * syscalls, serve both columns.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
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

/* kernel column: raw system calls, through libc's syscall() itself, looked up in libc (the
 * shim's syscall() would send socket numbers to netcore) */
static long (*ksys)(long, ...);

static int k_socket(int d, int t, int p) { return (int)ksys(SYS_socket, d, t, p); }
static int k_bind(int fd, const struct sockaddr *a, socklen_t l)
{
    return (int)ksys(SYS_bind, fd, a, l);
}
static int k_listen(int fd, int b) { return (int)ksys(SYS_listen, fd, b); }
static int k_accept(int fd, struct sockaddr *a, socklen_t *l)
{
    return (int)ksys(SYS_accept, fd, a, l);
}
static int k_accept4(int fd, struct sockaddr *a, socklen_t *l, int f)
{
    return (int)ksys(SYS_accept4, fd, a, l, f);
}
static int k_connect(int fd, const struct sockaddr *a, socklen_t l)
{
    return (int)ksys(SYS_connect, fd, a, l);
}
static ssize_t k_send(int fd, const void *b, size_t n, int f)
{
    return ksys(SYS_sendto, fd, b, n, f, NULL, 0);
}
static ssize_t k_sendto(int fd, const void *b, size_t n, int f, const struct sockaddr *a,
                        socklen_t l)
{
    return ksys(SYS_sendto, fd, b, n, f, a, l);
}
static ssize_t k_recv(int fd, void *b, size_t n, int f)
{
    return ksys(SYS_recvfrom, fd, b, n, f, NULL, NULL);
}
static ssize_t k_recvfrom(int fd, void *b, size_t n, int f, struct sockaddr *a, socklen_t *l)
{
    return ksys(SYS_recvfrom, fd, b, n, f, a, l);
}
static ssize_t k_sendmsg(int fd, const struct msghdr *m, int f)
{
    return ksys(SYS_sendmsg, fd, m, f);
}
static ssize_t k_recvmsg(int fd, struct msghdr *m, int f)
{
    return ksys(SYS_recvmsg, fd, m, f);
}
static int k_sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int f)
{
    return (int)ksys(SYS_sendmmsg, fd, v, n, f);
}
static int k_recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int f, struct timespec *t)
{
    return (int)ksys(SYS_recvmmsg, fd, v, n, f, t);
}
static ssize_t k_readv(int fd, const struct iovec *v, int n)
{
    return ksys(SYS_readv, fd, v, n);
}
static ssize_t k_writev(int fd, const struct iovec *v, int n)
{
    return ksys(SYS_writev, fd, v, n);
}
static ssize_t k_read(int fd, void *b, size_t n) { return ksys(SYS_read, fd, b, n); }
static ssize_t k_write(int fd, const void *b, size_t n) { return ksys(SYS_write, fd, b, n); }
static int k_shutdown(int fd, int how) { return (int)ksys(SYS_shutdown, fd, how); }
static int k_getsockopt(int fd, int lv, int nm, void *v, socklen_t *l)
{
    return (int)ksys(SYS_getsockopt, fd, lv, nm, v, l);
}
static int k_setsockopt(int fd, int lv, int nm, const void *v, socklen_t l)
{
    return (int)ksys(SYS_setsockopt, fd, lv, nm, v, l);
}
static int k_getsockname(int fd, struct sockaddr *a, socklen_t *l)
{
    return (int)ksys(SYS_getsockname, fd, a, l);
}
static int k_getpeername(int fd, struct sockaddr *a, socklen_t *l)
{
    return (int)ksys(SYS_getpeername, fd, a, l);
}
static int k_fcntl(int fd, int cmd, long arg) { return (int)ksys(SYS_fcntl, fd, cmd, arg); }
static int k_ioctl(int fd, unsigned long req, void *arg)
{
    return (int)ksys(SYS_ioctl, fd, req, arg);
}
static int k_poll(struct pollfd *f, nfds_t n, int ms) { return (int)ksys(SYS_poll, f, n, ms); }
static int k_epoll_create1(int flags) { return (int)ksys(SYS_epoll_create1, flags); }
static int k_epoll_ctl(int ep, int op, int fd, struct epoll_event *ev)
{
    return (int)ksys(SYS_epoll_ctl, ep, op, fd, ev);
}
static int k_epoll_wait(int ep, struct epoll_event *ev, int n, int ms)
{
    return (int)ksys(SYS_epoll_wait, ep, ev, n, ms);
}
static int k_dup(int fd) { return (int)ksys(SYS_dup, fd); }
static int k_close(int fd) { return (int)ksys(SYS_close, fd); }

const struct ops conform_kernel = {
    .name = "kernel",         .socket = k_socket,           .bind = k_bind,
    .listen = k_listen,       .accept = k_accept,           .accept4 = k_accept4,
    .connect = k_connect,     .send = k_send,               .sendto = k_sendto,
    .recv = k_recv,           .recvfrom = k_recvfrom,       .sendmsg = k_sendmsg,
    .recvmsg = k_recvmsg,     .sendmmsg = k_sendmmsg,       .recvmmsg = k_recvmmsg,
    .readv = k_readv,         .writev = k_writev,
    .read = k_read,           .write = k_write,
    .shutdown = k_shutdown,   .getsockopt = k_getsockopt,   .setsockopt = k_setsockopt,
    .getsockname = k_getsockname, .getpeername = k_getpeername, .fcntl = k_fcntl,
    .ioctl = k_ioctl,         .poll = k_poll,               .epoll_create1 = k_epoll_create1,
    .epoll_ctl = k_epoll_ctl, .epoll_wait = k_epoll_wait,   .dup = k_dup,
    .close = k_close,
};
static struct ops kernel_ops;

/* netcore column: the libc calls, which the shim takes */
static int l_fcntl(int fd, int cmd, long arg) { return fcntl(fd, cmd, arg); }
static int l_ioctl(int fd, unsigned long req, void *arg) { return ioctl(fd, req, arg); }

static struct ops netcore_ops = {
    .name = "netcore",        .socket = socket,             .bind = bind,
    .listen = listen,         .accept = accept,             .accept4 = accept4,
    .connect = connect,       .send = send,                 .sendto = sendto,
    .recv = recv,             .recvfrom = recvfrom,         .sendmsg = sendmsg,
    .recvmsg = recvmsg,       .sendmmsg = sendmmsg,         .recvmmsg = recvmmsg,
    .readv = readv,           .writev = writev,
    .read = read,             .write = write,
    .shutdown = shutdown,     .getsockopt = getsockopt,     .setsockopt = setsockopt,
    .getsockname = getsockname, .getpeername = getpeername, .fcntl = l_fcntl,
    .ioctl = l_ioctl,         .poll = poll,                 .epoll_create1 = epoll_create1,
    .epoll_ctl = epoll_ctl,   .epoll_wait = epoll_wait,     .dup = dup,
    .close = close,
};

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
    void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    ksys = libc != NULL ? (__typeof__(ksys))dlsym(libc, "syscall") : NULL;
    if (ksys == NULL) {
        fprintf(stderr, "conform: libc's syscall() not found: %s\n", dlerror());
        return 99;
    }
    if (!on_netcore()) {
        fprintf(stderr, "conform: libc sockets are not netcore's: run under the shim\n");
        return 99;
    }
    conform_env.bcast.s_addr = conform_env.peer.s_addr | htonl(0xff);
    conform_env.unused2.s_addr = htonl(ntohl(conform_env.unused.s_addr) + 1);
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
                                            conform_opt_cases, conform_io_cases,
                                            conform_conn_cases, conform_msg_cases,
                                            conform_epoll_cases };
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
