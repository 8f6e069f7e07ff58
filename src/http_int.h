/* SPDX-License-Identifier: MIT */
/*
 * http_int.h: what the http_*.c files share, and nothing outside them includes.
 *
 * Thread rules: one struct http_loop per event-loop thread; everything reachable from a
 * request is touched only by the thread of the loop that owns the connection. The only
 * cross-thread traffic is a finished write (struct write_job), which the writer thread hands
 * back to the owning loop through that loop's h2o_multithread receiver.
 */
#ifndef CH_HTTP_INT_H
#define CH_HTTP_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <h2o.h>

#include "formats/format.h"
#include "http_server.h"
#include "service.h"

#define HTTP_MAX_PARAMS 3 /* {ns}, {section}, {key} */

struct http_loop {
    struct ch_http_server *server;
    unsigned index; /* also the model reader slot */
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    int listen_fd;          /* bound socket until the loop thread wraps it; then -1 */
    h2o_socket_t *listener; /* NULL once stopped */
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t deferred_done; /* finished writes and history reads */
    h2o_multithread_receiver_t control;       /* stop-listening and exit requests */
    pthread_t thread;
    struct watch_loop *watch; /* the change feed on this loop (http_watch.c) */
};

struct ch_http_server {
    struct ch_http_config cfg;      /* copy; strings borrowed from the caller */
    struct ch_service *service;     /* borrowed */
    struct ch_model *model;         /* borrowed */
    const struct ch_limits *limits; /* borrowed */
    h2o_globalconf_t globalconf;
    struct http_loop *loops; /* cfg.threads of them */
    int64_t started_ms;
    atomic_long connections; /* open client connections, all loops */
    atomic_long pending;     /* deferred answers (writes, history reads) not yet sent */
    atomic_bool exiting;
    h2o_barrier_t ready; /* the loops and the starter meet here once every loop is set up */
    bool started;        /* the loop threads run (main thread only) */
    FILE *access_log;    /* NULL when off */
};

struct route;

/* One request as handlers see it: decoded captures, query, body. Lives in the h2o pool. */
struct ch_req {
    h2o_req_t *h2o;
    struct http_loop *loop;
    const struct route *route;
    const char *params[HTTP_MAX_PARAMS]; /* percent-decoded, validated names, NUL-terminated */
    size_t param_len[HTTP_MAX_PARAMS];
    size_t n_params;
    const char *query; /* raw query string after '?', or "" */
    size_t query_len;
    const char *body;
    size_t body_len;
    const struct ch_state *state; /* the snapshot for RT_READ routes; NULL otherwise */
    int64_t start_us;
};

/* What a handler answers. Bodies are borrowed until the dispatcher copies them out. */
struct ch_resp {
    int http_status;          /* 0: 200 for CONFHUB_OK */
    const char *content_type; /* NULL: application/json */
    const char *body;
    size_t body_len;
    int64_t etag; /* >= 0: sent as ETag: "<etag>" */
    bool pending; /* a write was submitted; the answer comes later */
};

typedef enum confhub_status route_fn(struct ch_req *req, struct ch_resp *resp, struct ch_err *err);

/* The dispatcher (http_routes.c); the handlers are in http_api_v1.c. */
int ch_http_dispatch(struct http_loop *loop, h2o_req_t *req);

/* A request answered later, after work on another thread (a write, a history read). */
struct ch_http_deferred;
typedef void ch_http_finish_fn(struct ch_http_deferred *d);
struct req_guard;

struct ch_http_deferred {
    h2o_multithread_message_t msg; /* link in the loop's receiver queue */
    struct http_loop *loop;
    h2o_req_t *req; /* NULL once the client went away: answer nothing then */
    struct req_guard *guard;
    int64_t start_us;
    ch_http_finish_fn *finish; /* on the owning loop: answer (when req) and free d */
};

/* Ties d to req: fills d's loop, req and timing, and arranges for d->req to become NULL
 * when the request is disposed first. */
void ch_http_defer(struct ch_req *req, struct ch_http_deferred *d, ch_http_finish_fn *finish);

/* Unties d from its request before it was ever posted (the hand-off failed). */
void ch_http_deferred_cancel(struct ch_http_deferred *d);

/* From any thread: queues d for its loop, which then calls d->finish(d). */
void ch_http_deferred_post(struct ch_http_deferred *d);

/* Writes the client's "ADDR:PORT" into out ("" when unknown); returns its length. */
size_t ch_http_remote_address(h2o_req_t *req, char *out, size_t out_len);

/* The acting user of req for history: X-Confhub-Actor, else "anonymous". CONFHUB_EINVAL
 * for a header that is not a valid name or is longer than out_len - 1. */
enum confhub_status ch_http_actor(struct ch_req *req, char *out, size_t out_len,
                                  struct ch_err *err);

/* Sends status with body (copied by h2o) and the common headers; X-Confhub-Revision is rev,
 * or the current revision when rev < 0. etag >= 0 is sent as ETag. */
void ch_http_send_at(struct http_loop *loop, h2o_req_t *req, int status, const char *content_type,
                     const char *body, size_t len, int64_t etag, int64_t rev, int64_t start_us);

/* Sends a finished write's answer (on the owning loop). */
void ch_http_finish_write(struct http_loop *loop, struct ch_write *w, h2o_req_t *req,
                          int64_t start_us);

/* Submits w on behalf of req; the answer is sent when the writer is done with it. */
enum confhub_status ch_http_submit_write(struct ch_req *req, struct ch_write *w,
                                         struct ch_resp *resp, struct ch_err *err);

/* The published revision, for X-Confhub-Revision. */
int64_t ch_http_current_revision(struct ch_http_server *server);

/* Query parameter lookup: returns true and sets *value and *len when name is present. */
bool ch_http_query_get(const struct ch_req *req, const char *name, const char **value, size_t *len);

/* A boolean query parameter: present bare, "true" or "1". */
bool ch_http_query_flag(const struct ch_req *req, const char *name);

/* Refuses (CONFHUB_EFORBIDDEN) a request from a web page of another origin than the server's
 * own or those of --allowed-origin; requests without an Origin header pass. */
enum confhub_status ch_http_check_origin(struct ch_req *req, struct ch_err *err);

/* The percent-decoded value of query parameter name, NUL-terminated in *out (owned, ch_free),
 * or *out NULL when absent. CONFHUB_EINVAL for a bad escape or a decoded NUL. */
enum confhub_status ch_http_query_text(struct ch_req *req, const char *name, char **out,
                                       struct ch_err *err);

/* Writes the error body and status for status code/err, and the access log line. */
void ch_http_send_error(struct http_loop *loop, h2o_req_t *req, const struct route *route,
                        enum confhub_status code, const struct ch_err *err, int64_t start_us);

/* ch_http_send_error with X-Confhub-Revision: rev (the current revision when rev < 0). */
void ch_http_send_error_at(struct http_loop *loop, h2o_req_t *req, enum confhub_status code,
                           const struct ch_err *err, int64_t rev, int64_t start_us);

/* Handlers (http_api_v1.c). */
route_fn ch_api_healthz, ch_api_status, ch_api_limits, ch_api_namespaces;
route_fn ch_api_get_ns, ch_api_put_ns, ch_api_delete_ns;
route_fn ch_api_get_section, ch_api_put_section, ch_api_delete_section;
route_fn ch_api_get_key, ch_api_put_key, ch_api_delete_key;
route_fn ch_api_txn, ch_api_patch_ns, ch_api_patch_section, ch_api_export, ch_api_import;
route_fn ch_api_import_stream;
route_fn ch_api_history, ch_api_diff, ch_api_rollback; /* http_history.c */

/* The format an export asks for: ?format=, else the Accept header, else JSON. */
enum confhub_status ch_http_export_format(struct ch_req *req, enum ch_format *out,
                                          struct ch_err *err);

/* Answers a read route at ?revision=R from history (http_history.c): what is "ns",
 * "section", "key", "namespaces" or "export". */
enum confhub_status ch_http_read_at(struct ch_req *req, const char *what, struct ch_resp *resp,
                                    struct ch_err *err);

/* The change feed's transports (http_watch.c). */
route_fn ch_api_watch, ch_api_ws_echo;

/* Sets up the loop's watchers and joins the watch hub; on the loop's thread, before it
 * serves. Returns false when out of memory. */
bool ch_http_watch_loop_init(struct http_loop *loop);

/* The server is stopping: closes the loop's WebSockets (1001), ends its SSE streams and
 * answers its long-polls. */
void ch_http_watch_loop_stop(struct http_loop *loop);

/* Frees the loop's watch state, after its last turns (the writer has stopped). */
void ch_http_watch_loop_free(struct http_loop *loop);

#endif
