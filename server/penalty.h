/*
 * penalty: failed logins remembered per client address across the sessions
 * of one standalone daemon, so that an address that keeps failing waits
 * longer for each answer however many connections it opens (Dovecot's auth
 * penalty is the model).
 *
 * The table lives in a shared anonymous mapping that the listener
 * (server/daemon.c) makes before it forks any session; each session reads
 * and updates it with lock-free atomics, so a session killed half-way
 * through an update leaves nothing held.  inetd mode has no table (NULL):
 * every call is then a no-op and the extra delay 0 (fail2ban on the log line
 * "authentication failed: client=..." is the answer there).  Runs as root in
 * the listener (create, destroy) and in the session before login.
 */
#ifndef POPPER_PENALTY_H
#define POPPER_PENALTY_H

#include <stdbool.h>
#include <stdint.h>

/* Records the table holds; when all are in use a new address takes the
 * place of the one whose last failure is the oldest. */
#define PENALTY_SLOTS 1024
/* A record without a new failure for this long is forgotten (seconds). */
#define PENALTY_EXPIRE_SECS 300
/* The extra delay after the first recorded failure; it doubles with each
 * further one, up to the table's cap (auth-failure-penalty). */
#define PENALTY_FIRST_SECS 2

struct penalty_table;

/* A new, empty table shared with every process forked after this call,
 * whose extra delay never exceeds max_secs.  The cap stays in this process's
 * own memory, not in the shared records, so no session can raise it.
 * Returns NULL (errno set) when the mapping cannot be made, or when this
 * machine has no lock-free 64-bit atomics (errno ENOSYS). */
struct penalty_table *penalty_table_create(unsigned max_secs);
/* Unmaps and frees the table in this process (NULL is fine). */
void penalty_table_destroy(struct penalty_table *t);

/* The key of a numeric client address (session_params.client_addr): an IPv4
 * address as itself (IPv4-mapped IPv6 folded into it), an IPv6 address by
 * its /64 prefix (one subscriber, one LAN; the host half is the client's to
 * choose).  False for "local" and anything that is not a unicast address:
 * such a client is never penalised. */
bool penalty_key(const char *addr, uint64_t *key_r);

/* One more failed login from addr (a no-op for t NULL or no key). */
void penalty_note_failure(struct penalty_table *t, const char *addr);
/* A successful login from addr: its record is cleared. */
void penalty_note_success(struct penalty_table *t, const char *addr);
/* The extra seconds a failed login from addr waits, from the failures
 * recorded before it: 0 for none, then PENALTY_FIRST_SECS doubling with each
 * further failure, at most the table's cap; 0 for t NULL. */
unsigned penalty_extra_delay(const struct penalty_table *t, const char *addr);
/* How many recent failures of addr the table holds (0 for t NULL). */
unsigned penalty_failures(const struct penalty_table *t, const char *addr);

/* The same with the time given (monotonic seconds, > 0), for the unit test. */
void penalty_note_failure_at(struct penalty_table *t, const char *addr, uint64_t now);
unsigned penalty_extra_delay_at(const struct penalty_table *t, const char *addr, uint64_t now);
/* How many failures from addr count at now (not expired). */
unsigned penalty_failures_at(const struct penalty_table *t, const char *addr, uint64_t now);

#endif
