/*
 * _exit and daemon: leaving without exit handlers.
 *
 * A process that drives a shared stack hands it to a keeper at exit (libc.c's destructor)
 * when other processes still use it. _exit skips destructors, and it is how a daemonizing
 * parent usually leaves: daemon(3), memcached, Python's os._exit after a double fork. So
 * _exit and _Exit hand the stack over too before the process goes. daemon(3) calls glibc's
 * internal _exit, which no interposer sees; it is done here with fork (so that the child's
 * sockets are relayed, convert.c) and the interposed _exit.
 */
#include <fcntl.h>
#include <paths.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

static void before_leaving(void)
{
    if (!nc__in_stack_thread)
        (void)nc__keep_if_used("_exit");
}

void _exit(int status)
{
    before_leaving();
    for (;;)
        nc__raw_syscall(SYS_exit_group, status);
}

void _Exit(int status)
{
    _exit(status);
}

/* glibc's daemon(3), step by step: the parent leaves through our _exit. */
int daemon(int nochdir, int noclose)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0)
        _exit(0);
    if (setsid() < 0)
        return -1;
    if (!nochdir && chdir("/") != 0)
        return -1;
    if (!noclose) {
        int fd = open(_PATH_DEVNULL, O_RDWR);
        if (fd < 0)
            return -1;
        /* As glibc: only when it is the character device it should be. */
        struct stat sb;
        if (fstat(fd, &sb) == 0 && S_ISCHR(sb.st_mode)) {
            (void)dup2(fd, STDIN_FILENO);
            (void)dup2(fd, STDOUT_FILENO);
            (void)dup2(fd, STDERR_FILENO);
            if (fd > 2)
                (void)close(fd);
        } else {
            (void)close(fd);
            errno = ENODEV;
            return -1;
        }
    }
    return 0;
}
