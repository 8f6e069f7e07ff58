/* SPDX-License-Identifier: MIT */
/*
 * names.h: the rules for namespace, section and key names, and path-segment decoding.
 *
 * A name is 1..max_len bytes of valid UTF-8 with no control characters (U+0000-U+001F,
 * U+007F-U+009F) and no '/', and is not ".", ".." or "@" ("@" is the reserved entry that holds
 * a section whose value is a list or a scalar). In URLs names are percent-encoded segments.
 */
#ifndef CH_NAMES_H
#define CH_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* The reserved key that holds a non-object section value. */
#define CH_NAMES_SCALAR_KEY "@"

/* Checks name[0..len) against the rules; what names the kind ("key") for the message.
 * Returns CONFHUB_OK, CONFHUB_EINVAL or CONFHUB_ETOOBIG with err set. */
enum confhub_status ch_names_check(const char *what, const char *name, size_t len, size_t max_len,
                                   struct ch_err *err);

/* Returns true when s[0..len) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool ch_names_utf8_valid(const char *s, size_t len);

/* Where a UTF-8 check stands between two pieces of one text: continuation bytes still due, and
 * the range the next one must be in. All zero at a character boundary, and to start. */
struct ch_names_utf8 {
    uint8_t need, lo, hi;
};

/* Checks s[0..len) as the next piece of a text (a WebSocket message arriving in parts), by the
 * rules of ch_names_utf8_valid, carrying an unfinished character in *state to the next piece.
 * Returns false at the first byte that cannot be UTF-8; the whole text is valid when every
 * piece passed and state->need is 0 at its end. */
bool ch_names_utf8_feed(struct ch_names_utf8 *state, const char *s, size_t len);

/* Percent-decodes src[0..len) into out (at least len + 1 bytes), NUL-terminated.
 * OUT: *out_len is the decoded length. Returns CONFHUB_EINVAL on a bad escape ("%4" or "%zz")
 * or a decoded NUL byte. '+' is left as is (it is not a space in a path). */
enum confhub_status ch_names_percent_decode(const char *src, size_t len, char *out, size_t *out_len,
                                            struct ch_err *err);

#endif
