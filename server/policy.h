/*
 * policy: which ways of logging in a connection may use: the clear-text
 * policy (USER/PASS and the SASL mechanisms that carry a password), whether
 * APOP is offered, and Qpopper's processing of a user name.  No state of its
 * own; the one reply it sends is the refusal USER and AUTH share.
 *
 * Below the handlers and beside the login module (see server/engine.h for
 * the floors).  Runs as root, before login.
 */
#ifndef POPPER_POLICY_H
#define POPPER_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "server/engine.h"

/* True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104 in numeric form, and
 * for "local" (no socket). */
bool policy_addr_is_loopback(const char *addr);

/* Whether USER/PASS may be used at all on a connection from client_addr
 * (policy default still refuses users with a stored secret later). */
bool policy_cleartext_allowed(enum cleartext_policy policy, const char *client_addr);

/* Qpopper's name processing: downcase (if set), cut at '@' (if set), then
 * username_valid().  Writes the result into out.  False if invalid. */
bool policy_user_normalise(const struct settings *set, const char *in,
			   char *out, size_t outsize);

/* True when APOP can be used on this connection (configured, built, a user
 * database present that passes the one rule of auth/userdb/userdb.h); the
 * greeting carries the timestamp only then. */
bool policy_apop_offered(const struct session *s);

/* True when a user with a stored APOP secret must use it (clear-text
 * policy "default" with APOP turned on): USER and AUTH PLAIN refuse them. */
bool policy_secret_users_refused(const struct session *s);

/* The -ERR [AUTH] for a clear-text login the policy does not allow here. */
void policy_refuse_cleartext(struct session *s);

/* An APOP digest: MD5 in lower-case hex (RFC 1939 §7). */
#define POLICY_APOP_DIGEST_LEN 32
/* True when d is exactly that: the pre-auth process checks before asking,
 * the auth monitor again before trusting. */
bool policy_apop_digest_valid(const char *d);

#endif
