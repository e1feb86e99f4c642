/* iss.c: initial sequence numbers, lwIP's hook through lwiphooks.h. */
#ifndef NC_ISS_H
#define NC_ISS_H

#include <stdbool.h>

/* Does lwIP's call reach netcore's? */
bool nc__iss_ours(void);

#endif /* NC_ISS_H */
