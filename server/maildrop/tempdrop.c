/*
 * tempdrop: Qpopper's temp-drop ("normal") mode and the recovery of its
 * moves (contract in tempdrop.h).  Runs as the user, after the privilege
 * drop; the spool's dot-lock is taken through the locker (the monitor).
 *
 * The temporary drop is <temp-dir>/<temp-name>: a directory that belongs to
 * the session's uid and that group and others cannot write, opened with
 * O_NOFOLLOW; the file is opened relative to it, must be a regular file
 * with one link, owned by the user, mode 0600, and is locked with fcntl
 * (no dot-lock: nobody else writes there).  That lock is also what tells a
 * second session of the user, in either mode, that one is running.
 *
 * MOVE IN (login, spool locked):
 *   marker COPYING {T0 = temp drop size, S = spool size, spool dev/ino}
 *   append spool[0,S) to the temp drop (behind a leftover, which stays
 *   ahead), fsync; marker COPIED {+ hash of spool[0,S)}; remove [0,S) from
 *   the spool with the journaled commit of mbox_update.c; remove the marker;
 *   unlock the spool.  The session then works on the temporary drop.
 * WRITE BACK (QUIT, after the temp drop's own journaled commit left K
 * bytes; spool locked again):
 *   marker MERGE {K, S2 = spool size}; append spool[0,S2) to the temp drop,
 *   fsync (it is now the final mailbox, T = K + S2 bytes); marker EXTENDING;
 *   fallocate the spool to T (a full disk stops us here, before the spool's
 *   content changed); fsync; marker EXTENDED; write temp[0,T) over
 *   spool[0,T), fsync; empty the temp drop; remove the marker; unlock.
 * RECOVERY (every login, either mode, spool locked and its own journal
 *   recovered first):
 *   COPYING    truncate the temp drop to T0 (the spool was not touched).
 *   COPIED     if the spool still starts with the S copied bytes (size and
 *              hash) and the temp drop holds them, remove them from the
 *              spool; either way the move is then complete.
 *   MERGE      truncate the temp drop to K (the spool was not touched).
 *   EXTENDING  spool >= T with spool[S2,T) all zero: the extension was
 *              made, go on as EXTENDED (mail delivered after the crash
 *              can only sit at >= T); else undo as MERGE.
 *   EXTENDED   write temp[0,T) over spool[0,T) again (idempotent; later
 *              mail at >= T stays), fsync, empty the temp drop.
 *   A marker that does not parse or names another spool file is renamed
 *   to tempdrop.marker.bad.TIME and logged; nothing is touched.
 * Every step is idempotent and ordered so that each message is, at any
 * instant, in the spool or in the temporary drop (or in both only while a
 * marker says which copy counts): a kill at any system call loses nothing
 * and duplicates nothing.  A temporary drop that ends with a message
 * lacking the final empty line gets one (or two) newline bytes before the
 * appended mail, so the next From_ line stays a separator; they are mbox
 * framing, not message content (mbox.h).  With no mail to append (the
 * spool stayed empty) nothing is added: a session that deletes nothing
 * leaves the spool byte for byte as it found it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/safeopen.h"
#include "server/maildrop/fileops.h"
#include "server/maildrop/tempdrop.h"
#include "server/maildrop/uidstore.h"

#define MARKER_MAGIC "POPTDMK1"
#define MARKER_VERSION 1u
#define MARKER_SIZE 512              /* one sector: rewritten whole */
#define MARKER_SUM_OFF 64            /* bytes [0, 64) are checksummed */
#define MARKER_SEED 0x74656d7064726f70ULL
/* Sizes in a marker above this are damage, not mailboxes (and keep
 * base + pad + len far from overflowing). */
#define MARKER_SIZE_MAX (1ULL << 60)
#define TD_PATH_MAX 4096
/* The temporary drop can be unlinked by the session that held it between
 * our open and our lock; then it is opened again, a few times at most. */
#define TD_OPEN_TRIES 3

enum phase {
	PH_COPYING = 1,
	PH_COPIED = 2,
	PH_MERGE = 3,
	PH_EXTENDING = 4,
	PH_EXTENDED = 5
};

struct marker {
	uint32_t phase;
	uint64_t dev, ino;    /* the spool */
	uint64_t base;        /* temp drop size before the append: T0 or K */
	uint64_t pad;         /* framing newlines in front of the spool's bytes */
	uint64_t len;         /* spool bytes appended: S or S2 */
	uint64_t hash;        /* COPIED: hash of spool[0, len) */
};

/* What one move or recovery works with. */
struct td_ctx {
	const char *state_dir;
	int dirfd;                    /* the temp directory */
	const char *name;             /* the temp drop, in dirfd */
	const char *tpath;            /* the same as a path, for the log */
	bool keep;                    /* keep-temp-drop */
	char marker_path[TD_PATH_MAX];
	unsigned char *buf;           /* MBOX_MOVE_BLOCK bytes */
};

/* The store of a temp-drop session. */
struct tempdrop {
	struct mbox *m;               /* the temporary drop: open, locked, indexed */
	struct maildrop_settings set; /* to lock the spool again; strings below */
	char *path, *lock_path, *state_dir, *temp_dir, *temp_name, *tpath;
	int dirfd;
	struct td_ctx c;
};

void (*tempdrop_hook)(const char *step);

static void step(const char *name)
{
	if (tempdrop_hook != NULL)
		tempdrop_hook(name);
}

static int file_size(int fd, uint64_t *size_r)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	*size_r = (uint64_t)st.st_size;
	return 0;
}

/* ---- the marker ------------------------------------------------------------- */

static uint64_t marker_total(const struct marker *mk)
{
	return mk->base + mk->pad + mk->len;
}

static void marker_encode(const struct marker *mk, unsigned char *b)
{
	memset(b, 0, MARKER_SIZE);
	memcpy(b, MARKER_MAGIC, 8);
	put32(b + 8, MARKER_VERSION);
	put32(b + 12, mk->phase);
	put64(b + 16, mk->dev);
	put64(b + 24, mk->ino);
	put64(b + 32, mk->base);
	put64(b + 40, mk->pad);
	put64(b + 48, mk->len);
	put64(b + 56, mk->hash);
	put64(b + MARKER_SUM_OFF, uidstore_hash(b, MARKER_SUM_OFF, MARKER_SEED));
}

static bool marker_decode(const unsigned char *b, struct marker *mk)
{
	if (memcmp(b, MARKER_MAGIC, 8) != 0 ||
	    get64(b + MARKER_SUM_OFF) != uidstore_hash(b, MARKER_SUM_OFF, MARKER_SEED))
		return false;
	mk->phase = get32(b + 12);
	mk->dev = get64(b + 16);
	mk->ino = get64(b + 24);
	mk->base = get64(b + 32);
	mk->pad = get64(b + 40);
	mk->len = get64(b + 48);
	mk->hash = get64(b + 56);
	return get32(b + 8) == MARKER_VERSION && mk->phase >= PH_COPYING &&
	       mk->phase <= PH_EXTENDED && mk->pad <= 2 && mk->base < MARKER_SIZE_MAX &&
	       mk->len < MARKER_SIZE_MAX;
}

/* Writes the marker (create: a new file, O_EXCL, and the directory synced).
 * Returns 0 or -1 with errno; a marker that could not be created is gone. */
static int marker_write(const struct td_ctx *c, const struct marker *mk, bool create)
{
	unsigned char b[MARKER_SIZE];
	int fd, e;

	marker_encode(mk, b);
	fd = open(c->marker_path, (create ? O_CREAT | O_EXCL : 0) | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0)
		return -1;
	if (safe_pwrite_all(fd, b, sizeof(b), 0) < 0 || fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (create && safe_fsync_dir(c->state_dir) < 0)
		goto fail;
	return 0;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	if (create)
		unlink(c->marker_path);
	errno = e;
	return -1;
}

static int marker_remove(const struct td_ctx *c)
{
	if (unlink(c->marker_path) < 0 && errno != ENOENT)
		return -1;
	return safe_fsync_dir(c->state_dir);
}

enum marker_read {
	MK_NONE,    /* no marker: no move was interrupted */
	MK_OK,
	MK_UNWRITTEN, /* created but never written: nothing was moved yet */
	MK_BAD
};

static enum marker_read marker_read(const struct td_ctx *c, struct marker *mk,
				    const char **why_r, char *reason, size_t reasonsize)
{
	struct safeopen_rules rules;
	unsigned char b[MARKER_SIZE];
	struct stat st;
	int fd;
	size_t i;

	memset(&rules, 0, sizeof(rules));
	rules.check_owner = true;
	rules.owner = geteuid();
	rules.no_group_write = true;
	fd = safe_open(c->marker_path, O_RDONLY, 0, &rules, &st, why_r);
	if (fd < 0) {
		if (errno == ENOENT)
			return MK_NONE;
		if (errno == ELOOP || errno == EINVAL || errno == EPERM)
			return MK_BAD;
		reason_set(reason, reasonsize, "marker %s: %s", c->marker_path, strerror(errno));
		*why_r = NULL;
		return MK_BAD;
	}
	if (st.st_size == 0) {
		close(fd);
		return MK_UNWRITTEN;
	}
	if (st.st_size != MARKER_SIZE || safe_pread_all(fd, b, sizeof(b), 0) < 0) {
		close(fd);
		*why_r = "has the wrong size";
		return MK_BAD;
	}
	close(fd);
	for (i = 0; i < sizeof(b) && b[i] == 0; i++)
		;
	if (i == sizeof(b))
		return MK_UNWRITTEN;
	if (!marker_decode(b, mk)) {
		*why_r = "is damaged";
		return MK_BAD;
	}
	return MK_OK;
}

/* Moves a marker that must not be acted on out of the way, never replacing
 * a file: tempdrop.marker.bad.TIME[.N].  The mailboxes stay as they are. */
static void marker_set_aside(const struct td_ctx *c, const char *why)
{
	char aside[TD_PATH_MAX + 64];
	long long t = (long long)time(NULL);
	int i;

	for (i = 0; i < 100; i++) {
		int n = i == 0 ? snprintf(aside, sizeof(aside), "%s.bad.%lld", c->marker_path, t) :
			snprintf(aside, sizeof(aside), "%s.bad.%lld.%d", c->marker_path, t, i);

		if (n < 0 || (size_t)n >= sizeof(aside))
			break;
		if (link(c->marker_path, aside) == 0) {
			unlink(c->marker_path);
			safe_fsync_dir(c->state_dir);
			log_error("temp-drop marker %s %s; moved to %s, spool and temporary drop %s "
				  "left as they are", c->marker_path, why, aside, c->tpath);
			return;
		}
		if (errno != EEXIST)
			break;
	}
	log_error("temp-drop marker %s %s and cannot be moved aside: %s", c->marker_path, why,
		  strerror(errno));
}

/* ---- file helpers ----------------------------------------------------------- */

/* 1 if fd[off, off+len) is all zero bytes, 0 if not, -1 on error. */
static int all_zero(int fd, uint64_t off, uint64_t len, unsigned char *buf)
{
	uint64_t done = 0;

	while (done < len) {
		size_t n = (size_t)min64(len - done, MBOX_MOVE_BLOCK), i;

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
static int starts_with_from(int fd, uint64_t size, bool *yes_r)
{
	unsigned char b[MBOX_FROM_CHECK];
	size_t n = (size_t)min64(size, sizeof(b));

	if (safe_pread_all(fd, b, n, 0) < 0)
		return -1;
	*yes_r = mbox_from_line_valid(b, n);
	return 0;
}

/* Newlines to write between a file of `size` bytes and mail appended to it
 * so that the appended From_ line follows an empty line (mbox.h): none if
 * the file is empty or already ends with one, else one or two. */
static int join_pad(int fd, uint64_t size, uint64_t *pad_r)
{
	unsigned char b[3] = { 0, 0, 0 };
	size_t n = (size_t)min64(size, 3);

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
static int extend_spool(int fd, uint64_t from, uint64_t to, unsigned char *buf)
{
	uint64_t done = 0;

	if (fallocate(fd, 0, (off_t)from, (off_t)(to - from)) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS)
		return -1;
	memset(buf, 0, MBOX_MOVE_BLOCK);
	while (from + done < to) {
		size_t n = (size_t)min64(to - from - done, MBOX_MOVE_BLOCK);

		if (safe_pwrite_all(fd, buf, n, (off_t)(from + done)) < 0)
			return -1;
		done += n;
	}
	return 0;
}

/* Cuts the temporary drop back to size, durably. */
static int truncate_temp(struct mbox *tm, uint64_t size)
{
	if (ftruncate(tm->fd, (off_t)size) < 0 || fsync(tm->fd) < 0)
		return -1;
	return 0;
}

/* The temporary drop after its mail went back into the spool: removed, or
 * (keep-temp-drop, or when the session goes on using it) truncated.
 * Durable before the caller removes the marker.  Returns 0 or -1. */
static int empty_temp(const struct td_ctx *c, struct mbox *tm, bool may_unlink)
{
	if (!may_unlink || c->keep)
		return truncate_temp(tm, 0);
	if (unlinkat(c->dirfd, c->name, 0) < 0 || fsync(c->dirfd) < 0)
		return -1;
	return 0;
}

static bool same_file(int fd, const struct marker *mk)
{
	struct stat st;

	return fd >= 0 && fstat(fd, &st) == 0 && (uint64_t)st.st_dev == mk->dev &&
	       (uint64_t)st.st_ino == mk->ino;
}

/* ---- the temp directory and the temporary drop ------------------------------ */

/* A file name popper may use for the temporary drop: one path component,
 * not one of popper's own state files (the default directory is the state
 * directory). */
static bool temp_name_ok(const char *name)
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
static enum maildrop_status open_temp_dir(const char *dir, int *fd_r, bool *missing_r,
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
static enum maildrop_status lock_temp_drop(const struct td_ctx *c, bool create, struct mbox **tm_r,
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

static int ctx_init(struct td_ctx *c, const struct maildrop_settings *set, int dirfd,
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

/* ---- the moves -------------------------------------------------------------- */

/* Undoes an append to the temporary drop that never reached the spool. */
static void undo_append(const struct td_ctx *c, struct mbox *tm, uint64_t base)
{
	if (truncate_temp(tm, base) < 0) {
		log_error("cannot cut the temporary drop %s back to %" PRIu64 " octets: %s; "
			  "the marker stays and the next login does it", c->tpath, base,
			  strerror(errno));
		return;
	}
	if (marker_remove(c) < 0)
		log_warning("cannot remove the temp-drop marker %s: %s", c->marker_path,
			    strerror(errno));
}

/* MOVE IN: the spool's mail to the end of the temporary drop.  Both locked,
 * signals blocked. */
static enum maildrop_status move_in(const struct td_ctx *c, struct mbox *sp, struct mbox *tm,
				    char *reason, size_t reasonsize)
{
	struct uidstore_hasher hs;
	struct marker mk;
	struct stat sst;
	uint64_t t0;
	bool valid;
	int e;

	if (fstat(sp->fd, &sst) < 0 || file_size(tm->fd, &t0) < 0) {
		reason_set(reason, reasonsize, "fstat: %s", strerror(errno));
		return MAILDROP_TEMP;
	}
	if (sst.st_size == 0)
		return MAILDROP_OK;
	if (sp->read_only) {
		reason_set(reason, reasonsize, "%s is on a read-only file system: temp-drop mode "
			   "cannot move its mail", sp->path);
		return MAILDROP_TEMP;
	}
	if (starts_with_from(sp->fd, (uint64_t)sst.st_size, &valid) < 0) {
		reason_set(reason, reasonsize, "read %s: %s", sp->path, strerror(errno));
		return MAILDROP_TEMP;
	}
	if (!valid) {
		reason_set(reason, reasonsize, "%s does not start with a From_ line (not an mbox)",
			   sp->path);
		return MAILDROP_PERM;
	}
	if (t0 > 0 && starts_with_from(tm->fd, t0, &valid) == 0 && !valid) {
		reason_set(reason, reasonsize, "temporary drop %s does not start with a From_ line "
			   "(not an mbox)", c->tpath);
		return MAILDROP_PERM;
	}
	memset(&mk, 0, sizeof(mk));
	mk.phase = PH_COPYING;
	mk.dev = (uint64_t)sst.st_dev;
	mk.ino = (uint64_t)sst.st_ino;
	mk.base = t0;
	mk.len = (uint64_t)sst.st_size;
	if (join_pad(tm->fd, t0, &mk.pad) < 0) {
		reason_set(reason, reasonsize, "read %s: %s", c->tpath, strerror(errno));
		return MAILDROP_TEMP;
	}
	if (marker_write(c, &mk, true) < 0) {
		reason_set(reason, reasonsize, "create marker %s: %s", c->marker_path, strerror(errno));
		return MAILDROP_TEMP;
	}
	step("movein-marker");

	uidstore_hash_init(&hs, MARKER_SEED);
	if ((mk.pad > 0 && safe_pwrite_all(tm->fd, newlines, (size_t)mk.pad, (off_t)t0) < 0) ||
	    fileops_copy(sp->fd, 0, tm->fd, t0 + mk.pad, mk.len, c->buf, &hs, step, "movein-copy") < 0 ||
	    fsync(tm->fd) < 0) {
		e = errno;
		undo_append(c, tm, t0);
		reason_set(reason, reasonsize, "appending %s to the temporary drop %s: %s",
			   sp->path, c->tpath, strerror(e));
		return MAILDROP_TEMP;
	}
	step("movein-fsync");
	mk.phase = PH_COPIED;
	mk.hash = uidstore_hash_final(&hs);
	if (marker_write(c, &mk, false) < 0) {
		e = errno;
		undo_append(c, tm, t0);
		reason_set(reason, reasonsize, "update marker %s: %s", c->marker_path, strerror(e));
		return MAILDROP_TEMP;
	}
	step("movein-copied");

	/* From here the copy counts; the spool's bytes are removed with the
	 * same journal as any deletion.  Should that fail, the marker stays
	 * COPIED and the next login removes them. */
	{
		enum maildrop_status st = mbox_remove_prefix(sp, mk.len, reason, reasonsize);

		if (st != MAILDROP_OK)
			return st;
	}
	step("movein-cut");
	if (marker_remove(c) < 0)
		log_warning("cannot remove the temp-drop marker %s: %s (harmless: the next login "
			    "sees the move is complete)", c->marker_path, strerror(errno));
	step("movein-done");
	log_info("moved %" PRIu64 " octets from %s into the temporary drop %s", mk.len, sp->path,
		 c->tpath);
	return MAILDROP_OK;
}

/* After a failed extension: the spool back at len octets, the zeros we
 * added gone.  Returns 0 when that is proven, -1 (errno set) when it is
 * not: the cut failed, or the bytes past len are not all ours. */
static int cut_back(struct mbox *sp, uint64_t len, unsigned char *buf)
{
	uint64_t size;
	int z;

	if (file_size(sp->fd, &size) < 0)
		return -1;
	if (size == len)
		return 0;
	z = size > len ? all_zero(sp->fd, len, size - len, buf) : 0;
	if (z < 0)
		return -1;
	if (z == 0) {
		errno = EEXIST;   /* someone else's bytes: recovery judges */
		return -1;
	}
	if (ftruncate(sp->fd, (off_t)len) < 0 || fsync(sp->fd) < 0)
		return -1;
	return 0;
}

/* Undoes a write-back that has not touched the spool's content. */
static void undo_merge(const struct td_ctx *c, struct mbox *tm, uint64_t k)
{
	undo_append(c, tm, k);
}

/* WRITE BACK: the temporary drop's K bytes, then what the spool got
 * meanwhile, into the spool.  Both locked, signals blocked.  On failure the
 * mail is in the temporary drop (or a marker finishes the job next time). */
static enum maildrop_status write_back(const struct td_ctx *c, struct mbox *sp, struct mbox *tm,
				       uint64_t k, bool may_unlink, char *reason, size_t reasonsize)
{
	struct marker mk;
	struct stat sst;
	uint64_t size, total;
	int e;

	if (sp->fd < 0 || fstat(sp->fd, &sst) < 0) {
		reason_set(reason, reasonsize, "no spool to write back into");
		return MAILDROP_TEMP;
	}
	if (sp->read_only) {
		reason_set(reason, reasonsize, "%s is on a read-only file system", sp->path);
		return MAILDROP_TEMP;
	}
	memset(&mk, 0, sizeof(mk));
	mk.phase = PH_MERGE;
	mk.dev = (uint64_t)sst.st_dev;
	mk.ino = (uint64_t)sst.st_ino;
	mk.base = k;
	mk.len = (uint64_t)sst.st_size;
	/* Framing is only needed in front of appended mail: with none, the
	 * spool gets back exactly the bytes the session kept (a last message
	 * without its final newline stays so, and keeps its UID). */
	if (mk.len > 0 && join_pad(tm->fd, k, &mk.pad) < 0) {
		reason_set(reason, reasonsize, "read %s: %s", c->tpath, strerror(errno));
		return MAILDROP_TEMP;
	}
	total = marker_total(&mk);
	if (marker_write(c, &mk, true) < 0) {
		reason_set(reason, reasonsize, "create marker %s: %s", c->marker_path, strerror(errno));
		return MAILDROP_TEMP;
	}
	step("writeback-marker");

	/* 1. The temporary drop becomes the final mailbox. */
	if ((mk.pad > 0 && safe_pwrite_all(tm->fd, newlines, (size_t)mk.pad, (off_t)k) < 0) ||
	    fileops_copy(sp->fd, 0, tm->fd, k + mk.pad, mk.len, c->buf, NULL, step,
			 "writeback-merge") < 0 ||
	    fsync(tm->fd) < 0) {
		e = errno;
		undo_merge(c, tm, k);
		reason_set(reason, reasonsize, "appending %s to the temporary drop %s: %s",
			   sp->path, c->tpath, strerror(e));
		return MAILDROP_TEMP;
	}
	step("writeback-merged");
	/* Only an agent that ignores both locks could have written; its
	 * bytes would sit where we are about to write.  Give up instead. */
	if (file_size(sp->fd, &size) < 0 || size != mk.len) {
		undo_merge(c, tm, k);
		reason_set(reason, reasonsize, "%s changed size under our lock", sp->path);
		return MAILDROP_TEMP;
	}
	mk.phase = PH_EXTENDING;
	if (marker_write(c, &mk, false) < 0) {
		e = errno;
		undo_merge(c, tm, k);
		reason_set(reason, reasonsize, "update marker %s: %s", c->marker_path, strerror(e));
		return MAILDROP_TEMP;
	}
	step("writeback-extending");

	/* 2. Room in the spool for all of it, before its content changes: a
	 * full disk stops us here. */
	if (extend_spool(sp->fd, mk.len, total, c->buf) < 0 || fsync(sp->fd) < 0) {
		e = errno;
		if (cut_back(sp, mk.len, c->buf) < 0) {
			/* Zeros may stay behind the spool's mail: EXTENDING stays
			 * on the disk, and the next login cuts them or finishes
			 * the write-back. */
			log_error("cannot cut %s back to %" PRIu64 " octets: %s", sp->path, mk.len,
				  strerror(errno));
			reason_set(reason, reasonsize, "making room in %s for %" PRIu64 " octets: %s; "
				   "the next login finishes or undoes it", sp->path, total, strerror(e));
			return MAILDROP_TEMP;
		}
		undo_merge(c, tm, k);
		reason_set(reason, reasonsize, "making room in %s for %" PRIu64 " octets: %s",
			   sp->path, total, strerror(e));
		return MAILDROP_TEMP;
	}
	step("writeback-extended");
	mk.phase = PH_EXTENDED;
	if (marker_write(c, &mk, false) < 0) {
		/* EXTENDING on disk: the next login sees the extension and
		 * goes on from there. */
		reason_set(reason, reasonsize, "update marker %s: %s", c->marker_path, strerror(errno));
		return MAILDROP_TEMP;
	}
	step("writeback-marked");

	/* 3. Overwrite.  A failure leaves EXTENDED: the next login redoes it. */
	if (fileops_copy(tm->fd, 0, sp->fd, 0, total, c->buf, NULL, step, "writeback-copy") < 0 ||
	    fsync(sp->fd) < 0) {
		reason_set(reason, reasonsize, "writing %s: %s; the next login finishes it",
			   sp->path, strerror(errno));
		return MAILDROP_TEMP;
	}
	step("writeback-fsync");
	/* Both files' journals, if a failed sync after a truncation kept
	 * one, guard content that is now written whole and synced: drop them
	 * before the temporary drop goes, which would leave its journal
	 * naming a file that no longer exists. */
	mbox_forget_journal(sp);
	mbox_forget_journal(tm);

	/* 4. The temporary drop goes, then the marker. */
	if (empty_temp(c, tm, may_unlink) < 0) {
		log_error("cannot empty the temporary drop %s after writing it back: %s; the next "
			  "login does it", c->tpath, strerror(errno));
		return MAILDROP_OK;
	}
	step("writeback-emptied");
	if (marker_remove(c) < 0)
		log_warning("cannot remove the temp-drop marker %s: %s (harmless: the next login "
			    "sees the work is done)", c->marker_path, strerror(errno));
	step("writeback-done");
	log_info("wrote %" PRIu64 " octets back from the temporary drop %s into %s (%" PRIu64
		 " of them arrived during the session)", total, c->tpath, sp->path, mk.len);
	return MAILDROP_OK;
}

/* RECOVERY of an interrupted move.  sp: the spool (fd -1 if none), locked,
 * its journal recovered; tm: the temporary drop, locked, its journal
 * recovered, or NULL when it does not exist.  Signals blocked. */
static enum maildrop_status recover(const struct td_ctx *c, struct mbox *sp, struct mbox *tm,
				    char *reason, size_t reasonsize)
{
	struct marker mk;
	const char *why = NULL, *outcome;
	uint64_t tsize = 0, ssize = 0, hash, total;
	bool writeback;
	int z;

	switch (marker_read(c, &mk, &why, reason, reasonsize)) {
	case MK_NONE:
		return MAILDROP_OK;
	case MK_UNWRITTEN:
		/* Killed while creating it: nothing was moved yet. */
		if (marker_remove(c) < 0) {
			reason_set(reason, reasonsize, "remove marker %s: %s", c->marker_path,
				   strerror(errno));
			return MAILDROP_TEMP;
		}
		step("recover-unwritten");
		log_notice("removed the temp-drop marker %s of a move that never started",
			   c->marker_path);
		return MAILDROP_OK;
	case MK_BAD:
		if (why == NULL)
			return MAILDROP_TEMP;   /* an I/O error, reason set */
		marker_set_aside(c, why);
		return MAILDROP_OK;
	case MK_OK:
		break;
	}
	if (sp == NULL || !same_file(sp->fd, &mk)) {
		marker_set_aside(c, "belongs to another spool file");
		return MAILDROP_OK;
	}
	if (tm == NULL && mk.phase != PH_EXTENDED) {
		marker_set_aside(c, "has no temporary drop");
		return MAILDROP_OK;
	}
	if (sp->read_only) {
		reason_set(reason, reasonsize, "temp-drop marker %s needs recovery but %s is read-only",
			   c->marker_path, sp->path);
		return MAILDROP_TEMP;
	}
	/* No temporary drop (EXTENDED only): removed after the write-back. */
	if ((tm != NULL && file_size(tm->fd, &tsize) < 0) || file_size(sp->fd, &ssize) < 0)
		goto io_error;
	total = marker_total(&mk);
	writeback = mk.phase >= PH_MERGE;
	switch (mk.phase) {
	case PH_COPYING:
	case PH_MERGE:
		/* The spool was not touched: cut off what was appended. */
		if (tsize < mk.base) {
			marker_set_aside(c, "records a longer temporary drop than there is");
			return MAILDROP_OK;
		}
		if (truncate_temp(tm, mk.base) < 0)
			goto io_error;
		step("recover-truncate");
		outcome = "undone";
		break;
	case PH_COPIED:
		outcome = "already complete";
		if (ssize < mk.len)
			break;
		if (fileops_hash(sp->fd, 0, mk.len, MARKER_SEED, c->buf, &hash) < 0)
			goto io_error;
		if (hash != mk.hash)
			break;   /* removed, and new mail came since */
		if (tsize < total || fileops_hash(tm->fd, mk.base + mk.pad, mk.len, MARKER_SEED, c->buf,
						   &hash) < 0 ||
		    hash != mk.hash) {
			marker_set_aside(c, "says the spool's mail was copied, but the temporary drop "
					 "does not hold it");
			return MAILDROP_OK;
		}
		{
			enum maildrop_status st = mbox_remove_prefix(sp, mk.len, reason, reasonsize);

			if (st != MAILDROP_OK)
				return st;
		}
		step("recover-cut");
		outcome = "completed";
		break;
	case PH_EXTENDING:
	case PH_EXTENDED:
	default:
		if (mk.phase == PH_EXTENDING) {
			z = ssize >= total ? all_zero(sp->fd, mk.len, total - mk.len, c->buf) : 0;
			if (z < 0)
				goto io_error;
			/* total, or base when an earlier recovery already cut it */
			if (tsize < mk.base || tsize > total || (z == 1 && tsize != total)) {
				marker_set_aside(c, "records a temporary drop of another size");
				return MAILDROP_OK;
			}
			if (z == 1) {
				/* Extended: from here on only "redo the overwrite"
				 * is right, also for a recovery interrupted in it. */
				mk.phase = PH_EXTENDED;
				if (marker_write(c, &mk, false) < 0)
					goto io_error;
				step("recover-extended");
			} else {
				/* Not extended (or only partly, by zeros, with no
				 * mail behind them): undo as MERGE. */
				if (ssize > mk.len) {
					z = all_zero(sp->fd, mk.len, ssize - mk.len, c->buf);
					if (z < 0)
						goto io_error;
					if (z == 1 && (ftruncate(sp->fd, (off_t)mk.len) < 0 ||
						       fsync(sp->fd) < 0))
						goto io_error;
				}
				if (truncate_temp(tm, mk.base) < 0)
					goto io_error;
				step("recover-truncate");
				outcome = "undone";
				break;
			}
		}
		if (tsize == 0) {
			outcome = "already complete";   /* emptied, marker not yet removed */
			break;
		}
		if (tsize != total) {
			marker_set_aside(c, "records a temporary drop of another size");
			return MAILDROP_OK;
		}
		if (fileops_copy(tm->fd, 0, sp->fd, 0, total, c->buf, NULL, step, "recover-copy") < 0 ||
		    fsync(sp->fd) < 0)
			goto io_error;
		step("recover-fsync");
		if (truncate_temp(tm, 0) < 0)
			goto io_error;
		step("recover-emptied");
		outcome = "completed";
		break;
	}
	if (marker_remove(c) < 0) {
		reason_set(reason, reasonsize, "remove marker %s: %s", c->marker_path, strerror(errno));
		return MAILDROP_TEMP;
	}
	step("recover-done");
	log_notice("interrupted %s between %s and the temporary drop %s %s",
		   writeback ? "write-back" : "move", sp->path, c->tpath, outcome);
	return MAILDROP_OK;
io_error:
	reason_set(reason, reasonsize, "recovering the move between %s and %s: %s", sp->path,
		   c->tpath, strerror(errno));
	return MAILDROP_TEMP;
}

/* ---- server mode ------------------------------------------------------------ */

static int temp_path(const struct maildrop_settings *set, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%s", set->temp_dir, set->temp_name);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

enum maildrop_status tempdrop_settle(const struct maildrop_settings *set, struct mbox **m_r,
				     char *reason, size_t reasonsize)
{
	char tpath[TD_PATH_MAX];
	struct td_ctx c;
	struct mbox *tm = NULL;
	enum maildrop_status st;
	struct stat mst;
	bool marker, missing;
	uint64_t k = 0;
	sigset_t old;
	int dirfd;

	if (!temp_name_ok(set->temp_name) || temp_path(set, tpath, sizeof(tpath)) < 0) {
		reason_set(reason, reasonsize, "unusable temp-name \"%s\"",
			   set->temp_name != NULL ? set->temp_name : "");
		return MAILDROP_PERM;
	}
	if (ctx_init(&c, set, -1, tpath, reason, reasonsize) < 0)
		return MAILDROP_PERM;
	marker = lstat(c.marker_path, &mst) == 0;
	st = open_temp_dir(set->temp_dir, &dirfd, &missing, reason, reasonsize);
	if (st != MAILDROP_OK) {
		if (marker)
			return st;   /* a move to finish needs the temporary drop */
		if (!missing)
			log_warning("server mode: cannot look for a temporary drop: %s", reason);
		return MAILDROP_OK;
	}
	c.dirfd = dirfd;
	st = lock_temp_drop(&c, false, &tm, reason, reasonsize);
	if (st != MAILDROP_OK || (tm == NULL && !marker)) {
		close(dirfd);
		return st;
	}
	c.buf = malloc(MBOX_MOVE_BLOCK);
	if (c.buf == NULL) {
		reason_set(reason, reasonsize, "out of memory");
		st = MAILDROP_TEMP;
		goto out_nosig;
	}
	fileops_block_signals(&old);
	if (tm != NULL)
		st = mbox_recover(tm, reason, reasonsize);
	if (st == MAILDROP_OK)
		st = recover(&c, *m_r, tm, reason, reasonsize);
	if (st == MAILDROP_OK && tm != NULL && file_size(tm->fd, &k) < 0) {
		reason_set(reason, reasonsize, "fstat %s: %s", tpath, strerror(errno));
		st = MAILDROP_TEMP;
	}
	if (st == MAILDROP_OK && tm != NULL && k == 0 && !set->keep_temp_drop) {
		/* Emptied by the recovery: tidy up, as a session would. */
		if (unlinkat(dirfd, set->temp_name, 0) < 0 || fsync(dirfd) < 0)
			log_warning("cannot remove the empty temporary drop %s: %s", tpath,
				    strerror(errno));
	}
	if (st == MAILDROP_OK && k > 0) {
		bool valid = false;

		if (starts_with_from(tm->fd, k, &valid) < 0 || !valid) {
			reason_set(reason, reasonsize, "temporary drop %s is not an mbox; mail in it is "
				   "left there", tpath);
			st = MAILDROP_PERM;
			goto out;
		}
		if ((*m_r)->fd < 0) {
			/* Mail goes back, and there is no spool file: make one. */
			mbox_free(*m_r);
			*m_r = NULL;
			st = mbox_open_locked(set, true, m_r, reason, reasonsize);
			if (st != MAILDROP_OK)
				goto out;
		}
		st = write_back(&c, *m_r, tm, k, true, reason, reasonsize);
		if (st == MAILDROP_OK)
			log_notice("server mode: mail left in the temporary drop %s (%" PRIu64
				   " octets) is back in %s", tpath, k, (*m_r)->path);
	}
out:
	sigprocmask(SIG_SETMASK, &old, NULL);
out_nosig:
	free(c.buf);
	mbox_free(tm);
	close(dirfd);
	return st;
}

/* ---- temp-drop mode: the maildrop operations -------------------------------- */

static void td_free(struct tempdrop *td)
{
	if (td == NULL)
		return;
	mbox_free(td->m);
	if (td->dirfd >= 0)
		close(td->dirfd);
	free(td->c.buf);
	free(td->path);
	free(td->lock_path);
	free(td->state_dir);
	free(td->temp_dir);
	free(td->temp_name);
	free(td->tpath);
	free(td);
}

/* A copy of the settings that outlives the caller's buffers. */
static struct tempdrop *td_create(const struct maildrop_settings *set, char *reason,
				  size_t reasonsize)
{
	char tpath[TD_PATH_MAX];
	struct tempdrop *td;
	bool fail = false;

	if (set->path == NULL || set->state_dir == NULL || set->temp_dir == NULL ||
	    !temp_name_ok(set->temp_name) || temp_path(set, tpath, sizeof(tpath)) < 0) {
		reason_set(reason, reasonsize, "temp-drop mode needs a spool, a state directory, "
			   "a temp-dir and a usable temp-name");
		return NULL;
	}
	td = calloc(1, sizeof(*td));
	if (td == NULL) {
		reason_set(reason, reasonsize, "out of memory");
		return NULL;
	}
	td->dirfd = -1;
	td->set = *set;
	td->path = dup_or_null(set->path, &fail);
	td->lock_path = dup_or_null(set->lock_path, &fail);
	td->state_dir = dup_or_null(set->state_dir, &fail);
	td->temp_dir = dup_or_null(set->temp_dir, &fail);
	td->temp_name = dup_or_null(set->temp_name, &fail);
	td->tpath = dup_or_null(tpath, &fail);
	if (fail) {
		td_free(td);
		reason_set(reason, reasonsize, "out of memory");
		return NULL;
	}
	td->set.path = td->path;
	td->set.lock_path = td->lock_path;
	td->set.state_dir = td->state_dir;
	td->set.temp_dir = td->temp_dir;
	td->set.temp_name = td->temp_name;
	if (ctx_init(&td->c, &td->set, -1, td->tpath, reason, reasonsize) < 0) {
		td_free(td);
		return NULL;
	}
	td->c.buf = malloc(MBOX_MOVE_BLOCK);
	if (td->c.buf == NULL) {
		td_free(td);
		reason_set(reason, reasonsize, "out of memory");
		return NULL;
	}
	return td;
}

static enum maildrop_status td_open(const struct maildrop_settings *set, void **store_r,
				    char *reason, size_t reasonsize)
{
	struct tempdrop *td;
	struct mbox *sp = NULL;
	enum maildrop_status st;
	bool missing;
	sigset_t old;

	*store_r = NULL;
	td = td_create(set, reason, reasonsize);
	if (td == NULL)
		return MAILDROP_TEMP;
	st = open_temp_dir(td->temp_dir, &td->dirfd, &missing, reason, reasonsize);
	if (st != MAILDROP_OK)
		goto fail;
	td->c.dirfd = td->dirfd;
	/* The spool, locked (fcntl, then the dot-lock), its journal done. */
	st = mbox_open_locked(&td->set, false, &sp, reason, reasonsize);
	if (st != MAILDROP_OK)
		goto fail;
	/* The temporary drop, locked without waiting: busy means another
	 * session of this user, and nothing below may run then. */
	st = lock_temp_drop(&td->c, true, &td->m, reason, reasonsize);
	if (st != MAILDROP_OK)
		goto fail;
	fileops_block_signals(&old);
	st = mbox_recover(td->m, reason, reasonsize);
	if (st == MAILDROP_OK)
		st = recover(&td->c, sp, td->m, reason, reasonsize);
	if (st == MAILDROP_OK && sp->fd >= 0)
		st = move_in(&td->c, sp, td->m, reason, reasonsize);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (st != MAILDROP_OK)
		goto fail;
	/* The delivery agent may go on now. */
	mbox_free(sp);
	sp = NULL;
	st = mbox_load(td->m, td->set.trust_x_uidl, reason, reasonsize);
	if (st != MAILDROP_OK)
		goto fail;
	*store_r = td;
	return MAILDROP_OK;
fail:
	mbox_free(sp);
	td_free(td);
	return st;
}

/* Locks the spool again (creating it when it vanished) and writes the
 * temporary drop's k bytes back.  OK, or the mail stays in the temporary
 * drop (logged). */
static enum maildrop_status td_write_back(struct tempdrop *td, uint64_t k,
					  char *reason, size_t reasonsize)
{
	struct mbox *sp = NULL;
	enum maildrop_status st;
	sigset_t old;

	st = mbox_open_locked(&td->set, true, &sp, reason, reasonsize);
	if (st != MAILDROP_OK)
		return st;
	fileops_block_signals(&old);
	st = write_back(&td->c, sp, td->m, k, true, reason, reasonsize);
	sigprocmask(SIG_SETMASK, &old, NULL);
	mbox_free(sp);   /* unlocks the spool */
	return st;
}

/* The end of a temp-drop session, after the commit (or none): the kept
 * mail goes back.  Returns OK, or TEMP with the mail in the temporary drop. */
static enum maildrop_status td_finish(struct tempdrop *td, char *reason, size_t reasonsize)
{
	enum maildrop_status st;
	uint64_t k;

	if (file_size(td->m->fd, &k) < 0) {
		reason_set(reason, reasonsize, "fstat %s: %s", td->tpath, strerror(errno));
		return MAILDROP_TEMP;
	}
	if (k == 0) {
		/* Nothing kept; mail that arrived meanwhile is in the spool. */
		mbox_forget_journal(td->m);
		if (empty_temp(&td->c, td->m, true) < 0)
			log_warning("cannot remove the empty temporary drop %s: %s", td->tpath,
				    strerror(errno));
		return MAILDROP_OK;
	}
	st = td_write_back(td, k, reason, reasonsize);
	if (st != MAILDROP_OK)
		log_error("mail left in the temporary drop %s (%" PRIu64 " octets): %s; the next "
			  "login merges it", td->tpath, k, reason);
	return st;
}

static enum maildrop_status td_commit(void *store, struct maildrop_stats *stats,
				      char *reason, size_t reasonsize)
{
	struct tempdrop *td = store;
	enum maildrop_status st;
	char jpath[TD_PATH_MAX];
	struct stat jst;

	st = mbox_commit_keep(td->m, stats, reason, reasonsize);
	if (st != MAILDROP_OK) {
		/* Nothing deleted.  With no journal left the temporary drop
		 * is whole and can still go back; with one, it waits for the
		 * next login's recovery. */
		char why[256];

		snprintf(jpath, sizeof(jpath), "%s/%s", td->state_dir, TEMPDROP_JOURNAL);
		if (lstat(jpath, &jst) < 0 && errno == ENOENT)
			(void)td_finish(td, why, sizeof(why));
		else
			log_error("mail left in the temporary drop %s until the next login",
				  td->tpath);
		td_free(td);
		return st;
	}
	st = td_finish(td, reason, reasonsize);
	if (st != MAILDROP_OK)
		stats->left_in_temp_drop = true;
	td_free(td);
	return st;
}

static void td_close(void *store)
{
	struct tempdrop *td = store;
	char reason[256];

	if (td == NULL)
		return;
	/* An abort deletes nothing, but the mail goes back where the rest of
	 * the world looks for it. */
	(void)td_finish(td, reason, sizeof(reason));
	td_free(td);
}

static unsigned td_count(const void *store)
{
	return mbox_maildrop_ops.count(((const struct tempdrop *)store)->m);
}

static uint64_t td_msg_size(const void *store, unsigned i)
{
	return mbox_maildrop_ops.msg_size(((const struct tempdrop *)store)->m, i);
}

static const char *td_msg_uid(const void *store, unsigned i)
{
	return mbox_maildrop_ops.msg_uid(((const struct tempdrop *)store)->m, i);
}

static bool td_msg_deleted(const void *store, unsigned i)
{
	return mbox_maildrop_ops.msg_deleted(((const struct tempdrop *)store)->m, i);
}

static void td_msg_delete(void *store, unsigned i)
{
	mbox_maildrop_ops.msg_delete(((struct tempdrop *)store)->m, i);
}

static bool td_msg_seen(const void *store, unsigned i)
{
	return mbox_maildrop_ops.msg_seen(((const struct tempdrop *)store)->m, i);
}

static void td_msg_mark_seen(void *store, unsigned i)
{
	mbox_maildrop_ops.msg_mark_seen(((struct tempdrop *)store)->m, i);
}

static void td_reset(void *store)
{
	mbox_maildrop_ops.reset(((struct tempdrop *)store)->m);
}

static int td_send(void *store, unsigned i, uint64_t body_lines, struct netio *io,
		   const char *ok_line, char *reason, size_t reasonsize)
{
	return mbox_send(((struct tempdrop *)store)->m, i, body_lines, io, ok_line, reason,
			 reasonsize);
}

const struct maildrop_ops tempdrop_maildrop_ops = {
	"mbox (temp-drop mode)",
	td_open, td_count, td_msg_size, td_msg_uid, td_msg_deleted, td_msg_delete,
	td_msg_seen, td_msg_mark_seen, td_reset, td_send, td_commit, td_close
};
