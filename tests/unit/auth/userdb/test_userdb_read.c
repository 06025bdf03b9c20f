/*
 * test_userdb_read: auth/userdb/userdb_read.c (with the record format of
 * userdb_format.c) against real GDBM files in a temporary directory: the
 * round trip of secrets and entries, every status (found, not found,
 * damaged record), the one rule (userdb_rule.c: file and directory), and
 * files that are not databases at all (empty, random bytes, truncated),
 * which must give a clean error and never a crash.  The files are made
 * with the writer (userdb_write.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <signal.h>
#include <sys/wait.h>

#include "lib/log.h"
#include "auth/userdb/userdb.h"
#include "auth/userdb/userdb_write.h"
#include "tests/unit/auth/userdb/userdb_fixture.h"
#include "tests/unit/tap.h"

#ifdef HAVE_GDBM

/* Secrets at USERDB_SECRET_MAX - 1, MAX and MAX + 1 bytes, of every byte
 * value but NUL (a secret never holds one). */
static void basics_limits(struct userdb *db)
{
	char secret[USERDB_SECRET_MAX + 1];
	unsigned char bin[USERDB_SECRET_MAX + 1];
	size_t len = 0, i;

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
}

/* userdb_foreach over three names, stopped early, then a delete. */
static void basics_foreach(struct userdb *db)
{
	char secret[USERDB_SECRET_MAX + 1];
	size_t len = 0;
	struct seen s;

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
}

/* What was written is there after a close; a read-only handle changes nothing. */
static void basics_reopen(const char *db_path)
{
	char err[512], secret[USERDB_SECRET_MAX + 1];
	struct userdb *db;
	size_t len = 0;

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
}

/* Locking: a writer holds the database; a reader gives up cleanly. */
static void basics_locking(const char *db_path)
{
	char err[512];
	struct userdb *db;

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

static void test_basics(void)
{
	const char *db_path = tpath("basic.db");
	char err[512], secret[USERDB_SECRET_MAX + 1];
	struct userdb *db;
	struct stat st;
	size_t len = 99;

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

	basics_limits(db);
	basics_foreach(db);
	userdb_close(db);
	basics_reopen(db_path);
	basics_locking(db_path);
}

/* Fields of later versions survive a rewrite; keys we never write are
 * skipped by foreach. */
static void records_later_fields(const char *db_path)
{
	char err[512], secret[USERDB_SECRET_MAX + 1], raw[USERDB_SECRET_MAX * 3];
	struct userdb *db;
	size_t len;

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
	char err[512], secret[USERDB_SECRET_MAX + 1];
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
	records_later_fields(db_path);
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
	ok(db == NULL && errno == EPERM && contains(err, "wrong mode (must be 0600)") &&
	   contains(err, "mode 0620"), "a group-writable file is refused (%s)", err);
	userdb_close(db);
	chmod(good, 0604);
	db = userdb_open(good, USERDB_READ, err, sizeof(err));
	ok(db == NULL && contains(err, "mode 0604"), "a world-readable file is refused (%s)", err);
	userdb_close(db);
	/* It holds secrets: no group may read it, for the tools either. */
	chmod(good, 0640);
	db = userdb_open(good, USERDB_READ, err, sizeof(err));
	ok(db == NULL && errno == EPERM && contains(err, "mode 0640"),
	   "a group-readable 0640 file is refused as the server refuses it (%s)", err);
	userdb_close(db);
	db = userdb_write_open(good, USERDB_UPDATE, NULL, err, sizeof(err));
	ok(db == NULL && errno == EPERM && contains(err, "mode 0640"),
	   "  by a writer too (%s)", err);
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

/* The owner: root, ourselves, or the owner account of the rules. */
static void test_owner(void)
{
	const char *p = tpath("owner.db");
	struct userdb_rules r = { .owner_set = false };
	char err[512];
	struct userdb *db;

	db = userdb_write_open(p, USERDB_CREATE, NULL, err, sizeof(err));
	userdb_close(db);
	db = userdb_open_with(p, USERDB_READ, &r, err, sizeof(err));
	ok(db != NULL, "0600, owned by us: accepted (%s)", db ? "" : err);
	userdb_close(db);
	chmod(p, 0400);
	db = userdb_open_with(p, USERDB_READ, &r, err, sizeof(err));
	ok(db == NULL && errno == EPERM && contains(err, "mode 0400"),
	   "0400 refused too: exactly 0600 (%s)", err);
	chmod(p, 0600);
	if (geteuid() == 0 && chown(p, 4321, 4321) == 0) {
		db = userdb_open_with(p, USERDB_READ, &r, err, sizeof(err));
		ok(db == NULL && errno == EPERM && contains(err, "wrong owner") &&
		   contains(err, "owner uid 4321"), "another owner refused (%s)", err);
		chmod(p, 0644);
		db = userdb_open_with(p, USERDB_READ, &r, err, sizeof(err));
		ok(db == NULL && contains(err, "wrong owner and mode"),
		   "  with a wrong mode as well: both named (%s)", err);
		chmod(p, 0600);
		r.owner_set = true;
		r.owner_uid = 4321;
		db = userdb_open_with(p, USERDB_READ, &r, err, sizeof(err));
		ok(db != NULL, "the configured owner accepted (%s)", db ? "" : err);
		userdb_close(db);
	} else {
		tap_skip("needs root to chown", "owner rule");
		tap_skip("needs root to chown", "owner and mode");
		tap_skip("needs root to chown", "owner account");
	}
}

/* The directory: nobody but root, the owner account or we may write it,
 * sticky or not; userdb_check() says what an open says, in the same words. */
static void test_directory(void)
{
	const char *dir = tpath("dbdir"), *p = tpath("dbdir/pop.auth");
	const char *missing = tpath("dbdir/none.auth");
	static const mode_t bad[] = { 0777, 01777, 0770, 0720, 0702 };
	char err[512], err2[512];
	struct userdb *db;
	size_t i;

	mkdir(dir, 0700);
	db = userdb_write_open(p, USERDB_REPLACE, NULL, err, sizeof(err));
	ok(db != NULL && userdb_commit(db, (uid_t)-1, (gid_t)-1) == 0,
	   "a database in a directory of its own (%s)", db ? "" : err);
	userdb_close(db);
	ok(userdb_check(p, NULL, err, sizeof(err)) == 0, "userdb_check: usable (%s)", err);
	errno = 0;
	ok(userdb_check(missing, NULL, err, sizeof(err)) < 0 && errno == ENOENT,
	   "userdb_check: a missing file is ENOENT (%s)", err);
	ok(userdb_check(tpath("nodir/pop.auth"), NULL, err, sizeof(err)) < 0 && errno == ENOENT,
	   "  and so is a missing directory (%s)", err);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		chmod(dir, bad[i]);
		errno = 0;
		db = userdb_open(p, USERDB_READ, err, sizeof(err));
		ok(db == NULL && errno == EPERM && contains(err, "directory") &&
		   contains(err, "writable by group or others"),
		   "directory mode %04o: the reader refuses it (%s)", (unsigned)bad[i], err);
		userdb_close(db);
		ok(userdb_check(p, NULL, err2, sizeof(err2)) < 0 && errno == EPERM &&
		   strcmp(err, err2) == 0, "  userdb_check with the same words (%s)", err2);
		db = userdb_write_open(p, USERDB_UPDATE, NULL, err2, sizeof(err2));
		ok(db == NULL && errno == EPERM && strcmp(err, err2) == 0,
		   "  a writer too (%s)", err2);
		userdb_close(db);
		db = userdb_write_open(p, USERDB_REPLACE, NULL, err2, sizeof(err2));
		ok(db == NULL && errno == EPERM, "  and a REPLACE (init) (%s)", err2);
		userdb_close(db);
	}
	chmod(dir, 0755);
	ok(userdb_check(p, NULL, err, sizeof(err)) == 0,
	   "a directory others may read but not write: accepted (%s)", err);
	if (geteuid() == 0 && chown(dir, 4321, 4321) == 0) {
		struct userdb_rules r = { .owner_set = true, .owner_uid = 4321 };

		ok(userdb_check(p, NULL, err, sizeof(err)) < 0 && errno == EPERM &&
		   contains(err, "directory") && contains(err, "wrong owner") &&
		   contains(err, "owner uid 4321"), "a directory of another account: refused (%s)",
		   err);
		ok(userdb_check(p, &r, err, sizeof(err)) == 0,
		   "  unless it is the owner account (%s)", err);
		chown(dir, 0, 0);
	} else {
		tap_skip("needs root to chown", "directory owner");
		tap_skip("needs root to chown", "directory of the owner account");
	}
	chmod(p, 0640);
	ok(userdb_check(p, NULL, err, sizeof(err)) < 0 && errno == EPERM &&
	   contains(err, "wrong mode (must be 0600)"), "userdb_check judges the file too (%s)", err);
	chmod(p, 0600);
	if (symlink("pop.auth", tpath("dbdir/link.auth")) == 0)
		ok(userdb_check(tpath("dbdir/link.auth"), NULL, err, sizeof(err)) < 0 &&
		   errno == EPERM && contains(err, "symbolic link"),
		   "  and never follows a symbolic link (%s)", err);
}

int main(void)
{
	static void (*const tests[])(void) = {
		test_basics, test_records, test_file_safety, test_not_a_database,
		test_entries, test_owner, test_directory,
	};

	if (fixture_run("test_userdb_read", tests, sizeof(tests) / sizeof(tests[0])) < 0)
		return 1;
	return tap_done();
}

#else /* !HAVE_GDBM */

int main(void)
{
	char err[256];
	struct userdb *db;

	db = userdb_open("/nonexistent", USERDB_READ, err, sizeof(err));
	ok(!userdb_available() && db == NULL && strstr(err, "without GDBM") != NULL,
	   "without GDBM: unavailable, open fails with a clear message");
	tap_skip("built without GDBM", "the database itself: records, file safety, damaged files");
	return tap_done();
}

#endif /* HAVE_GDBM */
