/* SPDX-License-Identifier: MIT */
/* test_cli_output.c: the CLI's JSON and text printers (src/cli/output.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "cli/output.h"

enum printer { JSON_COMPACT_, JSON_PRETTY, VALUE, ENTRIES, NAMES };

/* Parses json, prints it with printer into memory and compares with want. */
static void check(const char *json, enum printer printer, const char *want)
{
    json_error_t jerr;
    json_t *v = json_loads(json, JSON_DECODE_ANY, &jerr);
    char *got = NULL;
    size_t got_len = 0;
    FILE *f;

    assert_non_null(v);
    f = open_memstream(&got, &got_len);
    assert_non_null(f);
    switch (printer) {
    case JSON_COMPACT_:
        ch_cli_output_json(f, v, 0);
        break;
    case JSON_PRETTY:
        ch_cli_output_json(f, v, 2);
        break;
    case VALUE:
        ch_cli_output_value(f, v);
        break;
    case ENTRIES:
        ch_cli_output_entries(f, v);
        break;
    case NAMES:
        ch_cli_output_names(f, v);
        break;
    }
    fclose(f);
    assert_string_equal(got, want);
    free(got);
    json_decref(v);
}

static void test_cli_output_reals_are_shortest(void **state)
{
    (void)state;
    check("0.1", JSON_COMPACT_, "0.1");
    check("-0.5", JSON_COMPACT_, "-0.5");
    check("3.0", JSON_COMPACT_, "3.0"); /* stays recognisably a real */
    check("1e300", JSON_COMPACT_, "1e+300");
    check("1.5e-7", JSON_COMPACT_, "1.5e-07");
    check("0.30000000000000004", JSON_COMPACT_, "0.30000000000000004");
    check("9007199254740993", JSON_COMPACT_, "9007199254740993"); /* integers are exact */
}

static void test_cli_output_escapes_strings(void **state)
{
    (void)state;
    check("\"a\\\"b\\\\c\\n\\t\\u0001\\u007f\"", JSON_COMPACT_,
          "\"a\\\"b\\\\c\\n\\t\\u0001\\u007f\"");
    check("\"配置 é\"", JSON_COMPACT_, "\"配置 é\""); /* UTF-8 is not \u-escaped */
    check("{\"my key\":[true,false,null,{}]}", JSON_COMPACT_, "{\"my key\":[true,false,null,{}]}");
}

static void test_cli_output_pretty_prints(void **state)
{
    (void)state;
    check("{\"b\":1,\"a\":[1,{\"c\":[]}]}", JSON_PRETTY,
          "{\n  \"b\": 1,\n  \"a\": [\n    1,\n    {\n      \"c\": []\n    }\n  ]\n}");
    check("[]", JSON_PRETTY, "[]");
}

static void test_cli_output_value_text_mode(void **state)
{
    (void)state;
    check("\"my service\"", VALUE, "my service\n");
    check("\"line1\\nline2\"", VALUE, "line1\nline2\n");
    check("8080", VALUE, "8080\n");
    check("null", VALUE, "null\n");
    check("[1,2]", VALUE, "[\n  1,\n  2\n]\n");
}

static void test_cli_output_entries_and_names_are_sorted(void **state)
{
    (void)state;
    check("{\"port\":8080,\"name\":\"x\",\"a.b\":{\"c\":0.1}}", ENTRIES,
          "a.b = {\"c\":0.1}\nname = \"x\"\nport = 8080\n");
    check("{\"配置\":1,\"b\":2,\"B\":3}", NAMES, "B\nb\n配置\n");
    check("{}", NAMES, "");
}

static void test_cli_output_sorted_names_array(void **state)
{
    json_t *obj = json_loads("{\"z\":1,\"a\":2}", 0, NULL);
    json_t *names;
    (void)state;

    assert_non_null(obj);
    names = ch_cli_output_sorted_names(obj);
    assert_non_null(names);
    assert_int_equal(json_array_size(names), 2);
    assert_string_equal(json_string_value(json_array_get(names, 0)), "a");
    assert_string_equal(json_string_value(json_array_get(names, 1)), "z");
    json_decref(names);
    json_decref(obj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_output_reals_are_shortest),
        cmocka_unit_test(test_cli_output_escapes_strings),
        cmocka_unit_test(test_cli_output_pretty_prints),
        cmocka_unit_test(test_cli_output_value_text_mode),
        cmocka_unit_test(test_cli_output_entries_and_names_are_sorted),
        cmocka_unit_test(test_cli_output_sorted_names_array),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
