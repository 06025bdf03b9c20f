/*
 * cmd_auth: the AUTHORIZATION-state handlers for a user name and a password
 * or an APOP digest: USER, PASS, APOP (RFC 1939).  AUTH is in cmd_sasl.c,
 * STLS in cmd_stls.c, Kerberos KPOP in cmd_kpop.c, QUIT and CAPA in
 * cmd_any.c.
 *
 * Runs in the pre-auth process.  The engine (server/commands.c) has already
 * checked state and arity.  The auth monitor (server/authclient.h) checks
 * the credentials; its answer goes down to the login module
 * (server/login.c, login_answered): a success becomes the login, every
 * failure the one failed-login reply, with the same delay and the same
 * words for all of them.
 */
#include "config.h"

#include <string.h>

#include "lib/username.h"
#include "server/authclient.h"
#include "server/commands.h"
#include "server/login.h"
#include "server/policy.h"


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
		struct ac_answer a;
		int rc = ac_user_check(s, name, &a);

		if (rc != 0 || a.status == AMS_VIOLATION) {
			login_answered(s, rc, &a);
			return;
		}
		if (a.status == AMS_PERMFAIL) {
			reply_err(s, RESP_SYS_PERM, LOGIN_PERMFAIL_TEXT);
			return;
		}
	}
	reply_ok(s, "Password required for %s.", name);
	engine_user_accepted(s, name);
}

void cmd_pass(struct session *s, const struct cmd_call *c)
{
	struct ac_answer a;
	int rc;

	/* The monitor checks the password; under policy default a user who
	 * has an APOP secret is refused there, after the password was
	 * checked like any other, so it reads and lasts like a wrong one
	 * (Qpopper said so at USER, which told anyone which names hold a
	 * secret). */
	rc = ac_plain(s, s->pending_user, c->argv[0], &a);
	login_answered(s, rc, &a);
}

void cmd_apop(struct session *s, const struct cmd_call *c)
{
	char name[USERNAME_MAX + 1];
	struct ac_answer a;
	int rc;

	if (!policy_apop_offered(s)) {
		reply_err(s, RESP_NONE, "APOP is not available on this server.");
		return;
	}
	/* A malformed name or digest is just another failed login: same
	 * delay, same reply. */
	if (!policy_user_normalise(s->set, c->argv[0], name, sizeof(name))) {
		login_failed(s, "APOP", c->argv[0], "invalid-user-name");
		return;
	}
	if (!policy_apop_digest_valid(c->argv[1])) {
		login_failed(s, "APOP", name, "bad-digest-format");
		return;
	}
	rc = ac_apop(s, name, c->argv[1], &a);
	login_answered(s, rc, &a);
}
