/*
 * userdb_format: the v1 record of the user database (auth/userdb/userdb.h
 * describes it; apopdb(8), "DATABASE FORMAT", is the reference): checking a
 * record, decoding it into an entry and building one.  Pure text work, no
 * GDBM and no I/O, so the server's reader, the writer and the bulk tools
 * share one definition of the format.
 *
 * Runs wherever the library does: in the server as root before the session
 * drops privileges, in apopdb and popauth as the database owner.
 */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include "auth/userdb/userdb_impl.h"

/* Longest field name in a record line ("secret", later verifier names). */
#define USERDB_FIELD_NAME_MAX 32

static const char secret_field[] = "secret";
static const char kind_field[] = "kind";

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;   /* upper case is not v1: the writer always uses lower case */
}

static bool field_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static bool is_field(const char *line, size_t name_len, const char *name)
{
	return name_len == strlen(name) && memcmp(line, name, name_len) == 0;
}

/* Checks a whole record and finds its fields.  Returns NULL or a reason. */
const char *userdb_record_parse(const char *rec, size_t len, struct record_view *v)
{
	size_t magic_len = sizeof(USERDB_RECORD_MAGIC) - 1;
	size_t pos, secrets = 0, kinds = 0;

	memset(v, 0, sizeof(*v));
	v->kind = USERDB_VIRTUAL;
	if (len > USERDB_RECORD_MAX)
		return "record too long";
	if (len < magic_len || memcmp(rec, USERDB_RECORD_MAGIC, magic_len) != 0)
		return "record is not in format v1";
	if (memchr(rec, '\0', len) != NULL)
		return "record contains a NUL byte";
	/* A CR could not survive an export: its lines may end in CR LF, so
	 * importing "x=1\r" back would store "x=1". */
	if (memchr(rec, '\r', len) != NULL)
		return "record contains a CR byte";
	pos = magic_len;
	while (pos < len) {
		const char *line = rec + pos;
		const char *nl = memchr(line, '\n', len - pos);
		const char *eq, *val;
		size_t line_len, name_len, val_len, i;

		if (nl == NULL)
			return "record does not end with a newline";
		line_len = (size_t)(nl - line);
		eq = memchr(line, '=', line_len);
		if (eq == NULL)
			return "record line without '='";
		name_len = (size_t)(eq - line);
		val = eq + 1;
		val_len = line_len - name_len - 1;
		if (name_len == 0 || name_len > USERDB_FIELD_NAME_MAX)
			return "record field name empty or too long";
		for (i = 0; i < name_len; i++)
			if (!field_name_char((unsigned char)line[i]))
				return "record field name has a bad character";
		if (is_field(line, name_len, secret_field)) {
			if (++secrets > 1)
				return "record has two secrets";
			if (val_len == 0 || val_len % 2 != 0 || val_len / 2 > USERDB_SECRET_MAX)
				return "record secret has a bad length";
			for (i = 0; i < val_len; i++)
				if (hex_value((unsigned char)val[i]) < 0)
					return "record secret is not lower-case hex";
			/* A NUL byte cannot be typed and would end the secret
			 * early in C strings: never stored. */
			for (i = 0; i < val_len; i += 2)
				if (val[i] == '0' && val[i + 1] == '0')
					return "record secret contains a NUL byte";
			v->has_secret = true;
			v->secret_off = (size_t)(val - rec);
			v->secret_hexlen = val_len;
		} else if (is_field(line, name_len, kind_field)) {
			if (++kinds > 1)
				return "record has two kinds";
			if (val_len == 7 && memcmp(val, "virtual", 7) == 0)
				v->kind = USERDB_VIRTUAL;
			else if (val_len == 6 && memcmp(val, "system", 6) == 0)
				v->kind = USERDB_SYSTEM;
			else
				return "record kind is neither virtual nor system";
		} else {
			v->others++;
		}
		pos += line_len + 1;
	}
	return NULL;
}

/* Builds the v1 record for e into out (size USERDB_RECORD_MAX + 1): magic,
 * kind, secret, then the lines of old (a parsed record, may be NULL) that
 * are neither kind nor secret, in their order.  Returns the length, or 0
 * when it would be too long. */
size_t userdb_record_build(const struct userdb_entry *e, const char *old, size_t oldlen,
			   char *out)
{
	static const char hexdigits[] = "0123456789abcdef";
	const char *kind = e->kind == USERDB_SYSTEM ? "kind=system\n" : "kind=virtual\n";
	size_t olen, i, pos;

	olen = sizeof(USERDB_RECORD_MAGIC) - 1;
	memcpy(out, USERDB_RECORD_MAGIC, olen);
	memcpy(out + olen, kind, strlen(kind));
	olen += strlen(kind);
	if (e->secret_len > 0) {
		if (olen + sizeof(secret_field) + 2 * e->secret_len + 1 > USERDB_RECORD_MAX)
			return 0;
		memcpy(out + olen, secret_field, sizeof(secret_field) - 1);
		olen += sizeof(secret_field) - 1;
		out[olen++] = '=';
		for (i = 0; i < e->secret_len; i++) {
			unsigned char c = (unsigned char)e->secret[i];

			out[olen++] = hexdigits[c >> 4];
			out[olen++] = hexdigits[c & 0x0f];
		}
		out[olen++] = '\n';
	}
	if (old == NULL)
		return olen;
	for (pos = sizeof(USERDB_RECORD_MAGIC) - 1; pos < oldlen;) {
		const char *line = old + pos;
		const char *nl = memchr(line, '\n', oldlen - pos);
		size_t line_len = (size_t)(nl - line) + 1;   /* parse checked nl */
		const char *eq = memchr(line, '=', line_len);
		size_t name_len = (size_t)(eq - line);

		pos += line_len;
		if (is_field(line, name_len, secret_field) || is_field(line, name_len, kind_field))
			continue;
		if (olen + line_len > USERDB_RECORD_MAX)
			return 0;
		memcpy(out + olen, line, line_len);
		olen += line_len;
	}
	return olen;
}

/* What userdb_dummy_entry() parses: a stored record of a virtual user
 * with a secret of USERDB_DUMMY_SECRET_LEN octets.  It leads to no name, so
 * nobody can log in with it; what matters is that it takes the same path. */
static const char dummy_record[] = USERDB_RECORD_MAGIC "kind=virtual\n"
	"secret=706f707065722d64756d6d792d7365637265742d30313233\n";

void userdb_dummy_entry(struct userdb_entry *e_r)
{
	struct record_view v;

	/* The same two steps as userdb_get_entry() after its fetch.  The
	 * record is ours and always parses; if a change ever broke it, the
	 * entry would just be empty (no secret) and still match nothing. */
	if (userdb_record_parse(dummy_record, sizeof(dummy_record) - 1, &v) != NULL)
		memset(&v, 0, sizeof(v));
	userdb_record_to_entry(dummy_record, &v, e_r);
}

/* Decodes the secret of a parsed record into e. */
void userdb_record_to_entry(const char *rec, const struct record_view *v,
			    struct userdb_entry *e)
{
	size_t i, n = v->secret_hexlen / 2;

	memset(e, 0, sizeof(*e));
	e->kind = v->kind;
	e->other_fields = v->others;
	if (!v->has_secret)
		return;
	for (i = 0; i < n; i++) {
		const unsigned char *h = (const unsigned char *)rec + v->secret_off + 2 * i;

		e->secret[i] = (char)(hex_value(h[0]) << 4 | hex_value(h[1]));
	}
	e->secret[n] = '\0';
	e->secret_len = n;
}

