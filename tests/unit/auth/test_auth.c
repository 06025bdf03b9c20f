/*
 * test_auth: auth/auth.h end to end, with real libraries: a real GDBM user
 * database for virtual users (USER/PASS and APOP), and real Linux-PAM driven
 * through pam_wrapper + pam_matrix, with nss_wrapper supplying made-up
 * accounts (uids, homes, shells) so getpwnam() sees exactly what a test
 * needs.
 *
 * The program runs twice (tests/unit/auth/pamwrap.h): the first run writes
 * passwd/group files and PAM service files into a temporary directory and
 * re-executes itself under the wrappers.  Without the wrappers the tests
 * that need them are skipped with the reason, and the rest run.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"
#include "lib/log.h"
#include "auth/userdb/userdb.h"
#include "auth/userdb/userdb_write.h"
#include "tests/unit/auth/pamwrap.h"
#include "tests/unit/auth/testdir.h"
#include "tests/unit/tap.h"

#ifdef HAVE_GDBM
#include <gdbm.h>
#endif

static bool have_accounts;   /* nss_wrapper is active */
static bool have_pam;        /* pam_wrapper is active */
static bool have_pam_exec;   /* Linux-PAM's pam_exec.so, to see PAM_RHOST */
static const char *why_no_accounts = "needs libpam-wrapper and libnss-wrapper (not found)";
static const char *why_no_pam = "needs libpam-wrapper and libnss-wrapper (not found)";

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

/* ---- the made-up accounts and passwords (tests/unit/auth/pamwrap.h) ------- */

static const char passwd_text[] =
	"root:x:0:0:root:/root:/bin/sh\n"
	"sysacct:x:100:100:a system account:/var/sysacct:/bin/sh\n"
	"alice:x:1500:1500:Alice:/home/alice:/bin/sh\n"
	"bob:x:1501:1501:Bob:/home/bob:/nonexistent/not-a-shell\n"
	"carl:x:1502:1502:Carl:/home/carl:/bin/sh\n"
	"other:x:1503:1503:Other:/home/other:/bin/sh\n"
	"echoer:x:1504:1504:Echoer:/home/echoer:/bin/sh\n"
	"noisy:x:1505:1505:Noisy:/home/noisy:/bin/sh\n"
	"dora:x:1506:1506:Dora:/home/dora:/bin/sh\n"
	"vmail:x:1600:1600:virtual mail:/var/vmail:/usr/sbin/nologin\n";
static const char group_text[] =
	"root:x:0:\nsysacct:x:100:\nalice:x:1500:\nbob:x:1501:\ncarl:x:1502:\n"
	"other:x:1503:\nechoer:x:1504:\nnoisy:x:1505:\ndora:x:1506:\nvmail:x:1600:\n";
/* pam_matrix: user:password:the service whose account stack accepts them.
 * "ghost" has a password but no account; "other" may not use popper. */
static const char passdb_text[] =
	"root:rootpw:popper\nsysacct:syspw:popper\nalice:alicepw:popper\n"
	"bob:bobpw:popper\ncarl:carlpw:popper\nghost:ghostpw:popper\n"
	"other:otherpw:some-other-service\n"
	"echoer:echoer:popper-echo\nnoisy:noisypw:popper-verbose\n"
	"dora:dorapw:popper-rhost\n";

/* ---- helpers for the checks ---------------------------------------------- */

static struct auth_config base_cfg(void)
{
	struct auth_config c;

	static char db_path[600];

	memset(&c, 0, sizeof(c));
	snprintf(db_path, sizeof(db_path), "%s", tpath("pop.auth"));
	c.userdb_path = db_path;
	c.mail_owner = "vmail";
	c.min_uid = 1000;
	c.client_addr = "192.0.2.7";
	return c;
}

static enum auth_result plain(const struct auth_config *c, const char *user,
			      const char *pw, struct auth_user *u, char *reason)
{
	return auth_verify_plain(c, user, pw, u, reason, 256);
}

static void make_db(void)
{
	char err[512];
	struct userdb *db = userdb_write_open(tpath("pop.auth"), USERDB_CREATE, NULL, err, sizeof(err));

	if (db == NULL) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	userdb_set_secret(db, "vuser", "vsecret", 7);
	userdb_set_secret(db, "mrose", "tanstaaf", 8);   /* RFC 1939's APOP example */
	userdb_set_secret(db, "carol@example.org", "c4r0l", 5);
	userdb_close(db);
}

/* ---- virtual users ------------------------------------------------------- */

static void test_virtual_plain(void)
{
	struct auth_config c = base_cfg();
	struct auth_user u;
	char reason[256];
	enum auth_result r;

	if (!have_accounts) {
		tap_skip(why_no_accounts, "virtual user login (needs the mail-owner account)");
	} else {
		r = plain(&c, "vuser", "vsecret", &u, reason);
		is_int(r, AUTH_OK, "virtual user, right password: OK (%s)", reason);
		ok(strcmp(u.name, "vuser") == 0 && u.is_virtual && strcmp(u.account, "vmail") == 0,
		   "  logs in as vuser, virtual, running as vmail");
		ok(u.uid == 1600 && u.gid == 1600 && strcmp(u.home, "/var/vmail") == 0,
		   "  with vmail's uid, gid and home");
		is_int(plain(&c, "carol@example.org", "c4r0l", &u, reason), AUTH_OK,
		       "virtual name with a domain");
	}
	r = plain(&c, "vuser", "wrong", &u, reason);
	is_int(r, AUTH_FAIL, "virtual user, wrong password: FAIL");
	is_str(reason, "wrong password", "  reason: wrong password");
	ok(u.name[0] == '\0' && u.uid == 0, "  and user_r stays empty");
	is_int(plain(&c, "vuser", "vsecre", &u, reason), AUTH_FAIL, "a prefix of the secret fails");
	is_int(plain(&c, "vuser", "vsecretx", &u, reason), AUTH_FAIL, "the secret plus a byte fails");
	is_int(plain(&c, "vuser", "", &u, reason), AUTH_FAIL, "empty password fails");
	is_int(plain(&c, "vuser", NULL, &u, reason), AUTH_FAIL, "NULL password fails");
	r = plain(&c, "nosuchuser", "vsecret", &u, reason);
	is_int(r, AUTH_FAIL, "unknown user (PAM off): FAIL");
	is_str(reason, "unknown user", "  reason: unknown user");
	is_int(plain(&c, "bad/name", "x", &u, reason), AUTH_FAIL, "invalid name: FAIL");
	is_int(plain(&c, NULL, "x", &u, reason), AUTH_FAIL, "NULL name: FAIL");
	{
		char longpw[600];

		memset(longpw, 'p', sizeof(longpw) - 1);
		longpw[sizeof(longpw) - 1] = '\0';
		is_int(plain(&c, "vuser", longpw, &u, reason), AUTH_FAIL, "a 599-byte password fails");
	}

	/* mail-owner problems are the administrator's: TEMPFAIL, but only once
	 * the secret was right, so they reveal nothing to a guesser. */
	c.mail_owner = NULL;
	is_int(plain(&c, "vuser", "vsecret", &u, reason), AUTH_TEMPFAIL,
	       "no mail-owner configured: TEMPFAIL");
	is_str(reason, "no mail-owner configured", "  reason says so");
	is_int(plain(&c, "vuser", "wrong", &u, reason), AUTH_FAIL,
	       "  but a wrong password is still a plain FAIL");
	if (have_accounts) {
		c.mail_owner = "no-such-account";
		is_int(plain(&c, "vuser", "vsecret", &u, reason), AUTH_TEMPFAIL,
		       "mail-owner that does not exist: TEMPFAIL");
		c.mail_owner = "root";
		is_int(plain(&c, "vuser", "vsecret", &u, reason), AUTH_FAIL,
		       "mail-owner root: refused");
		c.mail_owner = "sysacct";
		is_int(plain(&c, "vuser", "vsecret", &u, reason), AUTH_OK,
		       "mail-owner below min-uid is fine (chosen by the administrator)");
	} else {
		tap_skip(why_no_accounts, "mail-owner account checks");
	}

	c = base_cfg();
	c.userdb_path = tpath("missing.auth");
	r = plain(&c, "vuser", "vsecret", &u, reason);
	is_int(r, AUTH_FAIL, "missing database file: no virtual users");
	c.userdb_path = NULL;
	is_int(plain(&c, "vuser", "vsecret", &u, reason), AUTH_FAIL, "no database configured: FAIL");
}

static void test_damaged_db(void)
{
	struct auth_config c = base_cfg();
	struct auth_user u;
	char reason[256], buf[4096];
	size_t i;
	int fd;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 37 + 11);
	fd = open(tpath("noise.auth"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			perror("write");
		close(fd);
	}
	c.userdb_path = tpath("noise.auth");
	is_int(plain(&c, "vuser", "vsecret", &u, reason), AUTH_TEMPFAIL,
	       "a database that is not GDBM: TEMPFAIL, never a fall-through to PAM");
	is_str(reason, "user database error", "  reason: user database error");
	ok(!auth_user_has_secret(&c, "vuser"), "  and nobody has a secret");

	chmod(tpath("pop.auth"), 0644);
	c = base_cfg();
	is_int(plain(&c, "vuser", "vsecret", &u, reason), AUTH_PERMFAIL,
	       "a world-readable database is refused: PERMFAIL (the administrator must act)");
	chmod(tpath("pop.auth"), 0600);

	/* A record that does not parse is an error for that user, not
	 * "unknown" (which would fall through to PAM). */
#ifdef HAVE_GDBM
	{
		GDBM_FILE f = gdbm_open(tpath("pop.auth"), 0, GDBM_WRITER, 0600, NULL);
		datum k = { (char *)"damaged", 7 }, v = { (char *)"garbage", 7 };

		if (f != NULL) {
			gdbm_store(f, k, v, GDBM_REPLACE);
			gdbm_close(f);
		}
		c = base_cfg();
		c.pam_service = "popper";
		is_int(plain(&c, "damaged", "x", &u, reason), AUTH_TEMPFAIL,
		       "a damaged record: TEMPFAIL, not a fall-through to PAM");
		ok(!auth_user_has_secret(&c, "damaged"), "  and it has no usable secret");
	}
#endif
}

/* RFC 1939 section 7: APOP mrose c4c9334bac560ecc979e58001b3e22fb for the
 * timestamp below and the secret "tanstaaf". */
#define RFC_TS "<1896.697170952@dbc.mtview.ca.us>"
#define RFC_DIGEST "c4c9334bac560ecc979e58001b3e22fb"

static void test_apop(void)
{
	struct auth_config c = base_cfg();
	struct auth_user u;
	char reason[256];
	enum auth_result r;

#ifndef HAVE_OPENSSL
	ok(!auth_apop_available(&c), "without OpenSSL APOP is unavailable");
	is_int(auth_verify_apop(&c, "mrose", RFC_TS, RFC_DIGEST, &u, reason, sizeof(reason)),
	       AUTH_FAIL, "  and fails");
	tap_skip("built without OpenSSL", "APOP digests (RFC 1939's example, wrong digest, replay)");
	return;
#endif
	ok(auth_apop_available(&c), "APOP available with a user database");
	c.userdb_path = NULL;
	ok(!auth_apop_available(&c), "APOP unavailable without a user database");
	is_int(auth_verify_apop(&c, "mrose", RFC_TS, RFC_DIGEST, &u, reason, sizeof(reason)),
	       AUTH_FAIL, "  and fails");
	c = base_cfg();

	if (have_accounts) {
		r = auth_verify_apop(&c, "mrose", RFC_TS, RFC_DIGEST, &u, reason, sizeof(reason));
		is_int(r, AUTH_OK, "APOP with RFC 1939's example: OK (%s)", reason);
		ok(u.is_virtual && strcmp(u.name, "mrose") == 0 && strcmp(u.account, "vmail") == 0,
		   "  mrose, virtual, as vmail");
		is_int(auth_verify_apop(&c, "mrose", RFC_TS, "C4C9334BAC560ECC979E58001B3E22FB",
					&u, reason, sizeof(reason)),
		       AUTH_OK, "upper-case digest: OK");
		is_int(auth_verify_apop(&c, "mrose", RFC_TS, "C4c9334Bac560ecc979e58001b3e22fB",
					&u, reason, sizeof(reason)),
		       AUTH_OK, "mixed-case digest: OK");
	} else {
		tap_skip(why_no_accounts, "APOP success (needs the mail-owner account)");
	}
	r = auth_verify_apop(&c, "mrose", RFC_TS, "c4c9334bac560ecc979e58001b3e22fc", &u, reason,
			     sizeof(reason));
	is_int(r, AUTH_FAIL, "APOP, last digit wrong: FAIL");
	is_str(reason, "wrong digest", "  reason: wrong digest");
	is_int(auth_verify_apop(&c, "mrose", "<1896.697170953@dbc.mtview.ca.us>", RFC_DIGEST, &u,
				reason, sizeof(reason)),
	       AUTH_FAIL, "APOP, another timestamp: FAIL (no replay)");
	r = auth_verify_apop(&c, "mrose", RFC_TS, "c4c9334bac560ecc979e58001b3e22f", &u, reason,
			     sizeof(reason));
	is_int(r, AUTH_FAIL, "31 hex digits: FAIL");
	is_str(reason, "malformed digest", "  reason: malformed digest");
	is_int(auth_verify_apop(&c, "mrose", RFC_TS, "c4c9334bac560ecc979e58001b3e22fbb", &u,
				reason, sizeof(reason)),
	       AUTH_FAIL, "33 hex digits: FAIL");
	is_int(auth_verify_apop(&c, "mrose", RFC_TS, "c4c9334bac560ecc979e58001b3e22fg", &u,
				reason, sizeof(reason)),
	       AUTH_FAIL, "a non-hex digit: FAIL");
	is_int(auth_verify_apop(&c, "mrose", RFC_TS, " 4c9334bac560ecc979e58001b3e22fb", &u,
				reason, sizeof(reason)),
	       AUTH_FAIL, "a space in the digest: FAIL");
	is_int(auth_verify_apop(&c, "mrose", RFC_TS, "", &u, reason, sizeof(reason)),
	       AUTH_FAIL, "empty digest: FAIL");
	is_int(auth_verify_apop(&c, "mrose", RFC_TS, NULL, &u, reason, sizeof(reason)),
	       AUTH_FAIL, "NULL digest: FAIL");
	r = auth_verify_apop(&c, "nosuchuser", RFC_TS, RFC_DIGEST, &u, reason, sizeof(reason));
	is_int(r, AUTH_FAIL, "APOP for an unknown user: FAIL");
	is_str(reason, "unknown user", "  reason: unknown user");
	is_int(auth_verify_apop(&c, "alice", RFC_TS, RFC_DIGEST, &u, reason, sizeof(reason)),
	       AUTH_FAIL, "APOP for a system (PAM) user: FAIL");
	is_int(auth_verify_apop(&c, "bad name", RFC_TS, RFC_DIGEST, &u, reason, sizeof(reason)),
	       AUTH_FAIL, "APOP with an invalid name: FAIL");
	c.mail_owner = NULL;
	is_int(auth_verify_apop(&c, "mrose", RFC_TS, RFC_DIGEST, &u, reason, sizeof(reason)),
	       AUTH_TEMPFAIL, "APOP, right digest but no mail-owner: TEMPFAIL");
}

static void test_has_secret(void)
{
	struct auth_config c = base_cfg();

	ok(auth_user_has_secret(&c, "vuser"), "vuser has a stored secret");
	ok(!auth_user_has_secret(&c, "alice"), "alice has none");
	ok(!auth_user_has_secret(&c, "../x"), "an invalid name has none");
	c.userdb_path = tpath("missing.auth");
	ok(!auth_user_has_secret(&c, "vuser"), "no database file: nobody has one");
	c.userdb_path = NULL;
	ok(!auth_user_has_secret(&c, "vuser"), "no database configured: nobody has one");
}

/* The server's rule for the database file: owner root, auth-db-owner or
 * ourselves; mode exactly 0600; no symlink; one link.  Anything else is a
 * permanent failure for every name alike. */
static void test_db_file_rules(void)
{
	struct auth_config c = base_cfg();
	struct auth_user u;
	char reason[256];
	bool has = true;
	static const mode_t bad_modes[] = { 0640, 0604, 0400, 0700, 04600, 0660 };
	size_t i;

	for (i = 0; i < sizeof(bad_modes) / sizeof(bad_modes[0]); i++) {
		chmod(tpath("pop.auth"), bad_modes[i]);
		is_int(plain(&c, "vuser", "vsecret", &u, reason), AUTH_PERMFAIL,
		       "database mode %04o: PERMFAIL", (unsigned)bad_modes[i]);
	}
	chmod(tpath("pop.auth"), 0640);
	is_int(plain(&c, "nosuchuser", "x", &u, reason), AUTH_PERMFAIL,
	       "  the same for a name that is not in it (nothing to learn about names)");
	is_int(auth_check_secret(&c, "vuser", &has), AUTH_PERMFAIL,
	       "  auth_check_secret says PERMFAIL too");
	ok(!auth_user_has_secret(&c, "vuser"), "  and auth_user_has_secret says no");
	chmod(tpath("pop.auth"), 0600);
	is_int(auth_check_secret(&c, "vuser", &has), AUTH_OK, "mode 0600 again: OK");
	ok(has, "  vuser has a secret");

	if (symlink(tpath("pop.auth"), tpath("link.auth")) == 0) {
		c.userdb_path = tpath("link.auth");
		is_int(plain(&c, "vuser", "vsecret", &u, reason), AUTH_PERMFAIL,
		       "a symlink to a good database: PERMFAIL");
		c = base_cfg();
	}
	if (link(tpath("pop.auth"), tpath("hard.auth")) == 0) {
		is_int(plain(&c, "vuser", "vsecret", &u, reason), AUTH_PERMFAIL,
		       "a database with two links: PERMFAIL");
		unlink(tpath("hard.auth"));
	}
	if (geteuid() == 0) {
		if (chown(tpath("pop.auth"), 4321, 4321) == 0) {
			is_int(plain(&c, "vuser", "vsecret", &u, reason), AUTH_PERMFAIL,
			       "owned by another uid: PERMFAIL");
			if (have_accounts) {
				if (chown(tpath("pop.auth"), 1600, 1600) != 0)
					perror("chown");
				c.userdb_owner = "vmail";
				is_int(plain(&c, "vuser", "vsecret", &u, reason), AUTH_OK,
				       "owned by the auth-db-owner account: OK (%s)", reason);
				c.userdb_owner = "alice";
				is_int(plain(&c, "vuser", "vsecret", &u, reason), AUTH_PERMFAIL,
				       "  but not when auth-db-owner names someone else");
				c.userdb_owner = "no-such-account";
				is_int(plain(&c, "vuser", "vsecret", &u, reason), AUTH_PERMFAIL,
				       "  nor when auth-db-owner does not exist");
				c = base_cfg();
			} else {
				tap_skip(why_no_accounts, "owned by the auth-db-owner account");
			}
			if (chown(tpath("pop.auth"), 0, 0) != 0)
				perror("chown");
		}
	} else {
		tap_skip("needs root to chown", "database owned by another uid");
	}
}

/* APOP with the secret of a system entry (popauth, Qpopper import): the
 * system account of that name logs in, under the system-account policy;
 * USER/PASS for such a name is PAM's business, not the APOP secret's. */
static void test_system_apop(void)
{
	struct auth_config c = base_cfg();
	struct userdb_entry e;
	struct auth_user u;
	struct userdb *db;
	char err[512], reason[256];
	bool has = false;
	static const struct {
		const char *name, *secret;
	} sys[] = {
		{ "dora", "tanstaaf" }, { "sysacct", "tanstaaf" }, { "ghost", "tanstaaf" },
		{ "bob", "tanstaaf" }, { "root", "tanstaaf" }, { "other", NULL },
	};
	size_t i;

#ifndef HAVE_OPENSSL
	tap_skip("built without OpenSSL", "APOP for system entries");
	return;
#endif
	db = userdb_write_open(tpath("sys.auth"), USERDB_CREATE, NULL, err, sizeof(err));
	if (db == NULL) {
		ok(0, "create sys.auth: %s", err);
		return;
	}
	for (i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
		memset(&e, 0, sizeof(e));
		e.kind = USERDB_SYSTEM;
		if (sys[i].secret != NULL) {
			e.secret_len = strlen(sys[i].secret);
			memcpy(e.secret, sys[i].secret, e.secret_len);
		}
		userdb_put_entry(db, sys[i].name, &e);
	}
	userdb_set_secret(db, "mrose", "tanstaaf", 8);   /* a virtual one beside them */
	userdb_close(db);
	c.userdb_path = tpath("sys.auth");

	if (have_accounts) {
		is_int(auth_verify_apop(&c, "dora", RFC_TS, RFC_DIGEST, &u, reason, sizeof(reason)),
		       AUTH_OK, "APOP for a system entry: OK (%s)", reason);
		ok(!u.is_virtual && strcmp(u.account, "dora") == 0 && u.uid == 1506 &&
		   strcmp(u.home, "/home/dora") == 0,
		   "  logs in the system account dora (uid 1506), not as mail-owner");
		is_int(auth_verify_apop(&c, "mrose", RFC_TS, RFC_DIGEST, &u, reason, sizeof(reason)),
		       AUTH_OK, "a virtual entry beside it still runs as mail-owner");
		ok(u.is_virtual && strcmp(u.account, "vmail") == 0, "  (mrose as vmail)");
		is_int(auth_verify_apop(&c, "sysacct", RFC_TS, RFC_DIGEST, &u, reason,
					sizeof(reason)),
		       AUTH_FAIL, "system entry below min-uid: FAIL");
		is_str(reason, "uid below min-uid", "  reason: uid below min-uid");
		is_int(auth_verify_apop(&c, "root", RFC_TS, RFC_DIGEST, &u, reason, sizeof(reason)),
		       AUTH_FAIL, "system entry for root: FAIL");
		c.check_shell = true;
		is_int(auth_verify_apop(&c, "bob", RFC_TS, RFC_DIGEST, &u, reason, sizeof(reason)),
		       AUTH_FAIL, "check-shell applies to APOP logins too");
		c.check_shell = false;
	} else {
		tap_skip(why_no_accounts, "APOP logs in the system account");
	}
	is_int(auth_verify_apop(&c, "ghost", RFC_TS, RFC_DIGEST, &u, reason, sizeof(reason)),
	       AUTH_FAIL, "system entry without an account: FAIL");
	is_int(auth_verify_apop(&c, "dora", RFC_TS, "c4c9334bac560ecc979e58001b3e22fc", &u,
				reason, sizeof(reason)),
	       AUTH_FAIL, "system entry, wrong digest: FAIL");
	is_str(reason, "wrong digest", "  reason: wrong digest");
	is_int(auth_verify_apop(&c, "other", RFC_TS, RFC_DIGEST, &u, reason, sizeof(reason)),
	       AUTH_FAIL, "an entry with APOP turned off (\"*\"): FAIL");
	is_str(reason, "APOP turned off for this user", "  reason says so");
	is_int(plain(&c, "dora", "tanstaaf", &u, reason), AUTH_FAIL,
	       "USER/PASS with the APOP secret of a system entry: FAIL (not a password)");
	ok(auth_check_secret(&c, "dora", &has) == AUTH_OK && has,
	   "a system entry with a secret counts for the \"default\" policy");
	ok(auth_check_secret(&c, "other", &has) == AUTH_OK && !has,
	   "  one with APOP turned off does not");
}

/* ---- deny / allow lists -------------------------------------------------- */

static void test_lists(void)
{
	struct auth_config c = base_cfg();
	struct auth_user u;
	char reason[256];
	enum auth_result r;
	enum auth_result vok = have_accounts ? AUTH_OK : AUTH_TEMPFAIL;

	write_file(tpath("deny"), "# unwelcome users\nroot\n  vuser \t\r\nsomeone\n", 0644);
	c.deny_file = tpath("deny");
	r = plain(&c, "vuser", "vsecret", &u, reason);
	is_int(r, AUTH_FAIL, "deny list (with blanks and CR around the name): FAIL");
	is_str(reason, "listed in nonauth-file", "  reason: listed in nonauth-file");
	is_int(plain(&c, "vuser", "wrong", &u, reason), AUTH_FAIL, "  wrong password too");
	is_str(reason, "wrong password", "  where the reason is the wrong password");
	is_int(plain(&c, "carol@example.org", "c4r0l", &u, reason), vok,
	       "a name not on the deny list passes");
	write_file(tpath("deny2"), "#vuser\nvuserx\nvuse\n", 0644);
	c.deny_file = tpath("deny2");
	is_int(plain(&c, "vuser", "vsecret", &u, reason), vok,
	       "comments and near-miss names do not deny");
	c.deny_file = tpath("no-such-deny");
	r = plain(&c, "vuser", "vsecret", &u, reason);
	is_int(r, AUTH_TEMPFAIL, "missing deny list: TEMPFAIL (cannot tell who is denied)");
	is_str(reason, "nonauth-file unreadable", "  reason says so");
	write_file(tpath("deny-ww"), "nobody\n", 0646);
	chmod(tpath("deny-ww"), 0646);
	c.deny_file = tpath("deny-ww");
	is_int(plain(&c, "vuser", "vsecret", &u, reason), AUTH_TEMPFAIL,
	       "world-writable deny list: TEMPFAIL");
	c.deny_file = NULL;

	write_file(tpath("allow"), "carol@example.org\nalice\n", 0644);
	c.allow_file = tpath("allow");
	r = plain(&c, "vuser", "vsecret", &u, reason);
	is_int(r, AUTH_FAIL, "not on the allow list: FAIL");
	is_str(reason, "not listed in auth-file", "  reason: not listed in auth-file");
	is_int(plain(&c, "carol@example.org", "c4r0l", &u, reason), vok,
	       "on the allow list: passes");
	c.allow_file = tpath("no-such-allow");
	r = plain(&c, "carol@example.org", "c4r0l", &u, reason);
	is_int(r, AUTH_FAIL, "unreadable allow list fails closed: FAIL");
	is_str(reason, "auth-file unreadable", "  reason says so");
#ifdef HAVE_OPENSSL
	c = base_cfg();
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
	r = plain(c, user, pw, u, reason);
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
	struct auth_config c = base_cfg();
	struct auth_user u;
	char reason[256];

	c.pam_service = "popper";
	write_file(tpath("deny-pam"), "carl\n", 0644);
	c.deny_file = tpath("deny-pam");
	is_int(plain(&c, "carl", "carlpw", &u, reason), AUTH_FAIL, "PAM user on the deny list: FAIL");
	is_int(plain(&c, "alice", "alicepw", &u, reason), AUTH_OK, "  others pass");
	c.deny_file = NULL;
	/* Its own file: test_lists (which writes "allow") needs GDBM. */
	write_file(tpath("allow-pam"), "carol@example.org\nalice\n", 0644);
	c.allow_file = tpath("allow-pam");
	is_int(plain(&c, "carl", "carlpw", &u, reason), AUTH_FAIL, "PAM user not on the allow list: FAIL");
	is_int(plain(&c, "alice", "alicepw", &u, reason), AUTH_OK, "  alice is on it: OK");
	c.allow_file = NULL;
}

/* Service faults, the conversation and PAM_RHOST. */
static void pam_services(void)
{
	struct auth_config c = base_cfg();
	struct auth_user u;
	char reason[256], logbuf[4096];
	enum auth_result r;

	c.pam_service = "popper-broken";
	r = plain(&c, "alice", "alicepw", &u, reason);
	is_int(r, AUTH_TEMPFAIL, "PAM cannot reach its data (AUTHINFO_UNAVAIL): TEMPFAIL (%s)", reason);
	c.pam_service = "no-such-service";
	is_int(plain(&c, "alice", "alicepw", &u, reason), AUTH_TEMPFAIL,
	       "an unknown PAM service (falls back to \"other\"): TEMPFAIL here");
	c.pam_service = "popper-echo";
	is_int(plain(&c, "echoer", "not-the-name", &u, reason), AUTH_OK,
	       "an echo-on prompt is answered with the user name");
	c.pam_service = "popper-verbose";
	is_int(plain_logged(&c, "noisy", "noisypw", &u, reason, logbuf, sizeof(logbuf)), AUTH_OK,
	       "module info text is ignored: OK");
	r = plain_logged(&c, "noisy", "wrong", &u, reason, logbuf, sizeof(logbuf));
	ok(r == AUTH_FAIL && contains(logbuf, "PAM error message"),
	   "a module's error text goes to the log only");
	ok(!contains(logbuf, "wrong\"") && !contains(logbuf, "noisypw"), "  the log has no password");
	c.pam_service = "popper-rhost";
	if (!have_pam_exec) {
		tap_skip("pam_exec.so not found beside libpam", "PAM_RHOST");
	} else if (plain(&c, "dora", "dorapw", &u, reason) == AUTH_OK) {
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
	struct auth_config c = base_cfg();
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
		is_int(plain(&c, "carl", "carlpw", &u, reason), AUTH_FAIL,
		       "a name in the database is not tried against PAM");
		r = plain(&c, "carl", "virtual-carl", &u, reason);
		ok(r == AUTH_OK && u.is_virtual && strcmp(u.account, "vmail") == 0,
		   "  its database secret logs it in as a virtual user");
	} else {
		tap_skip("built without GDBM", "a name in the user database is not tried against PAM");
	}

	c.pam_service = "";
	is_int(plain(&c, "alice", "alicepw", &u, reason), AUTH_FAIL, "pam-service empty: PAM off");
	c.pam_service = "popper";
	c.userdb_path = NULL;
	is_int(plain(&c, "alice", "alicepw", &u, reason), AUTH_OK, "no user database: PAM only");
}

static void test_pam(void)
{
	struct auth_config c = base_cfg();
	struct auth_user u;
	char reason[256];
	enum auth_result r;

	if (!have_pam || !have_accounts) {
		tap_skip(!have_pam ? why_no_pam : why_no_accounts, "PAM logins through pam_matrix");
		return;
	}
	c.pam_service = "popper";
	r = plain(&c, "alice", "alicepw", &u, reason);
	is_int(r, AUTH_OK, "PAM user, right password: OK (%s)", reason);
	ok(strcmp(u.name, "alice") == 0 && !u.is_virtual && strcmp(u.account, "alice") == 0 &&
	   u.uid == 1500 && u.gid == 1500 && strcmp(u.home, "/home/alice") == 0,
	   "  alice, not virtual, her own uid/gid/home");
	r = plain(&c, "alice", "wrong", &u, reason);
	is_int(r, AUTH_FAIL, "PAM user, wrong password: FAIL");
	ok(contains(reason, "pam_authenticate"), "  reason names the PAM step (%s)", reason);
	is_int(plain(&c, "ghost", "ghostpw", &u, reason), AUTH_FAIL,
	       "PAM accepts, but no such account: FAIL");
	is_str(reason, "unknown user", "  reason: unknown user");
	is_int(plain(&c, "nobody-at-all", "x", &u, reason), AUTH_FAIL, "unknown everywhere: FAIL");
	r = plain(&c, "root", "rootpw", &u, reason);
	is_int(r, AUTH_FAIL, "root with the right password: FAIL");
	is_str(reason, "uid 0 may not log in", "  reason: uid 0");
	c.min_uid = 0;
	is_int(plain(&c, "root", "rootpw", &u, reason), AUTH_FAIL, "root, even with min-uid 0: FAIL");
	c.min_uid = 1000;
	r = plain(&c, "sysacct", "syspw", &u, reason);
	is_int(r, AUTH_FAIL, "uid 100 < min-uid 1000: FAIL");
	is_str(reason, "uid below min-uid", "  reason: uid below min-uid");
	r = plain(&c, "sysacct", "wrong", &u, reason);
	ok(r == AUTH_FAIL && contains(reason, "pam_authenticate"),
	   "  a refused account with a wrong password logs the wrong password (%s)", reason);
	c.min_uid = 100;
	is_int(plain(&c, "sysacct", "syspw", &u, reason), AUTH_OK, "uid 100 = min-uid 100: OK");
	c.min_uid = 101;
	is_int(plain(&c, "sysacct", "syspw", &u, reason), AUTH_FAIL, "uid 100 < min-uid 101: FAIL");
	c.min_uid = 1000;

	is_int(plain(&c, "bob", "bobpw", &u, reason), AUTH_OK, "shell not checked: OK");
	c.check_shell = true;
	r = plain(&c, "bob", "bobpw", &u, reason);
	is_int(r, AUTH_FAIL, "check-shell, shell not in /etc/shells: FAIL");
	is_str(reason, "login shell not in /etc/shells", "  reason says so");
	is_int(plain(&c, "alice", "alicepw", &u, reason), AUTH_OK, "check-shell, /bin/sh: OK");
	c.check_shell = false;

	r = plain(&c, "other", "otherpw", &u, reason);
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

	if (!have_accounts) {
		tap_skip(why_no_accounts, "auth_lookup_account");
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
	struct passwd *pw;

	(void)d;   /* testdir() */
	if (why != NULL)
		why_no_pam = why_no_accounts = why;
	pw = getpwnam("vmail");

	have_accounts = pw != NULL && pw->pw_uid == 1600;
	have_pam_exec = getenv("POPPER_TEST_PAM_EXEC") != NULL;
	if (getenv(PAMWRAP_ENV_DIR) != NULL && !have_accounts)
		why_no_accounts = "nss_wrapper did not take effect";
#ifdef HAVE_PAM
	have_pam = dlopen("libpam_wrapper.so", RTLD_LAZY | RTLD_NOLOAD) != NULL;
	if (getenv(PAMWRAP_ENV_DIR) != NULL && !have_pam)
		why_no_pam = "pam_wrapper did not take effect";
#else
	why_no_pam = "built without PAM";
#endif
	if (!userdb_available()) {
		tap_skip("built without GDBM", "virtual users");
	} else {
		make_db();
		test_virtual_plain();
		test_apop();
		test_has_secret();
		test_lists();
		test_damaged_db();
		test_db_file_rules();
		test_system_apop();
	}
	test_pam();
	test_lookup_account();
}

int main(int argc, char **argv)
{
	static const struct pamwrap_setup setup = {
		"test_auth", passwd_text, group_text, passdb_text, run_tests,
	};

	(void)argc;
	log_open("test_auth", LOG_USER, LOG_TO_STDERR);
	umask(022);
	return pamwrap_main(argv, &setup, tap_done);
}
