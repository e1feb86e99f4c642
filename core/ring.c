/*
 * Single-producer single-consumer byte ring. head and tail count bytes forever (size_t
 * wraps harmlessly); the producer owns head, the consumer owns tail, and each publishes its
 * index with release order after touching the bytes, so the other side never sees an index
 * before the data behind it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/*
 * Spare buffers. Every connection takes two ring buffers and gives them back when it is
 * freed; with malloc's defaults, a connect-request-close loop then grew the heap by two
 * buffers and trimmed it again on every connection, and each trim (brk) of a multithreaded
 * process interrupts the other CPUs to flush their TLBs: a fifth of the time of a short
 * connection. A few freed buffers are kept for the next connection instead, at most
 * SPARE_MAX (bytes a closed socket held anyway; the rest go back to malloc).
 */
#define SPARE_MAX 8
static pthread_mutex_t spare_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    void *buf;
    size_t cap;
} spare[SPARE_MAX];
static int nspare;

static void *take_spare(size_t cap)
{
    void *buf = NULL;
    nc__mutex_lock(&spare_mu);
    for (int i = 0; i < nspare; i++)
        if (spare[i].cap == cap) {
            buf = spare[i].buf;
            spare[i] = spare[--nspare];
            break;
        }
    nc__mutex_unlock(&spare_mu);
    return buf;
}

static bool keep_spare(void *buf, size_t cap)
{
    bool kept = false;
    nc__mutex_lock(&spare_mu);
    if (nspare < SPARE_MAX) {
        spare[nspare].buf = buf;
        spare[nspare].cap = cap;
        nspare++;
        kept = true;
    }
    nc__mutex_unlock(&spare_mu);
    return kept;
}

void nc__ring_spare_flush(void)
{
    nc__mutex_lock(&spare_mu);
    while (nspare > 0)
        free(spare[--nspare].buf);
    nc__mutex_unlock(&spare_mu);
}

int nc__ring_init(struct nc_ring *r, size_t cap)
{
    if (cap == 0 || (cap & (cap - 1)) != 0)
        return -EINVAL;
    r->buf = take_spare(cap);
    if (r->buf == NULL)
        r->buf = malloc(cap);
    if (r->buf == NULL)
        return -ENOMEM;
    r->cap = cap;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return 0;
}

void nc__ring_free(struct nc_ring *r)
{
    if (r->buf != NULL && !keep_spare(r->buf, r->cap))
        free(r->buf);
    r->buf = NULL;
    r->cap = 0;
}

size_t nc__ring_used(const struct nc_ring *r)
{
    return atomic_load_explicit(&r->head, memory_order_acquire) -
           atomic_load_explicit(&r->tail, memory_order_acquire);
}

size_t nc__ring_space(const struct nc_ring *r)
{
    return r->cap - nc__ring_used(r);
}

size_t nc__ring_write(struct nc_ring *r, const void *src, size_t len)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    size_t space = r->cap - (head - tail);
    if (len > space)
        len = space;
    size_t off = head & (r->cap - 1);
    size_t first = r->cap - off < len ? r->cap - off : len;
    memcpy(r->buf + off, src, first);
    memcpy(r->buf, (const uint8_t *)src + first, len - first);
    atomic_store_explicit(&r->head, head + len, memory_order_release);
    return len;
}

int nc__ring_read_spans(const struct nc_ring *r, struct iovec sp[2])
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    size_t used = head - tail;
    if (used == 0)
        return 0;
    size_t off = tail & (r->cap - 1);
    size_t first = r->cap - off < used ? r->cap - off : used;
    sp[0].iov_base = r->buf + off;
    sp[0].iov_len = first;
    if (first == used)
        return 1;
    sp[1].iov_base = r->buf;
    sp[1].iov_len = used - first;
    return 2;
}

size_t nc__ring_peek(const struct nc_ring *r, void *dst, size_t len)
{
    struct iovec sp[2];
    int n = nc__ring_read_spans(r, sp);
    size_t done = 0;
    for (int i = 0; i < n && done < len; i++) {
        size_t k = sp[i].iov_len < len - done ? sp[i].iov_len : len - done;
        memcpy((uint8_t *)dst + done, sp[i].iov_base, k);
        done += k;
    }
    return done;
}

void nc__ring_consume(struct nc_ring *r, size_t len)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    atomic_store_explicit(&r->tail, tail + len, memory_order_release);
}

size_t nc__ring_read(struct nc_ring *r, void *dst, size_t len)
{
    size_t n = nc__ring_peek(r, dst, len);
    nc__ring_consume(r, n);
    return n;
}

int nc__ring_write_spans(const struct nc_ring *r, struct iovec sp[2], size_t max)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    size_t space = r->cap - (head - tail);
    if (space > max)
        space = max;
    if (space == 0)
        return 0;
    size_t off = head & (r->cap - 1);
    size_t first = r->cap - off < space ? r->cap - off : space;
    sp[0].iov_base = r->buf + off;
    sp[0].iov_len = first;
    if (first == space)
        return 1;
    sp[1].iov_base = r->buf;
    sp[1].iov_len = space - first;
    return 2;
}

void nc__ring_produce(struct nc_ring *r, size_t len)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    atomic_store_explicit(&r->head, head + len, memory_order_release);
}
