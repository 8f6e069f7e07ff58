/* SPDX-License-Identifier: MIT */
/*
 * reader.c: the history reader threads (see reader.h). One FIFO queue, n threads, each with
 * its own store connection (a connection belongs to one thread).
 */
#include "reader.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"

struct reader_thread {
    struct ch_reader *reader;
    struct ch_store *store; /* read-only; this thread's */
    pthread_t thread;
    bool started;
};

struct ch_reader {
    pthread_mutex_t lock; /* guards the queue and stopping */
    pthread_cond_t wake;
    struct ch_read_job *head, *tail;
    bool stopping;
    unsigned n_threads;
    struct reader_thread threads[];
};

static struct ch_read_job *take(struct ch_reader *r)
{
    struct ch_read_job *job;
    pthread_mutex_lock(&r->lock);
    while (!r->head && !r->stopping)
        pthread_cond_wait(&r->wake, &r->lock);
    job = r->head;
    if (job) {
        r->head = job->next;
        if (!r->head)
            r->tail = NULL;
        job->next = NULL;
    }
    pthread_mutex_unlock(&r->lock);
    return job; /* NULL only when stopping with nothing left */
}

static void *reader_main(void *arg)
{
    struct reader_thread *t = arg;
    struct ch_read_job *job;
    while ((job = take(t->reader)) != NULL) {
        job->run(job, t->store);
        job->done(job);
    }
    return NULL;
}

void ch_reader_stop(struct ch_reader *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stopping = true;
    pthread_cond_broadcast(&r->wake);
    pthread_mutex_unlock(&r->lock);
    for (unsigned i = 0; i < r->n_threads; i++) {
        if (r->threads[i].started)
            pthread_join(r->threads[i].thread, NULL);
        r->threads[i].started = false;
    }
}

void ch_reader_free(struct ch_reader *r)
{
    if (!r)
        return;
    ch_reader_stop(r);
    for (unsigned i = 0; i < r->n_threads; i++)
        ch_store_close(r->threads[i].store);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->lock);
    ch_free(r);
}

enum confhub_status ch_reader_start(const char *store_uri, unsigned n_threads,
                                    struct ch_reader **out, struct ch_err *err)
{
    struct ch_store_options opts = {.read_only = true};
    struct ch_reader *r = ch_calloc(1, sizeof(*r) + n_threads * sizeof(r->threads[0]));
    enum confhub_status rc = CONFHUB_OK;

    if (!r)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot start history readers: out of memory");
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->wake, NULL);
    r->n_threads = n_threads;
    for (unsigned i = 0; i < n_threads && rc == CONFHUB_OK; i++) {
        struct reader_thread *t = &r->threads[i];
        t->reader = r;
        rc = ch_store_open(store_uri, &opts, &t->store, err);
        if (rc != CONFHUB_OK)
            break;
        int prc = pthread_create(&t->thread, NULL, reader_main, t);
        if (prc != 0)
            rc = ch_err_set(err, CONFHUB_EIO, "cannot start a history reader: %s", strerror(prc));
        t->started = prc == 0;
    }
    if (rc != CONFHUB_OK) {
        ch_reader_free(r);
        return rc;
    }
    ch_log(CH_LOG_DEBUG, "reader", "%u history readers on %s", n_threads, store_uri);
    *out = r;
    return CONFHUB_OK;
}

enum confhub_status ch_reader_submit(struct ch_reader *r, struct ch_read_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&r->lock);
    if (r->stopping) {
        pthread_mutex_unlock(&r->lock);
        return CONFHUB_EUNAVAIL;
    }
    if (r->tail)
        r->tail->next = job;
    else
        r->head = job;
    r->tail = job;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
    return CONFHUB_OK;
}
