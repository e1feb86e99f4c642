/*
 * check_errno: nc__err_to_errno(), lwIP's err_t to the errno the kernel would report. Not a
 * copy of errno.c's table (each errno a call really returns is checked where the call is: the
 * wire and shim suites, the conformance table); what holds for the whole map: every code lwIP
 * has is mapped on purpose, to an errno the kernel's socket calls return, and nothing else
 * passes for one of them.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <lwip/err.h>

#include "errmap.h"

/* The errnos of the kernel's socket, connect, bind, listen, accept, send and recv (their
 * manual pages), less those lwIP never causes (EBADF, EFAULT, ENOTSOCK...). */
static const int kernel_socket_errnos[] = {
    EAGAIN, EADDRINUSE, EADDRNOTAVAIL, EALREADY, ECONNABORTED, ECONNREFUSED, ECONNRESET,
    EHOSTUNREACH, EINPROGRESS, EINVAL, EISCONN, ENETDOWN, ENETUNREACH, ENOBUFS, ENOMEM,
    ENOTCONN, EPIPE, ETIMEDOUT,
};

static bool kernel_socket_errno(int e)
{
    for (size_t i = 0; i < sizeof(kernel_socket_errnos) / sizeof(kernel_socket_errnos[0]); i++)
        if (kernel_socket_errnos[i] == e)
            return true;
    return false;
}

/* lwIP's codes run from ERR_OK down to ERR_ARG without gaps: each one but ERR_OK is an
 * errno a socket call returns, none the EIO of an unknown code. */
START_TEST(test_map_complete)
{
    ck_assert_int_eq(nc__err_to_errno(ERR_OK), 0);
    for (int e = ERR_ARG; e < ERR_OK; e++) {
        int got = nc__err_to_errno(e);
        ck_assert_msg(got != EIO && kernel_socket_errno(got),
                      "err_t %d maps to %d, not an errno of the kernel's socket calls", e, got);
    }
}
END_TEST

/* What a program tells apart, lwIP's codes keep apart: a reset from an abort, a refused
 * or failed route from a down interface. */
START_TEST(test_map_distinct)
{
    ck_assert_int_ne(nc__err_to_errno(ERR_RST), nc__err_to_errno(ERR_ABRT));
    ck_assert_int_ne(nc__err_to_errno(ERR_RTE), nc__err_to_errno(ERR_IF));
    ck_assert_int_ne(nc__err_to_errno(ERR_WOULDBLOCK), nc__err_to_errno(ERR_INPROGRESS));
    ck_assert_int_ne(nc__err_to_errno(ERR_USE), nc__err_to_errno(ERR_ISCONN));
}
END_TEST

/* unknown: anything else is EIO */

static const int unknown[] = { -100, ERR_ARG - 1, 1, 42, -128, 127 };

START_TEST(test_unknown)
{
    ck_assert_int_eq(nc__err_to_errno(unknown[_i]), EIO);
}
END_TEST

static Suite *errno_suite(void)
{
    Suite *s = suite_create("errno");
    TCase *tc;

    tc = tcase_create("map");
    tcase_add_test(tc, test_map_complete);
    tcase_add_test(tc, test_map_distinct);
    suite_add_tcase(s, tc);

    tc = tcase_create("unknown");
    tcase_add_loop_test(tc, test_unknown, 0, sizeof(unknown) / sizeof(unknown[0]));
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(errno_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
