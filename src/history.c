/* SPDX-License-Identifier: MIT */
/*
 * history.c: history answers (see history.h).
 *
 * Event pages and diffs are written straight into a buffer: values are stored as compact
 * JSON text, so they are copied, never parsed. Values at a past revision are assembled as a
 * jansson document, because the callers go on to serialise them in any format or to plan a
 * rollback with them.
 */
#include "history.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/num.h"
#include "common/timeutil.h"

static void add_int(struct ch_buf *b, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%" PRId64, v);
    ch_buf_add(b, num, (size_t)n);
}

/* ,"name": followed by the raw JSON text. */
static void add_raw_member(struct ch_buf *b, const char *name, const char *json)
{
    ch_buf_addc(b, ',');
    ch_buf_add_json_name(b, name, strlen(name));
    ch_buf_addc(b, ':');
    ch_buf_adds(b, json);
}

static void add_name_member(struct ch_buf *b, const char *name, const char *value, bool first)
{
    if (!first)
        ch_buf_addc(b, ',');
    ch_buf_add_json_name(b, name, strlen(name));
    ch_buf_addc(b, ':');
    ch_buf_add_json_name(b, value, strlen(value));
}

static enum confhub_status oom(struct ch_err *err)
{
    return ch_err_set(err, CONFHUB_ENOMEM, "cannot build the history answer: out of memory");
}

/* ---------------------------------------------------------------- event pages */

struct page {
    struct ch_buf *out;
    size_t n, limit;
    int64_t last_rev, last_seq; /* of the last event written */
    bool more;                  /* the store had an event past the page */
};

void ch_history_event_json(struct ch_buf *b, const struct ch_history_event *ev)
{
    ch_history_event_head(b, ev);
    ch_history_event_rest(b, ev);
}

void ch_history_event_head(struct ch_buf *b, const struct ch_history_event *ev)
{
    char ts[32];
    ch_buf_adds(b, "{\"revision\":");
    add_int(b, ev->revision);
    ch_buf_adds(b, ",\"timestamp\":\"");
    ch_buf_adds(b, ch_time_format_ms(ev->ts_ms, ts, sizeof(ts)));
    ch_buf_addc(b, '"');
    add_name_member(b, "actor", ev->actor, false);
    add_name_member(b, "remote", ev->remote, false);
}

void ch_history_event_rest(struct ch_buf *b, const struct ch_history_event *ev)
{
    ch_buf_adds(b, ev->op == CH_STORE_SET ? ",\"op\":\"set\"" : ",\"op\":\"delete\"");
    add_name_member(b, "ns", ev->ns, false);
    add_name_member(b, "section", ev->section, false);
    add_name_member(b, "key", ev->key, false);
    /* Absent, not null: a key created had no value, which is not the same as a JSON null. */
    if (ev->old_value)
        add_raw_member(b, "old_value", ev->old_value);
    if (ev->new_value)
        add_raw_member(b, "new_value", ev->new_value);
    ch_buf_addc(b, '}');
}

static enum confhub_status page_event(void *userdata, const struct ch_history_event *ev,
                                      struct ch_err *err)
{
    struct page *p = userdata;

    if (p->n == p->limit) {
        p->more = true; /* the one extra row asked for: there is a next page */
        return CONFHUB_OK;
    }
    if (p->n++)
        ch_buf_addc(p->out, ',');
    ch_history_event_json(p->out, ev);
    p->last_rev = ev->revision;
    p->last_seq = ev->seq;
    return p->out->failed ? oom(err) : CONFHUB_OK;
}

enum confhub_status ch_history_page_json(struct ch_store *store, const struct ch_history_filter *f,
                                         struct ch_buf *out, struct ch_err *err)
{
    struct ch_history_filter one_more = *f;
    struct page p = {.out = out, .limit = f->limit};
    struct ch_store_info info;
    enum confhub_status rc;

    one_more.limit = f->limit + 1;
    ch_buf_adds(out, "{\"events\":[");
    rc = ch_store_history(store, &one_more, page_event, &p, &info, err);
    if (rc != CONFHUB_OK)
        return rc;
    ch_buf_adds(out, "],\"next_cursor\":");
    if (p.more) {
        char cursor[48];
        snprintf(cursor, sizeof(cursor), "\"%" PRId64 ".%" PRId64 "\"", p.last_rev, p.last_seq);
        ch_buf_adds(out, cursor);
    } else {
        ch_buf_adds(out, "null");
    }
    ch_buf_adds(out, ",\"revision\":");
    add_int(out, info.revision);
    ch_buf_addc(out, '}');
    return out->failed ? oom(err) : CONFHUB_OK;
}

enum confhub_status ch_history_cursor_parse(const char *text, size_t len, int64_t *rev_out,
                                            int64_t *seq_out, struct ch_err *err)
{
    const char *dot = memchr(text, '.', len);
    if (!dot || !ch_num_parse(text, (size_t)(dot - text), rev_out) ||
        !ch_num_parse(dot + 1, len - (size_t)(dot - text) - 1, seq_out) || *rev_out < 1)
        return ch_err_set(err, CONFHUB_EINVAL,
                          "cursor '%.*s' is not one this server gave out: pass next_cursor "
                          "unchanged",
                          (int)(len > 64 ? 64 : len), text);
    return CONFHUB_OK;
}

/* ---------------------------------------------------------------- the past */

struct assemble {
    const struct ch_store_scope *scope;
    json_t *doc;   /* ns scope: the document; section scope: the section object */
    json_t *value; /* section scope with '@', or key scope: the value */
};

static enum confhub_status parse_value(const struct ch_store_entry *e, json_t **out,
                                       struct ch_err *err)
{
    json_error_t jerr;
    *out = json_loadb(e->value, e->value_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!*out)
        return ch_err_set(err, CONFHUB_EIO, "history of '%s/%s/%s' holds a bad value: %s", e->ns,
                          e->section, e->key, jerr.text);
    return CONFHUB_OK;
}

/* Puts v (consumed) under key in obj, creating obj when NULL. */
static enum confhub_status set_member(json_t **obj, const char *key, json_t *v, struct ch_err *err)
{
    if (!*obj)
        *obj = json_object();
    if (!*obj) {
        json_decref(v);
        return oom(err);
    }
    /* json_object_set_new releases v when it fails. */
    return json_object_set_new(*obj, key, v) == 0 ? CONFHUB_OK : oom(err);
}

static enum confhub_status assemble_entry(void *userdata, const struct ch_store_entry *e,
                                          struct ch_err *err)
{
    struct assemble *a = userdata;
    json_t *v = NULL;
    enum confhub_status rc = parse_value(e, &v, err);
    bool whole = strcmp(e->key, "@") == 0; /* a list or scalar section */

    if (rc != CONFHUB_OK)
        return rc;
    if (a->scope->key) {
        a->value = v;
        return CONFHUB_OK;
    }
    if (a->scope->section) {
        if (whole) {
            a->value = v;
            return CONFHUB_OK;
        }
        return set_member(&a->doc, e->key, v, err);
    }
    if (whole)
        return set_member(&a->doc, e->section, v, err);
    json_t *sec = a->doc ? json_object_get(a->doc, e->section) : NULL;
    if (!sec) {
        sec = json_object();
        rc = set_member(&a->doc, e->section, sec, err);
        if (rc != CONFHUB_OK)
            return rc;
    }
    return json_object_set_new(sec, e->key, v) == 0 ? CONFHUB_OK : oom(err);
}

enum confhub_status ch_history_value_at(struct ch_store *store, const struct ch_store_scope *scope,
                                        int64_t revision, json_t **out,
                                        struct ch_store_info *info_out, struct ch_err *err)
{
    struct assemble a = {.scope = scope};
    enum confhub_status rc =
        ch_store_state_at(store, scope, revision, assemble_entry, &a, info_out, err);

    if (rc != CONFHUB_OK) {
        json_decref(a.doc);
        json_decref(a.value);
        return rc;
    }
    *out = a.value ? a.value : a.doc;
    if (a.value)
        json_decref(a.doc);
    return CONFHUB_OK;
}

struct ns_count {
    json_t *list;
    const char *ns;     /* the namespace being counted; points into the current row only */
    json_t *current;    /* its list item */
    char *last_section; /* to count distinct sections (rows arrive sorted) */
};

static enum confhub_status count_entry(void *userdata, const struct ch_store_entry *e,
                                       struct ch_err *err)
{
    struct ns_count *c = userdata;
    json_t *item = c->current;

    if (!item || strcmp(json_string_value(json_object_get(item, "name")), e->ns) != 0) {
        item = json_pack("{s:s,s:i,s:i}", "name", e->ns, "sections", 0, "keys", 0);
        if (!item || json_array_append_new(c->list, item) != 0)
            return oom(err);
        c->current = item;
        ch_free(c->last_section);
        c->last_section = NULL;
    }
    if (!c->last_section || strcmp(c->last_section, e->section) != 0) {
        ch_free(c->last_section);
        c->last_section = ch_strdup(e->section);
        if (!c->last_section)
            return oom(err);
        json_object_set_new(
            item, "sections",
            json_integer(json_integer_value(json_object_get(item, "sections")) + 1));
    }
    json_object_set_new(item, "keys",
                        json_integer(json_integer_value(json_object_get(item, "keys")) + 1));
    return CONFHUB_OK;
}

/* Inserts {"name":"default"} in its sorted place when the list lacks it. */
static enum confhub_status add_default(json_t *list, struct ch_err *err)
{
    size_t i;
    for (i = 0; i < json_array_size(list); i++) {
        int cmp =
            strcmp(json_string_value(json_object_get(json_array_get(list, i), "name")), "default");
        if (cmp == 0)
            return CONFHUB_OK;
        if (cmp > 0)
            break;
    }
    json_t *item = json_pack("{s:s,s:i,s:i}", "name", "default", "sections", 0, "keys", 0);
    return item && json_array_insert_new(list, i, item) == 0 ? CONFHUB_OK : oom(err);
}

enum confhub_status ch_history_namespaces_at(struct ch_store *store, int64_t revision, json_t **out,
                                             struct ch_store_info *info_out, struct ch_err *err)
{
    struct ch_store_scope all = {0};
    struct ns_count c = {.list = json_array()};
    enum confhub_status rc = c.list ? CONFHUB_OK : oom(err);

    if (rc == CONFHUB_OK)
        rc = ch_store_state_at(store, &all, revision, count_entry, &c, info_out, err);
    if (rc == CONFHUB_OK)
        rc = add_default(c.list, err);
    ch_free(c.last_section);
    if (rc != CONFHUB_OK) {
        json_decref(c.list);
        return rc;
    }
    *out = c.list;
    return CONFHUB_OK;
}

/* ---------------------------------------------------------------- diffs */

struct diff {
    struct ch_buf *out;
    size_t n;
};

static enum confhub_status diff_change(void *userdata, const struct ch_store_change *c,
                                       struct ch_err *err)
{
    struct diff *d = userdata;
    struct ch_buf *b = d->out;
    const char *kind = !c->old_value ? "added" : !c->new_value ? "removed" : "changed";

    ch_buf_adds(b, d->n++ ? ",{" : "{");
    add_name_member(b, "section", c->section, true);
    add_name_member(b, "key", c->key, false);
    add_name_member(b, "change", kind, false);
    if (c->old_value)
        add_raw_member(b, "old", c->old_value);
    if (c->new_value)
        add_raw_member(b, "new", c->new_value);
    ch_buf_addc(b, '}');
    return b->failed ? oom(err) : CONFHUB_OK;
}

enum confhub_status ch_history_diff_json(struct ch_store *store, const struct ch_store_scope *scope,
                                         int64_t from_rev, int64_t to_rev, struct ch_buf *out,
                                         struct ch_err *err)
{
    struct diff d = {.out = out};
    struct ch_store_info info;
    enum confhub_status rc;

    ch_buf_adds(out, "{\"changes\":[");
    rc = ch_store_changes(store, scope, from_rev, to_rev, diff_change, &d, &info, err);
    if (rc != CONFHUB_OK)
        return rc;
    ch_buf_adds(out, "],\"from\":");
    add_int(out, from_rev);
    ch_buf_adds(out, ",\"to\":");
    add_int(out, to_rev);
    ch_buf_adds(out, ",\"revision\":");
    add_int(out, info.revision);
    ch_buf_addc(out, '}');
    return out->failed ? oom(err) : CONFHUB_OK;
}
