/*
 * test_tempdrop: temp-drop mode (server/maildrop/tempdrop.c).  The monitor's
 * lock/unlock protocol it relies on is tested in tests/unit/server/test_monitor.c.
 *
 * Every mailbox is built from messages whose bytes the test knows, so each
 * check compares the spool (and the temporary drop) byte for byte with what
 * it must be: the move into the temporary drop and the write-back, a
 * leftover temporary drop ahead of new mail, mail delivered during the
 * session exactly once behind the kept messages, keep-temp-drop, aborts.
 * Each phase of the marker is produced by stopping a child process at the
 * named step (tempdrop_hook) or written by hand, with mail delivered after
 * the "crash", and recovered in either mode.  A full disk is simulated with
 * RLIMIT_FSIZE (also timed by a hook to hit the spool's fallocate) and, as
 * root, made real on a small tmpfs.  The crash sweeps stop a child at every
 * step of the move-in and of the write-back (both hooks count) and check
 * the invariant: the old or the new message set, plus delivered mail
 * exactly once, UIDs kept, no marker or journal left.
 *
 * Debugging: TEST_TEMPDROP_ONLY=1 runs only the sweeps,
 * TEST_TEMPDROP_TRACE=1 prints every step a child passes.
 */
#include "config.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/safeopen.h"
#include "server/maildrop/maildrop.h"
#include "server/maildrop/mbox.h"
#include "server/maildrop/tempdrop.h"
#include "server/maildrop/uidstore.h"
#include "tests/unit/tap.h"
#include "tests/unit/testbuf.h"

/* ---- scaffolding ------------------------------------------------------------ */

static char root[512];
static char casedir[600], spool[700], lockp[700], state[700], tdir[700], tpath[800], mpath[800];
static const char *tname = ".alice.pop";
static unsigned casenum;
static bool keep_temp;          /* keep-temp-drop for the opens that follow */

/* A fresh directory for one case; the temporary drop lives in the state
 * directory, as by default. */
static void new_case(void)
{
	snprintf(casedir, sizeof(casedir), "%s/c%u", root, ++casenum);
	snprintf(spool, sizeof(spool), "%s/spool", casedir);
	snprintf(lockp, sizeof(lockp), "%s/spool.lock", casedir);
	snprintf(state, sizeof(state), "%s/state", casedir);
	snprintf(tdir, sizeof(tdir), "%s", state);
	snprintf(tpath, sizeof(tpath), "%s/%s", tdir, tname);
	snprintf(mpath, sizeof(mpath), "%s/%s", state, TEMPDROP_MARKER);
	if (mkdir(casedir, 0700) < 0 || mkdir(state, 0700) < 0)
		die("mkdir");
	keep_temp = false;
}

static void set_temp_dir(const char *dir)
{
	snprintf(tdir, sizeof(tdir), "%s", dir);
	snprintf(tpath, sizeof(tpath), "%s/%s", tdir, tname);
}

static void write_file(const char *path, const struct buf *b, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0 || safe_write_all(fd, b->p != NULL ? b->p : "", b->len) < 0)
		die(path);
	close(fd);
	chmod(path, mode);
}

static void append_file(const char *path, const struct buf *b)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);

	if (fd < 0 || safe_write_all(fd, b->p, b->len) < 0)
		die(path);
	close(fd);
}

/* Reads path into b; returns false (b empty) if it does not exist. */
static bool read_file(const char *path, struct buf *b)
{
	char tmp[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	buf_reset(b);
	if (fd < 0) {
		if (errno == ENOENT)
			return false;
		die(path);
	}
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		buf_add(b, tmp, (size_t)n);
	close(fd);
	return true;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static long long fsize(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static void settings(struct maildrop_settings *s, bool temp_mode)
{
	memset(s, 0, sizeof(*s));
	s->path = spool;
	s->lock_path = lockp;
	s->state_dir = state;
	s->lock_wait = 1;
	s->trust_x_uidl = true;
	s->require_owner = true;
	s->owner_uid = getuid();
	s->temp_drop_mode = temp_mode;
	s->temp_dir = tdir;
	s->temp_name = tname;
	s->keep_temp_drop = keep_temp;
}

static char last_reason[512];
static struct maildrop_stats last_stats;

static enum maildrop_status try_open(bool temp_mode, struct maildrop **md)
{
	struct maildrop_settings s;

	settings(&s, temp_mode);
	last_reason[0] = '\0';
	*md = NULL;
	return maildrop_open(&s, md, last_reason, sizeof(last_reason));
}

static struct maildrop *open_ok(bool temp_mode)
{
	struct maildrop *md = NULL;
	enum maildrop_status st = try_open(temp_mode, &md);

	if (st != MAILDROP_OK) {
		printf("# open (%s mode) failed (%d): %s\n", temp_mode ? "temp-drop" : "server",
		       (int)st, last_reason);
		return NULL;
	}
	return md;
}

static enum maildrop_status commit(struct maildrop *md)
{
	char reason[512] = "";
	enum maildrop_status st;

	memset(&last_stats, 0, sizeof(last_stats));
	st = maildrop_commit(md, &last_stats, reason, sizeof(reason));
	if (st != MAILDROP_OK)
		printf("# commit: %s\n", reason);
	return st;
}

/* Files in the state directory besides the UID state ("uids" and its
 * record "uids.started") and a kept empty temporary drop: markers,
 * journals, things set aside. */
static int state_junk(void)
{
	DIR *d = opendir(state);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    strcmp(e->d_name, "uids") == 0 || strcmp(e->d_name, "uids.started") == 0)
			continue;
		if (strcmp(e->d_name, tname) == 0 && keep_temp && fsize(tpath) == 0)
			continue;
		printf("# state directory holds %s\n", e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

/* Files in the state directory whose name starts with prefix. */
static int count_prefixed(const char *prefix)
{
	DIR *d = opendir(state);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

/* ---- messages ----------------------------------------------------------------- */

/* One message with framing: From_ line, header with X-Test-Id, a body of
 * about size bytes, the empty line. */
static void add_msg(struct buf *b, const char *id, size_t size)
{
	char line[200];
	size_t start = b->len, n = 0;

	snprintf(line, sizeof(line),
		 "From sender@example.org Sat Jan  3 01:05:%02u 1996\nSubject: message %s\n"
		 "X-Test-Id: %s\n\n", (unsigned)(strlen(id) % 60), id, id);
	buf_adds(b, line);
	while (b->len - start < size) {
		snprintf(line, sizeof(line), "line %zu of message %s, some text to fill it up.\n",
			 ++n, id);
		buf_adds(b, line);
	}
	buf_adds(b, "\n");
}

static void msgs(struct buf *b, const char *ids, size_t size)
{
	char id[32];
	const char *p = ids;

	while (*p != '\0') {
		size_t n = strcspn(p, " ");

		snprintf(id, sizeof(id), "%.*s", (int)n, p);
		if (n > 0)
			add_msg(b, id, size);
		p += n;
		while (*p == ' ')
			p++;
	}
}

static char **save_uids(struct maildrop *md)
{
	unsigned i, n = maildrop_count(md);
	char **u = calloc(n + 1, sizeof(*u));

	for (i = 0; i < n; i++)
		u[i] = strdup(maildrop_msg_uid(md, i));
	return u;
}

static void free_uids(char **u)
{
	unsigned i;

	for (i = 0; u != NULL && u[i] != NULL; i++)
		free(u[i]);
	free(u);
}

/* The UIDs of md's first messages are want[] (those with keep[] set). */
static bool uids_match(struct maildrop *md, char **want, const bool *keep)
{
	unsigned i, j = 0;

	for (i = 0; want[i] != NULL; i++) {
		if (keep != NULL && !keep[i])
			continue;
		if (j >= maildrop_count(md) || strcmp(maildrop_msg_uid(md, j), want[i]) != 0)
			return false;
		j++;
	}
	return true;
}

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

/* Server mode writes a leftover back before it reads the spool. */
static void test_leftover_server_mode(void)
{
	struct buf l = { 0 }, s = { 0 }, got = { 0 }, want = { 0 };
	struct maildrop *md;

	msgs(&s, "a b", 700);
	new_case();
	msgs(&l, "x y", 400);
	write_file(tpath, &l, 0600);
	write_file(spool, &s, 0600);
	md = open_ok(false);
	ok(md != NULL && maildrop_count(md) == 4, "server mode with a leftover: 4 messages");
	buf_addb(&want, &l);
	buf_addb(&want, &s);
	read_file(spool, &got);
	ok(buf_eq(&got, &want) && !exists(tpath) && !exists(mpath),
	   "server mode: leftover written back ahead of the spool's mail, temporary drop gone");
	if (md != NULL)
		maildrop_close(md);
	buf_free(&l);
	buf_free(&s);
	buf_free(&got);
	buf_free(&want);
}

/* ... also into a spool that no longer exists. */
static void test_leftover_server_mode_no_spool(void)
{
	struct buf l = { 0 }, got = { 0 };
	struct maildrop *md;

	msgs(&l, "x y", 400);
	new_case();
	write_file(tpath, &l, 0600);
	md = open_ok(false);
	read_file(spool, &got);
	ok(md != NULL && maildrop_count(md) == 2 && buf_eq(&got, &l) && !exists(tpath),
	   "server mode, no spool file: it is created for the leftover mail");
	if (md != NULL)
		maildrop_close(md);
	buf_free(&l);
	buf_free(&got);
}

/* A leftover that is not an mbox: nothing moves, in either mode. */
static void test_leftover_not_mbox(void)
{
	struct buf l = { 0 }, s = { 0 }, got = { 0 };
	struct maildrop *md;

	msgs(&s, "a b", 700);
	new_case();
	buf_adds(&l, "this is not a mailbox\n");
	write_file(tpath, &l, 0600);
	write_file(spool, &s, 0600);
	ok(try_open(true, &md) == MAILDROP_PERM, "leftover not an mbox: temp-drop login refused "
	   "[SYS/PERM] (%s)", last_reason);
	ok(try_open(false, &md) == MAILDROP_PERM, "leftover not an mbox: server-mode login refused too");
	read_file(spool, &got);
	ok(buf_eq(&got, &s), "leftover not an mbox: the spool untouched");
	read_file(tpath, &got);
	ok(buf_eq(&got, &l) && count_prefixed(TEMPDROP_MARKER) == 0,
	   "leftover not an mbox: the temporary drop untouched, no marker");
	buf_free(&l);
	buf_free(&s);
	buf_free(&got);
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

static void test_leftover(void)
{
	test_leftover_ahead();
	test_leftover_no_empty_line();
	test_leftover_no_newline();
	test_leftover_server_mode();
	test_leftover_server_mode_no_spool();
	test_leftover_not_mbox();
	test_spool_not_mbox();
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

/* ---- the temp directory and the file ------------------------------------------ */

static void test_temp_dir_elsewhere(const struct buf *orig)
{
	struct buf got = { 0 };
	struct maildrop *md = open_ok(true);

	ok(md != NULL && exists(tpath) && fsize(tpath) == (long long)orig->len,
	   "temp-dir elsewhere: the temporary drop is made there");
	if (md != NULL)
		commit(md);
	read_file(spool, &got);
	ok(buf_eq(&got, orig) && !exists(tpath), "temp-dir elsewhere: round trip");
	buf_free(&got);
}

static void test_temp_dir_writable(const char *other, const struct buf *orig)
{
	struct buf got = { 0 };
	struct maildrop *md;

	chmod(other, 0770);
	ok(try_open(true, &md) == MAILDROP_TEMP && strstr(last_reason, "writable") != NULL,
	   "group-writable temp-dir refused [SYS/TEMP] (%s)", last_reason);
	chmod(other, 0707);
	ok(try_open(true, &md) == MAILDROP_TEMP, "other-writable temp-dir refused");
	chmod(other, 0700);
	read_file(spool, &got);
	ok(buf_eq(&got, orig), "refused temp-dir: spool untouched");
	buf_free(&got);
}

static void test_temp_dir_link_or_missing(const char *other)
{
	char link_target[800];
	struct maildrop *md;

	snprintf(link_target, sizeof(link_target), "%s/tmplink", casedir);
	if (symlink(other, link_target) < 0)
		die("symlink");
	set_temp_dir(link_target);
	ok(try_open(true, &md) == MAILDROP_TEMP, "temp-dir that is a symbolic link refused (%s)",
	   last_reason);
	set_temp_dir(other);
	snprintf(link_target, sizeof(link_target), "%s/missing", casedir);
	set_temp_dir(link_target);
	ok(try_open(true, &md) == MAILDROP_TEMP, "missing temp-dir refused in temp-drop mode");
	md = open_ok(false);
	ok(md != NULL && maildrop_count(md) == 2, "missing temp-dir: server mode does not care");
	if (md != NULL)
		maildrop_close(md);
	set_temp_dir(other);
}

static void test_temp_dir_owner(const char *other)
{
	struct maildrop *md;

	if (geteuid() != 0) {
		tap_skip("needs root", "temp-dir of another uid refused");
		return;
	}
	if (chown(other, 4343, 4343) < 0)
		die("chown");
	ok(try_open(true, &md) == MAILDROP_TEMP && strstr(last_reason, "uid") != NULL,
	   "temp-dir of another uid refused (%s)", last_reason);
	if (chown(other, 0, 0) < 0)
		die("chown");
}

/* The file itself. */
static void test_temp_drop_file(const struct buf *orig)
{
	char link_target[800];
	struct buf got = { 0 };
	struct maildrop *md;

	snprintf(link_target, sizeof(link_target), "%s/elsewhere", casedir);
	write_file(link_target, orig, 0600);
	if (symlink(link_target, tpath) < 0)
		die("symlink");
	ok(try_open(true, &md) == MAILDROP_PERM, "temporary drop that is a symbolic link refused "
	   "[SYS/PERM] (%s)", last_reason);
	unlink(tpath);
	if (link(link_target, tpath) < 0)
		die("link");
	ok(try_open(true, &md) == MAILDROP_PERM, "temporary drop with two links refused");
	unlink(tpath);
	write_file(tpath, orig, 0644);
	ok(try_open(true, &md) == MAILDROP_PERM, "temporary drop readable by others refused");
	unlink(tpath);
	read_file(spool, &got);
	ok(buf_eq(&got, orig), "refused temporary drops: spool untouched");
	read_file(link_target, &got);
	ok(buf_eq(&got, orig), "refused temporary drops: the file behind them untouched");
	buf_free(&got);
}

/* Names that would collide with popper's own state files. */
static void test_temp_name_collisions(void)
{
	static const char *const bad[] = { "uids", "journal", "tempdrop.marker", "a/b", "..", "" };
	const char *saved = tname;
	struct maildrop_settings s;
	struct maildrop *md;
	size_t i;
	bool all = true;

	set_temp_dir(state);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tname = bad[i];
		settings(&s, true);
		if (maildrop_open(&s, &md, last_reason, sizeof(last_reason)) == MAILDROP_OK) {
			printf("# temp-name \"%s\" accepted\n", bad[i]);
			maildrop_close(md);
			all = false;
		}
	}
	tname = saved;
	set_temp_dir(state);
	ok(all, "temp-names that are popper's own state files, or not one name, refused");
}

/*
 * All in one case directory with the temporary drop in its own temp-dir:
 * each test starts from the spool and directory modes the one before left.
 */
static void test_files(void)
{
	struct buf orig = { 0 };
	char other[800];

	msgs(&orig, "a b", 300);

	new_case();
	write_file(spool, &orig, 0600);
	snprintf(other, sizeof(other), "%s/tmp", casedir);
	mkdir(other, 0700);
	set_temp_dir(other);
	test_temp_dir_elsewhere(&orig);
	test_temp_dir_writable(other, &orig);
	test_temp_dir_link_or_missing(other);
	test_temp_dir_owner(other);
	test_temp_drop_file(&orig);
	test_temp_name_collisions();
	buf_free(&orig);
}

/* ---- stopping at a step ---------------------------------------------------------- */

static const char *stop_name;   /* stop at this named step ... */
static int stop_count;          /* ... or at the n-th step of either hook */
static int step_count;

static void crash_hook(const char *step)
{
	step_count++;
	if (getenv("TEST_TEMPDROP_TRACE") != NULL)
		printf("# step %d: %s\n", step_count, step), fflush(stdout);
	if ((stop_name != NULL && strcmp(step, stop_name) == 0) ||
	    (stop_count > 0 && step_count == stop_count))
		_exit(42);
}

static void arm(const char *name, int count)
{
	stop_name = name;
	stop_count = count;
	step_count = 0;
	tempdrop_hook = crash_hook;
	mbox_update_hook = crash_hook;
}

/* What a child does before it is stopped. */
struct scenario {
	bool writeback;        /* false: login (move-in); true: QUIT (write-back) */
	const bool *del;       /* messages to delete before QUIT */
	const struct buf *during;   /* mail delivered during the session */
	rlim_t limit;          /* RLIMIT_FSIZE before the step (0 none) */
};

/* Runs a scenario in a child stopped at (name | count).  Returns 42 if it
 * stopped, 0 if it ran to the end, 3 open failed, 4 commit failed. */
static int child_run(const struct scenario *sc, const char *name, int count)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		struct maildrop *md = NULL;
		unsigned i;

		if (sc->limit > 0) {
			struct rlimit rl = { sc->limit, sc->limit };

			signal(SIGXFSZ, SIG_IGN);
			if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
				_exit(5);
		}
		if (!sc->writeback) {
			arm(name, count);
			/* A login that completes and then dies: a session
			 * killed during TRANSACTION. */
			_exit(try_open(true, &md) == MAILDROP_OK ? 0 : 3);
		}
		if (try_open(true, &md) != MAILDROP_OK)
			_exit(3);
		if (sc->during != NULL && sc->during->len > 0)
			append_file(spool, sc->during);
		for (i = 0; sc->del != NULL && i < maildrop_count(md); i++)
			if (sc->del[i])
				maildrop_msg_delete(md, i);
		arm(name, count);
		_exit(commit(md) == MAILDROP_OK ? 0 : 4);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A recovery in a child, stopped at step j (the nested crash). */
static int child_recover(bool temp_mode, int j)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		struct maildrop *md = NULL;

		arm(NULL, j);
		if (try_open(temp_mode, &md) != MAILDROP_OK)
			_exit(3);
		maildrop_close(md);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The phase written in the marker (independent reading of the layout:
 * magic "POPTDMK1", version and phase as little-endian 32-bit words). */
static int marker_phase(void)
{
	unsigned char b[512];
	uint32_t ph;
	int fd = open(mpath, O_RDONLY);

	if (fd < 0)
		return 0;
	if (safe_pread_all(fd, b, sizeof(b), 0) < 0 || memcmp(b, "POPTDMK1", 8) != 0) {
		close(fd);
		return -1;
	}
	close(fd);
	memcpy(&ph, b + 12, 4);
	return (int)le32toh(ph);
}

/* After a crash: recovers by opening in temp_mode (a temp-drop open, then
 * an abort, writes everything back), and checks the spool is want1 or
 * want2 byte for byte with UIDs as before (uids / keep1 / keep2: which of
 * the original messages each outcome holds).  Returns 1 or 2, 0 if
 * neither. */
static int recover_check(bool temp_mode, const struct buf *want1, const struct buf *want2,
			 char **uids, const bool *keep1, const bool *keep2)
{
	struct buf got = { 0 };
	struct maildrop *md;
	int outcome = 0;
	bool u1 = false, u2 = false;

	md = open_ok(temp_mode);
	if (md == NULL)
		return 0;
	if (uids != NULL) {
		u1 = uids_match(md, uids, keep1);
		u2 = keep2 != NULL && uids_match(md, uids, keep2);
	}
	maildrop_close(md);
	read_file(spool, &got);
	if (buf_eq(&got, want1) && (uids == NULL || u1))
		outcome = 1;
	else if (want2 != NULL && buf_eq(&got, want2) && (uids == NULL || u2))
		outcome = 2;
	if (outcome == 0)
		printf("# spool after recovery (%zu octets) is neither expected mailbox "
		       "(%zu / %zu octets), or the UIDs changed (%d / %d)\n", got.len, want1->len,
		       want2 != NULL ? want2->len : 0, u1, u2);
	if (state_junk() != 0 || exists(tpath) || exists(lockp)) {
		printf("# left behind: marker, journal, temporary drop or lock\n");
		outcome = 0;
	}
	buf_free(&got);
	return outcome;
}

/* ---- recovery of each phase ------------------------------------------------------ */

struct phase_case {
	const char *step;        /* where the child stops */
	bool writeback;
	int phase;               /* the marker it must leave (0: none) */
	size_t late_size;        /* mail delivered after the crash (0: none) */
	size_t msg_size;         /* size of the original messages */
	const char *what;
};

static void run_phase_case(const struct phase_case *pc, bool temp_recovery)
{
	static const bool del[3] = { false, true, false };
	static const bool keep_new[3] = { true, false, true };
	struct buf orig = { 0 }, during = { 0 }, late = { 0 }, old_want = { 0 }, new_want = { 0 };
	struct scenario sc;
	struct maildrop *md;
	char **uids = NULL;
	int rc, phase, outcome;

	new_case();
	msgs(&orig, "a b c", pc->msg_size);
	write_file(spool, &orig, 0600);
	md = open_ok(false);
	if (md != NULL) {
		uids = save_uids(md);
		maildrop_close(md);
	}
	if (pc->writeback)
		add_msg(&during, "during", 400);
	if (pc->late_size > 0)
		add_msg(&late, "late", pc->late_size);
	memset(&sc, 0, sizeof(sc));
	sc.writeback = pc->writeback;
	sc.del = del;
	sc.during = &during;
	rc = child_run(&sc, pc->step, 0);
	phase = marker_phase();
	if (late.len > 0)
		append_file(spool, &late);
	/* Old: everything; new: b deleted; both with the mail delivered
	 * during the session and after the crash. */
	buf_addb(&old_want, &orig);
	buf_addb(&old_want, &during);
	buf_addb(&old_want, &late);
	msgs(&new_want, "a c", pc->msg_size);
	buf_addb(&new_want, &during);
	buf_addb(&new_want, &late);
	outcome = rc == 42 ? recover_check(temp_recovery, &old_want, pc->writeback ? &new_want : NULL,
					   uids, NULL, keep_new) : 0;
	ok(rc == 42 && phase == pc->phase && outcome != 0,
	   "%s (marker phase %d), %s, recovered in %s mode: %s mailbox%s", pc->what, phase,
	   pc->late_size > 0 ? "mail after the crash" : "no mail after",
	   temp_recovery ? "temp-drop" : "server", outcome == 1 ? "old" : outcome == 2 ? "new" : "NO",
	   rc == 42 ? "" : " (the child did not stop there)");
	free_uids(uids);
	buf_free(&orig);
	buf_free(&during);
	buf_free(&late);
	buf_free(&old_want);
	buf_free(&new_want);
}

static void test_phases(void)
{
	static const struct phase_case cases[] = {
		{ "movein-marker", false, 1, 500, 300, "COPYING, nothing copied" },
		{ "movein-copy", false, 1, 500, 300, "COPYING, copied, not synced" },
		{ "movein-copy", false, 1, 500, 400000, "COPYING, a 1 MB block of 1.2 MB copied" },
		{ "movein-fsync", false, 1, 0, 300, "COPYING, copy synced" },
		{ "movein-copied", false, 2, 500, 300, "COPIED, spool still holds the copied mail" },
		{ "movein-copied", false, 2, 0, 300, "COPIED, spool still holds it, no new mail" },
		{ "movein-cut", false, 2, 500, 300, "COPIED, copied mail already removed from the spool" },
		{ "movein-cut", false, 2, 0, 300, "COPIED, removed, spool empty" },
		{ "movein-done", false, 0, 500, 300, "move complete, session killed" },
		{ "writeback-marker", true, 3, 500, 300, "MERGE, nothing appended" },
		{ "writeback-merge", true, 3, 500, 300, "MERGE, new mail appended to the temporary drop" },
		{ "writeback-merged", true, 3, 500, 300, "MERGE, synced" },
		{ "writeback-extending", true, 4, 100, 300, "EXTENDING, not extended, little new mail" },
		{ "writeback-extending", true, 4, 5000, 300, "EXTENDING, not extended, new mail beyond T" },
		{ "writeback-extending", true, 4, 0, 300, "EXTENDING, not extended, no new mail" },
		{ "writeback-extended", true, 4, 500, 300, "EXTENDING, extended" },
		{ "writeback-extended", true, 4, 0, 300, "EXTENDING, extended, no new mail" },
		{ "writeback-marked", true, 5, 500, 300, "EXTENDED, nothing overwritten" },
		{ "writeback-copy", true, 5, 500, 300, "EXTENDED, overwritten, not synced" },
		{ "writeback-copy", true, 5, 500, 400000, "EXTENDED, 1 MB of 1.2 MB overwritten" },
		{ "writeback-fsync", true, 5, 500, 300, "EXTENDED, overwritten and synced" },
		{ "writeback-emptied", true, 5, 500, 300, "EXTENDED, temporary drop already emptied" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_phase_case(&cases[i], false);
		run_phase_case(&cases[i], true);
	}
}

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

/* COPYING: the temporary drop is cut back to T0. */
static void test_marker_copying(const struct buf *l, const struct buf *s, const struct buf *junk)
{
	struct buf got = { 0 }, want = { 0 };
	struct maildrop *md;
	struct stat st;

	new_case();
	write_file(spool, s, 0600);
	buf_addb(&want, l);
	buf_addb(&want, junk);
	write_file(tpath, &want, 0600);
	stat(spool, &st);
	write_marker(1, (uint64_t)st.st_dev, (uint64_t)st.st_ino, l->len, 0, s->len, 0, true);
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
	struct stat st;

	new_case();
	write_file(spool, s, 0600);
	buf_addb(&want, l);
	buf_addb(&want, junk);
	write_file(tpath, &want, 0600);
	stat(spool, &st);
	write_marker(1, (uint64_t)st.st_dev, (uint64_t)st.st_ino, l->len, 0, s->len, 0, false);
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

/* ---- full disk ----------------------------------------------------------------- */

static rlim_t hook_limit;

static void limit_hook(const char *step)
{
	if (strcmp(step, "writeback-merged") == 0) {
		struct rlimit rl = { hook_limit, hook_limit };

		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			_exit(5);
	}
}

static int child_commit_hooked(const bool *del, const struct buf *during)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		struct maildrop *md = NULL;
		unsigned i;

		if (try_open(true, &md) != MAILDROP_OK)
			_exit(3);
		append_file(spool, during);
		for (i = 0; i < maildrop_count(md); i++)
			if (del[i])
				maildrop_msg_delete(md, i);
		tempdrop_hook = limit_hook;
		if (commit(md) == MAILDROP_OK)
			_exit(0);
		_exit(last_stats.left_in_temp_drop ? 6 : 4);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Returns 0 if mounted a tmpfs of size_k KiB at dir, else -1. */
static int small_fs(const char *dir, unsigned size_k)
{
	char opts[64];

	if (geteuid() != 0)
		return -1;
	snprintf(opts, sizeof(opts), "size=%uk,mode=0700", size_k);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -1;
	return mount("tmpfs", dir, "tmpfs", 0, opts);
}

/* Fills the file system holding path until it is full. */
static void fill_fs(const char *path)
{
	char chunk[4096];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	memset(chunk, 'f', sizeof(chunk));
	if (fd < 0)
		die(path);
	while (write(fd, chunk, sizeof(chunk)) == (ssize_t)sizeof(chunk))
		;
	close(fd);
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

/*
 * A temp-drop session in a child that deletes message 2 and then commits
 * under a file size limit.  The limit comes after the login (which must
 * succeed) and before QUIT.  Returns as child_commit_hooked does.
 */
static int child_commit_limited(const struct buf *during, rlim_t limit)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		struct maildrop *md = NULL;
		struct rlimit rl = { limit, limit };

		if (try_open(true, &md) != MAILDROP_OK)
			_exit(3);
		append_file(spool, during);
		maildrop_msg_delete(md, 1);
		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			_exit(5);
		if (commit(md) == MAILDROP_OK)
			_exit(0);
		_exit(last_stats.left_in_temp_drop ? 6 : 4);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Write-back: the temporary drop cannot take the new mail. */
static void test_disk_full_writeback_temp(const struct buf *orig, const struct buf *during)
{
	struct buf got = { 0 }, want = { 0 };
	struct maildrop *md;
	int rc;

	new_case();
	write_file(spool, orig, 0600);
	rc = child_commit_limited(during, 50000);
	read_file(spool, &got);
	ok(rc == 6, "write-back cannot append the new mail: failure, deletions made, mail left in "
	   "the temporary drop (%d)", rc);
	ok(buf_eq(&got, during) && !exists(mpath), "the spool holds just the new mail, no marker");
	msgs(&want, "a c", 20000);
	read_file(tpath, &got);
	ok(buf_eq(&got, &want), "the temporary drop holds exactly the kept messages");
	md = open_ok(false);
	buf_addb(&want, during);
	read_file(spool, &got);
	ok(md != NULL && maildrop_count(md) == 3 && buf_eq(&got, &want) && !exists(tpath),
	   "next login (server mode) merges them: kept + new, once each");
	if (md != NULL)
		maildrop_close(md);
	buf_free(&got);
	buf_free(&want);
}

/* Write-back: the spool cannot be extended (fallocate past the limit, set
 * once the temporary drop is complete). */
static void test_disk_full_writeback_spool(const struct buf *orig, const struct buf *during)
{
	static const bool del_b[3] = { false, true, false };
	struct buf got = { 0 }, want = { 0 };
	struct maildrop *md;
	int rc;

	new_case();
	write_file(spool, orig, 0600);
	hook_limit = (rlim_t)during->len + 10;
	rc = child_commit_hooked(del_b, during);
	read_file(spool, &got);
	ok(rc == 6 && buf_eq(&got, during), "fallocate fails: mail left in the temporary drop, "
	   "spool exactly the new mail (%d)", rc);
	msgs(&want, "a c", 20000);
	read_file(tpath, &got);
	ok(buf_eq(&got, &want) && !exists(mpath), "fallocate fails: temporary drop cut back to "
	   "the kept messages, no marker");
	md = open_ok(true);
	ok(md != NULL && maildrop_count(md) == 3, "next login (temp-drop mode): kept + new");
	if (md != NULL)
		maildrop_close(md);
	buf_addb(&want, during);
	read_file(spool, &got);
	ok(buf_eq(&got, &want), "and after it everything is back in the spool");
	buf_free(&got);
	buf_free(&want);
}

/* Leaves the file system of filler full but for room for the lock. */
static void fill_fs_but_lock(const char *filler)
{
	int fd;

	fill_fs(filler);
	fd = open(filler, O_WRONLY);
	if (fd < 0 || ftruncate(fd, fsize(filler) - 16384) < 0)
		die("filler");
	close(fd);
}

/* On the small tmpfs at mnt, already holding the spool. */
static void full_disk_at_writeback(const char *mnt, const struct buf *orig,
				   const struct buf *during)
{
	char filler[800];
	struct buf got = { 0 }, want = { 0 };
	struct maildrop *md;

	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	md = open_ok(true);
	append_file(spool, during);
	fill_fs_but_lock(filler);
	ok(md != NULL && commit(md) != MAILDROP_OK && last_stats.left_in_temp_drop,
	   "full disk at the write-back: failure, mail left in the temporary drop");
	read_file(spool, &got);
	ok(buf_eq(&got, during) && !exists(mpath) && !exists(lockp),
	   "full disk: the spool holds exactly the new mail, no marker, no lock");
	unlink(filler);
	md = open_ok(false);
	buf_addb(&want, orig);
	buf_addb(&want, during);
	read_file(spool, &got);
	ok(md != NULL && buf_eq(&got, &want), "room again: the next login writes it all back");
	if (md != NULL)
		maildrop_close(md);
	buf_free(&got);
	buf_free(&want);
}

/* A real full disk: the spool on a small tmpfs. */
static void test_disk_full_tmpfs_spool(const struct buf *orig, const struct buf *during)
{
	char mnt[620];

	new_case();
	snprintf(mnt, sizeof(mnt), "%s/smallfs", casedir);
	if (small_fs(mnt, 256) < 0) {
		tap_skip(geteuid() == 0 ? "cannot mount a tmpfs here" : "needs root to mount a tmpfs",
			 "a real full disk at the spool's fallocate");
		return;
	}
	snprintf(spool, sizeof(spool), "%s/spool", mnt);
	snprintf(lockp, sizeof(lockp), "%s/spool.lock", mnt);
	write_file(spool, orig, 0600);
	full_disk_at_writeback(mnt, orig, during);
	if (umount2(mnt, MNT_DETACH) < 0)
		printf("# umount %s: %s\n", mnt, strerror(errno));
}

/* A real full disk where the temporary drop lives. */
static void test_disk_full_tmpfs_temp(const struct buf *orig)
{
	char mnt[620];
	struct buf got = { 0 };
	struct maildrop *md;

	new_case();
	snprintf(mnt, sizeof(mnt), "%s/smalltmp", casedir);
	if (small_fs(mnt, 32) < 0) {
		tap_skip(geteuid() == 0 ? "cannot mount a tmpfs here" : "needs root to mount a tmpfs",
			 "a real full disk at the move-in");
		return;
	}
	set_temp_dir(mnt);
	write_file(spool, orig, 0600);
	ok(try_open(true, &md) == MAILDROP_TEMP, "full temp-dir: login fails [SYS/TEMP]");
	read_file(spool, &got);
	ok(buf_eq(&got, orig) && fsize(tpath) == 0 && !exists(mpath),
	   "full temp-dir: spool untouched, temporary drop empty, no marker");
	if (umount2(mnt, MNT_DETACH) < 0)
		printf("# umount %s: %s\n", mnt, strerror(errno));
	buf_free(&got);
}

static void test_disk_full(void)
{
	struct buf orig = { 0 }, during = { 0 };

	msgs(&orig, "a b c", 20000);
	add_msg(&during, "during", 30000);
	test_disk_full_move_in(&orig);
	test_disk_full_move_in_leftover(&orig);
	test_disk_full_writeback_temp(&orig, &during);
	test_disk_full_writeback_spool(&orig, &during);
	test_disk_full_tmpfs_spool(&orig, &during);
	test_disk_full_tmpfs_temp(&orig);
	buf_free(&orig);
	buf_free(&during);
}

/* ---- the crash sweeps ------------------------------------------------------------ */

/* One sweep: the mailboxes it sets up, the two acceptable outcomes, the tally. */
struct sweep {
	const char *name;
	bool writeback, leftover, nested;
	struct buf orig, l, during, late, oldw, neww;
	struct scenario sc;
	unsigned runs, olds, news, bad;
};

static void sweep_init(struct sweep *sw, const char *name, bool writeback, bool leftover,
		       bool late_mail, bool nested)
{
	static const bool del[5] = { true, false, true, false, true };

	memset(sw, 0, sizeof(*sw));
	sw->name = name;
	sw->writeback = writeback;
	sw->leftover = leftover;
	sw->nested = nested;
	msgs(&sw->orig, "m1 m2 m3 m4 m5", 700);
	if (leftover)
		msgs(&sw->l, "x1 x2", 500);
	if (writeback)
		add_msg(&sw->during, "during", 600);
	if (late_mail)
		add_msg(&sw->late, "late", 800);
	buf_addb(&sw->oldw, &sw->l);
	buf_addb(&sw->oldw, &sw->orig);
	buf_addb(&sw->oldw, &sw->during);
	buf_addb(&sw->oldw, &sw->late);
	if (writeback) {
		msgs(&sw->neww, "m2 m4", 700);
		buf_addb(&sw->neww, &sw->during);
		buf_addb(&sw->neww, &sw->late);
	}
	sw->sc.writeback = writeback;
	sw->sc.del = del;
	sw->sc.during = &sw->during;
}

static void sweep_free(struct sweep *sw)
{
	buf_free(&sw->orig);
	buf_free(&sw->l);
	buf_free(&sw->during);
	buf_free(&sw->late);
	buf_free(&sw->oldw);
	buf_free(&sw->neww);
}

/* A fresh case; returns the UIDs as the user has seen them (NULL: the
 * drop would not open). */
static char **sweep_setup(const struct sweep *sw)
{
	struct maildrop *md;
	char **uids;

	new_case();
	write_file(spool, &sw->orig, 0600);
	if (sw->leftover)
		write_file(tpath, &sw->l, 0600);
	md = open_ok(false);
	if (md == NULL)
		return NULL;
	uids = save_uids(md);
	maildrop_close(md);
	if (sw->leftover) {
		/* Server mode wrote the leftover back: set it up again. */
		write_file(tpath, &sw->l, 0600);
		write_file(spool, &sw->orig, 0600);
	}
	return uids;
}

/* The nested crash: stops the recovery at every step j until one completes. */
static void sweep_nested(struct sweep *sw, int k, bool temp_mode)
{
	int j;

	for (j = 1; j < 100; j++) {
		int r2 = child_recover(temp_mode, j);

		if (r2 == 0)
			break;
		if (r2 != 42) {
			printf("# %s: step %d/%d: recovery child failed (%d)\n", sw->name, k, j, r2);
			sw->bad++;
			break;
		}
	}
}

/* Counts outcome o (as recover_check returns it) of a child that gave rc. */
static void sweep_tally(struct sweep *sw, int k, int rc, int o)
{
	sw->runs++;
	if (o == 1)
		sw->olds++;
	else if (o == 2)
		sw->news++;
	else {
		printf("# %s: stopped at step %d: neither old nor new\n", sw->name, k);
		sw->bad++;
	}
	if (sw->writeback && rc == 0 && o != 2) {
		printf("# %s: a completed QUIT did not give the new mailbox\n", sw->name);
		sw->bad++;
	}
}

/* Stop point k; returns false when the sweep is over (the child ran to
 * the end, or something failed). */
static bool sweep_step(struct sweep *sw, int k)
{
	static const bool keep_new_wb[5] = { false, true, false, true, false };
	bool temp_rec = (k % 2) == 0;
	char **uids;
	int rc, o;

	uids = sweep_setup(sw);
	if (uids == NULL) {
		sw->bad++;
		return false;
	}
	rc = child_run(&sw->sc, NULL, k);
	if (rc != 42 && rc != 0) {
		printf("# %s: step %d: child failed (%d)\n", sw->name, k, rc);
		sw->bad++;
		free_uids(uids);
		return false;
	}
	if (sw->late.len > 0)
		append_file(spool, &sw->late);
	if (sw->nested && rc == 42)
		sweep_nested(sw, k, !temp_rec);
	o = recover_check(temp_rec, &sw->oldw, sw->writeback ? &sw->neww : NULL, uids,
			  NULL, sw->writeback ? keep_new_wb : NULL);
	sweep_tally(sw, k, rc, o);
	free_uids(uids);
	return rc != 0;
}

/* Stops the move-in (with or without a leftover) or the write-back at
 * every step k of either hook, with or without mail after the crash, the
 * recovery in server or temp-drop mode, optionally itself stopped at every
 * step j; each outcome must be the old or the new mailbox exactly. */
static void crash_sweep(const char *name, bool writeback, bool leftover, bool late_mail, bool nested)
{
	struct sweep sw;
	int k;

	sweep_init(&sw, name, writeback, leftover, late_mail, nested);
	for (k = 1; k < 300; k++)
		if (!sweep_step(&sw, k))
			break;
	ok(sw.bad == 0 && sw.runs > 3 &&
	   (writeback ? sw.olds > 0 && sw.news > 0 : sw.olds == sw.runs),
	   "%s: %u stop points, each the old (%u) or the new (%u) mailbox, UIDs kept, nothing left over",
	   name, sw.runs, sw.olds, sw.news);
	sweep_free(&sw);
}

static void test_crashes(void)
{
	crash_sweep("crash in move-in", false, false, false, false);
	crash_sweep("crash in move-in, mail after the crash", false, false, true, false);
	crash_sweep("crash in move-in with a leftover, mail after the crash", false, true, true, false);
	crash_sweep("crash in write-back", true, false, false, false);
	crash_sweep("crash in write-back, mail after the crash", true, false, true, false);
	crash_sweep("crash in move-in and in its recovery, mail after", false, true, true, true);
	crash_sweep("crash in write-back and in its recovery, mail after", true, false, true, true);
}

static void cleanup(void)
{
	char cmd[700];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", root);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	signal(SIGPIPE, SIG_IGN);
	umask(077);
	snprintf(root, sizeof(root), "%s/test_tempdrop.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(root) == NULL)
		die("mkdtemp");
	if (getenv("TEST_TEMPDROP_ONLY") != NULL) {
		test_crashes();
		cleanup();
		return tap_done();
	}
	test_roundtrip();
	test_leftover();
	test_delivery();
	test_keep();
	test_second_session();
	test_files();
	test_phases();
	test_markers_by_hand();
	test_disk_full();
	test_crashes();
	cleanup();
	return tap_done();
}
