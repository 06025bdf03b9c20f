/*
 * procinfo: whether a process still runs, and which process a pid is.
 *
 * kill(pid, 0) alone cannot tell: it succeeds for a zombie (dead, not yet
 * reaped: an orphan waits for init to reap it) and for an unrelated
 * process that got the pid of one that died.  /proc/<pid>/stat gives the
 * state and the start time (field 22, clock ticks after boot), which with
 * the pid names one process for the life of the system.
 */
#ifndef POPPER_PROCINFO_H
#define POPPER_PROCINFO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* The start time of pid (field 22 of /proc/<pid>/stat) into *start_r.
 * Returns 0, or -1 with errno (ESRCH: no such process; others: /proc
 * could not tell). */
int procinfo_start_time(pid_t pid, uint64_t *start_r);

/* True when the process pid that started at `start` no longer runs: there
 * is no such pid, it is a zombie, or the pid now belongs to a process with
 * another start time.  start 0 means "not known": the pid alone decides.
 * Without /proc, kill(pid, 0) decides.  When in doubt: false. */
bool procinfo_gone(pid_t pid, uint64_t start);

#endif
