/* SPDX-License-Identifier: MIT */
/*
 * limits_table.h: every configurable limit of the server, as data (STYLE B6).
 *
 * One table of rows (name, default, min, max, unit, description) drives the command-line
 * flags (`--max-body-bytes N`), `confhub serve --help`, `GET /v1/limits` and docs/api.md.
 * Adding a limit is adding a field and a row; nothing else needs a new strcmp.
 */
#ifndef CH_LIMITS_H
#define CH_LIMITS_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "common/err.h"

struct ch_limits {
    size_t max_body_bytes;  /* request body, bytes */
    size_t max_value_bytes; /* one stored value, compact JSON bytes */
    size_t max_name_bytes;  /* namespace, section and key names, bytes */
    size_t max_json_depth;  /* nesting depth of a value or document */
    size_t max_connections; /* open client connections, whole server */
    size_t max_txn_ops;     /* conditions and operations in one transaction */
    /* The change feed (docs/watch.md). */
    size_t watch_queue;             /* frames queued to one watcher (WebSocket: connection) */
    size_t watch_cache_revisions;   /* recent revisions each loop keeps for resume */
    size_t watch_cache_bytes;       /* bytes of those revisions, per loop */
    size_t watch_progress_interval; /* seconds between progress frames to an idle watcher */
    size_t max_watch_wait;          /* seconds a long-poll may be held */
    size_t max_watches_per_conn;    /* watches on one WebSocket connection */
    size_t max_ws_message_bytes;    /* one message received over a WebSocket */
};

struct ch_limit_row {
    const char *name;        /* flag and JSON name: "max-body-bytes" */
    size_t offset;           /* of the field in struct ch_limits */
    size_t def, min, max;    /* default and accepted range */
    const char *unit;        /* "bytes", "levels", "connections" */
    const char *description; /* one line, for --help and docs */
};

extern const struct ch_limit_row ch_limit_rows[];
extern const size_t ch_limit_rows_count;

/* Fills limits with the defaults. */
void ch_limits_init(struct ch_limits *limits);

/* The row whose name is `name` (without leading dashes), or NULL. */
const struct ch_limit_row *ch_limits_find(const char *name);

/* Parses text as the value of row into limits, checking the range. */
enum confhub_status ch_limits_set(struct ch_limits *limits, const struct ch_limit_row *row,
                                  const char *text, struct ch_err *err);

size_t ch_limits_get(const struct ch_limits *limits, const struct ch_limit_row *row);

/* {"max-body-bytes":{"value":N,"default":N,"min":N,"max":N,"unit":"...","description":"..."}} */
json_t *ch_limits_to_json(const struct ch_limits *limits);

/* Writes the "  --max-body-bytes N  description (default N)" lines for --help. */
void ch_limits_print_help(FILE *out);

#endif
