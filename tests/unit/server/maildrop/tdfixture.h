/*
 * tdfixture: the scaffolding the unit tests of temp-drop mode share
 * (test_tempdrop, test_tempdrop_server, test_tempdrop_movein,
 * test_tempdrop_writeback, test_tempdrop_recover, test_tempdrop_file,
 * test_tempdrop_marker; compiled into each of them).  Every module of
 * temp-drop mode is reached through the maildrop interface, as the server
 * reaches it, so the tests share one way of building a case: a fresh
 * directory with a spool and a state directory, settings pointing at them,
 * mailboxes made of messages whose bytes the test knows, open/commit
 * helpers that keep the last reason and statistics, and children that stop
 * at a named or counted step of a move (the crash hook, tempdrop_hook and
 * mbox_update_hook).
 *
 * The fixture only builds and runs; it never reports a TAP result: tap.h
 * keeps its counter per file, so every ok() stays in the test file.
 *
 * Debugging: TEST_TEMPDROP_TRACE=1 makes every child started by child_run
 * or armed with arm() print each step it passes ("# step N: name").
 */
#ifndef POPPER_TEST_TDFIXTURE_H
#define POPPER_TEST_TDFIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "server/maildrop/maildrop.h"
#include "tests/unit/tap.h"
#include "tests/unit/testbuf.h"
#include "tests/unit/server/maildrop/mdshared.h"

/* ---- the case ------------------------------------------------------------------ */

/* The files of the current case (new_case); the temporary drop tpath is
 * <tdir>/<tname>, tdir the state directory unless set_temp_dir moved it. */
extern char casedir[600], spool[700], lockp[700], state[700], tdir[700], tpath[800],
	mpath[800];
extern const char *tname;
extern bool keep_temp;          /* keep-temp-drop for the opens that follow */

/* A fresh directory for one case; the temporary drop lives in the state
 * directory, as by default. */
void new_case(void);
void set_temp_dir(const char *dir);

void write_file(const char *path, const struct buf *b, mode_t mode);
void append_file(const char *path, const struct buf *b);
/* read_file(): tests/unit/server/maildrop/mdshared.h */
bool exists(const char *path);
/* lstat's size, -1 if path does not exist. */
long long fsize(const char *path);
/* Files in the state directory besides the UID state and a kept empty
 * temporary drop (reported as "#" lines); -1 if it cannot be read. */
int state_junk(void);
/* Files in the state directory whose name starts with prefix. */
int count_prefixed(const char *prefix);

/* ---- opening and committing ------------------------------------------------------ */

/* The reason of the last try_open, the statistics of the last commit. */
extern char last_reason[512];
extern struct maildrop_stats last_stats;

/* The settings of the current case, in temp-drop or server mode. */
void settings(struct maildrop_settings *s, bool temp_mode);
enum maildrop_status try_open(bool temp_mode, struct maildrop **md);
/* NULL (and a "#" line) if the open fails. */
struct maildrop *open_ok(bool temp_mode);
enum maildrop_status commit(struct maildrop *md);

/* ---- messages -------------------------------------------------------------------- */

/* One message with framing: From_ line, header with X-Test-Id, a body of
 * about size bytes, the empty line. */
void add_msg(struct buf *b, const char *id, size_t size);
/* add_msg for each of the space-separated ids. */
void msgs(struct buf *b, const char *ids, size_t size);
/* save_uids() and free_uids(): tests/unit/server/maildrop/mdshared.h */
/* The UIDs of md's first messages are want[] (those with keep[] set). */
bool uids_match(struct maildrop *md, char **want, const bool *keep);

/* ---- children stopped at a step ----------------------------------------------------- */

/* Makes this process exit with status 42 at the step named name, or at
 * the count-th step of either hook (0: none). */
void arm(const char *name, int count);

/* What a child does before it is stopped. */
struct scenario {
	bool writeback;        /* false: login (move-in); true: QUIT (write-back) */
	const bool *del;       /* messages to delete before QUIT */
	const struct buf *during;   /* mail delivered during the session */
	rlim_t limit;          /* RLIMIT_FSIZE before the step (0 none) */
};

/* fork(), exiting the test (status 2) if it fails. */
pid_t td_fork(void);
/* Waits for the child pid: its exit status, -1 if it did not exit. */
int td_wait(pid_t pid);
/* Limits the size of the files this process writes (RLIMIT_FSIZE), with
 * SIGXFSZ ignored so that a write past it fails; exits 5 if it cannot. */
void limit_fsize(rlim_t limit);

/* Runs a scenario in a child stopped at (name | count).  Returns 42 if it
 * stopped, 0 if it ran to the end, 3 open failed, 4 commit failed. */
int child_run(const struct scenario *sc, const char *name, int count);

/* ---- a small file system (a real full disk) ------------------------------------------ */

/* A fresh case (new_case) with a tmpfs of size_k KiB mounted at
 * <casedir>/<name>, its path into mnt.  NULL, or why there is none (not
 * root, or no tmpfs here), for tap_skip. */
const char *small_fs_case(char *mnt, size_t size, const char *name, unsigned size_k);
/* Detaches it again (a failure is only reported as a "#" line). */
void small_fs_umount(const char *mnt);

/* ---- the program ------------------------------------------------------------------- */

/* Ends td_run's list of tests. */
#define TD_END ((void (*)(void))0)

/* Makes the root directory <TMPDIR>/<name>.XXXXXX (umask 077, SIGPIPE
 * ignored), runs the tests that follow name in order (each starting its
 * cases with new_case) up to TD_END, and removes the root.  The caller then
 * returns tap_done(), which counts the results of its own file. */
void td_run(const char *name, ...);

#endif
