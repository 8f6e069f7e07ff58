/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite_int.h: what the two halves of the SQLite store share: store_sqlite.c (open,
 * migrations, load, commit) and store_sqlite_history.c (history reads and compaction).
 * Nothing outside them includes it.
 */
#ifndef CH_STORE_SQLITE_INT_H
#define CH_STORE_SQLITE_INT_H

#include <sqlite3.h>

#include "store.h"

/* The statements kept for the life of the store (prepared once the schema is current). */
enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_UPSERT_KV,
    ST_DELETE_KV,
    ST_INSERT_REVISION,
    ST_INSERT_HISTORY,
    ST_GET_REVISION,
    ST_SET_REVISION,
    ST_INFO,
    ST_COUNT
};

/* Owned by one thread (the writer, or a history reader), like the struct ch_store it extends. */
struct sqlite_store {
    struct ch_store base;          /* must be first: store.c sees only this */
    sqlite3 *db;                   /* owned */
    char *path;                    /* database file, for messages; owned */
    sqlite3_stmt *stmts[ST_COUNT]; /* owned; all NULL until the schema is current */
    bool opened;                   /* open succeeded, so close may checkpoint */
    bool read_only;                /* a reader's connection */
};

/* Turns a failed SQLite call into a status (ENOMEM stays ENOMEM, the rest is EIO); what says
 * what failed. Returns the status it set. */
enum confhub_status ch_sqlite_fail(struct sqlite_store *s, int rc, struct ch_err *err,
                                   const char *what);

/* CONFHUB_EINVAL ("run confhub migrate up") unless the schema is the latest. */
enum confhub_status ch_sqlite_check_current(struct sqlite_store *s, struct ch_err *err);

/* Leaves any open transaction; safe to call when none is open. */
void ch_sqlite_rollback(struct sqlite_store *s);

/* Runs a statement that returns no rows and resets it; returns the SQLite code. */
int ch_sqlite_step_done(sqlite3_stmt *stmt);

/* Binds text borrowed until the statement is reset; NULL binds SQL NULL. */
int ch_sqlite_bind_text(sqlite3_stmt *stmt, int col, const char *text);

/* The history half of the function table (store_sqlite_history.c). */
enum confhub_status ch_sqlite_info(struct ch_store *store, struct ch_store_info *out,
                                   struct ch_err *err);
enum confhub_status ch_sqlite_history(struct ch_store *store, const struct ch_history_filter *f,
                                      ch_store_event_fn *fn, void *userdata,
                                      struct ch_store_info *info_out, struct ch_err *err);
enum confhub_status ch_sqlite_state_at(struct ch_store *store, const struct ch_store_scope *scope,
                                       int64_t revision, ch_store_load_fn *fn, void *userdata,
                                       struct ch_store_info *info_out, struct ch_err *err);
enum confhub_status ch_sqlite_changes(struct ch_store *store, const struct ch_store_scope *scope,
                                      int64_t from_rev, int64_t to_rev, ch_store_change_fn *fn,
                                      void *userdata, struct ch_store_info *info_out,
                                      struct ch_err *err);
enum confhub_status ch_sqlite_compact(struct ch_store *store, int64_t upto_rev, size_t max_events,
                                      size_t *deleted_out, struct ch_err *err);

#endif
