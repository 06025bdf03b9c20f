/*
 * maildrop: the interface between the session engine and a mail store.
 *
 * The engine numbers messages from 1; this interface from 0.  A maildrop is
 * opened after the session has dropped to the user, holds its locks until
 * commit or close, and never changes the store except in maildrop_commit().
 * mbox is the first implementation (server/maildrop/mbox*.c); Maildir comes later
 * behind the same functions without touching the engine.
 */
#ifndef POPPER_MAILDROP_H
#define POPPER_MAILDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct netio;

enum maildrop_status {
	MAILDROP_OK,
	MAILDROP_IN_USE,   /* locked by another session or agent: [IN-USE] */
	MAILDROP_TEMP,     /* temporary trouble (I/O, disk full): [SYS/TEMP] */
	MAILDROP_PERM      /* unusable (symlink, wrong owner, bad format): [SYS/PERM] */
};

/* How the dot-lock is taken.  A session running as the user cannot create
 * "<spool>.lock" in a root:mail 2775 spool directory, so the privileged
 * monitor does it on request (server/monitor.c).  NULL functions = take the
 * dot-lock in this process (server/maildrop/dotlock.c). */
struct maildrop_locker {
	enum maildrop_status (*lock)(void *ctx, char *reason, size_t reasonsize);
	void (*unlock)(void *ctx);
	void *ctx;
};

struct maildrop_settings {
	const char *path;          /* the spool file (mbox) */
	const char *lock_path;     /* its dot-lock, usually path + ".lock" */
	const char *state_dir;     /* private per-user directory: UID state, journal */
	struct maildrop_locker locker;
	unsigned lock_wait;        /* seconds to wait for a busy lock */
	bool trust_x_uidl;         /* honour X-UIDL headers already in the mail */
	bool require_owner;        /* spool must belong to owner_uid */
	unsigned long owner_uid;
	/* Qpopper's two modes (server/maildrop/tempdrop.c).  temp_dir NULL: no
	 * temporary drop at all (server mode only; the unit tests of mbox).
	 * Otherwise temp_dir/temp_name is the temporary drop: in temp-drop
	 * mode the session works on it; in server mode one left behind is
	 * written back into the spool at login. */
	bool temp_drop_mode;       /* false: server mode, the spool in place */
	const char *temp_dir;      /* owned by the session's uid, no g/o write */
	const char *temp_name;     /* file name, already expanded (".alice.pop") */
	bool keep_temp_drop;       /* truncate instead of removing it at the end */
};

struct maildrop_stats {
	unsigned long msgs_deleted, msgs_left;
	uint64_t bytes_deleted, bytes_left;
	/* temp-drop mode: the deletions were made but the kept mail could not
	 * be written back; it waits in the temporary drop for the next login */
	bool left_in_temp_drop;
	/* the update could not finish and could not be undone at once: its
	 * journal stays, and the next login completes or undoes it */
	bool update_pending;
};

struct maildrop;

/* Recovers any unfinished update, locks, and indexes the maildrop.  A missing
 * spool file is an empty maildrop.  On failure *md_r is NULL and reason holds
 * a log-only text. */
enum maildrop_status maildrop_open(const struct maildrop_settings *set,
				   struct maildrop **md_r,
				   char *reason, size_t reasonsize);

/* Number of messages, deleted ones included. */
unsigned maildrop_count(const struct maildrop *md);
/* Octets RETR sends for message i (CRLF line ends, no dot-stuffing, no
 * terminator), exact. */
uint64_t maildrop_msg_size(const struct maildrop *md, unsigned i);
/* Unique id, 1..70 printable characters, stable across sessions. */
const char *maildrop_msg_uid(const struct maildrop *md, unsigned i);

bool maildrop_msg_deleted(const struct maildrop *md, unsigned i);
void maildrop_msg_delete(struct maildrop *md, unsigned i);
/* Whether the message was retrieved in this or an earlier session (LAST). */
bool maildrop_msg_seen(const struct maildrop *md, unsigned i);
void maildrop_msg_mark_seen(struct maildrop *md, unsigned i);
/* Undeletes everything and restores the seen marks of the session start. */
void maildrop_reset(struct maildrop *md);

/*
 * Streams message i to io: CRLF line ends, dot-stuffing, the final "."
 * line.  body_lines limits the body (TOP); UINT64_MAX sends everything.
 * ok_line (e.g. "+OK 1234 octets") is written first, but only once the
 * first block of the message has been read, so a read error that happens
 * before anything was sent can still be answered with -ERR.
 * Returns 0; -1 when nothing was sent (answer -ERR [SYS/TEMP]); -2 when the
 * error came after ok_line (the connection must be closed).
 */
int maildrop_send(struct maildrop *md, unsigned i, uint64_t body_lines,
		  struct netio *io, const char *ok_line,
		  char *reason, size_t reasonsize);

/* The UPDATE state: removes deleted messages, keeps everything else (also
 * mail that arrived during the session) byte for byte, crash- and disk-full-
 * safe, then unlocks.  Fills *stats.  After it the maildrop is closed. */
enum maildrop_status maildrop_commit(struct maildrop *md,
				     struct maildrop_stats *stats,
				     char *reason, size_t reasonsize);

/* Unlocks and frees without deleting anything (abort, RFC 1939 §6).  In
 * temp-drop mode the mail goes back into the spool first. */
void maildrop_close(struct maildrop *md);

#endif
