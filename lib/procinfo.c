/*
 * procinfo: the state and start time of a process, from /proc/<pid>/stat
 * (see procinfo.h).  Reads are bounded and never follow anything a user
 * controls: /proc/<pid> belongs to the kernel.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/procinfo.h"
#include "lib/strnum.h"

/* /proc/<pid>/stat is one line of some 300 octets; the command name in it
 * is at most 16.  A longer line is not one we can parse. */
#define PROCINFO_STAT_MAX 1024
/* Fields after the command name: state is field 3, starttime field 22. */
#define PROCINFO_STATE_FIELD 3
#define PROCINFO_START_FIELD 22

/* Reads the state letter and start time of pid.  Returns 0, or -1 with
 * errno (ESRCH when the process does not exist). */
static int read_stat(pid_t pid, char *state_r, uint64_t *start_r)
{
	char path[64], buf[PROCINFO_STAT_MAX], *p, *save = NULL, *tok;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		/* No /proc/<pid>: the process is gone, unless there is no
		 * /proc at all. */
		if (errno == ENOENT)
			errno = access("/proc/self/stat", R_OK) == 0 ? ESRCH : ENOSYS;
		return -1;
	}
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return -1;   /* ESRCH too when the process went meanwhile */
	buf[n] = '\0';
	/* The command name may hold spaces and ')': the fields start after
	 * the last ')'. */
	p = strrchr(buf, ')');
	if (p == NULL) {
		errno = EINVAL;
		return -1;
	}
	field = PROCINFO_STATE_FIELD;
	for (tok = strtok_r(p + 1, " \n", &save); tok != NULL;
	     tok = strtok_r(NULL, " \n", &save), field++) {
		if (field == PROCINFO_STATE_FIELD)
			*state_r = tok[0];
		if (field == PROCINFO_START_FIELD)
			return strnum_parse_u64(tok, UINT64_MAX, start_r) ? 0 : (errno = EINVAL, -1);
	}
	errno = EINVAL;
	return -1;
}

int procinfo_start_time(pid_t pid, uint64_t *start_r)
{
	char state;

	if (pid <= 0) {
		errno = ESRCH;
		return -1;
	}
	return read_stat(pid, &state, start_r);
}

bool procinfo_gone(pid_t pid, uint64_t start)
{
	uint64_t now_start;
	char state = '?';

	if (pid <= 0)
		return false;   /* not a process we can judge */
	if (read_stat(pid, &state, &now_start) == 0) {
		if (state == 'Z' || state == 'X')
			return true;
		return start != 0 && now_start != start;
	}
	if (errno == ESRCH)
		return true;
	/* /proc cannot tell (not mounted?): the pid alone decides. */
	return kill(pid, 0) < 0 && errno == ESRCH;
}
