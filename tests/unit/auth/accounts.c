/*
 * accounts: the accounts, passwords, configuration and user database the
 * tests of auth/ share (see tests/unit/auth/accounts.h).
 */
#include "config.h"

#include "tests/unit/auth/accounts.h"

#include <dlfcn.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/log.h"
#include "auth/userdb/userdb.h"
#include "auth/userdb/userdb_write.h"
#include "tests/unit/auth/pamwrap.h"
#include "tests/unit/auth/testdir.h"

const char accounts_passwd[] =
	"root:x:0:0:root:/root:/bin/sh\n"
	"sysacct:x:100:100:a system account:/var/sysacct:/bin/sh\n"
	"alice:x:1500:1500:Alice:/home/alice:/bin/sh\n"
	"bob:x:1501:1501:Bob:/home/bob:/nonexistent/not-a-shell\n"
	"carl:x:1502:1502:Carl:/home/carl:/bin/sh\n"
	"other:x:1503:1503:Other:/home/other:/bin/sh\n"
	"echoer:x:1504:1504:Echoer:/home/echoer:/bin/sh\n"
	"noisy:x:1505:1505:Noisy:/home/noisy:/bin/sh\n"
	"dora:x:1506:1506:Dora:/home/dora:/bin/sh\n"
	"vmail:x:1600:1600:virtual mail:/var/vmail:/usr/sbin/nologin\n";
const char accounts_group[] =
	"root:x:0:\nsysacct:x:100:\nalice:x:1500:\nbob:x:1501:\ncarl:x:1502:\n"
	"other:x:1503:\nechoer:x:1504:\nnoisy:x:1505:\ndora:x:1506:\nvmail:x:1600:\n";
/* pam_matrix: user:password:the service whose account stack accepts them.
 * "ghost" has a password but no account; "other" may not use popper. */
const char accounts_passdb[] =
	"root:rootpw:popper\nsysacct:syspw:popper\nalice:alicepw:popper\n"
	"bob:bobpw:popper\ncarl:carlpw:popper\nghost:ghostpw:popper\n"
	"other:otherpw:some-other-service\n"
	"echoer:echoer:popper-echo\nnoisy:noisypw:popper-verbose\n"
	"dora:dorapw:popper-rhost\n";

int accounts_main(char **argv, const char *name,
		  void (*run_tests)(const char *dir, const char *why), int (*done)(void))
{
	const struct pamwrap_setup setup = {
		name, accounts_passwd, accounts_group, accounts_passdb, run_tests,
	};

	log_open(name, LOG_USER, LOG_TO_STDERR);
	umask(022);
	return pamwrap_main(argv, &setup, done);
}

struct accounts_found accounts_detect(const char *why)
{
	static const char missing[] = "needs libpam-wrapper and libnss-wrapper (not found)";
	struct accounts_found f = { false, false, false, missing, missing };
	struct passwd *pw;

	if (why != NULL)
		f.why_no_pam = f.why_no_accounts = why;
	/* vmail with our uid proves that getpwnam() reads our passwd file. */
	pw = getpwnam("vmail");
	f.accounts = pw != NULL && pw->pw_uid == 1600;
	f.pam_exec = getenv("POPPER_TEST_PAM_EXEC") != NULL;
	if (getenv(PAMWRAP_ENV_DIR) != NULL && !f.accounts)
		f.why_no_accounts = "nss_wrapper did not take effect";
#ifdef HAVE_PAM
	f.pam = dlopen("libpam_wrapper.so", RTLD_LAZY | RTLD_NOLOAD) != NULL;
	if (getenv(PAMWRAP_ENV_DIR) != NULL && !f.pam)
		f.why_no_pam = "pam_wrapper did not take effect";
#else
	f.why_no_pam = "built without PAM";
#endif
	return f;
}

struct auth_config accounts_cfg(void)
{
	struct auth_config c;

	static char db_path[600];

	memset(&c, 0, sizeof(c));
	snprintf(db_path, sizeof(db_path), "%s", testdir_path("pop.auth"));
	c.userdb_path = db_path;
	c.mail_owner = "vmail";
	c.min_uid = 1000;
	c.client_addr = "192.0.2.7";
	return c;
}

enum auth_result accounts_plain(const struct auth_config *c, const char *user,
				const char *pw, struct auth_user *u, char *reason)
{
	return auth_verify_plain(c, user, pw, u, reason, 256);
}

void accounts_make_db(void)
{
	char err[512];
	struct userdb *db = userdb_write_open(testdir_path("pop.auth"), USERDB_CREATE, NULL,
					      err, sizeof(err));

	if (db == NULL) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	userdb_set_secret(db, "vuser", "vsecret", 7);
	userdb_set_secret(db, "mrose", "tanstaaf", 8);   /* RFC 1939's APOP example */
	userdb_set_secret(db, "carol@example.org", "c4r0l", 5);
	userdb_close(db);
}

const char *accounts_noise_db(void)
{
	char noise[4096];
	size_t i;

	for (i = 0; i < sizeof(noise); i++)
		noise[i] = (char)(i * 37 + 11);
	testdir_write(testdir_path("noise.auth"), noise, sizeof(noise), 0600);
	return testdir_path("noise.auth");
}
