/*
 * cmd_auth: the AUTHORIZATION-state handlers (USER, PASS, APOP, and the
 * XTND row that is not built yet) plus QUIT and CAPA, which are valid in
 * more than one state.  AUTH and Kerberos KPOP are in cmd_sasl.c, which
 * shares the failure path (cmd_auth_failed).
 *
 * Runs as root (before login).  Every credential failure, whatever its kind,
 * costs the same delay and reads the same to the client (robustness notes
 * §4.2-4.3); the kind goes to the log only, in one fail2ban-safe line.  The
 * engine (server/commands.c) has already checked state and arity.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "lib/username.h"
#include "server/commands.h"

/* An APOP digest: MD5 in hex (RFC 1939 §7). */
#define APOP_DIGEST_HEX_LEN 32
/* AUTH_PERMFAIL: a global configuration fault (an unsafe user database),
 * the same for every name; the log says what is wrong. */
#define PERMFAIL_TEXT "Authentication is unavailable; contact your administrator."

/* The short log token for a failed result. */
static const char *result_kind(enum auth_result r)
{
	return r == AUTH_TEMPFAIL ? "temporary" : r == AUTH_PERMFAIL ? "unavailable" : "rejected";
}

bool cmd_addr_is_loopback(const char *addr)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (addr == NULL)
		return false;
	/* No socket at all (a pipe on stdin): only a local process can have
	 * started us that way. */
	if (strcmp(addr, "local") == 0)
		return true;
	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, addr, &a6) == 1) {
		if (IN6_IS_ADDR_LOOPBACK(&a6))
			return true;
		/* An IPv4 client on a dual-stack socket: ::ffff:127.x.y.z. */
		return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
	}
	return false;
}

bool cmd_cleartext_allowed(enum cleartext_policy policy, const char *client_addr)
{
	switch (policy) {
	case CLEARTEXT_DEFAULT:
	case CLEARTEXT_ALWAYS:
		return true;
	case CLEARTEXT_LOCAL:
		return cmd_addr_is_loopback(client_addr);
	case CLEARTEXT_NEVER:
	case CLEARTEXT_TLS: /* not yet: cmd_stls.c allows it once TLS is up */
		break;
	}
	return false;
}

bool cmd_user_normalise(const struct settings *set, const char *in,
			char *out, size_t outsize)
{
	char tmp[CMD_MAX_LINE + 1];
	size_t len;

	len = strnlen(in, sizeof(tmp));
	if (len >= sizeof(tmp))
		return false;
	memcpy(tmp, in, len + 1);
	/* Qpopper's order: downcase-user, then trim-domain, then the check.
	 * ASCII only: no locale may change what a name means. */
	if (set->downcase_user)
		for (size_t i = 0; i < len; i++)
			if (tmp[i] >= 'A' && tmp[i] <= 'Z')
				tmp[i] = (char)(tmp[i] - 'A' + 'a');
	if (set->trim_domain) {
		char *at = strchr(tmp, '@');
		if (at != NULL)
			*at = '\0';
	}
	if (!username_valid(tmp) || strlen(tmp) >= outsize)
		return false;
	memcpy(out, tmp, strlen(tmp) + 1);
	return true;
}

/* APOP is offered only when configured and the build and the user database
 * can do it. */
bool cmd_apop_offered(const struct session *s)
{
	return s->set->apop && auth_apop_available(&s->authcfg);
}

/*
 * Every PASS/APOP failure comes here: one log line, the delay, one reply
 * ([SYS/TEMP] only for a backend that could not answer, [SYS/PERM] only for
 * an unsafe user database), and the close after max-auth-failures.  kind is a short token for the log; detail is
 * the backend's log-only reason.
 */
static void auth_failed(struct session *s, const char *method, const char *user,
			enum auth_result r, const char *kind, const char *detail)
{
	char quser[USERNAME_MAX * 4 + 8], qdetail[256];
	unsigned max = s->set->max_auth_failures;

	log_quote(user, strlen(user), quser, sizeof(quser));
	log_quote(detail, strlen(detail), qdetail, sizeof(qdetail));
	/* The client address comes first and is numeric (ours, not the
	 * client's text), so a fail2ban filter can anchor on it. */
	log_notice("authentication failed: client=%s method=%s user=\"%s\" reason=%s detail=\"%s\"",
		   s->p->client_addr, method, quser, kind, qdetail);
	s->auth_failures++;
	if (s->state == STATE_AUTH2)
		session_set_state(s, STATE_AUTH1);
	s->pending_user[0] = '\0';

	/* The same delay for every kind, so timing tells nothing either. */
	if (!session_sleep(s->set->auth_failure_delay))
		return; /* terminating: the main loop ends the session */
	if (r == AUTH_TEMPFAIL)
		reply_err(s, RESP_SYS_TEMP, "Authentication is temporarily unavailable.");
	else if (r == AUTH_PERMFAIL)
		reply_err(s, RESP_SYS_PERM, PERMFAIL_TEXT);
	else
		reply_err(s, RESP_AUTH, "Authentication failed.");
	/* 0 would mean "unlimited"; we never allow that. */
	if (max == 0)
		max = 1;
	if (s->auth_failures >= max) {
		log_notice("too many authentication failures: client=%s failures=%u",
			   s->p->client_addr, s->auth_failures);
		session_set_state(s, STATE_END);
	}
}

void cmd_auth_failed(struct session *s, const char *method, const char *user,
		     enum auth_result r, const char *kind, const char *detail)
{
	auth_failed(s, method, user, r, kind, detail);
}

void cmd_user(struct session *s, const struct cmd_call *c)
{
	char name[USERNAME_MAX + 1];

	if (s->kpop_user[0] != '\0') {
		cmd_kpop_user(s, c);   /* cmd_sasl.c */
		return;
	}

	if (!s->cleartext_ok) {
		if (s->set->cleartext == CLEARTEXT_TLS)
			reply_err(s, RESP_AUTH,
				  "You must use TLS/SSL or stronger authentication such as APOP to connect to this server.");
		else
			reply_err(s, RESP_AUTH,
				  "You must use stronger authentication such as APOP to connect to this server.");
		return;
	}
	if (!cmd_user_normalise(s->set, c->argv[0], name, sizeof(name))) {
		reply_err(s, RESP_AUTH, "Invalid user name.");
		return;
	}
	/* Policy default: a user who has an APOP secret must use it (Qpopper).
	 * Only when APOP is actually offered, or the user could not log in.
	 * An unsafe database is refused here already (Qpopper's "[SYS/PERM]
	 * POP authentication DB has wrong mode"); other database trouble
	 * lets USER through and PASS reports it. */
	if (s->set->cleartext == CLEARTEXT_DEFAULT && cmd_apop_offered(s)) {
		bool has = false;
		enum auth_result r = auth_check_secret(&s->authcfg, name, &has);

		if (r == AUTH_PERMFAIL) {
			reply_err(s, RESP_SYS_PERM, PERMFAIL_TEXT);
			return;
		}
		if (r == AUTH_OK && has) {
			reply_err(s, RESP_AUTH,
				  "You must use stronger authentication such as AUTH or APOP to connect to this server.");
			return;
		}
	}
	memcpy(s->pending_user, name, sizeof(name));
	reply_ok(s, "Password required for %s.", name);
	session_set_state(s, STATE_AUTH2);
}

void cmd_pass(struct session *s, const struct cmd_call *c)
{
	struct auth_user u;
	char reason[256] = "";
	char user[USERNAME_MAX + 1];
	enum auth_result r;

	if (s->kpop_user[0] != '\0') {
		cmd_kpop_pass(s, c);   /* cmd_sasl.c: Kerberos proved the user */
		return;
	}
	memcpy(user, s->pending_user, sizeof(user));
	memset(&u, 0, sizeof(u));
	r = auth_verify_plain(&s->authcfg, user, c->argv[0], &u, reason, sizeof(reason));
	if (r == AUTH_OK) {
		session_login(s, &u, "PASS");
		return;
	}
	auth_failed(s, "PASS", user, r, result_kind(r), reason);
}

static bool digest_format_ok(const char *d)
{
	size_t i;

	for (i = 0; d[i] != '\0'; i++) {
		char ch = d[i];
		/* RFC 1939 §7: lower-case hex; anything else is malformed. */
		if (i >= APOP_DIGEST_HEX_LEN ||
		    !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return false;
	}
	return i == APOP_DIGEST_HEX_LEN;
}

void cmd_apop(struct session *s, const struct cmd_call *c)
{
	struct auth_user u;
	char name[USERNAME_MAX + 1];
	char reason[256] = "";
	enum auth_result r;

	if (!cmd_apop_offered(s)) {
		reply_err(s, RESP_NONE, "APOP is not available on this server.");
		return;
	}
	/* A malformed name or digest is just another failed login: same
	 * delay, same reply. */
	if (!cmd_user_normalise(s->set, c->argv[0], name, sizeof(name))) {
		auth_failed(s, "APOP", c->argv[0], AUTH_FAIL, "invalid-user-name", "");
		return;
	}
	if (!digest_format_ok(c->argv[1])) {
		auth_failed(s, "APOP", name, AUTH_FAIL, "bad-digest-format", "");
		return;
	}
	memset(&u, 0, sizeof(u));
	r = auth_verify_apop(&s->authcfg, name, s->timestamp, c->argv[1], &u,
			     reason, sizeof(reason));
	if (r == AUTH_OK) {
		session_login(s, &u, "APOP");
		return;
	}
	auth_failed(s, "APOP", name, r, result_kind(r), reason);
}

void cmd_quit(struct session *s, const struct cmd_call *c)
{
	(void)c;
	/* Only QUIT from TRANSACTION enters UPDATE (RFC 1939 §6). */
	if (s->state == STATE_TRANS) {
		session_update(s);
		return;
	}
	reply_ok(s, "Pop server at %s signing off.", s->p->local_host);
	session_set_state(s, STATE_END);
}

void cmd_capa(struct session *s, const struct cmd_call *c)
{
	const struct settings *set = s->set;

	(void)c;
	reply_ok(s, "Capability list follows.");
	reply_line(s, "TOP");
	cmd_sasl_capa(s);   /* "SASL ..." (cmd_sasl.c), in Qpopper's place */
	if (s->cleartext_ok)
		reply_line(s, "USER");
	if (set->announce_login_delay >= 0)
		reply_line(s, "LOGIN-DELAY %ld", set->announce_login_delay);
	/* auto-delete removes what was retrieved: that is "EXPIRE 0". */
	if (set->auto_delete)
		reply_line(s, "EXPIRE 0");
	else if (set->announce_expire >= 0)
		reply_line(s, "EXPIRE %ld", set->announce_expire);
	else
		reply_line(s, "EXPIRE NEVER");
	reply_line(s, "UIDL");
	reply_line(s, "RESP-CODES");
	reply_line(s, "AUTH-RESP-CODE");
	/* netio answers buffered commands in order (RFC 2449 §6.6). */
	reply_line(s, "PIPELINING");
	/* RFC 2595 §4: STLS only while it can still be used. */
	if (set->tls_support == TLS_SUPPORT_STLS && set->tls != NULL && s->tls == NULL)
		reply_line(s, "STLS");
	if (!set->shy || s->state == STATE_TRANS)
		reply_line(s, "IMPLEMENTATION popper-%s", PACKAGE_VERSION);
	reply_line(s, ".");
}

void cmd_xtnd_unsupported(struct session *s, const struct cmd_call *c)
{
	(void)c;
	reply_err(s, RESP_NONE, "XTND is not supported by this server.");
}
