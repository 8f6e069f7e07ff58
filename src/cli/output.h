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

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* --color: when to colour output. */
enum ch_cli_color {
    CH_CLI_COLOR_AUTO = 0, /* when the stream is a terminal and NO_COLOR is unset or empty */
    CH_CLI_COLOR_ALWAYS,
    CH_CLI_COLOR_NEVER,
};

/* ANSI SGR sequences for coloured output; print them only when ch_cli_output_use_color(). */
#define CH_CLI_SGR_RED    "\033[31m"
#define CH_CLI_SGR_GREEN  "\033[32m"
#define CH_CLI_SGR_YELLOW "\033[33m"
#define CH_CLI_SGR_BOLD   "\033[1m"
#define CH_CLI_SGR_RESET  "\033[m"

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

/* Whether to colour what goes to file descriptor fd: always, never, or (auto) when fd is a
 * terminal, NO_COLOR is unset or empty (no-color.org) and TERM is not "dumb". */
bool ch_cli_output_use_color(enum ch_cli_color when, int fd);

/*
 * Text mode, a dry run's answer ({"added":[...],"changed":[...],"removed":[...]}, entries with
 * "section", "key" and "value" or "old"/"new") as lines sorted by section and key:
 *   + section/key = value      ~ section/key: old -> new      - section/key
 * Values are compact JSON. With color, '+' lines are green, '~' yellow and '-' red.
 * OUT: counts[0..2] are the numbers added, changed and removed. Returns false when out of
 * memory (nothing is printed then).
 */
bool ch_cli_output_changes(FILE *f, const json_t *answer, bool color, size_t counts[3]);

/*
 * History and watch events, {"revision","timestamp","actor","remote","op","ns","section","key",
 * "old_value"?,"new_value"?} (docs/history.md): old_value is absent for a key that did not
 * exist, new_value for a delete.
 */

/* A member of obj that should be a string, or "?" when it is absent or not a string.
 * Borrowed from obj. */
const char *ch_cli_output_member_text(const json_t *obj, const char *name);

/* Writes an event's change as compact JSON, "old -> new": "(none) -> new" for a key that did
 * not exist before, "old -> (deleted)" for a delete. No newline. */
void ch_cli_output_change(FILE *f, const json_t *event);

/* Formats an event's timestamp as "2026-11-23 08:14:02" (UTC, to the second) into out, or
 * copies the server's text when it does not parse ("?" when there is none). */
void ch_cli_output_event_time(const json_t *event, char *out, size_t out_len);

/* Writes one event as a line, "REV  TIME  ACTOR  OP  section/key  old -> new", the columns
 * of `confhub history` without the alignment (a stream cannot know the widths to come). */
void ch_cli_output_event_line(FILE *f, const json_t *event);

/* The width of UTF-8 text on a terminal, counted in characters (continuation bytes do not
 * count; a double-width character counts once). */
size_t ch_cli_output_text_width(const char *s);

/* Writes s with every control character as '?' (actors and names come from other users), then
 * spaces up to width characters. */
void ch_cli_output_cell(FILE *f, const char *s, size_t width);

#endif
