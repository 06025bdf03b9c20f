/*
 * userdb_bulk: whole-database work on the user database
 * (auth/userdb/userdb_bulk.h): export to popper's text format, import from
 * it or from a Qpopper pop.auth, and verify.  Used by apopdb alone (as root
 * or the database owner); the server and popauth do not link it.  Imports
 * write through a writable handle (auth/userdb/userdb_write.c): in apopdb a
 * REPLACE or UPDATE copy, so a failed import leaves the database as it was.
 *
 * Every record goes through the one record format (userdb_format.c) on its
 * way in and out.  Secrets are wiped from every buffer that held them.
 */
#include "config.h"

#include "auth/userdb/userdb_bulk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/userdb/userdb_impl.h"
#include "lib/ctcompare.h"
#include "lib/log.h"
#include "lib/safeopen.h"
#include "lib/username.h"

#ifdef HAVE_GDBM

/* A Qpopper SCRAM-MD5 field is base64 of a 40-byte verifier (56 chars);
 * anything much longer is not one. */
#define QPOPPER_SCRAM_MAX 256

/* The export format's first line (apopdb(8), EXPORT FORMAT). */
static const char export_magic[] = "popper-userdb-export 1";
/* Where an imported Qpopper SCRAM-MD5 verifier is kept (not interpreted). */
static const char scram_field_qpopper[] = "qpopper-scram-md5";

struct export_ctx {
	FILE *out;
	unsigned long count;
};

static int export_one(struct userdb *db, const datum *key, const char *name, void *ctx)
{
	struct export_ctx *x = ctx;
	struct record_view v;
	const char *why;
	datum rec;
	enum userdb_status st;

	if (name[0] == '\0') {
		char q[USERNAME_MAX * 4 + 8];

		userdb_quote_key(key, q, sizeof(q));
		snprintf(db->err, sizeof(db->err),
			 "%s: key \"%s\" is not a valid user name; nothing exported "
			 "(a Qpopper database? use import --qpopper)", db->path, q);
		return -1;
	}
	st = userdb_fetch_record(db, name, &rec);
	if (st != USERDB_OK) {
		if (st == USERDB_NOTFOUND)
			userdb_record_error(db, name, "vanished during the export");
		return -1;
	}
	why = userdb_record_parse(rec.dptr, (size_t)rec.dsize, &v);
	if (why != NULL) {
		userdb_record_error(db, name, why);
		userdb_datum_wipe_free(&rec);
		return -1;
	}
	/* The record's lines as stored, after the version line. */
	fprintf(x->out, "[%s]\n", name);
	fwrite(rec.dptr + sizeof(USERDB_RECORD_MAGIC) - 1, 1,
	       (size_t)rec.dsize - (sizeof(USERDB_RECORD_MAGIC) - 1), x->out);
	userdb_datum_wipe_free(&rec);
	x->count++;
	return 0;
}

enum userdb_status userdb_export(struct userdb *db, FILE *out, unsigned long *count_r)
{
	struct export_ctx x = { out, 0 };
	enum userdb_status st;

	*count_r = 0;
	fprintf(out, "%s\n"
		"# popper user database export (apopdb(8), EXPORT FORMAT) of %s.\n"
		"# It holds every secret of the database in clear (hex): keep it safe.\n",
		export_magic, db->path);
	st = userdb_walk(db, export_one, &x);
	if (st != USERDB_OK)
		return st;
	if (fflush(out) != 0 || ferror(out)) {
		userdb_err_errno(db, "writing the export", errno);
		return USERDB_ERROR;
	}
	*count_r = x.count;
	return USERDB_OK;
}

/* The names an import has stored, to refuse a name given twice. */
struct name_set {
	char (*names)[USERNAME_MAX + 1];
	size_t count, alloc;
};

static int name_set_add(struct name_set *s, const char *name)
{
	if (s->count == s->alloc) {
		size_t na = s->alloc ? s->alloc * 2 : 256;
		void *nn;

		if (na > USERDB_MAX_KEYS || (nn = realloc(s->names, na * sizeof(*s->names))) == NULL)
			return -1;
		s->names = nn;
		s->alloc = na;
	}
	snprintf(s->names[s->count++], USERNAME_MAX + 1, "%s", name);
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Sorts the set; returns the first name that appears twice, or NULL. */
static const char *name_set_duplicate(struct name_set *s)
{
	size_t i;

	if (s->count < 2)
		return NULL;
	qsort(s->names, s->count, sizeof(*s->names), cmp_name);
	for (i = 1; i < s->count; i++)
		if (strcmp(s->names[i - 1], s->names[i]) == 0)
			return s->names[i];
	return NULL;
}

/* Stores one imported record (already checked) and counts it. */
static enum userdb_status import_store(struct userdb *db, const char *name,
				       const char *rec, size_t len,
				       struct userdb_import_stats *st, struct name_set *seen)
{
	datum key;

	key.dptr = (char *)name;
	key.dsize = (int)strlen(name);
	if (name_set_add(seen, name) < 0) {
		userdb_err_set(db, "too many entries to import (or out of memory)");
		return USERDB_ERROR;
	}
	if (gdbm_exists(db->dbf, key))
		st->replaced++;
	else
		st->added++;
	return userdb_store_raw(db, name, rec, len);
}

/* Reads one line of at most USERDB_RECORD_MAX bytes into buf (size
 * USERDB_RECORD_MAX + 2), without its LF or CRLF.  Returns the length, -1 at
 * EOF, -2 when too long, -3 when it holds a NUL byte. */
static long read_text_line(FILE *in, char *buf)
{
	size_t len = 0;
	int c;

	while ((c = getc(in)) != EOF && c != '\n') {
		if (len >= USERDB_RECORD_MAX)
			return -2;
		if (c == '\0')
			return -3;
		buf[len++] = (char)c;
	}
	if (c == EOF && len == 0)
		return -1;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	return (long)len;
}

/* An import of the export text in progress. */
struct text_import {
	const char *in_name;            /* the input, for messages */
	char name[USERNAME_MAX + 1];    /* the entry being read */
	char *rec;                      /* its record so far (USERDB_RECORD_MAX + 1) */
	size_t rlen;
	unsigned long lineno, entry_line;
	bool header, in_entry;
	struct name_set seen;
	char msg[USERDB_ERR_MAX];       /* why the import stops */
};

/* Ends the entry being read: checks its record and stores it.  Returns 0,
 * -1 with t->msg set, or -2 with db's error set. */
static int text_entry_end(struct userdb *db, struct text_import *t,
			  struct userdb_import_stats *st)
{
	struct record_view v;
	const char *why = userdb_record_parse(t->rec, t->rlen, &v);

	if (why != NULL) {
		snprintf(t->msg, sizeof(t->msg), "%s:%lu: user %s: %s", t->in_name,
			 t->entry_line, t->name, why);
		return -1;
	}
	if (import_store(db, t->name, t->rec, t->rlen, st, &t->seen) != USERDB_OK)
		return -2;
	t->in_entry = false;
	return 0;
}

/* One line after the header (n bytes, its line end removed, not a comment
 * or blank): a "[user]" line starts an entry, any other line is a field of
 * the entry.  Returns 0, or -1 with t->msg set. */
static int text_line(struct text_import *t, const char *line, size_t n)
{
	if (line[0] == '[') {
		if (n < 3 || line[n - 1] != ']' || n - 2 > USERNAME_MAX) {
			snprintf(t->msg, sizeof(t->msg), "%s:%lu: bad entry line", t->in_name,
				 t->lineno);
			return -1;
		}
		memcpy(t->name, line + 1, n - 2);
		t->name[n - 2] = '\0';
		if (!username_valid(t->name)) {
			snprintf(t->msg, sizeof(t->msg), "%s:%lu: invalid user name", t->in_name,
				 t->lineno);
			return -1;
		}
		memcpy(t->rec, USERDB_RECORD_MAGIC, sizeof(USERDB_RECORD_MAGIC) - 1);
		t->rlen = sizeof(USERDB_RECORD_MAGIC) - 1;
		t->in_entry = true;
		t->entry_line = t->lineno;
		return 0;
	}
	if (!t->in_entry) {
		snprintf(t->msg, sizeof(t->msg), "%s:%lu: a field line before the first "
			 "[user] line", t->in_name, t->lineno);
		return -1;
	}
	if (t->rlen + n + 1 > USERDB_RECORD_MAX) {
		snprintf(t->msg, sizeof(t->msg), "%s:%lu: user %s: record too long", t->in_name,
			 t->lineno, t->name);
		return -1;
	}
	memcpy(t->rec + t->rlen, line, n);
	t->rlen += n;
	t->rec[t->rlen++] = '\n';
	return 0;
}

/* After the last line: was it a whole export, with no name twice?
 * Returns 0, or -1 with t->msg set. */
static int text_end(FILE *in, struct text_import *t)
{
	const char *dup;

	if (ferror(in)) {
		snprintf(t->msg, sizeof(t->msg), "%s: read error: %s", t->in_name, strerror(errno));
		return -1;
	}
	if (!t->header) {
		snprintf(t->msg, sizeof(t->msg), "%s: empty, not a popper export", t->in_name);
		return -1;
	}
	dup = name_set_duplicate(&t->seen);
	if (dup != NULL) {
		snprintf(t->msg, sizeof(t->msg), "%s: user %s is given twice", t->in_name, dup);
		return -1;
	}
	return 0;
}

enum userdb_status userdb_import_text(struct userdb *db, FILE *in, const char *in_name,
				      struct userdb_import_stats *st)
{
	static char line[USERDB_RECORD_MAX + 2];
	static char rec[USERDB_RECORD_MAX + 1];
	struct text_import t;
	enum userdb_status result = USERDB_ERROR;
	int rc = 0;

	memset(st, 0, sizeof(*st));
	if (!userdb_writable(db))
		return USERDB_ERROR;
	memset(&t, 0, sizeof(t));
	t.in_name = in_name;
	t.rec = rec;
	for (;;) {
		long n = read_text_line(in, line);
		bool at_end = n == -1;

		if (n == -2 || n == -3) {
			snprintf(t.msg, sizeof(t.msg), "%s:%lu: %s", in_name, t.lineno + 1,
				 n == -2 ? "line too long" : "NUL byte");
			rc = -1;
			break;
		}
		if (!at_end)
			t.lineno++;
		if (!at_end && (n == 0 || line[0] == '#'))
			continue;
		if (!at_end && !t.header) {
			if (strcmp(line, export_magic) != 0) {
				snprintf(t.msg, sizeof(t.msg), "%s:%lu: not a popper export "
					 "(the first line must be \"%s\")", in_name, t.lineno,
					 export_magic);
				rc = -1;
				break;
			}
			t.header = true;
			continue;
		}
		/* An entry ends at the next "[name]" or at the end. */
		if (t.in_entry && (at_end || line[0] == '[') &&
		    (rc = text_entry_end(db, &t, st)) < 0)
			break;
		if (at_end)
			break;
		if ((rc = text_line(&t, line, (size_t)n)) < 0)
			break;
	}
	if (rc == 0)
		rc = text_end(in, &t);
	if (rc == 0)
		result = USERDB_OK;
	else if (rc == -1)
		snprintf(db->err, sizeof(db->err), "%s", t.msg);
	ct_wipe(line, sizeof(line));
	ct_wipe(rec, sizeof(rec));
	free(t.seen.names);
	return result;
}

static bool base64_text(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '='))
			return false;
	}
	return true;
}

/* Turns one Qpopper record into a v1 record in out (size RECORD_MAX + 1).
 * Returns its length, or 0 with *why_r set. */
static size_t qpopper_record(const datum *val, char *out, const char **why_r)
{
	struct userdb_entry e;
	const char *v = val->dptr;
	size_t vlen = (size_t)val->dsize, apop_len, scram_len = 0, i, olen;
	const char *nul = memchr(v, '\0', vlen), *scram = NULL, *end;

	memset(&e, 0, sizeof(e));
	e.kind = USERDB_SYSTEM;
	apop_len = nul != NULL ? (size_t)(nul - v) : vlen;
	if (nul != NULL && (size_t)(nul - v) + 1 < vlen) {
		scram = nul + 1;
		end = memchr(scram, '\0', vlen - apop_len - 1);
		scram_len = end != NULL ? (size_t)(end - scram) : vlen - apop_len - 1;
	}
	if (apop_len > USERDB_SECRET_MAX) {
		*why_r = "APOP secret too long";
		return 0;
	}
	for (i = 0; i < apop_len; i++) {
		e.secret[i] = (char)((unsigned char)v[i] ^ 0xff);   /* Qpopper's "obscure" */
		if (e.secret[i] == '\0') {
			userdb_entry_wipe(&e);
			*why_r = "APOP secret with a NUL byte";
			return 0;
		}
	}
	e.secret_len = apop_len;
	olen = userdb_record_build(&e, NULL, 0, out);
	userdb_entry_wipe(&e);
	if (olen == 0) {
		*why_r = "record too long";
		return 0;
	}
	if (scram_len > 0) {
		if (scram_len > QPOPPER_SCRAM_MAX || !base64_text(scram, scram_len)) {
			*why_r = "SCRAM field is not base64";
			return 0;
		}
		if (olen + sizeof(scram_field_qpopper) + scram_len + 1 > USERDB_RECORD_MAX) {
			*why_r = "record too long";
			return 0;
		}
		memcpy(out + olen, scram_field_qpopper, sizeof(scram_field_qpopper) - 1);
		olen += sizeof(scram_field_qpopper) - 1;
		out[olen++] = '=';
		memcpy(out + olen, scram, scram_len);
		olen += scram_len;
		out[olen++] = '\n';
	}
	return olen;
}

/* Imports the entry of one key of the Qpopper database q (named qpath),
 * using out (size USERDB_RECORD_MAX + 1) for the record.  A key or value
 * that cannot be used is skipped with a warning and counted.  Returns 0,
 * or -1 with db's error set. */
static int qpopper_import_key(struct userdb *db, GDBM_FILE q, const char *qpath, datum key,
			      char *out, struct userdb_import_stats *st, struct name_set *seen)
{
	char name[USERNAME_MAX + 1], qk[USERNAME_MAX * 4 + 8];
	const char *why = NULL;
	datum val;
	size_t olen;

	userdb_quote_key(&key, qk, sizeof(qk));
	/* Qpopper's key is the name and its NUL. */
	if (key.dsize < 2 || key.dptr[key.dsize - 1] != '\0' ||
	    (size_t)key.dsize - 1 > USERNAME_MAX ||
	    memchr(key.dptr, '\0', (size_t)key.dsize - 1) != NULL) {
		log_warning("%s: skipping key \"%s\": not a Qpopper user key", qpath, qk);
		st->skipped++;
		return 0;
	}
	memcpy(name, key.dptr, (size_t)key.dsize - 1);
	name[key.dsize - 1] = '\0';
	if (!username_valid(name)) {
		log_warning("%s: skipping user \"%s\": not a valid popper user name "
			    "(it could never log in)", qpath, qk);
		st->skipped++;
		return 0;
	}
	val = gdbm_fetch(q, key);
	if (val.dptr == NULL) {
		snprintf(db->err, sizeof(db->err), "%s: cannot read the entry of %s: %s",
			 qpath, name, gdbm_strerror(gdbm_errno));
		return -1;
	}
	olen = val.dsize >= 0 ? qpopper_record(&val, out, &why) : 0;
	userdb_datum_wipe_free(&val);
	if (olen == 0) {
		log_warning("%s: skipping user %s: %s", qpath, name, why);
		st->skipped++;
		return 0;
	}
	return import_store(db, name, out, olen, st, seen) == USERDB_OK ? 0 : -1;
}

/* Opens the Qpopper database qpath read-only.  Returns NULL with db's error
 * set. */
static GDBM_FILE qpopper_open(struct userdb *db, const char *qpath)
{
	/* The administrator names this file; it only has to be a regular
	 * file with one link that we open without following a symlink. */
	static const struct safeopen_rules rules = { .no_group_write = false };
	const char *why = NULL;
	GDBM_FILE q;
	int fd;

	fd = safe_open(qpath, O_RDONLY, 0, &rules, NULL, &why);
	if (fd < 0) {
		int e = errno;

		snprintf(db->err, sizeof(db->err), "%s: %s", qpath,
			 why != NULL && (e == ELOOP || e == EINVAL || e == EPERM) ? why : strerror(e));
		return NULL;
	}
	q = gdbm_fd_open(fd, qpath, 0, GDBM_READER | userdb_gdbm_flags(), NULL);
	if (q == NULL) {
		snprintf(db->err, sizeof(db->err), "%s: %s (Qpopper's GDBM pop.auth expected; "
			 "NDBM or Berkeley DB files are not supported)", qpath,
			 gdbm_strerror(gdbm_errno));
		close(fd);
	}
	return q;
}

enum userdb_status userdb_import_qpopper(struct userdb *db, const char *qpath,
					 struct userdb_import_stats *st)
{
	static char out[USERDB_RECORD_MAX + 1];
	struct name_set seen = { NULL, 0, 0 };
	enum userdb_status result = USERDB_ERROR;
	unsigned long visited = 0;
	GDBM_FILE q;
	datum key;

	memset(st, 0, sizeof(*st));
	if (!userdb_writable(db))
		return USERDB_ERROR;
	q = qpopper_open(db, qpath);
	if (q == NULL)
		return USERDB_ERROR;
	key = gdbm_firstkey(q);
	while (key.dptr != NULL) {
		datum next;

		if (++visited > USERDB_MAX_KEYS) {
			free(key.dptr);
			snprintf(db->err, sizeof(db->err), "%s: too many keys (damaged?)", qpath);
			goto out;
		}
		if (qpopper_import_key(db, q, qpath, key, out, st, &seen) < 0) {
			free(key.dptr);
			goto out;
		}
		next = gdbm_nextkey(q, key);
		free(key.dptr);
		key = next;
	}
	if (gdbm_errno != GDBM_ITEM_NOT_FOUND && gdbm_errno != GDBM_NO_ERROR) {
		snprintf(db->err, sizeof(db->err), "%s: walking the database: %s (damaged?)",
			 qpath, gdbm_strerror(gdbm_errno));
		goto out;
	}
	result = USERDB_OK;
out:
	ct_wipe(out, sizeof(out));
	free(seen.names);
	gdbm_close(q);   /* closes fd */
	return result;
}

/* ---- verify ------------------------------------------------------------------ */

static int verify_one(struct userdb *db, const datum *key, const char *name, void *ctx)
{
	struct userdb_verify_report *r = ctx;
	struct record_view v;
	const char *why;
	datum rec;
	enum userdb_status st;

	r->records++;
	if (name[0] == '\0') {
		char q[USERNAME_MAX * 4 + 8];

		userdb_quote_key(key, q, sizeof(q));
		log_error("%s: key \"%s\" is not a valid user name%s", db->path, q,
			  key->dsize > 1 && key->dptr[key->dsize - 1] == '\0'
			  ? " (a Qpopper entry: use apopdb import --qpopper)" : "");
		r->problems++;
		return 0;
	}
	st = userdb_fetch_record(db, name, &rec);
	if (st != USERDB_OK) {
		log_error("%s", st == USERDB_ERROR ? db->err : "a record vanished");
		r->problems++;
		return 0;
	}
	why = userdb_record_parse(rec.dptr, (size_t)rec.dsize, &v);
	userdb_datum_wipe_free(&rec);
	if (why != NULL) {
		log_error("%s: user %s: %s", db->path, name, why);
		r->problems++;
		return 0;
	}
	if (v.kind == USERDB_SYSTEM)
		r->system_users++;
	else
		r->virtual_users++;
	if (v.has_secret)
		r->with_secret++;
	return 0;
}

enum userdb_status userdb_verify(struct userdb *db, struct userdb_verify_report *r)
{
	enum userdb_status st;

	memset(r, 0, sizeof(*r));
#if defined(GDBM_VERSION_MAJOR) && (GDBM_VERSION_MAJOR > 1 || GDBM_VERSION_MINOR >= 15)
	if (gdbm_avail_verify(db->dbf) != 0) {
		log_error("%s: GDBM's free-space list is damaged: %s", db->path,
			  gdbm_strerror(gdbm_errno));
		r->problems++;
	}
#endif
	st = userdb_walk(db, verify_one, r);
	if (st != USERDB_OK) {
		log_error("%s", db->err);
		r->problems++;
	}
	return r->problems == 0 ? USERDB_OK : USERDB_ERROR;
}

#else /* !HAVE_GDBM */

enum userdb_status userdb_export(struct userdb *db, FILE *out, unsigned long *count_r)
{
	(void)db; (void)out;
	*count_r = 0;
	return USERDB_ERROR;
}

enum userdb_status userdb_import_text(struct userdb *db, FILE *in, const char *in_name,
				      struct userdb_import_stats *st)
{
	(void)db; (void)in; (void)in_name;
	memset(st, 0, sizeof(*st));
	return USERDB_ERROR;
}

enum userdb_status userdb_import_qpopper(struct userdb *db, const char *qpath,
					 struct userdb_import_stats *st)
{
	(void)db; (void)qpath;
	memset(st, 0, sizeof(*st));
	return USERDB_ERROR;
}

enum userdb_status userdb_verify(struct userdb *db, struct userdb_verify_report *r)
{
	(void)db;
	memset(r, 0, sizeof(*r));
	return USERDB_ERROR;
}

#endif /* HAVE_GDBM */
