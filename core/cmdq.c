/*
 * Command queue to the netstack: a bounded ring of commands plus an intrusive list of
 * "kicked" sockets, guarded by one mutex and woken through an eventfd.
 *
 * Commands are bounded (push fails with EAGAIN) because callers can produce them without
 * limit. Kicks are not: each socket is on the kick list at most once, with the kinds of work
 * OR-ed into its bits, so the list is bounded by the socket table and a kick (send ring has
 * data, receiver freed space, close) can never be lost when the command ring is full.
 */
#include "cmdq.h"

#include <errno.h>
#include <stdlib.h>

#include "shimapi.h"
#include "sock.h"
#include "sys.h"

int nc__cmdq_init(struct nc_cmdq *q, int cap)
{
    if (cap <= 0)
        return -EINVAL;
    q->slots = calloc((size_t)cap, sizeof(*q->slots));
    if (q->slots == NULL)
        return -ENOMEM;
    q->efd = nc__sys_eventfd();
    if (q->efd < 0) {
        int err = q->efd;
        free(q->slots);
        return err;
    }
    pthread_mutex_init(&q->mu, NULL);
    q->cap = cap;
    q->head = 0;
    q->count = 0;
    q->kick_head = NULL;
    q->kick_tail = &q->kick_head;
    return 0;
}

void nc__cmdq_destroy(struct nc_cmdq *q)
{
    if (q->slots == NULL)
        return;
    nc__sys_close(q->efd);
    pthread_mutex_destroy(&q->mu);
    free(q->slots);
    q->slots = NULL;
}

int nc__cmdq_push(struct nc_cmdq *q, const struct nc_cmd *c)
{
    nc__mutex_lock(&q->mu);
    if (q->count == q->cap) {
        nc__mutex_unlock(&q->mu);
        return -EAGAIN;
    }
    bool was_empty = q->count == 0 && q->kick_head == NULL;
    q->slots[(q->head + q->count) % q->cap] = *c;
    q->count++;
    nc__mutex_unlock(&q->mu);
    if (was_empty)
        nc__efd_signal(q->efd);
    return 0;
}

void nc__cmdq_kick(struct nc_cmdq *q, struct nc_sock *s, unsigned what)
{
    bool wake = false;
    nc__mutex_lock(&q->mu);
    s->kick_bits |= what;
    if (!s->kicked) {
        wake = q->count == 0 && q->kick_head == NULL;
        s->kicked = true;
        s->kick_next = NULL;
        *q->kick_tail = s;
        q->kick_tail = &s->kick_next;
    }
    nc__mutex_unlock(&q->mu);
    if (wake)
        nc__efd_signal(q->efd);
}

int nc__cmdq_pop(struct nc_cmdq *q, struct nc_cmd *c, struct nc_sock **ks, unsigned *what)
{
    int got = 0;
    nc__mutex_lock(&q->mu);
    if (q->count > 0) {
        *c = q->slots[q->head];
        q->head = (q->head + 1) % q->cap;
        q->count--;
        got = 1;
    } else if (q->kick_head != NULL) {
        struct nc_sock *s = q->kick_head;
        q->kick_head = s->kick_next;
        if (q->kick_head == NULL)
            q->kick_tail = &q->kick_head;
        s->kicked = false;
        *what = s->kick_bits;
        s->kick_bits = 0;
        *ks = s;
        got = 2;
    }
    nc__mutex_unlock(&q->mu);
    return got;
}

/* Forgets a socket's pending kick; used before the socket is freed. */
void nc__cmdq_forget(struct nc_cmdq *q, struct nc_sock *s)
{
    nc__mutex_lock(&q->mu);
    if (s->kicked) {
        struct nc_sock **pp = &q->kick_head;
        while (*pp != s)
            pp = &(*pp)->kick_next;
        *pp = s->kick_next;
        if (q->kick_tail == &s->kick_next)
            q->kick_tail = pp;
        s->kicked = false;
        s->kick_bits = 0;
    }
    nc__mutex_unlock(&q->mu);
}

void nc__cmdq_clear_wake(struct nc_cmdq *q)
{
    nc__efd_drain(q->efd);
}
