/*
 * daemon: standalone mode (popper [address][:port] ...).
 *
 * This file runs as root, in the listener process and, after each fork, in
 * the connection's child until it calls session_run().  The listener is the
 * only long-lived root process, so it stays small: it binds, accepts,
 * counts, forks, reaps and never reads a byte from a client (robustness
 * §5.6).  Each connection gets a child that runs session_run() exactly as
 * inetd mode does.  Its place: main.c calls it; it calls down into the
 * session engine (session_run) and the lock registry, never up.
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
 *   - The table of failed logins per address (server/penalty.c) is made
 *     here, before the first fork, so that every session shares it; the
 *     listener itself never looks into it.
 *   - The lock registry (server/lockreg.c) is swept at start and whenever
 *     a child dies by a signal: a monitor killed together with its session
 *     leaves a dot-lock that nobody else would remove before its age makes
 *     it stale.  While an entry waits for a session that still runs (its
 *     monitor was killed; or the session's SIGKILL has not landed yet when
 *     the monitor is reaped), the sweep is repeated after 0.1, 0.2, 0.4 ...
 *     s, at most every 64 s.
 *
 * Reading order: the peer's description (also used by inetd mode); the
 * small pieces with logic of their own, tested alone through
 * server/daemon_parts.h; the listening sockets; start-up (pid file,
 * detach); the listener: daemon_run -> listener_start, listener_signals, a
 * loop of listener_turn (poll_set, handle_signals, accept_burst -> admit ->
 * over_cap or serve_child), listener_stop.
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
#include "server/daemon_parts.h"
#include "server/lockreg.h"
#include "server/penalty.h"
#include "server/session.h"

#define DAEMON_MAX_LISTENERS 16       /* addresses one name may bind */
#define DAEMON_BACKLOG 128
#define DAEMON_ACCEPT_BURST 64        /* accepts per listener per wake-up */
#define DAEMON_BACKOFF_MS 500         /* pause after EMFILE/ENFILE */

static const char too_many[] = "-ERR [SYS/TEMP] Too many connections; try again later.\r\n";

/* ---- peer description (shared with inetd mode) ------------------------ */

bool daemon_peer_key_from(const struct sockaddr *sa, struct daemon_peer_key *k)
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

bool daemon_hostname_sane(const char *h)
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

/* Whether the host name `name` resolves back to the address key: a PTR
 * record is whatever the owner of the address block wants it to be
 * (Berkeley popper 1.6), the forward lookup is the name owner's word. */
static bool name_confirms(const char *name, const struct daemon_peer_key *key)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct daemon_peer_key other;
	bool confirmed = false;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = key->family;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(name, NULL, &hints, &res) != 0)
		return false;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (daemon_peer_key_from(ai->ai_addr, &other) &&
		    memcmp(key, &other, sizeof(*key)) == 0) {
			confirmed = true;
			break;
		}
	}
	freeaddrinfo(res);
	return confirmed;
}

void daemon_describe_peer(int fd, bool reverse_lookup, char *addr, size_t addrsize,
			  char *host, size_t hostsize)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct sockaddr_in v4;
	struct sockaddr *sa = (struct sockaddr *)&ss;
	struct daemon_peer_key key;
	char name[NI_MAXHOST];

	copy_str(addr, addrsize, "local");
	copy_str(host, hostsize, "local");
	memset(&ss, 0, sizeof(ss));
	if (getpeername(fd, sa, &len) < 0 || !daemon_peer_key_from(sa, &key))
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

	/* Reverse, then forward-confirm. */
	if (getnameinfo(sa, len, name, sizeof(name), NULL, 0, NI_NAMEREQD) != 0)
		return;
	if (!daemon_hostname_sane(name)) {
		log_warning("reverse lookup of %s gave an invalid host name; using the address", addr);
		return;
	}
	if (name_confirms(name, &key))
		copy_str(host, hostsize, name);
	else
		log_warning("reverse lookup of %s gave %s, which does not resolve back; using the address",
			    addr, name);
}

/* ---- small pieces of the listener ------------------------------------- */

static time_t now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool daemon_ratelimit_ok(struct daemon_ratelimit *r, time_t now, unsigned long *suppressed_r)
{
	if (r->last != 0 && now - r->last < DAEMON_LOG_INTERVAL) {
		r->suppressed++;
		return false;
	}
	r->last = now;
	*suppressed_r = r->suppressed;
	r->suppressed = 0;
	return true;
}

void daemon_kids_add(struct daemon_kids *k, pid_t pid, const struct daemon_peer_key *key)
{
	if (k->n >= k->cap)
		return;
	k->v[k->n].pid = pid;
	k->v[k->n].key = *key;
	k->n++;
}

void daemon_kids_remove(struct daemon_kids *k, pid_t pid)
{
	unsigned i;

	for (i = 0; i < k->n; i++) {
		if (k->v[i].pid == pid) {
			k->v[i] = k->v[--k->n];
			return;
		}
	}
}

unsigned daemon_kids_count_host(const struct daemon_kids *k, const struct daemon_peer_key *key)
{
	unsigned i, same = 0;

	for (i = 0; i < k->n; i++)
		same += memcmp(&k->v[i].key, key, sizeof(*key)) == 0;
	return same;
}

void daemon_resweep_schedule(struct daemon_resweep *r, unsigned waiting, long long now)
{
	if (waiting == 0) {
		r->due = false;
		r->interval_ms = DAEMON_RESWEEP_FIRST_MS;
		return;
	}
	r->due = true;
	r->at_ms = now + r->interval_ms;
	if (r->interval_ms < DAEMON_RESWEEP_MAX_MS)
		r->interval_ms *= 2;
}

int daemon_resweep_timeout(const struct daemon_resweep *r, int timeout, long long now)
{
	long long left;

	if (!r->due)
		return timeout;
	left = r->at_ms - now;
	if (left < 0)
		left = 0;
	return timeout < 0 || left < timeout ? (int)left : timeout;
}

/* ---- the listening sockets -------------------------------------------- */

/* Whether spec is all digits (a bare port). */
static bool all_digits(const char *spec)
{
	const char *p;

	for (p = spec; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return false;
	}
	return true;
}

/* "[addr]" or "[addr]:port", spec[0] == '['. */
static int parse_bracketed(const char *spec, char *host, size_t hostsize,
			   char *port, size_t portsize)
{
	const char *close = strchr(spec, ']');
	size_t hl;

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

int daemon_parse_addrspec(const char *spec, char *host, size_t hostsize,
			  char *port, size_t portsize)
{
	const char *colon;
	size_t hl;

	copy_str(port, portsize, DAEMON_DEFAULT_PORT);
	host[0] = '\0';
	if (spec == NULL || spec[0] == '\0')
		return 0;
	if (spec[0] == '[')
		return parse_bracketed(spec, host, hostsize, port, portsize);
	colon = strchr(spec, ':');
	if (colon != NULL && strchr(colon + 1, ':') != NULL) {
		/* Several colons: a bare IPv6 address, default port. */
		if (strlen(spec) >= hostsize)
			return -1;
		copy_str(host, hostsize, spec);
		return 0;
	}
	if (colon == NULL) {
		bool digits = all_digits(spec);

		if (strlen(spec) >= (digits ? portsize : hostsize))
			return -1;
		if (digits)
			copy_str(port, portsize, spec);
		else
			copy_str(host, hostsize, spec);
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

/* One listening socket on ai.  Returns the descriptor; -2 to skip this
 * address (no IPv6 on this host while listening on all addresses); -1
 * after logging why. */
static int listen_on(const struct addrinfo *ai, const char *host, const char *port)
{
	char shown[NI_MAXHOST], sport[NI_MAXSERV];
	int one = 1;
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			ai->ai_protocol);

	if (fd < 0) {
		if (errno == EAFNOSUPPORT && host[0] == '\0')
			return -2;   /* no IPv6 on this host: IPv4 alone will do */
		log_error("socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6) {
		/* One socket per family, so 0.0.0.0 and :: can both be bound
		 * whatever net.ipv6.bindv6only says. */
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
		return -1;
	}
	log_notice("listening on %s port %s", shown, sport);
	return fd;
}

int daemon_open_listeners(const char *addrspec, int *fds, size_t max)
{
	char host[DAEMON_HOST_MAX], port[64];
	struct addrinfo hints, *res, *ai;
	size_t n = 0;
	int rc;

	if (daemon_parse_addrspec(addrspec, host, sizeof(host), port, sizeof(port)) < 0) {
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
		int fd = listen_on(ai, host, port);

		if (fd == -2)
			continue;
		if (fd < 0) {
			freeaddrinfo(res);
			while (n > 0)
				close(fds[--n]);
			return -1;
		}
		fds[n++] = fd;
	}
	freeaddrinfo(res);
	if (n == 0) {
		log_error("no address to listen on for \"%s\"", addrspec);
		return -1;
	}
	return (int)n;
}

/* ---- start-up: pid file, detaching ------------------------------------ */

/* Written after any detach, so it names the real daemon. */
int daemon_write_pid_file(const char *path, char *err, size_t errsize)
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

/* The original process of a detach: waits for the daemon's word on the
 * pipe ("K", or the error text) and exits 0 or 1.  Never returns. */
static void detach_wait(int rfd, pid_t pid) __attribute__((noreturn));
static void detach_wait(int rfd, pid_t pid)
{
	char msg[512];
	size_t got = 0;
	ssize_t r;

	for (;;) {
		r = read(rfd, msg + got, sizeof(msg) - 1 - got);
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

/* The daemon's side of a detach, after the first fork: new session,
 * second fork, pid file, stdio on /dev/null, then "K" on the pipe.
 * Returns in the daemon only. */
static void detach_become_daemon(const struct settings *s, int wfd)
{
	char msg[512];
	int devnull;
	pid_t pid;

	setsid();
	pid = fork();
	if (pid < 0) {
		snprintf(msg, sizeof(msg), "fork: %s", strerror(errno));
		safe_write_all(wfd, msg, strlen(msg));
		_exit(1);
	}
	if (pid > 0)
		_exit(0);   /* the session leader goes; the daemon can't get a tty */
	if (chdir("/") < 0) {
		/* "/" always exists */
	}
	if (s->pid_file != NULL && daemon_write_pid_file(s->pid_file, msg, sizeof(msg)) < 0) {
		safe_write_all(wfd, msg, strlen(msg));
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
	safe_write_all(wfd, "K", 1);
	close(wfd);
}

/* Double fork, setsid, chdir /, stdio on /dev/null, pid file.  The
 * original process waits for the daemon to report the pid file and exits 0
 * (or 1, printing the error it was sent).  Returns 0 in the daemon. */
static int detach(const struct settings *s)
{
	int pfd[2];
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
		detach_wait(pfd[0], pid);
	}
	close(pfd[0]);
	detach_become_daemon(s, pfd[1]);
	return 0;
}

/* ---- the listener ----------------------------------------------------- */

/* Everything the listener's loop works with. */
struct listener {
	const struct settings *s;
	int fds[DAEMON_MAX_LISTENERS];
	size_t nfds;
	struct daemon_kids kids;
	struct daemon_ratelimit rl_full, rl_host, rl_fd, rl_fork;
	struct timespec paused_until;   /* accepting paused after EMFILE & co. */
	struct daemon_resweep resweep;
	struct penalty_table *penalty;  /* shared with the sessions; NULL = off */
	sigset_t block;                 /* the signals held across a fork */
	bool stopping;
};

/* Sweeps the registry; schedules the next sweep while an entry waits. */
static void sweep_locks(struct listener *l)
{
	struct lockreg_tally t;

	lockreg_sweep_state_dir(l->s->state_dir, &t);
	daemon_resweep_schedule(&l->resweep, t.waiting, now_ms());
}

/* Reaps every child that ended.  When one of them was killed by a signal
 * (a monitor among them may have left a dot-lock behind) the registry is
 * swept now, and soon again if needed. */
static void reap(struct listener *l)
{
	bool signalled = false;
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		daemon_kids_remove(&l->kids, pid);
		if (WIFSIGNALED(status)) {
			log_warning("session process %ld ended by signal %d", (long)pid,
				    WTERMSIG(status));
			signalled = true;
		}
	}
	if (signalled) {
		l->resweep.interval_ms = DAEMON_RESWEEP_FIRST_MS;
		sweep_locks(l);
	}
}

/* Refuses a connection politely: one line, never blocking, then close. */
static void refuse(int fd)
{
	if (send(fd, too_many, sizeof(too_many) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		/* the client is gone or not reading; nothing to do */
	}
	close(fd);
}

int daemon_serve_connection(const struct settings *s, int fd_in, int fd_out,
			    struct penalty_table *penalty)
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
	p.penalty = penalty;
	return session_run(&p);
}

/* The child's side of a connection.  Never returns. */
static void serve_child(const struct listener *l, int fd, const sigset_t *oldmask)
	__attribute__((noreturn));
static void serve_child(const struct listener *l, int fd, const sigset_t *oldmask)
{
	struct sigaction sa;
	size_t i;

	for (i = 0; i < l->nfds; i++)
		close(l->fds[i]);
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

	exit(daemon_serve_connection(l->s, fd, fd, l->penalty));
}

/* True (after refusing fd and logging, rate-limited) when a new client at
 * ss/len would exceed max-sessions or max-sessions-per-host. */
static bool over_cap(struct listener *l, int fd, const struct sockaddr_storage *ss,
		     socklen_t len, const struct daemon_peer_key *key)
{
	const struct settings *s = l->s;
	unsigned long supp;
	char shown[NI_MAXHOST];

	if (l->kids.n >= s->max_sessions) {
		if (daemon_ratelimit_ok(&l->rl_full, now_mono(), &supp))
			log_warning("connection refused: max-sessions (%u) reached "
				    "(%lu similar records suppressed)", s->max_sessions, supp);
		refuse(fd);
		return true;
	}
	if (daemon_kids_count_host(&l->kids, key) < s->max_sessions_per_host)
		return false;
	if (getnameinfo((const struct sockaddr *)ss, len, shown, sizeof(shown),
			NULL, 0, NI_NUMERICHOST) != 0)
		copy_str(shown, sizeof(shown), "?");
	if (daemon_ratelimit_ok(&l->rl_host, now_mono(), &supp))
		log_warning("connection refused: client=%s max-sessions-per-host "
			    "(%u) reached (%lu similar records suppressed)",
			    shown, s->max_sessions_per_host, supp);
	refuse(fd);
	return true;
}

/* Counts the new connection fd from ss/len against the caps and forks its
 * session, or refuses it. */
static void admit(struct listener *l, int fd, const struct sockaddr_storage *ss, socklen_t len)
{
	struct daemon_peer_key key;
	sigset_t oldmask;
	unsigned long supp;
	pid_t pid;

	if (!daemon_peer_key_from((const struct sockaddr *)ss, &key))
		memset(&key, 0, sizeof(key));
	/* Reap before counting, so a session that just ended does not hold
	 * a place. */
	reap(l);
	if (over_cap(l, fd, ss, len, &key))
		return;

	sigprocmask(SIG_BLOCK, &l->block, &oldmask);
	pid = fork();
	if (pid == 0)
		serve_child(l, fd, &oldmask);
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
	if (pid < 0) {
		if (daemon_ratelimit_ok(&l->rl_fork, now_mono(), &supp))
			log_error("fork: %s (%lu similar records suppressed)", strerror(errno), supp);
		refuse(fd);
		return;
	}
	daemon_kids_add(&l->kids, pid, &key);
	close(fd);
}

/* accept() failed with errno.  Returns true when the burst may go on (a
 * connection that died in the queue); false to stop it, after pausing the
 * listener when we ran out of descriptors or memory (logged once per
 * interval instead of spinning on a listener that stays readable). */
static bool accept_failed(struct listener *l)
{
	unsigned long supp;

	if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
		return true;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return false;
	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
		if (daemon_ratelimit_ok(&l->rl_fd, now_mono(), &supp))
			log_error("accept: %s; pausing (%lu similar records suppressed)",
				  strerror(errno), supp);
		clock_gettime(CLOCK_MONOTONIC, &l->paused_until);
		l->paused_until.tv_nsec += (long)DAEMON_BACKOFF_MS * 1000000L;
		l->paused_until.tv_sec += l->paused_until.tv_nsec / 1000000000L;
		l->paused_until.tv_nsec %= 1000000000L;
		return false;
	}
	log_error("accept: %s", strerror(errno));
	return false;
}

/* Accepts up to DAEMON_ACCEPT_BURST connections from one listener. */
static void accept_burst(struct listener *l, int lfd)
{
	unsigned burst;

	for (burst = 0; burst < DAEMON_ACCEPT_BURST; burst++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);

		if (fd >= 0)
			admit(l, fd, &ss, len);
		else if (!accept_failed(l))
			break;
	}
}

/* Handles the signals the self-pipe brought, then reaps. */
static void handle_signals(struct listener *l)
{
	unsigned char sigs[64];
	size_t r = sigwake_read(sigs, sizeof(sigs)), k;

	for (k = 0; k < r; k++) {
		if (sigs[k] == SIGTERM || sigs[k] == SIGINT)
			l->stopping = true;
		else if (sigs[k] == SIGHUP)
			log_reopen();
	}
	reap(l);
}

/* Fills pfds with the self-pipe and, unless accepting is paused, the
 * listeners.  Returns how many; *timeout_r gets the rest of the pause in
 * ms, or -1. */
static size_t poll_set(const struct listener *l, struct pollfd *pfds, int *timeout_r)
{
	const struct timespec *until = &l->paused_until;
	struct timespec now;
	size_t np = 1, i;

	pfds[0].fd = sigwake_fd();
	pfds[0].events = POLLIN;
	*timeout_r = -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec < until->tv_sec ||
	    (now.tv_sec == until->tv_sec && now.tv_nsec < until->tv_nsec)) {
		long ms = (until->tv_sec - now.tv_sec) * 1000 +
			  (until->tv_nsec - now.tv_nsec) / 1000000;

		*timeout_r = ms > 0 ? (int)ms : 1;
		return np;
	}
	for (i = 0; i < l->nfds; i++) {
		pfds[np].fd = l->fds[i];
		pfds[np].events = POLLIN;
		np++;
	}
	return np;
}

/* One wake-up of the listener: wait, then a registry sweep that is due,
 * signals, new connections.  Returns -1 when poll failed (the listener
 * then stops), else 0. */
static int listener_turn(struct listener *l)
{
	struct pollfd pfds[DAEMON_MAX_LISTENERS + 1];
	int timeout;
	size_t np = poll_set(l, pfds, &timeout), i;

	if (poll(pfds, np, daemon_resweep_timeout(&l->resweep, timeout, now_ms())) < 0) {
		if (errno == EINTR)
			return 0;
		log_error("poll: %s", strerror(errno));
		return -1;
	}
	if (l->resweep.due && now_ms() >= l->resweep.at_ms)
		sweep_locks(l);
	if ((pfds[0].revents & POLLIN) != 0)
		handle_signals(l);
	if (l->stopping)
		return 0;
	for (i = 1; i < np; i++) {
		if ((pfds[i].revents & POLLIN) != 0)
			accept_burst(l, pfds[i].fd);
	}
	return 0;
}

/* Listeners, then detach or pid file, then syslog and the first sweep.
 * Returns 0, or the exit status after logging why. */
static int listener_start(struct listener *l, const char *addrspec)
{
	const struct settings *s = l->s;
	int n = daemon_open_listeners(addrspec, l->fds, DAEMON_MAX_LISTENERS);

	if (n < 0)
		return n == -2 ? 2 : 1;
	l->nfds = (size_t)n;
	if (s->detach) {
		if (detach(s) < 0)
			return 1;
	} else if (s->pid_file != NULL) {
		char err[512];

		if (daemon_write_pid_file(s->pid_file, err, sizeof(err)) < 0) {
			log_error("%s", err);
			return 1;
		}
	}
	/* Start-up went well (errors so far reached stderr): from here on
	 * records go to syslog, where the sessions' records go too. */
	log_open("popper", s->log_facility, LOG_TO_SYSLOG);
	log_notice("popper %s standalone daemon started (pid %ld)", PACKAGE_VERSION, (long)getpid());
	/* Locks of sessions killed while no daemon ran (or with the last). */
	sweep_locks(l);
	return 0;
}

/* The self-pipe and the handlers that write into it.  Returns 0 or -1. */
static int listener_signals(struct listener *l)
{
	struct sigaction sa;

	if (sigwake_open() < 0) {
		log_error("pipe: %s", strerror(errno));
		return -1;
	}
	sigwake_catch(SIGCHLD, SA_RESTART | SA_NOCLDSTOP);
	sigwake_catch(SIGTERM, SA_RESTART | SA_NOCLDSTOP);
	sigwake_catch(SIGINT, SA_RESTART | SA_NOCLDSTOP);
	sigwake_catch(SIGHUP, SA_RESTART | SA_NOCLDSTOP);
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&l->block);
	sigaddset(&l->block, SIGCHLD);
	sigaddset(&l->block, SIGTERM);
	sigaddset(&l->block, SIGINT);
	sigaddset(&l->block, SIGHUP);
	return 0;
}

/* Orderly stop: close the listeners, SIGTERM every session, wait for all
 * children, remove the pid file. */
static void listener_stop(struct listener *l)
{
	size_t i;

	for (i = 0; i < l->nfds; i++)
		close(l->fds[i]);
	log_notice("stopping: ending %u session(s)", l->kids.n);
	for (i = 0; i < l->kids.n; i++)
		kill(l->kids.v[i].pid, SIGTERM);
	for (;;) {
		pid_t pid = waitpid(-1, NULL, 0);

		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			break;   /* ECHILD: all gone */
	}
	if (l->s->pid_file != NULL)
		unlink(l->s->pid_file);
}

int daemon_run(const struct settings *s, const char *addrspec)
{
	struct listener l;
	int rc;

	memset(&l, 0, sizeof(l));
	l.s = s;
	l.resweep.interval_ms = DAEMON_RESWEEP_FIRST_MS;
	l.kids.cap = s->max_sessions > 0 ? s->max_sessions : 1;
	l.kids.v = calloc(l.kids.cap, sizeof(*l.kids.v));
	if (l.kids.v == NULL) {
		log_error("out of memory");
		return 1;
	}
	if (s->auth_failure_penalty > 0) {
		/* Before the first fork, so every session shares it.  Asked
		 * for (the default) and impossible: say so rather than run
		 * without it. */
		l.penalty = penalty_table_create(s->auth_failure_penalty);
		if (l.penalty == NULL) {
			log_error("cannot make the table of failed logins per address: %s "
				  "(set auth-failure-penalty = 0 to run without it)",
				  strerror(errno));
			free(l.kids.v);
			return 1;
		}
	}
	rc = listener_start(&l, addrspec);
	if (rc == 0 && listener_signals(&l) < 0)
		rc = 1;
	if (rc != 0) {
		penalty_table_destroy(l.penalty);
		free(l.kids.v);
		return rc;
	}
	while (!l.stopping && listener_turn(&l) == 0)
		;
	listener_stop(&l);
	penalty_table_destroy(l.penalty);
	free(l.kids.v);
	return 0;
}
