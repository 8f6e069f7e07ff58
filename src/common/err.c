/* SPDX-License-Identifier: MIT */
/* err.c: status names and the struct ch_err helpers (see err.h). */
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;        /* machine-readable, used in JSON error bodies */
    const char *description; /* confhub_strerror() text */
} status_text[] = {
    [CONFHUB_OK] = {"ok", "success"},
    [CONFHUB_EINVAL] = {"invalid_argument", "invalid argument"},
    [CONFHUB_ENOTFOUND] = {"not_found", "not found"},
    [CONFHUB_ECONFLICT] = {"conflict", "condition failed"},
    [CONFHUB_ECOMPACTED] = {"compacted", "revision compacted"},
    [CONFHUB_ETOOBIG] = {"too_large", "limit exceeded"},
    [CONFHUB_ENOMEM] = {"out_of_memory", "out of memory"},
    [CONFHUB_EIO] = {"io_error", "storage or system error"},
    [CONFHUB_EUNAVAIL] = {"unavailable", "service unavailable"},
    [CONFHUB_EMETHOD] = {"method_not_allowed", "method not allowed"},
    [CONFHUB_EMEDIATYPE] = {"unsupported_media_type", "unsupported media type"},
    [CONFHUB_EVERSION] = {"version_mismatch", "written by a newer version"},
    [CONFHUB_EFORBIDDEN] = {"forbidden", "not allowed"},
};

_Static_assert(sizeof(status_text) / sizeof(status_text[0]) == CONFHUB_STATUS_COUNT,
               "status_text must cover every confhub_status");

enum confhub_status ch_err_set(struct ch_err *err, enum confhub_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

void ch_err_clear(struct ch_err *err)
{
    memset(err, 0, sizeof(*err));
    err->mod_rev = -1;
    err->oldest_rev = -1;
}

const char *ch_err_code_name(enum confhub_status status)
{
    if ((unsigned)status >= CONFHUB_STATUS_COUNT || !status_text[status].name)
        return "unknown";
    return status_text[status].name;
}

const char *confhub_strerror(int status)
{
    if (status < 0 || status >= CONFHUB_STATUS_COUNT || !status_text[status].description)
        return "unknown status";
    return status_text[status].description;
}

const char *confhub_version(void)
{
    return CONFHUB_VERSION_STRING;
}
