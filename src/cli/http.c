/* SPDX-License-Identifier: MIT */
/*
 * http.c: the CLI's libcurl wrapper (see http.h).
 *
 * The easy handle is reused across requests so a multi-request command keeps its connection;
 * every option that varies per request is reset in ch_cli_http_request().
 */
#include "cli/http.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/alloc.h"

#define CONNECT_TIMEOUT_MS 5000L
#define TOTAL_TIMEOUT_MS   30000L

struct ch_cli_http {
    CURL *curl;                   /* owned easy handle */
    char *base;                   /* owned base URL without a trailing '/' */
    char errbuf[CURL_ERROR_SIZE]; /* libcurl's detail for the last failed transfer */
};

/* Accumulates one response; lives on ch_cli_http_request's stack. */
struct sink {
    struct ch_cli_resp *resp;
    size_t cap;     /* bytes allocated for resp->body */
    bool too_big;   /* the body went over CH_CLI_HTTP_MAX_BODY */
    bool no_memory; /* an allocation failed while receiving */
};

enum confhub_status ch_cli_http_new(const char *base_url, struct ch_cli_http **out,
                                    struct ch_err *err)
{
    struct ch_cli_http *h = NULL;
    enum confhub_status rc = CONFHUB_OK;
    size_t len = strlen(base_url);

    if (strncasecmp(base_url, "http://", 7) != 0 && strncasecmp(base_url, "https://", 8) != 0) {
        return ch_err_set(err, CONFHUB_EINVAL,
                          "bad server url '%s': it must start with http:// or https://", base_url);
    }
    while (len > 0 && base_url[len - 1] == '/')
        len--;

    h = ch_calloc(1, sizeof(*h));
    if (!h) {
        rc = ch_err_set(err, CONFHUB_ENOMEM, "cannot create http client: out of memory");
        goto done;
    }
    h->base = ch_strndup(base_url, len);
    h->curl = curl_easy_init();
    if (!h->base || !h->curl) {
        rc = ch_err_set(err, CONFHUB_ENOMEM, "cannot create http client: out of memory");
        goto done;
    }
    *out = h;
    h = NULL;
done:
    ch_cli_http_free(h);
    return rc;
}

void ch_cli_http_free(struct ch_cli_http *h)
{
    if (!h)
        return;
    if (h->curl)
        curl_easy_cleanup(h->curl);
    ch_free(h->base);
    ch_free(h);
}

const char *ch_cli_http_base(const struct ch_cli_http *h)
{
    return h->base;
}

char *ch_cli_http_escape(struct ch_cli_http *h, const char *name)
{
    /* curl's copy must be released with curl_free; hand the caller one of ours instead. */
    char *escaped = curl_easy_escape(h->curl, name, (int)strlen(name));
    char *copy = NULL;

    if (escaped)
        copy = ch_strdup(escaped);
    curl_free(escaped);
    return copy;
}

void ch_cli_http_resp_clear(struct ch_cli_resp *resp)
{
    ch_free(resp->body);
    memset(resp, 0, sizeof(*resp));
    resp->revision = -1;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct sink *sink = userdata;
    struct ch_cli_resp *resp = sink->resp;
    size_t n = size * nmemb;

    if (n > CH_CLI_HTTP_MAX_BODY - resp->body_len) {
        sink->too_big = true;
        return 0; /* makes curl abort the transfer with CURLE_WRITE_ERROR */
    }
    if (resp->body_len + n + 1 > sink->cap) {
        size_t cap = sink->cap ? sink->cap : 4096;
        char *grown;
        while (cap < resp->body_len + n + 1)
            cap *= 2;
        grown = ch_realloc(resp->body, cap);
        if (!grown) {
            sink->no_memory = true;
            return 0;
        }
        resp->body = grown;
        sink->cap = cap;
    }
    memcpy(resp->body + resp->body_len, data, n);
    resp->body_len += n;
    resp->body[resp->body_len] = '\0';
    return n;
}

/* Copies the value of header line "Name: value\r\n" into out when its name is name. */
static bool header_value(const char *line, size_t len, const char *name, char *out, size_t out_len)
{
    size_t name_len = strlen(name);
    size_t start, end;

    if (len <= name_len || strncasecmp(line, name, name_len) != 0 || line[name_len] != ':')
        return false;
    start = name_len + 1;
    end = len;
    while (start < end && (line[start] == ' ' || line[start] == '\t'))
        start++;
    while (end > start && isspace((unsigned char)line[end - 1]))
        end--;
    if (end - start >= out_len)
        return false;
    memcpy(out, line + start, end - start);
    out[end - start] = '\0';
    return true;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct sink *sink = userdata;
    struct ch_cli_resp *resp = sink->resp;
    size_t n = size * nmemb;
    char value[64] = "";

    if (header_value(data, n, "X-Confhub-Revision", value, sizeof(value))) {
        char *end = NULL;
        long long rev = strtoll(value, &end, 10);
        if (end != value && *end == '\0' && rev >= 0)
            resp->revision = rev;
    } else if (header_value(data, n, "ETag", value, sizeof(value))) {
        /* Keep the revision only: W/"7" and "7" both become 7. */
        const char *v = value;
        size_t len;
        if (strncmp(v, "W/", 2) == 0)
            v += 2;
        len = strlen(v);
        if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
            v++;
            len -= 2;
        }
        memcpy(resp->etag, v, len);
        resp->etag[len] = '\0';
    }
    return n;
}

/* Adapts libcurl's transfer-info callback to ch_cli_http_progress_fn (upload side only). */
struct progress_hook {
    ch_cli_http_progress_fn *fn;
    void *userdata;
};

static int on_xferinfo(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    const struct progress_hook *hook = clientp;

    (void)dltotal;
    (void)dlnow;
    if (ulnow >= 0 && ultotal >= 0)
        hook->fn(hook->userdata, (uint64_t)ulnow, (uint64_t)ultotal);
    return 0; /* non-zero would abort the transfer */
}

/* Appends line to *list; false when out of memory (curl_slist_append then frees nothing). */
static bool add_header(struct curl_slist **list, const char *line)
{
    struct curl_slist *next = curl_slist_append(*list, line);

    if (!next)
        return false;
    *list = next;
    return true;
}

/*
 * What every request shares: clears resp, builds the URL and the header list (Accept, then
 * Content-Type when content_type is not NULL, then extra), resets the easy handle and sets the
 * options common to all requests. OUT: *url and *list, which the caller frees (also on
 * failure). Returns false when out of memory.
 */
static bool prepare(struct ch_cli_http *h, const char *method, const char *path, const char *accept,
                    const char *content_type, const char *const *extra, struct ch_cli_resp *resp,
                    char **url, struct curl_slist **list)
{
    size_t url_len = strlen(h->base) + strlen(path) + 1;
    char line[160];
    size_t i;

    ch_cli_http_resp_clear(resp);
    *url = ch_malloc(url_len);
    if (!*url)
        return false;
    snprintf(*url, url_len, "%s%s", h->base, path);
    snprintf(line, sizeof(line), "Accept: %s", accept);
    if (!add_header(list, line))
        return false;
    if (content_type) {
        snprintf(line, sizeof(line), "Content-Type: %s", content_type);
        if (!add_header(list, line) ||
            !add_header(list, "Expect:")) /* no 100-continue round trip for big bodies */
            return false;
    }
    for (i = 0; extra && extra[i]; i++) {
        if (!add_header(list, extra[i]))
            return false;
    }

    curl_easy_reset(h->curl);
    h->errbuf[0] = '\0';
    curl_easy_setopt(h->curl, CURLOPT_URL, *url);
    curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, *list);
    curl_easy_setopt(h->curl, CURLOPT_USERAGENT, "confhub/" CONFHUB_VERSION_STRING);
    curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    /* Signals would be the only way to time out name lookups; a CLI does not need them. */
    curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
    return true;
}

enum confhub_status ch_cli_http_send(struct ch_cli_http *h, const struct ch_cli_req *req,
                                     struct ch_cli_resp *resp, struct ch_err *err)
{
    enum confhub_status rc = CONFHUB_OK;
    struct curl_slist *list = NULL;
    struct sink sink = {.resp = resp};
    struct progress_hook hook = {.fn = req->progress, .userdata = req->progress_data};
    const char *method = req->method;
    char *url = NULL;
    CURLcode cc;

    if (!prepare(h, method, req->path, "application/json",
                 req->content_type ? req->content_type : "application/json", req->headers, resp,
                 &url, &list))
        goto oom;
    curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS,
                     req->timeout_ms ? (long)req->timeout_ms : TOTAL_TIMEOUT_MS);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, &sink);
    if (req->progress) {
        curl_easy_setopt(h->curl, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
        curl_easy_setopt(h->curl, CURLOPT_XFERINFODATA, &hook);
        curl_easy_setopt(h->curl, CURLOPT_NOPROGRESS, 0L);
    }
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
    } else if (req->body) {
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, req->body);
    }

    cc = curl_easy_perform(h->curl);
    if (sink.no_memory)
        goto oom;
    if (sink.too_big) {
        rc = ch_err_set(err, CONFHUB_ETOOBIG, "%s %s: response body is over %zu bytes", method, url,
                        CH_CLI_HTTP_MAX_BODY);
        goto done;
    }
    if (cc != CURLE_OK) {
        rc = ch_err_set(err, CONFHUB_EUNAVAIL, "cannot reach %s: %s", h->base,
                        h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc));
        goto done;
    }
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    goto done;

oom:
    rc = ch_err_set(err, CONFHUB_ENOMEM, "%s %s: out of memory", method, req->path);
done:
    curl_slist_free_all(list);
    ch_free(url);
    return rc;
}

/* A streamed answer: a 2xx of the wanted type goes to the caller, anything else to sink. */
struct stream_sink {
    struct sink sink;                /* for a non-2xx answer's body, and the headers */
    struct ch_cli_http *h;           /* to read the status and type */
    const struct ch_cli_stream *req; /* on_data and accept */
    bool checked;                    /* the status and type have been looked at */
    bool streaming;                  /* the body goes to on_data */
    enum confhub_status rc;          /* why the transfer was stopped, or CONFHUB_OK */
    struct ch_err *err;              /* where on_data reports */
};

static size_t on_stream(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct stream_sink *s = userdata;
    size_t n = size * nmemb;

    if (!s->checked) {
        const char *type = NULL;
        size_t want = strlen(s->req->accept);
        s->checked = true;
        curl_easy_getinfo(s->h->curl, CURLINFO_RESPONSE_CODE, &s->sink.resp->status);
        curl_easy_getinfo(s->h->curl, CURLINFO_CONTENT_TYPE, &type);
        if (s->sink.resp->status >= 200 && s->sink.resp->status < 300) {
            if (!type || strncasecmp(type, s->req->accept, want) != 0 ||
                (type[want] != '\0' && type[want] != ';' && type[want] != ' ')) {
                s->rc = ch_err_set(s->err, CONFHUB_EIO, "GET %s: the answer is %s, not %s",
                                   s->req->path, type ? type : "untyped", s->req->accept);
                return 0;
            }
            s->streaming = true;
        }
    }
    if (!s->streaming)
        return on_body(data, size, nmemb, &s->sink);
    s->rc = s->req->on_data(s->req->userdata, data, n, s->err);
    return s->rc == CONFHUB_OK ? n : 0;
}

enum confhub_status ch_cli_http_stream(struct ch_cli_http *h, const struct ch_cli_stream *req,
                                       struct ch_cli_resp *resp, bool *woken, struct ch_err *err)
{
    enum confhub_status rc = CONFHUB_OK;
    struct curl_slist *list = NULL;
    struct stream_sink s = {.sink = {.resp = resp}, .h = h, .req = req, .err = err};
    CURLM *multi = NULL;
    CURLcode cc = CURLE_OK;
    bool added = false;
    char *url = NULL;
    int running = 1;

    *woken = false;
    if (!prepare(h, "GET", req->path, req->accept, NULL, req->headers, resp, &url, &list))
        goto oom;
    curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_stream);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, &s.sink);
    /* A peer that vanished without a FIN is noticed by keepalive probes, and a stream that
     * has gone silent (no heartbeat either) by the low-speed limit. */
    curl_easy_setopt(h->curl, CURLOPT_TCP_KEEPALIVE, 1L);
    if (req->idle_timeout_s) {
        curl_easy_setopt(h->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h->curl, CURLOPT_LOW_SPEED_TIME, (long)req->idle_timeout_s);
    }
    multi = curl_multi_init();
    if (!multi || curl_multi_add_handle(multi, h->curl) != CURLM_OK)
        goto oom;
    added = true;
    while (running) {
        struct curl_waitfd wake = {.fd = req->wake_fd, .events = CURL_WAIT_POLLIN};
        CURLMcode mc = curl_multi_perform(multi, &running);
        if (mc == CURLM_OK && running)
            mc = curl_multi_poll(multi, req->wake_fd >= 0 ? &wake : NULL, req->wake_fd >= 0 ? 1 : 0,
                                 1000, NULL);
        if (mc != CURLM_OK) {
            rc = ch_err_set(err, CONFHUB_EIO, "GET %s: %s", req->path, curl_multi_strerror(mc));
            goto done;
        }
        if (wake.revents) {
            *woken = true;
            goto done;
        }
    }
    for (;;) {
        int left = 0;
        CURLMsg *m = curl_multi_info_read(multi, &left);
        if (!m)
            break;
        if (m->msg == CURLMSG_DONE)
            cc = m->data.result;
    }
    if (s.rc != CONFHUB_OK) {
        rc = s.rc;
    } else if (s.sink.no_memory) {
        goto oom;
    } else if (s.sink.too_big) {
        rc = ch_err_set(err, CONFHUB_ETOOBIG, "GET %s: response body is over %zu bytes", url,
                        CH_CLI_HTTP_MAX_BODY);
    } else if (cc != CURLE_OK) {
        rc = ch_err_set(err, CONFHUB_EUNAVAIL, "%s %s: %s",
                        resp->status ? "connection lost to" : "cannot reach", h->base,
                        h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    }
    goto done;

oom:
    rc = ch_err_set(err, CONFHUB_ENOMEM, "GET %s: out of memory", req->path);
done:
    if (added)
        curl_multi_remove_handle(multi, h->curl);
    curl_multi_cleanup(multi);
    curl_slist_free_all(list);
    ch_free(url);
    return rc;
}

enum confhub_status ch_cli_http_request(struct ch_cli_http *h, const char *method, const char *path,
                                        const char *body, size_t body_len,
                                        const char *const *headers, struct ch_cli_resp *resp,
                                        struct ch_err *err)
{
    struct ch_cli_req req = {
        .method = method, .path = path, .body = body, .body_len = body_len, .headers = headers};

    return ch_cli_http_send(h, &req, resp, err);
}

static enum confhub_status status_from_http(long status)
{
    switch (status) {
    case 400:
        return CONFHUB_EINVAL;
    case 404:
        return CONFHUB_ENOTFOUND;
    case 405:
        return CONFHUB_EMETHOD;
    case 410:
        return CONFHUB_ECOMPACTED;
    case 412:
        return CONFHUB_ECONFLICT;
    case 413:
        return CONFHUB_ETOOBIG;
    case 415:
        return CONFHUB_EMEDIATYPE;
    case 503:
        return CONFHUB_EUNAVAIL;
    default:
        return CONFHUB_EIO;
    }
}

enum confhub_status ch_cli_http_check(const struct ch_cli_resp *resp, const char *what,
                                      struct ch_err *err)
{
    enum confhub_status code;
    json_t *root = NULL;
    const char *message = NULL;
    json_int_t mod_rev = -1, oldest_rev = -1;
    char oldest[48] = "";

    if (resp->status >= 200 && resp->status < 300)
        return CONFHUB_OK;
    code = status_from_http(resp->status);
    if (resp->body)
        root = json_loadb(resp->body, resp->body_len, 0, NULL);
    if (root) {
        json_t *error = json_object_get(root, "error");
        message = json_string_value(json_object_get(error, "message"));
        if (json_is_integer(json_object_get(error, "mod_revision")))
            mod_rev = json_integer_value(json_object_get(error, "mod_revision"));
        if (json_is_integer(json_object_get(error, "oldest_revision")))
            oldest_rev = json_integer_value(json_object_get(error, "oldest_revision"));
    }
    if (oldest_rev >= 0)
        snprintf(oldest, sizeof(oldest), "revision %lld", (long long)oldest_rev);
    /* Name the current revision unless the server's message already does. */
    if (message && mod_rev >= 0 && !strstr(message, "mod_revision")) {
        ch_err_set(err, code, "%s: %s (current mod_revision %lld)", what, message,
                   (long long)mod_rev);
    } else if (message && oldest[0] && !strstr(message, oldest)) {
        /* A 410 must say where history starts, so the user knows what can still be read. */
        ch_err_set(err, code, "%s: %s (the oldest revision kept is %lld)", what, message,
                   (long long)oldest_rev);
    } else if (message) {
        ch_err_set(err, code, "%s: %s", what, message);
    } else {
        ch_err_set(err, code, "%s: server answered HTTP %ld", what, resp->status);
    }
    if (err) {
        err->mod_rev = mod_rev;
        err->oldest_rev = oldest_rev;
    }
    json_decref(root);
    return code;
}
