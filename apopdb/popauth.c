/*
 * popauth: users set their own APOP secret in popper's user database
 * (Qpopper's popauth, popauth(8)).
 *
 *   popauth                      change your own secret
 *   popauth -list [user | ALL]   is there an entry? (others: admins only)
 *   popauth -user USER           set USER's secret (admins only)
 *   popauth -delete USER         remove USER's entry (admins only)
 *   popauth -init [-safe]        create or empty the database (root only)
 *   popauth -version | -help
 *
 * RUNS SETUID to the database owner (e.g. "pop"), never root: it refuses
 * to run setuid root.  Whatever the caller controls is treated as hostile
 * (robustness notes §4.7; CVE-2001-1487, CVE-2005-1151/1152): the first
 * thing main() does is set umask 077, make fds 0-2 valid, close every other
 * fd, reset signal handling, turn core dumps off and replace the
 * environment.  Identity comes from getuid() only (never $USER, $LOGNAME
 * or getlogin()).  An "admin" is the real uid 0 or the owner's uid.  There
 * is no trace or debug option and no way for an ordinary user to name a
 * file: the database path is compiled in (-f is for admins, or for a copy
 * that runs without privilege).  Secrets come from the terminal (echo off)
 * or one line of standard input, never from the command line.  Changes go
 * through the copy-and-rename of auth/userdb/userdb_write.c with the catchable
 * signals held, so killing popauth never leaves a damaged database, and
 * nothing is written to the caller's terminal or pipes while the writers'
 * lock is held.  The caller can still stop popauth with SIGSTOP while it
 * holds the lock: the lock does not rely on it going on, since apopdb
 * takes it over and fences the stopped popauth off (userdb_write.c,
 * "Locking"; popauth(8)).
 *
 * Exit status: 0 done, 1 refused (not permitted, unknown user, wrong old
 * secret, secrets differ or too weak, unchanged), 2 usage, 3 system or
 * database error.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "apopdb/entry.h"
#include "apopdb/secret.h"
#include "lib/ctcompare.h"
#include "lib/log.h"
#include "auth/userdb/userdb.h"
#include "auth/userdb/userdb_write.h"
#include "lib/username.h"

#ifndef DEFAULT_AUTH_DB_OWNER
#define DEFAULT_AUTH_DB_OWNER "pop"
#endif

enum { EXIT_DONE = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_SYSTEM = 3 };

/* Arguments are switches and user names: anything longer or more numerous
 * is not from a person. */
#define MAX_ARGS 8
#define MAX_ARG_LEN 256
/* Highest fd closed one by one when close_range(2) is missing. */
#define CLOSE_FD_LIMIT 65536
/* Tries at a strong enough secret on a terminal (each one checked). */
#define NEW_SECRET_TRIES 3
#define ERR_MAX (PATH_MAX + 512)
/* Entries -list ALL prints at most. */

static const char *progname = "popauth";

/* Who is asking, from the kernel's ids only. */
struct caller {
	uid_t ruid, euid;
	bool privileged;     /* running setuid or setgid */
	uid_t owner_uid;     /* the database owner, (uid_t)-1 if unknown */
	gid_t owner_gid;
	char owner_name[USERNAME_MAX + 1];
	bool root;           /* real uid 0 */
	bool admin;          /* root or the owner */
	char name[USERNAME_MAX + 1];   /* login name of ruid, "" if unknown */
	bool name_known;
};

/* ---- a clean process --------------------------------------------------------- */

static void die_early(const char *msg)
{
	/* fds 0-2 may not be valid yet: syslog is the only safe channel. */
	openlog("popauth", LOG_PID, LOG_AUTH);
	syslog(LOG_ERR, "%s", msg);
	_exit(EXIT_SYSTEM);
}

static void close_other_fds(void)
{
#ifdef HAVE_CLOSE_RANGE
	if (close_range(3, ~0U, 0) == 0)
		return;
#endif
	{
		struct rlimit rl;
		int fd, max = CLOSE_FD_LIMIT;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
		    rl.rlim_cur < (rlim_t)max)
			max = (int)rl.rlim_cur;
		for (fd = 3; fd < max; fd++)
			(void)close(fd);
	}
}

/* Everything the caller could have set up for us, undone. */
static void sanitize_process(void)
{
	static char path_env[] = "PATH=/usr/bin:/bin";
	struct rlimit nocore = { 0, 0 };
	sigset_t none;
	int fd, sig;

	umask(077);
	/* fds 0-2 open on something, so no file we open becomes a
	 * standard stream by accident. */
	for (fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
			int nfd = open("/dev/null", O_RDWR);

			if (nfd != fd)
				die_early("cannot open /dev/null for a closed standard descriptor");
		}
	}
	close_other_fds();
	/* No core file with secrets in it, no ptrace by the caller. */
	(void)setrlimit(RLIMIT_CORE, &nocore);
#ifdef __linux__
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)signal(sig, SIG_DFL);
	/* A tiny file size limit must make a write fail, not kill us half-way
	 * (harmless either way: the database is replaced by rename). */
	(void)signal(SIGXFSZ, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* No TZ, LANG, LD_*, NLSPATH, HOME... */
	if (clearenv() != 0 || putenv(path_env) != 0)
		die_early("cannot reset the environment");
}

/* One record to syslog for every change (the administrator's audit
 * trail); names are valid user names, nothing to quote. */
static void audit(const char *what, const char *who, const char *whom)
{
	log_open(progname, LOG_AUTH, LOG_TO_SYSLOG);
	log_msg(LOG_NOTICE, "%s %s %s", who, what, whom);
	log_open(progname, LOG_AUTH, LOG_TO_STDERR);
}

static void identify(struct caller *c)
{
	struct passwd *pw;

	memset(c, 0, sizeof(*c));
	c->ruid = getuid();
	c->euid = geteuid();
	c->privileged = c->ruid != c->euid || getgid() != getegid();
	c->owner_uid = (uid_t)-1;
	c->owner_gid = (gid_t)-1;
	/* Installed setuid: the owner is who we run as.  Otherwise the
	 * account configured at build time, if it exists. */
	pw = c->ruid != c->euid ? getpwuid(c->euid) : getpwnam(DEFAULT_AUTH_DB_OWNER);
	if (c->ruid != c->euid) {
		c->owner_uid = c->euid;
		c->owner_gid = pw != NULL ? pw->pw_gid : getegid();
	} else if (pw != NULL) {
		c->owner_uid = pw->pw_uid;
		c->owner_gid = pw->pw_gid;
	}
	snprintf(c->owner_name, sizeof(c->owner_name), "%s",
		 pw != NULL && strlen(pw->pw_name) <= USERNAME_MAX ? pw->pw_name
		 : DEFAULT_AUTH_DB_OWNER);
	c->root = c->ruid == 0;
	c->admin = c->root || (c->owner_uid != (uid_t)-1 && c->ruid == c->owner_uid);
	pw = getpwuid(c->ruid);
	if (pw != NULL && strlen(pw->pw_name) <= USERNAME_MAX) {
		snprintf(c->name, sizeof(c->name), "%s", pw->pw_name);
		c->name_known = true;
	}
}

/* ---- messages ------------------------------------------------------------------- */

static void usage(FILE *out, const char *path)
{
	fprintf(out,
		"usage: %s [ <action> ]\n"
		"actions:\n"
		"  (none)                change your own APOP secret\n"
		"  -list [ <user> | ALL ] show whether an entry exists (yours by default)\n"
		"  -user <user>          set the secret of <user>       (root or %s only)\n"
		"  -delete <user>        delete the entry of <user>     (root or %s only)\n"
		"  -init [ -safe ]       create or empty the database   (root only)\n"
		"  -version              print the version\n"
		"  -help                 print this text\n"
		"  -f <database>         another database (root or %s only)\n"
		"The secret is read from the terminal (or one line of standard input),\n"
		"never from the command line.  The secret \"*\" turns APOP off.\n"
		"database: %s\n",
		progname, DEFAULT_AUTH_DB_OWNER, DEFAULT_AUTH_DB_OWNER, DEFAULT_AUTH_DB_OWNER,
		path);
}

/* "popauth: BEFORE<arg>AFTER" (arg quoted: it is the caller's text) and
 * the short usage; exit status 2. */
static int usage_error(const char *before, const char *arg, const char *after)
{
	char q[MAX_ARG_LEN * 4 + 8];

	log_quote(arg != NULL ? arg : "", arg != NULL ? strnlen(arg, MAX_ARG_LEN) : 0, q, sizeof(q));
	fprintf(stderr, "popauth: %s%s%s\n", before, q, after);
	fprintf(stderr, "usage: %s [ -list [ <user> | ALL ] | -user <user> | -delete <user> "
		"| -init [ -safe ] | -version | -help ]\n", progname);
	return EXIT_USAGE;
}

/* A name the caller typed, made safe for a message. */
static const char *quoted(const char *s, char *buf, size_t size)
{
	return log_quote(s, strnlen(s, MAX_ARG_LEN), buf, size);
}

static int not_permitted(const struct caller *c, bool root_only)
{
	if (root_only)
		log_error("Only superuser can perform the requested function");
	else
		log_error("Only superuser or user \"%s\" can perform the requested function",
			  c->owner_name);
	return EXIT_REFUSED;
}

/* The database as popauth accepts it: the one rule of the server and
 * apopdb (auth/userdb/userdb.h) with our owner account.  popauth never
 * takes the writers' lock over (USERDB_TAKEOVER_NEVER): a user must not be
 * able to make another's change, or the administrator's, fail; it waits
 * and then names the holder. */
static struct userdb *open_db(const struct caller *c, const char *path,
			      enum userdb_mode mode)
{
	struct userdb_rules rules = { .takeover = USERDB_TAKEOVER_NEVER };
	char err[ERR_MAX];
	struct userdb *db;

	rules.owner_set = c->owner_uid != (uid_t)-1;
	rules.owner_uid = c->owner_uid;
	db = mode == USERDB_READ ? userdb_open_with(path, mode, &rules, err, sizeof(err))
		: userdb_write_open(path, mode, &rules, err, sizeof(err));
	if (db == NULL) {
		if (errno == ENOENT)
			log_error("%s (POP authentication DB not initialized: \"popauth -init\")",
				  err);
		else
			log_error("%s", err);
	}
	return db;
}

/* Closes db (a writer: the lock goes with it), lets the held signals in and
 * only then logs its error: a message to a standard error that the caller
 * blocks (a full pipe, a terminal stopped with ^S) must never keep the
 * lock held. */
static void close_then_log(struct userdb *db)
{
	char msg[ERR_MAX];

	snprintf(msg, sizeof(msg), "%s", userdb_error(db));
	userdb_close(db);
	release_signals();
	log_error("%s", msg);
}

/* ---- actions ------------------------------------------------------------------------ */

static int do_init(const struct caller *c, const char *path, bool safe)
{
	char answer[16];
	struct userdb *db;
	struct stat st;
	bool existed;
	ssize_t n;

	if (!c->root)
		return not_permitted(c, true);
	existed = lstat(path, &st) == 0;
	if (existed && safe) {
		fprintf(stderr, "POP authentication DB not initialized (exists): %s\n", path);
		return EXIT_DONE;
	}
	if (existed) {
		fputs("Really initialize POP authentication DB? ", stderr);
		fflush(stderr);
		n = read(STDIN_FILENO, answer, sizeof(answer) - 1);
		if (n <= 0 || (answer[0] != 'y' && answer[0] != 'Y')) {
			fprintf(stderr, "\nPOP authentication DB not initialized: %s\n", path);
			return EXIT_REFUSED;
		}
	}
	hold_signals();
	db = open_db(c, path, USERDB_REPLACE);
	if (db == NULL) {
		release_signals();
		return EXIT_SYSTEM;
	}
	/* Root running a copy without privilege: hand the file to the owner
	 * account; installed setuid, we create it as the owner already. */
	if (userdb_commit(db, c->euid == 0 ? c->owner_uid : (uid_t)-1,
			  c->euid == 0 ? c->owner_gid : (gid_t)-1) != 0) {
		close_then_log(db);
		return EXIT_SYSTEM;
	}
	userdb_close(db);
	release_signals();
	audit("initialized the database", c->name_known ? c->name : "root", path);
	printf("%s: %s %s\n", progname, existed ? "emptied" : "created", path);
	return EXIT_DONE;
}

/* Reads a new secret that passes the rule (or "*") into buf.  Returns its
 * length, or a negative exit status after saying why (unchanged, mismatch,
 * too weak on every try, unreadable). */
static int read_new_secret(const char *user, const char *old, size_t oldlen,
			   char *buf, size_t bufsize)
{
	int tries = secret_interactive() ? NEW_SECRET_TRIES : 1;

	while (tries-- > 0) {
		ssize_t n = secret_read_new("New password: ", "Retype new password: ",
					    buf, bufsize);
		const char *weak;

		if (n == SECRET_ERR_MISMATCH) {
			log_error("Mismatch -- password unchanged.");
			return -EXIT_REFUSED;
		}
		if (n < 0) {
			log_error("%s; password unchanged.", secret_error_text(n));
			return n == SECRET_ERR_IO ? -EXIT_SYSTEM : -EXIT_REFUSED;
		}
		if (n == 0 || (old != NULL && ct_equal_str(old, oldlen, buf, (size_t)n))) {
			ct_wipe(buf, bufsize);
			log_error("Password unchanged.");
			return -EXIT_REFUSED;
		}
		if (secret_is_disable(buf, (size_t)n))
			return (int)n;
		weak = secret_weakness(buf, (size_t)n, user);
		if (weak == NULL)
			return (int)n;
		ct_wipe(buf, bufsize);
		/* Enforced on every try: never "accepted anyway" (Qpopper did). */
		log_error("Please use a stronger password: %s.", weak);
	}
	log_error("Password unchanged.");
	return -EXIT_REFUSED;
}

/* Before any prompt: is there a database, and may user's entry be changed
 * here (not a virtual user; for -user, an account that exists)?  No lock
 * is held while the user types.  Returns -1 to go on with *e_r (wipe it)
 * and *existed_r, or the exit status. */
static int check_target(const struct caller *c, const char *path, const char *user, bool self,
			struct userdb_entry *e_r, bool *existed_r)
{
	struct userdb *db;
	enum userdb_status st;

	if (!username_valid(user)) {
		char q[MAX_ARG_LEN * 4 + 8];

		log_error("the name \"%s\" cannot be used with popper", quoted(user, q, sizeof(q)));
		return EXIT_REFUSED;
	}
	db = open_db(c, path, USERDB_READ);
	if (db == NULL)
		return EXIT_SYSTEM;
	st = entry_read_once(db, user, e_r);
	if (st == USERDB_ERROR)
		return EXIT_SYSTEM;
	*existed_r = st == USERDB_OK;
	if (*existed_r && e_r->kind == USERDB_VIRTUAL) {
		userdb_entry_wipe(e_r);
		log_error("\"%s\" is a virtual user of popper, not a system account; "
			  "its secret is changed with apopdb", user);
		return EXIT_REFUSED;
	}
	/* -user: Qpopper's rule, the account must exist (self: it does). */
	if (!self && getpwnam(user) == NULL) {
		userdb_entry_wipe(e_r);
		log_error("Sorry, don't know who user %s is.", user);
		return EXIT_REFUSED;
	}
	return -1;
}

/* Stores secret (n bytes; "*": APOP off) as user's system entry in a
 * copy of the database, provided the entry is still e (or still missing:
 * !existed), and commits it; signals are held meanwhile.  Returns the exit
 * status. */
static int write_change(const struct caller *c, const char *path, const char *user,
			const struct userdb_entry *e, bool existed, const char *secret, int n)
{
	char msg[ERR_MAX + USERNAME_MAX + 64];
	struct userdb_entry now;
	struct userdb *db;
	enum userdb_status st;
	int rc = EXIT_DONE;

	hold_signals();
	db = open_db(c, path, USERDB_UPDATE);
	if (db == NULL) {
		release_signals();
		return EXIT_SYSTEM;
	}
	/* Nothing is written to the caller's terminal or pipes while the lock
	 * is held (see close_then_log): the messages wait in msg. */
	msg[0] = '\0';
	/* The entry must still be the one the user proved to know (or still
	 * be missing); another change meanwhile means: start again. */
	st = userdb_get_entry(db, user, &now);
	if (st == USERDB_ERROR) {
		snprintf(msg, sizeof(msg), "%s", userdb_error(db));
		rc = EXIT_SYSTEM;
	} else if ((st == USERDB_OK) != existed ||
		   (existed && (now.kind != e->kind ||
				!ct_equal_str(now.secret, now.secret_len, e->secret, e->secret_len)))) {
		snprintf(msg, sizeof(msg), "the entry of %s changed meanwhile; nothing changed, "
			 "try again", user);
		rc = EXIT_REFUSED;
	}
	if (rc == EXIT_DONE) {
		now.kind = USERDB_SYSTEM;
		now.secret_len = 0;
		if (!secret_is_disable(secret, (size_t)n)) {
			memcpy(now.secret, secret, (size_t)n);
			now.secret[n] = '\0';
			now.secret_len = (size_t)n;
		}
		if (userdb_put_entry(db, user, &now) != USERDB_OK ||
		    userdb_commit(db, (uid_t)-1, (gid_t)-1) != 0) {
			snprintf(msg, sizeof(msg), "%s; password unchanged.", userdb_error(db));
			rc = EXIT_SYSTEM;
		}
	}
	userdb_entry_wipe(&now);
	userdb_close(db);
	release_signals();
	if (msg[0] != '\0')
		log_error("%s", msg);
	return rc;
}

/* Changes user's secret: the caller's own (self) or, for an admin, any
 * system account's (-user). */
static int do_change(const struct caller *c, const char *path, const char *user, bool self)
{
	char old[SECRET_BUF_SIZE], secret[SECRET_BUF_SIZE];
	struct userdb_entry e;
	bool existed = false, need_old;
	int n, rc;

	rc = check_target(c, path, user, self, &e, &existed);
	if (rc >= 0)
		return rc;
	need_old = self && !c->admin && existed && e.secret_len > 0;
	printf("%s APOP password for %s.\n", existed && e.secret_len > 0 ? "Changing" : "Adding",
	       user);
	fflush(stdout);
	if (need_old) {
		ssize_t m = secret_read("Old password: ", old, sizeof(old));

		if (m < 0 || !ct_equal_str(e.secret, e.secret_len, old, (size_t)m)) {
			ct_wipe(old, sizeof(old));
			userdb_entry_wipe(&e);
			log_error("Sorry, password entered incorrectly");
			return m == SECRET_ERR_IO ? EXIT_SYSTEM : EXIT_REFUSED;
		}
	}
	n = read_new_secret(user, existed && e.secret_len > 0 ? e.secret : NULL,
			    e.secret_len, secret, sizeof(secret));
	if (n < 0) {
		ct_wipe(old, sizeof(old));
		userdb_entry_wipe(&e);
		return -n;
	}
	rc = write_change(c, path, user, &e, existed, secret, n);
	ct_wipe(old, sizeof(old));
	userdb_entry_wipe(&e);
	if (rc == EXIT_DONE) {
		bool off = secret_is_disable(secret, (size_t)n);

		audit(off ? "turned APOP off for" : "set the APOP secret of",
		      c->name_known ? c->name : "(unknown)", user);
		printf("%s: %s %s.\n", progname, off ? "APOP turned off for" :
		       existed ? "changed the APOP password of" : "added an APOP password for", user);
	}
	ct_wipe(secret, sizeof(secret));
	return rc;
}

static int do_delete(const struct caller *c, const char *path, const char *user)
{
	char q[MAX_ARG_LEN * 4 + 8];
	struct userdb *db;
	enum userdb_status st;

	if (!c->admin)
		return not_permitted(c, false);
	fprintf(stderr, "Warning: deleting user \"%s\"\n", quoted(user, q, sizeof(q)));
	hold_signals();
	db = open_db(c, path, USERDB_UPDATE);
	if (db == NULL) {
		release_signals();
		return EXIT_SYSTEM;
	}
	st = userdb_delete(db, user);
	if (st == USERDB_OK && userdb_commit(db, (uid_t)-1, (gid_t)-1) != 0)
		st = USERDB_ERROR;
	if (st == USERDB_ERROR) {
		close_then_log(db);
		return EXIT_SYSTEM;
	}
	userdb_close(db);
	release_signals();
	if (st == USERDB_NOTFOUND) {
		log_error("User '%s' not found in authentication database", q);
		return EXIT_REFUSED;
	}
	audit("deleted the entry of", c->name_known ? c->name : "(unknown)", user);
	return EXIT_DONE;
}

static void print_entry(const char *user, const struct userdb_entry *e)
{
	/* Qpopper's "%-16s: APOP SCRAM" line; we have no SCRAM yet. */
	printf("%-16s: %s%s\n", user, e->secret_len > 0 ? "APOP" : "",
	       e->kind == USERDB_VIRTUAL ? (e->secret_len > 0 ? " (virtual user)" : "(virtual user)")
	       : "");
}

static int do_list(const struct caller *c, const char *path, const char *who)
{
	struct userdb_entry e;
	struct userdb *db;
	enum userdb_status st;
	int rc = EXIT_DONE;

	if (who == NULL) {
		if (!c->name_known) {
			log_error("Sorry, don't know who you (uid %lu) are.", (unsigned long)c->ruid);
			return EXIT_REFUSED;
		}
		who = c->name;
	}
	if (!c->admin && strcmp(who, c->name) != 0)
		return not_permitted(c, false);
	db = open_db(c, path, USERDB_READ);
	if (db == NULL)
		return EXIT_SYSTEM;
	if (strcmp(who, "ALL") == 0) {
		char **names;
		size_t n, i;
		bool oom;

		if (userdb_sorted_names(db, &names, &n, &oom) != USERDB_OK) {
			log_error("%s", oom ? "out of memory" : userdb_error(db));
			rc = EXIT_SYSTEM;
		}
		for (i = 0; rc == EXIT_DONE && i < n; i++) {
			if (userdb_get_entry(db, names[i], &e) != USERDB_OK) {
				log_error("%s", userdb_error(db));
				rc = EXIT_SYSTEM;
				break;
			}
			print_entry(names[i], &e);
			userdb_entry_wipe(&e);
		}
		userdb_names_free(names, n);
	} else {
		st = userdb_get_entry(db, who, &e);
		if (st == USERDB_OK) {
			print_entry(who, &e);
		} else if (st == USERDB_NOTFOUND) {
			char q[MAX_ARG_LEN * 4 + 8];

			log_error("no entry for \"%s\" in POP authentication DB",
				  quoted(who, q, sizeof(q)));
			rc = EXIT_REFUSED;
		} else {
			log_error("%s", userdb_error(db));
			rc = EXIT_SYSTEM;
		}
		userdb_entry_wipe(&e);
	}
	userdb_close(db);
	return rc;
}

/* ---- main -------------------------------------------------------------------------------- */

enum action { ACT_CHANGE, ACT_LIST, ACT_USER, ACT_DELETE, ACT_INIT, ACT_VERSION, ACT_HELP };

/* What the command line asks for. */
struct request {
	enum action act;
	const char *path;   /* -f, or the compiled-in database */
	const char *arg;    /* the action's argument, or NULL */
	bool safe;          /* -safe (with -init) */
	bool have_f;
};

/* Parses argv (already bounded in number and length) into *rq.  Returns
 * -1 to go on, or the exit status of a usage error. */
static int parse_args(int argc, char **argv, struct request *rq)
{
	bool have_action = false;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		enum action next = ACT_CHANGE;
		bool takes_arg = false, optional_arg = false;

		if (a[0] != '-')
			return usage_error("unrecognized switch \"", a, "\"");
		if (strcmp(a, "-f") == 0) {
			if (i + 1 >= argc)
				return usage_error("missing argument for ", a, "");
			rq->path = argv[++i];
			rq->have_f = true;
			continue;
		}
		if (strcmp(a, "-safe") == 0) {
			rq->safe = true;
			continue;
		}
		if (strcmp(a, "-only") == 0)
			continue;   /* Qpopper's SCRAM-mode switch: APOP is all we do */
		if (strcmp(a, "-trace") == 0 || strcmp(a, "-debug") == 0 || strcmp(a, "-dump") == 0)
			return usage_error("", a, " is not supported: popauth never writes a "
					   "trace or shows stored values (CVE-2001-1487)");
		if (strcmp(a, "-list") == 0) {
			next = ACT_LIST;
			takes_arg = optional_arg = true;
		} else if (strcmp(a, "-user") == 0) {
			next = ACT_USER;
			takes_arg = true;
		} else if (strcmp(a, "-delete") == 0) {
			next = ACT_DELETE;
			takes_arg = true;
		} else if (strcmp(a, "-init") == 0) {
			next = ACT_INIT;
		} else if (strcmp(a, "-version") == 0) {
			next = ACT_VERSION;
		} else if (strcmp(a, "-help") == 0 || strcmp(a, "--help") == 0 ||
			   strcmp(a, "-h") == 0) {
			next = ACT_HELP;
		} else {
			return usage_error("\"", a, "\" unknown option");
		}
		if (have_action)
			return usage_error("only one action at a time (", a, ")");
		have_action = true;
		rq->act = next;
		if (takes_arg) {
			if (i + 1 < argc && (argv[i + 1][0] != '-' || !optional_arg))
				rq->arg = argv[++i];
			else if (!optional_arg)
				return usage_error("missing argument for ", a, "");
			/* Qpopper's "-user USER PASSWORD": never here. */
			if (rq->act == ACT_USER && i + 1 < argc && argv[i + 1][0] != '-')
				return usage_error("-user: the secret is never taken from the "
						   "command line (ps shows it)", NULL, "");
		}
	}
	if (rq->safe && rq->act != ACT_INIT)
		return usage_error("-safe only goes with -init", NULL, "");
	return -1;
}

/* Runs a database action for caller c. */
static int run_action(const struct caller *c, const struct request *rq)
{
	switch (rq->act) {
	case ACT_INIT:
		return do_init(c, rq->path, rq->safe);
	case ACT_LIST:
		return do_list(c, rq->path, rq->arg);
	case ACT_DELETE:
		return do_delete(c, rq->path, rq->arg);
	case ACT_USER:
		if (!c->admin)
			return not_permitted(c, false);
		return do_change(c, rq->path, rq->arg, false);
	default:
		if (!c->name_known) {
			log_error("Sorry, don't know who you (uid %lu) are.", (unsigned long)c->ruid);
			return EXIT_REFUSED;
		}
		if (c->ruid == 0) {
			log_error("root cannot log in to popper; \"-user <user>\" sets a "
				  "user's secret");
			return EXIT_REFUSED;
		}
		return do_change(c, rq->path, c->name, true);
	}
}

int main(int argc, char **argv)
{
	struct request rq = { ACT_CHANGE, USERDB_DEFAULT_PATH, NULL, false, false };
	struct caller c;
	int i, rc;

	sanitize_process();   /* before anything reads the environment or opens a file */
	log_open(progname, LOG_AUTH, LOG_TO_STDERR);
	if (geteuid() == 0 && getuid() != 0) {
		log_error("refusing to run setuid root: install popauth setuid to the "
			  "database owner (%s)", DEFAULT_AUTH_DB_OWNER);
		return EXIT_SYSTEM;
	}
	identify(&c);

	if (argc > MAX_ARGS)
		return usage_error("too many arguments", NULL, "");
	for (i = 1; i < argc; i++)
		if (strnlen(argv[i], MAX_ARG_LEN + 1) > MAX_ARG_LEN)
			return usage_error("argument too long", NULL, "");
	rc = parse_args(argc, argv, &rq);
	if (rc >= 0)
		return rc;
	if (rq.act == ACT_VERSION) {
		printf("%s v%s\n", progname, PACKAGE_VERSION);
		return EXIT_DONE;
	}
	if (rq.act == ACT_HELP) {
		usage(stdout, rq.path);
		return EXIT_DONE;
	}
	/* A privileged popauth only works on the compiled-in database unless
	 * an admin asks: nobody else may point it at a file. */
	if (rq.have_f && c.privileged && !c.admin) {
		log_error("-f is only for root and \"%s\"", c.owner_name);
		return EXIT_REFUSED;
	}
	if (!userdb_available()) {
		log_error("not available: popper was built without GDBM");
		return EXIT_SYSTEM;
	}
	return run_action(&c, &rq);
}
