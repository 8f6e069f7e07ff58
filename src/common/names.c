/* SPDX-License-Identifier: MIT */
/* names.c: name rules and percent-decoding (see names.h). */
#include "common/names.h"

#include <string.h>

/*
 * One state machine serves whole texts and texts that arrive in pieces. The rules are RFC
 * 3629's table: besides the shape of each sequence, the second byte's range excludes overlong
 * forms (after E0 and F0), UTF-16 surrogates (after ED) and code points over U+10FFFF (after
 * F4).
 */
bool ch_names_utf8_feed(struct ch_names_utf8 *state, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (state->need) {
            if (c < state->lo || c > state->hi)
                return false;
            state->need--;
            state->lo = 0x80; /* only a sequence's second byte has a narrower range */
            state->hi = 0xbf;
        } else if (c >= 0x80) {
            if (c < 0xc2 || c > 0xf4)
                return false; /* a continuation byte first, an overlong C0/C1, or over F4 */
            state->need = c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;
            state->lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
            state->hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
        }
    }
    return true;
}

bool ch_names_utf8_valid(const char *s, size_t len)
{
    struct ch_names_utf8 state = {0};
    return ch_names_utf8_feed(&state, s, len) && state.need == 0;
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
