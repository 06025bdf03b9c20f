/*
 * userdb_impl: what the parts of the user database library share
 * (userdb_format.c, userdb_read.c, userdb_write.c, userdb_bulk.c).
 *
 * Private to auth/userdb/: nothing outside this folder includes it (the
 * unit tests of the format excepted).  Callers see auth/userdb/userdb.h,
 * userdb_write.h and userdb_bulk.h.  The handle (struct userdb) is one for
 * all modes, so userdb_close() can free a writer's handle without linking
 * the writer.
 */
#ifndef POPPER_USERDB_IMPL_H
#define POPPER_USERDB_IMPL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "auth/userdb/userdb.h"

/* Longest record we accept from the file: "v1\n", the kind line, the secret
 * line (2 hex digits per byte) and room for fields later versions may add. */
#define USERDB_RECORD_MAX 4096
/* A reader waits for an in-place writer (apopdb's WRITE mode, milliseconds)
 * up to LOCK_TRIES * LOCK_PAUSE_MS before giving up. */
#define USERDB_LOCK_TRIES 20
#define USERDB_LOCK_PAUSE_MS 50
/* Upper bound on keys visited by a walk (a damaged file must not make it
 * endless) and on entries in an import. */
#define USERDB_MAX_KEYS 1000000UL
/* Room for an error text besides the path. */
#define USERDB_ERR_MAX 512

/* The new copy a writer builds, inside its lock directory. */
#define USERDB_COPY_NAME "new"

/* The first line of every v1 record. */
#define USERDB_RECORD_MAGIC "v1\n"

/* ---- the rule (userdb_rule.c; no GDBM needed) ----------------------------- */

/* Opens the directory of path and applies the rule to it: O_PATH for a
 * reader (no read permission needed), O_RDONLY for a writer (it locks, syncs
 * and creates there).  The base name goes to base_r (size NAME_MAX + 1),
 * the directory's stat to *st_r.  Returns the descriptor, or -1 with err
 * and errno set (see userdb_check). */
int userdb_dir_open(const char *path, bool for_writing, const struct userdb_rules *rules,
		    char *base_r, struct stat *st_r, char *err, size_t errsize);
/* Opens base in dirfd (from userdb_dir_open) with oflags (O_CREAT makes a
 * file of mode 0600) and applies the rule to the file: never through a
 * symbolic link, checked on the descriptor.  path is for messages.  Returns
 * the descriptor with *st_r filled, or -1 with err and errno set (see
 * userdb_check). */
int userdb_file_open(int dirfd, const char *path, const char *base, int oflags,
		     const struct userdb_rules *rules, struct stat *st_r,
		     char *err, size_t errsize);
/* True when uid may own the database or its directory: root, ourselves,
 * or the owner account of rules (may be NULL). */
bool userdb_owner_ok(uid_t uid, const struct userdb_rules *rules);

/* ---- the record format (userdb_format.c; no GDBM needed) ----------------- */

/* Where the fields of a checked record are. */
struct record_view {
	enum userdb_kind kind;
	bool has_secret;
	size_t secret_off;  /* offset of the hex digits of the secret */
	size_t secret_hexlen;
	unsigned others;    /* lines that are neither kind nor secret */
};

/* Checks a whole record (len bytes) and finds its fields into *v.  Returns
 * NULL, or the reason it is not a valid v1 record. */
const char *userdb_record_parse(const char *rec, size_t len, struct record_view *v);

/* Builds the v1 record for e into out (size USERDB_RECORD_MAX + 1): magic,
 * kind, secret, then the lines of old (a parsed record, may be NULL) that
 * are neither kind nor secret, in their order.  Returns the length, or 0
 * when it would be too long. */
size_t userdb_record_build(const struct userdb_entry *e, const char *old, size_t oldlen,
			   char *out);

/* Decodes a record parsed into v into *e (secret, kind, count of others). */
void userdb_record_to_entry(const char *rec, const struct record_view *v,
			    struct userdb_entry *e);

#ifdef HAVE_GDBM
#include <gdbm.h>

struct userdb {
	GDBM_FILE dbf;        /* the database we read and write */
	enum userdb_mode mode;
	struct stat st;       /* of the file opened (UPDATE: the old one) */
	/* UPDATE / REPLACE (userdb_write.c, "Locking") */
	GDBM_FILE old_dbf;    /* UPDATE: the old database, shared lock */
	int dirfd;            /* the database's directory; -1 if none */
	int lockfd;           /* the lock directory, flock()ed; the copy is made in it */
	char base[NAME_MAX + 1];
	char lockname[NAME_MAX + 8];  /* ".NAME.lock" (the name fits NAME_MAX: userdb_dir_open) */
	bool tmp_exists;      /* the copy exists (USERDB_COPY_NAME in lockfd) */
	bool committed;
	char path[PATH_MAX];
	char err[PATH_MAX + USERDB_ERR_MAX];   /* room for a path and a reason */
};

/* ---- userdb_read.c --------------------------------------------------------- */

/* A new handle for path in mode (nothing opened yet, dirfd -1).  Returns
 * NULL with err and errno set.  Freed by userdb_close(). */
struct userdb *userdb_handle_new(const char *path, enum userdb_mode mode,
				 char *err, size_t errsize);
/* Opens path in mode READ, WRITE or CREATE into *dbf_r and *st_r after
 * applying the rule with rules (may be NULL).  dirfd: the directory already
 * opened and judged by userdb_dir_open(), or -1 to open it here.  Returns 0,
 * or -1 with err and errno set (see userdb_open). */
int userdb_open_file(int dirfd, const char *path, enum userdb_mode mode,
		     const struct userdb_rules *rules, GDBM_FILE *dbf_r, struct stat *st_r,
		     char *err, size_t errsize);
/* GDBM flags every open uses (no mmap, close-on-exec, checked buckets). */
int userdb_gdbm_flags(void);
/* Sleeps ms milliseconds (a lock retry). */
void userdb_pause_ms(long ms);

/* db->err = "PATH: what" / "PATH: what: strerror(e)" / the GDBM error just
 * raised by op. */
void userdb_err_set(struct userdb *db, const char *what);
void userdb_err_errno(struct userdb *db, const char *what, int e);
void userdb_err_gdbm(struct userdb *db, const char *op);
/* db->err = "PATH: user USER: why". */
void userdb_record_error(struct userdb *db, const char *user, const char *why);

/* Fetches user's raw record.  USERDB_OK: *rec_r is malloc'd (release it
 * with userdb_datum_wipe_free). */
enum userdb_status userdb_fetch_record(struct userdb *db, const char *user, datum *rec_r);
/* Wipes and frees a fetched datum (it may hold a secret). */
void userdb_datum_wipe_free(datum *d);
/* Quotes a key for a log line or message (client-proof). */
void userdb_quote_key(const datum *key, char *q, size_t qsize);
/* Walks every key: fn gets the key and its name ("" when not a valid user
 * name).  Stops when fn returns non-zero (negative: USERDB_ERROR). */
enum userdb_status userdb_walk(struct userdb *db,
			       int (*fn)(struct userdb *db, const datum *key,
					 const char *name, void *ctx), void *ctx);

/* ---- userdb_write.c (for userdb_bulk.c's imports) ------------------------- */

/* False (db->err set) when db may not be changed: read-only or committed. */
bool userdb_writable(struct userdb *db);
/* Stores a finished, checked record under user. */
enum userdb_status userdb_store_raw(struct userdb *db, const char *user,
				    const char *rec, size_t len);

#endif /* HAVE_GDBM */

#endif
