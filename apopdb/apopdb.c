/*
 * apopdb: the administrator's tool for popper's user database (virtual
 * users and their secrets, lib/userdb.h).
 *
 *   apopdb [-f DB] init | add USER | delete USER | list
 *
 * Run by root (or the account that owns the database) by hand or from
 * scripts; it is never installed setuid and refuses to run so.  A secret is
 * never taken from the command line (visible in ps): it is read as one line
 * from standard input, or, on a terminal, prompted for twice with echo off.
 * Files are created with umask 077.  Every message names the file and the
 * reason.  Exit status: 0 done, 1 user not found, 2 usage or invalid input,
 * 3 system or database error.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "lib/ctcompare.h"
#include "lib/log.h"
#include "lib/userdb.h"
#include "lib/username.h"

#define DEFAULT_DB SYSCONFDIR "/popper/pop.auth"

enum {
	EXIT_DONE = 0,
	EXIT_NOTFOUND = 1,
	EXIT_USAGE = 2,
	EXIT_SYSTEM = 3
};

/* Largest error text from lib/userdb. */
#define ERR_MAX 512
/* Names printed by "list"; a larger database is damaged or not ours. */
#define LIST_MAX 1000000

static const char *progname = "apopdb";

static void usage(FILE *out)
{
	fprintf(out,
		"usage: %s [-f DB] init | add USER | delete USER | list\n"
		"       %s -h\n"
		"  init         create an empty database (never overwrites one)\n"
		"  add USER     add USER or change their secret; the secret is read\n"
		"               from standard input (one line) or prompted for twice\n"
		"               on a terminal; it is never taken from the command line\n"
		"  delete USER  remove USER\n"
		"  list         print the user names, one per line\n"
		"  -f DB        use DB instead of %s\n",
		progname, progname, DEFAULT_DB);
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
	fprintf(stderr, "usage: %s [-f DB] init | add USER | delete USER | list  (%s -h: help)\n",
		progname, progname);
	return EXIT_USAGE;
}

/* ---- reading a secret ---------------------------------------------------- */

/* The terminal state to restore if a signal interrupts a prompt. */
static struct termios saved_tty;
static volatile sig_atomic_t tty_changed;

static void restore_tty_and_die(int sig)
{
	if (tty_changed)
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Reads one line from fd into buf (size bufsize) with read(2), byte by byte,
 * so no copy of the secret is left in a stdio buffer.  The newline (and a CR
 * before it) is dropped.  Returns the length, -1 on a read error, -2 when
 * the line does not fit (reading stops there), -3 when it holds a NUL. */
static ssize_t read_line_fd(int fd, char *buf, size_t bufsize)
{
	size_t len = 0;
	bool nul = false;

	for (;;) {
		char c;
		ssize_t n = read(fd, &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0 || c == '\n')
			break;
		if (len + 1 >= bufsize) {
			secure_wipe(buf, bufsize);
			return -2;
		}
		if (c == '\0')
			nul = true;
		buf[len++] = c;
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	if (nul) {
		secure_wipe(buf, bufsize);
		return -3;
	}
	return (ssize_t)len;
}

/* Prompts on stderr and reads a line from the terminal on stdin, echo off. */
static ssize_t prompt_secret(const char *prompt, char *buf, size_t bufsize)
{
	struct termios t;
	ssize_t n;
	int saved;

	if (tcgetattr(STDIN_FILENO, &saved_tty) < 0)
		return -1;
	t = saved_tty;
	t.c_lflag &= ~(tcflag_t)ECHO;
	t.c_lflag |= ECHONL;
	tty_changed = 1;
	/* Echo goes off (and type-ahead is dropped) before the prompt shows,
	 * so nothing typed after the prompt can be echoed. */
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) < 0) {
		tty_changed = 0;
		return -1;
	}
	fputs(prompt, stderr);
	fflush(stderr);
	n = read_line_fd(STDIN_FILENO, buf, bufsize);
	saved = errno;
	(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
	tty_changed = 0;
	errno = saved;
	return n;
}

/* Explains a failed read_line_fd / prompt_secret result. */
static int secret_read_error(ssize_t n)
{
	if (n == -2)
		log_error("the secret is too long (at most %d bytes); nothing changed",
			  USERDB_SECRET_MAX);
	else if (n == -3)
		log_error("the secret contains a NUL byte; nothing changed");
	else
		log_error("cannot read the secret: %s", strerror(errno));
	return n == -1 ? EXIT_SYSTEM : EXIT_USAGE;
}

/* Gets the new secret for user into buf.  Returns its length (> 0) or a
 * negative exit status. */
static int get_secret(const char *user, char *buf, size_t bufsize)
{
	char again[USERDB_SECRET_MAX + 2];
	char prompt[USERNAME_MAX + 64];
	ssize_t n, m;
	bool same;

	if (!isatty(STDIN_FILENO)) {
		n = read_line_fd(STDIN_FILENO, buf, bufsize);
		if (n < 0)
			return -secret_read_error(n);
	} else {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = restore_tty_and_die;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		sigaction(SIGQUIT, &sa, NULL);
		sigaction(SIGTSTP, &sa, NULL);

		snprintf(prompt, sizeof(prompt), "New secret for %s: ", user);
		n = prompt_secret(prompt, buf, bufsize);
		if (n < 0)
			return -secret_read_error(n);
		if (n > 0) {
			m = prompt_secret("Retype the secret: ", again, sizeof(again));
			if (m < 0) {
				secure_wipe(buf, bufsize);
				return -secret_read_error(m);
			}
			same = ct_equal_str(buf, (size_t)n, again, (size_t)m);
			secure_wipe(again, sizeof(again));
			if (!same) {
				secure_wipe(buf, bufsize);
				log_error("the secrets do not match; nothing changed");
				return -EXIT_USAGE;
			}
		}
	}
	if (n == 0) {
		log_error("empty secret refused; nothing changed");
		return -EXIT_USAGE;
	}
	if (n > USERDB_SECRET_MAX) {
		/* the buffer has room for one more byte, a CR before the LF */
		secure_wipe(buf, bufsize);
		return -secret_read_error(-2);
	}
	return (int)n;
}

/* ---- commands ------------------------------------------------------------ */

static struct userdb *open_db(const char *path, enum userdb_mode mode)
{
	char err[ERR_MAX];
	struct userdb *db = userdb_open(path, mode, err, sizeof(err));

	if (db == NULL) {
		if (errno == ENOENT && mode != USERDB_CREATE)
			log_error("%s (create it with \"%s init\")", err, progname);
		else
			log_error("%s", err);
	}
	return db;
}

static int cmd_init(const char *path)
{
	struct userdb *db;
	struct stat st;

	if (lstat(path, &st) == 0) {
		log_error("%s: already exists; not overwriting it", path);
		return EXIT_SYSTEM;
	}
	if (errno != ENOENT) {
		log_error("%s: %s", path, strerror(errno));
		return EXIT_SYSTEM;
	}
	db = open_db(path, USERDB_CREATE);
	if (db == NULL)
		return EXIT_SYSTEM;
	userdb_close(db);
	printf("%s: created %s\n", progname, path);
	return EXIT_DONE;
}

static int cmd_add(const char *path, const char *user)
{
	char secret[USERDB_SECRET_MAX + 2];
	char old[USERDB_SECRET_MAX + 1];
	struct userdb *db;
	enum userdb_status st;
	size_t oldlen = 0;
	bool existed;
	int n;

	/* Open once before asking, so a missing or damaged database is
	 * reported before anyone types a secret; the write lock is only taken
	 * after the secret is in (it blocks the server's readers). */
	db = open_db(path, USERDB_READ);
	if (db == NULL)
		return EXIT_SYSTEM;
	userdb_close(db);

	n = get_secret(user, secret, sizeof(secret));
	if (n < 0)
		return -n;

	db = open_db(path, USERDB_WRITE);
	if (db == NULL) {
		secure_wipe(secret, sizeof(secret));
		return EXIT_SYSTEM;
	}
	st = userdb_get_secret(db, user, old, sizeof(old), &oldlen);
	secure_wipe(old, sizeof(old));
	existed = st == USERDB_OK;
	if (st == USERDB_ERROR) {
		log_error("%s", userdb_error(db));
		secure_wipe(secret, sizeof(secret));
		userdb_close(db);
		return EXIT_SYSTEM;
	}
	st = userdb_set_secret(db, user, secret, (size_t)n);
	secure_wipe(secret, sizeof(secret));
	if (st != USERDB_OK) {
		log_error("%s", userdb_error(db));
		userdb_close(db);
		return EXIT_SYSTEM;
	}
	userdb_close(db);
	if (existed)
		printf("%s: changed the secret of %s in %s\n", progname, user, path);
	else
		printf("%s: added %s to %s\n", progname, user, path);
	return EXIT_DONE;
}

static int cmd_delete(const char *path, const char *user)
{
	struct userdb *db = open_db(path, USERDB_WRITE);
	enum userdb_status st;

	if (db == NULL)
		return EXIT_SYSTEM;
	st = userdb_delete(db, user);
	if (st == USERDB_ERROR)
		log_error("%s", userdb_error(db));
	userdb_close(db);
	if (st == USERDB_NOTFOUND) {
		log_error("%s: no user %s", path, user);
		return EXIT_NOTFOUND;
	}
	if (st != USERDB_OK)
		return EXIT_SYSTEM;
	printf("%s: deleted %s from %s\n", progname, user, path);
	return EXIT_DONE;
}

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

		if (na > LIST_MAX || (nn = realloc(l->names, na * sizeof(*nn))) == NULL) {
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

static int cmd_list(const char *path)
{
	struct name_list l = { NULL, 0, 0, false };
	struct userdb *db = open_db(path, USERDB_READ);
	enum userdb_status st;
	int rc = EXIT_DONE;
	size_t i;

	if (db == NULL)
		return EXIT_SYSTEM;
	st = userdb_foreach(db, collect_name, &l);
	if (st != USERDB_OK) {
		log_error("%s", userdb_error(db));
		rc = EXIT_SYSTEM;
	} else if (l.failed) {
		log_error("%s: out of memory or too many users", path);
		rc = EXIT_SYSTEM;
	}
	userdb_close(db);
	if (rc == EXIT_DONE) {
		/* Sorted: GDBM's order is a hash order nobody can read.  An
		 * empty database leaves names NULL, which qsort must not get. */
		if (l.count > 0)
			qsort(l.names, l.count, sizeof(*l.names), cmp_names);
		for (i = 0; i < l.count; i++)
			printf("%s\n", l.names[i]);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			log_error("writing the list: %s", strerror(errno));
			rc = EXIT_SYSTEM;
		}
	}
	for (i = 0; i < l.count; i++)
		free(l.names[i]);
	free(l.names);
	return rc;
}

/* Checks the USER argument of add/delete. */
static bool user_arg_ok(const char *user)
{
	if (username_valid(user))
		return true;
	log_error("invalid user name (1 to %d of A-Z a-z 0-9 . _ @ + -, "
		"not starting with '-' or '.', no \"..\")", USERNAME_MAX);
	return false;
}

int main(int argc, char **argv)
{
	const char *path = DEFAULT_DB;
	const char *cmd;
	int c, nargs;

	umask(077);
	log_open("apopdb", LOG_AUTH, LOG_TO_STDERR);
	if (getuid() != geteuid() || getgid() != getegid()) {
		log_error("refusing to run setuid or setgid");
		return EXIT_SYSTEM;
	}

	opterr = 0;
	while ((c = getopt(argc, argv, "+:f:h")) != -1) {
		char opt[3] = { '-', (char)optopt, '\0' };

		switch (c) {
		case 'f':
			if (optarg[0] == '\0')
				return usage_error("-f needs a file name", NULL);
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_DONE;
		case ':':
			return usage_error("missing argument for", opt);
		default:
			return usage_error("unknown option", opt);
		}
	}
	if (optind >= argc)
		return usage_error("no command given", NULL);
	cmd = argv[optind];
	nargs = argc - optind - 1;

	if (strcmp(cmd, "init") == 0 || strcmp(cmd, "list") == 0) {
		if (nargs != 0)
			return usage_error("too many arguments for", cmd);
		return cmd[0] == 'i' ? cmd_init(path) : cmd_list(path);
	}
	if (strcmp(cmd, "add") == 0 || strcmp(cmd, "delete") == 0) {
		if (nargs < 1)
			return usage_error("missing USER for", cmd);
		if (nargs > 1)
			return usage_error(cmd[0] == 'a'
					   ? "too many arguments (the secret is read from "
					     "standard input, never from the command line) for"
					   : "too many arguments for", cmd);
		if (!user_arg_ok(argv[optind + 1]))
			return EXIT_USAGE;
		if (!userdb_available()) {
			log_error("%s: popper was built without GDBM", path);
			return EXIT_SYSTEM;
		}
		return cmd[0] == 'a' ? cmd_add(path, argv[optind + 1])
				     : cmd_delete(path, argv[optind + 1]);
	}
	return usage_error("unknown command", cmd);
}
