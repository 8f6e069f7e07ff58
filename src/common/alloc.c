/* SPDX-License-Identifier: MIT */
/* alloc.c: malloc wrappers with a failure-injection hook (see alloc.h). */
#include "common/alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <jansson.h>

/* The test allocator hook, one of the two mutable globals STYLE B1.3 allows. -1: off. */
static atomic_long fail_countdown = -1;

static int should_fail(void)
{
    long n = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (n < 0)
        return 0;
    if (n == 0)
        return 1;
    atomic_store_explicit(&fail_countdown, n - 1, memory_order_relaxed);
    return 0;
}

bool ch_array_grow(void **arr, size_t *cap, size_t need, size_t elem)
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

void *ch_malloc_large(size_t size)
{
    if (size < CH_ALLOC_LARGE)
        return ch_malloc(size);
    if (should_fail())
        return NULL;
    size_t rounded = (size + CH_ALLOC_LARGE - 1) & ~(CH_ALLOC_LARGE - 1);
    void *p = aligned_alloc(CH_ALLOC_LARGE, rounded);
    /* Advice only: where THP is off (or not allowed), this fails and nothing changes. */
    if (p)
        (void)madvise(p, rounded, MADV_HUGEPAGE);
    return p;
}

void ch_alloc_fail_after(long n)
{
    atomic_store(&fail_countdown, n);
}

void *ch_malloc(size_t size)
{
    if (should_fail())
        return NULL;
    return malloc(size ? size : 1);
}

void *ch_calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *ch_realloc(void *p, size_t size)
{
    if (should_fail())
        return NULL;
    return realloc(p, size ? size : 1);
}

char *ch_strndup(const char *s, size_t len)
{
    char *copy = ch_malloc(len + 1);
    if (!copy)
        return NULL;
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

char *ch_strdup(const char *s)
{
    return ch_strndup(s, strlen(s));
}

void ch_free(void *p)
{
    free(p);
}

void ch_alloc_install_jansson(void)
{
    json_set_alloc_funcs(ch_malloc, ch_free);
}
