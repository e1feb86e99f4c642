/*
 * check_cmdq: the netstack's command queue (nc__cmdq_*).
 *
 * Commands are bounded and FIFO; kicks are one intrusive slot per socket that never fails and
 * merges repeated kicks into one pop; the eventfd is signalled when the queue goes from empty
 * to non-empty. Sockets here are zeroed struct nc_sock values: the queue only touches their
 * kick fields.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmdq.h"
#include "netcore.h"
#include "sock.h"
#include "stack.h"

/* Fixture: a queue of CAP commands and NSOCK zeroed sockets. */

#define CAP 8
#define NSOCK 6

static struct nc_cmdq q;
static struct nc_sock socks[NSOCK];

static void setup(void)
{
    memset(&q, 0, sizeof(q));
    memset(socks, 0, sizeof(socks));
    ck_assert_int_eq(nc__cmdq_init(&q, CAP), 0);
}

static void teardown(void)
{
    nc__cmdq_destroy(&q);
}

static void fn_a(void *arg)
{
    (void)arg;
}

static void fn_b(void *arg)
{
    (void)arg;
}

static int push_fn(struct nc_cmdq *cq, void (*fn)(void *), uintptr_t arg)
{
    struct nc_cmd c = { .type = NC_CMD_FN, .fn = fn, .arg = (void *)arg };
    return nc__cmdq_push(cq, &c);
}

/* 1 if the queue's eventfd is readable now, 0 if not. */
static int woken(void)
{
    struct pollfd p = { .fd = q.efd, .events = POLLIN };
    int rc = poll(&p, 1, 0);

    ck_assert_int_ge(rc, 0);
    return rc > 0 && (p.revents & POLLIN) ? 1 : 0;
}

/* Pops expecting a command with arg `arg`. */
static void pop_cmd(uintptr_t arg)
{
    struct nc_cmd c;
    struct nc_sock *ks = NULL;
    unsigned what = 0;

    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(nc__cmdq_pop(&q, &c, &ks, &what), 1);
    ck_assert_int_eq(c.type, NC_CMD_FN);
    ck_assert_ptr_eq(c.fn, fn_a);
    ck_assert_ptr_eq(c.arg, (void *)arg);
    ck_assert_ptr_null(ks);
}

/* Pops expecting the kicked socket s with bits `bits`. */
static void pop_kick(struct nc_sock *s, unsigned bits)
{
    struct nc_cmd c;
    struct nc_sock *ks = NULL;
    unsigned what = 0;

    ck_assert_int_eq(nc__cmdq_pop(&q, &c, &ks, &what), 2);
    ck_assert_ptr_eq(ks, s);
    ck_assert_uint_eq(what, bits);
    ck_assert(!s->kicked);
    ck_assert_uint_eq(s->kick_bits, 0);
}

static void pop_none(void)
{
    struct nc_cmd c;
    struct nc_sock *ks = NULL;
    unsigned what = 0;

    ck_assert_int_eq(nc__cmdq_pop(&q, &c, &ks, &what), 0);
    ck_assert_ptr_null(ks);
    ck_assert_ptr_null(q.kick_head);
    ck_assert_ptr_eq(q.kick_tail, &q.kick_head);
    ck_assert_int_eq(q.count, 0);
}

/* init */

START_TEST(test_init_destroy)
{
    struct nc_cmdq cq;

    memset(&cq, 0, sizeof(cq));
    ck_assert_int_eq(nc__cmdq_init(&cq, 4), 0);
    ck_assert_ptr_nonnull(cq.slots);
    ck_assert_int_eq(cq.cap, 4);
    ck_assert_int_eq(cq.count, 0);
    ck_assert_ptr_null(cq.kick_head);
    ck_assert_ptr_eq(cq.kick_tail, &cq.kick_head);
    ck_assert_int_ge(cq.efd, 0);
    {
        struct pollfd p = { .fd = cq.efd, .events = POLLIN };
        ck_assert_int_eq(poll(&p, 1, 0), 0); /* not signalled yet */
    }
    nc__cmdq_destroy(&cq);
    ck_assert_ptr_null(cq.slots);
    /* A second destroy is harmless. */
    nc__cmdq_destroy(&cq);
}
END_TEST

START_TEST(test_init_bad_cap)
{
    struct nc_cmdq cq;

    memset(&cq, 0, sizeof(cq));
    ck_assert_int_eq(nc__cmdq_init(&cq, 0), -EINVAL);
    ck_assert_int_eq(nc__cmdq_init(&cq, -1), -EINVAL);
}
END_TEST

START_TEST(test_pop_empty)
{
    pop_none();
}
END_TEST

/* bound: EAGAIN at exactly cap */

START_TEST(test_push_until_full)
{
    for (int i = 0; i < CAP; i++)
        ck_assert_int_eq(push_fn(&q, fn_a, (uintptr_t)i), 0);
    ck_assert_int_eq(q.count, CAP);
    ck_assert_int_eq(push_fn(&q, fn_a, 99), -EAGAIN);
    ck_assert_int_eq(push_fn(&q, fn_a, 99), -EAGAIN);
    ck_assert_int_eq(q.count, CAP);

    /* One pop makes room for exactly one more. */
    pop_cmd(0);
    ck_assert_int_eq(push_fn(&q, fn_a, 100), 0);
    ck_assert_int_eq(push_fn(&q, fn_a, 101), -EAGAIN);
    for (int i = 1; i < CAP; i++)
        pop_cmd((uintptr_t)i);
    pop_cmd(100);
    pop_none();
}
END_TEST

START_TEST(test_cap_one)
{
    struct nc_cmdq cq;
    struct nc_cmd c;
    struct nc_sock *ks;
    unsigned what;

    ck_assert_int_eq(nc__cmdq_init(&cq, 1), 0);
    ck_assert_int_eq(push_fn(&cq, fn_a, 1), 0);
    ck_assert_int_eq(push_fn(&cq, fn_a, 2), -EAGAIN);
    ck_assert_int_eq(nc__cmdq_pop(&cq, &c, &ks, &what), 1);
    ck_assert_ptr_eq(c.arg, (void *)1);
    ck_assert_int_eq(push_fn(&cq, fn_a, 3), 0);
    ck_assert_int_eq(nc__cmdq_pop(&cq, &c, &ks, &what), 1);
    ck_assert_ptr_eq(c.arg, (void *)3);
    ck_assert_int_eq(nc__cmdq_pop(&cq, &c, &ks, &what), 0);
    nc__cmdq_destroy(&cq);
}
END_TEST

/* fifo: commands come out in push order, across the end of the slot ring */

START_TEST(test_fifo)
{
    struct nc_cmd c;
    struct nc_sock *ks;
    unsigned what;

    ck_assert_int_eq(push_fn(&q, fn_a, 1), 0);
    ck_assert_int_eq(push_fn(&q, fn_b, 2), 0);
    ck_assert_int_eq(push_fn(&q, NULL, 3), 0);
    ck_assert_int_eq(nc__cmdq_pop(&q, &c, &ks, &what), 1);
    ck_assert_ptr_eq(c.fn, fn_a);
    ck_assert_ptr_eq(c.arg, (void *)1);
    ck_assert_int_eq(nc__cmdq_pop(&q, &c, &ks, &what), 1);
    ck_assert_ptr_eq(c.fn, fn_b);
    ck_assert_ptr_eq(c.arg, (void *)2);
    ck_assert_int_eq(nc__cmdq_pop(&q, &c, &ks, &what), 1);
    ck_assert_ptr_null(c.fn);
    ck_assert_ptr_eq(c.arg, (void *)3);
    pop_none();
}
END_TEST

START_TEST(test_fifo_wraps)
{
    uintptr_t next_in = 0, next_out = 0;

    /* Odd batch sizes move the ring's head all the way round several times. */
    for (int round = 0; round < 50; round++) {
        int in = 1 + round % CAP, out = 1 + (round * 3) % CAP;
        for (int i = 0; i < in && q.count < CAP; i++)
            ck_assert_int_eq(push_fn(&q, fn_a, next_in++), 0);
        for (int i = 0; i < out && next_out < next_in; i++)
            pop_cmd(next_out++);
    }
    while (next_out < next_in)
        pop_cmd(next_out++);
    pop_none();
}
END_TEST

/* wake: the eventfd */

START_TEST(test_wake_on_first_push)
{
    ck_assert_int_eq(woken(), 0);
    ck_assert_int_eq(push_fn(&q, fn_a, 1), 0);
    ck_assert_int_eq(woken(), 1);
    nc__cmdq_clear_wake(&q);
    ck_assert_int_eq(woken(), 0);
    /* The queue was not empty: no new signal. */
    ck_assert_int_eq(push_fn(&q, fn_a, 2), 0);
    ck_assert_int_eq(woken(), 0);
    pop_cmd(1);
    pop_cmd(2);
    /* Empty again: the next push signals again. */
    ck_assert_int_eq(push_fn(&q, fn_a, 3), 0);
    ck_assert_int_eq(woken(), 1);
    nc__cmdq_clear_wake(&q);
    ck_assert_int_eq(woken(), 0);
}
END_TEST

START_TEST(test_clear_wake_idempotent)
{
    nc__cmdq_clear_wake(&q);
    ck_assert_int_eq(woken(), 0);
    ck_assert_int_eq(push_fn(&q, fn_a, 1), 0);
    nc__cmdq_clear_wake(&q);
    nc__cmdq_clear_wake(&q);
    ck_assert_int_eq(woken(), 0);
}
END_TEST

START_TEST(test_wake_on_first_kick)
{
    nc__cmdq_kick(&q, &socks[0], NC_KICK_TX);
    ck_assert_int_eq(woken(), 1);
    nc__cmdq_clear_wake(&q);
    /* Kicks and commands behind a pending kick do not signal again. */
    nc__cmdq_kick(&q, &socks[1], NC_KICK_RX);
    ck_assert_int_eq(push_fn(&q, fn_a, 1), 0);
    ck_assert_int_eq(woken(), 0);
}
END_TEST

START_TEST(test_no_wake_on_kick_behind_command)
{
    ck_assert_int_eq(push_fn(&q, fn_a, 1), 0);
    nc__cmdq_clear_wake(&q);
    nc__cmdq_kick(&q, &socks[0], NC_KICK_TX);
    ck_assert_int_eq(woken(), 0);
}
END_TEST

/* kick: one slot per socket */

START_TEST(test_kick_merges)
{
    struct nc_sock s;

    memset(&s, 0, sizeof(s));
    nc__cmdq_kick(&q, &s, NC_KICK_TX);
    nc__cmdq_kick(&q, &s, NC_KICK_RX);
    ck_assert(s.kicked);
    ck_assert_uint_eq(s.kick_bits, NC_KICK_TX | NC_KICK_RX);
    pop_kick(&s, NC_KICK_TX | NC_KICK_RX);
    pop_none();
}
END_TEST

START_TEST(test_kick_same_bit_twice)
{
    nc__cmdq_kick(&q, &socks[0], NC_KICK_RX);
    nc__cmdq_kick(&q, &socks[0], NC_KICK_RX);
    pop_kick(&socks[0], NC_KICK_RX);
    pop_none();
}
END_TEST

START_TEST(test_kick_again_after_pop)
{
    nc__cmdq_kick(&q, &socks[0], NC_KICK_TX);
    pop_kick(&socks[0], NC_KICK_TX);
    nc__cmdq_kick(&q, &socks[0], NC_KICK_RX);
    pop_kick(&socks[0], NC_KICK_RX);
    pop_none();
}
END_TEST

START_TEST(test_kick_order)
{
    nc__cmdq_kick(&q, &socks[2], NC_KICK_TX);
    nc__cmdq_kick(&q, &socks[0], NC_KICK_RX);
    nc__cmdq_kick(&q, &socks[1], NC_KICK_TX);
    nc__cmdq_kick(&q, &socks[2], NC_KICK_RX); /* already queued: keeps its place */
    pop_kick(&socks[2], NC_KICK_TX | NC_KICK_RX);
    pop_kick(&socks[0], NC_KICK_RX);
    pop_kick(&socks[1], NC_KICK_TX);
    pop_none();
}
END_TEST

START_TEST(test_kick_when_full)
{
    for (int i = 0; i < CAP; i++)
        ck_assert_int_eq(push_fn(&q, fn_a, (uintptr_t)i), 0);
    ck_assert_int_eq(push_fn(&q, fn_a, 99), -EAGAIN);
    /* A close or ring kick is never lost to a full command ring. */
    for (int i = 0; i < NSOCK; i++)
        nc__cmdq_kick(&q, &socks[i], NC_KICK_TX);
    for (int i = 0; i < NSOCK; i++)
        ck_assert(socks[i].kicked);
    for (int i = 0; i < CAP; i++)
        pop_cmd((uintptr_t)i);
    for (int i = 0; i < NSOCK; i++)
        pop_kick(&socks[i], NC_KICK_TX);
    pop_none();
}
END_TEST

START_TEST(test_commands_before_kicks)
{
    nc__cmdq_kick(&q, &socks[0], NC_KICK_TX);
    ck_assert_int_eq(push_fn(&q, fn_a, 1), 0);
    nc__cmdq_kick(&q, &socks[1], NC_KICK_RX);
    ck_assert_int_eq(push_fn(&q, fn_a, 2), 0);
    pop_cmd(1);
    pop_cmd(2);
    pop_kick(&socks[0], NC_KICK_TX);
    /* A command pushed while kicks are pending still goes first. */
    ck_assert_int_eq(push_fn(&q, fn_a, 3), 0);
    pop_cmd(3);
    pop_kick(&socks[1], NC_KICK_RX);
    pop_none();
}
END_TEST

/* forget: removing a kicked socket from the list */

/* Kicks socks[0..3], forgets socks[_i], then checks the rest of the list still works. */
START_TEST(test_forget_position)
{
    int gone = _i;

    for (int i = 0; i < 4; i++)
        nc__cmdq_kick(&q, &socks[i], NC_KICK_TX);
    nc__cmdq_forget(&q, &socks[gone]);
    ck_assert(!socks[gone].kicked);
    ck_assert_uint_eq(socks[gone].kick_bits, 0);

    /* More kicks after the forget must append behind the survivors. */
    nc__cmdq_kick(&q, &socks[4], NC_KICK_RX);
    nc__cmdq_kick(&q, &socks[gone], NC_KICK_RX);
    nc__cmdq_kick(&q, &socks[5], NC_KICK_TX | NC_KICK_RX);

    for (int i = 0; i < 4; i++)
        if (i != gone)
            pop_kick(&socks[i], NC_KICK_TX);
    pop_kick(&socks[4], NC_KICK_RX);
    pop_kick(&socks[gone], NC_KICK_RX);
    pop_kick(&socks[5], NC_KICK_TX | NC_KICK_RX);
    pop_none();
}
END_TEST

START_TEST(test_forget_only)
{
    nc__cmdq_kick(&q, &socks[0], NC_KICK_TX);
    nc__cmdq_forget(&q, &socks[0]);
    ck_assert_ptr_null(q.kick_head);
    ck_assert_ptr_eq(q.kick_tail, &q.kick_head);
    pop_none();
    nc__cmdq_kick(&q, &socks[1], NC_KICK_RX);
    nc__cmdq_kick(&q, &socks[0], NC_KICK_TX);
    pop_kick(&socks[1], NC_KICK_RX);
    pop_kick(&socks[0], NC_KICK_TX);
    pop_none();
}
END_TEST

START_TEST(test_forget_not_kicked)
{
    nc__cmdq_kick(&q, &socks[0], NC_KICK_TX);
    nc__cmdq_forget(&q, &socks[1]); /* never kicked: no effect */
    nc__cmdq_kick(&q, &socks[2], NC_KICK_RX);
    pop_kick(&socks[0], NC_KICK_TX);
    nc__cmdq_forget(&q, &socks[0]); /* already popped: no effect */
    pop_kick(&socks[2], NC_KICK_RX);
    pop_none();
}
END_TEST

START_TEST(test_forget_all)
{
    /* Forget in an order that exercises tail, head and middle on a shrinking list. */
    static const int order[] = { 3, 0, 2, 1 };

    for (int i = 0; i < 4; i++)
        nc__cmdq_kick(&q, &socks[i], NC_KICK_TX);
    for (int i = 0; i < 4; i++)
        nc__cmdq_forget(&q, &socks[order[i]]);
    pop_none();
    for (int i = 3; i >= 0; i--)
        nc__cmdq_kick(&q, &socks[i], NC_KICK_RX);
    for (int i = 3; i >= 0; i--)
        pop_kick(&socks[i], NC_KICK_RX);
    pop_none();
}
END_TEST

/* mpsc: several producers, one consumer */

#define PRODUCERS 4
#define PER_PRODUCER 100000
#define STRESS_CAP 64

struct mp {
    int id;
    int bad_rc;     /* a push result other than 0 or -EAGAIN */
};

static struct mp producers[PRODUCERS];
static struct nc_cmdq stress_q;

static void *produce(void *arg)
{
    struct mp *p = arg;

    for (uintptr_t seq = 0; seq < PER_PRODUCER; seq++) {
        struct nc_cmd c = { .type = NC_CMD_FN, .fn = fn_a,
                            .arg = (void *)(((uintptr_t)p->id << 24) | seq) };
        int rc;
        while ((rc = nc__cmdq_push(&stress_q, &c)) == -EAGAIN)
            sched_yield();
        if (rc != 0) {
            p->bad_rc = rc;
            break;
        }
    }
    return NULL;
}

START_TEST(test_mpsc_stress)
{
    pthread_t th[PRODUCERS];
    uintptr_t next[PRODUCERS] = { 0 };
    long total = 0;

    ck_assert_int_eq(nc__cmdq_init(&stress_q, STRESS_CAP), 0);
    for (int i = 0; i < PRODUCERS; i++) {
        memset(&producers[i], 0, sizeof(producers[i]));
        producers[i].id = i;
        ck_assert_int_eq(pthread_create(&th[i], NULL, produce, &producers[i]), 0);
    }
    while (total < (long)PRODUCERS * PER_PRODUCER) {
        struct nc_cmd c;
        struct nc_sock *ks;
        unsigned what;
        int got = nc__cmdq_pop(&stress_q, &c, &ks, &what);
        if (got == 0) {
            sched_yield();
            continue;
        }
        ck_assert_int_eq(got, 1);
        ck_assert_ptr_eq(c.fn, fn_a);
        uintptr_t v = (uintptr_t)c.arg;
        uintptr_t who = v >> 24, seq = v & 0xffffff;
        ck_assert_uint_lt(who, PRODUCERS);
        ck_assert_msg(seq == next[who], "producer %u: got %u, expected %u", (unsigned)who,
                      (unsigned)seq, (unsigned)next[who]);
        next[who]++;
        total++;
    }
    for (int i = 0; i < PRODUCERS; i++) {
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
        ck_assert_int_eq(producers[i].bad_rc, 0);
        ck_assert_uint_eq(next[i], PER_PRODUCER);
    }
    {
        struct nc_cmd c;
        struct nc_sock *ks;
        unsigned what;
        ck_assert_int_eq(nc__cmdq_pop(&stress_q, &c, &ks, &what), 0);
    }
    ck_assert_int_eq(stress_q.count, 0);
    nc__cmdq_destroy(&stress_q);
}
END_TEST

/* lifetime: a kick against the socket table's free paths (core/sock.c), on a real stack */

/*
 * A send holds its socket, finds the stack lock busy and queues a kick; by then the lock
 * holder has let go (so nobody drains the queue), and another thread's close has freed the
 * socket, parked for the send. The send's release then frees the socket under the lock and
 * that lock's release runs the queue: the kick must not still point at the freed socket. On
 * the old code nc__run_queue read the freed socket (valgrind: NETCORE_VALGRIND=1, or the
 * sanitizer build, report the invalid read). A command queued beside the kick runs first, in
 * the same release, and looks at the kick list: the address of the freed socket there is the
 * failure in a plain run too.
 */
static uintptr_t freed_addr;
static int queued_after_free = -1;

static void probe_kicks(void *arg)
{
    struct netcore_stack *st = arg;
    queued_after_free = (uintptr_t)st->cmdq.kick_head == freed_addr;
}

START_TEST(test_kick_after_free)
{
    struct netcore_config c;
    struct netcore_stack *st;
    int sv[2];
    char err[256];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    netcore_config_defaults(&c);
    c.device = NETCORE_DEV_WIRE;
    c.wire_fd = sv[0];
    ck_assert_msg(netcore_start(&c, NETCORE_MANUAL, &st, err, sizeof(err)) == 0, "%s", err);
    int id = netcore_socket(st, AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(id, 0);
    struct nc_sock *s = nc__sock_hold(st, id); /* the send */
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(netcore_close(st, id), 0); /* the other thread's close */
    ck_assert_ptr_eq(atomic_load(&st->zombie[id]), s);
    nc__cmdq_kick(&st->cmdq, s, NC_KICK_TX); /* nc__kick after a failed trylock */
    struct nc_cmd probe = { .type = NC_CMD_FN, .fn = probe_kicks, .arg = st };
    ck_assert_int_eq(nc__cmdq_push(&st->cmdq, &probe), 0);
    freed_addr = (uintptr_t)s;
    nc__sock_put(st, id); /* frees s, then runs the queue */
    ck_assert_msg(queued_after_free == 0, "the freed socket is still on the kick list (%d)",
                  queued_after_free);
    ck_assert_ptr_null(atomic_load(&st->zombie[id]));
    ck_assert_ptr_null(st->cmdq.kick_head);
    struct netcore_stats stats;
    netcore_get_stats(st, &stats);
    ck_assert_int_eq(stats.sockets, 0);
    netcore_stop(st);
    close(sv[1]);
}
END_TEST

static Suite *cmdq_suite(void)
{
    Suite *s = suite_create("cmdq");
    TCase *tc;

    tc = tcase_create("init");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_init_destroy);
    tcase_add_test(tc, test_init_bad_cap);
    tcase_add_test(tc, test_pop_empty);
    suite_add_tcase(s, tc);

    tc = tcase_create("bound");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_push_until_full);
    tcase_add_test(tc, test_cap_one);
    suite_add_tcase(s, tc);

    tc = tcase_create("fifo");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_fifo);
    tcase_add_test(tc, test_fifo_wraps);
    suite_add_tcase(s, tc);

    tc = tcase_create("wake");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_wake_on_first_push);
    tcase_add_test(tc, test_clear_wake_idempotent);
    tcase_add_test(tc, test_wake_on_first_kick);
    tcase_add_test(tc, test_no_wake_on_kick_behind_command);
    suite_add_tcase(s, tc);

    tc = tcase_create("kick");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_kick_merges);
    tcase_add_test(tc, test_kick_same_bit_twice);
    tcase_add_test(tc, test_kick_again_after_pop);
    tcase_add_test(tc, test_kick_order);
    tcase_add_test(tc, test_kick_when_full);
    tcase_add_test(tc, test_commands_before_kicks);
    suite_add_tcase(s, tc);

    tc = tcase_create("forget");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_forget_position, 0, 4); /* head, middle, middle, tail */
    tcase_add_test(tc, test_forget_only);
    tcase_add_test(tc, test_forget_not_kicked);
    tcase_add_test(tc, test_forget_all);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifetime");
    tcase_add_test(tc, test_kick_after_free);
    suite_add_tcase(s, tc);

    tc = tcase_create("mpsc");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_mpsc_stress);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cmdq_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
