/* SPDX-License-Identifier: MIT */
/* fileio.h: whole-file reads and writes with a size ceiling and clear errors. */
#ifndef CH_FILEIO_H
#define CH_FILEIO_H

#include <stddef.h>
#include <stdio.h>

#include "common/err.h"

/* Reads all of path ("-" for standard input), at most max bytes.
 * OUT: *text (ch_malloc'd, NUL-terminated; free with ch_free) and *len on success. */
enum confhub_status ch_file_read(const char *path, size_t max, char **text, size_t *len,
                                 struct ch_err *err);

/* Reads all of the open stream f, at most max bytes; name is what messages call it.
 * OUT: as ch_file_read. */
enum confhub_status ch_file_read_stream(FILE *f, const char *name, size_t max, char **text,
                                        size_t *len, struct ch_err *err);

/* Writes data to path ("-" for standard output), replacing a file through a temporary file
 * and rename(2), so a failed write never leaves half a file. */
enum confhub_status ch_file_write(const char *path, const char *data, size_t len,
                                  struct ch_err *err);

#endif
