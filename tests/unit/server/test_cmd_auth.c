/*
 * test_cmd_auth: USER, PASS and APOP (server/cmd_auth.c) through the
 * dispatcher on a real session, without a real login: every -ERR path that
 * needs no password check (syntax, wrong state, the clear-text policy, an
 * invalid name, APOP not offered, a malformed APOP name or digest), and
 * USER's +OK.  AUTH's clear-text refusal shares USER's words.
 */
#include "config.h"

#include <string.h>

#include "auth/userdb/userdb_write.h"
#include "tests/unit/server/testsession.h"

#define AUTH_FAILED "-ERR [AUTH] Authentication failed.\r\n"
#define BAD_STATE "-ERR Command not valid in this state.\r\n"

static struct tsess t;

static void test_user(void)
{
	ts_init(&t);
	ts_expect(&t, "USER", "-ERR Too few arguments for the USER command.\r\n");
	ts_expect(&t, "USER a b", "-ERR Too many arguments for the USER command.\r\n");
	ts_expect(&t, "PASS secret", BAD_STATE);
	ts_expect(&t, "USER a/b", "-ERR [AUTH] Invalid user name.\r\n");
	ts_expect(&t, "USER ../../etc/passwd", "-ERR [AUTH] Invalid user name.\r\n");
	ok(t.s.state == STATE_AUTH1, "still AUTH1");
	ts_expect(&t, "USER bob", "+OK Password required for bob.\r\n");
	ok(t.s.state == STATE_AUTH2, "AUTH2");
	is_str(t.s.pending_user, "bob", "the name waits for PASS");
	ts_expect(&t, "USER carol", BAD_STATE);
	ts_expect(&t, "APOP bob 0123456789abcdef0123456789abcdef", BAD_STATE);
	ts_expect(&t, "AUTH PLAIN", BAD_STATE);
	ts_expect(&t, "STLS", BAD_STATE);
	ts_expect(&t, "PASS", "-ERR Too few arguments for the PASS command.\r\n");
	ok(t.s.state == STATE_AUTH2, "argument errors keep AUTH2");
	ts_done(&t);

	/* Qpopper's name processing applies to USER. */
	ts_init(&t);
	t.set.downcase_user = true;
	t.set.trim_domain = true;
	ts_expect(&t, "USER Bob@Example.ORG", "+OK Password required for bob.\r\n");
	ts_done(&t);
}

static void test_cleartext(void)
{
	static const char never[] = "-ERR [AUTH] You must use stronger authentication such as "
				    "APOP to connect to this server.\r\n";
	static const char tls[] = "-ERR [AUTH] You must use TLS/SSL or stronger authentication "
				  "such as APOP to connect to this server.\r\n";

	ts_init(&t);
	t.set.cleartext = CLEARTEXT_NEVER;
	t.s.cleartext_ok = false;
	ts_expect(&t, "USER bob", never);
	ok(t.s.state == STATE_AUTH1, "refused: still AUTH1");
#ifdef HAVE_SASL
	ts_expect(&t, "AUTH PLAIN", never);
	ts_expect(&t, "AUTH login", never);
#endif
	t.set.cleartext = CLEARTEXT_TLS;
	ts_expect(&t, "USER bob", tls);
#ifdef HAVE_SASL
	ts_expect(&t, "AUTH PLAIN", tls);
#endif
	ts_done(&t);
}

/* An empty user database in the test's root, made with the writer; NULL
 * when popper has no GDBM. */
static const char *make_db(void)
{
	static char path[600];
	char err[700];
	struct userdb *db;

	snprintf(path, sizeof(path), "%s/pop.auth", ts_root);
	db = userdb_write_open(path, USERDB_CREATE, NULL, err, sizeof(err));
	if (db == NULL)
		return NULL;
	userdb_close(db);
	return path;
}

static void test_apop(void)
{
	ts_init(&t);
	t.set.apop = true;
	t.s.authcfg.userdb_path = NULL;
	ts_expect(&t, "APOP", "-ERR Too few arguments for the APOP command.\r\n");
	ts_expect(&t, "APOP bob", "-ERR Too few arguments for the APOP command.\r\n");
	ts_expect(&t, "APOP bob d x", "-ERR Too many arguments for the APOP command.\r\n");
	ts_expect(&t, "APOP bob 0123456789abcdef0123456789abcdef",
	              "-ERR APOP is not available on this server.\r\n");
	ok(ts_failures(&t) == 0, "APOP not offered is not a failed login");
	ts_done(&t);

	/* A database configured but missing: not offered either (no
	 * timestamp in the greeting, popper(8)). */
	ts_init(&t);
	t.set.apop = true;
	t.s.authcfg.userdb_path = "/nonexistent/popper.db";
	ts_expect(&t, "APOP bob 0123456789abcdef0123456789abcdef",
	              "-ERR APOP is not available on this server.\r\n");
	ts_done(&t);

	/* Offered (a database is there): a malformed name or digest is a
	 * failed login like any other. */
	ts_init(&t);
	t.set.apop = true;
	t.set.max_auth_failures = 5;
	t.s.authcfg.userdb_path = make_db();
	if (t.s.authcfg.userdb_path == NULL || !auth_apop_available(&t.s.authcfg)) {
		tap_skip("built without the user database", "APOP syntax failures");
		ts_done(&t);
		return;
	}
	ts_expect(&t, "APOP a/b 0123456789abcdef0123456789abcdef", AUTH_FAILED);
	ts_expect(&t, "APOP bob 0123456789ABCDEF0123456789ABCDEF", AUTH_FAILED);
	ts_expect(&t, "APOP bob 0123456789abcdef", AUTH_FAILED);
	ts_expect(&t, "APOP bob 0123456789abcdef0123456789abcdef0", AUTH_FAILED);
	is_int(ts_failures(&t), 4, "each one counted");
	ok(t.s.state == STATE_AUTH1, "still AUTH1 below max-auth-failures");
	t.set.max_auth_failures = 5;
	ts_expect(&t, "APOP bob zz", AUTH_FAILED);
	ok(t.s.state == STATE_END, "the fifth failure ends the session");
	ts_done(&t);
}

int main(void)
{
	ts_setup_root("test_cmd_auth");
	test_user();
	test_cleartext();
	test_apop();
	ts_cleanup_root();
	return tap_done();
}
