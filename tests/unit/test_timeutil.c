/* SPDX-License-Identifier: MIT */
/* test_timeutil.c: RFC 3339 and duration parsing, and formatting round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/timeutil.h"

static int64_t parse_ok(const char *s)
{
    int64_t ms = -1;
    if (!ch_time_parse_rfc3339(s, strlen(s), &ms))
        fail_msg("'%s' should parse", s);
    return ms;
}

static void test_rfc3339_accepts_the_forms(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse_ok("2026-11-23T08:00:00Z"), 1795420800000);
    assert_int_equal(parse_ok("2026-11-23t08:00:00.5z"), 1795420800500);
    assert_int_equal(parse_ok("2026-11-23 08:00:00.123456Z"), 1795420800123);
    assert_int_equal(parse_ok("2026-11-23T10:00:00+02:00"), 1795420800000);
    assert_int_equal(parse_ok("2026-11-23T07:30:00-00:30"), 1795420800000);
    assert_int_equal(parse_ok("2024-02-29T00:00:00Z"), 1709164800000);
    assert_int_equal(parse_ok("1969-12-31T23:59:59Z"), -1000);
}

static void test_rfc3339_round_trips_the_formatter(void **state)
{
    char buf[32];
    (void)state;
    for (int64_t ms = 0; ms < 4000000000000; ms += 123456789013)
        assert_int_equal(parse_ok(ch_time_format_ms(ms, buf, sizeof(buf))), ms);
}

static void test_rfc3339_refuses_the_rest(void **state)
{
    static const char *const bad[] = {
        "",
        "2026-11-23",
        "2026-11-23T08:00:00",
        "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2026-11-23T24:00:00Z",
        "2026-11-23T08:00:00.Z",
        "2026-11-23T08:00:00+0200",
        "2026-11-23T08:00:00Zjunk",
        "yesterday",
        "2026-11-23X08:00:00Z",
    };
    int64_t ms;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (ch_time_parse_rfc3339(bad[i], strlen(bad[i]), &ms))
            fail_msg("'%s' should be refused", bad[i]);
}

static void test_durations(void **state)
{
    int64_t ms = -1;
    (void)state;
    assert_true(ch_time_parse_duration("0", &ms) && ms == 0);
    assert_true(ch_time_parse_duration("250ms", &ms) && ms == 250);
    assert_true(ch_time_parse_duration("90s", &ms) && ms == 90000);
    assert_true(ch_time_parse_duration("15m", &ms) && ms == 900000);
    assert_true(ch_time_parse_duration("12h", &ms) && ms == 43200000);
    assert_true(ch_time_parse_duration("30d", &ms) && ms == 2592000000);
    assert_false(ch_time_parse_duration("", &ms));
    assert_false(ch_time_parse_duration("5", &ms));
    assert_false(ch_time_parse_duration("5y", &ms));
    assert_false(ch_time_parse_duration("-5s", &ms));
    assert_false(ch_time_parse_duration("s", &ms));
    assert_false(ch_time_parse_duration("99999999999999999999d", &ms));
    assert_false(ch_time_parse_duration("999999999999999d", &ms));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339_accepts_the_forms),
        cmocka_unit_test(test_rfc3339_round_trips_the_formatter),
        cmocka_unit_test(test_rfc3339_refuses_the_rest),
        cmocka_unit_test(test_durations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
