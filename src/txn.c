/* SPDX-License-Identifier: MIT */
/* txn.c: parsing, checking and evaluating transactions (see txn.h for the shapes). */
#include "txn.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/names.h"

static const struct {
    const char *name;
    enum ch_op_kind kind;
    bool section, key, value; /* which members the operation needs */
} op_kinds[] = {
    {"put", CH_OP_PUT_KEY, true, true, true},
    {"delete", CH_OP_DELETE_KEY, true, true, false},
    {"put_section", CH_OP_PUT_SECTION, true, false, true},
    {"delete_section", CH_OP_DELETE_SECTION, true, false, false},
    {"put_namespace", CH_OP_PUT_NS, false, false, true},
    {"delete_namespace", CH_OP_DELETE_NS, false, false, false},
};

#define N_KINDS (sizeof(op_kinds) / sizeof(op_kinds[0]))

const char *ch_txn_op_name(enum ch_op_kind kind)
{
    for (size_t i = 0; i < N_KINDS; i++) {
        if (op_kinds[i].kind == kind)
            return op_kinds[i].name;
    }
    return "?";
}

void ch_txn_free(struct ch_txn *txn)
{
    if (!txn)
        return;
    ch_free(txn->conds);
    ch_free(txn->then_ops);
    ch_free(txn->else_ops);
    json_decref(txn->body);
    ch_free(txn);
}

/* Checks that obj has only members from `allowed` (a NULL-terminated list). */
static enum confhub_status only_members(const json_t *obj, const char *const *allowed,
                                        const char *where, struct ch_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok)
            return ch_err_set(err, CONFHUB_EINVAL, "%s: unknown member '%s'", where, key);
    }
    return CONFHUB_OK;
}

/* Reads the name member `what` ("ns", "section", "key") of obj into *out. */
static enum confhub_status name_member(const json_t *obj, const char *what, bool required,
                                       const char *fallback, const struct ch_limits *limits,
                                       const char *where, const char **out, struct ch_err *err)
{
    json_t *v = json_object_get(obj, what);
    static const char *const kind[] = {"namespace", "section", "key"};
    const char *shown = what[0] == 'n' ? kind[0] : what[0] == 's' ? kind[1] : kind[2];
    *out = NULL;
    if (!v) {
        if (required && !fallback)
            return ch_err_set(err, CONFHUB_EINVAL, "%s: \"%s\" is missing", where, what);
        *out = fallback;
        return CONFHUB_OK;
    }
    if (!json_is_string(v))
        return ch_err_set(err, CONFHUB_EINVAL, "%s: \"%s\" must be a string", where, what);
    char label[200];
    snprintf(label, sizeof(label), "%s: %s", where, shown);
    enum confhub_status rc = ch_names_check(label, json_string_value(v), json_string_length(v),
                                            limits->max_name_bytes, err);
    if (rc == CONFHUB_OK && strlen(json_string_value(v)) != json_string_length(v))
        rc = ch_err_set(err, CONFHUB_EINVAL, "%s: %s name contains a NUL", where, shown);
    *out = json_string_value(v);
    return rc;
}

static enum confhub_status parse_op(const json_t *obj, const struct ch_limits *limits,
                                    const char *where, struct ch_op *op, struct ch_err *err)
{
    static const char *const allowed[] = {"op", "ns", "section", "key", "value", NULL};
    json_t *name = json_object_get(obj, "op");
    enum confhub_status rc;
    size_t k;

    if (!json_is_object(obj))
        return ch_err_set(err, CONFHUB_EINVAL, "%s: an operation must be an object", where);
    rc = only_members(obj, allowed, where, err);
    if (rc != CONFHUB_OK)
        return rc;
    if (!json_is_string(name))
        return ch_err_set(err, CONFHUB_EINVAL,
                          "%s: \"op\" must be put, delete, put_section, delete_section, "
                          "put_namespace or delete_namespace",
                          where);
    for (k = 0; k < N_KINDS && strcmp(op_kinds[k].name, json_string_value(name)) != 0; k++)
        ;
    if (k == N_KINDS)
        return ch_err_set(err, CONFHUB_EINVAL, "%s: unknown op '%s'", where,
                          json_string_value(name));
    op->kind = op_kinds[k].kind;
    rc = name_member(obj, "ns", true, "default", limits, where, &op->ns, err);
    if (rc == CONFHUB_OK && op_kinds[k].section)
        rc = name_member(obj, "section", true, NULL, limits, where, &op->section, err);
    if (rc == CONFHUB_OK && op_kinds[k].key)
        rc = name_member(obj, "key", true, NULL, limits, where, &op->key, err);
    if (rc != CONFHUB_OK)
        return rc;
    if (!op_kinds[k].section && json_object_get(obj, "section"))
        return ch_err_set(err, CONFHUB_EINVAL, "%s: %s takes no \"section\"", where,
                          op_kinds[k].name);
    if (!op_kinds[k].key && json_object_get(obj, "key"))
        return ch_err_set(err, CONFHUB_EINVAL, "%s: %s takes no \"key\"", where, op_kinds[k].name);
    op->value = json_object_get(obj, "value");
    if (op_kinds[k].value && !op->value)
        return ch_err_set(err, CONFHUB_EINVAL, "%s: \"value\" is missing", where);
    if (!op_kinds[k].value && op->value)
        return ch_err_set(err, CONFHUB_EINVAL, "%s: %s takes no \"value\"", where,
                          op_kinds[k].name);
    return CONFHUB_OK;
}

static enum confhub_status parse_cond(const json_t *obj, const struct ch_limits *limits,
                                      const char *where, struct ch_txn_cond *c, struct ch_err *err)
{
    static const char *const allowed[] = {
        "ns", "section", "key", "mod_revision", "version", "value", "exists", "op", NULL};
    static const char *const targets[] = {"mod_revision", "version", "value", "exists"};
    json_t *op = json_object_get(obj, "op");
    json_t *v = NULL;
    size_t found = 0;
    enum confhub_status rc;

    if (!json_is_object(obj))
        return ch_err_set(err, CONFHUB_EINVAL, "%s: a condition must be an object", where);
    rc = only_members(obj, allowed, where, err);
    if (rc == CONFHUB_OK)
        rc = name_member(obj, "ns", true, "default", limits, where, &c->where.ns, err);
    if (rc == CONFHUB_OK)
        rc = name_member(obj, "section", false, NULL, limits, where, &c->where.section, err);
    if (rc == CONFHUB_OK)
        rc = name_member(obj, "key", false, NULL, limits, where, &c->where.key, err);
    if (rc != CONFHUB_OK)
        return rc;
    if (c->where.key && !c->where.section)
        return ch_err_set(err, CONFHUB_EINVAL, "%s: \"key\" needs a \"section\"", where);
    for (size_t i = 0; i < 4; i++) {
        json_t *t = json_object_get(obj, targets[i]);
        if (t) {
            found++;
            c->target = (enum ch_txn_target)i;
            v = t;
        }
    }
    if (found != 1)
        return ch_err_set(err, CONFHUB_EINVAL,
                          "%s: name exactly one of mod_revision, version, value or exists", where);
    c->cmp = CH_TXN_EQ;
    if (op) {
        const char *s = json_is_string(op) ? json_string_value(op) : "";
        static const char *const cmps[] = {"==", "!=", "<", ">"};
        size_t i;
        for (i = 0; i < 4 && strcmp(s, cmps[i]) != 0; i++)
            ;
        if (i == 4)
            return ch_err_set(err, CONFHUB_EINVAL, "%s: \"op\" must be ==, !=, < or >", where);
        c->cmp = (enum ch_txn_cmp)i;
    }
    switch (c->target) {
    case CH_TXN_MOD_REV:
    case CH_TXN_VERSION:
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return ch_err_set(err, CONFHUB_EINVAL, "%s: %s must be a non-negative integer", where,
                              targets[c->target]);
        if (c->target == CH_TXN_VERSION && !c->where.key)
            return ch_err_set(err, CONFHUB_EINVAL, "%s: version needs a \"key\"", where);
        c->number = json_integer_value(v);
        break;
    case CH_TXN_VALUE:
    case CH_TXN_EXISTS:
        if (c->cmp == CH_TXN_LT || c->cmp == CH_TXN_GT)
            return ch_err_set(err, CONFHUB_EINVAL, "%s: < and > compare numbers only", where);
        if (c->target == CH_TXN_VALUE && !c->where.key)
            return ch_err_set(err, CONFHUB_EINVAL, "%s: value needs a \"key\"", where);
        if (c->target == CH_TXN_EXISTS && !json_is_boolean(v))
            return ch_err_set(err, CONFHUB_EINVAL, "%s: exists must be true or false", where);
        c->value = v;
        c->exists = json_is_true(v);
        break;
    }
    return CONFHUB_OK;
}

/* Whether a and b write some key in common (a section or namespace op covers its keys). */
static bool overlap(const struct ch_op *a, const struct ch_op *b)
{
    if (strcmp(a->ns, b->ns) != 0)
        return false;
    if (!a->section || !b->section)
        return true;
    if (strcmp(a->section, b->section) != 0)
        return false;
    return !a->key || !b->key || strcmp(a->key, b->key) == 0;
}

static enum confhub_status parse_branch(const json_t *body, const char *name,
                                        const struct ch_limits *limits, struct ch_op **out,
                                        size_t *n_out, struct ch_err *err)
{
    json_t *arr = json_object_get(body, name);
    size_t n;
    *out = NULL;
    *n_out = 0;
    if (!arr)
        return CONFHUB_OK;
    if (!json_is_array(arr))
        return ch_err_set(err, CONFHUB_EINVAL, "\"%s\" must be an array of operations", name);
    n = json_array_size(arr);
    *out = ch_calloc(n ? n : 1, sizeof(**out));
    if (!*out)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot parse the transaction: out of memory");
    *n_out = n;
    for (size_t i = 0; i < n; i++) {
        char where[64];
        snprintf(where, sizeof(where), "%s[%zu]", name, i);
        enum confhub_status rc = parse_op(json_array_get(arr, i), limits, where, &(*out)[i], err);
        if (rc != CONFHUB_OK)
            return rc;
        for (size_t j = 0; j < i; j++) {
            if (overlap(&(*out)[j], &(*out)[i])) {
                char a[600], b[600];
                ch_plan_describe(&(*out)[j], a, sizeof(a));
                ch_plan_describe(&(*out)[i], b, sizeof(b));
                return ch_err_set(err, CONFHUB_EINVAL,
                                  "%s[%zu] (%s) and %s[%zu] (%s) write the same key; one "
                                  "operation per key in a branch",
                                  name, j, a, name, i, b);
            }
        }
    }
    return CONFHUB_OK;
}

enum confhub_status ch_txn_parse(json_t *body, const struct ch_limits *limits, struct ch_txn **out,
                                 struct ch_err *err)
{
    static const char *const allowed[] = {"if", "then", "else", NULL};
    struct ch_txn *txn = ch_calloc(1, sizeof(*txn));
    json_t *conds = json_object_get(body, "if");
    enum confhub_status rc;
    size_t total;

    if (!txn) {
        json_decref(body);
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot parse the transaction: out of memory");
    }
    txn->body = body;
    if (!json_is_object(body)) {
        rc = ch_err_set(err, CONFHUB_EINVAL,
                        "a transaction must be an object {\"if\":[...],\"then\":[...],"
                        "\"else\":[...]}");
        goto fail;
    }
    rc = only_members(body, allowed, "transaction", err);
    if (rc != CONFHUB_OK)
        goto fail;
    if (conds && !json_is_array(conds)) {
        rc = ch_err_set(err, CONFHUB_EINVAL, "\"if\" must be an array of conditions");
        goto fail;
    }
    total = json_array_size(conds) + json_array_size(json_object_get(body, "then")) +
            json_array_size(json_object_get(body, "else"));
    if (total > limits->max_txn_ops) {
        rc = ch_err_set(err, CONFHUB_ETOOBIG,
                        "the transaction has %zu conditions and operations, over the limit of "
                        "%zu (max-txn-ops)",
                        total, limits->max_txn_ops);
        goto fail;
    }
    txn->n_conds = json_array_size(conds);
    txn->conds = ch_calloc(txn->n_conds ? txn->n_conds : 1, sizeof(*txn->conds));
    if (!txn->conds) {
        rc = ch_err_set(err, CONFHUB_ENOMEM, "cannot parse the transaction: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < txn->n_conds; i++) {
        char where[64];
        snprintf(where, sizeof(where), "if[%zu]", i);
        rc = parse_cond(json_array_get(conds, i), limits, where, &txn->conds[i], err);
        if (rc != CONFHUB_OK)
            goto fail;
    }
    rc = parse_branch(body, "then", limits, &txn->then_ops, &txn->n_then, err);
    if (rc == CONFHUB_OK)
        rc = parse_branch(body, "else", limits, &txn->else_ops, &txn->n_else, err);
    if (rc != CONFHUB_OK)
        goto fail;
    *out = txn;
    return CONFHUB_OK;
fail:
    ch_txn_free(txn);
    return rc;
}

static bool compare(int64_t have, enum ch_txn_cmp cmp, int64_t want)
{
    switch (cmp) {
    case CH_TXN_EQ:
        return have == want;
    case CH_TXN_NE:
        return have != want;
    case CH_TXN_LT:
        return have < want;
    case CH_TXN_GT:
        return have > want;
    }
    return false;
}

static bool cond_holds(const struct ch_txn_cond *c, const struct ch_state *st)
{
    int64_t mod_rev = 0;
    bool exists = ch_plan_target(st, &c->where, &mod_rev);
    const struct ch_entry *e = NULL;
    struct ch_entry_info info = {0};

    if (exists && c->where.key) {
        const struct ch_ns *ns = ch_state_find_ns(st, c->where.ns, strlen(c->where.ns));
        const struct ch_section *sec =
            ch_ns_find_section(ns, c->where.section, strlen(c->where.section));
        e = ch_section_find_entry(sec, c->where.key, strlen(c->where.key));
        ch_entry_info(e, &info);
    }
    switch (c->target) {
    case CH_TXN_MOD_REV:
        return compare(mod_rev, c->cmp, c->number);
    case CH_TXN_VERSION:
        return compare(info.version, c->cmp, c->number);
    case CH_TXN_EXISTS:
        return (exists == c->exists) == (c->cmp == CH_TXN_EQ);
    case CH_TXN_VALUE: {
        bool equal = false;
        if (e) {
            json_t *cur =
                json_loadb(info.value, info.value_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
            equal = cur && json_equal(cur, (json_t *)c->value);
            json_decref(cur);
        }
        return equal == (c->cmp == CH_TXN_EQ);
    }
    }
    return false;
}

bool ch_txn_holds(const struct ch_txn *txn, const struct ch_state *st)
{
    for (size_t i = 0; i < txn->n_conds; i++) {
        if (!cond_holds(&txn->conds[i], st))
            return false;
    }
    return true;
}
