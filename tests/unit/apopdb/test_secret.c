/*
 * test_secret: apopdb/secret.c, how apopdb and popauth read and judge a
 * secret.  Standard input is a pipe here (not a terminal), so a secret is
 * one line read byte by byte: its end (LF, CRLF, none), the length limit at
 * USERDB_SECRET_MAX - 1, MAX and MAX + 1, NUL and control bytes, a read
 * error, and that nothing after the line is consumed.  Then the strength
 * rule at each of its limits, popauth's "*", the error texts, and the
 * signals held around a change.
 */
#include "config.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apopdb/secret.h"
#include "tests/unit/tap.h"

/* Makes standard input a pipe holding len bytes of data, then its end. */
static void stdin_from(const void *data, size_t len)
{
	int fds[2];

	if (pipe(fds) != 0)
		die("pipe");
	if (len > 0 && write(fds[1], data, len) != (ssize_t)len)
		die("write");
	close(fds[1]);
	if (dup2(fds[0], STDIN_FILENO) < 0)
		die("dup2");
	close(fds[0]);
}

static ssize_t read_from(const char *text, char *buf)
{
	stdin_from(text, strlen(text));
	return secret_read("Secret: ", buf, SECRET_BUF_SIZE);
}

static bool wiped(const char *buf)
{
	size_t i;

	for (i = 0; i < SECRET_BUF_SIZE; i++)
		if (buf[i] != '\0')
			return false;
	return true;
}

static void test_read(void)
{
	char buf[SECRET_BUF_SIZE], line[USERDB_SECRET_MAX + 4];

	ok(!secret_interactive(), "standard input is a pipe: no prompts");
	ok(read_from("s3cret\n", buf) == 6 && strcmp(buf, "s3cret") == 0, "one line");
	ok(read_from("s3cret\r\n", buf) == 6 && strcmp(buf, "s3cret") == 0, "CRLF: the CR goes too");
	ok(read_from("no-newline", buf) == 10 && strcmp(buf, "no-newline") == 0,
	   "a last line without a newline");
	is_int(read_from("", buf), 0, "nothing at all: an empty secret (0)");
	is_int(read_from("\n", buf), 0, "an empty line: 0");
	stdin_from("first\nsecond\n", 13);
	ok(secret_read("", buf, sizeof(buf)) == 5 && strcmp(buf, "first") == 0 &&
	   secret_read("", buf, sizeof(buf)) == 6 && strcmp(buf, "second") == 0,
	   "nothing after the line is consumed: the next read gets the next line");
	is_int(secret_read_new("New: ", "Again: ", buf, sizeof(buf)), 0,
	       "secret_read_new without a terminal: one line (here: the end)");
	stdin_from("pass phrase\n", 12);
	ok(secret_read_new("New: ", "Again: ", buf, sizeof(buf)) == 11 &&
	   strcmp(buf, "pass phrase") == 0, "  and it reads that line, no retype");

	memset(line, 'x', sizeof(line));
	line[USERDB_SECRET_MAX - 1] = '\n';
	stdin_from(line, USERDB_SECRET_MAX);
	is_int(secret_read("", buf, sizeof(buf)), USERDB_SECRET_MAX - 1, "MAX - 1 bytes");
	line[USERDB_SECRET_MAX - 1] = 'x';
	line[USERDB_SECRET_MAX] = '\n';
	stdin_from(line, USERDB_SECRET_MAX + 1);
	is_int(secret_read("", buf, sizeof(buf)), USERDB_SECRET_MAX, "MAX bytes");
	line[USERDB_SECRET_MAX] = '\r';
	line[USERDB_SECRET_MAX + 1] = '\n';
	stdin_from(line, USERDB_SECRET_MAX + 2);
	is_int(secret_read("", buf, sizeof(buf)), USERDB_SECRET_MAX, "MAX bytes and a CRLF");
	line[USERDB_SECRET_MAX] = 'x';
	stdin_from(line, USERDB_SECRET_MAX + 2);
	is_int(secret_read("", buf, sizeof(buf)), SECRET_ERR_TOO_LONG, "MAX + 1 bytes: too long");
	ok(wiped(buf), "  and the buffer is wiped");
	memset(line, 'x', sizeof(line));
	stdin_from(line, sizeof(line));
	is_int(secret_read("", buf, sizeof(buf)), SECRET_ERR_TOO_LONG,
	       "a line that does not end within the buffer: too long");

	stdin_from("ab\0cd\n", 6);
	is_int(secret_read("", buf, sizeof(buf)), SECRET_ERR_NUL, "a NUL byte: refused");
	ok(wiped(buf), "  and the buffer is wiped");
	is_int(read_from("tab\there\n", buf), SECRET_ERR_CONTROL, "a TAB: a control character");
	is_int(read_from("del\x7f\n", buf), SECRET_ERR_CONTROL, "DEL: a control character");
	is_int(read_from("esc\x1b[A\n", buf), SECRET_ERR_CONTROL, "ESC: a control character");
	stdin_from("a\tb\0c\n", 6);
	is_int(secret_read("", buf, sizeof(buf)), SECRET_ERR_NUL, "NUL and control: NUL is said");
	close(STDIN_FILENO);
	is_int(secret_read("", buf, sizeof(buf)), SECRET_ERR_IO, "a read error: SECRET_ERR_IO");
}

static void test_weakness(void)
{
	const char *w;

	ok(secret_weakness("Abcdef1!", 8, "bob") == NULL, "8 characters, 4 classes: strong enough");
	w = secret_weakness("Abcde1!", 7, "bob");
	ok(w != NULL && strstr(w, "shorter than 8") != NULL, "7 characters: too short (%s)", w);
	w = secret_weakness("xxALICE-1x", 10, "alice");
	ok(w != NULL && strstr(w, "user name") != NULL, "the user name in any case: refused (%s)", w);
	ok(secret_weakness("Xal-1234z", 9, "al") == NULL, "a name under 3 characters is not looked for");
	ok(secret_weakness("Abcdef1!", 8, NULL) == NULL, "no user name: only the classes count");
	w = secret_weakness("abcdefghij1", 11, "bob");
	ok(w != NULL && strstr(w, "under 12") != NULL, "11 characters, 2 classes: refused (%s)", w);
	ok(secret_weakness("abcdefghijk1", 12, "bob") == NULL, "12 characters, 2 classes: enough");
	w = secret_weakness("abcdefghijklmnopqrs", 19, "bob");
	ok(w != NULL && strstr(w, "under 20") != NULL, "19 characters, 1 class: refused (%s)", w);
	ok(secret_weakness("abcdefghijklmnopqrst", 20, "bob") == NULL,
	   "20 characters, 1 class: a passphrase, enough");
	w = secret_weakness("Abcdef1!\tx", 10, "bob");
	ok(w != NULL && strstr(w, "control") != NULL, "a control character: refused (%s)", w);

	ok(secret_is_disable("*", 1), "\"*\" turns APOP off");
	ok(!secret_is_disable("**", 2) && !secret_is_disable("x", 1) && !secret_is_disable("*", 0),
	   "  nothing else does");
}

static void test_error_texts(void)
{
	is_str(secret_error_text(SECRET_ERR_TOO_LONG), "the secret is too long (at most 256 bytes)",
	       "too long");
	is_str(secret_error_text(SECRET_ERR_NUL), "the secret contains a NUL byte", "NUL");
	is_str(secret_error_text(SECRET_ERR_MISMATCH), "the secrets do not match", "mismatch");
	is_str(secret_error_text(SECRET_ERR_CONTROL), "the secret contains a control character",
	       "control");
	is_str(secret_error_text(SECRET_ERR_IO), "cannot read the secret", "I/O");
}

static volatile sig_atomic_t got_sigint;

static void on_sigint(int sig)
{
	(void)sig;
	got_sigint++;
}

static void test_signals(void)
{
	static const int held[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGPIPE };
	sigset_t now;
	bool all = true;
	size_t i;

	signal(SIGINT, on_sigint);
	hold_signals();
	sigprocmask(SIG_BLOCK, NULL, &now);
	for (i = 0; i < sizeof(held) / sizeof(held[0]); i++)
		all = all && sigismember(&now, held[i]);
	ok(all, "hold_signals blocks INT, TERM, HUP, QUIT, TSTP and PIPE");
	raise(SIGINT);
	is_int(got_sigint, 0, "  a SIGINT meanwhile waits");
	release_signals();
	is_int(got_sigint, 1, "release_signals delivers it");
	sigprocmask(SIG_BLOCK, NULL, &now);
	ok(!sigismember(&now, SIGINT) && !sigismember(&now, SIGPIPE), "  and unblocks them");
}

int main(void)
{
	test_weakness();
	test_error_texts();
	test_signals();
	test_read();   /* last: it ends with standard input closed */
	return tap_done();
}
