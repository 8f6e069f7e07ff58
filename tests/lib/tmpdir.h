/* SPDX-License-Identifier: MIT */
/* tmpdir.h: scratch directories for unit tests that use real files (a SQLite store). */
#ifndef CH_TEST_TMPDIR_H
#define CH_TEST_TMPDIR_H

/* Removes every file in dir (one level: the store, its WAL and SHM) and then dir itself.
 * Returns 0, or -1 when dir could not be removed. */
int ch_test_tmpdir_remove(const char *dir);

#endif
