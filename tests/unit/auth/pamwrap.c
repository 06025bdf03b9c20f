/*
 * pamwrap: runs a unit test of auth/ under pam_wrapper and nss_wrapper (see
 * tests/unit/auth/pamwrap.h).
 */
#include "config.h"

#include "tests/unit/auth/pamwrap.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/auth/testdir.h"

static void put_text(const char *path, const char *text, mode_t mode)
{
	testdir_write(path, text, strlen(text), mode);
}

/* dl_iterate_phdr callback: the path of a loaded ASan runtime. */
struct found_path {
	char *buf;
	size_t size;
};

static int find_asan_runtime(struct dl_phdr_info *info, size_t size, void *data)
{
	struct found_path *out = data;
	const char *base = strrchr(info->dlpi_name, '/');

	(void)size;
	if (base == NULL || strncmp(base + 1, "libasan.so", 10) != 0)
		return 0;
	snprintf(out->buf, out->size, "%s", info->dlpi_name);
	return 1;
}

/* The file the loader would use for soname, or false. */
static bool loaded_path(const char *soname, char *out, size_t outsize)
{
	struct link_map *lm = NULL;
	void *h = dlopen(soname, RTLD_LAZY | RTLD_LOCAL);
	bool found = false;

	if (h == NULL)
		return false;
	if (dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm != NULL && lm->l_name[0] == '/') {
		snprintf(out, outsize, "%s", lm->l_name);
		found = true;
	}
	dlclose(h);
	return found;
}

/* One PAM service file: "auth" and "account" over pam_matrix with passdb
 * (and an extra auth argument). */
static void put_service(const char *name, const char *matrix, const char *passdb,
			const char *auth_arg)
{
	char svc[2048];

	snprintf(svc, sizeof(svc), "auth required %s passdb=%s%s\naccount required %s passdb=%s\n",
		 matrix, passdb, auth_arg, matrix, passdb);
	put_text(testdir_path(name), svc, 0644);
}

/* pam_exec (in libpam's "security" directory) shows what PAM_RHOST the
 * modules see: the service popper-rhost, when pam_exec.so is there. */
static void put_rhost_service(const char *matrix)
{
	char pamexec[600], svc[2048], *slash;

	if (!loaded_path("libpam.so.0", pamexec, sizeof(pamexec)) ||
	    (slash = strrchr(pamexec, '/')) == NULL)
		return;
	snprintf(slash, sizeof(pamexec) - (size_t)(slash - pamexec), "/security/pam_exec.so");
	if (access(pamexec, R_OK) != 0)
		return;
	put_text(testdir_path("rhost.sh"),
		 "#!/bin/sh\nprintf '%s' \"$PAM_RHOST\" > \"$0.out\"\n", 0755);
	snprintf(svc, sizeof(svc),
		 "auth required %s quiet %s\nauth required %s passdb=%s\n"
		 "account required %s passdb=%s\n",
		 pamexec, testdir_path("rhost.sh"), matrix, testdir_path("passdb"), matrix, testdir_path("passdb"));
	put_text(testdir_path("pam.d/popper-rhost"), svc, 0644);
	setenv("POPPER_TEST_PAM_EXEC", "1", 1);
}

/* Finds pam_matrix.so into matrix: $PAM_MATRIX_MODULE, or beside pamlib. */
static bool find_matrix(const char *pamlib, char *matrix, size_t size)
{
	const char *env_matrix = getenv("PAM_MATRIX_MODULE");
	const char *slash = strrchr(pamlib, '/');

	if (env_matrix != NULL && env_matrix[0] != '\0')
		snprintf(matrix, size, "%s", env_matrix);
	else
		snprintf(matrix, size, "%.*s/pam_wrapper/pam_matrix.so",
			 (int)(slash - pamlib), pamlib);
	return access(matrix, R_OK) == 0;
}

/* Writes the files, re-executes argv under the wrappers and waits.
 * Returns -1 (*why_r set) when the wrappers are missing, else the wrapped
 * run's exit status. */
static int run_wrapped(char **argv, const struct pamwrap_setup *s, const char **why_r)
{
	char pamlib[512], nsslib[512] = "", matrix[600], preload[1800], asanlib[512];
	struct found_path asan = { asanlib, sizeof(asanlib) };
	bool have_asan;
	pid_t pid;
	int status;

	if (!loaded_path("libpam_wrapper.so", pamlib, sizeof(pamlib)))
		return -1;
	if (s->passwd != NULL && !loaded_path("libnss_wrapper.so", nsslib, sizeof(nsslib)))
		return -1;
	if (!find_matrix(pamlib, matrix, sizeof(matrix))) {
		*why_r = "pam_matrix.so not found beside libpam_wrapper.so (set PAM_MATRIX_MODULE)";
		return -1;
	}
	if (s->passwd != NULL) {
		put_text(testdir_path("passwd"), s->passwd, 0644);
		put_text(testdir_path("group"), s->group, 0644);
	}
	put_text(testdir_path("passdb"), s->passdb, 0600);
	mkdir(testdir_path("pam.d"), 0700);
	put_service("pam.d/popper", matrix, testdir_path("passdb"), "");
	put_service("pam.d/popper-echo", matrix, testdir_path("passdb"), " echo");
	put_service("pam.d/popper-verbose", matrix, testdir_path("passdb"), " verbose");
	/* Linux-PAM's fallback for unknown services: cannot authenticate. */
	put_service("pam.d/other", matrix, testdir_path("no-such-passdb"), "");
	/* A passdb that does not exist: PAM_AUTHINFO_UNAVAIL. */
	put_service("pam.d/popper-broken", matrix, testdir_path("no-such-passdb"), "");
	put_rhost_service(matrix);

	/* Under gcc's -fsanitize=address the shared ASan runtime must come
	 * first in LD_PRELOAD or it refuses to start; seeing it there, the
	 * wrappers also leave out RTLD_DEEPBIND, which ASan cannot work with. */
	have_asan = dl_iterate_phdr(find_asan_runtime, &asan) != 0;
	snprintf(preload, sizeof(preload), "%s%s%s%s%s", have_asan ? asanlib : "",
		 have_asan ? ":" : "", pamlib, nsslib[0] != '\0' ? ":" : "", nsslib);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		setenv("LD_PRELOAD", preload, 1);
		setenv("PAM_WRAPPER", "1", 1);
		setenv("PAM_WRAPPER_SERVICE_DIR", testdir_path("pam.d"), 1);
		if (s->passwd != NULL) {
			setenv("NSS_WRAPPER_PASSWD", testdir_path("passwd"), 1);
			setenv("NSS_WRAPPER_GROUP", testdir_path("group"), 1);
		}
		setenv(PAMWRAP_ENV_DIR, testdir(), 1);
		/* argv[0] first: under valgrind /proc/self/exe is valgrind */
		if (strchr(argv[0], '/') != NULL)
			execv(argv[0], argv);
		execv("/proc/self/exe", argv);
		perror("re-executing under the wrappers");
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status)) {
		printf("# the wrapped run died of signal %d\n", WTERMSIG(status));
		return 1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int pamwrap_main(char **argv, const struct pamwrap_setup *s, int (*done)(void))
{
	const char *wrapped = getenv(PAMWRAP_ENV_DIR);
	const char *why = s->passwd != NULL
		? "needs libpam-wrapper and libnss-wrapper (not found)"
		: "needs libpam-wrapper (not found)";
	int rc;

	if (wrapped != NULL) {
		testdir_use(wrapped);
		s->run_tests(testdir(), NULL);
		return done();
	}
	if (testdir_make(s->name) < 0)
		return 1;
	rc = run_wrapped(argv, s, &why);
	if (rc < 0) {
		/* No wrappers: what needs none still runs. */
		s->run_tests(testdir(), why);
		rc = done();
	}
	testdir_remove();
	return rc;
}
