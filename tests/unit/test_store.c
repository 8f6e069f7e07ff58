/* SPDX-License-Identifier: MIT */
/*
 * test_store.c: the SQLite store (store.h) against real files in a temporary directory.
 *
 * Failure paths are driven two ways, both from tests/lib/fault_vfs.h:
 *  - a fault-injecting SQLite VFS ("fault") wraps the default one; armed, it makes xWrite
 *    return SQLITE_FULL or xSync return SQLITE_IOERR_FSYNC, as a full or failing disk would;
 *  - SQLite's own allocator is routed through ch_malloc (main), so ch_alloc_fail_after(n)
 *    fails the n-th allocation in our code and in SQLite alike (allocation torture).
 * "Unchanged" is checked by dumping every table through a separate, fault-free connection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/alloc.h"
#include "common/log.h"
#include "lib/fault_vfs.h"
#include "lib/tmpdir.h"
#include "store.h"

/* ---- fixture and helpers ------------------------------------------------------------------ */

struct fixture {
    char dir[64];
    char path[128];
    char uri[160];
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    if (!fx)
        return -1;
    strcpy(fx->dir, "/tmp/confhub-test-store-XXXXXX");
    if (!mkdtemp(fx->dir)) {
        free(fx);
        return -1;
    }
    snprintf(fx->path, sizeof(fx->path), "%s/confhub.db", fx->dir);
    snprintf(fx->uri, sizeof(fx->uri), "sqlite:%s", fx->path);
    ch_test_fault_arm(-1, -1);
    ch_alloc_fail_after(-1);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;

    ch_test_fault_arm(-1, -1);
    ch_alloc_fail_after(-1);
    int rc = ch_test_tmpdir_remove(fx->dir);
    free(fx);
    return rc;
}

static struct ch_store *open_ok(const struct fixture *fx, const char *vfs)
{
    struct ch_store_options opts = {.migrate = true, .create = true, .sqlite_vfs = vfs};
    struct ch_store *store = NULL;
    struct ch_err err = {0};

    assert_int_equal(ch_store_open(fx->uri, &opts, &store, &err), CONFHUB_OK);
    assert_non_null(store);
    return store;
}

/* The whole database as text, read through a separate default-VFS connection. */
static void dump_db(const char *path, char *out, size_t out_len)
{
    static const char *const queries[] = {
        "SELECT ns, section, key, value, create_rev, mod_rev, version FROM kv ORDER BY 1, 2, 3",
        "SELECT h.revision, seq, ts_ms, actor, remote, op, ns, section, key, old_value, new_value"
        " FROM history h JOIN revisions r ON h.revision = r.revision ORDER BY 1, 2",
        "SELECT name, value FROM meta ORDER BY name",
    };
    sqlite3 *db = NULL;
    size_t len = 0;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    out[0] = '\0';
    for (size_t q = 0; q < sizeof(queries) / sizeof(queries[0]); q++) {
        sqlite3_stmt *stmt = NULL;
        assert_int_equal(sqlite3_prepare_v2(db, queries[q], -1, &stmt, NULL), SQLITE_OK);
        while (sqlite3_step(stmt) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(stmt); c++) {
                const char *v = (const char *)sqlite3_column_text(stmt, c);
                len += (size_t)snprintf(out + len, out_len - len, "%s|", v ? v : "NULL");
                assert_true(len < out_len);
            }
            len += (size_t)snprintf(out + len, out_len - len, "\n");
            assert_true(len < out_len);
        }
        sqlite3_finalize(stmt);
        len += (size_t)snprintf(out + len, out_len - len, "--\n");
    }
    sqlite3_close(db);
}

static void exec_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static int64_t query_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    int64_t v;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return v;
}

/* What ch_store_load handed over, one "ns/section/key=value create,mod,version" per entry. */
struct loaded {
    char lines[16][160];
    size_t n;
};

static enum confhub_status collect(void *userdata, const struct ch_store_entry *e,
                                   struct ch_err *err)
{
    struct loaded *l = userdata;
    (void)err;
    assert_true(l->n < 16);
    assert_int_equal(strlen(e->value), e->value_len);
    snprintf(l->lines[l->n++], sizeof(l->lines[0]), "%s/%s/%s=%s %lld,%lld,%lld", e->ns, e->section,
             e->key, e->value, (long long)e->create_rev, (long long)e->mod_rev,
             (long long)e->version);
    return CONFHUB_OK;
}

static enum confhub_status load_all(struct ch_store *store, struct loaded *l, int64_t *rev)
{
    struct ch_err err = {0};
    memset(l, 0, sizeof(*l));
    return ch_store_load(store, collect, l, rev, &err);
}

static struct ch_store_event set_event(const char *section, const char *key, const char *old,
                                       const char *value, int64_t create_rev, int64_t rev,
                                       int64_t version)
{
    return (struct ch_store_event){.op = CH_STORE_SET,
                                   .ns = "app",
                                   .section = section,
                                   .key = key,
                                   .old_value = old,
                                   .new_value = value,
                                   .create_rev = create_rev,
                                   .mod_rev = rev,
                                   .version = version};
}

static struct ch_store_revision revision(int64_t rev, const struct ch_store_event *events,
                                         size_t n_events)
{
    return (struct ch_store_revision){.revision = rev,
                                      .ts_ms = 1700000000000 + rev,
                                      .actor = "anonymous",
                                      .remote = "127.0.0.1:5555",
                                      .events = events,
                                      .n_events = n_events};
}

/* Commits revision 1: two keys. */
static void commit_first(struct ch_store *store)
{
    struct ch_store_event ev[] = {
        set_event("db", "host", NULL, "\"localhost\"", 1, 1, 1),
        set_event("db", "port", NULL, "5432", 1, 1, 1),
    };
    struct ch_store_revision rev = revision(1, ev, 2);
    struct ch_err err = {0};
    assert_int_equal(ch_store_commit(store, &rev, 1, &err), CONFHUB_OK);
}

/* The batch the failure tests try to commit on top of commit_first: revisions 2 and 3. */
static enum confhub_status commit_second_batch(struct ch_store *store, struct ch_err *err)
{
    struct ch_store_event ev2[] = {
        set_event("db", "host", "\"localhost\"", "\"db.internal\"", 1, 2, 2),
        set_event("cache", "ttl", NULL, "30", 2, 2, 1),
    };
    struct ch_store_event ev3[] = {
        {.op = CH_STORE_DELETE, .ns = "app", .section = "db", .key = "port", .old_value = "5432"},
    };
    struct ch_store_revision revs[] = {revision(2, ev2, 2), revision(3, ev3, 1)};
    return ch_store_commit(store, revs, 2, err);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_store_open_creates_and_migrates(void **state)
{
    struct fixture *fx = *state;
    struct ch_store *store = open_ok(fx, NULL);
    int current = -1, latest = -1;
    struct ch_err err = {0};

    assert_int_equal(ch_store_schema(store, &current, &latest, &err), CONFHUB_OK);
    assert_int_equal(current, 2);
    assert_int_equal(latest, 2);
    assert_string_equal(store->uri, fx->uri);
    ch_store_close(store);
    assert_int_equal(query_int(fx->path, "PRAGMA user_version"), 2);
    assert_int_equal(query_int(fx->path, "SELECT count(*) FROM meta WHERE name = 'revision'"), 1);

    /* Opening again with migrate is a no-op. */
    store = open_ok(fx, NULL);
    ch_store_close(store);
}

static void test_store_open_missing_file_without_create_fails(void **state)
{
    struct fixture *fx = *state;
    struct ch_store_options opts = {.migrate = true};
    struct ch_store *store = NULL;
    struct ch_err err = {0};

    assert_int_equal(ch_store_open(fx->uri, &opts, &store, &err), CONFHUB_EIO);
    assert_null(store);
    assert_non_null(strstr(err.msg, "cannot open database"));
    assert_int_equal(access(fx->path, F_OK), -1);
}

static void test_store_load_empty_gives_revision_zero(void **state)
{
    struct ch_store *store = open_ok(*state, NULL);
    struct loaded l;
    int64_t rev = -1;

    assert_int_equal(load_all(store, &l, &rev), CONFHUB_OK);
    assert_int_equal(rev, 0);
    assert_int_equal(l.n, 0);
    ch_store_close(store);
}

static void test_store_commit_survives_reopen_in_byte_order(void **state)
{
    struct fixture *fx = *state;
    struct ch_store *store = open_ok(fx, NULL);
    /* Byte order: "B" < "a" < "z" < "é" (0xc3 0xa9), unlike any locale's order. */
    struct ch_store_event ev[] = {
        set_event("z", "k", NULL, "1", 1, 1, 1),
        set_event("\xc3\xa9", "k", NULL, "2", 1, 1, 1),
        set_event("a", "k", NULL, "3", 1, 1, 1),
        set_event("B", "k", NULL, "4", 1, 1, 1),
    };
    struct ch_store_event ev2[] = {set_event("a", "k", "3", "{\"x\":[1,2]}", 1, 2, 2)};
    struct ch_store_revision revs[] = {revision(1, ev, 4), revision(2, ev2, 1)};
    struct ch_err err = {0};
    struct loaded l;
    int64_t rev = -1;

    assert_int_equal(ch_store_commit(store, revs, 2, &err), CONFHUB_OK);
    ch_store_close(store);

    struct ch_store_options opts = {0}; /* no migrate, no create: the file is up to date */
    store = NULL;
    assert_int_equal(ch_store_open(fx->uri, &opts, &store, &err), CONFHUB_OK);
    assert_int_equal(load_all(store, &l, &rev), CONFHUB_OK);
    assert_int_equal(rev, 2);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.lines[0], "app/B/k=4 1,1,1");
    assert_string_equal(l.lines[1], "app/a/k={\"x\":[1,2]} 1,2,2");
    assert_string_equal(l.lines[2], "app/z/k=1 1,1,1");
    assert_string_equal(l.lines[3], "app/\xc3\xa9/k=2 1,1,1");
    ch_store_close(store);
}

static void test_store_commit_writes_history(void **state)
{
    struct fixture *fx = *state;
    struct ch_store *store = open_ok(fx, NULL);
    struct ch_err err = {0};
    char dump[4096];

    commit_first(store);
    assert_int_equal(commit_second_batch(store, &err), CONFHUB_OK);
    ch_store_close(store);

    dump_db(fx->path, dump, sizeof(dump));
    assert_string_equal(dump,
                        "app|cache|ttl|30|2|2|1|\n"
                        "app|db|host|\"db.internal\"|1|2|2|\n"
                        "--\n"
                        "1|0|1700000000001|anonymous|127.0.0.1:5555|set|app|db|host|NULL|"
                        "\"localhost\"|\n"
                        "1|1|1700000000001|anonymous|127.0.0.1:5555|set|app|db|port|NULL|5432|\n"
                        "2|0|1700000000002|anonymous|127.0.0.1:5555|set|app|db|host|"
                        "\"localhost\"|\"db.internal\"|\n"
                        "2|1|1700000000002|anonymous|127.0.0.1:5555|set|app|cache|ttl|NULL|30|\n"
                        "3|0|1700000000003|anonymous|127.0.0.1:5555|delete|app|db|port|5432|"
                        "NULL|\n"
                        "--\n"
                        "compacted|0|\n"
                        "revision|3|\n"
                        "--\n");
}

static void test_store_delete_removes_key_and_writes_history(void **state)
{
    struct fixture *fx = *state;
    struct ch_store *store = open_ok(fx, NULL);
    struct ch_store_event ev[] = {
        {.op = CH_STORE_DELETE, .ns = "app", .section = "db", .key = "host", .old_value = "1"},
    };
    struct ch_store_revision rev = revision(2, ev, 1);
    struct ch_err err = {0};
    struct loaded l;
    int64_t r = -1;

    commit_first(store);
    assert_int_equal(ch_store_commit(store, &rev, 1, &err), CONFHUB_OK);
    assert_int_equal(load_all(store, &l, &r), CONFHUB_OK);
    assert_int_equal(r, 2);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.lines[0], "app/db/port=5432 1,1,1");
    assert_int_equal(query_int(fx->path, "SELECT count(*) FROM kv WHERE key = 'host'"), 0);
    assert_int_equal(query_int(fx->path, "SELECT count(*) FROM history WHERE revision = 2 AND "
                                         "op = 'delete' AND key = 'host' AND old_value = '1' "
                                         "AND new_value IS NULL"),
                     1);
    ch_store_close(store);
}

/* Commits revisions 2-3 with the fault VFS armed; checks the failure is reported, nothing
 * changed on disk or in a fresh load, and the same store then commits the batch fine. */
static void check_fault_then_recovery(struct fixture *fx, long writes, long syncs,
                                      const char *expect_msg)
{
    struct ch_store *store = open_ok(fx, "fault");
    struct ch_err err = {0};
    char before[4096], after[4096];
    struct loaded l;
    int64_t rev = -1;

    commit_first(store);
    dump_db(fx->path, before, sizeof(before));
    ch_test_fault_arm(writes, syncs);
    assert_int_equal(commit_second_batch(store, &err), CONFHUB_EIO);
    assert_true(ch_test_fault_faults_count() > 0);
    ch_test_fault_arm(-1, -1);
    assert_non_null(strstr(err.msg, "cannot commit revisions 2-3: "));
    assert_non_null(strstr(err.msg, expect_msg));

    dump_db(fx->path, after, sizeof(after));
    assert_string_equal(before, after);
    assert_int_equal(load_all(store, &l, &rev), CONFHUB_OK);
    assert_int_equal(rev, 1);
    assert_int_equal(l.n, 2);

    /* The store is still usable: the same batch now goes through. */
    memset(&err, 0, sizeof(err));
    assert_int_equal(commit_second_batch(store, &err), CONFHUB_OK);
    assert_int_equal(load_all(store, &l, &rev), CONFHUB_OK);
    assert_int_equal(rev, 3);
    assert_int_equal(l.n, 2);
    ch_store_close(store);
    assert_int_equal(query_int(fx->path, "SELECT value FROM meta WHERE name = 'revision'"), 3);
}

static void test_store_fsync_failure_leaves_db_unchanged(void **state)
{
    check_fault_then_recovery(*state, -1, 0, "disk I/O error");
}

static void test_store_disk_full_leaves_db_unchanged(void **state)
{
    check_fault_then_recovery(*state, 0, -1, "no space left");
}

/* Fails the n-th write (then the n-th sync) of the commit for every n until it succeeds. */
static void test_store_commit_fault_torture(void **state)
{
    struct fixture *fx = *state;
    struct ch_store *store = open_ok(fx, "fault");
    char before[4096], after[4096];
    struct ch_err err = {0};

    commit_first(store);
    dump_db(fx->path, before, sizeof(before));
    for (int kind = 0; kind < 2; kind++) {
        enum confhub_status status = CONFHUB_EIO;
        long n;
        for (n = 0; n < 1000 && status != CONFHUB_OK; n++) {
            ch_test_fault_arm(kind == 0 ? n : -1, kind == 1 ? n : -1);
            status = commit_second_batch(store, &err);
            ch_test_fault_arm(-1, -1);
            if (status != CONFHUB_OK) {
                assert_int_equal(status, CONFHUB_EIO);
                dump_db(fx->path, after, sizeof(after));
                assert_string_equal(before, after);
            }
        }
        assert_int_equal(status, CONFHUB_OK);
        assert_true(n > 1); /* at least one failure was injected */
        if (kind == 0) {
            /* Start the sync round from the same state: reopen a fresh database. */
            ch_store_close(store);
            exec_sql(fx->path, "DELETE FROM kv; DELETE FROM history; DELETE FROM revisions;"
                               "UPDATE meta SET value = 0");
            store = open_ok(fx, "fault");
            commit_first(store);
            dump_db(fx->path, before, sizeof(before));
        }
    }
    ch_store_close(store);
}

static void test_store_refuses_newer_schema(void **state)
{
    struct fixture *fx = *state;
    struct ch_store *store = open_ok(fx, NULL);
    struct ch_err err = {0};
    char expect[512];

    ch_store_close(store);
    exec_sql(fx->path, "PRAGMA user_version = 7");
    snprintf(expect, sizeof(expect),
             "database '%s' has schema version 7, newer than this confhub (knows up to 2): "
             "upgrade confhub",
             fx->path);
    for (int migrate = 0; migrate < 2; migrate++) {
        struct ch_store_options opts = {.migrate = migrate};
        store = NULL;
        assert_int_equal(ch_store_open(fx->uri, &opts, &store, &err), CONFHUB_EVERSION);
        assert_null(store);
        assert_string_equal(err.msg, expect);
    }
    assert_int_equal(query_int(fx->path, "PRAGMA user_version"), 7);
}

static void test_store_unmigrated_db_opens_but_refuses_load_and_commit(void **state)
{
    struct fixture *fx = *state;
    struct ch_store_options opts = {.create = true};
    struct ch_store *store = NULL;
    struct ch_err err = {0};
    int current = -1, latest = -1;
    struct loaded l;
    int64_t rev = -1;

    assert_int_equal(ch_store_open(fx->uri, &opts, &store, &err), CONFHUB_OK);
    assert_int_equal(ch_store_schema(store, &current, &latest, &err), CONFHUB_OK);
    assert_int_equal(current, 0);
    assert_int_equal(latest, 2);

    memset(&l, 0, sizeof(l));
    assert_int_equal(ch_store_load(store, collect, &l, &rev, &err), CONFHUB_EINVAL);
    assert_non_null(strstr(err.msg, "run confhub migrate up"));
    assert_int_equal(rev, -1);
    memset(&err, 0, sizeof(err));
    struct ch_store_event ev[] = {set_event("db", "host", NULL, "1", 1, 1, 1)};
    struct ch_store_revision r = revision(1, ev, 1);
    assert_int_equal(ch_store_commit(store, &r, 1, &err), CONFHUB_EINVAL);
    assert_non_null(strstr(err.msg, "run confhub migrate up"));

    assert_int_equal(ch_store_migrate(store, &err), CONFHUB_OK);
    assert_int_equal(ch_store_schema(store, &current, &latest, &err), CONFHUB_OK);
    assert_int_equal(current, 2);
    assert_int_equal(ch_store_commit(store, &r, 1, &err), CONFHUB_OK);
    assert_int_equal(load_all(store, &l, &rev), CONFHUB_OK);
    assert_int_equal(rev, 1);
    ch_store_close(store);
}

static void test_store_unknown_scheme_is_einval(void **state)
{
    struct ch_store_options opts = {.create = true};
    struct ch_store *store = NULL;
    struct ch_err err = {0};
    (void)state;

    assert_int_equal(ch_store_open("postgres://db/confhub", &opts, &store, &err), CONFHUB_EINVAL);
    assert_string_equal(err.msg, "unknown store 'postgres://db/confhub': expected sqlite:PATH");
    assert_int_equal(ch_store_open("sqlite:", &opts, &store, &err), CONFHUB_EINVAL);
    assert_int_equal(ch_store_open("", NULL, &store, &err), CONFHUB_EINVAL);
    assert_null(store);
}

static void test_store_rejects_revision_gaps(void **state)
{
    struct fixture *fx = *state;
    struct ch_store *store = open_ok(fx, NULL);
    struct ch_store_event ev[] = {set_event("db", "x", NULL, "1", 1, 1, 1)};
    struct ch_store_revision gap_after_store[] = {revision(3, ev, 1)};
    struct ch_store_revision gap_in_batch[] = {revision(2, ev, 1), revision(4, ev, 1)};
    struct ch_store_revision no_events[] = {revision(2, ev, 0)};
    struct ch_err err = {0};
    char before[4096], after[4096];

    commit_first(store);
    dump_db(fx->path, before, sizeof(before));
    assert_int_equal(ch_store_commit(store, gap_after_store, 1, &err), CONFHUB_EINVAL);
    assert_non_null(strstr(err.msg, "the store is at revision 1"));
    assert_int_equal(ch_store_commit(store, gap_in_batch, 2, &err), CONFHUB_EINVAL);
    assert_int_equal(ch_store_commit(store, no_events, 1, &err), CONFHUB_EINVAL);
    assert_int_equal(ch_store_commit(store, gap_after_store, 0, &err), CONFHUB_OK);
    dump_db(fx->path, after, sizeof(after));
    assert_string_equal(before, after);
    ch_store_close(store);
}

static enum confhub_status stop_at_second(void *userdata, const struct ch_store_entry *e,
                                          struct ch_err *err)
{
    int *calls = userdata;
    (void)e;
    if (++*calls == 2)
        return ch_err_set(err, CONFHUB_ETOOBIG, "too many entries");
    return CONFHUB_OK;
}

static void test_store_load_stops_at_callback_error(void **state)
{
    struct ch_store *store = open_ok(*state, NULL);
    struct ch_err err = {0};
    int64_t rev = -1;
    int calls = 0;

    commit_first(store);
    assert_int_equal(ch_store_load(store, stop_at_second, &calls, &rev, &err), CONFHUB_ETOOBIG);
    assert_int_equal(calls, 2);
    assert_int_equal(rev, -1);
    assert_string_equal(err.msg, "too many entries");
    /* The read transaction was closed: the store still writes. */
    struct ch_store_event ev[] = {set_event("db", "x", NULL, "1", 2, 2, 1)};
    struct ch_store_revision r = revision(2, ev, 1);
    assert_int_equal(ch_store_commit(store, &r, 1, &err), CONFHUB_OK);
    ch_store_close(store);
}

static void test_store_refuses_a_file_that_is_not_a_database(void **state)
{
    struct fixture *fx = *state;
    struct ch_store_options opts = {.migrate = true, .create = true};
    struct ch_store *store = NULL;
    struct ch_err err = {0};
    FILE *f = fopen(fx->path, "w");

    assert_non_null(f);
    for (int i = 0; i < 200; i++)
        fputs("this is not an sqlite database\n", f);
    fclose(f);
    assert_int_equal(ch_store_open(fx->uri, &opts, &store, &err), CONFHUB_EIO);
    assert_null(store);
    assert_non_null(strstr(err.msg, "cannot open database"));
    assert_non_null(strstr(err.msg, "not a database"));
}

static void test_store_open_alloc_torture(void **state)
{
    struct fixture *fx = *state;
    struct ch_store_options opts = {.migrate = true, .create = true};
    enum confhub_status status = CONFHUB_ENOMEM;
    struct ch_store *store = NULL;
    long n;

    ch_log_min_level = CH_LOG_ERROR; /* failed rollbacks are expected here */

    for (n = 0; status != CONFHUB_OK; n++) {
        struct ch_err err = {0};
        ch_alloc_fail_after(n);
        status = ch_store_open(fx->uri, &opts, &store, &err);
        ch_alloc_fail_after(-1);
        if (status != CONFHUB_OK) {
            if (status != CONFHUB_ENOMEM)
                fail_msg("n=%ld: status %d: %s", n, status, err.msg);
            assert_null(store);
        }
    }
    assert_true(n > 1);
    commit_first(store);
    ch_log_min_level = CH_LOG_WARN;
    ch_store_close(store);
}

static void test_store_commit_alloc_torture(void **state)
{
    struct fixture *fx = *state;
    struct ch_store *store = open_ok(fx, NULL);
    enum confhub_status status = CONFHUB_ENOMEM;
    char before[4096], after[4096];
    struct loaded l;
    int64_t rev;
    long n;

    ch_log_min_level = CH_LOG_ERROR; /* failed rollbacks are expected here */

    commit_first(store);
    dump_db(fx->path, before, sizeof(before));
    for (n = 0; status != CONFHUB_OK; n++) {
        struct ch_err err = {0};
        ch_alloc_fail_after(n);
        status = commit_second_batch(store, &err);
        ch_alloc_fail_after(-1);
        if (status != CONFHUB_OK) {
            if (status != CONFHUB_ENOMEM)
                fail_msg("n=%ld: status %d: %s", n, status, err.msg);
            dump_db(fx->path, after, sizeof(after));
            assert_string_equal(before, after);
        }
    }
    assert_true(n > 1);
    assert_int_equal(load_all(store, &l, &rev), CONFHUB_OK);
    assert_int_equal(rev, 3);
    ch_log_min_level = CH_LOG_WARN;
    ch_store_close(store);
}

/* ---- history reads ------------------------------------------------------------------------ */

/* "rev.seq op section/key old>new actor" per event. */
static enum confhub_status collect_event(void *userdata, const struct ch_history_event *ev,
                                         struct ch_err *err)
{
    struct loaded *l = userdata;
    (void)err;
    assert_true(l->n < 16);
    snprintf(l->lines[l->n++], sizeof(l->lines[0]), "%lld.%lld %s %s/%s %s>%s %s",
             (long long)ev->revision, (long long)ev->seq, ev->op == CH_STORE_SET ? "set" : "delete",
             ev->section, ev->key, ev->old_value ? ev->old_value : "-",
             ev->new_value ? ev->new_value : "-", ev->actor);
    return CONFHUB_OK;
}

static enum confhub_status collect_change(void *userdata, const struct ch_store_change *c,
                                          struct ch_err *err)
{
    struct loaded *l = userdata;
    (void)err;
    assert_true(l->n < 16);
    snprintf(l->lines[l->n++], sizeof(l->lines[0]), "%s/%s %s>%s", c->section, c->key,
             c->old_value ? c->old_value : "-", c->new_value ? c->new_value : "-");
    return CONFHUB_OK;
}

static void test_store_history_filters_and_orders(void **state)
{
    struct ch_store *store = open_ok(*state, NULL);
    struct ch_history_filter f = {.op = -1};
    struct ch_store_info info;
    struct ch_err err = {0};
    struct loaded l = {0};

    commit_first(store);
    assert_int_equal(commit_second_batch(store, &err), CONFHUB_OK);
    assert_int_equal(ch_store_history(store, &f, collect_event, &l, &info, &err), CONFHUB_OK);
    assert_int_equal(l.n, 5);
    assert_string_equal(l.lines[0], "1.0 set db/host ->\"localhost\" anonymous");
    assert_string_equal(l.lines[4], "3.0 delete db/port 5432>- anonymous");
    assert_int_equal(info.revision, 3);
    assert_int_equal(info.compacted, 0);
    assert_int_equal(info.last_ts_ms, 1700000000003);

    memset(&l, 0, sizeof(l));
    f = (struct ch_history_filter){.scope = {"app", "db", "host"}, .op = -1, .desc = true};
    assert_int_equal(ch_store_history(store, &f, collect_event, &l, NULL, &err), CONFHUB_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.lines[0], "2.0 set db/host \"localhost\">\"db.internal\" anonymous");

    /* A cursor continues after (2, 0) newest first; op and limit narrow it. */
    memset(&l, 0, sizeof(l));
    f = (struct ch_history_filter){.op = -1, .desc = true, .after_rev = 2, .after_seq = 0};
    assert_int_equal(ch_store_history(store, &f, collect_event, &l, NULL, &err), CONFHUB_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.lines[0], "1.1 set db/port ->5432 anonymous");
    memset(&l, 0, sizeof(l));
    f = (struct ch_history_filter){.op = CH_STORE_DELETE, .limit = 1};
    assert_int_equal(ch_store_history(store, &f, collect_event, &l, NULL, &err), CONFHUB_OK);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.lines[0], "3.0 delete db/port 5432>- anonymous");
    /* Time bounds are revision bounds. */
    memset(&l, 0, sizeof(l));
    f = (struct ch_history_filter){.op = -1, .since_ms = 1700000000002, .until_ms = 1700000000002};
    assert_int_equal(ch_store_history(store, &f, collect_event, &l, NULL, &err), CONFHUB_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.lines[1], "2.1 set cache/ttl ->30 anonymous");
    ch_store_close(store);
}

static void test_store_state_at_and_changes(void **state)
{
    struct fixture *fx = *state;
    struct ch_store *store = open_ok(fx, NULL);
    struct ch_store_scope all = {0}, db = {"app", "db", NULL};
    struct ch_store_options ro = {.read_only = true};
    struct ch_store *reader = NULL;
    struct ch_err err = {0};
    struct loaded l = {0};

    commit_first(store);
    assert_int_equal(commit_second_batch(store, &err), CONFHUB_OK);
    /* A second, read-only connection sees the same history and cannot write. */
    assert_int_equal(ch_store_open(fx->uri, &ro, &reader, &err), CONFHUB_OK);
    assert_int_equal(ch_store_state_at(reader, &all, 1, collect, &l, NULL, &err), CONFHUB_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.lines[0], "app/db/host=\"localhost\" 0,0,0");
    assert_string_equal(l.lines[1], "app/db/port=5432 0,0,0");
    memset(&l, 0, sizeof(l));
    assert_int_equal(ch_store_state_at(reader, &db, 3, collect, &l, NULL, &err), CONFHUB_OK);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.lines[0], "app/db/host=\"db.internal\" 0,0,0");
    memset(&l, 0, sizeof(l));
    assert_int_equal(ch_store_state_at(reader, &all, 0, collect, &l, NULL, &err), CONFHUB_OK);
    assert_int_equal(l.n, 0);
    assert_int_equal(ch_store_state_at(reader, &all, 4, collect, &l, NULL, &err), CONFHUB_EINVAL);
    assert_non_null(strstr(err.msg, "does not exist yet"));

    memset(&l, 0, sizeof(l));
    assert_int_equal(ch_store_changes(reader, &all, 1, 3, collect_change, &l, NULL, &err),
                     CONFHUB_OK);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.lines[0], "cache/ttl ->30");
    assert_string_equal(l.lines[1], "db/host \"localhost\">\"db.internal\"");
    assert_string_equal(l.lines[2], "db/port 5432>-");
    assert_int_equal(ch_store_changes(reader, &all, 3, 1, collect_change, &l, NULL, &err),
                     CONFHUB_EINVAL);
    size_t deleted = 0;
    assert_int_equal(ch_store_compact(reader, 1, 10, &deleted, &err), CONFHUB_EINVAL);
    ch_store_close(reader);
    ch_store_close(store);
}

static void test_store_compact_moves_horizon_in_chunks(void **state)
{
    struct fixture *fx = *state;
    struct ch_store *store = open_ok(fx, NULL);
    struct ch_store_scope all = {0};
    struct ch_history_filter f = {.op = -1};
    struct ch_store_info info;
    struct ch_err err = {0};
    struct loaded l = {0};
    size_t deleted = 0;

    commit_first(store);
    assert_int_equal(commit_second_batch(store, &err), CONFHUB_OK);
    /* Revisions 1 and 2 hold 4 events: two chunks of 3 and 1, then nothing. */
    assert_int_equal(ch_store_compact(store, 2, 3, &deleted, &err), CONFHUB_OK);
    assert_int_equal(deleted, 3);
    assert_int_equal(ch_store_info(store, &info, &err), CONFHUB_OK);
    assert_int_equal(info.compacted, 2);
    assert_int_equal(ch_store_compact(store, 2, 3, &deleted, &err), CONFHUB_OK);
    assert_int_equal(deleted, 2); /* the last event and revision 1's row */
    assert_int_equal(ch_store_compact(store, 2, 3, &deleted, &err), CONFHUB_OK);
    assert_int_equal(deleted, 0);
    /* The horizon never moves down, nor past the store's revision. */
    assert_int_equal(ch_store_compact(store, 1, 3, &deleted, &err), CONFHUB_OK);
    assert_int_equal(ch_store_compact(store, 99, 0, &deleted, &err), CONFHUB_OK);
    assert_int_equal(ch_store_info(store, &info, &err), CONFHUB_OK);
    assert_int_equal(info.compacted, 3);
    assert_int_equal(query_int(fx->path, "SELECT count(*) FROM revisions"), 2);

    /* Reads below the horizon are refused, never answered from what is left. */
    assert_int_equal(ch_store_state_at(store, &all, 2, collect, &l, NULL, &err),
                     CONFHUB_ECOMPACTED);
    assert_int_equal(err.oldest_rev, 3);
    assert_non_null(strstr(err.msg, "compacted"));
    f.from_rev = 3;
    assert_int_equal(ch_store_history(store, &f, collect_event, &l, NULL, &err),
                     CONFHUB_ECOMPACTED);
    assert_int_equal(ch_store_changes(store, &all, 1, 3, collect_change, &l, NULL, &err),
                     CONFHUB_ECOMPACTED);
    memset(&l, 0, sizeof(l));
    assert_int_equal(ch_store_state_at(store, &all, 3, collect, &l, NULL, &err), CONFHUB_OK);
    assert_int_equal(l.n, 2);
    ch_store_close(store);
}

static void test_store_history_alloc_torture(void **state)
{
    struct ch_store *store = open_ok(*state, NULL);
    struct ch_store_scope all = {0};
    enum confhub_status status = CONFHUB_ENOMEM;
    long n;

    commit_first(store);
    for (n = 0; status != CONFHUB_OK; n++) {
        struct ch_err err = {0};
        struct loaded l = {0};
        ch_alloc_fail_after(n);
        status = ch_store_state_at(store, &all, 0, collect, &l, NULL, &err);
        if (status == CONFHUB_OK)
            status = ch_store_changes(store, &all, 0, 1, collect_change, &l, NULL, &err);
        ch_alloc_fail_after(-1);
        if (status != CONFHUB_OK && status != CONFHUB_ENOMEM && status != CONFHUB_EIO)
            fail_msg("n=%ld: status %d: %s", n, status, err.msg);
    }
    assert_true(n > 1);
    ch_store_close(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_open_creates_and_migrates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_open_missing_file_without_create_fails, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_load_empty_gives_revision_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_commit_survives_reopen_in_byte_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_commit_writes_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_delete_removes_key_and_writes_history, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_fsync_failure_leaves_db_unchanged, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_disk_full_leaves_db_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_commit_fault_torture, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_refuses_newer_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_unmigrated_db_opens_but_refuses_load_and_commit,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_unknown_scheme_is_einval, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_rejects_revision_gaps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_load_stops_at_callback_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_refuses_a_file_that_is_not_a_database, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_open_alloc_torture, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_commit_alloc_torture, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_history_filters_and_orders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_state_at_and_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_compact_moves_horizon_in_chunks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_history_alloc_torture, setup, teardown),
    };

    /* Must happen before SQLite initialises itself, that is, before any other SQLite call. */
    if (ch_test_fault_route_sqlite_malloc() != SQLITE_OK)
        return 1;
    ch_log_min_level = CH_LOG_WARN; /* keep migration notices out of the test output */
    if (ch_test_fault_register() != SQLITE_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
