/*
 * test_cmd_any: QUIT and CAPA (server/cmd_any.c) through the dispatcher on a
 * real session: CAPA's lines as the settings and the state change them,
 * QUIT before login (no update) and in TRANSACTION (the login module's
 * UPDATE on a real mbox maildrop), and their argument errors.
 */
#include "config.h"

#include <string.h>

#include "tests/unit/server/testsession.h"

#define CAPA_HEAD "+OK Capability list follows.\r\nTOP\r\n"
#define CAPA_TAIL "UIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
#define CAPA_IMPL "IMPLEMENTATION popper-" PACKAGE_VERSION "\r\n.\r\n"

/* A session whose CAPA has no SASL line (no mechanisms configured). */
static void init_nosasl(struct tsess *t)
{
	ts_init(t);
	free(t->set.sasl_mechanisms);
	t->set.sasl_mechanisms = strdup("");
	t->set.announce_login_delay = -1;
	t->set.announce_expire = -1;
	t->set.auto_delete = false;
	t->set.shy = false;
}

static void test_capa(void)
{
	struct tsess t;

	init_nosasl(&t);
	is_str(ts_cmd(&t, "CAPA"), CAPA_HEAD "USER\r\nEXPIRE NEVER\r\n" CAPA_TAIL CAPA_IMPL,
	       "CAPA before login");
	is_str(ts_cmd(&t, "CAPA x"), "-ERR Too many arguments for the CAPA command.\r\n",
	       "CAPA with an argument");
	t.s.cleartext_ok = false;
	t.set.announce_login_delay = 900;
	t.set.announce_expire = 30;
	is_str(ts_cmd(&t, "capa"), CAPA_HEAD "LOGIN-DELAY 900\r\nEXPIRE 30\r\n" CAPA_TAIL CAPA_IMPL,
	       "no USER when clear text is refused; LOGIN-DELAY and EXPIRE announced");
	t.set.auto_delete = true;
	t.set.shy = true;
	is_str(ts_cmd(&t, "CAPA"), CAPA_HEAD "LOGIN-DELAY 900\r\nEXPIRE 0\r\n" CAPA_TAIL ".\r\n",
	       "auto-delete is EXPIRE 0; shy hides the implementation before login");
	ts_open_mbox(&t, TS_MSG1);
	is_str(ts_cmd(&t, "CAPA"), CAPA_HEAD "LOGIN-DELAY 900\r\nEXPIRE 0\r\n" CAPA_TAIL CAPA_IMPL,
	       "shy shows it after login");
	ts_done(&t);
}

static void test_quit(void)
{
	struct tsess t;
	struct buf b = { 0 };

	init_nosasl(&t);
	is_str(ts_cmd(&t, "QUIT x"), "-ERR Too many arguments for the QUIT command.\r\n",
	       "QUIT with an argument");
	ok(t.s.state == STATE_AUTH1, "... changes nothing");
	is_str(ts_cmd(&t, "QUIT"), "+OK Pop server at mail.example signing off.\r\n",
	       "QUIT before login");
	ok(t.s.state == STATE_END, "END");
	ts_done(&t);

	init_nosasl(&t);
	engine_user_accepted(&t.s, "bob");
	is_str(ts_cmd(&t, "quit"), "+OK Pop server at mail.example signing off.\r\n",
	       "QUIT after USER");
	ok(t.s.state == STATE_END, "END");
	ts_done(&t);

	init_nosasl(&t);
	ts_open_mbox(&t, TS_MSG1 TS_MSG2);
	(void)ts_cmd(&t, "DELE 2");
	is_str(ts_cmd(&t, "QUIT"), "+OK Pop server at mail.example signing off.\r\n",
	       "QUIT in TRANSACTION");
	ok(t.s.state == STATE_END && t.s.md == NULL, "END, maildrop committed and closed");
	ts_read_spool(&t, &b);
	is_str(b.p, TS_MSG1, "the deleted message is gone");
	is_str(ts_cmd(&t, "NOOP"), "-ERR Command not valid in this state.\r\n",
	       "nothing is valid after QUIT");
	ts_done(&t);
	buf_free(&b);
}

int main(void)
{
	ts_setup_root("test_cmd_any");
	test_capa();
	test_quit();
	ts_cleanup_root();
	return tap_done();
}
