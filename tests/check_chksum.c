/*
 * check_chksum — the core's nc__chksum, lwIP's LWIP_CHKSUM (lwipopts.h), gives the result of
 * lwIP's own lwip_standard_chksum, which the build compiles beside it from the same source, for
 * every length, alignment and content. (How much faster it is, is a benchmark's business, not
 * a test's.)
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include <lwip/opt.h>

#define lwip_own lwip_standard_chksum

START_TEST(same_as_lwip)
{
    static uint8_t buf[70000];
    unsigned seed = 42;
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)rand_r(&seed);
    for (int off = 0; off < 8; off++)
        for (int len = 0; len < 300; len++)
            ck_assert_uint_eq(nc__chksum(buf + off, len), lwip_own(buf + off, len));
    for (int k = 0; k < 2000; k++) {
        int off = rand_r(&seed) % 64, len = rand_r(&seed) % 65536;
        ck_assert_uint_eq(nc__chksum(buf + off, len), lwip_own(buf + off, len));
    }
    /* All ones: the folding of many carries. */
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = 0xff;
    ck_assert_uint_eq(nc__chksum(buf, 65535), lwip_own(buf, 65535));
    ck_assert_uint_eq(nc__chksum(buf + 1, 65534), lwip_own(buf + 1, 65534));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("chksum");
    TCase *tc = tcase_create("chksum");
    tcase_add_test(tc, same_as_lwip);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
