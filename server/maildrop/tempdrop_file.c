/*
 * tempdrop_file: the places temp-drop mode works in -- the temp directory
 * and the temporary drop in it -- and the small file helpers its moves
 * share.  Above tempdrop_marker.c (it removes the marker when it undoes an
 * append), below the moves (tempdrop_movein.c, tempdrop_writeback.c,
 * tempdrop_recover.c) and the sessions (tempdrop.c, tempdrop_server.c);
 * calls mbox.c (to adopt the temporary drop), fileops.c and lib/.  Runs
 * as the user, after the privilege drop.
 *
 * The temporary drop is <temp-dir>/<temp-name>: a directory that belongs to
 * the session's uid and that group and others cannot write, opened with
 * O_NOFOLLOW; the file is opened relative to it, must be a regular file
 * with one link, owned by the user, mode 0600, and is locked with fcntl
 * (no dot-lock: nobody else writes there).  That lock is also what tells a
 * second session of the user, in either mode, that one is running.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/reason.h"
#include "lib/safeopen.h"
#include "server/maildrop/fileops.h"
#include "server/maildrop/tempdrop_int.h"

/* The temporary drop can be unlinked by the session that held it between
 * our open and our lock; then it is opened again, a few times at most. */
#define TD_OPEN_TRIES 3

/* The crash tests' hook (tempdrop.h): defined here, in the lowest file of
 * temp-drop mode that reaches a step. */
void (*tempdrop_hook)(const char *step);

int tempdrop_file_size(int fd, uint64_t *size_r)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	*size_r = (uint64_t)st.st_size;
	return 0;
}

/* 1 if fd[off, off+len) is all zero bytes, 0 if not, -1 on error. */
int tempdrop_all_zero(int fd, uint64_t off, uint64_t len, unsigned char *buf)
{
	uint64_t done = 0;

	while (done < len) {
		size_t n = (size_t)fileops_min64(len - done, MBOX_MOVE_BLOCK), i;

		if (safe_pread_all(fd, buf, n, (off_t)(off + done)) < 0)
			return -1;
		for (i = 0; i < n; i++)
			if (buf[i] != 0)
				return 0;
		done += n;
	}
	return 1;
}

/* Whether a non-empty file starts with a From_ line (an mbox). */
int tempdrop_starts_with_from(int fd, uint64_t size, bool *yes_r)
{
	unsigned char b[MBOX_FROM_CHECK];
	size_t n = (size_t)fileops_min64(size, sizeof(b));

	if (safe_pread_all(fd, b, n, 0) < 0)
		return -1;
	*yes_r = mbox_from_line_valid(b, n);
	return 0;
}

/* Newlines to write between a file of `size` bytes and mail appended to it
 * so that the appended From_ line follows an empty line (mbox.h): none if
 * the file is empty or already ends with one, else one or two. */
int tempdrop_join_pad(int fd, uint64_t size, uint64_t *pad_r)
{
	unsigned char b[3] = { 0, 0, 0 };
	size_t n = (size_t)fileops_min64(size, 3);

	*pad_r = 0;
	if (size == 0)
		return 0;
	if (safe_pread_all(fd, b + 3 - n, n, (off_t)(size - n)) < 0)
		return -1;
	if (b[2] != '\n')
		*pad_r = 2;
	else if (!(n >= 2 && b[1] == '\n') && !(n == 3 && b[1] == '\r' && b[0] == '\n'))
		*pad_r = 1;
	return 0;
}

static const unsigned char newlines[2] = { '\n', '\n' };

/* Makes the spool [from, to) allocated zero bytes: fallocate(2), or zeros
 * written where the file system has no fallocate.  Returns 0 or -1. */
int tempdrop_extend_spool(int fd, uint64_t from, uint64_t to, unsigned char *buf)
{
	uint64_t done = 0;

	if (fallocate(fd, 0, (off_t)from, (off_t)(to - from)) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS)
		return -1;
	memset(buf, 0, MBOX_MOVE_BLOCK);
	while (from + done < to) {
		size_t n = (size_t)fileops_min64(to - from - done, MBOX_MOVE_BLOCK);

		if (safe_pwrite_all(fd, buf, n, (off_t)(from + done)) < 0)
			return -1;
		done += n;
	}
	return 0;
}

/* Cuts the temporary drop back to size, durably. */
int tempdrop_truncate_temp(struct mbox *tm, uint64_t size)
{
	if (ftruncate(tm->fd, (off_t)size) < 0 || fsync(tm->fd) < 0)
		return -1;
	return 0;
}

/* The temporary drop after its mail went back into the spool: removed, or
 * (keep-temp-drop, or when the session goes on using it) truncated.
 * Durable before the caller removes the marker.  Returns 0 or -1. */
int tempdrop_empty_temp(const struct td_ctx *c, struct mbox *tm, bool may_unlink)
{
	if (!may_unlink || c->keep)
		return tempdrop_truncate_temp(tm, 0);
	if (unlinkat(c->dirfd, c->name, 0) < 0 || fsync(c->dirfd) < 0)
		return -1;
	return 0;
}

/* A file name popper may use for the temporary drop: one path component,
 * not one of popper's own state files (the default directory is the state
 * directory). */
bool tempdrop_name_ok(const char *name)
{
	static const char *const reserved[] = { "uids", MBOX_JOURNAL, "tempdrop." };
	size_t i;

	if (name == NULL || name[0] == '\0' || strchr(name, '/') != NULL ||
	    strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strlen(name) > 255)
		return false;
	for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strncmp(name, reserved[i], strlen(reserved[i])) == 0)
			return false;
	return true;
}

/* Opens the temp directory: no symlink, owned by the session's uid, not
 * writable by group or others.  *missing_r: it does not exist. */
enum maildrop_status tempdrop_open_dir(const char *dir, int *fd_r, bool *missing_r,
					  char *reason, size_t reasonsize)
{
	struct stat st;
	int fd;

	*fd_r = -1;
	*missing_r = false;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		*missing_r = errno == ENOENT;
		reason_set(reason, reasonsize, "temp-dir %s: %s", dir,
			   errno == ELOOP || errno == ENOTDIR ?
			   "a symbolic link or not a directory" : strerror(errno));
		return MAILDROP_TEMP;
	}
	if (fstat(fd, &st) < 0) {
		reason_set(reason, reasonsize, "temp-dir %s: %s", dir, strerror(errno));
		close(fd);
		return MAILDROP_TEMP;
	}
	if (st.st_uid != geteuid()) {
		reason_set(reason, reasonsize, "temp-dir %s belongs to uid %lu, not to the session's uid %lu",
			   dir, (unsigned long)st.st_uid, (unsigned long)geteuid());
		close(fd);
		return MAILDROP_TEMP;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		reason_set(reason, reasonsize, "temp-dir %s is writable by group or others", dir);
		close(fd);
		return MAILDROP_TEMP;
	}
	*fd_r = fd;
	return MAILDROP_OK;
}

/* Opens (create: creating, durably) and locks the temporary drop without
 * waiting.  *tm_r NULL with OK: it does not exist (only without create). */
enum maildrop_status tempdrop_lock_drop(const struct td_ctx *c, bool create, struct mbox **tm_r,
					   char *reason, size_t reasonsize)
{
	struct safeopen_rules rules;
	enum maildrop_status st;
	const char *why = NULL;
	int i;

	*tm_r = NULL;
	memset(&rules, 0, sizeof(rules));
	rules.check_owner = true;
	rules.owner = geteuid();
	rules.no_group_access = true;
	rules.no_other_access = true;
	for (i = 0; i < TD_OPEN_TRIES; i++) {
		struct stat a, b;
		struct mbox *tm;
		bool created = false;
		int fd = safe_openat(c->dirfd, c->name, O_RDWR, 0, &rules, NULL, &why);

		if (fd < 0 && errno == ENOENT) {
			if (!create)
				return MAILDROP_OK;
			fd = safe_openat(c->dirfd, c->name, O_RDWR | O_CREAT | O_EXCL, 0600, &rules,
					 NULL, &why);
			if (fd < 0 && errno == EEXIST)
				continue;
			created = fd >= 0;
		}
		if (fd < 0) {
			int e = errno;

			reason_set(reason, reasonsize, "temporary drop %s: %s", c->tpath,
				   why != NULL && e != EACCES && e != EIO ? why : strerror(e));
			return (e == ELOOP || e == EINVAL || e == EPERM || e == EACCES) ?
				MAILDROP_PERM : MAILDROP_TEMP;
		}
		/* Its name must outlive a crash before mail is moved into it. */
		if (created && fsync(c->dirfd) < 0) {
			reason_set(reason, reasonsize, "fsync of temp-dir for %s: %s", c->tpath,
				   strerror(errno));
			close(fd);
			return MAILDROP_TEMP;
		}
		st = mbox_adopt(fd, c->tpath, c->state_dir, TEMPDROP_JOURNAL, &tm, reason, reasonsize);
		if (st == MAILDROP_IN_USE)
			reason_set(reason, reasonsize,
				   "temporary drop %s is locked: another session of the user is active",
				   c->tpath);
		if (st != MAILDROP_OK)
			return st;
		/* Locked -- but is it still the file under that name?  The
		 * session that held the lock may have removed it meanwhile. */
		if (fstat(tm->fd, &a) == 0 && a.st_nlink == 1 &&
		    fstatat(c->dirfd, c->name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
			*tm_r = tm;
			return MAILDROP_OK;
		}
		mbox_free(tm);
	}
	reason_set(reason, reasonsize, "temporary drop %s keeps changing under us", c->tpath);
	return MAILDROP_TEMP;
}

int tempdrop_ctx_init(struct td_ctx *c, const struct maildrop_settings *set, int dirfd,
		    const char *tpath, char *reason, size_t reasonsize)
{
	int n;

	memset(c, 0, sizeof(*c));
	c->state_dir = set->state_dir;
	c->dirfd = dirfd;
	c->name = set->temp_name;
	c->tpath = tpath;
	c->keep = set->keep_temp_drop;
	n = snprintf(c->marker_path, sizeof(c->marker_path), "%s/%s", set->state_dir,
		     TEMPDROP_MARKER);
	if (n < 0 || (size_t)n >= sizeof(c->marker_path)) {
		reason_set(reason, reasonsize, "state directory path too long");
		return -1;
	}
	return 0;
}

/* Undoes an append to the temporary drop that never reached the spool. */
void tempdrop_undo_append(const struct td_ctx *c, struct mbox *tm, uint64_t base)
{
	if (tempdrop_truncate_temp(tm, base) < 0) {
		log_error("cannot cut the temporary drop %s back to %" PRIu64 " octets: %s; "
			  "the marker stays and the next login does it", c->tpath, base,
			  strerror(errno));
		return;
	}
	if (tempdrop_marker_remove(c) < 0)
		log_warning("cannot remove the temp-drop marker %s: %s", c->marker_path,
			    strerror(errno));
}

int tempdrop_append_spool(const struct td_ctx *c, struct mbox *sp, struct mbox *tm,
			  const struct marker *mk, struct uidstore_hasher *hs, const char *stepname,
			  char *reason, size_t reasonsize)
{
	int e;

	if ((mk->pad > 0 &&
	     safe_pwrite_all(tm->fd, newlines, (size_t)mk->pad, (off_t)mk->base) < 0) ||
	    fileops_copy(sp->fd, 0, tm->fd, mk->base + mk->pad, mk->len, c->buf, hs,
			 &tempdrop_hook, stepname) < 0 ||
	    fsync(tm->fd) < 0) {
		e = errno;
		tempdrop_undo_append(c, tm, mk->base);
		reason_set(reason, reasonsize, "appending %s to the temporary drop %s: %s",
			   sp->path, c->tpath, strerror(e));
		return -1;
	}
	return 0;
}

int tempdrop_path(const struct maildrop_settings *set, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%s", set->temp_dir, set->temp_name);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

