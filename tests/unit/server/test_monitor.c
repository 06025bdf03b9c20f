/*
 * test_monitor: the privileged monitor's lock protocol (server/monitor.c).
 *
 * A forked child plays the session: it calls monitor_start() (so the
 * monitor is its parent, as in popper), sends a sequence of LOCK/UNLOCK
 * requests through the locker it got, and reports each answer.  The
 * monitor must grant the two rounds temp-drop mode needs, treat anything
 * else (a third lock, a lock twice, an unlock first) as fatal, and remove a
 * dot-lock still held when the session ends.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/monitor.h"
#include "tests/unit/tap.h"

static char root[512], lockp[700];

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
		if (monitor_start(lockp, 1, NULL, &lk) != 0)
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

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	umask(077);
	snprintf(root, sizeof(root), "%s/test_monitor.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(root) == NULL)
		die("mkdtemp");
	snprintf(lockp, sizeof(lockp), "%s/alice.lock", root);
	test_monitor();
	unlink(lockp);
	rmdir(root);
	return tap_done();
}
