/*
 * procinfo: whether a process still runs, which process a pid is, what it
 * is doing, and which process holds a lock.
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
#include <stddef.h>
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

/* The state letter of pid (field 3 of /proc/<pid>/stat: R running, S
 * sleeping, D disk wait, T stopped, t stopped by a tracer, Z zombie...)
 * into *state_r, and its command name (as the kernel keeps it: at most 15
 * characters, anything unprintable made '?') into name (size namesize; may
 * be NULL).  Returns 0, or -1 with errno (ESRCH: no such process; ENOSYS:
 * no /proc). */
int procinfo_state(pid_t pid, char *state_r, char *name, size_t namesize);

/* True for the states of a process that makes no progress until someone
 * resumes it: stopped by a signal (T) or by a tracer (t). */
bool procinfo_state_stopped(char state);

/* A word for a state letter, for messages ("running", "stopped"...). */
const char *procinfo_state_word(char state);

/* The pid of the process that holds a flock() write lock on the file
 * (dev, ino), from /proc/locks, into *pid_r.  When no line names both the
 * device and the inode (some file systems give stat() another device
 * number than the lock table), a single line with the inode number alone
 * is taken.  Returns 0, or -1 with errno (ENOENT: no such lock listed;
 * ENOSYS: no /proc/locks). */
int procinfo_flock_holder(dev_t dev, ino_t ino, pid_t *pid_r);

#endif
