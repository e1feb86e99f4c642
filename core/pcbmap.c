/*
 * pcbmap: the TCP connection of a segment in one hash probe, for every part of netcore that
 * looks at a segment before or after lwIP (tcpin.c, rto.c, syn.c, icmp.c). Each of
 * them used to walk lwIP's tcp_active_pcbs, so a frame paid up to five walks of every
 * connection the stack has: with a thousand connections open that is most of a frame's cost.
 *
 * The map is a cache of lwIP's own lists, keyed by the peer's address and both ports:
 *  - an entry is made when a lookup misses and the walk it falls back to finds the pcb on
 *    tcp_active_pcbs (a connection is looked up within a segment or two of being made, so
 *    the walk finds it near the list's head, where lwIP puts new pcbs);
 *  - an entry is removed when lwIP frees its pcb. lwIP frees every tcp_pcb through
 *    memp_free(MEMP_TCP_PCB) (tcp_free, and memp_free itself from tcp_abandon, tcp_input,
 *    tcp_slowtmr); lwip.am compiles memp.c with its memp_free renamed, so every caller
 *    reaches the memp_free below, which drops the entry and passes the call on. No entry ever
 *    points at freed memory, and a pcb with an entry may be read: its state says whether it
 *    is on the active list (SYN_SENT to LAST_ACK) or has moved to TIME-WAIT;
 *  - a hit checks the pcb's own addresses against the key, so an entry can never answer for
 *    another connection; an entry for the tuple whose pcb is in TIME-WAIT answers "no active
 *    connection" without a walk (lwIP keeps one pcb per tuple across its lists).
 * A full table only costs speed: what does not fit is found by the walk, as before.
 *
 * The segment being handled (st->rx_seg) carries the pcb found for it before lwIP's input;
 * memp_free clears it when lwIP frees that pcb during the input, so the code that runs after
 * the input reuses the lookup without risk.
 */
#include "pcbmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <lwip/memp.h>
#include <lwip/netif.h>
#include <lwip/priv/tcp_priv.h>
#include <lwip/tcp.h>

#include "hidden.h"
#include "rxframe.h"
#include "stack.h"

struct nc_pcbent {
    struct tcp_pcb *pcb;         /* NULL: free */
    int next_t, next_p;          /* chains by tuple and by pcb; the free list uses next_t */
    uint32_t addr[4];            /* the peer, as lwIP stores it (IPv4: addr[0]) */
    uint16_t lport, rport;
    bool v6;
    uint8_t tx_data;             /* data segments sent, counted to YOUNG_SEGMENTS */
};

struct nc_pcbmap {
    struct nc_pcbent *e;
    int *by_tuple, *by_pcb;      /* bucket heads, -1: empty */
    int cap, nbuckets, free;
    uint32_t seed;               /* a peer choosing ports cannot aim at one bucket */
};

static uint32_t mix(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x7feb352dU;
    h ^= h >> 15;
    h *= 0x846ca68bU;
    h ^= h >> 16;
    return h;
}

static size_t tuple_hash(const struct nc_pcbmap *m, const uint32_t *addr, bool v6,
                         uint16_t lport, uint16_t rport)
{
    uint32_t h = m->seed ^ ((uint32_t)lport << 16 | rport);
    h = mix(h ^ addr[0]);
    if (v6)
        h = mix(h ^ addr[1] ^ mix(addr[2] ^ mix(addr[3])));
    return h % (uint32_t)m->nbuckets;
}

static size_t pcb_hash(const struct nc_pcbmap *m, const struct tcp_pcb *pcb)
{
    uintptr_t v = (uintptr_t)pcb;
    return mix((uint32_t)(v >> 4) ^ (uint32_t)(v >> 32)) % (uint32_t)m->nbuckets;
}

/* The peer of pcb in the key's form. */
static void key_of(const struct tcp_pcb *pcb, uint32_t addr[4], bool *v6)
{
    memset(addr, 0, 4 * sizeof(uint32_t));
    *v6 = IP_IS_V6_VAL(pcb->remote_ip);
    if (*v6)
        memcpy(addr, ip_2_ip6(&pcb->remote_ip)->addr, 16);
    else
        addr[0] = ip_2_ip4(&pcb->remote_ip)->addr;
}

static bool same_peer(const struct tcp_pcb *pcb, const uint32_t *addr, bool v6,
                      uint16_t lport, uint16_t rport)
{
    if (pcb->local_port != lport || pcb->remote_port != rport)
        return false;
    if (v6)
        return IP_IS_V6_VAL(pcb->remote_ip) &&
               memcmp(ip_2_ip6(&pcb->remote_ip)->addr, addr, 16) == 0;
    return IP_IS_V4_VAL(pcb->remote_ip) && ip_2_ip4(&pcb->remote_ip)->addr == addr[0];
}

static bool local_is(const struct tcp_pcb *pcb, const ip_addr_t *local)
{
    return local == NULL || ip_addr_cmp_zoneless(&pcb->local_ip, local);
}

/* On tcp_active_pcbs: what lwIP's input demultiplexes to first. */
static bool active(const struct tcp_pcb *pcb)
{
    return pcb->state >= SYN_SENT && pcb->state <= LAST_ACK;
}

int nc__pcbmap_init(struct netcore_stack *st)
{
    struct nc_pcbmap *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return -ENOMEM;
    /* Every socket's connection, the TIME-WAIT ones tcp.c keeps, and some handshakes. */
    long cap = (long)st->cfg.max_sockets + st->cfg.time_wait_max + 64;
    m->cap = cap > 1 << 20 ? 1 << 20 : (int)cap;
    m->nbuckets = m->cap;
    m->e = calloc((size_t)m->cap, sizeof(*m->e));
    m->by_tuple = malloc((size_t)m->nbuckets * sizeof(int));
    m->by_pcb = malloc((size_t)m->nbuckets * sizeof(int));
    if (m->e == NULL || m->by_tuple == NULL || m->by_pcb == NULL) {
        free(m->e);
        free(m->by_tuple);
        free(m->by_pcb);
        free(m);
        return -ENOMEM;
    }
    if (getrandom(&m->seed, sizeof(m->seed), GRND_NONBLOCK) != (ssize_t)sizeof(m->seed))
        m->seed = (uint32_t)(uintptr_t)m ^ 0x5bd1e995U;
    for (int i = 0; i < m->nbuckets; i++)
        m->by_tuple[i] = m->by_pcb[i] = -1;
    for (int i = 0; i < m->cap; i++)
        m->e[i].next_t = i + 1 < m->cap ? i + 1 : -1;
    m->free = 0;
    st->pcbmap = m;
    return 0;
}

void nc__pcbmap_free(struct netcore_stack *st)
{
    if (st->pcbmap == NULL)
        return;
    free(st->pcbmap->e);
    free(st->pcbmap->by_tuple);
    free(st->pcbmap->by_pcb);
    free(st->pcbmap);
    st->pcbmap = NULL;
}

static void unlink_from(struct nc_pcbmap *m, int *head, int idx, bool tuple)
{
    int *link = head;
    while (*link >= 0 && *link != idx)
        link = tuple ? &m->e[*link].next_t : &m->e[*link].next_p;
    if (*link == idx)
        *link = tuple ? m->e[idx].next_t : m->e[idx].next_p;
}

static void drop(struct nc_pcbmap *m, int idx)
{
    struct nc_pcbent *e = &m->e[idx];
    unlink_from(m, &m->by_tuple[tuple_hash(m, e->addr, e->v6, e->lport, e->rport)], idx, true);
    unlink_from(m, &m->by_pcb[pcb_hash(m, e->pcb)], idx, false);
    e->pcb = NULL;
    e->next_t = m->free;
    m->free = idx;
}

static int find_entry(const struct nc_pcbmap *m, const struct tcp_pcb *pcb)
{
    for (int i = m->by_pcb[pcb_hash(m, pcb)]; i >= 0; i = m->e[i].next_p)
        if (m->e[i].pcb == pcb)
            return i;
    return -1;
}

void nc__pcbmap_add(struct netcore_stack *st, struct tcp_pcb *pcb)
{
    struct nc_pcbmap *m = st->pcbmap;
    if (m == NULL || pcb == NULL || find_entry(m, pcb) >= 0 || m->free < 0)
        return;
    int idx = m->free;
    struct nc_pcbent *e = &m->e[idx];
    m->free = e->next_t;
    e->pcb = pcb;
    key_of(pcb, e->addr, &e->v6);
    e->lport = pcb->local_port;
    e->rport = pcb->remote_port;
    e->tx_data = 0;
    size_t t = tuple_hash(m, e->addr, e->v6, e->lport, e->rport);
    e->next_t = m->by_tuple[t];
    m->by_tuple[t] = idx;
    size_t p = pcb_hash(m, pcb);
    e->next_p = m->by_pcb[p];
    m->by_pcb[p] = idx;
}

/* The tuple's pcb on tcp_active_pcbs, or with tw on tcp_tw_pcbs (lwIP keeps one pcb per
 * tuple across its lists: a hit on the other list answers NULL without a walk). */
static struct tcp_pcb *lookup(struct netcore_stack *st, const uint32_t *addr, bool v6,
                              uint16_t rport, uint16_t lport, const ip_addr_t *local, bool tw)
{
    struct nc_pcbmap *m = st != NULL ? st->pcbmap : NULL;
    bool known = false;
    if (m != NULL) {
        int i = m->by_tuple[tuple_hash(m, addr, v6, lport, rport)];
        while (i >= 0) {
            struct nc_pcbent *e = &m->e[i];
            int next = e->next_t;
            if (e->lport == lport && e->rport == rport && e->v6 == v6 &&
                memcmp(e->addr, addr, v6 ? 16 : 4) == 0) {
                if (!same_peer(e->pcb, e->addr, e->v6, e->lport, e->rport)) {
                    drop(m, i); /* the pcb is another connection's now: forget it */
                } else if (local_is(e->pcb, local)) {
                    bool in_tw = e->pcb->state == TIME_WAIT;
                    if (tw ? in_tw : active(e->pcb))
                        return e->pcb;
                    /* The tuple's one pcb, on the other list; a CLOSED one is on its way
                     * out, and the walk decides. */
                    known = known || in_tw || active(e->pcb);
                }
            }
            i = next;
        }
    }
    if (known)
        return NULL;
    if (st != NULL)
        st->stats.pcb_walks++;
    for (struct tcp_pcb *p = tw ? tcp_tw_pcbs : tcp_active_pcbs; p != NULL; p = p->next)
        if (same_peer(p, addr, v6, lport, rport) && local_is(p, local)) {
            if (st != NULL && !tw)
                nc__pcbmap_add(st, p);
            return p;
        }
    return NULL;
}

struct tcp_pcb *nc__pcb_find(struct netcore_stack *st, const ip_addr_t *remote,
                             uint16_t rport, uint16_t lport, const ip_addr_t *local)
{
    uint32_t addr[4] = { 0, 0, 0, 0 };
    bool v6 = IP_IS_V6(remote);
    if (v6)
        memcpy(addr, ip_2_ip6(remote)->addr, 16);
    else
        addr[0] = ip_2_ip4(remote)->addr;
    return lookup(st, addr, v6, rport, lport, local, false);
}

struct tcp_pcb *nc__pcb_find_raw(struct netcore_stack *st, bool v6, const uint8_t *remote,
                                 uint16_t rport, uint16_t lport)
{
    uint32_t addr[4] = { 0, 0, 0, 0 };
    memcpy(addr, remote, v6 ? 16 : 4);
    return lookup(st, addr, v6, rport, lport, NULL, false);
}

struct tcp_pcb *nc__pcb_find_tw_raw(struct netcore_stack *st, bool v6, const uint8_t *remote,
                                    uint16_t rport, uint16_t lport)
{
    uint32_t addr[4] = { 0, 0, 0, 0 };
    memcpy(addr, remote, v6 ? 16 : 4);
    return lookup(st, addr, v6, rport, lport, NULL, true);
}

/*
 * A new connection's first data segments: a kernel peer acknowledges them at once (its
 * quick-ACK mode), within our writev (devwatch.c). Counted on the map's entry, without a
 * walk: a connection not in the map yet is not counted.
 */
#define YOUNG_SEGMENTS 2

bool nc__pcb_young_send(struct netcore_stack *st, const uint8_t *ip, size_t len)
{
    struct nc_pcbmap *m = st->pcbmap;
    if (m == NULL || len < 40 || (ip[0] >> 4) != 4 || ip[9] != 6)
        return false;
    size_t ihl = (size_t)(ip[0] & 0xf) * 4;
    if (len < ihl + 20 || (size_t)(ip[2] << 8 | ip[3]) <= ihl + (size_t)(ip[ihl + 12] >> 4) * 4)
        return false; /* no payload */
    uint32_t addr[4] = { 0, 0, 0, 0 };
    memcpy(addr, ip + 16, 4);
    uint16_t lport = (uint16_t)(ip[ihl] << 8 | ip[ihl + 1]);
    uint16_t rport = (uint16_t)(ip[ihl + 2] << 8 | ip[ihl + 3]);
    for (int i = m->by_tuple[tuple_hash(m, addr, false, lport, rport)]; i >= 0;
         i = m->e[i].next_t) {
        struct nc_pcbent *e = &m->e[i];
        if (e->lport == lport && e->rport == rport && !e->v6 && e->addr[0] == addr[0]) {
            if (e->tx_data >= YOUNG_SEGMENTS)
                return false;
            e->tx_data++;
            return true;
        }
    }
    return false;
}

/* lwIP frees a pcb: forget it (see the top of the file). */
static void forget(struct netcore_stack *st, struct tcp_pcb *pcb)
{
    struct nc_pcbmap *m = st->pcbmap;
    if (st->rx_seg != NULL && st->rx_seg->pcb == pcb)
        st->rx_seg->pcb = NULL;
    if (m == NULL)
        return;
    int i = find_entry(m, pcb);
    if (i >= 0)
        drop(m, i);
}

/* lwIP's own memp_free, under the name lwip.am gives it */
void nc__lwip_memp_free(memp_t type, void *mem);

/*
 * lwIP's memp_free has no argument to carry the stack: the pcb's stack is the state of lwIP's
 * one interface (netif.c), its default. There is none from netcore_stop (which aborts every
 * pcb first) to the next start, nor in a forked child once netcore_fork_forget removed the
 * parent's: no pcb of a stack is left then to forget.
 */
NC_HIDDEN void memp_free(memp_t type, void *mem)
{
    struct netif *n = netif_default;
    if (type == MEMP_TCP_PCB && mem != NULL && n != NULL)
        forget(n->state, mem);
    nc__lwip_memp_free(type, mem);
}

/* The same function as memp_free, by a name nothing outside this file can take. */
static void self(memp_t type, void *mem) __attribute__((alias("memp_free")));

/* Called by netcore_start: does lwIP's call reach this memp_free (see tcpin.c)? */
bool nc__pcbmap_ours(void)
{
    return nc__same_fn((void *)memp_free, (void *)self);
}
