/*
 * test_dotlock: "<mailbox>.lock" with the link() method (server/maildrop/dotlock.c):
 * acquire and release, a busy lock, locks that are stale because their
 * process is gone (or a zombie) or because nobody touched them for
 * DOTLOCK_STALE_SECONDS, locks in other formats, and that release never
 * removes someone else's.  Then the monitor's way, relative to a directory
 * descriptor: every step (create, break, touch, remove) stays in the
 * directory the descriptor holds after that directory was swapped for a
 * symlink, and touch and remove leave a file that replaced the lock alone.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/safeopen.h"
#include "server/maildrop/dotlock.h"
#include "tests/unit/tap.h"

static char root[512], lockp[600];
static char host[256];

static void write_lock(const char *content, time_t age)
{
	int fd = open(lockp, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || safe_write_all(fd, content, strlen(content)) < 0)
		die(lockp);
	close(fd);
	if (age > 0) {
		struct timespec ts[2];

		ts[0].tv_sec = ts[1].tv_sec = time(NULL) - age;
		ts[0].tv_nsec = ts[1].tv_nsec = 0;
		if (utimensat(AT_FDCWD, lockp, ts, 0) < 0)
			die("utimensat");
	}
}

static void read_file_into(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, size - 1) : -1;

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

static void read_lock(char *buf, size_t size)
{
	read_file_into(lockp, buf, size);
}

/* Files in the directory other than the lock itself (leftover unique files). */
static int stray_files(void)
{
	DIR *d = opendir(root);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
		    strcmp(e->d_name, "spool.lock") != 0)
			n++;
	closedir(d);
	return n;
}

static pid_t dead_pid(void)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0)
		_exit(0);
	waitpid(pid, &status, 0);
	return pid;   /* reaped: kill(pid, 0) now fails with ESRCH */
}

static enum dotlock_result acquire(pid_t pid, unsigned wait)
{
	char reason[256] = "";

	return dotlock_acquire(lockp, pid, wait, reason, sizeof(reason));
}

/* Also learns this host's name, which the later lock contents need. */
static void test_acquire_free(pid_t me)
{
	char buf[256], want[300];

	is_int(acquire(me, 0), DOTLOCK_OK, "acquire a free lock");
	read_lock(buf, sizeof(buf));
	ok(sscanf(buf, "%*d %255s", host) == 1, "lock names a host (%s)", host);
	snprintf(want, sizeof(want), "%ld %s\n", (long)me, host);
	is_str(buf, want, "lock content is \"PID HOST\\n\"");
	is_int(stray_files(), 0, "no unique file left behind");
}

/* Runs while test_acquire_free's lock is still held. */
static void test_busy(pid_t me)
{
	struct timespec t0, t1;
	double secs;

	is_int(acquire(me + 0, 0), DOTLOCK_BUSY, "held by a live process: busy");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	is_int(acquire(getppid(), 1), DOTLOCK_BUSY, "busy after waiting");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ok(secs >= 0.9 && secs < 3.0, "waited about lock-wait seconds (%.2f s)", secs);
	is_int(stray_files(), 0, "no unique files left after retries");
}

static void test_touch_and_release(pid_t me)
{
	ok(dotlock_touch(lockp) == 0, "touch");
	is_int(dotlock_release(lockp, me + 1), -1, "release with another pid refused");
	ok(access(lockp, F_OK) == 0, "someone else's lock stays");
	is_int(dotlock_release(lockp, me), 0, "release our lock");
	ok(access(lockp, F_OK) < 0, "lock removed");
	is_int(dotlock_release(lockp, me), -1, "release of a missing lock: -1");
}

static void test_stale_dead_process(pid_t me)
{
	char want[300];

	snprintf(want, sizeof(want), "%ld %s\n", (long)dead_pid(), host);
	write_lock(want, 0);
	is_int(acquire(me, 0), DOTLOCK_OK, "stale: its process on this host is gone");
	dotlock_release(lockp, me);
}

/*
 * A killed session's process stays a zombie until someone reaps it; it
 * can no longer use its lock.
 */
static void test_stale_zombie(pid_t me)
{
	char want[300];
	siginfo_t si;
	pid_t zombie = fork();

	if (zombie < 0)
		die("fork");
	if (zombie == 0)
		_exit(0);
	waitid(P_PID, (id_t)zombie, &si, WEXITED | WNOWAIT);
	snprintf(want, sizeof(want), "%ld %s\n", (long)zombie, host);
	write_lock(want, 0);
	is_int(acquire(me, 0), DOTLOCK_OK, "stale: its process on this host is a zombie");
	dotlock_release(lockp, me);
	waitpid(zombie, NULL, 0);
}

/* No process can be asked on another host: only the age counts. */
static void test_other_host_by_age(pid_t me)
{
	write_lock("1 some-other-host\n", 0);
	is_int(acquire(me, 0), DOTLOCK_BUSY, "fresh lock of another host: busy");
	write_lock("1 some-other-host\n", DOTLOCK_STALE_SECONDS + 100);
	is_int(acquire(me, 0), DOTLOCK_OK, "lock untouched for longer than %d s: stale",
	       DOTLOCK_STALE_SECONDS);
	dotlock_release(lockp, me);
}

static void test_live_process_by_age(pid_t me)
{
	char want[300];

	snprintf(want, sizeof(want), "%ld %s\n", (long)getppid(), host);
	write_lock(want, DOTLOCK_STALE_SECONDS - 60);
	is_int(acquire(me, 0), DOTLOCK_BUSY, "live process, touched recently enough: busy");
	write_lock(want, DOTLOCK_STALE_SECONDS + 60);
	is_int(acquire(me, 0), DOTLOCK_OK, "live process that stopped touching it: stale by age");
	dotlock_release(lockp, me);
}

static void test_other_formats(pid_t me)
{
	char want[300];

	snprintf(want, sizeof(want), "%ld\n", (long)dead_pid());
	write_lock(want, 0);
	is_int(acquire(me, 0), DOTLOCK_BUSY, "pid-only lock (liblockfile): judged by age only");
	write_lock("", DOTLOCK_STALE_SECONDS + 1);
	is_int(acquire(me, 0), DOTLOCK_OK, "empty old lock (disk was full): stale by age");
	dotlock_release(lockp, me);
}

static void test_symlink_lock(pid_t me)
{
	struct stat st;

	if (symlink("/nonexistent-target", lockp) < 0)
		die("symlink");
	is_int(acquire(me, 0), DOTLOCK_BUSY, "a symlink at the lock name is never broken");
	ok(lstat(lockp, &st) == 0 && S_ISLNK(st.st_mode), "the symlink is still there");
	is_int(dotlock_release(lockp, me), -1, "release does not follow or remove a symlink");
	unlink(lockp);
}

static void test_missing_directory(pid_t me)
{
	char bad[700], buf[256];

	snprintf(bad, sizeof(bad), "%s/no-such-dir/spool.lock", root);
	ok(dotlock_acquire(bad, me, 0, buf, sizeof(buf)) == DOTLOCK_ERROR,
	   "directory missing: error with a reason (%s)", buf);
}

static void make_file(const char *path, const char *content, time_t age)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	struct timespec ts[2];

	if (fd < 0 || safe_write_all(fd, content, strlen(content)) < 0 || close(fd) < 0)
		die(path);
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - age;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	if (utimensat(AT_FDCWD, path, ts, 0) < 0)
		die("utimensat");
}

static time_t mtime_of(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 ? st.st_mtime : (time_t)-1;
}

/* Names in dir (not . and ..). */
static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

/*
 * The monitor's way: the directory opened once, the lock a name in it.
 * The directory is then swapped for a symlink to another one holding a
 * stale lock of the same name (what a user can do to ~/Mail): nothing may
 * happen over there.
 */
static void test_at(pid_t me)
{
	char dir[600], moved[600], target[600], mlock[700], tlock[700], copy[700];
	char stale[300], reason[256] = "", before[256], after[256];
	struct dotlock_loc loc;
	struct dotlock_id id;
	struct stat st;
	int dfd;

	snprintf(dir, sizeof(dir), "%s/at", root);
	snprintf(moved, sizeof(moved), "%s/at.moved", root);
	snprintf(target, sizeof(target), "%s/target", root);
	snprintf(mlock, sizeof(mlock), "%s/inbox.lock", moved);
	snprintf(tlock, sizeof(tlock), "%s/inbox.lock", target);
	snprintf(copy, sizeof(copy), "%s/copy", moved);
	if (mkdir(dir, 0755) < 0 || mkdir(target, 0755) < 0)
		die("mkdir");
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		die(dir);
	loc.dirfd = dfd;
	loc.name = "inbox.lock";
	loc.path = "/shown/in/logs/inbox.lock";

	is_int(dotlock_acquire_at(&loc, me, 0, &id, reason, sizeof(reason)), DOTLOCK_OK,
	       "at: acquire relative to a directory descriptor");
	ok(fstatat(dfd, "inbox.lock", &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == id.dev &&
	   st.st_ino == id.ino, "at: the identity given back is the lock file's");
	is_int(entries(dir), 1, "at: no unique file left behind");

	/* The swap: the directory moves aside, a symlink takes its name. */
	snprintf(stale, sizeof(stale), "%ld %s\n", (long)dead_pid(), host);
	make_file(tlock, stale, 0);
	if (rename(dir, moved) < 0 || symlink(target, dir) < 0)
		die("swap");
	read_file_into(tlock, before, sizeof(before));

	{
		struct timespec ts[2] = { { time(NULL) - 100, 0 }, { time(NULL) - 100, 0 } };

		if (utimensat(AT_FDCWD, mlock, ts, 0) < 0)
			die("utimensat");
	}
	ok(dotlock_touch_at(&loc, &id) == 0 && mtime_of(mlock) >= time(NULL) - 5,
	   "at: touch refreshes the lock in the directory it was made in");
	is_int(dotlock_clear_at(dfd, "inbox.lock", me, id.dev, id.ino), DOTLOCK_CLEARED,
	       "at: clear removes the lock from the directory it was made in");
	ok(access(mlock, F_OK) < 0, "at: which is the moved directory");

	is_int(dotlock_acquire_at(&loc, me, 0, &id, reason, sizeof(reason)), DOTLOCK_OK,
	       "at: acquire again after the swap");
	ok(access(mlock, F_OK) == 0, "at: the lock is made in the moved directory");
	read_file_into(tlock, after, sizeof(after));
	ok(strcmp(before, after) == 0 && entries(target) == 1,
	   "at: the stale lock behind the symlink is neither broken nor joined by anything");

	/* The lock replaced by another file with the same content. */
	read_file_into(mlock, before, sizeof(before));
	make_file(copy, before, 100);
	if (rename(copy, mlock) < 0)
		die("rename");
	ok(dotlock_touch_at(&loc, &id) < 0 && errno == ENOENT && mtime_of(mlock) < time(NULL) - 50,
	   "at: touch leaves a file that replaced the lock alone");
	is_int(dotlock_clear_at(dfd, "inbox.lock", me, id.dev, id.ino), DOTLOCK_NOT_OURS,
	       "at: and so does clear");
	ok(access(mlock, F_OK) == 0, "at: the replacement is still there");
	close(dfd);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char cmd[700];
	pid_t me = getpid();

	snprintf(root, sizeof(root), "%s/test_dotlock.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(root) == NULL)
		die("mkdtemp");
	snprintf(lockp, sizeof(lockp), "%s/spool.lock", root);

	/* in this order: each starts from the lock state the one before left */
	test_acquire_free(me);
	test_busy(me);
	test_touch_and_release(me);
	test_stale_dead_process(me);
	test_stale_zombie(me);
	test_other_host_by_age(me);
	test_live_process_by_age(me);
	test_other_formats(me);
	test_symlink_lock(me);
	test_missing_directory(me);
	test_at(me);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", root);
	return tap_done();
}
