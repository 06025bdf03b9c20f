/*
 * mbox_send: RETR and TOP for the mbox store.  Called by mbox.c (the
 * table's send) and temp-drop mode; calls only mbox_lock.c (the dot-lock's
 * refresh) and lib/.  Runs as the user.
 *
 * A message is streamed from the spool in MBOX_SEND_BLOCK preads and
 * converted on the way out: LF not preceded by CR becomes CRLF (an existing
 * CRLF is kept, so CR is never doubled), a line starting with "." gets one
 * more ".", a missing final newline is added and ".\r\n" ends it.  Memory is
 * one input block and an output block of twice its size (each input byte
 * yields at most two), whatever the size of the message.
 *
 * The state that crosses block boundaries (start of line, previous byte,
 * length of the current line, header or body, lines left) lives in
 * struct conv, so a CR and its LF, or a "." and its line, may be split
 * anywhere.  What is sent before stuffing is counted and must equal the
 * index's size: a mismatch means the spool changed under our locks.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/netio.h"
#include "lib/safeopen.h"
#include "server/maildrop/mbox.h"

struct conv {
	bool at_line_start;
	unsigned char prev;      /* the byte before the next one */
	uint64_t line_len;       /* bytes of the current line so far */
	bool limited;            /* TOP: stop after body_left body lines */
	bool in_header;
	uint64_t body_left;
	bool done;
	uint64_t plain;          /* octets sent, stuffing dots excluded */
};

/* Converts in[0..len) into out (room for 2 * len bytes).  Stops early when
 * TOP's last line is out.  Returns the output length. */
static size_t convert(struct conv *c, const unsigned char *in, size_t len, unsigned char *out)
{
	size_t i = 0, o = 0;

	while (i < len && !c->done) {
		const unsigned char *nl;
		size_t end;
		bool empty;

		if (c->at_line_start) {
			c->at_line_start = false;
			if (in[i] == '.')
				out[o++] = '.';
		}
		nl = memchr(in + i, '\n', len - i);
		end = nl != NULL ? (size_t)(nl - in) : len;
		if (end > i) {
			memcpy(out + o, in + i, end - i);
			o += end - i;
			c->plain += end - i;
			c->line_len += end - i;
			c->prev = in[end - 1];
		}
		i = end;
		if (nl == NULL)
			break;
		if (c->prev == '\r') {
			out[o++] = '\n';
			c->plain += 1;
		} else {
			out[o++] = '\r';
			out[o++] = '\n';
			c->plain += 2;
		}
		empty = c->line_len == 0 || (c->line_len == 1 && c->prev == '\r');
		i++;
		c->at_line_start = true;
		c->prev = '\n';
		c->line_len = 0;
		if (!c->limited)
			continue;
		if (c->in_header) {
			if (empty) {
				c->in_header = false;
				c->done = c->body_left == 0;
			}
		} else if (--c->body_left == 0) {
			c->done = true;
		}
	}
	return o;
}

int mbox_send(struct mbox *m, unsigned i, uint64_t body_lines, struct netio *io,
	      const char *ok_line, char *reason, size_t reasonsize)
{
	const struct mbox_msg *mm = &m->msgs[i];
	uint64_t pos = mm->off, left = mm->len;
	unsigned char *in, *out;
	struct conv c;
	bool started = false;

	mbox_touch_lock(m);
	if (m->sendbuf == NULL) {
		m->sendbuf = malloc(3 * (size_t)MBOX_SEND_BLOCK);
		if (m->sendbuf == NULL) {
			snprintf(reason, reasonsize, "out of memory");
			return -1;
		}
	}
	in = m->sendbuf;
	out = m->sendbuf + MBOX_SEND_BLOCK;
	memset(&c, 0, sizeof(c));
	c.at_line_start = true;
	c.prev = '\n';
	c.limited = body_lines != UINT64_MAX;
	c.in_header = true;
	c.body_left = body_lines;

	while (left > 0 && !c.done) {
		size_t chunk = left < MBOX_SEND_BLOCK ? (size_t)left : MBOX_SEND_BLOCK;
		size_t olen;

		if (safe_pread_all(m->fd, in, chunk, (off_t)pos) < 0) {
			snprintf(reason, reasonsize, "read %s at %" PRIu64 ": %s", m->path, pos,
				 strerror(errno));
			return started ? -2 : -1;
		}
		if (!started) {
			netio_puts(io, ok_line);
			netio_write(io, "\r\n", 2);
			started = true;
		}
		olen = convert(&c, in, chunk, out);
		if (netio_write(io, out, olen) < 0) {
			snprintf(reason, reasonsize, "connection failed while sending");
			return -2;
		}
		pos += chunk;
		left -= chunk;
	}
	if (!started) {
		netio_puts(io, ok_line);   /* an empty message */
		netio_write(io, "\r\n", 2);
	}
	if (!c.at_line_start) {
		netio_write(io, "\r\n", 2);
		c.plain += 2;
	}
	if (netio_write(io, ".\r\n", 3) < 0) {
		snprintf(reason, reasonsize, "connection failed while sending");
		return -2;
	}
	if (!c.limited && c.plain != m->ids[i].size)
		log_error("message %u of %s: sent %" PRIu64 " octets, index said %" PRIu64
			  " (spool changed under our lock?)", i + 1, m->path, c.plain,
			  m->ids[i].size);
	return 0;
}
