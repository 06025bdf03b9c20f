/*
 * fuzz_tempdrop_marker: the marker of temp-drop mode's moves
 * (server/maildrop/tempdrop_marker.c, a phase record of phaserec.c) as the
 * next login finds it, beside a spool and a temporary drop of arbitrary
 * bytes, and the recovery that acts on it (tempdrop_recover.c) when a
 * session opens the maildrop in server mode or temp-drop mode.
 *
 * The marker is either the fuzzer's bytes, or one written by
 * tempdrop_marker_write() from fuzzer-chosen fields (any phase, sizes
 * within the files or not, the spool's identity and hash right or not),
 * so that each phase's recovery is reached.
 *
 * Checked besides the sanitizers: a marker that reads back is the one
 * written (fields) and writes back to the same bytes (the record as far as
 * its checksum); and once a session has settled whatever the marker said,
 * a session that deletes nothing leaves the spool and the temporary drop
 * byte for byte as it found them (tempdrop.c).
 *
 * Input: byte 0 flags, then the spool and the temporary drop (each a
 * 16-bit length and the bytes), then the marker's fields or bytes.
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
#include "server/maildrop/phaserec.h"
#include "server/maildrop/tempdrop_int.h"
#include "server/maildrop/uidstore.h"
#include "tests/fuzz/fuzzutil.h"

#define F_TEMPDROP 0x01    /* the sessions in temp-drop mode (else server mode) */
#define F_RAW 0x02         /* the marker is the input's bytes */
#define F_SPOOL_ID 0x04    /* fields: the marker names the spool */
#define F_HASH 0x08        /* fields: the hash of spool[0, len) */
#define F_NO_MARKER 0x10
#define F_NO_TEMP 0x20     /* no temporary drop file */
#define F_KEEP 0x40        /* keep-temp-drop */
#define F_IN_RANGE 0x80    /* fields: sizes within the files */

#define FILE_MAX 8192

static char casedir[600];
static unsigned char spool[FILE_MAX], temp[FILE_MAX];
static unsigned char snap_s[2 * FILE_MAX + 16], snap_t[2 * FILE_MAX + 16];
static unsigned char check[2 * FILE_MAX + 16];

/* Reads a whole file into b (size n); its length, or -1 if it is missing. */
static long slurp(const char *path, unsigned char *b, size_t n)
{
	FILE *fp = fopen(path, "rb");
	size_t got;

	if (fp == NULL)
		return -1;
	got = fread(b, 1, n, fp);
	fclose(fp);
	return (long)got;
}

static void settings_for(struct maildrop_settings *ms, uint8_t f)
{
	memset(ms, 0, sizeof(*ms));
	ms->path = fz_path(casedir, "spool");
	ms->lock_path = fz_path(casedir, "spool.lock");
	ms->state_dir = fz_path(casedir, "state");
	ms->require_owner = true;
	ms->owner_uid = (unsigned long)geteuid();
	ms->temp_drop_mode = (f & F_TEMPDROP) != 0;
	ms->temp_dir = ms->state_dir;
	ms->temp_name = ".alice.pop";
	ms->keep_temp_drop = (f & F_KEEP) != 0;
}

/* One session that deletes nothing: open, close.  True if it opened. */
static bool session(uint8_t f)
{
	struct maildrop_settings ms;
	struct maildrop *md;
	char reason[512];

	settings_for(&ms, f);
	if (maildrop_open(&ms, &md, reason, sizeof(reason)) != MAILDROP_OK)
		return false;
	maildrop_close(md);
	return true;
}

static void fail(const char *what)
{
	fprintf(stderr, "%s\n", what);
	abort();
}

/* The marker read back must be what was written, and writing what was
 * read must give the same record. */
static void check_marker(const struct td_ctx *c, const unsigned char *raw, size_t rawlen,
			 const struct marker *written)
{
	struct marker mk;
	const char *why = NULL;
	char reason[256];
	long n;

	memset(&mk, 0, sizeof(mk));
	if (tempdrop_marker_read(c, &mk, &why, reason, sizeof(reason)) != MK_OK)
		return;
	if (written != NULL && memcmp(&mk, written, sizeof(mk)) != 0)
		fail("the marker read back is not the one written");
	if (raw == NULL)
		return;
	/* Written again in place: the same bytes up to the checksum
	 * (16 + 6 * 8 + 8), zeros after it. */
	if (tempdrop_marker_write(c, &mk, false) < 0)
		fz_die("tempdrop_marker_write");
	n = slurp(c->marker_path, check, sizeof(check));
	if (n < 72 || (size_t)n != rawlen || memcmp(check, raw, 72) != 0)
		fail("a marker that reads does not write back to itself");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_log_quiet("fuzz_tempdrop_marker");
	snprintf(casedir, sizeof(casedir), "%s", fz_path(fz_tmpdir("fuzz_tempdrop_marker"), "c"));
	fz_mkdir(casedir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd0 = fz_fd_lowest();
	struct fz_in in = { data, size };
	struct td_ctx c;
	struct marker mk;
	struct stat st;
	uint8_t f = fz_byte(&in);
	size_t slen = fz_u16(&in) % (FILE_MAX + 1), tlen;
	long s1, t1, s2, t2;

	if (slen > in.len)
		slen = in.len;
	memcpy(spool, in.p, slen);
	in.p += slen;
	in.len -= slen;
	tlen = fz_u16(&in) % (FILE_MAX + 1);
	if (tlen > in.len)
		tlen = in.len;
	memcpy(temp, in.p, tlen);
	in.p += tlen;
	in.len -= tlen;

	fz_clear(casedir);
	fz_mkdir(fz_path(casedir, "state"));
	fz_write(fz_path(casedir, "spool"), spool, slen, 0600);
	if (!(f & F_NO_TEMP))
		fz_write(fz_path(casedir, "state/.alice.pop"), temp, tlen, 0600);

	memset(&c, 0, sizeof(c));
	c.state_dir = fz_path(casedir, "state");
	snprintf(c.marker_path, sizeof(c.marker_path), "%s", fz_path(casedir, "state/" TEMPDROP_MARKER));
	if (f & F_NO_MARKER) {
		/* no marker */
	} else if (f & F_RAW) {
		fz_write(c.marker_path, in.p, in.len, 0600);
		check_marker(&c, in.p, in.len, NULL);
	} else {
		memset(&mk, 0, sizeof(mk));
		mk.phase = fz_byte(&in) % 7;   /* 0 and 6: no phase */
		mk.base = fz_u16(&in);
		mk.pad = fz_byte(&in) % 4;
		mk.len = fz_u16(&in);
		if (f & F_IN_RANGE) {
			mk.base %= tlen + 1;
			mk.pad %= 3;
			mk.len %= slen + 1;
		}
		if (f & F_SPOOL_ID) {
			if (stat(fz_path(casedir, "spool"), &st) < 0)
				fz_die("stat");
			mk.dev = (uint64_t)st.st_dev;
			mk.ino = (uint64_t)st.st_ino;
		} else {
			mk.dev = fz_u16(&in);
			mk.ino = fz_u16(&in);
		}
		if ((f & F_HASH) && mk.len <= slen)
			mk.hash = uidstore_hash(spool, (size_t)mk.len, TEMPDROP_MARKER_SEED);
		else
			mk.hash = fz_u16(&in);
		if (tempdrop_marker_write(&c, &mk, true) < 0)
			fz_die("tempdrop_marker_write");
		check_marker(&c, NULL, 0, &mk);
	}

	/* The first session settles the marker; after it, a session that
	 * deletes nothing changes nothing. */
	if (session(f)) {
		s1 = slurp(fz_path(casedir, "spool"), snap_s, sizeof(snap_s));
		t1 = slurp(fz_path(casedir, "state/.alice.pop"), snap_t, sizeof(snap_t));
		if (session(f)) {
			s2 = slurp(fz_path(casedir, "spool"), check, sizeof(check));
			if (s2 != s1 || (s1 > 0 && memcmp(check, snap_s, (size_t)s1) != 0))
				fail("a session that deleted nothing changed the spool");
			t2 = slurp(fz_path(casedir, "state/.alice.pop"), check, sizeof(check));
			if (t2 != t1 || (t1 > 0 && memcmp(check, snap_t, (size_t)t1) != 0))
				fail("a session that deleted nothing changed the temporary drop");
		}
	}
	fz_fd_check(fd0);
	return 0;
}
