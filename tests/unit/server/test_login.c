/*
 * test_login: the login module (server/login.c) without a real login: the
 * failed-login replies (the in-process auth monitor counts, and ends the
 * session after max-auth-failures; the way back from AUTH2), a login that fails before the monitor (no privilege change
 * is ever attempted here), QUIT's UPDATE and the abort on a real mbox
 * maildrop, the log-login template, and the daemon's penalty per address
 * in the failed-login sequence (the table itself: test_penalty).
 */
#include "config.h"

#include <string.h>
#include <time.h>

#include "server/login.h"
#include "server/penalty.h"
#include "tests/unit/server/testsession.h"

/* An answer as the auth monitor would give it. */
static struct ac_answer answer(enum am_status st, bool end)
{
	struct ac_answer a;

	memset(&a, 0, sizeof(a));
	a.status = st;
	a.end = end;
	return a;
}


static void test_failed(void)
{
	struct tsess t;
	struct ac_answer a;

	/* A malformed credential goes through the monitor (log, count,
	 * delay) like every failed login; the reply is the same. */
	ts_init(&t);
	t.set.max_auth_failures = 3;
	engine_user_accepted(&t.s, "bob");
	login_failed(&t.s, "APOP", "bob", "bad-digest-format");
	is_str(ts_output(&t), "-ERR [AUTH] Authentication failed.\r\n", "FAIL: [AUTH]");
	ok(t.s.state == STATE_AUTH1, "back to AUTH1");
	is_str(t.s.pending_user, "", "the USER name is forgotten");
	is_int(ts_failures(&t), 1, "one failure counted by the monitor");
	login_failed(&t.s, "APOP", "bob", "invalid-user-name");
	ok(t.s.state == STATE_AUTH1, "two failures: still AUTH1");
	login_failed(&t.s, "AUTH", "bob", "bad-base64");
	is_int(ts_failures(&t), 3, "three failures counted");
	ok(t.s.state == STATE_END, "max-auth-failures 3: the third ends the session");
	ok(t.s.exit_status == 0, "... as a normal end");
	ts_done(&t);

	/* 0 would mean unlimited: it means 1. */
	ts_init(&t);
	t.set.max_auth_failures = 0;
	login_failed(&t.s, "APOP", "%s\r\n", "bad-digest-format");
	is_str(ts_output(&t), "-ERR [AUTH] Authentication failed.\r\n", "client text is not a reply");
	ok(t.s.state == STATE_END, "max-auth-failures 0: the first failure ends the session");
	ts_done(&t);

	/* The monitor's answers become the replies. */
	ts_init(&t);
	engine_user_accepted(&t.s, "bob");
	a = answer(AMS_FAIL, false);
	login_answered(&t.s, 0, &a);
	is_str(ts_output(&t), "-ERR [AUTH] Authentication failed.\r\n", "FAIL: [AUTH]");
	ok(t.s.state == STATE_AUTH1, "back to AUTH1");
	a = answer(AMS_TEMPFAIL, false);
	login_answered(&t.s, 0, &a);
	is_str(ts_output(&t), "-ERR [SYS/TEMP] Authentication is temporarily unavailable.\r\n",
	       "TEMPFAIL: [SYS/TEMP]");
	a = answer(AMS_PERMFAIL, false);
	login_answered(&t.s, 0, &a);
	is_str(ts_output(&t), "-ERR [SYS/PERM] " LOGIN_PERMFAIL_TEXT "\r\n", "PERMFAIL: [SYS/PERM]");
	ok(t.s.state == STATE_AUTH1, "no end flag: the session goes on");
	a = answer(AMS_FAIL, true);
	login_answered(&t.s, 0, &a);
	ok(t.s.state == STATE_END, "the monitor's end flag ends the session");
	ts_done(&t);

	ts_init(&t);
	a = answer(AMS_VIOLATION, true);
	login_answered(&t.s, 0, &a);
	is_str(ts_output(&t), "", "a violation: nothing is said");
	ok(t.s.state == STATE_END, "... and the session ends");
	ts_done(&t);

	ts_init(&t);
	login_answered(&t.s, -1, &a);
	is_str(ts_output(&t), "-ERR [SYS/TEMP] Authentication is temporarily unavailable.\r\n",
	       "no answer (the monitor is gone): [SYS/TEMP]");
	ok(t.s.state == STATE_END, "... and the session ends");
	ts_done(&t);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The failure delay is the monitor's: the answer comes the delay after the
 * request that carried the credential arrived, however long the check
 * took (issue 9: login time told which accounts exist). */
static void test_failure_delay(void)
{
	struct tsess t;
	struct timespec t0;
	double took;

	ts_init(&t);
	t.set.auth_failure_delay = 1;
	t.set.max_auth_failures = 5;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	login_failed(&t.s, "APOP", "bob", "bad-digest-format");
	took = seconds_since(&t0);
	ok(took > 0.9 && took < 1.5, "delay 1: answered 1 s after the request (%.2f s)", took);
	is_str(ts_output(&t), "-ERR [AUTH] Authentication failed.\r\n", "... with the usual reply");
	ts_done(&t);
}

/* A failed login consults the daemon's table (in the auth monitor): the
 * address's earlier failures, in this session or another, add their
 * penalty; another address is not slowed.  Delay 0 and a cap of 1 s keep it
 * short; bounds are loose.  (That a right credential clears the record and
 * a backend failure is not counted: test_penalty.py, on the real daemon.) */
static void test_penalty(void)
{
	struct penalty_table *tbl = penalty_table_create(1);
	struct tsess t;
	struct timespec t0;
	double took;

	if (tbl == NULL)
		die("penalty_table_create");
	ts_init(&t);
	t.p.penalty = tbl;
	t.set.max_auth_failures = 5;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	login_failed(&t.s, "APOP", "bob", "bad-digest-format");
	took = seconds_since(&t0);
	ok(took < 0.5, "penalty: a first failure waits nothing extra (%.2f s)", took);
	is_str(ts_output(&t), "-ERR [AUTH] Authentication failed.\r\n", "... and is answered");
	is_int(penalty_failures(tbl, "192.0.2.1"), 1, "penalty: the failure is counted for the address");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	login_failed(&t.s, "APOP", "bob", "bad-digest-format");
	took = seconds_since(&t0);
	ok(took > 0.9, "penalty: the second waits the penalty, 1 s (%.2f s)", took);
	is_str(ts_output(&t), "-ERR [AUTH] Authentication failed.\r\n", "... with the usual reply");
	ts_done(&t);

	/* A new connection from the address: waits at its first failure. */
	ts_init(&t);
	t.p.penalty = tbl;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	login_failed(&t.s, "APOP", "bob", "bad-digest-format");
	took = seconds_since(&t0);
	ok(took > 0.9, "penalty: another session of the address waits at its first failure (%.2f s)",
	   took);
	ts_done(&t);

	ts_init(&t);
	t.p.penalty = tbl;
	t.p.client_addr = "192.0.2.99";
	clock_gettime(CLOCK_MONOTONIC, &t0);
	login_failed(&t.s, "APOP", "bob", "bad-digest-format");
	took = seconds_since(&t0);
	ok(took < 0.5, "penalty: another address does not wait (%.2f s)", took);
	ts_done(&t);
	penalty_table_destroy(tbl);
}

/* A login that cannot find the maildrop's path ends the session with
 * [SYS/PERM] before anything else happens. */
static void test_complete_fails(void)
{
	struct tsess t;
	struct auth_user u;
	char longdir[5000];

	memset(&u, 0, sizeof(u));
	snprintf(u.name, sizeof(u.name), "alice");
	snprintf(u.account, sizeof(u.account), "alice");
	u.uid = 12345;
	u.gid = 12345;
	memset(longdir, 'd', sizeof(longdir) - 1);
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';

	ts_init(&t);
	free(t.set.spool_dir);
	t.set.spool_dir = strdup(longdir);
	t.set.home_dir_mail = NULL;
	login_complete(&t.s, &u, "PASS");
	is_str(ts_output(&t), "-ERR [SYS/PERM] The maildrop cannot be used; contact your "
	       "administrator.\r\n", "maildrop path too long: [SYS/PERM]");
	ok(t.s.state == STATE_END && t.s.md == NULL, "the session ends, no maildrop");
	is_str(t.s.user.name, "alice", "the user is recorded (timing, log)");
	is_str(t.s.method, "PASS", "and the method");
	ts_done(&t);
}

static void test_update(void)
{
	struct tsess t;
	struct buf b = { 0 };

	ts_init(&t);
	ts_open_mbox(&t, TS_MSG1 TS_MSG2);
	(void)ts_cmd(&t, "DELE 1");
	login_update(&t.s);
	is_str(ts_output(&t), "+OK Pop server at mail.example signing off.\r\n", "UPDATE: +OK");
	ok(t.s.state == STATE_END && t.s.md == NULL, "END, maildrop closed");
	ts_read_spool(&t, &b);
	is_str(b.p, TS_MSG2, "the deleted message is gone, the other kept byte for byte");
	ts_done(&t);
	buf_free(&b);
}

static void test_abort(void)
{
	struct tsess t;
	struct buf b = { 0 };

	/* RFC 1939 §6: no QUIT, no update. */
	ts_init(&t);
	t.set.update_on_abort = true;
	ts_open_mbox(&t, TS_MSG1 TS_MSG2);
	(void)ts_cmd(&t, "DELE 1");
	login_abort(&t.s, false);
	ok(t.s.md == NULL, "abort closes the maildrop");
	ts_read_spool(&t, &b);
	is_str(b.p, TS_MSG1 TS_MSG2, "abort (signal, timeout): nothing deleted");
	is_str(ts_output(&t), "", "abort says nothing");
	login_abort(&t.s, true);
	ok(t.s.md == NULL, "abort without a maildrop is harmless");
	ts_done(&t);

	ts_init(&t);
	ts_open_mbox(&t, TS_MSG1 TS_MSG2);
	(void)ts_cmd(&t, "DELE 1");
	login_abort(&t.s, true);
	ts_read_spool(&t, &b);
	is_str(b.p, TS_MSG1 TS_MSG2, "client gone, update-on-abort off: nothing deleted");
	ts_done(&t);

	ts_init(&t);
	t.set.update_on_abort = true;
	ts_open_mbox(&t, TS_MSG1 TS_MSG2);
	(void)ts_cmd(&t, "DELE 1");
	login_abort(&t.s, true);
	ok(t.s.md == NULL, "update-on-abort closes the maildrop");
	ts_read_spool(&t, &b);
	is_str(b.p, TS_MSG2, "client gone, update-on-abort on: the deletion is made");
	ts_done(&t);
	buf_free(&b);
	login_release();
	login_release();
	ok(1, "login_release twice is harmless");
}

static void test_log_login(void)
{
	char out[256];

	login_expand_template("%1 from %2 [%3] (v%0)", "0.1.0", "bob", "host.example",
			     "192.0.2.7", out, sizeof(out));
	is_str(out, "bob from host.example [192.0.2.7] (v0.1.0)", "all four fields");
	login_expand_template("100%% %s%n %x %4 %", "0.1.0", "bob", "h", "a", out, sizeof(out));
	is_str(out, "100% %s%n %x %4 %", "no printf: other sequences copied");
	login_expand_template("%2", "v", "u", "evil\"\nhost", "a", out, sizeof(out));
	is_str(out, "evil\\x22\\x0ahost", "substituted values are quoted");
	login_expand_template("%1%1%1%1", "v", "abcdefgh", "h", "a", out, 10);
	is_str(out, "abcdefgha", "output bounded");
	login_expand_template("", "v", "u", "h", "a", out, sizeof(out));
	is_str(out, "", "empty template");
}


int main(void)
{
	ts_setup_root("test_login");
	test_failed();
	test_failure_delay();
	test_penalty();
	test_complete_fails();
	test_update();
	test_abort();
	test_log_login();
	ts_cleanup_root();
	return tap_done();
}
