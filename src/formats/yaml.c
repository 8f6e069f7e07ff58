/* SPDX-License-Identifier: MIT */
/*
 * yaml.c: YAML <-> jansson (see yaml.h; docs/formats.md has the mapping table).
 *
 * Reading uses libfyaml's event API and builds the jansson value here, so each rule of the
 * model (string keys, the core schema, no duplicate keys, the depth limit, the alias budget)
 * is checked at the event that breaks it, with that event's position. libfyaml's own
 * diagnostics are collected, never printed, and become "NAME:LINE:COL: message".
 *
 * Writing is a small emitter of our own rather than libfyaml's: it decides for every string
 * whether plain, literal (|) or double-quoted style reads back to exactly the same string, and
 * writes floats so they read back as floats. Invariant: ch_yaml_parse(ch_yaml_dump(x)) == x.
 */
#include "formats/yaml.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/names.h"

#define DEFAULT_MAX_DEPTH 64
#define TAG_PREFIX        "tag:yaml.org,2002:"
#define MAX_IMPLICIT_KEY  1000 /* YAML allows 1024 characters for an implicit key */

/* ================================================================ the core schema */

enum kind { K_NULL, K_BOOL, K_INT, K_FLOAT, K_STR };

static bool is_word(const char *s, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(s, word, len) == 0;
}

/* null | Null | NULL | ~ | the empty scalar */
static bool is_null(const char *s, size_t len)
{
    return len == 0 || is_word(s, len, "~") || is_word(s, len, "null") || is_word(s, len, "Null") ||
           is_word(s, len, "NULL");
}

/* true | True | TRUE | false | False | FALSE; *value is set when it is one. */
static bool is_bool(const char *s, size_t len, bool *value)
{
    if (is_word(s, len, "true") || is_word(s, len, "True") || is_word(s, len, "TRUE")) {
        *value = true;
        return true;
    }
    if (is_word(s, len, "false") || is_word(s, len, "False") || is_word(s, len, "FALSE")) {
        *value = false;
        return true;
    }
    return false;
}

static int digit_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+. Returns whether s is spelled as an integer; then
 * *fits says whether it fits an int64 and *value holds it when it does. */
static bool parse_int(const char *s, size_t len, int64_t *value, bool *fits)
{
    uint64_t acc = 0, limit;
    unsigned base = 10;
    bool neg = false;
    size_t i = 0;

    if (len > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
        base = s[1] == 'o' ? 8 : 16;
        i = 2;
    } else if (len > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == len)
        return false;
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    *fits = true;
    for (; i < len; i++) {
        int d = digit_value(s[i]);
        if (d < 0 || (unsigned)d >= base)
            return false;
        if (*fits && acc > (limit - (unsigned)d) / base)
            *fits = false;
        else if (*fits)
            acc = acc * base + (unsigned)d;
    }
    if (*fits)
        *value = !neg ? (int64_t)acc : acc > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)acc;
    return true;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool is_float_number(const char *s, size_t len)
{
    size_t i = 0, digits = 0, exp_digits = 0;

    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
        digits++;
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            digits++;
    }
    if (digits == 0)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            i++;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            exp_digits++;
        if (exp_digits == 0)
            return false;
    }
    return i == len;
}

/* [-+]?(\.inf|\.Inf|\.INF) | \.nan|\.NaN|\.NAN */
static bool is_float_special(const char *s, size_t len)
{
    if (len > 0 && (s[0] == '-' || s[0] == '+')) {
        s++;
        len--;
        return is_word(s, len, ".inf") || is_word(s, len, ".Inf") || is_word(s, len, ".INF");
    }
    return is_word(s, len, ".inf") || is_word(s, len, ".Inf") || is_word(s, len, ".INF") ||
           is_word(s, len, ".nan") || is_word(s, len, ".NaN") || is_word(s, len, ".NAN");
}

/* The type a plain scalar resolves to under the core schema. */
static enum kind resolve_plain(const char *s, size_t len)
{
    int64_t i;
    bool b, fits;

    if (is_null(s, len))
        return K_NULL;
    if (is_bool(s, len, &b))
        return K_BOOL;
    if (parse_int(s, len, &i, &fits))
        return K_INT;
    if (is_float_number(s, len) || is_float_special(s, len))
        return K_FLOAT;
    return K_STR;
}

/* ================================================================ reading */

/* The writer appends to a struct ch_buf (common/buf.h), whose out-of-memory is sticky, so the
 * writing functions append freely and the caller checks `failed` once. */
static void put(struct ch_buf *o, const char *s, size_t len)
{
    (void)ch_buf_add(o, s, len);
}

static void puts_(struct ch_buf *o, const char *s)
{
    (void)ch_buf_adds(o, s);
}

static void indent(struct ch_buf *o, size_t n)
{
    static const char spaces[] = "                                ";
    while (n > 0) {
        size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;
        put(o, spaces, k);
        n -= k;
    }
}

struct frame {
    json_t *value;  /* the mapping or sequence being filled (owned) */
    bool is_map;    /* mapping (else sequence) */
    char *key;      /* mapping: the key waiting for its value (ch_malloc'd), or NULL */
    size_t key_len; /* length of key */
    size_t index;   /* sequence: index of the next item, for messages */
    long anchor;    /* index in ctx.anchors of this node's anchor, or -1 */
    size_t n_nodes; /* nodes below this one so far, aliases expanded */
    size_t n_bytes; /* string bytes below this one so far, aliases expanded */
    size_t height;  /* 1 + the height of the tallest child (a scalar is 0) */
};

struct anchor {
    json_t *value;  /* the complete node (a reference), or NULL while it is being built */
    size_t n_nodes; /* nodes in the node, itself included, aliases expanded */
    size_t n_bytes; /* string bytes in the node, aliases expanded */
    size_t height;  /* nesting height: 0 for a scalar, 1 for [] */
};

struct ctx {
    const char *name;         /* input name for messages (borrowed) */
    size_t max_depth;         /* deepest nesting accepted */
    bool multi_doc;           /* a stream of documents becomes an array */
    struct ch_err *err;       /* where failures are reported (borrowed) */
    struct frame *stack;      /* open collections, outermost first */
    size_t depth;             /* entries used in stack */
    size_t stack_cap;         /* entries allocated in stack */
    struct anchor *anchors;   /* anchors of the current document, in order of definition */
    size_t n_anchors;         /* entries used in anchors */
    size_t anchors_cap;       /* entries allocated in anchors */
    json_t *anchor_index;     /* anchor name -> index in anchors (json integer); the latest wins */
    size_t alias_nodes;       /* nodes copied by aliases so far, over the whole stream */
    size_t alias_bytes;       /* string bytes copied by aliases so far */
    int n_docs;               /* documents started */
    struct fy_mark last_mark; /* start of the latest event that had one, for messages */
    json_t *root;             /* the current document's value, once complete */
    json_t *result;           /* multi_doc: the array of documents; else the document */
};

/* The path of the node being read, "a.b[2]", for messages ("" at the top level). */
static void node_path(const struct ctx *c, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < c->depth && used < size; i++) {
        const struct frame *f = &c->stack[i];
        int n;
        if (f->is_map && !f->key)
            break;
        if (f->is_map)
            n = snprintf(buf + used, size - used, "%s%s", used ? "." : "", f->key);
        else
            n = snprintf(buf + used, size - used, "[%zu]", f->index);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* Reports a failure at mark (NULL: no position) as "NAME:LINE:COL: message". */
__attribute__((format(printf, 4, 5))) static enum confhub_status
fail_at(struct ctx *c, enum confhub_status code, const struct fy_mark *mark, const char *fmt, ...)
{
    char msg[384];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!mark)
        mark = &c->last_mark; /* libfyaml gives no mark for some implicit nodes */
    ch_err_set(c->err, code, "%s:%d:%d: %s", c->name, mark->line + 1, mark->column + 1, msg);
    c->err->line = mark->line + 1;
    c->err->column = mark->column + 1;
    return code;
}

static enum confhub_status no_memory(struct ctx *c)
{
    return ch_err_set(c->err, CONFHUB_ENOMEM, "%s: cannot read YAML: out of memory", c->name);
}

/* " at key 'a.b'" for the node being read, or "" at the top level. At a key position the
 * path is the enclosing mapping's: " in 'a.b'". */
static const char *where(const struct ctx *c, char *buf, size_t size)
{
    char path[200];
    bool key_pos = c->depth > 0 && c->stack[c->depth - 1].is_map && !c->stack[c->depth - 1].key;

    node_path(c, path, sizeof(path));
    if (!path[0])
        return "";
    snprintf(buf, size, "%s '%s'", key_pos ? " in" : path[0] == '[' ? " at" : " at key", path);
    return buf;
}

static bool at_key(const struct ctx *c)
{
    return c->depth > 0 && c->stack[c->depth - 1].is_map && !c->stack[c->depth - 1].key;
}

/* Adds the complete value v (owned; consumed in every case) to the open collection, or makes
 * it the document's root. n_nodes/n_bytes/height describe v. */
static enum confhub_status attach(struct ctx *c, json_t *v, size_t n_nodes, size_t n_bytes,
                                  size_t height)
{
    struct frame *f;
    int rc;

    if (c->depth == 0) {
        assert(!c->root);
        c->root = v;
        return CONFHUB_OK;
    }
    f = &c->stack[c->depth - 1];
    f->n_nodes += n_nodes;
    f->n_bytes += n_bytes;
    if (height + 1 > f->height)
        f->height = height + 1;
    if (f->is_map) {
        rc = json_object_setn_new_nocheck(f->value, f->key, f->key_len, v);
        ch_free(f->key);
        f->key = NULL;
    } else {
        rc = json_array_append_new(f->value, v);
        f->index++;
    }
    return rc == 0 ? CONFHUB_OK : no_memory(c);
}

/* Makes text[0..len) the pending key of the open mapping, or fails: NUL bytes, duplicates. */
static enum confhub_status set_key(struct ctx *c, const char *text, size_t len,
                                   const struct fy_mark *mark)
{
    struct frame *f = &c->stack[c->depth - 1];
    char buf[240];

    if (memchr(text, '\0', len))
        return fail_at(c, CONFHUB_EINVAL, mark, "a key contains a NUL byte%s",
                       where(c, buf, sizeof(buf)));
    if (json_object_getn(f->value, text, len)) {
        /* The path names the mapping; the message names the key. */
        return fail_at(c, CONFHUB_EINVAL, mark, "duplicate key '%.*s'%s",
                       (int)(len > 100 ? 100 : len), text, where(c, buf, sizeof(buf)));
    }
    f->key = ch_strndup(text, len);
    if (!f->key)
        return no_memory(c);
    f->key_len = len;
    return CONFHUB_OK;
}

static const char *kind_name(enum kind k)
{
    static const char *const names[] = {"null", "boolean", "integer", "float", "string"};
    return names[k];
}

/* Registers anchor token tok (may be NULL) for the node about to be read.
 * OUT: *index, its slot in c->anchors, or -1 for no anchor. */
static enum confhub_status add_anchor(struct ctx *c, struct fy_token *tok, long *index)
{
    const char *name;
    size_t len;
    json_t *ix;

    *index = -1;
    if (!tok)
        return CONFHUB_OK;
    name = fy_token_get_text(tok, &len);
    if (!name)
        return no_memory(c);
    if (c->n_anchors == c->anchors_cap) {
        size_t cap = c->anchors_cap ? c->anchors_cap * 2 : 8;
        struct anchor *a = ch_realloc(c->anchors, cap * sizeof(*a));
        if (!a)
            return no_memory(c);
        c->anchors = a;
        c->anchors_cap = cap;
    }
    ix = json_integer((json_int_t)c->n_anchors);
    if (!ix || json_object_setn_new_nocheck(c->anchor_index, name, len, ix) != 0)
        return no_memory(c);
    c->anchors[c->n_anchors] = (struct anchor){0};
    *index = (long)c->n_anchors++;
    return CONFHUB_OK;
}

static void complete_anchor(struct ctx *c, long index, json_t *v, size_t n_nodes, size_t n_bytes,
                            size_t height)
{
    if (index < 0)
        return;
    c->anchors[index] = (struct anchor){json_incref(v), n_nodes, n_bytes, height};
}

static void clear_anchors(struct ctx *c)
{
    for (size_t i = 0; i < c->n_anchors; i++)
        json_decref(c->anchors[i].value);
    c->n_anchors = 0;
    json_object_clear(c->anchor_index);
}

/* The tag of a node: NULL for none, else its full form ("tag:yaml.org,2002:str", "!foo"). */
static enum confhub_status tag_text(struct ctx *c, struct fy_token *tok, const char **out)
{
    *out = NULL;
    if (!tok)
        return CONFHUB_OK;
    *out = fy_token_get_text0(tok);
    return *out ? CONFHUB_OK : no_memory(c);
}

static bool is_core_tag(const char *tag, const char *suffix)
{
    size_t n = strlen(TAG_PREFIX);
    return strncmp(tag, TAG_PREFIX, n) == 0 && strcmp(tag + n, suffix) == 0;
}

static enum confhub_status unsupported_tag(struct ctx *c, const char *tag,
                                           const struct fy_mark *mark)
{
    char buf[240];
    return fail_at(c, CONFHUB_EINVAL, mark,
                   "unsupported tag '%s'%s: only the YAML core tags (!!str, !!int, !!float, "
                   "!!bool, !!null, !!map, !!seq) can be stored",
                   tag, where(c, buf, sizeof(buf)));
}

/* The text of a scalar token, assembled from libfyaml's chunks. fy_token_get_text() is not
 * used: libfyaml 0.7.12 leaks and truncates its cached copy of some block scalars with
 * whitespace-only trailing lines (found by fuzz_yaml_import; the chunks are right).
 * OUT: *text (ch_malloc'd, NUL-terminated) and *len. */
static enum confhub_status scalar_text(struct ctx *c, struct fy_token *tok, char **text,
                                       size_t *len)
{
    struct fy_token_iter *iter = fy_token_iter_create(tok);
    const struct fy_iter_chunk *chunk = NULL;
    struct ch_buf o = {0};
    int ferr = 0;

    if (!iter)
        return no_memory(c);
    while ((chunk = fy_token_iter_chunk_next(iter, chunk, &ferr)) != NULL)
        put(&o, chunk->str, chunk->len);
    fy_token_iter_destroy(iter);
    put(&o, "", 0); /* allocates the empty string too */
    if (o.failed || ferr) {
        ch_free(o.ptr);
        return ferr ? fail_at(c, CONFHUB_EINVAL, NULL, "cannot read a scalar") : no_memory(c);
    }
    *text = o.ptr;
    *len = o.len;
    return CONFHUB_OK;
}

/* Builds the value of the scalar text[0..len): plain scalars by the core schema, tagged ones by
 * their tag, everything else as a string. OUT: *out (a new reference) and *kind_out. */
static enum confhub_status scalar_value(struct ctx *c, struct fy_event *ev, const char *text,
                                        size_t len, json_t **out, enum kind *kind_out)
{
    const struct fy_mark *mark = fy_event_start_mark(ev);
    struct fy_token *tok = ev->scalar.value;
    enum confhub_status rc;
    const char *tag;
    char buf[240];
    enum kind kind;
    int64_t i = 0;
    double d;
    bool b = false, fits = true;

    rc = tag_text(c, ev->scalar.tag, &tag);
    if (rc != CONFHUB_OK)
        return rc;
    if (!tag)
        kind = fy_token_scalar_style(tok) == FYSS_PLAIN ? resolve_plain(text, len) : K_STR;
    else if (strcmp(tag, "!") == 0 || is_core_tag(tag, "str"))
        kind = K_STR;
    else if (is_core_tag(tag, "null") && is_null(text, len))
        kind = K_NULL;
    else if (is_core_tag(tag, "bool") && is_bool(text, len, &b))
        kind = K_BOOL;
    else if (is_core_tag(tag, "int") && parse_int(text, len, &i, &fits))
        kind = K_INT;
    else if (is_core_tag(tag, "float") &&
             (is_float_number(text, len) || is_float_special(text, len) ||
              parse_int(text, len, &i, &fits)))
        kind = K_FLOAT;
    else if (is_core_tag(tag, "null") || is_core_tag(tag, "bool") || is_core_tag(tag, "int") ||
             is_core_tag(tag, "float"))
        return fail_at(c, CONFHUB_EINVAL, mark, "'%.*s'%s is not a valid %s",
                       (int)(len > 60 ? 60 : len), text, where(c, buf, sizeof(buf)),
                       tag + strlen(TAG_PREFIX));
    else
        return unsupported_tag(c, tag, mark);

    *kind_out = kind;
    switch (kind) {
    case K_NULL:
        *out = json_null();
        break;
    case K_BOOL:
        if (!tag)
            is_bool(text, len, &b);
        *out = json_boolean(b);
        break;
    case K_INT:
        if (!tag)
            parse_int(text, len, &i, &fits);
        if (!fits)
            return fail_at(c, CONFHUB_EINVAL, mark, "number %.*s%s does not fit a 64-bit integer",
                           (int)(len > 60 ? 60 : len), text, where(c, buf, sizeof(buf)));
        *out = json_integer((json_int_t)i);
        break;
    case K_FLOAT:
        if (is_float_special(text, len))
            return fail_at(c, CONFHUB_EINVAL, mark,
                           "%.*s%s cannot be stored: JSON has no infinity or NaN", (int)len, text,
                           where(c, buf, sizeof(buf)));
        d = strtod(text, NULL); /* text is NUL-terminated (scalar_text) */
        if (isinf(d))
            return fail_at(c, CONFHUB_EINVAL, mark, "number %.*s%s does not fit a double",
                           (int)(len > 60 ? 60 : len), text, where(c, buf, sizeof(buf)));
        *out = json_real(d);
        break;
    case K_STR:
        if (!ch_names_utf8_valid(text, len))
            return fail_at(c, CONFHUB_EINVAL, mark, "string%s is not valid UTF-8",
                           where(c, buf, sizeof(buf)));
        *out = json_stringn_nocheck(text, len);
        break;
    }
    return *out ? CONFHUB_OK : no_memory(c);
}

static enum confhub_status not_string_key(struct ctx *c, const char *what,
                                          const struct fy_mark *mark)
{
    char buf[240];
    return fail_at(c, CONFHUB_EINVAL, mark, "a key must be a string, not %s%s", what,
                   where(c, buf, sizeof(buf)));
}

static enum confhub_status on_scalar(struct ctx *c, struct fy_event *ev)
{
    const struct fy_mark *mark = fy_event_start_mark(ev);
    enum confhub_status rc;
    json_t *v = NULL;
    char *text = NULL;
    size_t len = 0, n_bytes;
    enum kind kind = K_STR; /* set by scalar_value() on success */
    long anchor;

    rc = add_anchor(c, ev->scalar.anchor, &anchor);
    if (rc == CONFHUB_OK)
        rc = scalar_text(c, ev->scalar.value, &text, &len);
    if (rc == CONFHUB_OK)
        rc = scalar_value(c, ev, text, len, &v, &kind);
    if (rc != CONFHUB_OK)
        goto done;
    n_bytes = json_is_string(v) ? json_string_length(v) : 0;
    complete_anchor(c, anchor, v, 1, n_bytes, 0);
    if (!at_key(c)) {
        rc = attach(c, v, 1, n_bytes, 0);
        v = NULL; /* attach() consumed it */
    } else if (kind != K_STR) {
        char what[160];
        int shown = (int)(len > 40 ? 40 : len);
        if (kind == K_NULL && len == 0)
            snprintf(what, sizeof(what), "null (an empty key)");
        else
            snprintf(what, sizeof(what), "the %s %.*s (quote it: \"%.*s\")", kind_name(kind), shown,
                     text, shown, text);
        rc = not_string_key(c, what, mark);
    } else {
        rc = set_key(c, json_string_value(v), json_string_length(v), mark);
    }

done:
    json_decref(v);
    ch_free(text);
    return rc;
}

static enum confhub_status on_alias(struct ctx *c, struct fy_event *ev)
{
    const struct fy_mark *mark = fy_event_start_mark(ev);
    const struct anchor *a;
    const char *name;
    char buf[240];
    json_t *ix, *v;
    size_t len;

    name = fy_token_get_text(ev->alias.anchor, &len);
    if (!name)
        return no_memory(c);
    ix = json_object_getn(c->anchor_index, name, len);
    if (!ix)
        return fail_at(c, CONFHUB_EINVAL, mark, "alias *%.*s%s names no anchor", (int)len, name,
                       where(c, buf, sizeof(buf)));
    a = &c->anchors[json_integer_value(ix)];
    if (!a->value)
        return fail_at(c, CONFHUB_EINVAL, mark,
                       "alias *%.*s%s is inside the node it names (a recursive structure)",
                       (int)len, name, where(c, buf, sizeof(buf)));
    if (at_key(c)) {
        if (!json_is_string(a->value))
            return not_string_key(c, "an alias of a non-string node", mark);
        return set_key(c, json_string_value(a->value), json_string_length(a->value), mark);
    }
    if (a->n_nodes > CH_YAML_MAX_ALIAS_NODES - c->alias_nodes ||
        a->n_bytes > CH_YAML_MAX_ALIAS_BYTES - c->alias_bytes)
        return fail_at(c, CONFHUB_ETOOBIG, mark,
                       "aliases expand to more than %u nodes or %u bytes (an alias bomb?)",
                       CH_YAML_MAX_ALIAS_NODES, CH_YAML_MAX_ALIAS_BYTES);
    if (c->depth + a->height > c->max_depth)
        return fail_at(c, CONFHUB_ETOOBIG, mark,
                       "alias *%.*s%s nests deeper than the limit of %zu (max-json-depth)",
                       (int)len, name, where(c, buf, sizeof(buf)), c->max_depth);
    c->alias_nodes += a->n_nodes;
    c->alias_bytes += a->n_bytes;
    v = json_deep_copy(a->value);
    if (!v)
        return no_memory(c);
    return attach(c, v, a->n_nodes, a->n_bytes, a->height);
}

static enum confhub_status on_collection_start(struct ctx *c, struct fy_event *ev, bool is_map)
{
    const struct fy_mark *mark = fy_event_start_mark(ev);
    struct fy_token *anchor_tok = is_map ? ev->mapping_start.anchor : ev->sequence_start.anchor;
    struct fy_token *tag_tok = is_map ? ev->mapping_start.tag : ev->sequence_start.tag;
    enum confhub_status rc;
    struct frame *f;
    const char *tag;
    char buf[240];
    long anchor;

    if (at_key(c))
        return not_string_key(c, is_map ? "a mapping" : "a sequence", mark);
    rc = tag_text(c, tag_tok, &tag);
    if (rc != CONFHUB_OK)
        return rc;
    if (tag && strcmp(tag, "!") != 0 && !is_core_tag(tag, is_map ? "map" : "seq"))
        return unsupported_tag(c, tag, mark);
    if (c->depth + 1 > c->max_depth)
        return fail_at(c, CONFHUB_ETOOBIG, mark,
                       "nesting%s is deeper than the limit of %zu (max-json-depth)",
                       where(c, buf, sizeof(buf)), c->max_depth);
    if (c->depth == c->stack_cap) {
        size_t cap = c->stack_cap ? c->stack_cap * 2 : 16;
        f = ch_realloc(c->stack, cap * sizeof(*f));
        if (!f)
            return no_memory(c);
        c->stack = f;
        c->stack_cap = cap;
    }
    rc = add_anchor(c, anchor_tok, &anchor);
    if (rc != CONFHUB_OK)
        return rc;
    f = &c->stack[c->depth];
    *f = (struct frame){.is_map = is_map, .anchor = anchor, .height = 1};
    f->value = is_map ? json_object() : json_array();
    if (!f->value)
        return no_memory(c);
    c->depth++;
    return CONFHUB_OK;
}

static enum confhub_status on_collection_end(struct ctx *c)
{
    struct frame f = c->stack[--c->depth];

    assert(!f.key);
    complete_anchor(c, f.anchor, f.value, f.n_nodes + 1, f.n_bytes, f.height);
    return attach(c, f.value, f.n_nodes + 1, f.n_bytes, f.height);
}

static enum confhub_status on_event(struct ctx *c, struct fy_event *ev)
{
    const struct fy_mark *mark = fy_event_start_mark(ev);
    json_t *doc;

    if (mark)
        c->last_mark = *mark;
    switch (ev->type) {
    case FYET_DOCUMENT_START:
        if (++c->n_docs > 1 && !c->multi_doc)
            return fail_at(c, CONFHUB_EINVAL, fy_event_start_mark(ev),
                           "more than one YAML document (a document is one namespace)");
        clear_anchors(c);
        return CONFHUB_OK;
    case FYET_DOCUMENT_END:
        doc = c->root ? c->root : json_null();
        c->root = NULL;
        if (!c->multi_doc) {
            c->result = doc;
            return CONFHUB_OK;
        }
        return json_array_append_new(c->result, doc) == 0 ? CONFHUB_OK : no_memory(c);
    case FYET_MAPPING_START:
        return on_collection_start(c, ev, true);
    case FYET_SEQUENCE_START:
        return on_collection_start(c, ev, false);
    case FYET_MAPPING_END:
    case FYET_SEQUENCE_END:
        return on_collection_end(c);
    case FYET_SCALAR:
        return on_scalar(c, ev);
    case FYET_ALIAS:
        return on_alias(c, ev);
    default:
        return CONFHUB_OK;
    }
}

/* Turns libfyaml's first collected error into "NAME:LINE:COL: message". */
static enum confhub_status parser_error(struct ctx *c, struct fy_diag *diag)
{
    void *iter = NULL;
    struct fy_diag_error *e;

    while ((e = fy_diag_errors_iterate(diag, &iter)) != NULL) {
        if (e->type < FYET_ERROR || !e->msg)
            continue;
        if (e->line <= 0)
            return ch_err_set(c->err, CONFHUB_EINVAL, "%s: %s", c->name, e->msg);
        ch_err_set(c->err, CONFHUB_EINVAL, "%s:%d:%d: %s", c->name, e->line,
                   e->column > 0 ? e->column : 1, e->msg);
        c->err->line = e->line;
        c->err->column = e->column > 0 ? e->column : 1;
        return CONFHUB_EINVAL;
    }
    return ch_err_set(c->err, CONFHUB_EINVAL, "%s: invalid YAML", c->name);
}

/* The length of the longest valid UTF-8 prefix of s[0..len) (len when all of it is valid):
 * libfyaml reads a stray byte such as 0xff as an empty scalar instead of failing. */
static size_t utf8_valid_prefix(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < len) {
        unsigned c = s[i], cp, min;
        size_t n;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            n = 1;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3;
        else
            return i;
        cp = c & (0x7fu >> (n + 1));
        min = n == 1 ? 0x80 : n == 2 ? 0x800 : 0x10000;
        if (len - i <= n)
            return i;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += n + 1;
    }
    return len;
}

/* Reports the first invalid UTF-8 byte of text at its line and column. */
static enum confhub_status invalid_utf8(struct ctx *c, const char *text, size_t at)
{
    struct fy_mark mark = {at, 0, 0};
    for (size_t i = 0; i < at; i++) {
        if (text[i] == '\n') {
            mark.line++;
            mark.column = 0;
        } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
            mark.column++;
        }
    }
    return fail_at(c, CONFHUB_EINVAL, &mark, "invalid UTF-8 byte 0x%02x", (unsigned char)text[at]);
}

/* libfyaml prints nothing on its own: errors are collected and read by parser_error(). */
static void diag_discard(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
    (void)diag;
    (void)user;
    (void)buf;
    (void)len;
}

enum confhub_status ch_yaml_parse(const char *name, const char *text, size_t len,
                                  const struct ch_format_opts *opts, json_t **out,
                                  struct ch_err *err)
{
    struct ctx c = {0};
    struct fy_diag_cfg dcfg;
    struct fy_parse_cfg pcfg = {0};
    struct fy_diag *diag = NULL;
    struct fy_parser *parser = NULL;
    struct fy_event *ev;
    enum confhub_status rc = CONFHUB_OK;
    size_t at;

    c.name = name;
    c.err = err;
    c.max_depth = opts && opts->max_depth ? opts->max_depth : DEFAULT_MAX_DEPTH;
    c.multi_doc = opts && opts->multi_doc;
    c.anchor_index = json_object();
    if (c.multi_doc)
        c.result = json_array();
    if (!c.anchor_index || (c.multi_doc && !c.result)) {
        rc = no_memory(&c);
        goto done;
    }

    at = utf8_valid_prefix(text, len);
    if (at < len) {
        rc = invalid_utf8(&c, text, at);
        goto done;
    }

    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = diag_discard;
    dcfg.level = FYET_ERROR;
    dcfg.colorize = false;
    diag = fy_diag_create(&dcfg);
    if (!diag) {
        rc = no_memory(&c);
        goto done;
    }
    fy_diag_set_collect_errors(diag, true);
    /* libfyaml's own depth limit would stop at 64 whatever max_depth says; ours is enforced
     * above, and the event parser is iterative. */
    pcfg.flags =
        FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2 | FYPCF_JSON_NONE | FYPCF_DISABLE_DEPTH_LIMIT;
    pcfg.diag = diag;
    parser = fy_parser_create(&pcfg);
    if (!parser || fy_parser_set_string(parser, text, len) != 0) {
        rc = no_memory(&c);
        goto done;
    }
    while ((ev = fy_parser_parse(parser)) != NULL) {
        rc = on_event(&c, ev);
        fy_parser_event_free(parser, ev);
        if (rc != CONFHUB_OK)
            goto done;
    }
    if (fy_parser_get_stream_error(parser)) {
        rc = parser_error(&c, diag);
        goto done;
    }
    if (!c.result)
        c.result = json_null(); /* an empty stream */
    *out = c.result;
    c.result = NULL;

done:
    fy_parser_destroy(parser);
    if (diag)
        fy_diag_destroy(diag);
    while (c.depth > 0) {
        c.depth--;
        json_decref(c.stack[c.depth].value);
        ch_free(c.stack[c.depth].key);
    }
    ch_free(c.stack);
    if (c.anchor_index)
        clear_anchors(&c);
    ch_free(c.anchors);
    json_decref(c.anchor_index);
    json_decref(c.root);
    json_decref(c.result);
    return rc;
}

/* ================================================================ writing */

/* Decodes the UTF-8 sequence at s[0..len) (valid: jansson checked it). OUT: *cp. Returns its
 * length in bytes. */
static size_t utf8_next(const unsigned char *s, size_t len, unsigned *cp)
{
    size_t n = s[0] < 0x80 ? 1 : s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
    if (n > len)
        n = len;
    *cp = n == 1 ? s[0] : s[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++)
        *cp = (*cp << 6) | (s[i] & 0x3f);
    return n;
}

/* Code points that must be written as an escape in a double-quoted scalar: C0 and C1
 * controls, DEL, the YAML line breaks NEL/LS/PS, the BOM and the non-characters. */
static bool must_escape(unsigned cp)
{
    return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0xfeff || cp == 0xfffe || cp == 0xffff;
}

static bool has_escapes(const char *s, size_t len, bool allow_newline)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned cp;
    for (size_t i = 0; i < len;) {
        i += utf8_next(u + i, len - i, &cp);
        if (must_escape(cp) && !(allow_newline && cp == '\n'))
            return true;
    }
    return false;
}

/* Whether s can be written as a plain scalar and read back as the same string, by YAML 1.2
 * core and by YAML 1.1 readers alike (so "yes", "on", "1:20" and numbers are quoted too). */
static bool plain_ok(const char *s, size_t len)
{
    static const char *const yaml11[] = {"y",  "Y",  "yes", "Yes", "YES", "n",   "N",   "no", "No",
                                         "NO", "on", "On",  "ON",  "off", "Off", "OFF", "<<", "="};
    char c0;

    if (len == 0 || has_escapes(s, len, false))
        return false;
    c0 = s[0];
    if (strchr("-?:,[]{}#&*!|>'\"%@` \t.+0123456789", c0))
        return false;
    if (s[len - 1] == ' ' || s[len - 1] == ':')
        return false;
    for (size_t i = 0; i + 1 < len; i++) {
        if ((s[i] == ':' && s[i + 1] == ' ') || (s[i] == ' ' && s[i + 1] == '#'))
            return false;
    }
    for (size_t i = 0; i < sizeof(yaml11) / sizeof(yaml11[0]); i++) {
        if (is_word(s, len, yaml11[i]))
            return false;
    }
    return resolve_plain(s, len) == K_STR;
}

/* Whether a multi-line value reads back exactly in literal style: no escapes other than
 * newlines, no tab or trailing space on a line, and a first line that does not start with a
 * space (which would need an indentation indicator). */
static bool literal_ok(const char *s, size_t len)
{
    if (len < 2 || !memchr(s, '\n', len) || s[0] == ' ' || s[0] == '\n')
        return false;
    if (has_escapes(s, len, true) || memchr(s, '\t', len))
        return false;
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] == ' ' && s[i + 1] == '\n')
            return false;
    }
    return s[len - 1] != ' ';
}

/* The letter of cp's short escape in a double-quoted scalar ('n' for a newline), or 0. */
static char short_escape(unsigned cp)
{
    static const struct {
        unsigned cp;
        char letter;
    } table[] = {
        {'"', '"'},  {'\\', '\\'}, {0, '0'},      {'\a', 'a'},   {'\b', 'b'},
        {'\t', 't'}, {'\n', 'n'},  {'\v', 'v'},   {'\f', 'f'},   {'\r', 'r'},
        {0x1b, 'e'}, {0x85, 'N'},  {0x2028, 'L'}, {0x2029, 'P'},
    };

    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (table[i].cp == cp)
            return table[i].letter;
    }
    return 0;
}

static void put_double_quoted(struct ch_buf *o, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    char esc[16];
    unsigned cp;

    put(o, "\"", 1);
    for (size_t i = 0; i < len;) {
        size_t n = utf8_next(u + i, len - i, &cp);
        char letter = short_escape(cp);
        if (letter) {
            esc[0] = '\\';
            esc[1] = letter;
            put(o, esc, 2);
        } else if (must_escape(cp)) {
            snprintf(esc, sizeof(esc), cp <= 0xff ? "\\x%02X" : "\\u%04X", cp);
            puts_(o, esc);
        } else {
            put(o, s + i, n);
        }
        i += n;
    }
    put(o, "\"", 1);
}

/* Writes a string as a key or an inline value: plain when that reads back the same, else
 * double-quoted. */
static void put_inline_string(struct ch_buf *o, const char *s, size_t len)
{
    if (plain_ok(s, len))
        put(o, s, len);
    else
        put_double_quoted(o, s, len);
}

/* Writes a literal block scalar whose lines are indented by ind; the caller has written the
 * text before the indicator ("key: "). */
static void put_literal(struct ch_buf *o, const char *s, size_t len, size_t ind)
{
    size_t trailing = 0, start = 0;

    while (trailing < len && s[len - 1 - trailing] == '\n')
        trailing++;
    puts_(o, trailing == 0 ? "|-\n" : trailing == 1 ? "|\n" : "|+\n");
    while (start < len - trailing) {
        const char *nl = memchr(s + start, '\n', len - trailing - start);
        size_t end = nl ? (size_t)(nl - s) : len - trailing;
        if (end > start) {
            indent(o, ind);
            put(o, s + start, end - start);
        }
        put(o, "\n", 1);
        start = end + 1;
    }
    /* The kept trailing newlines after the first are empty lines ("|+"). */
    for (size_t i = 1; i < trailing; i++)
        put(o, "\n", 1);
}

static void put_float(struct ch_buf *o, double d)
{
    char buf[40];
    int n = 0;

    /* The shortest form that reads back as the same double. */
    for (int prec = 1; prec <= 17; prec++) {
        n = snprintf(buf, sizeof(buf) - 4, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    if (!strpbrk(buf, ".e")) {
        memcpy(buf + n, ".0", 3);
    } else if (!strchr(buf, '.')) {
        /* "1e+20" is a float in YAML 1.2 but not in 1.1: write "1.0e+20". */
        char *e = strchr(buf, 'e');
        memmove(e + 2, e, strlen(e) + 1);
        memcpy(e, ".0", 2);
    }
    puts_(o, buf);
}

static bool is_block(const json_t *v)
{
    return (json_is_object(v) && json_object_size(v) > 0) ||
           (json_is_array(v) && json_array_size(v) > 0);
}

/* Writes a scalar or an empty collection after "key:" or "-" (the caller wrote that and no
 * space), ending the line. ind is the indentation of literal block lines. */
static void put_scalar(struct ch_buf *o, const json_t *v, size_t ind)
{
    char buf[32];

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        puts_(o, " {}\n");
        return;
    case JSON_ARRAY:
        puts_(o, " []\n");
        return;
    case JSON_STRING:
        put(o, " ", 1);
        if (literal_ok(json_string_value(v), json_string_length(v))) {
            put_literal(o, json_string_value(v), json_string_length(v), ind);
            return;
        }
        put_inline_string(o, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        snprintf(buf, sizeof(buf), " %" JSON_INTEGER_FORMAT, json_integer_value(v));
        puts_(o, buf);
        break;
    case JSON_REAL:
        put(o, " ", 1);
        put_float(o, json_real_value(v));
        break;
    case JSON_TRUE:
        puts_(o, " true");
        break;
    case JSON_FALSE:
        puts_(o, " false");
        break;
    case JSON_NULL:
        puts_(o, " null");
        break;
    }
    put(o, "\n", 1);
}

struct dump {
    struct ch_buf out;
    size_t max_depth;
};

/* Writes the non-empty collection v as block lines at indentation ind. When inline_first, the
 * first line's indentation has been written already (after "- "). depth is v's nesting. */
static enum confhub_status put_block(struct dump *d, const json_t *v, size_t ind, bool inline_first,
                                     size_t depth, struct ch_err *err)
{
    struct ch_buf *o = &d->out;
    enum confhub_status rc;
    bool first = true;

    if (depth > d->max_depth)
        return ch_err_set(err, CONFHUB_ETOOBIG,
                          "cannot write YAML: nesting is deeper than the limit of %zu "
                          "(max-json-depth)",
                          d->max_depth);
    if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            if (!first || !inline_first)
                indent(o, ind);
            first = false;
            put(o, "-", 1);
            if (is_block(item)) {
                put(o, " ", 1);
                rc = put_block(d, item, ind + 2, true, depth + 1, err);
                if (rc != CONFHUB_OK)
                    return rc;
            } else {
                put_scalar(o, item, ind + 2);
            }
        }
        return CONFHUB_OK;
    }

    const char *key;
    size_t key_len;
    json_t *val;
    json_object_keylen_foreach((json_t *)v, key, key_len, val)
    {
        bool explicit_key = key_len > MAX_IMPLICIT_KEY;
        if (!first || !inline_first)
            indent(o, ind);
        first = false;
        if (explicit_key) {
            put(o, "? ", 2);
            put_double_quoted(o, key, key_len);
            put(o, "\n", 1);
            indent(o, ind);
        } else {
            put_inline_string(o, key, key_len);
        }
        put(o, ":", 1);
        if (is_block(val)) {
            put(o, "\n", 1);
            indent(o, ind + 2);
            rc = put_block(d, val, ind + 2, true, depth + 1, err);
            if (rc != CONFHUB_OK)
                return rc;
        } else {
            put_scalar(o, val, ind + 2);
        }
    }
    return CONFHUB_OK;
}

/* Writes one document: a block collection, or a scalar on its own line. */
static enum confhub_status put_document(struct dump *d, const json_t *doc, struct ch_err *err)
{
    if (is_block(doc))
        return put_block(d, doc, 0, false, 1, err);
    put_scalar(&d->out, doc, 2);
    /* put_scalar starts with the space that follows "key:"; drop it at the top level. */
    return CONFHUB_OK;
}

enum confhub_status ch_yaml_dump(const json_t *doc, const struct ch_format_opts *opts, char **out,
                                 size_t *len_out, struct ch_err *err)
{
    struct dump d = {{0}, opts && opts->max_depth ? opts->max_depth : DEFAULT_MAX_DEPTH};
    enum confhub_status rc = CONFHUB_OK;

    if (opts && opts->multi_doc) {
        size_t i;
        json_t *item;
        if (!json_is_array(doc)) {
            rc = ch_err_set(err, CONFHUB_EINVAL,
                            "cannot write YAML documents: expected an array of documents");
            goto done;
        }
        json_array_foreach(doc, i, item)
        {
            puts_(&d.out, "---");
            if (is_block(item))
                put(&d.out, "\n", 1);
            rc = put_document(&d, item, err);
            if (rc != CONFHUB_OK)
                goto done;
        }
    } else {
        rc = put_document(&d, doc, err);
        if (rc != CONFHUB_OK)
            goto done;
    }
    /* A top-level scalar was written as " value": strip the space put_scalar added. */
    if (!d.out.failed && d.out.len > 0 && d.out.ptr[0] == ' ') {
        memmove(d.out.ptr, d.out.ptr + 1, d.out.len);
        d.out.len--;
    }
    if (d.out.failed || !d.out.ptr) {
        put(&d.out, "", 0);
        if (d.out.failed || !d.out.ptr) {
            rc = ch_err_set(err, CONFHUB_ENOMEM, "cannot write YAML: out of memory");
            goto done;
        }
    }
    *out = d.out.ptr;
    *len_out = d.out.len;
    d.out.ptr = NULL;

done:
    ch_free(d.out.ptr);
    return rc;
}
