/*
 * auth_userdb: the user-database backend (popper's GDBM user database,
 * auth/userdb/: userdb.h, read by userdb_read.c).
 *
 * Runs as root in the pre-login session, reading the database read-only.
 * The database holds two kinds of entries (auth/userdb/userdb.h):
 *   - a virtual user: its secret is checked here (USER/PASS: the password
 *     itself; APOP: MD5(timestamp || secret)) and the session then runs as
 *     the mail-owner account;
 *   - a system entry: the APOP secret of the system account of the same
 *     name (Qpopper's pop.auth, set with popauth).  APOP is checked here and
 *     auth.c applies the system-account policy; USER/PASS is not ours (PAM
 *     checks the account's own password).
 * Names the database does not hold are "not mine" (BACKEND_NO_USER) and go
 * on to PAM, but only after the same work as a wrong password: a dummy
 * stored record (userdb_dummy_entry) is decoded as a held name's is and the
 * guess is checked against it (the compare, or APOP's MD5 and compare), the
 * result thrown away.  With PAM off, an unknown name and a virtual user's
 * wrong password therefore cost the same, and their timing does not tell
 * which names are in the database; with PAM on, the unknown name then costs
 * PAM's work too, which only auth-failure-delay hides (popper(8)).  A
 * missing database file means "no entries".  A database that breaks the one
 * rule (auth/userdb/userdb.h: its directory writable by root or
 * auth-db-owner alone; the file owned by one of them, mode exactly 0600, not
 * a symlink, one link) is a permanent failure for every login until the
 * administrator fixes it; any other database trouble is a temporary
 * failure.  Neither ever falls through to PAM.  The same rule decides
 * whether the shared-secret methods are offered at all (secrets_usable: the
 * APOP timestamp of the greeting, CRAM-MD5 and SCRAM in CAPA and AUTH): a
 * missing or unsafe database offers none of them.
 */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>

#include "auth/backend.h"
#include "lib/ctcompare.h"
#include "lib/log.h"
#include "auth/userdb/userdb.h"

#ifdef HAVE_OPENSSL
#include <openssl/evp.h>
#endif

/* An APOP digest is an MD5 value in hex (RFC 1939 section 7). */
#define APOP_DIGEST_LEN 16
#define APOP_HEX_LEN (2 * APOP_DIGEST_LEN)

/* Longest error text from the database layer: a path and a reason. */
#define DB_ERR_MAX (PATH_MAX + 512)

static bool userdb_configured(const struct auth_config *cfg)
{
	return cfg->userdb_path != NULL && cfg->userdb_path[0] != '\0' &&
	       userdb_available();
}

/* The one rule (auth/userdb/userdb.h) with the server's owner account:
 * auth-db-owner, besides root. */
static void server_rules(const struct auth_config *cfg, struct userdb_rules *r)
{
	struct passwd *pw = NULL;

	memset(r, 0, sizeof(*r));
	if (cfg->userdb_owner != NULL && cfg->userdb_owner[0] != '\0')
		pw = getpwnam(cfg->userdb_owner);
	if (pw != NULL) {
		r->owner_set = true;
		r->owner_uid = pw->pw_uid;
	}
}

/* The log line for a database the rule refuses (err: the rule's reason,
 * which apopdb and popauth give in the same words). */
static void log_refused(const struct auth_config *cfg, const struct userdb_rules *rules,
			const char *err)
{
	log_error("user database refused (it must be owned by root or %s, mode 0600, not a "
		  "symlink, one link, in a directory no one else may write): %s",
		  rules->owner_set ? cfg->userdb_owner : "(no auth-db-owner account)", err);
}

/* Reads user's entry into *e_r.  NO_USER when no database is configured,
 * the file does not exist, or the name is not in it. */
static enum backend_result db_lookup(const struct auth_config *cfg, const char *user,
				     struct userdb_entry *e_r,
				     char *reason, size_t reasonsize)
{
	char err[DB_ERR_MAX];
	struct userdb_rules rules;
	struct userdb *db;
	enum userdb_status st;

	memset(e_r, 0, sizeof(*e_r));
	if (!userdb_configured(cfg))
		return BACKEND_NO_USER;
	server_rules(cfg, &rules);
	db = userdb_open_with(cfg->userdb_path, USERDB_READ, &rules, err, sizeof(err));
	if (db == NULL) {
		if (errno == ENOENT)
			return BACKEND_NO_USER;   /* no file: no entries */
		if (errno == EPERM) {
			log_refused(cfg, &rules, err);
			snprintf(reason, reasonsize, "user database unsafe");
			return BACKEND_PERMFAIL;
		}
		log_error("user database unusable: %s", err);
		snprintf(reason, reasonsize, "user database error");
		return BACKEND_TEMPFAIL;
	}
	st = userdb_get_entry(db, user, e_r);
	if (st == USERDB_ERROR) {
		log_error("user database error: %s", userdb_error(db));
		snprintf(reason, reasonsize, "user database error");
	}
	userdb_close(db);
	if (st == USERDB_OK)
		return BACKEND_OK;
	userdb_entry_wipe(e_r);
	return st == USERDB_NOTFOUND ? BACKEND_NO_USER : BACKEND_TEMPFAIL;
}

/* A correct secret: the session runs as mail-owner.  Without one configured
 * virtual users cannot log in, and the administrator must hear of it. */
static enum backend_result map_to_owner(const struct auth_config *cfg, const char *user,
					char *account_r, size_t account_size,
					char *reason, size_t reasonsize)
{
	char q[USERNAME_MAX * 4 + 8];

	if (cfg->mail_owner == NULL || cfg->mail_owner[0] == '\0') {
		log_quote(user, strlen(user), q, sizeof(q));
		log_error("virtual user \"%s\" cannot log in: no mail-owner is configured", q);
		snprintf(reason, reasonsize, "no mail-owner configured");
		return BACKEND_TEMPFAIL;
	}
	if (strlen(cfg->mail_owner) >= account_size) {
		log_error("mail-owner name too long");
		snprintf(reason, reasonsize, "bad mail-owner");
		return BACKEND_TEMPFAIL;
	}
	memcpy(account_r, cfg->mail_owner, strlen(cfg->mail_owner) + 1);
	return BACKEND_OK;
}

static enum backend_result userdb_verify_plain(const struct auth_config *cfg,
					       const char *user, const char *password,
					       unsigned flags,
					       char *account_r, size_t account_size,
					       char *reason, size_t reasonsize)
{
	struct userdb_entry e, dummy;
	enum backend_result r;
	bool match;

	(void)flags;   /* nothing is established here either way */
	r = db_lookup(cfg, user, &e, reason, reasonsize);
	if (r == BACKEND_TEMPFAIL || r == BACKEND_PERMFAIL)
		return r;
	if (r == BACKEND_NO_USER || e.kind == USERDB_SYSTEM || e.secret_len == 0) {
		/* The work of a wrong password, result discarded: a stored
		 * record decoded and the guess compared with its secret, so
		 * timing says nothing about names. */
		userdb_dummy_entry(&dummy);
		(void)ct_equal_str(dummy.secret, dummy.secret_len, password, strlen(password));
		userdb_entry_wipe(&dummy);
		if (r == BACKEND_NO_USER) {
			snprintf(reason, reasonsize, "unknown user");
			return BACKEND_NO_USER;
		}
		if (e.kind == USERDB_SYSTEM) {
			/* An APOP secret is not the account's password: PAM
			 * checks that. */
			userdb_entry_wipe(&e);
			snprintf(reason, reasonsize, "unknown user");
			return BACKEND_NO_USER;
		}
		userdb_entry_wipe(&e);
		snprintf(reason, reasonsize, "virtual user without a secret (disabled)");
		return BACKEND_FAIL;
	}
	match = ct_equal_str(e.secret, e.secret_len, password, strlen(password));
	userdb_entry_wipe(&e);
	if (!match) {
		snprintf(reason, reasonsize, "wrong password");
		return BACKEND_FAIL;
	}
	return map_to_owner(cfg, user, account_r, account_size, reason, reasonsize);
}

static enum backend_result userdb_lookup_secret(const struct auth_config *cfg,
						const char *user,
						char *secret_r, size_t secret_size,
						size_t *len_r, bool *is_virtual_r,
						char *reason, size_t reasonsize)
{
	struct userdb_entry e;
	enum backend_result r;

	*len_r = 0;
	if (secret_size > 0)
		secret_r[0] = '\0';
	if (is_virtual_r != NULL)
		*is_virtual_r = false;
	r = auth_userdb_lookup_entry(cfg, user, &e, reason, reasonsize);
	if (r != BACKEND_OK)
		return r;
	if (is_virtual_r != NULL)
		*is_virtual_r = e.kind == USERDB_VIRTUAL;
	if (e.secret_len + 1 > secret_size) {
		userdb_entry_wipe(&e);
		snprintf(reason, reasonsize, "secret too long for the caller");
		return BACKEND_TEMPFAIL;
	}
	memcpy(secret_r, e.secret, e.secret_len + 1);
	*len_r = e.secret_len;
	userdb_entry_wipe(&e);
	return BACKEND_OK;
}

enum backend_result auth_userdb_lookup_entry(const struct auth_config *cfg, const char *user,
					     struct userdb_entry *e_r,
					     char *reason, size_t reasonsize)
{
	enum backend_result r = db_lookup(cfg, user, e_r, reason, reasonsize);

	if (r == BACKEND_NO_USER)
		snprintf(reason, reasonsize, "unknown user");
	return r;
}

/* ---- APOP ---------------------------------------------------------------- */

#ifdef HAVE_OPENSSL

static bool apop_built(void)
{
	return true;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parses exactly APOP_HEX_LEN hex digits (either case).  The client's own
 * text, so a plain loop is fine.  Returns false on any other shape. */
static bool parse_digest(const char *hex, unsigned char out[APOP_DIGEST_LEN])
{
	size_t i;

	if (strnlen(hex, APOP_HEX_LEN + 1) != APOP_HEX_LEN)
		return false;
	for (i = 0; i < APOP_DIGEST_LEN; i++) {
		int hi = hexval((unsigned char)hex[2 * i]);
		int lo = hexval((unsigned char)hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

/* MD5(timestamp || secret) into out.  Returns false if OpenSSL cannot
 * (for instance MD5 disabled by a FIPS provider). */
static bool apop_md5(const char *timestamp, const char *secret, size_t len,
		     unsigned char out[APOP_DIGEST_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int outlen = 0;
	bool ok;

	if (ctx == NULL)
		return false;
	ok = EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, timestamp, strlen(timestamp)) == 1 &&
	     EVP_DigestUpdate(ctx, secret, len) == 1 &&
	     EVP_DigestFinal_ex(ctx, out, &outlen) == 1 &&
	     outlen == APOP_DIGEST_LEN;
	EVP_MD_CTX_free(ctx);   /* cleanses the context */
	return ok;
}

static enum backend_result userdb_verify_apop(const struct auth_config *cfg,
					      const char *user, const char *timestamp,
					      const char *digest_hex,
					      char *account_r, size_t account_size,
					      bool *is_system_r,
					      char *reason, size_t reasonsize)
{
	unsigned char want[APOP_DIGEST_LEN], got[APOP_DIGEST_LEN];
	struct userdb_entry e;
	enum backend_result r;
	bool match, usable;

	*is_system_r = false;
	if (timestamp == NULL || timestamp[0] == '\0') {
		snprintf(reason, reasonsize, "no APOP timestamp");
		return BACKEND_TEMPFAIL;   /* our own bug, not the client's */
	}
	if (!parse_digest(digest_hex, got)) {
		snprintf(reason, reasonsize, "malformed digest");
		return BACKEND_FAIL;
	}
	r = db_lookup(cfg, user, &e, reason, reasonsize);
	if (r == BACKEND_TEMPFAIL || r == BACKEND_PERMFAIL)
		return r;
	usable = r == BACKEND_OK && e.secret_len > 0;
	if (!usable) {
		/* The same decode, hash and compare with the dummy record's
		 * secret, result discarded; the kind stays the entry's. */
		enum userdb_kind kind = e.kind;

		userdb_dummy_entry(&e);
		e.kind = kind;
	}
	if (!apop_md5(timestamp, e.secret, e.secret_len, want)) {
		userdb_entry_wipe(&e);
		log_error("APOP: OpenSSL cannot compute MD5");
		snprintf(reason, reasonsize, "MD5 unavailable");
		return BACKEND_TEMPFAIL;
	}
	match = ct_equal(want, got, APOP_DIGEST_LEN);
	ct_wipe(want, sizeof(want));
	*is_system_r = e.kind == USERDB_SYSTEM;
	userdb_entry_wipe(&e);
	if (r == BACKEND_NO_USER) {
		snprintf(reason, reasonsize, "unknown user");
		return BACKEND_NO_USER;
	}
	if (!usable) {
		snprintf(reason, reasonsize, "APOP turned off for this user");
		return BACKEND_FAIL;
	}
	if (!match) {
		snprintf(reason, reasonsize, "wrong digest");
		return BACKEND_FAIL;
	}
	if (*is_system_r) {
		/* The system account of that name; auth.c checks it. */
		if (strlen(user) >= account_size) {
			snprintf(reason, reasonsize, "name too long");
			return BACKEND_FAIL;
		}
		memcpy(account_r, user, strlen(user) + 1);
		return BACKEND_OK;
	}
	return map_to_owner(cfg, user, account_r, account_size, reason, reasonsize);
}

#else /* !HAVE_OPENSSL */

static bool apop_built(void)
{
	return false;
}

static enum backend_result userdb_verify_apop(const struct auth_config *cfg,
					      const char *user, const char *timestamp,
					      const char *digest_hex,
					      char *account_r, size_t account_size,
					      bool *is_system_r,
					      char *reason, size_t reasonsize)
{
	(void)cfg; (void)user; (void)timestamp; (void)digest_hex;
	(void)account_r; (void)account_size;
	*is_system_r = false;
	snprintf(reason, reasonsize, "APOP not built (no OpenSSL)");
	return BACKEND_FAIL;
}

#endif /* HAVE_OPENSSL */

/* APOP needs a database to hold the secrets and OpenSSL to hash them. */
static bool userdb_apop_available(const struct auth_config *cfg)
{
	return userdb_configured(cfg) && apop_built();
}

/* The rule on the configured database, without reading it: it exists and
 * may be used.  A refusal is logged once per process (one per connection:
 * the greeting, CAPA and AUTH all ask); every failed login logs it again. */
static bool userdb_secrets_usable(const struct auth_config *cfg)
{
	static bool logged;
	char err[DB_ERR_MAX];
	struct userdb_rules rules;

	if (!userdb_configured(cfg))
		return false;
	server_rules(cfg, &rules);
	if (userdb_check(cfg->userdb_path, &rules, err, sizeof(err)) == 0)
		return true;
	if (errno != ENOENT && !logged) {
		logged = true;
		if (errno == EPERM)
			log_refused(cfg, &rules, err);
		else
			log_error("user database unusable: %s", err);
	}
	return false;
}

const struct auth_backend auth_backend_userdb = {
	.name = "userdb",
	.system_accounts = false,   /* a name it proves with a password is virtual */
	.enabled = NULL,            /* always asked: see the header */
	.verify_plain = userdb_verify_plain,
	.lookup_secret = userdb_lookup_secret,
	.verify_apop = userdb_verify_apop,
	.apop_available = userdb_apop_available,
	.secrets_usable = userdb_secrets_usable,
};
