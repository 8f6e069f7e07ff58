/* SPDX-License-Identifier: MIT */
/*
 * yaml.h: the YAML document format on libfyaml (see format.h for the shared contract and
 * docs/formats.md for the mapping table).
 *
 * Reading follows the YAML 1.2 core schema: plain scalars resolve to null, bool, int or float
 * by their spelling, everything else (and every quoted or block scalar) is a string. Explicit
 * core tags (!!str, !!int, !!float, !!bool, !!null, !!map, !!seq) are honoured; any other tag
 * is refused, since dropping it would silently change what the author meant. Anchors and
 * aliases are resolved (copied) on import, with a bound on how much the aliases may expand.
 *
 * Refused, each with "NAME:LINE:COL: message" naming the key:
 *   - mapping keys that are not strings (plain 1, true, null, a mapping or a sequence);
 *   - duplicate keys;
 *   - integers outside int64, floats outside double, .inf and .nan (JSON holds neither);
 *   - more than one document, unless opts->multi_doc;
 *   - nesting deeper than opts->max_depth (CONFHUB_ETOOBIG, "max-json-depth");
 *   - aliases expanding past CH_YAML_MAX_ALIAS_NODES nodes or CH_YAML_MAX_ALIAS_BYTES bytes
 *     of strings (CONFHUB_ETOOBIG): the "billion laughs" defence.
 * An empty document (or an empty stream) reads as JSON null.
 */
#ifndef CH_FORMATS_YAML_H
#define CH_FORMATS_YAML_H

#include "formats/format.h"

#define CH_YAML_MAX_ALIAS_NODES 1000000u            /* nodes created by alias expansion */
#define CH_YAML_MAX_ALIAS_BYTES (64u * 1024 * 1024) /* string bytes copied by aliases */

/* Parses the YAML text[0..len); name is used in messages ("NAME:LINE:COL: ...").
 * With opts->multi_doc, the result is a JSON array holding one value per document (empty for
 * an empty stream); without it a stream of more than one document is CONFHUB_EINVAL.
 * OUT: *out, a new reference, on success only. Returns CONFHUB_OK, CONFHUB_EINVAL (bad input,
 * err->line/err->column set when the position is known), CONFHUB_ETOOBIG or CONFHUB_ENOMEM.
 * Thread-safe: no shared state. */
enum confhub_status ch_yaml_parse(const char *name, const char *text, size_t len,
                                  const struct ch_format_opts *opts, json_t **out,
                                  struct ch_err *err);

/* Serialises doc as block-style YAML that reads back (through ch_yaml_parse) to an equal
 * value: strings that would resolve to another type are quoted, floats always carry a '.' or
 * an exponent, object key order is kept. With opts->multi_doc, doc must be an array and each
 * element becomes one document ("---" before each). Nesting deeper than opts->max_depth
 * (0: 64) is CONFHUB_ETOOBIG.
 * OUT: *out (ch_malloc'd, NUL-terminated; the caller frees it with ch_free) and *len_out. */
enum confhub_status ch_yaml_dump(const json_t *doc, const struct ch_format_opts *opts, char **out,
                                 size_t *len_out, struct ch_err *err);

/* `confhub debug yaml-to-json`: YAML on stdin, every document as one JSON text per line on
 * stdout (the yaml-test-suite --json shape). Exit 0, or 1 with the message on stderr. */
int ch_yaml_debug_to_json(int argc, char **argv);

/* `confhub debug yaml-roundtrip`: YAML on stdin, parsed and written back by ch_yaml_dump (one
 * YAML document per input document) on stdout. Exit 0, or 1 with the message on stderr. */
int ch_yaml_debug_roundtrip(int argc, char **argv);

#endif
