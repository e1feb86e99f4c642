/*
 * check_errno: nc__err_to_errno(), lwIP's err_t to the errno the kernel would report.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include <lwip/err.h>

#include "internal.h"

/* map: every err_t lwIP defines */

static const struct {
    err_t err;
    int want;
} map[] = {
    { ERR_OK, 0 },
    { ERR_MEM, ENOMEM },
    { ERR_BUF, ENOBUFS },
    { ERR_TIMEOUT, ETIMEDOUT },
    { ERR_RTE, EHOSTUNREACH },
    { ERR_INPROGRESS, EINPROGRESS },
    { ERR_VAL, EINVAL },
    { ERR_WOULDBLOCK, EWOULDBLOCK },
    { ERR_USE, EADDRINUSE },
    { ERR_ALREADY, EALREADY },
    { ERR_ISCONN, EISCONN },
    { ERR_CONN, ENOTCONN },
    { ERR_IF, ENETDOWN },
    { ERR_ABRT, ECONNABORTED },
    { ERR_RST, ECONNRESET },
    { ERR_CLSD, ENOTCONN },
    { ERR_ARG, EINVAL },
};

START_TEST(test_map)
{
    ck_assert_msg(nc__err_to_errno(map[_i].err) == map[_i].want,
                  "err_t %d: got %d, expected %d", (int)map[_i].err,
                  nc__err_to_errno(map[_i].err), map[_i].want);
}
END_TEST

START_TEST(test_map_complete)
{
    /* lwIP's codes run from ERR_OK down to ERR_ARG without gaps; the table covers them all. */
    ck_assert_int_eq(ERR_OK, 0);
    ck_assert_int_eq(sizeof(map) / sizeof(map[0]), 1 - ERR_ARG);
    for (int e = ERR_ARG; e < ERR_OK; e++)
        ck_assert_msg(nc__err_to_errno(e) > 0, "err_t %d maps to %d", e, nc__err_to_errno(e));
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
    tcase_add_loop_test(tc, test_map, 0, sizeof(map) / sizeof(map[0]));
    tcase_add_test(tc, test_map_complete);
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
