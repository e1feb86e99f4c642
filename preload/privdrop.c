/*
 * Privilege drops. A server started as root often gives up root before its first socket
 * (a cache server's -u nobody, a web server's worker user): its stack would then start after
 * the drop, and opening the TAP fails with EPERM. With kernel sockets the question does not
 * arise; what a process opened before a drop it keeps. So the first call that can take away
 * the right to open the TAP — a change of user id, or of capabilities, made while the
 * effective user is root — starts the stack before it: the TAP fd, the stats socket and the
 * netstack thread then outlive the drop, as a kernel socket opened beforehand would.
 *
 * Group changes (setgid, setgroups, initgroups) do not take the capability away and start
 * nothing. A start that fails is quiet (a program that changes user and then execs another,
 * setpriv or su, may never open a socket) and the drop goes ahead: the program's later
 * socket() tries again and says why it cannot. With a shared stack, the process keeps one
 * control connection more (remote.c): after the drop it cannot open new ones. The same calls made through syscall()
 * are covered in syscall.c (there they change only the calling thread, and stay raw).
 */
#include <sys/types.h>
#include <unistd.h>

#include "shim.h"

void nc__before_drop(void)
{
    if (nc__in_stack_thread || geteuid() != 0)
        return;
    if (nc__shim_start_quiet() == 0) /* at once when this process's stack already runs */
        nc__remote_keep_spare();
}

int setuid(uid_t uid)
{
    if (uid != 0)
        nc__before_drop();
    return LIBC(setuid)(uid);
}

int seteuid(uid_t euid)
{
    if (euid != 0)
        nc__before_drop();
    return LIBC(seteuid)(euid);
}

int setreuid(uid_t ruid, uid_t euid)
{
    if ((ruid != 0 && ruid != (uid_t)-1) || (euid != 0 && euid != (uid_t)-1))
        nc__before_drop();
    return LIBC(setreuid)(ruid, euid);
}

int setresuid(uid_t ruid, uid_t euid, uid_t suid)
{
    if ((ruid != 0 && ruid != (uid_t)-1) || (euid != 0 && euid != (uid_t)-1) ||
        (suid != 0 && suid != (uid_t)-1))
        nc__before_drop();
    return LIBC(setresuid)(ruid, euid, suid);
}

/* capset(2) without a header of glibc's own (libcap's cap_set_proc calls it). Any change of
 * capabilities made as root may drop CAP_NET_ADMIN: start first. */
int capset(void *hdrp, const void *datap)
{
    nc__before_drop();
    return LIBC(capset)(hdrp, datap);
}
