/*
 * fork: what a child gets.
 *
 * The stack lives in the process that started it: its thread does not exist in a child,
 * and its connections belong to the parent (two processes driving one TCP connection would
 * corrupt it). So a child keeps nothing of it: the device and the sockets' eventfds are
 * closed at fork, and lwIP's state is forgotten (not freed: it is the child's copy of the
 * parent's memory, and freeing pcbs could send RSTs for the parent's connections) when the
 * child starts a stack of its own on another device of the pool.
 *
 * The prepare handler takes the stack lock, so lwIP is between two operations when the
 * address space is copied, never halfway through a list update.
 */
#include "neigh.h"
#include "netcore.h"

#include <lwip/netif.h>
#include <lwip/priv/tcp_priv.h>
#include <lwip/tcp.h>
#include <lwip/udp.h>

#include "dev.h"
#include "devwatch.h"
#include "pcap.h"
#include "pcbmap.h"
#include "relay.h"
#include "rto.h"
#include "sharesrv.h"
#include "shimapi.h"
#include "sock.h"
#include "stack.h"
#include "stat.h"
#include "sys.h"

/* A stack being handed to a keeper (keep.c) is locked already and is the keeper's to run:
 * the fork handlers leave it alone.
 * The control server's mutex first (share.c takes it, then the stack lock): a request being
 * handled holds fds it received, or a fresh program end, outside the stack lock; forking
 * then would copy them into the child, which would keep the client's socket alive. */
void netcore_fork_prepare(struct netcore_stack *st)
{
    if (st == NULL || st->keeping)
        return;
    if (st->share != NULL)
        nc__mutex_lock(&st->share->mu);
    nc__lock(st);
}

void netcore_fork_parent(struct netcore_stack *st)
{
    if (st == NULL || st->keeping)
        return;
    nc__run_pending_and_unlock(st);
    if (st->share != NULL)
        nc__mutex_unlock(&st->share->mu);
}

/* In the child, right after fork: only closes (async-signal-safe), nothing that allocates. */
void netcore_fork_child(struct netcore_stack *st)
{
    if (st == NULL || st->keeping)
        return;
    /* The prepare handler's lock, held by this thread in the child's copy. Not through
     * nc__unlock: a signal deferred under it was the parent's (the shim forgets it). */
    pthread_mutex_unlock(&st->lock);
    nc__crit_depth = nc__crit_depth - 1;
    if (st->share != NULL) {
        /* Held by this thread in the copy: a fresh one (nothing here serves any more). */
        pthread_mutex_init(&st->share->mu, NULL);
        nc__crit_depth = nc__crit_depth - 1;
    }
    st->dev_down = true; /* whatever lwIP would still send goes nowhere */
    st->threaded = false;
    nc__dev_close(&st->dev);
    nc__devwatch_close(st);
    nc__pcap_close(st);
    nc__stat_release(st, false); /* the name is the parent's */
    nc__share_fork_child(st);     /* the rendezvous and control connections too */
    for (int i = 0; i < st->cfg.max_sockets; i++) {
        struct nc_sock *s = atomic_load(&st->socks[i]);
        struct nc_sock *z = atomic_load(&st->zombie[i]); /* closed, awaiting its last caller */
        if (s != NULL && s->efd >= 0) {
            nc__sys_close(s->efd);
            s->efd = -1;
        }
        if (z != NULL && z != s && z->efd >= 0) {
            nc__sys_close(z->efd);
            z->efd = -1;
        }
    }
    nc__relay_fork_child(st); /* the program ends stay with whoever holds them */
    if (st->cmdq.efd >= 0) {
        nc__sys_close(st->cmdq.efd);
        st->cmdq.efd = -1;
    }
}

/*
 * In the child, before it starts its own stack: lwIP is a process-wide singleton, so empty
 * its lists of the parent's pcbs and remove the parent's interface. The memory stays as it
 * was (see above); only lwIP stops seeing it.
 */
void netcore_fork_forget(struct netcore_stack *st)
{
    if (st == NULL || nc__stack != st)
        return;
    /* Its retransmission timer is in lwIP's process-wide list; the child's pcbs are not its. */
    nc__rto_free(st);
    nc__tcp_fin_ack_stop(st);
    nc__neigh_stop(st);
    nc__pcbmap_free(st);
    tcp_active_pcbs = NULL;
    tcp_listen_pcbs.listen_pcbs = NULL;
    tcp_bound_pcbs = NULL;
    tcp_tw_pcbs = NULL;
    udp_pcbs = NULL;
    if (st->netif != NULL)
        netif_remove(st->netif); /* also drops its ARP and neighbour entries */
    nc__stack = NULL;
}
