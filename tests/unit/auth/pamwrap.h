/*
 * pamwrap: runs a unit test of auth/ under pam_wrapper (real Linux-PAM with
 * pam_matrix as the module) and, when asked, nss_wrapper (made-up
 * accounts), for test_auth and test_auth_pam.
 *
 * The first run finds the wrappers (the loader finds libpam_wrapper.so and
 * libnss_wrapper.so; pam_matrix.so sits in the "pam_wrapper" directory
 * beside libpam_wrapper.so, or $PAM_MATRIX_MODULE), writes the files into a
 * temporary directory, re-executes the test with LD_PRELOAD and the
 * wrappers' variables, waits, and removes the directory.  Without the
 * wrappers the tests run unwrapped and skip, with the reason, what needs
 * them.
 *
 * PAM services written (all over the passdb given): "popper"; "popper-echo"
 * (pam_matrix's echo: the echo-on prompt); "popper-verbose" (module
 * messages); "popper-broken" and "other" (a passdb that does not exist:
 * PAM_AUTHINFO_UNAVAIL); "popper-rhost" (pam_exec writes PAM_RHOST to
 * rhost.sh.out first; only when pam_exec.so is found, and then
 * POPPER_TEST_PAM_EXEC is set).
 */
#ifndef POPPER_TEST_PAMWRAP_H
#define POPPER_TEST_PAMWRAP_H

#include <stddef.h>

/* Set (to the directory) in the wrapped run. */
#define PAMWRAP_ENV_DIR "POPPER_TEST_AUTH_DIR"

struct pamwrap_setup {
	const char *name;     /* the test's name: log and directory */
	const char *passwd;   /* nss_wrapper's passwd file; NULL: no nss_wrapper */
	const char *group;    /* its group file */
	const char *passdb;   /* pam_matrix's "user:password:service" lines */
	/* The checks; why is NULL in the wrapped run, else the reason the
	 * wrappers are missing.  dir is the test's directory either way. */
	void (*run_tests)(const char *dir, const char *why);
};

/* The whole of a wrapped test's main(): see the header.  Returns the exit
 * status for main (tap_done() must be called by run_tests' caller: here,
 * through done). */
int pamwrap_main(char **argv, const struct pamwrap_setup *s, int (*done)(void));

#endif
