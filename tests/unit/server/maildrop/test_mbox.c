/*
 * test_mbox: the mbox maildrop (server/maildrop/maildrop.c, server/maildrop/mbox*.c).
 *
 * Every mailbox here is built from a list of messages whose content the
 * test knows, so counts, sizes and RETR/TOP output are checked against an
 * independent byte-at-a-time model of the framing rules (team notes), not
 * against the implementation's own idea.  Output goes through a real netio
 * on a socketpair, read by a child process.
 *
 * Commit is checked for the usual shapes and, by stopping a child process
 * at every step of the update (mbox_update_hook) and of the recovery, for
 * crash safety: the spool must afterwards be byte for byte the old mailbox
 * or the new one, plus mail delivered meanwhile, and UIDs must survive.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/netio.h"
#include "lib/safeopen.h"
#include "server/maildrop/maildrop.h"
#include "server/maildrop/mbox.h"
#include "server/maildrop/uidstore.h"
#include "tests/unit/tap.h"
#include "tests/unit/testbuf.h"

/* ---- scaffolding ------------------------------------------------------------ */

static char root[512];
static char casedir[600], spool[700], lockp[700], state[700];
static unsigned casenum;

/* A fresh directory with a state directory for one case. */
static void new_case(void)
{
	snprintf(casedir, sizeof(casedir), "%s/c%u", root, ++casenum);
	snprintf(spool, sizeof(spool), "%s/spool", casedir);
	snprintf(lockp, sizeof(lockp), "%s/spool.lock", casedir);
	snprintf(state, sizeof(state), "%s/state", casedir);
	if (mkdir(casedir, 0700) < 0 || mkdir(state, 0700) < 0)
		die("mkdir");
}

static void write_file(const char *path, const void *d, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0 || safe_write_all(fd, d, n) < 0)
		die(path);
	close(fd);
}

static void append_file(const char *path, const void *d, size_t n)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	if (fd < 0 || safe_write_all(fd, d, n) < 0)
		die(path);
	close(fd);
}

static void read_file(const char *path, struct buf *b)
{
	char tmp[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	buf_reset(b);
	if (fd < 0) {
		if (errno == ENOENT)
			return;
		die(path);
	}
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		buf_add(b, tmp, (size_t)n);
	close(fd);
}

static bool trust_x_uidl = true;
static unsigned lock_wait = 1;

static void settings(struct maildrop_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->path = spool;
	s->lock_path = lockp;
	s->state_dir = state;
	s->lock_wait = lock_wait;
	s->trust_x_uidl = trust_x_uidl;
	s->require_owner = true;
	s->owner_uid = getuid();
}

static char last_reason[512];

static enum maildrop_status try_open(struct maildrop **md)
{
	struct maildrop_settings s;

	settings(&s);
	last_reason[0] = '\0';
	return maildrop_open(&s, md, last_reason, sizeof(last_reason));
}

static struct maildrop *open_ok(void)
{
	struct maildrop *md = NULL;
	enum maildrop_status st = try_open(&md);

	if (st != MAILDROP_OK) {
		printf("# open failed (%d): %s\n", (int)st, last_reason);
		return NULL;
	}
	return md;
}

static enum maildrop_status commit(struct maildrop *md)
{
	struct maildrop_stats stats;
	char reason[512] = "";
	enum maildrop_status st = maildrop_commit(md, &stats, reason, sizeof(reason));

	if (st != MAILDROP_OK)
		printf("# commit: %s\n", reason);
	return st;
}

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

/* A test mailbox: From_ line, content and the framing after each message. */
struct tmsg {
	struct buf from, content, framing;
};

struct tbox {
	struct tmsg *m;
	size_t n, cap;
};

static struct tmsg *tbox_add(struct tbox *tb, const char *from, const void *content,
			     size_t clen, const char *framing)
{
	struct tmsg *t;

	if (tb->n == tb->cap) {
		tb->cap = tb->cap ? tb->cap * 2 : 16;
		tb->m = realloc(tb->m, tb->cap * sizeof(*tb->m));
		if (tb->m == NULL)
			die("realloc");
	}
	t = &tb->m[tb->n++];
	memset(t, 0, sizeof(*t));
	buf_adds(&t->from, from);
	buf_add(&t->content, content, clen);
	buf_adds(&t->framing, framing);
	return t;
}

static void tbox_adds(struct tbox *tb, const char *from, const char *content, const char *framing)
{
	tbox_add(tb, from, content, strlen(content), framing);
}

static void tbox_free(struct tbox *tb)
{
	size_t i;

	for (i = 0; i < tb->n; i++) {
		buf_free(&tb->m[i].from);
		buf_free(&tb->m[i].content);
		buf_free(&tb->m[i].framing);
	}
	free(tb->m);
	memset(tb, 0, sizeof(*tb));
}

/* The mbox bytes of the messages selected by keep (NULL: all). */
static void tbox_render(const struct tbox *tb, const bool *keep, struct buf *out)
{
	size_t i;

	buf_reset(out);
	for (i = 0; i < tb->n; i++) {
		if (keep != NULL && !keep[i])
			continue;
		buf_add(out, tb->m[i].from.p, tb->m[i].from.len);
		buf_add(out, tb->m[i].content.p, tb->m[i].content.len);
		buf_add(out, tb->m[i].framing.p, tb->m[i].framing.len);
	}
}

static void tbox_write(const struct tbox *tb)
{
	struct buf b = { 0 };

	tbox_render(tb, NULL, &b);
	write_file(spool, b.p, b.len, 0600);
	buf_free(&b);
}

/* ---- capturing what maildrop_send writes ------------------------------------ */

/* Sends message i through a netio on a socketpair; a child reads the other
 * end into a file.  With count_only the child only counts the bytes (for
 * the 2 GB message) and *count_r gets the total. */
static int capture_send(struct maildrop *md, unsigned i, uint64_t lines, const char *ok,
			struct buf *out, bool count_only, uint64_t *count_r)
{
	char path[800], reason[256];
	int sv[2], ret, status;
	struct netio *io;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/capture", casedir);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		die("socketpair");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		static char tmp[1 << 16];
		uint64_t total = 0;
		ssize_t n;
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		close(sv[0]);
		while ((n = read(sv[1], tmp, sizeof(tmp))) > 0) {
			total += (uint64_t)n;
			if (!count_only && safe_write_all(fd, tmp, (size_t)n) < 0)
				_exit(3);
		}
		if (count_only) {
			char line[64];
			int l = snprintf(line, sizeof(line), "%" PRIu64, total);

			safe_write_all(fd, line, (size_t)l);
		}
		close(fd);
		_exit(0);
	}
	close(sv[1]);
	io = netio_create(sv[0], sv[0]);
	if (io == NULL)
		die("netio_create");
	ret = maildrop_send(md, i, lines, io, ok, reason, sizeof(reason));
	if (netio_flush(io) < 0 && ret == 0)
		ret = -3;
	netio_destroy(io);
	close(sv[0]);
	waitpid(pid, &status, 0);
	read_file(path, out);
	if (count_only && count_r != NULL)
		*count_r = strtoull(out->p ? out->p : "0", NULL, 10);
	return ret;
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

#define F1 "From alice@example.org Sat Jan  3 01:05:34 1996\n"
#define F2 "From bob@example.org Sat Jan  3 01:05:35 1996\n"
#define F3 "From carol@example.org Sat Jan  3 01:05:36 1996\n"

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

	new_case();
	md = open_ok();
	ok(md != NULL && maildrop_count(md) == 0, "missing spool: 0 messages");
	if (md != NULL)
		ok(commit(md) == MAILDROP_OK, "missing spool: commit");
	ok(access(spool, F_OK) < 0, "missing spool: not created");
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
 * MBOX_READ_BLOCK (mbox.c).  Slide a separator, its "\r\n" empty line, the
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

/* ---- send errors ------------------------------------------------------------ */

static void test_send_errors(void)
{
	struct tbox tb = { 0 };
	struct maildrop *md;
	struct buf got = { 0 };
	int r;

	new_case();
	tbox_adds(&tb, F1, "Subject: a\n\nbody\n", "\n");
	tbox_adds(&tb, F2, "Subject: b\n\nbody\n", "\n");
	tbox_write(&tb);
	md = open_ok();
	if (md == NULL) {
		ok(0, "send errors: open");
		return;
	}
	r = capture_send(md, 2, UINT64_MAX, "+OK x", &got, false, NULL);
	ok(r == -1 && got.len == 0, "send out of range: -1, nothing written");
	/* An agent that ignores locks truncated the spool: the read fails
	 * before anything was sent. */
	if (truncate(spool, 20) < 0)
		die("truncate");
	r = capture_send(md, 1, UINT64_MAX, "+OK x", &got, false, NULL);
	ok(r == -1 && got.len == 0, "read error before the first block: -1, no +OK sent");
	maildrop_close(md);
	buf_free(&got);
	tbox_free(&tb);
}

/* ---- a message larger than 2 GiB -------------------------------------------- */

static void test_huge_message(void)
{
	const char *head = F1 "Subject: big\n\n";
	uint64_t body = (1ULL << 31) + 1000, count = 0, size;
	struct maildrop *md;
	struct buf got = { 0 };
	int fd, r;

	new_case();
	fd = open(spool, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || safe_write_all(fd, head, strlen(head)) < 0)
		die("spool");
	/* A sparse body: NUL bytes, no line ends, no final newline. */
	if (ftruncate(fd, (off_t)(strlen(head) + body)) < 0) {
		close(fd);
		tap_skip("file system has no room for a sparse 2 GiB file", "2 GiB message");
		return;
	}
	close(fd);
	md = open_ok();
	ok(md != NULL, "2 GiB message: opens");
	if (md == NULL)
		return;
	size = strlen("Subject: big\n\n") + 2 + body + 2;
	is_int(maildrop_count(md), 1, "2 GiB message: one message");
	ok(maildrop_msg_size(md, 0) == size, "2 GiB message: size %" PRIu64 " (64-bit)",
	   maildrop_msg_size(md, 0));
	r = capture_send(md, 0, 0, "+OK Message follows.", &got, false, NULL);
	ok(r == 0 && got.len == strlen("+OK Message follows.\r\nSubject: big\r\n\r\n.\r\n"),
	   "2 GiB message: TOP 1 0 streams just the header");
	r = capture_send(md, 0, UINT64_MAX, "+OK 1 octets", &got, true, &count);
	ok(r == 0 && count == strlen("+OK 1 octets\r\n") + size + 3,
	   "2 GiB message: RETR streams %" PRIu64 " bytes", count);
	maildrop_close(md);
	unlink(spool);
	buf_free(&got);
}

/* ---- UIDs ------------------------------------------------------------------- */

static char **save_uids(struct maildrop *md)
{
	unsigned i, n = maildrop_count(md);
	char **u = calloc(n + 1, sizeof(*u));

	for (i = 0; i < n; i++)
		u[i] = strdup(maildrop_msg_uid(md, i));
	return u;
}

static void free_uids(char **u)
{
	size_t i;

	for (i = 0; u != NULL && u[i] != NULL; i++)
		free(u[i]);
	free(u);
}

static bool uids_unique_valid(struct maildrop *md)
{
	unsigned i, j, n = maildrop_count(md);

	for (i = 0; i < n; i++) {
		const char *u = maildrop_msg_uid(md, i);

		if (!uidstore_valid_uid(u, strlen(u)))
			return false;
		for (j = 0; j < i; j++)
			if (strcmp(u, maildrop_msg_uid(md, j)) == 0)
				return false;
	}
	return true;
}

static void read_epoch(char *epoch)
{
	struct buf b = { 0 };
	char path[800];

	snprintf(path, sizeof(path), "%s/uids", state);
	read_file(path, &b);
	epoch[0] = '\0';
	if (b.len > 20 && strncmp(b.p, "popper-uids 1 ", 14) == 0)
		snprintf(epoch, 9, "%s", b.p + 14);
	buf_free(&b);
}

/* Returns false when the drop would not open (the rest is then skipped). */
static bool test_uids_generated(void)
{
	struct tbox tb = { 0 };
	struct maildrop *md;
	char **u1, **u2, epoch[16];
	bool same = true;
	unsigned i;

	new_case();
	tbox_adds(&tb, F1, "Subject: a\n\nsame\n", "\n");
	tbox_adds(&tb, F1, "Subject: a\n\nsame\n", "\n");   /* byte-identical */
	tbox_adds(&tb, F2, "Subject: b\n\nother\n", "\n");
	tbox_adds(&tb, F3, "Subject: c\n\nthird\n", "\n");
	tbox_write(&tb);
	md = open_ok();
	if (md == NULL) {
		ok(0, "uids: open");
		return false;
	}
	ok(uids_unique_valid(md), "UIDs are valid and unique (identical messages differ)");
	read_epoch(epoch);
	ok(strlen(epoch) == 8 && strncmp(maildrop_msg_uid(md, 0), epoch, 8) == 0 &&
	   maildrop_msg_uid(md, 0)[8] == '.', "generated UID is EPOCH.N (%s)", maildrop_msg_uid(md, 0));
	u1 = save_uids(md);
	maildrop_close(md);

	md = open_ok();
	u2 = md ? save_uids(md) : NULL;
	for (i = 0; u2 != NULL && i < 4; i++)
		if (strcmp(u1[i], u2[i]) != 0)
			same = false;
	ok(u2 != NULL && same, "UIDs stable across sessions");
	free_uids(u2);
	maildrop_msg_delete(md, 1);
	ok(commit(md) == MAILDROP_OK, "commit deleting the second of two identical messages");
	append_file(spool, F3 "Subject: new\n\nnew mail\n\n", strlen(F3 "Subject: new\n\nnew mail\n\n"));
	md = open_ok();
	ok(md != NULL && maildrop_count(md) == 4, "after delete + new mail: 4 messages");
	if (md != NULL) {
		ok(strcmp(maildrop_msg_uid(md, 0), u1[0]) == 0 &&
		   strcmp(maildrop_msg_uid(md, 1), u1[2]) == 0 &&
		   strcmp(maildrop_msg_uid(md, 2), u1[3]) == 0, "kept messages keep their UIDs");
		ok(strcmp(maildrop_msg_uid(md, 3), u1[1]) != 0 && uids_unique_valid(md),
		   "new mail gets a new UID, never a deleted one's (%s)", maildrop_msg_uid(md, 3));
		maildrop_close(md);
	}
	free_uids(u1);
	tbox_free(&tb);
	return true;
}

/*
 * X-UIDL on the first sight of the drop: honoured once, never a duplicate
 * (the look-alike of our own UIDs: test_uidstore).  Then deletes the two
 * <abc123@example> messages and appends later mail for
 * test_x_uidl_later_mail; returns false when the drop would not open.
 */
static bool test_x_uidl_first_sight(char *epoch)
{
	struct tbox tb = { 0 };
	struct maildrop *md;

	new_case();
	tbox_adds(&tb, F1, "Subject: a\n\nfirst\n", "\n");
	tbox_adds(&tb, F2, "X-UIDL: <abc123@example>\nSubject: x\n\nbody\n", "\n");
	tbox_adds(&tb, F2, "x-uidl:  \t<abc123@example>  \r\nSubject: dup\n\nbody\n", "\n");
	tbox_adds(&tb, F3, "Subject: y\nX-UIDL: def456\n\nX-UIDL: in-body\n", "\n");
	tbox_adds(&tb, F3, "X-UIDL: has space\n\nb\n", "\n");
	tbox_adds(&tb, F3, "X-UIDL: folded\n continued\n\nb\n", "\n");
	tbox_adds(&tb, F3, "X-UIDL: 01234567890123456789012345678901234567890123456789012345678901234567890\n\nb\n", "\n");
	tbox_adds(&tb, F3, "Subject: z\n\nX-UIDL: not-in-header\n", "\n");
	tbox_write(&tb);
	tbox_free(&tb);
	md = open_ok();
	read_epoch(epoch);
	if (md == NULL)
		return false;
	is_str(maildrop_msg_uid(md, 1), "<abc123@example>", "X-UIDL honoured");
	ok(strcmp(maildrop_msg_uid(md, 2), "<abc123@example>") != 0,
	   "duplicate X-UIDL not honoured (%s)", maildrop_msg_uid(md, 2));
	is_str(maildrop_msg_uid(md, 3), "def456", "X-UIDL later in the header honoured");
	ok(strcmp(maildrop_msg_uid(md, 4), "has") != 0 &&
	   strncmp(maildrop_msg_uid(md, 4), epoch, 8) == 0, "X-UIDL with a space ignored");
	ok(strncmp(maildrop_msg_uid(md, 5), epoch, 8) == 0, "folded X-UIDL ignored");
	ok(strncmp(maildrop_msg_uid(md, 6), epoch, 8) == 0, "71-character X-UIDL ignored");
	ok(strcmp(maildrop_msg_uid(md, 7), "not-in-header") != 0, "X-UIDL in the body ignored");
	ok(uids_unique_valid(md), "all UIDs unique and valid");
	/* Later mail: a copy of the deleted message's X-UIDL, of a live
	 * one's, and a fresh one.  None is honoured now (RFC 1939: a
	 * UID is never reused for another message). */
	maildrop_msg_delete(md, 1);
	maildrop_msg_delete(md, 2);
	ok(commit(md) == MAILDROP_OK, "commit deleting the messages with X-UIDL <abc123@example>");
	append_file(spool, F3 "X-UIDL: <abc123@example>\nSubject: again\n\nb\n\n",
		    strlen(F3 "X-UIDL: <abc123@example>\nSubject: again\n\nb\n\n"));
	append_file(spool, F3 "X-UIDL: def456\nSubject: copy\n\nb\n\n",
		    strlen(F3 "X-UIDL: def456\nSubject: copy\n\nb\n\n"));
	append_file(spool, F3 "X-UIDL: fresh-one\nSubject: new\n\nb\n\n",
		    strlen(F3 "X-UIDL: fresh-one\nSubject: new\n\nb\n\n"));
	return true;
}

/* The drop test_x_uidl_first_sight left, opened again. */
static void test_x_uidl_later_mail(const char *epoch)
{
	struct maildrop *md = open_ok();

	if (md == NULL)
		return;
	ok(maildrop_count(md) == 9 && strcmp(maildrop_msg_uid(md, 1), "def456") == 0,
	   "later session: the old messages keep their UIDs");
	ok(strncmp(maildrop_msg_uid(md, 6), epoch, 8) == 0,
	   "a new message with a deleted message's X-UIDL gets a new UID (%s)",
	   maildrop_msg_uid(md, 6));
	ok(strncmp(maildrop_msg_uid(md, 7), epoch, 8) == 0,
	   "a new message copying a live message's X-UIDL gets a new UID (%s)",
	   maildrop_msg_uid(md, 7));
	ok(strncmp(maildrop_msg_uid(md, 8), epoch, 8) == 0,
	   "a new message's own X-UIDL is not honoured once the state exists (%s)",
	   maildrop_msg_uid(md, 8));
	ok(uids_unique_valid(md), "all UIDs unique and valid");
	maildrop_close(md);
}

/*
 * The state file lost: nothing tells the X-UIDL of a message seen before
 * from one copied since, so none is honoured.  Uses the same drop as the
 * two tests before.
 */
static void test_x_uidl_state_lost(void)
{
	struct maildrop *md;
	char path[800], epoch[16];
	unsigned i, n, honoured = 0;

	snprintf(path, sizeof(path), "%s/uids", state);
	unlink(path);
	md = open_ok();
	if (md == NULL)
		return;
	n = maildrop_count(md);
	read_epoch(epoch);
	for (i = 0; i < n; i++)
		if (strncmp(maildrop_msg_uid(md, i), epoch, 8) != 0)
			honoured++;
	ok(n == 9 && honoured == 0, "uids lost, uids.started present: no X-UIDL honoured "
	   "(%u of %u)", honoured, n);
	maildrop_close(md);
}

static void test_x_uidl_untrusted(void)
{
	struct tbox tb = { 0 };
	struct maildrop *md;

	tbox_adds(&tb, F1, "Subject: a\n\nfirst\n", "\n");
	tbox_adds(&tb, F2, "X-UIDL: <abc123@example>\nSubject: x\n\nbody\n", "\n");
	trust_x_uidl = false;
	new_case();
	tbox_write(&tb);
	md = open_ok();
	if (md != NULL) {
		ok(strcmp(maildrop_msg_uid(md, 1), "<abc123@example>") != 0,
		   "trust-x-uidl off: X-UIDL ignored");
		maildrop_close(md);
	}
	trust_x_uidl = true;
	tbox_free(&tb);
}

static void test_uids(void)
{
	char epoch[16];

	if (!test_uids_generated())
		return;
	if (test_x_uidl_first_sight(epoch))
		test_x_uidl_later_mail(epoch);
	test_x_uidl_state_lost();
	test_x_uidl_untrusted();
}

static void test_seen(void)
{
	struct tbox tb = { 0 };
	struct maildrop *md;

	new_case();
	tbox_adds(&tb, F1, "S: a\n\n1\n", "\n");
	tbox_adds(&tb, F2, "S: b\n\n2\n", "\n");
	tbox_adds(&tb, F3, "S: c\n\n3\n", "\n");
	tbox_write(&tb);
	md = open_ok();
	if (md == NULL) {
		ok(0, "seen: open");
		return;
	}
	ok(!maildrop_msg_seen(md, 0) && !maildrop_msg_seen(md, 1), "nothing seen at first");
	maildrop_msg_mark_seen(md, 1);
	maildrop_msg_delete(md, 2);
	ok(maildrop_msg_seen(md, 1) && maildrop_msg_deleted(md, 2), "mark seen, delete");
	maildrop_reset(md);
	ok(!maildrop_msg_seen(md, 1) && !maildrop_msg_deleted(md, 2), "RSET restores the start state");
	maildrop_msg_mark_seen(md, 1);
	ok(commit(md) == MAILDROP_OK, "commit without deletions");
	md = open_ok();
	if (md != NULL) {
		ok(maildrop_msg_seen(md, 1) && !maildrop_msg_seen(md, 0) && !maildrop_msg_seen(md, 2),
		   "seen mark persists (LAST)");
		maildrop_msg_mark_seen(md, 2);
		maildrop_close(md);   /* abort: not saved */
	}
	md = open_ok();
	if (md != NULL) {
		ok(!maildrop_msg_seen(md, 2), "seen mark of an aborted session is not saved");
		maildrop_reset(md);
		ok(maildrop_msg_seen(md, 1), "RSET keeps marks from earlier sessions");
		maildrop_close(md);
	}
	tbox_free(&tb);
}

/* ---- commit ----------------------------------------------------------------- */

static void commit_case(const char *name, const bool *del, const char *appended)
{
	struct tbox tb = { 0 };
	struct buf want = { 0 }, got = { 0 };
	bool keep[4];
	struct maildrop *md;
	struct maildrop_stats stats;
	char reason[256], jpath[800];
	unsigned i, left = 0;

	new_case();
	tbox_adds(&tb, F1, "Subject: one\n\nbody 1\n", "\n");
	tbox_adds(&tb, F2, "Subject: two\n\nbody 2\n\n", "\n");
	tbox_adds(&tb, F3, "Subject: three\r\n\r\nbody 3\r\n", "\r\n");
	tbox_adds(&tb, F1, "Subject: four\n\nbody 4\n", "\n");
	tbox_write(&tb);
	md = open_ok();
	if (md == NULL) {
		ok(0, "%s: open", name);
		return;
	}
	for (i = 0; i < 4; i++) {
		keep[i] = !del[i];
		if (del[i])
			maildrop_msg_delete(md, i);
		else
			left++;
	}
	if (appended != NULL)
		append_file(spool, appended, strlen(appended));
	ok(maildrop_commit(md, &stats, reason, sizeof(reason)) == MAILDROP_OK, "%s: commit", name);
	is_int(stats.msgs_left, left, "%s: stats: %u left", name, left);
	tbox_render(&tb, keep, &want);
	if (appended != NULL)
		buf_adds(&want, appended);
	read_file(spool, &got);
	ok(buf_eq(&got, &want), "%s: spool is exactly the kept messages%s", name,
	   appended ? " and the new mail" : "");
	snprintf(jpath, sizeof(jpath), "%s/journal", state);
	ok(access(jpath, F_OK) < 0, "%s: journal removed", name);
	ok(access(lockp, F_OK) < 0, "%s: dot-lock released", name);
	buf_free(&want);
	buf_free(&got);
	tbox_free(&tb);
}

static void test_commit(void)
{
	static const bool first[4] = { true, false, false, false };
	static const bool midlast[4] = { false, true, false, true };
	static const bool all[4] = { true, true, true, true };
	static const bool none[4] = { false, false, false, false };
	const char *newmail = "From late@example.org Sat Jan  3 01:05:40 1996\nSubject: late\n\nnew\n\n";

	commit_case("delete first", first, NULL);
	commit_case("delete middle and last", midlast, NULL);
	commit_case("delete all", all, NULL);
	commit_case("delete nothing", none, NULL);
	commit_case("delete first, mail arrived meanwhile", first, newmail);
	commit_case("delete middle and last, mail arrived meanwhile", midlast, newmail);
	commit_case("delete all, mail arrived meanwhile", all, newmail);
}

static void test_commit_refusals(void)
{
	struct tbox tb = { 0 };
	struct buf before = { 0 }, after = { 0 };
	struct maildrop *md;
	char moved[800];

	new_case();
	tbox_adds(&tb, F1, "Subject: one\n\nbody 1\n", "\n");
	tbox_adds(&tb, F2, "Subject: two\n\nbody 2\n", "\n");
	tbox_write(&tb);
	md = open_ok();
	if (md != NULL) {
		maildrop_msg_delete(md, 0);
		if (truncate(spool, 30) < 0)
			die("truncate");
		read_file(spool, &before);
		ok(commit(md) == MAILDROP_TEMP, "spool shrank during the session: [SYS/TEMP]");
		read_file(spool, &after);
		ok(buf_eq(&before, &after), "shrunk spool left alone");
	}
	tbox_write(&tb);
	md = open_ok();
	if (md != NULL) {
		maildrop_msg_delete(md, 0);
		snprintf(moved, sizeof(moved), "%s.old", spool);
		rename(spool, moved);
		tbox_write(&tb);
		read_file(moved, &before);
		ok(commit(md) == MAILDROP_TEMP, "spool replaced during the session: [SYS/TEMP]");
		read_file(moved, &after);
		ok(buf_eq(&before, &after), "the old inode is not written");
	}
	md = open_ok();
	if (md != NULL) {
		int fd = open(spool, O_WRONLY);

		maildrop_msg_delete(md, 0);
		if (fd < 0 || pwrite(fd, "X", 1, 5) != 1)
			die("pwrite");
		close(fd);
		read_file(spool, &before);
		ok(commit(md) == MAILDROP_TEMP, "first deleted message changed: [SYS/TEMP]");
		read_file(spool, &after);
		ok(buf_eq(&before, &after), "changed spool left alone");
	}
	buf_free(&before);
	buf_free(&after);
	tbox_free(&tb);
}

/* ---- crash safety ----------------------------------------------------------- */

static int hook_target, hook_count;
static const char *hook_step;   /* stop at the first step of this name instead */

static void crash_hook(const char *stepname)
{
	if (hook_step != NULL ? strcmp(stepname, hook_step) == 0 : ++hook_count == hook_target)
		_exit(42);
}

static int child_commit_at(const bool *del, unsigned n, int k, const char *stepname);

/* In a child: open, delete del[], commit, stopping dead at hook step k.
 * Returns 42 if it stopped, 0 if the commit completed, else an error. */
static int child_commit(const bool *del, unsigned n, int k)
{
	return child_commit_at(del, n, k, NULL);
}

/* The same, stopping at the first step called stepname when it is not
 * NULL. */
static int child_commit_at(const bool *del, unsigned n, int k, const char *stepname)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		struct maildrop *md = NULL;
		unsigned i;

		if (try_open(&md) != MAILDROP_OK)
			_exit(3);
		for (i = 0; i < n; i++)
			if (del[i])
				maildrop_msg_delete(md, i);
		hook_count = 0;
		hook_target = k;
		hook_step = stepname;
		mbox_update_hook = crash_hook;
		_exit(commit(md) == MAILDROP_OK ? 0 : 4);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* In a child: open (which recovers), stopping dead at hook step k. */
static int child_recover(int k)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		struct maildrop *md = NULL;

		hook_count = 0;
		hook_target = k;
		mbox_update_hook = crash_hook;
		if (try_open(&md) != MAILDROP_OK)
			_exit(3);
		maildrop_close(md);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Files in the state directory other than the UID state ("uids" and its
 * record "uids.started") whose names start with prefix ("" for all). */
static int state_files(const char *prefix)
{
	DIR *d = opendir(state);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
		    strcmp(e->d_name, "uids") != 0 && strcmp(e->d_name, "uids.started") != 0 &&
		    strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

/* Journals (also ones set aside) and temporary files must not survive a
 * crash and a recovery. */
static int state_junk(void)
{
	return state_files("");
}

/* After a crash (and recovery by a normal open): the spool must be the old
 * or the new mailbox plus app, and UIDs must have survived.  Returns 1 for
 * old, 2 for new, 0 for anything else. */
static int check_outcome(const struct tbox *tb, const bool *del, const char *app, char **uids)
{
	struct buf old = { 0 }, new = { 0 }, got = { 0 };
	bool keep[8];
	struct maildrop *md;
	int outcome = 0;
	unsigned i, j;

	for (i = 0; i < tb->n; i++)
		keep[i] = !del[i];
	tbox_render(tb, NULL, &old);
	tbox_render(tb, keep, &new);
	buf_adds(&old, app);
	buf_adds(&new, app);
	md = open_ok();   /* recovers */
	read_file(spool, &got);
	if (buf_eq(&got, &old))
		outcome = 1;
	else if (buf_eq(&got, &new))
		outcome = 2;
	if (state_junk() != 0) {
		printf("# state directory holds more than a clean session leaves\n");
		outcome = 0;
	}
	if (md == NULL)
		return 0;
	for (i = j = 0; i < tb->n && outcome != 0; i++) {
		if (outcome == 2 && del[i])
			continue;
		if (j >= maildrop_count(md) || strcmp(maildrop_msg_uid(md, j), uids[i]) != 0)
			outcome = 0;
		j++;
	}
	if (outcome != 0 && app[0] != '\0') {
		const char *u = maildrop_msg_uid(md, maildrop_count(md) - 1);

		for (i = 0; i < tb->n; i++)
			if (strcmp(u, uids[i]) == 0)
				outcome = 0;
	}
	if (outcome != 0 && !uids_unique_valid(md))
		outcome = 0;
	maildrop_close(md);
	buf_free(&old);
	buf_free(&new);
	buf_free(&got);
	return outcome;
}

static void build_crash_box(struct tbox *tb)
{
	tbox_adds(tb, F1, "Subject: one\n\nbody 1\n", "\n");
	tbox_adds(tb, F2, "Subject: two\n\nbody 2\n", "\n");
	tbox_adds(tb, F3, "Subject: three\n\nbody 3\n", "\n");
	tbox_adds(tb, F1, "Subject: four\n\nbody 4\n", "\n");
	tbox_adds(tb, F2, "Subject: five\n\nbody 5\n", "\n");
}

/* Kills the commit at every step k (and, with nested, the recovery at
 * every step j), with or without mail delivered after the crash. */
static void crash_sweep(const char *name, const bool *del, bool with_mail, bool nested)
{
	const char *mail = with_mail ?
		"From late@example.org Sat Jan  3 01:05:40 1996\nSubject: late\n\nnew\n\n" : "";
	struct tbox tb = { 0 };
	unsigned olds = 0, news = 0, bad = 0, runs = 0;
	int k;

	build_crash_box(&tb);
	for (k = 1; k < 200; k++) {
		struct maildrop *md;
		char **uids;
		int rc, j, o;

		new_case();
		tbox_write(&tb);
		md = open_ok();
		if (md == NULL) {
			bad++;
			break;
		}
		uids = save_uids(md);
		maildrop_close(md);
		rc = child_commit(del, (unsigned)tb.n, k);
		if (rc != 42 && rc != 0) {
			printf("# %s: step %d: child failed (%d)\n", name, k, rc);
			bad++;
			free_uids(uids);
			break;
		}
		if (with_mail)
			append_file(spool, mail, strlen(mail));
		for (j = 1; nested && rc == 42 && j < 50; j++) {
			int r2 = child_recover(j);

			if (r2 == 0)
				break;   /* recovery completed untouched by the hook */
			if (r2 != 42) {
				printf("# %s: step %d/%d: recovery child failed (%d)\n", name, k, j, r2);
				bad++;
				break;
			}
		}
		o = check_outcome(&tb, del, mail, uids);
		runs++;
		if (o == 1)
			olds++;
		else if (o == 2)
			news++;
		else {
			printf("# %s: crash at step %d: spool is neither old nor new\n", name, k);
			bad++;
		}
		if (rc == 0 && o != 2) {
			printf("# %s: completed commit did not give the new mailbox\n", name);
			bad++;
		}
		free_uids(uids);
		if (rc == 0)
			break;
	}
	ok(bad == 0 && olds > 0 && news > 0,
	   "%s: %u crash points, each old (%u) or new (%u) mailbox, UIDs kept, no journal left",
	   name, runs, olds, news);
	tbox_free(&tb);
}

static void test_crashes(void)
{
	static const bool first[5] = { true, false, false, false, false };
	static const bool midlast[5] = { false, true, false, true, true };
	static const bool all[5] = { true, true, true, true, true };

	crash_sweep("crash: delete first", first, false, false);
	crash_sweep("crash: delete middle and last", midlast, false, false);
	crash_sweep("crash: delete all", all, false, false);
	crash_sweep("crash: delete first, mail after the crash", first, true, false);
	crash_sweep("crash: delete middle and last, mail after the crash", midlast, true, false);
	crash_sweep("crash: delete all, mail after the crash", all, true, false);
	crash_sweep("crash in commit and again in recovery", midlast, false, true);
	crash_sweep("crash in commit and in recovery, mail after the crash", midlast, true, true);
}

/* In a child with a file size limit (writes past it fail with EFBIG, like
 * a full disk): open, delete del[], commit.  Returns the child's exit code:
 * 0 commit OK, 4 commit failed, 3 open failed. */
static int child_commit_limited(const bool *del, unsigned n, rlim_t limit)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		struct maildrop *md = NULL;
		struct rlimit rl = { limit, limit };
		unsigned i;

		if (try_open(&md) != MAILDROP_OK)
			_exit(3);
		for (i = 0; i < n; i++)
			if (del[i])
				maildrop_msg_delete(md, i);
		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			_exit(5);
		_exit(commit(md) == MAILDROP_OK ? 0 : 4);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_disk_full(void)
{
	static const bool del_first[3] = { true, false, false };
	static const bool del_mid[3] = { false, true, false };
	struct tbox tb = { 0 };
	struct buf big = { 0 }, before = { 0 }, after = { 0 };
	struct maildrop *md;
	char jpath[800];
	int i, rc;

	for (i = 0; i < 400; i++)
		buf_adds(&big, "a line of text to make the message about 20 kB long.\n");
	tbox_adds(&tb, F1, "Subject: small\n\nx\n", "\n");
	tbox_add(&tb, F2, big.p, big.len, "\n");
	tbox_adds(&tb, F3, "Subject: small\n\ny\n", "\n");

	/* The journal cannot be written: nothing changes. */
	new_case();
	tbox_write(&tb);
	md = open_ok();
	if (md != NULL)
		maildrop_close(md);
	read_file(spool, &before);
	rc = child_commit_limited(del_first, 3, 8192);
	read_file(spool, &after);
	snprintf(jpath, sizeof(jpath), "%s/journal", state);
	ok(rc == 4, "journal write fails (EFBIG as for a full disk): commit reports failure");
	ok(buf_eq(&before, &after), "journal write fails: spool untouched");
	ok(access(jpath, F_OK) < 0, "journal write fails: partial journal removed");
	md = open_ok();
	ok(md != NULL && maildrop_count(md) == 3, "journal write fails: all messages still there");
	if (md != NULL)
		maildrop_close(md);

	/* The journal fits, the move does not (writes past the limit fail)
	 * and neither does undoing it: the journal stays and the next open
	 * restores the old mailbox. */
	tbox_free(&tb);
	tbox_add(&tb, F1, big.p, big.len, "\n");
	tbox_adds(&tb, F2, "Subject: small\n\nx\n", "\n");
	tbox_add(&tb, F3, big.p, big.len, "\n");
	new_case();
	tbox_write(&tb);
	md = open_ok();
	if (md != NULL)
		maildrop_close(md);
	read_file(spool, &before);
	rc = child_commit_limited(del_mid, 3, (rlim_t)(big.len + big.len / 2));
	snprintf(jpath, sizeof(jpath), "%s/journal", state);
	ok(rc == 4 && access(jpath, F_OK) == 0, "move fails, undo fails: failure reported, journal kept");
	md = open_ok();
	read_file(spool, &after);
	ok(md != NULL && maildrop_count(md) == 3 && buf_eq(&before, &after),
	   "next open restores the old mailbox byte for byte");
	ok(access(jpath, F_OK) < 0, "journal removed after recovery");
	if (md != NULL)
		maildrop_close(md);
	buf_free(&big);
	buf_free(&before);
	buf_free(&after);
	tbox_free(&tb);
}

/* Journals that must not be replayed: damaged, or for another file. */
static void test_bad_journals(void)
{
	static const bool first[5] = { true, false, false, false, false };
	struct tbox tb = { 0 };
	struct buf before = { 0 }, after = { 0 };
	struct maildrop *md;
	char jpath[800], tmp[800];
	int rc = 0, k;

	build_crash_box(&tb);
	new_case();
	tbox_write(&tb);
	snprintf(jpath, sizeof(jpath), "%s/journal", state);
	write_file(jpath, "garbage, not a journal", 22, 0600);
	read_file(spool, &before);
	md = open_ok();
	ok(md != NULL && maildrop_count(md) == 5, "damaged journal: maildrop opens");
	if (md != NULL)
		maildrop_close(md);
	read_file(spool, &after);
	ok(buf_eq(&before, &after), "damaged journal: spool untouched");
	ok(access(jpath, F_OK) < 0, "damaged journal: moved aside");

	/* A journal left in PREPARED whose spool was then replaced (other
	 * inode): set aside, never replayed onto the new file. */
	for (k = 1; k < 100; k++) {
		new_case();
		tbox_write(&tb);
		md = open_ok();
		if (md != NULL)
			maildrop_close(md);
		rc = child_commit(first, 5, k);
		snprintf(jpath, sizeof(jpath), "%s/journal", state);
		if (rc != 42)
			break;
		if (access(jpath, F_OK) == 0) {
			struct buf cur = { 0 };

			read_file(spool, &cur);
			/* wait until compaction has started changing the spool */
			tbox_render(&tb, NULL, &before);
			if (!buf_eq(&cur, &before)) {
				buf_free(&cur);
				break;
			}
			buf_free(&cur);
		}
	}
	ok(rc == 42 && access(jpath, F_OK) == 0, "stale journal: made one mid-compaction");
	snprintf(tmp, sizeof(tmp), "%s.copy", spool);
	read_file(spool, &before);
	write_file(tmp, before.p, before.len, 0600);
	rename(tmp, spool);
	md = open_ok();
	if (md != NULL)
		maildrop_close(md);
	read_file(spool, &after);
	ok(buf_eq(&before, &after), "stale journal: the new file is not touched");
	ok(access(jpath, F_OK) < 0, "stale journal: moved aside");
	buf_free(&before);
	buf_free(&after);
	tbox_free(&tb);
}

/* A crash leaves a journal; then another program rewrites the spool in
 * place (an MUA adds a Status: header, or expunges a message) before
 * popper's next login.  Recovery must see the bytes are not the ones it
 * journaled or wrote, leave the spool exactly as the other program left
 * it, and set the journal aside. */
static void changed_after_crash(const char *name, const bool *del, const char *stepname,
				bool expunge)
{
	struct tbox tb = { 0 };
	struct buf cur = { 0 }, edited = { 0 }, after = { 0 };
	struct maildrop *md;
	char jpath[800];
	const char *nl;
	int rc;

	build_crash_box(&tb);
	new_case();
	tbox_write(&tb);
	md = open_ok();
	if (md != NULL)
		maildrop_close(md);
	rc = child_commit_at(del, (unsigned)tb.n, 0, stepname);
	snprintf(jpath, sizeof(jpath), "%s/journal", state);
	read_file(spool, &cur);
	nl = memchr(cur.p, '\n', cur.len);
	if (expunge) {
		/* drop everything after the first message's From_ line's body:
		 * what an MUA writing back fewer messages leaves */
		buf_add(&edited, cur.p, cur.len / 2);
	} else if (nl != NULL) {
		size_t first = (size_t)(nl - cur.p) + 1;

		buf_add(&edited, cur.p, first);
		buf_adds(&edited, "Status: RO\n");
		buf_add(&edited, cur.p + first, cur.len - first);
	}
	write_file(spool, edited.p, edited.len, 0600);
	md = open_ok();
	read_file(spool, &after);
	ok(rc == 42 && md != NULL && buf_eq(&after, &edited),
	   "%s: recovery leaves the other program's spool byte for byte", name);
	ok(access(jpath, F_OK) < 0 && state_files("journal.mismatch.") == 1,
	   "%s: the journal is set aside as journal.mismatch.*", name);
	if (md != NULL)
		maildrop_close(md);
	buf_free(&cur);
	buf_free(&edited);
	buf_free(&after);
	tbox_free(&tb);
}

static void test_changed_after_crash(void)
{
	static const bool first[5] = { true, false, false, false, false };
	static const bool midlast[5] = { false, true, false, true, true };

	changed_after_crash("PREPARED, Status: added", first, "move", false);
	changed_after_crash("PREPARED, message expunged", midlast, "move", true);
	changed_after_crash("PREPARED after the move, Status: added", first, "spool-fsync", false);
	changed_after_crash("COMPACTED, Status: added", midlast, "journal-compacted", false);
	changed_after_crash("COMPACTED, message expunged", first, "journal-compacted", true);
}

/* ---- files and locks -------------------------------------------------------- */

static void test_files(void)
{
	struct maildrop *md = NULL;
	struct maildrop_settings s;
	char other[800];
	const char *content = F1 "S: x\n\nb\n";

	new_case();
	snprintf(other, sizeof(other), "%s/target", casedir);
	write_file(other, content, strlen(content), 0600);
	if (symlink(other, spool) < 0)
		die("symlink");
	is_int(try_open(&md), MAILDROP_PERM, "symlink spool refused (%s)", last_reason);

	new_case();
	if (mkfifo(spool, 0600) < 0)
		die("mkfifo");
	is_int(try_open(&md), MAILDROP_PERM, "FIFO spool refused without hanging");

	new_case();
	snprintf(other, sizeof(other), "%s/target", casedir);
	write_file(other, content, strlen(content), 0600);
	if (link(other, spool) < 0)
		die("link");
	is_int(try_open(&md), MAILDROP_PERM, "hard-linked spool refused");

	new_case();
	if (mkdir(spool, 0700) < 0)
		die("mkdir");
	is_int(try_open(&md), MAILDROP_PERM, "directory spool refused");

	new_case();
	write_file(spool, content, strlen(content), 0600);
	chmod(spool, 0602);
	is_int(try_open(&md), MAILDROP_PERM, "world-writable spool refused");

	new_case();
	write_file(spool, content, strlen(content), 0600);
	settings(&s);
	s.owner_uid = getuid() + 1;
	is_int(maildrop_open(&s, &md, last_reason, sizeof(last_reason)), MAILDROP_PERM,
	       "spool of another owner refused");
	chmod(spool, 0660);
	md = open_ok();
	ok(md != NULL, "0660 spool (Debian user:mail) accepted");
	if (md != NULL)
		maildrop_close(md);

	new_case();
	write_file(spool, content, strlen(content), 0600);
	snprintf(other, sizeof(other), "%s/state", casedir);
	rmdir(other);
	is_int(try_open(&md), MAILDROP_PERM, "missing state directory: [SYS/PERM] (%s)", last_reason);
	if (symlink(casedir, other) < 0)
		die("symlink");
	is_int(try_open(&md), MAILDROP_PERM, "symlinked state directory refused");
}

static void test_locks(void)
{
	struct maildrop *md, *md2 = NULL;
	const char *content = F1 "S: x\n\nb\n";
	int p[2], status;
	char c;
	pid_t pid;

	lock_wait = 0;
	new_case();
	write_file(spool, content, strlen(content), 0600);
	md = open_ok();
	ok(md != NULL && access(lockp, F_OK) == 0, "open takes the dot-lock");
	is_int(try_open(&md2), MAILDROP_IN_USE, "second open: [IN-USE] (%s)", last_reason);
	if (md != NULL)
		maildrop_close(md);
	ok(access(lockp, F_OK) < 0, "close releases the dot-lock");

	/* Another process holding the fcntl lock only. */
	if (pipe(p) < 0)
		die("pipe");
	pid = fork();
	if (pid == 0) {
		struct flock fl;
		int fd = open(spool, O_RDWR);

		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fcntl(fd, F_SETLK, &fl) < 0 || write(p[1], "x", 1) != 1)
			_exit(1);
		pause();   /* until the parent kills us */
		_exit(0);
	}
	if (read(p[0], &c, 1) != 1)
		die("read");
	is_int(try_open(&md2), MAILDROP_IN_USE, "fcntl lock held elsewhere: [IN-USE]");
	ok(access(lockp, F_OK) < 0, "no dot-lock taken when fcntl is busy");
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(p[0]);
	close(p[1]);

	/* A dot-lock left by a dead process of this host is stale at once. */
	pid = fork();
	if (pid == 0) {
		struct maildrop *mc = NULL;

		if (try_open(&mc) != MAILDROP_OK)
			_exit(1);
		_exit(0);   /* dies holding the locks */
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0 && access(lockp, F_OK) == 0,
	   "a dead session left its dot-lock");
	md = open_ok();
	ok(md != NULL, "stale dot-lock of a dead process is broken");
	if (md != NULL)
		maildrop_close(md);
	lock_wait = 1;
}

/* ---- speed ------------------------------------------------------------------ */

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

static void cleanup(void)
{
	char cmd[700];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", root);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	signal(SIGPIPE, SIG_IGN);
	snprintf(root, sizeof(root), "%s/test_mbox.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(root) == NULL)
		die("mkdtemp");
	test_framing();
	test_format_errors();
	test_random();
	test_boundaries();
	test_many_tiny();
	test_send_errors();
	test_uids();
	test_seen();
	test_commit();
	test_commit_refusals();
	test_crashes();
	test_disk_full();
	test_bad_journals();
	test_changed_after_crash();
	test_files();
	test_locks();
	test_speed();
	test_huge_message();
	cleanup();
	return tap_done();
}
