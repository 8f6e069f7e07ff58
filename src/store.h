/* SPDX-License-Identifier: MIT */
/*
 * store.h: the storage interface. One interface, one implementation per database
 * (store_sqlite.c today, store_pg.c later); SQL dialect details stay inside the implementation.
 *
 * The store is durable memory for the model, nothing more: the writer thread (service.c) owns
 * the one struct ch_store and is the only thread that calls it. Reads are served from the
 * in-memory model, so the store is read once, at start-up (ch_store_load).
 *
 * Invariants every implementation keeps:
 *  - ch_store_commit() writes a batch of revisions in ONE durable transaction: after it returns
 *    CONFHUB_OK every revision in it survives a crash (fsync'd); after it fails none of them
 *    is visible, not even after a restart.
 *  - the history rows of a revision are written in the same transaction as the key rows, so
 *    no change is ever missing from history.
 *  - the store's revision is the highest committed one; revisions are gap-free.
 */
#ifndef CH_STORE_H
#define CH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

enum ch_store_op {
    CH_STORE_SET,   /* key created or changed */
    CH_STORE_DELETE /* key removed */
};

/* One changed key inside a revision. All strings are borrowed for the call. */
struct ch_store_event {
    enum ch_store_op op;
    const char *ns;
    const char *section;
    const char *key;       /* "@" for a list or scalar section */
    const char *old_value; /* compact JSON text before the change; NULL if the key was new */
    const char *new_value; /* compact JSON text after the change; NULL for CH_STORE_DELETE */
    int64_t create_rev;    /* the entry after a SET: revision that created it */
    int64_t mod_rev;       /* the entry after a SET: == the revision */
    int64_t version;       /* the entry after a SET: writes since creation, 1 for a new key */
};

/* One committed write: exactly one revision and its events. */
struct ch_store_revision {
    int64_t revision;   /* previous revision + 1 */
    int64_t ts_ms;      /* wall clock, milliseconds since the epoch */
    const char *actor;  /* who wrote it ("anonymous" until auth exists); never NULL */
    const char *remote; /* client address "127.0.0.1:5555", or "" for local writes (seed) */
    const struct ch_store_event *events;
    size_t n_events; /* >= 1 */
};

/* One current entry, handed to the load callback. Strings are borrowed for the call. */
struct ch_store_entry {
    const char *ns;
    const char *section;
    const char *key;
    const char *value; /* compact JSON text */
    size_t value_len;
    int64_t create_rev;
    int64_t mod_rev;
    int64_t version;
};

typedef enum confhub_status ch_store_load_fn(void *userdata, const struct ch_store_entry *entry,
                                             struct ch_err *err);

/* ---------------------------------------------------------------- history reads */

/* Where a history read looks: every namespace (ns NULL), one namespace, one section of it, or
 * one key of that section. A section needs ns, a key needs section. */
struct ch_store_scope {
    const char *ns;
    const char *section;
    const char *key;
};

/* Which events ch_store_history() returns. Zero-initialise, then set what you need. */
struct ch_history_filter {
    struct ch_store_scope scope;
    const char *section_prefix;   /* only sections starting with it (needs scope.ns, no section) */
    int64_t from_rev;             /* events with revision >= from_rev; 0: from the oldest kept */
    int64_t to_rev;               /* events with revision <= to_rev; 0: up to the newest */
    int64_t since_ms, until_ms;   /* written at or after / at or before; 0: no bound */
    const char *actor;            /* NULL: anyone */
    int op;                       /* -1: both; CH_STORE_SET or CH_STORE_DELETE */
    bool desc;                    /* newest first */
    int64_t after_rev, after_seq; /* cursor: only events after (rev, seq) in the order asked;
                                     after_rev 0: from the start */
    size_t limit;                 /* at most this many events; 0: no limit */
};

/* One event as history holds it. Strings are borrowed for the call. */
struct ch_history_event {
    int64_t revision;
    int64_t seq; /* its place inside the revision, from 0 */
    int64_t ts_ms;
    const char *actor;
    const char *remote;
    enum ch_store_op op;
    const char *ns, *section, *key;
    const char *old_value; /* compact JSON, NULL when the key was created */
    const char *new_value; /* compact JSON, NULL for a delete */
};

/* The net change of one key between two revisions: old NULL = added, new NULL = removed. */
struct ch_store_change {
    const char *ns, *section, *key;
    const char *old_value, *new_value;
};

/* The store's position: read in one snapshot. */
struct ch_store_info {
    int64_t revision;   /* highest committed revision */
    int64_t compacted;  /* events of revisions <= this are gone (0: none compacted) */
    int64_t last_ts_ms; /* time of the newest revision kept; 0 when there is none */
};

typedef enum confhub_status ch_store_event_fn(void *userdata, const struct ch_history_event *ev,
                                              struct ch_err *err);
typedef enum confhub_status ch_store_change_fn(void *userdata, const struct ch_store_change *c,
                                               struct ch_err *err);

struct ch_store;

/* The implementation's function table; each implementation embeds struct ch_store first. */
struct ch_store_ops {
    const char *name; /* "sqlite" */
    enum confhub_status (*load)(struct ch_store *store, ch_store_load_fn *fn, void *userdata,
                                int64_t *revision_out, struct ch_err *err);
    enum confhub_status (*commit)(struct ch_store *store, const struct ch_store_revision *revs,
                                  size_t n_revs, struct ch_err *err);
    enum confhub_status (*schema)(struct ch_store *store, int *current_out, int *latest_out,
                                  struct ch_err *err);
    enum confhub_status (*migrate)(struct ch_store *store, struct ch_err *err);
    enum confhub_status (*info)(struct ch_store *store, struct ch_store_info *out,
                                struct ch_err *err);
    enum confhub_status (*history)(struct ch_store *store, const struct ch_history_filter *f,
                                   ch_store_event_fn *fn, void *userdata,
                                   struct ch_store_info *info_out, struct ch_err *err);
    enum confhub_status (*state_at)(struct ch_store *store, const struct ch_store_scope *scope,
                                    int64_t revision, ch_store_load_fn *fn, void *userdata,
                                    struct ch_store_info *info_out, struct ch_err *err);
    enum confhub_status (*changes)(struct ch_store *store, const struct ch_store_scope *scope,
                                   int64_t from_rev, int64_t to_rev, ch_store_change_fn *fn,
                                   void *userdata, struct ch_store_info *info_out,
                                   struct ch_err *err);
    enum confhub_status (*compact)(struct ch_store *store, int64_t upto_rev, size_t max_events,
                                   size_t *deleted_out, struct ch_err *err);
    void (*close)(struct ch_store *store);
};

struct ch_store {
    const struct ch_store_ops *ops;
    char *uri; /* "sqlite:/path/confhub.db"; owned */
};

struct ch_store_options {
    bool migrate;           /* apply pending migrations on open (what `serve` does) */
    bool create;            /* create the database file when it does not exist */
    const char *sqlite_vfs; /* SQLite VFS name, NULL for the default (tests inject faults) */
    bool read_only;         /* a reader's connection: history reads only, never commit */
};

/*
 * Opens the store named by uri: "sqlite:PATH". With opts->migrate it brings the schema up to
 * date; without it a database behind the binary opens (for `migrate status`) but must not be
 * written. A database written by a newer confhub is refused with CONFHUB_EVERSION.
 * OUT: *out is set only on success; free it with ch_store_close().
 */
enum confhub_status ch_store_open(const char *uri, const struct ch_store_options *opts,
                                  struct ch_store **out, struct ch_err *err);

/* Calls fn for every current entry, in (ns, section, key) byte order, then sets *revision_out
 * to the store's revision (0 for an empty store). Stops at the first error fn returns and
 * returns it. A database whose schema is behind the binary gives CONFHUB_EINVAL ("run confhub
 * migrate up"). */
enum confhub_status ch_store_load(struct ch_store *store, ch_store_load_fn *fn, void *userdata,
                                  int64_t *revision_out, struct ch_err *err);

/* Durably writes revs[0..n_revs) in one transaction (see the invariants above). revs[0] must
 * follow the store's revision and each later one its predecessor, or CONFHUB_EINVAL (a bug in
 * the caller). A failed write is CONFHUB_EIO (CONFHUB_ENOMEM when SQLite ran out of memory)
 * and leaves the database as it was; the store stays usable for the next commit.
 * n_revs == 0 is a no-op. */
enum confhub_status ch_store_commit(struct ch_store *store, const struct ch_store_revision *revs,
                                    size_t n_revs, struct ch_err *err);

/* OUT: the schema version of the database and the newest this binary knows. */
enum confhub_status ch_store_schema(struct ch_store *store, int *current_out, int *latest_out,
                                    struct ch_err *err);

/* Applies every pending migration, each in its own transaction. */
enum confhub_status ch_store_migrate(struct ch_store *store, struct ch_err *err);

/* OUT: the store's revision, compaction horizon and newest timestamp. */
enum confhub_status ch_store_info(struct ch_store *store, struct ch_store_info *out,
                                  struct ch_err *err);

/*
 * The history reads. Each runs in one read snapshot and reports that snapshot's position in
 * *info_out (may be NULL), so an answer and the revision it is valid at always agree. A read
 * that needs events the compaction removed fails with CONFHUB_ECOMPACTED and err->oldest_rev
 * set to the compaction horizon; it never answers from partial history.
 */

/* Calls fn for each event that passes f, in (revision, seq) order (reversed with f->desc).
 * CONFHUB_ECOMPACTED when f->from_rev is at or below the horizon. */
enum confhub_status ch_store_history(struct ch_store *store, const struct ch_history_filter *f,
                                     ch_store_event_fn *fn, void *userdata,
                                     struct ch_store_info *info_out, struct ch_err *err);

/* Calls fn for every entry of scope as it was right after revision, in (ns, section, key)
 * order; entries carry values only (create_rev, mod_rev and version are 0). CONFHUB_EINVAL for
 * a revision after the store's, CONFHUB_ECOMPACTED for one below the horizon. */
enum confhub_status ch_store_state_at(struct ch_store *store, const struct ch_store_scope *scope,
                                      int64_t revision, ch_store_load_fn *fn, void *userdata,
                                      struct ch_store_info *info_out, struct ch_err *err);

/* Calls fn for every key of scope whose value differs between revisions from_rev and to_rev
 * (from_rev <= to_rev), in (ns, section, key) order. Errors as for ch_store_state_at. */
enum confhub_status ch_store_changes(struct ch_store *store, const struct ch_store_scope *scope,
                                     int64_t from_rev, int64_t to_rev, ch_store_change_fn *fn,
                                     void *userdata, struct ch_store_info *info_out,
                                     struct ch_err *err);

/* Moves the horizon up to upto_rev (never down, never past the store's revision) and deletes
 * at most max_events events at or below it, in one short transaction, so writers and readers
 * never wait long. OUT: *deleted_out, the events deleted; 0 means the horizon is clean. */
enum confhub_status ch_store_compact(struct ch_store *store, int64_t upto_rev, size_t max_events,
                                     size_t *deleted_out, struct ch_err *err);

/* Closes the store cleanly (checkpoints the WAL where that applies). NULL is a no-op. */
void ch_store_close(struct ch_store *store);

#endif
