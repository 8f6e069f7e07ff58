/* SPDX-License-Identifier: MIT */
/*
 * http_watch_sse.c: the Server-Sent Events and long-poll transports of the change feed
 * (GET /v1/watch with Accept: text/event-stream, or with wait=). Shapes in docs/watch.md;
 * the engine is http_watch.c.
 *
 * An SSE stream is a response that never ends, and h2o keeps a request's state (its 8 KiB
 * input buffer and 4 KiB pool) for as long as its response runs. So a stream takes its socket
 * from h2o (feed_sock, http_watch_sock.c) once the head is written, and writes the body itself:
 * chunked as h2o would for HTTP/1.1 (each write is one chunk), raw for HTTP/1.0, and closes
 * the connection after the end. A long-poll answers once and stays an ordinary h2o response.
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

#define SSE_CHUNK_HEAD_MAX 10 /* a chunk-size line: "ffffffff\r\n" */
#define SSE_CHUNK_TAIL     2  /* the CRLF after a chunk's data */

/* ---------------------------------------------------------------- SSE */

static struct sse_stream *stream_of(struct feed_sock *fs)
{
    return H2O_STRUCT_FROM_MEMBER(struct sse_stream, fs, fs);
}

static void sse_free_queue(struct sse_stream *s)
{
    while (s->q_n) {
        ch_watch_frame_free(s->q[s->q_head]);
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_n--;
    }
    s->q_head_sent = 0;
}

/* Writes the chunk-size line of a chunk of len bytes at dst (nothing for HTTP/1.0). */
static size_t chunk_head(const struct sse_stream *s, char *dst, size_t len)
{
    char line[SSE_CHUNK_HEAD_MAX + 1];
    int n = s->chunked ? snprintf(line, sizeof(line), "%zx\r\n", len) : 0;
    memcpy(dst, line, (size_t)n);
    return (size_t)n;
}

static size_t chunk_tail(const struct sse_stream *s, char *dst)
{
    if (!s->chunked)
        return 0;
    memcpy(dst, "\r\n", SSE_CHUNK_TAIL);
    return SSE_CHUNK_TAIL;
}

/*
 * Sets the note: text of our own written before the queued frames, as one chunk (the opening
 * comment, a heartbeat, the last event); last adds the end of the body. It is set only while
 * no frame is queued, so it never overtakes one. Out of memory ends the stream.
 */
static void sse_set_note(struct sse_stream *s, const char *text, size_t len, bool last)
{
    char *p = ch_malloc(len + SSE_CHUNK_HEAD_MAX + SSE_CHUNK_TAIL + 5);
    size_t n = 0;
    if (!p) {
        ch_log(CH_LOG_WARN, "watch", "ending an SSE stream: out of memory");
        feed_sock_close(&s->fs);
        return;
    }
    if (len) {
        n += chunk_head(s, p, len);
        memcpy(p + n, text, len);
        n += len;
        n += chunk_tail(s, p + n);
    }
    if (last && s->chunked) {
        memcpy(p + n, "0\r\n\r\n", 5); /* the last chunk: the body is complete */
        n += 5;
    }
    if (!n) {
        ch_free(p); /* nothing to write: the end of a raw (HTTP/1.0) body is the close */
        return;
    }
    ch_free(s->note);
    s->note = p;
    s->note_len = n;
    s->note_sent = 0;
    feed_sock_pump_soon(&s->fs);
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
        ch_log(CH_LOG_WARN, "watch", "closing an SSE stream: slow consumer (limit watch-queue)");
        sse_fail(s, NULL);
        return;
    }
    s->q[(s->q_head + s->q_n) % s->q_cap] = f;
    s->q_n++;
    s->w.busy = true;
    feed_sock_pump_soon(&s->fs);
}

void sse_fail(struct sse_stream *s, const char *error_json)
{
    watcher_unlink(&s->w);
    sse_free_queue(s);
    ch_free(s->last_event);
    s->last_event = error_json ? ch_strdup(error_json) : NULL;
    s->ending = s->failed = true;
    feed_sock_pump_soon(&s->fs);
}

void sse_finish(struct sse_stream *s)
{
    watcher_unlink(&s->w);
    s->ending = true;
    feed_sock_pump_soon(&s->fs);
}

/* The end of the body, once everything queued has gone: the error event of a failed stream,
 * then the last chunk. */
static void sse_set_last_note(struct sse_stream *s)
{
    struct ch_buf text = {0};
    char slow[200];
    if (s->failed) {
        snprintf(slow, sizeof(slow),
                 "{\"error\":{\"code\":\"too_large\",\"message\":\"slow consumer: more than %zu "
                 "events waiting (limit watch-queue); resume from the last id you received\"}}",
                 s->q_max);
        ch_buf_adds(&text, "event: error\ndata: ");
        ch_buf_adds(&text, s->last_event ? s->last_event : slow);
        ch_buf_adds(&text, "\n\n");
    }
    s->last_queued = true;
    /* Out of memory drops the error event; the end of the body still goes. */
    sse_set_note(s, text.ptr, text.failed ? 0 : text.len, true);
    ch_buf_free(&text);
}

/* The bytes of the queued frames not yet written, counted up to cap. */
static size_t sse_frame_bytes(const struct sse_stream *s, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < s->q_n && n < cap; i++)
        n += ch_watch_frame_size(s->q[(s->q_head + i) % s->q_cap]) - (i ? 0 : s->q_head_sent);
    return n < cap ? n : cap;
}

static size_t sse_prepare(struct feed_sock *fs)
{
    struct sse_stream *s = stream_of(fs);
    size_t need, frames;
    if (s->ending && !s->note && !s->q_n) {
        if (!s->last_queued)
            sse_set_last_note(s);
        if (!s->note) {
            feed_sock_close(fs); /* all written: the connection ends */
            return 0;
        }
    }
    need = s->note ? s->note_len - s->note_sent : 0;
    frames = sse_frame_bytes(s, FEED_WRITE_MAX);
    if (frames)
        need += SSE_CHUNK_HEAD_MAX + frames + SSE_CHUNK_TAIL;
    return need < FEED_WRITE_MAX ? need : FEED_WRITE_MAX;
}

/* Copies exactly len bytes of the queued frames to dst (there are at least that many). */
static void sse_copy_frames(struct sse_stream *s, char *dst, size_t len)
{
    size_t done = 0;
    while (done < len && s->q_n) {
        bool eof = false;
        size_t n = ch_watch_frame_read(s->q[s->q_head], dst + done, len - done, &eof);
        done += n;
        s->q_head_sent += n;
        if (eof) {
            ch_watch_frame_free(s->q[s->q_head]);
            s->q_head = (s->q_head + 1) % s->q_cap;
            s->q_n--;
            s->q_head_sent = 0;
        }
    }
}

/* The note first, then the queued frames as one chunk. */
static size_t sse_fill(struct feed_sock *fs, char *dst, size_t room)
{
    struct sse_stream *s = stream_of(fs);
    size_t len = 0, data;
    if (s->note) {
        len = s->note_len - s->note_sent < room ? s->note_len - s->note_sent : room;
        memcpy(dst, s->note + s->note_sent, len);
        s->note_sent += len;
        if (s->note_sent < s->note_len)
            return len;
        ch_free(s->note);
        s->note = NULL;
    }
    if (room - len <= SSE_CHUNK_HEAD_MAX + SSE_CHUNK_TAIL)
        return len;
    data = sse_frame_bytes(s, room - len - SSE_CHUNK_HEAD_MAX - SSE_CHUNK_TAIL);
    if (data) {
        len += chunk_head(s, dst + len, data);
        sse_copy_frames(s, dst + len, data);
        len += data;
        len += chunk_tail(s, dst + len);
    }
    return len;
}

static void sse_written(struct feed_sock *fs)
{
    struct sse_stream *s = stream_of(fs);
    if (s->w.want_page && watcher_has_room(&s->w))
        watcher_next_page(&s->w);
}

static void sse_read(struct feed_sock *fs)
{
    /* A stream's client has nothing more to say; what it sends anyway is dropped. */
    h2o_buffer_consume(&fs->sock->input, fs->sock->input->size);
}

static void sse_free(struct feed_sock *fs)
{
    struct sse_stream *s = stream_of(fs);
    watcher_release(&s->w);
    h2o_linklist_unlink(&s->stream_link);
    sse_free_queue(s);
    ch_free(s->q);
    ch_free(s->note);
    ch_free(s->last_event);
    ch_watch_filter_clear(&s->w.filter);
    ch_free(s);
}

static const struct feed_sock_ops sse_ops = {
    .prepare = sse_prepare,
    .fill = sse_fill,
    .read = sse_read,
    .written = sse_written,
    .free = sse_free,
};

void sse_progress(struct sse_stream *s)
{
    char text[160];
    int n;
    if (s->note || s->q_n || s->fs.flight || s->ending)
        return;
    n = snprintf(text, sizeof(text),
                 ": heartbeat\nid: %" PRId64 "\nevent: progress\ndata: {\"revision\":%" PRId64
                 ",\"progress\":true}\n\n",
                 s->w.rev, s->w.rev);
    sse_set_note(s, text, (size_t)n, false);
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

/* The head of a stream's response: what h2o sent before, plus the framing we now do. */
static void sse_set_head(struct sse_stream *s, h2o_req_t *r)
{
    char rev[24];
    snprintf(rev, sizeof(rev), "%" PRId64, ch_model_revision(s->w.wl->loop->server->model));
    r->res.status = 200;
    r->res.reason = "OK";
    h2o_add_header(&r->pool, &r->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/event-stream"));
    h2o_add_header(&r->pool, &r->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-cache"));
    h2o_add_header_by_str(&r->pool, &r->res.headers, H2O_STRLIT("x-confhub-revision"), 0,
                          "X-Confhub-Revision", h2o_strdup(&r->pool, rev, SIZE_MAX).base,
                          strlen(rev));
    if (s->chunked)
        h2o_add_header(&r->pool, &r->res.headers, H2O_TOKEN_TRANSFER_ENCODING, NULL,
                       H2O_STRLIT("chunked"));
    /* The connection ends with the stream; h2o's own "Connection: upgrade" comes first. */
    h2o_add_header(&r->pool, &r->res.headers, H2O_TOKEN_CONNECTION, NULL, H2O_STRLIT("close"));
}

enum confhub_status start_sse(struct ch_req *req, struct ch_resp *resp, struct ch_err *err)
{
    struct watch_loop *wl = req->loop->watch;
    struct sse_stream *s;
    int64_t start, wait_ms, oldest = 0;
    enum confhub_status rc;
    char first[80];

    if (req->h2o->version >= 0x200)
        return ch_err_set(err, CONFHUB_EINVAL, "Server-Sent Events need HTTP/1.1 or HTTP/1.0");
    s = ch_calloc(1, sizeof(*s));
    if (!s)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot start the stream: out of memory");
    s->w.kind = WK_SSE;
    s->w.wl = wl;
    rc = watch_parse_query(req, &s->w, &start, &wait_ms, err);
    if (rc == CONFHUB_OK)
        rc = watcher_begin(&s->w, start, err, &oldest);
    if (rc != CONFHUB_OK) {
        if (rc == CONFHUB_ECOMPACTED)
            err->oldest_rev = oldest;
        ch_watch_filter_clear(&s->w.filter);
        ch_free(s);
        return rc;
    }
    s->q_max = watch_limits(wl)->watch_queue; /* the ring starts empty and grows up to it */
    s->chunked = req->h2o->version >= 0x101;
    feed_sock_init(&s->fs, wl, &sse_ops);
    h2o_linklist_insert(&wl->sse_streams, &s->stream_link);
    /* The first bytes: a comment naming the start, so clients see the stream is open. The
     * catch-up frames that watcher_link queues follow it. */
    int n = snprintf(first, sizeof(first), "retry: 1000\n: watching from revision %" PRId64 "\n\n",
                     s->w.rev);
    sse_set_note(s, first, (size_t)n, false);
    watcher_link(&s->w);
    sse_set_head(s, req->h2o);
    feed_sock_upgrade(&s->fs, req->h2o);
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
