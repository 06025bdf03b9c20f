/*
 * auth_pam: the system-account backend, through Linux-PAM.
 *
 * Runs as root in the pre-login session (PAM modules such as pam_unix need
 * it to read /etc/shadow).  One login attempt is one PAM transaction:
 * pam_start(pam-service) -> PAM_RHOST = client address ->
 * pam_authenticate(PAM_DISALLOW_NULL_AUTHTOK) -> pam_acct_mgmt (expired or
 * locked accounts fail here) -> pam_setcred(PAM_ESTABLISH_CRED) -> pam_end.
 * Like Qpopper there is no pam_open_session: POP sessions are not logins.
 *
 * The conversation answers echo-off prompts with the password and echo-on
 * prompts with the user name; module messages go to the log, never to the
 * client (Qpopper's CVE-2001-1068 leaked pam_strerror() to the client).  PAM's
 * own failure delay is replaced by a no-op: the engine applies one
 * auth-failure-delay to every kind of failure, so all failures look alike.
 * Modules may call openlog(), so the log is re-opened afterwards.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/backend.h"
#include "lib/ctcompare.h"
#include "lib/log.h"

#ifdef HAVE_PAM

#include <security/pam_appl.h>

/* A module that keeps asking is broken or hostile: stop it. */
#define PAM_CONV_CALLS_MAX 16
/* Longest module message we copy into the log. */
#define PAM_LOG_TEXT_MAX 256

struct conv_data {
	const char *user;
	const char *password;
	unsigned calls;
};

static void free_responses(struct pam_response *resp, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		if (resp[i].resp != NULL) {
			ct_wipe(resp[i].resp, strlen(resp[i].resp));
			free(resp[i].resp);
		}
	}
	free(resp);
}

/* Linux-PAM's conversation: msg is an array of num_msg pointers.  Answers
 * are malloc'd; PAM frees (and Linux-PAM overwrites) them.  Some modules
 * (pam_matrix among them) pass resp_r == NULL when they only show text:
 * that is fine for messages, an error for prompts. */
static int converse(int num_msg, const struct pam_message **msg,
		    struct pam_response **resp_r, void *appdata)
{
	struct conv_data *cd = appdata;
	struct pam_response *resp = NULL;
	int i;

	if (resp_r != NULL)
		*resp_r = NULL;
	if (num_msg <= 0 || num_msg > PAM_MAX_NUM_MSG || msg == NULL ||
	    ++cd->calls > PAM_CONV_CALLS_MAX)
		return PAM_CONV_ERR;
	if (resp_r != NULL) {
		resp = calloc((size_t)num_msg, sizeof(*resp));
		if (resp == NULL)
			return PAM_BUF_ERR;
	}
	for (i = 0; i < num_msg; i++) {
		const char *text = msg[i] != NULL && msg[i]->msg != NULL ? msg[i]->msg : "";
		int style = msg[i] != NULL ? msg[i]->msg_style : -1;
		char q[PAM_LOG_TEXT_MAX];

		switch (style) {
		case PAM_ERROR_MSG:
			log_quote(text, strlen(text), q, sizeof(q));
			log_info("PAM error message: \"%s\"", q);
			continue;
		case PAM_TEXT_INFO:
			log_quote(text, strlen(text), q, sizeof(q));
			log_debug("PAM info message: \"%s\"", q);
			continue;
		case PAM_PROMPT_ECHO_OFF:
		case PAM_PROMPT_ECHO_ON:
			if (resp == NULL)
				return PAM_CONV_ERR;   /* a prompt nobody can answer */
			resp[i].resp = strdup(style == PAM_PROMPT_ECHO_OFF ? cd->password
									   : cd->user);
			if (resp[i].resp == NULL) {
				free_responses(resp, num_msg);
				return PAM_BUF_ERR;
			}
			continue;
		default:
			if (resp != NULL)
				free_responses(resp, num_msg);
			return PAM_CONV_ERR;
		}
	}
	if (resp_r != NULL)
		*resp_r = resp;
	return PAM_SUCCESS;
}

#ifdef HAVE_PAM_FAIL_DELAY
/* Replaces the module's delay (pam_unix: about 2 s): see the header. */
static void no_fail_delay(int retval, unsigned usec_delay, void *appdata)
{
	(void)retval; (void)usec_delay; (void)appdata;
}
#endif

/* PAM result -> ours.  Only "the system is broken right now" is temporary;
 * everything else (wrong password, unknown user, expired, denied) fails. */
static enum backend_result map_pam(int rc)
{
	switch (rc) {
	case PAM_SUCCESS:
		return BACKEND_OK;
	case PAM_AUTHINFO_UNAVAIL:
	case PAM_SYSTEM_ERR:
	case PAM_BUF_ERR:
	case PAM_ABORT:
		return BACKEND_TEMPFAIL;
	default:
		return BACKEND_FAIL;
	}
}

static enum backend_result pam_fail(pam_handle_t *pamh, int rc, const char *step,
				    char *reason, size_t reasonsize)
{
	snprintf(reason, reasonsize, "%s: %s", step, pam_strerror(pamh, rc));
	return map_pam(rc);
}

static enum backend_result pam_verify_plain(const struct auth_config *cfg,
					    const char *user, const char *password,
					    unsigned flags,
					    char *account_r, size_t account_size,
					    char *reason, size_t reasonsize)
{
	struct conv_data cd = { user, password, 0 };
	struct pam_conv conv = { converse, &cd };
	pam_handle_t *pamh = NULL;
	enum backend_result r = BACKEND_OK;
	const void *item = NULL;
	int rc;

	if (cfg->pam_service == NULL || cfg->pam_service[0] == '\0') {
		snprintf(reason, reasonsize, "unknown user (PAM off)");
		return BACKEND_NO_USER;
	}
	if (strlen(user) >= account_size) {
		snprintf(reason, reasonsize, "user name too long");
		return BACKEND_FAIL;
	}
	rc = pam_start(cfg->pam_service, user, &conv, &pamh);
	if (rc != PAM_SUCCESS) {
		snprintf(reason, reasonsize, "pam_start: %s", pam_strerror(pamh, rc));
		log_error("PAM service \"%s\" cannot start: %s", cfg->pam_service,
			  pam_strerror(pamh, rc));
		if (pamh != NULL)
			pam_end(pamh, rc);
		log_reopen();
		return BACKEND_TEMPFAIL;
	}
	if (cfg->client_addr != NULL && cfg->client_addr[0] != '\0') {
		rc = pam_set_item(pamh, PAM_RHOST, cfg->client_addr);
		if (rc != PAM_SUCCESS)
			r = pam_fail(pamh, rc, "pam_set_item", reason, reasonsize);
	}
#ifdef HAVE_PAM_FAIL_DELAY
	if (r == BACKEND_OK) {
		rc = pam_set_item(pamh, PAM_FAIL_DELAY, (const void *)no_fail_delay);
		if (rc != PAM_SUCCESS)
			r = pam_fail(pamh, rc, "pam_set_item", reason, reasonsize);
	}
#endif
	if (r == BACKEND_OK) {
		rc = pam_authenticate(pamh, PAM_DISALLOW_NULL_AUTHTOK);
		if (rc != PAM_SUCCESS)
			r = pam_fail(pamh, rc, "pam_authenticate", reason, reasonsize);
	}
	if (r == BACKEND_OK) {
		/* Expired, locked, outside allowed hours: PAM_ACCT_EXPIRED,
		 * PAM_NEW_AUTHTOK_REQD (no pam_chauthtok over POP),
		 * PAM_PERM_DENIED... all fail. */
		rc = pam_acct_mgmt(pamh, PAM_DISALLOW_NULL_AUTHTOK);
		if (rc == PAM_NEW_AUTHTOK_REQD && cfg->ignore_password_expiry)
			rc = PAM_SUCCESS;
		if (rc != PAM_SUCCESS)
			r = pam_fail(pamh, rc, "pam_acct_mgmt", reason, reasonsize);
	}
	if (r == BACKEND_OK) {
		/* A module that maps the name (PAM_USER changed) proved a
		 * password for some other account than the one the session
		 * would become: refuse rather than guess. */
		rc = pam_get_item(pamh, PAM_USER, &item);
		if (rc != PAM_SUCCESS || item == NULL || strcmp(item, user) != 0) {
			snprintf(reason, reasonsize, "PAM changed the user name");
			rc = PAM_PERM_DENIED;
			r = BACKEND_FAIL;
		}
	}
	if (r == BACKEND_OK && !(flags & BACKEND_VERIFY_ONLY)) {
		rc = pam_setcred(pamh, PAM_ESTABLISH_CRED);
		if (rc != PAM_SUCCESS)
			r = pam_fail(pamh, rc, "pam_setcred", reason, reasonsize);
	}
	pam_end(pamh, rc);
	log_reopen();
	if (r == BACKEND_OK)
		memcpy(account_r, user, strlen(user) + 1);
	return r;
}

#else /* !HAVE_PAM */

static enum backend_result pam_verify_plain(const struct auth_config *cfg,
					    const char *user, const char *password,
					    unsigned flags,
					    char *account_r, size_t account_size,
					    char *reason, size_t reasonsize)
{
	(void)user; (void)password; (void)flags; (void)account_r; (void)account_size;
	if (cfg->pam_service == NULL || cfg->pam_service[0] == '\0') {
		snprintf(reason, reasonsize, "unknown user (PAM off)");
		return BACKEND_NO_USER;
	}
	snprintf(reason, reasonsize, "PAM not built");
	return BACKEND_TEMPFAIL;
}

#endif /* HAVE_PAM */

/* PAM is on when a service is configured (pam-service). */
static bool pam_enabled(const struct auth_config *cfg)
{
	return cfg->pam_service != NULL && cfg->pam_service[0] != '\0';
}

const struct auth_backend auth_backend_pam = {
	.name = "pam",
	.system_accounts = true,
	.enabled = pam_enabled,
	.verify_plain = pam_verify_plain,
	.lookup_secret = NULL,   /* PAM keeps no secrets we could read */
	.verify_apop = NULL,
	.apop_available = NULL,
};
