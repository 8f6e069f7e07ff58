/* SPDX-License-Identifier: MIT */
/*
 * service.h: validate -> apply -> commit -> publish. No HTTP types here.
 *
 * The service owns the writer thread, the only thread that touches the store and changes the
 * model. Callers (the HTTP loops, the seed loader) fill a struct ch_write and submit it; the
 * writer takes every write that is waiting as one batch (group commit):
 *
 *   for each write, in arrival order: check its conditions and apply it to the model's batch,
 *       giving it the next revision when it changes something (a write that changes nothing
 *       gets "changed": false and no revision);
 *   commit all the batch's revisions to the store in one durable transaction;
 *   publish the batch to readers (one pointer swap);
 *   call each write's done callback.
 *
 * Between batches the writer also compacts history when a retention is set (a short store
 * transaction at a time, so writes never wait long behind it).
 *
 * So each write has its own revision, and none is acknowledged before it is durable and
 * visible. When the commit fails, the model batch is thrown away and every write in the batch
 * fails with CONFHUB_EUNAVAIL (503) and the store's message; reads go on.
 */
#ifndef CH_SERVICE_H
#define CH_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"
#include "limits_table.h"
#include "model.h"
#include "plan.h"
#include "store.h"
#include "txn.h"

/* What a write does: one operation (plan.h), or a transaction. */
enum ch_write_op {
    CH_WRITE_PUT_KEY = CH_OP_PUT_KEY,
    CH_WRITE_DELETE_KEY = CH_OP_DELETE_KEY,
    CH_WRITE_PUT_SECTION = CH_OP_PUT_SECTION,
    CH_WRITE_DELETE_SECTION = CH_OP_DELETE_SECTION,
    CH_WRITE_PUT_NS = CH_OP_PUT_NS,
    CH_WRITE_DELETE_NS = CH_OP_DELETE_NS,
    CH_WRITE_MERGE_NS = CH_OP_MERGE_NS,           /* import with mode=merge */
    CH_WRITE_PATCH_NS = CH_OP_PATCH_NS,           /* RFC 7396 */
    CH_WRITE_PATCH_SECTION = CH_OP_PATCH_SECTION, /* RFC 7396 */
    CH_WRITE_TXN = 100,                           /* w->txn */
    CH_WRITE_ROLLBACK = 101 /* make ns (section, key) what it was at w->to_revision */
};

struct ch_write;
typedef void ch_write_done_fn(struct ch_write *w);

/*
 * One write request. The submitter allocates it, fills the request part and keeps it alive
 * until done() is called; done() runs on the writer thread and must not block (the HTTP layer
 * hands the write back to its loop there). The result part is written by the writer before
 * done() is called and is read by the submitter after.
 */
struct ch_write {
    /* Request (owned by the write; freed by ch_write_free). */
    enum ch_write_op op;
    char *ns;            /* a valid name */
    char *section;       /* a valid name; NULL for namespace ops */
    char *key;           /* a valid name; NULL for section and namespace ops */
    json_t *value;       /* the value, section value or namespace document; one reference */
    int64_t if_match;    /* required current mod_revision, or -1 for none */
    bool if_none_match;  /* create only: fails when the target exists */
    bool dry_run;        /* plan only: w->result gets the diff, nothing is written */
    bool want_diff;      /* also count what the write adds, changes and removes */
    struct ch_txn *txn;  /* CH_WRITE_TXN: the transaction; owned */
    int64_t to_revision; /* CH_WRITE_ROLLBACK: the revision to restore */
    char actor[64];      /* who writes ("anonymous" until auth exists) */
    char remote[64];     /* client address, "" for local writes */
    ch_write_done_fn *done;
    void *userdata; /* for done() */

    /* Result (written by the writer thread). */
    enum confhub_status status;
    struct ch_err err;
    int64_t revision; /* the write's revision, or the current one when nothing changed */
    int64_t mod_rev;  /* of the key, section or namespace after the write */
    int64_t version;  /* of the key after the write (key ops only) */
    bool changed;     /* false: the write was a no-op and made no revision */
    bool created;     /* the key, section or namespace did not exist before */
    bool succeeded;   /* CH_WRITE_TXN: the conditions held and "then" ran */
    json_t *result;   /* txn: the results array; dry run: the diff; owned, may be NULL */
    size_t n_added, n_changed, n_removed; /* with want_diff or dry_run: keys per kind */

    struct ch_write *next; /* queue link; the service's */
};

struct ch_service;

/* Creates the service over an open store and an empty model, loading the store into the
 * model. Borrows store, model and limits; they must outlive the service.
 * OUT: *out on success. */
enum confhub_status ch_service_new(struct ch_store *store, struct ch_model *model,
                                   const struct ch_limits *limits, struct ch_service **out,
                                   struct ch_err *err);

/* Called on the writer thread after each group commit that made revisions, once they are
 * durable and published and BEFORE any write of the batch is acknowledged, with the batch's
 * revisions in order (borrowed for the call). So a client that sees its write acknowledged
 * and then watches from that revision cannot miss it. It must not block. */
typedef void ch_service_commit_fn(void *userdata, const struct ch_store_revision *revs,
                                  size_t n_revs);

/* Sets the commit hook (the change feed). Call before ch_service_start. */
void ch_service_on_commit(struct ch_service *svc, ch_service_commit_fn *fn, void *userdata);

/* History retention, set before ch_service_start(): events older than retention_ms (0: no
 * age limit) and events outside the newest keep_revisions revisions (0: no count limit) are
 * compacted away in the background, a small batch at a time, between group commits. */
void ch_service_set_retention(struct ch_service *svc, int64_t retention_ms, int64_t keep_revisions);

/* Starts the writer thread. */
enum confhub_status ch_service_start(struct ch_service *svc, struct ch_err *err);

/* Queues w for the writer. Thread-safe and non-blocking (a short mutex hold). Returns
 * CONFHUB_EUNAVAIL without queueing when the service is stopping; done() is then not called. */
enum confhub_status ch_service_submit(struct ch_service *svc, struct ch_write *w);

/* Submits w and waits for its result; for callers that may block (start-up, tests). */
enum confhub_status ch_service_write_sync(struct ch_service *svc, struct ch_write *w);

/* Stops taking writes, finishes every queued one, and joins the writer thread. */
void ch_service_stop(struct ch_service *svc);

/* Frees the service (after ch_service_stop). NULL is a no-op. */
void ch_service_free(struct ch_service *svc);

/* The store revision at start-up load; 0 means the store was empty. */
int64_t ch_service_loaded_revision(const struct ch_service *svc);

/* Allocates a write with its result fields reset. Returns NULL when out of memory. */
struct ch_write *ch_write_new(enum ch_write_op op);

/* Frees w, its names and its value reference. NULL is a no-op. */
void ch_write_free(struct ch_write *w);

#endif
