/*
 * test_commands: the command engine's checks, without a network or a
 * maildrop (server/commands.c cmd_prepare and friends).
 *
 * Covers: keyword lookup in any case, every command's arity errors, wrong
 * states, NUL and empty lines, overlong lines, the message-number parser
 * against the inputs of robustness notes §5.1 P6-P8, TOP's clamp, PASS's
 * rest-of-line argument.  The clear-text policy and user-name processing
 * are tested in test_policy.c, the log-login template in test_login.c; the
 * handlers behind dispatch in test_cmd_*.c.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "server/commands.h"
#include "tests/unit/tap.h"

/* A fake maildrop of 3 messages, the third deleted. */
static const bool fake_deleted[3] = { false, false, true };

static bool fake_is_deleted(const void *ctx, unsigned i)
{
	const bool *d = ctx;
	return i < 3 && d[i];
}

static const struct cmd_msgview view3 = { 3, fake_is_deleted, fake_deleted };

static struct cmd_call call;
static char err[128];

/* Runs cmd_prepare on a C string. */
static bool prep(const char *line, enum session_state st)
{
	err[0] = '\0';
	return cmd_prepare(line, strlen(line), st, st == STATE_TRANS ? &view3 : NULL,
			   &call, err, sizeof(err));
}

/* Expects line to be refused in state st with reply text want. */
static void refused(const char *line, enum session_state st, const char *want)
{
	bool r = prep(line, st);
	ok(!r, "refused: \"%s\"", line);
	is_str(err, want, "reply for \"%s\"", line);
}

/* Expects line to pass in state st as command name with argc arguments. */
static void accepted(const char *line, enum session_state st, const char *name, unsigned argc)
{
	bool r = prep(line, st);
	ok(r, "accepted: \"%s\"%s%s", line, r ? "" : " -- ", r ? "" : err);
	if (r) {
		is_str(call.cmd->name, name, "row for \"%s\"", line);
		is_int(call.argc, argc, "argc for \"%s\"", line);
	}
}

static void test_lookup(void)
{
	const struct command *c = cmd_lookup("USER", 4);

	ok(c != NULL && strcmp(c->name, "USER") == 0, "lookup USER");
	ok(cmd_lookup("user", 4) == c, "lookup user");
	ok(cmd_lookup("uSeR", 4) == c, "lookup uSeR");
	ok(cmd_lookup("USERX", 5) == NULL, "lookup USERX fails");
	ok(cmd_lookup("USE", 3) == NULL, "lookup USE fails");
	ok(cmd_lookup("", 0) == NULL, "lookup empty fails");
	ok(cmd_lookup("top", 3) != NULL, "lookup top");
	ok(cmd_lookup("Uidl", 4) != NULL, "lookup Uidl");
	accepted("retr 1", STATE_TRANS, "RETR", 1);
	accepted("ReTr 1", STATE_TRANS, "RETR", 1);
	accepted("capa", STATE_AUTH1, "CAPA", 0);
	refused("FOO", STATE_AUTH1, "Unknown command.");
	refused("FOO", STATE_TRANS, "Unknown command.");
	refused("USERX bob", STATE_AUTH1, "Unknown command.");
	refused("EUIDL", STATE_TRANS, "Unknown command.");
	refused("%s%n%x", STATE_AUTH1, "Unknown command.");
}

struct arity {
	const char *name;
	enum session_state state;
	unsigned min, max;
};

/* What RFC 1939 (and our notes) say each command takes. */
static const struct arity arities[] = {
	{ "USER", STATE_AUTH1, 1, 1 },
	{ "APOP", STATE_AUTH1, 2, 2 },
	{ "CAPA", STATE_AUTH1, 0, 0 },
	{ "CAPA", STATE_TRANS, 0, 0 },
	{ "QUIT", STATE_AUTH1, 0, 0 },
	{ "QUIT", STATE_TRANS, 0, 0 },
	{ "STAT", STATE_TRANS, 0, 0 },
	{ "LIST", STATE_TRANS, 0, 1 },
	{ "RETR", STATE_TRANS, 1, 1 },
	{ "TOP", STATE_TRANS, 2, 2 },
	{ "DELE", STATE_TRANS, 1, 1 },
	{ "NOOP", STATE_TRANS, 0, 0 },
	{ "RSET", STATE_TRANS, 0, 0 },
	{ "UIDL", STATE_TRANS, 0, 1 },
	{ "LAST", STATE_TRANS, 0, 0 },
};

static void test_arity(void)
{
	char line[128], want[128];

	for (size_t i = 0; i < sizeof(arities) / sizeof(arities[0]); i++) {
		const struct arity *a = &arities[i];
		unsigned n;

		/* min-1 arguments */
		if (a->min > 0) {
			snprintf(line, sizeof(line), "%s", a->name);
			for (n = 0; n + 1 < a->min; n++)
				strcat(line, " 1");
			snprintf(want, sizeof(want), "Too few arguments for the %s command.", a->name);
			refused(line, a->state, want);
		}
		/* max+1 arguments */
		snprintf(line, sizeof(line), "%s", a->name);
		for (n = 0; n < a->max + 1; n++)
			strcat(line, " 1");
		snprintf(want, sizeof(want), "Too many arguments for the %s command.", a->name);
		refused(line, a->state, want);
		/* exactly min and exactly max: accepted (message 1 exists) */
		snprintf(line, sizeof(line), "%s", a->name);
		for (n = 0; n < a->min; n++)
			strcat(line, strcmp(a->name, "APOP") == 0 && n == 0 ? " bob" : " 1");
		accepted(line, a->state, a->name, a->min);
		snprintf(line, sizeof(line), "%s", a->name);
		for (n = 0; n < a->max; n++)
			strcat(line, strcmp(a->name, "APOP") == 0 && n == 0 ? " bob" : " 1");
		accepted(line, a->state, a->name, a->max);
	}
	/* The canonical upper-case name, whatever the client typed. */
	refused("retr", STATE_TRANS, "Too few arguments for the RETR command.");
	refused("top 1", STATE_TRANS, "Too few arguments for the TOP command.");
	refused("list 1 2 3 4 5 6 7 8 9", STATE_TRANS, "Too many arguments for the LIST command.");
	refused("PASS", STATE_AUTH2, "Too few arguments for the PASS command.");
	refused("PASS ", STATE_AUTH2, "Too few arguments for the PASS command.");
	refused("USER ", STATE_AUTH1, "Too few arguments for the USER command.");
	/* The rows that are not built accept any arguments and say so. */
	accepted("AUTH", STATE_AUTH1, "AUTH", 0);
	accepted("AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=", STATE_AUTH1, "AUTH", 2);
	accepted("STLS", STATE_AUTH1, "STLS", 0);
	accepted("XTND XMIT", STATE_TRANS, "XTND", 1);
	accepted("XTND XLST a b c d e", STATE_TRANS, "XTND", CMD_MAX_ARGS);
}

static void test_separators(void)
{
	accepted("TOP 1 2", STATE_TRANS, "TOP", 2);
	accepted("TOP  1   2", STATE_TRANS, "TOP", 2);
	accepted("TOP\t1\t2", STATE_TRANS, "TOP", 2);
	accepted("TOP 1 2 ", STATE_TRANS, "TOP", 2);
	accepted("TOP 1 2 \t ", STATE_TRANS, "TOP", 2);
	accepted("  NOOP", STATE_TRANS, "NOOP", 0);
	accepted("NOOP ", STATE_TRANS, "NOOP", 0);
	accepted("RETR  1", STATE_TRANS, "RETR", 1);
	is_int(call.msg, 1, "RETR  1 is message 1");
	accepted("USER bob", STATE_AUTH1, "USER", 1);
	is_str(call.argv[0], "bob", "USER argument");
	accepted("APOP bob 0123456789abcdef0123456789abcdef", STATE_AUTH1, "APOP", 2);
	is_str(call.argv[0], "bob", "APOP name");
	is_str(call.argv[1], "0123456789abcdef0123456789abcdef", "APOP digest");
}

static void test_states(void)
{
	const char *trans_only[] = { "STAT", "LIST", "RETR 1", "TOP 1 1", "DELE 1",
				     "NOOP", "RSET", "UIDL", "LAST", "XTND XMIT" };

	for (size_t i = 0; i < sizeof(trans_only) / sizeof(trans_only[0]); i++) {
		refused(trans_only[i], STATE_AUTH1, "Command not valid in this state.");
		refused(trans_only[i], STATE_AUTH2, "Command not valid in this state.");
	}
	refused("USER bob", STATE_TRANS, "Command not valid in this state.");
	refused("USER bob", STATE_AUTH2, "Command not valid in this state.");
	refused("PASS secret", STATE_AUTH1, "Command not valid in this state.");
	refused("PASS secret", STATE_TRANS, "Command not valid in this state.");
	refused("APOP bob 0123456789abcdef0123456789abcdef", STATE_AUTH2,
		"Command not valid in this state.");
	refused("APOP bob 0123456789abcdef0123456789abcdef", STATE_TRANS,
		"Command not valid in this state.");
	refused("STLS", STATE_TRANS, "Command not valid in this state.");
	refused("AUTH PLAIN", STATE_TRANS, "Command not valid in this state.");
	accepted("CAPA", STATE_AUTH2, "CAPA", 0);
	accepted("QUIT", STATE_AUTH2, "QUIT", 0);
	/* Nothing runs once the session is updating or over. */
	refused("QUIT", STATE_UPDATE, "Command not valid in this state.");
	refused("NOOP", STATE_END, "Command not valid in this state.");
	/* The state check comes before the arity check. */
	refused("RETR", STATE_AUTH1, "Command not valid in this state.");
}

static void test_bad_lines(void)
{
	char longline[CMD_MAX_LINE + 2];

	refused("", STATE_AUTH1, "Unknown command.");
	refused(" ", STATE_AUTH1, "Unknown command.");
	refused("\t \t", STATE_TRANS, "Unknown command.");

	ok(!cmd_prepare("US\0ER x", 7, STATE_AUTH1, NULL, &call, err, sizeof(err)), "NUL in keyword");
	is_str(err, "Invalid character in command.", "NUL in keyword: reply");
	ok(!cmd_prepare("PASS a\0b", 8, STATE_AUTH2, NULL, &call, err, sizeof(err)), "NUL in password");
	is_str(err, "Invalid character in command.", "NUL in password: reply");
	ok(!cmd_prepare("\0", 1, STATE_AUTH1, NULL, &call, err, sizeof(err)), "lone NUL");
	is_str(err, "Invalid character in command.", "lone NUL: reply");
	ok(!cmd_prepare("NOOP\0", 5, STATE_TRANS, &view3, &call, err, sizeof(err)), "trailing NUL");
	is_str(err, "Invalid character in command.", "trailing NUL: reply");

	/* At the limit: accepted; one more: refused. */
	memset(longline, ' ', sizeof(longline));
	memcpy(longline, "NOOP", 4);
	ok(cmd_prepare(longline, CMD_MAX_LINE, STATE_TRANS, &view3, &call, err, sizeof(err)),
	   "line of %d octets accepted", CMD_MAX_LINE);
	ok(!cmd_prepare(longline, CMD_MAX_LINE + 1, STATE_TRANS, &view3, &call, err, sizeof(err)),
	   "line of %d octets refused", CMD_MAX_LINE + 1);
	is_str(err, "Command line too long.", "too long: reply");

	/* A stray CR is data, not a separator. */
	refused("RETR 1\r", STATE_TRANS, "Invalid message number.");
	refused("NOOP\r", STATE_TRANS, "Unknown command.");
}

static void test_msgnum(void)
{
	char big[2001];
	unsigned m = 0;

	is_int(cmd_parse_msgnum("1", &view3, &m), CMD_NUM_OK, "1");
	is_int(m, 1, "1 -> 1");
	is_int(cmd_parse_msgnum("2", &view3, &m), CMD_NUM_OK, "2");
	is_int(cmd_parse_msgnum("01", &view3, &m), CMD_NUM_OK, "01");
	is_int(m, 1, "01 -> 1");
	is_int(cmd_parse_msgnum("0", &view3, &m), CMD_NUM_RANGE, "0");
	is_int(cmd_parse_msgnum("3", &view3, &m), CMD_NUM_DELETED, "3 (deleted)");
	is_int(cmd_parse_msgnum("4", &view3, &m), CMD_NUM_RANGE, "4 (count+1)");
	is_int(cmd_parse_msgnum("-1", &view3, &m), CMD_NUM_SYNTAX, "-1");
	is_int(cmd_parse_msgnum("+1", &view3, &m), CMD_NUM_SYNTAX, "+1");
	is_int(cmd_parse_msgnum(" 1", &view3, &m), CMD_NUM_SYNTAX, "\" 1\"");
	is_int(cmd_parse_msgnum("1 ", &view3, &m), CMD_NUM_SYNTAX, "\"1 \"");
	is_int(cmd_parse_msgnum("1x", &view3, &m), CMD_NUM_SYNTAX, "1x");
	is_int(cmd_parse_msgnum("1e3", &view3, &m), CMD_NUM_SYNTAX, "1e3");
	is_int(cmd_parse_msgnum("0x1", &view3, &m), CMD_NUM_SYNTAX, "0x1");
	is_int(cmd_parse_msgnum("", &view3, &m), CMD_NUM_SYNTAX, "empty");
	/* 2^32 + 1 must not wrap to message 1. */
	is_int(cmd_parse_msgnum("4294967297", &view3, &m), CMD_NUM_RANGE, "4294967297");
	is_int(cmd_parse_msgnum("4294967296", &view3, &m), CMD_NUM_RANGE, "4294967296");
	is_int(cmd_parse_msgnum("18446744073709551615", &view3, &m), CMD_NUM_RANGE, "2^64-1");
	is_int(cmd_parse_msgnum("18446744073709551617", &view3, &m), CMD_NUM_SYNTAX, "2^64+1");
	memset(big, '9', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	is_int(cmd_parse_msgnum(big, &view3, &m), CMD_NUM_SYNTAX, "2000 digits");
	big[0] = '1';
	memset(big + 1, '0', sizeof(big) - 2);
	is_int(cmd_parse_msgnum(big, &view3, &m), CMD_NUM_SYNTAX, "1 followed by 1999 zeros");
	is_int(cmd_parse_msgnum("1", NULL, &m), CMD_NUM_RANGE, "no maildrop");

	/* The same through the engine, for every command that takes one. */
	refused("RETR 0", STATE_TRANS, "No such message.");
	refused("RETR -1", STATE_TRANS, "Invalid message number.");
	refused("RETR +1", STATE_TRANS, "Invalid message number.");
	accepted("RETR 01", STATE_TRANS, "RETR", 1);
	is_int(call.msg, 1, "RETR 01 is message 1");
	refused("RETR 1x", STATE_TRANS, "Invalid message number.");
	refused("RETR 4294967297", STATE_TRANS, "No such message.");
	refused("RETR 18446744073709551617", STATE_TRANS, "Invalid message number.");
	refused("LIST 4", STATE_TRANS, "No such message.");
	refused("LIST 3", STATE_TRANS, "Message 3 has been deleted.");
	refused("LIST 003", STATE_TRANS, "Message 3 has been deleted.");
	refused("UIDL 3", STATE_TRANS, "Message 3 has been deleted.");
	refused("UIDL 0", STATE_TRANS, "No such message.");
	refused("DELE 3", STATE_TRANS, "Message 3 has been deleted.");
	refused("DELE a", STATE_TRANS, "Invalid message number.");
	refused("TOP 3 1", STATE_TRANS, "Message 3 has been deleted.");
	refused("TOP 9 1", STATE_TRANS, "No such message.");
	accepted("DELE 2", STATE_TRANS, "DELE", 1);
	is_int(call.msg, 2, "DELE 2 is message 2");
	accepted("LIST", STATE_TRANS, "LIST", 0);
	accepted("UIDL 1", STATE_TRANS, "UIDL", 1);

	{
		/* Through the engine a 2000-digit number is a too-long line;
		 * 500 digits fit and are refused as a number. */
		char line[2100];
		snprintf(line, sizeof(line), "RETR %s", big);
		refused(line, STATE_TRANS, "Command line too long.");
		line[5 + 500] = '\0';
		refused(line, STATE_TRANS, "Invalid message number.");
	}
}

static void test_top_count(void)
{
	char line[CMD_MAX_LINE + 1];
	uint64_t n = 0;

	accepted("TOP 1 0", STATE_TRANS, "TOP", 2);
	is_int(call.lines, 0, "TOP 1 0: 0 lines");
	accepted("TOP 1 10", STATE_TRANS, "TOP", 2);
	is_int(call.lines, 10, "TOP 1 10: 10 lines");
	accepted("TOP 1 99999999999", STATE_TRANS, "TOP", 2);
	ok(call.lines == 99999999999ULL, "TOP 1 99999999999 kept");
	accepted("TOP 2 99999999999999999999999", STATE_TRANS, "TOP", 2);
	ok(call.lines == UINT64_MAX, "huge count clamps to the whole message");
	memset(line, '7', sizeof(line));
	memcpy(line, "TOP 1 ", 6);
	line[400] = '\0';
	accepted(line, STATE_TRANS, "TOP", 2);
	ok(call.lines == UINT64_MAX, "394-digit count clamps");
	refused("TOP 1 -1", STATE_TRANS, "Invalid line count.");
	refused("TOP 1 +1", STATE_TRANS, "Invalid line count.");
	refused("TOP 1 1x", STATE_TRANS, "Invalid line count.");
	refused("TOP 1", STATE_TRANS, "Too few arguments for the TOP command.");
	/* The message number is checked first. */
	refused("TOP 0 x", STATE_TRANS, "No such message.");
	ok(cmd_parse_linecount("5", &n) && n == 5, "linecount 5");
	ok(!cmd_parse_linecount("", &n), "linecount empty refused");
	ok(cmd_parse_linecount("18446744073709551617", &n) && n == UINT64_MAX, "linecount 2^64+1 clamps");
}

static void test_pass(void)
{
	accepted("PASS secret", STATE_AUTH2, "PASS", 1);
	is_str(call.argv[0], "secret", "plain password");
	accepted("PASS two words", STATE_AUTH2, "PASS", 1);
	is_str(call.argv[0], "two words", "spaces inside kept");
	accepted("PASS  lead", STATE_AUTH2, "PASS", 1);
	is_str(call.argv[0], " lead", "leading space kept");
	accepted("PASS trail  ", STATE_AUTH2, "PASS", 1);
	is_str(call.argv[0], "trail  ", "trailing spaces kept");
	accepted("pass\tx y", STATE_AUTH2, "PASS", 1);
	is_str(call.argv[0], "x y", "TAB ends the keyword");
	accepted("PASS %s%n", STATE_AUTH2, "PASS", 1);
	is_str(call.argv[0], "%s%n", "format characters are data");
	accepted("PASS   ", STATE_AUTH2, "PASS", 1);
	is_str(call.argv[0], "  ", "a password of two spaces");
}

int main(void)
{
	test_lookup();
	test_arity();
	test_separators();
	test_states();
	test_bad_lines();
	test_msgnum();
	test_top_count();
	test_pass();
	return tap_done();
}
