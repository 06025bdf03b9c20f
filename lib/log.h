/*
 * log: the one logging path of every popper program.
 *
 * Records go to syslog (LOG_PID, facility set by -y / log-facility), to a
 * trace file when one is set (-t / tracefile), or to stderr for the command
 * line tools.  Formats are always literals in our code: client-supplied or
 * mailbox-supplied text goes through log_quote() first, which escapes
 * control characters, quotes, backslashes and bytes >= 0x7f, so a log line
 * can never be split or forged and a fail2ban filter can match it safely.
 */
#ifndef POPPER_LOG_H
#define POPPER_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

enum log_target { LOG_TO_SYSLOG, LOG_TO_STDERR };

/* Opens the log for program `ident` with syslog `facility`. */
void log_open(const char *ident, int facility, enum log_target target);
/* Re-opens syslog and the trace file (SIGHUP, or after PAM changed openlog). */
void log_reopen(void);
/* Appends every record to `path` as well (NULL stops tracing).  Returns 0, or
 * -1 with errno when the file cannot be opened (O_NOFOLLOW, O_APPEND, 0600). */
int log_set_tracefile(const char *path);
/* Enables LOG_DEBUG records (-d). */
void log_set_debug(bool on);
bool log_debug_enabled(void);

/* Maps "mail", "local0".."local7", "daemon", "auth", "authpriv", "user" to a
 * facility; returns -1 if unknown. */
int log_facility_from_name(const char *name);

void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(int priority, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_debug_enabled()) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

/* Writes `len` bytes of untrusted `s` into `out` (size `outsize`, always
 * NUL-terminated) with every byte outside 0x20..0x7e, plus '"' and '\\',
 * escaped as \xHH; truncates with "..." when it does not fit.  Returns out. */
char *log_quote(const char *s, size_t len, char *out, size_t outsize);

#endif
