/*
 * reach: an exec that would leave netcore behind is refused, as `netcore run` refuses the
 * command it is given (run_check in the script). LD_PRELOAD reaches a new image only through
 * the dynamic loader: a statically linked program has none, a Go program makes its own system
 * calls, a program of another class or machine cannot load this library, and a set-user-ID
 * or set-group-ID one runs in secure mode, where the loader ignores LD_PRELOAD. Such a program
 * started by a shell or a wrapper script under netcore ran on the kernel's stack without a
 * word, its connections from the namespace's kernel address. Now the exec fails with EPERM
 * and one line on stderr says why; NETCORE_ALLOW_KERNEL=1 (what `netcore run --allow-kernel`
 * sets) lets it run, saying so. File capabilities, which `run` also looks for as a user other
 * than root, are not looked for here.
 *
 * The file is read with tools/elf.c, which treats it as untrusted and reads only within its
 * size. An exec that would fail anyway (no such file, no permission) is left to fail as it
 * would.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"
#include "../tools/elf.h"

#if defined __x86_64__
#define OUR_MACHINE 62 /* EM_X86_64 */
#elif defined __aarch64__
#define OUR_MACHINE 183 /* EM_AARCH64 */
#elif defined __i386__
#define OUR_MACHINE 3 /* EM_386 */
#else
#define OUR_MACHINE 0 /* not checked */
#endif
#define OUR_CLASS (sizeof(void *) == 8 ? 2u : 1u)

static long read_fd(void *ctx, uint64_t off, void *buf, size_t len)
{
    long n;
    do
        n = nc__raw_syscall(SYS_pread64, *(int *)ctx, buf, len, (off_t)off);
    while (n < 0 && errno == EINTR);
    return n;
}

/* Why LD_PRELOAD cannot reach the program in fd, or NULL. */
static const char *why_not(int fd)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        return NULL;
    struct nc_elf_facts f;
    if (nc__elf_inspect(read_fd, &fd, (uint64_t)sb.st_size, &f) != 0 || !f.elf)
        return NULL; /* a script: the kernel starts its interpreter, which is not looked at */
    if (f.cls != OUR_CLASS || (OUR_MACHINE != 0 && f.machine != OUR_MACHINE))
        return "is for another class or machine than libnetcore.so: the loader cannot preload it";
    if (f.go)
        return "is a Go program: Go makes its own system calls, past the libc functions "
               "LD_PRELOAD replaces";
    if (!f.interp)
        return "is statically linked: no dynamic loader runs, so nothing reads LD_PRELOAD";
    if ((sb.st_mode & S_ISUID) && sb.st_uid != geteuid())
        return "is set-user-ID: the loader runs it in secure mode, which ignores LD_PRELOAD";
    if ((sb.st_mode & S_ISGID) && sb.st_gid != getegid())
        return "is set-group-ID: the loader runs it in secure mode, which ignores LD_PRELOAD";
    return NULL;
}

/* Only a regular file: opening a FIFO for reading would wait for a writer, and opening a
 * device may do something (the exec of either fails anyway). */
static int open_exec(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return -1;
    return (int)nc__raw_syscall(SYS_openat, AT_FDCWD, path,
                                O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0);
}

/* execvp's search: file itself when it names a path, else the first executable regular file
 * of that name along PATH (glibc's default when unset; an empty entry, leading, inner or
 * trailing, and an empty PATH are the current directory). -1 when none: the exec fails as
 * it would. */
static int open_searched(const char *file, char *path, size_t cap)
{
    if (strchr(file, '/') != NULL)
        return open_exec(file);
    const char *p = getenv("PATH");
    if (p == NULL)
        p = "/bin:/usr/bin";
    size_t flen = strlen(file);
    for (;;) {
        const char *end = strchrnul(p, ':');
        size_t dlen = (size_t)(end - p);
        const char *dir = dlen > 0 ? p : ".";
        if (dlen == 0)
            dlen = 1;
        if (dlen + 1 + flen + 1 <= cap) {
            memcpy(path, dir, dlen);
            path[dlen] = '/';
            memcpy(path + dlen + 1, file, flen + 1);
            int fd = access(path, X_OK) == 0 ? open_exec(path) : -1; /* regular files only */
            if (fd >= 0)
                return fd;
        }
        if (*end == '\0')
            return -1;
        p = end + 1;
    }
}

int nc__exec_reach(const char *path, bool search, int fd)
{
    char found[PATH_MAX];
    int own = -1;
    if (fd < 0) {
        own = search ? open_searched(path, found, sizeof(found)) : open_exec(path);
        if (own < 0)
            return 0;
        fd = own;
        if (search && strchr(path, '/') == NULL)
            path = found;
    }
    int e = errno;
    const char *why = why_not(fd);
    if (own >= 0)
        nc__raw_syscall(SYS_close, own);
    errno = e;
    if (why == NULL)
        return 0;
    const char *allow = getenv("NETCORE_ALLOW_KERNEL");
    if (allow != NULL && strcmp(allow, "1") == 0) {
        nc__log(NETCORE_LOG_ERROR, "NETCORE_ALLOW_KERNEL=1: %s %s; running it anyway: it may "
                "bypass netcore", path != NULL ? path : "(fexecve)", why);
        return 0;
    }
    nc__log(NETCORE_LOG_ERROR, "exec of %s refused: it %s, and would run on the kernel's stack "
            "(NETCORE_ALLOW_KERNEL=1 runs it anyway)", path != NULL ? path : "(fexecve)", why);
    return -EPERM;
}
