/*
 * log: the one logging path of every popper program (see log.h).
 *
 * A record is formatted once into a bounded buffer, any control character
 * that slipped into it is replaced (a log line can never be split, whatever
 * a caller passed), and it is then handed to syslog with a "%s" format, or
 * written to stderr as "ident: message" with a single write(2), and appended
 * to the trace file when one is set.  errno is preserved across every call so
 * "log, then look at errno" works.
 *
 * Trace records look like "Nov 21 23:18:05.123 2026 [4711] message": month
 * names come from our own table so the locale cannot change the format.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/safeopen.h"

#define LOG_IDENT_MAX 64
#define LOG_MSG_MAX 2048       /* longer records are truncated */
#define LOG_PATH_MAX 4096

static struct {
	char ident[LOG_IDENT_MAX];
	int facility;
	enum log_target target;
	bool debug;
	int trace_fd;
	char trace_path[LOG_PATH_MAX];
} logst = {
	/* Before log_open(), records go to stderr: a tool that fails early
	 * still says why. */
	"popper", LOG_MAIL, LOG_TO_STDERR, false, -1, ""
};

static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

void log_open(const char *ident, int facility, enum log_target target)
{
	int saved = errno;

	copy_str(logst.ident, sizeof(logst.ident), ident != NULL ? ident : "popper");
	logst.facility = facility;
	logst.target = target;
	if (target == LOG_TO_SYSLOG) {
		/* openlog keeps the pointer, so it gets our static copy.
		 * LOG_NDELAY connects now, before any chroot or privilege
		 * change could make /dev/log unreachable.  Never LOG_CONS or
		 * LOG_PERROR: in inetd mode stderr may be the client socket. */
		closelog();
		openlog(logst.ident, LOG_PID | LOG_NDELAY, facility);
	}
	errno = saved;
}

/* Opens the trace file.  Returns the fd or -1 with errno. */
static int trace_open(const char *path)
{
	/* safe_open: O_NOFOLLOW, regular file, one link, never blocks on a
	 * FIFO; the trace file is opened as root and must not be a way to
	 * append to someone else's file. */
	return safe_open(path, O_WRONLY | O_APPEND | O_CREAT, 0600, NULL, NULL, NULL);
}

void log_reopen(void)
{
	int saved = errno;

	if (logst.target == LOG_TO_SYSLOG) {
		closelog();
		openlog(logst.ident, LOG_PID | LOG_NDELAY, logst.facility);
	}
	if (logst.trace_fd >= 0 && logst.trace_path[0] != '\0') {
		int fd = trace_open(logst.trace_path);

		if (fd >= 0) {
			close(logst.trace_fd);
			logst.trace_fd = fd;
		} else {
			/* Keep writing to the old file rather than lose records. */
			log_warning("cannot reopen trace file: %s", strerror(errno));
		}
	}
	errno = saved;
}

int log_set_tracefile(const char *path)
{
	int fd;

	if (path == NULL) {
		if (logst.trace_fd >= 0)
			close(logst.trace_fd);
		logst.trace_fd = -1;
		logst.trace_path[0] = '\0';
		return 0;
	}
	if (strnlen(path, LOG_PATH_MAX) >= LOG_PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = trace_open(path);
	if (fd < 0)
		return -1;
	if (logst.trace_fd >= 0)
		close(logst.trace_fd);
	logst.trace_fd = fd;
	copy_str(logst.trace_path, sizeof(logst.trace_path), path);
	return 0;
}

void log_set_debug(bool on)
{
	logst.debug = on;
}

bool log_debug_enabled(void)
{
	return logst.debug;
}

int log_facility_from_name(const char *name)
{
	static const struct {
		const char *name;
		int facility;
	} facilities[] = {
		{ "mail", LOG_MAIL }, { "daemon", LOG_DAEMON },
		{ "auth", LOG_AUTH }, { "authpriv", LOG_AUTHPRIV },
		{ "user", LOG_USER },
		{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
		{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
		{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
		{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
	};
	size_t i;

	if (name == NULL)
		return -1;
	for (i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++) {
		if (strcasecmp(name, facilities[i].name) == 0)
			return facilities[i].facility;
	}
	return -1;
}

/* Writes one trace record with a single write(2) so records from several
 * processes sharing the file (O_APPEND) do not interleave. */
static void trace_write(const char *msg)
{
	static const char months[12][4] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
	};
	char rec[LOG_MSG_MAX + 64];
	struct timespec ts;
	struct tm tm;
	int n;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0 ||
	    localtime_r(&ts.tv_sec, &tm) == NULL) {
		memset(&tm, 0, sizeof(tm));
		ts.tv_nsec = 0;
	}
	n = snprintf(rec, sizeof(rec), "%s %02d %02d:%02d:%02d.%03ld %04d [%ld] %s\n",
		     months[tm.tm_mon >= 0 && tm.tm_mon < 12 ? tm.tm_mon : 0],
		     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     (long)(ts.tv_nsec / 1000000), tm.tm_year + 1900,
		     (long)getpid(), msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(rec)) {
		n = (int)sizeof(rec) - 1;
		rec[n - 1] = '\n';
	}
	/* A failing trace file must not disturb the session. */
	if (write(logst.trace_fd, rec, (size_t)n) < 0) {
		/* nothing sensible to do */
	}
}

void log_vmsg(int priority, const char *fmt, va_list ap)
{
	char msg[LOG_MSG_MAX];
	int saved = errno;
	size_t i;

	if ((priority & LOG_PRIMASK) == LOG_DEBUG && !logst.debug)
		return;
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		copy_str(msg, sizeof(msg), "(unformattable log message)");
	/* Defence in depth: client text should have gone through log_quote,
	 * but a CR, LF or ESC must never reach a log whatever happened. */
	for (i = 0; msg[i] != '\0'; i++) {
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = '?';
	}

	if (logst.target == LOG_TO_SYSLOG) {
		syslog(priority, "%s", msg);
	} else {
		char line[LOG_IDENT_MAX + LOG_MSG_MAX + 4];
		int n = snprintf(line, sizeof(line), "%s: %s\n", logst.ident, msg);

		if (n > 0) {
			if ((size_t)n >= sizeof(line))
				n = (int)sizeof(line) - 1;
			if (write(STDERR_FILENO, line, (size_t)n) < 0) {
				/* nowhere left to report it */
			}
		}
	}
	if (logst.trace_fd >= 0)
		trace_write(msg);
	errno = saved;
}

void log_msg(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(priority, fmt, ap);
	va_end(ap);
}

/* Length of the escaped form of byte c. */
static size_t quoted_len(unsigned char c)
{
	return (c < 0x20 || c > 0x7e || c == '"' || c == '\\') ? 4 : 1;
}

char *log_quote(const char *s, size_t len, char *out, size_t outsize)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t need = 0, budget, i, o = 0;
	bool fits = true;

	if (outsize == 0)
		return out;
	if (s == NULL)
		len = 0;
	/* First pass: does the whole escaped text fit?  Stops as soon as it
	 * does not, so a huge input costs at most outsize steps here. */
	for (i = 0; i < len; i++) {
		need += quoted_len(p[i]);
		if (need > outsize - 1) {
			fits = false;
			break;
		}
	}
	/* Whole escapes only: a cut "\x1" would be misread.  When truncating,
	 * leave room for "..." (or as much of it as outsize allows). */
	budget = fits ? outsize - 1 : (outsize - 1 > 3 ? outsize - 1 - 3 : 0);
	for (i = 0; i < len; i++) {
		unsigned char c = p[i];
		size_t l = quoted_len(c);

		if (o + l > budget)
			break;
		if (l == 1) {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0xf];
		}
	}
	if (!fits) {
		for (i = 0; i < 3 && o < outsize - 1; i++)
			out[o++] = '.';
	}
	out[o] = '\0';
	return out;
}
