/*
 * login: a session after its authentication (see login.h): the login
 * sequence, the failed-login sequence, QUIT's UPDATE and the abort.
 *
 * Two processes use it.  The pre-auth process (unprivileged) turns the auth
 * monitor's answers into replies, and hands the connection over after a
 * login.  The auth monitor (root) runs login_complete() on the connection
 * it was handed: it forks, the parent becomes the lock monitor
 * (server/monitor.c, stays root, never comes back here) and the child
 * drops to the user (server/privdrop.c) before the maildrop is opened.
 * This file is the only place that happens; the handlers only hand it an
 * answer.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "server/authclient.h"
#include "server/lockreg.h"
#include "server/login.h"
#include "server/monitor.h"
#include "server/penalty.h"
#include "server/privdrop.h"
#include "server/spoolpath.h"

/* The session's own settings after per-user options, if any (one session
 * per process). */
static struct settings user_settings;
static bool user_settings_used;

char *login_expand_template(const char *tmpl, const char *version, const char *user,
			    const char *host, const char *addr, char *out, size_t outsize)
{
	size_t o = 0;

	if (outsize == 0)
		return out;
	/* Qpopper handed this template to printf (a format-string hole);
	 * here every byte is copied and only %0..%3 and %% are recognised. */
	for (const char *p = tmpl; *p != '\0' && o + 1 < outsize; p++) {
		const char *val = NULL;
		char q[300];

		if (p[0] == '%' && p[1] >= '0' && p[1] <= '3') {
			const char *vals[4] = { version, user, host, addr };
			const char *v = vals[p[1] - '0'] != NULL ? vals[p[1] - '0'] : "";
			val = log_quote(v, strlen(v), q, sizeof(q));
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			val = "%";
			p++;
		}
		if (val == NULL) {
			out[o++] = *p;
			continue;
		}
		for (; *val != '\0' && o + 1 < outsize; val++)
			out[o++] = *val;
	}
	out[o] = '\0';
	return out;
}

/* ---- the answer to an authentication ---- */

/*
 * The reply to a failed login: [SYS/TEMP] only for a backend that could not
 * answer, [SYS/PERM] only for an unsafe user database, otherwise the one
 * text every failure gets (robustness notes §4.2-4.3).  The log line, the
 * count, the delay and the end after max-auth-failures are the auth
 * monitor's (server/authmon.c), so the pre-auth process cannot skip them;
 * by the time the answer is here, the delay is over.
 */
static void reply_failure(struct session *s, const struct ac_answer *a)
{
	engine_user_dropped(s);
	if (a->status == AMS_TEMPFAIL)
		reply_err(s, RESP_SYS_TEMP, "Authentication is temporarily unavailable.");
	else if (a->status == AMS_PERMFAIL)
		reply_err(s, RESP_SYS_PERM, LOGIN_PERMFAIL_TEXT);
	else if (a->status == AMS_FAIL)
		reply_err(s, RESP_AUTH, "Authentication failed.");
	/* AMS_VIOLATION: the monitor has ended the connection; say nothing. */
	if (a->end || (a->status != AMS_FAIL && a->status != AMS_TEMPFAIL &&
		       a->status != AMS_PERMFAIL))
		engine_end(s);
}

void login_answered(struct session *s, int rc, const struct ac_answer *a)
{
	struct authmon *m;

	if (rc != 0) {
		/* No answer: a termination signal (the loop says goodbye) or
		 * the monitor is gone. */
		if (engine_stop_signal() == 0) {
			reply_err(s, RESP_SYS_TEMP, "Authentication is temporarily unavailable.");
			engine_end(s);
		}
		return;
	}
	if (a->status != AMS_OK) {
		reply_failure(s, a);
		return;
	}
	/* A login the monitor decided.  Forked: the connection goes to it
	 * (never returns).  In-process: log in here, as that monitor says. */
	ac_handover(s);
	m = ac_inprocess_monitor(s);
	if (m == NULL || m->state != AM_AUTHED) {
		engine_end(s);
		return;
	}
	m->state = AM_DONE;
	login_complete(s, &m->user, m->method);
}

void login_failed(struct session *s, const char *method, const char *user, const char *kind)
{
	struct ac_answer a;
	int rc = ac_failed(s, method, user, kind, &a);

	login_answered(s, rc, &a);
}

/* ---- the end of a session: UPDATE or abort ---- */

/* Messages and octets of the whole maildrop, deletion marks ignored. */
static void all_totals(const struct maildrop *md, unsigned *count_r, uint64_t *octets_r)
{
	unsigned n = maildrop_count(md);
	uint64_t octets = 0;

	for (unsigned i = 0; i < n; i++)
		octets += maildrop_msg_size(md, i);
	*count_r = n;
	*octets_r = octets;
}

/* The -s / statistics record, once per session that logged in. */
static void log_stats(const struct session *s, const struct maildrop_stats *st)
{
	struct timespec now;
	char qhost[300];

	if (!s->set->statistics)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	log_quote(s->p->client_host, strlen(s->p->client_host), qhost, sizeof(qhost));
	log_notice("Stats: %s %lu %" PRIu64 " %lu %" PRIu64 " %s %s time=%ld",
		   s->user.name, st->msgs_deleted, st->bytes_deleted, st->msgs_left,
		   st->bytes_left, qhost, s->p->client_addr,
		   (long)(now.tv_sec - s->t_start.tv_sec));
}

/* Commits the maildrop (which closes it) and logs the statistics.
 * *in_temp_r: temp-drop mode made the deletions but the kept mail waits in
 * the temporary drop; *pending_r: the update waits for the next login to
 * complete or undo it. */
static enum maildrop_status commit_maildrop(struct session *s, bool *in_temp_r,
					    bool *pending_r)
{
	struct maildrop_stats st;
	char reason[512] = "";
	enum maildrop_status r;
	unsigned count;
	uint64_t octets;

	all_totals(s->md, &count, &octets);
	memset(&st, 0, sizeof(st));
	r = maildrop_commit(s->md, &st, reason, sizeof(reason));
	s->md = NULL;
	*in_temp_r = r != MAILDROP_OK && st.left_in_temp_drop;
	*pending_r = r != MAILDROP_OK && st.update_pending;
	if (r != MAILDROP_OK) {
		log_error("maildrop update failed: user=%s client=%s %s%s",
			  s->user.name, s->p->client_addr, reason,
			  *in_temp_r ? " (deletions made; mail left in the temporary drop)" : "");
		if (!*in_temp_r) {
			st.msgs_deleted = 0;
			st.bytes_deleted = 0;
			st.msgs_left = count;
			st.bytes_left = octets;
		}
	}
	log_stats(s, &st);
	return r;
}

void login_update(struct session *s)
{
	bool in_temp = false, pending = false;

	engine_updating(s);
	if (commit_maildrop(s, &in_temp, &pending) == MAILDROP_OK) {
		reply_ok(s, "Pop server at %s signing off.", s->p->local_host);
	} else {
		if (in_temp)
			reply_err(s, RESP_SYS_TEMP,
				  "Error updating the maildrop; mail left in the temporary drop.");
		else if (pending)
			reply_err(s, RESP_SYS_TEMP,
				  "Error updating the maildrop; the next login completes or undoes the update.");
		else
			reply_err(s, RESP_SYS_TEMP,
				  "Error updating the maildrop; no messages were deleted.");
		s->exit_status = 1;
	}
	engine_end(s);
}

void login_abort(struct session *s, bool may_update)
{
	struct maildrop_stats st;
	unsigned count;
	uint64_t octets;

	if (s->md == NULL)
		return;
	if (may_update && s->set->update_on_abort) {
		bool in_temp, pending;

		log_notice("session aborted, updating the maildrop (update-on-abort): user=%s",
			   s->user.name);
		(void)commit_maildrop(s, &in_temp, &pending);
		return;
	}
	all_totals(s->md, &count, &octets);
	maildrop_close(s->md);
	s->md = NULL;
	memset(&st, 0, sizeof(st));
	st.msgs_left = count;
	st.bytes_left = octets;
	log_stats(s, &st);
}

void login_release(void)
{
	if (user_settings_used) {
		settings_free(&user_settings);
		user_settings_used = false;
	}
}

/* ---- the login sequence ---- */

/* Where the login's files are, fixed as root before the fork. */
struct login_paths {
	char path[PATH_MAX];           /* the spool */
	char lock_path[PATH_MAX + 8];  /* its dot-lock */
	char state_dir[PATH_MAX];      /* the private state directory */
};

/* The reply for a maildrop that could not be opened; the session ends. */
static void open_failed(struct session *s, enum maildrop_status st)
{
	switch (st) {
	case MAILDROP_IN_USE:
		reply_err(s, RESP_IN_USE, "Maildrop is locked; is another session active?");
		break;
	case MAILDROP_PERM:
		reply_err(s, RESP_SYS_PERM, "The maildrop cannot be used; contact your administrator.");
		break;
	case MAILDROP_TEMP:
	case MAILDROP_OK:
		reply_err(s, RESP_SYS_TEMP, "Unable to open the maildrop; try again later.");
		break;
	}
	engine_end(s);
}

/* Step 1: the maildrop path, its lock, and (as root) the private state
 * directory, created owned by the account the session becomes.  Returns
 * MAILDROP_OK, or the status to answer with (logged). */
static enum maildrop_status paths_make(struct session *s, const struct auth_user *u,
				       struct login_paths *lp)
{
	char reason[256] = "";
	int n;

	if (spoolpath_maildrop(s->set, u, lp->path, sizeof(lp->path)) != 0) {
		log_error("login: maildrop path too long: user=%s", u->name);
		return MAILDROP_PERM;
	}
	n = snprintf(lp->lock_path, sizeof(lp->lock_path), "%s.lock", lp->path);
	if (n < 0 || (size_t)n >= sizeof(lp->lock_path)) {
		log_error("login: lock path too long: user=%s", u->name);
		return MAILDROP_PERM;
	}
	if (spoolpath_state_dir(s->set, u, lp->state_dir, sizeof(lp->state_dir),
				reason, sizeof(reason)) != 0) {
		log_error("login: state directory: user=%s %s", u->name, reason);
		return MAILDROP_TEMP;
	}
	return MAILDROP_OK;
}

/* Step 2, as root: fork the monitor, which stays root and takes the
 * dot-lock on request (the parent never comes back), and drop to the user
 * in the child.  Not root: run as we are, and the maildrop takes the
 * dot-lock itself (*locker stays empty).  Returns 0, or -1 (logged). */
static int become_user(struct session *s, const struct auth_user *u, const char *lock_path,
		       struct maildrop_locker *locker)
{
	char regdir[PATH_MAX], reason[256] = "";
	bool have_reg;

	if (geteuid() != 0)
		return 0;
	/* The registry's path, like the lock's, is fixed here, as root,
	 * before the fork. */
	have_reg = lockreg_dir(s->set->state_dir, regdir, sizeof(regdir)) == 0;
	if (!have_reg)
		log_warning("login: lock registry path too long; carrying on without it");
	if (monitor_start(lock_path, u->uid, s->set->lock_wait, have_reg ? regdir : NULL,
			  locker) != 0) {
		log_error("login: cannot start the monitor: user=%s", u->name);
		return -1;
	}
	/* From here on: the child, which must not stay root.  It has no
	 * business with the table of failed logins per address. */
	penalty_table_destroy(s->p->penalty);
	if (privdrop_to(u->account, u->uid, u->gid, reason, sizeof(reason)) != 0) {
		log_error("login: privilege drop failed: user=%s %s", u->name, reason);
		return -1;
	}
	return 0;
}

/* Per-user option files (-u/-U), read as the user, into the session's own
 * copy of the settings.  Trouble is logged and the file ignored. */
static void load_user_options(struct session *s)
{
	char err[256] = "";

	if (!s->set->user_options && !s->set->spool_options)
		return;
	if (settings_copy(&user_settings, s->set) != 0) {
		log_error("user options: out of memory; ignored: user=%s", s->user.name);
		settings_free(&user_settings);
		return;
	}
	if (settings_load_user_options(&user_settings, s->user.name, s->user.home, s->user.uid,
				       err, sizeof(err)) != 0) {
		log_warning("user options ignored: user=%s %s", s->user.name, err);
		settings_free(&user_settings);
		return;
	}
	user_settings_used = true;
	s->set = &user_settings;
}

/* Whether account (primary group gid) belongs to the group named name:
 * the primary gid, or the group's member list. */
static bool in_group(const char *name, const char *account, gid_t gid)
{
	struct group *gr;

	if (name == NULL || name[0] == '\0')
		return false;
	errno = 0;
	gr = getgrnam(name);
	if (gr == NULL) {
		log_warning("group %s (group-server-mode / group-no-server-mode) is unknown", name);
		return false;
	}
	if (gr->gr_gid == gid)
		return true;
	for (char **m = gr->gr_mem; m != NULL && *m != NULL; m++)
		if (strcmp(*m, account) == 0)
			return true;
	return false;
}

/* Server mode, or Qpopper's temp-drop mode?  server-mode, then the groups:
 * a member of group-no-server-mode gets temp-drop mode, a member of
 * group-server-mode server mode; one in both gets server mode, the safer
 * one (the spool is never emptied). */
static bool use_server_mode(const struct settings *set, const struct auth_user *u)
{
	bool server = set->server_mode;

	if (in_group(set->group_no_server_mode, u->account, u->gid))
		server = false;
	if (in_group(set->group_server_mode, u->account, u->gid))
		server = true;
	return server;
}

/* tmpl with its "%s" replaced by user, into out.  -1 if it does not fit. */
static int expand_user(const char *tmpl, const char *user, char *out, size_t outsize)
{
	const char *p = strstr(tmpl, "%s");
	int n;

	if (p == NULL)
		n = snprintf(out, outsize, "%s", tmpl);
	else
		n = snprintf(out, outsize, "%.*s%s%s", (int)(p - tmpl), tmpl, user, p + 2);
	return n < 0 || (size_t)n >= outsize ? -1 : 0;
}

/* Step 3, as the user: open the maildrop, which must belong to the user,
 * with the settings as they are after the per-user options.  Returns
 * MAILDROP_OK with s->md set, or the status to answer with (logged). */
static enum maildrop_status open_maildrop(struct session *s, const struct auth_user *u,
					  const struct login_paths *lp,
					  const struct maildrop_locker *locker, bool *temp_mode_r)
{
	char temp_dir[PATH_MAX], temp_name[NAME_MAX + 1], reason[256] = "";
	struct maildrop_settings ms;
	enum maildrop_status st;

	memset(&ms, 0, sizeof(ms));
	ms.path = lp->path;
	ms.lock_path = lp->lock_path;
	ms.state_dir = lp->state_dir;
	ms.locker = *locker;
	ms.lock_wait = s->set->lock_wait;
	ms.trust_x_uidl = s->set->trust_x_uidl;
	ms.require_owner = true;
	ms.owner_uid = (unsigned long)u->uid;
	/* Both modes need the temporary drop's name: temp-drop mode works on
	 * it, server mode writes one left behind back into the spool. */
	if (s->set->temp_dir == NULL)
		snprintf(temp_dir, sizeof(temp_dir), "%s", lp->state_dir);   /* same size */
	if ((s->set->temp_dir != NULL &&
	     expand_user(s->set->temp_dir, u->name, temp_dir, sizeof(temp_dir)) != 0) ||
	    expand_user(s->set->temp_name != NULL ? s->set->temp_name : ".%s.pop", u->name,
			temp_name, sizeof(temp_name)) != 0) {
		log_error("login: temporary drop path too long: user=%s", u->name);
		return MAILDROP_PERM;
	}
	ms.temp_drop_mode = !use_server_mode(s->set, u);
	ms.temp_dir = temp_dir;
	ms.temp_name = temp_name;
	ms.keep_temp_drop = s->set->keep_temp_drop;
	*temp_mode_r = ms.temp_drop_mode;
	st = maildrop_open(&ms, &s->md, reason, sizeof(reason));
	if (st != MAILDROP_OK) {
		s->md = NULL;
		log_error("login: maildrop not opened: user=%s client=%s %s",
			  u->name, s->p->client_addr, reason);
	}
	return st;
}

/* Step 4: LAST's start, TRANSACTION, the +OK, the login records. */
static void announce(struct session *s, const struct auth_user *u, const char *method,
		     bool temp_mode)
{
	char tmpl_out[1024];
	unsigned count;
	uint64_t octets;

	/* LAST starts at the highest message already retrieved (RFC 1725). */
	count = maildrop_count(s->md);
	s->last_at_start = 0;
	for (unsigned i = 0; i < count; i++)
		if (maildrop_msg_seen(s->md, i))
			s->last_at_start = i + 1;
	s->last = s->last_at_start;

	all_totals(s->md, &count, &octets);
	engine_logged_in(s);
	reply_ok(s, "%s has %u visible message%s (0 hidden) in %" PRIu64 " octets.",
		 u->name, count, count == 1 ? "" : "s", octets);

	log_notice("login: user=%s client=%s method=%s messages=%u octets=%" PRIu64 "%s",
		   u->name, s->p->client_addr, method, count, octets,
		   temp_mode ? " mode=temp-drop" : "");
	if (s->set->log_login != NULL && s->set->log_login[0] != '\0')
		log_notice("%s", login_expand_template(s->set->log_login, PACKAGE_VERSION,
						       u->name, s->p->client_host,
						       s->p->client_addr, tmpl_out,
						       sizeof(tmpl_out)));
}

/*
 * The login sequence, in this order and nowhere else:
 *  1. where the maildrop is, and (as root) the private state directory;
 *  2. as root: the monitor and the privilege drop (become_user);
 *  3. as the user: per-user option files, then open the maildrop;
 *  4. +OK, TRANSACTION, the login record.
 */
void login_complete(struct session *s, const struct auth_user *u, const char *method)
{
	struct login_paths lp;
	struct maildrop_locker locker = { NULL, NULL, NULL };
	enum maildrop_status st;
	bool temp_mode = false;

	s->user = *u;
	s->method = method;
	clock_gettime(CLOCK_MONOTONIC, &s->t_auth);

	st = paths_make(s, u, &lp);
	if (st != MAILDROP_OK) {
		open_failed(s, st);
		return;
	}
	if (become_user(s, u, lp.lock_path, &locker) != 0) {
		open_failed(s, MAILDROP_TEMP);
		return;
	}
	load_user_options(s);
	st = open_maildrop(s, u, &lp, &locker, &temp_mode);
	if (st != MAILDROP_OK) {
		open_failed(s, st);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &s->t_init);
	announce(s, u, method, temp_mode);
}
