/*
 * tempdrop_marker: the marker of temp-drop mode's moves,
 * <state_dir>/tempdrop.marker -- one phase record (phaserec.h) that says
 * which step of a move was last made durable, so that recovery
 * (tempdrop_recover.c) knows which copy of the mail counts.  The lowest
 * floor of temp-drop mode: it calls only phaserec.c and lib/.  Runs as
 * the user.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/reason.h"
#include "lib/safeopen.h"
#include "server/maildrop/phaserec.h"
#include "server/maildrop/tempdrop_int.h"

/* Sizes in a marker above this are damage, not mailboxes (and keep
 * base + pad + len far from overflowing). */
#define MARKER_SIZE_MAX (1ULL << 60)

/* The marker's record: version 1, the phase, then six fields in this
 * order (the one list encode and decode share), the checksum at byte 64. */
#define MARKER_FIELDS(mk) { &(mk)->dev, &(mk)->ino, &(mk)->base, &(mk)->pad, &(mk)->len, \
	&(mk)->hash }
static const struct phaserec_kind marker_kind = {
	"POPTDMK1", TEMPDROP_MARKER_SEED, 1, { 6 }
};

uint64_t tempdrop_marker_total(const struct marker *mk)
{
	return mk->base + mk->pad + mk->len;
}

static void marker_encode(const struct marker *mk, unsigned char *b)
{
	const uint64_t *f[] = MARKER_FIELDS(mk);
	struct phaserec r;
	size_t i;

	memset(&r, 0, sizeof(r));
	r.version = 1;
	r.phase = mk->phase;
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		r.field[i] = *f[i];
	phaserec_encode(&marker_kind, &r, b);
}

static bool marker_decode(const unsigned char *b, struct marker *mk)
{
	uint64_t *f[] = MARKER_FIELDS(mk);
	struct phaserec r;
	size_t i;

	if (!phaserec_decode(&marker_kind, b, &r))
		return false;
	mk->phase = r.phase;
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		*f[i] = r.field[i];
	return mk->phase >= PH_COPYING && mk->phase <= PH_EXTENDED && mk->pad <= 2 &&
	       mk->base < MARKER_SIZE_MAX && mk->len < MARKER_SIZE_MAX;
}

int tempdrop_marker_write(const struct td_ctx *c, const struct marker *mk, bool create)
{
	unsigned char b[PHASEREC_SIZE];
	int fd, e;

	marker_encode(mk, b);
	fd = open(c->marker_path, (create ? O_CREAT | O_EXCL : 0) | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0)
		return -1;
	if (phaserec_write_sync(fd, b) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (create && safe_fsync_dir(c->state_dir) < 0)
		goto fail;
	return 0;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	if (create)
		unlink(c->marker_path);
	errno = e;
	return -1;
}

int tempdrop_marker_remove(const struct td_ctx *c)
{
	if (unlink(c->marker_path) < 0 && errno != ENOENT)
		return -1;
	return safe_fsync_dir(c->state_dir);
}

enum marker_read tempdrop_marker_read(const struct td_ctx *c, struct marker *mk,
				      const char **why_r, char *reason, size_t reasonsize)
{
	struct safeopen_rules rules;
	unsigned char b[PHASEREC_SIZE];
	struct stat st;
	int fd;

	memset(&rules, 0, sizeof(rules));
	rules.check_owner = true;
	rules.owner = geteuid();
	rules.no_group_write = true;
	fd = safe_open(c->marker_path, O_RDONLY, 0, &rules, &st, why_r);
	if (fd < 0) {
		if (errno == ENOENT)
			return MK_NONE;
		if (errno == ELOOP || errno == EINVAL || errno == EPERM)
			return MK_BAD;
		reason_set(reason, reasonsize, "marker %s: %s", c->marker_path, strerror(errno));
		*why_r = NULL;
		return MK_BAD;
	}
	if (st.st_size == 0) {
		close(fd);
		return MK_UNWRITTEN;
	}
	if (st.st_size != PHASEREC_SIZE || phaserec_read(fd, b) < 0) {
		close(fd);
		*why_r = "has the wrong size";
		return MK_BAD;
	}
	close(fd);
	if (phaserec_blank(b))
		return MK_UNWRITTEN;
	if (!marker_decode(b, mk)) {
		*why_r = "is damaged";
		return MK_BAD;
	}
	return MK_OK;
}

void tempdrop_marker_set_aside(const struct td_ctx *c, const char *why)
{
	char aside[TD_PATH_MAX + 64];
	long long t = (long long)time(NULL);
	int i;

	for (i = 0; i < 100; i++) {
		int n = i == 0 ? snprintf(aside, sizeof(aside), "%s.bad.%lld", c->marker_path, t) :
			snprintf(aside, sizeof(aside), "%s.bad.%lld.%d", c->marker_path, t, i);

		if (n < 0 || (size_t)n >= sizeof(aside))
			break;
		if (link(c->marker_path, aside) == 0) {
			unlink(c->marker_path);
			safe_fsync_dir(c->state_dir);
			log_error("temp-drop marker %s %s; moved to %s, spool and temporary drop %s "
				  "left as they are", c->marker_path, why, aside, c->tpath);
			return;
		}
		if (errno != EEXIST)
			break;
	}
	log_error("temp-drop marker %s %s and cannot be moved aside: %s", c->marker_path, why,
		  strerror(errno));
}

bool tempdrop_marker_names(int fd, const struct marker *mk)
{
	struct stat st;

	return fd >= 0 && fstat(fd, &st) == 0 && (uint64_t)st.st_dev == mk->dev &&
	       (uint64_t)st.st_ino == mk->ino;
}
