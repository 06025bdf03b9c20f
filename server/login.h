/*
 * login: what happens to a session once an authentication has an answer,
 * and at its end.  A success becomes a login (maildrop path, state
 * directory, monitor, privilege drop, maildrop_open, +OK, TRANSACTION); a
 * failure becomes the one failed-login sequence (log line, delay, -ERR,
 * close after max-auth-failures); QUIT in TRANSACTION becomes the UPDATE;
 * an end without QUIT becomes the abort.
 *
 * The only caller of monitor_start(), privdrop_to() and maildrop_open().
 * Called by the handlers (server/cmd_*.c) and, for the abort, by the loop
 * (server/session.c); calls down into server/engine.c and the modules under
 * the engine (spoolpath, lockreg, monitor, privdrop, the maildrop).
 *
 * Runs as root until login_complete() forks the monitor; the session goes on
 * as the user.
 */
#ifndef POPPER_LOGIN_H
#define POPPER_LOGIN_H

#include <stdbool.h>
#include <stddef.h>

#include "server/authclient.h"
#include "server/engine.h"

/* The reply to AUTH_PERMFAIL: a global configuration fault (an unsafe user
 * database), the same for every name; the log says what is wrong.  USER
 * says it too, when it looks the name up. */
#define LOGIN_PERMFAIL_TEXT "Authentication is unavailable; contact your administrator."

/* After a successful auth of u (method: "PASS", "APOP", "AUTH-<mech>",
 * "KPOP", for the log): the login sequence, then +OK and TRANSACTION; or
 * the -ERR reply and the end of the session. */
void login_complete(struct session *s, const struct auth_user *u, const char *method);

/* The auth monitor's answer to a login attempt (rc and a from the
 * ac_*() call of server/authclient.h): a login is handed over (or, with an
 * in-process monitor, completed here); a failure gets its reply (the
 * monitor has logged it, counted it and waited the delay) and, after
 * max-auth-failures, the end of the session. */
void login_answered(struct session *s, int rc, const struct ac_answer *a);

/* A malformed credential caught before asking the monitor (an invalid
 * name, a malformed digest or base64, KPOP's wrong USER): the monitor logs
 * and counts it like any failed login (kind: authclient.h), then the same
 * reply. */
void login_failed(struct session *s, const char *method, const char *user, const char *kind);

/* QUIT in TRANSACTION: UPDATE, the commit, the reply, END. */
void login_update(struct session *s);

/* The session ends without QUIT while the maildrop is open: RFC 1939 §6,
 * no update, unless update-on-abort is set and may_update (the client went
 * away, rather than a signal or a timeout).  Harmless without a maildrop. */
void login_abort(struct session *s, bool may_update);

/* Frees what the login kept for the session (per-user settings); the last
 * call of a session, after which s->set must not be read. */
void login_release(void);

/* Expands a log-login template: %0 version, %1 user, %2 host, %3 address,
 * %% a percent sign; anything else is copied as is (never a printf format).
 * Substituted values are passed through log_quote().  Returns out. */
char *login_expand_template(const char *tmpl, const char *version, const char *user,
			    const char *host, const char *addr, char *out, size_t outsize);

#endif
