/* SPDX-License-Identifier: MIT */
/*
 * fuzz.h: the one entry point every fuzz target defines (libFuzzer's), declared here so
 * -Wmissing-prototypes accepts the definitions. Targets build two ways:
 *   make fuzz          clang-14 -fsanitize=fuzzer,address,undefined: explores new inputs;
 *   make test          gcc ASan + UBSan with replay_main.c: replays fuzz/corpus/<target>/.
 */
#ifndef CH_FUZZ_H
#define CH_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
