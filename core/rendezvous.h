/* rendezvous.c: where a shared stack's driver and programs meet. */
#ifndef NC_RENDEZVOUS_H
#define NC_RENDEZVOUS_H

#include <stddef.h>

struct netcore_config;

/* A run or stats directory of the effective uid, mode 0700 (made if missing). */
int nc__private_dir(const char *dir, const char *var, char *err, size_t errlen);

/* cfg's run directory (NETCORE_RUNDIR, by default /tmp/netcore-EUID) into dir, made and
 * checked private (nc__private_dir). */
int nc__run_dir(const struct netcore_config *cfg, char *dir, size_t cap, char *err,
                size_t errlen);

#endif /* NC_RENDEZVOUS_H */
