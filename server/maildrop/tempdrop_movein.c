/*
 * tempdrop_movein: MOVE IN, the first move of temp-drop mode (tempdrop.c
 * describes it): at login the spool's mail goes to the end of the
 * temporary drop, under the marker, and is then cut from the spool with
 * the journaled commit of mbox_update.c.  Called by tempdrop.c; calls
 * tempdrop_file.c, tempdrop_marker.c, mbox_update.c, fileops.c and
 * uidstore's hash.  Runs as the user, both files locked, the catchable
 * signals blocked.
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
#include "server/maildrop/uidstore.h"

/* Checks both files and fills *mk (phase COPYING) for the move; nothing
 * is written.  mk->len == 0 with OK: the spool is empty, nothing to move. */
static enum maildrop_status plan_move_in(const struct td_ctx *c, struct mbox *sp,
					 struct mbox *tm, struct marker *mk,
					 char *reason, size_t reasonsize)
{
	struct stat sst;
	uint64_t t0;
	bool valid;

	memset(mk, 0, sizeof(*mk));
	if (fstat(sp->fd, &sst) < 0 || tempdrop_file_size(tm->fd, &t0) < 0) {
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
	if (tempdrop_starts_with_from(sp->fd, (uint64_t)sst.st_size, &valid) < 0) {
		reason_set(reason, reasonsize, "read %s: %s", sp->path, strerror(errno));
		return MAILDROP_TEMP;
	}
	if (!valid) {
		reason_set(reason, reasonsize, "%s does not start with a From_ line (not an mbox)",
			   sp->path);
		return MAILDROP_PERM;
	}
	if (t0 > 0 && tempdrop_starts_with_from(tm->fd, t0, &valid) == 0 && !valid) {
		reason_set(reason, reasonsize, "temporary drop %s does not start with a From_ line "
			   "(not an mbox)", c->tpath);
		return MAILDROP_PERM;
	}
	mk->phase = PH_COPYING;
	mk->dev = (uint64_t)sst.st_dev;
	mk->ino = (uint64_t)sst.st_ino;
	mk->base = t0;
	mk->len = (uint64_t)sst.st_size;
	if (tempdrop_join_pad(tm->fd, t0, &mk->pad) < 0) {
		reason_set(reason, reasonsize, "read %s: %s", c->tpath, strerror(errno));
		return MAILDROP_TEMP;
	}
	return MAILDROP_OK;
}

/* Marker COPYING, the append, marker COPIED: from then on the copy in the
 * temporary drop counts.  On failure the append is undone. */
static enum maildrop_status copy_in(const struct td_ctx *c, struct mbox *sp, struct mbox *tm,
				    struct marker *mk, char *reason, size_t reasonsize)
{
	struct uidstore_hasher hs;
	uint64_t t0 = mk->base;
	int e;

	if (tempdrop_marker_write(c, mk, true) < 0) {
		reason_set(reason, reasonsize, "create marker %s: %s", c->marker_path, strerror(errno));
		return MAILDROP_TEMP;
	}
	tempdrop_step("movein-marker");

	uidstore_hash_init(&hs, TEMPDROP_MARKER_SEED);
	if (tempdrop_append_spool(c, sp, tm, mk, &hs, "movein-copy", reason, reasonsize) < 0)
		return MAILDROP_TEMP;
	tempdrop_step("movein-fsync");
	mk->phase = PH_COPIED;
	mk->hash = uidstore_hash_final(&hs);
	if (tempdrop_marker_write(c, mk, false) < 0) {
		e = errno;
		tempdrop_undo_append(c, tm, t0);
		reason_set(reason, reasonsize, "update marker %s: %s", c->marker_path, strerror(e));
		return MAILDROP_TEMP;
	}
	tempdrop_step("movein-copied");
	return MAILDROP_OK;
}

enum maildrop_status tempdrop_move_in(const struct td_ctx *c, struct mbox *sp, struct mbox *tm,
				      char *reason, size_t reasonsize)
{
	struct marker mk;
	enum maildrop_status st;

	st = plan_move_in(c, sp, tm, &mk, reason, reasonsize);
	if (st != MAILDROP_OK || mk.len == 0)
		return st;
	st = copy_in(c, sp, tm, &mk, reason, reasonsize);
	if (st != MAILDROP_OK)
		return st;
	/* From here the copy counts; the spool's bytes are removed with the
	 * same journal as any deletion.  Should that fail, the marker stays
	 * COPIED and the next login removes them. */
	st = mbox_remove_prefix(sp, mk.len, reason, reasonsize);
	if (st != MAILDROP_OK)
		return st;
	tempdrop_step("movein-cut");
	if (tempdrop_marker_remove(c) < 0)
		log_warning("cannot remove the temp-drop marker %s: %s (harmless: the next login "
			    "sees the move is complete)", c->marker_path, strerror(errno));
	tempdrop_step("movein-done");
	log_info("moved %" PRIu64 " octets from %s into the temporary drop %s", mk.len, sp->path,
		 c->tpath);
	return MAILDROP_OK;
}
