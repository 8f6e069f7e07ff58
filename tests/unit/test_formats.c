/* SPDX-License-Identifier: MIT */
/*
 * test_formats.c: property test of the three formats on generated documents.
 *
 * For every generated document and every pair (source, target) of JSON, YAML and TOML: write
 * it as source, read it back, write that as target, read it back; the result must equal the
 * original whenever both formats can hold it (TOML holds no null). A format that cannot hold a
 * document must say so with an error, never change it silently. The generator favours the
 * values that trip writers: strings that look like numbers, booleans, dates or nulls, quotes,
 * escapes, multi-line text, empty containers, extreme integers and floats.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "formats/format.h"

static uint64_t rng_state;

static uint64_t next(void)
{
    /* xorshift64*: deterministic for a seed, so a failure reproduces. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static int pick(int n)
{
    return (int)(next() % (uint64_t)n);
}

static const char *const tricky_strings[] = {
    "",
    "true",
    "false",
    "null",
    "~",
    "yes",
    "no",
    "on",
    "123",
    "-1",
    "1.5",
    "1e3",
    "0x1F",
    "0o17",
    ".inf",
    "nan",
    "1979-05-27",
    "07:32:00",
    "1979-05-27T07:32:00Z",
    " lead",
    "trail ",
    "a: b",
    "a #b",
    "#c",
    "- x",
    "[x]",
    "{x}",
    "'q'",
    "\"dq\"",
    "back\\slash",
    "tab\there",
    "line1\nline2",
    "line1\nline2\n",
    "\n",
    "é ü 配置",
    "emoji 😀",
    "ctrl \x01 char",
    "@",
    "*alias",
    "&anchor",
    "!tag",
    "%percent",
    "|",
    ">",
    "key=value",
    "a.b.c",
    "=",
};

static const char *const tricky_keys[] = {
    "k",    "my key", "app.kubernetes.io", "配置",  "with\"quote", "back\\slash", "123", "true",
    "null", "-dash",  "under_score",       "a b c", "x:y",         "#h",
};

static json_t *gen_value(int depth, bool allow_null);

static json_t *gen_string(void)
{
    if (pick(3) == 0) {
        char buf[32];
        snprintf(buf, sizeof(buf), "s%llu", (unsigned long long)(next() % 100000));
        return json_string(buf);
    }
    return json_string(tricky_strings[pick(sizeof(tricky_strings) / sizeof(tricky_strings[0]))]);
}

static json_t *gen_number(void)
{
    static const json_int_t ints[] = {0, 1, -1, 42, INT64_MAX, INT64_MIN, 1000000007};
    static const double reals[] = {0.0,         1.0,  -1.5,  0.1, 1e300, -1e-300, 3.141592653589793,
                                   123456789.0, 1e20, 2.5e-5};
    if (pick(2))
        return json_integer(pick(4) ? ints[pick(7)] : (json_int_t)(next() % 2000000) - 1000000);
    return json_real(pick(4) ? reals[pick(10)] : (double)(next() % 100000) / 64.0);
}

static json_t *gen_container(int depth, bool allow_null, bool object)
{
    json_t *c = object ? json_object() : json_array();
    int n = pick(4);
    for (int i = 0; i < n; i++) {
        json_t *v = gen_value(depth + 1, allow_null);
        if (object) {
            char key[64];
            snprintf(key, sizeof(key), "%s%d", tricky_keys[pick(14)], pick(3) ? i : 0);
            json_object_set_new(c, key, v);
        } else {
            json_array_append_new(c, v);
        }
    }
    return c;
}

static json_t *gen_value(int depth, bool allow_null)
{
    int kind = pick(depth > 3 ? 5 : 7);
    switch (kind) {
    case 0:
        return allow_null ? json_null() : json_true();
    case 1:
        return json_boolean(pick(2));
    case 2:
    case 3:
        return gen_string();
    case 4:
        return gen_number();
    case 5:
        return gen_container(depth, allow_null, false);
    default:
        return gen_container(depth, allow_null, true);
    }
}

/* A namespace document: sections holding keys, lists or scalars. */
static json_t *gen_document(bool allow_null)
{
    json_t *doc = json_object();
    int n = 1 + pick(5);
    for (int i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s_%d", tricky_keys[pick(14)], i);
        json_object_set_new(
            doc, name, pick(4) ? gen_container(1, allow_null, true) : gen_value(1, allow_null));
    }
    return doc;
}

static json_t *through(enum ch_format f, const json_t *doc, bool *refused)
{
    struct ch_format_opts opts = {.max_depth = 64};
    struct ch_err err;
    char *text = NULL;
    size_t len = 0;
    json_t *back = NULL;

    ch_err_clear(&err);
    *refused = false;
    if (ch_format_dump(f, doc, &opts, &text, &len, &err) != CONFHUB_OK) {
        *refused = true;
        assert_int_equal(err.code, CONFHUB_EINVAL); /* refused with a reason, not a crash */
        assert_true(err.msg[0] != '\0');
        return NULL;
    }
    ch_err_clear(&err);
    if (ch_format_parse(f, "roundtrip", text, len, &opts, &back, &err) != CONFHUB_OK) {
        fprintf(stderr, "%s cannot read back its own output: %s\n%s\n", ch_format_name(f), err.msg,
                text);
        fail();
    }
    ch_free(text);
    return back;
}

static void check_pairs(json_t *doc, bool has_null)
{
    for (int s = CH_FORMAT_JSON; s <= CH_FORMAT_TOML; s++) {
        bool refused;
        json_t *mid = through((enum ch_format)s, doc, &refused);
        if (refused) {
            /* Only TOML may refuse, and only a document with a null in it. */
            assert_int_equal(s, CH_FORMAT_TOML);
            assert_true(has_null);
            continue;
        }
        if (!json_equal(mid, doc)) {
            char *a = json_dumps(doc, JSON_ENCODE_ANY), *b = json_dumps(mid, JSON_ENCODE_ANY);
            fprintf(stderr, "via %s:\n  in:  %s\n  out: %s\n", ch_format_name(s), a, b);
            free(a);
            free(b);
            fail();
        }
        for (int t = CH_FORMAT_JSON; t <= CH_FORMAT_TOML; t++) {
            json_t *out = through((enum ch_format)t, mid, &refused);
            if (refused) {
                assert_int_equal(t, CH_FORMAT_TOML);
                continue;
            }
            if (!json_equal(out, doc)) {
                char *a = json_dumps(doc, JSON_ENCODE_ANY), *b = json_dumps(out, JSON_ENCODE_ANY);
                fprintf(stderr, "%s -> %s:\n  in:  %s\n  out: %s\n", ch_format_name(s),
                        ch_format_name(t), a, b);
                free(a);
                free(b);
                fail();
            }
            json_decref(out);
        }
        json_decref(mid);
    }
}

static void test_formats_round_trip_all_pairs_without_nulls(void **state)
{
    (void)state;
    rng_state = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < 400; i++) {
        json_t *doc = gen_document(false);
        check_pairs(doc, false);
        json_decref(doc);
    }
}

static void test_formats_round_trip_all_pairs_with_nulls(void **state)
{
    (void)state;
    rng_state = 0xD1B54A32D192ED03ULL;
    for (int i = 0; i < 200; i++) {
        json_t *doc = gen_document(true);
        check_pairs(doc, true);
        json_decref(doc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats_round_trip_all_pairs_without_nulls),
        cmocka_unit_test(test_formats_round_trip_all_pairs_with_nulls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
