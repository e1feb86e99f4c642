/*
 * Logging: one line per message on stderr, "netcore[PID]: ", then the level for anything
 * but errors, then the text. NETCORE_LOG picks how much: error (the default: quiet unless
 * something fails), warn, info, debug. A message is built on the stack and leaves in one
 * write(2), so lines from threads and processes sharing stderr do not interleave, and
 * nothing here takes a stdio lock (the netstack thread may log while a program thread is
 * inside stdio).
 */
#include "shimapi.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "netcore.h"

static _Atomic int level = NETCORE_LOG_ERROR;

void netcore_log_level(int lvl)
{
    atomic_store(&level, lvl);
}

bool nc__log_on(int lvl)
{
    return lvl <= atomic_load_explicit(&level, memory_order_relaxed);
}

void nc__log(int lvl, const char *fmt, ...)
{
    static const char *const tag[] = { "", "warn: ", "info: ", "debug: " };
    if (!nc__log_on(lvl))
        return;
    char line[1024];
    /* getpid() is a system call in this glibc; logging is rare enough to afford it. */
    int n = snprintf(line, sizeof(line), "netcore[%d]: %s", (int)getpid(),
                     lvl >= 0 && lvl <= NETCORE_LOG_DEBUG ? tag[lvl] : "");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    (void)nc__raw_syscall(SYS_write, 2, line, len);
}
