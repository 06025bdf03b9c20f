/* strnum: the one strict parser for numbers that come from outside. */
#ifndef POPPER_STRNUM_H
#define POPPER_STRNUM_H

#include <stdbool.h>
#include <stdint.h>

/* Parses a whole string of ASCII decimal digits: no sign, no spaces, no
 * leading "0x"; "0" is allowed, leading zeros are allowed ("007" = 7).
 * Fails (false) on an empty string, any other character, or a value above
 * max.  Never wraps.  On success stores the value in *value_r. */
bool strnum_parse_u64(const char *s, uint64_t max, uint64_t *value_r);

/* Like strnum_parse_u64, but a value above max is clamped to max instead of
 * failing (TOP's line count: "TOP 1 99999999999" means the whole message). */
bool strnum_parse_u64_clamped(const char *s, uint64_t max, uint64_t *value_r);

#endif
