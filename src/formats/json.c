/* SPDX-License-Identifier: MIT */
/* json.c: the JSON document format, on jansson through common/json_util (see format.h). */
#include "formats/json.h"

#include <string.h>

#include "common/alloc.h"
#include "common/json_util.h"

enum confhub_status ch_json_doc_parse(const char *name, const char *text, size_t len,
                                      const struct ch_format_opts *opts, json_t **out,
                                      struct ch_err *err)
{
    struct ch_err perr;
    size_t depth = opts && opts->max_depth ? opts->max_depth : 64;
    enum confhub_status rc;

    ch_err_clear(&perr);
    rc = ch_json_parse(name, text, len, depth, out, &perr);
    if (rc == CONFHUB_OK)
        return rc;
    err->line = perr.line;
    err->column = perr.column;
    if (perr.line > 0) {
        /* ch_json_parse says "NAME: invalid JSON at line L column C: why"; files want
         * "NAME:L:C: why". */
        const char *why = strstr(perr.msg, ": ");
        why = why ? strstr(why + 2, ": ") : NULL;
        return ch_err_set(err, rc, "%s:%d:%d: %s", name, perr.line, perr.column,
                          why ? why + 2 : perr.msg);
    }
    return ch_err_set(err, rc, "%s", perr.msg);
}

enum confhub_status ch_json_doc_dump(const json_t *doc, const struct ch_format_opts *opts,
                                     char **out, size_t *len_out, struct ch_err *err)
{
    size_t flags = JSON_ENCODE_ANY | JSON_REAL_PRECISION(17);
    size_t len;
    char *text;

    flags |= opts && opts->pretty ? JSON_INDENT(2) : JSON_COMPACT;
    len = json_dumpb(doc, NULL, 0, flags);
    text = ch_malloc(len + 2);
    if (!text)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot write JSON: out of memory");
    if (json_dumpb(doc, text, len, flags) != len) {
        ch_free(text);
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot write JSON: out of memory");
    }
    text[len++] = '\n';
    text[len] = '\0';
    *out = text;
    *len_out = len;
    return CONFHUB_OK;
}
