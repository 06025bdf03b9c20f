/*
 * commands: the engine's private interface, shared by the session loop
 * (server/session.c), the command table and dispatcher (server/commands.c)
 * and the handlers (server/cmd_auth.c, server/cmd_trans.c).
 *
 * The shape comes from popa3d and OpenSMTPD: an explicit enum of session
 * states changed by one function (session_set_state), and ONE command table
 * {name, states, min/max arguments, flags, handler}.  The engine alone
 * checks a line (NUL, length), looks the keyword up, checks the state, the
 * arity and the syntax of message numbers and line counts, and only then
 * calls a handler, so a handler never sees an argument it has to distrust.
 * cmd_prepare() does all of that without a session or a network, which is
 * what tests/unit/server/test_commands.c exercises.
 *
 * Nothing here is exported outside server/.
 */
#ifndef POPPER_COMMANDS_H
#define POPPER_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "auth/auth.h"
#include "lib/netio.h"
#include "lib/tls.h"
#include "lib/username.h"
#include "server/maildrop/maildrop.h"
#include "server/session.h"
#include "server/settings.h"

/* RFC 1939 states.  AUTHORIZATION is split in two, as in Qpopper: before
 * and after an accepted USER (PASS is only valid after one). */
enum session_state {
	STATE_AUTH1,   /* AUTHORIZATION: greeting sent, no user yet */
	STATE_AUTH2,   /* AUTHORIZATION: USER accepted, waiting for PASS */
	STATE_TRANS,   /* TRANSACTION: logged in, maildrop open */
	STATE_UPDATE,  /* UPDATE: QUIT is committing the maildrop */
	STATE_END      /* the loop stops; nothing more is read */
};

/* Bit masks of states for the command table. */
#define ST_AUTH1 (1u << STATE_AUTH1)
#define ST_AUTH2 (1u << STATE_AUTH2)
#define ST_TRANS (1u << STATE_TRANS)
#define ST_AUTH (ST_AUTH1 | ST_AUTH2)

/* Most arguments any command stores (TOP n m, APOP name digest). */
#define CMD_MAX_ARGS 2
/* max_args of rows that accept anything (the "not supported" rows). */
#define CMD_ARGS_ANY 255u
/* Longest command line we accept, CRLF excluded: netio's limit (RFC 2449
 * allows 255 octets; we are generous, as popa3d). */
#define CMD_MAX_LINE NETIO_MAX_LINE
/* Longest reply line, CRLF included.  RFC 2449 says 512; the greeting may
 * exceed it with a very long host name, so the buffer has room for that. */
#define CMD_REPLY_MAX 1024

/* Row flags. */
#define CMD_F_MSGNUM 0x01    /* argument 1 is a message number (checked) */
#define CMD_F_LINECOUNT 0x02 /* argument 2 is a line count (TOP, clamped) */
#define CMD_F_REST 0x04      /* the one argument is the rest of the line (PASS) */
#define CMD_F_SECRET 0x08    /* never log the arguments (PASS) */

/* RFC 2449 / RFC 3206 response codes; reply_err() spells them. */
enum resp_code {
	RESP_NONE,
	RESP_AUTH,       /* [AUTH]: credentials or policy */
	RESP_IN_USE,     /* [IN-USE]: maildrop locked */
	RESP_SYS_TEMP,   /* [SYS/TEMP] */
	RESP_SYS_PERM    /* [SYS/PERM] */
};

struct session;
struct cmd_call;

typedef void cmd_handler(struct session *s, const struct cmd_call *c);

struct command {
	const char *name;        /* canonical upper-case keyword */
	unsigned states;         /* ST_* mask where the command is valid */
	unsigned min_args, max_args;
	unsigned flags;          /* CMD_F_* */
	cmd_handler *handler;
};

/* One validated command, ready for its handler. */
struct cmd_call {
	const struct command *cmd;
	unsigned argc;
	const char *argv[CMD_MAX_ARGS]; /* point into buf */
	unsigned msg;            /* CMD_F_MSGNUM with argc >= 1: 1-based, valid */
	uint64_t lines;          /* CMD_F_LINECOUNT with argc >= 2: clamped */
	char buf[CMD_MAX_LINE + 1]; /* private copy of the line, split in place */
};

/* What the engine knows about the messages when it checks a number. */
struct cmd_msgview {
	unsigned count;                                    /* deleted included */
	bool (*deleted)(const void *ctx, unsigned index0); /* 0-based */
	const void *ctx;
};

enum cmd_num_result { CMD_NUM_OK, CMD_NUM_SYNTAX, CMD_NUM_RANGE, CMD_NUM_DELETED };

/* The session: everything one connection owns.  Only server/session.c
 * creates it; handlers read it and change it through the functions below. */
struct session {
	const struct session_params *p;
	const struct settings *set;
	struct netio *io;
	enum session_state state;        /* changed only by session_set_state() */
	bool cleartext_ok;               /* USER/PASS allowed on this connection */
	struct tls_conn *tls;            /* non-NULL once the connection is encrypted
					  * (STLS or implicit TLS); see cmd_stls.c */
	char timestamp[320];             /* APOP banner timestamp, "<...>" */
	struct auth_config authcfg;
	char pending_user[USERNAME_MAX + 1]; /* STATE_AUTH2: the accepted USER name */
	char kpop_user[USERNAME_MAX + 1];    /* KPOP: the user Kerberos proved ("" = none) */
	unsigned auth_failures;
	/* after login */
	struct auth_user user;
	const char *method;              /* "PASS" or "APOP" */
	struct maildrop *md;             /* STATE_TRANS: the open maildrop */
	unsigned last, last_at_start;    /* LAST high-water mark (RFC 1725) */
	bool send_failed;                /* RETR/TOP broke off mid-message */
	struct timespec t_start, t_auth, t_init;
	int exit_status;
};

/* ---- commands.c: table, parsing, dispatch, replies ---- */

/* The row for keyword (len bytes, any case), or NULL. */
const struct command *cmd_lookup(const char *keyword, size_t len);

/* Parses a message-number argument: strict decimal (no sign, no space, no
 * overflow) between 1 and msgs->count, not deleted.  On CMD_NUM_OK and
 * CMD_NUM_DELETED stores the 1-based number in *msg_r.  msgs NULL means no
 * messages. */
enum cmd_num_result cmd_parse_msgnum(const char *arg, const struct cmd_msgview *msgs,
				     unsigned *msg_r);

/* Parses TOP's line count: strict decimal, huge values clamp to UINT64_MAX
 * (= the whole message).  False on bad syntax. */
bool cmd_parse_linecount(const char *arg, uint64_t *lines_r);

/* Checks and splits one line (len bytes, may contain NULs) for a session in
 * state: NUL, length, keyword, state, arity, numbers.  Returns true with
 * *call filled, or false with the reply text (without "-ERR ") in err. */
bool cmd_prepare(const char *line, size_t len, enum session_state state,
		 const struct cmd_msgview *msgs, struct cmd_call *call,
		 char *err, size_t errsize);

/* Runs one client line: cmd_prepare, then the handler or the -ERR. */
void cmd_dispatch(struct session *s, const char *line, size_t len);

/* The one way replies go out.  fmt is always a literal; the text must not
 * contain CR or LF (they are replaced if it does). */
void reply_ok(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void reply_err(struct session *s, enum resp_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A raw line of a multi-line reply ("1 120", "TOP", "."). */
void reply_line(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- cmd_auth.c: AUTHORIZATION handlers and helpers ---- */

cmd_handler cmd_user, cmd_pass, cmd_apop, cmd_quit, cmd_capa;
cmd_handler cmd_xtnd_unsupported;
/* True when APOP can be used on this connection (configured, built, a user
 * database present); the greeting carries the timestamp only then. */
bool cmd_apop_offered(const struct session *s);

/* Every failed login (PASS, APOP, AUTH, KPOP) ends here: the log line, the
 * delay, the -ERR for r, the close after max-auth-failures.  kind: a short
 * log token; detail: the log-only reason; user: client text (quoted). */
void cmd_auth_failed(struct session *s, const char *method, const char *user,
		     enum auth_result r, const char *kind, const char *detail);

/* True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104 in numeric form. */
bool cmd_addr_is_loopback(const char *addr);

/* Whether USER/PASS may be used at all on a connection from client_addr
 * (policy default still refuses users with a stored secret later). */
bool cmd_cleartext_allowed(enum cleartext_policy policy, const char *client_addr);

/* Qpopper's name processing: downcase (if set), cut at '@' (if set), then
 * username_valid().  Writes the result into out.  False if invalid. */
bool cmd_user_normalise(const struct settings *set, const char *in,
			char *out, size_t outsize);

/* ---- cmd_stls.c: TLS (STLS, RFC 2595; implicit TLS, RFC 8314) ---- */

cmd_handler cmd_stls;

/* Implicit TLS (tls-support alternate-port): the handshake, before the
 * greeting.  Returns 0, or -1 (logged) when the session must end at once:
 * nothing can be said to a client that does not speak TLS. */
int stls_start_implicit(struct session *s);

/* The end of the session's TLS layer, after the last flush: close_notify
 * (one attempt) and free.  Harmless without TLS. */
void stls_finish(struct session *s);

/* ---- cmd_sasl.c: AUTH (RFC 5034), CAPA's SASL line, Kerberos KPOP ---- */

/* AUTH; without SASL support it answers "not supported". */
cmd_handler cmd_auth;
/* Writes "SASL mech ..." for CAPA when mechanisms are offered. */
void cmd_sasl_capa(struct session *s);
/* kerberos: the KPOP handshake before the greeting; fills s->kpop_user.
 * Returns 0, or -1 (logged) when the session must end at once. */
int cmd_kpop_start(struct session *s);
/* USER and PASS on a KPOP connection (s->kpop_user set). */
cmd_handler cmd_kpop_user, cmd_kpop_pass;

/* ---- cmd_trans.c: TRANSACTION handlers ---- */

cmd_handler cmd_stat, cmd_list, cmd_retr, cmd_top, cmd_dele, cmd_noop,
	cmd_rset, cmd_uidl, cmd_last;

/* ---- session.c: state, login, update ---- */

/* The one function that changes s->state.  An illegal transition is a bug:
 * it is logged and the session ends. */
void session_set_state(struct session *s, enum session_state next);

/* After a successful auth: maildrop path, state directory, monitor and
 * privilege drop, maildrop_open, the +OK reply and TRANSACTION; or the
 * -ERR reply and STATE_END. */
void session_login(struct session *s, const struct auth_user *u, const char *method);

/* QUIT in TRANSACTION: the UPDATE state, reply, STATE_END. */
void session_update(struct session *s);

/* Sleeps up to seconds; returns false if a termination signal came. */
bool session_sleep(unsigned seconds);

/* True once SIGTERM/SIGHUP arrived. */
bool session_terminating(void);

/* Expands a log-login template: %0 version, %1 user, %2 host, %3 address,
 * %% a percent sign; anything else is copied as is (never a printf format).
 * Substituted values are passed through log_quote().  Returns out. */
char *session_expand_login(const char *tmpl, const char *version, const char *user,
			   const char *host, const char *addr, char *out, size_t outsize);

#endif
