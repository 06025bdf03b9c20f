/*
 * session: one POP3 conversation, from greeting to sign-off (RFC 1939).
 *
 * Runs as root until a login succeeds (needed for PAM and to create the
 * per-user state directory); then the login module (server/login.c) forks
 * the monitor (server/monitor.c), drops to the user (server/privdrop.c) and
 * only then opens the maildrop.  This is the engine's public face, for
 * main.c and daemon.c; its private record is in server/engine.h.
 */
#ifndef POPPER_SESSION_H
#define POPPER_SESSION_H

#include "server/settings.h"

struct penalty_table;

struct session_params {
	const struct settings *set;
	int fd_in, fd_out;          /* the connection (equal for a socket) */
	const char *client_addr;    /* numeric address ("127.0.0.1", "::1"), or "local" */
	const char *client_host;    /* reverse-resolved name, or client_addr */
	const char *local_host;     /* our host name, for the APOP timestamp */
	/* Standalone: failed logins per client address, shared by all the
	 * daemon's sessions (server/penalty.h); NULL in inetd mode. */
	struct penalty_table *penalty;
};

/* Serves one connection to its end.  Returns the process exit status
 * (0 normal end, 1 error). */
int session_run(const struct session_params *p);

#endif
