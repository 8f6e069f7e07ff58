/* SPDX-License-Identifier: MIT */
/* test_cli_sse.c: the CLI's text/event-stream parser (src/cli/sse.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cli/sse.h"
#include "common/buf.h"

/* What the callback saw, one "[type|id] data" or "(comment)" entry per call. */
struct seen {
    struct ch_buf log;
    int stop_after; /* stop (CONFHUB_EINVAL) at this call; 0: never */
    int calls;
};

static enum confhub_status on_event(void *userdata, const struct ch_cli_sse_event *ev,
                                    struct ch_err *err)
{
    struct seen *s = userdata;

    s->calls++;
    if (ev->comment) {
        ch_buf_adds(&s->log, "(");
        ch_buf_add(&s->log, ev->data, ev->data_len);
        ch_buf_adds(&s->log, ")");
    } else {
        ch_buf_adds(&s->log, "[");
        ch_buf_adds(&s->log, ev->type);
        ch_buf_adds(&s->log, "|");
        ch_buf_adds(&s->log, ev->id);
        ch_buf_adds(&s->log, "] ");
        ch_buf_add(&s->log, ev->data, ev->data_len);
        assert_int_equal(strlen(ev->data), ev->data_len);
    }
    ch_buf_adds(&s->log, ";");
    if (s->stop_after && s->calls == s->stop_after)
        return ch_err_set(err, CONFHUB_EINVAL, "stop");
    return CONFHUB_OK;
}

/* Feeds text in pieces of step bytes (0: all at once) and compares the log with want. */
static void check(const char *text, size_t step, const char *want)
{
    struct ch_cli_sse p;
    struct seen s = {0};
    struct ch_err err;
    size_t len = strlen(text), i;

    ch_err_clear(&err);
    ch_cli_sse_init(&p, 1024, on_event, &s);
    if (step == 0)
        step = len ? len : 1;
    for (i = 0; i < len; i += step) {
        size_t n = len - i < step ? len - i : step;
        assert_int_equal(ch_cli_sse_feed(&p, text + i, n, &err), CONFHUB_OK);
    }
    ch_buf_adds(&s.log, "");
    assert_string_equal(s.log.ptr ? s.log.ptr : "", want);
    ch_cli_sse_free(&p);
    ch_buf_free(&s.log);
}

/* The same stream in one piece, a byte at a time, and in threes. */
static void check_all_splits(const char *text, const char *want)
{
    check(text, 0, want);
    check(text, 1, want);
    check(text, 3, want);
}

static void test_cli_sse_events_and_fields(void **state)
{
    (void)state;
    check_all_splits("retry: 1000\n: watching from revision 6\n\n"
                     "id: 7\nevent: change\ndata: {\"revision\":7}\n\n"
                     ": heartbeat\nid: 7\nevent: progress\ndata: {\"progress\":true}\n\n",
                     "(watching from revision 6);[change|7] {\"revision\":7};(heartbeat);"
                     "[progress|7] {\"progress\":true};");
}

static void test_cli_sse_line_ends(void **state)
{
    (void)state;
    check_all_splits("data: a\r\ndata: b\r\n\r\n", "[message|] a\nb;");
    check_all_splits("data: a\rdata: b\r\r", "[message|] a\nb;");
    check_all_splits("data: a\ndata:b\n\n", "[message|] a\nb;");
    check_all_splits("data\n\n", "[message|] ;"); /* a data line without a colon: empty data */
    check_all_splits("data:  two spaces\n\n", "[message|]  two spaces;");
}

static void test_cli_sse_id_persists_and_empty_events(void **state)
{
    (void)state;
    /* An event with no data is not dispatched, but its id is kept for the next. */
    check_all_splits("id: 5\nevent: x\n\ndata: d\n\n", "[message|5] d;");
    check_all_splits("id: 5\ndata: a\n\ndata: b\n\nid\ndata: c\n\n",
                     "[message|5] a;[message|5] b;[message|] c;");
    /* An unknown field and a bad retry are ignored; an event cut off is not dispatched. */
    check_all_splits("foo: bar\nretry: 1x\ndata: a\n\ndata: cut", "[message|] a;");
}

static void test_cli_sse_bom(void **state)
{
    (void)state;
    check_all_splits("\xEF\xBB\xBF"
                     "data: a\n\n",
                     "[message|] a;");
    /* Only one BOM is skipped, and only at the start; a partial one is content. */
    check_all_splits("\xEF\xBB"
                     "x: y\ndata: a\n\n",
                     "[message|] a;");
}

static void test_cli_sse_retry(void **state)
{
    struct ch_cli_sse p;
    struct seen s = {0};
    struct ch_err err;

    (void)state;
    ch_err_clear(&err);
    ch_cli_sse_init(&p, 1024, on_event, &s);
    assert_int_equal(p.retry_ms, -1);
    assert_int_equal(ch_cli_sse_feed(&p, "retry: 2500\n", 12, &err), CONFHUB_OK);
    assert_int_equal(p.retry_ms, 2500);
    ch_cli_sse_free(&p);
    ch_buf_free(&s.log);
}

static void test_cli_sse_ceiling(void **state)
{
    struct ch_cli_sse p;
    struct seen s = {0};
    struct ch_err err;
    char line[64];

    (void)state;
    ch_err_clear(&err);
    /* A line longer than the ceiling, even without its end. */
    ch_cli_sse_init(&p, 16, on_event, &s);
    memset(line, 'a', sizeof(line));
    assert_int_equal(ch_cli_sse_feed(&p, "data: ", 6, &err), CONFHUB_OK);
    assert_int_equal(ch_cli_sse_feed(&p, line, sizeof(line), &err), CONFHUB_ETOOBIG);
    ch_cli_sse_free(&p);
    /* Short data lines that add up to more than the ceiling: each costs its text and a \n. */
    ch_cli_sse_init(&p, 16, on_event, &s);
    for (int i = 0; i < 2; i++)
        assert_int_equal(ch_cli_sse_feed(&p, "data: 12345\n", 12, &err), CONFHUB_OK);
    assert_int_equal(ch_cli_sse_feed(&p, "data: 12345\n", 12, &err), CONFHUB_ETOOBIG);
    assert_int_equal(s.calls, 0);
    ch_cli_sse_free(&p);
    ch_buf_free(&s.log);
}

static void test_cli_sse_callback_stops(void **state)
{
    struct ch_cli_sse p;
    struct seen s = {.stop_after = 1};
    struct ch_err err;
    const char *text = "data: a\n\ndata: b\n\n";

    (void)state;
    ch_err_clear(&err);
    ch_cli_sse_init(&p, 1024, on_event, &s);
    assert_int_equal(ch_cli_sse_feed(&p, text, strlen(text), &err), CONFHUB_EINVAL);
    assert_string_equal(err.msg, "stop");
    assert_int_equal(s.calls, 1);
    ch_cli_sse_free(&p);
    ch_buf_free(&s.log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_sse_events_and_fields),
        cmocka_unit_test(test_cli_sse_line_ends),
        cmocka_unit_test(test_cli_sse_id_persists_and_empty_events),
        cmocka_unit_test(test_cli_sse_bom),
        cmocka_unit_test(test_cli_sse_retry),
        cmocka_unit_test(test_cli_sse_ceiling),
        cmocka_unit_test(test_cli_sse_callback_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
