/*
 * test_entry: apopdb/entry.c, the one entry read apopdb and popauth share,
 * on a real GDBM file: found, not found, a damaged record (an error, which
 * is logged, never "not found"), and the handle closed every time (a
 * writer can take the database at once afterwards).
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apopdb/entry.h"
#include "auth/userdb/userdb_write.h"
#include "lib/log.h"
#include "tests/unit/auth/testdir.h"
#include "tests/unit/tap.h"

#ifdef HAVE_GDBM
#include <gdbm.h>

static char path[600];

static struct userdb *reader(void)
{
	char err[512];
	struct userdb *db = userdb_open(path, USERDB_READ, err, sizeof(err));

	if (db == NULL)
		fprintf(stderr, "%s\n", err);
	return db;
}

/* True when a writer can take the database now: no handle is left open. */
static bool writable_now(void)
{
	char err[512];
	struct userdb *db = userdb_write_open(path, USERDB_WRITE, NULL, err, sizeof(err));

	userdb_close(db);
	return db != NULL;
}

int main(void)
{
	char err[512];
	struct userdb_entry e;
	struct userdb *db;
	GDBM_FILE f;
	datum k = { (char *)"damaged", 7 }, v = { (char *)"garbage", 7 };

	log_open("test_entry", LOG_USER, LOG_TO_STDERR);
	umask(077);
	if (testdir_make("test_entry") < 0)
		return 1;
	snprintf(path, sizeof(path), "%s", testdir_path("pop.auth"));
	db = userdb_write_open(path, USERDB_CREATE, NULL, err, sizeof(err));
	if (db == NULL)
		die(err);
	userdb_set_secret(db, "alice", "s3cret", 6);
	userdb_close(db);
	f = gdbm_open(path, 0, GDBM_WRITER, 0600, NULL);
	if (f == NULL)
		die("gdbm_open");
	gdbm_store(f, k, v, GDBM_REPLACE);
	gdbm_close(f);

	is_int(entry_read_once(reader(), "alice", &e), USERDB_OK, "an entry that is there: OK");
	ok(e.kind == USERDB_VIRTUAL && e.secret_len == 6 && strcmp(e.secret, "s3cret") == 0,
	   "  with its kind and secret");
	userdb_entry_wipe(&e);
	ok(writable_now(), "  and the handle is closed");
	is_int(entry_read_once(reader(), "bob", &e), USERDB_NOTFOUND, "a name that is not: NOTFOUND");
	ok(writable_now(), "  the handle is closed");
	is_int(entry_read_once(reader(), "damaged", &e), USERDB_ERROR,
	       "a damaged record: an error, not \"not found\"");
	ok(writable_now(), "  the handle is closed");
	testdir_remove();
	return tap_done();
}

#else /* !HAVE_GDBM */

int main(void)
{
	tap_skip("built without GDBM", "entry_read_once");
	return tap_done();
}

#endif /* HAVE_GDBM */
