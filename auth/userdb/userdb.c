/*
 * userdb: popper's GDBM user database; the one file that knows the record
 * format and the export format (see auth/userdb/userdb.h and apopdb(8)).
 *
 * Used by the server (as root, before the session drops privileges; read
 * only), by apopdb (the administrator's tool, as root or the database
 * owner) and by popauth (setuid to the database owner, never root).
 *
 * Opening: the file is opened by us with safe_open() first (no symlink, a
 * regular file with one link, no group write, nothing for others; the
 * server adds: mode exactly 0600, owned by the owner account or root) and
 * only then handed to GDBM with gdbm_fd_open(), so GDBM never resolves the
 * path itself.  mmap is off so that a file changed under us gives an I/O
 * error, never a SIGBUS.
 *
 * Writing: GDBM has no journal, so a writer killed in the middle of an
 * in-place store can leave a damaged file.  The tools therefore never write
 * in place: an UPDATE copies every record into a new file beside the
 * database (".NAME.new"), applies the change there, syncs it and renames it
 * over the database; a REPLACE (init, import) starts from an empty file.
 * Readers see the old file or the new one, never a mixture.  Writers are
 * serialised by an exclusive flock() on the directory (held from before the
 * copy to after the rename), and the old file is held with GDBM's shared
 * lock while it is copied, so an in-place writer cannot slip in between.
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
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/ctcompare.h"
#include "lib/log.h"
#include "lib/safeopen.h"
#include "lib/username.h"

#ifdef HAVE_GDBM
#include <gdbm.h>
#endif

/* Longest record we accept from the file: "v1\n", the kind line, the secret
 * line (2 hex digits per byte) and room for fields later versions may add. */
#define USERDB_RECORD_MAX 4096
/* Longest field name in a record line ("secret", later verifier names). */
#define USERDB_FIELD_NAME_MAX 32
/* A reader waits for an in-place writer (apopdb's WRITE mode, milliseconds)
 * up to LOCK_TRIES * LOCK_PAUSE_MS before giving up. */
#define USERDB_LOCK_TRIES 20
#define USERDB_LOCK_PAUSE_MS 50
/* A writer waits for another writer's copy-and-rename this long (a copy of
 * a large database takes longer than an in-place store). */
#define USERDB_DIRLOCK_TRIES 100
/* Upper bound on keys visited by a walk (a damaged file must not make it
 * endless) and on entries in an import. */
#define USERDB_MAX_KEYS 1000000UL
/* A Qpopper SCRAM-MD5 field is base64 of a 40-byte verifier (56 chars);
 * anything much longer is not one. */
#define QPOPPER_SCRAM_MAX 256

#define USERDB_ERR_MAX 512

/* The export format's first line (apopdb(8), EXPORT FORMAT). */
static const char export_magic[] = "popper-userdb-export 1";

#ifdef HAVE_GDBM

static const char record_magic[] = "v1\n";
static const char secret_field[] = "secret";
static const char kind_field[] = "kind";
static const char scram_field_qpopper[] = "qpopper-scram-md5";

struct userdb {
	GDBM_FILE dbf;        /* the database we read and write */
	enum userdb_mode mode;
	struct stat st;       /* of the file opened (UPDATE: the old one) */
	/* UPDATE / REPLACE */
	GDBM_FILE old_dbf;    /* UPDATE: the old database, shared lock */
	int dirfd;            /* the directory, flock()ed; -1 if none */
	char base[NAME_MAX + 1];
	char tmpname[NAME_MAX + 8];   /* ".NAME.new" */
	bool tmp_exists;
	bool committed;
	char path[PATH_MAX];
	char err[PATH_MAX + USERDB_ERR_MAX];   /* room for a path and a reason */
};

static void set_err(struct userdb *db, const char *what)
{
	snprintf(db->err, sizeof(db->err), "%s: %s", db->path, what);
}

static void set_errno_err(struct userdb *db, const char *what, int e)
{
	snprintf(db->err, sizeof(db->err), "%s: %s: %s", db->path, what, strerror(e));
}

/* ---- record format -------------------------------------------------------- */

struct record_view {
	enum userdb_kind kind;
	bool has_secret;
	size_t secret_off;  /* offset of the hex digits of the secret */
	size_t secret_hexlen;
	unsigned others;    /* lines that are neither kind nor secret */
};

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;   /* upper case is not v1: the writer always uses lower case */
}

static bool field_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static bool is_field(const char *line, size_t name_len, const char *name)
{
	return name_len == strlen(name) && memcmp(line, name, name_len) == 0;
}

/* Checks a whole record and finds its fields.  Returns NULL or a reason. */
static const char *record_parse(const char *rec, size_t len, struct record_view *v)
{
	size_t magic_len = sizeof(record_magic) - 1;
	size_t pos, secrets = 0, kinds = 0;

	memset(v, 0, sizeof(*v));
	v->kind = USERDB_VIRTUAL;
	if (len > USERDB_RECORD_MAX)
		return "record too long";
	if (len < magic_len || memcmp(rec, record_magic, magic_len) != 0)
		return "record is not in format v1";
	if (memchr(rec, '\0', len) != NULL)
		return "record contains a NUL byte";
	pos = magic_len;
	while (pos < len) {
		const char *line = rec + pos;
		const char *nl = memchr(line, '\n', len - pos);
		const char *eq, *val;
		size_t line_len, name_len, val_len, i;

		if (nl == NULL)
			return "record does not end with a newline";
		line_len = (size_t)(nl - line);
		eq = memchr(line, '=', line_len);
		if (eq == NULL)
			return "record line without '='";
		name_len = (size_t)(eq - line);
		val = eq + 1;
		val_len = line_len - name_len - 1;
		if (name_len == 0 || name_len > USERDB_FIELD_NAME_MAX)
			return "record field name empty or too long";
		for (i = 0; i < name_len; i++)
			if (!field_name_char((unsigned char)line[i]))
				return "record field name has a bad character";
		if (is_field(line, name_len, secret_field)) {
			if (++secrets > 1)
				return "record has two secrets";
			if (val_len == 0 || val_len % 2 != 0 || val_len / 2 > USERDB_SECRET_MAX)
				return "record secret has a bad length";
			for (i = 0; i < val_len; i++)
				if (hex_value((unsigned char)val[i]) < 0)
					return "record secret is not lower-case hex";
			/* A NUL byte cannot be typed and would end the secret
			 * early in C strings: never stored. */
			for (i = 0; i < val_len; i += 2)
				if (val[i] == '0' && val[i + 1] == '0')
					return "record secret contains a NUL byte";
			v->has_secret = true;
			v->secret_off = (size_t)(val - rec);
			v->secret_hexlen = val_len;
		} else if (is_field(line, name_len, kind_field)) {
			if (++kinds > 1)
				return "record has two kinds";
			if (val_len == 7 && memcmp(val, "virtual", 7) == 0)
				v->kind = USERDB_VIRTUAL;
			else if (val_len == 6 && memcmp(val, "system", 6) == 0)
				v->kind = USERDB_SYSTEM;
			else
				return "record kind is neither virtual nor system";
		} else {
			v->others++;
		}
		pos += line_len + 1;
	}
	return NULL;
}

/* Builds the v1 record for e into out (size USERDB_RECORD_MAX + 1): magic,
 * kind, secret, then the lines of old (a parsed record, may be NULL) that
 * are neither kind nor secret, in their order.  Returns the length, or 0
 * when it would be too long. */
static size_t record_build(const struct userdb_entry *e, const char *old, size_t oldlen,
			   char *out)
{
	static const char hexdigits[] = "0123456789abcdef";
	const char *kind = e->kind == USERDB_SYSTEM ? "kind=system\n" : "kind=virtual\n";
	size_t olen, i, pos;

	olen = sizeof(record_magic) - 1;
	memcpy(out, record_magic, olen);
	memcpy(out + olen, kind, strlen(kind));
	olen += strlen(kind);
	if (e->secret_len > 0) {
		if (olen + sizeof(secret_field) + 2 * e->secret_len + 1 > USERDB_RECORD_MAX)
			return 0;
		memcpy(out + olen, secret_field, sizeof(secret_field) - 1);
		olen += sizeof(secret_field) - 1;
		out[olen++] = '=';
		for (i = 0; i < e->secret_len; i++) {
			unsigned char c = (unsigned char)e->secret[i];

			out[olen++] = hexdigits[c >> 4];
			out[olen++] = hexdigits[c & 0x0f];
		}
		out[olen++] = '\n';
	}
	if (old == NULL)
		return olen;
	for (pos = sizeof(record_magic) - 1; pos < oldlen;) {
		const char *line = old + pos;
		const char *nl = memchr(line, '\n', oldlen - pos);
		size_t line_len = (size_t)(nl - line) + 1;   /* parse checked nl */
		const char *eq = memchr(line, '=', line_len);
		size_t name_len = (size_t)(eq - line);

		pos += line_len;
		if (is_field(line, name_len, secret_field) || is_field(line, name_len, kind_field))
			continue;
		if (olen + line_len > USERDB_RECORD_MAX)
			return 0;
		memcpy(out + olen, line, line_len);
		olen += line_len;
	}
	return olen;
}

/* Decodes the secret of a parsed record into e. */
static void record_to_entry(const char *rec, const struct record_view *v,
			    struct userdb_entry *e)
{
	size_t i, n = v->secret_hexlen / 2;

	memset(e, 0, sizeof(*e));
	e->kind = v->kind;
	e->other_fields = v->others;
	if (!v->has_secret)
		return;
	for (i = 0; i < n; i++) {
		const unsigned char *h = (const unsigned char *)rec + v->secret_off + 2 * i;

		e->secret[i] = (char)(hex_value(h[0]) << 4 | hex_value(h[1]));
	}
	e->secret[n] = '\0';
	e->secret_len = n;
}

/* ---- GDBM ---------------------------------------------------------------- */

bool userdb_available(void)
{
	return true;
}

/* The text for the GDBM error just raised, with errno when GDBM says it is a
 * system error. */
static void set_gdbm_err(struct userdb *db, const char *op)
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

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int gdbm_extra_flags(void)
{
	int f = GDBM_NOMMAP | GDBM_CLOEXEC;
#ifdef GDBM_XVERIFY
	f |= GDBM_XVERIFY;   /* check buckets as they are read: a damaged file fails cleanly */
#endif
	return f;
}

/* The server's rule on the file it found (strict rules only).  Returns NULL
 * or the reason. */
static const char *strict_check(const struct stat *st, const struct userdb_rules *rules)
{
	bool owner_ok = st->st_uid == 0 || st->st_uid == geteuid() ||
			(rules->owner_set && st->st_uid == rules->owner_uid);

	if (!owner_ok && (st->st_mode & 07777) != 0600)
		return "wrong owner and mode";
	if (!owner_ok)
		return "wrong owner";
	if ((st->st_mode & 07777) != 0600)
		return "wrong mode (must be 0600)";
	return NULL;
}

/*
 * Opens path for READ, WRITE or CREATE into *dbf_r and *st_r.  Returns 0, or
 * -1 with err and errno set (see userdb_open).  An in-place writer re-checks
 * after taking GDBM's lock that the path still names the file it locked: a
 * copy-and-rename writer may have replaced it meanwhile.
 */
static int open_file(const char *path, enum userdb_mode mode, const struct userdb_rules *xr,
		     GDBM_FILE *dbf_r, struct stat *st_r, char *err, size_t errsize)
{
	static const struct safeopen_rules rules = {
		.no_group_write = true, .no_other_access = true,
	};
	int tries;

	for (tries = 0; tries < USERDB_LOCK_TRIES; tries++) {
		int oflags = mode == USERDB_READ ? O_RDONLY : O_RDWR;
		int gflags = gdbm_extra_flags();
		const char *why = NULL;
		struct stat st, now;
		int fd, saved;
		gdbm_error ge;
		GDBM_FILE dbf;

		if (mode == USERDB_CREATE)
			oflags |= O_CREAT;
		memset(&st, 0, sizeof(st));
		fd = safe_open(path, oflags, 0600, &rules, &st, &why);
		if (fd < 0) {
			saved = errno;
			/* why explains our own refusals; errno says more
			 * about the others (missing, permission...). */
			if (why != NULL && (saved == ELOOP || saved == EINVAL || saved == EPERM)) {
				if (st.st_ino != 0)
					snprintf(err, errsize, "%s: %s (owner uid %lu, mode %04o)",
						 path, why, (unsigned long)st.st_uid,
						 (unsigned)(st.st_mode & 07777));
				else
					snprintf(err, errsize, "%s: %s", path, why);
				saved = EPERM;
			} else {
				snprintf(err, errsize, "%s: %s", path, strerror(saved));
			}
			errno = saved;
			return -1;
		}
		if (xr != NULL && xr->strict && (why = strict_check(&st, xr)) != NULL) {
			snprintf(err, errsize, "%s: %s (owner uid %lu, mode %04o)", path, why,
				 (unsigned long)st.st_uid, (unsigned)(st.st_mode & 07777));
			close(fd);
			errno = EPERM;
			return -1;
		}
		/* GDBM would turn an empty file opened for writing into a new
		 * database; only "create" may do that. */
		if (st.st_size == 0 && mode != USERDB_CREATE) {
			snprintf(err, errsize, "%s: empty file, not a user database", path);
			close(fd);
			errno = EINVAL;
			return -1;
		}
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
				pause_ms(USERDB_LOCK_PAUSE_MS);
				continue;
			}
			if (gdbm_check_syserr(ge))
				snprintf(err, errsize, "%s: %s (%s)", path, gdbm_strerror(ge),
					 strerror(saved));
			else
				snprintf(err, errsize, "%s: %s", path, gdbm_strerror(ge));
			errno = EINVAL;
			return -1;
		}
		if (mode != USERDB_READ &&
		    (lstat(path, &now) != 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino)) {
			gdbm_close(dbf);   /* replaced while we waited: take the new one */
			continue;
		}
		*dbf_r = dbf;
		*st_r = st;
		return 0;
	}
	snprintf(err, errsize, "%s: database is locked by another program", path);
	errno = EAGAIN;
	return -1;
}

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
		pause_ms(USERDB_LOCK_PAUSE_MS);
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

static void discard(struct userdb *db)
{
	if (db->dbf != NULL)
		gdbm_close(db->dbf);
	db->dbf = NULL;
	if (db->tmp_exists && !db->committed)
		(void)unlinkat(db->dirfd, db->tmpname, 0);
	db->tmp_exists = false;
	if (db->old_dbf != NULL)
		gdbm_close(db->old_dbf);
	db->old_dbf = NULL;
	if (db->dirfd >= 0)
		close(db->dirfd);   /* releases the directory lock */
	db->dirfd = -1;
}

struct userdb *userdb_open_with(const char *path, enum userdb_mode mode,
				const struct userdb_rules *rules,
				char *err, size_t errsize)
{
	struct userdb *db;
	int saved;

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

	if (mode == USERDB_READ || mode == USERDB_WRITE || mode == USERDB_CREATE) {
		if (open_file(path, mode, rules, &db->dbf, &db->st, err, errsize) < 0) {
			saved = errno;
			free(db);
			errno = saved;
			return NULL;
		}
		return db;
	}

	/* UPDATE / REPLACE: lock the directory, then (UPDATE) the old file,
	 * then build the copy. */
	if (lock_directory(db, err, errsize) < 0)
		goto fail;
	if (mode == USERDB_UPDATE) {
		if (open_file(path, USERDB_READ, rules, &db->old_dbf, &db->st, err, errsize) < 0)
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
	discard(db);
	free(db);
	errno = saved;
	return NULL;
}

struct userdb *userdb_open(const char *path, enum userdb_mode mode,
			   char *err, size_t errsize)
{
	return userdb_open_with(path, mode, NULL, err, errsize);
}

int userdb_commit(struct userdb *db, uid_t uid, gid_t gid)
{
	int fd;

	if (db->mode != USERDB_UPDATE && db->mode != USERDB_REPLACE) {
		set_err(db, "commit of a handle that is not an update");
		return -1;
	}
	if (db->dbf == NULL || db->committed) {
		set_err(db, "nothing to commit");
		return -1;
	}
	if (uid == (uid_t)-1 && db->mode == USERDB_UPDATE) {
		uid = db->st.st_uid;
		gid = db->st.st_gid;
	}
	if (gdbm_sync(db->dbf) != 0) {
		set_gdbm_err(db, "sync of the new copy");
		return -1;
	}
	fd = gdbm_fdesc(db->dbf);
	if (uid != (uid_t)-1) {
		struct stat st;

		if (fstat(fd, &st) != 0) {
			set_errno_err(db, "new copy", errno);
			return -1;
		}
		/* The owner matters (the server checks it); the group of a 0600
		 * file does not, and only root may give any group: best effort. */
		if (st.st_uid != uid && fchown(fd, uid, gid) != 0) {
			char what[96];

			snprintf(what, sizeof(what), "cannot give the new copy the owner uid %lu",
				 (unsigned long)uid);
			set_errno_err(db, what, errno);
			return -1;
		}
		if (st.st_uid == uid && st.st_gid != gid)
			(void)fchown(fd, (uid_t)-1, gid);
	}
	if (fchmod(fd, 0600) != 0 || fsync(fd) != 0) {
		set_errno_err(db, "new copy", errno);
		return -1;
	}
	/* Closed (and so complete on disk) before anyone can open it. */
	gdbm_close(db->dbf);
	db->dbf = NULL;
	if (renameat(db->dirfd, db->tmpname, db->dirfd, db->base) != 0) {
		set_errno_err(db, "cannot rename the new copy into place", errno);
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

void userdb_close(struct userdb *db)
{
	if (db == NULL)
		return;
	discard(db);
	free(db);
}

static void datum_wipe_free(datum *d)
{
	if (d->dptr != NULL) {
		ct_wipe(d->dptr, (size_t)d->dsize);
		free(d->dptr);
		d->dptr = NULL;
	}
}

static bool writable(struct userdb *db)
{
	if (db->mode == USERDB_READ || db->dbf == NULL || db->committed) {
		set_err(db, db->mode == USERDB_READ ? "opened read-only" : "already committed");
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
		set_gdbm_err(db, "sync");
		return USERDB_ERROR;
	}
	return USERDB_OK;
}

/* Fetches user's raw record.  USERDB_OK: *rec_r is malloc'd (wipe + free). */
static enum userdb_status fetch_record(struct userdb *db, const char *user, datum *rec_r)
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
		set_gdbm_err(db, "fetch");
		return USERDB_ERROR;
	}
	if (rec_r->dsize < 0 || (size_t)rec_r->dsize > USERDB_RECORD_MAX) {
		set_err(db, "record too long");
		datum_wipe_free(rec_r);
		return USERDB_ERROR;
	}
	return USERDB_OK;
}

static void record_error(struct userdb *db, const char *user, const char *why)
{
	char msg[USERNAME_MAX + 256];

	snprintf(msg, sizeof(msg), "user %s: %s", user, why);
	set_err(db, msg);
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
		set_err(db, "already committed");
		return USERDB_ERROR;
	}
	st = fetch_record(db, user, &rec);
	if (st != USERDB_OK)
		return st;
	why = record_parse(rec.dptr, (size_t)rec.dsize, &v);
	if (why != NULL) {
		record_error(db, user, why);
		datum_wipe_free(&rec);
		return USERDB_ERROR;
	}
	record_to_entry(rec.dptr, &v, e_r);
	datum_wipe_free(&rec);
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
		set_err(db, "secret does not fit the caller's buffer");
		userdb_entry_wipe(&e);
		return USERDB_ERROR;
	}
	memcpy(secret_r, e.secret, e.secret_len + 1);
	if (len_r != NULL)
		*len_r = e.secret_len;
	userdb_entry_wipe(&e);
	return USERDB_OK;
}

/* Stores a finished record under user. */
static enum userdb_status store_raw(struct userdb *db, const char *user,
				    const char *rec, size_t len)
{
	datum key, val;

	key.dptr = (char *)user;
	key.dsize = (int)strlen(user);
	val.dptr = (char *)rec;
	val.dsize = (int)len;
	if (gdbm_store(db->dbf, key, val, GDBM_REPLACE) != 0) {
		set_gdbm_err(db, "store");
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

	if (!writable(db))
		return USERDB_ERROR;
	if (!username_valid(user)) {
		set_err(db, "invalid user name");
		return USERDB_ERROR;
	}
	if (e->secret_len > USERDB_SECRET_MAX || memchr(e->secret, '\0', e->secret_len) != NULL ||
	    (e->kind != USERDB_VIRTUAL && e->kind != USERDB_SYSTEM)) {
		set_err(db, "secret too long or with a NUL byte, or a bad kind");
		return USERDB_ERROR;
	}
	st = fetch_record(db, user, &old);
	if (st == USERDB_ERROR)
		return st;
	if (st == USERDB_OK) {
		const char *why = record_parse(old.dptr, (size_t)old.dsize, &v);

		if (why != NULL) {
			char msg[160];

			snprintf(msg, sizeof(msg), "existing %s; delete it first", why);
			record_error(db, user, msg);
			datum_wipe_free(&old);
			return USERDB_ERROR;
		}
	}
	olen = record_build(e, old.dptr, (size_t)old.dsize, out);
	datum_wipe_free(&old);
	if (olen == 0) {
		ct_wipe(out, sizeof(out));
		set_err(db, "record would be too long");
		return USERDB_ERROR;
	}
	st = store_raw(db, user, out, olen);
	ct_wipe(out, sizeof(out));
	return st;
}

enum userdb_status userdb_set_secret(struct userdb *db, const char *user,
				     const char *secret, size_t len)
{
	struct userdb_entry e;
	enum userdb_status st;

	if (!writable(db))
		return USERDB_ERROR;
	if (len == 0 || len > USERDB_SECRET_MAX) {
		set_err(db, "secret empty or too long");
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

	if (!writable(db))
		return USERDB_ERROR;
	if (!username_valid(user))
		return USERDB_NOTFOUND;
	key.dptr = (char *)user;
	key.dsize = (int)strlen(user);
	if (gdbm_delete(db->dbf, key) != 0) {
		if (gdbm_errno == GDBM_ITEM_NOT_FOUND)
			return USERDB_NOTFOUND;
		set_gdbm_err(db, "delete");
		return USERDB_ERROR;
	}
	return after_change(db);
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

static void quote_key(const datum *key, char *q, size_t qsize)
{
	log_quote(key->dptr, key->dsize > 0 ? (size_t)key->dsize : 0, q, qsize);
}

/* Walks every key: fn gets the key and its name ("" when not valid).
 * Stops when fn returns non-zero. */
static enum userdb_status walk(struct userdb *db,
			       int (*fn)(struct userdb *db, const datum *key,
					 const char *name, void *ctx), void *ctx)
{
	unsigned long visited = 0;
	datum key;

	if (db->dbf == NULL) {
		set_err(db, "already committed");
		return USERDB_ERROR;
	}
	key = gdbm_firstkey(db->dbf);
	while (key.dptr != NULL) {
		char name[USERNAME_MAX + 1];
		datum next;
		int stop;

		if (++visited > USERDB_MAX_KEYS) {
			free(key.dptr);
			set_err(db, "too many keys (damaged database?)");
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
		set_gdbm_err(db, "walk");
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

		quote_key(key, q, sizeof(q));
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

	return walk(db, foreach_one, &f);
}

/* ---- export and import ------------------------------------------------------ */

struct export_ctx {
	FILE *out;
	unsigned long count;
};

static int export_one(struct userdb *db, const datum *key, const char *name, void *ctx)
{
	struct export_ctx *x = ctx;
	struct record_view v;
	const char *why;
	datum rec;
	enum userdb_status st;

	if (name[0] == '\0') {
		char q[USERNAME_MAX * 4 + 8];

		quote_key(key, q, sizeof(q));
		snprintf(db->err, sizeof(db->err),
			 "%s: key \"%s\" is not a valid user name; nothing exported "
			 "(a Qpopper database? use import --qpopper)", db->path, q);
		return -1;
	}
	st = fetch_record(db, name, &rec);
	if (st != USERDB_OK) {
		if (st == USERDB_NOTFOUND)
			record_error(db, name, "vanished during the export");
		return -1;
	}
	why = record_parse(rec.dptr, (size_t)rec.dsize, &v);
	if (why != NULL) {
		record_error(db, name, why);
		datum_wipe_free(&rec);
		return -1;
	}
	/* The record's lines as stored, after the version line. */
	fprintf(x->out, "[%s]\n", name);
	fwrite(rec.dptr + sizeof(record_magic) - 1, 1,
	       (size_t)rec.dsize - (sizeof(record_magic) - 1), x->out);
	datum_wipe_free(&rec);
	x->count++;
	return 0;
}

enum userdb_status userdb_export(struct userdb *db, FILE *out, unsigned long *count_r)
{
	struct export_ctx x = { out, 0 };
	enum userdb_status st;

	*count_r = 0;
	fprintf(out, "%s\n"
		"# popper user database export (apopdb(8), EXPORT FORMAT) of %s.\n"
		"# It holds every secret of the database in clear (hex): keep it safe.\n",
		export_magic, db->path);
	st = walk(db, export_one, &x);
	if (st != USERDB_OK)
		return st;
	if (fflush(out) != 0 || ferror(out)) {
		set_errno_err(db, "writing the export", errno);
		return USERDB_ERROR;
	}
	*count_r = x.count;
	return USERDB_OK;
}

/* The names an import has stored, to refuse a name given twice. */
struct name_set {
	char (*names)[USERNAME_MAX + 1];
	size_t count, alloc;
};

static int name_set_add(struct name_set *s, const char *name)
{
	if (s->count == s->alloc) {
		size_t na = s->alloc ? s->alloc * 2 : 256;
		void *nn;

		if (na > USERDB_MAX_KEYS || (nn = realloc(s->names, na * sizeof(*s->names))) == NULL)
			return -1;
		s->names = nn;
		s->alloc = na;
	}
	snprintf(s->names[s->count++], USERNAME_MAX + 1, "%s", name);
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Sorts the set; returns the first name that appears twice, or NULL. */
static const char *name_set_duplicate(struct name_set *s)
{
	size_t i;

	if (s->count < 2)
		return NULL;
	qsort(s->names, s->count, sizeof(*s->names), cmp_name);
	for (i = 1; i < s->count; i++)
		if (strcmp(s->names[i - 1], s->names[i]) == 0)
			return s->names[i];
	return NULL;
}

/* Stores one imported record (already checked) and counts it. */
static enum userdb_status import_store(struct userdb *db, const char *name,
				       const char *rec, size_t len,
				       struct userdb_import_stats *st, struct name_set *seen)
{
	datum key;

	key.dptr = (char *)name;
	key.dsize = (int)strlen(name);
	if (name_set_add(seen, name) < 0) {
		set_err(db, "too many entries to import (or out of memory)");
		return USERDB_ERROR;
	}
	if (gdbm_exists(db->dbf, key))
		st->replaced++;
	else
		st->added++;
	return store_raw(db, name, rec, len);
}

/* Reads one line of at most USERDB_RECORD_MAX bytes into buf (size
 * USERDB_RECORD_MAX + 2), without its LF or CRLF.  Returns the length, -1 at
 * EOF, -2 when too long, -3 when it holds a NUL byte. */
static long read_text_line(FILE *in, char *buf)
{
	size_t len = 0;
	int c;

	while ((c = getc(in)) != EOF && c != '\n') {
		if (len >= USERDB_RECORD_MAX)
			return -2;
		if (c == '\0')
			return -3;
		buf[len++] = (char)c;
	}
	if (c == EOF && len == 0)
		return -1;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	return (long)len;
}

enum userdb_status userdb_import_text(struct userdb *db, FILE *in, const char *in_name,
				      struct userdb_import_stats *st)
{
	static char line[USERDB_RECORD_MAX + 2];
	static char rec[USERDB_RECORD_MAX + 1];
	char name[USERNAME_MAX + 1] = "";
	char msg[USERDB_ERR_MAX];
	struct name_set seen = { NULL, 0, 0 };
	enum userdb_status result = USERDB_ERROR;
	unsigned long lineno = 0, entry_line = 0;
	bool header = false, in_entry = false;
	size_t rlen = 0;
	const char *dup;

	memset(st, 0, sizeof(*st));
	if (!writable(db))
		return USERDB_ERROR;
	for (;;) {
		long n = read_text_line(in, line);
		bool at_end = n == -1;

		if (n == -2 || n == -3) {
			snprintf(msg, sizeof(msg), "%s:%lu: %s", in_name, lineno + 1,
				 n == -2 ? "line too long" : "NUL byte");
			goto fail_msg;
		}
		if (!at_end)
			lineno++;
		if (!at_end && (n == 0 || line[0] == '#'))
			continue;
		if (!at_end && !header) {
			if (strcmp(line, export_magic) != 0) {
				snprintf(msg, sizeof(msg), "%s:%lu: not a popper export "
					 "(the first line must be \"%s\")", in_name, lineno,
					 export_magic);
				goto fail_msg;
			}
			header = true;
			continue;
		}
		/* An entry ends at the next "[name]" or at the end. */
		if (in_entry && (at_end || line[0] == '[')) {
			struct record_view v;
			const char *why = record_parse(rec, rlen, &v);

			if (why != NULL) {
				snprintf(msg, sizeof(msg), "%s:%lu: user %s: %s", in_name,
					 entry_line, name, why);
				goto fail_msg;
			}
			if (import_store(db, name, rec, rlen, st, &seen) != USERDB_OK)
				goto fail;
			in_entry = false;
		}
		if (at_end)
			break;
		if (line[0] == '[') {
			size_t len = (size_t)n;

			if (len < 3 || line[len - 1] != ']' || len - 2 > USERNAME_MAX) {
				snprintf(msg, sizeof(msg), "%s:%lu: bad entry line", in_name, lineno);
				goto fail_msg;
			}
			memcpy(name, line + 1, len - 2);
			name[len - 2] = '\0';
			if (!username_valid(name)) {
				snprintf(msg, sizeof(msg), "%s:%lu: invalid user name", in_name,
					 lineno);
				goto fail_msg;
			}
			memcpy(rec, record_magic, sizeof(record_magic) - 1);
			rlen = sizeof(record_magic) - 1;
			in_entry = true;
			entry_line = lineno;
			continue;
		}
		if (!in_entry) {
			snprintf(msg, sizeof(msg), "%s:%lu: a field line before the first "
				 "[user] line", in_name, lineno);
			goto fail_msg;
		}
		if (rlen + (size_t)n + 1 > USERDB_RECORD_MAX) {
			snprintf(msg, sizeof(msg), "%s:%lu: user %s: record too long", in_name,
				 lineno, name);
			goto fail_msg;
		}
		memcpy(rec + rlen, line, (size_t)n);
		rlen += (size_t)n;
		rec[rlen++] = '\n';
	}
	if (ferror(in)) {
		snprintf(msg, sizeof(msg), "%s: read error: %s", in_name, strerror(errno));
		goto fail_msg;
	}
	if (!header) {
		snprintf(msg, sizeof(msg), "%s: empty, not a popper export", in_name);
		goto fail_msg;
	}
	dup = name_set_duplicate(&seen);
	if (dup != NULL) {
		snprintf(msg, sizeof(msg), "%s: user %s is given twice", in_name, dup);
		goto fail_msg;
	}
	result = USERDB_OK;
	goto out;

fail_msg:
	snprintf(db->err, sizeof(db->err), "%s", msg);
fail:
	result = USERDB_ERROR;
out:
	ct_wipe(line, sizeof(line));
	ct_wipe(rec, sizeof(rec));
	free(seen.names);
	return result;
}

static bool base64_text(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '='))
			return false;
	}
	return true;
}

/* Turns one Qpopper record into a v1 record in out (size RECORD_MAX + 1).
 * Returns its length, or 0 with *why_r set. */
static size_t qpopper_record(const datum *val, char *out, const char **why_r)
{
	struct userdb_entry e;
	const char *v = val->dptr;
	size_t vlen = (size_t)val->dsize, apop_len, scram_len = 0, i, olen;
	const char *nul = memchr(v, '\0', vlen), *scram = NULL, *end;

	memset(&e, 0, sizeof(e));
	e.kind = USERDB_SYSTEM;
	apop_len = nul != NULL ? (size_t)(nul - v) : vlen;
	if (nul != NULL && (size_t)(nul - v) + 1 < vlen) {
		scram = nul + 1;
		end = memchr(scram, '\0', vlen - apop_len - 1);
		scram_len = end != NULL ? (size_t)(end - scram) : vlen - apop_len - 1;
	}
	if (apop_len > USERDB_SECRET_MAX) {
		*why_r = "APOP secret too long";
		return 0;
	}
	for (i = 0; i < apop_len; i++) {
		e.secret[i] = (char)((unsigned char)v[i] ^ 0xff);   /* Qpopper's "obscure" */
		if (e.secret[i] == '\0') {
			userdb_entry_wipe(&e);
			*why_r = "APOP secret with a NUL byte";
			return 0;
		}
	}
	e.secret_len = apop_len;
	olen = record_build(&e, NULL, 0, out);
	userdb_entry_wipe(&e);
	if (olen == 0) {
		*why_r = "record too long";
		return 0;
	}
	if (scram_len > 0) {
		if (scram_len > QPOPPER_SCRAM_MAX || !base64_text(scram, scram_len)) {
			*why_r = "SCRAM field is not base64";
			return 0;
		}
		if (olen + sizeof(scram_field_qpopper) + scram_len + 1 > USERDB_RECORD_MAX) {
			*why_r = "record too long";
			return 0;
		}
		memcpy(out + olen, scram_field_qpopper, sizeof(scram_field_qpopper) - 1);
		olen += sizeof(scram_field_qpopper) - 1;
		out[olen++] = '=';
		memcpy(out + olen, scram, scram_len);
		olen += scram_len;
		out[olen++] = '\n';
	}
	return olen;
}

enum userdb_status userdb_import_qpopper(struct userdb *db, const char *qpath,
					 struct userdb_import_stats *st)
{
	/* The administrator names this file; it only has to be a regular
	 * file with one link that we open without following a symlink. */
	static const struct safeopen_rules rules = { .no_group_write = false };
	static char out[USERDB_RECORD_MAX + 1];
	struct name_set seen = { NULL, 0, 0 };
	enum userdb_status result = USERDB_ERROR;
	unsigned long visited = 0;
	const char *why = NULL;
	GDBM_FILE q;
	datum key;
	int fd;

	memset(st, 0, sizeof(*st));
	if (!writable(db))
		return USERDB_ERROR;
	fd = safe_open(qpath, O_RDONLY, 0, &rules, NULL, &why);
	if (fd < 0) {
		int e = errno;

		snprintf(db->err, sizeof(db->err), "%s: %s", qpath,
			 why != NULL && (e == ELOOP || e == EINVAL || e == EPERM) ? why : strerror(e));
		return USERDB_ERROR;
	}
	q = gdbm_fd_open(fd, qpath, 0, GDBM_READER | gdbm_extra_flags(), NULL);
	if (q == NULL) {
		snprintf(db->err, sizeof(db->err), "%s: %s (Qpopper's GDBM pop.auth expected; "
			 "NDBM or Berkeley DB files are not supported)", qpath,
			 gdbm_strerror(gdbm_errno));
		close(fd);
		return USERDB_ERROR;
	}
	key = gdbm_firstkey(q);
	while (key.dptr != NULL) {
		char name[USERNAME_MAX + 1], qk[USERNAME_MAX * 4 + 8];
		datum val, next;
		size_t olen;

		if (++visited > USERDB_MAX_KEYS) {
			free(key.dptr);
			snprintf(db->err, sizeof(db->err), "%s: too many keys (damaged?)", qpath);
			goto out;
		}
		quote_key(&key, qk, sizeof(qk));
		/* Qpopper's key is the name and its NUL. */
		if (key.dsize < 2 || key.dptr[key.dsize - 1] != '\0' ||
		    (size_t)key.dsize - 1 > USERNAME_MAX ||
		    memchr(key.dptr, '\0', (size_t)key.dsize - 1) != NULL) {
			log_warning("%s: skipping key \"%s\": not a Qpopper user key", qpath, qk);
			st->skipped++;
			goto next_key;
		}
		memcpy(name, key.dptr, (size_t)key.dsize - 1);
		name[key.dsize - 1] = '\0';
		if (!username_valid(name)) {
			log_warning("%s: skipping user \"%s\": not a valid popper user name "
				    "(it could never log in)", qpath, qk);
			st->skipped++;
			goto next_key;
		}
		val = gdbm_fetch(q, key);
		if (val.dptr == NULL) {
			snprintf(db->err, sizeof(db->err), "%s: cannot read the entry of %s: %s",
				 qpath, name, gdbm_strerror(gdbm_errno));
			free(key.dptr);
			goto out;
		}
		olen = val.dsize >= 0 ? qpopper_record(&val, out, &why) : 0;
		datum_wipe_free(&val);
		if (olen == 0) {
			log_warning("%s: skipping user %s: %s", qpath, name, why);
			st->skipped++;
			goto next_key;
		}
		if (import_store(db, name, out, olen, st, &seen) != USERDB_OK) {
			free(key.dptr);
			goto out;
		}
next_key:
		next = gdbm_nextkey(q, key);
		free(key.dptr);
		key = next;
	}
	if (gdbm_errno != GDBM_ITEM_NOT_FOUND && gdbm_errno != GDBM_NO_ERROR) {
		snprintf(db->err, sizeof(db->err), "%s: walking the database: %s (damaged?)",
			 qpath, gdbm_strerror(gdbm_errno));
		goto out;
	}
	result = USERDB_OK;
out:
	ct_wipe(out, sizeof(out));
	free(seen.names);
	gdbm_close(q);   /* closes fd */
	return result;
}

/* ---- verify ------------------------------------------------------------------ */

static int verify_one(struct userdb *db, const datum *key, const char *name, void *ctx)
{
	struct userdb_verify_report *r = ctx;
	struct record_view v;
	const char *why;
	datum rec;
	enum userdb_status st;

	r->records++;
	if (name[0] == '\0') {
		char q[USERNAME_MAX * 4 + 8];

		quote_key(key, q, sizeof(q));
		log_error("%s: key \"%s\" is not a valid user name%s", db->path, q,
			  key->dsize > 1 && key->dptr[key->dsize - 1] == '\0'
			  ? " (a Qpopper entry: use apopdb import --qpopper)" : "");
		r->problems++;
		return 0;
	}
	st = fetch_record(db, name, &rec);
	if (st != USERDB_OK) {
		log_error("%s", st == USERDB_ERROR ? db->err : "a record vanished");
		r->problems++;
		return 0;
	}
	why = record_parse(rec.dptr, (size_t)rec.dsize, &v);
	datum_wipe_free(&rec);
	if (why != NULL) {
		log_error("%s: user %s: %s", db->path, name, why);
		r->problems++;
		return 0;
	}
	if (v.kind == USERDB_SYSTEM)
		r->system_users++;
	else
		r->virtual_users++;
	if (v.has_secret)
		r->with_secret++;
	return 0;
}

enum userdb_status userdb_verify(struct userdb *db, struct userdb_verify_report *r)
{
	enum userdb_status st;

	memset(r, 0, sizeof(*r));
#if defined(GDBM_VERSION_MAJOR) && (GDBM_VERSION_MAJOR > 1 || GDBM_VERSION_MINOR >= 15)
	if (gdbm_avail_verify(db->dbf) != 0) {
		log_error("%s: GDBM's free-space list is damaged: %s", db->path,
			  gdbm_strerror(gdbm_errno));
		r->problems++;
	}
#endif
	st = walk(db, verify_one, r);
	if (st != USERDB_OK) {
		log_error("%s", db->err);
		r->problems++;
	}
	return r->problems == 0 ? USERDB_OK : USERDB_ERROR;
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

int userdb_commit(struct userdb *db, uid_t uid, gid_t gid)
{
	(void)db; (void)uid; (void)gid;
	return -1;
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

enum userdb_status userdb_put_entry(struct userdb *db, const char *user,
				    const struct userdb_entry *e)
{
	(void)db; (void)user; (void)e;
	return USERDB_ERROR;
}

void userdb_entry_wipe(struct userdb_entry *e)
{
	ct_wipe(e, sizeof(*e));
}

enum userdb_status userdb_export(struct userdb *db, FILE *out, unsigned long *count_r)
{
	(void)db; (void)out; (void)export_magic;
	*count_r = 0;
	return USERDB_ERROR;
}

enum userdb_status userdb_import_text(struct userdb *db, FILE *in, const char *in_name,
				      struct userdb_import_stats *st)
{
	(void)db; (void)in; (void)in_name;
	memset(st, 0, sizeof(*st));
	return USERDB_ERROR;
}

enum userdb_status userdb_import_qpopper(struct userdb *db, const char *qpath,
					 struct userdb_import_stats *st)
{
	(void)db; (void)qpath;
	memset(st, 0, sizeof(*st));
	return USERDB_ERROR;
}

enum userdb_status userdb_verify(struct userdb *db, struct userdb_verify_report *r)
{
	(void)db;
	memset(r, 0, sizeof(*r));
	return USERDB_ERROR;
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
