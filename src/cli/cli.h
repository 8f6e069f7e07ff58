/* SPDX-License-Identifier: MIT */
/*
 * cli.h: the `confhub` command-line client (get, put, del, ls, txn, import, export, history,
 * diff, rollback, watch, help, version).
 *
 * The client talks to a confhub server over its REST API (/v1) with libcurl. It includes only
 * confhub.h, common/ headers, libcurl and jansson, never a server module (STYLE B1.2), so the
 * same code could later sit on top of libconfhub. Commands, options, output formats and exit
 * codes are documented in docs/cli.md.
 */
#ifndef CH_CLI_H
#define CH_CLI_H

/*
 * Runs one CLI invocation. argv[0] is the program name and argv[1] the command; options may
 * come before or after the command and its arguments. Results go to stdout, messages to stderr.
 * Returns the process exit code: 0 success, 1 usage error or a request the server rejected as
 * invalid (400, 413, 415), 2 not found, 3 condition failed (412), 4 cannot reach the server, a
 * server error (5xx) or any other unexpected failure, 5 compacted (410). `watch` returns 0 when
 * SIGINT or SIGTERM stopped it; it installs handlers for them while it runs. Not thread-safe
 * (it calls curl_global_init).
 */
int ch_cli_main(int argc, char **argv);

#endif
