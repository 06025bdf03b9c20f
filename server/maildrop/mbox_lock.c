/*
 * mbox_lock: the two locks of an mbox file -- an fcntl write lock, then
 * the dot-lock (Debian policy: fcntl first, dot-lock second, so we never
 * deadlock against an LDA) -- and their release.  Below mbox.c (open and
 * close) and mbox_update.c (which refreshes the dot-lock during a
 * commit); calls dotlock.c, or the locker of the settings (a function
 * pointer owned by the engine: the monitor takes the dot-lock for us).
 * Runs as the user, after the privilege drop.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/reason.h"
#include "server/maildrop/dotlock.h"
#include "server/maildrop/mbox.h"

static enum maildrop_status lock_fcntl(struct mbox *m, double deadline,
				       char *reason, size_t reasonsize)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = m->read_only ? F_RDLCK : F_WRLCK;
	fl.l_whence = SEEK_SET;
	for (;;) {
		if (fcntl(m->fd, F_SETLK, &fl) == 0) {
			m->fcntl_locked = true;
			return MAILDROP_OK;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EACCES) {
			reason_set(reason, reasonsize, "fcntl lock %s: %s", m->path, strerror(errno));
			return MAILDROP_TEMP;
		}
		if (dotlock_now_mono() >= deadline) {
			reason_set(reason, reasonsize, "%s is locked (fcntl) by another process",
				   m->path);
			return MAILDROP_IN_USE;
		}
		dotlock_sleep_ms(MBOX_LOCK_PAUSE_MS);
	}
}

static enum maildrop_status lock_dot(struct mbox *m, double deadline,
				     char *reason, size_t reasonsize)
{
	enum maildrop_status st;
	double left = deadline - dotlock_now_mono();
	unsigned wait_s = left > 0 ? (unsigned)(left + 0.999) : 0;

	if (m->locker.lock != NULL) {
		st = m->locker.lock(m->locker.ctx, reason, reasonsize);
	} else {
		enum dotlock_result r;

		m->lock_pid = getpid();
		r = dotlock_acquire(m->lock_path, m->lock_pid, wait_s, reason, reasonsize);
		st = r == DOTLOCK_OK ? MAILDROP_OK : r == DOTLOCK_BUSY ? MAILDROP_IN_USE :
			MAILDROP_TEMP;
	}
	if (st == MAILDROP_OK) {
		m->dot_locked = true;
		m->last_touch = time(NULL);
	} else if (st == MAILDROP_TEMP && m->read_only) {
		/* Nobody can deliver to a read-only file system either. */
		log_notice("no dot-lock for read-only %s: %s", m->path, reason);
		st = MAILDROP_OK;
	}
	return st;
}

enum maildrop_status mbox_lock(struct mbox *m, char *reason, size_t reasonsize)
{
	double deadline = dotlock_now_mono() + m->lock_wait;
	enum maildrop_status st = lock_fcntl(m, deadline, reason, reasonsize);

	if (st == MAILDROP_OK)
		st = lock_dot(m, deadline, reason, reasonsize);
	return st;
}

enum maildrop_status mbox_lock_fcntl_now(struct mbox *m, char *reason, size_t reasonsize)
{
	return lock_fcntl(m, dotlock_now_mono(), reason, reasonsize);
}

void mbox_unlock(struct mbox *m)
{
	if (m->dot_locked) {
		if (m->locker.unlock != NULL)
			m->locker.unlock(m->locker.ctx);
		else if (dotlock_release(m->lock_path, m->lock_pid) < 0)
			log_warning("dot-lock %s was no longer ours at release", m->lock_path);
		m->dot_locked = false;
	}
	if (m->fcntl_locked) {
		struct flock fl;

		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_UNLCK;
		fl.l_whence = SEEK_SET;
		fcntl(m->fd, F_SETLK, &fl);
		m->fcntl_locked = false;
	}
}

void mbox_touch_lock(struct mbox *m)
{
	time_t now = time(NULL);

	if (!m->dot_locked || m->locker.lock != NULL || now - m->last_touch < MBOX_TOUCH_INTERVAL)
		return;
	if (dotlock_touch(m->lock_path) < 0)
		log_warning("cannot refresh dot-lock %s: %s", m->lock_path, strerror(errno));
	m->last_touch = now;
}
