/*
 * Raw system calls for the core. In a preloaded process the shim interposes read, write,
 * poll and close, and syscall() itself (preload/syscall.c); the core's own eventfds, device
 * fds and futexes must never go through it, so the core calls the kernel directly.
 */
#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

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

int nc__sys_eventfd(void)
{
    return ret_errno(nc__raw_syscall(SYS_eventfd2, 0, EFD_NONBLOCK | EFD_CLOEXEC));
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
