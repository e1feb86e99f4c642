/*
 * Single-producer single-consumer byte ring. head and tail count bytes forever (size_t
 * wraps harmlessly); the producer owns head, the consumer owns tail, and each publishes its
 * index with release order after touching the bytes, so the other side never sees an index
 * before the data behind it.
 *
 * Memory on demand. A ring is sized when its socket connects (nc__ring_init) but gets its
 * buffer only when data first goes in (nc__ring_alloc, by the producer), and gives it back
 * when it has stayed empty for a while (nc__ring_release): an idle connection then costs no
 * ring memory at all. Two pages of ring per connection were 8 of the 9.3 KB an idle
 * established connection cost (bench idle_conn_mem); the socket and lwIP's pcb are the rest.
 * The buffer pointer changes only while the ring is empty, and:
 *  - the producer allocates; it writes buf before the head that publishes bytes behind it,
 *    so a consumer, which looks at buf only after seeing bytes (acquire of head), sees it;
 *  - whoever releases is one side and keeps the other out (holds its mutex: tx_mu, rx_mu),
 *    and releases only an empty ring, so neither side holds a span into the old buffer.
 * Every function that would touch bytes of a ring without a buffer does nothing instead
 * (writes 0 bytes, no spans): a producer that skipped nc__ring_alloc loses no data.
 *
 * Chunk rings save a copy: a received TCP segment went from lwIP's pbuf into the ring and
 * from there to the program, two memmoves of every byte (perf of a receiving iperf3 on the
 * sandbox TAP: the first 5.6% of the process, the second 12%, the ring's bytes being cold in
 * the reader's cache either way). A chunk ring holds the pbufs themselves, lent by the
 * producer: head and tail still count bytes, so its readers (recv, peek, FIONREAD, the
 * relay, readiness) see the same ring, and slots say where the bytes are. The consumer reads
 * slot done from offset off on and publishes done with release order once it is done with a
 * slot's bytes; only the producer gives owners back (pbuf_free needs the stack lock it holds),
 * on its next lend, on nc__ring_reclaim, or when the ring is released or freed.
 * The slots and their indices live in the chunk ring's buffer, which buf points to tagged
 * with its low bit: a struct nc_ring is in every socket twice, and idle connections are
 * counted in bytes (bench idle_conn_mem), so it has no field for what only busy rx rings use.
 */
#include "ring.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shimapi.h"

/* A chunk ring's buffer. */
struct chunks {
    void (*drop)(void *owner);
    size_t n;             /* slots, a power of two */
    size_t head;          /* producer: slots filled */
    size_t freed;         /* producer: slots whose owner went back */
    _Atomic size_t done;  /* consumer: slots wholly read */
    size_t off;           /* consumer: bytes read of slot done */
    struct nc_chunk slot[];
};

/* r's chunks, or NULL for a byte ring or one without memory. */
static struct chunks *chunks_of(const struct nc_ring *r)
{
    uintptr_t b = (uintptr_t)r->buf;
    return (b & 1) != 0 ? (struct chunks *)(b - 1) : NULL;
}

static struct nc_chunk *slot_at(struct chunks *c, size_t i)
{
    return &c->slot[i & (c->n - 1)];
}

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

/* Bytes of buffer rings hold now (spares not counted): what a limit is checked against. */
static _Atomic size_t held;
static _Atomic uint64_t refused;

size_t nc__ring_held(void)
{
    return atomic_load_explicit(&held, memory_order_relaxed);
}

uint64_t nc__ring_refused(void)
{
    return atomic_load_explicit(&refused, memory_order_relaxed);
}

int nc__ring_init(struct nc_ring *r, size_t cap)
{
    if (cap == 0 || (cap & (cap - 1)) != 0)
        return -EINVAL;
    r->buf = NULL;
    r->cap = cap;
    r->mark = 0;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return 0;
}

int nc__ring_alloc(struct nc_ring *r, size_t limit)
{
    if (r->buf != NULL)
        return 0;
    if (r->cap == 0)
        return -EINVAL;
    /* Reserve first, so threads allocating at once cannot pass the limit together. */
    size_t was = atomic_fetch_add_explicit(&held, r->cap, memory_order_relaxed);
    if (limit != 0 && (was + r->cap > limit || was + r->cap < was)) {
        atomic_fetch_sub_explicit(&held, r->cap, memory_order_relaxed);
        atomic_fetch_add_explicit(&refused, 1, memory_order_relaxed);
        return -ENOBUFS;
    }
    uint8_t *buf = take_spare(r->cap);
    if (buf == NULL)
        buf = malloc(r->cap);
    if (buf == NULL) {
        atomic_fetch_sub_explicit(&held, r->cap, memory_order_relaxed);
        atomic_fetch_add_explicit(&refused, 1, memory_order_relaxed);
        return -ENOMEM;
    }
    r->buf = buf;
    return 0;
}

static void give_back(struct nc_ring *r)
{
    struct chunks *c = chunks_of(r);
    if (c != NULL) {
        /* The slots of a chunk ring are not a spare byte buffer of cap bytes. */
        for (; c->freed != c->head; c->freed++)
            c->drop(slot_at(c, c->freed)->owner);
        free(c);
    } else if (!keep_spare(r->buf, r->cap)) {
        free(r->buf);
    }
    atomic_fetch_sub_explicit(&held, r->cap, memory_order_relaxed);
    r->buf = NULL;
}

/*
 * The pages wholly inside the buffer go back to the kernel (they read as zeros if touched
 * again). A freed buffer below malloc's mmap threshold stays in its arena, resident, and
 * the next connection's ring is often taken in another thread's arena: 1000 connections
 * that each echoed 100 bytes through 64 KiB rings and then idled still held 13.7 KB each.
 * Only for a ring that idled: a closing connection's buffer goes as before (a connect-close
 * loop must not pay a TLB shootdown per connection).
 */
static void drop_pages(uint8_t *buf, size_t cap)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t from = ((uintptr_t)buf + page - 1) & ~(page - 1);
    uintptr_t to = ((uintptr_t)buf + cap) & ~(page - 1);
    if (to > from)
        (void)madvise((void *)from, to - from, MADV_DONTNEED);
}

bool nc__ring_release(struct nc_ring *r)
{
    if (r->buf == NULL || nc__ring_used(r) != 0)
        return false;
    if (chunks_of(r) == NULL)
        drop_pages(r->buf, r->cap);
    give_back(r);
    return true;
}

bool nc__ring_idle(struct nc_ring *r)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    bool idle = r->buf != NULL && head == r->mark && nc__ring_used(r) == 0;
    r->mark = head;
    return idle;
}

void nc__ring_free(struct nc_ring *r)
{
    if (r->buf != NULL)
        give_back(r);
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
    size_t space = r->buf != NULL && chunks_of(r) == NULL ? r->cap - (head - tail) : 0;
    if (len > space)
        len = space;
    if (len == 0)
        return 0;
    size_t off = head & (r->cap - 1);
    size_t first = r->cap - off < len ? r->cap - off : len;
    memcpy(r->buf + off, src, first);
    memcpy(r->buf, (const uint8_t *)src + first, len - first);
    atomic_store_explicit(&r->head, head + len, memory_order_release);
    return len;
}

/* The len bytes of r from index pos on, as up to two spans (the second after the wrap). */
static int spans(const struct nc_ring *r, size_t pos, size_t len, struct iovec sp[2])
{
    if (len == 0)
        return 0;
    size_t off = pos & (r->cap - 1);
    size_t first = r->cap - off < len ? r->cap - off : len;
    sp[0].iov_base = r->buf + off;
    sp[0].iov_len = first;
    if (first == len)
        return 1;
    sp[1].iov_base = r->buf;
    sp[1].iov_len = len - first;
    return 2;
}

/* Chunk ring c, consumer: up to max spans of the unread bytes (at most used of them), from
 * slot done at offset off on. */
static int chunk_spans(struct chunks *c, size_t used, struct iovec *sp, int max)
{
    size_t i = atomic_load_explicit(&c->done, memory_order_relaxed);
    size_t off = c->off;
    int n = 0;
    for (; used > 0 && n < max; i++, n++) {
        const struct nc_chunk *k = slot_at(c, i);
        size_t len = k->len - off < used ? k->len - off : used;
        sp[n].iov_base = (void *)(k->ptr + off);
        sp[n].iov_len = len;
        used -= len;
        off = 0;
    }
    return n;
}

int nc__ring_read_spans(const struct nc_ring *r, struct iovec sp[2])
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    size_t used = head - tail;
    struct chunks *c = chunks_of(r);
    if (c != NULL)
        return chunk_spans(c, used, sp, 2);
    return spans(r, tail, used, sp);
}

size_t nc__ring_peek(const struct nc_ring *r, void *dst, size_t len)
{
    struct chunks *c = chunks_of(r);
    if (c != NULL) {
        /* Every chunk up to len, not two spans: a recv takes all that is there, as from a
         * byte ring. */
        size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
        size_t used = atomic_load_explicit(&r->head, memory_order_acquire) - tail;
        size_t i = atomic_load_explicit(&c->done, memory_order_relaxed);
        size_t off = c->off;
        size_t done = 0;
        if (used > len)
            used = len;
        for (; done < used; i++, off = 0) {
            const struct nc_chunk *k = slot_at(c, i);
            size_t n = k->len - off < used - done ? k->len - off : used - done;
            memcpy((uint8_t *)dst + done, k->ptr + off, n);
            done += n;
        }
        return done;
    }
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
    struct chunks *c = chunks_of(r);
    if (c != NULL) {
        size_t i = atomic_load_explicit(&c->done, memory_order_relaxed);
        size_t off = c->off + len;
        while (off > 0 && off >= slot_at(c, i)->len)
            off -= slot_at(c, i++)->len;
        c->off = off;
        /* After the bytes were read: the producer may give their owners back from here. */
        atomic_store_explicit(&c->done, i, memory_order_release);
    }
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
    size_t space = r->buf != NULL && chunks_of(r) == NULL ? r->cap - (head - tail) : 0;
    if (space > max)
        space = max;
    return spans(r, head, space, sp);
}

void nc__ring_produce(struct nc_ring *r, size_t len)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    atomic_store_explicit(&r->head, head + len, memory_order_release);
}

int nc__ring_alloc_chunks(struct nc_ring *r, size_t limit, void (*drop)(void *owner))
{
    if (r->buf != NULL)
        return 0;
    if (r->cap == 0)
        return -EINVAL;
    /* Slots for chunks of 1 KiB on average: a super-segment is tens of KB, a segment at MTU
     * 1500 without offloads 1460 bytes; smaller ones fill the slots before the bytes, and the
     * rest waits with the producer as for a full ring. */
    size_t n = 16;
    while (n < r->cap / 1024 && n < 4096)
        n *= 2;
    /* Counted as cap bytes against the limit: what the ring may hold of its owners' bytes. */
    size_t was = atomic_fetch_add_explicit(&held, r->cap, memory_order_relaxed);
    if (limit != 0 && (was + r->cap > limit || was + r->cap < was)) {
        atomic_fetch_sub_explicit(&held, r->cap, memory_order_relaxed);
        atomic_fetch_add_explicit(&refused, 1, memory_order_relaxed);
        return -ENOBUFS;
    }
    struct chunks *c = malloc(sizeof(*c) + n * sizeof(c->slot[0]));
    if (c == NULL) {
        atomic_fetch_sub_explicit(&held, r->cap, memory_order_relaxed);
        atomic_fetch_add_explicit(&refused, 1, memory_order_relaxed);
        return -ENOMEM;
    }
    c->drop = drop;
    c->n = n;
    c->head = c->freed = c->off = 0;
    atomic_init(&c->done, 0);
    r->buf = (uint8_t *)((uintptr_t)c | 1); /* malloc's alignment leaves the bit free */
    return 0;
}

void nc__ring_reclaim(struct nc_ring *r)
{
    struct chunks *c = chunks_of(r);
    if (c == NULL)
        return;
    size_t done = atomic_load_explicit(&c->done, memory_order_acquire);
    for (; c->freed != done; c->freed++)
        c->drop(slot_at(c, c->freed)->owner);
}

size_t nc__ring_lend_room(struct nc_ring *r)
{
    struct chunks *c = chunks_of(r);
    if (c == NULL)
        return 0;
    nc__ring_reclaim(r);
    return c->head - c->freed == c->n ? 0 : nc__ring_space(r);
}

bool nc__ring_lend(struct nc_ring *r, const void *ptr, size_t len, void *owner)
{
    if (len == 0 || nc__ring_lend_room(r) < len)
        return false;
    struct chunks *c = chunks_of(r);
    struct nc_chunk *k = slot_at(c, c->head++);
    k->ptr = ptr;
    k->len = len;
    k->owner = owner;
    /* The slot before the head that publishes its bytes (release): a consumer that sees the
     * bytes sees where they are. */
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    atomic_store_explicit(&r->head, head + len, memory_order_release);
    return true;
}

size_t nc__ring_chunk_slots(const struct nc_ring *r)
{
    struct chunks *c = chunks_of(r);
    return c != NULL ? c->n : 0;
}
