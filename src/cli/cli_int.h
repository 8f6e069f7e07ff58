/* SPDX-License-Identifier: MIT */
/*
 * cli_int.h: what main.c (parsing, dispatch, help) shares with the command files. Nothing
 * outside src/cli/ includes it.
 */
#ifndef CH_CLI_INT_H
#define CH_CLI_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cli/http.h"
#include "cli/output.h"
#include "common/err.h"

/* The longest namespace, section or key name, in bytes (BRIEF section 2). */
#define CH_CLI_NAME_MAX 256

/* How many events `history` prints without --limit. */
#define CH_CLI_HISTORY_DEFAULT_LIMIT 100

/* One parsed invocation. Strings are borrowed from argv or the environment. */
struct ch_cli {
    const char *ns;           /* -n/--namespace; "default" when absent */
    const char *server;       /* --server, else $CONFHUB_URL, else http://127.0.0.1:8080 */
    bool json;                /* -o json / --json: print the server's JSON answers */
    bool force_string;        /* --string: put stores VALUE as a string even if it parses */
    const char *if_match;     /* --if-match REV (digits only), or NULL */
    const char *out_file;     /* export -o FILE ("-" is stdout), or NULL for stdout */
    const char *format;       /* --format: "json", "yaml" or "toml", or NULL for the default */
    bool merge;               /* import --merge: keep keys the document does not mention */
    bool dry_run;             /* import --dry-run: show the changes, change nothing */
    bool pretty;              /* export --pretty: ask the server for indented JSON */
    const char *namespaces;   /* import --namespaces A,B: one namespace per YAML document */
    const char *revision;     /* get/ls/export --revision R (digits): read at R, or NULL */
    int64_t limit;            /* history --limit: events to print; 0 for all of them */
    bool limit_given;         /* --limit was on the command line (not the default) */
    const char *since;        /* history --since T, as typed (checked by the command), or NULL */
    const char *until;        /* history --until T, as typed, or NULL */
    const char *actor;        /* history --actor A, or NULL */
    const char *op;           /* history --op: "set" or "delete", or NULL */
    const char *prefix;       /* history --prefix P, or NULL */
    const char *from_rev;     /* history --from-rev R (digits), or NULL */
    const char *to_rev;       /* history --to-rev R (digits), or NULL */
    bool asc;                 /* history --asc: oldest first */
    const char *to;           /* rollback --to R (digits), or NULL */
    bool yes;                 /* rollback --yes: do not ask */
    enum ch_cli_color color;  /* diff/rollback --color */
    const char *rev;          /* watch --rev R (digits): start after revision R, or NULL */
    const char *exec;         /* watch --exec CMD: run after each batch, or NULL */
    int64_t count;            /* watch --count N: stop after N events; 0 for no limit */
    const char *const *args;  /* the command's positional arguments */
    size_t n_args;            /* how many args there are */
    struct ch_cli_http *http; /* owned by ch_cli_main; set before a command runs */
};

/*
 * A command: prints its result to stdout and returns a status with err set on failure. A
 * command that has already reported its outcome on stdout (txn's "conditions failed") may
 * return a failure status with an empty err->msg: main.c then prints nothing more and only
 * the exit code tells.
 */
typedef enum confhub_status ch_cli_cmd_fn(struct ch_cli *cli, struct ch_err *err);

ch_cli_cmd_fn ch_cli_cmd_get;
ch_cli_cmd_fn ch_cli_cmd_put;
ch_cli_cmd_fn ch_cli_cmd_del;
ch_cli_cmd_fn ch_cli_cmd_ls;
ch_cli_cmd_fn ch_cli_cmd_txn;      /* cmd_txn.c */
ch_cli_cmd_fn ch_cli_cmd_import;   /* cmd_doc.c */
ch_cli_cmd_fn ch_cli_cmd_export;   /* cmd_doc.c */
ch_cli_cmd_fn ch_cli_cmd_history;  /* cmd_history.c */
ch_cli_cmd_fn ch_cli_cmd_diff;     /* cmd_history.c */
ch_cli_cmd_fn ch_cli_cmd_rollback; /* cmd_history.c */
ch_cli_cmd_fn ch_cli_cmd_watch;    /* cmd_watch.c */

/*
 * Checks a namespace, section or key name (kind: "namespace", "section", "key") against the
 * name rules before any round trip, so a bad name is a usage error. Messages read
 * "what: why". Returns CONFHUB_OK or CONFHUB_EINVAL. (cmd_kv.c)
 */
enum confhub_status ch_cli_check_name(const char *what, const char *kind, const char *name,
                                      struct ch_err *err);

/*
 * Parses a 2xx answer that must be a JSON object; anything else is CONFHUB_EIO with
 * "what: the server's answer is not a JSON object". OUT: *answer (json_decref). (cmd_doc.c)
 */
enum confhub_status ch_cli_parse_answer(const char *what, const struct ch_cli_resp *resp,
                                        json_t **answer, struct ch_err *err);

/* Whether s is a revision number as the command line takes it: 1 to 19 decimal digits.
 * (main.c) */
bool ch_cli_is_revision(const char *s);

/* How a FILE argument is named in messages: "<stdin>" for "-", else path itself. */
const char *ch_cli_input_name(const char *path);

/*
 * Reads the FILE argument path ("-" for standard input), at most max bytes, for command verb
 * ("txn", "import"). A file that does not exist or cannot be read is CONFHUB_EINVAL (a wrong
 * argument, exit 1); over max is CONFHUB_ETOOBIG. Messages read "verb: why".
 * OUT: *text (NUL-terminated; ch_free) and *len on success.
 */
enum confhub_status ch_cli_read_input(const char *verb, const char *path, size_t max, char **text,
                                      size_t *len, struct ch_err *err);

#endif
