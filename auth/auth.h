/*
 * auth: the one authentication interface the session engine calls, and the
 * only header of auth/ that anything outside auth/ includes.  Four ways in:
 * plain (USER/PASS), APOP, SASL (AUTH, a start/step object) and KPOP (the
 * Kerberos handshake of -k).  auth/backend.h, auth/sasl.h and auth/kpop.h are
 * private to auth/.
 *
 * Two different operations, as Dovecot's passdb splits them:
 *   - verify a plaintext password (USER/PASS): PAM can, the user database can;
 *   - verify a proof built from a stored secret (APOP): only a backend that
 *     can look the secret up (the user database) can.
 * Backends live behind this interface (auth/backend.h).  Every result is
 * AUTH_OK, AUTH_FAIL, AUTH_TEMPFAIL or AUTH_PERMFAIL; the reason is for the
 * log only and is never shown to the client.  Account policy (deny file, minimum uid, login
 * shell) is applied here, after the backend, so it reads the same for all.
 */
#ifndef POPPER_AUTH_H
#define POPPER_AUTH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/username.h"

/*
 * AUTH_FAIL: these credentials do not log in (whatever the cause: unknown
 * user, wrong password, policy).  AUTH_TEMPFAIL: cannot decide now (PAM or
 * database trouble); try again later.  AUTH_PERMFAIL: cannot decide until
 * the administrator fixes the configuration -- only for global faults that
 * stop every login the same way (an unsafe user database: wrong owner or
 * mode, a symlink, several links), never for anything about one user, so it
 * tells a client nothing about names.
 */
enum auth_result { AUTH_OK, AUTH_FAIL, AUTH_TEMPFAIL, AUTH_PERMFAIL };

struct auth_config {
	const char *pam_service;   /* NULL or "" = PAM off */
	const char *userdb_path;   /* NULL = no virtual users */
	/* Account that may own the user database besides root (auth-db-owner);
	 * NULL or an unknown account: root (or our own uid) only. */
	const char *userdb_owner;
	const char *mail_owner;    /* account that owns virtual users' maildrops */
	const char *deny_file;     /* nonauth-file: one name per line */
	const char *allow_file;    /* auth-file: only these may log in */
	unsigned long min_uid;     /* system accounts below are refused; 0 never */
	bool check_shell;          /* login shell must be in /etc/shells */
	const char *client_addr;   /* numeric address, for PAM_RHOST */
	/* check-password-expired false: an expired password (PAM asks for a
	 * new one, which POP3 cannot do) still logs in; expired or locked
	 * accounts are refused either way. */
	bool ignore_password_expiry;
};

/* Who the session becomes after a successful login. */
struct auth_user {
	char name[USERNAME_MAX + 1];  /* the login name */
	bool is_virtual;              /* from the user database */
	char account[USERNAME_MAX + 1]; /* system account the session runs as */
	uid_t uid;
	gid_t gid;
	char home[PATH_MAX];          /* the account's home ("" if unknown) */
};

/* USER/PASS.  On AUTH_OK fills *user_r.  reason gets a log-only text. */
enum auth_result auth_verify_plain(const struct auth_config *cfg,
				   const char *user, const char *password,
				   struct auth_user *user_r,
				   char *reason, size_t reasonsize);

/* APOP: digest_hex must be 32 hex digits of MD5(timestamp || secret).  An
 * unknown user costs the same work as a wrong digest. */
enum auth_result auth_verify_apop(const struct auth_config *cfg,
				  const char *user, const char *timestamp,
				  const char *digest_hex,
				  struct auth_user *user_r,
				  char *reason, size_t reasonsize);

/* True when APOP can be offered now: built with GDBM and OpenSSL, a user
 * database configured, and its file present and passing the one rule of
 * auth/userdb/userdb.h (a refusal is logged once per process). */
bool auth_apop_available(const struct auth_config *cfg);

/* True when APOP is built and a user database configured, whatever the
 * state of the file (what the clear-text policy "default" keys on: with an
 * unsafe file every login is refused anyway, and says so). */
bool auth_apop_configured(const struct auth_config *cfg);

/* True when the configured user database is present and passes the one
 * rule, so that the mechanisms that need a stored secret (APOP, CRAM-MD5,
 * SCRAM) may be offered. */
bool auth_secrets_available(const struct auth_config *cfg);

/* True when user has a stored secret (clear-text policy "default" refuses
 * USER/PASS for such users).  Errors count as "no". */
bool auth_user_has_secret(const struct auth_config *cfg, const char *user);

/* The same, telling errors apart: AUTH_OK with *has_r set, AUTH_TEMPFAIL or
 * AUTH_PERMFAIL (the database cannot be used; logged). */
enum auth_result auth_check_secret(const struct auth_config *cfg, const char *user,
				   bool *has_r);

/* A name proven by other means (SASL with a stored secret, Kerberos):
 * checks the account policy only -- deny and allow lists, and then either
 * the virtual user of that name (runs as mail-owner) or the system account
 * (uid, shell, locked or expired), as APOP does.  On AUTH_OK fills *user_r.
 * Never looks at a password. */
enum auth_result auth_finish_login(const struct auth_config *cfg, const char *user,
				   struct auth_user *user_r,
				   char *reason, size_t reasonsize);

/* Resolves a system account by name for settings such as mail-owner.
 * Returns 0 and fills uid/gid/home, or -1. */
int auth_lookup_account(const char *name, uid_t *uid_r, gid_t *gid_r,
			char *home, size_t homesize);

/* ---- SASL: AUTH (RFC 5034) as a start/step object (auth/sasl.c) ----------
 * The engine creates a session object per AUTH command, starts it with a
 * mechanism and an optional initial response, feeds it the client's
 * responses, and gets back OK (with the user to log in as), CONTINUE (with a
 * challenge), FAIL, TEMPFAIL or PERMFAIL.  The library (Cyrus SASL) stays
 * hidden behind it; the result goes through the same account policy as
 * USER/PASS.  The base64 helpers are here too (the AUTH exchange is base64
 * on the wire) and are built with or without libsasl2. */

/* Longest mechanism name (RFC 4422 section 3.1: 1 to 20 characters). */
#define SASL_MECH_NAME_MAX 20
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

/* ---- KPOP: the Kerberos 5 handshake of Qpopper's -k (auth/kpop.c) -------- */

/* Longest principal name we handle (text form). */
#define KPOP_PRINCIPAL_MAX 256

/* The KPOP handshake on the connected socket fd, before the greeting:
 * krb5_recvauth() with "KPOPV1.0", accepting any key of keytab (NULL =
 * krb5's default) whose principal is service/HOST (kerberos-service).
 * A peer whose first bytes are not krb5_sendauth's is refused before the
 * library reads anything; every read and write is bounded by timeout_s
 * seconds, the whole handshake by twice that (the process ends if it is
 * exceeded) and its memory by a fixed headroom.  On success returns 0
 * with the local user the client's principal maps to (krb5's
 * auth_to_local rules and ~/.k5login) in user_r and the principal in
 * principal_r; else -1 with a log-only reason.  Without krb5 built in it
 * always fails with a reason. */
int kpop_handshake(int fd, const char *service, const char *keytab, unsigned timeout_s,
		   char *user_r, size_t usersize, char *principal_r, size_t principalsize,
		   char *reason, size_t reasonsize);

#endif
