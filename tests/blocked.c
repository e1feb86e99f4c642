/* blocked: see blocked.h. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "blocked.h"

/* Reads /proc/self/task/TID/NAME into buf (NUL-terminated); false if it cannot. */
static bool task_file(pid_t tid, const char *name, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/task/%d/%s", (int)tid, name);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = '\0';
    return true;
}

bool thread_blocked(const _Atomic pid_t *tid, int ms)
{
    struct timespec tick = { 0, 1000000 };
    for (int i = 0; i < ms; i++, nanosleep(&tick, NULL)) {
        pid_t t = atomic_load(tid);
        if (t == 0)
            continue;
        char stat[512], call[32];
        if (!task_file(t, "stat", stat, sizeof(stat)))
            return false; /* the thread has ended */
        if (!task_file(t, "syscall", call, sizeof(call)))
            call[0] = '\0';
        /* The state follows the command name in parentheses; syscall says "running" or
         * gives the number of the call the thread is in. */
        const char *st = strrchr(stat, ')');
        if (st != NULL && strncmp(st, ") S ", 4) == 0 && call[0] >= '0' && call[0] <= '9')
            return true;
    }
    return false;
}
