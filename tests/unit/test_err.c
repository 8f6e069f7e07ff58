/* SPDX-License-Identifier: MIT */
/* test_err.c: the status tables and struct ch_err helpers of common/err.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"

static void test_err_every_status_has_name_and_text(void **state)
{
    (void)state;
    for (int s = 0; s < CONFHUB_STATUS_COUNT; s++) {
        const char *name = ch_err_code_name((enum confhub_status)s);
        const char *text = confhub_strerror(s);
        assert_non_null(name);
        assert_non_null(text);
        assert_string_not_equal(name, "unknown");
        assert_string_not_equal(text, "unknown status");
        assert_true(name[0] != '\0');
        assert_true(text[0] != '\0');
        /* Names are machine-readable codes in HTTP bodies: distinct, lowercase snake_case. */
        assert_int_equal(strspn(name, "abcdefghijklmnopqrstuvwxyz_"), strlen(name));
        for (int t = 0; t < s; t++)
            assert_string_not_equal(name, ch_err_code_name((enum confhub_status)t));
    }
}

static void test_err_out_of_range_is_unknown(void **state)
{
    (void)state;
    assert_string_equal(ch_err_code_name(CONFHUB_STATUS_COUNT), "unknown");
    assert_string_equal(ch_err_code_name((enum confhub_status) - 1), "unknown");
    assert_string_equal(confhub_strerror(CONFHUB_STATUS_COUNT), "unknown status");
    assert_string_equal(confhub_strerror(-1), "unknown status");
}

static void test_err_stable_codes(void **state)
{
    (void)state;
    /* Append-only: these values are in clients and logs already. */
    assert_int_equal(CONFHUB_OK, 0);
    assert_int_equal(CONFHUB_EIO, 7);
    assert_int_equal(CONFHUB_EVERSION, 11);
    assert_int_equal(CONFHUB_EFORBIDDEN, 12);
    assert_string_equal(ch_err_code_name(CONFHUB_EFORBIDDEN), "forbidden");
    assert_string_equal(ch_err_code_name(CONFHUB_OK), "ok");
    assert_string_equal(ch_err_code_name(CONFHUB_ENOTFOUND), "not_found");
}

static void test_err_set_and_clear(void **state)
{
    struct ch_err err;
    char long_arg[1000];
    (void)state;

    ch_err_clear(&err);
    assert_int_equal(err.code, CONFHUB_OK);
    assert_string_equal(err.msg, "");
    assert_int_equal(err.mod_rev, -1);
    assert_int_equal(ch_err_set(&err, CONFHUB_EIO, "cannot open '%s': %s", "x.db", "denied"),
                     CONFHUB_EIO);
    assert_int_equal(err.code, CONFHUB_EIO);
    assert_string_equal(err.msg, "cannot open 'x.db': denied");
    /* NULL err is allowed, and over-long messages are cut, never overflowed. */
    assert_int_equal(ch_err_set(NULL, CONFHUB_EINVAL, "x"), CONFHUB_EINVAL);
    memset(long_arg, 'a', sizeof(long_arg) - 1);
    long_arg[sizeof(long_arg) - 1] = '\0';
    ch_err_set(&err, CONFHUB_ETOOBIG, "%s", long_arg);
    assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_every_status_has_name_and_text),
        cmocka_unit_test(test_err_out_of_range_is_unknown),
        cmocka_unit_test(test_err_stable_codes),
        cmocka_unit_test(test_err_set_and_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
