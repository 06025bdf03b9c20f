/*
 * cmd_any: the commands valid in every state before UPDATE: QUIT and CAPA
 * (RFC 2449).  QUIT in TRANSACTION hands over to the login module's UPDATE
 * (server/login.c); elsewhere it just says goodbye.
 *
 * Runs as root before login, as the user after.  The engine
 * (server/commands.c) has already checked state and arity.
 */
#include "config.h"

#include "server/commands.h"
#include "server/login.h"

void cmd_quit(struct session *s, const struct cmd_call *c)
{
	(void)c;
	/* Only QUIT from TRANSACTION enters UPDATE (RFC 1939 §6). */
	if (s->state == STATE_TRANS) {
		login_update(s);
		return;
	}
	reply_ok(s, "Pop server at %s signing off.", s->p->local_host);
	engine_end(s);
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
	if (set->tls_support == TLS_SUPPORT_STLS && set->tls != NULL && s->tls == NULL &&
	    !s->tls_proxied)
		reply_line(s, "STLS");
	if (!set->shy || s->state == STATE_TRANS)
		reply_line(s, "IMPLEMENTATION popper-%s", PACKAGE_VERSION);
	reply_line(s, ".");
}
