/* SPDX-License-Identifier: MIT */
/*
 * toml_write.c: the TOML writer. ch_toml_dump() turns a jansson document into the typed tree
 * (toml_int.h) and ch_toml_write() turns the tree into text, which ch_toml_parse() reads back
 * as the same document.
 *
 * Layout of the output, for a table T at path P:
 *   1. its plain entries, one "key = value" line each: scalars, and arrays that are not arrays
 *      of tables (written inline, with inline tables inside where needed);
 *   2. then each sub-table as "[P.key]" followed by its own lines, and each non-empty array
 *      whose items are all tables as one "[[P.key]]" section per item.
 * A sub-table gets no header line when it has only sub-tables of its own (TOML implies it),
 * but an empty table always gets one, so {"a": {}} comes back as {"a": {}}.
 * Key order inside a table is kept, except that plain entries come before sub-tables, as TOML
 * requires.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "formats/toml.h"
#include "formats/toml_int.h"

void ch_toml_format_float(double d, char *buf)
{
    if (isnan(d)) {
        strcpy(buf, signbit(d) ? "-nan" : "nan");
        return;
    }
    if (isinf(d)) {
        strcpy(buf, d < 0 ? "-inf" : "inf");
        return;
    }
    /* The shortest precision that reads back as the same double. */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, 40, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    /* "1" would read back as an integer; "1e+20" and "1.5" are floats already. */
    if (!strpbrk(buf, ".e"))
        strcat(buf, ".0");
}

/* ------------------------------------------------------------------ JSON to tree ---- */

struct from_json_ctx {
    size_t max_depth;   /* deepest table or array allowed; the root is depth 1 */
    struct ch_buf path; /* key path of the value being converted, for messages */
    struct ch_err *err;
};

static const char *json_kind(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    default:
        return "an object";
    }
}

static enum confhub_status from_json(struct from_json_ctx *cx, const json_t *j, size_t depth,
                                     struct ch_toml_value **out)
{
    struct ch_toml_value *v = NULL, *child = NULL;
    enum confhub_status rc = CONFHUB_OK;
    size_t mark = cx->path.len;
    const char *key;
    size_t key_len;
    json_t *item;
    size_t i;

    if ((json_is_object(j) || json_is_array(j)) && depth > cx->max_depth)
        return ch_err_set(cx->err, CONFHUB_ETOOBIG,
                          "key '%s': nesting is deeper than the limit of %zu (max-json-depth)",
                          cx->path.ptr ? cx->path.ptr : "", cx->max_depth);
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        v = ch_toml_value_new(CH_TOML_TABLE, 0);
        if (!v)
            goto nomem;
        v->origin = CH_TOML_HEADER;
        json_object_keylen_foreach((json_t *)j, key, key_len, item)
        {
            cx->path.len = mark;
            if ((mark && !ch_buf_addc(&cx->path, '.')) ||
                !ch_toml_buf_add_key(&cx->path, key, key_len))
                goto nomem;
            rc = from_json(cx, item, depth + 1, &child);
            if (rc != CONFHUB_OK)
                goto done;
            if (ch_toml_table_add(v, key, key_len, child) != CONFHUB_OK)
                goto nomem;
            child = NULL;
        }
        break;
    case JSON_ARRAY:
        v = ch_toml_value_new(CH_TOML_ARRAY, 0);
        if (!v)
            goto nomem;
        json_array_foreach(j, i, item)
        {
            char idx[32];
            snprintf(idx, sizeof(idx), "[%zu]", i);
            cx->path.len = mark;
            if (!ch_buf_adds(&cx->path, idx))
                goto nomem;
            rc = from_json(cx, item, depth + 1, &child);
            if (rc != CONFHUB_OK)
                goto done;
            if (ch_toml_array_push(v, child) != CONFHUB_OK)
                goto nomem;
            child = NULL;
        }
        break;
    case JSON_STRING:
        v = ch_toml_string_new(CH_TOML_STRING, json_string_value(j), json_string_length(j), 0);
        if (!v)
            goto nomem;
        break;
    case JSON_INTEGER:
        v = ch_toml_value_new(CH_TOML_INTEGER, 0);
        if (!v)
            goto nomem;
        v->integer = json_integer_value(j);
        break;
    case JSON_REAL:
        v = ch_toml_value_new(CH_TOML_FLOAT, 0);
        if (!v)
            goto nomem;
        v->real = json_real_value(j);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        v = ch_toml_value_new(CH_TOML_BOOL, 0);
        if (!v)
            goto nomem;
        v->boolean = json_is_true(j);
        break;
    case JSON_NULL:
        rc = ch_err_set(cx->err, CONFHUB_EINVAL, "key '%s' is null, which TOML cannot hold",
                        cx->path.ptr ? cx->path.ptr : "");
        goto done;
    }
    *out = v;
    v = NULL;
    goto done;
nomem:
    rc = ch_err_set(cx->err, CONFHUB_ENOMEM, "cannot write TOML: out of memory");
done:
    cx->path.len = mark;
    if (cx->path.ptr)
        cx->path.ptr[mark] = '\0';
    ch_toml_value_free(child);
    ch_toml_value_free(v);
    return rc;
}

/* ------------------------------------------------------------------ tree to text ---- */

struct writer {
    struct ch_buf out;  /* the document being written */
    struct ch_buf path; /* the current table's header path, keys already quoted */
};

/* Written as a [[header]] section per item: a non-empty array holding only tables. */
static bool is_array_of_tables(const struct ch_toml_value *v)
{
    if (v->type != CH_TOML_ARRAY || v->arr.n == 0)
        return false;
    for (size_t i = 0; i < v->arr.n; i++) {
        if (v->arr.items[i]->type != CH_TOML_TABLE)
            return false;
    }
    return true;
}

static bool is_section(const struct ch_toml_value *v)
{
    return v->type == CH_TOML_TABLE || is_array_of_tables(v);
}

/* A value in inline form: scalars, [a, b] and { k = v, ... }. */
static bool write_inline(struct ch_buf *b, const struct ch_toml_value *v)
{
    char num[40];

    switch (v->type) {
    case CH_TOML_STRING:
        return ch_toml_buf_add_string(b, v->str.ptr, v->str.len);
    case CH_TOML_DATETIME:
    case CH_TOML_DATETIME_LOCAL:
    case CH_TOML_DATE_LOCAL:
    case CH_TOML_TIME_LOCAL:
        return ch_buf_add(b, v->str.ptr, v->str.len); /* bare, so they stay dates */
    case CH_TOML_INTEGER:
        snprintf(num, sizeof(num), "%" PRId64, v->integer);
        return ch_buf_adds(b, num);
    case CH_TOML_FLOAT:
        ch_toml_format_float(v->real, num);
        return ch_buf_adds(b, num);
    case CH_TOML_BOOL:
        return ch_buf_adds(b, v->boolean ? "true" : "false");
    case CH_TOML_ARRAY:
        if (!ch_buf_addc(b, '['))
            return false;
        for (size_t i = 0; i < v->arr.n; i++) {
            if ((i > 0 && !ch_buf_adds(b, ", ")) || !write_inline(b, v->arr.items[i]))
                return false;
        }
        return ch_buf_addc(b, ']');
    case CH_TOML_TABLE:
        if (v->tab.n == 0)
            return ch_buf_adds(b, "{}");
        if (!ch_buf_adds(b, "{ "))
            return false;
        for (size_t i = 0; i < v->tab.n; i++) {
            const struct ch_toml_entry *e = &v->tab.entries[i];
            if ((i > 0 && !ch_buf_adds(b, ", ")) || !ch_toml_buf_add_key(b, e->key, e->key_len) ||
                !ch_buf_adds(b, " = ") || !write_inline(b, e->val))
                return false;
        }
        return ch_buf_adds(b, " }");
    }
    return false;
}

static bool write_header(struct writer *w, const char *open, const char *close)
{
    return (w->out.len == 0 || ch_buf_addc(&w->out, '\n')) && ch_buf_adds(&w->out, open) &&
           ch_buf_add(&w->out, w->path.ptr, w->path.len) && ch_buf_adds(&w->out, close);
}

/* The body of table t (see the layout at the top). w->path is t's header path. */
static bool write_table(struct writer *w, const struct ch_toml_value *t)
{
    size_t mark = w->path.len;
    bool ok = true;

    for (size_t i = 0; i < t->tab.n && ok; i++) {
        const struct ch_toml_entry *e = &t->tab.entries[i];
        if (is_section(e->val))
            continue;
        ok = ch_toml_buf_add_key(&w->out, e->key, e->key_len) && ch_buf_adds(&w->out, " = ") &&
             write_inline(&w->out, e->val) && ch_buf_addc(&w->out, '\n');
    }
    for (size_t i = 0; i < t->tab.n && ok; i++) {
        const struct ch_toml_entry *e = &t->tab.entries[i];
        const struct ch_toml_value *v = e->val;
        if (!is_section(v))
            continue;
        w->path.len = mark;
        ok = (mark == 0 || ch_buf_addc(&w->path, '.')) &&
             ch_toml_buf_add_key(&w->path, e->key, e->key_len);
        if (ok && v->type == CH_TOML_TABLE) {
            bool implied = v->tab.n > 0;
            for (size_t k = 0; k < v->tab.n && implied; k++)
                implied = is_section(v->tab.entries[k].val);
            ok = (implied || write_header(w, "[", "]\n")) && write_table(w, v);
        } else {
            for (size_t k = 0; k < v->arr.n && ok; k++)
                ok = write_header(w, "[[", "]]\n") && write_table(w, v->arr.items[k]);
        }
    }
    w->path.len = mark;
    return ok;
}

enum confhub_status ch_toml_write(const struct ch_toml_value *root, char **out, size_t *len_out,
                                  struct ch_err *err)
{
    struct writer w = {0};
    bool ok = write_table(&w, root) && ch_buf_add(&w.out, "", 0);

    ch_free(w.path.ptr);
    if (!ok) {
        ch_free(w.out.ptr);
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot write TOML: out of memory");
    }
    *out = w.out.ptr;
    *len_out = w.out.len;
    return CONFHUB_OK;
}

enum confhub_status ch_toml_dump(const json_t *doc, const struct ch_format_opts *opts, char **out,
                                 size_t *len_out, struct ch_err *err)
{
    struct from_json_ctx cx = {0};
    struct ch_toml_value *root = NULL;
    enum confhub_status rc;

    if (!json_is_object(doc))
        return ch_err_set(err, CONFHUB_EINVAL,
                          "TOML documents are tables; the top level here is %s", json_kind(doc));
    cx.max_depth = opts && opts->max_depth ? opts->max_depth : CH_TOML_DEFAULT_DEPTH;
    cx.err = err;
    rc = from_json(&cx, doc, 1, &root);
    if (rc == CONFHUB_OK)
        rc = ch_toml_write(root, out, len_out, err);
    ch_toml_value_free(root);
    ch_free(cx.path.ptr);
    return rc;
}
