/*
 * check_crit: a program's signal handler deferred while a blocking call held a counted lock
 * (core/shimapi.h) still interrupts the call, as the kernel's call would have been interrupted.
 *
 * The shim's wrapper defers a signal that lands while the thread holds a counted lock and runs
 * it at the thread's last unlock. Every blocking call lets go of such a lock (rx_mu, tx_mu,
 * the stack lock) right before it sleeps, so that is where a signal landing during the ring
 * copy, or under the stack lock in connect or accept, has its handler run. Here the test plays
 * the shim: its hook counts a handler run as the shim does, and a deferred signal is set
 * pending before the call, so the first counted unlock inside the call runs it. The call must
 * then fail with EINTR (or return what it got), not sleep on: each socket has a timeout, so
 * a lost interruption ends in EAGAIN or EINPROGRESS instead of hanging the suite.
 *
 * A handler that runs when the call is about to sleep (between its last look and FUTEX_WAIT,
 * or while asleep under SA_RESTART, which restarts the futex) bumps the word the call waits
 * on, as the shim does, so the wait returns and the call sees the handler. The window before
 * FUTEX_WAIT cannot be hit on purpose; a real signal to a thread asleep in a recv without a
 * timeout, with SA_RESTART, meets the same futex comparison (a lost one hangs: Check's
 * timeout).
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "blocked.h"
#include "shimapi.h"
#include "handpeer.h"

static volatile sig_atomic_t runs;

/* What the shim does around each run of a handler of the program (preload/signal.c call). */
static void handler_ran(void)
{
    nc__crit_handled = nc__crit_handled + 1;
    _Atomic(uint32_t) *w = nc__crit_wait;
    if (w != NULL)
        atomic_fetch_add(w, 1);
    runs = runs + 1;
}

/* What the shim's nc__crit_hook does for one deferred signal whose handler does nothing. */
static void fake_shim(void)
{
    nc__crit_pending = 0;
    handler_ran();
}

/* A signal deferred under the first counted lock the next call takes. */
static void defer_signal(void)
{
    runs = 0;
    nc__crit_hook = fake_shim;
    nc__crit_pending = 1;
}

/* A blocking socket, with a bound on a call whose interruption was lost. */
static void timeout(struct netcore_stack *st, int s, int opt)
{
    struct timeval tv = { .tv_sec = 1 };
    ck_assert_int_eq(netcore_set_nonblock(st, s, 0), 0);
    ck_assert_int_eq(netcore_setsockopt(st, s, SOL_SOCKET, opt, &tv, sizeof(tv)), 0);
}

static struct sockaddr_in sin4(const char *ip, uint16_t port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

/* recv on an idle connection: the handler runs at rx_mu's unlock, right before the wait. */
START_TEST(recv_tcp)
{
    struct hp h;
    hp_start(&h);
    hp_connect(&h, false, NULL);
    timeout(h.st, h.s, SO_RCVTIMEO);
    char buf[16];
    defer_signal();
    ck_assert_int_eq(netcore_recv(h.st, h.s, buf, sizeof(buf), 0), -EINTR);
    ck_assert_int_eq(runs, 1);
    hp_stop(&h);
}
END_TEST

/* MSG_WAITALL with part of the data in: the call returns that part, as the kernel's does. */
START_TEST(recv_tcp_partial)
{
    struct hp h;
    hp_start(&h);
    hp_connect(&h, false, NULL);
    timeout(h.st, h.s, SO_RCVTIMEO);
    hp_send(&h, HP_ISS + 1, h.iss + 1, HP_ACK, 65535, NULL, 0, 5);
    struct hp_seg sg[8];
    hp_collect(&h, sg, 8);
    char buf[16];
    defer_signal();
    ck_assert_int_eq(netcore_recv(h.st, h.s, buf, sizeof(buf), MSG_WAITALL), 5);
    ck_assert_int_eq(runs, 1);
    hp_stop(&h);
}
END_TEST

/* connect with nobody answering the SYN: the handler runs at the stack lock's unlock. */
START_TEST(connect_tcp)
{
    struct hp h;
    hp_start(&h);
    int s = netcore_socket(h.st, AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s, 0);
    timeout(h.st, s, SO_SNDTIMEO);
    struct sockaddr_in to = sin4("198.18.0.1", 80);
    defer_signal();
    ck_assert_int_eq(netcore_connect(h.st, s, (struct sockaddr *)&to, sizeof(to)), -EINTR);
    ck_assert_int_eq(runs, 1);
    hp_stop(&h);
}
END_TEST

/* accept with no connection queued: the handler runs at the stack lock's unlock. */
START_TEST(accept_tcp)
{
    struct hp h;
    hp_start(&h);
    int l = netcore_socket(h.st, AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(l, 0);
    ck_assert_int_eq(netcore_listen(h.st, l, 4), 0);
    timeout(h.st, l, SO_RCVTIMEO);
    defer_signal();
    ck_assert_int_eq(netcore_accept(h.st, l, NULL, NULL, 0), -EINTR);
    ck_assert_int_eq(runs, 1);
    hp_stop(&h);
}
END_TEST

/* recvfrom on an idle UDP socket. */
START_TEST(recv_udp)
{
    struct hp h;
    hp_start(&h);
    int s = netcore_socket(h.st, AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ge(s, 0);
    struct sockaddr_in a = sin4("0.0.0.0", 9000);
    ck_assert_int_eq(netcore_bind(h.st, s, (struct sockaddr *)&a, sizeof(a)), 0);
    timeout(h.st, s, SO_RCVTIMEO);
    char buf[16];
    defer_signal();
    ck_assert_int_eq(netcore_recv(h.st, s, buf, sizeof(buf), 0), -EINTR);
    ck_assert_int_eq(runs, 1);
    hp_stop(&h);
}
END_TEST

/* A call that never waits is not interrupted: the handler runs, the call says what it says. */
START_TEST(no_wait_no_eintr)
{
    struct hp h;
    hp_start(&h);
    int l = netcore_socket(h.st, AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(l, 0);
    ck_assert_int_eq(netcore_listen(h.st, l, 4), 0);
    ck_assert_int_eq(netcore_set_nonblock(h.st, l, 1), 0);
    defer_signal();
    ck_assert_int_eq(netcore_accept(h.st, l, NULL, NULL, 0), -EAGAIN);
    ck_assert_int_eq(runs, 1);
    hp_stop(&h);
}
END_TEST

static void on_usr1(int sig)
{
    (void)sig;
    handler_ran();
}

struct waiter {
    pthread_t thread;
    _Atomic pid_t tid;
};

/* Signals w's thread once it sleeps in its recv. */
static void *signaller(void *arg)
{
    struct waiter *w = arg;
    ck_assert(thread_blocked(&w->tid, 5000));
    pthread_kill(w->thread, SIGUSR1);
    return NULL;
}

/* recv without a timeout, asleep when the signal comes: SA_RESTART restarts the futex,
 * which must find its word bumped and let the call see the handler. */
START_TEST(recv_tcp_asleep)
{
    struct hp h;
    hp_start(&h);
    hp_connect(&h, false, NULL);
    ck_assert_int_eq(netcore_set_nonblock(h.st, h.s, 0), 0);
    struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
    struct waiter w = { .thread = pthread_self() };
    atomic_store(&w.tid, (pid_t)syscall(SYS_gettid));
    runs = 0;
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, signaller, &w), 0);
    char buf[16];
    ck_assert_int_eq(netcore_recv(h.st, h.s, buf, sizeof(buf), 0), -EINTR);
    ck_assert_int_eq(runs, 1);
    pthread_join(t, NULL);
    hp_stop(&h);
}
END_TEST

static Suite *crit_suite(void)
{
    Suite *s = suite_create("crit");
    TCase *tc = tcase_create("deferred handler interrupts the wait");
    tcase_add_test(tc, recv_tcp);
    tcase_add_test(tc, recv_tcp_partial);
    tcase_add_test(tc, connect_tcp);
    tcase_add_test(tc, accept_tcp);
    tcase_add_test(tc, recv_udp);
    suite_add_tcase(s, tc);
    tc = tcase_create("handler while the call sleeps");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, recv_tcp_asleep);
    suite_add_tcase(s, tc);
    tc = tcase_create("call without a wait");
    tcase_add_test(tc, no_wait_no_eintr);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(crit_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
