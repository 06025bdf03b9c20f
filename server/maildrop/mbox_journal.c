/*
 * mbox_journal: the update journal's codec and recovery's proofs (see
 * mbox_journal.h for the file layout, mbox_update.c for the phases).
 * Below mbox_update.c, its only caller; calls phaserec.c, fileops.c and
 * uidstore's hash.  Runs as the user.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "lib/safeopen.h"
#include "server/maildrop/fileops.h"
#include "server/maildrop/mbox_journal.h"
#include "server/maildrop/phaserec.h"
#include "server/maildrop/uidstore.h"

#define RUNS_PER_READ 170              /* 4080 bytes of runs at a time */

/* The header is a phase record (phaserec.h).  Its fields, in their order
 * on the disk (the one list encode and decode share): version 1 has the
 * first nine, checksum at byte 88; version 2 all twelve, checksum at byte
 * 112.  The magic is the same in both versions. */
#define JOURNAL_FIELDS(h) { &(h)->dev, &(h)->ino, &(h)->orig_size, &(h)->new_size, \
	&(h)->region_off, &(h)->tail_len, &(h)->tail_hash, &(h)->payload_len, \
	&(h)->payload_hash, &(h)->nruns, &(h)->runs_hash, &(h)->new_hash }
static const struct phaserec_kind journal_kind = {
	"POPJRNL1", JOURNAL_SEED, 2, { 9, 12 }
};

void journal_hdr_init(struct journal_hdr *h, uint64_t dev, uint64_t ino, uint64_t orig_size,
		      uint64_t new_size, uint64_t region_off)
{
	memset(h, 0, sizeof(*h));
	h->version = 2;
	h->phase = JOURNAL_PREPARED;
	h->dev = dev;
	h->ino = ino;
	h->orig_size = orig_size;
	h->new_size = new_size;
	h->region_off = region_off;
	h->payload_len = new_size - region_off;
	h->tail_len = orig_size - new_size;
}

void journal_encode(const struct journal_hdr *h, unsigned char *b)
{
	const uint64_t *f[] = JOURNAL_FIELDS(h);
	struct phaserec r;
	size_t i;

	memset(&r, 0, sizeof(r));
	r.version = h->version;
	r.phase = h->phase;
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		r.field[i] = *f[i];
	phaserec_encode(&journal_kind, &r, b);
}

bool journal_decode(const unsigned char *b, struct journal_hdr *h)
{
	uint64_t *f[] = JOURNAL_FIELDS(h);
	struct phaserec r;
	size_t i;

	if (!phaserec_decode(&journal_kind, b, &r))
		return false;
	memset(h, 0, sizeof(*h));
	h->version = r.version;
	h->phase = r.phase;
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		*f[i] = r.field[i];   /* the last three are zero in version 1 */
	return true;
}

bool journal_shape_ok(const struct journal_hdr *h, uint64_t journal_size)
{
	uint64_t body;

	if (h->phase != JOURNAL_PREPARED && h->phase != JOURNAL_COMPACTED)
		return false;
	if (h->region_off > h->new_size || h->new_size >= h->orig_size ||
	    h->payload_len != h->new_size - h->region_off)
		return false;
	if (journal_size < JOURNAL_HEADER_SIZE)
		return false;
	body = journal_size - JOURNAL_HEADER_SIZE;
	if (h->version == 1)
		return h->tail_len == fileops_min64(JOURNAL_V1_TAIL_MAX, h->orig_size - h->new_size) &&
		       body == h->payload_len;
	return h->tail_len == h->orig_size - h->new_size && body >= h->payload_len &&
	       (body - h->payload_len) % JOURNAL_RUN_SIZE == 0 &&
	       (body - h->payload_len) / JOURNAL_RUN_SIZE == h->nruns;
}

uint64_t journal_runs_off(const struct journal_hdr *h)
{
	return JOURNAL_HEADER_SIZE + h->payload_len;
}

/* ---- the runs table --------------------------------------------------------- */

void journal_runs_begin(struct journal_runs_writer *w, int fd, uint64_t off)
{
	w->fd = fd;
	w->off = off;
	w->count = 0;
	w->len = 0;
	uidstore_hash_init(&w->hs, JOURNAL_SEED);
}

static int runs_flush(struct journal_runs_writer *w)
{
	if (w->len > 0 && safe_pwrite_all(w->fd, w->buf, w->len, (off_t)w->off) < 0)
		return -1;
	uidstore_hash_update(&w->hs, w->buf, w->len);
	w->off += w->len;
	w->len = 0;
	return 0;
}

int journal_runs_add(struct journal_runs_writer *w, const struct journal_run *r)
{
	if (w->len + JOURNAL_RUN_SIZE > sizeof(w->buf) && runs_flush(w) < 0)
		return -1;
	phaserec_put64(w->buf + w->len, r->src);
	phaserec_put64(w->buf + w->len + 8, r->dst);
	phaserec_put64(w->buf + w->len + 16, r->len);
	w->len += JOURNAL_RUN_SIZE;
	w->count++;
	return 0;
}

int journal_runs_end(struct journal_runs_writer *w, struct journal_hdr *h)
{
	if (runs_flush(w) < 0)
		return -1;
	h->nruns = w->count;
	h->runs_hash = uidstore_hash_final(&w->hs);
	return 0;
}

/* Reads runs [first, first + n) of the table (n <= RUNS_PER_READ). */
static int runs_read(int jfd, const struct journal_hdr *h, uint64_t first, size_t n,
		     struct journal_run *out, unsigned char *raw)
{
	size_t i;

	if (safe_pread_all(jfd, raw, n * JOURNAL_RUN_SIZE,
		      (off_t)(journal_runs_off(h) + first * JOURNAL_RUN_SIZE)) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		out[i].src = phaserec_get64(raw + i * JOURNAL_RUN_SIZE);
		out[i].dst = phaserec_get64(raw + i * JOURNAL_RUN_SIZE + 8);
		out[i].len = phaserec_get64(raw + i * JOURNAL_RUN_SIZE + 16);
	}
	return 0;
}

int journal_verify(int jfd, const struct journal_hdr *h, unsigned char *buf)
{
	unsigned char raw[RUNS_PER_READ * JOURNAL_RUN_SIZE];
	struct journal_run runs[RUNS_PER_READ];
	struct uidstore_hasher hs;
	uint64_t hash, i = 0, cursor = h->region_off;

	if (fileops_hash(jfd, JOURNAL_HEADER_SIZE, h->payload_len, JOURNAL_SEED, buf, &hash) < 0)
		return -1;
	if (hash != h->payload_hash)
		return 0;
	if (h->version == 1)
		return 1;
	uidstore_hash_init(&hs, JOURNAL_SEED);
	while (i < h->nruns) {
		size_t n = (size_t)fileops_min64(h->nruns - i, RUNS_PER_READ), k;

		if (runs_read(jfd, h, i, n, runs, raw) < 0)
			return -1;
		uidstore_hash_update(&hs, raw, n * JOURNAL_RUN_SIZE);
		for (k = 0; k < n; k++) {
			const struct journal_run *r = &runs[k];

			/* Moves only go down, tile the new region, and read
			 * inside the old file. */
			if (r->dst != cursor || r->len == 0 || r->src <= r->dst ||
			    r->src > h->orig_size || r->len > h->orig_size - r->src ||
			    r->len > h->new_size - cursor)
				return 0;
			cursor += r->len;
		}
		i += n;
	}
	return uidstore_hash_final(&hs) == h->runs_hash && cursor == h->new_size ? 1 : 0;
}

/* ---- old or new ------------------------------------------------------------- */

/* The old file's bytes [q, q + n): below new_size from the payload, above
 * it from the spool's untouched tail. */
static int read_old(int spool, int jfd, const struct journal_hdr *h, uint64_t q, size_t n,
		    unsigned char *out)
{
	size_t a = q < h->new_size ? (size_t)fileops_min64(n, h->new_size - q) : 0;

	if (a > 0 && safe_pread_all(jfd, out, a, (off_t)(JOURNAL_HEADER_SIZE + q - h->region_off)) < 0)
		return -1;
	if (n > a && safe_pread_all(spool, out + a, n - a, (off_t)(q + a)) < 0)
		return -1;
	return 0;
}

/* One run: is each byte of spool[dst, dst + len) old or new? */
static int run_old_or_new(int spool, int jfd, const struct journal_hdr *h,
			  const struct journal_run *r, unsigned char *buf)
{
	size_t chunk = FILEOPS_BLOCK / 3;
	unsigned char *cur = buf, *old = buf + chunk, *new = buf + 2 * chunk;
	uint64_t done = 0;

	while (done < r->len) {
		size_t n = (size_t)fileops_min64(r->len - done, chunk), i;
		uint64_t pos = r->dst + done;

		if (safe_pread_all(spool, cur, n, (off_t)pos) < 0 ||
		    read_old(spool, jfd, h, pos, n, old) < 0 ||
		    read_old(spool, jfd, h, r->src + done, n, new) < 0)
			return -1;
		for (i = 0; i < n; i++)
			if (cur[i] != old[i] && cur[i] != new[i])
				return 0;
		done += n;
	}
	return 1;
}

int journal_region_old_or_new(int spool, int jfd, const struct journal_hdr *h,
			      unsigned char *buf)
{
	unsigned char raw[RUNS_PER_READ * JOURNAL_RUN_SIZE];
	struct journal_run runs[RUNS_PER_READ];
	uint64_t i = 0;

	while (i < h->nruns) {
		size_t n = (size_t)fileops_min64(h->nruns - i, RUNS_PER_READ), k;

		if (runs_read(jfd, h, i, n, runs, raw) < 0)
			return -1;
		for (k = 0; k < n; k++) {
			int r = run_old_or_new(spool, jfd, h, &runs[k], buf);

			if (r <= 0)
				return r;
		}
		i += n;
	}
	return 1;
}
