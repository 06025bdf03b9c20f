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

/* The group that may write the spool directory (Debian, most systems). */
#define PRIVDROP_MAIL_GROUP "mail"
/* Supplementary groups we look at: Linux's own limit (NGROUPS_MAX). */
#define PRIVDROP_MAX_GROUPS 65536

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

/* Removes the mail group from the supplementary groups initgroups() set
 * (it stays only as the primary group, which the account file decides).
 * Returns 0, or -1 with reason filled. */
static int drop_mail_group(gid_t primary, char *reason, size_t reasonsize)
{
	static gid_t groups[PRIVDROP_MAX_GROUPS];   /* once per process: not on the stack */
	const struct group *gr = getgrnam(PRIVDROP_MAIL_GROUP);
	int n, i, kept = 0;

	if (gr == NULL)
		return 0;                /* no mail group on this system */
	n = getgroups(PRIVDROP_MAX_GROUPS, groups);
	if (n < 0) {
		reason_set(reason, reasonsize, "getgroups: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++)
		if (groups[i] != gr->gr_gid || groups[i] == primary)
			groups[kept++] = groups[i];
	if (kept == n)
		return 0;
	if (setgroups((size_t)kept, groups) < 0) {
		reason_set(reason, reasonsize, "setgroups without %s: %s", PRIVDROP_MAIL_GROUP,
			   strerror(errno));
		return -1;
	}
	return 0;
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

	/* The account's own groups, but never the mail group even where the
	 * site put the user in it: the monitor makes the dot-lock, so the
	 * session needs no write access to the spool directory, and with it
	 * could touch other users' locks and drops.  Root's supplementary
	 * groups must never survive. */
	if (account != NULL && account[0] != '\0') {
		if (initgroups(account, gid) < 0) {
			reason_set(reason, reasonsize, "initgroups(%s): %s", account, strerror(errno));
			return -1;
		}
		if (drop_mail_group(gid, reason, reasonsize) < 0)
			return -1;
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
