/*
 * maildrop_store: what a mail store implements to stand behind the maildrop
 * interface (maildrop.h) -- one table of operations.  maildrop.c chooses a
 * table in maildrop_open() and dispatches every call through it; the
 * stores (mbox.c: mbox_maildrop_ops; tempdrop.c: tempdrop_maildrop_ops)
 * know nothing of each other's tables except that temp-drop mode works
 * on an mbox underneath.  A new store (Maildir) adds a table and one
 * choice in maildrop_open().  Runs as the user, after the privilege drop.
 */
#ifndef POPPER_MAILDROP_STORE_H
#define POPPER_MAILDROP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/maildrop/maildrop.h"

/* The operations of one store, each with the contract of the maildrop_*
 * function of the same name (maildrop.h) on the store's own handle.
 * Message numbers are checked by maildrop.c before a store sees them;
 * commit and close free the store. */
struct maildrop_ops {
	const char *name;
	enum maildrop_status (*open)(const struct maildrop_settings *set, void **store_r,
				     char *reason, size_t reasonsize);
	unsigned (*count)(const void *store);
	uint64_t (*msg_size)(const void *store, unsigned i);
	const char *(*msg_uid)(const void *store, unsigned i);
	bool (*msg_deleted)(const void *store, unsigned i);
	void (*msg_delete)(void *store, unsigned i);
	bool (*msg_seen)(const void *store, unsigned i);
	void (*msg_mark_seen)(void *store, unsigned i);
	void (*reset)(void *store);
	int (*send)(void *store, unsigned i, uint64_t body_lines, struct netio *io,
		    const char *ok_line, char *reason, size_t reasonsize);
	enum maildrop_status (*commit)(void *store, struct maildrop_stats *stats,
				       char *reason, size_t reasonsize);
	void (*close)(void *store);
};

#endif
