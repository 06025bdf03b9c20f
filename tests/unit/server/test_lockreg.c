/*
 * test_lockreg: the registry of held dot-locks (server/lockreg.c): the entry
 * format and its strict parser; what the monitor records and forgets; a
 * registry refused for its owner, mode or a symlink; and the sweep: it
 * removes the lock of a dead monitor and dead session, and leaves alone a
 * live monitor's, a live session's, a lock another agent replaced (other
 * content, or another file with the same content), a lock whose directory
 * was swapped, a lock reached only through a link a user could have made or
 * a directory another account owns (server/lockdir.h), a symlink in the
 * lock's place; it drops damaged entries and stops after LOCKREG_SWEEP_MAX
 * entries.
 *
 * Runs as root or not: the registry must belong to whoever runs the sweep
 * (root at run time).  The one check that needs root says so and skips.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/procinfo.h"
#include "lib/safeopen.h"
#include "server/maildrop/dotlock.h"
#include "server/lockdir.h"
#include "server/lockreg.h"
#include "tests/unit/tap.h"
#include "tests/unit/testlog.h"

static char root[256], regdir[512], spool[512], lockp[600], logp[600];

static void rm_rf(const char *path)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		die(cmd);
}

/* A pid that no longer runs (a child that exited and was reaped). */
static pid_t dead_pid(void)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return pid;
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || safe_write_all(fd, text, strlen(text)) < 0 || close(fd) < 0)
		die(path);
}

/* A small file's text (the log helper reads any small file). */
static void read_file(const char *path, char *buf, size_t size)
{
	testlog_read(path, buf, size);
}

/* The lock popper's monitor would make for session. */
static void take_lock(pid_t session)
{
	char reason[256];

	unlink(lockp);
	if (dotlock_acquire(lockp, session, 0, reason, sizeof(reason)) != DOTLOCK_OK) {
		fprintf(stderr, "dotlock_acquire: %s\n", reason);
		exit(2);
	}
}

/* lockreg_record as the monitor calls it: the lock's directory opened by
 * the monitor's rules, the lock file's identity. */
static int record(const char *reg, pid_t session)
{
	struct lockdir ld;
	struct dotlock_id id;
	struct stat st;
	char why[256];
	int rc;

	if (lockdir_open(lockp, geteuid(), &ld, why, sizeof(why)) < 0)
		die(why);
	if (fstatat(ld.fd, ld.name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		die(lockp);
	id.dev = st.st_dev;
	id.ino = st.st_ino;
	rc = lockreg_record(reg, lockp, &ld, &id, session);
	lockdir_close(&ld);
	return rc;
}

/* An entry for lockp as it is now. */
static void describe(struct lockreg_entry *e, pid_t monitor, uint64_t mstart,
		     pid_t session, uint64_t sstart)
{
	struct stat st;

	memset(e, 0, sizeof(*e));
	e->monitor = monitor;
	e->monitor_start = mstart;
	e->session = session;
	e->session_start = sstart;
	e->user = geteuid();
	if (stat(spool, &st) < 0)
		die(spool);
	e->dir_dev = st.st_dev;
	e->dir_ino = st.st_ino;
	if (lstat(lockp, &st) < 0)
		die(lockp);
	e->lock_dev = st.st_dev;
	e->lock_ino = st.st_ino;
	snprintf(e->path, sizeof(e->path), "%s", lockp);
}

static void entry_path(pid_t monitor, char *out, size_t size)
{
	snprintf(out, size, "%s/%ld", regdir, (long)monitor);
}

static void put_entry(const struct lockreg_entry *e)
{
	char text[PATH_MAX + 512], path[700];

	if (lockreg_format(e, text, sizeof(text)) < 0)
		die("lockreg_format");
	entry_path(e->monitor, path, sizeof(path));
	write_file(path, text);
}

static void fresh_registry(void)
{
	rm_rf(regdir);
	if (mkdir(regdir, 0700) < 0)
		die(regdir);
}

static unsigned count_entries(void)
{
	DIR *d = opendir(regdir);
	struct dirent *e;
	unsigned n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* ---- the format ------------------------------------------------------- */

static void test_format(void)
{
	struct lockreg_entry e, back;
	char text[PATH_MAX + 512], bad[PATH_MAX + 512];
	char d[64];
	int n;

	memset(&e, 0, sizeof(e));
	e.monitor = 1234;
	e.monitor_start = 987654321;
	e.session = 1235;
	e.session_start = 987654399;
	e.user = 4343;
	e.dir_dev = 2049;
	e.dir_ino = 131074;
	e.lock_dev = 2049;
	e.lock_ino = 18446744073709551615ULL;
	snprintf(e.path, sizeof(e.path), "/var/mail/alice.lock");
	n = lockreg_format(&e, text, sizeof(text));
	ok(n > 0, "format: an entry is written");
	is_str(text, "popper-lockreg 2\nmonitor 1234 987654321\nsession 1235 987654399\n"
	       "user 4343\ndirectory 2049 131074\nlock 2049 18446744073709551615\n"
	       "path /var/mail/alice.lock\n",
	       "format: the exact text");
	ok(lockreg_parse(text, (size_t)n, &back) == 0 && back.monitor == 1234 &&
	   back.monitor_start == 987654321 && back.session == 1235 &&
	   back.session_start == 987654399 && back.user == 4343 && back.dir_dev == 2049 &&
	   back.dir_ino == 131074 && back.lock_ino == e.lock_ino && strcmp(back.path, e.path) == 0,
	   "parse: reads back every field");
	ok(lockreg_format(&e, text, 40) < 0, "format: too small a buffer is refused");
	snprintf(e.path, sizeof(e.path), "relative.lock");
	ok(lockreg_format(&e, text, sizeof(text)) < 0, "format: a relative path is refused");
	snprintf(e.path, sizeof(e.path), "/var/mail/a\nb.lock");
	ok(lockreg_format(&e, text, sizeof(text)) < 0, "format: a newline in the path is refused");

#define M "popper-lockreg 2\n"
#define MS "monitor 1 1\nsession 2 2\n"
#define U "user 4343\n"
#define DL "directory 1 1\nlock 1 1\n"
	static const struct {
		const char *text, *what;
	} wrong[] = {
		{ "", "empty" },
		{ "popper-lockreg 1\n" MS DL "path /a/b\n", "the version without the user" },
		{ "popper-lockreg 3\n" MS U DL "path /a/b\n", "another version" },
		{ M MS U DL "path /a/b", "no final newline" },
		{ M MS U DL "path /a/b\nx\n", "a line too many" },
		{ M "session 2 2\nmonitor 1 1\n" U DL "path /a/b\n", "lines out of order" },
		{ M "monitor 0 1\nsession 2 2\n" U DL "path /a/b\n", "pid 0" },
		{ M "monitor -1 1\nsession 2 2\n" U DL "path /a/b\n", "a negative pid" },
		{ M "monitor +1 1\nsession 2 2\n" U DL "path /a/b\n", "a signed pid" },
		{ M "monitor 2147483648 1\nsession 2 2\n" U DL "path /a/b\n", "a pid above 2^31-1" },
		{ M MS U "directory 1 18446744073709551616\nlock 1 1\npath /a/b\n", "an inode above 2^64-1" },
		{ M "monitor 1  1\nsession 2 2\n" U DL "path /a/b\n", "two spaces" },
		{ M "monitor 1 1 1\nsession 2 2\n" U DL "path /a/b\n", "three numbers" },
		{ M "monitor 1\nsession 2 2\n" U DL "path /a/b\n", "one number" },
		{ M MS DL "path /a/b\n", "no user line" },
		{ M MS "user 4294967295\n" DL "path /a/b\n", "the uid (uid_t)-1" },
		{ M MS "user +5\n" DL "path /a/b\n", "a signed uid" },
		{ M MS "user 5 5\n" DL "path /a/b\n", "two uids" },
		{ M MS U DL "path a/b\n", "a relative path" },
		{ M MS U DL "path /\n", "the path /" },
		{ M MS U DL "path /a/\n", "a path ending in /" },
		{ M MS U DL "path /a/..\n", "a path ending in .." },
		{ M MS U DL "path \n", "an empty path" },
	};
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++)
		ok(lockreg_parse(wrong[i].text, strlen(wrong[i].text), &back) < 0,
		   "parse refuses %s", wrong[i].what);
	n = snprintf(bad, sizeof(bad), M MS U DL "path /a/b\n");
	bad[3] = '\0';
	ok(lockreg_parse(bad, (size_t)n, &back) < 0, "parse refuses a NUL inside");
	{
		static const char head[] = M MS U DL "path /";

		memset(bad, 'x', sizeof(bad));
		memcpy(bad, head, sizeof(head) - 1);
	}
#undef M
#undef MS
#undef U
#undef DL
	bad[sizeof(bad) - 1] = '\n';
	ok(lockreg_parse(bad, sizeof(bad), &back) < 0, "parse refuses an overlong entry");

	ok(lockreg_dir("/var/lib/popper", d, sizeof(d)) == 0 &&
	   strcmp(d, "/var/lib/popper/.locks") == 0, "the registry is <state-dir>/.locks");
	ok(lockreg_dir("var/lib/popper", d, sizeof(d)) < 0, "a relative state-dir gives no registry");
	ok(lockreg_dir("/var/lib/popper/state/directory/far/too/long/for/it", d, 40) < 0,
	   "a registry path that does not fit is refused");
}

/* ---- the monitor's side ----------------------------------------------- */

static void test_record(void)
{
	struct lockreg_entry e;
	char path[700], text[PATH_MAX + 512];
	struct stat st, lst;
	pid_t session = dead_pid();
	uint64_t start;

	rm_rf(regdir);
	take_lock(session);
	ok(record(regdir, session) == 0, "record: the monitor registers its lock");
	ok(stat(regdir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700,
	   "record: the registry is created with mode 0700");
	entry_path(getpid(), path, sizeof(path));
	read_file(path, text, sizeof(text));
	ok(lockreg_parse(text, strlen(text), &e) == 0, "record: the entry is named after the monitor and parses");
	procinfo_start_time(getpid(), &start);
	lstat(lockp, &lst);
	stat(spool, &st);
	ok(e.monitor == getpid() && e.monitor_start == start && e.session == session &&
	   e.user == geteuid() && strcmp(e.path, lockp) == 0 &&
	   e.lock_ino == (uint64_t)lst.st_ino && e.lock_dev == (uint64_t)lst.st_dev &&
	   e.dir_ino == (uint64_t)st.st_ino && e.dir_dev == (uint64_t)st.st_dev,
	   "record: monitor pid and start time, session, user, path, lock and directory identity");
	is_int(count_entries(), 1, "record: no temporary file is left");
	ok(record(regdir, session) == 0 && count_entries() == 1,
	   "record: a second lock round replaces the entry");
	lockreg_forget(regdir);
	ok(!exists(path), "forget: the entry is gone");
	lockreg_forget(regdir);
	ok(1, "forget: twice is harmless");
	{
		struct lockdir ld;
		struct dotlock_id id = { 1, 1 };
		char why[256];

		if (lockdir_open(lockp, geteuid(), &ld, why, sizeof(why)) < 0)
			die(why);
		ok(lockreg_record(regdir, "relative/x.lock", &ld, &id, session) < 0 &&
		   count_entries() == 0, "record: a relative lock path is not registered");
		ok(lockreg_record(NULL, lockp, &ld, &id, session) < 0, "record: no registry, no entry");
		lockdir_close(&ld);
	}
	unlink(lockp);
}

/* A registry we must not trust: record writes nothing, sweep removes
 * nothing, even a lock that would otherwise go. */
static void check_refused(const char *what)
{
	struct lockreg_entry e;
	struct lockreg_tally t;
	char where[700];
	pid_t session = dead_pid();

	take_lock(session);
	ok(record(regdir, session) < 0, "%s: record refuses it", what);
	entry_path(getpid(), where, sizeof(where));
	ok(!exists(where), "%s: and writes no entry", what);
	describe(&e, dead_pid(), 1, session, 0);
	/* Plant an entry where the sweep would look (through a symlink: in
	 * the directory it points to). */
	put_entry(&e);
	lockreg_sweep(regdir, &t);
	ok(exists(lockp) && t.locks_removed == 0, "%s: the sweep removes nothing", what);
	unlink(lockp);
}

static void test_refused(void)
{
	char other[600];

	fresh_registry();
	chmod(regdir, 0770);
	check_refused("a group-writable registry");
	fresh_registry();
	chmod(regdir, 0703);
	check_refused("an other-writable registry");

	rm_rf(regdir);
	snprintf(other, sizeof(other), "%s/elsewhere", root);
	mkdir(other, 0700);
	if (symlink(other, regdir) < 0)
		die("symlink");
	check_refused("symlinked registry");
	rm_rf(other);
	unlink(regdir);

	write_file(regdir, "");
	{
		pid_t session = dead_pid();

		take_lock(session);
		ok(record(regdir, session) < 0, "a file in the registry's place is refused");
		unlink(lockp);
	}
	unlink(regdir);

	if (geteuid() != 0) {
		tap_skip("needs root to give the registry to another owner",
			 "a registry not owned by root is refused");
		tap_skip("needs root to give the registry to another owner",
			 "a registry not owned by root: the sweep removes nothing");
		return;
	}
	fresh_registry();
	if (chown(regdir, 65534, 65534) < 0)
		die("chown");
	{
		struct lockreg_entry e;
		struct lockreg_tally t;
		pid_t session = dead_pid();

		take_lock(session);
		ok(record(regdir, session) < 0, "a registry not owned by root is refused");
		describe(&e, dead_pid(), 1, session, 0);
		put_entry(&e);
		lockreg_sweep(regdir, &t);
		ok(exists(lockp), "a registry not owned by root: the sweep removes nothing");
		unlink(lockp);
	}
}

/* ---- the sweep -------------------------------------------------------- */

static void test_sweep_dead(void)
{
	struct lockreg_entry e;
	struct lockreg_tally t;
	char where[700];
	pid_t session = dead_pid(), monitor = dead_pid();

	fresh_registry();
	take_lock(session);
	describe(&e, monitor, 12345, session, 0);
	put_entry(&e);
	lockreg_sweep(regdir, &t);
	ok(!exists(lockp), "dead monitor and session: the lock is removed");
	entry_path(monitor, where, sizeof(where));
	ok(!exists(where), "dead monitor and session: the entry is removed");
	ok(t.locks_removed == 1 && t.entries_dropped == 1 && t.waiting == 0,
	   "dead monitor and session: counted");
	lockreg_sweep(regdir, &t);
	ok(t.locks_removed == 0 && t.entries_dropped == 0, "a second sweep has nothing to do");

	/* The monitor's pid now belongs to another process (ours). */
	{
		uint64_t start;

		procinfo_start_time(getpid(), &start);
		take_lock(session);
		describe(&e, getpid(), start + 1, session, 0);
		put_entry(&e);
		lockreg_sweep(regdir, &t);
		ok(!exists(lockp) && t.locks_removed == 1,
		   "a monitor pid reused by another process counts as dead");
	}

	/* The session died but nobody reaped it yet: a zombie. */
	{
		siginfo_t si;
		pid_t zombie = fork();

		if (zombie < 0)
			die("fork");
		if (zombie == 0)
			_exit(0);
		waitid(P_PID, (id_t)zombie, &si, WEXITED | WNOWAIT);
		take_lock(zombie);
		describe(&e, dead_pid(), 1, zombie, 0);
		put_entry(&e);
		lockreg_sweep(regdir, &t);
		ok(!exists(lockp) && t.locks_removed == 1, "a zombie session counts as dead");
		waitpid(zombie, NULL, 0);
	}
	ok(count_entries() == 0, "the registry is empty again");
}

static void test_sweep_alive(void)
{
	struct lockreg_entry e;
	struct lockreg_tally t;
	char where[700], before[128], after[128];
	uint64_t start;
	pid_t session = dead_pid();

	fresh_registry();
	procinfo_start_time(getpid(), &start);
	take_lock(session);
	describe(&e, getpid(), start, session, 0);
	put_entry(&e);
	lockreg_sweep(regdir, &t);
	entry_path(getpid(), where, sizeof(where));
	ok(exists(lockp) && exists(where) && t.waiting == 0,
	   "a live monitor's lock and entry are left alone");
	unlink(where);

	/* Monitor killed, session still running (we play the session). */
	take_lock(getpid());
	read_file(lockp, before, sizeof(before));
	describe(&e, dead_pid(), 1, getpid(), start);
	put_entry(&e);
	lockreg_sweep(regdir, &t);
	read_file(lockp, after, sizeof(after));
	entry_path(e.monitor, where, sizeof(where));
	ok(strcmp(before, after) == 0 && exists(where) && t.waiting == 1 && t.locks_removed == 0,
	   "a live session's lock is left alone, its entry kept, the sweep says it waits");
	unlink(where);
	unlink(lockp);
}

/* Entries whose lock is no longer the one popper made. */
static void test_sweep_not_ours(void)
{
	struct lockreg_entry e;
	struct lockreg_tally t;
	char content[128], now[128], other[600];
	pid_t session = dead_pid();
	int fd;

	fresh_registry();
	/* Another agent's lock in the same file (content rewritten). */
	take_lock(session);
	describe(&e, dead_pid(), 1, session, 0);
	put_entry(&e);
	fd = open(lockp, O_WRONLY | O_TRUNC);
	if (fd < 0 || safe_write_all(fd, "4242\n", 5) < 0)
		die(lockp);
	close(fd);
	lockreg_sweep(regdir, &t);
	read_file(lockp, now, sizeof(now));
	ok(strcmp(now, "4242\n") == 0, "other content: the lock is left alone");
	ok(count_entries() == 0 && t.entries_dropped == 1, "other content: the entry is dropped");

	/* The same content in another file (made while the first still
	 * exists, so it cannot get the freed inode number). */
	take_lock(session);
	read_file(lockp, content, sizeof(content));
	describe(&e, dead_pid(), 1, session, 0);
	put_entry(&e);
	snprintf(other, sizeof(other), "%s/copy", spool);
	write_file(other, content);
	if (rename(other, lockp) < 0)
		die("rename");
	lockreg_sweep(regdir, &t);
	ok(exists(lockp) && t.locks_removed == 0, "the same content in a new file is left alone");
	unlink(lockp);

	/* A symlink in the lock's place, to a file with the right content. */
	take_lock(session);
	describe(&e, dead_pid(), 1, session, 0);
	snprintf(other, sizeof(other), "%s/target", root);
	if (rename(lockp, other) < 0 || symlink(other, lockp) < 0)
		die("symlink");
	put_entry(&e);
	lockreg_sweep(regdir, &t);
	ok(exists(lockp) && exists(other) && t.locks_removed == 0,
	   "a symlink in the lock's place is not followed, nor removed");
	unlink(lockp);
	unlink(other);
}

/* The path to the lock: a directory swapped since, an administrator's
 * symlink that was there all along, a lock already gone. */
static void test_sweep_paths(void)
{
	struct lockreg_entry e;
	struct lockreg_tally t;
	char content[128], other[600], moved[600], olock[700], mlock[700];
	pid_t session = dead_pid();

	/* The lock's directory swapped for a symlink to another directory
	 * holding the same name and content. */
	take_lock(session);
	read_file(lockp, content, sizeof(content));
	describe(&e, dead_pid(), 1, session, 0);
	put_entry(&e);
	snprintf(moved, sizeof(moved), "%s.real", spool);
	snprintf(other, sizeof(other), "%s/other", root);
	snprintf(olock, sizeof(olock), "%s/alice.lock", other);
	snprintf(mlock, sizeof(mlock), "%s/alice.lock", moved);
	if (rename(spool, moved) < 0 || mkdir(other, 0755) < 0 || symlink(other, spool) < 0)
		die("swap");
	write_file(olock, content);
	lockreg_sweep(regdir, &t);
	ok(exists(olock) && exists(mlock) && t.locks_removed == 0,
	   "a directory swapped for a symlink is not acted in");
	ok(count_entries() == 0, "and the entry is dropped");
	unlink(spool);
	rm_rf(other);
	if (rename(moved, spool) < 0)
		die("rename back");
	unlink(lockp);

	/* An administrator's symlink that was there when the lock was made
	 * is followed the same way: same directory. */
	{
		char link[600], vialink[700];

		snprintf(link, sizeof(link), "%s/maillink", root);
		if (symlink(spool, link) < 0)
			die("symlink");
		take_lock(session);
		describe(&e, dead_pid(), 1, session, 0);
		snprintf(vialink, sizeof(vialink), "%s/alice.lock", link);
		snprintf(e.path, sizeof(e.path), "%s", vialink);
		put_entry(&e);
		lockreg_sweep(regdir, &t);
		ok(!exists(lockp) && t.locks_removed == 1,
		   "a symlink that was in the path when the lock was made still leads to it");
		unlink(link);
	}

	/* The same directory, but reached only through a link in a directory
	 * others can write: a link a user could have made is not followed. */
	{
		char open_dir[600], link[700], vialink[800];

		snprintf(open_dir, sizeof(open_dir), "%s/open", root);
		snprintf(link, sizeof(link), "%s/Mail", open_dir);
		if (mkdir(open_dir, 0777) < 0 || chmod(open_dir, 0777) < 0 || symlink(spool, link) < 0)
			die("open dir");
		take_lock(session);
		describe(&e, dead_pid(), 1, session, 0);
		snprintf(vialink, sizeof(vialink), "%s/alice.lock", link);
		snprintf(e.path, sizeof(e.path), "%s", vialink);
		put_entry(&e);
		lockreg_sweep(regdir, &t);
		ok(exists(lockp) && t.locks_removed == 0 && count_entries() == 0,
		   "a link in a directory others can write is not followed; the entry is dropped");
		unlink(link);
		rmdir(open_dir);
		unlink(lockp);
	}

	/* A directory on the way that belongs to neither root nor the user. */
	if (geteuid() != 0) {
		tap_skip("needs root to give the directory to another account",
			 "a directory of another account on the way is not acted in");
	} else {
		take_lock(session);
		describe(&e, dead_pid(), 1, session, 0);
		e.user = 4343;
		put_entry(&e);
		if (chown(spool, 4344, 4344) < 0)
			die("chown");
		lockreg_sweep(regdir, &t);
		ok(exists(lockp) && t.locks_removed == 0 && count_entries() == 0,
		   "a directory of another account on the way is not acted in");
		if (chown(spool, 0, 0) < 0)
			die("chown");
		unlink(lockp);
	}

	/* The lock already gone (released, or broken by another agent). */
	take_lock(session);
	describe(&e, dead_pid(), 1, session, 0);
	put_entry(&e);
	unlink(lockp);
	lockreg_sweep(regdir, &t);
	ok(count_entries() == 0 && t.locks_removed == 0, "a lock already gone: the entry is dropped");
}

static void test_sweep_names(void)
{
	struct lockreg_entry e;
	struct lockreg_tally t;
	char path[700], text[PATH_MAX + 512];
	pid_t session = dead_pid(), dead = dead_pid();

	fresh_registry();
	snprintf(path, sizeof(path), "%s/12345", regdir);
	write_file(path, "garbage\n");
	lockreg_sweep(regdir, &t);
	ok(!exists(path) && t.entries_dropped == 1, "a damaged entry is removed");

	/* An entry whose name is not its monitor's pid. */
	take_lock(session);
	describe(&e, dead_pid(), 1, session, 0);
	lockreg_format(&e, text, sizeof(text));
	snprintf(path, sizeof(path), "%s/%ld", regdir, (long)e.monitor + 1);
	write_file(path, text);
	lockreg_sweep(regdir, &t);
	ok(!exists(path) && exists(lockp), "an entry under another pid's name is damaged: removed, lock kept");
	unlink(lockp);

	/* A symlink as an entry is not read. */
	snprintf(path, sizeof(path), "%s/777", regdir);
	if (symlink("/etc/passwd", path) < 0)
		die("symlink");
	lockreg_sweep(regdir, &t);
	ok(!exists(path), "a symlink as an entry is removed, not followed");

	snprintf(path, sizeof(path), "%s/README", regdir);
	write_file(path, "x");
	snprintf(path, sizeof(path), "%s/.hidden", regdir);
	write_file(path, "x");
	snprintf(path, sizeof(path), "%s/12345678901", regdir);
	write_file(path, "x");
	lockreg_sweep(regdir, &t);
	ok(count_entries() == 2 && t.entries_dropped == 0,
	   "names that are not pids (letters, a dot, 11 digits) are not entries: left alone");
	snprintf(path, sizeof(path), "%s/README", regdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/.hidden", regdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/12345678901", regdir);
	unlink(path);

	snprintf(path, sizeof(path), "%s/tmp.%ld", regdir, (long)dead);
	write_file(path, "half an entry");
	snprintf(text, sizeof(text), "%s/tmp.%ld", regdir, (long)getpid());
	write_file(text, "being written");
	lockreg_sweep(regdir, &t);
	ok(!exists(path) && exists(text),
	   "a temporary entry of a dead monitor goes, a live one's stays");
	unlink(text);

	rm_rf(regdir);
	lockreg_sweep(regdir, &t);
	ok(!exists(regdir) && t.locks_removed == 0 && t.entries_dropped == 0,
	   "no registry: the sweep does nothing and creates nothing");
	lockreg_sweep(NULL, &t);
	ok(t.entries_dropped == 0, "a NULL registry: nothing");
}

static void test_sweep_bound(void)
{
	struct lockreg_tally t;
	char path[700];
	unsigned i;

	fresh_registry();
	for (i = 0; i < LOCKREG_SWEEP_MAX + 10; i++) {
		snprintf(path, sizeof(path), "%s/%u", regdir, 100000 + i);
		write_file(path, "damaged");
	}
	lockreg_sweep(regdir, &t);
	is_int(t.entries_dropped, LOCKREG_SWEEP_MAX, "one sweep looks at LOCKREG_SWEEP_MAX entries");
	is_int(count_entries(), 10, "the rest waits for the next sweep");
	lockreg_sweep(regdir, &t);
	is_int(count_entries(), 0, "which takes them");
}

/* What the sweeps above said, in the log. */
static void test_log(void)
{
	static char text[1 << 20];
	char want[800];

	testlog_read(logp, text, sizeof(text));
	snprintf(want, sizeof(want), "removed the dot-lock %s of a killed session", lockp);
	ok(strstr(text, want) != NULL, "the log names each removed lock");
	ok(strstr(text, "lock registry: damaged entry 12345 removed") != NULL,
	   "the log names each damaged entry");
	ok(strstr(text, "refused (writable by group or others); carrying on without it") != NULL,
	   "the log says why a registry is refused");
	ok(strstr(text, "is no longer the one the lock was made in") != NULL,
	   "the log says why a lock in a swapped directory stays");
	ok(strstr(text, "/open/Mail is a symbolic link in a directory a user can write") != NULL,
	   "the log says why a lock behind a user's link stays");
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	log_open("test_lockreg", LOG_MAIL, LOG_TO_STDERR);
	snprintf(root, sizeof(root), "%s/test_lockreg.XXXXXX", tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(root) == NULL)
		die("mkdtemp");
	snprintf(regdir, sizeof(regdir), "%s/.locks", root);
	snprintf(spool, sizeof(spool), "%s/spool", root);
	snprintf(lockp, sizeof(lockp), "%s/alice.lock", spool);
	if (mkdir(spool, 0755) < 0)
		die(spool);
	/* The log records (thousands in the bound test) go to a file the
	 * tests read, not into the TAP stream. */
	snprintf(logp, sizeof(logp), "%s/log", root);
	testlog_capture(logp);

	test_format();
	test_record();
	test_refused();
	test_sweep_dead();
	test_sweep_alive();
	test_sweep_not_ours();
	test_sweep_paths();
	test_sweep_names();
	test_sweep_bound();
	test_log();

	rm_rf(root);
	return tap_done();
}
