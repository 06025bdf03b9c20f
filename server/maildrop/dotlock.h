/*
 * dotlock: the NFS-safe "<mailbox>.lock" convention of Debian policy §11.6.
 *
 * Created with the link() method: write "<pid> <host>\n" to a unique file in
 * the same directory, link() it to the lock name, and trust the result only
 * if the unique file's link count became 2.  A lock whose writer is on this
 * host and no longer runs (or is a zombie) is stale at once; any other lock
 * is stale after DOTLOCK_STALE_SECONDS without being touched (liblockfile's
 * rule; procmail waits 1024 s).
 *
 * The lowest floor of server/maildrop/ with uidstore.c: it calls only lib/.
 * Used by mbox_lock.c (the session's own dot-lock) and by the privileged
 * monitor (server/monitor.c, server/lockreg.c), which takes the lock for a
 * session that cannot create it.
 */
#ifndef POPPER_DOTLOCK_H
#define POPPER_DOTLOCK_H

#include <stddef.h>
#include <sys/types.h>

#define DOTLOCK_STALE_SECONDS 300

enum dotlock_result { DOTLOCK_OK, DOTLOCK_BUSY, DOTLOCK_ERROR };

/* Where a lock lives: the name in the directory open on dirfd (AT_FDCWD:
 * name is a path), and the path logs and reasons show.  The privileged
 * monitor passes a directory it opened without following a user's links
 * (server/lockdir.h), so that no step looks the directory up again. */
struct dotlock_loc {
	int dirfd;
	const char *name;
	const char *path;
};

/* A file's identity: the lock we made, or the directory it is in. */
struct dotlock_id {
	dev_t dev;
	ino_t ino;
};

/* Takes the lock at lock_path, retrying for up to wait_seconds.  pid is
 * written into the lock (the process whose death makes the lock stale).
 * reason gets a log text on failure. */
enum dotlock_result dotlock_acquire(const char *lock_path, pid_t pid,
				    unsigned wait_seconds,
				    char *reason, size_t reasonsize);
/* The same at loc; on DOTLOCK_OK *id_r (may be NULL) is the lock file we
 * made, for dotlock_touch_at and dotlock_clear_at. */
enum dotlock_result dotlock_acquire_at(const struct dotlock_loc *loc, pid_t pid,
				       unsigned wait_seconds, struct dotlock_id *id_r,
				       char *reason, size_t reasonsize);
/* Refreshes the lock's mtime so other agents do not break it. */
int dotlock_touch(const char *lock_path);
/* The same at loc, only if the file there is still id (else -1, errno
 * ENOENT: our lock is not there).  Returns 0 or -1 with errno. */
int dotlock_touch_at(const struct dotlock_loc *loc, const struct dotlock_id *id);
/* Removes the lock if it still holds pid.  Returns 0 or -1. */
int dotlock_release(const char *lock_path, pid_t pid);

enum dotlock_clear {
	DOTLOCK_CLEARED,       /* removed */
	DOTLOCK_ABSENT,        /* no lock there (any more) */
	DOTLOCK_NOT_OURS,      /* another file, or other content: left alone */
	DOTLOCK_CLEAR_FAILED   /* could not look or remove: errno */
};

/* Removes the lock called name in the directory open on dirfd, never
 * following a symlink, if and only if it is still the file dev/ino and
 * holds exactly what dotlock_acquire wrote for pid on this host.  The
 * monitor's release of its own lock, and the cleanup after a session whose
 * monitor was killed (server/lockreg.c: the caller has established that
 * pid is gone). */
enum dotlock_clear dotlock_clear_at(int dirfd, const char *name, pid_t pid,
				    dev_t dev, ino_t ino);

/* The clock and the pause of a lock wait, in seconds of CLOCK_MONOTONIC
 * and in milliseconds (a signal does not cut the pause short); also the
 * fcntl lock's wait in server/maildrop/mbox_lock.c, so that both locks of
 * a spool count one deadline on one clock. */
double dotlock_now_mono(void);
void dotlock_sleep_ms(unsigned ms);

#endif
