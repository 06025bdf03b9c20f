/*
 * entry: one look at one entry of the user database, shared by apopdb and
 * popauth (apopdb/entry.c).  Runs as the tool does: apopdb as root or the
 * database owner, popauth setuid to the database owner.
 */
#ifndef POPPER_APOPDB_ENTRY_H
#define POPPER_APOPDB_ENTRY_H

#include "auth/userdb/userdb.h"

/* Reads user's entry from db (opened for reading) into *e_r and closes db,
 * so that no lock is held afterwards (popauth then prompts).  A database
 * error is logged.  Returns the status; the caller wipes *e_r. */
enum userdb_status entry_read_once(struct userdb *db, const char *user,
				   struct userdb_entry *e_r);

#endif
