/* chksum.c: the Internet checksum lwIP calls through lwipopts.h (LWIP_CHKSUM). */
#ifndef NC_CHKSUM_H
#define NC_CHKSUM_H

#include <stdbool.h>

/* Does lwIP's call reach netcore's? */
bool nc__chksum_ours(void);

#endif /* NC_CHKSUM_H */
