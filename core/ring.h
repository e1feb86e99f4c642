/* ring.c: the sockets' byte and chunk rings (contract and memory ordering: ring.c). */
#ifndef NC_RING_H
#define NC_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* A run of bytes lent to a chunk ring: owner (a pbuf) holds them until the consumer is done. */
struct nc_chunk {
    const uint8_t *ptr;
    size_t len;
    void *owner;
};

/* ring: single-producer single-consumer byte ring; capacity is a power of two. The buffer
 * comes on demand and goes back when the ring stays empty (ring.c has the rules).
 * A chunk ring (nc__ring_alloc_chunks) holds no bytes of its own: its buffer is a table of
 * chunks the producer lends (received pbufs, read in place), and cap bounds their bytes. */
struct nc_ring {
    uint8_t *buf;            /* NULL while the ring holds no memory; a chunk ring's: tagged */
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
/* Producer, instead of nc__ring_alloc: makes the ring a chunk ring with a slot per at most
 * cap / 1024 chunks; drop gives a chunk's owner back (producer's side only). 0 or as
 * nc__ring_alloc. A chunk ring takes no nc__ring_write, write_spans or produce. */
int nc__ring_alloc_chunks(struct nc_ring *r, size_t limit, void (*drop)(void *owner));
/* Producer: lends len bytes at ptr, owned by owner, to a chunk ring; false when it has no free
 * slot or fewer than len bytes of room (the caller keeps them). Gives back the owners of
 * chunks read since (nc__ring_reclaim) first. */
bool nc__ring_lend(struct nc_ring *r, const void *ptr, size_t len, void *owner);
/* Producer: bytes a chunk ring can take now in one chunk (0: no free slot, or full), after
 * nc__ring_reclaim. */
size_t nc__ring_lend_room(struct nc_ring *r);
/* Slots of a chunk ring with memory (0: none, or a byte ring). */
size_t nc__ring_chunk_slots(const struct nc_ring *r);
/* Producer: gives back the owners of the chunks the consumer has read wholly. */
void nc__ring_reclaim(struct nc_ring *r);
/* Frees the buffer and unsizes the ring (the socket goes); a chunk ring drops every owner. */
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
