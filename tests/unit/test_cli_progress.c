/* SPDX-License-Identifier: MIT */
/* test_cli_progress.c: the CLI's upload progress bar (src/cli/progress.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/progress.h"

#define MIB ((uint64_t)1024 * 1024)

/* Captures what a bar draws into memory. */
struct capture {
    char *text;
    size_t len;
    struct ch_cli_progress bar;
};

static void capture_open(struct capture *c)
{
    memset(c, 0, sizeof(*c));
    c->bar.f = open_memstream(&c->text, &c->len);
    assert_non_null(c->bar.f);
}

static void capture_close(struct capture *c)
{
    fclose(c->bar.f);
    free(c->text);
}

static void test_cli_progress_sizes(void **state)
{
    char buf[32];
    (void)state;

    ch_cli_progress_format_size(0, buf, sizeof(buf));
    assert_string_equal(buf, "0 B");
    ch_cli_progress_format_size(1023, buf, sizeof(buf));
    assert_string_equal(buf, "1023 B");
    ch_cli_progress_format_size(1536, buf, sizeof(buf));
    assert_string_equal(buf, "1.5 KiB");
    ch_cli_progress_format_size(27 * MIB, buf, sizeof(buf));
    assert_string_equal(buf, "27.0 MiB");
    ch_cli_progress_format_size(3 * 1024 * MIB, buf, sizeof(buf));
    assert_string_equal(buf, "3.0 GiB");
}

static void test_cli_progress_draws_and_clears(void **state)
{
    struct capture c;
    (void)state;

    capture_open(&c);
    ch_cli_progress_update(&c.bar, 0, 0); /* total unknown: nothing drawn */
    fflush(c.bar.f);
    assert_int_equal(c.len, 0);

    ch_cli_progress_update(&c.bar, 45 * MIB / 10, 10 * MIB);
    fflush(c.bar.f);
    assert_string_equal(c.text, "\r[#########           ]  45% 4.5 MiB/10.0 MiB");

    /* The same picture again is not redrawn. */
    ch_cli_progress_update(&c.bar, 45 * MIB / 10, 10 * MIB);
    fflush(c.bar.f);
    assert_int_equal(c.len, strlen("\r[#########           ]  45% 4.5 MiB/10.0 MiB"));

    ch_cli_progress_update(&c.bar, 10 * MIB, 10 * MIB);
    ch_cli_progress_finish(&c.bar);
    fflush(c.bar.f);
    assert_non_null(strstr(c.text, "\r[####################] 100% 10.0 MiB/10.0 MiB"));
    /* Finishing blanks the widest line and returns to column 0. */
    assert_int_equal(c.text[c.len - 1], '\r');
    assert_int_equal(c.text[c.len - 2], ' ');
    capture_close(&c);
}

static void test_cli_progress_shorter_line_is_padded(void **state)
{
    struct capture c;
    const char *second;
    (void)state;

    capture_open(&c);
    ch_cli_progress_update(&c.bar, MIB - 100, 2 * MIB); /* "1023.9 KiB/2.0 MiB" */
    ch_cli_progress_update(&c.bar, MIB, 2 * MIB);       /* "1.0 MiB/2.0 MiB": 3 shorter */
    fflush(c.bar.f);
    second = strrchr(c.text, '\r');
    assert_non_null(second);
    assert_string_equal(second, "\r[##########          ]  50% 1.0 MiB/2.0 MiB   ");
    capture_close(&c);
}

static void test_cli_progress_small_and_huge_totals(void **state)
{
    struct capture c;
    (void)state;

    capture_open(&c);
    ch_cli_progress_update(&c.bar, 25, 50);
    fflush(c.bar.f);
    assert_non_null(strstr(c.text, "  50% 25 B/50 B"));
    ch_cli_progress_update(&c.bar, UINT64_MAX, UINT64_MAX);
    fflush(c.bar.f);
    assert_non_null(strstr(c.text, "] 100% "));
    ch_cli_progress_finish(&c.bar);
    ch_cli_progress_finish(&c.bar); /* a second finish draws nothing */
    capture_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_progress_sizes),
        cmocka_unit_test(test_cli_progress_draws_and_clears),
        cmocka_unit_test(test_cli_progress_shorter_line_is_padded),
        cmocka_unit_test(test_cli_progress_small_and_huge_totals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
