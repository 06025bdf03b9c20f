/*
 * test_mbox_journal: the update journal's format and recovery's proofs
 * (server/maildrop/mbox_journal.c).  The header's bytes are pinned against
 * headers built by hand at fixed offsets, in both versions (version 1
 * journals, from before the runs table, must still be read); every shape
 * rule that makes recovery refuse a journal is broken once; the runs table
 * is written across its buffer and read across its read size, and damaged
 * runs are refused; the old-or-new proof accepts a spool at any point of
 * a compaction and refuses one byte that is neither.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/safeopen.h"
#include "server/maildrop/fileops.h"
#include "server/maildrop/mbox_journal.h"
#include "server/maildrop/uidstore.h"
#include "tests/unit/tap.h"

static char dir[] = "/tmp/test_mbox_journal.XXXXXX";
static unsigned char buf[FILEOPS_BLOCK];   /* the proofs' buffer */

static void le(unsigned char *p, uint64_t v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* A header as popper 1 wrote it (version 1) or as today (version 2). */
static void header_by_hand(unsigned char *b, const struct journal_hdr *h)
{
	size_t so = h->version == 1 ? 88 : 112;

	memset(b, 0, 512);
	memcpy(b, "POPJRNL1", 8);
	le(b + 8, h->version, 4);
	le(b + 12, h->phase, 4);
	le(b + 16, h->dev, 8);
	le(b + 24, h->ino, 8);
	le(b + 32, h->orig_size, 8);
	le(b + 40, h->new_size, 8);
	le(b + 48, h->region_off, 8);
	le(b + 56, h->tail_len, 8);
	le(b + 64, h->tail_hash, 8);
	le(b + 72, h->payload_len, 8);
	le(b + 80, h->payload_hash, 8);
	if (h->version == 2) {
		le(b + 88, h->nruns, 8);
		le(b + 96, h->runs_hash, 8);
		le(b + 104, h->new_hash, 8);
	}
	le(b + so, uidstore_hash(b, so, JOURNAL_SEED), 8);
}

static void sample(struct journal_hdr *h, uint32_t version)
{
	journal_hdr_init(h, 0x801, 123456789, 30000, 20000, 5000);
	h->version = version;
	h->tail_hash = 0x1111222233334444ULL;
	h->payload_hash = 0x5555666677778888ULL;
	if (version == 2) {
		h->nruns = 3;
		h->runs_hash = 0x9999aaaabbbbccccULL;
		h->new_hash = 0xddddeeeeffff0000ULL;
	} else {
		h->tail_len = 4096;
	}
}

static void test_header(void)
{
	unsigned char got[JOURNAL_HEADER_SIZE], want[JOURNAL_HEADER_SIZE];
	struct journal_hdr h, back;

	ok(JOURNAL_HEADER_SIZE == 512, "the header is one 512-byte sector");
	journal_hdr_init(&h, 1, 2, 300, 200, 50);
	ok(h.version == 2 && h.phase == JOURNAL_PREPARED && h.payload_len == 150 &&
	   h.tail_len == 100, "a new header: version 2, PREPARED, payload and tail lengths");

	sample(&h, 2);
	journal_encode(&h, got);
	header_by_hand(want, &h);
	ok(memcmp(got, want, sizeof(got)) == 0, "version 2: the bytes by hand");
	ok(journal_decode(want, &back) && memcmp(&back, &h, sizeof(h)) == 0,
	   "version 2: decodes to the same header");

	sample(&h, 1);
	header_by_hand(want, &h);
	ok(journal_decode(want, &back) && back.version == 1 && back.nruns == 0 &&
	   back.runs_hash == 0 && back.new_hash == 0 && back.tail_len == 4096 &&
	   back.payload_hash == h.payload_hash, "an old version-1 header still reads");
	journal_encode(&h, got);
	ok(memcmp(got, want, sizeof(got)) == 0, "and is written the old way when asked to");

	want[40] ^= 1;
	ok(!journal_decode(want, &back), "a damaged field: refused");
	header_by_hand(want, &h);
	want[3] = 'X';
	ok(!journal_decode(want, &back), "a damaged magic: refused");
	memset(want, 0, sizeof(want));
	ok(!journal_decode(want, &back), "a blank header: refused");
}

static void test_shape(void)
{
	struct journal_hdr h, g;
	uint64_t size;

	sample(&h, 2);   /* payload 15000, three runs */
	size = 512 + 15000 + 3 * 24;
	ok(journal_shape_ok(&h, size), "version 2: a journal of the right size");
	g = h;
	g.phase = 3;
	ok(!journal_shape_ok(&g, size), "an unknown phase: refused");
	g = h;
	g.phase = JOURNAL_COMPACTED;
	ok(journal_shape_ok(&g, size), "COMPACTED is a phase");
	g = h;
	g.region_off = g.new_size + 1;
	ok(!journal_shape_ok(&g, size), "region past the new end: refused");
	g = h;
	g.new_size = g.orig_size;
	ok(!journal_shape_ok(&g, size), "nothing removed: refused");
	g = h;
	g.payload_len--;
	ok(!journal_shape_ok(&g, size), "payload not the region: refused");
	ok(!journal_shape_ok(&h, 511), "shorter than a header: refused");
	g = h;
	g.tail_len--;
	ok(!journal_shape_ok(&g, size), "version 2: tail not all the removed bytes: refused");
	ok(!journal_shape_ok(&h, 512 + 14999), "shorter than its payload: refused");
	ok(!journal_shape_ok(&h, size - 1), "runs table not whole runs: refused");
	ok(!journal_shape_ok(&h, size + 24), "more runs than the header says: refused");

	sample(&h, 1);   /* tail 4096 = min(4096, 10000) */
	ok(journal_shape_ok(&h, 512 + 15000), "version 1: header and payload only");
	ok(!journal_shape_ok(&h, 512 + 15000 + 24), "version 1: anything after the payload: refused");
	g = h;
	g.tail_len = 10000;
	ok(!journal_shape_ok(&g, 512 + 15000), "version 1: tail hash over more than 4096: refused");
	ok(journal_runs_off(&h) == 512 + 15000, "the runs table follows the payload");
}

/* A spool of n two-byte pairs; the first byte of each pair is deleted:
 * run i moves byte 2i+1 to byte i (n runs, region [0, n), new size n). */
struct case_files {
	int spool, jfd;
	unsigned char *old;
	struct journal_hdr h;
};

static void build(struct case_files *cf, unsigned n)
{
	struct journal_runs_writer *w = malloc(sizeof(*w));
	struct journal_run r;
	char path[300];
	unsigned i;

	cf->old = malloc(2 * n);
	if (w == NULL || cf->old == NULL)
		die("malloc");
	for (i = 0; i < 2 * n; i++)
		cf->old[i] = (unsigned char)(i * 7 + 1);
	snprintf(path, sizeof(path), "%s/spool", dir);
	cf->spool = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	snprintf(path, sizeof(path), "%s/journal", dir);
	cf->jfd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (cf->spool < 0 || cf->jfd < 0 || safe_pwrite_all(cf->spool, cf->old, 2 * n, 0) < 0)
		die("open");
	journal_hdr_init(&cf->h, 1, 2, 2 * n, n, 0);
	if (safe_pwrite_all(cf->jfd, cf->old, n, 512) < 0)
		die("payload");
	cf->h.payload_hash = uidstore_hash(cf->old, n, JOURNAL_SEED);
	journal_runs_begin(w, cf->jfd, journal_runs_off(&cf->h));
	for (i = 0; i < n; i++) {
		r.src = 2 * i + 1;
		r.dst = i;
		r.len = 1;
		if (journal_runs_add(w, &r) < 0)
			die("runs_add");
	}
	if (journal_runs_end(w, &cf->h) < 0)
		die("runs_end");
	free(w);
}

static void done(struct case_files *cf)
{
	close(cf->spool);
	close(cf->jfd);
	free(cf->old);
}

/* Rewrites run k of the journal (and the runs hash, so that only the
 * rule under test can refuse it). */
static void set_run(struct case_files *cf, unsigned n, unsigned k, uint64_t src, uint64_t dst,
		    uint64_t len)
{
	unsigned char *raw = malloc((size_t)n * 24);
	uint64_t off = journal_runs_off(&cf->h);

	if (raw == NULL || safe_pread_all(cf->jfd, raw, (size_t)n * 24, (off_t)off) < 0)
		die("runs");
	le(raw + 24 * k, src, 8);
	le(raw + 24 * k + 8, dst, 8);
	le(raw + 24 * k + 16, len, 8);
	if (safe_pwrite_all(cf->jfd, raw, (size_t)n * 24, (off_t)off) < 0)
		die("runs");
	cf->h.runs_hash = uidstore_hash(raw, (size_t)n * 24, JOURNAL_SEED);
	free(raw);
}

static bool fsize_ok(int fd, uint64_t want)
{
	struct stat st;

	return fstat(fd, &st) == 0 && (uint64_t)st.st_size == want;
}

static void test_runs(void)
{
	const unsigned n = 400;   /* more than one buffer of runs (170) */
	struct case_files cf;
	struct journal_hdr keep;
	unsigned char c;

	build(&cf, n);
	ok(cf.h.nruns == n, "the writer counts the runs");
	ok(fsize_ok(cf.jfd, 512 + n + 24 * n) && journal_shape_ok(&cf.h, 512 + n + 24 * n),
	   "payload and runs make a journal of the right shape");
	ok(journal_verify(cf.jfd, &cf.h, buf) == 1, "a sound journal verifies");
	keep = cf.h;

	keep.version = 1;
	ok(journal_verify(cf.jfd, &keep, buf) == 1, "version 1: the payload alone is checked");
	keep = cf.h;
	keep.runs_hash ^= 1;
	ok(journal_verify(cf.jfd, &keep, buf) == 0, "runs hash wrong: damaged");
	keep = cf.h;
	keep.payload_hash ^= 1;
	ok(journal_verify(cf.jfd, &keep, buf) == 0, "payload hash wrong: damaged");

	keep = cf.h;
	set_run(&cf, n, 200, 200, 200, 1);
	ok(journal_verify(cf.jfd, &cf.h, buf) == 0, "a run that does not move down: damaged");
	set_run(&cf, n, 200, 401, 201, 1);
	ok(journal_verify(cf.jfd, &cf.h, buf) == 0, "a run that leaves a gap: damaged");
	set_run(&cf, n, 200, 401, 200, 0);
	ok(journal_verify(cf.jfd, &cf.h, buf) == 0, "an empty run: damaged");
	set_run(&cf, n, 399, 2 * n, 399, 1);
	ok(journal_verify(cf.jfd, &cf.h, buf) == 0, "a run reading past the old end: damaged");
	set_run(&cf, n, 399, 700, 399, 2);
	ok(journal_verify(cf.jfd, &cf.h, buf) == 0, "a run past the new end: damaged");
	set_run(&cf, n, 200, 401, 200, 1);
	set_run(&cf, n, 399, 799, 399, 1);
	ok(journal_verify(cf.jfd, &cf.h, buf) == 1 && cf.h.runs_hash == keep.runs_hash,
	   "put back: sound again");

	c = 0xee;
	if (safe_pwrite_all(cf.jfd, &c, 1, 512 + 17) < 0)
		die("pwrite");
	ok(journal_verify(cf.jfd, &cf.h, buf) == 0, "one payload byte changed: damaged");
	if (ftruncate(cf.jfd, 512 + 100) < 0)
		die("ftruncate");
	errno = 0;
	ok(journal_verify(cf.jfd, &cf.h, buf) < 0 && errno == EIO, "a short journal: read error");
	done(&cf);
}

static void test_old_or_new(void)
{
	const unsigned n = 400;
	struct case_files cf;
	unsigned char c;
	unsigned i;

	build(&cf, n);
	ok(journal_region_old_or_new(cf.spool, cf.jfd, &cf.h, buf) == 1,
	   "compaction not started: every byte old");
	for (i = 0; i < n / 2; i++)
		if (safe_pwrite_all(cf.spool, &cf.old[2 * i + 1], 1, i) < 0)
			die("pwrite");
	ok(journal_region_old_or_new(cf.spool, cf.jfd, &cf.h, buf) == 1,
	   "compaction half done: each byte old or new");
	for (; i < n; i++)
		if (safe_pwrite_all(cf.spool, &cf.old[2 * i + 1], 1, i) < 0)
			die("pwrite");
	ok(journal_region_old_or_new(cf.spool, cf.jfd, &cf.h, buf) == 1,
	   "compaction done: every byte new");
	c = (unsigned char)(cf.old[300] ^ cf.old[601] ^ 0x80);
	if (c == cf.old[300] || c == cf.old[601])
		c ^= 0x40;
	if (safe_pwrite_all(cf.spool, &c, 1, 300) < 0)
		die("pwrite");
	ok(journal_region_old_or_new(cf.spool, cf.jfd, &cf.h, buf) == 0,
	   "one byte neither old nor new: refused");
	done(&cf);
}

int main(void)
{
	char path[300];

	if (mkdtemp(dir) == NULL)
		die("mkdtemp");
	test_header();
	test_shape();
	test_runs();
	test_old_or_new();
	/* build() made these two files */
	snprintf(path, sizeof(path), "%s/spool", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/journal", dir);
	unlink(path);
	if (rmdir(dir) < 0)
		die("rmdir");
	return tap_done();
}
