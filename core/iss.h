/* iss.c: initial sequence numbers, lwIP's hook through lwiphooks.h. */
#ifndef NC_ISS_H
#define NC_ISS_H

#include <stdbool.h>

struct netcore_stack;

/* Does lwIP's call reach netcore's? */
bool nc__iss_ours(void);

/* Takes the ISN key the user's netcore processes share (RUNDIR/isn.key), making it if
 * missing; without it (unwritable, or a file that is not the user's own and private) the
 * process keeps a key of its own and says why. A setup step of netcore_start: never fails. */
int nc__iss_setup(struct netcore_stack *st);

#endif /* NC_ISS_H */
