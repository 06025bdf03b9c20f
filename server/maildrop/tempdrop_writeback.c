/*
 * tempdrop_writeback: WRITE BACK, the second move of temp-drop mode
 * (tempdrop.c describes it): the kept mail of the temporary drop goes back
 * into the spool in front of what arrived meanwhile, in four stages, each
 * made durable in the marker before the next begins.  Called by tempdrop.c
 * (QUIT, abort) and tempdrop_server.c (a leftover drop in server mode);
 * calls tempdrop_file.c, tempdrop_marker.c, mbox_update.c (to drop journals
 * that guard rewritten files) and fileops.c.  Runs as the user, both files
 * locked, the catchable signals blocked.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/reason.h"
#include "server/maildrop/fileops.h"
#include "server/maildrop/tempdrop_int.h"

/* After a failed extension: the spool back at len octets, the zeros we
 * added gone.  Returns 0 when that is proven, -1 (errno set) when it is
 * not: the cut failed, or the bytes past len are not all ours. */
static int cut_back(struct mbox *sp, uint64_t len, unsigned char *buf)
{
	uint64_t size;
	int z;

	if (tempdrop_file_size(sp->fd, &size) < 0)
		return -1;
	if (size == len)
		return 0;
	z = size > len ? tempdrop_all_zero(sp->fd, len, size - len, buf) : 0;
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
	tempdrop_undo_append(c, tm, k);
}

/* Checks the spool and writes the marker MERGE for the temporary drop's k
 * bytes (filling *mk).  Nothing else is touched yet. */
static enum maildrop_status begin(const struct td_ctx *c, struct mbox *sp, struct mbox *tm,
				  uint64_t k, struct marker *mk, char *reason, size_t reasonsize)
{
	struct stat sst;

	if (sp->fd < 0 || fstat(sp->fd, &sst) < 0) {
		reason_set(reason, reasonsize, "no spool to write back into");
		return MAILDROP_TEMP;
	}
	if (sp->read_only) {
		reason_set(reason, reasonsize, "%s is on a read-only file system", sp->path);
		return MAILDROP_TEMP;
	}
	memset(mk, 0, sizeof(*mk));
	mk->phase = PH_MERGE;
	mk->dev = (uint64_t)sst.st_dev;
	mk->ino = (uint64_t)sst.st_ino;
	mk->base = k;
	mk->len = (uint64_t)sst.st_size;
	/* Framing is only needed in front of appended mail: with none, the
	 * spool gets back exactly the bytes the session kept (a last message
	 * without its final newline stays so, and keeps its UID). */
	if (mk->len > 0 && tempdrop_join_pad(tm->fd, k, &mk->pad) < 0) {
		reason_set(reason, reasonsize, "read %s: %s", c->tpath, strerror(errno));
		return MAILDROP_TEMP;
	}
	if (tempdrop_marker_write(c, mk, true) < 0) {
		reason_set(reason, reasonsize, "create marker %s: %s", c->marker_path, strerror(errno));
		return MAILDROP_TEMP;
	}
	tempdrop_step("writeback-marker");
	return MAILDROP_OK;
}

/* 1. The temporary drop becomes the final mailbox; marker EXTENDING. */
static enum maildrop_status merge(const struct td_ctx *c, struct mbox *sp, struct mbox *tm,
				  struct marker *mk, char *reason, size_t reasonsize)
{
	uint64_t k = mk->base, size;
	int e;

	if (tempdrop_append_spool(c, sp, tm, mk, NULL, "writeback-merge", reason, reasonsize) < 0)
		return MAILDROP_TEMP;
	tempdrop_step("writeback-merged");
	/* Only an agent that ignores both locks could have written; its
	 * bytes would sit where we are about to write.  Give up instead. */
	if (tempdrop_file_size(sp->fd, &size) < 0 || size != mk->len) {
		undo_merge(c, tm, k);
		reason_set(reason, reasonsize, "%s changed size under our lock", sp->path);
		return MAILDROP_TEMP;
	}
	mk->phase = PH_EXTENDING;
	if (tempdrop_marker_write(c, mk, false) < 0) {
		e = errno;
		undo_merge(c, tm, k);
		reason_set(reason, reasonsize, "update marker %s: %s", c->marker_path, strerror(e));
		return MAILDROP_TEMP;
	}
	tempdrop_step("writeback-extending");
	return MAILDROP_OK;
}

/* 2. Room in the spool for all of it, before its content changes: a full
 * disk stops us here.  Then marker EXTENDED. */
static enum maildrop_status extend(const struct td_ctx *c, struct mbox *sp, struct mbox *tm,
				   struct marker *mk, char *reason, size_t reasonsize)
{
	uint64_t total = tempdrop_marker_total(mk);
	int e;

	if (tempdrop_extend_spool(sp->fd, mk->len, total, c->buf) < 0 || fsync(sp->fd) < 0) {
		e = errno;
		if (cut_back(sp, mk->len, c->buf) < 0) {
			/* Zeros may stay behind the spool's mail: EXTENDING stays
			 * on the disk, and the next login cuts them or finishes
			 * the write-back. */
			log_error("cannot cut %s back to %" PRIu64 " octets: %s", sp->path, mk->len,
				  strerror(errno));
			reason_set(reason, reasonsize, "making room in %s for %" PRIu64 " octets: %s; "
				   "the next login finishes or undoes it", sp->path, total, strerror(e));
			return MAILDROP_TEMP;
		}
		undo_merge(c, tm, mk->base);
		reason_set(reason, reasonsize, "making room in %s for %" PRIu64 " octets: %s",
			   sp->path, total, strerror(e));
		return MAILDROP_TEMP;
	}
	tempdrop_step("writeback-extended");
	mk->phase = PH_EXTENDED;
	if (tempdrop_marker_write(c, mk, false) < 0) {
		/* EXTENDING on disk: the next login sees the extension and
		 * goes on from there. */
		reason_set(reason, reasonsize, "update marker %s: %s", c->marker_path, strerror(errno));
		return MAILDROP_TEMP;
	}
	tempdrop_step("writeback-marked");
	return MAILDROP_OK;
}

/* 3. Overwrite.  A failure leaves EXTENDED: the next login redoes it.
 * 4. The temporary drop goes, then the marker. */
static enum maildrop_status overwrite(const struct td_ctx *c, struct mbox *sp, struct mbox *tm,
				      const struct marker *mk, bool may_unlink,
				      char *reason, size_t reasonsize)
{
	uint64_t total = tempdrop_marker_total(mk);

	if (fileops_copy(tm->fd, 0, sp->fd, 0, total, c->buf, NULL, &tempdrop_hook,
			 "writeback-copy") < 0 ||
	    fsync(sp->fd) < 0) {
		reason_set(reason, reasonsize, "writing %s: %s; the next login finishes it",
			   sp->path, strerror(errno));
		return MAILDROP_TEMP;
	}
	tempdrop_step("writeback-fsync");
	/* Both files' journals, if a failed sync after a truncation kept
	 * one, guard content that is now written whole and synced: drop them
	 * before the temporary drop goes, which would leave its journal
	 * naming a file that no longer exists. */
	mbox_forget_journal(sp);
	mbox_forget_journal(tm);

	if (tempdrop_empty_temp(c, tm, may_unlink) < 0) {
		log_error("cannot empty the temporary drop %s after writing it back: %s; the next "
			  "login does it", c->tpath, strerror(errno));
		return MAILDROP_OK;
	}
	tempdrop_step("writeback-emptied");
	if (tempdrop_marker_remove(c) < 0)
		log_warning("cannot remove the temp-drop marker %s: %s (harmless: the next login "
			    "sees the work is done)", c->marker_path, strerror(errno));
	tempdrop_step("writeback-done");
	log_info("wrote %" PRIu64 " octets back from the temporary drop %s into %s (%" PRIu64
		 " of them arrived during the session)", total, c->tpath, sp->path, mk->len);
	return MAILDROP_OK;
}

enum maildrop_status tempdrop_write_back(const struct td_ctx *c, struct mbox *sp,
					 struct mbox *tm, uint64_t k, bool may_unlink,
					 char *reason, size_t reasonsize)
{
	struct marker mk;
	enum maildrop_status st;

	st = begin(c, sp, tm, k, &mk, reason, reasonsize);
	if (st == MAILDROP_OK)
		st = merge(c, sp, tm, &mk, reason, reasonsize);
	if (st == MAILDROP_OK)
		st = extend(c, sp, tm, &mk, reason, reasonsize);
	if (st == MAILDROP_OK)
		st = overwrite(c, sp, tm, &mk, may_unlink, reason, reasonsize);
	return st;
}
