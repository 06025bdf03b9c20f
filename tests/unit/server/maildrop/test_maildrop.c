/*
 * test_maildrop: the store-neutral interface (server/maildrop/maildrop.c):
 * the choice of store and mode in maildrop_open() -- server mode without a
 * temp-dir, server mode with one (a leftover temporary drop is written
 * back first), temp-drop mode -- the dispatch of every call through the
 * chosen table, and the guards that keep an out-of-range message number
 * from ever reaching a store: it reads as a deleted message of size 0
 * with an empty UID, cannot be changed, and cannot be sent.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/netio.h"
#include "lib/safeopen.h"
#include "server/maildrop/maildrop.h"
#include "tests/unit/tap.h"

static char root[256], spool[300], lockp[300], state[300], tdir[300], tpath[400];
static const char *tname = ".u.pop";

static const char mail[] =
	"From a@example.org Mon Jan  1 10:00:00 2024\n"
	"Subject: one\n"
	"\n"
	"first\n"
	"\n"
	"From b@example.org Mon Jan  1 11:00:00 2024\n"
	"Subject: two\n"
	"\n"
	"second body\n";

/* RETR sizes: content with CRLF line ends (the framing's empty line
 * before the second From_ line excluded). */
#define SIZE0 (sizeof("Subject: one\r\n\r\nfirst\r\n") - 1)
#define SIZE1 (sizeof("Subject: two\r\n\r\nsecond body\r\n") - 1)

enum mode { SERVER_PLAIN, SERVER_TEMPDIR, TEMPDROP };
static const char *const mode_name[] = { "server mode", "server mode with a temp-dir",
					 "temp-drop mode" };

static void write_file(const char *path, const char *d, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || safe_write_all(fd, d, n) < 0)
		die(path);
	close(fd);
}

static long long fsize(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static void settings(struct maildrop_settings *s, enum mode mode)
{
	memset(s, 0, sizeof(*s));
	s->path = spool;
	s->lock_path = lockp;
	s->state_dir = state;
	s->lock_wait = 1;
	s->require_owner = true;
	s->owner_uid = getuid();
	s->temp_drop_mode = mode == TEMPDROP;
	if (mode != SERVER_PLAIN) {
		s->temp_dir = tdir;
		s->temp_name = tname;
	}
}

static struct maildrop *open_mode(enum mode mode)
{
	struct maildrop_settings s;
	struct maildrop *md = NULL;
	char reason[256];

	settings(&s, mode);
	if (maildrop_open(&s, &md, reason, sizeof(reason)) != MAILDROP_OK) {
		printf("# %s: open failed: %s\n", mode_name[mode], reason);
		return NULL;
	}
	return md;
}

/* Every call with numbers count, count + 1 and UINT_MAX. */
static void check_guards(const char *name, struct maildrop *md)
{
	const unsigned bad[] = { maildrop_count(md), maildrop_count(md) + 1, UINT_MAX };
	char reason[128];
	bool reads = true, sends = true;
	size_t k;

	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		unsigned i = bad[k];
		char want[64];

		maildrop_msg_delete(md, i);
		maildrop_msg_mark_seen(md, i);
		if (maildrop_msg_size(md, i) != 0 || strcmp(maildrop_msg_uid(md, i), "") != 0 ||
		    !maildrop_msg_deleted(md, i) || maildrop_msg_seen(md, i))
			reads = false;
		reason[0] = '\0';
		snprintf(want, sizeof(want), "message index %u out of range", i);
		/* No netio: the guard must answer before anything is used. */
		if (maildrop_send(md, i, UINT64_MAX, NULL, "+OK", reason, sizeof(reason)) != -1 ||
		    strcmp(reason, want) != 0)
			sends = false;
	}
	ok(reads, "%s: out of range reads as deleted, size 0, UID \"\", not seen", name);
	ok(sends, "%s: out of range cannot be sent: -1 and the reason", name);
	ok(maildrop_count(md) == 2 && !maildrop_msg_deleted(md, 0) && !maildrop_msg_deleted(md, 1),
	   "%s: deleting out of range changed nothing", name);
}

/* RETR of message 1 through a socketpair (small enough for its buffer). */
static void check_send(const char *name, struct maildrop *md)
{
	static const char want[] = "+OK x\r\nSubject: two\r\n\r\nsecond body\r\n.\r\n";
	char reason[128], got[256];
	struct netio *io;
	int sv[2], r;
	ssize_t n;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		die("socketpair");
	io = netio_create(sv[0], sv[0]);
	if (io == NULL)
		die("netio_create");
	r = maildrop_send(md, 1, UINT64_MAX, io, "+OK x", reason, sizeof(reason));
	if (netio_flush(io) < 0)
		r = -3;
	netio_destroy(io);
	close(sv[0]);
	n = read(sv[1], got, sizeof(got) - 1);
	close(sv[1]);
	ok(r == 0 && n == (ssize_t)(sizeof(want) - 1) && memcmp(got, want, sizeof(want) - 1) == 0,
	   "%s: send goes through to the store", name);
}

static void test_mode(enum mode mode)
{
	const char *name = mode_name[mode];
	struct maildrop_stats stats;
	struct maildrop *md;
	char reason[256];

	write_file(spool, mail, sizeof(mail) - 1);
	md = open_mode(mode);
	ok(md != NULL, "%s: opens", name);
	if (md == NULL)
		return;
	ok(maildrop_count(md) == 2, "%s: two messages", name);
	ok(maildrop_msg_size(md, 0) == SIZE0 && maildrop_msg_size(md, 1) == SIZE1,
	   "%s: sizes from the store", name);
	ok(strlen(maildrop_msg_uid(md, 0)) > 0 &&
	   strcmp(maildrop_msg_uid(md, 0), maildrop_msg_uid(md, 1)) != 0,
	   "%s: two different UIDs", name);
	check_guards(name, md);
	check_send(name, md);
	ok(!maildrop_msg_seen(md, 1), "%s: not seen at first", name);
	maildrop_msg_mark_seen(md, 1);
	maildrop_msg_delete(md, 0);
	ok(maildrop_msg_seen(md, 1) && maildrop_msg_deleted(md, 0) && !maildrop_msg_deleted(md, 1),
	   "%s: mark seen and delete reach the store", name);
	maildrop_reset(md);
	ok(!maildrop_msg_seen(md, 1) && !maildrop_msg_deleted(md, 0), "%s: reset reaches the store",
	   name);
	maildrop_msg_delete(md, 0);
	memset(&stats, 0xff, sizeof(stats));
	ok(maildrop_commit(md, &stats, reason, sizeof(reason)) == MAILDROP_OK &&
	   stats.msgs_deleted == 1 && stats.msgs_left == 1 && stats.bytes_deleted == SIZE0 &&
	   stats.bytes_left == SIZE1 && !stats.left_in_temp_drop && !stats.update_pending,
	   "%s: commit through the table, its stats", name);
	ok(fsize(tpath) <= 0, "%s: no mail left in a temporary drop", name);
	md = open_mode(mode);
	ok(md != NULL && maildrop_count(md) == 1 && maildrop_msg_size(md, 0) == SIZE1,
	   "%s: the deletion is on the disk", name);
	maildrop_close(md);
	md = open_mode(mode);
	ok(md != NULL && maildrop_count(md) == 1, "%s: close deletes nothing", name);
	maildrop_close(md);
}

/* The one difference between the two server-mode opens: only with a
 * temp-dir is mail in a leftover temporary drop found and written back. */
static void test_server_choice(void)
{
	struct maildrop *md;

	write_file(spool, mail + 0, 0);
	write_file(tpath, mail, sizeof(mail) - 1);
	md = open_mode(SERVER_PLAIN);
	ok(md != NULL && maildrop_count(md) == 0 && fsize(tpath) == (long long)sizeof(mail) - 1,
	   "server mode without a temp-dir does not look at the temporary drop");
	maildrop_close(md);
	md = open_mode(SERVER_TEMPDIR);
	ok(md != NULL && maildrop_count(md) == 2 && fsize(tpath) < 0,
	   "server mode with a temp-dir writes a leftover temporary drop back first");
	maildrop_close(md);
	md = open_mode(SERVER_PLAIN);
	ok(md != NULL && maildrop_count(md) == 2, "and the mail stays in the spool");
	maildrop_close(md);
	maildrop_close(NULL);
	ok(1, "close of NULL is harmless");
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char cmd[400];

	signal(SIGPIPE, SIG_IGN);
	umask(077);
	snprintf(root, sizeof(root), "%s/test_maildrop.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(root) == NULL)
		die("mkdtemp");
	snprintf(spool, sizeof(spool), "%s/spool", root);
	snprintf(lockp, sizeof(lockp), "%s/spool.lock", root);
	snprintf(state, sizeof(state), "%s/state", root);
	snprintf(tdir, sizeof(tdir), "%s/tmp", root);
	snprintf(tpath, sizeof(tpath), "%s/%s", tdir, tname);
	if (mkdir(state, 0700) < 0 || mkdir(tdir, 0700) < 0)
		die("mkdir");
	test_mode(SERVER_PLAIN);
	test_mode(SERVER_TEMPDIR);
	test_mode(TEMPDROP);
	test_server_choice();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		die("rm");
	return tap_done();
}
