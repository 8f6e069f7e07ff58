/* SPDX-License-Identifier: MIT */
/* test_names.c: the name rules and percent-decoding of common/names.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/names.h"

#define MAX_LEN 256

/* Checks a name given as a string literal, so embedded NUL bytes count toward its length. */
#define CHECK(lit) check_name(lit, sizeof(lit) - 1)

static enum confhub_status check_name(const char *name, size_t len)
{
    struct ch_err err = {0};
    enum confhub_status status = ch_names_check("key", name, len, MAX_LEN, &err);
    /* A failure always says what failed; a success leaves err alone. */
    if (status != CONFHUB_OK) {
        assert_int_equal(err.code, status);
        assert_non_null(strstr(err.msg, "key name"));
    } else {
        assert_int_equal(err.code, CONFHUB_OK);
    }
    return status;
}

static void test_names_rejects_empty(void **state)
{
    (void)state;
    assert_int_equal(CHECK(""), CONFHUB_EINVAL);
}

static void test_names_rejects_too_long(void **state)
{
    char name[MAX_LEN + 1];
    (void)state;
    memset(name, 'a', sizeof(name));
    assert_int_equal(check_name(name, MAX_LEN), CONFHUB_OK);
    assert_int_equal(check_name(name, MAX_LEN + 1), CONFHUB_ETOOBIG);
}

static void test_names_rejects_slash(void **state)
{
    (void)state;
    assert_int_equal(CHECK("/"), CONFHUB_EINVAL);
    assert_int_equal(CHECK("a/b"), CONFHUB_EINVAL);
    assert_int_equal(CHECK("ab/"), CONFHUB_EINVAL);
}

static void test_names_rejects_dot_names_and_at(void **state)
{
    (void)state;
    assert_int_equal(CHECK("."), CONFHUB_EINVAL);
    assert_int_equal(CHECK(".."), CONFHUB_EINVAL);
    assert_int_equal(CHECK("@"), CONFHUB_EINVAL);
    /* Only the exact names are reserved. */
    assert_int_equal(CHECK("..."), CONFHUB_OK);
    assert_int_equal(CHECK(".env"), CONFHUB_OK);
    assert_int_equal(CHECK("@x"), CONFHUB_OK);
}

static void test_names_rejects_control_characters(void **state)
{
    (void)state;
    assert_int_equal(CHECK("a\0b"), CONFHUB_EINVAL);
    assert_int_equal(CHECK("\x01"), CONFHUB_EINVAL);
    assert_int_equal(CHECK("a\tb"), CONFHUB_EINVAL);
    assert_int_equal(CHECK("a\nb"), CONFHUB_EINVAL);
    assert_int_equal(CHECK("a\x1f"), CONFHUB_EINVAL);
    assert_int_equal(CHECK("\x7f"), CONFHUB_EINVAL);
    assert_int_equal(CHECK("a\xc2\x80"), CONFHUB_EINVAL);  /* U+0080 */
    assert_int_equal(CHECK("a\xc2\x85z"), CONFHUB_EINVAL); /* U+0085 NEL */
    assert_int_equal(CHECK("\xc2\x9f"), CONFHUB_EINVAL);   /* U+009F */
    assert_int_equal(CHECK("\xc2\xa0"), CONFHUB_OK);       /* U+00A0 is not a control */
}

static void test_names_rejects_invalid_utf8(void **state)
{
    (void)state;
    assert_int_equal(CHECK("\x80"), CONFHUB_EINVAL);             /* lone continuation */
    assert_int_equal(CHECK("\xff"), CONFHUB_EINVAL);             /* never valid */
    assert_int_equal(CHECK("\xc0\xaf"), CONFHUB_EINVAL);         /* overlong '/' (2 bytes) */
    assert_int_equal(CHECK("\xc1\xbf"), CONFHUB_EINVAL);         /* overlong (2 bytes) */
    assert_int_equal(CHECK("\xe0\x80\xaf"), CONFHUB_EINVAL);     /* overlong '/' (3 bytes) */
    assert_int_equal(CHECK("\xf0\x80\x80\xaf"), CONFHUB_EINVAL); /* overlong '/' (4 bytes) */
    assert_int_equal(CHECK("\xed\xa0\x80"), CONFHUB_EINVAL);     /* U+D800, a surrogate */
    assert_int_equal(CHECK("\xed\xbf\xbf"), CONFHUB_EINVAL);     /* U+DFFF, a surrogate */
    assert_int_equal(CHECK("\xf4\x90\x80\x80"), CONFHUB_EINVAL); /* U+110000 */
    assert_int_equal(CHECK("\xe9\x85"), CONFHUB_EINVAL);         /* truncated at the end */
    assert_int_equal(CHECK("\xe9\x85x"), CONFHUB_EINVAL);        /* truncated in the middle */
    assert_int_equal(CHECK("\xc3"), CONFHUB_EINVAL);
    assert_false(ch_names_utf8_valid("\xf0\x9f\x98", 3));
    assert_true(ch_names_utf8_valid("\xf0\x9f\x98\x80", 4)); /* U+1F600 */
    assert_true(ch_names_utf8_valid("\xf4\x8f\xbf\xbf", 4)); /* U+10FFFF */
    assert_true(ch_names_utf8_valid("\xee\x80\x80", 3));     /* U+E000, just past surrogates */
    assert_true(ch_names_utf8_valid("", 0));
}

static void test_names_accepts_valid_names(void **state)
{
    (void)state;
    assert_int_equal(CHECK("my key"), CONFHUB_OK);
    assert_int_equal(CHECK("app.kubernetes.io"), CONFHUB_OK);
    assert_int_equal(CHECK("\xe9\x85\x8d\xe7\xbd\xae"), CONFHUB_OK); /* 配置 */
    assert_int_equal(CHECK("caf\xc3\xa9"), CONFHUB_OK);
    assert_int_equal(CHECK("\xf0\x9f\x98\x80"), CONFHUB_OK);
    assert_int_equal(CHECK("a+b%20c"), CONFHUB_OK); /* names are checked after decoding */
}

/* Decodes a literal; returns the status and puts the result in out (at least len + 1). */
static enum confhub_status decode(const char *src, char *out, size_t *out_len)
{
    struct ch_err err = {0};
    enum confhub_status status = ch_names_percent_decode(src, strlen(src), out, out_len, &err);
    if (status != CONFHUB_OK)
        assert_true(err.msg[0] != '\0');
    return status;
}

static void test_names_percent_decodes(void **state)
{
    char out[64];
    size_t len = 0;
    (void)state;

    assert_int_equal(decode("%20", out, &len), CONFHUB_OK);
    assert_string_equal(out, " ");
    assert_int_equal(len, 1);
    assert_int_equal(decode("a%2Fb", out, &len), CONFHUB_OK);
    assert_string_equal(out, "a/b");
    assert_int_equal(decode("a%2fb", out, &len), CONFHUB_OK);
    assert_string_equal(out, "a/b");
    assert_int_equal(decode("%E9%85%8D%e7%bd%ae", out, &len), CONFHUB_OK);
    assert_string_equal(out, "\xe9\x85\x8d\xe7\xbd\xae");
    assert_int_equal(len, 6);
    assert_int_equal(decode("a+b", out, &len), CONFHUB_OK);
    assert_string_equal(out, "a+b");
    assert_int_equal(decode("", out, &len), CONFHUB_OK);
    assert_string_equal(out, "");
    assert_int_equal(len, 0);
}

static void test_names_percent_decode_then_check_rejects_slash(void **state)
{
    char out[64];
    size_t len = 0;
    (void)state;

    /* An encoded '/' must not smuggle a separator into a name. */
    assert_int_equal(decode("a%2Fb", out, &len), CONFHUB_OK);
    assert_int_equal(check_name(out, len), CONFHUB_EINVAL);
    assert_int_equal(decode("%2E%2E", out, &len), CONFHUB_OK);
    assert_int_equal(check_name(out, len), CONFHUB_EINVAL);
}

static void test_names_percent_decode_rejects_bad_escapes(void **state)
{
    char out[64];
    size_t len = 0;
    (void)state;

    assert_int_equal(decode("%4", out, &len), CONFHUB_EINVAL);
    assert_int_equal(decode("%zz", out, &len), CONFHUB_EINVAL);
    assert_int_equal(decode("%4z", out, &len), CONFHUB_EINVAL);
    assert_int_equal(decode("%", out, &len), CONFHUB_EINVAL);
    assert_int_equal(decode("abc%", out, &len), CONFHUB_EINVAL);
    assert_int_equal(decode("abc%2", out, &len), CONFHUB_EINVAL);
    assert_int_equal(decode("%00", out, &len), CONFHUB_EINVAL);
    assert_int_equal(decode("a%00b", out, &len), CONFHUB_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_rejects_empty),
        cmocka_unit_test(test_names_rejects_too_long),
        cmocka_unit_test(test_names_rejects_slash),
        cmocka_unit_test(test_names_rejects_dot_names_and_at),
        cmocka_unit_test(test_names_rejects_control_characters),
        cmocka_unit_test(test_names_rejects_invalid_utf8),
        cmocka_unit_test(test_names_accepts_valid_names),
        cmocka_unit_test(test_names_percent_decodes),
        cmocka_unit_test(test_names_percent_decode_then_check_rejects_slash),
        cmocka_unit_test(test_names_percent_decode_rejects_bad_escapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
