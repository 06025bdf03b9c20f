/*
 * test_sasl: auth/sasl.c, the AUTH start/step object, driven by the real
 * Cyrus SASL library from both sides (tests/unit/auth/saslpeer.h):
 * libsasl2's client API produces every response, our object (over
 * libsasl2's server API and its installed plugins) answers it from a GDBM
 * user database made in a temporary directory.  The mechanism lists, the
 * clear-text rule, the authentication identity, authorization identities
 * and proxy users, name processing, the account policy after the library
 * said yes, and auth_finish_login.  Where the secrets and passwords come
 * from (the auxprop plugin and the checkpass callback) is tested in
 * test_sasl_auxprop.  The base64 helpers are tested in every build.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"
#include "auth/sasl.h"
#include "lib/log.h"
#include "tests/unit/auth/saslpeer.h"
#include "tests/unit/auth/testdir.h"
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

/* ---- tests --------------------------------------------------------------- */

static void test_lists(void)
{
	struct sasl_params p;
	char list[SASL_MECHLIST_MAX];
	int n;

	peer_params(&p);
	n = sasl_mechanisms(&p, list, sizeof(list));
	is_str(list, "SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN",
	       "the configured mechanisms, in the configured order (%d)", n);
	p.cleartext_ok = false;
	sasl_mechanisms(&p, list, sizeof(list));
	is_str(list, "SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5",
	       "no clear text allowed: PLAIN and LOGIN are not offered");
	peer_params(&p);
	p.mechanisms = "anonymous plain , cram-md5 PLAIN X-NOT-INSTALLED";
	sasl_mechanisms(&p, list, sizeof(list));
	is_str(list, "PLAIN CRAM-MD5",
	       "ANONYMOUS never, case and commas accepted, duplicates and unknown names dropped");
	p.mechanisms = "";
	ok(sasl_mechanisms(&p, list, sizeof(list)) == 0 && list[0] == '\0',
	   "an empty sasl-mechanisms offers nothing");
	peer_params(&p);
	peer_cfg.userdb_path = NULL;
	sasl_mechanisms(&p, list, sizeof(list));
	is_str(list, "PLAIN LOGIN", "without a user database only PLAIN and LOGIN (no secrets)");
	peer_params(&p);
	p.mechanisms = NULL;
	sasl_mechanisms(&p, list, sizeof(list));
	ok(strstr(list, "CRAM-MD5") != NULL && strstr(list, "ANONYMOUS") == NULL,
	   "the default list: %s", list);
}

/* What auth/sasl.c does around the library for every mechanism: the
 * authentication identity, authorization identities and proxy users, name
 * processing and the account policy.  Whether the secret or password is
 * right is test_sasl_auxprop's. */
static void test_mechanism(const char *mech)
{
	struct sasl_params p;
	struct peer_result r;
	const char *why = peer_missing(mech);

	if (why != NULL) {
		tap_skip(why, mech);
		return;
	}
	peer_params(&p);
	r = peer_exchange(&p, mech, "alice", NULL, "wrong", true);
	ok(strcmp(r.authid, "alice") == 0, "%s: the authentication identity is recorded: %s",
	   mech, r.authid);
	r = peer_exchange(&p, mech, "bad/name", NULL, "secret", true);
	ok(r.st == SASL_S_FAIL, "%s: an invalid user name fails (%s)", mech, r.reason);
	/* Only PLAIN and SCRAM carry an authorization identity. */
	if (strcmp(mech, "PLAIN") == 0 || strncmp(mech, "SCRAM-", 6) == 0) {
		r = peer_exchange(&p, mech, "alice", "bob", "secret", true);
		ok(r.st == SASL_S_FAIL, "%s: acting for another user fails (%s)", mech, r.reason);
		p.proxy_users = "admin";
		r = peer_exchange(&p, mech, "admin", "bob", "admin-pw", true);
		ok(r.st == SASL_S_OK && strcmp(r.user, "bob") == 0,
		   "%s: a sasl-proxy-users entry may act for bob (st %d, user %s, %s)", mech, r.st,
		   r.user, r.reason);
		r = peer_exchange(&p, mech, "alice", "alice", "secret", true);
		ok(r.st == SASL_S_OK && strcmp(r.user, "alice") == 0,
		   "%s: an authorization identity equal to the authentication identity is fine",
		   mech);
		p.proxy_users = NULL;
	}
	p.downcase_user = true;
	p.trim_domain = true;
	r = peer_exchange(&p, mech, "ALICE@example.org", NULL, "secret", true);
	ok(r.st == SASL_S_OK && strcmp(r.user, "alice") == 0,
	   "%s: downcase-user and trim-domain apply as for USER (%s)", mech, r.reason);
	peer_params(&p);
	peer_cfg.deny_file = testdir_path("deny");
	r = peer_exchange(&p, mech, "alice", NULL, "secret", true);
	ok(r.st == SASL_S_FAIL, "%s: the account policy (nonauth-file) still applies (%s)", mech,
	   r.reason);
}

/* Which mechanisms an exchange may use: the clear-text rule and names the
 * library does not know.  (Policy "default", which the checkpass callback
 * applies, is test_sasl_auxprop's.) */
static void test_plaintext_policy(void)
{
	struct sasl_params p;
	struct peer_result r;

	if (!peer_offers("PLAIN") || !peer_have_owner) {
		tap_skip("PLAIN plugin or mail-owner missing", "clear-text policy");
		return;
	}
	peer_params(&p);
	p.cleartext_ok = false;
	r = peer_exchange(&p, "PLAIN", "alice", NULL, "secret", true);
	ok(r.st == SASL_S_NOMECH, "PLAIN where clear text is not allowed: not offered (st %d)", r.st);
	peer_params(&p);
	r = peer_exchange(&p, "X-NO-SUCH", "alice", NULL, "secret", true);
	ok(r.st == SASL_S_NOMECH || strstr(r.reason, "client start") != NULL,
	   "an unknown mechanism is refused");
}

static void test_finish_login(void)
{
	struct auth_user u;
	char reason[256];
	struct sasl_params p;

	peer_params(&p);
	if (!peer_have_owner) {
		tap_skip("no mail-owner", "auth_finish_login");
		return;
	}
	ok(auth_finish_login(&peer_cfg, "alice", &u, reason, sizeof(reason)) == AUTH_OK && u.is_virtual &&
	   strcmp(u.account, peer_owner) == 0, "auth_finish_login: a virtual user runs as mail-owner");
	ok(auth_finish_login(&peer_cfg, "root", &u, reason, sizeof(reason)) == AUTH_FAIL,
	   "auth_finish_login: root is refused (%s)", reason);
	ok(auth_finish_login(&peer_cfg, "no-such-account-x", &u, reason, sizeof(reason)) == AUTH_FAIL,
	   "auth_finish_login: an unknown name is refused (%s)", reason);
	ok(auth_finish_login(&peer_cfg, "../etc", &u, reason, sizeof(reason)) == AUTH_FAIL,
	   "auth_finish_login: an invalid name is refused");
}

static void run_sasl_tests(void)
{
	FILE *f;

	f = fopen(testdir_path("deny"), "w");
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
	test_finish_login();
}

#endif /* HAVE_SASL */

int main(void)
{
	log_open("test_sasl", LOG_USER, LOG_TO_STDERR);
	test_b64();
#ifdef HAVE_SASL
	umask(077);
	if (testdir_make("test_sasl") != 0 || peer_make_db() != 0) {
		tap_skip("cannot make a temporary user database", "SASL exchanges");
		return tap_done();
	}
	peer_find_owner();
	if (sasl_client_init(NULL) != SASL_OK)
		tap_skip("sasl_client_init failed", "SASL exchanges");
	else
		run_sasl_tests();
	testdir_remove();
#else
	tap_skip("popper built without Cyrus SASL", "SASL exchanges");
#endif
	return tap_done();
}
