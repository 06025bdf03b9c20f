/*
 * test_monitor: the privileged monitor's lock protocol (server/monitor.c).
 *
 * A forked child plays the session: it calls monitor_start() (so the
 * monitor is its parent, as in popper), sends a sequence of LOCK/UNLOCK
 * requests through the locker it got, and reports each answer.  The
 * monitor must grant the two rounds temp-drop mode needs, treat anything
 * else (a third lock, a lock twice, an unlock first) as fatal, and remove a
 * dot-lock still held when the session ends.
 *
 * Then the lock registry and the death of the child: while the lock is held
 * the monitor has its entry in the registry (server/lockreg.c), and after
 * the unlock it has none; a session killed while it holds the lock (SIGKILL,
 * or the SIGTERM the monitor forwards) leaves neither lock nor entry, and
 * the monitor ends with status 1; a session's own exit status is the
 * monitor's.
 *
 * Last, the lock's directory swapped for a symlink while the monitor waits
 * for another agent's lock (issue 9): the monitor refuses the lock and does
 * nothing behind the symlink.
 */
#include "config.h"

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
#include "server/monitor.h"
#include "tests/unit/tap.h"

static char root[512], lockp[700], regdir[700];

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* In a child (which becomes the monitor's parent): monitor_start, then the
 * requests in seq ('L'/'U'); reports each answer on fd out as a byte
 * ('K' ok, 'B' busy/other failure, 'X' killed before answering). */
static int monitor_sequence(const char *seq, char *answers, size_t size)
{
	int p[2], status;
	pid_t pid;
	ssize_t n = 0, r;

	if (pipe(p) < 0)
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		struct maildrop_locker lk;

		close(p[0]);
		if (monitor_start(lockp, geteuid(), 1, NULL, &lk) != 0)
			_exit(3);
		/* the session side */
		for (; *seq != '\0'; seq++) {
			char a = 'K', reason[128];

			if (*seq == 'L')
				a = lk.lock(lk.ctx, reason, sizeof(reason)) == MAILDROP_OK ? 'K' : 'B';
			else
				lk.unlock(lk.ctx);
			if (write(p[1], &a, 1) != 1)
				_exit(4);
		}
		_exit(0);
	}
	close(p[1]);
	while ((size_t)n + 1 < size && (r = read(p[0], answers + n, size - 1 - (size_t)n)) > 0)
		n += r;
	answers[n] = '\0';
	close(p[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static void test_monitor(void)
{
	char ans[16];
	int rc;

	rc = monitor_sequence("LULU", ans, sizeof(ans));
	ok(rc == 0 && strcmp(ans, "KKKK") == 0 && !exists(lockp),
	   "monitor: lock, unlock, lock, unlock granted (temp-drop mode's two rounds) (%d %s)", rc, ans);
	rc = monitor_sequence("LULUL", ans, sizeof(ans));
	ok(rc != 0 && strncmp(ans, "KKKK", 4) == 0 && !exists(lockp),
	   "monitor: a third lock is fatal for the session (%d %s)", rc, ans);
	rc = monitor_sequence("LL", ans, sizeof(ans));
	ok(rc != 0 && !exists(lockp), "monitor: lock twice in a row is fatal, lock removed (%d %s)", rc, ans);
	rc = monitor_sequence("U", ans, sizeof(ans));
	ok(rc != 0, "monitor: unlock before lock is fatal (%d %s)", rc, ans);
	rc = monitor_sequence("LUU", ans, sizeof(ans));
	ok(rc != 0, "monitor: unlock twice in a row is fatal (%d %s)", rc, ans);
	rc = monitor_sequence("L", ans, sizeof(ans));
	ok(rc == 0 && !exists(lockp), "monitor: a lock still held when the session ends is removed");
}

/* A session that holds the lock and waits.  The monitor (the forked
 * child that calls monitor_start) and the session (its child) run; the
 * session sends its pid on `report` once it holds the lock, then reads
 * orders on `go`: 'u' unlocks (and reports again), 'x' exits 7, EOF exits
 * 0. */
struct held {
	pid_t monitor, session;
	int go, report;
};

static char session_order(int fd)
{
	char c = 0;
	ssize_t r;

	do {
		r = read(fd, &c, 1);
	} while (r < 0 && errno == EINTR);
	return r == 1 ? c : 0;
}

static void session_side(int report, int go, const char *reg)
{
	struct maildrop_locker lk;
	char reason[128], c;
	pid_t me;

	if (monitor_start(lockp, geteuid(), 1, reg, &lk) != 0)
		_exit(3);
	if (lk.lock(lk.ctx, reason, sizeof(reason)) != MAILDROP_OK)
		_exit(4);
	me = getpid();
	if (write(report, &me, sizeof(me)) != (ssize_t)sizeof(me))
		_exit(5);
	c = session_order(go);
	if (c == 'u') {
		lk.unlock(lk.ctx);
		if (write(report, &me, sizeof(me)) != (ssize_t)sizeof(me))
			_exit(5);
		c = session_order(go);
	}
	_exit(c == 'x' ? 7 : 0);
}

/* True when the session reported (into *pid_r). */
static bool session_reported(const struct held *h, pid_t *pid_r)
{
	return read(h->report, pid_r, sizeof(*pid_r)) == (ssize_t)sizeof(*pid_r);
}

static bool hold_lock(const char *reg, struct held *h)
{
	int rep[2], go[2];

	if (pipe(rep) < 0 || pipe(go) < 0)
		die("pipe");
	h->monitor = fork();
	if (h->monitor < 0)
		die("fork");
	if (h->monitor == 0) {
		close(rep[0]);
		close(go[1]);
		session_side(rep[1], go[0], reg);
	}
	close(rep[1]);
	close(go[0]);
	h->go = go[1];
	h->report = rep[0];
	return session_reported(h, &h->session);
}

/* Closes our ends and returns the monitor's exit status (128 + signal
 * when killed).  With settle_ms, first gives the monitor that long to end
 * by itself (after a signal) before the session sees EOF on its orders. */
static int wait_monitor(const struct held *h, int settle_ms)
{
	int status, waited;

	for (waited = 0; waited < settle_ms; waited += 10) {
		if (waitpid(h->monitor, &status, WNOHANG) == h->monitor) {
			close(h->go);
			close(h->report);
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		usleep(10000);
	}
	close(h->go);
	close(h->report);
	if (waitpid(h->monitor, &status, 0) != h->monitor)
		die("waitpid");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static bool reg_entry_of(pid_t monitor)
{
	char path[800];

	snprintf(path, sizeof(path), "%s/%ld", regdir, (long)monitor);
	return exists(path);
}

static void test_registry(void)
{
	struct held h;
	pid_t again = 0;
	bool held, gone;
	int rc;

	held = hold_lock(regdir, &h);
	ok(held && exists(lockp), "registry: the session holds the lock");
	ok(held && reg_entry_of(h.monitor), "registry: the monitor has an entry while it holds the lock");
	if (write(h.go, "u", 1) != 1)
		die("write");
	gone = session_reported(&h, &again);
	ok(gone && !exists(lockp) && !reg_entry_of(h.monitor),
	   "registry: after the unlock, neither lock nor entry");
	if (write(h.go, "x", 1) != 1)
		die("write");
	rc = wait_monitor(&h, 0);
	is_int(rc, 7, "the session's exit status is the monitor's");
}

static void test_child_death(void)
{
	struct held h;
	bool held;
	int rc;

	held = hold_lock(regdir, &h);
	ok(held && exists(lockp) && reg_entry_of(h.monitor), "child death: lock and entry held");
	if (held)
		kill(h.session, SIGKILL);
	rc = wait_monitor(&h, 5000);
	is_int(rc, 1, "child death: a session killed by a signal ends the monitor with status 1");
	ok(!exists(lockp), "child death: the monitor removed the lock of the killed session");
	ok(!reg_entry_of(h.monitor), "child death: and its registry entry");

	held = hold_lock(regdir, &h);
	ok(held, "SIGTERM: lock held");
	if (held)
		kill(h.monitor, SIGTERM);
	rc = wait_monitor(&h, 5000);
	is_int(rc, 1, "SIGTERM: forwarded to the session, which ends by it; monitor status 1");
	ok(!exists(lockp) && !reg_entry_of(h.monitor), "SIGTERM: neither lock nor entry left");

	held = hold_lock(regdir, &h);
	rc = wait_monitor(&h, 0);
	ok(held && rc == 0 && !exists(lockp) && !reg_entry_of(h.monitor),
	   "a session that ends holding the lock: status 0, lock and entry removed (%d)", rc);
}

static void write_file(const char *path, const char *text, time_t age)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	struct timespec ts[2];

	if (fd < 0 || safe_write_all(fd, text, strlen(text)) < 0 || close(fd) < 0)
		die(path);
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - age;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	if (utimensat(AT_FDCWD, path, ts, 0) < 0)
		die("utimensat");
}

/* ~/Mail in a home others can write; the monitor waits for a lock another
 * agent holds there; meanwhile ~/Mail becomes a symlink to a directory
 * with a lock of the same name that is stale by age, and the agent lets
 * go.  The monitor must neither break that lock nor make one there. */
static void test_swap_while_waiting(void)
{
	char home[600], mail[640], moved[680], target[600], tlock[640], held[720];
	char saved[sizeof(lockp)], ans[16];
	struct stat st;
	pid_t swapper;
	int rc;

	snprintf(home, sizeof(home), "%s/home", root);
	snprintf(mail, sizeof(mail), "%s/Mail", home);
	snprintf(moved, sizeof(moved), "%s/Mail.moved", home);
	snprintf(target, sizeof(target), "%s/target", root);
	snprintf(tlock, sizeof(tlock), "%s/inbox.lock", target);
	snprintf(held, sizeof(held), "%s/inbox.lock", moved);
	if (mkdir(home, 0777) < 0 || chmod(home, 0777) < 0 || mkdir(mail, 0755) < 0 ||
	    mkdir(target, 0755) < 0)
		die("mkdir");
	write_file(tlock, "1 some-other-host\n", 1000);
	memcpy(saved, lockp, sizeof(saved));
	snprintf(lockp, sizeof(lockp), "%s/inbox.lock", mail);
	{
		char pidonly[32];

		/* Another agent's lock, pid only (judged by age: fresh). */
		snprintf(pidonly, sizeof(pidonly), "%ld\n", (long)getpid());
		write_file(lockp, pidonly, 0);
	}
	swapper = fork();
	if (swapper < 0)
		die("fork");
	if (swapper == 0) {
		usleep(300000);
		if (rename(mail, moved) < 0 || symlink(target, mail) < 0 || unlink(held) < 0)
			_exit(1);
		_exit(0);
	}
	rc = monitor_sequence("L", ans, sizeof(ans));
	waitpid(swapper, NULL, 0);
	ok(rc == 0 && strcmp(ans, "B") == 0,
	   "swap while waiting: the monitor refuses the lock (%d %s)", rc, ans);
	ok(lstat(tlock, &st) == 0 && st.st_mtime < time(NULL) - 500,
	   "swap while waiting: the stale lock behind the symlink is neither broken nor touched");
	ok(rmdir(target) < 0 && errno == ENOTEMPTY && unlink(tlock) == 0 && rmdir(target) == 0,
	   "swap while waiting: nothing else was made there");
	ok(!exists(held), "swap while waiting: no lock left in the moved directory");
	unlink(mail);
	rmdir(moved);
	rmdir(home);
	memcpy(lockp, saved, sizeof(saved));
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	umask(077);
	snprintf(root, sizeof(root), "%s/test_monitor.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(root) == NULL)
		die("mkdtemp");
	snprintf(lockp, sizeof(lockp), "%s/alice.lock", root);
	snprintf(regdir, sizeof(regdir), "%s/.locks", root);
	test_monitor();
	test_registry();
	test_child_death();
	test_swap_while_waiting();
	unlink(lockp);
	rmdir(regdir);
	rmdir(root);
	return tap_done();
}
