/*
 * The shim's signal wrapper (preload/signal.c) against its own deferral: a program's handler
 * never runs inside itself, as the kernel never runs a handler while its signal is blocked
 * (it is, during its own handler, unless SA_NODEFER).
 *
 * A signal that lands while the thread holds a counted lock is deferred, and the unlock that
 * brings the count to 0 runs it. Between that unlock's decrement and its look at the pending
 * flag, a second signal found the count at 0 and ran its handler at once; the handler's own
 * first socket call (a counted lock and its unlock) then ran the deferred one inside it. A
 * handler that sends a numbered byte and then counts (test_sem_sighandler) sent the same
 * number twice. Here the test plays that window by hand: the decrement alone, a signal, the
 * look.
 */
#include <check.h>
#include <signal.h>
#include <string.h>

#include "shimapi.h"

static volatile sig_atomic_t runs, inside, deepest;

/* As a program's handler that makes a netcore call: a counted lock taken and let go. */
static void on_usr1(int sig)
{
    (void)sig;
    inside = inside + 1;
    if (inside > deepest)
        deepest = inside;
    nc__crit_enter();
    nc__crit_leave();
    runs = runs + 1;
    inside = inside - 1;
}

START_TEST(handler_never_inside_itself)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0); /* the shim's: its wrapper goes in */
    nc__crit_enter();
    ck_assert_int_eq(raise(SIGUSR1), 0);
    ck_assert_int_eq(runs, 0); /* deferred under the lock */
    nc__crit_depth = nc__crit_depth - 1; /* the last unlock's decrement, not yet its look */
    ck_assert_int_eq(raise(SIGUSR1), 0);
    nc__crit_run(); /* the look: what was deferred runs now */
    ck_assert_int_ge(runs, 1);
    ck_assert_int_eq(nc__crit_pending, 0);
    ck_assert_msg(deepest == 1, "a handler ran inside itself (%d deep)", (int)deepest);
    /* And a signal at depth 0 with nothing deferred still runs at once. */
    sig_atomic_t before = runs;
    ck_assert_int_eq(raise(SIGUSR1), 0);
    ck_assert_int_eq(runs, before + 1);
    ck_assert_int_eq(deepest, 1);
}
END_TEST

static Suite *shim_signal_suite(void)
{
    Suite *s = suite_create("shim_signal");
    TCase *tc = tcase_create("defer");
    tcase_add_test(tc, handler_never_inside_itself);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(shim_signal_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
