/* SPDX-License-Identifier: MIT */
/*
 * tools.h: offline commands that need no server: `confhub convert` and `confhub debug`.
 * argv[0] is the command name; the return value is the exit code (0 ok, 1 usage or bad input,
 * 4 an I/O error).
 */
#ifndef CH_TOOLS_H
#define CH_TOOLS_H

int ch_tools_convert_main(int argc, char **argv);
int ch_tools_debug_main(int argc, char **argv);

#endif
