/*
 * cmd_auth: the AUTHORIZATION-state handlers for a user name and a password
 * or an APOP digest: USER, PASS, APOP (RFC 1939).  AUTH is in cmd_sasl.c,
 * STLS in cmd_stls.c, Kerberos KPOP in cmd_kpop.c, QUIT and CAPA in
 * cmd_any.c.
 *
 * Runs as root (before login).  The engine (server/commands.c) has already
 * checked state and arity.  An answer from the auth layer goes down to the
 * login module (server/login.c, login_answer): a success becomes the login,
 * every failure the one failed-login sequence, which gives all of them the
 * same delay and the same words.
 */
#include "config.h"

#include <string.h>

#include "lib/username.h"
#include "server/commands.h"
#include "server/login.h"
#include "server/policy.h"

/* An APOP digest: MD5 in hex (RFC 1939 §7). */
#define APOP_DIGEST_HEX_LEN 32

void cmd_user(struct session *s, const struct cmd_call *c)
{
	char name[USERNAME_MAX + 1];

	if (!s->cleartext_ok) {
		policy_refuse_cleartext(s);
		return;
	}
	if (!policy_user_normalise(s->set, c->argv[0], name, sizeof(name))) {
		reply_err(s, RESP_AUTH, "Invalid user name.");
		return;
	}
	/* An unsafe database is refused here already (Qpopper's "[SYS/PERM]
	 * POP authentication DB has wrong mode"): a global fault, the same
	 * answer for every name.  Whether this user may use USER/PASS at all
	 * waits until PASS (see there), so USER answers every name alike. */
	if (policy_secret_users_refused(s)) {
		bool has = false;

		if (auth_check_secret(&s->authcfg, name, &has) == AUTH_PERMFAIL) {
			reply_err(s, RESP_SYS_PERM, LOGIN_PERMFAIL_TEXT);
			return;
		}
	}
	reply_ok(s, "Password required for %s.", name);
	engine_user_accepted(s, name);
}

void cmd_pass(struct session *s, const struct cmd_call *c)
{
	struct auth_user u;
	char reason[256] = "";
	char user[USERNAME_MAX + 1];
	enum auth_result r;
	bool has = false;
	bool refused = policy_secret_users_refused(s) &&
		auth_check_secret(&s->authcfg, s->pending_user, &has) == AUTH_OK && has;

	memcpy(user, s->pending_user, sizeof(user));
	memset(&u, 0, sizeof(u));
	/* Policy default: a user who has an APOP secret must use it (Qpopper).
	 * Qpopper said so at USER, which told anyone which names hold a
	 * secret; here it is one more failed login, after the password was
	 * checked like any other, so it reads and lasts like a wrong one. */
	r = auth_verify_plain(&s->authcfg, user, c->argv[0], &u, reason, sizeof(reason));
	if (refused) {
		login_failed(s, "PASS", user, AUTH_FAIL, "stronger-auth-required",
			     "the user has a stored secret: clear-text-password default "
			     "refuses USER/PASS");
		return;
	}
	login_answer(s, "PASS", user, r, &u, reason);
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

	if (!policy_apop_offered(s)) {
		reply_err(s, RESP_NONE, "APOP is not available on this server.");
		return;
	}
	/* A malformed name or digest is just another failed login: same
	 * delay, same reply. */
	if (!policy_user_normalise(s->set, c->argv[0], name, sizeof(name))) {
		login_failed(s, "APOP", c->argv[0], AUTH_FAIL, "invalid-user-name", "");
		return;
	}
	if (!digest_format_ok(c->argv[1])) {
		login_failed(s, "APOP", name, AUTH_FAIL, "bad-digest-format", "");
		return;
	}
	memset(&u, 0, sizeof(u));
	r = auth_verify_apop(&s->authcfg, name, s->timestamp, c->argv[1], &u,
			     reason, sizeof(reason));
	login_answer(s, "APOP", name, r, &u, reason);
}
