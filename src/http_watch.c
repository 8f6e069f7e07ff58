/* SPDX-License-Identifier: MIT */
/*
 * http_watch.c: the change feed's transports on the event loops: WebSocket (GET /v1/watch
 * with an Upgrade), Server-Sent Events (Accept: text/event-stream), long-poll (anything
 * else), and the WebSocket echo endpoint for the conformance suite (--enable-ws-echo).
 * The contract and the message shapes are in docs/watch.md.
 *
 * Each loop registers one sink with the watch hub (watch.h). The writer thread posts every
 * committed revision's batch to every loop's receiver; the loop hands it to each of its own
 * watchers, in revision order, and keeps the last batches in a ring for watchers that resume
 * from a recent revision. A watcher records the revision it has been given everything up to
 * (w->rev); a batch at or below it is skipped, which is what makes the seam between catch-up
 * and live delivery free of duplicates, and since the loop sees every revision once in order,
 * free of gaps.
 *
 * Threads: everything here runs on the loop that owns the connection, except sink_cb (the
 * writer thread), which only allocates a message and posts it.
 *
 * Memory: a queued frame holds a reference to a shared batch, not a copy. A WebSocket
 * connection may have watch-queue frames handed to wslay and not yet written; an SSE stream
 * and a long-poll the same number queued; one more closes the watcher as too slow. wslay
 * reads a frame's bytes lazily (a fragmented message with a read callback), so a frame is
 * copied only into the bytes being written: a WebSocket connection's gather buffer (up to
 * WS_WRITE_MAX, see ws_send_cb) or an SSE stream's send buffer (up to SSE_BUF_BYTES). Both
 * exist only while there is something to send, so an idle watcher holds neither.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <h2o.h>
#include <h2o/websocket.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/json_util.h"
#include "common/log.h"
#include "common/names.h"
#include "common/num.h"
#include "common/timeutil.h"
#include "http_int.h"
#include "watch.h"

#define SSE_BUF_BYTES (64 * 1024) /* at most this much in one h2o_send of an SSE stream */
#define SSE_Q_MIN     4           /* frames an SSE stream's queue holds before it first grows */
#define LINGER_MS     2000        /* a closed WebSocket reads and drops input this long */
#define WS_ID_MAX     64          /* bytes of a watch id as JSON */
#define WS_WRITE_MAX  (64 * 1024) /* bytes of WebSocket frames gathered into one socket write */

/* WebSocket close codes (RFC 6455 section 7.4.1). */
#define WS_CLOSE_NORMAL     1000
#define WS_CLOSE_GOING_AWAY 1001
#define WS_CLOSE_POLICY     1008
#define WS_CLOSE_INTERNAL   1011

struct watch_loop {
    struct http_loop *loop;
    h2o_multithread_receiver_t receiver; /* batches from the writer thread */
    h2o_multithread_receiver_t history;  /* history pages from the readers */
    int64_t rev;                         /* last revision handed to this loop's watchers */
    struct ch_watch_recent recent;       /* the last batches, for resume */
    h2o_linklist_t watchers;             /* struct watcher that get live batches */
    h2o_linklist_t ws_conns;             /* struct ws_conn, for shutdown */
    h2o_linklist_t sse_streams;          /* struct sse_stream, for shutdown */
    h2o_linklist_t polls;                /* struct poll_req, for shutdown */
    h2o_timeout_t linger_timeout;        /* how long a closed WebSocket drains its input */
    h2o_timeout_t progress_timeout;      /* watch-progress-interval */
    h2o_timeout_entry_t progress_entry;
    h2o_timeout_entry_t poll_tick; /* 100 ms: ends long-polls whose wait= ran out */
    bool stopping;
};

struct batch_msg {
    h2o_multithread_message_t msg;
    int64_t revision;
    struct ch_watch_batch *batch; /* one reference; NULL: the batch was lost (out of memory) */
};

enum watcher_kind { WK_WS, WK_SSE, WK_POLL };

/* What every kind of watcher shares; embedded first in each kind's struct. */
struct watcher {
    h2o_linklist_t link; /* in wl->watchers while it takes live batches */
    enum watcher_kind kind;
    struct watch_loop *wl;
    struct ch_watch_filter filter;
    int64_t rev; /* every matching event at or below rev has been queued */
    bool busy;   /* something was queued since the last progress tick */
    /* Resume from the store's history (when the recent ring does not reach back far enough):
     * history pages cover (rev, target]; live batches that arrive meanwhile wait in held. */
    bool catching_up;
    bool want_page; /* the next page is due once the transport has drained */
    int64_t target; /* the loop's revision when the watch started */
    struct ch_watch_batch **held;
    size_t held_n;
    struct watch_job *job; /* the history read in flight, or NULL */
};

/* A history page read on a reader thread for one watcher. */
struct watch_job {
    struct ch_read_job read;       /* first: the reader's view */
    h2o_multithread_message_t msg; /* back to the loop */
    struct watch_loop *wl;
    struct watcher *w;             /* NULL once the watcher is gone */
    struct ch_watch_filter filter; /* a copy: the watcher may go away meanwhile */
    int64_t from, to;
    size_t max_events;
    enum confhub_status status;
    struct ch_err err;
    struct ch_watch_batch **batches; /* owned references */
    size_t n;
    int64_t upto;
};

struct ws_conn;

struct ws_watch {
    struct watcher w;
    struct ws_conn *conn;
    h2o_linklist_t conn_link; /* in conn->watches */
    size_t id_len;
    char id[WS_ID_MAX + 1]; /* the client's id, as JSON */
};

struct ws_conn {
    h2o_websocket_conn_t *ws;
    struct watch_loop *wl;
    h2o_linklist_t link;    /* in wl->ws_conns */
    h2o_linklist_t watches; /* struct ws_watch */
    size_t n_watches;
    h2o_linklist_t out;        /* struct ws_out handed to wslay, not yet read */
    size_t n_out;              /* their number */
    h2o_timeout_entry_t flush; /* zero timeout: runs the connection outside callbacks */
    h2o_socket_t *linger;      /* after the close handshake: drained, then closed */
    h2o_timeout_entry_t linger_entry;
    /* What wslay has framed (ws_send_cb), not yet handed to the socket, and the bytes of the
     * write in flight; both allocated only while there is something to send. */
    char *wbuf;
    size_t wlen, wcap;
    char *wflight;
    bool pumping;      /* inside ws_pump: ws_destroy leaves the freeing to it */
    bool destroyed;    /* ws_destroy ran */
    bool echo;         /* the echo endpoint: no watches */
    bool closing;      /* closing: no more frames; the flush queues the close */
    bool close_queued; /* the close frame is queued */
    uint16_t close_code;
    const char *close_reason; /* static */
};

/* A frame handed to wslay; freed when wslay has read it all or the connection closes. */
struct ws_out {
    h2o_linklist_t link; /* in conn->out */
    struct ws_conn *conn;
    struct ch_watch_frame *frame;
};

struct sse_stream {
    struct watcher w;
    h2o_generator_t gen;
    h2o_req_t *req;
    h2o_linklist_t stream_link; /* in wl->sse_streams */
    struct ch_watch_frame **q;  /* ring of q_cap frames, grown up to q_max (watch-queue) */
    size_t q_cap, q_max, q_head, q_n;
    char *buf;        /* the bytes of the send in flight (at most SSE_BUF_BYTES), or NULL */
    char *last_event; /* an error event sent before the end (ch_malloc'd), or NULL */
    h2o_timeout_entry_t pump_entry; /* zero timeout: sends what deliveries queued */
    bool sending, ended, overflow, end_now;
};

struct poll_req {
    struct watcher w;
    h2o_req_t *req;
    h2o_linklist_t stream_link; /* in wl->polls */
    struct ch_buf events;       /* the events so far, comma-separated */
    size_t n_frames;
    uint64_t deadline;                /* h2o_now() when wait= runs out; 0: no wait */
    h2o_timeout_entry_t answer_entry; /* zero timeout: answer once delivery settles */
    int64_t start_us;
    bool answered;
    bool no_wait;             /* answer as soon as it is caught up, even with no events */
    enum confhub_status fail; /* answer this error instead of the events */
    struct ch_err fail_err;
};

static void deliver(struct watcher *w, struct ch_watch_batch *b);
static void ws_flush_soon(struct ws_conn *c);
static void ws_pump(struct ws_conn *c);
static void ws_destroy(struct ws_conn *c);
static void ws_final(struct ws_conn *c);
static void ws_close_conn(struct ws_conn *c, uint16_t code, const char *reason);
static void sse_pump(struct sse_stream *s);
static void poll_answer_soon(struct poll_req *p);
static void watcher_next_page(struct watcher *w);
static void sse_free_queue(struct sse_stream *s);
static void ws_send_error(struct ws_conn *c, const char *id, enum confhub_status code,
                          const struct ch_err *err, int64_t oldest);

/* ---------------------------------------------------------------- small helpers */

static const struct ch_limits *limits_of(struct watch_loop *wl)
{
    return wl->loop->server->limits;
}

static int64_t published_revision(void *arg)
{
    return ch_model_revision(arg);
}

/* The error object of a watch error as JSON text (ch_malloc'd), or NULL. */
static char *error_json(const char *id, enum confhub_status code, const struct ch_err *err,
                        int64_t oldest)
{
    json_t *inner = json_pack("{s:s,s:s}", "code", ch_err_code_name(code), "message",
                              err && err->msg[0] ? err->msg : confhub_strerror(code));
    json_t *idv = id ? json_loads(id, JSON_DECODE_ANY, NULL) : json_null();
    json_t *obj = NULL;
    char *text = NULL;
    if (inner && code == CONFHUB_ECOMPACTED)
        json_object_set_new(inner, "oldest_revision", json_integer(oldest));
    if (inner && idv)
        obj = json_pack("{s:O,s:O}", "id", idv, "error", inner);
    if (obj)
        text = ch_json_dump(obj, NULL);
    json_decref(obj);
    json_decref(idv);
    json_decref(inner);
    return text;
}

/* ---------------------------------------------------------------- the loop's feed */

static void sink_cb(void *userdata, int64_t revision, struct ch_watch_batch *batch)
{
    /* Writer thread: post to the loop. */
    struct watch_loop *wl = userdata;
    struct batch_msg *m = ch_calloc(1, sizeof(*m));
    if (!m) {
        /* The loop must learn of the gap: the next batch it gets will not follow its last. */
        ch_log(CH_LOG_ERROR, "watch", "revision %" PRId64 " not posted to a loop: out of memory",
               revision);
        ch_watch_batch_unref(batch);
        return;
    }
    m->revision = revision;
    m->batch = batch;
    h2o_multithread_send_message(&wl->receiver, &m->msg);
}

/* Ends every live watcher of the loop with an error: the feed lost a revision. */
static void fail_all(struct watch_loop *wl, int64_t lost_rev);

static void on_batches(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    struct watch_loop *wl = H2O_STRUCT_FROM_MEMBER(struct watch_loop, receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        struct batch_msg *m = H2O_STRUCT_FROM_MEMBER(struct batch_msg, msg.link, messages->next);
        h2o_linklist_unlink(&m->msg.link);
        if (m->revision > wl->rev) {
            bool gap = !m->batch || m->revision != wl->rev + 1;
            wl->rev = m->revision;
            if (gap) {
                fail_all(wl, m->revision);
            } else {
                ch_watch_recent_push(&wl->recent, m->batch);
                h2o_linklist_t *node = wl->watchers.next;
                while (node != &wl->watchers) {
                    struct watcher *w = H2O_STRUCT_FROM_MEMBER(struct watcher, link, node);
                    node = node->next; /* deliver may unlink w (a slow consumer) */
                    deliver(w, m->batch);
                }
            }
        }
        ch_watch_batch_unref(m->batch);
        ch_free(m);
    }
}

static void watcher_unlink(struct watcher *w)
{
    if (h2o_linklist_is_linked(&w->link))
        h2o_linklist_unlink(&w->link);
}

/* ---------------------------------------------------------------- resume from history */

static void watcher_fail(struct watcher *w, enum confhub_status code, const struct ch_err *err,
                         int64_t oldest);
static bool watcher_has_room(const struct watcher *w);
static void deliver_now(struct watcher *w, struct ch_watch_batch *b);

/* Stops every delivery to w and frees what it holds; each kind's free path calls it. */
static void watcher_release(struct watcher *w)
{
    watcher_unlink(w);
    if (w->job)
        w->job->w = NULL; /* the job is freed when it comes back */
    w->job = NULL;
    ch_watch_batches_free(w->held, w->held_n);
    w->held = NULL;
    w->held_n = 0;
    w->catching_up = false;
}

static void job_run(struct ch_read_job *read, struct ch_store *store)
{
    struct watch_job *j = (struct watch_job *)read;
    j->status = ch_watch_history_read(store, &j->filter, j->from, j->to, j->max_events, &j->batches,
                                      &j->n, &j->upto, &j->err);
}

static void job_done(struct ch_read_job *read)
{
    /* Reader thread: back to the loop. */
    struct watch_job *j = (struct watch_job *)read;
    h2o_multithread_send_message(&j->wl->history, &j->msg);
}

static void job_free(struct watch_job *j)
{
    if (!j)
        return;
    ch_watch_batches_free(j->batches, j->n);
    ch_watch_filter_clear(&j->filter);
    ch_free(j);
}

/* Copies src into *dst (NULL stays NULL); false when out of memory. */
static bool copy_name(char **dst, const char *src)
{
    *dst = src ? ch_strdup(src) : NULL;
    return !src || *dst;
}

/* Asks a reader for w's next page of history: (w->rev, w->target]. */
static void watcher_next_page(struct watcher *w)
{
    struct watch_loop *wl = w->wl;
    struct ch_reader *reader = wl->loop->server->cfg.reader;
    struct watch_job *j;
    struct ch_err err;

    w->want_page = false;
    if (w->job)
        return;
    ch_err_clear(&err);
    j = ch_calloc(1, sizeof(*j));
    if (!j || !copy_name(&j->filter.ns, w->filter.ns) ||
        !copy_name(&j->filter.section, w->filter.section) ||
        !copy_name(&j->filter.key, w->filter.key) ||
        !copy_name(&j->filter.prefix, w->filter.prefix)) {
        job_free(j);
        ch_err_set(&err, CONFHUB_ENOMEM, "cannot read history: out of memory");
        watcher_fail(w, CONFHUB_ENOMEM, &err, 0);
        return;
    }
    j->read.run = job_run;
    j->read.done = job_done;
    j->wl = wl;
    j->w = w;
    j->from = w->rev;
    j->to = w->target;
    j->max_events = limits_of(wl)->watch_queue;
    ch_err_clear(&j->err);
    if (!reader || wl->stopping || ch_reader_submit(reader, &j->read) != CONFHUB_OK) {
        job_free(j);
        ch_err_set(&err, CONFHUB_EUNAVAIL, "history is not available: the server is stopping");
        watcher_fail(w, CONFHUB_EUNAVAIL, &err, 0);
        return;
    }
    w->job = j;
}

/* A page came back: deliver it, then ask for the next one, or switch to live batches (the
 * held ones first; deliver() drops what the pages already gave). */
static void history_page(struct watcher *w, struct watch_job *j)
{
    for (size_t i = 0; i < j->n && w->catching_up; i++)
        deliver_now(w, j->batches[i]);
    if (!w->catching_up)
        return; /* delivery ended the watcher */
    if (j->upto > w->rev)
        w->rev = j->upto;
    if (w->rev < w->target) {
        if (watcher_has_room(w))
            watcher_next_page(w);
        else
            w->want_page = true;
        return;
    }
    struct ch_watch_batch **held = w->held;
    size_t n = w->held_n;
    w->held = NULL;
    w->held_n = 0;
    w->catching_up = false;
    for (size_t i = 0; i < n && h2o_linklist_is_linked(&w->link); i++)
        deliver(w, held[i]);
    ch_watch_batches_free(held, n);
    if (w->kind == WK_POLL && ((struct poll_req *)w)->no_wait)
        poll_answer_soon((struct poll_req *)w);
}

static void on_history(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        struct watch_job *j = H2O_STRUCT_FROM_MEMBER(struct watch_job, msg.link, messages->next);
        struct watcher *w = j->w;
        h2o_linklist_unlink(&j->msg.link);
        (void)receiver;
        if (w) {
            w->job = NULL;
            if (j->status != CONFHUB_OK)
                watcher_fail(w, j->status, &j->err, j->err.oldest_rev);
            else
                history_page(w, j);
        }
        job_free(j);
    }
}

/* Keeps a live batch for a watcher that is still reading history. */
static void watcher_hold(struct watcher *w, struct ch_watch_batch *b)
{
    size_t max = limits_of(w->wl)->watch_queue;
    struct ch_watch_batch **p = NULL;
    struct ch_err err;
    if (w->held_n < max)
        p = ch_realloc(w->held, (w->held_n + 1) * sizeof(*p));
    if (!p) {
        ch_err_clear(&err);
        ch_err_set(&err, CONFHUB_ETOOBIG,
                   "slow consumer: more than %zu revisions arrived while history was read "
                   "(limit watch-queue); resume from the last revision you received",
                   max);
        watcher_fail(w, CONFHUB_ETOOBIG, &err, 0);
        return;
    }
    ch_watch_batch_ref(b);
    p[w->held_n++] = b;
    w->held = p;
}

/*
 * Checks that the revisions after a new watcher's start (w->rev) are still held by this loop.
 * Returns CONFHUB_ECOMPACTED when they are not; *oldest is then the oldest revision a watch
 * can start from.
 */
static enum confhub_status watcher_check_start(struct watcher *w, struct ch_err *err,
                                               int64_t *oldest)
{
    struct watch_loop *wl = w->wl;
    int64_t first = ch_watch_recent_oldest(&wl->recent);
    if (w->rev >= wl->rev || (wl->recent.n && w->rev + 1 >= first))
        return CONFHUB_OK;
    if (wl->loop->server->cfg.reader) {
        w->catching_up = true; /* the store's history has the rest, or says it is compacted */
        w->target = wl->rev;
        return CONFHUB_OK;
    }
    *oldest = wl->recent.n ? first - 1 : wl->rev;
    return ch_err_set(err, CONFHUB_ECOMPACTED,
                      "revision %" PRId64 " is compacted: the oldest revision a watch can start "
                      "from is %" PRId64 "; read the current state and watch from its revision",
                      w->rev, *oldest);
}

/* Brings a checked watcher up to this loop's revision from the recent ring, then links it for
 * live batches. Delivery may unlink it again (a slow consumer, a full long-poll). */
static void watcher_link(struct watcher *w)
{
    struct watch_loop *wl = w->wl;
    int64_t upto = wl->rev;
    h2o_linklist_insert(&wl->watchers, &w->link);
    if (w->catching_up) {
        watcher_next_page(w);
        return;
    }
    for (int64_t r = w->rev + 1; r <= upto && h2o_linklist_is_linked(&w->link); r++)
        deliver(w, ch_watch_recent_get(&wl->recent, r));
}

/* ---------------------------------------------------------------- WebSocket */

static void ws_send_text(struct ws_conn *c, const char *text, size_t len)
{
    struct wslay_event_msg msg = {WSLAY_TEXT_FRAME, (const uint8_t *)text, len};
    if (c->close_queued)
        return;
    if (wslay_event_queue_msg(c->ws->ws_ctx, &msg) != 0)
        return; /* out of memory or already closing: the close path follows */
    ws_flush_soon(c);
}

static void ws_send_error(struct ws_conn *c, const char *id, enum confhub_status code,
                          const struct ch_err *err, int64_t oldest)
{
    char *text = error_json(id, code, err, oldest);
    if (text)
        ws_send_text(c, text, strlen(text));
    ch_free(text);
}

static ssize_t ws_read_frame(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                             const union wslay_event_msg_source *source, int *eof, void *user_data)
{
    (void)ctx;
    (void)user_data;
    struct ws_out *o = source->data;
    bool done = false;
    size_t n = ch_watch_frame_read(o->frame, (char *)buf, len, &done);
    if (done) {
        struct ws_conn *c = o->conn;
        h2o_linklist_unlink(&o->link);
        ch_watch_frame_free(o->frame);
        ch_free(o);
        if (--c->n_out == limits_of(c->wl)->watch_queue / 4) {
            /* Drained enough: watches reading history may have their next page. */
            for (h2o_linklist_t *l = c->watches.next; l != &c->watches; l = l->next) {
                struct ws_watch *x = H2O_STRUCT_FROM_MEMBER(struct ws_watch, conn_link, l);
                if (x->w.want_page)
                    watcher_next_page(&x->w);
            }
        }
    }
    *eof = done;
    return (ssize_t)n;
}

static void ws_deliver(struct ws_watch *ww, struct ch_watch_batch *b)
{
    struct ws_conn *c = ww->conn;
    struct ch_watch_frame *f = NULL;
    struct ws_out *o;
    char head[CH_WATCH_HEAD_MAX];
    int n = snprintf(head, sizeof(head), "{\"id\":%s,\"revision\":%" PRId64 ",\"events\":[", ww->id,
                     b->revision);
    enum confhub_status rc = ch_watch_frame_new(b, &ww->w.filter, head, (size_t)n, "]}", 2, &f);
    if (c->closing || (rc == CONFHUB_OK && !f)) {
        ch_watch_frame_free(f);
        return;
    }
    if (rc != CONFHUB_OK || c->n_out >= limits_of(c->wl)->watch_queue) {
        struct ch_err err;
        ch_err_clear(&err);
        ch_watch_frame_free(f);
        if (rc == CONFHUB_OK)
            ch_err_set(&err, CONFHUB_ETOOBIG,
                       "slow consumer: %zu frames are waiting to be sent (limit watch-queue); "
                       "resume from the last revision you received",
                       c->n_out);
        else
            ch_err_set(&err, CONFHUB_ENOMEM,
                       "out of memory; resume from the last revision "
                       "you received");
        ch_log(CH_LOG_WARN, "watch", "closing a WebSocket: %s", err.msg);
        /* Every watch of the connection is behind: tell each, then close. */
        for (h2o_linklist_t *l = c->watches.next; l != &c->watches; l = l->next) {
            struct ws_watch *x = H2O_STRUCT_FROM_MEMBER(struct ws_watch, conn_link, l);
            ws_send_error(c, x->id, err.code, &err, 0);
        }
        /* The close frame overtakes queued messages (wslay sends control frames first), so
         * its reason says it all. */
        ws_close_conn(c, WS_CLOSE_POLICY,
                      rc == CONFHUB_OK
                          ? "slow consumer: resume from the last revision you received"
                          : "out of memory: resume from the last revision you received");
        return;
    }
    o = ch_calloc(1, sizeof(*o));
    struct wslay_event_fragmented_msg msg = {
        .opcode = WSLAY_TEXT_FRAME, .source = {.data = o}, .read_callback = ws_read_frame};
    if (!o || wslay_event_queue_fragmented_msg(c->ws->ws_ctx, &msg) != 0) {
        ch_free(o);
        ch_watch_frame_free(f);
        ws_close_conn(c, WS_CLOSE_INTERNAL, "out of memory");
        return;
    }
    o->conn = c;
    o->frame = f;
    h2o_linklist_insert(&c->out, &o->link);
    c->n_out++;
    ww->w.busy = true;
    ws_flush_soon(c);
}

static void ws_watch_free(struct ws_watch *ww)
{
    watcher_release(&ww->w);
    h2o_linklist_unlink(&ww->conn_link);
    ww->conn->n_watches--;
    ch_watch_filter_clear(&ww->w.filter);
    ch_free(ww);
}

static void ws_on_flush(h2o_timeout_entry_t *entry)
{
    struct ws_conn *c = H2O_STRUCT_FROM_MEMBER(struct ws_conn, flush, entry);
    if (c->closing && !c->close_queued) {
        /* Here, not in ws_close_conn: that may run while the loop walks its watchers. */
        while (!h2o_linklist_is_empty(&c->watches))
            ws_watch_free(H2O_STRUCT_FROM_MEMBER(struct ws_watch, conn_link, c->watches.next));
        wslay_event_queue_close(c->ws->ws_ctx, c->close_code, (const uint8_t *)c->close_reason,
                                strlen(c->close_reason));
        c->close_queued = true;
    }
    ws_pump(c); /* may close the connection and free c */
}

static void ws_flush_soon(struct ws_conn *c)
{
    if (!h2o_timeout_is_linked(&c->flush))
        h2o_timeout_link(c->wl->loop->loop, &c->wl->loop->ctx.zero_timeout, &c->flush);
}

/* Starts closing: no frame is queued from now on, and the next flush frees the watches and
 * queues the close frame (reason must be static). Safe while the loop walks its watchers. */
static void ws_close_conn(struct ws_conn *c, uint16_t code, const char *reason)
{
    if (c->closing)
        return;
    c->closing = true;
    c->close_code = code;
    c->close_reason = reason;
    ws_flush_soon(c);
}

/* Frees the connection's watches and queued frames (the socket is closed or lingering). */
static void ws_release(struct ws_conn *c)
{
    while (!h2o_linklist_is_empty(&c->watches))
        ws_watch_free(H2O_STRUCT_FROM_MEMBER(struct ws_watch, conn_link, c->watches.next));
    if (h2o_timeout_is_linked(&c->flush))
        h2o_timeout_unlink(&c->flush);
    while (!h2o_linklist_is_empty(&c->out)) {
        struct ws_out *o = H2O_STRUCT_FROM_MEMBER(struct ws_out, link, c->out.next);
        h2o_linklist_unlink(&o->link);
        ch_watch_frame_free(o->frame);
        ch_free(o);
    }
}

/*
 * Writing. h2o 2.2.5's own wslay send callback writes every piece wslay hands it at once, so
 * a frame costs two socket writes (its header, then its payload) and two loop turns, and a
 * connection with many queued frames writes them one piece per turn. Instead wslay's send
 * callback is ours (ws_send_cb): it gathers the framed bytes of every queued message, up to
 * WS_WRITE_MAX, and ws_pump writes them in one h2o_socket_write once wslay is done. wslay
 * still does all the framing, and h2o_websocket_proceed still drives it and the reads; while
 * our write is in flight h2o sees the socket writing and wslay waits.
 */
static void ws_write(struct ws_conn *c, h2o_socket_t *sock, h2o_socket_cb cb);
static void ws_on_written(h2o_socket_t *sock, const char *err);

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                          void *user_data)
{
    h2o_websocket_conn_t *ws = user_data;
    struct ws_conn *c = ws->data;
    (void)flags;
    if (c->wlen >= WS_WRITE_MAX) {
        /* Full: write it now. h2o_websocket_proceed loops while the socket is not writing and
         * wslay wants to write, so returning WOULDBLOCK with an idle socket would spin. */
        if (!h2o_socket_is_writing(ws->sock))
            ws_write(c, ws->sock, ws_on_written);
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (len > WS_WRITE_MAX - c->wlen)
        len = WS_WRITE_MAX - c->wlen; /* wslay sends the rest later */
    if (c->wlen + len > c->wcap) {
        size_t cap = c->wcap ? c->wcap : 4096;
        while (cap < c->wlen + len)
            cap *= 2;
        char *p = ch_realloc(c->wbuf, cap);
        if (!p) {
            wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
            return -1;
        }
        c->wbuf = p;
        c->wcap = cap;
    }
    memcpy(c->wbuf + c->wlen, data, len);
    c->wlen += len;
    if (!c->pumping)
        ws_flush_soon(c); /* h2o drove wslay (a read): someone must write */
    return (ssize_t)len;
}

/* Hands the gathered bytes to sock; cb runs when they are written. */
static void ws_write(struct ws_conn *c, h2o_socket_t *sock, h2o_socket_cb cb)
{
    h2o_iovec_t iov = h2o_iovec_init(c->wbuf, c->wlen);
    c->wflight = c->wbuf;
    c->wbuf = NULL;
    c->wlen = c->wcap = 0;
    h2o_socket_write(sock, &iov, 1, cb);
}

static void ws_on_written(h2o_socket_t *sock, const char *err)
{
    h2o_websocket_conn_t *ws = sock->data;
    struct ws_conn *c = ws->data;
    ch_free(c->wflight);
    c->wflight = NULL;
    if (err) {
        ws_destroy(c); /* what h2o does when its own write fails */
        return;
    }
    ws_pump(c);
}

static void ws_on_linger_written(h2o_socket_t *sock, const char *err)
{
    struct ws_conn *c = sock->data;
    ch_free(c->wflight);
    c->wflight = NULL;
    if (!err)
        shutdown(h2o_socket_get_fd(sock), SHUT_WR); /* our FIN: the peer sees the close */
}

/* Lets wslay send and read what it can, then writes what it framed. May free c. */
static void ws_pump(struct ws_conn *c)
{
    if (!c->ws || !c->ws->sock)
        return;
    c->pumping = true;
    h2o_websocket_proceed(c->ws); /* may end in ws_destroy */
    c->pumping = false;
    if (c->destroyed) {
        if (!c->linger)
            ws_final(c);
        return;
    }
    if (c->wlen && !h2o_socket_is_writing(c->ws->sock))
        ws_write(c, c->ws->sock, ws_on_written);
}

/* The end: closes the lingering socket and frees c. */
static void ws_final(struct ws_conn *c)
{
    if (h2o_timeout_is_linked(&c->linger_entry))
        h2o_timeout_unlink(&c->linger_entry);
    if (c->linger)
        h2o_socket_close(c->linger);
    h2o_linklist_unlink(&c->link);
    ch_free(c->wbuf);
    ch_free(c->wflight);
    ch_free(c);
}

static void ws_on_linger_read(h2o_socket_t *sock, const char *err)
{
    struct ws_conn *c = sock->data;
    if (err) {
        ws_final(c);
        return;
    }
    h2o_buffer_consume(&sock->input, sock->input->size);
}

static void ws_on_linger_timeout(h2o_timeout_entry_t *entry)
{
    ws_final(H2O_STRUCT_FROM_MEMBER(struct ws_conn, linger_entry, entry));
}

/*
 * The WebSocket is done (h2o's callback with a NULL message). When the close handshake ended
 * it and the socket is idle, the socket is not closed at once: the peer may still be sending
 * (a client that failed the connection mid-message), and closing a socket with unread input
 * makes the kernel send a reset that can destroy our close frame before the peer reads it.
 * So it lingers: input is read and dropped until the peer closes or LINGER_MS pass.
 */
static void ws_destroy(struct ws_conn *c)
{
    h2o_socket_t *sock = c->ws->sock;
    ws_release(c);
    /* Framed bytes not yet written (the answer to the peer's close, say) go out first, even
     * while stopping. */
    if (sock && !h2o_socket_is_writing(sock) && (!c->wl->stopping || c->wlen)) {
        c->ws->sock = NULL; /* keep it from h2o_websocket_close */
        c->linger = sock;
        sock->data = c;
        h2o_buffer_consume(&sock->input, sock->input->size);
        if (c->wlen)
            ws_write(c, sock, ws_on_linger_written); /* then our FIN */
        else
            shutdown(h2o_socket_get_fd(sock), SHUT_WR); /* our FIN: the peer sees the close */
        h2o_socket_read_start(sock, ws_on_linger_read);
        h2o_timeout_link(c->wl->loop->loop, &c->wl->linger_timeout, &c->linger_entry);
    }
    h2o_websocket_close(c->ws);
    c->ws = NULL;
    c->destroyed = true;
    if (!c->linger && !c->pumping)
        ws_final(c);
}

static struct ws_watch *ws_find(struct ws_conn *c, const char *id)
{
    for (h2o_linklist_t *l = c->watches.next; l != &c->watches; l = l->next) {
        struct ws_watch *ww = H2O_STRUCT_FROM_MEMBER(struct ws_watch, conn_link, l);
        if (strcmp(ww->id, id) == 0)
            return ww;
    }
    return NULL;
}

/* Reads an optional string member into *out (owned). */
static enum confhub_status take_string(json_t *obj, const char *name, char **out,
                                       struct ch_err *err)
{
    json_t *v = json_object_get(obj, name);
    if (!v || json_is_null(v))
        return CONFHUB_OK;
    if (!json_is_string(v))
        return ch_err_set(err, CONFHUB_EINVAL, "watch: \"%s\" must be a string", name);
    *out = ch_strdup(json_string_value(v));
    return *out ? CONFHUB_OK : ch_err_set(err, CONFHUB_ENOMEM, "out of memory");
}

/* True when ns has keys now, or is "default". */
static bool ns_exists(struct watch_loop *wl, const char *ns)
{
    struct ch_model *model = wl->loop->server->model;
    const struct ch_state *st = ch_model_read_begin(model, wl->loop->index);
    bool found = strcmp(ns, "default") == 0 || ch_state_find_ns(st, ns, strlen(ns)) != NULL;
    ch_model_read_end(model, wl->loop->index);
    return found;
}

/* Checks a new watcher's filter and start (start < 0: from the current revision) and sets
 * w->rev; the caller then calls watcher_link(). The common part of the three transports. */
static enum confhub_status watcher_begin(struct watcher *w, int64_t start, struct ch_err *err,
                                         int64_t *oldest)
{
    struct watch_loop *wl = w->wl;
    enum confhub_status rc = ch_watch_filter_check(&w->filter, limits_of(wl)->max_name_bytes, err);
    if (rc != CONFHUB_OK)
        return rc;
    if (start < 0 && !ns_exists(wl, w->filter.ns))
        return ch_err_set(err, CONFHUB_ENOTFOUND,
                          "namespace '%s' does not exist; to wait for it to be created, give "
                          "start_revision (the revision you read)",
                          w->filter.ns);
    w->rev = start >= 0 ? start : ch_model_revision(wl->loop->server->model);
    return watcher_check_start(w, err, oldest);
}

static void ws_handle_watch(struct ws_conn *c, json_t *spec, const char *id)
{
    struct ch_err err;
    struct ws_watch *ww = NULL;
    enum confhub_status rc;
    int64_t oldest = 0;
    json_t *start = json_object_get(spec, "start_revision");
    char created[WS_ID_MAX + 80];

    ch_err_clear(&err);
    if (ws_find(c, id)) {
        rc = ch_err_set(&err, CONFHUB_EINVAL, "watch id %s is already in use on this connection",
                        id);
        goto fail;
    }
    if (c->n_watches >= limits_of(c->wl)->max_watches_per_conn) {
        rc = ch_err_set(&err, CONFHUB_ETOOBIG,
                        "this connection has %zu watches (limit max-watches-per-connection)",
                        c->n_watches);
        goto fail;
    }
    if (start && !json_is_null(start) &&
        (!json_is_integer(start) || json_integer_value(start) < 0)) {
        rc = ch_err_set(&err, CONFHUB_EINVAL, "watch: start_revision must be an integer >= 0");
        goto fail;
    }
    ww = ch_calloc(1, sizeof(*ww));
    if (!ww) {
        rc = ch_err_set(&err, CONFHUB_ENOMEM, "out of memory");
        goto fail;
    }
    ww->w.kind = WK_WS;
    ww->w.wl = c->wl;
    ww->conn = c;
    ww->id_len = strlen(id);
    memcpy(ww->id, id, ww->id_len + 1);
    if ((rc = take_string(spec, "ns", &ww->w.filter.ns, &err)) != CONFHUB_OK ||
        (rc = take_string(spec, "section", &ww->w.filter.section, &err)) != CONFHUB_OK ||
        (rc = take_string(spec, "key", &ww->w.filter.key, &err)) != CONFHUB_OK ||
        (rc = take_string(spec, "prefix", &ww->w.filter.prefix, &err)) != CONFHUB_OK)
        goto fail;
    rc = watcher_begin(&ww->w, start && json_is_integer(start) ? json_integer_value(start) : -1,
                       &err, &oldest);
    if (rc != CONFHUB_OK)
        goto fail;
    h2o_linklist_insert(&c->watches, &ww->conn_link);
    c->n_watches++;
    /* The "created" answer goes first: every frame of the watch follows it. */
    snprintf(created, sizeof(created), "{\"id\":%s,\"created\":true,\"revision\":%" PRId64 "}", id,
             ww->w.rev);
    ws_send_text(c, created, strlen(created));
    watcher_link(&ww->w);
    return;
fail:
    if (ww)
        ch_watch_filter_clear(&ww->w.filter);
    ch_free(ww);
    ws_send_error(c, id, rc, &err, oldest);
}

static void ws_handle_message(struct ws_conn *c, const char *text, size_t len)
{
    struct ch_err err;
    json_t *msg = NULL, *id;
    char *id_text = NULL;
    enum confhub_status rc;

    ch_err_clear(&err);
    rc = ch_json_parse("watch request", text, len, 8, &msg, &err);
    if (rc != CONFHUB_OK)
        goto fail;
    json_t *spec = json_object_get(msg, "watch"), *cancel = json_object_get(msg, "cancel");
    if (!json_is_object(msg) || json_object_size(msg) != 1 || (!json_is_object(spec) && !cancel)) {
        rc = ch_err_set(&err, CONFHUB_EINVAL,
                        "expected {\"watch\":{\"id\":..,\"ns\":..}} or {\"cancel\":id}");
        goto fail;
    }
    id = spec ? json_object_get(spec, "id") : cancel;
    if (!id || !(json_is_integer(id) || json_is_string(id))) {
        rc = ch_err_set(&err, CONFHUB_EINVAL, "a watch needs an \"id\": an integer or a string");
        goto fail;
    }
    id_text = ch_json_dump(id, NULL);
    if (!id_text || strlen(id_text) > WS_ID_MAX) {
        rc = ch_err_set(&err, id_text ? CONFHUB_ETOOBIG : CONFHUB_ENOMEM,
                        "a watch id is at most %d bytes as JSON", WS_ID_MAX);
        ch_free(id_text);
        id_text = NULL;
        goto fail;
    }
    if (spec) {
        ws_handle_watch(c, spec, id_text);
    } else {
        struct ws_watch *ww = ws_find(c, id_text);
        if (!ww) {
            rc = ch_err_set(&err, CONFHUB_ENOTFOUND, "no watch with id %s", id_text);
            goto fail;
        }
        ws_watch_free(ww);
        char done[WS_ID_MAX + 32];
        int n = snprintf(done, sizeof(done), "{\"id\":%s,\"canceled\":true}", id_text);
        ws_send_text(c, done, (size_t)n);
    }
    json_decref(msg);
    ch_free(id_text);
    return;
fail:
    ws_send_error(c, id_text, rc, &err, 0);
    json_decref(msg);
    ch_free(id_text);
}

static void on_ws_message(h2o_websocket_conn_t *ws, const struct wslay_event_on_msg_recv_arg *arg)
{
    struct ws_conn *c = ws->data;
    if (!arg) {
        ws_destroy(c);
        return;
    }
    if (arg->opcode != WSLAY_TEXT_FRAME && arg->opcode != WSLAY_BINARY_FRAME)
        return; /* wslay answers pings and close frames itself */
    if (c->echo) {
        struct wslay_event_msg msg = {arg->opcode, arg->msg, arg->msg_length};
        wslay_event_queue_msg(ws->ws_ctx, &msg);
        return; /* wslay sends it in the loop that called us */
    }
    if (c->closing)
        return;
    if (arg->opcode == WSLAY_BINARY_FRAME) {
        struct ch_err err;
        ch_err_clear(&err);
        ch_err_set(&err, CONFHUB_EINVAL, "watch requests are JSON text messages, not binary");
        ws_send_error(c, NULL, CONFHUB_EINVAL, &err, 0);
        return;
    }
    ws_handle_message(c, (const char *)arg->msg, arg->msg_length);
}

/* Answers an upgrade request with a version we do not speak: 426 and the one we do. */
static void send_upgrade_required(struct ch_req *req)
{
    static const char body[] =
        "{\"error\":{\"code\":\"invalid_argument\",\"message\":\"unsupported WebSocket version: "
        "send Sec-WebSocket-Version: 13\"}}";
    h2o_req_t *r = req->h2o;
    r->res.status = 426;
    r->res.reason = "Upgrade Required";
    h2o_add_header(&r->pool, &r->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_add_header_by_str(&r->pool, &r->res.headers, H2O_STRLIT("sec-websocket-version"), 0, NULL,
                          H2O_STRLIT("13"));
    r->res.content_length = sizeof(body) - 1;
    h2o_send_inline(r, body, sizeof(body) - 1);
}

/* Upgrades req to a WebSocket; echo selects the echo endpoint. */
static enum confhub_status ws_upgrade(struct ch_req *req, const char *key, bool echo,
                                      struct ch_resp *resp, struct ch_err *err)
{
    struct watch_loop *wl = req->loop->watch;
    ssize_t vi =
        h2o_find_header_by_str(&req->h2o->headers, H2O_STRLIT("sec-websocket-version"), -1);
    struct ws_conn *c;

    if (vi < 0 || !h2o_memis(req->h2o->headers.entries[vi].value.base,
                             req->h2o->headers.entries[vi].value.len, H2O_STRLIT("13"))) {
        send_upgrade_required(req);
        resp->pending = true;
        return CONFHUB_OK;
    }
    if (wl->stopping)
        return ch_err_set(err, CONFHUB_EUNAVAIL, "the server is shutting down");
    c = ch_calloc(1, sizeof(*c));
    if (!c)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot accept the WebSocket: out of memory");
    c->wl = wl;
    c->echo = echo;
    h2o_linklist_init_anchor(&c->watches);
    h2o_linklist_init_anchor(&c->out);
    c->flush.cb = ws_on_flush;
    c->linger_entry.cb = ws_on_linger_timeout;
    h2o_linklist_insert(&wl->ws_conns, &c->link);
    c->ws = h2o_upgrade_to_websocket(req->h2o, key, c, on_ws_message);
    wslay_event_config_set_max_recv_msg_length(c->ws->ws_ctx, limits_of(wl)->max_ws_message_bytes);
    /* h2o's callbacks, but our gathering send (ws_send_cb); nothing has been sent yet. */
    struct wslay_event_callbacks cbs = c->ws->ws_callbacks;
    cbs.send_callback = ws_send_cb;
    wslay_event_config_set_callbacks(c->ws->ws_ctx, &cbs);
    resp->pending = true;
    return CONFHUB_OK;
}

/* ---------------------------------------------------------------- SSE */

static void sse_free_queue(struct sse_stream *s)
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

static void sse_deliver(struct sse_stream *s, struct ch_watch_batch *b)
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
static void sse_pump(struct sse_stream *s)
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
static void sse_dispose(void *p)
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

static void sse_progress(struct sse_stream *s)
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

static void poll_answer(struct poll_req *p)
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
static void on_poll_tick(h2o_timeout_entry_t *entry)
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

static void poll_answer_soon(struct poll_req *p)
{
    if (!p->answered && !h2o_timeout_is_linked(&p->answer_entry))
        h2o_timeout_link(p->w.wl->loop->loop, &p->w.wl->loop->ctx.zero_timeout, &p->answer_entry);
}

static void poll_deliver(struct poll_req *p, struct ch_watch_batch *b)
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
    if (p->n_frames >= limits_of(p->w.wl)->watch_queue || p->events.failed)
        watcher_unlink(&p->w);
    poll_answer_soon(p);
}

static void poll_dispose(void *ptr)
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

/* ---------------------------------------------------------------- delivery and progress */

static void deliver(struct watcher *w, struct ch_watch_batch *b)
{
    if (b->revision <= w->rev)
        return; /* the seam: already given */
    if (w->catching_up)
        watcher_hold(w, b);
    else
        deliver_now(w, b);
}

static void deliver_now(struct watcher *w, struct ch_watch_batch *b)
{
    w->rev = b->revision;
    switch (w->kind) {
    case WK_WS:
        ws_deliver((struct ws_watch *)w, b);
        break;
    case WK_SSE:
        sse_deliver((struct sse_stream *)w, b);
        break;
    case WK_POLL:
        poll_deliver((struct poll_req *)w, b);
        break;
    }
}

static bool watcher_has_room(const struct watcher *w)
{
    switch (w->kind) {
    case WK_WS: {
        const struct ws_conn *c = ((const struct ws_watch *)w)->conn;
        return !c->closing && c->n_out <= limits_of(w->wl)->watch_queue / 2;
    }
    case WK_SSE: {
        const struct sse_stream *s = (const struct sse_stream *)w;
        return s->q_n <= s->q_max / 2;
    }
    default:
        return ((const struct poll_req *)w)->n_frames == 0;
    }
}

/* Ends w with an error; safe while the loop walks its watchers (nothing is freed here). */
static void watcher_fail(struct watcher *w, enum confhub_status code, const struct ch_err *err,
                         int64_t oldest)
{
    watcher_unlink(w);
    ch_watch_batches_free(w->held, w->held_n);
    w->held = NULL;
    w->held_n = 0;
    w->catching_up = false;
    w->want_page = false;
    if (w->kind == WK_WS) {
        struct ws_watch *ww = (struct ws_watch *)w;
        ws_send_error(ww->conn, ww->id, code, err, oldest);
    } else if (w->kind == WK_SSE) {
        struct sse_stream *s = (struct sse_stream *)w;
        char *body = error_json(NULL, code, err, oldest);
        size_t len = body ? strlen(body) : 0;
        ch_free(s->last_event);
        s->last_event = body ? ch_malloc(len + 32) : NULL;
        if (s->last_event)
            snprintf(s->last_event, len + 32, "event: error\ndata: %s\n\n", body);
        ch_free(body);
        sse_free_queue(s);
        s->overflow = true;
        sse_pump(s);
    } else {
        struct poll_req *p = (struct poll_req *)w;
        p->fail = code;
        p->fail_err = *err;
        p->fail_err.oldest_rev = oldest;
        poll_answer_soon(p);
    }
}

static void fail_all(struct watch_loop *wl, int64_t lost_rev)
{
    struct ch_err err;
    ch_err_clear(&err);
    ch_err_set(&err, CONFHUB_EUNAVAIL,
               "revision %" PRId64 " could not be delivered (out of memory); resume from the last "
               "revision you received",
               lost_rev);
    ch_watch_recent_free(&wl->recent);
    ch_watch_recent_init(&wl->recent, limits_of(wl)->watch_cache_revisions,
                         limits_of(wl)->watch_cache_bytes);
    while (!h2o_linklist_is_empty(&wl->watchers)) {
        struct watcher *w = H2O_STRUCT_FROM_MEMBER(struct watcher, link, wl->watchers.next);
        watcher_unlink(w);
        if (w->kind == WK_WS) {
            struct ws_watch *ww = (struct ws_watch *)w;
            ws_send_error(ww->conn, ww->id, CONFHUB_EUNAVAIL, &err, 0);
            ws_close_conn(ww->conn, WS_CLOSE_INTERNAL, "event lost");
        } else if (w->kind == WK_SSE) {
            struct sse_stream *s = (struct sse_stream *)w;
            sse_free_queue(s);
            s->overflow = true;
            sse_pump(s);
        } else {
            struct poll_req *p = (struct poll_req *)w;
            p->events.failed = true;
            poll_answer_soon(p);
        }
    }
}

static void on_progress_tick(h2o_timeout_entry_t *entry)
{
    struct watch_loop *wl = H2O_STRUCT_FROM_MEMBER(struct watch_loop, progress_entry, entry);
    for (h2o_linklist_t *l = wl->watchers.next; l != &wl->watchers; l = l->next) {
        struct watcher *w = H2O_STRUCT_FROM_MEMBER(struct watcher, link, l);
        if (!w->busy && w->kind == WK_WS) {
            struct ws_watch *ww = (struct ws_watch *)w;
            char text[WS_ID_MAX + 64];
            int n =
                snprintf(text, sizeof(text),
                         "{\"id\":%s,\"revision\":%" PRId64 ",\"progress\":true}", ww->id, w->rev);
            ws_send_text(ww->conn, text, (size_t)n);
        } else if (!w->busy && w->kind == WK_SSE) {
            sse_progress((struct sse_stream *)w);
        }
        w->busy = false;
    }
    h2o_timeout_link(wl->loop->loop, &wl->progress_timeout, &wl->progress_entry);
}

/* ---------------------------------------------------------------- the route */

/* Reads the query's filter and start into w. *wait_ms < 0 when wait= is absent. */
static enum confhub_status parse_query(struct ch_req *req, struct watcher *w, int64_t *start,
                                       int64_t *wait_ms, struct ch_err *err)
{
    static const char *const names[] = {"ns", "section", "key", "prefix"};
    char **fields[] = {&w->filter.ns, &w->filter.section, &w->filter.key, &w->filter.prefix};
    const char *v;
    size_t len;

    for (size_t i = 0; i < 4; i++) {
        if (!ch_http_query_get(req, names[i], &v, &len))
            continue;
        char *out = ch_malloc(len + 1);
        size_t out_len = 0;
        if (!out)
            return ch_err_set(err, CONFHUB_ENOMEM, "out of memory");
        *fields[i] = out;
        if (ch_names_percent_decode(v, len, out, &out_len, err) != CONFHUB_OK)
            return ch_err_set(err, CONFHUB_EINVAL, "query parameter %s: %s", names[i], err->msg);
    }
    *start = -1;
    if (ch_http_query_get(req, "start_revision", &v, &len) && !ch_num_parse(v, len, start))
        return ch_err_set(err, CONFHUB_EINVAL, "start_revision must be an integer >= 0");
    if (*start < 0) {
        ssize_t i = h2o_find_header_by_str(&req->h2o->headers, H2O_STRLIT("last-event-id"), -1);
        if (i >= 0 && !ch_num_parse(req->h2o->headers.entries[i].value.base,
                                    req->h2o->headers.entries[i].value.len, start))
            return ch_err_set(err, CONFHUB_EINVAL, "Last-Event-ID must be a revision");
    }
    *wait_ms = -1;
    if (ch_http_query_get(req, "wait", &v, &len)) {
        /* "30s", "500ms" or "30" (seconds). */
        int64_t n = 0, scale = 1000;
        size_t digits = 0;
        while (digits < len && digits < 9 && v[digits] >= '0' && v[digits] <= '9')
            n = n * 10 + (v[digits++] - '0');
        if (len - digits == 2 && memcmp(v + digits, "ms", 2) == 0)
            scale = 1;
        else if (!(len == digits || (len - digits == 1 && v[digits] == 's')))
            digits = 0;
        if (!digits)
            return ch_err_set(err, CONFHUB_EINVAL, "wait must be like 30s, 500ms or 30");
        *wait_ms = n * scale;
        if (*wait_ms > (int64_t)limits_of(req->loop->watch)->max_watch_wait * 1000)
            return ch_err_set(err, CONFHUB_EINVAL, "wait is over %zus (limit max-watch-wait)",
                              limits_of(req->loop->watch)->max_watch_wait);
    }
    return CONFHUB_OK;
}

static bool wants_sse(const h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_ACCEPT, -1);
    return i >= 0 &&
           h2o_strstr(req->headers.entries[i].value.base, req->headers.entries[i].value.len,
                      H2O_STRLIT("text/event-stream")) != SIZE_MAX;
}

static enum confhub_status start_sse(struct ch_req *req, struct sse_stream *s, int64_t start,
                                     struct ch_resp *resp, struct ch_err *err)
{
    struct watch_loop *wl = req->loop->watch;
    int64_t oldest = 0;
    enum confhub_status rc;
    char rev[24];

    s->q_max = limits_of(wl)->watch_queue; /* the ring starts empty and grows up to it */
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

static enum confhub_status start_poll(struct ch_req *req, struct poll_req *p, int64_t start,
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

enum confhub_status ch_api_watch(struct ch_req *req, struct ch_resp *resp, struct ch_err *err)
{
    const char *key = NULL;
    int64_t start = -1, wait_ms = -1;
    struct watcher *w;
    enum confhub_status rc;

    if (h2o_is_websocket_handshake(req->h2o, &key) != 0)
        return ch_err_set(err, CONFHUB_EINVAL, "bad Sec-WebSocket-Key: expected 24 characters");
    if (key)
        return ws_upgrade(req, key, false, resp, err);
    if (req->h2o->upgrade.base)
        return ch_err_set(err, CONFHUB_EINVAL,
                          "a WebSocket handshake needs Sec-WebSocket-Key and Upgrade: websocket");
    if (req->loop->watch->stopping)
        return ch_err_set(err, CONFHUB_EUNAVAIL, "the server is shutting down");
    if (wants_sse(req->h2o)) {
        struct sse_stream *s = h2o_mem_alloc_shared(&req->h2o->pool, sizeof(*s), sse_dispose);
        memset(s, 0, sizeof(*s));
        s->w.kind = WK_SSE;
        s->req = req->h2o;
        w = &s->w;
    } else {
        struct poll_req *p = h2o_mem_alloc_shared(&req->h2o->pool, sizeof(*p), poll_dispose);
        memset(p, 0, sizeof(*p));
        p->w.kind = WK_POLL;
        p->req = req->h2o;
        w = &p->w;
    }
    w->wl = req->loop->watch;
    rc = parse_query(req, w, &start, &wait_ms, err);
    if (rc != CONFHUB_OK)
        return rc;
    if (w->kind == WK_SSE)
        return start_sse(req, (struct sse_stream *)w, start, resp, err);
    return start_poll(req, (struct poll_req *)w, start, wait_ms, resp, err);
}

enum confhub_status ch_api_ws_echo(struct ch_req *req, struct ch_resp *resp, struct ch_err *err)
{
    const char *key = NULL;
    if (!req->loop->server->cfg.ws_echo)
        return ch_err_set(err, CONFHUB_ENOTFOUND,
                          "the WebSocket echo endpoint is off (confhub serve --enable-ws-echo)");
    if (h2o_is_websocket_handshake(req->h2o, &key) != 0 || !key)
        return ch_err_set(err, CONFHUB_EINVAL,
                          "a WebSocket handshake needs Sec-WebSocket-Key and Upgrade: websocket");
    return ws_upgrade(req, key, true, resp, err);
}

/* ---------------------------------------------------------------- life cycle */

bool ch_http_watch_loop_init(struct http_loop *loop)
{
    struct ch_http_server *s = loop->server;
    struct watch_loop *wl = ch_calloc(1, sizeof(*wl));
    if (!wl || !ch_watch_recent_init(&wl->recent, s->limits->watch_cache_revisions,
                                     s->limits->watch_cache_bytes)) {
        ch_free(wl);
        return false;
    }
    wl->loop = loop;
    h2o_linklist_init_anchor(&wl->watchers);
    h2o_linklist_init_anchor(&wl->ws_conns);
    h2o_linklist_init_anchor(&wl->sse_streams);
    h2o_linklist_init_anchor(&wl->polls);
    h2o_multithread_register_receiver(loop->queue, &wl->receiver, on_batches);
    h2o_multithread_register_receiver(loop->queue, &wl->history, on_history);
    h2o_timeout_init(loop->loop, &wl->linger_timeout, LINGER_MS);
    h2o_timeout_init(loop->loop, &wl->progress_timeout,
                     (uint64_t)s->limits->watch_progress_interval * 1000);
    wl->progress_entry.cb = on_progress_tick;
    wl->poll_tick.cb = on_poll_tick;
    h2o_timeout_link(loop->loop, &wl->progress_timeout, &wl->progress_entry);
    loop->watch = wl;
    wl->rev = ch_model_revision(s->model);
    if (s->cfg.watch_hub && !ch_watch_hub_add_sink(s->cfg.watch_hub, sink_cb, wl,
                                                   published_revision, s->model, &wl->rev))
        return false;
    return true;
}

void ch_http_watch_loop_stop(struct http_loop *loop)
{
    struct watch_loop *wl = loop->watch;
    if (!wl)
        return;
    wl->stopping = true;
    for (h2o_linklist_t *l = wl->ws_conns.next; l != &wl->ws_conns; l = l->next) {
        struct ws_conn *c = H2O_STRUCT_FROM_MEMBER(struct ws_conn, link, l);
        if (c->ws)
            ws_close_conn(c, WS_CLOSE_GOING_AWAY, "server shutting down");
    }
    for (h2o_linklist_t *l = wl->sse_streams.next; l != &wl->sse_streams; l = l->next) {
        struct sse_stream *s = H2O_STRUCT_FROM_MEMBER(struct sse_stream, stream_link, l);
        s->end_now = true;
        watcher_unlink(&s->w);
        sse_pump(s);
    }
    for (h2o_linklist_t *l = wl->polls.next; l != &wl->polls; l = l->next)
        poll_answer(H2O_STRUCT_FROM_MEMBER(struct poll_req, stream_link, l));
    if (h2o_timeout_is_linked(&wl->progress_entry))
        h2o_timeout_unlink(&wl->progress_entry);
    if (h2o_timeout_is_linked(&wl->poll_tick))
        h2o_timeout_unlink(&wl->poll_tick);
}

void ch_http_watch_loop_free(struct http_loop *loop)
{
    struct watch_loop *wl = loop->watch;
    if (!wl)
        return;
    /* Connections that did not finish their close handshake in time. */
    while (!h2o_linklist_is_empty(&wl->ws_conns)) {
        struct ws_conn *c = H2O_STRUCT_FROM_MEMBER(struct ws_conn, link, wl->ws_conns.next);
        if (c->ws)
            ws_destroy(c); /* no lingering while stopping */
        else
            ws_final(c);
    }
    ch_watch_recent_free(&wl->recent);
    loop->watch = NULL;
    ch_free(wl); /* the hub still names it as a sink, but the writer has stopped */
}
