/*
 * test_cmd_stls: STLS (server/cmd_stls.c) through the dispatcher on a real
 * session, up to the handshake: not configured, already under TLS, an
 * argument, and clear text sent after STLS (command injection: the session
 * ends).  The handshakes themselves, STLS and implicit, run against real
 * clients in the integration tests.
 */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "tests/unit/server/testsession.h"

/* Never dereferenced: every path tested here answers before the handshake
 * would use the context. */
static char fake_context;

static struct tsess t;

static void test_stls(void)
{
	ts_init(&t);
	t.set.tls_support = TLS_SUPPORT_NONE;
	ts_expect(&t, "STLS", "-ERR STLS is not supported by this server.\r\n");
	t.set.tls_support = TLS_SUPPORT_STLS;
	ts_expect(&t, "STLS", "-ERR STLS is not supported by this server.\r\n");   /* no context */
	t.set.tls = (struct tls_server *)&fake_context;
	ts_expect(&t, "STLS now", "-ERR Too many arguments for the STLS command.\r\n");
	ok(t.s.state == STATE_AUTH1, "still AUTH1");
	t.s.tls = (struct tls_conn *)&fake_context;
	ts_expect(&t, "STLS", "-ERR Command not permitted when TLS active.\r\n");
	t.s.tls = NULL;

	/* The client did not wait for the answer: whatever it sent stays
	 * unread, and the session ends. */
	if (write(t.peer, "USER mallory\r\n", 14) != 14)
		die("write");
	ts_expect(&t, "STLS", "-ERR Data after STLS; closing connection.\r\n");
	ok(t.s.state == STATE_END, "the session ends");
	t.set.tls = NULL;
	ts_done(&t);

	ts_init(&t);
	engine_user_accepted(&t.s, "bob");
	ts_expect(&t, "STLS", "-ERR Command not valid in this state.\r\n");
	ts_done(&t);
}

int main(void)
{
	ts_setup_root("test_cmd_stls");
	test_stls();
	ts_cleanup_root();
	return tap_done();
}
