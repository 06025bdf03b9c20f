/*
 * privdrop: the one place where a session gives up root.
 * Runs as root, in the session process right after the login fork (the
 * monitor stays root in the parent).  Called by the login only.
 */
#ifndef POPPER_PRIVDROP_H
#define POPPER_PRIVDROP_H

#include <stddef.h>
#include <sys/types.h>

/* setgroups/initgroups to the account's groups less the mail group, setgid,
 * setuid, then checks with getresuid/getresgid that real, effective and
 * saved ids are all the user's and that setuid(0) fails.  uid 0 is refused.  When the process is
 * not root, succeeds only if it already runs as uid/gid (no change needed).
 * Returns 0, or -1 with reason filled. */
int privdrop_to(const char *account, uid_t uid, gid_t gid,
		char *reason, size_t reasonsize);

#endif
