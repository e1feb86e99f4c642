/*
 * lwIP's platform header (lwip/arch.h includes it) for netcore's build of lwIP on Linux and
 * glibc: what Debian's port/include/arch/cc.h says for Linux, less what NO_SYS leaves unused.
 * Random numbers and the checksum routine are in lwipopts.h.
 */
#ifndef NETCORE_ARCH_CC_H
#define NETCORE_ARCH_CC_H

#include <sys/time.h>  /* struct timeval is libc's */
#include <sys/types.h> /* BYTE_ORDER */

#define LWIP_TIMEVAL_PRIVATE 0
#define LWIP_ERRNO_INCLUDE <errno.h>
#define LWIP_ERRNO_STDINCLUDE 1
/* htons and friends stay libc's; lwIP's own are lwip_htons and friends. */
#define LWIP_DONT_PROVIDE_BYTEORDER_FUNCTIONS

#endif /* NETCORE_ARCH_CC_H */
