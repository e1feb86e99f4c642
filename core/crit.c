/* Critical sections against signal handlers: the counters (see shimapi.h). */
#include "shimapi.h"

NC_TLS volatile sig_atomic_t nc__crit_depth;
NC_TLS volatile sig_atomic_t nc__crit_pending;
NC_TLS volatile sig_atomic_t nc__crit_handled;
NC_TLS _Atomic(uint32_t) *volatile nc__crit_wait;
void (*nc__crit_hook)(void);

void nc__crit_run(void)
{
    if (nc__crit_hook != NULL)
        nc__crit_hook();
}
