/*
 * daemon_parts: the pieces of the standalone listener (server/daemon.c)
 * that hold logic of their own, exposed for its unit test
 * (tests/unit/server/test_daemon.c).  Nothing else includes this header:
 * the face of the daemon is server/daemon.h.
 *
 * Runs as root, in the listener process.
 */
#ifndef POPPER_DAEMON_PARTS_H
#define POPPER_DAEMON_PARTS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#define DAEMON_DEFAULT_PORT "110"     /* RFC 1939 */
#define DAEMON_HOST_MAX 256
#define DAEMON_LOG_INTERVAL 10        /* seconds between rate-limited records */
#define DAEMON_RESWEEP_FIRST_MS 100   /* first re-sweep after a kill */
#define DAEMON_RESWEEP_MAX_MS 64000   /* longest pause between registry sweeps */

/* An address as family + bytes, IPv4-mapped IPv6 folded into IPv4, so the
 * per-host count treats ::ffff:192.0.2.1 and 192.0.2.1 as one client. */
struct daemon_peer_key {
	int family;
	unsigned char bytes[16];
};

/* Fills k from an AF_INET or AF_INET6 address (zeroed first).  Returns
 * false for any other family (AF_UNIX: a local client). */
bool daemon_peer_key_from(const struct sockaddr *sa, struct daemon_peer_key *k);

/* True when h (a DNS answer, untrusted) looks like a host name: letters,
 * digits, '-', '.', '_', not starting with '-' or '.', shorter than
 * DAEMON_HOST_MAX. */
bool daemon_hostname_sane(const char *h);

/* Splits "[addr][:port]", "[v6addr][:port]", "port" or a bare IPv6 address
 * into host ("" = all addresses) and port (DAEMON_DEFAULT_PORT when not
 * given).  Returns 0, or -1 when spec does not parse or a part does not fit. */
int daemon_parse_addrspec(const char *spec, char *host, size_t hostsize,
			  char *port, size_t portsize);

/* Binds and listens on every address of addrspec (non-blocking,
 * close-on-exec; IPv6 sockets IPv6-only).  Returns the number of listeners
 * (>= 1) written to fds, or after logging why -2 (addrspec does not parse:
 * a command-line error) or -1 (cannot listen). */
int daemon_open_listeners(const char *addrspec, int *fds, size_t max);

/* Writes our pid and a newline to path, mode 0644.  Returns 0, or -1 with
 * err filled (the file is then removed if it was written in part). */
int daemon_write_pid_file(const char *path, char *err, size_t errsize);

/* One kind of rate-limited log record. */
struct daemon_ratelimit {
	time_t last;               /* monotonic seconds of the last record; 0 = never */
	unsigned long suppressed;  /* records dropped since */
};

/* True when a record of this kind may be logged at `now` (monotonic
 * seconds): the first one, then one per DAEMON_LOG_INTERVAL.  *suppressed_r
 * gets how many were dropped since the last one logged. */
bool daemon_ratelimit_ok(struct daemon_ratelimit *r, time_t now, unsigned long *suppressed_r);

/* The sessions the listener runs: pid and client address of each. */
struct daemon_kid {
	pid_t pid;
	struct daemon_peer_key key;
};

struct daemon_kids {
	struct daemon_kid *v;      /* room for cap */
	unsigned n, cap;
};

/* Adds a session.  The caller checked n < cap (max-sessions); a full table
 * is left as it is. */
void daemon_kids_add(struct daemon_kids *k, pid_t pid, const struct daemon_peer_key *key);
/* Forgets the session pid (no-op for an unknown pid: a monitor is not ours
 * to count, and the stop's waitpid may see either). */
void daemon_kids_remove(struct daemon_kids *k, pid_t pid);
/* How many sessions come from the address key. */
unsigned daemon_kids_count_host(const struct daemon_kids *k, const struct daemon_peer_key *key);

/* When the lock registry is swept again (see daemon.c's header comment). */
struct daemon_resweep {
	bool due;
	long long at_ms;        /* monotonic milliseconds */
	long long interval_ms;
};

/* After a sweep at now_ms that left `waiting` entries: none, nothing is
 * due and the next kill starts from DAEMON_RESWEEP_FIRST_MS; some, the next
 * sweep is due one interval later and the interval doubles. */
void daemon_resweep_schedule(struct daemon_resweep *r, unsigned waiting, long long now_ms);

/* The poll timeout (ms, -1 = none) shortened to the next sweep. */
int daemon_resweep_timeout(const struct daemon_resweep *r, int timeout, long long now_ms);

#endif
