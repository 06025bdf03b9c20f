/*
 * penalty: the per-address record of failed logins shared by the sessions of
 * one standalone daemon (see penalty.h for the interface and the numbers).
 *
 * Why: auth-failure-delay slows each connection, not each address.  Ten
 * parallel connections from one address, each failing in turn, made about
 * five guesses a second at the default 2 s.  With this table every session
 * of the daemon sees the failures of the address's other sessions, past and
 * present, and answers a failure later the more the address has failed:
 * 2, 4, 8 s ... up to auth-failure-penalty (15 s by default) on top of
 * auth-failure-delay.  A failed session sleeps while it holds its place
 * under max-sessions-per-host, so an address makes at most
 * max-sessions-per-host guesses per (delay + penalty) seconds, however
 * quickly it drops and reopens connections.
 *
 * The table: PENALTY_SLOTS records of two 64-bit words, in a MAP_SHARED |
 * MAP_ANONYMOUS mapping the listener makes before it forks.  The listener
 * itself never reads it; the sessions read and write it before login.
 *   key    the address (penalty_key): an IPv4 address, or the /64 prefix of
 *          an IPv6 one, since one subscriber usually gets a whole /64 and
 *          picks the host half at will.  IPv4 keys carry 0xff in their top
 *          byte, which no IPv6 unicast prefix has (ff00::/8 is multicast),
 *          so the two never meet; KEY_FREE marks an unused record.
 *   state  (time of the last failure in monotonic seconds) << 16 | count.
 * A record counts only while its last failure is less than
 * PENALTY_EXPIRE_SECS old; a new address takes a free record, else an
 * expired one, else the one whose last failure is the oldest.
 *
 * No lock: every change is one compare-and-swap on one word, retried a
 * bounded number of times, so a session killed in the middle of an update
 * leaves no lock held and no one waiting, only (at worst) one failure
 * counted too few.  Two sessions racing can lose a count or put the same
 * address in two records; the reader adds up every record of the address,
 * so a duplicate costs nothing.  The numbers are a rate limit, not a
 * ledger: near enough is good enough, a wedge is not.
 *
 * What a session that went wrong could do with the mapping (it stays mapped
 * in a session after its login): change counts, which only ever delays
 * failed logins and never by more than the cap, which sits in the
 * listener's private copy of struct penalty_table.  Successful logins are
 * never delayed.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "server/penalty.h"

/* Longest numeric address looked at: INET6_ADDRSTRLEN, and a zone after
 * '%' that is cut off. */
#define PENALTY_ADDR_MAX 64
/* IPv4 keys: the address under a top byte no IPv6 unicast prefix has. */
#define KEY_V4 (UINT64_C(0xff) << 56)
/* An unused record: top byte 0xff but not an IPv4 key (bits 32-55 set). */
#define KEY_FREE UINT64_MAX
/* state = last << COUNT_BITS | count */
#define COUNT_BITS 16
#define COUNT_MAX ((UINT64_C(1) << COUNT_BITS) - 1)
/* Rounds of find-then-update when other sessions keep winning the race,
 * and compare-and-swap attempts on one word: bounded, never a spin. */
#define PENALTY_ROUNDS 16
#define PENALTY_CAS_TRIES 1000

#if ATOMIC_LLONG_LOCK_FREE == 2

struct penalty_slot {
	atomic_ullong key;
	atomic_ullong state;
};

/* The shared part: nothing in it is trusted beyond "a number". */
struct penalty_shared {
	struct penalty_slot slot[PENALTY_SLOTS];
};

/* The private handle: the cap is ours, the records are everybody's. */
struct penalty_table {
	unsigned max_secs;
	struct penalty_shared *shared;
};

static uint64_t now_secs(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC is one clock for all processes of the machine and
	 * does not jump with the wall clock; +1 keeps 0 for "never". */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec + 1;
}

static uint64_t state_last(uint64_t state)
{
	return state >> COUNT_BITS;
}

/* The failures a state holds that still count at now.  The distance is
 * taken both ways: a time in the future (a record damaged by a session
 * gone wrong) also expires. */
static unsigned live_count(uint64_t state, uint64_t now)
{
	uint64_t last = state_last(state);
	uint64_t age = now >= last ? now - last : last - now;

	if (state == 0 || age >= PENALTY_EXPIRE_SECS)
		return 0;
	return (unsigned)(state & COUNT_MAX);
}

struct penalty_table *penalty_table_create(unsigned max_secs)
{
	struct penalty_table *t = malloc(sizeof(*t));
	void *m;
	size_t i;

	if (t == NULL)
		return NULL;
	m = mmap(NULL, sizeof(struct penalty_shared), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		free(t);
		return NULL;
	}
	t->max_secs = max_secs;
	t->shared = m;
	for (i = 0; i < PENALTY_SLOTS; i++) {
		atomic_init(&t->shared->slot[i].key, KEY_FREE);
		atomic_init(&t->shared->slot[i].state, 0);
	}
	return t;
}

void penalty_table_destroy(struct penalty_table *t)
{
	if (t == NULL)
		return;
	munmap(t->shared, sizeof(*t->shared));
	free(t);
}

/* What one pass over the table found for key at now. */
/* A record as one look saw it. */
struct seen {
	int at;                         /* index, -1 = none */
	uint64_t key, state;
};

struct scan {
	int match;                      /* the first record of key, or -1 */
	struct seen victim;             /* where key goes if it has none */
};

static void see(struct seen *s, int at, uint64_t k, uint64_t st)
{
	s->at = at;
	s->key = k;
	s->state = st;
}

static void scan(const struct penalty_shared *sh, uint64_t key, uint64_t now, struct scan *r)
{
	struct seen free_rec = { -1, 0, 0 }, expired = { -1, 0, 0 }, oldest = { -1, 0, 0 };
	int i;

	r->match = -1;
	for (i = 0; i < PENALTY_SLOTS; i++) {
		const struct penalty_slot *sl = &sh->slot[i];
		uint64_t k = atomic_load(&sl->key);
		uint64_t st = atomic_load(&sl->state);

		if (k == key && r->match < 0)
			r->match = i;
		if (k == KEY_FREE) {
			if (free_rec.at < 0)
				see(&free_rec, i, k, st);
		} else if (live_count(st, now) == 0) {
			if (expired.at < 0)
				see(&expired, i, k, st);
		} else if (oldest.at < 0 || state_last(st) < state_last(oldest.state)) {
			see(&oldest, i, k, st);
		}
	}
	/* The values that made the choice go with it: claim() swaps only if
	 * the record still holds them. */
	r->victim = free_rec.at >= 0 ? free_rec : expired.at >= 0 ? expired : oldest;
}

/* One more failure in a record at now (the count starts again at 1 when
 * the old ones expired).  False when other sessions kept winning. */
static bool bump(struct penalty_slot *sl, uint64_t now)
{
	unsigned long long old = atomic_load(&sl->state);
	int n;

	for (n = 0; n < PENALTY_CAS_TRIES; n++) {
		uint64_t c = live_count(old, now);
		unsigned long long next = now << COUNT_BITS | (c < COUNT_MAX ? c + 1 : COUNT_MAX);

		if (atomic_compare_exchange_weak(&sl->state, &old, next))
			return true;
	}
	return false;
}

/* Takes the record the scan chose for key: its count is emptied first,
 * then the key changes, each only if nobody changed it since the scan, so a
 * record another session just took is left alone.  False to scan again. */
static bool claim(struct penalty_shared *sh, const struct scan *r, uint64_t key, uint64_t now)
{
	struct penalty_slot *sl = &sh->slot[r->victim.at];
	unsigned long long st = r->victim.state, k = r->victim.key;

	if (!atomic_compare_exchange_strong(&sl->state, &st, 0))
		return false;
	if (!atomic_compare_exchange_strong(&sl->key, &k, key))
		return false;
	return bump(sl, now);
}

void penalty_note_failure_at(struct penalty_table *t, const char *addr, uint64_t now)
{
	struct scan r;
	uint64_t key;
	int round;

	if (t == NULL || !penalty_key(addr, &key))
		return;
	for (round = 0; round < PENALTY_ROUNDS; round++) {
		scan(t->shared, key, now, &r);
		if (r.match >= 0 ? bump(&t->shared->slot[r.match], now)
				 : claim(t->shared, &r, key, now))
			return;
	}
	/* Lost every race: this one failure goes uncounted. */
}

void penalty_note_success(struct penalty_table *t, const char *addr)
{
	uint64_t key;
	int i;

	if (t == NULL || !penalty_key(addr, &key))
		return;
	for (i = 0; i < PENALTY_SLOTS; i++) {
		struct penalty_slot *sl = &t->shared->slot[i];
		unsigned long long k = key;

		if (atomic_load(&sl->key) != key)
			continue;
		/* Count first, then key: a record that is free always has an
		 * empty count for the session that takes it next. */
		atomic_store(&sl->state, 0);
		atomic_compare_exchange_strong(&sl->key, &k, KEY_FREE);
	}
}

unsigned penalty_failures_at(const struct penalty_table *t, const char *addr, uint64_t now)
{
	uint64_t key, n = 0;
	int i;

	if (t == NULL || !penalty_key(addr, &key))
		return 0;
	for (i = 0; i < PENALTY_SLOTS; i++) {
		const struct penalty_slot *sl = &t->shared->slot[i];

		if (atomic_load(&sl->key) == key)
			n += live_count(atomic_load(&sl->state), now);
	}
	return n < COUNT_MAX ? (unsigned)n : (unsigned)COUNT_MAX;
}

#else /* no lock-free 64-bit atomics: no table, no penalty */

struct penalty_table {
	unsigned max_secs;
};

static uint64_t now_secs(void)
{
	return 1;
}

struct penalty_table *penalty_table_create(unsigned max_secs)
{
	(void)max_secs;
	errno = ENOSYS;
	return NULL;
}

void penalty_table_destroy(struct penalty_table *t)
{
	(void)t;
}

void penalty_note_failure_at(struct penalty_table *t, const char *addr, uint64_t now)
{
	(void)t; (void)addr; (void)now;
}

void penalty_note_success(struct penalty_table *t, const char *addr)
{
	(void)t; (void)addr;
}

unsigned penalty_failures_at(const struct penalty_table *t, const char *addr, uint64_t now)
{
	(void)t; (void)addr; (void)now;
	return 0;
}

#endif

bool penalty_key(const char *addr, uint64_t *key_r)
{
	char buf[PENALTY_ADDR_MAX];
	struct in_addr a4;
	struct in6_addr a6;
	uint64_t key = 0;
	size_t n;
	int i;

	if (addr == NULL)
		return false;
	/* A link-local address's zone ("fe80::1%eth0") names our interface,
	 * not the client. */
	n = strcspn(addr, "%");
	if (n >= sizeof(buf))
		return false;
	memcpy(buf, addr, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, &a4) == 1) {
		*key_r = KEY_V4 | ntohl(a4.s_addr);
		return true;
	}
	if (inet_pton(AF_INET6, buf, &a6) != 1)
		return false;   /* "local", or not an address */
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		memcpy(&a4, &a6.s6_addr[12], 4);
		*key_r = KEY_V4 | ntohl(a4.s_addr);
		return true;
	}
	if (a6.s6_addr[0] == 0xff)
		return false;   /* multicast: never a peer, and its keys are IPv4's */
	for (i = 0; i < 8; i++)
		key = key << 8 | a6.s6_addr[i];
	*key_r = key;
	return true;
}

void penalty_note_failure(struct penalty_table *t, const char *addr)
{
	penalty_note_failure_at(t, addr, now_secs());
}

unsigned penalty_extra_delay_at(const struct penalty_table *t, const char *addr, uint64_t now)
{
	unsigned n, d, i;

	if (t == NULL || t->max_secs == 0)
		return 0;
	n = penalty_failures_at(t, addr, now);
	if (n == 0)
		return 0;
	d = PENALTY_FIRST_SECS;
	for (i = 1; i < n && d < t->max_secs; i++)
		d *= 2;
	return d < t->max_secs ? d : t->max_secs;
}

unsigned penalty_extra_delay(const struct penalty_table *t, const char *addr)
{
	return penalty_extra_delay_at(t, addr, now_secs());
}

unsigned penalty_failures(const struct penalty_table *t, const char *addr)
{
	return penalty_failures_at(t, addr, now_secs());
}
