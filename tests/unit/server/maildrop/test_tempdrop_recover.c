/*
 * test_tempdrop_recover: the recovery of an interrupted move (server/
 * maildrop/tempdrop_recover.c), run by the next login in either mode.
 *
 * Each phase of the marker is produced by stopping a child at the named
 * step of the move-in or the write-back (tempdrop_hook), with mail
 * delivered after the "crash", and recovered in server and in temp-drop
 * mode: the spool must then be the old or the new mailbox byte for byte,
 * UIDs kept, no marker, journal, temporary drop or lock left.  The crash
 * sweeps stop a child at every step of the move-in and of the write-back
 * (both hooks count), optionally stop the recovery itself at every step,
 * and check the same invariant each time.
 *
 * Debugging: TEST_TEMPDROP_ONLY=1 runs only the sweeps,
 * TEST_TEMPDROP_TRACE=1 prints every step a child passes.
 */
#include "config.h"

#include <endian.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/safeopen.h"
#include "tests/unit/server/maildrop/tdfixture.h"

/* A recovery in a child, stopped at step j (the nested crash). */
static int child_recover(bool temp_mode, int j)
{
	pid_t pid = td_fork();

	if (pid == 0) {
		struct maildrop *md = NULL;

		arm(NULL, j);
		if (try_open(temp_mode, &md) != MAILDROP_OK)
			_exit(3);
		maildrop_close(md);
		_exit(0);
	}
	return td_wait(pid);
}

/* The phase written in the marker (independent reading of the layout:
 * magic "POPTDMK1", version and phase as little-endian 32-bit words). */
static int marker_phase(void)
{
	unsigned char b[512];
	uint32_t ph;
	int fd = open(mpath, O_RDONLY);

	if (fd < 0)
		return 0;
	if (safe_pread_all(fd, b, sizeof(b), 0) < 0 || memcmp(b, "POPTDMK1", 8) != 0) {
		close(fd);
		return -1;
	}
	close(fd);
	memcpy(&ph, b + 12, 4);
	return (int)le32toh(ph);
}

/* After a crash: recovers by opening in temp_mode (a temp-drop open, then
 * an abort, writes everything back), and checks the spool is want1 or
 * want2 byte for byte with UIDs as before (uids / keep1 / keep2: which of
 * the original messages each outcome holds).  Returns 1 or 2, 0 if
 * neither. */
static int recover_check(bool temp_mode, const struct buf *want1, const struct buf *want2,
			 char **uids, const bool *keep1, const bool *keep2)
{
	struct buf got = { 0 };
	struct maildrop *md;
	int outcome = 0;
	bool u1 = false, u2 = false;

	md = open_ok(temp_mode);
	if (md == NULL)
		return 0;
	if (uids != NULL) {
		u1 = uids_match(md, uids, keep1);
		u2 = keep2 != NULL && uids_match(md, uids, keep2);
	}
	maildrop_close(md);
	read_file(spool, &got);
	if (buf_eq(&got, want1) && (uids == NULL || u1))
		outcome = 1;
	else if (want2 != NULL && buf_eq(&got, want2) && (uids == NULL || u2))
		outcome = 2;
	if (outcome == 0)
		printf("# spool after recovery (%zu octets) is neither expected mailbox "
		       "(%zu / %zu octets), or the UIDs changed (%d / %d)\n", got.len, want1->len,
		       want2 != NULL ? want2->len : 0, u1, u2);
	if (state_junk() != 0 || exists(tpath) || exists(lockp)) {
		printf("# left behind: marker, journal, temporary drop or lock\n");
		outcome = 0;
	}
	buf_free(&got);
	return outcome;
}

/* ---- recovery of each phase ------------------------------------------------------ */

struct phase_case {
	const char *step;        /* where the child stops */
	bool writeback;
	int phase;               /* the marker it must leave (0: none) */
	size_t late_size;        /* mail delivered after the crash (0: none) */
	size_t msg_size;         /* size of the original messages */
	const char *what;
};

static void run_phase_case(const struct phase_case *pc, bool temp_recovery)
{
	static const bool del[3] = { false, true, false };
	static const bool keep_new[3] = { true, false, true };
	struct buf orig = { 0 }, during = { 0 }, late = { 0 }, old_want = { 0 }, new_want = { 0 };
	struct scenario sc;
	struct maildrop *md;
	char **uids = NULL;
	int rc, phase, outcome;

	new_case();
	msgs(&orig, "a b c", pc->msg_size);
	write_file(spool, &orig, 0600);
	md = open_ok(false);
	if (md != NULL) {
		uids = save_uids(md);
		maildrop_close(md);
	}
	if (pc->writeback)
		add_msg(&during, "during", 400);
	if (pc->late_size > 0)
		add_msg(&late, "late", pc->late_size);
	memset(&sc, 0, sizeof(sc));
	sc.writeback = pc->writeback;
	sc.del = del;
	sc.during = &during;
	rc = child_run(&sc, pc->step, 0);
	phase = marker_phase();
	if (late.len > 0)
		append_file(spool, &late);
	/* Old: everything; new: b deleted; both with the mail delivered
	 * during the session and after the crash. */
	buf_addb(&old_want, &orig);
	buf_addb(&old_want, &during);
	buf_addb(&old_want, &late);
	msgs(&new_want, "a c", pc->msg_size);
	buf_addb(&new_want, &during);
	buf_addb(&new_want, &late);
	outcome = rc == 42 ? recover_check(temp_recovery, &old_want, pc->writeback ? &new_want : NULL,
					   uids, NULL, keep_new) : 0;
	ok(rc == 42 && phase == pc->phase && outcome != 0,
	   "%s (marker phase %d), %s, recovered in %s mode: %s mailbox%s", pc->what, phase,
	   pc->late_size > 0 ? "mail after the crash" : "no mail after",
	   temp_recovery ? "temp-drop" : "server", outcome == 1 ? "old" : outcome == 2 ? "new" : "NO",
	   rc == 42 ? "" : " (the child did not stop there)");
	free_uids(uids);
	buf_free(&orig);
	buf_free(&during);
	buf_free(&late);
	buf_free(&old_want);
	buf_free(&new_want);
}

static void test_phases(void)
{
	static const struct phase_case cases[] = {
		{ "movein-marker", false, 1, 500, 300, "COPYING, nothing copied" },
		{ "movein-copy", false, 1, 500, 300, "COPYING, copied, not synced" },
		{ "movein-copy", false, 1, 500, 400000, "COPYING, a 1 MB block of 1.2 MB copied" },
		{ "movein-fsync", false, 1, 0, 300, "COPYING, copy synced" },
		{ "movein-copied", false, 2, 500, 300, "COPIED, spool still holds the copied mail" },
		{ "movein-copied", false, 2, 0, 300, "COPIED, spool still holds it, no new mail" },
		{ "movein-cut", false, 2, 500, 300, "COPIED, copied mail already removed from the spool" },
		{ "movein-cut", false, 2, 0, 300, "COPIED, removed, spool empty" },
		{ "movein-done", false, 0, 500, 300, "move complete, session killed" },
		{ "writeback-marker", true, 3, 500, 300, "MERGE, nothing appended" },
		{ "writeback-merge", true, 3, 500, 300, "MERGE, new mail appended to the temporary drop" },
		{ "writeback-merged", true, 3, 500, 300, "MERGE, synced" },
		{ "writeback-extending", true, 4, 100, 300, "EXTENDING, not extended, little new mail" },
		{ "writeback-extending", true, 4, 5000, 300, "EXTENDING, not extended, new mail beyond T" },
		{ "writeback-extending", true, 4, 0, 300, "EXTENDING, not extended, no new mail" },
		{ "writeback-extended", true, 4, 500, 300, "EXTENDING, extended" },
		{ "writeback-extended", true, 4, 0, 300, "EXTENDING, extended, no new mail" },
		{ "writeback-marked", true, 5, 500, 300, "EXTENDED, nothing overwritten" },
		{ "writeback-copy", true, 5, 500, 300, "EXTENDED, overwritten, not synced" },
		{ "writeback-copy", true, 5, 500, 400000, "EXTENDED, 1 MB of 1.2 MB overwritten" },
		{ "writeback-fsync", true, 5, 500, 300, "EXTENDED, overwritten and synced" },
		{ "writeback-emptied", true, 5, 500, 300, "EXTENDED, temporary drop already emptied" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_phase_case(&cases[i], false);
		run_phase_case(&cases[i], true);
	}
}

/* ---- the crash sweeps ------------------------------------------------------------ */

/* One sweep: the mailboxes it sets up, the two acceptable outcomes, the tally. */
struct sweep {
	const char *name;
	bool writeback, leftover, nested;
	struct buf orig, l, during, late, oldw, neww;
	struct scenario sc;
	unsigned runs, olds, news, bad;
};

static void sweep_init(struct sweep *sw, const char *name, bool writeback, bool leftover,
		       bool late_mail, bool nested)
{
	static const bool del[5] = { true, false, true, false, true };

	memset(sw, 0, sizeof(*sw));
	sw->name = name;
	sw->writeback = writeback;
	sw->leftover = leftover;
	sw->nested = nested;
	msgs(&sw->orig, "m1 m2 m3 m4 m5", 700);
	if (leftover)
		msgs(&sw->l, "x1 x2", 500);
	if (writeback)
		add_msg(&sw->during, "during", 600);
	if (late_mail)
		add_msg(&sw->late, "late", 800);
	buf_addb(&sw->oldw, &sw->l);
	buf_addb(&sw->oldw, &sw->orig);
	buf_addb(&sw->oldw, &sw->during);
	buf_addb(&sw->oldw, &sw->late);
	if (writeback) {
		msgs(&sw->neww, "m2 m4", 700);
		buf_addb(&sw->neww, &sw->during);
		buf_addb(&sw->neww, &sw->late);
	}
	sw->sc.writeback = writeback;
	sw->sc.del = del;
	sw->sc.during = &sw->during;
}

static void sweep_free(struct sweep *sw)
{
	buf_free(&sw->orig);
	buf_free(&sw->l);
	buf_free(&sw->during);
	buf_free(&sw->late);
	buf_free(&sw->oldw);
	buf_free(&sw->neww);
}

/* A fresh case; returns the UIDs as the user has seen them (NULL: the
 * drop would not open). */
static char **sweep_setup(const struct sweep *sw)
{
	struct maildrop *md;
	char **uids;

	new_case();
	write_file(spool, &sw->orig, 0600);
	if (sw->leftover)
		write_file(tpath, &sw->l, 0600);
	md = open_ok(false);
	if (md == NULL)
		return NULL;
	uids = save_uids(md);
	maildrop_close(md);
	if (sw->leftover) {
		/* Server mode wrote the leftover back: set it up again. */
		write_file(tpath, &sw->l, 0600);
		write_file(spool, &sw->orig, 0600);
	}
	return uids;
}

/* The nested crash: stops the recovery at every step j until one completes. */
static void sweep_nested(struct sweep *sw, int k, bool temp_mode)
{
	int j;

	for (j = 1; j < 100; j++) {
		int r2 = child_recover(temp_mode, j);

		if (r2 == 0)
			break;
		if (r2 != 42) {
			printf("# %s: step %d/%d: recovery child failed (%d)\n", sw->name, k, j, r2);
			sw->bad++;
			break;
		}
	}
}

/* Counts outcome o (as recover_check returns it) of a child that gave rc. */
static void sweep_tally(struct sweep *sw, int k, int rc, int o)
{
	sw->runs++;
	if (o == 1)
		sw->olds++;
	else if (o == 2)
		sw->news++;
	else {
		printf("# %s: stopped at step %d: neither old nor new\n", sw->name, k);
		sw->bad++;
	}
	if (sw->writeback && rc == 0 && o != 2) {
		printf("# %s: a completed QUIT did not give the new mailbox\n", sw->name);
		sw->bad++;
	}
}

/* Stop point k; returns false when the sweep is over (the child ran to
 * the end, or something failed). */
static bool sweep_step(struct sweep *sw, int k)
{
	static const bool keep_new_wb[5] = { false, true, false, true, false };
	bool temp_rec = (k % 2) == 0;
	char **uids;
	int rc, o;

	uids = sweep_setup(sw);
	if (uids == NULL) {
		sw->bad++;
		return false;
	}
	rc = child_run(&sw->sc, NULL, k);
	if (rc != 42 && rc != 0) {
		printf("# %s: step %d: child failed (%d)\n", sw->name, k, rc);
		sw->bad++;
		free_uids(uids);
		return false;
	}
	if (sw->late.len > 0)
		append_file(spool, &sw->late);
	if (sw->nested && rc == 42)
		sweep_nested(sw, k, !temp_rec);
	o = recover_check(temp_rec, &sw->oldw, sw->writeback ? &sw->neww : NULL, uids,
			  NULL, sw->writeback ? keep_new_wb : NULL);
	sweep_tally(sw, k, rc, o);
	free_uids(uids);
	return rc != 0;
}

/* Stops the move-in (with or without a leftover) or the write-back at
 * every step k of either hook, with or without mail after the crash, the
 * recovery in server or temp-drop mode, optionally itself stopped at every
 * step j; each outcome must be the old or the new mailbox exactly. */
static void crash_sweep(const char *name, bool writeback, bool leftover, bool late_mail, bool nested)
{
	struct sweep sw;
	int k;

	sweep_init(&sw, name, writeback, leftover, late_mail, nested);
	for (k = 1; k < 300; k++)
		if (!sweep_step(&sw, k))
			break;
	ok(sw.bad == 0 && sw.runs > 3 &&
	   (writeback ? sw.olds > 0 && sw.news > 0 : sw.olds == sw.runs),
	   "%s: %u stop points, each the old (%u) or the new (%u) mailbox, UIDs kept, nothing left over",
	   name, sw.runs, sw.olds, sw.news);
	sweep_free(&sw);
}

static void test_crashes(void)
{
	crash_sweep("crash in move-in", false, false, false, false);
	crash_sweep("crash in move-in, mail after the crash", false, false, true, false);
	crash_sweep("crash in move-in with a leftover, mail after the crash", false, true, true, false);
	crash_sweep("crash in write-back", true, false, false, false);
	crash_sweep("crash in write-back, mail after the crash", true, false, true, false);
	crash_sweep("crash in move-in and in its recovery, mail after", false, true, true, true);
	crash_sweep("crash in write-back and in its recovery, mail after", true, false, true, true);
}

int main(void)
{
	if (getenv("TEST_TEMPDROP_ONLY") != NULL)
		td_run("test_tempdrop_recover", test_crashes, TD_END);
	else
		td_run("test_tempdrop_recover", test_phases, test_crashes, TD_END);
	return tap_done();
}
