/*
 * mbox: the mbox store behind the maildrop interface (server/maildrop/maildrop.h).
 *
 * Private to server/maildrop/ (maildrop.c, mbox*.c, tempdrop*.c) and the
 * unit tests.  The work is split by concern, in floors (each file calls
 * only the ones below it):
 *
 *   mbox.c          open, close, the table of operations
 *   mbox_update.c   commit deletions in place with a journal; finish an
 *                   interrupted commit at the next open
 *   mbox_journal.c  the journal's format and recovery's proofs
 *   mbox_index.c    framing and the index     mbox_send.c  RETR/TOP
 *   mbox_lock.c     fcntl lock and dot-lock
 *   (below: fileops.c, phaserec.c, dotlock.c, uidstore.c, lib/)
 *
 * All of it runs as the user, after the privilege drop.
 *
 * Framing (shared with the tests and the team notes): a message starts at a
 * "From " line at the start of the file or right after an empty line ("\n"
 * or "\r\n"), whose rest contains a time (h:mm or hh:mm, the hour not
 * glued to a preceding letter or digit) within its first MBOX_FROM_CHECK
 * bytes.  Its content runs to the next such line; the empty
 * line in front of the next From_ line, and one final empty line at the end
 * of the file, belong to the framing.  The size of a message is what RETR
 * sends before dot-stuffing: content bytes, plus one CR for each LF not
 * preceded by CR, plus CRLF when the content does not end with LF.
 */
#ifndef POPPER_MBOX_H
#define POPPER_MBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "server/maildrop/fileops.h"
#include "server/maildrop/maildrop.h"
#include "server/maildrop/maildrop_store.h"
#include "server/maildrop/uidstore.h"

/* Index reads: large blocks, one pass, no per-line system calls.  The
 * fuzz build (tests/fuzz/fuzz.sh) makes this and MBOX_SEND_BLOCK small, so
 * that inputs of a few KiB cross block boundaries; any size >= 1 works. */
#ifndef MBOX_READ_BLOCK
#define MBOX_READ_BLOCK (1024 * 1024)
#endif
/* A From_ line must show its time within this many bytes. */
#define MBOX_FROM_CHECK 1024
/* Bytes the scanner keeps ahead of the position it decides about. */
#define MBOX_LOOKAHEAD (MBOX_FROM_CHECK + 64)
/* X-UIDL is looked for only in the first part of a header (hostile
 * mailboxes: a 1 GB header must not cost a line-by-line scan). */
#define MBOX_XUIDL_SCAN_MAX (64 * 1024)
/* More messages than this: [SYS/PERM] (memory stays O(messages)). */
#define MBOX_MAX_MESSAGES 1000000
/* RETR/TOP read block; the output buffer is at most twice that. */
#ifndef MBOX_SEND_BLOCK
#define MBOX_SEND_BLOCK (128 * 1024)
#endif
/* Commit: journal copy and in-place move block (the size of every
 * fileops.c buffer). */
#define MBOX_MOVE_BLOCK FILEOPS_BLOCK
/* Refresh our own dot-lock this often so no agent breaks it as stale. */
#define MBOX_TOUCH_INTERVAL 60
/* Lock retry pause. */
#define MBOX_LOCK_PAUSE_MS 100

#define MBOX_DELETED 0x1u
#define MBOX_SEEN_START 0x2u     /* seen when the session started (RSET) */
#define MBOX_NO_FINAL_LF 0x4u    /* the content does not end with LF */

struct mbox_msg {
	uint64_t from_off;   /* the From_ line */
	uint64_t off, len;   /* the content (framing excluded) */
	uint32_t flags;      /* MBOX_* */
};

struct mbox {
	char *path, *lock_path, *state_dir;
	struct maildrop_locker locker;
	unsigned lock_wait;
	int fd;                  /* -1: the spool does not exist (empty drop) */
	bool read_only;          /* opened O_RDONLY on a read-only file system */
	bool fcntl_locked;
	bool dot_locked;         /* by us (dotlock.c) or by the locker */
	pid_t lock_pid;          /* the pid written into our dot-lock */
	time_t last_touch;
	dev_t dev;
	ino_t ino;
	uint64_t end;            /* bytes indexed (the spool's size at open) */
	struct mbox_msg *msgs;   /* count entries, capacity cap */
	struct uid_msg *ids;     /* parallel: size, hash, UID, seen (UIDSTORE_SEEN) */
	unsigned count;
	size_t cap;
	struct uidstore *uids;   /* NULL when the spool does not exist */
	unsigned char *sendbuf;  /* mbox_send's buffers, allocated on first use */
	const char *journal_name; /* in state_dir: MBOX_JOURNAL, or the temp drop's */
};

/* The update journal of the spool, in the state directory. */
#define MBOX_JOURNAL "journal"


/* ---- mbox.c: open and close ---------------------------------------------- */

/* The mbox store's operations (maildrop.c dispatches through them in
 * server mode).  Its open is mbox_open(); its commit is mbox_commit_keep()
 * followed by mbox_free(). */
extern const struct maildrop_ops mbox_maildrop_ops;

/* Opens, recovers, locks and indexes (maildrop_open's contract), in server
 * mode without looking for a temporary drop: with a temp-dir, server mode
 * opens through tempdrop_server_open() instead, which settles one first. */
enum maildrop_status mbox_open(const struct maildrop_settings *set, struct mbox **m_r,
			       char *reason, size_t reasonsize);
/* The first half of mbox_open: opens the spool (creating it, mode 0600, when
 * create is set), takes both locks and finishes an interrupted update, but
 * does not index.  A missing spool without create gives m->fd == -1 and no
 * locks.  Free with mbox_free(). */
enum maildrop_status mbox_open_locked(const struct maildrop_settings *set, bool create,
				      struct mbox **m_r, char *reason, size_t reasonsize);
/* The second half: UID state, index, UIDs.  OK at once when m->fd < 0. */
enum maildrop_status mbox_load(struct mbox *m, bool trust_x_uidl,
			       char *reason, size_t reasonsize);
/* An mbox on a descriptor the caller opened and checked (the temporary
 * drop): takes it over (closed by mbox_free even on failure), takes the
 * fcntl lock without waiting (IN_USE when busy), no dot-lock, update journal
 * <state_dir>/<journal_name> (a static string).  Neither recovers nor
 * indexes: call mbox_recover() and mbox_load(). */
enum maildrop_status mbox_adopt(int fd, const char *path, const char *state_dir,
				const char *journal_name, struct mbox **m_r,
				char *reason, size_t reasonsize);
/* Unlocks, closes and frees. */
void mbox_free(struct mbox *m);

/* ---- mbox_update.c: commit and recovery ------------------------------------ */

/* maildrop_commit's contract, but m stays open and locked (its index is
 * dead afterwards): mbox.c frees it, temp-drop mode writes the temporary
 * drop back under the same lock. */
enum maildrop_status mbox_commit_keep(struct mbox *m, struct maildrop_stats *stats,
				      char *reason, size_t reasonsize);
/* Removes the first len bytes of the locked spool with the journaled commit
 * (as if they were indexed messages, all deleted; bytes after them stay, in
 * order), without touching the UID state.  len must be > 0 and at most the
 * file's size.  m stays open and locked. */
enum maildrop_status mbox_remove_prefix(struct mbox *m, uint64_t len,
					char *reason, size_t reasonsize);
/* Removes m's journal, if one is left: for a file that was since rewritten
 * whole and synced (temp-drop mode's write-back), where a journal kept
 * because a sync failed after the truncation would only be set aside at
 * the next login. */
void mbox_forget_journal(struct mbox *m);
/* Finishes or undoes an update interrupted by a crash, using
 * <state_dir>/journal.  Called from mbox_open_locked with both locks held
 * and m->fd open (or -1).  Returns MAILDROP_OK when there was nothing to do
 * or recovery succeeded or the journal was set aside; else TEMP with
 * reason. */
enum maildrop_status mbox_recover(struct mbox *m, char *reason, size_t reasonsize);

/* ---- mbox_send.c ----------------------------------------------------------- */

/* maildrop_send's contract. */
int mbox_send(struct mbox *m, unsigned i, uint64_t body_lines, struct netio *io,
	      const char *ok_line, char *reason, size_t reasonsize);

/* ---- mbox_index.c: framing and the index ------------------------------------ */

/* Indexes the whole spool into m->msgs and m->ids (m->uids must be loaded:
 * X-UIDL values go into its pool).  Returns MAILDROP_OK, PERM (format, too
 * many messages) or TEMP (read error, memory). */
enum maildrop_status mbox_index(struct mbox *m, bool trust_x_uidl,
				char *reason, size_t reasonsize);
/* Whether buf[0..len) (len may be cut at MBOX_FROM_CHECK) is a valid From_
 * line per the framing rule above. */
bool mbox_from_line_valid(const unsigned char *buf, size_t len);
/* The identity hash of a message (uidstore.h): buf holds its first n bytes,
 * From_ line included, n = min(whole, UIDSTORE_HASH_BYTES) where whole is
 * the From_ line plus the content; buf has room for UIDSTORE_HASH_BYTES.
 * A message without its final newline (MBOX_NO_FINAL_LF) is hashed as if it
 * had one: the newline mbox framing puts after it when mail is appended
 * behind it must not change its identity. */
uint64_t mbox_id_hash(unsigned char *buf, uint64_t n, uint64_t whole, bool no_final_lf);

/* ---- mbox_lock.c: the two locks ---------------------------------------------- */

/* Takes the fcntl lock, then the dot-lock (through m->locker when set),
 * waiting up to m->lock_wait seconds for both together.  OK, IN_USE or
 * TEMP with reason; on a read-only file system a missing dot-lock is OK. */
enum maildrop_status mbox_lock(struct mbox *m, char *reason, size_t reasonsize);
/* Takes only the fcntl lock, without waiting (IN_USE when busy). */
enum maildrop_status mbox_lock_fcntl_now(struct mbox *m, char *reason, size_t reasonsize);
/* Releases the dot-lock, then the fcntl lock (reverse order of taking). */
void mbox_unlock(struct mbox *m);
/* Refreshes our own dot-lock's mtime if MBOX_TOUCH_INTERVAL has passed. */
void mbox_touch_lock(struct mbox *m);

/* Tests only: called at each step of a commit and of a recovery with the
 * step's name, so a test can stop the process (_exit) right there and check
 * that the next open finds the old or the new mailbox.  NULL in the server. */
extern void (*mbox_update_hook)(const char *step);

#endif
