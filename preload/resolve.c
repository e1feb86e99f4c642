/*
 * resolve: host names and addresses through c-ares: /etc/hosts first, then DNS to NETCORE_DNS
 * (default: the gateway) over netcore sockets.
 *
 * glibc's resolver opens and uses its sockets inside libc, where no interposed symbol sees
 * them, so a program on netcore would ask the kernel's stack for every name. c-ares is given
 * socket functions that call the netcore API directly: its sockets are netcore handles, never
 * program fds, and the event loop below runs on the calling thread, waiting on the handles'
 * eventfds in one kernel poll.
 *
 * Each lookup gets a channel of its own. c-ares channels are not thread-safe and programs
 * resolve from several threads at once (curl in a thread per lookup); a fresh channel also
 * takes a fresh source port and re-reads /etc/resolv.conf (search list, ndots) and /etc/hosts,
 * as glibc does.
 *
 * Time is bounded as glibc bounds it: "options timeout:N attempts:N" from /etc/resolv.conf
 * and RES_OPTIONS (defaults 5 s and 2), and a lookup ends after timeout × attempts at most
 * (c-ares doubles its timeout on every retry round, glibc does not).
 */
#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <poll.h>
#include <pthread.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

/* glibc's RES_TIMEOUT, RES_DFLRETRY, RES_MAXRETRANS and RES_MAXRETRY. */
#define TIMEOUT_S 5
#define ATTEMPTS 2
#define TIMEOUT_MAX 30
#define ATTEMPTS_MAX 5

/* Longest CNAME chain followed to the canonical name (c-ares itself stops at loops). */
#define CNAME_HOPS 16

/* The server: NETCORE_DNS, from the shim's one parse of the variables (the stack's). */
static pthread_once_t config_once = PTHREAD_ONCE_INIT;
static struct in_addr dns_server;
static char config_error[300]; /* non-empty when the variables do not parse */

static void read_config(void)
{
    struct netcore_config cfg;

    if (nc__shim_config(&cfg, config_error, sizeof(config_error)) != 0) {
        if (config_error[0] == '\0')
            snprintf(config_error, sizeof(config_error), "a NETCORE_* variable is invalid");
        return;
    }
    dns_server = cfg.dns.s_addr != 0 ? cfg.dns : cfg.gw;
    ares_library_init(ARES_LIB_INIT_ALL);
}

static int clamp(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* "timeout:N" and "attempts:N" among the words of an "options" line (or RES_OPTIONS). */
static void parse_options(const char *s, int *timeout, int *attempts)
{
    while (*s != '\0') {
        s += strspn(s, " \t\r\n");
        size_t len = strcspn(s, " \t\r\n");
        if (len > 8 && strncmp(s, "timeout:", 8) == 0)
            *timeout = clamp(atoi(s + 8), 1, TIMEOUT_MAX);
        else if (len > 9 && strncmp(s, "attempts:", 9) == 0)
            *attempts = clamp(atoi(s + 9), 1, ATTEMPTS_MAX);
        s += len;
    }
}

/* c-ares reads the search list and ndots itself but not these two, so they are read here. */
static void resolver_options(int *timeout, int *attempts)
{
    char line[512];
    FILE *f;
    const char *env;

    *timeout = TIMEOUT_S;
    *attempts = ATTEMPTS;
    if ((f = fopen("/etc/resolv.conf", "re")) != NULL) {
        while (fgets(line, sizeof(line), f) != NULL)
            if (strncmp(line, "options", 7) == 0 && (line[7] == ' ' || line[7] == '\t'))
                parse_options(line + 8, timeout, attempts);
        fclose(f);
    }
    if ((env = getenv("RES_OPTIONS")) != NULL)
        parse_options(env, timeout, attempts);
}

/* One lookup: its channel and what its callback reported. */
struct lookup {
    ares_channel ch;
    int64_t deadline; /* CLOCK_MONOTONIC ms */
    bool done;
    int status;    /* c-ares status */
    int stack_err; /* errno of a stack that would not start, 0 if none did fail */
    bool refused;  /* the server's port is unreachable (ICMP) */
    bool dns_wanted; /* the lookup goes on to DNS when /etc/hosts has no answer... */
    bool dns;        /* ...and DNS can be asked (the NETCORE_* variables parse) */
    struct nc_host *out;
};

/*
 * ICMP port unreachable means no server is there: the lookup ends at once. glibc would send
 * the remaining attempts, and when the kernel rate-limits its ICMP errors the last attempt
 * waits out the whole timeout; the answer is EAI_AGAIN either way.
 */
static ssize_t note_refused(struct lookup *lk, ssize_t rc)
{
    if (rc == -ECONNREFUSED)
        lk->refused = true;
    return nc__ret(rc);
}

/* Socket functions: netcore handles, non-blocking, since c-ares expects EAGAIN/EINPROGRESS.
 * A process attached to a stack another process drives has no handles: its sockets are
 * relayed fds (remote.c), used through the interposed calls like any program's. */

static ares_socket_t sock_open(int af, int type, int protocol, void *arg)
{
    struct lookup *lk = arg;
    int rc;

    if (af != AF_INET) { /* NETCORE_DNS is IPv4 */
        errno = EAFNOSUPPORT;
        return ARES_SOCKET_BAD;
    }
    rc = nc__shim_start();
    if (rc != 0) {
        lk->stack_err = -rc;
    } else if (nc_stack == NULL) {
        int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
        if (fd >= 0)
            return fd;
        rc = -errno;
    } else {
        rc = netcore_socket(nc_stack, AF_INET, type | SOCK_NONBLOCK, protocol);
        if (rc >= 0)
            return rc;
    }
    errno = -rc;
    return ARES_SOCKET_BAD;
}

static int sock_close(ares_socket_t s, void *arg)
{
    (void)arg;
    if (nc_stack == NULL)
        return close(s);
    return (int)nc__ret(netcore_close(nc_stack, s));
}

static int sock_connect(ares_socket_t s, const struct sockaddr *to, ares_socklen_t len,
                        void *arg)
{
    (void)arg;
    if (nc_stack == NULL)
        return connect(s, to, len);
    return (int)nc__ret(netcore_connect(nc_stack, s, to, len));
}

static ares_ssize_t sock_recvfrom(ares_socket_t s, void *buf, size_t len, int flags,
                                  struct sockaddr *from, ares_socklen_t *fromlen, void *arg)
{
    if (nc_stack == NULL) {
        ssize_t r = recvfrom(s, buf, len, flags | MSG_DONTWAIT, from, fromlen);
        return note_refused(arg, r < 0 ? -errno : r);
    }
    return note_refused(arg, netcore_recvfrom(nc_stack, s, buf, len, flags | MSG_DONTWAIT,
                                              from, fromlen));
}

/* A UDP query is one vector (one datagram); TCP may send the vectors one by one. */
static ares_ssize_t sock_sendv(ares_socket_t s, const struct iovec *iov, int n, void *arg)
{
    ssize_t done = 0;

    for (int i = 0; i < n; i++) {
        ssize_t r = nc_stack == NULL
                        ? send(s, iov[i].iov_base, iov[i].iov_len, MSG_DONTWAIT | MSG_NOSIGNAL)
                        : netcore_send(nc_stack, s, iov[i].iov_base, iov[i].iov_len,
                                       MSG_DONTWAIT);
        if (nc_stack == NULL && r < 0)
            r = -errno;
        if (r < 0) {
            if (done > 0)
                break;
            return note_refused(arg, r);
        }
        done += r;
        if ((size_t)r < iov[i].iov_len)
            break;
    }
    return done;
}

static const struct ares_socket_functions sock_funcs = {
    sock_open, sock_close, sock_connect, sock_recvfrom, sock_sendv,
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A channel that looks in /etc/hosts, and then asks DNS itself when c_ares_dns is true (and
 * DNS can be asked). lk->dns_wanted says whether the lookup needs DNS after /etc/hosts.
 */
static int open_channel(struct lookup *lk, bool c_ares_dns)
{
    struct ares_options o;
    char lookups[] = "fb"; /* files, then bind (DNS) */
    int timeout, attempts, rc;

    resolver_options(&timeout, &attempts);
    memset(&o, 0, sizeof(o));
    o.timeout = timeout * 1000;
    o.tries = attempts;
    o.servers = &dns_server;
    o.nservers = 1;
    lk->dns = lk->dns_wanted && config_error[0] == '\0';
    if (!c_ares_dns || !lk->dns)
        lookups[1] = '\0';
    o.lookups = lookups;
    rc = ares_init_options(&lk->ch, &o, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
                                            ARES_OPT_SERVERS | ARES_OPT_LOOKUPS);
    if (rc != ARES_SUCCESS)
        return rc;
    ares_set_socket_functions(lk->ch, &sock_funcs, lk);
    lk->deadline = now_ms() + (int64_t)timeout * 1000 * attempts;
    return ARES_SUCCESS;
}

/*
 * Runs the channel until the lookup's callback has run, or cancels the lookup at its deadline
 * or when the server refused (the callback then runs with ARES_ECANCELLED). Each round
 * registers interest in the sockets c-ares wants to read or write, checks their state,
 * sleeps on their eventfds only when none is ready (until c-ares' next timeout), and hands
 * c-ares what is ready; a round with nothing ready still lets c-ares run its timeouts.
 */
static void run(struct lookup *lk)
{
    while (!lk->done) {
        ares_socket_t socks[ARES_GETSOCK_MAXNUM];
        struct pollfd pfd[ARES_GETSOCK_MAXNUM];
        int hs[ARES_GETSOCK_MAXNUM];
        unsigned ev[ARES_GETSOCK_MAXNUM], ready[ARES_GETSOCK_MAXNUM];
        int64_t left = lk->deadline - now_ms();
        int bits, n = 0, i;
        bool any = false;

        if (left <= 0 || lk->refused) {
            ares_cancel(lk->ch);
            break;
        }
        bits = ares_getsock(lk->ch, socks, ARES_GETSOCK_MAXNUM);
        for (i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
            /* The bits by hand: ARES_GETSOCK_WRITABLE shifts a signed 1 into the sign bit. */
            unsigned e = ((unsigned)bits >> i & 1 ? POLLIN : 0) |
                         ((unsigned)bits >> (i + ARES_GETSOCK_MAXNUM) & 1 ? POLLOUT : 0);
            if (e == 0)
                continue;
            hs[n] = socks[i];
            ev[n] = e;
            pfd[n].fd = nc_stack != NULL ? netcore_fd(nc_stack, hs[n]) : hs[n];
            pfd[n].events = nc_stack != NULL ? POLLIN : (short)e;
            if (nc_stack != NULL)
                netcore_want(nc_stack, hs[n], e, +1);
            n++;
        }
        if (nc_stack == NULL) {
            /* Relayed fds: real sockets, whose readiness is the kernel's. */
            struct timeval max = { (time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000 };
            struct timeval tvbuf, *tv = ares_timeout(lk->ch, &max, &tvbuf);
            int ms = (int)(tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000);
            int r = LIBC(poll)(pfd, (nfds_t)n, ms);
            for (i = 0; i < n; i++) {
                unsigned re = r > 0 ? (unsigned)pfd[i].revents : 0;
                ares_process_fd(lk->ch, re & (POLLIN | POLLERR | POLLHUP) ? hs[i]
                                                                          : ARES_SOCKET_BAD,
                                re & (POLLOUT | POLLERR | POLLHUP) ? hs[i] : ARES_SOCKET_BAD);
            }
            if (r <= 0)
                ares_process_fd(lk->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
            continue;
        }
        for (i = 0; i < n; i++)
            any |= (ready[i] = netcore_poll(nc_stack, hs[i], ev[i])) != 0;
        if (!any) {
            struct timeval max = { (time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000 };
            struct timeval tvbuf, *tv = ares_timeout(lk->ch, &max, &tvbuf);
            int ms = (int)(tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000);

            nc__devwatch_idle(nc_stack, +1); /* the answer comes through the netstack thread */
            int r = LIBC(poll)(pfd, (nfds_t)n, ms);
            nc__devwatch_idle(nc_stack, -1);
            if (r > 0)
                for (i = 0; i < n; i++)
                    if (pfd[i].revents & POLLIN)
                        nc__efd_drain(pfd[i].fd);
            for (i = 0; i < n; i++)
                any |= (ready[i] = netcore_poll(nc_stack, hs[i], ev[i])) != 0;
        }
        for (i = 0; i < n; i++)
            netcore_want(nc_stack, hs[i], ev[i], -1);
        for (i = 0; i < n; i++) {
            unsigned r = ready[i], bad = POLLERR | POLLHUP;
            if (r == 0)
                continue;
            ares_process_fd(lk->ch,
                            (ev[i] & POLLIN) && (r & (POLLIN | bad)) ? hs[i] : ARES_SOCKET_BAD,
                            (ev[i] & POLLOUT) && (r & (POLLOUT | bad)) ? hs[i]
                                                                        : ARES_SOCKET_BAD);
        }
        if (!any)
            ares_process_fd(lk->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    }
}

/* Maps how the lookup ended, saying on stderr why when netcore itself is the reason. */
static enum nc_res outcome(const struct lookup *lk, const char *what)
{
    if (lk->status == ARES_SUCCESS)
        return NC_RES_OK;
    if (lk->stack_err != 0) {
        fprintf(stderr, "netcore[%d]: cannot look up %s: DNS goes through netcore, and its "
                        "stack did not start (%s)\n", (int)getpid(), what,
                strerror(lk->stack_err));
        return NC_RES_AGAIN;
    }
    if (!lk->dns) {
        if (lk->dns_wanted) {
            fprintf(stderr, "netcore[%d]: cannot look up %s: not in /etc/hosts, and no DNS "
                            "through netcore: %s\n", (int)getpid(), what, config_error);
            return NC_RES_AGAIN;
        }
        /* Only /etc/hosts was asked (c-ares then ends with its initial ECONNREFUSED). */
        return lk->status == ARES_ENOMEM ? NC_RES_NOMEM : NC_RES_NOTFOUND;
    }
    switch (lk->status) {
    case ARES_ENOTFOUND:
        return NC_RES_NOTFOUND;
    case ARES_ENODATA:
        return NC_RES_NODATA;
    case ARES_ENOMEM:
        return NC_RES_NOMEM;
    case ARES_ETIMEOUT:     /* every try went unanswered */
    case ARES_ECANCELLED:   /* our deadline */
    case ARES_ECONNREFUSED: /* no socket, or ICMP port unreachable */
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
    case ARES_EDESTRUCTION:
        return NC_RES_AGAIN;
    default:
        return NC_RES_FAIL;
    }
}

void nc__host_free(struct nc_host *h)
{
    if (h->aliases != NULL)
        for (char **a = h->aliases; *a != NULL; a++)
            free(*a);
    free(h->aliases);
    free(h->name);
    free(h->addrs);
    memset(h, 0, sizeof(*h));
}

/*
 * A lookup's start: lk->out emptied, the configuration read (once per process), the channel
 * open (c_ares_dns as for open_channel). NC_RES_OK, or why the lookup cannot be made.
 */
static enum nc_res start(struct lookup *lk, bool c_ares_dns)
{
    memset(lk->out, 0, sizeof(*lk->out));
    pthread_once(&config_once, read_config);
    int rc = open_channel(lk, c_ares_dns);
    if (rc != ARES_SUCCESS)
        return rc == ARES_ENOMEM ? NC_RES_NOMEM : NC_RES_FAIL;
    return NC_RES_OK;
}

/*
 * A lookup's end: the channel closed, its outcome (what names what was looked up), lk->out
 * freed unless found.
 */
static enum nc_res finish(struct lookup *lk, const char *what)
{
    ares_destroy(lk->ch);
    enum nc_res r = outcome(lk, what);
    if (r != NC_RES_OK)
        nc__host_free(lk->out);
    return r;
}

static void add_addr(struct nc_host *h, int family, const void *bytes)
{
    struct nc_addr *a = &h->addrs[h->naddrs++];

    a->family = family;
    memcpy(&a->a, bytes, family == AF_INET ? sizeof(a->a.v4) : sizeof(a->a.v6));
}

/* The canonical name is where the CNAME chain from the name asked ends. */
static const char *canonical(const struct ares_addrinfo *ai)
{
    const char *name = ai->name;

    for (int hop = 0; name != NULL && hop < CNAME_HOPS; hop++) {
        const struct ares_addrinfo_cname *c = ai->cnames;
        while (c != NULL && !(c->alias != NULL && c->name != NULL &&
                              strcasecmp(c->alias, name) == 0))
            c = c->next;
        if (c == NULL)
            break;
        name = c->name;
    }
    return name;
}

static int fill_from_addrinfo(struct nc_host *h, const struct ares_addrinfo *ai, const char *asked)
{
    const struct ares_addrinfo_cname *c;
    const struct ares_addrinfo_node *nd;
    const char *canon = canonical(ai);
    int n = 0;

    h->name = strdup(canon != NULL ? canon : asked);
    for (c = ai->cnames; c != NULL; c = c->next)
        n++;
    h->aliases = calloc((size_t)n + 1, sizeof(*h->aliases));
    if (h->name == NULL || h->aliases == NULL)
        return -1;
    n = 0;
    for (c = ai->cnames; c != NULL; c = c->next)
        if (c->alias != NULL && strcasecmp(c->alias, h->name) != 0)
            if ((h->aliases[n++] = strdup(c->alias)) == NULL)
                return -1;
    n = 0;
    for (nd = ai->nodes; nd != NULL; nd = nd->ai_next)
        n++;
    if ((h->addrs = calloc((size_t)n + 1, sizeof(*h->addrs))) == NULL)
        return -1;
    /* IPv4 first: netcore's IPv6 reaches only its own prefix (no IPv6 router), so the IPv4
     * address is the one a program most likely reaches. */
    for (nd = ai->nodes; nd != NULL; nd = nd->ai_next)
        if (nd->ai_family == AF_INET)
            add_addr(h, AF_INET, &((const struct sockaddr_in *)nd->ai_addr)->sin_addr);
    for (nd = ai->nodes; nd != NULL; nd = nd->ai_next)
        if (nd->ai_family == AF_INET6)
            add_addr(h, AF_INET6, &((const struct sockaddr_in6 *)nd->ai_addr)->sin6_addr);
    return 0;
}

struct name_lookup {
    struct lookup lk;
    const char *name;
};

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
    struct name_lookup *nl = arg;

    (void)timeouts;
    nl->lk.done = true;
    nl->lk.status = status;
    if (status == ARES_SUCCESS && fill_from_addrinfo(nl->lk.out, ai, nl->name) != 0)
        nl->lk.status = ARES_ENOMEM;
    ares_freeaddrinfo(ai);
}

enum nc_res nc__resolve_name(const char *name, int family, struct nc_host *out)
{
    /* NOSORT: c-ares sorts by probing routes with getsockname() on its own sockets, which
     * are netcore handles, not fds; the order is set in fill_from_addrinfo. CANONNAME: only
     * then does c-ares report an /etc/hosts line's canonical name and aliases. */
    struct ares_addrinfo_hints hints = { .ai_flags = ARES_AI_NOSORT | ARES_AI_CANONNAME,
                                         .ai_family = family };
    /* As glibc, DNS is not asked for what cannot be a host name ("-x", "a b"). */
    struct name_lookup nl = { .lk = { .out = out, .dns_wanted = res_hnok(name) != 0 },
                              .name = name };
    enum nc_res r = start(&nl.lk, true);

    if (r != NC_RES_OK)
        return r;
    ares_getaddrinfo(nl.lk.ch, name, NULL, &hints, on_addrinfo, &nl);
    run(&nl.lk);
    return finish(&nl.lk, name);
}

/* The answer as a hostent (from /etc/hosts, or parsed from a PTR answer) into the result. */
static int fill_from_hostent(struct nc_host *h, const struct hostent *he)
{
    int n = 0;

    while (he->h_aliases != NULL && he->h_aliases[n] != NULL)
        n++;
    h->name = strdup(he->h_name);
    h->aliases = calloc((size_t)n + 1, sizeof(*h->aliases));
    if (h->name == NULL || h->aliases == NULL)
        return -1;
    /* c-ares lists a PTR answer's name among its aliases too; glibc does not. */
    for (int i = 0, j = 0; i < n; i++)
        if (strcasecmp(he->h_aliases[i], he->h_name) != 0 &&
            (h->aliases[j++] = strdup(he->h_aliases[i])) == NULL)
            return -1;
    n = 0;
    while (he->h_addr_list[n] != NULL)
        n++;
    if ((h->addrs = calloc((size_t)n + 1, sizeof(*h->addrs))) == NULL)
        return -1;
    for (int i = 0; i < n; i++)
        add_addr(h, he->h_addrtype, he->h_addr_list[i]);
    return 0;
}

struct addr_lookup {
    struct lookup lk;
    const void *addr;
    int len, family;
};

static void on_hostent(void *arg, int status, int timeouts, struct hostent *he)
{
    struct addr_lookup *al = arg;

    (void)timeouts;
    al->lk.done = true;
    al->lk.status = status;
    if (status == ARES_SUCCESS && fill_from_hostent(al->lk.out, he) != 0)
        al->lk.status = ARES_ENOMEM;
}

static void on_ptr(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct addr_lookup *al = arg;
    struct hostent *he = NULL;

    if (status == ARES_SUCCESS)
        status = ares_parse_ptr_reply(abuf, alen, al->addr, al->len, al->family, &he);
    on_hostent(arg, status, timeouts, he);
    if (he != NULL)
        ares_free_hostent(he);
}

/* The reverse name of an address: d.c.b.a.in-addr.arpa, or 32 nibbles then ip6.arpa. */
static void ptr_name(const unsigned char *b, int family, char *out)
{
    if (family == AF_INET) {
        sprintf(out, "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1], b[0]);
        return;
    }
    for (int i = 15; i >= 0; i--)
        out += sprintf(out, "%x.%x.", b[i] & 0xf, b[i] >> 4);
    strcpy(out, "ip6.arpa");
}

/*
 * /etc/hosts through ares_gethostbyaddr, then a PTR query of our own: c-ares' own fallback
 * from files to DNS reports every DNS failure as "not found", where glibc (and so we) tell a
 * refusing or silent server (TRY_AGAIN) from an unknown address.
 */
enum nc_res nc__resolve_addr(const void *addr, int len, int family, struct nc_host *out)
{
    struct addr_lookup al = { .lk = { .out = out, .dns_wanted = true }, .addr = addr,
                              .len = len, .family = family };
    char what[INET6_ADDRSTRLEN], ptr[80];
    enum nc_res r = start(&al.lk, false);

    if (r != NC_RES_OK)
        return r;
    ares_gethostbyaddr(al.lk.ch, addr, len, family, on_hostent, &al);
    run(&al.lk);
    if (al.lk.status == ARES_ENOTFOUND && al.lk.dns) {
        ptr_name(addr, family, ptr);
        al.lk.done = false;
        ares_query(al.lk.ch, ptr, C_IN, T_PTR, on_ptr, &al);
        run(&al.lk);
    }
    if (inet_ntop(family, addr, what, sizeof(what)) == NULL)
        snprintf(what, sizeof(what), "an address");
    return finish(&al.lk, what);
}
