/*
 * tempdrop_recover: RECOVERY of a move of temp-drop mode interrupted by a
 * crash, a kill or an error (the phases are described in tempdrop.c).  At
 * every login, in either mode, with the spool locked and its own journal
 * recovered first, the marker says which copy of the mail counts; each
 * phase is finished or undone here, one function per phase.  Called by
 * tempdrop.c and tempdrop_server.c; calls tempdrop_file.c,
 * tempdrop_marker.c, mbox_update.c (to cut copied mail from the spool),
 * fileops.c.  Runs as the user, both files locked, the catchable signals
 * blocked.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/reason.h"
#include "server/maildrop/fileops.h"
#include "server/maildrop/tempdrop_int.h"

/* What the recovery of one phase came to. */
enum result {
	R_DONE,       /* the move is finished or undone: the marker goes */
	R_ASIDE,      /* the marker was set aside: nothing else to do */
	R_IO_ERROR,   /* errno says why; the marker stays */
	R_FAILED,     /* *st_r and reason say why; the marker stays */
	R_GO_ON       /* EXTENDING found extended: recover as EXTENDED */
};

/* Reads the marker and deals with every case in which there is nothing
 * to recover.  Returns 1 with *mk to recover, or 0 with *st_r. */
static int marker_to_recover(const struct td_ctx *c, struct mbox *sp, struct mbox *tm,
			     struct marker *mk, enum maildrop_status *st_r,
			     char *reason, size_t reasonsize)
{
	const char *why = NULL;

	*st_r = MAILDROP_OK;
	switch (tempdrop_marker_read(c, mk, &why, reason, reasonsize)) {
	case MK_NONE:
		return 0;
	case MK_UNWRITTEN:
		/* Killed while creating it: nothing was moved yet. */
		if (tempdrop_marker_remove(c) < 0) {
			reason_set(reason, reasonsize, "remove marker %s: %s", c->marker_path,
				   strerror(errno));
			*st_r = MAILDROP_TEMP;
			return 0;
		}
		tempdrop_step("recover-unwritten");
		log_notice("removed the temp-drop marker %s of a move that never started",
			   c->marker_path);
		return 0;
	case MK_BAD:
		if (why == NULL) {
			*st_r = MAILDROP_TEMP;   /* an I/O error, reason set */
			return 0;
		}
		tempdrop_marker_set_aside(c, why);
		return 0;
	case MK_OK:
		break;
	}
	if (sp == NULL || !tempdrop_marker_names(sp->fd, mk)) {
		tempdrop_marker_set_aside(c, "belongs to another spool file");
		return 0;
	}
	if (tm == NULL && mk->phase != PH_EXTENDED) {
		tempdrop_marker_set_aside(c, "has no temporary drop");
		return 0;
	}
	if (sp->read_only) {
		reason_set(reason, reasonsize, "temp-drop marker %s needs recovery but %s is read-only",
			   c->marker_path, sp->path);
		*st_r = MAILDROP_TEMP;
		return 0;
	}
	return 1;
}

/* COPYING, MERGE: the spool was not touched; cut off what was appended. */
static enum result undo_append(const struct td_ctx *c, struct mbox *tm, const struct marker *mk,
			       uint64_t tsize, const char **outcome)
{
	if (tsize < mk->base) {
		tempdrop_marker_set_aside(c, "records a longer temporary drop than there is");
		return R_ASIDE;
	}
	if (tempdrop_truncate_temp(tm, mk->base) < 0)
		return R_IO_ERROR;
	tempdrop_step("recover-truncate");
	*outcome = "undone";
	return R_DONE;
}

/* COPIED: if the spool still starts with the copied bytes and the
 * temporary drop holds them, cut them from the spool. */
static enum result finish_copy(const struct td_ctx *c, struct mbox *sp, struct mbox *tm,
			       const struct marker *mk, uint64_t tsize, uint64_t ssize,
			       const char **outcome, enum maildrop_status *st_r,
			       char *reason, size_t reasonsize)
{
	uint64_t hash;

	*outcome = "already complete";
	if (ssize < mk->len)
		return R_DONE;
	if (fileops_hash(sp->fd, 0, mk->len, TEMPDROP_MARKER_SEED, c->buf, &hash) < 0)
		return R_IO_ERROR;
	if (hash != mk->hash)
		return R_DONE;   /* removed, and new mail came since */
	if (tsize < tempdrop_marker_total(mk) ||
	    fileops_hash(tm->fd, mk->base + mk->pad, mk->len, TEMPDROP_MARKER_SEED, c->buf,
			 &hash) < 0 ||
	    hash != mk->hash) {
		tempdrop_marker_set_aside(c, "says the spool's mail was copied, but the temporary "
					  "drop does not hold it");
		return R_ASIDE;
	}
	*st_r = mbox_remove_prefix(sp, mk->len, reason, reasonsize);
	if (*st_r != MAILDROP_OK)
		return R_FAILED;
	tempdrop_step("recover-cut");
	*outcome = "completed";
	return R_DONE;
}

/* EXTENDING: spool >= T with spool[S2, T) all zero means the extension
 * was made: go on as EXTENDED (and say so on the disk).  Else undo as
 * MERGE, cutting zeros we may have added when no mail sits behind them. */
static enum result judge_extending(const struct td_ctx *c, struct mbox *sp, struct mbox *tm,
				   struct marker *mk, uint64_t tsize, uint64_t ssize,
				   const char **outcome)
{
	uint64_t total = tempdrop_marker_total(mk);
	int z;

	z = ssize >= total ? tempdrop_all_zero(sp->fd, mk->len, total - mk->len, c->buf) : 0;
	if (z < 0)
		return R_IO_ERROR;
	/* total, or base when an earlier recovery already cut it */
	if (tsize < mk->base || tsize > total || (z == 1 && tsize != total)) {
		tempdrop_marker_set_aside(c, "records a temporary drop of another size");
		return R_ASIDE;
	}
	if (z == 1) {
		/* Extended: from here on only "redo the overwrite" is right,
		 * also for a recovery interrupted in it. */
		mk->phase = PH_EXTENDED;
		if (tempdrop_marker_write(c, mk, false) < 0)
			return R_IO_ERROR;
		tempdrop_step("recover-extended");
		return R_GO_ON;
	}
	/* Not extended (or only partly, by zeros, with no mail behind
	 * them): undo as MERGE. */
	if (ssize > mk->len) {
		z = tempdrop_all_zero(sp->fd, mk->len, ssize - mk->len, c->buf);
		if (z < 0)
			return R_IO_ERROR;
		if (z == 1 && (ftruncate(sp->fd, (off_t)mk->len) < 0 || fsync(sp->fd) < 0))
			return R_IO_ERROR;
	}
	if (tempdrop_truncate_temp(tm, mk->base) < 0)
		return R_IO_ERROR;
	tempdrop_step("recover-truncate");
	*outcome = "undone";
	return R_DONE;
}

/* EXTENDED: write temp[0, T) over spool[0, T) again (idempotent; later
 * mail at >= T stays), fsync, empty the temporary drop. */
static enum result redo_overwrite(const struct td_ctx *c, struct mbox *sp, struct mbox *tm,
				  const struct marker *mk, uint64_t tsize, const char **outcome)
{
	uint64_t total = tempdrop_marker_total(mk);

	if (tsize == 0) {
		*outcome = "already complete";   /* emptied, marker not yet removed */
		return R_DONE;
	}
	if (tsize != total) {
		tempdrop_marker_set_aside(c, "records a temporary drop of another size");
		return R_ASIDE;
	}
	if (fileops_copy(tm->fd, 0, sp->fd, 0, total, c->buf, NULL, &tempdrop_hook,
			 "recover-copy") < 0 ||
	    fsync(sp->fd) < 0)
		return R_IO_ERROR;
	tempdrop_step("recover-fsync");
	if (tempdrop_truncate_temp(tm, 0) < 0)
		return R_IO_ERROR;
	tempdrop_step("recover-emptied");
	*outcome = "completed";
	return R_DONE;
}

enum maildrop_status tempdrop_recover(const struct td_ctx *c, struct mbox *sp, struct mbox *tm,
				      char *reason, size_t reasonsize)
{
	struct marker mk;
	enum maildrop_status st;
	const char *outcome = "";
	uint64_t tsize = 0, ssize = 0;
	enum result r;
	bool writeback;

	if (!marker_to_recover(c, sp, tm, &mk, &st, reason, reasonsize))
		return st;
	/* No temporary drop (EXTENDED only): removed after the write-back. */
	if ((tm != NULL && tempdrop_file_size(tm->fd, &tsize) < 0) ||
	    tempdrop_file_size(sp->fd, &ssize) < 0)
		goto io_error;
	writeback = mk.phase >= PH_MERGE;
	switch (mk.phase) {
	case PH_COPYING:
	case PH_MERGE:
		r = undo_append(c, tm, &mk, tsize, &outcome);
		break;
	case PH_COPIED:
		r = finish_copy(c, sp, tm, &mk, tsize, ssize, &outcome, &st, reason, reasonsize);
		break;
	case PH_EXTENDING:
	case PH_EXTENDED:
	default:
		r = mk.phase == PH_EXTENDING ?
			judge_extending(c, sp, tm, &mk, tsize, ssize, &outcome) : R_GO_ON;
		if (r == R_GO_ON)
			r = redo_overwrite(c, sp, tm, &mk, tsize, &outcome);
		break;
	}
	if (r == R_ASIDE)
		return MAILDROP_OK;
	if (r == R_FAILED)
		return st;
	if (r == R_IO_ERROR)
		goto io_error;
	if (tempdrop_marker_remove(c) < 0) {
		reason_set(reason, reasonsize, "remove marker %s: %s", c->marker_path, strerror(errno));
		return MAILDROP_TEMP;
	}
	tempdrop_step("recover-done");
	log_notice("interrupted %s between %s and the temporary drop %s %s",
		   writeback ? "write-back" : "move", sp->path, c->tpath, outcome);
	return MAILDROP_OK;
io_error:
	reason_set(reason, reasonsize, "recovering the move between %s and %s: %s", sp->path,
		   c->tpath, strerror(errno));
	return MAILDROP_TEMP;
}
