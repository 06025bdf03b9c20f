/*
 * userdb: popper's GDBM user database (virtual users, and APOP secrets of
 * virtual and system users; SASL verifiers later).  A small library in three
 * parts, each with its own header, so that a program links only what it uses:
 *   - this header: the record format, reading and the one rule on the file
 *     and its directory (userdb_format.c, userdb_read.c, userdb_rule.c),
 *     all the server needs;
 *   - auth/userdb/userdb_write.h: the copy-sync-rename writer (userdb_write.c),
 *     for apopdb and popauth;
 *   - auth/userdb/userdb_bulk.h: export, import and verify (userdb_bulk.c), for
 *     apopdb alone.
 * The one module that knows the record format; the server, apopdb and
 * popauth all go through it.
 *
 * Record (format v1, the reference is apopdb(8), "DATABASE FORMAT"):
 * key = the user name (no trailing NUL); value = "v1\n" followed by
 * "field=value\n" lines (no NUL, CR or LF in a value):
 *   kind=virtual | kind=system   who the name is (absent: virtual, as written
 *                                before the field existed);
 *   secret=<lower-case hex>      the APOP secret, which is also a virtual
 *                                user's password; absent: none (the secret
 *                                "*" of popauth: APOP off, entry kept);
 *   any other field              kept verbatim when the record is rewritten,
 *                                ignored when it is read (room for SCRAM).
 * A change that readers must understand gets a new magic ("v2"), which
 * this version refuses as damaged rather than misreads.
 *
 * Every change made by the tools is written to a new copy of the file beside
 * the database and renamed over it (USERDB_UPDATE / USERDB_REPLACE), so a
 * writer that dies half-way leaves the old database whole; hence the
 * database lives in a directory of its own that its owner, and nobody else,
 * may write (the one rule below; the writers' lock and its takeover are in
 * auth/userdb/userdb_write.c, "Locking").
 */
#ifndef POPPER_USERDB_H
#define POPPER_USERDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#define USERDB_SECRET_MAX 256

/* The database's default place (configure --with-auth-db).  Its own
 * directory: see above. */
#ifdef AUTH_DB_PATH
#define USERDB_DEFAULT_PATH AUTH_DB_PATH
#else
#define USERDB_DEFAULT_PATH SYSCONFDIR "/popper/auth/pop.auth"
#endif

/* How a handle was opened.  userdb_open() takes USERDB_READ only; the other
 * modes are the writer's (userdb_write_open(), auth/userdb/userdb_write.h). */
enum userdb_mode {
	USERDB_READ,    /* read only, shared lock */
	USERDB_WRITE,   /* in place, exclusive lock (not crash-safe: GDBM has no journal) */
	USERDB_CREATE,  /* as WRITE, creating the file (mode 0600) if missing */
	USERDB_UPDATE,  /* a copy in a temporary file; userdb_commit() renames it over the original */
	USERDB_REPLACE  /* an empty new database, renamed over path (missing or not) by userdb_commit() */
};
enum userdb_status { USERDB_OK = 0, USERDB_NOTFOUND = 1, USERDB_ERROR = -1 };

/* A virtual user has no account: it logs in with its secret and its session
 * runs as mail-owner.  A system entry holds the APOP secret of the system
 * account of the same name (Qpopper's pop.auth, popauth). */
enum userdb_kind { USERDB_VIRTUAL = 0, USERDB_SYSTEM = 1 };

struct userdb_entry {
	enum userdb_kind kind;
	size_t secret_len;                 /* 0: no secret */
	char secret[USERDB_SECRET_MAX + 1]; /* NUL-terminated; may hold any byte but NUL */
	unsigned other_fields;             /* fields this version does not interpret */
};

/*
 * The one rule for the database (userdb_rule.c): every program that opens
 * it -- the server for a login and for deciding whether APOP, CRAM-MD5 and
 * SCRAM are offered, apopdb and popauth for every command -- applies this
 * rule, with the same reasons, so that they never disagree about a file:
 *   - its directory is owned by root, the owner account or the process's
 *     own effective uid, and neither its group nor others may write it,
 *     sticky bit or not (whoever may write the directory may put another
 *     file, the new copy or the writers' lock in place);
 *   - the file is no symbolic link, a regular file with one link, owned by
 *     root, the owner account or the process's own effective uid, mode
 *     exactly 0600 (it holds secrets: nobody else may read it either).
 * The directories above it are not judged.
 */
struct userdb_rules {
	/* The owner account besides root and ourselves (the server's
	 * auth-db-owner, apopdb -o, the account popauth runs as). */
	bool owner_set;
	uid_t owner_uid;
	/* Writers only (userdb_write_open): what to do about another writer
	 * that keeps the lock (see auth/userdb/userdb_write.h). */
	enum userdb_takeover {
		USERDB_TAKEOVER_NEVER = 0,   /* wait, then fail naming it (popauth) */
		USERDB_TAKEOVER_STOPPED,     /* take the lock over from a stopped holder (apopdb) */
		USERDB_TAKEOVER_ANY          /* ... and from any holder past the wait (apopdb -b) */
	} takeover;
};

/* Applies the rule to path and its directory without reading the database
 * (rules may be NULL: root and ourselves only).  Returns 0 when the file
 * exists and may be used; else -1 with err ("PATH: reason", the reason
 * every program gives) and errno: ENOENT when the file or its directory
 * does not exist, EPERM when the rule refuses them, or the system's errno. */
int userdb_check(const char *path, const struct userdb_rules *rules, char *err, size_t errsize);

struct userdb;

/* True when popper was built with GDBM. */
bool userdb_available(void);

/* Opens the database for reading (mode must be USERDB_READ; any other mode
 * is refused with EINVAL: writers use userdb_write_open()) after applying
 * the rule (above) with no owner account.  Returns NULL with err filled
 * ("PATH: reason") on failure; errno is then ENOENT when the file does not
 * exist, EPERM when the rule refuses the file or its directory, EAGAIN when
 * it stays locked, EINVAL when it is not a usable database, or the system's
 * errno. */
struct userdb *userdb_open(const char *path, enum userdb_mode mode,
			   char *err, size_t errsize);
/* The same with the owner account of rules (may be NULL). */
struct userdb *userdb_open_with(const char *path, enum userdb_mode mode,
				const struct userdb_rules *rules,
				char *err, size_t errsize);
/* Closes db (any mode); an UPDATE or REPLACE handle that was not committed
 * is thrown away (its temporary file removed, the database untouched). */
void userdb_close(struct userdb *db);

/* Looks up user's secret into secret_r (size secret_size, NUL-terminated,
 * length in *len_r; length 0 when the entry has no secret).  A record that
 * does not parse is USERDB_ERROR, never "not found". */
enum userdb_status userdb_get_secret(struct userdb *db, const char *user,
				     char *secret_r, size_t secret_size,
				     size_t *len_r);
/* Calls fn for each user name (in GDBM order); stops early if fn returns non-zero. */
enum userdb_status userdb_foreach(struct userdb *db,
				  int (*fn)(const char *user, void *ctx), void *ctx);

/* The most names userdb_sorted_names() collects (the list tools). */
#define USERDB_LIST_MAX 1000000
/* The user names, sorted by strcmp (GDBM's order is a hash order): a
 * malloc'd array of *count_r malloc'd names (NULL when there are none),
 * freed with userdb_names_free().  Returns USERDB_OK, or USERDB_ERROR with
 * *oom_r false (userdb_error() tells) or true (out of memory, or more than
 * USERDB_LIST_MAX names); on error nothing is left to free. */
enum userdb_status userdb_sorted_names(struct userdb *db, char ***names_r, size_t *count_r,
				       bool *oom_r);
/* Frees what userdb_sorted_names() returned. */
void userdb_names_free(char **names, size_t count);

/* Reads user's whole entry into *e_r (wipe it with userdb_entry_wipe). */
enum userdb_status userdb_get_entry(struct userdb *db, const char *user,
				    struct userdb_entry *e_r);
/* Wipes e (it may hold a secret). */
void userdb_entry_wipe(struct userdb_entry *e);

/* The length of the secret in userdb_dummy_entry()'s record: about what a
 * password given to "apopdb add" is. */
#define USERDB_DUMMY_SECRET_LEN 24
/* Fills *e_r (wipe it) as userdb_get_entry() would from the stored record
 * of a virtual user with a secret of USERDB_DUMMY_SECRET_LEN octets, through
 * the same parse and decode.  For a name the database does not hold: its
 * check then does the work of a held name's and discards the result, so the
 * time of the answer does not tell which names are held.  Needs no GDBM. */
void userdb_dummy_entry(struct userdb_entry *e_r);

/* Last error text of db for messages. */
const char *userdb_error(const struct userdb *db);

/* The file's owner and mode as found at open. */
void userdb_file_info(const struct userdb *db, uid_t *uid_r, gid_t *gid_r, mode_t *mode_r);

#endif
