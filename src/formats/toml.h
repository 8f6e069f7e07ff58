/* SPDX-License-Identifier: MIT */
/*
 * toml.h: the TOML 1.0 document format, our own reader and writer (see format.h for the
 * contract every format follows, and docs/formats.md for the type mapping).
 *
 * No C library for TOML 1.0 is packaged for Debian bookworm, so the module is written here:
 *   toml.c        the typed tree, the reader (one function per grammar production) and the
 *                 mapping of the tree to jansson values
 *   toml_write.c  jansson values to the typed tree, and the tree to TOML text
 *   toml_debug.c  `confhub debug toml-decode|toml-encode`, the toml-test program interface
 *   toml_int.h    the typed tree, shared by those three files and nothing else
 *
 * Mapping: tables become JSON objects (keys in file order), arrays become arrays, integers
 * (int64) json_integer, floats json_real, booleans true/false, and the four date-time kinds
 * strings holding their RFC 3339 text ('T' and 'Z' upper case, fractional seconds as written).
 * What JSON cannot hold (nan, inf) is an error naming the key; so is JSON null on the way back.
 */
#ifndef CH_FORMATS_TOML_H
#define CH_FORMATS_TOML_H

#include <stdio.h>

#include "formats/format.h"

/*
 * Parses the TOML document text[0..len) (an optional UTF-8 byte-order mark is skipped).
 * name is used in messages ("NAME:LINE:COL: what"), opts may be NULL (depth limit 64).
 * OUT: *out, a new reference to a JSON object, set only on success.
 * Returns CONFHUB_EINVAL for invalid TOML or a value JSON cannot hold (err->line/column set),
 * CONFHUB_ETOOBIG when nesting is deeper than opts->max_depth, CONFHUB_ENOMEM.
 */
enum confhub_status ch_toml_parse(const char *name, const char *text, size_t len,
                                  const struct ch_format_opts *opts, json_t **out,
                                  struct ch_err *err);

/*
 * Writes doc, which must be a JSON object, as TOML text. Reading the text back with
 * ch_toml_parse gives doc again (floats stay floats, strings stay strings).
 * OUT: *out (ch_malloc'd, NUL-terminated, owned by the caller) and *len_out on success.
 * Returns CONFHUB_EINVAL when doc is not an object or holds a null (the message names the
 * key), CONFHUB_ETOOBIG when it nests deeper than opts->max_depth, CONFHUB_ENOMEM.
 */
enum confhub_status ch_toml_dump(const json_t *doc, const struct ch_format_opts *opts, char **out,
                                 size_t *len_out, struct ch_err *err);

/*
 * `confhub debug toml-decode`: TOML from in, toml-test's tagged JSON ({"type": T, "value": S}
 * for every scalar) to out. Returns the exit code: 0 when valid; 1 with one line on err and
 * nothing on out when the input is not valid TOML; 4 when reading or writing fails.
 */
int ch_toml_debug_decode(FILE *in, FILE *out, FILE *err);

/*
 * `confhub debug toml-encode`: tagged JSON from in, TOML to out, keeping every type (dates
 * are written bare, floats as floats, nan and inf included). Exit codes as above.
 */
int ch_toml_debug_encode(FILE *in, FILE *out, FILE *err);

#endif
