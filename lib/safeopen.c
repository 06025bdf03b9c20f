/*
 * safeopen: opening files in places a user can influence (spools, the state
 * directory, option files, databases) without being tricked.
 *
 * The checks are made on the descriptor we actually got (fstat), never on a
 * name looked up earlier, so there is no window for a swap: O_NOFOLLOW
 * refuses a symlink in the last component, O_NONBLOCK keeps a FIFO from
 * hanging us, and the fstat then insists on a regular file with one link
 * (a hard link to someone else's file is as dangerous as a symlink).
 * O_TRUNC is applied only after the checks pass, so a refused file is never
 * truncated.  Also the small loops every module needs around write/pread.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "lib/safeopen.h"

static void set_why(const char **why_r, const char *why)
{
	if (why_r != NULL)
		*why_r = why;
}

/* Checks the stat of an open descriptor against the fixed rules and the
 * caller's rules.  Returns 0, or -1 with errno and *why_r set. */
static int check_stat(const struct stat *st, const struct safeopen_rules *rules,
		      const char **why_r)
{
	if (!S_ISREG(st->st_mode)) {
		set_why(why_r, "not a regular file");
		errno = EINVAL;
		return -1;
	}
	if (st->st_nlink != 1) {
		set_why(why_r, st->st_nlink == 0 ? "file was removed" : "file has several hard links");
		errno = EINVAL;
		return -1;
	}
	if (rules == NULL)
		return 0;
	if (rules->check_owner && st->st_uid != rules->owner) {
		set_why(why_r, "file has the wrong owner");
		errno = EPERM;
		return -1;
	}
	if (rules->no_group_write && (st->st_mode & S_IWGRP) != 0) {
		set_why(why_r, "file is group-writable");
		errno = EPERM;
		return -1;
	}
	if (rules->no_group_access && (st->st_mode & S_IRWXG) != 0) {
		set_why(why_r, "file is accessible by its group");
		errno = EPERM;
		return -1;
	}
	if (rules->no_other_access && (st->st_mode & S_IRWXO) != 0) {
		set_why(why_r, "file is accessible by others");
		errno = EPERM;
		return -1;
	}
	return 0;
}

int safe_openat(int dirfd, const char *name, int flags, mode_t mode,
		const struct safeopen_rules *rules, struct stat *st_r,
		const char **why_r)
{
	bool want_trunc = (flags & O_TRUNC) != 0;
	bool want_nonblock = (flags & O_NONBLOCK) != 0;
	struct stat st;
	int fd, fl, saved;

	set_why(why_r, NULL);
	fd = openat(dirfd, name,
		    (flags & ~O_TRUNC) | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
		    mode);
	if (fd < 0) {
		saved = errno;
		if (saved == ELOOP) {
			set_why(why_r, "file is a symbolic link");
		} else if (saved == EISDIR || saved == ENXIO) {
			/* EISDIR: a directory opened for writing; ENXIO: a FIFO
			 * without reader or a socket.  Both are "not a regular
			 * file" in our contract. */
			set_why(why_r, "not a regular file");
			saved = EINVAL;
		} else {
			set_why(why_r, "cannot open file");
		}
		errno = saved;
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		set_why(why_r, "cannot stat file");
		goto fail;
	}
	if (st_r != NULL)
		*st_r = st;
	if (check_stat(&st, rules, why_r) < 0)
		goto fail;
	if (!want_nonblock) {
		fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
			set_why(why_r, "cannot clear O_NONBLOCK");
			goto fail;
		}
	}
	if (want_trunc && st.st_size != 0) {
		if (ftruncate(fd, 0) < 0) {
			set_why(why_r, "cannot truncate file");
			goto fail;
		}
		if (st_r != NULL)
			st_r->st_size = 0;
	}
	return fd;

fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int safe_open(const char *path, int flags, mode_t mode,
	      const struct safeopen_rules *rules, struct stat *st_r,
	      const char **why_r)
{
	return safe_openat(AT_FDCWD, path, flags, mode, rules, st_r, why_r);
}

char *safe_read_small_file(const char *path, size_t max_size,
			   const struct safeopen_rules *rules, size_t *len_r,
			   const char **why_r)
{
	struct stat st;
	char *buf = NULL, *nbuf;
	size_t cap, len = 0;
	int fd, saved;

	if (max_size > (size_t)-1 / 2)
		max_size = (size_t)-1 / 2;   /* keeps max_size + 1 and doubling safe */
	fd = safe_open(path, O_RDONLY, 0, rules, &st, why_r);
	if (fd < 0)
		return NULL;
	if (st.st_size < 0 || (unsigned long long)st.st_size > max_size) {
		set_why(why_r, "file is too large");
		errno = EFBIG;
		goto fail;
	}
	/* Start with the size fstat gave, but do not trust it: the file may
	 * grow while we read (or be a /proc-like file that says 0).  The
	 * buffer grows up to max_size + 1, and reaching that means too big. */
	cap = (size_t)st.st_size + 1;
	if (cap < 256)
		cap = 256;
	if (cap > max_size + 1)
		cap = max_size + 1;
	buf = malloc(cap + 1);
	if (buf == NULL) {
		set_why(why_r, "out of memory");
		goto fail;
	}
	for (;;) {
		ssize_t n;

		if (len == cap) {
			size_t ncap;

			if (cap >= max_size + 1) {
				set_why(why_r, "file is too large");
				errno = EFBIG;
				goto fail;
			}
			ncap = cap > (max_size + 1) / 2 ? max_size + 1 : cap * 2;
			nbuf = realloc(buf, ncap + 1);
			if (nbuf == NULL) {
				set_why(why_r, "out of memory");
				goto fail;
			}
			buf = nbuf;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			set_why(why_r, "read error");
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max_size) {
		set_why(why_r, "file is too large");
		errno = EFBIG;
		goto fail;
	}
	close(fd);
	buf[len] = '\0';
	if (len_r != NULL)
		*len_r = len;
	return buf;

fail:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return NULL;
}

int safe_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			/* No progress and no error: would loop forever. */
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int safe_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

int safe_pread_all(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			/* The caller expected len bytes: a short file is an
			 * inconsistency, not a normal end. */
			errno = EIO;
			return -1;
		}
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

int safe_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret, saved;

	if (fd < 0)
		return -1;
	ret = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return ret;
}
