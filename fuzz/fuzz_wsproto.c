/* SPDX-License-Identifier: MIT */
/* fuzz_wsproto.c: the WebSocket frame reader (src/wsproto.c) never crashes, never hands out a
 * message over its limit or text that is not UTF-8 (the whole message checked again from its
 * start, so the reader's piece-by-piece bookkeeping is what is tested), and finds the same
 * events however the bytes arrive: the input is read whole, then again in two reads cut at a
 * point its first byte chooses. */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/names.h"
#include "fuzz/fuzz.h"
#include "wsproto.h"

#define MAX_MESSAGE 4096

/* Logs one event; aborts when it breaks a promise of wsproto.h. */
static void check_and_log(enum ch_wsproto_result res, const struct ch_wsproto_event *ev,
                          struct ch_buf *log)
{
    if (!ev->data || (res == CH_WSPROTO_MESSAGE && ev->len > MAX_MESSAGE))
        abort();
    if (res == CH_WSPROTO_MESSAGE && ev->op == CH_WSPROTO_OP_TEXT &&
        !ch_names_utf8_valid(ev->data, ev->len))
        abort();
    if ((res == CH_WSPROTO_PING || res == CH_WSPROTO_PONG) && ev->len > CH_WSPROTO_CONTROL_MAX)
        abort();
    if (res == CH_WSPROTO_FAIL && (!ev->reason || ev->code < 1000))
        abort();
    ch_buf_addc(log, (char)('0' + res));
    ch_buf_add(log, &ev->code, sizeof(ev->code));
    ch_buf_add(log, ev->data, ev->len);
    ch_buf_addc(log, '\0');
}

/* Reads data as two arrivals, data[0..split) then the rest; the events go to *log. */
static void run(const uint8_t *data, size_t size, size_t split, struct ch_buf *log)
{
    char *buf = malloc(size ? size : 1); /* the reader unmasks in place: a copy per run */
    struct ch_wsproto_reader r;
    size_t consumed = 0;
    const size_t arrived[2] = {split, size};

    if (!buf)
        return;
    memcpy(buf, data, size);
    ch_wsproto_reader_init(&r, MAX_MESSAGE);
    for (size_t i = 0; i < 2; i++) {
        for (;;) {
            struct ch_wsproto_event ev;
            size_t used;
            enum ch_wsproto_result res =
                ch_wsproto_read(&r, buf + consumed, arrived[i] - consumed, &used, &ev);
            consumed += used;
            if (res == CH_WSPROTO_NONE && used == 0)
                break;
            if (res == CH_WSPROTO_NONE)
                continue;
            check_and_log(res, &ev, log);
            if (res == CH_WSPROTO_FAIL)
                goto done;
        }
    }
done:
    ch_wsproto_reader_free(&r);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ch_buf whole = {0}, cut = {0};
    size_t split = size ? data[0] % (size + 1) : 0;

    run(data, size, size, &whole);
    run(data, size, split, &cut);
    if (!whole.failed && !cut.failed &&
        (whole.len != cut.len || (whole.len && memcmp(whole.ptr, cut.ptr, whole.len) != 0)))
        abort();
    ch_buf_free(&whole);
    ch_buf_free(&cut);
    return 0;
}
