/* SPDX-License-Identifier: MIT */
/*
 * main.c: the `confhub` binary. `serve` and `migrate` run the server side, `convert` and
 * `debug` work on files offline (tools_main.c); every other command is the client (src/cli/),
 * which talks to a server over HTTP.
 */
#include <string.h>

#include "cli/cli.h"
#include "server.h"
#include "tools.h"

#ifdef CONFHUB_JEMALLOC
/*
 * Release builds allocate with jemalloc (docs/decisions.md, "The allocator"), which reads this
 * string at its first allocation, before main. thp:always asks for transparent huge pages on
 * its memory: building a large state (a 100,000-key import) touches tens of megabytes of fresh
 * heap, and one page fault per 4 KiB was a fifth of the import's time on our VMs.
 */
__attribute__((visibility("default"))) const char *malloc_conf = "thp:always";
#endif

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "serve") == 0)
        return ch_server_serve_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "migrate") == 0)
        return ch_server_migrate_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "convert") == 0)
        return ch_tools_convert_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "debug") == 0)
        return ch_tools_debug_main(argc - 1, argv + 1);
    return ch_cli_main(argc, argv);
}
