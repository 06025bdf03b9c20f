/*
 * lockdir: the directory of a dot-lock, opened for root so that nothing a
 * user controls can send root's file operations somewhere else.
 *
 * A lock's directory may be one the user owns (home-dir-mail: ~/Mail), and
 * the user can replace any part of it below their home with a symbolic link
 * at any moment, also while root waits for a lock.  So root looks the path
 * up once, one component at a time from "/", and then works only relative
 * to the directory descriptor it got (server/maildrop/dotlock.h: the *_at
 * functions).  The rules of the walk:
 *   - every directory on the way belongs to root or to the user the lock is
 *     made for (anyone else who owns one could swap what lies below it);
 *   - a symbolic link is followed only when it belongs to root and lies in
 *     a directory only root can change (owned by root, not writable by group
 *     or others, or sticky): an administrator's /var/spool/mail -> ../mail;
 *     a link a user could have made (below their home, say) is refused;
 *   - at most LOCKDIR_MAX_LINKS links per walk.
 * "Root" is the calling process's effective uid as well (root at run time;
 * the unit tests' owner when they do not run as root).
 *
 * Runs as root: in the monitor (server/monitor.c) and in the lock
 * registry's sweep (server/lockreg.c).  Stands on lib/ and the dot-lock
 * types.
 */
#ifndef POPPER_LOCKDIR_H
#define POPPER_LOCKDIR_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "server/maildrop/dotlock.h"

/* Symbolic links one walk follows (the kernel's own limit is 40). */
#define LOCKDIR_MAX_LINKS 16

struct lockdir {
	int fd;                    /* the directory; -1 when not open */
	uid_t user;                /* the account the lock is made for */
	struct dotlock_id id;      /* the directory's device and inode */
	char name[NAME_MAX + 1];   /* the lock's name in it */
};

/* An unopened lockdir (fd -1). */
void lockdir_init(struct lockdir *ld);

/* Opens the directory of the absolute lock_path by the rules above for a
 * lock made for user.  Returns 0, or -1 with errno (ENOENT: a component is
 * missing; EPERM: refused by the rules; ELOOP: too many links; ENOTDIR;
 * EINVAL: not an absolute path naming a file) and reason for the log. */
int lockdir_open(const char *lock_path, uid_t user, struct lockdir *ld,
		 char *reason, size_t reasonsize);

/* Whether lock_path, walked again by the same rules, still leads to ld's
 * directory.  On false, reason says what it leads to now (or why the walk
 * failed).  Nothing is done in what the path names now. */
bool lockdir_still_there(const struct lockdir *ld, const char *lock_path,
			 char *reason, size_t reasonsize);

/* Where dotlock_*_at find the lock: ld's descriptor and name; shown is
 * the path for logs (lock_path). */
struct dotlock_loc lockdir_loc(const struct lockdir *ld, const char *shown);

/* Closes the directory (harmless when not open). */
void lockdir_close(struct lockdir *ld);

#endif
