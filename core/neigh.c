/*
 * neigh: a connect whose next hop never answers ARP (IPv4) or neighbour solicitation (IPv6)
 * fails with EHOSTUNREACH after 3 s, as the kernel's does: its resolution gives up after 3
 * probes 1 s apart (ucast/mcast_solicit 3, retrans_time 1 s) and reports a host unreachable
 * to the socket in SYN-SENT. lwIP's etharp and nd6 drop the SYN queued behind the resolution
 * and tell nobody, so the connect went on through its SYN retries and said ETIMEDOUT after
 * about 28 s (IPv6: 19 s).
 *
 * One timer for all connects: a pcb still in SYN-SENT NC_NEIGH_WAIT_MS after its connect
 * whose next hop has no resolved entry (etharp's table; nd6's destination and neighbour
 * caches) is aborted with EHOSTUNREACH, reported as an ICMP error is (icmp.c, on_err). A
 * next hop that did answer leaves the connect to TCP's own timers. A device without link
 * layer addresses (TUN) resolves nothing: no check.
 */
#include "neigh.h"

#include <errno.h>

#include <lwip/etharp.h>
#include <lwip/netif.h>
#include <lwip/priv/nd6_priv.h>
#include <lwip/priv/tcp_priv.h>
#include <lwip/sys.h>
#include <lwip/tcp.h>
#include <lwip/timeouts.h>

#include "sock.h"
#include "stack.h"

#define NC_NEIGH_WAIT_MS 3000

/* Whether the next hop of IPv4 address dst on n has an entry that answered. */
static bool resolved4(struct netif *n, const ip4_addr_t *dst)
{
    if (ip4_addr_cmp(dst, netif_ip4_addr(n)))
        return true; /* our own address: looped back, no ARP */
    if (!ip4_addr_netcmp(dst, netif_ip4_addr(n), netif_ip4_netmask(n)) &&
        !ip4_addr_islinklocal(dst))
        dst = netif_ip4_gw(n); /* as etharp_output picks the hop */
    struct eth_addr *eth;
    const ip4_addr_t *ip;
    return etharp_find_addr(n, dst, &eth, &ip) >= 0;
}

/* The same for IPv6: the hop nd6 chose for dst, and its neighbour entry. A destination nd6
 * has no entry for was never resolved by it (on another netif, or not sent yet): let be. */
static bool resolved6(const ip6_addr_t *dst)
{
    const ip6_addr_t *hop = NULL;
    for (int i = 0; i < LWIP_ND6_NUM_DESTINATIONS; i++) {
        if (ip6_addr_cmp_zoneless(&destination_cache[i].destination_addr, dst)) {
            hop = &destination_cache[i].next_hop_addr;
            break;
        }
    }
    if (hop == NULL)
        return true;
    for (int i = 0; i < LWIP_ND6_NUM_NEIGHBORS; i++) {
        const struct nd6_neighbor_cache_entry *e = &neighbor_cache[i];
        if (e->state != ND6_NO_ENTRY && ip6_addr_cmp_zoneless(&e->next_hop_address, hop))
            return e->state != ND6_INCOMPLETE;
    }
    return false; /* its entry was freed: the solicitations went unanswered */
}

static bool resolved(struct netcore_stack *st, const struct tcp_pcb *p)
{
    struct netif *n = st->netif;
    if (!(n->flags & NETIF_FLAG_ETHARP))
        return true;
    if (IP_IS_V6_VAL(p->remote_ip))
        return resolved6(ip_2_ip6(&p->remote_ip));
    return resolved4(n, ip_2_ip4(&p->remote_ip));
}

static void arm(struct netcore_stack *st, uint32_t in_ms);

/* The timer: fails what waited its time for an answer, and sets itself for the next. Runs
 * from sys_check_timeouts(), under the stack lock. */
static void check(void *arg)
{
    struct netcore_stack *st = arg;
    st->neigh_armed = false;
    uint32_t now = sys_now(), next = 0;
    bool any = false;
again:
    for (struct tcp_pcb *p = tcp_active_pcbs; p != NULL; p = p->next) {
        struct nc_sock *s = p->callback_arg;
        if (p->state != SYN_SENT || s == NULL || !s->tcp.neigh_due)
            continue;
        uint32_t age = now - s->tcp.syn_at;
        if (age < NC_NEIGH_WAIT_MS) {
            uint32_t left = NC_NEIGH_WAIT_MS - age;
            next = any && next < left ? next : left;
            any = true;
            continue;
        }
        s->tcp.neigh_due = false;
        if (resolved(st, p))
            continue;
        s->tcp.icmp_error = EHOSTUNREACH;
        tcp_abort(p); /* on_err reports icmp_error; p has left the list */
        goto again;
    }
    if (any)
        arm(st, next);
}

static void arm(struct netcore_stack *st, uint32_t in_ms)
{
    if (st->neigh_armed)
        return; /* it fires no later than this one would: the earlier connect's time */
    st->neigh_armed = true;
    sys_timeout(in_ms, check, st);
}

void nc__neigh_watch(struct netcore_stack *st, struct nc_sock *s)
{
    s->tcp.syn_at = sys_now();
    s->tcp.neigh_due = true;
    arm(st, NC_NEIGH_WAIT_MS);
}

void nc__neigh_stop(struct netcore_stack *st)
{
    if (st->neigh_armed)
        sys_untimeout(check, st);
    st->neigh_armed = false;
}
