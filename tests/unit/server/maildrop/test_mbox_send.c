/*
 * test_mbox_send: RETR and TOP of the mbox store (server/maildrop/mbox_send.c),
 * through maildrop_send and a real netio on a socketpair.
 *
 * What only the sender sees: a message number out of range, a spool cut
 * short under it by an agent that ignores locks (nothing, not even +OK, may
 * reach the client), and a message over 2 GiB, whose size and streamed
 * length must not wrap at 32 bits.  The conversion itself (CRLF, dot
 * stuffing, TOP's header and line count) is checked byte for byte against
 * a model on every mailbox of test_mbox_index.c.
 */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "lib/safeopen.h"
#include "server/maildrop/maildrop.h"
#include "tests/unit/server/maildrop/mboxfixture.h"
#include "tests/unit/tap.h"
#include "tests/unit/testbuf.h"

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

int main(void)
{
	fixture_start("test_mbox_send");
	test_send_errors();
	test_huge_message();
	fixture_end();
	return tap_done();
}
