/*
 * fileops: the helpers the mbox stores share (mbox.c, mbox_update.c,
 * tempdrop.c): copying and hashing byte ranges of files in blocks, the
 * little-endian fields of their on-disk journal and marker, the signal mask
 * a commit runs under (their failure texts go through lib/reason.h).
 * Runs as the user, like its callers.
 */
#ifndef POPPER_FILEOPS_H
#define POPPER_FILEOPS_H

#include <endian.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/reason.h"

struct uidstore_hasher;

/* The smaller of a and b. */
static inline uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Little-endian integers at p (unaligned): the on-disk byte order of the
 * update journal and the temp-drop marker. */
static inline void put64(unsigned char *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static inline uint64_t get64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static inline void put32(unsigned char *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static inline uint32_t get32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

/* A malloc'd copy of s, or NULL when s is NULL; sets *fail when out of
 * memory (so that several copies can be checked once). */
char *dup_or_null(const char *s, bool *fail);

/* Blocks the catchable signals that would cut a commit short (TERM, HUP,
 * INT, PIPE, ALRM); the previous mask goes to *old for sigprocmask(). */
void fileops_block_signals(sigset_t *old);

/* Copies len bytes from (src, soff) to (dst, doff) in MBOX_MOVE_BLOCK
 * blocks through buf (that large), front to back: correct for an
 * overlapping move towards lower offsets.  Feeds the bytes to hs when hs is
 * not NULL, and calls step(stepname) after each block when step is not NULL
 * (the crash tests' hooks).  Returns 0 or -1 with errno. */
int fileops_copy(int src, uint64_t soff, int dst, uint64_t doff, uint64_t len,
		 unsigned char *buf, struct uidstore_hasher *hs,
		 void (*step)(const char *), const char *stepname);

/* Sets *hash_r to the uidstore hash (seed) of fd[off, off + len), read in
 * MBOX_MOVE_BLOCK blocks through buf (that large).  Returns 0 or -1 with
 * errno (EIO when the file is shorter). */
int fileops_hash(int fd, uint64_t off, uint64_t len, uint64_t seed, unsigned char *buf,
		 uint64_t *hash_r);

#endif
