/* SPDX-License-Identifier: MIT */
/*
 * cmd_kv.c: the key-value commands get, put, del and ls (see docs/cli.md).
 *
 * Each command is one request to /v1/ns/{ns}[/{section}[/{key}]], with every name checked
 * against the name rules first (so a bad name is a usage error, not a round trip) and then
 * percent-encoded as one path segment. Targets are shown as "section/key" in messages: names
 * may contain dots and spaces but never '/', so that form is unambiguous.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli_int.h"
#include "cli/output.h"
#include "common/alloc.h"
#include "common/names.h"

/* Request state every command owns; released in one place by request_free(). */
struct request {
    char *path;              /* "/v1/ns/..." (owned) */
    char what[640];          /* "get app/port", the prefix of error messages */
    struct ch_cli_resp resp; /* the server's answer */
    json_t *answer;          /* resp.body parsed (owned), NULL until parsed */
};

static void request_free(struct request *req)
{
    ch_free(req->path);
    ch_cli_http_resp_clear(&req->resp);
    json_decref(req->answer);
}

enum confhub_status ch_cli_check_name(const char *what, const char *kind, const char *name,
                                      struct ch_err *err)
{
    struct ch_err detail;

    ch_err_clear(&detail);
    if (ch_names_check(kind, name, strlen(name), CH_CLI_NAME_MAX, &detail) != CONFHUB_OK)
        return ch_err_set(err, CONFHUB_EINVAL, "%s: %s", what, detail.msg);
    return CONFHUB_OK;
}

/*
 * Sets req->what to "verb section[/key]" and req->path to the escaped URL path of the target,
 * plus query (NULL for none). section and key may be NULL for shorter paths.
 */
static enum confhub_status prepare(struct ch_cli *cli, const char *verb, const char *section,
                                   const char *key, const char *query, struct request *req,
                                   struct ch_err *err)
{
    enum confhub_status rc = CONFHUB_OK;
    const char *names[3] = {cli->ns, section, key};
    const char *kinds[3] = {"namespace", "section", "key"};
    char *escaped[3] = {NULL, NULL, NULL};
    size_t len = strlen("/v1/ns") + (query ? strlen(query) + 1 : 0) + 1;
    size_t at, i;

    memset(req, 0, sizeof(*req));
    ch_cli_http_resp_clear(&req->resp);
    if (key)
        snprintf(req->what, sizeof(req->what), "%s %s/%s", verb, section, key);
    else if (section)
        snprintf(req->what, sizeof(req->what), "%s %s", verb, section);
    else
        snprintf(req->what, sizeof(req->what), "%s namespace %s", verb, cli->ns);

    for (i = 0; i < 3 && names[i]; i++) {
        rc = ch_cli_check_name(req->what, kinds[i], names[i], err);
        if (rc != CONFHUB_OK)
            goto done;
        escaped[i] = ch_cli_http_escape(cli->http, names[i]);
        if (!escaped[i]) {
            rc = ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", req->what);
            goto done;
        }
        len += 1 + strlen(escaped[i]);
    }
    req->path = ch_malloc(len);
    if (!req->path) {
        rc = ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", req->what);
        goto done;
    }
    at = (size_t)snprintf(req->path, len, "/v1/ns");
    for (i = 0; i < 3 && escaped[i]; i++)
        at += (size_t)snprintf(req->path + at, len - at, "/%s", escaped[i]);
    if (query)
        snprintf(req->path + at, len - at, "?%s", query);
done:
    for (i = 0; i < 3; i++)
        ch_free(escaped[i]);
    return rc;
}

/* Sends the request, maps a non-2xx answer to a status, and parses the JSON answer. */
static enum confhub_status send_request(struct ch_cli *cli, const char *method, const char *body,
                                        size_t body_len, struct request *req, struct ch_err *err)
{
    enum confhub_status rc;
    char if_match[64];
    const char *headers[2] = {NULL, NULL};
    json_error_t jerr;

    if (cli->if_match) {
        snprintf(if_match, sizeof(if_match), "If-Match: \"%s\"", cli->if_match);
        headers[0] = if_match;
    }
    rc =
        ch_cli_http_request(cli->http, method, req->path, body, body_len, headers, &req->resp, err);
    if (rc != CONFHUB_OK)
        return rc;
    rc = ch_cli_http_check(&req->resp, req->what, err);
    if (rc != CONFHUB_OK)
        return rc;
    if (req->resp.body_len == 0 && strcmp(method, "GET") != 0) {
        /* A write answered with no body (204) still succeeded; its revision is in the header. */
        req->answer = json_object();
        if (!req->answer)
            return ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", req->what);
        return CONFHUB_OK;
    }
    req->answer = json_loadb(req->resp.body ? req->resp.body : "", req->resp.body_len,
                             JSON_DECODE_ANY, &jerr);
    if (!req->answer) {
        return ch_err_set(err, CONFHUB_EIO, "%s: the server's answer is not JSON: %s", req->what,
                          jerr.text);
    }
    return CONFHUB_OK;
}

static void print_json_line(const json_t *v)
{
    ch_cli_output_json(stdout, v, 2);
    fputc('\n', stdout);
}

enum confhub_status ch_cli_cmd_get(struct ch_cli *cli, struct ch_err *err)
{
    const char *section = cli->args[0];
    const char *key = cli->n_args > 1 ? cli->args[1] : NULL;
    struct request req;
    enum confhub_status rc;
    char query[48];
    json_t *at = NULL;

    /* In JSON mode a key comes with its revisions, which is what scripts need for --if-match.
     * The server has no revisions of a key at a past revision, only its value (docs/cli.md). */
    if (cli->revision)
        snprintf(query, sizeof(query), "revision=%s", cli->revision);
    rc = prepare(cli, "get", section, key,
                 cli->revision      ? query
                 : key && cli->json ? "meta=true"
                                    : NULL,
                 &req, err);
    if (rc == CONFHUB_OK)
        rc = send_request(cli, "GET", NULL, 0, &req, err);
    if (rc != CONFHUB_OK)
        goto done;
    if (cli->json && key && cli->revision) {
        at = json_pack("{sOsI}", "value", req.answer, "revision",
                       (json_int_t)(req.resp.revision >= 0 ? req.resp.revision
                                                           : strtoll(cli->revision, NULL, 10)));
        if (!at) {
            rc = ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", req.what);
            goto done;
        }
        print_json_line(at);
    } else if (cli->json)
        print_json_line(req.answer);
    else if (!key && json_is_object(req.answer))
        ch_cli_output_entries(stdout, req.answer);
    else
        ch_cli_output_value(stdout, req.answer); /* a key, or a section that holds one value */
done:
    json_decref(at);
    request_free(&req);
    return rc;
}

/* Reads all of stdin (at most CH_CLI_HTTP_MAX_BODY bytes). OUT: *out (ch_free), *out_len. */
static enum confhub_status read_stdin(char **out, size_t *out_len, struct ch_err *err)
{
    enum confhub_status rc = CONFHUB_OK;
    char *buf = NULL;
    size_t len = 0, cap = 0;

    for (;;) {
        size_t n;
        if (cap - len < 4096) {
            char *grown;
            cap = cap ? cap * 2 : 8192;
            grown = ch_realloc(buf, cap + 1);
            if (!grown) {
                rc = ch_err_set(err, CONFHUB_ENOMEM,
                                "cannot read value from stdin: out of "
                                "memory");
                goto done;
            }
            buf = grown;
        }
        n = fread(buf + len, 1, cap - len, stdin);
        len += n;
        if (len > CH_CLI_HTTP_MAX_BODY) {
            rc = ch_err_set(err, CONFHUB_EINVAL, "cannot read value from stdin: over %zu bytes",
                            CH_CLI_HTTP_MAX_BODY);
            goto done;
        }
        if (n == 0)
            break;
    }
    if (ferror(stdin)) {
        rc = ch_err_set(err, CONFHUB_EIO, "cannot read value from stdin: read error");
        goto done;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    buf = NULL;
done:
    ch_free(buf);
    return rc;
}

/*
 * Turns the VALUE argument into the JSON request body. Text that parses as JSON is sent as
 * typed, so numbers keep their spelling; anything else (or everything, with --string) becomes
 * a JSON string. A string read from stdin loses one trailing newline, as `$(...)` would.
 * OUT: *body (ch_free) and *body_len.
 */
static enum confhub_status make_body(struct ch_cli *cli, const char *arg, char **body,
                                     size_t *body_len, struct ch_err *err)
{
    enum confhub_status rc = CONFHUB_OK;
    char *text = NULL;
    size_t len = 0;
    json_t *value = NULL;
    json_error_t jerr;

    if (strcmp(arg, "-") == 0) {
        rc = read_stdin(&text, &len, err);
        if (rc != CONFHUB_OK)
            goto done;
    } else {
        len = strlen(arg);
        text = ch_strndup(arg, len);
        if (!text) {
            rc = ch_err_set(err, CONFHUB_ENOMEM, "cannot encode value: out of memory");
            goto done;
        }
    }

    if (!cli->force_string) {
        value = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
        if (value) {
            *body = text;
            *body_len = len;
            text = NULL;
            goto done;
        }
        /* A number jansson cannot hold would otherwise be stored silently as a string. */
        if (strstr(jerr.text, "too big") || strstr(jerr.text, "overflow")) {
            rc = ch_err_set(err, CONFHUB_EINVAL,
                            "value is a number out of range (%s); quote it or use --string",
                            jerr.text);
            goto done;
        }
    }
    if (strcmp(arg, "-") == 0 && len > 0 && text[len - 1] == '\n') {
        len--;
        if (len > 0 && text[len - 1] == '\r')
            len--;
    }
    value = json_stringn(text, len);
    if (!value) {
        rc = ch_err_set(err, CONFHUB_EINVAL, "value is not valid UTF-8");
        goto done;
    }
    *body = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!*body) {
        rc = ch_err_set(err, CONFHUB_ENOMEM, "cannot encode value: out of memory");
        goto done;
    }
    *body_len = strlen(*body);
done:
    json_decref(value);
    ch_free(text);
    return rc;
}

static long long answer_int(const json_t *answer, const char *name, long long fallback)
{
    const json_t *v = json_object_get(answer, name);
    return json_is_integer(v) ? (long long)json_integer_value(v) : fallback;
}

enum confhub_status ch_cli_cmd_put(struct ch_cli *cli, struct ch_err *err)
{
    const char *section = cli->args[0];
    const char *key = cli->args[1];
    struct request req;
    char *body = NULL;
    size_t body_len = 0;
    enum confhub_status rc;

    rc = prepare(cli, "put", section, key, NULL, &req, err);
    if (rc != CONFHUB_OK)
        goto done;
    rc = make_body(cli, cli->args[2], &body, &body_len, err);
    if (rc != CONFHUB_OK) {
        /* Prefix with the target, as every other message does. */
        struct ch_err inner = *err;
        rc = ch_err_set(err, rc, "%s: %s", req.what, inner.msg);
        goto done;
    }
    rc = send_request(cli, "PUT", body, body_len, &req, err);
    if (rc != CONFHUB_OK)
        goto done;
    if (cli->json) {
        print_json_line(req.answer);
    } else {
        const char *outcome = "updated";
        if (req.resp.status == 201)
            outcome = "created";
        else if (json_is_false(json_object_get(req.answer, "changed")))
            outcome = "unchanged";
        printf("%s %s/%s (revision %lld)\n", outcome, section, key,
               answer_int(req.answer, "revision", req.resp.revision));
    }
done:
    ch_free(body);
    request_free(&req);
    return rc;
}

enum confhub_status ch_cli_cmd_del(struct ch_cli *cli, struct ch_err *err)
{
    const char *section = cli->args[0];
    const char *key = cli->n_args > 1 ? cli->args[1] : NULL;
    struct request req;
    enum confhub_status rc;

    rc = prepare(cli, "del", section, key, NULL, &req, err);
    if (rc == CONFHUB_OK)
        rc = send_request(cli, "DELETE", NULL, 0, &req, err);
    if (rc != CONFHUB_OK)
        goto done;
    if (cli->json) {
        print_json_line(req.answer);
    } else {
        printf("deleted %s%s%s (revision %lld)\n", section, key ? "/" : "", key ? key : "",
               answer_int(req.answer, "revision", req.resp.revision));
    }
done:
    request_free(&req);
    return rc;
}

enum confhub_status ch_cli_cmd_ls(struct ch_cli *cli, struct ch_err *err)
{
    const char *section = cli->n_args > 0 ? cli->args[0] : NULL;
    struct request req;
    json_t *names = NULL;
    enum confhub_status rc;
    char query[48];

    if (cli->revision)
        snprintf(query, sizeof(query), "revision=%s", cli->revision);
    rc = prepare(cli, "ls", section, NULL, cli->revision ? query : NULL, &req, err);
    if (rc == CONFHUB_OK)
        rc = send_request(cli, "GET", NULL, 0, &req, err);
    if (rc != CONFHUB_OK)
        goto done;
    /* A section that holds a list or a scalar has no keys to list. */
    if (!json_is_object(req.answer)) {
        if (cli->json)
            puts("[]");
        goto done;
    }
    if (!cli->json) {
        ch_cli_output_names(stdout, req.answer);
        goto done;
    }
    names = ch_cli_output_sorted_names(req.answer);
    if (!names) {
        rc = ch_err_set(err, CONFHUB_ENOMEM, "%s: out of memory", req.what);
        goto done;
    }
    print_json_line(names);
done:
    json_decref(names);
    request_free(&req);
    return rc;
}
