/*
 * fuzz_config: the configuration parser (lib/confparse.c, the grammar)
 * and the option table behind it (server/options.c): popper.conf as root
 * reads it at start-up, the per-user option files a session reads after
 * login (-u: ~/.qpopper-options, written by the user; -U: the
 * administrator's <spool-dir>/.USER.qpopper-options), and single options
 * as the command line's switches set them.
 *
 * Checked besides the sanitizers: whatever settings a file leaves,
 * "popper -n" (settings_print) writes them as a popper.conf that reads
 * back without error to settings that print the same.
 *
 * Input: byte 0 picks the way in (0 popper.conf, 1 -u, 2 -U, 3 one
 * option: name, 0xff, value; a value "!" resets, "?" sets a boolean
 * without a value); the rest is the file.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "server/settings.h"
#include "tests/fuzz/fuzzutil.h"

/* The uid of the user whose -U file it is: not the file's owner (root,
 * or the harness's user), which is what the rule wants. */
#define OTHER_UID 54321

static char casedir[600];

/* settings_print's text of s, malloc'd. */
static char *printed(const struct settings *s, size_t *len_r)
{
	char *text = NULL;
	FILE *fp = open_memstream(&text, len_r);

	if (fp == NULL)
		fz_die("open_memstream");
	settings_print(s, fp);
	fclose(fp);
	return text;
}

/* The print of s must read back to the same print. */
static void check_print(const struct settings *s)
{
	struct settings again;
	char err[4096];
	size_t n1, n2;
	char *one = printed(s, &n1), *two;

	fz_write(fz_path(casedir, "printed.conf"), one, n1, 0600);
	settings_init(&again);
	if (settings_load_file(&again, fz_path(casedir, "printed.conf"), err, sizeof(err)) != 0) {
		fprintf(stderr, "settings_print wrote what does not read back: %s\n%s", err, one);
		abort();
	}
	two = printed(&again, &n2);
	if (n1 != n2 || memcmp(one, two, n1) != 0) {
		fprintf(stderr, "settings read back print differently:\n%s----\n%s", one, two);
		abort();
	}
	settings_free(&again);
	free(one);
	free(two);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_log_quiet("fuzz_config");
	snprintf(casedir, sizeof(casedir), "%s", fz_path(fz_tmpdir("fuzz_config"), "c"));
	fz_mkdir(casedir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd0 = fz_fd_lowest();
	struct fz_in in = { data, size };
	struct settings s;
	char err[4096];
	int rc = -1;
	uint8_t mode = fz_byte(&in) % 4;

	fz_clear(casedir);
	settings_init(&s);
	if (mode == 0) {
		fz_write(fz_path(casedir, "popper.conf"), in.p, in.len, 0600);
		rc = settings_load_file(&s, fz_path(casedir, "popper.conf"), err, sizeof(err));
	} else if (mode == 1) {
		fz_write(fz_path(casedir, ".qpopper-options"), in.p, in.len, 0600);
		s.user_options = true;
		rc = settings_load_user_options(&s, "alice", casedir, geteuid(), err, sizeof(err));
	} else if (mode == 2) {
		free(s.spool_dir);
		s.spool_dir = strdup(casedir);
		if (s.spool_dir == NULL)
			fz_die("strdup");
		fz_write(fz_path(casedir, ".alice.qpopper-options"), in.p, in.len, 0600);
		s.spool_options = true;
		rc = settings_load_user_options(&s, "alice", NULL, OTHER_UID, err, sizeof(err));
	} else {
		const uint8_t *p;
		size_t n;
		char *name, *value;

		fz_part(&in, &p, &n);
		name = strndup((const char *)p, n);
		fz_part(&in, &p, &n);
		value = strndup((const char *)p, n);
		if (name == NULL || value == NULL)
			fz_die("strndup");
		if (strcmp(value, "!") == 0)
			rc = settings_apply(&s, name, NULL, true) == NULL ? 0 : -1;
		else if (strcmp(value, "?") == 0)
			rc = settings_apply(&s, name, NULL, false) == NULL ? 0 : -1;
		else
			rc = settings_apply(&s, name, value, false) == NULL ? 0 : -1;
		free(name);
		free(value);
	}
	if (rc == 0)
		check_print(&s);
	settings_free(&s);
	fz_fd_check(fd0);
	return 0;
}
