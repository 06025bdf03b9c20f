/*
 * auth: the authentication interface (auth/auth.h) over its backends.
 *
 * Runs as root, in the session before it drops privileges.  For every login
 * attempt:
 *   1. the name must pass username_valid(); the password must not be empty;
 *   2. the backends (auth/backend.h) are asked in the order of the table
 *      below, each operation walking it alike.  The user database
 *      (auth_userdb.c) comes first: a virtual user it holds is checked
 *      there and nowhere else, and the session runs as the mail-owner
 *      account (a system entry there only holds an APOP secret: for
 *      USER/PASS it is "not mine");
 *   3. any other name goes to PAM (auth_pam.c), if a PAM service is set;
 *      APOP and the secret lookups skip PAM (it keeps no secrets);
 *   4. account policy, the same for every backend: the deny list
 *      (nonauth-file), the allow list (auth-file), never uid 0, and for
 *      system accounts uid >= min-uid and, optionally, a login shell listed
 *      in /etc/shells.
 * For system accounts the policy is evaluated before PAM, and a refused
 * account still goes through pam_authenticate (but gets no credentials), so
 * a refusal costs the same work as a wrong password and timing tells nothing.
 * A name the user database does not hold costs there what a virtual user's
 * wrong password costs (a dummy record decoded and checked, the result
 * thrown away), so with PAM off an unknown name and a virtual user cannot
 * be told apart by time; with PAM on the unknown name then goes through PAM
 * as well, whose cost only the engine's auth-failure-delay hides.
 * Every failure is AUTH_FAIL, whatever its kind; only "cannot decide now"
 * (an unreadable deny list, database or PAM trouble) is AUTH_TEMPFAIL, and
 * "cannot decide until the administrator acts" (an unsafe user database
 * file) is AUTH_PERMFAIL.  APOP with the secret of a system entry
 * (popauth) logs in that system account, under the same account policy.
 * Reasons are for the log; the engine shows the client one fixed text.
 */
#include "config.h"

#include "auth/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(__has_include)
#if __has_include(<shadow.h>)
#include <shadow.h>
#endif
#endif

#include "auth/backend.h"
#include "lib/ctcompare.h"
#include "lib/log.h"
#include "lib/reason.h"
#include "lib/safeopen.h"
#include "auth/userdb/userdb.h"

/* Longest password we pass on: the POP3 command line is at most 512
 * octets (RFC 2449), so anything longer is not from a client. */
#define AUTH_PASSWORD_MAX 512
/* Largest deny/allow list we read (one name per line). */
#define AUTH_LIST_MAX (1024 * 1024)
/* Longest line of /etc/shells we look at, and how many lines. */
#define AUTH_SHELLS_MAX 1000
/* Room for the log-only reason of a policy refusal. */
#define POLICY_REASON_MAX 128
/* Qpopper's /etc/shells entry that accepts every shell. */
#define ANY_SHELL "/POPPER/ANY/SHELL/"

/* A system account as auth needs it. */
struct account {
	char name[USERNAME_MAX + 1];
	uid_t uid;
	gid_t gid;
	char home[PATH_MAX];
	char shell[PATH_MAX];
};

static enum auth_result from_backend(enum backend_result r)
{
	switch (r) {
	case BACKEND_OK:
		return AUTH_OK;
	case BACKEND_TEMPFAIL:
		return AUTH_TEMPFAIL;
	case BACKEND_PERMFAIL:
		return AUTH_PERMFAIL;
	default:
		return AUTH_FAIL;
	}
}

/* getpwnam into *acc.  Returns AUTH_OK, AUTH_FAIL (no such account) or
 * AUTH_TEMPFAIL (the name service failed). */
static enum auth_result account_resolve(const char *name, struct account *acc)
{
	struct passwd *pw;
	int e;

	memset(acc, 0, sizeof(*acc));
	errno = 0;
	pw = getpwnam(name);
	if (pw == NULL) {
		e = errno;
		/* getpwnam(3): these (or none) mean "not found". */
		if (e == 0 || e == ENOENT || e == ESRCH || e == EBADF || e == EPERM)
			return AUTH_FAIL;
		return AUTH_TEMPFAIL;
	}
	if (strlen(pw->pw_name) >= sizeof(acc->name) ||
	    strlen(pw->pw_dir) >= sizeof(acc->home) ||
	    strlen(pw->pw_shell) >= sizeof(acc->shell))
		return AUTH_FAIL;
	snprintf(acc->name, sizeof(acc->name), "%s", pw->pw_name);
	snprintf(acc->home, sizeof(acc->home), "%s", pw->pw_dir);
	snprintf(acc->shell, sizeof(acc->shell), "%s", pw->pw_shell);
	acc->uid = pw->pw_uid;
	acc->gid = pw->pw_gid;
	return AUTH_OK;
}

/* Looks name up in a list file: one name per line, blanks around it and
 * '#' comments ignored.  Returns 0 (with *found_r) or -1 with why_r set when
 * the file cannot be read or is not safe (writable by group or others: then
 * anyone could add or remove names). */
static int list_contains(const char *path, const char *name, bool *found_r,
			 const char **why_r)
{
	static const struct safeopen_rules rules = { .no_group_write = true };
	char *buf, *p, *end;
	struct stat st;
	size_t len = 0, namelen = strlen(name);
	int fd;

	*found_r = false;
	fd = safe_open(path, O_RDONLY, 0, &rules, &st, why_r);
	if (fd < 0) {
		if (*why_r == NULL || !(errno == ELOOP || errno == EINVAL || errno == EPERM))
			*why_r = strerror(errno);
		return -1;
	}
	if (st.st_mode & S_IWOTH) {
		close(fd);
		*why_r = "writable by others";
		return -1;
	}
	if (st.st_size > AUTH_LIST_MAX) {
		close(fd);
		*why_r = "file too large";
		return -1;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		*why_r = "out of memory";
		return -1;
	}
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*why_r = strerror(errno);
			close(fd);
			free(buf);
			return -1;
		}
		if (n == 0)
			break;   /* shrank meanwhile: use what we have */
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';

	for (p = buf; p < buf + len && !*found_r; p = end + 1) {
		char *s, *e;

		end = memchr(p, '\n', (size_t)(buf + len - p));
		if (end == NULL)
			end = buf + len;
		s = p;
		e = end;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		if (s < e && *s == '#')
			continue;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			e--;
		if ((size_t)(e - s) == namelen && memcmp(s, name, namelen) == 0)
			*found_r = true;
	}
	free(buf);
	return 0;
}

/* The name-based policy: nonauth-file and auth-file.  An unreadable deny
 * list cannot tell who is denied: TEMPFAIL (logged).  An unreadable allow
 * list fails closed: nobody is allowed (logged). */
static enum auth_result list_policy(const struct auth_config *cfg, const char *user,
				    char *reason, size_t reasonsize)
{
	const char *why = NULL;
	bool found;

	if (cfg->deny_file != NULL && cfg->deny_file[0] != '\0') {
		if (list_contains(cfg->deny_file, user, &found, &why) < 0) {
			log_error("nonauth-file %s cannot be used: %s", cfg->deny_file, why);
			reason_copy(reason, reasonsize, "nonauth-file unreadable");
			return AUTH_TEMPFAIL;
		}
		if (found) {
			reason_copy(reason, reasonsize, "listed in nonauth-file");
			return AUTH_FAIL;
		}
	}
	if (cfg->allow_file != NULL && cfg->allow_file[0] != '\0') {
		if (list_contains(cfg->allow_file, user, &found, &why) < 0) {
			log_error("auth-file %s cannot be used (denying everyone): %s",
				  cfg->allow_file, why);
			reason_copy(reason, reasonsize, "auth-file unreadable");
			return AUTH_FAIL;
		}
		if (!found) {
			reason_copy(reason, reasonsize, "not listed in auth-file");
			return AUTH_FAIL;
		}
	}
	return AUTH_OK;
}

/* True when shell (empty = /bin/sh, as login(1) reads it) is listed by
 * getusershell(), or the list has Qpopper's ANY_SHELL entry. */
static bool shell_listed(const char *shell)
{
	const char *s;
	bool found = false;
	unsigned n = 0;

	if (shell[0] == '\0')
		shell = "/bin/sh";
	setusershell();
	while (!found && n++ < AUTH_SHELLS_MAX && (s = getusershell()) != NULL)
		found = strcmp(s, shell) == 0 || strcmp(s, ANY_SHELL) == 0;
	endusershell();
	return found;
}

/* The account-based policy for a system (PAM) account. */
static enum auth_result system_policy(const struct auth_config *cfg,
				      const struct account *acc,
				      char *reason, size_t reasonsize)
{
	if (acc->uid == 0) {
		reason_copy(reason, reasonsize, "uid 0 may not log in");
		return AUTH_FAIL;
	}
	if ((unsigned long)acc->uid < cfg->min_uid) {
		reason_copy(reason, reasonsize, "uid below min-uid");
		return AUTH_FAIL;
	}
	if (cfg->check_shell && !shell_listed(acc->shell)) {
		reason_copy(reason, reasonsize, "login shell not in /etc/shells");
		return AUTH_FAIL;
	}
	return AUTH_OK;
}

static void fill_user(struct auth_user *u, const char *name, bool is_virtual,
		      const struct account *acc)
{
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->is_virtual = is_virtual;
	snprintf(u->account, sizeof(u->account), "%s", acc->name);
	u->uid = acc->uid;
	u->gid = acc->gid;
	snprintf(u->home, sizeof(u->home), "%s", acc->home);
}

/* After the user database said yes (r == BACKEND_OK, account = mail-owner)
 * or no.  Virtual users skip min-uid and the shell check: mail-owner is an
 * account the administrator chose for them (often a system account with
 * /usr/sbin/nologin); uid 0 is still refused. */
static enum auth_result finish_virtual(const char *user, enum backend_result r,
				       enum auth_result lists, const char *account,
				       struct auth_user *user_r,
				       char *reason, size_t reasonsize)
{
	struct account acc;
	enum auth_result res;

	if (r != BACKEND_OK)
		return from_backend(r);
	if (lists != AUTH_OK)
		return lists;   /* reason set by list_policy */
	res = account_resolve(account, &acc);
	if (res != AUTH_OK) {
		log_error("mail-owner account \"%s\" %s", account,
			  res == AUTH_FAIL ? "does not exist" : "cannot be looked up");
		reason_copy(reason, reasonsize, "mail-owner account unknown");
		return AUTH_TEMPFAIL;
	}
	if (acc.uid == 0) {
		log_error("mail-owner \"%s\" is root: virtual users refused", account);
		reason_copy(reason, reasonsize, "uid 0 may not log in");
		return AUTH_FAIL;
	}
	fill_user(user_r, user, true, &acc);
	reason_copy(reason, reasonsize, "");
	return AUTH_OK;
}

/* Locked ("!" in shadow) or expired accounts.  PASS asks PAM's account
 * management; APOP does not go through PAM, so it looks itself.  Without a
 * shadow entry (NIS, LDAP...) there is nothing to look at. */
static const char *account_locked(const char *name)
{
#if defined(__has_include)
#if __has_include(<shadow.h>)
	struct spwd *sp = getspnam(name);
	long today = (long)(time(NULL) / 86400);

	if (sp == NULL)
		return NULL;
	if (sp->sp_pwdp != NULL && sp->sp_pwdp[0] == '!')
		return "account locked";
	if (sp->sp_expire > 0 && sp->sp_expire <= today)
		return "account expired";
#endif
#endif
	(void)name;
	return NULL;
}

/* APOP with the secret of a system entry (popauth): the account of that
 * name, with the same policy as USER/PASS. */
static enum auth_result finish_system_apop(const struct auth_config *cfg, const char *user,
					   enum auth_result lists,
					   struct auth_user *user_r,
					   char *reason, size_t reasonsize)
{
	struct account acc;
	enum auth_result res;
	const char *why;

	if (lists != AUTH_OK)
		return lists;   /* reason set by list_policy */
	res = account_resolve(user, &acc);
	if (res == AUTH_TEMPFAIL) {
		reason_copy(reason, reasonsize, "account lookup failed");
		return AUTH_TEMPFAIL;
	}
	if (res != AUTH_OK) {
		reason_copy(reason, reasonsize, "APOP entry of a system account that does not exist");
		return AUTH_FAIL;
	}
	res = system_policy(cfg, &acc, reason, reasonsize);
	if (res != AUTH_OK)
		return res;
	why = account_locked(user);
	if (why != NULL) {
		reason_copy(reason, reasonsize, why);
		return AUTH_FAIL;
	}
	fill_user(user_r, user, false, &acc);
	reason_copy(reason, reasonsize, "");
	return AUTH_OK;
}

/* False (reason set) when user is no name anybody could log in as. */
static bool name_ok(const char *user, char *reason, size_t reasonsize)
{
	if (user == NULL || !username_valid(user)) {
		reason_copy(reason, reasonsize, "invalid user name");
		return false;
	}
	return true;
}

static void start(struct auth_user *user_r, char *reason, size_t reasonsize)
{
	memset(user_r, 0, sizeof(*user_r));
	reason_copy(reason, reasonsize, "");
}

/* The answer r of a backend that holds user (not BACKEND_NO_USER), under
 * the lists' verdict: a virtual user running as account, or (is_system)
 * the APOP secret of the system account named user. */
static enum auth_result held_name(const struct auth_config *cfg, const char *user,
				  enum backend_result r, bool is_system,
				  enum auth_result lists, const char *policy_reason,
				  const char *account, struct auth_user *user_r,
				  char *reason, size_t reasonsize)
{
	if (r == BACKEND_OK && lists != AUTH_OK)
		reason_copy(reason, reasonsize, policy_reason);
	if (r == BACKEND_OK && is_system)
		return finish_system_apop(cfg, user, lists, user_r, reason, reasonsize);
	return finish_virtual(user, r, lists, account, user_r, reason, reasonsize);
}

/* The backends, in the order they are asked.  The user database comes
 * first: a virtual user it holds is checked there and nowhere else (and a
 * name it does not hold costs the same work as a wrong password).  PAM, a
 * backend of system accounts, answers for every other name. */
static const struct auth_backend *const backends[] = {
	&auth_backend_userdb,
	&auth_backend_pam,
};
#define BACKENDS_N (sizeof(backends) / sizeof(backends[0]))

static bool backend_on(const struct auth_backend *b, const struct auth_config *cfg)
{
	return b->enabled == NULL || b->enabled(cfg);
}

/* USER/PASS against a backend of system accounts (PAM), whose answer is
 * final.  The policy is evaluated first; a refused account still goes
 * through the backend (with BACKEND_VERIFY_ONLY) so that a refusal costs
 * the same work as a wrong password.  lists and policy_reason (size
 * POLICY_REASON_MAX) are list_policy's verdict. */
static enum auth_result plain_system(const struct auth_config *cfg,
				     const struct auth_backend *b,
				     const char *user, const char *password,
				     enum auth_result lists, char *policy_reason,
				     struct auth_user *user_r,
				     char *reason, size_t reasonsize)
{
	char account[USERNAME_MAX + 1] = "";
	struct account acc;
	enum auth_result pol = lists;
	enum backend_result r;
	bool known = true;

	if (pol == AUTH_OK) {
		pol = account_resolve(user, &acc);
		if (pol == AUTH_TEMPFAIL) {
			log_error("account lookup failed for a login attempt: %s",
				  strerror(errno));
			reason_copy(reason, reasonsize, "account lookup failed");
			return AUTH_TEMPFAIL;
		}
		known = pol == AUTH_OK;
		if (!known)
			reason_copy(policy_reason, POLICY_REASON_MAX, "unknown user");
		else
			pol = system_policy(cfg, &acc, policy_reason, POLICY_REASON_MAX);
	}
	r = b->verify_plain(cfg, user, password, pol == AUTH_OK ? 0 : BACKEND_VERIFY_ONLY,
			    account, sizeof(account), reason, reasonsize);
	if (pol != AUTH_OK) {
		/* Refused whatever the backend said.  For an account that
		 * exists, a wrong password is the more useful log reason
		 * (brute force). */
		if (r != BACKEND_FAIL || !known)
			reason_copy(reason, reasonsize, policy_reason);
		return AUTH_FAIL;
	}
	if (r != BACKEND_OK)
		return from_backend(r);
	fill_user(user_r, user, false, &acc);
	reason_copy(reason, reasonsize, "");
	return AUTH_OK;
}

/* The lists, the first policy every entry point applies, into *lists_r
 * and policy_reason (size POLICY_REASON_MAX).  They are global conditions:
 * an unusable deny list stops every login before any password is looked
 * at.  Returns AUTH_TEMPFAIL (reason set) for that, else AUTH_OK. */
static enum auth_result lists_first(const struct auth_config *cfg, const char *user,
				    enum auth_result *lists_r, char *policy_reason,
				    char *reason, size_t reasonsize)
{
	*lists_r = list_policy(cfg, user, policy_reason, POLICY_REASON_MAX);
	if (*lists_r == AUTH_TEMPFAIL) {
		reason_copy(reason, reasonsize, policy_reason);
		return AUTH_TEMPFAIL;
	}
	return AUTH_OK;
}

enum auth_result auth_verify_plain(const struct auth_config *cfg,
				   const char *user, const char *password,
				   struct auth_user *user_r,
				   char *reason, size_t reasonsize)
{
	char account[USERNAME_MAX + 1] = "";
	char policy_reason[POLICY_REASON_MAX] = "";
	enum auth_result lists;
	enum backend_result r;
	size_t i;

	start(user_r, reason, reasonsize);
	if (!name_ok(user, reason, reasonsize))
		return AUTH_FAIL;
	if (password == NULL || password[0] == '\0') {
		reason_copy(reason, reasonsize, "empty password");
		return AUTH_FAIL;
	}
	if (strnlen(password, AUTH_PASSWORD_MAX + 1) > AUTH_PASSWORD_MAX) {
		reason_copy(reason, reasonsize, "password too long");
		return AUTH_FAIL;
	}
	if (lists_first(cfg, user, &lists, policy_reason, reason, reasonsize) != AUTH_OK)
		return AUTH_TEMPFAIL;
	for (i = 0; i < BACKENDS_N; i++) {
		const struct auth_backend *b = backends[i];

		if (b->verify_plain == NULL || !backend_on(b, cfg))
			continue;
		if (b->system_accounts)
			return plain_system(cfg, b, user, password, lists, policy_reason,
					    user_r, reason, reasonsize);
		r = b->verify_plain(cfg, user, password, 0, account, sizeof(account),
				    reason, reasonsize);
		if (r != BACKEND_NO_USER)
			return held_name(cfg, user, r, false, lists, policy_reason, account,
					 user_r, reason, reasonsize);
	}
	return AUTH_FAIL;   /* nobody holds the name; reason: "unknown user" from the database */
}

enum auth_result auth_verify_apop(const struct auth_config *cfg,
				  const char *user, const char *timestamp,
				  const char *digest_hex,
				  struct auth_user *user_r,
				  char *reason, size_t reasonsize)
{
	char account[USERNAME_MAX + 1] = "";
	char policy_reason[POLICY_REASON_MAX] = "";
	enum auth_result lists;
	enum backend_result r;
	bool is_system = false;
	size_t i;

	start(user_r, reason, reasonsize);
	/* Whether the file may be used is the lookup's to say (and to log):
	 * the engine offers APOP only after auth_apop_available(). */
	if (!auth_apop_configured(cfg)) {
		reason_copy(reason, reasonsize, "APOP not available");
		return AUTH_FAIL;
	}
	if (!name_ok(user, reason, reasonsize))
		return AUTH_FAIL;
	if (digest_hex == NULL) {
		reason_copy(reason, reasonsize, "malformed digest");
		return AUTH_FAIL;
	}
	if (lists_first(cfg, user, &lists, policy_reason, reason, reasonsize) != AUTH_OK)
		return AUTH_TEMPFAIL;
	/* Only a backend that keeps secrets can answer APOP. */
	for (i = 0; i < BACKENDS_N; i++) {
		const struct auth_backend *b = backends[i];

		if (b->verify_apop == NULL || !backend_on(b, cfg))
			continue;
		r = b->verify_apop(cfg, user, timestamp, digest_hex, account, sizeof(account),
				   &is_system, reason, reasonsize);
		if (r != BACKEND_NO_USER)
			return held_name(cfg, user, r, is_system, lists, policy_reason, account,
					 user_r, reason, reasonsize);
	}
	return AUTH_FAIL;   /* reason: "unknown user" from the database */
}

/* What the backends that keep secrets know of user: the first that holds
 * the name answers (is it virtual, has it a secret).  BACKEND_NO_USER when
 * none does; reason as the backend set it. */
static enum backend_result lookup_known(const struct auth_config *cfg, const char *user,
					bool *is_virtual_r, bool *has_secret_r,
					char *reason, size_t reasonsize)
{
	char secret[USERDB_SECRET_MAX + 1];
	enum backend_result r = BACKEND_NO_USER;
	size_t i, len;

	*is_virtual_r = *has_secret_r = false;
	for (i = 0; i < BACKENDS_N; i++) {
		const struct auth_backend *b = backends[i];
		bool is_virtual = false;

		if (b->lookup_secret == NULL || !backend_on(b, cfg))
			continue;
		len = 0;
		r = b->lookup_secret(cfg, user, secret, sizeof(secret), &len, &is_virtual,
				     reason, reasonsize);
		ct_wipe(secret, sizeof(secret));
		if (r == BACKEND_NO_USER)
			continue;
		*is_virtual_r = r == BACKEND_OK && is_virtual;
		*has_secret_r = r == BACKEND_OK && len > 0;
		return r;
	}
	return r;
}

enum auth_result auth_finish_login(const struct auth_config *cfg, const char *user,
				   struct auth_user *user_r,
				   char *reason, size_t reasonsize)
{
	char policy_reason[POLICY_REASON_MAX] = "";
	enum auth_result lists;
	enum backend_result r;
	bool is_virtual, has_secret;

	start(user_r, reason, reasonsize);
	if (!name_ok(user, reason, reasonsize))
		return AUTH_FAIL;
	if (lists_first(cfg, user, &lists, policy_reason, reason, reasonsize) != AUTH_OK)
		return AUTH_TEMPFAIL;
	/* A name the user database holds as a virtual user means that user,
	 * here as for USER/PASS; any other name is a system account. */
	r = lookup_known(cfg, user, &is_virtual, &has_secret, reason, reasonsize);
	if (r == BACKEND_TEMPFAIL || r == BACKEND_PERMFAIL)
		return from_backend(r);
	if (is_virtual) {
		if (!has_secret) {
			reason_copy(reason, reasonsize, "virtual user without a secret (disabled)");
			return AUTH_FAIL;
		}
		if (lists != AUTH_OK) {
			reason_copy(reason, reasonsize, policy_reason);
			return lists;
		}
		if (cfg->mail_owner == NULL || cfg->mail_owner[0] == '\0') {
			log_error("virtual users cannot log in: no mail-owner is configured");
			reason_copy(reason, reasonsize, "no mail-owner configured");
			return AUTH_TEMPFAIL;
		}
		return finish_virtual(user, BACKEND_OK, lists, cfg->mail_owner, user_r,
				      reason, reasonsize);
	}
	if (lists != AUTH_OK) {
		reason_copy(reason, reasonsize, policy_reason);
	} else {
		struct account acc;

		/* Say so plainly in the log; finish_system_apop's words are
		 * about popauth entries. */
		if (account_resolve(user, &acc) == AUTH_FAIL) {
			reason_copy(reason, reasonsize, "no such user");
			return AUTH_FAIL;
		}
	}
	return finish_system_apop(cfg, user, lists, user_r, reason, reasonsize);
}

bool auth_apop_configured(const struct auth_config *cfg)
{
	size_t i;

	for (i = 0; i < BACKENDS_N; i++)
		if (backends[i]->apop_available != NULL && backends[i]->apop_available(cfg))
			return true;
	return false;
}

bool auth_apop_available(const struct auth_config *cfg)
{
	size_t i;

	for (i = 0; i < BACKENDS_N; i++)
		if (backends[i]->apop_available != NULL && backends[i]->apop_available(cfg) &&
		    backends[i]->secrets_usable != NULL && backends[i]->secrets_usable(cfg))
			return true;
	return false;
}

bool auth_secrets_available(const struct auth_config *cfg)
{
	size_t i;

	for (i = 0; i < BACKENDS_N; i++)
		if (backends[i]->secrets_usable != NULL && backends[i]->secrets_usable(cfg))
			return true;
	return false;
}

enum auth_result auth_check_secret(const struct auth_config *cfg, const char *user,
				   bool *has_r)
{
	char reason[128];
	enum backend_result r;
	bool is_virtual;

	*has_r = false;
	if (user == NULL || !username_valid(user))
		return AUTH_OK;
	r = lookup_known(cfg, user, &is_virtual, has_r, reason, sizeof(reason));
	if (r == BACKEND_TEMPFAIL || r == BACKEND_PERMFAIL)
		return from_backend(r);
	return AUTH_OK;
}

bool auth_user_has_secret(const struct auth_config *cfg, const char *user)
{
	bool has;

	return auth_check_secret(cfg, user, &has) == AUTH_OK && has;
}

int auth_lookup_account(const char *name, uid_t *uid_r, gid_t *gid_r,
			char *home, size_t homesize)
{
	struct account acc;

	if (name == NULL || name[0] == '\0' || account_resolve(name, &acc) != AUTH_OK)
		return -1;
	if (home != NULL && homesize > 0) {
		if (strlen(acc.home) >= homesize)
			return -1;
		memcpy(home, acc.home, strlen(acc.home) + 1);
	}
	if (uid_r != NULL)
		*uid_r = acc.uid;
	if (gid_r != NULL)
		*gid_r = acc.gid;
	return 0;
}
