/* SPDX-License-Identifier: MIT */
/*
 * toml.c: the TOML 1.0 reader (https://toml.io/en/v1.0.0), the typed tree it builds
 * (toml_int.h), and the mapping of that tree to jansson values (toml.h).
 *
 * How to read this file: a `struct cursor` walks the text once, left to right. There is one
 * function per production of the TOML ABNF (parse_document, parse_key, parse_value,
 * parse_basic_string, parse_array, ...); each one starts at the cursor, consumes its
 * production, and either returns CONFHUB_OK with the cursor just past it, or calls fail(),
 * which formats "NAME:LINE:COL: what is wrong" and returns the status to pass up.
 *
 * Two invariants make the productions simpler:
 *   - check_text() runs first and rejects invalid UTF-8, control characters and a carriage
 *     return not followed by a newline anywhere in the file. TOML allows none of them in any
 *     context (tab excepted), so the productions only ever see clean text.
 *   - Nesting is bounded: every table or array records how deep it sits (the root table is
 *     depth 1, as ch_json_depth counts) and nothing deeper than max_depth is created, so the
 *     recursion in parse_value, ch_toml_value_free and to_json is bounded too.
 *
 * Table rules (TOML 1.0 "Table" and "Array of Tables"): see enum ch_toml_origin.
 */
#include "formats/toml.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "formats/toml_int.h"

/* ------------------------------------------------------------------ the typed tree ---- */

struct ch_toml_value *ch_toml_value_new(enum ch_toml_type type, size_t pos)
{
    struct ch_toml_value *v = ch_calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    v->type = type;
    v->origin = CH_TOML_INLINE;
    v->pos = pos;
    return v;
}

struct ch_toml_value *ch_toml_string_new(enum ch_toml_type type, const char *s, size_t len,
                                         size_t pos)
{
    struct ch_toml_value *v = ch_toml_value_new(type, pos);
    if (!v)
        return NULL;
    v->str.ptr = ch_malloc(len + 1);
    if (!v->str.ptr) {
        ch_free(v);
        return NULL;
    }
    if (len)
        memcpy(v->str.ptr, s, len);
    v->str.ptr[len] = '\0';
    v->str.len = len;
    return v;
}

void ch_toml_value_free(struct ch_toml_value *v)
{
    if (!v)
        return;
    switch (v->type) {
    case CH_TOML_ARRAY:
        for (size_t i = 0; i < v->arr.n; i++)
            ch_toml_value_free(v->arr.items[i]);
        ch_free(v->arr.items);
        break;
    case CH_TOML_TABLE:
        for (size_t i = 0; i < v->tab.n; i++) {
            ch_free(v->tab.entries[i].key);
            ch_toml_value_free(v->tab.entries[i].val);
        }
        ch_free(v->tab.entries);
        ch_free(v->tab.slots);
        break;
    case CH_TOML_INTEGER:
    case CH_TOML_FLOAT:
    case CH_TOML_BOOL:
        break;
    default:
        ch_free(v->str.ptr);
        break;
    }
    ch_free(v);
}

/* Tables keep their entries in file order; past a few entries a hash index (open addressing,
 * load at most 1/2) keeps duplicate-key checks linear over the whole document. */
#define INDEX_FROM 8

static uint32_t hash_key(const char *key, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 16777619u;
    return h;
}

static void index_insert(uint32_t *slots, size_t n_slots, const struct ch_toml_entry *e,
                         uint32_t number)
{
    size_t i = hash_key(e->key, e->key_len) & (n_slots - 1);
    while (slots[i])
        i = (i + 1) & (n_slots - 1);
    slots[i] = number + 1;
}

static bool index_rebuild(struct ch_toml_value *t, size_t n_slots)
{
    uint32_t *slots = ch_calloc(n_slots, sizeof(*slots));
    if (!slots)
        return false;
    for (size_t i = 0; i < t->tab.n; i++)
        index_insert(slots, n_slots, &t->tab.entries[i], (uint32_t)i);
    ch_free(t->tab.slots);
    t->tab.slots = slots;
    t->tab.n_slots = n_slots;
    return true;
}

struct ch_toml_value *ch_toml_table_get(const struct ch_toml_value *t, const char *key,
                                        size_t key_len)
{
    if (!t->tab.slots) {
        for (size_t i = 0; i < t->tab.n; i++) {
            const struct ch_toml_entry *e = &t->tab.entries[i];
            if (e->key_len == key_len && memcmp(e->key, key, key_len) == 0)
                return e->val;
        }
        return NULL;
    }
    size_t mask = t->tab.n_slots - 1;
    for (size_t i = hash_key(key, key_len) & mask; t->tab.slots[i]; i = (i + 1) & mask) {
        const struct ch_toml_entry *e = &t->tab.entries[t->tab.slots[i] - 1];
        if (e->key_len == key_len && memcmp(e->key, key, key_len) == 0)
            return e->val;
    }
    return NULL;
}

enum confhub_status ch_toml_table_add(struct ch_toml_value *t, const char *key, size_t key_len,
                                      struct ch_toml_value *val)
{
    struct ch_toml_entry *e;
    char *copy;

    if (t->tab.n == t->tab.cap) {
        size_t cap = t->tab.cap ? t->tab.cap * 2 : 4;
        struct ch_toml_entry *grown = ch_realloc(t->tab.entries, cap * sizeof(*grown));
        if (!grown)
            return CONFHUB_ENOMEM;
        t->tab.entries = grown;
        t->tab.cap = cap;
    }
    /* Grow the index before changing anything else, so a failure leaves t as it was. */
    if (t->tab.n + 1 >= INDEX_FROM && (t->tab.n + 1) * 2 > t->tab.n_slots &&
        !index_rebuild(t, t->tab.n_slots ? t->tab.n_slots * 2 : 4 * INDEX_FROM))
        return CONFHUB_ENOMEM;
    copy = ch_malloc(key_len + 1);
    if (!copy)
        return CONFHUB_ENOMEM;
    if (key_len)
        memcpy(copy, key, key_len);
    copy[key_len] = '\0';
    e = &t->tab.entries[t->tab.n];
    e->key = copy;
    e->key_len = key_len;
    e->val = val;
    if (t->tab.slots)
        index_insert(t->tab.slots, t->tab.n_slots, e, (uint32_t)t->tab.n);
    t->tab.n++;
    return CONFHUB_OK;
}

enum confhub_status ch_toml_array_push(struct ch_toml_value *a, struct ch_toml_value *val)
{
    if (a->arr.n == a->arr.cap) {
        size_t cap = a->arr.cap ? a->arr.cap * 2 : 4;
        struct ch_toml_value **grown = ch_realloc(a->arr.items, cap * sizeof(*grown));
        if (!grown)
            return CONFHUB_ENOMEM;
        a->arr.items = grown;
        a->arr.cap = cap;
    }
    a->arr.items[a->arr.n++] = val;
    return CONFHUB_OK;
}

/* ------------------------------------------------------------------ keys and strings --- */

static bool is_bare_key_char(int ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-';
}

bool ch_toml_buf_add_key(struct ch_buf *b, const char *key, size_t key_len)
{
    bool bare = key_len > 0;
    for (size_t i = 0; i < key_len && bare; i++)
        bare = is_bare_key_char((unsigned char)key[i]);
    return bare ? ch_buf_add(b, key, key_len) : ch_toml_buf_add_string(b, key, key_len);
}

bool ch_toml_buf_add_string(struct ch_buf *b, const char *s, size_t len)
{
    if (!ch_buf_addc(b, '"'))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        const char *esc = NULL;
        char hex[8];
        switch (ch) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\r':
            esc = "\\r";
            break;
        default:
            /* TOML basic strings allow no other control character, nor DEL, raw. */
            if (ch < 0x20 || ch == 0x7f) {
                snprintf(hex, sizeof(hex), "\\u%04X", ch);
                esc = hex;
            }
            break;
        }
        if (esc ? !ch_buf_adds(b, esc) : !ch_buf_addc(b, (char)ch))
            return false;
    }
    return ch_buf_addc(b, '"');
}

/* ------------------------------------------------------------------ the cursor ---- */

/* A key as read, possibly dotted: parts[i] is bytes.ptr[off .. off+len). */
struct key_part {
    size_t off; /* into keypath.bytes */
    size_t len;
    size_t pos; /* byte offset of the part in the source, for messages */
};

struct keypath {
    struct ch_buf bytes;    /* every part's bytes, one after the other */
    struct key_part *parts; /* owned */
    size_t n, cap;
};

struct cursor {
    const char *name;              /* the document's name in messages */
    const char *start;             /* the text, after a byte-order mark */
    const char *p;                 /* the next byte to read */
    const char *end;               /* one past the last byte */
    size_t max_depth;              /* deepest table or array allowed; the root is depth 1 */
    struct ch_err *err;            /* where fail() reports */
    struct ch_toml_value *root;    /* the document table, owned by the caller of read_doc */
    struct ch_toml_value *section; /* the table selected by the last [header] */
    size_t section_depth;          /* its depth */
    struct ch_buf sbuf;            /* scratch for the string or number being read */
};

/* Line and column (1-based, columns in characters) of byte offset pos in start[]. */
static void position(const char *start, size_t pos, int *line, int *col)
{
    int l = 1, c = 1;
    for (size_t i = 0; i < pos; i++) {
        unsigned char ch = (unsigned char)start[i];
        if (ch == '\n') {
            l++;
            c = 1;
        } else if ((ch & 0xc0) != 0x80) {
            c++; /* count characters, not UTF-8 continuation bytes */
        }
    }
    *line = l;
    *col = c;
}

/* Reports "NAME:LINE:COL: message" for byte offset pos of the text; returns code. */
__attribute__((format(printf, 4, 0))) static enum confhub_status
vreport(const struct cursor *c, size_t pos, enum confhub_status code, const char *fmt, va_list ap)
{
    char msg[384];
    int line, col;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    position(c->start, pos, &line, &col);
    ch_err_set(c->err, code, "%s:%d:%d: %s", c->name, line, col, msg);
    if (c->err) {
        c->err->line = line;
        c->err->column = col;
    }
    return code;
}

__attribute__((format(printf, 4, 5))) static enum confhub_status
report(const struct cursor *c, size_t pos, enum confhub_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(c, pos, code, fmt, ap);
    va_end(ap);
    return code;
}

/* A syntax error at `at` (a pointer into the text). Always CONFHUB_EINVAL. */
__attribute__((format(printf, 3, 4))) static enum confhub_status
fail(const struct cursor *c, const char *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(c, (size_t)(at - c->start), CONFHUB_EINVAL, fmt, ap);
    va_end(ap);
    return CONFHUB_EINVAL;
}

static enum confhub_status fail_depth(const struct cursor *c, const char *at)
{
    return report(c, (size_t)(at - c->start), CONFHUB_ETOOBIG,
                  "TOML nesting is deeper than the limit of %zu (max-json-depth)", c->max_depth);
}

static enum confhub_status fail_nomem(const struct cursor *c)
{
    return ch_err_set(c->err, CONFHUB_ENOMEM, "%s: cannot read TOML: out of memory", c->name);
}

/* The next byte, or -1 at the end of the text. */
static int peek(const struct cursor *c)
{
    return c->p < c->end ? (unsigned char)*c->p : -1;
}

/* The byte k places after the next one, or -1. */
static int peek_at(const struct cursor *c, size_t k)
{
    return (size_t)(c->end - c->p) > k ? (unsigned char)c->p[k] : -1;
}

/* Consumes ch if it is next. */
static bool accept(struct cursor *c, int ch)
{
    if (peek(c) != ch)
        return false;
    c->p++;
    return true;
}

static bool is_digit(int ch)
{
    return ch >= '0' && ch <= '9';
}

static bool is_hex_digit(int ch)
{
    return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* newline = LF / CRLF. check_text() guarantees that every CR is followed by LF. */
static bool at_newline(const struct cursor *c)
{
    return peek(c) == '\n' || peek(c) == '\r';
}

static bool skip_newline(struct cursor *c)
{
    accept(c, '\r');
    return accept(c, '\n');
}

/* ws = *( space / tab ) */
static void skip_ws(struct cursor *c)
{
    while (peek(c) == ' ' || peek(c) == '\t')
        c->p++;
}

/* comment = "#" *non-eol. check_text() has already refused control characters in it. */
static void skip_comment(struct cursor *c)
{
    if (peek(c) != '#')
        return;
    while (c->p < c->end && !at_newline(c))
        c->p++;
}

/* Inside arrays: ws, comments and newlines in any mix (ws-comment-newline). */
static void skip_ws_comments_newlines(struct cursor *c)
{
    for (;;) {
        skip_ws(c);
        skip_comment(c);
        if (!at_newline(c))
            return;
        skip_newline(c);
    }
}

/* What may follow a number, a date or a boolean. */
static bool at_value_end(const struct cursor *c)
{
    int ch = peek(c);
    return ch < 0 || strchr(" \t\r\n,]}#", ch) != NULL;
}

/* ------------------------------------------------------------------ encoding ---- */

/* Decodes one UTF-8 sequence at s (not ASCII). Returns its length, or 0 when it is invalid:
 * truncated, overlong, a surrogate, or past U+10FFFF. */
static size_t utf8_decode(const unsigned char *s, const unsigned char *end, uint32_t *cp)
{
    size_t n;
    uint32_t v, min;

    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2, v = s[0] & 0x1f, min = 0x80;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3, v = s[0] & 0x0f, min = 0x800;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4, v = s[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if ((size_t)(end - s) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

/* The whole-file checks described at the top: valid UTF-8, no control characters but tab and
 * newline, no CR without LF. */
static enum confhub_status check_text(struct cursor *c)
{
    const unsigned char *s = (const unsigned char *)c->start;
    const unsigned char *end = (const unsigned char *)c->end;

    while (s < end) {
        const char *at = (const char *)s;
        uint32_t cp;
        size_t n;

        if (*s >= 0x80) {
            n = utf8_decode(s, end, &cp);
            if (n == 0)
                return fail(c, at, "invalid UTF-8 (byte 0x%02X)", *s);
            s += n;
            continue;
        }
        if (*s == '\r' && (s + 1 == end || s[1] != '\n'))
            return fail(c, at, "carriage return not followed by a newline");
        if ((*s < 0x20 && *s != '\t' && *s != '\n' && *s != '\r') || *s == 0x7f)
            return fail(c, at, "control character U+%04X is not allowed; escape it in a string",
                        *s);
        s++;
    }
    return CONFHUB_OK;
}

/* Appends code point cp to b as UTF-8. */
static bool add_utf8(struct ch_buf *b, uint32_t cp)
{
    char out[4];
    size_t n;

    if (cp < 0x80) {
        out[0] = (char)cp, n = 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6)), n = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12)), n = 3;
    } else {
        out[0] = (char)(0xf0 | (cp >> 18)), n = 4;
    }
    for (size_t i = 1; i < n; i++)
        out[i] = (char)(0x80 | ((cp >> (6 * (n - 1 - i))) & 0x3f));
    return ch_buf_add(b, out, n);
}

/* ------------------------------------------------------------------ strings ---- */

/* escaped = "\" ( " \ b f n r t / uXXXX / UXXXXXXXX ); the cursor is on the backslash. */
static enum confhub_status parse_escape(struct cursor *c, struct ch_buf *b)
{
    const char *at = c->p;
    int ch = peek_at(c, 1);
    const char *simple = strchr("\"\\bfnrt", ch > 0 ? ch : '?');
    size_t digits;
    uint32_t cp = 0;

    if (simple) {
        static const char decoded[] = "\"\\\b\f\n\r\t";
        c->p += 2;
        return ch_buf_addc(b, decoded[simple - "\"\\bfnrt"]) ? CONFHUB_OK : fail_nomem(c);
    }
    if (ch != 'u' && ch != 'U')
        return fail(c, at, "invalid escape sequence in a string");
    digits = ch == 'u' ? 4 : 8;
    c->p += 2;
    for (size_t i = 0; i < digits; i++) {
        int h = peek(c);
        if (!is_hex_digit(h))
            return fail(c, at, "\\%c needs %zu hexadecimal digits", ch, digits);
        cp = cp * 16 + (uint32_t)(is_digit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
        c->p++;
    }
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return fail(c, at, "escape U+%04" PRIX32 " is not a Unicode scalar value", cp);
    return add_utf8(b, cp) ? CONFHUB_OK : fail_nomem(c);
}

/* basic-string = '"' *basic-char '"'; into c->sbuf. The cursor is on the opening quote. */
static enum confhub_status parse_basic_string(struct cursor *c)
{
    const char *open = c->p++;
    enum confhub_status rc;

    c->sbuf.len = 0;
    for (;;) {
        int ch = peek(c);
        if (ch < 0 || at_newline(c))
            return fail(c, open, "string is not closed before the end of the line");
        if (ch == '"') {
            c->p++;
            return CONFHUB_OK;
        }
        if (ch == '\\') {
            rc = parse_escape(c, &c->sbuf);
            if (rc != CONFHUB_OK)
                return rc;
            continue;
        }
        if (!ch_buf_addc(&c->sbuf, (char)ch))
            return fail_nomem(c);
        c->p++;
    }
}

/* literal-string = "'" *literal-char "'"; no escapes. */
static enum confhub_status parse_literal_string(struct cursor *c)
{
    const char *open = c->p++;
    const char *s = c->p;

    while (c->p < c->end && *c->p != '\'' && !at_newline(c))
        c->p++;
    if (peek(c) != '\'')
        return fail(c, open, "string is not closed before the end of the line");
    c->sbuf.len = 0;
    if (!ch_buf_add(&c->sbuf, s, (size_t)(c->p - s)))
        return fail_nomem(c);
    c->p++;
    return CONFHUB_OK;
}

/*
 * ml-basic-string = '"""' [newline] ml-basic-body '"""' and
 * ml-literal-string = "'''" [newline] ml-literal-body "'''"; quote is '"' or '\''.
 * A newline right after the opening delimiter is dropped; CRLF inside becomes LF. Up to two
 * quotes may sit right before the closing three, so a run of 4 or 5 quotes ends the string
 * with 1 or 2 quotes of content. In basic strings a backslash at the end of a line removes it
 * and all whitespace and newlines that follow.
 */
static enum confhub_status parse_multiline_string(struct cursor *c, char quote)
{
    const char *open = c->p;
    enum confhub_status rc;

    c->p += 3;
    c->sbuf.len = 0;
    if (at_newline(c))
        skip_newline(c);
    for (;;) {
        int ch = peek(c);
        if (ch < 0)
            return fail(c, open, "multi-line string is not closed");
        if (ch == quote) {
            size_t run = 0;
            while (peek_at(c, run) == quote)
                run++;
            if (run >= 3) {
                if (run > 5)
                    return fail(c, c->p + 5, "too many quotes at the end of a string");
                if (!ch_buf_add(&c->sbuf, c->p, run - 3))
                    return fail_nomem(c);
                c->p += run;
                return CONFHUB_OK;
            }
            if (!ch_buf_add(&c->sbuf, c->p, run))
                return fail_nomem(c);
            c->p += run;
            continue;
        }
        if (ch == '\\' && quote == '"') {
            int next = peek_at(c, 1);
            if (next == ' ' || next == '\t' || next == '\r' || next == '\n') {
                /* line-ending backslash: only whitespace may follow it on its line */
                const char *at = c->p++;
                skip_ws(c);
                if (!at_newline(c))
                    return fail(c, at, "invalid escape sequence in a string");
                while (peek(c) == ' ' || peek(c) == '\t' || at_newline(c))
                    c->p++;
                continue;
            }
            rc = parse_escape(c, &c->sbuf);
            if (rc != CONFHUB_OK)
                return rc;
            continue;
        }
        if (ch == '\r') {
            c->p++; /* check_text(): an LF follows, which the next round adds */
            continue;
        }
        if (!ch_buf_addc(&c->sbuf, (char)ch))
            return fail_nomem(c);
        c->p++;
    }
}

/* Any of the four string forms, into c->sbuf. */
static enum confhub_status parse_string(struct cursor *c)
{
    char quote = *c->p;
    if (peek_at(c, 1) == quote && peek_at(c, 2) == quote)
        return parse_multiline_string(c, quote);
    return quote == '"' ? parse_basic_string(c) : parse_literal_string(c);
}

/* ------------------------------------------------------------------ keys ---- */

static void keypath_free(struct keypath *k)
{
    ch_free(k->bytes.ptr);
    ch_free(k->parts);
}

/* simple-key = quoted-key / unquoted-key; appends one part to k. */
static enum confhub_status parse_simple_key(struct cursor *c, struct keypath *k)
{
    const char *at = c->p;
    const char *s = c->p;
    size_t len;
    enum confhub_status rc;

    if (peek(c) == '"' || peek(c) == '\'') {
        if (peek_at(c, 1) == *c->p && peek_at(c, 2) == *c->p)
            return fail(c, at, "a key cannot be a multi-line string");
        rc = parse_string(c);
        if (rc != CONFHUB_OK)
            return rc;
        s = c->sbuf.ptr ? c->sbuf.ptr : "";
        len = c->sbuf.len;
    } else {
        while (c->p < c->end && is_bare_key_char((unsigned char)*c->p))
            c->p++;
        len = (size_t)(c->p - s);
        if (len == 0)
            return fail(c, at, "expected a key (letters, digits, '_', '-' or a quoted string)");
    }
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 4;
        struct key_part *grown = ch_realloc(k->parts, cap * sizeof(*grown));
        if (!grown)
            return fail_nomem(c);
        k->parts = grown;
        k->cap = cap;
    }
    k->parts[k->n] =
        (struct key_part){.off = k->bytes.len, .len = len, .pos = (size_t)(at - c->start)};
    if (!ch_buf_add(&k->bytes, s, len))
        return fail_nomem(c);
    k->n++;
    return CONFHUB_OK;
}

/* key = simple-key / dotted-key; dotted-key = simple-key 1*( ws "." ws simple-key ).
 * Skips the whitespace after the key too. */
static enum confhub_status parse_key(struct cursor *c, struct keypath *k)
{
    enum confhub_status rc;

    k->n = 0;
    k->bytes.len = 0;
    for (;;) {
        rc = parse_simple_key(c, k);
        if (rc != CONFHUB_OK)
            return rc;
        skip_ws(c);
        if (!accept(c, '.'))
            return CONFHUB_OK;
        skip_ws(c);
    }
}

static const char *part_ptr(const struct keypath *k, size_t i)
{
    return k->bytes.ptr + k->parts[i].off;
}

static const char *part_at(const struct cursor *c, const struct keypath *k, size_t i)
{
    return c->start + k->parts[i].pos;
}

/* The first n parts of k as TOML writes them ("a.b", "a.\"x y\""), for messages; truncated to
 * fit buf (which has size bytes). */
static const char *describe_key(const struct keypath *k, size_t n, char *buf, size_t size)
{
    struct ch_buf b = {0};
    bool ok = true;

    for (size_t i = 0; i < n && ok; i++) {
        if (i > 0)
            ok = ch_buf_addc(&b, '.');
        ok = ok && ch_toml_buf_add_key(&b, part_ptr(k, i), k->parts[i].len);
    }
    snprintf(buf, size, "%s", ok && b.ptr ? b.ptr : "?");
    ch_free(b.ptr);
    return buf;
}

static const char *type_name(const struct ch_toml_value *v)
{
    /* clang-format off */
    static const char *const names[] = {
        [CH_TOML_STRING] = "string",
        [CH_TOML_INTEGER] = "integer",
        [CH_TOML_FLOAT] = "float",
        [CH_TOML_BOOL] = "boolean",
        [CH_TOML_DATETIME] = "date-time",
        [CH_TOML_DATETIME_LOCAL] = "local date-time",
        [CH_TOML_DATE_LOCAL] = "local date",
        [CH_TOML_TIME_LOCAL] = "local time",
        [CH_TOML_ARRAY] = "array",
        [CH_TOML_TABLE] = "table",
    };

    /* clang-format on */
    if (v->type == CH_TOML_ARRAY && v->origin == CH_TOML_ARRAY_OF_TABLES)
        return "array of tables";
    if (v->type == CH_TOML_TABLE && v->origin == CH_TOML_INLINE)
        return "inline table";
    return names[v->type];
}

/* Creates an empty table of the given origin under key part i of k in t. */
static enum confhub_status add_table(struct cursor *c, struct ch_toml_value *t,
                                     const struct keypath *k, size_t i, enum ch_toml_origin origin,
                                     struct ch_toml_value **out)
{
    struct ch_toml_value *v = ch_toml_value_new(CH_TOML_TABLE, k->parts[i].pos);
    if (!v || ch_toml_table_add(t, part_ptr(k, i), k->parts[i].len, v) != CONFHUB_OK) {
        ch_toml_value_free(v);
        return fail_nomem(c);
    }
    v->origin = origin;
    *out = v;
    return CONFHUB_OK;
}

/* ------------------------------------------------------------------ numbers, dates ---- */

/* Reads exactly n digits as a number into *out. */
static bool read_fixed_digits(struct cursor *c, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(peek(c)))
            return false;
        v = v * 10 + (*c->p++ - '0');
    }
    *out = v;
    return true;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/* partial-time = time-hour ":" time-minute ":" time-second [ time-secfrac ] */
static enum confhub_status parse_time(struct cursor *c)
{
    const char *at = c->p;
    int hour, minute, second;

    if (!read_fixed_digits(c, 2, &hour) || !accept(c, ':') || !read_fixed_digits(c, 2, &minute))
        return fail(c, at, "expected a time as HH:MM:SS");
    if (!accept(c, ':') || !read_fixed_digits(c, 2, &second))
        return fail(c, at, "expected a time as HH:MM:SS (TOML 1.0 requires the seconds)");
    if (hour > 23 || minute > 59 || second > 60)
        return fail(c, at, "time %02d:%02d:%02d is out of range", hour, minute, second);
    if (accept(c, '.')) {
        if (!is_digit(peek(c)))
            return fail(c, c->p, "expected digits after the '.' in a time");
        while (is_digit(peek(c)))
            c->p++;
    }
    return CONFHUB_OK;
}

/*
 * offset-date-time / local-date-time / local-date / local-time; the cursor is on the first
 * digit. The text is kept, normalised (' ' and 't' become 'T', 'z' becomes 'Z').
 */
static enum confhub_status parse_datetime(struct cursor *c, struct ch_toml_value **out)
{
    const char *s = c->p;
    enum ch_toml_type type = CH_TOML_TIME_LOCAL;
    int year, month, day;
    enum confhub_status rc;
    struct ch_toml_value *v;

    if (peek_at(c, 2) == ':') {
        rc = parse_time(c);
        if (rc != CONFHUB_OK)
            return rc;
    } else {
        if (!read_fixed_digits(c, 4, &year) || !accept(c, '-') ||
            !read_fixed_digits(c, 2, &month) || !accept(c, '-') || !read_fixed_digits(c, 2, &day))
            return fail(c, s, "expected a date as YYYY-MM-DD");
        if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month))
            return fail(c, s, "date %04d-%02d-%02d does not exist", year, month, day);
        type = CH_TOML_DATE_LOCAL;
        /* A space separates date and time only when a time follows ("date time"). */
        if (peek(c) == 'T' || peek(c) == 't' ||
            (peek(c) == ' ' && is_digit(peek_at(c, 1)) && is_digit(peek_at(c, 2)) &&
             peek_at(c, 3) == ':')) {
            c->p++;
            rc = parse_time(c);
            if (rc != CONFHUB_OK)
                return rc;
            type = CH_TOML_DATETIME_LOCAL;
            if (accept(c, 'Z') || accept(c, 'z')) {
                type = CH_TOML_DATETIME;
            } else if (peek(c) == '+' || peek(c) == '-') {
                const char *at = c->p++;
                int oh, om;
                if (!read_fixed_digits(c, 2, &oh) || !accept(c, ':') ||
                    !read_fixed_digits(c, 2, &om))
                    return fail(c, at, "expected a time offset as +HH:MM or -HH:MM");
                if (oh > 23 || om > 59)
                    return fail(c, at, "time offset is out of range");
                type = CH_TOML_DATETIME;
            }
        }
    }
    if (!at_value_end(c))
        return fail(c, c->p, "unexpected character after a date or time");
    v = ch_toml_string_new(type, s, (size_t)(c->p - s), (size_t)(s - c->start));
    if (!v)
        return fail_nomem(c);
    for (size_t i = 0; i < v->str.len; i++) {
        if (v->str.ptr[i] == ' ' || v->str.ptr[i] == 't')
            v->str.ptr[i] = 'T';
        else if (v->str.ptr[i] == 'z')
            v->str.ptr[i] = 'Z';
    }
    *out = v;
    return CONFHUB_OK;
}

/*
 * Copies digits (of the kind is_ok accepts) into c->sbuf, dropping underscores, each of which
 * must sit between two digits. At least one digit is required.
 */
static enum confhub_status scan_digits(struct cursor *c, bool (*is_ok)(int), const char *what)
{
    if (!is_ok(peek(c)))
        return fail(c, c->p, "expected %s", what);
    for (;;) {
        if (is_ok(peek(c))) {
            if (!ch_buf_addc(&c->sbuf, *c->p++))
                return fail_nomem(c);
        } else if (peek(c) == '_') {
            if (!is_ok(peek_at(c, 1)))
                return fail(c, c->p, "'_' in a number must sit between two digits");
            c->p++;
        } else {
            return CONFHUB_OK;
        }
    }
}

static bool is_octal_digit(int ch)
{
    return ch >= '0' && ch <= '7';
}

static bool is_binary_digit(int ch)
{
    return ch == '0' || ch == '1';
}

/* hex-int / oct-int / bin-int: "0x", "0o" or "0b", no sign, at most INT64_MAX. */
static enum confhub_status parse_radix_integer(struct cursor *c, const char *s, int64_t *out)
{
    int prefix = peek_at(c, 1);
    unsigned base = prefix == 'x' ? 16 : prefix == 'o' ? 8 : 2;
    uint64_t v = 0;
    enum confhub_status rc;

    c->p += 2;
    c->sbuf.len = 0;
    rc = scan_digits(c,
                     base == 16  ? is_hex_digit
                     : base == 8 ? is_octal_digit
                                 : is_binary_digit,
                     "digits after the prefix");
    if (rc != CONFHUB_OK)
        return rc;
    for (size_t i = 0; i < c->sbuf.len; i++) {
        int ch = c->sbuf.ptr[i];
        unsigned d = (unsigned)(is_digit(ch) ? ch - '0' : (ch | 0x20) - 'a' + 10);
        if (v > ((uint64_t)INT64_MAX - d) / base)
            return fail(c, s, "integer does not fit in 64 bits");
        v = v * base + d;
    }
    *out = (int64_t)v;
    return CONFHUB_OK;
}

/*
 * integer / float, the cursor on the sign or first character:
 *   dec-int = [ "-" / "+" ] ( DIGIT / digit1-9 1*( DIGIT / "_" DIGIT ) )
 *   float   = dec-int ( exp / frac [ exp ] ) / [ "-" / "+" ] ( "inf" / "nan" )
 */
static enum confhub_status parse_number(struct cursor *c, struct ch_toml_value **out)
{
    const char *s = c->p;
    bool negative = peek(c) == '-';
    bool is_float = false;
    struct ch_toml_value *v;
    enum confhub_status rc;
    int64_t integer = 0;
    double real = 0;

    if (peek(c) == '+' || peek(c) == '-')
        c->p++;
    if ((size_t)(c->end - c->p) >= 3 &&
        (memcmp(c->p, "inf", 3) == 0 || memcmp(c->p, "nan", 3) == 0)) {
        is_float = true;
        real = *c->p == 'i' ? INFINITY : NAN;
        real = negative ? -real : real;
        c->p += 3;
    } else if (peek(c) == '0' &&
               (peek_at(c, 1) == 'x' || peek_at(c, 1) == 'o' || peek_at(c, 1) == 'b')) {
        if (c->p != s)
            return fail(c, s, "hexadecimal, octal and binary integers cannot have a sign");
        rc = parse_radix_integer(c, s, &integer);
        if (rc != CONFHUB_OK)
            return rc;
    } else {
        const char *digits = c->p;
        c->sbuf.len = 0;
        if (negative && !ch_buf_addc(&c->sbuf, '-'))
            return fail_nomem(c);
        rc = scan_digits(c, is_digit, "a value");
        if (rc != CONFHUB_OK)
            return rc;
        if (*digits == '0' && c->p - digits > 1)
            return fail(c, s, "leading zeros are not allowed in a number");
        if (accept(c, '.')) {
            is_float = true;
            if (!ch_buf_addc(&c->sbuf, '.'))
                return fail_nomem(c);
            rc = scan_digits(c, is_digit, "digits after the decimal point");
            if (rc != CONFHUB_OK)
                return rc;
        }
        if (peek(c) == 'e' || peek(c) == 'E') {
            is_float = true;
            c->p++;
            if (!ch_buf_addc(&c->sbuf, 'e'))
                return fail_nomem(c);
            if ((peek(c) == '+' || peek(c) == '-') && !ch_buf_addc(&c->sbuf, *c->p++))
                return fail_nomem(c);
            rc = scan_digits(c, is_digit, "digits in the exponent");
            if (rc != CONFHUB_OK)
                return rc;
        }
        if (is_float) {
            errno = 0;
            real = strtod(c->sbuf.ptr, NULL);
            if (errno == ERANGE && isinf(real))
                return fail(c, s, "float does not fit in 64 bits");
        } else {
            errno = 0;
            long long ll = strtoll(c->sbuf.ptr, NULL, 10);
            if (errno == ERANGE)
                return fail(c, s, "integer does not fit in 64 bits");
            integer = ll;
        }
    }
    if (!at_value_end(c))
        return fail(c, c->p, "unexpected character in a number");
    v = ch_toml_value_new(is_float ? CH_TOML_FLOAT : CH_TOML_INTEGER, (size_t)(s - c->start));
    if (!v)
        return fail_nomem(c);
    if (is_float)
        v->real = real;
    else
        v->integer = integer;
    *out = v;
    return CONFHUB_OK;
}

/* ------------------------------------------------------------------ values ---- */

static enum confhub_status parse_value(struct cursor *c, size_t depth, struct ch_toml_value **out);
static enum confhub_status parse_keyval(struct cursor *c, struct ch_toml_value *table,
                                        size_t depth);

/* array = "[" ws-comment-newline [ values ] ws-comment-newline "]"; a comma may follow the last
 * value. depth is the array's own depth. */
static enum confhub_status parse_array(struct cursor *c, size_t depth, struct ch_toml_value **out)
{
    const char *open = c->p;
    struct ch_toml_value *arr = NULL, *item = NULL;
    enum confhub_status rc = CONFHUB_OK;

    if (depth > c->max_depth)
        return fail_depth(c, open);
    arr = ch_toml_value_new(CH_TOML_ARRAY, (size_t)(open - c->start));
    if (!arr)
        return fail_nomem(c);
    c->p++;
    for (;;) {
        skip_ws_comments_newlines(c);
        if (accept(c, ']'))
            break;
        rc = parse_value(c, depth + 1, &item);
        if (rc != CONFHUB_OK)
            goto done;
        if (ch_toml_array_push(arr, item) != CONFHUB_OK) {
            rc = fail_nomem(c);
            goto done;
        }
        item = NULL;
        skip_ws_comments_newlines(c);
        if (accept(c, ','))
            continue;
        if (accept(c, ']'))
            break;
        rc = peek(c) < 0 ? fail(c, open, "array is not closed")
                         : fail(c, c->p, "expected ',' or ']' after an array value");
        goto done;
    }
    *out = arr;
    arr = NULL;
done:
    ch_toml_value_free(item);
    ch_toml_value_free(arr);
    return rc;
}

/* inline-table = "{" ws [ keyval *( ws "," ws keyval ) ] ws "}": one line, no trailing comma
 * (TOML 1.0). Nothing may be added to it afterwards: it keeps origin CH_TOML_INLINE. */
static enum confhub_status parse_inline_table(struct cursor *c, size_t depth,
                                              struct ch_toml_value **out)
{
    const char *open = c->p;
    struct ch_toml_value *t;
    enum confhub_status rc = CONFHUB_OK;

    if (depth > c->max_depth)
        return fail_depth(c, open);
    t = ch_toml_value_new(CH_TOML_TABLE, (size_t)(open - c->start));
    if (!t)
        return fail_nomem(c);
    c->p++;
    skip_ws(c);
    if (!accept(c, '}')) {
        for (;;) {
            skip_ws(c);
            if (peek(c) == '}') {
                rc = fail(c, c->p, "a comma cannot follow the last key in an inline table");
                goto done;
            }
            rc = parse_keyval(c, t, depth);
            if (rc != CONFHUB_OK)
                goto done;
            skip_ws(c);
            if (accept(c, ','))
                continue;
            if (accept(c, '}'))
                break;
            rc = fail(c, c->p, "expected ',' or '}' in an inline table (it must fit on one line)");
            goto done;
        }
    }
    *out = t;
    t = NULL;
done:
    ch_toml_value_free(t);
    return rc;
}

/* val = string / boolean / array / inline-table / date-time / float / integer */
static enum confhub_status parse_value(struct cursor *c, size_t depth, struct ch_toml_value **out)
{
    const char *s = c->p;
    size_t pos = (size_t)(s - c->start);
    int ch = peek(c);
    enum confhub_status rc;

    switch (ch) {
    case '"':
    case '\'':
        rc = parse_string(c);
        if (rc != CONFHUB_OK)
            return rc;
        *out = ch_toml_string_new(CH_TOML_STRING, c->sbuf.ptr ? c->sbuf.ptr : "", c->sbuf.len, pos);
        return *out ? CONFHUB_OK : fail_nomem(c);
    case '[':
        return parse_array(c, depth, out);
    case '{':
        return parse_inline_table(c, depth, out);
    case 't':
    case 'f': {
        bool b = ch == 't';
        size_t n = b ? 4 : 5;
        if ((size_t)(c->end - c->p) < n || memcmp(c->p, b ? "true" : "false", n) != 0)
            break;
        c->p += n;
        if (!at_value_end(c))
            break;
        *out = ch_toml_value_new(CH_TOML_BOOL, pos);
        if (!*out)
            return fail_nomem(c);
        (*out)->boolean = b;
        return CONFHUB_OK;
    }
    default:
        /* A date starts with four digits and '-', a time with two digits and ':'. */
        if (is_digit(ch) && is_digit(peek_at(c, 1)) &&
            (peek_at(c, 2) == ':' ||
             (is_digit(peek_at(c, 2)) && is_digit(peek_at(c, 3)) && peek_at(c, 4) == '-')))
            return parse_datetime(c, out);
        if (is_digit(ch) || ch == '+' || ch == '-' || ch == 'i' || ch == 'n')
            return parse_number(c, out);
        break;
    }
    return fail(c, s,
                "expected a value (a string, number, true, false, date, array or inline table)");
}

/*
 * Finds the table a dotted key's last part goes into, from table t at depth `depth`, creating
 * the tables named by the other parts (origin DOTTED). Dotted keys may pass only through
 * tables that dotted keys created (or that a [header] only implied): they cannot add to a
 * table defined by a [header], to an inline table, or to an array. The last part must be new.
 */
static enum confhub_status resolve_dotted(struct cursor *c, struct ch_toml_value *t, size_t depth,
                                          const struct keypath *k, struct ch_toml_value **out)
{
    char what[200];

    for (size_t i = 0; i + 1 < k->n; i++) {
        struct ch_toml_value *child = ch_toml_table_get(t, part_ptr(k, i), k->parts[i].len);
        if (!child) {
            enum confhub_status rc;
            if (depth + 1 + i > c->max_depth)
                return fail_depth(c, part_at(c, k, i));
            rc = add_table(c, t, k, i, CH_TOML_DOTTED, &child);
            if (rc != CONFHUB_OK)
                return rc;
        } else if (child->type == CH_TOML_TABLE &&
                   (child->origin == CH_TOML_DOTTED || child->origin == CH_TOML_IMPLICIT)) {
            child->origin = CH_TOML_DOTTED;
        } else if (child->type == CH_TOML_TABLE && child->origin == CH_TOML_HEADER) {
            return fail(c, part_at(c, k, i),
                        "table '%s' is defined by a [header]; dotted keys cannot add to it",
                        describe_key(k, i + 1, what, sizeof(what)));
        } else {
            return fail(c, part_at(c, k, i), "key '%s' is already %s%s",
                        describe_key(k, i + 1, what, sizeof(what)),
                        child->type == CH_TOML_TABLE ? "an " : "a value of type ",
                        type_name(child));
        }
        t = child;
    }
    if (ch_toml_table_get(t, part_ptr(k, k->n - 1), k->parts[k->n - 1].len))
        return fail(c, part_at(c, k, k->n - 1), "duplicate key '%s'",
                    describe_key(k, k->n, what, sizeof(what)));
    *out = t;
    return CONFHUB_OK;
}

/* keyval = key keyval-sep val, added to table (at depth `depth`). */
static enum confhub_status parse_keyval(struct cursor *c, struct ch_toml_value *table, size_t depth)
{
    struct keypath k = {0};
    struct ch_toml_value *target = NULL, *val = NULL;
    enum confhub_status rc;

    rc = parse_key(c, &k);
    if (rc != CONFHUB_OK)
        goto done;
    if (!accept(c, '=')) {
        rc = fail(c, c->p, "expected '=' after a key");
        goto done;
    }
    skip_ws(c);
    rc = resolve_dotted(c, table, depth, &k, &target);
    if (rc != CONFHUB_OK)
        goto done;
    rc = parse_value(c, depth + k.n, &val);
    if (rc != CONFHUB_OK)
        goto done;
    if (ch_toml_table_add(target, part_ptr(&k, k.n - 1), k.parts[k.n - 1].len, val) != CONFHUB_OK) {
        rc = fail_nomem(c);
        goto done;
    }
    val = NULL;
done:
    ch_toml_value_free(val);
    keypath_free(&k);
    return rc;
}

/* ------------------------------------------------------------------ tables ---- */

/*
 * std-table = "[" ws key ws "]" and array-table = "[[" ws key ws "]]". Walks from the root,
 * creating IMPLICIT tables for missing parts and stepping into the last element of arrays of
 * tables, then defines the last part and makes it the current section.
 */
static enum confhub_status parse_table_header(struct cursor *c)
{
    const char *open = c->p;
    struct keypath k = {0};
    struct ch_toml_value *t = c->root, *child = NULL;
    size_t depth = 1;
    bool is_array;
    char what[200];
    enum confhub_status rc;

    c->p++;
    is_array = accept(c, '[');
    skip_ws(c);
    rc = parse_key(c, &k);
    if (rc != CONFHUB_OK)
        goto done;
    if (!accept(c, ']') || (is_array && !accept(c, ']'))) {
        rc = fail(c, c->p, "expected '%s' to close the table header", is_array ? "]]" : "]");
        goto done;
    }
    for (size_t i = 0; i + 1 < k.n; i++) {
        child = ch_toml_table_get(t, part_ptr(&k, i), k.parts[i].len);
        if (!child) {
            if (depth + 1 > c->max_depth) {
                rc = fail_depth(c, part_at(c, &k, i));
                goto done;
            }
            rc = add_table(c, t, &k, i, CH_TOML_IMPLICIT, &child);
            if (rc != CONFHUB_OK)
                goto done;
        } else if (child->type == CH_TOML_ARRAY && child->origin == CH_TOML_ARRAY_OF_TABLES) {
            child = child->arr.items[child->arr.n - 1];
            depth++;
        } else if (child->type != CH_TOML_TABLE || child->origin == CH_TOML_INLINE) {
            rc = fail(c, part_at(c, &k, i), "key '%s' is already %s %s, which cannot be extended",
                      describe_key(&k, i + 1, what, sizeof(what)),
                      child->type == CH_TOML_ARRAY || child->type == CH_TOML_TABLE ? "an" : "a",
                      type_name(child));
            goto done;
        }
        t = child;
        depth++;
    }

    const size_t last = k.n - 1;
    const char *at = part_at(c, &k, last);
    describe_key(&k, k.n, what, sizeof(what));
    child = ch_toml_table_get(t, part_ptr(&k, last), k.parts[last].len);
    if (is_array) {
        struct ch_toml_value *elem;
        if (!child) {
            if (depth + 2 > c->max_depth) {
                rc = fail_depth(c, at);
                goto done;
            }
            child = ch_toml_value_new(CH_TOML_ARRAY, (size_t)(open - c->start));
            if (!child || ch_toml_table_add(t, part_ptr(&k, last), k.parts[last].len, child)) {
                ch_toml_value_free(child);
                rc = fail_nomem(c);
                goto done;
            }
            child->origin = CH_TOML_ARRAY_OF_TABLES;
        } else if (child->type != CH_TOML_ARRAY || child->origin != CH_TOML_ARRAY_OF_TABLES) {
            rc = fail(c, at, "[[%s]] cannot extend key '%s': it is already %s %s", what, what,
                      child->type == CH_TOML_ARRAY ? "an" : "a", type_name(child));
            goto done;
        }
        elem = ch_toml_value_new(CH_TOML_TABLE, (size_t)(open - c->start));
        if (!elem || ch_toml_array_push(child, elem) != CONFHUB_OK) {
            ch_toml_value_free(elem);
            rc = fail_nomem(c);
            goto done;
        }
        elem->origin = CH_TOML_HEADER;
        c->section = elem;
        c->section_depth = depth + 2;
    } else {
        if (!child) {
            if (depth + 1 > c->max_depth) {
                rc = fail_depth(c, at);
                goto done;
            }
            rc = add_table(c, t, &k, last, CH_TOML_HEADER, &child);
            if (rc != CONFHUB_OK)
                goto done;
        } else if (child->type != CH_TOML_TABLE) {
            rc = fail(c, at, "[%s] cannot define key '%s': it is already %s %s", what, what,
                      child->type == CH_TOML_ARRAY ? "an" : "a", type_name(child));
            goto done;
        } else if (child->origin == CH_TOML_IMPLICIT) {
            child->origin = CH_TOML_HEADER;
        } else {
            rc = fail(c, at, "table [%s] is defined twice%s", what,
                      child->origin == CH_TOML_DOTTED   ? " (first by dotted keys)"
                      : child->origin == CH_TOML_INLINE ? " (first as an inline table)"
                                                        : "");
            goto done;
        }
        c->section = child;
        c->section_depth = depth + 1;
    }
done:
    keypath_free(&k);
    return rc;
}

/* toml = expression *( newline expression ), where an expression is a key/value pair, a table
 * header or nothing, each optionally followed by a comment. */
static enum confhub_status parse_document(struct cursor *c)
{
    enum confhub_status rc;

    for (;;) {
        skip_ws(c);
        int ch = peek(c);
        if (ch == '[') {
            rc = parse_table_header(c);
            if (rc != CONFHUB_OK)
                return rc;
        } else if (ch >= 0 && ch != '#' && !at_newline(c)) {
            rc = parse_keyval(c, c->section, c->section_depth);
            if (rc != CONFHUB_OK)
                return rc;
        }
        skip_ws(c);
        skip_comment(c);
        if (peek(c) < 0)
            return CONFHUB_OK;
        if (!skip_newline(c))
            return fail(c, c->p, "expected the end of the line");
    }
}

/* Sets up a cursor over text (skipping a byte-order mark). */
static void cursor_init(struct cursor *c, const char *name, const char *text, size_t len,
                        size_t max_depth, struct ch_err *err)
{
    memset(c, 0, sizeof(*c));
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
        text += 3;
        len -= 3;
    }
    c->name = name;
    c->start = c->p = text;
    c->end = text + len;
    c->max_depth = max_depth ? max_depth : CH_TOML_DEFAULT_DEPTH;
    c->err = err;
}

static enum confhub_status read_doc(struct cursor *c, struct ch_toml_value **out)
{
    enum confhub_status rc = check_text(c);

    if (rc != CONFHUB_OK)
        return rc;
    c->root = ch_toml_value_new(CH_TOML_TABLE, 0);
    if (!c->root)
        return fail_nomem(c);
    c->root->origin = CH_TOML_HEADER;
    c->section = c->root;
    c->section_depth = 1;
    rc = parse_document(c);
    ch_free(c->sbuf.ptr);
    c->sbuf = (struct ch_buf){0};
    if (rc != CONFHUB_OK) {
        ch_toml_value_free(c->root);
        c->root = NULL;
        return rc;
    }
    *out = c->root;
    return CONFHUB_OK;
}

enum confhub_status ch_toml_read(const char *name, const char *text, size_t len, size_t max_depth,
                                 struct ch_toml_value **out, struct ch_err *err)
{
    struct cursor c;
    cursor_init(&c, name, text, len, max_depth, err);
    return read_doc(&c, out);
}

bool ch_toml_datetime_check(enum ch_toml_type type, const char *text, size_t len, char *norm)
{
    struct ch_err scratch;
    struct cursor c;
    struct ch_toml_value *v = NULL;
    bool ok;

    cursor_init(&c, "-", text, len, 0, &scratch);
    ok = len > 0 && is_digit(peek(&c)) && check_text(&c) == CONFHUB_OK &&
         parse_datetime(&c, &v) == CONFHUB_OK && c.p == c.end && v->type == type;
    if (ok)
        memcpy(norm, v->str.ptr, v->str.len + 1);
    ch_toml_value_free(v);
    return ok;
}

/* ------------------------------------------------------------------ to JSON ---- */

/* Appends ".key" (or "key" first) to a key path used in messages. */
static bool path_push_key(struct ch_buf *path, const char *key, size_t len)
{
    return (path->len == 0 || ch_buf_addc(path, '.')) && ch_toml_buf_add_key(path, key, len);
}

/* The tree under v as a jansson value. nan and inf have no JSON form: an error at the value's
 * position naming its key path. */
static enum confhub_status to_json(const struct cursor *c, const struct ch_toml_value *v,
                                   struct ch_buf *path, json_t **out)
{
    json_t *j = NULL, *child = NULL;
    enum confhub_status rc = CONFHUB_OK;
    size_t mark = path->len;

    switch (v->type) {
    case CH_TOML_STRING:
    case CH_TOML_DATETIME:
    case CH_TOML_DATETIME_LOCAL:
    case CH_TOML_DATE_LOCAL:
    case CH_TOML_TIME_LOCAL:
        j = json_stringn_nocheck(v->str.ptr, v->str.len); /* check_text() checked UTF-8 */
        break;
    case CH_TOML_INTEGER:
        j = json_integer(v->integer);
        break;
    case CH_TOML_FLOAT:
        if (isnan(v->real) || isinf(v->real)) {
            char shown[40];
            ch_toml_format_float(v->real, shown);
            return report(c, v->pos, CONFHUB_EINVAL, "key '%s' is %s, which JSON cannot hold",
                          path->ptr ? path->ptr : "", shown);
        }
        j = json_real(v->real);
        break;
    case CH_TOML_BOOL:
        j = json_boolean(v->boolean);
        break;
    case CH_TOML_ARRAY:
        j = json_array();
        for (size_t i = 0; j && i < v->arr.n; i++) {
            char idx[32];
            snprintf(idx, sizeof(idx), "[%zu]", i);
            path->len = mark;
            if (!ch_buf_adds(path, idx)) {
                rc = fail_nomem(c);
                goto done;
            }
            rc = to_json(c, v->arr.items[i], path, &child);
            if (rc != CONFHUB_OK)
                goto done;
            if (json_array_append_new(j, child) != 0) {
                child = NULL;
                rc = fail_nomem(c);
                goto done;
            }
            child = NULL;
        }
        break;
    case CH_TOML_TABLE:
        j = json_object();
        for (size_t i = 0; j && i < v->tab.n; i++) {
            const struct ch_toml_entry *e = &v->tab.entries[i];
            path->len = mark;
            if (!path_push_key(path, e->key, e->key_len)) {
                rc = fail_nomem(c);
                goto done;
            }
            if (memchr(e->key, '\0', e->key_len)) {
                /* TOML allows "\u0000" in a key; no name in the model, and no JSON reader
                 * we use, can hold one (the JSON and YAML readers refuse it too). */
                rc = report(c, e->val->pos, CONFHUB_EINVAL, "key '%s' contains a NUL character",
                            path->ptr);
                goto done;
            }
            rc = to_json(c, e->val, path, &child);
            if (rc != CONFHUB_OK)
                goto done;
            if (json_object_setn_new_nocheck(j, e->key, e->key_len, child) != 0) {
                child = NULL;
                rc = fail_nomem(c);
                goto done;
            }
            child = NULL;
        }
        break;
    }
    if (!j) {
        rc = fail_nomem(c);
        goto done;
    }
    *out = j;
    j = NULL;
done:
    path->len = mark;
    if (path->ptr)
        path->ptr[mark] = '\0';
    json_decref(child);
    json_decref(j);
    return rc;
}

enum confhub_status ch_toml_parse(const char *name, const char *text, size_t len,
                                  const struct ch_format_opts *opts, json_t **out,
                                  struct ch_err *err)
{
    struct cursor c;
    struct ch_toml_value *root = NULL;
    struct ch_buf path = {0};
    enum confhub_status rc;

    cursor_init(&c, name, text, len, opts ? opts->max_depth : 0, err);
    rc = read_doc(&c, &root);
    if (rc == CONFHUB_OK)
        rc = to_json(&c, root, &path, out);
    ch_toml_value_free(root);
    ch_free(path.ptr);
    return rc;
}
