/*
 * accounts: the made-up world the tests of auth/ run in under the wrappers
 * (tests/unit/auth/pamwrap.h): nss_wrapper's accounts, pam_matrix's
 * passwords, the usual configuration and the user database with the
 * virtual users.  test_auth, test_auth_userdb and test_sasl_auxprop share
 * it, so a name means the same account in each of them.
 *
 * Accounts (uid, shell): root 0, sysacct 100 (below min-uid), alice 1500,
 * bob 1501 (shell not in /etc/shells), carl 1502, other 1503, echoer 1504,
 * noisy 1505, dora 1506, vmail 1600 (the mail-owner).  pam_matrix knows
 * ghost (a password, no account) and lets "other" use another service only.
 */
#ifndef POPPER_TEST_ACCOUNTS_H
#define POPPER_TEST_ACCOUNTS_H

#include <stdbool.h>

#include "auth/auth.h"

/* RFC 1939 section 7: APOP mrose c4c9334bac560ecc979e58001b3e22fb for the
 * timestamp below and the secret "tanstaaf". */
#define RFC_TS "<1896.697170952@dbc.mtview.ca.us>"
#define RFC_DIGEST "c4c9334bac560ecc979e58001b3e22fb"

/* nss_wrapper's passwd and group files, pam_matrix's passdb. */
extern const char accounts_passwd[];
extern const char accounts_group[];
extern const char accounts_passdb[];

/* The whole of main() for a test in these accounts: logs as name, runs
 * run_tests under the wrappers (pamwrap_main) and returns done()'s status
 * (the test's tap_done: TAP's count is the test's own). */
int accounts_main(char **argv, const char *name,
		  void (*run_tests)(const char *dir, const char *why), int (*done)(void));

/* What this run can rely on; why_* say why not, for tap_skip. */
struct accounts_found {
	bool accounts;   /* nss_wrapper is active: the accounts above resolve */
	bool pam;        /* pam_wrapper is active */
	bool pam_exec;   /* Linux-PAM's pam_exec.so, to see PAM_RHOST */
	const char *why_no_accounts;
	const char *why_no_pam;
};

/* Looks at the run: why is pamwrap's reason the wrappers are missing
 * (NULL in the wrapped run). */
struct accounts_found accounts_detect(const char *why);

/* The usual configuration: database pop.auth in the test directory,
 * mail-owner vmail, min-uid 1000, client 192.0.2.7. */
struct auth_config accounts_cfg(void);

/* auth_verify_plain() with a 256-byte reason buffer. */
enum auth_result accounts_plain(const struct auth_config *c, const char *user,
				const char *pw, struct auth_user *u, char *reason);

/* Creates pop.auth with the virtual users vuser ("vsecret"), mrose
 * ("tanstaaf", RFC 1939's APOP example) and carol@example.org ("c4r0l").
 * Exits on failure (the test cannot run). */
void accounts_make_db(void);

/* Writes noise.auth, 4 KiB that are not a GDBM file, and returns its path
 * (as testdir_path's). */
const char *accounts_noise_db(void);

#endif
