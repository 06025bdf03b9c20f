/*
 * test_fileops: the block helpers of the maildrop (server/maildrop/fileops.c):
 * a copy that moves bytes down inside one file (the in-place compaction)
 * must be a correct overlapping move across block boundaries, feed the
 * hash the bytes it moved and call the crash tests' hook once per block;
 * the range hash must equal uidstore's hash of the same bytes, and a file
 * shorter than the range is an error (EIO), never a short answer.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/safeopen.h"
#include "server/maildrop/fileops.h"
#include "server/maildrop/uidstore.h"
#include "tests/unit/tap.h"

static char dir[] = "/tmp/test_fileops.XXXXXX";
static unsigned char *buf;      /* FILEOPS_BLOCK bytes, the helpers' buffer */

static int hook_calls;
static const char *hook_last;

static void count_hook(const char *step)
{
	hook_calls++;
	hook_last = step;
}

static void (*test_hook)(const char *step);

/* A file of n pseudo-random bytes (also returned in *data_r). */
static int make_file(const char *name, size_t n, unsigned char **data_r)
{
	char path[256];
	unsigned char *d = malloc(n + 1);
	size_t i;
	uint32_t x = 2463534242u;
	int fd;

	if (d == NULL)
		die("malloc");
	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		d[i] = (unsigned char)x;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || safe_pwrite_all(fd, d, n, 0) < 0)
		die(path);
	*data_r = d;
	return fd;
}

static bool file_is(int fd, const unsigned char *want, size_t n)
{
	unsigned char *got = malloc(n + 1);
	bool same;

	if (got == NULL)
		die("malloc");
	same = safe_pread_all(fd, got, n, 0) == 0 && memcmp(got, want, n) == 0;
	free(got);
	return same;
}

static void test_overlapping_move(void)
{
	/* Two and a half blocks moved down by less than a block: every
	 * block's source overlaps the destination of the next one. */
	size_t n = 3 * FILEOPS_BLOCK + 1000, len = FILEOPS_BLOCK * 5 / 2, src = FILEOPS_BLOCK / 2 + 123,
	       dst = 7;
	unsigned char *d, *want = malloc(n);
	struct uidstore_hasher hs;
	int fd = make_file("move", n, &d);

	if (want == NULL)
		die("malloc");
	memcpy(want, d, n);
	memmove(want + dst, d + src, len);
	uidstore_hash_init(&hs, 42);
	hook_calls = 0;
	test_hook = count_hook;
	ok(fileops_copy(fd, src, fd, dst, len, buf, &hs, &test_hook, "move") == 0,
	   "copy down inside one file, 2.5 blocks");
	ok(file_is(fd, want, n), "the result is an overlapping move (memmove), the rest untouched");
	ok(uidstore_hash_final(&hs) == uidstore_hash(d + src, len, 42),
	   "the hash was fed exactly the bytes moved");
	ok(hook_calls == 3 && hook_last != NULL && strcmp(hook_last, "move") == 0,
	   "the hook is called once per block, with the step's name");
	test_hook = NULL;
	hook_calls = 0;
	ok(fileops_copy(fd, 0, fd, 0, 10, buf, NULL, &test_hook, "x") == 0 && hook_calls == 0,
	   "a hook variable that holds NULL is not called");
	ok(fileops_copy(fd, 0, fd, 0, 10, buf, NULL, NULL, NULL) == 0, "no hook at all");
	ok(fileops_copy(fd, 0, fd, 0, 0, buf, NULL, NULL, NULL) == 0, "an empty copy");
	close(fd);
	free(d);
	free(want);
}

static void test_copy_between_files(void)
{
	unsigned char *a, *b;
	int fa = make_file("a", 5000, &a), fb = make_file("b", 100, &b);
	unsigned char *want = malloc(2100);

	if (want == NULL)
		die("malloc");
	memcpy(want, b, 100);
	memset(want + 100, 0, 1000);
	memcpy(want + 1100, a + 4000, 1000);
	ok(fileops_copy(fa, 4000, fb, 1100, 1000, buf, NULL, NULL, NULL) == 0 &&
	   file_is(fb, want, 2100), "copy to another file, past its end (a hole before)");
	errno = 0;
	ok(fileops_copy(fa, 4500, fb, 0, 1000, buf, NULL, NULL, NULL) < 0 && errno == EIO,
	   "source shorter than the range: -1, EIO");
	ok(fileops_copy(fa, 0, -1, 0, 10, buf, NULL, NULL, NULL) < 0 && errno == EBADF,
	   "write error: -1 with write's errno");
	close(fa);
	close(fb);
	free(a);
	free(b);
	free(want);
}

static void test_hash(void)
{
	size_t n = FILEOPS_BLOCK + 777;
	unsigned char *d;
	uint64_t h = 0;
	int fd = make_file("hash", n, &d);

	ok(fileops_hash(fd, 5, n - 5, 7, buf, &h) == 0 && h == uidstore_hash(d + 5, n - 5, 7),
	   "hash of a range over a block boundary = uidstore_hash of its bytes");
	ok(fileops_hash(fd, 3, 0, 9, buf, &h) == 0 && h == uidstore_hash(d, 0, 9),
	   "hash of an empty range = the seed's empty hash");
	h = 12345;
	errno = 0;
	ok(fileops_hash(fd, n - 10, 11, 7, buf, &h) < 0 && errno == EIO && h == 12345,
	   "a file one byte short of the range: -1, EIO, no hash");
	ok(fileops_hash(-1, 0, 1, 7, buf, &h) < 0 && errno == EBADF, "read error: -1");
	close(fd);
	free(d);
}

static void test_small(void)
{
	bool fail = false;
	char *s;
	sigset_t old, now;

	ok(fileops_min64(3, 5) == 3 && fileops_min64(5, 3) == 3 &&
	   fileops_min64(UINT64_MAX, 1) == 1, "min64");
	ok(fileops_dup_or_null(NULL, &fail) == NULL && !fail, "dup of NULL: NULL, no failure");
	s = fileops_dup_or_null("abc", &fail);
	ok(s != NULL && strcmp(s, "abc") == 0 && !fail, "dup of a string");
	free(s);

	sigemptyset(&now);
	sigprocmask(SIG_SETMASK, &now, NULL);
	fileops_block_signals(&old);
	sigprocmask(SIG_SETMASK, NULL, &now);
	ok(sigismember(&now, SIGTERM) && sigismember(&now, SIGHUP) && sigismember(&now, SIGINT) &&
	   sigismember(&now, SIGPIPE) && sigismember(&now, SIGALRM) && !sigismember(&now, SIGUSR1),
	   "block_signals: TERM HUP INT PIPE ALRM blocked, others not");
	ok(!sigismember(&old, SIGTERM), "the previous mask is given back");
	sigprocmask(SIG_SETMASK, &old, NULL);
}

int main(void)
{
	char cmd[300];

	if (mkdtemp(dir) == NULL)
		die("mkdtemp");
	buf = malloc(FILEOPS_BLOCK);
	if (buf == NULL)
		die("malloc");
	test_overlapping_move();
	test_copy_between_files();
	test_hash();
	test_small();
	free(buf);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		die("rm");
	return tap_done();
}
