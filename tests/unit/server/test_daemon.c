/*
 * test_daemon: the pieces of the standalone listener (server/daemon.c,
 * exposed in server/daemon_parts.h): the listen address parser, listeners
 * on 127.0.0.1 and ::1 (port 0: the kernel picks a free one), the peer's
 * description (IPv4, IPv6, an IPv4-mapped address, AF_UNIX, not a socket),
 * the host-name check for reverse lookups, the per-address session count,
 * the rate limit of repeated log records, the re-sweep schedule of the lock
 * registry and the pid file.
 *
 * Network use is on the loopback addresses only; every socket is
 * non-blocking or already connected, so nothing here can hang.  The whole
 * accept-and-fork loop is driven by tests/integration/test_standalone.py.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "server/daemon.h"
#include "server/daemon_parts.h"
#include "tests/unit/tap.h"
#include "tests/unit/testlog.h"

static char root[256], logp[600];

static bool log_has(const char *want)
{
	static char text[1 << 16];

	testlog_read(logp, text, sizeof(text));
	return strstr(text, want) != NULL;
}

/* ---- the listen address ---------------------------------------------- */

struct spec_case {
	const char *spec;
	int rc;
	const char *host, *port;
};

static void test_addrspec(void)
{
	static const struct spec_case cases[] = {
		{ NULL, 0, "", "110" },
		{ "", 0, "", "110" },
		{ "110", 0, "", "110" },
		{ "1110", 0, "", "1110" },
		{ "127.0.0.1", 0, "127.0.0.1", "110" },
		{ "127.0.0.1:1110", 0, "127.0.0.1", "1110" },
		{ "mail.example.org:pop3", 0, "mail.example.org", "pop3" },
		{ "mail.example.org", 0, "mail.example.org", "110" },
		{ ":995", 0, "", "995" },
		{ "[::1]", 0, "::1", "110" },
		{ "[::1]:1110", 0, "::1", "1110" },
		{ "[2001:db8::1]:pop3", 0, "2001:db8::1", "pop3" },
		{ "::1", 0, "::1", "110" },
		{ "fe80::1:2", 0, "fe80::1:2", "110" },
		{ "[::1", -1, NULL, NULL },
		{ "[]", -1, NULL, NULL },
		{ "[]:110", -1, NULL, NULL },
		{ "[::1]1110", -1, NULL, NULL },
		{ "[::1]:", -1, NULL, NULL },
		{ "127.0.0.1:", -1, NULL, NULL },
	};
	char host[DAEMON_HOST_MAX], port[64], spec[400];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct spec_case *c = &cases[i];
		int rc = daemon_parse_addrspec(c->spec, host, sizeof(host), port, sizeof(port));

		if (c->rc == 0)
			ok(rc == 0 && strcmp(host, c->host) == 0 && strcmp(port, c->port) == 0,
			   "addrspec \"%s\" -> host \"%s\" port %s (got %d \"%s\" %s)",
			   c->spec != NULL ? c->spec : "(none)", c->host, c->port, rc, host, port);
		else
			is_int(rc, -1, "addrspec \"%s\" is refused", c->spec);
	}

	/* A host part at the buffer's limit, and one byte over. */
	memset(spec, 'h', sizeof(host));
	strcpy(spec + sizeof(host), ":110");
	ok(daemon_parse_addrspec(spec, host, sizeof(host), port, sizeof(port)) == -1,
	   "addrspec: a host of %zu bytes does not fit", sizeof(host));
	memset(spec, 'h', sizeof(host) - 1);
	strcpy(spec + sizeof(host) - 1, ":110");
	ok(daemon_parse_addrspec(spec, host, sizeof(host), port, sizeof(port)) == 0 &&
	   strlen(host) == sizeof(host) - 1, "addrspec: a host of %zu bytes fits", sizeof(host) - 1);
	memset(spec, 'h', sizeof(host));
	spec[sizeof(host)] = '\0';
	ok(daemon_parse_addrspec(spec, host, sizeof(host), port, sizeof(port)) == -1,
	   "addrspec: a bare host of %zu bytes does not fit", sizeof(host));
	ok(daemon_parse_addrspec("123456", host, sizeof(host), port, 6) == -1,
	   "addrspec: a port longer than its buffer is refused");
	ok(daemon_parse_addrspec("12345", host, sizeof(host), port, 6) == 0 &&
	   strcmp(port, "12345") == 0, "addrspec: a port that just fits is taken");
	ok(daemon_parse_addrspec("[::1]:123456", host, sizeof(host), port, 6) == -1,
	   "addrspec: a port after [v6] longer than its buffer is refused");
}

/* ---- listeners ---------------------------------------------------------- */

static int bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* A client socket connected to the loopback listener lfd; the accepted
 * end goes to *server_r. */
static int connect_to(int lfd, int family, int *server_r)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int c, s = -1, tries;

	if (getsockname(lfd, (struct sockaddr *)&ss, &len) < 0)
		die("getsockname");
	c = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0)
		die("socket");
	if (family == AF_INET && ss.ss_family == AF_INET6) {
		/* A mapped listener reached from plain IPv4. */
		struct sockaddr_in sin = { .sin_family = AF_INET };

		sin.sin_port = ((struct sockaddr_in6 *)&ss)->sin6_port;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (connect(c, (struct sockaddr *)&sin, sizeof(sin)) < 0)
			die("connect");
	} else if (connect(c, (struct sockaddr *)&ss, len) < 0) {
		die("connect");
	}
	/* The listener is non-blocking: the connection is queued by the time
	 * connect() returns on loopback, but allow the kernel a moment. */
	for (tries = 0; tries < 200 && s < 0; tries++) {
		s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (s < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			die("accept");
		if (s < 0)
			usleep(10000);
	}
	if (s < 0)
		die("accept: nothing queued");
	*server_r = s;
	return c;
}

static bool ipv6_loopback(void)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	bool usable = fd >= 0 && bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0;

	if (fd >= 0)
		close(fd);
	return usable;
}

static void test_listeners(void)
{
	int fds[4], n, port, c, s, one = 0;
	socklen_t len = sizeof(one);
	char want[128];

	n = daemon_open_listeners("127.0.0.1:0", fds, 4);
	is_int(n, 1, "listeners: 127.0.0.1:0 gives one listener");
	if (n != 1)
		return;
	port = bound_port(fds[0]);
	ok(port > 0, "listeners: bound to a port the kernel chose (%d)", port);
	ok((fcntl(fds[0], F_GETFL) & O_NONBLOCK) != 0 && (fcntl(fds[0], F_GETFD) & FD_CLOEXEC) != 0,
	   "listeners: non-blocking and close-on-exec");
	/* The record names the port asked for (0 here), as given. */
	ok(log_has("listening on 127.0.0.1 port 0"), "listeners: the log says where it listens");
	c = connect_to(fds[0], AF_INET, &s);
	ok(c >= 0 && s >= 0, "listeners: a client connects to 127.0.0.1");
	close(c);
	close(s);

	/* The same address and port again: bind fails, nothing is left open. */
	snprintf(want, sizeof(want), "127.0.0.1:%d", port);
	is_int(daemon_open_listeners(want, fds + 1, 3), -1, "listeners: a port in use is an error");
	snprintf(want, sizeof(want), "cannot listen on 127.0.0.1 port %d", port);
	ok(log_has(want), "listeners: the log says \"%s\"", want);
	close(fds[0]);

	is_int(daemon_open_listeners("[127.0.0.1", fds, 4), -2,
	       "listeners: an address that does not parse is a usage error (-2)");
	ok(log_has("cannot understand listen address \"[127.0.0.1\""),
	   "listeners: the log says which address did not parse");
	is_int(daemon_open_listeners("127.0.0.1:no-such-service-here", fds, 4), -1,
	       "listeners: an unknown service name is an error");
	ok(log_has("cannot resolve listen address \"127.0.0.1:no-such-service-here\""),
	   "listeners: the log says which address did not resolve");

	if (!ipv6_loopback()) {
		tap_skip("IPv6 loopback unavailable", "listeners: [::1]:0");
		return;
	}
	n = daemon_open_listeners("[::1]:0", fds, 4);
	is_int(n, 1, "listeners: [::1]:0 gives one listener");
	if (n != 1)
		return;
	getsockopt(fds[0], IPPROTO_IPV6, IPV6_V6ONLY, &one, &len);
	ok(one == 1, "listeners: an IPv6 listener is IPv6-only");
	ok(log_has("listening on ::1 port 0"), "listeners: the log says where it listens");
	c = connect_to(fds[0], AF_INET6, &s);
	ok(c >= 0 && s >= 0, "listeners: a client connects to ::1");
	close(c);
	close(s);
	close(fds[0]);
}

/* ---- the peer ----------------------------------------------------------- */

static void describe(int fd, bool reverse, char *addr, char *host)
{
	daemon_describe_peer(fd, reverse, addr, NI_MAXHOST, host, NI_MAXHOST);
}

/* A listener on ::ffff:127.0.0.1 (IPv6 socket, not IPv6-only), or -1. */
static int mapped_listener(void)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), off = 0;

	if (fd < 0)
		return -1;
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6.sin6_addr);
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0 ||
	    bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) < 0 || listen(fd, 4) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void test_describe_peer(void)
{
	char addr[NI_MAXHOST], host[NI_MAXHOST], small[5];
	int p[2], fds[2], c, s, n;

	if (pipe(p) < 0)
		die("pipe");
	describe(p[0], true, addr, host);
	ok(strcmp(addr, "local") == 0 && strcmp(host, "local") == 0,
	   "peer: a descriptor that is not a socket is \"local\"");
	close(p[0]);
	close(p[1]);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, p) < 0)
		die("socketpair");
	describe(p[0], true, addr, host);
	ok(strcmp(addr, "local") == 0 && strcmp(host, "local") == 0,
	   "peer: an AF_UNIX socket is \"local\"");
	close(p[0]);
	close(p[1]);

	n = daemon_open_listeners("127.0.0.1:0", fds, 2);
	if (n != 1)
		die("listen on 127.0.0.1");
	c = connect_to(fds[0], AF_INET, &s);
	describe(s, false, addr, host);
	ok(strcmp(addr, "127.0.0.1") == 0 && strcmp(host, "127.0.0.1") == 0,
	   "peer: an IPv4 client is its address (got %s %s)", addr, host);
	daemon_describe_peer(s, false, small, sizeof(small), host, sizeof(host));
	is_str(small, "127.", "peer: the address is cut to the buffer, never overflowed");
	describe(s, true, addr, host);
	ok(strcmp(addr, "127.0.0.1") == 0 && host[0] != '\0' &&
	   (strcmp(host, "127.0.0.1") == 0 || daemon_hostname_sane(host)),
	   "peer: with reverse lookup, a confirmed sane name or the address (got %s)", host);
	close(c);
	close(s);
	close(fds[0]);

	s = mapped_listener();
	if (s < 0) {
		tap_skip("cannot listen on ::ffff:127.0.0.1", "peer: an IPv4-mapped client");
	} else {
		int l = s;

		c = connect_to(l, AF_INET, &s);
		describe(s, false, addr, host);
		ok(strcmp(addr, "127.0.0.1") == 0 && strcmp(host, "127.0.0.1") == 0,
		   "peer: an IPv4-mapped client is shown as plain IPv4 (got %s)", addr);
		close(c);
		close(s);
		close(l);
	}

	if (!ipv6_loopback()) {
		tap_skip("IPv6 loopback unavailable", "peer: an IPv6 client");
		return;
	}
	if (daemon_open_listeners("[::1]:0", fds, 2) != 1)
		die("listen on ::1");
	c = connect_to(fds[0], AF_INET6, &s);
	describe(s, false, addr, host);
	ok(strcmp(addr, "::1") == 0 && strcmp(host, "::1") == 0,
	   "peer: an IPv6 client is its address (got %s)", addr);
	close(c);
	close(s);
	close(fds[0]);
}

static void test_hostname_sane(void)
{
	char longname[DAEMON_HOST_MAX + 1];

	ok(daemon_hostname_sane("mail.example.org"), "host name: a plain name is sane");
	ok(daemon_hostname_sane("a-b_c.9"), "host name: letters, digits, '-', '_', '.'");
	ok(!daemon_hostname_sane(""), "host name: empty is not");
	ok(!daemon_hostname_sane("-x.example"), "host name: a leading '-' is not");
	ok(!daemon_hostname_sane(".example"), "host name: a leading '.' is not");
	ok(!daemon_hostname_sane("a b"), "host name: a blank is not");
	ok(!daemon_hostname_sane("evil\nforged=1"), "host name: a newline is not");
	ok(!daemon_hostname_sane("caf\xc3\xa9"), "host name: a non-ASCII byte is not");
	memset(longname, 'a', DAEMON_HOST_MAX - 1);
	longname[DAEMON_HOST_MAX - 1] = '\0';
	ok(daemon_hostname_sane(longname), "host name: %d bytes is sane", DAEMON_HOST_MAX - 1);
	longname[DAEMON_HOST_MAX - 1] = 'a';
	longname[DAEMON_HOST_MAX] = '\0';
	ok(!daemon_hostname_sane(longname), "host name: %d bytes is too long", DAEMON_HOST_MAX);
}

/* ---- counting sessions per address ------------------------------------ */

static struct daemon_peer_key key_of(const char *text)
{
	struct sockaddr_storage ss;
	struct daemon_peer_key k;

	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, text, &sin6->sin6_addr);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		inet_pton(AF_INET, text, &sin->sin_addr);
	}
	if (!daemon_peer_key_from((struct sockaddr *)&ss, &k))
		die("peer key");
	return k;
}

static void test_peer_key(void)
{
	struct daemon_peer_key a = key_of("192.0.2.1"), m = key_of("::ffff:192.0.2.1"),
		b = key_of("192.0.2.2"), v6 = key_of("2001:db8::1");
	struct sockaddr_storage ss;

	ok(memcmp(&a, &m, sizeof(a)) == 0, "peer key: ::ffff:192.0.2.1 is the same client as 192.0.2.1");
	ok(memcmp(&a, &b, sizeof(a)) != 0, "peer key: 192.0.2.2 is another client");
	ok(v6.family == AF_INET6 && memcmp(&a, &v6, sizeof(a)) != 0, "peer key: IPv6 keeps its family");
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	ok(!daemon_peer_key_from((struct sockaddr *)&ss, &a), "peer key: AF_UNIX has none");
}

static void test_kids(void)
{
	struct daemon_kid room[3];
	struct daemon_kids k = { room, 0, 3 };
	struct daemon_peer_key a = key_of("192.0.2.1"), m = key_of("::ffff:192.0.2.1"),
		b = key_of("2001:db8::1");

	daemon_kids_add(&k, 101, &a);
	daemon_kids_add(&k, 102, &b);
	daemon_kids_add(&k, 103, &m);
	is_int(k.n, 3, "sessions: three recorded");
	is_int(daemon_kids_count_host(&k, &a), 2, "sessions: two from 192.0.2.1 (one IPv4-mapped)");
	is_int(daemon_kids_count_host(&k, &b), 1, "sessions: one from 2001:db8::1");
	daemon_kids_add(&k, 104, &b);
	is_int(k.n, 3, "sessions: a full table stays as it is");
	daemon_kids_remove(&k, 101);
	is_int(daemon_kids_count_host(&k, &a), 1, "sessions: an ended session no longer counts");
	daemon_kids_remove(&k, 999);
	is_int(k.n, 2, "sessions: an unknown pid (a monitor) changes nothing");
	daemon_kids_remove(&k, 103);
	daemon_kids_remove(&k, 102);
	ok(k.n == 0 && daemon_kids_count_host(&k, &a) == 0, "sessions: all gone");
}

/* ---- rate limit and re-sweep schedule --------------------------------- */

static void test_ratelimit(void)
{
	struct daemon_ratelimit r = { 0, 0 };
	unsigned long supp = 99;

	ok(daemon_ratelimit_ok(&r, 1000, &supp) && supp == 0, "rate limit: the first record is logged");
	ok(!daemon_ratelimit_ok(&r, 1000, &supp), "rate limit: a second one at once is not");
	ok(!daemon_ratelimit_ok(&r, 1000 + DAEMON_LOG_INTERVAL - 1, &supp),
	   "rate limit: nor one at interval-1");
	ok(daemon_ratelimit_ok(&r, 1000 + DAEMON_LOG_INTERVAL, &supp),
	   "rate limit: at the interval it is logged");
	is_int(supp, 2, "rate limit: counting the 2 suppressed");
	ok(daemon_ratelimit_ok(&r, 1000 + 3 * DAEMON_LOG_INTERVAL, &supp) && supp == 0,
	   "rate limit: the count starts again");
}

static void test_resweep(void)
{
	struct daemon_resweep r = { false, 0, DAEMON_RESWEEP_FIRST_MS };
	long long last;
	int i;

	is_int(daemon_resweep_timeout(&r, -1, 0), -1, "re-sweep: nothing due leaves no timeout");
	is_int(daemon_resweep_timeout(&r, 500, 0), 500, "re-sweep: nothing due keeps a timeout");
	daemon_resweep_schedule(&r, 1, 1000);
	ok(r.due && r.at_ms == 1000 + DAEMON_RESWEEP_FIRST_MS && r.interval_ms == 2 * DAEMON_RESWEEP_FIRST_MS,
	   "re-sweep: an entry waiting: next sweep after %d ms, then twice as long", DAEMON_RESWEEP_FIRST_MS);
	is_int(daemon_resweep_timeout(&r, -1, 1040), 60, "re-sweep: poll wakes for it");
	is_int(daemon_resweep_timeout(&r, 20, 1040), 20, "re-sweep: a shorter timeout stays");
	is_int(daemon_resweep_timeout(&r, -1, 5000), 0, "re-sweep: overdue means now");
	daemon_resweep_schedule(&r, 1, 1100);
	ok(r.at_ms == 1100 + 2 * DAEMON_RESWEEP_FIRST_MS, "re-sweep: the pause doubles");
	for (i = 0; i < 30; i++)
		daemon_resweep_schedule(&r, 1, 0);
	last = r.interval_ms;
	daemon_resweep_schedule(&r, 1, 0);
	ok(r.interval_ms == last && last >= DAEMON_RESWEEP_MAX_MS,
	   "re-sweep: the pause stops growing (%lld ms)", last);
	daemon_resweep_schedule(&r, 0, 0);
	ok(!r.due && r.interval_ms == DAEMON_RESWEEP_FIRST_MS,
	   "re-sweep: nothing waiting: not due, next time from the start");
}

/* ---- pid file ------------------------------------------------------------ */

static void test_pid_file(void)
{
	char path[700], link[700], err[512], buf[64], want[32];
	struct stat st;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/popper.pid", root);
	is_int(daemon_write_pid_file(path, err, sizeof(err)), 0, "pid file: written");
	fd = open(path, O_RDONLY);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	is_str(buf, want, "pid file: our pid and a newline");
	if (stat(path, &st) < 0)
		die(path);
	is_int(st.st_mode & 07777, 0644, "pid file: mode 0644 whatever the umask");

	snprintf(path, sizeof(path), "%s/missing/popper.pid", root);
	is_int(daemon_write_pid_file(path, err, sizeof(err)), -1, "pid file: a missing directory fails");
	ok(strncmp(err, "cannot write pid file ", 22) == 0, "pid file: the error names it (%s)", err);

	snprintf(path, sizeof(path), "%s/target", root);
	snprintf(link, sizeof(link), "%s/link.pid", root);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || close(fd) < 0 || symlink(path, link) < 0)
		die("symlink");
	is_int(daemon_write_pid_file(link, err, sizeof(err)), -1, "pid file: a symlink is refused");
	ok(stat(path, &st) == 0 && st.st_size == 0, "pid file: the symlink's target is untouched");
	unlink(link);
	unlink(path);
	snprintf(path, sizeof(path), "%s/popper.pid", root);
	unlink(path);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	log_open("test_daemon", LOG_MAIL, LOG_TO_STDERR);
	umask(077);
	snprintf(root, sizeof(root), "%s/test_daemon.XXXXXX", tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(root) == NULL)
		die("mkdtemp");
	/* The log records go to a file the tests read, not into the TAP stream. */
	snprintf(logp, sizeof(logp), "%s/log", root);
	testlog_capture(logp);

	test_addrspec();
	test_listeners();
	test_describe_peer();
	test_hostname_sane();
	test_peer_key();
	test_kids();
	test_ratelimit();
	test_resweep();
	test_pid_file();

	unlink(logp);
	rmdir(root);
	return tap_done();
}
