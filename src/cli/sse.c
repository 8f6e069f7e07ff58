/* SPDX-License-Identifier: MIT */
/*
 * sse.c: the text/event-stream parser (see sse.h; the format is the HTML standard's "event
 * stream interpretation").
 *
 * Bytes go into p->line until a CR or LF ends it; each complete line is then interpreted.
 * Ceilings are checked before every append, so a server that never ends a line or an event
 * costs at most max_bytes per buffer.
 */
#include "cli/sse.h"

#include <string.h>

static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};

void ch_cli_sse_init(struct ch_cli_sse *p, size_t max_bytes, ch_cli_sse_event_fn *fn,
                     void *userdata)
{
    memset(p, 0, sizeof(*p));
    p->fn = fn;
    p->userdata = userdata;
    p->max_bytes = max_bytes;
    p->retry_ms = -1;
}

void ch_cli_sse_free(struct ch_cli_sse *p)
{
    ch_buf_free(&p->line);
    ch_buf_free(&p->data);
    ch_buf_free(&p->type);
    ch_buf_free(&p->id);
}

static const char *text_of(const struct ch_buf *b)
{
    return b->len ? b->ptr : "";
}

/* Appends to b unless that takes it over p->max_bytes. */
static enum confhub_status add(struct ch_cli_sse *p, struct ch_buf *b, const char *bytes,
                               size_t len, struct ch_err *err)
{
    if (len > p->max_bytes || b->len > p->max_bytes - len)
        return ch_err_set(err, CONFHUB_ETOOBIG,
                          "event stream: a line or an event is over %zu bytes", p->max_bytes);
    if (len && !ch_buf_add(b, bytes, len))
        return ch_err_set(err, CONFHUB_ENOMEM, "event stream: out of memory");
    return CONFHUB_OK;
}

/* A blank line: hands the event to the callback, if it has data, and starts the next. */
static enum confhub_status dispatch(struct ch_cli_sse *p, struct ch_err *err)
{
    struct ch_cli_sse_event ev = {0};
    enum confhub_status rc = CONFHUB_OK;

    if (p->data.len) {
        p->data.len--; /* the '\n' after the last data line */
        p->data.ptr[p->data.len] = '\0';
        ev.type = p->type.len ? p->type.ptr : "message";
        ev.data = text_of(&p->data);
        ev.data_len = p->data.len;
        ev.id = text_of(&p->id);
        rc = p->fn(p->userdata, &ev, err);
    }
    p->data.len = 0;
    p->type.len = 0;
    return rc;
}

/* Sets b to value[0..len), within the ceiling. */
static enum confhub_status set(struct ch_cli_sse *p, struct ch_buf *b, const char *value,
                               size_t len, struct ch_err *err)
{
    b->len = 0;
    return add(p, b, value, len, err);
}

/* Interprets the complete line in p->line. */
static enum confhub_status process_line(struct ch_cli_sse *p, struct ch_err *err)
{
    const char *line = text_of(&p->line);
    size_t len = p->line.len, name_len;
    const char *colon, *value;
    size_t value_len;

    if (len == 0)
        return dispatch(p, err);
    colon = memchr(line, ':', len);
    name_len = colon ? (size_t)(colon - line) : len;
    value = colon ? colon + 1 : line + len;
    value_len = len - (size_t)(value - line);
    if (value_len && value[0] == ' ') {
        value++;
        value_len--;
    }
    if (name_len == 0) {
        struct ch_cli_sse_event ev = {.comment = true, .data = value, .data_len = value_len};
        return p->fn(p->userdata, &ev, err);
    }
    if (name_len == 4 && memcmp(line, "data", 4) == 0) {
        enum confhub_status rc = add(p, &p->data, value, value_len, err);
        return rc == CONFHUB_OK ? add(p, &p->data, "\n", 1, err) : rc;
    }
    if (name_len == 5 && memcmp(line, "event", 5) == 0)
        return set(p, &p->type, value, value_len, err);
    if (name_len == 2 && memcmp(line, "id", 2) == 0) {
        if (memchr(value, '\0', value_len))
            return CONFHUB_OK;
        return set(p, &p->id, value, value_len, err);
    }
    if (name_len == 5 && memcmp(line, "retry", 5) == 0 && value_len > 0 && value_len < 16) {
        int64_t ms = 0;
        for (size_t i = 0; i < value_len; i++) {
            if (value[i] < '0' || value[i] > '9')
                return CONFHUB_OK;
            ms = ms * 10 + (value[i] - '0');
        }
        p->retry_ms = ms;
    }
    return CONFHUB_OK; /* an unknown field, or a retry that is not digits */
}

/* Everything after the BOM check: splits bytes into lines. */
static enum confhub_status feed_lines(struct ch_cli_sse *p, const char *bytes, size_t len,
                                      struct ch_err *err)
{
    size_t i = 0;

    while (i < len) {
        size_t j = i;
        enum confhub_status rc;

        if (p->after_cr) {
            p->after_cr = false;
            if (bytes[i] == '\n') {
                i++;
                continue;
            }
        }
        while (j < len && bytes[j] != '\n' && bytes[j] != '\r')
            j++;
        rc = add(p, &p->line, bytes + i, j - i, err);
        if (rc != CONFHUB_OK || j == len)
            return rc;
        p->after_cr = bytes[j] == '\r';
        i = j + 1;
        rc = process_line(p, err);
        p->line.len = 0;
        if (rc != CONFHUB_OK)
            return rc;
    }
    return CONFHUB_OK;
}

enum confhub_status ch_cli_sse_feed(struct ch_cli_sse *p, const char *bytes, size_t len,
                                    struct ch_err *err)
{
    size_t i = 0;

    /* A BOM may be split across feeds: match it byte by byte, and hand back what matched
     * when the stream turns out not to start with one. */
    while (!p->started && i < len) {
        if ((unsigned char)bytes[i] == bom[p->bom_seen]) {
            i++;
            if (++p->bom_seen == sizeof(bom))
                p->started = true;
        } else {
            enum confhub_status rc = CONFHUB_OK;
            p->started = true;
            if (p->bom_seen)
                rc = feed_lines(p, (const char *)bom, p->bom_seen, err);
            if (rc != CONFHUB_OK)
                return rc;
        }
    }
    return feed_lines(p, bytes + i, len - i, err);
}
