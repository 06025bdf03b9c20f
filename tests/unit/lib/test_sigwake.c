/*
 * test_sigwake: the self-pipe that turns signals into poll() wake-ups
 * (lib/sigwake.c), as the standalone listener and the monitor use it.
 *
 * Signal numbers come back in the order they arrived; the handler keeps
 * errno; the descriptors are non-blocking and close-on-exec, so an empty
 * pipe reads as "nothing" and a full one never blocks the handler.  Two
 * kinds of coalescing a loop must live with: the kernel merges a standard
 * signal raised while blocked into one, and a full pipe drops further bytes
 * while a wake-up is pending anyway.  A signal from another process wakes a
 * poll() that waits on sigwake_fd().  Everything is bounded in time.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/sigwake.h"
#include "tests/unit/tap.h"

static void install(int sig)
{
	struct sigaction sa;

	sigwake_catch(sig, SA_RESTART);
	if (sigaction(sig, NULL, &sa) < 0 || sa.sa_handler != sigwake_handler ||
	    (sa.sa_flags & SA_RESTART) == 0)
		die("sigwake_catch");
}

/* poll() as the loops use it: a signal caught while waiting ends the wait
 * with EINTR (whatever SA_RESTART says), and its byte is then pending. */
static bool readable(int timeout_ms)
{
	struct pollfd pfd = { .fd = sigwake_fd(), .events = POLLIN };
	int n;

	do {
		n = poll(&pfd, 1, timeout_ms);
	} while (n < 0 && errno == EINTR);
	return n == 1 && (pfd.revents & POLLIN) != 0;
}

/* Everything pending, counted. */
static size_t drain(void)
{
	unsigned char buf[4096];
	size_t n, total = 0;

	while ((n = sigwake_read(buf, sizeof(buf))) > 0)
		total += n;
	return total;
}

static void test_closed(void)
{
	unsigned char b[4];
	int saved;

	is_int(sigwake_fd(), -1, "before open: no descriptor");
	is_int(sigwake_read(b, sizeof(b)), 0, "before open: nothing to read");
	install(SIGUSR1);
	errno = EDOM;
	raise(SIGUSR1);
	saved = errno;
	is_int(saved, EDOM, "before open: a signal is harmless and errno is kept");
}

static void test_order_and_flags(void)
{
	unsigned char b[8];
	int fd;

	is_int(sigwake_open(), 0, "open");
	fd = sigwake_fd();
	ok(fd >= 0, "open: a descriptor to poll");
	ok((fcntl(fd, F_GETFL) & O_NONBLOCK) != 0, "open: non-blocking");
	ok((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0, "open: close-on-exec");
	ok(!readable(0), "open: nothing pending");
	is_int(sigwake_read(b, sizeof(b)), 0, "an empty pipe reads as nothing, without blocking");

	install(SIGUSR1);
	install(SIGUSR2);
	install(SIGHUP);
	raise(SIGUSR2);
	raise(SIGHUP);
	raise(SIGUSR1);
	ok(readable(0), "a signal makes the descriptor readable");
	is_int(sigwake_read(b, 2), 2, "a read takes at most the room given");
	ok(b[0] == SIGUSR2 && b[1] == SIGHUP, "signal numbers come back in order");
	is_int(sigwake_read(b, sizeof(b)), 1, "the rest on the next read");
	is_int(b[0], SIGUSR1, "the last one");
	ok(!readable(0), "then nothing is pending");
}

static void test_errno(void)
{
	int saved;

	errno = ERANGE;
	raise(SIGUSR1);
	saved = errno;
	is_int(saved, ERANGE, "the handler keeps errno");
	is_int(drain(), 1, "one byte for one signal");
}

static void test_coalescing(void)
{
	sigset_t set, old;
	long cap;
	int i, saved, fd = sigwake_fd();

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, &old);
	raise(SIGUSR1);
	raise(SIGUSR1);
	raise(SIGUSR1);
	sigprocmask(SIG_SETMASK, &old, NULL);
	is_int(drain(), 1, "coalescing: a signal raised 3 times while blocked wakes once");

	/* The smallest pipe the kernel allows, then more signals than fit. */
	cap = fcntl(fd, F_SETPIPE_SZ, 4096);
	if (cap < 0)
		cap = fcntl(fd, F_GETPIPE_SZ);
	if (cap <= 0 || cap > 1 << 20) {
		tap_skip("cannot learn the pipe's size", "coalescing: a full pipe");
		return;
	}
	errno = EDOM;
	for (i = 0; i < cap + 100; i++)
		raise(SIGUSR1);
	saved = errno;
	ok(saved == EDOM, "full pipe: the handler never blocked and kept errno (%ld signals)", cap + 100);
	is_int(drain(), cap, "full pipe: the extra wake-ups are dropped, the pipe holds what fits");
	raise(SIGUSR2);
	is_int(drain(), 1, "full pipe: once read, signals come through again");
}

static void test_wakes_poll(void)
{
	unsigned char b[16];
	size_t n, i;
	bool term = false, chld = false;
	pid_t pid;

	install(SIGTERM);
	install(SIGCHLD);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		usleep(50000);
		kill(getppid(), SIGTERM);
		_exit(0);
	}
	/* SIGTERM from the child, then SIGCHLD when it exits. */
	while (!(term && chld) && readable(5000)) {
		n = sigwake_read(b, sizeof(b));
		for (i = 0; i < n; i++) {
			term = term || b[i] == SIGTERM;
			chld = chld || b[i] == SIGCHLD;
		}
	}
	waitpid(pid, NULL, 0);
	ok(term, "poll wakes for a signal sent by another process");
	ok(chld, "and for SIGCHLD when a child ends");
	signal(SIGTERM, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	drain();
}

static void test_close_reopen(void)
{
	int saved;

	sigwake_close();
	is_int(sigwake_fd(), -1, "close: no descriptor");
	errno = EDOM;
	raise(SIGUSR1);
	saved = errno;
	is_int(saved, EDOM, "close: a late signal is harmless");
	sigwake_close();
	ok(true, "close twice is harmless");
	is_int(sigwake_open(), 0, "re-open (a child opens its own)");
	raise(SIGUSR2);
	is_int(drain(), 1, "re-opened: signals come through");
	sigwake_close();
}

int main(void)
{
	test_closed();
	test_order_and_flags();
	test_errno();
	test_coalescing();
	test_wakes_poll();
	test_close_reopen();
	return tap_done();
}
