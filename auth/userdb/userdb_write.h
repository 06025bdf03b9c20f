/*
 * userdb_write: the user database's writer (auth/userdb/userdb_write.c), for
 * the tools that change it: apopdb (the administrator, as root or the
 * database owner) and popauth (setuid to the database owner, never root).
 * The server never writes the database and does not link this part.
 *
 * Changes go to a new copy that userdb_commit() syncs and renames over the
 * database (USERDB_UPDATE, USERDB_REPLACE), so a writer that dies half-way
 * leaves the old database whole (see auth/userdb/userdb.h).  Such writers
 * take one lock, ".NAME.lock" beside the database; a holder that keeps it
 * (stopped, hung) can be fenced off by a writer that takes it over, as
 * rules->takeover allows: the holder's change then fails cleanly whenever
 * it goes on, and never lands over a newer database (userdb_write.c,
 * "Locking").  The in-place modes (USERDB_WRITE, USERDB_CREATE) are for
 * tests and tools that build a new file nobody reads yet.
 */
#ifndef POPPER_USERDB_WRITE_H
#define POPPER_USERDB_WRITE_H

#include "auth/userdb/userdb.h"

/* Opens path for writing: mode USERDB_WRITE, USERDB_CREATE, USERDB_UPDATE or
 * USERDB_REPLACE (USERDB_READ: use userdb_open()), after the rule of
 * userdb.h with the owner account of rules (may be NULL; its takeover says
 * what an UPDATE or REPLACE may do about another writer's lock).  An UPDATE
 * or REPLACE waits up to 5 seconds for another writer (saying so after 1),
 * takes the lock over from a holder stopped for 1 second
 * (USERDB_TAKEOVER_STOPPED) or from any holder after the 5 seconds
 * (USERDB_TAKEOVER_ANY), and otherwise fails with errno EAGAIN and err
 * naming the holder ("another program is changing the database: process
 * PID (NAME), STATE").  Returns NULL with err and errno set as userdb_open()
 * does; close with userdb_close(). */
struct userdb *userdb_write_open(const char *path, enum userdb_mode mode,
				 const struct userdb_rules *rules,
				 char *err, size_t errsize);

/* For UPDATE and REPLACE handles: syncs the new copy, gives it mode 0600 and
 * an owner, renames it over the database and syncs the directory.  The owner
 * is uid:gid unless uid is (uid_t)-1: then an UPDATE keeps the old file's
 * owner and a REPLACE keeps the creator.  Returns 0, or -1 with
 * userdb_error() set and the database untouched -- also when another writer
 * took the lock over meanwhile, or the file was replaced by a program that
 * does not take the lock.  db must still be closed. */
int userdb_commit(struct userdb *db, uid_t uid, gid_t gid);

/* Adds or replaces user's secret (a new entry is a virtual user). */
enum userdb_status userdb_set_secret(struct userdb *db, const char *user,
				     const char *secret, size_t len);
/* Removes user's entry: USERDB_OK, USERDB_NOTFOUND or USERDB_ERROR. */
enum userdb_status userdb_delete(struct userdb *db, const char *user);
/* Stores e as user's entry, keeping fields of an existing record that this
 * version does not interpret.  A damaged existing record is an error (delete
 * it first). */
enum userdb_status userdb_put_entry(struct userdb *db, const char *user,
				    const struct userdb_entry *e);

#endif
