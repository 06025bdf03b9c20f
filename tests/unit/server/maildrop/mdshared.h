/*
 * mdshared.h: what the fixtures of the mbox tests (mboxfixture) and of the
 * temp-drop tests (tdfixture) share: reading a file whole, and a copy of a
 * maildrop's UIDs to compare across sessions.  Include after testbuf.h.
 */
#ifndef POPPER_TEST_MDSHARED_H
#define POPPER_TEST_MDSHARED_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/maildrop/maildrop.h"
#include "tests/unit/testbuf.h"

/* The whole of path into b; false (b empty) when it does not exist. */
static inline bool read_file(const char *path, struct buf *b)
{
	char tmp[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	buf_reset(b);
	if (fd < 0) {
		if (errno == ENOENT)
			return false;
		die(path);
	}
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		buf_add(b, tmp, (size_t)n);
	close(fd);
	return true;
}

/* A copy of every message's UID, NULL-terminated; free with free_uids(). */
static inline char **save_uids(struct maildrop *md)
{
	unsigned i, n = maildrop_count(md);
	char **u = calloc(n + 1, sizeof(*u));

	for (i = 0; u != NULL && i < n; i++)
		u[i] = strdup(maildrop_msg_uid(md, i));
	return u;
}

static inline void free_uids(char **u)
{
	size_t i;

	for (i = 0; u != NULL && u[i] != NULL; i++)
		free(u[i]);
	free(u);
}

#endif
