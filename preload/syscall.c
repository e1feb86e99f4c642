/*
 * syscall(): a program that calls the kernel by number passes by every interposed wrapper.
 * Debian's libuv 1.44 sends UDP with syscall(SYS_sendmmsg, ...), so each datagram reached
 * the kernel with an eventfd and failed with ENOTSOCK. As Onload does, the socket, I/O,
 * polling and fd-table numbers go to the interposed functions (which hand any fd that is not
 * a netcore socket to the kernel, and set errno and return -1 just as syscall() does);
 * every other number goes to libc's syscall() with six arguments, untouched.
 *
 * The shim and the core never come here for their own kernel access (the core's eventfds and
 * TAP, futexes, the fd surgery of fork and exec on program fds still in the fd map): they call
 * nc__raw_syscall, which the shim points at libc's syscall() when it resolves libc. So every
 * call here is the program's, or a library's, and is dispatched whoever made it; only those
 * made on the netstack thread go to the kernel as they are.
 *
 * The raw calls differ from their wrappers in a few arguments, translated here: ppoll and
 * epoll_pwait(2) carry a sigset size, pselect6 a {sigset, size} pair, and preadv2/pwritev2
 * split the offset in two words (the low one is the whole offset on x86_64).
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

/* The sigset of a raw pselect6: a pointer to { const sigset_t *set; size_t size; }. */
static const sigset_t *pselect_mask(long arg)
{
    const struct {
        const sigset_t *set;
        size_t size;
    } *p = (const void *)arg;
    return p != NULL ? p->set : NULL;
}

#define P(i) ((void *)a[i])
#define I(i) ((int)a[i])

/* The interposed function for nr, called with the raw arguments; *done false when nr is not
 * one of them. */
static long dispatch(long nr, const long *a, bool *done)
{
    *done = true;
    switch (nr) {
    case SYS_read: return read(I(0), P(1), (size_t)a[2]);
    case SYS_write: return write(I(0), P(1), (size_t)a[2]);
    case SYS_readv: return readv(I(0), P(1), I(2));
    case SYS_writev: return writev(I(0), P(1), I(2));
    case SYS_preadv2: return preadv2(I(0), P(1), I(2), (off_t)a[3], I(5));
    case SYS_pwritev2: return pwritev2(I(0), P(1), I(2), (off_t)a[3], I(5));
    case SYS_close: return close(I(0));
    case SYS_socket: return socket(I(0), I(1), I(2));
    case SYS_bind: return bind(I(0), P(1), (socklen_t)a[2]);
    case SYS_listen: return listen(I(0), I(1));
    case SYS_accept: return accept(I(0), P(1), P(2));
    case SYS_accept4: return accept4(I(0), P(1), P(2), I(3));
    case SYS_connect: return connect(I(0), P(1), (socklen_t)a[2]);
    case SYS_shutdown: return shutdown(I(0), I(1));
    case SYS_sendto: return sendto(I(0), P(1), (size_t)a[2], I(3), P(4), (socklen_t)a[5]);
    case SYS_recvfrom: return recvfrom(I(0), P(1), (size_t)a[2], I(3), P(4), P(5));
    case SYS_sendmsg: return sendmsg(I(0), P(1), I(2));
    case SYS_recvmsg: return recvmsg(I(0), P(1), I(2));
    case SYS_sendmmsg: return sendmmsg(I(0), P(1), (unsigned int)a[2], I(3));
    case SYS_recvmmsg: return recvmmsg(I(0), P(1), (unsigned int)a[2], I(3), P(4));
    case SYS_getsockopt: return getsockopt(I(0), I(1), I(2), P(3), P(4));
    case SYS_setsockopt: return setsockopt(I(0), I(1), I(2), P(3), (socklen_t)a[4]);
    case SYS_getsockname: return getsockname(I(0), P(1), P(2));
    case SYS_getpeername: return getpeername(I(0), P(1), P(2));
    case SYS_poll: return poll(P(0), (nfds_t)a[1], I(2));
    case SYS_ppoll: return ppoll(P(0), (nfds_t)a[1], P(2), P(3));
    case SYS_select: return select(I(0), P(1), P(2), P(3), P(4));
    case SYS_pselect6: return pselect(I(0), P(1), P(2), P(3), P(4), pselect_mask(a[5]));
    case SYS_epoll_ctl: return epoll_ctl(I(0), I(1), I(2), P(3));
    case SYS_epoll_wait: return epoll_wait(I(0), P(1), I(2), I(3));
    case SYS_epoll_pwait: return epoll_pwait(I(0), P(1), I(2), I(3), P(4));
    case SYS_epoll_pwait2: return epoll_pwait2(I(0), P(1), I(2), P(3), P(4));
    case SYS_fcntl: return fcntl(I(0), I(1), a[2]);
    case SYS_ioctl: return ioctl(I(0), (unsigned long)a[1], P(2));
    case SYS_dup: return dup(I(0));
    case SYS_dup2: return dup2(I(0), I(1));
    case SYS_dup3: return dup3(I(0), I(1), I(2));
    case SYS_close_range: return close_range((unsigned)a[0], (unsigned)a[1], I(2));
    case SYS_sendfile: return sendfile(I(0), I(1), P(2), (size_t)a[3]);
    case SYS_splice: return splice(I(0), P(1), I(2), P(3), (size_t)a[4], (unsigned)a[5]);
    case SYS_fstat: return fstat(I(0), P(1));
    case SYS_newfstatat: return fstatat(I(0), P(1), P(2), I(3));
    case SYS_statx: return statx(I(0), P(1), I(2), (unsigned)a[3], P(4));
    case SYS_fstatfs: return fstatfs(I(0), P(1));
    case SYS_lseek: return lseek(I(0), (off_t)a[1], I(2));
    case SYS_setuid:
    case SYS_setreuid:
    case SYS_setresuid:
    case SYS_capset:
        /* Raw, these change only the calling thread: no glibc broadcast to the others, so
         * they stay raw; the stack starts first all the same (privdrop.c). */
        nc__before_drop();
        *done = false;
        return 0;
    default: *done = false; return 0;
    }
}

long syscall(long nr, ...)
{
    long a[6];
    va_list ap;
    va_start(ap, nr);
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long); /* as libc's syscall(): whatever the caller did not pass */
    va_end(ap);
    if (!nc__in_stack_thread) {
        bool done;
        long r = dispatch(nr, a, &done);
        if (done)
            return r;
    }
    return LIBC(syscall)(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
