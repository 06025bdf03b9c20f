/*
 * userdb_write: the user database's writer (auth/userdb/userdb_write.h), for
 * apopdb (the administrator's tool, as root or the database owner) and
 * popauth (setuid to the database owner, never root).  The server does not
 * link it.
 *
 * GDBM has no journal, so a writer killed in the middle of an in-place
 * store can leave a damaged file.  The tools therefore never write in
 * place: an UPDATE copies every record into a new file, applies the change
 * there, syncs it and renames it over the database; a REPLACE (init,
 * import) starts from an empty file.  Readers see the old file or the new
 * one, never a mixture.  The old file is held with GDBM's shared lock while
 * it is copied, so an in-place writer cannot slip in between.
 *
 * Locking.  Writers are serialised by an exclusive flock() on a lock
 * directory beside the database, ".NAME.lock" (made by the first writer and
 * kept; it belongs to the owner of the database's directory, so root's
 * apopdb and the owner's popauth share it).  The holder builds its copy
 * inside it ("new") and renames it from there over the database; the lock
 * is held from before the database is read to after the rename.
 *
 * A holder may stop half-way and never go on: popauth runs setuid, and the
 * user who started it may send it SIGSTOP (the kernel lets the real uid
 * signal it), or it may hang.  Its lock must not shut the administrator out
 * for good, and when it goes on it must never rename an old copy over a
 * newer database.  Hence the takeover, which only apopdb asks for
 * (userdb_rules.takeover): the writer that stops waiting makes a new lock
 * directory under a private name, locks it and swaps it with ".NAME.lock"
 * in one step (renameat2 RENAME_EXCHANGE, so the name never goes missing),
 * then empties the old lock directory and removes it.  Its holder can
 * commit only by renaming "new" out of that directory, and can make "new"
 * only in it: once the directory is gone both fail (ENOENT) whenever it
 * runs again.  The fence is the kernel's rename itself, not a check the
 * holder would make before it (it could be stopped right after the check).
 * A rename it made before the removal is in the database the takeover then
 * reads, so no change is lost either way.  Every writer that gets the lock
 * first removes what a takeover left ("NAME.lock.*"), before it reads the
 * database, so a takeover killed half-way is finished by the next writer.
 *
 * Secrets are wiped from every buffer that held them.
 */
#include "config.h"

#include "auth/userdb/userdb_write.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "auth/userdb/userdb_impl.h"
#include "lib/ctcompare.h"
#include "lib/log.h"
#include "lib/procinfo.h"
#include "lib/username.h"

#ifdef HAVE_GDBM

/* A writer waits for another writer's copy-and-rename this many pauses of
 * USERDB_LOCK_PAUSE_MS (5 s: a copy of a large database takes longer than
 * an in-place store) before it gives up, or takes the lock over when told
 * to take it from any holder. */
#define WRITE_WAIT_TRIES 100
/* A holder seen stopped at every look for this many pauses (1 s) will not
 * go on by itself: a takeover from stopped holders waits no longer. */
#define STOPPED_TRIES 20
/* After this many pauses (1 s) the writer says whom it waits for. */
#define WAIT_NOTICE_TRIES 20
/* Lock directories replaced under a waiting writer (by takeovers) before
 * it gives up. */
#define LOCK_RESTARTS 20
/* Rounds of emptying an old lock directory: its holder, resumed, may make
 * its copy there meanwhile, but only once. */
#define REVOKE_ROUNDS 10
/* What a writer that lost the lock to a takeover says. */
#define TAKEN_OVER_TEXT "the lock was taken over while this change was being made (by " \
	"apopdb: apopdb(8), LOCKING)"
/* Room for a holder's description in a message. */
#define HOLDER_TEXT_MAX 128

/* Who holds a lock, as far as /proc tells. */
struct holder {
	pid_t pid;           /* 0: not known */
	char state;          /* procinfo_state's letter, '?' if not known */
	char name[32];
};

static void holder_find(int lockfd, struct holder *h)
{
	struct stat st;

	h->pid = 0;
	h->state = '?';
	h->name[0] = '\0';
	if (fstat(lockfd, &st) != 0 || procinfo_flock_holder(st.st_dev, st.st_ino, &h->pid) != 0) {
		h->pid = 0;
		return;
	}
	(void)procinfo_state(h->pid, &h->state, h->name, sizeof(h->name));
}

/* "process 1234 (popauth), stopped", for messages. */
static const char *holder_text(const struct holder *h, char *buf, size_t size)
{
	if (h->pid <= 0)
		snprintf(buf, size, "a process that cannot be identified");
	else
		snprintf(buf, size, "process %ld (%s), %s", (long)h->pid,
			 h->name[0] != '\0' ? h->name : "?", procinfo_state_word(h->state));
	return buf;
}

/* Swaps the names a and b in db's directory in one step. */
static int exchange_names(struct userdb *db, const char *a, const char *b)
{
#if defined(HAVE_RENAMEAT2) && defined(RENAME_EXCHANGE)
	return renameat2(db->dirfd, a, db->dirfd, b, RENAME_EXCHANGE);
#elif defined(SYS_renameat2)
	/* An older C library: the system call itself (flag value of
	 * linux/fs.h). */
	return (int)syscall(SYS_renameat2, db->dirfd, a, db->dirfd, b, 1 << 1);
#else
	(void)db; (void)a; (void)b;
	errno = ENOSYS;
	return -1;
#endif
}

/*
 * Opens the lock directory name in db's directory (dst: its stat), making
 * it first (mode 0700) when missing, and judges it: a directory of root,
 * ours or the owner of db's directory, that nobody else may write.  Root
 * gives it to that owner, so that the owner's popauth can lock it too.
 * Returns the descriptor; -1 with errno ENOENT when a takeover moved it
 * just now (err not set); or -1 with err and errno set.
 */
static int open_lock_dir(struct userdb *db, const char *name, const struct stat *dst,
			 char *err, size_t errsize)
{
	struct stat st;
	int fd, e;

	if (mkdirat(db->dirfd, name, 0700) != 0 && errno != EEXIST) {
		e = errno;
		snprintf(err, errsize, "%s: cannot make the lock directory %s: %s", db->path, name,
			 strerror(e));
		errno = e;
		return -1;
	}
	fd = openat(db->dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		e = errno;
		if (fd >= 0)
			close(fd);
		if (e != ENOENT)
			snprintf(err, errsize, "%s: cannot open the lock directory %s: %s", db->path,
				 name, strerror(e));
		errno = e;
		return -1;
	}
	if (geteuid() == 0 && st.st_uid != dst->st_uid &&
	    fchown(fd, dst->st_uid, dst->st_gid) == 0)
		st.st_uid = dst->st_uid;
	if ((st.st_uid != 0 && st.st_uid != geteuid() && st.st_uid != dst->st_uid) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		snprintf(err, errsize, "%s: the lock directory %s is not safe (owner uid %lu, "
			 "mode %04o)", db->path, name, (unsigned long)st.st_uid,
			 (unsigned)(st.st_mode & 07777));
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

/* True when ".NAME.lock" still names the lock directory fd. */
static bool lock_current(struct userdb *db, int fd)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 &&
	       fstatat(db->dirfd, db->lockname, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * Fences the writer of the lock directory name (one that lost the lock):
 * empties it and removes it, so that its writer can neither rename its
 * copy into place nor make one there (see Locking).  A name already gone
 * is fine.  Returns 0, or -1 with err and errno set.
 */
static int fence_off(struct userdb *db, const char *name, char *err, size_t errsize)
{
	int round, e;

	for (round = 0; round < REVOKE_ROUNDS; round++) {
		int fd = openat(db->dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		struct dirent *de;
		DIR *d;

		if (fd < 0) {
			if (errno == ENOENT)
				return 0;
			goto fail;
		}
		d = fdopendir(fd);
		if (d == NULL) {
			e = errno;
			close(fd);
			errno = e;
			goto fail;
		}
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			if (unlinkat(dirfd(d), de->d_name, 0) != 0 && errno != ENOENT) {
				e = errno;
				closedir(d);
				errno = e;
				goto fail;
			}
		}
		closedir(d);
		if (unlinkat(db->dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
			return 0;
		if (errno != ENOTEMPTY && errno != EEXIST)
			goto fail;
		/* Its writer made its copy meanwhile: once more. */
	}
	errno = ENOTEMPTY;
fail:
	e = errno;
	snprintf(err, errsize, "%s: cannot remove the old lock directory %s: %s", db->path, name,
		 strerror(e));
	errno = e;
	return -1;
}

/* Removes what takeovers left beside the lock (".NAME.lock.*"), with the
 * lock held and before the database is read: a takeover killed between its
 * swap and its fence left a holder that could still commit.  Returns 0, or
 * -1 with err and errno set. */
static int sweep_takeovers(struct userdb *db, char *err, size_t errsize)
{
	char prefix[NAME_MAX + 16];
	struct dirent *de;
	size_t plen;
	DIR *d;
	int fd, e;

	plen = (size_t)snprintf(prefix, sizeof(prefix), "%s.", db->lockname);
	fd = openat(db->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		e = errno;
		if (fd >= 0)
			close(fd);
		snprintf(err, errsize, "%s: cannot read its directory: %s", db->path, strerror(e));
		errno = e;
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, plen) != 0)
			continue;
		/* Quietly, like a stale copy: nothing is said while the lock
		 * is held (a blocked standard error would keep it). */
		if (fence_off(db, de->d_name, err, errsize) != 0) {
			e = errno;
			closedir(d);
			errno = e;
			return -1;
		}
	}
	closedir(d);
	return 0;
}

/*
 * Takes the lock over from its holder h (see Locking): a new lock directory
 * under a private name, locked, swapped with ".NAME.lock", then the old one
 * fenced.  Returns the new lock's descriptor, held and current; -1 with
 * errno ENOENT when the lock's name vanished meanwhile (start again; err
 * not set); or -1 with err and errno set.
 */
static int take_over(struct userdb *db, const struct stat *dst, const struct holder *h,
		     char *err, size_t errsize)
{
	char mine[NAME_MAX + 24], who[HOLDER_TEXT_MAX];
	int fd, e;

	holder_text(h, who, sizeof(who));
	/* Said now, while we hold no lock: standard error may block. */
	log_notice("%s: taking the lock over from %s; the change it was making, if any, "
		   "will not be made", db->path, who);
	snprintf(mine, sizeof(mine), "%s.%ld", db->lockname, (long)getpid());
	/* Left by an earlier process with our pid: nobody's now. */
	if (fence_off(db, mine, err, errsize) != 0)
		return -1;
	fd = open_lock_dir(db, mine, dst, err, errsize);
	if (fd < 0) {
		if (errno == ENOENT)
			snprintf(err, errsize, "%s: the lock directory %s vanished", db->path, mine);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0 || exchange_names(db, mine, db->lockname) != 0) {
		e = errno;
		close(fd);
		(void)fence_off(db, mine, err, errsize);
		if (e == ENOENT) {
			errno = ENOENT;   /* ".NAME.lock" moved: start again */
			return -1;
		}
		if (e == EINVAL || e == ENOSYS)
			snprintf(err, errsize, "%s: cannot take the lock over from %s: this file "
				 "system cannot swap two names in one step", db->path, who);
		else
			snprintf(err, errsize, "%s: cannot take the lock over from %s: %s", db->path,
				 who, strerror(e));
		errno = e == EWOULDBLOCK ? EAGAIN : e;
		return -1;
	}
	/* ".NAME.lock" is ours now and mine names the old one: fence it. */
	if (fence_off(db, mine, err, errsize) != 0) {
		e = errno;
		/* Its holder might still commit: give the name back, so that
		 * nobody writes beside it; whoever gets the lock next tries
		 * the fence again (sweep_takeovers). */
		if (exchange_names(db, mine, db->lockname) == 0)
			(void)unlinkat(db->dirfd, mine, AT_REMOVEDIR);
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/*
 * Takes the writers' lock (see Locking) into db->lockfd; dst is the stat of
 * db's directory.  Waits for a holder up to WRITE_WAIT_TRIES pauses, saying
 * so after WAIT_NOTICE_TRIES, and takes the lock over as takeover allows.
 * Returns 0, or -1 with err and errno set (EAGAIN: another program kept
 * the lock).
 */
static int lock_acquire(struct userdb *db, enum userdb_takeover takeover, const struct stat *dst,
			char *err, size_t errsize)
{
	char who[HOLDER_TEXT_MAX];
	int restarts;

	for (restarts = 0; restarts < LOCK_RESTARTS; restarts++) {
		struct holder h = { 0, '?', "" };
		pid_t last = 0;
		int fd, tries, stopped = 0;
		bool held = false;

		fd = open_lock_dir(db, db->lockname, dst, err, errsize);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;   /* moved by a takeover just now */
			return -1;
		}
		for (tries = 0;; tries++) {
			int nfd, e;

			if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
				held = true;
				break;
			}
			if (errno != EWOULDBLOCK && errno != EINTR) {
				e = errno;
				snprintf(err, errsize, "%s: cannot lock %s: %s", db->path, db->lockname,
					 strerror(e));
				close(fd);
				errno = e;
				return -1;
			}
			if (!lock_current(db, fd))
				break;   /* taken over: wait on the new one */
			holder_find(fd, &h);
			stopped = procinfo_state_stopped(h.state) && h.pid == last ? stopped + 1
				: procinfo_state_stopped(h.state);
			last = h.pid;
			if (tries == WAIT_NOTICE_TRIES)
				log_notice("%s: waiting for %s, which is changing the database",
					   db->path, holder_text(&h, who, sizeof(who)));
			if ((takeover != USERDB_TAKEOVER_NEVER && stopped >= STOPPED_TRIES) ||
			    (takeover == USERDB_TAKEOVER_ANY && tries >= WRITE_WAIT_TRIES)) {
				nfd = take_over(db, dst, &h, err, errsize);
				e = errno;
				close(fd);
				if (nfd >= 0) {
					db->lockfd = nfd;
					return 0;
				}
				if (e != ENOENT) {
					errno = e;
					return -1;
				}
				fd = -1;
				break;
			}
			if (tries >= WRITE_WAIT_TRIES) {
				snprintf(err, errsize, "%s: another program is changing the database: %s",
					 db->path, holder_text(&h, who, sizeof(who)));
				close(fd);
				errno = EAGAIN;
				return -1;
			}
			userdb_pause_ms(USERDB_LOCK_PAUSE_MS);
		}
		if (held && lock_current(db, fd)) {
			db->lockfd = fd;
			return 0;
		}
		if (fd >= 0)
			close(fd);   /* replaced while we waited: the new one */
	}
	snprintf(err, errsize, "%s: the lock was taken over again and again; nothing changed",
		 db->path);
	errno = EAGAIN;
	return -1;
}

/* Creates the new copy in the lock directory ("new" is left over only by a
 * writer that was killed or lost the lock: we hold the lock, so it is
 * nobody's now). */
static int create_copy(struct userdb *db, char *err, size_t errsize)
{
	int fd, e;

	if (unlinkat(db->lockfd, USERDB_COPY_NAME, 0) != 0 && errno != ENOENT) {
		e = errno;
		snprintf(err, errsize, "%s: cannot remove the stale copy in %s: %s", db->path,
			 db->lockname, strerror(e));
		errno = e;
		return -1;
	}
	fd = openat(db->lockfd, USERDB_COPY_NAME,
		    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		e = errno;
		if (e == ENOENT)
			snprintf(err, errsize, "%s: %s; nothing changed", db->path,
				 TAKEN_OVER_TEXT);
		else
			snprintf(err, errsize, "%s: cannot create the new copy in %s: %s", db->path,
				 db->lockname, strerror(e));
		errno = e;
		return -1;
	}
	db->tmp_exists = true;
	db->dbf = gdbm_fd_open(fd, USERDB_COPY_NAME, 0,
			       GDBM_NEWDB | GDBM_NOLOCK | GDBM_NOMMAP | GDBM_CLOEXEC, NULL);
	if (db->dbf == NULL) {
		gdbm_error ge = gdbm_errno;

		close(fd);
		snprintf(err, errsize, "%s: cannot start the new copy: %s", db->path,
			 gdbm_strerror(ge));
		errno = EIO;
		return -1;
	}
	return 0;
}

/* Copies every record of the old database into the new copy, as it is. */
static int copy_records(struct userdb *db, char *err, size_t errsize)
{
	unsigned long visited = 0;
	datum key = gdbm_firstkey(db->old_dbf);

	while (key.dptr != NULL) {
		datum val, next;

		if (++visited > USERDB_MAX_KEYS) {
			free(key.dptr);
			snprintf(err, errsize, "%s: too many keys (damaged database?)", db->path);
			return -1;
		}
		val = gdbm_fetch(db->old_dbf, key);
		if (val.dptr == NULL) {
			gdbm_error ge = gdbm_errno;

			free(key.dptr);
			snprintf(err, errsize, "%s: cannot read a record: %s (database damaged?)",
				 db->path, gdbm_strerror(ge));
			return -1;
		}
		if (gdbm_store(db->dbf, key, val, GDBM_REPLACE) != 0) {
			gdbm_error ge = gdbm_errno;

			ct_wipe(val.dptr, (size_t)val.dsize);
			free(val.dptr);
			free(key.dptr);
			snprintf(err, errsize, "%s: cannot write the new copy: %s", db->path,
				 gdbm_strerror(ge));
			return -1;
		}
		ct_wipe(val.dptr, (size_t)val.dsize);
		free(val.dptr);
		next = gdbm_nextkey(db->old_dbf, key);
		free(key.dptr);
		key = next;
	}
	if (gdbm_errno != GDBM_ITEM_NOT_FOUND && gdbm_errno != GDBM_NO_ERROR) {
		snprintf(err, errsize, "%s: walking the database: %s (database damaged?)",
			 db->path, gdbm_strerror(gdbm_errno));
		return -1;
	}
	return 0;
}

struct userdb *userdb_write_open(const char *path, enum userdb_mode mode,
				 const struct userdb_rules *rules,
				 char *err, size_t errsize)
{
	struct userdb *db;
	struct stat dst;
	int saved;

	if (mode == USERDB_READ) {
		snprintf(err, errsize, "%s: a reader opens with userdb_open()", path);
		errno = EINVAL;
		return NULL;
	}
	db = userdb_handle_new(path, mode, err, errsize);
	if (db == NULL)
		return NULL;
	if (mode == USERDB_WRITE || mode == USERDB_CREATE) {
		if (userdb_open_file(-1, path, mode, rules, &db->dbf, &db->st, err, errsize) < 0)
			goto fail;
		return db;
	}

	/* UPDATE / REPLACE: the directory (judged by the rule), the lock,
	 * what takeovers left, then (UPDATE) the old file, then the copy. */
	db->dirfd = userdb_dir_open(path, true, rules, db->base, &dst, err, errsize);
	if (db->dirfd < 0)
		goto fail;
	snprintf(db->lockname, sizeof(db->lockname), ".%s.lock", db->base);
	if (lock_acquire(db, rules != NULL ? rules->takeover : USERDB_TAKEOVER_NEVER, &dst,
			 err, errsize) < 0 ||
	    sweep_takeovers(db, err, errsize) < 0)
		goto fail;
	if (mode == USERDB_UPDATE) {
		if (userdb_open_file(db->dirfd, path, USERDB_READ, rules, &db->old_dbf, &db->st,
				     err, errsize) < 0)
			goto fail;
	}
	if (create_copy(db, err, errsize) < 0)
		goto fail;
	if (mode == USERDB_UPDATE && copy_records(db, err, errsize) < 0) {
		errno = EINVAL;
		goto fail;
	}
	return db;

fail:
	saved = errno;
	userdb_close(db);   /* removes the copy, releases the lock */
	errno = saved;
	return NULL;
}

int userdb_commit(struct userdb *db, uid_t uid, gid_t gid)
{
	struct stat now;
	int fd;

	if (db->mode != USERDB_UPDATE && db->mode != USERDB_REPLACE) {
		userdb_err_set(db, "commit of a handle that is not an update");
		return -1;
	}
	if (db->dbf == NULL || db->committed) {
		userdb_err_set(db, "nothing to commit");
		return -1;
	}
	if (uid == (uid_t)-1 && db->mode == USERDB_UPDATE) {
		uid = db->st.st_uid;
		gid = db->st.st_gid;
	}
	if (gdbm_sync(db->dbf) != 0) {
		userdb_err_gdbm(db, "sync of the new copy");
		return -1;
	}
	fd = gdbm_fdesc(db->dbf);
	if (uid != (uid_t)-1) {
		struct stat st;

		if (fstat(fd, &st) != 0) {
			userdb_err_errno(db, "new copy", errno);
			return -1;
		}
		/* The owner matters (the server checks it); the group of a 0600
		 * file does not, and only root may give any group: best effort. */
		if (st.st_uid != uid && fchown(fd, uid, gid) != 0) {
			char what[96];

			snprintf(what, sizeof(what), "cannot give the new copy the owner uid %lu",
				 (unsigned long)uid);
			userdb_err_errno(db, what, errno);
			return -1;
		}
		if (st.st_uid == uid && st.st_gid != gid)
			(void)fchown(fd, (uid_t)-1, gid);
	}
	if (fchmod(fd, 0600) != 0 || fsync(fd) != 0) {
		userdb_err_errno(db, "new copy", errno);
		return -1;
	}
	/* Closed (and so complete on disk) before anyone can open it. */
	gdbm_close(db->dbf);
	db->dbf = NULL;
	/* Taken over while we worked: say so plainly.  (Only the message: the
	 * fence is the rename below, which fails whatever this finds, since
	 * we could be stopped right after this look; see Locking.) */
	if (!lock_current(db, db->lockfd)) {
		userdb_err_set(db, TAKEN_OVER_TEXT);
		return -1;
	}
	/* A tool that does not take the lock (an in-place writer, a restore
	 * by hand) replaced the file we copied: renaming ours over it would
	 * lose that. */
	if (db->mode == USERDB_UPDATE &&
	    (fstatat(db->dirfd, db->base, &now, AT_SYMLINK_NOFOLLOW) != 0 ||
	     now.st_dev != db->st.st_dev || now.st_ino != db->st.st_ino)) {
		userdb_err_set(db, "the database was replaced meanwhile by a program that does not "
			       "take the lock");
		return -1;
	}
	if (renameat(db->lockfd, USERDB_COPY_NAME, db->dirfd, db->base) != 0) {
		if (errno == ENOENT)
			userdb_err_set(db, TAKEN_OVER_TEXT);
		else
			userdb_err_errno(db, "cannot rename the new copy into place", errno);
		return -1;
	}
	db->committed = true;
	db->tmp_exists = false;
	if (fsync(db->dirfd) != 0) {
		/* The rename is done; only its durability is in doubt. */
		log_warning("%s: syncing the directory: %s", db->path, strerror(errno));
	}
	return 0;
}

bool userdb_writable(struct userdb *db)
{
	if (db->mode == USERDB_READ || db->dbf == NULL || db->committed) {
		userdb_err_set(db, db->mode == USERDB_READ ? "opened read-only" : "already committed");
		return false;
	}
	return true;
}

/* Makes the change durable: an in-place handle syncs after each store; a
 * copy is synced once, at commit. */
static enum userdb_status after_change(struct userdb *db)
{
	if (db->mode == USERDB_UPDATE || db->mode == USERDB_REPLACE)
		return USERDB_OK;
	if (gdbm_sync(db->dbf) != 0) {
		userdb_err_gdbm(db, "sync");
		return USERDB_ERROR;
	}
	return USERDB_OK;
}

/* Stores a finished record under user. */
enum userdb_status userdb_store_raw(struct userdb *db, const char *user,
				    const char *rec, size_t len)
{
	datum key, val;

	key.dptr = (char *)user;
	key.dsize = (int)strlen(user);
	val.dptr = (char *)rec;
	val.dsize = (int)len;
	if (gdbm_store(db->dbf, key, val, GDBM_REPLACE) != 0) {
		userdb_err_gdbm(db, "store");
		return USERDB_ERROR;
	}
	return after_change(db);
}

enum userdb_status userdb_put_entry(struct userdb *db, const char *user,
				    const struct userdb_entry *e)
{
	char out[USERDB_RECORD_MAX + 1];
	struct record_view v;
	enum userdb_status st;
	size_t olen;
	datum old;

	if (!userdb_writable(db))
		return USERDB_ERROR;
	if (!username_valid(user)) {
		userdb_err_set(db, "invalid user name");
		return USERDB_ERROR;
	}
	if (e->secret_len > USERDB_SECRET_MAX || memchr(e->secret, '\0', e->secret_len) != NULL ||
	    (e->kind != USERDB_VIRTUAL && e->kind != USERDB_SYSTEM)) {
		userdb_err_set(db, "secret too long or with a NUL byte, or a bad kind");
		return USERDB_ERROR;
	}
	st = userdb_fetch_record(db, user, &old);
	if (st == USERDB_ERROR)
		return st;
	if (st == USERDB_OK) {
		const char *why = userdb_record_parse(old.dptr, (size_t)old.dsize, &v);

		if (why != NULL) {
			char msg[160];

			snprintf(msg, sizeof(msg), "existing %s; delete it first", why);
			userdb_record_error(db, user, msg);
			userdb_datum_wipe_free(&old);
			return USERDB_ERROR;
		}
	}
	olen = userdb_record_build(e, old.dptr, (size_t)old.dsize, out);
	userdb_datum_wipe_free(&old);
	if (olen == 0) {
		ct_wipe(out, sizeof(out));
		userdb_err_set(db, "record would be too long");
		return USERDB_ERROR;
	}
	st = userdb_store_raw(db, user, out, olen);
	ct_wipe(out, sizeof(out));
	return st;
}

enum userdb_status userdb_set_secret(struct userdb *db, const char *user,
				     const char *secret, size_t len)
{
	struct userdb_entry e;
	enum userdb_status st;

	if (!userdb_writable(db))
		return USERDB_ERROR;
	if (len == 0 || len > USERDB_SECRET_MAX) {
		userdb_err_set(db, "secret empty or too long");
		return USERDB_ERROR;
	}
	st = userdb_get_entry(db, user, &e);
	if (st == USERDB_ERROR) {
		static const char tail[] = "; delete it first";
		size_t l = strlen(db->err);

		/* keep the reason, say what to do */
		if (username_valid(user) && l + sizeof(tail) <= sizeof(db->err))
			memcpy(db->err + l, tail, sizeof(tail));
		return st;
	}
	if (st == USERDB_NOTFOUND) {
		memset(&e, 0, sizeof(e));
		e.kind = USERDB_VIRTUAL;
	}
	memcpy(e.secret, secret, len);
	e.secret[len] = '\0';
	e.secret_len = len;
	st = userdb_put_entry(db, user, &e);
	userdb_entry_wipe(&e);
	return st;
}

enum userdb_status userdb_delete(struct userdb *db, const char *user)
{
	datum key;

	if (!userdb_writable(db))
		return USERDB_ERROR;
	if (!username_valid(user))
		return USERDB_NOTFOUND;
	key.dptr = (char *)user;
	key.dsize = (int)strlen(user);
	if (gdbm_delete(db->dbf, key) != 0) {
		if (gdbm_errno == GDBM_ITEM_NOT_FOUND)
			return USERDB_NOTFOUND;
		userdb_err_gdbm(db, "delete");
		return USERDB_ERROR;
	}
	return after_change(db);
}

#else /* !HAVE_GDBM */

struct userdb *userdb_write_open(const char *path, enum userdb_mode mode,
				 const struct userdb_rules *rules,
				 char *err, size_t errsize)
{
	/* The reader's stand-in says why, whatever the mode. */
	return userdb_open_with(path, mode, rules, err, errsize);
}

int userdb_commit(struct userdb *db, uid_t uid, gid_t gid)
{
	(void)db; (void)uid; (void)gid;
	return -1;
}

enum userdb_status userdb_set_secret(struct userdb *db, const char *user,
				     const char *secret, size_t len)
{
	(void)db; (void)user; (void)secret; (void)len;
	return USERDB_ERROR;
}

enum userdb_status userdb_delete(struct userdb *db, const char *user)
{
	(void)db; (void)user;
	return USERDB_ERROR;
}

enum userdb_status userdb_put_entry(struct userdb *db, const char *user,
				    const struct userdb_entry *e)
{
	(void)db; (void)user; (void)e;
	return USERDB_ERROR;
}

#endif /* HAVE_GDBM */
