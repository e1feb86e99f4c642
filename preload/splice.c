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
 * Other flags (MOVE, MORE, GIFT) are hints and ignored. sendfile from a socket waits for its
 * out fd as write does, and says EAGAIN, before taking anything, when a non-blocking out
 * takes nothing now.
 *
 * Where the kernel would leave bytes in their source, this cannot put them back. The kernel
 * consumes only what it moved: socket -> pipe takes from the socket what fit in the pipe,
 * pipe -> socket takes from the pipe what the socket accepted, the rest stays for the next
 * call. Here the bytes are taken first, so: a pipe as destination is read for its room
 * beforehand (nothing to wait for unless another writer fills it meanwhile); the bytes are
 * then written in full, waiting for room or send space if need be, even in a non-blocking
 * call (nc__write_all); and if the destination fails partway (peer reset, EPIPE, the pipe's
 * last reader gone) the call returns the count written and the bytes taken but not written
 * are lost, where the kernel would have left them in the pipe or the socket for another
 * reader. The destination is dead then, so only a program that goes on to read the source
 * some other way can tell.
 *
 * tee and vmsplice take pipes only: on a socket and on the eventfd alike the kernel answers
 * EINVAL (tee) and EBADF (vmsplice), so they are left to it (tests/libc_symbols_left.txt).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "shim.h"

/* The most one call moves; a heap buffer, as a program's thread stack may be small. */
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

/* Room in pipe fd, in bytes (at least one page once poll says it is not full). */
static size_t pipe_room(int fd)
{
    int cap = LIBC(fcntl)(fd, F_GETPIPE_SZ);
    int used = 0;
    if (cap < 0 || LIBC(ioctl)(fd, FIONREAD, &used) < 0 || used >= cap)
        return 4096;
    return (size_t)(cap - used);
}

/*
 * Moves up to len bytes from in to out through a buffer, one of them a netcore socket (read
 * and write are the interposed ones, so either side may be ours or the kernel's). First
 * waits, unless nb, until the other side is ready: out for POLLOUT when to_out (the socket
 * is in), else in for POLLIN; nb and not ready gives EAGAIN. A pipe as out is taken for no
 * more than its room, and one without readers gives EPIPE and SIGPIPE before anything is
 * taken, as splice_to_pipe does. Returns the count moved, 0 at end of input, or -errno.
 */
static ssize_t bounce(int in, int out, size_t len, bool nb, bool to_out)
{
    struct pollfd p = { .fd = to_out ? out : in, .events = to_out ? POLLOUT : POLLIN };
    int r = poll(&p, 1, nb ? 0 : -1);
    if (r < 0)
        return -errno;
    if (r == 0)
        return -EAGAIN;
    size_t want = len < BOUNCE ? len : BOUNCE;
    if (to_out && is_pipe(out)) {
        if (p.revents & POLLERR) {
            raise(SIGPIPE);
            return -EPIPE;
        }
        size_t room = pipe_room(out);
        want = want < room ? want : room;
    }
    char *buf = malloc(want);
    if (buf == NULL)
        return -ENOMEM;
    ssize_t n = read(in, buf, want); /* a pipe empty with no writer left: 0, as the kernel */
    if (n > 0)
        n = nc__write_all(out, buf, (size_t)n, true);
    else if (n < 0)
        n = -errno;
    free(buf);
    return n;
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
    /* One side is our socket, the other a pipe: which way the bytes go. */
    bool to_pipe = in_ours && !out_ours && is_pipe(out);
    if (!to_pipe && !(out_ours && !in_ours && is_pipe(in)))
        return nc__ret(-EINVAL);
    int pipe_fd = to_pipe ? out : in;
    /* An offset on the pipe is ESPIPE, one on the socket EINVAL. */
    if ((to_pipe ? off_out : off_in) != NULL)
        return nc__ret(-ESPIPE);
    if ((to_pipe ? off_in : off_out) != NULL)
        return nc__ret(-EINVAL);
    bool nb = (flags & SPLICE_F_NONBLOCK) != 0 || nonblocking(pipe_fd);
    return nc__ret(bounce(in, out, len, nb, to_pipe));
}

ssize_t nc__sendfile_from(int in, int out, off_t *off, size_t count)
{
    if (off != NULL)
        return -ESPIPE;
    if (count == 0)
        return 0;
    return bounce(in, out, count, nonblocking(out), true);
}
