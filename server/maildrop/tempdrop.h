/*
 * tempdrop: Qpopper's temp-drop ("normal") mode, and the recovery of its
 * moves, behind the maildrop interface (server/maildrop/maildrop.h).
 *
 * At login the spool's mail is moved into a private temporary drop
 * (<temp-dir>/<temp-name>, by default <state-dir>/<user>/.<user>.pop) and
 * the spool is unlocked, so the delivery agent is not held up by a long
 * session; at QUIT the kept mail is merged in front of what arrived
 * meanwhile and written back.  Both moves are guarded by a marker file in
 * the state directory, so a crash, a kill or a full disk at any step leaves
 * every message exactly once in the spool or in the temporary drop, and the
 * next login (in either mode) finishes or undoes the move.  Private to
 * server/maildrop/ (maildrop.c chooses its opens) and the unit tests; the
 * files of the mode share tempdrop_int.h.  Runs as the user.
 */
#ifndef POPPER_TEMPDROP_H
#define POPPER_TEMPDROP_H

#include "server/maildrop/maildrop.h"
#include "server/maildrop/maildrop_store.h"

/* In the state directory: the phase of a move (see tempdrop.c). */
#define TEMPDROP_MARKER "tempdrop.marker"
/* In the state directory: the update journal of the temporary drop (the
 * spool's is MBOX_JOURNAL; each journal names the file it belongs to). */
#define TEMPDROP_JOURNAL "tempdrop.journal"

/* The operations of temp-drop mode (maildrop.c chooses them when
 * set->temp_drop_mode).  open moves the spool's mail into the temporary
 * drop and indexes that; commit writes the kept mail back; close (abort)
 * writes all of it back unchanged. */
extern const struct maildrop_ops tempdrop_maildrop_ops;

/* Server mode's open when set->temp_dir is set (maildrop.c chooses it; the
 * store is a plain mbox, operated through mbox_maildrop_ops): opens and
 * locks the spool, recovers its journal, then finishes an interrupted move
 * and writes a non-empty temporary drop back into the spool -- so no mail
 * stays behind when the administrator switches modes -- then indexes.
 * maildrop_open's contract; IN_USE while a temp-drop session of the user
 * runs. */
enum maildrop_status tempdrop_server_open(const struct maildrop_settings *set, void **store_r,
					  char *reason, size_t reasonsize);

/* Tests only: called at each step of a move and of its recovery, like
 * mbox_update_hook.  NULL in the server. */
extern void (*tempdrop_hook)(const char *step);

#endif
