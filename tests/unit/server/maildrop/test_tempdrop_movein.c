/*
 * test_tempdrop_movein: MOVE IN, the spool's mail into the temporary drop
 * at a temp-drop login (server/maildrop/tempdrop_movein.c), with the file
 * helpers it plans with (the framing pad of tempdrop_file.c).
 *
 * A leftover temporary drop must stay ahead of the spool's mail; one whose
 * last message lacks the final empty line, or even the final newline, gets
 * one or two framing newlines so the next From_ line stays a separator; a
 * spool that is not an mbox is refused before anything moves.  A full disk
 * at the move-in is simulated with RLIMIT_FSIZE in a child (child_run) and,
 * as root, made real with the temp-dir on a small tmpfs: the login fails,
 * the spool and any leftover stay exactly as they were, and no marker is
 * left.
 *
 * Debugging: TEST_TEMPDROP_TRACE=1 prints every step a child passes.
 */
#include "config.h"

#include <string.h>

#include "tests/unit/server/maildrop/tdfixture.h"

/* A leftover temporary drop stays ahead of the spool's mail. */
static void test_leftover_ahead(void)
{
	struct buf l = { 0 }, s = { 0 }, got = { 0 }, want = { 0 };
	struct maildrop *md;

	new_case();
	msgs(&l, "x y", 400);
	msgs(&s, "a b", 700);
	write_file(tpath, &l, 0600);
	write_file(spool, &s, 0600);
	md = open_ok(true);
	ok(md != NULL && maildrop_count(md) == 4, "leftover: 2 old + 2 new messages");
	buf_addb(&want, &l);
	buf_addb(&want, &s);
	read_file(tpath, &got);
	ok(buf_eq(&got, &want), "leftover: its mail first, then the spool's");
	ok(md != NULL && commit(md) == MAILDROP_OK, "leftover: commit");
	read_file(spool, &got);
	ok(buf_eq(&got, &want) && !exists(tpath), "leftover: all four back in the spool, in order");
	buf_free(&l);
	buf_free(&s);
	buf_free(&got);
	buf_free(&want);
}

/*
 * A leftover whose last message lacks the final empty line (or even the
 * final newline, next test): a framing newline keeps the next From_ line a
 * separator.
 */
static void test_leftover_no_empty_line(void)
{
	struct buf l = { 0 }, s = { 0 }, got = { 0 }, want = { 0 };
	struct maildrop *md;

	msgs(&s, "a b", 700);
	new_case();
	buf_adds(&l, "From old@example.org Sat Jan  3 01:05:34 1996\nSubject: x\n\nno empty line\n");
	write_file(tpath, &l, 0600);
	write_file(spool, &s, 0600);
	md = open_ok(true);
	ok(md != NULL && maildrop_count(md) == 3, "leftover without final empty line: 1 + 2 messages");
	if (md != NULL)
		commit(md);
	buf_addb(&want, &l);
	buf_adds(&want, "\n");
	buf_addb(&want, &s);
	read_file(spool, &got);
	ok(buf_eq(&got, &want), "leftover without final empty line: one newline of framing added");
	buf_free(&l);
	buf_free(&s);
	buf_free(&got);
	buf_free(&want);
}

static void test_leftover_no_newline(void)
{
	struct buf l = { 0 }, s = { 0 }, got = { 0 }, want = { 0 };
	struct maildrop *md;

	msgs(&s, "a b", 700);
	new_case();
	buf_adds(&l, "From old@example.org Sat Jan  3 01:05:34 1996\nSubject: x\n\nno newline");
	write_file(tpath, &l, 0600);
	write_file(spool, &s, 0600);
	md = open_ok(true);
	ok(md != NULL && maildrop_count(md) == 3, "leftover without final newline: 1 + 2 messages");
	if (md != NULL && maildrop_count(md) == 3)
		ok(maildrop_msg_size(md, 0) == strlen("Subject: x\r\n\r\nno newline\r\n"),
		   "leftover without final newline: message size as before (CRLF added either way)");
	if (md != NULL)
		commit(md);
	buf_addb(&want, &l);
	buf_adds(&want, "\n\n");
	buf_addb(&want, &s);
	read_file(spool, &got);
	ok(buf_eq(&got, &want), "leftover without final newline: two newlines of framing added");
	buf_free(&l);
	buf_free(&s);
	buf_free(&got);
	buf_free(&want);
}

/* A spool that is not an mbox is not moved either. */
static void test_spool_not_mbox(void)
{
	struct buf l = { 0 }, got = { 0 };
	struct maildrop *md;

	buf_adds(&l, "this is not a mailbox\n");
	new_case();
	write_file(spool, &l, 0600);
	ok(try_open(true, &md) == MAILDROP_PERM && fsize(tpath) == 0,
	   "spool not an mbox: refused before anything moved");
	read_file(spool, &got);
	ok(buf_eq(&got, &l), "spool not an mbox: untouched");
	buf_free(&l);
	buf_free(&got);
}

/* Move-in: the temporary drop cannot take the spool. */
static void test_disk_full_move_in(const struct buf *orig)
{
	struct buf got = { 0 };
	struct scenario sc;
	int rc;

	new_case();
	write_file(spool, orig, 0600);
	memset(&sc, 0, sizeof(sc));
	sc.limit = 30000;
	rc = child_run(&sc, NULL, 0);
	read_file(spool, &got);
	ok(rc == 3 && buf_eq(&got, orig), "move-in past the file size limit: login fails, spool untouched");
	ok(fsize(tpath) == 0 && !exists(mpath), "move-in past the limit: temporary drop back to 0, no marker");
	buf_free(&got);
}

static void test_disk_full_move_in_leftover(const struct buf *orig)
{
	struct buf l = { 0 }, got = { 0 };
	struct scenario sc;
	int rc;

	msgs(&l, "x", 3000);
	new_case();
	write_file(spool, orig, 0600);
	write_file(tpath, &l, 0600);
	memset(&sc, 0, sizeof(sc));
	sc.limit = 30000;
	rc = child_run(&sc, NULL, 0);
	read_file(tpath, &got);
	ok(rc == 3 && buf_eq(&got, &l) && !exists(mpath),
	   "move-in past the limit with a leftover: the leftover exactly as it was");
	read_file(spool, &got);
	ok(buf_eq(&got, orig), "and the spool untouched");
	buf_free(&l);
	buf_free(&got);
}

/* A real full disk where the temporary drop lives. */
static void test_disk_full_tmpfs_temp(const struct buf *orig)
{
	char mnt[620];
	struct buf got = { 0 };
	struct maildrop *md;
	const char *why = small_fs_case(mnt, sizeof(mnt), "smalltmp", 32);

	if (why != NULL) {
		tap_skip(why, "a real full disk at the move-in");
		return;
	}
	set_temp_dir(mnt);
	write_file(spool, orig, 0600);
	ok(try_open(true, &md) == MAILDROP_TEMP, "full temp-dir: login fails [SYS/TEMP]");
	read_file(spool, &got);
	ok(buf_eq(&got, orig) && fsize(tpath) == 0 && !exists(mpath),
	   "full temp-dir: spool untouched, temporary drop empty, no marker");
	small_fs_umount(mnt);
	buf_free(&got);
}

static void test_disk_full(void)
{
	struct buf orig = { 0 };

	msgs(&orig, "a b c", 20000);
	test_disk_full_move_in(&orig);
	test_disk_full_move_in_leftover(&orig);
	test_disk_full_tmpfs_temp(&orig);
	buf_free(&orig);
}

int main(void)
{
	td_run("test_tempdrop_movein", test_leftover_ahead, test_leftover_no_empty_line,
	       test_leftover_no_newline, test_spool_not_mbox, test_disk_full, TD_END);
	return tap_done();
}
