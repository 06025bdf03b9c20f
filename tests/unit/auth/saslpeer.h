/*
 * saslpeer: the client side of the SASL exchanges that test_sasl and
 * test_sasl_auxprop run against auth/sasl.c.  libsasl2's client API
 * produces every response, our start/step object (over libsasl2's server
 * API, its installed plugins and our auxprop plugin) checks it against a
 * GDBM user database in the test directory (tests/unit/auth/testdir.h).
 *
 * The database (peer_make_db) holds the virtual users alice ("secret"),
 * bob ("bob-pw") and admin ("admin-pw"); peer_params() gives the usual
 * configuration (peer_cfg) over it, with peer_owner as the mail-owner.
 */
#ifndef POPPER_TEST_SASLPEER_H
#define POPPER_TEST_SASLPEER_H

#include <stdbool.h>

#include "auth/auth.h"

#ifdef HAVE_SASL

/* What one whole exchange came to. */
struct peer_result {
	enum sasl_status st;
	unsigned rounds;           /* challenges the server sent */
	char user[USERNAME_MAX + 1];
	bool is_virtual;
	char reason[256];
	char authid[300];
};

/* The configuration peer_params() points the parameters at; a test may
 * change it after that call. */
extern struct auth_config peer_cfg;
/* The database file, set by peer_make_db(). */
extern char peer_db_path[700];
/* The mail-owner of the virtual users; peer_have_owner when there is one
 * (set by peer_find_owner(), or by the test). */
extern char peer_owner[64];
extern bool peer_have_owner;

/* One whole exchange of mech with our object under p.  with_initial: the
 * client's first message goes with AUTH (RFC 5034's initial response);
 * otherwise after an empty challenge. */
struct peer_result peer_exchange(const struct sasl_params *p, const char *mech,
				 const char *authname, const char *authz,
				 const char *password, bool with_initial);
/* The usual parameters: clear text allowed, the tested mechanisms, over
 * peer_cfg (reset: the database, mail-owner peer_owner, min-uid 1000). */
void peer_params(struct sasl_params *p);
/* Makes the database (pop.auth in the test directory).  0, or -1 (said on
 * stderr). */
int peer_make_db(void);
/* True when mech alone is offered (its libsasl2 plugin is installed). */
bool peer_offers(const char *mech);
/* Why exchanges of mech cannot run here (its plugin is not installed,
 * there is no mail-owner), for tap_skip; NULL when they can. */
const char *peer_missing(const char *mech);
/* A mail-owner from the system: the user we run as when not root, else
 * "nobody"; none when that is root too. */
void peer_find_owner(void);

#endif /* HAVE_SASL */

#endif
