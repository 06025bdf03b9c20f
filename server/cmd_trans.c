/*
 * cmd_trans: the TRANSACTION-state handlers (STAT LIST RETR TOP DELE NOOP
 * RSET UIDL LAST, and the XTND row that is not built).  QUIT is in
 * cmd_any.c and hands over to the login module's UPDATE (server/login.c).
 *
 * Runs as the user (after the privilege drop).  By the time a handler runs
 * the engine has checked its arguments: c->msg is a number between 1 and
 * the count that is not deleted, c->lines is TOP's clamped line count.  The
 * engine numbers messages from 1, the maildrop from 0.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>

#include "lib/log.h"
#include "server/commands.h"

/* Messages and octets that are not marked deleted. */
static void totals(const struct maildrop *md, unsigned *count_r, uint64_t *octets_r)
{
	unsigned n = maildrop_count(md), count = 0;
	uint64_t octets = 0;

	for (unsigned i = 0; i < n; i++) {
		if (maildrop_msg_deleted(md, i))
			continue;
		count++;
		octets += maildrop_msg_size(md, i);
	}
	*count_r = count;
	*octets_r = octets;
}

void cmd_stat(struct session *s, const struct cmd_call *c)
{
	unsigned count;
	uint64_t octets;

	(void)c;
	totals(s->md, &count, &octets);
	reply_ok(s, "%u %" PRIu64, count, octets);
}

void cmd_list(struct session *s, const struct cmd_call *c)
{
	unsigned count, n;
	uint64_t octets;

	if (c->argc == 1) {
		reply_ok(s, "%u %" PRIu64, c->msg, maildrop_msg_size(s->md, c->msg - 1));
		return;
	}
	totals(s->md, &count, &octets);
	reply_ok(s, "%u messages (%" PRIu64 " octets)", count, octets);
	n = maildrop_count(s->md);
	for (unsigned i = 0; i < n; i++)
		if (!maildrop_msg_deleted(s->md, i))
			reply_line(s, "%u %" PRIu64, i + 1, maildrop_msg_size(s->md, i));
	reply_line(s, ".");
}

/* Shared by RETR and TOP.  Returns true when the message went out. */
static bool send_message(struct session *s, unsigned msg, uint64_t body_lines,
			 const char *ok_line)
{
	char reason[256] = "";
	int rc;

	rc = maildrop_send(s->md, msg - 1, body_lines, s->io, ok_line,
			   reason, sizeof(reason));
	if (rc == 0)
		return true;
	log_error("sending message %u failed: user=%s %s", msg, s->user.name, reason);
	if (rc == -1) {
		/* Nothing was sent yet: the client can be told. */
		reply_err(s, RESP_SYS_TEMP, "Unable to read the message; try again later.");
	} else {
		/* Part of the message went out: the only honest thing left is
		 * to close the connection (an abort, as if the client had
		 * gone: update only with update-on-abort). */
		s->send_failed = true;
		engine_end(s);
	}
	return false;
}

void cmd_retr(struct session *s, const struct cmd_call *c)
{
	char ok_line[64];
	unsigned i = c->msg - 1;

	snprintf(ok_line, sizeof(ok_line), "+OK %" PRIu64 " octets",
		 maildrop_msg_size(s->md, i));
	if (!send_message(s, c->msg, UINT64_MAX, ok_line))
		return;
	/* RETR (not TOP) counts as "seen" for LAST and for later sessions. */
	maildrop_msg_mark_seen(s->md, i);
	if (c->msg > s->last)
		s->last = c->msg;
	if (s->set->auto_delete)
		maildrop_msg_delete(s->md, i);
}

void cmd_top(struct session *s, const struct cmd_call *c)
{
	(void)send_message(s, c->msg, c->lines, "+OK Message follows.");
}

void cmd_dele(struct session *s, const struct cmd_call *c)
{
	/* The engine already refused a message that is deleted (RFC 1939:
	 * DELE of a deleted message is an error). */
	maildrop_msg_delete(s->md, c->msg - 1);
	reply_ok(s, "Message %u deleted.", c->msg);
}

void cmd_noop(struct session *s, const struct cmd_call *c)
{
	(void)c;
	reply_line(s, "+OK");
}

void cmd_rset(struct session *s, const struct cmd_call *c)
{
	unsigned count;
	uint64_t octets;

	(void)c;
	/* Undeletes everything and restores the seen marks; LAST follows. */
	maildrop_reset(s->md);
	s->last = s->last_at_start;
	totals(s->md, &count, &octets);
	reply_ok(s, "Maildrop has %u messages (%" PRIu64 " octets).", count, octets);
}

void cmd_uidl(struct session *s, const struct cmd_call *c)
{
	unsigned n;

	if (c->argc == 1) {
		reply_ok(s, "%u %s", c->msg, maildrop_msg_uid(s->md, c->msg - 1));
		return;
	}
	reply_ok(s, "Unique-ID listing follows.");
	n = maildrop_count(s->md);
	for (unsigned i = 0; i < n; i++)
		if (!maildrop_msg_deleted(s->md, i))
			reply_line(s, "%u %s", i + 1, maildrop_msg_uid(s->md, i));
	reply_line(s, ".");
}

void cmd_last(struct session *s, const struct cmd_call *c)
{
	(void)c;
	reply_ok(s, "%u", s->last);
}

void cmd_xtnd(struct session *s, const struct cmd_call *c)
{
	(void)c;
	reply_err(s, RESP_NONE, "XTND is not supported by this server.");
}
