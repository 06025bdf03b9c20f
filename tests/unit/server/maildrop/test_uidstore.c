/*
 * test_uidstore: UID state outside the spool (server/maildrop/uidstore.c): the hash
 * (its values are on disk, so they are pinned), the file format, matching
 * in order by (size, hash), X-UIDL candidates (honoured on the first sight
 * of a maildrop only, kept apart by the record uids.started), the
 * never-reused counter, damaged and unsafe state files, and the one-session
 * fallback.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "lib/safeopen.h"
#include "server/maildrop/uidstore.h"
#include "tests/unit/tap.h"

static char root[512], dir[600];
static unsigned casenum;

static void new_dir(void)
{
	snprintf(dir, sizeof(dir), "%s/d%u", root, ++casenum);
	if (mkdir(dir, 0700) < 0)
		die("mkdir");
}

static void write_state(const char *content)
{
	char path[700];
	int fd;

	snprintf(path, sizeof(path), "%s/uids", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || safe_write_all(fd, content, strlen(content)) < 0)
		die(path);
	close(fd);
}

static struct uidstore *load(void)
{
	char reason[256] = "";
	bool perm;
	struct uidstore *st = uidstore_load(dir, &perm, reason, sizeof(reason));

	if (st == NULL)
		printf("# load failed: %s\n", reason);
	return st;
}

static int save(struct uidstore *st, const struct uid_msg *m, size_t n)
{
	char reason[256] = "";
	int r = uidstore_save(st, dir, m, n, reason, sizeof(reason));

	if (r < 0)
		printf("# save failed: %s\n", reason);
	return r;
}

static void msg(struct uid_msg *m, uint64_t size, uint64_t hash)
{
	m->size = size;
	m->hash = hash;
	m->uid = UIDSTORE_NONE;
	m->flags = 0;
}

static const char *uid(struct uidstore *st, const struct uid_msg *m)
{
	return uidstore_str(st, m->uid);
}

/* Counts files in dir whose name starts with prefix. */
static int count_files(const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

static void test_hash(void)
{
	static const char text[] = "From a 10:00\nSubject: x\n\nbody\n";
	struct uidstore_hasher hs;
	bool same = true;
	size_t a, b;

	ok(uidstore_hash("popper", 6, 0) == 0x05647f3d2c0c6284ULL &&
	   uidstore_hash("", 0, 0) == 0x9ca066f1a4ab2eeaULL &&
	   uidstore_hash(text, 30, 0) == 0x36c07fa11445eb47ULL,
	   "hash values are pinned (they are saved on disk)");
	ok(uidstore_hash("popper", 6, 0) != uidstore_hash("popper", 6, 1), "the seed changes the hash");
	ok(uidstore_hash("popper", 6, 0) != uidstore_hash("poppeR", 6, 0), "one bit changes the hash");
	for (a = 0; a <= 30; a++) {
		for (b = a; b <= 30; b++) {
			uidstore_hash_init(&hs, 0);
			uidstore_hash_update(&hs, text, a);
			uidstore_hash_update(&hs, text + a, b - a);
			uidstore_hash_update(&hs, text + b, 30 - b);
			if (uidstore_hash_final(&hs) != uidstore_hash(text, 30, 0))
				same = false;
		}
	}
	ok(same, "streaming hash equals one-shot for every split");
}

static void test_valid(void)
{
	char s[80];

	memset(s, 'a', sizeof(s));
	ok(!uidstore_valid_uid(s, 0), "empty UID invalid");
	ok(uidstore_valid_uid(s, 1), "1 character valid");
	ok(uidstore_valid_uid(s, 70), "70 characters valid");
	ok(!uidstore_valid_uid(s, 71), "71 characters invalid");
	ok(uidstore_valid_uid("!~", 2), "0x21 and 0x7e valid");
	ok(!uidstore_valid_uid("a b", 3), "space invalid");
	ok(!uidstore_valid_uid("a\x7f", 2), "0x7f invalid");
	ok(!uidstore_valid_uid("a\0b", 3), "NUL invalid");
}

static void test_basic(void)
{
	struct uidstore *st;
	struct uid_msg m[6];
	char epoch[16], want[64];
	long n;

	new_dir();
	st = load();
	ok(st != NULL, "missing state: fresh store");
	if (st == NULL)
		return;
	snprintf(epoch, sizeof(epoch), "%s", uidstore_epoch(st));
	ok(strlen(epoch) == 8 && strspn(epoch, "0123456789abcdef") == 8, "epoch is 8 hex digits (%s)",
	   epoch);
	msg(&m[0], 100, 1);
	msg(&m[1], 100, 1);   /* identical to m[0] */
	msg(&m[2], 200, 2);
	n = uidstore_assign(st, m, 3);
	is_int(n, 3, "three unsaved messages");
	snprintf(want, sizeof(want), "%s.1", epoch);
	is_str(uid(st, &m[0]), want, "first UID is EPOCH.1");
	snprintf(want, sizeof(want), "%s.2", epoch);
	is_str(uid(st, &m[1]), want, "identical message gets EPOCH.2");
	ok((m[2].flags & UIDSTORE_NEW) != 0, "generated UIDs are flagged new");
	m[1].flags |= UIDSTORE_SEEN;
	ok(save(st, m, 3) == 0, "save");
	uidstore_free(st);

	/* Next session: m[1] deleted meanwhile, two new messages. */
	st = load();
	if (st == NULL)
		return;
	is_str(uidstore_epoch(st), epoch, "epoch persists");
	msg(&m[0], 100, 1);
	msg(&m[1], 200, 2);
	msg(&m[2], 300, 3);
	msg(&m[3], 100, 1);   /* a new copy of the first message */
	n = uidstore_assign(st, m, 4);
	is_int(n, 2, "two messages not in the state");
	snprintf(want, sizeof(want), "%s.1", epoch);
	is_str(uid(st, &m[0]), want, "kept message keeps its UID");
	snprintf(want, sizeof(want), "%s.3", epoch);
	is_str(uid(st, &m[1]), want, "message after a deleted one keeps its UID");
	snprintf(want, sizeof(want), "%s.4", epoch);
	is_str(uid(st, &m[2]), want, "new message: counter continues (EPOCH.2 is never reused)");
	snprintf(want, sizeof(want), "%s.5", epoch);
	is_str(uid(st, &m[3]), want, "a later identical copy does not steal the deleted one's UID");
	ok(save(st, m, 4) == 0, "save again");
	uidstore_free(st);

	/* Seen marks persist; an entry seen before keeps its mark. */
	write_state("popper-uids 1 0badcafe 7\n10 00000000000000aa S first\n20 00000000000000bb - second\n");
	st = load();
	if (st == NULL)
		return;
	msg(&m[0], 10, 0xaa);
	msg(&m[1], 20, 0xbb);
	msg(&m[2], 30, 0xcc);
	uidstore_assign(st, m, 3);
	is_str(uid(st, &m[0]), "first", "UID from the file");
	ok((m[0].flags & UIDSTORE_SEEN) && !(m[1].flags & UIDSTORE_SEEN), "seen flags from the file");
	is_str(uid(st, &m[2]), "0badcafe.7", "NEXT from the file");
	uidstore_free(st);
}

static void test_order(void)
{
	struct uidstore *st;
	struct uid_msg m[3];

	new_dir();
	write_state("popper-uids 1 12345678 9\n10 000000000000000a - A\n20 0000000000000014 - B\n");
	st = load();
	if (st == NULL)
		return;
	msg(&m[0], 20, 0x14);   /* B first, then A: reordered */
	msg(&m[1], 10, 0x0a);
	uidstore_assign(st, m, 2);
	is_str(uid(st, &m[0]), "B", "in-order match");
	is_str(uid(st, &m[1]), "12345678.9", "out-of-order message gets a new UID, never a mix-up");
	uidstore_free(st);

	write_state("popper-uids 1 12345678 9\n10 000000000000000a - A\n11 000000000000000a - B\n");
	st = load();
	if (st == NULL)
		return;
	msg(&m[0], 10, 0x0a);
	msg(&m[1], 12, 0x0a);
	uidstore_assign(st, m, 2);
	is_str(uid(st, &m[0]), "A", "size and hash both match");
	ok(strcmp(uid(st, &m[1]), "B") != 0, "same hash, other size: no match");
	uidstore_free(st);
}

/* Gives m a message key and an X-UIDL candidate (NULL: none). */
static void cand(struct uidstore *st, struct uid_msg *m, uint64_t key, const char *x)
{
	msg(m, key, key);
	if (x != NULL)
		m->uid = uidstore_add(st, x, strlen(x));
}

static bool exists(const char *name)
{
	char path[700];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return lstat(path, &sb) == 0;
}

/* First sight of a maildrop (no state, no record of one): X-UIDL headers
 * are honoured, first occurrence only, never a look-alike of our UIDs. */
static void test_xuidl(void)
{
	struct uidstore *st;
	struct uid_msg m[6];
	char forged[32];

	new_dir();
	st = load();
	if (st == NULL)
		return;
	ok(uidstore_first_sight(st), "no state and no record: first sight");
	cand(st, &m[0], 1, "x-one");
	cand(st, &m[1], 2, "x-one");                      /* duplicate */
	snprintf(forged, sizeof(forged), "%s.1", uidstore_epoch(st));
	cand(st, &m[2], 3, forged);                       /* looks like ours */
	cand(st, &m[3], 4, "bad uid");                    /* invalid: not added */
	ok(m[3].uid == UIDSTORE_NONE, "invalid candidate is refused by uidstore_add");
	cand(st, &m[4], 5, NULL);
	uidstore_assign(st, m, 5);
	is_str(uid(st, &m[0]), "x-one", "first sight: X-UIDL used");
	ok(strcmp(uid(st, &m[1]), "x-one") != 0, "duplicate X-UIDL not used (%s)", uid(st, &m[1]));
	ok(strcmp(uid(st, &m[2]), forged) != 0, "X-UIDL imitating EPOCH.N not used (%s)",
	   uid(st, &m[2]));
	ok((m[0].flags & UIDSTORE_UNSAVED) && !(m[0].flags & UIDSTORE_NEW),
	   "X-UIDL UID is unsaved, not generated");
	ok(!exists("uids.started"), "no record before the first save");
	ok(save(st, m, 5) == 0, "first save");
	ok(exists("uids.started"), "the first save leaves the record uids.started");
	uidstore_free(st);

	/* The state exists: known messages keep their UIDs, new ones get
	 * ours whatever they carry. */
	st = load();
	if (st == NULL)
		return;
	ok(!uidstore_first_sight(st), "state saved: no longer first sight");
	cand(st, &m[0], 2, NULL);        /* m[0] of before was deleted */
	cand(st, &m[1], 3, NULL);
	cand(st, &m[2], 5, NULL);
	cand(st, &m[3], 6, "x-one");     /* new, carries the deleted one's UID */
	cand(st, &m[4], 7, "x-new");
	uidstore_assign(st, m, 5);
	ok(strcmp(uid(st, &m[3]), "x-one") != 0 && strncmp(uid(st, &m[3]), uidstore_epoch(st), 8) == 0,
	   "a new message with the X-UIDL of a deleted one gets a new UID (%s)", uid(st, &m[3]));
	ok(strncmp(uid(st, &m[4]), uidstore_epoch(st), 8) == 0,
	   "a new message's X-UIDL is not honoured once the state exists (%s)", uid(st, &m[4]));
	uidstore_free(st);
}

/* A new message that copies the UID of a live one, in its X-UIDL. */
static void test_xuidl_copy(void)
{
	struct uidstore *st;
	struct uid_msg m[3];
	char live[80];

	new_dir();
	write_state("popper-uids 1 aabbccdd 1\n10 000000000000000a - saved-uid\n");
	st = load();
	if (st == NULL)
		return;
	msg(&m[0], 10, 0x0a);
	m[0].uid = uidstore_add(st, "ignored-for-known", 17);
	cand(st, &m[1], 1, "saved-uid");
	cand(st, &m[2], 2, "x-two");
	uidstore_assign(st, m, 3);
	is_str(uid(st, &m[0]), "saved-uid", "saved UID wins over the message's X-UIDL");
	snprintf(live, sizeof(live), "%s", uid(st, &m[0]));
	ok(strcmp(uid(st, &m[1]), live) != 0, "X-UIDL equal to a live UID not used (%s)", uid(st, &m[1]));
	is_str(uid(st, &m[1]), "aabbccdd.1", "it gets the next generated UID");
	is_str(uid(st, &m[2]), "aabbccdd.2", "so does any other X-UIDL once the state exists");
	ok(save(st, m, 3) == 0 && exists("uids.started"),
	   "a state written before the record existed gets one at the next save");
	uidstore_free(st);
}

/* The state file lost or damaged after it existed: no X-UIDL honoured. */
static void test_state_lost(void)
{
	struct uidstore *st;
	struct uid_msg m[2];
	char path[700];

	new_dir();
	st = load();
	if (st == NULL)
		return;
	cand(st, &m[0], 1, "x-one");
	uidstore_assign(st, m, 1);
	ok(save(st, m, 1) == 0, "first save");
	uidstore_free(st);
	snprintf(path, sizeof(path), "%s/uids", dir);
	unlink(path);
	st = load();
	if (st == NULL)
		return;
	ok(!uidstore_first_sight(st), "uids deleted, uids.started present: not first sight");
	cand(st, &m[0], 1, "x-one");
	cand(st, &m[1], 2, "x-two");
	uidstore_assign(st, m, 2);
	ok(strcmp(uid(st, &m[0]), "x-one") != 0 && strcmp(uid(st, &m[1]), "x-two") != 0,
	   "lost state: no X-UIDL honoured (%s, %s)", uid(st, &m[0]), uid(st, &m[1]));
	uidstore_free(st);

	/* Damaged (moved aside): not first sight either, record or not. */
	new_dir();
	write_state("popper-uids 1 12345678 1\ngarbage\n");
	st = load();
	if (st == NULL)
		return;
	ok(!uidstore_first_sight(st), "damaged state: not first sight");
	cand(st, &m[0], 1, "x-one");
	uidstore_assign(st, m, 1);
	ok(strcmp(uid(st, &m[0]), "x-one") != 0, "damaged state: X-UIDL not honoured (%s)",
	   uid(st, &m[0]));
	uidstore_free(st);

	/* A record of any kind counts, even one that is not a regular file. */
	new_dir();
	snprintf(path, sizeof(path), "%s/uids.started", dir);
	if (symlink("nowhere", path) < 0)
		die("symlink");
	st = load();
	ok(st != NULL && !uidstore_first_sight(st), "a symlink named uids.started counts as a record");
	uidstore_free(st);
}

/* The record: mode 0600, its format. */
static void test_started_record(void)
{
	struct uidstore *st;
	struct uid_msg m[1];
	char path[700], buf[128], want[64];
	struct stat sb;
	ssize_t n;
	int fd;

	new_dir();
	st = load();
	if (st == NULL)
		return;
	cand(st, &m[0], 1, NULL);
	uidstore_assign(st, m, 1);
	ok(save(st, m, 1) == 0, "save");
	snprintf(path, sizeof(path), "%s/uids.started", dir);
	ok(lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && (sb.st_mode & 0777) == 0600,
	   "uids.started is a regular file, mode 0600");
	fd = open(path, O_RDONLY);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	snprintf(want, sizeof(want), "popper-uids-started %s ", uidstore_epoch(st));
	ok(strncmp(buf, want, strlen(want)) == 0 && n > 0 && buf[n - 1] == '\n',
	   "uids.started says \"popper-uids-started EPOCH TIME\" (%.*s)", (int)strcspn(buf, "\n"), buf);
	uidstore_free(st);
}

static void test_damaged(void)
{
	static const char *bad[] = {
		"",
		"popper-uids 2 12345678 1\n",
		"popper-uids 1 1234567 1\n",
		"popper-uids 1 12345678 0\n",
		"popper-uids 1 12345678 1",
		"popper-uids 1 12345678 1\n10 00000000000000zz - a\n",
		"popper-uids 1 12345678 1\n10 000000000000000a - a b\n",
		"popper-uids 1 12345678 1\n10 000000000000000a -\n",
		"popper-uids 1 12345678 1\n-1 000000000000000a - a\n",
		"popper-uids 1 12345678 1\n10 000000000000000a s a\n",
		"popper-uids 1 12345678 1\n10 000000000000000a - "
		"01234567890123456789012345678901234567890123456789012345678901234567890\n",
		"popper-uids 1 12345678 1\n10  000000000000000a - a\n",
	};
	struct uidstore *st;
	char path[700], reason[256];
	size_t i;
	bool perm;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		new_dir();
		write_state(bad[i]);
		st = load();
		ok(st != NULL && strcmp(uidstore_epoch(st), "12345678") != 0 &&
		   count_files("uids.bad.") == 1 && count_files("uids") == 1,
		   "damaged state %zu: moved aside, fresh epoch", i);
		uidstore_free(st);
	}

	new_dir();
	snprintf(path, sizeof(path), "%s/uids", dir);
	{
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd < 0 || safe_write_all(fd, "popper-uids 1 12345678 1\n10 0\0 - a\n", 35) < 0)
			die(path);
		close(fd);
	}
	st = load();
	ok(st != NULL && count_files("uids.bad.") == 1, "NUL in the state file: moved aside");
	uidstore_free(st);

	new_dir();
	snprintf(path, sizeof(path), "%s/uids", dir);
	if (symlink("/etc/passwd", path) < 0)
		die("symlink");
	st = uidstore_load(dir, &perm, reason, sizeof(reason));
	ok(st == NULL && perm, "symlinked state file refused as unsafe (%s)", reason);

	new_dir();
	write_state("popper-uids 1 12345678 1\n");
	snprintf(path, sizeof(path), "%s/uids", dir);
	chmod(path, 0622);
	st = uidstore_load(dir, &perm, reason, sizeof(reason));
	ok(st == NULL && perm, "group/other-writable state file refused (%s)", reason);
}

static void test_save(void)
{
	struct uidstore *st;
	struct uid_msg m[2];
	char path[700], reason[256];
	struct stat sb;

	new_dir();
	st = load();
	if (st == NULL)
		return;
	msg(&m[0], 1, 1);
	uidstore_assign(st, m, 1);
	snprintf(path, sizeof(path), "%s/uids.tmp", dir);
	if (mkdir(path, 0700) < 0)   /* a temporary name we cannot use */
		die("mkdir");
	ok(uidstore_save(st, dir, m, 1, reason, sizeof(reason)) < 0, "save failure reported (%s)",
	   reason);
	snprintf(path, sizeof(path), "%s/uids", dir);
	ok(stat(path, &sb) < 0, "failed save leaves no state file behind");
	snprintf(path, sizeof(path), "%s/uids.tmp", dir);
	rmdir(path);
	write_state("junk");
	snprintf(path, sizeof(path), "%s/uids.tmp", dir);
	{
		int fd = open(path, O_WRONLY | O_CREAT, 0600);   /* left by a crash */

		close(fd);
	}
	ok(save(st, m, 1) == 0, "a leftover temporary file is replaced");
	snprintf(path, sizeof(path), "%s/uids", dir);
	ok(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600, "state file is mode 0600");
	ok(count_files("uids.tmp") == 0, "no temporary file left");
	uidstore_free(st);
}

static void test_rekey(void)
{
	struct uidstore *st;
	struct uid_msg m[3];
	char epoch[16];

	new_dir();
	write_state("popper-uids 1 11111111 5\n10 000000000000000a - kept\n");
	st = load();
	if (st == NULL)
		return;
	snprintf(epoch, sizeof(epoch), "%s", uidstore_epoch(st));
	msg(&m[0], 10, 0x0a);
	msg(&m[1], 20, 0x14);
	msg(&m[2], 30, 0x1e);
	uidstore_assign(st, m, 3);
	is_str(uid(st, &m[1]), "11111111.5", "generated before rekey");
	ok(uidstore_rekey_new(st, m, 3) == 0, "rekey");
	is_str(uid(st, &m[0]), "kept", "known UID unchanged by rekey");
	ok(strncmp(uid(st, &m[1]), epoch, 8) != 0 && strncmp(uid(st, &m[2]), epoch, 8) != 0 &&
	   strcmp(uid(st, &m[1]), uid(st, &m[2])) != 0 &&
	   uidstore_valid_uid(uid(st, &m[1]), strlen(uid(st, &m[1]))),
	   "new UIDs moved to a one-session epoch (%s, %s)", uid(st, &m[1]), uid(st, &m[2]));
	uidstore_free(st);
}

static void test_scale(void)
{
	enum { N = 200000 };
	struct uid_msg *m = calloc(N, sizeof(*m));
	struct uidstore *st;
	struct timespec t0, t1;
	size_t i, kept = 0;
	bool same = true;
	char **first = calloc(N, sizeof(*first));
	double secs;

	new_dir();
	st = load();
	if (st == NULL || m == NULL || first == NULL)
		return;
	for (i = 0; i < N; i++)
		msg(&m[i], 1000 + i % 7, i % 1000);   /* many equal keys */
	uidstore_assign(st, m, N);
	for (i = 0; i < N; i++)
		first[i] = strdup(uid(st, &m[i]));
	ok(save(st, m, N) == 0, "save %d entries", N);
	uidstore_free(st);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	st = load();
	for (i = 0; i < N; i++) {
		if (i % 3 == 0)
			continue;   /* every third message was deleted */
		msg(&m[kept++], 1000 + i % 7, i % 1000);
	}
	uidstore_assign(st, m, kept);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	for (i = 0, kept = 0; i < N; i++) {
		if (i % 3 == 0)
			continue;
		if (strcmp(uid(st, &m[kept++]), first[i]) != 0)
			same = false;
	}
	ok(same, "%d messages, a third deleted: every kept one keeps its UID", N);
	ok(secs < 2.0, "load and match %d entries in %.3f s (linear)", N, secs);
	for (i = 0; i < N; i++)
		free(first[i]);
	free(first);
	free(m);
	uidstore_free(st);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char cmd[700];

	snprintf(root, sizeof(root), "%s/test_uidstore.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(root) == NULL)
		die("mkdtemp");
	test_hash();
	test_valid();
	test_basic();
	test_order();
	test_xuidl();
	test_xuidl_copy();
	test_state_lost();
	test_started_record();
	test_damaged();
	test_save();
	test_rekey();
	test_scale();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", root);
	return tap_done();
}
