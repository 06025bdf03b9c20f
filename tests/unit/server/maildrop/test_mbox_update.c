/*
 * test_mbox_update: QUIT's journaled compaction of an mbox spool and the
 * recovery of an interrupted one (server/maildrop/mbox_update.c), through
 * the maildrop interface.
 *
 * Commit is checked for the usual shapes (which messages go, mail that
 * arrived during the session) and for its refusals when the spool changed
 * under the session.  Crash safety: a child process is stopped dead at
 * every step of the update (mbox_update_hook) and of the recovery; the
 * spool must afterwards be byte for byte the old mailbox or the new one,
 * plus mail delivered meanwhile, UIDs must survive and no journal may be
 * left.  Then a full disk (a file size limit), journals that must not be
 * replayed, and a spool another program rewrote after the crash.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/maildrop/maildrop.h"
#include "server/maildrop/mbox.h"
#include "tests/unit/server/maildrop/mboxfixture.h"
#include "tests/unit/tap.h"
#include "tests/unit/testbuf.h"

/* ---- commit ----------------------------------------------------------------- */

static void commit_case(const char *name, const bool *del, const char *appended)
{
	struct tbox tb = { 0 };
	struct buf want = { 0 }, got = { 0 };
	bool keep[4];
	struct maildrop *md;
	struct maildrop_stats stats;
	char reason[256], jpath[800];
	unsigned i, left = 0;

	new_case();
	tbox_adds(&tb, F1, "Subject: one\n\nbody 1\n", "\n");
	tbox_adds(&tb, F2, "Subject: two\n\nbody 2\n\n", "\n");
	tbox_adds(&tb, F3, "Subject: three\r\n\r\nbody 3\r\n", "\r\n");
	tbox_adds(&tb, F1, "Subject: four\n\nbody 4\n", "\n");
	tbox_write(&tb);
	md = open_ok();
	if (md == NULL) {
		ok(0, "%s: open", name);
		return;
	}
	for (i = 0; i < 4; i++) {
		keep[i] = !del[i];
		if (del[i])
			maildrop_msg_delete(md, i);
		else
			left++;
	}
	if (appended != NULL)
		append_file(spool, appended, strlen(appended));
	ok(maildrop_commit(md, &stats, reason, sizeof(reason)) == MAILDROP_OK, "%s: commit", name);
	is_int(stats.msgs_left, left, "%s: stats: %u left", name, left);
	tbox_render(&tb, keep, &want);
	if (appended != NULL)
		buf_adds(&want, appended);
	read_file(spool, &got);
	ok(buf_eq(&got, &want), "%s: spool is exactly the kept messages%s", name,
	   appended ? " and the new mail" : "");
	snprintf(jpath, sizeof(jpath), "%s/journal", state);
	ok(access(jpath, F_OK) < 0, "%s: journal removed", name);
	ok(access(lockp, F_OK) < 0, "%s: dot-lock released", name);
	buf_free(&want);
	buf_free(&got);
	tbox_free(&tb);
}

static void test_commit(void)
{
	static const bool first[4] = { true, false, false, false };
	static const bool midlast[4] = { false, true, false, true };
	static const bool all[4] = { true, true, true, true };
	static const bool none[4] = { false, false, false, false };
	const char *newmail = "From late@example.org Sat Jan  3 01:05:40 1996\nSubject: late\n\nnew\n\n";

	commit_case("delete first", first, NULL);
	commit_case("delete middle and last", midlast, NULL);
	commit_case("delete all", all, NULL);
	commit_case("delete nothing", none, NULL);
	commit_case("delete first, mail arrived meanwhile", first, newmail);
	commit_case("delete middle and last, mail arrived meanwhile", midlast, newmail);
	commit_case("delete all, mail arrived meanwhile", all, newmail);
}

static void test_commit_refusals(void)
{
	struct tbox tb = { 0 };
	struct buf before = { 0 }, after = { 0 };
	struct maildrop *md;
	char moved[800];

	new_case();
	tbox_adds(&tb, F1, "Subject: one\n\nbody 1\n", "\n");
	tbox_adds(&tb, F2, "Subject: two\n\nbody 2\n", "\n");
	tbox_write(&tb);
	md = open_ok();
	if (md != NULL) {
		maildrop_msg_delete(md, 0);
		if (truncate(spool, 30) < 0)
			die("truncate");
		read_file(spool, &before);
		ok(commit(md) == MAILDROP_TEMP, "spool shrank during the session: [SYS/TEMP]");
		read_file(spool, &after);
		ok(buf_eq(&before, &after), "shrunk spool left alone");
	}
	tbox_write(&tb);
	md = open_ok();
	if (md != NULL) {
		maildrop_msg_delete(md, 0);
		snprintf(moved, sizeof(moved), "%s.old", spool);
		rename(spool, moved);
		tbox_write(&tb);
		read_file(moved, &before);
		ok(commit(md) == MAILDROP_TEMP, "spool replaced during the session: [SYS/TEMP]");
		read_file(moved, &after);
		ok(buf_eq(&before, &after), "the old inode is not written");
	}
	md = open_ok();
	if (md != NULL) {
		int fd = open(spool, O_WRONLY);

		maildrop_msg_delete(md, 0);
		if (fd < 0 || pwrite(fd, "X", 1, 5) != 1)
			die("pwrite");
		close(fd);
		read_file(spool, &before);
		ok(commit(md) == MAILDROP_TEMP, "first deleted message changed: [SYS/TEMP]");
		read_file(spool, &after);
		ok(buf_eq(&before, &after), "changed spool left alone");
	}
	buf_free(&before);
	buf_free(&after);
	tbox_free(&tb);
}

/* ---- crash safety ----------------------------------------------------------- */

static int hook_target, hook_count;
static const char *hook_step;   /* stop at the first step of this name instead */

static void crash_hook(const char *stepname)
{
	if (hook_step != NULL ? strcmp(stepname, hook_step) == 0 : ++hook_count == hook_target)
		_exit(42);
}

static int child_commit_at(const bool *del, unsigned n, int k, const char *stepname);

/* In a child: open, delete del[], commit, stopping dead at hook step k.
 * Returns 42 if it stopped, 0 if the commit completed, else an error. */
static int child_commit(const bool *del, unsigned n, int k)
{
	return child_commit_at(del, n, k, NULL);
}

/* The same, stopping at the first step called stepname when it is not
 * NULL. */
static int child_commit_at(const bool *del, unsigned n, int k, const char *stepname)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		struct maildrop *md = NULL;
		unsigned i;

		if (try_open(&md) != MAILDROP_OK)
			_exit(3);
		for (i = 0; i < n; i++)
			if (del[i])
				maildrop_msg_delete(md, i);
		hook_count = 0;
		hook_target = k;
		hook_step = stepname;
		mbox_update_hook = crash_hook;
		_exit(commit(md) == MAILDROP_OK ? 0 : 4);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* In a child: open (which recovers), stopping dead at hook step k. */
static int child_recover(int k)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		struct maildrop *md = NULL;

		hook_count = 0;
		hook_target = k;
		mbox_update_hook = crash_hook;
		if (try_open(&md) != MAILDROP_OK)
			_exit(3);
		maildrop_close(md);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Files in the state directory other than the UID state ("uids" and its
 * record "uids.started") whose names start with prefix ("" for all). */
static int state_files(const char *prefix)
{
	DIR *d = opendir(state);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
		    strcmp(e->d_name, "uids") != 0 && strcmp(e->d_name, "uids.started") != 0 &&
		    strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

/* Journals (also ones set aside) and temporary files must not survive a
 * crash and a recovery. */
static int state_junk(void)
{
	return state_files("");
}

/* After a crash (and recovery by a normal open): the spool must be the old
 * or the new mailbox plus app, and UIDs must have survived.  Returns 1 for
 * old, 2 for new, 0 for anything else. */
static int check_outcome(const struct tbox *tb, const bool *del, const char *app, char **uids)
{
	struct buf old = { 0 }, new = { 0 }, got = { 0 };
	bool keep[8];
	struct maildrop *md;
	int outcome = 0;
	unsigned i, j;

	for (i = 0; i < tb->n; i++)
		keep[i] = !del[i];
	tbox_render(tb, NULL, &old);
	tbox_render(tb, keep, &new);
	buf_adds(&old, app);
	buf_adds(&new, app);
	md = open_ok();   /* recovers */
	read_file(spool, &got);
	if (buf_eq(&got, &old))
		outcome = 1;
	else if (buf_eq(&got, &new))
		outcome = 2;
	if (state_junk() != 0) {
		printf("# state directory holds more than a clean session leaves\n");
		outcome = 0;
	}
	if (md == NULL)
		return 0;
	for (i = j = 0; i < tb->n && outcome != 0; i++) {
		if (outcome == 2 && del[i])
			continue;
		if (j >= maildrop_count(md) || strcmp(maildrop_msg_uid(md, j), uids[i]) != 0)
			outcome = 0;
		j++;
	}
	if (outcome != 0 && app[0] != '\0') {
		const char *u = maildrop_msg_uid(md, maildrop_count(md) - 1);

		for (i = 0; i < tb->n; i++)
			if (strcmp(u, uids[i]) == 0)
				outcome = 0;
	}
	if (outcome != 0 && !uids_unique_valid(md))
		outcome = 0;
	maildrop_close(md);
	buf_free(&old);
	buf_free(&new);
	buf_free(&got);
	return outcome;
}

static void build_crash_box(struct tbox *tb)
{
	tbox_adds(tb, F1, "Subject: one\n\nbody 1\n", "\n");
	tbox_adds(tb, F2, "Subject: two\n\nbody 2\n", "\n");
	tbox_adds(tb, F3, "Subject: three\n\nbody 3\n", "\n");
	tbox_adds(tb, F1, "Subject: four\n\nbody 4\n", "\n");
	tbox_adds(tb, F2, "Subject: five\n\nbody 5\n", "\n");
}

/* Kills the commit at every step k (and, with nested, the recovery at
 * every step j), with or without mail delivered after the crash. */
static void crash_sweep(const char *name, const bool *del, bool with_mail, bool nested)
{
	const char *mail = with_mail ?
		"From late@example.org Sat Jan  3 01:05:40 1996\nSubject: late\n\nnew\n\n" : "";
	struct tbox tb = { 0 };
	unsigned olds = 0, news = 0, bad = 0, runs = 0;
	int k;

	build_crash_box(&tb);
	for (k = 1; k < 200; k++) {
		struct maildrop *md;
		char **uids;
		int rc, j, o;

		new_case();
		tbox_write(&tb);
		md = open_ok();
		if (md == NULL) {
			bad++;
			break;
		}
		uids = save_uids(md);
		maildrop_close(md);
		rc = child_commit(del, (unsigned)tb.n, k);
		if (rc != 42 && rc != 0) {
			printf("# %s: step %d: child failed (%d)\n", name, k, rc);
			bad++;
			free_uids(uids);
			break;
		}
		if (with_mail)
			append_file(spool, mail, strlen(mail));
		for (j = 1; nested && rc == 42 && j < 50; j++) {
			int r2 = child_recover(j);

			if (r2 == 0)
				break;   /* recovery completed untouched by the hook */
			if (r2 != 42) {
				printf("# %s: step %d/%d: recovery child failed (%d)\n", name, k, j, r2);
				bad++;
				break;
			}
		}
		o = check_outcome(&tb, del, mail, uids);
		runs++;
		if (o == 1)
			olds++;
		else if (o == 2)
			news++;
		else {
			printf("# %s: crash at step %d: spool is neither old nor new\n", name, k);
			bad++;
		}
		if (rc == 0 && o != 2) {
			printf("# %s: completed commit did not give the new mailbox\n", name);
			bad++;
		}
		free_uids(uids);
		if (rc == 0)
			break;
	}
	ok(bad == 0 && olds > 0 && news > 0,
	   "%s: %u crash points, each old (%u) or new (%u) mailbox, UIDs kept, no journal left",
	   name, runs, olds, news);
	tbox_free(&tb);
}

static void test_crashes(void)
{
	static const bool first[5] = { true, false, false, false, false };
	static const bool midlast[5] = { false, true, false, true, true };
	static const bool all[5] = { true, true, true, true, true };

	crash_sweep("crash: delete first", first, false, false);
	crash_sweep("crash: delete middle and last", midlast, false, false);
	crash_sweep("crash: delete all", all, false, false);
	crash_sweep("crash: delete first, mail after the crash", first, true, false);
	crash_sweep("crash: delete middle and last, mail after the crash", midlast, true, false);
	crash_sweep("crash: delete all, mail after the crash", all, true, false);
	crash_sweep("crash in commit and again in recovery", midlast, false, true);
	crash_sweep("crash in commit and in recovery, mail after the crash", midlast, true, true);
}

/* In a child with a file size limit (writes past it fail with EFBIG, like
 * a full disk): open, delete del[], commit.  Returns the child's exit code:
 * 0 commit OK, 4 commit failed, 3 open failed. */
static int child_commit_limited(const bool *del, unsigned n, rlim_t limit)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		struct maildrop *md = NULL;
		struct rlimit rl = { limit, limit };
		unsigned i;

		if (try_open(&md) != MAILDROP_OK)
			_exit(3);
		for (i = 0; i < n; i++)
			if (del[i])
				maildrop_msg_delete(md, i);
		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			_exit(5);
		_exit(commit(md) == MAILDROP_OK ? 0 : 4);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_disk_full(void)
{
	static const bool del_first[3] = { true, false, false };
	static const bool del_mid[3] = { false, true, false };
	struct tbox tb = { 0 };
	struct buf big = { 0 }, before = { 0 }, after = { 0 };
	struct maildrop *md;
	char jpath[800];
	int i, rc;

	for (i = 0; i < 400; i++)
		buf_adds(&big, "a line of text to make the message about 20 kB long.\n");
	tbox_adds(&tb, F1, "Subject: small\n\nx\n", "\n");
	tbox_add(&tb, F2, big.p, big.len, "\n");
	tbox_adds(&tb, F3, "Subject: small\n\ny\n", "\n");

	/* The journal cannot be written: nothing changes. */
	new_case();
	tbox_write(&tb);
	md = open_ok();
	if (md != NULL)
		maildrop_close(md);
	read_file(spool, &before);
	rc = child_commit_limited(del_first, 3, 8192);
	read_file(spool, &after);
	snprintf(jpath, sizeof(jpath), "%s/journal", state);
	ok(rc == 4, "journal write fails (EFBIG as for a full disk): commit reports failure");
	ok(buf_eq(&before, &after), "journal write fails: spool untouched");
	ok(access(jpath, F_OK) < 0, "journal write fails: partial journal removed");
	md = open_ok();
	ok(md != NULL && maildrop_count(md) == 3, "journal write fails: all messages still there");
	if (md != NULL)
		maildrop_close(md);

	/* The journal fits, the move does not (writes past the limit fail)
	 * and neither does undoing it: the journal stays and the next open
	 * restores the old mailbox. */
	tbox_free(&tb);
	tbox_add(&tb, F1, big.p, big.len, "\n");
	tbox_adds(&tb, F2, "Subject: small\n\nx\n", "\n");
	tbox_add(&tb, F3, big.p, big.len, "\n");
	new_case();
	tbox_write(&tb);
	md = open_ok();
	if (md != NULL)
		maildrop_close(md);
	read_file(spool, &before);
	rc = child_commit_limited(del_mid, 3, (rlim_t)(big.len + big.len / 2));
	snprintf(jpath, sizeof(jpath), "%s/journal", state);
	ok(rc == 4 && access(jpath, F_OK) == 0, "move fails, undo fails: failure reported, journal kept");
	md = open_ok();
	read_file(spool, &after);
	ok(md != NULL && maildrop_count(md) == 3 && buf_eq(&before, &after),
	   "next open restores the old mailbox byte for byte");
	ok(access(jpath, F_OK) < 0, "journal removed after recovery");
	if (md != NULL)
		maildrop_close(md);
	buf_free(&big);
	buf_free(&before);
	buf_free(&after);
	tbox_free(&tb);
}

/* Journals that must not be replayed: damaged, or for another file. */
static void test_bad_journals(void)
{
	static const bool first[5] = { true, false, false, false, false };
	struct tbox tb = { 0 };
	struct buf before = { 0 }, after = { 0 };
	struct maildrop *md;
	char jpath[800], tmp[800];
	int rc = 0, k;

	build_crash_box(&tb);
	new_case();
	tbox_write(&tb);
	snprintf(jpath, sizeof(jpath), "%s/journal", state);
	write_file(jpath, "garbage, not a journal", 22, 0600);
	read_file(spool, &before);
	md = open_ok();
	ok(md != NULL && maildrop_count(md) == 5, "damaged journal: maildrop opens");
	if (md != NULL)
		maildrop_close(md);
	read_file(spool, &after);
	ok(buf_eq(&before, &after), "damaged journal: spool untouched");
	ok(access(jpath, F_OK) < 0, "damaged journal: moved aside");

	/* A journal left in PREPARED whose spool was then replaced (other
	 * inode): set aside, never replayed onto the new file. */
	for (k = 1; k < 100; k++) {
		new_case();
		tbox_write(&tb);
		md = open_ok();
		if (md != NULL)
			maildrop_close(md);
		rc = child_commit(first, 5, k);
		snprintf(jpath, sizeof(jpath), "%s/journal", state);
		if (rc != 42)
			break;
		if (access(jpath, F_OK) == 0) {
			struct buf cur = { 0 };

			read_file(spool, &cur);
			/* wait until compaction has started changing the spool */
			tbox_render(&tb, NULL, &before);
			if (!buf_eq(&cur, &before)) {
				buf_free(&cur);
				break;
			}
			buf_free(&cur);
		}
	}
	ok(rc == 42 && access(jpath, F_OK) == 0, "stale journal: made one mid-compaction");
	snprintf(tmp, sizeof(tmp), "%s.copy", spool);
	read_file(spool, &before);
	write_file(tmp, before.p, before.len, 0600);
	rename(tmp, spool);
	md = open_ok();
	if (md != NULL)
		maildrop_close(md);
	read_file(spool, &after);
	ok(buf_eq(&before, &after), "stale journal: the new file is not touched");
	ok(access(jpath, F_OK) < 0, "stale journal: moved aside");
	buf_free(&before);
	buf_free(&after);
	tbox_free(&tb);
}

/* A crash leaves a journal; then another program rewrites the spool in
 * place (an MUA adds a Status: header, or expunges a message) before
 * popper's next login.  Recovery must see the bytes are not the ones it
 * journaled or wrote, leave the spool exactly as the other program left
 * it, and set the journal aside. */
static void changed_after_crash(const char *name, const bool *del, const char *stepname,
				bool expunge)
{
	struct tbox tb = { 0 };
	struct buf cur = { 0 }, edited = { 0 }, after = { 0 };
	struct maildrop *md;
	char jpath[800];
	const char *nl;
	int rc;

	build_crash_box(&tb);
	new_case();
	tbox_write(&tb);
	md = open_ok();
	if (md != NULL)
		maildrop_close(md);
	rc = child_commit_at(del, (unsigned)tb.n, 0, stepname);
	snprintf(jpath, sizeof(jpath), "%s/journal", state);
	read_file(spool, &cur);
	nl = memchr(cur.p, '\n', cur.len);
	if (expunge) {
		/* drop everything after the first message's From_ line's body:
		 * what an MUA writing back fewer messages leaves */
		buf_add(&edited, cur.p, cur.len / 2);
	} else if (nl != NULL) {
		size_t first = (size_t)(nl - cur.p) + 1;

		buf_add(&edited, cur.p, first);
		buf_adds(&edited, "Status: RO\n");
		buf_add(&edited, cur.p + first, cur.len - first);
	}
	write_file(spool, edited.p, edited.len, 0600);
	md = open_ok();
	read_file(spool, &after);
	ok(rc == 42 && md != NULL && buf_eq(&after, &edited),
	   "%s: recovery leaves the other program's spool byte for byte", name);
	ok(access(jpath, F_OK) < 0 && state_files("journal.mismatch.") == 1,
	   "%s: the journal is set aside as journal.mismatch.*", name);
	if (md != NULL)
		maildrop_close(md);
	buf_free(&cur);
	buf_free(&edited);
	buf_free(&after);
	tbox_free(&tb);
}

static void test_changed_after_crash(void)
{
	static const bool first[5] = { true, false, false, false, false };
	static const bool midlast[5] = { false, true, false, true, true };

	changed_after_crash("PREPARED, Status: added", first, "move", false);
	changed_after_crash("PREPARED, message expunged", midlast, "move", true);
	changed_after_crash("PREPARED after the move, Status: added", first, "spool-fsync", false);
	changed_after_crash("COMPACTED, Status: added", midlast, "journal-compacted", false);
	changed_after_crash("COMPACTED, message expunged", first, "journal-compacted", true);
}

int main(void)
{
	fixture_start("test_mbox_update");
	test_commit();
	test_commit_refusals();
	test_crashes();
	test_disk_full();
	test_bad_journals();
	test_changed_after_crash();
	fixture_end();
	return tap_done();
}
