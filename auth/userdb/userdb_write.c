/*
 * userdb_write: the user database's writer (auth/userdb/userdb_write.h), for
 * apopdb (the administrator's tool, as root or the database owner) and
 * popauth (setuid to the database owner, never root).  The server does not
 * link it.
 *
 * GDBM has no journal, so a writer killed in the middle of an in-place
 * store can leave a damaged file.  The tools therefore never write in
 * place: an UPDATE copies every record into a new file beside the database
 * (".NAME.new"), applies the change there, syncs it and renames it over the
 * database; a REPLACE (init, import) starts from an empty file.  Readers see
 * the old file or the new one, never a mixture.  Writers are serialised by
 * an exclusive flock() on the directory (held from before the copy to after
 * the rename), and the old file is held with GDBM's shared lock while it is
 * copied, so an in-place writer cannot slip in between.
 *
 * Secrets are wiped from every buffer that held them.
 */
#include "config.h"

#include "auth/userdb/userdb_write.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/userdb/userdb_impl.h"
#include "lib/ctcompare.h"
#include "lib/log.h"
#include "lib/username.h"

#ifdef HAVE_GDBM

/* A writer waits for another writer's copy-and-rename this long (a copy of
 * a large database takes longer than an in-place store). */
#define USERDB_DIRLOCK_TRIES 100

/* Splits db->path into a directory fd (flock()ed) and db->base. */
static int lock_directory(struct userdb *db, char *err, size_t errsize)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(db->path, '/');
	const char *base = slash != NULL ? slash + 1 : db->path;
	size_t dlen;
	int tries;

	if (slash == NULL) {
		snprintf(dir, sizeof(dir), ".");
	} else {
		dlen = (size_t)(slash - db->path);
		if (dlen == 0)
			dlen = 1;   /* "/pop.auth" */
		memcpy(dir, db->path, dlen);
		dir[dlen] = '\0';
	}
	/* ".NAME.new" must fit a file name too. */
	if (base[0] == '\0' || strlen(base) + 6 >= sizeof(db->base)) {
		snprintf(err, errsize, "%s: not a usable file name", db->path);
		errno = EINVAL;
		return -1;
	}
	snprintf(db->base, sizeof(db->base), "%s", base);
	snprintf(db->tmpname, sizeof(db->tmpname), ".%s.new", db->base);
	db->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (db->dirfd < 0) {
		int e = errno;

		snprintf(err, errsize, "%s: directory %s: %s", db->path, dir, strerror(e));
		errno = e;
		return -1;
	}
	for (tries = 0; tries < USERDB_DIRLOCK_TRIES; tries++) {
		if (flock(db->dirfd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			int e = errno;

			snprintf(err, errsize, "%s: cannot lock directory %s: %s", db->path, dir,
				 strerror(e));
			errno = e;
			return -1;
		}
		userdb_pause_ms(USERDB_LOCK_PAUSE_MS);
	}
	snprintf(err, errsize, "%s: another program is changing the database", db->path);
	errno = EAGAIN;
	return -1;
}

/* Creates the new copy (".NAME.new", left over only by a writer that was
 * killed: we hold the directory lock, so it is nobody's now). */
static int create_copy(struct userdb *db, char *err, size_t errsize)
{
	int fd, e;

	if (unlinkat(db->dirfd, db->tmpname, 0) != 0 && errno != ENOENT) {
		e = errno;
		snprintf(err, errsize, "%s: cannot remove the stale %s: %s", db->path,
			 db->tmpname, strerror(e));
		errno = e;
		return -1;
	}
	fd = openat(db->dirfd, db->tmpname,
		    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		e = errno;
		snprintf(err, errsize, "%s: cannot create %s beside it: %s", db->path,
			 db->tmpname, strerror(e));
		errno = e;
		return -1;
	}
	db->tmp_exists = true;
	db->dbf = gdbm_fd_open(fd, db->tmpname, 0,
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
		if (userdb_open_file(path, mode, rules, &db->dbf, &db->st, err, errsize) < 0)
			goto fail;
		return db;
	}

	/* UPDATE / REPLACE: lock the directory, then (UPDATE) the old file,
	 * then build the copy. */
	if (lock_directory(db, err, errsize) < 0)
		goto fail;
	if (mode == USERDB_UPDATE) {
		if (userdb_open_file(path, USERDB_READ, rules, &db->old_dbf, &db->st, err, errsize) < 0)
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
	userdb_close(db);   /* removes the copy, releases the locks */
	errno = saved;
	return NULL;
}

int userdb_commit(struct userdb *db, uid_t uid, gid_t gid)
{
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
	if (renameat(db->dirfd, db->tmpname, db->dirfd, db->base) != 0) {
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
