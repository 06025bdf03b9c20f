/*
 * test_options: server/options.c (its header is server/settings.h) —
 * defaults, every kind of option value, the Qpopper grammar through real
 * files, includes and their depth limit, the "not built yet" and "no
 * effect" rows, the per-user option files and their restriction classes,
 * and popper -n's output read back in.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "lib/tls.h"
#include "server/settings.h"
#include "tests/unit/tap.h"

static char tmpdir[512];

/* Writes text to tmpdir/name with mode; returns the path in a static
 * buffer that the next call overwrites. */
static const char *write_file(const char *name, const char *text, mode_t mode)
{
	static char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	unlink(path);
	f = fopen(path, "w");
	if (f == NULL) {
		printf("# cannot create %s: %s\n", path, strerror(errno));
		return path;
	}
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
	return path;
}

/* Loads text as a configuration file; returns 0/-1 and leaves the error. */
static int load_text(struct settings *s, const char *text, char *err, size_t errsize)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s", write_file("popper.conf", text, 0644));
	err[0] = '\0';
	return settings_load_file(s, path, err, errsize);
}

static bool contains(const char *hay, const char *needle)
{
	return hay != NULL && strstr(hay, needle) != NULL;
}

static void test_defaults(void)
{
	struct settings s;

	settings_init(&s);
	is_int(s.log_facility, LOG_MAIL, "default log-facility is mail");
	ok(!s.debug && !s.statistics && !s.timing, "debug, statistics, timing off");
	ok(s.tracefile == NULL, "no trace file");
	is_int(s.timeout, 600, "timeout 600 (RFC 1939)");
	ok(!s.shy, "not shy");
	ok(s.reverse_lookup, "reverse lookups on");
	ok(!s.update_on_abort, "no update on abort (RFC 1939 section 6)");
	ok(!s.auto_delete, "no auto-delete");
	is_int(s.announce_login_delay, -1, "login delay not announced");
	is_int(s.announce_expire, -1, "expire not announced (NEVER)");
	ok(!s.downcase_user && !s.trim_domain, "user names unchanged");
	is_int(s.cleartext, CLEARTEXT_DEFAULT, "clear-text-password default");
	is_str(s.pam_service, "popper", "pam-service popper");
	is_str(s.auth_db, AUTH_DB_PATH, "auth-db: the configured default (its own directory)");
	ok(s.mail_owner == NULL && s.nonauth_file == NULL && s.auth_file == NULL,
	   "no mail-owner, deny or allow list");
	is_int(s.min_uid, 1000, "min-uid 1000");
	ok(!s.check_shell, "check-shell off");
	is_int(s.max_auth_failures, 3, "max-auth-failures 3");
	is_int(s.auth_failure_delay, 2, "auth-failure-delay 2");
	is_int(s.auth_failure_penalty, 15, "auth-failure-penalty 15");
	ok(s.apop, "apop on");
	ok(s.check_password_expired, "check-password-expired on");
	is_str(s.spool_dir, DEFAULT_SPOOL_DIR, "spool-dir is the configured default");
	is_int(s.hash_spool, 0, "hash-spool 0");
	ok(s.home_dir_mail == NULL, "no home-dir-mail");
	is_str(s.virtual_spool_dir, LOCALSTATEDIR "/spool/popper", "virtual-spool-dir");
	is_str(s.state_dir, LOCALSTATEDIR "/lib/popper", "state-dir");
	ok(s.server_mode, "server mode");
	is_int(s.lock_wait, 10, "lock-wait 10");
	ok(s.trust_x_uidl, "trust-x-uidl");
	ok(!s.user_options && !s.spool_options, "no per-user option files");
	is_int(s.max_sessions, 100, "max-sessions 100");
	is_int(s.max_sessions_per_host, 10, "max-sessions-per-host 10");
	ok(!s.detach && s.pid_file == NULL, "foreground, no pid file");
	ok(s.log_login == NULL, "no log-login template");
	settings_free(&s);
}

static void test_booleans(void)
{
	struct settings s;
	const char *e;

	settings_init(&s);
	ok(settings_apply(&s, "shy", NULL, false) == NULL && s.shy, "set shy (no value) turns it on");
	ok(settings_apply(&s, "shy", NULL, true) == NULL && !s.shy, "reset shy turns it off");
	ok(settings_apply(&s, "shy", "true", false) == NULL && s.shy, "shy = true");
	ok(settings_apply(&s, "shy", "false", false) == NULL && !s.shy, "shy = false");
	ok(settings_apply(&s, "shy", "1", false) == NULL && s.shy, "shy = 1");
	ok(settings_apply(&s, "shy", "0", false) == NULL && !s.shy, "shy = 0");
	ok(settings_apply(&s, "SHY", "TRUE", false) == NULL && s.shy, "names and words ignore case");
	e = settings_apply(&s, "shy", "maybe", false);
	ok(contains(e, "boolean"), "shy = maybe is refused (%s)", e ? e : "accepted");
	e = settings_apply(&s, "shy", "true", true);
	ok(e != NULL, "reset with a value is refused");
	e = settings_apply(&s, "timeout", NULL, true);
	ok(contains(e, "reset"), "reset of a number is refused (%s)", e ? e : "accepted");
	ok(settings_apply(&s, "reverse-lookup", "false", false) == NULL && !s.reverse_lookup,
	   "reverse-lookup = false");
	ok(settings_apply(&s, "update-on-abort", NULL, false) == NULL && s.update_on_abort,
	   "update-on-abort");
	ok(settings_apply(&s, "check-password-expired", NULL, true) == NULL &&
	   !s.check_password_expired, "reset check-password-expired");
	settings_free(&s);
}

static void test_numbers(void)
{
	struct settings s;
	const char *e;

	settings_init(&s);
	ok(settings_apply(&s, "timeout", "30", false) == NULL && s.timeout == 30, "timeout = 30");
	ok(settings_apply(&s, "timeout", "0x3c", false) == NULL && s.timeout == 60,
	   "hex as Qpopper's strtol base 0");
	e = settings_apply(&s, "timeout", "0", false);
	ok(contains(e, "1 to 86400") && s.timeout == 60, "timeout 0 refused, value kept");
	ok(settings_apply(&s, "timeout", "86400", false) == NULL, "timeout at its limit");
	ok(settings_apply(&s, "timeout", "86401", false) != NULL, "timeout above its limit");
	ok(settings_apply(&s, "timeout", "-5", false) != NULL, "negative refused");
	ok(settings_apply(&s, "timeout", "12abc", false) != NULL, "junk refused");
	e = settings_apply(&s, "timeout", NULL, false);
	ok(contains(e, "value"), "a number needs a value (%s)", e ? e : "accepted");
	ok(settings_apply(&s, "hash-spool", "2", false) == NULL && s.hash_spool == 2, "hash-spool 2");
	ok(settings_apply(&s, "hash-spool", "3", false) != NULL, "hash-spool 3 refused");
	ok(settings_apply(&s, "min-uid", "500", false) == NULL && s.min_uid == 500, "min-uid 500");
	ok(settings_apply(&s, "announce-login-delay", "900", false) == NULL &&
	   s.announce_login_delay == 900, "announce-login-delay 900");
	ok(settings_apply(&s, "announce-expire", "0", false) == NULL && s.announce_expire == 0,
	   "announce-expire 0");
	ok(settings_apply(&s, "max-auth-failures", "0", false) != NULL, "max-auth-failures 0 refused");
	ok(settings_apply(&s, "max-sessions", "5", false) == NULL && s.max_sessions == 5,
	   "max-sessions 5");
	ok(settings_apply(&s, "max-sessions-per-host", "2", false) == NULL &&
	   s.max_sessions_per_host == 2, "max-sessions-per-host 2");
	ok(settings_apply(&s, "lock-wait", "0", false) == NULL && s.lock_wait == 0, "lock-wait 0");
	ok(settings_apply(&s, "auth-failure-delay", "61", false) != NULL, "auth-failure-delay 61 refused");
	ok(settings_apply(&s, "auth-failure-penalty", "0", false) == NULL &&
	   s.auth_failure_penalty == 0, "auth-failure-penalty 0 (off)");
	ok(settings_apply(&s, "auth-failure-penalty", "60", false) == NULL &&
	   s.auth_failure_penalty == 60, "auth-failure-penalty 60");
	ok(settings_apply(&s, "auth-failure-penalty", "61", false) != NULL,
	   "auth-failure-penalty 61 refused");
	settings_free(&s);
}

static void test_strings(void)
{
	struct settings s;
	char longv[1100];
	const char *e;

	settings_init(&s);
	ok(settings_apply(&s, "spool-dir", "/srv/mail", false) == NULL, "spool-dir absolute");
	is_str(s.spool_dir, "/srv/mail", "spool-dir stored");
	e = settings_apply(&s, "spool-dir", "mail", false);
	ok(contains(e, "absolute") && strcmp(s.spool_dir, "/srv/mail") == 0,
	   "relative spool-dir refused, value kept");
	ok(settings_apply(&s, "spool-dir", "", false) != NULL, "empty spool-dir refused");
	ok(settings_apply(&s, "tracefile", "/var/log/popper.trace", false) == NULL &&
	   s.tracefile != NULL, "tracefile set");
	ok(settings_apply(&s, "tracefile", "", false) == NULL && s.tracefile == NULL,
	   "tracefile \"\" unsets it");
	ok(settings_apply(&s, "pam-service", "", false) == NULL && s.pam_service != NULL &&
	   s.pam_service[0] == '\0', "pam-service \"\" turns PAM off");
	ok(settings_apply(&s, "pam-service", "pop3", false) == NULL, "pam-service pop3");
	ok(settings_apply(&s, "pam-service", "../x", false) != NULL, "pam-service with / refused");
	ok(settings_apply(&s, "mail-owner", "vmail", false) == NULL, "mail-owner vmail");
	ok(settings_apply(&s, "mail-owner", "bad/name", false) != NULL, "bad account name refused");
	ok(settings_apply(&s, "home-dir-mail", ".mail", false) == NULL, "home-dir-mail .mail");
	ok(settings_apply(&s, "home-dir-mail", "Mail/inbox", false) == NULL, "home-dir-mail Mail/inbox");
	ok(settings_apply(&s, "home-dir-mail", "/var/mail/x", false) != NULL, "absolute home-dir-mail refused");
	ok(settings_apply(&s, "home-dir-mail", "../other/mbox", false) != NULL, "home-dir-mail with .. refused");
	ok(settings_apply(&s, "log-login", "(v%0) POP login by user \"%1\" at (%2) %3", false) == NULL,
	   "log-login template with %%0..%%3");
	ok(settings_apply(&s, "log-login", "100%% %1", false) == NULL, "log-login with %%%%");
	e = settings_apply(&s, "log-login", "user %s", false);
	ok(contains(e, "%0"), "log-login with %%s refused (%s)", e ? e : "accepted");
	ok(settings_apply(&s, "auth-file", "relative", false) != NULL, "relative auth-file refused");
	ok(settings_apply(&s, "nonauth-file", "/etc/ftpusers", false) == NULL, "nonauth-file");
	ok(settings_apply(&s, "pid-file", "/run/popper.pid", false) == NULL, "pid-file");
	ok(settings_apply(&s, "state-dir", "/var/lib/popper2", false) == NULL, "state-dir");
	ok(settings_apply(&s, "virtual-spool-dir", "/var/spool/v", false) == NULL, "virtual-spool-dir");
	ok(settings_apply(&s, "tracefile", "/tmp/a\tb", false) != NULL, "control character refused");
	memset(longv, 'a', sizeof(longv) - 1);
	longv[0] = '/';
	longv[sizeof(longv) - 1] = '\0';
	ok(settings_apply(&s, "tracefile", longv, false) != NULL, "1099-byte path refused (length check)");
	settings_free(&s);
}

static void test_mnemonics(void)
{
	struct settings s;
	const char *e;

	settings_init(&s);
	ok(settings_apply(&s, "log-facility", "local3", false) == NULL && s.log_facility == LOG_LOCAL3,
	   "log-facility local3");
	ok(settings_apply(&s, "log-facility", "MAIL", false) == NULL && s.log_facility == LOG_MAIL,
	   "log-facility MAIL");
	ok(settings_apply(&s, "log-facility", "kern9", false) != NULL, "unknown facility refused");
	ok(settings_apply(&s, "clear-text-password", "never", false) == NULL &&
	   s.cleartext == CLEARTEXT_NEVER, "clear-text-password never");
	ok(settings_apply(&s, "clear-text-password", "always", false) == NULL &&
	   s.cleartext == CLEARTEXT_ALWAYS, "always");
	ok(settings_apply(&s, "clear-text-password", "Local", false) == NULL &&
	   s.cleartext == CLEARTEXT_LOCAL, "Local");
	ok(settings_apply(&s, "clear-text-password", "default", false) == NULL &&
	   s.cleartext == CLEARTEXT_DEFAULT, "default");
	e = settings_apply(&s, "clear-text-password", "tls", false);
	if (tls_available()) {
		ok(e == NULL && s.cleartext == CLEARTEXT_TLS, "tls: %s", e ? e : "accepted");
		ok(settings_apply(&s, "clear-text-password", "ssl", false) == NULL &&
		   s.cleartext == CLEARTEXT_TLS, "ssl is tls too");
	} else {
		ok(contains(e, "built without OpenSSL"), "tls: %s", e ? e : "accepted");
		ok(settings_apply(&s, "clear-text-password", "ssl", false) != NULL, "ssl refused too");
	}
	ok(settings_apply(&s, "clear-text-password", "sometimes", false) != NULL, "unknown policy refused");
	settings_free(&s);
}

static void test_special_rows(void)
{
	struct settings s;
	const char *e;

	settings_init(&s);
	e = settings_apply(&s, "no-such-option", "1", false);
	ok(contains(e, "unknown option"), "unknown option: %s", e ? e : "accepted");
	e = settings_apply(&s, "bulldir", "/var/spool/bulls", false);
	ok(contains(e, "bulletins") && contains(e, "not built yet"), "bulldir: %s", e ? e : "accepted");
	e = settings_apply(&s, "kerberos", NULL, false);
#ifdef HAVE_KRB5
	ok(e == NULL && s.kerberos, "kerberos (built with krb5): %s", e ? e : "accepted");
	e = settings_apply(&s, "kerberos-service", "", false);
	ok(e != NULL, "kerberos-service may not be empty: %s", e ? e : "accepted");
	e = settings_apply(&s, "kerberos-service", "pop/x", false);
	ok(e != NULL, "kerberos-service is one word: %s", e ? e : "accepted");
	e = settings_apply(&s, "kerberos-keytab", "relative.keytab", false);
	ok(e != NULL, "kerberos-keytab must be absolute: %s", e ? e : "accepted");
#else
	ok(contains(e, "Kerberos") && contains(e, "not built yet"), "kerberos: %s", e ? e : "accepted");
#endif
#ifdef HAVE_SASL
	e = settings_apply(&s, "sasl-mechanisms", "SCRAM-SHA-256, plain", false);
	ok(e == NULL && s.sasl_mechanisms != NULL, "sasl-mechanisms list: %s", e ? e : "accepted");
	e = settings_apply(&s, "sasl-mechanisms", "PLAIN ANONYMOUS", false);
	ok(contains(e, "ANONYMOUS"), "sasl-mechanisms refuses ANONYMOUS: %s", e ? e : "accepted");
	e = settings_apply(&s, "sasl-mechanisms", "A-NAME-LONGER-THAN-20-CHARS", false);
	ok(e != NULL, "sasl-mechanisms refuses a 27-character name: %s", e ? e : "accepted");
	e = settings_apply(&s, "sasl-mechanisms", "", false);
	ok(e == NULL && s.sasl_mechanisms != NULL && s.sasl_mechanisms[0] == '\0',
	   "sasl-mechanisms = \"\" offers none (not the default): %s", e ? e : "accepted");
	e = settings_apply(&s, "sasl-proxy-users", "admin bad/name", false);
	ok(e != NULL, "sasl-proxy-users checks names: %s", e ? e : "accepted");
#else
	e = settings_apply(&s, "sasl-mechanisms", "PLAIN", false);
	ok(contains(e, "not built yet"), "sasl-mechanisms: %s", e ? e : "accepted");
#endif
	e = settings_apply(&s, "tls-support", "stls", false);
	if (tls_available())
		ok(e == NULL && s.tls_support == TLS_SUPPORT_STLS, "tls-support stls: %s",
		   e ? e : "accepted");
	else
		ok(contains(e, "built without OpenSSL"), "tls-support: %s", e ? e : "accepted");
	ok(settings_apply(&s, "tls-support", "none", false) == NULL &&
	   s.tls_support == TLS_SUPPORT_NONE, "tls-support none is fine in any build");
	ok(settings_apply(&s, "tls-support", "sometimes", false) != NULL, "tls-support sometimes refused");
	if (tls_available()) {
		ok(settings_apply(&s, "tls-support", "Alternate-Port", false) == NULL &&
		   s.tls_support == TLS_SUPPORT_ALTPORT, "tls-support alternate-port");
		e = settings_apply(&s, "tls-version", "SSLv3", false);
		ok(contains(e, "refused"), "tls-version SSLv3: %s", e ? e : "accepted");
		ok(settings_apply(&s, "tls-version", "TLSv1.2", false) == NULL && s.tls_version &&
		   strcmp(s.tls_version, "TLSv1.2") == 0, "tls-version TLSv1.2 stored");
		e = settings_apply(&s, "tls-server-cert-file", "cert.pem", false);
		ok(e != NULL, "tls-server-cert-file must be absolute: %s", e ? e : "accepted");
		ok(settings_apply(&s, "tls-cipher-list", "HIGH:!aNULL", false) == NULL &&
		   s.tls_cipher_list && strcmp(s.tls_cipher_list, "HIGH:!aNULL") == 0,
		   "tls-cipher-list stored");
	}
	e = settings_apply(&s, "tls-passphrase", "secret", false);
	ok(contains(e, "not supported") && contains(e, "SSL Plus"), "tls-passphrase: %s",
	   e ? e : "accepted");
	e = settings_apply(&s, "UW-kludge", NULL, false);
	ok(contains(e, "not built yet"), "UW-kludge alias known: %s", e ? e : "accepted");
	e = settings_apply(&s, "uw-kluge", NULL, false);
	ok(contains(e, "not built yet"), "UW-kluge in any case: %s", e ? e : "accepted");
	ok(settings_apply(&s, "check-old-spool-loc", NULL, false) != NULL, "check-old-spool-loc refused");
	ok(settings_apply(&s, "xtnd-xmit", NULL, false) != NULL, "xtnd-xmit refused");
	ok(settings_apply(&s, "update-status-headers", "false", false) == NULL,
	   "update-status-headers = false is what we do: accepted");
	ok(settings_apply(&s, "update-status-headers", NULL, true) == NULL,
	   "reset update-status-headers accepted");
	e = settings_apply(&s, "update-status-headers", "true", false);
	ok(contains(e, "not built yet"), "update-status-headers = true: %s", e ? e : "accepted");
	settings_free(&s);
}

/* temp-drop mode's rows (Qpopper's normal mode) and the rows without effect. */
static void test_tempdrop_rows(void)
{
	struct settings s;

	settings_init(&s);
	ok(settings_apply(&s, "server-mode", NULL, true) == NULL && !s.server_mode,
	   "reset server-mode: temp-drop mode");
	ok(settings_apply(&s, "server-mode", NULL, false) == NULL && s.server_mode,
	   "set server-mode accepted");
	ok(s.temp_dir == NULL && s.temp_name != NULL && strcmp(s.temp_name, ".%s.pop") == 0 &&
	   !s.keep_temp_drop, "temp-dir unset (the state directory), temp-name .%%s.pop, no keep-temp-drop");
	ok(settings_apply(&s, "temp-dir", "/var/spool/poptmp", false) == NULL &&
	   strcmp(s.temp_dir, "/var/spool/poptmp") == 0, "temp-dir set");
	ok(settings_apply(&s, "temp-dir", "/var/spool/poptmp/%s", false) == NULL,
	   "temp-dir with one %%s accepted");
	ok(settings_apply(&s, "temp-dir", "/a/%s/%s", false) != NULL, "temp-dir with two %%s refused");
	ok(settings_apply(&s, "temp-dir", "relative", false) != NULL, "relative temp-dir refused");
	ok(settings_apply(&s, "temp-dir", "/a/../b", false) != NULL, "temp-dir with .. refused");
	ok(settings_apply(&s, "temp-dir", "", false) == NULL && s.temp_dir == NULL,
	   "temp-dir \"\": back to the state directory");
	ok(settings_apply(&s, "temp-name", "%s.pop", false) == NULL && strcmp(s.temp_name, "%s.pop") == 0,
	   "temp-name %%s.pop accepted");
	ok(settings_apply(&s, "temp-name", "pop", false) != NULL, "temp-name without %%s refused");
	ok(settings_apply(&s, "temp-name", ".%s.%s", false) != NULL, "temp-name with two %%s refused");
	ok(settings_apply(&s, "temp-name", "x/.%s.pop", false) != NULL, "temp-name with a '/' refused");
	ok(settings_apply(&s, "temp-name", ".%s.%d", false) != NULL, "temp-name with another %% refused");
	ok(settings_apply(&s, "keep-temp-drop", NULL, false) == NULL && s.keep_temp_drop,
	   "keep-temp-drop set");
	ok(settings_apply(&s, "group-server-mode", "popusers", false) == NULL &&
	   strcmp(s.group_server_mode, "popusers") == 0, "group-server-mode set");
	ok(settings_apply(&s, "group-no-server-mode", "bigbox", false) == NULL &&
	   strcmp(s.group_no_server_mode, "bigbox") == 0, "group-no-server-mode set");
	ok(settings_apply(&s, "group-server-mode", "bad group!", false) != NULL,
	   "group-server-mode with a bad name refused");
	/* accepted, no effect */
	ok(settings_apply(&s, "fast-update", NULL, false) == NULL, "fast-update accepted");
	ok(settings_apply(&s, "chunky-writes", "never", false) == NULL, "chunky-writes never accepted");
	ok(settings_apply(&s, "chunky-writes", "sometimes", false) != NULL, "chunky-writes bad word refused");
	ok(settings_apply(&s, "mail-lock-check", "5000", false) == NULL, "mail-lock-check accepted");
	ok(settings_apply(&s, "mail-lock-check", "x", false) != NULL, "mail-lock-check checks its value");
	ok(settings_apply(&s, "no-atomic-open", "false", false) == NULL, "no-atomic-open accepted");
	ok(settings_apply(&s, "check-hash-dir", NULL, true) == NULL, "reset check-hash-dir accepted");
	settings_free(&s);
}

static void test_file_forms(struct settings *s, char *err, size_t errsize)
{
	ok(load_text(s,
		     "# popper.conf\n"
		     "set timeout = 120   # two minutes\n"
		     "set statistics\n"
		     "reset reverse-lookup\n"
		     "set log-login = \"login %1 from %2 (%3)\"\n"
		     "set spool-dir = '/var/spool/mail'\n"
		     "set tracefile = `/var/log/trace file`\n"
		     "set log-login = \"say \\\"hi\\\" %1\"\n"
		     "\n"
		     "set log-facility = local0\n",
		     err, errsize) == 0, "a file with every form loads (%s)", err);
	is_int(s->timeout, 120, "timeout from the file");
	ok(s->statistics && !s->reverse_lookup, "set/reset booleans");
	is_str(s->log_login, "say \"hi\" %1", "double-quoted string with escaped quotes, later line wins");
	is_str(s->spool_dir, "/var/spool/mail", "single-quoted string");
	is_str(s->tracefile, "/var/log/trace file", "backquoted string with a blank");
	is_int(s->log_facility, LOG_LOCAL0, "log-facility from the file");
}

static void test_file_bad_lines(struct settings *s, char *err, size_t errsize)
{
	ok(load_text(s, "set timeout = 30\nset frobnicate = 1\n", err, errsize) < 0,
	   "unknown option fails the file");
	ok(contains(err, "popper.conf:2:") && contains(err, "unknown option"),
	   "message names file and line: %s", err);
	ok(load_text(s, "set bulldir = /var/spool/bulls\n", err, errsize) < 0 &&
	   contains(err, ":1:") && contains(err, "bulletins") && contains(err, "not built yet"),
	   "not-built option in a file: %s", err);
	ok(load_text(s, "set timeout\n", err, errsize) < 0 && contains(err, ":1:"),
	   "missing value: %s", err);
	ok(load_text(s, "set timeout = 30 junk\n", err, errsize) < 0,
	   "junk after the value: %s", err);
}

static void test_file_no_effect_options(struct settings *s, char *err, size_t errsize)
{
	ok(load_text(s, "set fast-update\nset chunky-writes = always\n", err, errsize) == 0,
	   "no-effect options load (%s)", err);
}

/* includes: relative to the including file */
static void test_file_includes(struct settings *s, char *err, size_t errsize)
{
	char inc[PATH_MAX];

	write_file("inc.conf", "set max-sessions = 42\n", 0644);
	ok(load_text(s, "set config-file = inc.conf\n", err, errsize) == 0 && s->max_sessions == 42,
	   "relative config-file include (%s)", err);
	snprintf(inc, sizeof(inc), "%s/inc.conf", tmpdir);
	write_file("inc.conf", "set max-sessions = 43\n", 0644);
	ok(settings_apply(s, "config-file", inc, false) == NULL && s->max_sessions == 43,
	   "config-file through settings_apply");
	write_file("inc.conf", "\n\nset nonsense = 1\n", 0644);
	ok(load_text(s, "set config-file = inc.conf\n", err, errsize) < 0 &&
	   contains(err, "popper.conf:1:") && contains(err, "inc.conf:3:"),
	   "error inside an include names both files: %s", err);
}

/* Writes chain0.conf .. chain16.conf, each including the next. */
static void write_include_chain(void)
{
	char name[64], text[128];
	int i;

	for (i = 0; i <= 16; i++) {
		snprintf(name, sizeof(name), "chain%d.conf", i);
		if (i < 16)
			snprintf(text, sizeof(text), "set config-file = chain%d.conf\n", i + 1);
		else
			snprintf(text, sizeof(text), "set max-sessions = 16\n");
		write_file(name, text, 0644);
	}
}

/*
 * The "16 nested" message shows what err still holds from the self-include
 * (a successful load leaves err alone): keep the two in this order.
 */
static void test_file_include_depth(struct settings *s, char *err, size_t errsize)
{
	char path[PATH_MAX];

	/* depth: a file including itself stops at the limit */
	snprintf(path, sizeof(path), "%s", write_file("loop.conf", "set config-file = loop.conf\n", 0644));
	err[0] = '\0';
	ok(settings_load_file(s, path, err, errsize) < 0 &&
	   (contains(err, "nest") || contains(err, "deep")),
	   "self-include hits the depth limit: %.120s...", err);
	/* a chain of exactly CONFPARSE_MAX_DEPTH includes is fine */
	write_include_chain();
	snprintf(path, sizeof(path), "%s/chain0.conf", tmpdir);
	ok(settings_load_file(s, path, err, errsize) == 0 && s->max_sessions == 16,
	   "16 nested includes are allowed (%.100s)", err);
	write_file("chain16.conf", "set config-file = chain17.conf\n", 0644);
	write_file("chain17.conf", "set max-sessions = 17\n", 0644);
	ok(settings_load_file(s, path, err, errsize) < 0 && s->max_sessions == 16,
	   "the 17th nested include is refused");
}

static void test_file_missing(struct settings *s, char *err, size_t errsize)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
	ok(settings_load_file(s, path, err, errsize) < 0 && contains(err, "missing.conf"),
	   "missing file: %s", err);
}

/* One settings and one error buffer run through all of these, in order. */
static void test_files(void)
{
	struct settings s;
	char err[4096];

	settings_init(&s);
	test_file_forms(&s, err, sizeof(err));
	test_file_bad_lines(&s, err, sizeof(err));
	test_file_no_effect_options(&s, err, sizeof(err));
	test_file_includes(&s, err, sizeof(err));
	test_file_include_depth(&s, err, sizeof(err));
	test_file_missing(&s, err, sizeof(err));
	settings_free(&s);
}

static void test_user_files(void)
{
	struct settings s;
	char err[4096] = "", home[1024], spool[1024], path[PATH_MAX];
	uid_t me = geteuid();

	snprintf(home, sizeof(home), "%s/home", tmpdir);
	snprintf(spool, sizeof(spool), "%s/spool", tmpdir);
	mkdir(home, 0755);
	mkdir(spool, 0755);
	settings_init(&s);
	ok(settings_apply(&s, "spool-dir", spool, false) == NULL, "spool-dir for the test");

	/* -u: ~/.qpopper-options */
	s.user_options = true;
	ok(settings_load_user_options(&s, "maida", home, me, err, sizeof(err)) == 0,
	   "missing user file is fine (%s)", err);
	snprintf(path, sizeof(path), "%s/.qpopper-options", home);
	write_file("home/.qpopper-options", "set update-on-abort\nset announce-expire = 30\n", 0644);
	ok(settings_load_user_options(&s, "maida", home, me, err, sizeof(err)) == 0 &&
	   s.update_on_abort && s.announce_expire == 30, "user file sets user options (%s)", err);
	write_file("home/.qpopper-options", "set timeout = 5\n", 0644);
	err[0] = '\0';
	ok(settings_load_user_options(&s, "maida", home, me, err, sizeof(err)) < 0 &&
	   contains(err, ".qpopper-options:1:") && contains(err, "user's option file") &&
	   s.timeout == 600, "user file may not set timeout: %s", err);
	write_file("home/.qpopper-options", "set tracefile = /etc/shadow\n", 0644);
	ok(settings_load_user_options(&s, "maida", home, me, err, sizeof(err)) < 0 &&
	   s.tracefile == NULL, "user file may not set tracefile (CVE-2005-1151): %s", err);
	write_file("home/.qpopper-options", "set config-file = /etc/popper/popper.conf\n", 0644);
	ok(settings_load_user_options(&s, "maida", home, me, err, sizeof(err)) < 0,
	   "user file may not include files: %s", err);
	write_file("home/.qpopper-options", "set debug\n", 0644);
	ok(settings_load_user_options(&s, "maida", home, me, err, sizeof(err)) < 0 && !s.debug,
	   "user file may not set debug");
	write_file("home/.qpopper-options", "set update-on-abort\n", 0664);
	ok(settings_load_user_options(&s, "maida", home, me, err, sizeof(err)) < 0 &&
	   contains(err, "group-writable"), "group-writable user file refused: %s", err);
	write_file("home/.qpopper-options", "set update-on-abort\n", 0646);
	ok(settings_load_user_options(&s, "maida", home, me, err, sizeof(err)) < 0,
	   "world-writable user file refused: %s", err);
	unlink(path);
	if (symlink("/etc/passwd", path) == 0)
		ok(settings_load_user_options(&s, "maida", home, me, err, sizeof(err)) < 0,
		   "symlinked user file refused: %s", err);
	unlink(path);
	write_file("home/.qpopper-options", "set update-on-abort\n", 0644);
	if (me == 0 && chown(path, 12345, 12345) < 0)
		printf("# chown: %s\n", strerror(errno));
	/* not root: the file is ours and the user is someone else; root: the
	 * file is 12345's and the user is someone else again */
	ok(settings_load_user_options(&s, "maida", home, me == 0 ? 54321 : me + 1, err, sizeof(err)) < 0 &&
	   contains(err, "neither"), "user file of another owner refused: %s", err);
	unlink(path);
	s.user_options = false;

	/* -U: <spool-dir>/.<user>.qpopper-options, the administrator's */
	s.spool_options = true;
	write_file("spool/.maida.qpopper-options",
		   "set timeout = 45\nset auto-delete\nset statistics\n", 0644);
	ok(settings_load_user_options(&s, "maida", home, me + 1, err, sizeof(err)) == 0 &&
	   s.timeout == 45 && s.auto_delete && s.statistics,
	   "spool file may set site options (%s)", err);
	ok(settings_load_user_options(&s, "maida", home, me, err, sizeof(err)) < 0 &&
	   contains(err, "belongs to the user"), "spool file owned by the user refused: %s", err);
	write_file("spool/.maida.qpopper-options", "set spool-dir = /tmp\n", 0644);
	ok(settings_load_user_options(&s, "maida", home, me + 1, err, sizeof(err)) < 0 &&
	   contains(err, "start-up") && strcmp(s.spool_dir, spool) == 0,
	   "spool file may not move the spool: %s", err);
	write_file("spool/.maida.qpopper-options", "set clear-text-password = always\n", 0644);
	ok(settings_load_user_options(&s, "maida", home, me + 1, err, sizeof(err)) < 0 &&
	   s.cleartext == CLEARTEXT_DEFAULT, "spool file may not change the login policy: %s", err);
	ok(settings_load_user_options(&s, "../x", home, me + 1, err, sizeof(err)) < 0,
	   "invalid user name refused");
	settings_free(&s);
}

static void test_print_and_copy(void)
{
	struct settings s, t, c;
	char err[4096], path[PATH_MAX];
	char *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	FILE *f;

	settings_init(&s);
	settings_apply(&s, "timeout", "99", false);
	settings_apply(&s, "log-login", "a \"quoted\" \\ %1", false);
	settings_apply(&s, "log-facility", "local5", false);
	settings_apply(&s, "clear-text-password", "local", false);
	settings_apply(&s, "announce-expire", "7", false);
	settings_apply(&s, "mail-owner", "vmail", false);
	settings_apply(&s, "debug", NULL, false);

	f = open_memstream(&a, &alen);
	settings_print(&s, f);
	fclose(f);
	ok(contains(a, "set timeout = 99\n") && contains(a, "set log-facility = local5\n") &&
	   contains(a, "set clear-text-password = local\n") && contains(a, "not built yet"),
	   "popper -n output");
	snprintf(path, sizeof(path), "%s", write_file("printed.conf", a, 0644));
	settings_init(&t);
	ok(settings_load_file(&t, path, err, sizeof(err)) == 0, "printed settings load back (%s)", err);
	f = open_memstream(&b, &blen);
	settings_print(&t, f);
	fclose(f);
	is_str(b, a, "and print the same");

	ok(settings_copy(&c, &s) == 0, "settings_copy");
	ok(c.log_login != s.log_login && strcmp(c.log_login, s.log_login) == 0, "strings are copied");
	settings_apply(&c, "log-login", "other", false);
	is_str(s.log_login, "a \"quoted\" \\ %1", "changing the copy leaves the original");
	settings_free(&c);
	settings_free(&t);
	settings_free(&s);
	free(a);
	free(b);
}

/* Strings unset from a default ("" turns them off) print as "" and read
 * back unset: a comment would bring the default back on reading (found by
 * tests/fuzz/fuzz_config: auth-db = "" printed as "not set", read back as
 * the default database, virtual users on again). */
static void test_print_unset_defaults(void)
{
	struct settings s, t;
	char err[4096], path[PATH_MAX];
	char *a = NULL;
	size_t alen = 0;
	FILE *f;

	settings_init(&s);
	ok(settings_apply(&s, "auth-db", "", false) == NULL && s.auth_db == NULL &&
	   settings_apply(&s, "auth-db-owner", "", false) == NULL && s.auth_db_owner == NULL,
	   "auth-db and auth-db-owner unset with \"\"");
	f = open_memstream(&a, &alen);
	settings_print(&s, f);
	fclose(f);
	ok(contains(a, "set auth-db = \"\"\n") && contains(a, "set auth-db-owner = \"\"\n") &&
	   contains(a, "# tracefile is not set\n"),
	   "unset from a default prints as \"\", unset by default as a comment");
	snprintf(path, sizeof(path), "%s", write_file("unset.conf", a, 0644));
	settings_init(&t);
	err[0] = '\0';
	ok(settings_load_file(&t, path, err, sizeof(err)) == 0 && t.auth_db == NULL &&
	   t.auth_db_owner == NULL && t.tracefile == NULL,
	   "and reads back unset (%s)", err);
	settings_free(&t);
	settings_free(&s);
	free(a);
}

static void cleanup(const char *dir)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
}

/* The exact text of every refusal option_apply can give, one per path:
 * the lookup and each admission check here, each option type's parser and
 * the no-effect and not-built rows in test_parse_messages.  These texts
 * reach the administrator (stderr, syslog, FILE:LINE: prefixes), so they
 * are pinned byte for byte. */
static void test_apply_messages(void)
{
	struct settings s;

	settings_init(&s);
	is_str(settings_apply(&s, "no\001such", "1", false),
	       "unknown option \"no\\x01such\" (see popper.conf(5))",
	       "message: unknown option, its name quoted for the log");
	is_str(settings_apply(&s, "max-bulletins", "3", false),
	       "option \"max-bulletins\" needs bulletins, which is not built yet",
	       "message: a row whose feature is not built");
	is_str(settings_apply(&s, "tls-identity-file", "/x", false),
	       "option \"tls-identity-file\" is not supported: it belongs to Certicom SSL Plus; "
	       "popper uses OpenSSL: set tls-server-cert-file and tls-private-key-file",
	       "message: another product's option");
	is_str(settings_apply(&s, "Timeout", NULL, true),
	       "\"reset\" needs a boolean option; \"timeout\" is not one",
	       "message: reset of a number (the row's own spelling)");
	is_str(settings_apply(&s, "timeout", NULL, false),
	       "option \"timeout\" needs a value (set timeout = VALUE)", "message: a value missing");
	is_str(settings_apply(&s, "shy", "yes", true), "\"reset shy\" takes no value",
	       "message: reset with a value");
	settings_free(&s);
}

/* The same for each option type's parser. */
static void test_parse_messages(void)
{
	struct settings s;
	const char *e;

	settings_init(&s);
	is_str(settings_apply(&s, "shy", "maybe", false),
	       "option \"shy\" needs a boolean value (true, false, 1 or 0)", "message: not a boolean");
	is_str(settings_apply(&s, "min-uid", "4294967295", false),
	       "option \"min-uid\" needs a whole number from 0 to 4294967294",
	       "message: a number out of range (unsigned long row)");
	is_str(settings_apply(&s, "announce-expire", "x", false),
	       "option \"announce-expire\" needs a whole number from 0 to 2147483647",
	       "message: an announce value");
	is_str(settings_apply(&s, "spool-dir", "mail", false),
	       "option \"spool-dir\": an absolute path is required", "message: a string of the wrong kind");
	is_str(settings_apply(&s, "pam-service", "pop 3", false),
	       "option \"pam-service\": a PAM service name is letters, digits, '.', '_' and '-'",
	       "message: a PAM service name");
	ok(settings_apply(&s, "pam-service", "pop3.x_y-z", false) == NULL &&
	   strcmp(s.pam_service, "pop3.x_y-z") == 0, "a PAM service name with '.', '_' and '-'");
	is_str(settings_apply(&s, "log-facility", "kern9", false),
	       "option \"log-facility\": unknown facility (mail, daemon, auth, authpriv, user, "
	       "local0 ... local7)", "message: a facility");
	is_str(settings_apply(&s, "clear-text-password", "sometimes", false),
	       "option \"clear-text-password\" is one of default, never, always, local, tls",
	       "message: a clear-text policy");
	e = settings_apply(&s, "tls-support", "sometimes", false);
	if (tls_available())
		is_str(e, "option \"tls-support\" is one of none, stls, alternate-port",
		       "message: a TLS mode");
	else
		is_str(e, "option \"tls-support\" needs TLS support (built without OpenSSL)",
		       "message: a TLS mode without OpenSSL");
	is_str(settings_apply(&s, "chunky-writes", "sometimes", false),
	       "option \"chunky-writes\" has an unknown value", "message: a word not in the list");
	ok(settings_apply(&s, "chunky-writes", "Never", false) == NULL,
	   "a word from the list of a no-effect row is accepted");
	is_str(settings_apply(&s, "chunky-writes", NULL, true),
	       "\"reset\" needs a boolean option; \"chunky-writes\" is not one",
	       "message: reset of a word row");
	ok(settings_apply(&s, "fast-update", NULL, true) == NULL && s.server_mode,
	   "reset of a no-effect boolean is accepted and changes nothing");
	is_str(settings_apply(&s, "mail-lock-check", "1000000001", false),
	       "option \"mail-lock-check\" needs a whole number from 0 to 1000000000",
	       "message: a no-effect row still checks its value");
	is_str(settings_apply(&s, "config-file", "", false), "config-file needs a file name",
	       "message: config-file without a name");
	is_str(settings_apply(&s, "update-status-headers", "maybe", false),
	       "option \"update-status-headers\" needs rewriting Status:/X-UIDL: headers at update, "
	       "which is not built yet", "message: not built, and not a plain false");
#ifdef HAVE_KRB5
	is_str(settings_apply(&s, "kerberos-service", "", false),
	       "option \"kerberos-service\": a name is required", "message: an empty Kerberos service");
	is_str(settings_apply(&s, "kerberos-service", "pop/x", false),
	       "option \"kerberos-service\": a name is letters, digits, '.', '_' and '-'",
	       "message: a Kerberos service name");
#endif
#ifdef HAVE_SASL
	is_str(settings_apply(&s, "sasl-mechanisms", "PLAIN x.y", false),
	       "option \"sasl-mechanisms\": a SASL mechanism name is letters, digits, '-' and '_'",
	       "message: a mechanism name has no '.'");
	ok(settings_apply(&s, "sasl-mechanisms", "SCRAM-SHA-256,CRAM_MD5", false) == NULL,
	   "mechanism names with '-' and '_'");
#endif
	settings_free(&s);
}

int main(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_options.XXXXXX", t != NULL && t[0] == '/' ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		printf("not ok 1 - mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_defaults();
	test_booleans();
	test_numbers();
	test_strings();
	test_mnemonics();
	test_special_rows();
	test_tempdrop_rows();
	test_apply_messages();
	test_parse_messages();
	test_files();
	test_user_files();
	test_print_and_copy();
	test_print_unset_defaults();
	cleanup(tmpdir);
	return tap_done();
}
