/*
 * test_sasl_auxprop: auth/sasl_auxprop.c, where libsasl2's mechanisms get
 * their secrets and passwords: the auxprop plugin that serves the stored
 * secret of a name (virtual users and the APOP secrets of system entries),
 * the random secret it serves for a name without one (so an unknown user
 * fails at the same step as a wrong secret), the database faults it
 * passes on, and the checkpass callback that checks PLAIN and LOGIN with
 * auth_verify_plain() (user database, then PAM) under policy "default".
 *
 * Driven from both sides as test_sasl is (tests/unit/auth/saslpeer.h), and
 * run under the wrappers (tests/unit/auth/pamwrap.h) in the made-up
 * accounts (tests/unit/auth/accounts.h), so that PLAIN can reach PAM and a
 * system entry has its account; vmail is then the mail-owner.  Without the
 * wrappers those checks are skipped with the reason, and the rest run with
 * a mail-owner from the system.
 */
#include "config.h"

#include <errno.h>
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
#include "tests/unit/auth/accounts.h"
#include "tests/unit/auth/saslpeer.h"
#include "tests/unit/auth/testdir.h"
#include "tests/unit/auth/userdb/userdb_fixture.h"
#include "tests/unit/tap.h"

#ifdef HAVE_SASL
#include <sasl/sasl.h>

static struct accounts_found found;   /* what this run can rely on */

/* ---- the secret or password of every mechanism --------------------------- */

static void expect_ok(const char *mech, bool initial)
{
	struct sasl_params p;
	struct peer_result r;

	peer_params(&p);
	r = peer_exchange(&p, mech, "alice", NULL, "secret", initial);
	ok(r.st == SASL_S_OK && strcmp(r.user, "alice") == 0 && r.is_virtual,
	   "%s%s: the right secret logs alice in (st %d, %s)", mech,
	   initial ? " with an initial response" : "", r.st, r.reason);
}

/* CRAM-MD5 and SCRAM get alice's secret from the plugin, PLAIN and LOGIN
 * have it checked by the checkpass callback; an unknown user gets the
 * random secret and must fail at the same step as a wrong one. */
static void test_mechanism(const char *mech)
{
	struct sasl_params p;
	struct peer_result r, r2;
	const char *why = peer_missing(mech);

	if (why != NULL) {
		tap_skip(why, mech);
		return;
	}
	expect_ok(mech, true);
	expect_ok(mech, false);
	peer_params(&p);
	r = peer_exchange(&p, mech, "alice", NULL, "wrong", true);
	ok(r.st == SASL_S_FAIL, "%s: a wrong secret fails (%s)", mech, r.reason);
	r2 = peer_exchange(&p, mech, "nosuchuser", NULL, "wrong", true);
	ok(r2.st == SASL_S_FAIL, "%s: an unknown user fails (%s)", mech, r2.reason);
	ok(r2.rounds == r.rounds,
	   "%s: ... after as many rounds as a wrong secret (%u, %u): no user enumeration",
	   mech, r2.rounds, r.rounds);
}

/* What the plugin records for the log: a secret served and not proven, a
 * random one for an unknown name, and for a name whose entry has no secret
 * (APOP turned off), the random one again at the same step. */
static void test_lookup_reasons(const char *mech)
{
	struct sasl_params p;
	struct peer_result r, r2;
	const char *why = peer_missing(mech);

	if (why != NULL) {
		tap_skip(why, "what the plugin records");
		return;
	}
	peer_params(&p);
	r = peer_exchange(&p, mech, "alice", NULL, "wrong", true);
	is_str(r.reason, "wrong password or proof", "%s: a served secret not proven: said so", mech);
	r2 = peer_exchange(&p, mech, "nosuchuser", NULL, "wrong", true);
	is_str(r2.reason, "unknown user", "%s: an unknown name: \"unknown user\"", mech);
	r2 = peer_exchange(&p, mech, "nosecret", NULL, "wrong", true);
	ok(r2.st == SASL_S_FAIL && r2.rounds == r.rounds,
	   "%s: an entry without a secret fails, after as many rounds (st %d, %u, %u)", mech,
	   r2.st, r2.rounds, r.rounds);
	is_str(r2.reason, "no stored secret for this user", "  reason says it has none");
}

/* popauth's system entries: their APOP secret serves CRAM-MD5 too, and the
 * session is the system account's (the plugin serves kind-blind; the
 * account policy comes after). */
static void test_system_entry(void)
{
	struct sasl_params p;
	struct peer_result r;
	const char *why = peer_missing("CRAM-MD5");

	if (why == NULL && !found.accounts)
		why = found.why_no_accounts;
	if (why != NULL) {
		tap_skip(why, "CRAM-MD5 with the secret of a system entry");
		return;
	}
	peer_params(&p);
	r = peer_exchange(&p, "CRAM-MD5", "dora", NULL, "dora-apop", true);
	ok(r.st == SASL_S_OK && strcmp(r.user, "dora") == 0 && !r.is_virtual,
	   "CRAM-MD5 with a system entry's secret: dora, as herself (st %d, %s)", r.st, r.reason);
	r = peer_exchange(&p, "CRAM-MD5", "dora", NULL, "dorapw", true);
	ok(r.st == SASL_S_FAIL, "  her PAM password is not her secret (%s)", r.reason);
}

/* ---- the checkpass callback: PLAIN and LOGIN ------------------------------ */

/* Policy "default": who has a stored secret must not send it in the
 * clear, but may prove it. */
static void test_secret_policy(void)
{
	struct sasl_params p;
	struct peer_result r;
	const char *why = peer_missing("PLAIN");

	if (why != NULL) {
		tap_skip(why, "clear-text policy");
		return;
	}
	peer_params(&p);
	p.cleartext_refuses_secret_users = true;
	r = peer_exchange(&p, "PLAIN", "alice", NULL, "secret", true);
	ok(r.st == SASL_S_FAIL && strstr(r.reason, "stored secret") != NULL,
	   "policy default: PLAIN refused for a user with a stored secret (%s)", r.reason);
	if (peer_offers("CRAM-MD5")) {
		r = peer_exchange(&p, "CRAM-MD5", "alice", NULL, "secret", true);
		ok(r.st == SASL_S_OK, "policy default: CRAM-MD5 still fine for her (%s)", r.reason);
	}
}

/* A PLAIN message as the client sent it (not built by libsasl2's client,
 * which would not send these), straight to our object. */
static struct peer_result plain_message(const char *msg, size_t len)
{
	struct sasl_params p;
	struct peer_result res;
	struct sasl_session *ss;
	const unsigned char *chal;
	size_t chal_len;

	memset(&res, 0, sizeof(res));
	peer_params(&p);
	ss = sasl_session_create(&p, res.reason, sizeof(res.reason));
	if (ss == NULL) {
		res.st = SASL_S_TEMPFAIL;
		return res;
	}
	res.st = sasl_session_start(ss, "PLAIN", (const unsigned char *)msg, len, &chal,
				    &chal_len);
	snprintf(res.reason, sizeof(res.reason), "%s", sasl_session_reason(ss));
	sasl_session_destroy(ss);
	return res;
}

/* Passwords the callback must not pass on: an empty one (the PLAIN plugin
 * hands it over) and one longer than a POP3 line could carry.  (A NUL
 * inside never reaches the callback: the plugin refuses the message.) */
static void test_unusable_passwords(void)
{
	static const char empty[] = "\0alice\0";
	char longpw[600];
	struct peer_result r;
	const char *why = peer_missing("PLAIN");

	if (why != NULL) {
		tap_skip(why, "passwords checkpass refuses");
		return;
	}
	r = plain_message(empty, sizeof(empty) - 1);
	ok(r.st == SASL_S_FAIL, "PLAIN with an empty password fails (%s)", r.reason);
	is_str(r.reason, "empty password", "  refused by the callback itself");
	memcpy(longpw, empty, sizeof(empty) - 1);
	memset(longpw + sizeof(empty) - 1, 'p', sizeof(longpw) - (sizeof(empty) - 1));
	r = plain_message(longpw, sizeof(longpw));
	ok(r.st == SASL_S_FAIL, "PLAIN with a 593-byte password fails (%s)", r.reason);
	is_str(r.reason, "unusable password", "  refused by the callback itself");
}

/* PLAIN and LOGIN reach PAM through auth_verify_plain() for names the
 * database does not hold. */
static void test_pam_plain(void)
{
	static const char *const mechs[] = { "PLAIN", "LOGIN" };
	struct sasl_params p;
	struct peer_result r;
	size_t i;

	if (!found.pam || !found.accounts) {
		tap_skip(!found.pam ? found.why_no_pam : found.why_no_accounts,
			 "PLAIN and LOGIN through PAM");
		return;
	}
	for (i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++) {
		if (!peer_offers(mechs[i])) {
			tap_skip("the libsasl2 plugin for it is not installed", mechs[i]);
			continue;
		}
		peer_params(&p);
		peer_cfg.pam_service = "popper";
		r = peer_exchange(&p, mechs[i], "carl", NULL, "carlpw", true);
		ok(r.st == SASL_S_OK && strcmp(r.user, "carl") == 0 && !r.is_virtual,
		   "%s: a PAM user's password logs carl in, as himself (st %d, %s)", mechs[i],
		   r.st, r.reason);
		r = peer_exchange(&p, mechs[i], "carl", NULL, "wrong", true);
		ok(r.st == SASL_S_FAIL, "%s: a wrong PAM password fails (%s)", mechs[i], r.reason);
		peer_cfg.pam_service = NULL;
		r = peer_exchange(&p, mechs[i], "carl", NULL, "carlpw", true);
		ok(r.st == SASL_S_FAIL, "%s: without pam-service carl is unknown (%s)", mechs[i],
		   r.reason);
	}
}

/* ---- databases the plugin and the callback must not use ----------------- */

static void test_unsafe_db(void)
{
	struct sasl_params p;
	struct peer_result r;

	if (!peer_offers("CRAM-MD5") || !peer_offers("PLAIN")) {
		tap_skip("plugins missing", "unsafe user database");
		return;
	}
	if (chmod(peer_db_path, 0644) != 0) {
		tap_skip(strerror(errno), "unsafe user database");
		return;
	}
	peer_params(&p);
	/* The rule APOP's offer follows: no stored secrets are used from a
	 * database the server refuses. */
	ok(!peer_offers("CRAM-MD5"), "a world-readable database: CRAM-MD5 is not offered");
	r = peer_exchange(&p, "CRAM-MD5", "alice", NULL, "secret", true);
	ok(r.st == SASL_S_NOMECH, "  and asking for it gets \"not offered\" (st %d, %s)",
	   r.st, r.reason);
	r = peer_exchange(&p, "PLAIN", "alice", NULL, "secret", true);
	ok(r.st == SASL_S_PERMFAIL, "PLAIN with a world-readable database: PERMFAIL (st %d, %s)",
	   r.st, r.reason);
	chmod(peer_db_path, 0600);
}

/* A file that is not GDBM: TEMPFAIL for the plugin, for the callback and
 * for policy "default"'s question whether the user has a secret. */
static void test_damaged_db(void)
{
	struct sasl_params p;
	struct peer_result r;

	if (!peer_offers("CRAM-MD5") || !peer_offers("PLAIN")) {
		tap_skip("plugins missing", "a database that is not GDBM");
		return;
	}
	peer_params(&p);
	peer_cfg.userdb_path = accounts_noise_db();
	r = peer_exchange(&p, "CRAM-MD5", "alice", NULL, "secret", true);
	ok(r.st == SASL_S_TEMPFAIL, "CRAM-MD5 with a database that is not GDBM: TEMPFAIL (st %d, %s)",
	   r.st, r.reason);
	r = peer_exchange(&p, "PLAIN", "alice", NULL, "secret", true);
	ok(r.st == SASL_S_TEMPFAIL, "PLAIN with it: TEMPFAIL (st %d, %s)", r.st, r.reason);
	p.cleartext_refuses_secret_users = true;
	r = peer_exchange(&p, "PLAIN", "alice", NULL, "secret", true);
	ok(r.st == SASL_S_TEMPFAIL, "PLAIN under policy default with it: TEMPFAIL (st %d)", r.st);
	is_str(r.reason, "user database error", "  reason: user database error");
}

/* ---- the run --------------------------------------------------------------- */

/* Beside alice, bob and admin: dora's system entry with an APOP secret,
 * and an entry whose APOP is turned off (no secret). */
static int add_system_entries(void)
{
	static const struct {
		const char *name, *secret;
	} sys[] = { { "dora", "dora-apop" }, { "nosecret", NULL } };
	struct userdb *db;
	char err[512];
	size_t i;

	db = userdb_write_open(peer_db_path, USERDB_WRITE, NULL, err, sizeof(err));
	if (db == NULL) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	for (i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
		put_sys(db, sys[i].name, sys[i].secret);
	userdb_close(db);
	return 0;
}

static void run_tests(const char *d, const char *why)
{
	static const char *const mechs[] = {
		"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256",
	};
	size_t i;

	(void)d;   /* testdir() */
	found = accounts_detect(why);
	if (peer_make_db() != 0 || add_system_entries() != 0) {
		tap_skip("cannot make a temporary user database", "SASL exchanges");
		return;
	}
	/* In the made-up accounts the usual mail-owner; the system's own
	 * accounts are not there. */
	if (found.accounts) {
		snprintf(peer_owner, sizeof(peer_owner), "vmail");
		peer_have_owner = true;
	} else {
		peer_find_owner();
	}
	if (sasl_client_init(NULL) != SASL_OK) {
		tap_skip("sasl_client_init failed", "SASL exchanges");
		return;
	}
	for (i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
		test_mechanism(mechs[i]);
	test_lookup_reasons("CRAM-MD5");
	test_lookup_reasons("SCRAM-SHA-256");
	test_system_entry();
	test_secret_policy();
	test_unusable_passwords();
	test_pam_plain();
	test_unsafe_db();
	test_damaged_db();
}

int main(int argc, char **argv)
{
	(void)argc;
	return accounts_main(argv, "test_sasl_auxprop", run_tests, tap_done);
}

#else /* !HAVE_SASL */

int main(void)
{
	log_open("test_sasl_auxprop", LOG_USER, LOG_TO_STDERR);
	tap_skip("popper built without Cyrus SASL", "SASL exchanges");
	return tap_done();
}

#endif
