/* SPDX-License-Identifier: MIT */
/* fuzz_sse.c: the CLI's text/event-stream parser (src/cli/sse.c) never crashes, never hands
 * out more than its ceiling, and gives the same events however the bytes are split: the input
 * is fed whole, then again cut at a point its first byte chooses. */
#include <stdlib.h>
#include <string.h>

#include "cli/sse.h"
#include "common/buf.h"
#include "fuzz/fuzz.h"

#define MAX_BYTES 4096

static enum confhub_status on_event(void *userdata, const struct ch_cli_sse_event *ev,
                                    struct ch_err *err)
{
    struct ch_buf *log = userdata;

    (void)err;
    if (ev->data_len > MAX_BYTES || (!ev->comment && strlen(ev->type) > MAX_BYTES))
        abort();
    ch_buf_addc(log, ev->comment ? 'c' : 'e');
    ch_buf_add(log, ev->data, ev->data_len);
    ch_buf_addc(log, '\0');
    return CONFHUB_OK;
}

/* Feeds data in two pieces cut at split; returns the parser's status, the events in *log. */
static enum confhub_status run(const uint8_t *data, size_t size, size_t split, struct ch_buf *log)
{
    struct ch_cli_sse p;
    struct ch_err err;
    enum confhub_status rc;

    ch_err_clear(&err);
    ch_cli_sse_init(&p, MAX_BYTES, on_event, log);
    rc = ch_cli_sse_feed(&p, (const char *)data, split, &err);
    if (rc == CONFHUB_OK)
        rc = ch_cli_sse_feed(&p, (const char *)data + split, size - split, &err);
    ch_cli_sse_free(&p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ch_buf whole = {0}, cut = {0};
    size_t split = size ? data[0] % (size + 1) : 0;
    enum confhub_status a = run(data, size, size, &whole);
    enum confhub_status b = run(data, size, split, &cut);

    if (a == CONFHUB_OK && b == CONFHUB_OK && !whole.failed && !cut.failed &&
        (whole.len != cut.len || (whole.len && memcmp(whole.ptr, cut.ptr, whole.len) != 0)))
        abort();
    ch_buf_free(&whole);
    ch_buf_free(&cut);
    return 0;
}
