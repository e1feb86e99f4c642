/*
 * Raw system calls for the core. In a preloaded process the shim interposes read, write,
 * poll and close, and syscall() itself (preload/syscall.c); the core's own eventfds, device
 * fds and futexes must never go through it, so the core calls the kernel directly.
 */
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shimapi.h"

/*
 * The kernel by number. Linked into a program, syscall is libc's; in libnetcore.so the name
 * binds to the shim's interposer, so the shim points this at libc's own when it resolves
 * libc (its first constructor, or earlier on first use): every raw call of the core and the
 * shim then skips the interposer's dispatch, whoever called it back.
 */
long (*nc__raw_syscall)(long nr, ...) = syscall;

static int ret_errno(long r)
{
    return r < 0 ? -errno : (int)r;
}

int nc__sys_read(int fd, void *buf, size_t len)
{
    return ret_errno(nc__raw_syscall(SYS_read, fd, buf, len));
}

int nc__sys_readv(int fd, const struct iovec *iov, int n)
{
    return ret_errno(nc__raw_syscall(SYS_readv, fd, iov, n));
}

int nc__sys_write(int fd, const void *buf, size_t len)
{
    return ret_errno(nc__raw_syscall(SYS_write, fd, buf, len));
}

/* send(2) on a kernel socket, flags as given; bytes sent or negative errno. */
int nc__sys_send(int fd, const void *buf, size_t len, int flags)
{
    return ret_errno(nc__raw_syscall(SYS_sendto, fd, buf, len, flags, NULL, 0));
}

int nc__sys_writev(int fd, const struct iovec *iov, int n)
{
    return ret_errno(nc__raw_syscall(SYS_writev, fd, iov, n));
}

int nc__sys_close(int fd)
{
    return ret_errno(nc__raw_syscall(SYS_close, fd));
}

void nc__sys_clear_fd(int *fd)
{
    if (*fd >= 0)
        nc__sys_close(*fd);
    *fd = -1;
}

long nc__sys_sendmsg_fd(int fd, const void *buf, size_t len, int pass_fd, int flags)
{
    struct iovec iov = { (void *)buf, len };
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } cm;
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (pass_fd >= 0) {
        memset(&cm, 0, sizeof(cm));
        mh.msg_control = cm.buf;
        mh.msg_controllen = sizeof(cm.buf);
        struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(h), &pass_fd, sizeof(int));
    }
    long n;
    do
        n = nc__raw_syscall(SYS_sendmsg, fd, &mh, flags);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

void nc__fd_list(int *fd, void *arg)
{
    struct nc_fd_list *l = arg;
    if (*fd >= 0 && l->n < l->cap)
        l->fds[l->n++] = *fd;
}

void nc__fd_clear(int *fd, void *arg)
{
    (void)arg;
    nc__sys_clear_fd(fd);
}

int nc__sys_poll1(int fd, short events, int timeout_ms)
{
    struct pollfd p = { .fd = fd, .events = events };
    struct timespec ts, *tsp = NULL;
    if (timeout_ms >= 0) {
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
        tsp = &ts;
    }
    return ret_errno(nc__raw_syscall(SYS_ppoll, &p, 1, tsp, NULL, 0));
}

/*
 * The kernel gives the lowest free number, and programs pick numbers of their own: a shell's
 * 3-9, socket activation's 3 and up, dup2(fd, 3) before an exec. A program that dup2's onto
 * a number the stack holds replaces the stack's file without knowing it (the stack would
 * then signal, read or close the program's socket). So every fd of the stack's own moves up
 * to half the fd limit, at most 512 (higher would only grow the fd table), or stays where it
 * is when nothing is free up there. Keeps FD_CLOEXEC (all of the core's fds have it).
 */
static long high_floor(void)
{
    static _Atomic long floor_fd;
    long hi = atomic_load_explicit(&floor_fd, memory_order_relaxed);
    if (hi == 0) {
        struct rlimit rl;
        long lim = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                       ? (long)rl.rlim_cur
                       : 1024;
        hi = lim / 2 < 512 ? lim / 2 : 512;
        atomic_store_explicit(&floor_fd, hi, memory_order_relaxed);
    }
    return hi;
}

int nc__fd_high(int fd)
{
    long hi = high_floor();
    if (fd < 0 || fd >= hi)
        return fd;
    int nfd = (int)nc__raw_syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, hi);
    if (nfd < 0)
        return fd;
    nc__raw_syscall(SYS_close, fd);
    return nfd;
}

int nc__fd_high_dup(int fd)
{
    int nfd = (int)nc__raw_syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, high_floor());
    if (nfd < 0) /* nothing free up there (or the floor is past the limit): anywhere */
        nfd = (int)nc__raw_syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 0);
    return ret_errno(nfd);
}

int nc__sys_eventfd(void)
{
    return nc__fd_high(ret_errno(nc__raw_syscall(SYS_eventfd2, 0, EFD_NONBLOCK | EFD_CLOEXEC)));
}

void nc__efd_signal(int efd)
{
    uint64_t one = 1;
    /* EAGAIN only when the counter is saturated, which still reads as "signalled". */
    (void)nc__sys_write(efd, &one, sizeof(one));
}

void nc__efd_drain(int efd)
{
    uint64_t v;
    (void)nc__sys_read(efd, &v, sizeof(v));
}
