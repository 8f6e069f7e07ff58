/* SPDX-License-Identifier: MIT */
/*
 * test_watch.c: the watch engine's pieces without a server: batches, filters, frames read in
 * pieces, and the ring of recent batches.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/alloc.h"
#include "watch.h"

static struct ch_watch_batch *make_batch(int64_t rev)
{
    static const struct ch_store_event events[] = {
        {.op = CH_STORE_SET, .ns = "app", .section = "db", .key = "host", .new_value = "\"h\""},
        {.op = CH_STORE_SET,
         .ns = "app",
         .section = "db2",
         .key = "port",
         .old_value = "1",
         .new_value = "null"},
        {.op = CH_STORE_DELETE, .ns = "app", .section = "cache", .key = "ttl", .old_value = "30"},
    };
    struct ch_store_revision r = {.revision = rev,
                                  .ts_ms = 1795420800000,
                                  .actor = "alice",
                                  .remote = "127.0.0.1:1",
                                  .events = events,
                                  .n_events = 3};
    struct ch_watch_batch *b = ch_watch_batch_new(&r);
    assert_non_null(b);
    return b;
}

/* Reads a whole frame in pieces of at most step bytes. */
static void read_all(struct ch_watch_frame *f, size_t step, char *out, size_t cap)
{
    size_t len = 0;
    bool eof = false;
    while (!eof) {
        size_t n = ch_watch_frame_read(f, out + len, step < cap - len ? step : cap - len, &eof);
        assert_true(n > 0 || eof);
        len += n;
        assert_true(len < cap);
    }
    out[len] = '\0';
    assert_int_equal(len, ch_watch_frame_size(f));
}

static void test_batch_events_are_history_events(void **state)
{
    struct ch_watch_batch *b = make_batch(7);
    char text[1024];
    json_t *arr;
    (void)state;
    assert_int_equal(b->revision, 7);
    assert_int_equal(b->n_events, 3);
    snprintf(text, sizeof(text), "[%.*s]", (int)b->text_len, b->text);
    arr = json_loads(text, 0, NULL);
    assert_non_null(arr);
    assert_int_equal(json_array_size(arr), 3);
    json_t *created = json_array_get(arr, 0), *nulled = json_array_get(arr, 1),
           *deleted = json_array_get(arr, 2);
    assert_string_equal(json_string_value(json_object_get(created, "actor")), "alice");
    assert_string_equal(json_string_value(json_object_get(created, "remote")), "127.0.0.1:1");
    assert_string_equal(json_string_value(json_object_get(created, "timestamp")),
                        "2026-11-23T08:00:00.000Z");
    assert_null(json_object_get(created, "old_value"));
    assert_true(json_is_null(json_object_get(nulled, "new_value")));
    assert_null(json_object_get(deleted, "new_value"));
    assert_string_equal(json_string_value(json_object_get(deleted, "op")), "delete");
    json_decref(arr);
    ch_watch_batch_unref(b);
}

static void test_filters(void **state)
{
    struct ch_watch_batch *b = make_batch(1);
    struct ch_watch_filter all = {.ns = "app"}, other = {.ns = "other"},
                           db = {.ns = "app", .section = "db"},
                           key = {.ns = "app", .section = "db2", .key = "port"},
                           prefix = {.ns = "app", .prefix = "db"};
    (void)state;
    for (size_t i = 0; i < 3; i++) {
        assert_true(ch_watch_filter_match(&all, &b->events[i]));
        assert_false(ch_watch_filter_match(&other, &b->events[i]));
    }
    assert_true(ch_watch_filter_match(&db, &b->events[0]));
    assert_false(ch_watch_filter_match(&db, &b->events[1])); /* db2 is not db */
    assert_false(ch_watch_filter_match(&key, &b->events[0]));
    assert_true(ch_watch_filter_match(&key, &b->events[1]));
    assert_true(ch_watch_filter_match(&prefix, &b->events[0]));
    assert_true(ch_watch_filter_match(&prefix, &b->events[1]));
    assert_false(ch_watch_filter_match(&prefix, &b->events[2]));
    ch_watch_batch_unref(b);
}

static void test_frames_read_in_any_pieces(void **state)
{
    struct ch_watch_batch *b = make_batch(3);
    struct ch_watch_filter prefix = {.ns = "app", .prefix = "db"},
                           none = {.ns = "app", .key = "x", .section = "zzz"};
    struct ch_watch_frame *f = NULL;
    char whole[2048], pieces[2048];
    (void)state;
    assert_int_equal(ch_watch_frame_new(b, &none, "{\"e\":[", 6, "]}", 2, &f), CONFHUB_OK);
    assert_null(f); /* nothing matches: no frame */
    for (size_t step = 1; step <= 64; step++) {
        assert_int_equal(ch_watch_frame_new(b, &prefix, "{\"e\":[", 6, "]}", 2, &f), CONFHUB_OK);
        assert_non_null(f);
        read_all(f, step, pieces, sizeof(pieces));
        ch_watch_frame_free(f);
        if (step == 1)
            memcpy(whole, pieces, sizeof(whole));
        assert_string_equal(pieces, whole);
    }
    json_t *v = json_loads(whole, 0, NULL);
    assert_non_null(v);
    assert_int_equal(json_array_size(json_object_get(v, "e")), 2); /* db and db2, not cache */
    json_decref(v);
    ch_watch_batch_unref(b);
}

static void test_recent_ring_evicts_oldest(void **state)
{
    struct ch_watch_recent r;
    (void)state;
    assert_true(ch_watch_recent_init(&r, 3, 1 << 20));
    assert_int_equal(ch_watch_recent_oldest(&r), 0);
    for (int64_t rev = 1; rev <= 5; rev++) {
        struct ch_watch_batch *b = make_batch(rev);
        ch_watch_recent_push(&r, b);
        ch_watch_batch_unref(b); /* the ring keeps its own reference */
    }
    assert_int_equal(ch_watch_recent_oldest(&r), 3);
    assert_null(ch_watch_recent_get(&r, 2));
    assert_int_equal(ch_watch_recent_get(&r, 4)->revision, 4);
    assert_int_equal(ch_watch_recent_get(&r, 5)->revision, 5);
    assert_null(ch_watch_recent_get(&r, 6));
    ch_watch_recent_free(&r);
}

static void test_batch_alloc_torture(void **state)
{
    struct ch_watch_batch *b = NULL;
    long n;
    (void)state;
    for (n = 0; !b; n++) {
        static const struct ch_store_event ev = {
            .op = CH_STORE_SET, .ns = "a", .section = "b", .key = "c", .new_value = "1"};
        struct ch_store_revision r = {
            .revision = 1, .actor = "x", .remote = "", .events = &ev, .n_events = 1};
        ch_alloc_fail_after(n);
        b = ch_watch_batch_new(&r);
        ch_alloc_fail_after(-1);
    }
    assert_true(n > 1);
    ch_watch_batch_unref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_events_are_history_events),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_frames_read_in_any_pieces),
        cmocka_unit_test(test_recent_ring_evicts_oldest),
        cmocka_unit_test(test_batch_alloc_torture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
