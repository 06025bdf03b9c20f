/*
 * test_userdb: auth/userdb/userdb.c against real GDBM files in a temporary
 * directory: the record format round trip, every status (found, not found,
 * damaged record), the file-safety refusals, and files that are not
 * databases at all (empty, random bytes, truncated), which must give a clean
 * error and never a crash.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"
#include "auth/userdb/userdb.h"
#include "auth/userdb/userdb_bulk.h"
#include "auth/userdb/userdb_write.h"
#include "tests/unit/tap.h"

#ifdef HAVE_GDBM
#include <gdbm.h>
#endif

static char dir[256];

static const char *tpath(const char *name)
{
	static char buf[4][512];
	static int slot;

	slot = (slot + 1) % 4;
	snprintf(buf[slot], sizeof(buf[slot]), "%s/%s", dir, name);
	return buf[slot];
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0 || (len > 0 && write(fd, data, len) != (ssize_t)len)) {
		perror(path);
		exit(1);
	}
	close(fd);
	chmod(path, mode);
}

static bool contains(const char *hay, const char *needle)
{
	return hay != NULL && strstr(hay, needle) != NULL;
}

#ifdef HAVE_GDBM

/* Stores a raw value, bypassing userdb, to plant damaged records. */
static void raw_store(const char *path, const char *key, const char *val, size_t vlen)
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

static void raw_store_key(const char *path, const void *key, size_t klen)
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
static bool raw_fetch(const char *path, const char *key, char *out, size_t outsize)
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

struct seen {
	int count;
	bool alice, bob, carol;
	int stop_after;
};

static int saw(const char *user, void *ctx)
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

static void test_basics(void)
{
	const char *db_path = tpath("basic.db");
	char err[512], secret[USERDB_SECRET_MAX + 1];
	unsigned char bin[USERDB_SECRET_MAX + 1];
	struct userdb *db;
	struct stat st;
	size_t len = 99, i;
	struct seen s;

	errno = 0;
	db = userdb_open(db_path, USERDB_READ, err, sizeof(err));
	ok(db == NULL && errno == ENOENT, "missing file: NULL with errno ENOENT");
	ok(contains(err, db_path), "missing file: message names the file (%s)", err);
	db = userdb_write_open(db_path, USERDB_WRITE, NULL, err, sizeof(err));
	ok(db == NULL, "missing file cannot be opened for writing");

	db = userdb_write_open(db_path, USERDB_CREATE, NULL, err, sizeof(err));
	ok(db != NULL, "create opens a new database (%s)", db ? "" : err);
	if (db == NULL)
		return;
	ok(stat(db_path, &st) == 0 && (st.st_mode & 0777) == 0600, "new database has mode 0600");

	is_int(userdb_set_secret(db, "alice", "s3cret", 6), USERDB_OK, "add alice");
	is_int(userdb_get_secret(db, "alice", secret, sizeof(secret), &len), USERDB_OK, "get alice");
	ok(len == 6 && strcmp(secret, "s3cret") == 0, "alice's secret round trips");
	is_int(userdb_set_secret(db, "alice", "other", 5), USERDB_OK, "replace alice");
	userdb_get_secret(db, "alice", secret, sizeof(secret), &len);
	ok(len == 5 && strcmp(secret, "other") == 0, "replaced secret is returned");

	len = 99;
	is_int(userdb_get_secret(db, "nobody", secret, sizeof(secret), &len), USERDB_NOTFOUND,
	       "unknown user is not found");
	ok(len == 0 && secret[0] == '\0', "not found leaves an empty secret");
	is_int(userdb_get_secret(db, "../etc", secret, sizeof(secret), &len), USERDB_NOTFOUND,
	       "invalid name is simply not found");
	is_int(userdb_set_secret(db, "bad name", "x", 1), USERDB_ERROR, "invalid name cannot be stored");
	is_int(userdb_set_secret(db, "", "x", 1), USERDB_ERROR, "empty name cannot be stored");
	is_int(userdb_set_secret(db, "bob", "", 0), USERDB_ERROR, "empty secret refused");
	ok(contains(userdb_error(db), db_path), "error text names the file (%s)", userdb_error(db));

	/* Limits: USERDB_SECRET_MAX - 1, MAX, MAX + 1; every byte value. */
	/* every byte value but NUL (a secret never holds one) */
	for (i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)(i % 255 + 1);
	is_int(userdb_set_secret(db, "bob", (char *)bin, USERDB_SECRET_MAX - 1), USERDB_OK,
	       "secret of MAX-1 bytes");
	is_int(userdb_set_secret(db, "bob", (char *)bin, USERDB_SECRET_MAX), USERDB_OK,
	       "secret of MAX bytes");
	is_int(userdb_set_secret(db, "bob", (char *)bin, USERDB_SECRET_MAX + 1), USERDB_ERROR,
	       "secret of MAX+1 bytes refused");
	is_int(userdb_get_secret(db, "bob", secret, sizeof(secret), &len), USERDB_OK, "get bob");
	ok(len == USERDB_SECRET_MAX && memcmp(secret, bin, len) == 0,
	   "binary secret of MAX bytes round trips");
	is_int(userdb_get_secret(db, "bob", secret, 10, &len), USERDB_ERROR,
	       "a buffer too small is an error, not a truncation");

	is_int(userdb_set_secret(db, "carol@example.org", "pw", 2), USERDB_OK, "add a domain name");

	memset(&s, 0, sizeof(s));
	is_int(userdb_foreach(db, saw, &s), USERDB_OK, "foreach");
	ok(s.count == 3 && s.alice && s.bob && s.carol, "foreach sees all three users");
	memset(&s, 0, sizeof(s));
	s.stop_after = 1;
	is_int(userdb_foreach(db, saw, &s), USERDB_OK, "foreach stopped early");
	is_int(s.count, 1, "foreach stops when fn returns non-zero");

	is_int(userdb_delete(db, "bob"), USERDB_OK, "delete bob");
	is_int(userdb_delete(db, "bob"), USERDB_NOTFOUND, "delete bob again: not found");
	is_int(userdb_get_secret(db, "bob", secret, sizeof(secret), &len), USERDB_NOTFOUND,
	       "bob is gone");
	userdb_close(db);

	db = userdb_open(db_path, USERDB_READ, err, sizeof(err));
	ok(db != NULL, "reopen read-only (%s)", db ? "" : err);
	if (db == NULL)
		return;
	is_int(userdb_get_secret(db, "alice", secret, sizeof(secret), &len), USERDB_OK,
	       "data survived close");
	is_int(userdb_set_secret(db, "dave", "x", 1), USERDB_ERROR, "read-only: set refused");
	is_int(userdb_delete(db, "alice"), USERDB_ERROR, "read-only: delete refused");
	userdb_close(db);

	ok(raw_fetch(db_path, "alice", secret, sizeof(secret)) &&
	   strcmp(secret, "v1\nkind=virtual\nsecret=6f74686572\n") == 0,
	   "record is \"v1\\nkind=virtual\\nsecret=<lower-case hex>\\n\"");

	/* Locking: a writer holds the database; a reader gives up cleanly. */
	db = userdb_write_open(db_path, USERDB_WRITE, NULL, err, sizeof(err));
	if (db != NULL) {
		pid_t pid = fork();

		if (pid == 0) {
			struct userdb *r = userdb_open(db_path, USERDB_READ, err, sizeof(err));

			_exit(r == NULL && errno == EAGAIN && contains(err, "locked") ? 0 : 1);
		}
		if (pid > 0) {
			int status = 0;

			waitpid(pid, &status, 0);
			ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			   "a reader gives up with \"locked\" while a writer holds the database");
		}
		userdb_close(db);
	}
}

static void test_records(void)
{
	static const struct {
		const char *value;
		const char *what;
	} bad[] = {
		{ "garbage", "no version line" },
		{ "v2\nsecret=61\n", "unknown version" },
		{ "v1\nkind=alien\n", "unknown kind" },
		{ "v1\nkind=system\nkind=virtual\n", "two kinds" },
		{ "v1\nkind=\n", "empty kind" },
		{ "v1\nsecret=610062\n", "a NUL byte inside the secret" },
		{ "v1\nsecret=\n", "empty secret" },
		{ "v1\nsecret=616\n", "odd number of hex digits" },
		{ "v1\nsecret=ZZ\n", "non-hex secret" },
		{ "v1\nsecret=6A\n", "upper-case hex" },
		{ "v1\nsecret=61", "no final newline" },
		{ "v1\nsecret=61\nsecret=62\n", "two secrets" },
		{ "v1\nnoequals\nsecret=61\n", "line without '='" },
		{ "v1\n=x\nsecret=61\n", "empty field name" },
		{ "v1\nBad Name=x\nsecret=61\n", "bad field name" },
	};
	const char *db_path = tpath("records.db");
	char err[512], secret[USERDB_SECRET_MAX + 1], raw[USERDB_SECRET_MAX * 3];
	char big[5000];
	struct userdb *db;
	size_t len, i;

	db = userdb_write_open(db_path, USERDB_CREATE, NULL, err, sizeof(err));
	if (db == NULL) {
		ok(0, "create records.db: %s", err);
		return;
	}
	userdb_close(db);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		raw_store(db_path, "mallory", bad[i].value, strlen(bad[i].value));
		db = userdb_write_open(db_path, USERDB_WRITE, NULL, err, sizeof(err));
		if (db == NULL) {
			ok(0, "open: %s", err);
			continue;
		}
		is_int(userdb_get_secret(db, "mallory", secret, sizeof(secret), &len), USERDB_ERROR,
		       "damaged record (%s) is an error, not \"not found\"", bad[i].what);
		if (i == 0)
			ok(contains(userdb_error(db), "mallory"), "the error names the user (%s)",
			   userdb_error(db));
		userdb_close(db);
	}
	raw_store(db_path, "mallory", "v1\nx=a\0b\nsecret=61\n", 19);
	db = userdb_write_open(db_path, USERDB_WRITE, NULL, err, sizeof(err));
	if (db != NULL) {
		is_int(userdb_get_secret(db, "mallory", secret, sizeof(secret), &len), USERDB_ERROR,
		       "record with a NUL byte is an error");
		is_int(userdb_set_secret(db, "mallory", "new", 3), USERDB_ERROR,
		       "a damaged record is not silently overwritten");
		is_int(userdb_delete(db, "mallory"), USERDB_OK, "a damaged record can be deleted");
		userdb_close(db);
	}
	memset(big, 'a', sizeof(big));
	memcpy(big, "v1\nx=", 5);
	big[sizeof(big) - 1] = '\n';
	raw_store(db_path, "huge", big, sizeof(big));
	db = userdb_open(db_path, USERDB_READ, err, sizeof(err));
	if (db != NULL) {
		is_int(userdb_get_secret(db, "huge", secret, sizeof(secret), &len), USERDB_ERROR,
		       "an oversized record is an error");
		userdb_close(db);
	}

	/* Fields of later versions survive a rewrite. */
	raw_store(db_path, "frank", "v1\nscram=abc\nsecret=6869\nnote=x=y\n", 34);
	db = userdb_write_open(db_path, USERDB_WRITE, NULL, err, sizeof(err));
	if (db != NULL) {
		is_int(userdb_get_secret(db, "frank", secret, sizeof(secret), &len), USERDB_OK,
		       "record with unknown fields parses");
		ok(len == 2 && strcmp(secret, "hi") == 0, "its secret is read");
		is_int(userdb_set_secret(db, "frank", "new", 3), USERDB_OK, "rewrite it");
		userdb_close(db);
	}
	ok(raw_fetch(db_path, "frank", raw, sizeof(raw)) &&
	   strcmp(raw, "v1\nkind=virtual\nsecret=6e6577\nscram=abc\nnote=x=y\n") == 0,
	   "unknown fields are kept (in order, after kind and secret) when the secret changes");

	/* Keys we never write (Qpopper's trailing NUL, bad characters) are
	 * skipped by foreach, never handed on. */
	raw_store_key(db_path, "qpop\0", 5);
	raw_store_key(db_path, "bad name", 8);
	db = userdb_open(db_path, USERDB_READ, err, sizeof(err));
	if (db != NULL) {
		struct seen s;

		memset(&s, 0, sizeof(s));
		is_int(userdb_foreach(db, saw, &s), USERDB_OK, "foreach over foreign keys");
		is_int(s.count, 2, "foreach hands on only the valid names (frank, huge)");
		userdb_close(db);
	}
}

static void test_file_safety(void)
{
	const char *good = tpath("safety.db");
	char err[512];
	struct userdb *db;

	db = userdb_write_open(good, USERDB_CREATE, NULL, err, sizeof(err));
	if (db == NULL) {
		ok(0, "create safety.db: %s", err);
		return;
	}
	userdb_set_secret(db, "alice", "pw", 2);
	userdb_close(db);

	if (symlink(good, tpath("link.db")) == 0) {
		db = userdb_open(tpath("link.db"), USERDB_READ, err, sizeof(err));
		ok(db == NULL && errno == EPERM, "a symlink is refused (EPERM: a safety refusal)");
		ok(contains(err, "symbolic link"), "  and the reason says so (%s)", err);
		userdb_close(db);
	}
	chmod(good, 0620);
	db = userdb_open(good, USERDB_READ, err, sizeof(err));
	ok(db == NULL && contains(err, "group-writable"), "a group-writable file is refused (%s)", err);
	userdb_close(db);
	chmod(good, 0604);
	db = userdb_open(good, USERDB_READ, err, sizeof(err));
	ok(db == NULL && contains(err, "others"), "a world-readable file is refused (%s)", err);
	userdb_close(db);
	chmod(good, 0640);
	db = userdb_open(good, USERDB_READ, err, sizeof(err));
	ok(db != NULL, "a group-readable 0640 file is accepted (%s)", db ? "" : err);
	userdb_close(db);
	chmod(good, 0600);

	if (link(good, tpath("hard.db")) == 0) {
		db = userdb_open(good, USERDB_READ, err, sizeof(err));
		ok(db == NULL && contains(err, "hard links"), "a file with two links is refused (%s)", err);
		userdb_close(db);
		unlink(tpath("hard.db"));
	}
	mkdir(tpath("dir.db"), 0700);
	db = userdb_open(tpath("dir.db"), USERDB_READ, err, sizeof(err));
	ok(db == NULL, "a directory is refused (%s)", err);
	userdb_close(db);
	db = userdb_write_open(tpath("dir.db"), USERDB_CREATE, NULL, err, sizeof(err));
	ok(db == NULL, "a directory is refused for create too (%s)", err);
	userdb_close(db);
}

static void test_not_a_database(void)
{
	const char *empty = tpath("empty.db");
	const char *noise = tpath("noise.db");
	const char *trunc = tpath("trunc.db");
	char err[512], secret[64], buf[8192];
	unsigned long x = 12345;
	struct userdb *db;
	struct stat st;
	size_t i, len;
	int fd;

	write_file(empty, "", 0, 0600);
	db = userdb_open(empty, USERDB_READ, err, sizeof(err));
	ok(db == NULL && contains(err, "empty"), "zero-length file, read: clean error (%s)", err);
	userdb_close(db);
	db = userdb_write_open(empty, USERDB_WRITE, NULL, err, sizeof(err));
	ok(db == NULL && contains(err, "empty"), "zero-length file, write: clean error (%s)", err);
	userdb_close(db);
	ok(stat(empty, &st) == 0 && st.st_size == 0, "  and it was not turned into a database");
	db = userdb_write_open(empty, USERDB_CREATE, NULL, err, sizeof(err));
	ok(db != NULL, "zero-length file, create: initialised (%s)", db ? "" : err);
	userdb_close(db);

	for (i = 0; i < sizeof(buf); i++) {
		x = x * 6364136223846793005UL + 1442695040888963407UL;
		buf[i] = (char)(x >> 56);
	}
	write_file(noise, buf, sizeof(buf), 0600);
	db = userdb_open(noise, USERDB_READ, err, sizeof(err));
	ok(db == NULL && contains(err, noise), "random bytes, read: clean error (%s)", err);
	userdb_close(db);
	db = userdb_write_open(noise, USERDB_WRITE, NULL, err, sizeof(err));
	ok(db == NULL, "random bytes, write: clean error (%s)", err);
	userdb_close(db);
	db = userdb_write_open(noise, USERDB_CREATE, NULL, err, sizeof(err));
	ok(db == NULL, "random bytes, create: clean error, not overwritten (%s)", err);
	userdb_close(db);

	/* A real database cut in half: whatever GDBM says, no crash. */
	db = userdb_write_open(trunc, USERDB_CREATE, NULL, err, sizeof(err));
	if (db != NULL) {
		char name[32];

		for (i = 0; i < 200; i++) {
			snprintf(name, sizeof(name), "user%zu", i);
			userdb_set_secret(db, name, "secret", 6);
		}
		userdb_close(db);
		if (stat(trunc, &st) == 0 && (fd = open(trunc, O_WRONLY)) >= 0) {
			if (ftruncate(fd, st.st_size / 2) != 0)
				perror("ftruncate");
			close(fd);
		}
		db = userdb_open(trunc, USERDB_READ, err, sizeof(err));
		if (db != NULL) {
			struct seen s;
			enum userdb_status a, b;

			memset(&s, 0, sizeof(s));
			a = userdb_get_secret(db, "user150", secret, sizeof(secret), &len);
			b = userdb_foreach(db, saw, &s);
			userdb_close(db);
			ok(1, "truncated database: no crash (get %d, foreach %d, %d names)",
			   (int)a, (int)b, s.count);
		} else {
			ok(1, "truncated database: clean open error (%s)", err);
		}
	}
}

/* Stores raw key/value bytes in a GDBM file (creating it), bypassing
 * userdb: to build Qpopper databases and damaged ones. */
static void raw_put(const char *path, const void *key, size_t klen, const void *val, size_t vlen)
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

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static enum userdb_status get_in(const char *path, const char *user, struct userdb_entry *e)
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

static void put_sys(struct userdb *db, const char *user, const char *secret)
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

static void test_entries(void)
{
	const char *p = tpath("entries.db");
	char err[512], secret[64];
	struct userdb_entry e;
	struct userdb *db;
	size_t len = 9;

	db = userdb_write_open(p, USERDB_CREATE, NULL, err, sizeof(err));
	if (db == NULL) {
		ok(0, "create entries.db: %s", err);
		return;
	}
	put_sys(db, "sam", "Sam-s3cret");
	put_sys(db, "nosecret", NULL);
	is_int(userdb_get_entry(db, "sam", &e), USERDB_OK, "a system entry is stored");
	ok(e.kind == USERDB_SYSTEM && e.secret_len == 10 && strcmp(e.secret, "Sam-s3cret") == 0,
	   "  and read back as system with its secret");
	is_int(userdb_get_entry(db, "nosecret", &e), USERDB_OK, "an entry without a secret");
	ok(e.kind == USERDB_SYSTEM && e.secret_len == 0, "  has kind system and no secret");
	is_int(userdb_get_secret(db, "nosecret", secret, sizeof(secret), &len), USERDB_OK,
	       "userdb_get_secret on it: OK");
	ok(len == 0 && secret[0] == '\0', "  with length 0");
	is_int(userdb_set_secret(db, "sam", "other", 5), USERDB_OK, "set_secret on a system entry");
	userdb_get_entry(db, "sam", &e);
	ok(e.kind == USERDB_SYSTEM && strcmp(e.secret, "other") == 0, "  keeps its kind");
	memset(&e, 0, sizeof(e));
	e.kind = USERDB_SYSTEM;
	e.secret_len = 3;
	memcpy(e.secret, "a\0b", 3);
	is_int(userdb_put_entry(db, "sam", &e), USERDB_ERROR, "a secret with a NUL byte is refused");
	e.secret_len = 1;
	e.kind = (enum userdb_kind)7;
	is_int(userdb_put_entry(db, "sam", &e), USERDB_ERROR, "a bad kind is refused");
	e.kind = USERDB_VIRTUAL;
	is_int(userdb_put_entry(db, "bad name", &e), USERDB_ERROR, "an invalid name is refused");
	userdb_entry_wipe(&e);
	ok(e.secret_len == 0 && e.secret[0] == '\0', "userdb_entry_wipe clears the entry");
	userdb_close(db);

	raw_store(p, "old", "v1\nsecret=6869\n", 15);
	ok(get_in(p, "old", &e) == USERDB_OK && e.kind == USERDB_VIRTUAL && e.secret_len == 2,
	   "a record without kind (an older writer) is a virtual user");
	raw_store(p, "bare", "v1\n", 3);
	ok(get_in(p, "bare", &e) == USERDB_OK && e.kind == USERDB_VIRTUAL && e.secret_len == 0,
	   "\"v1\\n\" alone is a virtual user without a secret");
	raw_store(p, "later", "v1\nkind=system\nscram-sha-256=xyz\n", 33);
	ok(get_in(p, "later", &e) == USERDB_OK && e.other_fields == 1,
	   "fields of later versions are counted, not interpreted");
}

static void test_update(void)
{
	const char *p = tpath("upd.db"), *stale = tpath(".upd.db.new");
	char err[512];
	struct userdb_entry e;
	struct userdb *db, *rd;
	struct stat st1, st2;
	pid_t pid;
	int status;

	db = userdb_write_open(p, USERDB_UPDATE, NULL, err, sizeof(err));
	ok(db == NULL && errno == ENOENT, "UPDATE of a missing database: ENOENT (%s)", err);
	db = userdb_write_open(p, USERDB_REPLACE, NULL, err, sizeof(err));
	ok(db != NULL, "REPLACE of a missing database opens (%s)", db ? "" : err);
	if (db == NULL)
		return;
	ok(!exists(p) && exists(stale), "  the new copy is beside it, the database not there yet");
	userdb_set_secret(db, "alice", "pw-alice", 8);
	is_int(userdb_commit(db, (uid_t)-1, (gid_t)-1), 0, "  commit");
	ok(!exists(stale) && exists(p), "  renamed into place");
	is_int(userdb_commit(db, (uid_t)-1, (gid_t)-1), -1, "  a second commit is refused");
	is_int(userdb_set_secret(db, "x", "y", 1), USERDB_ERROR, "  and so are changes after it");
	userdb_close(db);
	ok(stat(p, &st1) == 0 && (st1.st_mode & 07777) == 0600, "the database has mode 0600");
	ok(get_in(p, "alice", &e) == USERDB_OK && strcmp(e.secret, "pw-alice") == 0,
	   "the committed entry is there");

	/* Not committed: nothing changes, nothing is left behind. */
	db = userdb_write_open(p, USERDB_UPDATE, NULL, err, sizeof(err));
	ok(db != NULL, "UPDATE opens (%s)", db ? "" : err);
	if (db == NULL)
		return;
	ok(userdb_get_entry(db, "alice", &e) == USERDB_OK, "  the copy holds the old entries");
	userdb_set_secret(db, "bob", "pw-bob", 6);
	userdb_delete(db, "alice");
	rd = userdb_open(p, USERDB_READ, err, sizeof(err));
	ok(rd != NULL && userdb_get_entry(rd, "bob", &e) == USERDB_NOTFOUND &&
	   userdb_get_entry(rd, "alice", &e) == USERDB_OK,
	   "  a reader meanwhile sees the old database (%s)", rd ? "" : err);
	userdb_close(rd);
	userdb_close(db);
	ok(get_in(p, "bob", &e) == USERDB_NOTFOUND && get_in(p, "alice", &e) == USERDB_OK,
	   "closed without commit: the database is unchanged");
	ok(!exists(stale), "  and the copy is gone");
	db = userdb_open(p, USERDB_READ, err, sizeof(err));
	if (db != NULL)
		is_int(userdb_commit(db, (uid_t)-1, (gid_t)-1), -1,
		       "commit of a READ handle: refused");
	userdb_close(db);

	/* Committed: a new file replaces the old one. */
	stat(p, &st1);
	db = userdb_write_open(p, USERDB_UPDATE, NULL, err, sizeof(err));
	if (db != NULL) {
		userdb_set_secret(db, "bob", "pw-bob", 6);
		is_int(userdb_commit(db, (uid_t)-1, (gid_t)-1), 0, "UPDATE commit");
		userdb_close(db);
	}
	ok(stat(p, &st2) == 0 && st2.st_ino != st1.st_ino, "  the database is a new file");
	ok(get_in(p, "bob", &e) == USERDB_OK && get_in(p, "alice", &e) == USERDB_OK,
	   "  with the old entries and the new one");

	/* A writer killed before its rename: the database is whole, and the
	 * copy it left is cleaned up by the next writer. */
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct userdb *w = userdb_write_open(p, USERDB_UPDATE, NULL, err, sizeof(err));

		if (w != NULL) {
			userdb_set_secret(w, "carl", "pw-carl", 7);
			userdb_delete(w, "alice");
		}
		kill(getpid(), SIGKILL);
		_exit(1);
	}
	waitpid(pid, &status, 0);
	ok(WIFSIGNALED(status), "a writer killed half-way");
	ok(get_in(p, "alice", &e) == USERDB_OK && get_in(p, "carl", &e) == USERDB_NOTFOUND,
	   "  left the database as it was");
	ok(exists(stale), "  (and its copy)");
	db = userdb_write_open(p, USERDB_UPDATE, NULL, err, sizeof(err));
	ok(db != NULL, "the next writer starts anyway (%s)", db ? "" : err);
	if (db != NULL) {
		userdb_set_secret(db, "dave", "pw-dave", 7);
		is_int(userdb_commit(db, (uid_t)-1, (gid_t)-1), 0, "  and commits");
		userdb_close(db);
	}
	ok(!exists(stale) && get_in(p, "dave", &e) == USERDB_OK && get_in(p, "carl", &e) ==
	   USERDB_NOTFOUND, "  without the dead writer's change, and its copy is gone");

	/* Two writers: the second waits for the first; no change is lost. */
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct userdb *w = userdb_write_open(p, USERDB_UPDATE, NULL, err, sizeof(err));

		if (w == NULL)
			_exit(2);
		userdb_set_secret(w, "first", "pw-first", 8);
		usleep(400000);
		_exit(userdb_commit(w, (uid_t)-1, (gid_t)-1) == 0 ? 0 : 3);
	}
	usleep(100000);
	db = userdb_write_open(p, USERDB_UPDATE, NULL, err, sizeof(err));
	if (db != NULL) {
		userdb_set_secret(db, "second", "pw-second", 9);
		userdb_commit(db, (uid_t)-1, (gid_t)-1);
		userdb_close(db);
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "concurrent writers: the first commits");
	ok(get_in(p, "first", &e) == USERDB_OK && get_in(p, "second", &e) == USERDB_OK,
	   "  and the second, who waited, kept the first one's change");

	/* REPLACE over a file that is not a database at all. */
	write_file(tpath("junk.db"), "this is not gdbm", 16, 0600);
	db = userdb_write_open(tpath("junk.db"), USERDB_UPDATE, NULL, err, sizeof(err));
	ok(db == NULL && contains(err, "junk.db"), "UPDATE of a damaged file: refused (%s)", err);
	ok(!exists(tpath(".junk.db.new")), "  and no copy is left");
	db = userdb_write_open(tpath("junk.db"), USERDB_REPLACE, NULL, err, sizeof(err));
	ok(db != NULL && userdb_commit(db, (uid_t)-1, (gid_t)-1) == 0,
	   "REPLACE over it: a fresh empty database");
	userdb_close(db);
	ok(get_in(tpath("junk.db"), "x", &e) == USERDB_NOTFOUND, "  which opens and is empty");

	db = userdb_write_open(tpath("nodir/x.db"), USERDB_REPLACE, NULL, err, sizeof(err));
	ok(db == NULL && contains(err, "nodir"), "REPLACE in a missing directory: error (%s)", err);

	if (geteuid() == 0) {
		db = userdb_write_open(p, USERDB_REPLACE, NULL, err, sizeof(err));
		if (db != NULL) {
			ok(userdb_commit(db, 4321, 4322) == 0 && stat(p, &st1) == 0 &&
			   st1.st_uid == 4321 && st1.st_gid == 4322,
			   "REPLACE commit as root gives the owner asked for");
			userdb_close(db);
		}
		db = userdb_write_open(p, USERDB_UPDATE, NULL, err, sizeof(err));
		if (db != NULL) {
			userdb_set_secret(db, "eve", "pw-eve", 6);
			ok(userdb_commit(db, (uid_t)-1, (gid_t)-1) == 0 && stat(p, &st1) == 0 &&
			   st1.st_uid == 4321 && st1.st_gid == 4322,
			   "UPDATE commit keeps the old file's owner");
			userdb_close(db);
		}
	} else {
		tap_skip("needs root to chown", "owner of a committed copy");
	}
}

static void test_strict(void)
{
	const char *p = tpath("strict.db");
	struct userdb_rules r = { .strict = true };
	char err[512];
	struct userdb *db;

	db = userdb_write_open(p, USERDB_CREATE, NULL, err, sizeof(err));
	userdb_close(db);
	db = userdb_open_with(p, USERDB_READ, &r, err, sizeof(err));
	ok(db != NULL, "strict: 0600, owned by us: accepted (%s)", db ? "" : err);
	userdb_close(db);
	chmod(p, 0640);
	db = userdb_open(p, USERDB_READ, err, sizeof(err));
	ok(db != NULL, "0640 passes the tools' rule");
	userdb_close(db);
	db = userdb_open_with(p, USERDB_READ, &r, err, sizeof(err));
	ok(db == NULL && errno == EPERM && contains(err, "mode 0640") && contains(err, "owner uid"),
	   "strict: 0640 refused with EPERM, naming owner and mode (%s)", err);
	chmod(p, 0400);
	db = userdb_open_with(p, USERDB_READ, &r, err, sizeof(err));
	ok(db == NULL && errno == EPERM, "strict: 0400 refused too (%s)", err);
	chmod(p, 0600);
	if (geteuid() == 0 && chown(p, 4321, 4321) == 0) {
		db = userdb_open_with(p, USERDB_READ, &r, err, sizeof(err));
		ok(db == NULL && errno == EPERM && contains(err, "owner uid 4321"),
		   "strict: another owner refused (%s)", err);
		r.owner_set = true;
		r.owner_uid = 4321;
		db = userdb_open_with(p, USERDB_READ, &r, err, sizeof(err));
		ok(db != NULL, "strict: the configured owner accepted (%s)", db ? "" : err);
		userdb_close(db);
	} else {
		tap_skip("needs root to chown", "strict owner rule");
	}
}

static void test_export_import(void)
{
	const char *src = tpath("exp-src.db"), *dst = tpath("exp-dst.db");
	struct userdb_import_stats st;
	struct userdb_entry e;
	unsigned long n = 0;
	char err[512], a[512], b[512];
	struct userdb *db;
	FILE *f;
	static const struct {
		const char *text, *what, *needle;
	} bad[] = {
		{ "", "an empty file", "empty" },
		{ "[alice]\nkind=virtual\n", "no header line", "first line" },
		{ "popper-userdb-export 2\n", "another format version", "first line" },
		{ "popper-userdb-export 1\nkind=virtual\n", "a field before any [user]", ":2:" },
		{ "popper-userdb-export 1\n[bad name]\n", "an invalid name", ":2:" },
		{ "popper-userdb-export 1\n[]\n", "an empty name", ":2:" },
		{ "popper-userdb-export 1\n[a]\nsecret=XYZ\n", "a bad secret", "user a" },
		{ "popper-userdb-export 1\n[a]\nsecret=61\n[b]\n[a]\n", "a name given twice", "twice" },
		{ "popper-userdb-export 1\n[a]\nnoequals\n", "a line without '='", "user a" },
		{ "popper-userdb-export 1\n[a]\nx=\001\n\0\n", "a NUL byte", "NUL" },
	};
	size_t i;

	db = userdb_write_open(src, USERDB_CREATE, NULL, err, sizeof(err));
	if (db == NULL) {
		ok(0, "create %s: %s", src, err);
		return;
	}
	userdb_set_secret(db, "alice", "Alice-s3cret", 12);
	put_sys(db, "sam", "Sam-s3cret");
	put_sys(db, "nosecret", NULL);
	userdb_close(db);
	raw_store(src, "frank", "v1\nkind=virtual\nsecret=6869\nscram=a=b c\n", 40);

	f = fopen(tpath("export.txt"), "w+");
	db = userdb_open(src, USERDB_READ, err, sizeof(err));
	is_int(userdb_export(db, f, &n), USERDB_OK, "export");
	is_int((long long)n, 4, "  of 4 entries");
	userdb_close(db);
	rewind(f);
	{
		char text[2048];
		size_t got = fread(text, 1, sizeof(text) - 1, f);

		text[got] = '\0';
		ok(strncmp(text, "popper-userdb-export 1\n", 23) == 0 &&
		   contains(text, "[sam]\nkind=system\nsecret=53616d2d73336372657") &&
		   contains(text, "[nosecret]\nkind=system\n") &&
		   contains(text, "scram=a=b c\n"),
		   "the export: header, [user] lines, the record lines as stored");
	}
	rewind(f);
	db = userdb_write_open(dst, USERDB_REPLACE, NULL, err, sizeof(err));
	is_int(userdb_import_text(db, f, "export.txt", &st), USERDB_OK, "import it into a new database");
	ok(st.added == 4 && st.replaced == 0 && st.skipped == 0, "  4 added");
	userdb_commit(db, (uid_t)-1, (gid_t)-1);
	userdb_close(db);
	ok(raw_fetch(src, "frank", a, sizeof(a)) && raw_fetch(dst, "frank", b, sizeof(b)) &&
	   strcmp(a, b) == 0, "  records arrive byte for byte (unknown fields too)");
	ok(get_in(dst, "sam", &e) == USERDB_OK && e.kind == USERDB_SYSTEM &&
	   strcmp(e.secret, "Sam-s3cret") == 0, "  kinds and secrets survive the round trip");
	ok(get_in(dst, "nosecret", &e) == USERDB_OK && e.secret_len == 0,
	   "  and so does an entry without a secret");

	/* Into an existing database: same names are replaced, others kept. */
	rewind(f);
	db = userdb_write_open(dst, USERDB_UPDATE, NULL, err, sizeof(err));
	userdb_set_secret(db, "zed", "pw", 2);
	is_int(userdb_import_text(db, f, "export.txt", &st), USERDB_OK, "import again, merging");
	ok(st.added == 0 && st.replaced == 4, "  4 replaced");
	ok(userdb_get_entry(db, "zed", &e) == USERDB_OK, "  others kept");
	userdb_close(db);
	fclose(f);

	f = tmpfile();
	fputs("# a comment\r\n\r\npopper-userdb-export 1\r\n# more\r\n[win]\r\nkind=system\r\n"
	      "secret=6869\r\n", f);
	rewind(f);
	db = userdb_write_open(dst, USERDB_UPDATE, NULL, err, sizeof(err));
	is_int(userdb_import_text(db, f, "crlf", &st), USERDB_OK,
	       "comments, blank lines and CRLF line ends are accepted");
	ok(userdb_get_entry(db, "win", &e) == USERDB_OK && e.kind == USERDB_SYSTEM &&
	   e.secret_len == 2, "  (the entry is right)");
	userdb_close(db);
	fclose(f);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = strlen(bad[i].text);

		if (strstr(bad[i].what, "NUL") != NULL)
			len += 2;
		f = tmpfile();
		fwrite(bad[i].text, 1, len, f);
		rewind(f);
		db = userdb_write_open(dst, USERDB_UPDATE, NULL, err, sizeof(err));
		is_int(userdb_import_text(db, f, "bad.txt", &st), USERDB_ERROR,
		       "import of %s: refused", bad[i].what);
		ok(contains(userdb_error(db), bad[i].needle), "  the message says where (%s)",
		   userdb_error(db));
		userdb_close(db);
		fclose(f);
	}
	f = tmpfile();
	fputs("popper-userdb-export 1\n[long]\nx=", f);
	for (i = 0; i < 5000; i++)
		fputc('a', f);
	fputc('\n', f);
	rewind(f);
	db = userdb_write_open(dst, USERDB_UPDATE, NULL, err, sizeof(err));
	is_int(userdb_import_text(db, f, "long.txt", &st), USERDB_ERROR, "a line too long: refused");
	userdb_close(db);
	fclose(f);
	ok(get_in(dst, "a", &e) == USERDB_NOTFOUND, "refused imports changed nothing");
}

/* Qpopper's own pop.auth, built here in its format: key "user\0", value
 * (secret XOR 0xff) "\0" SCRAM-field "\0". */
static void qp_put(const char *path, const char *user, const char *secret, const char *scram)
{
	char key[80], val[300];
	size_t kl = strlen(user) + 1, vl = 0, i;

	memcpy(key, user, kl);
	for (i = 0; secret[i] != '\0'; i++)
		val[vl++] = (char)((unsigned char)secret[i] ^ 0xff);
	val[vl++] = '\0';
	memcpy(val + vl, scram, strlen(scram));
	vl += strlen(scram);
	val[vl++] = '\0';
	raw_put(path, key, kl, val, vl);
}

static void test_qpopper(void)
{
	const char *q = tpath("qpopper.auth"), *p = tpath("from-qp.db");
	struct userdb_import_stats st;
	struct userdb_entry e;
	char err[512], raw[512];
	struct userdb *db;

	qp_put(q, "qalice", "Alice-pw1", "");
	qp_put(q, "qbob", "bobsecret", "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9w");
	qp_put(q, "qempty", "", "");
	qp_put(q, "bad name", "whatever", "");
	raw_put(q, "qnul", 5, "\x9e\xff\0\0", 4);   /* 0xff decodes to a NUL byte */
	qp_put(q, "qscram", "x", "not base64!");
	raw_put(q, "noterm", 6, "\x9e\0\0", 3);
	raw_put(q, "old\0", 4, "\x9e\x9d", 2);   /* an old entry: no NUL, no SCRAM */

	db = userdb_write_open(p, USERDB_REPLACE, NULL, err, sizeof(err));
	is_int(userdb_import_qpopper(db, q, &st), USERDB_OK, "import of a Qpopper database");
	ok(st.added == 4 && st.skipped == 4, "  4 imported, 4 skipped (%lu, %lu)", st.added,
	   st.skipped);
	userdb_commit(db, (uid_t)-1, (gid_t)-1);
	userdb_close(db);
	ok(get_in(p, "qalice", &e) == USERDB_OK && e.kind == USERDB_SYSTEM &&
	   strcmp(e.secret, "Alice-pw1") == 0, "a Qpopper secret is decoded (XOR 0xff), system kind");
	ok(raw_fetch(p, "qbob", raw, sizeof(raw)) &&
	   contains(raw, "qpopper-scram-md5=QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9w\n"),
	   "its SCRAM field is kept as qpopper-scram-md5");
	ok(get_in(p, "qempty", &e) == USERDB_OK && e.secret_len == 0,
	   "an empty APOP field: an entry without a secret");
	ok(get_in(p, "old", &e) == USERDB_OK && strcmp(e.secret, "ab") == 0,
	   "an old entry without the SCRAM field is read");
	ok(get_in(p, "qnul", &e) == USERDB_NOTFOUND && get_in(p, "qscram", &e) == USERDB_NOTFOUND,
	   "undecodable entries are skipped, not half-imported");

	write_file(tpath("notgdbm.auth"), "plain text, not a database\n", 27, 0600);
	db = userdb_write_open(p, USERDB_UPDATE, NULL, err, sizeof(err));
	is_int(userdb_import_qpopper(db, tpath("notgdbm.auth"), &st), USERDB_ERROR,
	       "a Qpopper file that is not GDBM: refused");
	ok(contains(userdb_error(db), "notgdbm.auth"), "  naming it (%s)", userdb_error(db));
	is_int(userdb_import_qpopper(db, tpath("missing.auth"), &st), USERDB_ERROR,
	       "a missing Qpopper file: refused");
	userdb_close(db);
}

static void test_verify(void)
{
	const char *p = tpath("verify.db");
	struct userdb_verify_report r;
	char err[512];
	struct userdb *db;

	db = userdb_write_open(p, USERDB_CREATE, NULL, err, sizeof(err));
	userdb_set_secret(db, "alice", "pw", 2);
	put_sys(db, "sam", "Sam-s3cret");
	put_sys(db, "nos", NULL);
	userdb_close(db);
	db = userdb_open(p, USERDB_READ, err, sizeof(err));
	is_int(userdb_verify(db, &r), USERDB_OK, "verify a good database");
	ok(r.records == 3 && r.virtual_users == 1 && r.system_users == 2 && r.with_secret == 2 &&
	   r.problems == 0, "  counts: 3 entries, 1 virtual, 2 system, 2 with a secret");
	userdb_close(db);
	raw_store(p, "broken", "v1\nsecret=XY\n", 13);
	raw_store_key(p, "qpop\0", 5);
	db = userdb_open(p, USERDB_READ, err, sizeof(err));
	is_int(userdb_verify(db, &r), USERDB_ERROR, "verify finds problems");
	is_int((long long)r.problems, 2, "  two: a damaged record and a foreign key");
	userdb_close(db);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	log_open("test_userdb", LOG_USER, LOG_TO_STDERR);
	if (!userdb_available()) {
		tap_skip("built without GDBM", "userdb");
		return tap_done();
	}
	snprintf(dir, sizeof(dir), "%s/test_userdb.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	umask(077);
	test_basics();
	test_records();
	test_file_safety();
	test_not_a_database();
	test_entries();
	test_update();
	test_strict();
	test_export_import();
	test_qpopper();
	test_verify();
	{
		char cmd[512];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	return tap_done();
}

#else /* !HAVE_GDBM */

int main(void)
{
	char err[256];
	struct userdb *db;

	(void)write_file;
	(void)contains;
	(void)tpath;
	db = userdb_open("/nonexistent", USERDB_READ, err, sizeof(err));
	ok(!userdb_available() && db == NULL && strstr(err, "without GDBM") != NULL,
	   "without GDBM: unavailable, open fails with a clear message");
	tap_skip("built without GDBM", "the database itself: records, file safety, damaged files");
	return tap_done();
}

#endif
