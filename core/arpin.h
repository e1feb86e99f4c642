/* arpin.c: the guard in front of lwIP's etharp_input (see there). */
#ifndef NC_ARPIN_H
#define NC_ARPIN_H

#include <stdbool.h>

/* Does lwIP's call reach the guard? */
bool nc__arpin_ours(void);

#endif /* NC_ARPIN_H */
