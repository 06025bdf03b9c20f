/*
 * userdb: popper's GDBM user database (virtual users now, APOP and SASL
 * secrets later).  The one module that knows the record format; the server,
 * apopdb and (later) popauth all go through it.
 *
 * Record: key = the user name (no trailing NUL); value = a versioned text
 * record "v1\n" followed by "field=value\n" lines.  v1 has one field,
 * "secret=" followed by the secret in lower-case hex.  Unknown fields are
 * kept when a record is rewritten, so later versions can add verifiers.
 */
#ifndef POPPER_USERDB_H
#define POPPER_USERDB_H

#include <stdbool.h>
#include <stddef.h>

#define USERDB_SECRET_MAX 256

enum userdb_mode { USERDB_READ, USERDB_WRITE, USERDB_CREATE };
enum userdb_status { USERDB_OK = 0, USERDB_NOTFOUND = 1, USERDB_ERROR = -1 };

struct userdb;

/* True when popper was built with GDBM. */
bool userdb_available(void);

/* Opens the database.  The file must be a regular file with one link, not a
 * symlink, with no group-write and no access for others.  USERDB_CREATE
 * creates it (mode 0600) if missing.  Returns NULL with err filled ("PATH:
 * reason") on failure; errno is then ENOENT when the file does not exist. */
struct userdb *userdb_open(const char *path, enum userdb_mode mode,
			   char *err, size_t errsize);
void userdb_close(struct userdb *db);

/* Looks up user's secret into secret_r (size secret_size, NUL-terminated,
 * length in *len_r).  A record that does not parse is USERDB_ERROR, never
 * "not found". */
enum userdb_status userdb_get_secret(struct userdb *db, const char *user,
				     char *secret_r, size_t secret_size,
				     size_t *len_r);
/* Adds or replaces user's secret. */
enum userdb_status userdb_set_secret(struct userdb *db, const char *user,
				     const char *secret, size_t len);
enum userdb_status userdb_delete(struct userdb *db, const char *user);
/* Calls fn for each user name (in GDBM order); stops early if fn returns non-zero. */
enum userdb_status userdb_foreach(struct userdb *db,
				  int (*fn)(const char *user, void *ctx), void *ctx);

/* Last error text of db for messages. */
const char *userdb_error(const struct userdb *db);

#endif
