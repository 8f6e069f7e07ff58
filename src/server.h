/* SPDX-License-Identifier: MIT */
/*
 * server.h: the `confhub serve` and `confhub migrate` commands (server_main.c).
 * argv[0] is the command name ("serve"); the return value is the process exit code.
 */
#ifndef CH_SERVER_H
#define CH_SERVER_H

int ch_server_serve_main(int argc, char **argv);
int ch_server_migrate_main(int argc, char **argv);

#endif
