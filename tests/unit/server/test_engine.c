/*
 * test_engine: the engine's ground floor (server/engine.c): the named
 * transitions and the refusal of the ones that should not happen, the
 * reply functions, and the termination flag.
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include "tests/unit/server/testsession.h"

static void test_transitions(void)
{
	struct tsess t;

	ts_init(&t);
	engine_user_accepted(&t.s, "bob");
	ok(t.s.state == STATE_AUTH2, "USER accepted: AUTH2");
	is_str(t.s.pending_user, "bob", "the name is kept for PASS");
	engine_user_dropped(&t.s);
	ok(t.s.state == STATE_AUTH1, "USER forgotten: AUTH1");
	is_str(t.s.pending_user, "", "the name is gone");
	engine_user_dropped(&t.s);
	ok(t.s.state == STATE_AUTH1 && t.s.exit_status == 0, "forgotten in AUTH1: no change");
	engine_user_accepted(&t.s, "carol");
	engine_logged_in(&t.s);
	ok(t.s.state == STATE_TRANS, "logged in from AUTH2: TRANSACTION");
	engine_user_dropped(&t.s);
	ok(t.s.state == STATE_TRANS, "forgetting a name in TRANSACTION changes nothing");
	engine_updating(&t.s);
	ok(t.s.state == STATE_UPDATE, "UPDATE");
	engine_end(&t.s);
	ok(t.s.state == STATE_END && t.s.exit_status == 0, "END");
	engine_end(&t.s);
	ok(t.s.state == STATE_END && t.s.exit_status == 0, "END again: nothing");
	ts_done(&t);

	ts_init(&t);
	engine_logged_in(&t.s);
	ok(t.s.state == STATE_TRANS, "logged in from AUTH1 (APOP, AUTH)");
	ts_done(&t);

	/* Transitions that are bugs end the session with status 1. */
	ts_init(&t);
	engine_updating(&t.s);
	ok(t.s.state == STATE_END && t.s.exit_status == 1, "AUTH1 -> UPDATE refused: END");
	ts_done(&t);
	ts_init(&t);
	engine_logged_in(&t.s);
	engine_user_accepted(&t.s, "eve");
	ok(t.s.state == STATE_END && t.s.exit_status == 1, "TRANS -> AUTH2 refused: END");
	ts_done(&t);
	ts_init(&t);
	engine_end(&t.s);
	engine_logged_in(&t.s);
	ok(t.s.state == STATE_END && t.s.exit_status == 1, "END -> TRANS refused: stays END");
	ts_done(&t);
}

static void test_replies(void)
{
	struct tsess t;
	char longtext[2 * REPLY_MAX];
	const char *out;

	ts_init(&t);
	reply_ok(&t.s, "%u messages", 3u);
	is_str(ts_output(&t), "+OK 3 messages\r\n", "reply_ok");
	reply_err(&t.s, RESP_NONE, "No such message.");
	is_str(ts_output(&t), "-ERR No such message.\r\n", "reply_err without a code");
	reply_err(&t.s, RESP_AUTH, "a");
	reply_err(&t.s, RESP_IN_USE, "b");
	reply_err(&t.s, RESP_SYS_TEMP, "c");
	reply_err(&t.s, RESP_SYS_PERM, "d");
	is_str(ts_output(&t), "-ERR [AUTH] a\r\n-ERR [IN-USE] b\r\n-ERR [SYS/TEMP] c\r\n"
	       "-ERR [SYS/PERM] d\r\n", "the four response codes");
	reply_line(&t.s, "%s", ".");
	is_str(ts_output(&t), ".\r\n", "reply_line");
	reply_ok(&t.s, "%s", "a\r\nDELE 1\nb");
	is_str(ts_output(&t), "+OK a  DELE 1 b\r\n", "CR and LF in the data become spaces");
	memset(longtext, 'x', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	reply_ok(&t.s, "%s", longtext);
	out = ts_output(&t);
	is_int(strlen(out), REPLY_MAX - 1, "an overlong reply is cut to the buffer");
	ok(strncmp(out, "+OK xxx", 7) == 0 && strcmp(out + strlen(out) - 3, "x\r\n") == 0,
	   "... and still ends in CRLF");
	ts_done(&t);
}

static void test_signals(void)
{
	ok(engine_stop_signal() == 0, "no signal yet");
	ok(engine_sleep(0), "sleep 0 returns at once");
	engine_catch_signals();
	raise(SIGPIPE);
	ok(engine_stop_signal() == 0, "SIGPIPE is ignored");
	raise(SIGTERM);
	is_int(engine_stop_signal(), SIGTERM, "SIGTERM is noted");
	ok(!engine_sleep(5), "a sleep after a termination signal returns false at once");
}

int main(void)
{
	ts_setup_root("test_engine");
	test_transitions();
	test_replies();
	test_signals();
	ts_cleanup_root();
	return tap_done();
}
