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

/* Takes the lock at lock_path, retrying for up to wait_seconds.  pid is
 * written into the lock (the process whose death makes the lock stale).
 * reason gets a log text on failure. */
enum dotlock_result dotlock_acquire(const char *lock_path, pid_t pid,
				    unsigned wait_seconds,
				    char *reason, size_t reasonsize);
/* Refreshes the lock's mtime so other agents do not break it. */
int dotlock_touch(const char *lock_path);
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
 * holds exactly what dotlock_acquire wrote for pid on this host.  For
 * cleaning up after a session whose monitor was killed (server/lockreg.c):
 * the caller has established that pid is gone. */
enum dotlock_clear dotlock_clear_at(int dirfd, const char *name, pid_t pid,
				    dev_t dev, ino_t ino);

/* The clock and the pause of a lock wait, in seconds of CLOCK_MONOTONIC
 * and in milliseconds (a signal does not cut the pause short); also the
 * fcntl lock's wait in server/maildrop/mbox_lock.c, so that both locks of
 * a spool count one deadline on one clock. */
double dotlock_now_mono(void);
void dotlock_sleep_ms(unsigned ms);

#endif
