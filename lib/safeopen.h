/*
 * safeopen: opening files that someone else may have planted.
 *
 * Every file popper opens in a directory a user can influence (spools, the
 * state directory, option files, databases) goes through here: never follow
 * a symlink, never block on a FIFO, accept only a regular file with a single
 * link, and optionally check the owner and that group/other cannot write.
 */
#ifndef POPPER_SAFEOPEN_H
#define POPPER_SAFEOPEN_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

struct safeopen_rules {
	bool check_owner;      /* st_uid must equal owner */
	uid_t owner;
	bool no_group_write;   /* refuse S_IWGRP */
	bool no_other_access;  /* refuse any S_IRWXO bit */
	bool no_group_access;  /* refuse any S_IRWXG bit (0600 files) */
};

/* Opens path with flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
 * then fstat()s it and verifies: regular file, st_nlink == 1, and the rules
 * (rules may be NULL).  O_NONBLOCK is cleared again on success.  With
 * O_CREAT, mode is used for a new file.  Returns the fd, or -1 with errno set
 * (ELOOP for a symlink, EINVAL for "not a regular file / several links",
 * EPERM for an owner or mode violation) and *why_r set to a short static
 * reason for the log (may be NULL).  *st_r receives the stat (may be NULL). */
int safe_open(const char *path, int flags, mode_t mode,
	      const struct safeopen_rules *rules, struct stat *st_r,
	      const char **why_r);

/* The same relative to a directory fd (openat). */
int safe_openat(int dirfd, const char *name, int flags, mode_t mode,
		const struct safeopen_rules *rules, struct stat *st_r,
		const char **why_r);

/* Reads a whole small file (at most max_size bytes) opened with safe_open
 * rules into a malloc'd NUL-terminated buffer.  Returns NULL with errno set
 * (EFBIG when larger than max_size). */
char *safe_read_small_file(const char *path, size_t max_size,
			   const struct safeopen_rules *rules, size_t *len_r,
			   const char **why_r);

/* Writes all len bytes at the current offset, retrying on EINTR and short
 * writes.  Returns 0 or -1 with errno. */
int safe_write_all(int fd, const void *buf, size_t len);
/* pwrite/pread variants that loop until done (pread_all: 0 bytes = EOF → -1, errno EIO). */
int safe_pwrite_all(int fd, const void *buf, size_t len, off_t off);
int safe_pread_all(int fd, void *buf, size_t len, off_t off);

/* Makes the entries of directory dir durable (open it, fsync it): after a
 * create, rename or unlink in it.  Returns 0 or -1 with fsync's or open's
 * errno. */
int safe_fsync_dir(const char *dir);

#endif
