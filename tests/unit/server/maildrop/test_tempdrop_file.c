/*
 * test_tempdrop_file: the temp directory and the temporary drop file
 * (server/maildrop/tempdrop_file.c: tempdrop_open_dir, tempdrop_lock_drop,
 * tempdrop_name_ok), as a temp-drop login meets them.
 *
 * With the temporary drop in a temp-dir of its own: a round trip through
 * it; a temp-dir writable by group or others, a symbolic link, a missing
 * one or (as root) one of another uid is refused with the spool untouched,
 * while server mode does not care about a missing one; a temporary drop
 * that is a symbolic link, has two links or is readable by others is
 * refused and nothing behind it touched; and temp-names that would collide
 * with popper's own state files, or are not one name, are refused.  All in
 * one case directory: each test starts from the modes the one before left.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/server/maildrop/tdfixture.h"

/* ---- the temp directory and the file ------------------------------------------ */

static void test_temp_dir_elsewhere(const struct buf *orig)
{
	struct buf got = { 0 };
	struct maildrop *md = open_ok(true);

	ok(md != NULL && exists(tpath) && fsize(tpath) == (long long)orig->len,
	   "temp-dir elsewhere: the temporary drop is made there");
	if (md != NULL)
		commit(md);
	read_file(spool, &got);
	ok(buf_eq(&got, orig) && !exists(tpath), "temp-dir elsewhere: round trip");
	buf_free(&got);
}

static void test_temp_dir_writable(const char *other, const struct buf *orig)
{
	struct buf got = { 0 };
	struct maildrop *md;

	chmod(other, 0770);
	ok(try_open(true, &md) == MAILDROP_TEMP && strstr(last_reason, "writable") != NULL,
	   "group-writable temp-dir refused [SYS/TEMP] (%s)", last_reason);
	chmod(other, 0707);
	ok(try_open(true, &md) == MAILDROP_TEMP, "other-writable temp-dir refused");
	chmod(other, 0700);
	read_file(spool, &got);
	ok(buf_eq(&got, orig), "refused temp-dir: spool untouched");
	buf_free(&got);
}

static void test_temp_dir_link_or_missing(const char *other)
{
	char link_target[800];
	struct maildrop *md;

	snprintf(link_target, sizeof(link_target), "%s/tmplink", casedir);
	if (symlink(other, link_target) < 0)
		die("symlink");
	set_temp_dir(link_target);
	ok(try_open(true, &md) == MAILDROP_TEMP, "temp-dir that is a symbolic link refused (%s)",
	   last_reason);
	set_temp_dir(other);
	snprintf(link_target, sizeof(link_target), "%s/missing", casedir);
	set_temp_dir(link_target);
	ok(try_open(true, &md) == MAILDROP_TEMP, "missing temp-dir refused in temp-drop mode");
	md = open_ok(false);
	ok(md != NULL && maildrop_count(md) == 2, "missing temp-dir: server mode does not care");
	if (md != NULL)
		maildrop_close(md);
	set_temp_dir(other);
}

static void test_temp_dir_owner(const char *other)
{
	struct maildrop *md;

	if (geteuid() != 0) {
		tap_skip("needs root", "temp-dir of another uid refused");
		return;
	}
	if (chown(other, 4343, 4343) < 0)
		die("chown");
	ok(try_open(true, &md) == MAILDROP_TEMP && strstr(last_reason, "uid") != NULL,
	   "temp-dir of another uid refused (%s)", last_reason);
	if (chown(other, 0, 0) < 0)
		die("chown");
}

/* The file itself. */
static void test_temp_drop_file(const struct buf *orig)
{
	char link_target[800];
	struct buf got = { 0 };
	struct maildrop *md;

	snprintf(link_target, sizeof(link_target), "%s/elsewhere", casedir);
	write_file(link_target, orig, 0600);
	if (symlink(link_target, tpath) < 0)
		die("symlink");
	ok(try_open(true, &md) == MAILDROP_PERM, "temporary drop that is a symbolic link refused "
	   "[SYS/PERM] (%s)", last_reason);
	unlink(tpath);
	if (link(link_target, tpath) < 0)
		die("link");
	ok(try_open(true, &md) == MAILDROP_PERM, "temporary drop with two links refused");
	unlink(tpath);
	write_file(tpath, orig, 0644);
	ok(try_open(true, &md) == MAILDROP_PERM, "temporary drop readable by others refused");
	unlink(tpath);
	read_file(spool, &got);
	ok(buf_eq(&got, orig), "refused temporary drops: spool untouched");
	read_file(link_target, &got);
	ok(buf_eq(&got, orig), "refused temporary drops: the file behind them untouched");
	buf_free(&got);
}

/* Names that would collide with popper's own state files. */
static void test_temp_name_collisions(void)
{
	static const char *const bad[] = { "uids", "journal", "tempdrop.marker", "a/b", "..", "" };
	const char *saved = tname;
	struct maildrop_settings s;
	struct maildrop *md;
	size_t i;
	bool all = true;

	set_temp_dir(state);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tname = bad[i];
		settings(&s, true);
		if (maildrop_open(&s, &md, last_reason, sizeof(last_reason)) == MAILDROP_OK) {
			printf("# temp-name \"%s\" accepted\n", bad[i]);
			maildrop_close(md);
			all = false;
		}
	}
	tname = saved;
	set_temp_dir(state);
	ok(all, "temp-names that are popper's own state files, or not one name, refused");
}

/*
 * All in one case directory with the temporary drop in its own temp-dir:
 * each test starts from the spool and directory modes the one before left.
 */
static void test_files(void)
{
	struct buf orig = { 0 };
	char other[800];

	msgs(&orig, "a b", 300);

	new_case();
	write_file(spool, &orig, 0600);
	snprintf(other, sizeof(other), "%s/tmp", casedir);
	mkdir(other, 0700);
	set_temp_dir(other);
	test_temp_dir_elsewhere(&orig);
	test_temp_dir_writable(other, &orig);
	test_temp_dir_link_or_missing(other);
	test_temp_dir_owner(other);
	test_temp_drop_file(&orig);
	test_temp_name_collisions();
	buf_free(&orig);
}

int main(void)
{
	td_run("test_tempdrop_file", test_files, TD_END);
	return tap_done();
}
