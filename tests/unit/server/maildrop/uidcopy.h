/*
 * uidcopy.h: a copy of a maildrop's UIDs, shared by the fixtures of the mbox
 * tests (mboxfixture) and the temp-drop tests (tdfixture), which compare
 * UIDs across sessions.
 */
#ifndef POPPER_TEST_UIDCOPY_H
#define POPPER_TEST_UIDCOPY_H

#include <stdlib.h>
#include <string.h>

#include "server/maildrop/maildrop.h"

/* A copy of every message's UID, NULL-terminated; free with free_uids(). */
static inline char **save_uids(struct maildrop *md)
{
	unsigned i, n = maildrop_count(md);
	char **u = calloc(n + 1, sizeof(*u));

	for (i = 0; u != NULL && i < n; i++)
		u[i] = strdup(maildrop_msg_uid(md, i));
	return u;
}

static inline void free_uids(char **u)
{
	size_t i;

	for (i = 0; u != NULL && u[i] != NULL; i++)
		free(u[i]);
	free(u);
}

#endif
