/*
 * monitor: the privileged half of a logged-in session (see monitor.h).
 *
 * The monitor's side (below "the monitor's side") runs as root, in the
 * monitor process; the child's side (client_*) runs in the session after
 * the drop, as the user.  It is OpenSSH's monitor shrunk to the one thing
 * a POP3 session needs root for after login: a dot-lock in a spool
 * directory the user cannot write (root:mail 2775).  The protocol is one
 * byte each way over a socketpair:
 *
 *   child -> monitor   'L' lock     'U' unlock
 *   monitor -> child   'K' done     'B' busy     'E' error
 *
 * The table of what is legal is a small state machine: 'L' and 'U'
 * strictly alternate, starting with 'L', at most MON_LOCK_ROUNDS times
 * (temp-drop mode locks the spool at login and again at QUIT; server mode
 * once); nothing after a refused 'L' or after the last 'U'.  Anything else
 * means the unprivileged side is not the code we wrote: the monitor kills
 * it, removes the lock and exits.  The lock path and the wait were fixed
 * before the fork; nothing the child sends can change them.
 *
 * The lock's directory may belong to the user (home-dir-mail), who can swap
 * any part of the path for a symlink while we wait.  So at the first 'L'
 * the monitor opens that directory once, by the rules of server/lockdir.h
 * (no link a user could have made is followed, every directory on the way
 * is root's or the user's), and from then on creates, touches and removes
 * the lock only relative to that descriptor.  After a lock is taken, and
 * before it is removed, the path is walked again: if it no longer leads to
 * the same directory, a freshly taken lock is let go and refused (it would
 * guard nothing the path names now), a held one is removed from the
 * directory it was made in, and both are logged.  Nothing is ever done in
 * what the path names after such a swap.
 *
 * The monitor never touches client data: right after the fork it points
 * every descriptor except its end of the socketpair at /dev/null (the
 * client socket among them) and re-opens the log.  While it waits it
 * refreshes a held lock every 60 s so other agents (DOTLOCK_STALE_SECONDS)
 * do not break it, forwards SIGTERM to the child, and when the child is
 * gone removes a lock still held and exits with the child's status.
 *
 * A held lock is also recorded in the lock registry (server/lockreg.c,
 * <state-dir>/.locks, path fixed before the fork like the lock path), so
 * that if the monitor and the session are both killed the next sweep (inetd:
 * next connection; standalone: the listener) removes the lock at once
 * instead of leaving procmail and dotlockfile to wait for its age.
 *
 * Reading order on the monitor's side: monitor_start forks and sets up;
 * monitor_run is the wait loop; serve_request reads one byte and hands it
 * to grant_lock, grant_unlock or refuse_illegal; monitor_finish cleans up
 * and exits with the session's status.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/reason.h"
#include "lib/sigwake.h"
#include "server/maildrop/dotlock.h"
#include "server/lockdir.h"
#include "server/lockreg.h"
#include "server/monitor.h"

#define MON_REQ_LOCK 'L'
#define MON_REQ_UNLOCK 'U'
#define MON_ANS_OK 'K'
#define MON_ANS_BUSY 'B'
#define MON_ANS_ERROR 'E'

/* How often a held lock is touched: well inside DOTLOCK_STALE_SECONDS and
 * within the 1-3 minutes Qpopper's source asks for. */
#define MON_TOUCH_SECONDS 60
/* Lock/unlock pairs a session may ask for: temp-drop mode needs two (the
 * move into the temporary drop at login, the write-back at the end). */
#define MON_LOCK_ROUNDS 2
/* Upper bound on descriptors we look at when /proc is not there. */
#define MON_FD_SCAN_MAX 65536

/* ---- the child's side ------------------------------------------------- */

struct monitor_client {
	int fd;
	int answer_timeout_ms;  /* lock_wait plus slack: the monitor's only slow step */
};

static struct monitor_client client = { -1, 0 };

/* Sends one request and reads the one-byte answer.  Returns the answer, or
 * 0 if the monitor is gone. */
static char client_ask(struct monitor_client *mc, char req)
{
	char ans;
	ssize_t r;

	do {
		r = write(mc->fd, &req, 1);
	} while (r < 0 && errno == EINTR);
	if (r != 1)
		return 0;
	for (;;) {
		struct pollfd pfd = { .fd = mc->fd, .events = POLLIN };
		int n = poll(&pfd, 1, mc->answer_timeout_ms);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;   /* a monitor that does not answer is a gone monitor */
		break;
	}
	do {
		r = read(mc->fd, &ans, 1);
	} while (r < 0 && errno == EINTR);
	return r == 1 ? ans : 0;
}

static enum maildrop_status client_lock(void *ctx, char *reason, size_t reasonsize)
{
	switch (client_ask(ctx, MON_REQ_LOCK)) {
	case MON_ANS_OK:
		return MAILDROP_OK;
	case MON_ANS_BUSY:
		snprintf(reason, reasonsize, "dot-lock is held by another process");
		return MAILDROP_IN_USE;
	case MON_ANS_ERROR:
		snprintf(reason, reasonsize, "monitor could not create the dot-lock (see its log record)");
		return MAILDROP_TEMP;
	default:
		snprintf(reason, reasonsize, "no answer from the monitor");
		return MAILDROP_TEMP;
	}
}

static void client_unlock(void *ctx)
{
	if (client_ask(ctx, MON_REQ_UNLOCK) != MON_ANS_OK)
		log_warning("monitor: unlock was not confirmed");
}

/* ---- the monitor's side ----------------------------------------------- */


/* Points fd at /dev/null; above stderr it stays close-on-exec (dup2 would
 * clear the flag). */
static void park_on_null(int devnull, int fd)
{
	if (fd > 2)
		dup3(devnull, fd, O_CLOEXEC);
	else
		dup2(devnull, fd);
}

/* Points every descriptor but keep at /dev/null.  dup2 instead of close
 * keeps the numbers taken, so the log module can re-open its syslog and
 * trace descriptors without a freshly opened one landing on a number it
 * still remembers and then closes. */
static void detach_descriptors(int keep)
{
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	int fds[1024];
	size_t n = 0, i;
	DIR *d;

	if (devnull < 0)
		return;   /* cannot happen on a sane system; keep going */
	d = opendir("/proc/self/fd");
	if (d != NULL) {
		struct dirent *e;
		int dfd = dirfd(d);

		while ((e = readdir(d)) != NULL && n < sizeof(fds) / sizeof(fds[0])) {
			char *end;
			long v = strtol(e->d_name, &end, 10);

			if (e->d_name[0] != '\0' && *end == '\0' && v >= 0 && v != dfd)
				fds[n++] = (int)v;
		}
		/* Too many to list: fall through to the scan below. */
		if (e != NULL)
			n = 0;
		closedir(d);
		if (n > 0) {
			for (i = 0; i < n; i++) {
				if (fds[i] != keep && fds[i] != devnull)
					park_on_null(devnull, fds[i]);
			}
			close(devnull);
			return;
		}
	}
	{
		long max = sysconf(_SC_OPEN_MAX);
		int fd;

		if (max < 0 || max > MON_FD_SCAN_MAX)
			max = MON_FD_SCAN_MAX;
		for (fd = 0; fd < max; fd++) {
			if (fd != keep && fd != devnull && fcntl(fd, F_GETFD) >= 0)
				park_on_null(devnull, fd);
		}
	}
	close(devnull);
}

static time_t now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Sends the one-byte answer.  Returns false when it could not be sent: the
 * caller then closes the socket, so the child reads EOF ("monitor gone")
 * instead of waiting for an answer that will never come. */
static bool answer(int fd, char a)
{
	ssize_t r;

	do {
		r = write(fd, &a, 1);
	} while (r < 0 && errno == EINTR);
	return r == 1;
}

static void answer_or_drop(int *sock, char a)
{
	if (!answer(*sock, a)) {
		log_error("monitor: cannot answer the session: %s", strerror(errno));
		close(*sock);
		*sock = -1;
	}
}

/* What the monitor knows: fixed before the fork (child, lock path, user,
 * wait, registry), then the lock's directory (opened at the first 'L') and
 * what the child has asked for so far. */
enum monitor_state { WANT_LOCK = 0, HOLDING = 1, DONE = 2 };   /* numbers appear in the log */

struct monitor {
	int sock;                  /* -1 once the child closed its end */
	pid_t child;
	const char *lock_path;
	uid_t lock_user;
	unsigned lock_wait;
	const char *regdir;
	struct lockdir dir;        /* fd -1 until the first 'L' */
	struct dotlock_id lock;    /* the lock file we made, while HOLDING */
	enum monitor_state state;
	unsigned rounds;           /* locks granted */
	time_t last_touch;
	bool child_gone;
	int status;                /* the child's wait status once gone */
};

/* Removes the lock file we made from the directory we made it in (only
 * that file, still holding what we wrote); logs when it could not. */
static void remove_lock_file(const struct monitor *m)
{
	const char *why = NULL;

	switch (dotlock_clear_at(m->dir.fd, m->dir.name, m->child, m->lock.dev, m->lock.ino)) {
	case DOTLOCK_CLEARED:
		return;
	case DOTLOCK_ABSENT:
		why = "it was gone";
		break;
	case DOTLOCK_NOT_OURS:
		why = "another file is in its place; left alone";
		break;
	case DOTLOCK_CLEAR_FAILED:
		why = strerror(errno);
		break;
	}
	log_warning("monitor: could not remove dot-lock %s: %s", m->lock_path, why);
}

/* Lets go of the dot-lock, then of its registry entry: in this order, so
 * that a monitor killed in between leaves an entry whose lock is gone (the
 * sweep drops it), never a lock without an entry.  A directory swapped
 * meanwhile is logged; the lock goes from the one it was made in all the
 * same (that is where it is, and where nobody else will look for it). */
static void release_lock(const struct monitor *m)
{
	char why[512];

	if (!lockdir_still_there(&m->dir, m->lock_path, why, sizeof(why)))
		log_warning("monitor: the directory of dot-lock %s was moved or replaced since the "
			    "lock was taken (%s); removing the lock from the directory it was made in",
			    m->lock_path, why);
	remove_lock_file(m);
	lockreg_forget(m->regdir);
}

/* Takes the dot-lock (waiting up to lock_wait) in the lock's directory,
 * opened at the first request and kept for the second round; afterwards
 * the path must still lead there.  Returns what dotlock_acquire_at does,
 * with reason on DOTLOCK_ERROR. */
static enum dotlock_result take_lock(struct monitor *m, char *reason, size_t reasonsize)
{
	struct dotlock_loc loc;
	enum dotlock_result dr;
	char why[512];

	if (m->dir.fd < 0 &&
	    lockdir_open(m->lock_path, m->lock_user, &m->dir, why, sizeof(why)) < 0) {
		reason_set(reason, reasonsize, "its directory: %s", why);
		return DOTLOCK_ERROR;
	}
	loc = lockdir_loc(&m->dir, m->lock_path);
	dr = dotlock_acquire_at(&loc, m->child, m->lock_wait, &m->lock, reason, reasonsize);
	if (dr != DOTLOCK_OK || lockdir_still_there(&m->dir, m->lock_path, why, sizeof(why)))
		return dr;
	/* Swapped while we waited: a lock there guards nothing the path
	 * names now, and what it names now is not ours to lock. */
	remove_lock_file(m);
	reason_set(reason, reasonsize, "its directory was moved or replaced while the lock was "
		   "being taken (%s); let go", why);
	return DOTLOCK_ERROR;
}

/* 'L' in WANT_LOCK: take the dot-lock, record it, answer. */
static void grant_lock(struct monitor *m)
{
	char reason[768] = "";
	enum dotlock_result dr;

	dr = take_lock(m, reason, sizeof(reason));
	if (dr == DOTLOCK_OK) {
		/* Before the answer: the session works on the maildrop only
		 * once the lock can be found again if we both are killed. */
		lockreg_record(m->regdir, m->lock_path, &m->dir, &m->lock, m->child);
		m->state = HOLDING;
		m->rounds++;
		m->last_touch = now_mono();
		answer_or_drop(&m->sock, MON_ANS_OK);
		return;
	}
	if (dr == DOTLOCK_ERROR)
		log_error("monitor: dot-lock %s: %s", m->lock_path, reason);
	m->state = DONE;   /* no second try: the child gives up */
	answer_or_drop(&m->sock, dr == DOTLOCK_BUSY ? MON_ANS_BUSY : MON_ANS_ERROR);
}

/* 'U' in HOLDING: let go, answer; another round may follow. */
static void grant_unlock(struct monitor *m)
{
	release_lock(m);
	m->state = m->rounds < MON_LOCK_ROUNDS ? WANT_LOCK : DONE;
	answer_or_drop(&m->sock, MON_ANS_OK);
}

/* Not a request our session code ever sends: the session is not the code
 * we wrote.  Kill it; the monitor then ends with status 1. */
static void refuse_illegal(struct monitor *m, char req)
{
	log_error("monitor: illegal request 0x%02x in state %d; ending the session",
		  (unsigned char)req, (int)m->state);
	kill(m->child, SIGKILL);
	if (!m->child_gone)
		waitpid(m->child, &m->status, 0);
	m->child_gone = true;
	m->status = 1 << 8;   /* exit status 1 */
}

/* Reads one request from the child and answers it (the table of legal
 * requests is the state machine in the header comment). */
static void serve_request(struct monitor *m)
{
	char req;
	ssize_t r;

	do {
		r = read(m->sock, &req, 1);
	} while (r < 0 && errno == EINTR);
	if (r <= 0) {
		close(m->sock);
		m->sock = -1;       /* child closed its end or exited */
	} else if (req == MON_REQ_LOCK && m->state == WANT_LOCK) {
		grant_lock(m);
	} else if (req == MON_REQ_UNLOCK && m->state == HOLDING) {
		grant_unlock(m);
	} else {
		refuse_illegal(m, req);
	}
}

/* SIGTERM/SIGINT go on to the child (the engine ends the session);
 * SIGHUP re-opens the log; SIGCHLD only wakes us. */
static void forward_signals(const struct monitor *m)
{
	unsigned char sigs[64];
	size_t r = sigwake_read(sigs, sizeof(sigs)), i;

	for (i = 0; i < r; i++) {
		if (sigs[i] == SIGTERM || sigs[i] == SIGINT)
			kill(m->child, SIGTERM);
		else if (sigs[i] == SIGHUP)
			log_reopen();
	}
}

/* Touches a held lock every MON_TOUCH_SECONDS (the file we made, in the
 * directory we made it in). */
static void touch_if_due(struct monitor *m)
{
	struct dotlock_loc loc;

	if (m->state != HOLDING || now_mono() - m->last_touch < MON_TOUCH_SECONDS)
		return;
	loc = lockdir_loc(&m->dir, m->lock_path);
	if (dotlock_touch_at(&loc, &m->lock) < 0)
		log_warning("monitor: cannot refresh dot-lock %s: %s", m->lock_path, strerror(errno));
	m->last_touch = now_mono();
}

/* The poll timeout: until the next touch while holding, else none. */
static int wait_timeout(const struct monitor *m)
{
	time_t left;

	if (m->state != HOLDING)
		return -1;
	left = m->last_touch + MON_TOUCH_SECONDS - now_mono();
	return left <= 0 ? 0 : (int)left * 1000;
}

/* The end: a child still there (poll failed) is killed; a lock still held
 * is released; exits with the child's status.  Never returns. */
static void monitor_finish(struct monitor *m) __attribute__((noreturn));
static void monitor_finish(struct monitor *m)
{
	if (!m->child_gone) {
		/* poll failed: we cannot serve the child safely any more. */
		kill(m->child, SIGKILL);
		waitpid(m->child, &m->status, 0);
		m->status = 1 << 8;
	}
	if (m->state == HOLDING)
		release_lock(m);
	lockdir_close(&m->dir);
	if (m->sock >= 0)
		close(m->sock);
	if (WIFEXITED(m->status))
		_exit(WEXITSTATUS(m->status));
	if (WIFSIGNALED(m->status))
		log_warning("monitor: session process ended by signal %d", WTERMSIG(m->status));
	_exit(1);
}

/* The monitor's whole life: wait for a signal, a request or the next
 * touch, until the child is gone.  Never returns. */
static void monitor_run(struct monitor *m) __attribute__((noreturn));
static void monitor_run(struct monitor *m)
{
	struct pollfd pfd[2];

	for (;;) {
		int n;

		pfd[0].fd = sigwake_fd();
		pfd[0].events = POLLIN;
		pfd[1].fd = m->sock;     /* -1 once the child closed it */
		pfd[1].events = POLLIN;
		n = poll(pfd, 2, wait_timeout(m));
		if (n < 0 && errno != EINTR) {
			log_error("monitor: poll: %s", strerror(errno));
			break;
		}
		if (n > 0 && (pfd[0].revents & POLLIN) != 0)
			forward_signals(m);
		/* Reap first: a request and the exit may arrive together. */
		if (!m->child_gone && waitpid(m->child, &m->status, WNOHANG) == m->child)
			m->child_gone = true;
		if (n > 0 && m->sock >= 0 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0)
			serve_request(m);
		touch_if_due(m);
		/* A child that closed the socket is waited for by the same
		 * loop: SIGCHLD wakes poll, SIGTERM is still forwarded, and a
		 * lock still held keeps being touched until the exit. */
		if (m->child_gone)
			break;
	}
	monitor_finish(m);
}

/* The monitor's own signal handling: everything through the self-pipe;
 * SIGPIPE and SIGALRM ignored. */
static void monitor_signals(const sigset_t *block)
{
	struct sigaction sa;

	sigwake_catch(SIGTERM, SA_RESTART);
	sigwake_catch(SIGINT, SA_RESTART);
	sigwake_catch(SIGHUP, SA_RESTART);
	sigwake_catch(SIGCHLD, SA_RESTART);
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);   /* a dead child must not kill us mid-answer */
	sigaction(SIGALRM, &sa, NULL);
	sigprocmask(SIG_UNBLOCK, block, NULL);
}

int monitor_start(const char *lock_path, uid_t lock_user, unsigned lock_wait,
		  const char *regdir, struct maildrop_locker *locker)
{
	sigset_t block, old;
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_error("monitor: socketpair: %s", strerror(errno));
		return -1;
	}
	/* Signals stay blocked across the fork until the monitor has its own
	 * handlers, so a SIGTERM in between is forwarded, not lost in the
	 * engine's handler. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &old);

	pid = fork();
	if (pid < 0) {
		int saved = errno;

		sigprocmask(SIG_SETMASK, &old, NULL);
		close(sv[0]);
		close(sv[1]);
		log_error("monitor: fork: %s", strerror(saved));
		return -1;
	}
	if (pid == 0) {
		/* The session: keeps the engine's handlers and mask. */
		close(sv[0]);
		sigprocmask(SIG_SETMASK, &old, NULL);
		client.fd = sv[1];
		client.answer_timeout_ms = (int)(lock_wait > 3600 ? 3600 : lock_wait) * 1000 + 30000;
		locker->lock = client_lock;
		locker->unlock = client_unlock;
		locker->ctx = &client;
		return 0;
	}

	/* The monitor. */
	close(sv[1]);
	detach_descriptors(sv[0]);
	log_reopen();
	if (sigwake_open() < 0) {
		log_error("monitor: pipe: %s", strerror(errno));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		_exit(1);
	}
	monitor_signals(&block);
	{
		struct monitor m = {
			.sock = sv[0], .child = pid, .lock_path = lock_path,
			.lock_user = lock_user, .lock_wait = lock_wait, .regdir = regdir,
			.state = WANT_LOCK,
		};

		lockdir_init(&m.dir);
		monitor_run(&m);
	}
}
