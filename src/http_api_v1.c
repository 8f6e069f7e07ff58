/* SPDX-License-Identifier: MIT */
/*
 * http_api_v1.c: the handlers of the REST API /v1 (docs/api.md is their contract).
 *
 * Read handlers run inside a read section (req->state is the snapshot) and answer with bytes
 * borrowed from the model, which the dispatcher copies out before the section ends. Write
 * handlers parse and check the request, fill a struct ch_write and submit it; the answer is
 * sent by ch_http_finish_write() when the writer is done.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/json_util.h"
#include "common/names.h"
#include "common/timeutil.h"
#include "formats/format.h"
#include "http_int.h"

/* Copies text into the request pool, so it outlives the caller's buffer. */
static const char *pool_copy(struct ch_req *req, const char *text, size_t len)
{
    char *copy = h2o_mem_alloc_pool(&req->h2o->pool, len + 1);
    memcpy(copy, text, len);
    copy[len] = '\0';
    return copy;
}

/* Answers the JSON value v (consumed). */
static enum confhub_status answer_json(struct ch_req *req, struct ch_resp *resp, json_t *v,
                                       struct ch_err *err)
{
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!text)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot build the answer: out of memory");
    resp->body_len = strlen(text);
    resp->body = pool_copy(req, text, resp->body_len);
    free(text);
    return CONFHUB_OK;
}

/* ?revision=R: the read is answered from history (http_history.c). */
static bool wants_past(const struct ch_req *req)
{
    const char *v;
    size_t len;
    return ch_http_query_get(req, "revision", &v, &len);
}

/* ---------------------------------------------------------------- service routes */

enum confhub_status ch_api_healthz(struct ch_req *req, struct ch_resp *resp, struct ch_err *err)
{
    (void)req;
    (void)err;
    resp->body = "ok\n";
    resp->body_len = 3;
    return CONFHUB_OK;
}

enum confhub_status ch_api_status(struct ch_req *req, struct ch_resp *resp, struct ch_err *err)
{
    struct ch_http_server *s = req->loop->server;
    json_t *v = json_pack("{s:s,s:I,s:s,s:I,s:I,s:I}", "version", CONFHUB_VERSION_STRING,
                          "revision", (json_int_t)ch_state_revision(req->state), "store",
                          s->cfg.store_name ? s->cfg.store_name : "sqlite", "uptime_s",
                          (json_int_t)((ch_time_now_ms() - s->started_ms) / 1000), "namespaces",
                          (json_int_t)ch_state_ns_count(req->state), "keys",
                          (json_int_t)ch_state_key_count(req->state));
    return answer_json(req, resp, v, err);
}

enum confhub_status ch_api_limits(struct ch_req *req, struct ch_resp *resp, struct ch_err *err)
{
    return answer_json(req, resp, ch_limits_to_json(req->loop->server->limits), err);
}

enum confhub_status ch_api_namespaces(struct ch_req *req, struct ch_resp *resp, struct ch_err *err)
{
    const struct ch_ns **all = NULL;
    size_t n = 0;
    json_t *list;

    if (wants_past(req))
        return ch_http_read_at(req, "namespaces", resp, err);
    list = json_array();
    if (!list || ch_state_sorted_ns(req->state, &all, &n) != CONFHUB_OK) {
        json_decref(list);
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot list namespaces: out of memory");
    }
    /* The default namespace always exists; listed empty, in its sorted place, until used. */
    bool need_default = !ch_state_find_ns(req->state, "default", 7);
    for (size_t i = 0; i <= n; i++) {
        if (need_default && (i == n || strcmp(ch_ns_name(all[i]), "default") > 0)) {
            json_array_append_new(
                list, json_pack("{s:s,s:i,s:i}", "name", "default", "sections", 0, "keys", 0));
            need_default = false;
        }
        if (i == n)
            break;
        json_array_append_new(list, json_pack("{s:s,s:I,s:I}", "name", ch_ns_name(all[i]),
                                              "sections", (json_int_t)ch_ns_section_count(all[i]),
                                              "keys", (json_int_t)ch_ns_key_count(all[i])));
    }
    ch_free(all);
    return answer_json(req, resp,
                       json_pack("{s:o,s:I}", "namespaces", list, "revision",
                                 (json_int_t)ch_state_revision(req->state)),
                       err);
}

/* ---------------------------------------------------------------- reads */

static const struct ch_ns *find_ns(struct ch_req *req, struct ch_err *err)
{
    const struct ch_ns *ns = ch_state_find_ns(req->state, req->params[0], req->param_len[0]);
    if (!ns)
        ch_err_set(err, CONFHUB_ENOTFOUND, "namespace '%s' not found", req->params[0]);
    return ns;
}

static const struct ch_section *find_section(struct ch_req *req, struct ch_err *err)
{
    const struct ch_ns *ns = find_ns(req, err);
    const struct ch_section *sec;
    if (!ns)
        return NULL;
    sec = ch_ns_find_section(ns, req->params[1], req->param_len[1]);
    if (!sec)
        ch_err_set(err, CONFHUB_ENOTFOUND, "section '%s/%s' not found", req->params[0],
                   req->params[1]);
    return sec;
}

static enum confhub_status answer_blob(struct ch_resp *resp, const struct ch_blob *blob,
                                       int64_t etag, struct ch_err *err)
{
    if (!blob)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot serialise the answer: out of memory");
    resp->body = blob->data;
    resp->body_len = blob->len;
    resp->etag = etag;
    return CONFHUB_OK;
}

/* The default namespace always exists, empty until something is written to it. */
static bool is_default_ns(const struct ch_req *req)
{
    return req->param_len[0] == 7 && memcmp(req->params[0], "default", 7) == 0;
}

enum confhub_status ch_api_get_ns(struct ch_req *req, struct ch_resp *resp, struct ch_err *err)
{
    const struct ch_ns *ns;
    if (wants_past(req))
        return ch_http_read_at(req, "ns", resp, err);
    if (is_default_ns(req) && !ch_state_find_ns(req->state, "default", 7)) {
        resp->body = "{}";
        resp->body_len = 2;
        resp->etag = 0;
        return CONFHUB_OK;
    }
    ns = find_ns(req, err);
    if (!ns)
        return CONFHUB_ENOTFOUND;
    return answer_blob(resp, ch_ns_json(ns), ch_ns_mod_rev(ns), err);
}

enum confhub_status ch_api_get_section(struct ch_req *req, struct ch_resp *resp, struct ch_err *err)
{
    const struct ch_section *sec;
    if (wants_past(req))
        return ch_http_read_at(req, "section", resp, err);
    sec = find_section(req, err);
    if (!sec)
        return CONFHUB_ENOTFOUND;
    return answer_blob(resp, ch_section_json(sec), ch_section_mod_rev(sec), err);
}

enum confhub_status ch_api_get_key(struct ch_req *req, struct ch_resp *resp, struct ch_err *err)
{
    const struct ch_section *sec;
    const struct ch_entry *e;
    struct ch_entry_info info;

    if (wants_past(req))
        return ch_http_read_at(req, "key", resp, err);
    sec = find_section(req, err);
    if (!sec)
        return CONFHUB_ENOTFOUND;
    e = ch_section_find_entry(sec, req->params[2], req->param_len[2]);
    if (!e || ch_section_scalar(sec))
        return ch_err_set(err, CONFHUB_ENOTFOUND, "key '%s/%s/%s' not found", req->params[0],
                          req->params[1], req->params[2]);
    ch_entry_info(e, &info);
    resp->etag = info.mod_rev;
    if (!ch_http_query_flag(req, "meta")) {
        resp->body = info.value;
        resp->body_len = info.value_len;
        return CONFHUB_OK;
    }
    /* The value is already JSON text: splice it in rather than parse and re-serialise it. */
    size_t cap = info.value_len + 128;
    char *buf = h2o_mem_alloc_pool(&req->h2o->pool, cap);
    int n = snprintf(buf, cap,
                     "{\"value\":%s,\"create_revision\":%" PRId64 ",\"mod_revision\":%" PRId64
                     ",\"version\":%" PRId64 "}",
                     info.value, info.create_rev, info.mod_rev, info.version);
    resp->body = buf;
    resp->body_len = (size_t)n;
    return CONFHUB_OK;
}

/* ---------------------------------------------------------------- writes */

/* Parses If-Match: "<rev>" (quotes optional) and If-None-Match: * into w. */
static enum confhub_status parse_conditions(struct ch_req *req, struct ch_write *w,
                                            struct ch_err *err)
{
    const h2o_headers_t *headers = &req->h2o->headers;
    ssize_t i = h2o_find_header(headers, H2O_TOKEN_IF_MATCH, -1);
    if (i >= 0) {
        h2o_iovec_t v = headers->entries[i].value;
        char digits[24];
        size_t n = 0;
        const char *p = v.base, *end = v.base + v.len;
        if (p < end && *p == '"' && end - p >= 2 && end[-1] == '"') {
            p++;
            end--;
        }
        while (p < end && n < sizeof(digits) - 1 && *p >= '0' && *p <= '9')
            digits[n++] = *p++;
        digits[n] = '\0';
        if (n == 0 || p != end)
            return ch_err_set(err, CONFHUB_EINVAL,
                              "If-Match '%.*s' is not a mod_revision: send If-Match: \"<n>\"",
                              (int)(v.len > 40 ? 40 : v.len), v.base);
        w->if_match = strtoll(digits, NULL, 10);
    }
    i = h2o_find_header(headers, H2O_TOKEN_IF_NONE_MATCH, -1);
    if (i >= 0) {
        h2o_iovec_t v = headers->entries[i].value;
        if (!(v.len == 1 && v.base[0] == '*'))
            return ch_err_set(err, CONFHUB_EINVAL,
                              "If-None-Match on a write must be '*' (create only)");
        w->if_none_match = true;
    }
    return CONFHUB_OK;
}

/* Builds a write of op for the request's captures and, when it has one, its JSON body. */
static enum confhub_status submit(struct ch_req *req, struct ch_resp *resp, enum ch_write_op op,
                                  bool with_body, struct ch_err *err)
{
    struct ch_write *w = ch_write_new(op);
    enum confhub_status rc;

    if (!w)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot queue the write: out of memory");
    rc = parse_conditions(req, w, err);
    if (rc != CONFHUB_OK)
        goto fail;
    if (with_body) {
        if (req->body_len == 0) {
            rc = ch_err_set(err, CONFHUB_EINVAL, "request body is empty: send a JSON value");
            goto fail;
        }
        rc = ch_json_parse("request body", req->body, req->body_len,
                           req->loop->server->limits->max_json_depth, &w->value, err);
        if (rc != CONFHUB_OK)
            goto fail;
    }
    w->ns = ch_strdup(req->params[0]);
    w->section = req->n_params > 1 ? ch_strdup(req->params[1]) : NULL;
    w->key = req->n_params > 2 ? ch_strdup(req->params[2]) : NULL;
    if (!w->ns || (req->n_params > 1 && !w->section) || (req->n_params > 2 && !w->key)) {
        rc = ch_err_set(err, CONFHUB_ENOMEM, "cannot queue the write: out of memory");
        goto fail;
    }
    return ch_http_submit_write(req, w, resp, err); /* takes w */
fail:
    ch_write_free(w);
    return rc;
}

enum confhub_status ch_api_put_ns(struct ch_req *req, struct ch_resp *resp, struct ch_err *err)
{
    return submit(req, resp, CH_WRITE_PUT_NS, true, err);
}

enum confhub_status ch_api_delete_ns(struct ch_req *req, struct ch_resp *resp, struct ch_err *err)
{
    return submit(req, resp, CH_WRITE_DELETE_NS, false, err);
}

enum confhub_status ch_api_put_section(struct ch_req *req, struct ch_resp *resp, struct ch_err *err)
{
    return submit(req, resp, CH_WRITE_PUT_SECTION, true, err);
}

enum confhub_status ch_api_delete_section(struct ch_req *req, struct ch_resp *resp,
                                          struct ch_err *err)
{
    return submit(req, resp, CH_WRITE_DELETE_SECTION, false, err);
}

enum confhub_status ch_api_put_key(struct ch_req *req, struct ch_resp *resp, struct ch_err *err)
{
    return submit(req, resp, CH_WRITE_PUT_KEY, true, err);
}

enum confhub_status ch_api_delete_key(struct ch_req *req, struct ch_resp *resp, struct ch_err *err)
{
    return submit(req, resp, CH_WRITE_DELETE_KEY, false, err);
}

enum confhub_status ch_api_patch_ns(struct ch_req *req, struct ch_resp *resp, struct ch_err *err)
{
    return submit(req, resp, CH_WRITE_PATCH_NS, true, err);
}

enum confhub_status ch_api_patch_section(struct ch_req *req, struct ch_resp *resp,
                                         struct ch_err *err)
{
    return submit(req, resp, CH_WRITE_PATCH_SECTION, true, err);
}

enum confhub_status ch_api_txn(struct ch_req *req, struct ch_resp *resp, struct ch_err *err)
{
    struct ch_write *w = NULL;
    struct ch_txn *txn = NULL;
    json_t *body = NULL;
    enum confhub_status rc;

    if (req->body_len == 0)
        return ch_err_set(err, CONFHUB_EINVAL, "request body is empty: send a transaction");
    rc = ch_json_parse("request body", req->body, req->body_len,
                       req->loop->server->limits->max_json_depth, &body, err);
    if (rc != CONFHUB_OK)
        return rc;
    rc = ch_txn_parse(body, req->loop->server->limits, &txn, err); /* takes body */
    if (rc != CONFHUB_OK)
        return rc;
    w = ch_write_new(CH_WRITE_TXN);
    if (!w) {
        ch_txn_free(txn);
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot queue the write: out of memory");
    }
    w->txn = txn;
    return ch_http_submit_write(req, w, resp, err); /* takes w */
}

/* The document format a request names: ?format=, else the media type in `header`, else JSON. */
static enum confhub_status request_format(struct ch_req *req, const h2o_token_t *header,
                                          enum ch_format *out, struct ch_err *err)
{
    const char *v;
    size_t len;
    ssize_t i;

    *out = CH_FORMAT_JSON;
    if (ch_http_query_get(req, "format", &v, &len)) {
        char name[16];
        if (len >= sizeof(name))
            len = sizeof(name) - 1;
        snprintf(name, sizeof(name), "%.*s", (int)len, v);
        if (!ch_format_from_name(name, out))
            return ch_err_set(err, CONFHUB_EINVAL, "format '%s': expected json, yaml or toml",
                              name);
        return CONFHUB_OK;
    }
    i = h2o_find_header(&req->h2o->headers, header, -1);
    if (i < 0)
        return CONFHUB_OK;
    h2o_iovec_t mt = req->h2o->headers.entries[i].value;
    if (h2o_strstr(mt.base, mt.len, H2O_STRLIT("yaml")) != SIZE_MAX)
        *out = CH_FORMAT_YAML;
    else if (h2o_strstr(mt.base, mt.len, H2O_STRLIT("toml")) != SIZE_MAX)
        *out = CH_FORMAT_TOML;
    return CONFHUB_OK;
}

enum confhub_status ch_api_import(struct ch_req *req, struct ch_resp *resp, struct ch_err *err)
{
    const struct ch_limits *limits = req->loop->server->limits;
    struct ch_format_opts opts = {.max_depth = limits->max_json_depth};
    struct ch_write *w = NULL;
    enum ch_format fmt;
    const char *mode;
    size_t mode_len;
    bool merge = false;
    enum confhub_status rc;

    rc = request_format(req, H2O_TOKEN_CONTENT_TYPE, &fmt, err);
    if (rc != CONFHUB_OK)
        return rc;
    if (ch_http_query_get(req, "mode", &mode, &mode_len)) {
        merge = mode_len == 5 && memcmp(mode, "merge", 5) == 0;
        if (!merge && !(mode_len == 7 && memcmp(mode, "replace", 7) == 0))
            return ch_err_set(err, CONFHUB_EINVAL, "mode '%.*s': expected replace or merge",
                              (int)(mode_len > 40 ? 40 : mode_len), mode);
    }
    w = ch_write_new(merge ? CH_WRITE_MERGE_NS : CH_WRITE_PUT_NS);
    if (!w)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot queue the write: out of memory");
    w->want_diff = true;
    w->dry_run = ch_http_query_flag(req, "dry_run");
    rc = parse_conditions(req, w, err);
    if (rc == CONFHUB_OK)
        rc = ch_format_parse(fmt, "request body", req->body, req->body_len, &opts, &w->value, err);
    if (rc == CONFHUB_OK && !json_is_object(w->value))
        rc = ch_err_set(err, CONFHUB_EINVAL,
                        "an imported document must be a mapping of sections, not %s",
                        json_is_array(w->value) ? "a list" : "a scalar");
    if (rc == CONFHUB_OK && !(w->ns = ch_strdup(req->params[0])))
        rc = ch_err_set(err, CONFHUB_ENOMEM, "cannot queue the write: out of memory");
    if (rc != CONFHUB_OK) {
        ch_write_free(w);
        return rc;
    }
    return ch_http_submit_write(req, w, resp, err); /* takes w */
}

enum confhub_status ch_http_export_format(struct ch_req *req, enum ch_format *out,
                                          struct ch_err *err)
{
    return request_format(req, H2O_TOKEN_ACCEPT, out, err);
}

enum confhub_status ch_api_export(struct ch_req *req, struct ch_resp *resp, struct ch_err *err)
{
    struct ch_format_opts opts = {.pretty = ch_http_query_flag(req, "pretty")};
    const struct ch_ns *ns;
    const struct ch_blob *blob;
    enum ch_format fmt;
    json_t *doc = NULL;
    char *text = NULL;
    size_t len = 0;
    enum confhub_status rc;

    if (wants_past(req)) /* before the current document is serialised for nothing */
        return ch_http_read_at(req, "export", resp, err);
    ns = ch_state_find_ns(req->state, req->params[0], req->param_len[0]);
    blob = ns ? ch_ns_json(ns) : NULL;
    rc = request_format(req, H2O_TOKEN_ACCEPT, &fmt, err);
    if (rc != CONFHUB_OK)
        return rc;
    if (!ns && !is_default_ns(req))
        return ch_err_set(err, CONFHUB_ENOTFOUND, "namespace '%s' not found", req->params[0]);
    if (ns && !blob)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot export: out of memory");
    doc = blob ? json_loadb(blob->data, blob->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)
               : json_object();
    if (!doc)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot export: out of memory");
    rc = ch_format_dump(fmt, doc, &opts, &text, &len, err);
    json_decref(doc);
    if (rc != CONFHUB_OK && rc != CONFHUB_ENOMEM) {
        char why[sizeof(err->msg)];
        snprintf(why, sizeof(why), "%s", err->msg);
        return ch_err_set(err, rc, "namespace '%s' cannot be exported as %s: %s", req->params[0],
                          ch_format_name(fmt), why);
    }
    if (rc != CONFHUB_OK)
        return rc;
    resp->body = pool_copy(req, text, len);
    resp->body_len = len;
    resp->content_type = ch_format_media_type(fmt);
    resp->etag = ns ? ch_ns_mod_rev(ns) : 0;
    ch_free(text);
    return CONFHUB_OK;
}

/* Splits "a,b,c" (each percent-encoded) into checked names in the request pool. Returns the
 * number of names, or -1 with err set. */
static long split_namespaces(struct ch_req *req, const char *list, size_t len, const char **out,
                             size_t max, struct ch_err *err)
{
    size_t n = 0;
    const char *p = list, *end = list + len;
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        char *name = h2o_mem_alloc_pool(&req->h2o->pool, (size_t)(stop - p) + 1);
        size_t name_len = 0;
        if (n == max) {
            ch_err_set(err, CONFHUB_ETOOBIG, "more than %zu namespaces (max-txn-ops)", max);
            return -1;
        }
        if (ch_names_percent_decode(p, (size_t)(stop - p), name, &name_len, err) != CONFHUB_OK ||
            ch_names_check("namespace", name, name_len, req->loop->server->limits->max_name_bytes,
                           err) != CONFHUB_OK)
            return -1;
        out[n++] = name;
        p = stop + 1;
    }
    return (long)n;
}

enum confhub_status ch_api_import_stream(struct ch_req *req, struct ch_resp *resp,
                                         struct ch_err *err)
{
    const struct ch_limits *limits = req->loop->server->limits;
    struct ch_format_opts opts = {.max_depth = limits->max_json_depth, .multi_doc = true};
    const char **names = NULL;
    const char *list;
    size_t list_len, max = limits->max_txn_ops;
    struct ch_txn *txn = NULL;
    struct ch_write *w = NULL;
    json_t *docs = NULL, *ops = NULL;
    enum ch_format fmt;
    enum confhub_status rc;
    long n;

    rc = request_format(req, H2O_TOKEN_CONTENT_TYPE, &fmt, err);
    if (rc != CONFHUB_OK)
        return rc;
    if (fmt != CH_FORMAT_YAML)
        return ch_err_set(err, CONFHUB_EINVAL,
                          "only a YAML stream holds several documents; import one %s document "
                          "with PUT /v1/ns/{ns}/import",
                          ch_format_name(fmt));
    if (!ch_http_query_get(req, "namespaces", &list, &list_len) || list_len == 0)
        return ch_err_set(err, CONFHUB_EINVAL,
                          "name a namespace per document: ?namespaces=first,second,...");
    names = h2o_mem_alloc_pool(&req->h2o->pool, max * sizeof(*names));
    n = split_namespaces(req, list, list_len, names, max, err);
    if (n < 0)
        return err->code;
    rc = ch_format_parse(fmt, "request body", req->body, req->body_len, &opts, &docs, err);
    if (rc != CONFHUB_OK)
        return rc;
    if (json_array_size(docs) != (size_t)n) {
        rc = ch_err_set(err, CONFHUB_EINVAL,
                        "the stream holds %zu documents but %ld namespaces "
                        "are named",
                        json_array_size(docs), n);
        goto done;
    }
    ops = json_array();
    for (long i = 0; ops && i < n; i++) {
        json_t *doc = json_array_get(docs, (size_t)i);
        if (!json_is_object(doc)) {
            rc = ch_err_set(err, CONFHUB_EINVAL,
                            "document %ld (namespace '%s') is not a mapping of sections", i + 1,
                            names[i]);
            goto done;
        }
        if (json_array_append_new(ops, json_pack("{s:s,s:s,s:O}", "op", "put_namespace", "ns",
                                                 names[i], "value", doc)) != 0)
            break;
    }
    if (!ops || json_array_size(ops) != (size_t)n) {
        rc = ch_err_set(err, CONFHUB_ENOMEM, "cannot import: out of memory");
        goto done;
    }
    rc = ch_txn_parse(json_pack("{s:O}", "then", ops), limits, &txn, err); /* same namespace
                                                                                twice: refused */
    if (rc != CONFHUB_OK)
        goto done;
    w = ch_write_new(CH_WRITE_TXN);
    if (!w) {
        ch_txn_free(txn);
        rc = ch_err_set(err, CONFHUB_ENOMEM, "cannot import: out of memory");
        goto done;
    }
    w->txn = txn;
    w->want_diff = true;
    w->dry_run = ch_http_query_flag(req, "dry_run");
    rc = ch_http_submit_write(req, w, resp, err); /* takes w */
done:
    json_decref(ops);
    json_decref(docs);
    return rc;
}
