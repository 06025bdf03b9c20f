/*
 * privdrop: the one place where a session gives up root (STYLE §5).
 *
 * This file runs as root, in the session process right after the login
 * fork, and leaves it as the user.  Order matters: the supplementary groups first
 * (while we may still change them), then the gid, then the uid; the
 * result is then checked rather than trusted, because a setuid() that
 * "succeeded" but left a saved uid of 0 would let a compromised session
 * climb back (robustness §4.6).
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/reason.h"
#include "server/privdrop.h"

/* True when real, effective and saved ids all equal uid/gid. */
static bool ids_are(uid_t uid, gid_t gid)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
		return false;
	return ru == uid && eu == uid && su == uid &&
	       rg == gid && eg == gid && sg == gid;
}

int privdrop_to(const char *account, uid_t uid, gid_t gid,
		char *reason, size_t reasonsize)
{
	if (uid == 0) {
		reason_set(reason, reasonsize, "refusing to run a session as uid 0");
		return -1;
	}
	if (uid == (uid_t)-1 || gid == (gid_t)-1) {
		reason_set(reason, reasonsize, "invalid uid or gid");
		return -1;
	}

	if (geteuid() != 0) {
		/* Not root (tests, a private instance): nothing can change,
		 * so it works only if we already are that user. */
		if (ids_are(uid, gid))
			return 0;
		reason_set(reason, reasonsize, "not root and not running as uid %lu gid %lu",
			   (unsigned long)uid, (unsigned long)gid);
		return -1;
	}

	/* The account's own groups (e.g. "mail" if the site put the user in
	 * it); root's supplementary groups must never survive. */
	if (account != NULL && account[0] != '\0') {
		if (initgroups(account, gid) < 0) {
			reason_set(reason, reasonsize, "initgroups(%s): %s", account, strerror(errno));
			return -1;
		}
	} else if (setgroups(1, &gid) < 0) {
		reason_set(reason, reasonsize, "setgroups: %s", strerror(errno));
		return -1;
	}
	if (setresgid(gid, gid, gid) < 0) {
		reason_set(reason, reasonsize, "setresgid(%lu): %s", (unsigned long)gid, strerror(errno));
		return -1;
	}
	if (setresuid(uid, uid, uid) < 0) {
		reason_set(reason, reasonsize, "setresuid(%lu): %s", (unsigned long)uid, strerror(errno));
		return -1;
	}

	/* Trust, but verify. */
	if (!ids_are(uid, gid)) {
		reason_set(reason, reasonsize, "ids did not change as asked");
		return -1;
	}
	if (setuid(0) == 0 || seteuid(0) == 0) {
		reason_set(reason, reasonsize, "could regain root after the drop");
		return -1;
	}
	return 0;
}
