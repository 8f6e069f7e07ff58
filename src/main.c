/* SPDX-License-Identifier: MIT */
/*
 * main.c: the `confhub` binary. `serve` and `migrate` run the server side; every other
 * command is the client (src/cli/), which talks to a server over HTTP.
 */
#include <string.h>

#include "cli/cli.h"
#include "server.h"

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "serve") == 0)
        return ch_server_serve_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "migrate") == 0)
        return ch_server_migrate_main(argc - 1, argv + 1);
    return ch_cli_main(argc, argv);
}
