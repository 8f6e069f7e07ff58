/* SPDX-License-Identifier: MIT */
/*
 * http_routes.c: THE route table, the dispatcher, and the one place where a status becomes
 * an HTTP status code and an error body (STYLE B8).
 *
 * The dispatcher, in order: match method and path, the most specific pattern winning so a
 * literal segment shadows a capture (404, or 405 with Allow); refuse a body on a
 * route that takes none and a media type that is not JSON (415); percent-decode and validate
 * the captures as names; enter a read section for RT_READ routes; call the handler; turn its
 * status into the answer; write the access-log line. Handlers never pick an HTTP status for
 * an error and never format an error body.
 */
#include <inttypes.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/names.h"
#include "common/timeutil.h"
#include "http_int.h"

enum route_flags {
    RT_READ = 1 << 0,    /* served from the in-memory model inside a read section */
    RT_WRITE = 1 << 1,   /* goes to the writer thread */
    RT_TEXT = 1 << 2,    /* answers text/plain (health checks) */
    RT_ANY_BODY = 1 << 3 /* the body may be any text format (import); the handler checks it */
};

struct route {
    const char *method;
    const char *pattern; /* "/"-separated segments; "{name}" captures one segment */
    route_fn *handler;
    unsigned flags;
    bool body; /* takes a request body (bounded by max-body-bytes) */
};

/* clang-format off */
static const struct route routes[] = {
    /* method    pattern                           handler                 flags              body */
    {"GET",    "/healthz",                         ch_api_healthz,         RT_TEXT,           false},
    {"GET",    "/v1/status",                       ch_api_status,          RT_READ,           false},
    {"GET",    "/v1/limits",                       ch_api_limits,          0,                 false},
    {"GET",    "/v1/namespaces",                   ch_api_namespaces,      RT_READ,           false},
    {"PUT",    "/v1/import",                       ch_api_import_stream,   RT_WRITE | RT_ANY_BODY, true},
    {"POST",   "/v1/txn",                          ch_api_txn,             RT_WRITE,          true},
    {"GET",    "/v1/history",                      ch_api_history,         0,                 false},
    {"GET",    "/v1/diff",                         ch_api_diff,            0,                 false},
    {"POST",   "/v1/rollback",                     ch_api_rollback,        RT_WRITE,          true},
    {"GET",    "/v1/ns/{ns}",                      ch_api_get_ns,          RT_READ,           false},
    {"PUT",    "/v1/ns/{ns}",                      ch_api_put_ns,          RT_WRITE,          true},
    {"PATCH",  "/v1/ns/{ns}",                      ch_api_patch_ns,        RT_WRITE,          true},
    {"DELETE", "/v1/ns/{ns}",                      ch_api_delete_ns,       RT_WRITE,          false},
    {"GET",    "/v1/ns/{ns}/export",               ch_api_export,          RT_READ,           false},
    {"PUT",    "/v1/ns/{ns}/import",               ch_api_import,          RT_WRITE | RT_ANY_BODY, true},
    {"GET",    "/v1/ns/{ns}/{section}",            ch_api_get_section,     RT_READ,           false},
    {"PUT",    "/v1/ns/{ns}/{section}",            ch_api_put_section,     RT_WRITE,          true},
    {"PATCH",  "/v1/ns/{ns}/{section}",            ch_api_patch_section,   RT_WRITE,          true},
    {"DELETE", "/v1/ns/{ns}/{section}",            ch_api_delete_section,  RT_WRITE,          false},
    {"GET",    "/v1/ns/{ns}/{section}/{key}",      ch_api_get_key,         RT_READ,           false},
    {"PUT",    "/v1/ns/{ns}/{section}/{key}",      ch_api_put_key,         RT_WRITE,          true},
    {"DELETE", "/v1/ns/{ns}/{section}/{key}",      ch_api_delete_key,      RT_WRITE,          false},
    {"GET",    "/v1/watch",                        ch_api_watch,           0,                 false},
    {"GET",    "/v1/debug/ws-echo",                ch_api_ws_echo,         0,                 false},
};

/* clang-format on */
#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

static int match(const char *pattern, const char *path, size_t path_len, h2o_iovec_t *caps,
                 size_t *n_caps);

static const int http_status_of[] = {
    [CONFHUB_OK] = 200,         [CONFHUB_EINVAL] = 400,     [CONFHUB_ENOTFOUND] = 404,
    [CONFHUB_ECONFLICT] = 412,  [CONFHUB_ECOMPACTED] = 410, [CONFHUB_ETOOBIG] = 413,
    [CONFHUB_ENOMEM] = 503,     [CONFHUB_EIO] = 503,        [CONFHUB_EUNAVAIL] = 503,
    [CONFHUB_EMETHOD] = 405,    [CONFHUB_EMEDIATYPE] = 415, [CONFHUB_EVERSION] = 500,
    [CONFHUB_EFORBIDDEN] = 403,
};
_Static_assert(sizeof(http_status_of) / sizeof(http_status_of[0]) == CONFHUB_STATUS_COUNT,
               "http_status_of must cover every confhub_status");

static const char *reason_of(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 410:
        return "Gone";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 503:
        return "Service Unavailable";
    default:
        return "Internal Server Error";
    }
}

/* ---------------------------------------------------------------- matching */

/*
 * Matches the raw path against pattern. Returns the number of literal segments matched (how
 * specific the match is), or -1 when it does not match; fills the raw captures. Literal
 * segments are compared before percent-decoding, so "/v1/ns/x/%65xport" is the section named
 * "export", while "/v1/ns/x/export" is the export route.
 */
static int match(const char *pattern, const char *path, size_t path_len, h2o_iovec_t *caps,
                 size_t *n_caps)
{
    const char *p = pattern, *s = path, *end = path + path_len;
    int literals = 0;
    *n_caps = 0;
    while (*p && s < end) {
        if (*p != '/' || *s != '/')
            return -1;
        p++;
        s++;
        const char *pseg_end = strchr(p, '/');
        size_t plen = pseg_end ? (size_t)(pseg_end - p) : strlen(p);
        const char *sseg_end = memchr(s, '/', (size_t)(end - s));
        size_t slen = sseg_end ? (size_t)(sseg_end - s) : (size_t)(end - s);
        if (p[0] == '{') {
            if (*n_caps == HTTP_MAX_PARAMS)
                return -1;
            caps[(*n_caps)++] = h2o_iovec_init(s, slen);
        } else if (plen != slen || memcmp(p, s, slen) != 0) {
            return -1;
        } else {
            literals++;
        }
        p += plen;
        s += slen;
    }
    return *p == '\0' && s == end ? literals : -1;
}

static bool method_is(const h2o_req_t *req, const char *method)
{
    size_t len = strlen(method);
    return req->method.len == len && memcmp(req->method.base, method, len) == 0;
}

/* ---------------------------------------------------------------- answers */

static void add_header(h2o_req_t *req, const h2o_token_t *token, const char *value, size_t len)
{
    h2o_add_header(&req->pool, &req->res.headers, token, NULL, value, len);
}

/* Writes v in decimal at out (room for 20 digits) and returns the length. snprintf costs more
 * than the rest of a read's bookkeeping, and every answer carries two of these numbers. */
static size_t format_i64(char *out, int64_t v)
{
    char tmp[24];
    size_t n = 0, len = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        out[len++] = '-';
    while (n)
        out[len++] = tmp[--n];
    return len;
}

static void add_revision_header(h2o_req_t *req, int64_t rev)
{
    char *buf = h2o_mem_alloc_pool(&req->pool, 24);
    size_t len = format_i64(buf, rev);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-confhub-revision"), 0,
                          "X-Confhub-Revision", buf, len);
}

static void access_log(struct http_loop *loop, h2o_req_t *req, int status, size_t bytes,
                       int64_t start_us, int64_t rev)
{
    FILE *out = loop->server->access_log;
    char ts[32], host[NI_MAXHOST] = "-", line[2048];
    struct sockaddr_storage sa;
    socklen_t salen;
    int len;

    if (!out)
        return;
    salen = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&sa);
    if (salen > 0 && h2o_socket_getnumerichost((struct sockaddr *)&sa, salen, host) == SIZE_MAX)
        strcpy(host, "-");
    ch_time_format_ms(ch_time_now_ms(), ts, sizeof(ts));
    len = snprintf(line, sizeof(line), "%s %s %.*s %.*s %d %zu %" PRId64 "us rev=%" PRId64 "\n", ts,
                   host, (int)req->method.len, req->method.base,
                   (int)(req->path.len > 1024 ? 1024 : req->path.len), req->path.base, status,
                   bytes, ch_time_mono_us() - start_us, rev);
    if (len > (int)sizeof(line) - 1)
        len = (int)sizeof(line) - 1;
    fwrite(line, 1, (size_t)len, out);
    fflush(out);
}

void ch_http_send_at(struct http_loop *loop, h2o_req_t *req, int status, const char *content_type,
                     const char *body, size_t len, int64_t etag, int64_t rev, int64_t start_us)
{
    if (rev < 0)
        rev = ch_http_current_revision(loop->server);
    req->res.status = status;
    req->res.reason = reason_of(status);
    add_header(req, H2O_TOKEN_CONTENT_TYPE, content_type, strlen(content_type));
    add_revision_header(req, rev);
    if (etag >= 0) {
        char *buf = h2o_mem_alloc_pool(&req->pool, 24);
        size_t n = 1 + format_i64(buf + 1, etag);
        buf[0] = '"';
        buf[n++] = '"';
        add_header(req, H2O_TOKEN_ETAG, buf, (size_t)n);
    }
    access_log(loop, req, status, len, start_us, rev);
    req->res.content_length = len; /* not chunked: every answer is complete here */
    h2o_send_inline(req, body, len);
}

/* Sends status with body and the common headers; X-Confhub-Revision is the current one. */
static void send_answer(struct http_loop *loop, h2o_req_t *req, int status,
                        const char *content_type, const char *body, size_t len, int64_t etag,
                        int64_t start_us)
{
    ch_http_send_at(loop, req, status, content_type, body, len, etag, -1, start_us);
}

static void send_allow(h2o_req_t *req, const char *path, size_t path_len, int best)
{
    char allow[64] = "";
    for (size_t i = 0; i < N_ROUTES; i++) {
        h2o_iovec_t caps[HTTP_MAX_PARAMS];
        size_t n;
        if (match(routes[i].pattern, path, path_len, caps, &n) != best ||
            strstr(allow, routes[i].method))
            continue;
        if (allow[0])
            strcat(allow, ", ");
        strcat(allow, routes[i].method);
    }
    char *v = h2o_strdup(&req->pool, allow, SIZE_MAX).base;
    add_header(req, H2O_TOKEN_ALLOW, v, strlen(v));
}

void ch_http_send_error(struct http_loop *loop, h2o_req_t *req, const struct route *route,
                        enum confhub_status code, const struct ch_err *err, int64_t start_us)
{
    (void)route;
    ch_http_send_error_at(loop, req, code, err, -1, start_us);
}

void ch_http_send_error_at(struct http_loop *loop, h2o_req_t *req, enum confhub_status code,
                           const struct ch_err *err, int64_t rev, int64_t start_us)
{
    int status = http_status_of[code];
    json_t *body, *inner;
    char *text;

    inner = json_pack("{s:s,s:s}", "code", ch_err_code_name(code), "message",
                      err && err->msg[0] ? err->msg : confhub_strerror(code));
    if (inner && err && err->line > 0) {
        json_object_set_new(inner, "line", json_integer(err->line));
        json_object_set_new(inner, "column", json_integer(err->column));
    }
    if (inner && err && code == CONFHUB_ECONFLICT && err->mod_rev >= 0)
        json_object_set_new(inner, "mod_revision", json_integer(err->mod_rev));
    if (inner && err && code == CONFHUB_ECOMPACTED && err->oldest_rev >= 0)
        json_object_set_new(inner, "oldest_revision", json_integer(err->oldest_rev));
    body = inner ? json_pack("{s:o}", "error", inner) : NULL;
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (text) {
        size_t len = strlen(text);
        char *copy = h2o_mem_alloc_pool(&req->pool, len + 1);
        memcpy(copy, text, len + 1);
        free(text);
        ch_http_send_at(loop, req, status, "application/json", copy, len, -1, rev, start_us);
    } else {
        static const char oom[] =
            "{\"error\":{\"code\":\"out_of_memory\",\"message\":\"out of memory\"}}";
        send_answer(loop, req, 503, "application/json", oom, sizeof(oom) - 1, -1, start_us);
    }
    json_decref(body);
}

/* ---------------------------------------------------------------- request checks */

static bool is_json_media_type(h2o_iovec_t ct)
{
    size_t len = ct.len;
    const char *semi = memchr(ct.base, ';', ct.len);
    if (semi)
        len = (size_t)(semi - ct.base);
    while (len && ct.base[len - 1] == ' ')
        len--;
    /* application/json, anything +json, and curl -d's default form type (the body is still
     * parsed as JSON and refused with 400 when it is not). */
    if (h2o_lcstris(ct.base, len, H2O_STRLIT("application/json")) ||
        h2o_lcstris(ct.base, len, H2O_STRLIT("application/x-www-form-urlencoded")) ||
        h2o_lcstris(ct.base, len, H2O_STRLIT("text/plain")))
        return true;
    return len > 5 && h2o_lcstris(ct.base + len - 5, 5, H2O_STRLIT("+json"));
}

static enum confhub_status decode_params(struct ch_req *r, const h2o_iovec_t *caps, size_t n_caps,
                                         struct ch_err *err)
{
    static const char *const what[HTTP_MAX_PARAMS] = {"namespace", "section", "key"};
    size_t max = r->loop->server->limits->max_name_bytes;
    for (size_t i = 0; i < n_caps; i++) {
        char *out = h2o_mem_alloc_pool(&r->h2o->pool, caps[i].len + 1);
        size_t len = 0;
        enum confhub_status rc = ch_names_percent_decode(caps[i].base, caps[i].len, out, &len, err);
        if (rc == CONFHUB_OK)
            rc = ch_names_check(what[i], out, len, max, err);
        if (rc != CONFHUB_OK)
            return rc;
        r->params[i] = out;
        r->param_len[i] = len;
    }
    r->n_params = n_caps;
    return CONFHUB_OK;
}

bool ch_http_query_get(const struct ch_req *req, const char *name, const char **value, size_t *len)
{
    size_t name_len = strlen(name);
    const char *p = req->query, *end = req->query + req->query_len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pair_end = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pair_end - p));
        const char *key_end = eq ? eq : pair_end;
        if ((size_t)(key_end - p) == name_len && memcmp(p, name, name_len) == 0) {
            *value = eq ? eq + 1 : pair_end;
            *len = eq ? (size_t)(pair_end - eq - 1) : 0;
            return true;
        }
        p = pair_end + 1;
    }
    return false;
}

bool ch_http_query_flag(const struct ch_req *req, const char *name)
{
    const char *v;
    size_t len;
    if (!ch_http_query_get(req, name, &v, &len))
        return false;
    return len == 0 || (len == 4 && memcmp(v, "true", 4) == 0) || (len == 1 && v[0] == '1');
}

enum confhub_status ch_http_query_text(struct ch_req *req, const char *name, char **out,
                                       struct ch_err *err)
{
    const char *raw;
    size_t raw_len, len = 0;
    *out = NULL;
    if (!ch_http_query_get(req, name, &raw, &raw_len))
        return CONFHUB_OK;
    char *text = ch_malloc(raw_len + 1);
    if (!text)
        return ch_err_set(err, CONFHUB_ENOMEM, "out of memory");
    if (ch_names_percent_decode(raw, raw_len, text, &len, err) != CONFHUB_OK) {
        char why[sizeof(err->msg)]; /* the message is formatted into the buffer it quotes */
        snprintf(why, sizeof(why), "%s", err->msg);
        ch_free(text);
        return ch_err_set(err, CONFHUB_EINVAL, "query parameter '%s': %s", name, why);
    }
    *out = text;
    return CONFHUB_OK;
}

enum confhub_status ch_http_actor(struct ch_req *req, char *out, size_t out_len, struct ch_err *err)
{
    ssize_t i = h2o_find_header_by_str(&req->h2o->headers, H2O_STRLIT("x-confhub-actor"), -1);
    h2o_iovec_t v;

    if (i < 0) {
        snprintf(out, out_len, "anonymous");
        return CONFHUB_OK;
    }
    v = req->h2o->headers.entries[i].value;
    if (v.len == 0 || v.len >= out_len)
        return ch_err_set(err, CONFHUB_EINVAL, "X-Confhub-Actor must be 1 to %zu bytes, not %zu",
                          out_len - 1, v.len);
    for (size_t k = 0; k < v.len; k++)
        if ((unsigned char)v.base[k] < 0x20 || v.base[k] == 0x7f)
            return ch_err_set(err, CONFHUB_EINVAL,
                              "X-Confhub-Actor holds a control character at byte %zu", k + 1);
    if (!ch_names_utf8_valid(v.base, v.len))
        return ch_err_set(err, CONFHUB_EINVAL, "X-Confhub-Actor is not valid UTF-8");
    memcpy(out, v.base, v.len);
    out[v.len] = '\0';
    return CONFHUB_OK;
}

/*
 * A browser sends a page's requests to any address it can reach and names the page in Origin.
 * It withholds the answers from other origins (we send no CORS headers), but a POST with a
 * text/plain body, which we take as JSON for curl's sake, is sent without asking, and a
 * WebSocket is opened without asking at all. So those requests are taken from a page only when
 * it is the server's own (Origin's host and port are the Host asked for) or --allowed-origin
 * names it ("*": any). Requests without Origin do not come from a page and pass.
 */
enum confhub_status ch_http_check_origin(struct ch_req *req, struct ch_err *err)
{
    const struct ch_http_config *cfg = &req->loop->server->cfg;
    h2o_req_t *r = req->h2o;
    ssize_t i = h2o_find_header_by_str(&r->headers, H2O_STRLIT("origin"), -1);
    h2o_iovec_t origin;
    const char *sep;

    if (i < 0)
        return CONFHUB_OK;
    origin = r->headers.entries[i].value;
    for (size_t k = 0; k < cfg->n_allowed_origins; k++) {
        const char *allowed = cfg->allowed_origins[k];
        if (strcmp(allowed, "*") == 0 ||
            h2o_lcstris(origin.base, origin.len, allowed, strlen(allowed)))
            return CONFHUB_OK;
    }
    sep = memmem(origin.base, origin.len, "://", 3);
    if (sep && r->authority.len &&
        h2o_lcstris(sep + 3, origin.len - (size_t)(sep + 3 - origin.base), r->authority.base,
                    r->authority.len))
        return CONFHUB_OK;
    return ch_err_set(err, CONFHUB_EFORBIDDEN,
                      "request from a page of origin '%.*s' refused: it is not this server's "
                      "origin; start the server with --allowed-origin %.*s to allow its pages",
                      (int)(origin.len > 200 ? 200 : origin.len), origin.base,
                      (int)(origin.len > 200 ? 200 : origin.len), origin.base);
}

/* ---------------------------------------------------------------- dispatch */

int ch_http_dispatch(struct http_loop *loop, h2o_req_t *h2o_req)
{
    struct ch_req r = {.h2o = h2o_req, .loop = loop, .start_us = ch_time_mono_us()};
    struct ch_resp resp = {.etag = -1};
    struct ch_err err;
    const struct route *route = NULL;
    h2o_iovec_t caps[HTTP_MAX_PARAMS];
    size_t n_caps = 0, path_len;
    const char *path = h2o_req->path.base;
    const char *q;
    int best = -1;
    enum confhub_status rc;

    ch_err_clear(&err);
    q = memchr(path, '?', h2o_req->path.len);
    path_len = q ? (size_t)(q - path) : h2o_req->path.len;
    r.query = q ? q + 1 : "";
    r.query_len = q ? h2o_req->path.len - path_len - 1 : 0;

    /* One pass: the first route with the best specificity and this method. */
    for (size_t i = 0; i < N_ROUTES; i++) {
        h2o_iovec_t c[HTTP_MAX_PARAMS];
        size_t n = 0;
        int m = match(routes[i].pattern, path, path_len, c, &n);
        if (m > best) {
            best = m;
            route = NULL;
        }
        if (m == best && m >= 0 && !route && method_is(h2o_req, routes[i].method)) {
            route = &routes[i];
            memcpy(caps, c, sizeof(c));
            n_caps = n;
        }
    }
    if (!route) {
        if (best >= 0) {
            send_allow(h2o_req, path, path_len, best);
            rc = ch_err_set(&err, CONFHUB_EMETHOD, "method %.*s is not allowed on %.*s",
                            (int)h2o_req->method.len, h2o_req->method.base, (int)path_len, path);
        } else {
            rc = ch_err_set(&err, CONFHUB_ENOTFOUND, "no route for %.*s (see docs/api.md)",
                            (int)(path_len > 200 ? 200 : path_len), path);
        }
        ch_http_send_error(loop, h2o_req, NULL, rc, &err, r.start_us);
        return 0;
    }
    r.route = route;
    /* Writes: a page of another origin must not change anything (ch_http_check_origin). */
    if (!method_is(h2o_req, "GET") && !method_is(h2o_req, "HEAD") &&
        (rc = ch_http_check_origin(&r, &err)) != CONFHUB_OK)
        goto fail;
    r.body = h2o_req->entity.base ? h2o_req->entity.base : "";
    r.body_len = h2o_req->entity.base ? h2o_req->entity.len : 0;
    if (r.body_len > loop->server->limits->max_body_bytes) {
        rc = ch_err_set(&err, CONFHUB_ETOOBIG,
                        "request body is %zu bytes, over the limit of %zu (max-body-bytes)",
                        r.body_len, loop->server->limits->max_body_bytes);
        goto fail;
    }
    if (!route->body && r.body_len > 0) {
        rc = ch_err_set(&err, CONFHUB_EINVAL, "%s %s takes no request body", route->method,
                        route->pattern);
        goto fail;
    }
    if (route->body && !(route->flags & RT_ANY_BODY)) {
        ssize_t i = h2o_find_header(&h2o_req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
        if (i >= 0 && !is_json_media_type(h2o_req->headers.entries[i].value)) {
            h2o_iovec_t ct = h2o_req->headers.entries[i].value;
            rc = ch_err_set(&err, CONFHUB_EMEDIATYPE,
                            "Content-Type '%.*s' is not supported: send application/json",
                            (int)(ct.len > 100 ? 100 : ct.len), ct.base);
            goto fail;
        }
    }
    rc = decode_params(&r, caps, n_caps, &err);
    if (rc != CONFHUB_OK)
        goto fail;

    if (route->flags & RT_READ)
        r.state = ch_model_read_begin(loop->server->model, loop->index);
    rc = route->handler(&r, &resp, &err);
    if (rc == CONFHUB_OK && !resp.pending) {
        int status = resp.http_status ? resp.http_status : 200;
        const char *ct = resp.content_type          ? resp.content_type
                         : (route->flags & RT_TEXT) ? "text/plain"
                                                    : "application/json";
        send_answer(loop, h2o_req, status, ct, resp.body, resp.body_len, resp.etag, r.start_us);
    }
    if (route->flags & RT_READ)
        ch_model_read_end(loop->server->model, loop->index);
    if (rc == CONFHUB_OK)
        return 0;
fail:
    ch_http_send_error(loop, h2o_req, route, rc, &err, r.start_us);
    return 0;
}

/* The answer body of a successful write; NULL when out of memory. */
static json_t *write_answer(const struct ch_write *w)
{
    bool is_delete = w->op == CH_WRITE_DELETE_KEY || w->op == CH_WRITE_DELETE_SECTION ||
                     w->op == CH_WRITE_DELETE_NS;
    json_t *body;

    if (w->dry_run) {
        body = json_deep_copy(w->result);
        if (body && (json_object_set_new(body, "dry_run", json_true()) != 0 ||
                     json_object_set_new(body, "revision", json_integer(w->revision)) != 0)) {
            json_decref(body);
            body = NULL;
        }
        return body;
    }
    if (w->want_diff)
        return json_pack("{s:I,s:b,s:I,s:I,s:I}", "revision", (json_int_t)w->revision, "changed",
                         w->changed, "added", (json_int_t)w->n_added, "changed_keys",
                         (json_int_t)w->n_changed, "removed", (json_int_t)w->n_removed);
    if (w->op == CH_WRITE_TXN)
        return json_pack("{s:b,s:I,s:O}", "succeeded", w->succeeded, "revision",
                         (json_int_t)w->revision, "results", w->result);
    if (is_delete)
        return json_pack("{s:I}", "revision", (json_int_t)w->revision);
    if (w->op == CH_WRITE_PUT_KEY)
        return json_pack("{s:I,s:I,s:I,s:b}", "revision", (json_int_t)w->revision, "mod_revision",
                         (json_int_t)w->mod_rev, "version", (json_int_t)w->version, "changed",
                         w->changed);
    return json_pack("{s:I,s:I,s:b}", "revision", (json_int_t)w->revision, "mod_revision",
                     (json_int_t)w->mod_rev, "changed", w->changed);
}

void ch_http_finish_write(struct http_loop *loop, struct ch_write *w, h2o_req_t *req,
                          int64_t start_us)
{
    json_t *body;
    char *text;
    bool has_etag = w->op != CH_WRITE_TXN && !w->dry_run && !w->want_diff &&
                    w->op != CH_WRITE_DELETE_KEY && w->op != CH_WRITE_DELETE_SECTION &&
                    w->op != CH_WRITE_DELETE_NS;

    if (w->status != CONFHUB_OK) {
        ch_http_send_error(loop, req, NULL, w->status, &w->err, start_us);
        return;
    }
    body = write_answer(w);
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        struct ch_err err;
        ch_err_clear(&err);
        ch_err_set(&err, CONFHUB_ENOMEM,
                   "write committed at revision %lld, but the answer could not be built: out of "
                   "memory",
                   (long long)w->revision);
        ch_http_send_error(loop, req, NULL, CONFHUB_ENOMEM, &err, start_us);
        return;
    }
    size_t len = strlen(text);
    char *copy = h2o_mem_alloc_pool(&req->pool, len);
    memcpy(copy, text, len);
    free(text);
    send_answer(loop, req, w->created ? 201 : 200, "application/json", copy, len,
                has_etag ? w->mod_rev : -1, start_us);
}

void ch_http_print_routes(FILE *out)
{
    for (size_t i = 0; i < N_ROUTES; i++) {
        const struct route *r = &routes[i];
        fprintf(out, "%-7s %-32s %s%s%s\n", r->method, r->pattern,
                r->flags & RT_READ    ? "read"
                : r->flags & RT_WRITE ? "write"
                                      : "meta",
                r->body ? " body" : "", "");
    }
}
