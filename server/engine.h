/*
 * engine: the ground floor of the POP3 engine, under everything else in
 * server/ that speaks POP3: the session record (struct session), its RFC 1939
 * state, the one way replies go out, and the flag a termination signal sets.
 *
 * The floors of the engine, top to bottom (calls only go down):
 *   server/session.c   the loop: greeting, implicit TLS / KPOP start, read
 *   server/commands.c  the table, the checks, dispatch
 *   server/cmd_*.c     the handlers, one file per state (commands.h says which)
 *   server/login.c     after an auth: login, failed logins, QUIT's update, abort
 *   server/policy.c    who may use which way of logging in (no state, no I/O
 *                      but one refusal reply)
 *   server/engine.c    this file's functions
 *
 * Who changes the state: nobody writes s->state but engine.c, and engine.c
 * offers no "set the state to X".  It offers the few named transitions of
 * RFC 1939 (USER accepted, USER forgotten, logged in, updating, end); each
 * passes through one function that checks it against the table of allowed
 * transitions and ends the session (fail closed) on a transition that
 * should not happen.  USER and KPOP's USER accept a name; the login module
 * alone logs in, updates and forgets a name after a failure; any floor may
 * end the session (a handler does when the connection cannot go on).
 *
 * Runs in the pre-auth process (unprivileged, confined) before login, in
 * the user's session after; the auth monitor (root) shares the record it
 * made before the fork.
 * Nothing here is exported outside server/.
 */
#ifndef POPPER_ENGINE_H
#define POPPER_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "auth/auth.h"
#include "lib/netio.h"
#include "lib/tls.h"
#include "lib/username.h"
#include "server/maildrop/maildrop.h"
#include "server/session.h"
#include "server/settings.h"

/* RFC 1939 states.  AUTHORIZATION is split in two, as in Qpopper: before
 * and after an accepted USER (PASS is only valid after one). */
enum session_state {
	STATE_AUTH1,   /* AUTHORIZATION: greeting sent, no user yet */
	STATE_AUTH2,   /* AUTHORIZATION: USER accepted, waiting for PASS */
	STATE_TRANS,   /* TRANSACTION: logged in, maildrop open */
	STATE_UPDATE,  /* UPDATE: QUIT is committing the maildrop */
	STATE_END      /* the loop stops; nothing more is read */
};

/* Longest reply line, CRLF included.  RFC 2449 says 512; the greeting may
 * exceed it with a very long host name, so the buffer has room for that. */
#define REPLY_MAX 1024

/* RFC 2449 / RFC 3206 response codes; reply_err() spells them. */
enum resp_code {
	RESP_NONE,
	RESP_AUTH,       /* [AUTH]: credentials or policy */
	RESP_IN_USE,     /* [IN-USE]: maildrop locked */
	RESP_SYS_TEMP,   /* [SYS/TEMP] */
	RESP_SYS_PERM    /* [SYS/PERM] */
};

/* The session: everything one connection owns.  Only server/session.c
 * creates it; the floors below read it, and change its state only through
 * the transitions below. */
struct authmon;

struct session {
	const struct session_params *p;
	const struct settings *set;
	struct netio *io;
	int timeout_ms;                  /* idle limit of a read, -1 = none */
	enum session_state state;        /* written only by engine.c */
	bool cleartext_ok;               /* USER/PASS allowed on this connection */
	struct tls_conn *tls;            /* non-NULL once the connection is encrypted
					  * (STLS or implicit TLS); see cmd_stls.c */
	bool tls_proxied;                /* after login: the pre-auth process is our TLS
					  * end (server/tlsproxy.c) */
	char timestamp[320];             /* APOP banner timestamp, "<...>" */
	bool apop_offered;               /* decided as root before the fork: the
					  * pre-auth process cannot see the database */
	/* privilege separation (server/authmon.h, server/authclient.h) */
	bool pm_forked;                  /* the auth monitor is our parent process */
	int pm_fd;                       /* its request socket (pm_forked) */
	int proxy_fd;                    /* TLS: our end of the session's clear text, or -1 */
	int kpop_fd;                     /* -k: the relay to the monitor's krb5, or -1 */
	struct authmon *inproc;          /* not forked: the in-process monitor (authclient.c) */
	struct auth_config authcfg;
	char pending_user[USERNAME_MAX + 1]; /* STATE_AUTH2: the accepted USER name */
	char kpop_user[USERNAME_MAX + 1];    /* KPOP: the user Kerberos proved ("" = none) */
	/* after login */
	struct auth_user user;
	const char *method;              /* "PASS", "APOP", "AUTH-<mech>" or "KPOP" */
	struct maildrop *md;             /* STATE_TRANS: the open maildrop */
	unsigned last, last_at_start;    /* LAST high-water mark (RFC 1725) */
	bool send_failed;                /* RETR/TOP broke off mid-message */
	struct timespec t_start, t_auth, t_init;
	/* CLOCK_MONOTONIC when the client's last line reached the engine (a
	 * command, or a SASL response): a failed login is answered a fixed
	 * time after it, however long the check took. */
	struct timespec t_line;
	int exit_status;
};

/* ---- replies: the one way they go out ---- */

/* "+OK text".  fmt is always a literal; the text must not contain CR or LF
 * (they are replaced if it does).  Write errors are sticky in netio. */
void reply_ok(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "-ERR [CODE] text", the code as spelt by RFC 2449 / RFC 3206. */
void reply_err(struct session *s, enum resp_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A raw line of a multi-line reply ("1 120", "TOP", "."). */
void reply_line(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- state: the named transitions ---- */

/* USER (or KPOP's USER) accepted name: AUTH1 -> AUTH2, name kept in
 * s->pending_user for PASS. */
void engine_user_accepted(struct session *s, const char *name);
/* Forgets the pending USER name; AUTH2 goes back to AUTH1, any other state
 * stays.  login.c, after a failed login. */
void engine_user_dropped(struct session *s);
/* AUTHORIZATION -> TRANSACTION.  login.c, once the maildrop is open. */
void engine_logged_in(struct session *s);
/* TRANSACTION -> UPDATE.  login.c, for QUIT. */
void engine_updating(struct session *s);
/* Any state -> END: the loop reads nothing more. */
void engine_end(struct session *s);

/* ---- termination signals ---- */

/* Ignores SIGPIPE and catches SIGHUP and SIGTERM without SA_RESTART, so a
 * blocked poll() in netio returns and the loop sees the flag. */
void engine_catch_signals(void);
/* The termination signal that came (SIGTERM, SIGHUP), or 0. */
int engine_stop_signal(void);
/* Sleeps up to seconds; false if a termination signal came. */
bool engine_sleep(unsigned seconds);
/* Notes now (CLOCK_MONOTONIC) as the arrival of the client's last line. */
void engine_line_arrived(struct session *s);
/* Sleeps until seconds after the last line arrived (at once if that time
 * has passed; from now if no line was noted); false if a termination
 * signal came. */
bool engine_sleep_after_line(const struct session *s, unsigned seconds);

#endif
