/* SPDX-License-Identifier: MIT */
/*
 * http.h: a small HTTP client for the CLI, one libcurl easy handle per struct ch_cli_http.
 *
 * One request at a time, blocking, with a 5 s connect and (by default) 30 s total timeout. A
 * request that got any HTTP answer succeeds at this layer, whatever its status; ch_cli_http_check()
 * then turns a non-2xx answer into a confhub status and the server's error message. Response bodies
 * are capped at CH_CLI_HTTP_MAX_BODY (STYLE B5.6).
 */
#ifndef CH_CLI_HTTP_H
#define CH_CLI_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* The largest response body the CLI accepts; more is CONFHUB_ETOOBIG. */
#define CH_CLI_HTTP_MAX_BODY ((size_t)64 * 1024 * 1024)

struct ch_cli_http; /* opaque; owns the curl easy handle and the base URL */

/* One HTTP answer. Zero it (or call ch_cli_http_resp_clear) before first use. */
struct ch_cli_resp {
    long status;      /* HTTP status code, such as 200 */
    char *body;       /* NUL-terminated body (owned; NULL when empty) */
    size_t body_len;  /* bytes in body, without the NUL */
    int64_t revision; /* X-Confhub-Revision, or -1 when the header was absent */
    char etag[64];    /* ETag with its quotes removed; empty when absent */
};

/*
 * Creates a client for base_url ("http://127.0.0.1:8080"; a trailing '/' is ignored). Only
 * http:// and https:// URLs are accepted (CONFHUB_EINVAL otherwise).
 * OUT: *out is set on success and freed with ch_cli_http_free().
 */
enum confhub_status ch_cli_http_new(const char *base_url, struct ch_cli_http **out,
                                    struct ch_err *err);

/* Frees h and its curl handle; NULL is a no-op. */
void ch_cli_http_free(struct ch_cli_http *h);

/* The base URL without a trailing '/'; borrowed from h. */
const char *ch_cli_http_base(const struct ch_cli_http *h);

/* Percent-encodes name as one URL path segment. Returns a string the caller frees with
 * ch_free(), or NULL when out of memory. */
char *ch_cli_http_escape(struct ch_cli_http *h, const char *name);

/*
 * Called while a request body is being sent: sent of total bytes so far (total is 0 until
 * libcurl knows it). Runs on the calling thread, inside ch_cli_http_send(), possibly many
 * times per second and several times with the same numbers.
 */
typedef void ch_cli_http_progress_fn(void *userdata, uint64_t sent, uint64_t total);

/* One request for ch_cli_http_send(). Zero-initialise it; every zero field is the default. */
struct ch_cli_req {
    const char *method;                /* "GET", "PUT", "POST", "DELETE" */
    const char *path;                  /* starts with '/', relative to the base URL */
    const char *body;                  /* request body (borrowed), or NULL for none */
    size_t body_len;                   /* bytes in body */
    const char *const *headers;        /* extra "Name: value" lines, NULL-terminated, or NULL */
    const char *content_type;          /* body media type; NULL for application/json */
    uint32_t timeout_ms;               /* whole-request limit; 0 for 30 s */
    ch_cli_http_progress_fn *progress; /* upload progress, or NULL */
    void *progress_data;               /* passed to progress as userdata */
};

/*
 * Sends req and waits for the answer. Accept is always application/json.
 * OUT: resp receives the answer; the caller clears it with ch_cli_http_resp_clear() in every
 * case. Returns CONFHUB_OK when the server answered (any status), CONFHUB_EUNAVAIL with
 * "cannot reach URL: why" when it could not be reached or timed out, CONFHUB_ETOOBIG when the
 * body was over the cap, CONFHUB_ENOMEM.
 */
enum confhub_status ch_cli_http_send(struct ch_cli_http *h, const struct ch_cli_req *req,
                                     struct ch_cli_resp *resp, struct ch_err *err);

/*
 * ch_cli_http_send() with a JSON body (body may be NULL when body_len is 0), extra header lines
 * ("If-Match: \"7\"", NULL-terminated, or NULL) and the default timeout.
 */
enum confhub_status ch_cli_http_request(struct ch_cli_http *h, const char *method, const char *path,
                                        const char *body, size_t body_len,
                                        const char *const *headers, struct ch_cli_resp *resp,
                                        struct ch_err *err);

/*
 * Called with each piece of a streamed 2xx answer's body, on the calling thread, inside
 * ch_cli_http_stream(). Returns CONFHUB_OK to go on; any other status ends the transfer and
 * ch_cli_http_stream() returns it (the callback sets err).
 */
typedef enum confhub_status ch_cli_http_data_fn(void *userdata, const char *data, size_t len,
                                                struct ch_err *err);

/* One streamed GET for ch_cli_http_stream(). Zero-initialise it; every zero field is the
 * default. */
struct ch_cli_stream {
    const char *path;             /* starts with '/', relative to the base URL */
    const char *accept;           /* the media type wanted, such as "text/event-stream" */
    const char *const *headers;   /* extra "Name: value" lines, NULL-terminated, or NULL */
    ch_cli_http_data_fn *on_data; /* gets the body of a 2xx answer of type accept */
    void *userdata;               /* passed to on_data */
    int wake_fd;                  /* when it becomes readable the transfer stops; -1: none */
    uint32_t idle_timeout_s;      /* give up when nothing arrived for that long; 0: never */
};

/*
 * Sends a GET that may last for ever, and hands the body of a 2xx answer whose Content-Type is
 * req->accept to req->on_data as it arrives. There is no total timeout; connecting has the
 * usual 5 s. Any other answer's body (capped at CH_CLI_HTTP_MAX_BODY) goes to resp->body for
 * ch_cli_http_check(); resp->status is set as soon as the answer's head has come, so a caller
 * can tell "never answered" (0) from "answered, then lost".
 * OUT: resp (clear it with ch_cli_http_resp_clear() in every case); *woken is true when
 * req->wake_fd stopped the transfer (the function then returns CONFHUB_OK).
 * Returns CONFHUB_OK when the server answered and ended its answer (or wake_fd stopped it);
 * CONFHUB_EUNAVAIL with "cannot reach URL: why" or "connection lost: why" when it could not be
 * reached, dropped the connection, or sent nothing for idle_timeout_s; CONFHUB_EIO when a 2xx
 * answer is not of type accept; on_data's status when it stopped; CONFHUB_ETOOBIG; ENOMEM.
 */
enum confhub_status ch_cli_http_stream(struct ch_cli_http *h, const struct ch_cli_stream *req,
                                       struct ch_cli_resp *resp, bool *woken, struct ch_err *err);

/* Frees resp's body and resets it to "no answer"; safe to call repeatedly. */
void ch_cli_http_resp_clear(struct ch_cli_resp *resp);

/*
 * Maps resp's status to a confhub status: 2xx is CONFHUB_OK; otherwise err gets
 * "what: message" where message comes from the server's {"error":{...}} body when it has one
 * ("HTTP 502" when not), and a 412's current mod_revision goes to err->mod_rev. A 410's
 * oldest_revision goes to err->oldest_rev and is named in the message.
 * 400 -> EINVAL, 404 -> ENOTFOUND, 405 -> EMETHOD, 410 -> ECOMPACTED, 412 -> ECONFLICT,
 * 413 -> ETOOBIG,
 * 415 -> EMEDIATYPE, 503 -> EUNAVAIL, anything else -> EIO.
 */
enum confhub_status ch_cli_http_check(const struct ch_cli_resp *resp, const char *what,
                                      struct ch_err *err);

#endif
