/*
 * options: the one table of popper's run-time options, and the code that
 * applies configuration files, switches and per-user option files to
 * struct settings (server/settings.h).
 *
 * Every name Qpopper 4.x knew has a row, so an old qpopper.conf either works
 * or fails with a message that says exactly why: a row is "implemented", or
 * "accepted, no effect" (with the reason, logged as a warning), or "not built
 * yet" (with the feature it needs).  An unknown name is an error, never a
 * silent no-op.  The grammar itself (set/reset, quoting, comments) is
 * lib/confparse.c's business; this file gives the words their meaning.
 *
 * Each row also has a restriction class that decides where it may be set.
 * Qpopper's own classes were leaky (CVE-2005-1151: the user's file could
 * name a trace file that root then opened), so ours are an allow-list:
 *   OC_ANY    also in ~/.qpopper-options, the file the user controls;
 *   OC_ADMIN  in the administrator's files only (popper.conf, switches, and
 *             <spool-dir>/.<user>.qpopper-options);
 *   OC_START  only at start-up: everything about logging, authentication,
 *             where maildrops live (the privileged monitor fixes the lock
 *             path before the option files are read) and the daemon.
 *
 * Runs as root at start-up (switches, popper.conf), and as the user in a
 * session after the drop (settings_load_user_options).  Stands on lib/.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "lib/confparse.h"
#include "lib/log.h"
#include "lib/safeopen.h"
#include "lib/tls.h"
#include "lib/username.h"
#include "server/settings.h"

#ifndef DEFAULT_SPOOL_DIR
#define DEFAULT_SPOOL_DIR "/var/mail"
#endif
#ifndef DEFAULT_PAM_SERVICE
#define DEFAULT_PAM_SERVICE "popper"
#endif
#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif
#ifdef AUTH_DB_PATH
#define DEFAULT_AUTH_DB AUTH_DB_PATH   /* configure --with-auth-db */
#else
#define DEFAULT_AUTH_DB SYSCONFDIR "/popper/auth/pop.auth"
#endif
#ifndef DEFAULT_AUTH_DB_OWNER
#define DEFAULT_AUTH_DB_OWNER "pop"    /* configure --with-apop-owner */
#endif
#define DEFAULT_VIRTUAL_SPOOL_DIR LOCALSTATEDIR "/spool/popper"
#define DEFAULT_STATE_DIR LOCALSTATEDIR "/lib/popper"

/* Longest string value.  Qpopper allowed 255; paths get more room, but a
 * path plus a user name must still stay far below PATH_MAX, and a bounded
 * value is what stopped the 4.0.3 bulldir overflow class (robustness C2). */
#define SETTINGS_MAX_STRING 1023
/* A per-user option file is a few lines; anything larger is refused. */
#define OPTION_FILE_MAX (64 * 1024)
/* Room for one error message (a nested include adds "FILE:LINE: " each). */
#define OPTION_MSG_MAX 2048

enum opt_type {
	OT_BOOL,       /* bool field */
	OT_UINT,       /* unsigned field, min..max */
	OT_ULONG,      /* unsigned long field, min..max */
	OT_ANNOUNCE,   /* long field, -1 = not set (announce-*) */
	OT_STRING,     /* char * field, checked by kind */
	OT_FACILITY,   /* int field: syslog facility by name */
	OT_CLEARTEXT,  /* enum cleartext_policy by name */
	OT_TLS_SUPPORT, /* enum tls_support by name */
	OT_MNEMONIC,   /* a word from a list (no field: no-effect rows) */
	OT_INCLUDE     /* config-file: reads another file */
};

enum opt_status {
	OS_IMPLEMENTED,
	OS_NO_EFFECT,  /* accepted and checked, warning logged, nothing changes */
	OS_NOT_BUILT,  /* refused: the feature it belongs to is not built yet */
	OS_UNSUPPORTED /* refused for good: another product's option (why says what to use) */
};

/* Where an option may be set; also the level of the file being read (an
 * option is accepted when its class is at most the file's level). */
enum opt_class { OC_ANY, OC_ADMIN, OC_START };

enum str_kind {
	SK_PATH,       /* absolute path, required */
	SK_OPT_PATH,   /* absolute path, or "" = not set */
	SK_HOME_NAME,  /* relative name below the home directory, "" = not set */
	SK_ACCOUNT,    /* a system account name, "" = not set */
	SK_SERVICE,    /* PAM service name, "" = PAM off */
	SK_TEMPLATE,   /* log-login: %0..%3 and %%, "" = not set */
	SK_TEMP_DIR,   /* absolute path with at most one %s, "" = not set */
	SK_TEMP_NAME,  /* one file name with exactly one %s */
	SK_GROUP,      /* a group name, "" = not set */
	SK_TLS_VERSION, /* a tls-version mnemonic (lib/tls.c), "" = not set */
	SK_TEXT,       /* any printable text (a cipher list), "" = not set */
	SK_WORD,       /* a non-empty word of letters, digits, '.', '_', '-' (kerberos-service) */
	SK_MECHLIST,   /* SASL mechanism names, blanks or commas between; "" = none */
	SK_NAMELIST    /* user names, blanks or commas between; "" = not set */
};

struct option {
	const char *name;
	enum opt_type type;
	enum opt_class cls;
	enum opt_status status;
	size_t offset;              /* field in struct settings (implemented rows) */
	unsigned long min, max;     /* numbers */
	enum str_kind kind;         /* strings */
	const char *const *words;   /* OT_MNEMONIC */
	const char *why;            /* no effect: the reason; not built: the feature */
	bool false_ok;              /* not built, but "false" is what we do anyway */
	bool needs_tls;             /* refused in a build without OpenSSL */
};

#define FIELD(f) offsetof(struct settings, f)
#define BOOLOPT(n, f, c) { .name = n, .type = OT_BOOL, .cls = c, .offset = FIELD(f) }
#define UINTOPT(n, f, c, lo, hi) \
	{ .name = n, .type = OT_UINT, .cls = c, .offset = FIELD(f), .min = lo, .max = hi }
#define ULONGOPT(n, f, c, lo, hi) \
	{ .name = n, .type = OT_ULONG, .cls = c, .offset = FIELD(f), .min = lo, .max = hi }
#define ANNOUNCEOPT(n, f, c) \
	{ .name = n, .type = OT_ANNOUNCE, .cls = c, .offset = FIELD(f), .min = 0, .max = INT_MAX }
#define STROPT(n, f, c, k) { .name = n, .type = OT_STRING, .cls = c, .offset = FIELD(f), .kind = k }
#define NOEFFECT(n, t, c, hi, w, reason) \
	{ .name = n, .type = t, .cls = c, .status = OS_NO_EFFECT, .max = hi, .words = w, .why = reason }
#define NOTBUILT(n, t, c, feature) \
	{ .name = n, .type = t, .cls = c, .status = OS_NOT_BUILT, .why = feature }

static const char *const chunky_words[] = { "default", "always", "never", "tls", "ssl", NULL };

/* Features that are not built yet (one phrase each, used in messages). */
#define NB_BULLETINS "bulletins"
#define NB_OLDSPOOL "merging a temporary drop from the unhashed spool location"
#define NB_CACHE "the Qpopper cache file (popper keeps its state in state-dir)"
#define NB_KERBEROS "Kerberos support"
#define NB_SASL "SASL support"
#define NB_DRAC "DRAC (POP-before-SMTP) support"
#define NB_XMIT "XTND XMIT"
#define NB_UWKLUGE "hiding of the UW IMAP pseudo-message"
#define NB_OLDUID "old-style (pre-3.x) UIDs"
#define NB_STATUSHDR "rewriting Status:/X-UIDL: headers at update"

/*
 * THE table.  Qpopper's 60 names plus the UW-kludge alias plus xtnd-xmit
 * (the -x switch), then popper's own options.  man/popper.conf.5 documents
 * every row; keep the two in step.
 */
static const struct option options[] = {
	/* logging */
	{ .name = "log-facility", .type = OT_FACILITY, .cls = OC_START, .offset = FIELD(log_facility) },
	BOOLOPT("debug", debug, OC_START),
	STROPT("tracefile", tracefile, OC_START, SK_OPT_PATH),
	BOOLOPT("statistics", statistics, OC_ADMIN),
	BOOLOPT("timing", timing, OC_ADMIN),
	STROPT("log-login", log_login, OC_START, SK_TEMPLATE),

	/* session */
	UINTOPT("timeout", timeout, OC_ADMIN, 1, 86400),
	BOOLOPT("shy", shy, OC_START),
	BOOLOPT("reverse-lookup", reverse_lookup, OC_START),
	BOOLOPT("update-on-abort", update_on_abort, OC_ANY),
	BOOLOPT("auto-delete", auto_delete, OC_ADMIN),
	ANNOUNCEOPT("announce-login-delay", announce_login_delay, OC_ANY),
	ANNOUNCEOPT("announce-expire", announce_expire, OC_ANY),

	/* user names */
	BOOLOPT("downcase-user", downcase_user, OC_START),
	BOOLOPT("trim-domain", trim_domain, OC_START),

	/* authentication */
	{ .name = "clear-text-password", .type = OT_CLEARTEXT, .cls = OC_START, .offset = FIELD(cleartext) },
	STROPT("pam-service", pam_service, OC_START, SK_SERVICE),
	STROPT("auth-db", auth_db, OC_START, SK_OPT_PATH),
	STROPT("auth-db-owner", auth_db_owner, OC_START, SK_ACCOUNT),
	STROPT("mail-owner", mail_owner, OC_START, SK_ACCOUNT),
	STROPT("nonauth-file", nonauth_file, OC_START, SK_OPT_PATH),
	STROPT("auth-file", auth_file, OC_START, SK_OPT_PATH),
	ULONGOPT("min-uid", min_uid, OC_START, 0, 4294967294UL),
	BOOLOPT("check-shell", check_shell, OC_START),
	UINTOPT("max-auth-failures", max_auth_failures, OC_START, 1, 100),
	UINTOPT("auth-failure-delay", auth_failure_delay, OC_START, 0, 60),
	UINTOPT("auth-failure-penalty", auth_failure_penalty, OC_START, 0, 60),
	BOOLOPT("apop", apop, OC_START),
	BOOLOPT("check-password-expired", check_password_expired, OC_START),

	/* maildrop location: fixed before the per-user files are read */
	STROPT("spool-dir", spool_dir, OC_START, SK_PATH),
	UINTOPT("hash-spool", hash_spool, OC_START, 0, 2),
	STROPT("home-dir-mail", home_dir_mail, OC_START, SK_HOME_NAME),
	STROPT("virtual-spool-dir", virtual_spool_dir, OC_START, SK_PATH),
	STROPT("state-dir", state_dir, OC_START, SK_PATH),
	/* the pre-auth process: checked by server/sandbox.c at start */
	STROPT("preauth-user", preauth_user, OC_START, SK_TEXT),
	STROPT("preauth-chroot", preauth_chroot, OC_START, SK_OPT_PATH),
	BOOLOPT("seccomp", seccomp, OC_START),
	BOOLOPT("server-mode", server_mode, OC_START),
	UINTOPT("lock-wait", lock_wait, OC_START, 0, 3600),
	BOOLOPT("trust-x-uidl", trust_x_uidl, OC_ADMIN),

	/* temp-drop mode */
	STROPT("temp-dir", temp_dir, OC_ADMIN, SK_TEMP_DIR),
	STROPT("temp-name", temp_name, OC_ADMIN, SK_TEMP_NAME),
	BOOLOPT("keep-temp-drop", keep_temp_drop, OC_ADMIN),
	STROPT("group-server-mode", group_server_mode, OC_ADMIN, SK_GROUP),
	STROPT("group-no-server-mode", group_no_server_mode, OC_ADMIN, SK_GROUP),

	/* per-user option files */
	BOOLOPT("user-options", user_options, OC_START),
	BOOLOPT("spool-options", spool_options, OC_START),

	/* standalone daemon */
	UINTOPT("max-sessions", max_sessions, OC_START, 1, 10000),
	UINTOPT("max-sessions-per-host", max_sessions_per_host, OC_START, 1, 10000),
	BOOLOPT("detach", detach, OC_START),
	STROPT("pid-file", pid_file, OC_START, SK_OPT_PATH),

	/* TLS (lib/tls.c): read once at start-up, where the context is built */
	{ .name = "tls-support", .type = OT_TLS_SUPPORT, .cls = OC_START,
	  .offset = FIELD(tls_support), .needs_tls = true },
	{ .name = "tls-server-cert-file", .type = OT_STRING, .cls = OC_START,
	  .offset = FIELD(tls_cert_file), .kind = SK_OPT_PATH, .needs_tls = true },
	{ .name = "tls-private-key-file", .type = OT_STRING, .cls = OC_START,
	  .offset = FIELD(tls_key_file), .kind = SK_OPT_PATH, .needs_tls = true },
	{ .name = "tls-cipher-list", .type = OT_STRING, .cls = OC_START,
	  .offset = FIELD(tls_cipher_list), .kind = SK_TEXT, .needs_tls = true },
	{ .name = "tls-version", .type = OT_STRING, .cls = OC_START,
	  .offset = FIELD(tls_version), .kind = SK_TLS_VERSION, .needs_tls = true },
	{ .name = "tls-options", .type = OT_ULONG, .cls = OC_START, .status = OS_NO_EFFECT,
	  .max = 4294967295UL, .needs_tls = true,
	  .why = "popper sets the OpenSSL options itself (TLS 1.2 at least, no renegotiation, "
		 "no compression); raw option bits are not applied" },
	{ .name = "tls-workarounds", .type = OT_BOOL, .cls = OC_START, .status = OS_NO_EFFECT,
	  .needs_tls = true,
	  .why = "the bug workarounds (SSL_OP_ALL) were for SSL 3.0 and TLS 1.0 peers, "
		 "which popper does not accept" },
	{ .name = "tls-identity-file", .type = OT_STRING, .cls = OC_START, .status = OS_UNSUPPORTED,
	  .why = "it belongs to Certicom SSL Plus; popper uses OpenSSL: set tls-server-cert-file "
		 "and tls-private-key-file" },
	{ .name = "tls-passphrase", .type = OT_STRING, .cls = OC_START, .status = OS_UNSUPPORTED,
	  .why = "it belongs to Certicom SSL Plus; popper uses OpenSSL and needs an unencrypted "
		 "key in a file only root can read (tls-private-key-file)" },

#ifdef HAVE_SASL
	/* SASL (AUTH, auth/sasl.c) */
	STROPT("sasl-mechanisms", sasl_mechanisms, OC_START, SK_MECHLIST),
	STROPT("sasl-proxy-users", sasl_proxy_users, OC_START, SK_NAMELIST),
#endif
#ifdef HAVE_KRB5
	/* Kerberos (auth/kpop.c): KPOP at connection start, GSSAPI's keytab */
	BOOLOPT("kerberos", kerberos, OC_START),
	STROPT("kerberos-service", kerberos_service, OC_START, SK_WORD),
	STROPT("kerberos-keytab", kerberos_keytab, OC_START, SK_OPT_PATH),
#endif

	/* includes */
	{ .name = "config-file", .type = OT_INCLUDE, .cls = OC_START },

	/* accepted for compatibility, no effect */
	NOEFFECT("chunky-writes", OT_MNEMONIC, OC_ANY, 0, chunky_words,
		 "replies are always collected into large writes"),
	NOEFFECT("no-atomic-open", OT_BOOL, OC_ADMIN, 0, NULL,
		 "dot-locks are always made with the NFS-safe link() method"),
	NOEFFECT("mail-lock-check", OT_ULONG, OC_ANY, 1000000000UL, NULL,
		 "the privileged monitor refreshes the dot-lock every 60 seconds"),
	NOEFFECT("fast-update", OT_BOOL, OC_ANY, 0, NULL,
		 "server mode updates the spool in place; there is no temporary drop to rename"),
	NOEFFECT("check-hash-dir", OT_BOOL, OC_ANY, 0, NULL,
		 "spool directories belong to the delivery agent; a missing one is an empty maildrop"),

	/* Qpopper names whose feature is not built yet */
	NOTBUILT("bulldir", OT_STRING, OC_ANY, NB_BULLETINS),
	NOTBUILT("bulldb-max-tries", OT_UINT, OC_ANY, NB_BULLETINS),
	NOTBUILT("bulldb-nonfatal", OT_BOOL, OC_ANY, NB_BULLETINS),
	NOTBUILT("group-bulletins", OT_BOOL, OC_ADMIN, NB_BULLETINS),
	NOTBUILT("max-bulletins", OT_UINT, OC_ANY, NB_BULLETINS),
	NOTBUILT("cache-dir", OT_STRING, OC_ADMIN, NB_CACHE),
	NOTBUILT("cache-name", OT_STRING, OC_ADMIN, NB_CACHE),
	NOTBUILT("check-old-spool-loc", OT_BOOL, OC_ANY, NB_OLDSPOOL),
#ifndef HAVE_KRB5
	NOTBUILT("kerberos", OT_BOOL, OC_START, NB_KERBEROS),
	NOTBUILT("kerberos-service", OT_STRING, OC_START, NB_KERBEROS),
	NOTBUILT("kerberos-keytab", OT_STRING, OC_START, NB_KERBEROS),
#endif
#ifndef HAVE_SASL
	NOTBUILT("sasl-mechanisms", OT_STRING, OC_START, NB_SASL),
	NOTBUILT("sasl-proxy-users", OT_STRING, OC_START, NB_SASL),
#endif
	NOTBUILT("drac-host", OT_STRING, OC_START, NB_DRAC),
	NOTBUILT("mail-command", OT_STRING, OC_START, NB_XMIT),
	NOTBUILT("xtnd-xmit", OT_BOOL, OC_START, NB_XMIT),
	NOTBUILT("UW-kluge", OT_BOOL, OC_ADMIN, NB_UWKLUGE),
	NOTBUILT("UW-kludge", OT_BOOL, OC_ADMIN, NB_UWKLUGE),   /* Qpopper's alias */
	NOTBUILT("old-style-uid", OT_BOOL, OC_START, NB_OLDUID),
	{ .name = "update-status-headers", .type = OT_BOOL, .cls = OC_ADMIN,
	  .status = OS_NOT_BUILT, .why = NB_STATUSHDR, .false_ok = true },
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

struct load_ctx {
	struct settings *s;
	enum opt_class level;       /* most restricted class this file may set */
	char msg[OPTION_MSG_MAX];   /* the error text handed back to confparse */
	char inner[OPTION_MSG_MAX]; /* the first error inside an included file */
};

static const char *ctx_fail(struct load_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static const char *ctx_fail(struct load_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	return c->msg;
}

static const struct option *option_find(const char *name)
{
	size_t i;

	for (i = 0; i < N_OPTIONS; i++) {
		if (strcasecmp(options[i].name, name) == 0)
			return &options[i];
	}
	return NULL;
}

/* Printable ASCII only: a value ends up in paths, in log lines and in
 * messages, and has no business carrying control characters. */
static bool printable(const char *v)
{
	for (; *v != '\0'; v++) {
		if ((unsigned char)*v < 0x20 || (unsigned char)*v > 0x7e)
			return false;
	}
	return true;
}

static bool has_dotdot_component(const char *v)
{
	const char *p = v;

	while (*p != '\0') {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return true;
		p += n;
		while (*p == '/')
			p++;
	}
	return false;
}

/* Number of "%s" in v; *other_r: number of other '%' uses. */
static size_t count_percent(const char *v, size_t *other_r)
{
	size_t n = 0;

	*other_r = 0;
	for (; *v != '\0'; v++) {
		if (*v != '%')
			continue;
		if (v[1] == 's') {
			n++;
			v++;
		} else {
			(*other_r)++;
		}
	}
	return n;
}

/* Whether the n bytes at v are letters, digits, '-', '_' (and '.' when
 * dot_ok): SASL mechanism names (RFC 4422 section 3.1, no '.'), PAM
 * service names and the Kerberos service (with '.'). */
static bool name_chars(const char *v, size_t n, bool dot_ok)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char ch = v[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || (dot_ok && ch == '.')))
			return false;
	}
	return true;
}

/* log-login: the engine substitutes %0..%3 itself (never printf); any
 * other '%' is almost certainly a mistake worth reporting. */
static bool template_ok(const char *v)
{
	size_t i;

	for (i = 0; v[i] != '\0'; i++) {
		if (v[i] != '%')
			continue;
		if (v[i + 1] == '%' || (v[i + 1] >= '0' && v[i + 1] <= '3'))
			i++;
		else
			return false;
	}
	return true;
}

/* Checks a list of SASL mechanism names (RFC 4422 section 3.1: 1 to 20 of
 * A-Z, 0-9, '-', '_'; any case) or of user names.  ANONYMOUS would let
 * anyone in without a credential and is refused. */
static const char *check_list(enum str_kind kind, const char *v)
{
	const char *p = v;

	while (*p != '\0') {
		char word[USERNAME_MAX + 1];
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n == 0)
			break;
		if (kind == SK_MECHLIST) {
			if (n > 20)
				return "a SASL mechanism name has at most 20 characters";
			if (!name_chars(p, n, false))
				return "a SASL mechanism name is letters, digits, '-' and '_'";
			if (n == 9 && strncasecmp(p, "ANONYMOUS", 9) == 0)
				return "ANONYMOUS would log in without a credential; it is never offered";
		} else {
			if (n >= sizeof(word))
				return "a user name is too long";
			memcpy(word, p, n);
			word[n] = '\0';
			if (!username_valid(word))
				return "not a valid user name";
		}
		p += n;
	}
	return NULL;
}

/* Checks a string value for its kind.  Returns NULL or the problem. */
static const char *check_string(enum str_kind kind, const char *v)
{
	size_t i;

	if (strlen(v) > SETTINGS_MAX_STRING)
		return "value is too long";
	if (!printable(v))
		return "value contains a control or non-ASCII character";
	switch (kind) {
	case SK_PATH:
		if (v[0] != '/')
			return "an absolute path is required";
		break;
	case SK_OPT_PATH:
		if (v[0] != '\0' && v[0] != '/')
			return "an absolute path (or \"\" for none) is required";
		break;
	case SK_HOME_NAME:
		if (v[0] == '/' || has_dotdot_component(v))
			return "a name relative to the home directory (no \"..\") is required";
		break;
	case SK_ACCOUNT:
		if (v[0] != '\0' && !username_valid(v))
			return "not a valid account name";
		break;
	case SK_SERVICE:
		if (!name_chars(v, strlen(v), true))
			return "a PAM service name is letters, digits, '.', '_' and '-'";
		break;
	case SK_TEMP_DIR:
		if (v[0] != '\0' && v[0] != '/')
			return "an absolute path (or \"\" for the state directory) is required";
		if (has_dotdot_component(v))
			return "\"..\" is not allowed";
		if (count_percent(v, &i) > 1 || i > 0)
			return "only one %s (the user name) may be used";
		break;
	case SK_TEMP_NAME:
		if (strchr(v, '/') != NULL)
			return "a file name (no '/') is required";
		if (count_percent(v, &i) != 1 || i > 0)
			return "exactly one %s (the user name) is required, and no other '%'";
		break;
	case SK_GROUP:
		if (v[0] != '\0' && !username_valid(v))
			return "not a valid group name";
		break;
	case SK_TLS_VERSION:
		return tls_version_parse(v, NULL, NULL);
	case SK_TEXT:
		break;
	case SK_WORD:
		if (v[0] == '\0')
			return "a name is required";
		if (!name_chars(v, strlen(v), true))
			return "a name is letters, digits, '.', '_' and '-'";
		break;
	case SK_MECHLIST:
	case SK_NAMELIST:
		return check_list(kind, v);
	case SK_TEMPLATE:
		if (!template_ok(v))
			return "only %0, %1, %2, %3 and %% may be used";
		break;
	}
	return NULL;
}

/* The stored form of a checked string: "" means "not set" except for the
 * PAM service, where "" is the documented way to turn PAM off. */
static bool string_unsets(enum str_kind kind, const char *v)
{
	/* An empty sasl-mechanisms offers nothing, which is not the default. */
	return v[0] == '\0' && kind != SK_SERVICE && kind != SK_PATH && kind != SK_MECHLIST;
}

static const char *apply_file(struct load_ctx *c, const char *path, unsigned depth);

/* A value parsed by its row's type, before it is stored. */
struct opt_value {
	bool b;
	unsigned long n;
	int facility;
	enum cleartext_policy policy;
	enum tls_support tls_mode;
};

/* How each option type reads a value: checks value (reset only for
 * OT_BOOL; value is never NULL for the other types) into v and returns NULL
 * or an error text in c->msg. */
typedef const char *opt_parse_fn(struct load_ctx *c, const struct option *o, const char *value,
				 bool reset, struct opt_value *v);

static const char *parse_bool(struct load_ctx *c, const struct option *o, const char *value,
			      bool reset, struct opt_value *v)
{
	if (reset) {
		if (value != NULL)
			return ctx_fail(c, "\"reset %s\" takes no value", o->name);
		v->b = false;
	} else if (value == NULL) {
		v->b = true;
	} else if (!confparse_bool(value, &v->b)) {
		return ctx_fail(c, "option \"%s\" needs a boolean value (true, false, 1 or 0)", o->name);
	}
	return NULL;
}

static const char *parse_number(struct load_ctx *c, const struct option *o, const char *value,
				bool reset, struct opt_value *v)
{
	(void)reset;
	if (!confparse_uint(value, o->max, &v->n) || v->n < o->min)
		return ctx_fail(c, "option \"%s\" needs a whole number from %lu to %lu",
				o->name, o->min, o->max);
	return NULL;
}

static const char *parse_string(struct load_ctx *c, const struct option *o, const char *value,
				bool reset, struct opt_value *v)
{
	const char *why = check_string(o->kind, value);

	(void)reset;
	(void)v;
	if (why != NULL)
		return ctx_fail(c, "option \"%s\": %s", o->name, why);
	return NULL;
}

static const char *parse_facility(struct load_ctx *c, const struct option *o, const char *value,
				  bool reset, struct opt_value *v)
{
	(void)reset;
	v->facility = log_facility_from_name(value);
	if (v->facility < 0)
		return ctx_fail(c, "option \"%s\": unknown facility (mail, daemon, auth, "
				"authpriv, user, local0 ... local7)", o->name);
	return NULL;
}

static const char *parse_cleartext(struct load_ctx *c, const struct option *o, const char *value,
				   bool reset, struct opt_value *v)
{
	bool tls = strcasecmp(value, "tls") == 0 || strcasecmp(value, "ssl") == 0;

	(void)reset;
	if (strcasecmp(value, "default") == 0)
		v->policy = CLEARTEXT_DEFAULT;
	else if (strcasecmp(value, "never") == 0)
		v->policy = CLEARTEXT_NEVER;
	else if (strcasecmp(value, "always") == 0)
		v->policy = CLEARTEXT_ALWAYS;
	else if (strcasecmp(value, "local") == 0)
		v->policy = CLEARTEXT_LOCAL;
	else if (tls && !tls_available())
		return ctx_fail(c, "clear-text-password \"%s\" needs TLS support (built without OpenSSL)",
				strcasecmp(value, "tls") == 0 ? "tls" : "ssl");
	else if (tls)
		v->policy = CLEARTEXT_TLS;
	else
		return ctx_fail(c, "option \"%s\" is one of default, never, always, local, tls", o->name);
	return NULL;
}

static const char *parse_tls_support(struct load_ctx *c, const struct option *o, const char *value,
				     bool reset, struct opt_value *v)
{
	(void)reset;
	if (strcasecmp(value, "none") == 0 || strcasecmp(value, "default") == 0)
		v->tls_mode = TLS_SUPPORT_NONE;
	else if (strcasecmp(value, "stls") == 0)
		v->tls_mode = TLS_SUPPORT_STLS;
	else if (strcasecmp(value, "alternate-port") == 0)
		v->tls_mode = TLS_SUPPORT_ALTPORT;
	else
		return ctx_fail(c, "option \"%s\" is one of none, stls, alternate-port", o->name);
	return NULL;
}

static const char *parse_mnemonic(struct load_ctx *c, const struct option *o, const char *value,
				  bool reset, struct opt_value *v)
{
	const char *const *w;

	(void)reset;
	(void)v;
	for (w = o->words; w != NULL && *w != NULL; w++) {
		if (strcasecmp(*w, value) == 0)
			return NULL;
	}
	return ctx_fail(c, "option \"%s\" has an unknown value", o->name);
}

/* Writes the parsed value v (strings: value itself) into row o's field. */
static const char *option_store(struct load_ctx *c, const struct option *o, const char *value,
				const struct opt_value *v)
{
	void *field = (char *)c->s + o->offset;
	char *str = NULL;

	switch (o->type) {
	case OT_BOOL:
		*(bool *)field = v->b;
		break;
	case OT_UINT:
		*(unsigned *)field = (unsigned)v->n;
		break;
	case OT_ULONG:
		*(unsigned long *)field = v->n;
		break;
	case OT_ANNOUNCE:
		*(long *)field = (long)v->n;
		break;
	case OT_FACILITY:
		*(int *)field = v->facility;
		break;
	case OT_CLEARTEXT:
		*(enum cleartext_policy *)field = v->policy;
		break;
	case OT_TLS_SUPPORT:
		*(enum tls_support *)field = v->tls_mode;
		break;
	case OT_STRING:
		if (!string_unsets(o->kind, value)) {
			str = strdup(value);
			if (str == NULL)
				return ctx_fail(c, "out of memory");
		}
		free(*(char **)field);
		*(char **)field = str;
		break;
	case OT_MNEMONIC:
	case OT_INCLUDE:
		break;
	}
	return NULL;
}

/* Indexed by enum opt_type; OT_INCLUDE reads a file instead
 * (option_apply). */
static opt_parse_fn *const type_parse[] = {
	[OT_BOOL] = parse_bool,
	[OT_UINT] = parse_number,
	[OT_ULONG] = parse_number,
	[OT_ANNOUNCE] = parse_number,
	[OT_STRING] = parse_string,
	[OT_FACILITY] = parse_facility,
	[OT_CLEARTEXT] = parse_cleartext,
	[OT_TLS_SUPPORT] = parse_tls_support,
	[OT_MNEMONIC] = parse_mnemonic,
	[OT_INCLUDE] = NULL,
};

/* Whether row o may be used here at all: built, supported, TLS available,
 * allowed at this file's level, a value given where one is needed.
 * Returns NULL to go on, or an error text in c->msg.  *done_r is set when
 * the statement is accepted as it stands ("false" for a not-built feature
 * that popper never does anyway). */
static const char *option_admit(struct load_ctx *c, const struct option *o,
				const char *value, bool reset, bool *done_r)
{
	bool b = false;

	*done_r = false;
	/* A not-built row is refused before anything else, so the message
	 * says what is missing rather than complaining about the value. */
	if (o->status == OS_NOT_BUILT) {
		if (o->false_ok && o->type == OT_BOOL &&
		    (reset || (value != NULL && confparse_bool(value, &b) && !b))) {
			*done_r = true;
			return NULL;
		}
		return ctx_fail(c, "option \"%s\" needs %s, which is not built yet", o->name, o->why);
	}
	if (o->status == OS_UNSUPPORTED)
		return ctx_fail(c, "option \"%s\" is not supported: %s", o->name, o->why);
	/* Without OpenSSL only "tls-support none" (Qpopper's default) is fine. */
	if (o->needs_tls && !tls_available() &&
	    !(o->type == OT_TLS_SUPPORT && value != NULL &&
	      (strcasecmp(value, "none") == 0 || strcasecmp(value, "default") == 0)))
		return ctx_fail(c, "option \"%s\" needs TLS support (built without OpenSSL)", o->name);
	if (o->cls > c->level) {
		if (c->level == OC_ANY)
			return ctx_fail(c, "option \"%s\" may not be set in a user's option file", o->name);
		return ctx_fail(c, "option \"%s\" can only be set at start-up (popper.conf or a switch)",
				o->name);
	}
	if (o->type != OT_BOOL) {
		if (reset)
			return ctx_fail(c, "\"reset\" needs a boolean option; \"%s\" is not one", o->name);
		if (value == NULL)
			return ctx_fail(c, "option \"%s\" needs a value (set %s = VALUE)", o->name, o->name);
	}
	return NULL;
}

/* The one place an option is applied: find the row, admit it, parse the
 * value by the row's type, then store it (or only warn, for a row without
 * effect).  file is the file the statement came from (NULL for switches),
 * depth the include depth a config-file statement would open.  Returns
 * NULL or an error text in c->msg. */
static const char *option_apply(struct load_ctx *c, const char *name,
				const char *value, bool reset,
				const char *file, unsigned depth)
{
	char qname[80];
	const struct option *o;
	struct opt_value v;
	const char *err;
	bool done;

	log_quote(name, strlen(name), qname, sizeof(qname));
	o = option_find(name);
	if (o == NULL)
		return ctx_fail(c, "unknown option \"%s\" (see popper.conf(5))", qname);
	err = option_admit(c, o, value, reset, &done);
	if (err != NULL || done)
		return err;
	if (o->type == OT_INCLUDE)
		return apply_file(c, value, depth);

	memset(&v, 0, sizeof(v));
	err = type_parse[o->type](c, o, value, reset, &v);
	if (err != NULL)
		return err;
	if (o->status == OS_NO_EFFECT) {
		log_warning("option %s is accepted but has no effect: %s%s%s", o->name, o->why,
			    file != NULL ? "; in " : "", file != NULL ? file : "");
		return NULL;
	}
	return option_store(c, o, value, &v);
}

/* The directory-relative form of a config-file value, into buf; NULL if it
 * does not fit. */
static const char *include_path(const char *including, const char *value,
				char *buf, size_t size)
{
	const char *slash;
	int n;

	if (value[0] == '/' || including == NULL || (slash = strrchr(including, '/')) == NULL)
		return value;
	n = snprintf(buf, size, "%.*s/%s", (int)(slash - including), including, value);
	if (n < 0 || (size_t)n >= size)
		return NULL;
	return buf;
}

/* confparse's callback: one statement of a file. */
static const char *conf_stmt(const struct confparse_stmt *st, void *vctx)
{
	struct load_ctx *c = vctx;
	const char *value = st->value;
	char buf[PATH_MAX];

	/* A relative config-file name is taken relative to the directory of
	 * the file that names it, not to whatever the cwd happens to be. */
	if (value != NULL && st->op == CONFPARSE_SET && strcasecmp(st->name, "config-file") == 0) {
		value = include_path(st->file, value, buf, sizeof(buf));
		if (value == NULL)
			return ctx_fail(c, "config-file name is too long");
	}
	return option_apply(c, st->name, value, st->op == CONFPARSE_RESET,
			    st->file, st->depth + 1);
}

/* config-file: reads path at include depth `depth` (0 for a switch). */
static const char *apply_file(struct load_ctx *c, const char *path, unsigned depth)
{
	char err[OPTION_MSG_MAX];

	if (depth > CONFPARSE_MAX_DEPTH)
		return ctx_fail(c, "config-file nesting deeper than %d", CONFPARSE_MAX_DEPTH);
	if (path[0] == '\0' || strlen(path) > SETTINGS_MAX_STRING || !printable(path))
		return ctx_fail(c, "config-file needs a file name");
	if (confparse_file(path, depth, conf_stmt, c, err, sizeof(err)) < 0) {
		/* Errors climb out through every level of includes, and each
		 * level would add its own "FILE:LINE: ".  Keep the deepest
		 * one, so the message is "TOP:LINE: DEEPEST:LINE: what". */
		if (c->inner[0] == '\0')
			snprintf(c->inner, sizeof(c->inner), "%s", err);
		return c->inner;
	}
	return NULL;
}

/* ---- public functions ------------------------------------------------ */

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL) {
		/* Only reachable at start-up; nothing can work without memory. */
		log_error("out of memory while setting defaults");
		exit(1);
	}
	return d;
}

void settings_init(struct settings *s)
{
	memset(s, 0, sizeof(*s));
	s->log_facility = LOG_MAIL;
	s->timeout = 600;                  /* RFC 1939 §3: at least 10 minutes */
	s->reverse_lookup = true;
	s->update_on_abort = false;        /* RFC 1939 §6 (Qpopper said true) */
	s->announce_login_delay = -1;
	s->announce_expire = -1;
	s->cleartext = CLEARTEXT_DEFAULT;
	s->pam_service = xstrdup(DEFAULT_PAM_SERVICE);
	s->auth_db = xstrdup(DEFAULT_AUTH_DB);
	s->auth_db_owner = xstrdup(DEFAULT_AUTH_DB_OWNER);
	s->min_uid = 1000;
	s->max_auth_failures = 3;
	s->auth_failure_delay = 2;
	s->auth_failure_penalty = 15;      /* server/penalty.h */
	s->apop = true;
	s->check_password_expired = true;
	s->spool_dir = xstrdup(DEFAULT_SPOOL_DIR);
	s->virtual_spool_dir = xstrdup(DEFAULT_VIRTUAL_SPOOL_DIR);
	s->state_dir = xstrdup(DEFAULT_STATE_DIR);
	s->seccomp = true;
	s->server_mode = true;
	s->temp_name = xstrdup(".%s.pop");   /* Qpopper's name */
	s->lock_wait = 10;
	s->trust_x_uidl = true;
	s->max_sessions = 100;
	s->max_sessions_per_host = 10;
#ifdef HAVE_KRB5
	s->kerberos_service = xstrdup("pop");   /* Qpopper's KRB5 default; RFC 5034 */
#endif
}

void settings_free(struct settings *s)
{
	size_t i;

	for (i = 0; i < N_OPTIONS; i++) {
		char **field;

		if (options[i].type != OT_STRING || options[i].status != OS_IMPLEMENTED)
			continue;
		field = (char **)(void *)((char *)s + options[i].offset);
		free(*field);
		*field = NULL;
	}
}

int settings_copy(struct settings *dst, const struct settings *src)
{
	size_t i;

	*dst = *src;
	for (i = 0; i < N_OPTIONS; i++) {
		char **field;

		if (options[i].type != OT_STRING || options[i].status != OS_IMPLEMENTED)
			continue;
		field = (char **)(void *)((char *)dst + options[i].offset);
		if (*field != NULL && (*field = strdup(*field)) == NULL)
			goto fail;
	}
	return 0;

fail:
	/* Fields from i on still point at src's strings: clear them so
	 * settings_free(dst) frees only what we allocated. */
	for (; i < N_OPTIONS; i++) {
		if (options[i].type == OT_STRING && options[i].status == OS_IMPLEMENTED)
			*(char **)(void *)((char *)dst + options[i].offset) = NULL;
	}
	settings_free(dst);
	return -1;
}

const char *settings_apply(struct settings *s, const char *name,
			   const char *value, bool reset)
{
	static struct load_ctx c;   /* the message must outlive the call */

	c.s = s;
	c.level = OC_START;
	c.msg[0] = '\0';
	c.inner[0] = '\0';
	if (name == NULL)
		return "no option name";
	return option_apply(&c, name, value, reset, NULL, 0);
}

int settings_load_file(struct settings *s, const char *path,
		       char *err, size_t errsize)
{
	struct load_ctx *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL) {
		snprintf(err, errsize, "%s: out of memory", path);
		return -1;
	}
	c->s = s;
	c->level = OC_START;
	rc = confparse_file(path, 0, conf_stmt, c, err, errsize);
	free(c);
	return rc;
}

/* Reads what fd holds, to EOF but never past OPTION_FILE_MAX (the size
 * may change while we read).  Returns a malloc'd buffer and its length in
 * *len_r, or NULL with err filled ("PATH: why"). */
static char *read_option_text(int fd, const char *path, size_t *len_r,
			      char *err, size_t errsize)
{
	char *text = malloc(OPTION_FILE_MAX + 1);
	size_t len = 0;
	ssize_t r;

	if (text == NULL) {
		snprintf(err, errsize, "%s: out of memory", path);
		return NULL;
	}
	while (len <= OPTION_FILE_MAX) {
		r = read(fd, text + len, OPTION_FILE_MAX + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errsize, "%s: %s", path, strerror(errno));
			free(text);
			return NULL;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > OPTION_FILE_MAX) {
		snprintf(err, errsize, "%s: file is larger than %d bytes", path, OPTION_FILE_MAX);
		free(text);
		return NULL;
	}
	*len_r = len;
	return text;
}

/* Reads one per-user option file at level (OC_ANY: the user's own file;
 * OC_ADMIN: the administrator's file in the spool directory). */
static int load_option_file(struct settings *s, const char *path,
			    enum opt_class level, uid_t uid,
			    char *err, size_t errsize)
{
	struct safeopen_rules rules = { .no_group_write = true };
	struct load_ctx *c;
	const char *why = NULL;
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int fd, rc = -1;

	fd = safe_open(path, O_RDONLY, 0, &rules, &st, &why);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errsize, "%s: %s", path, why != NULL ? why : strerror(errno));
		return -1;
	}
	if ((st.st_mode & S_IWOTH) != 0) {
		snprintf(err, errsize, "%s: file is writable by others", path);
		goto out;
	}
	if (level == OC_ANY && st.st_uid != uid && st.st_uid != 0) {
		snprintf(err, errsize, "%s: file belongs to neither the user nor root", path);
		goto out;
	}
	if (level == OC_ADMIN && st.st_uid == uid) {
		/* The user must not be able to change the administrator's
		 * file for them (Qpopper's rule for the spool options file). */
		snprintf(err, errsize, "%s: file belongs to the user", path);
		goto out;
	}
	if (st.st_size > OPTION_FILE_MAX) {
		snprintf(err, errsize, "%s: file is larger than %d bytes", path, OPTION_FILE_MAX);
		goto out;
	}
	text = read_option_text(fd, path, &len, err, errsize);
	if (text == NULL)
		goto out;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(err, errsize, "%s: out of memory", path);
		goto out;
	}
	c->s = s;
	c->level = level;
	rc = confparse_buffer(text, len, path, 0, conf_stmt, c, err, errsize);
	free(c);
out:
	free(text);
	close(fd);
	return rc;
}

int settings_load_user_options(struct settings *s, const char *user,
			       const char *home, uid_t uid,
			       char *err, size_t errsize)
{
	char path[PATH_MAX];
	int n;

	/* The home file first, then the administrator's: the spool file can
	 * override what the user chose (Qpopper's order, 12/27/00). */
	if (s->user_options && home != NULL && home[0] != '\0') {
		n = snprintf(path, sizeof(path), "%s/.qpopper-options", home);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			snprintf(err, errsize, "home directory path is too long");
			return -1;
		}
		if (load_option_file(s, path, OC_ANY, uid, err, errsize) < 0)
			return -1;
	}
	if (s->spool_options) {
		if (user == NULL || !username_valid(user)) {
			snprintf(err, errsize, "invalid user name for the spool options file");
			return -1;
		}
		n = snprintf(path, sizeof(path), "%s/.%s.qpopper-options", s->spool_dir, user);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			snprintf(err, errsize, "spool options path is too long");
			return -1;
		}
		if (load_option_file(s, path, OC_ADMIN, uid, err, errsize) < 0)
			return -1;
	}
	return 0;
}

/* ---- popper -n ------------------------------------------------------- */

static void print_quoted(FILE *f, const char *v)
{
	fputc('"', f);
	for (; *v != '\0'; v++) {
		if (*v == '"' || *v == '\\')
			fputc('\\', f);
		fputc(*v, f);
	}
	fputc('"', f);
}

static const char *facility_name(int facility)
{
	static const char *const names[] = {
		"mail", "daemon", "auth", "authpriv", "user", "local0", "local1",
		"local2", "local3", "local4", "local5", "local6", "local7", NULL
	};
	size_t i;

	for (i = 0; names[i] != NULL; i++) {
		if (log_facility_from_name(names[i]) == facility)
			return names[i];
	}
	return NULL;
}

static const char *cleartext_name(enum cleartext_policy p)
{
	switch (p) {
	case CLEARTEXT_DEFAULT: return "default";
	case CLEARTEXT_NEVER: return "never";
	case CLEARTEXT_ALWAYS: return "always";
	case CLEARTEXT_LOCAL: return "local";
	case CLEARTEXT_TLS: return "tls";
	}
	return "default";
}

static const char *tls_support_name(enum tls_support t)
{
	switch (t) {
	case TLS_SUPPORT_NONE: return "none";
	case TLS_SUPPORT_STLS: return "stls";
	case TLS_SUPPORT_ALTPORT: return "alternate-port";
	}
	return "none";
}

/* One implemented row as a "set NAME = VALUE" line (or a comment when the
 * value has no name or is not set).  dfield: the same field of the
 * compiled defaults. */
static void print_row(FILE *f, const struct option *o, const char *field, const char *dfield)
{
	switch (o->type) {
	case OT_BOOL:
		fprintf(f, "set %s = %s\n", o->name,
			*(const bool *)(const void *)field ? "true" : "false");
		break;
	case OT_UINT:
		fprintf(f, "set %s = %u\n", o->name, *(const unsigned *)(const void *)field);
		break;
	case OT_ULONG:
		fprintf(f, "set %s = %lu\n", o->name, *(const unsigned long *)(const void *)field);
		break;
	case OT_ANNOUNCE: {
		long v = *(const long *)(const void *)field;

		if (v < 0)
			fprintf(f, "# %s is not set\n", o->name);
		else
			fprintf(f, "set %s = %ld\n", o->name, v);
		break;
	}
	case OT_STRING: {
		const char *v = *(char *const *)(const void *)field;

		if (v == NULL && *(char *const *)(const void *)dfield != NULL) {
			/* Unset from a default ("" did it, so "" reads back
			 * as unset): a comment would bring the default back
			 * (auth-db = "" turns virtual users off). */
			fprintf(f, "set %s = \"\"\n", o->name);
		} else if (v == NULL) {
			fprintf(f, "# %s is not set\n", o->name);
		} else {
			fprintf(f, "set %s = ", o->name);
			print_quoted(f, v);
			fputc('\n', f);
		}
		break;
	}
	case OT_FACILITY: {
		const char *name = facility_name(*(const int *)(const void *)field);

		if (name != NULL)
			fprintf(f, "set %s = %s\n", o->name, name);
		else
			fprintf(f, "# %s = %d (no name)\n", o->name, *(const int *)(const void *)field);
		break;
	}
	case OT_CLEARTEXT:
		fprintf(f, "set %s = %s\n", o->name,
			cleartext_name(*(const enum cleartext_policy *)(const void *)field));
		break;
	case OT_TLS_SUPPORT:
		fprintf(f, "set %s = %s\n", o->name,
			tls_support_name(*(const enum tls_support *)(const void *)field));
		break;
	case OT_MNEMONIC:
	case OT_INCLUDE:
		break;
	}
}

/* The rows that set nothing, as three comment blocks: without effect, not
 * built yet (six names a line), not supported. */
static void print_unused_rows(FILE *f)
{
	size_t i;
	int col;

	for (col = 0, i = 0; i < N_OPTIONS; i++) {
		if (options[i].status != OS_NO_EFFECT)
			continue;
		fprintf(f, "%s %s", col++ == 0 ? "# accepted without effect:" : ",", options[i].name);
	}
	fputc('\n', f);
	for (col = 0, i = 0; i < N_OPTIONS; i++) {
		if (options[i].status != OS_NOT_BUILT)
			continue;
		if (col % 6 == 0)
			fprintf(f, "%s# not built yet:", col == 0 ? "" : "\n");
		fprintf(f, " %s%s", options[i].name, options[i].false_ok ? "=true" : "");
		col++;
	}
	fputc('\n', f);
	for (col = 0, i = 0; i < N_OPTIONS; i++) {
		if (options[i].status != OS_UNSUPPORTED)
			continue;
		fprintf(f, "%s %s", col++ == 0 ? "# not supported:" : ",", options[i].name);
	}
	if (col > 0)
		fputc('\n', f);
}

void settings_print(const struct settings *s, FILE *f)
{
	struct settings defaults;
	size_t i;

	settings_init(&defaults);
	fprintf(f, "# popper %s: effective settings\n", PACKAGE_VERSION);
	for (i = 0; i < N_OPTIONS; i++) {
		if (options[i].status == OS_IMPLEMENTED)
			print_row(f, &options[i], (const char *)s + options[i].offset,
				  (const char *)&defaults + options[i].offset);
	}
	print_unused_rows(f);
	settings_free(&defaults);
}
