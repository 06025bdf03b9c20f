/*
 * phaserec: the one-sector phase record that the maildrop's crash-safe
 * moves keep on the disk -- the header of the mbox update journal
 * (mbox_journal.c) and the temp-drop marker (tempdrop_marker.c).
 * Lowest floor of server/maildrop/ with uidstore.c (whose hash it uses);
 * runs as the user.
 *
 * A record is PHASEREC_SIZE bytes, rewritten whole to change phase:
 *
 *   [0, 8)            magic (names the kind of record)
 *   [8, 12)           version, little-endian 32 bits
 *   [12, 16)          phase, little-endian 32 bits
 *   [16, 16 + 8 N)    N fields, little-endian 64 bits (N depends on the
 *                     kind and the version)
 *   [16 + 8 N, + 8)   uidstore_hash(bytes [0, 16 + 8 N), kind's seed)
 *   the rest          zero
 *
 * A record whose bytes are all zero was never written (a hole or a file
 * created but not yet filled).
 */
#ifndef POPPER_PHASEREC_H
#define POPPER_PHASEREC_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PHASEREC_SIZE 512           /* one sector */
#define PHASEREC_MAGIC_LEN 8
#define PHASEREC_FIELDS_MAX 12      /* the journal's version 2 */
#define PHASEREC_VERSIONS_MAX 2

/* One kind of record: what tells it apart on the disk and which versions
 * are read. */
struct phaserec_kind {
	const char *magic;          /* PHASEREC_MAGIC_LEN bytes */
	uint64_t seed;              /* of the checksum */
	uint32_t versions;          /* versions 1..versions are read */
	/* fields[v - 1]: how many 64-bit fields version v has */
	unsigned char fields[PHASEREC_VERSIONS_MAX];
};

/* A decoded record: the fields in their on-disk order. */
struct phaserec {
	uint32_t version, phase;
	uint64_t field[PHASEREC_FIELDS_MAX];
};

/* Little-endian integers at p (unaligned): the byte order of every number
 * in a record, and of the journal's runs table. */
static inline void phaserec_put64(unsigned char *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static inline uint64_t phaserec_get64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static inline void phaserec_put32(unsigned char *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static inline uint32_t phaserec_get32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

/* The PHASEREC_SIZE bytes of r (r->version must be one the kind has),
 * checksummed, into b. */
void phaserec_encode(const struct phaserec_kind *k, const struct phaserec *r,
		     unsigned char *b);

/* True if b holds a record of the kind: its magic, a version it reads and
 * a good checksum; then *r holds it (fields past the version's count are
 * zero).  Says nothing about whether the phase or the fields make sense. */
bool phaserec_decode(const struct phaserec_kind *k, const unsigned char *b,
		     struct phaserec *r);

/* True if the PHASEREC_SIZE bytes at b are all zero: never written. */
bool phaserec_blank(const unsigned char *b);

/* Reads the record at the start of fd into b.  0, or -1 with errno (EIO
 * when the file is shorter). */
int phaserec_read(int fd, unsigned char *b);

/* Writes b at the start of fd, without a sync.  0 or -1 with errno. */
int phaserec_write(int fd, const unsigned char *b);

/* Writes b at the start of fd and fsyncs fd: only when this returns 0
 * does the disk hold the record.  0 or -1 with errno. */
int phaserec_write_sync(int fd, const unsigned char *b);

#endif
