/*
 * tempdrop_int: what the files of temp-drop mode share among themselves
 * (private to server/maildrop/tempdrop*.c; the rest of the world sees
 * tempdrop.h).  The files, in floors -- each calls only the ones below it,
 * and all of them stand on the mbox store (mbox.h), fileops.c, phaserec.c
 * and uidstore.c:
 *
 *   tempdrop.c            temp-drop mode's maildrop operations (a session)
 *   tempdrop_server.c     server mode's open: settle a leftover drop first
 *   tempdrop_movein.c     MOVE IN      tempdrop_writeback.c   WRITE BACK
 *   tempdrop_recover.c    RECOVERY of an interrupted move
 *   tempdrop_file.c       the temp directory, the temporary drop, file helpers
 *   tempdrop_marker.c     the marker (a phase record)
 *
 * The moves and their recovery are described in tempdrop.c.  All of it runs
 * as the user, after the privilege drop.
 */
#ifndef POPPER_TEMPDROP_INT_H
#define POPPER_TEMPDROP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/maildrop/maildrop.h"
#include "server/maildrop/mbox.h"
#include "server/maildrop/tempdrop.h"

/* The seed of the hash of the spool's bytes a marker records (COPIED). */
#define TEMPDROP_MARKER_SEED 0x74656d7064726f70ULL
#define TD_PATH_MAX 4096

enum tempdrop_phase {
	PH_COPYING = 1,
	PH_COPIED = 2,
	PH_MERGE = 3,
	PH_EXTENDING = 4,
	PH_EXTENDED = 5
};

/* What a marker records. */
struct marker {
	uint32_t phase;
	uint64_t dev, ino;    /* the spool */
	uint64_t base;        /* temp drop size before the append: T0 or K */
	uint64_t pad;         /* framing newlines in front of the spool's bytes */
	uint64_t len;         /* spool bytes appended: S or S2 */
	uint64_t hash;        /* COPIED: hash of spool[0, len) */
};

/* What one move or recovery works with. */
struct td_ctx {
	const char *state_dir;
	int dirfd;                    /* the temp directory */
	const char *name;             /* the temp drop, in dirfd */
	const char *tpath;            /* the same as a path, for the log */
	bool keep;                    /* keep-temp-drop */
	char marker_path[TD_PATH_MAX];
	unsigned char *buf;           /* MBOX_MOVE_BLOCK bytes */
};

/* Calls the crash tests' hook (tempdrop.h) at a named step. */
static inline void tempdrop_step(const char *name)
{
	if (tempdrop_hook != NULL)
		tempdrop_hook(name);
}

/* ---- tempdrop_marker.c ----------------------------------------------------- */

enum marker_read {
	MK_NONE,    /* no marker: no move was interrupted */
	MK_OK,
	MK_UNWRITTEN, /* created but never written: nothing was moved yet */
	MK_BAD
};

/* base + pad + len: the temporary drop's size once the spool's bytes are
 * appended. */
uint64_t tempdrop_marker_total(const struct marker *mk);
/* Writes the marker (create: a new file, O_EXCL, and the directory synced).
 * Returns 0 or -1 with errno; a marker that could not be created is gone. */
int tempdrop_marker_write(const struct td_ctx *c, const struct marker *mk, bool create);
/* Removes the marker, durably.  0 or -1 with errno. */
int tempdrop_marker_remove(const struct td_ctx *c);
/* Reads the marker.  MK_BAD: *why_r says what is wrong with it, or is NULL
 * after an I/O error (then reason is set). */
enum marker_read tempdrop_marker_read(const struct td_ctx *c, struct marker *mk,
				      const char **why_r, char *reason, size_t reasonsize);
/* Moves a marker that must not be acted on out of the way, never replacing
 * a file: tempdrop.marker.bad.TIME[.N].  The mailboxes stay as they are. */
void tempdrop_marker_set_aside(const struct td_ctx *c, const char *why);
/* Whether fd is the spool file the marker names. */
bool tempdrop_marker_names(int fd, const struct marker *mk);

/* ---- tempdrop_file.c ------------------------------------------------------- */

/* fstat's size.  0 or -1 with errno. */
int tempdrop_file_size(int fd, uint64_t *size_r);
/* 1 if fd[off, off+len) is all zero bytes, 0 if not, -1 on error. */
int tempdrop_all_zero(int fd, uint64_t off, uint64_t len, unsigned char *buf);
/* Whether a non-empty file starts with a From_ line (an mbox). */
int tempdrop_starts_with_from(int fd, uint64_t size, bool *yes_r);
/* Newlines to write between a file of `size` bytes and mail appended to it
 * so that the appended From_ line follows an empty line (mbox.h): none if
 * the file is empty or already ends with one, else one or two. */
int tempdrop_join_pad(int fd, uint64_t size, uint64_t *pad_r);
/* Makes the spool [from, to) allocated zero bytes: fallocate(2), or zeros
 * written where the file system has no fallocate.  Returns 0 or -1. */
int tempdrop_extend_spool(int fd, uint64_t from, uint64_t to, unsigned char *buf);
/* Cuts the temporary drop back to size, durably. */
int tempdrop_truncate_temp(struct mbox *tm, uint64_t size);
/* The temporary drop after its mail went back into the spool: removed, or
 * (keep-temp-drop, or when the session goes on using it) truncated.
 * Durable before the caller removes the marker.  Returns 0 or -1. */
int tempdrop_empty_temp(const struct td_ctx *c, struct mbox *tm, bool may_unlink);
/* Undoes an append to the temporary drop that never reached the spool:
 * cuts it back to base, then removes the marker (logged on failure). */
void tempdrop_undo_append(const struct td_ctx *c, struct mbox *tm, uint64_t base);
/* Appends the spool's first mk->len bytes to the temporary drop, behind
 * its mk->base bytes and mk->pad framing newlines, feeding them to hs when
 * not NULL (the crash tests' step stepname after each block), and syncs
 * it.  0; or -1 with reason, the append undone and the marker removed
 * (tempdrop_undo_append). */
int tempdrop_append_spool(const struct td_ctx *c, struct mbox *sp, struct mbox *tm,
			  const struct marker *mk, struct uidstore_hasher *hs, const char *stepname,
			  char *reason, size_t reasonsize);
/* A file name popper may use for the temporary drop: one path component,
 * not one of popper's own state files. */
bool tempdrop_name_ok(const char *name);
/* <temp_dir>/<temp_name> into buf.  0, or -1 when it does not fit. */
int tempdrop_path(const struct maildrop_settings *set, char *buf, size_t size);
/* Opens the temp directory: no symlink, owned by the session's uid, not
 * writable by group or others.  *missing_r: it does not exist. */
enum maildrop_status tempdrop_open_dir(const char *dir, int *fd_r, bool *missing_r,
				       char *reason, size_t reasonsize);
/* Opens (create: creating, durably) and locks the temporary drop without
 * waiting.  *tm_r NULL with OK: it does not exist (only without create). */
enum maildrop_status tempdrop_lock_drop(const struct td_ctx *c, bool create, struct mbox **tm_r,
					char *reason, size_t reasonsize);
/* Fills c for the settings (buf stays NULL).  0, or -1 with reason. */
int tempdrop_ctx_init(struct td_ctx *c, const struct maildrop_settings *set, int dirfd,
		      const char *tpath, char *reason, size_t reasonsize);

/* ---- tempdrop_movein.c, tempdrop_writeback.c, tempdrop_recover.c ----------- */

/* MOVE IN: the spool's mail to the end of the temporary drop.  Both locked,
 * signals blocked. */
enum maildrop_status tempdrop_move_in(const struct td_ctx *c, struct mbox *sp, struct mbox *tm,
				      char *reason, size_t reasonsize);
/* WRITE BACK: the temporary drop's K bytes, then what the spool got
 * meanwhile, into the spool.  Both locked, signals blocked.  On failure the
 * mail is in the temporary drop (or a marker finishes the job next time). */
enum maildrop_status tempdrop_write_back(const struct td_ctx *c, struct mbox *sp,
					 struct mbox *tm, uint64_t k, bool may_unlink,
					 char *reason, size_t reasonsize);
/* RECOVERY of an interrupted move.  sp: the spool (fd -1 if none), locked,
 * its journal recovered; tm: the temporary drop, locked, its journal
 * recovered, or NULL when it does not exist.  Signals blocked. */
enum maildrop_status tempdrop_recover(const struct td_ctx *c, struct mbox *sp, struct mbox *tm,
				      char *reason, size_t reasonsize);

#endif
