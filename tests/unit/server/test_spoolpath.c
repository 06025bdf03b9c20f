/*
 * test_spoolpath: server/spoolpath.c — Qpopper's hash (with the "maida"
 * example of its sample configuration), every maildrop location rule, the
 * buffer limits, and the state directory: created with the right owner and
 * mode in a temporary tree, reused, and refused when it is a symlink or
 * belongs to someone else.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/spoolpath.h"
#include "tests/unit/tap.h"

static char tmpdir[512];

static void make_user(struct auth_user *u, const char *name, bool is_virtual)
{
	memset(u, 0, sizeof(*u));
	snprintf(u->name, sizeof(u->name), "%s", name);
	snprintf(u->account, sizeof(u->account), "%s", name);
	u->is_virtual = is_virtual;
	u->uid = geteuid();
	u->gid = getegid();
	snprintf(u->home, sizeof(u->home), "/home/%s", name);
}

static void test_hash(void)
{
	is_int(spoolpath_hash1("maida"), 'o', "maida -> o (Qpopper's sample)");
	/* a=97: 97 % 26 = 19 */
	is_int(spoolpath_hash1("a"), 't', "a -> t");
	/* r+o+o+t = 452; 452 % 26 = 10 */
	is_int(spoolpath_hash1("root"), 'k', "root -> k");
	/* only the first five characters count */
	is_int(spoolpath_hash1("abcdefgh"), spoolpath_hash1("abcde"), "characters after the fifth ignored");
	is_int(spoolpath_hash1("abcde"), 'b', "abcde -> b (495 %% 26 = 1)");
	/* bytes are unsigned: 0xff = 255, 255 % 26 = 21 */
	is_int(spoolpath_hash1("\xff"), 'v', "8-bit byte counted as unsigned");
	is_int(spoolpath_hash1(""), 'a', "empty name -> a");
}

static void test_maildrop(void)
{
	struct settings s;
	struct auth_user u;
	char path[PATH_MAX];
	char small[32];

	settings_init(&s);
	settings_apply(&s, "spool-dir", "/var/mail", false);
	settings_apply(&s, "virtual-spool-dir", "/var/spool/popper", false);
	make_user(&u, "maida", false);

	ok(spoolpath_maildrop(&s, &u, path, sizeof(path)) == 0, "plain spool");
	is_str(path, "/var/mail/maida", "<spool-dir>/<name>");
	s.hash_spool = 1;
	ok(spoolpath_maildrop(&s, &u, path, sizeof(path)) == 0, "hash-spool 1");
	is_str(path, "/var/mail/o/maida", "<spool-dir>/<hash>/<name>");
	s.hash_spool = 2;
	ok(spoolpath_maildrop(&s, &u, path, sizeof(path)) == 0, "hash-spool 2");
	is_str(path, "/var/mail/m/a/maida", "<spool-dir>/<c1>/<c2>/<name>");
	make_user(&u, "x", false);
	ok(spoolpath_maildrop(&s, &u, path, sizeof(path)) == 0, "hash-spool 2, one letter");
	is_str(path, "/var/mail/x/x/x", "a one-letter name repeats its letter");
	s.hash_spool = 0;

	make_user(&u, "maida", false);
	settings_apply(&s, "home-dir-mail", ".mail", false);
	ok(spoolpath_maildrop(&s, &u, path, sizeof(path)) == 0, "home-dir-mail");
	is_str(path, "/home/maida/.mail", "<home>/<home-dir-mail>");
	u.home[0] = '\0';
	ok(spoolpath_maildrop(&s, &u, path, sizeof(path)) < 0, "home-dir-mail without a home fails");
	settings_apply(&s, "home-dir-mail", "", false);

	make_user(&u, "maida@example.org", true);
	s.hash_spool = 1;
	ok(spoolpath_maildrop(&s, &u, path, sizeof(path)) == 0, "virtual user");
	is_str(path, "/var/spool/popper/maida@example.org", "<virtual-spool-dir>/<name>, no hash");
	s.hash_spool = 0;

	/* buffer limits: "/var/mail/maida" is 15 bytes + NUL */
	make_user(&u, "maida", false);
	ok(spoolpath_maildrop(&s, &u, small, 16) == 0 && strcmp(small, "/var/mail/maida") == 0,
	   "exact fit (16 bytes)");
	ok(spoolpath_maildrop(&s, &u, small, 15) < 0 && small[0] == '\0', "one byte short fails, empty result");
	ok(spoolpath_maildrop(&s, &u, small, 0) < 0, "size 0 fails");
	settings_apply(&s, "spool-dir", "/a/very/long/spool/directory/name/indeed", false);
	ok(spoolpath_maildrop(&s, &u, small, sizeof(small)) < 0, "long spool-dir overflows a small buffer");

	make_user(&u, "../etc", false);
	ok(spoolpath_maildrop(&s, &u, path, sizeof(path)) < 0, "invalid name refused");
	make_user(&u, "a/b", false);
	ok(spoolpath_maildrop(&s, &u, path, sizeof(path)) < 0, "name with / refused");
	settings_free(&s);
}

static mode_t mode_of(const char *path, uid_t *uid_r)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return (mode_t)-1;
	if (uid_r != NULL)
		*uid_r = st.st_uid;
	return st.st_mode;
}

static void test_state_dir(void)
{
	struct settings s;
	struct auth_user u;
	char state[1024], dir[PATH_MAX], want[PATH_MAX], reason[256], path[PATH_MAX];
	bool root = geteuid() == 0;
	uid_t owner = (uid_t)-1;
	mode_t m;

	settings_init(&s);
	snprintf(state, sizeof(state), "%s/var/lib/popper", tmpdir);
	settings_apply(&s, "state-dir", state, false);
	make_user(&u, "maida", false);
	if (root) {
		u.uid = 65534;   /* created as root, handed to the user */
		u.gid = 65534;
	}

	reason[0] = '\0';
	ok(spoolpath_state_dir(&s, &u, dir, sizeof(dir), reason, sizeof(reason)) == 0,
	   "state dir created with its parents (%s)", reason);
	snprintf(want, sizeof(want), "%s/maida", state);
	is_str(dir, want, "<state-dir>/<name>");
	m = mode_of(dir, &owner);
	ok(S_ISDIR(m) && (m & 07777) == 0700, "mode 0700 (%o)", (unsigned)(m & 07777));
	is_int(owner, u.uid, "owned by the session's account");
	snprintf(path, sizeof(path), "%s/var/lib", tmpdir);
	m = mode_of(path, NULL);
	ok(S_ISDIR(m) && (m & 07777) == 0755, "missing parents made 0755 despite the umask (%o)",
	   (unsigned)(m & 07777));
	ok(spoolpath_state_dir(&s, &u, dir, sizeof(dir), reason, sizeof(reason)) == 0,
	   "second call reuses it (%s)", reason);
	chmod(want, 0755);
	ok(spoolpath_state_dir(&s, &u, dir, sizeof(dir), reason, sizeof(reason)) == 0 &&
	   (mode_of(want, NULL) & 07777) == 0700, "a too-open mode is tightened");

	make_user(&u, "maida@example.org", true);
	if (root) {
		u.uid = 65534;
		u.gid = 65534;
	}
	ok(spoolpath_state_dir(&s, &u, dir, sizeof(dir), reason, sizeof(reason)) == 0,
	   "virtual user's state dir (%s)", reason);
	snprintf(want, sizeof(want), "%s/virtual/maida@example.org", state);
	is_str(dir, want, "<state-dir>/virtual/<name>");

	settings_free(&s);
}

/* What the state directory code refuses: symlinks, a group-writable
 * state-dir, a foreign owner, bad names and short buffers. */
static void test_state_dir_refusals(void)
{
	struct settings s;
	struct auth_user u;
	char state[1024], dir[PATH_MAX], reason[256], path[PATH_MAX];
	bool root = geteuid() == 0;
	uid_t owner = (uid_t)-1;

	settings_init(&s);
	snprintf(state, sizeof(state), "%s/var/lib/popper", tmpdir);
	settings_apply(&s, "state-dir", state, false);

	/* a symlink where the user's directory should be */
	make_user(&u, "mallory", false);
	if (root) {
		u.uid = 65534;
		u.gid = 65534;
	}
	snprintf(path, sizeof(path), "%s/mallory", state);
	ok(symlink(tmpdir, path) == 0, "plant a symlink");
	reason[0] = '\0';
	ok(spoolpath_state_dir(&s, &u, dir, sizeof(dir), reason, sizeof(reason)) < 0 && dir[0] == '\0',
	   "symlinked user state dir refused: %s", reason);
	unlink(path);

	/* the state dir itself a symlink */
	{
		struct settings s2;
		char link[1024];

		settings_init(&s2);
		snprintf(link, sizeof(link), "%s/statelink", tmpdir);
		ok(symlink(state, link) == 0, "symlink to the state dir");
		settings_apply(&s2, "state-dir", link, false);
		ok(spoolpath_state_dir(&s2, &u, dir, sizeof(dir), reason, sizeof(reason)) < 0,
		   "symlinked state-dir refused: %s", reason);
		settings_free(&s2);
	}

	/* a group-writable state dir lets others plant entries */
	chmod(state, 0775);
	ok(spoolpath_state_dir(&s, &u, dir, sizeof(dir), reason, sizeof(reason)) < 0,
	   "group-writable state-dir refused: %s", reason);
	chmod(state, 0755);

	if (root) {
		/* someone else's directory under our user's name */
		snprintf(path, sizeof(path), "%s/victim", state);
		mkdir(path, 0700);
		if (chown(path, 65533, 65533) < 0)
			printf("# chown: %s\n", strerror(errno));
		make_user(&u, "victim", false);
		u.uid = 65534;
		u.gid = 65534;
		ok(spoolpath_state_dir(&s, &u, dir, sizeof(dir), reason, sizeof(reason)) < 0,
		   "foreign owner refused: %s", reason);
		mode_of(path, &owner);
		is_int(owner, 65533, "and not handed over");
	} else {
		tap_skip("needs root", "foreign owner refused");
		make_user(&u, "other", false);
		u.uid = geteuid() + 1;
		ok(spoolpath_state_dir(&s, &u, dir, sizeof(dir), reason, sizeof(reason)) < 0,
		   "not root and not the user: refused (%s)", reason);
	}

	make_user(&u, "maida", false);
	ok(spoolpath_state_dir(&s, &u, dir, 10, reason, sizeof(reason)) < 0, "dir buffer too small");
	make_user(&u, "..", false);
	ok(spoolpath_state_dir(&s, &u, dir, sizeof(dir), reason, sizeof(reason)) < 0, "name .. refused");
	settings_free(&s);
}

/* A login killed part-way through making the state directories leaves
 * them half-made; the next login finishes the job. */
static void test_state_dir_resume(void)
{
	struct settings s;
	struct auth_user u;
	char state[1024], dir[PATH_MAX], reason[256], path[1100], want[PATH_MAX];
	bool root = geteuid() == 0;
	uid_t owner = (uid_t)-1;
	mode_t m;

	settings_init(&s);
	snprintf(state, sizeof(state), "%s/resume", tmpdir);
	settings_apply(&s, "state-dir", state, false);

	/* <state-dir>/virtual made 0700, killed before its chmod to 0755 */
	if (mkdir(state, 0755) < 0 || chmod(state, 0755) < 0)
		die(state);
	snprintf(path, sizeof(path), "%s/virtual", state);
	if (mkdir(path, 0700) < 0)
		die(path);
	make_user(&u, "v@example.org", true);
	if (root) {
		u.uid = 65534;
		u.gid = 65534;
	}
	ok(spoolpath_state_dir(&s, &u, dir, sizeof(dir), reason, sizeof(reason)) == 0,
	   "resume: a virtual directory left 0700 is used (%s)", reason);
	m = mode_of(path, NULL);
	is_int(m & 07777, 0755, "resume: and made searchable for the accounts below it");

	/* the user's directory made as root, killed before the chown */
	if (root) {
		snprintf(path, sizeof(path), "%s/late", state);
		if (mkdir(path, 0700) < 0 || chmod(path, 0700) < 0)
			die(path);
		make_user(&u, "late", false);
		u.uid = 65534;
		u.gid = 65534;
		ok(spoolpath_state_dir(&s, &u, dir, sizeof(dir), reason, sizeof(reason)) == 0,
		   "resume: an empty root-owned 0700 directory is ours, unfinished (%s)", reason);
		mode_of(path, &owner);
		is_int(owner, 65534, "resume: handed to the user now");

		/* not empty: someone else's business, never handed over */
		snprintf(path, sizeof(path), "%s/busy", state);
		if (mkdir(path, 0700) < 0 || chmod(path, 0700) < 0)
			die(path);
		snprintf(want, sizeof(want), "%s/busy/file", state);
		if (mkdir(want, 0700) < 0)
			die(want);
		make_user(&u, "busy", false);
		u.uid = 65534;
		u.gid = 65534;
		ok(spoolpath_state_dir(&s, &u, dir, sizeof(dir), reason, sizeof(reason)) < 0,
		   "resume: a root-owned directory with entries is refused");
		snprintf(want, sizeof(want), "%s/busy: owned by uid 0, not 65534", state);
		is_str(reason, want, "resume: the reason names the owner");
		mode_of(path, &owner);
		is_int(owner, 0, "resume: and it stays root's");
	} else {
		tap_skip("needs root", "resume: a directory left before its chown");
		tap_skip("needs root", "resume: a root-owned directory with entries");
	}

	settings_free(&s);
}

/* The exact reasons of the checks on state-dir itself and on the name. */
static void test_state_dir_reasons(void)
{
	struct settings s;
	struct auth_user u;
	char state[1024], dir[PATH_MAX], reason[256], path[1100], want[PATH_MAX];
	bool root = geteuid() == 0;

	settings_init(&s);
	snprintf(state, sizeof(state), "%s/resume", tmpdir);
	settings_apply(&s, "state-dir", state, false);
	chmod(state, 0757);
	make_user(&u, "maida", false);
	if (root) {
		u.uid = 65534;
		u.gid = 65534;
	}
	ok(spoolpath_state_dir(&s, &u, dir, sizeof(dir), reason, sizeof(reason)) < 0 && dir[0] == '\0',
	   "a state-dir writable by others is refused, no path handed back");
	snprintf(want, sizeof(want), "%s: writable by group or others", state);
	is_str(reason, want, "its reason");
	chmod(state, 0755);
	snprintf(path, sizeof(path), "%s/afile", tmpdir);
	{
		FILE *f = fopen(path, "w");

		if (f == NULL)
			die(path);
		fclose(f);
	}
	settings_apply(&s, "state-dir", path, false);
	ok(spoolpath_state_dir(&s, &u, dir, sizeof(dir), reason, sizeof(reason)) < 0,
	   "a state-dir that is a file is refused");
	snprintf(want, sizeof(want), "%s is a symbolic link or not a directory", path);
	is_str(reason, want, "its reason");
	settings_apply(&s, "state-dir", state, false);
	make_user(&u, "bad/name", false);
	ok(spoolpath_state_dir(&s, &u, dir, sizeof(dir), reason, sizeof(reason)) < 0, "bad name refused");
	is_str(reason, "invalid user name", "its reason");
	make_user(&u, "maida", false);
	ok(spoolpath_state_dir(&s, &u, dir, 10, reason, sizeof(reason)) < 0, "small buffer refused");
	is_str(reason, "state directory path is too long", "its reason");
	make_user(&u, "bad/name", false);
	ok(spoolpath_state_dir(&s, &u, dir, sizeof(dir), NULL, 0) < 0,
	   "a failure with no reason buffer is still reported");
	settings_free(&s);
}

int main(void)
{
	const char *t = getenv("TMPDIR");
	char cmd[600];

	umask(077);   /* as popper runs */
	snprintf(tmpdir, sizeof(tmpdir), "%s/test_spoolpath.XXXXXX", t != NULL && t[0] == '/' ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		printf("not ok 1 - mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_hash();
	test_maildrop();
	test_state_dir();
	test_state_dir_refusals();
	test_state_dir_resume();
	test_state_dir_reasons();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmpdir);
	return tap_done();
}
