/*
 * test_tempdrop: temp-drop mode's maildrop operations (server/maildrop/
 * tempdrop.c): a session's open, commit and close as the server drives
 * them.  The monitor's lock/unlock protocol it relies on is tested in
 * tests/unit/server/test_monitor.c; the moves, their recovery, the temp
 * directory and the marker each have their own test beside this one
 * (test_tempdrop_*.c, sharing tdfixture.c).
 *
 * Every mailbox is built from messages whose bytes the test knows, so each
 * check compares the spool (and the temporary drop) byte for byte with what
 * it must be: a round trip through the temporary drop (mode, owner, UIDs,
 * the dot-lock released during the session, the statistics of a QUIT),
 * mail delivered during the session exactly once behind the kept messages,
 * an abort that deletes nothing but puts the mail back, a spool removed
 * during the session, keep-temp-drop, and a second session refused while
 * one runs (its fcntl lock held by a child, since those locks are per
 * process).
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/server/maildrop/tdfixture.h"

/* ---- the round trips ---------------------------------------------------------- */

static void test_roundtrip(void)
{
	struct buf orig = { 0 }, got = { 0 }, want = { 0 };
	struct maildrop *md;
	char **uids;
	bool same;

	new_case();
	add_msg(&orig, "a", 300);
	add_msg(&orig, "b", 5000);
	add_msg(&orig, "c", 200);
	write_file(spool, &orig, 0600);
	md = open_ok(false);
	if (md == NULL) {
		ok(0, "server-mode open");
		return;
	}
	uids = save_uids(md);
	maildrop_close(md);

	md = open_ok(true);
	ok(md != NULL && maildrop_count(md) == 3, "temp-drop mode: 3 messages");
	read_file(spool, &got);
	ok(got.len == 0 && exists(spool), "the spool is empty (not removed) while the session runs");
	read_file(tpath, &got);
	ok(buf_eq(&got, &orig), "the temporary drop holds the spool byte for byte");
	ok(!exists(mpath), "no marker once the move is done");
	ok(!exists(lockp), "the spool's dot-lock is released during the session");
	{
		struct stat st;

		ok(lstat(tpath, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_uid == geteuid(),
		   "the temporary drop is mode 0600 and the user's");
	}
	ok(md != NULL && uids_match(md, uids, NULL), "UIDs are those server mode gave");
	ok(md != NULL && commit(md) == MAILDROP_OK, "QUIT without deletions: commit OK");
	read_file(spool, &got);
	ok(buf_eq(&got, &orig), "write-back: the spool is byte for byte what it was");
	ok(!exists(tpath) && !exists(mpath) && state_junk() == 0,
	   "temporary drop and marker removed, no journal left");

	md = open_ok(true);
	if (md != NULL)
		maildrop_msg_delete(md, 1);
	ok(md != NULL && commit(md) == MAILDROP_OK, "DELE 2 and QUIT: commit OK");
	ok(last_stats.msgs_deleted == 1 && last_stats.msgs_left == 2 && !last_stats.left_in_temp_drop,
	   "statistics: 1 deleted, 2 left");
	add_msg(&want, "a", 300);
	add_msg(&want, "c", 200);
	read_file(spool, &got);
	ok(buf_eq(&got, &want), "the spool holds exactly messages 1 and 3");
	md = open_ok(false);
	{
		bool keep[3] = { true, false, true };

		same = md != NULL && maildrop_count(md) == 2 && uids_match(md, uids, keep);
	}
	ok(same, "server mode afterwards: same UIDs for the messages left");
	if (md != NULL)
		maildrop_close(md);
	free_uids(uids);

	/* No spool file at all: an empty temp-drop session creates nothing
	 * in the spool directory. */
	new_case();
	md = open_ok(true);
	ok(md != NULL && maildrop_count(md) == 0, "no spool file: an empty maildrop");
	ok(md != NULL && commit(md) == MAILDROP_OK && !exists(spool) && !exists(tpath),
	   "no spool file: QUIT leaves no spool and no temporary drop");
	buf_free(&orig);
	buf_free(&got);
	buf_free(&want);
}

static void test_delivery(void)
{
	struct buf orig = { 0 }, d1 = { 0 }, d2 = { 0 }, got = { 0 }, want = { 0 };
	struct maildrop *md;

	msgs(&orig, "a b c", 500);
	add_msg(&d1, "new1", 900);
	add_msg(&d2, "new2", 100);

	new_case();
	write_file(spool, &orig, 0600);
	md = open_ok(true);
	append_file(spool, &d1);
	append_file(spool, &d2);
	if (md != NULL)
		maildrop_msg_delete(md, 1);
	ok(md != NULL && commit(md) == MAILDROP_OK, "mail delivered during the session: commit OK");
	msgs(&want, "a c", 500);
	buf_addb(&want, &d1);
	buf_addb(&want, &d2);
	read_file(spool, &got);
	ok(buf_eq(&got, &want), "delivered mail follows the kept messages, exactly once");

	/* An abort deletes nothing but still puts the mail back. */
	new_case();
	write_file(spool, &orig, 0600);
	md = open_ok(true);
	append_file(spool, &d1);
	if (md != NULL) {
		maildrop_msg_delete(md, 0);
		maildrop_close(md);
	}
	buf_reset(&want);
	buf_addb(&want, &orig);
	buf_addb(&want, &d1);
	read_file(spool, &got);
	ok(buf_eq(&got, &want) && !exists(tpath), "abort: nothing deleted, all mail back, new mail after it");

	/* Everything deleted: the new mail is all that is left. */
	new_case();
	write_file(spool, &orig, 0600);
	md = open_ok(true);
	append_file(spool, &d1);
	if (md != NULL) {
		maildrop_msg_delete(md, 0);
		maildrop_msg_delete(md, 1);
		maildrop_msg_delete(md, 2);
	}
	ok(md != NULL && commit(md) == MAILDROP_OK, "all deleted: commit OK");
	read_file(spool, &got);
	ok(buf_eq(&got, &d1) && !exists(tpath) && state_junk() == 0,
	   "all deleted: the spool holds only the new mail; no temporary drop");
	new_case();
	write_file(spool, &orig, 0600);
	md = open_ok(true);
	if (md != NULL) {
		maildrop_msg_delete(md, 0);
		maildrop_msg_delete(md, 1);
		maildrop_msg_delete(md, 2);
	}
	ok(md != NULL && commit(md) == MAILDROP_OK && fsize(spool) == 0 && !exists(tpath),
	   "all deleted, no new mail: empty spool, no temporary drop");

	/* The spool vanished during the session: the kept mail needs a new
	 * one (the spool directory is writable here). */
	new_case();
	write_file(spool, &orig, 0600);
	md = open_ok(true);
	unlink(spool);
	ok(md != NULL && commit(md) == MAILDROP_OK, "spool removed during the session: commit OK");
	read_file(spool, &got);
	ok(buf_eq(&got, &orig), "spool removed during the session: recreated with the mail");
	buf_free(&orig);
	buf_free(&d1);
	buf_free(&d2);
	buf_free(&got);
	buf_free(&want);
}

static void test_keep(void)
{
	struct buf orig = { 0 }, got = { 0 }, want = { 0 };
	struct maildrop *md;

	new_case();
	keep_temp = true;
	msgs(&orig, "a b", 300);
	write_file(spool, &orig, 0600);
	md = open_ok(true);
	if (md != NULL)
		maildrop_msg_delete(md, 0);
	ok(md != NULL && commit(md) == MAILDROP_OK, "keep-temp-drop: commit OK");
	msgs(&want, "b", 300);
	read_file(spool, &got);
	ok(buf_eq(&got, &want), "keep-temp-drop: the spool holds the kept message");
	ok(exists(tpath) && fsize(tpath) == 0, "keep-temp-drop: the temporary drop stays, empty");
	md = open_ok(true);
	ok(md != NULL && maildrop_count(md) == 1, "keep-temp-drop: the next session finds 1 message");
	ok(md != NULL && commit(md) == MAILDROP_OK && fsize(tpath) == 0, "keep-temp-drop: again kept, empty");
	read_file(spool, &got);
	ok(buf_eq(&got, &want), "keep-temp-drop: spool unchanged by a session without deletions");
	md = open_ok(false);
	ok(md != NULL && exists(tpath), "keep-temp-drop: server mode leaves the empty temporary drop");
	if (md != NULL)
		maildrop_close(md);
	keep_temp = false;
	md = open_ok(false);
	ok(md != NULL && !exists(tpath), "without keep-temp-drop: server mode removes an empty one");
	if (md != NULL)
		maildrop_close(md);
	buf_free(&orig);
	buf_free(&got);
	buf_free(&want);
}

/* ---- one session at a time ---------------------------------------------------- */

static void test_second_session(void)
{
	struct buf orig = { 0 }, got = { 0 };
	struct maildrop *md;
	int up[2], down[2], status;
	char c = 0;
	pid_t pid;

	new_case();
	msgs(&orig, "a b", 300);
	write_file(spool, &orig, 0600);
	if (pipe(up) < 0 || pipe(down) < 0)
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		/* fcntl locks are per process: the first session must be
		 * another one. */
		md = open_ok(true);
		c = md != NULL ? 'y' : 'n';
		if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) != 1)
			_exit(3);
		if (md != NULL)
			maildrop_close(md);
		_exit(0);
	}
	if (read(up[0], &c, 1) != 1 || c != 'y') {
		ok(0, "first session opened");
	} else {
		enum maildrop_status st = try_open(true, &md);

		ok(st == MAILDROP_IN_USE, "a second temp-drop session: [IN-USE] (%s)", last_reason);
		st = try_open(false, &md);
		ok(st == MAILDROP_IN_USE, "a server-mode session meanwhile: [IN-USE] (%s)", last_reason);
		ok(fsize(spool) == 0 && !exists(lockp), "the refused sessions changed nothing and "
		   "left no lock");
	}
	c = 'x';
	if (write(down[1], &c, 1) != 1)
		die("write");
	waitpid(pid, &status, 0);
	read_file(spool, &got);
	ok(buf_eq(&got, &orig), "after the first session ends the mail is back");
	md = open_ok(true);
	ok(md != NULL && maildrop_count(md) == 2, "and the next session opens");
	if (md != NULL)
		maildrop_close(md);
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
	buf_free(&orig);
	buf_free(&got);
}

int main(void)
{
	td_run("test_tempdrop", test_roundtrip, test_delivery, test_keep, test_second_session,
	       TD_END);
	return tap_done();
}
