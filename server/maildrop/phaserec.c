/*
 * phaserec: the phase record's codec, reads and writes (layout in
 * phaserec.h).  Lowest floor of server/maildrop/: it calls only lib/ and
 * uidstore's hash.  Runs as the user.
 */
#include "config.h"

#include <unistd.h>

#include "lib/safeopen.h"
#include "server/maildrop/phaserec.h"
#include "server/maildrop/uidstore.h"

#define HEAD_LEN 16   /* magic, version, phase */

/* Offset of the checksum: it covers everything before it. */
static size_t sum_off(const struct phaserec_kind *k, uint32_t version)
{
	return HEAD_LEN + 8 * (size_t)k->fields[version - 1];
}

void phaserec_encode(const struct phaserec_kind *k, const struct phaserec *r,
		     unsigned char *b)
{
	size_t so = sum_off(k, r->version), i;

	memset(b, 0, PHASEREC_SIZE);
	memcpy(b, k->magic, PHASEREC_MAGIC_LEN);
	phaserec_put32(b + 8, r->version);
	phaserec_put32(b + 12, r->phase);
	for (i = 0; i < k->fields[r->version - 1]; i++)
		phaserec_put64(b + HEAD_LEN + 8 * i, r->field[i]);
	phaserec_put64(b + so, uidstore_hash(b, so, k->seed));
}

bool phaserec_decode(const struct phaserec_kind *k, const unsigned char *b,
		     struct phaserec *r)
{
	uint32_t version;
	size_t so, i;

	if (memcmp(b, k->magic, PHASEREC_MAGIC_LEN) != 0)
		return false;
	version = phaserec_get32(b + 8);
	if (version < 1 || version > k->versions)
		return false;
	so = sum_off(k, version);
	if (phaserec_get64(b + so) != uidstore_hash(b, so, k->seed))
		return false;
	memset(r, 0, sizeof(*r));
	r->version = version;
	r->phase = phaserec_get32(b + 12);
	for (i = 0; i < k->fields[version - 1]; i++)
		r->field[i] = phaserec_get64(b + HEAD_LEN + 8 * i);
	return true;
}

bool phaserec_blank(const unsigned char *b)
{
	size_t i;

	for (i = 0; i < PHASEREC_SIZE; i++)
		if (b[i] != 0)
			return false;
	return true;
}

int phaserec_read(int fd, unsigned char *b)
{
	return safe_pread_all(fd, b, PHASEREC_SIZE, 0);
}

int phaserec_write(int fd, const unsigned char *b)
{
	return safe_pwrite_all(fd, b, PHASEREC_SIZE, 0);
}

int phaserec_write_sync(int fd, const unsigned char *b)
{
	if (phaserec_write(fd, b) < 0 || fsync(fd) < 0)
		return -1;
	return 0;
}
