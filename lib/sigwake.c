/*
 * sigwake: the self-pipe of lib/sigwake.h.  Runs as root in the listener and
 * the monitor.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "lib/sigwake.h"

static int wake_pipe[2] = { -1, -1 };

int sigwake_open(void)
{
	return pipe2(wake_pipe, O_NONBLOCK | O_CLOEXEC);
}

void sigwake_close(void)
{
	for (int i = 0; i < 2; i++) {
		if (wake_pipe[i] >= 0)
			close(wake_pipe[i]);
		wake_pipe[i] = -1;
	}
}

int sigwake_fd(void)
{
	return wake_pipe[0];
}

void sigwake_handler(int sig)
{
	unsigned char b = (unsigned char)sig;
	int saved = errno;

	if (write(wake_pipe[1], &b, 1) < 0) {
		/* The pipe is full: a wake-up is pending anyway. */
	}
	errno = saved;
}

void sigwake_catch(int sig, int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = sigwake_handler;
	sa.sa_flags = flags;
	sigaction(sig, &sa, NULL);
}

size_t sigwake_read(unsigned char *sigs, size_t size)
{
	ssize_t r = read(wake_pipe[0], sigs, size);

	return r > 0 ? (size_t)r : 0;
}
