/*
 * test_userdb_format: auth/userdb/userdb_format.c, the v1 record, as pure
 * text (no GDBM, no files): what parses and what does not (each refusal
 * with its reason), the limits (record length, field name length, secret
 * length) at limit and limit+1, decoding into an entry, and building a
 * record, alone and over an old record whose unknown fields it keeps; the
 * dummy entry an unknown name is checked against.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "auth/userdb/userdb_impl.h"
#include "tests/unit/tap.h"

static const char *parse(const char *rec, struct record_view *v)
{
	return userdb_record_parse(rec, strlen(rec), v);
}

static void test_parse_good(void)
{
	struct record_view v;
	struct userdb_entry e;
	const char *rec;

	ok(parse("v1\n", &v) == NULL && v.kind == USERDB_VIRTUAL && !v.has_secret && v.others == 0,
	   "\"v1\\n\" alone: a virtual user without a secret");
	rec = "v1\nkind=system\nsecret=6869\n";
	ok(parse(rec, &v) == NULL && v.kind == USERDB_SYSTEM && v.has_secret &&
	   v.secret_hexlen == 4 && v.secret_off == strlen("v1\nkind=system\nsecret="),
	   "kind and secret are found where they are");
	userdb_record_to_entry(rec, &v, &e);
	ok(e.kind == USERDB_SYSTEM && e.secret_len == 2 && strcmp(e.secret, "hi") == 0 &&
	   e.other_fields == 0, "  and decode to kind system, secret \"hi\"");
	rec = "v1\nscram-sha-256=x=y\nsecret=61\nnote=\nkind=virtual\n";
	ok(parse(rec, &v) == NULL && v.others == 2 && v.kind == USERDB_VIRTUAL,
	   "fields of later versions are counted, in any order, with any value");
	userdb_record_to_entry(rec, &v, &e);
	ok(e.other_fields == 2 && e.secret_len == 1 && e.secret[0] == 'a',
	   "  and the entry says how many");
	ok(parse("v1\nsecret=ff01\n", &v) == NULL, "a secret may hold any byte but NUL");
}

static void test_parse_bad(void)
{
	static const struct {
		const char *value, *why;
	} bad[] = {
		{ "", "record is not in format v1" },
		{ "garbage", "record is not in format v1" },
		{ "v2\nsecret=61\n", "record is not in format v1" },
		{ "v1\nkind=alien\n", "record kind is neither virtual nor system" },
		{ "v1\nkind=system\nkind=virtual\n", "record has two kinds" },
		{ "v1\nkind=\n", "record kind is neither virtual nor system" },
		{ "v1\nsecret=610062\n", "record secret contains a NUL byte" },
		{ "v1\nsecret=\n", "record secret has a bad length" },
		{ "v1\nsecret=616\n", "record secret has a bad length" },
		{ "v1\nsecret=ZZ\n", "record secret is not lower-case hex" },
		{ "v1\nsecret=6A\n", "record secret is not lower-case hex" },
		{ "v1\nsecret=61", "record does not end with a newline" },
		{ "v1\nsecret=61\nsecret=62\n", "record has two secrets" },
		{ "v1\nnoequals\nsecret=61\n", "record line without '='" },
		{ "v1\n=x\nsecret=61\n", "record field name empty or too long" },
		{ "v1\nBad Name=x\nsecret=61\n", "record field name has a bad character" },
	};
	struct record_view v;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = parse(bad[i].value, &v);
		ok(why != NULL && strcmp(why, bad[i].why) == 0, "refused: \"%s\" (%s)", bad[i].why,
		   why ? why : "accepted");
	}
	why = userdb_record_parse("v1\nx=a\0b\n", 9, &v);
	ok(why != NULL && strcmp(why, "record contains a NUL byte") == 0,
	   "a NUL byte anywhere: refused");
	/* Found by tests/fuzz/fuzz_userdb_bulk: a value ending in CR was
	 * stored by an import and lost the CR on export and import. */
	why = parse("v1\nx=2\r\nsecret=61\n", &v);
	ok(why != NULL && strcmp(why, "record contains a CR byte") == 0,
	   "a CR byte anywhere: refused (an export could not keep it)");
}

static void test_limits(void)
{
	char rec[USERDB_RECORD_MAX + 2], name[64];
	struct record_view v;
	size_t i, len;

	/* The record length: a field padded to exactly the limit, then one more. */
	memcpy(rec, "v1\nx=", 5);
	for (len = USERDB_RECORD_MAX - 1, i = 5; i < len; i++)
		rec[i] = 'a';
	rec[len] = '\n';
	ok(userdb_record_parse(rec, USERDB_RECORD_MAX, &v) == NULL,
	   "a record of USERDB_RECORD_MAX bytes parses");
	rec[len] = 'a';
	rec[len + 1] = '\n';
	ok(userdb_record_parse(rec, USERDB_RECORD_MAX + 1, &v) != NULL,
	   "one byte more is refused");

	/* The field name: 32 characters, then 33. */
	memset(name, 'f', sizeof(name));
	snprintf(rec, sizeof(rec), "v1\n%.32s=1\n", name);
	ok(userdb_record_parse(rec, strlen(rec), &v) == NULL, "a field name of 32 characters");
	snprintf(rec, sizeof(rec), "v1\n%.33s=1\n", name);
	ok(userdb_record_parse(rec, strlen(rec), &v) != NULL, "33 characters: refused");

	/* The secret: USERDB_SECRET_MAX bytes, then one more. */
	memcpy(rec, "v1\nsecret=", 10);
	for (i = 0; i < 2 * USERDB_SECRET_MAX; i++)
		rec[10 + i] = 'a';
	rec[10 + i] = '\n';
	ok(userdb_record_parse(rec, 11 + i, &v) == NULL && v.secret_hexlen == 2 * USERDB_SECRET_MAX,
	   "a secret of USERDB_SECRET_MAX bytes");
	rec[10 + i] = 'a';
	rec[11 + i] = 'a';
	rec[12 + i] = '\n';
	ok(userdb_record_parse(rec, 13 + i, &v) != NULL, "one byte more: refused");
}

static void test_build(void)
{
	char out[USERDB_RECORD_MAX + 1], big[USERDB_RECORD_MAX];
	struct userdb_entry e, back;
	struct record_view v;
	size_t len, i;
	const char *old;

	memset(&e, 0, sizeof(e));
	e.kind = USERDB_VIRTUAL;
	e.secret_len = 2;
	memcpy(e.secret, "hi", 3);
	len = userdb_record_build(&e, NULL, 0, out);
	ok(len > 0 && len == strlen("v1\nkind=virtual\nsecret=6869\n") &&
	   memcmp(out, "v1\nkind=virtual\nsecret=6869\n", len) == 0,
	   "a new virtual entry: magic, kind, lower-case hex secret");
	e.kind = USERDB_SYSTEM;
	e.secret_len = 0;
	len = userdb_record_build(&e, NULL, 0, out);
	ok(len == 15 && memcmp(out, "v1\nkind=system\n", 15) == 0,
	   "a system entry without a secret has no secret line");

	old = "v1\nscram=abc\nsecret=6869\nkind=virtual\nnote=x=y\n";
	e.kind = USERDB_VIRTUAL;
	e.secret_len = 3;
	memcpy(e.secret, "new", 4);
	len = userdb_record_build(&e, old, strlen(old), out);
	out[len] = '\0';
	is_str(out, "v1\nkind=virtual\nsecret=6e6577\nscram=abc\nnote=x=y\n",
	       "over an old record: unknown fields kept in order, after kind and secret");

	for (i = 0; i < USERDB_SECRET_MAX; i++)
		e.secret[i] = (char)(i % 255 + 1);
	e.secret_len = USERDB_SECRET_MAX;
	len = userdb_record_build(&e, NULL, 0, out);
	ok(len > 0 && userdb_record_parse(out, len, &v) == NULL, "a secret of every byte value parses back");
	userdb_record_to_entry(out, &v, &back);
	ok(back.secret_len == e.secret_len && memcmp(back.secret, e.secret, e.secret_len) == 0 &&
	   back.kind == e.kind, "  and decodes to the same entry");

	/* An old record whose unknown fields leave no room: 0, nothing built. */
	memcpy(big, "v1\nx=", 5);
	memset(big + 5, 'a', sizeof(big) - 6);
	big[sizeof(big) - 1] = '\n';
	ok(userdb_record_parse(big, sizeof(big), &v) == NULL, "a record near the limit");
	is_int((long long)userdb_record_build(&e, big, sizeof(big), out), 0,
	       "  plus a long secret would be too long: 0");
}

/* What a name the database does not hold is checked against (issue 9): a
 * virtual user's entry with a secret, as decoded from a stored record. */
static void test_dummy(void)
{
	struct userdb_entry e;

	memset(&e, 0x55, sizeof(e));
	userdb_dummy_entry(&e);
	ok(e.kind == USERDB_VIRTUAL && e.other_fields == 0, "the dummy entry is a virtual user's");
	is_int((long long)e.secret_len, USERDB_DUMMY_SECRET_LEN,
	       "  with a secret of USERDB_DUMMY_SECRET_LEN octets");
	ok(strlen(e.secret) == e.secret_len, "  decoded and NUL-terminated");
	userdb_entry_wipe(&e);
}

int main(void)
{
	test_parse_good();
	test_parse_bad();
	test_limits();
	test_build();
	test_dummy();
	return tap_done();
}
