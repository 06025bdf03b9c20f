/*
 * test_netio: the session line reader and reply writer.
 *
 * Real socketpairs and pipes for the wire behaviour (timeouts, EOF, closed
 * peers, big writes), plus a scripted transport that hands the reader the
 * same byte stream in chunks of every size, one read at a time with
 * "would block" in between, to show that where a read boundary falls (CR
 * and LF split, a limit straddling two reads) never changes the result.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/netio.h"
#include "tests/unit/tap.h"

#define T_WAIT 5000   /* ms: "should be immediate" (generous for slow CI) */

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void make_pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		perror("socketpair");
		exit(2);
	}
}

static void send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			perror("write");
			exit(2);
		}
		p += n;
		len -= (size_t)n;
	}
}

static void send_str(int fd, const char *s)
{
	send_all(fd, s, strlen(s));
}

/* Reads what the peer has within ms milliseconds (up to size-1 bytes). */
static size_t recv_some(int fd, char *buf, size_t size, int ms)
{
	size_t got = 0;
	int waited = 0;

	while (got < size - 1) {
		ssize_t n = recv(fd, buf + got, size - 1 - got, MSG_DONTWAIT);

		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0 || waited >= ms)
			break;
		sleep_ms(5);
		waited += 5;
	}
	buf[got] = '\0';
	return got;
}

static const char *status_name(enum netio_status st)
{
	switch (st) {
	case NETIO_LINE: return "LINE";
	case NETIO_TOO_LONG: return "TOO_LONG";
	case NETIO_EOF: return "EOF";
	case NETIO_TIMEOUT: return "TIMEOUT";
	case NETIO_ERROR: return "ERROR";
	}
	return "?";
}

static void expect_line(struct netio *io, const char *want, size_t wantlen,
			const char *what)
{
	char *line = NULL;
	size_t len = 0;
	enum netio_status st = netio_read_line(io, &line, &len, T_WAIT);
	int good = st == NETIO_LINE && len == wantlen && memcmp(line, want, len) == 0 &&
		   line[len] == '\0';

	ok(good, "%s", what);
	if (!good)
		printf("#   got %s len %zu\n", status_name(st), st == NETIO_LINE ? len : 0);
}

static void expect_status(struct netio *io, enum netio_status want, int ms,
			  const char *what)
{
	char *line;
	size_t len;
	enum netio_status st = netio_read_line(io, &line, &len, ms);

	ok(st == want, "%s", what);
	if (st != want)
		printf("#   got %s, expected %s\n", status_name(st), status_name(want));
}

/* ---- a scripted transport: the stream in fixed-size chunks --------------- */

struct script {
	const char *data;
	size_t len, pos;
	size_t chunk;
	bool again;        /* next read says "would block" */
	unsigned reads;
};

static ssize_t script_read(void *ctx, void *buf, size_t len)
{
	struct script *s = ctx;
	size_t n;

	s->reads++;
	if (s->again) {
		s->again = false;
		errno = EAGAIN;
		return -1;
	}
	s->again = true;
	if (s->pos == s->len)
		return 0;
	n = s->len - s->pos;
	if (n > s->chunk)
		n = s->chunk;
	if (n > len)
		n = len;
	memcpy(buf, s->data + s->pos, n);
	s->pos += n;
	return (ssize_t)n;
}

static ssize_t null_write(void *ctx, const void *buf, size_t len)
{
	(void)ctx;
	(void)buf;
	return (ssize_t)len;
}

/* Runs the stream through a netio with the given chunk size and writes one
 * event per line into out: "L<len>:<hex of content>" or the status name. */
static void run_script(const char *data, size_t len, size_t chunk, char *out,
		       size_t outsize)
{
	struct script s = { data, len, 0, chunk, false, 0 };
	struct netio_transport t = { script_read, null_write, &s, NULL };
	struct netio *io;
	size_t o = 0;
	int sv[2], i;

	/* The transport ignores the descriptor; poll() on it must say
	 * "readable" at once, so the peer leaves one byte there unread. */
	make_pair(sv);
	send_str(sv[1], "x");
	io = netio_create(sv[0], sv[0]);
	netio_set_transport(io, &t);
	out[0] = '\0';
	for (i = 0; i < 1000; i++) {
		char *line;
		size_t l, k;
		enum netio_status st = netio_read_line(io, &line, &l, T_WAIT);

		if (st == NETIO_LINE) {
			o += (size_t)snprintf(out + o, outsize - o, "L%zu:", l);
			for (k = 0; k < l && k < 16 && o + 3 < outsize; k++)
				o += (size_t)snprintf(out + o, outsize - o, "%02x",
						      (unsigned char)line[k]);
			o += (size_t)snprintf(out + o, outsize - o, "\n");
		} else {
			o += (size_t)snprintf(out + o, outsize - o, "%s\n", status_name(st));
			if (st != NETIO_TOO_LONG)
				break;
		}
		if (o >= outsize - 1)
			break;
	}
	netio_destroy(io);
	close(sv[0]);
	close(sv[1]);
}

static size_t add(char *buf, size_t pos, const char *s, size_t n)
{
	memcpy(buf + pos, s, n);
	return pos + n;
}

static size_t add_run(char *buf, size_t pos, char c, size_t n)
{
	memset(buf + pos, c, n);
	return pos + n;
}

static void test_chunk_independence(void)
{
	static const size_t chunks[] = { 1, 2, 3, 5, 7, 64, 511, 512, 513, 514, 4096, 100000 };
	static char stream[40000];
	static char want[8192], got[8192];
	size_t p = 0, i;

	p = add(stream, p, "USER alice\r\n", 12);
	p = add(stream, p, "NOOP\n", 5);                 /* bare LF */
	p = add(stream, p, "\r\n", 2);                   /* empty line */
	p = add(stream, p, "A\rB\r\n", 5);               /* CR inside is data */
	p = add(stream, p, "\r\r\n", 3);                 /* CR CR LF: one CR of content */
	p = add(stream, p, "X\n\rY\r\n", 6);             /* LF CR */
	p = add(stream, p, "US\0ER x\r\n", 9);           /* NUL inside */
	p = add_run(stream, p, 'a', 511);
	p = add(stream, p, "\r\n", 2);
	p = add_run(stream, p, 'b', 512);
	p = add(stream, p, "\r\n", 2);
	p = add_run(stream, p, 'c', 512);                /* 512 with bare LF */
	p = add(stream, p, "\n", 1);
	p = add_run(stream, p, 'd', 513);                /* one too many */
	p = add(stream, p, "\r\n", 2);
	p = add(stream, p, "STAT\r\n", 6);
	p = add_run(stream, p, 'e', 513);
	p = add(stream, p, "\n", 1);
	p = add(stream, p, "LIST\r\n", 6);
	p = add_run(stream, p, 'f', 511);                /* 511 + CR + CR LF = 512 content */
	p = add(stream, p, "\r\r\n", 3);
	p = add_run(stream, p, 'g', 512);                /* 512 + CR + CR LF = 513: too long */
	p = add(stream, p, "\r\r\n", 3);
	p = add_run(stream, p, 'h', 20000);              /* far too long, many reads */
	p = add(stream, p, "\r\n", 2);
	p = add(stream, p, "RETR 1\r\n", 8);
	p = add(stream, p, "QUIT", 4);                   /* EOF mid-line */

	/* "US\0ER x" is 7 octets: U S NUL E R space x */
	snprintf(want, sizeof(want), "%s",
		 "L10:5553455220616c696365\n"
		 "L4:4e4f4f50\n"
		 "L0:\n"
		 "L3:410d42\n"
		 "L1:0d\n"
		 "L1:58\n"
		 "L2:0d59\n"
		 "L7:55530045522078\n"
		 "L511:61616161616161616161616161616161\n"
		 "L512:62626262626262626262626262626262\n"
		 "L512:63636363636363636363636363636363\n"
		 "TOO_LONG\n"
		 "L4:53544154\n"
		 "TOO_LONG\n"
		 "L4:4c495354\n"
		 "L512:66666666666666666666666666666666\n"
		 "TOO_LONG\n"
		 "TOO_LONG\n"
		 "L6:524554522031\n"
		 "EOF\n");

	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		run_script(stream, p, chunks[i], got, sizeof(got));
		ok(strcmp(got, want) == 0,
		   "stream read in chunks of %zu (EAGAIN between reads) gives the same lines",
		   chunks[i]);
		if (strcmp(got, want) != 0)
			printf("# got:\n%s", got);
	}
}

/* ---- line reading on a real socket -------------------------------------- */

static void test_basic_lines(void)
{
	struct netio *io;
	int sv[2];

	make_pair(sv);
	io = netio_create(sv[0], sv[0]);
	ok(io != NULL, "netio_create on a socket");
	ok((fcntl(sv[0], F_GETFL) & O_NONBLOCK) != 0, "the descriptor is non-blocking");

	send_str(sv[1], "USER alice\r\n");
	expect_line(io, "USER alice", 10, "CRLF line");
	send_str(sv[1], "NOOP\n");
	expect_line(io, "NOOP", 4, "bare LF line");
	send_all(sv[1], "PASS a\0b\r\n", 10);
	expect_line(io, "PASS a\0b", 8, "NUL inside the line is kept, length counts it");
	send_str(sv[1], "\r\n");
	expect_line(io, "", 0, "empty line");
	ok(!netio_input_pending(io), "nothing pending after the last line");
	ok(netio_bytes_in(io) == 12 + 5 + 10 + 2, "bytes_in counts every byte read");
	netio_destroy(io);
	close(sv[0]);
	close(sv[1]);
}

static void test_limits(void)
{
	static char buf[20000];
	struct netio *io;
	int sv[2];

	make_pair(sv);
	io = netio_create(sv[0], sv[0]);

	memset(buf, 'x', 511);
	memcpy(buf + 511, "\r\n", 2);
	send_all(sv[1], buf, 513);
	expect_line(io, buf, 511, "511-octet line is read");

	memset(buf, 'y', 512);
	memcpy(buf + 512, "\r\n", 2);
	send_all(sv[1], buf, 514);
	expect_line(io, buf, 512, "512-octet line (the limit) is read");

	memset(buf, 'z', 513);
	memcpy(buf + 513, "\r\nNOOP\r\n", 8);
	send_all(sv[1], buf, 521);
	expect_status(io, NETIO_TOO_LONG, T_WAIT, "513-octet line: TOO_LONG");
	expect_line(io, "NOOP", 4, "... exactly once: the next line is read fine");

	/* 10000 octets in one write: more than fits before the LF arrives. */
	memset(buf, 'U', 10000);
	memcpy(buf + 10000, "\r\nSTAT\r\n", 8);
	send_all(sv[1], buf, 10008);
	expect_status(io, NETIO_TOO_LONG, T_WAIT, "10000-octet line: TOO_LONG");
	expect_line(io, "STAT", 4, "... once; the tail is not read as a command");

	/* The rest of a too-long line arriving later is still discarded. */
	memset(buf, 'V', 600);
	send_all(sv[1], buf, 600);
	expect_status(io, NETIO_TOO_LONG, T_WAIT, "too long reported before the LF arrives");
	expect_status(io, NETIO_TIMEOUT, 50, "the rest is awaited, not reported again");
	send_all(sv[1], buf, 600);
	send_str(sv[1], "\r\nLIST\r\n");
	expect_line(io, "LIST", 4, "after the late LF the next line is read");

	/* A raised limit (AUTH), then back to the default. */
	netio_set_max_line(io, 2000);
	memset(buf, 'w', 2000);
	memcpy(buf + 2000, "\r\n", 2);
	send_all(sv[1], buf, 2002);
	expect_line(io, buf, 2000, "raised limit: a 2000-octet line is read");
	memset(buf, 'w', 2001);
	memcpy(buf + 2001, "\r\nNOOP\r\n", 8);
	send_all(sv[1], buf, 2009);
	expect_status(io, NETIO_TOO_LONG, T_WAIT, "raised limit: 2001 octets is too long");
	expect_line(io, "NOOP", 4, "raised limit: next line fine");
	netio_set_max_line(io, 0);
	memset(buf, 'q', 513);
	memcpy(buf + 513, "\n", 1);
	send_all(sv[1], buf, 514);
	expect_status(io, NETIO_TOO_LONG, T_WAIT, "limit back to the default: 513 is too long");

	netio_destroy(io);
	close(sv[0]);
	close(sv[1]);
}

static void test_pipelining(void)
{
	static char burst[100 * 16];
	struct netio *io;
	size_t p = 0;
	int sv[2], i, in_order = 1;

	make_pair(sv);
	io = netio_create(sv[0], sv[0]);
	for (i = 0; i < 100; i++)
		p += (size_t)snprintf(burst + p, sizeof(burst) - p, "CMD %d\r\n", i);
	send_all(sv[1], burst, p);
	for (i = 0; i < 100; i++) {
		char want[16], *line;
		size_t len;
		enum netio_status st = netio_read_line(io, &line, &len, T_WAIT);

		snprintf(want, sizeof(want), "CMD %d", i);
		if (st != NETIO_LINE || strcmp(line, want) != 0) {
			in_order = 0;
			printf("#   command %d: %s\n", i, status_name(st));
			break;
		}
		if (i == 50)
			ok(netio_input_pending(io), "pipelined input is pending mid-burst");
	}
	ok(in_order, "100 pipelined commands in one write are read in order");
	ok(!netio_input_pending(io), "nothing pending after the burst");

	/* STLS: buffered input must be droppable, not executed later. */
	send_str(sv[1], "STLS\r\nCAPA\r\n");
	expect_line(io, "STLS", 4, "STLS read");
	ok(netio_input_pending(io), "CAPA is buffered behind STLS");
	netio_discard_input(io);
	ok(!netio_input_pending(io), "netio_discard_input drops it");
	expect_status(io, NETIO_TIMEOUT, 50, "the dropped command never comes back");
	netio_destroy(io);
	close(sv[0]);
	close(sv[1]);
}

static void test_eof(void)
{
	struct netio *io;
	int sv[2];

	make_pair(sv);
	io = netio_create(sv[0], sv[0]);
	send_str(sv[1], "QUIT\r\nRETR");
	shutdown(sv[1], SHUT_WR);
	expect_line(io, "QUIT", 4, "line before EOF is still delivered");
	expect_status(io, NETIO_EOF, T_WAIT, "EOF mid-line: NETIO_EOF");
	expect_status(io, NETIO_EOF, T_WAIT, "EOF again on the next call");
	netio_destroy(io);
	close(sv[0]);
	close(sv[1]);

	make_pair(sv);
	io = netio_create(sv[0], sv[0]);
	close(sv[1]);
	expect_status(io, NETIO_EOF, T_WAIT, "EOF with nothing sent");
	netio_destroy(io);
	close(sv[0]);

	/* EOF while discarding a too-long line */
	make_pair(sv);
	io = netio_create(sv[0], sv[0]);
	{
		char buf[1000];

		memset(buf, 'k', sizeof(buf));
		send_all(sv[1], buf, sizeof(buf));
	}
	close(sv[1]);
	expect_status(io, NETIO_TOO_LONG, T_WAIT, "too-long line, then the peer closes");
	expect_status(io, NETIO_EOF, T_WAIT, "... EOF, no second TOO_LONG");
	netio_destroy(io);
	close(sv[0]);
}

static pid_t start_trickler(int fd, const char *data, size_t len, int delay_ms)
{
	pid_t pid = fork();

	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		size_t i;

		for (i = 0; i < len; i++) {
			if (write(fd, data + i, 1) != 1)
				_exit(1);
			sleep_ms(delay_ms);
		}
		sleep_ms(2000);   /* keep the connection open; parent kills us */
		_exit(0);
	}
	return pid;
}

static void stop_child(pid_t pid)
{
	int status;

	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
}

static void test_trickle_and_timeouts(void)
{
	static const char talk[] = "USER alice\r\nPASS secret\nNOOP\r\n";
	struct netio *io;
	pid_t pid;
	int sv[2];

	/* One byte per write, CR and LF in separate writes. */
	make_pair(sv);
	pid = start_trickler(sv[1], talk, sizeof(talk) - 1, 2);
	io = netio_create(sv[0], sv[0]);
	expect_line(io, "USER alice", 10, "trickled one byte at a time: first line");
	expect_line(io, "PASS secret", 11, "trickled: second line (bare LF)");
	expect_line(io, "NOOP", 4, "trickled: third line");
	stop_child(pid);
	netio_destroy(io);
	close(sv[0]);
	close(sv[1]);

	/* Idle client */
	make_pair(sv);
	io = netio_create(sv[0], sv[0]);
	send_str(sv[1], "USER");
	expect_status(io, NETIO_TIMEOUT, 100, "no LF within 100 ms: TIMEOUT");
	expect_status(io, NETIO_TIMEOUT, 0, "timeout 0 with nothing complete: TIMEOUT");
	send_str(sv[1], " bob\r\n");
	expect_line(io, "USER bob", 8, "the partial line survives a timeout");
	netio_destroy(io);
	close(sv[0]);
	close(sv[1]);

	/* Slowloris: bytes keep coming, but the deadline is per line. */
	make_pair(sv);
	pid = start_trickler(sv[1], "NOOPNOOPNOOPNOOPNOOPNOOPNOOPNOOP", 32, 20);
	io = netio_create(sv[0], sv[0]);
	expect_status(io, NETIO_TIMEOUT, 150, "a byte every 20 ms still times out after 150 ms");
	stop_child(pid);
	netio_destroy(io);
	close(sv[0]);
	close(sv[1]);
}

static volatile sig_atomic_t got_alarm;

static void on_alarm(int sig)
{
	(void)sig;
	got_alarm = 1;
}

static void test_signal(void)
{
	struct sigaction sa, old;
	struct itimerval it;
	struct netio *io;
	int sv[2];

	/* The engine's SIGTERM handler only sets a flag: the wait for input
	 * must end so the engine can see it. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);
	make_pair(sv);
	io = netio_create(sv[0], sv[0]);
	send_str(sv[1], "PART");
	memset(&it, 0, sizeof(it));
	it.it_value.tv_usec = 50 * 1000;
	setitimer(ITIMER_REAL, &it, NULL);
	errno = 0;
	expect_status(io, NETIO_ERROR, T_WAIT, "a signal while waiting for input: ERROR ...");
	ok(errno == EINTR && got_alarm, "... with errno EINTR");
	send_str(sv[1], "IAL\r\n");
	expect_line(io, "PARTIAL", 7, "not sticky: the next call reads on, partial input kept");
	netio_destroy(io);
	close(sv[0]);
	close(sv[1]);
	sigaction(SIGALRM, &old, NULL);
}

static void test_discard_cap(void)
{
	struct netio *io;
	char *junk;
	size_t big = 1024 * 1024 + 64 * 1024;
	pid_t pid;
	int sv[2];

	junk = malloc(big);
	memset(junk, 'A', big);

	/* Just under the cap, then an LF: the line is only too long. */
	make_pair(sv);
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		send_all(sv[1], junk, 1024 * 1024 - 16 * 1024);
		send_str(sv[1], "\r\nNOOP\r\n");
		sleep_ms(3000);
		_exit(0);
	}
	io = netio_create(sv[0], sv[0]);
	expect_status(io, NETIO_TOO_LONG, T_WAIT, "1 MiB - 16 KiB without LF: TOO_LONG");
	expect_line(io, "NOOP", 4, "... then its LF; the session goes on");
	stop_child(pid);
	netio_destroy(io);
	close(sv[0]);
	close(sv[1]);

	/* Past the cap without an LF: give up. */
	make_pair(sv);
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		send_all(sv[1], junk, big);
		sleep_ms(3000);
		_exit(0);
	}
	io = netio_create(sv[0], sv[0]);
	expect_status(io, NETIO_TOO_LONG, T_WAIT, "1 MiB + 64 KiB without LF: TOO_LONG first");
	errno = 0;
	expect_status(io, NETIO_ERROR, T_WAIT, "... then ERROR");
	is_int(errno, EMSGSIZE, "... with errno EMSGSIZE");
	expect_status(io, NETIO_ERROR, T_WAIT, "... and it stays an error");
	stop_child(pid);
	netio_destroy(io);
	close(sv[0]);
	close(sv[1]);
	free(junk);
}

/* ---- output -------------------------------------------------------------- */

struct capture {
	char buf[400 * 1024];
	size_t len;
	unsigned writes;
	size_t max_write;
	bool fail;
};

static ssize_t capture_write(void *ctx, const void *buf, size_t len)
{
	struct capture *c = ctx;

	if (c->fail) {
		errno = ECONNRESET;
		return -1;
	}
	if (len > sizeof(c->buf) - c->len)
		len = sizeof(c->buf) - c->len;
	memcpy(c->buf + c->len, buf, len);
	c->len += len;
	c->writes++;
	if (len > c->max_write)
		c->max_write = len;
	return (ssize_t)len;
}

static ssize_t eof_read(void *ctx, void *buf, size_t len)
{
	(void)ctx;
	(void)buf;
	(void)len;
	return 0;
}

/* On a socket: nothing leaves before the flush. */
static void test_output_waits_for_flush(struct netio *io, int peer)
{
	char buf[256];

	ok(netio_printf(io, "+OK %d messages (%d octets)\r\n", 2, 320) == 0, "printf queues");
	ok(netio_puts(io, "1 120\r\n") == 0, "puts queues");
	ok(netio_printf(io, "%d %d\r\n.\r\n", 2, 200) == 0, "printf queues again");
	ok(recv_some(peer, buf, sizeof(buf), 0) == 0, "nothing is written before a flush");
	ok(netio_flush(io) == 0, "flush succeeds");
	recv_some(peer, buf, sizeof(buf), 1000);
	is_str(buf, "+OK 2 messages (320 octets)\r\n1 120\r\n2 200\r\n.\r\n",
	       "the flush writes the replies in order");
	ok(netio_bytes_out(io) == strlen(buf), "bytes_out counts them");
}

/* read_line flushes when it has to wait, not while lines are buffered */
static void test_output_flushed_before_waiting(struct netio *io, int peer)
{
	char buf[256];

	send_str(peer, "STAT\r\nNOOP\r\n");
	expect_line(io, "STAT", 4, "first pipelined command");
	netio_puts(io, "+OK 2 320\r\n");
	expect_line(io, "NOOP", 4, "second pipelined command (already buffered)");
	ok(recv_some(peer, buf, sizeof(buf), 0) == 0,
	   "no write while the next command was already buffered");
	netio_puts(io, "+OK\r\n");
	expect_status(io, NETIO_TIMEOUT, 50, "waiting for input ...");
	recv_some(peer, buf, sizeof(buf), 1000);
	is_str(buf, "+OK 2 320\r\n+OK\r\n", "... flushed both replies first");
}

static void test_output_on_socket(void)
{
	struct netio *io;
	int sv[2];

	make_pair(sv);
	io = netio_create(sv[0], sv[0]);
	test_output_waits_for_flush(io, sv[1]);
	test_output_flushed_before_waiting(io, sv[1]);
	netio_destroy(io);
	close(sv[0]);
	close(sv[1]);
}

static void test_output_one_write_per_flush(struct netio *io, struct capture *cap)
{
	size_t i;

	for (i = 0; i < 10; i++)
		netio_printf(io, "%zu %zu\r\n", i + 1, i * 100);
	netio_flush(io);
	ok(cap->writes == 1, "ten replies, one flush: one write call");
}

static void test_output_big_write(struct netio *io, struct capture *cap)
{
	static char big[300 * 1024];
	size_t i;
	int good;

	memset(cap, 0, sizeof(*cap));
	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)(i % 251);
	netio_puts(io, "+OK 307200 octets\r\n");
	ok(netio_write(io, big, sizeof(big)) == 0, "300 KiB write");
	netio_puts(io, ".\r\n");
	ok(netio_flush(io) == 0, "flush after the big write");
	good = cap->len == 19 + sizeof(big) + 3 &&
	       memcmp(cap->buf, "+OK 307200 octets\r\n", 19) == 0 &&
	       memcmp(cap->buf + 19, big, sizeof(big)) == 0 &&
	       memcmp(cap->buf + 19 + sizeof(big), ".\r\n", 3) == 0;
	ok(good, "big write: every byte arrives in order");
	ok(cap->writes <= 3, "big write goes out in few writes (%u)", cap->writes);
	ok(cap->max_write >= NETIO_OUTBUF_SIZE, "big blocks are written straight through");
}

/* a reply longer than the whole buffer */
static void test_output_long_reply(struct netio *io, struct capture *cap)
{
	static char reply[100 * 1024 + 1];

	memset(cap, 0, sizeof(*cap));
	memset(reply, 'p', 100 * 1024);
	reply[100 * 1024] = '\0';
	ok(netio_printf(io, "<%s>", reply) == 0 && netio_flush(io) == 0,
	   "printf longer than the buffer");
	ok(cap->len == 100 * 1024 + 2 && cap->buf[0] == '<' && cap->buf[cap->len - 1] == '>',
	   "... arrives whole");
}

/* a failing transport: -1, sticky (so io is useless afterwards) */
static void test_output_failure_sticks(struct netio *io, struct capture *cap)
{
	memset(cap, 0, sizeof(*cap));
	cap->fail = true;
	netio_puts(io, "+OK\r\n");
	errno = 0;
	ok(netio_flush(io) == -1 && errno == ECONNRESET, "transport error: flush -1 with its errno");
	cap->fail = false;
	ok(netio_puts(io, "+OK\r\n") == -1, "sticky: later puts fails");
	ok(netio_flush(io) == -1, "sticky: later flush fails");
	ok(cap->writes == 0, "nothing written after the failure");
}

/* With a capturing transport: count the write calls. */
static void test_output_captured(void)
{
	static struct capture cap;
	struct netio_transport t = { eof_read, capture_write, &cap, NULL };
	struct netio *io;
	int sv[2];

	make_pair(sv);
	io = netio_create(sv[0], sv[0]);
	netio_set_transport(io, &t);
	test_output_one_write_per_flush(io, &cap);
	test_output_big_write(io, &cap);
	test_output_long_reply(io, &cap);
	test_output_failure_sticks(io, &cap);
	netio_destroy(io);
	close(sv[0]);
	close(sv[1]);
}

static void test_big_write_socket(void)
{
	static char big[300 * 1024];
	struct netio *io;
	size_t i;
	pid_t pid;
	int sv[2], status;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)(i % 251);
	make_pair(sv);
	pid = fork();
	if (pid == 0) {
		/* reader: check every byte, exit 0 if all arrived in order */
		static char rbuf[8192];
		size_t total = 0;
		ssize_t n;

		close(sv[0]);
		while ((n = read(sv[1], rbuf, sizeof(rbuf))) > 0) {
			for (i = 0; i < (size_t)n; i++, total++) {
				char want = total < 4 ? "+OK\n"[total] :
					    (char)((total - 4) % 251);

				if (total >= 4 + sizeof(big) || rbuf[i] != want)
					_exit(1);
			}
		}
		_exit(total == 4 + sizeof(big) ? 0 : 3);
	}
	close(sv[1]);
	io = netio_create(sv[0], sv[0]);
	netio_puts(io, "+OK\n");
	ok(netio_write(io, big, sizeof(big)) == 0 && netio_flush(io) == 0,
	   "300 KiB through a socket with a slow reader");
	ok(netio_bytes_out(io) == 4 + sizeof(big), "bytes_out after the big write");
	netio_destroy(io);
	close(sv[0]);
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the reader got every byte in order");
}

static void test_write_failures(void)
{
	char *big;
	struct netio *io;
	size_t bigsize = 4 * 1024 * 1024;
	int sv[2];

	/* Peer closed */
	make_pair(sv);
	io = netio_create(sv[0], sv[0]);
	close(sv[1]);
	ok(netio_puts(io, "+OK\r\n") == 0, "queueing to a closed peer is not yet an error");
	errno = 0;
	ok(netio_flush(io) == -1 && errno == EPIPE, "flush to a closed peer: -1, EPIPE");
	ok(netio_puts(io, "+OK\r\n") == -1, "sticky: puts -1");
	ok(netio_printf(io, "%s", "x") == -1, "sticky: printf -1");
	ok(netio_write(io, "x", 1) == -1, "sticky: write -1");
	ok(netio_flush(io) == -1, "sticky: flush -1");
	expect_status(io, NETIO_ERROR, T_WAIT, "sticky: read_line reports ERROR");
	netio_destroy(io);
	close(sv[0]);

	/* Peer that never reads: write timeout */
	make_pair(sv);
	io = netio_create(sv[0], sv[0]);
	netio_set_write_timeout(io, 100);
	big = malloc(bigsize);
	memset(big, 'm', bigsize);
	errno = 0;
	ok(netio_write(io, big, bigsize) == -1 && errno == ETIMEDOUT,
	   "peer not reading: write fails with ETIMEDOUT after the write timeout");
	ok(netio_puts(io, "x") == -1 && errno == ETIMEDOUT, "the timeout is sticky");
	free(big);
	netio_destroy(io);
	close(sv[0]);
	close(sv[1]);
}

static void test_pipes(void)
{
	int in[2], out[2];
	struct netio *io;
	char buf[64];

	if (pipe(in) < 0 || pipe(out) < 0) {
		perror("pipe");
		exit(2);
	}
	io = netio_create(in[0], out[1]);
	ok(io != NULL, "netio on two pipes (inetd-style stdin/stdout)");
	send_str(in[1], "CAPA\r\n");
	expect_line(io, "CAPA", 4, "line read from a pipe");
	netio_puts(io, "+OK Capability list follows.\r\n");
	close(in[1]);
	expect_status(io, NETIO_EOF, T_WAIT, "EOF on the pipe");
	ok(netio_flush(io) == 0, "flush to the pipe");
	{
		ssize_t n = read(out[0], buf, sizeof(buf) - 1);

		buf[n > 0 ? n : 0] = '\0';
	}
	is_str(buf, "+OK Capability list follows.\r\n", "reply arrives on the output pipe");
	netio_destroy(io);
	close(in[0]);
	close(out[0]);
	close(out[1]);
}

int main(void)
{
	/* As the engine does: a closed peer is EPIPE, not a signal. */
	signal(SIGPIPE, SIG_IGN);

	test_basic_lines();
	test_chunk_independence();
	test_limits();
	test_pipelining();
	test_eof();
	test_trickle_and_timeouts();
	test_signal();
	test_discard_cap();
	test_output_on_socket();
	test_output_captured();
	test_big_write_socket();
	test_write_failures();
	test_pipes();
	return tap_done();
}
