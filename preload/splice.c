/*
 * splice with a netcore socket on one side, and sendfile from a netcore socket. The kernel
 * moves pages between a socket and a pipe (socket -> pipe, pipe -> socket) and sendfile
 * reads from any file that splices, a socket included; handed the eventfd instead it says
 * EINVAL. Here the data goes through a bounce buffer: recv from the socket then write, or
 * read then send, so a program that splices (haproxy, socat -T, proxies built on splice)
 * works as on the kernel. The argument checks follow the kernel's order (fs/splice.c):
 *
 *   len 0 -> 0; unknown flags -> EINVAL; an offset for the pipe side -> ESPIPE; an offset
 *   for the socket side -> EINVAL (sockets cannot pread or pwrite); two sockets, or a socket
 *   with anything but a pipe -> EINVAL; sendfile from a socket with an offset -> ESPIPE.
 *
 * SPLICE_F_NONBLOCK (or O_NONBLOCK on the pipe) makes the pipe side not wait; the socket side
 * waits unless the socket itself is O_NONBLOCK, as in the kernel (tcp_splice_read looks at the
 * socket's own flag only: a SPLICE_F_NONBLOCK splice from an idle blocking socket blocks).
 * Other flags (MOVE, MORE, GIFT) are hints and ignored. Where the kernel would leave bytes
 * in the pipe, this cannot put them back: bytes read from the pipe are always sent in full,
 * waiting for send space if need be (even for a non-blocking call), and bytes received from
 * the socket are written to the pipe in full, waiting for room if another writer filled it.
 * Nothing is lost; a non-blocking call may wait in those two cases.
 *
 * tee and vmsplice take pipes only: on a socket and on the eventfd alike the kernel answers
 * EINVAL (tee) and EBADF (vmsplice), so they are left to it (tests/libc_symbols_left.txt).
 */
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "shim.h"

#define BOUNCE (64 * 1024)

static bool is_pipe(int fd)
{
    struct stat st;
    return LIBC(fstat)(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

static bool nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_NONBLOCK);
}

/* Waits until fd (a kernel fd or a netcore one) reports events; 0, or -errno. */
static int wait_for(int fd, short events)
{
    struct pollfd p = { .fd = fd, .events = events };
    return poll(&p, 1, -1) < 0 ? -errno : 0;
}

/* Writes all of buf to fd (a pipe, a file, or a socket of either kind): the bytes were
 * taken from their source and have nowhere else to go. Returns len, or -errno when nothing
 * could be written; a later failure returns what was written. */
static ssize_t put_all(int fd, const char *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, buf + done, len - done);
        if (n < 0 && errno == EAGAIN && wait_for(fd, POLLOUT) == 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return done > 0 ? (ssize_t)done : (n < 0 ? -errno : -EIO);
        done += (size_t)n;
    }
    return (ssize_t)done;
}

/* Room in pipe fd, in bytes (at least one page once poll says it is not full). */
static size_t pipe_room(int fd)
{
    int cap = LIBC(fcntl)(fd, F_GETPIPE_SZ);
    int used = 0;
    if (cap < 0 || LIBC(ioctl)(fd, FIONREAD, &used) < 0 || used >= cap)
        return 4096;
    return (size_t)(cap - used);
}

/* Socket (program fd in) -> pipe out. */
static ssize_t from_socket(int in, int out, size_t len, bool nb)
{
    nb = nb || nonblocking(out);
    struct pollfd p = { .fd = out, .events = POLLOUT };
    int r = LIBC(poll)(&p, 1, nb ? 0 : -1);
    if (r < 0)
        return -errno;
    if (r == 0)
        return -EAGAIN;
    if (p.revents & POLLERR) {
        raise(SIGPIPE); /* no reader left: EPIPE and SIGPIPE, as splice_to_pipe */
        return -EPIPE;
    }
    size_t room = pipe_room(out);
    size_t want = len < room ? len : room;
    char buf[BOUNCE];
    if (want > sizeof(buf))
        want = sizeof(buf);
    ssize_t n = recv(in, buf, want, 0);
    if (n <= 0)
        return n < 0 ? -errno : 0;
    return put_all(out, buf, (size_t)n);
}

/* Pipe in -> socket (program fd out). */
static ssize_t to_socket(int in, int out, size_t len, bool nb)
{
    nb = nb || nonblocking(in);
    struct pollfd p = { .fd = in, .events = POLLIN };
    int r = LIBC(poll)(&p, 1, nb ? 0 : -1);
    if (r < 0)
        return -errno;
    if (r == 0)
        return -EAGAIN;
    char buf[BOUNCE];
    size_t want = len < sizeof(buf) ? len : sizeof(buf);
    ssize_t n = LIBC(read)(in, buf, want);
    if (n <= 0)
        return n < 0 ? -errno : 0; /* empty with no writer left: 0, as the kernel */
    return put_all(out, buf, (size_t)n);
}

ssize_t splice(int in, loff_t *off_in, int out, loff_t *off_out, size_t len,
               unsigned int flags)
{
    int hin = -1, hout = -1;
    bool in_ours = OURS(in, hin), out_ours = OURS(out, hout);
    if (!in_ours && !out_ours)
        return LIBC(splice)(in, off_in, out, off_out, len, flags);
    if (len == 0)
        return 0;
    if (flags & ~(SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT))
        return nc__ret(-EINVAL);
    bool nb = (flags & SPLICE_F_NONBLOCK) != 0;
    if (in_ours && !out_ours && is_pipe(out)) {
        if (off_out != NULL)
            return nc__ret(-ESPIPE);
        if (off_in != NULL)
            return nc__ret(-EINVAL);
        return nc__ret(from_socket(in, out, len, nb));
    }
    if (out_ours && !in_ours && is_pipe(in)) {
        if (off_in != NULL)
            return nc__ret(-ESPIPE);
        if (off_out != NULL)
            return nc__ret(-EINVAL);
        return nc__ret(to_socket(in, out, len, nb));
    }
    return nc__ret(-EINVAL);
}

ssize_t nc__sendfile_from(int in, int out, off_t *off, size_t count)
{
    if (off != NULL)
        return -ESPIPE;
    if (count == 0)
        return 0;
    char buf[BOUNCE];
    ssize_t n = recv(in, buf, count < sizeof(buf) ? count : sizeof(buf), 0);
    if (n <= 0)
        return n < 0 ? -errno : 0;
    return put_all(out, buf, (size_t)n);
}
