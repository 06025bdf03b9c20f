/*
 * test_userdb_bulk: auth/userdb/userdb_bulk.c against real GDBM files: the
 * export text format and its import (round trip byte for byte, merging,
 * CRLF and comments, every refusal with the line it names), the import of
 * a Qpopper pop.auth built here in its own format, and verify.
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

#include "lib/log.h"
#include "auth/userdb/userdb.h"
#include "auth/userdb/userdb_write.h"
#include "auth/userdb/userdb_bulk.h"
#include "tests/unit/auth/userdb/userdb_fixture.h"
#include "tests/unit/tap.h"

#ifdef HAVE_GDBM

/* Imports that must be refused, each with the place it names; a refused
 * import changes nothing. */
static void test_import_refusals(const char *dst)
{
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
		/* CR CR LF: one CR is the line end, the other would be the
		 * value's, which no export could give back (found by
		 * tests/fuzz/fuzz_userdb_bulk). */
		{ "popper-userdb-export 1\n[a]\nx=2\r\r\n", "a value ending in CR", "CR" },
	};
	struct userdb_import_stats st;
	struct userdb_entry e;
	char err[512];
	struct userdb *db;
	FILE *f;
	size_t i;

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

static void test_export_import(void)
{
	const char *src = tpath("exp-src.db"), *dst = tpath("exp-dst.db");
	struct userdb_import_stats st;
	struct userdb_entry e;
	unsigned long n = 0;
	char err[512], a[512], b[512];
	struct userdb *db;
	FILE *f;

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
	test_import_refusals(dst);
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
	static void (*const tests[])(void) = {
		test_export_import, test_qpopper, test_verify,
	};

	if (fixture_run("test_userdb_bulk", tests, sizeof(tests) / sizeof(tests[0])) < 0)
		return 1;
	return tap_done();
}

#else /* !HAVE_GDBM */

int main(void)
{
	tap_skip("built without GDBM", "test_userdb_bulk");
	return tap_done();
}

#endif /* HAVE_GDBM */
