/* ring.c: the sockets' byte rings (contract and memory ordering: ring.c). */
#ifndef NC_RING_H
#define NC_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* ring: single-producer single-consumer byte ring; capacity is a power of two. The buffer
 * comes on demand and goes back when the ring stays empty (ring.c has the rules). */
struct nc_ring {
    uint8_t *buf;            /* NULL while the ring holds no memory */
    size_t cap;              /* 0 until sized */
    _Atomic size_t head;     /* total bytes written (producer) */
    _Atomic size_t tail;     /* total bytes read (consumer) */
    size_t mark;             /* head at the last nc__ring_idle */
};
/* Sizes the ring (cap a power of two, else -EINVAL); no memory yet. */
int nc__ring_init(struct nc_ring *r, size_t cap);
/* Producer, before writing: gives the ring its buffer if it has none. 0, -ENOMEM, or
 * -ENOBUFS when rings would then hold more than limit bytes in all (0: no limit). */
int nc__ring_alloc(struct nc_ring *r, size_t limit);
/* Gives the buffer back if the ring is empty; true if it did. The caller is one side of the
 * ring and keeps the other out (holds its mutex). */
bool nc__ring_release(struct nc_ring *r);
/* True if the ring holds a buffer, is empty, and nothing was written to it since the last
 * call (the netstack asks every poll interval: a ring idle for a whole one is released). */
bool nc__ring_idle(struct nc_ring *r);
/* Frees the buffer and unsizes the ring (the socket goes). */
void nc__ring_free(struct nc_ring *r);
/* Bytes of buffer rings hold now, in all; allocations refused so far. */
size_t nc__ring_held(void);
uint64_t nc__ring_refused(void);
/* Frees the buffers kept for the next connections (netcore_stop). */
void nc__ring_spare_flush(void);
size_t nc__ring_used(const struct nc_ring *r);
size_t nc__ring_space(const struct nc_ring *r);
size_t nc__ring_write(struct nc_ring *r, const void *src, size_t len);
size_t nc__ring_read(struct nc_ring *r, void *dst, size_t len);
size_t nc__ring_peek(const struct nc_ring *r, void *dst, size_t len);
/* Up to two contiguous readable spans, without consuming them. Returns the span count. */
int nc__ring_read_spans(const struct nc_ring *r, struct iovec sp[2]);
void nc__ring_consume(struct nc_ring *r, size_t len);
/* Up to two contiguous writable spans of at most max bytes in all, for the producer to fill
 * (readv straight into the ring); nc__ring_produce then publishes what it wrote. */
int nc__ring_write_spans(const struct nc_ring *r, struct iovec sp[2], size_t max);
void nc__ring_produce(struct nc_ring *r, size_t len);

#endif /* NC_RING_H */
