/*
 * lockreg: the registry of dot-locks held by monitors (see lockreg.h).
 *
 * This file runs as root: in the monitor (server/monitor.c), which records
 * and forgets its own entry, and in the processes that sweep: inetd mode at
 * the start of each connection (server/main.c), the standalone listener at
 * its start and whenever it reaps a child killed by a signal
 * (server/daemon.c).  Nothing here comes from a client or a session: the
 * registry's path is fixed by the configuration, the registry is root's
 * and private (0700), and its entries are written only by root monitors.
 *
 * Why the registry: a monitor removes its session's lock when the session
 * dies, but if both are killed nobody does, and the agents that deliver
 * mail judge a lock by its age (procmail 1024 s, dotlockfile 300 s; only
 * "dotlockfile -p" and popper itself look at the pid inside).
 *
 * What a sweep removes, and nothing else: the lock of an entry whose monitor
 * and session are both gone (pid absent, a zombie, or a pid reused by a
 * process with another start time), if that lock is still the very file
 * the monitor made (device and inode recorded at the time) in the very
 * directory it made it in (likewise), still holding "<session pid> <host>".
 * The directory is opened by its path the way the monitor did
 * (server/lockdir.c: from "/", following only the links root alone can have
 * made, so an administrator's /var/spool/mail -> ../mail keeps working and
 * a user's link is refused) and then checked against the recorded
 * identity, so a directory swapped since is never acted in; the lock
 * itself is never followed (server/maildrop/dotlock.c: dotlock_clear_at).
 * Two sweeps at once: the second one finds the registry flock()ed and
 * leaves the work to the first.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/procinfo.h"
#include "lib/safeopen.h"
#include "lib/strnum.h"
#include "server/maildrop/dotlock.h"
#include "server/lockdir.h"
#include "server/lockreg.h"

/* Version 2 added the user line (version 1 entries read as damaged). */
#define LOCKREG_MAGIC "popper-lockreg 2"
/* An entry is seven short lines and one path. */
#define LOCKREG_ENTRY_MAX (PATH_MAX + 256)
/* Entry names are pids: at most 10 digits (pid_max is at most 2^22). */
#define LOCKREG_NAME_MAX 10
#define LOCKREG_NAME_BUF 32   /* any "%ld", with room for the "tmp." prefix */
#define LOCKREG_TMP_PREFIX "tmp."
#define LOCKREG_PID_MAX INT32_MAX
/* (uid_t)-1 means "no uid" to the system calls: never an account. */
#define LOCKREG_UID_MAX (UINT32_MAX - 1)
/* Room for a path after log_quote() in a log record. */
#define LOCKREG_SHOWN_MAX 512

int lockreg_dir(const char *state_dir, char *out, size_t size)
{
	int n;

	if (state_dir == NULL || state_dir[0] != '/')
		return -1;
	n = snprintf(out, size, "%s/%s", state_dir, LOCKREG_DIR_NAME);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* ---- the file format ------------------------------------------------- */

int lockreg_format(const struct lockreg_entry *e, char *buf, size_t size)
{
	int n;

	if (e->path[0] != '/' || strchr(e->path, '\n') != NULL)
		return -1;
	n = snprintf(buf, size,
		     LOCKREG_MAGIC "\n"
		     "monitor %ld %" PRIu64 "\n"
		     "session %ld %" PRIu64 "\n"
		     "user %lu\n"
		     "directory %" PRIu64 " %" PRIu64 "\n"
		     "lock %" PRIu64 " %" PRIu64 "\n"
		     "path %s\n",
		     (long)e->monitor, e->monitor_start, (long)e->session, e->session_start,
		     (unsigned long)e->user, e->dir_dev, e->dir_ino, e->lock_dev, e->lock_ino,
		     e->path);
	return n < 0 || (size_t)n >= size ? -1 : n;
}

/* The line starting at *p (up to '\n', which must be there) into line;
 * advances *p past it.  Returns false at the end or for an overlong line. */
static bool next_line(const char **p, char *line, size_t size)
{
	const char *nl = strchr(*p, '\n');
	size_t len;

	if (nl == NULL)
		return false;
	len = (size_t)(nl - *p);
	if (len >= size)
		return false;
	memcpy(line, *p, len);
	line[len] = '\0';
	*p = nl + 1;
	return true;
}

/* "<key> <a> <b>" with two strict decimal numbers, a <= max_a. */
static bool parse_pair(char *line, const char *key, uint64_t max_a,
		       uint64_t *a_r, uint64_t *b_r)
{
	size_t klen = strlen(key);
	char *a, *b;

	if (strncmp(line, key, klen) != 0 || line[klen] != ' ')
		return false;
	a = line + klen + 1;
	b = strchr(a, ' ');
	if (b == NULL)
		return false;
	*b++ = '\0';
	return strnum_parse_u64(a, max_a, a_r) && *a_r > 0 &&
	       strnum_parse_u64(b, UINT64_MAX, b_r);
}

/* "user <uid>" with one strict decimal number. */
static bool parse_user(const char *line, uid_t *uid_r)
{
	uint64_t v;

	if (strncmp(line, "user ", 5) != 0 || !strnum_parse_u64(line + 5, LOCKREG_UID_MAX, &v))
		return false;
	*uid_r = (uid_t)v;
	return true;
}

/* An absolute path naming a file in a directory: not "/", no "." or ".."
 * as the last component, no trailing '/'. */
static bool lock_path_sane(const char *path)
{
	const char *base = strrchr(path, '/');

	if (path[0] != '/' || base == NULL)
		return false;
	base++;
	return base[0] != '\0' && strcmp(base, ".") != 0 && strcmp(base, "..") != 0;
}

int lockreg_parse(const char *buf, size_t len, struct lockreg_entry *e)
{
	char text[LOCKREG_ENTRY_MAX + 1], line[LOCKREG_ENTRY_MAX + 1];
	const char *p = text;
	uint64_t a, b;

	memset(e, 0, sizeof(*e));
	if (len > LOCKREG_ENTRY_MAX || memchr(buf, '\0', len) != NULL)
		return -1;
	memcpy(text, buf, len);
	text[len] = '\0';
	if (!next_line(&p, line, sizeof(line)) || strcmp(line, LOCKREG_MAGIC) != 0)
		return -1;
	if (!next_line(&p, line, sizeof(line)) || !parse_pair(line, "monitor", LOCKREG_PID_MAX, &a, &b))
		return -1;
	e->monitor = (pid_t)a;
	e->monitor_start = b;
	if (!next_line(&p, line, sizeof(line)) || !parse_pair(line, "session", LOCKREG_PID_MAX, &a, &b))
		return -1;
	e->session = (pid_t)a;
	e->session_start = b;
	if (!next_line(&p, line, sizeof(line)) || !parse_user(line, &e->user))
		return -1;
	if (!next_line(&p, line, sizeof(line)) ||
	    !parse_pair(line, "directory", UINT64_MAX, &e->dir_dev, &e->dir_ino))
		return -1;
	if (!next_line(&p, line, sizeof(line)) ||
	    !parse_pair(line, "lock", UINT64_MAX, &e->lock_dev, &e->lock_ino))
		return -1;
	if (!next_line(&p, line, sizeof(line)) || strncmp(line, "path ", 5) != 0 ||
	    strlen(line + 5) >= sizeof(e->path) || !lock_path_sane(line + 5))
		return -1;
	memcpy(e->path, line + 5, strlen(line + 5) + 1);
	return *p == '\0' ? 0 : -1;
}

/* ---- the registry directory ------------------------------------------ */

/* Opens the registry (creating it, mode 0700, when create is set).
 * Returns the descriptor, or -1: errno ENOENT when it does not exist (and
 * was not to be made), else *why_r says why it was refused. */
static int open_registry(const char *regdir, bool create, const char **why_r)
{
	struct stat st;
	bool made = false;
	int fd;

	*why_r = NULL;
	if (create) {
		if (mkdir(regdir, 0700) == 0)
			made = true;
		else if (errno != EEXIST) {
			*why_r = strerror(errno);
			return -1;
		}
	}
	fd = open(regdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP || errno == ENOTDIR)
			*why_r = "a symbolic link or not a directory";
		else if (errno != ENOENT)
			*why_r = strerror(errno);
		return -1;
	}
	if (made && fchmod(fd, 0700) < 0) {
		*why_r = strerror(errno);
	} else if (fstat(fd, &st) < 0) {
		*why_r = strerror(errno);
	} else if (st.st_uid != geteuid()) {
		*why_r = "not owned by root";
	} else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		*why_r = "writable by group or others";
	}
	if (*why_r != NULL) {
		close(fd);
		return -1;
	}
	return fd;
}

static const char *shown(const char *path, char *out, size_t size)
{
	return log_quote(path, strlen(path), out, size);
}

/* ---- the monitor's side ---------------------------------------------- */

/* Writes the entry under name: a temporary name, fsync, rename, so a
 * sweep never reads half an entry.  Returns 0 or -1 with errno. */
static int write_entry(int regfd, const char *name, const char *text, size_t len)
{
	char tmp[sizeof(LOCKREG_TMP_PREFIX) + LOCKREG_NAME_BUF];
	int fd, saved;

	snprintf(tmp, sizeof(tmp), LOCKREG_TMP_PREFIX "%s", name);
	fd = openat(regfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (safe_write_all(fd, text, len) < 0 || fsync(fd) < 0) {
		saved = errno;
		close(fd);
		unlinkat(regfd, tmp, 0);
		errno = saved;
		return -1;
	}
	if (close(fd) < 0 || renameat(regfd, tmp, regfd, name) < 0) {
		saved = errno;
		unlinkat(regfd, tmp, 0);
		errno = saved;
		return -1;
	}
	return fsync(regfd);
}

/* The entry for the calling monitor's lock: the identities the monitor
 * holds, never looked up again by path (the path may lead elsewhere by
 * now).  Returns 0, or -1 if the path cannot be recorded. */
static int describe(const char *lock_path, const struct lockdir *dir,
		    const struct dotlock_id *lock, pid_t session, struct lockreg_entry *e)
{
	size_t len = strlen(lock_path);

	memset(e, 0, sizeof(*e));
	if (!lock_path_sane(lock_path) || len >= sizeof(e->path))
		return -1;
	e->monitor = getpid();
	e->session = session;
	if (procinfo_start_time(e->monitor, &e->monitor_start) < 0)
		e->monitor_start = 0;     /* no /proc: the pid alone will judge */
	if (procinfo_start_time(session, &e->session_start) < 0)
		e->session_start = 0;
	e->user = dir->user;
	e->dir_dev = (uint64_t)dir->id.dev;
	e->dir_ino = (uint64_t)dir->id.ino;
	e->lock_dev = (uint64_t)lock->dev;
	e->lock_ino = (uint64_t)lock->ino;
	memcpy(e->path, lock_path, len + 1);
	return 0;
}

int lockreg_record(const char *regdir, const char *lock_path, const struct lockdir *dir,
		   const struct dotlock_id *lock, pid_t session)
{
	struct lockreg_entry e;
	char text[LOCKREG_ENTRY_MAX], name[LOCKREG_NAME_BUF], where[LOCKREG_SHOWN_MAX];
	const char *why;
	int fd, len, rc;

	if (regdir == NULL)
		return -1;
	if (describe(lock_path, dir, lock, session, &e) < 0 ||
	    (len = lockreg_format(&e, text, sizeof(text))) < 0) {
		log_warning("lock registry: cannot describe the dot-lock %s; not registered",
			    shown(lock_path, where, sizeof(where)));
		return -1;
	}
	fd = open_registry(regdir, true, &why);
	if (fd < 0) {
		log_warning("lock registry %s refused (%s); carrying on without it",
			    shown(regdir, where, sizeof(where)), why != NULL ? why : strerror(errno));
		return -1;
	}
	snprintf(name, sizeof(name), "%ld", (long)e.monitor);
	rc = write_entry(fd, name, text, (size_t)len);
	if (rc < 0)
		log_warning("lock registry: cannot write entry %s: %s", name, strerror(errno));
	close(fd);
	return rc;
}

void lockreg_forget(const char *regdir)
{
	char name[LOCKREG_NAME_BUF];
	const char *why;
	int fd;

	if (regdir == NULL)
		return;
	fd = open_registry(regdir, false, &why);
	if (fd < 0)
		return;   /* nothing was recorded there */
	snprintf(name, sizeof(name), "%ld", (long)getpid());
	if (unlinkat(fd, name, 0) < 0 && errno != ENOENT)
		log_warning("lock registry: cannot remove entry %s: %s", name, strerror(errno));
	close(fd);
}

/* ---- the sweep ------------------------------------------------------- */

static bool all_digits(const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= max)
			return false;
	}
	return i > 0;
}

/* Reads the entry name (bounded, never following a link).  Returns 1 with
 * *e filled, 0 when the entry is gone, -1 when it is damaged.  *st_r is the
 * entry file, so the caller removes that one and no newer one. */
static int read_entry(int regfd, const char *name, struct lockreg_entry *e, struct stat *st_r)
{
	char buf[LOCKREG_ENTRY_MAX + 1];
	ssize_t n;
	int fd;

	fd = openat(regfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, st_r) < 0 || !S_ISREG(st_r->st_mode)) {
		close(fd);
		return -1;
	}
	do
		n = read(fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0 || lockreg_parse(buf, (size_t)n, e) < 0)
		return -1;
	/* The name is the monitor's pid: anything else was not written by
	 * lockreg_record. */
	return strtol(name, NULL, 10) == (long)e->monitor ? 1 : -1;
}

/* Removes the entry name if it is still the file we read. */
static void drop_entry(int regfd, const char *name, const struct stat *read_st,
		       struct lockreg_tally *t)
{
	struct stat now;

	if (fstatat(regfd, name, &now, AT_SYMLINK_NOFOLLOW) < 0 ||
	    now.st_dev != read_st->st_dev || now.st_ino != read_st->st_ino)
		return;
	if (unlinkat(regfd, name, 0) < 0) {
		log_warning("lock registry: cannot remove entry %s: %s", name, strerror(errno));
		return;
	}
	t->entries_dropped++;
}

/* Opens the directory e's lock was made in, by the monitor's rules
 * (server/lockdir.h).  Returns 0, or -1 (logged unless it is gone). */
static int open_lock_dir(const struct lockreg_entry *e, const char *where, struct lockdir *ld)
{
	char why[512];

	if (lockdir_open(e->path, e->user, ld, why, sizeof(why)) == 0) {
		if ((uint64_t)ld->id.dev == e->dir_dev && (uint64_t)ld->id.ino == e->dir_ino)
			return 0;
		log_notice("left the dot-lock %s of a killed session alone: its directory "
			   "is no longer the one the lock was made in", where);
		lockdir_close(ld);
		return -1;
	}
	if (errno == EPERM || errno == ELOOP)
		log_notice("left the dot-lock %s of a killed session alone: %s", where, why);
	else if (errno != ENOENT)
		log_warning("cannot check the dot-lock %s of a killed session: %s", where, why);
	return -1;
}

/* Removes the lock of the dead session of e, if it is still popper's. */
static void clear_lock(const struct lockreg_entry *e, struct lockreg_tally *t)
{
	char where[LOCKREG_SHOWN_MAX];
	struct lockdir ld;

	shown(e->path, where, sizeof(where));
	if (open_lock_dir(e, where, &ld) < 0)
		return;
	switch (dotlock_clear_at(ld.fd, ld.name, e->session, (dev_t)e->lock_dev, (ino_t)e->lock_ino)) {
	case DOTLOCK_CLEARED:
		log_notice("removed the dot-lock %s of a killed session (session %ld, monitor %ld)",
			   where, (long)e->session, (long)e->monitor);
		t->locks_removed++;
		break;
	case DOTLOCK_ABSENT:
		break;   /* released or broken meanwhile: nothing to do */
	case DOTLOCK_NOT_OURS:
		log_notice("left the dot-lock %s alone: it is no longer the one the killed "
			   "session %ld held", where, (long)e->session);
		break;
	case DOTLOCK_CLEAR_FAILED:
		log_warning("cannot remove the dot-lock %s of a killed session: %s",
			    where, strerror(errno));
		break;
	}
	lockdir_close(&ld);
}

/* One entry: leave it while its monitor or session runs, else clean up. */
static void sweep_entry(int regfd, const char *name, struct lockreg_tally *t)
{
	struct lockreg_entry e;
	struct stat st;
	int r = read_entry(regfd, name, &e, &st);

	if (r == 0)
		return;
	if (r < 0) {
		log_warning("lock registry: damaged entry %s removed", name);
		if (unlinkat(regfd, name, 0) == 0)
			t->entries_dropped++;
		return;
	}
	if (!procinfo_gone(e.monitor, e.monitor_start))
		return;   /* the monitor looks after its lock */
	if (!procinfo_gone(e.session, e.session_start)) {
		/* The session still works under its fcntl lock; its lock
		 * names a live pid.  Look again later. */
		t->waiting++;
		return;
	}
	clear_lock(&e, t);
	drop_entry(regfd, name, &st, t);
}

/* A temporary entry left by a monitor killed while writing it. */
static void sweep_tmp(int regfd, const char *name)
{
	const char *digits = name + strlen(LOCKREG_TMP_PREFIX);

	if (all_digits(digits, LOCKREG_NAME_MAX) &&
	    procinfo_gone((pid_t)strtol(digits, NULL, 10), 0))
		unlinkat(regfd, name, 0);
}

void lockreg_sweep(const char *regdir, struct lockreg_tally *tally_r)
{
	struct lockreg_tally t = { 0, 0, 0 };
	char where[LOCKREG_SHOWN_MAX];
	const char *why;
	struct dirent *de;
	unsigned seen = 0;
	int regfd, dfd;
	DIR *d;

	if (tally_r != NULL)
		*tally_r = t;
	if (regdir == NULL)
		return;
	regfd = open_registry(regdir, false, &why);
	if (regfd < 0) {
		if (why != NULL)
			log_warning("lock registry %s refused (%s); carrying on without it",
				    shown(regdir, where, sizeof(where)), why);
		return;
	}
	/* Another process is sweeping: it will do the same work. */
	if (flock(regfd, LOCK_EX | LOCK_NB) < 0) {
		close(regfd);
		return;
	}
	dfd = fcntl(regfd, F_DUPFD_CLOEXEC, 0);
	d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (d == NULL) {
		if (dfd >= 0)
			close(dfd);
		log_warning("lock registry %s: cannot list it: %s",
			    shown(regdir, where, sizeof(where)), strerror(errno));
		close(regfd);
		return;
	}
	while (seen < LOCKREG_SWEEP_MAX && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		seen++;
		if (all_digits(de->d_name, LOCKREG_NAME_MAX))
			sweep_entry(regfd, de->d_name, &t);
		else if (strncmp(de->d_name, LOCKREG_TMP_PREFIX, strlen(LOCKREG_TMP_PREFIX)) == 0)
			sweep_tmp(regfd, de->d_name);
	}
	closedir(d);
	close(regfd);   /* lets go of the flock */
	if (tally_r != NULL)
		*tally_r = t;
}

void lockreg_sweep_state_dir(const char *state_dir, struct lockreg_tally *tally_r)
{
	char regdir[PATH_MAX];

	if (tally_r != NULL)
		memset(tally_r, 0, sizeof(*tally_r));
	if (geteuid() != 0 || lockreg_dir(state_dir, regdir, sizeof(regdir)) < 0)
		return;
	lockreg_sweep(regdir, tally_r);
}
