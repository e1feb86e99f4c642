/*
 * convert: a socket that another process is about to hold becomes relayed (core/share.h).
 *
 * In the process that drives the stack a socket takes the fast path: its fd is a dup of the
 * socket's eventfd and the data moves through rings in this process's memory, which no
 * other process can reach. Before another process can get the socket — a child at fork, a
 * new image at exec, a child of posix_spawn, a receiver of SCM_RIGHTS — the socket is
 * exported: the core hands back the program's end of a socketpair that its netstack thread
 * relays, and that end replaces the eventfd at every fd number the socket had (dup3, with
 * each fd's FD_CLOEXEC kept), so the program never sees the number change. O_NONBLOCK and
 * the timeouts move onto the new file; an epoll set that watched the socket watches the new
 * fd with the program's events and data. From then on the socket is a remote one for this
 * process too (remote.c), and the kernel keeps its open-file semantics for every holder.
 *
 * Only a process that drives a shared stack converts (NETCORE_STACK=own keeps the old
 * behaviour: a child's copy of a socket is dead). A vfork child shares its parent's memory:
 * it must not touch the stack or the maps, so vfork runs as fork here (the atfork handlers
 * then convert what the child may inherit).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

/* The process whose memory this is: a vfork child is another pid in the same memory. */
static pid_t owner_pid;

__attribute__((constructor)) static void convert_init(void)
{
    owner_pid = getpid();
}

void nc__convert_fork_child(void)
{
    owner_pid = getpid();
}

bool nc__vfork_child(void)
{
    return owner_pid != 0 && getpid() != owner_pid;
}

static void carry_timeout(int h, int pe, int name)
{
    struct timeval tv;
    socklen_t len = sizeof(tv);
    if (netcore_getsockopt(nc_stack, h, SOL_SOCKET, name, &tv, &len) == 0 &&
        (tv.tv_sec != 0 || tv.tv_usec != 0))
        (void)LIBC(setsockopt)(pe, SOL_SOCKET, name, &tv, sizeof(tv));
}

/*
 * Exports handle h and puts its program end at every fd of this process that was h.
 * Returns 0 or -errno (the socket then stays on the fast path).
 */
static int convert_handle(int h)
{
    int family = 0, type = 0, listening = 0;
    socklen_t len = sizeof(int);
    if (netcore_getsockopt(nc_stack, h, SOL_SOCKET, SO_DOMAIN, &family, &len) != 0)
        return -EBADF;
    len = sizeof(int);
    (void)netcore_getsockopt(nc_stack, h, SOL_SOCKET, SO_TYPE, &type, &len);
    len = sizeof(int);
    (void)netcore_getsockopt(nc_stack, h, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
    int nb = netcore_get_nonblock(nc_stack, h);
    /* The options the kernel applies to the fd itself, read before the export makes the
     * core's socket non-blocking for the relay. */
    int pe = netcore_export(nc_stack, h);
    if (pe < 0)
        return pe;
    if (nb > 0)
        (void)LIBC(fcntl)(pe, F_SETFL, O_RDWR | O_NONBLOCK);
    carry_timeout(h, pe, SO_RCVTIMEO);
    carry_timeout(h, pe, SO_SNDTIMEO);
    for (int fd = nc__fd_next(0); fd >= 0; fd = nc__fd_next(fd + 1)) {
        if (nc__fd_handle(fd) != h)
            continue;
        long fl = LIBC(fcntl)(fd, F_GETFD);
        /* dup3 replaces the eventfd at fd in one step: no moment without a file there. */
        if (nc__raw_syscall(SYS_dup3, pe, fd, fl >= 0 && (fl & FD_CLOEXEC) ? O_CLOEXEC : 0) <
            0)
            continue; /* cannot happen for an open fd; the fd keeps the eventfd, dead */
        nc__epoll_handoff(fd);
        int left;
        (void)nc__fd_unbind(fd, &left); /* the handle is the relay's now: no close */
        (void)nc__remote_adopt(fd, family, type, listening != 0);
    }
    LIBC(close)(pe);
    return 0;
}

int nc__convert_fd(int fd)
{
    int h = nc__fd_handle(fd);
    return h < 0 ? 0 : convert_handle(h);
}

/* Would a new image or a spawned child inherit fd? */
static bool inheritable(int fd)
{
    long fl = LIBC(fcntl)(fd, F_GETFD);
    return fl >= 0 && !(fl & FD_CLOEXEC);
}

int nc__convert_all(bool inheritable_only)
{
    if (!nc__shared_driver() || nc__vfork_child())
        return 0;
    int failed = 0;
    for (int fd = nc__fd_next(0); fd >= 0; fd = nc__fd_next(fd)) {
        int h = nc__fd_handle(fd);
        bool any = !inheritable_only;
        for (int g = fd; !any && g >= 0; g = nc__fd_next(g + 1))
            any = nc__fd_handle(g) == h && inheritable(g);
        if (!any || convert_handle(h) != 0) {
            if (any)
                failed++;
            fd++; /* this one stays: go on after it */
        }
    }
    if (failed > 0)
        nc__log(NETCORE_LOG_WARN, "%d socket%s could not be relayed: another process "
                "holding %s gets a dead socket", failed, failed == 1 ? "" : "s",
                failed == 1 ? "it" : "them");
    return failed;
}

void nc__each_passed_fd(const struct msghdr *msg, void (*fn)(int fd, void *arg), void *arg)
{
    if (msg == NULL || msg->msg_control == NULL || msg->msg_controllen < CMSG_LEN(0))
        return;
    for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)msg); c != NULL;
         c = CMSG_NXTHDR((struct msghdr *)msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
            c->cmsg_len < CMSG_LEN(0))
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
            fn(fd, arg);
        }
    }
}

static void relay_passed(int fd, void *arg)
{
    (void)arg;
    if (nc__fd_handle(fd) >= 0 && nc__convert_fd(fd) != 0)
        nc__log(NETCORE_LOG_WARN, "fd %d sent with SCM_RIGHTS could not be relayed: the "
                "receiver gets a dead socket", fd);
}

/* sendmsg on a kernel socket: sockets passed with SCM_RIGHTS go relayed. */
void nc__convert_rights(const struct msghdr *msg)
{
    if (msg == NULL || msg->msg_controllen == 0 || nc__fd_next(0) < 0 ||
        !nc__shared_driver() || nc__vfork_child())
        return;
    nc__each_passed_fd(msg, relay_passed, NULL);
}

/* Could fd be a relayed socket (an AF_UNIX stream or seqpacket socket not yet known)? */
static bool may_be_relayed(int fd)
{
    int domain = 0, type = 0;
    socklen_t len = sizeof(int);
    if (nc__remote_kind(fd) >= 0 ||
        LIBC(getsockopt)(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_UNIX)
        return false;
    len = sizeof(int);
    return LIBC(getsockopt)(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
           (type == SOCK_STREAM || type == SOCK_SEQPACKET);
}

static void adopt_passed(int fd, void *arg)
{
    bool *asked = arg, *running = asked + 1;
    if (!may_be_relayed(fd))
        return;
    if (!nc__remote_shared()) {
        /* Not using netcore yet: only if a stack runs could fd be one of its sockets. */
        if (!*asked) {
            *asked = true;
            *running = nc__driver_running();
        }
        if (!*running)
            return;
    }
    (void)nc__remote_identify(fd);
}

/* recvmsg on a kernel socket: an fd received that is a relayed socket of our stack is
 * adopted as one. Only AF_UNIX stream and seqpacket sockets can be. */
void nc__adopt_rights(const struct msghdr *msg)
{
    bool asked_running[2] = { false, false };
    nc__each_passed_fd(msg, adopt_passed, asked_running);
}

/* fd may be a relayed socket someone gave us (exec, SCM_RIGHTS): ask the stack. */
void nc__adopt_inherited(int fd)
{
    if (may_be_relayed(fd))
        (void)nc__remote_identify(fd);
}

/*
 * NETCORE_FDS=1 in a new image's environment: the image that exec'd it (or spawned it) had
 * relayed sockets that this one may have inherited. Each inherited AF_UNIX socket is asked
 * about once, at load; the variable is then removed so that the program's own children do
 * not ask again for nothing.
 */
__attribute__((constructor)) static void adopt_at_load(void)
{
    const char *v = getenv("NETCORE_FDS");
    if (v == NULL)
        return;
    unsetenv("NETCORE_FDS");
    if (strcmp(v, "1") != 0)
        return;
    nc__libc_resolve(); /* constructors run in no set order: shim_init may not have yet */
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        struct stat sb;
        if (*end != '\0' || end == e->d_name || fd == dirfd(d) || fd > INT32_MAX)
            continue;
        if (LIBC(fstat)((int)fd, &sb) == 0 && S_ISSOCK(sb.st_mode))
            nc__adopt_inherited((int)fd);
    }
    closedir(d);
}

/*
 * An environment for a new image that may inherit relayed sockets: envp without any
 * NETCORE_FDS, plus NETCORE_FDS=1. Written into a buffer of the caller's (a vfork child
 * must not allocate from its parent's heap); NULL when it does not fit.
 */
char **nc__exec_env(char *const envp[], char **buf, size_t cap)
{
    static char var[] = "NETCORE_FDS=1";
    size_t n = 0;
    for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
        if (strncmp(envp[i], "NETCORE_FDS=", 12) == 0)
            continue;
        if (n + 2 > cap)
            return NULL;
        buf[n++] = envp[i];
    }
    if (n + 2 > cap)
        return NULL;
    buf[n++] = var;
    buf[n] = NULL;
    return buf;
}

/* Does this process hold a relayed socket a new image would inherit? */
bool nc__remote_inheritable(void)
{
    for (int fd = nc__remote_next(0); fd >= 0; fd = nc__remote_next(fd + 1))
        if (inheritable(fd))
            return true;
    return false;
}

/* vfork runs as fork (see above), and converts only what a new image would inherit: a
 * vfork child has nothing to do but exec or _exit. */
static __thread bool vforking;

void nc__convert_at_fork(void)
{
    nc__convert_all(vforking);
}

pid_t vfork(void)
{
    vforking = true;
    pid_t pid = fork();
    vforking = false;
    return pid;
}
