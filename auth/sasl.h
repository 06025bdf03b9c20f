/*
 * sasl: what auth/sasl.c and auth/sasl_auxprop.c share.  PRIVATE to auth/:
 * the session engine sees the SASL start/step object through auth/auth.h
 * only.
 *
 * auth/sasl.c is AUTH (RFC 5034) as a start/step object that hides Cyrus
 * SASL (libsasl2), in the shape of Postfix's xsasl.  The mechanisms
 * themselves are the library's plugins, never ours; the secrets for
 * shared-secret mechanisms (CRAM-MD5, SCRAM-*) come from popper's user
 * database through an in-process auxprop plugin (auth/sasl_auxprop.c),
 * PLAIN and LOGIN are checked by auth_verify_plain() (user database, then
 * PAM), GSSAPI principals are mapped to local users by krb5's own rules
 * (auth/kpop.c), and the result goes through the same account policy as
 * USER/PASS (auth/auth.c).  Everything runs as root, in the session before
 * it drops privileges.
 */
#ifndef POPPER_AUTH_SASL_H
#define POPPER_AUTH_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/auth.h"

/* What is offered when sasl-mechanisms is not set: the mechanisms this
 * project tests, strongest first.  Any other mechanism an installed plugin
 * offers may be named in sasl-mechanisms; ANONYMOUS never works. */
#define SASL_DEFAULT_MECHANISMS "SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 GSSAPI PLAIN LOGIN"

/* ---- shared by auth/sasl.c and auth/sasl_auxprop.c only ----------------- */

#if defined(SASL_INTERNAL) && defined(HAVE_SASL)
#include <sasl/sasl.h>

/* What the callbacks learn during one exchange, for the result and the log. */
struct sasl_findings {
	/* PLAIN/LOGIN: the checkpass callback ran (and decided). */
	bool plaintext_checked;
	enum auth_result plaintext_result;
	struct auth_user plaintext_user;      /* on AUTH_OK: for the authid */
	char plaintext_name[USERNAME_MAX + 1];
	/* Shared-secret mechanisms: what the auxprop lookup found. */
	bool secret_served;                   /* a real secret was handed over */
	bool dummy_served;                    /* unknown user: a random one */
	enum auth_result db_result;           /* AUTH_OK, or the database fault */
	char reason[256];                     /* log-only */
};

/* The session being served right now (one per process), for the auxprop
 * plugin, which the library calls without our context. */
struct sasl_session *sasl_active_session(void);
const struct sasl_params *sasl_session_params(const struct sasl_session *ss);
struct sasl_findings *sasl_session_findings(struct sasl_session *ss);
sasl_conn_t *sasl_session_conn(const struct sasl_session *ss);

/* Registers popper's auxprop plugin with the library (sasl_auxprop.c);
 * call once, after sasl_server_init.  Returns a SASL_* code. */
int sasl_auxprop_register(void);
/* The plugin's name, for the auxprop_plugin option. */
extern const char sasl_auxprop_name[];
/* The SASL_CB_SERVER_USERDB_CHECKPASS callback (context: the session). */
int sasl_checkpass_cb(sasl_conn_t *conn, void *context, const char *user,
		      const char *pass, unsigned passlen, struct propctx *propctx);
#endif

#endif
