/*
 * username: the one rule for what a user name may look like.  Checked before
 * a name reaches getpwnam(), PAM, a spool path, a database key or a log line,
 * so nothing downstream has to wonder about '/', "..", blanks, control
 * characters or 8-bit bytes.
 */
#include "config.h"

#include <string.h>

#include "lib/username.h"

static bool username_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '@' || c == '+' || c == '-';
}

bool username_valid(const char *name)
{
	size_t len, i;

	if (name == NULL)
		return false;
	/* strnlen bounds the scan even for an absurdly long argument. */
	len = strnlen(name, USERNAME_MAX + 1);
	if (len == 0 || len > USERNAME_MAX)
		return false;
	/* A leading '-' could be taken for an option by a helper program; a
	 * leading '.' makes hidden files and "." / ".." path components. */
	if (name[0] == '-' || name[0] == '.')
		return false;
	for (i = 0; i < len; i++) {
		if (!username_char_ok((unsigned char)name[i]))
			return false;
		if (name[i] == '.' && name[i + 1] == '.')
			return false;
	}
	return true;
}
