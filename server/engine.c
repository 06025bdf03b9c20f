/*
 * engine: the ground floor of the POP3 engine (see engine.h for the floors):
 * the one function that changes a session's state, behind the named
 * transitions; the one way replies go out; the termination flag.
 *
 * Runs in the session process, as root before login and as the user after.
 * It calls nothing of the engine, only lib/ (netio, log).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "server/engine.h"

/* ---- state ---- */

static const char *state_name(enum session_state st)
{
	switch (st) {
	case STATE_AUTH1:
		return "AUTHORIZATION";
	case STATE_AUTH2:
		return "AUTHORIZATION(USER)";
	case STATE_TRANS:
		return "TRANSACTION";
	case STATE_UPDATE:
		return "UPDATE";
	case STATE_END:
		return "END";
	}
	return "?";
}

/* The one function that writes s->state.  An illegal transition is a bug:
 * it is logged and the session ends. */
static void state_change(struct session *s, enum session_state next)
{
	/* Which state may follow which (RFC 1939 §3): any state may end. */
	static const unsigned allowed[] = {
		[STATE_AUTH1] = (1u << STATE_AUTH2) | (1u << STATE_TRANS) | (1u << STATE_END),
		[STATE_AUTH2] = (1u << STATE_AUTH1) | (1u << STATE_TRANS) | (1u << STATE_END),
		[STATE_TRANS] = (1u << STATE_UPDATE) | (1u << STATE_END),
		[STATE_UPDATE] = (1u << STATE_END),
		[STATE_END] = 0,
	};

	if (s->state == next)
		return;
	if (!(allowed[s->state] & (1u << next))) {
		/* A bug, not a client error: fail closed. */
		log_error("internal error: state %s -> %s refused; ending the session",
			  state_name(s->state), state_name(next));
		s->exit_status = 1;
		next = STATE_END;
	}
	log_debug("state %s -> %s", state_name(s->state), state_name(next));
	s->state = next;
}

void engine_user_accepted(struct session *s, const char *name)
{
	snprintf(s->pending_user, sizeof(s->pending_user), "%s", name);
	state_change(s, STATE_AUTH2);
}

void engine_user_dropped(struct session *s)
{
	if (s->state == STATE_AUTH2)
		state_change(s, STATE_AUTH1);
	s->pending_user[0] = '\0';
}

void engine_logged_in(struct session *s)
{
	state_change(s, STATE_TRANS);
}

void engine_updating(struct session *s)
{
	state_change(s, STATE_UPDATE);
}

void engine_end(struct session *s)
{
	state_change(s, STATE_END);
}

/* ---- replies ---- */

static const char *resp_code_text(enum resp_code code)
{
	switch (code) {
	case RESP_AUTH:
		return "[AUTH] ";
	case RESP_IN_USE:
		return "[IN-USE] ";
	case RESP_SYS_TEMP:
		return "[SYS/TEMP] ";
	case RESP_SYS_PERM:
		return "[SYS/PERM] ";
	case RESP_NONE:
		break;
	}
	return "";
}

/* Formats prefix + text + CRLF into one bounded line and queues it.  Write
 * errors are sticky in netio; the main loop notices them on its next read. */
static void reply_vsend(struct session *s, const char *prefix, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static void reply_vsend(struct session *s, const char *prefix, const char *fmt, va_list ap)
{
	char buf[REPLY_MAX];
	size_t plen, len;
	int n;

	plen = strlen(prefix);
	if (plen > sizeof(buf) - 3)
		plen = sizeof(buf) - 3;
	memcpy(buf, prefix, plen);
	n = vsnprintf(buf + plen, sizeof(buf) - plen - 2, fmt, ap);
	if (n < 0)
		n = 0;
	len = plen + (size_t)n;
	if (len > sizeof(buf) - 3)
		len = sizeof(buf) - 3;
	/* A reply is one line, whatever the data said. */
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\r' || buf[i] == '\n' || buf[i] == '\0')
			buf[i] = ' ';
	buf[len++] = '\r';
	buf[len++] = '\n';
	(void)netio_write(s->io, buf, len);
}

void reply_ok(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_vsend(s, "+OK ", fmt, ap);
	va_end(ap);
}

void reply_err(struct session *s, enum resp_code code, const char *fmt, ...)
{
	char prefix[32];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "-ERR %s", resp_code_text(code));
	va_start(ap, fmt);
	reply_vsend(s, prefix, fmt, ap);
	va_end(ap);
}

void reply_line(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_vsend(s, "", fmt, ap);
	va_end(ap);
}

/* ---- termination signals ---- */

/* Set by SIGHUP/SIGTERM.  The handlers are installed without SA_RESTART so
 * a blocked poll() in netio returns and the loop sees the flag. */
static volatile sig_atomic_t terminate_signal;

static void on_terminate(int sig)
{
	terminate_signal = sig;
}

void engine_catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	/* A vanished client shows up as EPIPE from write, not as a signal. */
	(void)sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_terminate;
	sa.sa_flags = 0; /* no SA_RESTART: interrupt poll() */
	(void)sigaction(SIGHUP, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
}

int engine_stop_signal(void)
{
	return (int)terminate_signal;
}

void engine_line_arrived(struct session *s)
{
	clock_gettime(CLOCK_MONOTONIC, &s->t_line);
}

bool engine_sleep_after_line(const struct session *s, unsigned seconds)
{
	struct timespec until = s->t_line;
	int rc;

	if (until.tv_sec == 0 && until.tv_nsec == 0)
		return engine_sleep(seconds);
	until.tv_sec += (time_t)seconds;
	/* An absolute wake-up: a signal that interrupts it costs nothing, and
	 * the total stays the same whatever the check before it cost. */
	while ((rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL)) != 0) {
		if (terminate_signal || rc != EINTR)
			break;
	}
	return !terminate_signal;
}

bool engine_sleep(unsigned seconds)
{
	struct timespec left = { (time_t)seconds, 0 };

	/* nanosleep returns early on a signal; go on sleeping unless it was
	 * one that ends the session.  Bounded: each round sleeps less. */
	while (left.tv_sec > 0 || left.tv_nsec > 0) {
		if (terminate_signal)
			return false;
		if (nanosleep(&left, &left) == 0)
			break;
		if (errno != EINTR)
			break;
	}
	return !terminate_signal;
}
