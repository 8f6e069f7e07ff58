/* SPDX-License-Identifier: MIT */
/*
 * sse.h: a parser for Server-Sent Events (text/event-stream), as the HTML standard defines the
 * format, fed with bytes as they arrive. It does no I/O: `confhub watch` hands it what libcurl
 * receives, and it calls back once per event and once per comment line.
 *
 * The stream is lines ending in CRLF, LF or CR (a CRLF split across two feeds counts once); a
 * leading UTF-8 BOM is skipped. "field: value" lines fill the event being read (one space after
 * the colon is dropped): `data` lines are joined with '\n', `event` names its type ("message"
 * when none), `id` sets the last event ID (it lasts across events; an id holding NUL is
 * ignored), `retry` digits set the reconnection time, other fields are ignored. A blank line
 * dispatches the event, unless no data line came (then the event is dropped, but an id it
 * carried is kept). A line starting with ':' is a comment. Nothing is dispatched for an event
 * cut off by the end of the stream.
 *
 * One line, and one event's data, are at most max_bytes (STYLE B5.6); more is CONFHUB_ETOOBIG.
 */
#ifndef CH_CLI_SSE_H
#define CH_CLI_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/* One dispatched event, or one comment. Every pointer is borrowed from the parser and valid
 * only during the callback. */
struct ch_cli_sse_event {
    bool comment;     /* a comment line: data is its text after ':' (one leading space
                         dropped); type and id are NULL */
    const char *type; /* the event field, "message" when there was none */
    const char *data; /* the data lines joined with '\n', NUL-terminated ("" when empty) */
    size_t data_len;  /* bytes in data */
    const char *id;   /* the last event ID so far ("" when none was sent) */
};

/*
 * Called for each event and each comment, on the feeding thread, inside ch_cli_sse_feed().
 * Returns CONFHUB_OK to go on; any other status stops the feed, which returns it (the
 * callback sets err).
 */
typedef enum confhub_status ch_cli_sse_event_fn(void *userdata, const struct ch_cli_sse_event *ev,
                                                struct ch_err *err);

/* One stream's parser. Set it up with ch_cli_sse_init(); release with ch_cli_sse_free(). */
struct ch_cli_sse {
    ch_cli_sse_event_fn *fn; /* the callback */
    void *userdata;          /* its first argument */
    size_t max_bytes;        /* the ceiling for one line and for one event's data */
    struct ch_buf line;      /* the line being read, without its end */
    struct ch_buf data;      /* the event's data lines so far, each followed by '\n' */
    struct ch_buf type;      /* the event's type so far; empty for "message" */
    struct ch_buf id;        /* the last event ID */
    int64_t retry_ms;        /* the last retry field, or -1 when none came */
    bool after_cr;           /* the last byte was CR: a LF next ends nothing */
    size_t bom_seen;         /* bytes of a leading BOM matched so far */
    bool started;            /* past the place where a BOM may be */
};

/* Sets p up to call fn(userdata, ...) and to refuse lines or events over max_bytes. */
void ch_cli_sse_init(struct ch_cli_sse *p, size_t max_bytes, ch_cli_sse_event_fn *fn,
                     void *userdata);

/*
 * Parses the next len bytes of the stream, calling back for every event and comment they
 * complete. Returns CONFHUB_OK; CONFHUB_ETOOBIG when a line or an event's data goes over
 * max_bytes; CONFHUB_ENOMEM; or the status a callback stopped with. After a failure the parser
 * must not be fed again (reset it with ch_cli_sse_free() and ch_cli_sse_init()).
 */
enum confhub_status ch_cli_sse_feed(struct ch_cli_sse *p, const char *bytes, size_t len,
                                    struct ch_err *err);

/* Frees what p holds and leaves it empty; safe to call twice. */
void ch_cli_sse_free(struct ch_cli_sse *p);

#endif
