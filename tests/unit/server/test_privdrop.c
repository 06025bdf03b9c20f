/*
 * test_privdrop: the one place a session gives up root (server/privdrop.c).
 *
 * Every drop happens in a forked child, which sends what it saw
 * (getresuid, getresgid, getgroups, whether root came back) to the parent
 * through a pipe; the parent judges.  As root: a drop to an unprivileged
 * uid/gid leaves nothing of root (real, effective and saved ids, and root's
 * supplementary groups); a drop for an account gets exactly that account's
 * groups; a drop that fails part-way (a capability taken away first)
 * reports the step and never success, and one that fails at its first step
 * changes nothing.  As anyone: uid 0 and invalid ids are refused with
 * nothing changed; a process that is not root succeeds only as the user it
 * already is.  The root-only checks skip, saying so, when not root.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/privdrop.h"
#include "tests/unit/tap.h"

/* Ids for the drops: unprivileged and very likely unused by any account,
 * which privdrop_to does not need when it gets no account name. */
#define TEST_UID 54321
#define TEST_GID 54322
#define MAX_GROUPS 64

/* What a child saw after its privdrop_to call. */
struct outcome {
	int rc;
	char reason[256];
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	int ngroups;
	gid_t groups[MAX_GROUPS];
	bool root_back;       /* setuid(0) or seteuid(0) worked afterwards */
	int again_same;       /* privdrop_to to the same ids again */
	int again_other;      /* privdrop_to to other ids */
	char again_reason[256];
};

/* What a child does before its drop (runs as root in the child). */
enum prep { PREP_NONE, PREP_ROOT_GROUPS, PREP_NO_SETUID, PREP_NO_SETGID };

/* Takes one capability out of the effective and permitted sets.  Returns
 * false when the kernel would not let us. */
static bool drop_capability(int cap)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) < 0)
		return false;
	data[cap / 32].effective &= ~(1U << (cap % 32));
	data[cap / 32].permitted &= ~(1U << (cap % 32));
	return syscall(SYS_capset, &hdr, data) == 0;
}

static void observe(struct outcome *o)
{
	getresuid(&o->ru, &o->eu, &o->su);
	getresgid(&o->rg, &o->eg, &o->sg);
	o->ngroups = getgroups(MAX_GROUPS, o->groups);
}

/* The child: prepare, drop, observe.  rc 99 means the preparation failed. */
static void child_drop(int fd, enum prep prep, const char *account, uid_t uid, gid_t gid)
{
	static const gid_t root_groups[] = { 0, 1, 2, 3 };
	struct outcome o;

	memset(&o, 0, sizeof(o));
	o.rc = 99;
	if ((prep == PREP_ROOT_GROUPS && setgroups(4, root_groups) < 0) ||
	    (prep == PREP_NO_SETUID && !drop_capability(CAP_SETUID)) ||
	    (prep == PREP_NO_SETGID && !drop_capability(CAP_SETGID)))
		goto report;
	o.rc = privdrop_to(account, uid, gid, o.reason, sizeof(o.reason));
	observe(&o);
	o.root_back = setuid(0) == 0 || seteuid(0) == 0;
	if (o.rc == 0) {
		char scratch[256];

		o.again_same = privdrop_to(account, uid, gid, scratch, sizeof(scratch));
		o.again_other = privdrop_to(account, uid + 1, gid, o.again_reason,
					    sizeof(o.again_reason));
	}
report:
	if (write(fd, &o, sizeof(o)) != (ssize_t)sizeof(o))
		_exit(1);
	_exit(0);
}

/* Runs child_drop in a child and fills *o.  Returns false when the child
 * did not report. */
static bool drop_in_child(enum prep prep, const char *account, uid_t uid, gid_t gid,
			  struct outcome *o)
{
	int p[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe(p) < 0)
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(p[0]);
		child_drop(p[1], prep, account, uid, gid);
	}
	close(p[1]);
	n = read(p[0], o, sizeof(*o));
	close(p[0]);
	waitpid(pid, &status, 0);
	return n == (ssize_t)sizeof(*o);
}

static bool ids_all(const struct outcome *o, uid_t uid, gid_t gid)
{
	return o->ru == uid && o->eu == uid && o->su == uid &&
	       o->rg == gid && o->eg == gid && o->sg == gid;
}

static bool has_group(const gid_t *g, int n, gid_t want)
{
	int i;

	for (i = 0; i < n; i++) {
		if (g[i] == want)
			return true;
	}
	return false;
}

/* Same set of groups (order and repeats aside). */
static bool same_groups(const gid_t *a, int na, const gid_t *b, int nb)
{
	int i;

	for (i = 0; i < na; i++) {
		if (!has_group(b, nb, a[i]))
			return false;
	}
	for (i = 0; i < nb; i++) {
		if (!has_group(a, na, b[i]))
			return false;
	}
	return true;
}

/* ---- checks for anyone -------------------------------------------------- */

static void test_refusals(void)
{
	uid_t ru, eu, su;
	gid_t before[MAX_GROUPS], after[MAX_GROUPS];
	int nb = getgroups(MAX_GROUPS, before), na;
	char reason[256] = "";

	is_int(privdrop_to("root", 0, 0, reason, sizeof(reason)), -1, "uid 0: refused");
	is_str(reason, "refusing to run a session as uid 0", "uid 0: the reason says so");
	getresuid(&ru, &eu, &su);
	na = getgroups(MAX_GROUPS, after);
	ok(ru == getuid() && eu == geteuid() && su == eu && nb == na &&
	   same_groups(before, nb, after, na), "uid 0: nothing changed");
	is_int(privdrop_to(NULL, (uid_t)-1, TEST_GID, reason, sizeof(reason)), -1,
	       "uid -1: refused");
	is_str(reason, "invalid uid or gid", "uid -1: the reason says so");
	is_int(privdrop_to(NULL, TEST_UID, (gid_t)-1, reason, sizeof(reason)), -1,
	       "gid -1: refused");
	is_int(privdrop_to(NULL, 0, 0, NULL, 0), -1, "uid 0: refused with no room for a reason");
}

static void test_not_root(void)
{
	char reason[256] = "";
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (geteuid() == 0) {
		/* Covered below: the same calls made again after a drop. */
		return;
	}
	getresuid(&ru, &eu, &su);
	getresgid(&rg, &eg, &sg);
	if (ru == eu && eu == su && rg == eg && eg == sg)
		is_int(privdrop_to(NULL, eu, eg, reason, sizeof(reason)), 0,
		       "not root: running as the user already is success");
	else
		tap_skip("real, effective and saved ids differ", "not root: already the user");
	is_int(privdrop_to(NULL, eu + 1, eg, reason, sizeof(reason)), -1,
	       "not root: another uid is refused");
	ok(strncmp(reason, "not root and not running as uid ", 32) == 0,
	   "not root: the reason says so (%s)", reason);
}

/* ---- checks as root --------------------------------------------------- */

static void test_drop(void)
{
	struct outcome o;
	bool got = drop_in_child(PREP_ROOT_GROUPS, NULL, TEST_UID, TEST_GID, &o);

	ok(got && o.rc == 0, "drop: to uid %d gid %d succeeds (%s)", TEST_UID, TEST_GID,
	   got ? o.reason : "no report");
	ok(got && ids_all(&o, TEST_UID, TEST_GID),
	   "drop: real, effective and saved uid and gid are the user's");
	ok(got && o.ngroups == 1 && o.groups[0] == TEST_GID,
	   "drop: root's supplementary groups 0-3 are gone; only the user's gid remains (%d)",
	   got ? o.ngroups : -1);
	ok(got && !o.root_back, "drop: setuid(0) and seteuid(0) fail afterwards");
	is_int(got ? o.again_same : -2, 0, "drop: asked again for the same ids, it is a no-op success");
	is_int(got ? o.again_other : -2, -1, "drop: asked for other ids once dropped, it fails");
	ok(got && strncmp(o.again_reason, "not root and not running as uid ", 32) == 0,
	   "drop: saying it is not root (%s)", got ? o.again_reason : "");
}

/* An account (not root) that is a member of some group other than its own
 * primary group, from the group database; NULL when there is none. */
static const struct passwd *account_with_groups(void)
{
	static struct passwd found;
	static char name[256];
	const struct passwd *pw = NULL;
	struct group *gr;

	setgrent();
	while (pw == NULL && (gr = getgrent()) != NULL) {
		char **m;

		for (m = gr->gr_mem; m != NULL && *m != NULL; m++) {
			const struct passwd *p = getpwnam(*m);

			if (p != NULL && p->pw_uid != 0 && p->pw_gid != gr->gr_gid &&
			    strlen(p->pw_name) < sizeof(name)) {
				snprintf(name, sizeof(name), "%s", p->pw_name);
				found = *p;
				found.pw_name = name;
				pw = &found;
				break;
			}
		}
	}
	endgrent();
	return pw;
}

static void test_account_groups(void)
{
	const struct passwd *pw = account_with_groups();
	gid_t want[MAX_GROUPS];
	int nwant = MAX_GROUPS;
	struct outcome o;
	bool got;

	if (pw == NULL || getgrouplist(pw->pw_name, pw->pw_gid, want, &nwant) < 0) {
		tap_skip("no account with supplementary groups in the group database",
			 "drop: an account's supplementary groups");
		return;
	}
	got = drop_in_child(PREP_ROOT_GROUPS, pw->pw_name, pw->pw_uid, pw->pw_gid, &o);
	ok(got && o.rc == 0 && ids_all(&o, pw->pw_uid, pw->pw_gid),
	   "drop: to account %s (uid %lu) succeeds", pw->pw_name, (unsigned long)pw->pw_uid);
	ok(got && nwant > 1 && same_groups(o.groups, o.ngroups, want, nwant),
	   "drop: %s gets exactly its %d groups", pw->pw_name, nwant);
	ok(got && (pw->pw_gid == 0 || !has_group(o.groups, o.ngroups, 0)) && !o.root_back,
	   "drop: root's group 0 does not survive, root does not come back");
}

static void test_failed_drop(void)
{
	struct outcome o;
	bool got;

	got = drop_in_child(PREP_NO_SETUID, NULL, TEST_UID, TEST_GID, &o);
	if (got && o.rc == 99) {
		tap_skip("cannot take a capability away here", "drop failing at setresuid");
	} else {
		is_int(got ? o.rc : -2, -1, "drop failing at setresuid: reported as a failure");
		ok(got && strncmp(o.reason, "setresuid(54321): ", 18) == 0,
		   "drop failing at setresuid: the reason names the step (%s)", got ? o.reason : "");
		ok(got && o.ru == getuid() && o.eu == getuid() && o.su == getuid(),
		   "drop failing at setresuid: never the user's uid while told so");
	}

	got = drop_in_child(PREP_NO_SETGID, NULL, TEST_UID, TEST_GID, &o);
	if (got && o.rc == 99) {
		tap_skip("cannot take a capability away here", "drop failing at its first step");
		return;
	}
	is_int(got ? o.rc : -2, -1, "drop failing at setgroups: reported as a failure");
	ok(got && strncmp(o.reason, "setgroups: ", 11) == 0,
	   "drop failing at setgroups: the reason names the step (%s)", got ? o.reason : "");
	ok(got && ids_all(&o, getuid(), getgid()), "drop failing at its first step: no id changed");
}

int main(void)
{
	test_refusals();
	test_not_root();
	if (geteuid() != 0) {
		printf("# not root: the drops themselves need root\n");
		tap_skip("not root", "drop: uid, gid, groups");
		tap_skip("not root", "drop: an account's supplementary groups");
		tap_skip("not root", "drop failing part-way");
		return tap_done();
	}
	test_drop();
	test_account_groups();
	test_failed_drop();
	return tap_done();
}
