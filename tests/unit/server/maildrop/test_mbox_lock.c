/*
 * test_mbox_lock: the two locks of an mbox spool, fcntl first and the
 * dot-lock second (server/maildrop/mbox_lock.c), through the maildrop
 * interface: taken at open and released at close, a second session
 * refused as in use, an fcntl lock held by another process (a delivery
 * agent) refusing the open before any dot-lock is made, and the dot-lock
 * of a dead session broken at once.  Locks wait for nobody here
 * (lock_wait 0), so a busy lock fails at once instead of after a second.
 */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/maildrop/maildrop.h"
#include "tests/unit/server/maildrop/mboxfixture.h"
#include "tests/unit/tap.h"

static void test_locks(void)
{
	struct maildrop *md, *md2 = NULL;
	const char *content = F1 "S: x\n\nb\n";
	int p[2], status;
	char c;
	pid_t pid;

	lock_wait = 0;
	new_case();
	write_file(spool, content, strlen(content), 0600);
	md = open_ok();
	ok(md != NULL && access(lockp, F_OK) == 0, "open takes the dot-lock");
	is_int(try_open(&md2), MAILDROP_IN_USE, "second open: [IN-USE] (%s)", last_reason);
	if (md != NULL)
		maildrop_close(md);
	ok(access(lockp, F_OK) < 0, "close releases the dot-lock");

	/* Another process holding the fcntl lock only. */
	if (pipe(p) < 0)
		die("pipe");
	pid = fork();
	if (pid == 0) {
		struct flock fl;
		int fd = open(spool, O_RDWR);

		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fcntl(fd, F_SETLK, &fl) < 0 || write(p[1], "x", 1) != 1)
			_exit(1);
		pause();   /* until the parent kills us */
		_exit(0);
	}
	if (read(p[0], &c, 1) != 1)
		die("read");
	is_int(try_open(&md2), MAILDROP_IN_USE, "fcntl lock held elsewhere: [IN-USE]");
	ok(access(lockp, F_OK) < 0, "no dot-lock taken when fcntl is busy");
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(p[0]);
	close(p[1]);

	/* A dot-lock left by a dead process of this host is stale at once. */
	pid = fork();
	if (pid == 0) {
		struct maildrop *mc = NULL;

		if (try_open(&mc) != MAILDROP_OK)
			_exit(1);
		_exit(0);   /* dies holding the locks */
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0 && access(lockp, F_OK) == 0,
	   "a dead session left its dot-lock");
	md = open_ok();
	ok(md != NULL, "stale dot-lock of a dead process is broken");
	if (md != NULL)
		maildrop_close(md);
	lock_wait = 1;
}

int main(void)
{
	fixture_start("test_mbox_lock");
	test_locks();
	fixture_end();
	return tap_done();
}
