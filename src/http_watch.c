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
 * The transports are in http_watch_ws.c and http_watch_sse.c, on the socket-owning connection
 * of http_watch_sock.c (http_watch_int.h joins them).
 *
 * Threads: everything here runs on the loop that owns the connection, except sink_cb (the
 * writer thread), which only allocates a message and posts it.
 *
 * Memory: a queued frame holds a reference to a shared batch, not a copy. A WebSocket
 * connection may have watch-queue frames queued and not yet written; an SSE stream and a
 * long-poll the same number; one more closes the watcher as too slow. A frame's bytes are read
 * lazily, so they are copied only into the bytes being written: a WebSocket connection's write
 * in flight (up to FEED_WRITE_MAX, see http_watch_sock.c), for a WebSocket and for an SSE
 * stream alike. It exists only while there is something to send, so an idle watcher holds
 * none.
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

static void deliver(struct watcher *w, struct ch_watch_batch *b);

/* ---------------------------------------------------------------- small helpers */

const struct ch_limits *watch_limits(struct watch_loop *wl)
{
    return wl->loop->server->limits;
}

static int64_t published_revision(void *arg)
{
    return ch_model_revision(arg);
}

/* The error object of a watch error as JSON text (ch_malloc'd), or NULL. */
char *watch_error_json(const char *id, enum confhub_status code, const struct ch_err *err,
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

void watcher_unlink(struct watcher *w)
{
    if (h2o_linklist_is_linked(&w->link))
        h2o_linklist_unlink(&w->link);
}

/* ---------------------------------------------------------------- resume from history */

static void watcher_fail(struct watcher *w, enum confhub_status code, const struct ch_err *err,
                         int64_t oldest);
static void deliver_now(struct watcher *w, struct ch_watch_batch *b);

/* Stops every delivery to w and frees what it holds; each kind's free path calls it. */
void watcher_release(struct watcher *w)
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
void watcher_next_page(struct watcher *w)
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
    j->max_events = watch_limits(wl)->watch_queue;
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
    size_t max = watch_limits(w->wl)->watch_queue;
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
void watcher_link(struct watcher *w)
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
enum confhub_status watcher_begin(struct watcher *w, int64_t start, struct ch_err *err,
                                  int64_t *oldest)
{
    struct watch_loop *wl = w->wl;
    enum confhub_status rc =
        ch_watch_filter_check(&w->filter, watch_limits(wl)->max_name_bytes, err);
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

bool watcher_has_room(const struct watcher *w)
{
    switch (w->kind) {
    case WK_WS: {
        const struct ws_conn *c = ((const struct ws_watch *)w)->conn;
        return !c->fs.closing && c->n_frames <= watch_limits(w->wl)->watch_queue / 2;
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
        char *body = watch_error_json(NULL, code, err, oldest);
        sse_fail((struct sse_stream *)w, body);
        ch_free(body);
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
    ch_watch_recent_init(&wl->recent, watch_limits(wl)->watch_cache_revisions,
                         watch_limits(wl)->watch_cache_bytes);
    while (!h2o_linklist_is_empty(&wl->watchers)) {
        struct watcher *w = H2O_STRUCT_FROM_MEMBER(struct watcher, link, wl->watchers.next);
        watcher_unlink(w);
        if (w->kind == WK_WS) {
            struct ws_watch *ww = (struct ws_watch *)w;
            ws_send_error(ww->conn, ww->id, CONFHUB_EUNAVAIL, &err, 0);
            ws_close_conn(ww->conn, CH_WSPROTO_CLOSE_INTERNAL, "event lost");
        } else if (w->kind == WK_SSE) {
            sse_fail((struct sse_stream *)w, NULL);
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
enum confhub_status watch_parse_query(struct ch_req *req, struct watcher *w, int64_t *start,
                                      int64_t *wait_ms, struct ch_err *err)
{
    static const char *const names[] = {"ns", "section", "key", "prefix"};
    char **fields[] = {&w->filter.ns, &w->filter.section, &w->filter.key, &w->filter.prefix};
    const char *v;
    size_t len;

    for (size_t i = 0; i < 4; i++) {
        enum confhub_status rc = ch_http_query_text(req, names[i], fields[i], err);
        if (rc != CONFHUB_OK)
            return rc;
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
        if (*wait_ms > (int64_t)watch_limits(req->loop->watch)->max_watch_wait * 1000)
            return ch_err_set(err, CONFHUB_EINVAL, "wait is over %zus (limit max-watch-wait)",
                              watch_limits(req->loop->watch)->max_watch_wait);
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

enum confhub_status ch_api_watch(struct ch_req *req, struct ch_resp *resp, struct ch_err *err)
{
    const char *key = NULL;
    int64_t start = -1, wait_ms = -1;
    struct poll_req *p;
    enum confhub_status rc;

    if (ws_handshake_key(req->h2o, &key) != 0)
        return ch_err_set(err, CONFHUB_EINVAL, "bad Sec-WebSocket-Key: expected 24 characters");
    if (key)
        return ws_upgrade(req, key, false, resp, err);
    if (req->h2o->upgrade.base)
        return ch_err_set(err, CONFHUB_EINVAL,
                          "a WebSocket handshake needs Sec-WebSocket-Key and Upgrade: websocket");
    if (req->loop->watch->stopping)
        return ch_err_set(err, CONFHUB_EUNAVAIL, "the server is shutting down");
    if (wants_sse(req->h2o))
        return start_sse(req, resp, err); /* on the heap: it outlives the request */
    p = h2o_mem_alloc_shared(&req->h2o->pool, sizeof(*p), poll_dispose);
    memset(p, 0, sizeof(*p));
    p->w.kind = WK_POLL;
    p->w.wl = req->loop->watch;
    p->req = req->h2o;
    rc = watch_parse_query(req, &p->w, &start, &wait_ms, err);
    if (rc != CONFHUB_OK)
        return rc;
    return start_poll(req, p, start, wait_ms, resp, err);
}

enum confhub_status ch_api_ws_echo(struct ch_req *req, struct ch_resp *resp, struct ch_err *err)
{
    const char *key = NULL;
    if (!req->loop->server->cfg.ws_echo)
        return ch_err_set(err, CONFHUB_ENOTFOUND,
                          "the WebSocket echo endpoint is off (confhub serve --enable-ws-echo)");
    if (ws_handshake_key(req->h2o, &key) != 0 || !key)
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
        ws_close_conn(H2O_STRUCT_FROM_MEMBER(struct ws_conn, link, l), CH_WSPROTO_CLOSE_GOING_AWAY,
                      "server shutting down");
    }
    for (h2o_linklist_t *l = wl->sse_streams.next; l != &wl->sse_streams; l = l->next)
        sse_finish(H2O_STRUCT_FROM_MEMBER(struct sse_stream, stream_link, l));
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
    /* Connections that did not finish their close in time (the loop runs no more). */
    while (!h2o_linklist_is_empty(&wl->ws_conns))
        feed_sock_destroy(&H2O_STRUCT_FROM_MEMBER(struct ws_conn, link, wl->ws_conns.next)->fs);
    while (!h2o_linklist_is_empty(&wl->sse_streams))
        feed_sock_destroy(
            &H2O_STRUCT_FROM_MEMBER(struct sse_stream, stream_link, wl->sse_streams.next)->fs);
    ch_watch_recent_free(&wl->recent);
    loop->watch = NULL;
    ch_free(wl); /* the hub still names it as a sink, but the writer has stopped */
}
