/*
 * mboxfixture: what the unit tests of the mbox store (test_mbox*.c, one per
 * server/maildrop/mbox*.c module) share -- a temporary directory with one
 * fresh case directory per scenario (spool, dot-lock, state directory),
 * file helpers, opening and committing through the maildrop interface, test
 * mailboxes built from known messages, capturing what maildrop_send writes,
 * and the UID checks that both the UID tests and the crash tests need.
 *
 * It reports no TAP result itself: tap.h keeps its counter per file, so
 * every ok() must stay in the test that prints the plan.  Setup failures
 * (not failures of the code under test) end the program through die().
 */
#ifndef POPPER_TEST_MBOXFIXTURE_H
#define POPPER_TEST_MBOXFIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "server/maildrop/maildrop.h"
#include "tests/unit/tap.h"       /* testbuf.h needs its die() */
#include "tests/unit/testbuf.h"
#include "tests/unit/server/maildrop/mdshared.h"

/* ---- the case directory ----------------------------------------------------- */

/* The current case: its directory, and in it the spool, the dot-lock and
 * the state directory.  new_case() makes the next one. */
extern char casedir[600], spool[700], lockp[700], state[700];

/* Ignores SIGPIPE (a send to a reader that died must fail, not kill the
 * test) and makes $TMPDIR/name.XXXXXX, under which the cases go. */
void fixture_start(const char *name);
/* Removes the temporary directory and all cases in it. */
void fixture_end(void);

/* A fresh directory with a state directory for one case. */
void new_case(void);

void write_file(const char *path, const void *d, size_t n, mode_t mode);
void append_file(const char *path, const void *d, size_t n);
/* read_file(): tests/unit/server/maildrop/mdshared.h */

/* ---- opening and committing ------------------------------------------------- */

/* Settings of the next open; tests that change them put the default back. */
extern bool trust_x_uidl;      /* default true */
extern unsigned lock_wait;     /* seconds; default 1 */
/* Why the last try_open() failed. */
extern char last_reason[512];

/* The settings for the current case (owner checked: the spool is ours). */
void settings(struct maildrop_settings *s);
enum maildrop_status try_open(struct maildrop **md);
/* The drop, or NULL with the reason printed as a TAP comment. */
struct maildrop *open_ok(void);
/* maildrop_commit, the reason printed when it fails. */
enum maildrop_status commit(struct maildrop *md);

/* ---- test mailboxes --------------------------------------------------------- */

#define F1 "From alice@example.org Sat Jan  3 01:05:34 1996\n"
#define F2 "From bob@example.org Sat Jan  3 01:05:35 1996\n"
#define F3 "From carol@example.org Sat Jan  3 01:05:36 1996\n"

/* A test mailbox: From_ line, content and the framing after each message. */
struct tmsg {
	struct buf from, content, framing;
};

struct tbox {
	struct tmsg *m;
	size_t n, cap;
};

struct tmsg *tbox_add(struct tbox *tb, const char *from, const void *content,
		      size_t clen, const char *framing);
void tbox_adds(struct tbox *tb, const char *from, const char *content, const char *framing);
void tbox_free(struct tbox *tb);
/* The mbox bytes of the messages selected by keep (NULL: all). */
void tbox_render(const struct tbox *tb, const bool *keep, struct buf *out);
/* Writes all of tb as the spool of the current case. */
void tbox_write(const struct tbox *tb);

/* ---- RETR and TOP ----------------------------------------------------------- */

/* Sends message i with maildrop_send (lines: TOP's count, UINT64_MAX for
 * RETR; ok: the status line) and returns its result, -3 if the flush
 * failed; out gets what the client received.  With count_only only the
 * bytes are counted, into *count_r. */
int capture_send(struct maildrop *md, unsigned i, uint64_t lines, const char *ok,
		 struct buf *out, bool count_only, uint64_t *count_r);

/* ---- UIDs ------------------------------------------------------------------- */

/* save_uids() and free_uids(): tests/unit/server/maildrop/mdshared.h */
/* Every UID has the valid form and none is used twice. */
bool uids_unique_valid(struct maildrop *md);

#endif
