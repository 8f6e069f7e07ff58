/* SPDX-License-Identifier: MIT */
/*
 * plan.c: write operations -> key changes (see plan.h).
 *
 * The shapes, all against the state as it is when the operation is planned:
 *   put key          one change, unless the key holds an equal value already;
 *   put section      a non-empty object: a change per member that differs, and a delete per
 *                    key not in it; anything else: the single "@" entry, other keys deleted;
 *   put namespace    put section for every section of the document, delete the others;
 *   merge namespace  put key for every key of the document's object sections (others kept),
 *                    put section for its list and scalar sections;
 *   patch            the current document (or section) with the RFC 7396 patch applied,
 *                    then planned as a put.
 */
#include "plan.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/json_util.h"
#include "common/names.h"

static bool grow(struct ch_plan *p)
{
    if (p->n < p->cap)
        return true;
    size_t cap = p->cap ? p->cap * 2 : 16;
    struct ch_change *items = ch_realloc(p->items, cap * sizeof(*items));
    if (!items)
        return false;
    p->items = items;
    p->cap = cap;
    return true;
}

/* Appends a change; takes value (freed on failure). */
static enum confhub_status add(struct ch_plan *p, const char *ns, const char *section,
                               const char *key, char *value, size_t value_len, struct ch_err *err)
{
    struct ch_change c = {ch_strdup(ns), ch_strdup(section), ch_strdup(key), value, value_len};
    if (!c.ns || !c.section || !c.key || !grow(p)) {
        ch_free(c.ns);
        ch_free(c.section);
        ch_free(c.key);
        ch_free(value);
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot plan the write: out of memory");
    }
    p->items[p->n++] = c;
    return CONFHUB_OK;
}

void ch_plan_free(struct ch_plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        ch_free(p->items[i].ns);
        ch_free(p->items[i].section);
        ch_free(p->items[i].key);
        ch_free(p->items[i].value);
    }
    ch_free(p->items);
    memset(p, 0, sizeof(*p));
}

/* True when the stored text and the new value are the same JSON value. Object member order
 * does not matter, so a write that only reorders members is a no-op. */
static bool same_value(const char *old_text, size_t old_len, const char *text, size_t len,
                       const json_t *value)
{
    if (old_len == len && memcmp(old_text, text, len) == 0)
        return true;
    if (!json_is_object(value) && !json_is_array(value))
        return false;
    json_t *old = json_loadb(old_text, old_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    bool eq = old && json_equal(old, (json_t *)value);
    json_decref(old);
    return eq;
}

/* Serialises value for section/key and checks it against the value limit. */
static enum confhub_status dump_value(const struct ch_limits *limits, const char *section,
                                      const char *key, const json_t *value, char **out,
                                      size_t *len_out, struct ch_err *err)
{
    size_t len = 0;
    char *text = ch_json_dump(value, &len);
    if (!text)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot serialise a value: out of memory");
    if (len > limits->max_value_bytes) {
        ch_free(text);
        if (strcmp(key, CH_NAMES_SCALAR_KEY) == 0)
            return ch_err_set(err, CONFHUB_ETOOBIG,
                              "value of section '%s' is %zu bytes, over the limit of %zu "
                              "(max-value-bytes)",
                              section, len, limits->max_value_bytes);
        return ch_err_set(err, CONFHUB_ETOOBIG,
                          "value of '%s/%s' is %zu bytes, over the limit of %zu (max-value-bytes)",
                          section, key, len, limits->max_value_bytes);
    }
    *out = text;
    *len_out = len;
    return CONFHUB_OK;
}

static const struct ch_section *find_section(const struct ch_state *st, const char *ns,
                                             const char *section)
{
    const struct ch_ns *n = ch_state_find_ns(st, ns, strlen(ns));
    return n && section ? ch_ns_find_section(n, section, strlen(section)) : NULL;
}

/* Adds a change that sets section/key to value unless it already holds that value. */
static enum confhub_status plan_set(const struct ch_limits *limits, const struct ch_section *sec,
                                    const char *ns, const char *section, const char *key,
                                    const json_t *value, struct ch_plan *p, struct ch_err *err)
{
    char *text = NULL;
    size_t len = 0;
    enum confhub_status rc = dump_value(limits, section, key, value, &text, &len, err);
    if (rc != CONFHUB_OK)
        return rc;
    const struct ch_entry *cur = sec ? ch_section_find_entry(sec, key, strlen(key)) : NULL;
    if (cur) {
        struct ch_entry_info info;
        ch_entry_info(cur, &info);
        if (same_value(info.value, info.value_len, text, len, value)) {
            ch_free(text);
            return CONFHUB_OK;
        }
    }
    return add(p, ns, section, key, text, len, err);
}

/* Deletes every key of sec except `keep` (may be NULL) and the members of `object`. */
static enum confhub_status plan_prune(const struct ch_section *sec, const char *ns,
                                      const char *section, const json_t *object, const char *keep,
                                      struct ch_plan *p, struct ch_err *err)
{
    const struct ch_entry **entries = NULL;
    size_t n = 0;
    enum confhub_status rc = CONFHUB_OK;
    if (!sec)
        return CONFHUB_OK;
    if (ch_section_sorted_entries(sec, &entries, &n) != CONFHUB_OK)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot plan the write: out of memory");
    for (size_t i = 0; i < n && rc == CONFHUB_OK; i++) {
        struct ch_entry_info info;
        ch_entry_info(entries[i], &info);
        if (keep && strcmp(info.key, keep) == 0)
            continue;
        if (object && json_object_get(object, info.key))
            continue;
        rc = add(p, ns, section, info.key, NULL, 0, err);
    }
    ch_free(entries);
    return rc;
}

static enum confhub_status check_key_name(const struct ch_limits *limits, const char *section,
                                          const char *key, struct ch_err *err)
{
    char what[300];
    snprintf(what, sizeof(what), "key in section '%s':", section);
    return ch_names_check(what, key, strlen(key), limits->max_name_bytes, err);
}

/* Replaces a section with value: a non-empty object becomes one key per member, any other
 * value (a list, a scalar, {}) the single reserved "@" entry. */
static enum confhub_status plan_section(const struct ch_limits *limits,
                                        const struct ch_section *sec, const char *ns,
                                        const char *section, const json_t *value, struct ch_plan *p,
                                        struct ch_err *err)
{
    enum confhub_status rc;
    if (!json_is_object(value) || json_object_size(value) == 0) {
        rc = plan_prune(sec, ns, section, NULL, CH_NAMES_SCALAR_KEY, p, err);
        if (rc == CONFHUB_OK)
            rc = plan_set(limits, sec, ns, section, CH_NAMES_SCALAR_KEY, value, p, err);
        return rc;
    }
    const char *key;
    json_t *member;
    json_object_foreach((json_t *)value, key, member)
    {
        rc = check_key_name(limits, section, key, err);
        if (rc == CONFHUB_OK)
            rc = plan_set(limits, sec, ns, section, key, member, p, err);
        if (rc != CONFHUB_OK)
            return rc;
    }
    return plan_prune(sec, ns, section, value, NULL, p, err);
}

/* Puts a key, dropping the "@" of an empty-object section in the same write. A key cannot go
 * into a list or scalar section: replacing the section is the explicit way. */
static enum confhub_status plan_put_key(const struct ch_limits *limits,
                                        const struct ch_section *sec, const char *ns,
                                        const char *section, const char *key, const json_t *value,
                                        struct ch_plan *p, struct ch_err *err)
{
    const struct ch_entry *scalar = sec ? ch_section_scalar(sec) : NULL;
    enum confhub_status rc;
    if (scalar) {
        struct ch_entry_info s;
        ch_entry_info(scalar, &s);
        if (strcmp(s.value, "{}") != 0)
            return ch_err_set(err, CONFHUB_EINVAL,
                              "section '%s/%s' holds a list or scalar value, not keys; replace "
                              "the whole section to change it",
                              ns, section);
        rc = add(p, ns, section, CH_NAMES_SCALAR_KEY, NULL, 0, err);
        if (rc != CONFHUB_OK)
            return rc;
    }
    return plan_set(limits, sec, ns, section, key, value, p, err);
}

/* Plans every section of a namespace document (replaced, or with `merge` keys written one
 * by one and other keys kept); section names are checked. */
static enum confhub_status plan_document(const struct ch_limits *limits, const struct ch_state *st,
                                         const char *ns, const json_t *doc, bool merge,
                                         struct ch_plan *p, struct ch_err *err)
{
    const char *name;
    json_t *value;
    enum confhub_status rc;

    if (!json_is_object(doc))
        return ch_err_set(err, CONFHUB_EINVAL,
                          "a namespace document must be a JSON object of sections, not %s",
                          json_is_array(doc) ? "an array" : "a scalar");
    json_object_foreach((json_t *)doc, name, value)
    {
        rc = ch_names_check("section", name, strlen(name), limits->max_name_bytes, err);
        if (rc != CONFHUB_OK)
            return rc;
        const struct ch_section *sec = find_section(st, ns, name);
        bool keyed = json_is_object(value) && json_object_size(value) > 0;
        /* Merging keys into a list or scalar section would mix the two: replace it then. */
        if (merge && keyed && !(sec && ch_section_scalar(sec))) {
            const char *key;
            json_t *member;
            json_object_foreach(value, key, member)
            {
                rc = check_key_name(limits, name, key, err);
                if (rc == CONFHUB_OK)
                    rc = plan_put_key(limits, sec, ns, name, key, member, p, err);
                if (rc != CONFHUB_OK)
                    return rc;
            }
            continue;
        }
        rc = plan_section(limits, sec, ns, name, value, p, err);
        if (rc != CONFHUB_OK)
            return rc;
    }
    return CONFHUB_OK;
}

/* Deletes the sections of ns that `keep` (a document, may be NULL) does not name. */
static enum confhub_status prune_sections(const struct ch_state *st, const char *ns,
                                          const json_t *keep, struct ch_plan *p, struct ch_err *err)
{
    const struct ch_ns *n = ch_state_find_ns(st, ns, strlen(ns));
    const struct ch_section **secs = NULL;
    size_t count = 0;
    enum confhub_status rc = CONFHUB_OK;
    if (!n)
        return CONFHUB_OK;
    if (ch_ns_sorted_sections(n, &secs, &count) != CONFHUB_OK)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot plan the write: out of memory");
    for (size_t i = 0; i < count && rc == CONFHUB_OK; i++) {
        const char *name = ch_section_name(secs[i]);
        if (keep && json_object_get(keep, name))
            continue;
        rc = plan_prune(secs[i], ns, name, NULL, NULL, p, err);
    }
    ch_free(secs);
    return rc;
}

/* Makes namespace ns exactly doc: its sections planned, the sections it does not name
 * deleted. */
static enum confhub_status plan_replace_ns(const struct ch_limits *limits,
                                           const struct ch_state *st, const char *ns,
                                           const json_t *doc, struct ch_plan *p, struct ch_err *err)
{
    enum confhub_status rc = plan_document(limits, st, ns, doc, false, p, err);
    return rc == CONFHUB_OK ? prune_sections(st, ns, doc, p, err) : rc;
}

/* ---------------------------------------------------------------- current values */

static json_t *entry_json(const struct ch_entry *e)
{
    struct ch_entry_info info;
    ch_entry_info(e, &info);
    return json_loadb(info.value, info.value_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

static json_t *section_json(const struct ch_section *sec)
{
    const struct ch_entry *scalar = ch_section_scalar(sec);
    const struct ch_entry **entries = NULL;
    size_t n = 0;
    json_t *obj;

    if (scalar)
        return entry_json(scalar);
    obj = json_object();
    if (!obj || ch_section_sorted_entries(sec, &entries, &n) != CONFHUB_OK) {
        json_decref(obj);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        struct ch_entry_info info;
        json_t *v = entry_json(entries[i]);
        ch_entry_info(entries[i], &info);
        if (!v || json_object_set_new(obj, info.key, v) != 0) {
            json_decref(obj);
            obj = NULL;
            break;
        }
    }
    ch_free(entries);
    return obj;
}

json_t *ch_plan_current_json(const struct ch_state *st, const char *ns, const char *section,
                             bool *oom)
{
    const struct ch_ns *n = ch_state_find_ns(st, ns, strlen(ns));
    json_t *result = NULL;
    *oom = false;
    if (!n)
        return NULL;
    if (section) {
        const struct ch_section *sec = ch_ns_find_section(n, section, strlen(section));
        if (!sec)
            return NULL;
        result = section_json(sec);
    } else {
        const struct ch_section **secs = NULL;
        size_t count = 0;
        result = json_object();
        if (result && ch_ns_sorted_sections(n, &secs, &count) == CONFHUB_OK) {
            for (size_t i = 0; i < count && result; i++) {
                json_t *v = section_json(secs[i]);
                if (!v || json_object_set_new(result, ch_section_name(secs[i]), v) != 0) {
                    json_decref(result);
                    result = NULL;
                }
            }
            ch_free(secs);
        } else {
            json_decref(result);
            result = NULL;
        }
    }
    *oom = result == NULL;
    return result;
}

/* Applies an RFC 7396 merge patch to the current value (NULL: none) of the target. */
static enum confhub_status patched(const struct ch_state *st, const struct ch_op *op, json_t **out,
                                   struct ch_err *err)
{
    bool oom = false;
    json_t *cur = ch_plan_current_json(st, op->ns, op->section, &oom);
    if (oom)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot plan the patch: out of memory");
    json_t *result = ch_json_merge_patch(cur, op->value);
    json_decref(cur);
    if (!result)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot plan the patch: out of memory");
    *out = result;
    return CONFHUB_OK;
}

/* ---------------------------------------------------------------- operations */

bool ch_plan_target(const struct ch_state *st, const struct ch_op *op, int64_t *mod_rev_out)
{
    const struct ch_ns *n = ch_state_find_ns(st, op->ns, strlen(op->ns));
    const struct ch_section *sec =
        n && op->section ? ch_ns_find_section(n, op->section, strlen(op->section)) : NULL;
    *mod_rev_out = 0;
    if (op->key) {
        const struct ch_entry *e = sec && !ch_section_scalar(sec)
                                       ? ch_section_find_entry(sec, op->key, strlen(op->key))
                                       : NULL;
        if (!e)
            return false;
        struct ch_entry_info info;
        ch_entry_info(e, &info);
        *mod_rev_out = info.mod_rev;
        return true;
    }
    if (op->section) {
        if (sec)
            *mod_rev_out = ch_section_mod_rev(sec);
        return sec != NULL;
    }
    if (n)
        *mod_rev_out = ch_ns_mod_rev(n);
    return n != NULL;
}

void ch_plan_describe(const struct ch_op *op, char *out, size_t out_len)
{
    if (op->key)
        snprintf(out, out_len, "key '%s/%s/%s'", op->ns, op->section, op->key);
    else if (op->section)
        snprintf(out, out_len, "section '%s/%s'", op->ns, op->section);
    else
        snprintf(out, out_len, "namespace '%s'", op->ns);
}

enum confhub_status ch_plan_op(const struct ch_limits *limits, const struct ch_state *st,
                               const struct ch_op *op, struct ch_plan *p, struct ch_err *err)
{
    const struct ch_section *sec = find_section(st, op->ns, op->section);
    char what[900];
    int64_t mod_rev;
    json_t *doc = NULL;
    enum confhub_status rc;

    switch (op->kind) {
    case CH_OP_PUT_KEY:
        return plan_put_key(limits, sec, op->ns, op->section, op->key, op->value, p, err);
    case CH_OP_DELETE_KEY:
    case CH_OP_DELETE_SECTION:
    case CH_OP_DELETE_NS:
        if (!ch_plan_target(st, op, &mod_rev)) {
            ch_plan_describe(op, what, sizeof(what));
            return ch_err_set(err, CONFHUB_ENOTFOUND, "%s not found", what);
        }
        if (op->kind == CH_OP_DELETE_KEY)
            return add(p, op->ns, op->section, op->key, NULL, 0, err);
        if (op->kind == CH_OP_DELETE_SECTION)
            return plan_prune(sec, op->ns, op->section, NULL, NULL, p, err);
        return prune_sections(st, op->ns, NULL, p, err);
    case CH_OP_PUT_SECTION:
        return plan_section(limits, sec, op->ns, op->section, op->value, p, err);
    case CH_OP_PUT_NS:
        return plan_replace_ns(limits, st, op->ns, op->value, p, err);
    case CH_OP_MERGE_NS:
        return plan_document(limits, st, op->ns, op->value, true, p, err);
    case CH_OP_PATCH_NS:
    case CH_OP_PATCH_SECTION:
        rc = patched(st, op, &doc, err);
        if (rc != CONFHUB_OK)
            return rc;
        if (ch_json_depth(doc) > limits->max_json_depth)
            rc = ch_err_set(err, CONFHUB_ETOOBIG,
                            "the patched document is deeper than the limit of %zu "
                            "(max-json-depth)",
                            limits->max_json_depth);
        else if (op->kind == CH_OP_PATCH_SECTION)
            rc = plan_section(limits, sec, op->ns, op->section, doc, p, err);
        else
            rc = plan_replace_ns(limits, st, op->ns, doc, p, err);
        json_decref(doc);
        return rc;
    }
    return ch_err_set(err, CONFHUB_EINVAL, "unknown operation %d", (int)op->kind);
}

/* ---------------------------------------------------------------- diff */

static int diff_append(json_t *list, const struct ch_change *c, const char *old)
{
    json_t *item = json_pack("{s:s,s:s,s:s}", "ns", c->ns, "section", c->section, "key", c->key);
    json_t *nv = c->value ? json_loadb(c->value, c->value_len, JSON_DECODE_ANY, NULL) : NULL;
    json_t *ov = old ? json_loads(old, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;
    int rc = -1;
    if (item && (!c->value || nv) && (!old || ov)) {
        if (old && c->value)
            rc = json_object_set(item, "old", ov) | json_object_set(item, "new", nv);
        else
            rc = json_object_set(item, "value", c->value ? nv : ov);
        if (rc == 0)
            rc = json_array_append(list, item);
    }
    json_decref(item);
    json_decref(nv);
    json_decref(ov);
    return rc;
}

void ch_plan_count(const struct ch_state *st, const struct ch_plan *plan, size_t *added,
                   size_t *changed, size_t *removed)
{
    *added = *changed = *removed = 0;
    for (size_t i = 0; i < plan->n; i++) {
        const struct ch_change *ch = &plan->items[i];
        const struct ch_section *sec = find_section(st, ch->ns, ch->section);
        bool exists = sec && ch_section_find_entry(sec, ch->key, strlen(ch->key));
        *(!exists ? added : ch->value ? changed : removed) += 1;
    }
}

json_t *ch_plan_diff(const struct ch_state *st, const struct ch_plan *plan, size_t *added,
                     size_t *changed, size_t *removed)
{
    json_t *a = json_array(), *c = json_array(), *r = json_array();
    json_t *diff =
        a && c && r ? json_pack("{s:O,s:O,s:O}", "added", a, "changed", c, "removed", r) : NULL;
    size_t na = 0, nc = 0, nr = 0;
    for (size_t i = 0; diff && i < plan->n; i++) {
        const struct ch_change *ch = &plan->items[i];
        const struct ch_section *sec = find_section(st, ch->ns, ch->section);
        const struct ch_entry *e =
            sec ? ch_section_find_entry(sec, ch->key, strlen(ch->key)) : NULL;
        struct ch_entry_info info = {0};
        json_t *list = !e ? a : ch->value ? c : r;
        if (e)
            ch_entry_info(e, &info);
        if (diff_append(list, ch, e ? info.value : NULL) != 0) {
            json_decref(diff);
            diff = NULL;
        }
        *(!e ? &na : ch->value ? &nc : &nr) += 1;
    }
    json_decref(a);
    json_decref(c);
    json_decref(r);
    if (added)
        *added = na;
    if (changed)
        *changed = nc;
    if (removed)
        *removed = nr;
    return diff;
}
