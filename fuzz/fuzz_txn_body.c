/* SPDX-License-Identifier: MIT */
/* fuzz_txn_body.c: transaction bodies: parsing, checking and evaluating against a small state
 * never crash or leak, and a parsed transaction plans without touching freed memory. */
#include <string.h>

#include "common/json_util.h"
#include "fuzz/fuzz.h"
#include "limits_table.h"
#include "model.h"
#include "plan.h"
#include "txn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ch_limits limits;
    struct ch_model *model = NULL;
    struct ch_txn *txn = NULL;
    struct ch_err err;
    json_t *body = NULL;

    ch_limits_init(&limits);
    limits.max_txn_ops = 64;
    ch_err_clear(&err);
    if (ch_json_parse("fuzz", (const char *)data, size, 32, &body, &err) != CONFHUB_OK)
        return 0;
    if (ch_txn_parse(body, &limits, &txn, &err) != CONFHUB_OK)
        return 0;
    if (ch_model_new(1, &model, &err) == CONFHUB_OK) {
        ch_model_batch_begin(model);
        ch_model_batch_set(model, "default", "app", "port", "8080", 4, 1, NULL);
        ch_model_batch_set(model, "default", "list", "@", "[1,2]", 5, 1, NULL);
        ch_model_batch_commit(model);
        const struct ch_state *st = ch_model_published(model);
        bool holds = ch_txn_holds(txn, st);
        const struct ch_op *ops = holds ? txn->then_ops : txn->else_ops;
        size_t n = holds ? txn->n_then : txn->n_else;
        struct ch_plan plan = {0};
        for (size_t i = 0; i < n; i++) {
            ch_err_clear(&err);
            if (ch_plan_op(&limits, st, &ops[i], &plan, &err) != CONFHUB_OK)
                break;
        }
        ch_plan_free(&plan);
        ch_model_free(model);
    }
    ch_txn_free(txn);
    return 0;
}
