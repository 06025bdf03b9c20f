/*
 * sasl_auxprop: where Cyrus SASL's mechanisms get their secrets and
 * passwords checked, inside popper (no sasldb, no saslauthd).
 *
 *   - An auxprop plugin, registered in-process with
 *     sasl_auxprop_add_plugin(), serves the "userPassword" property of an
 *     authentication identity from popper's user database (auth/userdb/userdb.h,
 *     through auth_userdb.c and its file-safety rules): the APOP secret,
 *     so one "apopdb add" makes a user work for APOP, CRAM-MD5 and SCRAM
 *     alike.  System entries (popauth) serve their APOP secret too; the
 *     account policy comes later (auth_finish_login).  For a name without
 *     a secret it serves a fresh random one, so an unknown user runs the
 *     same exchange and fails at the same step as a wrong password (SCRAM
 *     would otherwise answer "unknown user" before the proof).
 *   - The SASL_CB_SERVER_USERDB_CHECKPASS callback checks PLAIN and LOGIN
 *     passwords with auth_verify_plain(): the user database, then PAM, in
 *     constant time, with the clear-text rule of policy "default" (a user
 *     with a stored secret may not send it in the clear).  When it says no,
 *     the library falls back to its own "auxprop" check; the plugin then
 *     serves nothing, so that check can only fail too.
 *
 * The one loop between modules that auth/ allows: auth/sasl.c calls down
 * into libsasl2, and the library calls back up into this file (the plugin's
 * lookup and the checkpass callback, registered by sasl.c through
 * sasl_auxprop_register() and the SASL_CB_SERVER_USERDB_CHECKPASS entry of
 * its callback table), which asks the user database (auth_userdb.c) and
 * auth_verify_plain() (auth.c).  It cannot be a downward call: Cyrus SASL
 * runs the mechanism and decides when it needs a secret, so the secret can
 * only be handed over from a callback.  The callbacks keep to the current
 * session (sasl_active_session()) and record what they found in its
 * findings for sasl.c to read after the library returns.
 *
 * Runs as root, in the session before it drops privileges.
 */
#include "config.h"

#define SASL_INTERNAL 1
#include "auth/sasl.h"

#ifdef HAVE_SASL

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#include "auth/backend.h"
#include "lib/ctcompare.h"
#include "lib/log.h"
#include "lib/reason.h"
#include "auth/userdb/userdb.h"
#include "lib/username.h"

/* The property the mechanisms ask for: the plaintext secret. */
#define PROP_PASSWORD "userPassword"
/* Bytes of randomness in a dummy secret (hex-encoded: twice as many). */
#define DUMMY_BYTES 24
/* Longest password we pass on (as auth.c: a POP3 line could not hold more;
 * a PLAIN response is base64 of at most one line). */
#define CHECKPASS_MAX 512

const char sasl_auxprop_name[] = "popper";

/* A random secret nobody can know, as hex. */
static int make_dummy(char *out, size_t outsize)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[DUMMY_BYTES];
	size_t got = 0, i;

	if (outsize < 2 * DUMMY_BYTES + 1)
		return -1;
	while (got < sizeof(rnd)) {
		ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		got += (size_t)n;
	}
	for (i = 0; i < sizeof(rnd); i++) {
		out[2 * i] = hex[rnd[i] >> 4];
		out[2 * i + 1] = hex[rnd[i] & 0xf];
	}
	out[2 * DUMMY_BYTES] = '\0';
	ct_wipe(rnd, sizeof(rnd));
	return 0;
}

/* Sets value as the property the request called name (ours: "*userPassword"). */
static void serve(sasl_server_params_t *sparams, const char *name, const char *value, size_t len)
{
	sparams->utils->prop_set(sparams->propctx, name, value, (int)len);
}

/* The name of our property ("*userPassword") when the request asks for it
 * and it may be (re)set now (erasing a value set before when the library
 * asks us to override it), or NULL. */
static const char *requested_prop(sasl_server_params_t *sparams, unsigned flags)
{
	const struct propval *to_fetch, *cur;
	const char *want = NULL;

	to_fetch = sparams->utils->prop_get(sparams->propctx);
	if (to_fetch == NULL)
		return NULL;
	for (cur = to_fetch; cur->name != NULL; cur++) {
		if (cur->name[0] != '*' || strcmp(cur->name + 1, PROP_PASSWORD) != 0)
			continue;
		if (cur->values != NULL && !(flags & SASL_AUXPROP_OVERRIDE))
			continue;
		if (cur->values != NULL)
			sparams->utils->prop_erase(sparams->propctx, cur->name);
		want = cur->name;
	}
	return want;
}

/* The plugin's lookup: called by libsasl2 (see the header: the one upward
 * call) when a mechanism needs the secret of user. */
static int auxprop_lookup(void *glob_context, sasl_server_params_t *sparams,
			  unsigned flags, const char *user, unsigned ulen)
{
	struct sasl_session *ss = sasl_active_session();
	const char *want;
	struct sasl_findings *f;
	struct userdb_entry e;
	char name[USERNAME_MAX + 1], reason[256] = "", dummy[2 * DUMMY_BYTES + 1];
	enum backend_result r;

	(void)glob_context;
	if (sparams == NULL || user == NULL)
		return SASL_BADPARAM;
	/* Only the connection we are serving. */
	if (ss == NULL || sparams->utils->conn != sasl_session_conn(ss))
		return SASL_NOUSER;
	/* We hold nothing about authorization identities (no unprefixed
	 * properties); whether one may be used is proxy_cb's decision, so
	 * the lookup itself must not fail (the library would refuse the name
	 * before asking). */
	if (flags & SASL_AUXPROP_AUTHZID)
		return SASL_OK;
	f = sasl_session_findings(ss);
	want = requested_prop(sparams, flags);
	if (want == NULL)
		return SASL_OK;   /* nothing of ours was asked for */
	/* The library's own plaintext check after our checkpass callback
	 * said no: serve nothing, so it cannot say yes. */
	if (f->plaintext_checked)
		return SASL_NOUSER;

	if (ulen == 0 || ulen > USERNAME_MAX || memchr(user, '\0', ulen) != NULL) {
		reason_copy(f->reason, sizeof(f->reason), "invalid user name");
		return SASL_NOUSER;
	}
	memcpy(name, user, ulen);
	name[ulen] = '\0';

	r = auth_userdb_lookup_entry(sasl_session_params(ss)->auth, name, &e,
				     reason, sizeof(reason));
	if (r == BACKEND_TEMPFAIL || r == BACKEND_PERMFAIL) {
		userdb_entry_wipe(&e);
		f->db_result = r == BACKEND_TEMPFAIL ? AUTH_TEMPFAIL : AUTH_PERMFAIL;
		reason_copy(f->reason, sizeof(f->reason), reason);
		return SASL_UNAVAIL;
	}
	if (r == BACKEND_OK && e.secret_len > 0) {
		serve(sparams, want, e.secret, e.secret_len);
		userdb_entry_wipe(&e);
		f->secret_served = true;
		reason_copy(f->reason, sizeof(f->reason), "wrong password or proof");
		return SASL_OK;
	}
	userdb_entry_wipe(&e);
	/* Unknown, or no secret (a system account without a popauth entry,
	 * a disabled virtual user): the same exchange with a secret nobody
	 * knows, so the answer comes at the same step as for a wrong one. */
	if (make_dummy(dummy, sizeof(dummy)) != 0) {
		f->db_result = AUTH_TEMPFAIL;
		reason_copy(f->reason, sizeof(f->reason), "no randomness for a dummy secret");
		return SASL_UNAVAIL;
	}
	serve(sparams, want, dummy, strlen(dummy));
	ct_wipe(dummy, sizeof(dummy));
	f->dummy_served = true;
	reason_copy(f->reason, sizeof(f->reason), r == BACKEND_OK ? "no stored secret for this user" : "unknown user");
	return SASL_OK;
}

static sasl_auxprop_plug_t auxprop_plugin = {
	.features = 0,
	.spare_int1 = 0,
	.glob_context = NULL,
	.auxprop_free = NULL,
	.auxprop_lookup = auxprop_lookup,
	.name = (char *)sasl_auxprop_name,
	.auxprop_store = NULL,   /* never writes: apopdb owns the database */
};

static int auxprop_init(const sasl_utils_t *utils, int max_version, int *out_version,
			sasl_auxprop_plug_t **plug, const char *plugname)
{
	(void)utils;
	(void)plugname;
	if (out_version == NULL || plug == NULL)
		return SASL_BADPARAM;
	if (max_version < SASL_AUXPROP_PLUG_VERSION)
		return SASL_BADVERS;
	*out_version = SASL_AUXPROP_PLUG_VERSION;
	*plug = &auxprop_plugin;
	return SASL_OK;
}

int sasl_auxprop_register(void)
{
	return sasl_auxprop_add_plugin(sasl_auxprop_name, auxprop_init);
}

int sasl_checkpass_cb(sasl_conn_t *conn, void *context, const char *user,
		      const char *pass, unsigned passlen, struct propctx *propctx)
{
	struct sasl_session *ss = context;
	const struct sasl_params *p = sasl_session_params(ss);
	struct sasl_findings *f = sasl_session_findings(ss);
	char password[CHECKPASS_MAX + 1];
	char reason[256] = "";
	enum auth_result r;

	(void)conn;
	(void)propctx;
	f->plaintext_checked = true;
	f->plaintext_result = AUTH_FAIL;
	if (user == NULL || !username_valid(user)) {
		reason_copy(f->reason, sizeof(f->reason), "invalid user name");
		return SASL_BADAUTH;
	}
	snprintf(f->plaintext_name, sizeof(f->plaintext_name), "%s", user);
	if (pass == NULL || passlen == 0 || passlen > CHECKPASS_MAX ||
	    memchr(pass, '\0', passlen) != NULL) {
		reason_copy(f->reason, sizeof(f->reason), passlen == 0 ? "empty password" : "unusable password");
		return SASL_BADAUTH;
	}
	/* Policy "default": whoever has a stored secret must prove it
	 * without sending it (USER refuses them the same way). */
	if (p->cleartext_refuses_secret_users) {
		bool has = false;

		r = auth_check_secret(p->auth, user, &has);
		if (r != AUTH_OK || has) {
			f->plaintext_result = r != AUTH_OK ? r : AUTH_FAIL;
			reason_copy(f->reason, sizeof(f->reason), r != AUTH_OK ? "user database error"
					: "clear-text password refused: the user has a stored secret");
			return r == AUTH_OK ? SASL_BADAUTH : SASL_UNAVAIL;
		}
	}
	memcpy(password, pass, passlen);
	password[passlen] = '\0';
	r = auth_verify_plain(p->auth, user, password, &f->plaintext_user, reason, sizeof(reason));
	ct_wipe(password, sizeof(password));
	f->plaintext_result = r;
	reason_copy(f->reason, sizeof(f->reason), reason[0] != '\0' ? reason : "password verified");
	if (r == AUTH_OK)
		return SASL_OK;
	return r == AUTH_FAIL ? SASL_BADAUTH : SASL_UNAVAIL;
}

#endif /* HAVE_SASL */
