/*
 * daemon: standalone mode (popper [address][:port] ...).
 *
 * This file runs as root.  The listener is the only long-lived root
 * process, so it stays small: it binds, accepts, counts, forks, reaps and
 * never reads a byte from a client (robustness §5.6).  Each connection gets
 * a child that runs session_run() exactly as inetd mode does.
 *
 *   - Signals only write their number into a self-pipe; the poll loop does
 *     the work, so reaping and counting never race with accept.
 *   - Caps: max-sessions in all, max-sessions-per-host per client address.
 *     Over a cap the client gets one -ERR line and is closed (R1, R2).
 *   - accept() running out of descriptors (EMFILE/ENFILE) pauses accepting
 *     for a moment and logs at most once per interval instead of spinning
 *     at 100 % CPU on a listener that stays readable (R5).
 *   - SIGTERM/SIGINT: stop accepting, close the listeners, SIGTERM the
 *     children (the engine ends a session without update; one already in
 *     its update blocks signals and finishes), wait for all, exit 0.
 *   - SIGHUP re-opens syslog and the trace file.
 *   - The lock registry (server/lockreg.c) is swept at start and whenever
 *     a child dies by a signal: a monitor killed together with its session
 *     leaves a dot-lock that nobody else would remove before its age makes
 *     it stale.  While an entry waits for a session that still runs (its
 *     monitor was killed; or the session's SIGKILL has not landed yet when
 *     the monitor is reaped), the sweep is repeated after 0.1, 0.2, 0.4 ...
 *     s, at most every 64 s.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/sigwake.h"
#include "lib/safeopen.h"
#include "server/daemon.h"
#include "server/lockreg.h"
#include "server/session.h"

#define DAEMON_DEFAULT_PORT "110"     /* RFC 1939 */
#define DAEMON_MAX_LISTENERS 16       /* addresses one name may bind */
#define DAEMON_BACKLOG 128
#define DAEMON_ACCEPT_BURST 64        /* accepts per listener per wake-up */
#define DAEMON_BACKOFF_MS 500         /* pause after EMFILE/ENFILE */
#define DAEMON_LOG_INTERVAL 10        /* seconds between rate-limited records */
#define DAEMON_HOST_MAX 256
#define DAEMON_RESWEEP_FIRST_MS 100   /* first re-sweep after a kill */
#define DAEMON_RESWEEP_MAX_MS 64000   /* longest pause between registry sweeps */

static const char too_many[] = "-ERR [SYS/TEMP] Too many connections; try again later.\r\n";

/* ---- peer description (shared with inetd mode) ------------------------ */

/* An address as family + bytes, IPv4-mapped IPv6 folded into IPv4, so the
 * per-host count treats ::ffff:192.0.2.1 and 192.0.2.1 as one client. */
struct peer_key {
	int family;
	unsigned char bytes[16];
};

static bool peer_key_from(const struct sockaddr *sa, struct peer_key *k)
{
	memset(k, 0, sizeof(*k));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;

		k->family = AF_INET;
		memcpy(k->bytes, &sin->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			k->family = AF_INET;
			memcpy(k->bytes, &sin6->sin6_addr.s6_addr[12], 4);
		} else {
			k->family = AF_INET6;
			memcpy(k->bytes, &sin6->sin6_addr, 16);
		}
		return true;
	}
	return false;
}

static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n;

	if (size == 0)
		return;
	n = strnlen(src, size - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* A DNS answer is untrusted text: accept only what a host name can be. */
static bool hostname_sane(const char *h)
{
	size_t i;

	if (h[0] == '\0' || h[0] == '-' || h[0] == '.')
		return false;
	for (i = 0; h[i] != '\0'; i++) {
		char c = h[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'))
			return false;
	}
	return i < DAEMON_HOST_MAX;
}

void daemon_describe_peer(int fd, bool reverse_lookup, char *addr, size_t addrsize,
			  char *host, size_t hostsize)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct sockaddr_in v4;
	struct sockaddr *sa = (struct sockaddr *)&ss;
	struct peer_key key, other;
	struct addrinfo hints, *res = NULL, *ai;
	char name[NI_MAXHOST];
	bool confirmed = false;

	copy_str(addr, addrsize, "local");
	copy_str(host, hostsize, "local");
	memset(&ss, 0, sizeof(ss));
	if (getpeername(fd, sa, &len) < 0 || !peer_key_from(sa, &key))
		return;   /* not a socket, or AF_UNIX: a local client */
	if (key.family == AF_INET && sa->sa_family == AF_INET6) {
		/* Show a mapped address as the IPv4 address it is. */
		memset(&v4, 0, sizeof(v4));
		v4.sin_family = AF_INET;
		memcpy(&v4.sin_addr, key.bytes, 4);
		sa = (struct sockaddr *)&v4;
		len = sizeof(v4);
	}
	if (getnameinfo(sa, len, name, sizeof(name), NULL, 0, NI_NUMERICHOST) != 0)
		copy_str(name, sizeof(name), "unknown");
	copy_str(addr, addrsize, name);
	copy_str(host, hostsize, name);
	if (!reverse_lookup)
		return;

	/* Reverse, then forward-confirm: a PTR record is whatever the owner
	 * of the address block wants it to be (Berkeley popper 1.6). */
	if (getnameinfo(sa, len, name, sizeof(name), NULL, 0, NI_NAMEREQD) != 0)
		return;
	if (!hostname_sane(name)) {
		log_warning("reverse lookup of %s gave an invalid host name; using the address", addr);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = key.family;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(name, NULL, &hints, &res) == 0) {
		for (ai = res; ai != NULL; ai = ai->ai_next) {
			if (peer_key_from(ai->ai_addr, &other) &&
			    memcmp(&key, &other, sizeof(key)) == 0) {
				confirmed = true;
				break;
			}
		}
		freeaddrinfo(res);
	}
	if (confirmed)
		copy_str(host, hostsize, name);
	else
		log_warning("reverse lookup of %s gave %s, which does not resolve back; using the address",
			    addr, name);
}

/* ---- the listener ----------------------------------------------------- */

struct child {
	pid_t pid;
	struct peer_key key;
};

struct ratelimit {
	time_t last;
	unsigned long suppressed;
};


static time_t now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* True when a record of this kind may be logged now; *suppressed_r gets
 * how many were dropped since the last one. */
static bool ratelimit_ok(struct ratelimit *r, unsigned long *suppressed_r)
{
	time_t now = now_mono();

	if (r->last != 0 && now - r->last < DAEMON_LOG_INTERVAL) {
		r->suppressed++;
		return false;
	}
	r->last = now;
	*suppressed_r = r->suppressed;
	r->suppressed = 0;
	return true;
}

/* Splits "[addr][:port]", "[v6addr][:port]", "port" or a bare IPv6 address
 * into host ("" = all addresses) and port.  Returns 0 or -1. */
static int parse_addrspec(const char *spec, char *host, size_t hostsize,
			  char *port, size_t portsize)
{
	const char *colon, *p;
	size_t hl;
	bool digits = true;

	copy_str(port, portsize, DAEMON_DEFAULT_PORT);
	host[0] = '\0';
	if (spec == NULL || spec[0] == '\0')
		return 0;
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');

		if (close == NULL)
			return -1;
		hl = (size_t)(close - spec - 1);
		if (hl == 0 || hl >= hostsize)
			return -1;
		memcpy(host, spec + 1, hl);
		host[hl] = '\0';
		if (close[1] == '\0')
			return 0;
		if (close[1] != ':' || close[2] == '\0' || strlen(close + 2) >= portsize)
			return -1;
		copy_str(port, portsize, close + 2);
		return 0;
	}
	colon = strchr(spec, ':');
	if (colon != NULL && strchr(colon + 1, ':') != NULL) {
		/* Several colons: a bare IPv6 address, default port. */
		if (strlen(spec) >= hostsize)
			return -1;
		copy_str(host, hostsize, spec);
		return 0;
	}
	if (colon == NULL) {
		for (p = spec; *p != '\0'; p++)
			digits = digits && *p >= '0' && *p <= '9';
		if (digits) {
			if (strlen(spec) >= portsize)
				return -1;
			copy_str(port, portsize, spec);
		} else {
			if (strlen(spec) >= hostsize)
				return -1;
			copy_str(host, hostsize, spec);
		}
		return 0;
	}
	hl = (size_t)(colon - spec);
	if (hl >= hostsize || colon[1] == '\0' || strlen(colon + 1) >= portsize)
		return -1;
	memcpy(host, spec, hl);
	host[hl] = '\0';
	copy_str(port, portsize, colon + 1);
	return 0;
}

/* Binds and listens on every address of addrspec.  Returns the number of
 * listeners (>= 1), or after logging why -2 (addrspec does not parse: a
 * command-line error) or -1 (cannot listen). */
static int open_listeners(const char *addrspec, int *fds, size_t max)
{
	char host[DAEMON_HOST_MAX], port[64], shown[NI_MAXHOST], sport[NI_MAXSERV];
	struct addrinfo hints, *res, *ai;
	size_t n = 0;
	int rc, one = 1;

	if (parse_addrspec(addrspec, host, sizeof(host), port, sizeof(port)) < 0) {
		log_error("cannot understand listen address \"%s\" (use [address][:port], "
			  "[v6address]:port or port)", addrspec);
		return -2;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	rc = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &res);
	if (rc != 0) {
		log_error("cannot resolve listen address \"%s\": %s", addrspec, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && n < max; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
				ai->ai_protocol);

		if (fd < 0) {
			if (errno == EAFNOSUPPORT && host[0] == '\0')
				continue;   /* no IPv6 on this host: IPv4 alone will do */
			log_error("socket: %s", strerror(errno));
			goto fail;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6) {
			/* One socket per family, so 0.0.0.0 and :: can both
			 * be bound whatever net.ipv6.bindv6only says. */
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		}
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, shown, sizeof(shown), sport,
				sizeof(sport), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
			copy_str(shown, sizeof(shown), "?");
			copy_str(sport, sizeof(sport), port);
		}
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, DAEMON_BACKLOG) < 0) {
			log_error("cannot listen on %s port %s: %s", shown, sport, strerror(errno));
			close(fd);
			goto fail;
		}
		log_notice("listening on %s port %s", shown, sport);
		fds[n++] = fd;
	}
	freeaddrinfo(res);
	if (n == 0) {
		log_error("no address to listen on for \"%s\"", addrspec);
		return -1;
	}
	return (int)n;

fail:
	freeaddrinfo(res);
	while (n > 0)
		close(fds[--n]);
	return -1;
}

/* Writes the pid file (after any detach, so it names the real daemon). */
static int write_pid_file(const char *path, char *err, size_t errsize)
{
	char buf[32];
	const char *why = NULL;
	int fd, n;

	fd = safe_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644, NULL, NULL, &why);
	if (fd < 0) {
		snprintf(err, errsize, "cannot write pid file %s: %s (%s)", path,
			 why != NULL ? why : "cannot open", strerror(errno));
		return -1;
	}
	fchmod(fd, 0644);   /* readable by monitoring tools whatever the umask */
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (safe_write_all(fd, buf, (size_t)n) < 0 || close(fd) < 0) {
		snprintf(err, errsize, "cannot write pid file %s: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

/* Double fork, setsid, chdir /, stdio on /dev/null, pid file.  The
 * original process waits for the daemon to report the pid file and exits 0
 * (or 1, printing the error it was sent).  Returns 0 in the daemon. */
static int detach(const struct settings *s)
{
	char msg[512];
	int pfd[2], devnull;
	ssize_t r;
	size_t got = 0;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		log_error("pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		close(pfd[1]);
		for (;;) {
			r = read(pfd[0], msg + got, sizeof(msg) - 1 - got);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0 || (got += (size_t)r) >= sizeof(msg) - 1)
				break;
		}
		msg[got] = '\0';
		waitpid(pid, NULL, 0);
		if (got > 0 && msg[0] == 'K')
			_exit(0);
		if (got > 0)
			log_error("%s", msg);
		else
			log_error("the daemon did not start");
		_exit(1);
	}
	close(pfd[0]);
	setsid();
	pid = fork();
	if (pid < 0) {
		snprintf(msg, sizeof(msg), "fork: %s", strerror(errno));
		safe_write_all(pfd[1], msg, strlen(msg));
		_exit(1);
	}
	if (pid > 0)
		_exit(0);   /* the session leader goes; the daemon can't get a tty */
	if (chdir("/") < 0) {
		/* "/" always exists */
	}
	if (s->pid_file != NULL && write_pid_file(s->pid_file, msg, sizeof(msg)) < 0) {
		safe_write_all(pfd[1], msg, strlen(msg));
		_exit(1);
	}
	devnull = open("/dev/null", O_RDWR);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		if (devnull > 2)
			close(devnull);
	}
	safe_write_all(pfd[1], "K", 1);
	close(pfd[1]);
	return 0;
}

/* Reaps every child that ended.  Returns true when one of them was killed
 * by a signal (a monitor among them may have left a dot-lock behind). */
static bool reap(struct child *kids, unsigned *nkids)
{
	bool signalled = false;
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		unsigned i;

		for (i = 0; i < *nkids; i++) {
			if (kids[i].pid == pid) {
				kids[i] = kids[--*nkids];
				break;
			}
		}
		if (WIFSIGNALED(status)) {
			log_warning("session process %ld ended by signal %d", (long)pid,
				    WTERMSIG(status));
			signalled = true;
		}
	}
	return signalled;
}

/* When the lock registry is swept again (see the header comment). */
struct resweep {
	bool due;
	long long at_ms;        /* monotonic milliseconds */
	long long interval_ms;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sweeps the registry; schedules the next sweep while an entry waits. */
static void sweep_locks(const struct settings *s, struct resweep *r)
{
	struct lockreg_tally t;

	lockreg_sweep_state_dir(s->state_dir, &t);
	if (t.waiting == 0) {
		r->due = false;
		r->interval_ms = DAEMON_RESWEEP_FIRST_MS;
		return;
	}
	r->due = true;
	r->at_ms = now_ms() + r->interval_ms;
	if (r->interval_ms < DAEMON_RESWEEP_MAX_MS)
		r->interval_ms *= 2;
}

/* A child killed by a signal: sweep now, and soon again if needed. */
static void sweep_after_kill(const struct settings *s, struct resweep *r)
{
	r->interval_ms = DAEMON_RESWEEP_FIRST_MS;
	sweep_locks(s, r);
}

/* The poll timeout (ms, -1 = none) shortened to the next sweep. */
static int sweep_timeout(const struct resweep *r, int timeout)
{
	long long left;

	if (!r->due)
		return timeout;
	left = r->at_ms - now_ms();
	if (left < 0)
		left = 0;
	return timeout < 0 || left < timeout ? (int)left : timeout;
}

/* Refuses a connection politely: one line, never blocking, then close. */
static void refuse(int fd)
{
	if (send(fd, too_many, sizeof(too_many) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		/* the client is gone or not reading; nothing to do */
	}
	close(fd);
}

int daemon_serve_connection(const struct settings *s, int fd_in, int fd_out)
{
	struct session_params p;
	char addr[NI_MAXHOST], host[NI_MAXHOST], local[DAEMON_HOST_MAX];
	int one = 1;

	/* Replies are small and come in request/response turns; harmless
	 * when the descriptor is not TCP (the call just fails). */
	setsockopt(fd_in, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	daemon_describe_peer(fd_in, s->reverse_lookup, addr, sizeof(addr), host, sizeof(host));
	if (gethostname(local, sizeof(local)) < 0 || local[0] == '\0')
		copy_str(local, sizeof(local), "localhost");
	local[sizeof(local) - 1] = '\0';

	memset(&p, 0, sizeof(p));
	p.set = s;
	p.fd_in = fd_in;
	p.fd_out = fd_out;
	p.client_addr = addr;
	p.client_host = host;
	p.local_host = local;
	return session_run(&p);
}

/* The child's side of a connection.  Never returns. */
static void serve_child(const struct settings *s, int fd, const int *listeners,
			size_t nlisteners, const sigset_t *oldmask)
{
	struct sigaction sa;
	size_t i;

	for (i = 0; i < nlisteners; i++)
		close(listeners[i]);
	sigwake_close();
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* A terminal's ^C or hang-up reaches the whole process group; the
	 * listener turns it into an orderly SIGTERM for each session. */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sigprocmask(SIG_SETMASK, oldmask, NULL);

	exit(daemon_serve_connection(s, fd, fd));
}

int daemon_run(const struct settings *s, const char *addrspec)
{
	int listeners[DAEMON_MAX_LISTENERS];
	struct pollfd pfds[DAEMON_MAX_LISTENERS + 1];
	struct ratelimit rl_full = { 0, 0 }, rl_host = { 0, 0 }, rl_fd = { 0, 0 },
		rl_fork = { 0, 0 };
	struct child *kids;
	struct sigaction sa;
	sigset_t block, oldmask;
	struct timespec paused_until = { 0, 0 };
	struct resweep resweep = { false, 0, DAEMON_RESWEEP_FIRST_MS };
	unsigned nkids = 0;
	unsigned long supp;
	bool stopping = false;
	size_t nl, i;
	int n;

	kids = calloc(s->max_sessions > 0 ? s->max_sessions : 1, sizeof(*kids));
	if (kids == NULL) {
		log_error("out of memory");
		return 1;
	}
	n = open_listeners(addrspec, listeners, DAEMON_MAX_LISTENERS);
	if (n < 0) {
		free(kids);
		return n == -2 ? 2 : 1;
	}
	nl = (size_t)n;

	if (s->detach) {
		if (detach(s) < 0)
			return 1;
	} else if (s->pid_file != NULL) {
		char err[512];

		if (write_pid_file(s->pid_file, err, sizeof(err)) < 0) {
			log_error("%s", err);
			return 1;
		}
	}
	/* Start-up went well (errors so far reached stderr): from here on
	 * records go to syslog, where the sessions' records go too. */
	log_open("popper", s->log_facility, LOG_TO_SYSLOG);
	log_notice("popper %s standalone daemon started (pid %ld)", PACKAGE_VERSION, (long)getpid());
	/* Locks of sessions killed while no daemon ran (or with the last). */
	sweep_locks(s, &resweep);

	if (sigwake_open() < 0) {
		log_error("pipe: %s", strerror(errno));
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = sigwake_handler;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = 0;
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);

	while (!stopping) {
		int timeout = -1;
		size_t np = 1;
		struct timespec now;

		pfds[0].fd = sigwake_fd();
		pfds[0].events = POLLIN;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec < paused_until.tv_sec ||
		    (now.tv_sec == paused_until.tv_sec && now.tv_nsec < paused_until.tv_nsec)) {
			long ms = (paused_until.tv_sec - now.tv_sec) * 1000 +
				  (paused_until.tv_nsec - now.tv_nsec) / 1000000;

			timeout = ms > 0 ? (int)ms : 1;
		} else {
			for (i = 0; i < nl; i++) {
				pfds[np].fd = listeners[i];
				pfds[np].events = POLLIN;
				np++;
			}
		}
		if (poll(pfds, np, sweep_timeout(&resweep, timeout)) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			break;
		}
		if (resweep.due && now_ms() >= resweep.at_ms)
			sweep_locks(s, &resweep);

		if ((pfds[0].revents & POLLIN) != 0) {
			unsigned char sigs[64];
			size_t r = sigwake_read(sigs, sizeof(sigs)), k;

			for (k = 0; k < r; k++) {
				if (sigs[k] == SIGTERM || sigs[k] == SIGINT)
					stopping = true;
				else if (sigs[k] == SIGHUP)
					log_reopen();
			}
			if (reap(kids, &nkids))
				sweep_after_kill(s, &resweep);
		}
		if (stopping)
			break;

		for (i = 1; i < np; i++) {
			unsigned burst;

			if ((pfds[i].revents & POLLIN) == 0)
				continue;
			for (burst = 0; burst < DAEMON_ACCEPT_BURST; burst++) {
				struct sockaddr_storage ss;
				socklen_t len = sizeof(ss);
				struct peer_key key;
				unsigned same = 0, k;
				pid_t pid;
				int fd;

				fd = accept4(pfds[i].fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
				if (fd < 0) {
					if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
						continue;
					if (errno == EAGAIN || errno == EWOULDBLOCK)
						break;
					if (errno == EMFILE || errno == ENFILE ||
					    errno == ENOBUFS || errno == ENOMEM) {
						if (ratelimit_ok(&rl_fd, &supp))
							log_error("accept: %s; pausing (%lu similar records suppressed)",
								  strerror(errno), supp);
						clock_gettime(CLOCK_MONOTONIC, &paused_until);
						paused_until.tv_nsec += (long)DAEMON_BACKOFF_MS * 1000000L;
						paused_until.tv_sec += paused_until.tv_nsec / 1000000000L;
						paused_until.tv_nsec %= 1000000000L;
						break;
					}
					log_error("accept: %s", strerror(errno));
					break;
				}
				if (!peer_key_from((struct sockaddr *)&ss, &key))
					memset(&key, 0, sizeof(key));
				/* Reap before counting, so a session that just
				 * ended does not hold a place. */
				if (reap(kids, &nkids))
					sweep_after_kill(s, &resweep);
				for (k = 0; k < nkids; k++)
					same += memcmp(&kids[k].key, &key, sizeof(key)) == 0;
				if (nkids >= s->max_sessions) {
					if (ratelimit_ok(&rl_full, &supp))
						log_warning("connection refused: max-sessions (%u) reached "
							    "(%lu similar records suppressed)",
							    s->max_sessions, supp);
					refuse(fd);
					continue;
				}
				if (same >= s->max_sessions_per_host) {
					char shown[NI_MAXHOST];

					if (getnameinfo((struct sockaddr *)&ss, len, shown, sizeof(shown),
							NULL, 0, NI_NUMERICHOST) != 0)
						copy_str(shown, sizeof(shown), "?");
					if (ratelimit_ok(&rl_host, &supp))
						log_warning("connection refused: client=%s max-sessions-per-host "
							    "(%u) reached (%lu similar records suppressed)",
							    shown, s->max_sessions_per_host, supp);
					refuse(fd);
					continue;
				}

				sigprocmask(SIG_BLOCK, &block, &oldmask);
				pid = fork();
				if (pid == 0)
					serve_child(s, fd, listeners, nl, &oldmask);
				sigprocmask(SIG_SETMASK, &oldmask, NULL);
				if (pid < 0) {
					if (ratelimit_ok(&rl_fork, &supp))
						log_error("fork: %s (%lu similar records suppressed)",
							  strerror(errno), supp);
					refuse(fd);
					continue;
				}
				kids[nkids].pid = pid;
				kids[nkids].key = key;
				nkids++;
				close(fd);
			}
		}
	}

	/* Orderly stop. */
	for (i = 0; i < nl; i++)
		close(listeners[i]);
	log_notice("stopping: ending %u session(s)", nkids);
	for (i = 0; i < nkids; i++)
		kill(kids[i].pid, SIGTERM);
	for (;;) {
		pid_t pid = waitpid(-1, NULL, 0);

		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			break;   /* ECHILD: all gone */
	}
	if (s->pid_file != NULL)
		unlink(s->pid_file);
	free(kids);
	return 0;
}
