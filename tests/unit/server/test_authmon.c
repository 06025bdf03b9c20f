/*
 * test_authmon: the auth monitor's request table (server/authmon.c), in
 * process: every request out of its state, with the wrong number of
 * fields, with a field too long, with descriptors it may not carry, of a
 * type the table does not have, or after the end is a violation that ends
 * the connection; a second login is impossible; failures are counted and
 * the last one before max-auth-failures ends the session.
 */
#include "config.h"

#include <string.h>

#include "server/authmon.h"
#include "tests/unit/server/testsession.h"

static struct tsess t;
static struct authmon mon;

static void fresh(void)
{
	ts_init(&t);
	t.set.auth_failure_delay = 0;
	authmon_init(&mon, &t.s);
}

static void done(void)
{
	authmon_clear(&mon);
	ts_done(&t);
}

/* Serves req; returns the answer's status (and its end flag in *end). */
static int serve(const struct pm_msg *req, bool *end)
{
	struct pm_msg ans;
	unsigned char st = 255, fl = 0;

	authmon_serve(&mon, req, &ans);
	if (ans.type != PM_ANSWER || ans.nfields != 3 || !pm_field_byte(&ans, 0, &st) ||
	    !pm_field_byte(&ans, 1, &fl))
		return -1;
	if (end != NULL)
		*end = (fl & AMF_END) != 0;
	return st;
}

static struct pm_msg req0(enum pm_type type)
{
	struct pm_msg m;

	pm_init(&m, type);
	return m;
}

static void test_out_of_order(void)
{
	struct pm_msg m;
	bool end = false;

	fresh();
	m = req0(PM_SASL_STEP);
	pm_add_str(&m, "x");
	ok(serve(&m, &end) == AMS_VIOLATION && end, "SASL_STEP without a start: violation");
	ok(mon.state == AM_DONE, "... the monitor is done");
	m = req0(PM_SASL_MECHS);
	pm_add_byte(&m, 0);
	ok(serve(&m, NULL) == AMS_VIOLATION, "anything after the end: violation");
	done();

	fresh();
	m = req0(PM_HANDOVER);
	pm_add_byte(&m, 1);
	pm_add(&m, "", 0);
	ok(serve(&m, NULL) == AMS_VIOLATION, "a hand-over before any login: violation");
	done();

	fresh();
	m = req0(PM_SASL_CANCEL);
	ok(serve(&m, NULL) == AMS_VIOLATION, "a cancel without an exchange: violation");
	done();

	fresh();
	m = req0(PM_KPOP_RESULT);
	ok(serve(&m, NULL) == AMS_VIOLATION, "KPOP_RESULT on a connection without -k: violation");
	done();

	fresh();
	m = req0(PM_ANSWER);
	ok(serve(&m, NULL) == AMS_VIOLATION, "an answer sent as a request: violation");
	done();
}

static void test_malformed(void)
{
	struct pm_msg m;
	char longname[USERNAME_MAX + 2];

	fresh();
	m = req0(PM_PLAIN);
	pm_add_str(&m, "alice");
	ok(serve(&m, NULL) == AMS_VIOLATION, "PLAIN with one field: violation");
	done();

	fresh();
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	m = req0(PM_PLAIN);
	pm_add_str(&m, longname);
	pm_add_str(&m, "pw");
	pm_add_byte(&m, 0);
	ok(serve(&m, NULL) == AMS_VIOLATION, "a name longer than USERNAME_MAX: violation");
	done();

	fresh();
	m = req0(PM_APOP);
	pm_add_str(&m, "alice");
	pm_add_str(&m, "0123456789abcdef0123456789abcdef0");
	ok(serve(&m, NULL) == AMS_VIOLATION, "a 33-character digest: violation");
	done();

	fresh();
	m = req0(PM_USER_CHECK);
	pm_add_str(&m, "alice");
	m.fds[0] = 0;
	m.nfds = 1;
	ok(serve(&m, NULL) == AMS_VIOLATION, "a descriptor with USER_CHECK: violation");
	done();
}

static void test_second_login(void)
{
	struct pm_msg m;

	fresh();
	/* As after a login the monitor decided. */
	mon.state = AM_AUTHED;
	m = req0(PM_PLAIN);
	pm_add_str(&m, "bob");
	pm_add_str(&m, "pw");
	pm_add_byte(&m, 0);
	ok(serve(&m, NULL) == AMS_VIOLATION, "a second login after a success: violation");
	done();

	fresh();
	mon.state = AM_AUTHED;
	m = req0(PM_HANDOVER);
	pm_add_byte(&m, 0);
	pm_add(&m, "", 0);
	ok(serve(&m, NULL) == AMS_VIOLATION, "a clear-text hand-over without the connection: violation");
	done();

	fresh();
	mon.state = AM_AUTHED;
	m = req0(PM_HANDOVER);
	pm_add_byte(&m, 1);
	pm_add(&m, "NOOP\r\n", 6);
	ok(serve(&m, NULL) == AMS_OK, "a TLS hand-over (no descriptors) is accepted");
	ok(mon.state == AM_DONE, "... once: the monitor is done");
	done();
}

static void test_failures(void)
{
	struct pm_msg m;
	bool end = true;

	fresh();
	t.set.max_auth_failures = 2;
	m = req0(PM_FAILED);
	pm_add_str(&m, "APOP");
	pm_add_str(&m, "alice");
	pm_add_str(&m, "bad-digest-format");
	ok(serve(&m, &end) == AMS_FAIL && !end, "a malformed credential: FAIL, the session goes on");
	ok(serve(&m, &end) == AMS_FAIL && end, "the second (max 2): FAIL and the end");
	is_int(mon.failures, 2, "two failures counted");
	ok(serve(&m, NULL) == AMS_VIOLATION, "nothing more after that");
	done();

	fresh();
	m = req0(PM_KPOP_PASS);
	pm_add_str(&m, "alice");
	ok(serve(&m, NULL) == AMS_FAIL, "KPOP's PASS on a connection without -k: a failed login");
	done();

	fresh();
	m = req0(PM_USER_CHECK);
	pm_add_str(&m, "alice");
	ok(serve(&m, NULL) == AMS_OK, "USER_CHECK: OK");
	m = req0(PM_SASL_MECHS);
	pm_add_byte(&m, 0);
	ok(serve(&m, NULL) == AMS_OK, "SASL_MECHS: OK");
	ok(mon.state == AM_PRE, "questions do not change the state");
	done();
}

int main(void)
{
	ts_setup_root("test_authmon");
	test_out_of_order();
	test_malformed();
	test_second_login();
	test_failures();
	ts_cleanup_root();
	return tap_done();
}
