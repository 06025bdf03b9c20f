/*
 * commands: the one command table of the POP3 engine, the checks every line
 * goes through before a handler runs, and dispatch.  Called by the loop
 * (server/session.c); calls the handlers (server/cmd_*.c) and, for its
 * own -ERR, server/engine.c.
 *
 * Order of checks for a line (each failure is exactly one -ERR and the
 * state does not change): a NUL byte anywhere; length; empty line; keyword
 * (case-insensitive, RFC 1939 §3); state; number of arguments; message number
 * (strict decimal, 1..count, not deleted); TOP's line count.  Arguments are
 * separated by runs of spaces or TABs and a trailing space is ignored, except
 * for PASS, whose argument is the rest of the line after "PASS " with its
 * spaces kept (RFC 1939 allows spaces in passwords).
 *
 * Runs as root before login (the code is pure parsing; nothing here touches
 * a file).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/ctcompare.h"
#include "lib/log.h"
#include "lib/strnum.h"
#include "server/commands.h"

/*
 * THE table.  Rows whose feature is not built keep their row and answer
 * "not supported" (Postfix's habit), so the client gets a reason instead of
 * "Unknown command".  The last column: on a connection Kerberos has
 * authenticated (KPOP), USER and PASS mean something else (cmd_kpop.c).
 */
static const struct command command_table[] = {
	/* name, states, min and max arguments, flags, handler, handler on KPOP */
	{ "USER", ST_AUTH1, 1, 1, 0, cmd_user, cmd_kpop_user },
	{ "PASS", ST_AUTH2, 1, 1, CMD_F_REST | CMD_F_SECRET, cmd_pass, cmd_kpop_pass },
	{ "APOP", ST_AUTH1, 2, 2, CMD_F_SECRET, cmd_apop, NULL },
	{ "AUTH", ST_AUTH1, 0, 2, CMD_F_SECRET, cmd_auth, NULL },
	{ "STLS", ST_AUTH1, 0, CMD_ARGS_ANY, 0, cmd_stls, NULL },
	{ "CAPA", ST_AUTH | ST_TRANS, 0, 0, 0, cmd_capa, NULL },
	{ "QUIT", ST_AUTH | ST_TRANS, 0, 0, 0, cmd_quit, NULL },
	{ "STAT", ST_TRANS, 0, 0, 0, cmd_stat, NULL },
	{ "LIST", ST_TRANS, 0, 1, CMD_F_MSGNUM, cmd_list, NULL },
	{ "RETR", ST_TRANS, 1, 1, CMD_F_MSGNUM, cmd_retr, NULL },
	{ "TOP", ST_TRANS, 2, 2, CMD_F_MSGNUM | CMD_F_LINECOUNT, cmd_top, NULL },
	{ "DELE", ST_TRANS, 1, 1, CMD_F_MSGNUM, cmd_dele, NULL },
	{ "NOOP", ST_TRANS, 0, 0, 0, cmd_noop, NULL },
	{ "RSET", ST_TRANS, 0, 0, 0, cmd_rset, NULL },
	{ "UIDL", ST_TRANS, 0, 1, CMD_F_MSGNUM, cmd_uidl, NULL },
	{ "LAST", ST_TRANS, 0, 0, 0, cmd_last, NULL },
	{ "XTND", ST_TRANS, 0, CMD_ARGS_ANY, 0, cmd_xtnd, NULL },
};

#define TABLE_SIZE (sizeof(command_table) / sizeof(command_table[0]))

static bool is_sep(char c)
{
	/* TAB counts as a space: some old clients send one. */
	return c == ' ' || c == '\t';
}

const struct command *cmd_lookup(const char *keyword, size_t len)
{
	for (size_t i = 0; i < TABLE_SIZE; i++) {
		const char *name = command_table[i].name;
		if (strlen(name) == len && strncasecmp(name, keyword, len) == 0)
			return &command_table[i];
	}
	return NULL;
}

enum cmd_num_result cmd_parse_msgnum(const char *arg, const struct cmd_msgview *msgs,
				     unsigned *msg_r)
{
	uint64_t n;

	/* Parse against the full 64-bit range first, so "4294967297" is a
	 * number that does not exist rather than message 1 after a wrap. */
	if (!strnum_parse_u64(arg, UINT64_MAX, &n))
		return CMD_NUM_SYNTAX;
	if (n == 0 || msgs == NULL || n > msgs->count)
		return CMD_NUM_RANGE;
	*msg_r = (unsigned)n;
	if (msgs->deleted != NULL && msgs->deleted(msgs->ctx, (unsigned)(n - 1)))
		return CMD_NUM_DELETED;
	return CMD_NUM_OK;
}

bool cmd_parse_linecount(const char *arg, uint64_t *lines_r)
{
	return strnum_parse_u64_clamped(arg, UINT64_MAX, lines_r);
}

/* Splits call->buf (after the keyword, at *p) into arguments.  Returns the
 * total number found; stores at most CMD_MAX_ARGS of them. */
static unsigned split_args(struct cmd_call *call, char *p)
{
	unsigned n = 0;

	for (;;) {
		while (is_sep(*p))
			p++;
		if (*p == '\0')
			break;
		if (n < CMD_MAX_ARGS)
			call->argv[n] = p;
		n++;
		while (*p != '\0' && !is_sep(*p))
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
	return n;
}

/* The last checks of cmd_prepare: the message number and TOP's line
 * count, where the row has them. */
static bool check_numbers(struct cmd_call *call, const struct cmd_msgview *msgs,
			  char *err, size_t errsize)
{
	const struct command *cmd = call->cmd;

	if ((cmd->flags & CMD_F_MSGNUM) && call->argc >= 1) {
		switch (cmd_parse_msgnum(call->argv[0], msgs, &call->msg)) {
		case CMD_NUM_OK:
			break;
		case CMD_NUM_SYNTAX:
			snprintf(err, errsize, "Invalid message number.");
			return false;
		case CMD_NUM_RANGE:
			snprintf(err, errsize, "No such message.");
			return false;
		case CMD_NUM_DELETED:
			snprintf(err, errsize, "Message %u has been deleted.", call->msg);
			return false;
		}
	}
	if ((cmd->flags & CMD_F_LINECOUNT) && call->argc >= 2 &&
	    !cmd_parse_linecount(call->argv[1], &call->lines)) {
		snprintf(err, errsize, "Invalid line count.");
		return false;
	}
	return true;
}

bool cmd_prepare(const char *line, size_t len, enum session_state state,
		 const struct cmd_msgview *msgs, struct cmd_call *call,
		 char *err, size_t errsize)
{
	const struct command *cmd;
	char *p, *kw;
	unsigned n;

	memset(call, 0, sizeof(*call));
	/* A NUL would silently cut the line short in every C string function
	 * below (Dovecot CVE-2019-11500 class): refuse the whole line. */
	if (memchr(line, '\0', len) != NULL) {
		snprintf(err, errsize, "Invalid character in command.");
		return false;
	}
	if (len > CMD_MAX_LINE) {
		snprintf(err, errsize, "Command line too long.");
		return false;
	}
	memcpy(call->buf, line, len);
	call->buf[len] = '\0';

	p = call->buf;
	while (is_sep(*p))
		p++;
	kw = p;
	while (*p != '\0' && !is_sep(*p))
		p++;
	cmd = cmd_lookup(kw, (size_t)(p - kw));
	if (cmd == NULL) {
		snprintf(err, errsize, "Unknown command.");
		return false;
	}
	if (!(cmd->states & (1u << state))) {
		snprintf(err, errsize, "Command not valid in this state.");
		return false;
	}
	call->cmd = cmd;

	if (cmd->flags & CMD_F_REST) {
		/* Exactly one separator ends the keyword; the rest, spaces and
		 * all, is the argument.  Nothing after it is "no argument". */
		if (*p != '\0')
			*p++ = '\0';
		n = *p != '\0' ? 1 : 0;
		if (n == 1)
			call->argv[0] = p;
	} else {
		if (*p != '\0')
			*p++ = '\0';
		n = split_args(call, p);
	}
	if (n < cmd->min_args) {
		snprintf(err, errsize, "Too few arguments for the %s command.", cmd->name);
		return false;
	}
	if (n > cmd->max_args) {
		snprintf(err, errsize, "Too many arguments for the %s command.", cmd->name);
		return false;
	}
	call->argc = n > CMD_MAX_ARGS ? CMD_MAX_ARGS : n;

	return check_numbers(call, msgs, err, errsize);
}

static bool view_deleted(const void *ctx, unsigned index0)
{
	return maildrop_msg_deleted(ctx, index0);
}

/* The debug record of a command; the arguments of PASS/APOP/AUTH are
 * secrets: the keyword only. */
static void log_command(const struct cmd_call *call)
{
	char q[96];

	if (!log_debug_enabled())
		return;
	log_debug("command: %s%s", call->cmd->name,
		  (call->cmd->flags & CMD_F_SECRET) ? " (arguments hidden)" : "");
	if (!(call->cmd->flags & CMD_F_SECRET) && call->argc >= 1)
		log_debug("argument: \"%s\"", log_quote(call->argv[0],
			  strlen(call->argv[0]), q, sizeof(q)));
}

void cmd_dispatch(struct session *s, const char *line, size_t len)
{
	struct cmd_call call;
	struct cmd_msgview view = { 0, view_deleted, NULL };
	cmd_handler *h;
	char err[128];

	engine_line_arrived(s);
	if (s->md != NULL) {
		view.count = maildrop_count(s->md);
		view.ctx = s->md;
	}
	if (!cmd_prepare(line, len, s->state, s->md != NULL ? &view : NULL,
			 &call, err, sizeof(err))) {
		reply_err(s, RESP_NONE, "%s", err);
	} else {
		log_command(&call);
		h = call.cmd->handler;
		if (s->kpop_user[0] != '\0' && call.cmd->kpop_handler != NULL)
			h = call.cmd->kpop_handler;
		h(s, &call);
	}
	/* The copy may hold a password. */
	ct_wipe(&call, sizeof(call));
}
