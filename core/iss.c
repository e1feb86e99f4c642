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
 */
#include "iss.h"

#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <lwip/priv/tcp_priv.h>
#include <lwip/tcp.h>

#include "lwiphooks.h"

#include "hidden.h"

static uint64_t key[2];
static bool keyed;

static void ensure_key(void)
{
    if (keyed)
        return;
#ifndef NETCORE_FUZZ /* fuzz builds keep a zero key: see nc__tcp_isn */
    if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        key[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)ts.tv_sec;
        key[1] = (uint64_t)(uintptr_t)&ts * 0xbf58476d1ce4e5b9ULL;
    }
#endif /* !NETCORE_FUZZ */
    keyed = true;
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                            \
    do {                                                                    \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);           \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                              \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                              \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);           \
    } while (0)

/* SipHash-2-4 of n 64-bit words. */
static uint64_t siphash(const uint64_t *m, int n)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ key[0], v1 = 0x646f72616e646f6dULL ^ key[1];
    uint64_t v2 = 0x6c7967656e657261ULL ^ key[0], v3 = 0x7465646279746573ULL ^ key[1];
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

static uint64_t siphash2(uint64_t a, uint64_t b)
{
    const uint64_t m[2] = { a, b };
    return siphash(m, 2);
}

u32_t nc__tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
                  u16_t remote_port)
{
    ensure_key();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
    uint32_t clock4us = (uint32_t)(us / 4);
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
    return clock4us + (uint32_t)siphash(m, n);
}

/* lwIP's LWIP_RAND: the kernel's generator, not libc's rand(), whose sequence is the
 * program's own (lwIP drawing from it would change what the program draws). */
unsigned int nc__rand(void)
{
    unsigned int r;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
        ensure_key();
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        r = (unsigned int)siphash2((uint64_t)ts.tv_nsec, (uint64_t)ts.tv_sec);
    }
    return r;
}

static u32_t self(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
                  u16_t remote_port) __attribute__((alias("nc__tcp_isn")));

/* Does lwIP's call reach this function (see nc__tcpin_ours)? */
bool nc__iss_ours(void)
{
    return nc__same_fn((void *)nc__tcp_isn, (void *)self);
}
