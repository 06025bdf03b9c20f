/*
 * mbox: opening, locking and indexing an mbox spool (framing in mbox.h).
 * Runs as the user, after the privilege drop.
 *
 * Order at open: safe_open the spool (never a symlink, FIFO, device or hard
 * link; owner and mode checked on the descriptor), fcntl write lock, then
 * the dot-lock (Debian policy: fcntl first, dot-lock second, so we never
 * deadlock against an LDA), then finish any update a crash interrupted
 * (server/maildrop/mbox_update.c: it must hold the locks), then -- server mode --
 * write back mail a temp-drop session left behind (server/maildrop/tempdrop.c),
 * then index, then UIDs.  Temp-drop mode uses the two halves separately
 * (mbox_open_locked for the spool, mbox_adopt + mbox_load for the
 * temporary drop).
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
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/safeopen.h"
#include "server/maildrop/dotlock.h"
#include "server/maildrop/fileops.h"
#include "server/maildrop/mbox.h"
#include "server/maildrop/tempdrop.h"

/* Bytes kept in front of the scan position: the separator test looks up to
 * two bytes back, the final-empty-line test three. */
#define SCAN_BEHIND 8
/* Alignment of the read buffer and of the file offset at its start. */
#define SCAN_ALIGN 4096

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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
	for (; i < n; i++)
		c += (uint64_t)((p[i] == '\n') & (p[i - 1] != '\r'));
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

/* Indexes the whole spool.  Returns MAILDROP_OK, PERM (format, too many
 * messages) or TEMP (read error, memory). */
static enum maildrop_status mbox_index(struct mbox *m, bool trust_x_uidl,
				       char *reason, size_t reasonsize)
{
	struct scan *s;
	enum maildrop_status st = MAILDROP_OK;
	bool started = false;

	s = calloc(1, sizeof(*s));
	if (s != NULL) {
		void *p = NULL;

		/* Page-aligned, and base kept a multiple of SCAN_ALIGN below, so
		 * the kernel copies each block between equally aligned
		 * addresses (several times faster than a skewed copy). */
		s->bufsize = SCAN_ALIGN + SCAN_BEHIND + MBOX_LOOKAHEAD + MBOX_READ_BLOCK;
		if (posix_memalign(&p, SCAN_ALIGN, s->bufsize + 1) == 0)  /* + a NUL */
			s->buf = p;
	}
	if (s == NULL || s->buf == NULL) {
		if (s != NULL)
			free(s);
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

/* ---- locking ---------------------------------------------------------------- */

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static enum maildrop_status lock_fcntl(struct mbox *m, double deadline,
				       char *reason, size_t reasonsize)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = m->read_only ? F_RDLCK : F_WRLCK;
	fl.l_whence = SEEK_SET;
	for (;;) {
		if (fcntl(m->fd, F_SETLK, &fl) == 0) {
			m->fcntl_locked = true;
			return MAILDROP_OK;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EACCES) {
			reason_set(reason, reasonsize, "fcntl lock %s: %s", m->path, strerror(errno));
			return MAILDROP_TEMP;
		}
		if (now_mono() >= deadline) {
			reason_set(reason, reasonsize, "%s is locked (fcntl) by another process",
				   m->path);
			return MAILDROP_IN_USE;
		}
		sleep_ms(MBOX_LOCK_PAUSE_MS);
	}
}

static enum maildrop_status lock_dot(struct mbox *m, double deadline,
				     char *reason, size_t reasonsize)
{
	enum maildrop_status st;
	double left = deadline - now_mono();
	unsigned wait_s = left > 0 ? (unsigned)(left + 0.999) : 0;

	if (m->locker.lock != NULL) {
		st = m->locker.lock(m->locker.ctx, reason, reasonsize);
	} else {
		enum dotlock_result r;

		m->lock_pid = getpid();
		r = dotlock_acquire(m->lock_path, m->lock_pid, wait_s, reason, reasonsize);
		st = r == DOTLOCK_OK ? MAILDROP_OK : r == DOTLOCK_BUSY ? MAILDROP_IN_USE :
			MAILDROP_TEMP;
	}
	if (st == MAILDROP_OK) {
		m->dot_locked = true;
		m->last_touch = time(NULL);
	} else if (st == MAILDROP_TEMP && m->read_only) {
		/* Nobody can deliver to a read-only file system either. */
		log_notice("no dot-lock for read-only %s: %s", m->path, reason);
		st = MAILDROP_OK;
	}
	return st;
}

void mbox_unlock(struct mbox *m)
{
	if (m->dot_locked) {
		if (m->locker.unlock != NULL)
			m->locker.unlock(m->locker.ctx);
		else if (dotlock_release(m->lock_path, m->lock_pid) < 0)
			log_warning("dot-lock %s was no longer ours at release", m->lock_path);
		m->dot_locked = false;
	}
	if (m->fcntl_locked) {
		struct flock fl;

		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_UNLCK;
		fl.l_whence = SEEK_SET;
		fcntl(m->fd, F_SETLK, &fl);
		m->fcntl_locked = false;
	}
}

void mbox_touch_lock(struct mbox *m)
{
	time_t now = time(NULL);

	if (!m->dot_locked || m->locker.lock != NULL || now - m->last_touch < MBOX_TOUCH_INTERVAL)
		return;
	if (dotlock_touch(m->lock_path) < 0)
		log_warning("cannot refresh dot-lock %s: %s", m->lock_path, strerror(errno));
	m->last_touch = now;
}

/* ---- open / close ----------------------------------------------------------- */

void mbox_free(struct mbox *m)
{
	if (m == NULL)
		return;
	mbox_unlock(m);
	if (m->fd >= 0)
		close(m->fd);
	uidstore_free(m->uids);
	free(m->msgs);
	free(m->ids);
	free(m->sendbuf);
	free(m->path);
	free(m->lock_path);
	free(m->state_dir);
	free(m);
}

static enum maildrop_status open_spool(struct mbox *m, const struct maildrop_settings *set,
				       bool create, char *reason, size_t reasonsize)
{
	struct safeopen_rules rules;
	struct stat st;
	const char *why = NULL;
	int e;

	memset(&rules, 0, sizeof(rules));
	rules.check_owner = set->require_owner;
	rules.owner = (uid_t)set->owner_uid;
	m->fd = safe_open(m->path, O_RDWR, 0, &rules, &st, &why);
	/* Created only when missing: O_CREAT on an existing file can fail in
	 * a sticky directory (fs.protected_regular) where a plain open works. */
	if (m->fd < 0 && errno == ENOENT && create)
		m->fd = safe_open(m->path, O_RDWR | O_CREAT | O_EXCL, 0600, &rules, &st, &why);
	if (m->fd < 0 && errno == EEXIST && create)   /* an agent was quicker */
		m->fd = safe_open(m->path, O_RDWR, 0, &rules, &st, &why);
	if (m->fd < 0 && errno == EROFS) {
		m->read_only = true;
		m->fd = safe_open(m->path, O_RDONLY, 0, &rules, &st, &why);
	}
	if (m->fd < 0) {
		e = errno;
		if (e == ENOENT)
			return MAILDROP_OK;   /* no spool file: an empty maildrop */
		reason_set(reason, reasonsize, "spool %s: %s", m->path,
			   why != NULL && e != EACCES && e != EIO ? why : strerror(e));
		return (e == ELOOP || e == EINVAL || e == EPERM || e == EACCES ||
			e == ENOTDIR) ? MAILDROP_PERM : MAILDROP_TEMP;
	}
	if ((st.st_mode & S_IWOTH) != 0) {
		reason_set(reason, reasonsize, "spool %s is writable by others", m->path);
		return MAILDROP_PERM;
	}
	m->dev = st.st_dev;
	m->ino = st.st_ino;
	return MAILDROP_OK;
}

/* UIDs for every message; the state is saved at once when some message was
 * not in it, so the UIDs a client sees survive an aborted session. */
static enum maildrop_status assign_uids(struct mbox *m, char *reason, size_t reasonsize)
{
	long unsaved = uidstore_assign(m->uids, m->ids, m->count);
	unsigned i;

	if (unsaved < 0) {
		reason_set(reason, reasonsize, "out of memory assigning UIDs");
		return MAILDROP_TEMP;
	}
	for (i = 0; i < m->count; i++)
		if (m->ids[i].flags & UIDSTORE_SEEN)
			m->msgs[i].flags |= MBOX_SEEN_START;
	if (unsaved > 0) {
		char why[256];

		if (uidstore_save(m->uids, m->state_dir, m->ids, m->count, why, sizeof(why)) < 0) {
			log_warning("cannot save UID state for %s: %s; new UIDs are for this session only",
				    m->path, why);
			if (uidstore_rekey_new(m->uids, m->ids, m->count) < 0) {
				reason_set(reason, reasonsize, "cannot make session UIDs");
				return MAILDROP_TEMP;
			}
		}
	}
	return MAILDROP_OK;
}

enum maildrop_status mbox_open_locked(const struct maildrop_settings *set, bool create,
				      struct mbox **m_r, char *reason, size_t reasonsize)
{
	enum maildrop_status st;
	struct mbox *m;
	bool fail = false;
	double deadline;

	*m_r = NULL;
	reason_set(reason, reasonsize, "no reason");
	if (set->path == NULL || set->state_dir == NULL) {
		reason_set(reason, reasonsize, "no spool path or state directory configured");
		return MAILDROP_PERM;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		reason_set(reason, reasonsize, "out of memory");
		return MAILDROP_TEMP;
	}
	m->fd = -1;
	m->journal_name = MBOX_JOURNAL;
	m->path = dup_or_null(set->path, &fail);
	m->state_dir = dup_or_null(set->state_dir, &fail);
	if (set->lock_path != NULL) {
		m->lock_path = dup_or_null(set->lock_path, &fail);
	} else if (!fail) {
		size_t len = strlen(set->path) + sizeof(".lock");

		m->lock_path = malloc(len);
		if (m->lock_path != NULL)
			snprintf(m->lock_path, len, "%s.lock", set->path);
		else
			fail = true;
	}
	if (fail) {
		mbox_free(m);
		reason_set(reason, reasonsize, "out of memory");
		return MAILDROP_TEMP;
	}
	m->locker = set->locker;
	m->lock_wait = set->lock_wait;
	{
		/* Without it no UID survives and no deletion can be made
		 * safely: better refused at login than failing at every QUIT. */
		struct stat sd;

		int r = lstat(m->state_dir, &sd);

		if (r < 0 || !S_ISDIR(sd.st_mode)) {
			reason_set(reason, reasonsize, "state directory %s: %s", m->state_dir,
				   r < 0 ? strerror(errno) : "not a directory");
			mbox_free(m);
			return MAILDROP_PERM;
		}
	}

	st = open_spool(m, set, create, reason, reasonsize);
	if (st != MAILDROP_OK)
		goto fail;
	if (m->fd >= 0) {
		deadline = now_mono() + set->lock_wait;
		st = lock_fcntl(m, deadline, reason, reasonsize);
		if (st == MAILDROP_OK)
			st = lock_dot(m, deadline, reason, reasonsize);
		if (st != MAILDROP_OK)
			goto fail;
	}
	st = mbox_recover(m, reason, reasonsize);
	if (st != MAILDROP_OK)
		goto fail;
	*m_r = m;
	return MAILDROP_OK;
fail:
	mbox_free(m);
	return st;
}

enum maildrop_status mbox_load(struct mbox *m, bool trust_x_uidl,
			       char *reason, size_t reasonsize)
{
	enum maildrop_status st;
	bool perm = false;

	if (m->fd < 0)
		return MAILDROP_OK;
	m->uids = uidstore_load(m->state_dir, &perm, reason, reasonsize);
	if (m->uids == NULL)
		return perm ? MAILDROP_PERM : MAILDROP_TEMP;
	/* X-UIDL headers count on the first sight only: no need to look. */
	st = mbox_index(m, trust_x_uidl && uidstore_first_sight(m->uids), reason, reasonsize);
	if (st == MAILDROP_OK)
		st = assign_uids(m, reason, reasonsize);
	return st;
}

enum maildrop_status mbox_adopt(int fd, const char *path, const char *state_dir,
				const char *journal_name, struct mbox **m_r,
				char *reason, size_t reasonsize)
{
	enum maildrop_status st;
	struct stat sb;
	struct mbox *m;
	bool fail = false;

	*m_r = NULL;
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		close(fd);
		reason_set(reason, reasonsize, "out of memory");
		return MAILDROP_TEMP;
	}
	m->fd = fd;
	m->journal_name = journal_name;
	m->path = dup_or_null(path, &fail);
	m->state_dir = dup_or_null(state_dir, &fail);
	m->lock_path = dup_or_null("", &fail);   /* never used: no dot-lock */
	if (fail) {
		mbox_free(m);
		reason_set(reason, reasonsize, "out of memory");
		return MAILDROP_TEMP;
	}
	if (fstat(fd, &sb) < 0) {
		reason_set(reason, reasonsize, "fstat %s: %s", path, strerror(errno));
		mbox_free(m);
		return MAILDROP_TEMP;
	}
	m->dev = sb.st_dev;
	m->ino = sb.st_ino;
	/* No wait: the only other holder is another session of the user. */
	st = lock_fcntl(m, now_mono(), reason, reasonsize);
	if (st != MAILDROP_OK) {
		mbox_free(m);
		return st;
	}
	*m_r = m;
	return MAILDROP_OK;
}

enum maildrop_status mbox_open(const struct maildrop_settings *set, struct mbox **m_r,
			       char *reason, size_t reasonsize)
{
	enum maildrop_status st;
	struct mbox *m;

	*m_r = NULL;
	st = mbox_open_locked(set, false, &m, reason, reasonsize);
	if (st != MAILDROP_OK)
		return st;
	if (set->temp_dir != NULL) {
		/* Server mode: mail a temp-drop session left behind goes back
		 * into the spool before it is indexed (may re-open m). */
		st = tempdrop_settle(set, &m, reason, reasonsize);
		if (st != MAILDROP_OK) {
			mbox_free(m);
			return st;
		}
	}
	st = mbox_load(m, set->trust_x_uidl, reason, reasonsize);
	if (st != MAILDROP_OK) {
		mbox_free(m);
		return st;
	}
	*m_r = m;
	return MAILDROP_OK;
}

/* ---- the maildrop operations ------------------------------------------------ */

static enum maildrop_status op_open(const struct maildrop_settings *set, void **store_r,
				    char *reason, size_t reasonsize)
{
	struct mbox *m;
	enum maildrop_status st = mbox_open(set, &m, reason, reasonsize);

	*store_r = m;
	return st;
}

static unsigned op_count(const void *store)
{
	return ((const struct mbox *)store)->count;
}

static uint64_t op_msg_size(const void *store, unsigned i)
{
	return ((const struct mbox *)store)->ids[i].size;
}

static const char *op_msg_uid(const void *store, unsigned i)
{
	const struct mbox *m = store;

	return uidstore_str(m->uids, m->ids[i].uid);
}

static bool op_msg_deleted(const void *store, unsigned i)
{
	return (((const struct mbox *)store)->msgs[i].flags & MBOX_DELETED) != 0;
}

static void op_msg_delete(void *store, unsigned i)
{
	((struct mbox *)store)->msgs[i].flags |= MBOX_DELETED;
}

static bool op_msg_seen(const void *store, unsigned i)
{
	return (((const struct mbox *)store)->ids[i].flags & UIDSTORE_SEEN) != 0;
}

static void op_msg_mark_seen(void *store, unsigned i)
{
	((struct mbox *)store)->ids[i].flags |= UIDSTORE_SEEN;
}

static void op_reset(void *store)
{
	struct mbox *m = store;
	unsigned i;

	for (i = 0; i < m->count; i++) {
		m->msgs[i].flags &= ~MBOX_DELETED;
		if (m->msgs[i].flags & MBOX_SEEN_START)
			m->ids[i].flags |= UIDSTORE_SEEN;
		else
			m->ids[i].flags &= ~UIDSTORE_SEEN;
	}
}

static int op_send(void *store, unsigned i, uint64_t body_lines, struct netio *io,
		   const char *ok_line, char *reason, size_t reasonsize)
{
	return mbox_send(store, i, body_lines, io, ok_line, reason, reasonsize);
}

static enum maildrop_status op_commit(void *store, struct maildrop_stats *stats,
				      char *reason, size_t reasonsize)
{
	return mbox_commit(store, stats, reason, reasonsize);
}

static void op_close(void *store)
{
	mbox_free(store);
}

const struct maildrop_ops mbox_maildrop_ops = {
	"mbox",
	op_open, op_count, op_msg_size, op_msg_uid, op_msg_deleted, op_msg_delete,
	op_msg_seen, op_msg_mark_seen, op_reset, op_send, op_commit, op_close
};
