/* SPDX-License-Identifier: MIT */
/*
 * watch.h: the change feed's engine, without any HTTP type: event batches, filters, frames,
 * the per-loop cache of recent batches, and the hub that hands every committed revision to
 * every event loop once. The transports (WebSocket, SSE, long-poll) are in http_watch.c;
 * the contract is docs/watch.md.
 *
 * Invariants:
 *  - one committed revision is one batch, serialised once (each event's JSON text) on the
 *    writer thread, then immutable and reference-counted. Every loop, every cache and every
 *    watcher queue holds references to the same batch, never a copy (STYLE B5.5).
 *  - the hub delivers batches to each sink in revision order, with no gap: the writer thread
 *    calls ch_watch_hub_publish() for each group commit in order, under the hub's lock.
 *
 * The event JSON is a history event's (ch_history_event_json in history.h), the same in
 * every transport: old_value is absent for a new key, new_value for a delete.
 */
#ifndef CH_WATCH_H
#define CH_WATCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "store.h"

/* ---------------------------------------------------------------- batches */

/* One changed key of a batch. Strings point into the batch. */
struct ch_watch_event {
    const char *ns;
    const char *section;
    const char *key;
    size_t off, len; /* the event's JSON text: batch->text[off .. off + len) */
};

/* One committed revision, immutable once built. Thread-safe reference counting. */
struct ch_watch_batch {
    atomic_long refs;
    int64_t revision;
    int64_t ts_ms;
    size_t n_events; /* >= 1 */
    const struct ch_watch_event *events;
    const char *text; /* every event's JSON, separated by commas: the body of a JSON array */
    size_t text_len;
    size_t size; /* bytes held by the batch, for cache accounting */
};

/* Builds the batch of one committed revision (copies everything it needs from rev, which is
 * borrowed). Returns a batch with one reference, or NULL when out of memory. */
struct ch_watch_batch *ch_watch_batch_new(const struct ch_store_revision *rev);

/* Adds a reference. Any thread. */
void ch_watch_batch_ref(struct ch_watch_batch *b);

/* Drops a reference; the last one frees the batch. NULL is a no-op. Any thread. */
void ch_watch_batch_unref(struct ch_watch_batch *b);

/* ---------------------------------------------------------------- filters */

/* What a watcher wants. ns is required; a key needs a section; prefix and section exclude
 * each other. All strings owned (ch_malloc), freed by ch_watch_filter_clear. */
struct ch_watch_filter {
    char *ns;
    char *section; /* NULL: any section */
    char *key;     /* NULL: any key */
    char *prefix;  /* NULL: any section; else sections whose name starts with it */
};

/* True when ev passes f. */
bool ch_watch_filter_match(const struct ch_watch_filter *f, const struct ch_watch_event *ev);

/* Checks f's names (the name rules of common/names.h, max_name bytes) and combinations.
 * Returns CONFHUB_OK or CONFHUB_EINVAL with the reason in err. */
enum confhub_status ch_watch_filter_check(const struct ch_watch_filter *f, size_t max_name,
                                          struct ch_err *err);

/* Frees f's strings and zeroes it. */
void ch_watch_filter_clear(struct ch_watch_filter *f);

/* ---------------------------------------------------------------- frames */

#define CH_WATCH_HEAD_MAX 192 /* bytes of a frame's head (the watch id is at most 64) */

/*
 * What one watcher is sent for one batch: head, the events that match its filter (separated
 * by commas), tail. It holds a reference to the batch and reads the event text from it, so a
 * queued frame costs a few hundred bytes however large the batch. A cursor lets a transport
 * copy it out in pieces as its socket drains.
 */
struct ch_watch_frame {
    struct ch_watch_batch *batch; /* one reference */
    size_t n_pick;                /* matching events */
    uint32_t *pick;               /* their indexes, or NULL when every event matches; owned */
    const char *tail;             /* static text after the events */
    size_t tail_len;
    size_t part, off; /* read cursor: piece index, offset in it */
    size_t head_len;
    char head[CH_WATCH_HEAD_MAX];
};

/* Builds the frame of batch for filter with the given head and (static) tail.
 * OUT: *out, or NULL when no event of the batch matches. Returns CONFHUB_ENOMEM or
 * CONFHUB_ETOOBIG (head too long), else CONFHUB_OK. */
enum confhub_status ch_watch_frame_new(struct ch_watch_batch *batch,
                                       const struct ch_watch_filter *filter, const char *head,
                                       size_t head_len, const char *tail, size_t tail_len,
                                       struct ch_watch_frame **out);

/* Copies up to cap bytes of the frame from its cursor into out and advances the cursor.
 * Returns the bytes copied; *eof is set when the frame is complete (the call that copies the
 * last byte sets it, so a frame never needs an empty read). */
size_t ch_watch_frame_read(struct ch_watch_frame *f, char *out, size_t cap, bool *eof);

/* The frame's total length in bytes. */
size_t ch_watch_frame_size(const struct ch_watch_frame *f);

/* Drops the batch reference and frees the frame. NULL is a no-op. */
void ch_watch_frame_free(struct ch_watch_frame *f);

/* ---------------------------------------------------------------- recent batches */

/*
 * The last batches a loop has seen, consecutive revisions, bounded by count and bytes, so a
 * watcher that resumes from a recent revision is served from memory. One per loop; not
 * thread-safe.
 */
struct ch_watch_recent {
    struct ch_watch_batch **ring; /* cap slots; owned references */
    size_t cap, start, n;
    size_t bytes, max_bytes;
};

/* Sets up r for cap batches and max_bytes bytes. Returns false when out of memory. */
bool ch_watch_recent_init(struct ch_watch_recent *r, size_t cap, size_t max_bytes);

/* Adds a reference to b (the revision after the newest one held), evicting the oldest ones
 * as needed. */
void ch_watch_recent_push(struct ch_watch_recent *r, struct ch_watch_batch *b);

/* The batch for revision rev, or NULL when it is not held (borrowed). */
struct ch_watch_batch *ch_watch_recent_get(const struct ch_watch_recent *r, int64_t rev);

/* The oldest revision held, or 0 when empty. */
int64_t ch_watch_recent_oldest(const struct ch_watch_recent *r);

/* Drops every reference and frees the ring. */
void ch_watch_recent_free(struct ch_watch_recent *r);

/* ---------------------------------------------------------------- resume from history */

/*
 * Reads the events of revisions (from, to] that pass filter from the store's history (a
 * reader thread's connection), as batches: one per revision with a matching event, in order,
 * each holding only the matching events. Reads about max_events events and stops at a
 * revision boundary (a single larger revision is read whole).
 * OUT: *batches, an owned array of *n owned references (free with ch_watch_batches_free);
 * *upto: every matching event of a revision <= *upto is in the batches (== to unless the read
 * stopped early). CONFHUB_ECOMPACTED (err->oldest_rev set) when history after from is gone.
 */
enum confhub_status ch_watch_history_read(struct ch_store *store, const struct ch_watch_filter *f,
                                          int64_t from, int64_t to, size_t max_events,
                                          struct ch_watch_batch ***batches, size_t *n,
                                          int64_t *upto, struct ch_err *err);

/* Drops each reference and frees the array. */
void ch_watch_batches_free(struct ch_watch_batch **batches, size_t n);

/* ---------------------------------------------------------------- the hub */

/* Called on the writer thread, under the hub's lock, once per committed revision in order,
 * with a new reference to its batch, which the sink owns. batch is NULL when the batch could
 * not be built (out of memory): the sink must then end its watchers with an error, since the
 * contract is every event or an error. It must not block. */
typedef void ch_watch_sink_fn(void *userdata, int64_t revision, struct ch_watch_batch *batch);

struct ch_watch_hub;

/* OUT: *out, a hub with no sinks. */
enum confhub_status ch_watch_hub_new(struct ch_watch_hub **out, struct ch_err *err);

/* Adds a sink (one per event loop). Thread-safe. *rev_out is the revision of the last batch
 * published before the sink was added, read under the same lock: the sink gets every batch
 * after it and none before. revision_now is called under the lock to read that revision
 * (the model's published one). Returns false when out of memory. */
bool ch_watch_hub_add_sink(struct ch_watch_hub *hub, ch_watch_sink_fn *fn, void *userdata,
                           int64_t (*revision_now)(void *arg), void *arg, int64_t *rev_out);

/* Turns each committed revision into a batch and hands it to every sink. Writer thread;
 * its signature fits ch_service_on_commit(). */
void ch_watch_hub_publish(void *hub, const struct ch_store_revision *revs, size_t n_revs);

/* Frees the hub (after the writer has stopped). NULL is a no-op. */
void ch_watch_hub_free(struct ch_watch_hub *hub);

#endif
