/* udpin.c: the guard in front of lwIP's udp_input (see there). */
#ifndef NC_UDPIN_H
#define NC_UDPIN_H

#include <stdbool.h>

/* Does lwIP's call reach the guard? */
bool nc__udpin_ours(void);

#endif /* NC_UDPIN_H */
