/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite_history.c: history reads and compaction on the SQLite store (store.h).
 *
 * Every read is one deferred transaction, so it sees one snapshot: the position it reports
 * (ch_store_info) and the rows it returns belong together, whatever the writer does meanwhile
 * (WAL readers never block the writer and are never blocked by it).
 *
 * The past is computed backwards from the present: the value of a key right after revision R
 * is the old_value of its first event after R, or its current value when it has no event
 * after R. So a read at R needs only the events after R, which is exactly what compaction
 * keeps when its horizon is at or below R, and costs what changed since R, not the whole
 * history.
 *
 * The statements depend on the scope and filters, so they are built and prepared per call;
 * history reads are not the hot path (current-state reads are served from memory).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "store_sqlite_int.h"

/* The largest revision SQLite holds; an open upper bound. */
#define REV_MAX INT64_MAX

/* ---------------------------------------------------------------- snapshots */

static int read_info(struct sqlite_store *s, struct ch_store_info *out)
{
    sqlite3_stmt *stmt = s->stmts[ST_INFO];
    int rc = sqlite3_step(stmt);

    memset(out, 0, sizeof(*out));
    if (rc == SQLITE_ROW) {
        out->revision = sqlite3_column_int64(stmt, 0);
        out->compacted = sqlite3_column_int64(stmt, 1);
        out->last_ts_ms = sqlite3_column_int64(stmt, 2);
        rc = SQLITE_DONE;
    }
    sqlite3_reset(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Opens a read snapshot and reads its position. */
static enum confhub_status begin_read(struct sqlite_store *s, struct ch_store_info *info,
                                      struct ch_err *err)
{
    enum confhub_status status = ch_sqlite_check_current(s, err);
    int rc;

    if (status != CONFHUB_OK)
        return status;
    ch_sqlite_rollback(s); /* only does something if an earlier rollback itself failed */
    rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = read_info(s, info);
    if (rc != SQLITE_OK) {
        status = ch_sqlite_fail(s, rc, err, "cannot read history");
        ch_sqlite_rollback(s);
    }
    return status;
}

/* Ends the snapshot begun by begin_read; passes status through. */
static enum confhub_status end_read(struct sqlite_store *s, enum confhub_status status,
                                    const struct ch_store_info *info, struct ch_store_info *out)
{
    ch_sqlite_rollback(s); /* a read transaction has nothing to keep */
    if (status == CONFHUB_OK && out)
        *out = *info;
    return status;
}

static enum confhub_status compacted(const struct ch_store_info *info, int64_t revision,
                                     struct ch_err *err)
{
    err->oldest_rev = info->compacted;
    return ch_err_set(err, CONFHUB_ECOMPACTED,
                      "revision %" PRId64 " was compacted: history is kept from revision %" PRId64
                      " on",
                      revision, info->compacted);
}

/* A revision a state read or diff may use: kept, and not in the future. */
static enum confhub_status check_revision(const struct ch_store_info *info, int64_t revision,
                                          struct ch_err *err)
{
    if (revision < 0 || revision > info->revision)
        return ch_err_set(err, CONFHUB_EINVAL,
                          "revision %" PRId64
                          " does not exist yet: the current revision is %" PRId64,
                          revision, info->revision);
    if (revision < info->compacted)
        return compacted(info, revision, err);
    return CONFHUB_OK;
}

/* ---------------------------------------------------------------- building statements */

/* The scope as a WHERE fragment over table alias t, with parameters ?1 ?2 ?3. */
static void add_scope(struct ch_buf *sql, const char *t, const struct ch_store_scope *scope)
{
    char frag[96];
    if (scope->ns) {
        snprintf(frag, sizeof(frag), " AND %s.ns = ?1", t);
        ch_buf_adds(sql, frag);
    }
    if (scope->ns && scope->section) {
        snprintf(frag, sizeof(frag), " AND %s.section = ?2", t);
        ch_buf_adds(sql, frag);
    }
    if (scope->ns && scope->section && scope->key) {
        snprintf(frag, sizeof(frag), " AND %s.key = ?3", t);
        ch_buf_adds(sql, frag);
    }
}

static enum confhub_status prepare(struct sqlite_store *s, struct ch_buf *sql, sqlite3_stmt **stmt,
                                   struct ch_err *err)
{
    int rc = SQLITE_NOMEM;
    if (!sql->failed)
        rc = sqlite3_prepare_v2(s->db, sql->ptr, (int)sql->len, stmt, NULL);
    ch_buf_free(sql);
    if (rc != SQLITE_OK)
        return ch_sqlite_fail(s, rc, err, "cannot read history");
    return CONFHUB_OK;
}

static int bind_scope(sqlite3_stmt *stmt, const struct ch_store_scope *scope)
{
    int rc = SQLITE_OK;
    if (scope->ns)
        rc |= ch_sqlite_bind_text(stmt, 1, scope->ns);
    if (scope->ns && scope->section)
        rc |= ch_sqlite_bind_text(stmt, 2, scope->section);
    if (scope->ns && scope->section && scope->key)
        rc |= ch_sqlite_bind_text(stmt, 3, scope->key);
    return rc;
}

/* column_text returns NULL for a non-NULL column only when out of memory. */
static const char *text_col(sqlite3_stmt *stmt, int col, bool *oom)
{
    const char *t = (const char *)sqlite3_column_text(stmt, col);
    if (!t && sqlite3_column_type(stmt, col) != SQLITE_NULL)
        *oom = true;
    return t;
}

/* Where the rows of a read go: the caller's callback, of the kind the read returns. */
struct row_sink {
    union {
        ch_store_event_fn *event;
        ch_store_load_fn *entry;
        ch_store_change_fn *change;
    } fn;

    void *userdata;
};

/* Decodes the current row and hands it to the sink; sets *oom (and hands nothing on) when a
 * column could not be read for lack of memory. */
typedef enum confhub_status row_fn(sqlite3_stmt *stmt, const struct row_sink *sink, bool *oom,
                                   struct ch_err *err);

/* Steps stmt (bound, or rc the binding's failure) through every row, calling decode for
 * each; stops at the first error the sink returns. Finalizes stmt. */
static enum confhub_status each_row(struct sqlite_store *s, sqlite3_stmt *stmt, int rc,
                                    row_fn *decode, const struct row_sink *sink, struct ch_err *err)
{
    enum confhub_status status = CONFHUB_OK;
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        bool oom = false;
        status = decode(stmt, sink, &oom, err);
        if (oom)
            rc = SQLITE_NOMEM;
        if (oom || status != CONFHUB_OK)
            break;
        rc = SQLITE_OK;
    }
    if (status == CONFHUB_OK && rc != SQLITE_DONE)
        status = ch_sqlite_fail(s, rc, err, "cannot read history");
    sqlite3_finalize(stmt);
    return status;
}

/* ---------------------------------------------------------------- info */

enum confhub_status ch_sqlite_info(struct ch_store *store, struct ch_store_info *out,
                                   struct ch_err *err)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    struct ch_store_info info;
    enum confhub_status status = begin_read(s, &info, err);
    if (status != CONFHUB_OK)
        return status;
    return end_read(s, CONFHUB_OK, &info, out);
}

/* ---------------------------------------------------------------- event queries */

/* The first revision written at or after ts (asc) or the last at or before it (!asc); the
 * writer keeps timestamps from going backwards, so time bounds are revision bounds. */
static int revision_at_time(struct sqlite_store *s, int64_t ts_ms, bool asc, int64_t *rev_out)
{
    const char *sql = asc ? "SELECT revision FROM revisions WHERE ts_ms >= ?1"
                            " ORDER BY ts_ms, revision LIMIT 1"
                          : "SELECT revision FROM revisions WHERE ts_ms <= ?1"
                            " ORDER BY ts_ms DESC, revision DESC LIMIT 1";
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL);

    *rev_out = asc ? REV_MAX : 0; /* nothing written in range: an empty answer */
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 1, ts_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *rev_out = sqlite3_column_int64(stmt, 0);
        rc = SQLITE_DONE;
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void add_order(struct ch_buf *sql, const char *rev, const char *seq, bool desc)
{
    char frag[96];
    snprintf(frag, sizeof(frag), desc ? " ORDER BY %s DESC, %s DESC" : " ORDER BY %s, %s", rev,
             seq);
    ch_buf_adds(sql, frag);
}

static void add_cursor(struct ch_buf *sql, const char *t, bool desc)
{
    char frag[96];
    snprintf(frag, sizeof(frag), " AND (%s.revision, %s.seq) %s (?9, ?10)", t, t, desc ? "<" : ">");
    ch_buf_adds(sql, frag);
}

/* Parameters: ?1-?3 scope, ?4 prefix, ?5 from, ?6 to, ?7 actor, ?8 op, ?9 ?10 cursor,
 * ?11 limit, ?12 since, ?13 until. A cursor also narrows ?5..?6 (ch_sqlite_history), so it
 * narrows whichever index range drives the query; the row value skips the events already
 * returned. */
static void history_sql(struct ch_buf *sql, const struct ch_history_filter *f)
{
    bool section = f->scope.ns && f->scope.section && !f->scope.key;
    /* With an actor (and no namespace), the rows come from revisions_by_actor (actor,
     * revision) and then the history's primary key (revision, seq); the range and the order
     * are stated on r.revision so SQLite sees that this nested loop already yields the order
     * asked for. Stated on h.revision, it sorted every event of the actor, for every page
     * (385,000 rows for a busy bot in the 1M-event bench, docs/benchmarks.md). Within a
     * namespace, history_by_ns gives the order and the actor is checked per event. */
    const char *rev = f->actor && !f->scope.ns ? "r.revision" : "h.revision";
    char frag[96];

    ch_buf_adds(sql, "SELECT h.revision, h.seq, r.ts_ms, r.actor, r.remote, h.op, h.ns,"
                     " h.section, h.key, h.old_value, h.new_value FROM ");
    /* A section's events come from history_by_key (ns, section, key, revision), which holds
     * them but not in revision order. Left to itself SQLite walks history_by_ns (ns,
     * revision) instead, to skip the sort, and checks the section there: the whole
     * namespace's history for a section that changes rarely. Without an actor or op filter
     * the page is picked inside the index alone (revision and seq are in it), so only the
     * page's rows are read; with one, every event of the section is read and sorted. Either
     * way the cost is bounded by the section's own history, not the namespace's. */
    if (section && !f->actor && f->op < 0) {
        ch_buf_adds(sql, "(SELECT k.revision, k.seq FROM history k INDEXED BY history_by_key"
                         " WHERE k.ns = ?1 AND k.section = ?2"
                         " AND k.revision >= ?5 AND k.revision <= ?6");
        if (f->after_rev)
            add_cursor(sql, "k", f->desc);
        add_order(sql, "k.revision", "k.seq", f->desc);
        ch_buf_adds(sql, " LIMIT ?11) p JOIN history h ON h.revision = p.revision"
                         " AND h.seq = p.seq JOIN revisions r ON r.revision = h.revision"
                         " WHERE 1");
    } else {
        ch_buf_adds(sql, section ? "history h INDEXED BY history_by_key" : "history h");
        ch_buf_adds(sql, " JOIN revisions r ON r.revision = h.revision");
        snprintf(frag, sizeof(frag), " WHERE %s >= ?5 AND %s <= ?6", rev, rev);
        ch_buf_adds(sql, frag);
        add_scope(sql, "h", &f->scope);
        if (f->section_prefix && f->scope.ns && !f->scope.section)
            ch_buf_adds(sql, " AND instr(h.section, ?4) = 1");
        if (f->actor)
            ch_buf_adds(sql, " AND r.actor = ?7");
        if (f->op >= 0)
            ch_buf_adds(sql, " AND h.op = ?8");
        if (f->after_rev)
            add_cursor(sql, "h", f->desc);
    }
    if (f->since_ms)
        ch_buf_adds(sql, " AND r.ts_ms >= ?12");
    if (f->until_ms)
        ch_buf_adds(sql, " AND r.ts_ms <= ?13");
    add_order(sql, rev, "h.seq", f->desc);
    ch_buf_adds(sql, " LIMIT ?11");
}

/* Parameters the statement does not use are skipped: binding an index past the highest one
 * the text names is an error, and unnamed ones below it are simply NULL. */
static int param_int(sqlite3_stmt *stmt, int i, int64_t v)
{
    return i <= sqlite3_bind_parameter_count(stmt) ? sqlite3_bind_int64(stmt, i, v) : SQLITE_OK;
}

static int param_text(sqlite3_stmt *stmt, int i, const char *v)
{
    return i <= sqlite3_bind_parameter_count(stmt) ? ch_sqlite_bind_text(stmt, i, v) : SQLITE_OK;
}

static int bind_history(sqlite3_stmt *stmt, const struct ch_history_filter *f, int64_t from,
                        int64_t to)
{
    int rc = bind_scope(stmt, &f->scope);
    rc |= param_text(stmt, 4, f->section_prefix);
    rc |= param_int(stmt, 5, from);
    rc |= param_int(stmt, 6, to);
    rc |= param_text(stmt, 7, f->actor);
    if (f->op >= 0)
        rc |= param_text(stmt, 8, f->op == CH_STORE_SET ? "set" : "delete");
    rc |= param_int(stmt, 9, f->after_rev);
    rc |= param_int(stmt, 10, f->after_seq);
    rc |= param_int(stmt, 11, f->limit ? (int64_t)f->limit : -1);
    rc |= param_int(stmt, 12, f->since_ms);
    rc |= param_int(stmt, 13, f->until_ms);
    return rc;
}

static enum confhub_status decode_event(sqlite3_stmt *stmt, const struct row_sink *sink, bool *oom,
                                        struct ch_err *err)
{
    const char *op = text_col(stmt, 5, oom);
    struct ch_history_event ev = {
        .revision = sqlite3_column_int64(stmt, 0),
        .seq = sqlite3_column_int64(stmt, 1),
        .ts_ms = sqlite3_column_int64(stmt, 2),
        .actor = text_col(stmt, 3, oom),
        .remote = text_col(stmt, 4, oom),
        .op = op && strcmp(op, "delete") == 0 ? CH_STORE_DELETE : CH_STORE_SET,
        .ns = text_col(stmt, 6, oom),
        .section = text_col(stmt, 7, oom),
        .key = text_col(stmt, 8, oom),
        .old_value = text_col(stmt, 9, oom),
        .new_value = text_col(stmt, 10, oom),
    };
    return *oom ? CONFHUB_OK : sink->fn.event(sink->userdata, &ev, err);
}

static enum confhub_status run_history(struct sqlite_store *s, const struct ch_history_filter *f,
                                       int64_t from, int64_t to, ch_store_event_fn *fn,
                                       void *userdata, struct ch_err *err)
{
    struct ch_buf sql = {0};
    sqlite3_stmt *stmt = NULL;
    enum confhub_status status;
    int rc;

    history_sql(&sql, f);
    status = prepare(s, &sql, &stmt, err);
    if (status != CONFHUB_OK)
        return status;
    rc = bind_history(stmt, f, from, to);
    struct row_sink sink = {.fn.event = fn, .userdata = userdata};
    return each_row(s, stmt, rc, decode_event, &sink, err);
}

enum confhub_status ch_sqlite_history(struct ch_store *store, const struct ch_history_filter *f,
                                      ch_store_event_fn *fn, void *userdata,
                                      struct ch_store_info *info_out, struct ch_err *err)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    struct ch_store_info info;
    int64_t from = f->from_rev > 0 ? f->from_rev : 1, to = f->to_rev > 0 ? f->to_rev : REV_MAX;
    enum confhub_status status = begin_read(s, &info, err);
    int rc = SQLITE_OK;

    if (status != CONFHUB_OK)
        return status;
    if (f->from_rev > 0 && f->from_rev <= info.compacted) {
        status = compacted(&info, f->from_rev, err);
        return end_read(s, status, &info, info_out);
    }
    /* Time bounds narrow the revision range first, so the indexes on revision do the work. */
    if (f->since_ms) {
        int64_t r;
        rc = revision_at_time(s, f->since_ms, true, &r);
        from = r > from ? r : from;
    }
    if (rc == SQLITE_OK && f->until_ms) {
        int64_t r;
        rc = revision_at_time(s, f->until_ms, false, &r);
        to = r < to ? r : to;
    }
    /* A cursor is a revision bound too, so it narrows whichever index range drives the
     * query (the row value in the statement then skips the events already returned). */
    if (f->after_rev && f->desc && f->after_rev < to)
        to = f->after_rev;
    if (f->after_rev && !f->desc && f->after_rev > from)
        from = f->after_rev;
    if (rc != SQLITE_OK)
        status = ch_sqlite_fail(s, rc, err, "cannot read history");
    else if (from <= to)
        status = run_history(s, f, from, to, fn, userdata, err);
    return end_read(s, status, &info, info_out);
}

/* ---------------------------------------------------------------- the past */

/* Entries of the scope right after ?4: current rows without a later event, plus the old value
 * of each key's first event after ?4 (absent when that event created the key). */
static void state_sql(struct ch_buf *sql, const struct ch_store_scope *scope)
{
    ch_buf_adds(sql, "WITH c AS MATERIALIZED (SELECT h.ns, h.section, h.key, h.old_value,"
                     " min(h.revision) FROM history h");
    /* The index is chosen, not left to SQLite, which took the other one each time: a
     * namespace reads its events after R from history_by_ns (ns, revision), so the cost is
     * what changed since R (it walked the whole namespace in history_by_key instead); a
     * section reads history_by_key (ns, section, ...), bounded by that section's history
     * (it walked every event of the namespace after R instead). */
    if (scope->ns && !scope->section)
        ch_buf_adds(sql, " INDEXED BY history_by_ns");
    else if (scope->ns && !scope->key)
        ch_buf_adds(sql, " INDEXED BY history_by_key");
    ch_buf_adds(sql, " WHERE h.revision > ?4");
    add_scope(sql, "h", scope);
    ch_buf_adds(sql, " GROUP BY h.ns, h.section, h.key)"
                     " SELECT kv.ns, kv.section, kv.key, kv.value FROM kv WHERE 1");
    add_scope(sql, "kv", scope);
    ch_buf_adds(sql, " AND NOT EXISTS (SELECT 1 FROM c WHERE c.ns = kv.ns AND"
                     " c.section = kv.section AND c.key = kv.key)"
                     " UNION ALL SELECT ns, section, key, old_value FROM c"
                     " WHERE old_value IS NOT NULL ORDER BY 1, 2, 3");
}

static enum confhub_status decode_entry(sqlite3_stmt *stmt, const struct row_sink *sink, bool *oom,
                                        struct ch_err *err)
{
    struct ch_store_entry e = {
        .ns = text_col(stmt, 0, oom),
        .section = text_col(stmt, 1, oom),
        .key = text_col(stmt, 2, oom),
        .value = text_col(stmt, 3, oom),
        .value_len = (size_t)sqlite3_column_bytes(stmt, 3),
    };
    return *oom ? CONFHUB_OK : sink->fn.entry(sink->userdata, &e, err);
}

enum confhub_status ch_sqlite_state_at(struct ch_store *store, const struct ch_store_scope *scope,
                                       int64_t revision, ch_store_load_fn *fn, void *userdata,
                                       struct ch_store_info *info_out, struct ch_err *err)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    struct ch_store_info info;
    struct ch_buf sql = {0};
    sqlite3_stmt *stmt = NULL;
    enum confhub_status status = begin_read(s, &info, err);
    int rc;

    if (status != CONFHUB_OK)
        return status;
    status = check_revision(&info, revision, err);
    if (status == CONFHUB_OK) {
        state_sql(&sql, scope);
        status = prepare(s, &sql, &stmt, err);
    }
    if (status != CONFHUB_OK)
        return end_read(s, status, &info, info_out);
    rc = bind_scope(stmt, scope) | sqlite3_bind_int64(stmt, 4, revision);
    struct row_sink sink = {.fn.entry = fn, .userdata = userdata};
    status = each_row(s, stmt, rc, decode_entry, &sink, err);
    return end_read(s, status, &info, info_out);
}

/* Per key of the scope with events in (?4, ?5]: the old value of the first and the new value
 * of the last; keys whose two values are equal changed and changed back. */
static void changes_sql(struct ch_buf *sql, const struct ch_store_scope *scope)
{
    ch_buf_adds(sql, "WITH r AS MATERIALIZED (SELECT h.ns, h.section, h.key, h.revision,"
                     " h.old_value, h.new_value FROM history h"
                     " WHERE h.revision > ?4 AND h.revision <= ?5");
    add_scope(sql, "h", scope);
    ch_buf_adds(sql, "), f AS (SELECT ns, section, key, old_value, min(revision) FROM r"
                     " GROUP BY ns, section, key),"
                     " l AS (SELECT ns, section, key, new_value, max(revision) FROM r"
                     " GROUP BY ns, section, key)"
                     " SELECT f.ns, f.section, f.key, f.old_value, l.new_value"
                     " FROM f JOIN l USING (ns, section, key)"
                     " WHERE f.old_value IS NOT l.new_value ORDER BY 1, 2, 3");
}

static enum confhub_status decode_change(sqlite3_stmt *stmt, const struct row_sink *sink, bool *oom,
                                         struct ch_err *err)
{
    struct ch_store_change c = {
        .ns = text_col(stmt, 0, oom),
        .section = text_col(stmt, 1, oom),
        .key = text_col(stmt, 2, oom),
        .old_value = text_col(stmt, 3, oom),
        .new_value = text_col(stmt, 4, oom),
    };
    return *oom ? CONFHUB_OK : sink->fn.change(sink->userdata, &c, err);
}

enum confhub_status ch_sqlite_changes(struct ch_store *store, const struct ch_store_scope *scope,
                                      int64_t from_rev, int64_t to_rev, ch_store_change_fn *fn,
                                      void *userdata, struct ch_store_info *info_out,
                                      struct ch_err *err)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    struct ch_store_info info;
    struct ch_buf sql = {0};
    sqlite3_stmt *stmt = NULL;
    enum confhub_status status = begin_read(s, &info, err);
    int rc;

    if (status != CONFHUB_OK)
        return status;
    status = check_revision(&info, from_rev, err);
    if (status == CONFHUB_OK)
        status = check_revision(&info, to_rev, err);
    if (status == CONFHUB_OK && from_rev > to_rev)
        status =
            ch_err_set(err, CONFHUB_EINVAL,
                       "from revision %" PRId64 " is after to revision %" PRId64, from_rev, to_rev);
    if (status == CONFHUB_OK) {
        changes_sql(&sql, scope);
        status = prepare(s, &sql, &stmt, err);
    }
    if (status != CONFHUB_OK)
        return end_read(s, status, &info, info_out);
    rc = bind_scope(stmt, scope) | sqlite3_bind_int64(stmt, 4, from_rev) |
         sqlite3_bind_int64(stmt, 5, to_rev);
    struct row_sink sink = {.fn.change = fn, .userdata = userdata};
    status = each_row(s, stmt, rc, decode_change, &sink, err);
    return end_read(s, status, &info, info_out);
}

/* ---------------------------------------------------------------- compaction */

/* Runs one bounded DELETE; adds the rows it removed to *deleted. */
static int delete_some(struct sqlite_store *s, const char *sql, int64_t upto, size_t max,
                       size_t *deleted)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 1, upto) | sqlite3_bind_int64(stmt, 2, (int64_t)max);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) {
        *deleted += (size_t)sqlite3_changes(s->db);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    return rc;
}

enum confhub_status ch_sqlite_compact(struct ch_store *store, int64_t upto_rev, size_t max_events,
                                      size_t *deleted_out, struct ch_err *err)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    struct ch_store_info info;
    enum confhub_status status = ch_sqlite_check_current(s, err);
    size_t deleted = 0;
    int64_t horizon;
    int rc;

    *deleted_out = 0;
    if (status != CONFHUB_OK)
        return status;
    if (s->read_only)
        return ch_err_set(err, CONFHUB_EINVAL, "cannot compact '%s': opened read-only", s->path);
    ch_sqlite_rollback(s);
    rc = ch_sqlite_step_done(s->stmts[ST_BEGIN]);
    if (rc == SQLITE_OK)
        rc = read_info(s, &info);
    if (rc != SQLITE_OK)
        goto fail;
    horizon = upto_rev < info.revision ? upto_rev : info.revision;
    if (horizon < info.compacted)
        horizon = info.compacted;
    /* The horizon moves first, in the same transaction as the first deletes: a reader sees
     * either the old horizon with all its events or the new one, never a hole below it. */
    if (horizon > info.compacted) {
        sqlite3_stmt *stmt = NULL;
        rc = sqlite3_prepare_v2(s->db, "UPDATE meta SET value = ?1 WHERE name = 'compacted'", -1,
                                &stmt, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(stmt, 1, horizon);
        if (rc == SQLITE_OK)
            rc = ch_sqlite_step_done(stmt);
        sqlite3_finalize(stmt);
    }
    if (rc == SQLITE_OK)
        rc = delete_some(s,
                         "DELETE FROM history WHERE (revision, seq) IN (SELECT revision, seq"
                         " FROM history WHERE revision <= ?1 ORDER BY revision, seq LIMIT ?2)",
                         horizon, max_events, &deleted);
    /* The horizon's own row stays: it dates the oldest state that can still be read. */
    if (rc == SQLITE_OK && deleted < max_events)
        rc = delete_some(s,
                         "DELETE FROM revisions WHERE revision IN (SELECT revision FROM revisions"
                         " WHERE revision < ?1 ORDER BY revision LIMIT ?2)",
                         horizon, max_events - deleted, &deleted);
    if (rc == SQLITE_OK)
        rc = ch_sqlite_step_done(s->stmts[ST_COMMIT]);
    if (rc != SQLITE_OK)
        goto fail;
    *deleted_out = deleted;
    return CONFHUB_OK;
fail:
    status = ch_sqlite_fail(s, rc, err, "cannot compact history");
    ch_sqlite_rollback(s);
    return status;
}
