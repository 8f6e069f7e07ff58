/* SPDX-License-Identifier: MIT */
/* test_yaml.c: the YAML format (formats/yaml.c): core schema, refusals, aliases, dump. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "formats/yaml.h"

/* Parses text with opts (NULL: defaults); fails the test unless it succeeds. */
static json_t *load_opts(const char *text, const struct ch_format_opts *opts)
{
    struct ch_err err = {0};
    json_t *v = NULL;
    enum confhub_status rc = ch_yaml_parse("t.yaml", text, strlen(text), opts, &v, &err);
    if (rc != CONFHUB_OK)
        fail_msg("parse of <<%s>> failed: %s", text, err.msg);
    assert_non_null(v);
    return v;
}

static json_t *load(const char *text)
{
    return load_opts(text, NULL);
}

/* Parses text, expecting status rc and a message containing want. OUT: *err. */
static void refuse_opts(const char *text, const struct ch_format_opts *opts, enum confhub_status rc,
                        const char *want, struct ch_err *err)
{
    json_t *v = NULL;
    enum confhub_status got;

    memset(err, 0, sizeof(*err));
    got = ch_yaml_parse("t.yaml", text, strlen(text), opts, &v, err);
    if (got != rc || !strstr(err->msg, want))
        fail_msg("<<%s>>: got status %d \"%s\", want %d with \"%s\"", text, got, err->msg, rc,
                 want);
    assert_null(v);
    assert_int_equal(err->code, rc);
}

static void refuse(const char *text, enum confhub_status rc, const char *want)
{
    struct ch_err err;
    refuse_opts(text, NULL, rc, want, &err);
}

/* Checks that text loads to the same value as the JSON text json. */
static void check_load(const char *text, const char *json)
{
    json_error_t jerr;
    json_t *want = json_loads(json, JSON_DECODE_ANY, &jerr);
    json_t *have = load(text);
    if (!want)
        fail_msg("bad JSON in test: %s", json);
    if (!json_equal(want, have)) {
        char *h = json_dumps(have, JSON_ENCODE_ANY);
        fail_msg("<<%s>> loaded as %s, want %s", text, h, json);
    }
    json_decref(want);
    json_decref(have);
}

/* ---------------------------------------------------------------- core schema */

static void test_yaml_core_schema_table(void **state)
{
    static const struct {
        const char *yaml, *json;
    } rows[] = {
        {"v:", "null"},
        {"v: ~", "null"},
        {"v: null", "null"},
        {"v: Null", "null"},
        {"v: NULL", "null"},
        {"v: nULL", "\"nULL\""},
        {"v: true", "true"},
        {"v: True", "true"},
        {"v: TRUE", "true"},
        {"v: false", "false"},
        {"v: False", "false"},
        {"v: FALSE", "false"},
        {"v: yes", "\"yes\""},
        {"v: on", "\"on\""},
        {"v: 0", "0"},
        {"v: -17", "-17"},
        {"v: +17", "17"},
        {"v: 012", "12"},
        {"v: 0o17", "15"},
        {"v: 0x1F", "31"},
        {"v: 0xff", "255"},
        {"v: 0b101", "\"0b101\""},
        {"v: 1_000", "\"1_000\""},
        {"v: 9223372036854775807", "9223372036854775807"},
        {"v: -9223372036854775808", "-9223372036854775808"},
        {"v: 0x7FFFFFFFFFFFFFFF", "9223372036854775807"},
        {"v: 1.5", "1.5"},
        {"v: -1.5e3", "-1500.0"},
        {"v: 1e3", "1000.0"},
        {"v: .5", "0.5"},
        {"v: 1.", "1.0"},
        {"v: 1.0", "1.0"},
        {"v: 1e-400", "0.0"},
        {"v: 1.2.3", "\"1.2.3\""},
        {"v: 12:30", "\"12:30\""},
        {"v: 2001-12-14", "\"2001-12-14\""},
        {"v: .", "\".\""},
        {"v: hello world", "\"hello world\""},
        {"v: 'true'", "\"true\""},
        {"v: \"123\"", "\"123\""},
        {"v: ''", "\"\""},
        {"v: \"~\"", "\"~\""},
        {"v: |\n  true\n", "\"true\\n\""},
        {"v: >-\n  12\n", "\"12\""},
        {"v: !!str 12", "\"12\""},
        {"v: !!str true", "\"true\""},
        {"v: ! 12", "\"12\""},
        {"v: !!int \"12\"", "12"},
        {"v: !!float 1", "1.0"},
        {"v: !!float '2.5'", "2.5"},
        {"v: !!bool \"true\"", "true"},
        {"v: !!null ''", "null"},
        {"v: !!map {a: 1}", "{\"a\": 1}"},
        {"v: !!seq [1]", "[1]"},
        {"v: \"\\u00e9\\t\\x41\"", "\"\\u00e9\\tA\""},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char want[256];
        snprintf(want, sizeof(want), "{\"v\": %s}", rows[i].json);
        check_load(rows[i].yaml, want);
    }
}

static void test_yaml_quoted_true_stays_string(void **state)
{
    json_t *v;
    (void)state;
    v = load("a: \"true\"\nb: 'false'\nc: \"null\"\nd: \"1\"\n");
    assert_true(json_is_string(json_object_get(v, "a")));
    assert_string_equal(json_string_value(json_object_get(v, "a")), "true");
    assert_true(json_is_string(json_object_get(v, "b")));
    assert_true(json_is_string(json_object_get(v, "c")));
    assert_true(json_is_string(json_object_get(v, "d")));
    json_decref(v);
}

static void test_yaml_integers_are_64_bit(void **state)
{
    json_t *v;
    (void)state;
    v = load("big: 9007199254740993\n");
    assert_true(json_is_integer(json_object_get(v, "big")));
    assert_true(json_integer_value(json_object_get(v, "big")) == 9007199254740993LL);
    json_decref(v);
}

static void test_yaml_refuses_numbers_that_do_not_fit(void **state)
{
    struct ch_err err;
    (void)state;
    refuse_opts("a:\n  b: 9223372036854775808\n", NULL, CONFHUB_EINVAL,
                "t.yaml:2:6: number 9223372036854775808 at key 'a.b' does not fit a 64-bit "
                "integer",
                &err);
    assert_int_equal(err.line, 2);
    assert_int_equal(err.column, 6);
    refuse("a: -9223372036854775809", CONFHUB_EINVAL, "does not fit a 64-bit integer");
    refuse("a: 0x8000000000000000", CONFHUB_EINVAL, "does not fit a 64-bit integer");
    refuse("a: !!int 99999999999999999999", CONFHUB_EINVAL, "does not fit a 64-bit integer");
    refuse("a: 1e400", CONFHUB_EINVAL, "number 1e400 at key 'a' does not fit a double");
    refuse("a: .inf", CONFHUB_EINVAL, ".inf at key 'a' cannot be stored");
    refuse("a: -.Inf", CONFHUB_EINVAL, "no infinity or NaN");
    refuse("a: [.NaN]", CONFHUB_EINVAL, "at key 'a[0]' cannot be stored");
    refuse("[1, .nan]", CONFHUB_EINVAL, ".nan at '[1]' cannot be stored");
    refuse("a: !!int x", CONFHUB_EINVAL, "'x' at key 'a' is not a valid int");
    refuse("a: !!bool yes", CONFHUB_EINVAL, "is not a valid bool");
}

static void test_yaml_refuses_non_string_keys(void **state)
{
    (void)state;
    refuse("1: x", CONFHUB_EINVAL, "t.yaml:1:1: a key must be a string, not the integer 1");
    refuse("a:\n  true: x", CONFHUB_EINVAL, "not the boolean true (quote it: \"true\") in 'a'");
    refuse("1.5: x", CONFHUB_EINVAL, "not the float 1.5");
    refuse("~: x", CONFHUB_EINVAL, "not the null ~");
    refuse(": x", CONFHUB_EINVAL, "not null (an empty key)");
    refuse("? [a]\n: x", CONFHUB_EINVAL, "t.yaml:1:3: a key must be a string, not a sequence");
    refuse("? {a: 1}\n: x", CONFHUB_EINVAL, "not a mapping");
    refuse("a: &s [1]\n*s : x", CONFHUB_EINVAL, "not an alias of a non-string node");
    refuse("\"a\\0b\": x", CONFHUB_EINVAL, "a key contains a NUL byte");
    /* Quoted or tagged, the same keys are strings. */
    check_load("\"1\": x\n!!str true: y\n'': z", "{\"1\": \"x\", \"true\": \"y\", \"\": \"z\"}");
}

static void test_yaml_refuses_duplicate_keys(void **state)
{
    struct ch_err err;
    (void)state;
    refuse_opts("a: 1\nb:\n  c: 1\n  c: 2\n", NULL, CONFHUB_EINVAL,
                "t.yaml:4:3: duplicate key 'c' in 'b'", &err);
    assert_int_equal(err.line, 4);
    assert_int_equal(err.column, 3);
    /* libfyaml marks a quoted scalar at its first character, after the quote. */
    refuse("{a: 1, \"a\": 2}", CONFHUB_EINVAL, "t.yaml:1:9: duplicate key 'a'");
    refuse("x: &k a\n*k : 1\na: 2", CONFHUB_EINVAL, "t.yaml:3:1: duplicate key 'a'");
}

static void test_yaml_refuses_unknown_tags(void **state)
{
    (void)state;
    refuse("a: !foo x", CONFHUB_EINVAL, "unsupported tag '!foo' at key 'a'");
    refuse("a: !!binary aGk=", CONFHUB_EINVAL, "unsupported tag 'tag:yaml.org,2002:binary'");
    refuse("!!set {a: null}", CONFHUB_EINVAL, "unsupported tag 'tag:yaml.org,2002:set'");
    refuse("a: !!map [1]", CONFHUB_EINVAL, "unsupported tag 'tag:yaml.org,2002:map'");
}

/* ---------------------------------------------------------------- aliases */

static void test_yaml_resolves_anchors_and_aliases(void **state)
{
    json_t *v;
    (void)state;
    check_load("base: &b {x: 1, y: [a, b]}\ncopy: *b\ns: &s str\nt: *s\n*s : key-from-alias\n",
               "{\"base\": {\"x\": 1, \"y\": [\"a\", \"b\"]}, \"copy\": {\"x\": 1, \"y\": [\"a\", "
               "\"b\"]}, \"s\": \"str\", \"t\": \"str\", \"str\": \"key-from-alias\"}");
    /* A redefined anchor: aliases name the latest definition. */
    check_load("- &a 1\n- *a\n- &a 2\n- *a\n", "[1, 1, 2, 2]");
    /* The copy is independent of the original. */
    v = load("a: &x [1]\nb: *x\n");
    assert_ptr_not_equal(json_object_get(v, "a"), json_object_get(v, "b"));
    json_decref(v);
}

static void test_yaml_refuses_bad_aliases(void **state)
{
    (void)state;
    refuse("a: *nope", CONFHUB_EINVAL, "t.yaml:1:5: alias *nope at key 'a' names no anchor");
    refuse("a: &r [1, *r]", CONFHUB_EINVAL, "is inside the node it names");
}

static void test_yaml_refuses_alias_bomb(void **state)
{
    static const char bomb[] = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
                               "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                               "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                               "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                               "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                               "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                               "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                               "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                               "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
    char *big;
    size_t n = 2 * 1024 * 1024;
    (void)state;
    refuse(bomb, CONFHUB_ETOOBIG, "aliases expand to more than");
    /* Few nodes but many bytes: a 2 MiB string aliased 40 times. */
    big = ch_malloc(n + 200);
    assert_non_null(big);
    memcpy(big, "s: &s ", 6);
    memset(big + 6, 'x', n);
    strcpy(big + 6 + n, "\nl: [*s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, "
                        "*s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s]\n");
    refuse(big, CONFHUB_ETOOBIG, "aliases expand to more than");
    ch_free(big);
}

/* ---------------------------------------------------------------- documents */

static void test_yaml_multi_document(void **state)
{
    struct ch_format_opts multi = {.multi_doc = true};
    struct ch_err err;
    json_t *v;
    (void)state;
    refuse_opts("a: 1\n---\nb: 2\n", NULL, CONFHUB_EINVAL,
                "t.yaml:2:1: more than one YAML document", &err);
    assert_int_equal(err.line, 2);
    v = load_opts("a: 1\n---\nb: 2\n--- 3\n---\n", &multi);
    assert_true(json_is_array(v));
    assert_int_equal(json_array_size(v), 4);
    assert_true(json_is_null(json_array_get(v, 3)));
    json_decref(v);
    v = load_opts("", &multi);
    assert_int_equal(json_array_size(v), 0);
    json_decref(v);
    /* Anchors do not cross documents. */
    refuse_opts("a: &x 1\n---\nb: *x\n", &multi, CONFHUB_EINVAL, "names no anchor", &err);
}

static void test_yaml_empty_document_is_null(void **state)
{
    (void)state;
    check_load("", "null");
    check_load("# only a comment\n", "null");
    check_load("---\n...\n", "null");
}

static void test_yaml_parse_error_has_position(void **state)
{
    struct ch_err err;
    (void)state;
    refuse_opts("a: 1\nb: [1, 2\nc: 3\n", NULL, CONFHUB_EINVAL, "t.yaml:", &err);
    assert_true(err.line > 0);
    assert_true(err.column > 0);
    refuse_opts("a: 1\nb: @x\n", NULL, CONFHUB_EINVAL,
                "t.yaml:2:4: plain scalar cannot start with '@'", &err);
    assert_int_equal(err.line, 2);
    assert_int_equal(err.column, 4);
    /* libfyaml alone would read a stray byte as an empty scalar. */
    refuse_opts("a: 1\nb: x\xff\n", NULL, CONFHUB_EINVAL, "t.yaml:2:5: invalid UTF-8 byte 0xff",
                &err);
    refuse("a: \xed\xa0\x80", CONFHUB_EINVAL, "invalid UTF-8 byte 0xed"); /* a surrogate */
    refuse("a: \"\\ud800\"", CONFHUB_EINVAL, "t.yaml:1:5: double-quoted scalar has invalid");
    check_load("a: \"\\xff\"", "{\"a\": \"\\u00ff\"}");
}

static void test_yaml_depth_limit(void **state)
{
    struct ch_format_opts opts = {.max_depth = 3};
    struct ch_err err;
    json_t *v;
    char deep[200];
    (void)state;
    v = load_opts("a: {b: [1]}", &opts);
    json_decref(v);
    refuse_opts("a: {b: [[1]]}", &opts, CONFHUB_ETOOBIG, "max-json-depth", &err);
    refuse_opts("x: &x [[1]]\na: {b: *x}", &opts, CONFHUB_ETOOBIG, "max-json-depth", &err);
    /* The default is 64. */
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    deep[130] = '\0';
    refuse(deep, CONFHUB_ETOOBIG, "limit of 64 (max-json-depth)");
    memset(deep, '[', 64);
    memset(deep + 64, ']', 64);
    deep[128] = '\0';
    v = load(deep);
    json_decref(v);
}

/* ---------------------------------------------------------------- dump */

/* Dumps v, checks that the text reads back equal, and returns the text (ch_malloc'd). */
static char *round_trip_opts(const json_t *v, const struct ch_format_opts *opts)
{
    struct ch_err err = {0};
    char *text = NULL;
    size_t len = 0;
    json_t *back = NULL;

    if (ch_yaml_dump(v, opts, &text, &len, &err) != CONFHUB_OK)
        fail_msg("dump failed: %s", err.msg);
    assert_int_equal(strlen(text), len);
    if (ch_yaml_parse("dump", text, len, opts, &back, &err) != CONFHUB_OK)
        fail_msg("dumped text does not parse: %s\n%s", err.msg, text);
    if (!json_equal(v, back))
        fail_msg("round trip differs:\n%s", text);
    /* Types survive too: json_equal already tells 1 from 1.0 and "1" from 1. */
    json_decref(back);
    return text;
}

static char *round_trip(const json_t *v)
{
    return round_trip_opts(v, NULL);
}

static void test_yaml_dump_round_trips_tricky_strings(void **state)
{
    static const char *const strings[] = {
        "true",
        "false",
        "True",
        "null",
        "Null",
        "~",
        "",
        " ",
        " lead",
        "trail ",
        "123",
        "-1",
        "+1",
        "0x10",
        "0o7",
        "1.5",
        "1e3",
        ".5",
        ".inf",
        "-.inf",
        ".nan",
        "yes",
        "No",
        "on",
        "OFF",
        "y",
        "n",
        "<<",
        "=",
        "a: b",
        "a:",
        ":a",
        "a:b",
        "#x",
        "a #b",
        "a#b",
        "- x",
        "-",
        "--",
        "---",
        "...",
        "? x",
        "?",
        ": x",
        "@x",
        "`x",
        "%x",
        "!x",
        "&x",
        "*x",
        "|x",
        ">x",
        "'x",
        "\"x",
        "[x]",
        "{x}",
        ",x",
        "a,b",
        "a [b]",
        "x\ty",
        "\t",
        "multi\nline",
        "multi\nline\n",
        "x\n\n",
        "x\n\n\n",
        "\nx",
        " x\ny",
        "x \ny",
        "a\n  b\n",
        "a\r\nb",
        "quote\"back\\slash",
        "it's",
        "\x7f",
        "\x01\x02",
        "\x1b[0m",
        "caf\xc3\xa9",
        "\xe6\x97\xa5\xe6\x9c\xac",
        "\xf0\x9f\x98\x80 emoji",
        "nel\xc2\x85",
        "ls\xe2\x80\xa8",
        "ps\xe2\x80\xa9",
        "\xef\xbb\xbf"
        "bom",
        "nbsp\xc2\xa0",
        "2001-12-14",
        "12:30:00",
        "1_000",
        "0b11",
        "# comment",
        "a\n# not a comment\n",
        "|",
        ">",
        "key: value\n- item\n",
    };
    json_t *obj = json_object(), *arr = json_array();
    char *text;
    (void)state;
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        json_t *s = json_string(strings[i]);
        assert_non_null(s);
        if (strings[i][0] != '\0')
            json_object_set(obj, strings[i], s); /* the string as a key too */
        json_array_append_new(arr, s);
    }
    json_object_set_new(obj, "strings", arr);
    json_object_set_new(obj, "nul", json_stringn("a\0b", 3));
    json_object_set_new(obj, "", json_string("empty key"));
    text = round_trip(obj);
    /* Readable: plain where possible, literal blocks for multi-line text. */
    assert_non_null(strstr(text, "\"true\": \"true\"\n"));
    assert_non_null(strstr(text, "\n  - |-\n    multi\n    line\n"));
    ch_free(text);
    json_decref(obj);
}

static void test_yaml_dump_long_keys(void **state)
{
    char key[3000];
    json_t *obj = json_object();
    char *text;
    (void)state;
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    json_object_set_new(obj, key, json_integer(1));
    json_object_set_new(obj, "multi\nline key", json_object());
    text = round_trip(obj);
    assert_non_null(strstr(text, "? \"kkk"));
    ch_free(text);
    json_decref(obj);
}

static void test_yaml_dump_round_trips_numbers(void **state)
{
    static const double reals[] = {0.0,
                                   -0.0,
                                   1.0,
                                   -1.0,
                                   0.1,
                                   1.5,
                                   1e20,
                                   1.5e300,
                                   5e-324,
                                   2.5e-10,
                                   1e100,
                                   123456789.123456789,
                                   3.141592653589793,
                                   9007199254740993.0};
    json_t *arr = json_array();
    char *text;
    (void)state;
    for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++)
        json_array_append_new(arr, json_real(reals[i]));
    json_array_append_new(arr, json_integer(INT64_MAX));
    json_array_append_new(arr, json_integer(INT64_MIN));
    json_array_append_new(arr, json_integer(0));
    json_array_append_new(arr, json_true());
    json_array_append_new(arr, json_false());
    json_array_append_new(arr, json_null());
    text = round_trip(arr);
    assert_non_null(strstr(text, "- 1.0\n"));
    assert_non_null(strstr(text, "- 1.0e+20\n"));
    ch_free(text);
    json_decref(arr);
}

static void test_yaml_dump_nested_and_empty(void **state)
{
    json_error_t jerr;
    json_t *v = json_loads("{\"a\": {}, \"b\": [], \"c\": [[], {}, [1, [2, {\"x\": [3]}]], "
                           "{\"k\": {\"l\": [{}]}}], \"d\": {\"e\": {\"f\": \"g\"}}, "
                           "\"z\": 1, \"y\": 2, \"\xc3\xa9t\xc3\xa9\": \"\xc3\xa9\"}",
                           0, &jerr);
    char *text;
    (void)state;
    assert_non_null(v);
    text = round_trip(v);
    /* Object key order is kept: "z" before "y". */
    assert_true(strstr(text, "z: 1") < strstr(text, "\"y\": 2")); /* y is a YAML 1.1 bool */
    assert_non_null(strstr(text, "a: {}\n"));
    assert_non_null(strstr(text, "b: []\n"));
    ch_free(text);
    json_decref(v);
    /* Top-level scalars and empty collections. */
    static const char *const tops[] = {"{}", "[]", "1", "1.5", "\"true\"", "null", "\"x\\ny\""};
    for (size_t i = 0; i < sizeof(tops) / sizeof(tops[0]); i++) {
        v = json_loads(tops[i], JSON_DECODE_ANY, &jerr);
        assert_non_null(v);
        ch_free(round_trip(v));
        json_decref(v);
    }
}

static void test_yaml_dump_multi_doc_and_depth(void **state)
{
    struct ch_format_opts multi = {.multi_doc = true};
    struct ch_format_opts shallow = {.max_depth = 2};
    json_error_t jerr;
    struct ch_err err = {0};
    json_t *v = json_loads("[{\"a\": 1}, 2, \"x\\ny\", [], null]", 0, &jerr);
    char *text = NULL;
    size_t len;
    (void)state;
    ch_free(round_trip_opts(v, &multi));
    json_decref(v);
    v = json_loads("{\"a\": {\"b\": {\"c\": 1}}}", 0, &jerr);
    assert_int_equal(ch_yaml_dump(v, &shallow, &text, &len, &err), CONFHUB_ETOOBIG);
    assert_non_null(strstr(err.msg, "max-json-depth"));
    assert_null(text);
    json_decref(v);
}

static void test_yaml_dump_parse_fixture(void **state)
{
    /* A realistic config file keeps its values through parse -> dump -> parse. */
    json_t *v = load("server:\n  host: 0.0.0.0\n  port: 8080\n  tls: false\n"
                     "features: [a, 'on', \"1.0\"]\nratio: 0.75\nmotd: |\n  Hello\n  World\n");
    (void)state;
    ch_free(round_trip(v));
    json_decref(v);
}

/* ---------------------------------------------------------------- allocation torture */

static const char torture_yaml[] = "a: &x {k: [1, 2.5, \"s\", true, null]}\n"
                                   "b: *x\n"
                                   "c: !!str 12\n"
                                   "d:\n  - e: |\n      text\n  - [x, y]\n"
                                   "---\n"
                                   "f: 1\n";

static void test_yaml_parse_allocation_torture(void **state)
{
    struct ch_format_opts multi = {.multi_doc = true};
    long n;
    (void)state;
    for (n = 0; n < 100000; n++) {
        struct ch_err err = {0};
        json_t *v = NULL;
        enum confhub_status rc;
        ch_alloc_fail_after(n);
        rc = ch_yaml_parse("t", torture_yaml, strlen(torture_yaml), &multi, &v, &err);
        ch_alloc_fail_after(-1);
        if (rc == CONFHUB_OK) {
            assert_int_equal(json_array_size(v), 2);
            json_decref(v);
            break;
        }
        if (rc != CONFHUB_ENOMEM)
            fail_msg("n=%ld: status %d: %s", n, rc, err.msg);
        assert_null(v);
        assert_non_null(strstr(err.msg, "out of memory"));
    }
    assert_true(n > 10);
}

static void test_yaml_dump_allocation_torture(void **state)
{
    struct ch_format_opts multi = {.multi_doc = true};
    json_t *doc = load_opts(torture_yaml, &multi);
    long n;
    (void)state;
    for (n = 0; n < 100000; n++) {
        struct ch_err err = {0};
        char *text = NULL;
        size_t len = 0;
        enum confhub_status rc;
        ch_alloc_fail_after(n);
        rc = ch_yaml_dump(doc, &multi, &text, &len, &err);
        ch_alloc_fail_after(-1);
        if (rc == CONFHUB_OK) {
            ch_free(text);
            break;
        }
        assert_int_equal(rc, CONFHUB_ENOMEM);
        assert_null(text);
    }
    assert_true(n > 0);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_yaml_core_schema_table),
        cmocka_unit_test(test_yaml_quoted_true_stays_string),
        cmocka_unit_test(test_yaml_integers_are_64_bit),
        cmocka_unit_test(test_yaml_refuses_numbers_that_do_not_fit),
        cmocka_unit_test(test_yaml_refuses_non_string_keys),
        cmocka_unit_test(test_yaml_refuses_duplicate_keys),
        cmocka_unit_test(test_yaml_refuses_unknown_tags),
        cmocka_unit_test(test_yaml_resolves_anchors_and_aliases),
        cmocka_unit_test(test_yaml_refuses_bad_aliases),
        cmocka_unit_test(test_yaml_refuses_alias_bomb),
        cmocka_unit_test(test_yaml_multi_document),
        cmocka_unit_test(test_yaml_empty_document_is_null),
        cmocka_unit_test(test_yaml_parse_error_has_position),
        cmocka_unit_test(test_yaml_depth_limit),
        cmocka_unit_test(test_yaml_dump_round_trips_tricky_strings),
        cmocka_unit_test(test_yaml_dump_long_keys),
        cmocka_unit_test(test_yaml_dump_round_trips_numbers),
        cmocka_unit_test(test_yaml_dump_nested_and_empty),
        cmocka_unit_test(test_yaml_dump_multi_doc_and_depth),
        cmocka_unit_test(test_yaml_dump_parse_fixture),
        cmocka_unit_test(test_yaml_parse_allocation_torture),
        cmocka_unit_test(test_yaml_dump_allocation_torture),
    };
    ch_alloc_install_jansson();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
