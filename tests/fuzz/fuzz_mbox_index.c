/*
 * fuzz_mbox_index: an mbox spool of arbitrary bytes (mail is written by
 * strangers) through server/maildrop/mbox_index.c's framing and index, the
 * UIDs it is matched to (uidstore.c), RETR and TOP (mbox_send.c), and,
 * with some messages deleted, QUIT's update (mbox_update.c) or temp-drop
 * mode's move-out and write-back (tempdrop*.c).
 *
 * Checked besides the sanitizers, for the index: every UID is 1..70
 * printable characters and no two messages share one (RFC 1939 §7); RETR
 * sends exactly the size LIST gives (after undoing the dot-stuffing), ends
 * with the terminator and never a bare LF; TOP sends a prefix of what RETR
 * sends.  For the update: a second session finds exactly the messages
 * kept, in order, each with its UID and RETR's bytes unchanged.
 *
 * The fuzz build makes the index's and RETR's read blocks small
 * (tests/fuzz/fuzz.sh sets MBOX_READ_BLOCK and MBOX_SEND_BLOCK), so inputs
 * of a few KiB cross their boundaries.
 *
 * Input: byte 0 flags (see below), bytes 1..2 which of the first 16
 * messages to delete, byte 3 TOP's line count; the rest is the spool.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/netio.h"
#include "server/maildrop/maildrop.h"
#include "server/maildrop/uidstore.h"
#include "tests/fuzz/fuzzutil.h"

#define F_TRUST_XUIDL 0x01
#define F_TEMPDROP 0x02   /* the session in temp-drop mode */
#define F_COMMIT 0x04     /* delete and update, then look again */
#define F_SEEN 0x08       /* RETR marks seen (saved with the update) */

/* Messages whose RETR output is kept for the comparison after the update. */
#define KEEP_MAX 64

struct sink {
	unsigned char *p;
	size_t len, cap;
};

static char casedir[600];
static int pipe_fds[2] = { -1, -1 };
static struct sink out;

static ssize_t sink_write(void *ctx, const void *buf, size_t len)
{
	struct sink *k = ctx;

	if (k->len + len > k->cap) {
		size_t ncap = k->cap ? k->cap : 4096;
		unsigned char *np;

		while (ncap < k->len + len)
			ncap *= 2;
		np = realloc(k->p, ncap);
		if (np == NULL)
			fz_die("realloc");
		k->p = np;
		k->cap = ncap;
	}
	memcpy(k->p + k->len, buf, len);
	k->len += len;
	return (ssize_t)len;
}

static ssize_t sink_read(void *ctx, void *buf, size_t len)
{
	(void)ctx;
	(void)buf;
	(void)len;
	return 0;
}

static void fail(const char *what, unsigned msg)
{
	fprintf(stderr, "message %u: %s\n", msg + 1, what);
	abort();
}

/* Sends message i (RETR, or TOP with lines) into out.  Returns the body:
 * what lies between the +OK line and the terminator, checked. */
static void send_msg(struct maildrop *md, unsigned i, uint64_t lines, size_t *body_off,
		     size_t *body_len)
{
	static const char ok[] = "+OK";
	struct netio_transport tr = { sink_read, sink_write, &out, NULL };
	struct netio *io = netio_create(pipe_fds[0], pipe_fds[1]);
	char reason[256];

	if (io == NULL)
		fz_die("netio_create");
	netio_set_transport(io, &tr);
	out.len = 0;
	if (maildrop_send(md, i, lines, io, ok, reason, sizeof(reason)) != 0 ||
	    netio_flush(io) != 0)
		fail("could not be sent", i);
	netio_destroy(io);
	if (out.len < 8 || memcmp(out.p, "+OK\r\n", 5) != 0 ||
	    memcmp(out.p + out.len - 3, ".\r\n", 3) != 0)
		fail("reply is not +OK ... .", i);
	if (out.len > 8 && memcmp(out.p + out.len - 5, "\r\n", 2) != 0)
		fail("body does not end with CRLF", i);
	for (size_t k = 0; k < out.len; k++)
		if (out.p[k] == '\n' && (k == 0 || out.p[k - 1] != '\r'))
			fail("bare LF sent", i);
	*body_off = 5;
	*body_len = out.len - 8;
}

/* The body with the stuffing undone: its length, checking that no line of
 * it is the terminator. */
static uint64_t unstuffed_len(const unsigned char *b, size_t n, unsigned i)
{
	uint64_t len = 0;
	bool at_start = true;

	for (size_t k = 0; k < n; k++) {
		if (at_start && b[k] == '.') {
			if (k + 1 >= n || b[k + 1] != '.')
				fail("a line starts with a single dot", i);
			k++;
		}
		len++;
		at_start = b[k] == '\n';
	}
	return len;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_log_quiet("fuzz_mbox_index");
	if (pipe(pipe_fds) < 0)
		fz_die("pipe");
	snprintf(casedir, sizeof(casedir), "%s", fz_path(fz_tmpdir("fuzz_mbox_index"), "c"));
	fz_mkdir(casedir);
	return 0;
}

static void settings_for(struct maildrop_settings *ms, bool trust, bool tempdrop)
{
	memset(ms, 0, sizeof(*ms));
	ms->path = fz_path(casedir, "spool");
	ms->lock_path = fz_path(casedir, "spool.lock");
	ms->state_dir = fz_path(casedir, "state");
	ms->trust_x_uidl = trust;
	ms->require_owner = true;
	ms->owner_uid = (unsigned long)geteuid();
	ms->temp_drop_mode = tempdrop;
	ms->temp_dir = ms->state_dir;
	ms->temp_name = ".alice.pop";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd0 = fz_fd_lowest();
	struct fz_in in = { data, size };
	struct maildrop_settings ms;
	struct maildrop *md;
	struct maildrop_stats st;
	char reason[512];
	uint8_t f = fz_byte(&in);
	unsigned del = fz_u16(&in), count, kept = 0, ndel = 0;
	uint64_t top = fz_byte(&in) % 8;
	char *uids[KEEP_MAX];
	unsigned char *bodies[KEEP_MAX];
	size_t blen[KEEP_MAX];

	fz_clear(casedir);
	fz_mkdir(fz_path(casedir, "state"));
	fz_write(fz_path(casedir, "spool"), in.p, in.len, 0600);
	settings_for(&ms, (f & F_TRUST_XUIDL) != 0, (f & F_TEMPDROP) != 0);
	if (maildrop_open(&ms, &md, reason, sizeof(reason)) != MAILDROP_OK) {
		fz_fd_check(fd0);
		return 0;
	}
	count = maildrop_count(md);
	for (unsigned i = 0; i < count; i++) {
		const char *uid = maildrop_msg_uid(md, i);
		size_t off, len, toff, tlen;

		if (!uidstore_valid_uid(uid, strlen(uid)))
			fail("invalid UID", i);
		for (unsigned j = 0; j < i && j < 256; j++)
			if (strcmp(uid, maildrop_msg_uid(md, j)) == 0)
				fail("UID of an earlier message", i);
		send_msg(md, i, UINT64_MAX, &off, &len);
		if (unstuffed_len(out.p + off, len, i) != maildrop_msg_size(md, i))
			fail("RETR sent another size than LIST says", i);
		if (i < 16 && (del >> i & 1)) {
			maildrop_msg_delete(md, i);
			ndel++;
		} else if (kept < KEEP_MAX) {
			uids[kept] = strdup(uid);
			bodies[kept] = malloc(len + 1);
			if (uids[kept] == NULL || bodies[kept] == NULL)
				fz_die("malloc");
			memcpy(bodies[kept], out.p + off, len);
			blen[kept++] = len;
		}
		{
			unsigned char *retr = malloc(len + 1);

			if (retr == NULL)
				fz_die("malloc");
			memcpy(retr, out.p + off, len);
			send_msg(md, i, top, &toff, &tlen);
			if (tlen > len || memcmp(out.p + toff, retr, tlen) != 0)
				fail("TOP is not a prefix of RETR", i);
			free(retr);
		}
		if (f & F_SEEN)
			maildrop_msg_mark_seen(md, i);
	}
	if (!(f & F_COMMIT)) {
		maildrop_close(md);
		goto out;
	}
	if (maildrop_commit(md, &st, reason, sizeof(reason)) != MAILDROP_OK)
		goto out;   /* an error is allowed (an oddity, reported); a crash is not */
	/* The next session, in server mode, sees what was kept. */
	settings_for(&ms, (f & F_TRUST_XUIDL) != 0, false);
	if (maildrop_open(&ms, &md, reason, sizeof(reason)) != MAILDROP_OK) {
		fprintf(stderr, "the spool cannot be opened after the update: %s\n", reason);
		abort();
	}
	if (maildrop_count(md) != count - ndel)
		fail("the update kept another number of messages", maildrop_count(md));
	for (unsigned i = 0; i < kept; i++) {
		size_t off, len;

		if (strcmp(maildrop_msg_uid(md, i), uids[i]) != 0)
			fail("the update changed the UID", i);
		send_msg(md, i, UINT64_MAX, &off, &len);
		if (len != blen[i] || memcmp(out.p + off, bodies[i], len) != 0)
			fail("the update changed the message", i);
	}
	maildrop_close(md);
out:
	for (unsigned i = 0; i < kept; i++) {
		free(uids[i]);
		free(bodies[i]);
	}
	fz_fd_check(fd0);
	return 0;
}
