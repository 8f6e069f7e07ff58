/* SPDX-License-Identifier: MIT */
/*
 * http_watch_ws.c: the WebSocket transport of the change feed (GET /v1/watch with an Upgrade,
 * and the echo endpoint behind --enable-ws-echo): the handshake, RFC 6455 framing with our
 * own codec (wsproto.c) on a socket taken from h2o (http_watch_sock.c), several watches per
 * connection, frames gathered into one socket write, the close handshake. Messages and close
 * codes are in docs/watch.md; the engine is http_watch.c.
 *
 * Memory: an idle connection holds its structs and the h2o socket, nothing else. Input is
 * parsed where it lies in the socket's input buffer and consumed, so h2o frees the buffer;
 * only a fragmented message in progress has a buffer of its own. Output waits as a queue of
 * frames (a change frame references its shared batch) and is copied only into the write in
 * flight.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <h2o.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/json_util.h"
#include "common/log.h"
#include "common/names.h"
#include "common/num.h"
#include "common/timeutil.h"
#include "http_watch_int.h"

/* Our own messages waiting to be written (answers, echoes, pongs) past which the connection's
 * input is left unread: a client that sends without reading cannot grow our queue. */
#define WS_OWN_BYTES_MAX FEED_WRITE_MAX

/* ---------------------------------------------------------------- the queue */

static struct ws_conn *conn_of(struct feed_sock *fs)
{
    return H2O_STRUCT_FROM_MEMBER(struct ws_conn, fs, fs);
}

/* Queues a message of our own; out of memory closes the connection. */
static void ws_queue(struct ws_conn *c, enum ch_wsproto_op op, const char *data, size_t len)
{
    struct ws_out *o = ch_malloc(sizeof(*o) + len);
    if (!o) {
        ws_close_conn(c, CH_WSPROTO_CLOSE_INTERNAL, "out of memory");
        return;
    }
    memset(o, 0, sizeof(*o));
    o->op = op;
    o->len = len;
    if (len)
        memcpy(o->bytes, data, len);
    h2o_linklist_insert(&c->out, &o->link);
    c->own_bytes += len;
    feed_sock_pump_soon(&c->fs);
}

static void ws_out_free(struct ws_conn *c, struct ws_out *o)
{
    h2o_linklist_unlink(&o->link);
    if (o->frame) {
        ch_watch_frame_free(o->frame);
        if (--c->n_frames == watch_limits(c->fs.wl)->watch_queue / 4)
            c->drained = true;
    } else {
        c->own_bytes -= o->len;
    }
    ch_free(o);
}

void ws_send_text(struct ws_conn *c, const char *text, size_t len)
{
    if (!c->fs.closing)
        ws_queue(c, CH_WSPROTO_OP_TEXT, text, len);
}

void ws_send_error(struct ws_conn *c, const char *id, enum confhub_status code,
                   const struct ch_err *err, int64_t oldest)
{
    char *text = watch_error_json(id, code, err, oldest);
    if (text)
        ws_send_text(c, text, strlen(text));
    ch_free(text);
}

/* Every watch of the connection is behind (rc CONFHUB_OK: too many frames waiting; else the
 * frame could not be built): tell each, then close. */
static void ws_fail_slow(struct ws_conn *c, enum confhub_status rc)
{
    struct ch_err err;
    ch_err_clear(&err);
    if (rc == CONFHUB_OK)
        ch_err_set(&err, CONFHUB_ETOOBIG,
                   "slow consumer: %zu frames are waiting to be sent (limit watch-queue); "
                   "resume from the last revision you received",
                   c->n_frames);
    else
        ch_err_set(&err, CONFHUB_ENOMEM,
                   "out of memory; resume from the last revision you received");
    ch_log(CH_LOG_WARN, "watch", "closing a WebSocket: %s", err.msg);
    for (h2o_linklist_t *l = c->watches.next; l != &c->watches; l = l->next) {
        struct ws_watch *x = H2O_STRUCT_FROM_MEMBER(struct ws_watch, conn_link, l);
        ws_send_error(c, x->id, err.code, &err, 0);
    }
    /* The frames still waiting are dropped when the close is queued, so the client gets these
     * errors and the close soon; the close reason says it all. */
    ws_close_conn(c, CH_WSPROTO_CLOSE_POLICY,
                  rc == CONFHUB_OK ? "slow consumer: resume from the last revision you received"
                                   : "out of memory: resume from the last revision you received");
}

void ws_deliver(struct ws_watch *ww, struct ch_watch_batch *b)
{
    struct ws_conn *c = ww->conn;
    struct ch_watch_frame *f = NULL;
    struct ws_out *o;
    char head[CH_WATCH_HEAD_MAX];
    int n = snprintf(head, sizeof(head), "{\"id\":%s,\"revision\":%" PRId64 ",\"events\":[", ww->id,
                     b->revision);
    enum confhub_status rc = ch_watch_frame_new(b, &ww->w.filter, head, (size_t)n, "]}", 2, &f);
    if (c->fs.closing || (rc == CONFHUB_OK && !f)) {
        ch_watch_frame_free(f);
        return;
    }
    if (rc != CONFHUB_OK || c->n_frames >= watch_limits(c->fs.wl)->watch_queue) {
        ch_watch_frame_free(f);
        ws_fail_slow(c, rc);
        return;
    }
    o = ch_calloc(1, sizeof(*o));
    if (!o) {
        ch_watch_frame_free(f);
        ws_close_conn(c, CH_WSPROTO_CLOSE_INTERNAL, "out of memory");
        return;
    }
    o->frame = f;
    o->op = CH_WSPROTO_OP_TEXT;
    o->len = ch_watch_frame_size(f);
    h2o_linklist_insert(&c->out, &o->link);
    c->n_frames++;
    ww->w.busy = true;
    feed_sock_pump_soon(&c->fs);
}

static void ws_watch_free(struct ws_watch *ww)
{
    watcher_release(&ww->w);
    h2o_linklist_unlink(&ww->conn_link);
    ww->conn->n_watches--;
    ch_watch_filter_clear(&ww->w.filter);
    ch_free(ww);
}

void ws_close_conn(struct ws_conn *c, uint16_t code, const char *reason)
{
    if (c->fs.closing)
        return;
    c->close_code = code;
    c->close_reason = reason;
    feed_sock_close(&c->fs); /* ws_prepare queues the close frame */
}

/* The close, from ws_prepare: not in ws_close_conn, which may run while the loop walks its
 * watchers. The watches go, and so do the change frames not yet started: the close frame
 * follows what is being written and our own messages (the errors that explain the close). */
static void ws_queue_close(struct ws_conn *c)
{
    char payload[CH_WSPROTO_CONTROL_MAX];
    h2o_linklist_t *l = c->out.next;
    while (!h2o_linklist_is_empty(&c->watches))
        ws_watch_free(H2O_STRUCT_FROM_MEMBER(struct ws_watch, conn_link, c->watches.next));
    while (l != &c->out) {
        struct ws_out *o = H2O_STRUCT_FROM_MEMBER(struct ws_out, link, l);
        l = l->next;
        if (o->frame && !o->head_sent)
            ws_out_free(c, o);
    }
    c->close_queued = true;
    ws_queue(c, CH_WSPROTO_OP_CLOSE, payload,
             ch_wsproto_close_payload(payload, c->close_code, c->close_reason));
}

/* ---------------------------------------------------------------- writing (feed_sock_ops) */

static size_t ws_prepare(struct feed_sock *fs)
{
    struct ws_conn *c = conn_of(fs);
    size_t need = 0;
    if (fs->closing && !c->close_queued)
        ws_queue_close(c);
    for (h2o_linklist_t *l = c->out.next; l != &c->out && need < FEED_WRITE_MAX; l = l->next) {
        struct ws_out *o = H2O_STRUCT_FROM_MEMBER(struct ws_out, link, l);
        need += (o->head_sent ? 0 : CH_WSPROTO_HEADER_MAX) + o->len - o->sent;
    }
    return need < FEED_WRITE_MAX ? need : FEED_WRITE_MAX;
}

/* Copies frames, header then payload, until room runs out; a frame cut by the end of one write
 * goes on in the next (only its first piece carries a header). */
static size_t ws_fill(struct feed_sock *fs, char *dst, size_t room)
{
    struct ws_conn *c = conn_of(fs);
    size_t len = 0;
    while (!h2o_linklist_is_empty(&c->out)) {
        struct ws_out *o = H2O_STRUCT_FROM_MEMBER(struct ws_out, link, c->out.next);
        size_t n;
        bool done;
        if (!o->head_sent) {
            if (room - len < CH_WSPROTO_HEADER_MAX)
                break;
            len += ch_wsproto_header((uint8_t *)dst + len, o->op, o->len);
            o->head_sent = true;
        }
        if (o->frame) {
            n = ch_watch_frame_read(o->frame, dst + len, room - len, &done);
        } else {
            n = o->len - o->sent < room - len ? o->len - o->sent : room - len;
            if (n)
                memcpy(dst + len, o->bytes + o->sent, n);
            done = o->sent + n == o->len;
        }
        o->sent += n;
        len += n;
        if (!done)
            break;
        ws_out_free(c, o);
    }
    return len;
}

static void ws_read(struct feed_sock *fs);

static void ws_written(struct feed_sock *fs)
{
    struct ws_conn *c = conn_of(fs);
    if (c->drained) {
        /* Drained enough: watches reading history may have their next page. */
        c->drained = false;
        for (h2o_linklist_t *l = c->watches.next; l != &c->watches; l = l->next) {
            struct ws_watch *x = H2O_STRUCT_FROM_MEMBER(struct ws_watch, conn_link, l);
            if (x->w.want_page)
                watcher_next_page(&x->w);
        }
    }
    if (c->read_paused && c->own_bytes < WS_OWN_BYTES_MAX && !fs->closing) {
        c->read_paused = false;
        feed_sock_pause_reading(fs, false);
        ws_read(fs); /* what waited in the input buffer */
    }
}

static void ws_free(struct feed_sock *fs)
{
    struct ws_conn *c = conn_of(fs);
    while (!h2o_linklist_is_empty(&c->watches))
        ws_watch_free(H2O_STRUCT_FROM_MEMBER(struct ws_watch, conn_link, c->watches.next));
    while (!h2o_linklist_is_empty(&c->out))
        ws_out_free(c, H2O_STRUCT_FROM_MEMBER(struct ws_out, link, c->out.next));
    ch_wsproto_reader_free(&c->rd);
    h2o_linklist_unlink(&c->link);
    ch_free(c);
}

/* ---------------------------------------------------------------- watch requests */

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
    if (c->n_watches >= watch_limits(c->fs.wl)->max_watches_per_conn) {
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
    ww->w.wl = c->fs.wl;
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

/* ---------------------------------------------------------------- reading */

static void ws_on_message(struct ws_conn *c, const struct ch_wsproto_event *ev)
{
    if (c->echo) {
        ws_queue(c, ev->op, ev->data, ev->len);
    } else if (ev->op == CH_WSPROTO_OP_BINARY) {
        struct ch_err err;
        ch_err_clear(&err);
        ch_err_set(&err, CONFHUB_EINVAL, "watch requests are JSON text messages, not binary");
        ws_send_error(c, NULL, CONFHUB_EINVAL, &err, 0);
    } else {
        ws_handle_message(c, ev->data, ev->len);
    }
}

static void ws_on_event(struct ws_conn *c, enum ch_wsproto_result res,
                        const struct ch_wsproto_event *ev)
{
    switch (res) {
    case CH_WSPROTO_MESSAGE:
        ws_on_message(c, ev);
        break;
    case CH_WSPROTO_PING:
        ws_queue(c, CH_WSPROTO_OP_PONG, ev->data, ev->len);
        break;
    case CH_WSPROTO_CLOSE:
        ws_close_conn(c, ev->code, NULL); /* echo the peer's code (RFC 6455 section 5.5.1) */
        break;
    case CH_WSPROTO_FAIL:
        ch_log(CH_LOG_DEBUG, "watch", "failing a WebSocket: %s", ev->reason);
        ws_close_conn(c, ev->code, ev->reason);
        break;
    case CH_WSPROTO_PONG: /* we send no pings; an unsolicited pong is allowed and ignored */
    case CH_WSPROTO_NONE:
        break;
    }
}

/* Reads the frames in the socket's input where they lie, handling each before it is consumed;
 * a partial frame stays for the next read. Stops reading while our answers pile up. */
static void ws_read(struct feed_sock *fs)
{
    struct ws_conn *c = conn_of(fs);
    h2o_buffer_t *in = fs->sock->input;
    size_t off = 0;
    if (!in->size)
        return; /* no buffer at all: h2o freed it */
    while (!fs->closing) {
        struct ch_wsproto_event ev;
        size_t used;
        if (c->own_bytes >= WS_OWN_BYTES_MAX) {
            c->read_paused = true;
            feed_sock_pause_reading(fs, true); /* ws_written resumes */
            break;
        }
        enum ch_wsproto_result res =
            ch_wsproto_read(&c->rd, in->bytes + off, in->size - off, &used, &ev);
        if (res == CH_WSPROTO_NONE && used == 0)
            break;
        ws_on_event(c, res, &ev);
        off += used;
    }
    /* Once closing, whatever else the peer sent is dropped unread. */
    h2o_buffer_consume(&fs->sock->input, fs->closing ? in->size : off);
}

static const struct feed_sock_ops ws_ops = {
    .prepare = ws_prepare,
    .fill = ws_fill,
    .read = ws_read,
    .written = ws_written,
    .free = ws_free,
};

/* ---------------------------------------------------------------- the handshake */

int ws_handshake_key(h2o_req_t *req, const char **key)
{
    ssize_t i;
    *key = NULL;
    /* h2o sets req->upgrade only when Connection names "upgrade" too (RFC 6455 section 4.2.1). */
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) || !req->upgrade.base ||
        !h2o_lcstris(req->upgrade.base, req->upgrade.len, H2O_STRLIT("websocket")))
        return 0;
    i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-websocket-key"), -1);
    if (i < 0)
        return 0;
    if (req->headers.entries[i].value.len != CH_WSPROTO_KEY_LEN)
        return -1;
    *key = req->headers.entries[i].value.base;
    return 0;
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

/* Upgrades req to a WebSocket; echo selects the echo endpoint. */
enum confhub_status ws_upgrade(struct ch_req *req, const char *key, bool echo, struct ch_resp *resp,
                               struct ch_err *err)
{
    struct watch_loop *wl = req->loop->watch;
    h2o_req_t *r = req->h2o;
    ssize_t vi = h2o_find_header_by_str(&r->headers, H2O_STRLIT("sec-websocket-version"), -1);
    char accept[CH_WSPROTO_ACCEPT_LEN + 1];
    struct ws_conn *c;

    if (vi < 0 || !h2o_memis(r->headers.entries[vi].value.base, r->headers.entries[vi].value.len,
                             H2O_STRLIT("13"))) {
        send_upgrade_required(req);
        resp->pending = true;
        return CONFHUB_OK;
    }
    if (r->version >= 0x200)
        return ch_err_set(err, CONFHUB_EINVAL, "a WebSocket handshake needs HTTP/1.1");
    if (ch_http_check_origin(req, err) != CONFHUB_OK)
        return err->code;
    if (wl->stopping)
        return ch_err_set(err, CONFHUB_EUNAVAIL, "the server is shutting down");
    if (!ch_wsproto_accept_key(key, CH_WSPROTO_KEY_LEN, accept))
        return ch_err_set(err, CONFHUB_EIO, "cannot compute Sec-WebSocket-Accept");
    c = ch_calloc(1, sizeof(*c));
    if (!c)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot accept the WebSocket: out of memory");
    feed_sock_init(&c->fs, wl, &ws_ops);
    ch_wsproto_reader_init(&c->rd, watch_limits(wl)->max_ws_message_bytes);
    c->echo = echo;
    h2o_linklist_init_anchor(&c->watches);
    h2o_linklist_init_anchor(&c->out);
    h2o_linklist_insert(&wl->ws_conns, &c->link);
    r->res.status = 101;
    r->res.reason = "Switching Protocols";
    h2o_add_header(&r->pool, &r->res.headers, H2O_TOKEN_UPGRADE, NULL, H2O_STRLIT("websocket"));
    h2o_add_header_by_str(&r->pool, &r->res.headers, H2O_STRLIT("sec-websocket-accept"), 0, NULL,
                          h2o_strdup(&r->pool, accept, CH_WSPROTO_ACCEPT_LEN).base,
                          CH_WSPROTO_ACCEPT_LEN);
    feed_sock_upgrade(&c->fs, r);
    resp->pending = true;
    return CONFHUB_OK;
}
