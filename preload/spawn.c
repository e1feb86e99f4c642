/*
 * posix_spawn: a spawned child must not get a netcore socket as the socket's eventfd, whose
 * wake-ups the parent's stack counts on (a read in the child would take them). glibc runs
 * the child's side of posix_spawn (its file actions, then its internal execve) in a clone
 * that no interposer sees, so exec.c cannot step in: an inherited socket (no FD_CLOEXEC) or
 * one a file action duplicates (adddup2 onto 0 or 1, say) would reach the child as it is.
 * Here the child gets what exec.c gives an exec'd image: an unconnected AF_UNIX socket at
 * that fd (every call fails with ENOTCONN).
 *
 * How: the file actions a program builds are also recorded here (each add function is
 * interposed and passes on to glibc's). When a spawn starts while netcore sockets are open,
 * it runs with a private file-actions object: first dup2 of a stand-in socket onto each
 * netcore fd the child could see (inherited, or named as a dup2 source), then the program's
 * actions replayed in order, then a close of the stand-ins the child would not have had
 * (sockets with FD_CLOEXEC that no action took over). The program's actions thus work on
 * the stand-in wherever they named a socket, and keep their meaning otherwise.
 *
 * Rejected: changing the parent's fds around the spawn (the parent's other threads would
 * see the stand-in); appending to the program's own actions (they run before ours, and the
 * object is the program's, perhaps shared between threads); a list of fds in the child's
 * environment for its libnetcore.so to fix (a static or unpreloaded child would keep the
 * eventfd). A file-actions object whose actions were not all seen here (built before this
 * library was loaded, or by a function glibc added since) is used as it is, with a warning.
 */
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

#define ENV_MAX 4096 /* environment entries passed on with NETCORE_FDS added */

enum kind { A_OPEN, A_CLOSE, A_DUP2, A_CHDIR, A_FCHDIR, A_CLOSEFROM, A_TCSETPGRP };

struct action {
    enum kind kind;
    int fd;      /* the fd acted on; dup2's source; closefrom's lower bound */
    int newfd;   /* dup2's target */
    char *path;  /* open, chdir */
    int oflag;
    mode_t mode;
};

/* The actions recorded for one file-actions object, found by its address. */
struct shadow {
    const posix_spawn_file_actions_t *fa;
    struct action *a;
    int n, cap;
    struct shadow *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct shadow *shadows;

static struct shadow **find(const posix_spawn_file_actions_t *fa)
{
    struct shadow **p = &shadows;
    while (*p != NULL && (*p)->fa != fa)
        p = &(*p)->next;
    return p;
}

static void forget(struct shadow **p)
{
    struct shadow *s = *p;
    *p = s->next;
    for (int i = 0; i < s->n; i++)
        free(s->a[i].path);
    free(s->a);
    free(s);
}

/* Records an action glibc accepted. Out of memory, the record stays short: the spawn then
 * sees that the shadow misses an action and does not use it. */
static void record(const posix_spawn_file_actions_t *fa, struct action a)
{
    pthread_mutex_lock(&mu);
    struct shadow *s = *find(fa);
    if (s != NULL && s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 8;
        struct action *na = realloc(s->a, (size_t)cap * sizeof(*na));
        if (na != NULL) {
            s->a = na;
            s->cap = cap;
        }
    }
    if (s != NULL && s->n < s->cap && (a.path == NULL || (a.path = strdup(a.path)) != NULL))
        s->a[s->n++] = a;
    pthread_mutex_unlock(&mu);
}

int posix_spawn_file_actions_init(posix_spawn_file_actions_t *fa)
{
    int rc = LIBC(posix_spawn_file_actions_init)(fa);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&mu);
    struct shadow **p = find(fa);
    if (*p != NULL)
        forget(p); /* initialised again without a destroy */
    struct shadow *s = calloc(1, sizeof(*s));
    if (s != NULL) {
        s->fa = fa;
        s->next = shadows;
        shadows = s;
    }
    pthread_mutex_unlock(&mu);
    return 0;
}

int posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *fa)
{
    pthread_mutex_lock(&mu);
    struct shadow **p = find(fa);
    if (*p != NULL)
        forget(p);
    pthread_mutex_unlock(&mu);
    return LIBC(posix_spawn_file_actions_destroy)(fa);
}

/* The result of an add function; the action is recorded when glibc took it. */
static int recorded(int rc, const posix_spawn_file_actions_t *fa, struct action a)
{
    if (rc == 0)
        record(fa, a);
    return rc;
}

int posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *restrict fa, int fd,
                                     const char *restrict path, int oflag, mode_t mode)
{
    return recorded(LIBC(posix_spawn_file_actions_addopen)(fa, fd, path, oflag, mode), fa,
                    (struct action){ .kind = A_OPEN, .fd = fd, .path = (char *)path,
                                     .oflag = oflag, .mode = mode });
}

int posix_spawn_file_actions_addclose(posix_spawn_file_actions_t *fa, int fd)
{
    return recorded(LIBC(posix_spawn_file_actions_addclose)(fa, fd), fa,
                    (struct action){ .kind = A_CLOSE, .fd = fd });
}

int posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *fa, int fd, int newfd)
{
    return recorded(LIBC(posix_spawn_file_actions_adddup2)(fa, fd, newfd), fa,
                    (struct action){ .kind = A_DUP2, .fd = fd, .newfd = newfd });
}

int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *restrict fa,
                                         const char *restrict path)
{
    return recorded(LIBC(posix_spawn_file_actions_addchdir_np)(fa, path), fa,
                    (struct action){ .kind = A_CHDIR, .path = (char *)path });
}

int posix_spawn_file_actions_addfchdir_np(posix_spawn_file_actions_t *fa, int fd)
{
    return recorded(LIBC(posix_spawn_file_actions_addfchdir_np)(fa, fd), fa,
                    (struct action){ .kind = A_FCHDIR, .fd = fd });
}

int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *fa, int from)
{
    return recorded(LIBC(posix_spawn_file_actions_addclosefrom_np)(fa, from), fa,
                    (struct action){ .kind = A_CLOSEFROM, .fd = from });
}

int posix_spawn_file_actions_addtcsetpgrp_np(posix_spawn_file_actions_t *fa, int tcfd)
{
    return recorded(LIBC(posix_spawn_file_actions_addtcsetpgrp_np)(fa, tcfd), fa,
                    (struct action){ .kind = A_TCSETPGRP, .fd = tcfd });
}

/* Adds action a to the private object mine (glibc's own functions: no record). */
static int replay(posix_spawn_file_actions_t *mine, const struct action *a)
{
    switch (a->kind) {
    case A_OPEN:
        return LIBC(posix_spawn_file_actions_addopen)(mine, a->fd, a->path, a->oflag, a->mode);
    case A_CLOSE:
        return LIBC(posix_spawn_file_actions_addclose)(mine, a->fd);
    case A_DUP2:
        return LIBC(posix_spawn_file_actions_adddup2)(mine, a->fd, a->newfd);
    case A_CHDIR:
        return LIBC(posix_spawn_file_actions_addchdir_np)(mine, a->path);
    case A_FCHDIR:
        return LIBC(posix_spawn_file_actions_addfchdir_np)(mine, a->fd);
    case A_CLOSEFROM:
        return LIBC(posix_spawn_file_actions_addclosefrom_np)(mine, a->fd);
    case A_TCSETPGRP:
        return LIBC(posix_spawn_file_actions_addtcsetpgrp_np)(mine, a->fd);
    }
    return EINVAL;
}

/* Does one of the n actions a name fd as a dup2 source? */
static bool named_as_source(const struct action *a, int n, int fd)
{
    for (int i = 0; i < n; i++)
        if (a[i].kind == A_DUP2 && a[i].fd == fd)
            return true;
    return false;
}

/* Does one of them put something else at fd (open or dup2 onto it)? */
static bool taken_over(const struct action *a, int n, int fd)
{
    for (int i = 0; i < n; i++)
        if ((a[i].kind == A_OPEN && a[i].fd == fd) || (a[i].kind == A_DUP2 && a[i].newfd == fd))
            return true;
    return false;
}

/*
 * Builds in mine the actions for a child of this process: stand-in dup2s onto the netcore
 * fds it could see, the program's actions (s, or none), closes of stand-ins it would not
 * have had. Returns 0, or an errno value (mine is then destroyed); *standin is the fd to
 * close after the spawn, or -1 when there was nothing to stand in for.
 */
static int build(posix_spawn_file_actions_t *mine, const struct shadow *s, int *standin)
{
    const struct action *a = s != NULL ? s->a : NULL;
    int n = s != NULL ? s->n : 0, rc = LIBC(posix_spawn_file_actions_init)(mine);
    *standin = -1;
    if (rc != 0)
        return rc;
    for (int fd = nc__fd_next(0); fd >= 0 && rc == 0; fd = nc__fd_next(fd + 1)) {
        long fl = LIBC(fcntl)(fd, F_GETFD);
        bool cloexec = fl >= 0 && (fl & FD_CLOEXEC);
        if (cloexec && !named_as_source(a, n, fd))
            continue;
        if (*standin < 0)
            *standin = LIBC(socket)(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (*standin < 0)
            rc = errno;
        else
            rc = LIBC(posix_spawn_file_actions_adddup2)(mine, *standin, fd);
    }
    for (int i = 0; i < n && rc == 0; i++)
        rc = replay(mine, &a[i]);
    for (int fd = nc__fd_next(0); fd >= 0 && rc == 0; fd = nc__fd_next(fd + 1)) {
        long fl = LIBC(fcntl)(fd, F_GETFD);
        if (fl >= 0 && (fl & FD_CLOEXEC) && named_as_source(a, n, fd) && !taken_over(a, n, fd))
            rc = LIBC(posix_spawn_file_actions_addclose)(mine, fd);
    }
    if (rc != 0) {
        LIBC(posix_spawn_file_actions_destroy)(mine);
        if (*standin >= 0)
            LIBC(close)(*standin);
        *standin = -1;
    }
    return rc;
}

typedef int spawn_fn(pid_t *, const char *, const posix_spawn_file_actions_t *,
                     const posix_spawnattr_t *, char *const[], char *const[]);

/* posix_spawn or posix_spawnp (real), with a private object of file actions when this
 * process has netcore sockets. */
static int spawn(spawn_fn *real, pid_t *pid, const char *path,
                 const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr,
                 char *const argv[], char *const envp[])
{
    /* posix_spawn returns the error, errno untouched (reach.c) */
    int refused = nc__exec_reach(path, real == LIBC(posix_spawnp), -1);
    if (refused < 0)
        return -refused;
    char *buf[ENV_MAX];
    pthread_mutex_lock(&mu);
    const struct shadow *s = fa != NULL ? *find(fa) : NULL;
    /* A shared stack: what the child could see is relayed first, so the child gets working
     * sockets (and looks for them: NETCORE_FDS); stand-ins only for what could not be. */
    if (nc__fd_next(0) >= 0 && nc__shared_driver()) {
        for (int fd = nc__fd_next(0); fd >= 0; fd = nc__fd_next(fd + 1)) {
            long fl = LIBC(fcntl)(fd, F_GETFD);
            if ((fl >= 0 && !(fl & FD_CLOEXEC)) ||
                (s != NULL && named_as_source(s->a, s->n, fd)))
                (void)nc__convert_fd(fd);
        }
    }
    if (nc__remote_next(0) >= 0) {
        char **env = nc__exec_env(envp != NULL ? envp : environ, buf, ENV_MAX);
        if (env != NULL)
            envp = env;
    }
    if (nc__fd_next(0) < 0) {
        pthread_mutex_unlock(&mu);
        return real(pid, path, fa, attr, argv, envp);
    }
    posix_spawn_file_actions_t mine;
    int standin, rc;
    if (fa != NULL && (s == NULL || s->n != fa->__used)) {
        pthread_mutex_unlock(&mu);
        nc__log(NETCORE_LOG_ERROR, "posix_spawn: file actions netcore did not see; the child "
                "gets the program's netcore sockets as they are (eventfds)");
        return real(pid, path, fa, attr, argv, envp);
    }
    rc = build(&mine, s, &standin);
    pthread_mutex_unlock(&mu);
    if (rc != 0)
        return rc;
    rc = real(pid, path, &mine, attr, argv, envp);
    LIBC(posix_spawn_file_actions_destroy)(&mine);
    if (standin >= 0)
        LIBC(close)(standin);
    return rc;
}

int posix_spawn(pid_t *restrict pid, const char *restrict path,
                const posix_spawn_file_actions_t *restrict fa,
                const posix_spawnattr_t *restrict attr, char *const argv[restrict],
                char *const envp[restrict])
{
    return spawn(LIBC(posix_spawn), pid, path, fa, attr, argv, envp);
}

int posix_spawnp(pid_t *restrict pid, const char *restrict file,
                 const posix_spawn_file_actions_t *restrict fa,
                 const posix_spawnattr_t *restrict attr, char *const argv[restrict],
                 char *const envp[restrict])
{
    return spawn(LIBC(posix_spawnp), pid, file, fa, attr, argv, envp);
}
