/*
 * mbox: opening and closing an mbox spool, and the mbox store's table of
 * maildrop operations (maildrop_store.h).  The top of the mbox floor: it
 * calls mbox_lock.c, mbox_update.c (recovery), mbox_index.c, mbox_send.c
 * and uidstore.c, and is called by maildrop.c and temp-drop mode
 * (tempdrop*.c, which works on an mbox underneath).  Runs as the user,
 * after the privilege drop.
 *
 * Order at open: safe_open the spool (never a symlink, FIFO, device or hard
 * link; owner and mode checked on the descriptor), fcntl write lock, then
 * the dot-lock (mbox_lock.c), then finish any update a crash interrupted
 * (mbox_update.c: it must hold the locks), then index (mbox_index.c), then
 * UIDs.  Server mode with a temp-dir writes back mail a temp-drop session
 * left behind between the recovery and the index: that is composed above
 * mbox, in tempdrop_server.c, from the two halves mbox_open_locked() and
 * mbox_load(); temp-drop mode uses them separately too (mbox_open_locked
 * for the spool, mbox_adopt + mbox_load for the temporary drop).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/reason.h"
#include "lib/safeopen.h"
#include "server/maildrop/fileops.h"
#include "server/maildrop/maildrop_store.h"
#include "server/maildrop/mbox.h"

/* ---- open / close ----------------------------------------------------------- */

void mbox_free(struct mbox *m)
{
	if (m == NULL)
		return;
	mbox_unlock(m);
	if (m->fd >= 0)
		close(m->fd);
	uidstore_free(m->uids);
	free(m->msgs);
	free(m->ids);
	free(m->sendbuf);
	free(m->path);
	free(m->lock_path);
	free(m->state_dir);
	free(m);
}

static enum maildrop_status open_spool(struct mbox *m, const struct maildrop_settings *set,
				       bool create, char *reason, size_t reasonsize)
{
	struct safeopen_rules rules;
	struct stat st;
	const char *why = NULL;
	int e;

	memset(&rules, 0, sizeof(rules));
	rules.check_owner = set->require_owner;
	rules.owner = (uid_t)set->owner_uid;
	m->fd = safe_open(m->path, O_RDWR, 0, &rules, &st, &why);
	/* Created only when missing: O_CREAT on an existing file can fail in
	 * a sticky directory (fs.protected_regular) where a plain open works. */
	if (m->fd < 0 && errno == ENOENT && create)
		m->fd = safe_open(m->path, O_RDWR | O_CREAT | O_EXCL, 0600, &rules, &st, &why);
	if (m->fd < 0 && errno == EEXIST && create)   /* an agent was quicker */
		m->fd = safe_open(m->path, O_RDWR, 0, &rules, &st, &why);
	if (m->fd < 0 && errno == EROFS) {
		m->read_only = true;
		m->fd = safe_open(m->path, O_RDONLY, 0, &rules, &st, &why);
	}
	if (m->fd < 0) {
		e = errno;
		if (e == ENOENT)
			return MAILDROP_OK;   /* no spool file: an empty maildrop */
		reason_set(reason, reasonsize, "spool %s: %s", m->path,
			   why != NULL && e != EACCES && e != EIO ? why : strerror(e));
		return (e == ELOOP || e == EINVAL || e == EPERM || e == EACCES ||
			e == ENOTDIR) ? MAILDROP_PERM : MAILDROP_TEMP;
	}
	if ((st.st_mode & S_IWOTH) != 0) {
		reason_set(reason, reasonsize, "spool %s is writable by others", m->path);
		return MAILDROP_PERM;
	}
	m->dev = st.st_dev;
	m->ino = st.st_ino;
	return MAILDROP_OK;
}

/* UIDs for every message; the state is saved at once when some message was
 * not in it, so the UIDs a client sees survive an aborted session. */
static enum maildrop_status assign_uids(struct mbox *m, char *reason, size_t reasonsize)
{
	long unsaved = uidstore_assign(m->uids, m->ids, m->count);
	unsigned i;

	if (unsaved < 0) {
		reason_set(reason, reasonsize, "out of memory assigning UIDs");
		return MAILDROP_TEMP;
	}
	for (i = 0; i < m->count; i++)
		if (m->ids[i].flags & UIDSTORE_SEEN)
			m->msgs[i].flags |= MBOX_SEEN_START;
	if (unsaved > 0) {
		char why[256];

		if (uidstore_save(m->uids, m->state_dir, m->ids, m->count, why, sizeof(why)) < 0) {
			log_warning("cannot save UID state for %s: %s; new UIDs are for this session only",
				    m->path, why);
			if (uidstore_rekey_new(m->uids, m->ids, m->count) < 0) {
				reason_set(reason, reasonsize, "cannot make session UIDs");
				return MAILDROP_TEMP;
			}
		}
	}
	return MAILDROP_OK;
}

enum maildrop_status mbox_open_locked(const struct maildrop_settings *set, bool create,
				      struct mbox **m_r, char *reason, size_t reasonsize)
{
	enum maildrop_status st;
	struct mbox *m;
	bool fail = false;

	*m_r = NULL;
	reason_set(reason, reasonsize, "no reason");
	if (set->path == NULL || set->state_dir == NULL) {
		reason_set(reason, reasonsize, "no spool path or state directory configured");
		return MAILDROP_PERM;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		reason_set(reason, reasonsize, "out of memory");
		return MAILDROP_TEMP;
	}
	m->fd = -1;
	m->journal_name = MBOX_JOURNAL;
	m->path = fileops_dup_or_null(set->path, &fail);
	m->state_dir = fileops_dup_or_null(set->state_dir, &fail);
	if (set->lock_path != NULL) {
		m->lock_path = fileops_dup_or_null(set->lock_path, &fail);
	} else if (!fail) {
		size_t len = strlen(set->path) + sizeof(".lock");

		m->lock_path = malloc(len);
		if (m->lock_path != NULL)
			snprintf(m->lock_path, len, "%s.lock", set->path);
		else
			fail = true;
	}
	if (fail) {
		mbox_free(m);
		reason_set(reason, reasonsize, "out of memory");
		return MAILDROP_TEMP;
	}
	m->locker = set->locker;
	m->lock_wait = set->lock_wait;
	{
		/* Without it no UID survives and no deletion can be made
		 * safely: better refused at login than failing at every QUIT. */
		struct stat sd;

		int r = lstat(m->state_dir, &sd);

		if (r < 0 || !S_ISDIR(sd.st_mode)) {
			reason_set(reason, reasonsize, "state directory %s: %s", m->state_dir,
				   r < 0 ? strerror(errno) : "not a directory");
			mbox_free(m);
			return MAILDROP_PERM;
		}
	}

	st = open_spool(m, set, create, reason, reasonsize);
	if (st != MAILDROP_OK)
		goto fail;
	if (m->fd >= 0) {
		st = mbox_lock(m, reason, reasonsize);
		if (st != MAILDROP_OK)
			goto fail;
	}
	st = mbox_recover(m, reason, reasonsize);
	if (st != MAILDROP_OK)
		goto fail;
	*m_r = m;
	return MAILDROP_OK;
fail:
	mbox_free(m);
	return st;
}

enum maildrop_status mbox_load(struct mbox *m, bool trust_x_uidl,
			       char *reason, size_t reasonsize)
{
	enum maildrop_status st;
	bool perm = false;

	if (m->fd < 0)
		return MAILDROP_OK;
	m->uids = uidstore_load(m->state_dir, &perm, reason, reasonsize);
	if (m->uids == NULL)
		return perm ? MAILDROP_PERM : MAILDROP_TEMP;
	/* X-UIDL headers count on the first sight only: no need to look. */
	st = mbox_index(m, trust_x_uidl && uidstore_first_sight(m->uids), reason, reasonsize);
	if (st == MAILDROP_OK)
		st = assign_uids(m, reason, reasonsize);
	return st;
}

enum maildrop_status mbox_adopt(int fd, const char *path, const char *state_dir,
				const char *journal_name, struct mbox **m_r,
				char *reason, size_t reasonsize)
{
	enum maildrop_status st;
	struct stat sb;
	struct mbox *m;
	bool fail = false;

	*m_r = NULL;
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		close(fd);
		reason_set(reason, reasonsize, "out of memory");
		return MAILDROP_TEMP;
	}
	m->fd = fd;
	m->journal_name = journal_name;
	m->path = fileops_dup_or_null(path, &fail);
	m->state_dir = fileops_dup_or_null(state_dir, &fail);
	m->lock_path = fileops_dup_or_null("", &fail);   /* never used: no dot-lock */
	if (fail) {
		mbox_free(m);
		reason_set(reason, reasonsize, "out of memory");
		return MAILDROP_TEMP;
	}
	if (fstat(fd, &sb) < 0) {
		reason_set(reason, reasonsize, "fstat %s: %s", path, strerror(errno));
		mbox_free(m);
		return MAILDROP_TEMP;
	}
	m->dev = sb.st_dev;
	m->ino = sb.st_ino;
	/* No wait: the only other holder is another session of the user. */
	st = mbox_lock_fcntl_now(m, reason, reasonsize);
	if (st != MAILDROP_OK) {
		mbox_free(m);
		return st;
	}
	*m_r = m;
	return MAILDROP_OK;
}

enum maildrop_status mbox_open(const struct maildrop_settings *set, struct mbox **m_r,
			       char *reason, size_t reasonsize)
{
	enum maildrop_status st;
	struct mbox *m;

	*m_r = NULL;
	st = mbox_open_locked(set, false, &m, reason, reasonsize);
	if (st != MAILDROP_OK)
		return st;
	st = mbox_load(m, set->trust_x_uidl, reason, reasonsize);
	if (st != MAILDROP_OK) {
		mbox_free(m);
		return st;
	}
	*m_r = m;
	return MAILDROP_OK;
}

/* ---- the maildrop operations ------------------------------------------------ */

static enum maildrop_status op_open(const struct maildrop_settings *set, void **store_r,
				    char *reason, size_t reasonsize)
{
	struct mbox *m;
	enum maildrop_status st = mbox_open(set, &m, reason, reasonsize);

	*store_r = m;
	return st;
}

static unsigned op_count(const void *store)
{
	return ((const struct mbox *)store)->count;
}

static uint64_t op_msg_size(const void *store, unsigned i)
{
	return ((const struct mbox *)store)->ids[i].size;
}

static const char *op_msg_uid(const void *store, unsigned i)
{
	const struct mbox *m = store;

	return uidstore_str(m->uids, m->ids[i].uid);
}

static bool op_msg_deleted(const void *store, unsigned i)
{
	return (((const struct mbox *)store)->msgs[i].flags & MBOX_DELETED) != 0;
}

static void op_msg_delete(void *store, unsigned i)
{
	((struct mbox *)store)->msgs[i].flags |= MBOX_DELETED;
}

static bool op_msg_seen(const void *store, unsigned i)
{
	return (((const struct mbox *)store)->ids[i].flags & UIDSTORE_SEEN) != 0;
}

static void op_msg_mark_seen(void *store, unsigned i)
{
	((struct mbox *)store)->ids[i].flags |= UIDSTORE_SEEN;
}

static void op_reset(void *store)
{
	struct mbox *m = store;
	unsigned i;

	for (i = 0; i < m->count; i++) {
		m->msgs[i].flags &= ~MBOX_DELETED;
		if (m->msgs[i].flags & MBOX_SEEN_START)
			m->ids[i].flags |= UIDSTORE_SEEN;
		else
			m->ids[i].flags &= ~UIDSTORE_SEEN;
	}
}

static int op_send(void *store, unsigned i, uint64_t body_lines, struct netio *io,
		   const char *ok_line, char *reason, size_t reasonsize)
{
	return mbox_send(store, i, body_lines, io, ok_line, reason, reasonsize);
}

/* The commit runs below (mbox_update.c) and leaves the spool open and
 * locked; the unlock and the free happen here, on the way back up. */
static enum maildrop_status op_commit(void *store, struct maildrop_stats *stats,
				      char *reason, size_t reasonsize)
{
	enum maildrop_status st = mbox_commit_keep(store, stats, reason, reasonsize);

	mbox_free(store);
	return st;
}

static void op_close(void *store)
{
	mbox_free(store);
}

const struct maildrop_ops mbox_maildrop_ops = {
	"mbox",
	op_open, op_count, op_msg_size, op_msg_uid, op_msg_deleted, op_msg_delete,
	op_msg_seen, op_msg_mark_seen, op_reset, op_send, op_commit, op_close
};
