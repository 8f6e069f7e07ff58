/* SPDX-License-Identifier: MIT */
/*
 * model.h: the whole current configuration in memory, readable without locks.
 *
 * Shape: state -> namespaces -> sections -> entries (one per key). A section whose document
 * value is not an object (a list, a scalar, or {}) holds a single entry under the reserved key
 * "@". Every node is immutable once published, except for a lazily built cache of its
 * serialised JSON, which a reader installs with a compare-and-swap.
 *
 * Threads and ownership:
 *  - One writer (the service's writer thread) changes the model, in batches. Inside a batch it
 *    copies each published node it touches once (copy-on-write along the path from the root)
 *    and then changes the copies in place. ch_model_batch_commit() publishes the new root with
 *    one atomic pointer store; ch_model_batch_abort() throws the copies away and the published
 *    state never changed.
 *  - Readers (the HTTP loops, one slot each) bracket every use of the state with
 *    ch_model_read_begin()/ch_model_read_end(). Replaced nodes are freed only after every
 *    reader that could have seen them has left its read section (epoch-based reclamation), so
 *    a reader never waits for the writer and never sees freed memory.
 *  - Pointers returned by the find and json functions are valid until ch_model_read_end() (on
 *    a reader) or until the next change in the batch (on the writer). Never free them.
 */
#ifndef CH_MODEL_H
#define CH_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define CH_MODEL_MAX_READERS 64

struct ch_model;
struct ch_state;
struct ch_ns;
struct ch_section;
struct ch_entry;

/* Immutable pre-serialised JSON text. Owned by the node that caches it. */
struct ch_blob {
    size_t len;
    char data[]; /* len bytes and a NUL */
};

/* A read-only view of one key, as handed out by ch_section_entry_info(). */
struct ch_entry_info {
    const char *key;
    size_t key_len;
    const char *value; /* compact JSON text, NUL-terminated */
    size_t value_len;
    int64_t create_rev;
    int64_t mod_rev;
    int64_t version; /* writes since creation; 1 for a new key */
};

/* Creates an empty model (revision 0) with n_readers reader slots (<= CH_MODEL_MAX_READERS).
 * OUT: *out on success. Free with ch_model_free() after every reader and the writer stopped. */
enum confhub_status ch_model_new(unsigned n_readers, struct ch_model **out, struct ch_err *err);
void ch_model_free(struct ch_model *model);

/* ---- Readers (any thread, one slot per thread) ---- */

/* Enters a read section on reader slot `slot` and returns the published state. */
const struct ch_state *ch_model_read_begin(struct ch_model *model, unsigned slot);
void ch_model_read_end(struct ch_model *model, unsigned slot);

/* The published state, for the writer thread only (it alone replaces and frees states).
 * Other threads must use ch_model_read_begin(), or ch_model_revision() for the revision. */
const struct ch_state *ch_model_published(const struct ch_model *model);

/* The revision of the published state; any thread, no read section needed. */
int64_t ch_model_revision(const struct ch_model *model);

int64_t ch_state_revision(const struct ch_state *state);
size_t ch_state_ns_count(const struct ch_state *state);
size_t ch_state_key_count(const struct ch_state *state);

/* Lookups: NULL when absent. Names are byte strings (not NUL-terminated). */
const struct ch_ns *ch_state_find_ns(const struct ch_state *state, const char *name, size_t len);
const struct ch_section *ch_ns_find_section(const struct ch_ns *ns, const char *name, size_t len);
const struct ch_entry *ch_section_find_entry(const struct ch_section *sec, const char *key,
                                             size_t len);

const char *ch_ns_name(const struct ch_ns *ns);
size_t ch_ns_section_count(const struct ch_ns *ns);
size_t ch_ns_key_count(const struct ch_ns *ns);
int64_t ch_ns_mod_rev(const struct ch_ns *ns); /* last revision that changed anything in ns */
const char *ch_section_name(const struct ch_section *sec);
size_t ch_section_key_count(const struct ch_section *sec);
int64_t ch_section_mod_rev(const struct ch_section *sec);
/* The "@" entry when the section holds a list, a scalar or {}; NULL for an object section. */
const struct ch_entry *ch_section_scalar(const struct ch_section *sec);
void ch_entry_info(const struct ch_entry *entry, struct ch_entry_info *out);

/*
 * Sorted children, for listings. OUT: *out is an array of n pointers in byte order of their
 * names, allocated with ch_malloc; the caller frees the array (not the nodes).
 */
enum confhub_status ch_state_sorted_ns(const struct ch_state *state, const struct ch_ns ***out,
                                       size_t *n_out);
enum confhub_status ch_ns_sorted_sections(const struct ch_ns *ns, const struct ch_section ***out,
                                          size_t *n_out);
enum confhub_status ch_section_sorted_entries(const struct ch_section *sec,
                                              const struct ch_entry ***out, size_t *n_out);

/*
 * The serialised JSON of a section ({"key":value,...} in key order, or the "@" value) and of
 * a namespace document ({"section":...}). Built on first use and cached on the node.
 * Returns NULL only when out of memory.
 */
const struct ch_blob *ch_section_json(const struct ch_section *sec);
const struct ch_blob *ch_ns_json(const struct ch_ns *ns);

/* ---- The writer (one thread) ---- */

/* Starts a batch. Changes made until commit/abort are invisible to readers. */
void ch_model_batch_begin(struct ch_model *model);

/* The state as changed so far in this batch (the published one before the first change). */
const struct ch_state *ch_model_batch_state(const struct ch_model *model);

/*
 * Sets ns/section/key to value (compact JSON text, copied) at revision rev, keeping the
 * entry's create_rev and bumping its version when it existed. Names must already be valid.
 * OUT: *out (may be NULL) describes the new entry; its strings live as long as the entry.
 * Returns CONFHUB_ENOMEM on allocation failure; the batch must then be aborted.
 */
enum confhub_status ch_model_batch_set(struct ch_model *model, const char *ns, const char *section,
                                       const char *key, const char *value, size_t value_len,
                                       int64_t rev, struct ch_entry_info *out);

/* Like ch_model_batch_set, with the entry's revisions and version as the store kept them
 * (start-up load). */
enum confhub_status ch_model_batch_load(struct ch_model *model, const char *ns, const char *section,
                                        const char *key, const char *value, size_t value_len,
                                        int64_t create_rev, int64_t mod_rev, int64_t version);

/* Removes ns/section/key at revision rev; a section or namespace left empty disappears.
 * Returns CONFHUB_ENOTFOUND when absent. */
enum confhub_status ch_model_batch_delete(struct ch_model *model, const char *ns,
                                          const char *section, const char *key, int64_t rev);

/* Sets the batch state's revision (the highest revision assigned in the batch). Returns
 * CONFHUB_ENOMEM when the batch had changed nothing yet and copying the root failed; the
 * batch must then be aborted. */
enum confhub_status ch_model_batch_set_revision(struct ch_model *model, int64_t rev);

/* Publishes the batch: one atomic pointer swap; replaced nodes are freed once no reader can
 * see them. */
void ch_model_batch_commit(struct ch_model *model);

/* Throws the batch's changes away; the published state is untouched. */
void ch_model_batch_abort(struct ch_model *model);

/* Frees replaced nodes that no reader can see any more. Cheap when there is nothing to do. */
void ch_model_reclaim(struct ch_model *model);

/* True when replaced nodes are waiting for readers to move on. */
bool ch_model_reclaim_pending(const struct ch_model *model);

#endif
