/*
 * settings: every run-time option of popper in one structure.
 *
 * Filled from compiled defaults, then command-line switches and the
 * configuration file in the order given (Qpopper's rule: a later switch
 * overrides an earlier -f file).  server/options.c holds the table that maps
 * Qpopper's option names and switches onto these fields.
 *
 * Filled as root at start-up (server/main.c); the listener and every
 * session read it.  A session copies it after the drop and reads the
 * per-user option files into its copy, as the user.
 */
#ifndef POPPER_SETTINGS_H
#define POPPER_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* Qpopper's clear-text-password policy (-p 0..4). */
enum cleartext_policy {
	CLEARTEXT_DEFAULT = 0, /* allowed unless the user has an APOP secret */
	CLEARTEXT_NEVER = 1,
	CLEARTEXT_ALWAYS = 2,
	CLEARTEXT_LOCAL = 3,   /* only from 127.0.0.0/8 or ::1 */
	CLEARTEXT_TLS = 4      /* only after TLS (STLS or implicit TLS) */
};

/* Qpopper's tls-support (-l 0..2). */
enum tls_support {
	TLS_SUPPORT_NONE = 0,
	TLS_SUPPORT_STLS = 1,     /* STLS on the normal port (RFC 2595) */
	TLS_SUPPORT_ALTPORT = 2   /* implicit TLS: handshake before the greeting (RFC 8314) */
};

struct tls_server;

struct settings {
	/* logging */
	int log_facility;            /* -y, log-facility */
	bool debug;                  /* -d, debug */
	char *tracefile;             /* -t, tracefile */
	bool statistics;             /* -s, statistics */
	bool timing;                 /* timing */

	/* session */
	unsigned timeout;            /* -T, timeout: idle seconds (600) */
	bool shy;                    /* shy: no version in greeting / CAPA */
	bool reverse_lookup;         /* reverse-lookup (-R turns off) */
	bool update_on_abort;        /* update-on-abort (false: RFC 1939 §6) */
	bool auto_delete;            /* auto-delete: RETR marks deleted */
	long announce_login_delay;   /* -e login_delay=, -1 = not announced */
	long announce_expire;        /* -e expire=, -1 = NEVER */

	/* user names */
	bool downcase_user;          /* -c */
	bool trim_domain;            /* -C */

	/* authentication */
	enum cleartext_policy cleartext; /* -p, clear-text-password */
	char *pam_service;           /* pam-service */
	char *auth_db;               /* auth-db: GDBM user database */
	char *auth_db_owner;         /* auth-db-owner: account that may own it (besides root) */
	char *mail_owner;            /* mail-owner: account of virtual maildrops */
	char *nonauth_file;          /* nonauth-file: deny list */
	char *auth_file;             /* auth-file: allow list */
	unsigned long min_uid;       /* min-uid (1000) */
	bool check_shell;            /* check-shell */
	unsigned max_auth_failures;  /* max-auth-failures (3) */
	unsigned auth_failure_delay; /* auth-failure-delay, seconds (2) */
	unsigned auth_failure_penalty; /* auth-failure-penalty: most extra seconds per address (15) */
	bool apop;                   /* apop: offer APOP */

	/* maildrop location */
	char *spool_dir;             /* spool-dir */
	unsigned hash_spool;         /* hash-spool 0/1/2 */
	char *home_dir_mail;         /* home-dir-mail: ~/NAME instead */
	char *virtual_spool_dir;     /* virtual-spool-dir: maildrops of virtual users */
	char *state_dir;             /* state-dir: UID state and journals */
	bool server_mode;            /* -S, server-mode (work on the spool in place) */
	unsigned lock_wait;          /* lock-wait: seconds to wait for a busy lock */
	bool trust_x_uidl;           /* trust-x-uidl */

	/* per-user option files */
	bool user_options;           /* -u */
	bool spool_options;          /* -U */

	/* standalone daemon */
	unsigned max_sessions;       /* max-sessions (total) */
	unsigned max_sessions_per_host; /* max-sessions-per-host */
	bool detach;                 /* daemon: go to the background */
	char *pid_file;              /* pid-file */

	/* announced in CAPA; not enforced (as Qpopper) */

	/* added by options.c's owner (options the team notes list as
	 * implemented that had no field yet) */
	char *log_login;             /* log-login: template, %0..%3 and %% only */
	bool check_password_expired; /* check-password-expired: PAM account management */

	/* TLS (lib/tls.c) */
	enum tls_support tls_support; /* -l, tls-support */
	char *tls_cert_file;         /* tls-server-cert-file: PEM chain */
	char *tls_key_file;          /* tls-private-key-file: unset = in the cert file */
	char *tls_cipher_list;       /* tls-cipher-list: unset = OpenSSL's default */
	char *tls_version;           /* tls-version mnemonic: unset = default */
	/* Not an option: the context main.c builds from the tls-* options at
	 * start-up (NULL when tls-support is none), shared read-only by every
	 * session.  Copies of the settings share it; nobody but main frees it. */
	struct tls_server *tls;

	/* temp-drop mode (Qpopper's normal mode; server/maildrop/tempdrop.c) */
	char *temp_dir;              /* temp-dir: NULL = the user's state directory;
	                                at most one %s (the user name) */
	char *temp_name;             /* temp-name: exactly one %s (".%s.pop") */
	bool keep_temp_drop;         /* keep-temp-drop: truncate, do not remove */
	char *group_server_mode;     /* group-server-mode: members get server mode */
	char *group_no_server_mode;  /* group-no-server-mode: members get temp-drop mode */

	/* SASL (AUTH, auth/sasl.c) and Kerberos (auth/kpop.c) */
	char *sasl_mechanisms;       /* sasl-mechanisms: NULL = the default list, "" = none */
	char *sasl_proxy_users;      /* sasl-proxy-users: may log in as another user */
	bool kerberos;               /* -k, kerberos: KPOP handshake at connection start */
	char *kerberos_service;      /* -K, kerberos-service ("pop") */
	char *kerberos_keytab;       /* kerberos-keytab: NULL = krb5's default */

	/* the pre-auth process (server/sandbox.c) */
	char *preauth_user;          /* preauth-user: NULL/"" = PREAUTH_USER */
	char *preauth_chroot;        /* preauth-chroot: NULL/"" = <state-dir>/empty */
	bool seccomp;                /* seccomp: the system call filter */
};

/* Fills s with the compiled defaults.  Free with settings_free(). */
void settings_init(struct settings *s);
void settings_free(struct settings *s);

/* Applies one "set NAME = VALUE" / "reset NAME" (from a file or a switch).
 * Returns NULL, or a message naming the problem. */
const char *settings_apply(struct settings *s, const char *name,
			   const char *value, bool reset);

/* Reads a configuration file into s.  Returns 0 or -1 with err filled
 * ("FILE:LINE: message"). */
int settings_load_file(struct settings *s, const char *path,
		       char *err, size_t errsize);

/* Deep copy of src into dst (a session applies per-user option files to its
 * own copy, never to the daemon's).  Returns 0, or -1 when out of memory
 * (dst is then empty and safe to settings_free). */
int settings_copy(struct settings *dst, const struct settings *src);

/* Reads the per-user option files after login, as Qpopper does: first
 * <home>/.qpopper-options when user-options (-u) is set, where only the
 * options a user may choose are accepted and the file must belong to uid (or
 * root) and not be writable by group or others; then
 * <spool-dir>/.<user>.qpopper-options when spool-options (-U) is set, the
 * administrator's file, which must NOT belong to uid nor be writable by group
 * or others, and may also set per-user site options (timeout, statistics,
 * ...).  Options that only make sense at start-up are refused in both.  A missing file is
 * not an error.  Call it after dropping to the user (CVE-2005-1151).
 * Returns 0 or -1 with err filled ("FILE:LINE: message"). */
int settings_load_user_options(struct settings *s, const char *user,
			       const char *home, uid_t uid,
			       char *err, size_t errsize);

/* Prints the effective settings in configuration-file syntax (popper -n). */
void settings_print(const struct settings *s, FILE *stream);

#endif
