/* SPDX-License-Identifier: MIT */
/*
 * format.h: documents in JSON, YAML and TOML, as jansson values. No I/O and no HTTP here.
 *
 * A document is one namespace: a JSON object {section: {key: value}} (or, for `convert`,
 * any value the format can hold at its top level). Parsing keeps types exactly: 64-bit
 * integers stay integers, floats stay floats, strings stay strings, TOML dates and times become
 * RFC 3339 strings. What a format cannot represent is an error naming the key, never a silent
 * change. Duplicate keys are an error in every format. docs/formats.md has the mapping table.
 *
 * Errors: err->line and err->column are set (1-based) for a parse error, and the message reads
 * "NAME:LINE:COL: what is wrong", NAME being the `name` argument (a file name, or "-").
 */
#ifndef CH_FORMATS_FORMAT_H
#define CH_FORMATS_FORMAT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/err.h"

enum ch_format { CH_FORMAT_JSON, CH_FORMAT_YAML, CH_FORMAT_TOML };

struct ch_format_opts {
    size_t max_depth; /* deepest nesting accepted when parsing; 0 for 64 */
    bool pretty;      /* dump: indented JSON (YAML and TOML are always block style) */
    bool multi_doc;   /* YAML parse: a stream of documents becomes a JSON array of them */
};

/* "json", "yaml"/"yml", "toml" (any case). Returns false for anything else. */
bool ch_format_from_name(const char *name, enum ch_format *out);

/* The format named by a file name's extension (.json, .yaml, .yml, .toml). */
bool ch_format_from_path(const char *path, enum ch_format *out);

/* "json", "yaml", "toml". */
const char *ch_format_name(enum ch_format f);

/* The media type to serve a format with ("application/json", "application/yaml", ...). */
const char *ch_format_media_type(enum ch_format f);

/* Parses text[0..len). OUT: *out, a new reference, on success. */
enum confhub_status ch_format_parse(enum ch_format f, const char *name, const char *text,
                                    size_t len, const struct ch_format_opts *opts, json_t **out,
                                    struct ch_err *err);

/* Serialises doc. OUT: *out (ch_malloc'd, NUL-terminated) and *len_out on success. */
enum confhub_status ch_format_dump(enum ch_format f, const json_t *doc,
                                   const struct ch_format_opts *opts, char **out, size_t *len_out,
                                   struct ch_err *err);

#endif
