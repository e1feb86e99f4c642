/* config.c: what the core reads of a configuration beyond netcore.h. */
#ifndef NC_CFG_H
#define NC_CFG_H

#include <netinet/in.h>
#include <stdbool.h>

#include "netcore.h"

/* The limited broadcast address, or the broadcast address of our subnet. */
bool nc__cfg_broadcast(const struct netcore_config *cfg, in_addr_t a);

#endif /* NC_CFG_H */
