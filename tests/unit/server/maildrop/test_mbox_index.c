/*
 * test_mbox_index: the framing of an mbox spool and its one-pass index
 * (server/maildrop/mbox_index.c), through the maildrop interface.
 *
 * Every mailbox here is built from a list of messages whose content the
 * test knows, so counts, sizes and RETR/TOP output are checked against an
 * independent byte-at-a-time model of the framing rules (team notes), not
 * against the implementation's own idea.  A framing mistake shows up as a
 * wrong count or size, or as bytes of one message sent as another's, so
 * each mailbox is checked end to end: the same model check also proves
 * mbox_send.c's CRLF and dot-stuffing on every kind of line (its error
 * paths and 64-bit streaming are in test_mbox_send.c).
 *
 * Then what the index refuses (not an mbox: the spool left untouched),
 * random mailboxes whose messages straddle the read blocks, a separator
 * slid across the first read boundary, 10000 tiny messages, and a speed
 * check that the pass stays linear.
 */
#include "config.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/maildrop/maildrop.h"
#include "server/maildrop/mbox.h"
#include "tests/unit/server/maildrop/mboxfixture.h"
#include "tests/unit/tap.h"
#include "tests/unit/testbuf.h"

/* ---- the independent model -------------------------------------------------- */

/* The sent form of bytes p[0..len): CRLF, dot-stuffing, final newline,
 * terminator -- one byte at a time, the obvious way. */
static void ref_conv(const char *p, size_t len, struct buf *out)
{
	bool at_ls = true;
	char prev = '\n';
	size_t i;

	for (i = 0; i < len; i++) {
		char c = p[i];

		if (at_ls && c == '.')
			buf_add(out, ".", 1);
		at_ls = false;
		if (c == '\n') {
			if (prev != '\r')
				buf_add(out, "\r", 1);
			buf_add(out, "\n", 1);
			at_ls = true;
		} else {
			buf_add(out, &c, 1);
		}
		prev = c;
	}
	if (len > 0 && !at_ls)
		buf_add(out, "\r\n", 2);
	buf_add(out, ".\r\n", 3);
}

static uint64_t ref_size(const char *p, size_t len)
{
	uint64_t n = len;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			n++;
	if (len > 0 && p[len - 1] != '\n')
		n += 2;
	return n;
}

/* The bytes TOP n selects: the header through the empty line, then n
 * lines; no empty line means the whole message is header. */
static size_t ref_top_len(const char *p, size_t len, uint64_t n)
{
	size_t i = 0, ls;
	bool in_header = true;

	while (i < len) {
		const char *nl = memchr(p + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - p) + 1 : len;

		ls = i;
		i = end;
		if (in_header) {
			size_t ll = end - ls;

			if ((ll == 1 && p[ls] == '\n') || (ll == 2 && p[ls] == '\r' && p[ls + 1] == '\n')) {
				in_header = false;
				if (n == 0)
					return i;
			}
		} else if (--n == 0) {
			return i;
		}
	}
	return len;
}

/* Checks count, sizes, RETR and TOP of every message of tb (already
 * written to the spool) against the model. */
static void check_box(const char *name, const struct tbox *tb)
{
	static const uint64_t tops[] = { 0, 1, 2, 5, 1000000 };
	struct maildrop *md = open_ok();
	struct buf got = { 0 }, want = { 0 };
	bool sizes = true, retr = true, top = true;
	unsigned i, j;

	ok(md != NULL, "%s: opens", name);
	if (md == NULL)
		return;
	is_int(maildrop_count(md), tb->n, "%s: %zu messages", name, tb->n);
	for (i = 0; i < maildrop_count(md) && i < tb->n; i++) {
		const struct buf *c = &tb->m[i].content;
		uint64_t size = ref_size(c->p, c->len);
		char okline[64];
		int r;

		if (maildrop_msg_size(md, i) != size) {
			printf("# %s: message %u size %" PRIu64 ", expected %" PRIu64 "\n", name,
			       i + 1, maildrop_msg_size(md, i), size);
			sizes = false;
		}
		snprintf(okline, sizeof(okline), "+OK %" PRIu64 " octets", size);
		buf_reset(&want);
		buf_adds(&want, okline);
		buf_adds(&want, "\r\n");
		ref_conv(c->p, c->len, &want);
		r = capture_send(md, i, UINT64_MAX, okline, &got, false, NULL);
		if (r != 0 || !buf_eq(&got, &want)) {
			printf("# %s: RETR %u differs (ret %d, %zu vs %zu bytes)\n", name, i + 1, r,
			       got.len, want.len);
			retr = false;
		}
		for (j = 0; j < sizeof(tops) / sizeof(tops[0]); j++) {
			size_t tl = ref_top_len(c->p, c->len, tops[j]);

			buf_reset(&want);
			buf_adds(&want, "+OK Message follows.\r\n");
			ref_conv(c->p, tl, &want);
			r = capture_send(md, i, tops[j], "+OK Message follows.", &got, false, NULL);
			if (r != 0 || !buf_eq(&got, &want)) {
				printf("# %s: TOP %u %" PRIu64 " differs\n", name, i + 1, tops[j]);
				top = false;
			}
		}
	}
	ok(sizes, "%s: sizes match the model", name);
	ok(retr, "%s: RETR output byte for byte", name);
	ok(top, "%s: TOP output byte for byte", name);
	maildrop_close(md);
	buf_free(&got);
	buf_free(&want);
}

/* ---- framing, sizes, RETR, TOP ---------------------------------------------- */

/* Writes tb as the spool, checks it against the model and empties tb. */
static void framing_case(const char *name, struct tbox *tb)
{
	tbox_write(tb);
	check_box(name, tb);
	tbox_free(tb);
}

static void test_framing_line_ends(void)
{
	struct tbox tb = { 0 };

	new_case();
	tbox_adds(&tb, F1, "Subject: one\n\nbody line\n", "\n");
	tbox_adds(&tb, F2, "Subject: two\n\nsecond\nmessage\n", "\n");
	framing_case("plain LF", &tb);

	new_case();
	tbox_adds(&tb, "From a@b Sat Jan  3 01:05:34 1996\r\n", "Subject: a\r\n\r\nbody\r\n", "\r\n");
	tbox_adds(&tb, "From a@b Sat Jan  3 01:05:35 1996\r\n", "Subject: b\r\n\r\nx\r\ny\r\n", "\r\n");
	framing_case("CRLF", &tb);

	new_case();
	tbox_adds(&tb, F1, "A: b\r\nC: d\n\nline1\r\nline2\nlone\rcr\n", "\n");
	tbox_adds(&tb, F2, "A: b\n\r\nx\r\n", "\r\n");
	tbox_adds(&tb, F3, "A: b\r\n\ny\n", "\n");
	framing_case("mixed line ends", &tb);

	new_case();
	tbox_adds(&tb, F1, "Subject: x\n\nfirst\n", "\n");
	tbox_adds(&tb, F2, "Subject: y\n\nno newline at end", "");
	framing_case("no final newline", &tb);

	/* Content shorter than the scanner's 64-byte blocks, starting with
	 * a bare LF: its count looks at the byte before the content (the
	 * From_ line's LF).  Found by tests/fuzz/fuzz_mbox_index under
	 * clang's UBSan, which reported that look as a pointer overflow
	 * (p[i - 1] with i == 0); gcc's does not see it. */
	new_case();
	tbox_adds(&tb, F1, "\nx\r\n\n", "\n");
	tbox_adds(&tb, F2, "\n", "\n");
	tbox_adds(&tb, F3, "\r\n\n", "\n");
	framing_case("short contents starting with LF", &tb);
}

static void test_framing_dots(void)
{
	struct tbox tb = { 0 };
	struct buf big = { 0 };
	int i;

	new_case();
	tbox_adds(&tb, F1, "Subject: d\n\n.\n..\n.\r\n. x\n...\nend\n.", "");
	framing_case("dot lines", &tb);

	new_case();
	buf_adds(&big, ".Subject: dots\n\n");
	for (i = 0; i < 10000; i++)
		buf_add(&big, ".", 1);
	buf_adds(&big, "\n");
	tbox_add(&tb, F1, big.p, big.len, "\n");
	framing_case("a line of 10000 dots", &tb);
	buf_free(&big);
}

static void test_framing_nul_bytes(void)
{
	struct tbox tb = { 0 };

	new_case();
	tbox_add(&tb, F1, "S: \0x\n\n\0\0\0\nmid\0dle\n\0", 20, "");
	framing_case("NUL bytes", &tb);
}

static void test_framing_from_lines(void)
{
	struct tbox tb = { 0 };

	new_case();
	tbox_adds(&tb, F1, "S: x\n\nhello\nFrom someone Sat Jan  3 01:05:34 1996\nmore\n", "\n");
	tbox_adds(&tb, F2, "S: y\n\nhello\n\nFrom the desk of Joe, no time\nbye\n", "\n");
	tbox_adds(&tb, F3, "S: z\n\n>From me Sat Jan  3 01:05:34 1996\n\n>From again\n", "\n");
	framing_case("From lines that are not separators, >From", &tb);

	new_case();
	tbox_adds(&tb, "From a 10:00\n", "", "\n");
	tbox_adds(&tb, "From b 10:01\n", "", "\n");
	tbox_adds(&tb, "From c 10:02\n", "\n\n", "\n");
	tbox_adds(&tb, "From d 10:03\n", "x\n\n", "\n");
	tbox_adds(&tb, "From e 10:04", "", "");
	framing_case("empty messages, empty lines, From_ line at EOF", &tb);

	new_case();
	tbox_adds(&tb, "From a 1:05\n", "S: one-digit hour\n\nx\n", "\n");
	tbox_adds(&tb, "From b Mon Jan  1 9:59:00 2024\n", "S: y\n\nFrom c x9:59 glued\n", "\n");
	tbox_adds(&tb, "From - Sat Jan  3 01:05:34 1996\r\n", "S: z\r\n\r\nz\r\n", "\r\n");
	framing_case("From_ line time forms", &tb);
}

static void test_framing_headers(void)
{
	struct tbox tb = { 0 };

	new_case();
	tbox_adds(&tb, F1, "Subject: only a header\nX-A: b\n", "\n");
	tbox_adds(&tb, F2, "\nno header at all\n", "\r\n");
	tbox_adds(&tb, F3, "Subject: short body\n\none\n", "");
	framing_case("no empty line; no header; no final framing", &tb);
}

static void test_framing_long_from_lines(void)
{
	struct tbox tb = { 0 };
	struct buf big = { 0 };
	int i;

	new_case();
	buf_adds(&big, "From ");
	for (i = 0; i < 100; i++)
		buf_add(&big, "a", 1);
	buf_adds(&big, " Sat Jan  3 01:05:34 1996 ");
	for (i = 0; i < 5000; i++)
		buf_add(&big, "b", 1);
	buf_adds(&big, "\n");
	tbox_adds(&tb, big.p, "Subject: long From_ line\n\nbody\n", "\n");
	buf_reset(&big);
	buf_adds(&big, "S: t\n\nbefore\n\nFrom ");
	for (i = 0; i < 2000; i++)
		buf_add(&big, "x", 1);
	buf_adds(&big, " 10:00 time too far\nafter\n");
	tbox_add(&tb, F2, big.p, big.len, "\n");
	framing_case("long From_ lines", &tb);
	buf_free(&big);
}

static void test_framing(void)
{
	test_framing_line_ends();
	test_framing_dots();
	test_framing_nul_bytes();
	test_framing_from_lines();
	test_framing_headers();
	test_framing_long_from_lines();
}

static void test_format_errors(void)
{
	static const char *bad[] = {
		"Subject: no envelope\n\nbody\n",
		"From nobody without a time\n\nbody\n",
		"\nFrom a 10:00\n\nbody\n",
		"\1\1\1\1\nMMDF\n\1\1\1\1\n",
		"\0\0From a 10:00\n",
		"F",
		"From a123:45 hour glued to a word\n\nb\n",
		"From a 12:3 one-digit minutes\n\nb\n",
	};
	struct maildrop *md = NULL;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct buf before = { 0 }, after = { 0 };
		size_t len = i == 4 ? 15 : strlen(bad[i]);

		new_case();
		write_file(spool, bad[i], len, 0600);
		read_file(spool, &before);
		is_int(try_open(&md), MAILDROP_PERM, "format error %zu: [SYS/PERM] (%s)", i, last_reason);
		read_file(spool, &after);
		ok(buf_eq(&before, &after), "format error %zu: spool untouched", i);
		ok(access(lockp, F_OK) < 0, "format error %zu: no lock left", i);
		buf_free(&before);
		buf_free(&after);
	}

	new_case();
	write_file(spool, "", 0, 0600);
	md = open_ok();
	ok(md != NULL && maildrop_count(md) == 0, "empty file: 0 messages");
	if (md != NULL)
		ok(commit(md) == MAILDROP_OK, "empty file: commit");
}

/* ---- randomised mailboxes: block boundaries everywhere ---------------------- */

static unsigned long rnd_state;

static unsigned rnd(unsigned n)
{
	rnd_state = rnd_state * 6364136223846793005UL + 1442695040888963407UL;
	return (unsigned)((rnd_state >> 33) % n);
}

/* Appends a random line to b (without its line end); kind 5 in a body
 * appends nothing (an empty line). */
static void random_line(struct buf *b, bool prev_empty, bool in_body)
{
	unsigned kind = rnd(20), i, n;

	switch (kind) {
	case 0:
		buf_adds(b, ".");
		break;
	case 1:
		buf_adds(b, "..");
		break;
	case 2:
		buf_adds(b, ". dot space");
		break;
	case 3:
		if (!prev_empty)
			buf_adds(b, "From someone Sat Jan  3 01:05:34 1996");
		else
			buf_adds(b, "From someone without time");
		break;
	case 4:
		buf_adds(b, ">From escaped Sat Jan  3 01:05:34 1996");
		break;
	case 5:
		if (in_body)
			break;   /* an empty line */
		buf_adds(b, "X-Empty-Not-Allowed-In-Header: x");
		break;
	case 6:
		buf_add(b, "nul\0inside", 10);
		break;
	case 7:
		buf_adds(b, "lone\rcr");
		break;
	case 8:
		n = rnd(3000);
		for (i = 0; i < n; i++)
			buf_add(b, &"abcdefgh"[rnd(8)], 1);
		break;
	default:
		n = rnd(78);
		for (i = 0; i < n; i++)
			buf_add(b, &"The quick brown fox jumps over the lazy dog. "[rnd(45)], 1);
		if (n == 0)
			buf_adds(b, "w");
		break;
	}
}

static void random_content(struct buf *c, size_t target, bool last)
{
	bool prev_empty = false, in_body = false;
	unsigned hl = 1 + rnd(6), i;

	for (i = 0; i < hl; i++) {
		buf_adds(c, "X-Header: v");
		buf_adds(c, rnd(2) ? "\n" : "\r\n");
	}
	if (rnd(10) != 0) {
		buf_adds(c, rnd(2) ? "\n" : "\r\n");
		in_body = true;
		prev_empty = true;
	}
	while (c->len < target) {
		size_t before = c->len;

		random_line(c, prev_empty, in_body);
		prev_empty = c->len == before;
		buf_adds(c, rnd(3) ? "\n" : "\r\n");
	}
	if (last && rnd(3) == 0) {
		buf_adds(c, "no newline at the end");
	}
}

static void test_random(void)
{
	unsigned seed;

	for (seed = 1; seed <= 3; seed++) {
		struct tbox tb = { 0 };
		char name[64];
		unsigned n = 30 + rnd(30), i;

		rnd_state = seed;
		new_case();
		for (i = 0; i < n; i++) {
			struct buf c = { 0 };
			size_t target = rnd(4) == 0 ? 200000 + rnd(1200000) : rnd(3000);
			bool last = i + 1 == n;
			const char *framing = rnd(4) == 0 ? "\r\n" : "\n";
			size_t cl;

			random_content(&c, target, last);
			cl = c.len;
			if (last) {
				bool ends_empty = cl == 0 || (c.p[cl - 1] == '\n' &&
					(cl == 1 || c.p[cl - 2] == '\n' ||
					 (c.p[cl - 2] == '\r' && (cl == 2 || c.p[cl - 3] == '\n'))));

				if (cl > 0 && c.p[cl - 1] != '\n')
					framing = "";
				else if (!ends_empty && rnd(2) == 0)
					framing = "";
			}
			tbox_add(&tb, rnd(2) ? F1 : "From x@y Sun Feb 29 23:59:59 2004\r\n",
				 c.p, c.len, framing);
			buf_free(&c);
		}
		tbox_write(&tb);
		snprintf(name, sizeof(name), "random mailbox %u (%u messages)", seed, n);
		check_box(name, &tb);
		tbox_free(&tb);
	}
}

/* The index decides about a separator only with MBOX_LOOKAHEAD bytes in
 * hand, so its first round ends near SCAN_ALIGN + SCAN_BEHIND +
 * MBOX_READ_BLOCK (mbox_index.c).  Slide a separator, its "\r\n" empty line, the
 * next From_ line and an X-UIDL header across that point one byte at a
 * time.  (If the layout changes, this still passes; it just tests other
 * offsets.) */
static void test_boundaries(void)
{
	const uint64_t first_limit = 4096 + 8 + MBOX_READ_BLOCK;
	const char *second = "X-UIDL: sweep-uid\nSubject: 2\n\nbody\n";
	struct buf c = { 0 };
	unsigned bad = 0, cases = 0;
	int d, crlf;

	for (crlf = 0; crlf <= 1; crlf++) {
		for (d = -80; d <= 16; d++) {
			struct tbox tb = { 0 };
			struct maildrop *md;
			size_t target = (size_t)(first_limit + d) - strlen(F1) - (size_t)crlf;

			buf_reset(&c);
			buf_adds(&c, "Subject: boundary\n\n");
			while (c.len < target) {
				size_t n = target - c.len > 64 ? 63 : target - c.len - 1;

				while (n-- > 0)
					buf_add(&c, "x", 1);
				buf_add(&c, "\n", 1);
			}
			new_case();
			tbox_add(&tb, F1, c.p, c.len, crlf ? "\r\n" : "\n");
			tbox_adds(&tb, F2, second, "");
			tbox_write(&tb);
			cases++;
			md = open_ok();
			if (md == NULL || maildrop_count(md) != 2 ||
			    maildrop_msg_size(md, 0) != ref_size(c.p, c.len) ||
			    maildrop_msg_size(md, 1) != ref_size(second, strlen(second)) ||
			    strcmp(maildrop_msg_uid(md, 1), "sweep-uid") != 0) {
				printf("# boundary case d=%d crlf=%d wrong\n", d, crlf);
				bad++;
			}
			if (md != NULL)
				maildrop_close(md);
			unlink(spool);
			tbox_free(&tb);
		}
	}
	ok(bad == 0, "separator, empty line and X-UIDL slid across the read boundary: %u cases", cases);
	buf_free(&c);
}

/* ---- many messages, speed --------------------------------------------------- */

static void test_many_tiny(void)
{
	struct buf b = { 0 };
	struct maildrop *md;
	bool sizes = true;
	unsigned i;

	new_case();
	for (i = 0; i < 10000; i++) {
		char line[128];

		snprintf(line, sizeof(line), "From u%u@h Sat Jan  3 01:05:34 1996\nS: %u\n\nb\n\n", i, i % 10);
		buf_adds(&b, line);
	}
	write_file(spool, b.p, b.len, 0600);
	md = open_ok();
	ok(md != NULL, "10000 tiny messages: opens");
	if (md != NULL) {
		is_int(maildrop_count(md), 10000, "10000 tiny messages: count");
		for (i = 0; i < maildrop_count(md); i++)
			if (maildrop_msg_size(md, i) != 11)
				sizes = false;
		ok(sizes, "10000 tiny messages: every size is 11");
		maildrop_close(md);
	}
	buf_free(&b);
}

static void test_speed(void)
{
	struct buf b = { 0 }, msg = { 0 };
	struct maildrop *md;
	struct timespec t0, t1;
	double secs;
	unsigned i;

	new_case();
	buf_adds(&msg, "Received: from mx.example.org by mail.example.org; Sat, 3 Jan 1996\n"
		 "Subject: speed\nMessage-ID: <x@y>\n\n");
	for (i = 0; i < 140; i++)
		buf_adds(&msg, "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eius.\n");
	for (i = 0; i < 10000; i++) {
		buf_adds(&b, F1);
		buf_add(&b, msg.p, msg.len);
		buf_adds(&b, "\n");
	}
	write_file(spool, b.p, b.len, 0600);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	md = open_ok();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ok(md != NULL && maildrop_count(md) == 10000,
	   "speed: %.0f MB, 10000 messages indexed in %.3f s", b.len / 1e6, secs);
	ok(secs < 2.0, "speed: indexing is linear and fast (%.0f MB/s)", b.len / 1e6 / secs);
	if (md != NULL)
		maildrop_close(md);
	buf_free(&b);
	buf_free(&msg);
}

int main(void)
{
	fixture_start("test_mbox_index");
	test_framing();
	test_format_errors();
	test_random();
	test_boundaries();
	test_many_tiny();
	test_speed();
	fixture_end();
	return tap_done();
}
