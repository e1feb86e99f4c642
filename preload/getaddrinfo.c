/*
 * getaddrinfo, freeaddrinfo, gai_strerror, getnameinfo: host names through resolve.c, so DNS
 * goes out through netcore; everything else is glibc's.
 *
 * Only the name lookup is ours. Address literals, a NULL node, AI_NUMERICHOST, families other
 * than AF_INET/AF_INET6/AF_UNSPEC and service-only calls go to glibc unchanged, since it
 * answers them without any socket. For a name, glibc still does all the rest: the hints and
 * the service are first checked by a glibc call on a numeric probe address (so a bad flag or
 * an unknown service fails before any query is sent, with glibc's code), and each address
 * found becomes its list entries through a glibc call with AI_NUMERICHOST (socket types,
 * protocols, ports, v4-mapping exactly as glibc makes them). The result is a chain of glibc
 * lists, so glibc's freeaddrinfo frees it.
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

/*
 * An address literal glibc's getaddrinfo takes as such: inet_aton's forms ("10.1",
 * "0x7f.1") with nothing after them (glibc's inet_aton_exact; plain inet_aton would stop at
 * a space and ignore the rest), or IPv6 with an optional %scope.
 */
static bool numeric(const char *node)
{
    struct in_addr a4;
    struct in6_addr a6;
    char buf[INET6_ADDRSTRLEN];
    size_t len = strcspn(node, "%");

    if (strpbrk(node, " \t\n\v\f\r") == NULL && inet_aton(node, &a4) != 0)
        return true;
    if (len >= sizeof(buf))
        return false;
    memcpy(buf, node, len);
    buf[len] = '\0';
    return inet_pton(AF_INET6, buf, &a6) == 1;
}

/* Whether this call is a name lookup of ours. */
static bool ours(const char *node, const struct addrinfo *hints)
{
    if (nc__in_stack_thread || node == NULL || *node == '\0')
        return false;
    if (hints != NULL && ((hints->ai_flags & AI_NUMERICHOST) ||
                          (hints->ai_family != AF_UNSPEC && hints->ai_family != AF_INET &&
                           hints->ai_family != AF_INET6)))
        return false;
    return !numeric(node);
}

static int eai_of(enum nc_res r)
{
    switch (r) {
    case NC_RES_OK:
        return 0;
    case NC_RES_NOTFOUND:
        return EAI_NONAME;
    case NC_RES_NODATA:
        return EAI_NODATA;
    case NC_RES_AGAIN:
        return EAI_AGAIN;
    case NC_RES_NOMEM:
        return EAI_MEMORY;
    default:
        return EAI_FAIL;
    }
}

/* Appends glibc's entries for one address found; returns glibc's code. */
static int add_entries(const struct nc_addr *a, const char *service, const struct addrinfo *h,
                       struct addrinfo ***tail)
{
    char text[INET6_ADDRSTRLEN];
    struct addrinfo *part;
    int rc;

    inet_ntop(a->family, &a->a, text, sizeof(text));
    rc = LIBC(getaddrinfo)(text, service, h, &part);
    if (rc != 0)
        return rc;
    **tail = part;
    while (part->ai_next != NULL)
        part = part->ai_next;
    *tail = &part->ai_next;
    return 0;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    /* glibc's hints when none are given (AI_DEFAULT). */
    struct addrinfo h = { .ai_flags = AI_V4MAPPED | AI_ADDRCONFIG, .ai_family = AF_UNSPEC };
    struct addrinfo probe, *list = NULL, **tail = &list, *tmp;
    struct nc_host host;
    enum nc_res r;
    int family, rc, first_err = 0;
    bool v6 = true, mapped;

    if (!ours(node, hints))
        return LIBC(getaddrinfo)(node, service, hints, res);
    if (hints != NULL)
        h = *hints;

    /* Flags, socket type, protocol and service: glibc's verdict, before any query. */
    probe = h;
    probe.ai_flags = (h.ai_flags & ~AI_ADDRCONFIG) | AI_NUMERICHOST;
    rc = LIBC(getaddrinfo)(h.ai_family == AF_INET6 ? "::" : "0.0.0.0", service, &probe, &tmp);
    if (rc != 0)
        return rc;
    LIBC(freeaddrinfo)(tmp);

    /* AI_ADDRCONFIG: a family counts when the system has a non-loopback address of it; a
     * program on netcore always has both (NETCORE_IP and NETCORE_IP6), so both count. */
    if (h.ai_family == AF_INET6 && !v6)
        return EAI_NONAME; /* as glibc: no family left to answer with */
    /* AF_INET6 with AI_V4MAPPED also takes IPv4 addresses, mapped, when there is no IPv6
     * one (or always, with AI_ALL). */
    mapped = h.ai_family == AF_INET6 && (h.ai_flags & AI_V4MAPPED);
    family = mapped || (h.ai_family == AF_UNSPEC && v6) ? AF_UNSPEC : h.ai_family;
    if (h.ai_family == AF_UNSPEC && !v6)
        family = AF_INET;

    r = nc__resolve_name(node, family, &host);
    if (r != NC_RES_OK)
        return eai_of(r);

    probe = h;
    probe.ai_flags = (h.ai_flags & ~(AI_ADDRCONFIG | AI_CANONNAME)) | AI_NUMERICHOST;
    bool have6 = false;
    for (int i = 0; i < host.naddrs; i++) {
        if (host.addrs[i].family == AF_INET6)
            have6 = true;
        else if (mapped)
            continue; /* IPv6 first, then the mapped IPv4 ones */
        if ((rc = add_entries(&host.addrs[i], service, &probe, &tail)) != 0 && first_err == 0)
            first_err = rc;
    }
    if (mapped && (!have6 || (h.ai_flags & AI_ALL)))
        for (int i = 0; i < host.naddrs; i++)
            if (host.addrs[i].family == AF_INET &&
                (rc = add_entries(&host.addrs[i], service, &probe, &tail)) != 0 &&
                first_err == 0)
                first_err = rc;
    if (list == NULL) {
        nc__host_free(&host);
        return first_err != 0 ? first_err : EAI_NODATA;
    }
    if (h.ai_flags & AI_CANONNAME) {
        /* glibc frees ai_canonname with free(). */
        list->ai_canonname = strdup(host.name != NULL ? host.name : node);
        if (list->ai_canonname == NULL) {
            LIBC(freeaddrinfo)(list);
            nc__host_free(&host);
            return EAI_MEMORY;
        }
    }
    nc__host_free(&host);
    *res = list;
    return 0;
}

/* Our lists are chains of glibc's own entries, so glibc's free is the right one for all. */
void freeaddrinfo(struct addrinfo *ai)
{
    LIBC(freeaddrinfo)(ai);
}

/* We return only glibc's codes, so glibc's messages (translated) fit them all. */
const char *gai_strerror(int code)
{
    return LIBC(gai_strerror)(code);
}

/*
 * NI_NOFQDN: the host part of a name in our own domain, the domain being what follows the
 * first dot of gethostname() (glibc also asks DNS for a dotless host name's domain; we skip
 * that query).
 */
static void strip_own_domain(char *name)
{
    char self[256], *dom, *tail;
    size_t nlen = strlen(name), dlen;

    if (gethostname(self, sizeof(self)) != 0 || (dom = strchr(self, '.')) == NULL)
        return;
    dlen = strlen(dom);
    if (nlen <= dlen)
        return;
    tail = name + nlen - dlen;
    if (strcasecmp(tail, dom) == 0)
        *tail = '\0';
}

int getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host, socklen_t hostlen,
                char *serv, socklen_t servlen, int flags)
{
    char numeric_host[NI_MAXHOST];
    struct nc_host found;
    const void *addr;
    int len, rc;
    enum nc_res r;

    if (nc__in_stack_thread || host == NULL || hostlen == 0 || (flags & NI_NUMERICHOST) ||
        sa == NULL || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
        return LIBC(getnameinfo)(sa, salen, host, hostlen, serv, servlen, flags);

    /* glibc checks the arguments and makes the service part and the numeric form (our
     * fallback) without any lookup. */
    rc = LIBC(getnameinfo)(sa, salen, numeric_host, sizeof(numeric_host), serv, servlen,
                           (flags | NI_NUMERICHOST) & ~NI_NAMEREQD);
    if (rc != 0)
        return rc;
    if (sa->sa_family == AF_INET) {
        addr = &((const struct sockaddr_in *)sa)->sin_addr;
        len = 4;
    } else {
        addr = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        len = 16;
    }
    r = nc__resolve_addr(addr, len, sa->sa_family, &found);
    if (r == NC_RES_OK) {
        if (flags & NI_NOFQDN)
            strip_own_domain(found.name);
        rc = strlen(found.name) < (size_t)hostlen ? 0 : EAI_OVERFLOW;
        if (rc == 0)
            strcpy(host, found.name);
        nc__host_free(&found);
        return rc;
    }
    /* As glibc: a failure to ask is an error even when a number would do. */
    if (r == NC_RES_AGAIN)
        return EAI_AGAIN;
    if (r == NC_RES_NOMEM)
        return EAI_MEMORY;
    if (flags & NI_NAMEREQD)
        return EAI_NONAME;
    if (strlen(numeric_host) >= (size_t)hostlen)
        return EAI_OVERFLOW;
    strcpy(host, numeric_host);
    return 0;
}
