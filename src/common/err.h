/* SPDX-License-Identifier: MIT */
/*
 * err.h: error details that travel with an enum confhub_status.
 *
 * Every fallible function returns a status; the human-readable detail ("what failed: why",
 * lowercase, no final period) goes into a struct ch_err owned by the caller. The status name
 * table ("not_found") is the stable machine-readable code used in HTTP error bodies.
 */
#ifndef CH_ERR_H
#define CH_ERR_H

#include <stdint.h>

#include "confhub.h"

struct ch_err {
    enum confhub_status code; /* CONFHUB_OK until something fails */
    char msg[512];            /* "what failed: why"; empty when code is CONFHUB_OK */
    int line;                 /* 1-based position of a parse error, 0 when not a parse error */
    int column;               /* 1-based column of a parse error, 0 when unknown */
    int64_t mod_rev;          /* current mod_revision reported with CONFHUB_ECONFLICT, or -1 */
    int64_t oldest_rev;       /* the compaction horizon reported with CONFHUB_ECOMPACTED, or -1 */
};

/* Sets err (if not NULL) to code and the printf-style message; returns code. */
__attribute__((format(printf, 3, 4))) enum confhub_status
ch_err_set(struct ch_err *err, enum confhub_status code, const char *fmt, ...);

/* Resets err to "no error". */
void ch_err_clear(struct ch_err *err);

/* The stable machine-readable name of status ("not_found"); "unknown" when out of range. */
const char *ch_err_code_name(enum confhub_status status);

#endif
