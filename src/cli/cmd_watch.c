/* SPDX-License-Identifier: MIT */
/*
 * cmd_watch.c: `confhub watch [SECTION [KEY]]` (see docs/cli.md), on GET /v1/watch as
 * Server-Sent Events (docs/watch.md; why SSE: docs/decisions.md).
 *
 * The invariant: w->rev is the revision everything matching has been handled up to (printed,
 * and --exec run), so a connection that drops is resumed with start_revision=w->rev and the
 * server's watch contract (every event after it, in order, exactly once) makes the output
 * continuous. w->rev comes from --rev, else from the stream's opening comment ("watching
 * from revision N"), and moves with every change batch handled and every progress event (the
 * revision the server has looked up to for this filter; resuming from it saves re-reading
 * history that holds nothing for us).
 *
 * Reconnecting waits with exponential backoff and full jitter (BACKOFF_FIRST_MS doubling to
 * BACKOFF_MAX_MS, reset once a connection has been answered with the stream). Only the first
 * connection fails at once: before anything was shown, an unreachable server is a plain error.
 *
 * SIGINT and SIGTERM end the watch with exit 0. Their handler writes to a self-pipe, the only
 * thing a handler can reach, which both the transfer (ch_cli_http_stream's wake_fd) and the
 * backoff wait poll; an --exec command that is running is waited for first.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli_int.h"
#include "cli/output.h"
#include "cli/sse.h"
#include "common/alloc.h"
#include "common/buf.h"

#define BACKOFF_FIRST_MS 100   /* the first reconnection waits up to this */
#define BACKOFF_MAX_MS   10000 /* and no wait is longer than this */
#define IDLE_TIMEOUT_S   90    /* no byte for that long (heartbeats are 10 s by default): drop */
#define OPENING_COMMENT  "watching from revision "

/* The write end of the self-pipe. The one mutable global in the CLI: a signal handler can
 * reach nothing else (docs/decisions.md). -1 while no watch runs. */
static int wake_write_fd = -1;

/* The variables --exec sets; any of them in our own environment is dropped first, so a
 * single-event variable never leaks into a batch of several from the parent. */
static const char *const hook_vars[] = {
    "CONFHUB_REVISION", "CONFHUB_NS",    "CONFHUB_EVENTS",    "CONFHUB_SECTION", "CONFHUB_KEY",
    "CONFHUB_OP",       "CONFHUB_VALUE", "CONFHUB_OLD_VALUE", "CONFHUB_ACTOR",
};

/* One running watch; lives on ch_cli_cmd_watch's stack. */
struct watch {
    struct ch_cli *cli;
    char what[800];        /* "watch SECTION/KEY" for messages */
    int64_t rev;           /* everything matching up to it is handled; -1 until known */
    int64_t left;          /* --count: events still to print; 0 when there is no --count */
    bool finished;         /* --count events were printed: stop */
    bool retry;            /* the stream ended with an error worth reconnecting for */
    int wake_fd;           /* the self-pipe's read end: readable once a signal came */
    uint64_t rng;          /* xorshift64 state for the jitter */
    struct ch_cli_sse sse; /* the parser of the current connection */
};

static void on_signal(int sig)
{
    int saved = errno;
    char c = (char)sig;
    ssize_t n = write(wake_write_fd, &c, 1); /* non-blocking: a full pipe is already awake */

    (void)n;
    errno = saved;
}

/* Whether a signal has come (the self-pipe is readable), waiting at most timeout_ms. */
static bool woken(int wake_fd, int timeout_ms)
{
    struct pollfd p = {.fd = wake_fd, .events = POLLIN};
    struct timespec start, now;

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        int elapsed, n;
        clock_gettime(CLOCK_MONOTONIC, &now);
        elapsed =
            (int)((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
        n = poll(&p, 1, timeout_ms > elapsed ? timeout_ms - elapsed : 0);
        if (n > 0)
            return true;
        if (n == 0 || errno != EINTR)
            return false;
    }
}

/* Full jitter: a uniform wait in [0, min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2^attempt)]. */
static int backoff_ms(struct watch *w, unsigned attempt)
{
    uint64_t cap = BACKOFF_FIRST_MS;

    while (attempt-- > 0 && cap < BACKOFF_MAX_MS)
        cap *= 2;
    if (cap > BACKOFF_MAX_MS)
        cap = BACKOFF_MAX_MS;
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    return (int)(w->rng % (cap + 1));
}

/* ---- --exec ---------------------------------------------------------------------------- */

/* Appends "NAME=value" to env, value being v as the CLI's text mode shows it: a string raw
 * (as JSON when it holds a NUL, which an environment cannot carry), anything else as compact
 * JSON. Nothing when v is NULL. Returns false when out of memory. */
static bool add_var(char **env, size_t *n, const char *name, const json_t *v, const char *text)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    if (!v && !text)
        return true;
    f = open_memstream(&buf, &len);
    if (!f)
        return false;
    fprintf(f, "%s=", name);
    if (text)
        fputs(text, f);
    else if (json_is_string(v) && !memchr(json_string_value(v), '\0', json_string_length(v)))
        fputs(json_string_value(v), f);
    else
        ch_cli_output_json(f, v, 0);
    if (fclose(f) != 0) {
        free(buf);
        return false;
    }
    env[(*n)++] = buf;
    return true;
}

static bool is_hook_var(const char *entry)
{
    for (size_t i = 0; i < sizeof(hook_vars) / sizeof(hook_vars[0]); i++) {
        size_t len = strlen(hook_vars[i]);
        if (strncmp(entry, hook_vars[i], len) == 0 && entry[len] == '=')
            return true;
    }
    return false;
}

/* Frees an environment built by hook_env() (its own strings only; borrowed ones are not
 * freed: they are before index own_from). */
static void env_free(char **env, size_t own_from, size_t n)
{
    if (!env)
        return;
    for (size_t i = own_from; i < n; i++)
        free(env[i]);
    ch_free(env);
}

/*
 * The --exec command's environment: ours without stale CONFHUB_* hook variables, plus
 * CONFHUB_REVISION, CONFHUB_NS, CONFHUB_EVENTS and, for a batch of one event,
 * CONFHUB_SECTION, CONFHUB_KEY, CONFHUB_OP, CONFHUB_ACTOR, CONFHUB_VALUE (unset for a delete)
 * and CONFHUB_OLD_VALUE (unset for a key that did not exist). OUT: *own_from and *n for
 * env_free(). Returns NULL when out of memory.
 */
static char **hook_env(struct watch *w, int64_t rev, const json_t *events, size_t n_events,
                       size_t *own_from, size_t *n)
{
    size_t n_env = 0, i;
    char **env;
    char num[32];
    bool ok;

    while (environ[n_env])
        n_env++;
    env = ch_calloc(n_env + sizeof(hook_vars) / sizeof(hook_vars[0]) + 1, sizeof(*env));
    if (!env)
        return NULL;
    *n = 0;
    for (i = 0; i < n_env; i++) {
        if (!is_hook_var(environ[i]))
            env[(*n)++] = environ[i];
    }
    *own_from = *n;
    snprintf(num, sizeof(num), "%" PRId64, rev);
    ok = add_var(env, n, "CONFHUB_REVISION", NULL, num) &&
         add_var(env, n, "CONFHUB_NS", NULL, w->cli->ns);
    snprintf(num, sizeof(num), "%zu", n_events);
    ok = ok && add_var(env, n, "CONFHUB_EVENTS", NULL, num);
    if (ok && n_events == 1) {
        const json_t *ev = json_array_get(events, 0);
        bool deleted = strcmp(ch_cli_output_member_text(ev, "op"), "delete") == 0;
        ok = add_var(env, n, "CONFHUB_SECTION", json_object_get(ev, "section"), NULL) &&
             add_var(env, n, "CONFHUB_KEY", json_object_get(ev, "key"), NULL) &&
             add_var(env, n, "CONFHUB_OP", json_object_get(ev, "op"), NULL) &&
             add_var(env, n, "CONFHUB_ACTOR", json_object_get(ev, "actor"), NULL) &&
             add_var(env, n, "CONFHUB_VALUE", deleted ? NULL : json_object_get(ev, "new_value"),
                     NULL) &&
             add_var(env, n, "CONFHUB_OLD_VALUE", json_object_get(ev, "old_value"), NULL);
    }
    if (!ok) {
        env_free(env, *own_from, *n);
        return NULL;
    }
    return env;
}

/* Writes all of text to fd, the command's stdin. A command that does not read it all (it
 * exited, or closed stdin) is not an error: EPIPE ends the writing, with SIGPIPE ignored
 * meanwhile so that it cannot kill the watch. */
static void feed_stdin(int fd, const char *text, size_t len)
{
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;

    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &old);
    while (len > 0) {
        ssize_t n = write(fd, text, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        text += n;
        len -= (size_t)n;
    }
    sigaction(SIGPIPE, &old, NULL);
}

/*
 * Runs --exec for one batch: `/bin/sh -c CMD` with the hook environment and the batch frame
 * ({"revision":R,"events":[...]}, one line) on its stdin, and waits for it, so runs never
 * overlap. Only its stdin, stdout and stderr are open in it. A non-zero exit is reported on
 * stderr and the watch goes on. Returns CONFHUB_EIO when the command cannot be started.
 */
static enum confhub_status run_hook(struct watch *w, int64_t rev, const json_t *frame,
                                    struct ch_err *err)
{
    const json_t *events = json_object_get(frame, "events");
    char *const argv[] = {"sh", "-c", (char *)w->cli->exec, NULL};
    enum confhub_status rc = CONFHUB_OK;
    char **env = NULL, *text = NULL;
    size_t own_from = 0, n_env = 0, text_len = 0;
    int fds[2] = {-1, -1}, status = 0, saved;
    FILE *f = NULL;
    pid_t pid;

    env = hook_env(w, rev, events, json_array_size(events), &own_from, &n_env);
    f = open_memstream(&text, &text_len);
    if (!env || !f) {
        rc = ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", w->what);
        goto done;
    }
    ch_cli_output_json(f, frame, 0);
    fputc('\n', f);
    if (fclose(f) != 0) {
        f = NULL;
        rc = ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", w->what);
        goto done;
    }
    f = NULL;
    if (pipe2(fds, O_CLOEXEC) != 0) {
        saved = errno;
        rc = ch_err_set(err, CONFHUB_EIO, "%s: cannot run --exec command: pipe: %s", w->what,
                        strerror(saved));
        goto done;
    }
    fflush(stdout); /* what the watch printed comes before what the command prints */
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        saved = errno;
        rc = ch_err_set(err, CONFHUB_EIO, "%s: cannot run --exec command: fork: %s", w->what,
                        strerror(saved));
        goto done;
    }
    if (pid == 0) {
        /* Only async-signal-safe calls from here to execve. */
        if (fds[0] == STDIN_FILENO)
            fcntl(STDIN_FILENO, F_SETFD, 0);
        else if (dup2(fds[0], STDIN_FILENO) < 0)
            _exit(127);
        close_range(3, ~0U, 0); /* the connection, the self-pipe, anything inherited */
        execve("/bin/sh", argv, env);
        _exit(127);
    }
    close(fds[0]);
    fds[0] = -1;
    feed_stdin(fds[1], text, text_len);
    close(fds[1]);
    fds[1] = -1;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            saved = errno;
            rc = ch_err_set(err, CONFHUB_EIO, "%s: --exec command: waitpid: %s", w->what,
                            strerror(saved));
            goto done;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        fprintf(stderr,
                "confhub: %s: --exec command exited with status %d (revision %" PRId64 ")\n",
                w->what, WEXITSTATUS(status), rev);
    else if (WIFSIGNALED(status))
        fprintf(stderr,
                "confhub: %s: --exec command was killed by signal %d (revision %" PRId64 ")\n",
                w->what, WTERMSIG(status), rev);
done:
    if (f)
        fclose(f);
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    free(text);
    env_free(env, own_from, n_env);
    return rc;
}

/* ---- the stream -------------------------------------------------------------------------- */

/* Parses an event's data as a JSON object; CONFHUB_EIO when it is not one. */
static enum confhub_status parse_data(struct watch *w, const struct ch_cli_sse_event *ev,
                                      json_t **out, struct ch_err *err)
{
    *out = json_loadb(ev->data, ev->data_len, 0, NULL);
    if (json_is_object(*out))
        return CONFHUB_OK;
    json_decref(*out);
    *out = NULL;
    return ch_err_set(err, CONFHUB_EIO,
                      "%s: the server sent a '%s' event that is not a JSON "
                      "object",
                      w->what, ev->type);
}

/* A change: one revision's events. Prints them (up to --count), runs --exec, moves w->rev. */
static enum confhub_status on_change(struct watch *w, const struct ch_cli_sse_event *ev,
                                     struct ch_err *err)
{
    json_t *frame = NULL, *shown = NULL;
    const json_t *events;
    enum confhub_status rc = parse_data(w, ev, &frame, err);
    json_int_t rev;
    size_t n, i;

    if (rc != CONFHUB_OK)
        return rc;
    events = json_object_get(frame, "events");
    rev = json_integer_value(json_object_get(frame, "revision"));
    if (!json_is_array(events) || !json_is_integer(json_object_get(frame, "revision"))) {
        rc = ch_err_set(err, CONFHUB_EIO,
                        "%s: the server sent a change without revision and "
                        "events",
                        w->what);
        goto done;
    }
    if (rev <= w->rev)
        goto done; /* already handled: the contract says this cannot happen; be safe anyway */
    n = json_array_size(events);
    if (w->left && (int64_t)n > w->left)
        n = (size_t)w->left;
    for (i = 0; i < n; i++) {
        const json_t *e = json_array_get(events, i);
        if (w->cli->json) {
            ch_cli_output_json(stdout, e, 0);
            fputc('\n', stdout);
        } else {
            ch_cli_output_event_line(stdout, e);
        }
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        int saved = errno;
        rc = ch_err_set(err, CONFHUB_EIO, "%s: cannot write output: %s", w->what, strerror(saved));
        goto done;
    }
    if (w->cli->exec) {
        shown = frame;
        if (n < json_array_size(events)) {
            /* --count cut the batch: the command sees what was printed. */
            json_t *cut = json_array();
            for (i = 0; cut && i < n; i++) {
                if (json_array_append(cut, json_array_get(events, i)) != 0) {
                    json_decref(cut);
                    cut = NULL;
                }
            }
            shown = cut ? json_pack("{sIso}", "revision", rev, "events", cut) : NULL;
            if (!shown) {
                rc = ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", w->what);
                goto done;
            }
        }
        rc = run_hook(w, rev, shown, err);
        if (shown == frame)
            shown = NULL;
        if (rc != CONFHUB_OK)
            goto done;
    }
    w->rev = rev;
    if (w->left) {
        w->left -= (int64_t)n;
        w->finished = w->left == 0;
    }
done:
    json_decref(shown);
    json_decref(frame);
    return rc;
}

/* An error event: the server ended the stream with {"error":{"code","message",...}}. */
static enum confhub_status on_error_event(struct watch *w, const struct ch_cli_sse_event *ev,
                                          struct ch_err *err)
{
    json_t *body = NULL;
    const json_t *error;
    const char *code, *message;
    enum confhub_status rc = parse_data(w, ev, &body, err), status = CONFHUB_EIO;

    if (rc != CONFHUB_OK)
        return rc;
    error = json_object_get(body, "error");
    code = ch_cli_output_member_text(error, "code");
    message = ch_cli_output_member_text(error, "message");
    for (int s = 1; s < CONFHUB_STATUS_COUNT; s++) {
        if (strcmp(ch_err_code_name((enum confhub_status)s), code) == 0)
            status = (enum confhub_status)s;
    }
    if (status == CONFHUB_ECOMPACTED) {
        /* The same message a 410 gets: the CLI names the oldest revision kept. */
        struct ch_cli_resp resp = {
            .status = 410, .body = (char *)ev->data, .body_len = ev->data_len, .revision = -1};
        rc = ch_cli_http_check(&resp, w->what, err);
    } else {
        /* A slow consumer (too_large), a lost revision (unavailable) or a server in trouble
         * ends this stream only: resume. A request the server refuses would be refused again. */
        w->retry = status != CONFHUB_EINVAL && status != CONFHUB_ENOTFOUND &&
                   status != CONFHUB_EMETHOD && status != CONFHUB_EMEDIATYPE;
        rc = ch_err_set(err, w->retry ? CONFHUB_EUNAVAIL : status,
                        "%s: the server ended the stream: %s", w->what, message);
    }
    json_decref(body);
    return rc;
}

static enum confhub_status on_event(void *userdata, const struct ch_cli_sse_event *ev,
                                    struct ch_err *err)
{
    struct watch *w = userdata;
    enum confhub_status rc = CONFHUB_OK;

    if (ev->comment) {
        size_t len = strlen(OPENING_COMMENT);
        if (w->rev < 0 && ev->data_len > len && strncmp(ev->data, OPENING_COMMENT, len) == 0 &&
            ch_cli_is_revision(ev->data + len))
            w->rev = strtoll(ev->data + len, NULL, 10);
        return CONFHUB_OK;
    }
    if (strcmp(ev->type, "change") == 0) {
        rc = on_change(w, ev, err);
    } else if (strcmp(ev->type, "progress") == 0) {
        json_t *body = NULL;
        rc = parse_data(w, ev, &body, err);
        if (rc == CONFHUB_OK && json_integer_value(json_object_get(body, "revision")) > w->rev)
            w->rev = json_integer_value(json_object_get(body, "revision"));
        json_decref(body);
    } else if (strcmp(ev->type, "error") == 0) {
        rc = on_error_event(w, ev, err);
    }
    /* Any other event type is one a newer server added: ignore it, as EventSource would. */
    if (rc == CONFHUB_OK && w->finished)
        rc = CONFHUB_EIO; /* stops the transfer; ch_cli_cmd_watch() sees w->finished first */
    return rc;
}

static enum confhub_status on_data(void *userdata, const char *data, size_t len, struct ch_err *err)
{
    struct watch *w = userdata;

    return ch_cli_sse_feed(&w->sse, data, len, err);
}

/* ---- the command ------------------------------------------------------------------------- */

/* Builds "/v1/watch?ns=NS" with the filter; start_revision is added per connection. */
static enum confhub_status watch_query(struct watch *w, const char *section, const char *key,
                                       struct ch_buf *q, struct ch_err *err)
{
    const char *names[] = {"ns", "section", "key", "prefix"};
    const char *values[] = {w->cli->ns, section, key, w->cli->prefix};
    bool ok = ch_buf_adds(q, "/v1/watch?");

    for (size_t i = 0; ok && i < sizeof(names) / sizeof(names[0]); i++) {
        char *escaped;
        if (!values[i])
            continue;
        escaped = ch_cli_http_escape(w->cli->http, values[i]);
        ok = escaped && (i == 0 || ch_buf_addc(q, '&')) && ch_buf_adds(q, names[i]) &&
             ch_buf_addc(q, '=') && ch_buf_adds(q, escaped);
        ch_free(escaped);
    }
    return ok ? CONFHUB_OK : ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", w->what);
}

/* Checks the names on the command line; a bad one is a usage error before any request. */
static enum confhub_status check_args(struct watch *w, const char *section, const char *key,
                                      struct ch_err *err)
{
    enum confhub_status rc;

    if (w->cli->prefix && section)
        return ch_err_set(err, CONFHUB_EINVAL,
                          "%s: --prefix selects sections; it cannot be used with SECTION", w->what);
    rc = ch_cli_check_name(w->what, "namespace", w->cli->ns, err);
    if (rc == CONFHUB_OK && section)
        rc = ch_cli_check_name(w->what, "section", section, err);
    if (rc == CONFHUB_OK && key)
        rc = ch_cli_check_name(w->what, "key", key, err);
    if (rc == CONFHUB_OK && w->cli->exec && !w->cli->exec[0])
        rc = ch_err_set(err, CONFHUB_EINVAL, "%s: --exec needs a command", w->what);
    return rc;
}

/*
 * Connects until the watch ends: returns CONFHUB_OK after a signal or --count events, else
 * the error that ended it (a refused request, compaction, the first connection failing).
 */
static enum confhub_status watch_loop(struct watch *w, const struct ch_buf *query,
                                      struct ch_err *err)
{
    struct ch_cli_resp resp = {0};
    struct ch_buf path = {0};
    enum confhub_status rc = CONFHUB_OK;
    bool ever_connected = false;
    unsigned attempt = 0;

    for (;;) {
        struct ch_cli_stream req = {.accept = "text/event-stream",
                                    .on_data = on_data,
                                    .userdata = w,
                                    .wake_fd = w->wake_fd,
                                    .idle_timeout_s = IDLE_TIMEOUT_S};
        char start[48] = "";
        bool stopped = false, connected;
        int delay;

        if (w->rev >= 0)
            snprintf(start, sizeof(start), "&start_revision=%" PRId64, w->rev);
        ch_buf_free(&path);
        if (!ch_buf_add(&path, query->ptr, query->len) || !ch_buf_adds(&path, start)) {
            rc = ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", w->what);
            break;
        }
        req.path = path.ptr;
        ch_cli_sse_free(&w->sse);
        ch_cli_sse_init(&w->sse, CH_CLI_HTTP_MAX_BODY, on_event, w);
        w->retry = false;
        ch_err_clear(err);
        rc = ch_cli_http_stream(w->cli->http, &req, &resp, &stopped, err);
        if (stopped || w->finished) {
            rc = CONFHUB_OK;
            break;
        }
        connected = resp.status >= 200 && resp.status < 300;
        if (rc == CONFHUB_OK && resp.status && !connected) {
            rc = ch_cli_http_check(&resp, w->what, err);
            w->retry = resp.status >= 500; /* 503: the server is stopping */
        }
        if (rc == CONFHUB_OK && connected) {
            rc = ch_err_set(err, CONFHUB_EUNAVAIL, "%s: the server ended the stream", w->what);
            w->retry = true;
        }
        if (rc == CONFHUB_EUNAVAIL && !w->retry && (connected || ever_connected))
            w->retry = true; /* the connection was lost, or the server is down for a while */
        if (!w->retry || (!ever_connected && !connected))
            break;
        ever_connected = true;
        if (connected)
            attempt = 0;
        delay = backoff_ms(w, attempt);
        if (attempt < 16)
            attempt++;
        fprintf(stderr, "confhub: %s%s%s; reconnecting in %.1f s (after revision %" PRId64 ")\n",
                strncmp(err->msg, w->what, strlen(w->what)) == 0 ? "" : w->what,
                strncmp(err->msg, w->what, strlen(w->what)) == 0 ? "" : ": ", err->msg,
                delay / 1000.0, w->rev);
        if (woken(w->wake_fd, delay)) {
            rc = CONFHUB_OK;
            break;
        }
    }
    ch_cli_http_resp_clear(&resp);
    ch_buf_free(&path);
    return rc;
}

enum confhub_status ch_cli_cmd_watch(struct ch_cli *cli, struct ch_err *err)
{
    const char *section = cli->n_args > 0 ? cli->args[0] : NULL;
    const char *key = cli->n_args > 1 ? cli->args[1] : NULL;
    struct watch w = {.cli = cli, .rev = -1, .wake_fd = -1};
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
    struct ch_buf query = {0};
    struct timespec now;
    enum confhub_status rc;
    int fds[2] = {-1, -1};
    bool handlers = false;

    snprintf(w.what, sizeof(w.what), "watch%s%s%s%s", section ? " " : "", section ? section : "",
             key ? "/" : "", key ? key : "");
    w.left = cli->count;
    if (cli->rev)
        w.rev = strtoll(cli->rev, NULL, 10);
    clock_gettime(CLOCK_REALTIME, &now);
    w.rng = ((uint64_t)now.tv_nsec << 20) ^ (uint64_t)now.tv_sec ^ (uint64_t)getpid();
    if (!w.rng)
        w.rng = 1;
    rc = check_args(&w, section, key, err);
    if (rc == CONFHUB_OK)
        rc = watch_query(&w, section, key, &query, err);
    if (rc != CONFHUB_OK)
        goto done;
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        int saved = errno;
        rc = ch_err_set(err, CONFHUB_EIO, "%s: pipe: %s", w.what, strerror(saved));
        goto done;
    }
    w.wake_fd = fds[0];
    wake_write_fd = fds[1];
    /* No SA_RESTART: a signal interrupts waits, which then look at the self-pipe. */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    handlers = true;

    rc = watch_loop(&w, &query, err);
done:
    if (handlers) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    wake_write_fd = -1;
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    ch_cli_sse_free(&w.sse);
    ch_buf_free(&query);
    return rc;
}
