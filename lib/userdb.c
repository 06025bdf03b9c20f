/*
 * userdb: popper's GDBM user database; the one file that knows the record
 * format (see lib/userdb.h).
 *
 * Used by the server (as root, before the session drops privileges; read
 * only), by apopdb (the administrator's tool) and later by the popauth
 * import.  The file is opened by us with safe_open() first (no symlink, a
 * regular file with one link, no group write, nothing for others) and only
 * then handed to GDBM with gdbm_fd_open(), so GDBM never resolves the path
 * itself.  Writers rely on GDBM's own locking (an exclusive lock held while
 * the database is open; readers take a shared one); a busy lock is retried
 * for a short, bounded time.  mmap is off so that a file changed under us
 * can give an I/O error, never a SIGBUS.
 *
 * A record that does not parse is an error, never "not found": a damaged
 * database must not silently turn a virtual user into a system user.
 * Secrets are wiped from every buffer that held them.
 */
#include "config.h"

#include "lib/userdb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Longest record we accept from the file: "v1\n", the secret line (2 hex
 * digits per byte) and room for fields later versions may add. */
#define USERDB_RECORD_MAX 4096
/* Longest field name in a record line ("secret", later verifier names). */
#define USERDB_FIELD_NAME_MAX 32
/* GDBM refuses to open while a writer holds the lock; apopdb holds it for
 * milliseconds, so wait up to LOCK_TRIES * LOCK_PAUSE_MS before giving up. */
#define USERDB_LOCK_TRIES 20
#define USERDB_LOCK_PAUSE_MS 50
/* Upper bound on keys visited by userdb_foreach (a damaged file must not
 * make the walk endless). */
#define USERDB_MAX_KEYS 1000000UL

#define USERDB_ERR_MAX 512

#ifdef HAVE_GDBM

static const char record_magic[] = "v1\n";
static const char secret_field[] = "secret";

struct userdb {
	GDBM_FILE dbf;
	bool writable;
	char path[USERDB_ERR_MAX / 2];
	char err[USERDB_ERR_MAX];
};

/* Copies the path into db->path for messages, shortened if very long. */
static void set_path(struct userdb *db, const char *path)
{
	snprintf(db->path, sizeof(db->path), "%s", path);
}

static void set_err(struct userdb *db, const char *what)
{
	snprintf(db->err, sizeof(db->err), "%s: %s", db->path, what);
}

/* ---- record format -------------------------------------------------------- */

struct record_view {
	size_t secret_off;  /* offset of the hex digits of the secret */
	size_t secret_hexlen;
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

/* Checks a whole record and finds its secret.  Returns NULL or a reason. */
static const char *record_parse(const char *rec, size_t len, struct record_view *v)
{
	size_t magic_len = sizeof(record_magic) - 1;
	size_t pos, secrets = 0;

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
		const char *eq;
		size_t line_len, name_len, i;

		if (nl == NULL)
			return "record does not end with a newline";
		line_len = (size_t)(nl - line);
		eq = memchr(line, '=', line_len);
		if (eq == NULL)
			return "record line without '='";
		name_len = (size_t)(eq - line);
		if (name_len == 0 || name_len > USERDB_FIELD_NAME_MAX)
			return "record field name empty or too long";
		for (i = 0; i < name_len; i++)
			if (!field_name_char((unsigned char)line[i]))
				return "record field name has a bad character";
		if (name_len == sizeof(secret_field) - 1 &&
		    memcmp(line, secret_field, name_len) == 0) {
			size_t hexlen = line_len - name_len - 1;

			if (++secrets > 1)
				return "record has two secrets";
			if (hexlen == 0 || hexlen % 2 != 0 ||
			    hexlen / 2 > USERDB_SECRET_MAX)
				return "record secret has a bad length";
			for (i = 0; i < hexlen; i++)
				if (hex_value((unsigned char)eq[1 + i]) < 0)
					return "record secret is not lower-case hex";
			v->secret_off = (size_t)(eq + 1 - rec);
			v->secret_hexlen = hexlen;
		}
		pos += line_len + 1;
	}
	if (secrets == 0)
		return "record has no secret";
	return NULL;
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

struct userdb *userdb_open(const char *path, enum userdb_mode mode,
			   char *err, size_t errsize)
{
	static const struct safeopen_rules rules = {
		.no_group_write = true, .no_other_access = true,
	};
	struct userdb *db;
	int tries;

	db = calloc(1, sizeof(*db));
	if (db == NULL) {
		snprintf(err, errsize, "%s: %s", path, strerror(errno));
		errno = ENOMEM;
		return NULL;
	}
	set_path(db, path);
	db->writable = mode != USERDB_READ;

	for (tries = 0; tries < USERDB_LOCK_TRIES; tries++) {
		int oflags = mode == USERDB_READ ? O_RDONLY : O_RDWR;
		int gflags = GDBM_NOMMAP | GDBM_CLOEXEC;
		const char *why = NULL;
		struct stat st;
		int fd, saved;
		gdbm_error ge;

		if (mode == USERDB_CREATE)
			oflags |= O_CREAT;
		fd = safe_open(path, oflags, 0600, &rules, &st, &why);
		if (fd < 0) {
			saved = errno;
			/* why explains our own refusals; errno says more
			 * about the others (missing, permission...). */
			if (why != NULL && (saved == ELOOP || saved == EINVAL || saved == EPERM))
				snprintf(err, errsize, "%s: %s", path, why);
			else
				snprintf(err, errsize, "%s: %s", path, strerror(saved));
			free(db);
			errno = saved;
			return NULL;
		}
		/* GDBM would turn an empty file opened for writing into a new
		 * database; only "create" may do that. */
		if (st.st_size == 0 && mode != USERDB_CREATE) {
			snprintf(err, errsize, "%s: empty file, not a user database", path);
			close(fd);
			free(db);
			errno = EINVAL;
			return NULL;
		}
		if (mode == USERDB_READ)
			gflags |= GDBM_READER;
		else if (mode == USERDB_WRITE)
			gflags |= GDBM_WRITER | GDBM_SYNC;
		else
			gflags |= GDBM_WRCREAT | GDBM_SYNC;
		/* No fatal function: GDBM then reports errors instead of
		 * calling exit(). */
		db->dbf = gdbm_fd_open(fd, path, 0, gflags, NULL);
		if (db->dbf != NULL)
			return db;
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
		free(db);
		errno = EINVAL;
		return NULL;
	}
	snprintf(err, errsize, "%s: database is locked by another program", path);
	free(db);
	errno = EAGAIN;
	return NULL;
}

void userdb_close(struct userdb *db)
{
	if (db == NULL)
		return;
	if (db->dbf != NULL)
		gdbm_close(db->dbf);   /* closes the fd and releases the lock */
	free(db);
}

static void datum_wipe_free(datum *d)
{
	if (d->dptr != NULL) {
		secure_wipe(d->dptr, (size_t)d->dsize);
		free(d->dptr);
		d->dptr = NULL;
	}
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

enum userdb_status userdb_get_secret(struct userdb *db, const char *user,
				     char *secret_r, size_t secret_size,
				     size_t *len_r)
{
	struct record_view v;
	enum userdb_status st;
	const char *why;
	datum rec;
	size_t i, n;

	if (secret_size > 0)
		secret_r[0] = '\0';
	if (len_r != NULL)
		*len_r = 0;
	st = fetch_record(db, user, &rec);
	if (st != USERDB_OK)
		return st;
	why = record_parse(rec.dptr, (size_t)rec.dsize, &v);
	if (why != NULL) {
		char msg[128];

		snprintf(msg, sizeof(msg), "user %s: %s", user, why);
		set_err(db, msg);
		datum_wipe_free(&rec);
		return USERDB_ERROR;
	}
	n = v.secret_hexlen / 2;
	if (n + 1 > secret_size) {
		set_err(db, "secret does not fit the caller's buffer");
		datum_wipe_free(&rec);
		return USERDB_ERROR;
	}
	for (i = 0; i < n; i++) {
		const unsigned char *h = (const unsigned char *)rec.dptr + v.secret_off + 2 * i;

		secret_r[i] = (char)(hex_value(h[0]) << 4 | hex_value(h[1]));
	}
	secret_r[n] = '\0';
	if (len_r != NULL)
		*len_r = n;
	datum_wipe_free(&rec);
	return USERDB_OK;
}

enum userdb_status userdb_set_secret(struct userdb *db, const char *user,
				     const char *secret, size_t len)
{
	static const char hexdigits[] = "0123456789abcdef";
	char out[USERDB_RECORD_MAX + 1];
	size_t olen = 0, i;
	enum userdb_status st;
	datum key, val, old;
	int rc;

	if (!db->writable) {
		set_err(db, "opened read-only");
		return USERDB_ERROR;
	}
	if (!username_valid(user)) {
		set_err(db, "invalid user name");
		return USERDB_ERROR;
	}
	if (len == 0 || len > USERDB_SECRET_MAX) {
		set_err(db, "secret empty or too long");
		return USERDB_ERROR;
	}
	st = fetch_record(db, user, &old);
	if (st == USERDB_ERROR)
		return st;

	/* New record: the magic, then the old record's lines in order with
	 * the secret line replaced, so fields of later versions survive. */
	memcpy(out, record_magic, sizeof(record_magic) - 1);
	olen = sizeof(record_magic) - 1;
	if (st == USERDB_OK) {
		struct record_view v;
		const char *why = record_parse(old.dptr, (size_t)old.dsize, &v);
		size_t pos = sizeof(record_magic) - 1;

		if (why != NULL) {
			char msg[160];

			snprintf(msg, sizeof(msg),
				 "user %s: existing %s; delete it first", user, why);
			set_err(db, msg);
			datum_wipe_free(&old);
			return USERDB_ERROR;
		}
		/* where "secret=" starts: the hex digits follow name and '=' */
		size_t secret_line = v.secret_off - (sizeof(secret_field) - 1) - 1;

		while (pos < (size_t)old.dsize) {
			const char *line = old.dptr + pos;
			const char *nl = memchr(line, '\n', (size_t)old.dsize - pos);
			size_t line_len = (size_t)(nl - line) + 1;   /* parse checked nl */

			if (pos == secret_line) {
				pos += line_len;   /* the old secret line: replaced below */
				continue;
			}
			if (olen + line_len > USERDB_RECORD_MAX) {
				secure_wipe(out, sizeof(out));
				datum_wipe_free(&old);
				set_err(db, "record would be too long");
				return USERDB_ERROR;
			}
			memcpy(out + olen, line, line_len);
			olen += line_len;
			pos += line_len;
		}
		datum_wipe_free(&old);
	}
	if (olen + sizeof(secret_field) + 2 * len + 1 > USERDB_RECORD_MAX) {
		secure_wipe(out, sizeof(out));
		set_err(db, "record would be too long");
		return USERDB_ERROR;
	}
	memcpy(out + olen, secret_field, sizeof(secret_field) - 1);
	olen += sizeof(secret_field) - 1;
	out[olen++] = '=';
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)secret[i];

		out[olen++] = hexdigits[c >> 4];
		out[olen++] = hexdigits[c & 0x0f];
	}
	out[olen++] = '\n';

	key.dptr = (char *)user;
	key.dsize = (int)strlen(user);
	val.dptr = out;
	val.dsize = (int)olen;
	rc = gdbm_store(db->dbf, key, val, GDBM_REPLACE);
	secure_wipe(out, sizeof(out));
	if (rc != 0) {
		set_gdbm_err(db, "store");
		return USERDB_ERROR;
	}
	if (gdbm_sync(db->dbf) != 0) {
		set_gdbm_err(db, "sync");
		return USERDB_ERROR;
	}
	return USERDB_OK;
}

enum userdb_status userdb_delete(struct userdb *db, const char *user)
{
	datum key;

	if (!db->writable) {
		set_err(db, "opened read-only");
		return USERDB_ERROR;
	}
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
	if (gdbm_sync(db->dbf) != 0) {
		set_gdbm_err(db, "sync");
		return USERDB_ERROR;
	}
	return USERDB_OK;
}

enum userdb_status userdb_foreach(struct userdb *db,
				  int (*fn)(const char *user, void *ctx), void *ctx)
{
	unsigned long visited = 0;
	datum key;

	key = gdbm_firstkey(db->dbf);
	while (key.dptr != NULL) {
		char name[USERNAME_MAX + 1];
		datum next;
		int stop = 0;

		if (++visited > USERDB_MAX_KEYS) {
			free(key.dptr);
			set_err(db, "too many keys (damaged database?)");
			return USERDB_ERROR;
		}
		if (key.dsize > 0 && (size_t)key.dsize <= USERNAME_MAX &&
		    memchr(key.dptr, '\0', (size_t)key.dsize) == NULL) {
			memcpy(name, key.dptr, (size_t)key.dsize);
			name[key.dsize] = '\0';
		} else {
			name[0] = '\0';
		}
		if (name[0] != '\0' && username_valid(name)) {
			stop = fn(name, ctx);
		} else {
			/* Not written by us (a Qpopper key ends in a NUL):
			 * never hand it on, say so once per key. */
			char q[USERNAME_MAX * 4 + 8];

			log_quote(key.dptr, key.dsize > 0 ? (size_t)key.dsize : 0, q, sizeof(q));
			log_warning("%s: skipping a key that is not a valid user name: \"%s\"",
				    db->path, q);
		}
		if (stop) {
			free(key.dptr);
			return USERDB_OK;
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

const char *userdb_error(const struct userdb *db)
{
	return db->err[0] != '\0' ? db->err : "no error";
}

#else /* !HAVE_GDBM */

bool userdb_available(void)
{
	return false;
}

struct userdb *userdb_open(const char *path, enum userdb_mode mode,
			   char *err, size_t errsize)
{
	(void)mode;
	snprintf(err, errsize, "%s: popper was built without GDBM", path);
	errno = ENOSYS;
	return NULL;
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

const char *userdb_error(const struct userdb *db)
{
	(void)db;
	return "popper was built without GDBM";
}

#endif /* HAVE_GDBM */
