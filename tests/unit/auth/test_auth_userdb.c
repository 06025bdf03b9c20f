/*
 * test_auth_userdb: auth/auth_userdb.c, the user-database backend, through
 * the face of auth/ (auth/auth.h) and a real GDBM database: the virtual
 * users' passwords and the mail-owner they run as, APOP digests against the
 * stored secrets (RFC 1939's example, malformed and wrong digests, replay),
 * the APOP secrets of system entries, which names have a secret, and the
 * rules the database file must meet (owner, mode, links, a file that is
 * not GDBM, a damaged record), and with PAM off the time of a failure: an
 * unknown name costs what a virtual user's wrong password costs.  The
 * account policy around the backends is auth.c's and is tested in
 * test_auth.
 *
 * Runs under the wrappers as test_auth does (tests/unit/auth/pamwrap.h,
 * tests/unit/auth/accounts.h): the virtual users need the mail-owner
 * account and the system entries need their system accounts.  Without the
 * wrappers the checks that need an account are skipped with the reason.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "auth/userdb/userdb.h"
#include "auth/userdb/userdb_write.h"
#include "tests/unit/auth/accounts.h"
#include "tests/unit/auth/testdir.h"
#include "tests/unit/auth/userdb/userdb_fixture.h"
#include "tests/unit/tap.h"

static struct accounts_found found;   /* what this run can rely on */

/* ---- virtual users ------------------------------------------------------- */

static void test_virtual_plain(void)
{
	struct auth_config c = accounts_cfg();
	struct auth_user u;
	char reason[256];
	enum auth_result r;

	if (!found.accounts) {
		tap_skip(found.why_no_accounts, "virtual user login (needs the mail-owner account)");
	} else {
		r = accounts_plain(&c, "vuser", "vsecret", &u, reason);
		is_int(r, AUTH_OK, "virtual user, right password: OK (%s)", reason);
		ok(strcmp(u.name, "vuser") == 0 && u.is_virtual && strcmp(u.account, "vmail") == 0,
		   "  logs in as vuser, virtual, running as vmail");
		ok(u.uid == 1600 && u.gid == 1600 && strcmp(u.home, "/var/vmail") == 0,
		   "  with vmail's uid, gid and home");
		is_int(accounts_plain(&c, "carol@example.org", "c4r0l", &u, reason), AUTH_OK,
		       "virtual name with a domain");
	}
	r = accounts_plain(&c, "vuser", "wrong", &u, reason);
	is_int(r, AUTH_FAIL, "virtual user, wrong password: FAIL");
	is_str(reason, "wrong password", "  reason: wrong password");
	ok(u.name[0] == '\0' && u.uid == 0, "  and user_r stays empty");
	is_int(accounts_plain(&c, "vuser", "vsecre", &u, reason), AUTH_FAIL,
	       "a prefix of the secret fails");
	is_int(accounts_plain(&c, "vuser", "vsecretx", &u, reason), AUTH_FAIL,
	       "the secret plus a byte fails");
	is_int(accounts_plain(&c, "vuser", "", &u, reason), AUTH_FAIL, "empty password fails");
	is_int(accounts_plain(&c, "vuser", NULL, &u, reason), AUTH_FAIL, "NULL password fails");
	r = accounts_plain(&c, "nosuchuser", "vsecret", &u, reason);
	is_int(r, AUTH_FAIL, "unknown user (PAM off): FAIL");
	is_str(reason, "unknown user", "  reason: unknown user");
	is_int(accounts_plain(&c, "bad/name", "x", &u, reason), AUTH_FAIL, "invalid name: FAIL");
	is_int(accounts_plain(&c, NULL, "x", &u, reason), AUTH_FAIL, "NULL name: FAIL");
	{
		char longpw[600];

		memset(longpw, 'p', sizeof(longpw) - 1);
		longpw[sizeof(longpw) - 1] = '\0';
		is_int(accounts_plain(&c, "vuser", longpw, &u, reason), AUTH_FAIL,
		       "a 599-byte password fails");
	}

	/* mail-owner problems are the administrator's: TEMPFAIL, but only once
	 * the secret was right, so they reveal nothing to a guesser. */
	c.mail_owner = NULL;
	is_int(accounts_plain(&c, "vuser", "vsecret", &u, reason), AUTH_TEMPFAIL,
	       "no mail-owner configured: TEMPFAIL");
	is_str(reason, "no mail-owner configured", "  reason says so");
	is_int(accounts_plain(&c, "vuser", "wrong", &u, reason), AUTH_FAIL,
	       "  but a wrong password is still a plain FAIL");
	if (found.accounts) {
		c.mail_owner = "no-such-account";
		is_int(accounts_plain(&c, "vuser", "vsecret", &u, reason), AUTH_TEMPFAIL,
		       "mail-owner that does not exist: TEMPFAIL");
		c.mail_owner = "root";
		is_int(accounts_plain(&c, "vuser", "vsecret", &u, reason), AUTH_FAIL,
		       "mail-owner root: refused");
		c.mail_owner = "sysacct";
		is_int(accounts_plain(&c, "vuser", "vsecret", &u, reason), AUTH_OK,
		       "mail-owner below min-uid is fine (chosen by the administrator)");
	} else {
		tap_skip(found.why_no_accounts, "mail-owner account checks");
	}

	c = accounts_cfg();
	c.userdb_path = testdir_path("missing.auth");
	r = accounts_plain(&c, "vuser", "vsecret", &u, reason);
	is_int(r, AUTH_FAIL, "missing database file: no virtual users");
	c.userdb_path = NULL;
	is_int(accounts_plain(&c, "vuser", "vsecret", &u, reason), AUTH_FAIL,
	       "no database configured: FAIL");
}

static void test_damaged_db(void)
{
	struct auth_config c = accounts_cfg();
	struct auth_user u;
	char reason[256];

	c.userdb_path = accounts_noise_db();
	is_int(accounts_plain(&c, "vuser", "vsecret", &u, reason), AUTH_TEMPFAIL,
	       "a database that is not GDBM: TEMPFAIL, never a fall-through to PAM");
	is_str(reason, "user database error", "  reason: user database error");
	ok(!auth_user_has_secret(&c, "vuser"), "  and nobody has a secret");

	chmod(testdir_path("pop.auth"), 0644);
	c = accounts_cfg();
	is_int(accounts_plain(&c, "vuser", "vsecret", &u, reason), AUTH_PERMFAIL,
	       "a world-readable database is refused: PERMFAIL (the administrator must act)");
	chmod(testdir_path("pop.auth"), 0600);

	/* A record that does not parse is an error for that user, not
	 * "unknown" (which would fall through to PAM). */
#ifdef HAVE_GDBM
	raw_store(testdir_path("pop.auth"), "damaged", "garbage", 7);
	c = accounts_cfg();
	c.pam_service = "popper";
	is_int(accounts_plain(&c, "damaged", "x", &u, reason), AUTH_TEMPFAIL,
	       "a damaged record: TEMPFAIL, not a fall-through to PAM");
	ok(!auth_user_has_secret(&c, "damaged"), "  and it has no usable secret");
#endif
}

static void test_apop(void)
{
	struct auth_config c = accounts_cfg();
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
	c = accounts_cfg();

	if (found.accounts) {
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
		tap_skip(found.why_no_accounts, "APOP success (needs the mail-owner account)");
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

/* ---- the time of a failure --------------------------------------------- */

/* Samples of each kind, taken in turns so that anything else the machine
 * does falls on both alike; the medians are compared, with a generous
 * bound: this is not a benchmark, only "the same work, give or take". */
#define TIMING_SAMPLES 301
#define TIMING_WARMUP 20

enum timing_kind { T_UNKNOWN, T_VIRTUAL, T_INVALID, T_KINDS };

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

/* One failed check of kind k (i makes each unknown name new); returns its
 * microseconds, or -1 when the check did not fail as it should. */
static double time_one(const struct auth_config *c, bool apop, enum timing_kind k, unsigned i)
{
	static const char *const wrong_digest = "c4c9334bac560ecc979e58001b3e22fc";
	struct timespec t0, t1;
	struct auth_user u;
	char name[64], reason[256];
	enum auth_result r;

	if (k == T_UNKNOWN)
		snprintf(name, sizeof(name), "nosuch%u", i);
	else
		snprintf(name, sizeof(name), "%s", k == T_VIRTUAL ? (apop ? "mrose" : "vuser") : "bad/name");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (apop)
		r = auth_verify_apop(c, name, RFC_TS, wrong_digest, &u, reason, sizeof(reason));
	else
		r = accounts_plain(c, name, "wrong-password", &u, reason);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (r != AUTH_FAIL)
		return -1;
	return (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
}

/* Medians of each kind into med[], in microseconds.  False if a check did
 * not fail. */
static bool time_kinds(const struct auth_config *c, bool apop, double med[T_KINDS])
{
	static double v[T_KINDS][TIMING_SAMPLES];
	unsigned i;
	int k;

	for (i = 0; i < TIMING_WARMUP + TIMING_SAMPLES; i++) {
		for (k = 0; k < T_KINDS; k++) {
			double us = time_one(c, apop, (enum timing_kind)k, i);

			if (us < 0)
				return false;
			if (i >= TIMING_WARMUP)
				v[k][i - TIMING_WARMUP] = us;
		}
	}
	for (k = 0; k < T_KINDS; k++)
		med[k] = median(v[k], TIMING_SAMPLES);
	return true;
}

/* Issue 9: with the failure delay at 0 the time of the answer told an
 * unknown name from a virtual user.  With PAM off (accounts_cfg) both now
 * do the same work; a name refused before any lookup (an invalid one) is
 * timed too, to show the measure can tell work apart. */
static void test_failure_timing(void)
{
	struct auth_config c = accounts_cfg();
	double med[T_KINDS], ratio;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		bool apop = pass == 1;
		const char *what = apop ? "APOP" : "USER/PASS";

		if (apop && !auth_apop_available(&c)) {
			tap_skip("APOP not available (no OpenSSL)", "APOP: unknown name vs virtual user");
			continue;
		}
		if (!time_kinds(&c, apop, med)) {
			ok(0, "%s: every timed check fails as it should", what);
			continue;
		}
		ratio = med[T_UNKNOWN] / med[T_VIRTUAL];
		ok(ratio > 0.3 && ratio < 3.0,
		   "%s, PAM off: an unknown name takes as long as a virtual user's wrong secret "
		   "(medians %.1f and %.1f us, ratio %.2f)", what, med[T_UNKNOWN], med[T_VIRTUAL],
		   ratio);
		ratio = med[T_INVALID] / med[T_VIRTUAL];
		ok(ratio < 0.3, "%s: (the measure can tell: an invalid name, refused before any "
		   "lookup, %.1f us, ratio %.2f)", what, med[T_INVALID], ratio);
	}
}

static void test_has_secret(void)
{
	struct auth_config c = accounts_cfg();

	ok(auth_user_has_secret(&c, "vuser"), "vuser has a stored secret");
	ok(!auth_user_has_secret(&c, "alice"), "alice has none");
	ok(!auth_user_has_secret(&c, "../x"), "an invalid name has none");
	c.userdb_path = testdir_path("missing.auth");
	ok(!auth_user_has_secret(&c, "vuser"), "no database file: nobody has one");
	c.userdb_path = NULL;
	ok(!auth_user_has_secret(&c, "vuser"), "no database configured: nobody has one");
}

/* The server's rule for the database file: owner root, auth-db-owner or
 * ourselves; mode exactly 0600; no symlink; one link.  Anything else is a
 * permanent failure for every name alike. */
static void test_db_file_rules(void)
{
	struct auth_config c = accounts_cfg();
	struct auth_user u;
	char reason[256];
	bool has = true;
	static const mode_t bad_modes[] = { 0640, 0604, 0400, 0700, 04600, 0660 };
	size_t i;

	for (i = 0; i < sizeof(bad_modes) / sizeof(bad_modes[0]); i++) {
		chmod(testdir_path("pop.auth"), bad_modes[i]);
		is_int(accounts_plain(&c, "vuser", "vsecret", &u, reason), AUTH_PERMFAIL,
		       "database mode %04o: PERMFAIL", (unsigned)bad_modes[i]);
	}
	chmod(testdir_path("pop.auth"), 0640);
	is_int(accounts_plain(&c, "nosuchuser", "x", &u, reason), AUTH_PERMFAIL,
	       "  the same for a name that is not in it (nothing to learn about names)");
	is_int(auth_check_secret(&c, "vuser", &has), AUTH_PERMFAIL,
	       "  auth_check_secret says PERMFAIL too");
	ok(!auth_user_has_secret(&c, "vuser"), "  and auth_user_has_secret says no");
	chmod(testdir_path("pop.auth"), 0600);
	is_int(auth_check_secret(&c, "vuser", &has), AUTH_OK, "mode 0600 again: OK");
	ok(has, "  vuser has a secret");

	if (symlink(testdir_path("pop.auth"), testdir_path("link.auth")) == 0) {
		c.userdb_path = testdir_path("link.auth");
		is_int(accounts_plain(&c, "vuser", "vsecret", &u, reason), AUTH_PERMFAIL,
		       "a symlink to a good database: PERMFAIL");
		c = accounts_cfg();
	}
	if (link(testdir_path("pop.auth"), testdir_path("hard.auth")) == 0) {
		is_int(accounts_plain(&c, "vuser", "vsecret", &u, reason), AUTH_PERMFAIL,
		       "a database with two links: PERMFAIL");
		unlink(testdir_path("hard.auth"));
	}
	if (geteuid() == 0) {
		if (chown(testdir_path("pop.auth"), 4321, 4321) == 0) {
			is_int(accounts_plain(&c, "vuser", "vsecret", &u, reason), AUTH_PERMFAIL,
			       "owned by another uid: PERMFAIL");
			if (found.accounts) {
				if (chown(testdir_path("pop.auth"), 1600, 1600) != 0)
					perror("chown");
				c.userdb_owner = "vmail";
				is_int(accounts_plain(&c, "vuser", "vsecret", &u, reason), AUTH_OK,
				       "owned by the auth-db-owner account: OK (%s)", reason);
				c.userdb_owner = "alice";
				is_int(accounts_plain(&c, "vuser", "vsecret", &u, reason), AUTH_PERMFAIL,
				       "  but not when auth-db-owner names someone else");
				c.userdb_owner = "no-such-account";
				is_int(accounts_plain(&c, "vuser", "vsecret", &u, reason), AUTH_PERMFAIL,
				       "  nor when auth-db-owner does not exist");
				c = accounts_cfg();
			} else {
				tap_skip(found.why_no_accounts, "owned by the auth-db-owner account");
			}
			if (chown(testdir_path("pop.auth"), 0, 0) != 0)
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
	struct auth_config c = accounts_cfg();
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
	db = userdb_write_open(testdir_path("sys.auth"), USERDB_CREATE, NULL, err, sizeof(err));
	if (db == NULL) {
		ok(0, "create sys.auth: %s", err);
		return;
	}
	for (i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
		put_sys(db, sys[i].name, sys[i].secret);
	userdb_set_secret(db, "mrose", "tanstaaf", 8);   /* a virtual one beside them */
	userdb_close(db);
	c.userdb_path = testdir_path("sys.auth");

	if (found.accounts) {
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
		tap_skip(found.why_no_accounts, "APOP logs in the system account");
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
	is_int(accounts_plain(&c, "dora", "tanstaaf", &u, reason), AUTH_FAIL,
	       "USER/PASS with the APOP secret of a system entry: FAIL (not a password)");
	ok(auth_check_secret(&c, "dora", &has) == AUTH_OK && has,
	   "a system entry with a secret counts for the \"default\" policy");
	ok(auth_check_secret(&c, "other", &has) == AUTH_OK && !has,
	   "  one with APOP turned off does not");
}

static void run_tests(const char *d, const char *why)
{
	(void)d;   /* testdir() */
	found = accounts_detect(why);
	if (!userdb_available()) {
		tap_skip("built without GDBM", "virtual users");
		return;
	}
	accounts_make_db();
	test_virtual_plain();
	test_apop();
	test_failure_timing();
	test_has_secret();
	test_damaged_db();
	test_db_file_rules();
	test_system_apop();
}

int main(int argc, char **argv)
{
	(void)argc;
	return accounts_main(argv, "test_auth_userdb", run_tests, tap_done);
}
