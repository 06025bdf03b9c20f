/*
 * cmd_sasl: the AUTH command (RFC 5034) and the SASL line of CAPA.
 * auth/sasl.c hides the SASL library behind a start/step object; this file
 * speaks the protocol around it.
 *
 * Runs as root (before login).  The AUTH exchange:
 *   C: AUTH MECH [initial-response | =]      ("=": an empty one)
 *   S: + base64-challenge                    (as many rounds as the mechanism needs)
 *   C: base64-response | *                   ("*" cancels: -ERR)
 *   S: +OK ... (the login reply) | -ERR ...
 * A bare "AUTH" lists the mechanisms (not in RFC 5034; Outlook sends it).
 * While the exchange runs, a longer line is accepted (GSSAPI tokens); the
 * limit goes back to the normal one before anything else is read.  Every
 * failure -- wrong proof, unknown user, malformed base64, an over-long
 * response, too many rounds -- goes through the same delay, counting and
 * log line as a failed PASS (login_failed, server/login.c); a cancel or an
 * unknown mechanism is not an authentication attempt and is answered at once.
 * On a KPOP connection (cmd_kpop.c) AUTH is refused: Kerberos already
 * authenticated it.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth.h"
#include "lib/ctcompare.h"
#include "lib/log.h"
#include "server/commands.h"
#include "server/login.h"
#include "server/policy.h"

/* Longest base64 line of the exchange.  A Kerberos ticket with a Windows
 * PAC can make a GSSAPI token of about 12 KiB, 16 KiB in base64; twice
 * that leaves room.  Outside AUTH the limit is netio's 512. */
#define SASL_LINE_MAX (32 * 1024)
/* Decoded size of such a line. */
#define SASL_DATA_MAX (SASL_LINE_MAX / 4 * 3)
/* Rounds of challenge and response: GSSAPI needs three, SCRAM two; more
 * is a confused or hostile peer. */
#define SASL_ROUNDS_MAX 16

/* What auth/sasl.c needs to know about this connection, now. */
static void params_fill(const struct session *s, struct sasl_params *p)
{
	const struct settings *set = s->set;

	memset(p, 0, sizeof(*p));
	p->auth = &s->authcfg;
	p->service = set->kerberos_service != NULL ? set->kerberos_service : "pop";
	p->server_fqdn = s->p->local_host;
	p->tls_active = s->tls != NULL;
	/* The decision USER obeys (clear-text-password, TLS). */
	p->cleartext_ok = s->cleartext_ok;
	/* ... and what USER then refuses under policy "default". */
	p->cleartext_refuses_secret_users = policy_secret_users_refused(s);
	p->downcase_user = set->downcase_user;
	p->trim_domain = set->trim_domain;
	p->mechanisms = set->sasl_mechanisms;
	p->proxy_users = set->sasl_proxy_users;
	p->keytab = set->kerberos_keytab;
}

void cmd_sasl_capa(struct session *s)
{
	struct sasl_params p;
	char list[SASL_MECHLIST_MAX];

	/* Mechanisms only mean something before login; a KPOP connection is
	 * authenticated already. */
	if (!sasl_built() || s->state == STATE_TRANS || s->kpop_user[0] != '\0')
		return;
	params_fill(s, &p);
	if (sasl_mechanisms(&p, list, sizeof(list)) > 0)
		reply_line(s, "SASL %s", list);
}

#ifdef HAVE_SASL

/* One exchange's buffers (one session per process; wiped after use). */
static unsigned char sasl_data[SASL_DATA_MAX];

/* Bare AUTH: one mechanism per line (Outlook's probe). */
static void auth_list(struct session *s)
{
	struct sasl_params p;
	char list[SASL_MECHLIST_MAX], *save = NULL, *m;

	params_fill(s, &p);
	if (sasl_mechanisms(&p, list, sizeof(list)) < 0)
		list[0] = '\0';
	reply_ok(s, "Supported SASL mechanisms:");
	for (m = strtok_r(list, " ", &save); m != NULL; m = strtok_r(NULL, " ", &save))
		reply_line(s, "%s", m);
	reply_line(s, ".");
}

/* "+ base64" (or "+ " for an empty challenge).  Challenges can be longer
 * than a reply line (GSSAPI tokens), so this writes past reply_line. */
static int send_challenge(struct session *s, const unsigned char *c, size_t len)
{
	size_t need = sasl_b64_encoded_size(len);
	char *line;
	long n;
	int rc;

	if (need > SASL_LINE_MAX + 1)
		return -1;
	line = malloc(need + 4);
	if (line == NULL)
		return -1;
	line[0] = '+';
	line[1] = ' ';
	n = sasl_b64_encode(c, len, line + 2, need);
	if (n < 0) {
		free(line);
		return -1;
	}
	memcpy(line + 2 + n, "\r\n", 2);
	rc = netio_write(s->io, line, (size_t)n + 4);
	free(line);
	return rc;
}

enum read_outcome { READ_DATA, READ_CANCEL, READ_BAD, READ_TOO_LONG, READ_GONE };

/* Reads one response line of the exchange and decodes it into sasl_data.
 * READ_GONE: the session is over (EOF, error, timeout, signal; replied
 * and state set as the main loop would). */
static enum read_outcome read_response(struct session *s, size_t *len_r)
{
	enum netio_status ns;
	char *line;
	size_t len;
	long n;

	*len_r = 0;
	for (;;) {
		if (engine_stop_signal() != 0)
			return READ_GONE;   /* the main loop says goodbye */
		ns = netio_read_line(s->io, &line, &len, s->timeout_ms);
		if (ns == NETIO_ERROR && errno == EINTR)
			continue;
		break;
	}
	engine_line_arrived(s);
	switch (ns) {
	case NETIO_LINE:
		break;
	case NETIO_TOO_LONG:
		return READ_TOO_LONG;
	case NETIO_TIMEOUT:
		log_notice("timeout after %u seconds: client=%s user=(none)", s->set->timeout,
			   s->p->client_addr);
		reply_err(s, RESP_NONE, "Timeout; closing connection.");
		engine_end(s);
		return READ_GONE;
	case NETIO_EOF:
		log_info("client closed the connection during AUTH: client=%s", s->p->client_addr);
		engine_end(s);
		return READ_GONE;
	case NETIO_ERROR:
		log_notice("connection error during AUTH: client=%s: %s", s->p->client_addr,
			   strerror(errno));
		engine_end(s);
		return READ_GONE;
	}
	/* RFC 5034 section 4: a lone "*" cancels. */
	if (len == 1 && line[0] == '*')
		return READ_CANCEL;
	n = sasl_b64_decode(line, len, sasl_data, sizeof(sasl_data));
	ct_wipe(line, len);
	if (n < 0)
		return READ_BAD;
	*len_r = (size_t)n;
	return READ_DATA;
}

/* The method token of the log lines: "AUTH-" and the library's name of the
 * mechanism (ours, never client text). */
static const char *method_name(const struct sasl_session *ss)
{
	static char method[sizeof("AUTH-") + SASL_MECH_NAME_MAX];

	snprintf(method, sizeof(method), "AUTH-%s", sasl_session_mech(ss));
	return method;
}

static enum auth_result auth_result_of(enum sasl_status st)
{
	return st == SASL_S_TEMPFAIL ? AUTH_TEMPFAIL : st == SASL_S_PERMFAIL ? AUTH_PERMFAIL : AUTH_FAIL;
}

/* Runs the exchange to its end: login, or one failure reply. */
static void run_exchange(struct session *s, struct sasl_session *ss, const char *mech,
			 const unsigned char *initial, size_t initial_len)
{
	const unsigned char *chal = NULL;
	size_t chal_len = 0, len;
	enum sasl_status st;
	struct auth_user u;
	unsigned rounds = 0;
	const char *kind = NULL;

	st = sasl_session_start(ss, mech, initial, initial_len, &chal, &chal_len);
	while (st == SASL_S_CONTINUE) {
		if (++rounds > SASL_ROUNDS_MAX) {
			kind = "too-many-rounds";
			break;
		}
		if (send_challenge(s, chal, chal_len) != 0) {
			st = SASL_S_TEMPFAIL;
			kind = "temporary";
			break;
		}
		switch (read_response(s, &len)) {
		case READ_DATA:
			st = sasl_session_step(ss, sasl_data, len, &chal, &chal_len);
			ct_wipe(sasl_data, len);
			continue;
		case READ_CANCEL:
			log_info("AUTH %s cancelled by the client: client=%s", sasl_session_mech(ss),
				 s->p->client_addr);
			reply_err(s, RESP_NONE, "Authentication cancelled.");
			return;
		case READ_BAD:
			kind = "bad-base64";
			break;
		case READ_TOO_LONG:
			kind = "response-too-long";
			break;
		case READ_GONE:
			return;
		}
		break;
	}
	if (kind == NULL && st == SASL_S_NOMECH) {
		reply_err(s, RESP_NONE, "Unsupported authentication mechanism.");
		return;
	}
	if (kind == NULL && st == SASL_S_OK) {
		u = *sasl_session_user(ss);
		netio_set_max_line(s->io, 0);
		login_complete(s, &u, method_name(ss));
		ct_wipe(&u, sizeof(u));
		return;
	}
	netio_set_max_line(s->io, 0);
	login_failed(s, method_name(ss), sasl_session_authid(ss), auth_result_of(st), kind,
		     sasl_session_reason(ss));
}

void cmd_auth(struct session *s, const struct cmd_call *c)
{
	struct sasl_params p;
	struct sasl_session *ss;
	char reason[256] = "";
	const unsigned char *initial = NULL;
	size_t initial_len = 0;

	if (s->kpop_user[0] != '\0') {
		reply_err(s, RESP_NONE, "This connection is authenticated by Kerberos; use USER.");
		return;
	}
	if (c->argc == 0) {
		auth_list(s);
		return;
	}
	/* The mechanisms that carry the password follow the clear-text
	 * policy, with USER's words (they are not announced either). */
	if (!s->cleartext_ok &&
	    (strcasecmp(c->argv[0], "PLAIN") == 0 || strcasecmp(c->argv[0], "LOGIN") == 0)) {
		policy_refuse_cleartext(s);
		return;
	}
	/* The initial response: "=" is an empty one (RFC 5034 section 4). */
	if (c->argc == 2) {
		if (strcmp(c->argv[1], "=") == 0) {
			initial = sasl_data;
		} else {
			long n = sasl_b64_decode(c->argv[1], strlen(c->argv[1]), sasl_data,
						 sizeof(sasl_data));

			if (n < 0) {
				login_failed(s, "AUTH", "", AUTH_FAIL, "bad-base64",
					     "malformed initial response");
				return;
			}
			initial = sasl_data;
			initial_len = (size_t)n;
		}
	}
	params_fill(s, &p);
	ss = sasl_session_create(&p, reason, sizeof(reason));
	if (ss == NULL) {
		log_error("AUTH: %s", reason);
		reply_err(s, RESP_SYS_TEMP, "Authentication is temporarily unavailable.");
		return;
	}
	netio_set_max_line(s->io, SASL_LINE_MAX);
	run_exchange(s, ss, c->argv[0], initial, initial_len);
	/* Back to the normal limit before the next command is read, whatever
	 * happened. */
	netio_set_max_line(s->io, 0);
	sasl_session_destroy(ss);
	ct_wipe(sasl_data, sizeof(sasl_data));
}

#else /* !HAVE_SASL */

void cmd_auth(struct session *s, const struct cmd_call *c)
{
	(void)c;
	reply_err(s, RESP_NONE, "AUTH is not supported by this server.");
}

#endif /* HAVE_SASL */
