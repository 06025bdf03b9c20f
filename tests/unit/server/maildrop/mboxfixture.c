/*
 * mboxfixture: the scaffolding shared by the unit tests of the mbox store
 * (mboxfixture.h says what and why).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/netio.h"
#include "lib/safeopen.h"
#include "server/maildrop/maildrop.h"
#include "server/maildrop/uidstore.h"
#include "tests/unit/server/maildrop/mboxfixture.h"
#include "tests/unit/tap.h"
#include "tests/unit/testbuf.h"

/* ---- the case directory ----------------------------------------------------- */

static char root[512];
char casedir[600], spool[700], lockp[700], state[700];
static unsigned casenum;

void fixture_start(const char *name)
{
	const char *tmp = getenv("TMPDIR");

	signal(SIGPIPE, SIG_IGN);
	snprintf(root, sizeof(root), "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
	if (mkdtemp(root) == NULL)
		die("mkdtemp");
}

void fixture_end(void)
{
	char cmd[700];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", root);
}

void new_case(void)
{
	snprintf(casedir, sizeof(casedir), "%s/c%u", root, ++casenum);
	snprintf(spool, sizeof(spool), "%s/spool", casedir);
	snprintf(lockp, sizeof(lockp), "%s/spool.lock", casedir);
	snprintf(state, sizeof(state), "%s/state", casedir);
	if (mkdir(casedir, 0700) < 0 || mkdir(state, 0700) < 0)
		die("mkdir");
}

void write_file(const char *path, const void *d, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0 || safe_write_all(fd, d, n) < 0)
		die(path);
	close(fd);
}

void append_file(const char *path, const void *d, size_t n)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	if (fd < 0 || safe_write_all(fd, d, n) < 0)
		die(path);
	close(fd);
}


/* ---- opening and committing ------------------------------------------------- */

bool trust_x_uidl = true;
unsigned lock_wait = 1;

void settings(struct maildrop_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->path = spool;
	s->lock_path = lockp;
	s->state_dir = state;
	s->lock_wait = lock_wait;
	s->trust_x_uidl = trust_x_uidl;
	s->require_owner = true;
	s->owner_uid = getuid();
}

char last_reason[512];

enum maildrop_status try_open(struct maildrop **md)
{
	struct maildrop_settings s;

	settings(&s);
	last_reason[0] = '\0';
	return maildrop_open(&s, md, last_reason, sizeof(last_reason));
}

struct maildrop *open_ok(void)
{
	struct maildrop *md = NULL;
	enum maildrop_status st = try_open(&md);

	if (st != MAILDROP_OK) {
		printf("# open failed (%d): %s\n", (int)st, last_reason);
		return NULL;
	}
	return md;
}

enum maildrop_status commit(struct maildrop *md)
{
	struct maildrop_stats stats;
	char reason[512] = "";
	enum maildrop_status st = maildrop_commit(md, &stats, reason, sizeof(reason));

	if (st != MAILDROP_OK)
		printf("# commit: %s\n", reason);
	return st;
}

/* ---- test mailboxes --------------------------------------------------------- */

struct tmsg *tbox_add(struct tbox *tb, const char *from, const void *content,
		      size_t clen, const char *framing)
{
	struct tmsg *t;

	if (tb->n == tb->cap) {
		tb->cap = tb->cap ? tb->cap * 2 : 16;
		tb->m = realloc(tb->m, tb->cap * sizeof(*tb->m));
		if (tb->m == NULL)
			die("realloc");
	}
	t = &tb->m[tb->n++];
	memset(t, 0, sizeof(*t));
	buf_adds(&t->from, from);
	buf_add(&t->content, content, clen);
	buf_adds(&t->framing, framing);
	return t;
}

void tbox_adds(struct tbox *tb, const char *from, const char *content, const char *framing)
{
	tbox_add(tb, from, content, strlen(content), framing);
}

void tbox_free(struct tbox *tb)
{
	size_t i;

	for (i = 0; i < tb->n; i++) {
		buf_free(&tb->m[i].from);
		buf_free(&tb->m[i].content);
		buf_free(&tb->m[i].framing);
	}
	free(tb->m);
	memset(tb, 0, sizeof(*tb));
}

void tbox_render(const struct tbox *tb, const bool *keep, struct buf *out)
{
	size_t i;

	buf_reset(out);
	for (i = 0; i < tb->n; i++) {
		if (keep != NULL && !keep[i])
			continue;
		buf_add(out, tb->m[i].from.p, tb->m[i].from.len);
		buf_add(out, tb->m[i].content.p, tb->m[i].content.len);
		buf_add(out, tb->m[i].framing.p, tb->m[i].framing.len);
	}
}

void tbox_write(const struct tbox *tb)
{
	struct buf b = { 0 };

	tbox_render(tb, NULL, &b);
	write_file(spool, b.p, b.len, 0600);
	buf_free(&b);
}

/* ---- capturing what maildrop_send writes ------------------------------------ */

/* Through a real netio on a socketpair, as a client would see it; a child
 * reads the other end into a file, so a message larger than the socket
 * buffer cannot block the sender.  count_only keeps the 2 GB message off
 * the disk. */
int capture_send(struct maildrop *md, unsigned i, uint64_t lines, const char *ok,
		 struct buf *out, bool count_only, uint64_t *count_r)
{
	char path[800], reason[256];
	int sv[2], ret, status;
	struct netio *io;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/capture", casedir);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		die("socketpair");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		static char tmp[1 << 16];
		uint64_t total = 0;
		ssize_t n;
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		close(sv[0]);
		while ((n = read(sv[1], tmp, sizeof(tmp))) > 0) {
			total += (uint64_t)n;
			if (!count_only && safe_write_all(fd, tmp, (size_t)n) < 0)
				_exit(3);
		}
		if (count_only) {
			char line[64];
			int l = snprintf(line, sizeof(line), "%" PRIu64, total);

			safe_write_all(fd, line, (size_t)l);
		}
		close(fd);
		_exit(0);
	}
	close(sv[1]);
	io = netio_create(sv[0], sv[0]);
	if (io == NULL)
		die("netio_create");
	ret = maildrop_send(md, i, lines, io, ok, reason, sizeof(reason));
	if (netio_flush(io) < 0 && ret == 0)
		ret = -3;
	netio_destroy(io);
	close(sv[0]);
	waitpid(pid, &status, 0);
	read_file(path, out);
	if (count_only && count_r != NULL)
		*count_r = strtoull(out->p ? out->p : "0", NULL, 10);
	return ret;
}

/* ---- UIDs ------------------------------------------------------------------- */

bool uids_unique_valid(struct maildrop *md)
{
	unsigned i, j, n = maildrop_count(md);

	for (i = 0; i < n; i++) {
		const char *u = maildrop_msg_uid(md, i);

		if (!uidstore_valid_uid(u, strlen(u)))
			return false;
		for (j = 0; j < i; j++)
			if (strcmp(u, maildrop_msg_uid(md, j)) == 0)
				return false;
	}
	return true;
}
