/* SPDX-License-Identifier: MIT */
/*
 * replay_main.c: runs every file named on the command line through the target once, without
 * libFuzzer (SQLite's fuzzcheck idea). A crash, a leak or a sanitizer report fails the run;
 * the exit status is 0 when every input ran.
 */
#include <stdio.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/fileio.h"
#include "fuzz/fuzz.h"

int main(int argc, char **argv)
{
    int failed = 0;
    for (int i = 1; i < argc; i++) {
        struct ch_err err;
        char *data = NULL;
        size_t len = 0;
        ch_err_clear(&err);
        if (ch_file_read(argv[i], 64u << 20, &data, &len, &err) != CONFHUB_OK) {
            fprintf(stderr, "replay: %s\n", err.msg);
            failed = 1;
            continue;
        }
        LLVMFuzzerTestOneInput((const uint8_t *)data, len);
        ch_free(data);
    }
    return failed;
}
