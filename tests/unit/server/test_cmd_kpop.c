/*
 * test_cmd_kpop: a KPOP connection's USER and PASS (server/cmd_kpop.c),
 * reached through the command table's KPOP column, on a real session whose
 * Kerberos handshake is taken as done (s->kpop_user set): the name must be
 * the one the principal maps to, and PASS's text is never looked at.  The
 * handshake itself needs a KDC: the integration tests drive it.
 */
#include "config.h"

#include <string.h>

#include "tests/unit/server/testsession.h"

#define AUTH_FAILED "-ERR [AUTH] Authentication failed.\r\n"
#define ALICE_OK "+OK alice is authenticated by Kerberos; PASS completes the login.\r\n"

static struct tsess t;

static void test_user(void)
{
	ts_init(&t);
	t.set.max_auth_failures = 5;
	snprintf(t.s.kpop_user, sizeof(t.s.kpop_user), "alice");
	t.s.cleartext_ok = false;   /* the policy does not apply: no password is sent */
	ts_expect(&t, "USER a/b", "-ERR [AUTH] Invalid user name.\r\n");
	ok(ts_failures(&t) == 0, "an invalid name is not a failed login");
	ts_expect(&t, "USER bob", AUTH_FAILED);
	ok(ts_failures(&t) == 1 && t.s.state == STATE_AUTH1,
	   "another user than the principal's: a failed login");
	ts_expect(&t, "USER", "-ERR Too few arguments for the USER command.\r\n");
	ts_expect(&t, "PASS x", "-ERR Command not valid in this state.\r\n");
	ts_expect(&t, "USER alice", ALICE_OK);
	ok(t.s.state == STATE_AUTH2, "AUTH2");
	is_str(t.s.pending_user, "alice", "the name waits for PASS");
	ts_done(&t);

	/* Name processing applies as for USER. */
	ts_init(&t);
	t.set.downcase_user = true;
	snprintf(t.s.kpop_user, sizeof(t.s.kpop_user), "alice");
	ts_expect(&t, "USER ALICE", ALICE_OK);
	ts_done(&t);
}

static void test_pass(void)
{
	ts_init(&t);
	t.set.max_auth_failures = 5;
	snprintf(t.s.kpop_user, sizeof(t.s.kpop_user), "nosuchuser9z");
	ts_expect(&t, "USER nosuchuser9z", "+OK nosuchuser9z is authenticated by Kerberos; PASS "
	              "completes the login.\r\n");
	/* No such account: the login fails like any other. */
	ts_expect(&t, "PASS krb_ticket", AUTH_FAILED);
	ok(t.s.state == STATE_AUTH1 && t.s.pending_user[0] == '\0', "back to AUTH1");
	ts_done(&t);
}

static void test_auth_refused(void)
{
	ts_init(&t);
	snprintf(t.s.kpop_user, sizeof(t.s.kpop_user), "alice");
#ifdef HAVE_SASL
	ts_expect(&t, "AUTH PLAIN", "-ERR This connection is authenticated by Kerberos; use USER.\r\n");
#else
	ts_expect(&t, "AUTH PLAIN", "-ERR AUTH is not supported by this server.\r\n");
#endif
	ts_done(&t);
}

int main(void)
{
	ts_setup_root("test_cmd_kpop");
	test_user();
	test_pass();
	test_auth_refused();
	ts_cleanup_root();
	return tap_done();
}
