/*
 * fuzz_netio: lib/netio.c, the bounded line reader every client byte goes
 * through, and its output buffer.  The client's bytes arrive through a
 * transport of our own in pieces of fuzzer-chosen sizes, with "nothing
 * yet" (EAGAIN, which makes netio flush and wait) in between; each result
 * is checked against a model of the reader's contract (netio.h): a line
 * ends at LF, one CR before it is dropped, a line longer than the limit is
 * one NETIO_TOO_LONG, an unterminated last line is dropped at EOF.  The
 * limit may change after a few lines, as AUTH changes it.  Every line is
 * echoed back, and what reaches the transport (in short writes, with
 * EAGAIN too) must be exactly what was written, in order.
 *
 * Input: byte 0 the first line limit, byte 1 the limit after line 3, byte
 * 2 the size class of the pieces and bytes 3..4 their seed; the rest is
 * the client's stream (at most 64 KiB of it is used).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/netio.h"
#include "tests/fuzz/fuzzutil.h"

#define STREAM_MAX (64 * 1024)
/* A write larger than netio's output buffer goes through another path:
 * after a too-long line, one of these is queued. */
#define BIG_WRITE (NETIO_OUTBUF_SIZE + 4321)

/* Limits to choose from: tiny, around the default, AUTH's, beyond the
 * ceiling (netio clamps), and 0 (= the default). */
static const size_t limits[] = {
	0, 1, 2, 3, 10, NETIO_MAX_LINE - 1, NETIO_MAX_LINE, NETIO_MAX_LINE + 1, 1024,
	32 * 1024, 64 * 1024, 64 * 1024 + 1
};
static const uint32_t piece_sizes[] = { 1, 2, 7, 64, 513, 4096, 9000 };

struct feed {
	const uint8_t *data;
	size_t len, delivered;
	uint32_t rnd;
	uint32_t piece_max;
	unsigned eagain_run;
	/* what the transport has been given to write, checked as it comes */
	const uint8_t *want;
	size_t want_len, written;
};

static int pipe_fds[2] = { -1, -1 };
static uint8_t *expected;   /* what the output must be */
static size_t expected_cap;
static uint8_t *big;        /* BIG_WRITE bytes of a pattern */

static ssize_t feed_read(void *ctx, void *buf, size_t len)
{
	struct feed *f = ctx;
	uint32_t r = fz_rand(&f->rnd);
	size_t n;

	/* Now and then "nothing yet", at most twice in a row. */
	if (f->delivered < f->len && r % 8 == 0 && f->eagain_run < 2) {
		f->eagain_run++;
		errno = EAGAIN;
		return -1;
	}
	f->eagain_run = 0;
	if (f->delivered == f->len)
		return 0;
	n = 1 + (r >> 3) % f->piece_max;
	if (n > len)
		n = len;
	if (n > f->len - f->delivered)
		n = f->len - f->delivered;
	memcpy(buf, f->data + f->delivered, n);
	f->delivered += n;
	return (ssize_t)n;
}

static ssize_t feed_write(void *ctx, const void *buf, size_t len)
{
	struct feed *f = ctx;
	uint32_t r = fz_rand(&f->rnd);
	size_t n;

	if (r % 16 == 0) {
		errno = EAGAIN;
		return -1;
	}
	n = 1 + (r >> 4) % 70000;
	if (n > len)
		n = len;
	if (f->written + n > f->want_len || memcmp(f->want + f->written, buf, n) != 0) {
		fprintf(stderr, "netio wrote something else than it was given, at byte %zu\n",
			f->written);
		abort();
	}
	f->written += n;
	return (ssize_t)n;
}

/* The model's next result from pos with limit max: NETIO_LINE with
 * [*start, +*n), NETIO_TOO_LONG, or NETIO_EOF. */
static enum netio_status model_next(const uint8_t *d, size_t len, size_t *pos, size_t max,
				    bool *tail_reported, size_t *start, size_t *n)
{
	const uint8_t *lf;
	size_t content;

	if (*pos >= len)
		return NETIO_EOF;
	lf = memchr(d + *pos, '\n', len - *pos);
	if (lf == NULL) {
		/* An unterminated tail is reported once if it is certain to
		 * be too long (limit + 2 bytes without LF), then dropped. */
		if (!*tail_reported && len - *pos >= max + 2) {
			*tail_reported = true;
			return NETIO_TOO_LONG;
		}
		*pos = len;
		return NETIO_EOF;
	}
	content = (size_t)(lf - (d + *pos));
	*start = *pos;
	*pos += content + 1;
	if (content > 0 && d[*start + content - 1] == '\r')
		content--;
	*n = content;
	return content > max ? NETIO_TOO_LONG : NETIO_LINE;
}

static size_t effective_limit(size_t l)
{
	if (l == 0)
		return NETIO_MAX_LINE;
	return l > 64 * 1024 ? 64 * 1024 : l;
}

/* The input being run: expect() appends to its expected output. */
static struct feed *current_feed;

/* Appends to what the transport must be given. */
static void expect(const void *p, size_t n)
{
	if (n == 0)
		return;
	if (current_feed->want_len + n > expected_cap) {
		size_t ncap = expected_cap ? expected_cap : 4096;
		uint8_t *ne;

		while (ncap < current_feed->want_len + n)
			ncap *= 2;
		ne = realloc(expected, ncap);
		if (ne == NULL)
			fz_die("realloc");
		expected = ne;
		expected_cap = ncap;
	}
	memcpy(expected + current_feed->want_len, p, n);
	current_feed->want_len += n;
	current_feed->want = expected;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_log_quiet("fuzz_netio");
	/* netio polls these when the transport says EAGAIN: the read end
	 * never becomes readable (a read wait times out at once, with the
	 * timeout 0 we pass), the write end is always writable. */
	if (pipe(pipe_fds) < 0)
		fz_die("pipe");
	big = malloc(BIG_WRITE);
	if (big == NULL)
		fz_die("malloc");
	for (size_t i = 0; i < BIG_WRITE; i++)
		big[i] = (uint8_t)('a' + i % 26);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd0 = fz_fd_lowest();
	struct fz_in in = { data, size };
	struct feed f;
	struct netio_transport tr;
	struct netio *io;
	size_t lim[2], pos = 0, lines = 0;
	bool tail_reported = false;
	char note[32];

	memset(&f, 0, sizeof(f));
	lim[0] = limits[fz_byte(&in) % (sizeof(limits) / sizeof(limits[0]))];
	lim[1] = limits[fz_byte(&in) % (sizeof(limits) / sizeof(limits[0]))];
	f.piece_max = piece_sizes[fz_byte(&in) % (sizeof(piece_sizes) / sizeof(piece_sizes[0]))];
	f.rnd = fz_u16(&in) + 1;
	f.data = in.p;
	f.len = in.len > STREAM_MAX ? STREAM_MAX : in.len;
	current_feed = &f;

	io = netio_create(pipe_fds[0], pipe_fds[1]);
	if (io == NULL)
		fz_die("netio_create");
	tr.read = feed_read;
	tr.write = feed_write;
	tr.ctx = &f;
	tr.wait_for = NULL;
	netio_set_transport(io, &tr);
	if (lim[0] != 0)
		netio_set_max_line(io, lim[0]);

	for (;;) {
		size_t max = effective_limit(lines < 3 ? lim[0] : lim[1]);
		size_t mstart = 0, mn = 0;
		enum netio_status want, got;
		char *line = NULL;
		size_t len = 0;

		if (lines == 3)
			netio_set_max_line(io, lim[1]);
		do
			got = netio_read_line(io, &line, &len, 0);
		while (got == NETIO_TIMEOUT);
		want = model_next(f.data, f.len, &pos, max, &tail_reported, &mstart, &mn);
		if (got != want) {
			fprintf(stderr, "line %zu: netio said %d, the model %d\n", lines, got, want);
			abort();
		}
		if (got == NETIO_EOF)
			break;
		lines++;
		if (got == NETIO_LINE) {
			if (len != mn || memcmp(line, f.data + mstart, len) != 0 || line[len] != '\0') {
				fprintf(stderr, "line %zu: netio returned other bytes than were sent\n",
					lines);
				abort();
			}
			/* Right after a line, whatever else has arrived is
			 * still buffered. */
			if (netio_input_pending(io) != (f.delivered > pos)) {
				fprintf(stderr, "line %zu: netio_input_pending is wrong\n", lines);
				abort();
			}
			expect(line, len);
			expect("\r\n", 2);
			if (netio_write(io, line, len) < 0 || netio_puts(io, "\r\n") < 0)
				fz_die("netio_write");
		} else {
			int n = snprintf(note, sizeof(note), "too long %zu\r\n", lines);

			expect(note, (size_t)n);
			expect(big, BIG_WRITE);
			if (netio_printf(io, "too long %zu\r\n", lines) < 0 ||
			    netio_write(io, big, BIG_WRITE) < 0)
				fz_die("netio_write");
		}
	}
	if (netio_flush(io) < 0)
		fz_die("netio_flush");
	if (f.written != f.want_len || netio_bytes_out(io) != f.written ||
	    netio_bytes_in(io) != f.len) {
		fprintf(stderr, "counts: written %zu of %zu, bytes_out %llu, bytes_in %llu of %zu\n",
			f.written, f.want_len, netio_bytes_out(io), netio_bytes_in(io), f.len);
		abort();
	}
	netio_destroy(io);
	fz_fd_check(fd0);
	return 0;
}
