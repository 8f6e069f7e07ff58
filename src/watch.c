/* SPDX-License-Identifier: MIT */
/*
 * watch.c: event batches, filters, frames, the recent-batch ring and the hub (see watch.h).
 *
 * A batch is two allocations: the struct with the event array and the names, and the text of
 * every event's JSON separated by commas. A frame for a watcher whose filter matches every event
 * of a batch reads that text as one piece; otherwise it reads the matching events' slices,
 * joined by commas. Nothing is copied per watcher until a transport reads the bytes into its
 * socket buffer.
 */
#include "watch.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/names.h"
#include "common/timeutil.h"
#include "history.h"

/* ---------------------------------------------------------------- batches */

/* The event as a history event (history.h); the revision's fields are filled in by the
 * caller's head, written once per revision. */
static struct ch_history_event as_history_event(const struct ch_store_revision *rev,
                                                const struct ch_store_event *ev)
{
    return (struct ch_history_event){
        .revision = rev->revision,
        .ts_ms = rev->ts_ms,
        .actor = rev->actor ? rev->actor : "",
        .remote = rev->remote ? rev->remote : "",
        .op = ev->op,
        .ns = ev->ns,
        .section = ev->section,
        .key = ev->key,
        .old_value = ev->old_value,
        .new_value = ev->op == CH_STORE_SET ? ev->new_value : NULL,
    };
}

/* A bound on an event's JSON length: names at most double when escaped; the fixed part
 * (member names, numbers, the stamp) is under 256 bytes. */
static size_t event_json_bound(const struct ch_store_revision *rev, const struct ch_store_event *ev)
{
    size_t names = strlen(ev->ns) + strlen(ev->section) + strlen(ev->key) +
                   (rev->actor ? strlen(rev->actor) : 0) + (rev->remote ? strlen(rev->remote) : 0);
    return 256 + 2 * names + (ev->old_value ? strlen(ev->old_value) : 0) +
           (ev->new_value ? strlen(ev->new_value) : 0);
}

/*
 * The event text is written once, into a buffer reserved up front for all of it, and the
 * batch keeps that buffer: a 100,000-key import makes a batch of about 20 MB, and growing it
 * by doubling and then copying it into place cost more than the commit's fsync (page faults
 * on fresh memory dominate on this machine, docs/benchmarks.md).
 */
struct ch_watch_batch *ch_watch_batch_new(const struct ch_store_revision *rev)
{
    struct ch_buf text = {0}, head = {0};
    struct ch_watch_batch *b = NULL;
    struct ch_watch_event *events;
    size_t *ends = NULL, names = 0, bound = 1, size;
    char *p;

    ends = ch_calloc(rev->n_events ? rev->n_events : 1, sizeof(*ends));
    if (!ends)
        goto done;
    for (size_t i = 0; i < rev->n_events; i++) {
        bound += event_json_bound(rev, &rev->events[i]) + 1;
        names += strlen(rev->events[i].ns) + strlen(rev->events[i].section) +
                 strlen(rev->events[i].key) + 3;
    }
    if (rev->n_events) {
        struct ch_history_event first = as_history_event(rev, &rev->events[0]);
        ch_history_event_head(&head, &first);
    }
    if (!ch_buf_reserve(&text, bound) || head.failed)
        goto done;
    for (size_t i = 0; i < rev->n_events; i++) {
        struct ch_history_event hev = as_history_event(rev, &rev->events[i]);
        if (i)
            ch_buf_addc(&text, ',');
        ch_buf_add(&text, head.ptr, head.len);
        ch_history_event_rest(&text, &hev);
        ends[i] = text.len;
    }
    if (text.failed)
        goto done;
    size = sizeof(*b) + rev->n_events * sizeof(*events) + names;
    b = ch_malloc(size);
    if (!b)
        goto done;
    events = (struct ch_watch_event *)(b + 1);
    p = (char *)(events + rev->n_events);
    for (size_t i = 0; i < rev->n_events; i++) {
        const struct ch_store_event *ev = &rev->events[i];
        const char *src[3] = {ev->ns, ev->section, ev->key};
        const char **dst[3] = {&events[i].ns, &events[i].section, &events[i].key};
        for (int k = 0; k < 3; k++) {
            size_t n = strlen(src[k]) + 1;
            memcpy(p, src[k], n);
            *dst[k] = p;
            p += n;
        }
        events[i].off = i ? ends[i - 1] + 1 : 0;
        events[i].len = ends[i] - events[i].off;
    }
    atomic_init(&b->refs, 1);
    b->revision = rev->revision;
    b->ts_ms = rev->ts_ms;
    b->n_events = rev->n_events;
    b->events = events;
    b->text = text.ptr ? text.ptr : ch_strdup("");
    b->text_len = text.len;
    b->size = size + text.cap;
    if (!b->text) {
        ch_free(b);
        b = NULL;
    }
    text = (struct ch_buf){0}; /* the batch owns the text now */
done:
    ch_free(ends);
    ch_buf_free(&text);
    ch_buf_free(&head);
    return b;
}

void ch_watch_batch_ref(struct ch_watch_batch *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void ch_watch_batch_unref(struct ch_watch_batch *b)
{
    if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1) {
        ch_free((char *)b->text);
        ch_free(b);
    }
}

/* ---------------------------------------------------------------- filters */

bool ch_watch_filter_match(const struct ch_watch_filter *f, const struct ch_watch_event *ev)
{
    if (strcmp(f->ns, ev->ns) != 0)
        return false;
    if (f->section && strcmp(f->section, ev->section) != 0)
        return false;
    if (f->key && strcmp(f->key, ev->key) != 0)
        return false;
    return !f->prefix || strncmp(f->prefix, ev->section, strlen(f->prefix)) == 0;
}

enum confhub_status ch_watch_filter_check(const struct ch_watch_filter *f, size_t max_name,
                                          struct ch_err *err)
{
    enum confhub_status rc;
    if (!f->ns)
        return ch_err_set(err, CONFHUB_EINVAL, "a watch needs a namespace (ns)");
    rc = ch_names_check("namespace", f->ns, strlen(f->ns), max_name, err);
    if (rc == CONFHUB_OK && f->section)
        rc = ch_names_check("section", f->section, strlen(f->section), max_name, err);
    if (rc == CONFHUB_OK && f->key)
        rc = ch_names_check("key", f->key, strlen(f->key), max_name, err);
    if (rc != CONFHUB_OK)
        return rc;
    if (f->key && !f->section)
        return ch_err_set(err, CONFHUB_EINVAL, "a watch on a key needs its section");
    if (f->prefix && f->section)
        return ch_err_set(err, CONFHUB_EINVAL, "a watch takes a section or a prefix, not both");
    if (f->prefix &&
        (strlen(f->prefix) > max_name || !ch_names_utf8_valid(f->prefix, strlen(f->prefix))))
        return ch_err_set(err, CONFHUB_EINVAL, "prefix is not valid UTF-8 of at most %zu bytes",
                          max_name);
    return CONFHUB_OK;
}

void ch_watch_filter_clear(struct ch_watch_filter *f)
{
    ch_free(f->ns);
    ch_free(f->section);
    ch_free(f->key);
    ch_free(f->prefix);
    memset(f, 0, sizeof(*f));
}

/* ---------------------------------------------------------------- frames */

enum confhub_status ch_watch_frame_new(struct ch_watch_batch *batch,
                                       const struct ch_watch_filter *filter, const char *head,
                                       size_t head_len, const char *tail, size_t tail_len,
                                       struct ch_watch_frame **out)
{
    struct ch_watch_frame *f;
    size_t n = 0;

    *out = NULL;
    if (head_len > CH_WATCH_HEAD_MAX)
        return CONFHUB_ETOOBIG;
    for (size_t i = 0; i < batch->n_events; i++)
        n += ch_watch_filter_match(filter, &batch->events[i]);
    if (n == 0)
        return CONFHUB_OK;
    f = ch_calloc(1, sizeof(*f));
    if (!f)
        return CONFHUB_ENOMEM;
    if (n < batch->n_events) {
        size_t k = 0;
        f->pick = ch_malloc(n * sizeof(*f->pick));
        if (!f->pick) {
            ch_free(f);
            return CONFHUB_ENOMEM;
        }
        for (size_t i = 0; i < batch->n_events; i++) {
            if (ch_watch_filter_match(filter, &batch->events[i]))
                f->pick[k++] = (uint32_t)i;
        }
    }
    ch_watch_batch_ref(batch);
    f->batch = batch;
    f->n_pick = n;
    memcpy(f->head, head, head_len);
    f->head_len = head_len;
    f->tail = tail;
    f->tail_len = tail_len;
    *out = f;
    return CONFHUB_OK;
}

/* Pieces: 0 the head; then the events (one piece when all match; else event, comma, event,
 * ...); then the tail. Sets *base and *len of piece i; returns false past the end. */
static bool piece(const struct ch_watch_frame *f, size_t i, const char **base, size_t *len)
{
    size_t n_mid = f->pick ? 2 * f->n_pick - 1 : 1;
    if (i == 0) {
        *base = f->head;
        *len = f->head_len;
    } else if (i <= n_mid) {
        size_t k = i - 1;
        if (!f->pick) {
            *base = f->batch->text;
            *len = f->batch->text_len;
        } else if (k % 2) {
            *base = ",";
            *len = 1;
        } else {
            const struct ch_watch_event *ev = &f->batch->events[f->pick[k / 2]];
            *base = f->batch->text + ev->off;
            *len = ev->len;
        }
    } else if (i == n_mid + 1) {
        *base = f->tail;
        *len = f->tail_len;
    } else {
        return false;
    }
    return true;
}

size_t ch_watch_frame_read(struct ch_watch_frame *f, char *out, size_t cap, bool *eof)
{
    size_t done = 0;
    const char *base;
    size_t len;

    while (done < cap && piece(f, f->part, &base, &len)) {
        size_t n = len - f->off;
        if (n > cap - done)
            n = cap - done;
        memcpy(out + done, base + f->off, n);
        done += n;
        f->off += n;
        if (f->off == len) {
            f->part++;
            f->off = 0;
        }
    }
    /* Skip empty pieces at the end, so the call that copies the last byte reports eof. */
    while (piece(f, f->part, &base, &len) && len == 0)
        f->part++;
    *eof = !piece(f, f->part, &base, &len);
    return done;
}

size_t ch_watch_frame_size(const struct ch_watch_frame *f)
{
    size_t total = 0, len;
    const char *base;
    for (size_t i = 0; piece(f, i, &base, &len); i++)
        total += len;
    return total;
}

void ch_watch_frame_free(struct ch_watch_frame *f)
{
    if (!f)
        return;
    ch_watch_batch_unref(f->batch);
    ch_free(f->pick);
    ch_free(f);
}

/* ---------------------------------------------------------------- recent batches */

bool ch_watch_recent_init(struct ch_watch_recent *r, size_t cap, size_t max_bytes)
{
    memset(r, 0, sizeof(*r));
    r->ring = ch_calloc(cap ? cap : 1, sizeof(*r->ring));
    r->cap = cap;
    r->max_bytes = max_bytes;
    return r->ring != NULL;
}

static void recent_drop_oldest(struct ch_watch_recent *r)
{
    struct ch_watch_batch *old = r->ring[r->start];
    r->ring[r->start] = NULL;
    r->start = (r->start + 1) % r->cap;
    r->n--;
    r->bytes -= old->size;
    ch_watch_batch_unref(old);
}

void ch_watch_recent_push(struct ch_watch_recent *r, struct ch_watch_batch *b)
{
    if (r->cap == 0)
        return;
    /* Only consecutive revisions: a gap (a lost batch) empties the ring. */
    while (r->n && r->ring[(r->start + r->n - 1) % r->cap]->revision + 1 != b->revision)
        recent_drop_oldest(r);
    while (r->n && (r->n == r->cap || r->bytes + b->size > r->max_bytes))
        recent_drop_oldest(r);
    if (b->size > r->max_bytes)
        return;
    ch_watch_batch_ref(b);
    r->ring[(r->start + r->n) % r->cap] = b;
    r->n++;
    r->bytes += b->size;
}

struct ch_watch_batch *ch_watch_recent_get(const struct ch_watch_recent *r, int64_t rev)
{
    int64_t oldest = ch_watch_recent_oldest(r);
    if (r->n == 0 || rev < oldest || rev - oldest >= (int64_t)r->n)
        return NULL;
    return r->ring[(r->start + (size_t)(rev - oldest)) % r->cap];
}

int64_t ch_watch_recent_oldest(const struct ch_watch_recent *r)
{
    return r->n ? r->ring[r->start]->revision : 0;
}

void ch_watch_recent_free(struct ch_watch_recent *r)
{
    while (r->n)
        recent_drop_oldest(r);
    ch_free(r->ring);
    memset(r, 0, sizeof(*r));
}

/* ---------------------------------------------------------------- resume from history */

/* The revision being collected from history, and the batches made so far. */
struct history_read {
    int64_t rev, ts_ms;
    char *actor, *remote;
    struct ch_store_event *events; /* strings owned (ch_strdup) */
    size_t n_events, cap_events;
    struct ch_watch_batch **batches;
    size_t n, cap;
    size_t seen; /* events read */
};

static void history_drop_rev(struct history_read *h)
{
    for (size_t i = 0; i < h->n_events; i++) {
        struct ch_store_event *ev = &h->events[i];
        ch_free((char *)ev->ns);
        ch_free((char *)ev->section);
        ch_free((char *)ev->key);
        ch_free((char *)ev->old_value);
        ch_free((char *)ev->new_value);
    }
    h->n_events = 0;
    ch_free(h->actor);
    ch_free(h->remote);
    h->actor = h->remote = NULL;
    h->rev = 0;
}

/* Turns the revision collected so far into a batch. */
static enum confhub_status history_flush_rev(struct history_read *h)
{
    struct ch_store_revision rev = {.revision = h->rev,
                                    .ts_ms = h->ts_ms,
                                    .actor = h->actor ? h->actor : "",
                                    .remote = h->remote ? h->remote : "",
                                    .events = h->events,
                                    .n_events = h->n_events};
    struct ch_watch_batch *b;
    if (h->n_events == 0)
        return CONFHUB_OK;
    if (!ch_array_grow((void **)&h->batches, &h->cap, h->n + 1, sizeof(*h->batches)))
        return CONFHUB_ENOMEM;
    b = ch_watch_batch_new(&rev);
    if (!b)
        return CONFHUB_ENOMEM;
    h->batches[h->n++] = b;
    history_drop_rev(h);
    return CONFHUB_OK;
}

static enum confhub_status history_event(void *userdata, const struct ch_history_event *ev,
                                         struct ch_err *err)
{
    struct history_read *h = userdata;
    struct ch_store_event *out;
    if (h->n_events && ev->revision != h->rev && history_flush_rev(h) != CONFHUB_OK)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot read history: out of memory");
    if (!ch_array_grow((void **)&h->events, &h->cap_events, h->n_events + 1, sizeof(*h->events)))
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot read history: out of memory");
    if (h->n_events == 0) {
        h->rev = ev->revision;
        h->ts_ms = ev->ts_ms;
        h->actor = ch_strdup(ev->actor ? ev->actor : "");
        h->remote = ch_strdup(ev->remote ? ev->remote : "");
    }
    out = &h->events[h->n_events++];
    memset(out, 0, sizeof(*out));
    out->op = ev->op;
    out->ns = ch_strdup(ev->ns);
    out->section = ch_strdup(ev->section);
    out->key = ch_strdup(ev->key);
    out->old_value = ev->old_value ? ch_strdup(ev->old_value) : NULL;
    out->new_value = ev->new_value ? ch_strdup(ev->new_value) : NULL;
    h->seen++;
    if (!h->actor || !h->remote || !out->ns || !out->section || !out->key ||
        (ev->old_value && !out->old_value) || (ev->new_value && !out->new_value))
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot read history: out of memory");
    return CONFHUB_OK;
}

enum confhub_status ch_watch_history_read(struct ch_store *store, const struct ch_watch_filter *f,
                                          int64_t from, int64_t to, size_t max_events,
                                          struct ch_watch_batch ***batches, size_t *n,
                                          int64_t *upto, struct ch_err *err)
{
    struct history_read h = {0};
    struct ch_history_filter hf = {0};
    enum confhub_status rc = CONFHUB_OK;

    *batches = NULL;
    *n = 0;
    *upto = to;
    if (to <= from)
        return CONFHUB_OK;
    hf.scope = (struct ch_store_scope){f->ns, f->section, f->key};
    hf.section_prefix = f->prefix;
    hf.from_rev = from + 1;
    hf.to_rev = to;
    hf.op = -1;
    hf.limit = max_events ? max_events : 1;
    rc = ch_store_history(store, &hf, history_event, &h, NULL, err);
    if (rc == CONFHUB_OK && h.seen == hf.limit) {
        /* The last revision may be cut short: read it again, whole, unless it is not the
         * only one, in which case it is left for the next read. */
        if (h.n == 0) {
            int64_t last = h.rev;
            history_drop_rev(&h);
            hf.from_rev = hf.to_rev = last;
            hf.limit = 0;
            rc = ch_store_history(store, &hf, history_event, &h, NULL, err);
            if (rc == CONFHUB_OK)
                rc = history_flush_rev(&h);
            *upto = last;
        } else {
            *upto = h.rev - 1;
            history_drop_rev(&h);
        }
    } else if (rc == CONFHUB_OK) {
        rc = history_flush_rev(&h);
    }
    if (rc == CONFHUB_ENOMEM && err->code == CONFHUB_OK)
        ch_err_set(err, CONFHUB_ENOMEM, "cannot read history: out of memory");
    history_drop_rev(&h);
    ch_free(h.events);
    if (rc != CONFHUB_OK) {
        ch_watch_batches_free(h.batches, h.n);
        return rc;
    }
    *batches = h.batches;
    *n = h.n;
    return CONFHUB_OK;
}

void ch_watch_batches_free(struct ch_watch_batch **batches, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ch_watch_batch_unref(batches[i]);
    ch_free(batches);
}

/* ---------------------------------------------------------------- the hub */

struct sink {
    ch_watch_sink_fn *fn;
    void *userdata;
};

struct ch_watch_hub {
    pthread_mutex_t lock; /* guards sinks; held while publishing, so sinks see batches in order */
    struct sink *sinks;
    size_t n_sinks;
};

enum confhub_status ch_watch_hub_new(struct ch_watch_hub **out, struct ch_err *err)
{
    struct ch_watch_hub *hub = ch_calloc(1, sizeof(*hub));
    if (!hub)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot create the watch hub: out of memory");
    pthread_mutex_init(&hub->lock, NULL);
    *out = hub;
    return CONFHUB_OK;
}

bool ch_watch_hub_add_sink(struct ch_watch_hub *hub, ch_watch_sink_fn *fn, void *userdata,
                           int64_t (*revision_now)(void *arg), void *arg, int64_t *rev_out)
{
    bool ok = false;
    pthread_mutex_lock(&hub->lock);
    struct sink *s = ch_realloc(hub->sinks, (hub->n_sinks + 1) * sizeof(*s));
    if (s) {
        hub->sinks = s;
        s[hub->n_sinks++] = (struct sink){fn, userdata};
        *rev_out = revision_now(arg);
        ok = true;
    }
    pthread_mutex_unlock(&hub->lock);
    return ok;
}

void ch_watch_hub_publish(void *arg, const struct ch_store_revision *revs, size_t n_revs)
{
    struct ch_watch_hub *hub = arg;
    pthread_mutex_lock(&hub->lock);
    for (size_t i = 0; i < n_revs; i++) {
        struct ch_watch_batch *b = ch_watch_batch_new(&revs[i]);
        if (!b)
            ch_log(CH_LOG_ERROR, "watch",
                   "revision %" PRId64 " not delivered to watchers: out of memory; they are "
                   "closed and must resume",
                   revs[i].revision);
        for (size_t k = 0; k < hub->n_sinks; k++) {
            if (b)
                ch_watch_batch_ref(b);
            hub->sinks[k].fn(hub->sinks[k].userdata, revs[i].revision, b);
        }
        ch_watch_batch_unref(b);
    }
    pthread_mutex_unlock(&hub->lock);
}

void ch_watch_hub_free(struct ch_watch_hub *hub)
{
    if (!hub)
        return;
    pthread_mutex_destroy(&hub->lock);
    ch_free(hub->sinks);
    ch_free(hub);
}
