/* SPDX-License-Identifier: MIT */
/* fuzz_json_import.c: JSON documents: parse never crashes or leaks; what parses round-trips. */
#include "fuzz/format_roundtrip.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_format_roundtrip(CH_FORMAT_JSON, data, size);
    return 0;
}
