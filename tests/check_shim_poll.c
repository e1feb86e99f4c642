/*
 * The shim's poll and select (preload/poll.c) in process: a netcore socket beside kernel fds
 * in one call, each reported for what happened to it (a datagram from the hand-played peer,
 * a byte in a pipe); POLLNVAL and the kernel's errno for what is not an open fd; select's
 * fd_set bounds. (nfds past RLIMIT_NOFILE is not tested: valgrind, which runs these suites,
 * keeps the process's real limit.) shimfix.h says how the suite reaches the shim without root.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handpeer.h"
#include "shimfix.h"

#define PORT 7001

/* The netcore socket quiet, the pipe ready: only the pipe; then the datagram: only the
 * socket; POLLOUT of a UDP socket at once. */
START_TEST(poll_mixed)
{
    int s = sf_udp_bound(PORT), p[2];
    ck_assert_int_eq(pipe(p), 0);
    struct pollfd f[3] = { { .fd = s, .events = POLLIN }, { .fd = p[0], .events = POLLIN },
                           { .fd = -1, .events = POLLIN } };
    ck_assert_int_eq(poll(f, 3, 0), 0);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    ck_assert_int_eq(poll(f, 3, 5000), 1);
    ck_assert_int_eq(f[0].revents, 0);
    ck_assert_int_eq(f[1].revents, POLLIN);
    ck_assert_int_eq(f[2].revents, 0); /* a negative fd is left out */
    char c;
    ck_assert_int_eq(read(p[0], &c, 1), 1);
    hp_udp_in(sf_wire, 5353, PORT, "x", 1);
    ck_assert_int_eq(poll(f, 3, 5000), 1);
    ck_assert_int_eq(f[0].revents, POLLIN);
    ck_assert_int_eq(f[1].revents, 0);
    f[0].events = POLLIN | POLLOUT;
    ck_assert_int_eq(poll(f, 1, 0), 1);
    ck_assert_int_eq(f[0].revents, POLLIN | POLLOUT);
    ck_assert_int_eq(recv(s, &c, 1, 0), 1);
    ck_assert_int_eq(poll(f, 1, 0), 1);
    ck_assert_int_eq(f[0].revents, POLLOUT);
}
END_TEST

/* Two entries for one socket, asking different things, each get their own answer. */
START_TEST(poll_same_socket_twice)
{
    int s = sf_udp_bound(PORT);
    struct pollfd f[2] = { { .fd = s, .events = POLLIN }, { .fd = s, .events = POLLOUT } };
    ck_assert_int_eq(poll(f, 2, 0), 1);
    ck_assert_int_eq(f[0].revents, 0);
    ck_assert_int_eq(f[1].revents, POLLOUT);
    hp_udp_in(sf_wire, 5353, PORT, "x", 1);
    f[1].events = 0;
    ck_assert_int_eq(poll(f, 2, 5000), 1);
    ck_assert_int_eq(f[0].revents, POLLIN);
    ck_assert_int_eq(f[1].revents, 0);
}
END_TEST

/* A closed fd beside a netcore socket: POLLNVAL for it, counted, the call not failed. */
START_TEST(poll_closed_fd_nval)
{
    int s = sf_udp_bound(PORT), gone = sf_udp_bound(PORT + 1);
    ck_assert_int_eq(close(gone), 0);
    struct pollfd f[2] = { { .fd = s, .events = POLLIN }, { .fd = gone, .events = POLLIN } };
    ck_assert_int_eq(poll(f, 2, 0), 1);
    ck_assert_int_eq(f[0].revents, 0);
    ck_assert_int_eq(f[1].revents, POLLNVAL);
}
END_TEST

/* ppoll: the same over a timespec; a signal mask of its own is no obstacle. */
START_TEST(ppoll_readiness)
{
    int s = sf_udp_bound(PORT);
    struct pollfd f = { .fd = s, .events = POLLIN };
    struct timespec zero = { 0, 0 }, five = { 5, 0 };
    sigset_t none;
    sigemptyset(&none);
    ck_assert_int_eq(ppoll(&f, 1, &zero, NULL), 0);
    hp_udp_in(sf_wire, 5353, PORT, "x", 1);
    ck_assert_int_eq(ppoll(&f, 1, &five, &none), 1);
    ck_assert_int_eq(f.revents, POLLIN);
}
END_TEST

START_TEST(select_mixed)
{
    int s = sf_udp_bound(PORT), p[2];
    ck_assert_int_eq(pipe(p), 0);
    int nfds = (s > p[0] ? s : p[0]) + 1;
    fd_set r, w;
    struct timeval tv = { 0, 0 };
    FD_ZERO(&r);
    FD_SET(s, &r);
    FD_SET(p[0], &r);
    ck_assert_int_eq(select(nfds, &r, NULL, NULL, &tv), 0);
    ck_assert(!FD_ISSET(s, &r) && !FD_ISSET(p[0], &r));
    hp_udp_in(sf_wire, 5353, PORT, "x", 1);
    FD_SET(s, &r);
    FD_SET(p[0], &r);
    tv.tv_sec = 5;
    ck_assert_int_eq(select(nfds, &r, NULL, NULL, &tv), 1);
    ck_assert(FD_ISSET(s, &r) && !FD_ISSET(p[0], &r));
    /* readable and writable: counted once per set */
    FD_ZERO(&w);
    FD_SET(s, &w);
    FD_SET(p[1], &w);
    tv.tv_sec = 0;
    ck_assert_int_eq(select(nfds > p[1] ? nfds : p[1] + 1, &r, &w, NULL, &tv), 3);
    ck_assert(FD_ISSET(s, &r) && FD_ISSET(s, &w) && FD_ISSET(p[1], &w));
}
END_TEST

/* The kernel's errno: a negative count or time, a closed fd in a set. */
START_TEST(select_errors)
{
    int s = sf_udp_bound(PORT), gone = sf_udp_bound(PORT + 1);
    ck_assert_int_eq(close(gone), 0);
    fd_set r;
    struct timeval tv = { 0, 0 };
    FD_ZERO(&r);
    FD_SET(s, &r);
    ck_assert_int_eq(sf_errno(select(-1, NULL, NULL, NULL, &tv)), EINVAL);
    struct timeval neg = { 0, -1 };
    ck_assert_int_eq(sf_errno(select(s + 1, &r, NULL, NULL, &neg)), EINVAL);
    FD_SET(gone, &r);
    ck_assert_int_eq(sf_errno(select((s > gone ? s : gone) + 1, &r, NULL, NULL, &tv)), EBADF);
}
END_TEST

/* nfds beyond FD_SETSIZE, as the kernel takes it: the sets are read up to the process's fd
 * table (a program may hand sets longer than an fd_set), and nothing is refused. */
START_TEST(select_beyond_setsize)
{
    int s = sf_udp_bound(PORT);
    fd_set w[2]; /* FD_SETSIZE * 2 bits */
    struct timeval tv = { 0, 0 };
    memset(w, 0, sizeof(w));
    FD_SET(s, &w[0]);
    ck_assert_int_eq(select(FD_SETSIZE, NULL, &w[0], NULL, &tv), 1);
    ck_assert(FD_ISSET(s, &w[0]));
    ck_assert_int_eq(select(2 * FD_SETSIZE, NULL, &w[0], NULL, &tv), 1);
    ck_assert(FD_ISSET(s, &w[0]));
    ck_assert_int_eq(select(INT_MAX, NULL, &w[0], NULL, &tv), 1);
}
END_TEST

/* The kernel's checks before it reads the array: a timespec out of range, more entries than
 * RLIMIT_NOFILE (the one-entry array is never read past its end). */
START_TEST(ppoll_errors)
{
    int s = sf_udp_bound(PORT);
    struct pollfd f = { .fd = s, .events = POLLIN };
    struct timespec bad = { 0, -1 }, big = { 0, 1000000000L }, neg = { -1, 0 };
    ck_assert_int_eq(sf_errno(ppoll(&f, 1, &bad, NULL)), EINVAL);
    ck_assert_int_eq(sf_errno(ppoll(&f, 1, &big, NULL)), EINVAL);
    ck_assert_int_eq(sf_errno(ppoll(&f, 1, &neg, NULL)), EINVAL);
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    ck_assert_int_eq(sf_errno(poll(&f, (nfds_t)rl.rlim_cur + 1, 0)), EINVAL);
}
END_TEST

static Suite *shim_poll_suite(void)
{
    Suite *su = suite_create("shim_poll");
    TCase *tp = tcase_create("poll");
    tcase_add_checked_fixture(tp, sf_setup, NULL);
    tcase_add_test(tp, poll_mixed);
    tcase_add_test(tp, poll_same_socket_twice);
    tcase_add_test(tp, poll_closed_fd_nval);
    tcase_add_test(tp, ppoll_readiness);
    tcase_add_test(tp, ppoll_errors);
    suite_add_tcase(su, tp);
    TCase *ts = tcase_create("select");
    tcase_add_checked_fixture(ts, sf_setup, NULL);
    tcase_add_test(ts, select_mixed);
    tcase_add_test(ts, select_errors);
    tcase_add_test(ts, select_beyond_setsize);
    suite_add_tcase(su, ts);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(shim_poll_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
