/*
 * userdb_rule: the one rule that decides whether the user database may be
 * used (auth/userdb/userdb.h, "The one rule"), for every program that opens
 * it: the server when it looks a user up and when it decides whether the
 * greeting carries an APOP timestamp and CAPA offers CRAM-MD5 and SCRAM;
 * apopdb and popauth for every command.  Before, the server, apopdb and
 * popauth each had a rule of their own, and a file one of them accepted the
 * other refused; now there is this file, and every refusal reads the same
 * wherever it is made.
 *
 * The checks are made on descriptors, never on names looked up earlier:
 * the directory is opened and judged by its fstat, and the file is opened
 * relative to that very directory (openat, O_NOFOLLOW, through safe_openat)
 * and judged by its own fstat, so nothing can be swapped between a check
 * and the use.  Needs no GDBM: the server asks even in a build without it.
 */
#include "config.h"

#include "auth/userdb/userdb.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/userdb/userdb_impl.h"
#include "lib/safeopen.h"

/* A reader needs no read permission on the directory: O_PATH where there is
 * one (the file is opened relative to it all the same). */
#ifdef O_PATH
#define DIR_READER_FLAGS O_PATH
#else
#define DIR_READER_FLAGS O_RDONLY
#endif

bool userdb_owner_ok(uid_t uid, const struct userdb_rules *rules)
{
	return uid == 0 || uid == geteuid() ||
	       (rules != NULL && rules->owner_set && uid == rules->owner_uid);
}

/* The rule on the directory.  Returns NULL or the reason. */
static const char *dir_unsafe(const struct stat *st, const struct userdb_rules *rules)
{
	if (!S_ISDIR(st->st_mode))
		return "not a directory";
	if (!userdb_owner_ok(st->st_uid, rules))
		return "wrong owner";
	/* Sticky or not: a user who may create names there may take the new
	 * copy's or the lock's name, or plant the database when it is
	 * missing. */
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0)
		return "writable by group or others";
	return NULL;
}

/* The rule on the file's owner and mode (safe_openat has judged the rest:
 * symbolic link, type, links).  Returns NULL or the reason. */
static const char *file_unsafe(const struct stat *st, const struct userdb_rules *rules)
{
	bool owner_ok = userdb_owner_ok(st->st_uid, rules);
	bool mode_ok = (st->st_mode & 07777) == 0600;

	if (!owner_ok && !mode_ok)
		return "wrong owner and mode";
	if (!owner_ok)
		return "wrong owner";
	if (!mode_ok)
		return "wrong mode (must be 0600)";
	return NULL;
}

int userdb_dir_open(const char *path, bool for_writing, const struct userdb_rules *rules,
		    char *base_r, struct stat *st_r, char *err, size_t errsize)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	const char *base = slash != NULL ? slash + 1 : path;
	const char *why;
	size_t dlen;
	int fd, e;

	if (slash == NULL) {
		snprintf(dir, sizeof(dir), ".");
	} else {
		dlen = (size_t)(slash - path);
		if (dlen == 0)
			dlen = 1;   /* "/pop.auth" */
		if (dlen >= sizeof(dir)) {
			snprintf(err, errsize, "%.64s...: path too long", path);
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(dir, path, dlen);
		dir[dlen] = '\0';
	}
	/* The writers' names beside it (".NAME.lock" and the takeover's
	 * ".NAME.lock.PID") must fit a file name too. */
	if (base[0] == '\0' || strlen(base) + 24 > NAME_MAX) {
		snprintf(err, errsize, "%s: not a usable file name", path);
		errno = EINVAL;
		return -1;
	}
	snprintf(base_r, NAME_MAX + 1, "%s", base);
	fd = open(dir, (for_writing ? O_RDONLY : DIR_READER_FLAGS) | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		snprintf(err, errsize, "%s: directory %s: %s", path, dir, strerror(e));
		errno = e;
		return -1;
	}
	if (fstat(fd, st_r) != 0) {
		e = errno;
		snprintf(err, errsize, "%s: directory %s: %s", path, dir, strerror(e));
		close(fd);
		errno = e;
		return -1;
	}
	why = dir_unsafe(st_r, rules);
	if (why != NULL) {
		snprintf(err, errsize, "%s: directory %s: %s (owner uid %lu, mode %04o)", path, dir,
			 why, (unsigned long)st_r->st_uid, (unsigned)(st_r->st_mode & 07777));
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

int userdb_file_open(int dirfd, const char *path, const char *base, int oflags,
		     const struct userdb_rules *rules, struct stat *st_r,
		     char *err, size_t errsize)
{
	const char *why = NULL;
	int fd, saved;

	memset(st_r, 0, sizeof(*st_r));
	/* No safeopen rules: owner and mode are judged below, with the
	 * reasons every program gives. */
	fd = safe_openat(dirfd, base, oflags, 0600, NULL, st_r, &why);
	if (fd < 0) {
		saved = errno;
		/* why explains our own refusals; errno says more about the
		 * others (missing, permission...). */
		if (why != NULL && (saved == ELOOP || saved == EINVAL || saved == EPERM)) {
			if (st_r->st_ino != 0)
				snprintf(err, errsize, "%s: %s (owner uid %lu, mode %04o)",
					 path, why, (unsigned long)st_r->st_uid,
					 (unsigned)(st_r->st_mode & 07777));
			else
				snprintf(err, errsize, "%s: %s", path, why);
			saved = EPERM;
		} else {
			snprintf(err, errsize, "%s: %s", path, strerror(saved));
		}
		errno = saved;
		return -1;
	}
	why = file_unsafe(st_r, rules);
	if (why != NULL) {
		snprintf(err, errsize, "%s: %s (owner uid %lu, mode %04o)", path, why,
			 (unsigned long)st_r->st_uid, (unsigned)(st_r->st_mode & 07777));
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

int userdb_check(const char *path, const struct userdb_rules *rules, char *err, size_t errsize)
{
	char base[NAME_MAX + 1];
	struct stat dst, st;
	int dirfd, fd, saved;

	if (path == NULL || path[0] == '\0') {
		snprintf(err, errsize, "no user database configured");
		errno = ENOENT;
		return -1;
	}
	if (strlen(path) >= PATH_MAX) {
		snprintf(err, errsize, "%.64s...: path too long", path);
		errno = ENAMETOOLONG;
		return -1;
	}
	dirfd = userdb_dir_open(path, false, rules, base, &dst, err, errsize);
	if (dirfd < 0)
		return -1;
	fd = userdb_file_open(dirfd, path, base, O_RDONLY, rules, &st, err, errsize);
	saved = errno;
	close(dirfd);
	if (fd < 0) {
		errno = saved;
		return -1;
	}
	close(fd);
	return 0;
}
