/*
 * userdb_fixture: helpers shared by the unit tests of auth/userdb/
 * (test_userdb_format, test_userdb_read, test_userdb_write,
 * test_userdb_bulk): a temporary directory for the database files, and
 * GDBM helpers that bypass the library to plant raw or damaged records.
 * test_auth_userdb and test_sasl_auxprop plant records with them too.
 */
#ifndef POPPER_TEST_USERDB_FIXTURE_H
#define POPPER_TEST_USERDB_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "auth/userdb/userdb.h"

/* Opens the log (stderr) under name, makes the temporary directory
 * (umask 077), runs the n tests and removes the directory.  Returns 0, or
 * -1 (reported) when the directory cannot be made. */
int fixture_run(const char *name, void (*const tests[])(void), size_t n);

/* A path in the directory; valid for the next 63 calls. */
const char *tpath(const char *name);
/* Writes len bytes of data to path with mode (exits on error). */
void write_file(const char *path, const void *data, size_t len, mode_t mode);
/* True when hay (may be NULL) contains needle. */
bool contains(const char *hay, const char *needle);

#ifdef HAVE_GDBM
/* Stores a raw value, bypassing userdb, to plant damaged records. */
void raw_store(const char *path, const char *key, const char *val, size_t vlen);
/* Stores a valid record under a raw key (klen bytes). */
void raw_store_key(const char *path, const void *key, size_t klen);
/* Fetches the raw value (NUL-terminated) into out. */
bool raw_fetch(const char *path, const char *key, char *out, size_t outsize);
/* Stores raw key/value bytes in a GDBM file (creating it). */
void raw_put(const char *path, const void *key, size_t klen, const void *val, size_t vlen);
/* True when path exists (lstat). */
bool exists(const char *path);
/* Opens path read-only and reads user's entry into *e. */
enum userdb_status get_in(const char *path, const char *user, struct userdb_entry *e);
/* Stores a system entry (secret NULL: none) through the writer. */
void put_sys(struct userdb *db, const char *user, const char *secret);

/* What userdb_foreach's callback saw (saw() is the callback). */
struct seen {
	int count;
	bool alice, bob, carol;
	int stop_after;
};

int saw(const char *user, void *ctx);
#endif

#endif
