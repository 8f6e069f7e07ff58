/* SPDX-License-Identifier: MIT */
/*
 * buf.h: a growable byte buffer, the one every writer in the project appends to (the model's
 * JSON serialiser, the YAML and TOML writers and readers).
 *
 * Appends double the capacity as needed. Out of memory is sticky: the failing append and every
 * later one return false and change nothing, so a writer may append freely and check `failed`
 * (or any return value) once at the end. Zero-initialise a struct ch_buf to start.
 */
#ifndef CH_BUF_H
#define CH_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct ch_buf {
    char *ptr;   /* owned (ch_malloc); NUL-terminated once anything was appended */
    size_t len;  /* bytes appended, without the NUL */
    size_t cap;  /* bytes allocated */
    bool failed; /* an append ran out of memory: the content is incomplete */
};

/* Appends data[0..len). Returns false when out of memory (now or before). */
bool ch_buf_add(struct ch_buf *b, const void *data, size_t len);
bool ch_buf_addc(struct ch_buf *b, char c);

/* Makes room for cap bytes in all (the NUL included) so that appends up to it never move the
 * content; for writers that know their size in advance. Returns false when out of memory. */
bool ch_buf_reserve(struct ch_buf *b, size_t cap);
bool ch_buf_adds(struct ch_buf *b, const char *s);

/* Appends name[0..len) as a JSON string. Only for text already known to be valid UTF-8
 * without control characters (names, actors): just the quote and the backslash are escaped. */
bool ch_buf_add_json_name(struct ch_buf *b, const char *name, size_t len);

/* Frees the content and resets b to empty. */
void ch_buf_free(struct ch_buf *b);

#endif
