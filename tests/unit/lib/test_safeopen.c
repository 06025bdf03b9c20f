/*
 * test_safeopen: the file-opening rules for places users can influence
 * (symlinks, FIFOs, directories, hard links, owner and mode), the small-file
 * reader's size cap, and the write/pread loops.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/safeopen.h"
#include "tests/unit/tap.h"

static char dir[400];

static const char *path_in(const char *name)
{
	static char bufs[4][512];
	static int next;
	char *p = bufs[next++ % 4];

	snprintf(p, 512, "%s/%s", dir, name);
	return p;
}

static void make_file(const char *name, const char *content, mode_t mode)
{
	int fd = open(path_in(name), O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0 || safe_write_all(fd, content, strlen(content)) < 0) {
		perror(name);
		exit(2);
	}
	close(fd);
	if (chmod(path_in(name), mode) < 0) {
		perror(name);
		exit(2);
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Opens name with safe_open and reports fd/errno/why. */
static int try_open(const char *name, int flags, const struct safeopen_rules *rules,
		    const char **why_r)
{
	int fd;

	*why_r = "unset";
	errno = 0;
	fd = safe_open(path_in(name), flags, 0600, rules, NULL, why_r);
	return fd;
}

static void expect_refused(const char *name, int flags, const struct safeopen_rules *rules,
			   int want_errno, const char *what)
{
	const char *why;
	int fd = try_open(name, flags, rules, &why);
	int e = errno;

	ok(fd < 0 && e == want_errno && why != NULL && strcmp(why, "unset") != 0,
	   "%s (errno %s, \"%s\")", what, strerror(e), why != NULL ? why : "(null)");
	if (fd >= 0)
		close(fd);
}

static void test_open_plain(void)
{
	struct stat st;
	const char *why;
	int fd, fl;

	make_file("plain", "hello\n", 0600);
	fd = try_open("plain", O_RDONLY, NULL, &why);
	ok(fd >= 0, "a plain regular file opens");
	fl = fd >= 0 ? fcntl(fd, F_GETFL) : 0;
	ok(fd >= 0 && (fl & O_NONBLOCK) == 0, "O_NONBLOCK is cleared again");
	ok(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0, "close-on-exec is set");
	if (fd >= 0)
		close(fd);
	fd = safe_open(path_in("plain"), O_RDONLY | O_NONBLOCK, 0, NULL, &st, NULL);
	ok(fd >= 0 && (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0,
	   "O_NONBLOCK asked for by the caller is kept");
	ok(st.st_size == 6, "the stat is returned");
	if (fd >= 0)
		close(fd);
}

static void test_open_symlink(void)
{
	ok(symlink(path_in("plain"), path_in("link")) == 0, "setup: symlink");
	expect_refused("link", O_RDONLY, NULL, ELOOP, "symlink refused with ELOOP");
	expect_refused("link", O_RDWR | O_CREAT, NULL, ELOOP, "symlink refused also with O_CREAT");
}

/* Nobody holds the other end, so a careless open would hang here. */
static void test_open_fifo(void)
{
	double t0;

	ok(mkfifo(path_in("fifo"), 0600) == 0, "setup: FIFO");
	t0 = now_s();
	expect_refused("fifo", O_RDONLY, NULL, EINVAL, "FIFO refused for reading");
	expect_refused("fifo", O_WRONLY, NULL, EINVAL, "FIFO refused for writing");
	ok(now_s() - t0 < 2.0, "... without blocking");
}

static void test_open_directory(void)
{
	ok(mkdir(path_in("subdir"), 0700) == 0, "setup: directory");
	expect_refused("subdir", O_RDONLY, NULL, EINVAL, "directory refused (read)");
	expect_refused("subdir", O_RDWR, NULL, EINVAL, "directory refused (read-write)");
}

static void test_open_socket(void)
{
	struct sockaddr_un sun;
	int sfd = socket(AF_UNIX, SOCK_STREAM, 0);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path_in("sock"));
	if (sfd >= 0 && strlen(path_in("sock")) < sizeof(sun.sun_path) &&
	    bind(sfd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		expect_refused("sock", O_RDONLY, NULL, EINVAL, "socket refused");
	else
		tap_skip("cannot bind a Unix socket here", "socket refused");
	if (sfd >= 0)
		close(sfd);
}

static void test_open_device(void)
{
	const char *why;
	int fd = safe_open("/dev/null", O_RDONLY, 0, NULL, NULL, &why);

	ok(fd < 0 && errno == EINVAL, "character device refused");
	if (fd >= 0)
		close(fd);
}

/* A second name (nlink 2) is refused, and O_TRUNC must not reach it. */
static void test_open_hard_link(void)
{
	struct stat st;

	make_file("victim", "precious data\n", 0600);
	ok(link(path_in("victim"), path_in("hardlink")) == 0, "setup: hard link");
	expect_refused("hardlink", O_RDONLY, NULL, EINVAL, "hard link (nlink 2) refused");
	expect_refused("hardlink", O_WRONLY | O_TRUNC, NULL, EINVAL,
		       "hard link refused for O_WRONLY|O_TRUNC");
	ok(stat(path_in("victim"), &st) == 0 && st.st_size == 14,
	   "the refused file was not truncated");
	unlink(path_in("hardlink"));
}

/* Runs after test_open_hard_link, which leaves "victim" with one name. */
static void test_open_truncate(void)
{
	struct stat st;
	int fd = safe_open(path_in("victim"), O_WRONLY | O_TRUNC, 0, NULL, &st, NULL);

	ok(fd >= 0 && st.st_size == 0, "O_TRUNC applied after the checks");
	if (fd >= 0) {
		fstat(fd, &st);
		ok(st.st_size == 0, "... the file is empty");
		close(fd);
	}
}

static void test_open_create(void)
{
	struct stat st;
	const char *why;
	int fd;

	fd = safe_open(path_in("new"), O_WRONLY | O_CREAT | O_EXCL, 0600, NULL, &st, NULL);
	ok(fd >= 0 && (st.st_mode & 0777) == 0600 && st.st_nlink == 1, "O_CREAT makes a 0600 file");
	if (fd >= 0)
		close(fd);
	errno = 0;
	fd = safe_open(path_in("new"), O_WRONLY | O_CREAT | O_EXCL, 0600, NULL, NULL, NULL);
	ok(fd < 0 && errno == EEXIST, "O_EXCL still works");
	errno = 0;
	fd = safe_open(path_in("missing"), O_RDONLY, 0, NULL, NULL, &why);
	ok(fd < 0 && errno == ENOENT && why != NULL, "missing file: ENOENT with a reason");
}

static void test_open_owner_rule(void)
{
	struct safeopen_rules rules;
	const char *why;
	int fd;

	memset(&rules, 0, sizeof(rules));
	rules.check_owner = true;
	rules.owner = getuid();
	fd = try_open("plain", O_RDONLY, &rules, &why);
	ok(fd >= 0, "owner rule: our own file passes");
	if (fd >= 0)
		close(fd);
	rules.owner = getuid() + 1;
	expect_refused("plain", O_RDONLY, &rules, EPERM, "owner rule: wrong owner refused (EPERM)");
}

static void expect_accepted(const char *name, const struct safeopen_rules *rules,
			    const char *what)
{
	const char *why;
	int fd = try_open(name, O_RDONLY, rules, &why);

	ok(fd >= 0, "%s", what);
	if (fd >= 0)
		close(fd);
}

static void test_open_mode_rules(void)
{
	struct safeopen_rules rules;

	memset(&rules, 0, sizeof(rules));
	rules.no_group_write = true;
	make_file("g-w", "x", 0620);
	expect_refused("g-w", O_RDONLY, &rules, EPERM, "no_group_write: 0620 refused");
	make_file("g-r", "x", 0640);
	expect_accepted("g-r", &rules, "no_group_write: 0640 accepted");

	memset(&rules, 0, sizeof(rules));
	rules.no_other_access = true;
	make_file("o-r", "x", 0604);
	expect_refused("o-r", O_RDONLY, &rules, EPERM, "no_other_access: 0604 refused");
	make_file("o-x", "x", 0601);
	expect_refused("o-x", O_RDONLY, &rules, EPERM, "no_other_access: 0601 refused");
	expect_accepted("g-r", &rules, "no_other_access: 0640 accepted");

	memset(&rules, 0, sizeof(rules));
	rules.no_group_access = true;
	expect_refused("g-r", O_RDONLY, &rules, EPERM, "no_group_access: 0640 refused");
	expect_accepted("plain", &rules, "no_group_access: 0600 accepted");
}

static void test_openat(void)
{
	char buf[64];
	int fd, dfd = open(dir, O_RDONLY | O_DIRECTORY);

	fd = safe_openat(dfd, "plain", O_RDONLY, 0, NULL, NULL, NULL);
	ok(fd >= 0, "safe_openat opens a file relative to a directory");
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf));

		ok(n == 6 && memcmp(buf, "hello\n", 6) == 0, "... the right file");
		close(fd);
	}
	errno = 0;
	fd = safe_openat(dfd, "link", O_RDONLY, 0, NULL, NULL, NULL);
	ok(fd < 0 && errno == ELOOP, "safe_openat refuses a symlink too");
	close(dfd);
}

static void test_small_file(void)
{
	char *text;
	size_t len = 0;
	const char *why = NULL;
	static char content[4097];

	memset(content, 'c', 4096);
	content[4096] = '\0';
	make_file("small", content, 0600);

	text = safe_read_small_file(path_in("small"), 4096, NULL, &len, &why);
	ok(text != NULL && len == 4096 && text[4096] == '\0' && memcmp(text, content, 4096) == 0,
	   "file of exactly max_size is read whole, NUL-terminated");
	free(text);
	errno = 0;
	text = safe_read_small_file(path_in("small"), 4095, NULL, &len, &why);
	ok(text == NULL && errno == EFBIG, "file of max_size + 1 refused with EFBIG");
	free(text);
	text = safe_read_small_file(path_in("small"), 1 << 20, NULL, &len, &why);
	ok(text != NULL && len == 4096, "a larger cap reads it");
	free(text);

	make_file("empty", "", 0600);
	text = safe_read_small_file(path_in("empty"), 100, NULL, &len, &why);
	ok(text != NULL && len == 0 && text[0] == '\0', "empty file: empty string");
	free(text);
	text = safe_read_small_file(path_in("empty"), 0, NULL, &len, &why);
	ok(text != NULL && len == 0, "empty file with max_size 0");
	free(text);

	errno = 0;
	text = safe_read_small_file(path_in("link"), 100, NULL, &len, &why);
	ok(text == NULL && errno == ELOOP, "small file reader refuses a symlink");
	errno = 0;
	text = safe_read_small_file(path_in("fifo"), 100, NULL, &len, &why);
	ok(text == NULL && errno == EINVAL, "small file reader refuses a FIFO");

	/* /proc files say size 0 but have content: the cap still holds */
	text = safe_read_small_file("/proc/self/status", 1 << 20, NULL, &len, &why);
	if (text == NULL && errno != EINVAL)
		tap_skip("no /proc/self/status", "size-0 file with content");
	else
		ok(text != NULL && len > 0 && strlen(text) == len,
		   "a file whose stat says 0 bytes is read to its real end");
	free(text);
	errno = 0;
	text = safe_read_small_file("/proc/self/status", 10, NULL, &len, &why);
	ok(text == NULL && errno == EFBIG, "... and is refused when it is really bigger than the cap");
	free(text);
}

static void test_io_loops(void)
{
	char buf[16];
	int fd = open(path_in("io"), O_RDWR | O_CREAT | O_TRUNC, 0600);

	ok(safe_write_all(fd, "0123456789", 10) == 0, "write_all");
	ok(safe_pwrite_all(fd, "AB", 2, 3) == 0, "pwrite_all at an offset");
	memset(buf, 0, sizeof(buf));
	ok(safe_pread_all(fd, buf, 10, 0) == 0 && memcmp(buf, "012AB56789", 10) == 0,
	   "pread_all reads back what was written");
	errno = 0;
	ok(safe_pread_all(fd, buf, 5, 8) == -1 && errno == EIO, "pread_all past EOF: -1, EIO");
	ok(safe_pread_all(fd, buf, 0, 100) == 0, "pread_all of 0 bytes");
	close(fd);
	errno = 0;
	ok(safe_write_all(-1, "x", 1) == -1 && errno == EBADF, "write_all reports errors");
}

static void cleanup(void)
{
	static const char *const names[] = {
		"plain", "link", "fifo", "subdir", "sock", "victim", "hardlink", "new",
		"g-w", "g-r", "o-r", "o-x", "small", "empty", "io"
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (unlink(path_in(names[i])) < 0)
			rmdir(path_in(names[i]));
	}
	rmdir(dir);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	umask(022);
	snprintf(dir, sizeof(dir), "%s/popper-test-safeopen.XXXXXX",
		 tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		tap_skip("cannot create a temporary directory", "safeopen");
		return tap_done();
	}
	/* in this order: later tests reuse the files earlier ones leave */
	test_open_plain();
	test_open_symlink();
	test_open_fifo();
	test_open_directory();
	test_open_socket();
	test_open_device();
	test_open_hard_link();
	test_open_truncate();
	test_open_create();
	test_open_owner_rule();
	test_open_mode_rules();
	test_openat();
	test_small_file();
	test_io_loops();
	cleanup();
	return tap_done();
}
