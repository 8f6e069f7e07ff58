/* SPDX-License-Identifier: MIT */
/*
 * service.c: the writer thread and the write operations (see service.h).
 *
 * Each write is turned into a list of key changes first (struct change: set a key to a value,
 * or delete it), checked against the state as the batch has changed it so far. Only a write
 * whose whole list is valid touches the model, so a rejected write leaves no trace, and a
 * write whose list is empty is a no-op without a revision. Allocation failure while applying
 * fails the whole batch (the model batch is aborted), the same as a failed commit.
 */
#include "service.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "history.h"

#define MAX_BATCH        4096 /* writes taken from the queue per group commit */
#define RECLAIM_WAIT_MS  20   /* how often the idle writer retries freeing replaced nodes */
#define COMPACT_CHUNK    2000 /* history events deleted per compaction transaction */
#define COMPACT_CHECK_MS 1000 /* how often the horizon is recomputed */
#define COMPACT_PACE_MS  10   /* under write load, one chunk per this many ms at most */

struct ch_service {
    struct ch_store *store;         /* writer thread only, after start */
    struct ch_model *model;         /* writer changes it; readers read it */
    const struct ch_limits *limits; /* read-only */
    int64_t loaded_rev;
    int64_t last_ts_ms; /* newest revision's time: revision times never go backwards */

    /* Retention (writer thread only, after start). */
    int64_t retention_ms, keep_revisions;
    int64_t compact_checked_ms; /* monotonic ms of the last horizon check */
    int64_t compact_chunk_ms;   /* monotonic ms of the last chunk */
    bool compact_backlog;       /* the last chunk was full: more to delete */

    pthread_t thread;
    bool started;
    pthread_mutex_t lock; /* guards the queue fields and stopping */
    pthread_cond_t wake;
    struct ch_write *head, *tail;
    bool stopping;
    ch_service_commit_fn *on_commit; /* the change feed, or NULL; set before start */
    void *on_commit_data;
};

/* Everything one group commit collects for the store; freed after it. */
struct batch {
    int64_t next_rev; /* the revision the next changing write gets */
    struct ch_store_revision *revs;
    size_t n_revs, cap_revs;
    struct ch_store_event *events;
    size_t n_events, cap_events;
    size_t *rev_first_event; /* index in events of each revision's first event */
    size_t cap_first;
    char **owned; /* old values the events point to */
    size_t n_owned, cap_owned;
    struct ch_plan *plans; /* the applied plans: the events point into them */
    size_t n_plans, cap_plans;
};

/* ---------------------------------------------------------------- planning a write */

static enum confhub_status check_conditions(const struct ch_write *w, const struct ch_op *op,
                                            bool exists, int64_t mod_rev, struct ch_err *err)
{
    char what[900];
    if (!w->if_none_match && w->if_match < 0)
        return CONFHUB_OK;
    ch_plan_describe(op, what, sizeof(what));
    if (w->if_none_match && exists) {
        err->mod_rev = mod_rev;
        return ch_err_set(err, CONFHUB_ECONFLICT,
                          "%s already exists (mod_revision %lld); If-None-Match: * allows "
                          "creating only",
                          what, (long long)mod_rev);
    }
    if (w->if_match >= 0 && (!exists || mod_rev != w->if_match)) {
        err->mod_rev = exists ? mod_rev : 0;
        if (!exists)
            return ch_err_set(err, CONFHUB_ECONFLICT,
                              "%s does not exist; If-Match expected mod_revision %lld", what,
                              (long long)w->if_match);
        return ch_err_set(err, CONFHUB_ECONFLICT,
                          "%s has mod_revision %lld; If-Match expected %lld", what,
                          (long long)mod_rev, (long long)w->if_match);
    }
    return CONFHUB_OK;
}

/* The operations a write runs: its one operation, or the transaction branch its conditions
 * pick. OUT: *ops points to them (*one when it is a single operation). */
static size_t write_ops(struct ch_write *w, const struct ch_state *st, struct ch_op *one,
                        const struct ch_op **ops)
{
    if (w->op == CH_WRITE_TXN) {
        w->succeeded = ch_txn_holds(w->txn, st);
        *ops = w->succeeded ? w->txn->then_ops : w->txn->else_ops;
        return w->succeeded ? w->txn->n_then : w->txn->n_else;
    }
    *one = (struct ch_op){(enum ch_op_kind)w->op, w->ns, w->section, w->key, w->value};
    *ops = one;
    return 1;
}

/* Plans every operation of w into plan; ends[i] is plan->n after operation i. */
static enum confhub_status plan_write(const struct ch_limits *limits, const struct ch_state *st,
                                      struct ch_write *w, const struct ch_op *ops, size_t n_ops,
                                      struct ch_plan *plan, size_t *ends)
{
    for (size_t i = 0; i < n_ops; i++) {
        enum confhub_status rc;
        if (w->op != CH_WRITE_TXN) {
            int64_t mod_rev = 0;
            bool exists = ch_plan_target(st, &ops[i], &mod_rev);
            w->created = !exists;
            rc = check_conditions(w, &ops[i], exists, mod_rev, &w->err);
            if (rc != CONFHUB_OK)
                return rc;
        }
        rc = ch_plan_op(limits, st, &ops[i], plan, &w->err);
        if (rc != CONFHUB_OK)
            return rc;
        ends[i] = plan->n;
    }
    return CONFHUB_OK;
}

/* ---------------------------------------------------------------- applying a batch */

/* The section in the model's batch state, or NULL. */
static const struct ch_section *section_of(const struct ch_model *model, const char *ns,
                                           const char *section)
{
    const struct ch_ns *n = ch_state_find_ns(ch_model_batch_state(model), ns, strlen(ns));
    return n ? ch_ns_find_section(n, section, strlen(section)) : NULL;
}

static char *own(struct batch *b, const char *s)
{
    char *copy = ch_strdup(s);
    if (!copy ||
        !ch_array_grow((void **)&b->owned, &b->cap_owned, b->n_owned + 1, sizeof(*b->owned))) {
        ch_free(copy);
        return NULL;
    }
    b->owned[b->n_owned++] = copy;
    return copy;
}

/* Applies a plan to the model batch as revision rev and records its events. The events point
 * into the plan, which the batch keeps until the commit; only old values are copied, since
 * the entry that holds one may be freed by a later change in the same batch. */
static enum confhub_status apply_plan(struct ch_service *svc, struct batch *b,
                                      const struct ch_plan *plan, int64_t rev)
{
    if (!ch_array_grow((void **)&b->events, &b->cap_events, b->n_events + plan->n,
                       sizeof(*b->events)))
        return CONFHUB_ENOMEM;
    for (size_t i = 0; i < plan->n; i++) {
        const struct ch_change *c = &plan->items[i];
        const struct ch_section *sec = section_of(svc->model, c->ns, c->section);
        const struct ch_entry *old =
            sec ? ch_section_find_entry(sec, c->key, strlen(c->key)) : NULL;
        struct ch_store_event ev = {.ns = c->ns, .section = c->section, .key = c->key};
        enum confhub_status rc;

        if (old) {
            struct ch_entry_info before;
            ch_entry_info(old, &before);
            ev.old_value = own(b, before.value);
            if (!ev.old_value)
                return CONFHUB_ENOMEM;
        }
        if (c->value) {
            struct ch_entry_info after;
            ev.op = CH_STORE_SET;
            ev.new_value = c->value;
            rc = ch_model_batch_set(svc->model, c->ns, c->section, c->key, c->value, c->value_len,
                                    rev, &after);
            if (rc != CONFHUB_OK)
                return rc;
            ev.create_rev = after.create_rev;
            ev.mod_rev = after.mod_rev;
            ev.version = after.version;
        } else {
            ev.op = CH_STORE_DELETE;
            rc = ch_model_batch_delete(svc->model, c->ns, c->section, c->key, rev);
            if (rc != CONFHUB_OK)
                return rc;
        }
        b->events[b->n_events++] = ev;
    }
    return CONFHUB_OK;
}

/* Keeps a plan until the batch is committed (its events point into it); empties *plan. */
static enum confhub_status keep_plan(struct batch *b, struct ch_plan *plan)
{
    if (!ch_array_grow((void **)&b->plans, &b->cap_plans, b->n_plans + 1, sizeof(*b->plans)))
        return CONFHUB_ENOMEM;
    b->plans[b->n_plans++] = *plan;
    memset(plan, 0, sizeof(*plan));
    return CONFHUB_OK;
}

static enum confhub_status record_revision(struct ch_service *svc, struct batch *b,
                                           const struct ch_write *w, int64_t rev,
                                           size_t first_event)
{
    /* Monotonic, so a time range of history is a revision range (and the clock may step). */
    int64_t now = ch_time_now_ms();
    if (now < svc->last_ts_ms)
        now = svc->last_ts_ms;
    svc->last_ts_ms = now;
    if (!ch_array_grow((void **)&b->revs, &b->cap_revs, b->n_revs + 1, sizeof(*b->revs)) ||
        !ch_array_grow((void **)&b->rev_first_event, &b->cap_first, b->n_revs + 1, sizeof(size_t)))
        return CONFHUB_ENOMEM;
    b->revs[b->n_revs] = (struct ch_store_revision){
        .revision = rev,
        .ts_ms = now,
        .actor = w->actor[0] ? w->actor : "anonymous",
        .remote = w->remote,
        .n_events = b->n_events - first_event,
    };
    b->rev_first_event[b->n_revs] = first_event;
    b->n_revs++;
    return CONFHUB_OK;
}

/* The target's mod_revision (and a key's version) in the batch state; 0 when absent. */
static int64_t target_after(const struct ch_model *model, const struct ch_op *op, int64_t *version)
{
    const struct ch_state *st = ch_model_batch_state(model);
    int64_t mod_rev = 0;
    *version = 0;
    if (!ch_plan_target(st, op, &mod_rev) || !op->key)
        return mod_rev;
    struct ch_entry_info info;
    ch_entry_info(
        ch_section_find_entry(section_of(model, op->ns, op->section), op->key, strlen(op->key)),
        &info);
    *version = info.version;
    return mod_rev;
}

/* A transaction's "results": one object per operation of the branch that ran. */
static json_t *txn_results(const struct ch_model *model, const struct ch_op *ops, size_t n,
                           const size_t *ends)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        int64_t version = 0, mod_rev = target_after(model, &ops[i], &version);
        json_t *r = json_pack("{s:s,s:s,s:b,s:I}", "op", ch_txn_op_name(ops[i].kind), "ns",
                              ops[i].ns, "changed", ends[i] > (i ? ends[i - 1] : 0), "mod_revision",
                              (json_int_t)mod_rev);
        if (r && ops[i].section)
            json_object_set_new(r, "section", json_string(ops[i].section));
        if (r && ops[i].key) {
            json_object_set_new(r, "key", json_string(ops[i].key));
            json_object_set_new(r, "version", json_integer(version));
        }
        if (!r || json_array_append_new(arr, r) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

/* Turns a rollback into the write that restores its scope: a put of the scope's value at
 * w->to_revision, or a delete when the scope did not exist then. The value comes from the
 * store, which holds every revision a client can know of (answers go out after the commit).
 * Returns false when there is nothing to run: w->status says why, or the scope is absent both
 * then and now (a no-op). */
static bool resolve_rollback(struct ch_service *svc, struct ch_write *w)
{
    struct ch_store_scope scope = {w->ns, w->section, w->key};
    json_t *v = NULL;
    int64_t mod_rev;

    w->status = ch_history_value_at(svc->store, &scope, w->to_revision, &v, NULL, &w->err);
    if (w->status != CONFHUB_OK)
        return false;
    if (v)
        w->op = w->key ? CH_WRITE_PUT_KEY : w->section ? CH_WRITE_PUT_SECTION : CH_WRITE_PUT_NS;
    else
        w->op = w->key       ? CH_WRITE_DELETE_KEY
                : w->section ? CH_WRITE_DELETE_SECTION
                             : CH_WRITE_DELETE_NS;
    w->value = v;
    struct ch_op op = {(enum ch_op_kind)w->op, w->ns, w->section, w->key, NULL};
    if (v || ch_plan_target(ch_model_batch_state(svc->model), &op, &mod_rev))
        return true;
    w->revision = ch_state_revision(ch_model_batch_state(svc->model));
    if (w->dry_run) {
        w->result = json_pack("{s:[],s:[],s:[]}", "added", "changed", "removed");
        if (!w->result)
            w->status = ch_err_set(&w->err, CONFHUB_ENOMEM, "rollback: out of memory");
    }
    return false;
}

/* Plans and applies one write inside the batch. Returns CONFHUB_ENOMEM only when the whole
 * batch must be abandoned; a refused write gets its status in w->status. */
static enum confhub_status run_write(struct ch_service *svc, struct batch *b, struct ch_write *w)
{
    const struct ch_state *st = ch_model_batch_state(svc->model);
    struct ch_plan plan = {0};
    struct ch_op one;
    const struct ch_op *ops;
    size_t n_ops;
    size_t *ends;
    enum confhub_status rc = CONFHUB_ENOMEM;

    if (w->op == CH_WRITE_ROLLBACK && !resolve_rollback(svc, w))
        return CONFHUB_OK; /* nothing touched the model: only this write fails */
    n_ops = write_ops(w, st, &one, &ops);
    ends = ch_calloc(n_ops ? n_ops : 1, sizeof(*ends));

    if (!ends)
        goto done;
    w->status = plan_write(svc->limits, st, w, ops, n_ops, &plan, ends);
    if (w->status != CONFHUB_OK) {
        rc = w->status == CONFHUB_ENOMEM ? CONFHUB_ENOMEM : CONFHUB_OK;
        goto done;
    }
    if (w->dry_run) {
        w->result = ch_plan_diff(st, &plan, &w->n_added, &w->n_changed, &w->n_removed);
        if (!w->result)
            goto done;
    } else if (w->want_diff) {
        ch_plan_count(st, &plan, &w->n_added, &w->n_changed, &w->n_removed);
    }
    w->changed = plan.n > 0;
    w->revision = ch_state_revision(st);
    if (w->changed && !w->dry_run) {
        int64_t rev = b->next_rev++;
        size_t first = b->n_events;
        rc = apply_plan(svc, b, &plan, rev);
        if (rc == CONFHUB_OK)
            rc = record_revision(svc, b, w, rev, first);
        if (rc == CONFHUB_OK)
            rc = keep_plan(b, &plan);
        if (rc != CONFHUB_OK)
            goto done;
        /* Cannot fail: apply_plan made the batch root writable. */
        (void)ch_model_batch_set_revision(svc->model, rev);
        w->revision = rev;
    }
    if (!w->changed || w->dry_run || w->to_revision >= 0)
        w->created = false; /* a rollback restores; it never answers "created" */
    if (w->op != CH_WRITE_TXN) {
        w->mod_rev = target_after(svc->model, &one, &w->version);
    } else if (!w->dry_run) {
        w->result = txn_results(svc->model, ops, n_ops, ends);
        if (!w->result)
            goto done;
    }
    rc = CONFHUB_OK;
done:
    ch_plan_free(&plan);
    ch_free(ends);
    return rc;
}

static void free_batch(struct batch *b)
{
    for (size_t i = 0; i < b->n_owned; i++)
        ch_free(b->owned[i]);
    ch_free(b->owned);
    for (size_t i = 0; i < b->n_plans; i++)
        ch_plan_free(&b->plans[i]);
    ch_free(b->plans);
    ch_free(b->revs);
    ch_free(b->events);
    ch_free(b->rev_first_event);
    memset(b, 0, sizeof(*b));
}

static void fail_all(struct ch_write *list, enum confhub_status code, const char *msg)
{
    for (struct ch_write *w = list; w; w = w->next) {
        w->changed = false;
        w->created = false;
        json_decref(w->result);
        w->result = NULL;
        ch_err_clear(&w->err);
        w->status = ch_err_set(&w->err, code, "%s", msg);
    }
}

/* Runs one group commit over the list of writes (linked through next). */
static void process_batch(struct ch_service *svc, struct ch_write *list)
{
    struct batch b = {0};
    struct ch_err err;
    enum confhub_status rc = CONFHUB_OK;

    int64_t t0 = ch_time_mono_us(), t1, t2;
    size_t n_writes = 0;

    ch_err_clear(&err);
    ch_model_batch_begin(svc->model);
    b.next_rev = ch_state_revision(ch_model_batch_state(svc->model)) + 1;
    for (struct ch_write *w = list; w && rc == CONFHUB_OK; w = w->next, n_writes++)
        rc = run_write(svc, &b, w);
    t1 = ch_time_mono_us();
    if (rc != CONFHUB_OK) {
        ch_err_set(&err, CONFHUB_EUNAVAIL, "write failed: out of memory; nothing was changed");
    } else if (b.n_revs > 0) {
        for (size_t i = 0; i < b.n_revs; i++)
            b.revs[i].events = b.events + b.rev_first_event[i];
        rc = ch_store_commit(svc->store, b.revs, b.n_revs, &err);
        if (rc != CONFHUB_OK) {
            ch_log(CH_LOG_ERROR, "service", "commit of %zu revisions failed: %s", b.n_revs,
                   err.msg);
            char msg[600];
            snprintf(msg, sizeof(msg), "write not committed: %s", err.msg);
            ch_err_set(&err, CONFHUB_EUNAVAIL, "%s", msg);
        }
    }
    t2 = ch_time_mono_us();
    if (rc == CONFHUB_OK) {
        ch_model_batch_commit(svc->model);
        if (svc->on_commit && b.n_revs > 0)
            svc->on_commit(svc->on_commit_data, b.revs, b.n_revs);
    } else {
        ch_model_batch_abort(svc->model);
        fail_all(list, CONFHUB_EUNAVAIL, err.msg);
    }
    ch_log(CH_LOG_DEBUG, "service",
           "batch of %zu writes, %zu revisions, %zu events: apply %lld us, commit %lld us, "
           "publish %lld us",
           n_writes, b.n_revs, b.n_events, (long long)(t1 - t0), (long long)(t2 - t1),
           (long long)(ch_time_mono_us() - t2));
    free_batch(&b);
    while (list) {
        struct ch_write *next = list->next;
        list->next = NULL;
        list->done(list); /* may free list */
        list = next;
    }
}

/* ---------------------------------------------------------------- compaction */

static enum confhub_status keep_newest(void *userdata, const struct ch_history_event *ev,
                                       struct ch_err *err)
{
    (void)err;
    ((struct ch_history_event *)userdata)->revision = ev->revision;
    return CONFHUB_OK;
}

/* The horizon the retention asks for now: the newest revision whose events may go. */
static int64_t retention_horizon(struct ch_service *svc)
{
    int64_t current = ch_model_revision(svc->model), horizon = 0;
    if (svc->keep_revisions > 0 && current > svc->keep_revisions)
        horizon = current - svc->keep_revisions;
    if (svc->retention_ms > 0) {
        /* The newest event older than the retention: its revision and all before it go. */
        struct ch_history_filter f = {
            .until_ms = ch_time_now_ms() - svc->retention_ms, .op = -1, .desc = true, .limit = 1};
        struct ch_history_event newest = {0};
        struct ch_err err;
        ch_err_clear(&err);
        if (f.until_ms > 0 &&
            ch_store_history(svc->store, &f, keep_newest, &newest, NULL, &err) == CONFHUB_OK &&
            newest.revision > horizon)
            horizon = newest.revision;
    }
    return horizon;
}

/* Runs at most one compaction chunk when one is due: every COMPACT_CHECK_MS, or every
 * COMPACT_PACE_MS while a backlog remains (right away when idle). */
static void maybe_compact(struct ch_service *svc, bool idle)
{
    int64_t now = ch_time_mono_us() / 1000, horizon;
    size_t deleted = 0;
    struct ch_err err;

    if (svc->retention_ms <= 0 && svc->keep_revisions <= 0)
        return;
    if (!(svc->compact_backlog && (idle || now - svc->compact_chunk_ms >= COMPACT_PACE_MS)) &&
        now - svc->compact_checked_ms < COMPACT_CHECK_MS)
        return;
    svc->compact_checked_ms = svc->compact_chunk_ms = now;
    horizon = retention_horizon(svc);
    ch_err_clear(&err);
    if (horizon <= 0)
        return;
    if (ch_store_compact(svc->store, horizon, COMPACT_CHUNK, &deleted, &err) != CONFHUB_OK) {
        ch_log(CH_LOG_WARN, "service", "history compaction failed (will retry): %s", err.msg);
        svc->compact_backlog = false;
        return;
    }
    svc->compact_backlog = deleted == COMPACT_CHUNK;
    if (deleted)
        ch_log(CH_LOG_DEBUG, "service", "compacted %zu history rows up to revision %lld", deleted,
               (long long)horizon);
}

/* ---------------------------------------------------------------- the writer thread */

/* How long the idle writer sleeps: -1 for "until woken". */
static int idle_wait_ms(struct ch_service *svc)
{
    if (svc->compact_backlog)
        return 0;
    if (ch_model_reclaim_pending(svc->model))
        return RECLAIM_WAIT_MS;
    return svc->retention_ms > 0 || svc->keep_revisions > 0 ? COMPACT_CHECK_MS : -1;
}

static void timed_wait(struct ch_service *svc, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&svc->wake, &svc->lock, &until);
}

static void *writer_main(void *arg)
{
    struct ch_service *svc = arg;
    for (;;) {
        struct ch_write *list = NULL, **tail = &list;
        size_t n = 0;

        pthread_mutex_lock(&svc->lock);
        while (!svc->head && !svc->stopping) {
            int ms = idle_wait_ms(svc);
            if (ms < 0)
                pthread_cond_wait(&svc->wake, &svc->lock);
            else if (ms > 0)
                timed_wait(svc, ms);
            if (!svc->head && !svc->stopping) {
                pthread_mutex_unlock(&svc->lock);
                ch_model_reclaim(svc->model);
                maybe_compact(svc, true);
                pthread_mutex_lock(&svc->lock);
            }
        }
        if (!svc->head && svc->stopping) {
            pthread_mutex_unlock(&svc->lock);
            break;
        }
        while (svc->head && n < MAX_BATCH) {
            *tail = svc->head;
            svc->head = svc->head->next;
            tail = &(*tail)->next;
            n++;
        }
        *tail = NULL;
        if (!svc->head)
            svc->tail = NULL;
        pthread_mutex_unlock(&svc->lock);
        process_batch(svc, list);
        maybe_compact(svc, false);
    }
    ch_model_reclaim(svc->model);
    return NULL;
}

/* ---------------------------------------------------------------- life cycle */

static enum confhub_status load_entry(void *userdata, const struct ch_store_entry *e,
                                      struct ch_err *err)
{
    struct ch_model *model = userdata;
    if (ch_model_batch_load(model, e->ns, e->section, e->key, e->value, e->value_len, e->create_rev,
                            e->mod_rev, e->version) != CONFHUB_OK)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot load '%s/%s/%s': out of memory", e->ns,
                          e->section, e->key);
    return CONFHUB_OK;
}

enum confhub_status ch_service_new(struct ch_store *store, struct ch_model *model,
                                   const struct ch_limits *limits, struct ch_service **out,
                                   struct ch_err *err)
{
    struct ch_service *svc = ch_calloc(1, sizeof(*svc));
    int64_t rev = 0;
    enum confhub_status rc;

    if (!svc)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot create service: out of memory");
    svc->store = store;
    svc->model = model;
    svc->limits = limits;
    ch_model_batch_begin(model);
    rc = ch_store_load(store, load_entry, model, &rev, err);
    /* A store whose keys were all deleted loads nothing, so this may be the batch's first
     * change: the root copy can fail, and the model must not start behind the store. */
    if (rc == CONFHUB_OK && ch_model_batch_set_revision(model, rev) != CONFHUB_OK)
        rc = ch_err_set(err, CONFHUB_ENOMEM, "cannot load the store: out of memory");
    if (rc != CONFHUB_OK) {
        ch_model_batch_abort(model);
        ch_free(svc);
        return rc;
    }
    ch_model_batch_commit(model);
    svc->loaded_rev = rev;
    struct ch_store_info info;
    if (ch_store_info(store, &info, err) != CONFHUB_OK) {
        ch_free(svc);
        return err->code;
    }
    svc->last_ts_ms = info.last_ts_ms;
    pthread_mutex_init(&svc->lock, NULL);
    pthread_cond_init(&svc->wake, NULL);
    *out = svc;
    return CONFHUB_OK;
}

void ch_service_on_commit(struct ch_service *svc, ch_service_commit_fn *fn, void *userdata)
{
    svc->on_commit = fn;
    svc->on_commit_data = userdata;
}

void ch_service_set_retention(struct ch_service *svc, int64_t retention_ms, int64_t keep_revisions)
{
    svc->retention_ms = retention_ms;
    svc->keep_revisions = keep_revisions;
}

enum confhub_status ch_service_start(struct ch_service *svc, struct ch_err *err)
{
    int rc = pthread_create(&svc->thread, NULL, writer_main, svc);
    if (rc != 0)
        return ch_err_set(err, CONFHUB_EIO, "cannot start the writer thread: %s", strerror(rc));
    svc->started = true;
    return CONFHUB_OK;
}

enum confhub_status ch_service_submit(struct ch_service *svc, struct ch_write *w)
{
    w->next = NULL;
    pthread_mutex_lock(&svc->lock);
    if (svc->stopping || !svc->started) {
        pthread_mutex_unlock(&svc->lock);
        return CONFHUB_EUNAVAIL;
    }
    if (svc->tail)
        svc->tail->next = w;
    else
        svc->head = w;
    svc->tail = w;
    pthread_cond_signal(&svc->wake);
    pthread_mutex_unlock(&svc->lock);
    return CONFHUB_OK;
}

struct sync_wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
};

static void sync_done(struct ch_write *w)
{
    struct sync_wait *s = w->userdata;
    pthread_mutex_lock(&s->lock);
    s->done = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

enum confhub_status ch_service_write_sync(struct ch_service *svc, struct ch_write *w)
{
    struct sync_wait s = {.done = false};
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.cond, NULL);
    w->done = sync_done;
    w->userdata = &s;
    enum confhub_status rc = ch_service_submit(svc, w);
    if (rc == CONFHUB_OK) {
        pthread_mutex_lock(&s.lock);
        while (!s.done)
            pthread_cond_wait(&s.cond, &s.lock);
        pthread_mutex_unlock(&s.lock);
        rc = w->status;
    } else {
        w->status = ch_err_set(&w->err, rc, "the service is not accepting writes");
    }
    pthread_cond_destroy(&s.cond);
    pthread_mutex_destroy(&s.lock);
    return rc;
}

void ch_service_stop(struct ch_service *svc)
{
    if (!svc || !svc->started)
        return;
    pthread_mutex_lock(&svc->lock);
    svc->stopping = true;
    pthread_cond_signal(&svc->wake);
    pthread_mutex_unlock(&svc->lock);
    pthread_join(svc->thread, NULL);
    svc->started = false;
}

void ch_service_free(struct ch_service *svc)
{
    if (!svc)
        return;
    ch_service_stop(svc);
    pthread_cond_destroy(&svc->wake);
    pthread_mutex_destroy(&svc->lock);
    ch_free(svc);
}

int64_t ch_service_loaded_revision(const struct ch_service *svc)
{
    return svc->loaded_rev;
}

struct ch_write *ch_write_new(enum ch_write_op op)
{
    struct ch_write *w = ch_calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->op = op;
    w->if_match = -1;
    w->to_revision = -1;
    ch_err_clear(&w->err);
    return w;
}

void ch_write_free(struct ch_write *w)
{
    if (!w)
        return;
    ch_free(w->ns);
    ch_free(w->section);
    ch_free(w->key);
    json_decref(w->value);
    json_decref(w->result);
    ch_txn_free(w->txn);
    ch_free(w);
}
