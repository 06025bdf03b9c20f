/*
 * testdir: the temporary directory of one unit test (see
 * tests/unit/auth/testdir.h).
 */
#include "config.h"

#include "tests/unit/auth/testdir.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[512];

int testdir_make(const char *name)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return -1;
	}
	return 0;
}

void testdir_use(const char *d)
{
	snprintf(dir, sizeof(dir), "%s", d);
}

const char *testdir(void)
{
	return dir;
}

const char *testdir_path(const char *name)
{
	static char buf[64][600];
	static int slot;

	slot = (slot + 1) % 64;
	snprintf(buf[slot], sizeof(buf[slot]), "%s/%s", dir, name);
	return buf[slot];
}

void testdir_write(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0 || (len > 0 && write(fd, data, len) != (ssize_t)len)) {
		perror(path);
		exit(1);
	}
	close(fd);
	chmod(path, mode);
}

void testdir_remove(void)
{
	char cmd[700];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}
