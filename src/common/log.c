/* SPDX-License-Identifier: MIT */
/* log.c: the line logger (see log.h). */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/timeutil.h"

enum ch_log_level ch_log_min_level = CH_LOG_INFO;
static bool log_json;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

bool ch_log_parse_level(const char *name, enum ch_log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum ch_log_level)i;
            return true;
        }
    }
    return false;
}

void ch_log_set_json(bool json)
{
    log_json = json;
}

void ch_log_write(enum ch_log_level level, const char *module, const char *fmt, ...)
{
    char ts[32], msg[1024], line[1400];
    va_list ap;
    int len;

    ch_time_format_ms(ch_time_now_ms(), ts, sizeof(ts));
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (log_json) {
        json_t *obj = json_pack("{s:s,s:s,s:s,s:s}", "time", ts, "level", level_names[level],
                                "module", module, "msg", msg);
        char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
        len = snprintf(line, sizeof(line), "%s\n", text ? text : msg);
        free(text);
        json_decref(obj);
    } else {
        len = snprintf(line, sizeof(line), "%s %s %s: %s\n", ts, level_names[level], module, msg);
    }
    if (len > (int)sizeof(line) - 1) {
        len = (int)sizeof(line) - 1;
        line[len - 1] = '\n';
    }
    /* One write per line: lines from different threads never interleave. */
    ssize_t ignored = write(STDERR_FILENO, line, (size_t)len);
    (void)ignored;
}
