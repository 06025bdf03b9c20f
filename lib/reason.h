/*
 * reason: the log-only text every fallible operation of popper fills in.
 *
 * The convention across the tree: a function that can fail takes
 * (char *reason, size_t reasonsize) and, on failure, writes there why, for
 * the log only (never for the client: see the reply functions in
 * server/commands.h).  These two helpers are the one way to fill it, so that
 * a NULL or zero-sized buffer is always allowed and a long text is always
 * cut, never overflowed.
 */
#ifndef POPPER_REASON_H
#define POPPER_REASON_H

#include <stddef.h>

/* Formats into reason[size]; does nothing when reason is NULL or size 0. */
void reason_set(char *reason, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Copies text (no format) into reason[size], cut to fit; does nothing when
 * reason is NULL or size 0. */
void reason_copy(char *reason, size_t size, const char *text);

#endif
