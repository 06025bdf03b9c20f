/*
 * mbox_index: the framing of an mbox spool (mbox.h) and its index, one
 * linear pass over the file.  Below mbox.c (which calls mbox_index() at
 * open) and mbox_update.c (which checks a message's identity hash before
 * a commit); calls only uidstore.c and lib/.  Runs as the user, after the
 * privilege drop.
 *
 * The index is one linear pass with MBOX_READ_BLOCK reads.  Separator
 * candidates are found with memmem(), line ends are counted with a plain
 * loop the compiler vectorises; the only per-line work is in the first
 * MBOX_XUIDL_SCAN_MAX bytes of a header when X-UIDL is trusted (on the
 * first sight of the maildrop only, uidstore.h).  Each
 * message costs one mbox_msg and one uid_msg in two arrays that grow
 * geometrically, plus its UID in the uidstore's pool.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/reason.h"
#include "server/maildrop/mbox.h"
#include "server/maildrop/uidstore.h"

/* Bytes kept in front of the scan position: the separator test looks up to
 * two bytes back, the final-empty-line test three. */
#define SCAN_BEHIND 8
/* Alignment of the read buffer and of the file offset at its start. */
#define SCAN_ALIGN 4096

/* ---- framing ---------------------------------------------------------------- */

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_word(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool mbox_from_line_valid(const unsigned char *buf, size_t len)
{
	const unsigned char *nl;
	size_t i;

	if (len > MBOX_FROM_CHECK)
		len = MBOX_FROM_CHECK;
	if (len < 5 || memcmp(buf, "From ", 5) != 0)
		return false;
	nl = memchr(buf, '\n', len);
	if (nl != NULL)
		len = (size_t)(nl - buf);
	/* A time is "h:mm" or "hh:mm" whose hour does not continue a word
	 * (the regular expression \b\d{1,2}:\d{2} of tests/lib/popfixture.py). */
	for (i = 6; i + 2 < len; i++) {
		if (buf[i] != ':' || !is_digit(buf[i + 1]) || !is_digit(buf[i + 2]) ||
		    !is_digit(buf[i - 1]))
			continue;
		if (!is_word(buf[i - 2]) ||
		    (i >= 7 && is_digit(buf[i - 2]) && !is_word(buf[i - 3])))
			return true;
	}
	return false;
}

uint64_t mbox_id_hash(unsigned char *buf, uint64_t n, uint64_t whole, bool no_final_lf)
{
	if (no_final_lf && n == whole && n < UIDSTORE_HASH_BYTES)
		buf[n++] = '\n';
	return uidstore_hash(buf, (size_t)n, 0);
}

/* LFs not preceded by CR in p[0..n); p[-1] must be readable.  The inner
 * loop has a fixed trip count and a byte accumulator (at most 64 < 256 per
 * block), which is the shape GCC and Clang vectorise at -O2. */
static uint64_t count_bare_lf(const unsigned char *p, size_t n)
{
	uint64_t c = 0;
	size_t i = 0;

	for (; i + 64 <= n; i += 64) {
		const unsigned char *q = p + i;
		unsigned char acc = 0;
		int j;

		for (j = 0; j < 64; j++)
			acc += (unsigned char)((q[j] == '\n') & (q[j - 1] != '\r'));
		c += acc;
	}
	for (; i < n; i++) {
		/* q[-1], not p[i - 1]: with i == 0 that adds SIZE_MAX to p,
		 * a pointer overflow (undefined) even though it wraps to the
		 * byte we mean. */
		const unsigned char *q = p + i;

		c += (uint64_t)((q[0] == '\n') & (q[-1] != '\r'));
	}
	return c;
}

/* ---- the index scanner ------------------------------------------------------ */

struct scan {
	struct mbox *m;
	bool trust_x_uidl;
	unsigned char *buf;
	size_t bufsize;
	uint64_t base;         /* file offset of buf[0] */
	size_t n;              /* valid bytes in buf */
	size_t pos;            /* everything before buf[pos] is processed */
	bool eof;
	bool in_from;          /* inside the current message's From_ line */
	/* the current message */
	uint64_t from_off, off, bare_lf;
	size_t hlen;           /* bytes collected in hbuf */
	bool hdr_active;       /* still looking for X-UIDL */
	bool hdr_at_ls;        /* buf[pos] starts a header line */
	uint32_t xuidl;
	unsigned char hbuf[UIDSTORE_HASH_BYTES];
};

static int grow_arrays(struct mbox *m)
{
	size_t ncap = m->cap < 1024 ? 1024 : m->cap * 2;
	struct mbox_msg *nm;
	struct uid_msg *ni;

	if (ncap > MBOX_MAX_MESSAGES)
		ncap = MBOX_MAX_MESSAGES;
	nm = realloc(m->msgs, ncap * sizeof(*nm));
	if (nm == NULL)
		return -1;
	m->msgs = nm;
	ni = realloc(m->ids, ncap * sizeof(*ni));
	if (ni == NULL)
		return -1;
	m->ids = ni;
	m->cap = ncap;
	return 0;
}

/* Gives back what geometric growth over-allocated (up to half). */
static void shrink_arrays(struct mbox *m)
{
	struct mbox_msg *nm;
	struct uid_msg *ni;

	if (m->count == 0 || m->count == m->cap)
		return;
	nm = realloc(m->msgs, m->count * sizeof(*nm));
	if (nm != NULL)
		m->msgs = nm;
	ni = realloc(m->ids, m->count * sizeof(*ni));
	if (ni != NULL)
		m->ids = ni;
	if (nm != NULL && ni != NULL)
		m->cap = m->count;
}

static void hash_collect(struct scan *s, size_t a, size_t b)
{
	size_t take = b - a;

	if (s->hlen >= sizeof(s->hbuf))
		return;
	if (take > sizeof(s->hbuf) - s->hlen)
		take = sizeof(s->hbuf) - s->hlen;
	memcpy(s->hbuf + s->hlen, s->buf + a, take);
	s->hlen += take;
}

/* An "X-UIDL:" header line at buf[p]: its value becomes the message's UID
 * candidate if it is 1..70 printable characters on one unfolded line. */
static void check_xuidl(struct scan *s, size_t p)
{
	const unsigned char *b = s->buf;
	size_t w = p + MBOX_LOOKAHEAD < s->n ? p + MBOX_LOOKAHEAD : s->n;
	size_t i, vs, ve;

	if (w - p < 7 || strncasecmp((const char *)b + p, "X-UIDL:", 7) != 0)
		return;
	s->hdr_active = false;   /* the first X-UIDL header decides */
	for (i = p + 7; i < w && (b[i] == ' ' || b[i] == '\t'); i++)
		;
	for (vs = i; i < w && b[i] >= 0x21 && b[i] <= 0x7e; i++)
		;
	ve = i;
	for (; i < w && (b[i] == ' ' || b[i] == '\t'); i++)
		;
	if (i < w && b[i] == '\r')
		i++;
	if (i < w && b[i] == '\n') {
		if (i + 1 < s->n && (b[i + 1] == ' ' || b[i + 1] == '\t'))
			return;  /* folded: not a simple value */
	} else if (!(s->eof && i == s->n)) {
		return;
	}
	s->xuidl = uidstore_add(s->m->uids, (const char *)b + vs, ve - vs);
}

/* Header work on content bytes buf[a..b): find line starts, stop at the
 * empty line or after MBOX_XUIDL_SCAN_MAX bytes. */
static void scan_header(struct scan *s, size_t a, size_t b)
{
	size_t p = a;

	while (s->hdr_active && p < b) {
		if (s->hdr_at_ls) {
			unsigned char c = s->buf[p];

			s->hdr_at_ls = false;
			if (s->base + p - s->off > MBOX_XUIDL_SCAN_MAX || c == '\n' ||
			    (c == '\r' && p + 1 < s->n && s->buf[p + 1] == '\n')) {
				s->hdr_active = false;
				return;
			}
			if (c == 'X' || c == 'x')
				check_xuidl(s, p);
			if (!s->hdr_active)
				return;
		}
		{
			const unsigned char *nl = memchr(s->buf + p, '\n', b - p);

			if (nl == NULL)
				return;
			p = (size_t)(nl - s->buf) + 1;
			s->hdr_at_ls = true;
		}
	}
}

/* The rest of the work on content bytes buf[a..b) (scan_lines counted
 * them already): the hash prefix and the header. */
static void scan_content(struct scan *s, size_t a, size_t b)
{
	if (a >= b)
		return;
	hash_collect(s, a, b);
	if (s->hdr_active)
		scan_header(s, a, b);
}

static void start_message(struct scan *s, uint64_t from_off)
{
	s->from_off = from_off;
	s->off = from_off;
	s->bare_lf = 0;
	s->hlen = 0;
	s->in_from = true;
	s->hdr_active = false;
	s->hdr_at_ls = false;
	s->xuidl = UIDSTORE_NONE;
}

static unsigned char byte_at(const struct scan *s, uint64_t off)
{
	return s->buf[off - s->base];
}

/* Records the current message, whose content ends at file offset e (the
 * framing line in front of the next From_ line, or end of file). */
static int finish_message(struct scan *s, uint64_t e, bool at_eof,
			  char *reason, size_t reasonsize)
{
	struct mbox *m = s->m;
	uint64_t len = e - s->off, bare = s->bare_lf, hashed;
	bool ends_lf = true;
	struct mbox_msg *mm;
	struct uid_msg *id;

	if (s->in_from) {
		/* The file ended inside the From_ line: no content. */
		s->off = e;
		len = 0;
		bare = 0;
	} else if (at_eof && len > 0) {
		unsigned char c1 = byte_at(s, e - 1);

		ends_lf = c1 == '\n';
		/* One final empty line is framing ("\n" or "\r\n" after a LF;
		 * the From_ line's own LF counts). */
		if (c1 == '\n') {
			if (len == 1 || byte_at(s, e - 2) == '\n') {
				len -= 1;
				bare -= 1;   /* that LF was counted as bare */
			} else if (byte_at(s, e - 2) == '\r' &&
				   (len == 2 || byte_at(s, e - 3) == '\n')) {
				len -= 2;
			}
		}
	}
	if (m->count >= MBOX_MAX_MESSAGES) {
		reason_set(reason, reasonsize, "more than %u messages", MBOX_MAX_MESSAGES);
		return -1;
	}
	if (m->count == m->cap && grow_arrays(m) < 0) {
		reason_set(reason, reasonsize, "out of memory");
		return -2;
	}
	mm = &m->msgs[m->count];
	id = &m->ids[m->count];
	m->count++;
	mm->from_off = s->from_off;
	mm->off = s->off;
	mm->len = len;
	mm->flags = len > 0 && !ends_lf ? MBOX_NO_FINAL_LF : 0;
	hashed = s->off + len - s->from_off;
	if (hashed > s->hlen)
		hashed = s->hlen;
	id->hash = mbox_id_hash(s->hbuf, hashed, s->off + len - s->from_off, !ends_lf);
	id->size = len + bare + (len > 0 && !ends_lf ? 2 : 0);
	id->uid = s->xuidl;
	id->flags = 0;
	return 0;
}

/* Is the LF at buf[q] the empty line in front of a separator?  Then
 * *fstart_r is where that empty line starts (q, or q - 1 for "\r\n"). */
static bool is_separator(const struct scan *s, size_t q, size_t *fstart_r)
{
	const unsigned char *b = s->buf;

	if (q + 6 > s->n || memcmp(b + q + 1, "From ", 5) != 0)
		return false;
	if (s->base + q >= 1 && b[q - 1] == '\n')
		*fstart_r = q;
	else if (s->base + q >= 2 && b[q - 1] == '\r' && b[q - 2] == '\n')
		*fstart_r = q - 1;
	else
		return false;
	return mbox_from_line_valid(b + q + 1, s->n - (q + 1));
}

/* The hot loop of the index.  Walks content bytes from buf[from] in
 * 64-byte blocks, counting LFs not preceded by CR and noting whether a
 * line in the block starts with 'F'; only such blocks (rare outside
 * headers) are looked at byte by byte for a separator whose empty line's
 * LF lies before limit.  Adds the bare LFs before the separator (or before
 * limit) to the message.  buf[limit] must be readable. */
static bool scan_lines(struct scan *s, size_t from, size_t limit,
		       size_t *fstart_r, size_t *sstart_r)
{
	const unsigned char *b = s->buf;
	uint64_t bare = 0;
	size_t i = from;

	while (i < limit) {
		size_t len = limit - i < 64 ? limit - i : 64, j;

		if (len == 64) {
			const unsigned char *q = b + i;
			unsigned char acc = 0, nf = 0;
			int k;

			for (k = 0; k < 64; k++) {
				unsigned char lf = q[k] == '\n';

				acc += (unsigned char)(lf & (q[k - 1] != '\r'));
				nf |= (unsigned char)(lf & (q[k + 1] == 'F'));
			}
			if (nf == 0) {
				bare += acc;
				i += 64;
				continue;
			}
		}
		for (j = i; j < i + len; j++) {
			if (b[j] == '\n' && b[j + 1] == 'F' && is_separator(s, j, fstart_r)) {
				if (*fstart_r > i)
					bare += count_bare_lf(b + i, *fstart_r - i);
				*sstart_r = j + 1;
				s->bare_lf += bare;
				return true;
			}
		}
		bare += count_bare_lf(b + i, len);
		i += len;
	}
	s->bare_lf += bare;
	return false;
}

/* Processes buf[pos..limit).  Returns 0 or -1/-2 (finish_message). */
static int scan_range(struct scan *s, size_t limit, char *reason, size_t reasonsize)
{
	while (s->pos < limit) {
		size_t fstart = 0, sstart = 0, end;
		bool found;

		if (s->in_from) {
			const unsigned char *nl = memchr(s->buf + s->pos, '\n', limit - s->pos);

			end = nl != NULL ? (size_t)(nl - s->buf) + 1 : limit;
			hash_collect(s, s->pos, end);
			s->pos = end;
			if (nl != NULL) {
				s->in_from = false;
				s->off = s->base + end;
				s->hdr_active = s->trust_x_uidl;
				s->hdr_at_ls = true;
			}
			continue;
		}
		found = scan_lines(s, s->pos, limit, &fstart, &sstart);
		end = found ? fstart : limit;
		/* fstart can lie one byte before pos (a "\r" of a "\r\n" empty
		 * line decided in the previous round); finish_message() cuts
		 * the content at fstart anyway. */
		if (end > s->pos)
			scan_content(s, s->pos, end);
		s->pos = end > s->pos ? end : s->pos;
		if (found) {
			int r = finish_message(s, s->base + fstart, false, reason, reasonsize);

			if (r < 0)
				return r;
			start_message(s, s->base + sstart);
			s->pos = sstart;
		}
	}
	return 0;
}

/* A scanner with its read buffer, or NULL when out of memory. */
static struct scan *scan_create(void)
{
	struct scan *s = calloc(1, sizeof(*s));
	void *p = NULL;

	if (s == NULL)
		return NULL;
	/* Page-aligned, and base kept a multiple of SCAN_ALIGN below, so
	 * the kernel copies each block between equally aligned
	 * addresses (several times faster than a skewed copy). */
	s->bufsize = SCAN_ALIGN + SCAN_BEHIND + MBOX_LOOKAHEAD + MBOX_READ_BLOCK;
	if (posix_memalign(&p, SCAN_ALIGN, s->bufsize + 1) != 0) {  /* + a NUL */
		free(s);
		return NULL;
	}
	s->buf = p;
	return s;
}

enum maildrop_status mbox_index(struct mbox *m, bool trust_x_uidl,
				char *reason, size_t reasonsize)
{
	struct scan *s;
	enum maildrop_status st = MAILDROP_OK;
	bool started = false;

	s = scan_create();
	if (s == NULL) {
		reason_set(reason, reasonsize, "out of memory");
		return MAILDROP_TEMP;
	}
	s->m = m;
	s->trust_x_uidl = trust_x_uidl;
	for (;;) {
		size_t keep = s->pos > SCAN_BEHIND ? (s->pos - SCAN_BEHIND) & ~(size_t)(SCAN_ALIGN - 1) : 0;
		size_t limit;
		ssize_t r;

		memmove(s->buf, s->buf + keep, s->n - keep);
		s->base += keep;
		s->n -= keep;
		s->pos -= keep;
		do
			r = pread(m->fd, s->buf + s->n, s->bufsize - s->n, (off_t)(s->base + s->n));
		while (r < 0 && errno == EINTR);
		if (r < 0) {
			reason_set(reason, reasonsize, "read %s: %s", m->path, strerror(errno));
			st = MAILDROP_TEMP;
			break;
		}
		s->eof = r == 0;
		s->n += (size_t)r;
		s->buf[s->n] = '\0';   /* scan_lines peeks one byte past limit */
		limit = s->eof ? s->n : (s->n > MBOX_LOOKAHEAD ? s->n - MBOX_LOOKAHEAD : 0);
		if (!started) {
			if (!s->eof && s->n < MBOX_LOOKAHEAD)
				continue;   /* a short read: get enough to judge the first line */
			if (s->n == 0)
				break;      /* empty file: empty maildrop */
			if (!mbox_from_line_valid(s->buf, s->n)) {
				reason_set(reason, reasonsize,
					   "%s does not start with a From_ line (not an mbox)", m->path);
				st = MAILDROP_PERM;
				break;
			}
			started = true;
			start_message(s, 0);
		}
		if (s->pos < limit) {
			int rr = scan_range(s, limit, reason, reasonsize);

			if (rr < 0) {
				st = rr == -1 ? MAILDROP_PERM : MAILDROP_TEMP;
				break;
			}
		}
		if (s->eof) {
			int rr = finish_message(s, s->base + s->n, true, reason, reasonsize);

			if (rr < 0)
				st = rr == -1 ? MAILDROP_PERM : MAILDROP_TEMP;
			break;
		}
	}
	if (st == MAILDROP_OK) {
		m->end = s->base + s->n;
		shrink_arrays(m);
	}
	free(s->buf);
	free(s);
	return st;
}
