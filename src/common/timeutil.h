/* SPDX-License-Identifier: MIT */
/* timeutil.h: wall-clock and monotonic time, and RFC 3339 formatting (UTC, milliseconds). */
#ifndef CH_TIMEUTIL_H
#define CH_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds since the Unix epoch (wall clock). */
int64_t ch_time_now_ms(void);

/* Microseconds from an arbitrary fixed point (monotonic clock); for durations only. */
int64_t ch_time_mono_us(void);

/* Writes "2026-11-22T19:21:20.372Z" into out (at least 25 bytes); returns out. */
char *ch_time_format_ms(int64_t epoch_ms, char *out, size_t out_len);

#endif
