/*
 * fuzz_userdb_format: the record decoder of the user database
 * (auth/userdb/userdb_format.c): any bytes as the value stored under a
 * user name, as the server, apopdb and popauth read it.
 *
 * Checked besides the sanitizers: a record that parses decodes to an
 * entry whose secret holds no NUL and has the length the record gives;
 * rebuilding the record from that entry (as apopdb does when it changes a
 * secret, keeping the fields it does not know) gives a record that parses
 * to the same entry and the same other fields, unless it would be too long
 * (then the builder says so rather than cutting it); and building once
 * more from the rebuilt record changes nothing.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/userdb/userdb_impl.h"
#include "tests/fuzz/fuzzutil.h"

static char out[USERDB_RECORD_MAX + 1], out2[USERDB_RECORD_MAX + 1];

static void fail(const char *what)
{
	fprintf(stderr, "%s\n", what);
	abort();
}

static bool same_entry(const struct userdb_entry *a, const struct userdb_entry *b)
{
	return a->kind == b->kind && a->secret_len == b->secret_len &&
	       memcmp(a->secret, b->secret, a->secret_len) == 0 &&
	       a->other_fields == b->other_fields;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct record_view v, v2;
	struct userdb_entry e, e2;
	const char *rec = (const char *)data;
	size_t n, n2;

	if (userdb_record_parse(rec, size, &v) != NULL)
		return 0;
	userdb_record_to_entry(rec, &v, &e);
	if (e.secret_len != v.secret_hexlen / 2 || strlen(e.secret) != e.secret_len)
		fail("the secret decoded to another length");

	n = userdb_record_build(&e, rec, size, out);
	if (n == 0) {
		/* Too long is the only reason to refuse: the rebuilt record
		 * adds at most a kind line to what parsed. */
		if (size + sizeof("kind=virtual\n") - 1 <= USERDB_RECORD_MAX)
			fail("a record that fits was refused by the builder");
		return 0;
	}
	if (n > USERDB_RECORD_MAX)
		fail("the builder wrote past the record limit");
	if (userdb_record_parse(out, n, &v2) != NULL)
		fail("a rebuilt record does not parse");
	userdb_record_to_entry(out, &v2, &e2);
	if (!same_entry(&e, &e2))
		fail("a rebuilt record holds another entry");

	n2 = userdb_record_build(&e2, out, n, out2);
	if (n2 != n || memcmp(out, out2, n) != 0)
		fail("rebuilding a rebuilt record changed it");
	userdb_entry_wipe(&e);
	userdb_entry_wipe(&e2);
	return 0;
}
