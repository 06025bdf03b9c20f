/*
 * authclient: the pre-auth process's requests to the auth monitor (see
 * authclient.h).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <time.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/ctcompare.h"
#include "lib/log.h"
#include "server/authclient.h"
#include "server/engine.h"
#include "server/tlsproxy.h"

/* The in-process monitor (one session per process). */
static struct authmon inproc;
/* Answers are decoded in place; their data lives here until the next. */
static unsigned char answer_buf[PM_MSG_MAX];
static struct pm_msg answer_msg;

struct authmon *ac_inprocess_monitor(struct session *s)
{
	if (s->pm_forked)
		return NULL;
	if (s->inproc == NULL) {
		/* A new session record (one per process, or a unit test's). */
		authmon_clear(&inproc);
		authmon_init(&inproc, s);
		s->inproc = &inproc;
	}
	return s->inproc;
}

static int decode_answer(const struct pm_msg *ans, struct ac_answer *a)
{
	unsigned char st, flags;

	if (ans->type != PM_ANSWER || ans->nfields != 3 || !pm_field_byte(ans, 0, &st) ||
	    !pm_field_byte(ans, 1, &flags) || st > AMS_VIOLATION) {
		log_error("pre-auth: malformed answer from the auth monitor");
		return -1;
	}
	a->status = (enum am_status)st;
	a->end = (flags & AMF_END) != 0;
	a->data = ans->f[2].p;
	a->len = ans->f[2].len;
	return 0;
}

/* Sends req, waits for the answer.  A termination signal while waiting
 * ends the wait (the loop says goodbye); the monitor's own delay is what
 * makes a failed login slow. */
static int call(struct session *s, const struct pm_msg *req, struct ac_answer *a)
{
	int r;

	memset(a, 0, sizeof(*a));
	if (!s->pm_forked) {
		authmon_serve(ac_inprocess_monitor(s), req, &answer_msg);
		/* The same round trip as over the socket, so both modes read
		 * the answer alike. */
		{
			long n = pm_encode(&answer_msg, answer_buf, sizeof(answer_buf));

			if (n < 0 || pm_decode(answer_buf, (size_t)n, &answer_msg) != 0)
				return -1;
		}
		return engine_stop_signal() != 0 ? -1 : decode_answer(&answer_msg, a);
	}
	if (pm_send(s->pm_fd, req) != 0) {
		log_error("pre-auth: cannot reach the auth monitor: %s", strerror(errno));
		return -1;
	}
	for (;;) {
		r = pm_recv(s->pm_fd, answer_buf, &answer_msg, 0, -1);
		if (r < 0 && errno == EINTR && engine_stop_signal() == 0)
			continue;
		break;
	}
	if (r <= 0) {
		if (engine_stop_signal() == 0)
			log_error("pre-auth: the auth monitor is gone%s%s", r < 0 ? ": " : "",
				  r < 0 ? strerror(errno) : "");
		return -1;
	}
	if (engine_stop_signal() != 0)
		return -1;
	return decode_answer(&answer_msg, a);
}

int ac_user_check(struct session *s, const char *name, struct ac_answer *a)
{
	struct pm_msg m;

	pm_init(&m, PM_USER_CHECK);
	pm_add_str(&m, name);
	return call(s, &m, a);
}

int ac_plain(struct session *s, const char *name, const char *password, struct ac_answer *a)
{
	struct pm_msg m;

	pm_init(&m, PM_PLAIN);
	pm_add_str(&m, name);
	pm_add_str(&m, password);
	pm_add_byte(&m, s->tls != NULL);
	return call(s, &m, a);
}

int ac_apop(struct session *s, const char *name, const char *digest, struct ac_answer *a)
{
	struct pm_msg m;

	pm_init(&m, PM_APOP);
	pm_add_str(&m, name);
	pm_add_str(&m, digest);
	return call(s, &m, a);
}

int ac_sasl_mechs(struct session *s, struct ac_answer *a)
{
	struct pm_msg m;

	pm_init(&m, PM_SASL_MECHS);
	pm_add_byte(&m, s->tls != NULL);
	return call(s, &m, a);
}

int ac_sasl_start(struct session *s, const char *mech, const unsigned char *initial, size_t len,
		  struct ac_answer *a)
{
	struct pm_msg m;

	pm_init(&m, PM_SASL_START);
	pm_add_str(&m, mech);
	pm_add_byte(&m, s->tls != NULL);
	pm_add_byte(&m, initial != NULL);
	if (pm_add(&m, initial != NULL ? initial : (const unsigned char *)"", len) != 0)
		return -1;
	return call(s, &m, a);
}

int ac_sasl_step(struct session *s, const unsigned char *resp, size_t len, struct ac_answer *a)
{
	struct pm_msg m;

	pm_init(&m, PM_SASL_STEP);
	if (pm_add(&m, resp, len) != 0)
		return -1;
	return call(s, &m, a);
}

int ac_sasl_cancel(struct session *s, struct ac_answer *a)
{
	struct pm_msg m;

	pm_init(&m, PM_SASL_CANCEL);
	return call(s, &m, a);
}

int ac_failed(struct session *s, const char *method, const char *user, const char *kind,
	      struct ac_answer *a)
{
	struct pm_msg m;

	pm_init(&m, PM_FAILED);
	pm_add_str(&m, method);
	/* Client text: cut to what a field of the table may hold. */
	pm_add(&m, user, strnlen(user, NETIO_MAX_LINE));
	pm_add_str(&m, kind);
	return call(s, &m, a);
}

int ac_kpop_result(struct session *s, struct ac_answer *a)
{
	struct pm_msg m;

	pm_init(&m, PM_KPOP_RESULT);
	return call(s, &m, a);
}

int ac_kpop_pass(struct session *s, const char *name, struct ac_answer *a)
{
	struct pm_msg m;

	pm_init(&m, PM_KPOP_PASS);
	pm_add_str(&m, name);
	return call(s, &m, a);
}

/* Bytes and time a KPOP handshake may take through the relay: a ticket
 * with a large PAC is some 12 KiB; the monitor's own deadline is 60 s. */
#define KPOP_RELAY_MAX (64 * 1024)
#define KPOP_RELAY_MS (130 * 1000)

/* Copies what one side has to the other; false when the side is closed
 * or broken. */
static bool relay_once(int from, int to, size_t *total)
{
	char buf[4096];
	ssize_t n = read(from, buf, sizeof(buf));

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		return false;
	if (n < 0)
		return true;
	*total += (size_t)n;
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(to, buf + off, (size_t)(n - off));

		if (w < 0 && errno == EAGAIN) {
			struct pollfd p = { to, POLLOUT, 0 };

			if (poll(&p, 1, 1000) <= 0)
				return false;
			continue;
		}
		if (w <= 0)
			return false;
		off += w;
	}
	return true;
}

void ac_kpop_relay(struct session *s)
{
	struct timespec start, now;
	size_t total = 0;
	bool client_open = true;

	if (s->kpop_fd < 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd p[2] = { { client_open ? s->p->fd_in : -1, POLLIN, 0 },
				       { s->kpop_fd, POLLIN, 0 } };
		long left;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = KPOP_RELAY_MS - ((now.tv_sec - start.tv_sec) * 1000 +
					(now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0 || total > KPOP_RELAY_MAX || engine_stop_signal() != 0)
			break;
		if (poll(p, 2, (int)left) < 0 && errno != EINTR)
			break;
		/* The monitor closes its end when krb5 is done. */
		if (p[1].revents != 0 && !relay_once(s->kpop_fd, s->p->fd_out, &total))
			break;
		if (p[0].revents != 0 && !relay_once(s->p->fd_in, s->kpop_fd, &total)) {
			/* The client is gone: the monitor's krb5 sees the end. */
			shutdown(s->kpop_fd, SHUT_WR);
			client_open = false;
		}
	}
	close(s->kpop_fd);
	s->kpop_fd = -1;
}

void ac_handover(struct session *s)
{
	static char pending[PM_MSG_MAX - 64];
	struct ac_answer a;
	struct pm_msg m;
	long n;
	bool tls = s->tls != NULL;

	if (!s->pm_forked)
		return;
	/* Replies to earlier pipelined commands go out first: the user's
	 * session must not overtake them. */
	if (netio_flush(s->io) < 0)
		_exit(1);
	n = netio_take_input(s->io, pending, sizeof(pending));
	if (n < 0) {
		log_notice("pre-auth: too much pipelined input at login: client=%s",
			   s->p->client_addr);
		_exit(1);
	}
	pm_init(&m, PM_HANDOVER);
	pm_add_byte(&m, tls);
	pm_add(&m, pending, (size_t)n);
	if (!tls) {
		m.fds[0] = s->p->fd_in;
		m.fds[1] = s->p->fd_out;
		m.nfds = 2;
	}
	if (call(s, &m, &a) != 0 || a.status != AMS_OK)
		_exit(1);
	ct_wipe(pending, (size_t)n);
	if (tls)
		tlsproxy_run(s);
	_exit(0);
}
