/*
 * test_auth_pam: auth/auth_pam.c, the PAM backend, called directly through
 * its row of the backend table (auth/backend.h), against real Linux-PAM
 * driven through pam_wrapper with pam_matrix as the module
 * (tests/unit/auth/pamwrap.h): the transaction's results and how each maps
 * (OK, FAIL, TEMPFAIL), the step a failure names, the conversation (echo-on
 * prompts get the name, module messages go to the log only), PAM_RHOST,
 * and the flag that checks without establishing credentials.  Account
 * policy is auth.c's and is tested in test_auth.  Without pam_wrapper the
 * checks that need PAM are skipped with the reason.
 */
#include "config.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/backend.h"
#include "lib/log.h"
#include "tests/unit/auth/pamwrap.h"
#include "tests/unit/tap.h"

static const char *dir;

#ifdef HAVE_PAM
#define HAVE_PAM_BUILT 1
#else
#define HAVE_PAM_BUILT 0
#endif

/* pam_matrix: user:password:the service whose account stack accepts them. */
static const char passdb_text[] =
	"alice:alicepw:popper\nother:otherpw:some-other-service\n"
	"echoer:echoer:popper-echo\nnoisy:noisypw:popper-verbose\n"
	"dora:dorapw:popper-rhost\n";

struct answer {
	enum backend_result r;
	char account[64];
	char reason[256];
	char log[4096];   /* what the backend logged (stderr) */
};

/* Asks the PAM backend with service, client address and flags, the log
 * captured. */
static struct answer ask(const char *service, const char *addr, const char *user,
			 const char *password, unsigned flags)
{
	struct auth_config c;
	struct answer a;
	char logpath[600];
	int saved, fd;
	ssize_t n;

	memset(&c, 0, sizeof(c));
	memset(&a, 0, sizeof(a));
	c.pam_service = service;
	c.client_addr = addr;
	snprintf(logpath, sizeof(logpath), "%s/log.out", dir);
	fflush(stderr);
	saved = dup(2);
	fd = open(logpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (saved < 0 || fd < 0)
		die("capturing the log");
	dup2(fd, 2);
	a.r = auth_backend_pam.verify_plain(&c, user, password, flags, a.account,
					    sizeof(a.account), a.reason, sizeof(a.reason));
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, a.log, sizeof(a.log) - 1, 0);
	a.log[n > 0 ? n : 0] = '\0';
	close(fd);
	return a;
}

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The table row and what needs no PAM transaction. */
static void test_row(void)
{
	struct auth_config c;
	char account[4], reason[128];

	memset(&c, 0, sizeof(c));
	is_str(auth_backend_pam.name, "pam", "the row is named \"pam\"");
	ok(auth_backend_pam.system_accounts, "  it proves system accounts");
	ok(auth_backend_pam.lookup_secret == NULL && auth_backend_pam.verify_apop == NULL &&
	   auth_backend_pam.apop_available == NULL, "  it keeps no secrets: no lookup, no APOP");
	ok(!auth_backend_pam.enabled(&c), "no pam-service: off");
	c.pam_service = "";
	ok(!auth_backend_pam.enabled(&c), "an empty pam-service: off");
	c.pam_service = "popper";
	ok(auth_backend_pam.enabled(&c), "pam-service set: on");

	c.pam_service = NULL;
	is_int(auth_backend_pam.verify_plain(&c, "alice", "alicepw", 0, account, sizeof(account),
					     reason, sizeof(reason)),
	       BACKEND_NO_USER, "asked while off: not a name it holds");
	is_str(reason, "unknown user (PAM off)", "  reason says PAM is off");
	/* Before any PAM call: a buffer too small for the name, or no PAM. */
	c.pam_service = "popper";
	is_int(auth_backend_pam.verify_plain(&c, "alice", "alicepw", 0, account, sizeof(account),
					     reason, sizeof(reason)),
	       HAVE_PAM_BUILT ? BACKEND_FAIL : BACKEND_TEMPFAIL,
	       HAVE_PAM_BUILT ? "an account buffer too small for the name: FAIL before PAM"
			      : "built without PAM: TEMPFAIL");
	is_str(reason, HAVE_PAM_BUILT ? "user name too long" : "PAM not built", "  reason says so");
}

static void test_results(void)
{
	struct answer a;

	a = ask("popper", "192.0.2.7", "alice", "alicepw", 0);
	is_int(a.r, BACKEND_OK, "right password: OK (%s)", a.reason);
	is_str(a.account, "alice", "  the session runs as the account of that name");
	a = ask("popper", "192.0.2.7", "alice", "alicepw", BACKEND_VERIFY_ONLY);
	is_int(a.r, BACKEND_OK, "right password, verify only (no credentials): OK");
	is_str(a.account, "alice", "  the account is still named");
	a = ask("popper", "192.0.2.7", "alice", "wrong", 0);
	is_int(a.r, BACKEND_FAIL, "wrong password: FAIL");
	ok(starts(a.reason, "pam_authenticate: "), "  the reason names the step (%s)", a.reason);
	ok(a.account[0] == '\0', "  and no account is named");
	a = ask("popper", "192.0.2.7", "nobody-at-all", "x", 0);
	is_int(a.r, BACKEND_FAIL, "a name PAM does not know: FAIL, like a wrong password");
	ok(starts(a.reason, "pam_authenticate: "), "  at the same step (%s)", a.reason);
	a = ask("popper", "192.0.2.7", "other", "otherpw", 0);
	is_int(a.r, BACKEND_FAIL, "account management refuses: FAIL");
	ok(starts(a.reason, "pam_acct_mgmt: "), "  the reason names pam_acct_mgmt (%s)", a.reason);
	a = ask("popper-broken", "192.0.2.7", "alice", "alicepw", 0);
	is_int(a.r, BACKEND_TEMPFAIL, "PAM cannot reach its data (AUTHINFO_UNAVAIL): TEMPFAIL");
	ok(starts(a.reason, "pam_authenticate: "), "  (%s)", a.reason);
	a = ask("no-such-service", "192.0.2.7", "alice", "alicepw", 0);
	is_int(a.r, BACKEND_TEMPFAIL, "an unknown service (Linux-PAM's \"other\"): TEMPFAIL here");
}

static void test_conversation(void)
{
	struct answer a;

	a = ask("popper-echo", NULL, "echoer", "not-the-name", 0);
	is_int(a.r, BACKEND_OK, "an echo-on prompt is answered with the user name");
	a = ask("popper-verbose", NULL, "noisy", "noisypw", 0);
	is_int(a.r, BACKEND_OK, "module info text is ignored: OK");
	a = ask("popper-verbose", NULL, "noisy", "wrong", 0);
	ok(a.r == BACKEND_FAIL && strstr(a.log, "PAM error message") != NULL,
	   "a module's error text goes to the log");
	ok(strstr(a.log, "wrong\"") == NULL && strstr(a.log, "noisypw") == NULL &&
	   strstr(a.reason, "wrong") == NULL, "  and neither the log nor the reason has a password");
}

/* What pam_exec saw as PAM_RHOST in the last popper-rhost transaction. */
static bool rhost_seen(char *out, size_t outsize)
{
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/rhost.sh.out", dir);
	f = fopen(path, "r");
	if (f == NULL)
		return false;
	if (fgets(out, (int)outsize, f) == NULL)
		out[0] = '\0';
	fclose(f);
	unlink(path);
	return true;
}

static void test_rhost(void)
{
	char got[64] = "";
	struct answer a;

	if (getenv("POPPER_TEST_PAM_EXEC") == NULL) {
		tap_skip("pam_exec.so not found beside libpam", "PAM_RHOST");
		return;
	}
	a = ask("popper-rhost", "192.0.2.9", "dora", "dorapw", 0);
	is_int(a.r, BACKEND_OK, "a service with pam_exec: OK (%s)", a.reason);
	ok(rhost_seen(got, sizeof(got)) && strcmp(got, "192.0.2.9") == 0,
	   "PAM_RHOST is the client address (%s)", got);
	a = ask("popper-rhost", NULL, "dora", "dorapw", 0);
	ok(a.r == BACKEND_OK && rhost_seen(got, sizeof(got)) && got[0] == '\0',
	   "no client address (inetd on a pipe): PAM_RHOST is not set");
}

static void run_tests(const char *d, const char *why)
{
	dir = d;
	test_row();
#ifdef HAVE_PAM
	if (why == NULL && dlopen("libpam_wrapper.so", RTLD_LAZY | RTLD_NOLOAD) == NULL)
		why = "pam_wrapper did not take effect";
#else
	why = "built without PAM";
#endif
	if (why != NULL) {
		tap_skip(why, "PAM transactions through pam_matrix");
		return;
	}
	test_results();
	test_conversation();
	test_rhost();
}

int main(int argc, char **argv)
{
	static const struct pamwrap_setup setup = {
		"test_auth_pam", NULL, NULL, passdb_text, run_tests,
	};

	(void)argc;
	log_open("test_auth_pam", LOG_USER, LOG_TO_STDERR);
	umask(022);
	return pamwrap_main(argv, &setup, tap_done);
}
