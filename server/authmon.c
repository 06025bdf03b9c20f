/*
 * authmon: the auth monitor's request table and handlers (see authmon.h).
 * The forked mode's process handling is in authmon_run.c.
 *
 * Reading order: the table (what may come when, how long each field may
 * be), authmon_serve (the checks every request passes), then the handlers,
 * each the privileged half of what a command handler did before the split
 * (server/cmd_auth.c, cmd_sasl.c, cmd_kpop.c keep the protocol half).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth/auth.h"
#include "lib/ctcompare.h"
#include "lib/log.h"
#include "lib/username.h"
#include "server/authmon.h"
#include "server/engine.h"
#include "server/login.h"
#include "server/penalty.h"
#include "server/policy.h"

#define S_KPOP_WAIT (1u << AM_KPOP_WAIT)
#define S_PRE (1u << AM_PRE)
#define S_SASL (1u << AM_SASL)
#define S_AUTHED (1u << AM_AUTHED)

/* What a client can send: a name is at most USERNAME_MAX, a password the
 * rest of a 512-octet line, an APOP digest 32 hex digits, a SASL token
 * what a 32 KiB base64 line decodes to (server/cmd_sasl.c). */
#define F_NAME USERNAME_MAX
#define F_PASSWORD NETIO_MAX_LINE
#define F_DIGEST POLICY_APOP_DIGEST_LEN
#define F_MECH SASL_MECH_NAME_MAX
#define F_TOKEN (32 * 1024 / 4 * 3)
#define F_FLAG 1
#define F_KIND 32
#define F_LEFTOVER (PM_MSG_MAX - 64)
/* Rounds of challenge and response: GSSAPI needs three, SCRAM two; more
 * is a confused or hostile peer. */
#define SASL_ROUNDS_MAX 16

struct am_request;
typedef void am_handler(struct authmon *m, const struct pm_msg *req);

struct am_request {
	enum pm_type type;
	const char *name;          /* for the log */
	unsigned states;           /* S_* where it is allowed */
	unsigned nfields;          /* exactly this many */
	size_t max[PM_FIELDS_MAX]; /* longest value of each */
	unsigned max_fds;
	am_handler *handler;
};

static am_handler h_user_check, h_plain, h_apop, h_sasl_mechs, h_sasl_start, h_sasl_step,
	h_sasl_cancel, h_failed, h_kpop_result, h_kpop_pass, h_handover;

static const struct am_request requests[] = {
	{ PM_USER_CHECK, "USER_CHECK", S_PRE, 1, { F_NAME }, 0, h_user_check },
	{ PM_PLAIN, "PLAIN", S_PRE, 3, { F_NAME, F_PASSWORD, F_FLAG }, 0, h_plain },
	{ PM_APOP, "APOP", S_PRE, 2, { F_NAME, F_DIGEST }, 0, h_apop },
	{ PM_SASL_MECHS, "SASL_MECHS", S_PRE, 1, { F_FLAG }, 0, h_sasl_mechs },
	{ PM_SASL_START, "SASL_START", S_PRE, 4, { F_MECH, F_FLAG, F_FLAG, F_TOKEN }, 0,
	  h_sasl_start },
	{ PM_SASL_STEP, "SASL_STEP", S_SASL, 1, { F_TOKEN }, 0, h_sasl_step },
	{ PM_SASL_CANCEL, "SASL_CANCEL", S_SASL, 0, { 0 }, 0, h_sasl_cancel },
	{ PM_FAILED, "FAILED", S_PRE | S_SASL, 3, { AM_METHOD_MAX, NETIO_MAX_LINE, F_KIND }, 0,
	  h_failed },
	{ PM_KPOP_RESULT, "KPOP_RESULT", S_KPOP_WAIT, 0, { 0 }, 0, h_kpop_result },
	{ PM_KPOP_PASS, "KPOP_PASS", S_PRE, 1, { F_NAME }, 0, h_kpop_pass },
	{ PM_HANDOVER, "HANDOVER", S_AUTHED, 2, { F_FLAG, F_LEFTOVER }, PM_FDS_MAX, h_handover },
};

/* The answer being built (one request at a time per process). */
static struct {
	unsigned char status, flags;
} answer;

static void answer_set(enum am_status st, bool end)
{
	answer.status = (unsigned char)st;
	answer.flags = end ? AMF_END : 0;
}

static enum am_status status_of(enum auth_result r)
{
	return r == AUTH_OK ? AMS_OK : r == AUTH_TEMPFAIL ? AMS_TEMPFAIL :
	       r == AUTH_PERMFAIL ? AMS_PERMFAIL : AMS_FAIL;
}

static const char *result_kind(enum auth_result r)
{
	return r == AUTH_TEMPFAIL ? "temporary" : r == AUTH_PERMFAIL ? "unavailable" : "rejected";
}

void authmon_init(struct authmon *m, struct session *s)
{
	memset(m, 0, sizeof(*m));
	m->s = s;
	m->kpop = s->set->kerberos;
	m->state = m->kpop ? AM_KPOP_WAIT : AM_PRE;
}

static void sasl_end(struct authmon *m)
{
	if (m->ss != NULL) {
		sasl_session_destroy(m->ss);
		m->ss = NULL;
	}
	m->sasl_rounds = 0;
}

void authmon_clear(struct authmon *m)
{
	sasl_end(m);
	ct_wipe(m->data, sizeof(m->data));
}

/*
 * Every failed login: one fail2ban-safe log line, the count, the delay
 * (counted from the arrival of the request that carried the credential, so
 * what the check cost does not show), and the end after max-auth-failures.
 * Here and not in the pre-auth process, so that no bug there can make
 * guessing faster.  The reply text is the pre-auth process's (login.c).
 */
static void failed(struct authmon *m, const char *method, const char *user,
		   enum auth_result r, const char *kind, const char *detail)
{
	struct session *s = m->s;
	char quser[NETIO_MAX_LINE * 4 + 8], qdetail[256];
	unsigned max = s->set->max_auth_failures, extra;
	bool end;

	if (kind == NULL)
		kind = result_kind(r);
	log_quote(user, strlen(user), quser, sizeof(quser));
	log_quote(detail, strlen(detail), qdetail, sizeof(qdetail));
	/* The client address comes first and is numeric (ours, not the
	 * client's text), so a fail2ban filter can anchor on it. */
	log_notice("authentication failed: client=%s method=%s user=\"%s\" reason=%s detail=\"%s\"",
		   s->p->client_addr, method, quser, kind, qdetail);
	m->failures++;
	/* 0 would mean "unlimited"; we never allow that. */
	if (max == 0)
		max = 1;
	end = m->failures >= max;
	/* Standalone: the address's earlier failed logins, in any session of
	 * the daemon, add their penalty; a rejected credential counts for the
	 * next (server/penalty.h).  A backend that could not answer is not
	 * the client's guess. */
	extra = penalty_extra_delay(s->p->penalty, s->p->client_addr);
	if (r == AUTH_FAIL)
		penalty_note_failure(s->p->penalty, s->p->client_addr);
	s->t_line = m->t_request;
	(void)engine_sleep_after_line(s, s->set->auth_failure_delay + extra);
	if (end) {
		log_notice("too many authentication failures: client=%s failures=%u",
			   s->p->client_addr, m->failures);
		m->state = AM_DONE;
	}
	answer_set(status_of(r == AUTH_OK ? AUTH_FAIL : r), end);
}

/* A login this monitor decided: only the hand-over may follow. */
static void succeeded(struct authmon *m, const struct auth_user *u, const char *method)
{
	/* The credential was right: the address's failures are forgiven. */
	penalty_note_success(m->s->p->penalty, m->s->p->client_addr);
	m->user = *u;
	if (method != m->method)
		snprintf(m->method, sizeof(m->method), "%s", method);
	m->state = AM_AUTHED;
	answer_set(AMS_OK, false);
}

static void answer_auth(struct authmon *m, const char *method, const char *user,
			enum auth_result r, const struct auth_user *u, const char *detail)
{
	if (r == AUTH_OK)
		succeeded(m, u, method);
	else
		failed(m, method, user, r, NULL, detail);
}

/* ---- the handlers ---- */

static void h_user_check(struct authmon *m, const struct pm_msg *req)
{
	char name[USERNAME_MAX + 1];
	bool has = false;

	/* USER's one question for the database: is it safe to use at all
	 * (the same answer for every name). */
	if (!pm_field_str(req, 0, name, sizeof(name)) || !username_valid(name)) {
		answer_set(AMS_FAIL, false);
		return;
	}
	if (policy_secret_users_refused(m->s) &&
	    auth_check_secret(&m->s->authcfg, name, &has) == AUTH_PERMFAIL)
		answer_set(AMS_PERMFAIL, false);
	else
		answer_set(AMS_OK, false);
}

static void h_plain(struct authmon *m, const struct pm_msg *req)
{
	struct session *s = m->s;
	char name[USERNAME_MAX + 1], password[NETIO_MAX_LINE + 1], reason[256] = "";
	struct auth_user u;
	enum auth_result r;
	unsigned char tls = 0;
	bool has = false, refused;

	(void)pm_field_byte(req, 2, &tls);
	if (!pm_field_str(req, 0, name, sizeof(name)) ||
	    !pm_field_str(req, 1, password, sizeof(password))) {
		failed(m, "PASS", "", AUTH_FAIL, "invalid-user-name", "");
		return;
	}
	if (!s->cleartext_ok && !(tls != 0 && s->set->cleartext == CLEARTEXT_TLS)) {
		/* The pre-auth process refuses USER on such a connection; a
		 * PASS that gets here anyway is not from our engine.  (The TLS
		 * flag is that process's word, as for SASL below.) */
		ct_wipe(password, sizeof(password));
		failed(m, "PASS", name, AUTH_FAIL, "cleartext-refused", "");
		return;
	}
	refused = policy_secret_users_refused(s) &&
		  auth_check_secret(&s->authcfg, name, &has) == AUTH_OK && has;
	memset(&u, 0, sizeof(u));
	/* Policy default: a user who has an APOP secret must use it (Qpopper).
	 * The password is checked like any other first, so the refusal reads
	 * and lasts like a wrong one. */
	r = auth_verify_plain(&s->authcfg, name, password, &u, reason, sizeof(reason));
	ct_wipe(password, sizeof(password));
	if (refused)
		failed(m, "PASS", name, AUTH_FAIL, "stronger-auth-required",
		       "the user has a stored secret: clear-text-password default "
		       "refuses USER/PASS");
	else
		answer_auth(m, "PASS", name, r, &u, reason);
	ct_wipe(&u, sizeof(u));
}

static void h_apop(struct authmon *m, const struct pm_msg *req)
{
	struct session *s = m->s;
	char name[USERNAME_MAX + 1], digest[F_DIGEST + 1], reason[256] = "";
	struct auth_user u;
	enum auth_result r;

	if (!pm_field_str(req, 0, name, sizeof(name)) || !username_valid(name)) {
		failed(m, "APOP", "", AUTH_FAIL, "invalid-user-name", "");
		return;
	}
	if (!pm_field_str(req, 1, digest, sizeof(digest)) || !policy_apop_digest_valid(digest)) {
		failed(m, "APOP", name, AUTH_FAIL, "bad-digest-format", "");
		return;
	}
	if (!s->apop_offered) {
		failed(m, "APOP", name, AUTH_FAIL, "apop-not-offered", "");
		return;
	}
	memset(&u, 0, sizeof(u));
	/* The timestamp is the one this process made for the greeting: the
	 * pre-auth process cannot choose it, so no digest can be replayed. */
	r = auth_verify_apop(&s->authcfg, name, s->timestamp, digest, &u, reason, sizeof(reason));
	answer_auth(m, "APOP", name, r, &u, reason);
	ct_wipe(&u, sizeof(u));
}

/* What auth/sasl.c needs to know about this connection.  tls_active is
 * the pre-auth process's word: it only decides whether PLAIN and LOGIN
 * are offered under clear-text-password tls, a rule that protects the
 * password on the wire, which that process sees in any case. */
static void sasl_params_fill(const struct authmon *m, bool tls_active, struct sasl_params *p)
{
	const struct session *s = m->s;
	const struct settings *set = s->set;
	bool cleartext_ok = s->cleartext_ok || (tls_active && set->cleartext == CLEARTEXT_TLS);

	memset(p, 0, sizeof(*p));
	p->auth = &s->authcfg;
	p->service = set->kerberos_service != NULL ? set->kerberos_service : "pop";
	p->server_fqdn = s->p->local_host;
	p->tls_active = tls_active;
	p->cleartext_ok = cleartext_ok;
	p->cleartext_refuses_secret_users = policy_secret_users_refused(s);
	p->downcase_user = set->downcase_user;
	p->trim_domain = set->trim_domain;
	p->mechanisms = set->sasl_mechanisms;
	p->proxy_users = set->sasl_proxy_users;
	p->keytab = set->kerberos_keytab;
}

static void h_sasl_mechs(struct authmon *m, const struct pm_msg *req)
{
	struct sasl_params p;
	unsigned char tls = 0;
	char list[SASL_MECHLIST_MAX];

	(void)pm_field_byte(req, 0, &tls);
	list[0] = '\0';
	if (!m->kpop && sasl_built()) {
		sasl_params_fill(m, tls != 0, &p);
		if (sasl_mechanisms(&p, list, sizeof(list)) < 0)
			list[0] = '\0';
	}
	m->data_len = strlen(list);
	memcpy(m->data, list, m->data_len);
	answer_set(AMS_OK, false);
}

/* The method token of the log lines: "AUTH-" and the library's name of the
 * mechanism (ours, never client text). */
static void sasl_method(struct authmon *m)
{
	snprintf(m->method, sizeof(m->method), "AUTH-%s",
		 m->ss != NULL ? sasl_session_mech(m->ss) : "");
}

static enum auth_result auth_result_of(enum sasl_status st)
{
	return st == SASL_S_TEMPFAIL ? AUTH_TEMPFAIL : st == SASL_S_PERMFAIL ? AUTH_PERMFAIL : AUTH_FAIL;
}

/* One step's outcome: a challenge to send, the login, or the failure. */
static void sasl_outcome(struct authmon *m, enum sasl_status st, const unsigned char *chal,
			 size_t chal_len)
{
	char method[AM_METHOD_MAX], authid[NETIO_MAX_LINE + 1];

	sasl_method(m);
	if (st == SASL_S_CONTINUE && ++m->sasl_rounds <= SASL_ROUNDS_MAX &&
	    chal_len <= sizeof(m->data)) {
		memcpy(m->data, chal, chal_len);
		m->data_len = chal_len;
		m->state = AM_SASL;
		answer_set(AMS_CONTINUE, false);
		return;
	}
	if (st == SASL_S_NOMECH) {
		sasl_end(m);
		m->state = AM_PRE;
		answer_set(AMS_NOMECH, false);
		return;
	}
	if (st == SASL_S_OK) {
		struct auth_user u = *sasl_session_user(m->ss);

		sasl_end(m);
		succeeded(m, &u, m->method);
		ct_wipe(&u, sizeof(u));
		return;
	}
	snprintf(method, sizeof(method), "%s", m->method);
	snprintf(authid, sizeof(authid), "%s", sasl_session_authid(m->ss));
	m->state = AM_PRE;
	if (st == SASL_S_CONTINUE)
		failed(m, method, authid, AUTH_FAIL,
		       m->sasl_rounds > SASL_ROUNDS_MAX ? "too-many-rounds" : "temporary",
		       sasl_session_reason(m->ss));
	else
		failed(m, method, authid, auth_result_of(st), NULL, sasl_session_reason(m->ss));
	sasl_end(m);
}

static void h_sasl_start(struct authmon *m, const struct pm_msg *req)
{
	/* The library keeps a pointer to these for the whole exchange. */
	static struct sasl_params p;
	char mech[F_MECH + 1], reason[256] = "";
	unsigned char tls = 0, has_initial = 0;
	const unsigned char *chal = NULL;
	size_t chal_len = 0;
	enum sasl_status st;

	if (!pm_field_str(req, 0, mech, sizeof(mech)) || !pm_field_byte(req, 1, &tls) ||
	    !pm_field_byte(req, 2, &has_initial) || m->kpop) {
		answer_set(AMS_NOMECH, false);
		return;
	}
	sasl_params_fill(m, tls != 0, &p);
	m->ss = sasl_session_create(&p, reason, sizeof(reason));
	if (m->ss == NULL) {
		log_error("AUTH: %s", reason);
		answer_set(AMS_TEMPFAIL, false);
		return;
	}
	m->sasl_rounds = 0;
	st = sasl_session_start(m->ss, mech, has_initial ? req->f[3].p : NULL,
				has_initial ? req->f[3].len : 0, &chal, &chal_len);
	sasl_outcome(m, st, chal, chal_len);
}

static void h_sasl_step(struct authmon *m, const struct pm_msg *req)
{
	const unsigned char *chal = NULL;
	size_t chal_len = 0;
	enum sasl_status st;

	st = sasl_session_step(m->ss, req->f[0].p, req->f[0].len, &chal, &chal_len);
	sasl_outcome(m, st, chal, chal_len);
}

static void h_sasl_cancel(struct authmon *m, const struct pm_msg *req)
{
	(void)req;
	log_info("AUTH %s cancelled by the client: client=%s", sasl_session_mech(m->ss),
		 m->s->p->client_addr);
	sasl_end(m);
	m->state = AM_PRE;
	answer_set(AMS_CANCELLED, false);
}

/* The kinds of malformed credential the pre-auth process catches before
 * asking, with the log detail each gets. */
static const struct {
	const char *kind, *detail;
} early_kinds[] = {
	{ "invalid-user-name", "" },
	{ "bad-digest-format", "" },
	{ "bad-base64", "malformed initial response" },
	{ "response-too-long", "" },
	{ "rejected", "USER is not the user the Kerberos principal maps to" },
};

static void h_failed(struct authmon *m, const struct pm_msg *req)
{
	char method[AM_METHOD_MAX], user[NETIO_MAX_LINE + 1], kind[F_KIND + 1];
	const char *detail = NULL;

	if (!pm_field_str(req, 0, method, sizeof(method)) ||
	    !pm_field_str(req, 2, kind, sizeof(kind)) ||
	    !pm_field_str(req, 1, user, sizeof(user)))
		user[0] = kind[0] = method[0] = '\0';
	for (size_t i = 0; i < sizeof(early_kinds) / sizeof(early_kinds[0]); i++)
		if (strcmp(kind, early_kinds[i].kind) == 0)
			detail = early_kinds[i].detail;
	if (detail == NULL)
		snprintf(kind, sizeof(kind), "rejected");
	if (m->state == AM_SASL) {
		/* Mid-exchange (bad base64, a response too long): the
		 * exchange's own mechanism and identity, not the client's. */
		sasl_method(m);
		snprintf(method, sizeof(method), "%s", m->method);
		snprintf(user, sizeof(user), "%s", sasl_session_authid(m->ss));
		detail = "";
		sasl_end(m);
		m->state = AM_PRE;
	} else if (strcmp(method, "APOP") != 0 && strcmp(method, "AUTH") != 0 &&
		   strcmp(method, "KPOP") != 0) {
		snprintf(method, sizeof(method), "%s", m->kpop ? "KPOP" : "AUTH");
	}
	failed(m, method, user, AUTH_FAIL, kind, detail != NULL ? detail : "");
}

int authmon_kpop_handshake(struct authmon *m, int fd)
{
	struct session *s = m->s;
	char user[USERNAME_MAX + 1], principal[KPOP_PRINCIPAL_MAX + 1], reason[256] = "";
	char qprincipal[KPOP_PRINCIPAL_MAX * 4 + 8], qreason[512];
	/* The KPOP handshake's own deadline (the idle timeout applies if
	 * shorter). */
	unsigned timeout = s->set->timeout;

	if (timeout == 0 || timeout > 60)
		timeout = 60;
	principal[0] = '\0';
	m->kpop_user[0] = '\0';
	if (kpop_handshake(fd, s->set->kerberos_service, s->set->kerberos_keytab, timeout, user,
			   sizeof(user), principal, sizeof(principal), reason, sizeof(reason)) != 0) {
		/* The same fail2ban-safe line as every failed login; nothing is
		 * said or delayed for a client that did not finish the
		 * handshake. */
		log_quote(principal, strlen(principal), qprincipal, sizeof(qprincipal));
		log_quote(reason, strlen(reason), qreason, sizeof(qreason));
		log_notice("authentication failed: client=%s method=KPOP user=\"%s\" reason=rejected "
			   "detail=\"%s\"", s->p->client_addr, qprincipal, qreason);
		return -1;
	}
	snprintf(m->kpop_user, sizeof(m->kpop_user), "%s", user);
	log_quote(principal, strlen(principal), qprincipal, sizeof(qprincipal));
	log_info("KPOP: client=%s principal=\"%s\" user=%s", s->p->client_addr, qprincipal, user);
	return 0;
}

static void h_kpop_result(struct authmon *m, const struct pm_msg *req)
{
	(void)req;
	if (m->kpop_user[0] == '\0') {
		m->state = AM_DONE;
		answer_set(AMS_FAIL, true);
		return;
	}
	m->data_len = strlen(m->kpop_user);
	memcpy(m->data, m->kpop_user, m->data_len);
	m->state = AM_PRE;
	answer_set(AMS_OK, false);
}

static void h_kpop_pass(struct authmon *m, const struct pm_msg *req)
{
	char name[USERNAME_MAX + 1], reason[256] = "";
	struct auth_user u;
	enum auth_result r;

	if (!m->kpop) {
		failed(m, "PASS", "", AUTH_FAIL, "rejected", "KPOP login on a non-KPOP connection");
		return;
	}
	if (!pm_field_str(req, 0, name, sizeof(name)) || strcmp(name, m->kpop_user) != 0) {
		failed(m, "KPOP", "", AUTH_FAIL, "rejected",
		       "USER is not the user the Kerberos principal maps to");
		return;
	}
	memset(&u, 0, sizeof(u));
	r = auth_finish_login(&m->s->authcfg, name, &u, reason, sizeof(reason));
	answer_auth(m, "KPOP", name, r, &u, reason);
	ct_wipe(&u, sizeof(u));
}

static void h_handover(struct authmon *m, const struct pm_msg *req)
{
	unsigned char tls = 0;

	/* Plain: the connection's two descriptors come along.  TLS: none;
	 * the pre-auth process stays as the TLS proxy. */
	if (!pm_field_byte(req, 0, &tls) || (tls == 0 && req->nfds != PM_FDS_MAX) ||
	    (tls != 0 && req->nfds != 0)) {
		answer_set(AMS_VIOLATION, true);
		m->state = AM_DONE;
		return;
	}
	m->state = AM_DONE;
	answer_set(AMS_OK, false);
}

/* ---- the checks every request passes ---- */

static const struct am_request *lookup(enum pm_type t)
{
	for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++)
		if (requests[i].type == t)
			return &requests[i];
	return NULL;
}

static const char *violation(const struct authmon *m, const struct am_request *r,
			     const struct pm_msg *req)
{
	if (r == NULL)
		return "unknown request";
	if ((r->states & (1u << m->state)) == 0)
		return "request out of order";
	if (req->nfields != r->nfields)
		return "wrong number of fields";
	if (req->nfds > r->max_fds)
		return "unexpected descriptors";
	for (unsigned i = 0; i < req->nfields; i++)
		if (req->f[i].len > r->max[i])
			return "field too long";
	return NULL;
}

void authmon_serve(struct authmon *m, const struct pm_msg *req, struct pm_msg *ans)
{
	const struct am_request *r = lookup(req->type);
	const char *why;

	clock_gettime(CLOCK_MONOTONIC, &m->t_request);
	m->data_len = 0;
	pm_init(ans, PM_ANSWER);
	why = m->state == AM_DONE ? "request after the end" : violation(m, r, req);
	if (why != NULL) {
		log_error("auth monitor: %s (%s, state %d): client=%s; ending the connection", why,
			  r != NULL ? r->name : "?", (int)m->state, m->s->p->client_addr);
		sasl_end(m);
		m->state = AM_DONE;
		answer_set(AMS_VIOLATION, true);
	} else {
		r->handler(m, req);
	}
	(void)pm_add_byte(ans, answer.status);
	(void)pm_add_byte(ans, answer.flags);
	(void)pm_add(ans, m->data, m->data_len);
}
