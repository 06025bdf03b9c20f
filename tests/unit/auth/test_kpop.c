/*
 * test_kpop: auth/kpop.c without a network or a KDC.  A krb5.conf of our
 * own (KRB5_CONFIG, written before the library starts) gives a default
 * realm, auth_to_local rules and a k5login_directory in the test's
 * directory, so the mapping of principals to local users runs on the real
 * MIT krb5 rules: the default realm, foreign realms, instances, rules that
 * map to unusable names, requested users (krb5_kuserok and .k5login).  A
 * keytab made here with the krb5 API shows kpop_keytab_usable().  The KPOP
 * handshake is driven over a socketpair up to where a KDC's ticket would
 * be needed: a descriptor that is no socket, a bad keytab, a client that
 * does not speak KPOP, one that closes, one that says nothing in time, and
 * one that greets and then sends nothing; each fails with its reason and
 * leaves the descriptor's flags as they were.  tests/integration/
 * test_kerberos.py runs the whole handshake against a real KDC.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/kpop.h"
#include "tests/unit/auth/testdir.h"
#include "tests/unit/tap.h"

#ifdef HAVE_KRB5
#include <krb5.h>

static const char *tpath(const char *name)
{
	return testdir_path(name);
}

static void put_file(const char *path, const char *text)
{
	testdir_write(path, text, strlen(text), 0644);
}

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The library's configuration: must be in place before the first call. */
static void write_krb5_conf(void)
{
	char conf[2048];

	snprintf(conf, sizeof(conf),
		 "[libdefaults]\n"
		 "\tdefault_realm = EXAMPLE.ORG\n"
		 "\tk5login_directory = %s\n"
		 "[realms]\n"
		 "\tEXAMPLE.ORG = {\n"
		 "\t\tauth_to_local = RULE:[1:$1@$0](.*@PARTNER\\.ORG)s/@PARTNER\\.ORG//\n"
		 "\t\tauth_to_local = RULE:[1:x/$1@$0](.*@ODD\\.ORG)s/@ODD\\.ORG//\n"
		 "\t\tauth_to_local = DEFAULT\n"
		 "\t}\n", tpath("k5login"));
	put_file(tpath("krb5.conf"), conf);
	mkdir(tpath("k5login"), 0755);
	setenv("KRB5_CONFIG", tpath("krb5.conf"), 1);
}

/* Maps principal with requested; "" and the reason on failure. */
static int map(const char *principal, const char *requested, char *user, char *reason)
{
	return kpop_principal_user(principal, requested, user, 64, reason, 256);
}

static void test_mapping(void)
{
	char user[64], reason[256], small[4], longname[300];

	ok(kpop_built(), "built with krb5");
	ok(map("alice@EXAMPLE.ORG", NULL, user, reason) == 0 && strcmp(user, "alice") == 0,
	   "a principal of the default realm maps to its name");
	ok(map("alice", NULL, user, reason) == 0 && strcmp(user, "alice") == 0,
	   "without a realm it is in the default realm");
	ok(map("bob@PARTNER.ORG", NULL, user, reason) == 0 && strcmp(user, "bob") == 0,
	   "an auth_to_local rule maps a foreign realm");
	is_int(map("alice@FOREIGN.ORG", NULL, user, reason), -1,
	       "a foreign realm without a rule: refused");
	ok(starts(reason, "no local user for this principal"), "  reason says so (%s)", reason);
	ok(user[0] == '\0', "  and no user is named");
	is_int(map("alice/admin@EXAMPLE.ORG", NULL, user, reason), -1,
	       "a principal with an instance: refused (the default rule maps none)");
	is_int(map("weird@ODD.ORG", NULL, user, reason), -1,
	       "a rule that gives an unusable name: refused");
	is_str(reason, "principal maps to an invalid user name", "  reason says so");

	ok(map("alice@EXAMPLE.ORG", "alice@EXAMPLE.ORG", user, reason) == 0 &&
	   strcmp(user, "alice") == 0, "requesting the principal itself is no request");
	ok(map("alice@EXAMPLE.ORG", "alice", user, reason) == 0 && strcmp(user, "alice") == 0,
	   "requesting its own local name is no request");
	ok(map("alice@EXAMPLE.ORG", "", user, reason) == 0, "an empty request is none");
	is_int(map("alice@EXAMPLE.ORG", "bad name", user, reason), -1,
	       "requesting an invalid name: refused");
	is_str(reason, "invalid authorization name", "  reason says so");
	is_int(map("alice@EXAMPLE.ORG", "vuser", user, reason), -1,
	       "requesting a name that is no system account: refused");
	is_int(map("alice@EXAMPLE.ORG", "root", user, reason), -1,
	       "requesting a system account whose .k5login does not list the principal: refused");
	is_str(reason, "principal may not log in as the requested user (krb5_kuserok)",
	       "  reason names krb5_kuserok");
	if (geteuid() == 0) {
		/* krb5 trusts a .k5login owned by the user or root. */
		put_file(tpath("k5login/root"), "alice@EXAMPLE.ORG\n");
		ok(map("alice@EXAMPLE.ORG", "root", user, reason) == 0 && strcmp(user, "root") == 0,
		   "  listed in its .k5login: allowed");
		is_int(map("root@EXAMPLE.ORG", NULL, user, reason), -1,
		       "a system account whose .k5login does not list its own principal: refused");
		is_str(reason, "principal not allowed for its local user (~/.k5login)",
		       "  reason names ~/.k5login");
		unlink(tpath("k5login/root"));
		ok(map("root@EXAMPLE.ORG", NULL, user, reason) == 0 && strcmp(user, "root") == 0,
		   "  without a .k5login the mapping alone decides");
	} else {
		tap_skip("needs root (a .k5login must belong to its user)", ".k5login rules");
	}

	is_int(kpop_principal_user("alice@EXAMPLE.ORG", NULL, small, sizeof(small), reason, 256),
	       -1, "a user buffer too small: refused, not cut");
	is_str(reason, "user name too long", "  reason says so");
	is_int(map(NULL, NULL, user, reason), -1, "no principal: refused");
	is_str(reason, "no usable principal name", "  reason says so");
	is_int(map("", NULL, user, reason), -1, "an empty principal: refused");
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	is_int(map(longname, NULL, user, reason), -1, "a principal over KPOP_PRINCIPAL_MAX: refused");
	is_int(map("a@B@C", NULL, user, reason), -1, "a principal krb5 cannot parse: refused");
	ok(starts(reason, "unparsable principal"), "  reason says so (%s)", reason);
}

/* A keytab with one made-up key for pop/host.example.org. */
static bool make_keytab(const char *path)
{
	static const unsigned char keybytes[16] = "0123456789abcdef";
	char name[700];
	krb5_context ctx;
	krb5_keytab kt;
	krb5_keytab_entry ent;
	bool made;

	if (krb5_init_context(&ctx) != 0)
		return false;
	snprintf(name, sizeof(name), "FILE:%s", path);
	memset(&ent, 0, sizeof(ent));
	if (krb5_kt_resolve(ctx, name, &kt) != 0) {
		krb5_free_context(ctx);
		return false;
	}
	made = krb5_parse_name(ctx, "pop/host.example.org@EXAMPLE.ORG", &ent.principal) == 0;
	if (made) {
		ent.vno = 1;
		ent.key.magic = KV5M_KEYBLOCK;
		ent.key.enctype = ENCTYPE_AES128_CTS_HMAC_SHA1_96;
		ent.key.length = sizeof(keybytes);
		ent.key.contents = (krb5_octet *)keybytes;
		made = krb5_kt_add_entry(ctx, kt, &ent) == 0;
		krb5_free_principal(ctx, ent.principal);
	}
	krb5_kt_close(ctx, kt);
	krb5_free_context(ctx);
	return made;
}

static void test_keytab(void)
{
	char reason[256] = "";

	ok(!kpop_keytab_usable(tpath("no-such.keytab")), "a missing keytab is not usable");
	put_file(tpath("empty.keytab"), "");
	ok(!kpop_keytab_usable(tpath("empty.keytab")), "an empty file is not usable");
	ok(make_keytab(tpath("pop.keytab")), "a keytab with one key is made");
	ok(kpop_keytab_usable(tpath("pop.keytab")), "  and it is usable");
	is_int(kpop_use_keytab(NULL, reason, sizeof(reason)), 0, "no keytab named: krb5's default stays");
	is_int(kpop_use_keytab(tpath("pop.keytab"), reason, sizeof(reason)), 0,
	       "a keytab becomes GSSAPI's acceptor keytab (%s)", reason);
}

/* Runs the handshake on one end of a socketpair while peer() plays the
 * client on the other.  Returns kpop_handshake's result; reason and the
 * flags of our end after the call are filled. */
static int handshake_with(void (*peer)(int fd), const char *keytab, unsigned timeout_s,
			  char *reason, int *flags_after_r)
{
	char user[64], principal[KPOP_PRINCIPAL_MAX + 1];
	int sv[2], rc;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		die("socketpair");
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	peer(sv[1]);
	rc = kpop_handshake(sv[0], "pop", keytab, timeout_s, user, sizeof(user),
			    principal, sizeof(principal), reason, 256);
	*flags_after_r = fcntl(sv[0], F_GETFL);
	if (rc != 0 && (user[0] != '\0' || principal[0] != '\0'))
		rc = -2;   /* a failure must name nobody */
	close(sv[0]);
	close(sv[1]);
	return rc;
}

static void peer_pop3(int fd)
{
	if (write(fd, "QUIT\r\n", 6) != 6)
		die("write");
}

static void peer_closes(int fd)
{
	shutdown(fd, SHUT_WR);
}

static void peer_silent(int fd)
{
	(void)fd;
}

/* The greeting of krb5_sendauth, then nothing more to read. */
static void peer_hello_only(int fd)
{
	static const char hello[] = "\0\0\0\x13" "KRB5_SENDAUTH_V1.0" "\0"
				    "\0\0\0\x09" KPOP_VERSION "\0";

	if (write(fd, hello, sizeof(hello) - 1) != (ssize_t)(sizeof(hello) - 1))
		die("write");
	shutdown(fd, SHUT_WR);
}

static void test_handshake(void)
{
	const char *kt = tpath("pop.keytab");
	char reason[256], user[64], principal[64];
	int fds[2], flags = 0, rc;

	if (pipe(fds) != 0)
		die("pipe");
	rc = kpop_handshake(fds[0], "pop", kt, 1, user, sizeof(user), principal,
			    sizeof(principal), reason, sizeof(reason));
	ok(rc == -1 && starts(reason, "KPOP needs a socket"),
	   "a descriptor that is no socket: refused (%s)", reason);
	close(fds[0]);
	close(fds[1]);

	rc = handshake_with(peer_pop3, "BOGUS-TYPE:x", 1, reason, &flags);
	ok(rc == -1 && starts(reason, "keytab: "), "a keytab krb5 cannot resolve: refused (%s)",
	   reason);
	rc = handshake_with(peer_pop3, kt, 1, reason, &flags);
	is_int(rc, -1, "a client that speaks POP3, not KPOP: refused before krb5 reads");
	is_str(reason, "client does not speak KPOP (krb5_sendauth)", "  reason says so");
	ok(flags & O_NONBLOCK, "  the descriptor is non-blocking again, as it was");
	rc = handshake_with(peer_closes, kt, 1, reason, &flags);
	is_int(rc, -1, "a client that closes at once: refused");
	is_str(reason, "client closed the connection", "  reason says so");
	rc = handshake_with(peer_silent, kt, 1, reason, &flags);
	is_int(rc, -1, "a client that says nothing: refused after the timeout");
	is_str(reason, "no KPOP handshake in time", "  reason says so");
	rc = handshake_with(peer_hello_only, NULL, 2, reason, &flags);
	ok(rc == -1 && starts(reason, "krb5_recvauth: "),
	   "a client that greets and sends no ticket: krb5_recvauth fails (%s)", reason);
	ok(flags & O_NONBLOCK, "  the descriptor's flags are restored");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (testdir_make("test_kpop") < 0)
		return 1;
	chmod(testdir(), 0755);
	write_krb5_conf();
	test_mapping();
	test_keytab();
	test_handshake();
	testdir_remove();
	return tap_done();
}

#else /* !HAVE_KRB5 */

int main(void)
{
	char user[64] = "x", principal[64] = "x", reason[128] = "";

	ok(!kpop_built(), "built without krb5: kpop_built says so");
	ok(!kpop_keytab_usable(NULL), "  no keytab is usable");
	ok(kpop_principal_user("alice", NULL, user, sizeof(user), reason, sizeof(reason)) == -1 &&
	   user[0] == '\0', "  no principal maps");
	ok(kpop_handshake(0, "pop", NULL, 1, user, sizeof(user), principal, sizeof(principal),
			  reason, sizeof(reason)) == -1 &&
	   strcmp(reason, "popper was built without Kerberos") == 0, "  the handshake fails, saying why");
	return tap_done();
}

#endif /* HAVE_KRB5 */
