/* SPDX-License-Identifier: MIT */
/*
 * output.h: how the CLI prints values, in text mode and JSON mode.
 *
 * Numbers are printed in their shortest form that reads back as the same double (0.1, not
 * jansson's 0.10000000000000001), so what a user put is what get shows. Text is UTF-8 and is
 * never escaped beyond what JSON requires.
 */
#ifndef CH_CLI_OUTPUT_H
#define CH_CLI_OUTPUT_H

#include <stdio.h>

#include <jansson.h>

/* Writes v as JSON: indent 0 is one compact line, indent > 0 pretty-prints with that many
 * spaces per level. No trailing newline. Object members keep their order. */
void ch_cli_output_json(FILE *f, const json_t *v, int indent);

/* Text mode, one value and a newline: a string raw (no quotes, no escapes), an object or an
 * array pretty-printed with indent 2, anything else as compact JSON (42, true, null). */
void ch_cli_output_value(FILE *f, const json_t *v);

/* Text mode, an object's members as "key = <compact JSON>" lines, sorted by key bytewise. */
void ch_cli_output_entries(FILE *f, const json_t *obj);

/* Text mode, an object's member names, one per line, sorted bytewise. */
void ch_cli_output_names(FILE *f, const json_t *obj);

/* Builds a JSON array of obj's member names, sorted bytewise. Returns a new reference, or NULL
 * when out of memory. */
json_t *ch_cli_output_sorted_names(const json_t *obj);

#endif
