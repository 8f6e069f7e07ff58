/* SPDX-License-Identifier: MIT */
/* timeutil.h: wall-clock and monotonic time, and RFC 3339 formatting (UTC, milliseconds). */
#ifndef CH_TIMEUTIL_H
#define CH_TIMEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Milliseconds since the Unix epoch (wall clock). */
int64_t ch_time_now_ms(void);

/* Microseconds from an arbitrary fixed point (monotonic clock); for durations only. */
int64_t ch_time_mono_us(void);

/* Writes "2026-11-22T19:21:20.372Z" into out (at least 25 bytes); returns out. */
char *ch_time_format_ms(int64_t epoch_ms, char *out, size_t out_len);

/* Parses an RFC 3339 time ("2026-11-23T08:00:00Z", "2026-11-23T10:00:00.5+02:00"; 'T' may
 * be 't' or a space) into milliseconds since the epoch. Returns false when s[0..len) is not
 * one. Fractions beyond milliseconds are truncated. */
bool ch_time_parse_rfc3339(const char *s, size_t len, int64_t *ms_out);

/* Parses a duration: a number followed by ms, s, m, h or d ("90s", "12h", "30d"), or "0".
 * Returns false when s is not one or it overflows. */
bool ch_time_parse_duration(const char *s, int64_t *ms_out);

#endif
