/*
 * test_tempdrop_writeback: WRITE BACK, the kept mail and what arrived
 * meanwhile back into the spool at QUIT (server/maildrop/
 * tempdrop_writeback.c), when the disk fills at each of its moves.
 *
 * A temp-drop session in a child deletes a message, gets new mail in the
 * spool and commits under a file size limit: set before QUIT, so the
 * temporary drop cannot take the new mail (the merge), or set by a hook
 * once the merge is synced, so the spool's fallocate fails (the extension).
 * As root the spool is also put on a small tmpfs and the disk really
 * filled.  Each time the commit must fail with the mail left in the
 * temporary drop exactly as kept, the spool exactly the new mail, no marker
 * or lock left, and the next login (either mode) must merge it all back.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "server/maildrop/tempdrop.h"
#include "tests/unit/server/maildrop/tdfixture.h"

/* The file size limit limit_hook sets once the merge is synced, so that
 * it hits the spool's fallocate. */
static rlim_t hook_limit;

static void limit_hook(const char *step)
{
	if (strcmp(step, "writeback-merged") == 0)
		limit_fsize(hook_limit);
}

/*
 * A temp-drop session in a child that gets the mail during delivered,
 * deletes message 2 and then commits under a file size limit: set after
 * the login (which must succeed) and before QUIT, or with at_merge by
 * limit_hook once the merge is synced.  Returns 0 if the commit succeeded,
 * 6 if it failed with the mail left in the temporary drop, 4 if it failed
 * otherwise, 3 if the login failed, 5 if the limit could not be set.
 */
static int child_commit_limited(const struct buf *during, rlim_t limit, bool at_merge)
{
	pid_t pid = td_fork();

	if (pid == 0) {
		struct maildrop *md = NULL;

		if (try_open(true, &md) != MAILDROP_OK)
			_exit(3);
		append_file(spool, during);
		maildrop_msg_delete(md, 1);
		if (at_merge) {
			hook_limit = limit;
			tempdrop_hook = limit_hook;
		} else {
			limit_fsize(limit);
		}
		if (commit(md) == MAILDROP_OK)
			_exit(0);
		_exit(last_stats.left_in_temp_drop ? 6 : 4);
	}
	return td_wait(pid);
}

/* Fills the file system holding path until it is full. */
static void fill_fs(const char *path)
{
	char chunk[4096];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	memset(chunk, 'f', sizeof(chunk));
	if (fd < 0)
		die(path);
	while (write(fd, chunk, sizeof(chunk)) == (ssize_t)sizeof(chunk))
		;
	close(fd);
}

/* Write-back: the temporary drop cannot take the new mail. */
static void test_disk_full_writeback_temp(const struct buf *orig, const struct buf *during)
{
	struct buf got = { 0 }, want = { 0 };
	struct maildrop *md;
	int rc;

	new_case();
	write_file(spool, orig, 0600);
	rc = child_commit_limited(during, 50000, false);
	read_file(spool, &got);
	ok(rc == 6, "write-back cannot append the new mail: failure, deletions made, mail left in "
	   "the temporary drop (%d)", rc);
	ok(buf_eq(&got, during) && !exists(mpath), "the spool holds just the new mail, no marker");
	msgs(&want, "a c", 20000);
	read_file(tpath, &got);
	ok(buf_eq(&got, &want), "the temporary drop holds exactly the kept messages");
	md = open_ok(false);
	buf_addb(&want, during);
	read_file(spool, &got);
	ok(md != NULL && maildrop_count(md) == 3 && buf_eq(&got, &want) && !exists(tpath),
	   "next login (server mode) merges them: kept + new, once each");
	if (md != NULL)
		maildrop_close(md);
	buf_free(&got);
	buf_free(&want);
}

/* Write-back: the spool cannot be extended (fallocate past the limit, set
 * once the temporary drop is complete). */
static void test_disk_full_writeback_spool(const struct buf *orig, const struct buf *during)
{
	struct buf got = { 0 }, want = { 0 };
	struct maildrop *md;
	int rc;

	new_case();
	write_file(spool, orig, 0600);
	rc = child_commit_limited(during, (rlim_t)during->len + 10, true);
	read_file(spool, &got);
	ok(rc == 6 && buf_eq(&got, during), "fallocate fails: mail left in the temporary drop, "
	   "spool exactly the new mail (%d)", rc);
	msgs(&want, "a c", 20000);
	read_file(tpath, &got);
	ok(buf_eq(&got, &want) && !exists(mpath), "fallocate fails: temporary drop cut back to "
	   "the kept messages, no marker");
	md = open_ok(true);
	ok(md != NULL && maildrop_count(md) == 3, "next login (temp-drop mode): kept + new");
	if (md != NULL)
		maildrop_close(md);
	buf_addb(&want, during);
	read_file(spool, &got);
	ok(buf_eq(&got, &want), "and after it everything is back in the spool");
	buf_free(&got);
	buf_free(&want);
}

/* Leaves the file system of filler full but for room for the lock. */
static void fill_fs_but_lock(const char *filler)
{
	int fd;

	fill_fs(filler);
	fd = open(filler, O_WRONLY);
	if (fd < 0 || ftruncate(fd, fsize(filler) - 16384) < 0)
		die("filler");
	close(fd);
}

/* On the small tmpfs at mnt, already holding the spool. */
static void full_disk_at_writeback(const char *mnt, const struct buf *orig,
				   const struct buf *during)
{
	char filler[800];
	struct buf got = { 0 }, want = { 0 };
	struct maildrop *md;

	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	md = open_ok(true);
	append_file(spool, during);
	fill_fs_but_lock(filler);
	ok(md != NULL && commit(md) != MAILDROP_OK && last_stats.left_in_temp_drop,
	   "full disk at the write-back: failure, mail left in the temporary drop");
	read_file(spool, &got);
	ok(buf_eq(&got, during) && !exists(mpath) && !exists(lockp),
	   "full disk: the spool holds exactly the new mail, no marker, no lock");
	unlink(filler);
	md = open_ok(false);
	buf_addb(&want, orig);
	buf_addb(&want, during);
	read_file(spool, &got);
	ok(md != NULL && buf_eq(&got, &want), "room again: the next login writes it all back");
	if (md != NULL)
		maildrop_close(md);
	buf_free(&got);
	buf_free(&want);
}

/* A real full disk: the spool on a small tmpfs. */
static void test_disk_full_tmpfs_spool(const struct buf *orig, const struct buf *during)
{
	char mnt[620];
	const char *why = small_fs_case(mnt, sizeof(mnt), "smallfs", 256);

	if (why != NULL) {
		tap_skip(why, "a real full disk at the spool's fallocate");
		return;
	}
	snprintf(spool, sizeof(spool), "%s/spool", mnt);
	snprintf(lockp, sizeof(lockp), "%s/spool.lock", mnt);
	write_file(spool, orig, 0600);
	full_disk_at_writeback(mnt, orig, during);
	small_fs_umount(mnt);
}

static void test_disk_full(void)
{
	struct buf orig = { 0 }, during = { 0 };

	msgs(&orig, "a b c", 20000);
	add_msg(&during, "during", 30000);
	test_disk_full_writeback_temp(&orig, &during);
	test_disk_full_writeback_spool(&orig, &during);
	test_disk_full_tmpfs_spool(&orig, &during);
	buf_free(&orig);
	buf_free(&during);
}

int main(void)
{
	td_run("test_tempdrop_writeback", test_disk_full, TD_END);
	return tap_done();
}
