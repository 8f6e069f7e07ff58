/* SPDX-License-Identifier: MIT */
/*
 * http_server.c: h2o set-up, one event loop per thread, listeners, the connection limit, the
 * hand-back of finished writes, and an orderly stop (see http_server.h).
 *
 * A deferred answer's trip (a write, a history read): a loop thread hands the work to another
 * thread (the writer, a history reader) and keeps the h2o request waiting. That thread posts
 * the finished struct ch_http_deferred to the owning loop's receiver; on that loop,
 * on_deferred_done() calls its finish(), which answers the request unless the client went
 * away meanwhile: a small guard object in the request's memory pool is disposed with the
 * request and clears d->req, so finished work never touches a freed request.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <h2o.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "http_int.h"

struct write_job {
    struct ch_http_deferred deferred; /* must be first */
    struct ch_write *w;               /* owned */
};

/* Lives in the request's pool; its dispose callback runs when the request is freed. */
struct req_guard {
    struct ch_http_deferred *deferred; /* NULL once it was answered */
};

struct control_msg {
    h2o_multithread_message_t msg;

    enum { CONTROL_STOP_LISTENING, CONTROL_EXIT } what;
};

/* ---------------------------------------------------------------- listeners */

static enum confhub_status parse_listen(const char *listen, struct addrinfo **out,
                                        struct ch_err *err)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    size_t host_len;
    int rc;

    if (!colon || !colon[1])
        return ch_err_set(err, CONFHUB_EINVAL, "--listen '%s': expected ADDR:PORT", listen);
    host_len = (size_t)(colon - listen);
    if (host_len >= sizeof(host))
        return ch_err_set(err, CONFHUB_EINVAL, "--listen '%s': address too long", listen);
    memcpy(host, listen, host_len);
    host[host_len] = '\0';
    if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
        memmove(host, host + 1, host_len - 2);
        host[host_len - 2] = '\0';
    }
    rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, out);
    if (rc != 0)
        return ch_err_set(err, CONFHUB_EINVAL, "--listen '%s': %s", listen, gai_strerror(rc));
    return CONFHUB_OK;
}

static enum confhub_status open_listener(const struct addrinfo *ai, const char *addr,
                                         bool reuseport, int *fd_out, struct ch_err *err)
{
    int one = 1, reuse = reuseport;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ch_err_set(err, CONFHUB_EIO, "cannot create a socket: %s", strerror(errno));
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &reuse, sizeof(reuse)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
        int saved = errno;
        close(fd);
        return ch_err_set(err, CONFHUB_EIO, "cannot listen on %s: %s", addr, strerror(saved));
    }
    *fd_out = fd;
    return CONFHUB_OK;
}

static void on_connection_close(void *data)
{
    struct ch_http_server *server = data;
    atomic_fetch_sub(&server->connections, 1);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    struct http_loop *loop = listener->data;
    struct ch_http_server *server = loop->server;
    if (err)
        return;
    /* Take what is waiting, a bounded number at a time, so one loop cannot starve the others. */
    for (int i = 0; i < 32; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (!sock)
            return;
        if (atomic_fetch_add(&server->connections, 1) >= (long)server->limits->max_connections) {
            atomic_fetch_sub(&server->connections, 1);
            ch_log(CH_LOG_WARN, "http",
                   "connection refused: %zu connections open (limit "
                   "max-connections)",
                   server->limits->max_connections);
            h2o_socket_close(sock);
            continue;
        }
        sock->on_close.cb = on_connection_close;
        sock->on_close.data = server;
        h2o_accept(&loop->accept_ctx, sock);
    }
}

/* ---------------------------------------------------------------- writes */

static void on_req_disposed(void *p)
{
    struct req_guard *guard = p;
    if (guard->deferred)
        guard->deferred->req = NULL;
}

void ch_http_defer(struct ch_req *req, struct ch_http_deferred *d, ch_http_finish_fn *finish)
{
    /* Allocated in the request's pool: disposed (on_req_disposed) when the request is. */
    struct req_guard *guard =
        h2o_mem_alloc_shared(&req->h2o->pool, sizeof(*guard), on_req_disposed);
    guard->deferred = d;
    d->loop = req->loop;
    d->req = req->h2o;
    d->guard = guard;
    d->start_us = req->start_us;
    d->finish = finish;
    atomic_fetch_add(&req->loop->server->pending, 1);
}

void ch_http_deferred_cancel(struct ch_http_deferred *d)
{
    if (d->req)
        d->guard->deferred = NULL;
    d->req = NULL;
    atomic_fetch_sub(&d->loop->server->pending, 1);
}

void ch_http_deferred_post(struct ch_http_deferred *d)
{
    h2o_multithread_send_message(&d->loop->deferred_done, &d->msg);
}

static void on_deferred_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        struct ch_http_deferred *d =
            H2O_STRUCT_FROM_MEMBER(struct ch_http_deferred, msg.link, messages->next);
        h2o_linklist_unlink(&d->msg.link);
        struct ch_http_server *server = d->loop->server;
        if (d->req)
            d->guard->deferred = NULL; /* answered now: the request may go */
        d->finish(d);
        atomic_fetch_sub(&server->pending, 1);
    }
}

size_t ch_http_remote_address(h2o_req_t *req, char *out, size_t out_len)
{
    struct sockaddr_storage sa;
    socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&sa);
    char host[NI_MAXHOST];
    size_t n;

    out[0] = '\0';
    if (len == 0)
        return 0;
    n = h2o_socket_getnumerichost((struct sockaddr *)&sa, len, host);
    if (n == SIZE_MAX)
        return 0;
    int w =
        snprintf(out, out_len, "%.*s:%d", (int)n, host, h2o_socket_getport((struct sockaddr *)&sa));
    return w > 0 && (size_t)w < out_len ? (size_t)w : 0;
}

/* ---------------------------------------------------------------- writes */

static void write_done_cb(struct ch_write *w)
{
    /* Writer thread: hand the job back to its loop. */
    struct write_job *job = w->userdata;
    ch_http_deferred_post(&job->deferred);
}

static void finish_write(struct ch_http_deferred *d)
{
    struct write_job *job = (struct write_job *)d;
    if (d->req)
        ch_http_finish_write(d->loop, job->w, d->req, d->start_us);
    ch_write_free(job->w);
    ch_free(job);
}

enum confhub_status ch_http_submit_write(struct ch_req *req, struct ch_write *w,
                                         struct ch_resp *resp, struct ch_err *err)
{
    struct ch_http_server *server = req->loop->server;
    struct write_job *job;
    enum confhub_status rc = ch_http_actor(req, w->actor, sizeof(w->actor), err);

    if (rc != CONFHUB_OK) {
        ch_write_free(w);
        return rc;
    }
    job = ch_calloc(1, sizeof(*job));
    if (!job) {
        ch_write_free(w);
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot queue the write: out of memory");
    }
    ch_http_defer(req, &job->deferred, finish_write);
    job->w = w;
    ch_http_remote_address(req->h2o, w->remote, sizeof(w->remote));
    w->done = write_done_cb;
    w->userdata = job;
    if (ch_service_submit(server->service, w) != CONFHUB_OK) {
        ch_http_deferred_cancel(&job->deferred);
        ch_write_free(w);
        ch_free(job);
        return ch_err_set(err, CONFHUB_EUNAVAIL, "the server is shutting down");
    }
    resp->pending = true;
    return CONFHUB_OK;
}

int64_t ch_http_current_revision(struct ch_http_server *server)
{
    return ch_model_revision(server->model);
}

/* ---------------------------------------------------------------- loops */

static void on_control(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    struct http_loop *loop = H2O_STRUCT_FROM_MEMBER(struct http_loop, control, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        struct control_msg *m =
            H2O_STRUCT_FROM_MEMBER(struct control_msg, msg.link, messages->next);
        h2o_linklist_unlink(&m->msg.link);
        if (m->what == CONTROL_STOP_LISTENING && loop->listener) {
            h2o_socket_read_stop(loop->listener);
            h2o_socket_close(loop->listener);
            loop->listener = NULL;
        }
        ch_free(m);
    }
}

static void send_control(struct http_loop *loop, int what)
{
    struct control_msg *m = ch_calloc(1, sizeof(*m));
    if (!m)
        return; /* the loop still exits on the `exiting` flag at its next wake-up */
    m->what = what;
    h2o_multithread_send_message(&loop->control, &m->msg);
}

/*
 * Creates the loop's h2o objects on the loop's own thread. h2o keeps per-thread state (the
 * socket buffer prototype and its recycling allocator are thread-local), so a socket created on
 * one thread and read on another would share that thread's allocator without a lock.
 */
static void setup_loop(struct http_loop *loop)
{
    struct ch_http_server *s = loop->server;
    loop->loop = h2o_evloop_create();
    h2o_context_init(&loop->ctx, loop->loop, &s->globalconf);
    loop->accept_ctx.ctx = &loop->ctx;
    loop->accept_ctx.hosts = s->globalconf.hosts;
    loop->queue = h2o_multithread_create_queue(loop->loop);
    h2o_multithread_register_receiver(loop->queue, &loop->deferred_done, on_deferred_done);
    h2o_multithread_register_receiver(loop->queue, &loop->control, on_control);
    if (!ch_http_watch_loop_init(loop)) {
        ch_log(CH_LOG_ERROR, "http", "cannot set up watchers on loop %u: out of memory",
               loop->index);
        abort(); /* at start-up, before anything is served */
    }
    loop->listener =
        h2o_evloop_socket_create(loop->loop, loop->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    loop->listen_fd = -1; /* the socket owns it now */
    loop->listener->data = loop;
    h2o_socket_read_start(loop->listener, on_accept);
}

static void *loop_main(void *arg)
{
    struct http_loop *loop = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals go to the main thread */
    setup_loop(loop);
    h2o_barrier_wait(&loop->server->ready);
    while (!atomic_load(&loop->server->exiting))
        h2o_evloop_run(loop->loop, INT32_MAX);
    if (loop->listener) {
        h2o_socket_close(loop->listener);
        loop->listener = NULL;
    }
    ch_http_watch_loop_stop(loop);
    /* Ask idle keep-alive connections to close, and give them a few turns to do it. */
    h2o_context_request_shutdown(&loop->ctx);
    for (int i = 0; i < 10 && atomic_load(&loop->server->connections) > 0; i++)
        h2o_evloop_run(loop->loop, 10);
    for (int i = 0; i < 3; i++)
        h2o_evloop_run(loop->loop, 0); /* run what closing connections left behind */
    ch_http_watch_loop_free(loop);
    return NULL;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    struct http_loop *loop = H2O_STRUCT_FROM_MEMBER(struct http_loop, ctx, req->conn->ctx);
    return ch_http_dispatch(loop, req);
}

enum confhub_status ch_http_server_new(const struct ch_http_config *cfg, struct ch_service *service,
                                       struct ch_model *model, const struct ch_limits *limits,
                                       struct ch_http_server **out, struct ch_err *err)
{
    struct ch_http_server *s = NULL;
    struct addrinfo *ai = NULL;
    enum confhub_status rc;
    h2o_hostconf_t *host;
    h2o_pathconf_t *path;
    h2o_handler_t *handler;

    rc = parse_listen(cfg->listen, &ai, err);
    if (rc != CONFHUB_OK)
        return rc;
    s = ch_calloc(1, sizeof(*s));
    if (s)
        s->loops = ch_calloc(cfg->threads, sizeof(*s->loops));
    if (!s || !s->loops) {
        rc = ch_err_set(err, CONFHUB_ENOMEM, "cannot create the HTTP server: out of memory");
        goto done;
    }
    for (unsigned i = 0; i < cfg->threads; i++)
        s->loops[i].listen_fd = -1;
    s->cfg = *cfg;
    s->service = service;
    s->model = model;
    s->limits = limits;
    s->started_ms = ch_time_now_ms();
    if (cfg->access_log) {
        s->access_log = strcmp(cfg->access_log, "-") == 0 ? stdout : fopen(cfg->access_log, "a");
        if (!s->access_log) {
            rc = ch_err_set(err, CONFHUB_EIO, "cannot open access log '%s': %s", cfg->access_log,
                            strerror(errno));
            goto done;
        }
    }

    h2o_config_init(&s->globalconf);
    /* h2o refuses bodies over its own limit with a plain-text 413 before any handler runs.
     * Give it twice ours, so a body moderately over max-body-bytes reaches the dispatcher and
     * gets the JSON error naming the limit, while a grossly oversized one is still cut off
     * early (docs/decisions.md). */
    s->globalconf.max_request_entity_size = limits->max_body_bytes * 2;
    s->globalconf.http1.upgrade_to_http2 = 0; /* HTTP/1.1 only: BRIEF section 5 */
    s->globalconf.server_name = h2o_iovec_init(H2O_STRLIT("confhub"));
    host = h2o_config_register_host(&s->globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    path = h2o_config_register_path(host, "/", 0);
    handler = h2o_create_handler(path, sizeof(*handler));
    handler->on_req = on_req;

    /* SO_REUSEPORT would let us share a port with another server that set it too (another
     * confhub): bind once without it first, so a port in use is refused whoever holds it. */
    int probe = -1;
    rc = open_listener(ai, cfg->listen, false, &probe, err);
    if (rc != CONFHUB_OK)
        goto done;
    close(probe);
    for (unsigned i = 0; i < cfg->threads; i++) {
        struct http_loop *loop = &s->loops[i];
        int fd = -1;
        loop->server = s;
        loop->index = i;
        rc = open_listener(ai, cfg->listen, true, &fd, err);
        if (rc != CONFHUB_OK)
            goto done;
        loop->listen_fd = fd; /* bound now, so an address in use fails before anything runs */
    }
    *out = s;
    s = NULL;
    rc = CONFHUB_OK;
done:
    freeaddrinfo(ai);
    if (s)
        ch_http_server_free(s);
    return rc;
}

enum confhub_status ch_http_server_start(struct ch_http_server *s, struct ch_err *err)
{
    /* Every loop's receivers exist once start returns, so stop messages can reach them. */
    h2o_barrier_init(&s->ready, s->cfg.threads + 1);
    for (unsigned i = 0; i < s->cfg.threads; i++) {
        int rc = pthread_create(&s->loops[i].thread, NULL, loop_main, &s->loops[i]);
        if (rc != 0) {
            /* Threads already started wait at the barrier; a process that cannot start a
             * thread at start-up exits, so they are not joined. */
            return ch_err_set(err, CONFHUB_EIO, "cannot start loop thread %u: %s", i, strerror(rc));
        }
    }
    h2o_barrier_wait(&s->ready);
    s->started = true;
    return CONFHUB_OK;
}

void ch_http_server_stop_listening(struct ch_http_server *s)
{
    if (!s->started)
        return;
    for (unsigned i = 0; i < s->cfg.threads; i++)
        send_control(&s->loops[i], CONTROL_STOP_LISTENING);
}

void ch_http_server_shutdown(struct ch_http_server *s, unsigned timeout_ms)
{
    if (!s->started)
        return;
    int64_t deadline = ch_time_mono_us() + (int64_t)timeout_ms * 1000;
    while (atomic_load(&s->pending) > 0 && ch_time_mono_us() < deadline)
        usleep(1000);
    usleep(20000); /* let the loops flush the last answers to their sockets */
    atomic_store(&s->exiting, true);
    for (unsigned i = 0; i < s->cfg.threads; i++)
        send_control(&s->loops[i], CONTROL_EXIT); /* wakes the loop to see `exiting` */
    for (unsigned i = 0; i < s->cfg.threads; i++)
        pthread_join(s->loops[i].thread, NULL);
}

void ch_http_server_free(struct ch_http_server *s)
{
    if (!s)
        return;
    /* The h2o loops, contexts and configuration are left to the process exit: h2o 2.2.5
     * asserts in h2o_context_dispose() while any timer of a connection it closed is still
     * linked, and it offers no way to drain them. tests/lsan.supp names these allocations
     * (docs/decisions.md). */
    for (unsigned i = 0; s->loops && i < s->cfg.threads; i++) {
        if (s->loops[i].listen_fd >= 0)
            close(s->loops[i].listen_fd); /* bound but never handed to a loop */
    }
    if (s->access_log && s->access_log != stdout)
        fclose(s->access_log);
    ch_free(s->loops);
    ch_free(s);
}
