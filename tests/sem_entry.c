/*
 * sem_entry — entry points a program reaches a socket by besides the common calls (issue 13),
 * run by tests/test_sem_entry.sh on the kernel stack and then on netcore, with the same
 * expectations: syscall() by number (SYS_socket, SYS_connect, SYS_write, SYS_read,
 * SYS_sendmmsg, SYS_recvmmsg, SYS_getsockopt, SYS_poll, SYS_fstat), the fstat family and
 * S_ISSOCK (also on fd 0 after dup2), lseek/pread ESPIPE, preadv2/pwritev2 at offset -1,
 * splice both ways with its errors and 8 MiB through it, tee/vmsplice refusals, sendfile from
 * a socket, and epoll_pwait2 (also on a kernel fd whose data looks like netcore's own tag,
 * registered before the program's first socket: on netcore, before the stack starts).
 *
 * usage: sem_entry PEER-IP TCP-ECHO-PORT UDP-ECHO-PORT
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (cond) {                                                                        \
            printf("ok   ");                                                               \
        } else {                                                                           \
            printf("FAIL ");                                                               \
            failures++;                                                                    \
        }                                                                                  \
        printf(__VA_ARGS__);                                                               \
        printf("\n");                                                                      \
    } while (0)

/* A call that must fail with errno want. */
#define ERRNO(call, want, what)                                                            \
    do {                                                                                   \
        errno = 0;                                                                         \
        long r_ = (long)(call);                                                            \
        int e_ = errno;                                                                    \
        CHECK(r_ == -1 && e_ == (want), "%s: %ld %s (want %s)", what, r_,                  \
              r_ < 0 ? strerrorname_np(e_) : "", strerrorname_np(want));                   \
    } while (0)

static struct sockaddr_in peer(const char *ip, int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
        fprintf(stderr, "bad address %s\n", ip);
        exit(2);
    }
    return a;
}

/* Reads exactly len bytes from fd with syscall(SYS_read); false on EOF or error. */
static bool read_exact(int fd, char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        long n = syscall(SYS_read, fd, buf + got, len - got);
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    return true;
}

/* TCP by number: socket, connect, write, read, getsockopt, poll, fstat. Returns the fd. */
static int tcp_by_number(const char *ip, int port)
{
    struct sockaddr_in a = peer(ip, port);
    int s = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
    CHECK(s >= 0, "syscall(SYS_socket) TCP: %d", s);
    long rc = syscall(SYS_connect, s, &a, sizeof(a));
    CHECK(rc == 0, "syscall(SYS_connect): %ld %s", rc, rc < 0 ? strerrorname_np(errno) : "");
    rc = syscall(SYS_write, s, "by-number", 9);
    CHECK(rc == 9, "syscall(SYS_write): %ld", rc);
    struct pollfd p = { .fd = s, .events = POLLIN };
    rc = syscall(SYS_poll, &p, 1, 10000);
    CHECK(rc == 1 && (p.revents & POLLIN), "syscall(SYS_poll): %ld revents %#x", rc, p.revents);
    char buf[16] = "";
    CHECK(read_exact(s, buf, 9) && memcmp(buf, "by-number", 9) == 0,
          "syscall(SYS_read) echo: '%.9s'", buf);
    int v = -1;
    socklen_t len = sizeof(v);
    rc = syscall(SYS_getsockopt, s, SOL_SOCKET, SO_PROTOCOL, &v, &len);
    CHECK(rc == 0 && v == IPPROTO_TCP, "syscall(SYS_getsockopt SO_PROTOCOL): %ld %d", rc, v);
    rc = syscall(SYS_getsockopt, s, SOL_SOCKET, SO_DOMAIN, &v, &len);
    CHECK(rc == 0 && v == AF_INET, "syscall(SYS_getsockopt SO_DOMAIN): %ld %d", rc, v);
    rc = syscall(SYS_getsockopt, s, SOL_SOCKET, SO_ACCEPTCONN, &v, &len);
    CHECK(rc == 0 && v == 0, "syscall(SYS_getsockopt SO_ACCEPTCONN): %ld %d", rc, v);
    struct stat st;
    rc = syscall(SYS_fstat, s, &st);
    CHECK(rc == 0 && S_ISSOCK(st.st_mode), "syscall(SYS_fstat): mode %o", st.st_mode);
    return s;
}

/* UDP by number: three datagrams out with SYS_sendmmsg, their echoes in with SYS_recvmmsg. */
static void udp_by_number(const char *ip, int port)
{
    struct sockaddr_in a = peer(ip, port);
    int u = (int)syscall(SYS_socket, AF_INET, SOCK_DGRAM, 0);
    CHECK(u >= 0, "syscall(SYS_socket) UDP: %d", u);
    static const char *const words[3] = { "first datagram", "second", "third one here" };
    struct iovec iov[3];
    struct mmsghdr m[3];
    memset(m, 0, sizeof(m));
    for (int i = 0; i < 3; i++) {
        iov[i] = (struct iovec){ (void *)words[i], strlen(words[i]) };
        m[i].msg_hdr = (struct msghdr){ .msg_name = &a, .msg_namelen = sizeof(a),
                                        .msg_iov = &iov[i], .msg_iovlen = 1 };
    }
    long rc = syscall(SYS_sendmmsg, u, m, 3, 0);
    CHECK(rc == 3, "syscall(SYS_sendmmsg): %ld %s", rc, rc < 0 ? strerrorname_np(errno) : "");
    char bufs[3][64];
    int got = 0;
    bool same = true;
    while (got < 3) {
        struct iovec riov[3];
        struct mmsghdr r[3];
        memset(r, 0, sizeof(r));
        for (int i = 0; i < 3; i++) {
            riov[i] = (struct iovec){ bufs[i], sizeof(bufs[i]) };
            r[i].msg_hdr = (struct msghdr){ .msg_iov = &riov[i], .msg_iovlen = 1 };
        }
        struct pollfd p = { .fd = u, .events = POLLIN };
        if (poll(&p, 1, 10000) != 1)
            break;
        rc = syscall(SYS_recvmmsg, u, r, 3 - got, MSG_DONTWAIT, NULL);
        if (rc <= 0)
            break;
        for (int i = 0; i < rc; i++) {
            size_t want = strlen(words[got + i]);
            same = same && r[i].msg_len == want && memcmp(bufs[i], words[got + i], want) == 0;
        }
        got += (int)rc;
    }
    CHECK(got == 3 && same, "syscall(SYS_recvmmsg): %d datagrams back, %s", got,
          same ? "in order and intact" : "different");
    close(u);
}

/* The fstat family, S_ISSOCK on fd 0, and the calls that tell a socket from a file. */
static void kind_of_file(int s)
{
    struct stat st, st2, other, ku;
    CHECK(fstat(s, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0777,
          "fstat: mode %o (want 140777)", st.st_mode);
    CHECK(st.st_nlink == 1 && st.st_size == 0 && st.st_blksize == 4096,
          "fstat: nlink %lu size %ld blksize %ld", (unsigned long)st.st_nlink,
          (long)st.st_size, (long)st.st_blksize);
    int ks = socket(AF_UNIX, SOCK_DGRAM, 0);
    CHECK(fstat(ks, &ku) == 0 && ku.st_dev == st.st_dev, "fstat: st_dev %#lx is sockfs's %#lx",
          (unsigned long)st.st_dev, (unsigned long)ku.st_dev);
    close(ks);
    int d = dup(s);
    CHECK(fstat(d, &st2) == 0 && st2.st_ino == st.st_ino && st2.st_dev == st.st_dev,
          "fstat: a dup has the same inode (%lu, %lu)", (unsigned long)st2.st_ino,
          (unsigned long)st.st_ino);
    close(d);
    int s2 = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fstat(s2, &other) == 0 && other.st_ino != st.st_ino,
          "fstat: another socket has another inode (%lu)", (unsigned long)other.st_ino);
    close(s2);
    int saved0 = dup(0);
    CHECK(dup2(s, 0) == 0 && fstat(0, &st2) == 0 && S_ISSOCK(st2.st_mode),
          "dup2(socket, 0): fstat(0) S_ISSOCK, mode %o", st2.st_mode);
    CHECK(isfdtype(0, S_IFSOCK) == 1 && isfdtype(0, S_IFIFO) == 0, "isfdtype(0, S_IFSOCK)");
    dup2(saved0, 0);
    close(saved0);
    struct statx sx;
    CHECK(statx(s, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx) == 0 && S_ISSOCK(sx.stx_mode) &&
              sx.stx_ino == st.st_ino,
          "statx(AT_EMPTY_PATH): mode %o", sx.stx_mode);
    CHECK(fstatat(s, "", &st2, AT_EMPTY_PATH) == 0 && S_ISSOCK(st2.st_mode),
          "fstatat(AT_EMPTY_PATH): mode %o", st2.st_mode);
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", s);
    CHECK(stat(path, &st2) == 0 && S_ISSOCK(st2.st_mode) && st2.st_ino == st.st_ino,
          "stat(%s): mode %o", path, st2.st_mode);
    snprintf(path, sizeof(path), "/dev/fd/%d", s);
    CHECK(fstatat(AT_FDCWD, path, &st2, 0) == 0 && S_ISSOCK(st2.st_mode),
          "fstatat(%s): mode %o", path, st2.st_mode);
    struct statfs sf;
    CHECK(fstatfs(s, &sf) == 0 && sf.f_type == SOCKFS_MAGIC, "fstatfs: f_type %#lx",
          (unsigned long)sf.f_type);
    ERRNO(lseek(s, 0, SEEK_CUR), ESPIPE, "lseek");
    char c;
    ERRNO(pread(s, &c, 1, 0), ESPIPE, "pread");
    CHECK(sockatmark(s) == 0, "sockatmark: 0");

    /* preadv2/pwritev2 at offset -1 are readv/writev; any other offset is ESPIPE. */
    struct iovec iov = { (void *)"pv2", 3 };
    CHECK(pwritev2(s, &iov, 1, -1, 0) == 3, "pwritev2(offset -1): 3 bytes");
    char buf[8] = "";
    struct iovec riov = { buf, 3 };
    struct pollfd p = { .fd = s, .events = POLLIN };
    poll(&p, 1, 10000);
    CHECK(preadv2(s, &riov, 1, -1, 0) == 3 && memcmp(buf, "pv2", 3) == 0,
          "preadv2(offset -1): '%.3s'", buf);
    ERRNO(preadv2(s, &riov, 1, 0, 0), ESPIPE, "preadv2(offset 0)");
    ERRNO(preadv2(s, &riov, 1, -1, RWF_NOWAIT), EAGAIN, "preadv2(RWF_NOWAIT), nothing there");
}

/* splice both ways through the echo peer, its errors, and sendfile from the socket. */
static void splicing(int s)
{
    int p[2], q[2];
    if (pipe(p) != 0 || pipe(q) != 0)
        exit(2);
    CHECK(write(p[1], "splice-me", 9) == 9, "pipe filled");
    ssize_t n = splice(p[0], NULL, s, NULL, 9, 0);
    CHECK(n == 9, "splice(pipe -> socket): %zd %s", n, n < 0 ? strerrorname_np(errno) : "");
    size_t got = 0;
    while (got < 9) {
        n = splice(s, NULL, q[1], NULL, 9 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    char buf[64] = "";
    CHECK(got == 9 && read(q[0], buf, sizeof(buf)) == 9 && memcmp(buf, "splice-me", 9) == 0,
          "splice(socket -> pipe): %zu bytes '%.9s'", got, buf);
    loff_t off = 0;
    ERRNO(splice(p[0], &off, s, NULL, 1, 0), ESPIPE, "splice(pipe with offset -> socket)");
    ERRNO(splice(p[0], NULL, s, &off, 1, 0), EINVAL, "splice(pipe -> socket with offset)");
    ERRNO(splice(s, &off, q[1], NULL, 1, 0), EINVAL, "splice(socket with offset -> pipe)");
    ERRNO(splice(s, NULL, q[1], &off, 1, 0), ESPIPE, "splice(socket -> pipe with offset)");
    FILE *f = tmpfile();
    ERRNO(splice(s, NULL, fileno(f), NULL, 1, 0), EINVAL, "splice(socket -> file)");
    fclose(f);
    /* SPLICE_F_NONBLOCK is for the pipe; the socket's own O_NONBLOCK decides its side. */
    int fl = fcntl(s, F_GETFL);
    fcntl(s, F_SETFL, fl | O_NONBLOCK);
    ERRNO(splice(s, NULL, q[1], NULL, 1, 0), EAGAIN,
          "splice(O_NONBLOCK socket -> pipe), nothing there");
    fcntl(s, F_SETFL, fl);
    CHECK(splice(s, NULL, q[1], NULL, 0, 0) == 0, "splice of 0 bytes: 0");
    ERRNO(tee(s, q[1], 1, 0), EINVAL, "tee(socket -> pipe)");
    struct iovec iov = { buf, 1 };
    ERRNO(vmsplice(s, &iov, 1, 0), EBADF, "vmsplice(socket)");

    /* sendfile with the socket as the source: what arrives on it goes to a pipe. */
    CHECK(write(s, "sendfile-in", 11) == 11, "sent for sendfile");
    got = 0;
    while (got < 11) {
        n = sendfile(q[1], s, NULL, 11 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    memset(buf, 0, sizeof(buf));
    CHECK(got == 11 && read(q[0], buf, sizeof(buf)) == 11 && memcmp(buf, "sendfile-in", 11) == 0,
          "sendfile(socket -> pipe): %zu bytes '%.11s'", got, buf);
    off_t foff = 0;
    ERRNO(sendfile(q[1], s, &foff, 1), ESPIPE, "sendfile(socket with offset)");
    /* Into a full O_NONBLOCK pipe: EAGAIN, and the bytes waiting on the socket stay there. */
    CHECK(write(s, "stays", 5) == 5, "sent for the full pipe");
    struct pollfd pin = { .fd = s, .events = POLLIN };
    CHECK(poll(&pin, 1, -1) == 1, "echo back on the socket");
    fcntl(q[1], F_SETFL, O_NONBLOCK);
    char page[4096] = "";
    size_t filled = 0;
    while (write(q[1], page, sizeof(page)) > 0)
        filled += sizeof(page);
    ERRNO(sendfile(q[1], s, NULL, 5), EAGAIN, "sendfile(socket -> full O_NONBLOCK pipe)");
    while (filled > 0 && (n = read(q[0], page, sizeof(page))) > 0)
        filled -= (size_t)n;
    memset(buf, 0, sizeof(buf));
    n = recv(s, buf, 5, MSG_WAITALL);
    CHECK(n == 5 && memcmp(buf, "stays", 5) == 0, "after EAGAIN the socket still has '%.5s'",
          buf);
    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(q[1]);
}

#define BULK (8u << 20)

/* Byte i of the bulk stream. */
static char bulk_byte(size_t i)
{
    return (char)((i * 2654435761u) >> 24);
}

/* Bulk sender: the pattern goes into a pipe, and from the pipe to the socket by splice. */
static void *bulk_send(void *arg)
{
    int s = *(int *)arg, p[2];
    if (pipe(p) != 0)
        return (void *)1;
    char buf[65536];
    size_t off = 0;
    while (off < BULK) {
        size_t n = BULK - off < sizeof(buf) ? BULK - off : sizeof(buf);
        for (size_t k = 0; k < n; k++)
            buf[k] = bulk_byte(off + k);
        if (write(p[1], buf, n) != (ssize_t)n)
            return (void *)1;
        size_t left = n;
        while (left > 0) {
            ssize_t m = splice(p[0], NULL, s, NULL, left, SPLICE_F_MORE);
            if (m <= 0)
                return (void *)1;
            left -= (size_t)m;
        }
        off += n;
    }
    close(p[0]);
    close(p[1]);
    return NULL;
}

/* 8 MiB through the echo peer: pipe -> socket by splice in one thread, socket -> pipe by
 * splice in this one, every byte compared with the pattern. */
static void splice_bulk(int s)
{
    pthread_t t;
    int q[2];
    if (pipe(q) != 0 || pthread_create(&t, NULL, bulk_send, &s) != 0)
        exit(2);
    char buf[65536];
    size_t got = 0, wrong = 0;
    while (got < BULK) {
        ssize_t n = splice(s, NULL, q[1], NULL, sizeof(buf), 0);
        if (n <= 0)
            break;
        if (read(q[0], buf, (size_t)n) != n)
            break;
        for (ssize_t k = 0; k < n; k++)
            wrong += buf[k] != bulk_byte(got + (size_t)k);
        got += (size_t)n;
    }
    void *rc;
    pthread_join(t, &rc);
    CHECK(got == BULK && wrong == 0 && rc == NULL,
          "splice 8 MiB pipe -> socket -> echo -> socket -> pipe: %zu bytes back, %zu wrong",
          got, wrong);
    close(q[0]);
    close(q[1]);
}

static void epoll2(int s)
{
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 77 };
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) == 0, "epoll_ctl ADD");
    struct timespec zero = { 0, 0 }, ten = { 10, 0 };
    struct epoll_event out;
    CHECK(epoll_pwait2(ep, &out, 1, &zero, NULL) == 0, "epoll_pwait2: nothing yet");
    CHECK(write(s, "e", 1) == 1, "sent for epoll");
    int n = epoll_pwait2(ep, &out, 1, &ten, NULL);
    CHECK(n == 1 && out.data.u32 == 77 && (out.events & EPOLLIN),
          "epoll_pwait2: %d event(s), data %u", n, out.data.u32);
    char c;
    CHECK(read(s, &c, 1) == 1 && c == 'e', "echo read");
    struct timespec bad = { 0, 1000000000 };
    ERRNO(epoll_pwait2(ep, &out, 1, &bad, NULL), EINVAL, "epoll_pwait2(tv_nsec 1e9)");
    close(ep);
}

/*
 * A pipe in an epoll set with data that carries netcore's tag in its top 16 bits, before any
 * socket exists: epoll_pwait2 and epoll_wait give the data back as registered, not the tag
 * and fd netcore registers such a kernel fd under.
 */
static void epoll2_tag_first(void)
{
    int p[2], ep = epoll_create1(0);
    CHECK(ep >= 0 && pipe(p) == 0, "epoll_create1, pipe");
    uint64_t tagged = 0x6e63ULL << 48 | 0x12345;
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tagged }, out = { 0 };
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) == 0, "epoll_ctl ADD pipe, tag-like data");
    CHECK(write(p[1], "t", 1) == 1, "write to pipe");
    struct timespec ten = { 10, 0 };
    int n = epoll_pwait2(ep, &out, 1, &ten, NULL);
    CHECK(n == 1 && out.data.u64 == tagged, "epoll_pwait2, no socket yet: %d, data %#llx",
          n, (unsigned long long)out.data.u64);
    out.data.u64 = 0;
    n = epoll_wait(ep, &out, 1, 10000);
    CHECK(n == 1 && out.data.u64 == tagged, "epoll_wait, no socket yet: %d, data %#llx",
          n, (unsigned long long)out.data.u64);
    close(p[0]);
    close(p[1]);
    close(ep);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s PEER-IP TCP-ECHO-PORT UDP-ECHO-PORT\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    epoll2_tag_first(); /* first: before any socket */
    int n = tcp_by_number(argv[1], atoi(argv[2]));
    udp_by_number(argv[1], atoi(argv[3]));
    /* The rest on a socket made the usual way, which must be on the same stack as the one
     * made by number: the same local address. */
    struct sockaddr_in a = peer(argv[1], atoi(argv[2])), ln, ls;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(s, (struct sockaddr *)&a, sizeof(a)) == 0, "connect");
    socklen_t len = sizeof(ln);
    getsockname(n, (struct sockaddr *)&ln, &len);
    len = sizeof(ls);
    getsockname(s, (struct sockaddr *)&ls, &len);
    char nb[INET_ADDRSTRLEN], sb[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &ln.sin_addr, nb, sizeof(nb));
    inet_ntop(AF_INET, &ls.sin_addr, sb, sizeof(sb));
    CHECK(ln.sin_addr.s_addr == ls.sin_addr.s_addr,
          "socket by number and by socket() on one stack: %s, %s", nb, sb);
    kind_of_file(s);
    splicing(s);
    splice_bulk(s);
    epoll2(s);
    close(s);
    CHECK(syscall(SYS_close, n) == 0, "syscall(SYS_close)");
    ERRNO(fcntl(n, F_GETFD), EBADF, "fcntl after SYS_close");
    printf("%s: %d failure(s)\n", argv[0], failures);
    return failures == 0 ? 0 : 1;
}
