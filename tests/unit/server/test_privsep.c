/*
 * test_privsep: the messages between the pre-auth process and the auth
 * monitor (server/privsep.c): the codec's bounds (every malformed byte
 * string is refused, nothing read past the end), and the channel over a
 * real SOCK_SEQPACKET socketpair with descriptors passed and refused.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/privsep.h"
#include "tests/unit/tap.h"

static void test_codec(void)
{
	unsigned char buf[PM_MSG_MAX], big[PM_FIELD_MAX + 1];
	struct pm_msg m, d;
	char s[16];
	unsigned char b;
	long n;

	pm_init(&m, PM_PLAIN);
	ok(pm_add_str(&m, "alice") == 0 && pm_add_str(&m, "secret") == 0 && pm_add_byte(&m, 1) == 0,
	   "three fields");
	n = pm_encode(&m, buf, sizeof(buf));
	ok(n == 2 + 7 + 8 + 3, "encoded length (%ld)", n);
	ok(pm_decode(buf, (size_t)n, &d) == 0, "decodes");
	ok(d.type == PM_PLAIN && d.nfields == 3, "type and field count");
	ok(pm_field_str(&d, 0, s, sizeof(s)) && strcmp(s, "alice") == 0, "field 0");
	ok(pm_field_str(&d, 1, s, sizeof(s)) && strcmp(s, "secret") == 0, "field 1");
	ok(pm_field_byte(&d, 2, &b) && b == 1, "field 2 is a byte");
	ok(!pm_field_byte(&d, 0, &b), "a 5-byte field is not a byte");
	ok(!pm_field_str(&d, 3, s, sizeof(s)), "no field 3");
	ok(!pm_field_str(&d, 1, s, 6), "a field that does not fit the buffer is refused");

	for (long cut = 0; cut < n; cut++)
		ok(pm_decode(buf, (size_t)cut, &d) != 0, "cut to %ld bytes: refused", cut);
	buf[n] = 0;
	ok(pm_decode(buf, (size_t)n + 1, &d) != 0, "a trailing byte: refused");
	buf[0] = 0;
	ok(pm_decode(buf, (size_t)n, &d) != 0, "type 0: refused");
	buf[0] = PM_TYPE_END;
	ok(pm_decode(buf, (size_t)n, &d) != 0, "an unknown type: refused");
	buf[0] = PM_PLAIN;
	buf[1] = PM_FIELDS_MAX + 1;
	ok(pm_decode(buf, (size_t)n, &d) != 0, "too many fields: refused");
	buf[1] = 3;
	buf[2] = 0xff;
	ok(pm_decode(buf, (size_t)n, &d) != 0, "a field length past the end: refused");

	pm_init(&m, PM_PLAIN);
	pm_add_str(&m, "x\0y");
	pm_add(&m, "x\0y", 3);
	n = pm_encode(&m, buf, sizeof(buf));
	ok(n > 0 && pm_decode(buf, (size_t)n, &d) == 0, "a field with a NUL encodes");
	ok(!pm_field_str(&d, 1, s, sizeof(s)), "... but is not a string");

	pm_init(&m, PM_SASL_STEP);
	memset(big, 'a', sizeof(big));
	ok(pm_add(&m, big, sizeof(big)) != 0, "a field over PM_FIELD_MAX is refused");
	for (unsigned i = 0; i < PM_FIELDS_MAX; i++)
		pm_add_byte(&m, 0);
	ok(pm_add_byte(&m, 0) != 0, "a seventh field is refused");
	ok(pm_encode(&m, buf, 4) < 0, "a buffer too small: refused");
	pm_init(&m, PM_PLAIN);
	ok(pm_add_byte(&m, 16) != 0 && m.nfields == 0, "bytes above 15 are not flags");
	ok(pm_add_byte(&m, 15) == 0 && m.nfields == 1, "15 is");
}

static int open_count(void)
{
	int n = 0;

	for (int fd = 0; fd < 256; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

static void test_channel(void)
{
	unsigned char buf[PM_MSG_MAX];
	struct pm_msg m, d;
	int sv[2], before;
	char s[16];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
		die("socketpair");
	pm_init(&m, PM_USER_CHECK);
	pm_add_str(&m, "bob");
	ok(pm_send(sv[0], &m) == 0, "sent");
	ok(pm_recv(sv[1], buf, &d, 0, 1000) == 1, "received");
	ok(d.type == PM_USER_CHECK && pm_field_str(&d, 0, s, sizeof(s)) && strcmp(s, "bob") == 0,
	   "the same message");

	pm_init(&m, PM_HANDOVER);
	pm_add_byte(&m, 0);
	pm_add(&m, "", 0);
	m.fds[0] = m.fds[1] = 0;
	m.nfds = 2;
	ok(pm_send(sv[0], &m) == 0, "sent with two descriptors");
	ok(pm_recv(sv[1], buf, &d, PM_FDS_MAX, 1000) == 1 && d.nfds == 2, "received with two");
	ok(d.fds[0] > 2 && d.fds[1] > 2 && (fcntl(d.fds[0], F_GETFD) & FD_CLOEXEC),
	   "new descriptors, close-on-exec");
	close(d.fds[0]);
	close(d.fds[1]);

	before = open_count();
	ok(pm_send(sv[0], &m) == 0, "sent with descriptors again");
	errno = 0;
	ok(pm_recv(sv[1], buf, &d, 0, 1000) < 0 && errno == EPROTO,
	   "descriptors where none are allowed: EPROTO");
	is_int(open_count(), before, "... and the descriptors received are closed again");

	ok(write(sv[0], "\x01\x01\x00\x09zz", 6) == 6, "a malformed datagram is sent");
	errno = 0;
	ok(pm_recv(sv[1], buf, &d, 0, 1000) < 0 && errno == EPROTO, "malformed: EPROTO");

	errno = 0;
	ok(pm_recv(sv[1], buf, &d, 0, 50) < 0 && errno == ETIMEDOUT, "nothing sent: ETIMEDOUT");
	close(sv[0]);
	ok(pm_recv(sv[1], buf, &d, 0, 1000) == 0, "the peer gone: 0");
	close(sv[1]);
}

int main(void)
{
	test_codec();
	test_channel();
	return tap_done();
}
