/*
 * authmon: the privileged half of a session before login -- the auth
 * monitor.  It never reads the connection: the pre-auth process (the
 * engine, unprivileged, chrooted, under seccomp: server/sandbox.c) parses
 * every client byte and asks the monitor a fixed table of requests over a
 * socketpair (server/privsep.h): check a USER/PASS, an APOP digest, step a
 * SASL exchange (the library's context and the secrets stay here; only the
 * client's tokens and our challenges cross), report a malformed credential,
 * collect the KPOP handshake's result, check KPOP's USER/PASS, and hand the
 * connection over after a login this monitor itself decided.
 *
 * Every request is length-bounded and allowed only in the states where it
 * makes sense (table in authmon.c); anything else -- an unknown or
 * malformed request, one out of order, a second login -- ends the
 * connection.  The monitor also owns what a compromised pre-auth process
 * must not be able to skip: the failed-login log line, the failure count
 * and max-auth-failures, and the failure delay (it answers a failed login
 * only when the delay has passed).
 *
 * Two ways to run it: forked (authmon_run: the pre-auth process is a
 * child, the requests come over the socket), or in-process (the unit
 * tests of the handlers: server/authclient.c calls authmon_serve directly,
 * the same table and the same checks, no socket).
 *
 * Runs as root (or as whoever started popper).  Calls auth/ and login.c.
 */
#ifndef POPPER_AUTHMON_H
#define POPPER_AUTHMON_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "auth/auth.h"
#include "server/privsep.h"

struct session;
struct sasl_session;

/* Where a monitor is (a bit each, for the request table). */
enum am_state {
	AM_KPOP_WAIT,   /* -k: the handshake is done; only its result may be asked */
	AM_PRE,         /* AUTHORIZATION: any way of logging in */
	AM_SASL,        /* an AUTH exchange is open */
	AM_AUTHED,      /* a login succeeded: only the hand-over */
	AM_DONE,        /* handed over, or ended: nothing more */
	AM_STATE_COUNT
};

/* The status byte of an answer. */
enum am_status {
	AMS_OK,         /* logged in / accepted / data follows */
	AMS_FAIL,
	AMS_TEMPFAIL,
	AMS_PERMFAIL,
	AMS_CONTINUE,   /* SASL: send the challenge in the data field */
	AMS_NOMECH,     /* SASL: mechanism not offered (not a failed login) */
	AMS_CANCELLED,  /* SASL: cancel acknowledged */
	AMS_VIOLATION   /* the request broke the table: the connection ends */
};

/* Answer flag: the session must end after this reply (max-auth-failures). */
#define AMF_END 0x01

/* Longest method token of the log ("AUTH-" and a SASL mechanism name). */
#define AM_METHOD_MAX 32

struct authmon {
	struct session *s;          /* the record made before the fork */
	enum am_state state;
	bool kpop;                  /* -k connection: KPOP's USER/PASS only */
	char kpop_user[USERNAME_MAX + 1];
	unsigned failures;
	struct sasl_session *ss;    /* AM_SASL */
	unsigned sasl_rounds;
	char method[AM_METHOD_MAX]; /* of the login, or of the open exchange */
	struct auth_user user;      /* AM_AUTHED: who the session becomes */
	struct timespec t_request;  /* CLOCK_MONOTONIC arrival of the request */
	/* answer data the handlers fill (challenge, list, user name) */
	unsigned char data[PM_FIELD_MAX / 2];
	size_t data_len;
};

/* A monitor for session s in AM_PRE (AM_KPOP_WAIT with -k). */
void authmon_init(struct authmon *m, struct session *s);
/* Frees the SASL exchange and wipes the secrets it kept. */
void authmon_clear(struct authmon *m);

/* Serves one request: checks it against the table and the state, runs its
 * handler, fills *ans (its fields point into m or are static).  An answer
 * of AMS_VIOLATION (logged) leaves the monitor in AM_DONE. */
void authmon_serve(struct authmon *m, const struct pm_msg *req, struct pm_msg *ans);

/* The KPOP handshake on fd (the client, or the pre-auth process's relay),
 * with its log lines; AM_KPOP_WAIT then holds the answer.  Returns 0 when
 * Kerberos proved a user. */
int authmon_kpop_handshake(struct authmon *m, int fd);

/*
 * Forked mode, in the process that owns the connection (root): starts the
 * pre-auth child and serves it.  Returns
 *   AUTHMON_CHILD  in the child: confined (server/sandbox.c), s->pm_fd set;
 *                  it runs the engine;
 *   AUTHMON_LOGIN  in the monitor, once a login was handed over: the session
 *                  record reads from the connection the child passed (what
 *                  the client had already sent comes first), m->user and
 *                  m->method say who logged in;
 *   AUTHMON_ENDED  in the monitor: the child ended without a login;
 *                  *status_r is the process's exit status;
 *   -1             the child could not be started (logged).
 */
enum { AUTHMON_CHILD, AUTHMON_LOGIN, AUTHMON_ENDED };
int authmon_run(struct authmon *m, int *status_r);

#endif
