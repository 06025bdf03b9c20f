/*
 * testlog.h: sends a unit test's log records (lib/log.c writes them to
 * stderr) to a file the test reads back, not into the TAP stream.
 * Header-only, like tap.h.
 */
#ifndef POPPER_TESTLOG_H
#define POPPER_TESTLOG_H

#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/tap.h"

/* From now on stderr appends to path (created empty, 0600). */
static void testlog_capture(const char *path) __attribute__((unused));
static void testlog_capture(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);

	if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
		die(path);
	close(fd);
}

/* What path (the log, or any small file) holds, at most size - 1 bytes,
 * NUL-terminated ("" if unreadable). */
static void testlog_read(const char *path, char *text, size_t size) __attribute__((unused));
static void testlog_read(const char *path, char *text, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, text, size - 1) : -1;

	text[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

#endif
