/* test_strnum: the strict number parser every client-supplied number goes
 * through (message numbers, TOP's line count). */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "lib/strnum.h"
#include "tests/unit/tap.h"

static void parse_ok(const char *s, uint64_t max, uint64_t expect)
{
	uint64_t v = 12345;

	ok(strnum_parse_u64(s, max, &v) && v == expect, "\"%.40s\" parses as %llu",
	   s, (unsigned long long)expect);
}

static void parse_fails(const char *s, uint64_t max)
{
	uint64_t v = 12345;

	ok(!strnum_parse_u64(s, max, &v) && v == 12345,
	   "\"%.40s\" is refused and the output is untouched", s);
}

int main(void)
{
	char big[2001];
	uint64_t v;

	parse_ok("0", UINT64_MAX, 0);
	parse_ok("7", UINT64_MAX, 7);
	parse_ok("007", UINT64_MAX, 7);
	parse_ok("42", 42, 42);
	parse_ok("18446744073709551615", UINT64_MAX, UINT64_MAX);
	parse_ok("4294967297", UINT64_MAX, 4294967297ULL);

	parse_fails("", UINT64_MAX);
	parse_fails("-1", UINT64_MAX);
	parse_fails("+1", UINT64_MAX);
	parse_fails(" 1", UINT64_MAX);
	parse_fails("1 ", UINT64_MAX);
	parse_fails("1x", UINT64_MAX);
	parse_fails("1e3", UINT64_MAX);
	parse_fails("0x10", UINT64_MAX);
	parse_fails("\t1", UINT64_MAX);
	parse_fails("1\n", UINT64_MAX);
	parse_fails("18446744073709551616", UINT64_MAX);   /* 2^64 */
	parse_fails("18446744073709551617", UINT64_MAX);   /* 2^64 + 1 */
	parse_fails("99999999999999999999", UINT64_MAX);
	parse_fails("43", 42);
	parse_fails("4294967296", 4294967295ULL);
	parse_ok("4294967295", 4294967295ULL, 4294967295ULL);
	ok(!strnum_parse_u64(NULL, 10, &v), "NULL is refused");

	memset(big, '9', 2000);
	big[2000] = '\0';
	parse_fails(big, UINT64_MAX);
	memset(big, '0', 1999);
	big[1999] = '5';
	parse_ok(big, UINT64_MAX, 5);   /* 2000 digits of leading zeros */

	/* clamped variant (TOP's line count) */
	ok(strnum_parse_u64_clamped("99999999999", 1000, &v) && v == 1000,
	   "clamped: a huge value is clamped to max");
	ok(strnum_parse_u64_clamped("18446744073709551617", 1000, &v) && v == 1000,
	   "clamped: 2^64+1 is clamped, not wrapped");
	memset(big, '9', 2000);
	big[2000] = '\0';
	ok(strnum_parse_u64_clamped(big, UINT64_MAX, &v) && v == UINT64_MAX,
	   "clamped: 2000 digits clamp to max");
	ok(strnum_parse_u64_clamped("1000", 1000, &v) && v == 1000, "clamped: max itself");
	ok(strnum_parse_u64_clamped("999", 1000, &v) && v == 999, "clamped: below max unchanged");
	ok(strnum_parse_u64_clamped("0", 1000, &v) && v == 0, "clamped: 0");
	v = 77;
	ok(!strnum_parse_u64_clamped("-1", 1000, &v) && v == 77, "clamped: -1 still refused");
	ok(!strnum_parse_u64_clamped("", 1000, &v), "clamped: empty refused");
	ok(!strnum_parse_u64_clamped("99999999999999999999x", 1000, &v),
	   "clamped: junk after an overflowing number is still refused");
	ok(!strnum_parse_u64_clamped(" 5", 1000, &v), "clamped: leading blank refused");
	return tap_done();
}
