/*
 * apopdb: the administrator's tool for popper's user database (virtual
 * users, APOP secrets of system users; auth/userdb/userdb.h, apopdb(8)).
 *
 *   apopdb [-f DB] [-o OWNER] [-b] init [--force] | add [--system] USER |
 *          passwd USER | delete USER | list [--json] | show USER |
 *          check USER | import [--qpopper] [--replace] FILE |
 *          export [FILE] | verify
 *
 * Run by root or by the account that owns the database, by hand or from
 * scripts; it is never installed setuid and refuses to run so (popauth is
 * the setuid tool).  A secret is never taken from the command line (visible
 * in ps): it is read as one line from standard input, or, on a terminal,
 * prompted for with echo off (a new one twice).  Only "export" prints
 * secrets, and it says so.  Every change goes through a copy of the database
 * renamed into place (auth/userdb/userdb_write.c), with the usual signals held
 * off while it is made, so an interrupted apopdb never leaves a damaged
 * database.  Every command applies the server's rule to the file and its
 * directory first (auth/userdb/userdb.h), so apopdb never works on a
 * database popper would refuse, and says why in popper's words.  A writer
 * that keeps the lock (a popauth its user stopped) does not shut the
 * administrator out: apopdb waits, names it, and takes the lock over from
 * it once it is seen stopped for a second, or with -b after the wait; the
 * holder's change then fails cleanly (apopdb(8), LOCKING).
 * Files are created with umask 077.  Every message names the file and the
 * reason.  Exit status: 0 done, 1 not found / already there / no match,
 * 2 usage or invalid input, 3 system or database error.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apopdb/entry.h"
#include "apopdb/secret.h"
#include "lib/ctcompare.h"
#include "lib/log.h"
#include "lib/safeopen.h"
#include "auth/userdb/userdb.h"
#include "auth/userdb/userdb_bulk.h"
#include "auth/userdb/userdb_write.h"
#include "lib/username.h"

#ifndef DEFAULT_AUTH_DB_OWNER
#define DEFAULT_AUTH_DB_OWNER "pop"
#endif

enum {
	EXIT_DONE = 0,
	EXIT_NOTFOUND = 1,
	EXIT_USAGE = 2,
	EXIT_SYSTEM = 3
};

/* Largest error text from auth/userdb/userdb: a path and a reason. */
#define ERR_MAX (PATH_MAX + 512)
/* Names printed by "list"; a larger database is damaged or not ours. */

static const char *progname = "apopdb";

/* The global options. */
struct opts {
	const char *path;
	const char *owner;   /* the owner account: may own the database; gets a new one */
	bool break_lock;     /* -b: take the writers' lock over from any holder */
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: %s [-f DB] [-o OWNER] [-b] COMMAND [ARGUMENTS]\n"
		"       %s -h | -V\n"
		"commands:\n"
		"  init [--force]        create an empty database (--force: empty an existing one)\n"
		"  add [--system] USER   add a virtual user (--system: the APOP secret of the\n"
		"                        system account USER)\n"
		"  passwd USER           change USER's secret (\"*\": no secret, APOP off)\n"
		"  delete USER           remove USER\n"
		"  list [--json]         print the user names (--json: with kind and secret flag)\n"
		"  show USER             what is stored for USER, never the secret itself\n"
		"  check USER            read a secret; exit 0 if it is USER's, 1 if not\n"
		"  import [--qpopper] [--replace] FILE\n"
		"                        add the entries of an export (FILE \"-\": standard\n"
		"                        input) or of a Qpopper pop.auth (--qpopper)\n"
		"  export [FILE]         write every entry, SECRETS INCLUDED, to FILE (created\n"
		"                        with mode 0600) or standard output\n"
		"  verify                check the whole database\n"
		"Secrets are read from standard input (one line) or prompted for on a\n"
		"terminal; never from the command line.\n"
		"  -f DB     use DB instead of %s\n"
		"  -o OWNER  the account that owns the database besides root; a database\n"
		"            created as root is given to it (default %s)\n"
		"  -b        take the lock over from another program that keeps it past\n"
		"            5 seconds (one that is stopped loses it after 1 second anyway)\n",
		progname, progname, USERDB_DEFAULT_PATH, DEFAULT_AUTH_DB_OWNER);
}

static int usage_error(const char *what, const char *arg)
{
	char q[128];

	if (arg != NULL) {
		log_quote(arg, strlen(arg), q, sizeof(q));
		log_error("%s \"%s\"", what, q);
	} else {
		log_error("%s", what);
	}
	fprintf(stderr, "usage: %s [-f DB] [-o OWNER] [-b] COMMAND [ARGUMENTS]  (%s -h: help)\n",
		progname, progname);
	return EXIT_USAGE;
}

/* ---- helpers -------------------------------------------------------------- */

/* The one rule of auth/userdb/userdb.h, as the server applies it, with the
 * owner account -o (popper's auth-db-owner should name the same); a stopped
 * holder of the writers' lock loses it, and with -b any holder that keeps
 * it past the wait (apopdb(8), LOCKING). */
static void db_rules(const struct opts *o, struct userdb_rules *r)
{
	struct passwd *pw = getpwnam(o->owner);

	memset(r, 0, sizeof(*r));
	r->owner_set = pw != NULL;
	r->owner_uid = pw != NULL ? pw->pw_uid : 0;
	r->takeover = o->break_lock ? USERDB_TAKEOVER_ANY : USERDB_TAKEOVER_STOPPED;
}

static struct userdb *open_db(const struct opts *o, enum userdb_mode mode)
{
	struct userdb_rules rules;
	char err[ERR_MAX];
	struct userdb *db;

	db_rules(o, &rules);
	db = mode == USERDB_READ ? userdb_open_with(o->path, mode, &rules, err, sizeof(err))
		: userdb_write_open(o->path, mode, &rules, err, sizeof(err));
	if (db == NULL) {
		int e = errno;

		if (e == ENOENT && mode != USERDB_CREATE && mode != USERDB_REPLACE)
			log_error("%s (create it with \"%s init\")", err, progname);
		else
			log_error("%s", err);
		if (e == EAGAIN && !o->break_lock && mode != USERDB_READ)
			fprintf(stderr, "%s: nothing changed; \"%s -b\" takes the lock over (the "
				"change that program is making is then not made)\n", progname,
				progname);
	}
	return db;
}

/* Commits an UPDATE/REPLACE handle, closes it and lets held signals in.
 * Returns EXIT_DONE or EXIT_SYSTEM. */
static int commit_db(struct userdb *db, uid_t uid, gid_t gid)
{
	char msg[ERR_MAX];
	int rc = EXIT_DONE;

	msg[0] = '\0';
	if (userdb_commit(db, uid, gid) != 0) {
		snprintf(msg, sizeof(msg), "%s", userdb_error(db));
		rc = EXIT_SYSTEM;
	}
	/* The lock goes first: standard error may block. */
	userdb_close(db);
	release_signals();
	if (rc != EXIT_DONE)
		log_error("%s; nothing changed", msg);
	return rc;
}

static void abandon_db(struct userdb *db)
{
	userdb_close(db);
	release_signals();
}

/* The owner a database created by root gets: the owner account when it
 * exists, else root (uid -1: leave it).  Others create files as themselves. */
static void creation_owner(const struct opts *o, uid_t *uid_r, gid_t *gid_r)
{
	struct passwd *pw;

	*uid_r = (uid_t)-1;
	*gid_r = (gid_t)-1;
	if (geteuid() != 0)
		return;
	pw = getpwnam(o->owner);
	if (pw == NULL) {
		fprintf(stderr, "%s: note: there is no account \"%s\"; %s stays owned by root\n",
			progname, o->owner, o->path);
		return;
	}
	*uid_r = pw->pw_uid;
	*gid_r = pw->pw_gid;
}

/* Reads a new secret for user (prompt twice on a terminal) into buf.
 * Returns its length (> 0) or a negative exit status.  "*" is accepted
 * (no secret); a weak secret is stored with a warning (administrators set
 * secrets that were chosen elsewhere; popauth enforces the rule). */
static int get_new_secret(const char *user, char *buf, size_t bufsize)
{
	char prompt[USERNAME_MAX + 64];
	ssize_t n;
	const char *weak;

	snprintf(prompt, sizeof(prompt), "New secret for %s: ", user);
	n = secret_read_new(prompt, "Retype the secret: ", buf, bufsize);
	if (n < 0) {
		log_error("%s; nothing changed", secret_error_text(n));
		return n == SECRET_ERR_IO ? -EXIT_SYSTEM : -EXIT_USAGE;
	}
	if (n == 0) {
		log_error("empty secret refused; nothing changed");
		return -EXIT_USAGE;
	}
	if (!secret_is_disable(buf, (size_t)n) &&
	    (weak = secret_weakness(buf, (size_t)n, user)) != NULL)
		fprintf(stderr, "%s: warning: weak secret for %s: %s (stored anyway; "
			"popauth would refuse it)\n", progname, user, weak);
	return (int)n;
}

/* Fills e's secret from buf (n bytes; "*" = none) and wipes buf. */
static void set_entry_secret(struct userdb_entry *e, char *buf, size_t bufsize, int n)
{
	e->secret_len = 0;
	e->secret[0] = '\0';
	if (!secret_is_disable(buf, (size_t)n)) {
		memcpy(e->secret, buf, (size_t)n);
		e->secret[n] = '\0';
		e->secret_len = (size_t)n;
	}
	ct_wipe(buf, bufsize);
}

/* Looks user up read-only.  Returns EXIT_DONE (found), EXIT_NOTFOUND or
 * EXIT_SYSTEM; e_r may be NULL. */
static int peek_user(const struct opts *o, const char *user, struct userdb_entry *e_r)
{
	struct userdb_entry e;
	struct userdb *db = open_db(o, USERDB_READ);
	enum userdb_status st;

	if (db == NULL)
		return EXIT_SYSTEM;
	st = entry_read_once(db, user, &e);
	if (st == USERDB_OK && e_r != NULL)
		*e_r = e;
	userdb_entry_wipe(&e);
	return st == USERDB_OK ? EXIT_DONE : st == USERDB_NOTFOUND ? EXIT_NOTFOUND : EXIT_SYSTEM;
}

/* ---- commands ------------------------------------------------------------ */

static int cmd_init(const struct opts *o, bool force)
{
	struct userdb *db;
	struct stat st;
	bool existed;
	uid_t uid;
	gid_t gid;

	existed = lstat(o->path, &st) == 0;
	if (existed && !force) {
		log_error("%s: already exists; not overwriting it (\"init --force\" empties it)",
			  o->path);
		return EXIT_SYSTEM;
	}
	if (!existed && errno != ENOENT) {
		log_error("%s: %s", o->path, strerror(errno));
		return EXIT_SYSTEM;
	}
	creation_owner(o, &uid, &gid);
	hold_signals();
	db = open_db(o, USERDB_REPLACE);
	if (db == NULL) {
		release_signals();
		return EXIT_SYSTEM;
	}
	/* Again under the lock: another init may have been quicker. */
	if (!force && lstat(o->path, &st) == 0) {
		log_error("%s: already exists; not overwriting it", o->path);
		abandon_db(db);
		return EXIT_SYSTEM;
	}
	if (commit_db(db, uid, gid) != EXIT_DONE)
		return EXIT_SYSTEM;
	printf("%s: %s %s\n", progname, existed ? "emptied" : "created", o->path);
	return EXIT_DONE;
}

/* add (must_exist false) and passwd (must_exist true). */
static int cmd_set(const struct opts *o, const char *user, bool must_exist,
		   enum userdb_kind kind)
{
	char secret[SECRET_BUF_SIZE];
	struct userdb_entry e;
	struct userdb *db;
	enum userdb_status st;
	int n, rc;

	/* Look first, so a missing database or user (or one already there)
	 * is reported before anyone types a secret. */
	rc = peek_user(o, user, NULL);
	if (rc == EXIT_SYSTEM)
		return rc;
	if (must_exist && rc == EXIT_NOTFOUND) {
		log_error("%s: no user %s", o->path, user);
		return EXIT_NOTFOUND;
	}
	if (!must_exist && rc == EXIT_DONE) {
		log_error("%s: %s is already there (\"passwd %s\" changes the secret)",
			  o->path, user, user);
		return EXIT_NOTFOUND;
	}
	if (kind == USERDB_SYSTEM && getpwnam(user) == NULL)
		fprintf(stderr, "%s: note: there is no system account %s (yet)\n", progname, user);

	n = get_new_secret(user, secret, sizeof(secret));
	if (n < 0)
		return -n;

	hold_signals();
	db = open_db(o, USERDB_UPDATE);
	if (db == NULL) {
		ct_wipe(secret, sizeof(secret));
		release_signals();
		return EXIT_SYSTEM;
	}
	st = userdb_get_entry(db, user, &e);
	if (st == USERDB_ERROR || (must_exist && st == USERDB_NOTFOUND) ||
	    (!must_exist && st == USERDB_OK)) {
		if (st == USERDB_ERROR)
			log_error("%s", userdb_error(db));
		else
			log_error("%s: %s %s meanwhile; nothing changed", o->path, user,
				  must_exist ? "was deleted" : "was added");
		ct_wipe(secret, sizeof(secret));
		userdb_entry_wipe(&e);
		abandon_db(db);
		return st == USERDB_ERROR ? EXIT_SYSTEM : EXIT_NOTFOUND;
	}
	if (!must_exist) {
		memset(&e, 0, sizeof(e));
		e.kind = kind;
	}
	set_entry_secret(&e, secret, sizeof(secret), n);
	st = userdb_put_entry(db, user, &e);
	userdb_entry_wipe(&e);
	if (st != USERDB_OK) {
		log_error("%s; nothing changed", userdb_error(db));
		abandon_db(db);
		return EXIT_SYSTEM;
	}
	if (commit_db(db, (uid_t)-1, (gid_t)-1) != EXIT_DONE)
		return EXIT_SYSTEM;
	if (must_exist)
		printf("%s: changed the secret of %s in %s\n", progname, user, o->path);
	else
		printf("%s: added %s%s to %s\n", progname,
		       kind == USERDB_SYSTEM ? "system user " : "", user, o->path);
	return EXIT_DONE;
}

static int cmd_delete(const struct opts *o, const char *user)
{
	struct userdb *db;
	enum userdb_status st;

	hold_signals();
	db = open_db(o, USERDB_UPDATE);
	if (db == NULL) {
		release_signals();
		return EXIT_SYSTEM;
	}
	st = userdb_delete(db, user);
	if (st != USERDB_OK) {
		if (st == USERDB_ERROR)
			log_error("%s", userdb_error(db));
		else
			log_error("%s: no user %s", o->path, user);
		abandon_db(db);
		return st == USERDB_NOTFOUND ? EXIT_NOTFOUND : EXIT_SYSTEM;
	}
	if (commit_db(db, (uid_t)-1, (gid_t)-1) != EXIT_DONE)
		return EXIT_SYSTEM;
	printf("%s: deleted %s from %s\n", progname, user, o->path);
	return EXIT_DONE;
}

static int cmd_list(const struct opts *o, bool json)
{
	char **names;
	size_t count;
	struct userdb *db = open_db(o, USERDB_READ);
	int rc = EXIT_DONE;
	bool oom;
	size_t i;

	if (db == NULL)
		return EXIT_SYSTEM;
	/* Sorted: GDBM's order is a hash order nobody can read. */
	if (userdb_sorted_names(db, &names, &count, &oom) != USERDB_OK) {
		if (oom)
			log_error("%s: out of memory or too many users", o->path);
		else
			log_error("%s", userdb_error(db));
		rc = EXIT_SYSTEM;
	}
	if (rc == EXIT_DONE && json)
		printf("[");
	for (i = 0; rc == EXIT_DONE && i < count; i++) {
		struct userdb_entry e;

		if (!json) {
			printf("%s\n", names[i]);
			continue;
		}
		if (userdb_get_entry(db, names[i], &e) != USERDB_OK) {
			log_error("%s", userdb_error(db));
			rc = EXIT_SYSTEM;
			break;
		}
		/* Names are [A-Za-z0-9._@+-] only: nothing to escape. */
		printf("%s\n  {\"user\": \"%s\", \"kind\": \"%s\", \"secret\": %s, "
		       "\"other_fields\": %u}", i > 0 ? "," : "", names[i],
		       e.kind == USERDB_SYSTEM ? "system" : "virtual",
		       e.secret_len > 0 ? "true" : "false", e.other_fields);
		userdb_entry_wipe(&e);
	}
	if (rc == EXIT_DONE && json)
		printf("%s]\n", count > 0 ? "\n" : "");
	userdb_close(db);
	if (rc == EXIT_DONE && (fflush(stdout) != 0 || ferror(stdout))) {
		log_error("writing the list: %s", strerror(errno));
		rc = EXIT_SYSTEM;
	}
	userdb_names_free(names, count);
	return rc;
}

static int cmd_show(const struct opts *o, const char *user)
{
	struct userdb_entry e;
	int rc = peek_user(o, user, &e);

	if (rc == EXIT_NOTFOUND)
		log_error("%s: no user %s", o->path, user);
	if (rc != EXIT_DONE)
		return rc;
	printf("user: %s\n", user);
	printf("kind: %s\n", e.kind == USERDB_SYSTEM
	       ? "system (the APOP secret of the system account of that name)"
	       : "virtual (logs in with the secret; the session runs as mail-owner)");
	printf("secret: %s\n", e.secret_len > 0 ? "set (APOP)" : "none (APOP off)");
	if (e.other_fields > 0)
		printf("other fields: %u (kept, not used by this version)\n", e.other_fields);
	userdb_entry_wipe(&e);
	return EXIT_DONE;
}

static int cmd_check(const struct opts *o, const char *user)
{
	char guess[SECRET_BUF_SIZE], prompt[USERNAME_MAX + 32];
	struct userdb_entry e;
	ssize_t n;
	bool match;
	int rc;

	rc = peek_user(o, user, NULL);
	if (rc == EXIT_SYSTEM)
		return rc;
	snprintf(prompt, sizeof(prompt), "Secret of %s: ", user);
	n = secret_read(prompt, guess, sizeof(guess));
	if (n < 0) {
		log_error("%s", secret_error_text(n));
		return n == SECRET_ERR_IO ? EXIT_SYSTEM : EXIT_USAGE;
	}
	rc = peek_user(o, user, &e);
	if (rc != EXIT_DONE) {
		ct_wipe(guess, sizeof(guess));
		if (rc == EXIT_NOTFOUND)
			log_error("%s: no user %s", o->path, user);
		return rc;
	}
	match = e.secret_len > 0 && ct_equal_str(e.secret, e.secret_len, guess, (size_t)n);
	ct_wipe(guess, sizeof(guess));
	if (e.secret_len == 0) {
		userdb_entry_wipe(&e);
		log_error("%s: %s has no secret (APOP off)", o->path, user);
		return EXIT_NOTFOUND;
	}
	userdb_entry_wipe(&e);
	if (!match) {
		log_error("%s: the secret does not match that of %s", o->path, user);
		return EXIT_NOTFOUND;
	}
	printf("%s: the secret matches that of %s\n", progname, user);
	return EXIT_DONE;
}

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int cmd_import(const struct opts *o, const char *file, bool qpopper, bool replace)
{
	static const struct safeopen_rules any = { .no_group_write = false };
	struct userdb_import_stats s;
	enum userdb_status st;
	struct userdb *db;
	struct stat dbst;
	FILE *in = NULL;
	bool create;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;

	if (!qpopper) {
		if (strcmp(file, "-") == 0) {
			in = stdin;
		} else {
			const char *why = NULL;
			int fd = safe_open(file, O_RDONLY, 0, &any, NULL, &why);

			if (fd < 0 || (in = fdopen(fd, "r")) == NULL) {
				int e = errno;

				log_error("%s: %s", file, why != NULL &&
					  (e == ELOOP || e == EINVAL || e == EPERM) ? why : strerror(e));
				if (fd >= 0)
					close(fd);
				return EXIT_SYSTEM;
			}
		}
	}
	/* A Qpopper file put where the database goes is converted in place. */
	create = replace || lstat(o->path, &dbst) != 0 || (qpopper && same_file(file, o->path));
	if (create)
		creation_owner(o, &uid, &gid);
	hold_signals();
	db = open_db(o, create ? USERDB_REPLACE : USERDB_UPDATE);
	if (db == NULL) {
		release_signals();
		if (in != NULL && in != stdin)
			fclose(in);
		return EXIT_SYSTEM;
	}
	if (qpopper)
		st = userdb_import_qpopper(db, file, &s);
	else
		st = userdb_import_text(db, in, strcmp(file, "-") == 0 ? "(standard input)" : file,
					&s);
	if (in != NULL && in != stdin)
		fclose(in);
	if (st != USERDB_OK) {
		log_error("%s; nothing imported", userdb_error(db));
		abandon_db(db);
		return EXIT_SYSTEM;
	}
	if (commit_db(db, uid, gid) != EXIT_DONE)
		return EXIT_SYSTEM;
	printf("%s: imported %s into %s: %lu added, %lu replaced, %lu skipped\n", progname,
	       file, o->path, s.added, s.replaced, s.skipped);
	return EXIT_DONE;
}

static int cmd_export(const struct opts *o, const char *file)
{
	unsigned long count = 0;
	struct userdb *db;
	enum userdb_status st;
	FILE *out = stdout;
	int rc = EXIT_DONE;

	db = open_db(o, USERDB_READ);
	if (db == NULL)
		return EXIT_SYSTEM;
	if (file != NULL) {
		/* Never over an existing file or through a symlink; 0600. */
		int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

		if (fd < 0 || (out = fdopen(fd, "w")) == NULL) {
			log_error("%s: %s", file, strerror(errno));
			if (fd >= 0)
				close(fd);
			userdb_close(db);
			return EXIT_SYSTEM;
		}
	}
	fprintf(stderr, "%s: warning: the export holds every secret of %s in clear; "
		"keep it safe\n", progname, o->path);
	st = userdb_export(db, out, &count);
	if (st != USERDB_OK) {
		log_error("%s; the export is incomplete", userdb_error(db));
		rc = EXIT_SYSTEM;
	}
	userdb_close(db);
	if (file != NULL) {
		if ((fsync(fileno(out)) != 0 || fclose(out) != 0) && rc == EXIT_DONE) {
			log_error("%s: %s", file, strerror(errno));
			rc = EXIT_SYSTEM;
		}
		if (rc != EXIT_DONE)
			unlink(file);
		else
			printf("%s: exported %lu entries of %s to %s\n", progname, count,
			       o->path, file);
	} else if (rc == EXIT_DONE && (fflush(stdout) != 0 || ferror(stdout))) {
		log_error("writing the export: %s", strerror(errno));
		rc = EXIT_SYSTEM;
	}
	return rc;
}

static int cmd_verify(const struct opts *o)
{
	struct userdb_verify_report r;
	struct userdb *db;
	unsigned long problems;

	/* The file and its directory: the open applies the server's rule
	 * (open_db) and says what it refuses; then every record. */
	db = open_db(o, USERDB_READ);
	if (db == NULL)
		return EXIT_SYSTEM;
	userdb_verify(db, &r);
	problems = r.problems;
	userdb_close(db);
	printf("%s: %s: %lu entries (%lu virtual, %lu system, %lu with a secret): %s\n",
	       progname, o->path, r.records, r.virtual_users, r.system_users, r.with_secret,
	       problems == 0 ? "no problems found" : "PROBLEMS FOUND (see above)");
	return problems == 0 ? EXIT_DONE : EXIT_SYSTEM;
}

/* Checks the USER argument. */
static bool user_arg_ok(const char *user)
{
	if (username_valid(user))
		return true;
	log_error("invalid user name (1 to %d of A-Z a-z 0-9 . _ @ + -, "
		"not starting with '-' or '.', no \"..\")", USERNAME_MAX);
	return false;
}

/* The command table: name, the "--" options it takes, and how many
 * positional arguments (min..max).  USER arguments are checked here. */
struct command {
	const char *name;
	const char *flags[2];
	int min_args, max_args;
	bool takes_user;
};

static const struct command commands[] = {
	{ "init", { "--force", NULL }, 0, 0, false },
	{ "add", { "--system", NULL }, 1, 1, true },
	{ "passwd", { NULL, NULL }, 1, 1, true },
	{ "delete", { NULL, NULL }, 1, 1, true },
	{ "list", { "--json", NULL }, 0, 0, false },
	{ "show", { NULL, NULL }, 1, 1, true },
	{ "check", { NULL, NULL }, 1, 1, true },
	{ "import", { "--qpopper", "--replace" }, 1, 1, false },
	{ "export", { NULL, NULL }, 0, 1, false },
	{ "verify", { NULL, NULL }, 0, 0, false },
};

/* The options before the command (-f, -o, -h, -V) into *o; optind is then
 * the command's place.  Returns -1 to go on, or the exit status (help,
 * version, a usage error). */
static int parse_global(int argc, char **argv, struct opts *o)
{
	int c;

	opterr = 0;
	while ((c = getopt(argc, argv, "+:f:o:bhV")) != -1) {
		char opt[3] = { '-', (char)optopt, '\0' };

		switch (c) {
		case 'f':
			if (optarg[0] == '\0')
				return usage_error("-f needs a file name", NULL);
			o->path = optarg;
			break;
		case 'o':
			if (!username_valid(optarg))
				return usage_error("-o needs an account name, not", optarg);
			o->owner = optarg;
			break;
		case 'b':
			o->break_lock = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_DONE;
		case 'V':
			printf("apopdb (popper) %s\n", PACKAGE_VERSION);
			return EXIT_DONE;
		case ':':
			return usage_error("missing argument for", opt);
		default:
			return usage_error("unknown option", opt);
		}
	}
	return -1;
}

/* The words after cmd's name (argv[first..]): its --flags into flag and its
 * arguments into args.  Returns -1 to go on, or the exit status of a usage
 * error. */
static int parse_command(const struct command *cmd, int argc, char **argv, int first,
			 const char *args[2], bool flag[2])
{
	int i, nargs = 0;
	size_t k;

	for (i = first; i < argc; i++) {
		const char *a = argv[i];

		if (a[0] == '-' && a[1] == '-') {
			bool known = false;

			for (k = 0; k < 2; k++)
				if (cmd->flags[k] != NULL && strcmp(a, cmd->flags[k]) == 0)
					flag[k] = known = true;
			if (!known) {
				char what[64];

				snprintf(what, sizeof(what), "unknown option for %s:", cmd->name);
				return usage_error(what, a);
			}
			continue;
		}
		if (nargs >= cmd->max_args)
			return usage_error(strcmp(cmd->name, "add") == 0 ||
					   strcmp(cmd->name, "passwd") == 0 ||
					   strcmp(cmd->name, "check") == 0
					   ? "too many arguments (the secret is read from "
					     "standard input, never from the command line) for"
					   : "too many arguments for", cmd->name);
		args[nargs++] = a;
	}
	if (nargs < cmd->min_args)
		return usage_error(cmd->takes_user ? "missing USER for" : "missing FILE for",
				   cmd->name);
	if (cmd->takes_user && !user_arg_ok(args[0]))
		return EXIT_USAGE;
	return -1;
}

/* Runs the command (its row in commands[]). */
static int run_command(const struct command *cmd, const struct opts *o,
		       const char *const args[2], const bool flag[2])
{
	switch (cmd - commands) {
	case 0:
		return cmd_init(o, flag[0]);
	case 1:
		return cmd_set(o, args[0], false, flag[0] ? USERDB_SYSTEM : USERDB_VIRTUAL);
	case 2:
		return cmd_set(o, args[0], true, USERDB_VIRTUAL);
	case 3:
		return cmd_delete(o, args[0]);
	case 4:
		return cmd_list(o, flag[0]);
	case 5:
		return cmd_show(o, args[0]);
	case 6:
		return cmd_check(o, args[0]);
	case 7:
		return cmd_import(o, args[0], flag[0], flag[1]);
	case 8:
		return cmd_export(o, args[0]);
	default:
		return cmd_verify(o);
	}
}

int main(int argc, char **argv)
{
	struct opts o = { USERDB_DEFAULT_PATH, DEFAULT_AUTH_DB_OWNER, false };
	const struct command *cmd = NULL;
	const char *args[2] = { NULL, NULL };
	bool flag[2] = { false, false };
	int rc;
	size_t k;

	umask(077);
	log_open("apopdb", LOG_AUTH, LOG_TO_STDERR);
	if (getuid() != geteuid() || getgid() != getegid()) {
		log_error("refusing to run setuid or setgid (popauth is the setuid tool)");
		return EXIT_SYSTEM;
	}
	rc = parse_global(argc, argv, &o);
	if (rc >= 0)
		return rc;
	if (optind >= argc)
		return usage_error("no command given", NULL);
	for (k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (strcmp(argv[optind], commands[k].name) == 0)
			cmd = &commands[k];
	if (cmd == NULL)
		return usage_error("unknown command", argv[optind]);
	rc = parse_command(cmd, argc, argv, optind + 1, args, flag);
	if (rc >= 0)
		return rc;
	if (!userdb_available()) {
		log_error("%s: popper was built without GDBM", o.path);
		return EXIT_SYSTEM;
	}
	return run_command(cmd, &o, args, flag);
}
