/*
 * strnum: the one strict parser for numbers that come from outside
 * (message numbers, TOP's line count, option values that must be decimal).
 *
 * strtoul() is not used on purpose: it skips leading blanks, accepts a sign
 * ("-1" becomes ULONG_MAX) and wraps silently, which is how POP3 servers have
 * turned "LIST 4294967297" into a valid index.  Here only ASCII digits are
 * accepted and overflow is detected before it can happen.
 */
#include "config.h"

#include <stddef.h>

#include "lib/strnum.h"

/* Shared worker: parses s; on success stores min(value, max) in *value_r and
 * reports in *above_r whether the true value was larger than max. */
static bool parse_digits(const char *s, uint64_t max, uint64_t *value_r,
			 bool *above_r)
{
	uint64_t v = 0;
	bool above = false;
	const char *p;

	if (s == NULL || *s == '\0')
		return false;
	/* The loop ends at the string's NUL; once the value is known to be
	 * above max we keep checking the syntax but stop accumulating, so a
	 * 2000-digit number costs 2000 comparisons and never wraps. */
	for (p = s; *p != '\0'; p++) {
		unsigned d;

		if (*p < '0' || *p > '9')
			return false;
		if (above)
			continue;
		d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10) {
			above = true;
			continue;
		}
		v = v * 10 + d;
		if (v > max)
			above = true;
	}
	*value_r = above ? max : v;
	*above_r = above;
	return true;
}

bool strnum_parse_u64(const char *s, uint64_t max, uint64_t *value_r)
{
	uint64_t v;
	bool above;

	if (!parse_digits(s, max, &v, &above) || above)
		return false;
	*value_r = v;
	return true;
}

bool strnum_parse_u64_clamped(const char *s, uint64_t max, uint64_t *value_r)
{
	uint64_t v;
	bool above;

	if (!parse_digits(s, max, &v, &above))
		return false;
	*value_r = v;
	return true;
}
