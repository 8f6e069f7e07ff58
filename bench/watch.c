/* SPDX-License-Identifier: MIT */
/*
 * bench/watch.c: many WebSocket or SSE watchers against one confhub server, one change
 * delivered to all of them (docs/benchmarks.md, "Watch fan-out").
 *
 *   build/bench/watch --port P --pid SERVER_PID [--transport ws|sse] [--conns N]
 *                     [--watches-per-conn W] [--rounds K] [--settle-ms MS]
 *
 * One thread, one epoll loop, non-blocking sockets; a minimal WebSocket client (handshake,
 * masked text frames, frame and fragment parser) and a minimal SSE reader (HTTP/1.1 chunked
 * body, events split on a blank line). Steps:
 *   1. read the server's VmRSS (/proc/PID/status): "before";
 *   2. open N connections (at most --ramp of them handshaking at once) and W watches on each
 *      (SSE: one stream per connection); a watcher counts as registered when the server has
 *      answered it ("created" frame, or the SSE stream's first comment);
 *   3. wait --settle-ms, read VmRSS again: "idle"; (idle - before) / watchers = KiB per idle
 *      watcher;
 *   4. K rounds: t0 = just before the PUT of one key is written to its (keep-alive) socket;
 *      each watcher's receipt time is when the bench reads the frame carrying that revision.
 *      Latency = receipt - t0 (commit + fan-out + delivery, an upper bound on
 *      commit-to-receipt). The PUT's own round trip (t0 to its answer) is printed too.
 *   5. read VmRSS once more: "after" (what delivery left allocated).
 * A benchmark, not a test: it prints figures and exits 0 unless something failed outright
 * (a watcher that did not register, an event that did not arrive, a protocol error).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

enum transport { T_WS, T_SSE };

enum conn_state { CS_CONNECTING, CS_HEADERS, CS_OPEN, CS_DEAD };

struct conn {
    int fd;
    enum conn_state state;
    bool is_put; /* the writer's connection */
    char *in;    /* bytes read, not yet parsed */
    size_t in_len, in_cap;
    char *out; /* bytes to write */
    size_t out_len, out_off;
    bool want_out;
    /* WebSocket: the message being reassembled from fragments. */
    char *msg;
    size_t msg_len, msg_cap;
    /* SSE: chunked decoding; chunk_left == 0 means a size line is next. */
    bool chunked;
    size_t chunk_left;
    bool chunk_crlf; /* the CRLF after a chunk's data is next */
    char *ev;        /* SSE text not yet split into events */
    size_t ev_len, ev_cap;
    int registered; /* watches the server has answered */
};

struct opts {
    const char *host;
    int port;
    long pid;
    enum transport transport;
    int conns, watches_per_conn, rounds, ramp, settle_ms, timeout_s;
    const char *ns, *section, *key;
};

struct bench {
    struct opts o;
    int ep;
    struct conn *conns; /* o.conns watchers' connections, then the writer's */
    struct conn *put;
    long registered; /* watches answered */
    long errors;     /* error frames, closed connections, bad answers */
    /* The round in progress. */
    int64_t t0_us, ack_us;
    long put_rev;        /* the PUT's revision, once answered; 0 before */
    long round_got;      /* event frames received this round (any revision above last_rev) */
    long last_rev;       /* the previous round's revision */
    long lat_cap;        /* slots in lat_us and lat_rev */
    int64_t *lat_us;     /* this round's receipts: latency */
    long *lat_rev;       /* and revision */
    int64_t *all_lat_us; /* every round's receipts of the right revision */
    long n_all;
    long stray; /* receipts of another revision */
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *what)
{
    fprintf(stderr, "bench/watch: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        die("realloc");
    return p;
}

/* Appends n bytes to a growing buffer. */
static void grow_add(char **buf, size_t *len, size_t *cap, const char *src, size_t n)
{
    if (*len + n > *cap) {
        size_t c = *cap ? *cap : 512;
        while (c < *len + n)
            c *= 2;
        *buf = xrealloc(*buf, c);
        *cap = c;
    }
    memcpy(*buf + *len, src, n);
    *len += n;
}

/* The server's resident set in KiB, or -1. */
static long rss_kib(long pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

/* CPU time (user + system) the process has used, in ms, or -1. */
static long cpu_ms(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the fields after the command name */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (long)((ut + st) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

/* Raises this process's open-file limit as far as it goes (the hard limit, or above it when
 * allowed). */
static void raise_nofile(long want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        die("getrlimit");
    if ((long)rl.rlim_cur >= want)
        return;
    struct rlimit up = {(rlim_t)want, rl.rlim_max > (rlim_t)want ? rl.rlim_max : (rlim_t)want};
    if (setrlimit(RLIMIT_NOFILE, &up) != 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
        if ((long)rl.rlim_cur < want)
            fprintf(stderr, "bench/watch: open-file limit %ld is below the %ld needed\n",
                    (long)rl.rlim_cur, want);
    }
}

static void ep_set(struct bench *b, struct conn *c, bool add)
{
    struct epoll_event ev = {.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(b->ep, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &ev) != 0)
        die("epoll_ctl");
}

/* Writes what is queued; asks for EPOLLOUT while some remains. */
static void flush_out(struct bench *b, struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0) {
            c->state = CS_DEAD;
            b->errors++;
            return;
        }
        c->out_off += (size_t)n;
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    bool want = c->out_len > 0;
    if (want != c->want_out) {
        c->want_out = want;
        ep_set(b, c, false);
    }
}

static void queue_out(struct conn *c, const char *p, size_t n)
{
    size_t cap = c->out_len; /* the buffer is exactly as large as its content */
    grow_add(&c->out, &c->out_len, &cap, p, n);
}

static void open_conn(struct bench *b, struct conn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)b->o.port)};
    int one = 1;
    inet_pton(AF_INET, b->o.host, &sa.sin_addr);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket");
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS)
        die("connect");
    c->state = CS_CONNECTING;
    c->want_out = true;
    ep_set(b, c, true);
}

/* The request that starts a watcher's connection. */
static void send_request(struct bench *b, struct conn *c)
{
    char req[512];
    int n;
    if (b->o.transport == T_WS)
        n = snprintf(req, sizeof(req),
                     "GET /v1/watch HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     b->o.host, b->o.port);
    else
        n = snprintf(req, sizeof(req),
                     "GET /v1/watch?ns=%s&section=%s&key=%s HTTP/1.1\r\nHost: %s:%d\r\n"
                     "Accept: text/event-stream\r\n\r\n",
                     b->o.ns, b->o.section, b->o.key, b->o.host, b->o.port);
    queue_out(c, req, (size_t)n);
}

/* A masked (zero mask) client text frame. */
static void ws_queue_text(struct conn *c, const char *text, size_t len)
{
    unsigned char h[8];
    size_t hl = 2;
    h[0] = 0x81;
    if (len < 126) {
        h[1] = (unsigned char)(0x80 | len);
    } else {
        h[1] = 0x80 | 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        hl = 4;
    }
    memset(h + hl, 0, 4);
    queue_out(c, (const char *)h, hl + 4);
    queue_out(c, text, len);
}

static void ws_send_watches(struct bench *b, struct conn *c)
{
    char msg[512];
    for (int i = 0; i < b->o.watches_per_conn; i++) {
        int n = snprintf(msg, sizeof(msg),
                         "{\"watch\":{\"id\":%d,\"ns\":\"%s\",\"section\":\"%s\",\"key\":\"%s\"}}",
                         i, b->o.ns, b->o.section, b->o.key);
        ws_queue_text(c, msg, (size_t)n);
    }
}

/* The number after `"revision":` in text, or -1. */
static long find_revision(const char *text, size_t len, const char *after)
{
    const char *end = text + len;
    const char *p = memmem(text, len, after, strlen(after));
    if (!p)
        return -1;
    p += strlen(after);
    long v = 0;
    bool any = false;
    while (p < end && *p >= '0' && *p <= '9') {
        v = v * 10 + (*p++ - '0');
        any = true;
    }
    return any ? v : -1;
}

static void got_event(struct bench *b, long rev, int64_t t)
{
    if (rev <= b->last_rev || !b->lat_us || b->round_got == b->lat_cap)
        return;
    b->lat_us[b->round_got] = t - b->t0_us;
    b->lat_rev[b->round_got] = rev;
    b->round_got++;
}

/* What marks each kind of message in a transport: an event (and the text its revision
 * follows), the server's answer to a new watcher, an error. */
struct markers {
    const char *event, *revision, *registered, *error;
};
static const struct markers ws_markers = {"\"events\":[", "\"revision\":", "\"created\":true",
                                          "\"error\""};
static const struct markers sse_markers = {
    "event: change", "data: {\"revision\":", ": watching from revision", "event: error"};

/* One WebSocket message, or one SSE event (its lines, without the blank line). */
static void on_message(struct bench *b, struct conn *c, const struct markers *mk, const char *m,
                       size_t len, int64_t t)
{
    if (memmem(m, len, mk->event, strlen(mk->event))) {
        got_event(b, find_revision(m, len, mk->revision), t);
    } else if (memmem(m, len, mk->registered, strlen(mk->registered))) {
        c->registered++;
        b->registered++;
    } else if (memmem(m, len, mk->error, strlen(mk->error))) {
        if (b->errors++ < 5)
            fprintf(stderr, "bench/watch: error: %.*s\n", (int)len, m);
    }
}

/* Parses the complete frames in c->in. */
static void ws_parse(struct bench *b, struct conn *c, int64_t t)
{
    size_t off = 0;
    for (;;) {
        const unsigned char *p = (const unsigned char *)c->in + off;
        size_t avail = c->in_len - off, hl = 2;
        uint64_t plen;
        if (avail < 2)
            break;
        plen = p[1] & 0x7f;
        if (plen == 126) {
            hl = 4;
            if (avail < hl)
                break;
            plen = ((uint64_t)p[2] << 8) | p[3];
        } else if (plen == 127) {
            hl = 10;
            if (avail < hl)
                break;
            plen = 0;
            for (int i = 0; i < 8; i++)
                plen = (plen << 8) | p[2 + i];
        }
        if (p[1] & 0x80)
            hl += 4; /* a server must not mask, but skip it if it does */
        if (avail < hl + plen)
            break;
        int opcode = p[0] & 0x0f;
        bool fin = p[0] & 0x80;
        const char *payload = (const char *)p + hl;
        if (opcode == 0x8) {
            if (b->errors++ < 5)
                fprintf(stderr, "bench/watch: close frame %u\n",
                        plen >= 2
                            ? ((unsigned)(unsigned char)payload[0] << 8) | (unsigned char)payload[1]
                            : 0);
            c->state = CS_DEAD;
            return;
        }
        if (opcode == 0x1 || opcode == 0x2 || opcode == 0x0) {
            if (fin && opcode != 0 && c->msg_len == 0) {
                on_message(b, c, &ws_markers, payload, (size_t)plen, t);
            } else {
                grow_add(&c->msg, &c->msg_len, &c->msg_cap, payload, (size_t)plen);
                if (fin) {
                    on_message(b, c, &ws_markers, c->msg, c->msg_len, t);
                    c->msg_len = 0;
                }
            }
        }
        /* Pings do not come from this server; other control frames are ignored. */
        off += hl + (size_t)plen;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
}

static void sse_text(struct bench *b, struct conn *c, const char *p, size_t n, int64_t t)
{
    grow_add(&c->ev, &c->ev_len, &c->ev_cap, p, n);
    size_t off = 0;
    for (;;) {
        char *sep = memmem(c->ev + off, c->ev_len - off, "\n\n", 2);
        if (!sep)
            break;
        on_message(b, c, &sse_markers, c->ev + off, (size_t)(sep - (c->ev + off)), t);
        off = (size_t)(sep - c->ev) + 2;
    }
    memmove(c->ev, c->ev + off, c->ev_len - off);
    c->ev_len -= off;
}

/* Decodes the chunked body in c->in into SSE text. */
static void sse_parse(struct bench *b, struct conn *c, int64_t t)
{
    size_t off = 0;
    if (!c->chunked) {
        sse_text(b, c, c->in, c->in_len, t);
        c->in_len = 0;
        return;
    }
    while (off < c->in_len) {
        if (c->chunk_crlf) {
            if (c->in_len - off < 2)
                break;
            off += 2;
            c->chunk_crlf = false;
        } else if (c->chunk_left == 0) {
            char *eol = memmem(c->in + off, c->in_len - off, "\r\n", 2);
            if (!eol)
                break;
            c->chunk_left = strtoul(c->in + off, NULL, 16);
            off = (size_t)(eol - c->in) + 2;
            if (c->chunk_left == 0) {
                c->state = CS_DEAD; /* the stream ended */
                b->errors++;
                return;
            }
        } else {
            size_t n = c->in_len - off < c->chunk_left ? c->in_len - off : c->chunk_left;
            sse_text(b, c, c->in + off, n, t);
            off += n;
            c->chunk_left -= n;
            if (c->chunk_left == 0)
                c->chunk_crlf = true;
        }
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
}

/* The writer's answer: headers and a Content-Length body. */
static void put_parse(struct bench *b, struct conn *c, int64_t t)
{
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end)
        return;
    size_t hl = (size_t)(end - c->in) + 4;
    const char *cl = memmem(c->in, hl, "Content-Length:", 15);
    if (!cl)
        cl = memmem(c->in, hl, "content-length:", 15);
    size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0;
    if (c->in_len < hl + body)
        return;
    if (strncmp(c->in, "HTTP/1.1 20", 11) != 0) {
        fprintf(stderr, "bench/watch: PUT failed: %.*s\n", (int)(hl + body), c->in);
        exit(2);
    }
    b->put_rev = find_revision(c->in + hl, body, "\"revision\":");
    b->ack_us = t;
    memmove(c->in, c->in + hl + body, c->in_len - hl - body);
    c->in_len -= hl + body;
}

static void on_readable(struct bench *b, struct conn *c)
{
    for (;;) {
        if (c->in_cap - c->in_len < 16384) {
            c->in_cap = c->in_cap ? c->in_cap * 2 : 32768;
            c->in = xrealloc(c->in, c->in_cap);
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        int64_t t = now_us();
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            if (b->errors++ < 5)
                fprintf(stderr, "bench/watch: connection closed by the server\n");
            c->state = CS_DEAD;
            epoll_ctl(b->ep, EPOLL_CTL_DEL, c->fd, NULL);
            return;
        }
        c->in_len += (size_t)n;
        if (c->is_put) {
            put_parse(b, c, t);
            continue;
        }
        if (c->state == CS_HEADERS) {
            char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
            if (!end)
                continue;
            size_t hl = (size_t)(end - c->in) + 4;
            bool ok = b->o.transport == T_WS ? strncmp(c->in, "HTTP/1.1 101", 12) == 0
                                             : strncmp(c->in, "HTTP/1.1 200", 12) == 0;
            if (!ok) {
                fprintf(stderr, "bench/watch: handshake refused: %.*s\n", (int)hl, c->in);
                exit(2);
            }
            c->chunked = memmem(c->in, hl, "chunked", 7) != NULL;
            memmove(c->in, c->in + hl, c->in_len - hl);
            c->in_len -= hl;
            c->state = CS_OPEN;
            if (b->o.transport == T_WS) {
                ws_send_watches(b, c);
                flush_out(b, c);
            }
        }
        if (c->state == CS_OPEN) {
            if (b->o.transport == T_WS)
                ws_parse(b, c, t);
            else
                sse_parse(b, c, t);
        }
        if (c->state == CS_DEAD) {
            epoll_ctl(b->ep, EPOLL_CTL_DEL, c->fd, NULL);
            return;
        }
    }
}

/* One pass of the loop: waits up to timeout_ms for events. */
static void poll_once(struct bench *b, int timeout_ms)
{
    struct epoll_event evs[512];
    int n = epoll_wait(b->ep, evs, 512, timeout_ms);
    if (n < 0 && errno != EINTR)
        die("epoll_wait");
    for (int i = 0; i < n; i++) {
        struct conn *c = evs[i].data.ptr;
        if (c->state == CS_DEAD)
            continue;
        if (c->state == CS_CONNECTING && (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            int err = 0;
            socklen_t el = sizeof(err);
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
            if (err) {
                errno = err;
                die("connect");
            }
            c->state = c->is_put ? CS_OPEN : CS_HEADERS;
            if (!c->is_put)
                send_request(b, c);
        }
        if (evs[i].events & EPOLLOUT || c->out_len)
            flush_out(b, c);
        if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
            on_readable(b, c);
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct_ms(const int64_t *sorted, long n, double p)
{
    if (n == 0)
        return 0;
    long i = (long)(p * (double)(n - 1) + 0.5);
    return (double)sorted[i] / 1000.0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: watch --port P --pid SERVER_PID [--host 127.0.0.1] [--transport ws|sse]\n"
            "             [--conns 10000] [--watches-per-conn 1] [--rounds 20]\n"
            "             [--ramp 256] [--settle-ms 2000] [--timeout 60]\n");
    exit(2);
}

static void parse_opts(struct opts *o, int argc, char **argv)
{
    static const struct option longs[] = {{"host", required_argument, NULL, 'h'},
                                          {"port", required_argument, NULL, 'p'},
                                          {"pid", required_argument, NULL, 'P'},
                                          {"transport", required_argument, NULL, 't'},
                                          {"conns", required_argument, NULL, 'n'},
                                          {"watches-per-conn", required_argument, NULL, 'w'},
                                          {"rounds", required_argument, NULL, 'r'},
                                          {"ramp", required_argument, NULL, 'R'},
                                          {"settle-ms", required_argument, NULL, 's'},
                                          {"timeout", required_argument, NULL, 'T'},
                                          {NULL, 0, NULL, 0}};
    int ch;
    *o = (struct opts){.host = "127.0.0.1",
                       .transport = T_WS,
                       .conns = 10000,
                       .watches_per_conn = 1,
                       .rounds = 20,
                       .ramp = 256,
                       .settle_ms = 2000,
                       .timeout_s = 60,
                       .ns = "default",
                       .section = "bench",
                       .key = "watched"};
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 'h':
            o->host = optarg;
            break;
        case 'p':
            o->port = atoi(optarg);
            break;
        case 'P':
            o->pid = atol(optarg);
            break;
        case 't':
            if (strcmp(optarg, "ws") == 0)
                o->transport = T_WS;
            else if (strcmp(optarg, "sse") == 0)
                o->transport = T_SSE;
            else
                usage();
            break;
        case 'n':
            o->conns = atoi(optarg);
            break;
        case 'w':
            o->watches_per_conn = atoi(optarg);
            break;
        case 'r':
            o->rounds = atoi(optarg);
            break;
        case 'R':
            o->ramp = atoi(optarg);
            break;
        case 's':
            o->settle_ms = atoi(optarg);
            break;
        case 'T':
            o->timeout_s = atoi(optarg);
            break;
        default:
            usage();
        }
    }
    if (o->port <= 0 || o->pid <= 0 || o->conns <= 0 || o->watches_per_conn <= 0 || o->rounds < 0 ||
        o->ramp <= 0)
        usage();
    if (o->transport == T_SSE)
        o->watches_per_conn = 1;
}

/* Sends one PUT of the watched key; t0 is taken just before the write. */
static void send_put(struct bench *b, int round)
{
    char body[64], req[512];
    int bl = snprintf(body, sizeof(body), "\"round-%d-%lld\"", round, (long long)now_us());
    int n = snprintf(req, sizeof(req),
                     "PUT /v1/ns/%s/%s/%s HTTP/1.1\r\nHost: %s:%d\r\n"
                     "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                     b->o.ns, b->o.section, b->o.key, b->o.host, b->o.port, bl, body);
    b->put_rev = 0;
    b->t0_us = now_us();
    queue_out(b->put, req, (size_t)n);
    flush_out(b, b->put);
}

int main(int argc, char **argv)
{
    struct bench b = {0};
    parse_opts(&b.o, argc, argv);
    long watchers = (long)b.o.conns * b.o.watches_per_conn;
    raise_nofile(b.o.conns + 64);
    b.ep = epoll_create1(EPOLL_CLOEXEC);
    if (b.ep < 0)
        die("epoll_create1");
    b.conns = calloc((size_t)b.o.conns + 1, sizeof(*b.conns));
    if (!b.conns)
        die("calloc");
    b.put = &b.conns[b.o.conns];
    b.put->is_put = true;
    open_conn(&b, b.put);

    /* A first write, so the key exists and the writer's connection is up. */
    send_put(&b, 0);
    while (b.put_rev == 0)
        poll_once(&b, 100);
    b.last_rev = b.put_rev;
    usleep((useconds_t)b.o.settle_ms * 1000);
    long rss_before = rss_kib(b.o.pid);

    /* Open the watchers. */
    int64_t t_open = now_us(), deadline = t_open + (int64_t)b.o.timeout_s * 1000000;
    int opened = 0;
    while (b.registered < watchers) {
        long pending = (long)opened - b.registered / b.o.watches_per_conn;
        while (opened < b.o.conns && pending < b.o.ramp) {
            open_conn(&b, &b.conns[opened++]);
            pending++;
        }
        poll_once(&b, 10);
        if (now_us() > deadline) {
            fprintf(stderr, "bench/watch: only %ld of %ld watchers registered in %d s\n",
                    b.registered, watchers, b.o.timeout_s);
            return 1;
        }
    }
    double open_s = (double)(now_us() - t_open) / 1e6;
    /* Let the server settle (nothing is expected on the sockets meanwhile but progress). */
    for (int64_t until = now_us() + (int64_t)b.o.settle_ms * 1000; now_us() < until;)
        poll_once(&b, 50);
    long rss_idle = rss_kib(b.o.pid);

    /* Rounds. */
    b.lat_cap = watchers * 2 + 16;
    b.lat_us = calloc((size_t)b.lat_cap, sizeof(*b.lat_us));
    b.lat_rev = calloc((size_t)b.lat_cap, sizeof(*b.lat_rev));
    b.all_lat_us =
        calloc((size_t)watchers * (size_t)(b.o.rounds ? b.o.rounds : 1), sizeof(int64_t));
    int64_t *acks = calloc((size_t)(b.o.rounds ? b.o.rounds : 1), sizeof(int64_t));
    if (!b.lat_us || !b.lat_rev || !b.all_lat_us || !acks)
        die("calloc");
    long missing = 0;
    long cpu_start = cpu_ms(b.o.pid), cpu_self = cpu_ms(getpid());
    for (int r = 1; r <= b.o.rounds; r++) {
        b.round_got = 0;
        send_put(&b, r);
        int64_t round_deadline = now_us() + 10 * 1000000LL;
        while ((b.put_rev == 0 || b.round_got < watchers) && now_us() < round_deadline)
            poll_once(&b, 10);
        long got = 0;
        for (long i = 0; i < b.round_got; i++) {
            if (b.lat_rev[i] == b.put_rev)
                b.all_lat_us[b.n_all + got++] = b.lat_us[i];
            else
                b.stray++;
        }
        b.n_all += got;
        missing += watchers - got;
        acks[r - 1] = b.ack_us - b.t0_us;
        b.last_rev = b.put_rev;
        /* A pause between rounds, draining anything left. */
        for (int64_t until = now_us() + 200000; now_us() < until;)
            poll_once(&b, 20);
    }
    long rss_after = rss_kib(b.o.pid);
    long cpu_rounds = cpu_ms(b.o.pid) - cpu_start, cpu_self_rounds = cpu_ms(getpid()) - cpu_self;

    qsort(b.all_lat_us, (size_t)b.n_all, sizeof(int64_t), cmp_i64);
    qsort(acks, (size_t)b.o.rounds, sizeof(int64_t), cmp_i64);
    printf("transport=%s conns=%d watches_per_conn=%d watchers=%ld rounds=%d open_s=%.2f\n",
           b.o.transport == T_WS ? "ws" : "sse", b.o.conns, b.o.watches_per_conn, watchers,
           b.o.rounds, open_s);
    printf("delivered=%ld/%ld missing=%ld stray=%ld errors=%ld\n", b.n_all, watchers * b.o.rounds,
           missing, b.stray, b.errors);
    printf("latency_from_put_send_ms p50=%.2f p90=%.2f p99=%.2f max=%.2f\n",
           pct_ms(b.all_lat_us, b.n_all, 0.50), pct_ms(b.all_lat_us, b.n_all, 0.90),
           pct_ms(b.all_lat_us, b.n_all, 0.99), pct_ms(b.all_lat_us, b.n_all, 1.0));
    printf("put_ack_ms p50=%.2f max=%.2f\n", pct_ms(acks, b.o.rounds, 0.5),
           pct_ms(acks, b.o.rounds, 1.0));
    printf("cpu_ms_per_round server=%.1f bench=%.1f (the rounds' pauses included)\n",
           b.o.rounds ? (double)cpu_rounds / b.o.rounds : 0.0,
           b.o.rounds ? (double)cpu_self_rounds / b.o.rounds : 0.0);
    printf("rss_kib before=%ld idle=%ld after=%ld kib_per_idle_watcher=%.2f "
           "kib_per_watcher_after=%.2f\n",
           rss_before, rss_idle, rss_after, (double)(rss_idle - rss_before) / (double)watchers,
           (double)(rss_after - rss_before) / (double)watchers);
    return (missing || b.errors) ? 1 : 0;
}
