/*
 * Initial sequence numbers and ephemeral ports that an observer cannot predict.
 *
 * Stock lwIP 2.1 counts ISNs up from a fixed start, and picks ports from libc rand(), which
 * is the application's generator and unseeded: every netcore process would reuse the same
 * ports and sequence numbers, colliding with the peer's TIME-WAIT entries from the previous
 * run. lwipopts.h makes nc__tcp_isn lwIP's LWIP_HOOK_TCP_ISN, and nc__rand its LWIP_RAND
 * (port.c starts its search for a free ephemeral port from nc__rand too).
 *
 * ISN = 4 µs clock + SipHash-2-4(secret, addresses and ports), per RFC 6528.
 *
 * The secret is the user's, not the process's: RUNDIR/isn.key (0600, made by the first
 * process that needs it). The kernel keeps one per boot, so the ISNs of a tuple grow with the
 * clock across connections and programs; a peer still holding that tuple in TIME-WAIT (a
 * server closes first: it holds them for 60 s) takes a new SYN whose sequence number lies
 * beyond the old connection's. With a key per process half of such SYNs fell behind: the
 * peer answered with the old connection's ACK, we reset it, and the connect waited a SYN
 * retransmission (a second) -- a connection-rate benchmark run twice in a minute halved.
 *
 * nc__rand is SipHash-2-4 under a second secret of a draw counter and the clock, not a
 * getrandom() per call: that was one system call per connect (port.c draws a port's start),
 * of the ~30 that netcore made per connection where a kernel client makes 6. Without the
 * key the outputs are a PRF's, as unpredictable to an observer as the kernel's
 * (test_wire_security). The clock is there for fork: a child copies the key and the counter,
 * and without it would draw the parent's next numbers.
 */
#include "iss.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lwip/priv/tcp_priv.h>
#include <lwip/tcp.h>

#include "lwiphooks.h"
#include "netcore.h"
#include "rendezvous.h"
#include "shimapi.h"
#include "stack.h"

#include "hidden.h"

/* keys[0..1]: the ISNs'; keys[2..3]: nc__rand's. Drawn once per process. */
static uint64_t keys[4];
static pthread_once_t keyed = PTHREAD_ONCE_INIT;
static _Atomic uint64_t draws;

static void draw_keys(void)
{
#ifndef NETCORE_FUZZ /* fuzz builds keep a zero ISN key: see nc__tcp_isn */
    if (getrandom(keys, sizeof(keys), 0) != (ssize_t)sizeof(keys)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        keys[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)ts.tv_sec;
        keys[1] = (uint64_t)(uintptr_t)&ts * 0xbf58476d1ce4e5b9ULL;
        keys[2] = keys[0] * 0xbf58476d1ce4e5b9ULL ^ (uint64_t)(uintptr_t)&keys;
        keys[3] = keys[1] * 0x94d049bb133111ebULL ^ (uint64_t)ts.tv_nsec;
    }
#else
    /* Ports need not repeat between runs (the ISNs must): nc__rand keeps a random key. */
    if (getrandom(&keys[2], 2 * sizeof(keys[0]), 0) != (ssize_t)(2 * sizeof(keys[0])))
        keys[2] = (uint64_t)(uintptr_t)&keys;
#endif /* !NETCORE_FUZZ */
}

static void ensure_key(void)
{
    pthread_once(&keyed, draw_keys);
}

#ifndef NETCORE_FUZZ /* fuzz builds keep their fixed ISN key: no key file */
#define ISN_KEY_LEN 16 /* keys[0..1] */

/* Reads the key file at path into key: 0, or -errno with why filled (a file that is not a
 * regular file of ours, private and exactly ISN_KEY_LEN bytes is refused: -EACCES/-EINVAL). */
static int read_key(const char *path, uint64_t key[2], char *why, size_t cap)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(why, cap, "open %s: %s", path, strerror(e));
        return -e;
    }
    struct stat sb;
    int rc = 0;
    if (fstat(fd, &sb) != 0) {
        rc = -errno;
        snprintf(why, cap, "fstat %s: %s", path, strerror(-rc));
    } else if (!S_ISREG(sb.st_mode) || sb.st_uid != geteuid() || (sb.st_mode & 077) != 0) {
        rc = -EACCES;
        snprintf(why, cap, "%s is not a private file of uid %u (mode %04o, owner %u): "
                 "remove it", path, (unsigned)geteuid(), (unsigned)(sb.st_mode & 07777),
                 (unsigned)sb.st_uid);
    } else if (sb.st_size != ISN_KEY_LEN ||
               read(fd, key, ISN_KEY_LEN) != ISN_KEY_LEN) {
        rc = -EINVAL;
        snprintf(why, cap, "%s is not a %d-byte key: remove it", path, ISN_KEY_LEN);
    }
    close(fd);
    return rc;
}

/* Makes the key file at path from fresh random bytes, whole or not at all: written under a
 * name of this process's and linked into place, so a process racing us reads either no file
 * or a complete one; when another won the race, link fails EEXIST and its key stands. */
static int make_key(const char *dir, const char *path, char *why, size_t cap)
{
    uint64_t key[2];
    char tmp[sizeof(((struct netcore_config *)0)->run_dir) + 32];
    if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key)) {
        snprintf(why, cap, "getrandom: %s", strerror(errno));
        return -EIO;
    }
    snprintf(tmp, sizeof(tmp), "%s/.isn.key.%d", dir, (int)getpid());
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    int rc = 0;
    if (fd < 0 || write(fd, key, sizeof(key)) != (ssize_t)sizeof(key) ||
        (link(tmp, path) != 0 && errno != EEXIST))
        rc = -errno;
    if (rc != 0)
        snprintf(why, cap, "cannot make %s: %s", path, strerror(-rc));
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    return rc;
}

#endif /* !NETCORE_FUZZ */

int nc__iss_setup(struct netcore_stack *st)
{
    ensure_key();
#ifndef NETCORE_FUZZ
    char dir[sizeof(st->cfg.run_dir)], path[sizeof(dir) + 16], why[sizeof(path) + 128];
    uint64_t key[2];
    int rc = nc__run_dir(&st->cfg, dir, sizeof(dir), why, sizeof(why));
    if (rc == 0) {
        snprintf(path, sizeof(path), "%s/isn.key", dir);
        rc = read_key(path, key, why, sizeof(why));
        if (rc == -ENOENT && (rc = make_key(dir, path, why, sizeof(why))) == 0)
            rc = read_key(path, key, why, sizeof(why));
    }
    if (rc == 0) {
        /* Before the thread and before any connection: no ISN is being drawn. */
        keys[0] = key[0];
        keys[1] = key[1];
    } else {
        nc__log(NETCORE_LOG_WARN, "initial sequence numbers keyed for this process only "
                "(a peer's TIME-WAIT may cost a reused port a SYN retransmission): %s", why);
    }
#else
    (void)st;
#endif
    return 0;
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                            \
    do {                                                                    \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);           \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                              \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                              \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);           \
    } while (0)

/* SipHash-2-4 under key k of n 64-bit words. */
static uint64_t siphash(const uint64_t *k, const uint64_t *m, int n)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ k[0], v1 = 0x646f72616e646f6dULL ^ k[1];
    uint64_t v2 = 0x6c7967656e657261ULL ^ k[0], v3 = 0x7465646279746573ULL ^ k[1];
    for (int i = 0; i <= n; i++) {
        /* the last block holds only the message length in bytes */
        uint64_t w = i < n ? m[i] : (uint64_t)(n * 8 & 0xff) << 56;
        v3 ^= w;
        SIPROUND;
        SIPROUND;
        v0 ^= w;
    }
    v2 ^= 0xff;
    for (int i = 0; i < 4; i++)
        SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

u32_t nc__tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
                  u16_t remote_port)
{
    ensure_key();
    uint32_t clock4us = (uint32_t)(nc__mono_us() / 4);
#ifdef NETCORE_FUZZ
    /* The fuzz targets (tests/fuzz) replay frames recorded against the connection's sequence
     * numbers: with the zero key and no clock, the same ports give the same ISN in every run. */
    clock4us = 0;
#endif
    uint64_t m[5];
    int n;
    if (IP_IS_V6(local_ip) || IP_IS_V6(remote_ip)) {
        /* IPv6: all 128 bits of both addresses, or connections differing only in the
         * upper bits would share a sequence space. */
        memcpy(&m[0], ip_2_ip6(local_ip)->addr, 16);
        memcpy(&m[2], ip_2_ip6(remote_ip)->addr, 16);
        n = 5;
    } else {
        m[0] = (uint64_t)ip_2_ip4(local_ip)->addr << 32 | ip_2_ip4(remote_ip)->addr;
        n = 2;
    }
    m[n - 1] = (uint64_t)local_port << 16 | remote_port;
    return clock4us + (uint32_t)siphash(keys, m, n);
}

/* lwIP's LWIP_RAND: a generator of netcore's own, not libc's rand(), whose sequence is the
 * program's (lwIP drawing from it would change what the program draws). */
unsigned int nc__rand(void)
{
    ensure_key();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const uint64_t m[2] = { atomic_fetch_add_explicit(&draws, 1, memory_order_relaxed),
                            (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec };
    return (unsigned int)siphash(&keys[2], m, 2);
}

static u32_t self(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
                  u16_t remote_port) __attribute__((alias("nc__tcp_isn")));

/* Does lwIP's call reach this function (see nc__tcpin_ours)? */
bool nc__iss_ours(void)
{
    return nc__same_fn((void *)nc__tcp_isn, (void *)self);
}
