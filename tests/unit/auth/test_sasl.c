/*
 * test_sasl: auth/sasl.c, the AUTH start/step object, driven by the real
 * Cyrus SASL library from both sides: libsasl2's client API produces every
 * response, our object (over libsasl2's server API and its installed
 * plugins) checks it against a GDBM user database made in a temporary
 * directory.  Every mechanism's success and failure path, unknown users,
 * the clear-text policy, authorization identities and proxy users, name
 * processing, and a database the server must refuse.  The base64 helpers
 * are tested in every build.
 */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"
#include "auth/sasl.h"
#include "lib/log.h"
#include "auth/userdb/userdb.h"
#include "auth/userdb/userdb_write.h"
#include "tests/unit/tap.h"

#ifdef HAVE_SASL
#include <sasl/sasl.h>
#endif

/* ---- base64 -------------------------------------------------------------- */

static void test_b64(void)
{
	/* RFC 4648 section 10. */
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const coded[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
					     "Zm9vYmFy" };
	static const char *const bad[] = {
		"Zg", "Zg=", "Z===", "====", "Zm9v====", "Zg==Zg==", "Zm 9", "Zm9v\n", "Zh==",
		"Zm9=", "Zm-v", "Zm_v", "*", "=Zm9",
	};
	unsigned char out[64];
	char enc[64];
	size_t i;
	long n;

	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		n = sasl_b64_encode((const unsigned char *)plain[i], strlen(plain[i]), enc, sizeof(enc));
		ok(n == (long)strlen(coded[i]) && strcmp(enc, coded[i]) == 0,
		   "base64 encode \"%s\" = \"%s\"", plain[i], enc);
		n = sasl_b64_decode(coded[i], strlen(coded[i]), out, sizeof(out));
		ok(n == (long)strlen(plain[i]) && memcmp(out, plain[i], (size_t)n) == 0,
		   "base64 decode \"%s\"", coded[i]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(sasl_b64_decode(bad[i], strlen(bad[i]), out, sizeof(out)) < 0,
		   "base64 refuses bad form %zu (\"%.*s\")", i, (int)strcspn(bad[i], "\n"), bad[i]);
	ok(sasl_b64_decode("Zm9vYmFy", 8, out, 5) < 0, "base64 decode refuses to overflow its buffer");
	ok(sasl_b64_decode("Zm9vYmFy", 8, out, 6) == 6, "base64 decode fills an exact buffer");
	ok(sasl_b64_encode((const unsigned char *)"foobar", 6, enc, 8) < 0,
	   "base64 encode refuses a short buffer (needs 9)");
	ok(sasl_b64_encoded_size(6) == 9 && sasl_b64_encoded_size(0) == 1 &&
	   sasl_b64_encoded_size(1) == 5, "base64 encoded sizes count the NUL");
	/* Binary, every byte value. */
	{
		unsigned char all[256], back[256];
		char big[400];

		for (i = 0; i < 256; i++)
			all[i] = (unsigned char)i;
		n = sasl_b64_encode(all, sizeof(all), big, sizeof(big));
		ok(n == 344 && sasl_b64_decode(big, (size_t)n, back, sizeof(back)) == 256 &&
		   memcmp(all, back, 256) == 0, "base64 round trip of all 256 byte values");
	}
}

#ifdef HAVE_SASL

static char dir[512];
static char db_path[700];
static char owner[64];           /* mail-owner for the virtual users */
static bool have_owner;

static const char *tpath(const char *name)
{
	static char p[700];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

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

struct result {
	enum sasl_status st;
	unsigned rounds;           /* challenges the server sent */
	char user[USERNAME_MAX + 1];
	bool is_virtual;
	char reason[256];
	char authid[300];
};

/* One whole exchange.  with_initial: the client's first message goes with
 * AUTH (RFC 5034's initial response); otherwise after an empty challenge. */
/* libsasl2's client for mech, started (no security layer): its first
 * message in *out_r.  Returns 0, or -1 with res->reason set. */
static int client_start(sasl_callback_t *cbs, const char *mech, sasl_conn_t **cc_r,
			const char **out_r, unsigned *outlen_r, struct result *res)
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

static struct result exchange(const struct sasl_params *p, const char *mech,
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
	struct result res;
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

/* ---- fixtures ------------------------------------------------------------ */

static struct auth_config cfg;

static void base_params(struct sasl_params *p)
{
	memset(&cfg, 0, sizeof(cfg));
	cfg.userdb_path = db_path;
	cfg.mail_owner = owner;
	cfg.min_uid = 1000;
	cfg.client_addr = "192.0.2.7";
	memset(p, 0, sizeof(*p));
	p->auth = &cfg;
	p->service = "pop";
	p->server_fqdn = "localhost";
	p->cleartext_ok = true;
	p->mechanisms = "SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN";
}

static int make_db(void)
{
	char err[700];
	struct userdb *db;

	snprintf(db_path, sizeof(db_path), "%s", tpath("pop.auth"));
	db = userdb_write_open(db_path, USERDB_CREATE, NULL, err, sizeof(err));
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

static bool plugin_offers(const char *mech)
{
	struct sasl_params p;
	char list[SASL_MECHLIST_MAX];

	base_params(&p);
	p.mechanisms = mech;
	return sasl_mechanisms(&p, list, sizeof(list)) == 1 && strcmp(list, mech) == 0;
}

/* ---- tests --------------------------------------------------------------- */

static void test_lists(void)
{
	struct sasl_params p;
	char list[SASL_MECHLIST_MAX];
	int n;

	base_params(&p);
	n = sasl_mechanisms(&p, list, sizeof(list));
	is_str(list, "SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN",
	       "the configured mechanisms, in the configured order (%d)", n);
	p.cleartext_ok = false;
	sasl_mechanisms(&p, list, sizeof(list));
	is_str(list, "SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5",
	       "no clear text allowed: PLAIN and LOGIN are not offered");
	base_params(&p);
	p.mechanisms = "anonymous plain , cram-md5 PLAIN X-NOT-INSTALLED";
	sasl_mechanisms(&p, list, sizeof(list));
	is_str(list, "PLAIN CRAM-MD5",
	       "ANONYMOUS never, case and commas accepted, duplicates and unknown names dropped");
	p.mechanisms = "";
	ok(sasl_mechanisms(&p, list, sizeof(list)) == 0 && list[0] == '\0',
	   "an empty sasl-mechanisms offers nothing");
	base_params(&p);
	cfg.userdb_path = NULL;
	sasl_mechanisms(&p, list, sizeof(list));
	is_str(list, "PLAIN LOGIN", "without a user database only PLAIN and LOGIN (no secrets)");
	base_params(&p);
	p.mechanisms = NULL;
	sasl_mechanisms(&p, list, sizeof(list));
	ok(strstr(list, "CRAM-MD5") != NULL && strstr(list, "ANONYMOUS") == NULL,
	   "the default list: %s", list);
}

static void expect_ok(const char *mech, bool initial)
{
	struct sasl_params p;
	struct result r;

	base_params(&p);
	r = exchange(&p, mech, "alice", NULL, "secret", initial);
	ok(r.st == SASL_S_OK && strcmp(r.user, "alice") == 0 && r.is_virtual,
	   "%s%s: the right secret logs alice in (st %d, %s)", mech,
	   initial ? " with an initial response" : "", r.st, r.reason);
}

static void test_mechanism(const char *mech)
{
	struct sasl_params p;
	struct result r, r2;

	if (!plugin_offers(mech)) {
		tap_skip("the libsasl2 plugin for it is not installed (libsasl2-modules)", mech);
		return;
	}
	if (!have_owner) {
		tap_skip("no unprivileged account to be the mail-owner", mech);
		return;
	}
	expect_ok(mech, true);
	expect_ok(mech, false);
	base_params(&p);
	r = exchange(&p, mech, "alice", NULL, "wrong", true);
	ok(r.st == SASL_S_FAIL, "%s: a wrong secret fails (%s)", mech, r.reason);
	ok(strcmp(r.authid, "alice") == 0, "%s: the authentication identity is recorded: %s",
	   mech, r.authid);
	r2 = exchange(&p, mech, "nosuchuser", NULL, "wrong", true);
	ok(r2.st == SASL_S_FAIL, "%s: an unknown user fails (%s)", mech, r2.reason);
	ok(r2.rounds == r.rounds,
	   "%s: ... after as many rounds as a wrong secret (%u, %u): no user enumeration",
	   mech, r2.rounds, r.rounds);
	r = exchange(&p, mech, "bad/name", NULL, "secret", true);
	ok(r.st == SASL_S_FAIL, "%s: an invalid user name fails (%s)", mech, r.reason);
	/* Only PLAIN and SCRAM carry an authorization identity. */
	if (strcmp(mech, "PLAIN") == 0 || strncmp(mech, "SCRAM-", 6) == 0) {
		r = exchange(&p, mech, "alice", "bob", "secret", true);
		ok(r.st == SASL_S_FAIL, "%s: acting for another user fails (%s)", mech, r.reason);
		p.proxy_users = "admin";
		r = exchange(&p, mech, "admin", "bob", "admin-pw", true);
		ok(r.st == SASL_S_OK && strcmp(r.user, "bob") == 0,
		   "%s: a sasl-proxy-users entry may act for bob (st %d, user %s, %s)", mech, r.st,
		   r.user, r.reason);
		r = exchange(&p, mech, "alice", "alice", "secret", true);
		ok(r.st == SASL_S_OK && strcmp(r.user, "alice") == 0,
		   "%s: an authorization identity equal to the authentication identity is fine",
		   mech);
		p.proxy_users = NULL;
	}
	p.downcase_user = true;
	p.trim_domain = true;
	r = exchange(&p, mech, "ALICE@example.org", NULL, "secret", true);
	ok(r.st == SASL_S_OK && strcmp(r.user, "alice") == 0,
	   "%s: downcase-user and trim-domain apply as for USER (%s)", mech, r.reason);
	base_params(&p);
	cfg.deny_file = tpath("deny");
	r = exchange(&p, mech, "alice", NULL, "secret", true);
	ok(r.st == SASL_S_FAIL, "%s: the account policy (nonauth-file) still applies (%s)", mech,
	   r.reason);
}

static void test_plaintext_policy(void)
{
	struct sasl_params p;
	struct result r;

	if (!plugin_offers("PLAIN") || !have_owner) {
		tap_skip("PLAIN plugin or mail-owner missing", "clear-text policy");
		return;
	}
	base_params(&p);
	p.cleartext_ok = false;
	r = exchange(&p, "PLAIN", "alice", NULL, "secret", true);
	ok(r.st == SASL_S_NOMECH, "PLAIN where clear text is not allowed: not offered (st %d)", r.st);
	base_params(&p);
	p.cleartext_refuses_secret_users = true;
	r = exchange(&p, "PLAIN", "alice", NULL, "secret", true);
	ok(r.st == SASL_S_FAIL && strstr(r.reason, "stored secret") != NULL,
	   "policy default: PLAIN refused for a user with a stored secret (%s)", r.reason);
	if (plugin_offers("CRAM-MD5")) {
		r = exchange(&p, "CRAM-MD5", "alice", NULL, "secret", true);
		ok(r.st == SASL_S_OK, "policy default: CRAM-MD5 still fine for her (%s)", r.reason);
	}
	base_params(&p);
	r = exchange(&p, "X-NO-SUCH", "alice", NULL, "secret", true);
	ok(r.st == SASL_S_NOMECH || strstr(r.reason, "client start") != NULL,
	   "an unknown mechanism is refused");
}

static void test_unsafe_db(void)
{
	struct sasl_params p;
	struct result r;

	if (!plugin_offers("CRAM-MD5") || !plugin_offers("PLAIN")) {
		tap_skip("plugins missing", "unsafe user database");
		return;
	}
	if (chmod(db_path, 0644) != 0) {
		tap_skip(strerror(errno), "unsafe user database");
		return;
	}
	base_params(&p);
	r = exchange(&p, "CRAM-MD5", "alice", NULL, "secret", true);
	ok(r.st == SASL_S_PERMFAIL, "CRAM-MD5 with a world-readable database: PERMFAIL (st %d, %s)",
	   r.st, r.reason);
	r = exchange(&p, "PLAIN", "alice", NULL, "secret", true);
	ok(r.st == SASL_S_PERMFAIL, "PLAIN with a world-readable database: PERMFAIL (st %d, %s)",
	   r.st, r.reason);
	chmod(db_path, 0600);
}

static void test_finish_login(void)
{
	struct auth_user u;
	char reason[256];
	struct sasl_params p;

	base_params(&p);
	if (!have_owner) {
		tap_skip("no mail-owner", "auth_finish_login");
		return;
	}
	ok(auth_finish_login(&cfg, "alice", &u, reason, sizeof(reason)) == AUTH_OK && u.is_virtual &&
	   strcmp(u.account, owner) == 0, "auth_finish_login: a virtual user runs as mail-owner");
	ok(auth_finish_login(&cfg, "root", &u, reason, sizeof(reason)) == AUTH_FAIL,
	   "auth_finish_login: root is refused (%s)", reason);
	ok(auth_finish_login(&cfg, "no-such-account-x", &u, reason, sizeof(reason)) == AUTH_FAIL,
	   "auth_finish_login: an unknown name is refused (%s)", reason);
	ok(auth_finish_login(&cfg, "../etc", &u, reason, sizeof(reason)) == AUTH_FAIL,
	   "auth_finish_login: an invalid name is refused");
}

static void run_sasl_tests(void)
{
	FILE *f;

	f = fopen(tpath("deny"), "w");
	if (f != NULL) {
		fputs("alice\n", f);
		fclose(f);
	}
	test_lists();
	test_mechanism("PLAIN");
	test_mechanism("LOGIN");
	test_mechanism("CRAM-MD5");
	test_mechanism("SCRAM-SHA-1");
	test_mechanism("SCRAM-SHA-256");
	test_plaintext_policy();
	test_unsafe_db();
	test_finish_login();
}

static void find_owner(void)
{
	struct passwd *pw = getpwuid(getuid());

	/* Virtual users run as mail-owner, which must not be root. */
	if (pw != NULL && pw->pw_uid != 0) {
		snprintf(owner, sizeof(owner), "%s", pw->pw_name);
		have_owner = true;
		return;
	}
	pw = getpwnam("nobody");
	if (pw != NULL && pw->pw_uid != 0) {
		snprintf(owner, sizeof(owner), "%s", pw->pw_name);
		have_owner = true;
	}
}

#endif /* HAVE_SASL */

int main(void)
{
	log_open("test_sasl", LOG_USER, LOG_TO_STDERR);
	test_b64();
#ifdef HAVE_SASL
	{
		const char *tmp = getenv("TMPDIR");
		char cmd[700];

		umask(077);
		snprintf(dir, sizeof(dir), "%s/test_sasl.XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (mkdtemp(dir) == NULL || make_db() != 0) {
			tap_skip("cannot make a temporary user database", "SASL exchanges");
			return tap_done();
		}
		find_owner();
		if (sasl_client_init(NULL) != SASL_OK)
			tap_skip("sasl_client_init failed", "SASL exchanges");
		else
			run_sasl_tests();
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
#else
	tap_skip("popper built without Cyrus SASL", "SASL exchanges");
#endif
	return tap_done();
}
