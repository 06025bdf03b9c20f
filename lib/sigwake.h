/*
 * sigwake: the self-pipe through which a signal wakes a poll() loop.
 *
 * The handler only writes the signal number into a non-blocking pipe; the
 * loop polls sigwake_fd() and handles the signals it reads back in its own
 * context.  Used by the standalone listener and by the monitor, each in its
 * own process (a child closes its parent's pipe before opening its own),
 * both root.
 */
#ifndef POPPER_SIGWAKE_H
#define POPPER_SIGWAKE_H

#include <sys/types.h>

/* Creates the pipe (non-blocking, close-on-exec).  Returns 0 or -1 with errno. */
int sigwake_open(void);
/* Closes the pipe (a forked child that will not use it). */
void sigwake_close(void);
/* The read end, to poll for POLLIN. */
int sigwake_fd(void);
/* The signal handler to install with sigaction: async-signal-safe, keeps errno. */
void sigwake_handler(int sig);
/* Routes sig to the pipe: sigaction with sigwake_handler, an empty mask and
 * flags (SA_RESTART, SA_NOCLDSTOP ...). */
void sigwake_catch(int sig, int flags);
/* Reads pending signal numbers into sigs (at most size).  Returns how many
 * were read (0 when none). */
size_t sigwake_read(unsigned char *sigs, size_t size);

#endif
