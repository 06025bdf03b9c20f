/*
 * test_lockdir: the dot-lock's directory as root opens it
 * (server/lockdir.c): walked from "/" without following a link a user
 * could have made, every directory on the way root's or the user's; an
 * administrator's links (absolute, relative, "..") still work; and a
 * directory swapped after the open is noticed while every lock operation
 * stays in the directory that was opened.
 *
 * Runs as root or not ("root" is also whoever runs the test).  The cases
 * that give a directory or a link to another account need root and say
 * so when they skip.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/lockdir.h"
#include "tests/unit/tap.h"

#define USER_UID 4343      /* the account the lock is made for */
#define OTHER_UID 4344     /* someone else */

static char root[256];
static uid_t user;         /* USER_UID as root, else ourselves */
static bool as_root;

static void rm_rf(const char *path)
{
	char cmd[700];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		die(cmd);
}

/* root/<rel> into out. */
static const char *at(const char *rel, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", root, rel);
	return out;
}

static void mkdir_mode(const char *rel, mode_t mode)
{
	char p[600];

	if (mkdir(at(rel, p, sizeof(p)), mode) < 0 || chmod(p, mode) < 0)
		die(p);
}

static void link_to(const char *target, const char *rel)
{
	char p[600];

	if (symlink(target, at(rel, p, sizeof(p))) < 0)
		die(p);
}

static bool same_dir(const struct lockdir *ld, const char *rel)
{
	char p[600];
	struct stat st;

	return stat(at(rel, p, sizeof(p)), &st) == 0 && st.st_dev == ld->id.dev &&
	       st.st_ino == ld->id.ino;
}

/* lockdir_open of root/<rel>: 0 or the errno; reason into why. */
static int open_rel(const char *rel, struct lockdir *ld, char *why, size_t size)
{
	char p[600];

	why[0] = '\0';
	if (lockdir_open(at(rel, p, sizeof(p)), user, ld, why, size) == 0)
		return 0;
	return errno;
}

static void test_plain(void)
{
	struct lockdir ld;
	char why[512];
	struct stat st;

	mkdir_mode("spool", 0755);
	is_int(open_rel("spool/alice.lock", &ld, why, sizeof(why)), 0, "a plain path opens (%s)", why);
	ok(ld.fd >= 0 && same_dir(&ld, "spool") && fstat(ld.fd, &st) == 0 && S_ISDIR(st.st_mode),
	   "the descriptor is the lock's directory");
	is_str(ld.name, "alice.lock", "the name is the lock's");
	lockdir_close(&ld);
	ok(ld.fd == -1, "closed");
	lockdir_close(&ld);
	ok(1, "closing twice is harmless");

	is_int(open_rel("spool/./alice.lock", &ld, why, sizeof(why)), 0, "\".\" is skipped");
	lockdir_close(&ld);
	mkdir_mode("spool/sub", 0755);
	is_int(open_rel("spool/sub/../alice.lock", &ld, why, sizeof(why)), 0, "\"..\" is the real parent");
	ok(same_dir(&ld, "spool"), "and leads to it");
	lockdir_close(&ld);
	rmdir(at("spool/sub", why, sizeof(why)));
}

static void test_refused_paths(void)
{
	struct lockdir ld;
	char why[512];
	int fd;

	is_int(open_rel("missing/alice.lock", &ld, why, sizeof(why)), ENOENT,
	       "a missing directory: ENOENT (%s)", why);
	ok(ld.fd == -1, "and nothing open");
	fd = open(at("afile", why, sizeof(why)), O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0)
		die("afile");
	close(fd);
	is_int(open_rel("afile/alice.lock", &ld, why, sizeof(why)), ENOTDIR,
	       "a file on the way: ENOTDIR (%s)", why);
	ok(lockdir_open("relative/alice.lock", user, &ld, why, sizeof(why)) < 0 && errno == EINVAL,
	   "a relative path: EINVAL");
	is_int(open_rel("spool/", &ld, why, sizeof(why)), EINVAL, "a path ending in /: EINVAL");
	is_int(open_rel("spool/..", &ld, why, sizeof(why)), EINVAL, "a path ending in ..: EINVAL");
}

/* Links only root can have made are followed; relative ones from the
 * directory they are in. */
static void test_admin_links(void)
{
	struct lockdir ld;
	char why[512], p[600];
	int i;

	link_to(at("spool", p, sizeof(p)), "abs");
	is_int(open_rel("abs/alice.lock", &ld, why, sizeof(why)), 0,
	       "an absolute link in a directory only root can change is followed (%s)", why);
	ok(same_dir(&ld, "spool"), "to its target");
	lockdir_close(&ld);

	mkdir_mode("var", 0755);
	mkdir_mode("var/spool", 0755);
	link_to("../../spool", "var/spool/mail");
	is_int(open_rel("var/spool/mail/alice.lock", &ld, why, sizeof(why)), 0,
	       "a relative link with \"..\" (/var/spool/mail -> ../mail) is followed (%s)", why);
	ok(same_dir(&ld, "spool"), "to its target");
	lockdir_close(&ld);

	/* Sticky and writable by all, like /tmp: only the owner may replace
	 * an entry, so our link there is still ours. */
	mkdir_mode("sticky", 01777);
	link_to(at("spool", p, sizeof(p)), "sticky/link");
	is_int(open_rel("sticky/link/alice.lock", &ld, why, sizeof(why)), 0,
	       "our link in a sticky directory is followed (%s)", why);
	lockdir_close(&ld);

	/* A chain one longer than the limit, and a loop. */
	for (i = 0; i <= LOCKDIR_MAX_LINKS; i++) {
		char name[32], target[32];

		snprintf(name, sizeof(name), "chain%d", i);
		if (i == LOCKDIR_MAX_LINKS)
			snprintf(target, sizeof(target), "spool");
		else
			snprintf(target, sizeof(target), "chain%d", i + 1);
		link_to(target, name);
	}
	is_int(open_rel("chain1/alice.lock", &ld, why, sizeof(why)), 0,
	       "a chain of %d links is followed", LOCKDIR_MAX_LINKS);
	lockdir_close(&ld);
	is_int(open_rel("chain0/alice.lock", &ld, why, sizeof(why)), ELOOP,
	       "one link more: ELOOP (%s)", why);
	link_to("loop", "loop");
	is_int(open_rel("loop/alice.lock", &ld, why, sizeof(why)), ELOOP, "a loop: ELOOP");
}

/* Links a user could have made are never followed. */
static void test_user_links(void)
{
	struct lockdir ld;
	char why[512], p[600];

	/* A directory others can write (not sticky): anyone could have
	 * planted the link. */
	mkdir_mode("open", 0777);
	link_to(at("spool", p, sizeof(p)), "open/Mail");
	is_int(open_rel("open/Mail/inbox.lock", &ld, why, sizeof(why)), EPERM,
	       "a link in a directory others can write is refused: EPERM");
	ok(strstr(why, "open/Mail is a symbolic link in a directory a user can write") != NULL,
	   "and the reason says so (%s)", why);

	if (!as_root) {
		tap_skip("needs root to give a home to another account",
			 "a link in the user's own home is refused");
		tap_skip("needs root to give a link to another account",
			 "a user's link in a directory only root can change is refused");
		return;
	}
	/* ~/Mail -> a root-owned directory: the attack of issue 9. */
	mkdir_mode("home", 0755);
	if (chown(at("home", p, sizeof(p)), USER_UID, USER_UID) < 0)
		die("chown");
	link_to(at("spool", p, sizeof(p)), "home/Mail");
	is_int(open_rel("home/Mail/inbox.lock", &ld, why, sizeof(why)), EPERM,
	       "a link in the user's own home is refused (%s)", why);

	link_to(at("spool", p, sizeof(p)), "userlink");
	if (lchown(at("userlink", p, sizeof(p)), USER_UID, USER_UID) < 0)
		die("lchown");
	is_int(open_rel("userlink/alice.lock", &ld, why, sizeof(why)), EPERM,
	       "a user's link in a directory only root can change is refused (%s)", why);
}

static void test_owners(void)
{
	struct lockdir ld;
	char why[512], p[600];

	if (!as_root) {
		tap_skip("needs root to give directories to other accounts",
			 "a directory of the user's on the way is accepted");
		tap_skip("needs root to give directories to other accounts",
			 "a directory of another account on the way is refused");
		tap_skip("needs root to give directories to other accounts",
			 "also as the lock's own directory");
		return;
	}
	mkdir_mode("mine", 0700);
	mkdir_mode("mine/Mail", 0700);
	if (chown(at("mine", p, sizeof(p)), USER_UID, USER_UID) < 0 ||
	    chown(at("mine/Mail", p, sizeof(p)), USER_UID, USER_UID) < 0)
		die("chown");
	is_int(open_rel("mine/Mail/inbox.lock", &ld, why, sizeof(why)), 0,
	       "a directory of the user's on the way is accepted (%s)", why);
	lockdir_close(&ld);

	mkdir_mode("theirs", 0755);
	mkdir_mode("theirs/Mail", 0755);
	if (chown(at("theirs", p, sizeof(p)), OTHER_UID, OTHER_UID) < 0)
		die("chown");
	is_int(open_rel("theirs/Mail/inbox.lock", &ld, why, sizeof(why)), EPERM,
	       "a directory of another account on the way is refused (%s)", why);
	if (chown(at("theirs", p, sizeof(p)), 0, 0) < 0 ||
	    chown(at("theirs/Mail", p, sizeof(p)), OTHER_UID, OTHER_UID) < 0)
		die("chown");
	is_int(open_rel("theirs/Mail/inbox.lock", &ld, why, sizeof(why)), EPERM,
	       "also as the lock's own directory (%s)", why);
}

/* Opened, then swapped: noticed, and the lock operations stay put. */
static void test_swapped(void)
{
	struct lockdir ld;
	struct dotlock_loc loc;
	struct dotlock_id id;
	char why[512], p[600], q[600], shown[600];
	pid_t me = getpid();

	mkdir_mode("box", 0755);
	mkdir_mode("other", 0755);
	is_int(open_rel("box/inbox.lock", &ld, why, sizeof(why)), 0, "swap: opened");
	at("box/inbox.lock", shown, sizeof(shown));
	ok(lockdir_still_there(&ld, shown, why, sizeof(why)), "swap: unchanged, still there");
	loc = lockdir_loc(&ld, shown);
	is_int(dotlock_acquire_at(&loc, me, 0, &id, why, sizeof(why)), DOTLOCK_OK,
	       "swap: the lock is made in the opened directory");

	/* The directory moves aside and a symlink takes its name. */
	if (rename(at("box", p, sizeof(p)), at("box.moved", q, sizeof(q))) < 0)
		die("rename");
	link_to(at("other", p, sizeof(p)), "box");
	ok(!lockdir_still_there(&ld, shown, why, sizeof(why)), "swap: a symlink in its place is noticed");
	ok(strstr(why, "not followed") == NULL && strstr(why, "another directory") != NULL,
	   "swap: our own link leads to another directory (%s)", why);
	is_int(dotlock_clear_at(ld.fd, ld.name, me, id.dev, id.ino), DOTLOCK_CLEARED,
	       "swap: the lock is removed from the directory it was made in");
	ok(access(at("box.moved/inbox.lock", p, sizeof(p)), F_OK) < 0 &&
	   access(at("other/inbox.lock", q, sizeof(q)), F_OK) < 0,
	   "swap: from the moved directory, nothing done in the other one");

	/* A new real directory of the same name. */
	unlink(at("box", p, sizeof(p)));
	mkdir_mode("box", 0755);
	ok(!lockdir_still_there(&ld, shown, why, sizeof(why)),
	   "swap: a new directory of the same name is noticed (%s)", why);
	rmdir(at("box", p, sizeof(p)));
	ok(!lockdir_still_there(&ld, shown, why, sizeof(why)), "swap: so is a missing one (%s)", why);
	lockdir_close(&ld);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	as_root = geteuid() == 0;
	user = as_root ? USER_UID : geteuid();
	umask(022);
	snprintf(root, sizeof(root), "%s/test_lockdir.XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
	if (mkdtemp(root) == NULL)
		die("mkdtemp");

	test_plain();
	test_refused_paths();
	test_admin_links();
	test_user_links();
	test_owners();
	test_swapped();

	rm_rf(root);
	return tap_done();
}
