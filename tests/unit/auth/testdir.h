/*
 * testdir: the temporary directory of one unit test of auth/ or apopdb/
 * (files for databases, keytabs, PAM services, logs), made under $TMPDIR
 * (or /tmp) and removed with everything in it at the end.
 */
#ifndef POPPER_TEST_TESTDIR_H
#define POPPER_TEST_TESTDIR_H

#include <stddef.h>
#include <sys/types.h>

/* Makes $TMPDIR/NAME.XXXXXX.  Returns 0, or -1 (reported on stderr). */
int testdir_make(const char *name);
/* Takes dir (made by the run that re-executed us) as the directory. */
void testdir_use(const char *dir);
/* The directory. */
const char *testdir(void);
/* The path of name in the directory; stays valid for the next 63 calls
 * (configurations keep such pointers). */
const char *testdir_path(const char *name);
/* Writes len bytes of data to path with mode; exits on error. */
void testdir_write(const char *path, const void *data, size_t len, mode_t mode);
/* Removes the directory and everything in it. */
void testdir_remove(void);

#endif
