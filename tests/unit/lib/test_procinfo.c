/*
 * test_procinfo: lib/procinfo.c tells a running process from one that is
 * gone, a zombie, or a pid now worn by a process with another start time.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	return tap_done();
}
