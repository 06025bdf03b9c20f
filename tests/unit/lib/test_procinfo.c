/*
 * test_procinfo: lib/procinfo.c tells a running process from one that is
 * gone, a zombie, or a pid now worn by a process with another start time;
 * tells a stopped process from a sleeping one, with its name; and finds
 * the process that holds a flock() lock.
 */
#include "config.h"

#include <fcntl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/procinfo.h"
#include "tests/unit/tap.h"

/* A child that exited; reaped unless keep_zombie. */
static pid_t exited_child(int keep_zombie)
{
	pid_t pid = fork();

	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0)
		_exit(0);
	if (keep_zombie) {
		siginfo_t si;

		/* Wait for the exit without reaping it. */
		waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT);
	} else {
		waitpid(pid, NULL, 0);
	}
	return pid;
}

/* procinfo_state and procinfo_flock_holder on a child that locks a
 * directory and then stops. */
static void test_state_and_holder(void)
{
	char dir[] = "/tmp/test_procinfo.XXXXXX", name[32], state = '?';
	int ready[2], fd, status;
	struct stat st;
	pid_t pid, holder = 0;
	char c;

	ok(procinfo_state(getpid(), &state, name, sizeof(name)) == 0 && state == 'R' &&
	   strcmp(name, "test_procinfo") == 0, "we are running, under our name (%c %s)", state,
	   name);
	ok(!procinfo_state_stopped('R') && !procinfo_state_stopped('S') &&
	   procinfo_state_stopped('T') && procinfo_state_stopped('t'),
	   "stopped means T or t");
	ok(strcmp(procinfo_state_word('T'), "stopped") == 0 &&
	   strcmp(procinfo_state_word('S'), "sleeping") == 0, "state words");
	if (mkdtemp(dir) == NULL || pipe(ready) != 0) {
		ok(0, "temporary directory and pipe");
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int lfd = open(dir, O_RDONLY | O_DIRECTORY);

		if (lfd < 0 || flock(lfd, LOCK_EX) != 0 || write(ready[1], "x", 1) != 1)
			_exit(2);
		raise(SIGSTOP);
		_exit(0);
	}
	ok(read(ready[0], &c, 1) == 1 && waitpid(pid, &status, WUNTRACED) == pid &&
	   WIFSTOPPED(status), "a child holds a lock on a directory and stops");
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	ok(fd >= 0 && fstat(fd, &st) == 0 && procinfo_flock_holder(st.st_dev, st.st_ino,
								  &holder) == 0 &&
	   holder == pid, "procinfo_flock_holder finds it (%ld, want %ld)", (long)holder,
	   (long)pid);
	ok(procinfo_state(pid, &state, NULL, 0) == 0 && state == 'T',
	   "procinfo_state: stopped (%c)", state);
	kill(pid, SIGCONT);
	waitpid(pid, &status, 0);
	ok(procinfo_flock_holder(st.st_dev, st.st_ino, &holder) < 0 && errno == ENOENT,
	   "  and no holder once it exited");
	ok(procinfo_state(pid, &state, NULL, 0) < 0 && errno == ESRCH,
	   "procinfo_state of a reaped child: ESRCH");
	if (fd >= 0)
		close(fd);
	close(ready[0]);
	close(ready[1]);
	rmdir(dir);
}

int main(void)
{
	uint64_t start = 0, again = 0;
	pid_t gone, zombie;

	ok(procinfo_start_time(getpid(), &start) == 0 && start > 0,
	   "our own start time is readable and not 0");
	ok(procinfo_start_time(getpid(), &again) == 0 && again == start,
	   "and the same on a second read");
	ok(!procinfo_gone(getpid(), start), "we are not gone");
	ok(!procinfo_gone(getpid(), 0), "we are not gone (start time not known)");
	ok(procinfo_gone(getpid(), start + 1),
	   "our pid with another start time is another process: gone");
	gone = exited_child(0);
	ok(procinfo_gone(gone, 0), "a reaped child is gone");
	ok(procinfo_start_time(gone, &again) < 0, "and has no start time");
	zombie = exited_child(1);
	ok(procinfo_gone(zombie, 0), "a zombie (exited, not reaped) is gone");
	waitpid(zombie, NULL, 0);
	ok(!procinfo_gone(0, 0) && !procinfo_gone(-1, 0), "pids 0 and -1 are never judged gone");
	test_state_and_holder();
	return tap_done();
}
