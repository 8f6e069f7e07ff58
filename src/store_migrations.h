/* SPDX-License-Identifier: MIT */
/*
 * store_migrations.h: the schema history each store carries inside the binary.
 *
 * Migrations are the files src/store_migrations/<store>/NNNN_what.sql, embedded at build time
 * by scripts/embed-sql.sh, in version order. Version numbers start at 1 and have no gaps; a
 * migration, once released, is never edited: a change is a new file.
 */
#ifndef CH_STORE_MIGRATIONS_H
#define CH_STORE_MIGRATIONS_H

#include <stddef.h>

struct ch_migration {
    int version;      /* 1, 2, ...: the schema version after this migration */
    const char *name; /* file name without .sql, for logs and `confhub migrate status` */
    const char *sql;  /* the statements, run in one transaction */
};

extern const struct ch_migration ch_sqlite_migrations[];
extern const size_t ch_sqlite_migrations_count;

#endif
