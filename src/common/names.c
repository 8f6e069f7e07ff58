/* SPDX-License-Identifier: MIT */
/* names.c: name rules and percent-decoding (see names.h). */
#include "common/names.h"

#include <string.h>

bool ch_names_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n >= len)
            return false; /* truncated sequence */
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

/* True when the UTF-8 sequence at s is a C1 control (U+0080-U+009F, encoded as C2 80-9F). */
static bool is_c1_control(const unsigned char *s, size_t left)
{
    return left >= 2 && s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f;
}

enum confhub_status ch_names_check(const char *what, const char *name, size_t len, size_t max_len,
                                   struct ch_err *err)
{
    const unsigned char *s = (const unsigned char *)name;
    if (len == 0)
        return ch_err_set(err, CONFHUB_EINVAL, "%s name is empty", what);
    if (len > max_len)
        return ch_err_set(err, CONFHUB_ETOOBIG, "%s name is %zu bytes, over the limit of %zu", what,
                          len, max_len);
    if (!ch_names_utf8_valid(name, len))
        return ch_err_set(err, CONFHUB_EINVAL, "%s name is not valid UTF-8", what);
    for (size_t i = 0; i < len; i++) {
        if (s[i] < 0x20 || s[i] == 0x7f || is_c1_control(s + i, len - i))
            return ch_err_set(err, CONFHUB_EINVAL,
                              "%s name contains a control character at byte %zu", what, i);
        if (s[i] == '/')
            return ch_err_set(err, CONFHUB_EINVAL, "%s name contains '/' at byte %zu", what, i);
    }
    if ((len == 1 && name[0] == '.') || (len == 2 && memcmp(name, "..", 2) == 0))
        return ch_err_set(err, CONFHUB_EINVAL, "%s name '%.*s' is reserved", what, (int)len, name);
    if (len == 1 && name[0] == '@')
        return ch_err_set(err, CONFHUB_EINVAL,
                          "%s name '@' is reserved for list and scalar sections", what);
    return CONFHUB_OK;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

enum confhub_status ch_names_percent_decode(const char *src, size_t len, char *out, size_t *out_len,
                                            struct ch_err *err)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] != '%') {
            out[o++] = src[i];
            continue;
        }
        int hi = i + 2 < len ? hex_value(src[i + 1]) : -1;
        int lo = hi < 0 ? -1 : hex_value(src[i + 2]);
        if (hi < 0 || lo < 0)
            return ch_err_set(err, CONFHUB_EINVAL, "bad percent-escape at byte %zu of '%.*s'", i,
                              (int)len, src);
        if (hi == 0 && lo == 0)
            return ch_err_set(err, CONFHUB_EINVAL, "percent-escape %%00 is not allowed in a name");
        out[o++] = (char)(hi << 4 | lo);
        i += 2;
    }
    out[o] = '\0';
    *out_len = o;
    return CONFHUB_OK;
}
