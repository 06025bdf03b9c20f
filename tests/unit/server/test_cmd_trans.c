/*
 * test_cmd_trans: the TRANSACTION handlers (server/cmd_trans.c) driven
 * through the dispatcher, on a real session (tests/unit/server/testsession.h)
 * and a real mbox maildrop in a temporary directory.
 *
 * Covers every command's +OK path and each -ERR path the engine or the
 * handler gives it (wrong state, missing, extra and bad arguments, out of
 * range, deleted message), LAST through RETR and RSET, UIDL, auto-delete,
 * and a send that fails before and after the first line went out.
 */
#include "config.h"

#include <poll.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/server/testsession.h"

static struct tsess t;

static void test_stat_list(void)
{
	ts_init(&t);
	ts_open_mbox(&t, TS_MSG1 TS_MSG2);
	ts_expect(&t, "STAT", "+OK 2 95\r\n");
	ts_expect(&t, "STAT 1", "-ERR Too many arguments for the STAT command.\r\n");
	ts_expect(&t, "LIST", "+OK 2 messages (95 octets)\r\n1 " TS_SIZE1 "\r\n2 " TS_SIZE2 "\r\n.\r\n");
	ts_expect(&t, "LIST 1", "+OK 1 " TS_SIZE1 "\r\n");
	ts_expect(&t, "list 2", "+OK 2 " TS_SIZE2 "\r\n");
	ts_expect(&t, "LIST 3", "-ERR No such message.\r\n");
	ts_expect(&t, "LIST 0", "-ERR No such message.\r\n");
	ts_expect(&t, "LIST x", "-ERR Invalid message number.\r\n");
	ts_expect(&t, "LIST 1 2", "-ERR Too many arguments for the LIST command.\r\n");
	ts_done(&t);
}

static void test_retr_top(void)
{
	ts_init(&t);
	ts_open_mbox(&t, TS_MSG1 TS_MSG2);
	ts_expect(&t, "LAST", "+OK 0\r\n");
	ts_expect(&t, "TOP 1 0", "+OK Message follows.\r\nX-UIDL: uid-one\r\nSubject: one\r\n\r\n.\r\n");
	ts_expect(&t, "TOP 1 1", "+OK Message follows.\r\nX-UIDL: uid-one\r\nSubject: one\r\n\r\n"
	              "line 1\r\n.\r\n");
	ts_expect(&t, "LAST", "+OK 0\r\n");   /* TOP is not a retrieval */
	ts_expect(&t, "TOP 1", "-ERR Too few arguments for the TOP command.\r\n");
	ts_expect(&t, "TOP 1 x", "-ERR Invalid line count.\r\n");
	ts_expect(&t, "TOP 3 1", "-ERR No such message.\r\n");
	ts_expect(&t, "TOP 1 2 3", "-ERR Too many arguments for the TOP command.\r\n");
	ts_expect(&t, "RETR 2", "+OK " TS_SIZE2 " octets\r\nX-UIDL: uid-two\r\nSubject: two\r\n\r\n"
	              "hello\r\n.\r\n");
	ts_expect(&t, "RETR 1", "+OK " TS_SIZE1 " octets\r\nX-UIDL: uid-one\r\nSubject: one\r\n\r\n"
	              "line 1\r\nline 2\r\n..dot\r\n.\r\n");
	ts_expect(&t, "LAST", "+OK 2\r\n");   /* the highest retrieved, not the last */
	ts_expect(&t, "LAST 1", "-ERR Too many arguments for the LAST command.\r\n");
	ts_expect(&t, "RETR", "-ERR Too few arguments for the RETR command.\r\n");
	ts_expect(&t, "RETR 1 2", "-ERR Too many arguments for the RETR command.\r\n");
	ts_expect(&t, "RETR 3", "-ERR No such message.\r\n");
	ts_expect(&t, "RETR -1", "-ERR Invalid message number.\r\n");
	ok(t.s.state == STATE_TRANS, "still in TRANSACTION");
	ts_done(&t);
}

static void test_dele_rset(void)
{
	ts_init(&t);
	ts_open_mbox(&t, TS_MSG1 TS_MSG2);
	ts_expect(&t, "RETR 2", "+OK " TS_SIZE2 " octets\r\nX-UIDL: uid-two\r\nSubject: two\r\n\r\n"
	              "hello\r\n.\r\n");
	ts_expect(&t, "DELE 1", "+OK Message 1 deleted.\r\n");
	ts_expect(&t, "DELE 1", "-ERR Message 1 has been deleted.\r\n");
	ts_expect(&t, "RETR 1", "-ERR Message 1 has been deleted.\r\n");
	ts_expect(&t, "TOP 1 0", "-ERR Message 1 has been deleted.\r\n");
	ts_expect(&t, "LIST 1", "-ERR Message 1 has been deleted.\r\n");
	ts_expect(&t, "UIDL 1", "-ERR Message 1 has been deleted.\r\n");
	ts_expect(&t, "STAT", "+OK 1 " TS_SIZE2 "\r\n");
	ts_expect(&t, "LIST", "+OK 1 messages (" TS_SIZE2 " octets)\r\n2 " TS_SIZE2 "\r\n.\r\n");
	ts_expect(&t, "UIDL", "+OK Unique-ID listing follows.\r\n2 uid-two\r\n.\r\n");
	ts_expect(&t, "DELE", "-ERR Too few arguments for the DELE command.\r\n");
	ts_expect(&t, "DELE 1 2", "-ERR Too many arguments for the DELE command.\r\n");
	ts_expect(&t, "DELE 5", "-ERR No such message.\r\n");
	ts_expect(&t, "LAST", "+OK 2\r\n");
	ts_expect(&t, "RSET", "+OK Maildrop has 2 messages (95 octets).\r\n");
	ts_expect(&t, "LAST", "+OK 0\r\n");   /* back to the start of the session */
	ts_expect(&t, "STAT", "+OK 2 95\r\n");
	ts_expect(&t, "RSET x", "-ERR Too many arguments for the RSET command.\r\n");
	ts_done(&t);
}

static void test_uidl_noop_xtnd(void)
{
	ts_init(&t);
	ts_open_mbox(&t, TS_MSG1 TS_MSG2);
	ts_expect(&t, "UIDL", "+OK Unique-ID listing follows.\r\n1 uid-one\r\n2 uid-two\r\n.\r\n");
	ts_expect(&t, "UIDL 2", "+OK 2 uid-two\r\n");
	ts_expect(&t, "UIDL 3", "-ERR No such message.\r\n");
	ts_expect(&t, "UIDL 1 2", "-ERR Too many arguments for the UIDL command.\r\n");
	ts_expect(&t, "NOOP", "+OK\r\n");
	ts_expect(&t, "NOOP x", "-ERR Too many arguments for the NOOP command.\r\n");
	ts_expect(&t, "XTND", "-ERR XTND is not supported by this server.\r\n");
	ts_expect(&t, "XTND XMIT a b c", "-ERR XTND is not supported by this server.\r\n");
	/* AUTHORIZATION commands after login */
	ts_expect(&t, "USER bob", "-ERR Command not valid in this state.\r\n");
	ts_expect(&t, "PASS x", "-ERR Command not valid in this state.\r\n");
	ts_expect(&t, "APOP a b", "-ERR Command not valid in this state.\r\n");
	ts_expect(&t, "STLS", "-ERR Command not valid in this state.\r\n");
	ts_done(&t);
}

static void test_wrong_state(void)
{
	static const char *const cmds[] = {
		"STAT", "LIST", "RETR 1", "TOP 1 1", "DELE 1", "NOOP", "RSET", "UIDL", "LAST", "XTND"
	};

	ts_init(&t);   /* AUTHORIZATION, no maildrop */
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		ts_expect(&t, cmds[i], "-ERR Command not valid in this state.\r\n");
	ok(t.s.state == STATE_AUTH1, "state unchanged");
	ts_done(&t);
}

static void test_auto_delete(void)
{
	ts_init(&t);
	t.set.auto_delete = true;
	ts_open_mbox(&t, TS_MSG1 TS_MSG2);
	ts_expect(&t, "TOP 2 0", "+OK Message follows.\r\nX-UIDL: uid-two\r\nSubject: two\r\n\r\n.\r\n");
	ts_expect(&t, "STAT", "+OK 2 95\r\n");   /* TOP does not delete */
	(void)ts_cmd(&t, "RETR 2");
	ts_expect(&t, "STAT", "+OK 1 " TS_SIZE1 "\r\n");
	ts_expect(&t, "RETR 2", "-ERR Message 2 has been deleted.\r\n");
	ts_done(&t);
}

/* A spool cut short under the session: the read fails before anything was
 * sent (an -ERR), or after the +OK line went out (the session ends). */
static int drain(int fd)
{
	char tmp[65536], first[4];
	size_t got = 0, total = 0;
	ssize_t n;
	struct pollfd pfd = { fd, POLLIN, 0 };

	for (;;) {
		if (poll(&pfd, 1, 10000) <= 0)
			return 3;
		n = read(fd, tmp, sizeof(tmp));
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return 3;
		}
		for (ssize_t i = 0; i < n && got < sizeof(first); i++)
			first[got++] = tmp[i];
		total += (size_t)n;
	}
	/* More than the +OK line, less than the whole message. */
	return got == 4 && memcmp(first, "+OK ", 4) == 0 && total > 200 && total < 820000 ? 0 : 1;
}

static void test_send_failures(void)
{
	struct buf big = { 0 };
	pid_t drainer;
	int status;

	ts_init(&t);
	ts_open_mbox(&t, TS_MSG1 TS_MSG2);
	if (truncate(t.spool, 0) < 0)
		die("truncate");
	ts_expect(&t, "RETR 1", "-ERR [SYS/TEMP] Unable to read the message; try again later.\r\n");
	ok(t.s.state == STATE_TRANS && !t.s.send_failed, "nothing sent: the session goes on");
	ts_expect(&t, "LAST", "+OK 0\r\n");
	ts_done(&t);

	/* A message far longer than a block, cut in the middle.  A child
	 * drains the client's end (more than a socket buffer goes out) and
	 * reports whether it began with +OK. */
	buf_adds(&big, "From carol@example.org Sat Jan  3 01:05:36 1996\nSubject: big\n\n");
	for (int i = 0; i < 20000; i++)
		buf_adds(&big, "0123456789012345678901234567890123456789\n");
	ts_init(&t);
	ts_open_mbox(&t, big.p);
	if (truncate(t.spool, (off_t)(big.len / 2)) < 0)
		die("truncate");
	drainer = fork();
	if (drainer < 0)
		die("fork");
	if (drainer == 0) {
		close(t.p.fd_in);   /* the server's end: EOF must be able to come */
		_exit(drain(t.peer));
	}
	(void)ts_cmd(&t, "RETR 1");
	ok(t.s.state == STATE_END && t.s.send_failed, "broken off: the session ends");
	ts_done(&t);   /* closes the server's end: the drainer sees EOF */
	ok(waitpid(drainer, &status, 0) == drainer && WIFEXITED(status) &&
	   WEXITSTATUS(status) == 0, "the +OK line and part of the message went out");
	buf_free(&big);
}

int main(void)
{
	ts_setup_root("test_cmd_trans");
	test_stat_list();
	test_retr_top();
	test_dele_rset();
	test_uidl_noop_xtnd();
	test_wrong_state();
	test_auto_delete();
	test_send_failures();
	ts_cleanup_root();
	return tap_done();
}
