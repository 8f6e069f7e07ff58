/* SPDX-License-Identifier: MIT */
/*
 * http_watch_int.h: what the change feed's transport files share, and nothing else includes:
 * http_watch.c (the loop's feed, watchers, resume from history, delivery, the route, life
 * cycle), http_watch_ws.c (WebSocket), http_watch_sse.c (Server-Sent Events and long-poll)
 * and http_watch_sock.c (a connection whose socket we took from h2o). Everything here runs on
 * the loop that owns the connection.
 */
#ifndef CH_HTTP_WATCH_INT_H
#define CH_HTTP_WATCH_INT_H

#include <h2o.h>

#include "common/buf.h"
#include "http_int.h"
#include "watch.h"
#include "wsproto.h"

#define SSE_Q_MIN      4           /* frames an SSE stream's queue holds before it first grows */
#define LINGER_MS      2000        /* a closed connection reads and drops input this long */
#define WS_ID_MAX      64          /* bytes of a watch id as JSON */
#define FEED_WRITE_MAX (64 * 1024) /* bytes gathered into one socket write of a feed_sock */

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
    h2o_timeout_t linger_timeout;        /* how long a closed connection drains its input */
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

struct feed_sock;

/* What the owner of a feed_sock does; each is called on the loop, never inside a walk of the
 * loop's watchers. */
struct feed_sock_ops {
    /* Readies the next write (work deferred until now) and returns the bytes waiting, counted
     * up to FEED_WRITE_MAX; 0: nothing. */
    size_t (*prepare)(struct feed_sock *fs);
    /* Copies up to room of the waiting bytes to dst; returns how many (at least one when
     * prepare counted any). */
    size_t (*fill)(struct feed_sock *fs, char *dst, size_t room);
    /* Input arrived in fs->sock->input: consume what was used. Not called once closing. */
    void (*read)(struct feed_sock *fs);
    /* A write completed (NULL: nothing to do); must not destroy fs. */
    void (*written)(struct feed_sock *fs);
    /* The socket is closed: free the owner. */
    void (*free)(struct feed_sock *fs);
};

/*
 * A change-feed connection whose socket we took from h2o with h2o_http1_upgrade (a WebSocket,
 * an SSE stream), embedded in its owner. The owner queues what it sends and calls
 * feed_sock_pump_soon; one write at a time gathers what is waiting into a buffer that exists
 * only while the write is in flight. feed_sock_close ends it after the last write: our FIN,
 * then input is read and dropped for LINGER_MS before the socket is closed.
 */
struct feed_sock {
    h2o_socket_t *sock; /* NULL until the response head is written */
    struct watch_loop *wl;
    const struct feed_sock_ops *ops;
    char *flight;                     /* the bytes of the write in flight, or NULL */
    h2o_timeout_entry_t pump_entry;   /* zero timeout: write what is waiting */
    h2o_timeout_entry_t linger_entry; /* the end of the linger */
    bool closing;                     /* no more reads; after the last write: FIN, linger */
    bool lingering;                   /* FIN sent: input is dropped until the peer closes */
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
    struct feed_sock fs;
    h2o_linklist_t link;    /* in wl->ws_conns */
    h2o_linklist_t watches; /* struct ws_watch */
    size_t n_watches;
    h2o_linklist_t out; /* struct ws_out, in the order they go out */
    size_t n_frames;    /* change frames in out: watch-queue counts them */
    size_t own_bytes;   /* payload bytes of our own messages in out */
    struct ch_wsproto_reader rd;
    bool echo;           /* the echo endpoint: no watches */
    bool read_paused;    /* input waits in the kernel until out drains */
    bool drained;        /* change frames fell to a quarter of watch-queue: history may go on */
    bool close_queued;   /* the close frame is in out */
    uint16_t close_code; /* 0: a close frame without a code */
    const char *close_reason; /* static, or NULL */
};

/* A frame waiting in a connection's queue: a change frame, read lazily from its shared batch,
 * or a message of our own (an answer, an echo, a pong, the close frame) whose payload follows. */
struct ws_out {
    h2o_linklist_t link;          /* in conn->out */
    struct ch_watch_frame *frame; /* NULL: the payload is bytes[] */
    size_t len;                   /* payload bytes */
    size_t sent;                  /* of them, copied to a write */
    enum ch_wsproto_op op;
    bool head_sent;
    char bytes[];
};

struct sse_stream {
    struct watcher w;
    struct feed_sock fs;
    h2o_linklist_t stream_link; /* in wl->sse_streams */
    struct ch_watch_frame **q;  /* ring of q_cap frames, grown up to q_max (watch-queue) */
    size_t q_cap, q_max, q_head, q_n;
    size_t q_head_sent; /* bytes of the first queued frame already written */
    /* Text of our own written before the queued frames, ready for the wire (chunked): the
     * opening comment, a heartbeat, or the end of the body; ch_malloc'd, or NULL. */
    char *note;
    size_t note_len, note_sent;
    char *last_event; /* the error JSON a failed stream ends with (ch_malloc'd), or NULL */
    bool chunked;     /* HTTP/1.1: the body is chunked; HTTP/1.0: raw until the close */
    bool ending;      /* no more frames are queued; the body ends after the queue */
    bool failed;      /* the queue was dropped; an error event ends the body */
    bool last_queued; /* the end of the body is in the note */
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
enum confhub_status watch_parse_query(struct ch_req *req, struct watcher *w, int64_t *start,
                                      int64_t *wait_ms, struct ch_err *err);
bool watcher_has_room(const struct watcher *w);

/* ---------------------------------------------------------------- http_watch_sock.c */

void feed_sock_init(struct feed_sock *fs, struct watch_loop *wl, const struct feed_sock_ops *ops);
/* Answers req with its res.status and res.headers (h2o adds Date, Server and "Connection:
 * upgrade") and takes the socket from h2o; when the head cannot be written, fs is destroyed. */
void feed_sock_upgrade(struct feed_sock *fs, h2o_req_t *req);
/* Writes what is waiting once the loop's current work is done. */
void feed_sock_pump_soon(struct feed_sock *fs);
/* Stops reading; after what is waiting has been written: FIN, linger, close, free. */
void feed_sock_close(struct feed_sock *fs);
/* Stops or resumes reading, for an owner whose answers pile up. */
void feed_sock_pause_reading(struct feed_sock *fs, bool pause);
/* Closes the socket now and frees the owner (ops->free). */
void feed_sock_destroy(struct feed_sock *fs);

/* ---------------------------------------------------------------- http_watch_ws.c */

/* What the engine calls on a WebSocket connection: deliver, report an error, close. */
void ws_send_text(struct ws_conn *c, const char *text, size_t len);
void ws_send_error(struct ws_conn *c, const char *id, enum confhub_status code,
                   const struct ch_err *err, int64_t oldest);
void ws_deliver(struct ws_watch *ww, struct ch_watch_batch *b);
/* Starts closing: frames queued from now on are dropped, and the next write sends the close
 * frame (code 0: none; reason static or NULL). Safe while the loop walks its watchers. */
void ws_close_conn(struct ws_conn *c, uint16_t code, const char *reason);
/* *key: the Sec-WebSocket-Key of a WebSocket handshake, NULL when req is none; -1 when the
 * key is not CH_WSPROTO_KEY_LEN bytes long. */
int ws_handshake_key(h2o_req_t *req, const char **key);
enum confhub_status ws_upgrade(struct ch_req *req, const char *key, bool echo, struct ch_resp *resp,
                               struct ch_err *err);

/* ---------------------------------------------------------------- http_watch_sse.c */

/* What the engine calls on an SSE stream or a long-poll, and how the route starts one. */
void sse_deliver(struct sse_stream *s, struct ch_watch_batch *b);
/* Ends the stream now: the queue is dropped and an error event is the last thing sent, with
 * error_json (copied), or a slow-consumer error when NULL. Safe while the loop walks its
 * watchers, as is sse_finish. */
void sse_fail(struct sse_stream *s, const char *error_json);
/* Ends the stream once what is queued has been sent (the server is stopping). */
void sse_finish(struct sse_stream *s);
void sse_progress(struct sse_stream *s);
void poll_answer(struct poll_req *p);
void on_poll_tick(h2o_timeout_entry_t *entry);
void poll_answer_soon(struct poll_req *p);
void poll_deliver(struct poll_req *p, struct ch_watch_batch *b);
void poll_dispose(void *ptr);
enum confhub_status start_sse(struct ch_req *req, struct ch_resp *resp, struct ch_err *err);
enum confhub_status start_poll(struct ch_req *req, struct poll_req *p, int64_t start,
                               int64_t wait_ms, struct ch_resp *resp, struct ch_err *err);

#endif
