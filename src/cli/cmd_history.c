/* SPDX-License-Identifier: MIT */
/*
 * cmd_history.c: the history commands `confhub history`, `confhub diff` and
 * `confhub rollback` (see docs/cli.md), on GET /v1/history, GET /v1/diff and POST /v1/rollback.
 *
 * history pages through the server's answers (at most PAGE_MAX events each, linked by
 * next_cursor) until it has printed --limit events. A table needs its column widths before its
 * first line, so text mode keeps the events of every page; -o json prints each page as it
 * arrives, one event per line. diff prints the server's changes the way git diff does, in
 * colour only for a terminal. rollback never acts on a request nobody confirmed: it asks on a
 * terminal, wants --yes otherwise, and after the answer runs its dry run again, so that what it
 * applies is what it showed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli_int.h"
#include "cli/output.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/timeutil.h"

#define PAGE_MAX         1000 /* the server's largest ?limit= */
#define DEFAULT_WIDTH    80   /* a terminal whose width cannot be read */
#define MIN_CHANGE_WIDTH 20   /* the change column is never cut shorter than this */

/* ---- shared -------------------------------------------------------------------------- */

/* Checks the namespace and the optional section and key names; what prefixes messages. */
static enum confhub_status check_scope(struct ch_cli *cli, const char *what, const char *section,
                                       const char *key, struct ch_err *err)
{
    enum confhub_status rc = ch_cli_check_name(what, "namespace", cli->ns, err);

    if (rc == CONFHUB_OK && section)
        rc = ch_cli_check_name(what, "section", section, err);
    if (rc == CONFHUB_OK && key)
        rc = ch_cli_check_name(what, "key", key, err);
    return rc;
}

/* Appends "&name=value" to q, value percent-encoded; nothing when value is NULL. Returns false
 * when out of memory. */
static bool add_param(struct ch_cli *cli, struct ch_buf *q, const char *name, const char *value)
{
    char *escaped;
    bool ok;

    if (!value)
        return true;
    escaped = ch_cli_http_escape(cli->http, value);
    if (!escaped)
        return false;
    ok = ch_buf_addc(q, '&') && ch_buf_adds(q, name) && ch_buf_addc(q, '=') &&
         ch_buf_adds(q, escaped);
    ch_free(escaped);
    return ok;
}

/* Sends one request and parses its 2xx answer, a JSON object. body is JSON text or NULL.
 * OUT: *answer (json_decref) on success. */
static enum confhub_status call(struct ch_cli *cli, const char *what, const char *method,
                                const char *path, const char *body, json_t **answer,
                                struct ch_err *err)
{
    struct ch_cli_resp resp = {0};
    enum confhub_status rc;

    ch_cli_http_resp_clear(&resp);
    rc = ch_cli_http_request(cli->http, method, path, body, body ? strlen(body) : 0, NULL, &resp,
                             err);
    if (rc == CONFHUB_OK)
        rc = ch_cli_http_check(&resp, what, err);
    if (rc == CONFHUB_OK)
        rc = ch_cli_parse_answer(what, &resp, answer, err);
    ch_cli_http_resp_clear(&resp);
    return rc;
}

static void print_json_doc(const json_t *v)
{
    ch_cli_output_json(stdout, v, 2);
    fputc('\n', stdout);
}

/* ---- history ------------------------------------------------------------------------- */

/*
 * Turns the value of --since or --until into an RFC 3339 UTC time for the query: a duration
 * counts back from now ("90s", "30m", "12h", "2d"), a date is its midnight UTC, and an RFC 3339
 * time is normalised to UTC (so no '+' needs escaping). OUT: out (at least 32 bytes).
 */
static enum confhub_status time_arg(const char *option, const char *value, char *out,
                                    size_t out_len, struct ch_err *err)
{
    size_t len = strlen(value);
    int64_t ms = 0, ago = 0;
    bool ok;

    if (ch_time_parse_duration(value, &ago)) {
        ms = ch_time_now_ms() - ago;
        ok = true;
    } else if (len == 10) {
        char day[32];
        snprintf(day, sizeof(day), "%sT00:00:00Z", value);
        ok = ch_time_parse_rfc3339(day, strlen(day), &ms);
    } else {
        ok = ch_time_parse_rfc3339(value, len, &ms);
    }
    if (!ok) {
        return ch_err_set(err, CONFHUB_EINVAL,
                          "history: %s '%s': expected an RFC 3339 time (2026-11-23T08:00:00Z), a "
                          "date (2026-11-23) or a duration before now (90s, 30m, 12h, 2d)",
                          option, value);
    }
    ch_time_format_ms(ms < 0 ? 0 : ms, out, out_len);
    return CONFHUB_OK;
}

/* Builds "/v1/history?ns=NS" and every filter on the command line, without limit and cursor. */
static enum confhub_status history_query(struct ch_cli *cli, const char *what, const char *section,
                                         const char *key, struct ch_buf *q, struct ch_err *err)
{
    char since[40], until[40];
    enum confhub_status rc;
    bool ok;

    if (cli->prefix && section)
        return ch_err_set(err, CONFHUB_EINVAL,
                          "%s: --prefix selects sections; it cannot be used with SECTION", what);
    rc = check_scope(cli, what, section, key, err);
    if (rc == CONFHUB_OK && cli->since)
        rc = time_arg("--since", cli->since, since, sizeof(since), err);
    if (rc == CONFHUB_OK && cli->until)
        rc = time_arg("--until", cli->until, until, sizeof(until), err);
    if (rc != CONFHUB_OK)
        return rc;
    ok = ch_buf_adds(q, "/v1/history?order=") && ch_buf_adds(q, cli->asc ? "asc" : "desc") &&
         add_param(cli, q, "ns", cli->ns) && add_param(cli, q, "section", section) &&
         add_param(cli, q, "key", key) && add_param(cli, q, "prefix", cli->prefix) &&
         add_param(cli, q, "actor", cli->actor) && add_param(cli, q, "op", cli->op) &&
         add_param(cli, q, "from_revision", cli->from_rev) &&
         add_param(cli, q, "to_revision", cli->to_rev) &&
         add_param(cli, q, "since", cli->since ? since : NULL) &&
         add_param(cli, q, "until", cli->until ? until : NULL);
    return ok ? CONFHUB_OK : ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", what);
}

/* One table row, the event's fields ready to print. */
struct row {
    const json_t *event;
    char rev[24];
    char time[40]; /* "2026-11-23 08:00:00" (UTC), or the server's text if it does not parse */
    const char *actor, *op, *section, *key; /* borrowed from event */
    size_t target_width;                    /* of "section/key" */
};

static void fill_row(struct row *r, const json_t *event)
{
    const json_t *rev = json_object_get(event, "revision");

    r->event = event;
    snprintf(r->rev, sizeof(r->rev), "%lld",
             json_is_integer(rev) ? (long long)json_integer_value(rev) : -1LL);
    ch_cli_output_event_time(event, r->time, sizeof(r->time));
    r->actor = ch_cli_output_member_text(event, "actor");
    r->op = ch_cli_output_member_text(event, "op");
    r->section = ch_cli_output_member_text(event, "section");
    r->key = ch_cli_output_member_text(event, "key");
    r->target_width = ch_cli_output_text_width(r->section) + 1 + ch_cli_output_text_width(r->key);
}

/* Prints the change cut to at most width characters, ending in "..." when cut. */
static void print_change_cut(const json_t *event, size_t width)
{
    size_t cap = width * 4 + 8; /* room for width UTF-8 characters and then some */
    char *buf = ch_calloc(1, cap + 1);
    FILE *mem = buf ? fmemopen(buf, cap, "w") : NULL;
    size_t i, chars = 0, cut = 0;

    if (!mem) {
        ch_free(buf);
        ch_cli_output_change(stdout, event); /* out of memory: uncut rather than nothing */
        return;
    }
    ch_cli_output_change(mem, event); /* stops quietly at cap bytes */
    fclose(mem);
    buf[cap] = '\0';
    for (i = 0; buf[i]; i++) {
        if (((unsigned char)buf[i] & 0xC0) == 0x80)
            continue;
        if (chars == width - 3)
            cut = i;
        chars++;
    }
    if (chars > width) {
        fwrite(buf, 1, cut, stdout);
        fputs("...", stdout);
    } else {
        fputs(buf, stdout);
    }
    ch_free(buf);
}

/* The terminal's width in columns when stdout is a terminal, else 0 (no cutting). */
static size_t terminal_width(void)
{
    struct winsize ws;
    const char *columns = getenv("COLUMNS");

    if (!isatty(STDOUT_FILENO))
        return 0;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    if (columns && atoi(columns) > 0)
        return (size_t)atoi(columns);
    return DEFAULT_WIDTH;
}

/* Prints events as an aligned table under a header line; nothing when there are none. */
static enum confhub_status print_table(const json_t *events, struct ch_err *err)
{
    static const char *const heads[] = {"REV", "TIME (UTC)", "ACTOR", "OP", "KEY", "CHANGE"};
    size_t n = json_array_size(events), i;
    size_t w_rev = strlen(heads[0]), w_time = strlen(heads[1]), w_actor = strlen(heads[2]);
    size_t w_op = strlen(heads[3]), w_target = strlen(heads[4]);
    size_t width = terminal_width(), change_width = 0;
    struct row *rows;

    if (n == 0)
        return CONFHUB_OK;
    rows = ch_calloc(n, sizeof(*rows));
    if (!rows)
        return ch_err_set(err, CONFHUB_ENOMEM, "history: out of memory");
    for (i = 0; i < n; i++) {
        struct row *r = &rows[i];
        fill_row(r, json_array_get(events, i));
        w_rev = strlen(r->rev) > w_rev ? strlen(r->rev) : w_rev;
        w_time =
            ch_cli_output_text_width(r->time) > w_time ? ch_cli_output_text_width(r->time) : w_time;
        w_actor = ch_cli_output_text_width(r->actor) > w_actor ? ch_cli_output_text_width(r->actor)
                                                               : w_actor;
        w_op = ch_cli_output_text_width(r->op) > w_op ? ch_cli_output_text_width(r->op) : w_op;
        w_target = r->target_width > w_target ? r->target_width : w_target;
    }
    if (width) {
        size_t used = w_rev + w_time + w_actor + w_op + w_target + 5 * 2;
        change_width = width > used + MIN_CHANGE_WIDTH ? width - used - 1 : MIN_CHANGE_WIDTH;
    }

    printf("%*s  ", (int)w_rev, heads[0]);
    ch_cli_output_cell(stdout, heads[1], w_time + 2);
    ch_cli_output_cell(stdout, heads[2], w_actor + 2);
    ch_cli_output_cell(stdout, heads[3], w_op + 2);
    ch_cli_output_cell(stdout, heads[4], w_target + 2);
    printf("%s\n", heads[5]);
    for (i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        printf("%*s  ", (int)w_rev, r->rev);
        ch_cli_output_cell(stdout, r->time, w_time + 2);
        ch_cli_output_cell(stdout, r->actor, w_actor + 2);
        ch_cli_output_cell(stdout, r->op, w_op + 2);
        ch_cli_output_cell(stdout, r->section, 0);
        fputc('/', stdout);
        ch_cli_output_cell(stdout, r->key,
                           w_target + 2 - r->target_width + ch_cli_output_text_width(r->key));
        if (change_width)
            print_change_cut(r->event, change_width);
        else
            ch_cli_output_change(stdout, r->event);
        fputc('\n', stdout);
    }
    ch_free(rows);
    return CONFHUB_OK;
}

enum confhub_status ch_cli_cmd_history(struct ch_cli *cli, struct ch_err *err)
{
    const char *section = cli->n_args > 0 ? cli->args[0] : NULL;
    const char *key = cli->n_args > 1 ? cli->args[1] : NULL;
    struct ch_buf query = {0}, path = {0};
    enum confhub_status rc;
    json_t *answer = NULL, *kept = NULL;
    char *cursor = NULL;
    char what[600];
    int64_t printed = 0;
    size_t page_max = PAGE_MAX;
    bool more = false;

    snprintf(what, sizeof(what), "history%s%s%s%s", section ? " " : "", section ? section : "",
             key ? "/" : "", key ? key : "");
    rc = history_query(cli, what, section, key, &query, err);
    if (rc != CONFHUB_OK)
        goto done;
    kept = json_array();
    if (!kept) {
        rc = ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", what);
        goto done;
    }
    for (;;) {
        int64_t left = cli->limit ? cli->limit - printed : PAGE_MAX;
        size_t page = left < (int64_t)page_max ? (size_t)left : page_max;
        const json_t *events, *next;
        char limit[32];
        size_t i;

        snprintf(limit, sizeof(limit), "%zu", page);
        ch_buf_free(&path);
        if (!ch_buf_add(&path, query.ptr, query.len) || !add_param(cli, &path, "limit", limit) ||
            !add_param(cli, &path, "cursor", cursor)) {
            rc = ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", what);
            goto done;
        }
        json_decref(answer);
        answer = NULL;
        rc = call(cli, what, "GET", path.ptr, NULL, &answer, err);
        if (rc == CONFHUB_ETOOBIG && page > 1) {
            page_max = page / 2; /* big values: ask for fewer events per page */
            continue;
        }
        if (rc != CONFHUB_OK)
            goto done;
        events = json_object_get(answer, "events");
        next = json_object_get(answer, "next_cursor");
        if (!json_is_array(events)) {
            rc = ch_err_set(err, CONFHUB_EIO, "%s: the server's answer has no events", what);
            goto done;
        }
        for (i = 0; i < json_array_size(events); i++) {
            if (cli->json) {
                ch_cli_output_json(stdout, json_array_get(events, i), 0);
                fputc('\n', stdout);
            } else if (json_array_append(kept, json_array_get(events, i)) != 0) {
                rc = ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", what);
                goto done;
            }
        }
        printed += (int64_t)json_array_size(events);
        ch_free(cursor);
        cursor = NULL;
        if (!json_is_string(next) || json_array_size(events) == 0)
            break;
        if (cli->limit && printed >= cli->limit) {
            more = true;
            break;
        }
        cursor = ch_strdup(json_string_value(next));
        if (!cursor) {
            rc = ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", what);
            goto done;
        }
    }
    if (!cli->json)
        rc = print_table(kept, err);
    /* Only the default limit may cut a list short unnoticed; an explicit --limit N is
     * what the caller asked for, so it gets no note (it would clutter $(...) captures). */
    if (rc == CONFHUB_OK && more && !cli->limit_given) {
        fflush(stdout); /* the note comes after the table, even on one terminal */
        fprintf(stderr,
                "confhub: %s: showing the %s %lld events; more match (--limit N for more, "
                "--limit 0 for all)\n",
                what, cli->asc ? "oldest" : "newest", (long long)printed);
    }
done:
    ch_free(cursor);
    json_decref(answer);
    json_decref(kept);
    ch_buf_free(&query);
    ch_buf_free(&path);
    return rc;
}

/* ---- diff ---------------------------------------------------------------------------- */

static int compare_diff_changes(const void *a, const void *b)
{
    const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;
    int c =
        strcmp(ch_cli_output_member_text(x, "section"), ch_cli_output_member_text(y, "section"));

    return c ? c : strcmp(ch_cli_output_member_text(x, "key"), ch_cli_output_member_text(y, "key"));
}

/* One "-key = value" or "+key = value" line. */
static void print_diff_line(char sign, const char *key, const json_t *value, bool color)
{
    if (color)
        fputs(sign == '-' ? CH_CLI_SGR_RED : CH_CLI_SGR_GREEN, stdout);
    printf("%c%s = ", sign, key);
    ch_cli_output_json(stdout, value, 0);
    if (color)
        fputs(CH_CLI_SGR_RESET, stdout);
    fputc('\n', stdout);
}

/*
 * Prints a /v1/diff answer like git diff: per section a header pair
 *   --- ns/section (revision R1)
 *   +++ ns/section (revision R2)
 * then '-key = old' for what was removed or changed and '+key = new' for what was added or
 * changed, sorted by section and key.
 */
static enum confhub_status print_diff(struct ch_cli *cli, const json_t *answer, bool color,
                                      const char *what, struct ch_err *err)
{
    const json_t *changes = json_object_get(answer, "changes");
    const json_t **sorted;
    size_t n = json_array_size(changes), i;
    long long from = (long long)json_integer_value(json_object_get(answer, "from"));
    long long to = (long long)json_integer_value(json_object_get(answer, "to"));
    const char *section = NULL;

    if (n == 0)
        return CONFHUB_OK;
    sorted = ch_malloc(n * sizeof(*sorted));
    if (!sorted)
        return ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", what);
    for (i = 0; i < n; i++)
        sorted[i] = json_array_get(changes, i);
    qsort(sorted, n, sizeof(*sorted), compare_diff_changes);
    for (i = 0; i < n; i++) {
        const json_t *c = sorted[i];
        const char *kind = ch_cli_output_member_text(c, "change");
        const char *key = ch_cli_output_member_text(c, "key");

        if (!section || strcmp(section, ch_cli_output_member_text(c, "section")) != 0) {
            section = ch_cli_output_member_text(c, "section");
            printf("%s--- %s/%s (revision %lld)%s\n", color ? CH_CLI_SGR_BOLD : "", cli->ns,
                   section, from, color ? CH_CLI_SGR_RESET : "");
            printf("%s+++ %s/%s (revision %lld)%s\n", color ? CH_CLI_SGR_BOLD : "", cli->ns,
                   section, to, color ? CH_CLI_SGR_RESET : "");
        }
        if (strcmp(kind, "added") != 0)
            print_diff_line('-', key, json_object_get(c, "old"), color);
        if (strcmp(kind, "removed") != 0)
            print_diff_line('+', key, json_object_get(c, "new"), color);
    }
    ch_free(sorted);
    return CONFHUB_OK;
}

enum confhub_status ch_cli_cmd_diff(struct ch_cli *cli, struct ch_err *err)
{
    const char *from = cli->args[0], *to = NULL, *section = NULL, *key = NULL;
    struct ch_buf path = {0};
    json_t *answer = NULL;
    enum confhub_status rc;
    size_t at = 1;
    char what[640];

    /* The second argument is R2 when it is a number, else SECTION (docs/cli.md). */
    if (cli->n_args > 1 && ch_cli_is_revision(cli->args[1]))
        to = cli->args[at++];
    if (at < cli->n_args)
        section = cli->args[at++];
    if (at < cli->n_args)
        key = cli->args[at++];
    snprintf(what, sizeof(what), "diff %s%s%s%s%s%s%s", from, to ? ".." : "", to ? to : "",
             section ? " " : "", section ? section : "", key ? "/" : "", key ? key : "");
    if (!ch_cli_is_revision(from)) {
        rc = ch_err_set(err, CONFHUB_EINVAL, "%s: R1 must be a revision number, not '%s'", what,
                        from);
        goto done;
    }
    if (at < cli->n_args) {
        rc = ch_err_set(err, CONFHUB_EINVAL,
                        "%s: too many arguments: expected R1 [R2] [SECTION [KEY]]", what);
        goto done;
    }
    rc = check_scope(cli, what, section, key, err);
    if (rc != CONFHUB_OK)
        goto done;
    if (!ch_buf_adds(&path, "/v1/diff?from=") || !ch_buf_adds(&path, from) ||
        !add_param(cli, &path, "to", to) || !add_param(cli, &path, "ns", cli->ns) ||
        !add_param(cli, &path, "section", section) || !add_param(cli, &path, "key", key)) {
        rc = ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", what);
        goto done;
    }
    rc = call(cli, what, "GET", path.ptr, NULL, &answer, err);
    if (rc != CONFHUB_OK)
        goto done;
    if (cli->json)
        print_json_doc(answer);
    else
        rc = print_diff(cli, answer, ch_cli_output_use_color(cli->color, STDOUT_FILENO), what, err);
done:
    json_decref(answer);
    ch_buf_free(&path);
    return rc;
}

/* ---- rollback ------------------------------------------------------------------------ */

/* The POST /v1/rollback body. Returns JSON text (ch_free), or NULL when out of memory. */
static char *rollback_body(struct ch_cli *cli, const char *section, const char *key, bool dry_run)
{
    json_t *body = json_pack("{sssIsb}", "ns", cli->ns, "to_revision",
                             (json_int_t)strtoll(cli->to, NULL, 10), "dry_run", dry_run);
    char *text = NULL;

    if (body && section && json_object_set_new(body, "section", json_string(section)) != 0)
        goto done;
    if (body && key && json_object_set_new(body, "key", json_string(key)) != 0)
        goto done;
    if (body)
        text = json_dumps(body, JSON_COMPACT);
done:
    json_decref(body);
    return text;
}

static size_t count_changes(const json_t *dry_run)
{
    return json_array_size(json_object_get(dry_run, "added")) +
           json_array_size(json_object_get(dry_run, "changed")) +
           json_array_size(json_object_get(dry_run, "removed"));
}

/* Whether two dry runs plan the same changes (their revisions may differ). */
static bool same_plan(const json_t *a, const json_t *b)
{
    static const char *const lists[] = {"added", "changed", "removed"};
    size_t i;

    for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        if (!json_equal(json_object_get(a, lists[i]), json_object_get(b, lists[i])))
            return false;
    }
    return true;
}

static long long answer_int(const json_t *answer, const char *name)
{
    return (long long)json_integer_value(json_object_get(answer, name));
}

/*
 * Asks on the terminal whether to apply the changes in preview (a dry run that changes
 * something): the list and the question go to stderr, the answer comes from stdin. Returns
 * CONFHUB_OK for "y" or "yes" (any case), else CONFHUB_EINVAL with "what: not confirmed".
 */
static enum confhub_status confirm(struct ch_cli *cli, const char *what, const char *target,
                                   const json_t *preview, struct ch_err *err)
{
    size_t counts[3] = {0, 0, 0};
    char line[64];
    size_t len;

    if (!ch_cli_output_changes(stderr, preview, ch_cli_output_use_color(cli->color, STDERR_FILENO),
                               counts))
        return ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", what);
    fprintf(stderr,
            "Roll back %s to revision %s (%zu to add, %zu to change, %zu to remove)? [y/N] ",
            target, cli->to, counts[0], counts[1], counts[2]);
    fflush(stderr);
    if (!fgets(line, sizeof(line), stdin))
        line[0] = '\0';
    len = strcspn(line, "\r\n");
    line[len] = '\0';
    if (strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0)
        return CONFHUB_OK;
    return ch_err_set(err, CONFHUB_EINVAL, "%s: not confirmed; nothing was changed", what);
}

enum confhub_status ch_cli_cmd_rollback(struct ch_cli *cli, struct ch_err *err)
{
    const char *section = cli->n_args > 0 ? cli->args[0] : NULL;
    const char *key = cli->n_args > 1 ? cli->args[1] : NULL;
    json_t *preview = NULL, *recheck = NULL, *answer = NULL;
    char *dry_body = NULL, *body = NULL;
    enum confhub_status rc;
    char target[800], what[820];

    snprintf(target, sizeof(target), "%s%s%s%s%s", cli->ns, section ? "/" : "",
             section ? section : "", key ? "/" : "", key ? key : "");
    snprintf(what, sizeof(what), "rollback %s", target);
    if (!cli->to) {
        rc = ch_err_set(err, CONFHUB_EINVAL,
                        "%s: --to R is required: the revision to go back to (see 'confhub help "
                        "rollback')",
                        what);
        goto done;
    }
    rc = check_scope(cli, what, section, key, err);
    if (rc != CONFHUB_OK)
        goto done;
    dry_body = rollback_body(cli, section, key, true);
    body = rollback_body(cli, section, key, false);
    if (!dry_body || !body) {
        rc = ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", what);
        goto done;
    }

    if (cli->dry_run) {
        size_t counts[3] = {0, 0, 0};
        rc = call(cli, what, "POST", "/v1/rollback", dry_body, &preview, err);
        if (rc != CONFHUB_OK || cli->json) {
            if (rc == CONFHUB_OK)
                print_json_doc(preview);
            goto done;
        }
        if (!ch_cli_output_changes(stdout, preview,
                                   ch_cli_output_use_color(cli->color, STDOUT_FILENO), counts)) {
            rc = ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", what);
            goto done;
        }
        printf("dry run of rollback of %s to revision %s: %zu to add, %zu to change, %zu to "
               "remove (at revision %lld); nothing was changed\n",
               target, cli->to, counts[0], counts[1], counts[2], answer_int(preview, "revision"));
        goto done;
    }

    if (!cli->yes) {
        /* Never roll back unasked: a script must say --yes. */
        if (!isatty(STDIN_FILENO)) {
            rc = ch_err_set(err, CONFHUB_EINVAL,
                            "%s: not confirmed: stdin is not a terminal to ask on; pass --yes "
                            "to roll back, or --dry-run to see what would change",
                            what);
            goto done;
        }
        rc = call(cli, what, "POST", "/v1/rollback", dry_body, &preview, err);
        if (rc != CONFHUB_OK)
            goto done;
        if (count_changes(preview) == 0) {
            printf("nothing to roll back: %s already matches revision %s (revision %lld)\n", target,
                   cli->to, answer_int(preview, "revision"));
            goto done;
        }
        rc = confirm(cli, what, target, preview, err);
        if (rc == CONFHUB_OK)
            rc = call(cli, what, "POST", "/v1/rollback", dry_body, &recheck, err);
        if (rc != CONFHUB_OK)
            goto done;
        if (!same_plan(preview, recheck)) {
            rc = ch_err_set(err, CONFHUB_ECONFLICT,
                            "%s: something was written while you were asked (revision %lld, "
                            "now %lld), so the changes shown are no longer the ones to make; "
                            "nothing was changed: run it again",
                            what, answer_int(preview, "revision"), answer_int(recheck, "revision"));
            goto done;
        }
    }

    rc = call(cli, what, "POST", "/v1/rollback", body, &answer, err);
    if (rc != CONFHUB_OK)
        goto done;
    if (cli->json)
        print_json_doc(answer);
    else if (json_is_false(json_object_get(answer, "changed")))
        printf("nothing to roll back: %s already matches revision %s (revision %lld)\n", target,
               cli->to, answer_int(answer, "revision"));
    else
        printf("rolled back %s to revision %s: %lld added, %lld changed, %lld removed "
               "(revision %lld)\n",
               target, cli->to, answer_int(answer, "added"), answer_int(answer, "changed_keys"),
               answer_int(answer, "removed"), answer_int(answer, "revision"));
done:
    json_decref(preview);
    json_decref(recheck);
    json_decref(answer);
    ch_free(dry_body);
    ch_free(body);
    return rc;
}
