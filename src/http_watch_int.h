/* SPDX-License-Identifier: MIT */
/*
 * http_watch_int.h: what the change feed's transport files share, and nothing else includes:
 * http_watch.c (the loop's feed, watchers, resume from history, delivery, the route, life
 * cycle), http_watch_ws.c (WebSocket) and http_watch_sse.c (Server-Sent Events and
 * long-poll). Everything here runs on the loop that owns the connection.
 */
#ifndef CH_HTTP_WATCH_INT_H
#define CH_HTTP_WATCH_INT_H

#include <h2o.h>
#include <h2o/websocket.h>

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

/* ---------------------------------------------------------------- http_watch.c */

/* The watcher life cycle and helpers every transport uses; each is described where it is
 * defined. */
const struct ch_limits *watch_limits(struct watch_loop *wl);
char *watch_error_json(const char *id, enum confhub_status code, const struct ch_err *err,
                       int64_t oldest);
void watcher_unlink(struct watcher *w);
void watcher_release(struct watcher *w);
void watcher_next_page(struct watcher *w);
void watcher_link(struct watcher *w);
enum confhub_status watcher_begin(struct watcher *w, int64_t start, struct ch_err *err,
                                  int64_t *oldest);
bool watcher_has_room(const struct watcher *w);

/* ---------------------------------------------------------------- http_watch_ws.c */

/* What the engine calls on a WebSocket connection: deliver, report an error, close. */
void ws_send_text(struct ws_conn *c, const char *text, size_t len);
void ws_send_error(struct ws_conn *c, const char *id, enum confhub_status code,
                   const struct ch_err *err, int64_t oldest);
void ws_deliver(struct ws_watch *ww, struct ch_watch_batch *b);
void ws_close_conn(struct ws_conn *c, uint16_t code, const char *reason);
ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                   void *user_data);
void ws_final(struct ws_conn *c);
void ws_destroy(struct ws_conn *c);
enum confhub_status ws_upgrade(struct ch_req *req, const char *key, bool echo, struct ch_resp *resp,
                               struct ch_err *err);

/* ---------------------------------------------------------------- http_watch_sse.c */

/* What the engine calls on an SSE stream or a long-poll, and how the route starts one. */
void sse_free_queue(struct sse_stream *s);
void sse_deliver(struct sse_stream *s, struct ch_watch_batch *b);
void sse_pump(struct sse_stream *s);
void sse_dispose(void *p);
void sse_progress(struct sse_stream *s);
void poll_answer(struct poll_req *p);
void on_poll_tick(h2o_timeout_entry_t *entry);
void poll_answer_soon(struct poll_req *p);
void poll_deliver(struct poll_req *p, struct ch_watch_batch *b);
void poll_dispose(void *ptr);
enum confhub_status start_sse(struct ch_req *req, struct sse_stream *s, int64_t start,
                              struct ch_resp *resp, struct ch_err *err);
enum confhub_status start_poll(struct ch_req *req, struct poll_req *p, int64_t start,
                               int64_t wait_ms, struct ch_resp *resp, struct ch_err *err);

#endif
