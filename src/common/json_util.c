/* SPDX-License-Identifier: MIT */
/* json_util.c: strict JSON parsing and compact dumping (see json_util.h). */
#include "common/json_util.h"

#include <string.h>

#include "common/alloc.h"

size_t ch_json_depth(const json_t *v)
{
    size_t deepest = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *child;
        json_object_foreach((json_t *)v, k, child)
        {
            size_t d = ch_json_depth(child);
            if (d > deepest)
                deepest = d;
        }
        return deepest + 1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child)
        {
            size_t d = ch_json_depth(child);
            if (d > deepest)
                deepest = d;
        }
        return deepest + 1;
    }
    return 0;
}

enum confhub_status ch_json_parse(const char *what, const char *text, size_t len, size_t max_depth,
                                  json_t **out, struct ch_err *err)
{
    json_error_t jerr;
    json_t *v;
    const char *nul = memchr(text, '\0', len);

    if (nul) {
        size_t line = 1, col = 1;
        for (const char *p = text; p < nul; p++) {
            if (*p == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        err->line = (int)line;
        err->column = (int)col;
        return ch_err_set(err, CONFHUB_EINVAL, "%s: invalid JSON at line %zu column %zu: NUL byte",
                          what, line, col);
    }
    v = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!v) {
        enum json_error_code code = json_error_code(&jerr);
        err->line = jerr.line;
        err->column = jerr.column;
        if (code == json_error_out_of_memory)
            return ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory while parsing", what);
        if (code == json_error_stack_overflow)
            return ch_err_set(err, CONFHUB_ETOOBIG,
                              "%s: JSON nesting is deeper than the limit of %zu (max-json-depth)",
                              what, max_depth);
        return ch_err_set(err, CONFHUB_EINVAL, "%s: invalid JSON at line %d column %d: %s", what,
                          jerr.line, jerr.column, jerr.text);
    }
    if (ch_json_depth(v) > max_depth) {
        json_decref(v);
        return ch_err_set(err, CONFHUB_ETOOBIG,
                          "%s: JSON nesting is deeper than the limit of %zu (max-json-depth)", what,
                          max_depth);
    }
    *out = v;
    return CONFHUB_OK;
}

char *ch_json_dump(const json_t *v, size_t *len_out)
{
    /* JSON_ENCODE_ANY: scalars are values too. No JSON_SORT_KEYS: the writer's order stays. */
    size_t flags = JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17);
    size_t len = json_dumpb(v, NULL, 0, flags);
    char *text;
    if (len == 0)
        return NULL;
    text = ch_malloc(len + 1);
    if (!text)
        return NULL;
    if (json_dumpb(v, text, len, flags) != len) {
        ch_free(text);
        return NULL;
    }
    text[len] = '\0';
    if (len_out)
        *len_out = len;
    return text;
}

json_t *ch_json_merge_patch(const json_t *target, const json_t *patch)
{
    const char *key;
    json_t *value;
    json_t *result;

    if (!json_is_object(patch))
        return json_deep_copy(patch);
    result = json_is_object(target) ? json_deep_copy(target) : json_object();
    if (!result)
        return NULL;
    json_object_foreach((json_t *)patch, key, value)
    {
        if (json_is_null(value)) {
            json_object_del(result, key);
            continue;
        }
        json_t *merged = ch_json_merge_patch(json_object_get(result, key), value);
        if (!merged || json_object_set_new(result, key, merged) != 0) {
            json_decref(result);
            return NULL;
        }
    }
    return result;
}
