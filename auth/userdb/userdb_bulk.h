/*
 * userdb_bulk: whole-database operations on the user database
 * (auth/userdb/userdb_bulk.c): export, import (popper's export text, or a
 * Qpopper pop.auth) and verify.  Used by apopdb alone, as root or the
 * database owner; imports write through a writable handle
 * (auth/userdb/userdb_write.h).
 */
#ifndef POPPER_USERDB_BULK_H
#define POPPER_USERDB_BULK_H

#include <stdio.h>

#include "auth/userdb/userdb.h"

struct userdb_import_stats {
	unsigned long added, replaced, skipped;
};

/* Writes every record in the export text format (apopdb(8), "EXPORT
 * FORMAT"), secrets included, to out.  *count_r gets the number written. */
enum userdb_status userdb_export(struct userdb *db, FILE *out, unsigned long *count_r);

/* Reads the export text format from in (named in_name in messages) into db,
 * a writable handle; an entry replaces a record of the same name.  Any
 * syntax error, invalid name or record, or a name given twice stops the
 * import with USERDB_ERROR (the message names the line). */
enum userdb_status userdb_import_text(struct userdb *db, FILE *in, const char *in_name,
				      struct userdb_import_stats *st);

/* Reads a Qpopper pop.auth (GDBM; key "user\0", value APOP secret XOR 0xff,
 * "\0", SCRAM field) into db as system entries.  Keys that are not valid
 * user names and values that cannot be decoded are skipped with a warning
 * (counted in st->skipped); a SCRAM field is kept as qpopper-scram-md5. */
enum userdb_status userdb_import_qpopper(struct userdb *db, const char *qpath,
					 struct userdb_import_stats *st);

struct userdb_verify_report {
	unsigned long records, virtual_users, system_users, with_secret;
	unsigned long problems;   /* each one logged with log_error */
};

/* Checks GDBM's own structures, every key and every record.  Returns
 * USERDB_OK when no problem was found. */
enum userdb_status userdb_verify(struct userdb *db, struct userdb_verify_report *r);

#endif
