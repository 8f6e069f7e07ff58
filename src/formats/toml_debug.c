/* SPDX-License-Identifier: MIT */
/*
 * toml_debug.c: `confhub debug toml-decode` and `confhub debug toml-encode`, the program
 * interface of toml-test (../shared/conformance/README.md, section 1).
 *
 * Both speak toml-test's "tagged JSON", which keeps TOML's types: tables are JSON objects,
 * arrays are JSON arrays, and every scalar is {"type": T, "value": "text"} with T one of
 * string, integer, float, bool, datetime, datetime-local, date-local, time-local. They work on
 * the typed tree (toml_int.h), not on plain jansson documents, which would lose those types.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/fileio.h"
#include "common/json_util.h"
#include "formats/toml.h"
#include "formats/toml_int.h"

#define MAX_INPUT_BYTES (64u << 20)

/* The tagged JSON names, indexed by enum ch_toml_type (scalars only). */
/* clang-format off */
static const char *const tag_names[] = {
    [CH_TOML_STRING] = "string",
    [CH_TOML_INTEGER] = "integer",
    [CH_TOML_FLOAT] = "float",
    [CH_TOML_BOOL] = "bool",
    [CH_TOML_DATETIME] = "datetime",
    [CH_TOML_DATETIME_LOCAL] = "datetime-local",
    [CH_TOML_DATE_LOCAL] = "date-local",
    [CH_TOML_TIME_LOCAL] = "time-local",
};

/* clang-format on */

static int exit_code(enum confhub_status rc)
{
    return rc == CONFHUB_EIO ? 4 : 1;
}

/* ------------------------------------------------------------------ decode ---- */

/* The typed tree under v as tagged JSON; NULL when out of memory. */
static json_t *to_tagged(const struct ch_toml_value *v)
{
    json_t *j = NULL, *child;
    char num[40];

    switch (v->type) {
    case CH_TOML_ARRAY:
        j = json_array();
        for (size_t i = 0; j && i < v->arr.n; i++) {
            child = to_tagged(v->arr.items[i]);
            if (!child || json_array_append_new(j, child) != 0) {
                json_decref(j);
                return NULL;
            }
        }
        return j;
    case CH_TOML_TABLE:
        j = json_object();
        for (size_t i = 0; j && i < v->tab.n; i++) {
            const struct ch_toml_entry *e = &v->tab.entries[i];
            child = to_tagged(e->val);
            if (!child || json_object_setn_new_nocheck(j, e->key, e->key_len, child) != 0) {
                json_decref(j);
                return NULL;
            }
        }
        return j;
    case CH_TOML_INTEGER:
        snprintf(num, sizeof(num), "%" PRId64, v->integer);
        child = json_string(num);
        break;
    case CH_TOML_FLOAT:
        ch_toml_format_float(v->real, num);
        child = json_string(num);
        break;
    case CH_TOML_BOOL:
        child = json_string(v->boolean ? "true" : "false");
        break;
    default:
        child = json_stringn_nocheck(v->str.ptr, v->str.len);
        break;
    }
    /* json_object_set_new() takes its value even when it fails, hence the two steps. */
    j = json_object();
    if (!j || json_object_set_new_nocheck(j, "type", json_string(tag_names[v->type])) != 0) {
        json_decref(j);
        json_decref(child);
        return NULL;
    }
    if (json_object_set_new_nocheck(j, "value", child) != 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

int ch_toml_debug_decode(FILE *in, FILE *out, FILE *errf)
{
    struct ch_err err;
    char *text = NULL;
    size_t len = 0;
    struct ch_toml_value *root = NULL;
    json_t *tagged = NULL;
    char *json_text = NULL;
    enum confhub_status rc;
    int code = 1;

    ch_err_clear(&err);
    rc = ch_file_read_stream(in, "input", MAX_INPUT_BYTES, &text, &len, &err);
    if (rc == CONFHUB_OK)
        rc = ch_toml_read("-", text, len, 0, &root, &err);
    if (rc == CONFHUB_OK) {
        tagged = to_tagged(root);
        if (!tagged)
            rc = ch_err_set(&err, CONFHUB_ENOMEM, "out of memory");
    }
    /* Rendered in memory first, so running out of memory is told apart from a write error. */
    if (rc == CONFHUB_OK) {
        json_text = json_dumps(tagged, JSON_COMPACT);
        if (!json_text)
            rc = ch_err_set(&err, CONFHUB_ENOMEM, "out of memory");
    }
    if (rc == CONFHUB_OK &&
        (fputs(json_text, out) == EOF || fputc('\n', out) == EOF || fflush(out)))
        rc = ch_err_set(&err, CONFHUB_EIO, "cannot write the output");
    if (rc == CONFHUB_OK) {
        code = 0;
    } else {
        fprintf(errf, "confhub debug toml-decode: %s\n", err.msg);
        code = exit_code(rc);
    }
    ch_free(json_text); /* jansson allocates through ch_malloc (ch_alloc_install_jansson) */
    json_decref(tagged);
    ch_toml_value_free(root);
    ch_free(text);
    return code;
}

/* ------------------------------------------------------------------ encode ---- */

/*
 * jansson refuses "\u0000" inside an object key, and toml-test has a key that is exactly
 * that. Before parsing, each "\u0000" escape in the text is swapped for the escape of a
 * noncharacter (U+FDD0..U+FDEF) that the input does not use anywhere; keys and strings are
 * swapped back while building the tree. Returns the stand-in's UTF-8 bytes (3 of them) in
 * stand_in, or false when no escape needed hiding (or no noncharacter was free).
 */
static bool hide_nul_escapes(char *text, size_t len, char stand_in[3])
{
    bool in_string = false, found = false;
    char escape[8] = "";
    uint32_t cp;

    for (cp = 0xfdd0; cp <= 0xfdef; cp++) {
        snprintf(escape, sizeof(escape), "\\u%04" PRIX32, cp);
        stand_in[0] = (char)0xef;
        stand_in[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        stand_in[2] = (char)(0x80 | (cp & 0x3f));
        if (!strcasestr(text, escape) && !memmem(text, len, stand_in, 3))
            break;
    }
    if (cp > 0xfdef)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '"') {
            in_string = !in_string;
        } else if (in_string && text[i] == '\\' && i + 1 < len) {
            if (len - i >= 6 && memcmp(text + i, "\\u0000", 6) == 0) {
                memcpy(text + i, escape, 6);
                found = true;
            }
            i++; /* skip the escaped character, which may be a quote or a backslash */
        }
    }
    return found;
}

/* s[0..len) with every stand-in (see hide_nul_escapes) turned back into a NUL byte.
 * OUT: *out (ch_malloc'd) and *out_len. False when out of memory. */
static bool restore_nuls(const char *s, size_t len, const char *stand_in, char **out,
                         size_t *out_len)
{
    char *copy = ch_malloc(len + 1);
    size_t n = 0;

    if (!copy)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (stand_in && len - i >= 3 && memcmp(s + i, stand_in, 3) == 0) {
            copy[n++] = '\0';
            i += 2;
        } else {
            copy[n++] = s[i];
        }
    }
    copy[n] = '\0';
    *out = copy;
    *out_len = n;
    return true;
}

/* True when j is a tagged scalar: exactly {"type": "...", "value": "..."}. */
static bool is_tagged_scalar(const json_t *j)
{
    return json_object_size(j) == 2 && json_is_string(json_object_get(j, "type")) &&
           json_is_string(json_object_get(j, "value"));
}

static enum confhub_status scalar_from_tagged(const json_t *j, const char *stand_in,
                                              struct ch_toml_value **out, struct ch_err *err)
{
    const char *type = json_string_value(json_object_get(j, "type"));
    const json_t *value = json_object_get(j, "value");
    const char *s = json_string_value(value);
    size_t len = json_string_length(value);
    struct ch_toml_value *v = NULL;
    size_t t;
    char *end = NULL;

    for (t = 0; t < sizeof(tag_names) / sizeof(tag_names[0]); t++) {
        if (strcmp(type, tag_names[t]) == 0)
            break;
    }
    if (t == sizeof(tag_names) / sizeof(tag_names[0]))
        return ch_err_set(err, CONFHUB_EINVAL, "unknown type \"%s\"", type);
    switch ((enum ch_toml_type)t) {
    case CH_TOML_STRING: {
        char *text;
        size_t text_len;
        if (!restore_nuls(s, len, stand_in, &text, &text_len))
            break;
        v = ch_toml_string_new(CH_TOML_STRING, text, text_len, 0);
        ch_free(text);
        break;
    }
    case CH_TOML_INTEGER:
        v = ch_toml_value_new(CH_TOML_INTEGER, 0);
        if (v) {
            errno = 0;
            v->integer = strtoll(s, &end, 10);
            if (errno || end == s || *end) {
                ch_toml_value_free(v);
                return ch_err_set(err, CONFHUB_EINVAL, "\"%s\" is not a 64-bit integer", s);
            }
        }
        break;
    case CH_TOML_FLOAT:
        v = ch_toml_value_new(CH_TOML_FLOAT, 0);
        if (v) {
            const char *body = s + (*s == '+' || *s == '-');
            if (strcmp(body, "nan") == 0) {
                v->real = *s == '-' ? -NAN : NAN;
            } else if (strcmp(body, "inf") == 0) {
                v->real = *s == '-' ? -INFINITY : INFINITY;
            } else {
                v->real = strtod(s, &end);
                if (end == s || *end) {
                    ch_toml_value_free(v);
                    return ch_err_set(err, CONFHUB_EINVAL, "\"%s\" is not a float", s);
                }
            }
        }
        break;
    case CH_TOML_BOOL:
        if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0)
            return ch_err_set(err, CONFHUB_EINVAL, "\"%s\" is not a bool", s);
        v = ch_toml_value_new(CH_TOML_BOOL, 0);
        if (v)
            v->boolean = s[0] == 't';
        break;
    default: {
        /* A date-time is written bare, so it must be one TOML accepts. */
        char *norm = ch_malloc(len + 1);
        if (!norm)
            break;
        if (!ch_toml_datetime_check((enum ch_toml_type)t, s, len, norm)) {
            ch_free(norm);
            return ch_err_set(err, CONFHUB_EINVAL, "\"%s\" is not a TOML %s", s, type);
        }
        v = ch_toml_string_new((enum ch_toml_type)t, norm, strlen(norm), 0);
        ch_free(norm);
        break;
    }
    }
    if (!v)
        return ch_err_set(err, CONFHUB_ENOMEM, "out of memory");
    *out = v;
    return CONFHUB_OK;
}

/* Tagged JSON j to the typed tree; depth is bounded by the JSON parser's limit. */
static enum confhub_status from_tagged(const json_t *j, const char *stand_in,
                                       struct ch_toml_value **out, struct ch_err *err)
{
    struct ch_toml_value *v = NULL, *child = NULL;
    char *real_key = NULL;
    size_t real_len;
    enum confhub_status rc = CONFHUB_OK;
    const char *key;
    size_t key_len, i;
    json_t *item;

    if (json_is_object(j) && is_tagged_scalar(j))
        return scalar_from_tagged(j, stand_in, out, err);
    if (json_is_object(j)) {
        v = ch_toml_value_new(CH_TOML_TABLE, 0);
        if (!v)
            goto nomem;
        json_object_keylen_foreach((json_t *)j, key, key_len, item)
        {
            rc = from_tagged(item, stand_in, &child, err);
            if (rc != CONFHUB_OK)
                goto done;
            if (!restore_nuls(key, key_len, stand_in, &real_key, &real_len) ||
                ch_toml_table_add(v, real_key, real_len, child) != CONFHUB_OK)
                goto nomem;
            child = NULL;
            ch_free(real_key);
            real_key = NULL;
        }
    } else if (json_is_array(j)) {
        v = ch_toml_value_new(CH_TOML_ARRAY, 0);
        if (!v)
            goto nomem;
        json_array_foreach(j, i, item)
        {
            rc = from_tagged(item, stand_in, &child, err);
            if (rc != CONFHUB_OK)
                goto done;
            if (ch_toml_array_push(v, child) != CONFHUB_OK)
                goto nomem;
            child = NULL;
        }
    } else {
        rc = ch_err_set(err, CONFHUB_EINVAL,
                        "expected an object, an array or {\"type\": ..., \"value\": ...}");
        goto done;
    }
    *out = v;
    v = NULL;
    goto done;
nomem:
    rc = ch_err_set(err, CONFHUB_ENOMEM, "out of memory");
done:
    ch_free(real_key);
    ch_toml_value_free(child);
    ch_toml_value_free(v);
    return rc;
}

int ch_toml_debug_encode(FILE *in, FILE *out, FILE *errf)
{
    struct ch_err err;
    char *text = NULL, *toml = NULL;
    size_t len = 0, toml_len = 0;
    json_t *doc = NULL;
    struct ch_toml_value *root = NULL;
    enum confhub_status rc;
    char stand_in[3];
    bool hidden = false;
    int code = 1;

    ch_err_clear(&err);
    rc = ch_file_read_stream(in, "input", MAX_INPUT_BYTES, &text, &len, &err);
    if (rc == CONFHUB_OK)
        hidden = hide_nul_escapes(text, len, stand_in);
    /* Tagged scalars add one level to the document's own nesting. */
    if (rc == CONFHUB_OK)
        rc = ch_json_parse("input", text, len, 2 * CH_TOML_DEFAULT_DEPTH, &doc, &err);
    if (rc == CONFHUB_OK && (!json_is_object(doc) || is_tagged_scalar(doc)))
        rc = ch_err_set(&err, CONFHUB_EINVAL, "the top level must be a table (a JSON object)");
    if (rc == CONFHUB_OK)
        rc = from_tagged(doc, hidden ? stand_in : NULL, &root, &err);
    if (rc == CONFHUB_OK)
        rc = ch_toml_write(root, &toml, &toml_len, &err);
    if (rc == CONFHUB_OK && (fwrite(toml, 1, toml_len, out) != toml_len || fflush(out)))
        rc = ch_err_set(&err, CONFHUB_EIO, "cannot write the output");
    if (rc == CONFHUB_OK) {
        code = 0;
    } else {
        fprintf(errf, "confhub debug toml-encode: %s\n", err.msg);
        code = exit_code(rc);
    }
    ch_free(toml);
    ch_toml_value_free(root);
    json_decref(doc);
    ch_free(text);
    return code;
}
