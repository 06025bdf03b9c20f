/*
 * entry: one look at one entry of the user database (see apopdb/entry.h),
 * for apopdb's commands and popauth's checks before it prompts.
 */
#include "config.h"

#include "apopdb/entry.h"

#include "lib/log.h"

enum userdb_status entry_read_once(struct userdb *db, const char *user,
				   struct userdb_entry *e_r)
{
	enum userdb_status st = userdb_get_entry(db, user, e_r);

	if (st == USERDB_ERROR)
		log_error("%s", userdb_error(db));
	userdb_close(db);
	return st;
}
