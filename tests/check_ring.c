/*
 * check_ring: the single-producer single-consumer byte ring (nc__ring_*).
 *
 * Unit cases drive one ring from one thread and check every count and byte; the stress case
 * pushes 64 MiB through a 4 KiB ring between two threads in random-sized chunks and checks
 * that the consumer sees the producer's stream byte for byte. The demand cases check the
 * memory on demand: no buffer until nc__ring_alloc, given back only when empty, the idle
 * test that decides when, and the limit on what all rings hold. The chunk cases do the same
 * for chunk rings (bytes lent, read in place, their owners given back once read, and only
 * then), with a two-thread stress of their own.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

/* Byte i of the test stream: a little-endian 32-bit counter, so any shift of the stream by a
 * multiple of the ring size (or of 256) still shows up as wrong bytes. */
static uint8_t pattern(size_t i)
{
    return (uint8_t)((uint32_t)(i / 4) >> (8 * (i % 4)));
}

static void fill(uint8_t *buf, size_t from, size_t len)
{
    for (size_t k = 0; k < len; k++)
        buf[k] = pattern(from + k);
}

/* Offset of the first byte of buf that is not pattern(from + k), or len. */
static size_t first_bad(const uint8_t *buf, size_t from, size_t len)
{
    for (size_t k = 0; k < len; k++)
        if (buf[k] != pattern(from + k))
            return k;
    return len;
}

/* Fixture: a 16-byte ring. */

#define CAP 16

static struct nc_ring ring;

static void setup(void)
{
    memset(&ring, 0, sizeof(ring));
    ck_assert_int_eq(nc__ring_init(&ring, CAP), 0);
    ck_assert_int_eq(nc__ring_alloc(&ring, 0), 0);
}

static void teardown(void)
{
    nc__ring_free(&ring);
}

/* Moves both indices to `off` without leaving data behind. */
static void advance(struct nc_ring *r, size_t off)
{
    uint8_t junk[CAP];

    ck_assert_uint_le(off, sizeof(junk));
    ck_assert_uint_eq(nc__ring_write(r, junk, off), off);
    ck_assert_uint_eq(nc__ring_read(r, junk, off), off);
    ck_assert_uint_eq(nc__ring_used(r), 0);
}

/* init */

static const size_t bad_caps[] = { 0, 3, 5, 6, 7, 12, 100, 1000, 4095, 4097, 65535,
                                   (SIZE_MAX >> 1) + 2 };

START_TEST(test_init_rejects)
{
    struct nc_ring r;

    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(nc__ring_init(&r, bad_caps[_i]), -EINVAL);
    ck_assert_ptr_null(r.buf);
    ck_assert_uint_eq(r.cap, 0);
}
END_TEST

static const size_t good_caps[] = { 1, 2, 4, 16, 4096, 65536, 1 << 20 };

START_TEST(test_init_accepts)
{
    struct nc_ring r;
    size_t cap = good_caps[_i];

    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(nc__ring_init(&r, cap), 0);
    ck_assert_ptr_null(r.buf); /* sized, no memory yet */
    ck_assert_uint_eq(r.cap, cap);
    ck_assert_uint_eq(nc__ring_used(&r), 0);
    ck_assert_uint_eq(nc__ring_space(&r), cap);
    ck_assert_int_eq(nc__ring_alloc(&r, 0), 0);
    ck_assert_ptr_nonnull(r.buf);
    ck_assert_uint_eq(nc__ring_space(&r), cap);
    nc__ring_free(&r);
    ck_assert_ptr_null(r.buf);
    ck_assert_uint_eq(r.cap, 0);
}
END_TEST

START_TEST(test_free_twice)
{
    nc__ring_free(&ring);
    nc__ring_free(&ring);
    ck_assert_ptr_null(ring.buf);
    ck_assert_uint_eq(ring.cap, 0);
}
END_TEST

/* basic: write, read, peek, consume, used, space */

START_TEST(test_empty)
{
    uint8_t buf[CAP];
    struct iovec sp[2];

    ck_assert_uint_eq(nc__ring_used(&ring), 0);
    ck_assert_uint_eq(nc__ring_space(&ring), CAP);
    ck_assert_uint_eq(nc__ring_read(&ring, buf, sizeof(buf)), 0);
    ck_assert_uint_eq(nc__ring_peek(&ring, buf, sizeof(buf)), 0);
    ck_assert_int_eq(nc__ring_read_spans(&ring, sp), 0);
}
END_TEST

START_TEST(test_write_read)
{
    uint8_t in[CAP], out[CAP];

    fill(in, 0, sizeof(in));
    ck_assert_uint_eq(nc__ring_write(&ring, in, 5), 5);
    ck_assert_uint_eq(nc__ring_used(&ring), 5);
    ck_assert_uint_eq(nc__ring_space(&ring), CAP - 5);
    ck_assert_uint_eq(nc__ring_write(&ring, in + 5, 3), 3);
    ck_assert_uint_eq(nc__ring_used(&ring), 8);
    ck_assert_uint_eq(nc__ring_space(&ring), CAP - 8);

    memset(out, 0, sizeof(out));
    ck_assert_uint_eq(nc__ring_read(&ring, out, 6), 6);
    ck_assert_mem_eq(out, in, 6);
    ck_assert_uint_eq(nc__ring_used(&ring), 2);
    ck_assert_uint_eq(nc__ring_space(&ring), CAP - 2);

    /* Asking for more than is there returns what is there. */
    ck_assert_uint_eq(nc__ring_read(&ring, out, sizeof(out)), 2);
    ck_assert_mem_eq(out, in + 6, 2);
    ck_assert_uint_eq(nc__ring_used(&ring), 0);
    ck_assert_uint_eq(nc__ring_space(&ring), CAP);
}
END_TEST

START_TEST(test_zero_length)
{
    uint8_t buf[4] = { 1, 2, 3, 4 };

    ck_assert_uint_eq(nc__ring_write(&ring, buf, 0), 0);
    ck_assert_uint_eq(nc__ring_used(&ring), 0);
    ck_assert_uint_eq(nc__ring_write(&ring, buf, 4), 4);
    ck_assert_uint_eq(nc__ring_read(&ring, buf, 0), 0);
    ck_assert_uint_eq(nc__ring_peek(&ring, buf, 0), 0);
    ck_assert_uint_eq(nc__ring_used(&ring), 4);
    nc__ring_consume(&ring, 0);
    ck_assert_uint_eq(nc__ring_used(&ring), 4);
}
END_TEST

START_TEST(test_peek_does_not_consume)
{
    uint8_t in[10], out[10];

    fill(in, 100, sizeof(in));
    ck_assert_uint_eq(nc__ring_write(&ring, in, sizeof(in)), sizeof(in));
    memset(out, 0, sizeof(out));
    ck_assert_uint_eq(nc__ring_peek(&ring, out, 4), 4);
    ck_assert_mem_eq(out, in, 4);
    ck_assert_uint_eq(nc__ring_used(&ring), 10);
    memset(out, 0, sizeof(out));
    ck_assert_uint_eq(nc__ring_peek(&ring, out, sizeof(out)), 10);
    ck_assert_mem_eq(out, in, 10);
    ck_assert_uint_eq(nc__ring_used(&ring), 10);
    ck_assert_uint_eq(nc__ring_space(&ring), CAP - 10);
}
END_TEST

START_TEST(test_consume)
{
    uint8_t in[12], out[12];

    fill(in, 0, sizeof(in));
    ck_assert_uint_eq(nc__ring_write(&ring, in, sizeof(in)), sizeof(in));
    nc__ring_consume(&ring, 5);
    ck_assert_uint_eq(nc__ring_used(&ring), 7);
    ck_assert_uint_eq(nc__ring_space(&ring), CAP - 7);
    ck_assert_uint_eq(nc__ring_peek(&ring, out, sizeof(out)), 7);
    ck_assert_mem_eq(out, in + 5, 7);
    nc__ring_consume(&ring, 7);
    ck_assert_uint_eq(nc__ring_used(&ring), 0);
    ck_assert_uint_eq(nc__ring_space(&ring), CAP);
}
END_TEST

START_TEST(test_fill_exactly)
{
    uint8_t in[CAP], out[CAP];

    fill(in, 7, sizeof(in));
    ck_assert_uint_eq(nc__ring_write(&ring, in, CAP), CAP);
    ck_assert_uint_eq(nc__ring_used(&ring), CAP);
    ck_assert_uint_eq(nc__ring_space(&ring), 0);
    ck_assert_uint_eq(nc__ring_write(&ring, in, 1), 0);
    ck_assert_uint_eq(nc__ring_read(&ring, out, CAP), CAP);
    ck_assert_mem_eq(out, in, CAP);
}
END_TEST

/* partial: writes beyond the free space */

START_TEST(test_write_partial)
{
    uint8_t in[3 * CAP], out[CAP];

    fill(in, 0, sizeof(in));
    ck_assert_uint_eq(nc__ring_write(&ring, in, 10), 10);
    /* 6 bytes free: a 9-byte write takes 6. */
    ck_assert_uint_eq(nc__ring_write(&ring, in + 10, 9), 6);
    ck_assert_uint_eq(nc__ring_used(&ring), CAP);
    ck_assert_uint_eq(nc__ring_space(&ring), 0);
    ck_assert_uint_eq(nc__ring_write(&ring, in + 16, 9), 0);
    ck_assert_uint_eq(nc__ring_read(&ring, out, CAP), CAP);
    ck_assert_mem_eq(out, in, CAP);
}
END_TEST

START_TEST(test_write_larger_than_cap)
{
    uint8_t in[3 * CAP], out[CAP];

    fill(in, 0, sizeof(in));
    ck_assert_uint_eq(nc__ring_write(&ring, in, sizeof(in)), CAP);
    ck_assert_uint_eq(nc__ring_used(&ring), CAP);
    ck_assert_uint_eq(nc__ring_read(&ring, out, CAP), CAP);
    ck_assert_mem_eq(out, in, CAP);
}
END_TEST

START_TEST(test_write_partial_wrapped)
{
    uint8_t in[2 * CAP], out[CAP];

    /* Start at offset 11 with 3 bytes queued: 13 free, split 2 + 11 across the end. */
    advance(&ring, 11);
    fill(in, 0, sizeof(in));
    ck_assert_uint_eq(nc__ring_write(&ring, in, 3), 3);
    ck_assert_uint_eq(nc__ring_write(&ring, in + 3, 20), 13);
    ck_assert_uint_eq(nc__ring_space(&ring), 0);
    ck_assert_uint_eq(nc__ring_read(&ring, out, CAP), CAP);
    ck_assert_mem_eq(out, in, CAP);
}
END_TEST

/* wrap: data across the end of the buffer */

/* Every start offset with every length: write, check spans, peek and read back. */
START_TEST(test_wrap_every_offset)
{
    size_t off = (size_t)_i;

    for (size_t len = 1; len <= CAP; len++) {
        uint8_t in[CAP], out[CAP];
        struct iovec sp[2];
        size_t from = off * 1000 + len;

        advance(&ring, (off + CAP - (atomic_load(&ring.head) & (CAP - 1))) % CAP);
        ck_assert_uint_eq(atomic_load(&ring.head) & (CAP - 1), off);
        fill(in, from, len);
        ck_assert_uint_eq(nc__ring_write(&ring, in, len), len);
        ck_assert_uint_eq(nc__ring_used(&ring), len);
        ck_assert_uint_eq(nc__ring_space(&ring), CAP - len);

        int n = nc__ring_read_spans(&ring, sp);
        ck_assert_ptr_eq(sp[0].iov_base, ring.buf + off);
        if (off + len <= CAP) {
            ck_assert_int_eq(n, 1);
            ck_assert_uint_eq(sp[0].iov_len, len);
        } else {
            ck_assert_int_eq(n, 2);
            ck_assert_uint_eq(sp[0].iov_len, CAP - off);
            ck_assert_ptr_eq(sp[1].iov_base, ring.buf);
            ck_assert_uint_eq(sp[1].iov_len, len - (CAP - off));
        }

        memset(out, 0, sizeof(out));
        ck_assert_uint_eq(nc__ring_peek(&ring, out, len), len);
        ck_assert_uint_eq(first_bad(out, from, len), len);
        memset(out, 0, sizeof(out));
        ck_assert_uint_eq(nc__ring_read(&ring, out, len), len);
        ck_assert_uint_eq(first_bad(out, from, len), len);
        ck_assert_uint_eq(nc__ring_used(&ring), 0);
    }
}
END_TEST

/* Odd-sized writes and reads that keep wrapping, checked against the stream position. */
START_TEST(test_wrap_odd_sizes)
{
    static const size_t wsz[] = { 3, 7, 5, 11, 1, 13, 9, 15 };
    static const size_t rsz[] = { 5, 1, 9, 3, 13, 7, 11 };
    size_t wpos = 0, rpos = 0;

    for (int step = 0; step < 1000; step++) {
        uint8_t in[CAP], out[CAP];
        size_t w = wsz[step % 8], r = rsz[step % 7];
        size_t want_w = w < nc__ring_space(&ring) ? w : nc__ring_space(&ring);

        fill(in, wpos, w);
        ck_assert_uint_eq(nc__ring_write(&ring, in, w), want_w);
        wpos += want_w;
        ck_assert_uint_eq(nc__ring_used(&ring), wpos - rpos);

        size_t want_r = r < wpos - rpos ? r : wpos - rpos;
        ck_assert_uint_eq(nc__ring_read(&ring, out, r), want_r);
        ck_assert_uint_eq(first_bad(out, rpos, want_r), want_r);
        rpos += want_r;
        ck_assert_uint_eq(nc__ring_used(&ring), wpos - rpos);
        ck_assert_uint_eq(nc__ring_space(&ring), CAP - (wpos - rpos));
    }
    ck_assert_uint_gt(wpos, 10 * CAP);
}
END_TEST

/* The indices count bytes forever: crossing SIZE_MAX changes nothing. */
START_TEST(test_index_overflow)
{
    uint8_t in[12], out[12];
    struct iovec sp[2];

    atomic_store(&ring.head, SIZE_MAX - 4);
    atomic_store(&ring.tail, SIZE_MAX - 4);
    ck_assert_uint_eq(nc__ring_used(&ring), 0);
    ck_assert_uint_eq(nc__ring_space(&ring), CAP);
    fill(in, 0, sizeof(in));
    ck_assert_uint_eq(nc__ring_write(&ring, in, sizeof(in)), sizeof(in));
    ck_assert_uint_eq(atomic_load(&ring.head), 7); /* SIZE_MAX - 4 + 12, wrapped */
    ck_assert_uint_eq(nc__ring_used(&ring), 12);
    ck_assert_uint_eq(nc__ring_space(&ring), CAP - 12);
    /* Offset (SIZE_MAX - 4) & 15 = 11: 5 bytes at the end, 7 at the start. */
    ck_assert_int_eq(nc__ring_read_spans(&ring, sp), 2);
    ck_assert_ptr_eq(sp[0].iov_base, ring.buf + 11);
    ck_assert_uint_eq(sp[0].iov_len, 5);
    ck_assert_uint_eq(sp[1].iov_len, 7);
    ck_assert_uint_eq(nc__ring_read(&ring, out, sizeof(out)), sizeof(out));
    ck_assert_mem_eq(out, in, sizeof(in));
    ck_assert_uint_eq(nc__ring_used(&ring), 0);
}
END_TEST

/* spans: one or two contiguous readable spans */

START_TEST(test_spans_one)
{
    uint8_t in[9];
    struct iovec sp[2];

    advance(&ring, 4);
    fill(in, 0, sizeof(in));
    nc__ring_write(&ring, in, sizeof(in));
    memset(sp, 0, sizeof(sp));
    ck_assert_int_eq(nc__ring_read_spans(&ring, sp), 1);
    ck_assert_ptr_eq(sp[0].iov_base, ring.buf + 4);
    ck_assert_uint_eq(sp[0].iov_len, 9);
    ck_assert_mem_eq(sp[0].iov_base, in, 9);
    /* Spans do not consume. */
    ck_assert_uint_eq(nc__ring_used(&ring), 9);
}
END_TEST

START_TEST(test_spans_one_up_to_end)
{
    uint8_t in[6];
    struct iovec sp[2];

    /* Data ending exactly at the end of the buffer is one span, not a second empty one. */
    advance(&ring, 10);
    fill(in, 0, sizeof(in));
    nc__ring_write(&ring, in, sizeof(in));
    ck_assert_int_eq(nc__ring_read_spans(&ring, sp), 1);
    ck_assert_ptr_eq(sp[0].iov_base, ring.buf + 10);
    ck_assert_uint_eq(sp[0].iov_len, 6);
}
END_TEST

START_TEST(test_spans_two)
{
    uint8_t in[9];
    struct iovec sp[2];

    advance(&ring, 13);
    fill(in, 50, sizeof(in));
    nc__ring_write(&ring, in, sizeof(in));
    ck_assert_int_eq(nc__ring_read_spans(&ring, sp), 2);
    ck_assert_ptr_eq(sp[0].iov_base, ring.buf + 13);
    ck_assert_uint_eq(sp[0].iov_len, 3);
    ck_assert_ptr_eq(sp[1].iov_base, ring.buf);
    ck_assert_uint_eq(sp[1].iov_len, 6);
    ck_assert_mem_eq(sp[0].iov_base, in, 3);
    ck_assert_mem_eq(sp[1].iov_base, in + 3, 6);

    /* Consuming the first span leaves the second as the only one. */
    nc__ring_consume(&ring, 3);
    ck_assert_int_eq(nc__ring_read_spans(&ring, sp), 1);
    ck_assert_ptr_eq(sp[0].iov_base, ring.buf);
    ck_assert_uint_eq(sp[0].iov_len, 6);
    ck_assert_mem_eq(sp[0].iov_base, in + 3, 6);
}
END_TEST

START_TEST(test_spans_full_wrapped)
{
    uint8_t in[CAP];
    struct iovec sp[2];

    advance(&ring, 1);
    fill(in, 0, sizeof(in));
    ck_assert_uint_eq(nc__ring_write(&ring, in, CAP), CAP);
    ck_assert_int_eq(nc__ring_read_spans(&ring, sp), 2);
    ck_assert_ptr_eq(sp[0].iov_base, ring.buf + 1);
    ck_assert_uint_eq(sp[0].iov_len, CAP - 1);
    ck_assert_ptr_eq(sp[1].iov_base, ring.buf);
    ck_assert_uint_eq(sp[1].iov_len, 1);
}
END_TEST

/* demand: memory only while data needs it */

START_TEST(test_unallocated_takes_nothing)
{
    struct nc_ring r;
    struct iovec sp[2];
    uint8_t buf[4] = { 1, 2, 3, 4 };

    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(nc__ring_init(&r, CAP), 0);
    /* A producer that skipped nc__ring_alloc writes nothing (and crashes nothing). */
    ck_assert_uint_eq(nc__ring_write(&r, buf, sizeof(buf)), 0);
    ck_assert_int_eq(nc__ring_write_spans(&r, sp, SIZE_MAX), 0);
    ck_assert_int_eq(nc__ring_read_spans(&r, sp), 0);
    ck_assert_uint_eq(nc__ring_read(&r, buf, sizeof(buf)), 0);
    ck_assert_uint_eq(nc__ring_used(&r), 0);
    ck_assert_uint_eq(nc__ring_space(&r), CAP); /* writable: the memory comes with data */
    ck_assert(!nc__ring_release(&r));
    ck_assert(!nc__ring_idle(&r));
    nc__ring_free(&r);
}
END_TEST

START_TEST(test_alloc_unsized)
{
    struct nc_ring r;

    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(nc__ring_alloc(&r, 0), -EINVAL);
    ck_assert_ptr_null(r.buf);
}
END_TEST

START_TEST(test_alloc_twice)
{
    uint8_t *buf = ring.buf;
    uint8_t in[3] = { 7, 8, 9 }, out[3];

    ck_assert_uint_eq(nc__ring_write(&ring, in, sizeof(in)), sizeof(in));
    ck_assert_int_eq(nc__ring_alloc(&ring, 0), 0);
    ck_assert_ptr_eq(ring.buf, buf);
    ck_assert_uint_eq(nc__ring_read(&ring, out, sizeof(out)), sizeof(out));
    ck_assert_mem_eq(in, out, sizeof(in));
}
END_TEST

START_TEST(test_release_empty)
{
    uint8_t in[CAP + 5], out[CAP + 5];

    fill(in, 0, sizeof(in));
    advance(&ring, 11);
    ck_assert(nc__ring_release(&ring));
    ck_assert_ptr_null(ring.buf);
    ck_assert_uint_eq(ring.cap, CAP);
    ck_assert_uint_eq(nc__ring_used(&ring), 0);
    ck_assert_uint_eq(nc__ring_space(&ring), CAP);
    ck_assert(!nc__ring_release(&ring)); /* nothing left to give */
    /* Back with new memory, the counts go on where they were: a wrapped write reads back. */
    ck_assert_int_eq(nc__ring_alloc(&ring, 0), 0);
    ck_assert_uint_eq(nc__ring_write(&ring, in, sizeof(in)), CAP);
    ck_assert_uint_eq(atomic_load(&ring.head), 11 + CAP);
    ck_assert_uint_eq(nc__ring_read(&ring, out, sizeof(out)), CAP);
    ck_assert_uint_eq(first_bad(out, 0, CAP), CAP);
}
END_TEST

START_TEST(test_release_keeps_data)
{
    uint8_t in[5] = { 1, 2, 3, 4, 5 }, out[5];

    ck_assert_uint_eq(nc__ring_write(&ring, in, sizeof(in)), sizeof(in));
    ck_assert(!nc__ring_release(&ring));
    ck_assert_ptr_nonnull(ring.buf);
    ck_assert_uint_eq(nc__ring_read(&ring, out, 4), 4);
    ck_assert(!nc__ring_release(&ring)); /* one byte still there */
    ck_assert_uint_eq(nc__ring_read(&ring, out + 4, 1), 1);
    ck_assert_mem_eq(in, out, sizeof(in));
    ck_assert(nc__ring_release(&ring));
}
END_TEST

START_TEST(test_idle)
{
    uint8_t b[4] = { 0 };

    (void)nc__ring_idle(&ring); /* the mark starts where the ring is now */
    ck_assert_uint_eq(nc__ring_write(&ring, b, sizeof(b)), sizeof(b));
    ck_assert(!nc__ring_idle(&ring)); /* written since: busy */
    ck_assert(!nc__ring_idle(&ring)); /* nothing written since, but data waits */
    ck_assert_uint_eq(nc__ring_read(&ring, b, sizeof(b)), sizeof(b));
    ck_assert(nc__ring_idle(&ring)); /* empty, nothing written for a whole interval */
    ck_assert_uint_eq(nc__ring_write(&ring, b, 1), 1);
    ck_assert_uint_eq(nc__ring_read(&ring, b, 1), 1);
    ck_assert(!nc__ring_idle(&ring)); /* empty again, but used in the interval */
    ck_assert(nc__ring_idle(&ring));
    ck_assert(nc__ring_release(&ring));
    ck_assert(!nc__ring_idle(&ring)); /* no memory: nothing to give back */
}
END_TEST

START_TEST(test_limit)
{
    struct nc_ring a, b, c;
    size_t base = nc__ring_held(); /* the fixture's ring */

    ck_assert_int_eq(nc__ring_init(&a, 4096), 0);
    ck_assert_int_eq(nc__ring_init(&b, 4096), 0);
    ck_assert_int_eq(nc__ring_init(&c, 4096), 0);
    size_t limit = base + 2 * 4096;
    ck_assert_int_eq(nc__ring_alloc(&a, limit), 0);
    ck_assert_int_eq(nc__ring_alloc(&b, limit), 0);
    ck_assert_uint_eq(nc__ring_held(), base + 2 * 4096);
    uint64_t refused = nc__ring_refused();
    ck_assert_int_eq(nc__ring_alloc(&c, limit), -ENOBUFS);
    ck_assert_ptr_null(c.buf);
    ck_assert_uint_eq(nc__ring_refused(), refused + 1);
    ck_assert_uint_eq(nc__ring_held(), base + 2 * 4096);
    ck_assert_int_eq(nc__ring_alloc(&c, 0), 0); /* 0: no limit */
    ck_assert_uint_eq(nc__ring_held(), base + 3 * 4096);
    nc__ring_free(&c);
    /* What a released ring held is free for another, under the same limit. */
    ck_assert(nc__ring_release(&a));
    ck_assert_uint_eq(nc__ring_held(), base + 4096);
    ck_assert_int_eq(nc__ring_init(&c, 4096), 0); /* nc__ring_free unsized it */
    ck_assert_int_eq(nc__ring_alloc(&c, limit), 0);
    ck_assert_uint_eq(nc__ring_held(), base + 2 * 4096);
    nc__ring_free(&a);
    nc__ring_free(&b);
    nc__ring_free(&c);
    ck_assert_uint_eq(nc__ring_held(), base);
}
END_TEST

/* spsc: one producer thread, one consumer thread */

#define STRESS_CAP 4096
#define STRESS_TOTAL ((size_t)64 << 20)
#define STRESS_CHUNK 6000 /* larger than the ring, so some writes are always partial */

struct stress {
    struct nc_ring r;
    size_t bad_at;     /* stream offset of the first wrong byte, or STRESS_TOTAL */
    size_t consumed;
    _Atomic bool stop;  /* the consumer gave up: the producer must not wait for space */
};

static uint32_t xorshift(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void *producer(void *arg)
{
    struct stress *t = arg;
    static uint8_t chunk[STRESS_CHUNK];
    uint32_t rnd = 0x9e3779b9u;
    size_t pos = 0;

    while (pos < STRESS_TOTAL) {
        size_t want = 1 + xorshift(&rnd) % STRESS_CHUNK;
        if (want > STRESS_TOTAL - pos)
            want = STRESS_TOTAL - pos;
        fill(chunk, pos, want);
        size_t off = 0;
        while (off < want) {
            size_t n = nc__ring_write(&t->r, chunk + off, want - off);
            if (n == 0) {
                if (atomic_load(&t->stop))
                    return NULL;
                sched_yield();
            }
            off += n;
        }
        pos += want;
    }
    return NULL;
}

static void *consumer(void *arg)
{
    struct stress *t = arg;
    static uint8_t chunk[STRESS_CHUNK];
    uint32_t rnd = 0x2545f491u;
    size_t pos = 0;

    t->bad_at = STRESS_TOTAL;
    while (pos < STRESS_TOTAL) {
        size_t n, k;
        if (xorshift(&rnd) & 1) {
            /* read() path */
            n = nc__ring_read(&t->r, chunk, 1 + xorshift(&rnd) % STRESS_CHUNK);
            k = first_bad(chunk, pos, n);
        } else {
            /* zero-copy path: check the spans in place, then consume */
            struct iovec sp[2];
            int ns = nc__ring_read_spans(&t->r, sp);
            n = 0;
            k = 0;
            for (int i = 0; i < ns && k == n; i++) {
                size_t b = first_bad(sp[i].iov_base, pos + n, sp[i].iov_len);
                n += sp[i].iov_len;
                k += b;
            }
            if (k == n)
                nc__ring_consume(&t->r, n);
        }
        if (k != n) {
            t->bad_at = pos + k;
            atomic_store(&t->stop, true);
            break;
        }
        if (n == 0)
            sched_yield();
        pos += n;
    }
    t->consumed = pos;
    return NULL;
}

START_TEST(test_spsc_stress)
{
    static struct stress t;
    pthread_t p, c;

    memset(&t, 0, sizeof(t));
    ck_assert_int_eq(nc__ring_init(&t.r, STRESS_CAP), 0);
    ck_assert_int_eq(nc__ring_alloc(&t.r, 0), 0);
    ck_assert_int_eq(pthread_create(&c, NULL, consumer, &t), 0);
    ck_assert_int_eq(pthread_create(&p, NULL, producer, &t), 0);
    ck_assert_int_eq(pthread_join(p, NULL), 0);
    ck_assert_int_eq(pthread_join(c, NULL), 0);
    ck_assert_msg(t.bad_at == STRESS_TOTAL, "wrong byte at stream offset %zu", t.bad_at);
    ck_assert_uint_eq(t.consumed, STRESS_TOTAL);
    ck_assert_uint_eq(nc__ring_used(&t.r), 0);
    ck_assert_uint_eq(atomic_load(&t.r.head), STRESS_TOTAL);
    ck_assert_uint_eq(atomic_load(&t.r.tail), STRESS_TOTAL);
    nc__ring_free(&t.r);
}
END_TEST


/* chunk rings: bytes lent by the producer, read in place, owners given back once read */

#define NOWNERS 8
static int dropped[NOWNERS]; /* times each owner went back */

static void drop_owner(void *owner)
{
    dropped[(uint8_t *)owner - (uint8_t *)dropped]++;
}

static void *owner(int i)
{
    return (uint8_t *)dropped + i;
}

static void chunk_setup(struct nc_ring *r, size_t cap)
{
    memset(r, 0, sizeof(*r));
    memset(dropped, 0, sizeof(dropped));
    ck_assert_int_eq(nc__ring_init(r, cap), 0);
    ck_assert_int_eq(nc__ring_alloc_chunks(r, 0, drop_owner), 0);
}

START_TEST(test_chunk_read_across)
{
    struct nc_ring r;
    static const uint8_t a[] = "abc", b[] = "defgh", c[] = "ij";
    uint8_t out[16];
    chunk_setup(&r, 16);
    ck_assert(nc__ring_lend(&r, a, 3, owner(0)));
    ck_assert(nc__ring_lend(&r, b, 5, owner(1)));
    ck_assert(nc__ring_lend(&r, c, 2, owner(2)));
    ck_assert_uint_eq(nc__ring_used(&r), 10);
    ck_assert_uint_eq(nc__ring_space(&r), 6);
    /* A byte ring takes no bytes from the chunk side. */
    ck_assert_uint_eq(nc__ring_write(&r, "x", 1), 0);
    /* peek sees all three, and consumes nothing */
    ck_assert_uint_eq(nc__ring_peek(&r, out, sizeof(out)), 10);
    ck_assert_int_eq(memcmp(out, "abcdefghij", 10), 0);
    /* a read ending inside the second chunk */
    ck_assert_uint_eq(nc__ring_read(&r, out, 4), 4);
    ck_assert_int_eq(memcmp(out, "abcd", 4), 0);
    nc__ring_reclaim(&r);
    ck_assert_int_eq(dropped[0], 1);
    ck_assert_int_eq(dropped[1], 0); /* still being read */
    struct iovec sp[2];
    ck_assert_int_eq(nc__ring_read_spans(&r, sp), 2);
    ck_assert_ptr_eq(sp[0].iov_base, b + 1);
    ck_assert_uint_eq(sp[0].iov_len, 4);
    ck_assert_ptr_eq(sp[1].iov_base, c);
    ck_assert_uint_eq(sp[1].iov_len, 2);
    nc__ring_consume(&r, 4); /* exactly the end of the second */
    nc__ring_reclaim(&r);
    ck_assert_int_eq(dropped[1], 1);
    ck_assert_int_eq(dropped[2], 0);
    ck_assert_uint_eq(nc__ring_read(&r, out, sizeof(out)), 2);
    ck_assert_int_eq(memcmp(out, "ij", 2), 0);
    ck_assert(nc__ring_release(&r));
    ck_assert_int_eq(dropped[2], 1);
    for (int i = 0; i < NOWNERS; i++)
        ck_assert_int_le(dropped[i], 1);
    nc__ring_free(&r);
}
END_TEST

START_TEST(test_chunk_room)
{
    struct nc_ring r;
    static const uint8_t big[32];
    chunk_setup(&r, 16);
    ck_assert(!nc__ring_lend(&r, big, 17, owner(0))); /* more bytes than cap */
    ck_assert(!nc__ring_lend(&r, big, 0, owner(0)));
    ck_assert(nc__ring_lend(&r, big, 10, owner(0)));
    ck_assert_uint_eq(nc__ring_lend_room(&r), 6);
    ck_assert(!nc__ring_lend(&r, big, 7, owner(1)));
    ck_assert(nc__ring_lend(&r, big, 6, owner(1)));
    ck_assert_uint_eq(nc__ring_lend_room(&r), 0);
    /* Not released while it holds data; freed, it gives every owner back. */
    ck_assert(!nc__ring_release(&r));
    ck_assert_int_eq(dropped[0] + dropped[1], 0);
    nc__ring_free(&r);
    ck_assert_int_eq(dropped[0], 1);
    ck_assert_int_eq(dropped[1], 1);
}
END_TEST

START_TEST(test_chunk_slots)
{
    /* 16 slots at least: one-byte chunks fill them before the bytes of a 64 KiB ring. */
    struct nc_ring r;
    static const uint8_t one[1] = { 7 };
    uint8_t out[1];
    chunk_setup(&r, 65536);
    int n = 0;
    while (nc__ring_lend(&r, one, 1, owner(0)))
        n++;
    ck_assert_uint_eq((size_t)n, nc__ring_chunk_slots(&r));
    ck_assert_uint_ge((size_t)n, 16);
    ck_assert_uint_eq(nc__ring_lend_room(&r), 0);
    ck_assert_uint_eq(nc__ring_read(&r, out, 1), 1);
    ck_assert_uint_eq(nc__ring_lend_room(&r), 65536 - (size_t)n + 1); /* a slot again */
    ck_assert_int_eq(dropped[0], 1);
    nc__ring_free(&r);
    ck_assert_int_eq(dropped[0], n);
}
END_TEST

/* Two threads through a chunk ring of 4 KiB: the consumer must see the producer's stream
 * byte for byte, whatever the chunk and read sizes, and every chunk goes back exactly once,
 * and only once read. */
#define CSTRESS_TOTAL (16u << 20)
static uint8_t cstream[CSTRESS_TOTAL];
static _Atomic size_t cread; /* bytes the consumer has finished with */
static _Atomic size_t cbad;

static _Atomic size_t cdrops; /* owners given back */

static void drop_checked(void *owner)
{
    atomic_fetch_add(&cdrops, 1);
    /* owner: the end offset of its chunk in the stream */
    size_t end = (size_t)(uintptr_t)owner;
    if (end > atomic_load(&cread) && cbad == CSTRESS_TOTAL)
        cbad = end; /* given back before it was read */
}

static void *cconsumer(void *arg)
{
    struct nc_ring *r = arg;
    static uint8_t buf[700];
    uint32_t rnd = 0x9e3779b9u;
    size_t pos = 0;
    while (pos < CSTRESS_TOTAL && cbad == CSTRESS_TOTAL) {
        size_t n = nc__ring_peek(r, buf, 1 + xorshift(&rnd) % sizeof(buf));
        if (n > 0 && memcmp(buf, cstream + pos, n) != 0) {
            cbad = pos;
            break;
        }
        pos += n;
        atomic_store(&cread, pos); /* before consume lets the producer give them back */
        nc__ring_consume(r, n);
        if (n == 0)
            sched_yield();
    }
    return NULL;
}

START_TEST(test_chunk_stress)
{
    struct nc_ring r;
    pthread_t c;
    uint32_t rnd = 0x1234567u;
    for (size_t i = 0; i < CSTRESS_TOTAL; i++)
        cstream[i] = pattern(i);
    cbad = CSTRESS_TOTAL;
    atomic_store(&cread, 0);
    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(nc__ring_init(&r, 4096), 0);
    ck_assert_int_eq(nc__ring_alloc_chunks(&r, 0, drop_checked), 0);
    ck_assert_int_eq(pthread_create(&c, NULL, cconsumer, &r), 0);
    size_t pos = 0, lent = 0;
    atomic_store(&cdrops, 0);
    while (pos < CSTRESS_TOTAL && cbad == CSTRESS_TOTAL) {
        size_t want = 1 + xorshift(&rnd) % 1500;
        if (want > CSTRESS_TOTAL - pos)
            want = CSTRESS_TOTAL - pos;
        if (nc__ring_lend(&r, cstream + pos, want, (void *)(uintptr_t)(pos + want))) {
            pos += want;
            lent++;
        } else {
            sched_yield();
        }
    }
    ck_assert_int_eq(pthread_join(c, NULL), 0);
    ck_assert_msg(cbad == CSTRESS_TOTAL, "wrong byte or early drop at %zu", cbad);
    ck_assert_uint_eq(atomic_load(&r.tail), CSTRESS_TOTAL);
    ck_assert(nc__ring_release(&r)); /* empty: every chunk back */
    ck_assert_uint_eq(atomic_load(&cdrops), lent);
    nc__ring_free(&r);
}
END_TEST

static Suite *ring_suite(void)
{
    Suite *s = suite_create("ring");
    TCase *tc;

    tc = tcase_create("init");
    tcase_add_loop_test(tc, test_init_rejects, 0, sizeof(bad_caps) / sizeof(bad_caps[0]));
    tcase_add_loop_test(tc, test_init_accepts, 0, sizeof(good_caps) / sizeof(good_caps[0]));
    suite_add_tcase(s, tc);

    tc = tcase_create("basic");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_free_twice);
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_write_read);
    tcase_add_test(tc, test_zero_length);
    tcase_add_test(tc, test_peek_does_not_consume);
    tcase_add_test(tc, test_consume);
    tcase_add_test(tc, test_fill_exactly);
    suite_add_tcase(s, tc);

    tc = tcase_create("partial");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_write_partial);
    tcase_add_test(tc, test_write_larger_than_cap);
    tcase_add_test(tc, test_write_partial_wrapped);
    suite_add_tcase(s, tc);

    tc = tcase_create("wrap");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_wrap_every_offset, 0, CAP);
    tcase_add_test(tc, test_wrap_odd_sizes);
    tcase_add_test(tc, test_index_overflow);
    suite_add_tcase(s, tc);

    tc = tcase_create("spans");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_spans_one);
    tcase_add_test(tc, test_spans_one_up_to_end);
    tcase_add_test(tc, test_spans_two);
    tcase_add_test(tc, test_spans_full_wrapped);
    suite_add_tcase(s, tc);

    tc = tcase_create("demand");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_unallocated_takes_nothing);
    tcase_add_test(tc, test_alloc_unsized);
    tcase_add_test(tc, test_alloc_twice);
    tcase_add_test(tc, test_release_empty);
    tcase_add_test(tc, test_release_keeps_data);
    tcase_add_test(tc, test_idle);
    tcase_add_test(tc, test_limit);
    suite_add_tcase(s, tc);

    tc = tcase_create("chunk");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_chunk_read_across);
    tcase_add_test(tc, test_chunk_room);
    tcase_add_test(tc, test_chunk_slots);
    tcase_add_test(tc, test_chunk_stress);
    suite_add_tcase(s, tc);

    tc = tcase_create("spsc");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_spsc_stress);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ring_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
