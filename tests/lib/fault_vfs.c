/* SPDX-License-Identifier: MIT */
/* fault_vfs.c: a fault-injecting SQLite VFS and SQLite's allocator through ch_malloc (see
 * fault_vfs.h). Moved out of test_store.c so every unit test can share it. */
#include "fault_vfs.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include <sqlite3.h>

#include "common/alloc.h"

/* ---- a fault-injecting VFS ---------------------------------------------------------------- */

/* Countdowns: -1 is off; n >= 0 lets n more calls through, then every call fails until the
 * test disarms it (a full disk stays full). Atomics: the service's writer thread does the I/O
 * while the test's main thread arms and counts. */
static atomic_long write_countdown = -1;
static atomic_long sync_countdown = -1;
static atomic_int n_faults; /* how many calls were failed since the last arm */

static sqlite3_vfs *real_vfs;
static sqlite3_vfs fault_vfs;
static sqlite3_io_methods fault_io;

struct fault_file {
    sqlite3_file base;  /* pMethods = &fault_io */
    sqlite3_file *real; /* the real file, stored right after this struct */
};

static sqlite3_file *real_file(sqlite3_file *f)
{
    return ((struct fault_file *)f)->real;
}

static bool fire(atomic_long *countdown)
{
    long n = atomic_load(countdown);
    if (n < 0)
        return false;
    if (n > 0) {
        atomic_store(countdown, n - 1);
        return false;
    }
    atomic_fetch_add(&n_faults, 1);
    return true;
}

void ch_test_fault_arm(long writes, long syncs)
{
    atomic_store(&write_countdown, writes);
    atomic_store(&sync_countdown, syncs);
    atomic_store(&n_faults, 0);
}

void ch_test_fault_disarm(void)
{
    ch_test_fault_arm(-1, -1);
}

int ch_test_fault_faults_count(void)
{
    return atomic_load(&n_faults);
}

static int f_close(sqlite3_file *f)
{
    return real_file(f)->pMethods->xClose(real_file(f));
}

static int f_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 ofs)
{
    return real_file(f)->pMethods->xRead(real_file(f), buf, amt, ofs);
}

static int f_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 ofs)
{
    if (fire(&write_countdown))
        return SQLITE_FULL;
    return real_file(f)->pMethods->xWrite(real_file(f), buf, amt, ofs);
}

static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return real_file(f)->pMethods->xTruncate(real_file(f), size);
}

static int f_sync(sqlite3_file *f, int flags)
{
    if (fire(&sync_countdown))
        return SQLITE_IOERR_FSYNC;
    return real_file(f)->pMethods->xSync(real_file(f), flags);
}

static int f_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return real_file(f)->pMethods->xFileSize(real_file(f), size);
}

static int f_lock(sqlite3_file *f, int lock)
{
    return real_file(f)->pMethods->xLock(real_file(f), lock);
}

static int f_unlock(sqlite3_file *f, int lock)
{
    return real_file(f)->pMethods->xUnlock(real_file(f), lock);
}

static int f_check_reserved(sqlite3_file *f, int *out)
{
    return real_file(f)->pMethods->xCheckReservedLock(real_file(f), out);
}

static int f_file_control(sqlite3_file *f, int op, void *arg)
{
    return real_file(f)->pMethods->xFileControl(real_file(f), op, arg);
}

static int f_sector_size(sqlite3_file *f)
{
    return real_file(f)->pMethods->xSectorSize(real_file(f));
}

static int f_device_characteristics(sqlite3_file *f)
{
    return real_file(f)->pMethods->xDeviceCharacteristics(real_file(f));
}

static int f_shm_map(sqlite3_file *f, int page, int page_size, int extend, void volatile **out)
{
    return real_file(f)->pMethods->xShmMap(real_file(f), page, page_size, extend, out);
}

static int f_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return real_file(f)->pMethods->xShmLock(real_file(f), offset, n, flags);
}

static void f_shm_barrier(sqlite3_file *f)
{
    real_file(f)->pMethods->xShmBarrier(real_file(f));
}

static int f_shm_unmap(sqlite3_file *f, int delete_flag)
{
    return real_file(f)->pMethods->xShmUnmap(real_file(f), delete_flag);
}

static int f_fetch(sqlite3_file *f, sqlite3_int64 ofs, int amt, void **out)
{
    return real_file(f)->pMethods->xFetch(real_file(f), ofs, amt, out);
}

static int f_unfetch(sqlite3_file *f, sqlite3_int64 ofs, void *p)
{
    return real_file(f)->pMethods->xUnfetch(real_file(f), ofs, p);
}

static int f_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
    struct fault_file *ff = (struct fault_file *)file;
    (void)vfs;
    ff->real = (sqlite3_file *)(ff + 1);
    int rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out_flags);
    /* SQLite calls xClose only when pMethods is set, so mirror the real file's state. */
    ff->base.pMethods = ff->real->pMethods ? &fault_io : NULL;
    if (ff->real->pMethods)
        fault_io.iVersion = ff->real->pMethods->iVersion;
    return rc;
}

int ch_test_fault_register(void)
{
    real_vfs = sqlite3_vfs_find(NULL);
    if (!real_vfs)
        return SQLITE_ERROR;
    fault_io = (sqlite3_io_methods){
        .iVersion = 3,
        .xClose = f_close,
        .xRead = f_read,
        .xWrite = f_write,
        .xTruncate = f_truncate,
        .xSync = f_sync,
        .xFileSize = f_file_size,
        .xLock = f_lock,
        .xUnlock = f_unlock,
        .xCheckReservedLock = f_check_reserved,
        .xFileControl = f_file_control,
        .xSectorSize = f_sector_size,
        .xDeviceCharacteristics = f_device_characteristics,
        .xShmMap = f_shm_map,
        .xShmLock = f_shm_lock,
        .xShmBarrier = f_shm_barrier,
        .xShmUnmap = f_shm_unmap,
        .xFetch = f_fetch,
        .xUnfetch = f_unfetch,
    };
    /* Everything but xOpen (names, access, time, randomness) is the real VFS's. */
    fault_vfs = *real_vfs;
    fault_vfs.pNext = NULL;
    fault_vfs.zName = CH_TEST_FAULT_VFS;
    fault_vfs.szOsFile = (int)sizeof(struct fault_file) + real_vfs->szOsFile;
    fault_vfs.xOpen = f_open;
    return sqlite3_vfs_register(&fault_vfs, 0);
}

/* ---- SQLite's allocator through ch_malloc ------------------------------------------------- */

/* Each block carries its size in a 16-byte header (keeps malloc's alignment), for xSize. */
#define HDR 16

static void *mem_malloc(int n)
{
    unsigned char *p = ch_malloc((size_t)n + HDR);
    if (!p)
        return NULL;
    memcpy(p, &n, sizeof(n));
    return p + HDR;
}

static void mem_free(void *p)
{
    if (p)
        ch_free((unsigned char *)p - HDR);
}

static void *mem_realloc(void *p, int n)
{
    unsigned char *q = ch_realloc((unsigned char *)p - HDR, (size_t)n + HDR);
    if (!q)
        return NULL;
    memcpy(q, &n, sizeof(n));
    return q + HDR;
}

static int mem_size(void *p)
{
    int n;
    memcpy(&n, (unsigned char *)p - HDR, sizeof(n));
    return n;
}

static int mem_roundup(int n)
{
    return (n + 7) & ~7;
}

static int mem_init(void *app)
{
    (void)app;
    return SQLITE_OK;
}

static void mem_shutdown(void *app)
{
    (void)app;
}

int ch_test_fault_route_sqlite_malloc(void)
{
    static const sqlite3_mem_methods mem = {mem_malloc,  mem_free, mem_realloc,  mem_size,
                                            mem_roundup, mem_init, mem_shutdown, NULL};
    return sqlite3_config(SQLITE_CONFIG_MALLOC, &mem);
}
