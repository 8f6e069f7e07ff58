/* SPDX-License-Identifier: MIT */
/*
 * cmd_doc.c: the whole-document commands `confhub import` and `confhub export` (see
 * docs/cli.md), and the FILE-argument helpers txn shares.
 *
 * The CLI never parses YAML or TOML: import sends the file's bytes as they are, with the
 * media type of its format, and the server parses them; export writes the server's bytes as
 * they are. The format comes from --format, else from the file name's extension. A parse error
 * comes back as a 400 whose message starts with the server's name for the body
 * ("NAME:LINE:COL: why"); import shows it with the user's FILE instead, as a compiler would.
 * Export writes FILE through a temporary file and rename(2) (ch_file_write), so a failed
 * request or a full disk never leaves half a file.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli_int.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "common/alloc.h"
#include "common/fileio.h"
#include "common/names.h"

/* The largest document import reads; the server has its own (usually lower) limit. */
#define IMPORT_MAX_BYTES ((size_t)256 * 1024 * 1024)

/* Import draws a progress bar for files larger than this, when stderr is a terminal. */
#define PROGRESS_MIN_BYTES ((size_t)1024 * 1024)

/* A whole document may take longer than one key: 10 minutes instead of 30 s. */
#define DOC_TIMEOUT_MS 600000u

/* clang-format off */
static const struct {
    const char *name;       /* --format and ?format= value */
    const char *ext;        /* file name extension */
    const char *media_type; /* Content-Type of an import body */
} formats[] = {
    {"json", ".json", "application/json"},
    {"yaml", ".yaml", "application/yaml"},
    {"yaml", ".yml",  "application/yaml"},
    {"toml", ".toml", "application/toml"},
};

/* clang-format on */

/* The format named by path's extension (any case), or NULL. */
static const char *format_from_path(const char *path)
{
    const char *dot = strrchr(path, '.');
    size_t i;

    if (!dot || strchr(dot, '/'))
        return NULL;
    for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        if (strcasecmp(dot, formats[i].ext) == 0)
            return formats[i].name;
    }
    return NULL;
}

/* The format named by FILE's extension, or a usage error that says to use --format. */
static enum confhub_status format_of_file(const char *what, const char *file, const char **format,
                                          struct ch_err *err)
{
    *format = format_from_path(file);
    if (*format)
        return CONFHUB_OK;
    return ch_err_set(err, CONFHUB_EINVAL,
                      "%s: cannot tell the format from the name '%s': use --format json|yaml|toml",
                      what, file);
}

static const char *media_type(const char *format)
{
    size_t i;

    for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        if (strcmp(format, formats[i].name) == 0)
            return formats[i].media_type;
    }
    return "application/octet-stream"; /* not reached: --format is checked in main.c */
}

const char *ch_cli_input_name(const char *path)
{
    return strcmp(path, "-") == 0 ? "<stdin>" : path;
}

enum confhub_status ch_cli_read_input(const char *verb, const char *path, size_t max, char **text,
                                      size_t *len, struct ch_err *err)
{
    struct ch_err inner;
    enum confhub_status rc;

    /* A FILE that is not there is a wrong argument (exit 1), not an I/O failure (exit 4). */
    if (strcmp(path, "-") != 0 && access(path, R_OK) != 0) {
        int saved = errno;
        return ch_err_set(err, CONFHUB_EINVAL, "%s: cannot read '%s': %s", verb, path,
                          strerror(saved));
    }
    ch_err_clear(&inner);
    rc = ch_file_read(path, max, text, len, &inner);
    if (rc != CONFHUB_OK)
        return ch_err_set(err, rc, "%s: %s", verb, inner.msg);
    return CONFHUB_OK;
}

/*
 * Builds "/v1/ns/{ns}/{tail}" with ns checked against the name rules and percent-encoded.
 * OUT: *path (ch_free). what prefixes error messages.
 */
static enum confhub_status ns_path(struct ch_cli *cli, const char *what, const char *tail,
                                   char **path, struct ch_err *err)
{
    struct ch_err detail;
    char *escaped = NULL;
    size_t len;

    ch_err_clear(&detail);
    if (ch_names_check("namespace", cli->ns, strlen(cli->ns), CH_CLI_NAME_MAX, &detail) !=
        CONFHUB_OK)
        return ch_err_set(err, CONFHUB_EINVAL, "%s: %s", what, detail.msg);
    escaped = ch_cli_http_escape(cli->http, cli->ns);
    if (!escaped)
        return ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", what);
    len = strlen("/v1/ns//") + strlen(escaped) + strlen(tail) + 1;
    *path = ch_malloc(len);
    if (!*path) {
        ch_free(escaped);
        return ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", what);
    }
    snprintf(*path, len, "/v1/ns/%s/%s", escaped, tail);
    ch_free(escaped);
    return CONFHUB_OK;
}

/* The path of a multi-document import: /v1/import?format=F&namespaces=a,b[&dry_run=true],
 * each name checked and escaped. */
static enum confhub_status stream_path(struct ch_cli *cli, const char *what, const char *format,
                                       char **path, struct ch_err *err)
{
    char *list = NULL, *save = NULL, *out = NULL;
    size_t cap = strlen(cli->namespaces) * 3 + 128, used;
    enum confhub_status rc = CONFHUB_OK;

    if (cli->merge)
        return ch_err_set(err, CONFHUB_EINVAL, "%s: --merge cannot be used with --namespaces",
                          what);
    list = ch_strdup(cli->namespaces);
    out = ch_malloc(cap);
    if (!list || !out) {
        rc = ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", what);
        goto done;
    }
    used = (size_t)snprintf(out, cap, "/v1/import?format=%s&namespaces=", format);
    for (char *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        struct ch_err detail;
        char *escaped;
        ch_err_clear(&detail);
        if (ch_names_check("namespace", name, strlen(name), CH_CLI_NAME_MAX, &detail) !=
            CONFHUB_OK) {
            rc = ch_err_set(err, CONFHUB_EINVAL, "%s: --namespaces: %s", what, detail.msg);
            goto done;
        }
        escaped = ch_cli_http_escape(cli->http, name);
        if (!escaped) {
            rc = ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", what);
            goto done;
        }
        used += (size_t)snprintf(out + used, cap - used, "%s%s", name == list ? "" : ",", escaped);
        ch_free(escaped);
    }
    snprintf(out + used, cap - used, "%s", cli->dry_run ? "&dry_run=true" : "");
    *path = out;
    out = NULL;
done:
    ch_free(list);
    ch_free(out);
    return rc;
}

enum confhub_status ch_cli_parse_answer(const char *what, const struct ch_cli_resp *resp,
                                        json_t **answer, struct ch_err *err)
{
    json_error_t jerr;

    *answer = json_loadb(resp->body ? resp->body : "", resp->body_len, 0, &jerr);
    if (!*answer || !json_is_object(*answer)) {
        json_decref(*answer);
        *answer = NULL;
        return ch_err_set(err, CONFHUB_EIO, "%s: the server's answer is not a JSON object", what);
    }
    return CONFHUB_OK;
}

static long long int_member(const json_t *obj, const char *name, long long fallback)
{
    const json_t *v = json_object_get(obj, name);
    return json_is_integer(v) ? (long long)json_integer_value(v) : fallback;
}

/* ---- export ---------------------------------------------------------------------------- */

enum confhub_status ch_cli_cmd_export(struct ch_cli *cli, struct ch_err *err)
{
    const char *file = cli->out_file && strcmp(cli->out_file, "-") != 0 ? cli->out_file : NULL;
    const char *format = cli->format;
    struct ch_cli_resp resp = {0};
    struct ch_cli_req req = {0};
    struct ch_err inner;
    enum confhub_status rc;
    char *path = NULL;
    char what[512], tail[96];

    ch_cli_http_resp_clear(&resp);
    snprintf(what, sizeof(what), "export %s", cli->ns);
    if (!format && file) {
        rc = format_of_file(what, file, &format, err);
        if (rc != CONFHUB_OK)
            goto done;
    }
    if (!format)
        format = "json";
    snprintf(tail, sizeof(tail), "export?format=%s%s%s%s", format,
             cli->pretty ? "&pretty=true" : "", cli->revision ? "&revision=" : "",
             cli->revision ? cli->revision : "");
    rc = ns_path(cli, what, tail, &path, err);
    if (rc != CONFHUB_OK)
        goto done;

    req.method = "GET";
    req.path = path;
    req.timeout_ms = DOC_TIMEOUT_MS;
    rc = ch_cli_http_send(cli->http, &req, &resp, err);
    if (rc == CONFHUB_OK)
        rc = ch_cli_http_check(&resp, what, err);
    if (rc != CONFHUB_OK)
        goto done; /* nothing has been written */

    if (!file) {
        /* main.c's fflush(stdout) reports a write that failed (a full disk, a closed pipe). */
        fwrite(resp.body ? resp.body : "", 1, resp.body_len, stdout);
        goto done;
    }
    ch_err_clear(&inner);
    rc = ch_file_write(file, resp.body ? resp.body : "", resp.body_len, &inner);
    if (rc != CONFHUB_OK) {
        rc = ch_err_set(err, rc, "%s: %s", what, inner.msg);
        goto done;
    }
    if (resp.revision >= 0)
        printf("exported %s to %s (revision %lld)\n", cli->ns, file, (long long)resp.revision);
    else
        printf("exported %s to %s\n", cli->ns, file);
done:
    ch_free(path);
    ch_cli_http_resp_clear(&resp);
    return rc;
}

/* ---- import ---------------------------------------------------------------------------- */

/*
 * A 400 that names a position in the document ({"error":{"message":"NAME:LINE:COL: why",
 * "line":L,"column":C}}) becomes "import FILE:L:C: why". Returns false when resp is not such
 * an answer, and the caller reports it the usual way.
 */
static bool parse_error(const struct ch_cli_resp *resp, const char *shown, struct ch_err *err)
{
    json_t *root = NULL;
    const json_t *error;
    const char *message, *why;
    long long line, column;
    char prefix[64];
    bool found = false;

    if (resp->status != 400 || !resp->body)
        return false;
    root = json_loadb(resp->body, resp->body_len, 0, NULL);
    error = json_object_get(root, "error");
    message = json_string_value(json_object_get(error, "message"));
    line = int_member(error, "line", 0);
    column = int_member(error, "column", 0);
    if (!message || line <= 0)
        goto done;
    /* Drop the server's "NAME:LINE:COL: " (or "NAME:LINE: "); keep the message otherwise. */
    if (column > 0)
        snprintf(prefix, sizeof(prefix), ":%lld:%lld: ", line, column);
    else
        snprintf(prefix, sizeof(prefix), ":%lld: ", line);
    why = strstr(message, prefix);
    why = why ? why + strlen(prefix) : message;
    if (column > 0)
        ch_err_set(err, CONFHUB_EINVAL, "import %s:%lld:%lld: %s", shown, line, column, why);
    else
        ch_err_set(err, CONFHUB_EINVAL, "import %s:%lld: %s", shown, line, why);
    err->line = (int)line;
    err->column = (int)column;
    found = true;
done:
    json_decref(root);
    return found;
}

enum confhub_status ch_cli_cmd_import(struct ch_cli *cli, struct ch_err *err)
{
    const char *file = cli->args[0];
    const char *shown = ch_cli_input_name(file);
    const char *format = cli->format;
    struct ch_cli_resp resp = {0};
    struct ch_cli_req req = {0};
    struct ch_cli_progress bar = {0};
    enum confhub_status rc;
    json_t *answer = NULL;
    char *text = NULL, *path = NULL;
    size_t len = 0;
    char what[512], tail[96];

    ch_cli_http_resp_clear(&resp);
    snprintf(what, sizeof(what), "import %s", shown);
    if (!format && strcmp(file, "-") == 0) {
        rc = ch_err_set(err, CONFHUB_EINVAL,
                        "%s: reading standard input needs --format json|yaml|toml", what);
        goto done;
    }
    if (!format) {
        rc = format_of_file(what, file, &format, err);
        if (rc != CONFHUB_OK)
            goto done;
    }
    if (cli->namespaces) {
        rc = stream_path(cli, what, format, &path, err);
    } else {
        snprintf(tail, sizeof(tail), "import?format=%s&mode=%s%s", format,
                 cli->merge ? "merge" : "replace", cli->dry_run ? "&dry_run=true" : "");
        rc = ns_path(cli, what, tail, &path, err);
    }
    if (rc != CONFHUB_OK)
        goto done;
    rc = ch_cli_read_input("import", file, IMPORT_MAX_BYTES, &text, &len, err);
    if (rc != CONFHUB_OK)
        goto done;

    req.method = "PUT";
    req.path = path;
    req.body = text;
    req.body_len = len;
    req.content_type = media_type(format);
    req.timeout_ms = DOC_TIMEOUT_MS;
    if (len > PROGRESS_MIN_BYTES && isatty(STDERR_FILENO)) {
        bar.f = stderr;
        req.progress = ch_cli_progress_update;
        req.progress_data = &bar;
    }
    rc = ch_cli_http_send(cli->http, &req, &resp, err);
    if (req.progress)
        ch_cli_progress_finish(&bar); /* before any message, so it starts on a clean line */
    if (rc != CONFHUB_OK)
        goto done;
    if (parse_error(&resp, shown, err)) {
        rc = CONFHUB_EINVAL;
        goto done;
    }
    rc = ch_cli_http_check(&resp, what, err);
    if (rc == CONFHUB_OK)
        rc = ch_cli_parse_answer(what, &resp, &answer, err);
    if (rc != CONFHUB_OK)
        goto done;

    if (cli->json) {
        ch_cli_output_json(stdout, answer, 2);
        fputc('\n', stdout);
    } else if (cli->dry_run) {
        size_t counts[3] = {0, 0, 0};
        if (!ch_cli_output_changes(stdout, answer, false, counts)) {
            rc = ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", what);
            goto done;
        }
        printf("dry run of %s into %s: %zu to add, %zu to change, %zu to remove (at revision "
               "%lld); nothing was changed\n",
               shown, cli->namespaces ? cli->namespaces : cli->ns, counts[0], counts[1], counts[2],
               int_member(answer, "revision", resp.revision));
    } else {
        printf("imported %s into %s: %lld added, %lld changed, %lld removed (revision %lld)\n",
               shown, cli->namespaces ? cli->namespaces : cli->ns, int_member(answer, "added", 0),
               int_member(answer, "changed_keys", 0), int_member(answer, "removed", 0),
               int_member(answer, "revision", resp.revision));
    }
done:
    json_decref(answer);
    ch_free(text);
    ch_free(path);
    ch_cli_http_resp_clear(&resp);
    return rc;
}
