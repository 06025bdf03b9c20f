/*
 * monitor: the privileged half of a logged-in session.
 *
 * Its monitor half runs as root, in the monitor process; the client half
 * (the locker it hands out) runs in the session, as the user.  Called by
 * the login only; calls down into the dot-lock code and the lock registry.
 * After a successful login the session forks: the
 * child drops to the user (server/privdrop.c) and serves the TRANSACTION
 * state; the parent stays root and answers two requests over a
 * socketpair, strictly alternating and at most twice each: LOCK (create the
 * dot-lock of the one spool file it computed itself before the fork, in the
 * directory it opened by the rules of server/lockdir.h) and UNLOCK.
 * Anything else from the child is fatal.  When the child exits the monitor
 * removes a dot-lock that is still held, so a killed session never leaves a
 * lock behind, and exits with the child's status.  While it holds the lock
 * it has an entry in the lock registry (server/lockreg.h), so that a lock
 * left by a killed monitor and session is found and removed too.
 */
#ifndef POPPER_MONITOR_H
#define POPPER_MONITOR_H

#include <stdbool.h>
#include <sys/types.h>
#include "server/maildrop/maildrop.h"

/* Forks.  In the child returns 0 and fills *locker with functions that ask
 * the monitor.  In the parent never returns.  Returns -1 if the fork or the
 * socketpair failed.  lock_user is the account the session runs as (who
 * besides root may own the directories on the lock's path); lock_wait is
 * the dot-lock retry time; regdir the lock registry (lockreg_dir), or NULL
 * for none. */
int monitor_start(const char *lock_path, uid_t lock_user, unsigned lock_wait,
		  const char *regdir, struct maildrop_locker *locker);

#endif
