/*
 * test_session: the loop (server/session.c, session_run) over a socketpair:
 * the greeting, lines handed to the dispatcher in order (pipelined), an
 * over-long line, the end by QUIT, by EOF and by the idle timeout, and an
 * implicit-TLS port without a TLS context (not a word in clear text).
 * session_run forks the pre-auth process as in production (as root it is
 * chrooted into a directory of the test's and runs as an unused uid).  The
 * client's side is written before the session runs, so nothing blocks.
 */
#include "config.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/sandbox.h"
#include "server/session.h"
#include "tests/unit/server/testsession.h"

#define GREETING "+OK popper (version " PACKAGE_VERSION ") at mail.example starting.\r\n"
#define BYE "+OK Pop server at mail.example signing off.\r\n"

static struct settings set;
static struct buf out;

/* Runs one session that reads input (then EOF if eof) and returns its exit
 * status; what it said is in out. */
static int run(const char *input, bool eof)
{
	struct session_params p;
	char tmp[4096];
	ssize_t n;
	int sv[2], status;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		die("socketpair");
	if (safe_write_all(sv[1], input, strlen(input)) < 0)
		die("write");
	if (eof)
		shutdown(sv[1], SHUT_WR);
	memset(&p, 0, sizeof(p));
	p.set = &set;
	p.fd_in = p.fd_out = sv[0];
	p.client_addr = "192.0.2.1";
	p.client_host = "client.example";
	p.local_host = "mail.example";
	status = session_run(&p);
	close(sv[0]);
	buf_reset(&out);
	buf_adds(&out, "");
	while ((n = read(sv[1], tmp, sizeof(tmp))) > 0)
		buf_add(&out, tmp, (size_t)n);
	close(sv[1]);
	return status;
}

static void test_conversation(void)
{
	char longline[700];

	is_int(run("NOOP\r\nUSER bob\r\nquit\r\nNOOP\r\n", false), 0, "status 0 after QUIT");
	is_str(out.p, GREETING "-ERR Command not valid in this state.\r\n"
	       "+OK Password required for bob.\r\n" BYE, "greeting, replies in order, nothing after QUIT");

	memset(longline, 'x', sizeof(longline) - 3);
	memcpy(longline + sizeof(longline) - 3, "\r\n", 3);
	{
		char input[800];

		snprintf(input, sizeof(input), "%sQUIT\r\n", longline);
		is_int(run(input, false), 0, "status 0");
		is_str(out.p, GREETING "-ERR Command line too long.\r\n" BYE,
		       "an over-long line: one -ERR, then the next line");
	}
	set.shy = true;
	run("QUIT\r\n", false);
	is_str(out.p, "+OK ready\r\n" BYE, "shy greeting");
	set.shy = false;
}

static void test_ends(void)
{
	is_int(run("NOOP\r\n", true), 0, "EOF: status 0");
	is_str(out.p, GREETING "-ERR Command not valid in this state.\r\n",
	       "EOF without QUIT: no goodbye");

	set.timeout = 1;
	is_int(run("", false), 0, "timeout: status 0");
	is_str(out.p, GREETING "-ERR Timeout; closing connection.\r\n", "idle timeout");
	set.timeout = 600;

	set.tls_support = TLS_SUPPORT_ALTPORT;
	set.tls = NULL;
	is_int(run("CAPA\r\n", false), 0, "implicit TLS without a context: status 0");
	is_str(out.p, "", "... and not a word in clear text");
	set.tls_support = TLS_SUPPORT_NONE;
}

int main(void)
{
	char err[256], chroot_dir[600];

	ts_setup_root("test_session");
	settings_init(&set);
	set.apop = false;   /* no timestamp: the greeting is known */
	/* The pre-auth process: an id no account has, an empty directory of
	 * our own (as root; otherwise neither is used). */
	free(set.preauth_user);
	set.preauth_user = strdup("65533");
	snprintf(chroot_dir, sizeof(chroot_dir), "%s/empty", ts_root);
	set.preauth_chroot = strdup(chroot_dir);
	if (sandbox_prepare(&set, err, sizeof(err)) != 0)
		die(err);
	test_conversation();
	test_ends();
	buf_free(&out);
	settings_free(&set);
	ts_cleanup_root();
	return tap_done();
}
