/*
 * mbox_update: the UPDATE state for mbox, and recovery after a crash in it.
 * Runs as the user, with both mailbox locks held and the catchable signals
 * blocked.
 *
 * The spool keeps its inode: a delivery agent may already have it open and
 * be waiting for our fcntl lock, so renaming a new file over it would lose
 * that mail.  Deleting messages therefore moves the kept bytes after the
 * first deleted message down in place and truncates; nothing is ever
 * written beyond the new end, so the file never grows and a full disk can
 * only stop us before the spool is touched.
 *
 * Crash safety comes from <state_dir>/journal (the temporary drop of
 * temp-drop mode has its own, tempdrop.journal), written and fsynced before
 * the first byte of the spool moves.  It holds a header (spool dev/ino, old
 * and new size, region_off = start of the first deleted message, phase, the
 * hash of the old bytes just past the new end, a checksum) and the old
 * bytes of [region_off, new_size) -- exactly the bytes compaction
 * overwrites.  Phases:
 *
 *   PREPARED   compaction may be partly done; [new_size, old size) and
 *              anything appended later are untouched.  Recovery writes the
 *              saved bytes back: the old mailbox, plus later mail.
 *   COMPACTED  [0, new_size) is the new mailbox; the truncation may or may
 *              not have happened.  File shorter than the old size: it did,
 *              done.  Otherwise the saved tail hash tells: bytes at new_size
 *              still the old ones -> not truncated: truncate if nothing was
 *              appended, and if mail was appended after the crash, undo
 *              instead (write the saved bytes back: old mailbox + new mail).
 *              Moving the new mail down would not survive a second crash in
 *              the middle of the move; undoing is idempotent.
 *
 * Every step (and every recovery step) is idempotent, so a kill at any
 * system call leaves the old message set or the new one, plus mail that
 * arrived meanwhile, exactly once.  mbox_update_hook lets the unit tests stop
 * the process at each step to prove it.  mbox_remove_prefix() reuses the
 * same commit to cut the spool's mail after temp-drop mode copied it away.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/safeopen.h"
#include "server/fileops.h"
#include "server/mbox.h"

#define JOURNAL_MAGIC "POPJRNL1"
#define JOURNAL_VERSION 1
#define JOURNAL_HEADER_SIZE 512     /* one sector: the header is rewritten whole */
#define JOURNAL_CHECKSUM_OFF 88     /* bytes [0, 88) are checksummed */
#define JOURNAL_TAIL_MAX 4096
#define JOURNAL_SEED 0x6a6f75726e616cULL
#define PHASE_PREPARED 1u
#define PHASE_COMPACTED 2u
#define UPDATE_PATH_MAX 4096

void (*mbox_update_hook)(const char *step);

static void step(const char *name)
{
	if (mbox_update_hook != NULL)
		mbox_update_hook(name);
}

struct journal_hdr {
	uint32_t version, phase;
	uint64_t dev, ino, orig_size, new_size, region_off;
	uint64_t tail_len, tail_hash, payload_len, payload_hash;
};

static void encode_hdr(const struct journal_hdr *h, unsigned char *b)
{
	memset(b, 0, JOURNAL_HEADER_SIZE);
	memcpy(b, JOURNAL_MAGIC, 8);
	put32(b + 8, h->version);
	put32(b + 12, h->phase);
	put64(b + 16, h->dev);
	put64(b + 24, h->ino);
	put64(b + 32, h->orig_size);
	put64(b + 40, h->new_size);
	put64(b + 48, h->region_off);
	put64(b + 56, h->tail_len);
	put64(b + 64, h->tail_hash);
	put64(b + 72, h->payload_len);
	put64(b + 80, h->payload_hash);
	put64(b + JOURNAL_CHECKSUM_OFF, uidstore_hash(b, JOURNAL_CHECKSUM_OFF, JOURNAL_SEED));
}

/* Returns true if b holds a header with the right magic and checksum. */
static bool decode_hdr(const unsigned char *b, struct journal_hdr *h)
{
	if (memcmp(b, JOURNAL_MAGIC, 8) != 0 ||
	    get64(b + JOURNAL_CHECKSUM_OFF) != uidstore_hash(b, JOURNAL_CHECKSUM_OFF, JOURNAL_SEED))
		return false;
	h->version = get32(b + 8);
	h->phase = get32(b + 12);
	h->dev = get64(b + 16);
	h->ino = get64(b + 24);
	h->orig_size = get64(b + 32);
	h->new_size = get64(b + 40);
	h->region_off = get64(b + 48);
	h->tail_len = get64(b + 56);
	h->tail_hash = get64(b + 64);
	h->payload_len = get64(b + 72);
	h->payload_hash = get64(b + 80);
	return true;
}

/* True if the header bytes are all zero (a hole or never written). */
static bool header_never_written(const unsigned char *b)
{
	size_t i;

	for (i = 0; i < JOURNAL_HEADER_SIZE; i++)
		if (b[i] != 0)
			return false;
	return true;
}

static int journal_path(const struct mbox *m, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%s", m->state_dir,
			 m->journal_name != NULL ? m->journal_name : MBOX_JOURNAL);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Hash of len bytes of fd at off (len <= JOURNAL_TAIL_MAX). */
static int hash_region(int fd, uint64_t off, uint64_t len, uint64_t *hash_r)
{
	unsigned char buf[JOURNAL_TAIL_MAX];

	if (len > sizeof(buf)) {
		errno = EINVAL;
		return -1;
	}
	if (len > 0 && pread_all(fd, buf, (size_t)len, (off_t)off) < 0)
		return -1;
	*hash_r = uidstore_hash(buf, (size_t)len, JOURNAL_SEED);
	return 0;
}

/* Writes the journal's saved bytes back over the spool and fsyncs it: the
 * spool is then the old mailbox (plus anything appended after it). */
static int restore_payload(int spool, int jfd, const struct journal_hdr *h,
			   unsigned char *buf, const char *stepname)
{
	if (fileops_copy(jfd, JOURNAL_HEADER_SIZE, spool, h->region_off, h->payload_len,
			 buf, NULL, step, stepname) < 0)
		return -1;
	if (fsync(spool) < 0)
		return -1;
	step(stepname);
	return 0;
}

/* Moves a journal that must not be replayed out of the way without
 * touching the spool: journal.KIND.TIME[.N], never replacing a file. */
static void set_aside(const char *jpath, const char *kind, const char *why)
{
	char aside[UPDATE_PATH_MAX];
	long long t = (long long)time(NULL);
	int i;

	for (i = 0; i < 100; i++) {
		int n = i == 0 ? snprintf(aside, sizeof(aside), "%s.%s.%lld", jpath, kind, t) :
			snprintf(aside, sizeof(aside), "%s.%s.%lld.%d", jpath, kind, t, i);

		if (n < 0 || (size_t)n >= sizeof(aside))
			break;
		if (link(jpath, aside) == 0) {
			unlink(jpath);
			log_error("update journal %s %s; moved to %s, mailbox left as it is",
				  jpath, why, aside);
			return;
		}
		if (errno != EEXIST)
			break;
	}
	log_error("update journal %s %s and cannot be moved aside: %s", jpath, why,
		  strerror(errno));
}

/* ---- recovery --------------------------------------------------------------- */

enum maildrop_status mbox_recover(struct mbox *m, char *reason, size_t reasonsize)
{
	struct safeopen_rules rules;
	struct journal_hdr h;
	unsigned char hdr[JOURNAL_HEADER_SIZE], *buf = NULL;
	char jpath[UPDATE_PATH_MAX];
	struct stat jst, sst;
	enum maildrop_status st = MAILDROP_OK;
	const char *why = NULL, *outcome;
	uint64_t hash;
	sigset_t old;
	int jfd, e;

	if (journal_path(m, jpath, sizeof(jpath)) < 0) {
		snprintf(reason, reasonsize, "state directory path too long");
		return MAILDROP_PERM;
	}
	memset(&rules, 0, sizeof(rules));
	rules.check_owner = true;
	rules.owner = geteuid();
	rules.no_group_write = true;
	jfd = safe_open(jpath, O_RDONLY, 0, &rules, &jst, &why);
	if (jfd < 0) {
		e = errno;
		if (e == ENOENT)
			return MAILDROP_OK;
		if (e == ELOOP || e == EINVAL || e == EPERM) {
			set_aside(jpath, "bad", why != NULL ? why : "is unsafe");
			return MAILDROP_OK;
		}
		snprintf(reason, reasonsize, "journal %s: %s", jpath, strerror(e));
		return MAILDROP_TEMP;
	}
	fileops_block_signals(&old);
	if (jst.st_size == 0 ||
	    (jst.st_size >= JOURNAL_HEADER_SIZE && pread_all(jfd, hdr, sizeof(hdr), 0) == 0 &&
	     header_never_written(hdr))) {
		/* Killed while writing the journal: its header comes last, so
		 * the spool was never touched and the journal is just garbage. */
		if (unlink(jpath) < 0 || fsync_dir(m->state_dir) < 0)
			log_warning("cannot remove unfinished journal %s: %s", jpath, strerror(errno));
		step("recover-unlink");
		log_notice("removed the unfinished journal of an update of %s that never started",
			   m->path);
		goto out;
	}
	if (pread_all(jfd, hdr, sizeof(hdr), 0) < 0 || !decode_hdr(hdr, &h) ||
	    h.version != JOURNAL_VERSION ||
	    (h.phase != PHASE_PREPARED && h.phase != PHASE_COMPACTED) ||
	    h.region_off > h.new_size || h.new_size >= h.orig_size ||
	    h.payload_len != h.new_size - h.region_off ||
	    h.tail_len != min64(JOURNAL_TAIL_MAX, h.orig_size - h.new_size) ||
	    (uint64_t)jst.st_size != JOURNAL_HEADER_SIZE + h.payload_len) {
		set_aside(jpath, "bad", "is incomplete or damaged");
		goto out;
	}
	if (m->fd < 0 || fstat(m->fd, &sst) < 0 || (uint64_t)sst.st_dev != h.dev ||
	    (uint64_t)sst.st_ino != h.ino) {
		set_aside(jpath, "stale", "belongs to another file");
		goto out;
	}
	if (m->read_only) {
		snprintf(reason, reasonsize, "journal %s needs recovery but the spool is read-only",
			 jpath);
		st = MAILDROP_TEMP;
		goto out;
	}
	buf = malloc(MBOX_MOVE_BLOCK);
	if (buf == NULL) {
		snprintf(reason, reasonsize, "out of memory");
		st = MAILDROP_TEMP;
		goto out;
	}
	if (h.phase == PHASE_PREPARED) {
		if ((uint64_t)sst.st_size < h.new_size) {
			set_aside(jpath, "bad", "does not fit the spool (it shrank)");
			goto out;
		}
		if (fileops_hash(jfd, JOURNAL_HEADER_SIZE, h.payload_len, JOURNAL_SEED, buf, &hash) < 0)
			goto io_error;
		if (hash != h.payload_hash) {
			/* Never complete, so never fsynced: the spool was not touched. */
			set_aside(jpath, "bad", "has a damaged copy");
			goto out;
		}
		if (restore_payload(m->fd, jfd, &h, buf, "recover-restore") < 0)
			goto io_error;
		outcome = "undone";
	} else if ((uint64_t)sst.st_size < h.orig_size) {
		outcome = "already complete";
	} else {
		if (hash_region(m->fd, h.new_size, h.tail_len, &hash) < 0)
			goto io_error;
		if (hash != h.tail_hash) {
			outcome = "already complete";  /* truncated, then new mail came */
		} else if ((uint64_t)sst.st_size == h.orig_size) {
			if (ftruncate(m->fd, (off_t)h.new_size) < 0 || fsync(m->fd) < 0)
				goto io_error;
			step("recover-truncate");
			outcome = "completed";
		} else {
			uint64_t ph;

			if (fileops_hash(jfd, JOURNAL_HEADER_SIZE, h.payload_len, JOURNAL_SEED, buf, &ph) < 0)
				goto io_error;
			if (ph != h.payload_hash) {
				set_aside(jpath, "bad", "has a damaged copy");
				goto out;
			}
			if (restore_payload(m->fd, jfd, &h, buf, "recover-restore") < 0)
				goto io_error;
			outcome = "undone (mail arrived after the crash)";
		}
	}
	if (unlink(jpath) < 0 || fsync_dir(m->state_dir) < 0)
		log_warning("cannot remove journal %s: %s", jpath, strerror(errno));
	step("recover-unlink");
	log_notice("interrupted update of %s %s", m->path, outcome);
	goto out;
io_error:
	snprintf(reason, reasonsize, "recovering %s from %s: %s", m->path, jpath,
		 strerror(errno));
	st = MAILDROP_TEMP;
out:
	free(buf);
	close(jfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return st;
}

/* ---- commit ----------------------------------------------------------------- */

/* End of message i's bytes in the spool: the next From_ line, or the end
 * of what was indexed. */
static uint64_t segment_end(const struct mbox *m, unsigned i)
{
	return i + 1 < m->count ? m->msgs[i + 1].from_off : m->end;
}

static void fill_stats(const struct mbox *m, struct maildrop_stats *stats, bool committed)
{
	unsigned i;

	memset(stats, 0, sizeof(*stats));
	for (i = 0; i < m->count; i++) {
		if (committed && (m->msgs[i].flags & MBOX_DELETED)) {
			stats->msgs_deleted++;
			stats->bytes_deleted += m->ids[i].size;
		} else {
			stats->msgs_left++;
			stats->bytes_left += m->ids[i].size;
		}
	}
}

/* Saves the UID state of the messages left (the seen marks, and so that
 * deleted messages are forgotten).  Failure is only logged: the next
 * session just does not find the deleted ones. */
static void save_uids(struct mbox *m)
{
	unsigned i, j = 0;
	bool changed = false;
	char why[256];

	for (i = 0; i < m->count; i++) {
		bool seen_now = (m->ids[i].flags & UIDSTORE_SEEN) != 0;
		bool seen_before = (m->msgs[i].flags & MBOX_SEEN_START) != 0;

		if (m->msgs[i].flags & MBOX_DELETED)
			changed = true;
		else
			m->ids[j++] = m->ids[i];
		if (seen_now != seen_before)
			changed = true;
	}
	m->count = j;   /* the index is dead after a commit */
	/* Rewriting the state of a 100 000-message drop costs more than the
	 * whole index pass: skip it when the session changed nothing. */
	if (!changed)
		return;
	if (uidstore_save(m->uids, m->state_dir, m->ids, j, why, sizeof(why)) < 0)
		log_warning("cannot save UID state for %s: %s", m->path, why);
	step("uids-saved");
}

/* Checks that the spool is still the file we indexed: same inode under the
 * same name, not shorter, and the first message to go still has the same
 * first bytes.  Returns 0, or -1 with reason. */
static int verify_spool(const struct mbox *m, unsigned first_del, uint64_t *size_r,
			char *reason, size_t reasonsize)
{
	const struct mbox_msg *mm = &m->msgs[first_del];
	struct stat fst, pst;
	unsigned char buf[UIDSTORE_HASH_BYTES];
	uint64_t len = min64(UIDSTORE_HASH_BYTES, mm->off + mm->len - mm->from_off);

	if (fstat(m->fd, &fst) < 0) {
		snprintf(reason, reasonsize, "fstat %s: %s", m->path, strerror(errno));
		return -1;
	}
	if (lstat(m->path, &pst) < 0 || pst.st_dev != fst.st_dev || pst.st_ino != fst.st_ino ||
	    fst.st_dev != m->dev || fst.st_ino != m->ino) {
		snprintf(reason, reasonsize, "%s was replaced during the session", m->path);
		return -1;
	}
	if ((uint64_t)fst.st_size < m->end) {
		snprintf(reason, reasonsize, "%s shrank during the session (%" PRIu64 " < %" PRIu64 ")",
			 m->path, (uint64_t)fst.st_size, m->end);
		return -1;
	}
	if (pread_all(m->fd, buf, (size_t)len, (off_t)mm->from_off) < 0 ||
	    mbox_id_hash(buf, len, mm->off + mm->len - mm->from_off,
			 (mm->flags & MBOX_NO_FINAL_LF) != 0) != m->ids[first_del].hash) {
		snprintf(reason, reasonsize, "%s changed during the session", m->path);
		return -1;
	}
	*size_r = (uint64_t)fst.st_size;
	return 0;
}

/* Writes and syncs the journal for h (phase PREPARED).  On failure removes
 * it and returns -1 with reason: the spool has not been touched. */
static int write_journal(struct mbox *m, const char *jpath, struct journal_hdr *h,
			 unsigned char *buf, int *jfd_r, char *reason, size_t reasonsize)
{
	unsigned char hdr[JOURNAL_HEADER_SIZE];
	struct uidstore_hasher hs;
	const char *what = "write";
	int jfd, e;

	jfd = open(jpath, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (jfd < 0) {
		snprintf(reason, reasonsize, "create journal %s: %s", jpath, strerror(errno));
		return -1;
	}
	step("journal-create");
	uidstore_hash_init(&hs, JOURNAL_SEED);
	/* Payload first, header last: a header that checks out means the
	 * payload before it was written completely. */
	if (fileops_copy(m->fd, h->region_off, jfd, JOURNAL_HEADER_SIZE, h->payload_len,
			 buf, &hs, step, "journal-payload") < 0)
		goto fail;
	h->payload_hash = uidstore_hash_final(&hs);
	encode_hdr(h, hdr);
	if (pwrite_all(jfd, hdr, sizeof(hdr), 0) < 0)
		goto fail;
	step("journal-header");
	what = "fsync";
	if (fsync(jfd) < 0)
		goto fail;
	step("journal-fsync");
	if (fsync_dir(m->state_dir) < 0)
		goto fail;
	step("journal-dirsync");
	*jfd_r = jfd;
	return 0;
fail:
	e = errno;
	close(jfd);
	unlink(jpath);
	fsync_dir(m->state_dir);
	snprintf(reason, reasonsize, "%s journal %s: %s", what, jpath, strerror(e));
	return -1;
}

/* Moves every kept byte after region_off down, run by run: each maximal
 * stretch of kept messages, then the mail appended since the index. */
static int compact(struct mbox *m, unsigned first_del, uint64_t size, unsigned char *buf)
{
	uint64_t w = m->msgs[first_del].from_off, run_start = 0, run_end = 0;
	bool in_run = false;
	unsigned i;

	for (i = first_del; i < m->count; i++) {
		if (m->msgs[i].flags & MBOX_DELETED) {
			if (in_run) {
				if (fileops_copy(m->fd, run_start, m->fd, w, run_end - run_start,
						 buf, NULL, step, "move") < 0)
					return -1;
				w += run_end - run_start;
				in_run = false;
			}
			continue;
		}
		if (!in_run) {
			run_start = m->msgs[i].from_off;
			in_run = true;
		}
		run_end = segment_end(m, i);
	}
	if (!in_run)
		run_start = m->end;
	run_end = size;   /* mail appended since the index stays, at the end */
	if (run_end > run_start &&
	    fileops_copy(m->fd, run_start, m->fd, w, run_end - run_start, buf, NULL, step, "move") < 0)
		return -1;
	return 0;
}

/* Undoes a compaction that failed before the truncation: the journal's
 * bytes go back, then the journal goes.  Returns 0, or -1 when the journal
 * has to stay for the next open to finish the job. */
static int rollback(struct mbox *m, const char *jpath, int jfd, const struct journal_hdr *h,
		    unsigned char *buf)
{
	if (restore_payload(m->fd, jfd, h, buf, "rollback") < 0) {
		log_error("cannot undo the failed update of %s: %s; the journal %s stays for the next login",
			  m->path, strerror(errno), jpath);
		return -1;
	}
	if (unlink(jpath) < 0 || fsync_dir(m->state_dir) < 0)
		log_warning("cannot remove journal %s: %s", jpath, strerror(errno));
	return 0;
}

/* The commit proper; m stays open and locked.  save_state: write the UID
 * state of the messages left (not when the "messages" are a prefix being
 * moved elsewhere, whose UIDs must survive the move). */
static enum maildrop_status commit_locked(struct mbox *m, struct maildrop_stats *stats,
					  bool save_state, char *reason, size_t reasonsize)
{
	struct journal_hdr h;
	unsigned char hdr[JOURNAL_HEADER_SIZE], *buf = NULL;
	char jpath[UPDATE_PATH_MAX];
	enum maildrop_status st = MAILDROP_OK;
	uint64_t size = 0, deleted = 0;
	unsigned i, first_del = m->count;
	sigset_t old;
	int jfd = -1;

	fill_stats(m, stats, false);
	if (m->fd < 0 || m->count == 0)
		return MAILDROP_OK;   /* no spool or no messages: nothing to write */
	fileops_block_signals(&old);
	mbox_touch_lock(m);
	for (i = 0; i < m->count; i++) {
		if (!(m->msgs[i].flags & MBOX_DELETED))
			continue;
		if (first_del == m->count)
			first_del = i;
		deleted += segment_end(m, i) - m->msgs[i].from_off;
	}
	if (first_del == m->count) {
		if (save_state)
			save_uids(m);
		goto out;
	}
	st = MAILDROP_TEMP;
	if (m->read_only) {
		snprintf(reason, reasonsize, "%s is on a read-only file system", m->path);
		goto out;
	}
	if (journal_path(m, jpath, sizeof(jpath)) < 0) {
		snprintf(reason, reasonsize, "state directory path too long");
		goto out;
	}
	if (verify_spool(m, first_del, &size, reason, reasonsize) < 0)
		goto out;
	buf = malloc(MBOX_MOVE_BLOCK);
	if (buf == NULL) {
		snprintf(reason, reasonsize, "out of memory");
		goto out;
	}
	memset(&h, 0, sizeof(h));
	h.version = JOURNAL_VERSION;
	h.phase = PHASE_PREPARED;
	h.dev = (uint64_t)m->dev;
	h.ino = (uint64_t)m->ino;
	h.orig_size = size;
	h.new_size = size - deleted;
	h.region_off = m->msgs[first_del].from_off;
	h.payload_len = h.new_size - h.region_off;
	h.tail_len = min64(JOURNAL_TAIL_MAX, h.orig_size - h.new_size);
	if (hash_region(m->fd, h.new_size, h.tail_len, &h.tail_hash) < 0) {
		snprintf(reason, reasonsize, "read %s: %s", m->path, strerror(errno));
		goto out;
	}
	if (write_journal(m, jpath, &h, buf, &jfd, reason, reasonsize) < 0)
		goto out;

	if (compact(m, first_del, size, buf) < 0 || fsync(m->fd) < 0)
		goto undo;
	step("spool-fsync");
	h.phase = PHASE_COMPACTED;
	encode_hdr(&h, hdr);
	if (pwrite_all(jfd, hdr, sizeof(hdr), 0) < 0 || fsync(jfd) < 0)
		goto undo;
	step("journal-compacted");
	if (ftruncate(m->fd, (off_t)h.new_size) < 0)
		goto undo;
	step("truncate");
	/* From here the new mailbox is in place.  Should a sync fail, the
	 * journal stays and the next open finishes or confirms the work. */
	if (fsync(m->fd) < 0) {
		log_error("fsync %s after update: %s; journal kept", m->path, strerror(errno));
	} else {
		step("spool-fsync2");
		if (unlink(jpath) < 0 || fsync_dir(m->state_dir) < 0)
			log_warning("cannot remove journal %s: %s", jpath, strerror(errno));
		step("journal-unlink");
	}
	close(jfd);
	jfd = -1;
	fill_stats(m, stats, true);
	if (save_state)
		save_uids(m);
	m->count = 0;   /* the index no longer describes the file */
	st = MAILDROP_OK;
	goto out;
undo:
	snprintf(reason, reasonsize, "updating %s: %s", m->path, strerror(errno));
	rollback(m, jpath, jfd, &h, buf);
out:
	if (jfd >= 0)
		close(jfd);
	free(buf);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return st;
}

enum maildrop_status mbox_commit(struct mbox *m, struct maildrop_stats *stats,
				 char *reason, size_t reasonsize)
{
	enum maildrop_status st = commit_locked(m, stats, true, reason, reasonsize);

	mbox_free(m);
	return st;
}

enum maildrop_status mbox_commit_keep(struct mbox *m, struct maildrop_stats *stats,
				      char *reason, size_t reasonsize)
{
	enum maildrop_status st = commit_locked(m, stats, true, reason, reasonsize);

	m->count = 0;
	return st;
}

enum maildrop_status mbox_remove_prefix(struct mbox *m, uint64_t len,
					char *reason, size_t reasonsize)
{
	struct maildrop_stats stats;
	struct mbox_msg msg;
	struct uid_msg id;
	struct mbox_msg *saved_msgs = m->msgs;
	struct uid_msg *saved_ids = m->ids;
	unsigned saved_count = m->count;
	uint64_t saved_end = m->end, hlen = min64(len, UIDSTORE_HASH_BYTES);
	unsigned char buf[UIDSTORE_HASH_BYTES];
	enum maildrop_status st;

	if (m->fd < 0 || len == 0) {
		snprintf(reason, reasonsize, "nothing to remove from %s", m->path);
		return MAILDROP_TEMP;
	}
	if (pread_all(m->fd, buf, (size_t)hlen, 0) < 0) {
		snprintf(reason, reasonsize, "read %s: %s", m->path, strerror(errno));
		return MAILDROP_TEMP;
	}
	/* An index of one "message", [0, len), deleted: commit_locked() then
	 * journals and moves exactly as for a real deletion, and keeps
	 * whatever follows it. */
	memset(&msg, 0, sizeof(msg));
	memset(&id, 0, sizeof(id));
	msg.from_off = 0;
	msg.off = 0;
	msg.len = len;
	msg.flags = MBOX_DELETED;
	id.hash = uidstore_hash(buf, (size_t)hlen, 0);
	id.size = len;
	m->msgs = &msg;
	m->ids = &id;
	m->count = 1;
	m->end = len;
	st = commit_locked(m, &stats, false, reason, reasonsize);
	m->msgs = saved_msgs;
	m->ids = saved_ids;
	m->count = saved_count;
	m->end = saved_end;
	return st;
}
