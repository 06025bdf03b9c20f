/*
 * cmd_stls: TLS for a session: the STLS command (RFC 2595) and the
 * handshake before the greeting on an implicit-TLS port (RFC 8314,
 * tls-support alternate-port).  lib/tls.c does the TLS work; this file
 * decides when, and what the session forgets.
 *
 * Runs as root: STLS is only valid before login, and the implicit
 * handshake comes before the greeting.
 *
 * Where Qpopper went wrong, and what we do instead:
 *   - Command injection (Postfix CVE-2011-0411, Courier CVE-2021-38084):
 *     bytes sent after "STLS" in clear text were executed after the
 *     handshake as if the encrypted client had sent them.  Here, any byte
 *     already waiting when STLS is read (in netio's buffer or in the
 *     socket) ends the connection; nothing typed in clear text is ever
 *     read after the handshake.
 *   - A failed handshake let the session carry on in clear text.  Here it
 *     ends the connection, silently: there is no safe channel left to
 *     explain anything on.
 *   - STLS stayed in CAPA after TLS, and a second STLS was possible.  Here
 *     CAPA lists STLS only before TLS, and STLS then answers -ERR.
 *   - The handshake could take as long as the idle timeout; here at most
 *     TLS_HANDSHAKE_TIMEOUT_MS.
 * After the handshake the clear-text policy is looked at again
 * (clear-text-password tls: USER/PASS now allowed, and CAPA says USER).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>

#include "lib/log.h"
#include "lib/tls.h"
#include "server/commands.h"

/* A handshake is a few round trips; a client that needs longer than this
 * is broken or is holding a session slot on purpose.  The idle timeout
 * still applies when it is shorter. */
#define TLS_HANDSHAKE_TIMEOUT_MS (60 * 1000)

static int handshake_timeout_ms(const struct session *s)
{
	unsigned t = s->set->timeout;

	if (t == 0 || t >= TLS_HANDSHAKE_TIMEOUT_MS / 1000)
		return TLS_HANDSHAKE_TIMEOUT_MS;
	return (int)t * 1000;
}

/* The transport of a connection whose TLS layer failed: nothing more may be
 * read as clear text or written as clear text. */
static ssize_t dead_read(void *ctx, void *buf, size_t len)
{
	(void)ctx;
	(void)buf;
	(void)len;
	errno = EPIPE;
	return -1;
}

static ssize_t dead_write(void *ctx, const void *buf, size_t len)
{
	(void)ctx;
	(void)buf;
	(void)len;
	errno = EPIPE;
	return -1;
}

static const struct netio_transport dead_transport = { dead_read, dead_write, NULL, NULL };

/* True when the client has sent anything beyond the STLS line: bytes in
 * netio's buffer, or bytes already readable on the socket.  A client that
 * follows RFC 2595 waits for our +OK before it sends its ClientHello. */
static bool cleartext_waiting(const struct session *s)
{
	struct pollfd pfd;
	int n = 0;

	if (netio_input_pending(s->io))
		return true;
	pfd.fd = s->p->fd_in;
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (poll(&pfd, 1, 0) <= 0 || (pfd.revents & POLLIN) == 0)
		return false;
	/* Readable may only mean EOF; FIONREAD tells data from that. */
	return ioctl(s->p->fd_in, FIONREAD, &n) == 0 && n > 0;
}

/* The handshake on the session's descriptors, then TLS as netio's
 * transport.  mode is "stls" or "implicit", for the log.  Returns 0, or -1
 * (logged) with the connection unusable. */
static int start_tls(struct session *s, const char *mode)
{
	struct netio_transport t;
	struct tls_conn *c;
	enum tls_status st;
	char err[256], qerr[300], desc[200];

	c = tls_conn_create(s->set->tls, s->p->fd_in, s->p->fd_out, err, sizeof(err));
	if (c == NULL) {
		log_error("TLS not started: client=%s mode=%s: %s", s->p->client_addr, mode, err);
		netio_set_transport(s->io, &dead_transport);
		return -1;
	}
	st = tls_conn_handshake(c, handshake_timeout_ms(s), err, sizeof(err));
	if (st != TLS_OK) {
		log_notice("TLS handshake failed: client=%s mode=%s reason=%s detail=\"%s\"",
			   s->p->client_addr, mode, st == TLS_TIMEOUT ? "timeout" : "error",
			   log_quote(err, strlen(err), qerr, sizeof(qerr)));
		tls_conn_destroy(c);
		netio_set_transport(s->io, &dead_transport);
		return -1;
	}
	tls_conn_transport(c, &t);
	netio_set_transport(s->io, &t);
	s->tls = c;
	/* clear-text-password tls: a password is now protected in transit. */
	if (s->set->cleartext == CLEARTEXT_TLS)
		s->cleartext_ok = true;
	log_notice("TLS handshake: client=%s mode=%s %s", s->p->client_addr, mode,
		   tls_conn_describe(c, desc, sizeof(desc)));
	return 0;
}

void cmd_stls(struct session *s, const struct cmd_call *c)
{
	/* The texts of RFC 2595's examples. */
	if (s->tls != NULL) {
		reply_err(s, RESP_NONE, "Command not permitted when TLS active.");
		return;
	}
	if (s->set->tls_support != TLS_SUPPORT_STLS || s->set->tls == NULL) {
		reply_err(s, RESP_NONE, "STLS is not supported by this server.");
		return;
	}
	if (c->argc > 0) {
		reply_err(s, RESP_NONE, "Too many arguments for the STLS command.");
		return;
	}
	if (cleartext_waiting(s)) {
		/* Whoever sent it did not wait for our answer: a client that
		 * pipelines STLS is broken, and a man in the middle injecting
		 * commands looks exactly like this.  Either way, no. */
		log_notice("STLS refused: more input was sent before the answer "
			   "(command injection?); closing: client=%s", s->p->client_addr);
		reply_err(s, RESP_NONE, "Data after STLS; closing connection.");
		engine_end(s);
		return;
	}
	reply_ok(s, "Begin TLS negotiation");
	if (netio_flush(s->io) < 0) {
		engine_end(s);
		return;
	}
	/* Empty, as checked; said again so no clear-text byte can ever be
	 * read once the transport is TLS. */
	netio_discard_input(s->io);
	if (start_tls(s, "stls") != 0) {
		engine_end(s);
		return;
	}
	/* RFC 2595 §4: what was said in clear text counts for nothing.  STLS
	 * is only valid before USER, so there is no pending name; the
	 * failure count stays (a reset would help only a password guesser). */
	s->pending_user[0] = '\0';
}

int stls_start_implicit(struct session *s)
{
	if (s->set->tls == NULL) {
		/* main.c builds the context whenever tls-support is set. */
		log_error("TLS not started: client=%s mode=implicit: no TLS context",
			  s->p->client_addr);
		netio_set_transport(s->io, &dead_transport);
		return -1;
	}
	return start_tls(s, "implicit");
}

void stls_finish(struct session *s)
{
	if (s->tls == NULL)
		return;
	tls_conn_destroy(s->tls);
	s->tls = NULL;
	netio_set_transport(s->io, &dead_transport);
}
