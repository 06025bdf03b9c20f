/*
 * testbuf.h: the growable byte buffer the maildrop unit tests build
 * mailboxes and expected output in.  Header-only, like tap.h; a test that
 * runs out of memory stops with status 2 (not a TAP failure).
 */
#ifndef POPPER_TESTBUF_H
#define POPPER_TESTBUF_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct buf {
	char *p;
	size_t len, cap;
};

/* Appends n bytes; the buffer stays NUL-terminated for printing. */
static void buf_add(struct buf *b, const void *d, size_t n) __attribute__((unused));
static void buf_add(struct buf *b, const void *d, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 256;

		while (ncap < b->len + n + 1)
			ncap *= 2;
		b->p = realloc(b->p, ncap);
		if (b->p == NULL)
			die("realloc");
		b->cap = ncap;
	}
	if (n > 0)
		memcpy(b->p + b->len, d, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_adds(struct buf *b, const char *s) __attribute__((unused));
static void buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void buf_addb(struct buf *b, const struct buf *o) __attribute__((unused));
static void buf_addb(struct buf *b, const struct buf *o)
{
	buf_add(b, o->p, o->len);
}

static void buf_reset(struct buf *b) __attribute__((unused));
static void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

static void buf_free(struct buf *b) __attribute__((unused));
static void buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static bool buf_eq(const struct buf *a, const struct buf *b) __attribute__((unused));
static bool buf_eq(const struct buf *a, const struct buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

#endif
