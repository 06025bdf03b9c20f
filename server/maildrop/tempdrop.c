/*
 * tempdrop: Qpopper's temp-drop ("normal") mode -- a session's maildrop
 * operations (contract in tempdrop.h) -- and the description of its moves
 * and their recovery.  The top of temp-drop mode's files (tempdrop_int.h
 * lists them): it calls the moves (tempdrop_movein.c,
 * tempdrop_writeback.c), their recovery (tempdrop_recover.c),
 * tempdrop_file.c and the mbox store below; maildrop.c calls it.  Runs as
 * the user, after the privilege drop; the spool's dot-lock is taken through
 * the locker (the monitor).  The temporary drop and its directory are
 * described in tempdrop_file.c.
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
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/reason.h"
#include "server/maildrop/fileops.h"
#include "server/maildrop/maildrop_store.h"
#include "server/maildrop/tempdrop_int.h"

/* The store of a temp-drop session. */
struct tempdrop {
	struct mbox *m;               /* the temporary drop: open, locked, indexed */
	struct maildrop_settings set; /* to lock the spool again; strings below */
	char *path, *lock_path, *state_dir, *temp_dir, *temp_name, *tpath;
	int dirfd;
	struct td_ctx c;
};

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
	    !tempdrop_name_ok(set->temp_name) || tempdrop_path(set, tpath, sizeof(tpath)) < 0) {
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
	td->path = fileops_dup_or_null(set->path, &fail);
	td->lock_path = fileops_dup_or_null(set->lock_path, &fail);
	td->state_dir = fileops_dup_or_null(set->state_dir, &fail);
	td->temp_dir = fileops_dup_or_null(set->temp_dir, &fail);
	td->temp_name = fileops_dup_or_null(set->temp_name, &fail);
	td->tpath = fileops_dup_or_null(tpath, &fail);
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
	if (tempdrop_ctx_init(&td->c, &td->set, -1, td->tpath, reason, reasonsize) < 0) {
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
	st = tempdrop_open_dir(td->temp_dir, &td->dirfd, &missing, reason, reasonsize);
	if (st != MAILDROP_OK)
		goto fail;
	td->c.dirfd = td->dirfd;
	/* The spool, locked (fcntl, then the dot-lock), its journal done. */
	st = mbox_open_locked(&td->set, false, &sp, reason, reasonsize);
	if (st != MAILDROP_OK)
		goto fail;
	/* The temporary drop, locked without waiting: busy means another
	 * session of this user, and nothing below may run then. */
	st = tempdrop_lock_drop(&td->c, true, &td->m, reason, reasonsize);
	if (st != MAILDROP_OK)
		goto fail;
	fileops_block_signals(&old);
	st = mbox_recover(td->m, reason, reasonsize);
	if (st == MAILDROP_OK)
		st = tempdrop_recover(&td->c, sp, td->m, reason, reasonsize);
	if (st == MAILDROP_OK && sp->fd >= 0)
		st = tempdrop_move_in(&td->c, sp, td->m, reason, reasonsize);
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
	st = tempdrop_write_back(&td->c, sp, td->m, k, true, reason, reasonsize);
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

	if (tempdrop_file_size(td->m->fd, &k) < 0) {
		reason_set(reason, reasonsize, "fstat %s: %s", td->tpath, strerror(errno));
		return MAILDROP_TEMP;
	}
	if (k == 0) {
		/* Nothing kept; mail that arrived meanwhile is in the spool. */
		mbox_forget_journal(td->m);
		if (tempdrop_empty_temp(&td->c, td->m, true) < 0)
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
