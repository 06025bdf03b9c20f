/*
 * session: one POP3 conversation, from greeting to sign-off (RFC 1939):
 * the main loop, the one function that changes state, the login sequence
 * and the end of a session (UPDATE, or an abort that changes nothing).
 *
 * Runs as root until a login succeeds (PAM and the per-user state directory
 * need it).  session_login() is the one place where that ends: the process
 * forks the monitor (server/monitor.c, stays root) and the child drops to
 * the user (server/privdrop.c) before the maildrop is opened.
 *
 * Parsing and the command table live in server/commands.c, the handlers in
 * server/cmd_auth.c and server/cmd_trans.c.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/ctcompare.h"
#include "lib/log.h"
#include "server/commands.h"
#include "server/lockreg.h"
#include "server/monitor.h"
#include "server/privdrop.h"
#include "server/spoolpath.h"

/* Set by SIGHUP/SIGTERM.  The handlers are installed without SA_RESTART so
 * a blocked poll() in netio returns and the loop sees the flag. */
static volatile sig_atomic_t terminate_signal;

static void on_terminate(int sig)
{
	terminate_signal = sig;
}

bool session_terminating(void)
{
	return terminate_signal != 0;
}

bool session_sleep(unsigned seconds)
{
	struct timespec left = { (time_t)seconds, 0 };

	/* nanosleep returns early on a signal; go on sleeping unless it was
	 * one that ends the session.  Bounded: each round sleeps less. */
	while (left.tv_sec > 0 || left.tv_nsec > 0) {
		if (terminate_signal)
			return false;
		if (nanosleep(&left, &left) == 0)
			break;
		if (errno != EINTR)
			break;
	}
	return !terminate_signal;
}

static double elapsed(const struct timespec *from, const struct timespec *to)
{
	return (double)(to->tv_sec - from->tv_sec) +
	       (double)(to->tv_nsec - from->tv_nsec) / 1e9;
}

static const char *state_name(enum session_state st)
{
	switch (st) {
	case STATE_AUTH1:
		return "AUTHORIZATION";
	case STATE_AUTH2:
		return "AUTHORIZATION(USER)";
	case STATE_TRANS:
		return "TRANSACTION";
	case STATE_UPDATE:
		return "UPDATE";
	case STATE_END:
		return "END";
	}
	return "?";
}

void session_set_state(struct session *s, enum session_state next)
{
	/* Which state may follow which (RFC 1939 §3): any state may end. */
	static const unsigned allowed[] = {
		[STATE_AUTH1] = (1u << STATE_AUTH2) | (1u << STATE_TRANS) | (1u << STATE_END),
		[STATE_AUTH2] = (1u << STATE_AUTH1) | (1u << STATE_TRANS) | (1u << STATE_END),
		[STATE_TRANS] = (1u << STATE_UPDATE) | (1u << STATE_END),
		[STATE_UPDATE] = (1u << STATE_END),
		[STATE_END] = 0,
	};

	if (s->state == next)
		return;
	if (!(allowed[s->state] & (1u << next))) {
		/* A bug, not a client error: fail closed. */
		log_error("internal error: state %s -> %s refused; ending the session",
			  state_name(s->state), state_name(next));
		s->exit_status = 1;
		next = STATE_END;
	}
	log_debug("state %s -> %s", state_name(s->state), state_name(next));
	s->state = next;
}

char *session_expand_login(const char *tmpl, const char *version, const char *user,
			   const char *host, const char *addr, char *out, size_t outsize)
{
	size_t o = 0;

	if (outsize == 0)
		return out;
	/* Qpopper handed this template to printf (a format-string hole);
	 * here every byte is copied and only %0..%3 and %% are recognised. */
	for (const char *p = tmpl; *p != '\0' && o + 1 < outsize; p++) {
		const char *val = NULL;
		char q[300];

		if (p[0] == '%' && p[1] >= '0' && p[1] <= '3') {
			const char *vals[4] = { version, user, host, addr };
			const char *v = vals[p[1] - '0'] != NULL ? vals[p[1] - '0'] : "";
			val = log_quote(v, strlen(v), q, sizeof(q));
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			val = "%";
			p++;
		}
		if (val == NULL) {
			out[o++] = *p;
			continue;
		}
		for (; *val != '\0' && o + 1 < outsize; val++)
			out[o++] = *val;
	}
	out[o] = '\0';
	return out;
}

/* Messages and octets of the whole maildrop, deletion marks ignored. */
static void all_totals(const struct maildrop *md, unsigned *count_r, uint64_t *octets_r)
{
	unsigned n = maildrop_count(md);
	uint64_t octets = 0;

	for (unsigned i = 0; i < n; i++)
		octets += maildrop_msg_size(md, i);
	*count_r = n;
	*octets_r = octets;
}

/* The -s / statistics record, once per session that logged in. */
static void log_stats(const struct session *s, const struct maildrop_stats *st)
{
	struct timespec now;
	char qhost[300];

	if (!s->set->statistics)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	log_quote(s->p->client_host, strlen(s->p->client_host), qhost, sizeof(qhost));
	log_notice("Stats: %s %lu %" PRIu64 " %lu %" PRIu64 " %s %s time=%ld",
		   s->user.name, st->msgs_deleted, st->bytes_deleted, st->msgs_left,
		   st->bytes_left, qhost, s->p->client_addr,
		   (long)(now.tv_sec - s->t_start.tv_sec));
}

/* Commits the maildrop (which closes it) and logs the statistics.
 * *in_temp_r: temp-drop mode made the deletions but the kept mail waits in
 * the temporary drop; *pending_r: the update waits for the next login to
 * complete or undo it. */
static enum maildrop_status commit_maildrop(struct session *s, bool *in_temp_r,
					    bool *pending_r)
{
	struct maildrop_stats st;
	char reason[512] = "";
	enum maildrop_status r;
	unsigned count;
	uint64_t octets;

	all_totals(s->md, &count, &octets);
	memset(&st, 0, sizeof(st));
	r = maildrop_commit(s->md, &st, reason, sizeof(reason));
	s->md = NULL;
	*in_temp_r = r != MAILDROP_OK && st.left_in_temp_drop;
	*pending_r = r != MAILDROP_OK && st.update_pending;
	if (r != MAILDROP_OK) {
		log_error("maildrop update failed: user=%s client=%s %s%s",
			  s->user.name, s->p->client_addr, reason,
			  *in_temp_r ? " (deletions made; mail left in the temporary drop)" : "");
		if (!*in_temp_r) {
			st.msgs_deleted = 0;
			st.bytes_deleted = 0;
			st.msgs_left = count;
			st.bytes_left = octets;
		}
	}
	log_stats(s, &st);
	return r;
}

void session_update(struct session *s)
{
	bool in_temp = false, pending = false;

	session_set_state(s, STATE_UPDATE);
	if (commit_maildrop(s, &in_temp, &pending) == MAILDROP_OK) {
		reply_ok(s, "Pop server at %s signing off.", s->p->local_host);
	} else {
		if (in_temp)
			reply_err(s, RESP_SYS_TEMP,
				  "Error updating the maildrop; mail left in the temporary drop.");
		else if (pending)
			reply_err(s, RESP_SYS_TEMP,
				  "Error updating the maildrop; the next login completes or undoes the update.");
		else
			reply_err(s, RESP_SYS_TEMP,
				  "Error updating the maildrop; no messages were deleted.");
		s->exit_status = 1;
	}
	session_set_state(s, STATE_END);
}

/* The session ends without QUIT.  RFC 1939 §6: no UPDATE, unless the
 * administrator asked for update-on-abort and the abort allows it. */
static void session_abort(struct session *s, bool may_update)
{
	struct maildrop_stats st;
	unsigned count;
	uint64_t octets;

	if (s->md == NULL)
		return;
	if (may_update && s->set->update_on_abort) {
		bool in_temp, pending;

		log_notice("session aborted, updating the maildrop (update-on-abort): user=%s",
			   s->user.name);
		(void)commit_maildrop(s, &in_temp, &pending);
		return;
	}
	all_totals(s->md, &count, &octets);
	maildrop_close(s->md);
	s->md = NULL;
	memset(&st, 0, sizeof(st));
	st.msgs_left = count;
	st.bytes_left = octets;
	log_stats(s, &st);
}

/* The reply for a maildrop that could not be opened; the session ends. */
static void login_failed(struct session *s, enum maildrop_status st)
{
	switch (st) {
	case MAILDROP_IN_USE:
		reply_err(s, RESP_IN_USE, "Maildrop is locked; is another session active?");
		break;
	case MAILDROP_PERM:
		reply_err(s, RESP_SYS_PERM, "The maildrop cannot be used; contact your administrator.");
		break;
	case MAILDROP_TEMP:
	case MAILDROP_OK:
		reply_err(s, RESP_SYS_TEMP, "Unable to open the maildrop; try again later.");
		break;
	}
	session_set_state(s, STATE_END);
}

/* Per-user option files (-u/-U), read as the user, into the session's own
 * copy of the settings.  Trouble is logged and the file ignored. */
static void load_user_options(struct session *s, struct settings *own, bool *own_used)
{
	char err[256] = "";

	if (!s->set->user_options && !s->set->spool_options)
		return;
	if (settings_copy(own, s->set) != 0) {
		log_error("user options: out of memory; ignored: user=%s", s->user.name);
		settings_free(own);
		return;
	}
	if (settings_load_user_options(own, s->user.name, s->user.home, s->user.uid,
				       err, sizeof(err)) != 0) {
		log_warning("user options ignored: user=%s %s", s->user.name, err);
		settings_free(own);
		return;
	}
	*own_used = true;
	s->set = own;
}

/* The session's own settings after per-user options, if any. */
static struct settings user_settings;
static bool user_settings_used;

/* Whether account (primary group gid) belongs to the group named name:
 * the primary gid, or the group's member list. */
static bool in_group(const char *name, const char *account, gid_t gid)
{
	struct group *gr;

	if (name == NULL || name[0] == '\0')
		return false;
	errno = 0;
	gr = getgrnam(name);
	if (gr == NULL) {
		log_warning("group %s (group-server-mode / group-no-server-mode) is unknown", name);
		return false;
	}
	if (gr->gr_gid == gid)
		return true;
	for (char **m = gr->gr_mem; m != NULL && *m != NULL; m++)
		if (strcmp(*m, account) == 0)
			return true;
	return false;
}

/* Server mode, or Qpopper's temp-drop mode?  server-mode, then the groups:
 * a member of group-no-server-mode gets temp-drop mode, a member of
 * group-server-mode server mode; one in both gets server mode, the safer
 * one (the spool is never emptied). */
static bool use_server_mode(const struct settings *set, const struct auth_user *u)
{
	bool server = set->server_mode;

	if (in_group(set->group_no_server_mode, u->account, u->gid))
		server = false;
	if (in_group(set->group_server_mode, u->account, u->gid))
		server = true;
	return server;
}

/* tmpl with its "%s" replaced by user, into out.  -1 if it does not fit. */
static int expand_user(const char *tmpl, const char *user, char *out, size_t outsize)
{
	const char *p = strstr(tmpl, "%s");
	int n;

	if (p == NULL)
		n = snprintf(out, outsize, "%s", tmpl);
	else
		n = snprintf(out, outsize, "%.*s%s%s", (int)(p - tmpl), tmpl, user, p + 2);
	return n < 0 || (size_t)n >= outsize ? -1 : 0;
}

void session_login(struct session *s, const struct auth_user *u, const char *method)
{
	char path[PATH_MAX], lock_path[PATH_MAX + 8], state_dir[PATH_MAX], regdir[PATH_MAX];
	char temp_dir[PATH_MAX], temp_name[NAME_MAX + 1];
	char reason[256] = "", tmpl_out[1024];
	struct maildrop_locker locker = { NULL, NULL, NULL };
	struct maildrop_settings ms;
	enum maildrop_status st;
	unsigned count;
	uint64_t octets;
	int n;

	s->user = *u;
	s->method = method;
	clock_gettime(CLOCK_MONOTONIC, &s->t_auth);

	/*
	 * The login sequence, in this order and nowhere else:
	 *  1. where the maildrop is, and (as root) the private state
	 *     directory, created owned by the account the session becomes;
	 *  2. as root: fork the monitor, which stays root and takes the
	 *     dot-lock on request (the parent never comes back), and drop to
	 *     the user in the child; not root: run as we are and let the
	 *     maildrop take the dot-lock itself;
	 *  3. as the user: per-user option files, then open the maildrop,
	 *     which must belong to the user;
	 *  4. +OK, TRANSACTION, the login record.
	 */
	if (spoolpath_maildrop(s->set, u, path, sizeof(path)) != 0) {
		log_error("login: maildrop path too long: user=%s", u->name);
		login_failed(s, MAILDROP_PERM);
		return;
	}
	n = snprintf(lock_path, sizeof(lock_path), "%s.lock", path);
	if (n < 0 || (size_t)n >= sizeof(lock_path)) {
		log_error("login: lock path too long: user=%s", u->name);
		login_failed(s, MAILDROP_PERM);
		return;
	}
	if (spoolpath_state_dir(s->set, u, state_dir, sizeof(state_dir),
				reason, sizeof(reason)) != 0) {
		log_error("login: state directory: user=%s %s", u->name, reason);
		login_failed(s, MAILDROP_TEMP);
		return;
	}

	if (geteuid() == 0) {
		/* The registry's path, like the lock's, is fixed here, as
		 * root, before the fork. */
		bool have_reg = lockreg_dir(s->set->state_dir, regdir, sizeof(regdir)) == 0;

		if (!have_reg)
			log_warning("login: lock registry path too long; carrying on without it");
		if (monitor_start(lock_path, s->set->lock_wait, have_reg ? regdir : NULL,
				  &locker) != 0) {
			log_error("login: cannot start the monitor: user=%s", u->name);
			login_failed(s, MAILDROP_TEMP);
			return;
		}
		/* From here on: the child, which must not stay root. */
		if (privdrop_to(u->account, u->uid, u->gid, reason, sizeof(reason)) != 0) {
			log_error("login: privilege drop failed: user=%s %s", u->name, reason);
			login_failed(s, MAILDROP_TEMP);
			return;
		}
	}

	load_user_options(s, &user_settings, &user_settings_used);

	memset(&ms, 0, sizeof(ms));
	ms.path = path;
	ms.lock_path = lock_path;
	ms.state_dir = state_dir;
	ms.locker = locker;
	ms.lock_wait = s->set->lock_wait;
	ms.trust_x_uidl = s->set->trust_x_uidl;
	ms.require_owner = true;
	ms.owner_uid = (unsigned long)u->uid;
	/* Both modes need the temporary drop's name: temp-drop mode works on
	 * it, server mode writes one left behind back into the spool. */
	if (s->set->temp_dir == NULL)
		snprintf(temp_dir, sizeof(temp_dir), "%s", state_dir);   /* same size */
	if ((s->set->temp_dir != NULL &&
	     expand_user(s->set->temp_dir, u->name, temp_dir, sizeof(temp_dir)) != 0) ||
	    expand_user(s->set->temp_name != NULL ? s->set->temp_name : ".%s.pop", u->name,
			temp_name, sizeof(temp_name)) != 0) {
		log_error("login: temporary drop path too long: user=%s", u->name);
		login_failed(s, MAILDROP_PERM);
		return;
	}
	ms.temp_drop_mode = !use_server_mode(s->set, u);
	ms.temp_dir = temp_dir;
	ms.temp_name = temp_name;
	ms.keep_temp_drop = s->set->keep_temp_drop;
	reason[0] = '\0';
	st = maildrop_open(&ms, &s->md, reason, sizeof(reason));
	if (st != MAILDROP_OK) {
		s->md = NULL;
		log_error("login: maildrop not opened: user=%s client=%s %s",
			  u->name, s->p->client_addr, reason);
		login_failed(s, st);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &s->t_init);

	/* LAST starts at the highest message already retrieved (RFC 1725). */
	count = maildrop_count(s->md);
	s->last_at_start = 0;
	for (unsigned i = 0; i < count; i++)
		if (maildrop_msg_seen(s->md, i))
			s->last_at_start = i + 1;
	s->last = s->last_at_start;

	all_totals(s->md, &count, &octets);
	session_set_state(s, STATE_TRANS);
	reply_ok(s, "%s has %u visible message%s (0 hidden) in %" PRIu64 " octets.",
		 u->name, count, count == 1 ? "" : "s", octets);

	log_notice("login: user=%s client=%s method=%s messages=%u octets=%" PRIu64 "%s",
		   u->name, s->p->client_addr, method, count, octets,
		   ms.temp_drop_mode ? " mode=temp-drop" : "");
	if (s->set->log_login != NULL && s->set->log_login[0] != '\0')
		log_notice("%s", session_expand_login(s->set->log_login, PACKAGE_VERSION,
						      u->name, s->p->client_host,
						      s->p->client_addr, tmpl_out,
						      sizeof(tmpl_out)));
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

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	/* A vanished client shows up as EPIPE from write, not as a signal. */
	(void)sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_terminate;
	sa.sa_flags = 0; /* no SA_RESTART: interrupt poll() */
	(void)sigaction(SIGHUP, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
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

int session_run(const struct session_params *p)
{
	static struct session sess; /* large (struct auth_user); one per process */
	struct session *s = &sess;
	bool may_update = false, normal = true;
	int timeout_ms, status;

	install_signals();
	umask(077);

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
	s->cleartext_ok = cmd_cleartext_allowed(s->set->cleartext, p->client_addr);

	s->io = netio_create(p->fd_in, p->fd_out);
	if (s->io == NULL) {
		log_error("session: out of memory");
		return 1;
	}
	/* 0 = no idle limit (administrator's choice); otherwise seconds. */
	if (s->set->timeout == 0)
		timeout_ms = -1;
	else if (s->set->timeout > INT_MAX / 1000)
		timeout_ms = INT_MAX;
	else
		timeout_ms = (int)s->set->timeout * 1000;
	if (timeout_ms > 0)
		netio_set_write_timeout(s->io, timeout_ms);

	if (make_timestamp(s) != 0) {
		log_error("session: getrandom failed: %s", strerror(errno));
		reply_err(s, RESP_SYS_TEMP, "Server error; try again later.");
		(void)netio_flush(s->io);
		netio_destroy(s->io);
		return 1;
	}
	log_info("connection: client=%s", p->client_addr);
	if (s->set->tls_support == TLS_SUPPORT_ALTPORT && stls_start_implicit(s) != 0) {
		/* Implicit TLS (RFC 8314): no handshake, no session, and not a
		 * word in clear text (cmd_stls.c). */
		session_set_state(s, STATE_END);
		normal = false;
	} else if (s->set->kerberos && cmd_kpop_start(s) != 0) {
		/* KPOP (-k): the Kerberos handshake failed; it has its own
		 * framing, so no POP3 reply can help (cmd_sasl.c). */
		session_set_state(s, STATE_END);
		normal = false;
	} else {
		/* The timestamp only when APOP can work: clients such as curl
		 * take it as an offer and never fall back to USER/PASS. */
		const char *ts = cmd_apop_offered(s) ? s->timestamp : "";

		if (s->set->shy)
			reply_ok(s, "ready%s%s", ts[0] ? "  " : "", ts);
		else
			reply_ok(s, "popper (version %s) at %s starting.%s%s", PACKAGE_VERSION,
				 p->local_host, ts[0] ? "  " : "", ts);
	}

	while (s->state != STATE_END) {
		char *line;
		size_t len;
		enum netio_status ns;

		if (terminate_signal)
			break;
		ns = netio_read_line(s->io, &line, &len, timeout_ms);
		if (terminate_signal)
			break;
		if (ns == NETIO_LINE) {
			cmd_dispatch(s, line, len);
		} else if (ns == NETIO_TOO_LONG) {
			log_notice("command line too long, discarded: client=%s", p->client_addr);
			reply_err(s, RESP_NONE, "Command line too long.");
		} else if (ns == NETIO_TIMEOUT) {
			log_notice("timeout after %u seconds: client=%s user=%s",
				   s->set->timeout, p->client_addr,
				   s->user.name[0] ? s->user.name : "(none)");
			reply_err(s, RESP_NONE, "Timeout; closing connection.");
			normal = false;
			break;
		} else if (ns == NETIO_EOF) {
			log_info("client closed the connection: client=%s", p->client_addr);
			may_update = true;
			normal = false;
			break;
		} else {
			if (errno == EINTR)
				continue; /* a signal that does not end the session */
			log_notice("connection error: client=%s: %s", p->client_addr,
				   strerror(errno));
			may_update = true;
			normal = false;
			break;
		}
	}
	if (terminate_signal) {
		log_notice("session ended by signal %d: client=%s", (int)terminate_signal,
			   p->client_addr);
		reply_err(s, RESP_SYS_TEMP, "Server shutting down; closing connection.");
		may_update = false;
		normal = false;
	}
	/* Still open here means no QUIT: an abort (a send error after part of
	 * a message went out also ends up here). */
	if (s->md != NULL) {
		/* A send that broke off mid-message is a connection error. */
		if (s->send_failed && !terminate_signal)
			may_update = true;
		session_abort(s, may_update);
		normal = false;
	}
	log_timing(s, normal);
	(void)netio_flush(s->io);
	stls_finish(s);
	netio_destroy(s->io);
	if (user_settings_used) {
		settings_free(&user_settings);
		user_settings_used = false;
	}
	status = s->exit_status;
	ct_wipe(s, sizeof(*s));
	return status;
}
