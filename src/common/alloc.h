/* SPDX-License-Identifier: MIT */
/*
 * alloc.h: the allocator every confhub module uses.
 *
 * Thin wrappers over malloc with one test hook: ch_alloc_fail_after(n) makes the allocation
 * after the next n succeed fail, so tests can walk every out-of-memory path (allocation
 * torture, STYLE B9). jansson is routed through the same functions (ch_alloc_install_jansson).
 * Out of memory is returned to the caller as CONFHUB_ENOMEM; nothing here aborts.
 */
#ifndef CH_ALLOC_H
#define CH_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

void *ch_malloc(size_t size);
void *ch_calloc(size_t n, size_t size);
void *ch_realloc(void *p, size_t size);
char *ch_strdup(const char *s);
char *ch_strndup(const char *s, size_t len); /* copies len bytes and adds a NUL */
void ch_free(void *p);

/* Makes room in the array *arr of *cap elements of elem bytes for at least need of them,
 * doubling (from 16). Returns false, leaving *arr and *cap alone, when out of memory. */
bool ch_array_grow(void **arr, size_t *cap, size_t need, size_t elem);

/* The size from which ch_malloc_large uses huge pages: one transparent huge page. */
#define CH_ALLOC_LARGE ((size_t)2 << 20)

/* For a buffer of size bytes that will be filled right away (megabytes of serialised text):
 * at CH_ALLOC_LARGE and more the memory is asked for in transparent huge pages (MADV_HUGEPAGE), so
 * filling it takes one page fault per 2 MiB instead of one per 4 KiB. Free with ch_free. */
void *ch_malloc_large(size_t size);

/* Makes jansson allocate through ch_malloc/ch_free. Call once, before any thread starts. */
void ch_alloc_install_jansson(void);

/* Test hook: after n more successful allocations, every allocation fails; n < 0 turns it off.
 * Not thread-safe; for unit tests only. */
void ch_alloc_fail_after(long n);

#endif
