/*
 * fuzz_uidstore: the UID state file <state_dir>/uids
 * (server/maildrop/uidstore.c): any bytes as the file a session finds,
 * then the UIDs it gives a maildrop's messages, the file it saves, and the
 * next session that reads that file back.
 *
 * Checked besides the sanitizers: every UID is valid (1..70 of
 * 0x21..0x7e) and no two messages share one; what was saved reads back
 * without damage, and the next session gives every message the same UID
 * and the same seen mark, with nothing left unsaved.
 *
 * Input: byte 0 flags (bit 0: uids.started exists), byte 1 the number of
 * messages (up to 31), then two bytes per message: which line of the file
 * it matches (its size and hash; 0xf0 and above: a message the file does
 * not know), and bits for an X-UIDL header (one of eight, so they repeat)
 * and the seen mark; the rest is the file.
 */
#include "config.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "server/maildrop/uidstore.h"
#include "tests/fuzz/fuzzutil.h"

#define MSGS_MAX 31
#define LINES_MAX 64

static char dir[600];

/* (size, hash) of the lines of the file that look like entries, as far as
 * a sloppy reading can tell: the messages pick from these so that many of
 * them match. */
static size_t file_keys(const uint8_t *p, size_t n, uint64_t *sizes, uint64_t *hashes)
{
	size_t count = 0, pos = 0;
	char line[300];

	while (pos < n && count < LINES_MAX) {
		const uint8_t *nl = memchr(p + pos, '\n', n - pos);
		size_t len = nl != NULL ? (size_t)(nl - (p + pos)) : n - pos;
		char *sp, *end;

		if (len < sizeof(line)) {
			memcpy(line, p + pos, len);
			line[len] = '\0';
			sizes[count] = strtoull(line, &sp, 10);
			if (*sp == ' ') {
				hashes[count] = strtoull(sp + 1, &end, 16);
				count++;
			}
		}
		pos += len + 1;
	}
	return count;
}

static void fail(const char *what, size_t i)
{
	fprintf(stderr, "message %zu: %s\n", i + 1, what);
	abort();
}

/* Every UID valid and used once. */
static void check_unique(const struct uidstore *st, const struct uid_msg *msgs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *u = uidstore_str(st, msgs[i].uid);

		if (!uidstore_valid_uid(u, strlen(u)))
			fail("invalid UID", i);
		for (size_t j = 0; j < i; j++)
			if (strcmp(u, uidstore_str(st, msgs[j].uid)) == 0)
				fail("UID given twice", i);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_log_quiet("fuzz_uidstore");
	snprintf(dir, sizeof(dir), "%s", fz_path(fz_tmpdir("fuzz_uidstore"), "state"));
	fz_mkdir(dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd0 = fz_fd_lowest();
	struct fz_in in = { data, size };
	struct uid_msg msgs[MSGS_MAX], again[MSGS_MAX];
	char uids[MSGS_MAX][UIDSTORE_UID_MAX + 1];
	uint64_t sizes[LINES_MAX], hashes[LINES_MAX];
	uint8_t sel[MSGS_MAX], bits[MSGS_MAX];
	struct uidstore *st;
	char reason[512];
	bool perm;
	uint8_t f = fz_byte(&in);
	size_t n = fz_byte(&in) % (MSGS_MAX + 1), keys;
	long unsaved;

	for (size_t i = 0; i < n; i++) {
		sel[i] = fz_byte(&in);
		bits[i] = fz_byte(&in);
	}
	fz_clear(dir);
	fz_write(fz_path(dir, "uids"), in.p, in.len, 0600);
	if (f & 1)
		fz_write(fz_path(dir, "uids.started"), "popper-uids-started 01234567 0\n", 31, 0600);
	keys = file_keys(in.p, in.len, sizes, hashes);

	st = uidstore_load(dir, &perm, reason, sizeof(reason));
	if (st == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		memset(&msgs[i], 0, sizeof(msgs[i]));
		if (sel[i] < 0xf0 && keys > 0) {
			msgs[i].size = sizes[sel[i] % keys];
			msgs[i].hash = hashes[sel[i] % keys];
		} else {
			msgs[i].size = sel[i];
			msgs[i].hash = (uint64_t)sel[i] * 0x9e3779b97f4a7c15ULL;
		}
		msgs[i].uid = UIDSTORE_NONE;
		if (bits[i] & 0x80) {
			char x[8];

			snprintf(x, sizeof(x), "x-%u", bits[i] & 7);
			msgs[i].uid = uidstore_add(st, x, strlen(x));
		}
	}
	unsaved = uidstore_assign(st, msgs, n);
	if (unsaved < 0)
		fz_die("uidstore_assign");
	check_unique(st, msgs, n);
	for (size_t i = 0; i < n; i++) {
		snprintf(uids[i], sizeof(uids[i]), "%s", uidstore_str(st, msgs[i].uid));
		msgs[i].flags &= ~UIDSTORE_SEEN;
		if (bits[i] & 0x40)
			msgs[i].flags |= UIDSTORE_SEEN;
	}
	if (uidstore_save(st, dir, msgs, n, reason, sizeof(reason)) < 0) {
		fprintf(stderr, "cannot save: %s\n", reason);
		abort();
	}
	uidstore_free(st);

	/* The next session: the same messages. */
	st = uidstore_load(dir, &perm, reason, sizeof(reason));
	if (st == NULL) {
		fprintf(stderr, "cannot read what was saved: %s\n", reason);
		abort();
	}
	if (uidstore_first_sight(st)) {
		fprintf(stderr, "a saved state is a first sight\n");
		abort();
	}
	for (size_t i = 0; i < n; i++) {
		again[i] = msgs[i];
		again[i].uid = UIDSTORE_NONE;
		again[i].flags = 0;
	}
	unsaved = uidstore_assign(st, again, n);
	if (unsaved != 0) {
		fprintf(stderr, "%ld messages unknown to the state just saved\n", unsaved);
		abort();
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(uidstore_str(st, again[i].uid), uids[i]) != 0)
			fail("another UID in the next session", i);
		if (((again[i].flags & UIDSTORE_SEEN) != 0) != ((bits[i] & 0x40) != 0))
			fail("another seen mark in the next session", i);
	}
	uidstore_free(st);
out:
	fz_fd_check(fd0);
	return 0;
}
