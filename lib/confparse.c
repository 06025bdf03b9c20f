/*
 * confparse: the Qpopper configuration-file grammar (see confparse.h).
 *
 * Line by line: blanks (space, tab) separate tokens, a '#' at the start of a
 * token starts a comment that runs to the end of the line, and a line is
 * one of
 *
 *   set NAME                  (value NULL: a boolean switched on)
 *   set NAME = VALUE          (VALUE: a word, or "..." '...' `...`)
 *   reset NAME                (a boolean switched off)
 *
 * Inside quotes a backslash escapes the quote character and the backslash;
 * any other backslash is kept as written.  A '#' inside a word or quotes is
 * part of the value.  Anything left after the value is an error rather than
 * being ignored, so a typo is caught when the daemon starts instead of
 * changing a setting silently.  Lines end with LF (a CR before it is
 * dropped); a line longer than CONFPARSE_MAX_LINE or holding a NUL byte is
 * an error.  What an option means is the callback's business.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/confparse.h"

/* Largest configuration file we read: a real one is a few KiB. */
#define CONFPARSE_MAX_FILE (1024 * 1024)

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-';
}

static bool is_end(char c)
{
	return c == '\0' || c == '#';
}

static void set_error(char *err, size_t errsize, const char *file,
		      unsigned line, const char *msg)
{
	if (err == NULL || errsize == 0)
		return;
	if (line > 0)
		snprintf(err, errsize, "%s:%u: %s", file != NULL ? file : "(config)", line, msg);
	else
		snprintf(err, errsize, "%s: %s", file != NULL ? file : "(config)", msg);
}

enum line_result { LINE_EMPTY, LINE_STMT, LINE_ERROR };

/* "set" or "reset" followed by a blank, at *pp; moves *pp past the blanks.
 * NULL on success, else the error text. */
static const char *parse_keyword(char **pp, struct confparse_stmt *st)
{
	char *p = *pp, *kw = p;
	size_t kwlen;

	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
		p++;
	kwlen = (size_t)(p - kw);
	if (kwlen == 3 && strncasecmp(kw, "set", 3) == 0)
		st->op = CONFPARSE_SET;
	else if (kwlen == 5 && strncasecmp(kw, "reset", 5) == 0)
		st->op = CONFPARSE_RESET;
	else
		return "expected \"set\" or \"reset\"";
	if (!is_blank(*p))
		return is_end(*p) ? "missing option name" : "expected \"set\" or \"reset\"";
	while (is_blank(*p))
		p++;
	*pp = p;
	return NULL;
}

/* The option name at *pp, terminated in place (st->name); *pp is left at
 * what followed it: the end, a comment or the '=' (blanks skipped).  NULL on
 * success, else the error text. */
static const char *parse_name(char **pp, struct confparse_stmt *st)
{
	char *p = *pp, *name = p;

	while (is_name_char(*p))
		p++;
	if (p == name)
		return is_end(*p) ? "missing option name" : "invalid character in option name";
	if (!is_blank(*p) && *p != '=' && !is_end(*p))
		return "invalid character in option name";
	/* The name ends here; remember what followed before terminating it. */
	while (is_blank(*p))
		*p++ = '\0';
	st->name = name;
	*pp = p;
	return NULL;
}

/* The value at *pp (a word, or quoted with " ' or `), unescaped into value
 * (CONFPARSE_MAX_VALUE + 1 bytes); *pp is left after it.  NULL on success,
 * else the error text. */
static const char *parse_value(char **pp, char *value)
{
	char *p = *pp;
	size_t vlen = 0;

	if (*p == '"' || *p == '\'' || *p == '`') {
		char q = *p++;

		for (;;) {
			char c = *p;

			if (c == '\0')
				return "unterminated quoted string";
			if (c == q) {
				p++;
				break;
			}
			if (c == '\\' && (p[1] == q || p[1] == '\\'))
				c = *++p;
			if (vlen >= CONFPARSE_MAX_VALUE)
				return "value too long";
			value[vlen++] = c;
			p++;
		}
	} else {
		while (*p != '\0' && !is_blank(*p)) {
			if (vlen >= CONFPARSE_MAX_VALUE)
				return "value too long";
			value[vlen++] = *p++;
		}
	}
	value[vlen] = '\0';
	*pp = p;
	return NULL;
}

/* Parses one NUL-terminated line (at most CONFPARSE_MAX_LINE bytes) in place:
 * the name is terminated inside buf, the unescaped value goes to value
 * (CONFPARSE_MAX_VALUE + 1 bytes).  On LINE_ERROR *msg_r says why. */
static enum line_result parse_line(char *buf, struct confparse_stmt *st,
				   char *value, const char **msg_r)
{
	char *p = buf;

	while (is_blank(*p))
		p++;
	if (is_end(*p))
		return LINE_EMPTY;
	if ((*msg_r = parse_keyword(&p, st)) != NULL ||
	    (*msg_r = parse_name(&p, st)) != NULL)
		return LINE_ERROR;
	st->value = NULL;
	if (is_end(*p)) {
		*p = '\0';
		return LINE_STMT;
	}
	if (*p != '=') {
		*msg_r = st->op == CONFPARSE_RESET ? "reset takes no value" :
			 "expected \"=\" after the option name";
		return LINE_ERROR;
	}
	*p++ = '\0';
	if (st->op == CONFPARSE_RESET) {
		*msg_r = "reset takes no value";
		return LINE_ERROR;
	}
	while (is_blank(*p))
		p++;
	if (is_end(*p)) {
		*msg_r = "missing value after \"=\"";
		return LINE_ERROR;
	}
	if ((*msg_r = parse_value(&p, value)) != NULL)
		return LINE_ERROR;
	st->value = value;

	/* A word ran to a blank or the end; a closing quote may be followed
	 * by a blank or a comment, nothing else. */
	if (!is_end(*p) && !is_blank(*p)) {
		*msg_r = "unexpected text after the value";
		return LINE_ERROR;
	}
	while (is_blank(*p))
		p++;
	if (!is_end(*p)) {
		*msg_r = "unexpected text after the value";
		return LINE_ERROR;
	}
	return LINE_STMT;
}

int confparse_buffer(const char *text, size_t len, const char *file,
		     unsigned depth, confparse_fn *fn, void *ctx,
		     char *err, size_t errsize)
{
	char buf[CONFPARSE_MAX_LINE + 1];
	char value[CONFPARSE_MAX_VALUE + 1];
	size_t pos = 0;
	unsigned lineno = 0;

	if (depth > CONFPARSE_MAX_DEPTH) {
		set_error(err, errsize, file, 0, "configuration files nested too deeply");
		return -1;
	}
	while (pos < len) {
		const char *start = text + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t linelen = nl != NULL ? (size_t)(nl - start) : len - pos;
		struct confparse_stmt st;
		const char *msg = NULL;

		pos += linelen + (nl != NULL ? 1 : 0);
		lineno++;
		if (linelen > 0 && start[linelen - 1] == '\r')
			linelen--;
		if (linelen > CONFPARSE_MAX_LINE) {
			set_error(err, errsize, file, lineno, "line too long");
			return -1;
		}
		if (memchr(start, '\0', linelen) != NULL) {
			set_error(err, errsize, file, lineno, "NUL byte in line");
			return -1;
		}
		memcpy(buf, start, linelen);
		buf[linelen] = '\0';

		memset(&st, 0, sizeof(st));
		switch (parse_line(buf, &st, value, &msg)) {
		case LINE_EMPTY:
			continue;
		case LINE_ERROR:
			set_error(err, errsize, file, lineno, msg);
			return -1;
		case LINE_STMT:
			break;
		}
		st.file = file;
		st.line = lineno;
		st.depth = depth;
		msg = fn(&st, ctx);
		if (msg != NULL) {
			set_error(err, errsize, file, lineno, msg);
			return -1;
		}
	}
	return 0;
}

int confparse_file(const char *path, unsigned depth, confparse_fn *fn,
		   void *ctx, char *err, size_t errsize)
{
	char msg[256];
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int fd, ret;

	if (depth > CONFPARSE_MAX_DEPTH) {
		snprintf(msg, sizeof(msg), "configuration files nested too deeply (more than %d levels)",
			 CONFPARSE_MAX_DEPTH);
		set_error(err, errsize, path, 0, msg);
		return -1;
	}
	/* O_NOFOLLOW and the S_ISREG check: the configuration is read by root
	 * and must not be a symlink planted somewhere or a FIFO that hangs the
	 * start-up (O_NONBLOCK). */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP)
			snprintf(msg, sizeof(msg), "refusing to read a symbolic link");
		else
			snprintf(msg, sizeof(msg), "cannot open: %s", strerror(errno));
		set_error(err, errsize, path, 0, msg);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(msg, sizeof(msg), "cannot stat: %s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(msg, sizeof(msg), "not a regular file");
		goto fail;
	}
	if (st.st_size > CONFPARSE_MAX_FILE) {
		snprintf(msg, sizeof(msg), "file too large (more than %d bytes)", CONFPARSE_MAX_FILE);
		goto fail;
	}
	/* One byte more than the cap: reading it means the file grew past it. */
	text = malloc(CONFPARSE_MAX_FILE + 1);
	if (text == NULL) {
		snprintf(msg, sizeof(msg), "out of memory");
		goto fail;
	}
	while (len <= CONFPARSE_MAX_FILE) {
		ssize_t n = read(fd, text + len, CONFPARSE_MAX_FILE + 1 - len);

		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			snprintf(msg, sizeof(msg), "read error: %s", strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > CONFPARSE_MAX_FILE) {
		snprintf(msg, sizeof(msg), "file too large (more than %d bytes)", CONFPARSE_MAX_FILE);
		goto fail;
	}
	close(fd);
	ret = confparse_buffer(text, len, path, depth, fn, ctx, err, errsize);
	free(text);
	return ret;

fail:
	set_error(err, errsize, path, 0, msg);
	free(text);
	close(fd);
	return -1;
}

bool confparse_bool(const char *value, bool *b_r)
{
	static const char *const yes[] = { "true", "1", "yes", "on" };
	static const char *const no[] = { "false", "0", "no", "off" };
	size_t i;

	if (value == NULL)
		return false;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(value, yes[i]) == 0) {
			*b_r = true;
			return true;
		}
		if (strcasecmp(value, no[i]) == 0) {
			*b_r = false;
			return true;
		}
	}
	return false;
}

bool confparse_uint(const char *value, unsigned long max, unsigned long *n_r)
{
	unsigned long v = 0;
	unsigned base = 10;
	const char *p = value;

	if (p == NULL || *p == '\0')
		return false;
	/* Qpopper used strtol(..., 0): "0x1f" is hex, "017" octal.  Signs,
	 * blanks and a bare "0x" are refused. */
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
		if (*p == '\0')
			return false;
	} else if (p[0] == '0' && p[1] != '\0') {
		base = 8;
		p++;
	}
	for (; *p != '\0'; p++) {
		unsigned d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (*p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else if (*p >= 'A' && *p <= 'F')
			d = (unsigned)(*p - 'A' + 10);
		else
			return false;
		if (d >= base)
			return false;
		/* v * base + d <= max, asked without overflowing. */
		if (d > max || v > (max - d) / base)
			return false;
		v = v * base + d;
	}
	*n_r = v;
	return true;
}
