/*
 * fuzz_commands: the POP3 engine as a client drives it: a session record
 * set up as server/session.c does, lines read by lib/netio.c from the
 * fuzzer's bytes (pipelined, in pieces of chosen sizes) and dispatched by
 * server/commands.c to the real handlers, as session_loop() does, until
 * QUIT or the end of the input; then the end of session_close().  Before
 * login the user database of the fixture knows "alice" (secret "secret"),
 * so USER/PASS, APOP and AUTH (libsasl2's mechanisms over our callbacks)
 * run their real checks; after login (a real mbox maildrop opened as
 * tests/unit/server/testsession.h opens it, in server or temp-drop mode)
 * the TRANSACTION commands, and QUIT's update, run on it.
 *
 * The engine must not fork or change its privileges here: PAM is off, and
 * the link wraps monitor_start() and privdrop_to() (a login that succeeds
 * gets "cannot start the monitor" and ends, as it would in the server) and
 * fork(), which aborts: nothing below the session may fork but the monitor.
 *
 * What is checked besides the sanitizers: every LF the server sends is
 * preceded by CR (RFC 1939 §3; message text is converted on the way out).
 *
 * Input: byte 0 flags (see below), byte 1 more settings, byte 2 the piece
 * size class; the rest is what the client sends.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "auth/userdb/userdb_write.h"
#include "lib/log.h"
#include "lib/netio.h"
#include "server/commands.h"
#include "server/engine.h"
#include "server/login.h"
#include "server/maildrop/maildrop.h"
#include "server/monitor.h"
#include "server/policy.h"
#include "server/privdrop.h"
#include "tests/fuzz/fuzzutil.h"

/* Byte 0. */
#define F_TRANS 0x01        /* start logged in, with the maildrop open */
#define F_TEMPDROP 0x02     /* ... in temp-drop mode */
#define F_SHY 0x04
#define F_LOOPBACK 0x08     /* the client is 127.0.0.1 */
#define F_UPDATE_ABORT 0x10 /* update-on-abort */
#define F_AUTO_DELETE 0x20
#define F_NO_APOP 0x40
#define F_NO_XUIDL 0x80     /* trust-x-uidl off */
/* Byte 1: bits 0-1 the clear-text policy, 2-3 max-auth-failures - 1, 4
 * downcase-user, 5 trim-domain, 6-7 the SASL mechanism list, and the
 * spool (with F_TRANS). */

/* Mailboxes to log in to: some messages with the shapes RETR and TOP must
 * get right (dot lines, CR, no final newline, X-UIDL twice, an empty
 * body), and an empty one. */
static const char *const spools[] = {
	"From alice@example.org Sat Jan  3 01:05:34 1996\n"
	"X-UIDL: uid-one\nSubject: one\n\nline 1\n.dot\n..two\n\n"
	"From bob@example.org Sat Jan  3 01:05:35 1996\n"
	"X-UIDL: uid-one\nSubject: two\r\n\r\nhello\rworld\r\n.\r\n\n"
	"From carol@example.org Sat Jan  3 01:05:36 1996\n"
	"Subject: three\n\n"
	"From dave@example.org Sat Jan  3 01:05:37 1996\n"
	"Subject: four\n\nno final newline",
	"",
	"From x Mon Jan  1 00:00:00 2001\n\n",
};

static const char *const mech_lists[] = {
	NULL, "", "PLAIN LOGIN", "CRAM-MD5,DIGEST-MD5 SCRAM-SHA-1 SCRAM-SHA-256 ANONYMOUS GSSAPI",
};

static const size_t piece_sizes[] = { 1, 3, 16, 512, 8192, 40000 };

static struct settings set;
static char sessdir[600];
/* netio wants descriptors (it makes them non-blocking); the transport
 * below never asks it to wait on them.  A pipe of our own, not stdin,
 * whose flags the shell shares. */
static int pipe_fds[2] = { -1, -1 };

/* ---- the session's transport ------------------------------------------------ */

struct wire {
	const uint8_t *data;
	size_t len, pos;
	size_t piece;
	unsigned long long out;
	bool last_cr;           /* the last byte written was a CR */
};

static ssize_t wire_read(void *ctx, void *buf, size_t len)
{
	struct wire *w = ctx;
	size_t n = w->len - w->pos;

	if (n > len)
		n = len;
	if (n > w->piece)
		n = w->piece;
	memcpy(buf, w->data + w->pos, n);
	w->pos += n;
	return (ssize_t)n;
}

static ssize_t wire_write(void *ctx, const void *buf, size_t len)
{
	struct wire *w = ctx;
	const unsigned char *p = buf;

	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\n' && !w->last_cr) {
			fprintf(stderr, "the server sent a bare LF, output byte %llu\n", w->out + i);
			abort();
		}
		w->last_cr = p[i] == '\r';
	}
	w->out += len;
	return (ssize_t)len;
}

/* ---- what the engine must not do here --------------------------------------- */

int __wrap_monitor_start(const char *lock_path, unsigned lock_wait, const char *regdir,
			 struct maildrop_locker *locker);
int __wrap_privdrop_to(const char *account, uid_t uid, gid_t gid, char *reason,
		       size_t reasonsize);
pid_t __wrap_fork(void);

int __wrap_monitor_start(const char *lock_path, unsigned lock_wait, const char *regdir,
			 struct maildrop_locker *locker)
{
	(void)lock_path;
	(void)lock_wait;
	(void)regdir;
	(void)locker;
	return -1;
}

int __wrap_privdrop_to(const char *account, uid_t uid, gid_t gid, char *reason,
		       size_t reasonsize)
{
	(void)account;
	(void)uid;
	(void)gid;
	snprintf(reason, reasonsize, "no privilege change in the fuzz harness");
	return -1;
}

pid_t __wrap_fork(void)
{
	fprintf(stderr, "the engine forked in the fuzz harness\n");
	abort();
}

/* ---- set-up ------------------------------------------------------------------ */

static void set_str(char **field, const char *value)
{
	free(*field);
	*field = value != NULL ? strdup(value) : NULL;
	if (value != NULL && *field == NULL)
		fz_die("strdup");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *root = fz_tmpdir("fuzz_commands");
	char err[512];
	struct userdb *db;

	(void)argc;
	(void)argv;
	fz_log_quiet("fuzz_commands");
	if (pipe(pipe_fds) < 0)
		fz_die("pipe");
	snprintf(sessdir, sizeof(sessdir), "%s/s", root);
	fz_mkdir(sessdir);

	/* The user database: a virtual user with a secret (APOP, the SASL
	 * mechanisms that need one, and USER/PASS), and a system entry. */
	db = userdb_write_open(fz_path(root, "pop.auth"), USERDB_CREATE, NULL, err, sizeof(err));
	if (db == NULL || userdb_set_secret(db, "alice", "secret", 6) != USERDB_OK)
		fz_die(err);
	userdb_close(db);

	settings_init(&set);
	set.auth_failure_delay = 0;
	set.timeout = 0;
	set_str(&set.pam_service, "");
	set_str(&set.auth_db, fz_path(root, "pop.auth"));
	set_str(&set.auth_db_owner, NULL);
	set_str(&set.mail_owner, "nobody");
	set_str(&set.spool_dir, sessdir);
	set_str(&set.virtual_spool_dir, sessdir);
	set_str(&set.state_dir, fz_path(sessdir, "state"));
	set_str(&set.nonauth_file, NULL);
	set_str(&set.auth_file, NULL);
	return 0;
}

/* The settings this input asks for. */
static void settings_for(uint8_t f, uint8_t g)
{
	static const enum cleartext_policy pol[] = {
		CLEARTEXT_DEFAULT, CLEARTEXT_NEVER, CLEARTEXT_ALWAYS, CLEARTEXT_TLS
	};

	set.shy = (f & F_SHY) != 0;
	set.update_on_abort = (f & F_UPDATE_ABORT) != 0;
	set.auto_delete = (f & F_AUTO_DELETE) != 0;
	set.apop = (f & F_NO_APOP) == 0;
	set.trust_x_uidl = (f & F_NO_XUIDL) == 0;
	set.cleartext = pol[g & 3];
	set.max_auth_failures = 1 + ((g >> 2) & 3);
	set.downcase_user = (g & 0x10) != 0;
	set.trim_domain = (g & 0x20) != 0;
	set_str(&set.sasl_mechanisms, mech_lists[g >> 6]);
}

/* The session record as session_init() makes it. */
static void session_for(struct session *s, struct session_params *p, struct netio *io)
{
	memset(s, 0, sizeof(*s));
	s->p = p;
	s->set = &set;
	s->state = STATE_AUTH1;
	clock_gettime(CLOCK_MONOTONIC, &s->t_start);
	s->authcfg.pam_service = set.pam_service;
	s->authcfg.userdb_path = set.auth_db;
	s->authcfg.userdb_owner = set.auth_db_owner;
	s->authcfg.mail_owner = set.mail_owner;
	s->authcfg.deny_file = set.nonauth_file;
	s->authcfg.allow_file = set.auth_file;
	s->authcfg.min_uid = set.min_uid;
	s->authcfg.check_shell = set.check_shell;
	s->authcfg.client_addr = p->client_addr;
	s->authcfg.ignore_password_expiry = !set.check_password_expired;
	s->cleartext_ok = policy_cleartext_allowed(set.cleartext, p->client_addr);
	s->io = io;
	s->timeout_ms = -1;
	snprintf(s->timestamp, sizeof(s->timestamp), "<1896.697170952@%s>", p->local_host);
}

/* Logs in without authenticating, as testsession.h does: the maildrop
 * opened in this process (the dot-lock taken here), LAST's start, the
 * transition.  False when the maildrop could not be opened. */
static bool open_maildrop(struct session *s, uint8_t f, const char *spool)
{
	struct maildrop_settings ms;
	char reason[256] = "";
	const char *path = fz_path(sessdir, "alice");

	fz_write(path, spool, strlen(spool), 0600);
	memset(&ms, 0, sizeof(ms));
	ms.path = path;
	ms.lock_path = fz_path(sessdir, "alice.lock");
	ms.state_dir = fz_path(sessdir, "state");
	ms.trust_x_uidl = set.trust_x_uidl;
	ms.require_owner = true;
	ms.owner_uid = (unsigned long)geteuid();
	ms.temp_drop_mode = (f & F_TEMPDROP) != 0;
	ms.temp_dir = ms.state_dir;
	ms.temp_name = ".alice.pop";
	if (maildrop_open(&ms, &s->md, reason, sizeof(reason)) != MAILDROP_OK)
		return false;
	snprintf(s->user.name, sizeof(s->user.name), "alice");
	s->method = "PASS";
	for (unsigned i = 0; i < maildrop_count(s->md); i++)
		if (maildrop_msg_seen(s->md, i))
			s->last_at_start = i + 1;
	s->last = s->last_at_start;
	engine_logged_in(s);
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd0 = fz_fd_lowest();
	static struct session sess;
	struct fz_in in = { data, size };
	struct session_params p;
	struct session *s = &sess;
	struct netio_transport tr;
	struct wire w;
	struct netio *io;
	bool may_update = false;
	uint8_t f = fz_byte(&in), g = fz_byte(&in);

	memset(&w, 0, sizeof(w));
	w.piece = piece_sizes[fz_byte(&in) % (sizeof(piece_sizes) / sizeof(piece_sizes[0]))];
	w.data = in.p;
	w.len = in.len;
	fz_clear(sessdir);
	fz_mkdir(fz_path(sessdir, "state"));
	settings_for(f, g);

	memset(&p, 0, sizeof(p));
	p.set = &set;
	p.client_addr = (f & F_LOOPBACK) ? "127.0.0.1" : "192.0.2.1";
	p.client_host = "client.example";
	p.local_host = "mail.example";
	p.fd_in = pipe_fds[0];
	p.fd_out = pipe_fds[1];
	io = netio_create(p.fd_in, p.fd_out);
	if (io == NULL)
		fz_die("netio_create");
	tr.read = wire_read;
	tr.write = wire_write;
	tr.ctx = &w;
	tr.wait_for = NULL;
	netio_set_transport(io, &tr);
	session_for(s, &p, io);

	if ((f & F_TRANS) && !open_maildrop(s, f, spools[(g >> 6) % 3]))
		engine_end(s);
	else
		reply_ok(s, "ready  %s", s->timestamp);

	/* session_loop() */
	while (s->state != STATE_END) {
		char *line;
		size_t len;
		enum netio_status ns = netio_read_line(s->io, &line, &len, s->timeout_ms);

		if (ns == NETIO_LINE) {
			cmd_dispatch(s, line, len);
		} else if (ns == NETIO_TOO_LONG) {
			reply_err(s, RESP_NONE, "Command line too long.");
		} else {
			may_update = true;
			break;
		}
	}
	/* session_close() */
	if (s->md != NULL)
		login_abort(s, may_update);
	(void)netio_flush(s->io);
	netio_destroy(s->io);
	login_release();
	fz_fd_check(fd0);
	return 0;
}
