/*
 * tempdrop_server: server mode's open when a temp-dir is configured.  Mail
 * a temp-drop session left behind (a crash, a failed write-back, or an
 * administrator who switched modes) must go back into the spool before
 * the spool is indexed, so this open is composed here, above mbox:
 * mbox_open_locked() (the spool locked, its journal recovered), the
 * settling of the temporary drop, then mbox_load().  The store it opens is
 * a plain mbox (mbox_maildrop_ops); maildrop.c chooses this open.  Calls
 * tempdrop_recover.c, tempdrop_writeback.c, tempdrop_file.c, mbox.c,
 * mbox_update.c.  Runs as the user, after the privilege drop.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/reason.h"
#include "server/maildrop/fileops.h"
#include "server/maildrop/tempdrop_int.h"

/* The temporary drop tm (locked, or NULL when only a marker is left),
 * with the signals blocked: its journal, then the marker, are recovered,
 * and mail still in it goes back into the spool *m_r (created when
 * missing, so *m_r may be replaced). */
static enum maildrop_status settle_locked(const struct maildrop_settings *set,
					  const struct td_ctx *c, struct mbox *tm,
					  struct mbox **m_r, char *reason, size_t reasonsize)
{
	enum maildrop_status st = MAILDROP_OK;
	uint64_t k = 0;
	bool valid = false;

	if (tm != NULL)
		st = mbox_recover(tm, reason, reasonsize);
	if (st == MAILDROP_OK)
		st = tempdrop_recover(c, *m_r, tm, reason, reasonsize);
	if (st == MAILDROP_OK && tm != NULL && tempdrop_file_size(tm->fd, &k) < 0) {
		reason_set(reason, reasonsize, "fstat %s: %s", c->tpath, strerror(errno));
		st = MAILDROP_TEMP;
	}
	if (st == MAILDROP_OK && tm != NULL && k == 0 && !set->keep_temp_drop) {
		/* Emptied by the recovery: tidy up, as a session would. */
		if (unlinkat(c->dirfd, set->temp_name, 0) < 0 || fsync(c->dirfd) < 0)
			log_warning("cannot remove the empty temporary drop %s: %s", c->tpath,
				    strerror(errno));
	}
	if (st != MAILDROP_OK || k == 0)
		return st;
	if (tempdrop_starts_with_from(tm->fd, k, &valid) < 0 || !valid) {
		reason_set(reason, reasonsize, "temporary drop %s is not an mbox; mail in it is "
			   "left there", c->tpath);
		return MAILDROP_PERM;
	}
	if ((*m_r)->fd < 0) {
		/* Mail goes back, and there is no spool file: make one. */
		mbox_free(*m_r);
		*m_r = NULL;
		st = mbox_open_locked(set, true, m_r, reason, reasonsize);
		if (st != MAILDROP_OK)
			return st;
	}
	st = tempdrop_write_back(c, *m_r, tm, k, true, reason, reasonsize);
	if (st == MAILDROP_OK)
		log_notice("server mode: mail left in the temporary drop %s (%" PRIu64
			   " octets) is back in %s", c->tpath, k, (*m_r)->path);
	return st;
}

/* Finishes an interrupted move and writes a non-empty temporary drop back
 * into the spool *m_r (locked, its own journal recovered, or fd == -1: no
 * spool), so no mail stays behind when the administrator switches modes.
 * May replace *m_r; *m_r is valid or NULL afterwards.  IN_USE while a
 * temp-drop session of the user runs. */
static enum maildrop_status settle(const struct maildrop_settings *set, struct mbox **m_r,
				   char *reason, size_t reasonsize)
{
	char tpath[TD_PATH_MAX];
	struct td_ctx c;
	struct mbox *tm = NULL;
	enum maildrop_status st;
	struct stat mst;
	bool marker, missing;
	sigset_t old;
	int dirfd;

	if (!tempdrop_name_ok(set->temp_name) || tempdrop_path(set, tpath, sizeof(tpath)) < 0) {
		reason_set(reason, reasonsize, "unusable temp-name \"%s\"",
			   set->temp_name != NULL ? set->temp_name : "");
		return MAILDROP_PERM;
	}
	if (tempdrop_ctx_init(&c, set, -1, tpath, reason, reasonsize) < 0)
		return MAILDROP_PERM;
	marker = lstat(c.marker_path, &mst) == 0;
	st = tempdrop_open_dir(set->temp_dir, &dirfd, &missing, reason, reasonsize);
	if (st != MAILDROP_OK) {
		if (marker)
			return st;   /* a move to finish needs the temporary drop */
		if (!missing)
			log_warning("server mode: cannot look for a temporary drop: %s", reason);
		return MAILDROP_OK;
	}
	c.dirfd = dirfd;
	st = tempdrop_lock_drop(&c, false, &tm, reason, reasonsize);
	if (st != MAILDROP_OK || (tm == NULL && !marker)) {
		close(dirfd);
		return st;
	}
	c.buf = malloc(MBOX_MOVE_BLOCK);
	if (c.buf == NULL) {
		reason_set(reason, reasonsize, "out of memory");
		st = MAILDROP_TEMP;
	} else {
		fileops_block_signals(&old);
		st = settle_locked(set, &c, tm, m_r, reason, reasonsize);
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	free(c.buf);
	mbox_free(tm);
	close(dirfd);
	return st;
}

enum maildrop_status tempdrop_server_open(const struct maildrop_settings *set, void **store_r,
					  char *reason, size_t reasonsize)
{
	enum maildrop_status st;
	struct mbox *m;

	*store_r = NULL;
	/* m is NULL after a failed open, valid or NULL after settle(). */
	st = mbox_open_locked(set, false, &m, reason, reasonsize);
	if (st == MAILDROP_OK)
		st = settle(set, &m, reason, reasonsize);
	if (st == MAILDROP_OK)
		st = mbox_load(m, set->trust_x_uidl, reason, reasonsize);
	if (st == MAILDROP_OK)
		*store_r = m;
	else
		mbox_free(m);
	return st;
}
