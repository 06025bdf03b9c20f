/*
 * test_log: log_quote (the only way client text reaches a log), the stderr
 * and trace-file targets and their record formats.  Nothing is sent to the
 * machine's syslog.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "tests/unit/tap.h"

static void quote_is(const char *in, size_t len, size_t outsize, const char *want,
		     const char *what)
{
	char out[256];
	char *r;

	memset(out, '#', sizeof(out));
	r = log_quote(in, len, out, outsize);
	ok(r == out, "%s: returns out", what);
	is_str(out, want, "%s", what);
	ok(strlen(out) < outsize, "%s: fits in %zu bytes with its NUL", what, outsize);
}

static void test_quote(void)
{
	static char big[10000];
	char out[64];
	char untouched[4] = "abc";

	quote_is("alice", 5, 64, "alice", "plain text unchanged");
	quote_is("USER a\r\nPASS b", 14, 64, "USER a\\x0d\\x0aPASS b", "CR and LF escaped");
	quote_is("\x1b[2J", 4, 64, "\\x1b[2J", "ESC escaped");
	quote_is("%n%s%999999d", 12, 64, "%n%s%999999d", "'%' is data, passed through");
	quote_is("a\"b", 3, 64, "a\\x22b", "double quote escaped");
	quote_is("a\\b", 3, 64, "a\\x5cb", "backslash escaped");
	quote_is("it's", 4, 64, "it's", "single quote is printable");
	quote_is("\xff\x80\x7f", 3, 64, "\\xff\\x80\\x7f", "0xff, 0x80 and DEL escaped");
	quote_is("a\0b", 3, 64, "a\\x00b", "NUL inside is escaped, not a terminator");
	quote_is("\t", 1, 64, "\\x09", "TAB escaped");
	quote_is("caf\xc3\xa9", 5, 64, "caf\\xc3\\xa9", "UTF-8 bytes escaped");
	quote_is("", 0, 64, "", "empty input");
	quote_is(NULL, 5, 64, "", "NULL input");
	quote_is("hello", 3, 64, "hel", "only len bytes are used");

	/* truncation: whole escapes only, then "..." */
	quote_is("abcdefg", 7, 8, "abcdefg", "exactly fits");
	quote_is("abcdefgh", 8, 8, "abcd...", "one byte too many: truncated with ...");
	quote_is("abc\x01" "defg", 8, 8, "abc...", "an escape is never cut in half");
	quote_is("ab\x01", 3, 8, "ab\\x01", "escape at the end that fits");
	quote_is("ab\x01x", 4, 8, "ab\\x01x", "escapes count four: exactly fits");
	quote_is("ab\x01xy", 5, 8, "ab...", "escape that would not leave room for ...");
	quote_is("abcdef", 6, 4, "...", "outsize 4: only ...");
	quote_is("abcdef", 6, 3, "..", "outsize 3: as much of ... as fits");
	quote_is("abcdef", 6, 1, "", "outsize 1: empty");
	log_quote("abc", 3, untouched, 0);
	is_str(untouched, "abc", "outsize 0: the buffer is not touched");

	memset(big, '\n', sizeof(big));
	log_quote(big, sizeof(big), out, sizeof(out));
	ok(strlen(out) == 63 - 3 - (63 - 3) % 4 + 3 &&
	   strcmp(out + strlen(out) - 3, "...") == 0 &&
	   strncmp(out, "\\x0a\\x0a", 8) == 0,
	   "10000 LFs into 64 bytes: whole escapes then ... (%zu chars)", strlen(out));
	ok(strchr(out, '\n') == NULL, "no raw LF survives");
}

static char *read_file(const char *path)
{
	static char buf[8192];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	buf[0] = '\0';
	if (fd < 0)
		return buf;
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return buf;
}

/* Points stderr at path (opened with flags); returns the old stderr. */
static int redirect_stderr(const char *path, int flags)
{
	int saved = dup(STDERR_FILENO);
	int fd = open(path, flags, 0600);

	dup2(fd, STDERR_FILENO);
	close(fd);
	return saved;
}

static void restore_stderr(int saved)
{
	dup2(saved, STDERR_FILENO);
	close(saved);
}

/* stderr target: "ident: message" */
static void test_stderr_target(const char *dir)
{
	char errpath[512];
	int saved_stderr;
	char *text;

	snprintf(errpath, sizeof(errpath), "%s/stderr", dir);
	saved_stderr = redirect_stderr(errpath, O_WRONLY | O_CREAT | O_TRUNC);

	log_open("apopdb", LOG_MAIL, LOG_TO_STDERR);
	log_error("cannot open %s", "/etc/pop.auth");
	log_set_debug(false);
	ok(!log_debug_enabled(), "debug off");
	log_debug("hidden %d", 1);
	log_msg(LOG_DEBUG, "hidden %d", 2);
	log_set_debug(true);
	ok(log_debug_enabled(), "debug on");
	log_debug("shown %d", 3);
	log_set_debug(false);
	log_info("raw %s end", "CR\rLF\nESC\x1b");
	errno = ENOENT;
	log_warning("errno kept");
	is_int(errno, ENOENT, "logging preserves errno");

	restore_stderr(saved_stderr);
	text = read_file(errpath);
	is_str(text, "apopdb: cannot open /etc/pop.auth\n"
		     "apopdb: shown 3\n"
		     "apopdb: raw CR?LF?ESC? end\n"
		     "apopdb: errno kept\n",
	       "stderr records: \"ident: message\", debug only when enabled, "
	       "control characters never reach the log");
	unlink(errpath);
}

static void test_trace_format(const char *trace)
{
	char want[256];
	struct stat st;
	regex_t re;
	char *text;

	ok(log_set_tracefile(trace) == 0, "trace file opened");
	ok(stat(trace, &st) == 0 && (st.st_mode & 07777) == 0600, "trace file created 0600");
	log_notice("traced %d", 42);
	text = read_file(trace);
	snprintf(want, sizeof(want),
		 "^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-3][0-9] "
		 "[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\\.[0-9]{3} [0-9]{4} \\[%ld\\] traced 42\n$",
		 (long)getpid());
	ok(regcomp(&re, want, REG_EXTENDED | REG_NOSUB) == 0, "regex compiles");
	ok(regexec(&re, text, 0, NULL, 0) == 0,
	   "trace record is \"Mon DD HH:MM:SS.mmm YYYY [pid] message\"");
	if (regexec(&re, text, 0, NULL, 0) != 0)
		printf("#   got: %s", text);
	regfree(&re);
}

/* log rotation: the file is moved away, log_reopen starts a new one */
static void test_trace_rotation(const char *trace, const char *moved)
{
	ok(rename(trace, moved) == 0, "trace file moved away (rotation)");
	log_reopen();
	log_notice("after reopen");
	ok(strstr(read_file(trace), "after reopen") != NULL, "log_reopen writes to a new file");
	ok(strstr(read_file(moved), "after reopen") == NULL, "... not to the old one");
}

static void test_trace_stop(const char *trace)
{
	ok(log_set_tracefile(NULL) == 0, "tracing stopped");
	log_notice("not traced");
	ok(strstr(read_file(trace), "not traced") == NULL, "no record after tracing stopped");
}

/* A symlink is never followed (root opens this file). */
static void test_trace_refusals(const char *dir, const char *moved, const char *link)
{
	ok(symlink(moved, link) == 0, "symlink made");
	errno = 0;
	ok(log_set_tracefile(link) == -1 && errno == ELOOP, "symlinked trace file refused (ELOOP)");
	ok(log_set_tracefile(dir) == -1, "a directory is refused");
}

/* Each step works on the trace file the step before left behind. */
static void test_trace_file(const char *dir)
{
	char trace[512], moved[512], link[512];
	int saved_stderr;

	snprintf(trace, sizeof(trace), "%s/trace", dir);
	snprintf(moved, sizeof(moved), "%s/trace.1", dir);
	snprintf(link, sizeof(link), "%s/trace-link", dir);
	saved_stderr = redirect_stderr("/dev/null", O_WRONLY);

	test_trace_format(trace);
	test_trace_rotation(trace, moved);
	test_trace_stop(trace);
	test_trace_refusals(dir, moved, link);

	restore_stderr(saved_stderr);
	unlink(link);
	unlink(moved);
	unlink(trace);
}

static void test_facilities(void)
{
	is_int(log_facility_from_name("mail"), LOG_MAIL, "mail");
	is_int(log_facility_from_name("MAIL"), LOG_MAIL, "names are case-insensitive");
	is_int(log_facility_from_name("local0"), LOG_LOCAL0, "local0");
	is_int(log_facility_from_name("local7"), LOG_LOCAL7, "local7");
	is_int(log_facility_from_name("daemon"), LOG_DAEMON, "daemon");
	is_int(log_facility_from_name("auth"), LOG_AUTH, "auth");
	is_int(log_facility_from_name("authpriv"), LOG_AUTHPRIV, "authpriv");
	is_int(log_facility_from_name("user"), LOG_USER, "user");
	is_int(log_facility_from_name("local8"), -1, "local8 is unknown");
	is_int(log_facility_from_name(""), -1, "empty is unknown");
	is_int(log_facility_from_name(NULL), -1, "NULL is unknown");
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char dir[400];

	snprintf(dir, sizeof(dir), "%s/popper-test-log.XXXXXX",
		 tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	test_quote();
	test_facilities();
	if (mkdtemp(dir) == NULL) {
		tap_skip("cannot create a temporary directory", "log targets");
	} else {
		test_stderr_target(dir);
		test_trace_file(dir);
		rmdir(dir);
	}
	return tap_done();
}
