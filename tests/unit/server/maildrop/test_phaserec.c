/*
 * test_phaserec: the phase record shared by the update journal's header
 * and the temp-drop marker (server/maildrop/phaserec.c).  Its bytes are on
 * the disk of every installed popper, so they are pinned here against
 * records built by hand, byte by byte: magic, version, phase, the
 * little-endian fields, the checksum at the end of the fields, zeros after
 * it.  Every field that can be damaged is damaged once and must be
 * refused; an older version of a kind (the journal's version 1) still
 * reads; reads and writes go to the start of the file.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/maildrop/phaserec.h"
#include "server/maildrop/uidstore.h"
#include "tests/unit/tap.h"

/* Two kinds shaped like popper's own: the journal (versions 1 and 2, nine
 * and twelve fields) and the marker (version 1, six fields). */
static const struct phaserec_kind journal_like = {
	"POPJRNL1", 0x6a6f75726e616cULL, 2, { 9, 12 }
};
static const struct phaserec_kind marker_like = {
	"POPTDMK1", 0x74656d7064726f70ULL, 1, { 6 }
};

/* A record as an independent writer would lay it out. */
static void by_hand(unsigned char *b, const char *magic, uint32_t version, uint32_t phase,
		    const uint64_t *fields, size_t n, uint64_t seed)
{
	size_t i, j, so = 16 + 8 * n;
	uint64_t sum;

	memset(b, 0, PHASEREC_SIZE);
	memcpy(b, magic, 8);
	for (j = 0; j < 4; j++) {
		b[8 + j] = (unsigned char)(version >> (8 * j));
		b[12 + j] = (unsigned char)(phase >> (8 * j));
	}
	for (i = 0; i < n; i++)
		for (j = 0; j < 8; j++)
			b[16 + 8 * i + j] = (unsigned char)(fields[i] >> (8 * j));
	sum = uidstore_hash(b, so, seed);
	for (j = 0; j < 8; j++)
		b[so + j] = (unsigned char)(sum >> (8 * j));
}

static void fill(struct phaserec *r, uint32_t version, uint32_t phase, size_t n)
{
	size_t i;

	memset(r, 0, sizeof(*r));
	r->version = version;
	r->phase = phase;
	for (i = 0; i < n; i++)
		r->field[i] = 0x0102030405060708ULL * (i + 1) + i;
}

static void test_layout(void)
{
	unsigned char got[PHASEREC_SIZE], want[PHASEREC_SIZE];
	struct phaserec r, back;
	uint64_t fields[PHASEREC_FIELDS_MAX];
	size_t i;

	fill(&r, 2, 1, 12);
	for (i = 0; i < 12; i++)
		fields[i] = r.field[i];
	phaserec_encode(&journal_like, &r, got);
	by_hand(want, "POPJRNL1", 2, 1, fields, 12, journal_like.seed);
	ok(memcmp(got, want, sizeof(got)) == 0, "version 2 of the journal's kind: the bytes by hand");
	ok(phaserec_decode(&journal_like, got, &back) && back.version == 2 && back.phase == 1 &&
	   memcmp(back.field, r.field, sizeof(r.field)) == 0, "version 2 reads back whole");

	fill(&r, 1, 2, 9);
	phaserec_encode(&journal_like, &r, got);
	by_hand(want, "POPJRNL1", 1, 2, fields, 9, journal_like.seed);
	ok(memcmp(got, want, sizeof(got)) == 0,
	   "version 1 (the old format): nine fields, checksum at byte 88");
	ok(phaserec_decode(&journal_like, want, &back) && back.version == 1 && back.phase == 2 &&
	   back.field[8] == r.field[8] && back.field[9] == 0 && back.field[11] == 0,
	   "an old version-1 record still reads; the later fields read as zero");

	fill(&r, 1, 5, 6);
	phaserec_encode(&marker_like, &r, got);
	by_hand(want, "POPTDMK1", 1, 5, fields, 6, marker_like.seed);
	ok(memcmp(got, want, sizeof(got)) == 0, "the marker's kind: six fields, checksum at byte 64");
	ok(phaserec_decode(&marker_like, want, &back) && back.phase == 5 &&
	   back.field[5] == r.field[5], "a marker built by hand reads");

	/* Fields past the version's count are not written. */
	fill(&r, 1, 1, 12);
	phaserec_encode(&journal_like, &r, got);
	for (i = 96; i < PHASEREC_SIZE && got[i] == 0; i++)
		;
	ok(i == PHASEREC_SIZE, "version 1: nothing after the checksum, whatever the later fields");
}

/* Each damage must be refused. */
static void test_damage(void)
{
	unsigned char good[PHASEREC_SIZE], b[PHASEREC_SIZE];
	struct phaserec r, back;
	size_t i;
	bool all;

	fill(&r, 2, 2, 12);
	phaserec_encode(&journal_like, &r, good);

	memcpy(b, good, sizeof(b));
	b[0] = 'X';
	ok(!phaserec_decode(&journal_like, b, &back), "wrong magic: refused");
	ok(!phaserec_decode(&marker_like, good, &back), "another kind's magic: refused");

	memcpy(b, good, sizeof(b));
	phaserec_put32(b + 8, 0);
	ok(!phaserec_decode(&journal_like, b, &back), "version 0: refused");
	phaserec_put32(b + 8, 3);
	ok(!phaserec_decode(&journal_like, b, &back), "a version newer than the kind reads: refused");

	/* A version-2 marker (the marker has version 1 only), checksummed as
	 * if it had six fields: still refused. */
	fill(&r, 1, 1, 6);
	phaserec_encode(&marker_like, &r, b);
	phaserec_put32(b + 8, 2);
	phaserec_put64(b + 64, uidstore_hash(b, 64, marker_like.seed));
	ok(!phaserec_decode(&marker_like, b, &back), "marker version 2, checksum right: refused");

	/* Every byte the checksum covers, and the checksum itself. */
	all = true;
	for (i = 0; i < 16 + 8 * 12 + 8; i++) {
		memcpy(b, good, sizeof(b));
		b[i] ^= 0x01;
		if (phaserec_decode(&journal_like, b, &back))
			all = false;
	}
	ok(all, "one bit flipped in any byte of magic, version, phase, fields or checksum: refused");

	/* A version-2 record whose version field says 1: the checksum sits
	 * elsewhere, so it does not check out. */
	memcpy(b, good, sizeof(b));
	phaserec_put32(b + 8, 1);
	ok(!phaserec_decode(&journal_like, b, &back), "version 2 relabelled as 1: refused");

	/* The bytes after the checksum are not covered (always written as
	 * zero, never read). */
	memcpy(b, good, sizeof(b));
	b[PHASEREC_SIZE - 1] = 0xff;
	ok(phaserec_decode(&journal_like, b, &back), "bytes after the checksum are not checked");
}

static void test_blank(void)
{
	unsigned char b[PHASEREC_SIZE];
	struct phaserec r;
	size_t i;
	bool all = true;

	memset(b, 0, sizeof(b));
	ok(phaserec_blank(b), "all zero: blank");
	ok(!phaserec_decode(&journal_like, b, &r), "a blank record does not decode");
	for (i = 0; i < sizeof(b); i += 37) {
		b[i] = 1;
		if (phaserec_blank(b))
			all = false;
		b[i] = 0;
	}
	b[sizeof(b) - 1] = 1;
	if (phaserec_blank(b))
		all = false;
	ok(all, "one non-zero byte anywhere: not blank");
}

static void test_le(void)
{
	unsigned char b[8];

	phaserec_put64(b, 0x0102030405060708ULL);
	ok(b[0] == 8 && b[7] == 1, "64-bit fields are little-endian");
	ok(phaserec_get64(b) == 0x0102030405060708ULL, "and read back");
	phaserec_put32(b, 0xa1b2c3d4u);
	ok(b[0] == 0xd4 && b[3] == 0xa1 && phaserec_get32(b) == 0xa1b2c3d4u,
	   "32-bit fields are little-endian and read back");
}

static void test_io(void)
{
	char path[] = "/tmp/test_phaserec.XXXXXX";
	unsigned char b[PHASEREC_SIZE], back[PHASEREC_SIZE];
	struct phaserec r;
	int fd = mkstemp(path);

	if (fd < 0)
		die("mkstemp");
	fill(&r, 2, 1, 12);
	phaserec_encode(&journal_like, &r, b);
	ok(phaserec_read(fd, back) < 0 && errno == EIO, "read of an empty file: -1, EIO");
	if (pwrite(fd, "0123456789", 10, 600) != 10)
		die("pwrite");
	ok(phaserec_write_sync(fd, b) == 0, "write and sync");
	ok(phaserec_read(fd, back) == 0 && memcmp(b, back, sizeof(b)) == 0,
	   "the record is at the start of the file");
	ok(pread(fd, back, 10, 600) == 10 && memcmp(back, "0123456789", 10) == 0,
	   "bytes after the record are left alone");
	b[0] ^= 1;
	ok(phaserec_write(fd, b) == 0 && phaserec_read(fd, back) == 0 && back[0] == b[0],
	   "write without sync rewrites it whole");
	if (ftruncate(fd, 100) < 0)
		die("ftruncate");
	ok(phaserec_read(fd, back) < 0 && errno == EIO, "read of a short file: -1, EIO");
	close(fd);
	ok(phaserec_write_sync(fd, b) < 0 && errno == EBADF, "write to a closed descriptor: -1");
	unlink(path);
}

int main(void)
{
	test_layout();
	test_damage();
	test_blank();
	test_le();
	test_io();
	return tap_done();
}
