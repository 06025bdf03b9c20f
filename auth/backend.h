/*
 * backend: what auth/auth.c asks of one credential store, and the table of
 * stores it walks.
 *
 * PRIVATE to auth/: the session engine only sees auth/auth.h.  A backend
 * answers two different questions (Dovecot's passdb split): "is this the
 * password?" (verify_plain; PAM and the user database can) and "what is the
 * stored secret?" (lookup_secret and verify_apop; only the user database
 * can, APOP needs it).  Account policy (deny/allow files, uid, shell) is not
 * a backend's job: auth.c applies it to every backend alike.  Runs as root,
 * before the session drops privileges.
 */
#ifndef POPPER_AUTH_BACKEND_H
#define POPPER_AUTH_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/auth.h"

/* A backend's answer.  BACKEND_NO_USER means "not a name I hold": auth.c
 * then asks the next backend.  A backend that answers NO_USER has done the
 * same work as for a wrong password, so the answer's timing says nothing. */
enum backend_result {
	BACKEND_OK,
	BACKEND_FAIL,
	BACKEND_TEMPFAIL,
	BACKEND_PERMFAIL,   /* the store cannot be used until fixed (auth.h) */
	BACKEND_NO_USER
};

/* verify_plain flag: check the password but establish nothing (no PAM
 * credentials): auth.c refuses the account anyway and only wants the work
 * to look the same as for an account it would accept. */
#define BACKEND_VERIFY_ONLY 0x1u

struct auth_backend {
	const char *name;   /* "userdb", "pam": for log lines */

	/* True when the names this backend proves are system accounts: auth.c
	 * applies the system-account policy before asking it (and asks with
	 * BACKEND_VERIFY_ONLY when the policy refuses, so a refusal costs the
	 * same work), and its answer to verify_plain is final.  False: a name
	 * it proves with verify_plain is a virtual user, whose session runs as
	 * the mail-owner account. */
	bool system_accounts;

	/* False when cfg turns the backend off: auth.c then skips it.  NULL:
	 * always asked (the backend answers BACKEND_NO_USER itself, after the
	 * same work as for a wrong password, when it has no store). */
	bool (*enabled)(const struct auth_config *cfg);

	/* Checks password for user.  On BACKEND_OK copies into account_r
	 * (size account_size) the system account the session runs as.
	 * reason gets a log-only text on every other result. */
	enum backend_result (*verify_plain)(const struct auth_config *cfg,
					    const char *user, const char *password,
					    unsigned flags,
					    char *account_r, size_t account_size,
					    char *reason, size_t reasonsize);

	/* Copies user's stored secret into secret_r (NUL-terminated, length
	 * in *len_r, 0 when the entry has none); the caller wipes it.  Any
	 * entry (virtual or system) counts; *is_virtual_r (may be NULL) tells
	 * which.  NULL when the backend keeps no secrets (PAM). */
	enum backend_result (*lookup_secret)(const struct auth_config *cfg,
					     const char *user,
					     char *secret_r, size_t secret_size,
					     size_t *len_r, bool *is_virtual_r,
					     char *reason, size_t reasonsize);

	/* APOP: checks that digest_hex is MD5(timestamp || secret).  An
	 * unknown user (or one without a secret) costs the same MD5 and
	 * compare (with a dummy record's secret) and answers BACKEND_NO_USER /
	 * BACKEND_FAIL.  On BACKEND_OK copies the account to run as into
	 * account_r and sets *is_system_r: false for a virtual user (the
	 * account is mail-owner), true for the APOP secret of the system
	 * account named user (the account is user; auth.c applies the system
	 * policy).  NULL when the backend keeps no secrets (PAM). */
	enum backend_result (*verify_apop)(const struct auth_config *cfg,
					   const char *user, const char *timestamp,
					   const char *digest_hex,
					   char *account_r, size_t account_size,
					   bool *is_system_r,
					   char *reason, size_t reasonsize);

	/* True when verify_apop can work with cfg (built with what it needs,
	 * a store configured).  NULL with verify_apop. */
	bool (*apop_available)(const struct auth_config *cfg);
	/* True when the store of secrets exists and passes its safety rule
	 * now, so that the methods that need a stored secret (APOP, CRAM-MD5,
	 * SCRAM) may be offered.  NULL when the backend keeps no secrets. */
	bool (*secrets_usable)(const struct auth_config *cfg);
};

extern const struct auth_backend auth_backend_userdb;   /* auth_userdb.c */
extern const struct auth_backend auth_backend_pam;      /* auth_pam.c */

/* user's whole entry (kind and secret) into *e_r, for SASL's auxprop
 * plugin (auth/sasl_auxprop.c); the caller wipes it (userdb_entry_wipe).
 * BACKEND_NO_USER when no database is configured, the file does not exist
 * or the name is not in it; TEMPFAIL/PERMFAIL as for the other lookups.
 * (Needs auth/userdb/userdb.h for struct userdb_entry.) */
struct userdb_entry;
enum backend_result auth_userdb_lookup_entry(const struct auth_config *cfg, const char *user,
					     struct userdb_entry *e_r,
					     char *reason, size_t reasonsize);

#endif
