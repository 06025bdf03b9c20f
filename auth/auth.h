/*
 * auth: the one authentication interface the session engine calls.
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

/* True when APOP can work at all (built with GDBM and OpenSSL, a user
 * database configured). */
bool auth_apop_available(const struct auth_config *cfg);

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

#endif
