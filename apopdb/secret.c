/*
 * secret: reading and judging secrets for apopdb and popauth (see
 * apopdb/secret.h).
 *
 * popauth runs setuid to the database owner: nothing here opens a file, and
 * the terminal is the caller's own standard input, never /dev/tty.  A signal
 * that arrives while echo is off restores the terminal before the program
 * dies with that signal.
 */
#include "config.h"

#include "apopdb/secret.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "lib/ctcompare.h"

/* The terminal state to restore if a signal interrupts a prompt. */
static struct termios saved_tty;
static volatile sig_atomic_t tty_changed;

static void restore_tty_and_die(int sig)
{
	if (tty_changed)
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void catch_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP };
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = restore_tty_and_die;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

bool secret_interactive(void)
{
	return isatty(STDIN_FILENO) == 1;
}

/* Reads one line from fd into buf with read(2), byte by byte, so that no
 * copy of the secret is left in a stdio buffer and nothing after the line
 * is consumed.  The newline (and a CR before it) is dropped.  Reading stops
 * at the limit: a longer line is an error, the rest is not read. */
static ssize_t read_line_fd(int fd, char *buf, size_t bufsize)
{
	size_t len = 0;
	bool nul = false, control = false;

	for (;;) {
		char c;
		ssize_t n = read(fd, &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ct_wipe(buf, bufsize);
			return SECRET_ERR_IO;
		}
		if (n == 0 || c == '\n')
			break;
		if (len + 1 >= bufsize) {
			ct_wipe(buf, bufsize);
			return SECRET_ERR_TOO_LONG;
		}
		buf[len++] = c;
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c == '\0')
			nul = true;
		else if (c < 0x20 || c == 0x7f)
			control = true;
	}
	if (nul || control) {
		ct_wipe(buf, bufsize);
		return nul ? SECRET_ERR_NUL : SECRET_ERR_CONTROL;
	}
	/* The buffer has room for one byte more than a secret (the CR). */
	if (len > USERDB_SECRET_MAX) {
		ct_wipe(buf, bufsize);
		return SECRET_ERR_TOO_LONG;
	}
	return (ssize_t)len;
}

/* Prompts on stderr and reads a line from the terminal on stdin, echo off. */
static ssize_t prompt_line(const char *prompt, char *buf, size_t bufsize)
{
	struct termios t;
	ssize_t n;
	int saved;

	if (tcgetattr(STDIN_FILENO, &saved_tty) < 0)
		return SECRET_ERR_IO;
	t = saved_tty;
	t.c_lflag &= ~(tcflag_t)ECHO;
	t.c_lflag |= ECHONL;
	tty_changed = 1;
	/* Echo goes off (and type-ahead is dropped) before the prompt shows,
	 * so nothing typed after the prompt can be echoed. */
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) < 0) {
		tty_changed = 0;
		return SECRET_ERR_IO;
	}
	fputs(prompt, stderr);
	fflush(stderr);
	n = read_line_fd(STDIN_FILENO, buf, bufsize);
	saved = errno;
	(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
	tty_changed = 0;
	errno = saved;
	return n;
}

ssize_t secret_read(const char *prompt, char *buf, size_t bufsize)
{
	if (!secret_interactive())
		return read_line_fd(STDIN_FILENO, buf, bufsize);
	catch_signals();
	return prompt_line(prompt, buf, bufsize);
}

ssize_t secret_read_new(const char *prompt, const char *retype,
			char *buf, size_t bufsize)
{
	char again[SECRET_BUF_SIZE];
	ssize_t n, m;
	bool same;

	if (!secret_interactive())
		return read_line_fd(STDIN_FILENO, buf, bufsize);
	catch_signals();
	n = prompt_line(prompt, buf, bufsize);
	if (n <= 0)
		return n;
	m = prompt_line(retype, again, sizeof(again));
	if (m < 0) {
		ct_wipe(buf, bufsize);
		return m;
	}
	same = ct_equal_str(buf, (size_t)n, again, (size_t)m);
	ct_wipe(again, sizeof(again));
	if (!same) {
		ct_wipe(buf, bufsize);
		return SECRET_ERR_MISMATCH;
	}
	return n;
}

bool secret_is_disable(const char *secret, size_t len)
{
	return len == 1 && secret[0] == '*';
}

/* True when name (at least 3 characters) occurs in s, ignoring ASCII case. */
static bool contains_name(const char *s, size_t len, const char *name)
{
	size_t nlen = strlen(name), i, j;

	if (nlen < 3 || nlen > len)
		return false;
	for (i = 0; i + nlen <= len; i++) {
		for (j = 0; j < nlen; j++) {
			unsigned char a = (unsigned char)s[i + j], b = (unsigned char)name[j];

			if (a >= 'A' && a <= 'Z')
				a = (unsigned char)(a - 'A' + 'a');
			if (b >= 'A' && b <= 'Z')
				b = (unsigned char)(b - 'A' + 'a');
			if (a != b)
				break;
		}
		if (j == nlen)
			return true;
	}
	return false;
}

const char *secret_weakness(const char *secret, size_t len, const char *user)
{
	bool lower = false, upper = false, digit = false, other = false;
	int classes;
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)secret[i];

		if (c < 0x20 || c == 0x7f)
			return "it contains a control character";
		if (c >= 'a' && c <= 'z')
			lower = true;
		else if (c >= 'A' && c <= 'Z')
			upper = true;
		else if (c >= '0' && c <= '9')
			digit = true;
		else
			other = true;
	}
	classes = lower + upper + digit + other;
	if (len < SECRET_MIN_LEN)
		return "it is shorter than 8 characters";
	if (user != NULL && contains_name(secret, len, user))
		return "it contains the user name";
	if (len < SECRET_MIN_LEN_2 && classes < 3)
		return "under 12 characters it needs three of: lower case, upper case, "
		       "digits, other characters";
	if (len < SECRET_MIN_LEN_1 && classes < 2)
		return "under 20 characters it needs two of: lower case, upper case, "
		       "digits, other characters";
	return NULL;
}

const char *secret_error_text(ssize_t err)
{
	switch (err) {
	case SECRET_ERR_TOO_LONG:
		return "the secret is too long (at most 256 bytes)";
	case SECRET_ERR_NUL:
		return "the secret contains a NUL byte";
	case SECRET_ERR_MISMATCH:
		return "the secrets do not match";
	case SECRET_ERR_CONTROL:
		return "the secret contains a control character";
	default:
		return "cannot read the secret";
	}
}

/* ---- signals around a change ------------------------------------------------ */

static sigset_t held;

void hold_signals(void)
{
	sigemptyset(&held);
	sigaddset(&held, SIGINT);
	sigaddset(&held, SIGTERM);
	sigaddset(&held, SIGHUP);
	sigaddset(&held, SIGQUIT);
	sigaddset(&held, SIGTSTP);
	/* A background job that touches its terminal is stopped by these:
	 * held, the write goes through (tostop) and no stop comes. */
	sigaddset(&held, SIGTTIN);
	sigaddset(&held, SIGTTOU);
	sigaddset(&held, SIGPIPE);
	sigprocmask(SIG_BLOCK, &held, NULL);
}

void release_signals(void)
{
	sigprocmask(SIG_UNBLOCK, &held, NULL);
}
