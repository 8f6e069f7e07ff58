/* SPDX-License-Identifier: MIT */
/*
 * cli_int.h: what main.c (parsing, dispatch, help) shares with the command files. Nothing
 * outside src/cli/ includes it.
 */
#ifndef CH_CLI_INT_H
#define CH_CLI_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/http.h"
#include "common/err.h"

/* The longest namespace, section or key name, in bytes (BRIEF section 2). */
#define CH_CLI_NAME_MAX 256

/* One parsed invocation. Strings are borrowed from argv or the environment. */
struct ch_cli {
    const char *ns;           /* -n/--namespace; "default" when absent */
    const char *server;       /* --server, else $CONFHUB_URL, else http://127.0.0.1:8080 */
    bool json;                /* -o json / --json: print the server's JSON answers */
    bool force_string;        /* --string: put stores VALUE as a string even if it parses */
    const char *if_match;     /* --if-match REV (digits only), or NULL */
    const char *const *args;  /* the command's positional arguments */
    size_t n_args;            /* how many args there are */
    struct ch_cli_http *http; /* owned by ch_cli_main; set before a command runs */
};

/* A command: prints its result to stdout and returns a status with err set on failure. */
typedef enum confhub_status ch_cli_cmd_fn(struct ch_cli *cli, struct ch_err *err);

ch_cli_cmd_fn ch_cli_cmd_get;
ch_cli_cmd_fn ch_cli_cmd_put;
ch_cli_cmd_fn ch_cli_cmd_del;
ch_cli_cmd_fn ch_cli_cmd_ls;

#endif
