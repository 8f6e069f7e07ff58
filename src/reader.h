/* SPDX-License-Identifier: MIT */
/*
 * reader.h: history readers, threads that run store reads off the event loops.
 *
 * Current state is served from memory, but history lives only in the store, and a loop must
 * never wait for a disk. So history queries, reads at a past revision and diffs are jobs:
 * a loop submits one, a reader thread runs it on its own read-only store connection, then
 * calls the job's done(), which hands the result back to the loop. Readers never write and
 * never block the writer (SQLite WAL: each read is one snapshot).
 */
#ifndef CH_READER_H
#define CH_READER_H

#include "common/err.h"
#include "store.h"

struct ch_read_job;
typedef void ch_read_job_fn(struct ch_read_job *job, struct ch_store *store);

/* Embed first in your job. run() runs on a reader thread with that thread's connection;
 * done() runs right after it on the same thread and must not block. */
struct ch_read_job {
    ch_read_job_fn *run;
    void (*done)(struct ch_read_job *job);
    struct ch_read_job *next; /* queue link; the reader's */
};

struct ch_reader;

/* Opens n_threads read-only connections to store_uri (which the writer has already opened
 * and migrated) and starts a thread for each. OUT: *out on success. */
enum confhub_status ch_reader_start(const char *store_uri, unsigned n_threads,
                                    struct ch_reader **out, struct ch_err *err);

/* Queues job; thread-safe, non-blocking. CONFHUB_EUNAVAIL when stopping (done() is then not
 * called). */
enum confhub_status ch_reader_submit(struct ch_reader *reader, struct ch_read_job *job);

/* Runs every queued job and joins the threads; later submits get CONFHUB_EUNAVAIL. NULL and
 * a second call are no-ops. */
void ch_reader_stop(struct ch_reader *reader);

/* Stops the reader if needed, closes the connections and frees it. NULL is a no-op. */
void ch_reader_free(struct ch_reader *reader);

#endif
