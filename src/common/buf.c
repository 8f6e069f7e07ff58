/* SPDX-License-Identifier: MIT */
/* buf.c: the growable byte buffer (see buf.h). */
#include "common/buf.h"

#include <stdint.h>
#include <string.h>

#include "common/alloc.h"

bool ch_buf_add(struct ch_buf *b, const void *data, size_t len)
{
    if (b->failed)
        return false;
    if (b->cap - b->len <= len) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->len <= len) {
            if (cap > SIZE_MAX / 2) {
                b->failed = true;
                return false;
            }
            cap *= 2;
        }
        if (!ch_buf_reserve(b, cap))
            return false;
    }
    if (len)
        memcpy(b->ptr + b->len, data, len);
    b->len += len;
    b->ptr[b->len] = '\0';
    return true;
}

bool ch_buf_reserve(struct ch_buf *b, size_t cap)
{
    if (b->failed)
        return false;
    if (cap <= b->cap)
        return true;
    /* Large buffers move to huge-page memory instead of growing in place (alloc.h). */
    bool large = cap >= CH_ALLOC_LARGE;
    char *grown = large ? ch_malloc_large(cap) : ch_realloc(b->ptr, cap);
    if (grown && large) {
        if (b->len)
            memcpy(grown, b->ptr, b->len + 1);
        ch_free(b->ptr);
    }
    if (!grown) {
        b->failed = true;
        return false;
    }
    b->ptr = grown;
    b->cap = cap;
    return true;
}

bool ch_buf_addc(struct ch_buf *b, char c)
{
    return ch_buf_add(b, &c, 1);
}

bool ch_buf_adds(struct ch_buf *b, const char *s)
{
    return ch_buf_add(b, s, strlen(s));
}

bool ch_buf_add_json_name(struct ch_buf *b, const char *name, size_t len)
{
    size_t start = 0;
    ch_buf_addc(b, '"');
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '"' || name[i] == '\\') {
            ch_buf_add(b, name + start, i - start);
            ch_buf_addc(b, '\\');
            start = i;
        }
    }
    ch_buf_add(b, name + start, len - start);
    return ch_buf_addc(b, '"');
}

void ch_buf_free(struct ch_buf *b)
{
    ch_free(b->ptr);
    memset(b, 0, sizeof(*b));
}
