/*
 * main: popper's entry point.
 *
 * This file runs as root.  It makes sure descriptors 0-2 exist, reads the
 * configuration and the switches (in order, so a later switch overrides an
 * earlier -f, as in Qpopper), and then either
 *   - serves one connection on stdin/stdout (inetd mode: the default), or
 *   - becomes the standalone daemon when the first argument is an address
 *     or port ("popper 110", "popper 192.0.2.1:110", "popper [::1]:1110"),
 *   - or, with -n, prints the effective settings and exits.
 * In inetd mode each connection first sweeps the lock registry
 * (server/lockreg.c): the dot-locks of sessions killed together with their
 * monitor are removed before the greeting.
 *
 * Where root runs.  popper starts as root; these are the files whose code
 * runs with root's privileges, and no others (keep this list true):
 *   server/main.c, server/options.c      start-up (this process)
 *   server/daemon.c                      the standalone listener, and each
 *                                        connection's child until the login
 *   the engine before login              server/session.c and the files that
 *                                        serve AUTHORIZATION; all of auth/
 *   server/spoolpath.c                   the login, before the drop
 *   server/privdrop.c                    the login: the drop itself
 *   server/monitor.c (its monitor half), server/lockdir.c,
 *   server/lockreg.c,
 *   server/maildrop/dotlock.c            the monitor; lockreg's sweeps (and
 *                                        lockdir) also in this process and
 *                                        the listener
 *   lib/ (all of it)                     used by all of the above
 * After the login fork the session runs as the user: server/maildrop/
 * (but dot-locks made for it by the monitor) and the TRANSACTION commands
 * never run as root.
 *
 * In inetd mode descriptors 0 and 1 (often 2 too) are the client's socket,
 * so nothing is ever written to stderr there: start-up errors go to syslog
 * (and to stderr only when it is a terminal, i.e. a person ran it by hand).
 * In standalone and -n mode they go to stderr.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"
#include "lib/log.h"
#include "lib/tls.h"
#include "server/daemon.h"
#include "server/sandbox.h"
#include "server/lockreg.h"
#include "server/settings.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG_FILE SYSCONFDIR "/popper/popper.conf"

/* Exit status for configuration and usage errors (popper.8 EXIT STATUS). */
#define EXIT_CONFIG 2
/* Highest descriptor closed one by one at start where close_range() is
 * missing: far above what a shell or inetd leaves open. */
#define STARTUP_FD_SCAN_MAX 65536

/* Qpopper 4.1's switches plus -n.  The leading '+' stops at the first
 * non-switch (POSIX order); ':' reports a missing argument as ':'. */
#define OPTSTRING "+:b:BcCdD:e:f:FkK:l:L:np:RsSt:T:uUvVxy:"

#define USAGE "usage: popper [address][:port] [-cCdFknRsSuUvV] [-e login_delay=N,expire=N] " \
	"[-f file] [-K service] [-l 0-2] [-L n] [-p 0-4] [-t file] [-T seconds] [-y facility]"

/* The optional libraries compiled in, for the second line of -v: a
 * packager can see what a binary offers, and the test suite reads it to
 * know which tests it can run (tests/lib/popfixture.py). */
static const char built_with[] = ""
#ifdef HAVE_PAM
	" pam"
#endif
#ifdef HAVE_GDBM
	" gdbm"
#endif
#ifdef HAVE_OPENSSL
	" openssl"
#endif
#ifdef HAVE_SASL
	" sasl"
#endif
#ifdef HAVE_KRB5
	" krb5"
#endif
#ifdef HAVE_SECCOMP
	" seccomp"
#endif
	;

/* Where start-up errors go: stderr, or syslog (inetd mode). */
static bool errors_to_stderr;

static void startup_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void startup_error(const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s", msg);
	/* inetd mode run by hand from a terminal: stderr is a tty, never the
	 * client's socket, so saying it there too is safe and helpful. */
	if (!errors_to_stderr && isatty(STDERR_FILENO))
		fprintf(stderr, "popper: %s\n", msg);
}

/* Descriptors 0-2 must exist, or the first file we open would become
 * "stdout" and receive whatever is written there.  Nothing above them is
 * ours: whatever the caller left open (a root-only file held by the shell
 * that started the daemon) must never reach a user's session, so it is
 * closed before anything else happens. */
static void ensure_std_fds(void)
{
	int fd;

	if (close_range(3, ~0U, 0) < 0) {
		/* Older kernels: close them one by one, up to our limit. */
		long max = sysconf(_SC_OPEN_MAX);

		if (max < 0 || max > STARTUP_FD_SCAN_MAX)
			max = STARTUP_FD_SCAN_MAX;
		for (fd = 3; fd < max; fd++)
			close(fd);
	}

	for (fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
			int n = open("/dev/null", O_RDWR);

			if (n < 0)
				_exit(EXIT_CONFIG);
			if (n != fd) {
				/* open() takes the lowest free number, so this
				 * only happens if fd was filled meanwhile. */
				close(n);
			}
		}
	}
}

/* The switches Qpopper had whose feature is not built yet. */
static const char *not_built_switch(int opt)
{
	switch (opt) {
	case 'b': return "bulletins are";
	case 'B': return "bulletins are";
	case 'x': return "XTND XMIT is";
	case 'D': return "DRAC support is";
	default: return NULL;
	}
}

/* -e login_delay=N,expire=N (either, in any order). */
static const char *apply_announce(struct settings *s, const char *arg)
{
	static char msg[256];
	char buf[256], *save = NULL, *item;

	if (strlen(arg) >= sizeof(buf))
		return "-e: argument is too long";
	memcpy(buf, arg, strlen(arg) + 1);
	for (item = strtok_r(buf, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		const char *name, *err;

		if (eq == NULL)
			return "-e: expected login_delay=N,expire=N";
		*eq = '\0';
		if (strcmp(item, "login_delay") == 0)
			name = "announce-login-delay";
		else if (strcmp(item, "expire") == 0)
			name = "announce-expire";
		else
			return "-e: expected login_delay=N,expire=N";
		err = settings_apply(s, name, eq + 1, false);
		if (err != NULL) {
			snprintf(msg, sizeof(msg), "-e: %s", err);
			return msg;
		}
	}
	return NULL;
}

/* Applies one switch.  Returns NULL or the error text. */
static const char *apply_switch(struct settings *s, int opt, const char *arg)
{
	static char msg[4096];
	const char *err = NULL, *what;

	if ((what = not_built_switch(opt)) != NULL) {
		snprintf(msg, sizeof(msg), "-%c: %s not built yet", opt, what);
		return msg;
	}
	switch (opt) {
	case 'c': err = settings_apply(s, "downcase-user", NULL, false); break;
	case 'C': err = settings_apply(s, "trim-domain", NULL, false); break;
	case 'd': err = settings_apply(s, "debug", NULL, false); break;
	case 'e': return apply_announce(s, arg);
	case 'f':
		if (settings_load_file(s, arg, msg, sizeof(msg)) < 0)
			return msg;
		return NULL;
	case 'F': err = settings_apply(s, "fast-update", NULL, false); break;
	case 'k': err = settings_apply(s, "kerberos", NULL, false); break;
	case 'K': err = settings_apply(s, "kerberos-service", arg, false); break;
	case 'L': err = settings_apply(s, "mail-lock-check", arg, false); break;
	case 'l': {
		static const char *const modes[] = { "none", "stls", "alternate-port" };

		if (arg[0] < '0' || arg[0] > '2' || arg[1] != '\0')
			return "-l: expected 0 (no TLS), 1 (STLS) or 2 (TLS on connect: alternate port)";
		err = settings_apply(s, "tls-support", modes[arg[0] - '0'], false);
		break;
	}
	case 'n': return NULL;   /* seen in the first pass */
	case 'p': {
		static const char *const policies[] = { "default", "never", "always", "local", "tls" };

		if (arg[0] < '0' || arg[0] > '4' || arg[1] != '\0')
			return "-p: expected 0 (default), 1 (never), 2 (always), 3 (local) or 4 (tls)";
		err = settings_apply(s, "clear-text-password", policies[arg[0] - '0'], false);
		break;
	}
	case 'R': err = settings_apply(s, "reverse-lookup", "false", false); break;
	case 's': err = settings_apply(s, "statistics", NULL, false); break;
	case 'S': err = settings_apply(s, "server-mode", NULL, false); break;
	case 't': err = settings_apply(s, "tracefile", arg, false); break;
	case 'T': err = settings_apply(s, "timeout", arg, false); break;
	case 'u': err = settings_apply(s, "user-options", NULL, false); break;
	case 'U': err = settings_apply(s, "spool-options", NULL, false); break;
	case 'y': err = settings_apply(s, "log-facility", arg, false); break;
	case 'v':
	case 'V':
		return NULL;   /* handled in the first pass */
	default:
		return "unknown switch";
	}
	if (err != NULL) {
		snprintf(msg, sizeof(msg), "-%c: %s", opt, err);
		return msg;
	}
	return NULL;
}

/* Checks that need the system, once, where someone can read the answer
 * (popper -n and the standalone daemon's start). */
static const char *check_system(const struct settings *s)
{
	static char msg[256];
	char home[1024];
	uid_t uid;
	gid_t gid;

	if (s->mail_owner != NULL) {
		if (auth_lookup_account(s->mail_owner, &uid, &gid, home, sizeof(home)) < 0) {
			snprintf(msg, sizeof(msg), "mail-owner \"%s\" is not a known account", s->mail_owner);
			return msg;
		}
		if (uid == 0)
			return "mail-owner must not be root";
	}
	return NULL;
}

/* The TLS context, built once, as root, before any client is served, from
 * the tls-* options (lib/tls.c checks the files).  Returns NULL, or the
 * message that must stop popper. */
static const char *setup_tls(struct settings *s)
{
	static char msg[1024];
	struct tls_server_config cfg;

	if (s->tls_support == TLS_SUPPORT_NONE) {
		if (s->cleartext == CLEARTEXT_TLS)
			log_warning("clear-text-password tls without tls-support: "
				    "USER/PASS can never be used");
		return NULL;
	}
	if (s->tls_cert_file == NULL) {
		snprintf(msg, sizeof(msg), "tls-support %s needs tls-server-cert-file",
			 s->tls_support == TLS_SUPPORT_STLS ? "stls" : "alternate-port");
		return msg;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.cert_file = s->tls_cert_file;
	cfg.key_file = s->tls_key_file;
	cfg.cipher_list = s->tls_cipher_list;
	cfg.version = s->tls_version;
	s->tls = tls_server_create(&cfg, msg, sizeof(msg));
	return s->tls == NULL ? msg : NULL;
}

static void free_settings(struct settings *s)
{
	tls_server_destroy(s->tls);
	s->tls = NULL;
	settings_free(s);
}

static int serve_inetd(const struct settings *s)
{
	signal(SIGPIPE, SIG_IGN);
	/* No process outlives a connection in inetd mode, so each new one
	 * cleans up the dot-locks of sessions killed with their monitor
	 * (server/lockreg.c); cheap when there are none. */
	lockreg_sweep_state_dir(s->state_dir, NULL);
	/* No table of failures per address: nothing here outlives the
	 * connection (popper(8), FAILED LOGINS: fail2ban). */
	return daemon_serve_connection(s, STDIN_FILENO, STDOUT_FILENO, NULL);
}

/* What the command line asks for, seen in the first pass. */
struct cmdline {
	const char *addrspec;   /* standalone mode's address, or NULL (inetd mode) */
	int first;              /* argv index of the first switch */
	bool check_only;        /* -n */
	bool version;           /* -v / -V */
	bool have_f;            /* -f: the default configuration file is not read */
};

/* Pass 1: which mode, and is every switch known?  Nothing is applied yet,
 * so an error can still be reported to the right place.  Returns NULL or
 * the error text (in msg). */
static const char *scan_switches(int argc, char **argv, struct cmdline *cl,
				 char *msg, size_t msgsize)
{
	const char *err = NULL;
	int opt;

	/* argv[1] that is not a switch is the address of standalone mode. */
	cl->first = 1;
	if (argc > 1 && argv[1][0] != '-') {
		cl->addrspec = argv[1];
		cl->first = 2;
	}
	opterr = 0;
	optind = cl->first;
	while ((opt = getopt(argc, argv, OPTSTRING)) != -1) {
		if (opt == 'n')
			cl->check_only = true;
		else if (opt == 'v' || opt == 'V')
			cl->version = true;
		else if (opt == 'f')
			cl->have_f = true;
		else if (opt == '?' && err == NULL) {
			snprintf(msg, msgsize, "unknown switch -%c; %s", optopt, USAGE);
			err = msg;
		} else if (opt == ':' && err == NULL) {
			snprintf(msg, msgsize, "switch -%c needs an argument; %s", optopt, USAGE);
			err = msg;
		}
	}
	if (err == NULL && optind < argc) {
		snprintf(msg, msgsize, "unexpected argument \"%.100s\"; %s", argv[optind], USAGE);
		err = msg;
	}
	return err;
}

/* The defaults, the default file (only when no -f names another, and only
 * if it exists: it is the base the switches modify), then pass 2: the
 * switches in order, and the system checks where someone reads them.
 * Returns 0, or EXIT_CONFIG after reporting why (set is then freed). */
static int load_settings(struct settings *set, int argc, char **argv, const struct cmdline *cl)
{
	char msg[4096];
	const char *err;
	struct stat st;
	int opt;

	settings_init(set);
	if (!cl->have_f && stat(DEFAULT_CONFIG_FILE, &st) == 0 &&
	    settings_load_file(set, DEFAULT_CONFIG_FILE, msg, sizeof(msg)) < 0) {
		startup_error("%s", msg);
		settings_free(set);
		return EXIT_CONFIG;
	}
	optind = cl->first;
	while ((opt = getopt(argc, argv, OPTSTRING)) != -1) {
		err = apply_switch(set, opt, optarg);
		if (err != NULL) {
			startup_error("%s", err);
			settings_free(set);
			return EXIT_CONFIG;
		}
	}
	if (cl->check_only || cl->addrspec != NULL) {
		err = check_system(set);
		if (err != NULL) {
			startup_error("%s", err);
			settings_free(set);
			return EXIT_CONFIG;
		}
	}
	return 0;
}

/* popper -n: checks the certificate and key too, prints the effective
 * settings.  Returns the exit status; set is freed. */
static int print_settings(struct settings *set)
{
	const char *err = setup_tls(set);

	if (err != NULL) {
		startup_error("%s", err);
		free_settings(set);
		return EXIT_CONFIG;
	}
	settings_print(set, stdout);
	fflush(stdout);
	free_settings(set);
	return ferror(stdout) ? EXIT_CONFIG : 0;
}

/* Logging as configured, then the TLS context.  Returns 0, or EXIT_CONFIG
 * after reporting why (set is then freed). */
static int prepare_to_serve(struct settings *set)
{
	char msg[1024];
	const char *err;

	if (!errors_to_stderr)
		log_open("popper", set->log_facility, LOG_TO_SYSLOG);
	log_set_debug(set->debug);
	if (set->tracefile != NULL && log_set_tracefile(set->tracefile) < 0) {
		startup_error("cannot open trace file %s: %s", set->tracefile, strerror(errno));
		settings_free(set);
		return EXIT_CONFIG;
	}
	err = setup_tls(set);
	if (err != NULL) {
		startup_error("%s", err);
		free_settings(set);
		return EXIT_CONFIG;
	}
	/* The pre-auth account and its empty directory: a bad setting stops
	 * popper here, before any client connects. */
	if (sandbox_prepare(set, msg, sizeof(msg)) != 0) {
		startup_error("%s", msg);
		free_settings(set);
		return EXIT_CONFIG;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static char *fake_argv[] = { "popper", NULL };
	struct cmdline cl = { NULL, 1, false, false, false };
	struct settings set;
	const char *err;
	char msg[4096];
	int rc;

	ensure_std_fds();
	/* Files popper creates (state, journals, pid file) are private unless
	 * a caller widens them on purpose (CVE-2005-1152 was the opposite). */
	umask(077);
	if (argc < 1 || argv[0] == NULL) {
		argc = 1;
		argv = fake_argv;
	}

	err = scan_switches(argc, argv, &cl, msg, sizeof(msg));
	errors_to_stderr = cl.check_only || cl.addrspec != NULL;
	log_open("popper", LOG_MAIL, errors_to_stderr ? LOG_TO_STDERR : LOG_TO_SYSLOG);
	if (err != NULL) {
		startup_error("%s", err);
		return EXIT_CONFIG;
	}
	if (cl.version) {
		printf("popper version %s\n", PACKAGE_VERSION);
		printf("built with:%s\n", built_with[0] != '\0' ? built_with : " none");
		return 0;
	}

	rc = load_settings(&set, argc, argv, &cl);
	if (rc != 0)
		return rc;
	if (cl.check_only)
		return print_settings(&set);
	rc = prepare_to_serve(&set);
	if (rc != 0)
		return rc;

	if (cl.addrspec != NULL)
		rc = daemon_run(&set, cl.addrspec);
	else
		rc = serve_inetd(&set);
	free_settings(&set);
	return rc;
}
