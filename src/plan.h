/* SPDX-License-Identifier: MIT */
/*
 * plan.h: turning a write operation into the list of key changes it makes.
 *
 * Every write (a PUT of a key, a section replaced, a namespace imported, a merge patch, each
 * operation of a transaction) is first planned against a state: the result is the exact list
 * of keys it sets (with their new compact JSON) and deletes. Keys whose value would not change
 * are left out, so an empty plan is a no-op. Planning reads the state and changes nothing;
 * the service applies a plan only when every part of the write planned without an error, so a
 * refused write leaves no trace.
 *
 * Runs on the writer thread (the state is the model's batch state) and in tests.
 */
#ifndef CH_PLAN_H
#define CH_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"
#include "limits_table.h"
#include "model.h"

enum ch_op_kind {
    CH_OP_PUT_KEY,        /* set one key */
    CH_OP_DELETE_KEY,     /* delete one key */
    CH_OP_PUT_SECTION,    /* replace a section (object: one key per member; else "@") */
    CH_OP_DELETE_SECTION, /* delete every key of a section */
    CH_OP_PUT_NS,         /* replace a namespace with a document */
    CH_OP_DELETE_NS,      /* delete every key of a namespace */
    CH_OP_MERGE_NS,       /* write every key of a document, keep the others (import merge) */
    CH_OP_PATCH_NS,       /* RFC 7396 merge patch of the namespace document */
    CH_OP_PATCH_SECTION   /* RFC 7396 merge patch of the section value */
};

/* One operation. Names must be valid (checked at the edge); strings and value are borrowed. */
struct ch_op {
    enum ch_op_kind kind;
    const char *ns;
    const char *section; /* NULL for namespace operations */
    const char *key;     /* NULL unless CH_OP_PUT_KEY / CH_OP_DELETE_KEY */
    const json_t *value; /* the value, section value, document or patch; NULL for deletes */
};

/* One key change; every string is owned by the plan. */
struct ch_change {
    char *ns;
    char *section;
    char *key;
    char *value; /* compact JSON; NULL to delete the key */
    size_t value_len;
};

struct ch_plan {
    struct ch_change *items;
    size_t n, cap;
};

/* Appends the changes op makes to st to plan (which may already hold changes of earlier
 * operations of the same write; they must not overlap op). Missing targets of deletes are
 * CONFHUB_ENOTFOUND. On error plan may hold a part of op's changes: the caller throws the plan
 * away. */
enum confhub_status ch_plan_op(const struct ch_limits *limits, const struct ch_state *st,
                               const struct ch_op *op, struct ch_plan *plan, struct ch_err *err);

/* Whether op's target (key, section or namespace) exists in st, and its mod_revision. */
bool ch_plan_target(const struct ch_state *st, const struct ch_op *op, int64_t *mod_rev_out);

/* A human name for op's target: "key 'ns/section/key'", "section 'ns/section'", ... */
void ch_plan_describe(const struct ch_op *op, char *out, size_t out_len);

/* {"added":[{ns,section,key,value}],"changed":[{...,old,new}],"removed":[{...,value}]}
 * describing what plan would do to st. NULL when out of memory. Counts go to the OUT
 * parameters (any may be NULL). */
json_t *ch_plan_diff(const struct ch_state *st, const struct ch_plan *plan, size_t *added,
                     size_t *changed, size_t *removed);

/* Counts what plan would add, change and remove in st (ch_plan_diff without the JSON). */
void ch_plan_count(const struct ch_state *st, const struct ch_plan *plan, size_t *added,
                   size_t *changed, size_t *removed);

/* The current JSON value of a namespace document or a section in st (a new reference), or
 * NULL when it does not exist or memory ran out (*oom tells which). */
json_t *ch_plan_current_json(const struct ch_state *st, const char *ns, const char *section,
                             bool *oom);

void ch_plan_free(struct ch_plan *plan);

#endif
