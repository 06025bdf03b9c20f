/*
 * cmd_kpop: the session's side of Kerberos KPOP (Qpopper's -k).  With
 * "kerberos" set, the connection starts with the krb5_recvauth handshake
 * before the greeting (auth/kpop.c does the Kerberos work); the mapped local
 * user then names itself with USER (anyone else is refused), and PASS with
 * any text completes the login, as fetchmail's "auth kerberos_v5" expects
 * ("PASS krb_ticket").  The command table sends USER and PASS here on such a
 * connection (its KPOP column); AUTH refuses itself (cmd_sasl.c).
 *
 * Runs as root (before login).  Failures go down to the login module like
 * every failed login.
 */
#include "config.h"

#include <string.h>

#include "auth/auth.h"
#include "lib/log.h"
#include "server/commands.h"
#include "server/login.h"
#include "server/policy.h"

/* The KPOP handshake's own deadline (the idle timeout applies if shorter). */
#define KPOP_HANDSHAKE_TIMEOUT 60

int cmd_kpop_start(struct session *s)
{
	char user[USERNAME_MAX + 1], principal[KPOP_PRINCIPAL_MAX + 1], reason[256] = "";
	char qprincipal[KPOP_PRINCIPAL_MAX * 4 + 8], qreason[512];
	unsigned timeout = s->set->timeout;

	if (timeout == 0 || timeout > KPOP_HANDSHAKE_TIMEOUT)
		timeout = KPOP_HANDSHAKE_TIMEOUT;
	if (kpop_handshake(s->p->fd_in, s->set->kerberos_service, s->set->kerberos_keytab,
			   timeout, user, sizeof(user), principal, sizeof(principal),
			   reason, sizeof(reason)) != 0) {
		/* The same fail2ban-safe line as every failed login (its own
		 * copy: a principal is longer than a user name, and nothing
		 * is said or delayed for a client that did not finish the
		 * handshake). */
		log_quote(principal, strlen(principal), qprincipal, sizeof(qprincipal));
		log_quote(reason, strlen(reason), qreason, sizeof(qreason));
		log_notice("authentication failed: client=%s method=KPOP user=\"%s\" reason=rejected "
			   "detail=\"%s\"", s->p->client_addr, qprincipal, qreason);
		return -1;
	}
	memcpy(s->kpop_user, user, strlen(user) + 1);
	log_quote(principal, strlen(principal), qprincipal, sizeof(qprincipal));
	log_info("KPOP: client=%s principal=\"%s\" user=%s", s->p->client_addr, qprincipal, user);
	return 0;
}

void cmd_kpop_user(struct session *s, const struct cmd_call *c)
{
	char name[USERNAME_MAX + 1];

	if (!policy_user_normalise(s->set, c->argv[0], name, sizeof(name))) {
		reply_err(s, RESP_AUTH, "Invalid user name.");
		return;
	}
	if (strcmp(name, s->kpop_user) != 0) {
		/* Qpopper: "Wrong username supplied (<a> vs. <b>)"; here a
		 * failed login like any other.  The client knows its own
		 * principal, so nothing leaks either way. */
		login_failed(s, "KPOP", name, AUTH_FAIL, "rejected",
			     "USER is not the user the Kerberos principal maps to");
		return;
	}
	reply_ok(s, "%s is authenticated by Kerberos; PASS completes the login.", name);
	engine_user_accepted(s, name);
}

void cmd_kpop_pass(struct session *s, const struct cmd_call *c)
{
	struct auth_user u;
	char reason[256] = "", user[USERNAME_MAX + 1];
	enum auth_result r;

	(void)c;   /* fetchmail sends "PASS krb_ticket": never looked at */
	memcpy(user, s->pending_user, sizeof(user));
	memset(&u, 0, sizeof(u));
	r = auth_finish_login(&s->authcfg, user, &u, reason, sizeof(reason));
	login_answer(s, "KPOP", user, r, &u, reason);
}
