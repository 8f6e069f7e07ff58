/* SPDX-License-Identifier: MIT */
/* test_buf.c: the growable buffer, across the move to huge-page memory at 2 MiB. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/buf.h"

static void test_grows_past_large_threshold_keeping_content(void **state)
{
    struct ch_buf b = {0};
    char line[64];
    (void)state;
    for (int i = 0; i < 400000; i++) {
        int n = snprintf(line, sizeof(line), "%07d,", i);
        assert_true(ch_buf_add(&b, line, (size_t)n));
    }
    assert_int_equal(b.len, 400000 * 8);
    assert_true(b.cap > ((size_t)2 << 20));
    assert_memory_equal(b.ptr, "0000000,0000001,", 16);
    assert_memory_equal(b.ptr + b.len - 8, "0399999,", 8);
    assert_int_equal(b.ptr[b.len], '\0');
    ch_buf_free(&b);
}

static void test_reserve_then_fill(void **state)
{
    struct ch_buf b = {0};
    (void)state;
    assert_true(ch_buf_adds(&b, "head"));
    assert_true(ch_buf_reserve(&b, (size_t)5 << 20));
    assert_string_equal(b.ptr, "head"); /* moved to the large allocation whole */
    char *before = b.ptr;
    for (int i = 0; i < 1000; i++)
        assert_true(ch_buf_add(&b, "0123456789", 10));
    assert_ptr_equal(b.ptr, before);      /* within the reservation nothing moves */
    assert_true(ch_buf_reserve(&b, 100)); /* smaller: a no-op */
    ch_buf_free(&b);
}

static void test_large_allocation_failure_is_sticky(void **state)
{
    struct ch_buf b = {0};
    (void)state;
    assert_true(ch_buf_adds(&b, "kept"));
    ch_alloc_fail_after(0);
    assert_false(ch_buf_reserve(&b, (size_t)4 << 20));
    ch_alloc_fail_after(-1);
    assert_true(b.failed);
    assert_false(ch_buf_adds(&b, "more"));
    assert_string_equal(b.ptr, "kept");
    ch_buf_free(&b);
    assert_null(b.ptr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grows_past_large_threshold_keeping_content),
        cmocka_unit_test(test_reserve_then_fill),
        cmocka_unit_test(test_large_allocation_failure_is_sticky),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
