/*
 * test_cmd_sasl: AUTH (server/cmd_sasl.c) through the dispatcher on a real
 * session, on the paths that need no SASL exchange: the clear-text policy
 * for PLAIN and LOGIN, a malformed initial response (a failed login), the
 * state and arity checks, and "not supported" in a build without SASL.
 * Exchanges with real mechanisms run in the integration tests.
 */
#include "config.h"

#include <string.h>

#include "tests/unit/server/testsession.h"

static struct tsess t;

static void test_auth(void)
{
	ts_init(&t);
	t.set.max_auth_failures = 5;
	ts_expect(&t, "AUTH a b c", "-ERR Too many arguments for the AUTH command.\r\n");
#ifdef HAVE_SASL
	ts_expect(&t, "AUTH PLAIN !!!notbase64", "-ERR [AUTH] Authentication failed.\r\n");
	ok(ts_failures(&t) == 1, "a malformed initial response is a failed login");
	t.s.cleartext_ok = false;
	t.set.cleartext = CLEARTEXT_NEVER;
	ts_expect(&t, "AUTH plain dGVzdA==", "-ERR [AUTH] You must use stronger authentication such "
	              "as APOP to connect to this server.\r\n");
	ok(ts_failures(&t) == 1, "a refusal by policy is not a failed login");
#else
	ts_expect(&t, "AUTH PLAIN", "-ERR AUTH is not supported by this server.\r\n");
#endif
	engine_user_accepted(&t.s, "bob");
	ts_expect(&t, "AUTH PLAIN", "-ERR Command not valid in this state.\r\n");
	ts_done(&t);
}

int main(void)
{
	ts_setup_root("test_cmd_sasl");
	test_auth();
	ts_cleanup_root();
	return tap_done();
}
