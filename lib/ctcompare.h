/* ctcompare: comparisons of secrets whose time does not depend on the data. */
#ifndef POPPER_CTCOMPARE_H
#define POPPER_CTCOMPARE_H

#include <stdbool.h>
#include <stddef.h>

/* True when the len bytes at a and b are equal; always touches all of them. */
bool ct_equal(const void *a, const void *b, size_t len);

/* Compares a secret of length alen with a guess of length blen.  The time
 * depends only on blen (the attacker's own input), never on the stored
 * secret's content; different lengths compare unequal. */
bool ct_equal_str(const void *secret, size_t alen, const void *guess, size_t blen);

/* Wipes memory in a way the compiler may not optimise away. */
void ct_wipe(void *p, size_t len);

#endif
