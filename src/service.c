/* SPDX-License-Identifier: MIT */
/*
 * service.c: the writer thread and the write operations (see service.h).
 *
 * Each write is turned into a list of key changes first (struct change: set a key to a value,
 * or delete it), checked against the state as the batch has changed it so far. Only a write
 * whose whole list is valid touches the model, so a rejected write leaves no trace, and a
 * write whose list is empty is a no-op without a revision. Allocation failure while applying
 * fails the whole batch (the model batch is aborted), the same as a failed commit.
 */
#include "service.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/json_util.h"
#include "common/log.h"
#include "common/names.h"
#include "common/timeutil.h"

#define MAX_BATCH       4096 /* writes taken from the queue per group commit */
#define RECLAIM_WAIT_MS 20   /* how often the idle writer retries freeing replaced nodes */

struct ch_service {
    struct ch_store *store;         /* writer thread only, after start */
    struct ch_model *model;         /* writer changes it; readers read it */
    const struct ch_limits *limits; /* read-only */
    int64_t loaded_rev;

    pthread_t thread;
    bool started;
    pthread_mutex_t lock; /* guards the queue fields and stopping */
    pthread_cond_t wake;
    struct ch_write *head, *tail;
    bool stopping;
};

/* One key change a write makes. */
struct change {
    const char *section;
    const char *key;
    char *value; /* compact JSON, owned; NULL to delete the key */
    size_t value_len;
};

struct change_list {
    struct change *items;
    size_t n, cap;
};

/* Everything one group commit collects for the store; freed after it. */
struct batch {
    int64_t next_rev; /* the revision the next changing write gets */
    struct ch_store_revision *revs;
    size_t n_revs, cap_revs;
    struct ch_store_event *events;
    size_t n_events, cap_events;
    size_t *rev_first_event; /* index in events of each revision's first event */
    size_t cap_first;
    char **owned; /* strings the events point to */
    size_t n_owned, cap_owned;
};

static bool grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    void *p = ch_realloc(*arr, n * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = n;
    return true;
}

/* ---------------------------------------------------------------- change lists */

static enum confhub_status add_change(struct change_list *l, const char *section, const char *key,
                                      char *value, size_t value_len)
{
    if (!grow((void **)&l->items, &l->cap, l->n + 1, sizeof(*l->items))) {
        ch_free(value);
        return CONFHUB_ENOMEM;
    }
    l->items[l->n++] = (struct change){section, key, value, value_len};
    return CONFHUB_OK;
}

static void free_changes(struct change_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        ch_free(l->items[i].value);
    ch_free(l->items);
}

/* True when the stored text and the new value are the same JSON value. Object member order
 * does not matter, so a write that only reorders members is a no-op. */
static bool same_value(const char *old_text, size_t old_len, const char *text, size_t len,
                       const json_t *value)
{
    if (old_len == len && memcmp(old_text, text, len) == 0)
        return true;
    if (!json_is_object(value) && !json_is_array(value))
        return false;
    json_t *old = json_loadb(old_text, old_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    bool eq = old && json_equal(old, (json_t *)value);
    json_decref(old);
    return eq;
}

/* Serialises value for key and checks it against the value limit. */
static enum confhub_status dump_value(const struct ch_limits *limits, const char *section,
                                      const char *key, const json_t *value, char **out,
                                      size_t *len_out, struct ch_err *err)
{
    size_t len = 0;
    char *text = ch_json_dump(value, &len);
    if (!text)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot serialise value: out of memory");
    if (len > limits->max_value_bytes) {
        ch_free(text);
        if (strcmp(key, CH_NAMES_SCALAR_KEY) == 0)
            return ch_err_set(err, CONFHUB_ETOOBIG,
                              "value of section '%s' is %zu bytes, over the limit of %zu "
                              "(max-value-bytes)",
                              section, len, limits->max_value_bytes);
        return ch_err_set(err, CONFHUB_ETOOBIG,
                          "value of '%s/%s' is %zu bytes, over the limit of %zu (max-value-bytes)",
                          section, key, len, limits->max_value_bytes);
    }
    *out = text;
    *len_out = len;
    return CONFHUB_OK;
}

/* Adds a change that sets section/key to value unless it already holds that value. */
static enum confhub_status plan_set(const struct ch_limits *limits, const struct ch_section *sec,
                                    const char *section, const char *key, const json_t *value,
                                    struct change_list *l, struct ch_err *err)
{
    char *text = NULL;
    size_t len = 0;
    enum confhub_status rc = dump_value(limits, section, key, value, &text, &len, err);
    if (rc != CONFHUB_OK)
        return rc;
    const struct ch_entry *cur = sec ? ch_section_find_entry(sec, key, strlen(key)) : NULL;
    if (cur) {
        struct ch_entry_info info;
        ch_entry_info(cur, &info);
        if (same_value(info.value, info.value_len, text, len, value)) {
            ch_free(text);
            return CONFHUB_OK;
        }
    }
    rc = add_change(l, section, key, text, len);
    if (rc != CONFHUB_OK)
        return ch_err_set(err, rc, "cannot plan write: out of memory");
    return CONFHUB_OK;
}

/* Deletes every key of sec except `keep` (may be NULL) and, for an object value, the keys it
 * still has. */
static enum confhub_status plan_prune(const struct ch_section *sec, const char *section,
                                      const json_t *object, const char *keep, struct change_list *l,
                                      struct ch_err *err)
{
    const struct ch_entry **entries = NULL;
    size_t n = 0;
    if (!sec)
        return CONFHUB_OK;
    if (ch_section_sorted_entries(sec, &entries, &n) != CONFHUB_OK)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot plan write: out of memory");
    for (size_t i = 0; i < n; i++) {
        struct ch_entry_info info;
        ch_entry_info(entries[i], &info);
        if (keep && strcmp(info.key, keep) == 0)
            continue;
        if (object && json_object_get(object, info.key))
            continue;
        if (add_change(l, section, info.key, NULL, 0) != CONFHUB_OK) {
            ch_free(entries);
            return ch_err_set(err, CONFHUB_ENOMEM, "cannot plan write: out of memory");
        }
    }
    ch_free(entries);
    return CONFHUB_OK;
}

/*
 * Plans replacing a section with value. A non-empty object becomes one key per member; any
 * other value (a list, a scalar, {}) becomes the single reserved "@" entry.
 */
static enum confhub_status plan_section(const struct ch_limits *limits,
                                        const struct ch_section *sec, const char *section,
                                        const json_t *value, struct change_list *l,
                                        struct ch_err *err)
{
    enum confhub_status rc;
    if (!json_is_object(value) || json_object_size(value) == 0) {
        rc = plan_prune(sec, section, NULL, CH_NAMES_SCALAR_KEY, l, err);
        if (rc == CONFHUB_OK)
            rc = plan_set(limits, sec, section, CH_NAMES_SCALAR_KEY, value, l, err);
        return rc;
    }
    const char *key;
    json_t *member;
    json_object_foreach((json_t *)value, key, member)
    {
        char what[300];
        snprintf(what, sizeof(what), "key in section '%s':", section);
        rc = ch_names_check(what, key, strlen(key), limits->max_name_bytes, err);
        if (rc != CONFHUB_OK)
            return rc;
        rc = plan_set(limits, sec, section, key, member, l, err);
        if (rc != CONFHUB_OK)
            return rc;
    }
    return plan_prune(sec, section, value, NULL, l, err);
}

/* ---------------------------------------------------------------- conditions */

static enum confhub_status check_conditions(const struct ch_write *w, bool exists, int64_t mod_rev,
                                            const char *what, struct ch_err *err)
{
    if (w->if_none_match && exists) {
        err->mod_rev = mod_rev;
        return ch_err_set(err, CONFHUB_ECONFLICT,
                          "%s already exists (mod_revision %lld); If-None-Match: * allows "
                          "creating only",
                          what, (long long)mod_rev);
    }
    if (w->if_match >= 0 && (!exists || mod_rev != w->if_match)) {
        err->mod_rev = exists ? mod_rev : 0;
        if (!exists)
            return ch_err_set(err, CONFHUB_ECONFLICT,
                              "%s does not exist; If-Match expected mod_revision %lld", what,
                              (long long)w->if_match);
        return ch_err_set(err, CONFHUB_ECONFLICT,
                          "%s has mod_revision %lld; If-Match expected %lld", what,
                          (long long)mod_rev, (long long)w->if_match);
    }
    return CONFHUB_OK;
}

/* ---------------------------------------------------------------- planning one write */

/* Fills l with the changes w makes to state, or returns why w is refused. */
static enum confhub_status plan_write(const struct ch_limits *limits, const struct ch_state *st,
                                      struct ch_write *w, struct change_list *l)
{
    struct ch_err *err = &w->err;
    const struct ch_ns *ns = ch_state_find_ns(st, w->ns, strlen(w->ns));
    const struct ch_section *sec =
        ns && w->section ? ch_ns_find_section(ns, w->section, strlen(w->section)) : NULL;
    const struct ch_entry *entry =
        sec && w->key ? ch_section_find_entry(sec, w->key, strlen(w->key)) : NULL;
    struct ch_entry_info info = {0};
    char what[900];
    enum confhub_status rc;

    if (entry)
        ch_entry_info(entry, &info);
    switch (w->op) {
    case CH_WRITE_PUT_KEY: {
        snprintf(what, sizeof(what), "key '%s/%s/%s'", w->ns, w->section, w->key);
        rc = check_conditions(w, entry != NULL, info.mod_rev, what, err);
        if (rc != CONFHUB_OK)
            return rc;
        w->created = entry == NULL;
        const struct ch_entry *scalar = sec ? ch_section_scalar(sec) : NULL;
        if (scalar) {
            struct ch_entry_info s;
            ch_entry_info(scalar, &s);
            if (strcmp(s.value, "{}") != 0)
                return ch_err_set(err, CONFHUB_EINVAL,
                                  "section '%s/%s' holds a list or scalar value, not keys; PUT "
                                  "the whole section to change it",
                                  w->ns, w->section);
            /* An empty-object section gains its first key: "@" goes in the same revision. */
            if (add_change(l, w->section, CH_NAMES_SCALAR_KEY, NULL, 0) != CONFHUB_OK)
                return ch_err_set(err, CONFHUB_ENOMEM, "cannot plan write: out of memory");
        }
        return plan_set(limits, sec, w->section, w->key, w->value, l, err);
    }
    case CH_WRITE_DELETE_KEY:
        snprintf(what, sizeof(what), "key '%s/%s/%s'", w->ns, w->section, w->key);
        if (!entry && w->if_match < 0)
            return ch_err_set(err, CONFHUB_ENOTFOUND, "%s not found", what);
        rc = check_conditions(w, entry != NULL, info.mod_rev, what, err);
        if (rc != CONFHUB_OK)
            return rc;
        if (add_change(l, w->section, w->key, NULL, 0) != CONFHUB_OK)
            return ch_err_set(err, CONFHUB_ENOMEM, "cannot plan write: out of memory");
        return CONFHUB_OK;
    case CH_WRITE_PUT_SECTION:
        snprintf(what, sizeof(what), "section '%s/%s'", w->ns, w->section);
        rc = check_conditions(w, sec != NULL, sec ? ch_section_mod_rev(sec) : 0, what, err);
        if (rc != CONFHUB_OK)
            return rc;
        w->created = sec == NULL;
        return plan_section(limits, sec, w->section, w->value, l, err);
    case CH_WRITE_DELETE_SECTION:
        snprintf(what, sizeof(what), "section '%s/%s'", w->ns, w->section);
        if (!sec && w->if_match < 0)
            return ch_err_set(err, CONFHUB_ENOTFOUND, "%s not found", what);
        rc = check_conditions(w, sec != NULL, sec ? ch_section_mod_rev(sec) : 0, what, err);
        if (rc != CONFHUB_OK)
            return rc;
        return plan_prune(sec, w->section, NULL, NULL, l, err);
    case CH_WRITE_PUT_NS:
    case CH_WRITE_DELETE_NS:
        break;
    }
    return CONFHUB_EINVAL; /* namespace ops are planned by plan_ns() */
}

/* Plans PUT or DELETE of a whole namespace. */
static enum confhub_status plan_ns(const struct ch_limits *limits, const struct ch_state *st,
                                   struct ch_write *w, struct change_list *l)
{
    struct ch_err *err = &w->err;
    const struct ch_ns *ns = ch_state_find_ns(st, w->ns, strlen(w->ns));
    const struct ch_section **secs = NULL;
    size_t n = 0;
    char what[300];
    enum confhub_status rc;

    snprintf(what, sizeof(what), "namespace '%s'", w->ns);
    if (w->op == CH_WRITE_DELETE_NS && !ns && w->if_match < 0)
        return ch_err_set(err, CONFHUB_ENOTFOUND, "%s not found", what);
    rc = check_conditions(w, ns != NULL, ns ? ch_ns_mod_rev(ns) : 0, what, err);
    if (rc != CONFHUB_OK)
        return rc;
    w->created = ns == NULL;
    if (w->op == CH_WRITE_PUT_NS) {
        const char *name;
        json_t *value;
        if (!json_is_object(w->value))
            return ch_err_set(err, CONFHUB_EINVAL,
                              "a namespace document must be a JSON object of sections, not %s",
                              json_is_array(w->value) ? "an array" : "a scalar");
        json_object_foreach(w->value, name, value)
        {
            rc = ch_names_check("section", name, strlen(name), limits->max_name_bytes, err);
            if (rc != CONFHUB_OK)
                return rc;
            const struct ch_section *sec = ns ? ch_ns_find_section(ns, name, strlen(name)) : NULL;
            rc = plan_section(limits, sec, name, value, l, err);
            if (rc != CONFHUB_OK)
                return rc;
        }
    }
    if (!ns)
        return CONFHUB_OK;
    if (ch_ns_sorted_sections(ns, &secs, &n) != CONFHUB_OK)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot plan write: out of memory");
    for (size_t i = 0; i < n && rc == CONFHUB_OK; i++) {
        const char *name = ch_section_name(secs[i]);
        if (w->op == CH_WRITE_PUT_NS && json_object_get(w->value, name))
            continue;
        rc = plan_prune(secs[i], name, NULL, NULL, l, err);
    }
    ch_free(secs);
    return rc;
}

/* ---------------------------------------------------------------- applying a batch */

static char *own(struct batch *b, const char *s)
{
    char *copy = ch_strdup(s);
    if (!copy || !grow((void **)&b->owned, &b->cap_owned, b->n_owned + 1, sizeof(*b->owned))) {
        ch_free(copy);
        return NULL;
    }
    b->owned[b->n_owned++] = copy;
    return copy;
}

/* Applies one planned write to the model batch as revision rev and records its events. */
static enum confhub_status apply_changes(struct ch_service *svc, struct batch *b,
                                         const struct ch_write *w, const struct change_list *l,
                                         int64_t rev)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct change *c = &l->items[i];
        const struct ch_state *st = ch_model_batch_state(svc->model);
        const struct ch_ns *ns = ch_state_find_ns(st, w->ns, strlen(w->ns));
        const struct ch_section *sec =
            ns ? ch_ns_find_section(ns, c->section, strlen(c->section)) : NULL;
        const struct ch_entry *old =
            sec ? ch_section_find_entry(sec, c->key, strlen(c->key)) : NULL;
        struct ch_entry_info before = {0}, after = {0};
        struct ch_store_event ev = {0};
        enum confhub_status rc;

        if (!grow((void **)&b->events, &b->cap_events, b->n_events + 1, sizeof(*b->events)))
            return CONFHUB_ENOMEM;
        if (old) {
            ch_entry_info(old, &before);
            ev.old_value = own(b, before.value);
            if (!ev.old_value)
                return CONFHUB_ENOMEM;
        }
        ev.ns = own(b, w->ns);
        ev.section = own(b, c->section);
        ev.key = own(b, c->key);
        if (!ev.ns || !ev.section || !ev.key)
            return CONFHUB_ENOMEM;
        if (c->value) {
            ev.op = CH_STORE_SET;
            ev.new_value = own(b, c->value);
            if (!ev.new_value)
                return CONFHUB_ENOMEM;
            rc = ch_model_batch_set(svc->model, w->ns, c->section, c->key, c->value, c->value_len,
                                    rev);
            if (rc != CONFHUB_OK)
                return rc;
            st = ch_model_batch_state(svc->model);
            ch_entry_info(
                ch_section_find_entry(ch_ns_find_section(ch_state_find_ns(st, w->ns, strlen(w->ns)),
                                                         c->section, strlen(c->section)),
                                      c->key, strlen(c->key)),
                &after);
            ev.create_rev = after.create_rev;
            ev.mod_rev = after.mod_rev;
            ev.version = after.version;
        } else {
            ev.op = CH_STORE_DELETE;
            rc = ch_model_batch_delete(svc->model, w->ns, c->section, c->key, rev);
            if (rc != CONFHUB_OK)
                return rc;
        }
        b->events[b->n_events++] = ev;
    }
    return CONFHUB_OK;
}

static enum confhub_status record_revision(struct batch *b, const struct ch_write *w, int64_t rev,
                                           size_t first_event)
{
    if (!grow((void **)&b->revs, &b->cap_revs, b->n_revs + 1, sizeof(*b->revs)) ||
        !grow((void **)&b->rev_first_event, &b->cap_first, b->n_revs + 1, sizeof(size_t)))
        return CONFHUB_ENOMEM;
    b->revs[b->n_revs] = (struct ch_store_revision){
        .revision = rev,
        .ts_ms = ch_time_now_ms(),
        .actor = w->actor[0] ? w->actor : "anonymous",
        .remote = w->remote,
        .n_events = b->n_events - first_event,
    };
    b->rev_first_event[b->n_revs] = first_event;
    b->n_revs++;
    return CONFHUB_OK;
}

/* Fills the write's result from the batch state after it was applied (or found a no-op). */
static void fill_result(struct ch_service *svc, struct ch_write *w, int64_t rev)
{
    const struct ch_state *st = ch_model_batch_state(svc->model);
    const struct ch_ns *ns = ch_state_find_ns(st, w->ns, strlen(w->ns));
    const struct ch_section *sec =
        ns && w->section ? ch_ns_find_section(ns, w->section, strlen(w->section)) : NULL;
    w->revision = rev;
    w->mod_rev = 0;
    w->version = 0;
    if (w->key) {
        const struct ch_entry *e = sec ? ch_section_find_entry(sec, w->key, strlen(w->key)) : NULL;
        if (e) {
            struct ch_entry_info info;
            ch_entry_info(e, &info);
            w->mod_rev = info.mod_rev;
            w->version = info.version;
        }
    } else if (w->section) {
        w->mod_rev = sec ? ch_section_mod_rev(sec) : 0;
    } else {
        w->mod_rev = ns ? ch_ns_mod_rev(ns) : 0;
    }
}

/* Plans and applies one write inside the batch. Returns CONFHUB_ENOMEM only when the whole
 * batch must be abandoned; a refused write gets its status in w->status. */
static enum confhub_status run_write(struct ch_service *svc, struct batch *b, struct ch_write *w)
{
    struct change_list l = {0};
    const struct ch_state *st = ch_model_batch_state(svc->model);
    bool ns_op = w->op == CH_WRITE_PUT_NS || w->op == CH_WRITE_DELETE_NS;
    enum confhub_status rc =
        ns_op ? plan_ns(svc->limits, st, w, &l) : plan_write(svc->limits, st, w, &l);
    w->status = rc;
    if (rc != CONFHUB_OK) {
        free_changes(&l);
        return rc == CONFHUB_ENOMEM ? rc : CONFHUB_OK;
    }
    w->changed = l.n > 0;
    if (w->changed) {
        int64_t rev = b->next_rev++;
        size_t first = b->n_events;
        rc = apply_changes(svc, b, w, &l, rev);
        if (rc == CONFHUB_OK)
            rc = record_revision(b, w, rev, first);
        if (rc != CONFHUB_OK) {
            free_changes(&l);
            return rc;
        }
        /* Cannot fail: apply_changes made the batch root writable. */
        (void)ch_model_batch_set_revision(svc->model, rev);
        fill_result(svc, w, rev);
    } else {
        fill_result(svc, w, ch_state_revision(st));
        w->created = false;
    }
    free_changes(&l);
    return CONFHUB_OK;
}

static void free_batch(struct batch *b)
{
    for (size_t i = 0; i < b->n_owned; i++)
        ch_free(b->owned[i]);
    ch_free(b->owned);
    ch_free(b->revs);
    ch_free(b->events);
    ch_free(b->rev_first_event);
    memset(b, 0, sizeof(*b));
}

static void fail_all(struct ch_write *list, enum confhub_status code, const char *msg)
{
    for (struct ch_write *w = list; w; w = w->next) {
        w->changed = false;
        w->created = false;
        ch_err_clear(&w->err);
        w->status = ch_err_set(&w->err, code, "%s", msg);
    }
}

/* Runs one group commit over the list of writes (linked through next). */
static void process_batch(struct ch_service *svc, struct ch_write *list)
{
    struct batch b = {0};
    struct ch_err err;
    enum confhub_status rc = CONFHUB_OK;

    ch_err_clear(&err);
    ch_model_batch_begin(svc->model);
    b.next_rev = ch_state_revision(ch_model_batch_state(svc->model)) + 1;
    for (struct ch_write *w = list; w && rc == CONFHUB_OK; w = w->next)
        rc = run_write(svc, &b, w);
    if (rc != CONFHUB_OK) {
        ch_err_set(&err, CONFHUB_EUNAVAIL, "write failed: out of memory; nothing was changed");
    } else if (b.n_revs > 0) {
        for (size_t i = 0; i < b.n_revs; i++)
            b.revs[i].events = b.events + b.rev_first_event[i];
        rc = ch_store_commit(svc->store, b.revs, b.n_revs, &err);
        if (rc != CONFHUB_OK) {
            ch_log(CH_LOG_ERROR, "service", "commit of %zu revisions failed: %s", b.n_revs,
                   err.msg);
            char msg[600];
            snprintf(msg, sizeof(msg), "write not committed: %s", err.msg);
            ch_err_set(&err, CONFHUB_EUNAVAIL, "%s", msg);
        }
    }
    if (rc == CONFHUB_OK) {
        ch_model_batch_commit(svc->model);
    } else {
        ch_model_batch_abort(svc->model);
        fail_all(list, CONFHUB_EUNAVAIL, err.msg);
    }
    free_batch(&b);
    while (list) {
        struct ch_write *next = list->next;
        list->next = NULL;
        list->done(list); /* may free list */
        list = next;
    }
}

/* ---------------------------------------------------------------- the writer thread */

static void *writer_main(void *arg)
{
    struct ch_service *svc = arg;
    for (;;) {
        struct ch_write *list = NULL, **tail = &list;
        size_t n = 0;

        pthread_mutex_lock(&svc->lock);
        while (!svc->head && !svc->stopping) {
            if (ch_model_reclaim_pending(svc->model)) {
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_nsec += RECLAIM_WAIT_MS * 1000000L;
                if (until.tv_nsec >= 1000000000L) {
                    until.tv_sec++;
                    until.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&svc->wake, &svc->lock, &until);
                if (!svc->head) {
                    pthread_mutex_unlock(&svc->lock);
                    ch_model_reclaim(svc->model);
                    pthread_mutex_lock(&svc->lock);
                }
            } else {
                pthread_cond_wait(&svc->wake, &svc->lock);
            }
        }
        if (!svc->head && svc->stopping) {
            pthread_mutex_unlock(&svc->lock);
            break;
        }
        while (svc->head && n < MAX_BATCH) {
            *tail = svc->head;
            svc->head = svc->head->next;
            tail = &(*tail)->next;
            n++;
        }
        *tail = NULL;
        if (!svc->head)
            svc->tail = NULL;
        pthread_mutex_unlock(&svc->lock);
        process_batch(svc, list);
    }
    ch_model_reclaim(svc->model);
    return NULL;
}

/* ---------------------------------------------------------------- life cycle */

static enum confhub_status load_entry(void *userdata, const struct ch_store_entry *e,
                                      struct ch_err *err)
{
    struct ch_model *model = userdata;
    if (ch_model_batch_load(model, e->ns, e->section, e->key, e->value, e->value_len, e->create_rev,
                            e->mod_rev, e->version) != CONFHUB_OK)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot load '%s/%s/%s': out of memory", e->ns,
                          e->section, e->key);
    return CONFHUB_OK;
}

enum confhub_status ch_service_new(struct ch_store *store, struct ch_model *model,
                                   const struct ch_limits *limits, struct ch_service **out,
                                   struct ch_err *err)
{
    struct ch_service *svc = ch_calloc(1, sizeof(*svc));
    int64_t rev = 0;
    enum confhub_status rc;

    if (!svc)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot create service: out of memory");
    svc->store = store;
    svc->model = model;
    svc->limits = limits;
    ch_model_batch_begin(model);
    rc = ch_store_load(store, load_entry, model, &rev, err);
    /* A store whose keys were all deleted loads nothing, so this may be the batch's first
     * change: the root copy can fail, and the model must not start behind the store. */
    if (rc == CONFHUB_OK && ch_model_batch_set_revision(model, rev) != CONFHUB_OK)
        rc = ch_err_set(err, CONFHUB_ENOMEM, "cannot load the store: out of memory");
    if (rc != CONFHUB_OK) {
        ch_model_batch_abort(model);
        ch_free(svc);
        return rc;
    }
    ch_model_batch_commit(model);
    svc->loaded_rev = rev;
    pthread_mutex_init(&svc->lock, NULL);
    pthread_cond_init(&svc->wake, NULL);
    *out = svc;
    return CONFHUB_OK;
}

enum confhub_status ch_service_start(struct ch_service *svc, struct ch_err *err)
{
    int rc = pthread_create(&svc->thread, NULL, writer_main, svc);
    if (rc != 0)
        return ch_err_set(err, CONFHUB_EIO, "cannot start the writer thread: %s", strerror(rc));
    svc->started = true;
    return CONFHUB_OK;
}

enum confhub_status ch_service_submit(struct ch_service *svc, struct ch_write *w)
{
    w->next = NULL;
    pthread_mutex_lock(&svc->lock);
    if (svc->stopping || !svc->started) {
        pthread_mutex_unlock(&svc->lock);
        return CONFHUB_EUNAVAIL;
    }
    if (svc->tail)
        svc->tail->next = w;
    else
        svc->head = w;
    svc->tail = w;
    pthread_cond_signal(&svc->wake);
    pthread_mutex_unlock(&svc->lock);
    return CONFHUB_OK;
}

struct sync_wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
};

static void sync_done(struct ch_write *w)
{
    struct sync_wait *s = w->userdata;
    pthread_mutex_lock(&s->lock);
    s->done = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

enum confhub_status ch_service_write_sync(struct ch_service *svc, struct ch_write *w)
{
    struct sync_wait s = {.done = false};
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.cond, NULL);
    w->done = sync_done;
    w->userdata = &s;
    enum confhub_status rc = ch_service_submit(svc, w);
    if (rc == CONFHUB_OK) {
        pthread_mutex_lock(&s.lock);
        while (!s.done)
            pthread_cond_wait(&s.cond, &s.lock);
        pthread_mutex_unlock(&s.lock);
        rc = w->status;
    } else {
        w->status = ch_err_set(&w->err, rc, "the service is not accepting writes");
    }
    pthread_cond_destroy(&s.cond);
    pthread_mutex_destroy(&s.lock);
    return rc;
}

void ch_service_stop(struct ch_service *svc)
{
    if (!svc || !svc->started)
        return;
    pthread_mutex_lock(&svc->lock);
    svc->stopping = true;
    pthread_cond_signal(&svc->wake);
    pthread_mutex_unlock(&svc->lock);
    pthread_join(svc->thread, NULL);
    svc->started = false;
}

void ch_service_free(struct ch_service *svc)
{
    if (!svc)
        return;
    ch_service_stop(svc);
    pthread_cond_destroy(&svc->wake);
    pthread_mutex_destroy(&svc->lock);
    ch_free(svc);
}

int64_t ch_service_loaded_revision(const struct ch_service *svc)
{
    return svc->loaded_rev;
}

struct ch_write *ch_write_new(enum ch_write_op op)
{
    struct ch_write *w = ch_calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->op = op;
    w->if_match = -1;
    ch_err_clear(&w->err);
    return w;
}

void ch_write_free(struct ch_write *w)
{
    if (!w)
        return;
    ch_free(w->ns);
    ch_free(w->section);
    ch_free(w->key);
    json_decref(w->value);
    ch_free(w);
}
