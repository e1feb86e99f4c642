/*
 * What kind of file an fd is. A program asks whether fd 0 is a socket (inetd-style servers,
 * systemd's sd_is_socket, libuv's uv_guess_handle, Python's socket.socket(fileno=0)) with
 * fstat and S_ISSOCK; the fd it holds for a netcore socket is an eventfd, whose anonymous
 * inode says mode 0600, no file type. So for a netcore fd the fstat family answers what the
 * kernel answers for a socket, field by field from a kernel socket (tests/sem_entry.c):
 *
 *   st_mode   S_IFSOCK | 0777                       (eventfd: 0600)
 *   st_dev    sockfs's device, read once from a kernel socket
 *   st_ino    NC_INO_BASE + the socket's handle: the same for every dup of one socket,
 *             distinct between live sockets (the kernel numbers each socket inode anew; a
 *             handle is reused after its socket is closed)
 *   st_uid/gid the effective ids at the first such call, read once (the kernel: the
 *             creator's fsuid/fsgid, which a later change of ids does not change either)
 *   st_nlink 1, st_size 0, st_blocks 0, st_blksize 4096, st_rdev 0   (as both)
 *   times     left as the eventfd's inode has them (the kernel: the socket's creation)
 *
 * Covered: fstat, fstat64, __fxstat(64), fstatat(64)/__fxstatat(64) and statx with
 * AT_EMPTY_PATH on a netcore fd, and the same calls plus stat, stat64, __xstat(64) on a path
 * /proc/self/fd/N, /proc/thread-self/fd/N, /proc/PID/fd/N (this process) or /dev/fd/N that
 * names a netcore fd and is followed. Also fstatfs (f_type SOCKFS_MAGIC, where the eventfd
 * says ANON_INODE_FS_MAGIC), isfdtype (glibc's calls its internal fstat), and lseek: an
 * eventfd accepts lseek and returns 0, a socket is not seekable (ESPIPE), and programs use
 * lseek to tell a pipe or socket from a file.
 */
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "shim.h"

/* Far above the inode numbers sockfs hands out (a 32-bit counter). */
#define NC_INO_BASE (0x6e63ULL << 40)

static dev_t sockfs_dev;
static uid_t sock_uid;
static gid_t sock_gid;
static pthread_once_t sockfs_once = PTHREAD_ONCE_INIT;

static void learn_sockfs(void)
{
    sock_uid = geteuid();
    sock_gid = getegid();
    int s = LIBC(socket)(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct stat st;
    if (s >= 0 && LIBC(fstat)(s, &st) == 0)
        sockfs_dev = st.st_dev;
    if (s >= 0)
        LIBC(close)(s);
}

/* The fields in which a socket's inode differs from the eventfd's (see the table above). */
static void as_socket(int h, struct stat *st)
{
    pthread_once(&sockfs_once, learn_sockfs);
    st->st_mode = S_IFSOCK | 0777;
    st->st_dev = sockfs_dev;
    st->st_ino = NC_INO_BASE + (ino_t)h;
    st->st_uid = sock_uid;
    st->st_gid = sock_gid;
    st->st_nlink = 1;
    st->st_size = 0;
    st->st_blocks = 0;
    st->st_blksize = 4096;
    st->st_rdev = 0;
}

/* The same fields in statx's form, each from as_socket's: the values are stated once. */
static void statx_as_socket(int h, struct statx *sx)
{
    struct stat st;
    as_socket(h, &st);
    sx->stx_mode = (unsigned short)st.st_mode;
    sx->stx_dev_major = major(st.st_dev);
    sx->stx_dev_minor = minor(st.st_dev);
    sx->stx_ino = st.st_ino;
    sx->stx_uid = st.st_uid;
    sx->stx_gid = st.st_gid;
    sx->stx_nlink = (uint32_t)st.st_nlink;
    sx->stx_size = (uint64_t)st.st_size;
    sx->stx_blocks = (uint64_t)st.st_blocks;
    sx->stx_blksize = (uint32_t)st.st_blksize;
    sx->stx_rdev_major = major(st.st_rdev);
    sx->stx_rdev_minor = minor(st.st_rdev);
}

/*
 * The handle of the netcore fd that path names through /proc or /dev/fd, or -1. Only exact
 * forms "PREFIX/N": anything longer (/proc/self/fd/3/x) is the kernel's to refuse. Every
 * stat() of the program comes here: a path that does not start "/p" or "/d" is let go at
 * once, and a /proc/PID one is parsed only for digits after "/proc/".
 */
static int path_handle(const char *path)
{
    static const char *const prefixes[] = { "/proc/self/fd/", "/proc/thread-self/fd/",
                                            "/dev/fd/" };
    if (path == NULL || path[0] != '/' || (path[1] != 'p' && path[1] != 'd') ||
        nc_stack == NULL || nc__in_stack_thread)
        return -1;
    const char *rest = NULL;
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]) && rest == NULL; i++)
        if (strncmp(path, prefixes[i], strlen(prefixes[i])) == 0)
            rest = path + strlen(prefixes[i]);
    if (rest == NULL && strncmp(path, "/proc/", 6) == 0 && path[6] >= '0' && path[6] <= '9') {
        char *end;
        long pid = strtol(path + 6, &end, 10);
        if (strncmp(end, "/fd/", 4) == 0 && pid == getpid())
            rest = end + 4;
    }
    if (rest == NULL || *rest < '0' || *rest > '9')
        return -1;
    char *end;
    long fd = strtol(rest, &end, 10);
    if (*end != '\0' || fd > 0x7fffffff)
        return -1;
    return nc__fd_handle((int)fd);
}

/* The handle fstatat(dirfd, path, ..., flags) would describe, or -1. */
static int at_handle(int dirfd, const char *path, int flags)
{
    int h;
    if (path != NULL && path[0] == '\0' && (flags & AT_EMPTY_PATH) && OURS(dirfd, h))
        return h;
    return flags & AT_SYMLINK_NOFOLLOW ? -1 : path_handle(path);
}

int fstat(int fd, struct stat *st)
{
    int h;
    int rc = LIBC(fstat)(fd, st);
    if (rc == 0 && OURS(fd, h))
        as_socket(h, st);
    return rc;
}

int fstat64(int fd, struct stat64 *st)
{
    return fstat(fd, (struct stat *)st);
}

int __fxstat(int ver, int fd, struct stat *st)
{
    int h;
    int rc = LIBC(__fxstat)(ver, fd, st);
    if (rc == 0 && OURS(fd, h))
        as_socket(h, st);
    return rc;
}

int __fxstat64(int ver, int fd, struct stat64 *st)
{
    return __fxstat(ver, fd, (struct stat *)st);
}

int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
    int rc = LIBC(fstatat)(dirfd, path, st, flags);
    int h = rc == 0 ? at_handle(dirfd, path, flags) : -1;
    if (h >= 0)
        as_socket(h, st);
    return rc;
}

int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
    return fstatat(dirfd, path, (struct stat *)st, flags);
}

int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
    int rc = LIBC(__fxstatat)(ver, dirfd, path, st, flags);
    int h = rc == 0 ? at_handle(dirfd, path, flags) : -1;
    if (h >= 0)
        as_socket(h, st);
    return rc;
}

int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags)
{
    return __fxstatat(ver, dirfd, path, (struct stat *)st, flags);
}

int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *sx)
{
    int rc = LIBC(statx)(dirfd, path, flags, mask, sx);
    int h = rc == 0 ? at_handle(dirfd, path, flags) : -1;
    if (h >= 0)
        statx_as_socket(h, sx);
    return rc;
}

int stat(const char *path, struct stat *st)
{
    int rc = LIBC(stat)(path, st);
    int h = rc == 0 ? path_handle(path) : -1;
    if (h >= 0)
        as_socket(h, st);
    return rc;
}

int stat64(const char *path, struct stat64 *st)
{
    return stat(path, (struct stat *)st);
}

int __xstat(int ver, const char *path, struct stat *st)
{
    int rc = LIBC(__xstat)(ver, path, st);
    int h = rc == 0 ? path_handle(path) : -1;
    if (h >= 0)
        as_socket(h, st);
    return rc;
}

int __xstat64(int ver, const char *path, struct stat64 *st)
{
    return __xstat(ver, path, (struct stat *)st);
}

int fstatfs(int fd, struct statfs *sf)
{
    int h;
    int rc = LIBC(fstatfs)(fd, sf);
    if (rc == 0 && OURS(fd, h))
        sf->f_type = SOCKFS_MAGIC;
    return rc;
}

int fstatfs64(int fd, struct statfs64 *sf)
{
    return fstatfs(fd, (struct statfs *)sf);
}

int isfdtype(int fd, int type)
{
    int h;
    if (!OURS(fd, h))
        return LIBC(isfdtype)(fd, type);
    return type == S_IFSOCK;
}

off_t lseek(int fd, off_t off, int whence)
{
    int h;
    if (!OURS(fd, h))
        return LIBC(lseek)(fd, off, whence);
    return (off_t)nc__ret(-ESPIPE);
}

off64_t lseek64(int fd, off64_t off, int whence)
{
    return lseek(fd, off, whence);
}
