/* SPDX-License-Identifier: MIT */
/* fuzz_names.c: path segments: percent-decoding and the name rules never crash, and a name
 * they accept is valid UTF-8 without '/' or control bytes. */
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/names.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ch_err err;
    char *out = ch_malloc(size + 1);
    size_t len = 0;

    if (!out)
        return 0;
    ch_err_clear(&err);
    if (ch_names_percent_decode((const char *)data, size, out, &len, &err) == CONFHUB_OK &&
        ch_names_check("key", out, len, 256, &err) == CONFHUB_OK) {
        if (!ch_names_utf8_valid(out, len) || memchr(out, '/', len) || memchr(out, '\0', len))
            abort();
        for (size_t i = 0; i < len; i++) {
            if ((unsigned char)out[i] < 0x20)
                abort();
        }
    }
    ch_free(out);
    return 0;
}
