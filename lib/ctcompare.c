/*
 * ctcompare: comparing secrets (APOP digests, SASL responses, stored
 * verifiers) in time that does not depend on where they differ, and wiping
 * them afterwards.  memcmp()/strcmp() stop at the first difference and so
 * leak, byte by byte, how much of a guess was right.
 *
 * The accumulator is volatile so the compiler cannot turn the loop back into
 * an early-exit comparison.
 */
#include "config.h"

#include <string.h>

#include "lib/ctcompare.h"

bool ct_equal(const void *a, const void *b, size_t len)
{
	const unsigned char *pa = a, *pb = b;
	volatile unsigned char acc = 0;
	size_t i;

	for (i = 0; i < len; i++)
		acc |= (unsigned char)(pa[i] ^ pb[i]);
	return acc == 0;
}

bool ct_equal_str(const void *secret, size_t alen, const void *guess, size_t blen)
{
	static const unsigned char empty = 0;
	const unsigned char *ps = alen > 0 ? secret : &empty;
	const unsigned char *pg = guess;
	volatile unsigned char acc = 0;
	size_t i;

	/* One pass over the guess.  Past the end of the secret we keep reading
	 * its byte 0 (masked to zero) so every iteration does the same work;
	 * a length mismatch is folded into the accumulator at the end. */
	for (i = 0; i < blen; i++) {
		size_t in = (size_t)0 - (size_t)(i < alen);  /* all ones while i < alen */
		unsigned char s = (unsigned char)(ps[i & in] & (unsigned char)in);

		acc |= (unsigned char)(s ^ pg[i]);
	}
	acc |= (unsigned char)(alen != blen);
	return acc == 0;
}

void ct_wipe(void *p, size_t len)
{
	if (p == NULL || len == 0)
		return;   /* explicit_bzero's pointer is declared non-null */
#ifdef HAVE_EXPLICIT_BZERO
	explicit_bzero(p, len);
#else
	volatile unsigned char *v = p;
	size_t i;

	for (i = 0; i < len; i++)
		v[i] = 0;
#endif
}
