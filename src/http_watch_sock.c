/* SPDX-License-Identifier: MIT */
/*
 * http_watch_sock.c: a change-feed connection whose socket we took from h2o (struct
 * feed_sock, see http_watch_int.h): the handshake, one gathered write at a time, the close
 * after the last write, and the linger that follows it.
 *
 * Why take the socket: while h2o serves a request it keeps the request's state, the socket's
 * input buffer that holds it (8 KiB) and its memory pool (4 KiB), for as long as the response
 * runs, which for a watch is forever. h2o_http1_upgrade writes our response head, frees the
 * request and hands the bare socket over, so an idle connection costs the h2o socket and our
 * structs; its input buffer is freed whenever all input has been consumed.
 */
#include <assert.h>
#include <string.h>
#include <sys/socket.h>

#include <h2o.h>
#include <h2o/http1.h>

#include "common/alloc.h"
#include "common/log.h"
#include "http_watch_int.h"

static void on_read(h2o_socket_t *sock, const char *err);
static void pump(struct feed_sock *fs);

static void on_pump(h2o_timeout_entry_t *entry)
{
    pump(H2O_STRUCT_FROM_MEMBER(struct feed_sock, pump_entry, entry));
}

static void on_linger_timeout(h2o_timeout_entry_t *entry)
{
    feed_sock_destroy(H2O_STRUCT_FROM_MEMBER(struct feed_sock, linger_entry, entry));
}

void feed_sock_init(struct feed_sock *fs, struct watch_loop *wl, const struct feed_sock_ops *ops)
{
    memset(fs, 0, sizeof(*fs));
    fs->wl = wl;
    fs->ops = ops;
    fs->pump_entry.cb = on_pump;
    fs->linger_entry.cb = on_linger_timeout;
}

static void on_upgraded(void *data, h2o_socket_t *sock, size_t reqsize)
{
    struct feed_sock *fs = data;
    if (!sock) {
        feed_sock_destroy(fs); /* the head could not be written; h2o closed the socket */
        return;
    }
    fs->sock = sock;
    sock->data = fs;
    h2o_buffer_consume(&sock->input, reqsize); /* the request: the buffer is freed once empty */
    h2o_socket_read_start(sock, on_read);
    if (sock->input->size && !fs->closing)
        fs->ops->read(fs); /* what the client sent right behind its request */
    feed_sock_pump_soon(fs);
}

void feed_sock_upgrade(struct feed_sock *fs, h2o_req_t *req)
{
    h2o_http1_upgrade(req, NULL, 0, on_upgraded, fs);
}

void feed_sock_pump_soon(struct feed_sock *fs)
{
    /* From a zero timeout: the caller may be walking the loop's watchers, and a batch is queued
     * to all of them before the first socket write. */
    if (!h2o_timeout_is_linked(&fs->pump_entry))
        h2o_timeout_link(fs->wl->loop->loop, &fs->wl->loop->ctx.zero_timeout, &fs->pump_entry);
}

void feed_sock_close(struct feed_sock *fs)
{
    fs->closing = true;
    feed_sock_pump_soon(fs);
}

void feed_sock_pause_reading(struct feed_sock *fs, bool pause)
{
    if (!fs->sock || fs->lingering)
        return;
    if (pause)
        h2o_socket_read_stop(fs->sock);
    else
        h2o_socket_read_start(fs->sock, on_read);
}

void feed_sock_destroy(struct feed_sock *fs)
{
    if (h2o_timeout_is_linked(&fs->pump_entry))
        h2o_timeout_unlink(&fs->pump_entry);
    if (h2o_timeout_is_linked(&fs->linger_entry))
        h2o_timeout_unlink(&fs->linger_entry);
    if (fs->sock)
        h2o_socket_close(fs->sock); /* a write in flight is dropped: its callback never runs */
    ch_free(fs->flight);
    fs->ops->free(fs);
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    struct feed_sock *fs = sock->data;
    if (err) {
        feed_sock_destroy(fs); /* the peer closed or reset the connection */
        return;
    }
    if (fs->closing || fs->lingering)
        h2o_buffer_consume(&sock->input, sock->input->size); /* nothing more is read */
    else
        fs->ops->read(fs);
}

/*
 * After the last write of a closing connection: our FIN, then the socket lingers. It is not
 * closed at once because the peer may still be sending (a client failed mid-message, or its
 * answer to our close frame), and closing a socket with unread input makes the kernel send a
 * reset, which can destroy what we wrote before the peer reads it. So input is read and
 * dropped until the peer closes or LINGER_MS pass.
 */
static void linger(struct feed_sock *fs)
{
    fs->lingering = true;
    shutdown(h2o_socket_get_fd(fs->sock), SHUT_WR);
    h2o_buffer_consume(&fs->sock->input, fs->sock->input->size);
    h2o_socket_read_start(fs->sock, on_read); /* the owner may have paused reading */
    h2o_timeout_link(fs->wl->loop->loop, &fs->wl->linger_timeout, &fs->linger_entry);
}

static void on_written(h2o_socket_t *sock, const char *err)
{
    struct feed_sock *fs = sock->data;
    ch_free(fs->flight);
    fs->flight = NULL;
    if (err) {
        feed_sock_destroy(fs);
        return;
    }
    if (fs->ops->written)
        fs->ops->written(fs);
    pump(fs);
}

/*
 * Writes what is waiting: everything the owner has queued, up to FEED_WRITE_MAX, gathered into
 * one buffer and one h2o_socket_write, so a connection with many queued frames costs one
 * syscall, not one per frame. The buffer exists only while the write is in flight: an idle
 * connection holds none. With nothing waiting, a closing connection ends.
 */
static void pump(struct feed_sock *fs)
{
    size_t need, len;
    if (!fs->sock || fs->lingering || h2o_socket_is_writing(fs->sock))
        return; /* not taken yet, done, or on_written will call again */
    need = fs->ops->prepare(fs);
    if (!need) {
        if (fs->closing)
            linger(fs);
        return;
    }
    fs->flight = ch_malloc(need);
    if (!fs->flight) {
        ch_log(CH_LOG_WARN, "watch", "closing a watch connection: out of memory");
        feed_sock_destroy(fs);
        return;
    }
    len = fs->ops->fill(fs, fs->flight, need);
    assert(len > 0); /* prepare counted at least the next byte of what is waiting */
    h2o_iovec_t iov = h2o_iovec_init(fs->flight, len);
    h2o_socket_write(fs->sock, &iov, 1, on_written);
}
