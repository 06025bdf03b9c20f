/* test_username: the one rule for user names. */
#include "config.h"

#include <string.h>

#include "lib/username.h"
#include "tests/unit/tap.h"

static void good(const char *name)
{
	ok(username_valid(name), "\"%s\" is accepted", name);
}

static void bad(const char *name, const char *why)
{
	ok(!username_valid(name), "refused: %s", why);
}

int main(void)
{
	char name[USERNAME_MAX + 2];
	char c[4];
	int i;

	good("alice");
	good("a");
	good("Bob");
	good("user.name");
	good("first_last");
	good("u-1");
	good("alice@example.org");
	good("alice+tag@example.org");
	good("a.b.c");
	good("0123");

	bad("", "empty");
	bad(NULL, "NULL");
	bad("..", "\"..\"");
	bad(".", "\".\"");
	bad("a..b", "\"..\" inside");
	bad(".hidden", "leading dot");
	bad("-oFoo", "leading dash");
	bad("a/b", "slash");
	bad("../../etc/passwd", "path traversal");
	bad("/etc", "absolute path");
	bad("a b", "space");
	bad("a\tb", "TAB");
	bad("a\rb", "CR");
	bad("a\nb", "LF");
	bad("\x1b[2J", "ESC sequence");
	bad("a\x7f", "DEL");
	bad("caf\xc3\xa9", "UTF-8 (8-bit bytes)");
	bad("a\xff", "byte 0xff");
	bad("a%n", "percent");
	bad("a:b", "colon");
	bad("a\\b", "backslash");
	bad("a*", "asterisk");
	bad("a\"b", "double quote");

	/* every control character, one at a time */
	for (i = 1; i < 0x20; i++) {
		c[0] = 'a';
		c[1] = (char)i;
		c[2] = 'b';
		c[3] = '\0';
		if (username_valid(c))
			break;
	}
	is_int(i, 0x20, "no control character 0x01..0x1f is accepted");

	memset(name, 'x', sizeof(name));
	name[USERNAME_MAX - 1] = '\0';
	ok(username_valid(name), "length limit-1 (%d) accepted", USERNAME_MAX - 1);
	name[USERNAME_MAX - 1] = 'x';
	name[USERNAME_MAX] = '\0';
	ok(username_valid(name), "length limit (%d) accepted", USERNAME_MAX);
	name[USERNAME_MAX] = 'x';
	name[USERNAME_MAX + 1] = '\0';
	ok(!username_valid(name), "length limit+1 (%d) refused", USERNAME_MAX + 1);
	return tap_done();
}
