/*
 * netio: the one buffered, bounded I/O layer of a POP3 session.
 *
 * Input: a fixed buffer per session; netio_read_line() hands out one whole
 * line at a time (CRLF or bare LF ends it; the terminator is stripped), and
 * keeps whatever follows in the buffer so pipelined commands are answered in
 * order.  A line longer than the limit is reported once as NETIO_TOO_LONG and
 * the rest of it is discarded up to the next LF.  Timeouts use poll(): the
 * deadline covers a whole line, so a client trickling one byte at a time
 * (slowloris) is cut off like an idle one.
 *
 * Output: replies are collected in an output buffer and written when the
 * engine is about to wait for input and no complete command is buffered, so a
 * burst of pipelined commands is answered with few large writes.  Bulk data
 * (RETR) goes through netio_write(), which writes large blocks straight
 * through once the buffer is full.
 *
 * The transport (read/write functions) is replaceable: lib/tls.c slots in
 * there after a TLS handshake, and the engine does not notice.
 */
#ifndef POPPER_NETIO_H
#define POPPER_NETIO_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* RFC 2449 limits commands to 255 octets; we accept up to 512 (CRLF excluded). */
#define NETIO_MAX_LINE 512
#define NETIO_OUTBUF_SIZE (64 * 1024)

enum netio_status {
	NETIO_LINE,     /* *line_r / *len_r hold one line (NUL-terminated; may contain NULs) */
	NETIO_TOO_LONG, /* a line exceeded max_line; it has been (or will be) discarded */
	NETIO_EOF,      /* peer closed; a partial unterminated line is dropped */
	NETIO_TIMEOUT,  /* no complete line before the deadline */
	NETIO_ERROR     /* read error; errno is set (EINTR: a signal arrived while
			 * waiting; not sticky, the caller may simply call again) */
};

/* Which way to wait after a transport call failed with EAGAIN. */
enum netio_wait {
	NETIO_WAIT_INPUT,   /* poll fd_in for POLLIN */
	NETIO_WAIT_OUTPUT   /* poll fd_out for POLLOUT */
};

struct netio_transport {
	/* Both behave like read(2)/write(2) on a non-blocking descriptor:
	 * -1 with errno EAGAIN means "poll and retry". */
	ssize_t (*read)(void *ctx, void *buf, size_t len);
	ssize_t (*write)(void *ctx, const void *buf, size_t len);
	void *ctx;
	/* Optional (NULL: a read waits for input, a write for output).  Asked
	 * right after read (reading true) or write (false) failed with
	 * EAGAIN: which way to wait before retrying.  TLS needs it: a TLS read
	 * may have to send before it can receive, and a write to receive. */
	enum netio_wait (*wait_for)(void *ctx, bool reading);
};

struct netio;

/* Creates a session I/O object on fd_in/fd_out (may be equal) and sets them
 * non-blocking.  Returns NULL on allocation failure.  Free with netio_destroy. */
struct netio *netio_create(int fd_in, int fd_out);
void netio_destroy(struct netio *io);

/* Replaces the plain fd transport (the TLS issue uses this). */
void netio_set_transport(struct netio *io, const struct netio_transport *t);

/* Per-call line limit (default NETIO_MAX_LINE); AUTH may raise it for a while. */
void netio_set_max_line(struct netio *io, size_t max_line);

/* Reads one line.  On NETIO_LINE, *line_r points into the input buffer and is
 * valid until the next netio call.  Flushes pending output before blocking.
 * timeout_ms < 0 waits forever. */
enum netio_status netio_read_line(struct netio *io, char **line_r, size_t *len_r,
				  int timeout_ms);

/* True if unread bytes are already buffered (STLS must refuse or drop them). */
bool netio_input_pending(const struct netio *io);
/* Discards every buffered unread input byte. */
void netio_discard_input(struct netio *io);
/* Moves the buffered unread input into buf (at most size bytes) and
 * empties the buffer: what the client sent after the line just read, when
 * another process takes the connection over.  Returns the byte count, or
 * -1 when it does not fit or a too-long line is half discarded. */
long netio_take_input(struct netio *io, void *buf, size_t size);
/* The other end of that: len bytes become the unread input of a fresh io
 * (they are read before anything from the descriptor).  -1 without
 * memory. */
int netio_preload_input(struct netio *io, const void *buf, size_t len);

/* Queue output.  Return 0, or -1 once the connection has failed (sticky:
 * every later call also returns -1, so callers may check only at the end). */
int netio_write(struct netio *io, const void *buf, size_t len);
int netio_puts(struct netio *io, const char *s);
int netio_printf(struct netio *io, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Writes everything buffered.  Returns 0, or -1 on error or when the peer
 * has not accepted data for write_timeout_ms. */
int netio_flush(struct netio *io);

/* Timeout for a blocked write (default 600 s). */
void netio_set_write_timeout(struct netio *io, int timeout_ms);

/* Bytes read / written so far (for the statistics line). */
unsigned long long netio_bytes_in(const struct netio *io);
unsigned long long netio_bytes_out(const struct netio *io);

#endif
