/*
 * test_mbox: opening and closing an mbox spool, and what the mbox store
 * keeps per message across sessions (server/maildrop/mbox.c), through the
 * maildrop interface.
 *
 * UIDs: generated ones are unique and stable, X-UIDL headers are honoured
 * only on the first sight of a maildrop and never twice, and none is
 * reused when its message is gone.  Seen marks (LAST) survive a commit,
 * not an aborted session, and RSET keeps the earlier ones.  Opening
 * refuses a spool that is a link, not a plain file, writable by others or
 * not the user's, and a state directory that is missing or a link; a
 * missing spool is an empty maildrop.  The other modules of the store have
 * their own tests: test_mbox_index, test_mbox_send, test_mbox_update,
 * test_mbox_lock, test_mbox_journal.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/maildrop/maildrop.h"
#include "tests/unit/server/maildrop/mboxfixture.h"
#include "tests/unit/tap.h"
#include "tests/unit/testbuf.h"

/* ---- UIDs ------------------------------------------------------------------- */

static void read_epoch(char *epoch)
{
	struct buf b = { 0 };
	char path[800];

	snprintf(path, sizeof(path), "%s/uids", state);
	read_file(path, &b);
	epoch[0] = '\0';
	if (b.len > 20 && strncmp(b.p, "popper-uids 1 ", 14) == 0)
		snprintf(epoch, 9, "%s", b.p + 14);
	buf_free(&b);
}

/* Returns false when the drop would not open (the rest is then skipped). */
static bool test_uids_generated(void)
{
	struct tbox tb = { 0 };
	struct maildrop *md;
	char **u1, **u2, epoch[16];
	bool same = true;
	unsigned i;

	new_case();
	tbox_adds(&tb, F1, "Subject: a\n\nsame\n", "\n");
	tbox_adds(&tb, F1, "Subject: a\n\nsame\n", "\n");   /* byte-identical */
	tbox_adds(&tb, F2, "Subject: b\n\nother\n", "\n");
	tbox_adds(&tb, F3, "Subject: c\n\nthird\n", "\n");
	tbox_write(&tb);
	md = open_ok();
	if (md == NULL) {
		ok(0, "uids: open");
		return false;
	}
	ok(uids_unique_valid(md), "UIDs are valid and unique (identical messages differ)");
	read_epoch(epoch);
	ok(strlen(epoch) == 8 && strncmp(maildrop_msg_uid(md, 0), epoch, 8) == 0 &&
	   maildrop_msg_uid(md, 0)[8] == '.', "generated UID is EPOCH.N (%s)", maildrop_msg_uid(md, 0));
	u1 = save_uids(md);
	maildrop_close(md);

	md = open_ok();
	u2 = md ? save_uids(md) : NULL;
	for (i = 0; u2 != NULL && i < 4; i++)
		if (strcmp(u1[i], u2[i]) != 0)
			same = false;
	ok(u2 != NULL && same, "UIDs stable across sessions");
	free_uids(u2);
	maildrop_msg_delete(md, 1);
	ok(commit(md) == MAILDROP_OK, "commit deleting the second of two identical messages");
	append_file(spool, F3 "Subject: new\n\nnew mail\n\n", strlen(F3 "Subject: new\n\nnew mail\n\n"));
	md = open_ok();
	ok(md != NULL && maildrop_count(md) == 4, "after delete + new mail: 4 messages");
	if (md != NULL) {
		ok(strcmp(maildrop_msg_uid(md, 0), u1[0]) == 0 &&
		   strcmp(maildrop_msg_uid(md, 1), u1[2]) == 0 &&
		   strcmp(maildrop_msg_uid(md, 2), u1[3]) == 0, "kept messages keep their UIDs");
		ok(strcmp(maildrop_msg_uid(md, 3), u1[1]) != 0 && uids_unique_valid(md),
		   "new mail gets a new UID, never a deleted one's (%s)", maildrop_msg_uid(md, 3));
		maildrop_close(md);
	}
	free_uids(u1);
	tbox_free(&tb);
	return true;
}

/*
 * X-UIDL on the first sight of the drop: honoured once, never a duplicate
 * (the look-alike of our own UIDs: test_uidstore).  Then deletes the two
 * <abc123@example> messages and appends later mail for
 * test_x_uidl_later_mail; returns false when the drop would not open.
 */
static bool test_x_uidl_first_sight(char *epoch)
{
	struct tbox tb = { 0 };
	struct maildrop *md;

	new_case();
	tbox_adds(&tb, F1, "Subject: a\n\nfirst\n", "\n");
	tbox_adds(&tb, F2, "X-UIDL: <abc123@example>\nSubject: x\n\nbody\n", "\n");
	tbox_adds(&tb, F2, "x-uidl:  \t<abc123@example>  \r\nSubject: dup\n\nbody\n", "\n");
	tbox_adds(&tb, F3, "Subject: y\nX-UIDL: def456\n\nX-UIDL: in-body\n", "\n");
	tbox_adds(&tb, F3, "X-UIDL: has space\n\nb\n", "\n");
	tbox_adds(&tb, F3, "X-UIDL: folded\n continued\n\nb\n", "\n");
	tbox_adds(&tb, F3, "X-UIDL: 01234567890123456789012345678901234567890123456789012345678901234567890\n\nb\n", "\n");
	tbox_adds(&tb, F3, "Subject: z\n\nX-UIDL: not-in-header\n", "\n");
	tbox_write(&tb);
	tbox_free(&tb);
	md = open_ok();
	read_epoch(epoch);
	if (md == NULL)
		return false;
	is_str(maildrop_msg_uid(md, 1), "<abc123@example>", "X-UIDL honoured");
	ok(strcmp(maildrop_msg_uid(md, 2), "<abc123@example>") != 0,
	   "duplicate X-UIDL not honoured (%s)", maildrop_msg_uid(md, 2));
	is_str(maildrop_msg_uid(md, 3), "def456", "X-UIDL later in the header honoured");
	ok(strcmp(maildrop_msg_uid(md, 4), "has") != 0 &&
	   strncmp(maildrop_msg_uid(md, 4), epoch, 8) == 0, "X-UIDL with a space ignored");
	ok(strncmp(maildrop_msg_uid(md, 5), epoch, 8) == 0, "folded X-UIDL ignored");
	ok(strncmp(maildrop_msg_uid(md, 6), epoch, 8) == 0, "71-character X-UIDL ignored");
	ok(strcmp(maildrop_msg_uid(md, 7), "not-in-header") != 0, "X-UIDL in the body ignored");
	ok(uids_unique_valid(md), "all UIDs unique and valid");
	/* Later mail: a copy of the deleted message's X-UIDL, of a live
	 * one's, and a fresh one.  None is honoured now (RFC 1939: a
	 * UID is never reused for another message). */
	maildrop_msg_delete(md, 1);
	maildrop_msg_delete(md, 2);
	ok(commit(md) == MAILDROP_OK, "commit deleting the messages with X-UIDL <abc123@example>");
	append_file(spool, F3 "X-UIDL: <abc123@example>\nSubject: again\n\nb\n\n",
		    strlen(F3 "X-UIDL: <abc123@example>\nSubject: again\n\nb\n\n"));
	append_file(spool, F3 "X-UIDL: def456\nSubject: copy\n\nb\n\n",
		    strlen(F3 "X-UIDL: def456\nSubject: copy\n\nb\n\n"));
	append_file(spool, F3 "X-UIDL: fresh-one\nSubject: new\n\nb\n\n",
		    strlen(F3 "X-UIDL: fresh-one\nSubject: new\n\nb\n\n"));
	return true;
}

/* The drop test_x_uidl_first_sight left, opened again. */
static void test_x_uidl_later_mail(const char *epoch)
{
	struct maildrop *md = open_ok();

	if (md == NULL)
		return;
	ok(maildrop_count(md) == 9 && strcmp(maildrop_msg_uid(md, 1), "def456") == 0,
	   "later session: the old messages keep their UIDs");
	ok(strncmp(maildrop_msg_uid(md, 6), epoch, 8) == 0,
	   "a new message with a deleted message's X-UIDL gets a new UID (%s)",
	   maildrop_msg_uid(md, 6));
	ok(strncmp(maildrop_msg_uid(md, 7), epoch, 8) == 0,
	   "a new message copying a live message's X-UIDL gets a new UID (%s)",
	   maildrop_msg_uid(md, 7));
	ok(strncmp(maildrop_msg_uid(md, 8), epoch, 8) == 0,
	   "a new message's own X-UIDL is not honoured once the state exists (%s)",
	   maildrop_msg_uid(md, 8));
	ok(uids_unique_valid(md), "all UIDs unique and valid");
	maildrop_close(md);
}

/*
 * The state file lost: nothing tells the X-UIDL of a message seen before
 * from one copied since, so none is honoured.  Uses the same drop as the
 * two tests before.
 */
static void test_x_uidl_state_lost(void)
{
	struct maildrop *md;
	char path[800], epoch[16];
	unsigned i, n, honoured = 0;

	snprintf(path, sizeof(path), "%s/uids", state);
	unlink(path);
	md = open_ok();
	if (md == NULL)
		return;
	n = maildrop_count(md);
	read_epoch(epoch);
	for (i = 0; i < n; i++)
		if (strncmp(maildrop_msg_uid(md, i), epoch, 8) != 0)
			honoured++;
	ok(n == 9 && honoured == 0, "uids lost, uids.started present: no X-UIDL honoured "
	   "(%u of %u)", honoured, n);
	maildrop_close(md);
}

static void test_x_uidl_untrusted(void)
{
	struct tbox tb = { 0 };
	struct maildrop *md;

	tbox_adds(&tb, F1, "Subject: a\n\nfirst\n", "\n");
	tbox_adds(&tb, F2, "X-UIDL: <abc123@example>\nSubject: x\n\nbody\n", "\n");
	trust_x_uidl = false;
	new_case();
	tbox_write(&tb);
	md = open_ok();
	if (md != NULL) {
		ok(strcmp(maildrop_msg_uid(md, 1), "<abc123@example>") != 0,
		   "trust-x-uidl off: X-UIDL ignored");
		maildrop_close(md);
	}
	trust_x_uidl = true;
	tbox_free(&tb);
}

static void test_uids(void)
{
	char epoch[16];

	if (!test_uids_generated())
		return;
	if (test_x_uidl_first_sight(epoch))
		test_x_uidl_later_mail(epoch);
	test_x_uidl_state_lost();
	test_x_uidl_untrusted();
}

static void test_seen(void)
{
	struct tbox tb = { 0 };
	struct maildrop *md;

	new_case();
	tbox_adds(&tb, F1, "S: a\n\n1\n", "\n");
	tbox_adds(&tb, F2, "S: b\n\n2\n", "\n");
	tbox_adds(&tb, F3, "S: c\n\n3\n", "\n");
	tbox_write(&tb);
	md = open_ok();
	if (md == NULL) {
		ok(0, "seen: open");
		return;
	}
	ok(!maildrop_msg_seen(md, 0) && !maildrop_msg_seen(md, 1), "nothing seen at first");
	maildrop_msg_mark_seen(md, 1);
	maildrop_msg_delete(md, 2);
	ok(maildrop_msg_seen(md, 1) && maildrop_msg_deleted(md, 2), "mark seen, delete");
	maildrop_reset(md);
	ok(!maildrop_msg_seen(md, 1) && !maildrop_msg_deleted(md, 2), "RSET restores the start state");
	maildrop_msg_mark_seen(md, 1);
	ok(commit(md) == MAILDROP_OK, "commit without deletions");
	md = open_ok();
	if (md != NULL) {
		ok(maildrop_msg_seen(md, 1) && !maildrop_msg_seen(md, 0) && !maildrop_msg_seen(md, 2),
		   "seen mark persists (LAST)");
		maildrop_msg_mark_seen(md, 2);
		maildrop_close(md);   /* abort: not saved */
	}
	md = open_ok();
	if (md != NULL) {
		ok(!maildrop_msg_seen(md, 2), "seen mark of an aborted session is not saved");
		maildrop_reset(md);
		ok(maildrop_msg_seen(md, 1), "RSET keeps marks from earlier sessions");
		maildrop_close(md);
	}
	tbox_free(&tb);
}

/* ---- files ------------------------------------------------------------------ */

static void test_files(void)
{
	struct maildrop *md = NULL;
	struct maildrop_settings s;
	char other[800];
	const char *content = F1 "S: x\n\nb\n";

	new_case();
	snprintf(other, sizeof(other), "%s/target", casedir);
	write_file(other, content, strlen(content), 0600);
	if (symlink(other, spool) < 0)
		die("symlink");
	is_int(try_open(&md), MAILDROP_PERM, "symlink spool refused (%s)", last_reason);

	new_case();
	if (mkfifo(spool, 0600) < 0)
		die("mkfifo");
	is_int(try_open(&md), MAILDROP_PERM, "FIFO spool refused without hanging");

	new_case();
	snprintf(other, sizeof(other), "%s/target", casedir);
	write_file(other, content, strlen(content), 0600);
	if (link(other, spool) < 0)
		die("link");
	is_int(try_open(&md), MAILDROP_PERM, "hard-linked spool refused");

	new_case();
	if (mkdir(spool, 0700) < 0)
		die("mkdir");
	is_int(try_open(&md), MAILDROP_PERM, "directory spool refused");

	new_case();
	write_file(spool, content, strlen(content), 0600);
	chmod(spool, 0602);
	is_int(try_open(&md), MAILDROP_PERM, "world-writable spool refused");

	new_case();
	write_file(spool, content, strlen(content), 0600);
	settings(&s);
	s.owner_uid = getuid() + 1;
	is_int(maildrop_open(&s, &md, last_reason, sizeof(last_reason)), MAILDROP_PERM,
	       "spool of another owner refused");
	chmod(spool, 0660);
	md = open_ok();
	ok(md != NULL, "0660 spool (Debian user:mail) accepted");
	if (md != NULL)
		maildrop_close(md);

	new_case();
	write_file(spool, content, strlen(content), 0600);
	snprintf(other, sizeof(other), "%s/state", casedir);
	rmdir(other);
	is_int(try_open(&md), MAILDROP_PERM, "missing state directory: [SYS/PERM] (%s)", last_reason);
	if (symlink(casedir, other) < 0)
		die("symlink");
	is_int(try_open(&md), MAILDROP_PERM, "symlinked state directory refused");
}

/* No spool file is an empty maildrop, and opening never creates one:
 * the delivery agent does, with the owner and mode it wants. */
static void test_missing_spool(void)
{
	struct maildrop *md;

	new_case();
	md = open_ok();
	ok(md != NULL && maildrop_count(md) == 0, "missing spool: 0 messages");
	if (md != NULL)
		ok(commit(md) == MAILDROP_OK, "missing spool: commit");
	ok(access(spool, F_OK) < 0, "missing spool: not created");
}

int main(void)
{
	fixture_start("test_mbox");
	test_uids();
	test_seen();
	test_files();
	test_missing_spool();
	fixture_end();
	return tap_done();
}
