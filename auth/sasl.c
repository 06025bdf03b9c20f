/*
 * sasl: the AUTH start/step object over Cyrus SASL (declared in auth/auth.h;
 * auth/sasl.h holds what it shares with auth/sasl_auxprop.c).
 *
 * Runs as root, in the session before it drops privileges.  One process
 * serves one connection, so the library is set up once per process, lazily
 * (sasl_server_init with our own options only: no configuration file, no
 * sasldb, no saslauthd), and each AUTH command gets a fresh sasl_conn_t.
 *
 * What the library decides and what we decide:
 *   - the mechanisms run in the library's plugins; which ones may run is
 *     ours: sasl-mechanisms (the library's mech_list), never ANONYMOUS,
 *     PLAIN/LOGIN only where the clear-text policy allows (the library's
 *     SASL_SEC_NOPLAINTEXT), GSSAPI only with a keytab that has keys,
 *     shared-secret mechanisms only with a user database;
 *   - user names go through the same processing as USER (canon_user
 *     callback: downcase-user, trim-domain, the one name rule);
 *   - secrets come from our auxprop plugin, plaintext passwords from our
 *     checkpass callback (auth/sasl_auxprop.c);
 *   - who may act for whom is our proxy-policy callback: the authorization
 *     identity must be the authentication identity (for GSSAPI: the local
 *     user krb5's rules give the principal), unless sasl-proxy-users lists
 *     the authentication identity;
 *   - after the library says yes, auth_finish_login() (or, for PLAIN and
 *     LOGIN, auth_verify_plain() itself) applies the account policy, so a
 *     SASL login is refused exactly where USER/PASS or APOP would be.
 * No security layer is ever negotiated (max_ssf 0): after AUTH the POP3
 * stream stays as it was (TLS or not).
 */
#include "config.h"

#define SASL_INTERNAL 1
#include "auth/sasl.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/kpop.h"
#include "lib/ctcompare.h"
#include "lib/log.h"
#include "lib/reason.h"
#include "lib/username.h"

/* ---- base64 (built with or without libsasl2) ----------------------------- */

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t sasl_b64_encoded_size(size_t len)
{
	if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
		return SIZE_MAX;
	return (len + 2) / 3 * 4 + 1;
}

long sasl_b64_encode(const unsigned char *in, size_t len, char *out, size_t outsize)
{
	size_t i, o = 0;

	if (sasl_b64_encoded_size(len) > outsize || outsize > (size_t)LONG_MAX)
		return -1;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = b64_alphabet[v >> 18 & 0x3f];
		out[o++] = b64_alphabet[v >> 12 & 0x3f];
		out[o++] = b64_alphabet[v >> 6 & 0x3f];
		out[o++] = b64_alphabet[v & 0x3f];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		out[o++] = b64_alphabet[v >> 18 & 0x3f];
		out[o++] = b64_alphabet[v >> 12 & 0x3f];
		out[o++] = i + 1 < len ? b64_alphabet[v >> 6 & 0x3f] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return (long)o;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long sasl_b64_decode(const char *in, size_t inlen, unsigned char *out, size_t outsize)
{
	size_t i, o = 0;

	/* RFC 5034 section 4 takes base64 as RFC 4648 defines it: groups of
	 * four, '=' padding only at the very end, nothing else. */
	if (inlen % 4 != 0 || outsize > (size_t)LONG_MAX)
		return -1;
	for (i = 0; i < inlen; i += 4) {
		int v[4];
		unsigned pad = 0, k;
		uint32_t bits;

		for (k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + k];

			if (c == '=') {
				/* Only in the last group, only in its last two
				 * places, and nothing but '=' after it. */
				if (i + 4 != inlen || k < 2)
					return -1;
				pad++;
				v[k] = 0;
				continue;
			}
			if (pad > 0)
				return -1;
			v[k] = b64_value(c);
			if (v[k] < 0)
				return -1;
		}
		bits = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
		       (uint32_t)v[3];
		/* Canonical form only: the bits padding leaves over are zero. */
		if ((pad == 1 && (v[2] & 0x3) != 0) || (pad == 2 && (v[1] & 0xf) != 0))
			return -1;
		if (o + 3 - pad > outsize)
			return -1;
		out[o++] = (unsigned char)(bits >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(bits >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)bits;
	}
	return (long)o;
}

#ifdef HAVE_SASL

#include <sasl/sasl.h>
#include <sasl/saslplug.h>

/* A function pointer for sasl_callback_t.  The detour through void (*)(void)
 * is the documented way to convert between function types without
 * -Wcast-function-type complaining; the library casts it back by id. */
#define SASL_CB(fn) ((int (*)(void))(void (*)(void))(fn))

/* The names of the mechanisms that check a password sent in the clear,
 * and of the one that needs Kerberos rather than the user database. */
#define MECH_GSSAPI "GSSAPI"

struct sasl_session {
	sasl_conn_t *conn;
	const struct sasl_params *p;
	sasl_callback_t callbacks[5];
	char mechlist[SASL_MECHLIST_MAX];    /* the mech_list option */
	char mech[SASL_MECH_NAME_MAX + 1];   /* the one started */
	bool gssapi;
	char authid[KPOP_PRINCIPAL_MAX + 1]; /* as the client sent it */
	char login[USERNAME_MAX + 1];        /* decided by proxy_cb */
	bool login_decided;
	struct auth_user user;
	struct sasl_findings f;
	char reason[256];
};

static bool lib_ready, lib_failed;
static struct sasl_session *active;

bool sasl_built(void)
{
	return true;
}

struct sasl_session *sasl_active_session(void)
{
	return active;
}

const struct sasl_params *sasl_session_params(const struct sasl_session *ss)
{
	return ss->p;
}

struct sasl_findings *sasl_session_findings(struct sasl_session *ss)
{
	return &ss->f;
}

sasl_conn_t *sasl_session_conn(const struct sasl_session *ss)
{
	return ss->conn;
}

/* ---- the library's global callbacks -------------------------------------- */

static int log_cb(void *context, int level, const char *message)
{
	char q[512];

	(void)context;
	if (message == NULL)
		return SASL_OK;
	/* Plugin messages may carry client text (names): quoted.  Levels
	 * above DEBUG (TRACE, PASS) are never asked for (log_level). */
	log_quote(message, strlen(message), q, sizeof(q));
	if (level <= SASL_LOG_ERR)
		log_warning("sasl: %s", q);
	else
		log_debug("sasl: %s", q);
	return SASL_OK;
}

/* Every option the library or a plugin asks for; anything else has its
 * built-in default.  context: the session, or NULL (global). */
static int getopt_cb(void *context, const char *plugin_name, const char *option,
		     const char **result, unsigned *len)
{
	struct sasl_session *ss = context;

	(void)plugin_name;
	if (option == NULL || result == NULL)
		return SASL_BADPARAM;
	if (strcmp(option, "auxprop_plugin") == 0)
		*result = sasl_auxprop_name;
	else if (strcmp(option, "pwcheck_method") == 0)
		*result = "auxprop";    /* after our checkpass callback: see sasl_auxprop.c */
	else if (strcmp(option, "auto_transition") == 0)
		*result = "no";         /* never write secrets */
	else if (strcmp(option, "log_level") == 0)
		*result = log_debug_enabled() ? "5" : "3";  /* DEBUG or WARN, never PASS */
	else if (strcmp(option, "mech_list") == 0 && ss != NULL)
		*result = ss->mechlist;
	else
		return SASL_FAIL;
	if (len != NULL)
		*len = (unsigned)strlen(*result);
	return SASL_OK;
}

static int library_init(char *reason, size_t reasonsize)
{
	static const sasl_callback_t global_callbacks[] = {
		{ SASL_CB_LOG, SASL_CB(log_cb), NULL },
		{ SASL_CB_GETOPT, SASL_CB(getopt_cb), NULL },
		{ SASL_CB_LIST_END, NULL, NULL },
	};
	int r;

	if (lib_ready)
		return 0;
	if (lib_failed) {
		reason_copy(reason, reasonsize, "SASL library unusable");
		return -1;
	}
	/* No application name: the library then reads no configuration file
	 * of its own; every option comes from getopt_cb. */
	r = sasl_server_init(global_callbacks, NULL);
	if (r == SASL_OK)
		r = sasl_auxprop_register();
	if (r != SASL_OK) {
		lib_failed = true;
		log_error("SASL library cannot be initialised: %s", sasl_errstring(r, NULL, NULL));
		reason_copy(reason, reasonsize, "SASL library unusable");
		return -1;
	}
	lib_ready = true;
	return 0;
}

/* ---- mechanism lists ------------------------------------------------------ */

/* A mechanism name as RFC 4422 section 3.1 has it: 1..20 of A-Z 0-9 - _
 * (we take lower case too and upper-case it). */
static bool mech_name_copy(const char *in, size_t len, char *out, size_t outsize)
{
	size_t i;

	if (len == 0 || len > SASL_MECH_NAME_MAX || len >= outsize)
		return false;
	for (i = 0; i < len; i++) {
		char c = in[i];

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
		out[i] = c;
	}
	out[len] = '\0';
	return true;
}

/* True when name is one of the words of list (blanks or commas between). */
static bool word_listed(const char *list, const char *name, bool nocase)
{
	size_t nlen = strlen(name);
	const char *p = list;

	if (list == NULL)
		return false;
	while (*p != '\0') {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n == nlen && (nocase ? strncasecmp(p, name, n) : strncmp(p, name, n)) == 0)
			return true;
		p += n;
	}
	return false;
}

/* Mechanisms whose proof needs the stored secret of our user database. */
static bool needs_secret(const char *mech)
{
	return strcmp(mech, "PLAIN") != 0 && strcmp(mech, "LOGIN") != 0 &&
	       strcmp(mech, MECH_GSSAPI) != 0 && strcmp(mech, "EXTERNAL") != 0;
}

/* The mechanisms this connection may use, before the library's own filter
 * (installed plugins, clear-text policy), as the mech_list option. */
static void effective_list(const struct sasl_params *p, char *out, size_t outsize)
{
	const char *q = p->mechanisms != NULL ? p->mechanisms : SASL_DEFAULT_MECHANISMS;
	/* The rule APOP's offer follows: no stored secrets without a
	 * database that is there and safe. */
	bool have_db = p->auth != NULL && auth_secrets_available(p->auth);
	int gss = -1;   /* not yet known */
	size_t o = 0;

	if (outsize == 0)
		return;
	out[0] = '\0';
	while (*q != '\0') {
		char name[SASL_MECH_NAME_MAX + 1];
		size_t n;

		q += strspn(q, " \t,");
		n = strcspn(q, " \t,");
		if (n == 0)
			break;
		if (!mech_name_copy(q, n, name, sizeof(name))) {
			q += n;
			continue;   /* options.c refuses these; be safe anyway */
		}
		q += n;
		/* ANONYMOUS would log in without any credential. */
		if (strcmp(name, "ANONYMOUS") == 0 || word_listed(out, name, false))
			continue;
		if (strcmp(name, MECH_GSSAPI) == 0) {
			if (gss < 0)
				gss = kpop_built() && kpop_keytab_usable(p->keytab);
			if (!gss)
				continue;
		} else if (needs_secret(name) && !have_db) {
			continue;
		}
		if (o + (o > 0) + strlen(name) + 1 > outsize)
			break;
		if (o > 0)
			out[o++] = ' ';
		memcpy(out + o, name, strlen(name) + 1);
		o += strlen(name);
	}
}

/* ---- per-connection callbacks ------------------------------------------- */

/* User names as USER has them: downcase-user, trim-domain, the one rule.
 * Principals (GSSAPI) pass unchanged: kpop.c maps them. */
static int canon_cb(sasl_conn_t *conn, void *context, const char *in, unsigned inlen,
		    unsigned flags, const char *user_realm, char *out, unsigned out_max,
		    unsigned *out_len)
{
	struct sasl_session *ss = context;
	char tmp[KPOP_PRINCIPAL_MAX + 1];
	size_t len = inlen, i;

	(void)conn;
	(void)user_realm;
	if (in == NULL || memchr(in, '\0', len) != NULL || len >= sizeof(tmp)) {
		reason_copy(ss->f.reason, sizeof(ss->f.reason), "invalid user name");
		return SASL_BADAUTH;
	}
	memcpy(tmp, in, len);
	tmp[len] = '\0';
	if ((flags & SASL_CU_AUTHID) && ss->authid[0] == '\0')
		memcpy(ss->authid, tmp, len + 1);
	if (!ss->gssapi) {
		if (ss->p->downcase_user)
			for (i = 0; i < len; i++)
				if (tmp[i] >= 'A' && tmp[i] <= 'Z')
					tmp[i] = (char)(tmp[i] - 'A' + 'a');
		if (ss->p->trim_domain) {
			char *at = strchr(tmp, '@');

			if (at != NULL)
				*at = '\0';
		}
		if (!username_valid(tmp)) {
			reason_copy(ss->f.reason, sizeof(ss->f.reason), "invalid user name");
			return SASL_BADAUTH;
		}
		len = strlen(tmp);
	}
	if (len >= out_max)
		return SASL_BUFOVER;
	memcpy(out, tmp, len + 1);
	*out_len = (unsigned)len;
	return SASL_OK;
}

/* Copies a counted name into buf; false if it does not fit or holds a NUL. */
static bool copy_name(const char *s, unsigned len, char *buf, size_t size)
{
	if (s == NULL || len >= size || memchr(s, '\0', len) != NULL)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return true;
}

/* Who the session becomes.  The authorization identity must be the
 * authentication identity (for GSSAPI: a user krb5 lets the principal log
 * in as), or the authentication identity must be a proxy user. */
static int proxy_cb(sasl_conn_t *conn, void *context, const char *requested_user,
		    unsigned rlen, const char *auth_identity, unsigned alen,
		    const char *def_realm, unsigned urlen, struct propctx *propctx)
{
	struct sasl_session *ss = context;
	char authid[KPOP_PRINCIPAL_MAX + 1], req[KPOP_PRINCIPAL_MAX + 1];
	char reason[256] = "";
	bool same;

	(void)conn;
	(void)def_realm;
	(void)urlen;
	(void)propctx;
	ss->login_decided = false;
	if (!copy_name(auth_identity, alen, authid, sizeof(authid)) ||
	    !copy_name(requested_user != NULL ? requested_user : "", requested_user != NULL ? rlen : 0,
		       req, sizeof(req))) {
		reason_copy(ss->f.reason, sizeof(ss->f.reason), "identity too long");
		return SASL_NOAUTHZ;
	}
	same = req[0] == '\0' || strcmp(req, authid) == 0;

	if (ss->gssapi) {
		char local[USERNAME_MAX + 1];

		if (kpop_principal_user(authid, same ? NULL : req, ss->login, sizeof(ss->login),
					reason, sizeof(reason)) == 0) {
			ss->login_decided = true;
			return SASL_OK;
		}
		/* A proxy user's own principal may act for another user. */
		if (!same && username_valid(req) &&
		    kpop_principal_user(authid, NULL, local, sizeof(local), ss->f.reason,
					sizeof(ss->f.reason)) == 0 &&
		    word_listed(ss->p->proxy_users, local, false)) {
			memcpy(ss->login, req, strlen(req) + 1);
			ss->login_decided = true;
			log_notice("SASL proxy login: %s acts for %s (sasl-proxy-users)", local, req);
			return SASL_OK;
		}
		reason_copy(ss->f.reason, sizeof(ss->f.reason), reason);
		return SASL_NOAUTHZ;
	}
	if (same) {
		if (!username_valid(authid)) {
			reason_copy(ss->f.reason, sizeof(ss->f.reason), "invalid user name");
			return SASL_NOAUTHZ;
		}
		memcpy(ss->login, authid, strlen(authid) + 1);
		ss->login_decided = true;
		return SASL_OK;
	}
	if (username_valid(req) && word_listed(ss->p->proxy_users, authid, false)) {
		memcpy(ss->login, req, strlen(req) + 1);
		ss->login_decided = true;
		log_notice("SASL proxy login: %s acts for %s (sasl-proxy-users)", authid, req);
		return SASL_OK;
	}
	reason_copy(ss->f.reason, sizeof(ss->f.reason),
		   "authorization identity is not the authentication identity");
	return SASL_NOAUTHZ;
}

/* ---- sessions ------------------------------------------------------------ */

static int conn_new(struct sasl_session *ss, char *reason, size_t reasonsize)
{
	sasl_security_properties_t sp;
	int r;

	ss->callbacks[0] = (sasl_callback_t){ SASL_CB_GETOPT, SASL_CB(getopt_cb), ss };
	ss->callbacks[1] = (sasl_callback_t){ SASL_CB_CANON_USER, SASL_CB(canon_cb), ss };
	ss->callbacks[2] = (sasl_callback_t){ SASL_CB_PROXY_POLICY, SASL_CB(proxy_cb), ss };
	ss->callbacks[3] = (sasl_callback_t){ SASL_CB_SERVER_USERDB_CHECKPASS,
					      SASL_CB(sasl_checkpass_cb), ss };
	ss->callbacks[4] = (sasl_callback_t){ SASL_CB_LIST_END, NULL, NULL };
	/* No user realm: names stay as the client gave them (no "@realm"
	 * appended), as USER sees them. */
	r = sasl_server_new(ss->p->service != NULL && ss->p->service[0] != '\0' ? ss->p->service : "pop",
			    ss->p->server_fqdn, NULL, ss->p->local_addrport,
			    ss->p->remote_addrport, ss->callbacks, 0, &ss->conn);
	if (r != SASL_OK) {
		ss->conn = NULL;
		log_error("sasl_server_new failed: %s", sasl_errstring(r, NULL, NULL));
		reason_copy(reason, reasonsize, "SASL connection cannot be set up");
		return -1;
	}
	memset(&sp, 0, sizeof(sp));
	/* No security layer (POP3 would then have to wrap its stream). */
	sp.min_ssf = 0;
	sp.max_ssf = 0;
	sp.maxbufsize = 0;
	sp.security_flags = SASL_SEC_NOANONYMOUS |
			    (ss->p->cleartext_ok ? 0 : SASL_SEC_NOPLAINTEXT);
	r = sasl_setprop(ss->conn, SASL_SEC_PROPS, &sp);
	if (r != SASL_OK) {
		log_error("sasl_setprop failed: %s", sasl_errstring(r, NULL, NULL));
		reason_copy(reason, reasonsize, "SASL connection cannot be set up");
		return -1;
	}
	return 0;
}

struct sasl_session *sasl_session_create(const struct sasl_params *p,
					 char *reason, size_t reasonsize)
{
	struct sasl_session *ss;

	reason_copy(reason, reasonsize, "");
	if (library_init(reason, reasonsize) != 0)
		return NULL;
	ss = calloc(1, sizeof(*ss));
	if (ss == NULL) {
		reason_copy(reason, reasonsize, "out of memory");
		return NULL;
	}
	ss->p = p;
	ss->f.db_result = AUTH_OK;
	ss->f.plaintext_result = AUTH_FAIL;
	effective_list(p, ss->mechlist, sizeof(ss->mechlist));
	if (conn_new(ss, reason, reasonsize) != 0) {
		sasl_session_destroy(ss);
		return NULL;
	}
	return ss;
}

void sasl_session_destroy(struct sasl_session *ss)
{
	if (ss == NULL)
		return;
	if (active == ss)
		active = NULL;
	if (ss->conn != NULL)
		sasl_dispose(&ss->conn);
	ct_wipe(ss, sizeof(*ss));
	free(ss);
}

int sasl_mechanisms(const struct sasl_params *p, char *out, size_t outsize)
{
	struct sasl_session *ss;
	const char *list = NULL;
	char reason[128];
	unsigned len = 0;
	int count = 0, r;

	if (outsize == 0)
		return -1;
	out[0] = '\0';
	ss = sasl_session_create(p, reason, sizeof(reason));
	if (ss == NULL)
		return -1;
	if (ss->mechlist[0] == '\0') {
		/* The library treats an empty mech_list as an error. */
		sasl_session_destroy(ss);
		return 0;
	}
	r = sasl_listmech(ss->conn, NULL, "", " ", "", &list, &len, &count);
	if (r == SASL_OK && list != NULL && len < outsize) {
		memcpy(out, list, len);
		out[len] = '\0';
	} else {
		count = r == SASL_NOMECH ? 0 : -1;
		if (count < 0)
			log_error("sasl_listmech failed: %s", sasl_errstring(r, NULL, NULL));
	}
	sasl_session_destroy(ss);
	return count;
}

/* The verdict after the library said yes: who, under which policy. */
static enum sasl_status decide_login(struct sasl_session *ss)
{
	enum auth_result r;

	if (!ss->login_decided || ss->f.dummy_served) {
		/* Cannot happen (a random secret cannot be proven): fail
		 * closed anyway. */
		reason_copy(ss->reason, sizeof(ss->reason), "no authorization decision");
		return SASL_S_FAIL;
	}
	if (ss->f.plaintext_checked) {
		if (ss->f.plaintext_result != AUTH_OK) {
			reason_copy(ss->reason, sizeof(ss->reason), "password not verified");
			return SASL_S_FAIL;
		}
		if (strcmp(ss->f.plaintext_name, ss->login) == 0) {
			/* auth_verify_plain already applied the policy. */
			ss->user = ss->f.plaintext_user;
			return SASL_S_OK;
		}
	}
	r = auth_finish_login(ss->p->auth, ss->login, &ss->user, ss->reason, sizeof(ss->reason));
	switch (r) {
	case AUTH_OK:
		return SASL_S_OK;
	case AUTH_TEMPFAIL:
		return SASL_S_TEMPFAIL;
	case AUTH_PERMFAIL:
		return SASL_S_PERMFAIL;
	case AUTH_FAIL:
		break;
	}
	return SASL_S_FAIL;
}

/* Maps what sasl_server_start/step returned. */
static enum sasl_status finish_call(struct sasl_session *ss, int r, const char *out,
				    unsigned outlen, const unsigned char **challenge_r,
				    size_t *challenge_len_r)
{
	const char *detail;

	*challenge_r = NULL;
	*challenge_len_r = 0;
	if (r == SASL_CONTINUE) {
		*challenge_r = (const unsigned char *)(out != NULL ? out : "");
		*challenge_len_r = out != NULL ? outlen : 0;
		return SASL_S_CONTINUE;
	}
	if (r == SASL_OK)
		return decide_login(ss);

	/* Our own findings say most precisely what went wrong. */
	if (ss->f.reason[0] != '\0') {
		reason_copy(ss->reason, sizeof(ss->reason), ss->f.reason);
	} else {
		detail = sasl_errdetail(ss->conn);
		reason_copy(ss->reason, sizeof(ss->reason),
			   detail != NULL ? detail : sasl_errstring(r, NULL, NULL));
	}
	if (ss->f.db_result == AUTH_TEMPFAIL || ss->f.db_result == AUTH_PERMFAIL)
		return ss->f.db_result == AUTH_TEMPFAIL ? SASL_S_TEMPFAIL : SASL_S_PERMFAIL;
	if (ss->f.plaintext_checked && ss->f.plaintext_result == AUTH_TEMPFAIL)
		return SASL_S_TEMPFAIL;
	if (ss->f.plaintext_checked && ss->f.plaintext_result == AUTH_PERMFAIL)
		return SASL_S_PERMFAIL;
	switch (r) {
	case SASL_NOMECH:
	case SASL_ENCRYPT:
	case SASL_TOOWEAK:
		return SASL_S_NOMECH;
	case SASL_NOMEM:
	case SASL_UNAVAIL:
	case SASL_TRYAGAIN:
		return SASL_S_TEMPFAIL;
	default:
		return SASL_S_FAIL;
	}
}

enum sasl_status sasl_session_start(struct sasl_session *ss, const char *mech,
				    const unsigned char *initial, size_t len,
				    const unsigned char **challenge_r,
				    size_t *challenge_len_r)
{
	const char *out = NULL;
	unsigned outlen = 0;
	int r;

	*challenge_r = NULL;
	*challenge_len_r = 0;
	if (mech == NULL || !mech_name_copy(mech, strlen(mech), ss->mech, sizeof(ss->mech)) ||
	    !word_listed(ss->mechlist, ss->mech, false)) {
		ss->mech[0] = '\0';
		reason_copy(ss->reason, sizeof(ss->reason), "mechanism not offered");
		return SASL_S_NOMECH;
	}
	if (len > UINT32_MAX / 2) {
		reason_copy(ss->reason, sizeof(ss->reason), "initial response too long");
		return SASL_S_FAIL;
	}
	ss->gssapi = strcmp(ss->mech, MECH_GSSAPI) == 0;
	if (ss->gssapi && kpop_use_keytab(ss->p->keytab, ss->reason, sizeof(ss->reason)) != 0) {
		log_error("GSSAPI: %s", ss->reason);
		return SASL_S_TEMPFAIL;
	}
	active = ss;
	/* An empty initial response ("=") is not the same as none. */
	r = sasl_server_start(ss->conn, ss->mech,
			      initial != NULL ? (len > 0 ? (const char *)initial : "") : NULL,
			      (unsigned)len, &out, &outlen);
	active = NULL;
	return finish_call(ss, r, out, outlen, challenge_r, challenge_len_r);
}

enum sasl_status sasl_session_step(struct sasl_session *ss,
				   const unsigned char *response, size_t len,
				   const unsigned char **challenge_r,
				   size_t *challenge_len_r)
{
	const char *out = NULL;
	unsigned outlen = 0;
	int r;

	*challenge_r = NULL;
	*challenge_len_r = 0;
	if (ss->mech[0] == '\0') {
		reason_copy(ss->reason, sizeof(ss->reason), "no exchange started");
		return SASL_S_FAIL;
	}
	if (len > UINT32_MAX / 2) {
		reason_copy(ss->reason, sizeof(ss->reason), "response too long");
		return SASL_S_FAIL;
	}
	active = ss;
	r = sasl_server_step(ss->conn, len > 0 ? (const char *)response : "", (unsigned)len,
			     &out, &outlen);
	active = NULL;
	return finish_call(ss, r, out, outlen, challenge_r, challenge_len_r);
}

const struct auth_user *sasl_session_user(const struct sasl_session *ss)
{
	return &ss->user;
}

const char *sasl_session_mech(const struct sasl_session *ss)
{
	return ss->mech;
}

const char *sasl_session_authid(const struct sasl_session *ss)
{
	return ss->authid;
}

const char *sasl_session_reason(const struct sasl_session *ss)
{
	return ss->reason;
}

#else /* !HAVE_SASL */

struct sasl_session {
	char reason[64];
	struct auth_user user;
};

bool sasl_built(void)
{
	return false;
}

int sasl_mechanisms(const struct sasl_params *p, char *out, size_t outsize)
{
	(void)p;
	if (outsize > 0)
		out[0] = '\0';
	return 0;
}

struct sasl_session *sasl_session_create(const struct sasl_params *p,
					 char *reason, size_t reasonsize)
{
	(void)p;
	if (reasonsize > 0)
		snprintf(reason, reasonsize, "popper was built without Cyrus SASL");
	return NULL;
}

enum sasl_status sasl_session_start(struct sasl_session *ss, const char *mech,
				    const unsigned char *initial, size_t len,
				    const unsigned char **challenge_r,
				    size_t *challenge_len_r)
{
	(void)ss;
	(void)mech;
	(void)initial;
	(void)len;
	*challenge_r = NULL;
	*challenge_len_r = 0;
	return SASL_S_NOMECH;
}

enum sasl_status sasl_session_step(struct sasl_session *ss,
				   const unsigned char *response, size_t len,
				   const unsigned char **challenge_r,
				   size_t *challenge_len_r)
{
	(void)ss;
	(void)response;
	(void)len;
	*challenge_r = NULL;
	*challenge_len_r = 0;
	return SASL_S_FAIL;
}

const struct auth_user *sasl_session_user(const struct sasl_session *ss)
{
	return &ss->user;
}

const char *sasl_session_mech(const struct sasl_session *ss)
{
	(void)ss;
	return "";
}

const char *sasl_session_authid(const struct sasl_session *ss)
{
	(void)ss;
	return "";
}

const char *sasl_session_reason(const struct sasl_session *ss)
{
	return ss->reason;
}

void sasl_session_destroy(struct sasl_session *ss)
{
	(void)ss;
}

#endif /* HAVE_SASL */
