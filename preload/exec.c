/*
 * exec: a new program image starts with a fresh shim. A socket it inherits must not be the
 * old image's eventfd, whose counter the stack still uses. With a shared stack (the default)
 * such sockets are relayed first and the new image adopts them (convert.c); with
 * NETCORE_STACK=own, or in a vfork() child that must not write its parent's memory, each
 * such fd is made an unconnected socket just before the exec (every call fails with
 * ENOTCONN), as in a forked child of a stack of its own (libc.c).
 *
 * glibc's own exec functions (execl*, execvp, posix_spawn) call its internal execve, which
 * no interposer sees; execve, execv, execvp, execvpe and fexecve are covered here,
 * posix_spawn and posix_spawnp in spawn.c. A program LD_PRELOAD would not reach is not
 * exec'd at all (reach.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

/*
 * Shared stack: a new image that inherits relayed sockets (or that other processes use the
 * stack of this one) needs the stack to outlive this image: every socket is relayed, the
 * stack goes to a keeper process, and this image becomes a client of it (so that a failed
 * exec leaves it working). The new image is told to look for relayed sockets among what
 * it inherits (NETCORE_FDS=1). Otherwise, and in a vfork child (which must not touch its
 * parent's memory), sockets are poisoned as before.
 */
#define ENV_MAX 4096

static char *const *before_exec(char *const envp[], char **buf, size_t cap)
{
    if (!nc__vfork_child() && nc__shared_driver()) {
        bool keep = netcore_share_users(nc_stack) > 0;
        for (int fd = nc__fd_next(0); fd >= 0 && !keep; fd = nc__fd_next(fd + 1)) {
            long fl = LIBC(fcntl)(fd, F_GETFD);
            keep = fl >= 0 && !(fl & FD_CLOEXEC);
        }
        if (keep) {
            nc__convert_all(false);
            (void)nc__keep_if_used("exec");
        }
    }
    nc__poison_mapped(false);
    if (!nc__remote_inheritable())
        return envp;
    char **env = nc__exec_env(envp, buf, cap);
    return env != NULL ? env : envp;
}

/* The exec calls this file covers; each takes the environment before_exec makes. */
enum exec_call { EXEC_VE, EXEC_VPE, EXEC_FVE };

/*
 * The exec itself between before_exec and, when it returns, the way back: the exec failed
 * (ENOENT, EACCES...) and this image goes on with its sockets, errno as the exec left it.
 * path is execve's path or execvpe's file; fd is fexecve's.
 */
static int run_exec(enum exec_call call, const char *path, int fd, char *const argv[],
                    char *const envp[])
{
    int refused = nc__exec_reach(path, call == EXEC_VPE, call == EXEC_FVE ? fd : -1);
    if (refused < 0) {
        errno = -refused;
        return -1;
    }
    char *buf[ENV_MAX];
    char *const *env = before_exec(envp, buf, ENV_MAX);
    int rc = call == EXEC_VE    ? LIBC(execve)(path, argv, env)
             : call == EXEC_VPE ? LIBC(execvpe)(path, argv, env)
                                : LIBC(fexecve)(fd, argv, env);
    int e = errno;
    nc__unpoison_mapped();
    errno = e;
    return rc;
}

int execve(const char *path, char *const argv[], char *const envp[])
{
    return run_exec(EXEC_VE, path, -1, argv, envp);
}

int execv(const char *path, char *const argv[])
{
    return execve(path, argv, environ);
}

int execvpe(const char *file, char *const argv[], char *const envp[])
{
    return run_exec(EXEC_VPE, file, -1, argv, envp);
}

int execvp(const char *file, char *const argv[])
{
    return execvpe(file, argv, environ);
}

int fexecve(int fd, char *const argv[], char *const envp[])
{
    return run_exec(EXEC_FVE, NULL, fd, argv, envp);
}
