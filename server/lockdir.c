/*
 * lockdir: the directory of a dot-lock, opened for root (see lockdir.h).
 *
 * This file runs as root, in the monitor and in the lock registry's sweep.
 * Nothing here comes from a client: the lock's path was computed by root
 * before the session dropped its privileges (or read back from root's own
 * registry), and the user it names is the account the session runs as.
 * What a user does control is the file system below their home (and any
 * directory they own), and that is why the path is walked this way:
 *
 * One component at a time from "/", each opened with O_NOFOLLOW |
 * O_DIRECTORY relative to the one before, and checked on the descriptor we
 * got, not on a name that may change meanwhile.  A symbolic link is looked
 * at with fstatat(AT_SYMLINK_NOFOLLOW) and followed by hand (readlinkat,
 * then walking its target by the same rules) only when root alone could
 * have put it there.  A directory that changed between our look at its
 * name and the open is judged by what we opened.  ".." is the directory's
 * real parent, as the kernel resolves it, and is checked like any other.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/reason.h"
#include "server/lockdir.h"

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)

/* One walk: where it stands, and what is left. */
struct walk {
	int fd;                  /* the directory reached so far */
	struct stat st;          /* its fstat */
	char rest[PATH_MAX];     /* still to walk, relative to fd */
	size_t pos;              /* where in rest the next component starts */
	char shown[PATH_MAX];    /* the path walked so far, for reasons */
	unsigned links;          /* symbolic links followed */
	uid_t user, me;
	char *reason;
	size_t reasonsize;
};

void lockdir_init(struct lockdir *ld)
{
	memset(ld, 0, sizeof(*ld));
	ld->fd = -1;
}

void lockdir_close(struct lockdir *ld)
{
	if (ld->fd >= 0)
		close(ld->fd);
	ld->fd = -1;
}

struct dotlock_loc lockdir_loc(const struct lockdir *ld, const char *shown)
{
	struct dotlock_loc loc = { ld->fd, ld->name, shown };

	return loc;
}

/* Fails the walk: reason "<where><text>", errno err. */
static int walk_fail(struct walk *w, int err, const char *where, const char *text)
{
	reason_set(w->reason, w->reasonsize, "%s%s", where, text);
	errno = err;
	return -1;
}

/* Fails the walk with errno as it is: "<where>: <strerror>". */
static int walk_errno(struct walk *w, const char *where)
{
	int err = errno;

	reason_set(w->reason, w->reasonsize, "%s: %s", where, strerror(err));
	errno = err;
	return -1;
}

/* Who may own a directory on the way: root (we), or the user. */
static bool owner_ok(const struct walk *w, uid_t uid)
{
	return uid == 0 || uid == w->me || uid == w->user;
}

/* Whether only root (we) can add, rename or remove entries of dir. */
static bool only_root_changes(const struct walk *w, const struct stat *dir)
{
	if (dir->st_uid != 0 && dir->st_uid != w->me)
		return false;
	/* In a sticky directory only an entry's owner (or the directory's)
	 * may rename or remove it. */
	return (dir->st_mode & (S_IWGRP | S_IWOTH)) == 0 || (dir->st_mode & S_ISVTX) != 0;
}

/* "<walked so far>/<name>" into out (cut to fit: for reasons only). */
static const char *show(const struct walk *w, const char *name, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s", w->shown, name);

	if (n < 0)
		out[0] = '\0';
	return out;
}

/* (Re)starts at "/", which must be root's. */
static int walk_from_root(struct walk *w)
{
	int fd = open("/", DIR_FLAGS);

	if (fd < 0)
		return walk_errno(w, "/");
	if (fstat(fd, &w->st) < 0 || (w->st.st_uid != 0 && w->st.st_uid != w->me)) {
		close(fd);
		return walk_fail(w, EPERM, "/", " is not root's");
	}
	if (w->fd >= 0)
		close(w->fd);
	w->fd = fd;
	w->shown[0] = '\0';
	return 0;
}

/* The next component of rest into comp (empty at the end).  Returns false
 * when a component is longer than a name may be. */
static bool next_component(struct walk *w, char *comp, size_t size)
{
	size_t len;

	while (w->rest[w->pos] == '/')
		w->pos++;
	len = strcspn(w->rest + w->pos, "/");
	if (len >= size)
		return false;
	memcpy(comp, w->rest + w->pos, len);
	comp[len] = '\0';
	w->pos += len;
	return true;
}

/* Follows the link comp in the current directory (lst: its lstat) if root
 * alone can have made it: its target, then what was left, becomes the
 * rest of the walk. */
static int follow_link(struct walk *w, const char *comp, const struct stat *lst)
{
	char target[PATH_MAX], spliced[PATH_MAX], where[PATH_MAX];
	ssize_t n;
	int len;

	show(w, comp, where, sizeof(where));
	if (!only_root_changes(w, &w->st))
		return walk_fail(w, EPERM, where,
				 " is a symbolic link in a directory a user can write; not followed");
	if (lst->st_uid != 0 && lst->st_uid != w->me)
		return walk_fail(w, EPERM, where, " is a symbolic link a user owns; not followed");
	if (++w->links > LOCKDIR_MAX_LINKS)
		return walk_fail(w, ELOOP, where, ": too many symbolic links");
	n = readlinkat(w->fd, comp, target, sizeof(target));
	if (n < 0)
		return walk_errno(w, where);
	if ((size_t)n >= sizeof(target) || n == 0)
		return walk_fail(w, ENAMETOOLONG, where, ": unusable link target");
	target[n] = '\0';
	len = snprintf(spliced, sizeof(spliced), "%s/%s", target, w->rest + w->pos);
	if (len < 0 || (size_t)len >= sizeof(spliced))
		return walk_fail(w, ENAMETOOLONG, where, ": path too long");
	memcpy(w->rest, spliced, (size_t)len + 1);
	w->pos = 0;
	return target[0] == '/' ? walk_from_root(w) : 0;
}

/* Enters the directory comp of the current one, if its owner is allowed. */
static int enter_dir(struct walk *w, const char *comp)
{
	char where[PATH_MAX], text[96];
	struct stat st;
	int fd, saved;

	show(w, comp, where, sizeof(where));
	fd = openat(w->fd, comp, DIR_FLAGS);
	if (fd < 0) {
		if (errno == ELOOP)
			/* A link now, where we saw something else a moment ago. */
			return walk_fail(w, EPERM, where, " became a symbolic link; not followed");
		return walk_errno(w, where);
	}
	if (fstat(fd, &st) < 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return walk_errno(w, where);
	}
	if (!owner_ok(w, st.st_uid)) {
		close(fd);
		snprintf(text, sizeof(text), " belongs to uid %lu, neither root nor the user",
			 (unsigned long)st.st_uid);
		return walk_fail(w, EPERM, where, text);
	}
	close(w->fd);
	w->fd = fd;
	w->st = st;
	if (strcmp(comp, "..") == 0) {
		char *slash = strrchr(w->shown, '/');

		if (slash != NULL)
			*slash = '\0';
	} else {
		memcpy(w->shown, where, strlen(where) + 1);   /* both PATH_MAX */
	}
	return 0;
}

/* One component: skipped, followed (a link) or entered. */
static int walk_step(struct walk *w, const char *comp)
{
	char where[PATH_MAX];
	struct stat lst;

	if (strcmp(comp, ".") == 0)
		return 0;
	show(w, comp, where, sizeof(where));
	if (fstatat(w->fd, comp, &lst, AT_SYMLINK_NOFOLLOW) < 0)
		return walk_errno(w, where);
	if (S_ISLNK(lst.st_mode))
		return follow_link(w, comp, &lst);
	if (!S_ISDIR(lst.st_mode))
		return walk_fail(w, ENOTDIR, where, " is not a directory");
	return enter_dir(w, comp);
}

/* Walks the absolute directory path dir.  Returns the descriptor (its
 * fstat in *st_r), or -1 with errno and reason. */
static int walk_dir(const char *dir, uid_t user, struct stat *st_r,
		    char *reason, size_t reasonsize)
{
	struct walk w;
	char comp[NAME_MAX + 1];

	memset(&w, 0, sizeof(w));
	w.fd = -1;
	w.user = user;
	w.me = geteuid();
	w.reason = reason;
	w.reasonsize = reasonsize;
	if (strlen(dir) >= sizeof(w.rest)) {
		reason_set(reason, reasonsize, "path too long");
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(w.rest, dir, strlen(dir) + 1);
	if (walk_from_root(&w) < 0)
		return -1;
	for (;;) {
		if (!next_component(&w, comp, sizeof(comp))) {
			walk_fail(&w, ENAMETOOLONG, w.shown, ": a component is too long");
			break;
		}
		if (comp[0] == '\0') {
			*st_r = w.st;
			return w.fd;
		}
		if (walk_step(&w, comp) < 0)
			break;
	}
	{
		int saved = errno;

		close(w.fd);
		errno = saved;
	}
	return -1;
}

/* Splits the absolute lock_path into its directory (into dir) and the
 * lock's name (into name).  Returns 0, or -1 if it names no file. */
static int split_path(const char *lock_path, char *dir, size_t dirsize,
		      char *name, size_t namesize)
{
	const char *slash = strrchr(lock_path, '/');
	size_t dlen;

	if (lock_path[0] != '/' || slash == NULL)
		return -1;
	dlen = (size_t)(slash - lock_path);
	if (dlen >= dirsize || strlen(slash + 1) >= namesize || slash[1] == '\0' ||
	    strcmp(slash + 1, ".") == 0 || strcmp(slash + 1, "..") == 0)
		return -1;
	memcpy(dir, lock_path, dlen);
	dir[dlen] = '\0';
	memcpy(name, slash + 1, strlen(slash + 1) + 1);
	return 0;
}

int lockdir_open(const char *lock_path, uid_t user, struct lockdir *ld,
		 char *reason, size_t reasonsize)
{
	char dir[PATH_MAX], name[NAME_MAX + 1];
	struct stat st;
	int fd;

	lockdir_init(ld);
	if (split_path(lock_path, dir, sizeof(dir), name, sizeof(name)) < 0) {
		reason_set(reason, reasonsize, "not an absolute path naming a file");
		errno = EINVAL;
		return -1;
	}
	fd = walk_dir(dir, user, &st, reason, reasonsize);
	if (fd < 0)
		return -1;
	ld->fd = fd;
	ld->user = user;
	ld->id.dev = st.st_dev;
	ld->id.ino = st.st_ino;
	memcpy(ld->name, name, sizeof(name));
	return 0;
}

bool lockdir_still_there(const struct lockdir *ld, const char *lock_path,
			 char *reason, size_t reasonsize)
{
	struct lockdir now;
	bool same;

	if (lockdir_open(lock_path, ld->user, &now, reason, reasonsize) < 0)
		return false;
	same = now.id.dev == ld->id.dev && now.id.ino == ld->id.ino &&
	       strcmp(now.name, ld->name) == 0;
	if (!same)
		reason_set(reason, reasonsize, "the path now leads to another directory");
	lockdir_close(&now);
	return same;
}
