/* SPDX-License-Identifier: MIT */
/*
 * json_util.h: the project's one way to turn untrusted bytes into a jansson value and back.
 *
 * Parsing is strict: any JSON value at the top level, duplicate object keys rejected, raw NUL
 * bytes rejected (jansson would stop reading at one), nesting depth bounded. Errors carry the
 * line and column in err->line/err->column and in the message.
 */
#ifndef CH_JSON_UTIL_H
#define CH_JSON_UTIL_H

#include <stddef.h>

#include <jansson.h>

#include "common/err.h"

/* Parses text[0..len). what names the input in messages ("request body").
 * OUT: *out (a new reference) on success. Depth over max_depth is CONFHUB_ETOOBIG. */
enum confhub_status ch_json_parse(const char *what, const char *text, size_t len, size_t max_depth,
                                  json_t **out, struct ch_err *err);

/* The nesting depth of v: 0 for a scalar, 1 for [] or {}, 2 for [[1]] and so on. */
size_t ch_json_depth(const json_t *v);

/* RFC 7396: target (may be NULL) with patch applied; objects merge, null deletes a member,
 * anything else replaces. Returns a new value, or NULL when out of memory. */
json_t *ch_json_merge_patch(const json_t *target, const json_t *patch);

/* Compact serialisation of any value, allocated with ch_malloc; NULL when out of memory. */
char *ch_json_dump(const json_t *v, size_t *len_out);

#endif
