/*
 * testsession.h: a real struct session for the engine's unit tests
 * (test_cmd_*, test_login, test_engine): compiled-in default settings, a
 * netio over one end of a socketpair (the test reads the replies from the
 * other end), and on request a real mbox maildrop in a temporary directory,
 * opened without the monitor (NULL locker functions: the dot-lock is taken
 * in this process; temp_dir NULL: no temporary drop).  Header-only, like
 * tap.h; setup trouble stops the test with status 2.
 */
#ifndef POPPER_TESTSESSION_H
#define POPPER_TESTSESSION_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/safeopen.h"
#include "server/authclient.h"
#include "server/commands.h"
#include "server/engine.h"
#include "tests/unit/tap.h"
#include "tests/unit/testbuf.h"

/* Two messages with X-UIDL headers (trust-x-uidl), so UIDL is known. */
#define TS_MSG1 "From alice@example.org Sat Jan  3 01:05:34 1996\n" \
	"X-UIDL: uid-one\nSubject: one\n\nline 1\nline 2\n.dot\n\n"
#define TS_MSG2 "From bob@example.org Sat Jan  3 01:05:35 1996\n" \
	"X-UIDL: uid-two\nSubject: two\n\nhello\n\n"
/* What RETR sends for them (CRLF, without the blank line that ends each
 * message in the file, no terminator): sizes for LIST. */
#define TS_SIZE1 "55"
#define TS_SIZE2 "40"

struct tsess {
	struct settings set;
	struct session_params p;
	struct session s;
	int peer;                  /* the client's end of the socketpair */
	char dir[560];             /* this session's temporary directory */
	char spool[600], lock[600], state[600];
	struct buf out;            /* the last replies read */
};

static char ts_root[512];

static void ts_setup_root(const char *name) __attribute__((unused));
static void ts_setup_root(const char *name)
{
	const char *tmp = getenv("TMPDIR");

	signal(SIGPIPE, SIG_IGN);
	snprintf(ts_root, sizeof(ts_root), "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
	if (mkdtemp(ts_root) == NULL)
		die("mkdtemp");
}

static int ts_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* Removes the temporary root; the last call of a test. */
static void ts_cleanup_root(void) __attribute__((unused));
static void ts_cleanup_root(void)
{
	if (ts_root[0] != '\0')
		(void)nftw(ts_root, ts_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* A session in AUTHORIZATION with the compiled defaults, no delay after a
 * failed login, and its own directory. */
static void ts_init(struct tsess *t) __attribute__((unused));
static void ts_init(struct tsess *t)
{
	static unsigned n;
	int sv[2];

	memset(t, 0, sizeof(*t));
	settings_init(&t->set);
	t->set.auth_failure_delay = 0;
	t->p.set = &t->set;
	t->p.client_addr = "192.0.2.1";
	t->p.client_host = "client.example";
	t->p.local_host = "mail.example";
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		die("socketpair");
	t->p.fd_in = t->p.fd_out = sv[0];
	t->peer = sv[1];
	if (fcntl(t->peer, F_SETFL, O_NONBLOCK) < 0)
		die("fcntl");
	t->s.p = &t->p;
	t->s.set = &t->set;
	t->s.state = STATE_AUTH1;
	t->s.timeout_ms = -1;
	t->s.cleartext_ok = true;
	t->s.io = netio_create(sv[0], sv[0]);
	if (t->s.io == NULL)
		die("netio_create");
	snprintf(t->dir, sizeof(t->dir), "%s/s%u", ts_root, ++n);
	snprintf(t->spool, sizeof(t->spool), "%s/spool", t->dir);
	snprintf(t->lock, sizeof(t->lock), "%s/spool.lock", t->dir);
	snprintf(t->state, sizeof(t->state), "%s/state", t->dir);
	if (mkdir(t->dir, 0700) < 0 || mkdir(t->state, 0700) < 0)
		die("mkdir");
}

/* Failed logins the session's (in-process) auth monitor has counted. */
static unsigned ts_failures(struct tsess *t) __attribute__((unused));
static unsigned ts_failures(struct tsess *t)
{
	return ac_inprocess_monitor(&t->s)->failures;
}

static void ts_write_spool(struct tsess *t, const char *content) __attribute__((unused));
static void ts_write_spool(struct tsess *t, const char *content)
{
	int fd = open(t->spool, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || safe_write_all(fd, content, strlen(content)) < 0)
		die(t->spool);
	close(fd);
}

/* The spool file as it is now, into b. */
static void ts_read_spool(struct tsess *t, struct buf *b) __attribute__((unused));
static void ts_read_spool(struct tsess *t, struct buf *b)
{
	char tmp[4096];
	ssize_t n;
	int fd = open(t->spool, O_RDONLY);

	buf_reset(b);
	if (fd < 0)
		return;
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		buf_add(b, tmp, (size_t)n);
	close(fd);
}

/* Opens the spool (content written first) as the maildrop and puts the
 * session in TRANSACTION as the login module would, without the login. */
static void ts_open_mbox(struct tsess *t, const char *content) __attribute__((unused));
static void ts_open_mbox(struct tsess *t, const char *content)
{
	struct maildrop_settings ms;
	char reason[256] = "";

	ts_write_spool(t, content);
	memset(&ms, 0, sizeof(ms));
	ms.path = t->spool;
	ms.lock_path = t->lock;
	ms.state_dir = t->state;
	ms.trust_x_uidl = true;
	ms.require_owner = true;
	ms.owner_uid = (unsigned long)getuid();
	if (maildrop_open(&ms, &t->s.md, reason, sizeof(reason)) != MAILDROP_OK) {
		fprintf(stderr, "maildrop_open: %s\n", reason);
		exit(2);
	}
	snprintf(t->s.user.name, sizeof(t->s.user.name), "alice");
	t->s.method = "PASS";
	engine_logged_in(&t->s);
}

/* Everything the session has sent since the last call, into t->out. */
static const char *ts_output(struct tsess *t) __attribute__((unused));
static const char *ts_output(struct tsess *t)
{
	char tmp[4096];
	ssize_t n;

	(void)netio_flush(t->s.io);
	buf_reset(&t->out);
	buf_adds(&t->out, "");
	while ((n = read(t->peer, tmp, sizeof(tmp))) > 0)
		buf_add(&t->out, tmp, (size_t)n);
	return t->out.p;
}

/* Runs one client line through the dispatcher; returns the replies. */
static const char *ts_cmd(struct tsess *t, const char *line) __attribute__((unused));
static const char *ts_cmd(struct tsess *t, const char *line)
{
	cmd_dispatch(&t->s, line, strlen(line));
	return ts_output(t);
}

/* Expects line to be answered with want, byte for byte. */
static void ts_expect(struct tsess *t, const char *line, const char *want) __attribute__((unused));
static void ts_expect(struct tsess *t, const char *line, const char *want)
{
	is_str(ts_cmd(t, line), want, "%s", line);
}

/* Closes what is left (an open maildrop without update) and frees. */
static void ts_done(struct tsess *t) __attribute__((unused));
static void ts_done(struct tsess *t)
{
	if (t->s.md != NULL)
		maildrop_close(t->s.md);
	t->s.md = NULL;
	netio_destroy(t->s.io);
	close(t->p.fd_in);
	close(t->peer);
	buf_free(&t->out);
	settings_free(&t->set);
}

#endif
