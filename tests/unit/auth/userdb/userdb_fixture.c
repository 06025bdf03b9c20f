/*
 * userdb_fixture: what the user database's unit tests share (see
 * userdb_fixture.h): a temporary directory, and GDBM helpers that plant raw
 * records behind the library's back to make damaged databases.
 */
#include "config.h"

#include "tests/unit/auth/userdb/userdb_fixture.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "auth/userdb/userdb_write.h"
#include "tests/unit/auth/testdir.h"

#ifdef HAVE_GDBM
#include <gdbm.h>
#endif

const char *tpath(const char *name)
{
	return testdir_path(name);
}

void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	testdir_write(path, data, len, mode);
}

bool contains(const char *hay, const char *needle)
{
	return hay != NULL && strstr(hay, needle) != NULL;
}

int fixture_run(const char *name, void (*const tests[])(void), size_t n)
{
	size_t i;

	log_open(name, LOG_USER, LOG_TO_STDERR);
	if (testdir_make(name) < 0)
		return -1;
	umask(077);
	for (i = 0; i < n; i++)
		tests[i]();
	testdir_remove();
	return 0;
}

#ifdef HAVE_GDBM

/* Stores a raw value, bypassing userdb, to plant damaged records. */
void raw_store(const char *path, const char *key, const char *val, size_t vlen)
{
	GDBM_FILE f = gdbm_open(path, 0, GDBM_WRITER, 0600, NULL);
	datum k, v;

	if (f == NULL) {
		fprintf(stderr, "raw_store: %s\n", gdbm_strerror(gdbm_errno));
		exit(1);
	}
	k.dptr = (char *)key;
	k.dsize = (int)strlen(key);
	v.dptr = (char *)val;
	v.dsize = (int)vlen;
	gdbm_store(f, k, v, GDBM_REPLACE);
	gdbm_close(f);
}

void raw_store_key(const char *path, const void *key, size_t klen)
{
	GDBM_FILE f = gdbm_open(path, 0, GDBM_WRITER, 0600, NULL);
	datum k, v;

	if (f == NULL)
		exit(1);
	k.dptr = (char *)key;
	k.dsize = (int)klen;
	v.dptr = (char *)"v1\nsecret=61\n";
	v.dsize = 13;
	gdbm_store(f, k, v, GDBM_REPLACE);
	gdbm_close(f);
}

/* Fetches the raw value (NUL-terminated) into out. */
bool raw_fetch(const char *path, const char *key, char *out, size_t outsize)
{
	GDBM_FILE f = gdbm_open(path, 0, GDBM_READER, 0600, NULL);
	datum k, v;
	bool ok = false;

	if (f == NULL)
		return false;
	k.dptr = (char *)key;
	k.dsize = (int)strlen(key);
	v = gdbm_fetch(f, k);
	if (v.dptr != NULL && (size_t)v.dsize < outsize) {
		memcpy(out, v.dptr, (size_t)v.dsize);
		out[v.dsize] = '\0';
		ok = true;
	}
	free(v.dptr);
	gdbm_close(f);
	return ok;
}

int saw(const char *user, void *ctx)
{
	struct seen *s = ctx;

	s->count++;
	if (strcmp(user, "alice") == 0)
		s->alice = true;
	if (strcmp(user, "bob") == 0)
		s->bob = true;
	if (strcmp(user, "carol@example.org") == 0)
		s->carol = true;
	return s->stop_after > 0 && s->count >= s->stop_after;
}

/* Stores raw key/value bytes in a GDBM file (creating it), bypassing
 * userdb: to build Qpopper databases and damaged ones. */
void raw_put(const char *path, const void *key, size_t klen, const void *val, size_t vlen)
{
	GDBM_FILE f = gdbm_open(path, 0, GDBM_WRCREAT, 0600, NULL);
	datum k, v;

	if (f == NULL) {
		fprintf(stderr, "raw_put: %s\n", gdbm_strerror(gdbm_errno));
		exit(1);
	}
	k.dptr = (char *)key;
	k.dsize = (int)klen;
	v.dptr = (char *)val;
	v.dsize = (int)vlen;
	gdbm_store(f, k, v, GDBM_REPLACE);
	gdbm_close(f);
}

bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

enum userdb_status get_in(const char *path, const char *user, struct userdb_entry *e)
{
	char err[512];
	struct userdb *db = userdb_open(path, USERDB_READ, err, sizeof(err));
	enum userdb_status st;

	if (db == NULL)
		return USERDB_ERROR;
	st = userdb_get_entry(db, user, e);
	userdb_close(db);
	return st;
}

void put_sys(struct userdb *db, const char *user, const char *secret)
{
	struct userdb_entry e;

	memset(&e, 0, sizeof(e));
	e.kind = USERDB_SYSTEM;
	if (secret != NULL) {
		e.secret_len = strlen(secret);
		memcpy(e.secret, secret, e.secret_len);
	}
	if (userdb_put_entry(db, user, &e) != USERDB_OK)
		printf("# put_sys %s: %s\n", user, userdb_error(db));
}

#endif /* HAVE_GDBM */
