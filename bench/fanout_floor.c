/* SPDX-License-Identifier: MIT */
/*
 * bench/fanout_floor.c: the floor under the watch fan-out on this machine. N loopback TCP
 * connections; each round, W writer threads (the server's event loops) write one small frame
 * to each of their share of the connections, and one reader thread (the load tool) reads them
 * with epoll and timestamps each. No HTTP, no WebSocket, no allocation: the kernel's cost of
 * N sends and N receipts, which no server can beat.
 *
 *   build/bench/fanout_floor [N=10000] [ROUNDS=20] [WRITERS=2] [BYTES=270] [send|uring]
 *
 * `uring` submits each writer's sends through io_uring, a batch per system call: what a server
 * saves by not paying one system call per watcher (the TCP work stays the same).
 *
 * Latency = receipt - the moment the writers were released. Prints p50/p99/max over all
 * connections and rounds, and the writers' wall time per round.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int n_conns = 10000, rounds = 20, writers = 2, bytes = 270;
static bool use_uring;
static int *srv_fds, *cli_fds;
static atomic_int round_go; /* the round the writers may write */
static atomic_int writers_done;
static int64_t t0_us;
static int64_t write_us[2]; /* per round: the slowest writer's time */

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *what)
{
    perror(what);
    exit(2);
}

/* Takes one completion off the ring; a short or failed send ends the run. */
static void reap_send(struct io_uring *ring)
{
    struct io_uring_cqe *cqe;
    if (io_uring_wait_cqe(ring, &cqe))
        die("io_uring_wait_cqe");
    if (cqe->res != bytes) {
        fprintf(stderr, "send through io_uring: %d\n", cqe->res);
        exit(2);
    }
    io_uring_cqe_seen(ring, cqe);
}

/* One round of one writer through io_uring: fill the submission ring, submit it with one
 * system call, reap; repeat. The kernel runs the sends inline, in that call. */
static void send_all_uring(struct io_uring *ring, int id, const char *frame)
{
    unsigned queued = 0;
    for (int i = id; i < n_conns; i += writers) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
        if (!sqe) {
            io_uring_submit(ring);
            for (; queued > 0; queued--)
                reap_send(ring);
            sqe = io_uring_get_sqe(ring);
        }
        io_uring_prep_send(sqe, srv_fds[i], frame, (size_t)bytes, MSG_NOSIGNAL);
        queued++;
    }
    io_uring_submit(ring);
    for (; queued > 0; queued--)
        reap_send(ring);
}

static void *writer(void *arg)
{
    int id = (int)(intptr_t)arg;
    char frame[65536];
    struct io_uring ring;
    memset(frame, 'x', sizeof(frame));
    if (use_uring && io_uring_queue_init(4096, &ring, 0))
        die("io_uring_queue_init");
    for (int r = 1; r <= rounds; r++) {
        while (atomic_load(&round_go) < r)
            usleep(50);
        if (use_uring)
            send_all_uring(&ring, id, frame);
        else
            for (int i = id; i < n_conns; i += writers)
                if (send(srv_fds[i], frame, (size_t)bytes, MSG_NOSIGNAL) != bytes)
                    die("send");
        int64_t took = now_us() - t0_us;
        if (took > write_us[0])
            write_us[0] = took;
        atomic_fetch_add(&writers_done, 1);
    }
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        n_conns = atoi(argv[1]);
    if (argc > 2)
        rounds = atoi(argv[2]);
    if (argc > 3)
        writers = atoi(argv[3]);
    if (argc > 4)
        bytes = atoi(argv[4]);
    if (argc > 5)
        use_uring = strcmp(argv[5], "uring") == 0;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);

    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 4096) ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl))
        die("listen");
    srv_fds = calloc((size_t)n_conns, sizeof(int));
    cli_fds = calloc((size_t)n_conns, sizeof(int));
    int ep = epoll_create1(0);
    for (int i = 0; i < n_conns; i++) {
        cli_fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (cli_fds[i] < 0)
            die("socket");
        if (connect(cli_fds[i], (struct sockaddr *)&sa, sizeof(sa)) && errno != EINPROGRESS)
            die("connect");
        srv_fds[i] = accept(lfd, NULL, NULL);
        if (srv_fds[i] < 0)
            die("accept");
        setsockopt(srv_fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, cli_fds[i], &ev);
    }
    pthread_t th[64];
    for (int w = 0; w < writers && w < 64; w++)
        pthread_create(&th[w], NULL, writer, (void *)(intptr_t)w);

    int64_t *lat = calloc((size_t)n_conns * (size_t)rounds, sizeof(int64_t)),
            *wt = calloc((size_t)rounds, sizeof(int64_t));
    long n_lat = 0;
    char buf[65536];
    for (int r = 1; r <= rounds; r++) {
        usleep(200000);
        write_us[0] = 0;
        t0_us = now_us();
        atomic_store(&round_go, r);
        int got = 0;
        while (got < n_conns) {
            struct epoll_event evs[512];
            int n = epoll_wait(ep, evs, 512, 1000);
            for (int k = 0; k < n; k++) {
                ssize_t m = recv(cli_fds[evs[k].data.u32], buf, sizeof(buf), 0);
                int64_t t = now_us();
                if (m > 0) {
                    lat[n_lat++] = t - t0_us;
                    got++;
                }
            }
        }
        while (atomic_load(&writers_done) < r * writers)
            usleep(50);
        wt[r - 1] = write_us[0];
    }
    qsort(lat, (size_t)n_lat, sizeof(int64_t), cmp);
    qsort(wt, (size_t)rounds, sizeof(int64_t), cmp);
    printf("floor conns=%d rounds=%d writers=%d bytes=%d mode=%s received=%ld\n", n_conns, rounds,
           writers, bytes, use_uring ? "uring" : "send", n_lat);
    printf("latency_ms p50=%.2f p90=%.2f p99=%.2f max=%.2f\n", lat[n_lat / 2] / 1000.0,
           lat[(long)(n_lat * 0.9)] / 1000.0, lat[(long)(n_lat * 0.99)] / 1000.0,
           lat[n_lat - 1] / 1000.0);
    printf("writers_ms p50=%.2f max=%.2f\n", wt[rounds / 2] / 1000.0, wt[rounds - 1] / 1000.0);
    return 0;
}
