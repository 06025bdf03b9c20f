/*
 * test_userdb_write: auth/userdb/userdb_write.c, the copy-sync-rename
 * writer, against real GDBM files: UPDATE and REPLACE copies in the lock
 * directory beside the database, commit and its owner, a writer killed
 * half-way (the database stays whole, the next writer cleans up), two
 * writers in turn, a writer that keeps the lock (stopped, or asleep) and
 * the takeover that fences it off, what a takeover killed half-way leaves,
 * and damaged or missing files.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <signal.h>
#include <sys/wait.h>

#include "lib/log.h"
#include "auth/userdb/userdb.h"
#include "auth/userdb/userdb_write.h"
#include "tests/unit/auth/userdb/userdb_fixture.h"
#include "tests/unit/tap.h"

#ifdef HAVE_GDBM

/* REPLACE of a database that does not exist yet, and its commit. */
static void test_replace_new(void)
{
	char err[512];
	const char *p = tpath("upd.db"), *stale = tpath(".upd.db.lock/new");
	struct userdb_entry e;
	struct userdb *db;
	struct stat st1;

	db = userdb_write_open(p, USERDB_UPDATE, NULL, err, sizeof(err));
	ok(db == NULL && errno == ENOENT, "UPDATE of a missing database: ENOENT (%s)", err);
	db = userdb_write_open(p, USERDB_REPLACE, NULL, err, sizeof(err));
	ok(db != NULL, "REPLACE of a missing database opens (%s)", db ? "" : err);
	if (db == NULL)
		return;
	ok(!exists(p) && exists(stale),
	   "  the new copy is in the lock directory beside it, the database not there yet");
	userdb_set_secret(db, "alice", "pw-alice", 8);
	is_int(userdb_commit(db, (uid_t)-1, (gid_t)-1), 0, "  commit");
	ok(!exists(stale) && exists(p), "  renamed into place");
	is_int(userdb_commit(db, (uid_t)-1, (gid_t)-1), -1, "  a second commit is refused");
	is_int(userdb_set_secret(db, "x", "y", 1), USERDB_ERROR, "  and so are changes after it");
	userdb_close(db);
	ok(stat(p, &st1) == 0 && (st1.st_mode & 07777) == 0600, "the database has mode 0600");
	ok(get_in(p, "alice", &e) == USERDB_OK && strcmp(e.secret, "pw-alice") == 0,
	   "the committed entry is there");
}

/* An UPDATE closed without commit changes nothing and leaves nothing. */
static void test_uncommitted(void)
{
	char err[512];
	const char *p = tpath("upd.db"), *stale = tpath(".upd.db.lock/new");
	struct userdb_entry e;
	struct userdb *db, *rd;

	db = userdb_write_open(p, USERDB_UPDATE, NULL, err, sizeof(err));
	ok(db != NULL, "UPDATE opens (%s)", db ? "" : err);
	if (db == NULL)
		return;
	ok(userdb_get_entry(db, "alice", &e) == USERDB_OK, "  the copy holds the old entries");
	userdb_set_secret(db, "bob", "pw-bob", 6);
	userdb_delete(db, "alice");
	rd = userdb_open(p, USERDB_READ, err, sizeof(err));
	ok(rd != NULL && userdb_get_entry(rd, "bob", &e) == USERDB_NOTFOUND &&
	   userdb_get_entry(rd, "alice", &e) == USERDB_OK,
	   "  a reader meanwhile sees the old database (%s)", rd ? "" : err);
	userdb_close(rd);
	userdb_close(db);
	ok(get_in(p, "bob", &e) == USERDB_NOTFOUND && get_in(p, "alice", &e) == USERDB_OK,
	   "closed without commit: the database is unchanged");
	ok(!exists(stale), "  and the copy is gone");
	db = userdb_open(p, USERDB_READ, err, sizeof(err));
	if (db != NULL)
		is_int(userdb_commit(db, (uid_t)-1, (gid_t)-1), -1,
		       "commit of a READ handle: refused");
	userdb_close(db);
}

/* An UPDATE committed: a new file in place of the old one. */
static void test_committed(void)
{
	char err[512];
	const char *p = tpath("upd.db");
	struct userdb_entry e;
	struct userdb *db;
	struct stat st1, st2;

	stat(p, &st1);
	db = userdb_write_open(p, USERDB_UPDATE, NULL, err, sizeof(err));
	if (db != NULL) {
		userdb_set_secret(db, "bob", "pw-bob", 6);
		is_int(userdb_commit(db, (uid_t)-1, (gid_t)-1), 0, "UPDATE commit");
		userdb_close(db);
	}
	ok(stat(p, &st2) == 0 && st2.st_ino != st1.st_ino, "  the database is a new file");
	ok(get_in(p, "bob", &e) == USERDB_OK && get_in(p, "alice", &e) == USERDB_OK,
	   "  with the old entries and the new one");
}

static void test_killed_writer(void)
{
	char err[512];
	const char *p = tpath("upd.db"), *stale = tpath(".upd.db.lock/new");
	struct userdb_entry e;
	struct userdb *db;
	pid_t pid;
	int status;

	/* A writer killed before its rename: the database is whole, and the
	 * copy it left is cleaned up by the next writer. */
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct userdb *w = userdb_write_open(p, USERDB_UPDATE, NULL, err, sizeof(err));

		if (w != NULL) {
			userdb_set_secret(w, "carl", "pw-carl", 7);
			userdb_delete(w, "alice");
		}
		kill(getpid(), SIGKILL);
		_exit(1);
	}
	waitpid(pid, &status, 0);
	ok(WIFSIGNALED(status), "a writer killed half-way");
	ok(get_in(p, "alice", &e) == USERDB_OK && get_in(p, "carl", &e) == USERDB_NOTFOUND,
	   "  left the database as it was");
	ok(exists(stale), "  (and its copy)");
	db = userdb_write_open(p, USERDB_UPDATE, NULL, err, sizeof(err));
	ok(db != NULL, "the next writer starts anyway (%s)", db ? "" : err);
	if (db != NULL) {
		userdb_set_secret(db, "dave", "pw-dave", 7);
		is_int(userdb_commit(db, (uid_t)-1, (gid_t)-1), 0, "  and commits");
		userdb_close(db);
	}
	ok(!exists(stale) && get_in(p, "dave", &e) == USERDB_OK && get_in(p, "carl", &e) ==
	   USERDB_NOTFOUND, "  without the dead writer's change, and its copy is gone");
}

static void test_two_writers(void)
{
	char err[512];
	const char *p = tpath("upd.db");
	struct userdb_entry e;
	struct userdb *db;
	pid_t pid;
	int status;

	/* Two writers: the second waits for the first; no change is lost. */
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct userdb *w = userdb_write_open(p, USERDB_UPDATE, NULL, err, sizeof(err));

		if (w == NULL)
			_exit(2);
		userdb_set_secret(w, "first", "pw-first", 8);
		usleep(400000);
		_exit(userdb_commit(w, (uid_t)-1, (gid_t)-1) == 0 ? 0 : 3);
	}
	usleep(100000);
	db = userdb_write_open(p, USERDB_UPDATE, NULL, err, sizeof(err));
	if (db != NULL) {
		userdb_set_secret(db, "second", "pw-second", 9);
		userdb_commit(db, (uid_t)-1, (gid_t)-1);
		userdb_close(db);
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "concurrent writers: the first commits");
	ok(get_in(p, "first", &e) == USERDB_OK && get_in(p, "second", &e) == USERDB_OK,
	   "  and the second, who waited, kept the first one's change");
}

static void test_damaged_or_missing(void)
{
	char err[512];
	struct userdb_entry e;
	struct userdb *db;

	/* REPLACE over a file that is not a database at all. */
	write_file(tpath("junk.db"), "this is not gdbm", 16, 0600);
	db = userdb_write_open(tpath("junk.db"), USERDB_UPDATE, NULL, err, sizeof(err));
	ok(db == NULL && contains(err, "junk.db"), "UPDATE of a damaged file: refused (%s)", err);
	ok(!exists(tpath(".junk.db.lock/new")), "  and no copy is left");
	db = userdb_write_open(tpath("junk.db"), USERDB_REPLACE, NULL, err, sizeof(err));
	ok(db != NULL && userdb_commit(db, (uid_t)-1, (gid_t)-1) == 0,
	   "REPLACE over it: a fresh empty database");
	userdb_close(db);
	ok(get_in(tpath("junk.db"), "x", &e) == USERDB_NOTFOUND, "  which opens and is empty");

	db = userdb_write_open(tpath("nodir/x.db"), USERDB_REPLACE, NULL, err, sizeof(err));
	ok(db == NULL && contains(err, "nodir"), "REPLACE in a missing directory: error (%s)", err);
}

/* The owner a commit gives the new file (root only). */
static void test_commit_owner(void)
{
	char err[512];
	const char *p = tpath("upd.db");
	struct userdb *db;
	struct stat st1;

	if (geteuid() == 0) {
		db = userdb_write_open(p, USERDB_REPLACE, NULL, err, sizeof(err));
		if (db != NULL) {
			ok(userdb_commit(db, 4321, 4322) == 0 && stat(p, &st1) == 0 &&
			   st1.st_uid == 4321 && st1.st_gid == 4322,
			   "REPLACE commit as root gives the owner asked for");
			userdb_close(db);
		}
		struct userdb_rules r = { .owner_set = true, .owner_uid = 4321 };

		db = userdb_write_open(p, USERDB_UPDATE, NULL, err, sizeof(err));
		ok(db == NULL && errno == EPERM && contains(err, "wrong owner"),
		   "an UPDATE of a file of another owner is refused (%s)", err);
		userdb_close(db);
		db = userdb_write_open(p, USERDB_UPDATE, &r, err, sizeof(err));
		if (db != NULL) {
			userdb_set_secret(db, "eve", "pw-eve", 6);
			ok(userdb_commit(db, (uid_t)-1, (gid_t)-1) == 0 && stat(p, &st1) == 0 &&
			   st1.st_uid == 4321 && st1.st_gid == 4322,
			   "UPDATE commit keeps the old file's owner");
			userdb_close(db);
		}
	} else {
		tap_skip("needs root to chown", "owner of a committed copy");
	}
}

/* A child that takes the writers' lock on p with an UPDATE, stores user's
 * secret in its copy, tells the parent through *ready (a pipe) and then
 * stops itself (stop) or sleeps until the parent writes to *go.  Resumed,
 * it commits: exit 0 when the commit is refused because the lock was taken
 * over (what must happen), 3 when it went through, 2 on other trouble. */
static pid_t holder_child(const char *p, const char *user, bool stop, int ready[2], int go[2])
{
	pid_t pid;

	if (pipe(ready) != 0 || pipe(go) != 0)
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		char err[512], c = 'x';
		struct userdb *w;
		int rc;

		close(ready[0]);
		close(go[1]);
		w = userdb_write_open(p, USERDB_UPDATE, NULL, err, sizeof(err));
		if (w == NULL || userdb_set_secret(w, user, "pw-stale", 8) != USERDB_OK)
			_exit(2);
		if (write(ready[1], &c, 1) != 1)
			_exit(2);
		if (stop)
			raise(SIGSTOP);
		else if (read(go[0], &c, 1) != 1)
			_exit(2);
		rc = userdb_commit(w, (uid_t)-1, (gid_t)-1);
		rc = rc == 0 ? 3 : contains(userdb_error(w), "taken over") ? 0 : 2;
		userdb_close(w);
		_exit(rc);
	}
	close(ready[1]);
	close(go[0]);
	return pid;
}

/* A holder stopped with the lock: a writer that may not take it over waits
 * and names it; one that may takes it over and commits; the holder, resumed,
 * cannot overwrite that change. */
static void test_stopped_holder(void)
{
	const char *p = tpath("upd.db");
	struct userdb_rules stopped = { .takeover = USERDB_TAKEOVER_STOPPED };
	char err[512], want[64], c;
	int ready[2], go[2], status;
	struct userdb_entry e;
	struct userdb *db;
	pid_t pid;

	pid = holder_child(p, "stale", true, ready, go);
	ok(pid > 0 && read(ready[0], &c, 1) == 1 && waitpid(pid, &status, WUNTRACED) == pid &&
	   WIFSTOPPED(status), "a writer stopped with the lock held");
	snprintf(want, sizeof(want), "process %ld (", (long)pid);
	db = userdb_write_open(p, USERDB_UPDATE, NULL, err, sizeof(err));
	ok(db == NULL && errno == EAGAIN && contains(err, "another program is changing the "
						     "database") &&
	   contains(err, want) && contains(err, "stopped"),
	   "  one that may not take it over gives up, naming it and its state (%s)", err);
	userdb_close(db);
	db = userdb_write_open(p, USERDB_UPDATE, &stopped, err, sizeof(err));
	ok(db != NULL, "  one that may take it over from a stopped holder does (%s)",
	   db ? "" : err);
	if (db != NULL) {
		userdb_set_secret(db, "admin", "pw-admin", 8);
		is_int(userdb_commit(db, (uid_t)-1, (gid_t)-1), 0, "  and commits");
		userdb_close(db);
	}
	kill(pid, SIGCONT);
	ok(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "the stopped writer, resumed, cannot commit: the lock was taken over");
	ok(get_in(p, "admin", &e) == USERDB_OK && get_in(p, "stale", &e) == USERDB_NOTFOUND,
	   "  the database has the change of the takeover, not the stale copy");
	ok(exists(tpath(".upd.db.lock")) && !exists(tpath(".upd.db.lock/new")),
	   "  one lock directory is left, empty");
	snprintf(want, sizeof(want), ".upd.db.lock.%ld", (long)getpid());
	ok(!exists(tpath(want)), "  and the old one is gone");
	close(ready[0]);
	close(go[1]);
}

/* A holder that sleeps with the lock is taken over only when told to take
 * it from any holder, after the wait. */
static void test_sleeping_holder(void)
{
	const char *p = tpath("upd.db");
	struct userdb_rules stopped = { .takeover = USERDB_TAKEOVER_STOPPED };
	struct userdb_rules any = { .takeover = USERDB_TAKEOVER_ANY };
	char err[512], c = 'x';
	int ready[2], go[2], status;
	struct userdb_entry e;
	struct userdb *db;
	pid_t pid;

	pid = holder_child(p, "sleepy", false, ready, go);
	ok(pid > 0 && read(ready[0], &c, 1) == 1, "a writer asleep with the lock held");
	db = userdb_write_open(p, USERDB_UPDATE, &stopped, err, sizeof(err));
	ok(db == NULL && errno == EAGAIN && contains(err, "sleeping"),
	   "  is not taken over from when only stopped holders may be (%s)", err);
	userdb_close(db);
	db = userdb_write_open(p, USERDB_UPDATE, &any, err, sizeof(err));
	ok(db != NULL, "  but is after the wait when any may be (%s)", db ? "" : err);
	if (db != NULL) {
		userdb_set_secret(db, "forced", "pw-forced", 9);
		is_int(userdb_commit(db, (uid_t)-1, (gid_t)-1), 0, "  which commits");
		userdb_close(db);
	}
	if (write(go[1], &c, 1) != 1)
		ok(0, "wake the holder");
	ok(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "the holder, awake, cannot commit");
	ok(get_in(p, "forced", &e) == USERDB_OK && get_in(p, "sleepy", &e) == USERDB_NOTFOUND,
	   "  and the database has the forced change only");
	close(ready[0]);
	close(go[1]);
}

/* The fence itself: a holder whose copy was taken from its lock directory
 * (what a takeover does) cannot rename anything into place, even when it
 * looks before and finds its lock still current. */
static void test_fence(void)
{
	const char *p = tpath("upd.db");
	struct userdb_entry e;
	struct userdb *db;
	char err[512];

	db = userdb_write_open(p, USERDB_UPDATE, NULL, err, sizeof(err));
	ok(db != NULL, "a writer with its copy (%s)", db ? "" : err);
	if (db == NULL)
		return;
	userdb_set_secret(db, "fenced", "pw-fenced", 9);
	ok(unlink(tpath(".upd.db.lock/new")) == 0, "  its copy removed under it");
	ok(userdb_commit(db, (uid_t)-1, (gid_t)-1) == -1 &&
	   contains(userdb_error(db), "taken over"),
	   "  its commit fails and says why (%s)", userdb_error(db));
	userdb_close(db);
	ok(get_in(p, "fenced", &e) == USERDB_NOTFOUND && get_in(p, "forced", &e) == USERDB_OK,
	   "  and the database is as it was");
}

/* What a takeover killed between its swap and its fence leaves
 * (".NAME.lock.PID" with a copy in it) is fenced by the next writer before
 * it reads the database. */
static void test_takeover_leftover(void)
{
	const char *p = tpath("upd.db"), *left = tpath(".upd.db.lock.99999");
	struct userdb_entry e;
	struct userdb *db;
	char err[512];

	mkdir(left, 0700);
	write_file(tpath(".upd.db.lock.99999/new"), "an old copy", 11, 0600);
	db = userdb_write_open(p, USERDB_UPDATE, NULL, err, sizeof(err));
	ok(db != NULL && !exists(left), "the next writer removes what a takeover left (%s)",
	   db ? "" : err);
	if (db != NULL) {
		userdb_set_secret(db, "after", "pw-after", 8);
		is_int(userdb_commit(db, (uid_t)-1, (gid_t)-1), 0, "  and commits");
		userdb_close(db);
	}
	ok(get_in(p, "after", &e) == USERDB_OK, "  its change is there");
}

int main(void)
{
	static void (*const tests[])(void) = {
		test_replace_new, test_uncommitted, test_committed, test_killed_writer,
		test_two_writers, test_stopped_holder, test_sleeping_holder, test_fence,
		test_takeover_leftover, test_damaged_or_missing, test_commit_owner,
	};

	if (fixture_run("test_userdb_write", tests, sizeof(tests) / sizeof(tests[0])) < 0)
		return 1;
	return tap_done();
}

#else /* !HAVE_GDBM */

int main(void)
{
	tap_skip("built without GDBM", "test_userdb_write");
	return tap_done();
}

#endif /* HAVE_GDBM */
