/*
 * spoolpath: where a user's maildrop and private state directory live.
 *
 * The maildrop path follows Qpopper's genpath rules (spool-dir, hash-spool
 * 1 and 2, home-dir-mail) plus popper's virtual users.  The state directory
 * holds what Qpopper kept beside the spool (UID state, the update journal),
 * so the spool directory itself never needs to be writable by the session.
 *
 * This file runs as root, in the session process at login.
 * spoolpath_state_dir() runs before the privilege drop: it creates
 * <state-dir>/<name> (or <state-dir>/virtual/<name>) and hands it to the
 * account the session will run as.  Every step below state-dir works on
 * directory descriptors opened with O_NOFOLLOW, so a symlink planted at any
 * level is refused instead of followed, and an existing directory is used
 * only if it already belongs to that account (never "fixed" by a chown).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "lib/reason.h"
#include "lib/username.h"
#include "server/spoolpath.h"

/* Qpopper hashes at most this many leading characters (genpath.c; the
 * "maida" -> 'o' example of its sample configuration needs all five). */
#define HASH1_CHARS 5

/* Depth of the state-dir path we are willing to create (components). */
#define STATE_MAX_COMPONENTS 32

char spoolpath_hash1(const char *name)
{
	unsigned sum = 0;
	size_t i;

	for (i = 0; i < HASH1_CHARS && name[i] != '\0'; i++)
		sum += (unsigned char)name[i];
	return (char)('a' + sum % 26);
}

/* snprintf into path; -1 if it does not fit. */
static int fmt_path(char *path, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fmt_path(char *path, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (size == 0)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(path, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size) {
		path[0] = '\0';
		return -1;
	}
	return 0;
}

int spoolpath_maildrop(const struct settings *s, const struct auth_user *u,
		       char *path, size_t size)
{
	const char *name = u->name;

	/* The name becomes a path component: the one user-name rule keeps
	 * '/', ".." and control characters out, whatever the caller did. */
	if (!username_valid(name)) {
		if (size > 0)
			path[0] = '\0';
		return -1;
	}
	if (u->is_virtual)
		return fmt_path(path, size, "%s/%s", s->virtual_spool_dir, name);
	if (s->home_dir_mail != NULL && s->home_dir_mail[0] != '\0') {
		if (u->home[0] == '\0') {
			if (size > 0)
				path[0] = '\0';
			return -1;
		}
		return fmt_path(path, size, "%s/%s", u->home, s->home_dir_mail);
	}
	switch (s->hash_spool) {
	case 1:
		return fmt_path(path, size, "%s/%c/%s", s->spool_dir, spoolpath_hash1(name), name);
	case 2:
		/* First and second letter; a one-letter name repeats it. */
		return fmt_path(path, size, "%s/%c/%c/%s", s->spool_dir, name[0],
				name[1] != '\0' ? name[1] : name[0], name);
	default:
		return fmt_path(path, size, "%s/%s", s->spool_dir, name);
	}
}

/* Checks a directory we are about to trust: owned by `owner`, not writable
 * by group or others.  Returns NULL or the problem. */
static const char *dir_problem(const struct stat *st, uid_t owner)
{
	if (!S_ISDIR(st->st_mode))
		return "not a directory";
	if (st->st_uid != owner)
		return "owned by the wrong account";
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0)
		return "writable by group or others";
	return NULL;
}

/* Creates the missing components of the absolute path dir (mode 0755, owned
 * by whoever we are: root at run time), the way "mkdir -p" would.  Existing
 * parents may be symlinks (an administrator's /var/lib -> /srv/lib is
 * fine); the state directory itself is checked by the caller. */
static int make_parents(const char *dir, char *reason, size_t reasonsize)
{
	char buf[PATH_MAX];
	size_t len = strlen(dir), i;
	unsigned components = 0;

	if (dir[0] != '/' || len >= sizeof(buf)) {
		reason_set(reason, reasonsize, "state-dir must be an absolute path");
		return -1;
	}
	memcpy(buf, dir, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		if (buf[i - 1] == '/')
			continue;   /* "//" */
		if (++components > STATE_MAX_COMPONENTS) {
			reason_set(reason, reasonsize, "state-dir has too many components");
			return -1;
		}
		buf[i] = '\0';
		if (mkdir(buf, 0755) == 0) {
			/* The umask (077 in popper) must not make the
			 * directories above the per-user ones unsearchable. */
			if (chmod(buf, 0755) < 0) {
				reason_set(reason, reasonsize, "chmod %s: %s", buf, strerror(errno));
				return -1;
			}
		} else if (errno != EEXIST) {
			reason_set(reason, reasonsize, "mkdir %s: %s", buf, strerror(errno));
			return -1;
		}
		if (i < len)
			buf[i] = '/';
	}
	return 0;
}

/* Whether the directory open on fd has no entries besides . and .. */
static bool dir_empty(int fd)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *e;
	bool empty = true;
	DIR *d;

	if (dfd < 0)
		return false;
	d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return false;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			empty = false;
			break;
		}
	}
	closedir(d);
	return empty;
}

/* Opens (creating if missing, mode `mode`) the directory name below dirfd
 * without following a symlink.  A new directory gets `mode` exactly (the
 * umask is undone with fchmod).  *created_r tells whether we made it. */
static int open_subdir(int dirfd, const char *name, mode_t mode, bool *created_r,
		       char *reason, size_t reasonsize)
{
	int fd;

	*created_r = false;
	if (mkdirat(dirfd, name, 0700) == 0) {
		*created_r = true;
	} else if (errno != EEXIST) {
		reason_set(reason, reasonsize, "mkdir %s: %s", name, strerror(errno));
		return -1;
	}
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP || errno == ENOTDIR) {
			reason_set(reason, reasonsize, "%s is a symbolic link or not a directory", name);
			return -1;
		}
		reason_set(reason, reasonsize, "open %s: %s", name, strerror(errno));
		return -1;
	}
	if (*created_r && fchmod(fd, mode) < 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		reason_set(reason, reasonsize, "chmod %s: %s", name, strerror(errno));
		return -1;
	}
	return fd;
}

/* Opens state-dir itself: no symlink, owned by us (root at run time), and
 * no one else may write in it, or they could plant entries for others.
 * Returns the descriptor or -1 with reason. */
static int open_state_top(const char *state_dir, uid_t me, char *reason, size_t reasonsize)
{
	const char *problem;
	struct stat st;
	int fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ELOOP || errno == ENOTDIR) {
			reason_set(reason, reasonsize, "%s is a symbolic link or not a directory",
				   state_dir);
			return -1;
		}
		reason_set(reason, reasonsize, "open %s: %s", state_dir, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		reason_set(reason, reasonsize, "stat %s: %s", state_dir, strerror(errno));
		close(fd);
		return -1;
	}
	if ((problem = dir_problem(&st, me)) != NULL) {
		reason_set(reason, reasonsize, "%s: %s", state_dir, problem);
		close(fd);
		return -1;
	}
	return fd;
}

/* Opens (creating) <state-dir>/virtual below topfd: ours, not writable by
 * others, searchable by the accounts below it.  Returns the descriptor or
 * -1 with reason. */
static int open_virtual(int topfd, const char *state_dir, uid_t me,
			char *reason, size_t reasonsize)
{
	const char *problem;
	struct stat st;
	bool created;
	int fd = open_subdir(topfd, "virtual", 0755, &created, reason, reasonsize);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0) {
		reason_set(reason, reasonsize, "stat %s/virtual: %s", state_dir, strerror(errno));
	} else if ((problem = dir_problem(&st, me)) != NULL) {
		reason_set(reason, reasonsize, "%s/virtual: %s", state_dir, problem);
	} else if ((st.st_mode & 0111) != 0111 && fchmod(fd, 0755) < 0) {
		/* A session killed between the mkdir (0700) and the chmod
		 * left it unsearchable for the accounts below it: finish. */
		reason_set(reason, reasonsize, "chmod %s/virtual: %s", state_dir, strerror(errno));
	} else {
		return fd;
	}
	close(fd);
	return -1;
}

/* Creates or checks the user's own directory u->name below parentfd (its
 * path is dir, for messages): handed to the user when we made it, refused
 * when someone else owns it, tightened to 0700.  Returns 0 or -1 with
 * reason. */
static int make_user_dir(int parentfd, const struct auth_user *u, const char *dir, bool root,
			 char *reason, size_t reasonsize)
{
	struct stat st;
	bool created;
	int rc = -1, fd = open_subdir(parentfd, u->name, 0700, &created, reason, reasonsize);

	if (fd < 0)
		return -1;
	if (!created && root && u->uid != 0 && fstat(fd, &st) == 0 && st.st_uid == 0 &&
	    (st.st_mode & 07777) == 0700 && dir_empty(fd))
		created = true;   /* ours, killed before the chown: finish the job */
	if (created && root && fchown(fd, u->uid, u->gid) < 0) {
		reason_set(reason, reasonsize, "chown %s: %s", dir, strerror(errno));
	} else if (fstat(fd, &st) < 0) {
		reason_set(reason, reasonsize, "stat %s: %s", dir, strerror(errno));
	} else if (st.st_uid != u->uid) {
		/* Someone else's directory (or one left by a renumbered
		 * account): refuse rather than hand it over. */
		reason_set(reason, reasonsize, "%s: owned by uid %lu, not %lu", dir,
			   (unsigned long)st.st_uid, (unsigned long)u->uid);
	} else if ((st.st_mode & 077) != 0 && fchmod(fd, 0700) < 0) {
		/* Tightening the mode of the right owner's directory is safe;
		 * a private directory others can read is not. */
		reason_set(reason, reasonsize, "chmod %s: %s", dir, strerror(errno));
	} else {
		rc = 0;
	}
	close(fd);
	return rc;
}

int spoolpath_state_dir(const struct settings *s, const struct auth_user *u,
			char *dir, size_t size, char *reason, size_t reasonsize)
{
	uid_t me = geteuid();
	bool root = me == 0;
	int topfd = -1, midfd = -1, rc = -1;

	if (size > 0)
		dir[0] = '\0';
	if (!username_valid(u->name)) {
		reason_set(reason, reasonsize, "invalid user name");
		return -1;
	}
	if (!root && u->uid != me) {
		reason_set(reason, reasonsize, "not root and not running as uid %lu",
			   (unsigned long)u->uid);
		return -1;
	}
	if (u->is_virtual) {
		if (fmt_path(dir, size, "%s/virtual/%s", s->state_dir, u->name) < 0) {
			reason_set(reason, reasonsize, "state directory path is too long");
			return -1;
		}
	} else if (fmt_path(dir, size, "%s/%s", s->state_dir, u->name) < 0) {
		reason_set(reason, reasonsize, "state directory path is too long");
		return -1;
	}

	if (make_parents(s->state_dir, reason, reasonsize) < 0)
		goto out;
	topfd = open_state_top(s->state_dir, me, reason, reasonsize);
	if (topfd < 0)
		goto out;
	midfd = topfd;
	if (u->is_virtual) {
		midfd = open_virtual(topfd, s->state_dir, me, reason, reasonsize);
		if (midfd < 0)
			goto out;
	}
	rc = make_user_dir(midfd, u, dir, root, reason, reasonsize);
out:
	if (midfd >= 0 && midfd != topfd)
		close(midfd);
	if (topfd >= 0)
		close(topfd);
	if (rc < 0 && size > 0)
		dir[0] = '\0';
	return rc;
}
