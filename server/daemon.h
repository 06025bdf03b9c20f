/*
 * daemon: standalone mode.  The listener is the only long-lived root
 * process: it accepts, counts and forks, and never parses client bytes.
 * Runs as root (the listener; inetd mode's one process until the login).
 * Called by server/main.c only; calls down into session_run().
 */
#ifndef POPPER_DAEMON_H
#define POPPER_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "server/settings.h"

struct penalty_table;

/* Listens on addrspec ("[address][:port]", "[v6addr]:port", "port") and
 * serves each connection with session_run() in a child.  Returns the exit
 * status when told to stop (SIGTERM/SIGINT). */
int daemon_run(const struct settings *s, const char *addrspec);

/* Describes the peer of the connection on fd for session_params (inetd mode
 * and each daemon child): addr gets the numeric address (an IPv4-mapped IPv6
 * address as plain IPv4; "local" for AF_UNIX or when fd is not a socket);
 * host gets the reverse-resolved name if reverse_lookup is set and the name
 * resolves back to the address, else the address. */
void daemon_describe_peer(int fd, bool reverse_lookup, char *addr, size_t addrsize,
			  char *host, size_t hostsize);

/* Serves one connection on fd_in/fd_out with session_run(): TCP_NODELAY,
 * the peer's address and name, our host name, and the daemon's table of
 * failed logins per address (penalty; NULL in inetd mode).  Used by inetd
 * mode and by each daemon child.  Returns session_run()'s exit status. */
int daemon_serve_connection(const struct settings *s, int fd_in, int fd_out,
			    struct penalty_table *penalty);

#endif
