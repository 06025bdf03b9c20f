/*
 * dotlock: "<mailbox>.lock" the NFS-safe way (Debian policy §11.6).
 *
 * Runs in the session as the user (spools in writable directories, tests)
 * and, through server/monitor.c, as root for the one lock path the monitor
 * computed itself; it never follows a symlink and never removes a lock that
 * is not stale or not ours.  Every step works on a name relative to a
 * directory descriptor (struct dotlock_loc): the session passes AT_FDCWD
 * and the whole path, the monitor the directory server/lockdir.c opened
 * for it, so that root never looks a path up again in a directory a user
 * can swap.
 *
 * Acquire: write "<pid> <host>\n" to "<lock>.<host>.<pid>.<random>", link()
 * that to the lock name and believe the result only if the unique file then
 * has two links (link() can report failure over NFS although it worked).  A
 * lock held by a process of this host that no longer exists (or is a zombie
 * nobody reaped yet) is stale at once; any lock untouched for
 * DOTLOCK_STALE_SECONDS is stale (liblockfile's rule, as in dotlockfile;
 * procmail waits 1024 s).  A lock file without a
 * host (liblockfile writes only the pid) is judged by its age alone: we
 * cannot tell which host's pid it is.
 *
 * dotlock_clear_at() removes the lock of a session known to be dead, for
 * server/lockreg.c: only the very file (dev/ino) popper made, still holding
 * exactly what it wrote.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/procinfo.h"
#include "lib/safeopen.h"
#include "server/maildrop/dotlock.h"

#define DOTLOCK_PATH_MAX 4096
#define DOTLOCK_HOST_MAX 64          /* enough to tell hosts apart */
#define DOTLOCK_CONTENT_MAX 128      /* "<pid> <host>\n" and then some */
#define DOTLOCK_SLEEP_MIN_MS 50
#define DOTLOCK_SLEEP_MAX_MS 500
#define DOTLOCK_MAX_BREAKS 16        /* stale locks removed in one acquire */

/* Our host name, made safe for a file name and for the lock content. */
static void local_host(char *out, size_t size)
{
	char name[256];
	size_t i;

	if (gethostname(name, sizeof(name)) < 0)
		name[0] = '\0';
	name[sizeof(name) - 1] = '\0';
	if (name[0] == '\0')
		snprintf(name, sizeof(name), "localhost");
	for (i = 0; name[i] != '\0' && i + 1 < size; i++) {
		unsigned char c = (unsigned char)name[i];

		out[i] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '-') ? (char)c : '_';
	}
	out[i] = '\0';
}

double dotlock_now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void dotlock_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Reads the lock file name (relative to dirfd, or a path with AT_FDCWD)
 * without following links or blocking.  Returns the number of bytes read
 * (content NUL-terminated), or -1 with errno (ELOOP: a symlink; EINVAL:
 * not a regular file). */
static ssize_t read_lock_at(int dirfd, const char *name, char *buf, size_t size,
			    struct stat *st_r)
{
	ssize_t n;
	int fd, saved;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, st_r) < 0 || !S_ISREG(st_r->st_mode)) {
		saved = S_ISREG(st_r->st_mode) ? errno : EINVAL;
		close(fd);
		errno = saved;
		return -1;
	}
	do
		n = read(fd, buf, size - 1);
	while (n < 0 && errno == EINTR);
	saved = errno;
	close(fd);
	errno = saved;
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

static ssize_t read_lock(const char *path, char *buf, size_t size, struct stat *st_r)
{
	return read_lock_at(AT_FDCWD, path, buf, size, st_r);
}

/* The place of a lock named by a path alone (the session's way). */
static struct dotlock_loc path_loc(const char *lock_path)
{
	struct dotlock_loc loc = { AT_FDCWD, lock_path, lock_path };

	return loc;
}

/* What dotlock_acquire writes into a lock for pid: "<pid> <host>\n".
 * Returns its length, or -1 if it does not fit. */
static int format_content(pid_t pid, const char *host, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%ld %s\n", (long)pid, host);

	return n < 0 || (size_t)n >= size ? -1 : n;
}

/* Parses "<pid>[ <host>]\n".  *pid_r 0 when there is no pid; host "" when
 * there is no host. */
static void parse_lock(const char *buf, pid_t *pid_r, char *host, size_t hostsize)
{
	const char *p = buf;
	long long pid = 0;
	size_t n = 0;

	*pid_r = 0;
	host[0] = '\0';
	while (*p == ' ')
		p++;
	while (*p >= '0' && *p <= '9') {
		pid = pid * 10 + (*p - '0');
		if (pid > 0x7fffffff)
			return;
		p++;
	}
	*pid_r = (pid_t)pid;
	if (*p != ' ')
		return;
	p++;
	while (p[n] != '\0' && p[n] != '\n' && p[n] != ' ' && n + 1 < hostsize) {
		host[n] = p[n];
		n++;
	}
	host[n] = '\0';
}

/* Decides whether the lock at loc is stale.  On true, *st_r is the lock
 * file we judged (so the caller removes that one and no other). */
static bool lock_is_stale(const struct dotlock_loc *loc, const char *myhost,
			  struct stat *st_r, char *why, size_t whysize)
{
	char buf[DOTLOCK_CONTENT_MAX], host[DOTLOCK_HOST_MAX];
	pid_t pid;
	time_t now = time(NULL);

	if (read_lock_at(loc->dirfd, loc->name, buf, sizeof(buf), st_r) < 0)
		return false;  /* gone (retry at once) or not a file (never ours to break) */
	parse_lock(buf, &pid, host, sizeof(host));
	/* A zombie counts as gone: it can no longer use or remove the lock
	 * (an orphaned session waits for init to reap it). */
	if (pid > 0 && host[0] != '\0' && strcmp(host, myhost) == 0 &&
	    procinfo_gone(pid, 0)) {
		snprintf(why, whysize, "process %ld is gone", (long)pid);
		return true;
	}
	if (st_r->st_mtime < now - DOTLOCK_STALE_SECONDS) {
		snprintf(why, whysize, "not touched for %lld seconds",
			 (long long)(now - st_r->st_mtime));
		return true;
	}
	return false;
}

/* Removes the stale lock if it is still the very file we judged (two
 * agents breaking the same stale lock must not remove each other's fresh
 * one).  Returns true when it was removed. */
static bool break_lock(const struct dotlock_loc *loc, const struct stat *judged, const char *why)
{
	struct stat now;

	if (fstatat(loc->dirfd, loc->name, &now, AT_SYMLINK_NOFOLLOW) < 0 ||
	    now.st_dev != judged->st_dev || now.st_ino != judged->st_ino)
		return false;
	if (unlinkat(loc->dirfd, loc->name, 0) < 0) {
		log_warning("cannot remove stale lock %s (%s): %s", loc->path, why,
			    strerror(errno));
		return false;
	}
	log_notice("removed stale lock %s (%s)", loc->path, why);
	return true;
}

/* Writes the unique file uniq (a name in loc's directory) holding
 * content; *made_r is the file we created.  Returns 0, or -1 with reason
 * (and no file left). */
static int write_unique(const struct dotlock_loc *loc, const char *uniq, const char *content,
			size_t clen, struct stat *made_r, char *reason, size_t reasonsize)
{
	int fd, saved;

	fd = openat(loc->dirfd, uniq, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(reason, reasonsize, "create %s: %s", uniq, strerror(errno));
		return -1;
	}
	if (fstat(fd, made_r) < 0 || safe_write_all(fd, content, clen) < 0) {
		saved = errno;
		close(fd);
		unlinkat(loc->dirfd, uniq, 0);
		snprintf(reason, reasonsize, "write %s: %s", uniq, strerror(saved));
		return -1;
	}
	if (close(fd) < 0) {
		saved = errno;
		unlinkat(loc->dirfd, uniq, 0);
		snprintf(reason, reasonsize, "write %s: %s", uniq, strerror(saved));
		return -1;
	}
	return 0;
}

/* One attempt with the link() method.  Returns DOTLOCK_OK (*id_r, if not
 * NULL, is the lock file: the one we wrote), DOTLOCK_BUSY, or
 * DOTLOCK_ERROR with reason. */
static enum dotlock_result try_link(const struct dotlock_loc *loc, const char *uniq,
				    const char *content, size_t clen, struct dotlock_id *id_r,
				    char *reason, size_t reasonsize)
{
	struct stat made, st;
	int linked, saved;

	if (write_unique(loc, uniq, content, clen, &made, reason, reasonsize) < 0)
		return DOTLOCK_ERROR;
	linked = linkat(loc->dirfd, uniq, loc->dirfd, loc->name, 0);
	saved = errno;
	if (fstatat(loc->dirfd, uniq, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_nlink == 2 &&
	    st.st_dev == made.st_dev && st.st_ino == made.st_ino) {
		unlinkat(loc->dirfd, uniq, 0);
		if (id_r != NULL) {
			id_r->dev = made.st_dev;
			id_r->ino = made.st_ino;
		}
		return DOTLOCK_OK;
	}
	unlinkat(loc->dirfd, uniq, 0);
	if (linked == 0 || saved == EEXIST)
		return DOTLOCK_BUSY;
	snprintf(reason, reasonsize, "link %s: %s", loc->path, strerror(saved));
	return DOTLOCK_ERROR;
}

enum dotlock_result dotlock_acquire_at(const struct dotlock_loc *loc, pid_t pid,
				       unsigned wait_seconds, struct dotlock_id *id_r,
				       char *reason, size_t reasonsize)
{
	char host[DOTLOCK_HOST_MAX], uniq[DOTLOCK_PATH_MAX], content[DOTLOCK_CONTENT_MAX];
	double deadline = dotlock_now_mono() + wait_seconds, left;
	unsigned pause_ms = DOTLOCK_SLEEP_MIN_MS, rnd = 0, breaks = 0;
	int n, clen;

	local_host(host, sizeof(host));
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
		rnd = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
	n = snprintf(uniq, sizeof(uniq), "%s.%s.%ld.%08x", loc->name, host, (long)pid, rnd);
	clen = format_content(pid, host, content, sizeof(content));
	if (n < 0 || (size_t)n >= sizeof(uniq) || clen < 0) {
		snprintf(reason, reasonsize, "lock path too long");
		return DOTLOCK_ERROR;
	}
	for (;;) {
		enum dotlock_result r;
		struct stat judged;
		char why[96];

		r = try_link(loc, uniq, content, (size_t)clen, id_r, reason, reasonsize);
		if (r != DOTLOCK_BUSY)
			return r;
		/* A removed stale lock is retried at once; each such pass
		 * removed a file, and breaks are capped anyway. */
		if (breaks < DOTLOCK_MAX_BREAKS &&
		    lock_is_stale(loc, host, &judged, why, sizeof(why)) &&
		    break_lock(loc, &judged, why)) {
			breaks++;
			continue;
		}
		left = deadline - dotlock_now_mono();
		if (left <= 0) {
			snprintf(reason, reasonsize, "%s is held by another process", loc->path);
			return DOTLOCK_BUSY;
		}
		dotlock_sleep_ms(left * 1000 < pause_ms ? (unsigned)(left * 1000) + 1 : pause_ms);
		if (pause_ms < DOTLOCK_SLEEP_MAX_MS)
			pause_ms *= 2;
	}
}

enum dotlock_result dotlock_acquire(const char *lock_path, pid_t pid,
				    unsigned wait_seconds,
				    char *reason, size_t reasonsize)
{
	struct dotlock_loc loc = path_loc(lock_path);

	return dotlock_acquire_at(&loc, pid, wait_seconds, NULL, reason, reasonsize);
}

int dotlock_touch(const char *lock_path)
{
	return utimensat(AT_FDCWD, lock_path, NULL, AT_SYMLINK_NOFOLLOW);
}

int dotlock_touch_at(const struct dotlock_loc *loc, const struct dotlock_id *id)
{
	struct stat st;
	int fd, rc, saved;

	/* Through a descriptor, after checking it is our file: the name may
	 * have been replaced by anything meanwhile, even a hard link to a
	 * file root must not change. */
	fd = openat(loc->dirfd, loc->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP)
			errno = ENOENT;   /* a symlink there: our lock is not */
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_dev != id->dev || st.st_ino != id->ino) {
		close(fd);
		errno = ENOENT;
		return -1;
	}
	rc = futimens(fd, NULL);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int dotlock_release(const char *lock_path, pid_t pid)
{
	char buf[DOTLOCK_CONTENT_MAX], host[DOTLOCK_HOST_MAX], lockhost[DOTLOCK_HOST_MAX];
	struct stat st;
	pid_t owner;

	if (read_lock(lock_path, buf, sizeof(buf), &st) < 0)
		return -1;
	parse_lock(buf, &owner, lockhost, sizeof(lockhost));
	local_host(host, sizeof(host));
	if (owner != pid || strcmp(lockhost, host) != 0) {
		errno = EPERM;
		return -1;
	}
	return unlink(lock_path);
}

enum dotlock_clear dotlock_clear_at(int dirfd, const char *name, pid_t pid,
				    dev_t dev, ino_t ino)
{
	char buf[DOTLOCK_CONTENT_MAX], host[DOTLOCK_HOST_MAX], want[DOTLOCK_CONTENT_MAX];
	struct stat st, now;

	if (read_lock_at(dirfd, name, buf, sizeof(buf), &st) < 0) {
		if (errno == ENOENT)
			return DOTLOCK_ABSENT;
		/* A symlink or a non-file in its place is not what we made. */
		return errno == ELOOP || errno == EINVAL ? DOTLOCK_NOT_OURS : DOTLOCK_CLEAR_FAILED;
	}
	local_host(host, sizeof(host));
	if (st.st_dev != dev || st.st_ino != ino ||
	    format_content(pid, host, want, sizeof(want)) < 0 || strcmp(buf, want) != 0)
		return DOTLOCK_NOT_OURS;
	/* Still the very file we read, right before it goes (as in
	 * break_lock: another agent may have replaced it meanwhile). */
	if (fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? DOTLOCK_ABSENT : DOTLOCK_CLEAR_FAILED;
	if (now.st_dev != dev || now.st_ino != ino)
		return DOTLOCK_NOT_OURS;
	if (unlinkat(dirfd, name, 0) < 0)
		return errno == ENOENT ? DOTLOCK_ABSENT : DOTLOCK_CLEAR_FAILED;
	return DOTLOCK_CLEARED;
}
