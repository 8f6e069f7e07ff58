/* SPDX-License-Identifier: MIT */
/*
 * h2o_hello: the "practical limit" peer of the read benchmark (BRIEF section 6).
 *
 * A bare libh2o-evloop 2.2.5 server: THREADS threads, each with its own h2o_evloop, h2o context
 * and SO_REUSEPORT listener on 127.0.0.1:PORT, answering GET /value with BODY as
 * application/json. It does what confhub's read path does at the very least (parse, route, send
 * fixed bytes), so confhub's read throughput is compared with it.
 *
 *   h2o_hello PORT BODY [THREADS]      (THREADS defaults to 2)
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <h2o.h>

#define MAX_THREADS 64

struct hello {
    h2o_globalconf_t config; /* shared by every loop; read-only once the threads start */
    const char *body;        /* borrowed from argv */
    size_t body_len;
    uint16_t port;
};

static struct hello app;

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")))
        return -1; /* h2o answers 404 */
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = app.body_len; /* Content-Length, not chunked, like nginx */
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_send_inline(req, app.body, app.body_len);
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    h2o_socket_t *sock;

    if (err != NULL)
        return;
    sock = h2o_evloop_socket_accept(listener);
    if (sock != NULL)
        h2o_accept(listener->data, sock);
}

static int open_listener(uint16_t port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;

    if (fd < 0)
        return -1;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, SOMAXCONN) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* One event loop: its own context and listener, so no state is shared between loops. */
static void *run_loop(void *arg)
{
    int fd = (int)(intptr_t)arg;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx = {.ctx = &ctx, .hosts = app.config.hosts};
    h2o_evloop_t *loop = h2o_evloop_create();
    h2o_socket_t *listener;

    h2o_context_init(&ctx, loop, &app.config);
    listener = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    listener->data = &accept_ctx;
    h2o_socket_read_start(listener, on_accept);
    while (h2o_evloop_run(loop, INT32_MAX) == 0)
        ;
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t tids[MAX_THREADS];
    int fds[MAX_THREADS];
    long port = argc >= 3 ? strtol(argv[1], NULL, 10) : 0;
    long n_threads = argc >= 4 ? strtol(argv[3], NULL, 10) : 2;
    h2o_pathconf_t *pathconf;

    if (argc < 3 || argc > 4 || port <= 0 || port > 65535 || n_threads < 1 ||
        n_threads > MAX_THREADS) {
        fprintf(stderr, "usage: h2o_hello PORT BODY [THREADS]  (THREADS 1-%d, default 2)\n",
                MAX_THREADS);
        return 2;
    }
    app.body = argv[2];
    app.body_len = strlen(argv[2]);
    app.port = (uint16_t)port;
    signal(SIGPIPE, SIG_IGN);

    h2o_config_init(&app.config);
    pathconf = h2o_config_register_path(
        h2o_config_register_host(&app.config, h2o_iovec_init(H2O_STRLIT("default")), 65535),
        "/value", 0);
    h2o_create_handler(pathconf, sizeof(h2o_handler_t))->on_req = on_req;

    /* Bind every listener before serving, so a port clash fails the whole program at once. */
    for (long i = 0; i < n_threads; i++) {
        fds[i] = open_listener(app.port);
        if (fds[i] < 0) {
            fprintf(stderr, "h2o_hello: cannot listen on 127.0.0.1:%u: %s\n", app.port,
                    strerror(errno));
            return 1;
        }
    }
    for (long i = 0; i < n_threads; i++) {
        if (pthread_create(&tids[i], NULL, run_loop, (void *)(intptr_t)fds[i]) != 0) {
            fprintf(stderr, "h2o_hello: cannot start thread %ld\n", i);
            return 1;
        }
    }
    fprintf(stderr, "h2o_hello: 127.0.0.1:%u, %ld loops, %zu-byte body\n", app.port, n_threads,
            app.body_len);
    for (long i = 0; i < n_threads; i++)
        pthread_join(tids[i], NULL);
    return 0;
}
