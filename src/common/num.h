/* SPDX-License-Identifier: MIT */
/* num.h: strict parsing of the non-negative integers requests carry (revisions, counts). */
#ifndef CH_NUM_H
#define CH_NUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses s[0..len) as 1 to 18 decimal digits (no sign, no spaces), so any value fits an
 * int64_t. Returns false, leaving *out alone, for anything else. */
bool ch_num_parse(const char *s, size_t len, int64_t *out);

#endif
