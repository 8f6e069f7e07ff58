/* SPDX-License-Identifier: MIT */
/*
 * test_model.c: the in-memory copy-on-write model (model.h), with its real epoch reclamation
 * and real reader threads. "Unchanged" is checked with a text snapshot of the whole published
 * state: every namespace's ch_ns_json plus every entry's revisions and version.
 * Leaks and use-after-free are left to ASan/LSan (make BUILD=asan).
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

#include <cmocka.h>

#include "common/alloc.h"
#include "model.h"

#define N_READERS 3

/* ---- helpers ------------------------------------------------------------------------------ */

static int setup(void **state)
{
    struct ch_model *m = NULL;
    struct ch_err err = {0};
    ch_alloc_fail_after(-1);
    if (ch_model_new(N_READERS, &m, &err) != CONFHUB_OK)
        return -1;
    *state = m;
    return 0;
}

static int teardown(void **state)
{
    ch_alloc_fail_after(-1);
    ch_model_free(*state);
    return 0;
}

static void set(struct ch_model *m, const char *ns, const char *sec, const char *key,
                const char *value, int64_t rev)
{
    assert_int_equal(ch_model_batch_set(m, ns, sec, key, value, strlen(value), rev, NULL),
                     CONFHUB_OK);
}

/* One batch that sets a single key at rev and commits it. */
static void commit_one(struct ch_model *m, const char *ns, const char *sec, const char *key,
                       const char *value, int64_t rev)
{
    ch_model_batch_begin(m);
    set(m, ns, sec, key, value, rev);
    ch_model_batch_set_revision(m, rev);
    ch_model_batch_commit(m);
}

static const struct ch_entry *find(const struct ch_state *st, const char *ns, const char *sec,
                                   const char *key)
{
    const struct ch_ns *n = ch_state_find_ns(st, ns, strlen(ns));
    const struct ch_section *s = n ? ch_ns_find_section(n, sec, strlen(sec)) : NULL;
    return s ? ch_section_find_entry(s, key, strlen(key)) : NULL;
}

static struct ch_entry_info info_of(const struct ch_state *st, const char *ns, const char *sec,
                                    const char *key)
{
    struct ch_entry_info info = {0};
    const struct ch_entry *e = find(st, ns, sec, key);
    assert_non_null(e);
    ch_entry_info(e, &info);
    return info;
}

/* The namespace's JSON document, or "-" when the namespace does not exist. Borrowed. */
static const char *ns_json(const struct ch_state *st, const char *ns)
{
    const struct ch_ns *n = ch_state_find_ns(st, ns, strlen(ns));
    if (!n)
        return "-";
    const struct ch_blob *b = ch_ns_json(n);
    assert_non_null(b);
    assert_int_equal(strlen(b->data), b->len);
    return b->data;
}

static void append(char **buf, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void append(char **buf, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    *buf = realloc(*buf, *len + (size_t)n + 1);
    assert_non_null(*buf);
    va_start(ap, fmt);
    vsnprintf(*buf + *len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *len += (size_t)n;
}

/* Everything observable about a state, as text; the caller frees it with free(). Call with
 * the allocation hook off (the sorted listings and JSON caches allocate). */
static char *snapshot(const struct ch_state *st)
{
    const struct ch_ns **nss = NULL;
    size_t n_ns = 0, len = 0;
    char *out = NULL;

    append(&out, &len, "rev=%lld ns=%zu keys=%zu\n", (long long)ch_state_revision(st),
           ch_state_ns_count(st), ch_state_key_count(st));
    assert_int_equal(ch_state_sorted_ns(st, &nss, &n_ns), CONFHUB_OK);
    assert_int_equal(n_ns, ch_state_ns_count(st));
    for (size_t i = 0; i < n_ns; i++) {
        const struct ch_section **secs = NULL;
        size_t n_secs = 0;
        append(&out, &len, "%s mod=%lld keys=%zu %s\n", ch_ns_name(nss[i]),
               (long long)ch_ns_mod_rev(nss[i]), ch_ns_key_count(nss[i]), ch_ns_json(nss[i])->data);
        assert_int_equal(ch_ns_sorted_sections(nss[i], &secs, &n_secs), CONFHUB_OK);
        for (size_t j = 0; j < n_secs; j++) {
            const struct ch_entry **ents = NULL;
            size_t n_ents = 0;
            append(&out, &len, " %s mod=%lld\n", ch_section_name(secs[j]),
                   (long long)ch_section_mod_rev(secs[j]));
            assert_int_equal(ch_section_sorted_entries(secs[j], &ents, &n_ents), CONFHUB_OK);
            for (size_t k = 0; k < n_ents; k++) {
                struct ch_entry_info info;
                ch_entry_info(ents[k], &info);
                append(&out, &len, "  %s=%s c=%lld m=%lld v=%lld\n", info.key, info.value,
                       (long long)info.create_rev, (long long)info.mod_rev,
                       (long long)info.version);
            }
            ch_free(ents);
        }
        ch_free(secs);
    }
    ch_free(nss);
    return out;
}

/* A published state with two namespaces, an object section, a scalar section and history. */
static void seed(struct ch_model *m)
{
    ch_model_batch_begin(m);
    set(m, "app", "db", "host", "\"db1\"", 1);
    set(m, "app", "db", "port", "5432", 1);
    set(m, "app", "flags", "@", "[1,2]", 1);
    set(m, "other", "s", "k", "true", 1);
    ch_model_batch_set_revision(m, 1);
    ch_model_batch_commit(m);
    commit_one(m, "app", "db", "port", "5433", 2);
}

/* ---- batches, lookups and bookkeeping ------------------------------------------------------ */

static void test_model_batch_set_commit_read(void **state)
{
    struct ch_model *m = *state;

    assert_int_equal(ch_state_revision(ch_model_published(m)), 0);
    ch_model_batch_begin(m);
    set(m, "app", "db", "host", "\"db1\"", 1);
    set(m, "app", "db", "port", "5432", 1);
    set(m, "app", "web", "tls", "false", 1);
    ch_model_batch_set_revision(m, 1);
    /* Invisible to readers until the commit. */
    const struct ch_state *st = ch_model_read_begin(m, 0);
    assert_int_equal(ch_state_ns_count(st), 0);
    assert_null(find(st, "app", "db", "host"));
    ch_model_read_end(m, 0);
    /* The writer sees its own batch. */
    assert_non_null(find(ch_model_batch_state(m), "app", "db", "host"));
    ch_model_batch_commit(m);

    st = ch_model_read_begin(m, 0);
    assert_int_equal(ch_state_revision(st), 1);
    assert_int_equal(ch_state_ns_count(st), 1);
    assert_int_equal(ch_state_key_count(st), 3);
    struct ch_entry_info info = info_of(st, "app", "db", "host");
    assert_string_equal(info.value, "\"db1\"");
    assert_int_equal(info.value_len, 5);
    assert_memory_equal(info.key, "host", 5);
    assert_int_equal(info.key_len, 4);
    const struct ch_ns *ns = ch_state_find_ns(st, "app", 3);
    assert_non_null(ns);
    assert_string_equal(ch_ns_name(ns), "app");
    assert_int_equal(ch_ns_section_count(ns), 2);
    assert_int_equal(ch_ns_key_count(ns), 3);
    const struct ch_section *sec = ch_ns_find_section(ns, "db", 2);
    assert_non_null(sec);
    assert_string_equal(ch_section_name(sec), "db");
    assert_int_equal(ch_section_key_count(sec), 2);
    assert_null(ch_section_scalar(sec));
    assert_string_equal(ns_json(st, "app"),
                        "{\"db\":{\"host\":\"db1\",\"port\":5432},\"web\":{\"tls\":false}}");
    ch_model_read_end(m, 0);
}

static void test_model_lookups_of_absent_names_return_null(void **state)
{
    struct ch_model *m = *state;
    seed(m);
    const struct ch_state *st = ch_model_read_begin(m, 1);
    assert_null(ch_state_find_ns(st, "nope", 4));
    assert_null(ch_state_find_ns(st, "ap", 2));       /* a prefix is another name */
    assert_null(ch_state_find_ns(st, "appx", 4));     /* so is a longer one */
    assert_non_null(ch_state_find_ns(st, "appx", 3)); /* lengths, not NUL bytes, count */
    const struct ch_ns *ns = ch_state_find_ns(st, "app", 3);
    assert_null(ch_ns_find_section(ns, "d", 1));
    assert_null(ch_ns_find_section(ns, "web", 3));
    const struct ch_section *sec = ch_ns_find_section(ns, "db", 2);
    assert_null(ch_section_find_entry(sec, "hos", 3));
    assert_null(ch_section_find_entry(sec, "user", 4));
    assert_null(find(st, "other", "db", "host")); /* names are per namespace */
    ch_model_read_end(m, 1);
}

static void test_model_tracks_versions_and_revisions_across_writes(void **state)
{
    struct ch_model *m = *state;
    commit_one(m, "app", "db", "host", "\"a\"", 1);
    commit_one(m, "app", "db", "host", "\"b\"", 2);
    commit_one(m, "app", "web", "port", "80", 3);
    commit_one(m, "app", "db", "host", "\"c\"", 4);
    commit_one(m, "zzz", "s", "k", "1", 5);

    const struct ch_state *st = ch_model_published(m);
    struct ch_entry_info host = info_of(st, "app", "db", "host");
    assert_int_equal(host.create_rev, 1);
    assert_int_equal(host.mod_rev, 4);
    assert_int_equal(host.version, 3);
    struct ch_entry_info port = info_of(st, "app", "web", "port");
    assert_int_equal(port.create_rev, 3);
    assert_int_equal(port.mod_rev, 3);
    assert_int_equal(port.version, 1);
    const struct ch_ns *ns = ch_state_find_ns(st, "app", 3);
    assert_int_equal(ch_ns_mod_rev(ns), 4);
    assert_int_equal(ch_section_mod_rev(ch_ns_find_section(ns, "web", 3)), 3);
    assert_int_equal(ch_section_mod_rev(ch_ns_find_section(ns, "db", 2)), 4);
    assert_int_equal(ch_ns_mod_rev(ch_state_find_ns(st, "zzz", 3)), 5);
    assert_int_equal(ch_state_revision(st), 5);
    assert_int_equal(ch_state_key_count(st), 3);

    /* Deleting and re-creating a key starts it over. */
    ch_model_batch_begin(m);
    assert_int_equal(ch_model_batch_delete(m, "app", "db", "host", 6), CONFHUB_OK);
    ch_model_batch_set_revision(m, 6);
    ch_model_batch_commit(m);
    commit_one(m, "app", "db", "host", "\"d\"", 7);
    host = info_of(ch_model_published(m), "app", "db", "host");
    assert_int_equal(host.create_rev, 7);
    assert_int_equal(host.version, 1);
}

static void test_model_delete_removes_empty_sections_and_namespaces(void **state)
{
    struct ch_model *m = *state;
    seed(m);
    ch_model_batch_begin(m);
    assert_int_equal(ch_model_batch_delete(m, "app", "db", "host", 3), CONFHUB_OK);
    assert_int_equal(ch_model_batch_delete(m, "app", "db", "host", 3), CONFHUB_ENOTFOUND);
    assert_int_equal(ch_model_batch_delete(m, "app", "db", "nope", 3), CONFHUB_ENOTFOUND);
    assert_int_equal(ch_model_batch_delete(m, "app", "nope", "k", 3), CONFHUB_ENOTFOUND);
    assert_int_equal(ch_model_batch_delete(m, "nope", "db", "k", 3), CONFHUB_ENOTFOUND);
    ch_model_batch_set_revision(m, 3);
    ch_model_batch_commit(m);
    const struct ch_state *st = ch_model_published(m);
    assert_int_equal(ch_ns_section_count(ch_state_find_ns(st, "app", 3)), 2);

    ch_model_batch_begin(m);
    assert_int_equal(ch_model_batch_delete(m, "app", "db", "port", 4), CONFHUB_OK);
    ch_model_batch_set_revision(m, 4);
    ch_model_batch_commit(m);
    st = ch_model_published(m);
    const struct ch_ns *ns = ch_state_find_ns(st, "app", 3);
    assert_non_null(ns);
    assert_null(ch_ns_find_section(ns, "db", 2));
    assert_int_equal(ch_ns_section_count(ns), 1);
    assert_int_equal(ch_ns_key_count(ns), 1);
    assert_string_equal(ns_json(st, "app"), "{\"flags\":[1,2]}");

    ch_model_batch_begin(m);
    assert_int_equal(ch_model_batch_delete(m, "app", "flags", "@", 5), CONFHUB_OK);
    ch_model_batch_set_revision(m, 5);
    ch_model_batch_commit(m);
    st = ch_model_published(m);
    assert_null(ch_state_find_ns(st, "app", 3));
    assert_int_equal(ch_state_ns_count(st), 1);
    assert_int_equal(ch_state_key_count(st), 1);
    assert_int_equal(ch_state_revision(st), 5);

    ch_model_reclaim(m);
    assert_false(ch_model_reclaim_pending(m));
}

static void test_model_abort_leaves_published_state_unchanged(void **state)
{
    struct ch_model *m = *state;
    seed(m);
    const struct ch_state *before_ptr = ch_model_published(m);
    char *before = snapshot(before_ptr);

    ch_model_batch_begin(m);
    set(m, "app", "db", "port", "1", 3);     /* replace */
    set(m, "app", "db", "port", "2", 3);     /* replace the replacement */
    set(m, "app", "db", "user", "\"u\"", 3); /* new key */
    set(m, "new", "s", "k", "0", 3);         /* new namespace */
    assert_int_equal(ch_model_batch_delete(m, "app", "db", "host", 3), CONFHUB_OK);
    assert_int_equal(ch_model_batch_delete(m, "other", "s", "k", 3), CONFHUB_OK); /* whole ns */
    assert_int_equal(ch_model_batch_delete(m, "new", "s", "k", 3), CONFHUB_OK);
    set(m, "other", "s", "k", "false", 3); /* re-created inside the batch */
    ch_model_batch_set_revision(m, 3);
    /* The batch view has it all, the readers none of it. */
    assert_string_equal(ns_json(ch_model_batch_state(m), "app"),
                        "{\"db\":{\"port\":2,\"user\":\"u\"},\"flags\":[1,2]}");
    ch_model_batch_abort(m);

    assert_ptr_equal(ch_model_published(m), before_ptr);
    assert_ptr_equal(ch_model_batch_state(m), before_ptr);
    char *after = snapshot(ch_model_published(m));
    assert_string_equal(before, after);
    free(before);
    free(after);

    /* The model goes on working after an abort. */
    commit_one(m, "app", "db", "port", "7", 3);
    struct ch_entry_info port = info_of(ch_model_published(m), "app", "db", "port");
    assert_int_equal(port.version, 3);
    assert_string_equal(port.value, "7");
}

static void test_model_many_writes_to_one_key_in_one_batch(void **state)
{
    struct ch_model *m = *state;
    char value[32];
    seed(m);

    ch_model_batch_begin(m);
    for (int i = 0; i < 1000; i++) {
        snprintf(value, sizeof(value), "%d", i);
        set(m, "app", "db", "port", value, 3 + i);
        set(m, "fresh", "s", "k", value, 3 + i);
        if (i % 10 == 0) {
            assert_int_equal(ch_model_batch_delete(m, "fresh", "s", "k", 3 + i), CONFHUB_OK);
            set(m, "fresh", "s", "k", value, 3 + i);
        }
    }
    ch_model_batch_set_revision(m, 1002);
    ch_model_batch_commit(m);

    const struct ch_state *st = ch_model_published(m);
    struct ch_entry_info port = info_of(st, "app", "db", "port");
    assert_string_equal(port.value, "999");
    assert_int_equal(port.create_rev, 1);
    assert_int_equal(port.mod_rev, 1002);
    assert_int_equal(port.version, 2 + 1000);
    struct ch_entry_info k = info_of(st, "fresh", "s", "k");
    assert_int_equal(k.create_rev, 993); /* re-created at i == 990 */
    assert_int_equal(k.version, 10);
    assert_int_equal(ch_state_key_count(st), 5);
    assert_int_equal(ch_ns_key_count(ch_state_find_ns(st, "fresh", 5)), 1);

    /* The same churn, aborted: nothing leaks, nothing changes. */
    char *before = snapshot(st);
    ch_model_batch_begin(m);
    for (int i = 0; i < 500; i++) {
        snprintf(value, sizeof(value), "\"v%d\"", i);
        set(m, "app", "db", "port", value, 2000 + i);
        set(m, "fresh", "t", "k", value, 2000 + i);
    }
    ch_model_batch_abort(m);
    char *after = snapshot(ch_model_published(m));
    assert_string_equal(before, after);
    free(before);
    free(after);
}

/* ---- serialisation -------------------------------------------------------------------------- */

static void test_model_json_is_sorted_by_bytes_and_escapes_names(void **state)
{
    struct ch_model *m = *state;
    ch_model_batch_begin(m);
    /* Inserted out of order; byte order puts "B" < "a" < "ab" < "b" < "\xc3\xa9" (é). */
    set(m, "n", "s", "b", "2", 1);
    set(m, "n", "s", "\xc3\xa9", "5", 1);
    set(m, "n", "s", "ab", "4", 1);
    set(m, "n", "s", "a", "3", 1);
    set(m, "n", "s", "B", "1", 1);
    set(m, "n", "q\"uo\\te", "x\\\"y\"", "{\"z\":null}", 1);
    set(m, "n", "\\", "@", "\"back\\\\slash\"", 1);
    set(m, "n", "A", "@", "{}", 1);
    ch_model_batch_set_revision(m, 1);
    ch_model_batch_commit(m);

    const struct ch_state *st = ch_model_read_begin(m, 2);
    const struct ch_ns *ns = ch_state_find_ns(st, "n", 1);
    const struct ch_section *s = ch_ns_find_section(ns, "s", 1);
    const struct ch_blob *sj = ch_section_json(s);
    assert_non_null(sj);
    assert_string_equal(sj->data, "{\"B\":1,\"a\":3,\"ab\":4,\"b\":2,\"\xc3\xa9\":5}");
    assert_int_equal(sj->len, strlen(sj->data));
    assert_ptr_equal(ch_section_json(s), sj); /* cached */
    const struct ch_section *q = ch_ns_find_section(ns, "q\"uo\\te", 7);
    assert_string_equal(ch_section_json(q)->data, "{\"x\\\\\\\"y\\\"\":{\"z\":null}}");
    assert_string_equal(ns_json(st, "n"),
                        "{\"A\":{},"
                        "\"\\\\\":\"back\\\\slash\","
                        "\"q\\\"uo\\\\te\":{\"x\\\\\\\"y\\\"\":{\"z\":null}},"
                        "\"s\":{\"B\":1,\"a\":3,\"ab\":4,\"b\":2,\"\xc3\xa9\":5}}");
    assert_ptr_equal(ch_ns_json(ns), ch_ns_json(ns));

    const struct ch_section **secs = NULL;
    size_t n = 0;
    assert_int_equal(ch_ns_sorted_sections(ns, &secs, &n), CONFHUB_OK);
    assert_int_equal(n, 4);
    assert_string_equal(ch_section_name(secs[0]), "A");
    assert_string_equal(ch_section_name(secs[1]), "\\");
    assert_string_equal(ch_section_name(secs[2]), "q\"uo\\te");
    assert_string_equal(ch_section_name(secs[3]), "s");
    ch_free(secs);
    ch_model_read_end(m, 2);
}

static void test_model_scalar_sections_hold_one_at_entry(void **state)
{
    struct ch_model *m = *state;
    seed(m);
    commit_one(m, "app", "str", "@", "\"hello\"", 3);
    commit_one(m, "app", "empty", "@", "{}", 4);

    const struct ch_state *st = ch_model_published(m);
    const struct ch_ns *ns = ch_state_find_ns(st, "app", 3);
    const struct ch_section *flags = ch_ns_find_section(ns, "flags", 5);
    const struct ch_entry *scalar = ch_section_scalar(flags);
    assert_non_null(scalar);
    struct ch_entry_info info;
    ch_entry_info(scalar, &info);
    assert_string_equal(info.key, "@");
    assert_string_equal(info.value, "[1,2]");
    assert_string_equal(ch_section_json(flags)->data, "[1,2]");
    assert_string_equal(ch_section_json(ch_ns_find_section(ns, "str", 3))->data, "\"hello\"");
    assert_string_equal(ch_section_json(ch_ns_find_section(ns, "empty", 5))->data, "{}");
    assert_null(ch_section_scalar(ch_ns_find_section(ns, "db", 2)));
    assert_string_equal(ns_json(st, "app"), "{\"db\":{\"host\":\"db1\",\"port\":5433},"
                                            "\"empty\":{},\"flags\":[1,2],\"str\":\"hello\"}");
}

/* The writer may serialise its own batch state; a later change in the same batch must not
 * leave the old serialisation cached on the node it publishes. */
static void test_model_json_of_batch_state_follows_later_changes(void **state)
{
    struct ch_model *m = *state;
    seed(m);
    ch_model_batch_begin(m);
    set(m, "app", "db", "port", "1", 3);
    assert_string_equal(ns_json(ch_model_batch_state(m), "app"),
                        "{\"db\":{\"host\":\"db1\",\"port\":1},\"flags\":[1,2]}");
    set(m, "app", "db", "port", "2", 3);
    set(m, "app", "web", "tls", "true", 3);
    assert_int_equal(ch_model_batch_delete(m, "app", "flags", "@", 3), CONFHUB_OK);
    ch_model_batch_set_revision(m, 3);
    assert_string_equal(ns_json(ch_model_batch_state(m), "app"),
                        "{\"db\":{\"host\":\"db1\",\"port\":2},\"web\":{\"tls\":true}}");
    ch_model_batch_commit(m);
    const struct ch_state *st = ch_model_read_begin(m, 0);
    const struct ch_section *db = ch_ns_find_section(ch_state_find_ns(st, "app", 3), "db", 2);
    assert_string_equal(ch_section_json(db)->data, "{\"host\":\"db1\",\"port\":2}");
    assert_string_equal(ns_json(st, "app"),
                        "{\"db\":{\"host\":\"db1\",\"port\":2},\"web\":{\"tls\":true}}");
    ch_model_read_end(m, 0);
}

static void test_model_batch_load_keeps_given_revisions(void **state)
{
    struct ch_model *m = *state;
    ch_model_batch_begin(m);
    assert_int_equal(ch_model_batch_load(m, "app", "db", "host", "\"h\"", 3, 3, 7, 4), CONFHUB_OK);
    assert_int_equal(ch_model_batch_load(m, "app", "db", "port", "1", 1, 9, 9, 1), CONFHUB_OK);
    assert_int_equal(ch_model_batch_load(m, "app", "web", "@", "[]", 2, 2, 5, 2), CONFHUB_OK);
    ch_model_batch_set_revision(m, 12);
    ch_model_batch_commit(m);

    const struct ch_state *st = ch_model_published(m);
    struct ch_entry_info host = info_of(st, "app", "db", "host");
    assert_int_equal(host.create_rev, 3);
    assert_int_equal(host.mod_rev, 7);
    assert_int_equal(host.version, 4);
    struct ch_entry_info at = info_of(st, "app", "web", "@");
    assert_int_equal(at.create_rev, 2);
    assert_int_equal(at.mod_rev, 5);
    assert_int_equal(at.version, 2);
    const struct ch_ns *ns = ch_state_find_ns(st, "app", 3);
    assert_int_equal(ch_ns_mod_rev(ns), 9); /* the newest revision below it, load order aside */
    assert_int_equal(ch_section_mod_rev(ch_ns_find_section(ns, "db", 2)), 9);
    assert_int_equal(ch_section_mod_rev(ch_ns_find_section(ns, "web", 3)), 5);
    assert_int_equal(ch_state_revision(st), 12);
    assert_int_equal(ch_state_key_count(st), 3);

    /* A later write continues from the loaded version. */
    commit_one(m, "app", "db", "host", "\"i\"", 13);
    host = info_of(ch_model_published(m), "app", "db", "host");
    assert_int_equal(host.create_rev, 3);
    assert_int_equal(host.version, 5);
}

/* ---- reclamation ------------------------------------------------------------------------------
 */

static void test_model_reader_keeps_old_state_alive_across_commit(void **state)
{
    struct ch_model *m = *state;
    seed(m);
    ch_model_reclaim(m);
    assert_false(ch_model_reclaim_pending(m));

    const struct ch_state *old = ch_model_read_begin(m, 1);
    const struct ch_entry *port = find(old, "app", "db", "port");
    const struct ch_ns *other = ch_state_find_ns(old, "other", 5);
    const struct ch_blob *old_json = ch_ns_json(ch_state_find_ns(old, "app", 3));
    assert_non_null(port);
    assert_non_null(other);

    ch_model_batch_begin(m);
    set(m, "app", "db", "port", "9999", 3);
    assert_int_equal(ch_model_batch_delete(m, "other", "s", "k", 3), CONFHUB_OK);
    ch_model_batch_set_revision(m, 3);
    ch_model_batch_commit(m);
    commit_one(m, "app", "db", "host", "\"db2\"", 4); /* a second epoch on top */
    ch_model_reclaim(m);
    assert_true(ch_model_reclaim_pending(m));

    /* Everything the reader holds is still the old state, and still readable. */
    struct ch_entry_info info;
    ch_entry_info(port, &info);
    assert_string_equal(info.value, "5433");
    assert_int_equal(info.mod_rev, 2);
    assert_string_equal(ch_ns_name(other), "other");
    assert_string_equal(ns_json(old, "other"), "{\"s\":{\"k\":true}}");
    assert_string_equal(old_json->data,
                        "{\"db\":{\"host\":\"db1\",\"port\":5433},\"flags\":[1,2]}");
    assert_int_equal(ch_state_revision(old), 2);

    /* A reader that starts now sees the new state. */
    const struct ch_state *now = ch_model_read_begin(m, 2);
    assert_ptr_equal(now, ch_model_published(m));
    assert_string_equal(info_of(now, "app", "db", "port").value, "9999");
    assert_null(ch_state_find_ns(now, "other", 5));
    ch_model_read_end(m, 2);

    ch_model_read_end(m, 1);
    ch_model_reclaim(m);
    assert_false(ch_model_reclaim_pending(m));
}

#define N_BATCHES 2000

struct reader_arg {
    struct ch_model *model;
    unsigned slot;
    atomic_bool *stop;
    long reads, seen, bad;
};

/* Reads n/s/{a,b}, which the writer always sets to the same value in one batch. */
static void *reader_main(void *p)
{
    struct reader_arg *a = p;
    char expect[64];
    while (!atomic_load(a->stop)) {
        const struct ch_state *st = ch_model_read_begin(a->model, a->slot);
        const struct ch_ns *ns = ch_state_find_ns(st, "n", 1);
        const struct ch_section *sec = ns ? ch_ns_find_section(ns, "s", 1) : NULL;
        if (sec) {
            const struct ch_entry *ea = ch_section_find_entry(sec, "a", 1);
            const struct ch_entry *eb = ch_section_find_entry(sec, "b", 1);
            struct ch_entry_info ia, ib;
            if (!ea || !eb) {
                a->bad++;
            } else {
                ch_entry_info(ea, &ia);
                ch_entry_info(eb, &ib);
                if (strcmp(ia.value, ib.value) != 0 || ia.mod_rev != ib.mod_rev ||
                    ia.mod_rev > ch_state_revision(st))
                    a->bad++;
                /* The cached serialisation agrees with the entries it was built from. */
                const struct ch_blob *j = ch_section_json(sec);
                snprintf(expect, sizeof(expect), "{\"a\":%s,\"b\":%s}", ia.value, ib.value);
                if (!j || strcmp(j->data, expect) != 0)
                    a->bad++;
                a->seen++;
            }
        }
        a->reads++;
        ch_model_read_end(a->model, a->slot);
    }
    return NULL;
}

static void test_model_concurrent_readers_see_whole_batches(void **state)
{
    struct ch_model *m = *state;
    atomic_bool stop = false;
    struct reader_arg args[2] = {{m, 0, &stop, 0, 0, 0}, {m, 1, &stop, 0, 0, 0}};
    pthread_t threads[2];
    char value[32];

    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, reader_main, &args[i]), 0);
    for (int64_t rev = 1; rev <= N_BATCHES; rev++) {
        ch_model_batch_begin(m);
        snprintf(value, sizeof(value), "%lld", (long long)rev);
        if (rev % 100 == 0) {
            /* Now and then the whole namespace goes away and comes back in one batch. */
            assert_int_equal(ch_model_batch_delete(m, "n", "s", "a", rev), CONFHUB_OK);
            assert_int_equal(ch_model_batch_delete(m, "n", "s", "b", rev), CONFHUB_OK);
        }
        set(m, "n", "s", "a", value, rev);
        set(m, "n", "s", "b", value, rev);
        set(m, "n", "t", "other", value, rev);
        ch_model_batch_set_revision(m, rev);
        ch_model_batch_commit(m);
        if (rev % 7 == 0)
            ch_model_reclaim(m);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(args[i].bad, 0);
        assert_true(args[i].reads > 0);
    }
    ch_model_reclaim(m);
    assert_false(ch_model_reclaim_pending(m));
    struct ch_entry_info a = info_of(ch_model_published(m), "n", "s", "a");
    assert_string_equal(a.value, "2000");
    assert_int_equal(a.create_rev, 2000);
}

/* ---- size --------------------------------------------------------------------------------------
 */

#define MANY 10000

static void test_model_section_grows_past_many_keys_and_shrinks_to_nothing(void **state)
{
    struct ch_model *m = *state;
    char key[32], value[32];

    ch_model_batch_begin(m);
    for (int i = 0; i < MANY; i++) {
        snprintf(key, sizeof(key), "k%05d", i);
        snprintf(value, sizeof(value), "%d", i);
        set(m, "big", "s", key, value, 1);
    }
    ch_model_batch_set_revision(m, 1);
    ch_model_batch_commit(m);

    const struct ch_state *st = ch_model_published(m);
    const struct ch_section *sec = ch_ns_find_section(ch_state_find_ns(st, "big", 3), "s", 1);
    assert_int_equal(ch_section_key_count(sec), MANY);
    assert_int_equal(ch_state_key_count(st), MANY);
    for (int i = 0; i < MANY; i++) {
        snprintf(key, sizeof(key), "k%05d", i);
        snprintf(value, sizeof(value), "%d", i);
        assert_string_equal(info_of(st, "big", "s", key).value, value);
    }
    const struct ch_entry **ents = NULL;
    size_t n = 0;
    assert_int_equal(ch_section_sorted_entries(sec, &ents, &n), CONFHUB_OK);
    assert_int_equal(n, MANY);
    for (size_t i = 1; i < n; i++) {
        struct ch_entry_info x, y;
        ch_entry_info(ents[i - 1], &x);
        ch_entry_info(ents[i], &y);
        assert_true(strcmp(x.key, y.key) < 0);
    }
    ch_free(ents);

    /* Delete in two batches (odd keys first) so lookups run against a half-emptied table. */
    for (int pass = 0; pass < 2; pass++) {
        ch_model_batch_begin(m);
        for (int i = 1 - pass; i < MANY; i += 2) {
            snprintf(key, sizeof(key), "k%05d", i);
            assert_int_equal(ch_model_batch_delete(m, "big", "s", key, 2 + pass), CONFHUB_OK);
        }
        ch_model_batch_set_revision(m, 2 + pass);
        ch_model_batch_commit(m);
        st = ch_model_published(m);
        if (pass == 0) {
            assert_int_equal(ch_state_key_count(st), MANY / 2);
            for (int i = 0; i < MANY; i++) {
                snprintf(key, sizeof(key), "k%05d", i);
                if (i % 2)
                    assert_null(find(st, "big", "s", key));
                else
                    assert_non_null(find(st, "big", "s", key));
            }
        }
    }
    assert_int_equal(ch_state_key_count(st), 0);
    assert_int_equal(ch_state_ns_count(st), 0);
    assert_null(ch_state_find_ns(st, "big", 3));
    ch_model_reclaim(m);
    assert_false(ch_model_reclaim_pending(m));
}

/* ---- allocation torture -------------------------------------------------------------------- */

/* A batch that touches every write path: replace, create key/section/namespace, delete down to
 * an empty section and namespace, re-create, replace inside the batch, and grow a map. */
static enum confhub_status torture_batch(struct ch_model *m)
{
    enum confhub_status rc;
    char key[16];
#define TRY(x)                        \
    do {                              \
        if ((rc = (x)) != CONFHUB_OK) \
            return rc;                \
    } while (0)
    TRY(ch_model_batch_set(m, "app", "db", "port", "1", 1, 3, NULL));
    TRY(ch_model_batch_set(m, "app", "db", "port", "2", 1, 3, NULL));
    TRY(ch_model_batch_set(m, "app", "db", "user", "\"u\"", 3, 3, NULL));
    TRY(ch_model_batch_set(m, "app", "cache", "@", "[]", 2, 3, NULL));
    TRY(ch_model_batch_delete(m, "app", "flags", "@", 3));
    TRY(ch_model_batch_delete(m, "other", "s", "k", 3));
    TRY(ch_model_batch_set(m, "other", "s2", "k", "null", 4, 3, NULL));
    TRY(ch_model_batch_set(m, "new", "s", "k", "0", 1, 3, NULL));
    TRY(ch_model_batch_delete(m, "new", "s", "k", 3));
    TRY(ch_model_batch_set(m, "new", "s", "k", "1", 1, 3, NULL));
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "g%d", i);
        TRY(ch_model_batch_set(m, "app", "grow", key, "true", 4, 3, NULL));
    }
#undef TRY
    ch_model_batch_set_revision(m, 3);
    return CONFHUB_OK;
}

static void test_model_batch_alloc_torture(void **state)
{
    struct ch_model *m = *state;
    seed(m);
    /* A reader holds the seed state, so commit has to retire (not free) what it replaces. */
    const struct ch_state *held = ch_model_read_begin(m, 0);
    char *before = snapshot(ch_model_published(m));
    long n;

    for (n = 0;; n++) {
        ch_model_batch_begin(m);
        ch_alloc_fail_after(n);
        enum confhub_status rc = torture_batch(m);
        if (rc == CONFHUB_OK) {
            /* Hook off first: a commit short of memory would wait for our own reader. */
            ch_alloc_fail_after(-1);
            ch_model_batch_commit(m);
            break;
        }
        ch_alloc_fail_after(-1);
        assert_int_equal(rc, CONFHUB_ENOMEM);
        ch_model_batch_abort(m);
        char *after = snapshot(ch_model_published(m));
        assert_string_equal(before, after);
        free(after);
        assert_true(n < 100000);
    }
    assert_true(n > 0);
    char *done = snapshot(ch_model_published(m));
    assert_non_null(strstr(done, "app mod=3 keys=24 {\"cache\":[],\"db\":{\"host\":\"db1\","
                                 "\"port\":2,\"user\":\"u\"},\"grow\":{"));
    assert_non_null(strstr(done, "new mod=3 keys=1 {\"s\":{\"k\":1}}"));
    assert_non_null(strstr(done, "other mod=3 keys=1 {\"s2\":{\"k\":null}}"));
    free(done);
    assert_string_equal(ns_json(held, "other"), "{\"s\":{\"k\":true}}");
    ch_model_read_end(m, 0);
    ch_model_reclaim(m);
    assert_false(ch_model_reclaim_pending(m));
    free(before);
}

/* Commit itself may fail to grow its list of retired nodes; it then waits for the readers
 * (none here) and frees what the batch replaced at once, and must still publish. */
static void test_model_commit_without_memory_still_publishes(void **state)
{
    struct ch_model *m = *state;
    char key[16];

    ch_model_batch_begin(m);
    for (int i = 0; i < 600; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        set(m, "app", "s", key, "0", 1);
    }
    ch_model_batch_set_revision(m, 1);
    ch_model_batch_commit(m);
    ch_model_reclaim(m);
    assert_false(ch_model_reclaim_pending(m));

    /* 600 replaced entries: more than the retired list has room for without growing. */
    ch_model_batch_begin(m);
    for (int i = 0; i < 600; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        set(m, "app", "s", key, "1", 2);
    }
    ch_model_batch_set_revision(m, 2);
    ch_alloc_fail_after(0);
    ch_model_batch_commit(m);
    ch_alloc_fail_after(-1);
    assert_false(ch_model_reclaim_pending(m));

    const struct ch_state *st = ch_model_published(m);
    assert_int_equal(ch_state_revision(st), 2);
    assert_int_equal(ch_state_key_count(st), 600);
    struct ch_entry_info k = info_of(st, "app", "s", "k599");
    assert_string_equal(k.value, "1");
    assert_int_equal(k.version, 2);
}

/* Setting the revision of a batch that changed nothing yet copies the root, which can fail. */
static void test_model_set_revision_without_memory_is_enomem(void **state)
{
    struct ch_model *m = *state;
    seed(m);
    char *before = snapshot(ch_model_published(m));
    ch_model_batch_begin(m);
    ch_alloc_fail_after(0);
    assert_int_equal(ch_model_batch_set_revision(m, 9), CONFHUB_ENOMEM);
    ch_alloc_fail_after(-1);
    ch_model_batch_abort(m);
    char *after = snapshot(ch_model_published(m));
    assert_string_equal(before, after);
    ch_model_batch_begin(m);
    assert_int_equal(ch_model_batch_set_revision(m, 9), CONFHUB_OK);
    ch_model_batch_commit(m);
    assert_int_equal(ch_state_revision(ch_model_published(m)), 9);
    free(before);
    free(after);
}

static void test_model_new_rejects_bad_reader_counts(void **state)
{
    struct ch_model *m = NULL;
    struct ch_err err = {0};
    (void)state;
    assert_int_equal(ch_model_new(0, &m, &err), CONFHUB_EINVAL);
    assert_int_equal(ch_model_new(CH_MODEL_MAX_READERS + 1, &m, &err), CONFHUB_EINVAL);
    assert_null(m);
    ch_alloc_fail_after(0);
    assert_int_equal(ch_model_new(1, &m, &err), CONFHUB_ENOMEM);
    ch_alloc_fail_after(1);
    assert_int_equal(ch_model_new(1, &m, &err), CONFHUB_ENOMEM);
    ch_alloc_fail_after(-1);
    assert_null(m);
    ch_model_free(NULL);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_model_batch_set_commit_read),
        T(test_model_lookups_of_absent_names_return_null),
        T(test_model_tracks_versions_and_revisions_across_writes),
        T(test_model_delete_removes_empty_sections_and_namespaces),
        T(test_model_abort_leaves_published_state_unchanged),
        T(test_model_many_writes_to_one_key_in_one_batch),
        T(test_model_json_is_sorted_by_bytes_and_escapes_names),
        T(test_model_scalar_sections_hold_one_at_entry),
        T(test_model_json_of_batch_state_follows_later_changes),
        T(test_model_batch_load_keeps_given_revisions),
        T(test_model_reader_keeps_old_state_alive_across_commit),
        T(test_model_concurrent_readers_see_whole_batches),
        T(test_model_section_grows_past_many_keys_and_shrinks_to_nothing),
        T(test_model_batch_alloc_torture),
        T(test_model_commit_without_memory_still_publishes),
        T(test_model_set_revision_without_memory_is_enomem),
        cmocka_unit_test(test_model_new_rejects_bad_reader_counts),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
