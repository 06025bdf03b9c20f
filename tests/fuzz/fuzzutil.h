/*
 * fuzzutil.h: what the libFuzzer targets in tests/fuzz share (header-only,
 * like tests/unit/tap.h): one private temporary directory per process,
 * files written into it, a reader that hands out the fuzzer's bytes in
 * pieces, and a check that an input left no descriptor open.
 *
 * libFuzzer runs a target millions of times in one process, so a harness
 * must leave nothing behind per input: every file it writes lies in the
 * directory below, which it empties between inputs as it needs, and
 * fz_fd_check() stops the run when the lowest free descriptor has moved
 * up during an input (descriptors are handed out lowest first, so a
 * leaked one shows there).  The directory is removed at a normal exit; the
 * runner (tests/fuzz/fuzz.sh) points TMPDIR into a directory of its own
 * and removes that too, for the runs that end in a crash.
 *
 * Trouble setting a harness up is a bug of the harness: it aborts, so
 * libFuzzer reports it rather than carrying on with a broken fixture.
 */
#ifndef POPPER_FUZZUTIL_H
#define POPPER_FUZZUTIL_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "lib/log.h"

/* The entry points libFuzzer calls (declared for -Wmissing-prototypes). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/*
 * popper's log lines would be millions per run: the harnesses log to
 * "syslog", and these definitions, which the link prefers to the C
 * library's, drop every record there.  The records are still formatted
 * (lib/log.c), so that code runs too.  stderr stays free for libFuzzer,
 * the sanitizers and the harness's own findings.
 */
void openlog(const char *ident, int option, int facility)
{
	(void)ident;
	(void)option;
	(void)facility;
}

void closelog(void)
{
}

void syslog(int priority, const char *format, ...)
{
	(void)priority;
	(void)format;
}

/* popper's logging, into the void above. */
static void fz_log_quiet(const char *name) __attribute__((unused));
static void fz_log_quiet(const char *name)
{
	log_open(name, LOG_MAIL, LOG_TO_SYSLOG);
}

static void fz_die(const char *what) __attribute__((unused, noreturn));
static void fz_die(const char *what)
{
	fprintf(stderr, "fuzz harness: %s: %s\n", what, strerror(errno));
	abort();
}

static char fz_root[512];

static int fz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	/* The root itself stays until exit (fz_clear). */
	if (ftw->level == 0)
		return 0;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* Removes everything below dir (dir itself stays). */
static void fz_clear(const char *dir) __attribute__((unused));
static void fz_clear(const char *dir)
{
	if (nftw(dir, fz_rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
		fz_die(dir);
}

static void fz_remove_root(void)
{
	if (fz_root[0] == '\0')
		return;
	fz_clear(fz_root);
	(void)rmdir(fz_root);
	fz_root[0] = '\0';
}

/* Makes the process's temporary directory (once) and returns it. */
static const char *fz_tmpdir(const char *name) __attribute__((unused));
static const char *fz_tmpdir(const char *name)
{
	const char *tmp = getenv("TMPDIR");

	if (fz_root[0] != '\0')
		return fz_root;
	snprintf(fz_root, sizeof(fz_root), "%s/%s.XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp",
		 name);
	if (mkdtemp(fz_root) == NULL)
		fz_die("mkdtemp");
	atexit(fz_remove_root);
	return fz_root;
}

/* dir/name into a static buffer of its own (one of four, so a few can be in
 * use at once). */
static const char *fz_path(const char *dir, const char *name) __attribute__((unused));
static const char *fz_path(const char *dir, const char *name)
{
	static char bufs[4][1024];
	static unsigned next;
	char *b = bufs[next++ % 4];

	if ((size_t)snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name) >= sizeof(bufs[0]))
		fz_die("path too long");
	return b;
}

/* Writes a whole file (created or truncated) with mode. */
static void fz_write(const char *path, const void *data, size_t len, mode_t mode)
	__attribute__((unused));
static void fz_write(const char *path, const void *data, size_t len, mode_t mode)
{
	const char *p = data;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);

	if (fd < 0)
		fz_die(path);
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n <= 0)
			fz_die(path);
		p += n;
		len -= (size_t)n;
	}
	if (fchmod(fd, mode) < 0 || close(fd) < 0)
		fz_die(path);
}

/* Makes dir (mode 0700) if it does not exist. */
static void fz_mkdir(const char *dir) __attribute__((unused));
static void fz_mkdir(const char *dir)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		fz_die(dir);
}

/* The lowest free descriptor now (descriptors are handed out lowest
 * first, so one that an input leaks shows here). */
static int fz_fd_lowest(void) __attribute__((unused));
static int fz_fd_lowest(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		fz_die("/dev/null");
	close(fd);
	return fd;
}

/* Stops the run when the input that started with fz_fd_lowest() == before
 * left a descriptor open.  Checked per input: between inputs libFuzzer may
 * open descriptors of its own (its symbolizer's pipes). */
static void fz_fd_check(int before) __attribute__((unused));
static void fz_fd_check(int before)
{
	int now = fz_fd_lowest();

	if (now > before) {
		fprintf(stderr, "fuzz harness: descriptor leak: the lowest free descriptor is %d, "
			"was %d when the input started\n", now, before);
		abort();
	}
}

/* The fuzzer's bytes as a stream the harness takes parts from: small
 * numbers for its choices first, the rest as data. */
struct fz_in {
	const uint8_t *p;
	size_t len;
};

/* One byte (0 once the input is used up). */
static uint8_t fz_byte(struct fz_in *in) __attribute__((unused));
static uint8_t fz_byte(struct fz_in *in)
{
	uint8_t b;

	if (in->len == 0)
		return 0;
	b = in->p[0];
	in->p++;
	in->len--;
	return b;
}

/* A 16-bit number, little-endian. */
static unsigned fz_u16(struct fz_in *in) __attribute__((unused));
static unsigned fz_u16(struct fz_in *in)
{
	unsigned lo = fz_byte(in);

	return lo | (unsigned)fz_byte(in) << 8;
}

/* The next part: up to a byte 0xff-separated piece ("\xff" does not occur
 * in the text formats we feed, so seeds stay readable), or the rest. */
static void fz_part(struct fz_in *in, const uint8_t **p_r, size_t *len_r) __attribute__((unused));
static void fz_part(struct fz_in *in, const uint8_t **p_r, size_t *len_r)
{
	const uint8_t *sep = memchr(in->p, 0xff, in->len);
	size_t n = sep != NULL ? (size_t)(sep - in->p) : in->len;

	*p_r = in->p;
	*len_r = n;
	in->p += n;
	in->len -= n;
	if (sep != NULL) {
		in->p++;
		in->len--;
	}
}

/* A small deterministic generator (xorshift32) for chunk sizes. */
static uint32_t fz_rand(uint32_t *state) __attribute__((unused));
static uint32_t fz_rand(uint32_t *state)
{
	uint32_t x = *state != 0 ? *state : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

#endif
