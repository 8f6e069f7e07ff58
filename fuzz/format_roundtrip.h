/* SPDX-License-Identifier: MIT */
/*
 * format_roundtrip.h: the check the format fuzz targets share. Parse the input; when it
 * parses, dump it in every format that can hold it and parse that again: the value must come
 * back equal (the invariant SQLite's fuzzinvariants.c checks for its own formats). A mismatch
 * aborts, which the fuzzer and the replay both report.
 */
#ifndef CH_FUZZ_FORMAT_ROUNDTRIP_H
#define CH_FUZZ_FORMAT_ROUNDTRIP_H

#include <stdio.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "formats/format.h"

static inline void fuzz_format_roundtrip(enum ch_format f, const uint8_t *data, size_t size)
{
    struct ch_format_opts opts = {.max_depth = 64};
    struct ch_err err;
    json_t *doc = NULL;

    ch_err_clear(&err);
    if (ch_format_parse(f, "fuzz", (const char *)data, size, &opts, &doc, &err) != CONFHUB_OK)
        return;
    for (int g = CH_FORMAT_JSON; g <= CH_FORMAT_TOML; g++) {
        char *text = NULL;
        size_t len = 0;
        json_t *again = NULL;
        ch_err_clear(&err);
        if (ch_format_dump((enum ch_format)g, doc, &opts, &text, &len, &err) != CONFHUB_OK)
            continue; /* this format cannot hold the value (a null in TOML, a scalar...) */
        ch_err_clear(&err);
        if (ch_format_parse((enum ch_format)g, "fuzz-again", text, len, &opts, &again, &err) !=
                CONFHUB_OK ||
            !json_equal(doc, again)) {
            fprintf(stderr, "round trip through %s failed: %s\n%.*s\n",
                    ch_format_name((enum ch_format)g), err.msg, (int)(len > 2000 ? 2000 : len),
                    text);
            abort();
        }
        json_decref(again);
        ch_free(text);
    }
    json_decref(doc);
}

#endif
