/*
 * saslpeer: the client side of the SASL exchanges in the tests of auth/sasl.c
 * and auth/sasl_auxprop.c (see tests/unit/auth/saslpeer.h).
 */
#include "config.h"

#include "tests/unit/auth/saslpeer.h"

#ifdef HAVE_SASL

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sasl/sasl.h>

#include "auth/userdb/userdb.h"
#include "auth/userdb/userdb_write.h"
#include "tests/unit/auth/testdir.h"

char peer_db_path[700];
char peer_owner[64];
bool peer_have_owner;

/* ---- the client side: libsasl2's client API ------------------------------ */

struct client_creds {
	const char *authname, *authz, *password;
	sasl_secret_t *secret;
};

static int cb_simple(void *context, int id, const char **result, unsigned *len)
{
	struct client_creds *cr = context;

	if (id == SASL_CB_AUTHNAME)
		*result = cr->authname;
	else if (id == SASL_CB_USER)
		*result = cr->authz != NULL ? cr->authz : "";
	else
		return SASL_BADPARAM;
	if (len != NULL)
		*len = (unsigned)strlen(*result);
	return SASL_OK;
}

static int cb_pass(sasl_conn_t *conn, void *context, int id, sasl_secret_t **psecret)
{
	struct client_creds *cr = context;
	size_t len = strlen(cr->password);

	(void)conn;
	(void)id;
	free(cr->secret);
	cr->secret = malloc(sizeof(sasl_secret_t) + len);
	if (cr->secret == NULL)
		return SASL_NOMEM;
	cr->secret->len = len;
	memcpy(cr->secret->data, cr->password, len + 1);
	*psecret = cr->secret;
	return SASL_OK;
}

#define SASL_CB(fn) ((int (*)(void))(void (*)(void))(fn))

/* libsasl2's client for mech, started (no security layer): its first
 * message in *out_r.  Returns 0, or -1 with res->reason set. */
static int client_start(sasl_callback_t *cbs, const char *mech, sasl_conn_t **cc_r,
			const char **out_r, unsigned *outlen_r, struct peer_result *res)
{
	sasl_security_properties_t sp;
	const char *chosen = NULL;
	int r;

	if (sasl_client_new("pop", "localhost", NULL, NULL, cbs, 0, cc_r) != SASL_OK) {
		snprintf(res->reason, sizeof(res->reason), "sasl_client_new failed");
		return -1;
	}
	memset(&sp, 0, sizeof(sp));
	sp.max_ssf = 0;
	sasl_setprop(*cc_r, SASL_SEC_PROPS, &sp);
	r = sasl_client_start(*cc_r, mech, NULL, out_r, outlen_r, &chosen);
	if (r != SASL_OK && r != SASL_CONTINUE) {
		snprintf(res->reason, sizeof(res->reason), "client start: %s",
			 sasl_errdetail(*cc_r));
		return -1;
	}
	return 0;
}

/* One whole exchange.  with_initial: the client's first message goes with
 * AUTH (RFC 5034's initial response); otherwise after an empty challenge. */
struct peer_result peer_exchange(const struct sasl_params *p, const char *mech,
			      const char *authname, const char *authz, const char *password,
			      bool with_initial)
{
	struct client_creds cr = { authname, authz, password, NULL };
	sasl_callback_t cbs[] = {
		{ SASL_CB_AUTHNAME, SASL_CB(cb_simple), &cr },
		{ SASL_CB_USER, SASL_CB(cb_simple), &cr },
		{ SASL_CB_PASS, SASL_CB(cb_pass), &cr },
		{ SASL_CB_LIST_END, NULL, NULL },
	};
	struct peer_result res;
	struct sasl_session *ss;
	sasl_conn_t *cc = NULL;
	const char *out = NULL;
	unsigned outlen = 0;
	const unsigned char *chal = NULL;
	size_t chal_len = 0;
	char reason[200];
	bool pending;
	int r;

	memset(&res, 0, sizeof(res));
	res.st = SASL_S_TEMPFAIL;
	ss = sasl_session_create(p, reason, sizeof(reason));
	if (ss == NULL) {
		snprintf(res.reason, sizeof(res.reason), "create: %s", reason);
		return res;
	}
	if (client_start(cbs, mech, &cc, &out, &outlen, &res) < 0)
		goto out;
	pending = out != NULL && !with_initial;
	res.st = sasl_session_start(ss, mech,
				    with_initial && out != NULL ? (const unsigned char *)out : NULL,
				    with_initial && out != NULL ? outlen : 0, &chal, &chal_len);
	while (res.st == SASL_S_CONTINUE && res.rounds < 20) {
		res.rounds++;
		if (pending) {
			/* The client's first message, after the empty "+ ". */
			pending = false;
		} else {
			r = sasl_client_step(cc, (const char *)chal, (unsigned)chal_len, NULL,
					     &out, &outlen);
			if (r != SASL_OK && r != SASL_CONTINUE) {
				/* The client refuses the server (e.g. a SCRAM
				 * server signature): the protocol's "*". */
				snprintf(res.reason, sizeof(res.reason), "client step: %s",
					 sasl_errdetail(cc));
				res.st = SASL_S_FAIL;
				goto out;
			}
		}
		res.st = sasl_session_step(ss, (const unsigned char *)(out != NULL ? out : ""),
					   out != NULL ? outlen : 0, &chal, &chal_len);
	}
	if (res.st == SASL_S_OK) {
		const struct auth_user *u = sasl_session_user(ss);

		snprintf(res.user, sizeof(res.user), "%s", u->name);
		res.is_virtual = u->is_virtual;
	}
	snprintf(res.reason, sizeof(res.reason), "%s", sasl_session_reason(ss));
	snprintf(res.authid, sizeof(res.authid), "%s", sasl_session_authid(ss));
out:
	if (cc != NULL)
		sasl_dispose(&cc);
	sasl_session_destroy(ss);
	free(cr.secret);
	return res;
}

/* ---- the server side: the configuration and the user database -------- */

struct auth_config peer_cfg;

void peer_params(struct sasl_params *p)
{
	memset(&peer_cfg, 0, sizeof(peer_cfg));
	peer_cfg.userdb_path = peer_db_path;
	peer_cfg.mail_owner = peer_owner;
	peer_cfg.min_uid = 1000;
	peer_cfg.client_addr = "192.0.2.7";
	memset(p, 0, sizeof(*p));
	p->auth = &peer_cfg;
	p->service = "pop";
	p->server_fqdn = "localhost";
	p->cleartext_ok = true;
	p->mechanisms = "SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN";
}

int peer_make_db(void)
{
	char err[700];
	struct userdb *db;

	snprintf(peer_db_path, sizeof(peer_db_path), "%s", testdir_path("pop.auth"));
	db = userdb_write_open(peer_db_path, USERDB_CREATE, NULL, err, sizeof(err));
	if (db == NULL) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	userdb_set_secret(db, "alice", "secret", 6);
	userdb_set_secret(db, "bob", "bob-pw", 6);
	userdb_set_secret(db, "admin", "admin-pw", 8);
	userdb_close(db);
	return 0;
}

bool peer_offers(const char *mech)
{
	struct sasl_params p;
	char list[SASL_MECHLIST_MAX];

	peer_params(&p);
	p.mechanisms = mech;
	return sasl_mechanisms(&p, list, sizeof(list)) == 1 && strcmp(list, mech) == 0;
}

const char *peer_missing(const char *mech)
{
	if (!peer_offers(mech))
		return "the libsasl2 plugin for it is not installed (libsasl2-modules)";
	if (!peer_have_owner)
		return "no unprivileged account to be the mail-owner";
	return NULL;
}

void peer_find_owner(void)
{
	struct passwd *pw = getpwuid(getuid());

	/* Virtual users run as mail-owner, which must not be root. */
	if (pw != NULL && pw->pw_uid != 0) {
		snprintf(peer_owner, sizeof(peer_owner), "%s", pw->pw_name);
		peer_have_owner = true;
		return;
	}
	pw = getpwnam("nobody");
	if (pw != NULL && pw->pw_uid != 0) {
		snprintf(peer_owner, sizeof(peer_owner), "%s", pw->pw_name);
		peer_have_owner = true;
	}
}

#endif /* HAVE_SASL */
