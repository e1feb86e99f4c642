/*
 * netcore-elfcheck [--] FILE... — the facts by which `netcore run` decides whether LD_PRELOAD can
 * reach a program, one line of eleven numbers per FILE, in order:
 *
 *   ELF CLASS MACHINE INTERP GO SANITIZER SETUID SETGID UID GID CAPS
 *
 * ELF..SANITIZER as struct nc_elf_facts (tools/elf.h; all 0 for a file that is not ELF or not
 * a regular file); SETUID and SETGID the mode bits (0 or 1), UID and GID the owner, CAPS 1
 * when the file may carry file capabilities (a security.capability attribute, or one that
 * could not be looked for), so the script asks getcap(8) for their text only then.
 * The script keeps the policy and the words (netcore, run_check); this program only reads.
 * It replaced about ten od(1) runs, a stat(1), two id(1) and an ldd(1) in every `netcore
 * run`, most of its start-up time.
 *
 * Exit status 0; 1 when a FILE cannot be opened or read (the message names the call and the
 * file; the script then checks in bash); 2 on a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "elf.h"

static long read_fd(void *ctx, uint64_t off, void *buf, size_t len)
{
    int fd = *(int *)ctx;
    ssize_t n;
    do
        n = pread(fd, buf, len, (off_t)off);
    while (n < 0 && errno == EINTR);
    return n;
}

/* Whether fd has file capabilities, or might have: only a clear "no attribute" says no. */
static int may_have_caps(int fd)
{
    if (fgetxattr(fd, "security.capability", NULL, 0) >= 0)
        return 1;
    return errno != ENODATA && errno != ENOTSUP;
}

/* Prints FILE's line; returns 0, or 1 after a message naming the failed call. */
static int check(const char *path)
{
    struct nc_elf_facts f = { 0 };
    struct stat st;
    int rc = 0;
    /* O_NONBLOCK: a FIFO put in the program's place must not hang the check. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "netcore-elfcheck: open %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (fstat(fd, &st) < 0) {
        fprintf(stderr, "netcore-elfcheck: fstat %s: %s\n", path, strerror(errno));
        rc = 1;
        goto fail;
    }
    if (S_ISREG(st.st_mode)) {
        int e = nc__elf_inspect(read_fd, &fd, (uint64_t)st.st_size, &f);
        if (e < 0) {
            fprintf(stderr, "netcore-elfcheck: read %s: %s\n", path, strerror(-e));
            rc = 1;
            goto fail;
        }
    }
    printf("%u %u %u %u %u %u %d %d %lu %lu %d\n", f.elf, f.cls, f.machine, f.interp, f.go,
           f.sanitizer, (st.st_mode & S_ISUID) != 0, (st.st_mode & S_ISGID) != 0,
           (unsigned long)st.st_uid, (unsigned long)st.st_gid, may_have_caps(fd));
fail:
    close(fd);
    return rc;
}

int main(int argc, char **argv)
{
    int rc = 0, i = 1;
    if (i < argc && strcmp(argv[i], "--") == 0)
        i++;
    if (i == argc || (argv[i][0] == '-' && strcmp(argv[i - 1], "--") != 0)) {
        fprintf(stderr, "usage: netcore-elfcheck [--] FILE...\n");
        return 2;
    }
    for (; i < argc && rc == 0; i++)
        rc = check(argv[i]);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "netcore-elfcheck: write: %s\n", strerror(errno));
        return 1;
    }
    return rc;
}
