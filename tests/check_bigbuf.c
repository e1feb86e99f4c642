/*
 * bigbuf.c: lwIP's 64 KB blocks come back from a small cache instead of from malloc each
 * time (the heap's trim and refault churn); other sizes are malloc's own.
 */
#include <check.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lwip/opt.h>

START_TEST(big_blocks_reused)
{
    void *a = nc__mem_malloc(65000);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_ge(malloc_usable_size(a), 65536);
    memset(a, 1, 65000);
    nc__mem_free(a);
    /* any size of the class gets a whole block of the class, the one just freed */
    void *b = nc__mem_malloc(40000);
    ck_assert_ptr_eq(a, b);
    ck_assert_uint_ge(malloc_usable_size(b), 68 * 1024);
    nc__mem_free(b);
}
END_TEST

START_TEST(small_and_huge_pass_through)
{
    void *s = nc__mem_malloc(100);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_lt(malloc_usable_size(s), 4096);
    nc__mem_free(s);
    void *h = nc__mem_malloc(200000);
    ck_assert_ptr_nonnull(h);
    nc__mem_free(h);
    nc__mem_free(NULL);
}
END_TEST

static Suite *bigbuf_suite(void)
{
    Suite *s = suite_create("bigbuf");
    TCase *c = tcase_create("cache");
    tcase_add_test(c, big_blocks_reused);
    tcase_add_test(c, small_and_huge_pass_through);
    suite_add_tcase(s, c);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(bigbuf_suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed == 0 ? 0 : 1;
}
