/*
 * Relayed sockets whose driver is gone (remote.c has the rest of the client side).
 *
 * A relayed socket's fd is one end of a socketpair; when the driver dies, the kernel closes
 * the other end, and the program's end reports EPOLLIN|EPOLLHUP for ever. For a connection
 * that is right: a kernel connection ends too, a read reports it (ENETDOWN, remote_io.c) and
 * the program closes it. A listener or a UDP socket of the kernel, though, never becomes
 * ready when its network goes away; a level-triggered event loop (nginx's) that is told it
 * is, calls accept, gets ENETDOWN and asks again, spins at 100% of a core for as long as it
 * lives.
 *
 * So once the client learns that its driver is gone, every relayed listener and UDP socket
 * whose end has hung up (a driver closes its end only when it drops the socket, after the
 * last copy of the program's end is closed, or when it dies: the socket is gone for good) is
 * made inert: an unarmed timerfd, never readable nor writable, takes its fd number (dup3,
 * close-on-exec kept), and its entry in the fd map stays, marked NC_RK_GONE, so that every
 * call on it fails with ENETDOWN and close() works as before. A program that polls it,
 * selects it or adds it to an epoll set waits, as on a kernel's socket. A timerfd rather
 * than a pipe: it needs no other end kept, so an exec'd image that inherits it (and does not
 * know it) does not see a hang-up either.
 *
 * When the client learns it (nc__remote_gone): a control call fails with ENETDOWN or EBADF (a
 * new driver that does not know the socket), or a client's poll or select (poll.c) finds a
 * relayed listener or UDP socket hung up, which it then leaves out of its answer. An epoll
 * set's events carry the program's data, not the fd: there the call the program makes on
 * what was reported (accept, recvfrom) is what finds it. Then the whole fd map is looked at
 * only on proof: the thread's control connection that worked found the driver gone (once per
 * thread and death), or the call's own listener or UDP socket has hung up. A program reading
 * its many dead connections one by one pays one request each, not a look at every fd.
 *
 * Epoll sets hold a registration by (open file, fd number), and the socketpair's file may
 * stay open after the dup3 (a copy in another process: nginx's workers share their
 * listeners), where the registration would go on reporting it. The registrations are the
 * kernel's to tell: /proc/self/fdinfo of each epoll set of the process lists them (tfd,
 * events, data, inode). Each one of the socket is deleted before the dup3 and added again,
 * with its events and data, for the timerfd after it, so the program's later
 * EPOLL_CTL_MOD/DEL of the fd succeed as they would on the kernel's socket that is still in
 * its set. A process without /proc loses the registrations only (they then vanish with the
 * socketpair's last copy, and a DEL says ENOENT).
 *
 * Limits: another thread that closes the fd between the check and the dup3, and gets the
 * number back for a new file in that moment, would see it replaced; the inode is checked
 * again just before, which leaves a window of a system call.
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "shim.h"

#define BATCH 64     /* sockets looked at with one poll */
/* Epoll registrations moved per batch; beyond, they stay with the socketpair's file (and
 * report it until its last copy goes). */
#define REGS 256

struct hung {
    int fd;
    ino_t ino;
};

struct epreg {
    int epfd, fd;
    int hi;          /* the socket's index among the hung ones */
    uint32_t events;
    uint64_t data;
};

/* The process one of whose threads sweeps now, else 0. Not a mutex: a child forked while
 * its parent swept sees the parent's pid, and sweeps as it needs. */
static _Atomic pid_t sweeper;

static bool sweep_begin(void)
{
    pid_t me = getpid();
    pid_t cur = atomic_load(&sweeper);
    return cur != me && atomic_compare_exchange_strong(&sweeper, &cur, me);
}

static int hung_find(const struct hung *h, int n, int fd, ino_t ino)
{
    for (int i = 0; i < n; i++)
        if (h[i].fd == fd && h[i].ino == ino)
            return i;
    return -1;
}

/* One line of an epoll set's fdinfo: a registration of one of the hung sockets, into r. */
static void parse_line(const char *line, int epfd, const struct hung *h, int nh,
                       struct epreg *r, int *nr)
{
    int tfd;
    unsigned events;
    unsigned long long data;
    unsigned long ino;
    if (sscanf(line, "tfd: %d events: %x data: %llx pos:%*d ino:%lx", &tfd, &events, &data,
               &ino) != 4)
        return;
    int hi = hung_find(h, nh, tfd, (ino_t)ino);
    if (hi < 0 || *nr >= REGS)
        return;
    r[(*nr)++] = (struct epreg){ .epfd = epfd, .fd = tfd, .hi = hi, .events = events,
                                 .data = data };
}

/* The registrations of the hung sockets in epoll set epfd (its fdinfo, line by line). */
static void scan_set(int epfd, const struct hung *h, int nh, struct epreg *r, int *nr)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", epfd);
    int fd = (int)nc__raw_syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[4096];
    size_t have = 0;
    for (;;) {
        long n = nc__raw_syscall(SYS_read, fd, buf + have, sizeof(buf) - 1 - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = '\0';
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n')) != NULL) {
            *nl = '\0';
            parse_line(line, epfd, h, nh, r, nr);
            line = nl + 1;
        }
        have = (size_t)(buf + have - line);
        memmove(buf, line, have);
        if (have == sizeof(buf) - 1) /* no line is that long: not an fdinfo we know */
            break;
    }
    nc__raw_syscall(SYS_close, fd);
}

/* An entry of getdents64's answer. */
struct dent {
    uint64_t ino;
    int64_t off;
    unsigned short reclen;
    unsigned char type;
    char name[];
};

/* One fd of /proc/self/fd (dfd): its registrations of the hung sockets if it is an epoll set. */
static void scan_fd(int dfd, const char *name, const struct hung *h, int nh, struct epreg *r,
                    int *nr)
{
    char *end;
    long fd = strtol(name, &end, 10);
    if (*end != '\0' || end == name || fd == dfd)
        return;
    char target[64];
    ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
    if (n <= 0)
        return;
    target[n] = '\0';
    if (strcmp(target, "anon_inode:[eventpoll]") == 0)
        scan_set((int)fd, h, nh, r, nr);
}

/* Every epoll registration of the hung sockets in this process's sets, into r. System calls
 * only (no opendir's malloc): a signal handler's call may get here. */
static int find_regs(const struct hung *h, int nh, struct epreg *r)
{
    int nr = 0;
    int dfd = (int)nc__raw_syscall(SYS_openat, AT_FDCWD, "/proc/self/fd",
                                   O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return 0;
    _Alignas(8) char buf[4096];
    long n;
    while ((n = nc__raw_syscall(SYS_getdents64, dfd, buf, sizeof(buf))) > 0) {
        for (long off = 0; off < n;) {
            struct dent *d = (struct dent *)(buf + off);
            scan_fd(dfd, d->name, h, nh, r, &nr);
            off += d->reclen;
        }
    }
    nc__raw_syscall(SYS_close, dfd);
    return nr;
}

/* The inode of fd's file, or 0. */
static ino_t inode(int fd)
{
    struct stat st;
    return LIBC(fstat)(fd, &st) == 0 ? st.st_ino : 0;
}

/* The hung sockets h[0..nh) made inert (see the top), their registrations moved. */
static int make_inert(const struct hung *h, int nh)
{
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    if (tfd < 0)
        return 0;
    static struct epreg r[REGS]; /* one sweep at a time */
    int nr = find_regs(h, nh, r);
    for (int i = 0; i < nr; i++)
        LIBC(epoll_ctl)(r[i].epfd, EPOLL_CTL_DEL, r[i].fd, NULL);
    int done = 0;
    bool inert[BATCH];
    for (int i = 0; i < nh; i++) {
        int fd = h[i].fd;
        int k = nc__remote_kind(fd);
        inert[i] = false;
        if (k < 0 || inode(fd) != h[i].ino) /* closed meanwhile (by another thread) */
            continue;
        int fdf = LIBC(fcntl)(fd, F_GETFD);
        nc__remote_bits(fd, NC_RK_GONE, 0);
        inert[i] = LIBC(dup3)(tfd, fd, fdf >= 0 && (fdf & FD_CLOEXEC) ? O_CLOEXEC : 0) >= 0;
        done += inert[i];
    }
    for (int i = 0; i < nr; i++) {
        struct epoll_event ev = { .events = r[i].events, .data.u64 = r[i].data };
        if (inert[r[i].hi])
            LIBC(epoll_ctl)(r[i].epfd, EPOLL_CTL_ADD, r[i].fd, &ev);
    }
    LIBC(close)(tfd);
    return done;
}

/* Up to n sockets of p looked at (poll, no wait): the hung ones made inert. */
static int batch(struct pollfd *p, int n)
{
    if (LIBC(poll)(p, (nfds_t)n, 0) <= 0)
        return 0;
    struct hung h[BATCH];
    int nh = 0;
    for (int i = 0; i < n; i++) {
        ino_t ino;
        if ((p[i].revents & (POLLHUP | POLLNVAL)) == POLLHUP && (ino = inode(p[i].fd)) != 0)
            h[nh++] = (struct hung){ .fd = p[i].fd, .ino = ino };
    }
    return nh > 0 ? make_inert(h, nh) : 0;
}

/* A relayed listener or UDP socket whose driver has closed its end (never for another cause
 * than its death, or the socket's end). */
static bool hung(int fd, int k)
{
    if (k < 0 || (k & NC_RK_GONE) || (!(k & NC_RK_LISTENING) && (k & NC_RK_TYPE) != SOCK_DGRAM))
        return false;
    struct pollfd p = { .fd = fd, .events = 0 };
    return LIBC(poll)(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLNVAL)) == POLLHUP;
}

/*
 * Every relayed fd is looked at only when there is proof that the driver is gone: the
 * connection that worked found it gone (once per thread), or the socket of the call hung
 * up. A failed call on a connection alone (a program reading its many dead connections one
 * by one) costs no look at the whole fd map.
 */
void nc__remote_gone(int fd, bool lost)
{
    if (!lost && !hung(fd, nc__remote_kind(fd)))
        return;
    if (!sweep_begin())
        return; /* another thread sweeps now */
    struct pollfd p[BATCH];
    int n = 0, done = 0;
    for (int fd = nc__remote_next(0); fd >= 0; fd = nc__remote_next(fd + 1)) {
        int k = nc__remote_kind(fd);
        if (k < 0 || (k & NC_RK_GONE) ||
            (!(k & NC_RK_LISTENING) && (k & NC_RK_TYPE) != SOCK_DGRAM))
            continue; /* hung() one by one would cost a poll each */
        p[n++] = (struct pollfd){ .fd = fd, .events = 0 };
        if (n == BATCH) {
            done += batch(p, n);
            n = 0;
        }
    }
    if (n > 0)
        done += batch(p, n);
    atomic_store(&sweeper, 0);
    if (done > 0)
        nc__log(NETCORE_LOG_INFO, "the stack's driver is gone: %d listening or UDP socket%s "
                "will never be ready again (calls on them fail with ENETDOWN)", done,
                done == 1 ? "" : "s");
}
