/*
 * mbox_update: the UPDATE state for mbox, and recovery after a crash in it.
 * Runs as the user, with both mailbox locks held and the catchable signals
 * blocked.  Called by mbox.c (recovery at open, the commit) and by
 * temp-drop mode (tempdrop*.c); it calls only lower files: mbox_journal.c,
 * mbox_index.c (a message's identity), mbox_lock.c (the dot-lock's
 * refresh), fileops.c, phaserec.c, uidstore.c.  It never frees or unlocks
 * the mbox: its callers do, on the way back up.
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
#include "server/maildrop/fileops.h"
#include "server/maildrop/mbox.h"
#include "server/maildrop/mbox_journal.h"
#include "server/maildrop/phaserec.h"

#define UPDATE_PATH_MAX 4096

void (*mbox_update_hook)(const char *step);

static void step(const char *name)
{
	if (mbox_update_hook != NULL)
		mbox_update_hook(name);
}

static int journal_path(const struct mbox *m, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%s", m->state_dir,
			 m->journal_name != NULL ? m->journal_name : MBOX_JOURNAL);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Writes the journal's saved bytes back over the spool and fsyncs it: the
 * spool is then the old mailbox (plus anything appended after it). */
static int restore_payload(int spool, int jfd, const struct journal_hdr *h,
			   unsigned char *buf, const char *stepname)
{
	if (fileops_copy(jfd, JOURNAL_HEADER_SIZE, spool, h->region_off, h->payload_len,
			 buf, NULL, &mbox_update_hook, stepname) < 0)
		return -1;
	if (fsync(spool) < 0)
		return -1;
	step(stepname);
	return 0;
}

/* Rewrites the header with a new phase and syncs it: only when this
 * returns 0 does the disk say what recovery will do. */
static int set_phase(int jfd, struct journal_hdr *h, uint32_t phase)
{
	unsigned char hdr[JOURNAL_HEADER_SIZE];

	h->phase = phase;
	journal_encode(h, hdr);
	return phaserec_write_sync(jfd, hdr);
}

/* Removes a journal whose work is done.  Should the removal not reach the
 * disk, the journal is emptied (or its header blanked) instead: recovery
 * reads either as "never started".  Should all of that fail, what stays
 * still recovers correctly (it describes the spool as it now is) as long
 * as nobody else rewrites the spool, and recovery checks that too. */
static void retire_journal(const char *state_dir, const char *jpath, int jfd)
{
	static const unsigned char blank[JOURNAL_HEADER_SIZE];
	int e;

	if (unlink(jpath) == 0 && safe_fsync_dir(state_dir) == 0)
		return;
	e = errno;
	if (ftruncate(jfd, 0) == 0 && fsync(jfd) == 0) {
		log_warning("cannot remove journal %s: %s; emptied it instead", jpath, strerror(e));
		return;
	}
	if (phaserec_write_sync(jfd, blank) == 0) {
		log_warning("cannot remove journal %s: %s; blanked its header instead", jpath,
			    strerror(e));
		return;
	}
	log_error("cannot remove, empty or blank journal %s: %s; the next login checks it "
		  "against the spool", jpath, strerror(errno));
}

/* Moves a journal that must not be replayed out of the way without
 * touching the spool: journal.KIND.TIME[.N], never replacing a file. */
static void set_aside(const char *state_dir, const char *jpath, const char *kind,
		      const char *why)
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
			safe_fsync_dir(state_dir);
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

enum recovery_action {
	RECOVER_NOTHING,    /* the update is complete */
	RECOVER_UNDO,       /* write the payload back */
	RECOVER_TRUNCATE,   /* compaction done, truncation missing */
	RECOVER_MISMATCH    /* the spool is not what the journal describes */
};

/* Decides from the spool's bytes, not only from the phase, what recovery
 * does; nothing is written here.  Returns 0 with *a and *outcome, or -1
 * with errno on a read error. */
static int recovery_plan(int spool, int jfd, const struct journal_hdr *h, uint64_t size,
			 unsigned char *buf, enum recovery_action *a, const char **outcome)
{
	bool tail_intact = false;
	uint64_t hash;
	int r;

	if (size >= h->orig_size) {
		if (fileops_hash(spool, h->new_size, h->tail_len, JOURNAL_SEED, buf, &hash) < 0)
			return -1;
		tail_intact = hash == h->tail_hash;
	}
	*a = RECOVER_MISMATCH;
	*outcome = "does not match the spool, which was changed after the interrupted update";
	if (h->phase == JOURNAL_PREPARED) {
		/* Never truncated in this phase: the tail must be there, and
		 * each byte compaction may have written must be one of its two
		 * values. */
		if (!tail_intact)
			return 0;
		if (h->version >= 2) {
			r = journal_region_old_or_new(spool, jfd, h, buf);
			if (r < 0)
				return -1;
			if (r == 0)
				return 0;
		}
		*a = RECOVER_UNDO;
		*outcome = "undone";
		return 0;
	}
	if (size < h->new_size)
		return 0;
	if (h->version >= 2) {
		if (fileops_hash(spool, h->region_off, h->payload_len, JOURNAL_SEED, buf, &hash) < 0)
			return -1;
		if (hash != h->new_hash)
			return 0;
	}
	if (size < h->orig_size || !tail_intact) {
		/* truncated (and maybe new mail came after that) */
		*a = RECOVER_NOTHING;
		*outcome = "already complete";
	} else if (size == h->orig_size) {
		*a = RECOVER_TRUNCATE;
		*outcome = "completed";
	} else {
		/* Moving mail delivered after the crash down would not survive
		 * a second crash in the middle of the move; undoing is
		 * idempotent. */
		*a = RECOVER_UNDO;
		*outcome = "undone (mail arrived after the crash)";
	}
	return 0;
}

/* Reads and checks the journal.  Returns 1 with *h when it is one to
 * recover, 0 when it was dealt with (removed or set aside), -1 with errno
 * on a read error. */
static int load_journal(struct mbox *m, const char *jpath, int jfd, const struct stat *jst,
			struct journal_hdr *h, unsigned char *buf)
{
	unsigned char hdr[JOURNAL_HEADER_SIZE];
	struct stat sst;
	int r;

	if (jst->st_size == 0 ||
	    (jst->st_size >= JOURNAL_HEADER_SIZE && phaserec_read(jfd, hdr) == 0 &&
	     phaserec_blank(hdr))) {
		/* Killed while writing the journal (its header comes last), or
		 * emptied after its work was done: the spool needs nothing. */
		if (unlink(jpath) < 0 || safe_fsync_dir(m->state_dir) < 0)
			log_warning("cannot remove unfinished journal %s: %s", jpath, strerror(errno));
		step("recover-unlink");
		log_notice("removed the empty journal of an update of %s", m->path);
		return 0;
	}
	if (phaserec_read(jfd, hdr) < 0 || !journal_decode(hdr, h) ||
	    !journal_shape_ok(h, (uint64_t)jst->st_size)) {
		set_aside(m->state_dir, jpath, "bad", "is incomplete or damaged");
		return 0;
	}
	if (m->fd < 0 || fstat(m->fd, &sst) < 0 || (uint64_t)sst.st_dev != h->dev ||
	    (uint64_t)sst.st_ino != h->ino) {
		set_aside(m->state_dir, jpath, "stale", "belongs to another file");
		return 0;
	}
	r = journal_verify(jfd, h, buf);
	if (r < 0)
		return -1;
	if (r == 0) {
		/* Never complete, so never synced: the spool was not touched. */
		set_aside(m->state_dir, jpath, "bad", "has a damaged copy");
		return 0;
	}
	return 1;
}

/* Opens the journal to recover, if there is one.  Returns 1 with *jfd_r;
 * or 0 with *st_r: OK when there is nothing to recover (no journal, or an
 * unsafe one, set aside), else TEMP or PERM with reason. */
static int open_journal(struct mbox *m, char *jpath, size_t jpathsize, struct stat *jst,
			int *jfd_r, enum maildrop_status *st_r, char *reason, size_t reasonsize)
{
	struct safeopen_rules rules;
	const char *why = NULL;
	int e;

	*st_r = MAILDROP_OK;
	if (journal_path(m, jpath, jpathsize) < 0) {
		snprintf(reason, reasonsize, "state directory path too long");
		*st_r = MAILDROP_PERM;
		return 0;
	}
	memset(&rules, 0, sizeof(rules));
	rules.check_owner = true;
	rules.owner = geteuid();
	rules.no_group_write = true;
	*jfd_r = safe_open(jpath, m->read_only ? O_RDONLY : O_RDWR, 0, &rules, jst, &why);
	if (*jfd_r >= 0)
		return 1;
	e = errno;
	if (e == ENOENT)
		return 0;
	if (e == ELOOP || e == EINVAL || e == EPERM) {
		set_aside(m->state_dir, jpath, "bad", why != NULL ? why : "is unsafe");
		return 0;
	}
	snprintf(reason, reasonsize, "journal %s: %s", jpath, strerror(e));
	*st_r = MAILDROP_TEMP;
	return 0;
}

/* Does what recovery_plan() decided, then retires the journal (unless it
 * does not match: then it is set aside).  Returns 0, or -1 with errno on an
 * I/O error (the journal stays). */
static int carry_out(struct mbox *m, const char *jpath, int jfd, struct journal_hdr *h,
		     enum recovery_action action, const char *outcome, unsigned char *buf)
{
	switch (action) {
	case RECOVER_MISMATCH:
		set_aside(m->state_dir, jpath, "mismatch", outcome);
		log_error("mailbox %s was changed by another program after an interrupted update: "
			  "it may hold messages twice or partly moved; it was left as it is",
			  m->path);
		return 0;
	case RECOVER_UNDO:
		/* Undoing a COMPACTED update: say so on the disk first, so that
		 * a crash in the middle of the undo is finished as an undo. */
		if (h->phase != JOURNAL_PREPARED) {
			if (set_phase(jfd, h, JOURNAL_PREPARED) < 0)
				return -1;
			step("recover-demoted");
		}
		if (restore_payload(m->fd, jfd, h, buf, "recover-restore") < 0)
			return -1;
		break;
	case RECOVER_TRUNCATE:
		if (ftruncate(m->fd, (off_t)h->new_size) < 0 || fsync(m->fd) < 0)
			return -1;
		step("recover-truncate");
		break;
	case RECOVER_NOTHING:
		break;
	}
	retire_journal(m->state_dir, jpath, jfd);
	step("recover-unlink");
	log_notice("interrupted update of %s %s", m->path, outcome);
	return 0;
}

enum maildrop_status mbox_recover(struct mbox *m, char *reason, size_t reasonsize)
{
	struct journal_hdr h;
	unsigned char *buf = NULL;
	char jpath[UPDATE_PATH_MAX];
	struct stat jst, sst;
	enum maildrop_status st = MAILDROP_OK;
	enum recovery_action action;
	const char *outcome = "";
	sigset_t old;
	int jfd, r;

	if (open_journal(m, jpath, sizeof(jpath), &jst, &jfd, &st, reason, reasonsize) == 0)
		return st;
	fileops_block_signals(&old);
	buf = malloc(MBOX_MOVE_BLOCK);
	if (buf == NULL) {
		snprintf(reason, reasonsize, "out of memory");
		st = MAILDROP_TEMP;
		goto out;
	}
	r = load_journal(m, jpath, jfd, &jst, &h, buf);
	if (r < 0)
		goto io_error;
	if (r == 0)
		goto out;
	if (m->read_only) {
		snprintf(reason, reasonsize, "journal %s needs recovery but the spool is read-only",
			 jpath);
		st = MAILDROP_TEMP;
		goto out;
	}
	if (fstat(m->fd, &sst) < 0 ||
	    recovery_plan(m->fd, jfd, &h, (uint64_t)sst.st_size, buf, &action, &outcome) < 0 ||
	    carry_out(m, jpath, jfd, &h, action, outcome, buf) < 0)
		goto io_error;
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
	uint64_t len = fileops_min64(UIDSTORE_HASH_BYTES, mm->off + mm->len - mm->from_off);

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
	if (safe_pread_all(m->fd, buf, (size_t)len, (off_t)mm->from_off) < 0 ||
	    mbox_id_hash(buf, len, mm->off + mm->len - mm->from_off,
			 (mm->flags & MBOX_NO_FINAL_LF) != 0) != m->ids[first_del].hash) {
		snprintf(reason, reasonsize, "%s changed during the session", m->path);
		return -1;
	}
	*size_r = (uint64_t)fst.st_size;
	return 0;
}

/* The compaction as a list of runs: each maximal stretch of kept messages
 * after the first deleted one, moved down to where the kept bytes end so
 * far; mail appended since the index rides along at the end. */
struct run_iter {
	const struct mbox *m;
	uint64_t size, w;
	unsigned i;
	bool tail_done;
};

static void runs_start(struct run_iter *it, const struct mbox *m, unsigned first_del,
		       uint64_t size)
{
	it->m = m;
	it->size = size;
	it->w = m->msgs[first_del].from_off;
	it->i = first_del;
	it->tail_done = false;
}

static bool runs_next(struct run_iter *it, struct journal_run *r)
{
	const struct mbox *m = it->m;
	unsigned i = it->i;
	uint64_t start, end;

	while (i < m->count && (m->msgs[i].flags & MBOX_DELETED))
		i++;
	if (i < m->count) {
		start = m->msgs[i].from_off;
		while (i < m->count && !(m->msgs[i].flags & MBOX_DELETED))
			i++;
		end = i < m->count ? m->msgs[i].from_off : it->size;
		it->tail_done = i == m->count;
	} else {
		if (it->tail_done || it->size <= m->end) {
			it->i = i;
			return false;
		}
		start = m->end;
		end = it->size;
		it->tail_done = true;
	}
	it->i = i;
	r->src = start;
	r->dst = it->w;
	r->len = end - start;
	it->w += r->len;
	return true;
}

/* Writes and syncs the journal for h (phase PREPARED): payload, runs,
 * header last.  On failure removes it and returns -1 with reason: the
 * spool has not been touched. */
static int write_journal(struct mbox *m, unsigned first_del, uint64_t size, const char *jpath,
			 struct journal_hdr *h, unsigned char *buf, int *jfd_r,
			 char *reason, size_t reasonsize)
{
	unsigned char hdr[JOURNAL_HEADER_SIZE];
	struct journal_runs_writer *rw = NULL;
	struct uidstore_hasher hs;
	struct run_iter it;
	struct journal_run run;
	const char *what = "write";
	int jfd, e;

	jfd = open(jpath, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (jfd < 0) {
		snprintf(reason, reasonsize, "create journal %s: %s", jpath, strerror(errno));
		return -1;
	}
	step("journal-create");
	rw = malloc(sizeof(*rw));
	if (rw == NULL)
		goto fail;
	uidstore_hash_init(&hs, JOURNAL_SEED);
	/* Payload and runs first, header last: a header that checks out
	 * means everything before it was written completely. */
	if (fileops_copy(m->fd, h->region_off, jfd, JOURNAL_HEADER_SIZE, h->payload_len,
			 buf, &hs, &mbox_update_hook, "journal-payload") < 0)
		goto fail;
	h->payload_hash = uidstore_hash_final(&hs);
	journal_runs_begin(rw, jfd, journal_runs_off(h));
	runs_start(&it, m, first_del, size);
	while (runs_next(&it, &run))
		if (journal_runs_add(rw, &run) < 0)
			goto fail;
	if (journal_runs_end(rw, h) < 0)
		goto fail;
	journal_encode(h, hdr);
	if (phaserec_write(jfd, hdr) < 0)
		goto fail;
	step("journal-header");
	what = "fsync";
	if (fsync(jfd) < 0)
		goto fail;
	step("journal-fsync");
	if (safe_fsync_dir(m->state_dir) < 0)
		goto fail;
	step("journal-dirsync");
	free(rw);
	*jfd_r = jfd;
	return 0;
fail:
	e = errno;
	free(rw);
	close(jfd);
	unlink(jpath);
	safe_fsync_dir(m->state_dir);
	snprintf(reason, reasonsize, "%s journal %s: %s", what, jpath, strerror(e));
	return -1;
}

/* Moves every kept byte after region_off down, run by run, and hashes the
 * new region as it is written. */
static int compact(struct mbox *m, unsigned first_del, uint64_t size, unsigned char *buf,
		   uint64_t *new_hash_r)
{
	struct uidstore_hasher hs;
	struct run_iter it;
	struct journal_run run;

	uidstore_hash_init(&hs, JOURNAL_SEED);
	runs_start(&it, m, first_del, size);
	while (runs_next(&it, &run))
		if (fileops_copy(m->fd, run.src, m->fd, run.dst, run.len, buf, &hs,
				 &mbox_update_hook, "move") < 0)
			return -1;
	*new_hash_r = uidstore_hash_final(&hs);
	return 0;
}

/* Undoes a compaction while the journal on the disk says PREPARED: the
 * journal's bytes go back, then the journal goes.  Should the restore
 * fail, the journal stays and the next login undoes the rest. */
static void rollback(struct mbox *m, const char *jpath, int jfd, const struct journal_hdr *h,
		     unsigned char *buf)
{
	if (restore_payload(m->fd, jfd, h, buf, "rollback") < 0) {
		log_error("cannot undo the failed update of %s: %s; the journal %s stays and the "
			  "next login undoes it", m->path, strerror(errno), jpath);
		return;
	}
	retire_journal(m->state_dir, jpath, jfd);
	step("rollback-done");
}

/* Size of the deleted messages, and the first of them (m->count if none). */
static uint64_t deleted_bytes(const struct mbox *m, unsigned *first_r)
{
	uint64_t deleted = 0;
	unsigned i;

	*first_r = m->count;
	for (i = 0; i < m->count; i++) {
		if (!(m->msgs[i].flags & MBOX_DELETED))
			continue;
		if (*first_r == m->count)
			*first_r = i;
		deleted += segment_end(m, i) - m->msgs[i].from_off;
	}
	return deleted;
}

/* The journaled compaction proper (journal_path, spool verified, buf
 * allocated).  The phase on the disk always names what recovery would do
 * at that instant: PREPARED until compaction is synced, COMPACTED only
 * once that header is synced, and back to PREPARED (synced) before any
 * undo.  Returns MAILDROP_OK when the new mailbox is in place. */
static enum maildrop_status journaled_compact(struct mbox *m, unsigned first_del, uint64_t size,
					      uint64_t deleted, const char *jpath,
					      unsigned char *buf, struct maildrop_stats *stats,
					      char *reason, size_t reasonsize)
{
	struct journal_hdr h;
	int jfd = -1, e;

	journal_hdr_init(&h, (uint64_t)m->dev, (uint64_t)m->ino, size, size - deleted,
			 m->msgs[first_del].from_off);
	if (fileops_hash(m->fd, h.new_size, h.tail_len, JOURNAL_SEED, buf, &h.tail_hash) < 0) {
		snprintf(reason, reasonsize, "read %s: %s", m->path, strerror(errno));
		return MAILDROP_TEMP;
	}
	if (write_journal(m, first_del, size, jpath, &h, buf, &jfd, reason, reasonsize) < 0)
		return MAILDROP_TEMP;

	if (compact(m, first_del, size, buf, &h.new_hash) < 0 || fsync(m->fd) < 0)
		goto undo;
	step("spool-fsync");
	if (set_phase(jfd, &h, JOURNAL_COMPACTED) < 0)
		goto demote;
	step("journal-compacted");
	if (ftruncate(m->fd, (off_t)h.new_size) < 0)
		goto unfinished;   /* COMPACTED is on the disk: the next login completes */
	step("truncate");
	/* From here the new mailbox is in place.  Should a sync fail, the
	 * journal stays and the next open finishes or confirms the work. */
	if (fsync(m->fd) < 0) {
		log_error("fsync %s after update: %s; journal kept", m->path, strerror(errno));
	} else {
		step("spool-fsync2");
		retire_journal(m->state_dir, jpath, jfd);
		step("journal-unlink");
	}
	close(jfd);
	return MAILDROP_OK;
demote:
	/* The COMPACTED header may or may not have reached the disk.  Undo
	 * only once the disk says PREPARED again; otherwise touch nothing:
	 * the spool is the new mailbox followed by the old tail, from which
	 * either phase recovers correctly. */
	e = errno;
	if (set_phase(jfd, &h, JOURNAL_PREPARED) < 0) {
		errno = e;
		goto unfinished;
	}
	step("journal-demoted");
	errno = e;
undo:
	snprintf(reason, reasonsize, "updating %s: %s", m->path, strerror(errno));
	rollback(m, jpath, jfd, &h, buf);
	close(jfd);
	return MAILDROP_TEMP;
unfinished:
	snprintf(reason, reasonsize, "updating %s: %s; the journal %s stays and the next login "
		 "completes or undoes the update", m->path, strerror(errno), jpath);
	stats->update_pending = true;
	close(jfd);
	return MAILDROP_TEMP;
}

/* The commit proper; m stays open and locked.  save_state: write the UID
 * state of the messages left (not when the "messages" are a prefix being
 * moved elsewhere, whose UIDs must survive the move). */
static enum maildrop_status commit_locked(struct mbox *m, struct maildrop_stats *stats,
					  bool save_state, char *reason, size_t reasonsize)
{
	unsigned char *buf = NULL;
	char jpath[UPDATE_PATH_MAX];
	enum maildrop_status st = MAILDROP_OK;
	uint64_t size = 0, deleted;
	unsigned first_del;
	sigset_t old;

	fill_stats(m, stats, false);
	if (m->fd < 0 || m->count == 0)
		return MAILDROP_OK;   /* no spool or no messages: nothing to write */
	fileops_block_signals(&old);
	mbox_touch_lock(m);
	deleted = deleted_bytes(m, &first_del);
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
	st = journaled_compact(m, first_del, size, deleted, jpath, buf, stats, reason, reasonsize);
	if (st != MAILDROP_OK)
		goto out;
	fill_stats(m, stats, true);
	if (save_state)
		save_uids(m);
	m->count = 0;   /* the index no longer describes the file */
out:
	free(buf);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return st;
}

void mbox_forget_journal(struct mbox *m)
{
	char jpath[UPDATE_PATH_MAX];
	int jfd;

	if (journal_path(m, jpath, sizeof(jpath)) < 0)
		return;
	jfd = open(jpath, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (jfd < 0)
		return;   /* none: the usual case */
	retire_journal(m->state_dir, jpath, jfd);
	close(jfd);
	log_notice("removed the journal %s: the file it guarded was rewritten and synced since",
		   jpath);
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
	uint64_t saved_end = m->end, hlen = fileops_min64(len, UIDSTORE_HASH_BYTES);
	unsigned char buf[UIDSTORE_HASH_BYTES];
	enum maildrop_status st;

	if (m->fd < 0 || len == 0) {
		snprintf(reason, reasonsize, "nothing to remove from %s", m->path);
		return MAILDROP_TEMP;
	}
	if (safe_pread_all(m->fd, buf, (size_t)hlen, 0) < 0) {
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
