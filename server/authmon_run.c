/*
 * authmon_run: the auth monitor as a process (see authmon.h): it forks the
 * pre-auth child, lets go of the connection, and serves the child's
 * requests until a login is handed over or the child ends.
 *
 * The monitor holds no descriptor of the connection while the child
 * lives: the child has it, and passes it back (SCM_RIGHTS) with the
 * hand-over after a login the monitor decided.  With TLS the child keeps
 * it and the monitor gets the clear-text socketpair instead.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/ctcompare.h"
#include "lib/log.h"
#include "server/authmon.h"
#include "server/engine.h"
#include "server/penalty.h"
#include "server/sandbox.h"

struct run {
	struct authmon *m;
	pid_t child;
	int sock;                  /* the request socket */
	int proxy;                 /* TLS: the session's clear-text end, or -1 */
	int forwarded;             /* the termination signal passed on, or 0 */
	bool killed;               /* we killed the child (a violation) */
	bool tls;                  /* handed over with TLS: the child is the proxy */
};

static void close_pair(int p[2])
{
	for (int i = 0; i < 2; i++)
		if (p[i] >= 0) {
			close(p[i]);
			p[i] = -1;
		}
}

/* Points fd at /dev/null, keeping the number taken (the log module may
 * remember it). */
static void park(int fd)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null < 0)
		return;
	if (null != fd)
		(void)dup3(null, fd, fd > 2 ? O_CLOEXEC : 0);
	if (null != fd)
		close(null);
}

static bool same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/* The monitor lets go of the connection: the child has it.  stderr too
 * when inetd made it the socket. */
static void let_go_of_connection(const struct session *s)
{
	if (same_file(2, s->p->fd_in))
		park(2);
	if (s->p->fd_out != s->p->fd_in)
		park(s->p->fd_out);
	park(s->p->fd_in);
}

/* The child is gone (or must go): its status, logged when it did not end
 * by itself. */
static int child_status(struct run *r)
{
	int st = 0;
	pid_t w;

	do
		w = waitpid(r->child, &st, 0);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return 1;
	if (WIFSIGNALED(st)) {
		if (!r->killed && WTERMSIG(st) != r->forwarded)
			log_error("pre-auth process killed by signal %d%s: client=%s",
				  WTERMSIG(st), WTERMSIG(st) == SIGSYS ? " (seccomp: a forbidden system call)" : "",
				  r->m->s->p->client_addr);
		return 1;
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

static void end_child(struct run *r)
{
	r->killed = true;
	kill(r->child, SIGKILL);
}

/* The login's connection becomes the session record's: the child's
 * descriptors (plain) or the clear-text socketpair (TLS), with what the
 * client had already sent read first. */
static int take_connection(struct run *r, const struct pm_msg *req)
{
	static struct session_params handed;
	struct session *s = r->m->s;
	unsigned char tls = 0;

	(void)pm_field_byte(req, 0, &tls);
	handed = *s->p;
	if (tls) {
		if (r->proxy < 0)
			return -1;
		handed.fd_in = handed.fd_out = r->proxy;
		r->proxy = -1;
		r->tls = true;
		/* What the pre-auth process knew: the connection is encrypted
		 * (no STLS in CAPA), and clear-text-password tls allows USER. */
		s->tls_proxied = true;
		if (s->set->cleartext == CLEARTEXT_TLS)
			s->cleartext_ok = true;
	} else {
		handed.fd_in = req->fds[0];
		handed.fd_out = req->fds[1];
	}
	netio_destroy(s->io);
	s->p = &handed;
	s->io = netio_create(handed.fd_in, handed.fd_out);
	if (s->io == NULL || netio_preload_input(s->io, req->f[1].p, req->f[1].len) != 0) {
		log_error("auth monitor: out of memory at the hand-over: client=%s",
			  handed.client_addr);
		return -1;
	}
	if (s->timeout_ms > 0)
		netio_set_write_timeout(s->io, s->timeout_ms);
	return 0;
}

static void close_fds(struct pm_msg *req)
{
	for (unsigned i = 0; i < req->nfds; i++)
		close(req->fds[i]);
	req->nfds = 0;
}

/* Serves requests.  Returns 1 after a hand-over, else 0 with *status_r. */
static int serve(struct run *r, int *status_r)
{
	static unsigned char buf[PM_MSG_MAX];
	struct pm_msg req, ans;
	int got;

	for (;;) {
		got = pm_recv(r->sock, buf, &req, PM_FDS_MAX, -1);
		if (engine_stop_signal() != 0 && r->forwarded == 0) {
			/* The child says goodbye to the client. */
			r->forwarded = engine_stop_signal();
			kill(r->child, r->forwarded);
		}
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			if (got < 0) {
				log_error("auth monitor: malformed request (%s): client=%s; ending the connection",
					  strerror(errno), r->m->s->p->client_addr);
				end_child(r);
			}
			*status_r = child_status(r);
			return 0;
		}
		authmon_serve(r->m, &req, &ans);
		if (req.type == PM_HANDOVER && r->m->state == AM_DONE &&
		    ans.f[0].p[0] == AMS_OK) {
			if (take_connection(r, &req) != 0) {
				close_fds(&req);
				end_child(r);
				*status_r = child_status(r);
				return 0;
			}
			(void)pm_send(r->sock, &ans);
			return 1;
		}
		close_fds(&req);
		if (pm_send(r->sock, &ans) != 0 || ans.f[0].p[0] == AMS_VIOLATION) {
			end_child(r);
			*status_r = child_status(r);
			return 0;
		}
	}
}

/* The child's side of the fork: confined, with its ends of the sockets. */
static int become_preauth(struct authmon *m, int sv, int proxy, int kpop)
{
	struct session *s = m->s;
	char reason[256] = "";

	/* Only the monitor writes the table of failed logins per address:
	 * a pre-auth process could otherwise clear its own address's record
	 * or slow everybody else's. */
	penalty_table_destroy(s->p->penalty);
	s->pm_forked = true;
	s->pm_fd = sv;
	s->proxy_fd = proxy;
	s->kpop_fd = kpop;
	if (sandbox_enter(reason, sizeof(reason)) != 0) {
		log_error("pre-auth process not confined, ending: client=%s: %s",
			  s->p->client_addr, reason);
		_exit(1);
	}
	return 0;
}

int authmon_run(struct authmon *m, int *status_r)
{
	struct session *s = m->s;
	int sv[2] = { -1, -1 }, pp[2] = { -1, -1 }, kp[2] = { -1, -1 };
	struct run r;
	sigset_t block, old;
	int rc;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 ||
	    (s->set->tls != NULL && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pp) < 0) ||
	    (m->kpop && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, kp) < 0)) {
		log_error("auth monitor: socketpair: %s", strerror(errno));
		close_pair(sv);
		close_pair(pp);
		close_pair(kp);
		return -1;
	}
	/* A termination signal between fork and the child's own handling
	 * must not be lost: blocked across the fork. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);
	memset(&r, 0, sizeof(r));
	r.m = m;
	r.child = fork();
	if (r.child < 0) {
		log_error("auth monitor: fork: %s", strerror(errno));
		sigprocmask(SIG_SETMASK, &old, NULL);
		close_pair(sv);
		close_pair(pp);
		close_pair(kp);
		return -1;
	}
	if (r.child == 0) {
		close(sv[0]);
		if (pp[0] >= 0)
			close(pp[0]);
		if (kp[0] >= 0)
			close(kp[0]);
		sigprocmask(SIG_SETMASK, &old, NULL);
		(void)become_preauth(m, sv[1], pp[1], kp[1]);
		return AUTHMON_CHILD;
	}
	close(sv[1]);
	if (pp[1] >= 0)
		close(pp[1]);
	if (kp[1] >= 0)
		close(kp[1]);
	let_go_of_connection(s);
	sigprocmask(SIG_SETMASK, &old, NULL);
	r.sock = sv[0];
	r.proxy = pp[0];
	if (m->kpop) {
		/* krb5 reads the handshake from the child's relay, never from
		 * the network itself. */
		(void)authmon_kpop_handshake(m, kp[0]);
		close(kp[0]);
	}
	rc = serve(&r, status_r);
	close(r.sock);
	if (r.proxy >= 0)
		close(r.proxy);
	authmon_clear(m);
	if (rc == 1 && !r.tls) {
		/* Plain: the child exits right after the answer; reaped here,
		 * so it is not left a zombie for the whole session.  With TLS
		 * it stays as the proxy. */
		(void)child_status(&r);
	}
	return rc == 1 ? AUTHMON_LOGIN : AUTHMON_ENDED;
}
