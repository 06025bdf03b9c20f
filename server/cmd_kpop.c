/*
 * cmd_kpop: the session's side of Kerberos KPOP (Qpopper's -k).  With
 * "kerberos" set, the connection starts with the krb5_recvauth handshake
 * before the greeting (auth/kpop.c does the Kerberos work); the mapped local
 * user then names itself with USER (anyone else is refused), and PASS with
 * any text completes the login, as fetchmail's "auth kerberos_v5" expects
 * ("PASS krb_ticket").  The command table sends USER and PASS here on such a
 * connection (its KPOP column); AUTH refuses itself (cmd_sasl.c).
 *
 * Runs in the pre-auth process.  Failures go down to the login module
 * like every failed login.
 */
#include "config.h"

#include <string.h>

#include "auth/auth.h"
#include "server/authclient.h"
#include "lib/log.h"
#include "server/commands.h"
#include "server/login.h"
#include "server/policy.h"

int cmd_kpop_start(struct session *s)
{
	struct authmon *m = ac_inprocess_monitor(s);
	struct ac_answer a;

	/* Forked: krb5 runs in the monitor, which holds the keytab; this
	 * process only relays the handshake's bytes.  In-process: right
	 * here, on the connection. */
	if (m != NULL)
		(void)authmon_kpop_handshake(m, s->p->fd_in);
	else
		ac_kpop_relay(s);
	if (ac_kpop_result(s, &a) != 0 || a.status != AMS_OK || a.len == 0 ||
	    a.len >= sizeof(s->kpop_user))
		return -1;
	memcpy(s->kpop_user, a.data, a.len);
	s->kpop_user[a.len] = '\0';
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
		login_failed(s, "KPOP", name, "rejected");
		return;
	}
	reply_ok(s, "%s is authenticated by Kerberos; PASS completes the login.", name);
	engine_user_accepted(s, name);
}

void cmd_kpop_pass(struct session *s, const struct cmd_call *c)
{
	struct ac_answer a;
	int rc;

	(void)c;   /* fetchmail sends "PASS krb_ticket": never looked at */
	rc = ac_kpop_pass(s, s->pending_user, &a);
	login_answered(s, rc, &a);
}
