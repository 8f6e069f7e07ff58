/* SPDX-License-Identifier: MIT */
/* limits_table.c: the limits table (see limits_table.h). */
#include "limits_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
const struct ch_limit_row ch_limit_rows[] = {
    /* name               field                                        default    min   max            unit           description */
    {"max-body-bytes",   offsetof(struct ch_limits, max_body_bytes),  16 << 20,   64,   1u << 30,      "bytes",       "largest request body"},
    {"max-value-bytes",  offsetof(struct ch_limits, max_value_bytes), 1 << 20,    16,   1u << 30,      "bytes",       "largest stored value (compact JSON)"},
    {"max-name-bytes",   offsetof(struct ch_limits, max_name_bytes),  256,        1,    256,           "bytes",       "longest namespace, section or key name"},
    {"max-json-depth",   offsetof(struct ch_limits, max_json_depth),  64,         2,    1000,          "levels",      "deepest nesting of a document or value"},
    {"max-connections",  offsetof(struct ch_limits, max_connections), 10000,      1,    1000000,       "connections", "open client connections"},
    {"max-txn-ops",      offsetof(struct ch_limits, max_txn_ops),     1024,            1,    1000000,       "operations",  "conditions and operations in one transaction"},
    {"watch-queue",      offsetof(struct ch_limits, watch_queue),     1024,       1,    1000000,       "frames",      "events queued to one watcher or WebSocket before it is closed as too slow"},
    {"watch-cache-revisions", offsetof(struct ch_limits, watch_cache_revisions), 4096, 0, 10000000, "revisions", "recent revisions each event loop keeps in memory for resuming watchers"},
    {"watch-cache-bytes", offsetof(struct ch_limits, watch_cache_bytes), 64 << 20, 0, 1u << 31,     "bytes",       "memory those recent revisions may use, per event loop"},
    {"watch-progress-interval", offsetof(struct ch_limits, watch_progress_interval), 10, 1, 3600,  "seconds",     "progress notification to a watcher idle that long"},
    {"max-watch-wait",   offsetof(struct ch_limits, max_watch_wait),  300,        0,    3600,          "seconds",     "longest wait= of a long-poll watch"},
    {"max-watches-per-connection", offsetof(struct ch_limits, max_watches_per_conn), 64, 1, 100000, "watches",     "watches on one WebSocket connection"},
    {"max-ws-message-bytes", offsetof(struct ch_limits, max_ws_message_bytes), 1 << 20, 125, 1u << 30, "bytes",    "largest WebSocket message a client may send"},
};

/* clang-format on */
const size_t ch_limit_rows_count = sizeof(ch_limit_rows) / sizeof(ch_limit_rows[0]);

static size_t *field(struct ch_limits *limits, const struct ch_limit_row *row)
{
    return (size_t *)((char *)limits + row->offset);
}

void ch_limits_init(struct ch_limits *limits)
{
    for (size_t i = 0; i < ch_limit_rows_count; i++)
        *field(limits, &ch_limit_rows[i]) = ch_limit_rows[i].def;
}

const struct ch_limit_row *ch_limits_find(const char *name)
{
    for (size_t i = 0; i < ch_limit_rows_count; i++) {
        if (strcmp(ch_limit_rows[i].name, name) == 0)
            return &ch_limit_rows[i];
    }
    return NULL;
}

size_t ch_limits_get(const struct ch_limits *limits, const struct ch_limit_row *row)
{
    return *field((struct ch_limits *)limits, row);
}

enum confhub_status ch_limits_set(struct ch_limits *limits, const struct ch_limit_row *row,
                                  const char *text, struct ch_err *err)
{
    char *end = NULL;
    unsigned long long v;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-')
        return ch_err_set(err, CONFHUB_EINVAL, "--%s: '%s' is not a number", row->name, text);
    if (v < row->min || v > row->max)
        return ch_err_set(err, CONFHUB_EINVAL, "--%s: %llu is outside %zu..%zu", row->name, v,
                          row->min, row->max);
    *field(limits, row) = (size_t)v;
    return CONFHUB_OK;
}

json_t *ch_limits_to_json(const struct ch_limits *limits)
{
    json_t *obj = json_object();
    for (size_t i = 0; obj && i < ch_limit_rows_count; i++) {
        const struct ch_limit_row *r = &ch_limit_rows[i];
        json_t *row =
            json_pack("{s:I,s:I,s:I,s:I,s:s,s:s}", "value", (json_int_t)ch_limits_get(limits, r),
                      "default", (json_int_t)r->def, "min", (json_int_t)r->min, "max",
                      (json_int_t)r->max, "unit", r->unit, "description", r->description);
        if (!row || json_object_set_new(obj, r->name, row) != 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

void ch_limits_print_help(FILE *out)
{
    for (size_t i = 0; i < ch_limit_rows_count; i++) {
        const struct ch_limit_row *r = &ch_limit_rows[i];
        fprintf(out, "  --%-20s %s, in %s (default %zu)\n", r->name, r->description, r->unit,
                r->def);
    }
}
