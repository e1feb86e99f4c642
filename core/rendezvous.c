/*
 * rendezvous: how the processes sharing a device's stack find its driver (share.h).
 *
 * RUNDIR/stack-IFNAME-NETNS.lock is held with flock(LOCK_EX) by the process that drives the
 * device's stack; the kernel lets go when that process dies, however it dies, so a claim
 * that finds the lock free may remove a stale .sock and bind its own. Two claims racing
 * both open the lock file, and flock lets exactly one through; the other sees EWOULDBLOCK
 * and becomes a client. The directory must be the effective uid's own, mode 0700: anyone
 * who could write there could put a socket of their own in the driver's place and receive
 * every client's sockets.
 */
#include "rendezvous.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "netcore.h"
#include "shimapi.h"
#include "sys.h"

static int sys_ret(long r)
{
    return r < 0 ? -errno : (int)r;
}

/*
 * A directory for the rendezvous or the stats: made 0700 if missing (its parent is not
 * made), then it must be a directory, not a symbolic link, of the effective uid, with no
 * permission for group or others. var names the variable that chooses it, for the message.
 */
int nc__private_dir(const char *dir, const char *var, char *err, size_t errlen)
{
    struct stat sb;
    char dummy[8];
    if (err == NULL) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        int e = errno;
        snprintf(err, errlen, "%s: mkdir %s: %s", var, dir, strerror(e));
        return -e;
    }
    if (lstat(dir, &sb) != 0) {
        int e = errno;
        snprintf(err, errlen, "%s: lstat %s: %s", var, dir, strerror(e));
        return -e;
    }
    if (S_ISLNK(sb.st_mode)) {
        snprintf(err, errlen, "%s: %s is a symbolic link, not a directory of uid %u", var, dir,
                 (unsigned)geteuid());
        return -EACCES;
    }
    if (!S_ISDIR(sb.st_mode)) {
        snprintf(err, errlen, "%s: %s is not a directory", var, dir);
        return -EACCES;
    }
    if (sb.st_uid != geteuid()) {
        snprintf(err, errlen, "%s: %s belongs to uid %u, not to uid %u running this", var, dir,
                 (unsigned)sb.st_uid, (unsigned)geteuid());
        return -EACCES;
    }
    if (sb.st_mode & 077) {
        snprintf(err, errlen, "%s: %s has mode %04o: group and others must have no access "
                 "(chmod 700 %s)", var, dir, (unsigned)(sb.st_mode & 07777), dir);
        return -EACCES;
    }
    return 0;
}

int nc__run_dir(const struct netcore_config *cfg, char *dir, size_t cap, char *err,
                size_t errlen)
{
    if (cfg->run_dir[0] != '\0')
        snprintf(dir, cap, "%s", cfg->run_dir);
    else
        snprintf(dir, cap, "/tmp/netcore-%u", (unsigned)geteuid());
    return nc__private_dir(dir, "NETCORE_RUNDIR", err, errlen);
}

/*
 * The rendezvous paths of cfg's device in this network namespace: base gets
 * RUNDIR/stack-IFNAME-NETNS (add ".lock" or ".sock"). Checks the directory on the way.
 */
static int rv_base(const struct netcore_config *cfg, char *base, size_t cap, char *err,
                   size_t errlen)
{
    char dir[sizeof(cfg->run_dir)];
    int rc = nc__run_dir(cfg, dir, sizeof(dir), err, errlen);
    if (rc != 0)
        return rc;
    /* The namespace's inode tells namespaces apart (as `ip netns identify` does); a process
     * that cannot read it (no /proc) still shares with others that cannot. */
    struct stat ns;
    unsigned long long netns = 0;
    if (stat("/proc/self/ns/net", &ns) == 0)
        netns = (unsigned long long)ns.st_ino;
    /* cap leaves room for ".lock"/".sock" within sun_path, which bounds the socket's name. */
    if ((size_t)snprintf(base, cap, "%s/stack-%s-%llu", dir, cfg->ifname, netns) >= cap) {
        snprintf(err, errlen, "NETCORE_RUNDIR: %s is too long for the socket path "
                 "%s/stack-%s-%llu.sock (at most %zu bytes)", dir, dir, cfg->ifname, netns,
                 sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
        return -ENAMETOOLONG;
    }
    return 0;
}

int netcore_share_claim(const struct netcore_config *cfg, struct netcore_rendezvous *rv,
                        char *err, size_t errlen)
{
    char dummy[8];
    if (err == NULL) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    rv->lock_fd = rv->listen_fd = -1;
    rv->path[0] = '\0';
    char base[sizeof(rv->path) - 5], lock[sizeof(rv->path) + 8]; /* base + ".sock" fits */
    int rc = rv_base(cfg, base, sizeof(base), err, errlen);
    if (rc != 0)
        return rc;
    snprintf(lock, sizeof(lock), "%s.lock", base);
    int lfd = nc__fd_high(open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (lfd < 0) {
        rc = -errno;
        snprintf(err, errlen, "open %s: %s", lock, strerror(-rc));
        return rc;
    }
    while (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
        rc = -errno;
        if (rc == -EINTR)
            continue;
        nc__sys_close(lfd);
        if (rc == -EWOULDBLOCK)
            return 0; /* a driver holds it */
        snprintf(err, errlen, "flock %s: %s", lock, strerror(-rc));
        return rc;
    }
    /* The lock is ours: whatever .sock is there is a dead driver's. */
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s.sock", base);
    if (unlink(sa.sun_path) != 0 && errno != ENOENT) {
        rc = -errno;
        snprintf(err, errlen, "unlink stale %s: %s", sa.sun_path, strerror(-rc));
        nc__sys_close(lfd);
        return rc;
    }
    int fd = nc__fd_high(sys_ret(nc__raw_syscall(SYS_socket, AF_UNIX,
                                                 SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)));
    const char *what = "socket";
    rc = fd < 0 ? fd : 0;
    if (rc == 0 && (rc = sys_ret(nc__raw_syscall(SYS_bind, fd, &sa, sizeof(sa)))) != 0)
        what = "bind";
    /* The directory already keeps others out; the mode says the same of the socket. */
    if (rc == 0 && chmod(sa.sun_path, 0600) != 0) {
        rc = -errno;
        what = "chmod";
    }
    if (rc == 0 && (rc = sys_ret(nc__raw_syscall(SYS_listen, fd, 64))) != 0)
        what = "listen";
    if (rc != 0) {
        snprintf(err, errlen, "%s %s: %s", what, sa.sun_path, strerror(-rc));
        if (fd >= 0) {
            nc__sys_close(fd);
            unlink(sa.sun_path);
        }
        nc__sys_close(lfd);
        return rc;
    }
    rv->lock_fd = lfd;
    rv->listen_fd = fd;
    snprintf(rv->path, sizeof(rv->path), "%s", sa.sun_path);
    return 1;
}

void netcore_share_release(struct netcore_rendezvous *rv)
{
    if (rv == NULL)
        return;
    nc__sys_clear_fd(&rv->listen_fd);
    /* The name is ours only while the lock is: remove it before letting go. */
    if (rv->lock_fd >= 0 && rv->path[0] != '\0')
        unlink(rv->path);
    nc__sys_clear_fd(&rv->lock_fd);
}

int netcore_share_connect(const struct netcore_config *cfg, char *err, size_t errlen)
{
    char dummy[8];
    if (err == NULL) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char base[sizeof(sa.sun_path) - 5];
    int rc = rv_base(cfg, base, sizeof(base), err, errlen);
    if (rc != 0)
        return rc;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s.sock", base);
    int fd = sys_ret(nc__raw_syscall(SYS_socket, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(-fd));
        return fd;
    }
    do
        rc = sys_ret(nc__raw_syscall(SYS_connect, fd, &sa, sizeof(sa)));
    while (rc == -EINTR);
    if (rc != 0) {
        snprintf(err, errlen, "connect %s: %s%s", sa.sun_path, strerror(-rc),
                 rc == -ENOENT || rc == -ECONNREFUSED ? " (no process drives the stack)" : "");
        nc__sys_close(fd);
        return rc;
    }
    return fd;
}
