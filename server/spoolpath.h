/*
 * spoolpath: where a user's maildrop and private state live.
 * Runs as root, in the session process at login, before the monitor fork
 * and the privilege drop.  Called by the login only; stands on lib/ and
 * the settings.
 */
#ifndef POPPER_SPOOLPATH_H
#define POPPER_SPOOLPATH_H

#include <stddef.h>
#include "auth/auth.h"
#include "server/settings.h"

/* Qpopper's hash-spool rule: the sum of the byte values of the first (at
 * most) five characters of name, mod 26, as a letter 'a'..'z'. */
char spoolpath_hash1(const char *name);

/* The maildrop file of user u:
 *   virtual user:         <virtual-spool-dir>/<name>
 *   home-dir-mail NAME:   <home>/<NAME>
 *   hash-spool 1:         <spool-dir>/<c>/<name>
 *   hash-spool 2:         <spool-dir>/<c1>/<c2>/<name>  (first and second letter)
 *   otherwise:            <spool-dir>/<name>
 * Returns 0, or -1 if it does not fit in size. */
int spoolpath_maildrop(const struct settings *s, const struct auth_user *u,
		       char *path, size_t size);

/* Creates (as root, before the privilege drop) the private state directory
 * <state-dir>/<name> (virtual users: <state-dir>/virtual/<name>) owned by
 * the account the session will run as, mode 0700, refusing symlinks and
 * foreign owners; when not root, the directory must already be usable or
 * creatable by us.  Writes its path into dir.  Returns 0 or -1 with reason. */
int spoolpath_state_dir(const struct settings *s, const struct auth_user *u,
			char *dir, size_t size, char *reason, size_t reasonsize);

#endif
