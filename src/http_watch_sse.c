/* SPDX-License-Identifier: MIT */
/*
 * http_watch_sse.c: the Server-Sent Events and long-poll transports of the change feed
 * (GET /v1/watch with Accept: text/event-stream, or with wait=). Shapes in docs/watch.md;
 * the engine is http_watch.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <h2o.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/json_util.h"
#include "common/log.h"
#include "common/names.h"
#include "common/num.h"
#include "common/timeutil.h"
#include "http_watch_int.h"

/* ---------------------------------------------------------------- SSE */

void sse_free_queue(struct sse_stream *s)
{
    while (s->q_n) {
        ch_watch_frame_free(s->q[s->q_head]);
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_n--;
    }
}

static void sse_on_pump(h2o_timeout_entry_t *entry)
{
    sse_pump(H2O_STRUCT_FROM_MEMBER(struct sse_stream, pump_entry, entry));
}

/*
 * Sends after the loop's current work: a batch is queued to every watcher of the loop first,
 * and the writes follow, so whatever else the loop had to do (a writer's answer, say) is not
 * held behind thousands of socket writes.
 */
static void sse_pump_soon(struct sse_stream *s)
{
    if (!h2o_timeout_is_linked(&s->pump_entry))
        h2o_timeout_link(s->w.wl->loop->loop, &s->w.wl->loop->ctx.zero_timeout, &s->pump_entry);
}

void sse_deliver(struct sse_stream *s, struct ch_watch_batch *b)
{
    struct ch_watch_frame *f = NULL;
    char head[CH_WATCH_HEAD_MAX];
    int n = snprintf(head, sizeof(head),
                     "id: %" PRId64 "\nevent: change\ndata: {\"revision\":%" PRId64 ",\"events\":[",
                     b->revision, b->revision);
    enum confhub_status rc = ch_watch_frame_new(b, &s->w.filter, head, (size_t)n, "]}\n\n", 4, &f);
    if (rc == CONFHUB_OK && !f)
        return;
    if (rc == CONFHUB_OK && s->q_n == s->q_cap && s->q_cap < s->q_max) {
        /* Grow the ring (an idle stream keeps a small one), unwrapping it. */
        size_t cap = s->q_cap ? 2 * s->q_cap : SSE_Q_MIN;
        struct ch_watch_frame **q = ch_malloc((cap < s->q_max ? cap : s->q_max) * sizeof(*q));
        if (q) {
            for (size_t i = 0; i < s->q_n; i++)
                q[i] = s->q[(s->q_head + i) % s->q_cap];
            ch_free(s->q);
            s->q = q;
            s->q_cap = cap < s->q_max ? cap : s->q_max;
            s->q_head = 0;
        } else {
            rc = CONFHUB_ENOMEM;
        }
    }
    if (rc != CONFHUB_OK || s->q_n == s->q_cap) {
        ch_watch_frame_free(f);
        sse_free_queue(s);
        s->overflow = true;
        watcher_unlink(&s->w);
        ch_log(CH_LOG_WARN, "watch", "closing an SSE stream: slow consumer (limit watch-queue)");
    } else {
        s->q[(s->q_head + s->q_n) % s->q_cap] = f;
        s->q_n++;
        s->w.busy = true;
    }
    sse_pump_soon(s);
}

/* Sends the len bytes in s->buf (owned until sse_proceed or the end). */
static void sse_send(struct sse_stream *s, size_t len, h2o_send_state_t state)
{
    h2o_iovec_t iov = h2o_iovec_init(s->buf, len);
    s->sending = state == H2O_SEND_STATE_IN_PROGRESS;
    if (state != H2O_SEND_STATE_IN_PROGRESS) {
        s->ended = true;
        watcher_unlink(&s->w);
    }
    h2o_send(s->req, &iov, len ? 1 : 0, state);
}

/* Sends a copy of text; out of memory ends the stream. */
static void sse_send_text(struct sse_stream *s, const char *text, size_t len,
                          h2o_send_state_t state)
{
    s->buf = ch_malloc(len ? len : 1);
    if (!s->buf) {
        sse_send(s, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    memcpy(s->buf, text, len);
    sse_send(s, len, state);
}

/*
 * Sends what is queued, or the end. The buffer is allocated for each send, as large as the
 * queued frames (at most SSE_BUF_BYTES), and freed when h2o is done with it: an idle stream
 * holds no buffer.
 */
void sse_pump(struct sse_stream *s)
{
    size_t len = 0, need = 0;
    if (s->sending || s->ended)
        return;
    for (size_t i = 0; i < s->q_n && need < SSE_BUF_BYTES; i++)
        need += ch_watch_frame_size(s->q[(s->q_head + i) % s->q_cap]);
    if (need > SSE_BUF_BYTES)
        need = SSE_BUF_BYTES;
    if (need && !(s->buf = ch_malloc(need))) {
        sse_free_queue(s);
        s->overflow = true;
        watcher_unlink(&s->w);
    }
    while (s->buf && s->q_n && len < need) {
        bool eof = false;
        len += ch_watch_frame_read(s->q[s->q_head], s->buf + len, need - len, &eof);
        if (eof) {
            ch_watch_frame_free(s->q[s->q_head]);
            s->q_head = (s->q_head + 1) % s->q_cap;
            s->q_n--;
        }
    }
    if (len) {
        sse_send(s, len, H2O_SEND_STATE_IN_PROGRESS);
    } else if (s->overflow && s->last_event) {
        sse_send_text(s, s->last_event, strlen(s->last_event), H2O_SEND_STATE_FINAL);
    } else if (s->overflow) {
        char text[320];
        int n = snprintf(text, sizeof(text),
                         "event: error\ndata: {\"error\":{\"code\":\"too_large\",\"message\":"
                         "\"slow consumer: more than %zu events waiting (limit "
                         "watch-queue); resume from the last id you received\"}}\n\n",
                         s->q_max);
        sse_send_text(s, text, (size_t)n, H2O_SEND_STATE_FINAL);
    } else if (s->end_now) {
        sse_send(s, 0, H2O_SEND_STATE_FINAL);
    }
}

static void sse_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
    (void)req;
    struct sse_stream *s = H2O_STRUCT_FROM_MEMBER(struct sse_stream, gen, gen);
    s->sending = false;
    ch_free(s->buf); /* h2o is done with it */
    s->buf = NULL;
    sse_pump(s);
    if (s->w.want_page && watcher_has_room(&s->w))
        watcher_next_page(&s->w);
}

static void sse_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    (void)req;
    struct sse_stream *s = H2O_STRUCT_FROM_MEMBER(struct sse_stream, gen, gen);
    s->ended = true;
    watcher_unlink(&s->w);
}

/* Pool dispose: the request is gone. */
void sse_dispose(void *p)
{
    struct sse_stream *s = p;
    watcher_release(&s->w);
    if (h2o_timeout_is_linked(&s->pump_entry))
        h2o_timeout_unlink(&s->pump_entry);
    ch_free(s->last_event);
    if (h2o_linklist_is_linked(&s->stream_link))
        h2o_linklist_unlink(&s->stream_link);
    sse_free_queue(s);
    ch_free(s->q);
    ch_free(s->buf);
    ch_watch_filter_clear(&s->w.filter);
}

void sse_progress(struct sse_stream *s)
{
    char text[160];
    int n;
    if (s->sending || s->ended || s->q_n)
        return;
    n = snprintf(text, sizeof(text),
                 ": heartbeat\nid: %" PRId64 "\nevent: progress\ndata: {\"revision\":%" PRId64
                 ",\"progress\":true}\n\n",
                 s->w.rev, s->w.rev);
    sse_send_text(s, text, (size_t)n, H2O_SEND_STATE_IN_PROGRESS);
}

/* ---------------------------------------------------------------- long-poll */

void poll_answer(struct poll_req *p)
{
    struct ch_buf body = {0};
    char head[64];
    if (p->answered)
        return;
    p->answered = true;
    watcher_unlink(&p->w);
    if (h2o_timeout_is_linked(&p->answer_entry))
        h2o_timeout_unlink(&p->answer_entry);
    if (p->fail != CONFHUB_OK) {
        ch_http_send_error(p->w.wl->loop, p->req, NULL, p->fail, &p->fail_err, p->start_us);
        return;
    }
    snprintf(head, sizeof(head), "{\"revision\":%" PRId64 ",\"events\":[", p->w.rev);
    ch_buf_adds(&body, head);
    ch_buf_add(&body, p->events.ptr ? p->events.ptr : "", p->events.len);
    ch_buf_adds(&body, "]}");
    if (body.failed || p->events.failed) {
        struct ch_err err;
        ch_err_clear(&err);
        ch_err_set(&err, CONFHUB_ENOMEM, "cannot build the answer: out of memory");
        ch_http_send_error(p->w.wl->loop, p->req, NULL, CONFHUB_ENOMEM, &err, p->start_us);
    } else {
        char *copy = h2o_mem_alloc_pool(&p->req->pool, body.len);
        memcpy(copy, body.ptr, body.len);
        ch_http_send_at(p->w.wl->loop, p->req, 200, "application/json", copy, body.len, -1, -1,
                        p->start_us);
    }
    ch_buf_free(&body);
}

static void poll_on_answer(h2o_timeout_entry_t *entry)
{
    poll_answer(H2O_STRUCT_FROM_MEMBER(struct poll_req, answer_entry, entry));
}

/* Every 100 ms while long-polls wait: answers those whose wait= ran out (through the zero
 * timeout, so nothing is freed while the list is walked). */
void on_poll_tick(h2o_timeout_entry_t *entry)
{
    struct watch_loop *wl = H2O_STRUCT_FROM_MEMBER(struct watch_loop, poll_tick, entry);
    uint64_t now = h2o_now(wl->loop->loop);
    bool waiting = false;
    for (h2o_linklist_t *l = wl->polls.next; l != &wl->polls; l = l->next) {
        struct poll_req *p = H2O_STRUCT_FROM_MEMBER(struct poll_req, stream_link, l);
        if (p->answered || !p->deadline)
            continue;
        if (now >= p->deadline)
            poll_answer_soon(p);
        else
            waiting = true;
    }
    if (waiting)
        h2o_timeout_link(wl->loop->loop, &wl->loop->ctx.hundred_ms_timeout, &wl->poll_tick);
}

void poll_answer_soon(struct poll_req *p)
{
    if (!p->answered && !h2o_timeout_is_linked(&p->answer_entry))
        h2o_timeout_link(p->w.wl->loop->loop, &p->w.wl->loop->ctx.zero_timeout, &p->answer_entry);
}

void poll_deliver(struct poll_req *p, struct ch_watch_batch *b)
{
    struct ch_watch_frame *f = NULL;
    char chunk[4096];
    bool eof = false;
    if (ch_watch_frame_new(b, &p->w.filter, "", 0, "", 0, &f) != CONFHUB_OK) {
        p->events.failed = true;
    } else if (f) {
        if (p->n_frames++)
            ch_buf_addc(&p->events, ',');
        while (!eof) {
            size_t n = ch_watch_frame_read(f, chunk, sizeof(chunk), &eof);
            ch_buf_add(&p->events, chunk, n);
        }
        ch_watch_frame_free(f);
    } else {
        return;
    }
    /* Enough for one answer: stop here, at a revision boundary, and answer. */
    if (p->n_frames >= watch_limits(p->w.wl)->watch_queue || p->events.failed)
        watcher_unlink(&p->w);
    poll_answer_soon(p);
}

void poll_dispose(void *ptr)
{
    struct poll_req *p = ptr;
    watcher_release(&p->w);
    if (h2o_linklist_is_linked(&p->stream_link))
        h2o_linklist_unlink(&p->stream_link);
    if (h2o_timeout_is_linked(&p->answer_entry))
        h2o_timeout_unlink(&p->answer_entry);
    ch_buf_free(&p->events);
    ch_watch_filter_clear(&p->w.filter);
}

/* ---------------------------------------------------------------- starting a stream */

enum confhub_status start_sse(struct ch_req *req, struct sse_stream *s, int64_t start,
                              struct ch_resp *resp, struct ch_err *err)
{
    struct watch_loop *wl = req->loop->watch;
    int64_t oldest = 0;
    enum confhub_status rc;
    char rev[24];

    s->q_max = watch_limits(wl)->watch_queue; /* the ring starts empty and grows up to it */
    s->pump_entry.cb = sse_on_pump;
    rc = watcher_begin(&s->w, start, err, &oldest);
    if (rc != CONFHUB_OK) {
        if (rc == CONFHUB_ECOMPACTED)
            err->oldest_rev = oldest;
        return rc;
    }
    h2o_linklist_insert(&wl->sse_streams, &s->stream_link);
    s->gen.proceed = sse_proceed;
    s->gen.stop = sse_stop;
    s->req->res.status = 200;
    s->req->res.reason = "OK";
    h2o_add_header(&s->req->pool, &s->req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/event-stream"));
    h2o_add_header(&s->req->pool, &s->req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-cache"));
    snprintf(rev, sizeof(rev), "%" PRId64, ch_model_revision(wl->loop->server->model));
    h2o_add_header_by_str(&s->req->pool, &s->req->res.headers, H2O_STRLIT("x-confhub-revision"), 0,
                          "X-Confhub-Revision", h2o_strdup(&s->req->pool, rev, SIZE_MAX).base,
                          strlen(rev));
    h2o_start_response(s->req, &s->gen);
    /* The first bytes: a comment naming the start, so clients see the stream is open. Then
     * the catch-up, which waits for h2o to take these bytes. */
    char first[80];
    int n = snprintf(first, sizeof(first), "retry: 1000\n: watching from revision %" PRId64 "\n\n",
                     s->w.rev);
    sse_send_text(s, first, (size_t)n, H2O_SEND_STATE_IN_PROGRESS);
    watcher_link(&s->w);
    resp->pending = true;
    return CONFHUB_OK;
}

enum confhub_status start_poll(struct ch_req *req, struct poll_req *p, int64_t start,
                               int64_t wait_ms, struct ch_resp *resp, struct ch_err *err)
{
    struct watch_loop *wl = req->loop->watch;
    int64_t oldest = 0;
    enum confhub_status rc;

    p->start_us = req->start_us;
    p->answer_entry.cb = poll_on_answer;
    rc = watcher_begin(&p->w, start, err, &oldest);
    if (rc != CONFHUB_OK) {
        if (rc == CONFHUB_ECOMPACTED)
            err->oldest_rev = oldest;
        return rc;
    }
    h2o_linklist_insert(&wl->polls, &p->stream_link);
    watcher_link(&p->w);
    p->no_wait = wait_ms <= 0 || wl->stopping;
    /* Without wait=, one that is reading history is answered when that read ends. */
    if (p->n_frames == 0 && !p->no_wait) {
        p->deadline = h2o_now(wl->loop->loop) + (uint64_t)wait_ms;
        if (!h2o_timeout_is_linked(&wl->poll_tick))
            h2o_timeout_link(wl->loop->loop, &wl->loop->ctx.hundred_ms_timeout, &wl->poll_tick);
    } else if (!p->w.catching_up) {
        poll_answer_soon(p);
    }
    resp->pending = true;
    return CONFHUB_OK;
}
