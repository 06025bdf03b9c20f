/*
 * kpop: what auth/kpop.c offers the rest of auth/ (SASL's GSSAPI in
 * auth/sasl.c).  PRIVATE to auth/: the session engine calls the handshake
 * through auth/auth.h only.
 *
 * auth/kpop.c is Kerberos 5 for popper (MIT krb5): the KPOP handshake that
 * Qpopper's -k runs at connection start (krb5_recvauth with the application
 * version "KPOPV1.0", as fetchmail's "auth kerberos_v5" speaks it; declared
 * in auth/auth.h), and the one rule
 * that turns a Kerberos principal into a local user name, shared with
 * GSSAPI (auth/sasl.c): krb5's own krb5_aname_to_localname() and
 * krb5_kuserok() (auth_to_local rules and ~/.k5login), so a principal of a
 * foreign realm is refused unless krb5.conf maps it.
 *
 * Runs as root, in the session before it drops privileges (it reads the
 * keytab and the user's .k5login).  Built only with HAVE_KRB5; without it
 * every call fails with a reason.
 */
#ifndef POPPER_AUTH_KPOP_H
#define POPPER_AUTH_KPOP_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/auth.h"

/* The application version string of the KPOP handshake. */
#define KPOP_VERSION "KPOPV1.0"
/* The conventional TCP port of kpop (services(5)); only documentation. */
#define KPOP_PORT 1109

/* True when popper was built with MIT krb5. */
bool kpop_built(void);

/* True when keytab (NULL = krb5's default) exists and holds at least one
 * key, i.e. GSSAPI could accept anything at all. */
bool kpop_keytab_usable(const char *keytab);

/* Makes keytab (NULL: leave krb5's default) the acceptor keytab of GSSAPI
 * for this process.  Returns 0, or -1 with reason filled. */
int kpop_use_keytab(const char *keytab, char *reason, size_t reasonsize);

/* Maps principal (krb5 text form; without "@REALM" it is in the default
 * realm) to the local user it may log in as.  The principal's own name is
 * what krb5_aname_to_localname() gives (auth_to_local; by default only
 * one-component principals of the default realm), and a system account of
 * that name must also pass krb5_kuserok() (~/.k5login); a virtual user has
 * no home and the mapping alone decides.  requested (NULL, "", the
 * principal itself, or that local name: no request) may name another
 * user only where krb5_kuserok() allows it (a system account's .k5login).
 * Returns 0 with user_r filled, or -1 with a log-only reason. */
int kpop_principal_user(const char *principal, const char *requested,
			char *user_r, size_t usersize, char *reason, size_t reasonsize);

#endif
