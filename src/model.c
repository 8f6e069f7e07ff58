/* SPDX-License-Identifier: MIT */
/*
 * model.c: the in-memory configuration (see model.h for the threading contract).
 *
 * Nodes: every namespace, section and entry starts with a struct node header (name, hash,
 * the batch generation that created it, mod_rev). Children live in an open-addressing hash
 * table (struct map, linear probing, backward-shift deletion) of node pointers.
 *
 * Copy-on-write inside a batch: a node whose gen equals the model's current batch generation
 * was created in this batch and is not visible to readers, so the writer changes it in place.
 * Any other node is published: the writer copies it (shallowly: the child table is copied, the
 * children are shared) and puts the old one on the batch's `replaced` list. Unlinking a node
 * releases it and all its descendants: unpublished ones are freed at once, published ones go on
 * the `replaced` list. So each published node enters that list exactly once, and commit hands
 * the list to epoch-based reclamation; abort frees what the batch built and forgets the list.
 *
 * Epoch-based reclamation: readers publish the global epoch in their slot while they read and
 * 0 when they are done. A node retired at epoch E (the epoch before the root swap's increment)
 * can be freed once every slot is 0 or greater than E: a reader that saw the old root entered
 * with an epoch <= E and has not left yet.
 */
#include "model.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/names.h"

enum node_kind { NODE_ENTRY, NODE_SECTION, NODE_NS, NODE_STATE };

struct node {
    const char *name; /* points into the node's own allocation; "" for the state */
    size_t name_len;
    uint64_t hash;
    uint64_t gen;    /* batch generation that created this node */
    int64_t mod_rev; /* last revision that changed this node or anything below it */
    enum node_kind kind;
};

struct map {
    struct node **slots; /* cap slots, NULL when empty; owned */
    size_t cap;          /* 0 or a power of two */
    size_t len;
};

struct ch_entry {
    struct node hdr;
    int64_t create_rev;
    int64_t version;
    size_t value_len;
    const char *value; /* compact JSON, NUL-terminated, in the same allocation */
};

struct ch_section {
    struct node hdr;
    struct map entries;
    _Atomic(struct ch_blob *) json; /* lazily built serialisation; owned */
};

struct ch_ns {
    struct node hdr;
    struct map sections;
    size_t n_keys;
    _Atomic(struct ch_blob *) json; /* lazily built document; owned */
};

struct ch_state {
    struct node hdr;
    struct map namespaces;
    size_t n_keys;
    int64_t revision;
};

struct retired {
    struct node *node;
    uint64_t epoch; /* freeable once every reader slot is 0 or > epoch */
};

struct reader_slot {
    _Atomic uint64_t epoch; /* 0 when outside a read section */
    char pad[64 - sizeof(uint64_t)];
};

struct ch_model {
    _Atomic(struct ch_state *) published; /* what readers see */
    _Atomic int64_t published_rev;        /* its revision, readable without a read section */
    _Atomic uint64_t epoch;               /* global epoch, starts at 1 */
    unsigned n_readers;
    struct reader_slot slots[CH_MODEL_MAX_READERS];

    /* Writer-only fields. */
    uint64_t gen;           /* current batch generation */
    struct ch_state *batch; /* the batch's copy of the root; NULL until the first change */
    struct node **replaced; /* published nodes the batch unlinked or copied */
    size_t n_replaced, cap_replaced;
    struct retired *retired; /* committed replacements waiting for readers */
    size_t n_retired, cap_retired;
};

/* ---------------------------------------------------------------- hashing and the map */

static uint64_t hash_name(const char *s, size_t len)
{
    /* FNV-1a; names are short and bounded by the name-length limit (docs/decisions.md). */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h ^ (h >> 29);
}

static bool node_is(const struct node *n, uint64_t hash, const char *name, size_t len)
{
    return n->hash == hash && n->name_len == len && memcmp(n->name, name, len) == 0;
}

static size_t map_find_slot(const struct map *m, uint64_t hash, const char *name, size_t len)
{
    size_t mask = m->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        struct node *n = m->slots[i];
        if (!n || node_is(n, hash, name, len))
            return i;
    }
}

static struct node *map_get(const struct map *m, uint64_t hash, const char *name, size_t len)
{
    if (m->cap == 0)
        return NULL;
    return m->slots[map_find_slot(m, hash, name, len)];
}

static enum confhub_status map_grow(struct map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 8;
    struct node **slots = ch_calloc(cap, sizeof(*slots));
    if (!slots)
        return CONFHUB_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        struct node *n = m->slots[i];
        if (!n)
            continue;
        size_t j = n->hash & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = n;
    }
    ch_free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return CONFHUB_OK;
}

/* Inserts n, or replaces the node with the same name (which never fails).
 * OUT: *old is the replaced node or NULL. */
static enum confhub_status map_put(struct map *m, struct node *n, struct node **old)
{
    size_t i = 0;
    *old = NULL;
    if (m->cap) {
        i = map_find_slot(m, n->hash, n->name, n->name_len);
        *old = m->slots[i];
    }
    if (!*old && (m->len + 1) * 4 > m->cap * 3) {
        if (map_grow(m) != CONFHUB_OK)
            return CONFHUB_ENOMEM;
        i = map_find_slot(m, n->hash, n->name, n->name_len);
    }
    if (!*old)
        m->len++;
    m->slots[i] = n;
    return CONFHUB_OK;
}

/* Removes the slot's node, shifting later members of its probe run back (no tombstones). */
static void map_remove_at(struct map *m, size_t i)
{
    size_t mask = m->cap - 1;
    m->slots[i] = NULL;
    m->len--;
    for (size_t j = (i + 1) & mask; m->slots[j]; j = (j + 1) & mask) {
        size_t home = m->slots[j]->hash & mask;
        /* Move slots[j] into the hole at i when its home is not in the cyclic range (i, j]. */
        bool home_in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!home_in_range) {
            m->slots[i] = m->slots[j];
            m->slots[j] = NULL;
            i = j;
        }
    }
}

static enum confhub_status map_copy(struct map *dst, const struct map *src)
{
    dst->cap = src->cap;
    dst->len = src->len;
    dst->slots = NULL;
    if (src->cap == 0)
        return CONFHUB_OK;
    dst->slots = ch_malloc(src->cap * sizeof(*dst->slots));
    if (!dst->slots)
        return CONFHUB_ENOMEM;
    memcpy(dst->slots, src->slots, src->cap * sizeof(*dst->slots));
    return CONFHUB_OK;
}

static int compare_nodes(const void *a, const void *b)
{
    const struct node *x = *(const struct node *const *)a;
    const struct node *y = *(const struct node *const *)b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    if (c)
        return c;
    return (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

static enum confhub_status map_sorted(const struct map *m, const void ***out, size_t *n_out)
{
    const struct node **arr = ch_malloc((m->len ? m->len : 1) * sizeof(*arr));
    size_t n = 0;
    if (!arr)
        return CONFHUB_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i])
            arr[n++] = m->slots[i];
    }
    qsort(arr, n, sizeof(*arr), compare_nodes);
    *out = (const void **)arr;
    *n_out = n;
    return CONFHUB_OK;
}

/* ---------------------------------------------------------------- node life cycle */

/* Allocates a node of `size` bytes with room for its name (and `extra` bytes) behind it. */
static void *node_alloc(size_t size, enum node_kind kind, const char *name, size_t name_len,
                        size_t extra, uint64_t hash, uint64_t gen)
{
    char *mem = ch_calloc(1, size + name_len + 1 + extra);
    if (!mem)
        return NULL;
    struct node *n = (struct node *)mem;
    char *name_copy = mem + size;
    memcpy(name_copy, name, name_len);
    name_copy[name_len] = '\0';
    n->name = name_copy;
    n->name_len = name_len;
    n->hash = hash;
    n->gen = gen;
    n->kind = kind;
    return mem;
}

/* Frees one node and what it owns, but not its children. */
static void node_free_shallow(struct node *n)
{
    switch (n->kind) {
    case NODE_ENTRY:
        break;
    case NODE_SECTION: {
        struct ch_section *s = (struct ch_section *)n;
        ch_free(s->entries.slots);
        ch_free(atomic_load(&s->json));
        break;
    }
    case NODE_NS: {
        struct ch_ns *ns = (struct ch_ns *)n;
        ch_free(ns->sections.slots);
        ch_free(atomic_load(&ns->json));
        break;
    }
    case NODE_STATE:
        ch_free(((struct ch_state *)n)->namespaces.slots);
        break;
    }
    ch_free(n);
}

static const struct map *node_children(const struct node *n)
{
    switch (n->kind) {
    case NODE_SECTION:
        return &((const struct ch_section *)n)->entries;
    case NODE_NS:
        return &((const struct ch_ns *)n)->sections;
    case NODE_STATE:
        return &((const struct ch_state *)n)->namespaces;
    case NODE_ENTRY:
        break;
    }
    return NULL;
}

/* Frees n and every descendant created at generation `gen` or later (the batch's own). */
static void node_free_unpublished(struct node *n, uint64_t gen)
{
    const struct map *kids = node_children(n);
    for (size_t i = 0; kids && i < kids->cap; i++) {
        if (kids->slots[i] && kids->slots[i]->gen >= gen)
            node_free_unpublished(kids->slots[i], gen);
    }
    node_free_shallow(n);
}

/* Frees n and its whole subtree; for ch_model_free(), when no reader is left. */
static void node_free_deep(struct node *n)
{
    const struct map *kids = node_children(n);
    for (size_t i = 0; kids && i < kids->cap; i++) {
        if (kids->slots[i])
            node_free_deep(kids->slots[i]);
    }
    node_free_shallow(n);
}

static enum confhub_status note_replaced(struct ch_model *m, struct node *n)
{
    if (m->n_replaced == m->cap_replaced) {
        size_t cap = m->cap_replaced ? m->cap_replaced * 2 : 64;
        struct node **arr = ch_realloc(m->replaced, cap * sizeof(*arr));
        if (!arr)
            return CONFHUB_ENOMEM;
        m->replaced = arr;
        m->cap_replaced = cap;
    }
    m->replaced[m->n_replaced++] = n;
    return CONFHUB_OK;
}

/* Releases a node that the batch unlinked from its tree, with everything below it. */
static enum confhub_status release(struct ch_model *m, struct node *n)
{
    const struct map *kids = node_children(n);
    for (size_t i = 0; kids && i < kids->cap; i++) {
        if (kids->slots[i] && release(m, kids->slots[i]) != CONFHUB_OK)
            return CONFHUB_ENOMEM;
    }
    if (n->gen == m->gen) {
        node_free_shallow(n);
        return CONFHUB_OK;
    }
    return note_replaced(m, n);
}

/* Returns a batch-owned copy of n (n itself when the batch already owns it). */
static struct node *make_writable(struct ch_model *m, struct node *n)
{
    if (n->gen == m->gen)
        return n;
    size_t size = n->kind == NODE_SECTION ? sizeof(struct ch_section)
                  : n->kind == NODE_NS    ? sizeof(struct ch_ns)
                                          : sizeof(struct ch_state);
    struct node *copy = node_alloc(size, n->kind, n->name, n->name_len, 0, n->hash, m->gen);
    if (!copy)
        return NULL;
    copy->mod_rev = n->mod_rev;
    const struct map *src = node_children(n);
    struct map *dst = (struct map *)node_children(copy);
    if (map_copy(dst, src) != CONFHUB_OK || note_replaced(m, n) != CONFHUB_OK) {
        ch_free(dst->slots);
        ch_free(copy);
        return NULL;
    }
    if (n->kind == NODE_NS)
        ((struct ch_ns *)copy)->n_keys = ((struct ch_ns *)n)->n_keys;
    else if (n->kind == NODE_STATE) {
        ((struct ch_state *)copy)->n_keys = ((struct ch_state *)n)->n_keys;
        ((struct ch_state *)copy)->revision = ((struct ch_state *)n)->revision;
    }
    return copy;
}

/* ---------------------------------------------------------------- model */

enum confhub_status ch_model_new(unsigned n_readers, struct ch_model **out, struct ch_err *err)
{
    struct ch_model *m = NULL;
    struct ch_state *root = NULL;

    if (n_readers == 0 || n_readers > CH_MODEL_MAX_READERS)
        return ch_err_set(err, CONFHUB_EINVAL, "model: %u reader slots (1..%d)", n_readers,
                          CH_MODEL_MAX_READERS);
    m = ch_calloc(1, sizeof(*m));
    root = node_alloc(sizeof(*root), NODE_STATE, "", 0, 0, 0, 0);
    if (!m || !root) {
        ch_free(m);
        ch_free(root);
        return ch_err_set(err, CONFHUB_ENOMEM, "model: out of memory");
    }
    m->n_readers = n_readers;
    m->gen = 0;
    atomic_init(&m->epoch, 1);
    atomic_init(&m->published, root);
    atomic_init(&m->published_rev, 0);
    for (unsigned i = 0; i < CH_MODEL_MAX_READERS; i++)
        atomic_init(&m->slots[i].epoch, 0);
    *out = m;
    return CONFHUB_OK;
}

void ch_model_free(struct ch_model *m)
{
    if (!m)
        return;
    if (m->batch)
        ch_model_batch_abort(m);
    for (size_t i = 0; i < m->n_retired; i++)
        node_free_shallow(m->retired[i].node);
    node_free_deep((struct node *)atomic_load(&m->published));
    ch_free(m->retired);
    ch_free(m->replaced);
    ch_free(m);
}

const struct ch_state *ch_model_read_begin(struct ch_model *m, unsigned slot)
{
    /* seq_cst store then seq_cst load: the writer either sees this slot's epoch when it scans
     * or this reader sees the new root (see the file header). */
    atomic_store(&m->slots[slot].epoch, atomic_load(&m->epoch));
    return atomic_load(&m->published);
}

void ch_model_read_end(struct ch_model *m, unsigned slot)
{
    atomic_store_explicit(&m->slots[slot].epoch, 0, memory_order_release);
}

int64_t ch_model_revision(const struct ch_model *m)
{
    return atomic_load(&((struct ch_model *)m)->published_rev);
}

const struct ch_state *ch_model_published(const struct ch_model *m)
{
    return atomic_load_explicit(&((struct ch_model *)m)->published, memory_order_acquire);
}

/* ---------------------------------------------------------------- read accessors */

int64_t ch_state_revision(const struct ch_state *s)
{
    return s->revision;
}

size_t ch_state_ns_count(const struct ch_state *s)
{
    return s->namespaces.len;
}

size_t ch_state_key_count(const struct ch_state *s)
{
    return s->n_keys;
}

const struct ch_ns *ch_state_find_ns(const struct ch_state *s, const char *name, size_t len)
{
    return (const struct ch_ns *)map_get(&s->namespaces, hash_name(name, len), name, len);
}

const struct ch_section *ch_ns_find_section(const struct ch_ns *ns, const char *name, size_t len)
{
    return (const struct ch_section *)map_get(&ns->sections, hash_name(name, len), name, len);
}

const struct ch_entry *ch_section_find_entry(const struct ch_section *sec, const char *key,
                                             size_t len)
{
    return (const struct ch_entry *)map_get(&sec->entries, hash_name(key, len), key, len);
}

const char *ch_ns_name(const struct ch_ns *ns)
{
    return ns->hdr.name;
}

size_t ch_ns_section_count(const struct ch_ns *ns)
{
    return ns->sections.len;
}

size_t ch_ns_key_count(const struct ch_ns *ns)
{
    return ns->n_keys;
}

int64_t ch_ns_mod_rev(const struct ch_ns *ns)
{
    return ns->hdr.mod_rev;
}

const char *ch_section_name(const struct ch_section *sec)
{
    return sec->hdr.name;
}

size_t ch_section_key_count(const struct ch_section *sec)
{
    return sec->entries.len;
}

int64_t ch_section_mod_rev(const struct ch_section *sec)
{
    return sec->hdr.mod_rev;
}

const struct ch_entry *ch_section_scalar(const struct ch_section *sec)
{
    if (sec->entries.len != 1)
        return NULL;
    return ch_section_find_entry(sec, CH_NAMES_SCALAR_KEY, 1);
}

void ch_entry_info(const struct ch_entry *e, struct ch_entry_info *out)
{
    out->key = e->hdr.name;
    out->key_len = e->hdr.name_len;
    out->value = e->value;
    out->value_len = e->value_len;
    out->create_rev = e->create_rev;
    out->mod_rev = e->hdr.mod_rev;
    out->version = e->version;
}

enum confhub_status ch_state_sorted_ns(const struct ch_state *s, const struct ch_ns ***out,
                                       size_t *n_out)
{
    return map_sorted(&s->namespaces, (const void ***)out, n_out);
}

enum confhub_status ch_ns_sorted_sections(const struct ch_ns *ns, const struct ch_section ***out,
                                          size_t *n_out)
{
    return map_sorted(&ns->sections, (const void ***)out, n_out);
}

enum confhub_status ch_section_sorted_entries(const struct ch_section *sec,
                                              const struct ch_entry ***out, size_t *n_out)
{
    return map_sorted(&sec->entries, (const void ***)out, n_out);
}

/* ---------------------------------------------------------------- serialisation */

/* Turns the buffer into a blob (the blob header is carved out in front). */
static struct ch_blob *buf_to_blob(struct ch_buf *b)
{
    struct ch_blob *blob = NULL;
    if (!b->failed)
        blob = ch_malloc(sizeof(*blob) + b->len + 1);
    if (blob) {
        blob->len = b->len;
        memcpy(blob->data, b->ptr ? b->ptr : "", b->len);
        blob->data[b->len] = '\0';
    }
    ch_free(b->ptr);
    return blob;
}

/* Installs a freshly built blob in a node's cache, or keeps the one another reader won with. */
static const struct ch_blob *cache_install(_Atomic(struct ch_blob *) *slot, struct ch_blob *blob)
{
    struct ch_blob *expected = NULL;
    if (!blob)
        return NULL;
    if (atomic_compare_exchange_strong(slot, &expected, blob))
        return blob;
    ch_free(blob);
    return expected;
}

const struct ch_blob *ch_section_json(const struct ch_section *sec)
{
    _Atomic(struct ch_blob *) *slot = (_Atomic(struct ch_blob *) *)&sec->json;
    const struct ch_blob *cached = atomic_load_explicit(slot, memory_order_acquire);
    const struct ch_entry **entries = NULL;
    const struct ch_entry *scalar;
    struct ch_buf b = {0};
    size_t n = 0;

    if (cached)
        return cached;
    scalar = ch_section_scalar(sec);
    if (scalar) {
        ch_buf_add(&b, scalar->value, scalar->value_len);
        return cache_install(slot, buf_to_blob(&b));
    }
    if (ch_section_sorted_entries(sec, &entries, &n) != CONFHUB_OK)
        return NULL;
    ch_buf_add(&b, "{", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            ch_buf_add(&b, ",", 1);
        ch_buf_add_json_name(&b, entries[i]->hdr.name, entries[i]->hdr.name_len);
        ch_buf_add(&b, ":", 1);
        ch_buf_add(&b, entries[i]->value, entries[i]->value_len);
    }
    ch_buf_add(&b, "}", 1);
    ch_free(entries);
    return cache_install(slot, buf_to_blob(&b));
}

const struct ch_blob *ch_ns_json(const struct ch_ns *ns)
{
    _Atomic(struct ch_blob *) *slot = (_Atomic(struct ch_blob *) *)&ns->json;
    const struct ch_blob *cached = atomic_load_explicit(slot, memory_order_acquire);
    const struct ch_section **secs = NULL;
    struct ch_buf b = {0};
    size_t n = 0;

    if (cached)
        return cached;
    if (ch_ns_sorted_sections(ns, &secs, &n) != CONFHUB_OK)
        return NULL;
    ch_buf_add(&b, "{", 1);
    for (size_t i = 0; i < n; i++) {
        const struct ch_blob *sj = ch_section_json(secs[i]);
        if (!sj) {
            b.failed = true;
            break;
        }
        if (i)
            ch_buf_add(&b, ",", 1);
        ch_buf_add_json_name(&b, secs[i]->hdr.name, secs[i]->hdr.name_len);
        ch_buf_add(&b, ":", 1);
        ch_buf_add(&b, sj->data, sj->len);
    }
    ch_buf_add(&b, "}", 1);
    ch_free(secs);
    return cache_install(slot, buf_to_blob(&b));
}

/* ---------------------------------------------------------------- the writer's batch */

void ch_model_batch_begin(struct ch_model *m)
{
    m->gen++;
    m->batch = NULL;
    m->n_replaced = 0;
}

const struct ch_state *ch_model_batch_state(const struct ch_model *m)
{
    return m->batch ? m->batch : ch_model_published(m);
}

static struct ch_state *writable_root(struct ch_model *m)
{
    if (!m->batch)
        m->batch = (struct ch_state *)make_writable(m, (struct node *)ch_model_published(m));
    return m->batch;
}

/* Finds a child of a writable parent and makes it writable too, relinking the copy. */
static struct node *writable_child(struct ch_model *m, struct map *kids, const char *name,
                                   size_t len)
{
    struct node *old = NULL, *child, *copy;
    child = map_get(kids, hash_name(name, len), name, len);
    if (!child)
        return NULL;
    copy = make_writable(m, child);
    if (!copy || copy == child)
        return copy;
    map_put(kids, copy, &old); /* replaces `child` in place: cannot fail */
    return copy;
}

/* Records that rev changed n or something below it (loading sees revisions out of order). */
static void touch(struct node *n, int64_t rev)
{
    if (rev > n->mod_rev)
        n->mod_rev = rev;
}

/* Drops the cached JSON of a batch-owned section or namespace that is about to change in
 * place. The writer may have serialised it earlier in the batch (ch_section_json on
 * ch_model_batch_state); without this, the stale text would be published with the node.
 * Only the writer can reach a batch-owned node, so a plain exchange is enough. */
static void drop_json(struct node *n)
{
    if (n->kind == NODE_SECTION)
        ch_free(atomic_exchange(&((struct ch_section *)n)->json, NULL));
    else if (n->kind == NODE_NS)
        ch_free(atomic_exchange(&((struct ch_ns *)n)->json, NULL));
}

/* Links a new entry; `loaded` carries create_rev and version from the store (start-up), or is
 * NULL for a write, which keeps the old entry's create_rev and bumps its version. */
static enum confhub_status put_entry(struct ch_model *m, const char *ns_name, const char *sec_name,
                                     const char *key, const char *value, size_t value_len,
                                     int64_t rev, const struct ch_entry_info *loaded,
                                     struct ch_entry_info *out)
{
    size_t ns_len = strlen(ns_name), sec_len = strlen(sec_name), key_len = strlen(key);
    struct ch_state *root = writable_root(m);
    struct ch_ns *ns;
    struct ch_section *sec;
    struct ch_entry *entry, *old_entry;
    struct node *old = NULL;
    bool new_ns = false;

    if (!root)
        return CONFHUB_ENOMEM;
    ns = (struct ch_ns *)writable_child(m, &root->namespaces, ns_name, ns_len);
    if (!ns) {
        if (map_get(&root->namespaces, hash_name(ns_name, ns_len), ns_name, ns_len))
            return CONFHUB_ENOMEM;
        ns = node_alloc(sizeof(*ns), NODE_NS, ns_name, ns_len, 0, hash_name(ns_name, ns_len),
                        m->gen);
        if (!ns)
            return CONFHUB_ENOMEM;
        if (map_put(&root->namespaces, &ns->hdr, &old) != CONFHUB_OK) {
            ch_free(ns);
            return CONFHUB_ENOMEM;
        }
        new_ns = true;
    }
    sec = (struct ch_section *)writable_child(m, &ns->sections, sec_name, sec_len);
    if (!sec) {
        if (!new_ns && map_get(&ns->sections, hash_name(sec_name, sec_len), sec_name, sec_len))
            return CONFHUB_ENOMEM;
        sec = node_alloc(sizeof(*sec), NODE_SECTION, sec_name, sec_len, 0,
                         hash_name(sec_name, sec_len), m->gen);
        if (!sec)
            return CONFHUB_ENOMEM;
        if (map_put(&ns->sections, &sec->hdr, &old) != CONFHUB_OK) {
            ch_free(sec);
            return CONFHUB_ENOMEM;
        }
    }
    drop_json(&ns->hdr);
    drop_json(&sec->hdr);
    entry = node_alloc(sizeof(*entry), NODE_ENTRY, key, key_len, value_len + 1,
                       hash_name(key, key_len), m->gen);
    if (!entry)
        return CONFHUB_ENOMEM;
    char *value_copy = (char *)entry + sizeof(*entry) + key_len + 1;
    memcpy(value_copy, value, value_len);
    value_copy[value_len] = '\0';
    entry->value = value_copy;
    entry->value_len = value_len;
    entry->hdr.mod_rev = rev;
    if (map_put(&sec->entries, &entry->hdr, &old) != CONFHUB_OK) {
        ch_free(entry);
        return CONFHUB_ENOMEM;
    }
    old_entry = (struct ch_entry *)old;
    if (loaded) {
        entry->create_rev = loaded->create_rev;
        entry->version = loaded->version;
    }
    if (old_entry) {
        if (!loaded) {
            entry->create_rev = old_entry->create_rev;
            entry->version = old_entry->version + 1;
        }
        if (release(m, old) != CONFHUB_OK)
            return CONFHUB_ENOMEM;
    } else {
        if (!loaded) {
            entry->create_rev = rev;
            entry->version = 1;
        }
        ns->n_keys++;
        root->n_keys++;
    }
    touch(&sec->hdr, rev);
    touch(&ns->hdr, rev);
    if (rev > root->revision)
        root->revision = rev;
    if (out)
        ch_entry_info(entry, out);
    return CONFHUB_OK;
}

enum confhub_status ch_model_batch_set(struct ch_model *m, const char *ns, const char *section,
                                       const char *key, const char *value, size_t value_len,
                                       int64_t rev, struct ch_entry_info *out)
{
    return put_entry(m, ns, section, key, value, value_len, rev, NULL, out);
}

enum confhub_status ch_model_batch_load(struct ch_model *m, const char *ns, const char *section,
                                        const char *key, const char *value, size_t value_len,
                                        int64_t create_rev, int64_t mod_rev, int64_t version)
{
    struct ch_entry_info loaded = {
        .create_rev = create_rev, .mod_rev = mod_rev, .version = version};
    return put_entry(m, ns, section, key, value, value_len, mod_rev, &loaded, NULL);
}

enum confhub_status ch_model_batch_delete(struct ch_model *m, const char *ns_name,
                                          const char *sec_name, const char *key, int64_t rev)
{
    size_t ns_len = strlen(ns_name), sec_len = strlen(sec_name), key_len = strlen(key);
    const struct ch_state *view = ch_model_batch_state(m);
    const struct ch_ns *ns_view = ch_state_find_ns(view, ns_name, ns_len);
    const struct ch_section *sec_view =
        ns_view ? ch_ns_find_section(ns_view, sec_name, sec_len) : NULL;
    if (!sec_view || !ch_section_find_entry(sec_view, key, key_len))
        return CONFHUB_ENOTFOUND;

    struct ch_state *root = writable_root(m);
    if (!root)
        return CONFHUB_ENOMEM;
    struct ch_ns *ns = (struct ch_ns *)writable_child(m, &root->namespaces, ns_name, ns_len);
    if (!ns)
        return CONFHUB_ENOMEM;
    struct ch_section *sec =
        (struct ch_section *)writable_child(m, &ns->sections, sec_name, sec_len);
    if (!sec)
        return CONFHUB_ENOMEM;
    drop_json(&ns->hdr);
    drop_json(&sec->hdr);
    uint64_t h = hash_name(key, key_len);
    size_t i = map_find_slot(&sec->entries, h, key, key_len);
    struct node *gone = sec->entries.slots[i];
    map_remove_at(&sec->entries, i);
    ns->n_keys--;
    root->n_keys--;
    root->revision = rev;
    touch(&ns->hdr, rev);
    touch(&sec->hdr, rev);
    if (release(m, gone) != CONFHUB_OK)
        return CONFHUB_ENOMEM;
    if (sec->entries.len == 0) {
        i = map_find_slot(&ns->sections, sec->hdr.hash, sec->hdr.name, sec->hdr.name_len);
        map_remove_at(&ns->sections, i);
        node_free_shallow(&sec->hdr); /* batch-owned: made writable above */
    }
    if (ns->sections.len == 0) {
        i = map_find_slot(&root->namespaces, ns->hdr.hash, ns->hdr.name, ns->hdr.name_len);
        map_remove_at(&root->namespaces, i);
        node_free_shallow(&ns->hdr);
    }
    return CONFHUB_OK;
}

enum confhub_status ch_model_batch_set_revision(struct ch_model *m, int64_t rev)
{
    struct ch_state *root = writable_root(m);
    if (!root)
        return CONFHUB_ENOMEM;
    root->revision = rev;
    return CONFHUB_OK;
}

static bool retire_room(struct ch_model *m, size_t more)
{
    if (m->n_retired + more <= m->cap_retired)
        return true;
    size_t cap = m->cap_retired ? m->cap_retired : 256;
    while (cap < m->n_retired + more)
        cap *= 2;
    struct retired *arr = ch_realloc(m->retired, cap * sizeof(*arr));
    if (!arr)
        return false;
    m->retired = arr;
    m->cap_retired = cap;
    return true;
}

void ch_model_batch_commit(struct ch_model *m)
{
    if (!m->batch)
        return;
    bool room = retire_room(m, m->n_replaced);
    atomic_store(&m->published, m->batch);
    atomic_store(&m->published_rev, m->batch->revision);
    uint64_t epoch = atomic_fetch_add(&m->epoch, 1);
    if (!room) {
        /* Cannot remember what to free later: wait for the readers now instead. */
        for (unsigned i = 0; i < m->n_readers; i++) {
            uint64_t e;
            while ((e = atomic_load(&m->slots[i].epoch)) != 0 && e <= epoch)
                ;
        }
        for (size_t i = 0; i < m->n_replaced; i++)
            node_free_shallow(m->replaced[i]);
    } else {
        for (size_t i = 0; i < m->n_replaced; i++)
            m->retired[m->n_retired++] = (struct retired){m->replaced[i], epoch};
    }
    m->batch = NULL;
    m->n_replaced = 0;
    ch_model_reclaim(m);
}

void ch_model_batch_abort(struct ch_model *m)
{
    if (m->batch)
        node_free_unpublished(&m->batch->hdr, m->gen);
    m->batch = NULL;
    m->n_replaced = 0;
}

void ch_model_reclaim(struct ch_model *m)
{
    uint64_t oldest_active = UINT64_MAX;
    for (unsigned i = 0; i < m->n_readers; i++) {
        uint64_t e = atomic_load(&m->slots[i].epoch);
        if (e != 0 && e < oldest_active)
            oldest_active = e;
    }
    /* Retired entries are in epoch order: free the prefix no active reader can see. */
    size_t n = 0;
    while (n < m->n_retired && m->retired[n].epoch < oldest_active) {
        node_free_shallow(m->retired[n].node);
        n++;
    }
    if (n) {
        memmove(m->retired, m->retired + n, (m->n_retired - n) * sizeof(*m->retired));
        m->n_retired -= n;
    }
}

bool ch_model_reclaim_pending(const struct ch_model *m)
{
    return m->n_retired > 0;
}
