/*
 * exec: a new program image starts with a fresh shim and no netcore sockets. A socket fd it
 * inherits would be the old image's eventfd, whose counter the parent's stack still uses;
 * so just before the exec each such fd is made an unconnected socket (every call fails with
 * ENOTCONN), like a forked child's inherited sockets (libc.c). fork() children have had
 * theirs replaced already; this catches vfork() children (Python's subprocess, shells) and
 * processes that exec themselves. Only the calling process's fd table changes: the fd map
 * is read, not written, because a vfork() child shares its parent's memory.
 *
 * glibc's own exec functions (execl*, execvp, posix_spawn) call its internal execve, which
 * no interposer sees; execve, execv, execvp, execvpe and fexecve are covered here,
 * posix_spawn and posix_spawnp in spawn.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

static void before_exec(void)
{
    nc__poison_mapped(false);
}

/* exec returned: it failed (ENOENT, EACCES...) and this image goes on with its sockets. */
static void after_failed_exec(void)
{
    int e = errno;
    nc__unpoison_mapped();
    errno = e;
}

int execve(const char *path, char *const argv[], char *const envp[])
{
    before_exec();
    int rc = LIBC(execve)(path, argv, envp);
    after_failed_exec();
    return rc;
}

int execv(const char *path, char *const argv[])
{
    return execve(path, argv, environ);
}

int execvpe(const char *file, char *const argv[], char *const envp[])
{
    before_exec();
    int rc = LIBC(execvpe)(file, argv, envp);
    after_failed_exec();
    return rc;
}

int execvp(const char *file, char *const argv[])
{
    return execvpe(file, argv, environ);
}

int fexecve(int fd, char *const argv[], char *const envp[])
{
    before_exec();
    int rc = LIBC(fexecve)(fd, argv, envp);
    after_failed_exec();
    return rc;
}
