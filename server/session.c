/*
 * session: one POP3 conversation, from greeting to sign-off (RFC 1939): the
 * top floor of the engine.  It sets the session record up, says the
 * greeting (after the implicit-TLS or KPOP handshake, when configured),
 * reads one line at a time and hands it to the dispatcher, and at the end
 * aborts a maildrop left open without QUIT.
 *
 * The floors below (server/engine.h draws them): server/commands.c (table
 * and dispatch), the server/cmd_*.c handlers, server/login.c (login,
 * failed logins, UPDATE, abort), server/policy.c, server/engine.c (state,
 * replies, the termination flag).  Nothing below calls back up here.
 *
 * Three processes pass through session_run.  It starts in the process that
 * owns the connection (root): the auth monitor (server/authmon.h) forks
 * the pre-auth process, which greets and runs the loop before login,
 * unprivileged and confined; after a login the monitor runs the login
 * sequence on the connection handed back to it (server/login.c forks the
 * lock monitor and drops to the user), and the loop goes on as the user.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/ctcompare.h"
#include "lib/log.h"
#include "server/authmon.h"
#include "server/commands.h"
#include "server/login.h"
#include "server/policy.h"

static double elapsed(const struct timespec *from, const struct timespec *to)
{
	return (double)(to->tv_sec - from->tv_sec) +
	       (double)(to->tv_nsec - from->tv_nsec) / 1e9;
}

/* The APOP timestamp: unguessable (16 hex digits from getrandom), unique
 * per connection, so an APOP digest can never be replayed. */
static int make_timestamp(struct session *s)
{
	unsigned char rnd[8];
	unsigned long long r = 0;
	size_t got = 0;

	while (got < sizeof(rnd)) {
		ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		r = (r << 8) | rnd[i];
	snprintf(s->timestamp, sizeof(s->timestamp), "<%016llx.%ld.%lld@%.255s>",
		 r, (long)getpid(), (long long)time(NULL), s->p->local_host);
	ct_wipe(rnd, sizeof(rnd));
	return 0;
}

static void log_timing(const struct session *s, bool normal)
{
	struct timespec now;
	double auth = 0, init = 0;

	if (!s->set->timing)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (s->t_auth.tv_sec != 0)
		auth = elapsed(&s->t_start, &s->t_auth);
	if (s->t_init.tv_sec != 0)
		init = elapsed(&s->t_auth, &s->t_init);
	log_info("(v%s) Timing for %s@%s (%s) auth=%.3f init=%.3f total=%.3f",
		 PACKAGE_VERSION, s->user.name[0] ? s->user.name : "(none)",
		 s->p->client_addr, normal ? "normal" : "error", auth, init,
		 elapsed(&s->t_start, &now));
}

/* The session record for p, before a word is said.  -1 (logged) without
 * memory for the connection. */
static int session_init(struct session *s, const struct session_params *p)
{
	memset(s, 0, sizeof(*s));
	s->p = p;
	s->set = p->set;
	s->state = STATE_AUTH1;
	clock_gettime(CLOCK_MONOTONIC, &s->t_start);

	s->authcfg.pam_service = s->set->pam_service;
	s->authcfg.userdb_path = s->set->auth_db;
	s->authcfg.userdb_owner = s->set->auth_db_owner;
	s->authcfg.mail_owner = s->set->mail_owner;
	s->authcfg.deny_file = s->set->nonauth_file;
	s->authcfg.allow_file = s->set->auth_file;
	s->authcfg.min_uid = s->set->min_uid;
	s->authcfg.check_shell = s->set->check_shell;
	s->authcfg.client_addr = p->client_addr;
	s->authcfg.ignore_password_expiry = !s->set->check_password_expired;
	s->cleartext_ok = policy_cleartext_allowed(s->set->cleartext, p->client_addr);
	s->pm_fd = s->proxy_fd = s->kpop_fd = -1;

	s->io = netio_create(p->fd_in, p->fd_out);
	if (s->io == NULL) {
		log_error("session: out of memory");
		return -1;
	}
	/* 0 = no idle limit (administrator's choice); otherwise seconds.  The
	 * one conversion: every read of the session (AUTH's too) uses it. */
	if (s->set->timeout == 0)
		s->timeout_ms = -1;
	else if (s->set->timeout > INT_MAX / 1000)
		s->timeout_ms = INT_MAX;
	else
		s->timeout_ms = (int)s->set->timeout * 1000;
	if (s->timeout_ms > 0)
		netio_set_write_timeout(s->io, s->timeout_ms);
	return 0;
}

/* The opening: the implicit-TLS or KPOP handshake when configured, then the
 * greeting.  False when the handshake failed and the session is over. */
static bool session_greet(struct session *s)
{
	/* The timestamp only when APOP can work: clients such as curl take
	 * it as an offer and never fall back to USER/PASS. */
	const char *ts;

	if (s->set->tls_support == TLS_SUPPORT_ALTPORT && stls_start_implicit(s) != 0) {
		/* Implicit TLS (RFC 8314): no handshake, no session, and not a
		 * word in clear text (cmd_stls.c). */
		engine_end(s);
		return false;
	}
	if (s->set->kerberos && cmd_kpop_start(s) != 0) {
		/* KPOP (-k): the Kerberos handshake failed; it has its own
		 * framing, so no POP3 reply can help (cmd_kpop.c). */
		engine_end(s);
		return false;
	}
	ts = policy_apop_offered(s) ? s->timestamp : "";
	if (s->set->shy)
		reply_ok(s, "ready%s%s", ts[0] ? "  " : "", ts);
	else
		reply_ok(s, "popper (version %s) at %s starting.%s%s", PACKAGE_VERSION,
			 s->p->local_host, ts[0] ? "  " : "", ts);
	return true;
}

/* Reads and dispatches lines until the session ends.  *may_update: the end
 * came from the client's side (EOF, a connection error), which
 * update-on-abort may turn into an update; *normal: nothing went wrong. */
static void session_loop(struct session *s, bool *may_update, bool *normal)
{
	const char *addr = s->p->client_addr;

	while (s->state != STATE_END) {
		char *line;
		size_t len;
		enum netio_status ns;

		if (engine_stop_signal() != 0)
			break;
		ns = netio_read_line(s->io, &line, &len, s->timeout_ms);
		if (engine_stop_signal() != 0)
			break;
		if (ns == NETIO_LINE) {
			cmd_dispatch(s, line, len);
		} else if (ns == NETIO_TOO_LONG) {
			log_notice("command line too long, discarded: client=%s", addr);
			reply_err(s, RESP_NONE, "Command line too long.");
		} else if (ns == NETIO_TIMEOUT) {
			log_notice("timeout after %u seconds: client=%s user=%s",
				   s->set->timeout, addr, s->user.name[0] ? s->user.name : "(none)");
			reply_err(s, RESP_NONE, "Timeout; closing connection.");
			*normal = false;
			break;
		} else if (ns == NETIO_EOF) {
			log_info("client closed the connection: client=%s", addr);
			*may_update = true;
			*normal = false;
			break;
		} else {
			if (errno == EINTR)
				continue; /* a signal that does not end the session */
			log_notice("connection error: client=%s: %s", addr, strerror(errno));
			*may_update = true;
			*normal = false;
			break;
		}
	}
}

/* The end: the goodbye to a terminating signal, the abort of a maildrop
 * still open, the timing record, the last flush.  Returns the exit status. */
static int session_close(struct session *s, bool may_update, bool normal)
{
	int sig = engine_stop_signal(), status;

	if (sig != 0) {
		log_notice("session ended by signal %d: client=%s", sig, s->p->client_addr);
		reply_err(s, RESP_SYS_TEMP, "Server shutting down; closing connection.");
		may_update = false;
		normal = false;
	}
	/* Still open here means no QUIT: an abort (a send error after part of
	 * a message went out also ends up here). */
	if (s->md != NULL) {
		/* A send that broke off mid-message is a connection error. */
		if (s->send_failed && engine_stop_signal() == 0)
			may_update = true;
		login_abort(s, may_update);
		normal = false;
	}
	log_timing(s, normal);
	(void)netio_flush(s->io);
	stls_finish(s);
	netio_destroy(s->io);
	login_release();
	status = s->exit_status;
	ct_wipe(s, sizeof(*s));
	return status;
}

/* The auth monitor's side after a login it decided: the login sequence
 * on the connection the pre-auth process handed over (the lock monitor's
 * fork and the drop to the user happen in there), then, as the user, the
 * TRANSACTION loop. */
static int session_after_login(struct session *s, struct authmon *m)
{
	bool may_update = false, normal = true;

	login_complete(s, &m->user, m->method);
	if (s->state == STATE_TRANS)
		session_loop(s, &may_update, &normal);
	else
		normal = false;
	return session_close(s, may_update, normal);
}

int session_run(const struct session_params *p)
{
	static struct session sess; /* large (struct auth_user); one per process */
	static struct authmon mon;
	struct session *s = &sess;
	bool may_update = false, normal = true;
	int status = 1;

	engine_catch_signals();
	umask(077);
	if (session_init(s, p) != 0)
		return 1;
	if (make_timestamp(s) != 0) {
		log_error("session: getrandom failed: %s", strerror(errno));
		reply_err(s, RESP_SYS_TEMP, "Server error; try again later.");
		(void)netio_flush(s->io);
		netio_destroy(s->io);
		return 1;
	}
	log_info("connection: client=%s", p->client_addr);
	/* Decided here, where the database can be seen: the pre-auth
	 * process greets with it. */
	s->apop_offered = policy_apop_offered(s);
	authmon_init(&mon, s);
	switch (authmon_run(&mon, &status)) {
	case AUTHMON_CHILD:
		break;   /* the pre-auth process: the conversation, below */
	case AUTHMON_LOGIN:
		return session_after_login(s, &mon);
	case AUTHMON_ENDED:
		netio_destroy(s->io);
		ct_wipe(s, sizeof(*s));
		return status;
	default:
		reply_err(s, RESP_SYS_TEMP, "Server error; try again later.");
		(void)netio_flush(s->io);
		netio_destroy(s->io);
		return 1;
	}
	if (session_greet(s))
		session_loop(s, &may_update, &normal);
	else
		normal = false;
	/* The pre-auth process never returns into its caller's code (the
	 * daemon's loop, a test): it ends here. */
	_exit(session_close(s, may_update, normal));
}
