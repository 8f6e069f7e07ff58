/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite.h: the SQLite implementation of the storage interface (store.h).
 *
 * Only store.c calls this; everyone else opens a store with ch_store_open("sqlite:PATH").
 */
#ifndef CH_STORE_SQLITE_H
#define CH_STORE_SQLITE_H

#include "store.h"

/*
 * Opens (and with opts->create, creates) the SQLite database at path. uri is the full store
 * URI, kept for messages. opts is never NULL here. The contract is ch_store_open()'s.
 * OUT: *out is set only on success; it is freed through its ops->close.
 */
enum confhub_status ch_store_sqlite_open(const char *uri, const char *path,
                                         const struct ch_store_options *opts, struct ch_store **out,
                                         struct ch_err *err);

#endif
