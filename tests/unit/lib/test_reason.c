/*
 * test_reason: the log-only failure text helpers (lib/reason.c): a NULL or
 * zero-sized buffer is allowed, long text is cut and terminated, and text
 * given to reason_copy is never read as a format.
 */
#include "config.h"

#include <string.h>

#include "lib/reason.h"
#include "tests/unit/tap.h"

int main(void)
{
	char buf[8];

	reason_set(NULL, 10, "x %d", 1);
	reason_copy(NULL, 10, "x");
	ok(1, "a NULL reason buffer is ignored");

	memset(buf, 'Z', sizeof(buf));
	reason_set(buf, 0, "abc");
	reason_copy(buf, 0, "abc");
	ok(buf[0] == 'Z', "a zero-sized reason buffer is not written");

	reason_set(buf, sizeof(buf), "%s=%d", "n", 42);
	ok(strcmp(buf, "n=42") == 0, "reason_set formats (%s)", buf);

	reason_set(buf, sizeof(buf), "%s", "0123456789");
	ok(strcmp(buf, "0123456") == 0, "reason_set cuts long text and terminates it (%s)", buf);

	reason_copy(buf, sizeof(buf), "%s%n%x");
	ok(strcmp(buf, "%s%n%x") == 0, "reason_copy copies a percent sign as text (%s)", buf);

	reason_copy(buf, sizeof(buf), "abcdefghij");
	ok(strcmp(buf, "abcdefg") == 0, "reason_copy cuts long text and terminates it (%s)", buf);

	reason_copy(buf, sizeof(buf), NULL);
	ok(buf[0] == '\0', "reason_copy of NULL gives an empty text");

	memset(buf, 'Z', sizeof(buf));
	reason_copy(buf, 1, "abc");
	ok(buf[0] == '\0' && buf[1] == 'Z', "a one-byte buffer holds just the terminator");
	return tap_done();
}
