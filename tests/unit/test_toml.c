/* SPDX-License-Identifier: MIT */
/*
 * test_toml.c: the TOML reader and writer (formats/toml.c, toml_write.c, toml_debug.c).
 *
 * Every grammar production is read at least once, every error kind is checked with its
 * LINE:COL, documents round-trip through ch_toml_dump and ch_toml_parse, and allocation
 * torture walks every out-of-memory path (LeakSanitizer checks that nothing leaks on them).
 * The full toml-test corpus runs in tests/conformance/toml.sh.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/alloc.h"
#include "formats/format.h"
#include "formats/toml.h"

/* Parses a TOML string literal (embedded NULs count); fails the test unless it parses. */
#define PARSE_OK(lit) parse_ok(lit, sizeof(lit) - 1)
/* Parses a literal that must be refused with code; returns the error. */
#define PARSE_FAIL(lit, code) parse_fail(lit, sizeof(lit) - 1, code)

static json_t *parse_ok(const char *text, size_t len)
{
    struct ch_err err;
    json_t *doc = NULL;
    enum confhub_status rc;

    ch_err_clear(&err);
    rc = ch_toml_parse("t.toml", text, len, NULL, &doc, &err);
    if (rc != CONFHUB_OK)
        fail_msg("parse failed: %s\n--- input:\n%s", err.msg, text);
    return doc;
}

static struct ch_err parse_fail(const char *text, size_t len, enum confhub_status code)
{
    struct ch_err err;
    json_t *doc = NULL;
    enum confhub_status rc;

    ch_err_clear(&err);
    rc = ch_toml_parse("t.toml", text, len, NULL, &doc, &err);
    if (rc == CONFHUB_OK) {
        json_decref(doc);
        fail_msg("accepted invalid TOML:\n%s", text);
    }
    assert_int_equal(rc, code);
    assert_int_equal(err.code, code);
    assert_null(doc);
    return err;
}

/* Checks that doc equals the JSON text want. */
static void assert_json(json_t *doc, const char *want)
{
    json_error_t jerr;
    json_t *w = json_loads(want, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!w)
        fail_msg("bad expected JSON in the test: %s", jerr.text);
    if (!json_equal(doc, w)) {
        char *have = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
        fprintf(stderr, "# have: %s\n# want: %s\n", have, want);
        free(have);
        json_decref(w);
        json_decref(doc);
        fail();
    }
    json_decref(w);
    json_decref(doc);
}

#define EXPECT(toml, json) assert_json(PARSE_OK(toml), json)

/* ------------------------------------------------------------------ productions ---- */

static void test_toml_parses_basic_strings(void **state)
{
    (void)state;
    EXPECT("s = \"a\\tb\\n\\\"q\\\" \\\\ \\b\\f\\r\"",
           "{\"s\": \"a\\tb\\n\\\"q\\\" \\\\ \\b\\f\\r\"}");
    EXPECT("s = \"\\u00e9\\U0001F600\"", "{\"s\": \"\\u00e9\\ud83d\\ude00\"}");
    EXPECT("s = \"\\u0000x\"", "{\"s\": \"\\u0000x\"}");
    EXPECT("s = \"tab\there\"", "{\"s\": \"tab\\there\"}");
    EXPECT("s = \"\"", "{\"s\": \"\"}");
    EXPECT("s = \"caf\xc3\xa9\"", "{\"s\": \"caf\\u00e9\"}");
}

static void test_toml_parses_literal_strings(void **state)
{
    (void)state;
    EXPECT("s = 'C:\\Users\\x'", "{\"s\": \"C:\\\\Users\\\\x\"}");
    EXPECT("s = '<\\i\\c*\\s*>'", "{\"s\": \"<\\\\i\\\\c*\\\\s*>\"}");
    EXPECT("s = ''", "{\"s\": \"\"}");
}

static void test_toml_parses_multiline_strings(void **state)
{
    (void)state;
    /* The newline right after the opening quotes is dropped; CRLF becomes LF. */
    EXPECT("s = \"\"\"\nline 1\r\nline 2\"\"\"", "{\"s\": \"line 1\\nline 2\"}");
    /* A line-ending backslash removes the newline and the indentation after it. */
    EXPECT("s = \"\"\"\\\n    The quick \\\n\n    fox.\"\"\"", "{\"s\": \"The quick fox.\"}");
    EXPECT("s = \"\"\"a \\  \n  b\"\"\"", "{\"s\": \"a b\"}");
    /* One or two quotes may come right before the closing three. */
    EXPECT("s = \"\"\"say \"hi\"\"\"\"", "{\"s\": \"say \\\"hi\\\"\"}");
    EXPECT("s = \"\"\"\"\"\"\"\"", "{\"s\": \"\\\"\\\"\"}");
    EXPECT("s = '''\nraw \\n 'q' ''x'''", "{\"s\": \"raw \\\\n 'q' ''x\"}");
    EXPECT("s = ''''''''", "{\"s\": \"''\"}");
}

static void test_toml_parses_integers(void **state)
{
    (void)state;
    EXPECT("a = 42\nb = +17\nc = -5\nd = 0\ne = -0\nf = +0\ng = 1_000_000",
           "{\"a\":42,\"b\":17,\"c\":-5,\"d\":0,\"e\":0,\"f\":0,\"g\":1000000}");
    EXPECT("h = 0xDEAD_beef\no = 0o755\nb = 0b1101_0110", "{\"h\":3735928559,\"o\":493,\"b\":214}");
    EXPECT("max = 9223372036854775807\nmin = -9223372036854775808\nhex = 0x7FFFFFFFFFFFFFFF",
           "{\"max\":9223372036854775807,\"min\":-9223372036854775808,"
           "\"hex\":9223372036854775807}");
}

static void test_toml_parses_floats(void **state)
{
    json_t *doc;
    (void)state;
    EXPECT("a = 1.0\nb = 3.1415\nc = -0.01\nd = 5e+22\ne = 1e06\nf = -2E-2\ng = 6.626e-34",
           "{\"a\":1.0,\"b\":3.1415,\"c\":-0.01,\"d\":5e22,\"e\":1e6,\"f\":-0.02,"
           "\"g\":6.626e-34}");
    EXPECT("a = 224_617.445_991_228\nb = 0e0\nc = 0.0",
           "{\"a\":224617.445991228,\"b\":0.0,\"c\":0.0}");
    /* Floats stay floats: 1.0 is not the integer 1. */
    doc = PARSE_OK("a = 1.0");
    assert_true(json_is_real(json_object_get(doc, "a")));
    json_decref(doc);
    doc = PARSE_OK("a = -0.0");
    assert_true(signbit(json_real_value(json_object_get(doc, "a"))));
    json_decref(doc);
}

static void test_toml_parses_booleans(void **state)
{
    (void)state;
    EXPECT("t = true\nf = false", "{\"t\":true,\"f\":false}");
}

static void test_toml_parses_datetimes(void **state)
{
    (void)state;
    /* Normalised: 'T' between date and time, 'Z' upper case; the fraction kept as written. */
    EXPECT("a = 1979-05-27T07:32:00Z\nb = 1979-05-27 07:32:00.999999-07:00\n"
           "c = 1979-05-27t07:32:00z\nd = 1979-05-27T00:32:00.5+05:30",
           "{\"a\":\"1979-05-27T07:32:00Z\",\"b\":\"1979-05-27T07:32:00.999999-07:00\","
           "\"c\":\"1979-05-27T07:32:00Z\",\"d\":\"1979-05-27T00:32:00.5+05:30\"}");
    EXPECT("a = 1979-05-27T07:32:00\nb = 1979-05-27\nc = 07:32:00\nd = 00:32:00.123",
           "{\"a\":\"1979-05-27T07:32:00\",\"b\":\"1979-05-27\",\"c\":\"07:32:00\","
           "\"d\":\"00:32:00.123\"}");
    EXPECT("leap = 2024-02-29", "{\"leap\":\"2024-02-29\"}");
    /* A date followed by a space and a comment is a date, not a date-time. */
    EXPECT("d = 1979-05-27 # birthday", "{\"d\":\"1979-05-27\"}");
}

static void test_toml_parses_arrays(void **state)
{
    (void)state;
    EXPECT("a = []\nb = [1, 2, 3,]\nc = [ [1], ['x', 2.5], [] ]\n"
           "d = [\n  1, # one\n  2\n  # done\n]\n",
           "{\"a\":[],\"b\":[1,2,3],\"c\":[[1],[\"x\",2.5],[]],\"d\":[1,2]}");
    EXPECT("m = [1, \"two\", {x = 3}, [true]]", "{\"m\":[1,\"two\",{\"x\":3},[true]]}");
}

static void test_toml_parses_inline_tables(void **state)
{
    (void)state;
    EXPECT("p = { x = 1, y.z = 2, y.w = 3 }\ne = {}\nn = { a = { b = {} } }",
           "{\"p\":{\"x\":1,\"y\":{\"z\":2,\"w\":3}},\"e\":{},\"n\":{\"a\":{\"b\":{}}}}");
}

static void test_toml_parses_keys(void **state)
{
    (void)state;
    EXPECT("bare_key-1 = 1\n\"quoted key\" = 2\n'lit\"key' = 3\n\"\" = 4\n1234 = 5",
           "{\"bare_key-1\":1,\"quoted key\":2,\"lit\\\"key\":3,\"\":4,\"1234\":5}");
    EXPECT("a . b . \"c.d\" = 1\nsite.\"google.com\" = true",
           "{\"a\":{\"b\":{\"c.d\":1}},\"site\":{\"google.com\":true}}");
    /* 3.14 as a key is two parts. */
    EXPECT("3.14 = 'pi'", "{\"3\":{\"14\":\"pi\"}}");
}

static void test_toml_parses_tables(void **state)
{
    (void)state;
    EXPECT("top = 0\n[a]\nx = 1\n[a.b]\ny = 2\n[ c . d ]\n[e]\n",
           "{\"top\":0,\"a\":{\"x\":1,\"b\":{\"y\":2}},\"c\":{\"d\":{}},\"e\":{}}");
    /* A table implied by [x.y.z] may be defined later, once. */
    EXPECT("[x.y.z]\nw = 1\n[x]\nv = 2", "{\"x\":{\"y\":{\"z\":{\"w\":1}},\"v\":2}}");
    /* A table made by dotted keys can still get sub-tables by header. */
    EXPECT("[fruit]\napple.color = 'red'\n[fruit.apple.texture]\nsmooth = true",
           "{\"fruit\":{\"apple\":{\"color\":\"red\",\"texture\":{\"smooth\":true}}}}");
}

static void test_toml_parses_arrays_of_tables(void **state)
{
    (void)state;
    EXPECT("[[p]]\nn = 1\n[[p]]\n[[p]]\nn = 3", "{\"p\":[{\"n\":1},{},{\"n\":3}]}");
    EXPECT("[[fruits]]\nname = 'apple'\n[fruits.physical]\ncolor = 'red'\n"
           "[[fruits.varieties]]\nname = 'red delicious'\n[[fruits.varieties]]\nname = 'granny'\n"
           "[[fruits]]\nname = 'banana'\n[[fruits.varieties]]\nname = 'plantain'\n",
           "{\"fruits\":[{\"name\":\"apple\",\"physical\":{\"color\":\"red\"},"
           "\"varieties\":[{\"name\":\"red delicious\"},{\"name\":\"granny\"}]},"
           "{\"name\":\"banana\",\"varieties\":[{\"name\":\"plantain\"}]}]}");
}

static void test_toml_parses_whitespace_comments_bom(void **state)
{
    (void)state;
    EXPECT("", "{}");
    EXPECT("\n\r\n  \t\n# only a comment", "{}");
    EXPECT("\xef\xbb\xbf"
           "a = 1",
           "{\"a\":1}");
    EXPECT("a = 1 # c\r\n\t b\t=\t2\t# d \xe2\x82\xac\r\n", "{\"a\":1,\"b\":2}");
}

static void test_toml_keeps_key_order(void **state)
{
    json_t *doc = PARSE_OK("z = 1\na = 2\nm = 3\n[k]\nb = 1\na = 2");
    const char *want[] = {"z", "a", "m", "k"};
    size_t i = 0;
    const char *key;
    json_t *v;
    (void)state;
    json_object_foreach(doc, key, v)
    {
        assert_string_equal(key, want[i]);
        i++;
    }
    assert_int_equal(i, 4);
    json_decref(doc);
}

static void test_toml_handles_many_keys(void **state)
{
    /* Enough keys to use the hash index, and a duplicate found through it. */
    char *text = malloc(20 * 1000 + 32);
    size_t len = 0;
    json_t *doc;
    struct ch_err err;
    (void)state;
    for (int i = 0; i < 1000; i++)
        len += (size_t)sprintf(text + len, "k%d = %d\n", i, i);
    doc = parse_ok(text, len);
    assert_int_equal(json_object_size(doc), 1000);
    assert_int_equal(json_integer_value(json_object_get(doc, "k777")), 777);
    json_decref(doc);
    len += (size_t)sprintf(text + len, "k500 = 1\n");
    err = parse_fail(text, len, CONFHUB_EINVAL);
    assert_non_null(strstr(err.msg, "t.toml:1001:1: duplicate key 'k500'"));
    free(text);
}

/* ------------------------------------------------------------------ errors ---- */

static void test_toml_rejects_duplicate_key(void **state)
{
    struct ch_err err;
    (void)state;
    err = PARSE_FAIL("a = 1\nb = 2\na = 3", CONFHUB_EINVAL);
    assert_string_equal(err.msg, "t.toml:3:1: duplicate key 'a'");
    assert_int_equal(err.line, 3);
    assert_int_equal(err.column, 1);
    err = PARSE_FAIL("a.b = 1\na.b = 2", CONFHUB_EINVAL);
    assert_string_equal(err.msg, "t.toml:2:3: duplicate key 'a.b'");
    err = PARSE_FAIL("a = 1\n'a' = 2", CONFHUB_EINVAL);
    assert_string_equal(err.msg, "t.toml:2:1: duplicate key 'a'");
    err = PARSE_FAIL("t = { x = 1, x = 2 }", CONFHUB_EINVAL);
    assert_string_equal(err.msg, "t.toml:1:14: duplicate key 'x'");
    /* A key, then a table of the same name. */
    err = PARSE_FAIL("a = 1\n[a]", CONFHUB_EINVAL);
    assert_non_null(strstr(err.msg, "t.toml:2:2: [a] cannot define key 'a'"));
}

static void test_toml_rejects_duplicate_table(void **state)
{
    struct ch_err err;
    (void)state;
    err = PARSE_FAIL("[a]\nx = 1\n[b]\n[a]", CONFHUB_EINVAL);
    assert_string_equal(err.msg, "t.toml:4:2: table [a] is defined twice");
    err = PARSE_FAIL("[a.b]\n[a]\n[a]", CONFHUB_EINVAL);
    assert_string_equal(err.msg, "t.toml:3:2: table [a] is defined twice");
    /* A table made with dotted keys cannot be defined again with a header. */
    err = PARSE_FAIL("a.b = 1\n[a]", CONFHUB_EINVAL);
    assert_string_equal(err.msg, "t.toml:2:2: table [a] is defined twice (first by dotted keys)");
    err = PARSE_FAIL("[fruit]\napple.color = 1\n[fruit.apple]", CONFHUB_EINVAL);
    assert_non_null(strstr(err.msg, "t.toml:3:8: table [fruit.apple] is defined twice"));
    /* Dotted keys cannot add to a table a header defined. */
    err = PARSE_FAIL("[a.b.c]\nz = 9\n[a]\nb.c.t = 1", CONFHUB_EINVAL);
    assert_string_equal(err.msg,
                        "t.toml:4:3: table 'b.c' is defined by a [header]; dotted keys cannot "
                        "add to it");
}

static void test_toml_rejects_inline_table_changes(void **state)
{
    struct ch_err err;
    (void)state;
    err = PARSE_FAIL("a = {x = 1}\n[a]", CONFHUB_EINVAL);
    assert_string_equal(err.msg,
                        "t.toml:2:2: table [a] is defined twice (first as an inline table)");
    err = PARSE_FAIL("a = {x = 1}\n[a.b]", CONFHUB_EINVAL);
    assert_non_null(strstr(err.msg, "t.toml:2:2: key 'a' is already an inline table"));
    err = PARSE_FAIL("a = {x = 1}\na.y = 2", CONFHUB_EINVAL);
    assert_non_null(strstr(err.msg, "t.toml:2:1: key 'a' is already an inline table"));
    err = PARSE_FAIL("a = {x = {y = 1}, x.z = 2}", CONFHUB_EINVAL);
    assert_non_null(strstr(err.msg, "t.toml:1:19: key 'x' is already an inline table"));
    /* An array written as a value cannot be extended with [[a]]. */
    err = PARSE_FAIL("a = []\n[[a]]", CONFHUB_EINVAL);
    assert_non_null(strstr(err.msg, "t.toml:2:3: [[a]] cannot extend key 'a'"));
    err = PARSE_FAIL("[[a]]\n[a]", CONFHUB_EINVAL);
    assert_non_null(strstr(err.msg, "t.toml:2:2: [a] cannot define key 'a'"));
    err = PARSE_FAIL("a = 1\na.b = 2", CONFHUB_EINVAL);
    assert_non_null(strstr(err.msg, "key 'a' is already a value of type integer"));
}

static void test_toml_rejects_integer_overflow(void **state)
{
    struct ch_err err;
    (void)state;
    err = PARSE_FAIL("a = 9223372036854775808", CONFHUB_EINVAL);
    assert_string_equal(err.msg, "t.toml:1:5: integer does not fit in 64 bits");
    err = PARSE_FAIL("a = -9223372036854775809", CONFHUB_EINVAL);
    assert_string_equal(err.msg, "t.toml:1:5: integer does not fit in 64 bits");
    err = PARSE_FAIL("a = 0x8000000000000000", CONFHUB_EINVAL);
    assert_string_equal(err.msg, "t.toml:1:5: integer does not fit in 64 bits");
    err = PARSE_FAIL("a = 1e400", CONFHUB_EINVAL);
    assert_string_equal(err.msg, "t.toml:1:5: float does not fit in 64 bits");
}

static void test_toml_rejects_bad_encoding(void **state)
{
    struct ch_err err;
    (void)state;
    err = PARSE_FAIL("a = 1\nb = \"\xff\"", CONFHUB_EINVAL);
    assert_string_equal(err.msg, "t.toml:2:6: invalid UTF-8 (byte 0xFF)");
    PARSE_FAIL("a = \"\xc0\xaf\"", CONFHUB_EINVAL);         /* overlong */
    PARSE_FAIL("a = \"\xed\xa0\x80\"", CONFHUB_EINVAL);     /* surrogate */
    PARSE_FAIL("a = \"\xf4\x90\x80\x80\"", CONFHUB_EINVAL); /* past U+10FFFF */
    PARSE_FAIL("a = \"\xe2\x82\"", CONFHUB_EINVAL);         /* truncated */
    err = PARSE_FAIL("a = 1\rb = 2", CONFHUB_EINVAL);
    assert_string_equal(err.msg, "t.toml:1:6: carriage return not followed by a newline");
    err = PARSE_FAIL("a = \"x\x01\"", CONFHUB_EINVAL);
    assert_non_null(strstr(err.msg, "t.toml:1:7: control character U+0001 is not allowed"));
    err = PARSE_FAIL("# comment \x7f", CONFHUB_EINVAL);
    assert_non_null(strstr(err.msg, "t.toml:1:11: control character U+007F"));
    err = PARSE_FAIL("a = 1\0", CONFHUB_EINVAL);
    assert_non_null(strstr(err.msg, "t.toml:1:6: control character U+0000"));
    /* A byte-order mark only at the very start. */
    PARSE_FAIL("a = 1\n\xef\xbb\xbf", CONFHUB_EINVAL);
}

/* Each row: input, expected "LINE:COL: message" after "t.toml:". */
static void test_toml_error_positions(void **state)
{
    static const struct {
        const char *toml;
        const char *msg;
    } cases[] = {
        {"a = ", "1:5: expected a value"},
        {"a", "1:2: expected '=' after a key"},
        {"= 1", "1:1: expected a key"},
        {"a = 1 b = 2", "1:7: expected the end of the line"},
        {"a = \"open", "1:5: string is not closed before the end of the line"},
        {"a = 'open\nb = 1", "1:5: string is not closed before the end of the line"},
        {"a = \"\"\"open", "1:5: multi-line string is not closed"},
        {"a = \"\\x41\"", "1:6: invalid escape sequence in a string"},
        {"a = \"\\u12\"", "1:6: \\u needs 4 hexadecimal digits"},
        {"a = \"\\uD800\"", "1:6: escape U+D800 is not a Unicode scalar value"},
        {"a = \"\"\"x\\ y\"\"\"", "1:9: invalid escape sequence in a string"},
        {"a = \"\"\"x\"\"\"\"\"\"", "1:14: too many quotes at the end of a string"},
        {"\"\"\"k\"\"\" = 1", "1:1: a key cannot be a multi-line string"},
        {"a = 012", "1:5: leading zeros are not allowed in a number"},
        {"a = 1__2", "1:6: '_' in a number must sit between two digits"},
        {"a = 1_", "1:6: '_' in a number must sit between two digits"},
        {"a = 1.", "1:7: expected digits after the decimal point"},
        {"a = 1e", "1:7: expected digits in the exponent"},
        {"a = +0x1", "1:5: hexadecimal, octal and binary integers cannot have a sign"},
        {"a = 0x", "1:7: expected digits after the prefix"},
        {"a = 0b102", "1:9: unexpected character in a number"},
        {"a = 1.2.3", "1:8: unexpected character in a number"},
        {"a = tru", "1:5: expected a value"},
        {"a = truex", "1:5: expected a value"},
        {"a = 1979-13-01", "1:5: date 1979-13-01 does not exist"},
        {"a = 2023-02-29", "1:5: date 2023-02-29 does not exist"},
        {"a = 1979-05-2", "1:5: expected a date as YYYY-MM-DD"},
        {"a = 24:00:00", "1:5: time 24:00:00 is out of range"},
        {"a = 07:32", "1:5: expected a time as HH:MM:SS (TOML 1.0 requires the seconds)"},
        {"a = 07:32:00.", "1:14: expected digits after the '.' in a time"},
        {"a = 1979-05-27T07:32:00+25:00", "1:24: time offset is out of range"},
        {"a = 1979-05-27T07:32:00+0100", "1:24: expected a time offset as +HH:MM or -HH:MM"},
        {"a = 1979-05-27T07:32:00Zx", "1:25: unexpected character after a date or time"},
        {"a = [1 2]", "1:8: expected ',' or ']' after an array value"},
        {"a = [1,,2]", "1:8: expected a value"},
        {"a = [1,\n2", "1:5: array is not closed"},
        {"a = {x = 1,}", "1:12: a comma cannot follow the last key in an inline table"},
        {"a = {x = 1\n}", "1:11: expected ',' or '}' in an inline table"},
        {"[a", "1:3: expected ']' to close the table header"},
        {"[[a]", "1:5: expected ']]' to close the table header"},
        {"[[a] ]", "1:5: expected ']]' to close the table header"},
        {"[]", "1:2: expected a key"},
        {"[a] x = 1", "1:5: expected the end of the line"},
        {"a.b = 1\n  a.b.c = 2", "2:5: key 'a.b' is already a value of type integer"},
        /* Columns count characters, not bytes. */
        {"x = 1\n\n  y = \"\xc3\xa9\xc3\xa9\" z", "3:12: expected the end of the line"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ch_err err;
        json_t *doc = NULL;
        char want[300];
        int line, col;

        ch_err_clear(&err);
        snprintf(want, sizeof(want), "t.toml:%s", cases[i].msg);
        if (ch_toml_parse("t.toml", cases[i].toml, strlen(cases[i].toml), NULL, &doc, &err) ==
            CONFHUB_OK)
            fail_msg("accepted: %s", cases[i].toml);
        if (strncmp(err.msg, want, strlen(want)) != 0)
            fail_msg("input %s\n  have: %s\n  want: %s", cases[i].toml, err.msg, want);
        assert_int_equal(sscanf(cases[i].msg, "%d:%d", &line, &col), 2);
        assert_int_equal(err.line, line);
        assert_int_equal(err.column, col);
    }
}

/* Found by fuzz_toml_import: TOML allows "\u0000" in a key, which no confhub name can hold,
 * and a JSON reader refuses; the TOML reader must refuse it too, not pass it on. */
static void test_toml_refuses_nul_in_key(void **state)
{
    struct ch_err err;
    (void)state;
    err = PARSE_FAIL("ok = 1\n\"a\\u0000b\" = 1", CONFHUB_EINVAL);
    assert_non_null(strstr(err.msg, "t.toml:2:"));
    assert_non_null(strstr(err.msg, "contains a NUL character"));
}

static void test_toml_refuses_nan_and_inf(void **state)
{
    struct ch_err err;
    (void)state;
    err = PARSE_FAIL("x = 1\n[a]\nb = nan", CONFHUB_EINVAL);
    assert_string_equal(err.msg, "t.toml:3:5: key 'a.b' is nan, which JSON cannot hold");
    assert_int_equal(err.line, 3);
    assert_int_equal(err.column, 5);
    err = PARSE_FAIL("a.b = [1.0, -inf]", CONFHUB_EINVAL);
    assert_string_equal(err.msg, "t.toml:1:13: key 'a.b[1]' is -inf, which JSON cannot hold");
    err = PARSE_FAIL("[[t]]\n[[t]]\n\"k y\" = { z = +inf }", CONFHUB_EINVAL);
    assert_string_equal(err.msg,
                        "t.toml:3:15: key 't[1].\"k y\".z' is inf, which JSON cannot hold");
}

static void test_toml_depth_limit(void **state)
{
    struct ch_format_opts opts = {.max_depth = 3};
    struct ch_err err;
    json_t *doc = NULL;
    char deep[20000];
    (void)state;

    /* Depth counts as ch_json_depth does: {"a": [[1]]} is 3. */
    ch_err_clear(&err);
    assert_int_equal(ch_toml_parse("t", "a = [[1]]", 9, &opts, &doc, &err), CONFHUB_OK);
    json_decref(doc);
    doc = NULL;
    assert_int_equal(ch_toml_parse("t", "a = [[[1]]]", 11, &opts, &doc, &err), CONFHUB_ETOOBIG);
    assert_string_equal(err.msg,
                        "t:1:7: TOML nesting is deeper than the limit of 3 (max-json-depth)");
    assert_int_equal(ch_toml_parse("t", "a = {b = {c = {}}}", 18, &opts, &doc, &err),
                     CONFHUB_ETOOBIG);
    assert_int_equal(ch_toml_parse("t", "a.b.c = {}", 10, &opts, &doc, &err), CONFHUB_ETOOBIG);
    assert_int_equal(ch_toml_parse("t", "a.b.c = 1", 9, &opts, &doc, &err), CONFHUB_OK);
    json_decref(doc);
    doc = NULL;
    assert_int_equal(ch_toml_parse("t", "[a.b.c]", 7, &opts, &doc, &err), CONFHUB_ETOOBIG);
    assert_int_equal(ch_toml_parse("t", "[a.b]", 5, &opts, &doc, &err), CONFHUB_OK);
    json_decref(doc);
    doc = NULL;
    /* [[a]] is two levels: the array and its table. */
    assert_int_equal(ch_toml_parse("t", "[[a]]\n[[a.b]]", 13, &opts, &doc, &err), CONFHUB_ETOOBIG);
    assert_null(doc);

    /* Stack safety: 10,000 open brackets stop at the default limit of 64. */
    memcpy(deep, "a = ", 4);
    memset(deep + 4, '[', sizeof(deep) - 4);
    assert_int_equal(ch_toml_parse("t", deep, sizeof(deep), NULL, &doc, &err), CONFHUB_ETOOBIG);
    assert_non_null(strstr(err.msg, "limit of 64 (max-json-depth)"));
    memcpy(deep, "a = ", 4);
    for (size_t i = 4; i + 4 <= sizeof(deep); i += 4)
        memcpy(deep + i, "{a= ", 4);
    assert_int_equal(ch_toml_parse("t", deep, sizeof(deep), NULL, &doc, &err), CONFHUB_ETOOBIG);
}

/* ------------------------------------------------------------------ writing ---- */

static char *dump_ok(const char *json)
{
    json_error_t jerr;
    json_t *doc = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    struct ch_err err;
    char *text = NULL;
    size_t len = 0;

    if (!doc)
        fail_msg("bad JSON in the test: %s", jerr.text);
    ch_err_clear(&err);
    if (ch_toml_dump(doc, NULL, &text, &len, &err) != CONFHUB_OK)
        fail_msg("dump failed: %s", err.msg);
    assert_int_equal(strlen(text), len);
    json_decref(doc);
    return text;
}

static void test_toml_dump_layout(void **state)
{
    char *text;
    (void)state;
    text = dump_ok("{\"title\": \"x\", \"owner\": {\"name\": \"Tom\", \"dob\": \"1979-05-27\"},"
                   " \"n\": 1, \"f\": 2.0, \"ok\": true, \"list\": [1, \"a\", [2.5]],"
                   " \"deep\": {\"er\": {\"k\": 1}}, \"empty\": {},"
                   " \"srv\": [{\"h\": \"a\"}, {\"h\": \"b\", \"t\": {\"x\": {}}}],"
                   " \"key with space\": {\"a.b\": 1}, \"none\": []}");
    assert_string_equal(text, "title = \"x\"\n"
                              "n = 1\n"
                              "f = 2.0\n"
                              "ok = true\n"
                              "list = [1, \"a\", [2.5]]\n"
                              "none = []\n"
                              "\n[owner]\n"
                              "name = \"Tom\"\n"
                              "dob = \"1979-05-27\"\n"
                              "\n[deep.er]\n"
                              "k = 1\n"
                              "\n[empty]\n"
                              "\n[[srv]]\n"
                              "h = \"a\"\n"
                              "\n[[srv]]\n"
                              "h = \"b\"\n"
                              "\n[srv.t.x]\n"
                              "\n[\"key with space\"]\n"
                              "\"a.b\" = 1\n");
    ch_free(text);
    text = dump_ok("{}");
    assert_string_equal(text, "");
    ch_free(text);
    text = dump_ok("{\"s\": \"q\\\" b\\\\ \\n\\t\\u0001\\u007f\\u00e9\", \"\": 1}");
    assert_string_equal(text, "s = \"q\\\" b\\\\ \\n\\t\\u0001\\u007F\xc3\xa9\"\n\"\" = 1\n");
    ch_free(text);
}

static void test_toml_dump_floats(void **state)
{
    static const struct {
        const char *json;
        const char *toml;
    } cases[] = {
        {"{\"f\": 1.0}", "f = 1.0\n"},
        {"{\"f\": -0.0}", "f = -0.0\n"},
        {"{\"f\": 0.1}", "f = 0.1\n"},
        {"{\"f\": 1e300}", "f = 1e+300\n"},
        {"{\"f\": 123456789012345678.0}", "f = 1.2345678901234568e+17\n"},
        {"{\"f\": 5e-324}", "f = 4.94065645841247e-324\n"}, /* shortest that reads back */
        {"{\"f\": 0.30000000000000004}", "f = 0.30000000000000004\n"},
        {"{\"f\": 100.0}", "f = 100.0\n"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text = dump_ok(cases[i].json);
        assert_string_equal(text, cases[i].toml);
        ch_free(text);
    }
}

static void test_toml_dump_round_trips(void **state)
{
    static const char *const docs[] = {
        "{}",
        "{\"a\": {}}",
        "{\"a\": {\"b\": {}}, \"c\": [{}], \"d\": [{}, {\"e\": {}}]}",
        "{\"s\": \"1979-05-27T07:32:00Z\", \"t\": \"07:32:00\", \"u\": \"true\", \"v\": \"1.0\"}",
        "{\"i\": 9223372036854775807, \"j\": -9223372036854775808, \"k\": 0}",
        "{\"f\": [0.1, 1e-7, 1e22, -2.5, 1.7976931348623157e308, 2.2250738585072014e-308]}",
        "{\"mixed\": [1, \"a\", true, 1.5, [], {}, [{\"x\": 1}], {\"y\": [1, 2]}]}",
        "{\"aot\": [{\"a\": 1, \"sub\": {\"b\": 2}, \"inner\": [{\"c\": 3}, {\"c\": 4}]}, {\"a\": "
        "5}]}",
        "{\"keys\": {\"\": 1, \"a b\": 2, \"a.b\": 3, \"\\\"q\\\"\": 4, \"\\u00e9\": 5, \"-_\": "
        "6}}",
        "{\"str\": \"\\u0000 \\u001f \\\\ \\\" \\n \\r\\n \\t \\u2028 \\ud83d\\ude00 '''\"}",
        "{\"deep\": {\"a\": {\"b\": {\"c\": {\"d\": [[[{\"e\": {\"f\": 1}}]]]}}}}}",
        "{\"after\": {\"x\": 1}, \"before\": 2, \"t\": {\"k\": 1, \"sub\": {\"l\": 2}, \"m\": 3}}",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        char *text = dump_ok(docs[i]);
        json_t *back = parse_ok(text, strlen(text));
        json_t *want = json_loads(docs[i], JSON_ALLOW_NUL, NULL);
        assert_non_null(want);
        if (!json_equal(back, want))
            fail_msg("round trip changed %s\n--- TOML:\n%s", docs[i], text);
        json_decref(back);
        json_decref(want);
        ch_free(text);
    }
}

static void test_toml_dump_refuses_null(void **state)
{
    json_t *doc = json_loads("{\"a\": {\"b\": null}}", 0, NULL);
    struct ch_err err;
    char *text = NULL;
    size_t len = 0;
    (void)state;

    ch_err_clear(&err);
    assert_int_equal(ch_toml_dump(doc, NULL, &text, &len, &err), CONFHUB_EINVAL);
    assert_string_equal(err.msg, "key 'a.b' is null, which TOML cannot hold");
    assert_null(text);
    json_decref(doc);
    doc = json_loads("{\"x y\": [1, [null]]}", 0, NULL);
    assert_int_equal(ch_toml_dump(doc, NULL, &text, &len, &err), CONFHUB_EINVAL);
    assert_string_equal(err.msg, "key '\"x y\"[1][0]' is null, which TOML cannot hold");
    json_decref(doc);
}

static void test_toml_dump_refuses_non_tables(void **state)
{
    struct ch_err err;
    char *text = NULL;
    size_t len = 0;
    json_t *doc = json_loads("[1]", 0, NULL);
    (void)state;

    ch_err_clear(&err);
    assert_int_equal(ch_toml_dump(doc, NULL, &text, &len, &err), CONFHUB_EINVAL);
    assert_string_equal(err.msg, "TOML documents are tables; the top level here is a list");
    json_decref(doc);
    doc = json_string("x");
    assert_int_equal(ch_toml_dump(doc, NULL, &text, &len, &err), CONFHUB_EINVAL);
    assert_string_equal(err.msg, "TOML documents are tables; the top level here is a string");
    json_decref(doc);
}

static void test_toml_dump_depth_limit(void **state)
{
    struct ch_format_opts opts = {.max_depth = 2};
    json_t *doc = json_loads("{\"a\": {\"b\": {}}}", 0, NULL);
    struct ch_err err;
    char *text = NULL;
    size_t len = 0;
    (void)state;

    ch_err_clear(&err);
    assert_int_equal(ch_toml_dump(doc, &opts, &text, &len, &err), CONFHUB_ETOOBIG);
    assert_non_null(strstr(err.msg, "key 'a.b': nesting is deeper than the limit of 2"));
    assert_non_null(strstr(err.msg, "max-json-depth"));
    opts.max_depth = 3;
    assert_int_equal(ch_toml_dump(doc, &opts, &text, &len, &err), CONFHUB_OK);
    assert_string_equal(text, "[a.b]\n");
    ch_free(text);
    json_decref(doc);
}

static void test_toml_format_dispatch(void **state)
{
    struct ch_err err;
    json_t *doc = NULL;
    char *text = NULL;
    size_t len = 0;
    (void)state;

    ch_err_clear(&err);
    assert_int_equal(ch_format_parse(CH_FORMAT_TOML, "f.toml", "[s]\nk = 1", 9, NULL, &doc, &err),
                     CONFHUB_OK);
    assert_int_equal(ch_format_dump(CH_FORMAT_TOML, doc, NULL, &text, &len, &err), CONFHUB_OK);
    assert_string_equal(text, "[s]\nk = 1\n");
    ch_free(text);
    json_decref(doc);
    assert_int_equal(ch_format_parse(CH_FORMAT_TOML, "f.toml", "k =", 3, NULL, &doc, &err),
                     CONFHUB_EINVAL);
    assert_string_equal(err.msg, "f.toml:1:4: expected a value (a string, number, true, false, "
                                 "date, array or inline table)");
}

/* ------------------------------------------------------------------ debug commands ---- */

/* Runs a debug command over in; OUT: stdout and stderr text (free()). Returns its exit code. */
static int run_debug(int (*fn)(FILE *, FILE *, FILE *), const char *in, char **out, char **errs)
{
    FILE *fin = fmemopen((void *)in, strlen(in), "r");
    size_t out_len = 0, err_len = 0;
    FILE *fout = open_memstream(out, &out_len);
    FILE *ferr = open_memstream(errs, &err_len);
    int code;

    assert_non_null(fin);
    assert_non_null(fout);
    assert_non_null(ferr);
    code = fn(fin, fout, ferr);
    fclose(fin);
    fclose(fout);
    fclose(ferr);
    return code;
}

static void test_toml_debug_decode_tags_types(void **state)
{
    char *out = NULL, *errs = NULL;
    json_t *have;
    (void)state;

    assert_int_equal(run_debug(ch_toml_debug_decode,
                               "s = 'x'\ni = 1\nf = 1.0\nn = -nan\nb = true\n"
                               "odt = 1979-05-27 07:32:00z\nldt = 1979-05-27T07:32:00\n"
                               "ld = 1979-05-27\nlt = 07:32:00\na = [{x = 1}]\n",
                               &out, &errs),
                     0);
    assert_string_equal(errs, "");
    have = json_loads(out, 0, NULL);
    assert_json(have, "{\"s\":{\"type\":\"string\",\"value\":\"x\"},"
                      "\"i\":{\"type\":\"integer\",\"value\":\"1\"},"
                      "\"f\":{\"type\":\"float\",\"value\":\"1.0\"},"
                      "\"n\":{\"type\":\"float\",\"value\":\"-nan\"},"
                      "\"b\":{\"type\":\"bool\",\"value\":\"true\"},"
                      "\"odt\":{\"type\":\"datetime\",\"value\":\"1979-05-27T07:32:00Z\"},"
                      "\"ldt\":{\"type\":\"datetime-local\",\"value\":\"1979-05-27T07:32:00\"},"
                      "\"ld\":{\"type\":\"date-local\",\"value\":\"1979-05-27\"},"
                      "\"lt\":{\"type\":\"time-local\",\"value\":\"07:32:00\"},"
                      "\"a\":[{\"x\":{\"type\":\"integer\",\"value\":\"1\"}}]}");
    free(out);
    free(errs);

    /* Invalid TOML: exit 1, one line on stderr, nothing on stdout. */
    assert_int_equal(run_debug(ch_toml_debug_decode, "a = 1\na = 2\n", &out, &errs), 1);
    assert_string_equal(out, "");
    assert_string_equal(errs, "confhub debug toml-decode: -:2:1: duplicate key 'a'\n");
    free(out);
    free(errs);
}

static void test_toml_debug_encode_keeps_types(void **state)
{
    char *out = NULL, *errs = NULL;
    (void)state;

    assert_int_equal(run_debug(ch_toml_debug_encode,
                               "{\"d\":{\"type\":\"datetime\",\"value\":\"1979-05-27 07:32:00z\"},"
                               "\"f\":{\"type\":\"float\",\"value\":\"0\"},"
                               "\"i\":{\"type\":\"float\",\"value\":\"-inf\"},"
                               "\"lt\":{\"type\":\"time-local\",\"value\":\"07:32:00.5\"},"
                               "\"\\u0000\":{\"type\":\"string\",\"value\":\"a\\u0000\"},"
                               "\"t\":{\"x\":[{\"type\":\"integer\",\"value\":\"-7\"}]}}",
                               &out, &errs),
                     0);
    assert_string_equal(errs, "");
    assert_string_equal(out, "d = 1979-05-27T07:32:00Z\n"
                             "f = 0.0\n"
                             "i = -inf\n"
                             "lt = 07:32:00.5\n"
                             "\"\\u0000\" = \"a\\u0000\"\n"
                             "\n[t]\n"
                             "x = [-7]\n");
    free(out);
    free(errs);

    assert_int_equal(run_debug(ch_toml_debug_encode,
                               "{\"d\":{\"type\":\"date-local\",\"value\":\"1979-02-30\"}}", &out,
                               &errs),
                     1);
    assert_string_equal(out, "");
    assert_non_null(strstr(errs, "\"1979-02-30\" is not a TOML date-local"));
    free(out);
    free(errs);
    assert_int_equal(run_debug(ch_toml_debug_encode, "[]", &out, &errs), 1);
    free(out);
    free(errs);
}

/* ------------------------------------------------------------------ allocation torture ---- */

static const char torture_doc[] =
    "\xef\xbb\xbf# a document touching every allocation site\n"
    "title = \"T\\u00e9st \\U0001F600\"\n"
    "lit = '''\nmulti\nline'''\n"
    "n = 0x7f\nf = -1.5e3\nd = 1979-05-27T07:32:00Z\nlt = 07:32:00\n"
    "arr = [1, [2, 3], {x = 1, y.z = 2}]\n"
    "k1 = 1\nk2 = 2\nk3 = 3\nk4 = 4\nk5 = 5\nk6 = 6\nk7 = 7\nk8 = 8\nk9 = 9\n"
    "[a.b]\nc.d = true\n"
    "[[aot]]\nname = 'one'\n[aot.sub]\n[[aot]]\n'quoted key' = \"\"\"x\\\n  y\"\"\"\n";

static void test_toml_parse_alloc_torture(void **state)
{
    (void)state;
    for (long n = 0;; n++) {
        struct ch_err err;
        json_t *doc = NULL;
        enum confhub_status rc;

        ch_err_clear(&err);
        ch_alloc_fail_after(n);
        rc = ch_toml_parse("t", torture_doc, sizeof(torture_doc) - 1, NULL, &doc, &err);
        ch_alloc_fail_after(-1);
        if (rc == CONFHUB_OK) {
            assert_int_equal(json_object_size(doc), 18);
            json_decref(doc);
            assert_true(n > 10);
            return;
        }
        assert_int_equal(rc, CONFHUB_ENOMEM);
        assert_null(doc);
        assert_non_null(strstr(err.msg, "out of memory"));
    }
}

static void test_toml_dump_alloc_torture(void **state)
{
    json_t *doc = parse_ok(torture_doc, sizeof(torture_doc) - 1);
    (void)state;
    for (long n = 0;; n++) {
        struct ch_err err;
        char *text = NULL;
        size_t len = 0;
        enum confhub_status rc;

        ch_err_clear(&err);
        ch_alloc_fail_after(n);
        rc = ch_toml_dump(doc, NULL, &text, &len, &err);
        ch_alloc_fail_after(-1);
        if (rc == CONFHUB_OK) {
            json_t *back = parse_ok(text, len);
            assert_true(json_equal(back, doc));
            json_decref(back);
            ch_free(text);
            break;
        }
        assert_int_equal(rc, CONFHUB_ENOMEM);
        assert_null(text);
    }
    json_decref(doc);
}

static void test_toml_debug_alloc_torture(void **state)
{
    char *out = NULL, *errs = NULL;
    (void)state;
    for (long n = 0;; n++) {
        int code;
        ch_alloc_fail_after(n);
        code = run_debug(ch_toml_debug_decode, torture_doc, &out, &errs);
        ch_alloc_fail_after(-1);
        if (code == 0) {
            free(out);
            free(errs);
            break;
        }
        assert_int_equal(code, 1);
        assert_string_equal(out, "");
        assert_non_null(strstr(errs, "out of memory"));
        free(out);
        free(errs);
    }
    for (long n = 0;; n++) {
        int code;
        ch_alloc_fail_after(n);
        code = run_debug(ch_toml_debug_encode,
                         "{\"a\":{\"type\":\"string\",\"value\":\"x\\u0000\"},"
                         "\"\\u0000\":[{\"d\":{\"type\":\"date-local\",\"value\":\"2000-01-01\"}}],"
                         "\"f\":{\"type\":\"float\",\"value\":\"nan\"}}",
                         &out, &errs);
        ch_alloc_fail_after(-1);
        if (code == 0) {
            assert_string_equal(out,
                                "a = \"x\\u0000\"\nf = nan\n\n[[\"\\u0000\"]]\nd = 2000-01-01\n");
            free(out);
            free(errs);
            break;
        }
        assert_int_equal(code, 1);
        free(out);
        free(errs);
    }
}

int main(void)
{
#define T(f) cmocka_unit_test(f)
    const struct CMUnitTest tests[] = {
        T(test_toml_parses_basic_strings),
        T(test_toml_parses_literal_strings),
        T(test_toml_parses_multiline_strings),
        T(test_toml_parses_integers),
        T(test_toml_parses_floats),
        T(test_toml_parses_booleans),
        T(test_toml_parses_datetimes),
        T(test_toml_parses_arrays),
        T(test_toml_parses_inline_tables),
        T(test_toml_parses_keys),
        T(test_toml_parses_tables),
        T(test_toml_parses_arrays_of_tables),
        T(test_toml_parses_whitespace_comments_bom),
        T(test_toml_keeps_key_order),
        T(test_toml_handles_many_keys),
        T(test_toml_rejects_duplicate_key),
        T(test_toml_rejects_duplicate_table),
        T(test_toml_rejects_inline_table_changes),
        T(test_toml_rejects_integer_overflow),
        T(test_toml_rejects_bad_encoding),
        T(test_toml_error_positions),
        T(test_toml_refuses_nul_in_key),
        T(test_toml_refuses_nan_and_inf),
        T(test_toml_depth_limit),
        T(test_toml_dump_layout),
        T(test_toml_dump_floats),
        T(test_toml_dump_round_trips),
        T(test_toml_dump_refuses_null),
        T(test_toml_dump_refuses_non_tables),
        T(test_toml_dump_depth_limit),
        T(test_toml_format_dispatch),
        T(test_toml_debug_decode_tags_types),
        T(test_toml_debug_encode_keeps_types),
        T(test_toml_parse_alloc_torture),
        T(test_toml_dump_alloc_torture),
        T(test_toml_debug_alloc_torture),
    };
#undef T
    ch_alloc_install_jansson();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
