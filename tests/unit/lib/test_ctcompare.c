/* test_ctcompare: constant-time comparison of secrets and wiping them. */
#include "config.h"

#include <string.h>

#include "lib/ctcompare.h"
#include "tests/unit/tap.h"

int main(void)
{
	unsigned char a[64], b[64];
	char secret[] = "s3cr3t-digest";
	size_t i;

	for (i = 0; i < sizeof(a); i++)
		a[i] = b[i] = (unsigned char)(i * 7 + 1);
	ok(ct_equal(a, b, sizeof(a)), "equal buffers compare equal");
	ok(ct_equal(a, b, 0), "zero length compares equal");
	b[0] ^= 1;
	ok(!ct_equal(a, b, sizeof(a)), "difference in the first byte");
	b[0] ^= 1;
	b[63] ^= 0x80;
	ok(!ct_equal(a, b, sizeof(a)), "difference in the last byte (high bit)");
	ok(ct_equal(a, b, 63), "difference outside len is not looked at");
	b[63] ^= 0x80;
	b[31] = (unsigned char)(a[31] ^ 0xff);
	ok(!ct_equal(a, b, sizeof(a)), "difference in the middle");

	ok(ct_equal_str("abc", 3, "abc", 3), "same strings");
	ok(!ct_equal_str("abc", 3, "abd", 3), "same length, last byte differs");
	ok(!ct_equal_str("abc", 3, "ab", 2), "guess is a prefix of the secret");
	ok(!ct_equal_str("ab", 2, "abc", 3), "secret is a prefix of the guess");
	ok(!ct_equal_str("abc", 3, "abc\0", 4), "guess with an extra NUL");
	ok(!ct_equal_str("", 0, "a", 1), "empty secret, non-empty guess");
	ok(!ct_equal_str("a", 1, "", 0), "non-empty secret, empty guess");
	ok(ct_equal_str("", 0, "", 0), "both empty");
	ok(ct_equal_str(NULL, 0, NULL, 0), "both empty (NULL pointers)");
	ok(!ct_equal_str(NULL, 0, "abc", 3), "empty secret as NULL vs a guess");
	ok(ct_equal_str("a\0b", 3, "a\0b", 3), "NULs inside are compared as bytes");
	ok(!ct_equal_str("a\0b", 3, "a\0c", 3), "bytes after a NUL are compared");

	ct_wipe(secret, sizeof(secret));
	for (i = 0; i < sizeof(secret) && secret[i] == 0; i++)
		;
	is_int(i, sizeof(secret), "secure_wipe zeroes every byte");
	ct_wipe(NULL, 0);
	ok(1, "secure_wipe of zero bytes is harmless");
	return tap_done();
}
