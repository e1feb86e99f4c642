/* rendezvous.c: where a shared stack's driver and programs meet. */
#ifndef NC_RENDEZVOUS_H
#define NC_RENDEZVOUS_H

#include <stddef.h>

/* A run or stats directory of the effective uid, mode 0700 (made if missing). */
int nc__private_dir(const char *dir, const char *var, char *err, size_t errlen);

#endif /* NC_RENDEZVOUS_H */
