/*
 * config: the defaults of struct netcore_config and their NETCORE_* environment overrides.
 *
 * Parsing is strict on purpose: a typo that silently fell back to a default would run the
 * stack on an address or a buffer size nobody asked for, and the program would fail later
 * somewhere far from the cause. Every value is checked whole (no sign, no trailing junk, no
 * overflow) and the first bad one stops the parse with a message naming the variable, the
 * value and what was expected.
 *
 * A variable set to the empty string is an error, not "unset": `NETCORE_MTU= prog` is far
 * more likely a broken script than a request for the default, and kernel-style tools
 * (ip, ethtool) reject an empty argument too.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netcore.h"

/*
 * MTU: 576 is the datagram size every IPv4 host must accept (RFC 791). The top is 65521 for
 * every device: a TAP frame is the MTU plus the 14-byte Ethernet header, and lwIP's pbuf
 * lengths are u16_t, so a frame must fit in 65535 bytes.
 */
#define MTU_MIN 576
#define MTU_MAX 65521

/* Socket rings: a page at least, and a cap so max_sockets * 2 rings stays within reason. */
#define BUF_MIN 4096ull
#define BUF_MAX (64ull << 20)

/* Values are echoed in messages; a pasted blob of junk is cut here so the rest still fits. */
#define ECHO_MAX 64

/*
 * NETCORE_PROFILE: the spin and batching trade-off in one word, as Onload's profiles set
 * several EF_ variables at once; the variables themselves, given too, override it.
 *  - latency: a blocked call polls the device for up to a millisecond before it sleeps and
 *    takes the frames itself (the netstack thread sleeps on), in small batches. A waiting
 *    thread burns its core for up to 1 ms per wait.
 *  - balanced (the default): the same for 50 us, about two round trips on the sandbox's
 *    link, then it sleeps.
 *  - throughput: the netstack thread wakes for every frame and works beside the program's
 *    thread, on the other core, in large batches: more CPU per message, more work in
 *    parallel.
 * Spinning pays on two cores or more; with one it only steals the peer's time, so on one
 * CPU every profile leaves spin_us at 0 (NETCORE_SPIN_US still sets it).
 */
enum profile { PROFILE_LATENCY, PROFILE_BALANCED, PROFILE_THROUGHPUT };

static void profile_apply(struct netcore_config *cfg, enum profile p)
{
    static const struct {
        int spin_us, spin_own, rx_batch;
    } prof[] = {
        [PROFILE_LATENCY] = { 1000, 1, 16 },
        [PROFILE_BALANCED] = { 50, 1, 64 },
        [PROFILE_THROUGHPUT] = { 50, 0, 256 },
    };
    cfg->spin_us = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? prof[p].spin_us : 0;
    cfg->spin_own = prof[p].spin_own;
    cfg->rx_batch = prof[p].rx_batch;
}

void netcore_config_defaults(struct netcore_config *cfg)
{
    static const uint8_t mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };

    /* Zero first so padding and the tail of ifname compare equal between two defaults. */
    memset(cfg, 0, sizeof(*cfg));
    cfg->device = NETCORE_DEV_TAP;
    strcpy(cfg->ifname, "nctap0");
    cfg->wire_fd = -1;
    cfg->ip.s_addr = htonl(0xc6120002);  /* 198.18.0.2: RFC 2544 benchmarking range */
    cfg->prefix = 24;
    cfg->gw.s_addr = htonl(0xc6120001);  /* 198.18.0.1 */
    /* 2001:db8::2/64: RFC 3849 documentation range; the kernel side is 2001:db8::1 */
    cfg->ip6.s6_addr[0] = 0x20;
    cfg->ip6.s6_addr[1] = 0x01;
    cfg->ip6.s6_addr[2] = 0x0d;
    cfg->ip6.s6_addr[3] = 0xb8;
    cfg->ip6.s6_addr[15] = 0x02;
    cfg->prefix6 = 64;
    cfg->dns.s_addr = 0;  /* the gateway, whatever NETCORE_GW makes it */
    memcpy(cfg->mac, mac, sizeof(mac));
    cfg->mtu = 0;  /* 0: the device's own MTU (1500 for the wire device) */
    cfg->sndbuf = 262144;
    cfg->rcvbuf = 262144;
    cfg->max_sockets = 1024;
    cfg->backlog = 128;
    cfg->udp_queue = 64;
    cfg->cmd_queue = 256;
    cfg->time_wait_max = 1024;
    cfg->linger_s = 10;
    cfg->tap_pool = 64; /* netcore up --pool allows up to 64; a missing name ends it */
    cfg->share = 1;     /* one stack per device, shared by the uid's processes (share.h) */
    cfg->run_dir[0] = '\0'; /* /tmp/netcore-EUID */
    cfg->offload = 1;   /* TAP offloads where the kernel takes them (offload.c) */
    profile_apply(cfg, PROFILE_BALANCED);
}

/* getenv returns char *; the lookup signature promises const, so adapt it rather than cast. */
static const char *env_get(const char *name)
{
    return getenv(name);
}

static int fail(char *err, size_t errlen, const char *name, const char *value,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * Writes `NAME="value": <fmt...>` into err (NUL-terminated, truncated to errlen; err may be
 * NULL). Returns -EINVAL so that parsers can `return fail(...)`.
 */
static int fail(char *err, size_t errlen, const char *name, const char *value,
                const char *fmt, ...)
{
    va_list ap;
    int n;

    if (!err || errlen == 0)
        return -EINVAL;
    n = snprintf(err, errlen, "%s=\"%.*s%s\": ", name, ECHO_MAX, value,
                 strlen(value) > ECHO_MAX ? "..." : "");
    if (n < 0) {
        err[0] = '\0';
        return -EINVAL;
    }
    if ((size_t)n < errlen) {
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/*
 * Decimal digits and nothing else, as an unsigned value. Bare strtoull would skip leading
 * spaces, accept a sign (turning "-1" into ULLONG_MAX) and stop quietly at junk, so the first
 * character must be a digit and the whole string must be consumed. *end gets the first
 * character after the digits when end is non-NULL (a suffix), else that must be the end.
 */
static bool strict_ull(const char *s, unsigned long long *out, const char **end)
{
    char *e;

    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    *out = strtoull(s, &e, 10);
    if (errno == ERANGE)
        return false;
    if (end)
        *end = e;
    else if (*e != '\0')
        return false;
    return true;
}

/* An integer variable in min..max. */
static int parse_uint(const char *name, const char *v, int min, int max, int *out, char *err,
                      size_t errlen)
{
    unsigned long long n;

    if (!strict_ull(v, &n, NULL) || n < (unsigned long long)min || n > (unsigned long long)max)
        return fail(err, errlen, name, v, "not an integer in %d..%d", min, max);
    *out = (int)n;
    return 0;
}

/*
 * A ring size in bytes, with an optional k/K (KiB) or m/M (MiB) suffix, in BUF_MIN..BUF_MAX.
 * Rounded up to a power of two because the rings index with a mask; BUF_MAX is one, so the
 * result stays in range.
 */
/* A count with an optional k, m (or, with giga, g) suffix: the count and the suffix's shift.
 * False for anything else. */
static bool suffixed(const char *v, bool giga, unsigned long long *n, unsigned *shift)
{
    const char *end;
    if (!strict_ull(v, n, &end))
        return false;
    *shift = 0;
    if (*end == 'k' || *end == 'K')
        *shift = 10;
    else if (*end == 'm' || *end == 'M')
        *shift = 20;
    else if (giga && (*end == 'g' || *end == 'G'))
        *shift = 30;
    else if (*end != '\0')
        return false;
    return *shift == 0 || end[1] == '\0';
}

static int parse_size(const char *name, const char *v, size_t *out, char *err, size_t errlen)
{
    unsigned long long n;
    unsigned shift;
    size_t p;

    if (!suffixed(v, false, &n, &shift))
        goto bad;
    /* Compare before shifting so a huge count cannot wrap into range. */
    if (n > BUF_MAX >> shift || n << shift < BUF_MIN)
        goto bad;
    n <<= shift;
    for (p = BUF_MIN; p < n; p <<= 1)
        ;
    *out = p;
    return 0;
bad:
    return fail(err, errlen, name, v,
                "not a byte count in 4096..64m (optional suffix k or m; rounded up to a "
                "power of two)");
}

/*
 * NETCORE_RING_MEM: a byte count with an optional k, m or g suffix (KiB, MiB, GiB); 0 for no
 * cap, else at least one ring of the smallest size and at most 1 TiB.
 */
#define RING_MEM_MAX (1ull << 40)
static int parse_ring_mem(const char *name, const char *v, size_t *out, char *err,
                          size_t errlen)
{
    unsigned long long n;
    unsigned shift;

    if (!suffixed(v, true, &n, &shift))
        goto bad;
    if (n > RING_MEM_MAX >> shift || (n != 0 && n << shift < BUF_MIN))
        goto bad;
    *out = (size_t)(n << shift);
    return 0;
bad:
    return fail(err, errlen, name, v,
                "not 0 or a byte count in 4096..1024g (optional suffix k, m or g)");
}

/*
 * An address of family in a form inet_pton takes, followed by "/n" when slash_ok: *n is that
 * n (0..128), or -1 when none was given. False when v is not such a text.
 */
static bool addr_text(int family, const char *v, bool slash_ok, void *addr, int *n)
{
    char text[INET6_ADDRSTRLEN];
    const char *slash = slash_ok ? strchr(v, '/') : NULL;
    size_t len = slash ? (size_t)(slash - v) : strlen(v);
    unsigned long long p;

    *n = -1;
    if (len >= sizeof(text))
        return false;
    memcpy(text, v, len);
    text[len] = '\0';
    if (inet_pton(family, text, addr) != 1)
        return false;
    if (slash) {
        if (!strict_ull(slash + 1, &p, NULL) || p > 128)
            return false;
        *n = (int)p;
    }
    return true;
}

/*
 * A dotted quad, with "/prefix" when prefix is non-NULL (left alone when the value has none).
 * inet_pton is used over inet_aton because it takes only four decimal parts: inet_aton would
 * read "10.1" as 10.0.0.1 and "010.0.0.1" as octal.
 */
static int parse_ipv4(const char *name, const char *v, struct in_addr *addr, int *prefix,
                      char *err, size_t errlen)
{
    int n;

    if (!addr_text(AF_INET, v, prefix != NULL, addr, &n) || n == 0 || n > 32)
        return fail(err, errlen, name, v, "not an IPv4 address a.b.c.d%s",
                    prefix ? "[/1..32]" : "");
    if (n > 0)
        *prefix = n;
    return 0;
}

/* The netmask of a 1..32 prefix, host order. */
static uint32_t mask_of(int prefix)
{
    return 0xffffffffu << (32 - prefix);
}

bool nc__cfg_broadcast(const struct netcore_config *cfg, in_addr_t a)
{
    uint32_t h = ntohl(a), own = ntohl(cfg->ip.s_addr);
    if (h == INADDR_BROADCAST)
        return true;
    return cfg->prefix >= 1 && cfg->prefix < 31 && h == (own | ~mask_of(cfg->prefix));
}

/*
 * Why an address (host order) cannot be ours or our gateway's, or NULL if it can. Inside a
 * /30 or larger the all-zeros and all-ones host parts are the network and its broadcast;
 * /31 (RFC 3021) and /32 have no such addresses.
 */
static const char *unusable(uint32_t a, int prefix)
{
    uint32_t host = a & ~mask_of(prefix);

    if (a == 0)
        return "0.0.0.0 is not a host address";
    if (a == 0xffffffffu)
        return "the broadcast address";
    if ((a >> 28) == 0xe)
        return "a multicast address";
    if ((a >> 24) == 127)
        return "a loopback address";
    if (prefix <= 30 && host == 0)
        return "the network address of its subnet";
    if (prefix <= 30 && host == ~mask_of(prefix))
        return "the broadcast address of its subnet";
    return NULL;
}

/*
 * An IPv6 address in any form inet_pton takes, with an optional "/prefix". The prefix is
 * 64..128: lwIP takes every static address's /64 as on-link and asks a router for anything
 * else, so a shorter prefix would promise neighbours lwIP never tries to reach.
 */
static int parse_ipv6(const char *name, const char *v, struct in6_addr *addr, int *prefix,
                      char *err, size_t errlen)
{
    int n;

    if (!addr_text(AF_INET6, v, true, addr, &n))
        return fail(err, errlen, name, v, "not an IPv6 address x:x::x[/64..128]");
    if (n >= 0 && n < 64)
        return fail(err, errlen, name, v,
                    "prefix /%d shorter than /64; lwIP takes a static address's /64 as its "
                    "link, so use /64..128", n);
    if (n >= 0)
        *prefix = n;
    return 0;
}

/*
 * Why an IPv6 address cannot be ours, or NULL if it can. Only a global or unique-local
 * unicast address makes sense here: the link-local one is made from the MAC, and the
 * all-zero host part of a subnet is its Subnet-Router anycast address (RFC 4291 2.6.1).
 */
static const char *unusable6(const struct in6_addr *a, int prefix)
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    const uint8_t *b = a->s6_addr;
    int i;

    if (IN6_IS_ADDR_UNSPECIFIED(a))
        return ":: is not a host address";
    if (IN6_IS_ADDR_LOOPBACK(a))
        return "the loopback address";
    if (b[0] == 0xff)
        return "a multicast address";
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
        return "a link-local address (netcore makes its own from NETCORE_MAC)";
    if (!memcmp(b, mapped, sizeof(mapped)))
        return "an IPv4-mapped address";
    if (prefix < 127) {
        for (i = prefix; i < 128; i++)
            if (b[i / 8] & (0x80 >> (i % 8)))
                return NULL;
        return "the Subnet-Router anycast address of its subnet (host part all zero)";
    }
    return NULL;
}

/*
 * The resolver's server: any unicast host, on our subnet or beyond the gateway. Loopback is
 * refused because DNS goes through netcore, which cannot reach the kernel's loopback (a stub
 * resolver such as 127.0.0.53 is the host's, not the network's).
 */
static int parse_dns(const char *name, const char *v, struct in_addr *dns, char *err,
                     size_t errlen)
{
    struct in_addr a;
    const char *why;
    int rc = parse_ipv4(name, v, &a, NULL, err, errlen);

    if (rc < 0)
        return rc;
    if ((why = unusable(ntohl(a.s_addr), 32)))
        return fail(err, errlen, name, v, "%s; expected a DNS server netcore can reach%s", why,
                    (ntohl(a.s_addr) >> 24) == 127 ? " (loopback is not on the TAP)" : "");
    *dns = a;
    return 0;
}

/* Hex digit value, or -1. */
static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Exactly six two-digit hex octets separated by ':'; unicast and not all-zero. */
static int parse_mac(const char *name, const char *v, uint8_t mac[6], char *err, size_t errlen)
{
    uint8_t m[6];
    const char *p = v;
    int i, hi, lo;

    for (i = 0; i < 6; i++) {
        hi = hexval(p[0]);
        lo = hi < 0 ? -1 : hexval(p[1]);
        if (lo < 0)
            return fail(err, errlen, name, v, "not a MAC address xx:xx:xx:xx:xx:xx");
        m[i] = (uint8_t)(hi << 4 | lo);
        p += 2;
        if (*p != (i < 5 ? ':' : '\0'))
            return fail(err, errlen, name, v, "not a MAC address xx:xx:xx:xx:xx:xx");
        p++;
    }
    /* A group address as our source would make every peer drop or flood our frames. */
    if (m[0] & 1)
        return fail(err, errlen, name, v,
                    "a multicast MAC (low bit of the first octet set); expected unicast");
    if (!(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]))
        return fail(err, errlen, name, v, "the all-zero MAC; expected a unicast address");
    memcpy(mac, m, sizeof(m));
    return 0;
}

/*
 * A device name the kernel will take as is: 1..IFNAMSIZ-1 characters from a portable set
 * (the kernel refuses '/', ':' and whitespace, and "." and ".." as they are path names under
 * /sys/class/net).
 */
static int parse_ifname(const char *name, const char *v, char ifname[IFNAMSIZ], char *err,
                        size_t errlen)
{
    size_t len = strlen(v), i;

    if (len == 0 || len >= IFNAMSIZ || !strcmp(v, ".") || !strcmp(v, ".."))
        goto bad;
    for (i = 0; i < len; i++) {
        char c = v[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            goto bad;
    }
    memset(ifname, 0, IFNAMSIZ);
    memcpy(ifname, v, len);
    return 0;
bad:
    return fail(err, errlen, name, v,
                "not an interface name of 1..%d characters from [A-Za-z0-9_.-]",
                IFNAMSIZ - 1);
}

/* A path or other text kept whole in a buffer of size bytes: a longer one is refused. */
static int copy_text(const char *name, const char *v, char *out, size_t size, char *err,
                     size_t errlen)
{
    if (strlen(v) >= size)
        return fail(err, errlen, name, v, "longer than %zu bytes", size - 1);
    snprintf(out, size, "%s", v);
    return 0;
}

/* An absolute directory path, or "off" when off_ok, kept whole in out (size bytes). */
static int parse_dir(const char *name, const char *v, bool off_ok, char *out, size_t size,
                     char *err, size_t errlen)
{
    if (v[0] != '/' && !(off_ok && !strcmp(v, "off")))
        return fail(err, errlen, name, v, "expected an absolute directory path%s",
                    off_ok ? ", or off" : "");
    return copy_text(name, v, out, size, err, errlen);
}

/* A word a variable may be, and what it stands for. */
struct word {
    const char *word;
    int value;
};

/*
 * v as one of the n words: *out its value. Otherwise the message lists them, "expected a, b
 * or c", then hint.
 */
static int parse_word(const char *name, const char *v, const struct word *words, int n,
                      int *out, const char *hint, char *err, size_t errlen)
{
    char list[128] = "";
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(v, words[i].word)) {
            *out = words[i].value;
            return 0;
        }
        if (k < sizeof(list))
            k += (size_t)snprintf(list + k, sizeof(list) - k, "%s%s",
                                  i == 0 ? "" : i == n - 1 ? " or " : ", ", words[i].word);
    }
    return fail(err, errlen, name, v, "expected %s%s", list, hint);
}

#define N_WORDS(w) ((int)(sizeof(w) / sizeof((w)[0])))

/* NETCORE_DEVICE. The wire device needs an fd, which only the program can hand over. */
static const struct word devices[] = { { "tap", NETCORE_DEV_TAP }, { "tun", NETCORE_DEV_TUN } };
static const struct word onoff[] = { { "on", 1 }, { "off", 0 } };        /* NETCORE_OFFLOAD */
static const struct word stacks[] = { { "shared", 1 }, { "own", 0 } };   /* NETCORE_STACK */
static const struct word profiles[] = { { "latency", PROFILE_LATENCY },
                                        { "balanced", PROFILE_BALANCED },
                                        { "throughput", PROFILE_THROUGHPUT } };
static const struct word levels[] = { { "error", NETCORE_LOG_ERROR },
                                      { "warn", NETCORE_LOG_WARN },
                                      { "info", NETCORE_LOG_INFO },
                                      { "debug", NETCORE_LOG_DEBUG } };

/* Variables that take one of a few words: name, words, int field. */
static const struct {
    const char *name;
    const struct word *words;
    int n;
    size_t off;
} word_vars[] = {
    { "NETCORE_LOG", levels, N_WORDS(levels), offsetof(struct netcore_config, log_level) },
    { "NETCORE_OFFLOAD", onoff, N_WORDS(onoff), offsetof(struct netcore_config, offload) },
    { "NETCORE_STACK", stacks, N_WORDS(stacks), offsetof(struct netcore_config, share) },
};

/* Integer variables: name, field, range. */
static const struct {
    const char *name;
    size_t off;
    int min, max;
} int_vars[] = {
    { "NETCORE_MTU", offsetof(struct netcore_config, mtu), MTU_MIN, MTU_MAX },
    { "NETCORE_MAX_SOCKETS", offsetof(struct netcore_config, max_sockets), 1, 65536 },
    { "NETCORE_BACKLOG", offsetof(struct netcore_config, backlog), 1, 65535 },
    { "NETCORE_UDP_QUEUE", offsetof(struct netcore_config, udp_queue), 1, 65536 },
    { "NETCORE_CMD_QUEUE", offsetof(struct netcore_config, cmd_queue), 1, 65536 },
    { "NETCORE_TIME_WAIT_MAX", offsetof(struct netcore_config, time_wait_max), 0, 1000000 },
    { "NETCORE_LINGER", offsetof(struct netcore_config, linger_s), 0, 3600 },
    { "NETCORE_SPIN_US", offsetof(struct netcore_config, spin_us), 0, 1000000 },
    { "NETCORE_DROP_EVERY", offsetof(struct netcore_config, drop_every), 0, 1000000 },
    { "NETCORE_TAP_POOL", offsetof(struct netcore_config, tap_pool), 1, 256 },
    { "NETCORE_SPIN_OWN", offsetof(struct netcore_config, spin_own), 0, 1 },
    { "NETCORE_RX_BATCH", offsetof(struct netcore_config, rx_batch), 1, 4096 },
};

/*
 * The gateway must be a host of the final subnet other than ours, or nothing off-link is
 * reachable. Checked only when NETCORE_IP or NETCORE_GW was given, so a configuration the
 * program built itself is not second-guessed. gw_v is NETCORE_GW's value or NULL when the
 * gateway is the one already in c (then the message says so and how to fix it).
 */
static int check_gw(const struct netcore_config *c, const char *gw_v, char *err,
                    size_t errlen)
{
    char ip_s[INET_ADDRSTRLEN], net_s[INET_ADDRSTRLEN], gw_s[INET_ADDRSTRLEN];
    uint32_t ip = ntohl(c->ip.s_addr), gw = ntohl(c->gw.s_addr), mask = mask_of(c->prefix);
    struct in_addr net = { htonl(ip & mask) };
    const char *why;

    if ((gw & mask) != (ip & mask))
        why = "outside the NETCORE_IP subnet";
    else if (gw == ip)
        why = "the NETCORE_IP address itself";
    else if (!(why = unusable(gw, c->prefix)))
        return 0;
    inet_ntop(AF_INET, &c->ip, ip_s, sizeof(ip_s));
    inet_ntop(AF_INET, &net, net_s, sizeof(net_s));
    if (gw_v)
        return fail(err, errlen, "NETCORE_GW", gw_v,
                    "%s; expected another host of %s/%d (NETCORE_IP %s/%d)", why, net_s,
                    c->prefix, ip_s, c->prefix);
    inet_ntop(AF_INET, &c->gw, gw_s, sizeof(gw_s));
    if (err && errlen)
        snprintf(err, errlen,
                 "NETCORE_GW unset: gateway %s is %s; set NETCORE_GW to another host of "
                 "%s/%d (NETCORE_IP %s/%d)", gw_s, why, net_s, c->prefix, ip_s, c->prefix);
    return -EINVAL;
}

/*
 * Works on a copy and stores it only when every variable parsed, so a bad value leaves *cfg
 * exactly as it was. Variables are read in a fixed order; the first bad one is reported.
 */
int netcore_config_from_env(struct netcore_config *cfg, const char *(*get)(const char *),
                            char *err, size_t errlen)
{
    struct netcore_config c = *cfg;
    const char *v, *ip_v, *gw_v;
    const char *why;
    size_t i;
    int rc;

    if (!get)
        get = env_get;

    if ((v = get("NETCORE_DEVICE"))) {
        int d;
        if ((rc = parse_word("NETCORE_DEVICE", v, devices, N_WORDS(devices), &d,
                             !strcmp(v, "wire") ? " (wire takes an fd: the program sets it, "
                                                  "not the environment)" : "",
                             err, errlen)) < 0)
            return rc;
        c.device = (enum netcore_device)d;
    }
    if ((v = get("NETCORE_TAP")) &&
        (rc = parse_ifname("NETCORE_TAP", v, c.ifname, err, errlen)) < 0)
        return rc;

    if ((ip_v = get("NETCORE_IP"))) {
        rc = parse_ipv4("NETCORE_IP", ip_v, &c.ip, &c.prefix, err, errlen);
        if (rc < 0)
            return rc;
        if ((why = unusable(ntohl(c.ip.s_addr), c.prefix)))
            return fail(err, errlen, "NETCORE_IP", ip_v, "%s; expected a unicast host address",
                        why);
    }
    if ((gw_v = get("NETCORE_GW")) &&
        (rc = parse_ipv4("NETCORE_GW", gw_v, &c.gw, NULL, err, errlen)) < 0)
        return rc;
    if ((v = get("NETCORE_IP6"))) {
        rc = parse_ipv6("NETCORE_IP6", v, &c.ip6, &c.prefix6, err, errlen);
        if (rc < 0)
            return rc;
        if ((why = unusable6(&c.ip6, c.prefix6)))
            return fail(err, errlen, "NETCORE_IP6", v,
                        "%s; expected a global or unique-local unicast address", why);
    }

    if ((v = get("NETCORE_DNS")) && (rc = parse_dns("NETCORE_DNS", v, &c.dns, err, errlen)) < 0)
        return rc;

    if ((v = get("NETCORE_MAC")) && (rc = parse_mac("NETCORE_MAC", v, c.mac, err, errlen)) < 0)
        return rc;
    for (i = 0; i < sizeof(word_vars) / sizeof(word_vars[0]); i++) {
        int *field = (int *)((char *)&c + word_vars[i].off);

        if ((v = get(word_vars[i].name)) &&
            (rc = parse_word(word_vars[i].name, v, word_vars[i].words, word_vars[i].n, field,
                             "", err, errlen)) < 0)
            return rc;
    }
    if ((v = get("NETCORE_STAT")) &&
        (rc = parse_dir("NETCORE_STAT", v, true, c.stat_dir, sizeof(c.stat_dir), err,
                        errlen)) < 0)
        return rc;
    /* Absolute: a relative one would name a different rendezvous in each working directory,
     * and processes meant to share a stack would each drive their own. */
    if ((v = get("NETCORE_RUNDIR")) &&
        (rc = parse_dir("NETCORE_RUNDIR", v, false, c.run_dir, sizeof(c.run_dir), err,
                        errlen)) < 0)
        return rc;
    if ((v = get("NETCORE_PCAP")) &&
        (rc = copy_text("NETCORE_PCAP", v, c.pcap, sizeof(c.pcap), err, errlen)) < 0)
        return rc;
    if ((v = get("NETCORE_SNDBUF")) &&
        (rc = parse_size("NETCORE_SNDBUF", v, &c.sndbuf, err, errlen)) < 0)
        return rc;
    if ((v = get("NETCORE_RCVBUF")) &&
        (rc = parse_size("NETCORE_RCVBUF", v, &c.rcvbuf, err, errlen)) < 0)
        return rc;
    if ((v = get("NETCORE_RING_MEM")) &&
        (rc = parse_ring_mem("NETCORE_RING_MEM", v, &c.ring_mem, err, errlen)) < 0)
        return rc;
    /* Before the variables it sets, which override it when given. */
    if ((v = get("NETCORE_PROFILE"))) {
        int p;
        if ((rc = parse_word("NETCORE_PROFILE", v, profiles, N_WORDS(profiles), &p, "", err,
                             errlen)) < 0)
            return rc;
        profile_apply(&c, (enum profile)p);
    }
    for (i = 0; i < sizeof(int_vars) / sizeof(int_vars[0]); i++) {
        int *field = (int *)((char *)&c + int_vars[i].off);

        if ((v = get(int_vars[i].name)) &&
            (rc = parse_uint(int_vars[i].name, v, int_vars[i].min, int_vars[i].max, field,
                             err, errlen)) < 0)
            return rc;
    }

    /* A device, address or MAC given by hand is meant as given: no pool, unless asked. */
    if ((get("NETCORE_TAP") || ip_v || get("NETCORE_IP6") || get("NETCORE_MAC")) &&
        !get("NETCORE_TAP_POOL"))
        c.tap_pool = 1;

    /* After everything: the pair is judged on the final address and prefix. */
    if ((ip_v || gw_v) && (rc = check_gw(&c, gw_v, err, errlen)) < 0)
        return rc;

    *cfg = c;
    return 0;
}
