/*
 * test_auth: auth/auth.c, the face of auth/ (auth/auth.h), end to end with
 * real libraries: the account policy it applies to every backend (deny and
 * allow lists, uid 0 and min-uid, check-shell, pam_acct_mgmt), the order
 * in which it asks the backends (the user database first for the names it
 * holds, then PAM), PAM logins through the whole stack, and
 * auth_lookup_account.  Real Linux-PAM runs through pam_wrapper +
 * pam_matrix, with nss_wrapper supplying made-up accounts (uids, homes,
 * shells: tests/unit/auth/accounts.h) so getpwnam() sees exactly what a
 * test needs.  What the user-database backend itself decides (passwords,
 * APOP digests, the file rules) is tested in test_auth_userdb.
 *
 * The program runs twice (tests/unit/auth/pamwrap.h): the first run writes
 * passwd/group files and PAM service files into a temporary directory and
 * re-executes itself under the wrappers.  Without the wrappers the tests
 * that need them are skipped with the reason, and the rest run.
 */
#include "config.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"
#include "auth/userdb/userdb.h"
#include "auth/userdb/userdb_write.h"
#include "tests/unit/auth/accounts.h"
#include "tests/unit/auth/testdir.h"
#include "tests/unit/tap.h"

static struct accounts_found found;   /* what this run can rely on */

/* A path in the test directory (valid for the next 63 calls). */
static const char *tpath(const char *name)
{
	return testdir_path(name);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	testdir_write(path, text, strlen(text), mode);
}

static bool contains(const char *hay, const char *needle)
{
	return hay != NULL && strstr(hay, needle) != NULL;
}

/* ---- deny / allow lists -------------------------------------------------- */

static void test_lists(void)
{
	struct auth_config c = accounts_cfg();
	struct auth_user u;
	char reason[256];
	enum auth_result r;
	enum auth_result vok = found.accounts ? AUTH_OK : AUTH_TEMPFAIL;

	write_file(tpath("deny"), "# unwelcome users\nroot\n  vuser \t\r\nsomeone\n", 0644);
	c.deny_file = tpath("deny");
	r = accounts_plain(&c, "vuser", "vsecret", &u, reason);
	is_int(r, AUTH_FAIL, "deny list (with blanks and CR around the name): FAIL");
	is_str(reason, "listed in nonauth-file", "  reason: listed in nonauth-file");
	is_int(accounts_plain(&c, "vuser", "wrong", &u, reason), AUTH_FAIL, "  wrong password too");
	is_str(reason, "wrong password", "  where the reason is the wrong password");
	is_int(accounts_plain(&c, "carol@example.org", "c4r0l", &u, reason), vok,
	       "a name not on the deny list passes");
	write_file(tpath("deny2"), "#vuser\nvuserx\nvuse\n", 0644);
	c.deny_file = tpath("deny2");
	is_int(accounts_plain(&c, "vuser", "vsecret", &u, reason), vok,
	       "comments and near-miss names do not deny");
	c.deny_file = tpath("no-such-deny");
	r = accounts_plain(&c, "vuser", "vsecret", &u, reason);
	is_int(r, AUTH_TEMPFAIL, "missing deny list: TEMPFAIL (cannot tell who is denied)");
	is_str(reason, "nonauth-file unreadable", "  reason says so");
	write_file(tpath("deny-ww"), "nobody\n", 0646);
	chmod(tpath("deny-ww"), 0646);
	c.deny_file = tpath("deny-ww");
	is_int(accounts_plain(&c, "vuser", "vsecret", &u, reason), AUTH_TEMPFAIL,
	       "world-writable deny list: TEMPFAIL");
	c.deny_file = NULL;

	write_file(tpath("allow"), "carol@example.org\nalice\n", 0644);
	c.allow_file = tpath("allow");
	r = accounts_plain(&c, "vuser", "vsecret", &u, reason);
	is_int(r, AUTH_FAIL, "not on the allow list: FAIL");
	is_str(reason, "not listed in auth-file", "  reason: not listed in auth-file");
	is_int(accounts_plain(&c, "carol@example.org", "c4r0l", &u, reason), vok,
	       "on the allow list: passes");
	c.allow_file = tpath("no-such-allow");
	r = accounts_plain(&c, "carol@example.org", "c4r0l", &u, reason);
	is_int(r, AUTH_FAIL, "unreadable allow list fails closed: FAIL");
	is_str(reason, "auth-file unreadable", "  reason says so");
#ifdef HAVE_OPENSSL
	c = accounts_cfg();
	c.deny_file = tpath("deny");
	is_int(auth_verify_apop(&c, "mrose", RFC_TS, RFC_DIGEST, &u, reason, sizeof(reason)), vok,
	       "APOP passes the deny list for names not on it");
	write_file(tpath("deny3"), "mrose\n", 0644);
	c.deny_file = tpath("deny3");
	is_int(auth_verify_apop(&c, "mrose", RFC_TS, RFC_DIGEST, &u, reason, sizeof(reason)),
	       AUTH_FAIL, "APOP honours the deny list");
#else
	tap_skip("built without OpenSSL", "APOP and the deny list");
#endif
}

/* ---- PAM ------------------------------------------------------------------ */

/* Runs fn with stderr (our log) captured into buf. */
static enum auth_result plain_logged(const struct auth_config *c, const char *user,
				     const char *pw, struct auth_user *u, char *reason,
				     char *logbuf, size_t logsize)
{
	int saved = dup(2), fd = open(tpath("log.out"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	enum auth_result r;
	ssize_t n;

	fflush(stderr);
	dup2(fd, 2);
	r = accounts_plain(c, user, pw, u, reason);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, logbuf, logsize - 1, 0);
	logbuf[n > 0 ? n : 0] = '\0';
	close(fd);
	return r;
}

/* The deny and allow lists apply to PAM users too. */
static void pam_lists(void)
{
	struct auth_config c = accounts_cfg();
	struct auth_user u;
	char reason[256];

	c.pam_service = "popper";
	write_file(tpath("deny-pam"), "carl\n", 0644);
	c.deny_file = tpath("deny-pam");
	is_int(accounts_plain(&c, "carl", "carlpw", &u, reason), AUTH_FAIL,
	       "PAM user on the deny list: FAIL");
	is_int(accounts_plain(&c, "alice", "alicepw", &u, reason), AUTH_OK, "  others pass");
	c.deny_file = NULL;
	/* Its own file: test_lists (which writes "allow") needs GDBM. */
	write_file(tpath("allow-pam"), "carol@example.org\nalice\n", 0644);
	c.allow_file = tpath("allow-pam");
	is_int(accounts_plain(&c, "carl", "carlpw", &u, reason), AUTH_FAIL,
	       "PAM user not on the allow list: FAIL");
	is_int(accounts_plain(&c, "alice", "alicepw", &u, reason), AUTH_OK, "  alice is on it: OK");
	c.allow_file = NULL;
}

/* Service faults, the conversation and PAM_RHOST. */
static void pam_services(void)
{
	struct auth_config c = accounts_cfg();
	struct auth_user u;
	char reason[256], logbuf[4096];
	enum auth_result r;

	c.pam_service = "popper-broken";
	r = accounts_plain(&c, "alice", "alicepw", &u, reason);
	is_int(r, AUTH_TEMPFAIL, "PAM cannot reach its data (AUTHINFO_UNAVAIL): TEMPFAIL (%s)", reason);
	c.pam_service = "no-such-service";
	is_int(accounts_plain(&c, "alice", "alicepw", &u, reason), AUTH_TEMPFAIL,
	       "an unknown PAM service (falls back to \"other\"): TEMPFAIL here");
	c.pam_service = "popper-echo";
	is_int(accounts_plain(&c, "echoer", "not-the-name", &u, reason), AUTH_OK,
	       "an echo-on prompt is answered with the user name");
	c.pam_service = "popper-verbose";
	is_int(plain_logged(&c, "noisy", "noisypw", &u, reason, logbuf, sizeof(logbuf)), AUTH_OK,
	       "module info text is ignored: OK");
	r = plain_logged(&c, "noisy", "wrong", &u, reason, logbuf, sizeof(logbuf));
	ok(r == AUTH_FAIL && contains(logbuf, "PAM error message"),
	   "a module's error text goes to the log only");
	ok(!contains(logbuf, "wrong\"") && !contains(logbuf, "noisypw"), "  the log has no password");
	c.pam_service = "popper-rhost";
	if (!found.pam_exec) {
		tap_skip("pam_exec.so not found beside libpam", "PAM_RHOST");
	} else if (accounts_plain(&c, "dora", "dorapw", &u, reason) == AUTH_OK) {
		char got[64] = "";
		FILE *f = fopen(tpath("rhost.sh.out"), "r");

		if (f != NULL) {
			if (fgets(got, sizeof(got), f) == NULL)
				got[0] = '\0';
			fclose(f);
			is_str(got, "192.0.2.7", "PAM_RHOST is the client address");
		} else {
			tap_skip("pam_exec.so did not run", "PAM_RHOST");
		}
	} else {
		ok(0, "PAM_RHOST: the pam_exec service fails (%s)", reason);
	}
}

/* The user database comes first for names it holds; PAM off or alone. */
static void pam_after_userdb(void)
{
	struct auth_config c = accounts_cfg();
	struct auth_user u;
	char reason[256];
	enum auth_result r;

	c.pam_service = "popper";
	if (userdb_available()) {
		char err[512];
		struct userdb *db = userdb_write_open(tpath("pop.auth"), USERDB_WRITE, NULL,
						      err, sizeof(err));

		if (db != NULL) {
			userdb_set_secret(db, "carl", "virtual-carl", 12);
			userdb_close(db);
		}
		is_int(accounts_plain(&c, "carl", "carlpw", &u, reason), AUTH_FAIL,
		       "a name in the database is not tried against PAM");
		r = accounts_plain(&c, "carl", "virtual-carl", &u, reason);
		ok(r == AUTH_OK && u.is_virtual && strcmp(u.account, "vmail") == 0,
		   "  its database secret logs it in as a virtual user");
	} else {
		tap_skip("built without GDBM", "a name in the user database is not tried against PAM");
	}

	c.pam_service = "";
	is_int(accounts_plain(&c, "alice", "alicepw", &u, reason), AUTH_FAIL,
	       "pam-service empty: PAM off");
	c.pam_service = "popper";
	c.userdb_path = NULL;
	is_int(accounts_plain(&c, "alice", "alicepw", &u, reason), AUTH_OK,
	       "no user database: PAM only");
}

static void test_pam(void)
{
	struct auth_config c = accounts_cfg();
	struct auth_user u;
	char reason[256];
	enum auth_result r;

	if (!found.pam || !found.accounts) {
		tap_skip(!found.pam ? found.why_no_pam : found.why_no_accounts, "PAM logins through pam_matrix");
		return;
	}
	c.pam_service = "popper";
	r = accounts_plain(&c, "alice", "alicepw", &u, reason);
	is_int(r, AUTH_OK, "PAM user, right password: OK (%s)", reason);
	ok(strcmp(u.name, "alice") == 0 && !u.is_virtual && strcmp(u.account, "alice") == 0 &&
	   u.uid == 1500 && u.gid == 1500 && strcmp(u.home, "/home/alice") == 0,
	   "  alice, not virtual, her own uid/gid/home");
	r = accounts_plain(&c, "alice", "wrong", &u, reason);
	is_int(r, AUTH_FAIL, "PAM user, wrong password: FAIL");
	ok(contains(reason, "pam_authenticate"), "  reason names the PAM step (%s)", reason);
	is_int(accounts_plain(&c, "ghost", "ghostpw", &u, reason), AUTH_FAIL,
	       "PAM accepts, but no such account: FAIL");
	is_str(reason, "unknown user", "  reason: unknown user");
	is_int(accounts_plain(&c, "nobody-at-all", "x", &u, reason), AUTH_FAIL,
	       "unknown everywhere: FAIL");
	r = accounts_plain(&c, "root", "rootpw", &u, reason);
	is_int(r, AUTH_FAIL, "root with the right password: FAIL");
	is_str(reason, "uid 0 may not log in", "  reason: uid 0");
	c.min_uid = 0;
	is_int(accounts_plain(&c, "root", "rootpw", &u, reason), AUTH_FAIL,
	       "root, even with min-uid 0: FAIL");
	c.min_uid = 1000;
	r = accounts_plain(&c, "sysacct", "syspw", &u, reason);
	is_int(r, AUTH_FAIL, "uid 100 < min-uid 1000: FAIL");
	is_str(reason, "uid below min-uid", "  reason: uid below min-uid");
	r = accounts_plain(&c, "sysacct", "wrong", &u, reason);
	ok(r == AUTH_FAIL && contains(reason, "pam_authenticate"),
	   "  a refused account with a wrong password logs the wrong password (%s)", reason);
	c.min_uid = 100;
	is_int(accounts_plain(&c, "sysacct", "syspw", &u, reason), AUTH_OK,
	       "uid 100 = min-uid 100: OK");
	c.min_uid = 101;
	is_int(accounts_plain(&c, "sysacct", "syspw", &u, reason), AUTH_FAIL,
	       "uid 100 < min-uid 101: FAIL");
	c.min_uid = 1000;

	is_int(accounts_plain(&c, "bob", "bobpw", &u, reason), AUTH_OK, "shell not checked: OK");
	c.check_shell = true;
	r = accounts_plain(&c, "bob", "bobpw", &u, reason);
	is_int(r, AUTH_FAIL, "check-shell, shell not in /etc/shells: FAIL");
	is_str(reason, "login shell not in /etc/shells", "  reason says so");
	is_int(accounts_plain(&c, "alice", "alicepw", &u, reason), AUTH_OK,
	       "check-shell, /bin/sh: OK");
	c.check_shell = false;

	r = accounts_plain(&c, "other", "otherpw", &u, reason);
	is_int(r, AUTH_FAIL, "pam_acct_mgmt refuses (expired, not allowed): FAIL");
	ok(contains(reason, "pam_acct_mgmt"), "  reason names pam_acct_mgmt (%s)", reason);
	pam_lists();
	pam_services();
	pam_after_userdb();
}

static void test_lookup_account(void)
{
	uid_t uid = 0;
	gid_t gid = 0;
	char home[64], small[4];

	if (!found.accounts) {
		tap_skip(found.why_no_accounts, "auth_lookup_account");
		return;
	}
	ok(auth_lookup_account("vmail", &uid, &gid, home, sizeof(home)) == 0 &&
	   uid == 1600 && gid == 1600 && strcmp(home, "/var/vmail") == 0,
	   "auth_lookup_account finds vmail");
	is_int(auth_lookup_account("no-such-account", &uid, &gid, home, sizeof(home)), -1,
	       "an unknown account: -1");
	is_int(auth_lookup_account("vmail", &uid, &gid, small, sizeof(small)), -1,
	       "a home that does not fit: -1");
	is_int(auth_lookup_account("", &uid, &gid, home, sizeof(home)), -1, "empty name: -1");
}

static void run_tests(const char *d, const char *why)
{
	(void)d;   /* testdir() */
	found = accounts_detect(why);
	if (!userdb_available()) {
		tap_skip("built without GDBM", "virtual users");
	} else {
		accounts_make_db();
		test_lists();
	}
	test_pam();
	test_lookup_account();
}

int main(int argc, char **argv)
{
	(void)argc;
	return accounts_main(argv, "test_auth", run_tests, tap_done);
}
