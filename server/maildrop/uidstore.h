/*
 * uidstore: the unique ids (UIDL) and seen marks (LAST) of one maildrop,
 * kept outside the mail in <state_dir>/uids so the spool is never rewritten
 * to carry them.
 *
 * The file is text:
 *
 *     popper-uids 1 EPOCH NEXT
 *     SIZE HASH FLAGS UID          (one line per message, in maildrop order)
 *
 * EPOCH is 8 random hex digits chosen when the file is first created; a
 * generated UID is "EPOCH.N" with N taken from the NEXT counter, which only
 * grows, so a UID is never handed out twice even after the message it named
 * was deleted.  SIZE and HASH (uidstore_hash() of the first
 * UIDSTORE_HASH_BYTES of the message, its From_ line included; a message
 * without its final newline is hashed as if it had one, mbox_id_hash())
 * recognise a message again in the next session; FLAGS is "-" or "S" (seen).
 *
 * <state_dir>/uids.started records that a uids file was ever written: one
 * line "popper-uids-started EPOCH TIME" (the first epoch, seconds since
 * 1970), mode 0600, made once, before the first uids file is renamed into
 * place, and never removed.  X-UIDL headers (Qpopper wrote them into the
 * spool) are trusted only on the first sight of a maildrop: no uids file
 * and no uids.started.  Once a UID was handed out, a message that the
 * saved list does not know is new mail whatever header it carries, and
 * gets an "EPOCH.N": a header copied from a deleted or a live message can
 * never claim that message's UID (RFC 1939 section 7).  A uids file that
 * is lost while uids.started stays, or that is damaged, is not a first
 * sight either.  Should the whole state directory be lost, popper cannot
 * tell, and trusts the headers once more.
 *
 * Used by server/maildrop/mbox.c (open), mbox_index.c (X-UIDL candidates)
 * and mbox_update.c (commit); the hash functions also checksum the phase
 * records (phaserec.c) and hash file ranges (fileops.c).  The lowest floor
 * of server/maildrop/ with dotlock.c: it calls only lib/.
 */
#ifndef POPPER_UIDSTORE_H
#define POPPER_UIDSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 1939 §7: a unique-id is 1 to 70 characters in the range 0x21..0x7e. */
#define UIDSTORE_UID_MAX 70
/* How much of a message (From_ line included) identifies it. */
#define UIDSTORE_HASH_BYTES 4096
/* More saved entries than this means the state file is damaged. */
#define UIDSTORE_MAX_ENTRIES 4000000
/* "no string" in a uid_msg field */
#define UIDSTORE_NONE UINT32_MAX

#define UIDSTORE_SEEN 0x1u          /* retrieved in some session (persists) */
#define UIDSTORE_UNSAVED 0x40000000u /* not in the saved state when assigned */
#define UIDSTORE_NEW  0x80000000u   /* UID generated in this session */

/* One current message as uidstore sees it.  The caller fills size, hash and
 * uid (an X-UIDL candidate added with uidstore_add(), or UIDSTORE_NONE);
 * uidstore_assign() replaces uid by the final UID and sets flags. */
struct uid_msg {
	uint64_t size;
	uint64_t hash;
	uint32_t uid;
	uint32_t flags;
};

struct uidstore;

/* A 64-bit non-cryptographic hash, stable across versions and platforms
 * (its values are saved on disk).  Streaming and one-shot forms agree for
 * any split of the input. */
struct uidstore_hasher {
	uint64_t h, total;
	unsigned char tail[8];
	unsigned tail_len;
};
void uidstore_hash_init(struct uidstore_hasher *hs, uint64_t seed);
void uidstore_hash_update(struct uidstore_hasher *hs, const void *data, size_t len);
uint64_t uidstore_hash_final(const struct uidstore_hasher *hs);
uint64_t uidstore_hash(const void *data, size_t len, uint64_t seed);

/* True if s[0..len) is a valid unique-id (1..70 chars of 0x21..0x7e). */
bool uidstore_valid_uid(const char *s, size_t len);

/* Loads <dir>/uids (the caller holds the maildrop locks; a leftover
 * temporary file of a killed session is removed).  A missing file gives a
 * fresh state with a new epoch (a first sight unless uids.started exists:
 * then the loss is logged); a damaged one is renamed aside to
 * uids.bad.TIME.PID (logged) and replaced by a fresh state.  Returns NULL with a log-only reason when the file cannot be
 * read or is unsafe (*perm_r true: wrong owner, mode, symlink...) or memory
 * runs out.  Free with uidstore_free(). */
struct uidstore *uidstore_load(const char *dir, bool *perm_r,
			       char *reason, size_t reasonsize);
void uidstore_free(struct uidstore *st);

/* Copies a UID candidate into the store's string pool.  Returns its offset,
 * or UIDSTORE_NONE if it is not a valid unique-id or memory ran out. */
uint32_t uidstore_add(struct uidstore *st, const char *uid, size_t len);
/* The NUL-terminated string at a pool offset ("" for UIDSTORE_NONE). */
const char *uidstore_str(const struct uidstore *st, uint32_t off);
/* The epoch, 8 hex digits. */
const char *uidstore_epoch(const struct uidstore *st);

/* Whether X-UIDL candidates count: no UID state was ever saved for this
 * maildrop (see the top of this file). */
bool uidstore_first_sight(const struct uidstore *st);

/* Gives each of msgs[0..n) (in maildrop order) a UID that is unique in the
 * drop: a saved entry matched in order by (size, hash) keeps its UID and
 * flags; then, on the first sight only, an X-UIDL candidate not used by an
 * earlier message nor by another UID (flags UIDSTORE_UNSAVED); else a new
 * "EPOCH.N" (flags
 * UIDSTORE_NEW | UIDSTORE_UNSAVED).  The saved list is consumed.  Returns
 * the number of messages that were not in the saved state (the caller
 * saves when it is not 0), or -1 when memory ran out. */
long uidstore_assign(struct uidstore *st, struct uid_msg *msgs, size_t n);

/* Replaces the UIDs marked UIDSTORE_NEW by ones under a random one-session
 * epoch.  Used when the state could not be saved after assigning: the next
 * session will hand out the same "EPOCH.N" again, maybe for other mail, and
 * a client must never see one UID name two messages.  Returns 0 or -1. */
int uidstore_rekey_new(struct uidstore *st, struct uid_msg *msgs, size_t n);

/* Writes the state for msgs[0..n) to <dir>/uids crash-safely (temporary
 * file, fsync, rename, fsync of the directory); makes uids.started first
 * when it does not exist yet.  Returns 0, or -1 with a log-only reason; the
 * old file is then unchanged. */
int uidstore_save(struct uidstore *st, const char *dir,
		  const struct uid_msg *msgs, size_t n,
		  char *reason, size_t reasonsize);

#endif
