/* SPDX-License-Identifier: MIT */
/*
 * store.c: picks a storage implementation by URI scheme and forwards calls to its ops table.
 *
 * The contract is in store.h; each implementation (store_sqlite.c) keeps its SQL to itself.
 * These wrappers own nothing, so they stay thin: adding a store is one row in open_store().
 */
#include "store.h"

#include <string.h>

#include "store_sqlite.h"

#define SQLITE_SCHEME "sqlite:"

enum confhub_status ch_store_open(const char *uri, const struct ch_store_options *opts,
                                  struct ch_store **out, struct ch_err *err)
{
    static const struct ch_store_options defaults = {0};

    if (!opts)
        opts = &defaults;
    if (strncmp(uri, SQLITE_SCHEME, strlen(SQLITE_SCHEME)) == 0) {
        const char *path = uri + strlen(SQLITE_SCHEME);
        if (*path == '\0')
            return ch_err_set(err, CONFHUB_EINVAL, "store '%s' has no path: expected sqlite:PATH",
                              uri);
        return ch_store_sqlite_open(uri, path, opts, out, err);
    }
    return ch_err_set(err, CONFHUB_EINVAL, "unknown store '%s': expected sqlite:PATH", uri);
}

enum confhub_status ch_store_load(struct ch_store *store, ch_store_load_fn *fn, void *userdata,
                                  int64_t *revision_out, struct ch_err *err)
{
    return store->ops->load(store, fn, userdata, revision_out, err);
}

enum confhub_status ch_store_commit(struct ch_store *store, const struct ch_store_revision *revs,
                                    size_t n_revs, struct ch_err *err)
{
    return store->ops->commit(store, revs, n_revs, err);
}

enum confhub_status ch_store_schema(struct ch_store *store, int *current_out, int *latest_out,
                                    struct ch_err *err)
{
    return store->ops->schema(store, current_out, latest_out, err);
}

enum confhub_status ch_store_migrate(struct ch_store *store, struct ch_err *err)
{
    return store->ops->migrate(store, err);
}

enum confhub_status ch_store_info(struct ch_store *store, struct ch_store_info *out,
                                  struct ch_err *err)
{
    return store->ops->info(store, out, err);
}

enum confhub_status ch_store_history(struct ch_store *store, const struct ch_history_filter *f,
                                     ch_store_event_fn *fn, void *userdata,
                                     struct ch_store_info *info_out, struct ch_err *err)
{
    return store->ops->history(store, f, fn, userdata, info_out, err);
}

enum confhub_status ch_store_state_at(struct ch_store *store, const struct ch_store_scope *scope,
                                      int64_t revision, ch_store_load_fn *fn, void *userdata,
                                      struct ch_store_info *info_out, struct ch_err *err)
{
    return store->ops->state_at(store, scope, revision, fn, userdata, info_out, err);
}

enum confhub_status ch_store_changes(struct ch_store *store, const struct ch_store_scope *scope,
                                     int64_t from_rev, int64_t to_rev, ch_store_change_fn *fn,
                                     void *userdata, struct ch_store_info *info_out,
                                     struct ch_err *err)
{
    return store->ops->changes(store, scope, from_rev, to_rev, fn, userdata, info_out, err);
}

enum confhub_status ch_store_compact(struct ch_store *store, int64_t upto_rev, size_t max_events,
                                     size_t *deleted_out, struct ch_err *err)
{
    return store->ops->compact(store, upto_rev, max_events, deleted_out, err);
}

void ch_store_close(struct ch_store *store)
{
    if (store)
        store->ops->close(store);
}
