/*
 * gethostbyname, gethostbyname2, gethostbyaddr and their _r forms: names and addresses
 * through resolve.c, so DNS goes out through netcore; hostents laid out and errors reported
 * with glibc's conventions.
 *
 * Literals ("10.0.0.1", "::1") go to glibc, which fakes a hostent for them without a lookup.
 * The non-_r forms keep their hostent per thread: glibc keeps one per process, so a program
 * that is correct with glibc's is correct with ours.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

/*
 * Names glibc's gethostbyname* take as literals (its digits-and-dots test): all digits and
 * dots, or hex digits, colons and dots with a colon in them, and no dot at the end. Anything
 * else, "0x7f.1" included, is a name to look up.
 */
static bool literal(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || name[n - 1] == '.')
        return false;
    if (isdigit((unsigned char)name[0]) && strspn(name, "0123456789.") == n)
        return true;
    return (name[0] == ':' || (isxdigit((unsigned char)name[0]) && strchr(name, ':'))) &&
           strspn(name, "0123456789abcdefABCDEF:.") == n;
}

static int count_addrs(const struct nc_host *h, int family)
{
    int n = 0;

    for (int i = 0; i < h->naddrs; i++)
        n += h->addrs[i].family == family;
    return n;
}

static int count_aliases(const struct nc_host *h)
{
    int n = 0;

    while (h->aliases[n] != NULL)
        n++;
    return n;
}

/* Bytes pack() needs, alignment slack included. */
static size_t packed_size(const struct nc_host *h, int family)
{
    size_t alen = family == AF_INET ? 4 : 16;
    int naddrs = count_addrs(h, family), naliases = count_aliases(h);
    size_t need = alignof(char *) + (size_t)(naddrs + 1 + naliases + 1) * sizeof(char *) +
                  (size_t)naddrs * alen + strlen(h->name) + 1;

    for (int i = 0; i < naliases; i++)
        need += strlen(h->aliases[i]) + 1;
    return need;
}

/*
 * Lays h out in buf for a hostent of family: the two pointer arrays (aligned), then the
 * addresses (so aligned too), then the strings. Returns 0, or ERANGE when buf is too small.
 */
static int pack(const struct nc_host *h, int family, struct hostent *he, char *buf,
                size_t len)
{
    size_t alen = family == AF_INET ? 4 : 16, n;
    int naddrs = count_addrs(h, family), naliases = count_aliases(h), i, j;
    uintptr_t start = ((uintptr_t)buf + alignof(char *) - 1) & ~(uintptr_t)(alignof(char *) - 1);
    char **addr_list = (char **)start, **alias_list = addr_list + naddrs + 1;
    char *p = (char *)(alias_list + naliases + 1);

    if (packed_size(h, family) > len)
        return ERANGE;
    for (i = 0, j = 0; i < h->naddrs; i++) {
        if (h->addrs[i].family != family)
            continue;
        memcpy(p, &h->addrs[i].a, alen);
        addr_list[j++] = p;
        p += alen;
    }
    addr_list[j] = NULL;
    for (i = 0; i < naliases; i++) {
        n = strlen(h->aliases[i]) + 1;
        alias_list[i] = memcpy(p, h->aliases[i], n);
        p += n;
    }
    alias_list[i] = NULL;
    he->h_name = memcpy(p, h->name, strlen(h->name) + 1);
    he->h_aliases = alias_list;
    he->h_addrtype = family;
    he->h_length = (int)alen;
    he->h_addr_list = addr_list;
    return 0;
}

/*
 * The end of every _r call, as glibc ends them: 0 with *result set, or 0 with *result NULL
 * and *h_errnop HOST_NOT_FOUND/NO_DATA/NO_RECOVERY when there is no answer; EAGAIN with
 * TRY_AGAIN when none came in time; ERANGE with NETDB_INTERNAL when buf is too small (the
 * caller retries with a larger one). errno is set to the value returned, and h_errno to
 * *h_errnop, which glibc's resolver also does and programs (CPython) read. Frees h.
 */
static int finish(enum nc_res r, struct nc_host *h, int family, struct hostent *he,
                  char *buf, size_t len, struct hostent **result, int *h_errnop)
{
    int rc = 0;

    *result = NULL;
    switch (r) {
    case NC_RES_OK:
        if (count_addrs(h, family) == 0) {
            *h_errnop = NO_DATA;
        } else if ((rc = pack(h, family, he, buf, len)) == 0) {
            *result = he;
            *h_errnop = NETDB_SUCCESS;
        } else {
            *h_errnop = NETDB_INTERNAL;
        }
        break;
    case NC_RES_NOTFOUND:
        *h_errnop = HOST_NOT_FOUND;
        break;
    case NC_RES_NODATA:
        *h_errnop = NO_DATA;
        break;
    case NC_RES_AGAIN:
        *h_errnop = TRY_AGAIN;
        rc = EAGAIN;
        break;
    case NC_RES_NOMEM:
        *h_errnop = NETDB_INTERNAL;
        rc = ENOMEM;
        break;
    default:
        *h_errnop = NO_RECOVERY;
        break;
    }
    nc__host_free(h);
    h_errno = *h_errnop;
    errno = rc;
    return rc;
}

/* The hostent and buffer behind the non-_r calls, one per thread. */
struct tls {
    struct hostent he;
    char *buf;
    size_t len;
};
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_free(void *p)
{
    struct tls *t = p;

    free(t->buf);
    free(t);
}

static void tls_init(void)
{
    pthread_key_create(&tls_key, tls_free);
}

/* The non-_r ending: the answer in this thread's buffer, grown to fit; h_errno set. */
static struct hostent *static_result(enum nc_res r, struct nc_host *h, int family)
{
    struct hostent *res;
    struct tls *t;
    int herr;

    pthread_once(&tls_once, tls_init);
    if ((t = pthread_getspecific(tls_key)) == NULL &&
        ((t = calloc(1, sizeof(*t))) == NULL || pthread_setspecific(tls_key, t) != 0)) {
        free(t);
        t = NULL;
    }
    if (t != NULL && r == NC_RES_OK && packed_size(h, family) > t->len) {
        size_t need = packed_size(h, family);
        char *nb = realloc(t->buf, need);
        if (nb != NULL) {
            t->buf = nb;
            t->len = need;
        }
    }
    if (t == NULL) {
        nc__host_free(h);
        h_errno = NETDB_INTERNAL;
        errno = ENOMEM;
        return NULL;
    }
    if (finish(r, h, family, &t->he, t->buf, t->len, &res, &herr) == ERANGE) {
        herr = NETDB_INTERNAL; /* the buffer could not grow */
        errno = ENOMEM;
    }
    h_errno = herr;
    return res;
}

/* Names of ours: not literals, and not "", which glibc fails at once (NO_RECOVERY). */
static bool ours_name(const char *name, int family)
{
    return !nc__in_stack_thread && name != NULL && *name != '\0' &&
           (family == AF_INET || family == AF_INET6) && !literal(name);
}

int gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf, size_t buflen,
                     struct hostent **result, int *h_errnop)
{
    struct nc_host h;

    if (!ours_name(name, af))
        return LIBC(gethostbyname2_r)(name, af, ret, buf, buflen, result, h_errnop);
    return finish(nc__resolve_name(name, af, &h), &h, af, ret, buf, buflen, result, h_errnop);
}

int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t buflen,
                    struct hostent **result, int *h_errnop)
{
    struct nc_host h;

    if (!ours_name(name, AF_INET))
        return LIBC(gethostbyname_r)(name, ret, buf, buflen, result, h_errnop);
    return finish(nc__resolve_name(name, AF_INET, &h), &h, AF_INET, ret, buf, buflen, result,
                  h_errnop);
}

struct hostent *gethostbyname2(const char *name, int af)
{
    struct nc_host h;

    if (!ours_name(name, af))
        return LIBC(gethostbyname2)(name, af);
    return static_result(nc__resolve_name(name, af, &h), &h, af);
}

struct hostent *gethostbyname(const char *name)
{
    struct nc_host h;

    if (!ours_name(name, AF_INET))
        return LIBC(gethostbyname)(name);
    return static_result(nc__resolve_name(name, AF_INET, &h), &h, AF_INET);
}

/* Addresses of ours: IPv4, or IPv6 other than "::" (which glibc fails without a lookup). */
static bool ours_addr(const void *addr, socklen_t len, int type)
{
    if (nc__in_stack_thread || addr == NULL)
        return false;
    if (type == AF_INET)
        return len == 4;
    return type == AF_INET6 && len == 16 &&
           !IN6_IS_ADDR_UNSPECIFIED((const struct in6_addr *)addr);
}

int gethostbyaddr_r(const void *addr, socklen_t len, int type, struct hostent *ret, char *buf,
                    size_t buflen, struct hostent **result, int *h_errnop)
{
    struct nc_host h;

    if (!ours_addr(addr, len, type))
        return LIBC(gethostbyaddr_r)(addr, len, type, ret, buf, buflen, result, h_errnop);
    return finish(nc__resolve_addr(addr, (int)len, type, &h), &h, type, ret, buf, buflen,
                  result, h_errnop);
}

struct hostent *gethostbyaddr(const void *addr, socklen_t len, int type)
{
    struct nc_host h;

    if (!ours_addr(addr, len, type))
        return LIBC(gethostbyaddr)(addr, len, type);
    return static_result(nc__resolve_addr(addr, (int)len, type, &h), &h, type);
}
