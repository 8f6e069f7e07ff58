/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite.c: the storage interface (store.h) on one SQLite database file.
 *
 * Schema (src/store_migrations/sqlite/0001_init.sql draws it): kv holds the current entries,
 * history one row per changed key per revision, meta the store's revision.
 *
 * Schema version: PRAGMA user_version. It lives in the database header, so setting it is part
 * of the migration's own transaction: a crash leaves either the old schema with the old
 * version or the new schema with the new one. A version newer than the newest migration this
 * binary carries (ch_sqlite_migrations) is refused with CONFHUB_EVERSION.
 *
 * Durability: WAL with synchronous=FULL, so one COMMIT is one fsync of the WAL. A call to
 * commit() writes its whole batch in one transaction; that is the writer's group commit.
 *
 * Invariants:
 *  - the hot-path statements are prepared only while the schema is at the latest version, so
 *    "stmts prepared" is the same as "this store may be read and written";
 *  - outside a call, the connection is never inside a transaction: every failure path rolls
 *    back, and a rollback that failed itself (out of memory) is retried at the next commit.
 *
 * One thread (the writer) owns a store, hence SQLITE_OPEN_NOMUTEX.
 */
#include "store_sqlite.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "store_migrations.h"
#include "store_sqlite_int.h"

/* How long a statement waits for another process's lock (a `confhub migrate` run). */
#define BUSY_TIMEOUT_MS 5000

/* clang-format off */
static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN]          = "BEGIN IMMEDIATE",
    [ST_COMMIT]         = "COMMIT",
    [ST_ROLLBACK]       = "ROLLBACK",
    [ST_UPSERT_KV]      = "INSERT INTO kv (ns, section, key, value, create_rev, mod_rev, version)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                          " ON CONFLICT (ns, section, key) DO UPDATE SET value = excluded.value,"
                          " create_rev = excluded.create_rev, mod_rev = excluded.mod_rev,"
                          " version = excluded.version",
    [ST_DELETE_KV]      = "DELETE FROM kv WHERE ns = ?1 AND section = ?2 AND key = ?3",
    [ST_INSERT_REVISION]= "INSERT INTO revisions (revision, ts_ms, actor, remote)"
                          " VALUES (?1, ?2, ?3, ?4)",
    [ST_INSERT_HISTORY] = "INSERT INTO history (revision, seq, op, ns, section, key, old_value,"
                          " new_value) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_GET_REVISION]   = "SELECT value FROM meta WHERE name = 'revision'",
    [ST_SET_REVISION]   = "INSERT INTO meta (name, value) VALUES ('revision', ?1)"
                          " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    [ST_INFO]           = "SELECT (SELECT value FROM meta WHERE name = 'revision'),"
                          " (SELECT value FROM meta WHERE name = 'compacted'),"
                          " (SELECT ts_ms FROM revisions ORDER BY revision DESC LIMIT 1)",
};

/* clang-format on */

static const struct ch_store_ops sqlite_ops;

static int latest_version(void)
{
    return ch_sqlite_migrations[ch_sqlite_migrations_count - 1].version;
}

/* Turns a failed SQLite call into a status: out of memory stays ENOMEM (STYLE B4.5), the rest
 * is a storage error. what says what failed ("cannot open database 'x'"). */
enum confhub_status ch_sqlite_fail(struct sqlite_store *s, int rc, struct ch_err *err,
                                   const char *what)
{
    const char *why = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    int sys = s->db ? sqlite3_system_errno(s->db) : 0;

    if ((rc & 0xff) == SQLITE_NOMEM || rc == SQLITE_IOERR_NOMEM)
        return ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", what);
    /* errmsg can describe an older error than rc after a failed COMMIT; errstr(rc) cannot. */
    if (s->db && sqlite3_extended_errcode(s->db) != rc)
        why = sqlite3_errstr(rc);
    if ((rc & 0xff) == SQLITE_FULL)
        return ch_err_set(err, CONFHUB_EIO, "%s: no space left on device (%s)", what, why);
    if (sys != 0 && (rc & 0xff) == SQLITE_IOERR)
        return ch_err_set(err, CONFHUB_EIO, "%s: %s (%s)", what, why, strerror(sys));
    return ch_err_set(err, CONFHUB_EIO, "%s: %s", what, why);
}

/* Runs a statement that returns no rows and resets it; returns the SQLite code. */
int ch_sqlite_step_done(sqlite3_stmt *stmt)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Leaves any open transaction; safe to call when none is open. */
void ch_sqlite_rollback(struct sqlite_store *s)
{
    if (sqlite3_get_autocommit(s->db))
        return; /* SQLite already rolled back (it does for some I/O and memory errors) */
    int rc = s->stmts[ST_ROLLBACK] ? ch_sqlite_step_done(s->stmts[ST_ROLLBACK])
                                   : sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        ch_log(CH_LOG_WARN, "store", "cannot roll back on '%s': %s (will retry)", s->path,
               sqlite3_errstr(rc));
}

static int read_user_version(struct sqlite_store *s, int *version_out)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *version_out = sqlite3_column_int(stmt, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    return rc;
}

static void finalize_stmts(struct sqlite_store *s)
{
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(s->stmts[i]);
        s->stmts[i] = NULL;
    }
}

static enum confhub_status prepare_stmts(struct sqlite_store *s, struct ch_err *err)
{
    for (int i = 0; i < ST_COUNT; i++) {
        /* PERSISTENT: these live as long as the connection, so keep them out of lookaside. */
        int rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmts[i],
                                    NULL);
        if (rc != SQLITE_OK) {
            char what[600];
            snprintf(what, sizeof(what), "cannot prepare statements on '%s'", s->path);
            enum confhub_status status = ch_sqlite_fail(s, rc, err, what);
            finalize_stmts(s);
            return status;
        }
    }
    return CONFHUB_OK;
}

/* Refuses a database that a newer confhub wrote; we cannot know what its schema means. */
static enum confhub_status check_not_newer(struct sqlite_store *s, int version, struct ch_err *err)
{
    if (version <= latest_version())
        return CONFHUB_OK;
    return ch_err_set(err, CONFHUB_EVERSION,
                      "database '%s' has schema version %d, newer than this confhub (knows up "
                      "to %d): upgrade confhub",
                      s->path, version, latest_version());
}

/* Applies one migration and bumps user_version in the same transaction. The version is read
 * again inside the transaction, so two processes migrating at once do not both apply it. */
static enum confhub_status apply_migration(struct sqlite_store *s, const struct ch_migration *m,
                                           struct ch_err *err)
{
    enum confhub_status status = CONFHUB_OK;
    char what[600], bump[64];
    int version = 0;
    int rc;

    snprintf(what, sizeof(what), "cannot apply migration %s to '%s'", m->name, s->path);
    rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = read_user_version(s, &version);
    if (rc != SQLITE_OK) {
        status = ch_sqlite_fail(s, rc, err, what);
        goto done;
    }
    if (version >= m->version)
        goto done; /* someone else got there first */
    status = check_not_newer(s, version, err);
    if (status != CONFHUB_OK)
        goto done;
    ch_log(CH_LOG_INFO, "store", "applying migration %s to '%s' (schema %d -> %d)", m->name,
           s->path, version, m->version);
    snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", m->version);
    rc = sqlite3_exec(s->db, m->sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, bump, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        status = ch_sqlite_fail(s, rc, err, what);
done:
    ch_sqlite_rollback(s); /* a no-op after COMMIT */
    return status;
}

static enum confhub_status sqlite_migrate(struct ch_store *store, struct ch_err *err)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    enum confhub_status status;
    int version = 0;
    int rc = read_user_version(s, &version);

    if (rc != SQLITE_OK)
        return ch_sqlite_fail(s, rc, err, "cannot read schema version");
    status = check_not_newer(s, version, err);
    if (status != CONFHUB_OK)
        return status;
    for (size_t i = 0; i < ch_sqlite_migrations_count; i++) {
        if (ch_sqlite_migrations[i].version <= version)
            continue;
        status = apply_migration(s, &ch_sqlite_migrations[i], err);
        if (status != CONFHUB_OK)
            return status;
    }
    if (!s->stmts[0])
        return prepare_stmts(s, err);
    return CONFHUB_OK;
}

static enum confhub_status sqlite_schema(struct ch_store *store, int *current_out, int *latest_out,
                                         struct ch_err *err)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    int version = 0;
    int rc = read_user_version(s, &version);

    if (rc != SQLITE_OK)
        return ch_sqlite_fail(s, rc, err, "cannot read schema version");
    *current_out = version;
    *latest_out = latest_version();
    return CONFHUB_OK;
}

/* Reading or writing an old schema would be wrong in ways SQL would not always catch. */
enum confhub_status ch_sqlite_check_current(struct sqlite_store *s, struct ch_err *err)
{
    int version = 0;

    if (s->stmts[0])
        return CONFHUB_OK;
    if (read_user_version(s, &version) != SQLITE_OK)
        version = -1;
    return ch_err_set(err, CONFHUB_EINVAL,
                      "database '%s' has schema version %d, this confhub needs %d: run confhub "
                      "migrate up",
                      s->path, version, latest_version());
}

static int read_revision(struct sqlite_store *s, int64_t *revision_out)
{
    sqlite3_stmt *stmt = s->stmts[ST_GET_REVISION];
    int rc = sqlite3_step(stmt);

    *revision_out = 0;
    if (rc == SQLITE_ROW) {
        *revision_out = sqlite3_column_int64(stmt, 0);
        rc = SQLITE_DONE;
    }
    sqlite3_reset(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static enum confhub_status sqlite_load(struct ch_store *store, ch_store_load_fn *fn, void *userdata,
                                       int64_t *revision_out, struct ch_err *err)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    enum confhub_status status = ch_sqlite_check_current(s, err);
    sqlite3_stmt *stmt = NULL;
    int64_t revision = 0;
    char what[600];
    int rc;

    if (status != CONFHUB_OK)
        return status;
    ch_sqlite_rollback(s); /* only does something if an earlier rollback itself failed */
    snprintf(what, sizeof(what), "cannot load '%s'", s->path);
    /* One read transaction, so the entries and the revision are from the same snapshot. */
    rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db,
                                "SELECT ns, section, key, value, create_rev, mod_rev, version"
                                " FROM kv ORDER BY ns, section, key",
                                -1, &stmt, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct ch_store_entry entry = {
            .ns = (const char *)sqlite3_column_text(stmt, 0),
            .section = (const char *)sqlite3_column_text(stmt, 1),
            .key = (const char *)sqlite3_column_text(stmt, 2),
            .value = (const char *)sqlite3_column_text(stmt, 3),
            .value_len = (size_t)sqlite3_column_bytes(stmt, 3),
            .create_rev = sqlite3_column_int64(stmt, 4),
            .mod_rev = sqlite3_column_int64(stmt, 5),
            .version = sqlite3_column_int64(stmt, 6),
        };
        /* column_text returns NULL for a non-NULL column only when it is out of memory. */
        if (!entry.ns || !entry.section || !entry.key || !entry.value) {
            rc = SQLITE_NOMEM;
            break;
        }
        status = fn(userdata, &entry, err);
        if (status != CONFHUB_OK)
            goto done;
        rc = SQLITE_OK;
    }
    if (rc == SQLITE_DONE)
        rc = read_revision(s, &revision);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        status = ch_sqlite_fail(s, rc, err, what);
        goto done;
    }
    *revision_out = revision;
done:
    sqlite3_finalize(stmt);
    ch_sqlite_rollback(s);
    return status;
}

int ch_sqlite_bind_text(sqlite3_stmt *stmt, int col, const char *text)
{
    /* STATIC: the strings are borrowed for the call and the statement is reset before then. */
    if (!text)
        return sqlite3_bind_null(stmt, col);
    return sqlite3_bind_text(stmt, col, text, -1, SQLITE_STATIC);
}

/* Checks the batch before touching the database: these are programmer errors in the writer,
 * reported as EINVAL rather than asserted so a bad batch can never corrupt the store. */
static enum confhub_status check_batch(const struct ch_store_revision *revs, size_t n_revs,
                                       struct ch_err *err)
{
    for (size_t i = 0; i < n_revs; i++) {
        const struct ch_store_revision *r = &revs[i];
        if (i > 0 && r->revision != revs[i - 1].revision + 1)
            return ch_err_set(err, CONFHUB_EINVAL,
                              "cannot commit revision %" PRId64 ": it follows %" PRId64
                              " in the batch (revisions must have no gaps)",
                              r->revision, revs[i - 1].revision);
        if (r->n_events == 0 || !r->events || !r->actor || !r->remote)
            return ch_err_set(err, CONFHUB_EINVAL,
                              "cannot commit revision %" PRId64 ": no events, actor or remote",
                              r->revision);
        for (size_t k = 0; k < r->n_events; k++) {
            const struct ch_store_event *ev = &r->events[k];
            bool bad = !ev->ns || !ev->section || !ev->key ||
                       (ev->op != CH_STORE_SET && ev->op != CH_STORE_DELETE) ||
                       (ev->op == CH_STORE_SET && !ev->new_value);
            if (bad)
                return ch_err_set(err, CONFHUB_EINVAL,
                                  "cannot commit revision %" PRId64 ": event %zu is malformed",
                                  r->revision, k);
        }
    }
    return CONFHUB_OK;
}

/* Writes a revision's row (time, actor, remote); returns the SQLite code. */
static int write_revision(struct sqlite_store *s, const struct ch_store_revision *r)
{
    sqlite3_stmt *stmt = s->stmts[ST_INSERT_REVISION];
    int rc = sqlite3_bind_int64(stmt, 1, r->revision);
    rc |= sqlite3_bind_int64(stmt, 2, r->ts_ms);
    rc |= ch_sqlite_bind_text(stmt, 3, r->actor);
    rc |= ch_sqlite_bind_text(stmt, 4, r->remote);
    return rc == SQLITE_OK ? ch_sqlite_step_done(stmt) : rc;
}

/* Writes one event's kv change and history row; returns the SQLite code. */
static int write_event(struct sqlite_store *s, const struct ch_store_revision *r, size_t seq)
{
    const struct ch_store_event *ev = &r->events[seq];
    sqlite3_stmt *kv = s->stmts[ev->op == CH_STORE_SET ? ST_UPSERT_KV : ST_DELETE_KV];
    sqlite3_stmt *hist = s->stmts[ST_INSERT_HISTORY];
    int rc = SQLITE_OK;

    /* Binding fails only when out of memory or on a wrong index, and the failure is recorded on
     * the connection, so the results are OR-ed and checked once per statement. */
    rc |= ch_sqlite_bind_text(kv, 1, ev->ns);
    rc |= ch_sqlite_bind_text(kv, 2, ev->section);
    rc |= ch_sqlite_bind_text(kv, 3, ev->key);
    if (ev->op == CH_STORE_SET) {
        rc |= ch_sqlite_bind_text(kv, 4, ev->new_value);
        rc |= sqlite3_bind_int64(kv, 5, ev->create_rev);
        rc |= sqlite3_bind_int64(kv, 6, ev->mod_rev);
        rc |= sqlite3_bind_int64(kv, 7, ev->version);
    }
    if (rc != SQLITE_OK)
        return sqlite3_errcode(s->db);
    rc = ch_sqlite_step_done(kv);
    if (rc != SQLITE_OK)
        return rc;

    rc |= sqlite3_bind_int64(hist, 1, r->revision);
    rc |= sqlite3_bind_int64(hist, 2, (sqlite3_int64)seq);
    rc |= ch_sqlite_bind_text(hist, 3, ev->op == CH_STORE_SET ? "set" : "delete");
    rc |= ch_sqlite_bind_text(hist, 4, ev->ns);
    rc |= ch_sqlite_bind_text(hist, 5, ev->section);
    rc |= ch_sqlite_bind_text(hist, 6, ev->key);
    rc |= ch_sqlite_bind_text(hist, 7, ev->old_value);
    rc |= ch_sqlite_bind_text(hist, 8, ev->op == CH_STORE_SET ? ev->new_value : NULL);
    if (rc != SQLITE_OK)
        return sqlite3_errcode(s->db);
    return ch_sqlite_step_done(hist);
}

static enum confhub_status sqlite_commit(struct ch_store *store,
                                         const struct ch_store_revision *revs, size_t n_revs,
                                         struct ch_err *err)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    enum confhub_status status = CONFHUB_OK;
    int64_t first = n_revs ? revs[0].revision : 0, last = n_revs ? revs[n_revs - 1].revision : 0;
    int64_t current = 0;
    char what[128];
    int rc;

    status = ch_sqlite_check_current(s, err);
    if (status != CONFHUB_OK || n_revs == 0)
        return status;
    if (s->read_only)
        return ch_err_set(err, CONFHUB_EINVAL, "cannot commit on '%s': opened read-only", s->path);
    status = check_batch(revs, n_revs, err);
    if (status != CONFHUB_OK)
        return status;
    if (first == last)
        snprintf(what, sizeof(what), "cannot commit revision %" PRId64, first);
    else
        snprintf(what, sizeof(what), "cannot commit revisions %" PRId64 "-%" PRId64, first, last);

    ch_sqlite_rollback(s); /* only does something if an earlier rollback itself failed */
    rc = ch_sqlite_step_done(s->stmts[ST_BEGIN]);
    if (rc == SQLITE_OK)
        rc = read_revision(s, &current);
    if (rc != SQLITE_OK)
        goto sql_error;
    if (first != current + 1) {
        status = ch_err_set(err, CONFHUB_EINVAL,
                            "cannot commit revision %" PRId64 ": the store is at revision %" PRId64
                            ", so the next one must be %" PRId64,
                            first, current, current + 1);
        goto done;
    }
    for (size_t i = 0; i < n_revs && rc == SQLITE_OK; i++) {
        rc = write_revision(s, &revs[i]);
        for (size_t seq = 0; seq < revs[i].n_events && rc == SQLITE_OK; seq++)
            rc = write_event(s, &revs[i], seq);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(s->stmts[ST_SET_REVISION], 1, last);
    if (rc == SQLITE_OK)
        rc = ch_sqlite_step_done(s->stmts[ST_SET_REVISION]);
    /* The one fsync of the batch happens here; if it fails, nothing of the batch is visible. */
    if (rc == SQLITE_OK)
        rc = ch_sqlite_step_done(s->stmts[ST_COMMIT]);
    if (rc == SQLITE_OK)
        goto done;
sql_error:
    status = ch_sqlite_fail(s, rc, err, what);
done:
    ch_sqlite_rollback(s);
    return status;
}

static void sqlite_close(struct ch_store *store)
{
    struct sqlite_store *s = (struct sqlite_store *)store;

    if (!s)
        return;
    finalize_stmts(s);
    if (s->db && s->opened && !s->read_only) {
        ch_sqlite_rollback(s);
        /* Best effort: leaves a single file behind for backups; the WAL is replayed anyway. */
        int rc = sqlite3_exec(s->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            ch_log(CH_LOG_WARN, "store", "cannot checkpoint '%s': %s", s->path,
                   sqlite3_errmsg(s->db));
    }
    if (s->db) {
        /* Every statement is finalized, so this cannot fail with SQLITE_BUSY. */
        int rc = sqlite3_close(s->db);
        if (rc != SQLITE_OK)
            ch_log(CH_LOG_WARN, "store", "cannot close '%s': %s", s->path, sqlite3_errstr(rc));
    }
    ch_free(s->path);
    ch_free(s->base.uri);
    ch_free(s);
}

/* Sets the connection up: WAL (readers never block the writer, one fsync per commit),
 * FULL sync (a committed revision survives power loss), foreign keys for later schemas. */
static enum confhub_status configure(struct sqlite_store *s, struct ch_err *err)
{
    sqlite3_stmt *stmt = NULL;
    enum confhub_status status = CONFHUB_OK;
    char what[600];
    int rc;

    snprintf(what, sizeof(what), "cannot set up database '%s'", s->path);
    rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &stmt, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(stmt, 0);
        if (!mode || strcmp(mode, "wal") != 0) {
            status = ch_err_set(err, CONFHUB_EIO, "%s: journal mode is '%s', not 'wal'", what,
                                mode ? mode : "?");
            goto done;
        }
        rc = SQLITE_OK;
    }
    if (rc == SQLITE_OK)
        /* A 64 MiB page cache keeps a 100,000-key import inside memory until its commit:
         * with the 2 MiB default, SQLite spills pages to the WAL mid-transaction. */
        rc = sqlite3_exec(s->db,
                          "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
                          " PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY",
                          NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        status = ch_sqlite_fail(s, rc, err, what);
done:
    sqlite3_finalize(stmt);
    return status;
}

enum confhub_status ch_store_sqlite_open(const char *uri, const char *path,
                                         const struct ch_store_options *opts, struct ch_store **out,
                                         struct ch_err *err)
{
    enum confhub_status status = CONFHUB_OK;
    struct sqlite_store *s = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    int version = 0;
    char what[600];
    int rc;

    s = ch_calloc(1, sizeof(*s));
    if (!s)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot open store '%s': out of memory", uri);
    s->base.ops = &sqlite_ops;
    s->base.uri = ch_strdup(uri);
    s->path = ch_strdup(path);
    if (!s->base.uri || !s->path) {
        status = ch_err_set(err, CONFHUB_ENOMEM, "cannot open store '%s': out of memory", uri);
        goto done;
    }
    snprintf(what, sizeof(what), "cannot open database '%s'", path);
    s->read_only = opts->read_only;
    if (opts->read_only)
        flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;
    else if (opts->create)
        flags |= SQLITE_OPEN_CREATE;
    rc = sqlite3_open_v2(path, &s->db, flags, opts->sqlite_vfs);
    if (rc != SQLITE_OK) {
        status = ch_sqlite_fail(s, rc, err, what);
        goto done;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    rc = read_user_version(s, &version);
    if (rc != SQLITE_OK) {
        status = ch_sqlite_fail(s, rc, err, what);
        goto done;
    }
    /* Checked before configure(): the journal mode is stored in the file, and a database from
     * a newer confhub is left exactly as it was. */
    status = check_not_newer(s, version, err);
    if (status == CONFHUB_OK)
        status = configure(s, err);
    if (status != CONFHUB_OK)
        goto done;
    if (opts->migrate && !opts->read_only)
        status = sqlite_migrate(&s->base, err);
    else if (version == latest_version())
        status = prepare_stmts(s, err);
    if (status != CONFHUB_OK)
        goto done;
    s->opened = true;
    *out = &s->base;
    s = NULL;
done:
    sqlite_close(s ? &s->base : NULL);
    return status;
}

static const struct ch_store_ops sqlite_ops = {
    .name = "sqlite",
    .load = sqlite_load,
    .commit = sqlite_commit,
    .schema = sqlite_schema,
    .migrate = sqlite_migrate,
    .info = ch_sqlite_info,
    .history = ch_sqlite_history,
    .state_at = ch_sqlite_state_at,
    .changes = ch_sqlite_changes,
    .compact = ch_sqlite_compact,
    .close = sqlite_close,
};
