/*
 * authclient: the pre-auth process's side of the auth monitor
 * (server/authmon.h): one function per request of the table.  Each builds
 * the request, sends it and waits for the one answer -- or, when the
 * session has no forked monitor (the engine's unit tests), hands it to an
 * in-process monitor with the same table.
 *
 * Runs in the pre-auth process: unprivileged, chrooted, under seccomp.
 */
#ifndef POPPER_AUTHCLIENT_H
#define POPPER_AUTHCLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "server/authmon.h"

struct session;

struct ac_answer {
	enum am_status status;
	bool end;                   /* the monitor ends the session after this */
	const unsigned char *data;  /* challenge, list or name (valid until the next call) */
	size_t len;
};

/* Each returns 0 with *a filled, or -1 when there is no answer: the
 * monitor is gone, a termination signal came, or the answer was malformed
 * (then the session must end; logged). */
int ac_user_check(struct session *s, const char *name, struct ac_answer *a);
int ac_plain(struct session *s, const char *name, const char *password, struct ac_answer *a);
int ac_apop(struct session *s, const char *name, const char *digest, struct ac_answer *a);
int ac_sasl_mechs(struct session *s, struct ac_answer *a);
/* initial NULL: no initial response (len 0 with a pointer: an empty one). */
int ac_sasl_start(struct session *s, const char *mech, const unsigned char *initial, size_t len,
		  struct ac_answer *a);
int ac_sasl_step(struct session *s, const unsigned char *resp, size_t len, struct ac_answer *a);
int ac_sasl_cancel(struct session *s, struct ac_answer *a);
/* A malformed credential caught before asking: kind is one of the early
 * kinds of authmon.c (invalid-user-name, bad-digest-format, bad-base64,
 * response-too-long, rejected). */
int ac_failed(struct session *s, const char *method, const char *user, const char *kind,
	      struct ac_answer *a);
int ac_kpop_result(struct session *s, struct ac_answer *a);
int ac_kpop_pass(struct session *s, const char *name, struct ac_answer *a);

/* Forked mode with -k: relays the KPOP handshake's bytes between the
 * client and the monitor's krb5 (s->kpop_fd) until the monitor closes its
 * end; bounded in bytes and time. */
void ac_kpop_relay(struct session *s);

/* Forked mode, after an AMS_OK login answer: sends the connection (or,
 * with TLS, only what the client had already sent) to the monitor, which
 * starts the user's session.  Never returns: the process exits, or stays
 * as the TLS proxy until the session ends.  In-process mode: returns and
 * the caller logs in itself (the in-process monitor's user and method). */
void ac_handover(struct session *s);

/* The in-process monitor of s (NULL in forked mode). */
struct authmon *ac_inprocess_monitor(struct session *s);

#endif
