/* SPDX-License-Identifier: MIT */
/*
 * history.h: the change history as answers: event pages, values at a past revision, diffs.
 *
 * Everything here reads through a struct ch_store the caller's thread owns (a history
 * reader's read-only connection, or the writer's for a rollback) and builds JSON. No HTTP
 * types, no threads. The wire shapes are the ones docs/api.md documents.
 */
#ifndef CH_HISTORY_H
#define CH_HISTORY_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/err.h"
#include "store.h"

/* GET /v1/history's largest and default page. */
#define CH_HISTORY_MAX_LIMIT     1000
#define CH_HISTORY_DEFAULT_LIMIT 100

/* Appends one event as the API shows it everywhere (history pages, watch frames):
 * {"revision","timestamp","actor","remote","op","ns","section","key","old_value","new_value"},
 * leaving out old_value for a key created and new_value for a delete. */
void ch_history_event_json(struct ch_buf *b, const struct ch_history_event *ev);

/* ch_history_event_json in two parts. The head (revision, timestamp, actor, remote) is the
 * same for every event of a revision, so a writer of many events of one revision (the change
 * feed) writes it once and copies it; the rest is each event's own. */
void ch_history_event_head(struct ch_buf *b, const struct ch_history_event *ev);
void ch_history_event_rest(struct ch_buf *b, const struct ch_history_event *ev);

/* Appends {"events":[...],"next_cursor":"..."|null,"revision":R} for filter f to out.
 * f->limit is the page size (1..CH_HISTORY_MAX_LIMIT). */
enum confhub_status ch_history_page_json(struct ch_store *store, const struct ch_history_filter *f,
                                         struct ch_buf *out, struct ch_err *err);

/* Parses a next_cursor this module made. CONFHUB_EINVAL for anything else. */
enum confhub_status ch_history_cursor_parse(const char *text, size_t len, int64_t *rev_out,
                                            int64_t *seq_out, struct ch_err *err);

/*
 * The scope's value right after revision: a namespace document, a section's value (its
 * object, or the list or scalar of an '@' section), or a key's value. *out is NULL when the
 * scope did not exist then. scope->ns is required. info_out (may be NULL) gets the snapshot.
 */
enum confhub_status ch_history_value_at(struct ch_store *store, const struct ch_store_scope *scope,
                                        int64_t revision, json_t **out,
                                        struct ch_store_info *info_out, struct ch_err *err);

/* The namespaces that held keys right after revision, as GET /v1/namespaces lists them
 * ([{name, sections, keys}], with "default" always present). */
enum confhub_status ch_history_namespaces_at(struct ch_store *store, int64_t revision, json_t **out,
                                             struct ch_store_info *info_out, struct ch_err *err);

/* Appends {"from":R1,"to":R2,"revision":R,"changes":[{section,key,change,old,new}]} for the
 * scope (scope->ns required) to out. */
enum confhub_status ch_history_diff_json(struct ch_store *store, const struct ch_store_scope *scope,
                                         int64_t from_rev, int64_t to_rev, struct ch_buf *out,
                                         struct ch_err *err);

#endif
