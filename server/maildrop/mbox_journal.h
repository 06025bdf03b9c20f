/*
 * mbox_journal: the on-disk form of the mbox update journal and the proofs
 * recovery makes with it before it touches a spool (used by mbox_update.c,
 * which explains the phases).  Runs as the user.
 *
 * The file, <state_dir>/journal (tempdrop.journal for the temporary drop):
 *
 *   [0, 512)              header: one sector, rewritten whole to change phase
 *   [512, 512 + P)        payload: the old bytes of [region_off, new_size),
 *                         exactly what compaction overwrites
 *   [512 + P, + 24 R)     the R runs of the compaction in order, each
 *                         (src, dst, len) as little-endian 64-bit numbers;
 *                         the dst ranges tile [region_off, new_size)
 *
 * With the runs, recovery knows both versions of every byte compaction may
 * have written: the old one (payload) and the new one (the old byte at the
 * run's source, in the payload or in the untouched tail).  A spool byte
 * that is neither was written by someone else after the crash, and then
 * recovery leaves the spool alone.
 *
 * Version 1 journals (popper before the runs existed: no runs, a tail hash
 * over at most 4096 bytes, no hash of the new content) are still read, and
 * recovered with the checks they allow.
 */
#ifndef POPPER_MBOX_JOURNAL_H
#define POPPER_MBOX_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/maildrop/phaserec.h"
#include "server/maildrop/uidstore.h"

#define JOURNAL_HEADER_SIZE PHASEREC_SIZE   /* the header is a phase record */
#define JOURNAL_RUN_SIZE 24
#define JOURNAL_V1_TAIL_MAX 4096
#define JOURNAL_SEED 0x6a6f75726e616cULL
#define JOURNAL_PREPARED 1u     /* recovery undoes: writes the payload back */
#define JOURNAL_COMPACTED 2u    /* recovery completes: [0, new_size) is new */

struct journal_hdr {
	uint32_t version, phase;
	uint64_t dev, ino, orig_size, new_size, region_off;
	uint64_t tail_len, tail_hash;      /* of [new_size, new_size + tail_len) */
	uint64_t payload_len, payload_hash;
	uint64_t nruns, runs_hash;         /* version 2 */
	uint64_t new_hash;                 /* version 2, COMPACTED: of the new region */
};

struct journal_run {
	uint64_t src, dst, len;
};

/* A header for a new journal (version 2, PREPARED) of one commit. */
void journal_hdr_init(struct journal_hdr *h, uint64_t dev, uint64_t ino, uint64_t orig_size,
		      uint64_t new_size, uint64_t region_off);

/* The JOURNAL_HEADER_SIZE header bytes for h, checksummed (phaserec.h). */
void journal_encode(const struct journal_hdr *h, unsigned char *b);

/* True if b holds a header with the right magic, a version we read and a
 * good checksum. */
bool journal_decode(const unsigned char *b, struct journal_hdr *h);

/* True if the header's numbers agree with each other and with the journal
 * file's size. */
bool journal_shape_ok(const struct journal_hdr *h, uint64_t journal_size);

/* Offset of the runs table in the journal. */
uint64_t journal_runs_off(const struct journal_hdr *h);

/* Appends runs to the journal through a small buffer, hashing them. */
struct journal_runs_writer {
	int fd;
	uint64_t off, count;
	struct uidstore_hasher hs;
	size_t len;
	unsigned char buf[170 * JOURNAL_RUN_SIZE];
};
void journal_runs_begin(struct journal_runs_writer *w, int fd, uint64_t off);
int journal_runs_add(struct journal_runs_writer *w, const struct journal_run *r);
/* Flushes; sets the header's nruns and runs_hash.  0 or -1 with errno. */
int journal_runs_end(struct journal_runs_writer *w, struct journal_hdr *h);

/* Checks the payload and runs against their hashes and the runs against
 * the header (tiling, sources inside the old file).  Returns 1 if sound,
 * 0 if damaged, -1 with errno on a read error.  buf: FILEOPS_BLOCK bytes. */
int journal_verify(int jfd, const struct journal_hdr *h, unsigned char *buf);

/* Whether every byte of spool[region_off, new_size) is its old value or
 * the value compaction puts there (version 2 only; the tail must already
 * be proven untouched).  Returns 1 yes, 0 no, -1 with errno on a read
 * error.  buf: FILEOPS_BLOCK bytes. */
int journal_region_old_or_new(int spool, int jfd, const struct journal_hdr *h,
			      unsigned char *buf);

#endif
