/*
 * fileops: file helpers shared by the mbox store and temp-drop mode
 * (contract in fileops.h).  Calls only lib/ and uidstore's hash.  Runs as
 * the user, after the privilege drop.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "lib/safeopen.h"
#include "server/maildrop/fileops.h"
#include "server/maildrop/uidstore.h"

char *fileops_dup_or_null(const char *s, bool *fail)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		*fail = true;
	return d;
}

void fileops_block_signals(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGPIPE);
	sigaddset(&set, SIGALRM);
	sigprocmask(SIG_BLOCK, &set, old);
}

int fileops_copy(int src, uint64_t soff, int dst, uint64_t doff, uint64_t len,
		 unsigned char *buf, struct uidstore_hasher *hs,
		 fileops_hook hook, const char *stepname)
{
	uint64_t done = 0;

	while (done < len) {
		size_t n = (size_t)fileops_min64(len - done, FILEOPS_BLOCK);

		if (safe_pread_all(src, buf, n, (off_t)(soff + done)) < 0)
			return -1;
		if (hs != NULL)
			uidstore_hash_update(hs, buf, n);
		if (safe_pwrite_all(dst, buf, n, (off_t)(doff + done)) < 0)
			return -1;
		done += n;
		if (hook != NULL && *hook != NULL)
			(*hook)(stepname);
	}
	return 0;
}

int fileops_hash(int fd, uint64_t off, uint64_t len, uint64_t seed, unsigned char *buf,
		 uint64_t *hash_r)
{
	struct uidstore_hasher hs;
	uint64_t done = 0;

	uidstore_hash_init(&hs, seed);
	while (done < len) {
		size_t n = (size_t)fileops_min64(len - done, FILEOPS_BLOCK);

		if (safe_pread_all(fd, buf, n, (off_t)(off + done)) < 0)
			return -1;
		uidstore_hash_update(&hs, buf, n);
		done += n;
	}
	*hash_r = uidstore_hash_final(&hs);
	return 0;
}
