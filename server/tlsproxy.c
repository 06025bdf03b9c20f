/*
 * tlsproxy: after a login over TLS, the pre-auth process stays as the
 * connection's TLS end and relays clear text to and from the user's session
 * over a socketpair, the way Dovecot's login process proxies.  Why not hand
 * the TLS state to the session (kTLS)?  The TLS records then stay parsed by
 * the one process that is unprivileged, chrooted and under seccomp, the
 * session never sees a TLS byte, and nothing depends on the kernel's TLS
 * module or on OpenSSL being built with it (docs/ARCHITECTURE.md).
 *
 * Two bounded buffers, one per direction, non-blocking on both sides, so
 * a pipelining client and a session streaming a large message can never
 * deadlock each other.  Ends when the session has closed its end and all it
 * wrote has gone out, or when the client is gone.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/ctcompare.h"
#include "lib/tls.h"
#include "server/engine.h"
#include "server/tlsproxy.h"

#define PROXY_BUF (16 * 1024)

struct pipe_buf {
	unsigned char b[PROXY_BUF];
	size_t len;
};

struct proxy {
	struct netio_transport t;   /* the TLS connection */
	int cin, cout, plain;       /* client descriptors, the session's socket */
	struct pipe_buf up, down;   /* client -> session, session -> client */
	size_t retry_len;           /* a TLS write to repeat with the same length */
	bool client_eof, session_eof, shut_up, dead;
	short cin_ev, cout_ev, plain_ev;
};

static void consume(struct pipe_buf *p, size_t n)
{
	memmove(p->b, p->b + n, p->len - n);
	p->len -= n;
}

/* After a TLS call said EAGAIN: which descriptor to wait on. */
static void want_tls(struct proxy *x, bool reading)
{
	if (x->t.wait_for != NULL && x->t.wait_for(x->t.ctx, reading) == NETIO_WAIT_OUTPUT)
		x->cout_ev |= POLLOUT;
	else
		x->cin_ev |= POLLIN;
}

static bool client_to_session(struct proxy *x)
{
	bool progress = false;
	ssize_t n;

	if (!x->client_eof && x->up.len < sizeof(x->up.b)) {
		n = x->t.read(x->t.ctx, x->up.b + x->up.len, sizeof(x->up.b) - x->up.len);
		if (n > 0) {
			x->up.len += (size_t)n;
			progress = true;
		} else if (n == 0 || errno != EAGAIN) {
			x->client_eof = true;
			progress = true;
		} else {
			want_tls(x, true);
		}
	}
	if (x->up.len > 0) {
		n = write(x->plain, x->up.b, x->up.len);
		if (n > 0) {
			consume(&x->up, (size_t)n);
			progress = true;
		} else if (n < 0 && errno == EAGAIN) {
			x->plain_ev |= POLLOUT;
		} else {
			x->dead = true;   /* the session is gone */
		}
	}
	if (x->client_eof && x->up.len == 0 && !x->shut_up) {
		/* The session reads the end of the connection as EOF. */
		shutdown(x->plain, SHUT_WR);
		x->shut_up = true;
	}
	return progress;
}

static bool session_to_client(struct proxy *x)
{
	bool progress = false;
	ssize_t n;

	if (!x->session_eof && x->down.len < sizeof(x->down.b)) {
		n = read(x->plain, x->down.b + x->down.len, sizeof(x->down.b) - x->down.len);
		if (n > 0) {
			x->down.len += (size_t)n;
			progress = true;
		} else if (n == 0 || errno != EAGAIN) {
			x->session_eof = true;
			progress = true;
		} else {
			x->plain_ev |= POLLIN;
		}
	}
	if (x->down.len > 0) {
		/* OpenSSL wants a write that could not finish repeated with
		 * the same length; the bytes stay where they were. */
		size_t len = x->retry_len != 0 ? x->retry_len : x->down.len;

		n = x->t.write(x->t.ctx, x->down.b, len);
		if (n > 0) {
			x->retry_len = 0;
			consume(&x->down, (size_t)n);
			progress = true;
		} else if (n < 0 && errno == EAGAIN) {
			x->retry_len = len;
			want_tls(x, false);
		} else {
			x->dead = true;   /* the client is gone */
		}
	}
	return progress;
}

static void wait_events(struct proxy *x)
{
	struct pollfd p[3] = {
		{ x->cin, x->cin_ev, 0 }, { x->cout, x->cout_ev, 0 }, { x->plain, x->plain_ev, 0 },
	};

	if (x->cin_ev == 0 && x->cout_ev == 0 && x->plain_ev == 0)
		return;
	(void)poll(p, 3, -1);
}

void tlsproxy_run(struct session *s)
{
	static struct proxy x;

	memset(&x, 0, sizeof(x));
	tls_conn_transport(s->tls, &x.t);
	x.cin = s->p->fd_in;
	x.cout = s->p->fd_out;
	x.plain = s->proxy_fd;
	(void)fcntl(x.plain, F_SETFL, fcntl(x.plain, F_GETFL) | O_NONBLOCK);
	while (!x.dead && !(x.session_eof && x.down.len == 0)) {
		bool progress;

		x.cin_ev = x.cout_ev = x.plain_ev = 0;
		progress = client_to_session(&x);
		progress = session_to_client(&x) || progress;
		if (!progress)
			wait_events(&x);
	}
	ct_wipe(&x, sizeof(x));
	/* close_notify when the connection is healthy. */
	tls_conn_destroy(s->tls);
	s->tls = NULL;
	_exit(0);
}
