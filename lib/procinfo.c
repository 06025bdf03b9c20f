/*
 * procinfo: the state, name and start time of a process, from
 * /proc/<pid>/stat, and the holder of a flock() lock, from /proc/locks (see
 * procinfo.h).  Reads are bounded and never follow anything a user
 * controls: /proc belongs to the kernel.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "lib/procinfo.h"
#include "lib/strnum.h"

/* /proc/<pid>/stat is one line of some 300 octets; the command name in it
 * is at most 16.  A longer line is not one we can parse. */
#define PROCINFO_STAT_MAX 1024
/* Fields after the command name: state is field 3, starttime field 22. */
#define PROCINFO_STATE_FIELD 3
#define PROCINFO_START_FIELD 22

/* Reads the state letter, start time and command name (name may be NULL)
 * of pid.  Returns 0, or -1 with errno (ESRCH when the process does not
 * exist). */
static int read_stat(pid_t pid, char *state_r, uint64_t *start_r, char *name, size_t namesize)
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
	if (name != NULL && namesize > 0) {
		const char *open = strchr(buf, '(');
		size_t i = 0;

		/* It is the program's own choice (prctl): made printable. */
		for (open = open != NULL ? open + 1 : p; open < p && i + 1 < namesize; open++)
			name[i++] = *open >= 0x20 && *open < 0x7f ? *open : '?';
		name[i] = '\0';
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
	return read_stat(pid, &state, start_r, NULL, 0);
}

bool procinfo_gone(pid_t pid, uint64_t start)
{
	uint64_t now_start;
	char state = '?';

	if (pid <= 0)
		return false;   /* not a process we can judge */
	if (read_stat(pid, &state, &now_start, NULL, 0) == 0) {
		if (state == 'Z' || state == 'X')
			return true;
		return start != 0 && now_start != start;
	}
	if (errno == ESRCH)
		return true;
	/* /proc cannot tell (not mounted?): the pid alone decides. */
	return kill(pid, 0) < 0 && errno == ESRCH;
}

int procinfo_state(pid_t pid, char *state_r, char *name, size_t namesize)
{
	uint64_t start;

	*state_r = '?';
	if (name != NULL && namesize > 0)
		name[0] = '\0';
	if (pid <= 0) {
		errno = ESRCH;
		return -1;
	}
	return read_stat(pid, state_r, &start, name, namesize);
}

bool procinfo_state_stopped(char state)
{
	return state == 'T' || state == 't';
}

const char *procinfo_state_word(char state)
{
	switch (state) {
	case 'R':
		return "running";
	case 'S':
	case 'I':
		return "sleeping";
	case 'D':
		return "waiting for the disk";
	case 'T':
		return "stopped";
	case 't':
		return "stopped by a tracer";
	case 'Z':
	case 'X':
		return "exited";
	default:
		return "in an unknown state";
	}
}

/* One line of /proc/locks: "N: FLOCK  ADVISORY  WRITE PID MAJ:MIN:INO START
 * END", the device numbers in hex; a waiter's line has "->" after "N:".
 * Returns true for a granted flock() write lock, with its pid and file. */
static bool parse_lock_line(char *line, pid_t *pid_r, unsigned *maj_r, unsigned *min_r,
			    uint64_t *ino_r)
{
	char *save = NULL, *tok[6];
	unsigned long long ino;
	uint64_t pid;
	int i;

	for (i = 0; i < 6; i++) {
		tok[i] = strtok_r(i == 0 ? line : NULL, " \t\n", &save);
		if (tok[i] == NULL)
			return false;
	}
	if (strcmp(tok[1], "FLOCK") != 0 || strcmp(tok[3], "WRITE") != 0)
		return false;   /* a waiter ("->"), another kind of lock, a read lock */
	if (sscanf(tok[5], "%x:%x:%llu", maj_r, min_r, &ino) != 3)
		return false;
	if (!strnum_parse_u64(tok[4], INT32_MAX, &pid) || pid == 0)
		return false;   /* 0 or -1: a holder we cannot see (another pid namespace) */
	*pid_r = (pid_t)pid;
	*ino_r = ino;
	return true;
}

int procinfo_flock_holder(dev_t dev, ino_t ino, pid_t *pid_r)
{
	char line[PROCINFO_STAT_MAX];
	pid_t by_ino = 0, pid;
	unsigned maj, min;
	uint64_t lino;
	int inode_only = 0;
	FILE *f = fopen("/proc/locks", "re");

	*pid_r = 0;
	if (f == NULL) {
		errno = ENOSYS;
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (!parse_lock_line(line, &pid, &maj, &min, &lino) || lino != (uint64_t)ino)
			continue;
		if (maj == major(dev) && min == minor(dev)) {
			fclose(f);
			*pid_r = pid;
			return 0;
		}
		by_ino = pid;
		inode_only++;
	}
	fclose(f);
	if (inode_only == 1) {
		*pid_r = by_ino;
		return 0;
	}
	errno = ENOENT;
	return -1;
}
