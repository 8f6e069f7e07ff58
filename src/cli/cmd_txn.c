/* SPDX-License-Identifier: MIT */
/*
 * cmd_txn.c: `confhub txn FILE|-`, one POST /v1/txn (see docs/cli.md).
 *
 * The CLI checks only that FILE holds one JSON object, so a typo is reported as FILE:LINE:COL
 * before any round trip; what the object must contain is the server's business, and its 400
 * message is shown as is. The bytes are sent exactly as read (not re-serialised), so numbers
 * keep their spelling. A transaction whose conditions failed is not an error for the server
 * (200, "succeeded": false) but is exit 3 for the CLI, with the outcome already on stdout and
 * no message on stderr.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli_int.h"
#include "cli/output.h"
#include "common/alloc.h"

/* "ns/section/key" with the parts the result has; "?" when it has none. */
static void result_target(const json_t *result, char *out, size_t out_len)
{
    static const char *const parts[] = {"ns", "section", "key"};
    size_t i, at = 0;

    out[0] = '\0';
    for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        const char *name = json_string_value(json_object_get(result, parts[i]));
        int n;
        if (!name || at >= out_len)
            continue;
        n = snprintf(out + at, out_len - at, "%s%s", at ? "/" : "", name);
        if (n > 0)
            at += (size_t)n;
    }
    if (!out[0])
        snprintf(out, out_len, "?");
}

/* One line per operation result: "put default/app/port: changed". A result that carries a
 * value (an operation that reads) shows it as compact JSON after " = ". */
static void print_results(const json_t *results)
{
    char target[3 * (CH_CLI_NAME_MAX + 1) + 2];
    size_t i;

    for (i = 0; i < json_array_size(results); i++) {
        const json_t *result = json_array_get(results, i);
        const char *op = json_string_value(json_object_get(result, "op"));
        const json_t *changed = json_object_get(result, "changed");
        const json_t *value = json_object_get(result, "value");

        result_target(result, target, sizeof(target));
        printf("%s %s", op ? op : "?", target);
        if (json_is_boolean(changed))
            printf(": %s", json_is_true(changed) ? "changed" : "unchanged");
        if (value) {
            fputs(" = ", stdout);
            ch_cli_output_json(stdout, value, 0);
        }
        fputc('\n', stdout);
    }
}

enum confhub_status ch_cli_cmd_txn(struct ch_cli *cli, struct ch_err *err)
{
    const char *file = cli->args[0];
    const char *shown = ch_cli_input_name(file);
    enum confhub_status rc;
    struct ch_cli_resp resp = {0};
    char *text = NULL;
    size_t len = 0;
    json_t *txn = NULL, *answer = NULL;
    const json_t *succeeded;
    json_error_t jerr;
    char what[512];

    ch_cli_http_resp_clear(&resp);
    snprintf(what, sizeof(what), "txn %s", shown);
    rc = ch_cli_read_input("txn", file, CH_CLI_HTTP_MAX_BODY, &text, &len, err);
    if (rc != CONFHUB_OK)
        goto done;
    txn = json_loadb(text, len, 0, &jerr);
    if (!txn) {
        /* jansson says column 0 for the end of the text after a newline; we count from 1. */
        rc = ch_err_set(err, CONFHUB_EINVAL, "txn %s:%d:%d: %s", shown, jerr.line,
                        jerr.column > 0 ? jerr.column : 1, jerr.text);
        goto done;
    }
    if (!json_is_object(txn)) {
        rc = ch_err_set(err, CONFHUB_EINVAL,
                        "%s: a transaction is a JSON object {\"if\":[...], \"then\":[...], "
                        "\"else\":[...]}",
                        what);
        goto done;
    }

    rc = ch_cli_http_request(cli->http, "POST", "/v1/txn", text, len, NULL, &resp, err);
    if (rc == CONFHUB_OK)
        rc = ch_cli_http_check(&resp, what, err);
    if (rc != CONFHUB_OK)
        goto done;
    answer = json_loadb(resp.body ? resp.body : "", resp.body_len, 0, &jerr);
    if (!answer) {
        rc = ch_err_set(err, CONFHUB_EIO, "%s: the server's answer is not JSON: %s", what,
                        jerr.text);
        goto done;
    }
    succeeded = json_object_get(answer, "succeeded");
    if (!json_is_boolean(succeeded)) {
        rc = ch_err_set(err, CONFHUB_EIO, "%s: the server's answer has no \"succeeded\"", what);
        goto done;
    }

    if (cli->json) {
        ch_cli_output_json(stdout, answer, 2);
        fputc('\n', stdout);
    } else {
        const json_t *revision = json_object_get(answer, "revision");
        long long rev = json_is_integer(revision) ? (long long)json_integer_value(revision)
                                                  : (long long)resp.revision;
        printf("%s (revision %lld)\n", json_is_true(succeeded) ? "succeeded" : "conditions failed",
               rev);
        print_results(json_object_get(answer, "results"));
    }
    if (!json_is_true(succeeded)) {
        /* Reported on stdout already; only the exit code (3) remains to say it. */
        ch_err_clear(err);
        rc = CONFHUB_ECONFLICT;
        err->code = rc;
    }
done:
    json_decref(answer);
    json_decref(txn);
    ch_free(text);
    ch_cli_http_resp_clear(&resp);
    return rc;
}
