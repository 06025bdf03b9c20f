/*
 * test_policy: the clear-text policy, the APOP offer and user-name
 * processing (server/policy.c).
 *
 * Covers: the loopback test behind clear-text-password local, each policy,
 * Qpopper's name processing against hostile names, whether APOP is offered
 * (never without a user database that is there and passes the one rule of
 * auth/userdb/userdb.h), and the two refusal texts.
 */
#include "config.h"

#include <string.h>
#include <sys/stat.h>

#include "auth/userdb/userdb_write.h"
#include "server/policy.h"
#include "tests/unit/server/testsession.h"

static void test_loopback(void)
{
	ok(policy_addr_is_loopback("127.0.0.1"), "127.0.0.1");
	ok(policy_addr_is_loopback("127.254.3.4"), "127.254.3.4");
	ok(policy_addr_is_loopback("::1"), "::1");
	ok(policy_addr_is_loopback("0:0:0:0:0:0:0:1"), "0:0:0:0:0:0:0:1");
	ok(policy_addr_is_loopback("::ffff:127.0.0.1"), "::ffff:127.0.0.1");
	ok(policy_addr_is_loopback("local"), "local (no socket)");
	ok(!policy_addr_is_loopback("128.0.0.1"), "128.0.0.1");
	ok(!policy_addr_is_loopback("10.0.0.1"), "10.0.0.1");
	ok(!policy_addr_is_loopback("::ffff:10.0.0.1"), "::ffff:10.0.0.1");
	ok(!policy_addr_is_loopback("::2"), "::2");
	ok(!policy_addr_is_loopback("fe80::1"), "fe80::1");
	ok(!policy_addr_is_loopback("127.0.0.1.evil"), "127.0.0.1.evil");
	ok(!policy_addr_is_loopback(""), "empty");
	ok(!policy_addr_is_loopback(NULL), "NULL");

	ok(policy_cleartext_allowed(CLEARTEXT_DEFAULT, "192.0.2.1"), "default allows");
	ok(policy_cleartext_allowed(CLEARTEXT_ALWAYS, "192.0.2.1"), "always allows");
	ok(!policy_cleartext_allowed(CLEARTEXT_NEVER, "127.0.0.1"), "never refuses");
	ok(!policy_cleartext_allowed(CLEARTEXT_TLS, "127.0.0.1"), "tls refuses before TLS (cmd_stls.c lifts it)");
	ok(policy_cleartext_allowed(CLEARTEXT_LOCAL, "::1"), "local allows ::1");
	ok(!policy_cleartext_allowed(CLEARTEXT_LOCAL, "192.0.2.1"), "local refuses 192.0.2.1");
}

static void test_username(void)
{
	struct settings set;
	char out[USERNAME_MAX + 1], longname[200];

	memset(&set, 0, sizeof(set));
	ok(policy_user_normalise(&set, "Alice@Example.COM", out, sizeof(out)), "kept as is");
	is_str(out, "Alice@Example.COM", "no processing by default");
	set.downcase_user = true;
	ok(policy_user_normalise(&set, "Alice@Example.COM", out, sizeof(out)), "downcased");
	is_str(out, "alice@example.com", "downcase");
	set.trim_domain = true;
	ok(policy_user_normalise(&set, "Alice@Example.COM", out, sizeof(out)), "trimmed");
	is_str(out, "alice", "downcase + trim-domain");
	set.downcase_user = false;
	ok(policy_user_normalise(&set, "Bob@x@y", out, sizeof(out)), "cut at the first @");
	is_str(out, "Bob", "trim-domain alone");
	ok(!policy_user_normalise(&set, "@example.com", out, sizeof(out)), "nothing left after trim");
	/* A long domain may go: only the result counts. */
	memset(longname, 'd', sizeof(longname));
	memcpy(longname, "carol@", 6);
	longname[sizeof(longname) - 1] = '\0';
	ok(policy_user_normalise(&set, longname, out, sizeof(out)), "long domain trimmed");
	is_str(out, "carol", "long domain trimmed: name");
	set.trim_domain = false;
	ok(!policy_user_normalise(&set, longname, out, sizeof(out)), "long name refused untrimmed");
	ok(!policy_user_normalise(&set, "../../etc/passwd", out, sizeof(out)), "../../etc/passwd");
	ok(!policy_user_normalise(&set, "-oFoo", out, sizeof(out)), "-oFoo");
	ok(!policy_user_normalise(&set, "a/b", out, sizeof(out)), "a/b");
	ok(!policy_user_normalise(&set, "a\tb", out, sizeof(out)), "TAB");
	ok(!policy_user_normalise(&set, "\x1b[2J", out, sizeof(out)), "escape sequence");
	ok(!policy_user_normalise(&set, "%n%n%s", out, sizeof(out)), "format characters");
	ok(!policy_user_normalise(&set, "caf\xc3\xa9", out, sizeof(out)), "UTF-8");
}

/* A user database in the test's root, made with the writer; NULL when
 * popper has no GDBM. */
static const char *make_db(void)
{
	static char path[600];
	char err[700];
	struct userdb *db;

	snprintf(path, sizeof(path), "%s/pop.auth", ts_root);
	db = userdb_write_open(path, USERDB_CREATE, NULL, err, sizeof(err));
	if (db == NULL)
		return NULL;
	userdb_close(db);
	return path;
}

static void test_apop_offer(void)
{
	struct tsess t;
	const char *db;

	ts_init(&t);
	t.set.apop = true;
	t.s.authcfg.userdb_path = NULL;
	ok(!policy_apop_offered(&t.s), "no user database: APOP not offered");
	ok(!policy_secret_users_refused(&t.s), "... and nobody refused for a secret");
	t.s.authcfg.userdb_path = "";
	ok(!policy_apop_offered(&t.s), "empty database path: not offered");
	t.s.authcfg.userdb_path = "/nonexistent/popper.db";
	ok(!policy_apop_offered(&t.s), "a database configured but missing: not offered");
	t.set.apop = false;
	ok(!policy_apop_offered(&t.s), "apop off: not offered");
	t.set.apop = true;
	db = auth_apop_configured(&t.s.authcfg) ? make_db() : NULL;
	if (db != NULL) {
		t.s.authcfg.userdb_path = db;
		ok(policy_apop_offered(&t.s), "database present and safe: offered");
		t.set.cleartext = CLEARTEXT_DEFAULT;
		ok(policy_secret_users_refused(&t.s), "policy default refuses secret users");
		t.set.cleartext = CLEARTEXT_ALWAYS;
		ok(!policy_secret_users_refused(&t.s), "policy always does not");
		chmod(db, 0640);
		ok(!policy_apop_offered(&t.s), "a database of mode 0640: not offered");
		t.set.cleartext = CLEARTEXT_DEFAULT;
		ok(policy_secret_users_refused(&t.s),
		   "  (policy default still keys on APOP being on: USER then says [SYS/PERM])");
		chmod(db, 0600);
		chmod(ts_root, 0777);
		ok(!policy_apop_offered(&t.s), "a database in a world-writable directory: not offered");
		chmod(ts_root, 0700);
		ok(policy_apop_offered(&t.s), "mended: offered again");
		t.s.authcfg.userdb_path = "/nonexistent/popper.db";
		ok(policy_secret_users_refused(&t.s),
		   "a missing database under policy default: the question is asked (nobody has a "
		   "secret)");
	} else {
		for (int i = 0; i < 8; i++)
			tap_skip("built without the user database or OpenSSL", "APOP offered");
	}
	ts_done(&t);
}

static void test_refusal(void)
{
	struct tsess t;

	ts_init(&t);
	t.set.cleartext = CLEARTEXT_NEVER;
	policy_refuse_cleartext(&t.s);
	is_str(ts_output(&t), "-ERR [AUTH] You must use stronger authentication such as APOP "
	       "to connect to this server.\r\n", "refusal, policy never");
	t.set.cleartext = CLEARTEXT_TLS;
	policy_refuse_cleartext(&t.s);
	is_str(ts_output(&t), "-ERR [AUTH] You must use TLS/SSL or stronger authentication "
	       "such as APOP to connect to this server.\r\n", "refusal, policy tls");
	ts_done(&t);
}

int main(void)
{
	ts_setup_root("test_policy");
	test_loopback();
	test_username();
	test_apop_offer();
	test_refusal();
	ts_cleanup_root();
	return tap_done();
}
