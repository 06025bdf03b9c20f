/*
 * fileops: the file helpers the mbox store and temp-drop mode share
 * (mbox_update.c, mbox_journal.c, the tempdrop_*.c files): copying and
 * hashing byte ranges of files in blocks, and the signal mask a commit
 * runs under.  Lowest floor of server/maildrop/ with uidstore.c (whose
 * hash it feeds) and phaserec.c: it calls nothing above it.  Runs as the
 * user, like its callers.
 */
#ifndef POPPER_FILEOPS_H
#define POPPER_FILEOPS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct uidstore_hasher;

/* The block of every copy, hash and move of mail between files (also the
 * size of the buffers the callers pass in): large enough that a move is
 * a few system calls per megabyte. */
#define FILEOPS_BLOCK (1024 * 1024)

/* A crash test's step hook, as a pointer to the variable that holds it
 * (mbox_update_hook, tempdrop_hook: owned by the unit tests, NULL in the
 * server).  Read at each step, so copying calls the test directly and
 * never calls back into the file that asked for the copy. */
typedef void (*const *fileops_hook)(const char *step);

/* The smaller of a and b. */
static inline uint64_t fileops_min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* A malloc'd copy of s, or NULL when s is NULL; sets *fail when out of
 * memory (so that several copies can be checked once). */
char *fileops_dup_or_null(const char *s, bool *fail);

/* Blocks the catchable signals that would cut a commit short (TERM, HUP,
 * INT, PIPE, ALRM); the previous mask goes to *old for sigprocmask(). */
void fileops_block_signals(sigset_t *old);

/* Copies len bytes from (src, soff) to (dst, doff) in FILEOPS_BLOCK
 * blocks through buf (that large), front to back: correct for an
 * overlapping move towards lower offsets.  Feeds the bytes to hs when hs is
 * not NULL, and calls the hook *hook (when hook and *hook are not NULL)
 * with stepname after each block.  Returns 0 or -1 with errno. */
int fileops_copy(int src, uint64_t soff, int dst, uint64_t doff, uint64_t len,
		 unsigned char *buf, struct uidstore_hasher *hs,
		 fileops_hook hook, const char *stepname);

/* Sets *hash_r to the uidstore hash (seed) of fd[off, off + len), read in
 * FILEOPS_BLOCK blocks through buf (that large).  Returns 0 or -1 with
 * errno (EIO when the file is shorter). */
int fileops_hash(int fd, uint64_t off, uint64_t len, uint64_t seed, unsigned char *buf,
		 uint64_t *hash_r);

#endif
