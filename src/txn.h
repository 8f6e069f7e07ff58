/* SPDX-License-Identifier: MIT */
/*
 * txn.h: atomic transactions in the style of etcd's Txn, parsed and checked.
 *
 *   {"if":   [COND, ...],      every condition must hold for "then" to run
 *    "then": [OP, ...],        applied in one revision when the conditions hold
 *    "else": [OP, ...]}        applied in one revision when they do not
 *
 *   COND  {"ns": "default", "section": S, "key": K,              ns defaults to "default"
 *          "mod_revision"|"version": N | "value": V | "exists": B,
 *          "op": "==" | "!=" | "<" | ">"}                        op defaults to "=="
 *   OP    {"op": "put", "ns", "section", "key", "value"}
 *         {"op": "delete", "ns", "section", "key"}
 *         {"op": "put_section", "ns", "section", "value"}
 *         {"op": "delete_section", "ns", "section"}
 *         {"op": "put_namespace", "ns", "value"}
 *         {"op": "delete_namespace", "ns"}
 *
 * A condition without "key" targets a section (or, without "section", a namespace): its
 * mod_revision or existence. "<" and ">" apply to the numbers only. A missing target has
 * mod_revision and version 0, and no value. Two operations of one branch that touch the same
 * key (a section or namespace operation touches all keys below it) are refused, naming both.
 */
#ifndef CH_TXN_H
#define CH_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"
#include "limits_table.h"
#include "model.h"
#include "plan.h"

enum ch_txn_target { CH_TXN_MOD_REV, CH_TXN_VERSION, CH_TXN_VALUE, CH_TXN_EXISTS };

enum ch_txn_cmp { CH_TXN_EQ, CH_TXN_NE, CH_TXN_LT, CH_TXN_GT };

struct ch_txn_cond {
    struct ch_op where; /* kind unused; ns, section, key name the target */
    enum ch_txn_target target;
    enum ch_txn_cmp cmp;
    int64_t number;      /* CH_TXN_MOD_REV, CH_TXN_VERSION */
    const json_t *value; /* CH_TXN_VALUE */
    bool exists;         /* CH_TXN_EXISTS */
};

/* A parsed transaction. Every string and value points into `body`, which it owns. */
struct ch_txn {
    json_t *body;
    struct ch_txn_cond *conds;
    size_t n_conds;
    struct ch_op *then_ops;
    size_t n_then;
    struct ch_op *else_ops;
    size_t n_else;
};

/* Parses and checks a transaction body (takes one reference to body, also on failure).
 * Names are checked against the limits; more than max_txn_ops conditions and operations in
 * all is CONFHUB_ETOOBIG. OUT: *out on success; free with ch_txn_free(). */
enum confhub_status ch_txn_parse(json_t *body, const struct ch_limits *limits, struct ch_txn **out,
                                 struct ch_err *err);

/* Whether every condition holds in st. */
bool ch_txn_holds(const struct ch_txn *txn, const struct ch_state *st);

/* "put", "delete", "put_section", ... for a transaction operation's kind. */
const char *ch_txn_op_name(enum ch_op_kind kind);

void ch_txn_free(struct ch_txn *txn);

#endif
