/* SPDX-License-Identifier: MIT */
/*
 * log.h: one line per event, written with a single write(2) so threads never interleave.
 *
 *   2026-11-22T19:21:20.372Z warn store: cannot fsync 'confhub.db': no space left on device
 *
 * ch_log() checks the level before it evaluates its arguments, so a disabled debug line costs
 * one compare. The level is one of the two mutable globals STYLE B1.3 allows.
 */
#ifndef CH_LOG_H
#define CH_LOG_H

#include <stdbool.h>

enum ch_log_level { CH_LOG_DEBUG, CH_LOG_INFO, CH_LOG_WARN, CH_LOG_ERROR, CH_LOG_OFF };

extern enum ch_log_level ch_log_min_level;

#define ch_log(level, module, ...)                        \
    do {                                                  \
        if ((level) >= ch_log_min_level)                  \
            ch_log_write((level), (module), __VA_ARGS__); \
    } while (0)

/* Formats and writes one line to the log fd (stderr unless ch_log_set_fd says otherwise). */
__attribute__((format(printf, 3, 4))) void ch_log_write(enum ch_log_level level, const char *module,
                                                        const char *fmt, ...);

/* Parses "debug|info|warn|error|off"; returns false on anything else. */
bool ch_log_parse_level(const char *name, enum ch_log_level *out);

/* Selects the text (default) or JSON line format. */
void ch_log_set_json(bool json);

#endif
