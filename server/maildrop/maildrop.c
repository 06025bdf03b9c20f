/*
 * maildrop: the store-neutral functions the session engine calls
 * (server/maildrop/maildrop.h), dispatching through a table of store
 * operations (struct maildrop_ops, maildrop_store.h).  The top floor of
 * server/maildrop/: it calls the stores and nothing calls back into it.
 * mbox is the only store today, in Qpopper's two modes: server mode
 * (mbox_maildrop_ops, the spool in place; opened by tempdrop_server_open()
 * when a temp-dir may hold mail to write back) and temp-drop mode
 * (tempdrop_maildrop_ops); Maildir becomes another table and a choice in
 * maildrop_open().  Runs as the user, after the privilege drop.
 *
 * Message numbers are checked here once, so a store never sees an index out
 * of range even if a caller slips: an out-of-range number reads as a
 * deleted message of size 0 and cannot be changed or sent.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "server/maildrop/maildrop.h"
#include "server/maildrop/maildrop_store.h"
#include "server/maildrop/mbox.h"
#include "server/maildrop/tempdrop.h"

struct maildrop {
	const struct maildrop_ops *ops;
	void *store;
};

static bool in_range(const struct maildrop *md, unsigned i)
{
	return md != NULL && i < md->ops->count(md->store);
}

enum maildrop_status maildrop_open(const struct maildrop_settings *set,
				   struct maildrop **md_r,
				   char *reason, size_t reasonsize)
{
	struct maildrop *md;
	enum maildrop_status st;

	*md_r = NULL;
	md = calloc(1, sizeof(*md));
	if (md == NULL) {
		snprintf(reason, reasonsize, "out of memory");
		return MAILDROP_TEMP;
	}
	/* Server mode works on the spool in place; temp-drop mode on a
	 * private copy (server/maildrop/tempdrop.c), with the same mbox underneath. */
	md->ops = set->temp_drop_mode ? &tempdrop_maildrop_ops : &mbox_maildrop_ops;
	if (!set->temp_drop_mode && set->temp_dir != NULL)
		/* Server mode with a temp-dir: a temporary drop left behind
		 * goes back into the spool before it is indexed; that open is
		 * composed above mbox, and the store is then a plain mbox. */
		st = tempdrop_server_open(set, &md->store, reason, reasonsize);
	else
		st = md->ops->open(set, &md->store, reason, reasonsize);
	if (st != MAILDROP_OK) {
		free(md);
		return st;
	}
	*md_r = md;
	return MAILDROP_OK;
}

unsigned maildrop_count(const struct maildrop *md)
{
	return md->ops->count(md->store);
}

uint64_t maildrop_msg_size(const struct maildrop *md, unsigned i)
{
	return in_range(md, i) ? md->ops->msg_size(md->store, i) : 0;
}

const char *maildrop_msg_uid(const struct maildrop *md, unsigned i)
{
	return in_range(md, i) ? md->ops->msg_uid(md->store, i) : "";
}

bool maildrop_msg_deleted(const struct maildrop *md, unsigned i)
{
	return in_range(md, i) ? md->ops->msg_deleted(md->store, i) : true;
}

void maildrop_msg_delete(struct maildrop *md, unsigned i)
{
	if (in_range(md, i))
		md->ops->msg_delete(md->store, i);
}

bool maildrop_msg_seen(const struct maildrop *md, unsigned i)
{
	return in_range(md, i) ? md->ops->msg_seen(md->store, i) : false;
}

void maildrop_msg_mark_seen(struct maildrop *md, unsigned i)
{
	if (in_range(md, i))
		md->ops->msg_mark_seen(md->store, i);
}

void maildrop_reset(struct maildrop *md)
{
	md->ops->reset(md->store);
}

int maildrop_send(struct maildrop *md, unsigned i, uint64_t body_lines,
		  struct netio *io, const char *ok_line,
		  char *reason, size_t reasonsize)
{
	if (!in_range(md, i)) {
		snprintf(reason, reasonsize, "message index %u out of range", i);
		return -1;
	}
	return md->ops->send(md->store, i, body_lines, io, ok_line, reason, reasonsize);
}

enum maildrop_status maildrop_commit(struct maildrop *md,
				     struct maildrop_stats *stats,
				     char *reason, size_t reasonsize)
{
	enum maildrop_status st = md->ops->commit(md->store, stats, reason, reasonsize);

	free(md);
	return st;
}

void maildrop_close(struct maildrop *md)
{
	if (md == NULL)
		return;
	md->ops->close(md->store);
	free(md);
}
