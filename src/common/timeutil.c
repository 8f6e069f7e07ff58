/* SPDX-License-Identifier: MIT */
/* timeutil.c: see timeutil.h. */
#include "common/timeutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t ch_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ch_time_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

char *ch_time_format_ms(int64_t epoch_ms, char *out, size_t out_len)
{
    time_t secs = (time_t)(epoch_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, out_len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(epoch_ms % 1000));
    return out;
}

/* Reads exactly n digits at s[*i]; returns -1 when they are not there. */
static int digits(const char *s, size_t len, size_t *i, int n)
{
    int v = 0;
    for (int k = 0; k < n; k++, (*i)++) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9')
            return -1;
        v = v * 10 + (s[*i] - '0');
    }
    return v;
}

static bool expect(const char *s, size_t len, size_t *i, const char *one_of)
{
    if (*i >= len || !strchr(one_of, s[*i]) || s[*i] == '\0')
        return false;
    (*i)++;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm), so no
 * time zone or libc state is involved. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool ch_time_parse_rfc3339(const char *s, size_t len, int64_t *ms_out)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    size_t i = 0;
    int y = digits(s, len, &i, 4), mo, d, h, mi, sec, ms = 0, off = 0;

    if (y < 0 || !expect(s, len, &i, "-") || (mo = digits(s, len, &i, 2)) < 1 || mo > 12 ||
        !expect(s, len, &i, "-") || (d = digits(s, len, &i, 2)) < 1 || d > mdays[mo - 1] ||
        !expect(s, len, &i, "Tt ") || (h = digits(s, len, &i, 2)) < 0 || h > 23 ||
        !expect(s, len, &i, ":") || (mi = digits(s, len, &i, 2)) < 0 || mi > 59 ||
        !expect(s, len, &i, ":") || (sec = digits(s, len, &i, 2)) < 0 || sec > 60)
        return false;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return false;
    if (i < len && s[i] == '.') {
        int scale = 100, n = 0;
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, n++) {
            ms += (s[i] - '0') * scale;
            scale /= 10;
        }
        if (n == 0)
            return false;
    }
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i++] == '-' ? -1 : 1, oh, om;
        if ((oh = digits(s, len, &i, 2)) < 0 || oh > 23 || !expect(s, len, &i, ":") ||
            (om = digits(s, len, &i, 2)) < 0 || om > 59)
            return false;
        off = sign * (oh * 60 + om);
    } else {
        return false;
    }
    if (i != len)
        return false;
    *ms_out =
        ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) - off * 60) * 1000 + ms;
    return true;
}

bool ch_time_parse_duration(const char *s, int64_t *ms_out)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};

    int64_t n = 0;
    size_t i = 0;

    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (n > INT64_MAX / 10 - 10)
            return false;
        n = n * 10 + (s[i] - '0');
    }
    if (i == 0)
        return false;
    if (s[i] == '\0' && n == 0) {
        *ms_out = 0;
        return true;
    }
    for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
        if (strcmp(s + i, units[k].unit) == 0) {
            if (n > INT64_MAX / units[k].ms)
                return false;
            *ms_out = n * units[k].ms;
            return true;
        }
    }
    return false;
}
