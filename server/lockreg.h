/*
 * lockreg: the registry of dot-locks held by monitors, <state-dir>/.locks,
 * so that popper can remove the lock of a session whose monitor and session
 * process were both killed (nobody else would before the lock's age makes it
 * stale: 300 s for dotlockfile, 1024 s for procmail).
 *
 * One entry per monitor holding a lock, named after the monitor's pid; it
 * records both processes (pid and start time), the account the session ran
 * as, the lock's path and the identity (device, inode) of the lock file and
 * of its directory.  The monitor writes it after taking the lock and
 * removes it after letting go; lockreg_sweep() handles the entries whose
 * monitor died, opening the lock's directory the way the monitor did
 * (server/lockdir.h).
 *
 * Runs as root: in the monitor (record, forget), and in inetd mode's
 * process at each connection and the standalone listener (sweeps).
 */
#ifndef POPPER_LOCKREG_H
#define POPPER_LOCKREG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "server/lockdir.h"

/* The registry below the state directory; user names never start with '.'
 * (lib/username.c), so it cannot be anyone's state directory. */
#define LOCKREG_DIR_NAME ".locks"
/* Entries one sweep looks at: a registry this full is not ours to empty in
 * one go, and a connection must not wait for it. */
#define LOCKREG_SWEEP_MAX 4096

struct lockreg_entry {
	pid_t monitor;
	uint64_t monitor_start;     /* field 22 of /proc/<pid>/stat; 0 = unknown */
	pid_t session;
	uint64_t session_start;
	uid_t user;                 /* the session's account (server/lockdir.h) */
	uint64_t dir_dev, dir_ino;  /* the directory the lock was made in */
	uint64_t lock_dev, lock_ino;
	char path[PATH_MAX];        /* absolute */
};

struct lockreg_tally {
	unsigned locks_removed;     /* dot-locks of killed sessions removed */
	unsigned entries_dropped;   /* entries finished with (incl. damaged ones) */
	unsigned waiting;           /* monitor dead, session still running */
};

/* "<state_dir>/.locks" into out.  Returns 0, or -1 if it does not fit. */
int lockreg_dir(const char *state_dir, char *out, size_t size);

/* Records, as the monitor (the calling process), that it holds the dot-lock
 * lock_path, the file `lock` in the directory `dir` (opened for dir->user),
 * for the session process `session`.  Creates the registry (0700) when
 * missing; refuses one that is a symlink, not a directory, not ours or
 * writable by group or others.  Failures are logged and harmless: returns
 * 0 or -1. */
int lockreg_record(const char *regdir, const char *lock_path, const struct lockdir *dir,
		   const struct dotlock_id *lock, pid_t session);

/* Removes the calling monitor's entry (after it let go of the lock). */
void lockreg_forget(const char *regdir);

/* For each entry (at most LOCKREG_SWEEP_MAX) whose monitor is gone: if the
 * session is gone too, removes the dot-lock if it is still the file popper
 * made holding what popper wrote, in the directory it was made in (opened
 * by the rules of server/lockdir.h), then the entry; if the session still
 * runs, leaves both (counted in waiting).  Damaged entries are removed.
 * Everything done is logged; tally_r (may be NULL) gets the counts.  A
 * missing registry costs one failed open. */
void lockreg_sweep(const char *regdir, struct lockreg_tally *tally_r);

/* lockreg_sweep of <state_dir>/.locks when we are root (only root
 * monitors register locks, and only root may remove them); else nothing. */
void lockreg_sweep_state_dir(const char *state_dir, struct lockreg_tally *tally_r);

/* The entry's file format, exported for the unit test.  format returns
 * the length, or -1 if it does not fit; parse returns 0, or -1 for
 * anything but exactly what format writes. */
int lockreg_format(const struct lockreg_entry *e, char *buf, size_t size);
int lockreg_parse(const char *buf, size_t len, struct lockreg_entry *e);

#endif
