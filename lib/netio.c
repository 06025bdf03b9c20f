/*
 * netio: the one buffered, bounded I/O layer of a POP3 session (see netio.h).
 *
 * Input.  One fixed buffer per session (NETIO_INBUF_SIZE: a full line plus
 * room for pipelined commands).  netio_read_line() first looks for a whole
 * line among the bytes already buffered, and only reads (and, when a read
 * would block, flushes the pending replies and poll()s) when there is none.
 * A line is ended by LF; one CR right before the LF is dropped, any other CR
 * is data.  A line whose content exceeds max_line is reported once as
 * NETIO_TOO_LONG, as soon as that is certain, and everything up to its LF is
 * then dropped without being buffered; a client that sends more than
 * NETIO_DISCARD_MAX bytes without any LF gets NETIO_ERROR (EMSGSIZE) and is
 * closed by the engine.  The deadline covers the whole call, not each
 * byte, so a client trickling one byte at a time times out like an idle one.
 *
 * Output.  Replies collect in a NETIO_OUTBUF_SIZE buffer and go out when the
 * engine is about to wait for input, when the buffer is full, or on
 * netio_flush(); large writes fill the buffer, then pass straight through in
 * big blocks.  A write that makes no progress for write_timeout_ms fails.
 * Any write failure is sticky: every later output call, and the next
 * netio_read_line(), fails too, so the engine stops on a dead connection even
 * if it checks only once.  Because output is flushed before reading more
 * input, a client that floods commands without reading the answers stops
 * being read once its replies back up (memory stays bounded).
 *
 * Both descriptors are made non-blocking; the process ignores SIGPIPE (the
 * engine sets that up), so a write to a closed peer returns EPIPE.  A caught
 * signal interrupts a wait for input (NETIO_ERROR with errno EINTR, not
 * sticky) so the engine can act on SIGTERM; waits for output go on.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/ctcompare.h"
#include "lib/netio.h"

/* Input buffer: one NETIO_MAX_LINE line with its CRLF, and then room for the
 * pipelined commands a client may send in one burst (RFC 2449 PIPELINING). */
#define NETIO_INBUF_SIZE (8 * 1024)
/* Bytes of a too-long line we are willing to read and throw away looking for
 * its LF before deciding the peer is hostile. */
#define NETIO_DISCARD_MAX (1024 * 1024)
/* Ceiling for netio_set_max_line() (SASL exchanges may need more than 512). */
#define NETIO_MAX_LINE_LIMIT (64 * 1024)
#define NETIO_DEFAULT_WRITE_TIMEOUT_MS (600 * 1000)
/* A deadline of "never". */
#define NO_DEADLINE ((int64_t)-1)

struct netio {
	int fd_in, fd_out;
	struct netio_transport tr;

	/* Input: unread bytes are in[in_start .. in_end). */
	char *in;
	size_t in_size;            /* always >= max_line + 2 (content, CR, LF) */
	size_t in_start, in_end;
	size_t max_line;
	bool discarding;           /* dropping the rest of a too-long line */
	size_t discarded;          /* bytes of it dropped so far */
	bool in_eof;
	int in_errno;              /* sticky read error, 0 while none */

	/* Output: out[0 .. out_len) waits to be written. */
	size_t out_len;
	int out_errno;             /* sticky write error, 0 while none */
	int write_timeout_ms;

	unsigned long long bytes_in, bytes_out;
	char out[NETIO_OUTBUF_SIZE];
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t deadline_after(int timeout_ms)
{
	return timeout_ms < 0 ? NO_DEADLINE : now_ms() + timeout_ms;
}

/* Waits until fd is ready for events or the deadline passes.  Returns 1 when
 * ready (or when poll reports an error/hang-up, which the next read or write
 * will turn into its errno), 0 on timeout, -1 with errno on failure.  A
 * signal ends the wait with -1/EINTR when stop_on_signal is set, else the
 * wait goes on. */
static int wait_fd(int fd, short events, int64_t deadline, bool stop_on_signal)
{
	for (;;) {
		struct pollfd pfd;
		int tmo = -1, r;

		if (deadline != NO_DEADLINE) {
			int64_t left = deadline - now_ms();

			if (left <= 0)
				return 0;
			tmo = left > INT_MAX ? INT_MAX : (int)left;
		}
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		r = poll(&pfd, 1, tmo);
		if (r < 0) {
			if (errno == EINTR && !stop_on_signal)
				continue;
			return -1;
		}
		if (r == 0)
			continue;   /* re-check the clock: poll may wake early */
		if ((pfd.revents & POLLNVAL) != 0) {
			errno = EBADF;
			return -1;
		}
		return 1;
	}
}

static ssize_t fd_read(void *ctx, void *buf, size_t len)
{
	const struct netio *io = ctx;

	return read(io->fd_in, buf, len);
}

static ssize_t fd_write(void *ctx, const void *buf, size_t len)
{
	const struct netio *io = ctx;

	return write(io->fd_out, buf, len);
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	if ((fl & O_NONBLOCK) != 0)
		return 0;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

struct netio *netio_create(int fd_in, int fd_out)
{
	struct netio *io;

	if (set_nonblock(fd_in) < 0 || set_nonblock(fd_out) < 0)
		return NULL;
	io = calloc(1, sizeof(*io));
	if (io == NULL)
		return NULL;
	io->in_size = NETIO_INBUF_SIZE;
	io->in = malloc(io->in_size + 1);
	if (io->in == NULL) {
		free(io);
		return NULL;
	}
	io->fd_in = fd_in;
	io->fd_out = fd_out;
	io->tr.read = fd_read;
	io->tr.write = fd_write;
	io->tr.ctx = io;
	io->max_line = NETIO_MAX_LINE;
	io->write_timeout_ms = NETIO_DEFAULT_WRITE_TIMEOUT_MS;
	return io;
}

void netio_destroy(struct netio *io)
{
	if (io == NULL)
		return;
	/* The buffer may have held passwords (PASS, AUTH). */
	ct_wipe(io->in, io->in_size);
	free(io->in);
	free(io);
}

void netio_set_transport(struct netio *io, const struct netio_transport *t)
{
	if (t == NULL) {
		io->tr.read = fd_read;
		io->tr.write = fd_write;
		io->tr.ctx = io;
		io->tr.wait_for = NULL;
	} else {
		io->tr = *t;
	}
}

void netio_set_max_line(struct netio *io, size_t max_line)
{
	if (max_line == 0)
		max_line = NETIO_MAX_LINE;
	if (max_line > NETIO_MAX_LINE_LIMIT)
		max_line = NETIO_MAX_LINE_LIMIT;
	if (max_line + 2 > io->in_size) {
		/* Room for the longer line and a following command.  If memory
		 * is short, the old limit stays: such lines are TOO_LONG. */
		size_t size = max_line + 2 + NETIO_MAX_LINE + 2;
		char *in = realloc(io->in, size + 1);

		if (in == NULL)
			return;
		io->in = in;
		io->in_size = size;
	}
	io->max_line = max_line;
}

void netio_set_write_timeout(struct netio *io, int timeout_ms)
{
	io->write_timeout_ms = timeout_ms;
}

/* ---- output ------------------------------------------------------------ */

static int out_fail(struct netio *io, int err)
{
	io->out_errno = err != 0 ? err : EIO;
	io->out_len = 0;
	errno = io->out_errno;
	return -1;
}

/* Waits for the transport after its read (reading) or write failed with
 * EAGAIN: in the direction it asks for (TLS may need the other one), else
 * input for a read and output for a write.  Returns as wait_fd(). */
static int wait_transport(struct netio *io, bool reading, int64_t deadline,
			  bool stop_on_signal)
{
	enum netio_wait w = reading ? NETIO_WAIT_INPUT : NETIO_WAIT_OUTPUT;

	if (io->tr.wait_for != NULL)
		w = io->tr.wait_for(io->tr.ctx, reading);
	if (w == NETIO_WAIT_OUTPUT)
		return wait_fd(io->fd_out, POLLOUT, deadline, stop_on_signal);
	return wait_fd(io->fd_in, POLLIN, deadline, stop_on_signal);
}

/* Writes all of buf, waiting (poll) while the peer accepts nothing, at most
 * write_timeout_ms without progress.  Returns 0, or -1 (sticky). */
static int write_block(struct netio *io, const char *buf, size_t len)
{
	int64_t deadline = NO_DEADLINE;
	bool waiting = false;   /* deadline is set while no progress is made */

	while (len > 0) {
		ssize_t n = io->tr.write(io->tr.ctx, buf, len);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			io->bytes_out += (unsigned long long)n;
			waiting = false;
			continue;
		}
		if (n == 0)
			return out_fail(io, EIO);   /* no progress, no error: give up */
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return out_fail(io, errno);
		if (!waiting) {
			deadline = deadline_after(io->write_timeout_ms);
			waiting = true;
		}
		/* A signal does not end a write: a harmless one must not kill
		 * a transfer, and a stuck peer still meets the write timeout. */
		switch (wait_transport(io, false, deadline, false)) {
		case 0:
			return out_fail(io, ETIMEDOUT);
		case -1:
			return out_fail(io, errno);
		default:
			break;
		}
	}
	return 0;
}

int netio_flush(struct netio *io)
{
	if (io->out_errno != 0) {
		errno = io->out_errno;
		return -1;
	}
	if (io->out_len == 0)
		return 0;
	if (write_block(io, io->out, io->out_len) < 0)
		return -1;
	io->out_len = 0;
	return 0;
}

int netio_write(struct netio *io, const void *buf, size_t len)
{
	const char *p = buf;
	size_t room;

	if (io->out_errno != 0) {
		errno = io->out_errno;
		return -1;
	}
	if (len == 0)
		return 0;
	room = NETIO_OUTBUF_SIZE - io->out_len;
	if (len <= room) {
		memcpy(io->out + io->out_len, p, len);
		io->out_len += len;
		return 0;
	}
	/* Fill the buffer and send it, so small replies queued before a big
	 * write go out with its first block. */
	memcpy(io->out + io->out_len, p, room);
	io->out_len += room;
	p += room;
	len -= room;
	if (netio_flush(io) < 0)
		return -1;
	if (len >= NETIO_OUTBUF_SIZE)
		return write_block(io, p, len);   /* no point copying big blocks */
	memcpy(io->out, p, len);
	io->out_len = len;
	return 0;
}

int netio_puts(struct netio *io, const char *s)
{
	return netio_write(io, s, strlen(s));
}

int netio_printf(struct netio *io, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	char *big;
	int n;

	if (io->out_errno != 0) {
		errno = io->out_errno;
		return -1;
	}
	/* Format straight into the buffer when it fits (the usual case). */
	room = NETIO_OUTBUF_SIZE - io->out_len;
	va_start(ap, fmt);
	n = vsnprintf(io->out + io->out_len, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		errno = EINVAL;
		return -1;
	}
	if ((size_t)n < room) {
		io->out_len += (size_t)n;
		return 0;
	}
	if ((size_t)n < NETIO_OUTBUF_SIZE) {
		/* Fits in an empty buffer: send what is queued, format again. */
		if (netio_flush(io) < 0)
			return -1;
		va_start(ap, fmt);
		n = vsnprintf(io->out, NETIO_OUTBUF_SIZE, fmt, ap);
		va_end(ap);
		if (n < 0 || (size_t)n >= NETIO_OUTBUF_SIZE) {
			errno = EINVAL;
			return -1;
		}
		io->out_len = (size_t)n;
		return 0;
	}
	/* Longer than the whole buffer: not a reply we ever send, but handle
	 * it correctly rather than truncate. */
	big = malloc((size_t)n + 1);
	if (big == NULL)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	if (n < 0) {
		free(big);
		errno = EINVAL;
		return -1;
	}
	n = netio_write(io, big, (size_t)n);
	free(big);
	return n;
}

unsigned long long netio_bytes_in(const struct netio *io)
{
	return io->bytes_in;
}

unsigned long long netio_bytes_out(const struct netio *io)
{
	return io->bytes_out;
}

/* ---- input ------------------------------------------------------------- */

bool netio_input_pending(const struct netio *io)
{
	return io->in_end > io->in_start;
}

void netio_discard_input(struct netio *io)
{
	io->in_start = io->in_end = 0;
	io->discarding = false;
	io->discarded = 0;
}

long netio_take_input(struct netio *io, void *buf, size_t size)
{
	size_t n = io->in_end - io->in_start;

	if (n > size || io->discarding)
		return -1;
	memcpy(buf, io->in + io->in_start, n);
	netio_discard_input(io);
	return (long)n;
}

int netio_preload_input(struct netio *io, const void *buf, size_t len)
{
	if (len > io->in_size) {
		char *in = realloc(io->in, len + 1);

		if (in == NULL)
			return -1;
		io->in = in;
		io->in_size = len;
	}
	memcpy(io->in, buf, len);
	io->in_start = 0;
	io->in_end = len;
	return 0;
}

/* Looks for a result among the buffered bytes.  Returns true with *st_r set
 * (NETIO_LINE with the line in *line_r and *len_r, or NETIO_TOO_LONG), or
 * false when more input is needed (or in_errno was set: the discard limit
 * was hit). */
static bool take_line(struct netio *io, char **line_r, size_t *len_r,
		      enum netio_status *st_r)
{
	char *base, *lf;
	size_t avail, n;

	if (io->discarding) {
		avail = io->in_end - io->in_start;
		if (avail == 0)
			return false;
		base = io->in + io->in_start;
		lf = memchr(base, '\n', avail);
		if (lf == NULL) {
			io->discarded += avail;
			io->in_start = io->in_end = 0;
			if (io->discarded > NETIO_DISCARD_MAX)
				io->in_errno = EMSGSIZE;
			return false;
		}
		/* End of the too-long line: resume normal reading after it. */
		io->in_start += (size_t)(lf - base) + 1;
		io->discarding = false;
		io->discarded = 0;
	}

	avail = io->in_end - io->in_start;
	if (avail == 0)
		return false;
	base = io->in + io->in_start;
	lf = memchr(base, '\n', avail);
	if (lf != NULL) {
		n = (size_t)(lf - base);
		io->in_start += n + 1;
		if (n > 0 && base[n - 1] == '\r')
			n--;
		if (n > io->max_line) {
			*st_r = NETIO_TOO_LONG;
			return true;
		}
		/* The terminator's place takes the NUL; NULs inside stay
		 * (the engine must see and reject them, never truncate). */
		base[n] = '\0';
		*line_r = base;
		*len_r = n;
		*st_r = NETIO_LINE;
		return true;
	}
	/* No LF yet.  With max_line + 2 bytes buffered the content is longer
	 * than max_line whatever comes next (at most one CR is not content):
	 * say so now, once, and drop the rest as it arrives. */
	if (avail >= io->max_line + 2) {
		io->discarding = true;
		io->discarded = avail;
		io->in_start = io->in_end = 0;
		*st_r = NETIO_TOO_LONG;
		return true;
	}
	return false;
}

/* One read into the free end of the buffer.  Returns >0 bytes read, 0 at
 * EOF, -1 with errno (EAGAIN: nothing there yet). */
static ssize_t fill(struct netio *io)
{
	ssize_t n;

	if (io->in_start > 0) {
		memmove(io->in, io->in + io->in_start, io->in_end - io->in_start);
		io->in_end -= io->in_start;
		io->in_start = 0;
	}
	if (io->in_end >= io->in_size) {
		/* Cannot happen while in_size >= max_line + 2: a full buffer
		 * without LF is reported as too long first. */
		errno = ENOBUFS;
		return -1;
	}
	do {
		n = io->tr.read(io->tr.ctx, io->in + io->in_end, io->in_size - io->in_end);
	} while (n < 0 && errno == EINTR);
	if (n > 0) {
		io->in_end += (size_t)n;
		io->bytes_in += (unsigned long long)n;
	}
	return n;
}

enum netio_status netio_read_line(struct netio *io, char **line_r, size_t *len_r,
				  int timeout_ms)
{
	int64_t deadline = deadline_after(timeout_ms);
	enum netio_status st;

	/* A connection whose replies cannot be delivered is finished. */
	if (io->out_errno != 0) {
		errno = io->out_errno;
		return NETIO_ERROR;
	}
	for (;;) {
		ssize_t n;

		/* Buffered lines first: a client may send "QUIT" and close. */
		if (take_line(io, line_r, len_r, &st))
			return st;
		if (io->in_errno != 0) {
			errno = io->in_errno;
			return NETIO_ERROR;
		}
		if (io->in_eof) {
			/* A partial unterminated line is dropped. */
			io->in_start = io->in_end = 0;
			return NETIO_EOF;
		}
		n = fill(io);
		if (n > 0)
			continue;
		if (n == 0) {
			io->in_eof = true;
			continue;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			io->in_errno = errno;
			return NETIO_ERROR;
		}
		/* Nothing to read: only now send the replies queued so far, so a
		 * pipelined burst is answered with few writes. */
		if (netio_flush(io) < 0)
			return NETIO_ERROR;
		switch (wait_transport(io, true, deadline, true)) {
		case 0:
			return NETIO_TIMEOUT;
		case -1:
			/* A signal while waiting returns to the engine so it can
			 * look at its flags (SIGTERM); not sticky, the buffered
			 * input stays, and the next call starts a new deadline. */
			if (errno != EINTR)
				io->in_errno = errno;
			return NETIO_ERROR;
		default:
			break;
		}
	}
}
