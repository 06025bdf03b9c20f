/*
 * commands: the command table of the POP3 engine, the checks every line
 * goes through before a handler runs, and dispatch; and the faces of the
 * handler files, which the table (and, for the start of a connection,
 * server/session.c) call.
 *
 * The shape comes from popa3d and OpenSMTPD: ONE command table {name,
 * states, min/max arguments, flags, handler}.  The engine alone checks a
 * line (NUL, length), looks the keyword up, checks the state, the arity and
 * the syntax of message numbers and line counts, and only then calls a
 * handler, so a handler never sees an argument it has to distrust.
 * cmd_prepare() does all of that without a session or a network, which is
 * what tests/unit/server/test_commands.c exercises.  States change only
 * through the named transitions of server/engine.h.
 *
 * Where a handler lives: the file of the state it is valid in.
 *   cmd_any.c    QUIT, CAPA: valid in every state
 *   cmd_auth.c   USER, PASS, APOP: AUTHORIZATION
 *   cmd_sasl.c   AUTH (RFC 5034) and CAPA's SASL line: AUTHORIZATION
 *   cmd_stls.c   STLS (RFC 2595) and implicit TLS: AUTHORIZATION
 *   cmd_kpop.c   Kerberos KPOP: the handshake before the greeting, USER and
 *                PASS on such a connection (the table's KPOP column)
 *   cmd_trans.c  STAT LIST RETR TOP DELE NOOP RSET UIDL LAST XTND: TRANSACTION
 * The handlers call down into server/login.c (the end of an authentication,
 * QUIT's update), server/policy.c and server/engine.c, never back up.
 *
 * Nothing here is exported outside server/.
 */
#ifndef POPPER_COMMANDS_H
#define POPPER_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/engine.h"

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

/* Row flags. */
#define CMD_F_MSGNUM 0x01    /* argument 1 is a message number (checked) */
#define CMD_F_LINECOUNT 0x02 /* argument 2 is a line count (TOP, clamped) */
#define CMD_F_REST 0x04      /* the one argument is the rest of the line (PASS) */
#define CMD_F_SECRET 0x08    /* never log the arguments (PASS) */

struct cmd_call;

typedef void cmd_handler(struct session *s, const struct cmd_call *c);

struct command {
	const char *name;        /* canonical upper-case keyword */
	unsigned states;         /* ST_* mask where the command is valid */
	unsigned min_args, max_args;
	unsigned flags;          /* CMD_F_* */
	cmd_handler *handler;
	cmd_handler *kpop_handler; /* instead of handler on a KPOP connection
				    * (s->kpop_user set), if not NULL */
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

/* ---- commands.c: table, parsing, dispatch ---- */

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

/* Runs one client line: cmd_prepare, then the row's handler (its KPOP
 * handler on a KPOP connection) or the -ERR. */
void cmd_dispatch(struct session *s, const char *line, size_t len);

/* ---- cmd_any.c: valid in every state ---- */

cmd_handler cmd_quit, cmd_capa;

/* ---- cmd_auth.c: AUTHORIZATION, USER/PASS and APOP ---- */

cmd_handler cmd_user, cmd_pass, cmd_apop;

/* ---- cmd_stls.c: TLS (STLS, RFC 2595; implicit TLS, RFC 8314) ---- */

cmd_handler cmd_stls;

/* Implicit TLS (tls-support alternate-port): the handshake, before the
 * greeting.  Returns 0, or -1 (logged) when the session must end at once:
 * nothing can be said to a client that does not speak TLS. */
int stls_start_implicit(struct session *s);

/* The end of the session's TLS layer, after the last flush: close_notify
 * (one attempt) and free.  Harmless without TLS. */
void stls_finish(struct session *s);

/* ---- cmd_sasl.c: AUTH (RFC 5034), CAPA's SASL line ---- */

/* AUTH; without SASL support it answers "not supported". */
cmd_handler cmd_auth;
/* Writes "SASL mech ..." for CAPA when mechanisms are offered (called by
 * cmd_any.c's CAPA, across the handler floor; it calls nothing back). */
void cmd_sasl_capa(struct session *s);

/* ---- cmd_kpop.c: Kerberos KPOP (Qpopper's -k) ---- */

/* The KPOP handshake before the greeting; fills s->kpop_user.  Returns 0,
 * or -1 (logged) when the session must end at once. */
int cmd_kpop_start(struct session *s);
/* USER and PASS on a KPOP connection (the table's KPOP column). */
cmd_handler cmd_kpop_user, cmd_kpop_pass;

/* ---- cmd_trans.c: TRANSACTION ---- */

cmd_handler cmd_stat, cmd_list, cmd_retr, cmd_top, cmd_dele, cmd_noop,
	cmd_rset, cmd_uidl, cmd_last, cmd_xtnd;

#endif
