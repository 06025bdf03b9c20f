/*
 * userdb_read: opening and reading the user database (auth/userdb/userdb.h):
 * the part the server links.
 *
 * Used by the server (as root, before the session drops privileges; read
 * only) and by the tools (apopdb, popauth) for their listings and lookups;
 * the writer (userdb_write.c) and the bulk tools (userdb_bulk.c) build on
 * the handle and the walk defined here.
 *
 * Opening: the directory and the file are opened by us and judged by the
 * one rule (userdb_rule.c: a directory only root, the owner account or we
 * may write; a regular file with one link, no symbolic link, owned by one
 * of them, mode exactly 0600) and only then is the file handed to GDBM with
 * gdbm_fd_open(), so GDBM never resolves the path itself.  mmap is off so that a file changed under us gives an I/O
 * error, never a SIGBUS.
 *
 * A record that does not parse is an error, never "not found": a damaged
 * database must not silently turn a virtual user into a system user.
 * Nothing is ever "repaired": damage is reported with the file's name.
 * Secrets are wiped from every buffer that held them.
 */
#include "config.h"

#include "auth/userdb/userdb.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/userdb/userdb_impl.h"
#include "lib/ctcompare.h"
#include "lib/log.h"
#include "lib/username.h"

#ifdef HAVE_GDBM

void userdb_err_set(struct userdb *db, const char *what)
{
	snprintf(db->err, sizeof(db->err), "%s: %s", db->path, what);
}

void userdb_err_errno(struct userdb *db, const char *what, int e)
{
	snprintf(db->err, sizeof(db->err), "%s: %s: %s", db->path, what, strerror(e));
}

bool userdb_available(void)
{
	return true;
}

/* The text for the GDBM error just raised, with errno when GDBM says it is a
 * system error. */
void userdb_err_gdbm(struct userdb *db, const char *op)
{
	gdbm_error e = gdbm_errno;
	int saved = errno;

	if (gdbm_check_syserr(e))
		snprintf(db->err, sizeof(db->err), "%s: %s: %s (%s)", db->path, op,
			 gdbm_strerror(e), strerror(saved));
	else
		snprintf(db->err, sizeof(db->err), "%s: %s: %s", db->path, op,
			 gdbm_strerror(e));
}

void userdb_pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int userdb_gdbm_flags(void)
{
	int f = GDBM_NOMMAP | GDBM_CLOEXEC;
#ifdef GDBM_XVERIFY
	f |= GDBM_XVERIFY;   /* check buckets as they are read: a damaged file fails cleanly */
#endif
	return f;
}

/*
 * Opens path for mode in the directory dirfd (judged already) and applies
 * the rule (userdb_rule.c) into *st_r.  Returns the descriptor, or -1 with
 * err and errno set (see userdb_open).
 */
static int open_checked(int dirfd, const char *path, const char *base, enum userdb_mode mode,
			const struct userdb_rules *rules, struct stat *st_r,
			char *err, size_t errsize)
{
	int oflags = mode == USERDB_READ ? O_RDONLY : O_RDWR;
	int fd;

	if (mode == USERDB_CREATE)
		oflags |= O_CREAT;
	fd = userdb_file_open(dirfd, path, base, oflags, rules, st_r, err, errsize);
	if (fd < 0)
		return -1;
	/* GDBM would turn an empty file opened for writing into a new
	 * database; only "create" may do that. */
	if (st_r->st_size == 0 && mode != USERDB_CREATE) {
		snprintf(err, errsize, "%s: empty file, not a user database", path);
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

/*
 * Opens path for READ, WRITE or CREATE into *dbf_r and *st_r.  Returns 0, or
 * -1 with err and errno set (see userdb_open).  An in-place writer re-checks
 * after taking GDBM's lock that the path still names the file it locked: a
 * copy-and-rename writer may have replaced it meanwhile.
 */
int userdb_open_file(int dirfd, const char *path, enum userdb_mode mode,
		     const struct userdb_rules *rules, GDBM_FILE *dbf_r, struct stat *st_r,
		     char *err, size_t errsize)
{
	char base[NAME_MAX + 1];
	struct stat dst;
	int tries, own_dirfd = -1, saved;

	if (dirfd < 0) {
		own_dirfd = dirfd = userdb_dir_open(path, false, rules, base, &dst, err, errsize);
		if (dirfd < 0)
			return -1;
	} else {
		const char *slash = strrchr(path, '/');

		snprintf(base, sizeof(base), "%s", slash != NULL ? slash + 1 : path);
	}
	for (tries = 0; tries < USERDB_LOCK_TRIES; tries++) {
		int gflags = userdb_gdbm_flags();
		struct stat st, now;
		int fd;
		gdbm_error ge;
		GDBM_FILE dbf;

		fd = open_checked(dirfd, path, base, mode, rules, &st, err, errsize);
		if (fd < 0)
			goto fail;
		if (mode == USERDB_READ)
			gflags |= GDBM_READER;
		else if (mode == USERDB_WRITE)
			gflags |= GDBM_WRITER | GDBM_SYNC;
		else
			gflags |= GDBM_WRCREAT | GDBM_SYNC;
		/* No fatal function: GDBM then reports errors instead of
		 * calling exit(). */
		dbf = gdbm_fd_open(fd, path, 0, gflags, NULL);
		if (dbf == NULL) {
			ge = gdbm_errno;
			saved = errno;
			close(fd);
			if (ge == GDBM_CANT_BE_READER || ge == GDBM_CANT_BE_WRITER) {
				userdb_pause_ms(USERDB_LOCK_PAUSE_MS);
				continue;
			}
			if (gdbm_check_syserr(ge))
				snprintf(err, errsize, "%s: %s (%s)", path, gdbm_strerror(ge),
					 strerror(saved));
			else
				snprintf(err, errsize, "%s: %s", path, gdbm_strerror(ge));
			errno = EINVAL;
			goto fail;
		}
		if (mode != USERDB_READ &&
		    (fstatat(dirfd, base, &now, AT_SYMLINK_NOFOLLOW) != 0 ||
		     now.st_dev != st.st_dev || now.st_ino != st.st_ino)) {
			gdbm_close(dbf);   /* replaced while we waited: take the new one */
			continue;
		}
		if (own_dirfd >= 0)
			close(own_dirfd);
		*dbf_r = dbf;
		*st_r = st;
		return 0;
	}
	snprintf(err, errsize, "%s: database is locked by another program", path);
	errno = EAGAIN;
fail:
	saved = errno;
	if (own_dirfd >= 0)
		close(own_dirfd);
	errno = saved;
	return -1;
}

struct userdb *userdb_handle_new(const char *path, enum userdb_mode mode,
				 char *err, size_t errsize)
{
	struct userdb *db;

	if (strlen(path) >= PATH_MAX) {
		snprintf(err, errsize, "%.64s...: path too long", path);
		errno = ENAMETOOLONG;
		return NULL;
	}
	db = calloc(1, sizeof(*db));
	if (db == NULL) {
		snprintf(err, errsize, "%s: %s", path, strerror(errno));
		errno = ENOMEM;
		return NULL;
	}
	snprintf(db->path, sizeof(db->path), "%s", path);
	db->mode = mode;
	db->dirfd = -1;
	db->lockfd = -1;
	return db;
}

struct userdb *userdb_open_with(const char *path, enum userdb_mode mode,
				const struct userdb_rules *rules,
				char *err, size_t errsize)
{
	struct userdb *db;
	int saved;

	if (mode != USERDB_READ) {
		/* The writer is a library part of its own (userdb_write.h),
		 * so that a reader never links it. */
		snprintf(err, errsize, "%s: opened for writing by userdb_write_open()", path);
		errno = EINVAL;
		return NULL;
	}
	db = userdb_handle_new(path, mode, err, errsize);
	if (db == NULL)
		return NULL;
	if (userdb_open_file(-1, path, mode, rules, &db->dbf, &db->st, err, errsize) < 0) {
		saved = errno;
		free(db);
		errno = saved;
		return NULL;
	}
	return db;
}

struct userdb *userdb_open(const char *path, enum userdb_mode mode,
			   char *err, size_t errsize)
{
	return userdb_open_with(path, mode, NULL, err, errsize);
}

static void discard(struct userdb *db)
{
	if (db->dbf != NULL)
		gdbm_close(db->dbf);
	db->dbf = NULL;
	if (db->tmp_exists && !db->committed)
		(void)unlinkat(db->lockfd, USERDB_COPY_NAME, 0);
	db->tmp_exists = false;
	if (db->old_dbf != NULL)
		gdbm_close(db->old_dbf);
	db->old_dbf = NULL;
	if (db->lockfd >= 0)
		close(db->lockfd);   /* releases the writers' lock */
	db->lockfd = -1;
	if (db->dirfd >= 0)
		close(db->dirfd);
	db->dirfd = -1;
}

void userdb_close(struct userdb *db)
{
	if (db == NULL)
		return;
	discard(db);
	free(db);
}

void userdb_datum_wipe_free(datum *d)
{
	if (d->dptr != NULL) {
		ct_wipe(d->dptr, (size_t)d->dsize);
		free(d->dptr);
		d->dptr = NULL;
	}
}

/* Fetches user's raw record.  USERDB_OK: *rec_r is malloc'd (wipe + free). */
enum userdb_status userdb_fetch_record(struct userdb *db, const char *user, datum *rec_r)
{
	datum key;

	rec_r->dptr = NULL;
	rec_r->dsize = 0;
	if (!username_valid(user))
		return USERDB_NOTFOUND;   /* such a key can never have been stored */
	key.dptr = (char *)user;
	key.dsize = (int)strlen(user);
	*rec_r = gdbm_fetch(db->dbf, key);
	if (rec_r->dptr == NULL) {
		if (gdbm_errno == GDBM_ITEM_NOT_FOUND)
			return USERDB_NOTFOUND;
		userdb_err_gdbm(db, "fetch");
		return USERDB_ERROR;
	}
	if (rec_r->dsize < 0 || (size_t)rec_r->dsize > USERDB_RECORD_MAX) {
		userdb_err_set(db, "record too long");
		userdb_datum_wipe_free(rec_r);
		return USERDB_ERROR;
	}
	return USERDB_OK;
}

void userdb_record_error(struct userdb *db, const char *user, const char *why)
{
	char msg[USERNAME_MAX + 256];

	snprintf(msg, sizeof(msg), "user %s: %s", user, why);
	userdb_err_set(db, msg);
}

enum userdb_status userdb_get_entry(struct userdb *db, const char *user,
				    struct userdb_entry *e_r)
{
	struct record_view v;
	enum userdb_status st;
	const char *why;
	datum rec;

	memset(e_r, 0, sizeof(*e_r));
	if (db->dbf == NULL) {
		userdb_err_set(db, "already committed");
		return USERDB_ERROR;
	}
	st = userdb_fetch_record(db, user, &rec);
	if (st != USERDB_OK)
		return st;
	why = userdb_record_parse(rec.dptr, (size_t)rec.dsize, &v);
	if (why != NULL) {
		userdb_record_error(db, user, why);
		userdb_datum_wipe_free(&rec);
		return USERDB_ERROR;
	}
	userdb_record_to_entry(rec.dptr, &v, e_r);
	userdb_datum_wipe_free(&rec);
	return USERDB_OK;
}

enum userdb_status userdb_get_secret(struct userdb *db, const char *user,
				     char *secret_r, size_t secret_size,
				     size_t *len_r)
{
	struct userdb_entry e;
	enum userdb_status st;

	if (secret_size > 0)
		secret_r[0] = '\0';
	if (len_r != NULL)
		*len_r = 0;
	st = userdb_get_entry(db, user, &e);
	if (st != USERDB_OK)
		return st;
	if (e.secret_len + 1 > secret_size) {
		userdb_err_set(db, "secret does not fit the caller's buffer");
		userdb_entry_wipe(&e);
		return USERDB_ERROR;
	}
	memcpy(secret_r, e.secret, e.secret_len + 1);
	if (len_r != NULL)
		*len_r = e.secret_len;
	userdb_entry_wipe(&e);
	return USERDB_OK;
}

void userdb_entry_wipe(struct userdb_entry *e)
{
	ct_wipe(e, sizeof(*e));
}

/* Copies a key into name when it is a valid user name.  Returns false for
 * keys we never write (Qpopper's trailing NUL, bad characters). */
static bool key_name(const datum *key, char name[USERNAME_MAX + 1])
{
	if (key->dsize <= 0 || (size_t)key->dsize > USERNAME_MAX ||
	    memchr(key->dptr, '\0', (size_t)key->dsize) != NULL)
		return false;
	memcpy(name, key->dptr, (size_t)key->dsize);
	name[key->dsize] = '\0';
	return username_valid(name);
}

void userdb_quote_key(const datum *key, char *q, size_t qsize)
{
	log_quote(key->dptr, key->dsize > 0 ? (size_t)key->dsize : 0, q, qsize);
}

/* Walks every key: fn gets the key and its name ("" when not valid).
 * Stops when fn returns non-zero. */
enum userdb_status userdb_walk(struct userdb *db,
			       int (*fn)(struct userdb *db, const datum *key,
					 const char *name, void *ctx), void *ctx)
{
	unsigned long visited = 0;
	datum key;

	if (db->dbf == NULL) {
		userdb_err_set(db, "already committed");
		return USERDB_ERROR;
	}
	key = gdbm_firstkey(db->dbf);
	while (key.dptr != NULL) {
		char name[USERNAME_MAX + 1];
		datum next;
		int stop;

		if (++visited > USERDB_MAX_KEYS) {
			free(key.dptr);
			userdb_err_set(db, "too many keys (damaged database?)");
			return USERDB_ERROR;
		}
		if (!key_name(&key, name))
			name[0] = '\0';
		stop = fn(db, &key, name, ctx);
		if (stop) {
			free(key.dptr);
			return stop < 0 ? USERDB_ERROR : USERDB_OK;
		}
		next = gdbm_nextkey(db->dbf, key);
		free(key.dptr);
		key = next;
	}
	if (gdbm_errno != GDBM_ITEM_NOT_FOUND && gdbm_errno != GDBM_NO_ERROR) {
		userdb_err_gdbm(db, "walk");
		return USERDB_ERROR;
	}
	return USERDB_OK;
}

struct foreach_ctx {
	int (*fn)(const char *user, void *ctx);
	void *ctx;
};

static int foreach_one(struct userdb *db, const datum *key, const char *name, void *ctx)
{
	struct foreach_ctx *f = ctx;

	if (name[0] == '\0') {
		/* Not written by us: never hand it on, say so once per key. */
		char q[USERNAME_MAX * 4 + 8];

		userdb_quote_key(key, q, sizeof(q));
		log_warning("%s: skipping a key that is not a valid user name: \"%s\"",
			    db->path, q);
		return 0;
	}
	return f->fn(name, f->ctx) != 0;
}

enum userdb_status userdb_foreach(struct userdb *db,
				  int (*fn)(const char *user, void *ctx), void *ctx)
{
	struct foreach_ctx f = { fn, ctx };

	return userdb_walk(db, foreach_one, &f);
}

const char *userdb_error(const struct userdb *db)
{
	return db->err[0] != '\0' ? db->err : "no error";
}

void userdb_file_info(const struct userdb *db, uid_t *uid_r, gid_t *gid_r, mode_t *mode_r)
{
	if (uid_r != NULL)
		*uid_r = db->st.st_uid;
	if (gid_r != NULL)
		*gid_r = db->st.st_gid;
	if (mode_r != NULL)
		*mode_r = db->st.st_mode;
}

#else /* !HAVE_GDBM */

bool userdb_available(void)
{
	return false;
}

struct userdb *userdb_open_with(const char *path, enum userdb_mode mode,
				const struct userdb_rules *rules,
				char *err, size_t errsize)
{
	(void)mode; (void)rules;
	snprintf(err, errsize, "%s: popper was built without GDBM", path);
	errno = ENOSYS;
	return NULL;
}

struct userdb *userdb_open(const char *path, enum userdb_mode mode,
			   char *err, size_t errsize)
{
	return userdb_open_with(path, mode, NULL, err, errsize);
}

void userdb_close(struct userdb *db)
{
	(void)db;   /* userdb_open never returns one */
}

enum userdb_status userdb_get_secret(struct userdb *db, const char *user,
				     char *secret_r, size_t secret_size,
				     size_t *len_r)
{
	(void)db; (void)user;
	if (secret_size > 0)
		secret_r[0] = '\0';
	if (len_r != NULL)
		*len_r = 0;
	return USERDB_ERROR;
}

enum userdb_status userdb_foreach(struct userdb *db,
				  int (*fn)(const char *user, void *ctx), void *ctx)
{
	(void)db; (void)fn; (void)ctx;
	return USERDB_ERROR;
}

enum userdb_status userdb_get_entry(struct userdb *db, const char *user,
				    struct userdb_entry *e_r)
{
	(void)db; (void)user;
	memset(e_r, 0, sizeof(*e_r));
	return USERDB_ERROR;
}

void userdb_entry_wipe(struct userdb_entry *e)
{
	ct_wipe(e, sizeof(*e));
}

const char *userdb_error(const struct userdb *db)
{
	(void)db;
	return "popper was built without GDBM";
}

void userdb_file_info(const struct userdb *db, uid_t *uid_r, gid_t *gid_r, mode_t *mode_r)
{
	(void)db;
	if (uid_r != NULL)
		*uid_r = 0;
	if (gid_r != NULL)
		*gid_r = 0;
	if (mode_r != NULL)
		*mode_r = 0;
}

#endif /* HAVE_GDBM */

/* ---- sorted listing (both builds: it only walks userdb_foreach) ----------- */

struct name_list {
	char **names;
	size_t count, alloc;
	bool failed;
};

static int collect_name(const char *user, void *ctx)
{
	struct name_list *l = ctx;

	if (l->count == l->alloc) {
		size_t na = l->alloc ? l->alloc * 2 : 64;
		char **nn;

		if (na > USERDB_LIST_MAX || (nn = realloc(l->names, na * sizeof(*nn))) == NULL) {
			l->failed = true;
			return 1;
		}
		l->names = nn;
		l->alloc = na;
	}
	l->names[l->count] = strdup(user);
	if (l->names[l->count] == NULL) {
		l->failed = true;
		return 1;
	}
	l->count++;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

enum userdb_status userdb_sorted_names(struct userdb *db, char ***names_r, size_t *count_r,
				       bool *oom_r)
{
	struct name_list l = { NULL, 0, 0, false };
	enum userdb_status st = userdb_foreach(db, collect_name, &l);

	*names_r = NULL;
	*count_r = 0;
	*oom_r = st == USERDB_OK && l.failed;
	if (st != USERDB_OK || l.failed) {
		userdb_names_free(l.names, l.count);
		return USERDB_ERROR;
	}
	/* An empty database leaves names NULL, which qsort must not get
	 * (UBSan). */
	if (l.count > 0)
		qsort(l.names, l.count, sizeof(*l.names), cmp_names);
	*names_r = l.names;
	*count_r = l.count;
	return USERDB_OK;
}

void userdb_names_free(char **names, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		free(names[i]);
	free(names);
}
