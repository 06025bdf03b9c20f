/*
 * daemon: standalone mode.  The listener is the only long-lived root
 * process: it accepts, counts and forks, and never parses client bytes.
 */
#ifndef POPPER_DAEMON_H
#define POPPER_DAEMON_H

#include "server/settings.h"

/* Listens on addrspec ("[address][:port]", "[v6addr]:port", "port") and
 * serves each connection with session_run() in a child.  Returns the exit
 * status when told to stop (SIGTERM/SIGINT). */
int daemon_run(const struct settings *s, const char *addrspec);

#endif
