/*
 * lwIP's heap (MEM_LIBC_MALLOC) through a small cache of 64 KB blocks.
 *
 * With offloads nearly every pbuf that carries data is a 64 KB super-segment: each one sent
 * is allocated by tcp_write and freed when acknowledged, each one received (netif.c's
 * rx_spare) freed once the program has read it from its ring. Below glibc's mmap threshold
 * (128 KB) such blocks come from the heap, and freeing them leaves its top free chunk above
 * the trim threshold (128 KB) again and again: glibc shrinks the heap (brk in the main
 * arena, madvise MADV_DONTNEED in the netstack thread's) and the next allocation faults the
 * same pages back in, zeroed. perf of iperf3 on a TAP at MTU 1500: up to 18% of the sending side's CPU in
 * those page faults and madvise. The last BIG_KEEP freed blocks wait here instead, at most
 * BIG_KEEP x 68 KB a process holds beyond what lwIP uses; everything else is malloc's.
 * BIG_KEEP is the most a sender queues in super-segments (4 MiB, cc.c): with 8, the
 * queue's ebb and flow still moved the heap's top, and brk's TLB shootdowns and the page
 * faults after them took 10% of a sender's CPU at MTU 1500 (perf; iperf3 up 10-15 -> 15-21
 * Gbit/s, 0.56-0.60 -> 0.39-0.46 CPU s/GB). 64 blocks hold 4.4 MB at most.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>

#include "shimapi.h"

/* Every allocation above BIG_MIN and up to BIG_CLASS gets BIG_CLASS bytes: a super-segment's
 * pbuf (65535 bytes of frame, the pbuf and lwIP's headroom) fits. */
#define BIG_MIN (32 * 1024)
#define BIG_CLASS (68 * 1024)
#define BIG_KEEP 64

static pthread_mutex_t big_mu = PTHREAD_MUTEX_INITIALIZER;
static void *big[BIG_KEEP];
static int nbig;

void *nc__mem_malloc(size_t size)
{
    if (size <= BIG_MIN || size > BIG_CLASS)
        return malloc(size);
    void *p = NULL;
    nc__mutex_lock(&big_mu);
    if (nbig > 0)
        p = big[--nbig];
    nc__mutex_unlock(&big_mu);
    return p != NULL ? p : malloc(BIG_CLASS);
}

void nc__mem_free(void *p)
{
    /* Only blocks of the class (ours, or anything malloc made as large): a block of another
     * size would come back for a class allocation it does not fit, or hold memory idle. */
    size_t usable = p != NULL ? malloc_usable_size(p) : 0;
    if (usable >= BIG_CLASS && usable < BIG_CLASS + 4096) {
        nc__mutex_lock(&big_mu);
        if (nbig < BIG_KEEP) {
            big[nbig++] = p;
            p = NULL;
        }
        nc__mutex_unlock(&big_mu);
    }
    free(p);
}
