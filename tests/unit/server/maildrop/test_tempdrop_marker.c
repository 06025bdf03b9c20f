/*
 * test_tempdrop_marker: the marker, the phase record of a move (server/
 * maildrop/tempdrop_marker.c), read back by the next login.
 *
 * The markers are written by hand with the test's own copy of the layout
 * (magic, version, phase, the spool's dev/ino, base, pad, length, hash and
 * a checksum), so a change of format is noticed.  A good COPYING marker is
 * acted on; a damaged one, one naming another spool file, one of the wrong
 * size and a COPIED one whose copy is missing are set aside as
 * tempdrop.marker.bad.TIME with the mailboxes left as they are; an empty
 * one (created, never written) is removed.
 */
#include "config.h"

#include <endian.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/safeopen.h"
#include "server/maildrop/tempdrop.h"
#include "server/maildrop/uidstore.h"
#include "tests/unit/server/maildrop/tdfixture.h"

/* Markers written by hand: the layout is the test's own, so a change of
 * format is noticed. */
static void write_marker(uint32_t phase, uint64_t dev, uint64_t ino, uint64_t base, uint64_t pad,
			 uint64_t len, uint64_t hash, bool good_sum)
{
	unsigned char b[512];
	uint32_t v = htole32(1), ph = htole32(phase);
	uint64_t f[6] = { dev, ino, base, pad, len, hash }, sum;
	int i, fd;

	memset(b, 0, sizeof(b));
	memcpy(b, "POPTDMK1", 8);
	memcpy(b + 8, &v, 4);
	memcpy(b + 12, &ph, 4);
	for (i = 0; i < 6; i++) {
		uint64_t le = htole64(f[i]);

		memcpy(b + 16 + 8 * i, &le, 8);
	}
	sum = htole64(uidstore_hash(b, 64, 0x74656d7064726f70ULL) ^ (good_sum ? 0 : 1));
	memcpy(b + 64, &sum, 8);
	fd = open(mpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || safe_write_all(fd, b, sizeof(b)) < 0)
		die(mpath);
	close(fd);
}

/* A fresh case stopped in COPYING, by hand: the spool s; the temporary
 * drop (also into *tdrop) the leftover l and behind it a partial copy,
 * junk; a COPYING marker for them whose checksum is good or not. */
static void plant_copying(const struct buf *l, const struct buf *s, const struct buf *junk,
			  struct buf *tdrop, bool good_sum)
{
	struct stat st;

	new_case();
	write_file(spool, s, 0600);
	buf_addb(tdrop, l);
	buf_addb(tdrop, junk);
	write_file(tpath, tdrop, 0600);
	stat(spool, &st);
	write_marker(1, (uint64_t)st.st_dev, (uint64_t)st.st_ino, l->len, 0, s->len, 0, good_sum);
}

/* COPYING: the temporary drop is cut back to T0. */
static void test_marker_copying(const struct buf *l, const struct buf *s, const struct buf *junk)
{
	struct buf got = { 0 }, want = { 0 };
	struct maildrop *md;

	plant_copying(l, s, junk, &want, true);
	md = open_ok(false);
	buf_reset(&want);
	buf_addb(&want, l);
	buf_addb(&want, s);
	read_file(spool, &got);
	ok(md != NULL && maildrop_count(md) == 3 && buf_eq(&got, &want) && !exists(mpath),
	   "hand-made COPYING marker: partial copy dropped, leftover written back ahead");
	if (md != NULL)
		maildrop_close(md);
	buf_free(&got);
	buf_free(&want);
}

/* A damaged marker is set aside and nothing is touched. */
static void test_marker_damaged(const struct buf *l, const struct buf *s, const struct buf *junk)
{
	struct buf got = { 0 }, want = { 0 };
	struct maildrop *md;

	plant_copying(l, s, junk, &want, false);
	md = open_ok(true);
	ok(!exists(mpath) && count_prefixed(TEMPDROP_MARKER ".bad.") == 1,
	   "damaged marker renamed to " TEMPDROP_MARKER ".bad.TIME");
	/* The temporary drop was left as it was, so its partial message is
	 * still there (a human decides), followed by framing and the spool's
	 * mail. */
	buf_adds(&want, "\n\n");
	buf_addb(&want, s);
	read_file(tpath, &got);
	ok(md != NULL && buf_eq(&got, &want), "damaged marker: the temporary drop was not cut");
	if (md != NULL)
		maildrop_close(md);
	buf_free(&got);
	buf_free(&want);
}

/* A marker for another spool file (dev/ino) is set aside too. */
static void test_marker_other_spool(const struct buf *l, const struct buf *s)
{
	struct buf got = { 0 }, want = { 0 };
	struct maildrop *md;
	struct stat st;

	new_case();
	write_file(spool, s, 0600);
	write_file(tpath, l, 0600);
	stat(spool, &st);
	write_marker(3, (uint64_t)st.st_dev, (uint64_t)st.st_ino + 1, 0, 0, 10, 0, true);
	md = open_ok(false);
	buf_addb(&want, l);
	buf_addb(&want, s);
	read_file(spool, &got);
	ok(md != NULL && buf_eq(&got, &want) && !exists(mpath) &&
	   count_prefixed(TEMPDROP_MARKER ".bad.") == 1,
	   "marker of another spool file set aside; temporary drop not cut, written back");
	if (md != NULL)
		maildrop_close(md);
	buf_free(&got);
	buf_free(&want);
}

/* Garbage of the wrong size. */
static void test_marker_wrong_size(const struct buf *s, const struct buf *junk)
{
	struct maildrop *md;

	new_case();
	write_file(spool, s, 0600);
	write_file(mpath, junk, 0600);
	md = open_ok(true);
	ok(md != NULL && maildrop_count(md) == 2 && count_prefixed(TEMPDROP_MARKER ".bad.") == 1,
	   "marker of the wrong size set aside, session goes on");
	if (md != NULL)
		maildrop_close(md);
}

/* An empty marker: created, never written, so nothing moved yet. */
static void test_marker_empty(const struct buf *s)
{
	struct buf empty = { 0 };
	struct maildrop *md;

	new_case();
	write_file(spool, s, 0600);
	write_file(mpath, &empty, 0600);
	md = open_ok(true);
	ok(md != NULL && maildrop_count(md) == 2 && !exists(mpath) &&
	   count_prefixed(TEMPDROP_MARKER) == 0, "empty marker removed (a move that never started)");
	if (md != NULL)
		maildrop_close(md);
}

/* COPIED whose temporary drop lost the copy: the spool's mail is not
 * removed. */
static void test_marker_copied_without_copy(const struct buf *l, const struct buf *s)
{
	struct buf got = { 0 }, want = { 0 };
	struct uidstore_hasher hs;
	struct maildrop *md;
	struct stat st;
	uint64_t h = 0;

	new_case();
	write_file(spool, s, 0600);
	write_file(tpath, l, 0600);
	stat(spool, &st);
	uidstore_hash_init(&hs, 0x74656d7064726f70ULL);
	uidstore_hash_update(&hs, s->p, s->len);
	h = uidstore_hash_final(&hs);
	write_marker(2, (uint64_t)st.st_dev, (uint64_t)st.st_ino, l->len, 0, s->len, h, true);
	md = open_ok(false);
	buf_addb(&want, l);
	buf_addb(&want, s);
	read_file(spool, &got);
	ok(md != NULL && buf_eq(&got, &want) && count_prefixed(TEMPDROP_MARKER ".bad.") == 1,
	   "COPIED but the copy is missing: marker set aside, the spool's mail kept");
	if (md != NULL)
		maildrop_close(md);
	buf_free(&got);
	buf_free(&want);
}

static void test_markers_by_hand(void)
{
	struct buf l = { 0 }, s = { 0 }, junk = { 0 };

	msgs(&l, "x", 300);
	msgs(&s, "a b", 300);
	buf_adds(&junk, "From partial@example.org Sat Jan  3 01:05:34 1996\nSubject: half a co");

	test_marker_copying(&l, &s, &junk);
	test_marker_damaged(&l, &s, &junk);
	test_marker_other_spool(&l, &s);
	test_marker_wrong_size(&s, &junk);
	test_marker_empty(&s);
	test_marker_copied_without_copy(&l, &s);
	buf_free(&l);
	buf_free(&s);
	buf_free(&junk);
}

int main(void)
{
	td_run("test_tempdrop_marker", test_markers_by_hand, TD_END);
	return tap_done();
}
