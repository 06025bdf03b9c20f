/*
 * test_penalty: the daemon's table of failed logins per address
 * (server/penalty.c): the address keys (IPv4, IPv4-mapped, IPv6 by /64, a
 * zone, what is never penalised), the delays (0, then 2 s doubling up to
 * the cap), expiry after PENALTY_EXPIRE_SECS, a success that clears, a
 * full table giving up its oldest record, sessions in several processes
 * updating one table, and sessions killed in the middle of an update
 * leaving nothing that blocks the others.
 *
 * Time is given to the *_at functions, so nothing here sleeps.  The wiring
 * into the failed-login sequence is tests/unit/server/test_login.c's; the
 * whole daemon under parallel connections is
 * tests/integration/test_penalty.py's.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "server/penalty.h"
#include "tests/unit/tap.h"

#define T0 1000   /* a monotonic time in seconds */

static bool same_key(const char *a, const char *b)
{
	uint64_t ka, kb;

	return penalty_key(a, &ka) && penalty_key(b, &kb) && ka == kb;
}

static bool has_key(const char *a)
{
	uint64_t k;

	return penalty_key(a, &k);
}

static void test_keys(void)
{
	char longer[100];

	ok(same_key("192.0.2.1", "192.0.2.1"), "IPv4: an address is its own key");
	ok(!same_key("192.0.2.1", "192.0.2.2"), "IPv4: one address, one key");
	ok(same_key("192.0.2.1", "::ffff:192.0.2.1"), "an IPv4-mapped address is the IPv4 address");
	ok(same_key("2001:db8:1:2::1", "2001:db8:1:2:ffff:eeee:dddd:cccc"),
	   "IPv6: one /64, one key, whatever the host half");
	ok(!same_key("2001:db8:1:2::1", "2001:db8:1:3::1"), "IPv6: another /64, another key");
	ok(same_key("fe80::1%eth0", "fe80::2"), "a link-local address's zone is cut off");
	ok(!same_key("::1", "127.0.0.1"), "::1 and 127.0.0.1 are different clients");
	ok(!same_key("::1", "0.0.0.0") && !same_key("::", "0.0.0.0"),
	   "the IPv6 prefix ::/64 meets no IPv4 address");
	ok(!same_key("feff:ffff:ffff:ffff::1", "255.255.255.255"),
	   "the highest IPv6 unicast prefix meets no IPv4 address");
	ok(!has_key("local") && !has_key("") && !has_key(NULL) && !has_key("unknown"),
	   "no key: AF_UNIX (\"local\"), empty, NULL, a name");
	ok(!has_key("ff02::1"), "no key: a multicast address (never a peer)");
	memset(longer, '1', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	ok(!has_key(longer), "no key: a string longer than any address");
}

static void test_delays(void)
{
	static const unsigned want15[] = { 0, 2, 4, 8, 15, 15, 15 };
	static const unsigned want5[] = { 0, 2, 4, 5, 5 };
	struct penalty_table *t = penalty_table_create(15);
	struct penalty_table *t5 = penalty_table_create(5);
	struct penalty_table *t1 = penalty_table_create(1);
	struct penalty_table *t0 = penalty_table_create(0);
	char what[64];
	size_t i;

	if (t == NULL || t5 == NULL || t1 == NULL || t0 == NULL)
		die("penalty_table_create");
	for (i = 0; i < sizeof(want15) / sizeof(want15[0]); i++) {
		snprintf(what, sizeof(what), "cap 15, after %zu failures: %u s", i, want15[i]);
		is_int(penalty_extra_delay_at(t, "192.0.2.1", T0), want15[i], "%s", what);
		penalty_note_failure_at(t, "192.0.2.1", T0);
	}
	is_int(penalty_failures_at(t, "192.0.2.1", T0), 7, "seven failures counted");
	is_int(penalty_extra_delay_at(t, "192.0.2.2", T0), 0, "another address: no penalty");
	for (i = 0; i < sizeof(want5) / sizeof(want5[0]); i++) {
		snprintf(what, sizeof(what), "cap 5, after %zu failures: %u s", i, want5[i]);
		is_int(penalty_extra_delay_at(t5, "192.0.2.1", T0), want5[i], "%s", what);
		penalty_note_failure_at(t5, "192.0.2.1", T0);
	}
	penalty_note_failure_at(t1, "192.0.2.1", T0);
	is_int(penalty_extra_delay_at(t1, "192.0.2.1", T0), 1, "cap 1: one second, never two");
	penalty_note_failure_at(t0, "192.0.2.1", T0);
	is_int(penalty_extra_delay_at(t0, "192.0.2.1", T0), 0, "cap 0: never a penalty");
	penalty_note_failure_at(t, "local", T0);
	is_int(penalty_failures_at(t, "local", T0), 0, "\"local\" is never counted");

	/* IPv6: the /64 is the client. */
	penalty_note_failure_at(t, "2001:db8:1:2::1", T0);
	penalty_note_failure_at(t, "2001:db8:1:2::99", T0);
	is_int(penalty_failures_at(t, "2001:db8:1:2::abcd", T0), 2,
	       "two addresses of one /64: two failures of one client");
	is_int(penalty_extra_delay_at(t, "2001:db8:1:2::abcd", T0), 4, "... and its penalty");
	is_int(penalty_failures_at(t, "2001:db8:1:3::1", T0), 0, "the next /64 is not penalised");
	is_int(penalty_failures_at(t, "::1", T0), 0, "nor ::1");
	penalty_table_destroy(t);
	penalty_table_destroy(t5);
	penalty_table_destroy(t1);
	penalty_table_destroy(t0);
}

static void test_expiry_and_success(void)
{
	struct penalty_table *t = penalty_table_create(15);

	if (t == NULL)
		die("penalty_table_create");
	penalty_note_failure_at(t, "192.0.2.1", T0);
	penalty_note_failure_at(t, "192.0.2.1", T0 + 100);
	is_int(penalty_failures_at(t, "192.0.2.1", T0 + 100 + PENALTY_EXPIRE_SECS - 1), 2,
	       "counted until PENALTY_EXPIRE_SECS after the last failure");
	is_int(penalty_failures_at(t, "192.0.2.1", T0 + 100 + PENALTY_EXPIRE_SECS), 0,
	       "forgotten PENALTY_EXPIRE_SECS after the last failure");
	penalty_note_failure_at(t, "192.0.2.1", T0 + 100 + PENALTY_EXPIRE_SECS);
	is_int(penalty_failures_at(t, "192.0.2.1", T0 + 100 + PENALTY_EXPIRE_SECS), 1,
	       "a failure after that starts again at one");
	is_int(penalty_failures_at(t, "192.0.2.1", T0 - PENALTY_EXPIRE_SECS), 0,
	       "a last failure far in the future (a damaged record) does not count");

	penalty_note_failure_at(t, "192.0.2.7", T0);
	penalty_note_failure_at(t, "192.0.2.8", T0);
	penalty_note_failure_at(t, "192.0.2.8", T0);
	penalty_note_success(t, "192.0.2.8");
	is_int(penalty_failures_at(t, "192.0.2.8", T0), 0, "a successful login clears its address");
	is_int(penalty_extra_delay_at(t, "192.0.2.8", T0), 0, "... and its penalty");
	is_int(penalty_failures_at(t, "192.0.2.7", T0), 1, "... and no other");
	penalty_note_failure_at(t, "192.0.2.8", T0);
	is_int(penalty_failures_at(t, "192.0.2.8", T0), 1, "the next failure counts from one");
	penalty_table_destroy(t);

	penalty_note_failure(NULL, "192.0.2.1");
	penalty_note_success(NULL, "192.0.2.1");
	is_int(penalty_extra_delay(NULL, "192.0.2.1"), 0, "no table (inetd mode): no penalty");
	is_int(penalty_failures(NULL, "192.0.2.1"), 0, "no table: nothing counted");
}

static void addr_of(unsigned i, char *out, size_t size)
{
	snprintf(out, size, "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
}

/* Full: a new address takes the record of the oldest failure, or of one
 * that expired; never a recent one. */
static void test_full_table(void)
{
	struct penalty_table *t = penalty_table_create(15);
	char a[32];
	unsigned i, kept = 0;

	if (t == NULL)
		die("penalty_table_create");
	addr_of(0, a, sizeof(a));
	penalty_note_failure_at(t, a, T0);
	for (i = 1; i < PENALTY_SLOTS; i++) {
		addr_of(i, a, sizeof(a));
		penalty_note_failure_at(t, a, T0 + 1 + i / 16);
	}
	for (i = 0; i < PENALTY_SLOTS; i++) {
		addr_of(i, a, sizeof(a));
		kept += penalty_failures_at(t, a, T0 + 100) == 1;
	}
	is_int(kept, PENALTY_SLOTS, "PENALTY_SLOTS addresses fill the table");
	penalty_note_failure_at(t, "192.0.2.1", T0 + 100);
	is_int(penalty_failures_at(t, "192.0.2.1", T0 + 100), 1, "full: a new address is recorded");
	addr_of(0, a, sizeof(a));
	is_int(penalty_failures_at(t, a, T0 + 100), 0, "... in the place of the oldest failure");
	addr_of(1, a, sizeof(a));
	ok(penalty_failures_at(t, a, T0 + 100) == 1, "... and no other");
	addr_of(PENALTY_SLOTS - 1, a, sizeof(a));
	ok(penalty_failures_at(t, a, T0 + 100) == 1, "the newest is kept");

	/* Much later most have expired: those go first, the recent stay. */
	penalty_note_failure_at(t, "192.0.2.1", T0 + PENALTY_EXPIRE_SECS + 50);
	penalty_note_failure_at(t, "192.0.2.2", T0 + PENALTY_EXPIRE_SECS + 50);
	ok(penalty_failures_at(t, "192.0.2.1", T0 + PENALTY_EXPIRE_SECS + 50) == 2 &&
	   penalty_failures_at(t, "192.0.2.2", T0 + PENALTY_EXPIRE_SECS + 50) == 1,
	   "later: the new failures are recorded");
	addr_of(PENALTY_SLOTS - 1, a, sizeof(a));
	ok(penalty_failures_at(t, a, T0 + PENALTY_EXPIRE_SECS + 50) == 1,
	   "... in expired records: a live one is kept");
	penalty_table_destroy(t);
}

#define KIDS 8
#define KID_FAILURES 500

/* Several session processes note failures of one address at once (the
 * table was made before they were forked, as the listener does). */
static void test_processes(void)
{
	struct penalty_table *t = penalty_table_create(15);
	unsigned i, n, own = 0;
	pid_t pids[KIDS];
	int status, clean = 0;

	if (t == NULL)
		die("penalty_table_create");
	for (i = 0; i < KIDS; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork");
		if (pids[i] == 0) {
			char own_addr[32];
			unsigned k;

			snprintf(own_addr, sizeof(own_addr), "198.51.100.%u", i + 1);
			for (k = 0; k < KID_FAILURES; k++) {
				penalty_note_failure_at(t, "192.0.2.1", T0);
				if (k % 10 == 0)
					penalty_note_failure_at(t, own_addr, T0);
			}
			_exit(0);
		}
	}
	for (i = 0; i < KIDS; i++)
		if (waitpid(pids[i], &status, 0) == pids[i] && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0)
			clean++;
	is_int(clean, KIDS, "%d processes updated the table and ended", KIDS);
	n = penalty_failures_at(t, "192.0.2.1", T0);
	/* A race may lose a count now and then (penalty.c): near enough. */
	ok(n <= KIDS * KID_FAILURES && n >= KIDS * KID_FAILURES * 99 / 100,
	   "their failures of one address add up in the parent (%u of %u)", n,
	   KIDS * KID_FAILURES);
	for (i = 0; i < KIDS; i++) {
		char own_addr[32];

		snprintf(own_addr, sizeof(own_addr), "198.51.100.%u", i + 1);
		own += penalty_failures_at(t, own_addr, T0) == KID_FAILURES / 10;
	}
	is_int(own, KIDS, "each process's own address has its own count");
	penalty_table_destroy(t);
}

static void on_alarm(int sig)
{
	(void)sig;
	printf("not ok - the table blocked after a killed update\n");
	_exit(1);
}

/* A session killed in the middle of an update (SIGKILL at a random moment,
 * many times) leaves nothing that makes the others wait. */
static void test_killed_mid_update(void)
{
	struct penalty_table *t = penalty_table_create(15);
	struct timespec pause;
	unsigned round, done = 0;

	if (t == NULL)
		die("penalty_table_create");
	srand(4711);
	for (round = 0; round < 40; round++) {
		pid_t pid = fork();
		int status;

		if (pid < 0)
			die("fork");
		if (pid == 0) {
			char a[32];
			unsigned k;

			for (k = 0;; k++) {
				addr_of(k % 3000, a, sizeof(a));
				penalty_note_failure_at(t, a, T0 + k / 500);
				penalty_note_failure_at(t, "192.0.2.1", T0);
				if (k % 7 == 0)
					penalty_note_success(t, "192.0.2.1");
			}
		}
		pause.tv_sec = 0;
		pause.tv_nsec = 200000L + (long)(rand() % 3000) * 1000L;
		nanosleep(&pause, NULL);
		kill(pid, SIGKILL);
		if (waitpid(pid, &status, 0) == pid && WIFSIGNALED(status))
			done++;
	}
	is_int(done, 40, "40 updating processes killed at random moments");
	signal(SIGALRM, on_alarm);
	alarm(20);
	penalty_note_success(t, "203.0.113.5");
	penalty_note_failure_at(t, "203.0.113.5", T0 + 10);
	penalty_note_failure_at(t, "203.0.113.5", T0 + 10);
	alarm(0);
	is_int(penalty_failures_at(t, "203.0.113.5", T0 + 10), 2,
	       "afterwards the table answers at once and counts right");
	is_int(penalty_extra_delay_at(t, "203.0.113.5", T0 + 10), 4, "... and the penalty follows");
	penalty_table_destroy(t);
}

int main(void)
{
	test_keys();
	test_delays();
	test_expiry_and_success();
	test_full_table();
	test_processes();
	test_killed_mid_update();
	return tap_done();
}
