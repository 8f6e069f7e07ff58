/* SPDX-License-Identifier: MIT */
/*
 * http_server.h: the HTTP front end: h2o event loops, listeners and their life cycle.
 *
 * One h2o event loop per thread, each with its own SO_REUSEPORT listening socket, so the
 * kernel spreads connections over the loops. HTTP/1.1 only (BRIEF section 5). Reads are
 * answered on the loop from the in-memory model; writes go to the service's writer thread
 * and come back to the loop that owns the connection.
 */
#ifndef CH_HTTP_SERVER_H
#define CH_HTTP_SERVER_H

#include <stdbool.h>
#include <stdio.h>

#include "common/err.h"
#include "limits_table.h"
#include "model.h"
#include "reader.h"
#include "service.h"
#include "watch.h"

struct ch_http_config {
    const char *listen;       /* "127.0.0.1:8080", "[::1]:8080" or ":8080" */
    unsigned threads;         /* event loops, >= 1; also the model's reader slots */
    const char *access_log;   /* NULL: off; "-": stdout; else a file path (appended) */
    const char *store_name;   /* "sqlite", for GET /v1/status */
    struct ch_reader *reader; /* history readers (borrowed); NULL: history routes answer 503 */
    struct ch_watch_hub *watch_hub; /* the change feed (borrowed), or NULL for none */
    bool ws_echo;                   /* serve the WebSocket echo endpoint (conformance tests) */
    /* Origins besides the server's own whose pages may open a WebSocket ("*": any); the
     * strings are borrowed. */
    const char *const *allowed_origins;
    size_t n_allowed_origins;
};

struct ch_http_server;

/* Binds the listeners (so an address in use fails here, before anything runs) and prepares
 * the loops. Borrows service, model and limits. OUT: *out on success. */
enum confhub_status ch_http_server_new(const struct ch_http_config *cfg, struct ch_service *service,
                                       struct ch_model *model, const struct ch_limits *limits,
                                       struct ch_http_server **out, struct ch_err *err);

/* Starts the loop threads. */
enum confhub_status ch_http_server_start(struct ch_http_server *server, struct ch_err *err);

/* Closes the listeners: no new connections. Requests in flight go on. */
void ch_http_server_stop_listening(struct ch_http_server *server);

/* Waits (up to timeout_ms) until every submitted write has been answered, then stops and joins
 * the loop threads. Call after ch_service_stop(). */
void ch_http_server_shutdown(struct ch_http_server *server, unsigned timeout_ms);

/* Frees the server after shutdown. NULL is a no-op. */
void ch_http_server_free(struct ch_http_server *server);

/* Prints the route table (method, pattern, flags, body limit), for `confhub serve --routes`. */
void ch_http_print_routes(FILE *out);

#endif
