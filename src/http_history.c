/* SPDX-License-Identifier: MIT */
/*
 * http_history.c: the history routes (GET /v1/history, GET /v1/diff, POST /v1/rollback) and
 * reads at a past revision (?revision=R on the read routes). docs/api.md is their contract.
 *
 * History lives in the store, not in memory, so these reads are jobs for a history reader
 * thread (reader.h): the handler copies what the job needs out of the request (the request
 * may be gone by the time the job runs), submits it and leaves the request waiting; the
 * reader runs it and posts it back as a deferred answer, sent on the loop that owns the
 * connection. A rollback is a write: it goes to the writer thread like any other.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/json_util.h"
#include "common/names.h"
#include "common/num.h"
#include "common/timeutil.h"
#include "formats/format.h"
#include "history.h"
#include "http_int.h"

enum job_kind { JOB_EVENTS, JOB_DIFF, JOB_NS, JOB_SECTION, JOB_KEY, JOB_NAMESPACES, JOB_EXPORT };

struct history_job {
    struct ch_read_job read;          /* the reader's view */
    struct ch_http_deferred deferred; /* the loop's view */
    enum job_kind kind;

    /* The request, copied (owned). */
    char *ns, *section, *key, *actor, *prefix;
    struct ch_history_filter filter; /* JOB_EVENTS; its strings point at the fields above */
    int64_t revision;                /* reads at a past revision; JOB_DIFF: to */
    int64_t from;                    /* JOB_DIFF */
    enum ch_format format;           /* JOB_EXPORT */
    bool pretty;

    /* The answer. */
    enum confhub_status status;
    struct ch_err err;
    struct ch_buf body;
    const char *content_type;
    int64_t header_rev; /* X-Confhub-Revision; -1 for the current one */
};

static void job_free(struct history_job *job)
{
    ch_free(job->ns);
    ch_free(job->section);
    ch_free(job->key);
    ch_free(job->actor);
    ch_free(job->prefix);
    ch_buf_free(&job->body);
    ch_free(job);
}

/* ---------------------------------------------------------------- on the reader thread */

static enum confhub_status not_found(struct history_job *job)
{
    if (job->kind == JOB_KEY)
        return ch_err_set(&job->err, CONFHUB_ENOTFOUND,
                          "key '%s/%s/%s' not found at revision %" PRId64, job->ns, job->section,
                          job->key, job->revision);
    if (job->kind == JOB_SECTION)
        return ch_err_set(&job->err, CONFHUB_ENOTFOUND,
                          "section '%s/%s' not found at revision %" PRId64, job->ns, job->section,
                          job->revision);
    return ch_err_set(&job->err, CONFHUB_ENOTFOUND, "namespace '%s' not found at revision %" PRId64,
                      job->ns, job->revision);
}

/* Serialises v (consumed) as the job's body. */
static enum confhub_status answer_value(struct history_job *job, json_t *v)
{
    struct ch_format_opts opts = {.pretty = job->pretty};
    char *text = NULL;
    size_t len = 0;
    enum confhub_status rc;

    if (job->kind == JOB_EXPORT) {
        rc = ch_format_dump(job->format, v, &opts, &text, &len, &job->err);
        job->content_type = ch_format_media_type(job->format);
    } else {
        text = ch_json_dump(v, &len);
        rc = text ? CONFHUB_OK : ch_err_set(&job->err, CONFHUB_ENOMEM, "out of memory");
    }
    json_decref(v);
    if (rc == CONFHUB_OK && !ch_buf_add(&job->body, text, len))
        rc = ch_err_set(&job->err, CONFHUB_ENOMEM, "out of memory");
    ch_free(text);
    return rc;
}

static enum confhub_status run_past_read(struct history_job *job, struct ch_store *store)
{
    struct ch_store_scope scope = {job->ns, job->section, job->key};
    json_t *v = NULL;
    enum confhub_status rc;

    if (job->kind == JOB_NAMESPACES) {
        rc = ch_history_namespaces_at(store, job->revision, &v, NULL, &job->err);
        if (rc == CONFHUB_OK)
            v = json_pack("{s:o,s:I}", "namespaces", v, "revision", (json_int_t)job->revision);
        return rc != CONFHUB_OK ? rc : answer_value(job, v);
    }
    rc = ch_history_value_at(store, &scope, job->revision, &v, NULL, &job->err);
    if (rc != CONFHUB_OK)
        return rc;
    /* The default namespace always exists: empty, not missing. */
    if (!v && !job->section && strcmp(job->ns, "default") == 0)
        v = json_object();
    if (!v)
        return not_found(job);
    return answer_value(job, v);
}

static void run_job(struct ch_read_job *read, struct ch_store *store)
{
    struct history_job *job = (struct history_job *)read;
    struct ch_store_scope scope = {job->ns, job->section, job->key};

    switch (job->kind) {
    case JOB_EVENTS:
        job->status = ch_history_page_json(store, &job->filter, &job->body, &job->err);
        break;
    case JOB_DIFF:
        job->status =
            ch_history_diff_json(store, &scope, job->from, job->revision, &job->body, &job->err);
        break;
    default:
        job->status = run_past_read(job, store);
        break;
    }
}

static void job_done(struct ch_read_job *read)
{
    ch_http_deferred_post(&((struct history_job *)read)->deferred);
}

/* ---------------------------------------------------------------- back on the loop */

static void finish_job(struct ch_http_deferred *d)
{
    struct history_job *job = H2O_STRUCT_FROM_MEMBER(struct history_job, deferred, d);
    if (d->req && job->status != CONFHUB_OK) {
        /* "Not found at R" is an answer about R; other errors are about the request. */
        int64_t rev = job->status == CONFHUB_ENOTFOUND ? job->header_rev : -1;
        ch_http_send_error_at(d->loop, d->req, job->status, &job->err, rev, d->start_us);
    } else if (d->req) {
        char *copy = h2o_mem_alloc_pool(&d->req->pool, job->body.len + 1);
        memcpy(copy, job->body.ptr ? job->body.ptr : "", job->body.len);
        ch_http_send_at(d->loop, d->req, 200, job->content_type, copy, job->body.len, -1,
                        job->header_rev, d->start_us);
    }
    job_free(job);
}

static struct history_job *job_new(enum job_kind kind)
{
    struct history_job *job = ch_calloc(1, sizeof(*job));
    if (!job)
        return NULL;
    job->kind = kind;
    job->read.run = run_job;
    job->read.done = job_done;
    job->content_type = "application/json";
    job->header_rev = -1;
    job->filter.op = -1;
    ch_err_clear(&job->err);
    return job;
}

/* Hands job (consumed) to a history reader; the answer comes later. */
static enum confhub_status submit_job(struct ch_req *req, struct history_job *job,
                                      struct ch_resp *resp, struct ch_err *err)
{
    struct ch_reader *reader = req->loop->server->cfg.reader;
    if (!reader) {
        job_free(job);
        return ch_err_set(err, CONFHUB_EUNAVAIL, "history is not available on this server");
    }
    ch_http_defer(req, &job->deferred, finish_job);
    if (ch_reader_submit(reader, &job->read) != CONFHUB_OK) {
        ch_http_deferred_cancel(&job->deferred);
        job_free(job);
        return ch_err_set(err, CONFHUB_EUNAVAIL, "the server is shutting down");
    }
    resp->pending = true;
    return CONFHUB_OK;
}

/* ---------------------------------------------------------------- query parameters */

/* A name parameter (ns, section, key), checked like a path segment. */
static enum confhub_status query_name(struct ch_req *req, const char *name, char **out,
                                      struct ch_err *err)
{
    enum confhub_status rc = ch_http_query_text(req, name, out, err);
    if (rc != CONFHUB_OK || !*out)
        return rc;
    rc = ch_names_check(name, *out, strlen(*out), req->loop->server->limits->max_name_bytes, err);
    if (rc != CONFHUB_OK) {
        ch_free(*out);
        *out = NULL;
    }
    return rc;
}

/* A revision (or count) parameter: a non-negative integer. *out keeps its value when
 * absent. */
static enum confhub_status query_number(struct ch_req *req, const char *name, int64_t *out,
                                        bool *present, struct ch_err *err)
{
    const char *v;
    size_t len;
    if (present)
        *present = false;
    if (!ch_http_query_get(req, name, &v, &len))
        return CONFHUB_OK;
    if (!ch_num_parse(v, len, out))
        goto bad;
    if (present)
        *present = true;
    return CONFHUB_OK;
bad:
    return ch_err_set(err, CONFHUB_EINVAL, "%s '%.*s': expected a whole number (0 or more)", name,
                      (int)(len > 40 ? 40 : len), v);
}

static enum confhub_status query_time(struct ch_req *req, const char *name, int64_t *out,
                                      struct ch_err *err)
{
    char *text = NULL;
    enum confhub_status rc = ch_http_query_text(req, name, &text, err);
    if (rc != CONFHUB_OK || !text)
        return rc;
    if (!ch_time_parse_rfc3339(text, strlen(text), out))
        rc = ch_err_set(err, CONFHUB_EINVAL,
                        "%s '%.60s': expected an RFC 3339 time such as 2026-11-23T08:00:00Z", name,
                        text);
    ch_free(text);
    return rc;
}

/* ns, section and key parameters into the job; a section without ns means "default". */
static enum confhub_status query_scope(struct ch_req *req, struct history_job *job,
                                       struct ch_err *err)
{
    enum confhub_status rc = query_name(req, "ns", &job->ns, err);
    if (rc == CONFHUB_OK)
        rc = query_name(req, "section", &job->section, err);
    if (rc == CONFHUB_OK)
        rc = query_name(req, "key", &job->key, err);
    if (rc != CONFHUB_OK)
        return rc;
    if (job->key && !job->section)
        return ch_err_set(err, CONFHUB_EINVAL, "key needs section");
    if (job->section && !job->ns && !(job->ns = ch_strdup("default")))
        return ch_err_set(err, CONFHUB_ENOMEM, "out of memory");
    return CONFHUB_OK;
}

/* ---------------------------------------------------------------- GET /v1/history */

static enum confhub_status history_filter(struct ch_req *req, struct history_job *job,
                                          struct ch_err *err)
{
    struct ch_history_filter *f = &job->filter;
    const char *v;
    size_t len;
    int64_t limit = CH_HISTORY_DEFAULT_LIMIT;
    enum confhub_status rc = query_scope(req, job, err);

    if (rc == CONFHUB_OK)
        rc = ch_http_query_text(req, "prefix", &job->prefix, err);
    if (rc == CONFHUB_OK)
        rc = ch_http_query_text(req, "actor", &job->actor, err);
    if (rc == CONFHUB_OK)
        rc = query_number(req, "from_revision", &f->from_rev, NULL, err);
    if (rc == CONFHUB_OK)
        rc = query_number(req, "to_revision", &f->to_rev, NULL, err);
    if (rc == CONFHUB_OK)
        rc = query_number(req, "limit", &limit, NULL, err);
    if (rc == CONFHUB_OK)
        rc = query_time(req, "since", &f->since_ms, err);
    if (rc == CONFHUB_OK)
        rc = query_time(req, "until", &f->until_ms, err);
    if (rc != CONFHUB_OK)
        return rc;
    if (limit < 1 || limit > CH_HISTORY_MAX_LIMIT)
        return ch_err_set(err, CONFHUB_EINVAL, "limit %" PRId64 ": expected 1 to %d", limit,
                          CH_HISTORY_MAX_LIMIT);
    if (job->prefix && (!job->ns || job->section))
        return ch_err_set(err, CONFHUB_EINVAL, "prefix needs ns and no section");
    f->limit = (size_t)limit;
    if (ch_http_query_get(req, "op", &v, &len)) {
        if (len == 3 && memcmp(v, "set", 3) == 0)
            f->op = CH_STORE_SET;
        else if (len == 6 && memcmp(v, "delete", 6) == 0)
            f->op = CH_STORE_DELETE;
        else
            return ch_err_set(err, CONFHUB_EINVAL, "op '%.*s': expected set or delete",
                              (int)(len > 40 ? 40 : len), v);
    }
    if (ch_http_query_get(req, "order", &v, &len)) {
        bool asc = len == 3 && memcmp(v, "asc", 3) == 0;
        if (!asc && !(len == 4 && memcmp(v, "desc", 4) == 0))
            return ch_err_set(err, CONFHUB_EINVAL, "order '%.*s': expected asc or desc",
                              (int)(len > 40 ? 40 : len), v);
        f->desc = !asc;
    } else {
        f->desc = true;
    }
    if (ch_http_query_get(req, "cursor", &v, &len)) {
        rc = ch_history_cursor_parse(v, len, &f->after_rev, &f->after_seq, err);
        if (rc != CONFHUB_OK)
            return rc;
    }
    f->scope = (struct ch_store_scope){job->ns, job->section, job->key};
    f->section_prefix = job->prefix;
    f->actor = job->actor;
    return CONFHUB_OK;
}

enum confhub_status ch_api_history(struct ch_req *req, struct ch_resp *resp, struct ch_err *err)
{
    struct history_job *job = job_new(JOB_EVENTS);
    enum confhub_status rc;
    if (!job)
        return ch_err_set(err, CONFHUB_ENOMEM, "out of memory");
    rc = history_filter(req, job, err);
    if (rc != CONFHUB_OK) {
        job_free(job);
        return rc;
    }
    return submit_job(req, job, resp, err);
}

/* ---------------------------------------------------------------- GET /v1/diff */

enum confhub_status ch_api_diff(struct ch_req *req, struct ch_resp *resp, struct ch_err *err)
{
    struct history_job *job = job_new(JOB_DIFF);
    bool has_from = false;
    enum confhub_status rc;

    if (!job)
        return ch_err_set(err, CONFHUB_ENOMEM, "out of memory");
    job->revision = ch_http_current_revision(req->loop->server);
    rc = query_scope(req, job, err);
    if (rc == CONFHUB_OK)
        rc = query_number(req, "from", &job->from, &has_from, err);
    if (rc == CONFHUB_OK)
        rc = query_number(req, "to", &job->revision, NULL, err);
    if (rc == CONFHUB_OK && !has_from)
        rc =
            ch_err_set(err, CONFHUB_EINVAL, "from is required: GET /v1/diff?ns=NS&from=R1[&to=R2]");
    if (rc == CONFHUB_OK && !job->ns)
        rc = ch_err_set(err, CONFHUB_EINVAL, "ns is required: GET /v1/diff?ns=NS&from=R1[&to=R2]");
    if (rc != CONFHUB_OK) {
        job_free(job);
        return rc;
    }
    return submit_job(req, job, resp, err);
}

/* ---------------------------------------------------------------- ?revision=R */

enum confhub_status ch_http_read_at(struct ch_req *req, const char *what, struct ch_resp *resp,
                                    struct ch_err *err)
{
    static const struct {
        const char *what;
        enum job_kind kind;
    } kinds[] = {{"ns", JOB_NS},
                 {"section", JOB_SECTION},
                 {"key", JOB_KEY},
                 {"namespaces", JOB_NAMESPACES},
                 {"export", JOB_EXPORT}};
    enum job_kind kind = JOB_NS;
    struct history_job *job;
    enum confhub_status rc;
    const char *v;
    size_t len;

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kinds[i].what, what) == 0)
            kind = kinds[i].kind;
    if (kind == JOB_KEY && ch_http_query_get(req, "meta", &v, &len))
        return ch_err_set(err, CONFHUB_EINVAL,
                          "meta=true is not available with revision: history keeps values, "
                          "and the current mod_revision is at ?meta=true without revision");
    job = job_new(kind);
    if (!job)
        return ch_err_set(err, CONFHUB_ENOMEM, "out of memory");
    rc = query_number(req, "revision", &job->revision, NULL, err);
    job->header_rev = job->revision;
    job->pretty = ch_http_query_flag(req, "pretty");
    if (rc == CONFHUB_OK && req->n_params > 0 && !(job->ns = ch_strdup(req->params[0])))
        rc = ch_err_set(err, CONFHUB_ENOMEM, "out of memory");
    if (rc == CONFHUB_OK && kind != JOB_EXPORT && req->n_params > 1 &&
        !(job->section = ch_strdup(req->params[1])))
        rc = ch_err_set(err, CONFHUB_ENOMEM, "out of memory");
    if (rc == CONFHUB_OK && req->n_params > 2 && !(job->key = ch_strdup(req->params[2])))
        rc = ch_err_set(err, CONFHUB_ENOMEM, "out of memory");
    if (rc == CONFHUB_OK && kind == JOB_EXPORT)
        rc = ch_http_export_format(req, &job->format, err);
    if (rc != CONFHUB_OK) {
        job_free(job);
        return rc;
    }
    return submit_job(req, job, resp, err);
}

/* ---------------------------------------------------------------- POST /v1/rollback */

/* Reads member name of body as a checked name into *out (owned); absent leaves *out. */
static enum confhub_status body_name(struct ch_req *req, json_t *body, const char *name, char **out,
                                     struct ch_err *err)
{
    json_t *v = json_object_get(body, name);
    const char *s;
    if (!v)
        return CONFHUB_OK;
    if (!json_is_string(v))
        return ch_err_set(err, CONFHUB_EINVAL, "rollback: '%s' must be a string", name);
    s = json_string_value(v);
    if (ch_names_check(name, s, json_string_length(v), req->loop->server->limits->max_name_bytes,
                       err) != CONFHUB_OK)
        return err->code;
    ch_free(*out);
    *out = ch_strdup(s);
    return *out ? CONFHUB_OK : ch_err_set(err, CONFHUB_ENOMEM, "out of memory");
}

static enum confhub_status rollback_request(struct ch_req *req, json_t *body, struct ch_write *w,
                                            struct ch_err *err)
{
    static const char *const known[] = {"ns", "section", "key", "to_revision", "dry_run"};
    const char *member;
    json_t *v;
    enum confhub_status rc = CONFHUB_OK;

    if (!json_is_object(body))
        return ch_err_set(err, CONFHUB_EINVAL,
                          "rollback: the body must be an object {\"ns\",\"section\",\"key\","
                          "\"to_revision\",\"dry_run\"}");
    json_object_foreach(body, member, v)
    {
        bool ok = false;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            ok = ok || strcmp(member, known[i]) == 0;
        if (!ok)
            return ch_err_set(err, CONFHUB_EINVAL, "rollback: unknown member '%.100s'", member);
    }
    v = json_object_get(body, "to_revision");
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return ch_err_set(err, CONFHUB_EINVAL,
                          "rollback: 'to_revision' must be a revision number (0 or more)");
    w->to_revision = json_integer_value(v);
    v = json_object_get(body, "dry_run");
    if (v && !json_is_boolean(v))
        return ch_err_set(err, CONFHUB_EINVAL, "rollback: 'dry_run' must be true or false");
    w->dry_run = json_is_true(v);
    w->ns = ch_strdup("default");
    if (!w->ns)
        return ch_err_set(err, CONFHUB_ENOMEM, "out of memory");
    rc = body_name(req, body, "ns", &w->ns, err);
    if (rc == CONFHUB_OK)
        rc = body_name(req, body, "section", &w->section, err);
    if (rc == CONFHUB_OK)
        rc = body_name(req, body, "key", &w->key, err);
    if (rc == CONFHUB_OK && w->key && !w->section)
        rc = ch_err_set(err, CONFHUB_EINVAL, "rollback: 'key' needs 'section'");
    return rc;
}

enum confhub_status ch_api_rollback(struct ch_req *req, struct ch_resp *resp, struct ch_err *err)
{
    struct ch_write *w = ch_write_new(CH_WRITE_ROLLBACK);
    json_t *body = NULL;
    enum confhub_status rc;

    if (!w)
        return ch_err_set(err, CONFHUB_ENOMEM, "out of memory");
    w->want_diff = true;
    rc = req->body_len ? CONFHUB_OK
                       : ch_err_set(err, CONFHUB_EINVAL,
                                    "request body is empty: send "
                                    "{\"ns\",\"to_revision\"}");
    if (rc == CONFHUB_OK)
        rc = ch_json_parse("request body", req->body, req->body_len,
                           req->loop->server->limits->max_json_depth, &body, err);
    if (rc == CONFHUB_OK)
        rc = rollback_request(req, body, w, err);
    json_decref(body);
    if (rc != CONFHUB_OK) {
        ch_write_free(w);
        return rc;
    }
    return ch_http_submit_write(req, w, resp, err); /* takes w */
}
