/*
 * fuzz_userdb_bulk: the imports of auth/userdb/userdb_bulk.c that apopdb
 * runs on files it did not write: Qpopper's pop.auth (a GDBM file whose
 * keys are "user\0" and whose values are the APOP secret XOR 0xff, a NUL,
 * and a SCRAM field) and popper's own export text.  The pop.auth is made
 * by the harness with GDBM from fuzzer-chosen keys and values (GDBM's own
 * file format is the library's business, not ours); the text is the
 * fuzzer's bytes.  Both import into a new copy of a database, as apopdb
 * imports (USERDB_REPLACE; never committed here, so nothing is synced).
 *
 * Checked besides the sanitizers.  Qpopper: every key is imported or
 * skipped, every record imported is valid (userdb_verify), and each holds
 * the secret its value encodes, as a system entry.  Text: a text that
 * imports exports to a text that imports to the same database, entry for
 * entry (the order of GDBM's walk aside), and the counts add up.
 *
 * Input: byte 0 bit 0 chooses the text import; Qpopper: then records of a
 * key length, a value length (one byte each) and the bytes; text: the
 * rest.
 */
#include "config.h"

#include <gdbm.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/userdb/userdb_bulk.h"
#include "auth/userdb/userdb_write.h"
#include "lib/log.h"
#include "lib/username.h"
#include "tests/fuzz/fuzzutil.h"

#define KEYS_MAX 64

static char dbpath[700], qpath[700];

static void fail(const char *what)
{
	fprintf(stderr, "%s\n", what);
	abort();
}

/* A new, empty copy of the database to import into. */
static struct userdb *new_copy(void)
{
	char err[1024];
	struct userdb *db = userdb_write_open(dbpath, USERDB_REPLACE, NULL, err, sizeof(err));

	if (db == NULL)
		fz_die(err);
	return db;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The export of db as a malloc'd text with its entries sorted (GDBM walks
 * in hash order); *count_r the number of entries. */
static char *export_sorted(struct userdb *db, unsigned long *count_r)
{
	char *text = NULL, **blocks = NULL, *sorted;
	size_t len = 0, nb = 0, cap = 0, pos, o = 0;
	FILE *fp = open_memstream(&text, &len);

	if (fp == NULL)
		fz_die("open_memstream");
	if (userdb_export(db, fp, count_r) != USERDB_OK)
		fail("a database just imported does not export");
	fclose(fp);
	/* Each entry is a "[name]" line and its fields: cut the text there
	 * (the newline before each block becomes its predecessor's end). */
	for (pos = 0; pos < len;) {
		char *nl = memchr(text + pos, '\n', len - pos);

		if (text[pos] == '[') {
			if (nb == cap) {
				cap = cap ? cap * 2 : 16;
				blocks = realloc(blocks, cap * sizeof(*blocks));
				if (blocks == NULL)
					fz_die("realloc");
			}
			blocks[nb++] = text + pos;
			if (pos > 0)
				text[pos - 1] = '\0';
		}
		pos = nl != NULL ? (size_t)(nl - text) + 1 : len;
	}
	if (nb > 0)
		qsort(blocks, nb, sizeof(*blocks), cmp_str);
	sorted = malloc(len + nb + 1);
	if (sorted == NULL)
		fz_die("malloc");
	for (size_t i = 0; i < nb; i++) {
		size_t n = strlen(blocks[i]);

		memcpy(sorted + o, blocks[i], n);
		o += n;
		sorted[o++] = '\n';
	}
	sorted[o] = '\0';
	free(blocks);
	free(text);
	return sorted;
}

static void run_text(const uint8_t *p, size_t n)
{
	struct userdb_import_stats st, st2;
	struct userdb *db;
	unsigned long count, count2;
	char *one, *two, *text = NULL;
	size_t tlen = 0;
	FILE *in = fmemopen((void *)(uintptr_t)p, n, "r");

	if (n == 0 || in == NULL) {
		if (in != NULL)
			fclose(in);
		return;
	}
	db = new_copy();
	if (userdb_import_text(db, in, "fuzz", &st) != USERDB_OK) {
		fclose(in);
		userdb_close(db);
		return;
	}
	fclose(in);
	one = export_sorted(db, &count);
	if (count != st.added || st.replaced != 0)
		fail("the counts of a text import do not add up");

	/* The export imports again, to the same entries. */
	{
		FILE *fp = open_memstream(&text, &tlen);

		if (fp == NULL)
			fz_die("open_memstream");
		if (userdb_export(db, fp, &count) != USERDB_OK)
			fail("export failed");
		fclose(fp);
	}
	userdb_close(db);
	db = new_copy();
	in = fmemopen(text, tlen, "r");
	if (in == NULL)
		fz_die("fmemopen");
	if (userdb_import_text(db, in, "export", &st2) != USERDB_OK) {
		fprintf(stderr, "%s\n", userdb_error(db));
		fail("an export does not import");
	}
	fclose(in);
	two = export_sorted(db, &count2);
	if (count2 != count || strcmp(one, two) != 0)
		fail("an export imports to another database");
	userdb_close(db);
	free(one);
	free(two);
	free(text);
}

static void run_qpopper(struct fz_in *in)
{
	struct userdb_import_stats st;
	struct userdb_verify_report rep;
	struct userdb *db;
	GDBM_FILE q;
	unsigned long keys = 0;
	datum kept_k[KEYS_MAX], kept_v[KEYS_MAX];

	q = gdbm_open(qpath, 0, GDBM_NEWDB | GDBM_NOMMAP, 0600, NULL);
	if (q == NULL)
		fz_die("gdbm_open");
	while (in->len > 0 && keys < KEYS_MAX) {
		size_t kl = fz_byte(in), vl;
		datum k, v;

		if (kl > in->len)
			kl = in->len;
		k.dptr = (char *)(uintptr_t)in->p;
		k.dsize = (int)kl;
		in->p += kl;
		in->len -= kl;
		vl = fz_byte(in);
		if (vl > in->len)
			vl = in->len;
		v.dptr = (char *)(uintptr_t)in->p;
		v.dsize = (int)vl;
		in->p += vl;
		in->len -= vl;
		if (kl == 0)
			continue;   /* GDBM refuses an empty key */
		if (gdbm_exists(q, k))
			continue;
		if (gdbm_store(q, k, v, GDBM_INSERT) != 0)
			fz_die("gdbm_store");
		kept_k[keys] = k;
		kept_v[keys] = v;
		keys++;
	}
	gdbm_close(q);

	db = new_copy();
	if (userdb_import_qpopper(db, qpath, &st) != USERDB_OK) {
		fprintf(stderr, "%s\n", userdb_error(db));
		fail("a pop.auth that GDBM reads did not import");
	}
	if (st.added + st.replaced + st.skipped != keys || st.replaced != 0)
		fail("the counts of a Qpopper import do not add up");
	if (userdb_verify(db, &rep) != USERDB_OK || rep.records != st.added ||
	    rep.system_users != st.added)
		fail("a Qpopper import stored a bad record");
	/* Each name imported holds its secret: the value up to its NUL, each
	 * byte XOR 0xff. */
	for (unsigned long i = 0; i < keys; i++) {
		struct userdb_entry e;
		char name[USERNAME_MAX + 1];
		size_t kl = (size_t)kept_k[i].dsize, alen;
		const unsigned char *v = (const unsigned char *)kept_v[i].dptr;
		const unsigned char *nul;

		if (kl < 2 || kl - 1 > USERNAME_MAX || kept_k[i].dptr[kl - 1] != '\0')
			continue;
		memcpy(name, kept_k[i].dptr, kl - 1);
		name[kl - 1] = '\0';
		if (strlen(name) != kl - 1 || !username_valid(name) ||
		    userdb_get_entry(db, name, &e) != USERDB_OK)
			continue;
		nul = memchr(v, '\0', (size_t)kept_v[i].dsize);
		alen = nul != NULL ? (size_t)(nul - v) : (size_t)kept_v[i].dsize;
		if (e.kind != USERDB_SYSTEM || e.secret_len != alen)
			fail("a Qpopper entry was imported with another kind or secret length");
		for (size_t j = 0; j < alen; j++)
			if ((unsigned char)e.secret[j] != (v[j] ^ 0xff))
				fail("a Qpopper secret was imported wrong");
		userdb_entry_wipe(&e);
	}
	userdb_close(db);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *root = fz_tmpdir("fuzz_userdb_bulk");

	(void)argc;
	(void)argv;
	fz_log_quiet("fuzz_userdb_bulk");
	snprintf(dbpath, sizeof(dbpath), "%s", fz_path(root, "pop.auth"));
	snprintf(qpath, sizeof(qpath), "%s", fz_path(root, "qpopper.db"));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd0 = fz_fd_lowest();
	struct fz_in in = { data, size };
	uint8_t f = fz_byte(&in);

	if (f & 1)
		run_text(in.p, in.len);
	else
		run_qpopper(&in);
	fz_fd_check(fd0);
	return 0;
}
