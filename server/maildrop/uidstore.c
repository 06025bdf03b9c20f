/*
 * uidstore: unique ids and seen marks of a maildrop, kept in
 * <state_dir>/uids (format in uidstore.h).  Runs as the user.
 *
 * Matching a session's messages to the saved list is linear: one hash table
 * keyed by (size, hash) whose buckets chain the saved entries in file order,
 * and a cursor that only moves forward, so each saved entry is looked at at
 * most once.  An mbox only ever loses messages in the middle and gains them
 * at the end, so "in order" is exactly what survives; a message that cannot
 * be matched in order simply gets a new UID (a re-download, never a loss).
 *
 * All strings (saved UIDs, X-UIDL candidates, new UIDs) live in one pool
 * addressed by 32-bit offsets: memory grows with the number of messages and
 * a few bytes each, never with their size.
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/safeopen.h"
#include "lib/strnum.h"
#include "server/maildrop/uidstore.h"

#define UIDS_FILE "uids"
#define UIDS_TMP "uids.tmp"
#define UIDS_STARTED "uids.started"
#define UIDS_STARTED_MAGIC "popper-uids-started"
#define UIDS_MAGIC "popper-uids"
#define UIDS_VERSION "1"
#define UIDS_LINE_MAX 256           /* longest valid line is ~120 bytes */
#define UIDS_IO_BLOCK (64 * 1024)
#define UIDS_PATH_MAX 4096
#define EPOCH_LEN 8

struct saved_entry {
	uint64_t size, hash;
	uint32_t uid, flags;
};

struct uidstore {
	char epoch[EPOCH_LEN + 1];
	uint64_t next;                  /* next N of a generated "EPOCH.N" */
	char *pool;
	size_t pool_len, pool_cap;
	struct saved_entry *saved;      /* freed by uidstore_assign() */
	size_t nsaved, saved_cap;
	bool started;                   /* uids.started exists */
	bool first_sight;               /* no state, ever: X-UIDL counts */
};

/* ---- hash ------------------------------------------------------------------
 * A multiply-rotate mix over little-endian 64-bit words with a final
 * avalanche.  Not cryptographic: it only has to tell messages apart and
 * notice damaged journals; nothing secret depends on it. */

#define HASH_K1 0x87c37b91114253d5ULL
#define HASH_K2 0x4cf5ad432745937fULL

static uint64_t rotl64(uint64_t x, unsigned r)
{
	return (x << r) | (x >> (64 - r));
}

static uint64_t hash_word(uint64_t h, uint64_t k)
{
	k *= HASH_K1;
	k = rotl64(k, 31);
	k *= HASH_K2;
	h ^= k;
	h = rotl64(h, 27);
	return h * 5 + 0x52dce729;
}

static uint64_t load_le64(const unsigned char *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	return le64toh(w);
}

void uidstore_hash_init(struct uidstore_hasher *hs, uint64_t seed)
{
	hs->h = seed ^ 0x9e3779b97f4a7c15ULL;
	hs->total = 0;
	hs->tail_len = 0;
}

void uidstore_hash_update(struct uidstore_hasher *hs, const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = hs->h;

	hs->total += len;
	if (hs->tail_len > 0) {
		size_t take = 8 - hs->tail_len;

		if (take > len)
			take = len;
		memcpy(hs->tail + hs->tail_len, p, take);
		hs->tail_len += (unsigned)take;
		p += take;
		len -= take;
		if (hs->tail_len < 8) {
			hs->h = h;
			return;
		}
		h = hash_word(h, load_le64(hs->tail));
		hs->tail_len = 0;
	}
	while (len >= 8) {
		h = hash_word(h, load_le64(p));
		p += 8;
		len -= 8;
	}
	memcpy(hs->tail, p, len);
	hs->tail_len = (unsigned)len;
	hs->h = h;
}

uint64_t uidstore_hash_final(const struct uidstore_hasher *hs)
{
	uint64_t h = hs->h, k = 0;
	unsigned i;

	for (i = 0; i < hs->tail_len; i++)
		k |= (uint64_t)hs->tail[i] << (8 * i);
	if (hs->tail_len > 0) {
		k *= HASH_K1;
		k = rotl64(k, 31);
		k *= HASH_K2;
		h ^= k;
	}
	h ^= hs->total;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

uint64_t uidstore_hash(const void *data, size_t len, uint64_t seed)
{
	struct uidstore_hasher hs;

	uidstore_hash_init(&hs, seed);
	uidstore_hash_update(&hs, data, len);
	return uidstore_hash_final(&hs);
}

/* ---- small helpers ---------------------------------------------------------- */

bool uidstore_valid_uid(const char *s, size_t len)
{
	size_t i;

	if (len < 1 || len > UIDSTORE_UID_MAX)
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

static int make_path(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int random_epoch(char out[EPOCH_LEN + 1], const char *avoid)
{
	uint32_t r;
	int tries;

	for (tries = 0; tries < 8; tries++) {
		ssize_t n;

		do
			n = getrandom(&r, sizeof(r), 0);
		while (n < 0 && errno == EINTR);
		if (n != (ssize_t)sizeof(r))
			return -1;
		snprintf(out, EPOCH_LEN + 1, "%08" PRIx32, r);
		if (avoid == NULL || strcmp(out, avoid) != 0)
			return 0;
	}
	return -1;
}

/* ---- string pool ------------------------------------------------------------ */

uint32_t uidstore_add(struct uidstore *st, const char *uid, size_t len)
{
	size_t need;
	uint32_t off;

	if (!uidstore_valid_uid(uid, len))
		return UIDSTORE_NONE;
	need = st->pool_len + len + 1;
	if (need >= UIDSTORE_NONE)
		return UIDSTORE_NONE;
	if (need > st->pool_cap) {
		size_t ncap = st->pool_cap < 4096 ? 4096 : st->pool_cap;
		char *np;

		while (ncap < need)
			ncap *= 2;
		np = realloc(st->pool, ncap);
		if (np == NULL)
			return UIDSTORE_NONE;
		st->pool = np;
		st->pool_cap = ncap;
	}
	off = (uint32_t)st->pool_len;
	memcpy(st->pool + off, uid, len);
	st->pool[off + len] = '\0';
	st->pool_len = need;
	return off;
}

const char *uidstore_str(const struct uidstore *st, uint32_t off)
{
	if (off == UIDSTORE_NONE || off >= st->pool_len)
		return "";
	return st->pool + off;
}

const char *uidstore_epoch(const struct uidstore *st)
{
	return st->epoch;
}

bool uidstore_first_sight(const struct uidstore *st)
{
	return st->first_sight;
}

/* ---- loading ---------------------------------------------------------------- */

static int add_saved(struct uidstore *st, uint64_t size, uint64_t hash,
		     uint32_t flags, const char *uid, size_t uidlen)
{
	struct saved_entry *e;
	uint32_t off;

	if (st->nsaved >= UIDSTORE_MAX_ENTRIES || !uidstore_valid_uid(uid, uidlen))
		return -1;
	if (st->nsaved == st->saved_cap) {
		size_t ncap = st->saved_cap < 256 ? 256 : st->saved_cap * 2;
		struct saved_entry *ns = realloc(st->saved, ncap * sizeof(*ns));

		if (ns == NULL)
			return -2;
		st->saved = ns;
		st->saved_cap = ncap;
	}
	off = uidstore_add(st, uid, uidlen);
	if (off == UIDSTORE_NONE)
		return -2;
	e = &st->saved[st->nsaved++];
	e->size = size;
	e->hash = hash;
	e->uid = off;
	e->flags = flags;
	return 0;
}

/* Splits line (NUL-terminated, no LF) at single spaces into exactly nf
 * non-empty fields.  Returns 0 or -1. */
static int split_fields(char *line, char **f, int nf)
{
	int i = 0;
	char *p = line;

	for (;;) {
		char *sp;

		if (*p == '\0' || *p == ' ')
			return -1;
		f[i++] = p;
		sp = strchr(p, ' ');
		if (sp == NULL)
			return i == nf ? 0 : -1;
		if (i == nf)
			return -1;
		*sp = '\0';
		p = sp + 1;
	}
}

static bool parse_hex64(const char *s, uint64_t *v_r)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 16; i++) {
		char c = s[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return false;
		v = (v << 4) | d;
	}
	if (s[16] != '\0')
		return false;
	*v_r = v;
	return true;
}

static bool valid_epoch(const char *s)
{
	int i;

	for (i = 0; i < EPOCH_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[EPOCH_LEN] == '\0';
}

/* Parses one line; lineno 0 is the header.  Returns 0, -1 (damaged) or -2
 * (out of memory). */
static int parse_line(struct uidstore *st, char *line, unsigned long lineno)
{
	char *f[4];
	uint64_t size, hash, next;
	uint32_t flags = 0;
	const char *p;

	if (split_fields(line, f, 4) < 0)
		return -1;
	if (lineno == 0) {
		if (strcmp(f[0], UIDS_MAGIC) != 0 || strcmp(f[1], UIDS_VERSION) != 0 ||
		    !valid_epoch(f[2]) || !strnum_parse_u64(f[3], UINT64_MAX - 1, &next) ||
		    next == 0)
			return -1;
		memcpy(st->epoch, f[2], EPOCH_LEN + 1);
		st->next = next;
		return 0;
	}
	if (!strnum_parse_u64(f[0], UINT64_MAX, &size) || !parse_hex64(f[1], &hash))
		return -1;
	if (strcmp(f[2], "-") != 0) {
		/* Letters we do not know are from a newer version: keep going. */
		for (p = f[2]; *p != '\0'; p++) {
			if (*p == 'S')
				flags |= UIDSTORE_SEEN;
			else if (*p < 'A' || *p > 'Z')
				return -1;
		}
	}
	return add_saved(st, size, hash, flags, f[3], strlen(f[3]));
}

/* Reads and parses the open state file.  Returns 0, -1 damaged (errno 0) or
 * -1 with errno for a read error / no memory. */
static int parse_file(struct uidstore *st, int fd)
{
	char *buf;
	size_t start = 0, end = 0;
	unsigned long lineno = 0;
	int ret = -1;

	buf = malloc(UIDS_IO_BLOCK + 1);
	if (buf == NULL)
		return -1;
	for (;;) {
		char *nl;
		ssize_t n;

		nl = memchr(buf + start, '\n', end - start);
		if (nl != NULL) {
			size_t len = (size_t)(nl - (buf + start));
			int r;

			*nl = '\0';
			if (len > UIDS_LINE_MAX || memchr(buf + start, '\0', len) != NULL)
				goto damaged;
			r = parse_line(st, buf + start, lineno);
			if (r == -2) {
				errno = ENOMEM;
				goto out;
			}
			if (r < 0)
				goto damaged;
			lineno++;
			start = (size_t)(nl - buf) + 1;
			continue;
		}
		if (end - start > UIDS_LINE_MAX)
			goto damaged;
		memmove(buf, buf + start, end - start);
		end -= start;
		start = 0;
		do
			n = read(fd, buf + end, UIDS_IO_BLOCK - end);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			goto out;
		if (n == 0) {
			if (end != 0 || lineno == 0)
				goto damaged;  /* unterminated last line, or empty file */
			ret = 0;
			goto out;
		}
		end += (size_t)n;
	}
damaged:
	errno = 0;
out:
	free(buf);
	return ret;
}

static void reset_fresh(struct uidstore *st)
{
	st->nsaved = 0;
	st->pool_len = 0;
	st->next = 1;
}

/* Whether a record of an earlier uids file exists.  Anything under that
 * name counts, and so does a name we cannot look at: trusting X-UIDL
 * headers wrongly can hand out a UID twice, not trusting them costs one
 * download. */
static bool record_exists(const char *dir)
{
	char path[UIDS_PATH_MAX];
	struct stat sb;

	if (make_path(path, sizeof(path), dir, UIDS_STARTED) < 0)
		return true;
	return lstat(path, &sb) == 0 || errno != ENOENT;
}

/* A damaged state file: kept for the administrator, and st starts afresh
 * (the caller draws a new epoch, so no UID handed out before can come
 * back).  0, or -1 with reason when it cannot be moved aside. */
static int set_aside_damaged(struct uidstore *st, const char *path, char *reason,
			     size_t reasonsize)
{
	char aside[UIDS_PATH_MAX];
	int n = snprintf(aside, sizeof(aside), "%s.bad.%lld.%ld", path,
			 (long long)time(NULL), (long)getpid());

	if (n < 0 || (size_t)n >= sizeof(aside) || rename(path, aside) < 0) {
		snprintf(reason, reasonsize, "UID state %s is damaged and cannot be moved aside: %s",
			 path, strerror(errno));
		return -1;
	}
	log_error("UID state %s was damaged; moved to %s, all messages get new UIDs",
		  path, aside);
	reset_fresh(st);
	return 0;
}

struct uidstore *uidstore_load(const char *dir, bool *perm_r,
			       char *reason, size_t reasonsize)
{
	struct safeopen_rules rules = { 0 };
	struct uidstore *st;
	char path[UIDS_PATH_MAX], tmp[UIDS_PATH_MAX];
	struct stat sb;
	const char *why = NULL;
	int fd;

	*perm_r = false;
	if (make_path(path, sizeof(path), dir, UIDS_FILE) < 0) {
		snprintf(reason, reasonsize, "state directory path too long");
		*perm_r = true;
		return NULL;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		snprintf(reason, reasonsize, "out of memory");
		return NULL;
	}
	reset_fresh(st);
	/* A temporary file left by a session killed while saving: the caller
	 * holds the maildrop locks, so nobody else is writing it. */
	if (make_path(tmp, sizeof(tmp), dir, UIDS_TMP) == 0)
		unlink(tmp);
	rules.check_owner = true;
	rules.owner = geteuid();
	rules.no_group_write = true;
	fd = safe_open(path, O_RDONLY, 0, &rules, &sb, &why);
	if (fd < 0 && errno == ENOENT) {
		st->started = record_exists(dir);
		st->first_sight = !st->started;
		if (st->started)
			log_warning("UID state %s lost (%s/%s says it existed); X-UIDL headers are not "
				    "trusted, every message gets a new UID", path, dir, UIDS_STARTED);
		goto fresh;
	}
	if (fd < 0 || (sb.st_mode & S_IWOTH) != 0) {
		int e = errno;

		*perm_r = fd >= 0 || e == ELOOP || e == EINVAL || e == EPERM || e == EACCES;
		snprintf(reason, reasonsize, "UID state %s: %s", path,
			 fd >= 0 ? "file is writable by others" :
			 why != NULL ? why : strerror(e));
		if (fd >= 0)
			close(fd);
		uidstore_free(st);
		return NULL;
	}
	st->started = record_exists(dir);
	if (parse_file(st, fd) == 0) {
		close(fd);
		return st;
	}
	if (errno != 0) {
		snprintf(reason, reasonsize, "UID state %s: %s", path, strerror(errno));
		close(fd);
		uidstore_free(st);
		return NULL;
	}
	close(fd);
	if (set_aside_damaged(st, path, reason, reasonsize) < 0) {
		uidstore_free(st);
		return NULL;
	}
fresh:
	if (random_epoch(st->epoch, NULL) < 0) {
		snprintf(reason, reasonsize, "getrandom: %s", strerror(errno));
		uidstore_free(st);
		return NULL;
	}
	return st;
}

void uidstore_free(struct uidstore *st)
{
	if (st == NULL)
		return;
	free(st->pool);
	free(st->saved);
	free(st);
}

/* ---- assigning -------------------------------------------------------------- */

static size_t table_size(size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n + 2)
		cap *= 2;
	return cap;
}

/* A set of pool strings (open addressing over pool offsets). */
struct strset {
	uint32_t *slot;
	size_t mask;
};

static int strset_init(struct strset *s, size_t n)
{
	size_t cap = table_size(n), i;

	s->slot = malloc(cap * sizeof(*s->slot));
	if (s->slot == NULL)
		return -1;
	for (i = 0; i < cap; i++)
		s->slot[i] = UIDSTORE_NONE;
	s->mask = cap - 1;
	return 0;
}

/* Adds the string at off; false if an equal string is already present. */
static bool strset_add(struct strset *s, const struct uidstore *st, uint32_t off)
{
	const char *str = st->pool + off;
	size_t len = strlen(str);
	size_t i = (size_t)uidstore_hash(str, len, 0x5eed) & s->mask;

	while (s->slot[i] != UIDSTORE_NONE) {
		if (strcmp(st->pool + s->slot[i], str) == 0)
			return false;
		i = (i + 1) & s->mask;
	}
	s->slot[i] = off;
	return true;
}

static bool strset_has(const struct strset *s, const struct uidstore *st,
		       const char *str, size_t len)
{
	size_t i = (size_t)uidstore_hash(str, len, 0x5eed) & s->mask;

	while (s->slot[i] != UIDSTORE_NONE) {
		if (strcmp(st->pool + s->slot[i], str) == 0)
			return true;
		i = (i + 1) & s->mask;
	}
	return false;
}

/* Makes a fresh "EPOCH.N" not in use; adds it to the pool and the set.
 * Bounded: at most one retry per string already in the set. */
static uint32_t generate_uid(struct uidstore *st, const char *epoch,
			     uint64_t *next, struct strset *used)
{
	char buf[EPOCH_LEN + 1 + 21];

	for (;;) {
		uint32_t off;
		int len = snprintf(buf, sizeof(buf), "%s.%" PRIu64, epoch, (*next)++);

		if (strset_has(used, st, buf, (size_t)len))
			continue;
		off = uidstore_add(st, buf, (size_t)len);
		if (off != UIDSTORE_NONE)
			strset_add(used, st, off);
		return off;
	}
}

struct keyslot {
	uint64_t size, hash;
	uint32_t head, tail;    /* saved entries with this key, in file order */
	bool used;              /* slot taken (head may run out: NONE) */
};

static size_t key_index(uint64_t size, uint64_t hash, size_t mask)
{
	uint64_t k = hash ^ (size * 0x9e3779b97f4a7c15ULL);

	k ^= k >> 29;
	return (size_t)k & mask;
}

static struct keyslot *key_find(struct keyslot *t, size_t mask, uint64_t size,
				uint64_t hash)
{
	size_t i = key_index(size, hash, mask);

	while (t[i].used && (t[i].size != size || t[i].hash != hash))
		i = (i + 1) & mask;
	return &t[i];
}

/* Matches msgs against the saved list (see the file comment). */
static int match_saved(struct uidstore *st, struct uid_msg *msgs, size_t n,
		       struct strset *used)
{
	struct keyslot *t;
	uint32_t *next;
	size_t cap = table_size(st->nsaved), mask = cap - 1, i;
	uint64_t last = 0;       /* saved index + 1 of the last match */

	if (st->nsaved == 0)
		return 0;
	t = calloc(cap, sizeof(*t));
	next = malloc(st->nsaved * sizeof(*next));
	if (t == NULL || next == NULL) {
		free(t);
		free(next);
		return -1;
	}
	for (i = 0; i < st->nsaved; i++) {
		struct keyslot *k = key_find(t, mask, st->saved[i].size, st->saved[i].hash);

		next[i] = UIDSTORE_NONE;
		if (!k->used) {
			k->used = true;
			k->size = st->saved[i].size;
			k->hash = st->saved[i].hash;
			k->head = (uint32_t)i;
		} else {
			next[k->tail] = (uint32_t)i;
		}
		k->tail = (uint32_t)i;
	}
	for (i = 0; i < n; i++) {
		struct keyslot *k = key_find(t, mask, msgs[i].size, msgs[i].hash);
		uint32_t s;

		if (!k->used)
			continue;
		/* Entries before the last match can never match in order. */
		while (k->head != UIDSTORE_NONE && (uint64_t)k->head + 1 <= last)
			k->head = next[k->head];
		if (k->head == UIDSTORE_NONE)
			continue;
		s = k->head;
		k->head = next[s];
		if (!strset_add(used, st, st->saved[s].uid))
			continue;  /* a damaged file named one UID twice */
		msgs[i].uid = st->saved[s].uid;
		msgs[i].flags = st->saved[s].flags & UIDSTORE_SEEN;
		last = (uint64_t)s + 1;
	}
	free(t);
	free(next);
	return 0;
}

long uidstore_assign(struct uidstore *st, struct uid_msg *msgs, size_t n)
{
	struct strset used, xuidl;
	size_t i, nsaved = st->nsaved;
	long unsaved = 0;
	uint32_t *cand;
	char prefix[EPOCH_LEN + 2];

	if (strset_init(&used, n + nsaved) < 0)
		return -1;
	if (strset_init(&xuidl, n) < 0) {
		free(used.slot);
		return -1;
	}
	cand = malloc((n ? n : 1) * sizeof(*cand));
	if (cand == NULL) {
		free(used.slot);
		free(xuidl.slot);
		return -1;
	}
	/* An X-UIDL header is honoured only on the first sight of the drop
	 * (uidstore.h), only the first time its value occurs in the drop, and
	 * never when it mimics one of our own generated UIDs (a sender could
	 * otherwise claim the UID of a future message). */
	snprintf(prefix, sizeof(prefix), "%s.", st->epoch);
	for (i = 0; i < n; i++) {
		cand[i] = st->first_sight ? msgs[i].uid : UIDSTORE_NONE;
		msgs[i].uid = UIDSTORE_NONE;
		msgs[i].flags = 0;
		if (cand[i] == UIDSTORE_NONE)
			continue;
		if (!strset_add(&xuidl, st, cand[i]) ||
		    strncmp(st->pool + cand[i], prefix, EPOCH_LEN + 1) == 0)
			cand[i] = UIDSTORE_NONE;
	}
	free(xuidl.slot);
	if (match_saved(st, msgs, n, &used) < 0)
		goto fail;
	for (i = 0; i < n; i++) {
		if (msgs[i].uid != UIDSTORE_NONE)
			continue;
		unsaved++;
		if (cand[i] != UIDSTORE_NONE && strset_add(&used, st, cand[i])) {
			msgs[i].uid = cand[i];
			msgs[i].flags = UIDSTORE_UNSAVED;
		}
	}
	for (i = 0; i < n; i++) {
		if (msgs[i].uid != UIDSTORE_NONE)
			continue;
		msgs[i].uid = generate_uid(st, st->epoch, &st->next, &used);
		if (msgs[i].uid == UIDSTORE_NONE)
			goto fail;
		msgs[i].flags = UIDSTORE_NEW | UIDSTORE_UNSAVED;
	}
	free(cand);
	free(used.slot);
	free(st->saved);
	st->saved = NULL;
	st->nsaved = st->saved_cap = 0;
	return unsaved;
fail:
	free(cand);
	free(used.slot);
	return -1;
}

int uidstore_rekey_new(struct uidstore *st, struct uid_msg *msgs, size_t n)
{
	char temp_epoch[EPOCH_LEN + 1];
	struct strset used;
	uint64_t counter = 1;
	size_t i;

	if (random_epoch(temp_epoch, st->epoch) < 0)
		return -1;
	if (strset_init(&used, n) < 0)
		return -1;
	for (i = 0; i < n; i++)
		if (!(msgs[i].flags & UIDSTORE_NEW))
			strset_add(&used, st, msgs[i].uid);
	for (i = 0; i < n; i++) {
		uint32_t off;

		if (!(msgs[i].flags & UIDSTORE_NEW))
			continue;
		off = generate_uid(st, temp_epoch, &counter, &used);
		if (off == UIDSTORE_NONE) {
			free(used.slot);
			return -1;
		}
		msgs[i].uid = off;
	}
	free(used.slot);
	return 0;
}

/* ---- saving ----------------------------------------------------------------- */

struct outbuf {
	int fd;
	size_t len;
	char buf[UIDS_IO_BLOCK];
};

static int out_flush(struct outbuf *o)
{
	if (o->len > 0 && safe_write_all(o->fd, o->buf, o->len) < 0)
		return -1;
	o->len = 0;
	return 0;
}

static int out_line(struct outbuf *o, const char *line, size_t len)
{
	if (o->len + len > sizeof(o->buf) && out_flush(o) < 0)
		return -1;
	memcpy(o->buf + o->len, line, len);
	o->len += len;
	return 0;
}

/* Makes <dir>/uids.started, durably, unless it exists.  From then on no
 * X-UIDL header is trusted, even if the uids file is lost.  Returns 0, or
 * -1 with a log-only reason and no record left behind. */
static int write_record(struct uidstore *st, const char *dir, char *reason, size_t reasonsize)
{
	char path[UIDS_PATH_MAX], line[64];
	int fd, len, e;

	if (make_path(path, sizeof(path), dir, UIDS_STARTED) < 0) {
		snprintf(reason, reasonsize, "state directory path too long");
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST) {
		st->started = true;   /* anything under the name counts */
		return 0;
	}
	if (fd < 0) {
		snprintf(reason, reasonsize, "create %s: %s", path, strerror(errno));
		return -1;
	}
	len = snprintf(line, sizeof(line), "%s %s %lld\n", UIDS_STARTED_MAGIC, st->epoch,
		       (long long)time(NULL));
	if (safe_write_all(fd, line, (size_t)len) < 0 || fsync(fd) < 0) {
		e = errno;
		close(fd);
		goto fail;
	}
	if (close(fd) < 0 || safe_fsync_dir(dir) < 0) {
		e = errno;
		goto fail;
	}
	st->started = true;
	return 0;
fail:
	/* The uids file is not written either, and this session's UIDs stay
	 * in use (uidstore_rekey_new keeps X-UIDL ones): a record left
	 * behind would make the next session drop the trust they came from. */
	unlink(path);
	snprintf(reason, reasonsize, "write %s: %s", path, strerror(e));
	return -1;
}

/* Creates the temporary state file.  We hold the maildrop locks, so a
 * leftover one is from a session that died: it is removed once and the
 * create tried again.  The descriptor, or -1 with errno. */
static int create_tmp(const char *tmp)
{
	int fd, tries;

	for (tries = 0;; tries++) {
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST || tries > 0)
			break;
		unlink(tmp);
	}
	return fd;
}

/* The state file's lines -- the header, then one per message -- through
 * o, flushed.  0, or -1 with errno. */
static int write_lines(struct outbuf *o, const struct uidstore *st,
		       const struct uid_msg *msgs, size_t n)
{
	char line[UIDS_LINE_MAX];
	size_t i;
	int len;

	len = snprintf(line, sizeof(line), "%s %s %s %" PRIu64 "\n", UIDS_MAGIC,
		       UIDS_VERSION, st->epoch, st->next);
	if (out_line(o, line, (size_t)len) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		len = snprintf(line, sizeof(line), "%" PRIu64 " %016" PRIx64 " %s %s\n",
			       msgs[i].size, msgs[i].hash,
			       (msgs[i].flags & UIDSTORE_SEEN) ? "S" : "-",
			       uidstore_str(st, msgs[i].uid));
		if (out_line(o, line, (size_t)len) < 0)
			return -1;
	}
	if (out_flush(o) < 0)
		return -1;
	return 0;
}

int uidstore_save(struct uidstore *st, const char *dir,
		  const struct uid_msg *msgs, size_t n,
		  char *reason, size_t reasonsize)
{
	char path[UIDS_PATH_MAX], tmp[UIDS_PATH_MAX];
	struct outbuf *o;
	const char *step;
	int fd;

	if (make_path(path, sizeof(path), dir, UIDS_FILE) < 0 ||
	    make_path(tmp, sizeof(tmp), dir, UIDS_TMP) < 0) {
		snprintf(reason, reasonsize, "state directory path too long");
		return -1;
	}
	o = malloc(sizeof(*o));
	if (o == NULL) {
		snprintf(reason, reasonsize, "out of memory");
		return -1;
	}
	fd = create_tmp(tmp);
	if (fd < 0) {
		snprintf(reason, reasonsize, "create %s: %s", tmp, strerror(errno));
		free(o);
		return -1;
	}
	o->fd = fd;
	o->len = 0;
	step = "write";
	if (write_lines(o, st, msgs, n) < 0)
		goto fail;
	step = "fsync";
	if (fsync(fd) < 0)
		goto fail;
	step = "close";
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	/* The record goes first: a uids file without one, if lost, would
	 * look like a first sight. */
	if (!st->started && write_record(st, dir, reason, reasonsize) < 0) {
		unlink(tmp);
		free(o);
		return -1;
	}
	step = "rename";
	if (rename(tmp, path) < 0)
		goto fail;
	free(o);
	if (safe_fsync_dir(dir) < 0) {
		/* The new file is in place; only its durability is in doubt. */
		snprintf(reason, reasonsize, "fsync %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
fail:
	snprintf(reason, reasonsize, "%s %s: %s", step, tmp, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(o);
	return -1;
}
