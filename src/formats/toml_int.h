/* SPDX-License-Identifier: MIT */
/*
 * toml_int.h: the typed TOML tree shared by toml.c, toml_write.c and toml_debug.c (nothing
 * outside the TOML module includes this file; toml.h is the module's interface).
 *
 * The tree keeps every TOML type, which JSON alone cannot: the conformance harness needs to
 * tell a local date from a string and 1.0 from 1. A document is a table value:
 *
 *   value ::= string | integer | float | bool | one of four date-time kinds   (scalars)
 *           | array  (items: value *[])
 *           | table  (entries: {key, value *}[] in insertion order, plus a hash index)
 *
 * Every node is allocated with ch_malloc and owned by its parent; ch_toml_value_free() frees
 * a whole subtree. Recursion over the tree is bounded because the reader and the converters
 * refuse trees deeper than the depth limit (max-json-depth).
 */
#ifndef CH_FORMATS_TOML_INT_H
#define CH_FORMATS_TOML_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define CH_TOML_DEFAULT_DEPTH 64

enum ch_toml_type {
    CH_TOML_STRING,
    CH_TOML_INTEGER,
    CH_TOML_FLOAT,
    CH_TOML_BOOL,
    CH_TOML_DATETIME,       /* offset date-time: 1979-05-27T07:32:00Z */
    CH_TOML_DATETIME_LOCAL, /* 1979-05-27T07:32:00 */
    CH_TOML_DATE_LOCAL,     /* 1979-05-27 */
    CH_TOML_TIME_LOCAL,     /* 07:32:00 */
    CH_TOML_ARRAY,
    CH_TOML_TABLE
};

/*
 * How a table or array came to exist. TOML 1.0's redefinition rules depend on it:
 *   [a.b] creates a IMPLICIT; a later [a] may still define it (once).
 *   [a] or [[a]]'s element is HEADER: defined; no second [a], no dotted keys from outside.
 *   a.b = 1 creates a DOTTED: no [a] header later, but [a.c] may add a sub-table.
 *   {..} and [..] written as values are INLINE: nothing may be added to them afterwards.
 *   [[a]] creates an array of tables (ARRAY_OF_TABLES), the only array [[a]] may extend.
 */
enum ch_toml_origin {
    CH_TOML_INLINE = 0,
    CH_TOML_IMPLICIT,
    CH_TOML_HEADER,
    CH_TOML_DOTTED,
    CH_TOML_ARRAY_OF_TABLES
};

struct ch_toml_value;

struct ch_toml_entry {
    char *key;                 /* owned; may hold NUL bytes (a "\u0000" escape) */
    size_t key_len;            /* bytes in key */
    struct ch_toml_value *val; /* owned */
};

struct ch_toml_value {
    enum ch_toml_type type;
    enum ch_toml_origin origin; /* tables and arrays only */
    size_t pos;                 /* byte offset of the value in the source, for messages */

    union {
        int64_t integer;
        double real;
        bool boolean;

        struct {
            char *ptr;  /* owned, NUL-terminated; strings may also hold NUL bytes */
            size_t len; /* bytes, without the terminator */
        } str;          /* strings, and the date-time kinds as normalised RFC 3339 text */

        struct {
            struct ch_toml_value **items; /* owned */
            size_t n, cap;
        } arr;

        struct {
            struct ch_toml_entry *entries; /* owned, in insertion order */
            size_t n, cap;
            uint32_t *slots; /* hash index: entry number + 1, 0 = empty; NULL while small */
            size_t n_slots;  /* a power of two, or 0 */
        } tab;
    };
};

/* A new empty table or array, or a scalar of the given type (zeroed). NULL when out of
 * memory. */
struct ch_toml_value *ch_toml_value_new(enum ch_toml_type type, size_t pos);

/* A new string (or date-time text) value holding a copy of s[0..len). NULL when out of memory. */
struct ch_toml_value *ch_toml_string_new(enum ch_toml_type type, const char *s, size_t len,
                                         size_t pos);

/* Frees v and everything under it. NULL is a no-op. */
void ch_toml_value_free(struct ch_toml_value *v);

/* The value under key in table t, or NULL. */
struct ch_toml_value *ch_toml_table_get(const struct ch_toml_value *t, const char *key,
                                        size_t key_len);

/* Adds key = val to table t (the key must not be there yet); on success t owns val and a copy
 * of key. Returns CONFHUB_OK or CONFHUB_ENOMEM (then val still belongs to the caller). */
enum confhub_status ch_toml_table_add(struct ch_toml_value *t, const char *key, size_t key_len,
                                      struct ch_toml_value *val);

/* Appends val to array a; on success a owns val. CONFHUB_OK or CONFHUB_ENOMEM. */
enum confhub_status ch_toml_array_push(struct ch_toml_value *a, struct ch_toml_value *val);

/*
 * Reads a TOML document into a typed tree (the reader; toml.c). max_depth 0 means 64.
 * OUT: *out (a table; free with ch_toml_value_free) on success. Errors as ch_toml_parse.
 */
enum confhub_status ch_toml_read(const char *name, const char *text, size_t len, size_t max_depth,
                                 struct ch_toml_value **out, struct ch_err *err);

/*
 * Checks that text[0..len) is a date-time of the given kind as TOML writes it ('T' or ' '
 * between date and time, any case). OUT: norm (len + 1 bytes) receives the normalised text.
 * Returns false when it is not one.
 */
bool ch_toml_datetime_check(enum ch_toml_type type, const char *text, size_t len, char *norm);

/* Writes the typed tree root (a table) as TOML text (toml_write.c).
 * OUT: *out (ch_malloc'd, NUL-terminated) and *len_out. CONFHUB_OK or CONFHUB_ENOMEM. */
enum confhub_status ch_toml_write(const struct ch_toml_value *root, char **out, size_t *len_out,
                                  struct ch_err *err);

/* Formats d so that it reads back as the same double and as a TOML float (1.0, not 1):
 * the shortest of %.15g, %.16g, %.17g that round-trips; nan, inf, -inf as TOML spells them.
 * buf must hold 40 bytes. */
void ch_toml_format_float(double d, char *buf);

/* TOML's spellings, appended to a struct ch_buf (common/buf.h); false when out of memory. */

/* Appends key as TOML writes it: bare when it is [A-Za-z0-9_-]+, else a quoted basic string. */
bool ch_toml_buf_add_key(struct ch_buf *b, const char *key, size_t key_len);

/* Appends s[0..len) as a basic string: "..." with \uXXXX for control characters. */
bool ch_toml_buf_add_string(struct ch_buf *b, const char *s, size_t len);

#endif
