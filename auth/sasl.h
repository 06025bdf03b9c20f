/*
 * sasl: AUTH (RFC 5034) as a start/step object that hides Cyrus SASL
 * (libsasl2), in the shape of Postfix's xsasl: the engine creates a
 * session object per AUTH command, starts it with a mechanism and an
 * optional initial response, feeds it the client's responses, and gets back
 * OK (with the user to log in as), CONTINUE (with a challenge), FAIL,
 * TEMPFAIL or PERMFAIL.  The mechanisms themselves are the library's
 * plugins, never ours; the secrets for shared-secret mechanisms (CRAM-MD5,
 * SCRAM-*) come from popper's user database through an in-process auxprop
 * plugin (auth/sasl_auxprop.c), PLAIN and LOGIN are checked by
 * auth_verify_plain() (user database, then PAM), GSSAPI principals are
 * mapped to local users by krb5's own rules (auth/kpop.c), and the result
 * goes through the same account policy as USER/PASS (auth/auth.c).
 *
 * The base64 helpers are here too (the AUTH exchange is base64 on the
 * wire) and are built with or without libsasl2.  Everything runs as root,
 * in the session before it drops privileges.
 */
#ifndef POPPER_AUTH_SASL_H
#define POPPER_AUTH_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/auth.h"

/* Longest mechanism name (RFC 4422 section 3.1: 1 to 20 characters). */
#define SASL_MECH_NAME_MAX 20
/* What is offered when sasl-mechanisms is not set: the mechanisms this
 * project tests, strongest first.  Any other mechanism an installed plugin
 * offers may be named in sasl-mechanisms; ANONYMOUS never works. */
#define SASL_DEFAULT_MECHANISMS "SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 GSSAPI PLAIN LOGIN"
/* Room for a list of mechanism names (the CAPA SASL line). */
#define SASL_MECHLIST_MAX 512

enum sasl_status {
	SASL_S_OK,        /* authenticated: sasl_session_user() is valid */
	SASL_S_CONTINUE,  /* send the challenge, read the next response */
	SASL_S_FAIL,      /* these credentials do not log in (any cause) */
	SASL_S_TEMPFAIL,  /* cannot decide now (database, PAM, KDC trouble) */
	SASL_S_PERMFAIL,  /* a configuration fault stops every login (auth.h) */
	SASL_S_NOMECH     /* mechanism not offered on this connection */
};

/* What one AUTH command may use; every pointer must outlive the session. */
struct sasl_params {
	const struct auth_config *auth;  /* user database, PAM, account policy */
	const char *service;             /* "pop" (kerberos-service) */
	const char *server_fqdn;         /* our host name (GSSAPI acceptor name) */
	const char *local_addrport;      /* "a.b.c.d;port", or NULL */
	const char *remote_addrport;     /* the same for the client, or NULL */
	bool tls_active;                 /* the connection is encrypted (log only) */
	/* PLAIN and LOGIN reveal the password: the engine's clear-text decision
	 * for this connection (the one USER obeys). */
	bool cleartext_ok;
	/* Policy "default": a user with a stored secret may not send it in
	 * the clear (USER refuses them too). */
	bool cleartext_refuses_secret_users;
	bool downcase_user;              /* downcase-user, as for USER */
	bool trim_domain;                /* trim-domain, as for USER */
	const char *mechanisms;          /* sasl-mechanisms; NULL = the default list */
	const char *proxy_users;         /* sasl-proxy-users; NULL = nobody */
	const char *keytab;              /* kerberos-keytab; NULL = krb5's default */
};

struct sasl_session;

/* True when popper was built with libsasl2. */
bool sasl_built(void);

/* The mechanisms offered on a connection with these parameters, space
 * separated, into out (empty when none or not built).  Returns the number
 * of mechanisms, or -1 when the library cannot be used (logged). */
int sasl_mechanisms(const struct sasl_params *p, char *out, size_t outsize);

/* A new exchange.  Returns NULL (reason filled, log-only) when the library
 * cannot be used.  Free with sasl_session_destroy(). */
struct sasl_session *sasl_session_create(const struct sasl_params *p,
					 char *reason, size_t reasonsize);

/* Starts mech with an initial response (NULL: none was sent; a non-NULL
 * pointer with len 0 is an empty one, "=" on the wire).  On SASL_S_CONTINUE
 * *challenge_r (valid until the next call) holds *challenge_len_r bytes to
 * send. */
enum sasl_status sasl_session_start(struct sasl_session *ss, const char *mech,
				    const unsigned char *initial, size_t len,
				    const unsigned char **challenge_r,
				    size_t *challenge_len_r);

/* Feeds one decoded client response; results as for sasl_session_start. */
enum sasl_status sasl_session_step(struct sasl_session *ss,
				   const unsigned char *response, size_t len,
				   const unsigned char **challenge_r,
				   size_t *challenge_len_r);

/* After SASL_S_OK: who the session becomes (account policy applied). */
const struct auth_user *sasl_session_user(const struct sasl_session *ss);
/* The canonical name of the mechanism started ("" before), for logs. */
const char *sasl_session_mech(const struct sasl_session *ss);
/* The authentication identity the client gave, as sent (client text: quote
 * it before logging); "" when none was seen. */
const char *sasl_session_authid(const struct sasl_session *ss);
/* Why the last call failed: a short log-only text. */
const char *sasl_session_reason(const struct sasl_session *ss);

/* Disposes of the library's state and wipes everything. */
void sasl_session_destroy(struct sasl_session *ss);

/* ---- base64 (RFC 4648 section 4), strict: no blanks, padding required --- */

/* Bytes needed to encode len bytes, NUL included. */
size_t sasl_b64_encoded_size(size_t len);
/* Encodes len bytes of in into out (outsize >= sasl_b64_encoded_size).
 * Returns the length written (without the NUL), or -1 if out is short. */
long sasl_b64_encode(const unsigned char *in, size_t len, char *out, size_t outsize);
/* Decodes inlen characters of in into out (at most outsize bytes).  Returns
 * the decoded length, or -1 for anything that is not canonical base64 (a
 * character outside the alphabet, bad padding, a length that is not a
 * multiple of 4, non-zero trailing bits) or does not fit. */
long sasl_b64_decode(const char *in, size_t inlen, unsigned char *out, size_t outsize);

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
