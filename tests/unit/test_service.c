/* SPDX-License-Identifier: MIT */
/*
 * test_service.c: the write path (service.h) over a real SQLite store in a temporary
 * directory, a real model and the real writer thread. Nothing is mocked: a failing disk is the
 * shared fault-injecting VFS (tests/lib/fault_vfs.h). What was stored is checked by querying
 * the database file directly through a separate SQLite connection.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "common/alloc.h"
#include "common/log.h"
#include "lib/fault_vfs.h"
#include "lib/tmpdir.h"
#include "limits_table.h"
#include "model.h"
#include "service.h"
#include "store.h"

struct fixture {
    char dir[64];
    char path[128];
    char uri[160];
    const char *vfs; /* NULL or CH_TEST_FAULT_VFS */
    struct ch_limits limits;
    struct ch_store *store;
    struct ch_model *model;
    struct ch_service *svc;
};

/* ---- fixture ------------------------------------------------------------------------------- */

/* Opens the store, a 1-slot model and the service over them, and starts the writer. */
static void start(struct fixture *fx)
{
    struct ch_store_options opts = {.migrate = true, .create = true, .sqlite_vfs = fx->vfs};
    struct ch_err err = {0};

    assert_int_equal(ch_store_open(fx->uri, &opts, &fx->store, &err), CONFHUB_OK);
    assert_int_equal(ch_model_new(1, &fx->model, &err), CONFHUB_OK);
    assert_int_equal(ch_service_new(fx->store, fx->model, &fx->limits, &fx->svc, &err), CONFHUB_OK);
    assert_int_equal(ch_service_start(fx->svc, &err), CONFHUB_OK);
}

static void stop(struct fixture *fx)
{
    ch_service_stop(fx->svc);
    ch_service_free(fx->svc);
    ch_store_close(fx->store);
    ch_model_free(fx->model);
    fx->svc = NULL;
    fx->store = NULL;
    fx->model = NULL;
}

static int setup_vfs(void **state, const char *vfs)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    if (!fx)
        return -1;
    strcpy(fx->dir, "/tmp/confhub-test-service-XXXXXX");
    if (!mkdtemp(fx->dir)) {
        free(fx);
        return -1;
    }
    snprintf(fx->path, sizeof(fx->path), "%s/confhub.db", fx->dir);
    snprintf(fx->uri, sizeof(fx->uri), "sqlite:%s", fx->path);
    fx->vfs = vfs;
    ch_limits_init(&fx->limits);
    ch_test_fault_disarm();
    ch_alloc_fail_after(-1);
    start(fx);
    *state = fx;
    return 0;
}

static int setup(void **state)
{
    return setup_vfs(state, NULL);
}

static int setup_fault(void **state)
{
    return setup_vfs(state, CH_TEST_FAULT_VFS);
}

static int teardown(void **state)
{
    struct fixture *fx = *state;

    ch_test_fault_disarm();
    ch_alloc_fail_after(-1);
    stop(fx);
    int rc = ch_test_tmpdir_remove(fx->dir);
    free(fx);
    return rc;
}

/* ---- writes -------------------------------------------------------------------------------- */

/* A write for op on ns/section/key (NULL where the op has none) with value as JSON text. */
static struct ch_write *mk(enum ch_write_op op, const char *ns, const char *section,
                           const char *key, const char *value)
{
    struct ch_write *w = ch_write_new(op);
    assert_non_null(w);
    w->ns = ch_strdup(ns);
    w->section = section ? ch_strdup(section) : NULL;
    w->key = key ? ch_strdup(key) : NULL;
    if (value) {
        json_error_t jerr;
        w->value = json_loads(value, JSON_DECODE_ANY, &jerr);
        assert_non_null(w->value);
    }
    return w;
}

/* Runs a write and returns it for inspection; the caller frees it with ch_write_free. */
static struct ch_write *run(struct fixture *fx, struct ch_write *w)
{
    enum confhub_status rc = ch_service_write_sync(fx->svc, w);
    assert_int_equal(rc, w->status);
    return w;
}

/* Runs a write, expects status, and frees it. */
static void expect(struct fixture *fx, enum ch_write_op op, const char *ns, const char *section,
                   const char *key, const char *value, enum confhub_status status)
{
    struct ch_write *w = run(fx, mk(op, ns, section, key, value));
    if (w->status != status)
        print_error("write failed: %s\n", w->err.msg);
    assert_int_equal(w->status, status);
    ch_write_free(w);
}

#define PUT_KEY(fx, ns, s, k, v) expect(fx, CH_WRITE_PUT_KEY, ns, s, k, v, CONFHUB_OK)
#define PUT_SEC(fx, ns, s, v)    expect(fx, CH_WRITE_PUT_SECTION, ns, s, NULL, v, CONFHUB_OK)
#define PUT_NS(fx, ns, v)        expect(fx, CH_WRITE_PUT_NS, ns, NULL, NULL, v, CONFHUB_OK)

/* ---- reading back --------------------------------------------------------------------------- */

/* The published revision, read as a reader does. */
static int64_t revision(struct fixture *fx)
{
    const struct ch_state *st = ch_model_read_begin(fx->model, 0);
    int64_t rev = ch_state_revision(st);
    ch_model_read_end(fx->model, 0);
    return rev;
}

/* The namespace's document as readers see it ("-" when absent); the caller frees it. */
static char *ns_json(struct fixture *fx, const char *ns)
{
    const struct ch_state *st = ch_model_read_begin(fx->model, 0);
    const struct ch_ns *n = ch_state_find_ns(st, ns, strlen(ns));
    char *out = strdup(n ? ch_ns_json(n)->data : "-");
    ch_model_read_end(fx->model, 0);
    assert_non_null(out);
    return out;
}

static void assert_ns_json(struct fixture *fx, const char *ns, const char *expected)
{
    char *got = ns_json(fx, ns);
    assert_string_equal(got, expected);
    free(got);
}

static struct ch_entry_info entry_info(struct fixture *fx, const char *ns, const char *section,
                                       const char *key)
{
    struct ch_entry_info info = {0};
    const struct ch_state *st = ch_model_read_begin(fx->model, 0);
    const struct ch_ns *n = ch_state_find_ns(st, ns, strlen(ns));
    const struct ch_section *s = n ? ch_ns_find_section(n, section, strlen(section)) : NULL;
    const struct ch_entry *e = s ? ch_section_find_entry(s, key, strlen(key)) : NULL;
    assert_non_null(e);
    ch_entry_info(e, &info);
    info.key = NULL; /* borrowed from the state; not valid after read_end */
    info.value = NULL;
    ch_model_read_end(fx->model, 0);
    return info;
}

/* Every row of sql over the database file, as "col|col|\n" lines; the caller frees it. Read
 * through a separate default-VFS connection, so the fault VFS never touches it. */
static char *query(const struct fixture *fx, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    assert_non_null(f);
    assert_int_equal(sqlite3_open_v2(fx->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        for (int c = 0; c < sqlite3_column_count(stmt); c++) {
            const char *v = (const char *)sqlite3_column_text(stmt, c);
            fprintf(f, "%s|", v ? v : "NULL");
        }
        fputc('\n', f);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    fclose(f);
    return out;
}

static void assert_query(const struct fixture *fx, const char *sql, const char *expected)
{
    char *got = query(fx, sql);
    assert_string_equal(got, expected);
    free(got);
}

/* Everything in the database but the history timestamps. */
static char *dump(const struct fixture *fx)
{
    char *kv = query(fx, "SELECT * FROM kv ORDER BY 1, 2, 3");
    char *hist = query(fx, "SELECT h.revision, seq, actor, remote, op, ns, section, key, "
                           "old_value, new_value FROM history h JOIN revisions r "
                           "ON h.revision = r.revision ORDER BY 1, 2");
    char *meta = query(fx, "SELECT * FROM meta ORDER BY 1");
    char *out = NULL;
    assert_true(asprintf(&out, "%s--\n%s--\n%s", kv, hist, meta) > 0);
    free(kv);
    free(hist);
    free(meta);
    return out;
}

#define HISTORY "SELECT revision, op, section, key, old_value, new_value FROM history ORDER BY 1, 2"

/* ---- keys --------------------------------------------------------------------------------------
 */

static void test_service_put_key_creates_it_at_revision_1(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(ch_service_loaded_revision(fx->svc), 0);
    struct ch_write *w = run(fx, mk(CH_WRITE_PUT_KEY, "app", "db", "host", "\"db1\""));
    assert_int_equal(w->status, CONFHUB_OK);
    assert_true(w->created);
    assert_true(w->changed);
    assert_int_equal(w->version, 1);
    assert_int_equal(w->revision, 1);
    assert_int_equal(w->mod_rev, 1);
    ch_write_free(w);

    assert_int_equal(revision(fx), 1);
    assert_ns_json(fx, "app", "{\"db\":{\"host\":\"db1\"}}");
    assert_query(fx, "SELECT * FROM kv", "app|db|host|\"db1\"|1|1|1|\n");
    assert_query(fx, "SELECT value FROM meta WHERE name = 'revision'", "1|\n");

    w = run(fx, mk(CH_WRITE_PUT_KEY, "app", "db", "host", "\"db2\""));
    assert_int_equal(w->status, CONFHUB_OK);
    assert_false(w->created);
    assert_true(w->changed);
    assert_int_equal(w->version, 2);
    assert_int_equal(w->revision, 2);
    ch_write_free(w);
    assert_query(fx, "SELECT * FROM kv", "app|db|host|\"db2\"|1|2|2|\n");
}

static void test_service_put_same_value_is_a_noop(void **state)
{
    struct fixture *fx = *state;
    PUT_KEY(fx, "app", "db", "port", "5432");
    struct ch_write *w = run(fx, mk(CH_WRITE_PUT_KEY, "app", "db", "port", "5432"));
    assert_int_equal(w->status, CONFHUB_OK);
    assert_false(w->changed);
    assert_false(w->created);
    assert_int_equal(w->revision, 1);
    assert_int_equal(w->mod_rev, 1);
    assert_int_equal(w->version, 1);
    ch_write_free(w);
    assert_int_equal(revision(fx), 1);
    assert_query(fx, "SELECT count(*) FROM history", "1|\n");
    assert_query(fx, "SELECT value FROM meta WHERE name = 'revision'", "1|\n");
}

static void test_service_put_object_with_reordered_members_is_a_noop(void **state)
{
    struct fixture *fx = *state;
    PUT_KEY(fx, "app", "db", "pool", "{\"min\":1,\"max\":{\"a\":[1,2],\"b\":null}}");
    struct ch_write *w = run(fx, mk(CH_WRITE_PUT_KEY, "app", "db", "pool",
                                    "{\"max\":{\"b\":null,\"a\":[1,2]},"
                                    "\"min\":1}"));
    assert_int_equal(w->status, CONFHUB_OK);
    assert_false(w->changed);
    assert_int_equal(w->revision, 1);
    ch_write_free(w);
    /* A list in another order is another value. */
    w = run(fx, mk(CH_WRITE_PUT_KEY, "app", "db", "pool",
                   "{\"max\":{\"b\":null,\"a\":[2,1]},\"min\":1}"));
    assert_true(w->changed);
    assert_int_equal(w->revision, 2);
    ch_write_free(w);
}

static void test_service_put_key_into_list_section_is_einval(void **state)
{
    struct fixture *fx = *state;
    PUT_SEC(fx, "app", "list", "[1,2,3]");
    PUT_SEC(fx, "app", "str", "\"s\"");
    expect(fx, CH_WRITE_PUT_KEY, "app", "list", "k", "1", CONFHUB_EINVAL);
    expect(fx, CH_WRITE_PUT_KEY, "app", "str", "k", "1", CONFHUB_EINVAL);
    assert_int_equal(revision(fx), 2);
    assert_ns_json(fx, "app", "{\"list\":[1,2,3],\"str\":\"s\"}");
}

static void test_service_put_key_into_empty_object_section_works(void **state)
{
    struct fixture *fx = *state;
    PUT_SEC(fx, "app", "empty", "{}");
    PUT_SEC(fx, "app", "other", "{\"x\":1}");
    assert_ns_json(fx, "app", "{\"empty\":{},\"other\":{\"x\":1}}");
    struct ch_write *w = run(fx, mk(CH_WRITE_PUT_KEY, "app", "empty", "k", "true"));
    assert_int_equal(w->status, CONFHUB_OK);
    assert_true(w->created);
    assert_int_equal(w->revision, 3);
    assert_int_equal(w->version, 1);
    ch_write_free(w);
    assert_ns_json(fx, "app", "{\"empty\":{\"k\":true},\"other\":{\"x\":1}}");
    /* The "@" entry went away in the same revision. */
    assert_query(fx, HISTORY " LIMIT -1 OFFSET 2",
                 "3|delete|empty|@|{}|NULL|\n3|set|empty|k|NULL|true|\n");
    assert_query(fx, "SELECT section, key FROM kv ORDER BY 1, 2", "empty|k|\nother|x|\n");
}

/* ---- sections ----------------------------------------------------------------------------------
 */

static void test_service_put_section_replaces_it_in_one_revision(void **state)
{
    struct fixture *fx = *state;
    PUT_SEC(fx, "app", "db", "{\"host\":\"h\",\"port\":1,\"user\":\"u\"}");
    PUT_KEY(fx, "app", "web", "tls", "true");
    struct ch_write *w = run(
        fx, mk(CH_WRITE_PUT_SECTION, "app", "db", NULL, "{\"port\":2,\"host\":\"h\",\"db\":0}"));
    assert_int_equal(w->status, CONFHUB_OK);
    assert_true(w->changed);
    assert_false(w->created);
    assert_int_equal(w->revision, 3);
    assert_int_equal(w->mod_rev, 3);
    ch_write_free(w);
    assert_int_equal(revision(fx), 3);
    assert_ns_json(fx, "app",
                   "{\"db\":{\"db\":0,\"host\":\"h\",\"port\":2},\"web\":{\"tls\":true}}");
    assert_query(fx,
                 "SELECT revision, op, key, old_value, new_value FROM history "
                 "WHERE revision = 3 ORDER BY key",
                 "3|set|db|NULL|0|\n3|set|port|1|2|\n3|delete|user|\"u\"|NULL|\n");
    struct ch_entry_info host = entry_info(fx, "app", "db", "host");
    assert_int_equal(host.mod_rev, 1); /* unchanged members keep their revision */
    assert_int_equal(host.version, 1);
}

static void test_service_non_object_section_becomes_at_entry(void **state)
{
    struct fixture *fx = *state;
    PUT_SEC(fx, "app", "s", "{\"a\":1,\"b\":2}");
    PUT_SEC(fx, "app", "s", "[1,\"two\"]");
    assert_ns_json(fx, "app", "{\"s\":[1,\"two\"]}");
    assert_query(fx, "SELECT key, value FROM kv", "@|[1,\"two\"]|\n");
    PUT_SEC(fx, "app", "s", "42");
    assert_query(fx, "SELECT key, value, version FROM kv", "@|42|2|\n");
    PUT_SEC(fx, "app", "s", "{}");
    assert_query(fx, "SELECT key, value, version FROM kv", "@|{}|3|\n");
    assert_ns_json(fx, "app", "{\"s\":{}}");
    PUT_SEC(fx, "app", "s", "null");
    assert_ns_json(fx, "app", "{\"s\":null}");
    /* And back to keys: "@" is deleted in the same revision. */
    PUT_SEC(fx, "app", "s", "{\"c\":3}");
    assert_ns_json(fx, "app", "{\"s\":{\"c\":3}}");
    assert_int_equal(revision(fx), 6);
    assert_query(fx, "SELECT op, key FROM history WHERE revision = 6 ORDER BY seq",
                 "set|c|\ndelete|@|\n");
    const struct ch_state *st = ch_model_read_begin(fx->model, 0);
    assert_null(ch_section_scalar(ch_ns_find_section(ch_state_find_ns(st, "app", 3), "s", 1)));
    ch_model_read_end(fx->model, 0);
}

static void test_service_bad_key_name_in_section_is_einval(void **state)
{
    struct fixture *fx = *state;
    PUT_SEC(fx, "app", "s", "{\"a\":1}");
    static const char *const bad[] = {"{\"ok\":1,\"a/b\":2}", "{\"@\":1}", "{\"..\":1}", "{\"\":1}",
                                      "{\"tab\\there\":1}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ch_write *w = run(fx, mk(CH_WRITE_PUT_SECTION, "app", "s", NULL, bad[i]));
        assert_int_equal(w->status, CONFHUB_EINVAL);
        assert_non_null(strstr(w->err.msg, "section 's'"));
        assert_false(w->changed);
        ch_write_free(w);
    }
    expect(fx, CH_WRITE_PUT_NS, "app", NULL, NULL, "{\"s\":{\"x/y\":1}}", CONFHUB_EINVAL);
    expect(fx, CH_WRITE_PUT_NS, "app", NULL, NULL, "{\"a/b\":{\"x\":1}}", CONFHUB_EINVAL);
    assert_int_equal(revision(fx), 1);
    assert_ns_json(fx, "app", "{\"s\":{\"a\":1}}");
}

/* ---- namespaces ---------------------------------------------------------------------------- */

static void test_service_put_ns_replaces_document_in_one_revision(void **state)
{
    struct fixture *fx = *state;
    PUT_NS(fx, "app", "{\"db\":{\"host\":\"h\"},\"old\":{\"x\":1},\"list\":[1]}");
    assert_int_equal(revision(fx), 1);
    struct ch_write *w = run(fx, mk(CH_WRITE_PUT_NS, "app", NULL, NULL,
                                    "{\"list\":{\"now\":\"keys\"},\"db\":{\"host\":\"h\"},"
                                    "\"new\":\"scalar\"}"));
    assert_int_equal(w->status, CONFHUB_OK);
    assert_true(w->changed);
    assert_false(w->created);
    assert_int_equal(w->revision, 2);
    assert_int_equal(w->mod_rev, 2);
    ch_write_free(w);
    assert_int_equal(revision(fx), 2);
    assert_ns_json(fx, "app",
                   "{\"db\":{\"host\":\"h\"},\"list\":{\"now\":\"keys\"},\"new\":\"scalar\"}");
    assert_query(fx, "SELECT count(DISTINCT revision) FROM history", "2|\n");
    assert_query(fx, "SELECT op, section, key FROM history WHERE revision = 2 ORDER BY 2, 3",
                 "delete|list|@|\nset|list|now|\nset|new|@|\ndelete|old|x|\n");
    /* The same document again changes nothing. */
    w = run(fx, mk(CH_WRITE_PUT_NS, "app", NULL, NULL,
                   "{\"new\":\"scalar\",\"db\":{\"host\":\"h\"},\"list\":{\"now\":\"keys\"}}"));
    assert_false(w->changed);
    assert_int_equal(w->revision, 2);
    ch_write_free(w);
}

static void test_service_put_ns_with_non_object_is_einval(void **state)
{
    struct fixture *fx = *state;
    PUT_NS(fx, "app", "{\"s\":{\"k\":1}}");
    static const char *const bad[] = {"[1,2]", "\"text\"", "3", "null"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ch_write *w = run(fx, mk(CH_WRITE_PUT_NS, "app", NULL, NULL, bad[i]));
        assert_int_equal(w->status, CONFHUB_EINVAL);
        assert_non_null(strstr(w->err.msg, "JSON object"));
        ch_write_free(w);
    }
    assert_int_equal(revision(fx), 1);
    assert_ns_json(fx, "app", "{\"s\":{\"k\":1}}");
}

static void test_service_deletes_and_missing_targets(void **state)
{
    struct fixture *fx = *state;
    expect(fx, CH_WRITE_DELETE_KEY, "app", "s", "k", NULL, CONFHUB_ENOTFOUND);
    expect(fx, CH_WRITE_DELETE_SECTION, "app", "s", NULL, NULL, CONFHUB_ENOTFOUND);
    expect(fx, CH_WRITE_DELETE_NS, "app", NULL, NULL, NULL, CONFHUB_ENOTFOUND);
    PUT_NS(fx, "app", "{\"s\":{\"k\":1,\"j\":2},\"t\":[1],\"u\":{\"x\":0}}");
    PUT_KEY(fx, "other", "s", "k", "0");
    expect(fx, CH_WRITE_DELETE_KEY, "app", "s", "nope", NULL, CONFHUB_ENOTFOUND);
    expect(fx, CH_WRITE_DELETE_KEY, "app", "nope", "k", NULL, CONFHUB_ENOTFOUND);
    expect(fx, CH_WRITE_DELETE_SECTION, "app", "nope", NULL, NULL, CONFHUB_ENOTFOUND);
    expect(fx, CH_WRITE_DELETE_NS, "nope", NULL, NULL, NULL, CONFHUB_ENOTFOUND);
    assert_int_equal(revision(fx), 2);

    expect(fx, CH_WRITE_DELETE_KEY, "app", "s", "k", NULL, CONFHUB_OK);
    assert_ns_json(fx, "app", "{\"s\":{\"j\":2},\"t\":[1],\"u\":{\"x\":0}}");
    expect(fx, CH_WRITE_DELETE_SECTION, "app", "s", NULL, NULL, CONFHUB_OK);
    assert_ns_json(fx, "app", "{\"t\":[1],\"u\":{\"x\":0}}");
    struct ch_write *w = run(fx, mk(CH_WRITE_DELETE_NS, "app", NULL, NULL, NULL));
    assert_int_equal(w->status, CONFHUB_OK);
    assert_true(w->changed);
    assert_int_equal(w->revision, 5);
    ch_write_free(w);
    assert_ns_json(fx, "app", "-");
    assert_ns_json(fx, "other", "{\"s\":{\"k\":0}}");
    assert_query(fx, "SELECT op, section, key FROM history WHERE revision = 5 ORDER BY seq",
                 "delete|t|@|\ndelete|u|x|\n");
    assert_query(fx, "SELECT ns, section, key FROM kv", "other|s|k|\n");
}

/* ---- conditions and limits ------------------------------------------------------------------ */

static void test_service_if_match_mismatch_is_econflict(void **state)
{
    struct fixture *fx = *state;
    PUT_KEY(fx, "app", "s", "k", "1");
    PUT_KEY(fx, "app", "t", "x", "1");
    PUT_KEY(fx, "app", "s", "k", "2"); /* k: mod_rev 3 */

    struct ch_write *w = mk(CH_WRITE_PUT_KEY, "app", "s", "k", "3");
    w->if_match = 1;
    run(fx, w);
    assert_int_equal(w->status, CONFHUB_ECONFLICT);
    assert_int_equal(w->err.mod_rev, 3);
    assert_false(w->changed);
    ch_write_free(w);

    w = mk(CH_WRITE_PUT_SECTION, "app", "t", NULL, "{\"x\":5}");
    w->if_match = 3;
    run(fx, w);
    assert_int_equal(w->status, CONFHUB_ECONFLICT);
    assert_int_equal(w->err.mod_rev, 2);
    ch_write_free(w);

    w = mk(CH_WRITE_DELETE_NS, "app", NULL, NULL, NULL);
    w->if_match = 2;
    run(fx, w);
    assert_int_equal(w->status, CONFHUB_ECONFLICT);
    assert_int_equal(w->err.mod_rev, 3);
    ch_write_free(w);

    w = mk(CH_WRITE_DELETE_KEY, "app", "s", "missing", NULL);
    w->if_match = 2;
    run(fx, w);
    assert_int_equal(w->status, CONFHUB_ECONFLICT);
    assert_int_equal(w->err.mod_rev, 0);
    ch_write_free(w);
    assert_int_equal(revision(fx), 3);

    /* The matching revision goes through. */
    w = mk(CH_WRITE_PUT_KEY, "app", "s", "k", "3");
    w->if_match = 3;
    run(fx, w);
    assert_int_equal(w->status, CONFHUB_OK);
    assert_int_equal(w->revision, 4);
    ch_write_free(w);
}

static void test_service_if_none_match_on_existing_is_econflict(void **state)
{
    struct fixture *fx = *state;
    struct ch_write *w = mk(CH_WRITE_PUT_KEY, "app", "s", "k", "1");
    w->if_none_match = true;
    run(fx, w);
    assert_int_equal(w->status, CONFHUB_OK);
    assert_true(w->created);
    ch_write_free(w);

    w = mk(CH_WRITE_PUT_KEY, "app", "s", "k", "2");
    w->if_none_match = true;
    run(fx, w);
    assert_int_equal(w->status, CONFHUB_ECONFLICT);
    assert_int_equal(w->err.mod_rev, 1);
    ch_write_free(w);

    w = mk(CH_WRITE_PUT_SECTION, "app", "s", NULL, "{}");
    w->if_none_match = true;
    run(fx, w);
    assert_int_equal(w->status, CONFHUB_ECONFLICT);
    ch_write_free(w);

    w = mk(CH_WRITE_PUT_NS, "app", NULL, NULL, "{}");
    w->if_none_match = true;
    run(fx, w);
    assert_int_equal(w->status, CONFHUB_ECONFLICT);
    ch_write_free(w);
    assert_int_equal(revision(fx), 1);
    assert_ns_json(fx, "app", "{\"s\":{\"k\":1}}");
}

static void test_service_value_over_limit_is_etoobig(void **state)
{
    struct fixture *fx = *state;
    stop(fx);
    fx->limits.max_value_bytes = 16;
    start(fx);

    PUT_KEY(fx, "app", "s", "k", "\"0123456789abcd\""); /* 16 bytes: at the limit */
    struct ch_write *w = run(fx, mk(CH_WRITE_PUT_KEY, "app", "s", "k", "\"0123456789abcde\""));
    assert_int_equal(w->status, CONFHUB_ETOOBIG);
    assert_non_null(strstr(w->err.msg, "max-value-bytes"));
    assert_non_null(strstr(w->err.msg, "17 bytes"));
    ch_write_free(w);
    w = run(fx, mk(CH_WRITE_PUT_SECTION, "app", "t", NULL, "[1,2,3,4,5,6,7,8,9]"));
    assert_int_equal(w->status, CONFHUB_ETOOBIG);
    assert_non_null(strstr(w->err.msg, "max-value-bytes"));
    ch_write_free(w);
    w = run(fx,
            mk(CH_WRITE_PUT_NS, "app", NULL, NULL, "{\"s\":{\"a\":1,\"k\":\"too long a value\"}}"));
    assert_int_equal(w->status, CONFHUB_ETOOBIG);
    ch_write_free(w);
    assert_int_equal(revision(fx), 1);
    assert_ns_json(fx, "app", "{\"s\":{\"k\":\"0123456789abcd\"}}");
}

/* ---- durability
 * ----------------------------------------------------------------------------------- */

static void test_service_restart_loads_the_same_state(void **state)
{
    struct fixture *fx = *state;
    PUT_NS(fx, "app", "{\"db\":{\"host\":\"h\",\"port\":1},\"list\":[1,2],\"e\":{}}");
    PUT_KEY(fx, "app", "db", "port", "2");
    PUT_KEY(fx, "app", "db", "port", "3");
    PUT_KEY(fx, "zz", "s", "k", "\"quote\\\" back\\\\slash\"");
    expect(fx, CH_WRITE_DELETE_KEY, "app", "db", "host", NULL, CONFHUB_OK);
    char *app = ns_json(fx, "app"), *zz = ns_json(fx, "zz");
    struct ch_entry_info port = entry_info(fx, "app", "db", "port");
    assert_int_equal(revision(fx), 5);

    stop(fx);
    start(fx);
    assert_int_equal(ch_service_loaded_revision(fx->svc), 5);
    assert_int_equal(revision(fx), 5);
    assert_ns_json(fx, "app", app);
    assert_ns_json(fx, "zz", zz);
    struct ch_entry_info again = entry_info(fx, "app", "db", "port");
    assert_int_equal(again.create_rev, port.create_rev);
    assert_int_equal(again.mod_rev, port.mod_rev);
    assert_int_equal(again.version, port.version);
    assert_int_equal(again.version, 3);
    free(app);
    free(zz);

    /* Writing goes on from the loaded revision and version. */
    struct ch_write *w = run(fx, mk(CH_WRITE_PUT_KEY, "app", "db", "port", "4"));
    assert_int_equal(w->status, CONFHUB_OK);
    assert_int_equal(w->revision, 6);
    assert_int_equal(w->version, 4);
    ch_write_free(w);
}

static void test_service_history_has_old_and_new_values(void **state)
{
    struct fixture *fx = *state;
    PUT_KEY(fx, "app", "s", "k", "1");
    PUT_KEY(fx, "app", "s", "k", "{\"a\":[true]}");
    PUT_SEC(fx, "app", "s", "\"now a scalar\"");
    expect(fx, CH_WRITE_DELETE_SECTION, "app", "s", NULL, NULL, CONFHUB_OK);
    assert_query(fx, HISTORY,
                 "1|set|s|k|NULL|1|\n"
                 "2|set|s|k|1|{\"a\":[true]}|\n"
                 "3|delete|s|k|{\"a\":[true]}|NULL|\n"
                 "3|set|s|@|NULL|\"now a scalar\"|\n"
                 "4|delete|s|@|\"now a scalar\"|NULL|\n");
    assert_query(fx, "SELECT DISTINCT actor, remote FROM revisions", "anonymous||\n");
    assert_query(fx, "SELECT count(*) FROM kv", "0|\n");
    assert_query(fx, "SELECT value FROM meta WHERE name = 'revision'", "4|\n");
}

static void test_service_failed_commit_changes_nothing(void **state)
{
    struct fixture *fx = *state;
    PUT_KEY(fx, "app", "s", "k", "1");
    char *db_before = dump(fx);
    char *json_before = ns_json(fx, "app");

    ch_test_fault_arm(-1, 0); /* the next fsync fails, and every one after it */
    struct ch_write *w = run(fx, mk(CH_WRITE_PUT_KEY, "app", "s", "k", "2"));
    assert_true(ch_test_fault_faults_count() > 0);
    assert_int_equal(w->status, CONFHUB_EUNAVAIL);
    assert_false(w->changed);
    assert_non_null(strstr(w->err.msg, "not committed"));
    assert_non_null(strstr(w->err.msg, "disk I/O error"));
    ch_write_free(w);
    w = run(fx, mk(CH_WRITE_PUT_KEY, "app", "t", "new", "true"));
    assert_int_equal(w->status, CONFHUB_EUNAVAIL);
    ch_write_free(w);
    ch_test_fault_disarm();

    assert_int_equal(revision(fx), 1);
    assert_ns_json(fx, "app", json_before);
    char *db_after = dump(fx);
    assert_string_equal(db_before, db_after);
    free(db_after);

    /* The store recovers and the next write takes the next revision: no gap. */
    w = run(fx, mk(CH_WRITE_PUT_KEY, "app", "s", "k", "3"));
    assert_int_equal(w->status, CONFHUB_OK);
    assert_int_equal(w->revision, 2);
    assert_int_equal(w->version, 2);
    ch_write_free(w);
    assert_ns_json(fx, "app", "{\"s\":{\"k\":3}}");
    assert_query(fx, HISTORY, "1|set|s|k|NULL|1|\n2|set|s|k|1|3|\n");

    /* And what survives a restart is exactly that. */
    stop(fx);
    start(fx);
    assert_int_equal(revision(fx), 2);
    assert_ns_json(fx, "app", "{\"s\":{\"k\":3}}");
    free(db_before);
    free(json_before);
}

static void test_service_disk_full_changes_nothing(void **state)
{
    struct fixture *fx = *state;
    PUT_SEC(fx, "app", "s", "{\"a\":1,\"b\":2}");
    char *db_before = dump(fx);

    ch_test_fault_arm(0, -1);
    struct ch_write *w = run(fx, mk(CH_WRITE_PUT_SECTION, "app", "s", NULL, "{\"c\":3}"));
    assert_int_equal(w->status, CONFHUB_EUNAVAIL);
    assert_non_null(strstr(w->err.msg, "no space left"));
    ch_write_free(w);
    ch_test_fault_disarm();
    assert_int_equal(revision(fx), 1);
    assert_ns_json(fx, "app", "{\"s\":{\"a\":1,\"b\":2}}");
    char *db_after = dump(fx);
    assert_string_equal(db_before, db_after);
    free(db_before);
    free(db_after);

    PUT_SEC(fx, "app", "s", "{\"c\":3}");
    assert_int_equal(revision(fx), 2);
}

/* ---- out of memory ------------------------------------------------------------------------- */

/* A store whose revision is ahead of its last key (everything was deleted) reopens at that
 * revision, so the next write does not reuse a revision the history already has. */
static void test_service_restart_after_deleting_everything_keeps_revision(void **state)
{
    struct fixture *fx = *state;
    PUT_KEY(fx, "app", "s", "k", "1");
    PUT_KEY(fx, "app", "s", "k", "2");
    expect(fx, CH_WRITE_DELETE_NS, "app", NULL, NULL, NULL, CONFHUB_OK);
    stop(fx);
    start(fx);
    assert_int_equal(ch_service_loaded_revision(fx->svc), 3);
    assert_int_equal(revision(fx), 3);
    struct ch_write *w = run(fx, mk(CH_WRITE_PUT_KEY, "app", "s", "k", "3"));
    assert_int_equal(w->status, CONFHUB_OK);
    assert_int_equal(w->revision, 4);
    ch_write_free(w);
}

/* Loading under allocation failure either fails with ENOMEM or gives the stored state. */
static void check_new_torture(struct fixture *fx, const char *expect_json, int64_t expect_rev)
{
    struct ch_store_options opts = {.migrate = true, .create = true, .sqlite_vfs = fx->vfs};
    struct ch_err err = {0};
    long n;

    stop(fx);
    assert_int_equal(ch_store_open(fx->uri, &opts, &fx->store, &err), CONFHUB_OK);
    for (n = 0;; n++) {
        enum confhub_status rc;
        assert_int_equal(ch_model_new(1, &fx->model, &err), CONFHUB_OK);
        ch_alloc_fail_after(n);
        rc = ch_service_new(fx->store, fx->model, &fx->limits, &fx->svc, &err);
        ch_alloc_fail_after(-1);
        if (rc == CONFHUB_OK)
            break;
        assert_int_equal(rc, CONFHUB_ENOMEM);
        ch_model_free(fx->model);
        fx->model = NULL;
        assert_true(n < 100000);
    }
    assert_true(n > 0);
    assert_int_equal(ch_service_start(fx->svc, &err), CONFHUB_OK);
    assert_int_equal(ch_service_loaded_revision(fx->svc), expect_rev);
    assert_int_equal(revision(fx), expect_rev);
    assert_ns_json(fx, "app", expect_json);
}

static void test_service_new_alloc_torture(void **state)
{
    struct fixture *fx = *state;
    PUT_NS(fx, "app", "{\"a\":{\"x\":1,\"y\":[2]},\"b\":\"s\"}");
    PUT_KEY(fx, "other", "s", "k", "0");
    check_new_torture(fx, "{\"a\":{\"x\":1,\"y\":[2]},\"b\":\"s\"}", 2);
    /* No keys left, but revision 3 was committed. */
    expect(fx, CH_WRITE_DELETE_NS, "app", NULL, NULL, NULL, CONFHUB_OK);
    expect(fx, CH_WRITE_DELETE_NS, "other", NULL, NULL, NULL, CONFHUB_OK);
    check_new_torture(fx, "-", 4);
}

/* Every allocation of a write (planning, the model batch, SQLite's commit) fails in turn: the
 * write fails as a whole and changes nothing, until it succeeds at the next revision. */
static void test_service_write_alloc_torture(void **state)
{
    struct fixture *fx = *state;
    PUT_NS(fx, "app", "{\"a\":{\"x\":1,\"y\":2},\"b\":[1],\"c\":{\"z\":0}}");
    char *db_before = dump(fx);
    char *json_before = ns_json(fx, "app");
    long n;

    for (n = 0;; n++) {
        struct ch_write *w = mk(CH_WRITE_PUT_NS, "app", NULL, NULL,
                                "{\"a\":{\"x\":1,\"w\":{\"deep\":[1,2,3]}},\"b\":{\"k\":true},"
                                "\"d\":\"new\"}");
        ch_alloc_fail_after(n);
        run(fx, w);
        ch_alloc_fail_after(-1);
        enum confhub_status rc = w->status;
        if (rc == CONFHUB_OK) {
            assert_int_equal(w->revision, 2);
            ch_write_free(w);
            break;
        }
        if (rc != CONFHUB_EUNAVAIL && rc != CONFHUB_ENOMEM)
            print_error("n=%ld: %s\n", n, w->err.msg);
        assert_true(rc == CONFHUB_EUNAVAIL || rc == CONFHUB_ENOMEM);
        assert_false(w->changed);
        ch_write_free(w);
        assert_int_equal(revision(fx), 1);
        assert_ns_json(fx, "app", json_before);
        char *db_after = dump(fx);
        assert_string_equal(db_before, db_after);
        free(db_after);
        assert_true(n < 100000);
    }
    assert_true(n > 0);
    assert_ns_json(fx, "app",
                   "{\"a\":{\"w\":{\"deep\":[1,2,3]},\"x\":1},\"b\":{\"k\":true},"
                   "\"d\":\"new\"}");
    assert_query(fx, "SELECT count(*) FROM history WHERE revision = 2", "6|\n");
    /* What the model shows is what a restart loads. */
    stop(fx);
    start(fx);
    assert_int_equal(revision(fx), 2);
    assert_ns_json(fx, "app",
                   "{\"a\":{\"w\":{\"deep\":[1,2,3]},\"x\":1},\"b\":{\"k\":true},"
                   "\"d\":\"new\"}");
    free(db_before);
    free(json_before);
}

/* ---- group commit ------------------------------------------------------------------------------
 */

#define N_THREADS    4
#define N_PER_THREAD 50
#define N_WRITES     (N_THREADS * N_PER_THREAD)

struct async_state {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int n_done;
    atomic_int n_ok;
};

struct submitter {
    struct fixture *fx;
    struct async_state *as;
    struct ch_write **writes; /* N_PER_THREAD, owned by the test */
    int id;
};

static void on_done(struct ch_write *w)
{
    struct async_state *as = w->userdata;
    if (w->status == CONFHUB_OK)
        atomic_fetch_add(&as->n_ok, 1);
    pthread_mutex_lock(&as->lock);
    as->n_done++;
    pthread_cond_signal(&as->cond);
    pthread_mutex_unlock(&as->lock);
}

static void *submit_main(void *p)
{
    struct submitter *s = p;
    char key[16], value[32];
    for (int i = 0; i < N_PER_THREAD; i++) {
        /* Each thread writes its own key again and again; every write changes it. */
        snprintf(key, sizeof(key), "t%d", s->id);
        snprintf(value, sizeof(value), "%d", i);
        struct ch_write *w = mk(CH_WRITE_PUT_KEY, "app", "s", key, value);
        w->done = on_done;
        w->userdata = s->as;
        s->writes[i] = w;
        if (ch_service_submit(s->fx->svc, w) != CONFHUB_OK)
            return (void *)1;
    }
    return NULL;
}

static void test_service_group_commit_gives_gap_free_revisions(void **state)
{
    struct fixture *fx = *state;
    struct async_state as = {.n_done = 0};
    struct ch_write *writes[N_WRITES] = {0};
    struct submitter subs[N_THREADS];
    pthread_t threads[N_THREADS];
    int seen[N_WRITES + 1] = {0};

    pthread_mutex_init(&as.lock, NULL);
    pthread_cond_init(&as.cond, NULL);
    atomic_init(&as.n_ok, 0);
    for (int t = 0; t < N_THREADS; t++) {
        subs[t] = (struct submitter){fx, &as, writes + t * N_PER_THREAD, t};
        assert_int_equal(pthread_create(&threads[t], NULL, submit_main, &subs[t]), 0);
    }
    for (int t = 0; t < N_THREADS; t++) {
        void *ret = NULL;
        assert_int_equal(pthread_join(threads[t], &ret), 0);
        assert_null(ret);
    }
    pthread_mutex_lock(&as.lock);
    while (as.n_done < N_WRITES)
        pthread_cond_wait(&as.cond, &as.lock);
    pthread_mutex_unlock(&as.lock);

    assert_int_equal(atomic_load(&as.n_ok), N_WRITES);
    for (int t = 0; t < N_THREADS; t++) {
        int64_t last = 0;
        for (int i = 0; i < N_PER_THREAD; i++) {
            struct ch_write *w = writes[t * N_PER_THREAD + i];
            assert_int_equal(w->status, CONFHUB_OK);
            assert_true(w->changed);
            assert_true(w->revision >= 1 && w->revision <= N_WRITES);
            assert_int_equal(seen[w->revision], 0);
            seen[w->revision] = 1;
            /* One thread's writes keep their order, and each bumps the key's version. */
            assert_true(w->revision > last);
            last = w->revision;
            assert_int_equal(w->version, i + 1);
            assert_int_equal(w->mod_rev, w->revision);
        }
    }
    for (int r = 1; r <= N_WRITES; r++)
        assert_int_equal(seen[r], 1);
    for (int i = 0; i < N_WRITES; i++)
        ch_write_free(writes[i]);

    assert_int_equal(revision(fx), N_WRITES);
    assert_query(fx,
                 "SELECT count(*), min(revision), max(revision), count(DISTINCT revision) "
                 "FROM history",
                 "200|1|200|200|\n");
    assert_query(fx, "SELECT key, value, version FROM kv ORDER BY key",
                 "t0|49|50|\nt1|49|50|\nt2|49|50|\nt3|49|50|\n");
    pthread_cond_destroy(&as.cond);
    pthread_mutex_destroy(&as.lock);
}

int main(void)
{
#define T(name)  cmocka_unit_test_setup_teardown(name, setup, teardown)
#define TF(name) cmocka_unit_test_setup_teardown(name, setup_fault, teardown)
    const struct CMUnitTest tests[] = {
        T(test_service_put_key_creates_it_at_revision_1),
        T(test_service_put_same_value_is_a_noop),
        T(test_service_put_object_with_reordered_members_is_a_noop),
        T(test_service_put_key_into_list_section_is_einval),
        T(test_service_put_key_into_empty_object_section_works),
        T(test_service_put_section_replaces_it_in_one_revision),
        T(test_service_non_object_section_becomes_at_entry),
        T(test_service_bad_key_name_in_section_is_einval),
        T(test_service_put_ns_replaces_document_in_one_revision),
        T(test_service_put_ns_with_non_object_is_einval),
        T(test_service_deletes_and_missing_targets),
        T(test_service_if_match_mismatch_is_econflict),
        T(test_service_if_none_match_on_existing_is_econflict),
        T(test_service_value_over_limit_is_etoobig),
        T(test_service_restart_loads_the_same_state),
        T(test_service_history_has_old_and_new_values),
        TF(test_service_failed_commit_changes_nothing),
        TF(test_service_disk_full_changes_nothing),
        T(test_service_restart_after_deleting_everything_keeps_revision),
        T(test_service_new_alloc_torture),
        T(test_service_write_alloc_torture),
        T(test_service_group_commit_gives_gap_free_revisions),
    };
#undef T
#undef TF
    ch_log_min_level = CH_LOG_OFF; /* failed commits are logged; keep TAP output clean */
    /* SQLite allocates through ch_malloc, so allocation torture reaches it too. This must come
     * before any other SQLite call. */
    if (ch_test_fault_route_sqlite_malloc() != SQLITE_OK)
        return 1;
    ch_alloc_install_jansson();
    if (ch_test_fault_register() != SQLITE_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
