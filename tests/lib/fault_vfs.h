/* SPDX-License-Identifier: MIT */
/*
 * fault_vfs.h: test helpers that make SQLite fail on cue (STYLE B9.1, fault injection only).
 *
 *  - A fault-injecting SQLite VFS named "fault" wraps the default one. Armed, it makes xWrite
 *    return SQLITE_FULL or xSync return SQLITE_IOERR_FSYNC, as a full or failing disk would.
 *    Open a store on it with struct ch_store_options.sqlite_vfs = CH_TEST_FAULT_VFS.
 *  - SQLite's own allocator can be routed through ch_malloc, so ch_alloc_fail_after(n) fails
 *    the n-th allocation in our code and in SQLite alike (allocation torture).
 *
 * The countdowns are atomics, so a test may arm the VFS on its main thread while a writer
 * thread does the I/O; arm before submitting the work and read the count after it finished.
 */
#ifndef CH_TEST_FAULT_VFS_H
#define CH_TEST_FAULT_VFS_H

#define CH_TEST_FAULT_VFS "fault"

/* Routes SQLite's allocator through ch_malloc. Must be called before any other SQLite call
 * (before SQLite initialises itself). Returns SQLITE_OK or an SQLite error code. */
int ch_test_fault_route_sqlite_malloc(void);

/* Registers the "fault" VFS over the default VFS (not as the default). Returns SQLITE_OK or
 * an SQLite error code. Call once, from main, before the tests run. */
int ch_test_fault_register(void);

/* Arms the countdowns: -1 is off; n >= 0 lets n more xWrite (xSync) calls through, then every
 * call fails until the test arms again (a full disk stays full). Resets the fault count. */
void ch_test_fault_arm(long writes, long syncs);

/* Turns both countdowns off: ch_test_fault_arm(-1, -1). */
void ch_test_fault_disarm(void);

/* How many calls were failed since the last arm. */
int ch_test_fault_faults_count(void);

#endif
