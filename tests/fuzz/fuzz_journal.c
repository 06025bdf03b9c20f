/*
 * fuzz_journal: the update journal (server/maildrop/mbox_journal.c, its
 * header a phase record of phaserec.c) as the next login finds it, and the
 * recovery that acts on it (mbox_update.c) when the spool is opened.
 *
 * Two ways in.  Raw: the journal is the fuzzer's bytes (its header
 * re-signed on request, so the checks behind the checksum are reached);
 * the spool must not grow, whatever the journal says.  Built: the harness
 * plays an update that was interrupted -- it picks the new size, the first
 * deleted byte and a list of moves (runs) that tile the new region, writes
 * the journal an update would have written, and leaves the spool as a
 * crash at that point would (part of the moves made in phase PREPARED, all
 * of them in COMPACTED, truncated or not, mail appended or not).  Then the
 * spool after recovery must be the old mailbox (plus what was appended) or
 * the new one, the one mbox_update.c's phases say.  With one byte of the
 * journal changed afterwards, the recovery may also leave the spool as it
 * was, and nothing else.
 *
 * Besides: phaserec_decode() of the last 512 bytes of the input, as a
 * journal header, must give back the fields phaserec_encode() signs (a
 * round trip; fuzz_tempdrop_marker does the same for the marker).
 *
 * Input: byte 0 flags, bytes 1..2 the spool's length, the spool; then,
 * built, the choices (sizes, moves, where the crash was, the byte to
 * change); raw, the journal.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "server/maildrop/maildrop.h"
#include "server/maildrop/mbox.h"
#include "server/maildrop/mbox_journal.h"
#include "server/maildrop/phaserec.h"
#include "server/maildrop/uidstore.h"
#include "tests/fuzz/fuzzutil.h"

#define F_BUILD 0x01      /* play an interrupted update (else raw) */
#define F_SIGN 0x02       /* raw: re-sign the header */
#define F_SAME_FILE 0x04  /* raw: the header names the spool (dev, ino) */
#define F_V1 0x08         /* built: a version 1 journal (no runs) */
#define F_COMPACTED 0x10  /* built: the crash came after the phase COMPACTED */
#define F_TRUNCATED 0x20  /* built, COMPACTED: ... and after the truncation */
#define F_APPEND 0x40     /* built: mail arrived after the crash */
#define F_CORRUPT 0x80    /* built: one byte of the journal changed */

#define SPOOL_MAX 8192
#define RUNS_MAX 64

static const char appended[] = "From new@example.org Mon Jan  1 00:00:00 2001\n\nnew mail\n";

static char casedir[600];
static unsigned char oldb[SPOOL_MAX], newb[SPOOL_MAX], cur[SPOOL_MAX + sizeof(appended)];
static unsigned char jbuf[PHASEREC_SIZE + SPOOL_MAX + RUNS_MAX * JOURNAL_RUN_SIZE];
static unsigned char back[2 * (SPOOL_MAX + sizeof(appended))];

/* The decode/encode round trip of one 512-byte record, for a kind. */
static void check_roundtrip(const struct phaserec_kind *k, const unsigned char *b)
{
	unsigned char again[PHASEREC_SIZE];
	struct phaserec r, r2;
	size_t so;

	if (!phaserec_decode(k, b, &r))
		return;
	so = 16 + 8 * (size_t)k->fields[r.version - 1];
	phaserec_encode(k, &r, again);
	if (memcmp(again, b, so + 8) != 0 || !phaserec_decode(k, again, &r2) ||
	    memcmp(&r, &r2, sizeof(r)) != 0) {
		fprintf(stderr, "phase record: decode and encode disagree\n");
		abort();
	}
}

/* The spool as it is on the disk now, into back; its length. */
static size_t read_spool(void)
{
	FILE *fp = fopen(fz_path(casedir, "spool"), "rb");
	size_t n;

	if (fp == NULL)
		fz_die("spool");
	n = fread(back, 1, sizeof(back), fp);
	fclose(fp);
	return n;
}

static void open_spool(void)
{
	struct maildrop_settings ms;
	struct maildrop *md;
	char reason[512];

	memset(&ms, 0, sizeof(ms));
	ms.path = fz_path(casedir, "spool");
	ms.lock_path = fz_path(casedir, "spool.lock");
	ms.state_dir = fz_path(casedir, "state");
	ms.require_owner = true;
	ms.owner_uid = (unsigned long)geteuid();
	if (maildrop_open(&ms, &md, reason, sizeof(reason)) == MAILDROP_OK)
		maildrop_close(md);
}

static void dev_ino(uint64_t *dev, uint64_t *ino)
{
	struct stat st;

	if (stat(fz_path(casedir, "spool"), &st) < 0)
		fz_die("stat");
	*dev = (uint64_t)st.st_dev;
	*ino = (uint64_t)st.st_ino;
}

/* Raw: the journal is the input; the spool must not grow. */
static void run_raw(uint8_t f, const uint8_t *spool, size_t slen, struct fz_in *in)
{
	size_t jlen = in->len;
	struct journal_hdr h;

	memcpy(jbuf, in->p, jlen);
	if ((f & F_SIGN) && jlen >= PHASEREC_SIZE) {
		/* The fields as written, under a valid magic and checksum. */
		memset(&h, 0, sizeof(h));
		h.version = 1 + (phaserec_get32(jbuf + 8) & 1);
		h.phase = phaserec_get32(jbuf + 12);
		h.dev = phaserec_get64(jbuf + 16);
		h.ino = phaserec_get64(jbuf + 24);
		h.orig_size = phaserec_get64(jbuf + 32);
		h.new_size = phaserec_get64(jbuf + 40);
		h.region_off = phaserec_get64(jbuf + 48);
		h.tail_len = phaserec_get64(jbuf + 56);
		h.tail_hash = phaserec_get64(jbuf + 64);
		h.payload_len = phaserec_get64(jbuf + 72);
		h.payload_hash = phaserec_get64(jbuf + 80);
		if (h.version == 2) {
			h.nruns = phaserec_get64(jbuf + 88);
			h.runs_hash = phaserec_get64(jbuf + 96);
			h.new_hash = phaserec_get64(jbuf + 104);
		}
		if (f & F_SAME_FILE)
			dev_ino(&h.dev, &h.ino);
		journal_encode(&h, jbuf);
	}
	fz_write(fz_path(casedir, "state/journal"), jbuf, jlen, 0600);
	open_spool();
	if (read_spool() > slen) {
		fprintf(stderr, "recovery made the spool longer\n");
		abort();
	}
	(void)spool;
}

/* Built: an update interrupted by a crash. */
static void run_built(uint8_t f, size_t slen, struct fz_in *in)
{
	struct journal_run runs[RUNS_MAX];
	struct journal_hdr h;
	size_t nruns = 0, cursor, state_len, jlen, k, part, i, got;
	uint64_t new_size, region_off, tail_len;
	bool v2 = !(f & F_V1), compacted = (f & F_COMPACTED) != 0;

	if (slen < 1)
		return;
	new_size = fz_u16(in) % slen;
	region_off = fz_u16(in) % (new_size + 1);
	tail_len = slen - new_size;
	if (!v2 && tail_len > JOURNAL_V1_TAIL_MAX)
		tail_len = JOURNAL_V1_TAIL_MAX;

	/* The moves: each run copies old bytes from further up down to the
	 * cursor; together they tile [region_off, new_size). */
	memcpy(newb, oldb, slen);
	for (cursor = region_off; cursor < new_size;) {
		uint64_t room = new_size - cursor, len, src;

		len = nruns + 1 < RUNS_MAX ? 1 + fz_byte(in) % room : room;
		/* src in [cursor + 1, slen - len]: never in place, inside the
		 * old file. */
		src = cursor + 1 + fz_u16(in) % (slen - len - cursor);
		runs[nruns].src = src;
		runs[nruns].dst = cursor;
		runs[nruns].len = len;
		for (i = 0; i < len; i++)
			newb[cursor + i] = oldb[src + i];
		nruns++;
		cursor += len;
	}

	/* The journal an update writes: header, the old bytes of the region,
	 * the runs. */
	dev_ino(&h.dev, &h.ino);
	journal_hdr_init(&h, h.dev, h.ino, slen, new_size, region_off);
	h.version = v2 ? 2 : 1;
	h.tail_len = tail_len;
	h.tail_hash = uidstore_hash(oldb + new_size, tail_len, JOURNAL_SEED);
	h.payload_hash = uidstore_hash(oldb + region_off, new_size - region_off, JOURNAL_SEED);
	memcpy(jbuf + PHASEREC_SIZE, oldb + region_off, new_size - region_off);
	jlen = PHASEREC_SIZE + new_size - region_off;
	if (v2) {
		for (i = 0; i < nruns; i++) {
			phaserec_put64(jbuf + jlen, runs[i].src);
			phaserec_put64(jbuf + jlen + 8, runs[i].dst);
			phaserec_put64(jbuf + jlen + 16, runs[i].len);
			jlen += JOURNAL_RUN_SIZE;
		}
		h.nruns = nruns;
		h.runs_hash = uidstore_hash(jbuf + PHASEREC_SIZE + new_size - region_off,
					    nruns * JOURNAL_RUN_SIZE, JOURNAL_SEED);
		h.new_hash = uidstore_hash(newb + region_off, new_size - region_off, JOURNAL_SEED);
	}
	h.phase = compacted ? JOURNAL_COMPACTED : JOURNAL_PREPARED;
	journal_encode(&h, jbuf);

	/* The spool at the crash. */
	if (compacted) {
		memcpy(cur, newb, slen);
		state_len = (f & F_TRUNCATED) ? new_size : slen;
	} else {
		/* Part of the moves made, in order, the last one part-way. */
		memcpy(cur, oldb, slen);
		k = nruns > 0 ? fz_byte(in) % (nruns + 1) : 0;
		part = fz_byte(in);
		for (i = 0; i < nruns && i <= k; i++) {
			size_t n = i < k ? runs[i].len : part % (runs[i].len + 1);

			for (size_t j = 0; j < n; j++)
				cur[runs[i].dst + j] = oldb[runs[i].src + j];
		}
		state_len = slen;
	}
	if (f & F_APPEND) {
		memcpy(cur + state_len, appended, sizeof(appended) - 1);
		state_len += sizeof(appended) - 1;
	}
	if (f & F_CORRUPT) {
		size_t at = fz_u16(in) % jlen;

		jbuf[at] ^= (uint8_t)(1 + fz_byte(in) % 255);
	}
	/* Write the spool in place (same inode as the journal names). */
	{
		FILE *fp = fopen(fz_path(casedir, "spool"), "r+b");

		if (fp == NULL || fwrite(cur, 1, state_len, fp) != state_len || fclose(fp) != 0 ||
		    truncate(fz_path(casedir, "spool"), (off_t)state_len) < 0)
			fz_die("spool");
	}
	fz_write(fz_path(casedir, "state/journal"), jbuf, jlen, 0600);

	open_spool();
	got = read_spool();

	/* What recovery must leave: the old mailbox (plus later mail), or
	 * the new one -- the one the phase and the spool's state call for. */
	{
		bool want_old = !compacted || (!(f & F_TRUNCATED) && (f & F_APPEND));
		const unsigned char *base = want_old ? oldb : newb;
		size_t blen = want_old ? slen : new_size;
		bool as_wanted, unchanged;

		as_wanted = got == blen + ((f & F_APPEND) ? sizeof(appended) - 1 : 0) &&
			    memcmp(back, base, blen) == 0 &&
			    ((f & F_APPEND) == 0 ||
			     memcmp(back + blen, appended, sizeof(appended) - 1) == 0);
		unchanged = got == state_len && memcmp(back, cur, state_len) == 0;
		if (!as_wanted && !((f & F_CORRUPT) && unchanged)) {
			fprintf(stderr, "recovery left %zu bytes, neither the %s mailbox (%zu bytes)%s\n",
				got, want_old ? "old" : "new", blen,
				(f & F_CORRUPT) ? " nor the spool as it was" : "");
			abort();
		}
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_log_quiet("fuzz_journal");
	snprintf(casedir, sizeof(casedir), "%s", fz_path(fz_tmpdir("fuzz_journal"), "c"));
	fz_mkdir(casedir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd0 = fz_fd_lowest();
	/* The journal's kind, as mbox_journal.c declares it. */
	static const struct phaserec_kind kind = { "POPJRNL1", JOURNAL_SEED, 2, { 9, 12 } };
	struct fz_in in = { data, size };
	uint8_t f = fz_byte(&in);
	size_t slen = fz_u16(&in) % (SPOOL_MAX + 1);

	if (size >= PHASEREC_SIZE)
		check_roundtrip(&kind, data + size - PHASEREC_SIZE);
	if (slen > in.len)
		slen = in.len;
	memcpy(oldb, in.p, slen);
	in.p += slen;
	in.len -= slen;
	fz_clear(casedir);
	fz_mkdir(fz_path(casedir, "state"));
	fz_write(fz_path(casedir, "spool"), oldb, slen, 0600);
	if (f & F_BUILD)
		run_built(f, slen, &in);
	else
		run_raw(f, oldb, slen, &in);
	fz_fd_check(fd0);
	return 0;
}
