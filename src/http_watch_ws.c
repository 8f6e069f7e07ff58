/* SPDX-License-Identifier: MIT */
/*
 * http_watch_ws.c: the WebSocket transport of the change feed (GET /v1/watch with an Upgrade,
 * and the echo endpoint behind --enable-ws-echo): the upgrade through h2o, several watches per
 * connection, frames gathered into one socket write, the close handshake. Messages and close
 * codes are in docs/watch.md; the engine is http_watch.c.
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
#include "http_watch_int.h"

static void ws_flush_soon(struct ws_conn *c);
static void ws_pump(struct ws_conn *c);

/* ---------------------------------------------------------------- WebSocket */

void ws_send_text(struct ws_conn *c, const char *text, size_t len)
{
    struct wslay_event_msg msg = {WSLAY_TEXT_FRAME, (const uint8_t *)text, len};
    if (c->close_queued)
        return;
    if (wslay_event_queue_msg(c->ws->ws_ctx, &msg) != 0)
        return; /* out of memory or already closing: the close path follows */
    ws_flush_soon(c);
}

void ws_send_error(struct ws_conn *c, const char *id, enum confhub_status code,
                   const struct ch_err *err, int64_t oldest)
{
    char *text = watch_error_json(id, code, err, oldest);
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
        if (--c->n_out == watch_limits(c->wl)->watch_queue / 4) {
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

void ws_deliver(struct ws_watch *ww, struct ch_watch_batch *b)
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
    if (rc != CONFHUB_OK || c->n_out >= watch_limits(c->wl)->watch_queue) {
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
void ws_close_conn(struct ws_conn *c, uint16_t code, const char *reason)
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

ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
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
void ws_final(struct ws_conn *c)
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
void ws_destroy(struct ws_conn *c)
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
    if (c->n_watches >= watch_limits(c->wl)->max_watches_per_conn) {
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
enum confhub_status ws_upgrade(struct ch_req *req, const char *key, bool echo, struct ch_resp *resp,
                               struct ch_err *err)
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
    wslay_event_config_set_max_recv_msg_length(c->ws->ws_ctx,
                                               watch_limits(wl)->max_ws_message_bytes);
    /* h2o's callbacks, but our gathering send (ws_send_cb); nothing has been sent yet. */
    struct wslay_event_callbacks cbs = c->ws->ws_callbacks;
    cbs.send_callback = ws_send_cb;
    wslay_event_config_set_callbacks(c->ws->ws_ctx, &cbs);
    resp->pending = true;
    return CONFHUB_OK;
}
