/*
 * test_confparse: the Qpopper configuration grammar.  Every statement form,
 * quoting and escapes, comments, each error with its file and line, the
 * length limits, the file checks, and nested includes through a callback
 * that recurses the way server/options.c does for config-file.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/confparse.h"
#include "tests/unit/tap.h"

static char dir[400];

/* ---- a recording callback ----------------------------------------------- */

struct rec {
	char log[8192];
	size_t len;
	unsigned max_depth;
	char nested_err[1024];
};

/* Records "SET name=value;" / "SET name;" / "RESET name;" with the line
 * number; refuses the option "nope"; includes files for "config-file". */
static const char *record(const struct confparse_stmt *st, void *ctx)
{
	struct rec *r = ctx;
	int n;

	if (st->depth > r->max_depth)
		r->max_depth = st->depth;
	if (strcasecmp(st->name, "nope") == 0)
		return "unknown option";
	if (strcmp(st->name, "config-file") == 0 && st->value != NULL) {
		char err[1024];

		if (confparse_file(st->value, st->depth + 1, record, r, err, sizeof(err)) < 0) {
			snprintf(r->nested_err, sizeof(r->nested_err), "%s", err);
			return r->nested_err;
		}
		return NULL;
	}
	if (st->value != NULL)
		n = snprintf(r->log + r->len, sizeof(r->log) - r->len, "%u:%s %s=%s;",
			     st->line, st->op == CONFPARSE_SET ? "SET" : "RESET",
			     st->name, st->value);
	else
		n = snprintf(r->log + r->len, sizeof(r->log) - r->len, "%u:%s %s;",
			     st->line, st->op == CONFPARSE_SET ? "SET" : "RESET", st->name);
	if (n > 0 && (size_t)n < sizeof(r->log) - r->len)
		r->len += (size_t)n;
	return NULL;
}

static int parse(const char *text, struct rec *r, char *err, size_t errsize)
{
	memset(r, 0, sizeof(*r));
	err[0] = '\0';
	return confparse_buffer(text, strlen(text), "test.conf", 0, record, r, err, errsize);
}

static void parses_as(const char *text, const char *want, const char *what)
{
	struct rec r;
	char err[512];
	int rc = parse(text, &r, err, sizeof(err));

	ok(rc == 0 && strcmp(r.log, want) == 0, "%s", what);
	if (rc != 0 || strcmp(r.log, want) != 0)
		printf("#   rc %d, got \"%s\", err \"%s\"\n#   expected \"%s\"\n", rc, r.log, err, want);
}

static void fails_with(const char *text, const char *want_err, const char *what)
{
	struct rec r;
	char err[512];
	int rc = parse(text, &r, err, sizeof(err));

	ok(rc == -1 && strcmp(err, want_err) == 0, "%s", what);
	if (rc != -1 || strcmp(err, want_err) != 0)
		printf("#   rc %d, got \"%s\"\n#   expected \"%s\"\n", rc, err, want_err);
}

static void test_statements(void)
{
	parses_as("set debug\n", "1:SET debug;", "set NAME");
	parses_as("reset debug\n", "1:RESET debug;", "reset NAME");
	parses_as("set timeout = 30\n", "1:SET timeout=30;", "set NAME = VALUE");
	parses_as("set timeout=30\n", "1:SET timeout=30;", "no blanks around =");
	parses_as("set timeout= 30\n", "1:SET timeout=30;", "blank after = only");
	parses_as("  \tset\t timeout \t=\t 30 \t\n", "1:SET timeout=30;", "tabs and spaces everywhere");
	parses_as("SET Timeout = 30\nReSeT Shy\n", "1:SET Timeout=30;2:RESET Shy;",
		  "keywords in any case; the name is passed as written");
	parses_as("set log-facility = local0\nset x2 = 2\n",
		  "1:SET log-facility=local0;2:SET x2=2;", "names with '-' and digits");
	parses_as("set spool-dir = /var/mail\n", "1:SET spool-dir=/var/mail;", "a path value");
	parses_as("set debug", "1:SET debug;", "last line without a newline");
	parses_as("set a = 1\r\nset b = 2\r\n", "1:SET a=1;2:SET b=2;", "CRLF line ends");
	parses_as("", "", "empty text");
	parses_as("\n\n\n", "", "only empty lines");
	parses_as("\n\nset a = 1\n\n\nset b\n", "3:SET a=1;6:SET b;", "line numbers count empty lines");
}

static void test_comments(void)
{
	parses_as("# a comment\n", "", "comment line");
	parses_as("   # indented comment\n", "", "indented comment");
	parses_as("#set debug\n", "", "commented-out statement");
	parses_as("set debug # on\n", "1:SET debug;", "comment after set NAME");
	parses_as("set debug# on\n", "1:SET debug;", "comment right after the name");
	parses_as("reset debug # off\n", "1:RESET debug;", "comment after reset NAME");
	parses_as("set a = b # comment\n", "1:SET a=b;", "comment after a value");
	parses_as("set a = foo#bar\n", "1:SET a=foo#bar;", "'#' inside a word is data");
	parses_as("set a = \"x # y\"\n", "1:SET a=x # y;", "'#' inside quotes is data");
	parses_as("set a = \"x\"# c\n", "1:SET a=x;", "comment right after a closing quote");
}

static void test_quotes(void)
{
	parses_as("set a = \"hello world\"\n", "1:SET a=hello world;", "double quotes");
	parses_as("set a = 'hello world'\n", "1:SET a=hello world;", "single quotes");
	parses_as("set a = `hello world`\n", "1:SET a=hello world;", "back quotes");
	parses_as("set a = \"say \\\"hi\\\"\"\n", "1:SET a=say \"hi\";", "escaped double quote");
	parses_as("set a = 'it\\'s'\n", "1:SET a=it's;", "escaped single quote");
	parses_as("set a = `a\\`b`\n", "1:SET a=a`b;", "escaped back quote");
	parses_as("set a = \"back\\\\slash\"\n", "1:SET a=back\\slash;", "escaped backslash");
	parses_as("set a = \"end\\\\\"\n", "1:SET a=end\\;", "escaped backslash before the closing quote");
	parses_as("set a = \"a\\nb\"\n", "1:SET a=a\\nb;", "other backslashes are kept as written");
	parses_as("set a = \"it's\"\n", "1:SET a=it's;", "other quote characters inside are data");
	parses_as("set a = \"\"\n", "1:SET a=;", "empty quoted value");
	parses_as("set a = \"  padded  \"\n", "1:SET a=  padded  ;", "blanks inside quotes kept");
	parses_as("set a = x\"y\n", "1:SET a=x\"y;", "a quote inside a word is data");
	parses_as("set log-login = \"%0 from %2\"\n", "1:SET log-login=%0 from %2;", "'%' is data");
}

static void test_errors(void)
{
	fails_with("set\n", "test.conf:1: missing option name", "set without a name");
	fails_with("set \n", "test.conf:1: missing option name", "set and a blank");
	fails_with("reset\n", "test.conf:1: missing option name", "reset without a name");
	fails_with("bogus x\n", "test.conf:1: expected \"set\" or \"reset\"", "unknown keyword");
	fails_with("settimeout = 1\n", "test.conf:1: expected \"set\" or \"reset\"",
		   "keyword glued to the name");
	fails_with("= 1\n", "test.conf:1: expected \"set\" or \"reset\"", "no keyword");
	fails_with("set a =\n", "test.conf:1: missing value after \"=\"", "missing value");
	fails_with("set a = # c\n", "test.conf:1: missing value after \"=\"", "only a comment after =");
	fails_with("set a = b c\n", "test.conf:1: unexpected text after the value", "two words");
	fails_with("set a = \"b\" c\n", "test.conf:1: unexpected text after the value",
		   "text after a quoted value");
	fails_with("set a = \"b\"c\n", "test.conf:1: unexpected text after the value",
		   "text glued to a closing quote");
	fails_with("set a = \"open\n", "test.conf:1: unterminated quoted string", "unterminated quote");
	fails_with("set a = \"open\\\"\n", "test.conf:1: unterminated quoted string",
		   "escaped closing quote leaves it unterminated");
	fails_with("reset a = 1\n", "test.conf:1: reset takes no value", "reset with a value");
	fails_with("reset a 1\n", "test.conf:1: reset takes no value", "reset with a word");
	fails_with("set a b\n", "test.conf:1: expected \"=\" after the option name", "set NAME VALUE");
	fails_with("set a! = 1\n", "test.conf:1: invalid character in option name", "bad name character");
	fails_with("set a_b = 1\n", "test.conf:1: invalid character in option name", "underscore");
	fails_with("set !a = 1\n", "test.conf:1: invalid character in option name", "bad first character");
	fails_with("set a = 1\nset nope = 2\nset c = 3\n", "test.conf:2: unknown option",
		   "the callback's message gets the file and line");
	fails_with("# one\n\nset a = 1\n\nset b = \"x\n", "test.conf:5: unterminated quoted string",
		   "the line number counts comments and empty lines");
	fails_with("set a = 1\r\nset b c\r\n", "test.conf:2: expected \"=\" after the option name",
		   "line numbers with CRLF");

	{
		struct rec r;
		char err[512];

		parse("set a = 1\nset nope\nset c = 3\n", &r, err, sizeof(err));
		is_str(r.log, "1:SET a=1;", "statements before an error were delivered, none after");
	}
	{
		struct rec r;
		char err[512];
		static const char text[] = "set a = 1\nset b\0 = 2\n";
		int rc;

		memset(&r, 0, sizeof(r));
		rc = confparse_buffer(text, sizeof(text) - 1, "test.conf", 0, record, &r,
				      err, sizeof(err));
		ok(rc == -1 && strcmp(err, "test.conf:2: NUL byte in line") == 0, "NUL byte refused");
	}
	{
		struct rec r;
		char err[16];

		ok(parse("set a b\n", &r, err, sizeof(err)) == -1 && strlen(err) == 15,
		   "error text truncated to errsize");
		memset(&r, 0, sizeof(r));
		ok(confparse_buffer("set a b\n", 8, "t", 0, record, &r, NULL, 0) == -1,
		   "err may be NULL");
	}
}

static void test_limits(void)
{
	static char text[3 * CONFPARSE_MAX_LINE];
	char want[CONFPARSE_MAX_VALUE + 32];
	size_t p;

	/* line length: limit-1, limit, limit+1 (comment lines carry no value) */
	text[0] = '#';
	memset(text + 1, 'c', CONFPARSE_MAX_LINE - 2);
	strcpy(text + CONFPARSE_MAX_LINE - 1, "\nset a\n");
	parses_as(text, "2:SET a;", "line of limit-1 octets");
	memset(text + 1, 'c', CONFPARSE_MAX_LINE - 1);
	strcpy(text + CONFPARSE_MAX_LINE, "\nset a\n");
	parses_as(text, "2:SET a;", "line of limit octets");
	memset(text + 1, 'c', CONFPARSE_MAX_LINE);
	strcpy(text + CONFPARSE_MAX_LINE + 1, "\nset a\n");
	fails_with(text, "test.conf:1: line too long", "line of limit+1 octets");
	memset(text + 1, 'c', CONFPARSE_MAX_LINE - 1);
	strcpy(text + CONFPARSE_MAX_LINE, "\r\nset a\n");
	parses_as(text, "2:SET a;", "CR of a CRLF does not count toward the limit");
	strcpy(text, "set a = 1\n");
	memset(text + 10, ' ', 2 * CONFPARSE_MAX_LINE);
	strcpy(text + 10 + 2 * CONFPARSE_MAX_LINE, "\n");
	fails_with(text, "test.conf:2: line too long", "a long line of blanks on line 2");

	/* value length */
	p = (size_t)snprintf(text, sizeof(text), "set a = ");
	memset(text + p, 'v', CONFPARSE_MAX_VALUE);
	strcpy(text + p + CONFPARSE_MAX_VALUE, "\n");
	snprintf(want, sizeof(want), "1:SET a=%.*s;", CONFPARSE_MAX_VALUE, text + p);
	parses_as(text, want, "value of CONFPARSE_MAX_VALUE octets");
	memset(text + p, 'v', CONFPARSE_MAX_VALUE + 1);
	strcpy(text + p + CONFPARSE_MAX_VALUE + 1, "\n");
	fails_with(text, "test.conf:1: value too long", "value one octet longer");
	p = (size_t)snprintf(text, sizeof(text), "set a = \"");
	memset(text + p, 'v', CONFPARSE_MAX_VALUE + 1);
	strcpy(text + p + CONFPARSE_MAX_VALUE + 1, "\"\n");
	fails_with(text, "test.conf:1: value too long", "quoted value one octet longer");
}

static void test_bool_uint(void)
{
	static const char *const yes[] = { "true", "TRUE", "True", "1", "yes", "YES", "on", "On" };
	static const char *const no[] = { "false", "FALSE", "0", "no", "No", "off", "OFF" };
	static const char *const bad[] = { "", "2", "tru", "truee", "y", "n", " true", "true ", "-1" };
	unsigned long n;
	size_t i;
	bool b;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ok(confparse_bool(yes[i], &b) && b, "bool \"%s\" is true", yes[i]);
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ok(confparse_bool(no[i], &b) && !b, "bool \"%s\" is false", no[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(!confparse_bool(bad[i], &b), "bool \"%s\" refused", bad[i]);
	ok(!confparse_bool(NULL, &b), "bool NULL refused");

	ok(confparse_uint("0", 100, &n) && n == 0, "uint 0");
	ok(confparse_uint("600", 1000, &n) && n == 600, "uint decimal");
	ok(confparse_uint("0x1f", 100, &n) && n == 31, "uint hex");
	ok(confparse_uint("0X1F", 100, &n) && n == 31, "uint HEX");
	ok(confparse_uint("017", 100, &n) && n == 15, "uint leading 0 is octal (strtol base 0)");
	ok(confparse_uint("100", 100, &n) && n == 100, "uint at max");
	ok(!confparse_uint("101", 100, &n), "uint max+1 refused");
	ok(confparse_uint("18446744073709551615", (unsigned long)-1, &n) && n == (unsigned long)-1,
	   "uint ULONG_MAX");
	ok(!confparse_uint("18446744073709551616", (unsigned long)-1, &n), "uint overflow refused");
	ok(!confparse_uint("0xffffffffffffffffff", (unsigned long)-1, &n), "uint hex overflow refused");
	ok(!confparse_uint("", 100, &n), "uint empty refused");
	ok(!confparse_uint("-1", 100, &n), "uint negative refused");
	ok(!confparse_uint("+1", 100, &n), "uint sign refused");
	ok(!confparse_uint(" 1", 100, &n), "uint blank refused");
	ok(!confparse_uint("1s", 100, &n), "uint suffix refused");
	ok(!confparse_uint("08", 100, &n), "uint bad octal digit refused");
	ok(!confparse_uint("0x", 100, &n), "uint bare 0x refused");
	ok(!confparse_uint("0xg", 100, &n), "uint bad hex digit refused");
	ok(!confparse_uint("1a", 100, &n), "uint hex digit in decimal refused");
	ok(!confparse_uint(NULL, 100, &n), "uint NULL refused");
}

/* ---- files ---------------------------------------------------------------- */

static const char *path_in(const char *name)
{
	static char bufs[4][512];
	static int next;
	char *p = bufs[next++ % 4];

	snprintf(p, 512, "%s/%s", dir, name);
	return p;
}

static void write_text(const char *name, const char *text)
{
	FILE *f = fopen(path_in(name), "w");

	if (f == NULL) {
		perror(name);
		exit(2);
	}
	fputs(text, f);
	fclose(f);
}

static void test_files(void)
{
	struct rec r;
	char err[1024], want[1024];
	struct timespec t0, t1;
	FILE *f;
	int i, rc;

	write_text("main.conf", "# main\nset timeout = 30\nreset shy\n");
	memset(&r, 0, sizeof(r));
	rc = confparse_file(path_in("main.conf"), 0, record, &r, err, sizeof(err));
	ok(rc == 0 && strcmp(r.log, "2:SET timeout=30;3:RESET shy;") == 0, "a file parses");

	write_text("bad.conf", "set timeout = 30\n\nset a b\n");
	rc = confparse_file(path_in("bad.conf"), 0, record, &r, err, sizeof(err));
	snprintf(want, sizeof(want), "%s:3: expected \"=\" after the option name", path_in("bad.conf"));
	ok(rc == -1 && strcmp(err, want) == 0, "a file's error is \"FILE:LINE: message\"");

	rc = confparse_file(path_in("missing.conf"), 0, record, &r, err, sizeof(err));
	snprintf(want, sizeof(want), "%s: cannot open: %s", path_in("missing.conf"), strerror(ENOENT));
	ok(rc == -1 && strcmp(err, want) == 0, "missing file: \"FILE: cannot open: ...\"");

	ok(symlink(path_in("main.conf"), path_in("link.conf")) == 0, "setup: symlink");
	rc = confparse_file(path_in("link.conf"), 0, record, &r, err, sizeof(err));
	ok(rc == -1 && strstr(err, "symbolic link") != NULL, "a symlinked file is refused");

	ok(mkdir(path_in("dir.conf"), 0700) == 0, "setup: directory");
	rc = confparse_file(path_in("dir.conf"), 0, record, &r, err, sizeof(err));
	ok(rc == -1 && strstr(err, "not a regular file") != NULL, "a directory is refused");

	ok(mkfifo(path_in("fifo.conf"), 0600) == 0, "setup: FIFO");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = confparse_file(path_in("fifo.conf"), 0, record, &r, err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ok(rc == -1 && strstr(err, "not a regular file") != NULL, "a FIFO is refused");
	ok(t1.tv_sec - t0.tv_sec < 2, "... without blocking");

	/* size: 1 MiB is fine, one byte more is not */
	f = fopen(path_in("big.conf"), "w");
	for (i = 0; i < 1024 * 1024 / 64; i++)
		fprintf(f, "#%62s\n", "");
	fclose(f);
	memset(&r, 0, sizeof(r));
	rc = confparse_file(path_in("big.conf"), 0, record, &r, err, sizeof(err));
	ok(rc == 0, "a 1 MiB file of comments is read");
	f = fopen(path_in("big.conf"), "a");
	fputc('\n', f);
	fclose(f);
	rc = confparse_file(path_in("big.conf"), 0, record, &r, err, sizeof(err));
	ok(rc == -1 && strstr(err, "too large") != NULL, "1 MiB + 1 byte is refused");
}

static void test_includes(void)
{
	struct rec r;
	char err[4096], want[2048], text[600];
	int rc;

	/* a chain: main -> sub, both delivered with their depth */
	snprintf(text, sizeof(text), "set a = 1\nset config-file = %s\nset c = 3\n",
		 path_in("sub.conf"));
	write_text("top.conf", text);
	write_text("sub.conf", "set b = 2\n");
	memset(&r, 0, sizeof(r));
	rc = confparse_file(path_in("top.conf"), 0, record, &r, err, sizeof(err));
	ok(rc == 0 && strcmp(r.log, "1:SET a=1;1:SET b=2;3:SET c=3;") == 0,
	   "an included file's statements arrive in place");
	is_int(r.max_depth, 1, "the included file's statements carry depth 1");

	/* an error in the included file names both files and lines */
	write_text("sub.conf", "set b = 2\nset nope = 1\n");
	rc = confparse_file(path_in("top.conf"), 0, record, &r, err, sizeof(err));
	snprintf(want, sizeof(want), "%s:2: %s:2: unknown option", path_in("top.conf"),
		 path_in("sub.conf"));
	ok(rc == -1 && strcmp(err, want) == 0, "nested error: \"TOP:LINE: SUB:LINE: message\"");
	if (rc != -1 || strcmp(err, want) != 0)
		printf("#   got \"%s\"\n", err);

	/* a file that includes itself: stopped by the depth limit */
	snprintf(text, sizeof(text), "set config-file = %s\n", path_in("loop.conf"));
	write_text("loop.conf", text);
	memset(&r, 0, sizeof(r));
	rc = confparse_file(path_in("loop.conf"), 0, record, &r, err, sizeof(err));
	ok(rc == -1 && strstr(err, "nested too deeply") != NULL, "self-include stops with an error");
	is_int(r.max_depth, CONFPARSE_MAX_DEPTH, "depths 0..CONFPARSE_MAX_DEPTH were parsed");
	rc = confparse_file(path_in("sub.conf"), CONFPARSE_MAX_DEPTH + 1, record, &r, err, sizeof(err));
	ok(rc == -1, "confparse_file at depth MAX+1 refuses");
	rc = confparse_buffer("set a\n", 6, "x", CONFPARSE_MAX_DEPTH + 1, record, &r, err, sizeof(err));
	ok(rc == -1, "confparse_buffer at depth MAX+1 refuses");
}

static void cleanup(void)
{
	static const char *const names[] = {
		"main.conf", "bad.conf", "link.conf", "dir.conf", "fifo.conf", "big.conf",
		"top.conf", "sub.conf", "loop.conf"
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (unlink(path_in(names[i])) < 0)
			rmdir(path_in(names[i]));
	}
	rmdir(dir);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	test_statements();
	test_comments();
	test_quotes();
	test_errors();
	test_limits();
	test_bool_uint();
	snprintf(dir, sizeof(dir), "%s/popper-test-conf.XXXXXX",
		 tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		tap_skip("cannot create a temporary directory", "configuration files");
	} else {
		test_files();
		test_includes();
		cleanup();
	}
	return tap_done();
}
