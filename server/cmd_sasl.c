/*
 * cmd_sasl: the AUTH command (RFC 5034) and the SASL line of CAPA.
 * auth/sasl.c hides the SASL library behind a start/step object; this file
 * speaks the protocol around it.
 *
 * Runs in the pre-auth process; the SASL library, its state and the
 * secrets are in the auth monitor (server/authmon.c).  The AUTH exchange:
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
#include "server/authclient.h"
#include "server/commands.h"
#include "server/login.h"
#include "server/policy.h"

/* Longest base64 line of the exchange.  A Kerberos ticket with a Windows
 * PAC can make a GSSAPI token of about 12 KiB, 16 KiB in base64; twice
 * that leaves room.  Outside AUTH the limit is netio's 512. */
#define SASL_LINE_MAX (32 * 1024)
/* Decoded size of such a line. */
#define SASL_DATA_MAX (SASL_LINE_MAX / 4 * 3)

/* The mechanisms offered now, as the monitor (which holds the library)
 * says: into list, "" when none. */
static void mechanisms(struct session *s, char *list, size_t size)
{
	struct ac_answer a;

	list[0] = '\0';
	if (ac_sasl_mechs(s, &a) != 0 || a.status != AMS_OK || a.len >= size)
		return;
	memcpy(list, a.data, a.len);
	list[a.len] = '\0';
}

void cmd_sasl_capa(struct session *s)
{
	char list[SASL_MECHLIST_MAX];

	/* Mechanisms only mean something before login; a KPOP connection is
	 * authenticated already. */
	if (!sasl_built() || s->state == STATE_TRANS || s->kpop_user[0] != '\0')
		return;
	mechanisms(s, list, sizeof(list));
	if (list[0] != '\0')
		reply_line(s, "SASL %s", list);
}

#ifdef HAVE_SASL

/* One exchange's buffers (one session per process; wiped after use). */
static unsigned char sasl_data[SASL_DATA_MAX];

/* Bare AUTH: one mechanism per line (Outlook's probe). */
static void auth_list(struct session *s)
{
	char list[SASL_MECHLIST_MAX], *save = NULL, *m;

	mechanisms(s, list, sizeof(list));
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

/* Runs the exchange to its end: login, or one failure reply.  The
 * monitor holds the library's state; here only the protocol: challenges
 * out, responses in, base64 both ways. */
static void run_exchange(struct session *s, int rc, struct ac_answer *a)
{
	size_t len;
	const char *kind;

	while (rc == 0 && a->status == AMS_CONTINUE) {
		if (send_challenge(s, a->data, a->len) != 0) {
			engine_end(s);
			return;
		}
		kind = NULL;
		switch (read_response(s, &len)) {
		case READ_DATA:
			rc = ac_sasl_step(s, sasl_data, len, a);
			ct_wipe(sasl_data, len);
			continue;
		case READ_CANCEL:
			rc = ac_sasl_cancel(s, a);
			if (rc == 0 && a->status == AMS_CANCELLED) {
				reply_err(s, RESP_NONE, "Authentication cancelled.");
				return;
			}
			break;
		case READ_BAD:
			kind = "bad-base64";
			break;
		case READ_TOO_LONG:
			kind = "response-too-long";
			break;
		case READ_GONE:
			return;
		}
		netio_set_max_line(s->io, 0);
		if (kind != NULL)
			login_failed(s, "AUTH", "", kind);
		else
			login_answered(s, rc, a);
		return;
	}
	netio_set_max_line(s->io, 0);
	if (rc == 0 && a->status == AMS_NOMECH) {
		reply_err(s, RESP_NONE, "Unsupported authentication mechanism.");
		return;
	}
	login_answered(s, rc, a);
}

void cmd_auth(struct session *s, const struct cmd_call *c)
{
	const unsigned char *initial = NULL;
	size_t initial_len = 0;
	struct ac_answer a;
	int rc;

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
	if (strlen(c->argv[0]) > SASL_MECH_NAME_MAX) {
		reply_err(s, RESP_NONE, "Unsupported authentication mechanism.");
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
				login_failed(s, "AUTH", "", "bad-base64");
				return;
			}
			initial = sasl_data;
			initial_len = (size_t)n;
		}
	}
	netio_set_max_line(s->io, SASL_LINE_MAX);
	rc = ac_sasl_start(s, c->argv[0], initial, initial_len, &a);
	ct_wipe(sasl_data, initial_len);
	run_exchange(s, rc, &a);
	/* Back to the normal limit before the next command is read, whatever
	 * happened. */
	netio_set_max_line(s->io, 0);
	ct_wipe(sasl_data, sizeof(sasl_data));
}

#else /* !HAVE_SASL */

void cmd_auth(struct session *s, const struct cmd_call *c)
{
	(void)c;
	reply_err(s, RESP_NONE, "AUTH is not supported by this server.");
}

#endif /* HAVE_SASL */
